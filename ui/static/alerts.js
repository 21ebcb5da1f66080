// The alerts page: recent alerts, the latest fired first, checked every
// 2 s; new ones are added at the top and announced to screen readers. The
// time shown first is when an alert fired, the order of the list; the
// event's own time is under it (a replayed or late event can be old).
import { $, api, clock, groupText, h, href, poll, severity, showError, standing, time } from './app.js';

const filters = new URLSearchParams();
for (const [k, v] of new URLSearchParams(location.search)) {
  if (v && ['rule', 'severity', 'status', 'group', 'since', 'until'].includes(k)) filters.append(k, v);
}
const filtered = [...filters.keys()].length > 0;
const body = $('alerts-body');
const shown = new Set();
let loaded = false;
let next = null; // cursor of the page after the oldest shown

// delivery says what became of an alert at each target: sent, silenced,
// dead (the error on hover) or pending.
function delivery(d) {
  const entries = Object.entries(d ?? {}).sort(([x], [y]) => x.localeCompare(y));
  if (!entries.length) return [h('span', { class: 'empty' }, 'no target')];
  return entries.flatMap(([t, o], i) => [i ? ', ' : '',
    h('span', { class: 'state state-' + o.status, title: o.error || null }, `${t} ${o.status}`)]);
}

// kind marks an escalation (the group's alert sent again by a step of
// its rule's escalate:) and a digest (a summary of suppressed matches),
// which otherwise read like the alert they follow.
function kind(a) {
  if (a.escalation) return [h('span', { class: 'mark', title: `Sent again by step ${a.escalation} of the rule's escalate:` }, `Escalation ${a.escalation}`), ' '];
  if (a.digest) return [h('span', { class: 'mark', title: 'A summary of the matches this group\'s dedup window suppressed' }, 'Digest'), ' '];
  return null;
}

const rows = new Map(); // alert id → its row

function row(a, fresh) {
  const tr = h('tr', { class: fresh ? 'new' : null, 'data-id': a.id, 'data-fired': a.fired_at },
    h('td', { class: 'time' }, time(a.fired_at),
      h('small', { class: 'event-time', title: 'Time of the event that fired it' }, 'event ', time(a.time))),
    h('td', null, severity(a.severity)),
    h('th', { scope: 'row' }, kind(a), h('a', { href: href('alerts/' + encodeURIComponent(a.id)) }, a.title || a.name || a.rule)),
    h('td', { class: 'standing' }, standing(a)),
    h('td', { class: 'rule' }, h('a', { href: href('?rule=' + encodeURIComponent(a.rule)), title: 'Alerts of this rule' }, a.rule)),
    h('td', { class: 'group' }, groupText(a.group)),
    h('td', { class: 'num' }, a.count),
    h('td', { class: 'num' }, a.suppressed),
    h('td', { class: 'delivery' }, delivery(a.deliveries)),
  );
  rows.set(a.id, tr);
  return tr;
}

// place puts a row where its firing time goes: the API lists alerts as
// they were stored, which replicas and concurrent evaluation can do a
// little out of the order they fired in, and the list must read in the
// order of the time it shows.
function place(tr) {
  const t = Date.parse(tr.dataset.fired);
  for (const r of body.rows) {
    if (Date.parse(r.dataset.fired) < t) {
      body.insertBefore(tr, r);
      return;
    }
  }
  body.append(tr);
}

// dropLeft takes out the rows of alerts that no longer have the status
// filtered on: those the answer would hold but does not (all of the shown
// when it was the last page; else those fired after its oldest).
function dropLeft(data) {
  const listed = new Set(data.alerts.map((a) => a.id));
  const oldest = data.next ? Math.min(...data.alerts.map((a) => Date.parse(a.fired_at))) : -Infinity;
  for (const [id, tr] of rows) {
    if (!listed.has(id) && Date.parse(tr.dataset.fired) > oldest) {
      tr.remove();
      rows.delete(id);
      shown.delete(id);
    }
  }
}

function status() {
  const n = shown.size;
  const what = n === 0
    ? (filtered ? 'No alerts match these filters.' : 'No alerts yet: they appear here as they fire.')
    : `${n} alert${n === 1 ? '' : 's'} shown${filtered ? ' (filtered)' : ''}.`;
  $('alerts-status').textContent = `${what} Updated ${clock()}; checked every 2 seconds.`;
}

async function refresh() {
  const q = new URLSearchParams(filters);
  q.set('limit', '50');
  q.set('deliveries', 'true');
  const data = await api('api/v1/alerts?' + q);
  // Deliveries change until every target has an outcome, and people
  // acknowledge and resolve alerts.
  for (const a of data.alerts) {
    rows.get(a.id)?.querySelector('td.delivery').replaceChildren(...delivery(a.deliveries));
    rows.get(a.id)?.querySelector('td.standing').replaceChildren(standing(a));
  }
  if (filters.has('status')) dropLeft(data);
  const fresh = data.alerts.filter((a) => !shown.has(a.id));
  fresh.forEach((a) => shown.add(a.id));
  if (!loaded) {
    fresh.forEach((a) => place(row(a, false)));
    next = data.next ?? null;
    $('older').hidden = !next;
    loaded = true;
  } else if (fresh.length) {
    fresh.forEach((a) => place(row(a, true)));
    $('announce').textContent = (fresh.length === 1 ? 'New alert: ' : `${fresh.length} new alerts: `) +
      fresh.slice(0, 3).map((a) => `${a.severity}, ${a.title}`).join('; ');
  }
  status();
}

$('older').addEventListener('click', async () => {
  const q = new URLSearchParams(filters);
  q.set('limit', '50');
  q.set('deliveries', 'true');
  q.set('before', next);
  try {
    const data = await api('api/v1/alerts?' + q);
    const older = data.alerts.filter((a) => !shown.has(a.id));
    older.forEach((a) => shown.add(a.id));
    older.forEach((a) => place(row(a, false)));
    next = data.next ?? null;
    $('older').hidden = !next;
    status();
  } catch (e) {
    showError($('alerts-error'), e);
  }
});

poll(refresh, { onError: (e) => showError($('alerts-error'), e) });

// Rule ids for the filter's suggestions; not needed to show alerts.
api('api/v1/rules').then((data) => {
  $('rule-ids').replaceChildren(...data.rules.map((r) => h('option', { value: r.id }, r.name)));
}, () => {});
