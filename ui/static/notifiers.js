// Targets: each notifier with its counters and queue, refreshed every 5 s,
// and a test notification through one.
import { $, allowed, api, clock, h, href, poll, showError, whoami } from './app.js';

const rows = new Map(); // name → {row, cells}
const counters = ['sent', 'failed', 'retried', 'dead', 'silenced'];

function testButton(name) {
  // A test pages a real target: admins only.
  if (!allowed('admin')) return h('span', { class: 'empty', title: 'Sending a test needs an admin token' }, 'admin only');
  const result = h('span', { class: 'test-result', role: 'status' });
  const b = h('button', { type: 'button', class: 'secondary small', 'aria-label': `Send a test to ${name}` }, 'Send test');
  b.addEventListener('click', async () => {
    b.disabled = true;
    result.className = 'test-result status';
    result.textContent = 'Sending…';
    try {
      const r = await api(`api/v1/notifiers/${encodeURIComponent(name)}/test`, { method: 'POST', body: { severity: 'high' } });
      result.className = 'test-result ' + (r.ok ? 'ok' : 'error');
      result.textContent = r.ok ? 'Sent.'
        : `${r.error} (${r.retryable ? 'it may work later: the target is unreachable, busy or failing' : 'the target refused it: check the configuration'})`;
    } catch (e) {
      result.className = 'test-result error';
      result.textContent = e.message;
    } finally {
      b.disabled = false;
    }
  });
  return [b, ' ', result];
}

function build(n) {
  const cells = Object.fromEntries([...counters, 'pending'].map((c) => [c, h('td', { class: 'num' })]));
  const row = h('tr', { id: 'notifier-' + n.name },
    h('th', { scope: 'row' }, n.name),
    h('td', null, n.type),
    cells.pending,
    ...counters.map((c) => cells[c]),
    h('td', null, testButton(n.name)));
  return { row, cells };
}

async function refresh() {
  const data = await api('api/v1/notifiers');
  if (rows.size !== data.notifiers.length) {
    rows.clear();
    for (const n of data.notifiers) rows.set(n.name, build(n));
    $('notifiers-body').replaceChildren(...[...rows.values()].map((e) => e.row));
  }
  for (const n of data.notifiers) {
    const e = rows.get(n.name);
    if (!e) continue;
    e.cells.pending.textContent = n.pending ?? '?';
    for (const c of counters) {
      const v = n.stats?.[c] ?? 0;
      if (c === 'dead' && v) {
        e.cells.dead.replaceChildren(h('a', { href: href('deadletters?notifier=' + encodeURIComponent(n.name)), title: `Dead letters of ${n.name}` }, v));
      } else {
        e.cells[c].textContent = v;
      }
    }
  }
  $('notifiers-status').textContent = `${data.notifiers.length} target${data.notifiers.length === 1 ? '' : 's'}. Counters since this alerter started; updated ${clock()}.`;
}

// The test buttons are built once per row: know the token's role first.
whoami().then(() => poll(refresh, { every: 5000, hidden: 60000, onError: (e) => showError($('notifiers-error'), e) }));
