// An alert's page: what fired, why, the event, what became of it at each
// target, and where it stands: who acknowledged or resolved its group.
import {
  $, APIError, allowed, api, deliveryRows, groupText, h, href, poll, roleNote, safeURL, severity, showError, standing,
  time, verdict, whoami,
} from './app.js';

const id = $('alert').dataset.alertId;

function facts(a) {
  const runbook = safeURL(a.runbook);
  const labels = Object.entries(a.labels ?? {});
  const alertLink = (aid) => h('a', { href: href('alerts/' + encodeURIComponent(aid)) }, h('code', null, aid));
  const items = [
    ...(a.escalation ? [['Escalation', [`step ${a.escalation} of the rule's escalate: the group's alert `, alertLink(a.escalates),
      ' sent again, louder, because nobody had acknowledged it']]] : []),
    ...(a.digest ? [['Digest', `${a.digest.count} matching event${a.digest.count === 1 ? ' was' : 's were'} suppressed in this group between `,
      time(a.digest.first), ' and ', time(a.digest.last), `; the first ${a.digest.examples?.length ?? 0} are listed below`]] : []),
    ['Severity', severity(a.severity)],
    ['Rule', [h('a', { href: href('rules#rule-' + a.rule) }, a.rule), a.name ? ` (${a.name})` : '']],
    ['Group', groupText(a.group) || h('span', { class: 'empty' }, 'none: the rule has one group')],
    ['Count', `${a.count} event${a.count === 1 ? '' : 's'} made it fire`],
    ...(a.distinct ? [['Distinct', `${a.distinct} distinct values among them (threshold.distinct)`]] : []),
    ['Suppressed', `${a.suppressed} matching event${a.suppressed === 1 ? ' was' : 's were'} suppressed in this group since its previous alert`],
    ['Time', [time(a.time), ' (the firing event)']],
    ['Fired at', time(a.fired_at)],
    ['Runbook', runbook ? h('a', { href: runbook, rel: 'noopener noreferrer' }, a.runbook) : h('span', { class: 'empty' }, 'none')],
    ['Notify', (a.notify ?? []).join(', ') || h('span', { class: 'empty' }, 'no target')],
    ['Labels', labels.length ? labels.map(([k, v]) => `${k}=${v}`).join(', ') : h('span', { class: 'empty' }, 'none')],
    ['Tags', (a.tags ?? []).join(', ') || h('span', { class: 'empty' }, 'none')],
    ['Dedup key', h('code', null, a.dedup_key)],
    ['Alert id', h('code', null, a.id)],
  ];
  return items.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)]);
}

function why(a, rule) {
  if (!rule) {
    return [h('p', null, `The rule ${a.rule} is not loaded any more, so its condition cannot be shown.`)];
  }
  const out = [
    h('p', null, 'The rule ', h('a', { href: href('rules#rule-' + rule.id) }, rule.id),
      ' matched the event below because its condition was true:'),
    h('pre', { class: 'code' }, h('code', null, rule.when)),
  ];
  const t = rule.threshold;
  if (t) {
    out.push(h('p', null, `Threshold: it fires when ${t.count} matching events arrive within ${t.within}` +
      (t.by?.length ? `, counted per ${t.by.join(', ')}` : '') + `. This alert counts ${a.count}.`));
  }
  const d = rule.dedup;
  if (d) {
    out.push(h('p', null, `Dedup: one alert per ${d.by?.length ? d.by.join(', ') : 'rule'} every ${d.window}; ` +
      'later matches in that window are counted as suppressed, not alerted.'));
  }
  if (rule.source) {
    out.push(h('details', null, h('summary', null, `The rule as written (${rule.file}:${rule.line})`),
      h('pre', { class: 'code', tabindex: 0 }, rule.source)));
  }
  return out;
}

const fieldNames = ['id', 'source', 'format', 'system', 'category', 'category_key', 'action', 'action_key',
  'summary', 'area', 'level'];

// fields are the event's fields as rules name them, with their values.
function fields(ev) {
  const rows = [];
  const add = (name, value) => {
    if (value === undefined || value === null || value === '' || (Array.isArray(value) && !value.length)) return;
    rows.push(h('tr', null, h('th', { scope: 'row' }, h('code', null, 'event.' + name)), h('td', null, value)));
  };
  add('time', ev.time ? time(ev.time) : null);
  for (const f of fieldNames) add(f, ev[f]);
  const actor = ev.actor ?? {};
  for (const f of ['display_name', 'name', 'id', 'type']) add('actor.' + f, actor[f]);
  if (actor.sysadmin) add('actor.sysadmin', 'true');
  add('actor.groups', (actor.groups ?? []).join(', '));
  for (const f of ['ip', 'node', 'method']) add(f, ev[f]);
  add('objects', (ev.objects ?? []).map((o) => {
    const url = safeURL(o.uri);
    const text = `${o.type}: ${o.name || '(no name)'}${o.id ? ` (${o.id})` : ''}`;
    return h('div', null, url && o.uri.includes('://') ? h('a', { href: url, rel: 'noopener noreferrer' }, text) : text);
  }));
  add('changes', (ev.changes ?? []).map((c) => h('div', null, `${c.key}: ${c.from} → ${c.to}`)));
  add('attrs', Object.entries(ev.attrs ?? {}).map(([k, v]) => h('div', null, `${k}: ${v}`)));
  return rows;
}

// chain lists the events that made an alert of several events fire, in
// their order (a sequence's steps), each linked to its explanation; those
// the EVENTS stream no longer holds by their id.
function chain(a, explain) {
  const byID = new Map((a.events ?? []).map((e) => [e.id, e]));
  const missing = new Set(a.events_missing ?? []);
  const link = (eid) => h('a', { href: explain(eid), title: 'Explain this event' }, h('code', null, eid));
  return [
    `The ${a.event_ids.length} events that made it fire, in order, the last of them in detail below:`,
    h('ol', { id: 'alert-chain' }, a.event_ids.map((eid) => {
      const e = byID.get(eid);
      if (e) {
        return h('li', null, time(e.time), ` ${e.action || 'no action'} by ${e.actor?.name || e.actor?.display_name || '?'}`,
          e.ip ? ` from ${e.ip}` : '', ' ', link(eid));
      }
      if (missing.has(eid)) return h('li', { class: 'missing' }, h('code', null, eid), ' (no longer stored)');
      return h('li', null, link(eid), h('span', { class: 'empty' }, ' (could not be read)'));
    })),
  ];
}

// historyRows are the group's changes, oldest first: when, who, what,
// comment, verdict; a change made from another alert of the group links
// to it.
function historyRows(history) {
  return [...history].sort((x, y) => Date.parse(x.at) - Date.parse(y.at)).map((c) => h('tr', null,
    h('td', { class: 'time' }, time(c.at)),
    h('td', null, c.by),
    h('td', null, h('span', { class: 'state state-' + c.status }, c.status),
      c.alert && c.alert !== id ? [' from ', h('a', { href: href('alerts/' + encodeURIComponent(c.alert)) }, 'another alert')] : null),
    h('td', { class: 'comment' }, c.comment || h('span', { class: 'empty' }, 'none')),
    h('td', null, c.verdict ? verdict(c.verdict) : h('span', { class: 'empty' }, 'none'))));
}

// showStanding shows where the alert stands, its group's history and the
// buttons that can change it: Acknowledge while it is firing, Resolve
// until it is resolved, then Set verdict (a resolve from PagerDuty or by a
// rule has none; a verdict can be corrected).
function showStanding(a, history) {
  $('alert-status').replaceChildren(standing(a, { when: true }), '.');
  const form = $('lifecycle-form');
  if (form) {
    const resolved = a.status === 'resolved';
    $('ack').hidden = resolved;
    $('ack').disabled = a.status === 'acknowledged';
    $('ack').title = a.status === 'acknowledged' ? `Acknowledged already, by ${a.acknowledged_by}` : '';
    $('resolve').textContent = resolved ? 'Set verdict' : 'Resolve';
  }
  $('history').replaceChildren(...historyRows(history ?? []));
  $('alert-history').hidden = !history?.length;
}

// act acknowledges or resolves the alert's group as the button says, and
// shows the new state, or the API's refusal.
async function act(ev) {
  ev.preventDefault();
  const what = ev.submitter?.value;
  if (what !== 'ack' && what !== 'resolve') return;
  const body = { comment: $('lifecycle-comment').value.trim() };
  if (what === 'resolve' && $('lifecycle-verdict').value) body.verdict = $('lifecycle-verdict').value;
  showError($('lifecycle-error'), null);
  $('lifecycle-done').textContent = '';
  const button = ev.submitter;
  button.disabled = true;
  let r;
  try {
    r = await api(`api/v1/alerts/${encodeURIComponent(id)}/${what}`, { method: 'POST', body });
  } catch (e) {
    button.disabled = false;
    showError($('lifecycle-error'), e);
    refresh(); // someone else may have changed it: show where it stands
    return;
  }
  button.disabled = false;
  $('lifecycle-comment').value = '';
  $('lifecycle-done').textContent = r.changed ? '' : `Nothing changed: it was ${r.status} already.`;
  showStanding(r, r.history);
}

$('lifecycle-form').addEventListener('submit', act);

// A viewer's token cannot acknowledge or resolve: no form, and a note
// saying why.
whoami().then(() => {
  if (!allowed('writer')) {
    $('lifecycle-form').replaceWith(roleNote('writer', 'acknowledging and resolving alerts'));
  }
});

let rendered = false;
let rulesAsked = null;

async function load() {
  let a;
  try {
    a = await api('api/v1/alerts/' + encodeURIComponent(id));
  } catch (e) {
    if (e instanceof APIError && e.status === 404 && !rendered) {
      throw new APIError(404, `There is no alert ${id}: it may be older than the history kept (nats.retention).`);
    }
    throw e;
  }
  if (!rendered) {
    rendered = true;
    document.title = `${a.title} · ${document.title.split(' · ').pop()}`;
    $('alert-title').replaceChildren(severity(a.severity), ' ', a.title || a.name);
    $('alert-text').textContent = a.text || '';
    $('alert-text').hidden = !a.text;
    $('alert-facts').replaceChildren(...facts(a));
    $('silence-similar').href = href('silences?alert=' + encodeURIComponent(a.id));
    $('try-rule').href = href('playground?alert=' + encodeURIComponent(a.id));
    $('rule-alerts').href = href('?rule=' + encodeURIComponent(a.rule));
    const explain = (eid) => href('explain?event=' + encodeURIComponent(eid));
    $('explain-event').href = explain(a.event?.id ?? '');
    const ids = a.event_ids ?? [];
    $('event-ids').replaceChildren(...(ids.length > 1 ? chain(a, explain) : []));
    $('event-fields').replaceChildren(...fields(a.event ?? {}));
    $('event-json').textContent = JSON.stringify(a.event, null, 2);
    $('alert-body').hidden = false;
    rulesAsked ??= api('api/v1/rules').then(
      (data) => $('alert-why').replaceChildren(...why(a, data.rules.find((r) => r.id === a.rule))),
      (e) => $('alert-why').replaceChildren(h('p', { class: 'error' }, 'The rule could not be read: ' + e.message)),
    );
  }
  $('deliveries').replaceChildren(...deliveryRows(a.deliveries, a.id));
  showStanding(a, a.history);
}

// The deliveries change until every target has an outcome, and people
// acknowledge and resolve the alert's group.
const refresh = poll(load, { every: 3000, onError: (e) => showError($('alert-error'), e) });
