// Silences: create one (from an alert: ?alert=ID prefills it), list them
// by state, expire them.
import { $, APIError, allowed, api, h, href, poll, roleNote, severity, showError, time, whoami } from './app.js';

const ops = [
  { op: '=', regex: false, negate: false, label: '= equals' },
  { op: '!=', regex: false, negate: true, label: '!= differs' },
  { op: '=~', regex: true, negate: false, label: '=~ matches regex' },
  { op: '!~', regex: true, negate: true, label: '!~ does not match regex' },
];
const authorKey = 'alerter.author';
let serial = 0;

function matcherRow(m = { name: '', value: '' }) {
  const n = ++serial;
  const current = ops.find((o) => o.regex === !!m.regex && o.negate === !!m.negate);
  const row = h('div', { class: 'matcher', role: 'group', 'aria-label': 'Matcher' },
    h('div', { class: 'field name' },
      h('label', { for: `m-name-${n}` }, 'Name'),
      h('input', { id: `m-name-${n}`, class: 'm-name', list: 'matcher-names', value: m.name, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'matcher-help' })),
    h('div', { class: 'field' },
      h('label', { for: `m-op-${n}` }, 'Operator'),
      h('select', { id: `m-op-${n}`, class: 'm-op' },
        ops.map((o) => h('option', { value: o.op, selected: o === current }, o.label)))),
    h('div', { class: 'field value' },
      h('label', { for: `m-value-${n}` }, 'Value'),
      h('input', { id: `m-value-${n}`, class: 'm-value', value: m.value, autocomplete: 'off', spellcheck: 'false' })),
    h('button', { type: 'button', class: 'secondary remove' }, 'Remove'),
  );
  row.querySelector('.remove').addEventListener('click', () => {
    const prev = row.previousElementSibling ?? row.nextElementSibling;
    row.remove();
    renumber();
    (prev?.querySelector('input') ?? $('add-matcher')).focus();
  });
  return row;
}

// renumber names each matcher's group and remove button by position.
function renumber() {
  document.querySelectorAll('#matchers .matcher').forEach((row, i) => {
    row.setAttribute('aria-label', `Matcher ${i + 1}`);
    row.querySelector('.remove').setAttribute('aria-label', `Remove matcher ${i + 1}`);
  });
}

function setMatchers(list) {
  $('matchers').replaceChildren(...(list.length ? list : [{ name: 'rule', value: '' }]).map(matcherRow));
  renumber();
  $('silence-preview').replaceChildren();
  previewSoon();
}

function readMatchers() {
  return [...document.querySelectorAll('#matchers .matcher')].map((row) => {
    const o = ops.find((x) => x.op === row.querySelector('.m-op').value);
    return { name: row.querySelector('.m-name').value.trim(), value: row.querySelector('.m-value').value, regex: o.regex, negate: o.negate };
  }).filter((m) => m.name || m.value);
}

// preview shows which of the newest alerts the matchers would have muted,
// as they are typed.
let previewTimer;
let previewAsked = 0;
async function preview() {
  const matchers = readMatchers().filter((m) => m.name);
  const box = $('silence-preview');
  if (!box) return; // no form: the token cannot create silences
  const asked = ++previewAsked;
  if (!matchers.some((m) => m.value)) {
    box.replaceChildren(); // nothing typed yet that names an alert
    return;
  }
  let p;
  try {
    p = await api('api/v1/silences/preview', { method: 'POST', body: { matchers } });
  } catch (e) {
    if (asked !== previewAsked) return;
    // The matchers are not complete yet; the API's words say what is missing.
    box.replaceChildren(h('span', { class: 'help' }, e instanceof APIError && e.status === 400 ? 'Preview: ' + e.message.split('\n')[0] : 'No preview: ' + e.message));
    return;
  }
  if (asked !== previewAsked) return; // a newer preview is on its way
  const alerts = p.alerts ?? [];
  box.replaceChildren(
    h('p', null, h('strong', null, `Would silence ${p.matched} of the last ${p.scanned} alert${p.scanned === 1 ? '' : 's'}`),
      p.matched ? (p.matched > alerts.length ? `; the newest ${alerts.length}:` : ':') : '.'),
    alerts.length ? h('ul', null, alerts.map((a) => h('li', null, severity(a.severity), ' ',
      h('a', { href: href('alerts/' + encodeURIComponent(a.id)) }, a.title || a.rule), ' ', time(a.time)))) : null,
  );
}

function previewSoon() {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(preview, 300);
}

$('matchers').addEventListener('input', previewSoon);
$('matchers').addEventListener('change', previewSoon);
$('matchers').addEventListener('click', (ev) => {
  if (ev.target.closest('.remove')) previewSoon();
});

$('add-matcher').addEventListener('click', () => {
  const row = matcherRow();
  $('matchers').append(row);
  renumber();
  row.querySelector('input').focus();
});

$('created-by').value = localStorage.getItem(authorKey) ?? '';

$('silence-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const button = $('create-silence');
  showError($('silence-errors'), null);
  $('silence-done').textContent = '';
  const body = {
    matchers: readMatchers(),
    duration: $('duration').value.trim(),
    created_by: $('created-by').value.trim(),
    comment: $('comment').value.trim(),
  };
  button.disabled = true;
  try {
    const s = await api('api/v1/silences', { method: 'POST', body });
    localStorage.setItem(authorKey, body.created_by);
    $('silence-done').replaceChildren('Silence created: ', h('a', { href: '#silence-' + s.id }, s.id),
      `, ${s.state} until `, time(s.ends_at), '.');
    $('comment').value = '';
    setMatchers([]);
    $('from-alert').hidden = true;
    await refresh();
  } catch (e) {
    showError($('silence-errors'), e);
  } finally {
    button.disabled = false;
  }
});

// matchersText writes matchers as the CLI does: name=value, name!=value,
// name=~regex, name!~regex.
function matchersText(ms) {
  return ms.map((m) => {
    const op = m.regex ? (m.negate ? '!~' : '=~') : (m.negate ? '!=' : '=');
    return h('div', null, h('code', null, m.name + op + JSON.stringify(m.value)));
  });
}

function silenceRow(s) {
  const cells = [
    h('td', { class: 'matchers' }, matchersText(s.matchers ?? [])),
    h('td', { class: 'time' }, time(s.starts_at)),
    h('td', { class: 'time' }, time(s.ends_at)),
    h('td', null, s.created_by, s.identity && s.identity !== s.created_by
      ? [' ', h('span', { class: 'identity', title: 'who the server authenticated: the API token, or the address without tokens' }, `(as ${s.identity})`)]
      : null),
    h('td', { class: 'comment' }, s.comment),
  ];
  const actions = h('td', null);
  if (s.state !== 'expired' && allowed('writer')) {
    actions.append(h('button', {
      type: 'button', class: 'secondary', 'aria-label': `Expire silence ${s.id}`,
      onclick: async (ev) => {
        ev.target.disabled = true;
        try {
          await api('api/v1/silences/' + encodeURIComponent(s.id), { method: 'DELETE' });
          await refresh();
        } catch (e) {
          showError($('silences-error'), e);
          ev.target.disabled = false;
        }
      },
    }, 'Expire'));
  }
  return h('tr', { id: 'silence-' + s.id, 'data-state': s.state }, ...cells, actions);
}

async function refresh() {
  const data = await api('api/v1/silences');
  for (const state of ['active', 'pending', 'expired']) {
    const list = data.silences.filter((s) => s.state === state);
    const body = document.querySelector(`#silences-${state} tbody`);
    body.replaceChildren(...(list.length
      ? list.map(silenceRow)
      : [h('tr', null, h('td', { colspan: 6, class: 'empty' }, `No ${state} silences.`))]));
    $('count-' + state).textContent = `(${list.length})`;
  }
  showError($('silences-error'), null);
}

// From an alert: rule=<rule> and group.<expr>=<value> for its group.
async function prefill() {
  setMatchers([]);
  const id = new URLSearchParams(location.search).get('alert');
  if (!id) return;
  try {
    const a = await api('api/v1/alerts/' + encodeURIComponent(id));
    setMatchers([
      { name: 'rule', value: a.rule },
      ...Object.entries(a.group ?? {}).map(([k, v]) => ({ name: 'group.' + k, value: v })),
    ]);
    $('comment').value = `Silenced from alert ${a.id}: ${a.title}`;
    $('from-alert').replaceChildren('Prefilled from the alert ',
      h('a', { href: href('alerts/' + encodeURIComponent(a.id)) }, a.title), '. Check the matchers, then create it.');
    $('from-alert').hidden = false;
    ($('created-by').value ? $('duration') : $('created-by')).focus();
  } catch (e) {
    showError($('silence-errors'), e);
  }
}

// A viewer's token cannot create or expire silences: no form, and a note
// saying why.
whoami().then(() => {
  if (!allowed('writer')) {
    $('silence-form').replaceWith(roleNote('writer', 'creating and expiring silences'));
  }
});
prefill();
poll(refresh, { every: 10000, hidden: 60000, onError: (e) => showError($('silences-error'), e) });
