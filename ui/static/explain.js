// Explain: what each rule made of one stored event, and why.
import { $, APIError, api, deliveryRows, groupText, h, href, severity, showError, time } from './app.js';

const q = new URLSearchParams(location.search);
const id = (q.get('event') ?? '').trim();
const within = q.get('within') || '24h';

function eventFacts(ev, stored) {
  const actor = ev.actor ?? {};
  const who = actor.display_name && actor.name ? `${actor.display_name} (${actor.name})` : (actor.display_name || actor.name || actor.id || '');
  const items = [
    ['Id', h('code', null, ev.id)],
    ['What', [ev.action || h('span', { class: 'empty' }, 'no action'), ev.category ? ` (${ev.category})` : '']],
    ['Who', who || h('span', { class: 'empty' }, 'unknown')],
    ['From', ev.ip || h('span', { class: 'empty' }, 'unknown')],
    ['Time', time(ev.time)],
    ['Stored', [time(stored), ' (in the EVENTS stream)']],
    ['Source', `${ev.source || '?'} (${ev.format || '?'})`],
  ];
  if (ev.summary) items.splice(2, 0, ['Summary', ev.summary]);
  return items.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)]);
}

// clause is one part of a condition, marked with what it gave.
function clause(c, firstFalse) {
  let mark;
  let word;
  if (c.error) {
    mark = 'clause-error';
    word = 'error';
  } else if (c.value === true) {
    mark = 'clause-true';
    word = 'true';
  } else if (c.value === false) {
    mark = 'clause-false';
    word = 'false';
  } else {
    mark = 'clause-other';
    word = 'not a bool';
  }
  return h('tr', { class: mark + (firstFalse ? ' first-false' : '') },
    h('td', null, h('span', { class: 'clause-value' }, word)),
    h('td', null, h('code', null, c.source), c.error ? h('div', { class: 'error' }, c.error) : null,
      firstFalse ? h('div', { class: 'help' }, 'This is why the rule did not match.') : null));
}

// chainSteps shows a chain's steps, each with its event's time and a link
// to its explanation.
function chainSteps(chain) {
  return chain.map((c, i) => [i ? ' → ' : '', `${c.step} at `, time(c.time), ' (',
    h('a', { href: href('explain?event=' + encodeURIComponent(c.event_id)), title: 'Explain this event' }, h('code', null, c.event_id)), ')']);
}

function stateText(st, none = 'no live state for this group (it expired, or the rule keeps none)') {
  if (!st) return h('span', { class: 'empty' }, none);
  const parts = [];
  if (st.alerted) parts.push(['last alerted ', time(st.last_alert)]);
  else parts.push('not alerted yet');
  parts.push(`${st.suppressed_since_last_alert} suppressed since`);
  parts.push(`${st.events_in_threshold_window} in the threshold window`);
  if (st.distinct_in_threshold_window) {
    const tuples = st.distinct_in_threshold_window.map((t) => (t.length > 1 ? `(${t.join(', ')})` : t[0]));
    parts.push(`distinct in the window: ${tuples.join(', ')}`);
  }
  if (st.value_last_seen) parts.push(['its values last seen ', time(st.value_last_seen), ` (${st.values_remembered} values remembered)`]);
  else if (st.value_seen === false) parts.push(`its values not seen before (${st.values_remembered ?? 0} values remembered)`);
  if (st.partial_chain) parts.push(['partial chain: ', chainSteps(st.partial_chain)]);
  if (st.deadline) parts.push(['pending deadline ', time(st.deadline), ', waiting on ', chainSteps(st.pending ?? [])]);
  if (st.resolve_after_due) parts.push(['resolves by resolve.after at ', time(st.resolve_after_due), ' unless a match comes first']);
  if (st.next_escalation) {
    parts.push([`escalates (step ${st.next_escalation.step}) at `, time(st.next_escalation.due), ' unless acknowledged or resolved first']);
  }
  if (st.digest_period) {
    const d = st.digest_period;
    parts.push([`a digest of ${d.count} suppressed match${d.count === 1 ? '' : 'es'} (`, time(d.first), ' to ', time(d.last), ') is sent at ', time(d.due)]);
  }
  if (st.expires) parts.push(['it affects events up to ', time(st.expires), ' (event time)']);
  return parts.map((p, i) => [i ? '; ' : '', p]);
}

// changeFacts are the group's state as the event saw it and left it,
// rebuilt from the group's earlier events.
function changeFacts(c) {
  if (!c) return [];
  if (!c.rebuilt) return [['As the event saw it', h('span', { class: 'empty' }, c.note)]];
  const none = 'no state that could affect it';
  return [
    ['As the event saw it', stateText(c.before, none)],
    ['As the event left it', stateText(c.after, none)],
    ['Rebuilt', [c.exact ? 'exactly' : 'approximately', ': ', c.note]],
  ];
}

function ruleSection(r) {
  const verdict = r.error ? 'error' : r.matched ? 'matched' : 'did not match';
  const firstFalse = r.matched ? -1 : (r.clauses ?? []).findIndex((c) => c.value === false || c.error);
  const out = [
    h('h3', { id: 'explain-' + r.rule },
      h('a', { href: href('rules#rule-' + r.rule) }, r.rule), ': ',
      h('span', { class: 'verdict verdict-' + (r.error ? 'error' : r.matched ? 'matched' : 'no') }, verdict)),
  ];
  if (r.error) out.push(h('p', { class: 'error' }, r.error));
  const clauses = r.clauses ?? [];
  if (clauses.length) {
    out.push(h('div', { class: 'table-wrap' }, h('table', { class: 'clauses' },
      h('caption', { class: 'visually-hidden' }, `The parts of ${r.rule}'s condition, each of which must hold`),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Value'), h('th', { scope: 'col' }, 'Part of the condition (all must hold)'))),
      h('tbody', null, clauses.map((c, i) => clause(c, i === firstFalse))))));
  }
  if (r.matched) {
    const facts = [
      ['Group', groupText(r.group) || h('span', { class: 'empty' }, 'none: the rule has one group')],
      ['Decision', r.decision || h('span', { class: 'empty' }, 'none recorded')],
      ['Window state', stateText(r.state)],
      ...changeFacts(r.state_change),
    ];
    const a = r.alert;
    if (a) {
      facts.push(['Alert', [severity(a.severity), ' ', h('a', { href: href('alerts/' + encodeURIComponent(a.id)) }, a.title || a.id)]]);
    }
    out.push(h('dl', { class: 'facts' }, facts.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)])));
    if (a) {
      out.push(h('div', { class: 'table-wrap' }, h('table', null,
        h('caption', { class: 'visually-hidden' }, `Deliveries of the alert ${a.id}`),
        h('thead', null, h('tr', null, ['Target', 'Status', 'Attempts', 'At', 'Error or silence'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', null, deliveryRows(a.deliveries, a.id)))));
    }
  }
  return h('article', { class: 'explain-rule' }, out);
}

async function explain() {
  $('explain-status').textContent = `Looking for ${id} among the events stored in the last ${$('f-within').selectedOptions[0]?.textContent ?? within}…`;
  let x;
  try {
    x = await api(`api/v1/events/${encodeURIComponent(id)}/explain?within=${encodeURIComponent(within)}`);
  } catch (e) {
    $('explain-status').textContent = '';
    if (e instanceof APIError && e.status === 404) {
      throw new Error(`${e.message}. Try a longer time, or check the id: an alert's page lists the ids of its events.`);
    }
    throw e;
  }
  const rules = x.rules ?? [];
  const matched = rules.filter((r) => r.matched).length;
  const fired = rules.filter((r) => r.alert).length;
  $('explain-event').replaceChildren(...eventFacts(x.event ?? {}, x.stored));
  $('explain-json').textContent = JSON.stringify(x.event, null, 2);
  $('explain-summary').replaceChildren(
    `${rules.length} rule${rules.length === 1 ? ' was' : 's were'} offered the event by the index; ${matched} matched, ${fired} fired an alert. `,
    `${x.skipped} other${x.skipped === 1 ? '' : 's'} compare a field with a value this event does not have, so the index skipped them. `,
    h('small', null, x.note ? x.note[0].toUpperCase() + x.note.slice(1) + '.' : ''));
  $('explain-rules').replaceChildren(...(rules.length
    ? rules.map(ruleSection)
    : [h('p', { class: 'empty' }, 'No rule looked at this event.')]));
  $('explain-status').textContent = '';
  $('explain-body').hidden = false;
}

// The stored events, newest first, to find the one to explain.
const words = (q.get('q') ?? '').trim();
let next = null;

function eventRow(x) {
  const ev = x.event ?? {};
  const actor = ev.actor ?? {};
  const objects = (ev.objects ?? []).map((o) => o.name || o.id).filter(Boolean);
  return h('tr', null,
    h('td', { class: 'time' }, time(ev.time)),
    h('th', { scope: 'row' }, h('a', { href: href('explain?event=' + encodeURIComponent(ev.id)), title: 'Explain this event' },
      ev.action || ev.summary || ev.id)),
    h('td', null, actor.display_name && actor.name ? `${actor.display_name} (${actor.name})` : (actor.display_name || actor.name || actor.id || '')),
    h('td', null, ev.ip ?? ''),
    h('td', null, objects.slice(0, 3).join(', ') + (objects.length > 3 ? ', …' : '')),
    h('td', null, ev.source ?? ''),
  );
}

async function findEvents(older) {
  const p = new URLSearchParams({ limit: '50' });
  if (words) p.set('q', words);
  if (older) p.set('before', next);
  const data = await api('api/v1/events?' + p);
  const rows = (data.events ?? []).map(eventRow);
  if (older) $('events-body').append(...rows);
  else $('events-body').replaceChildren(...rows);
  next = data.next ?? null;
  $('older-events').hidden = !next;
  const n = $('events-body').children.length;
  $('events-status').textContent = n === 0
    ? (next ? 'None found yet among the newest stored events: look further with Older events.' : `No stored events${words ? ' with these words' : ''}.`)
    : `${n} event${n === 1 ? '' : 's'}${words ? ' with these words' : ''}, newest first. Choose one to explain it.`;
}

if (id) {
  explain().catch((e) => showError($('explain-error'), e));
} else {
  findEvents(false).catch((e) => showError($('events-error'), e));
  $('older-events').addEventListener('click', () => findEvents(true).catch((e) => showError($('events-error'), e)));
}
