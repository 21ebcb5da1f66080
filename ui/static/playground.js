// The playground: a rule and events in, POST /api/v1/evaluate, and back
// the errors (with their positions, marked in the editors), the matches
// and each alert, escalation and digest as its targets would get it, the
// groups resolved, and the deadlines still pending after the last event.
import { $, api, groupText, h, href, severity, showError, time } from './app.js';
import { Editor } from './editor.js';

const rule = new Editor($('rule'));
const events = new Editor($('events'));
const editors = { rule, events };
const draftKey = 'alerter.playground';

function saveDraft() {
  localStorage.setItem(draftKey, JSON.stringify({ rule: rule.value, events: events.value, format: $('format').value }));
}

function restoreDraft() {
  try {
    const d = JSON.parse(localStorage.getItem(draftKey) ?? 'null');
    if (!d) return;
    rule.value = d.rule ?? rule.value;
    events.value = d.events ?? events.value;
    $('format').value = d.format ?? 'auto';
  } catch {
    localStorage.removeItem(draftKey);
  }
}

async function fromAlert(id) {
  const [a, rules] = await Promise.all([api('api/v1/alerts/' + encodeURIComponent(id)), api('api/v1/rules')]);
  const r = rules.rules.find((x) => x.id === a.rule);
  if (r) rule.value = `# The rule ${r.id}, as loaded from ${r.file}:${r.line}\n` + r.source;
  events.value = JSON.stringify(a.event?.raw ?? a.event, null, 2) + '\n';
  $('format').value = 'auto';
  $('try-status').textContent = `Loaded the event and rule of the alert “${a.title}”.`;
}

$('reset-rule').addEventListener('click', () => {
  rule.value = $('rule').defaultValue;
  saveDraft();
  $('rule').focus();
});

$('load-example').addEventListener('click', async () => {
  const select = $('example');
  const label = select.selectedOptions[0]?.textContent ?? select.value;
  try {
    const res = await fetch(href('static/examples/' + encodeURIComponent(select.value)));
    if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
    events.value = await res.text();
    $('format').value = 'auto';
    saveDraft();
    $('try-status').textContent = `Loaded the example “${label}”.`;
  } catch (e) {
    $('try-status').textContent = `The example could not be loaded: ${e.message}`;
  }
});

for (const ta of [$('rule'), $('events')]) ta.addEventListener('input', saveDraft);
$('format').addEventListener('change', saveDraft);

// Ctrl+Enter (or Cmd+Enter) tries the rule from anywhere in the form.
$('playground').addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
    ev.preventDefault();
    tryRule();
  }
});
$('playground').addEventListener('submit', (ev) => {
  ev.preventDefault();
  tryRule();
});

let running = false;

// evaluate sends the rule with body's events (or since: a backtest).
async function evaluate(body, doing) {
  if (running) return;
  running = true;
  $('try').disabled = $('backtest').disabled = true;
  $('try-status').textContent = doing;
  try {
    show(await api('api/v1/evaluate', { method: 'POST', body: { rule: rule.value, ...body } }));
  } catch (e) {
    show({ ok: false, errors: [{ file: '', message: e.message }], results: [] });
  } finally {
    running = false;
    $('try').disabled = $('backtest').disabled = false;
  }
}

function tryRule() {
  return evaluate({ events: events.value, format: $('format').value }, 'Trying…');
}

$('backtest').addEventListener('click', () => {
  const since = $('backtest-since');
  evaluate({ since: since.value }, `Running the rule over the events stored in the last ${since.selectedOptions[0].textContent}…`);
});

function position(e) {
  return [e.file, e.line, e.column].filter(Boolean).join(':');
}

function show(res) {
  const errors = res.errors ?? [];
  for (const [file, ed] of Object.entries(editors)) {
    ed.mark(errors.filter((e) => e.file === file && e.line).map((e) => e.line));
  }
  $('errors').replaceChildren(...errors.map((e) => {
    const ed = editors[e.file];
    const pos = position(e);
    const where = ed && e.line
      ? h('button', {
        type: 'button', class: 'link pos', title: `Go to ${pos}`,
        onclick: () => ed.goto(e.line, e.column),
      }, pos)
      : (pos ? h('span', { class: 'pos' }, pos) : null);
    return h('li', null, where, where ? ': ' : '', e.message);
  }));
  $('errors-section').hidden = errors.length === 0;
  showTests(res.tests ?? []);
  if (!res.ok) {
    $('results-section').hidden = true;
    $('try-status').textContent = `${errors.length} error${errors.length === 1 ? '' : 's'}: see the list below the editors.`;
    return;
  }
  const results = res.results ?? [];
  const matched = results.filter((r) => r.matches.length > 0);
  const summary = $('summary');
  const bt = res.backtest;
  summary.textContent = bt ? backtestSummary(bt) : trySummary(results, matched);
  summary.className = 'summary' + (matched.length ? ' matched' : '');
  $('try-status').textContent = summary.textContent;

  const full = results.length === 1 ? results : results.filter((r) => r.matches.length || r.errors.length || made(r));
  const rest = results.filter((r) => !full.includes(r));
  const out = full.map((r) => eventResult(r, results.indexOf(r) + 1));
  if (rest.length) {
    out.push(h('details', { class: 'unmatched' },
      h('summary', null, `${rest.length} event${rest.length === 1 ? '' : 's'} did not match`),
      h('ul', null, rest.map((r) => h('li', null, eventTitle(r, results.indexOf(r) + 1), eventFields(r.event))))));
  }
  const pending = res.pending ?? [];
  if (pending.length) out.push(pendingList(pending));
  $('results').replaceChildren(...out);
  $('results-section').hidden = false;
}

const plural = (n, word, many = word + 's') => `${n.toLocaleString()} ${n === 1 ? word : many}`;

// made counts what an event, or the deadlines that fell due before it,
// made besides matches: alerts, escalations, digests and resolves.
const made = (r) => r.alerts.length + (r.escalations ?? []).length + (r.digests ?? []).length + (r.resolves ?? []).length;

// lifecycleText says how many escalations, digests and resolves there
// were, or nothing if none (docs/rules.md, Escalations, Resolving, Digests).
function lifecycleText(escalations, digests, resolves) {
  const parts = [];
  if (escalations) parts.push(plural(escalations, 'escalation'));
  if (digests) parts.push(plural(digests, 'digest'));
  if (resolves) parts.push(plural(resolves, 'resolve'));
  return parts.length ? `, ${parts.join(', ')}` : '';
}

function trySummary(results, matched) {
  const of = plural(results.length, 'event');
  const sum = (f) => results.reduce((n, r) => n + (r[f] ?? []).length, 0);
  const lifecycle = lifecycleText(sum('escalations'), sum('digests'), sum('resolves'));
  return matched.length
    ? `Matched ${matched.length} of ${of}: ${plural(sum('alerts'), 'alert')}${lifecycle}.`
    : `No match: the rule matched none of the ${of}${lifecycle ? `; before them${lifecycle.slice(1)}` : ''}.`;
}

function backtestSummary(bt) {
  return (bt.events === 0 ? 'No events were stored in that time.'
    : `Over ${plural(bt.events, 'stored event')}${bt.truncated ? ' (the newest; older ones were left out)' : ''}, from ${new Date(bt.from).toLocaleString()} to ${new Date(bt.to).toLocaleString()}: `
      + (bt.matched ? `matched ${plural(bt.matched, 'time')}, ${plural(bt.alerts, 'alert')}, ${bt.suppressed.toLocaleString()} suppressed`
        + `${lifecycleText(bt.escalations ?? 0, bt.digests ?? 0, bt.resolves ?? 0)}.` : 'no match.'))
    + ((bt.by_day ?? []).length > 1 ? ` Pages (alerts, escalations and digests) by day (UTC): ${bt.by_day.map((d) => `${d.day} ${d.alerts}`).join(', ')}.` : '')
    + Object.entries(bt.running ?? {}).map(([id, n]) => ` The rule ${id} as loaded now fired ${plural(n, 'alert')} over the same events.`).join('')
    + (bt.shown < bt.matched ? ` The first ${bt.shown} matches are shown.` : '');
}

// pendingKinds say what a deadline still pending does when it falls due.
const pendingKinds = {
  resolve: () => 'resolve.after resolves the group',
  escalate: (p) => `escalation ${p.step}, if nobody acknowledges or resolves the alert first`,
  digest: (p) => `a digest of ${plural(p.count, 'suppressed match', 'suppressed matches')}, and more if they come`,
  alert: () => 'the rule alerts, unless an event comes first',
};

// pendingList shows the deadlines still to come after the last event:
// time moves only as far as the events go.
function pendingList(pending) {
  return h('section', { class: 'pending' },
    h('h3', null, 'Still pending after the last event'),
    h('p', { class: 'help' }, 'Time moves only as far as the events go: these deadlines would fall due later.'),
    h('ul', null, pending.map((p) => h('li', null, time(p.due), ': ', (pendingKinds[p.kind] ?? (() => p.kind))(p),
      ` (${p.rule}${groupText(p.group) ? `, ${groupText(p.group)}` : ''})`))));
}

// showTests lists the outcomes of the rule's own tests:, as alerter test
// runs them; a test's line leads to it in the editor.
function showTests(tests) {
  $('tests-section').hidden = tests.length === 0;
  if (!tests.length) return;
  const failed = tests.filter((t) => !t.ok).length;
  const summary = $('tests-summary');
  summary.textContent = `${tests.length - failed} passed, ${failed} failed`;
  summary.className = 'summary' + (failed ? ' failed' : ' matched');
  $('tests').replaceChildren(...tests.map((t) => h('li', { class: t.ok ? 'test-ok' : 'test-failed' },
    h('strong', null, t.ok ? 'ok' : 'FAIL'), ' ',
    t.line ? h('button', { type: 'button', class: 'link pos', title: `Go to line ${t.line}`, onclick: () => editors.rule.goto(t.line, 1) }, `${t.rule}/${t.test}`) : `${t.rule}/${t.test}`,
    t.error ? h('div', { class: 'help' }, t.error) : null)));
}

function eventTitle(r, n) {
  const e = r.event ?? {};
  const who = e.actor?.display_name || e.actor?.name || e.actor?.id || 'someone';
  return [`Event ${n}: `, e.action || e.summary || '(no action)', ` by ${who} at `, time(e.time)];
}

// eventFields shows the event as the rule sees it: without raw, which is
// the payload it came from.
function eventFields(e) {
  const { raw, ...fields } = e ?? {};
  return h('details', null, h('summary', null, 'The event as rules see it'),
    h('pre', { class: 'code', tabindex: 0 }, JSON.stringify(fields, null, 2)));
}

// verdict says what became of an event: a word, then why.
function verdict(r) {
  if (!r.matches.length && made(r)) return ['Not matched', ': the condition was false for this event; the deadlines that fell due before it are shown.'];
  if (!r.matches.length) return ['Not matched', ': the condition was false for this event.'];
  if (r.alerts.length) return ['Matched', `: ${r.alerts.length} alert${r.alerts.length === 1 ? '' : 's'}.`];
  if (r.suppressed.length) return ['Matched, but suppressed', ': an alert of the same group fired within the dedup window.'];
  return ['Matched', ', and counted toward the threshold, which is not reached yet.'];
}

function eventResult(r, n) {
  return h('article', { class: 'result' + (r.matches.length ? ' matched' : '') },
    h('h3', null, eventTitle(r, n)),
    h('p', null, h('strong', null, verdict(r)[0]), verdict(r)[1]),
    r.errors.length ? h('div', { class: 'error' }, h('ul', null, r.errors.map((e) => h('li', null, e)))) : null,
    Object.entries(r.distinct ?? {}).map(([rule, tuples]) => h('p', null, `Distinct values in the window of ${rule} after it: `,
      tuples.length ? tuples.map((t) => (t.length > 1 ? `(${t.join(', ')})` : t[0])).join(', ') : 'none (it fired or was suppressed, and emptied)')),
    Object.entries(r.last_seen ?? {}).map(([rule, t]) => h('p', null, `Its values for ${rule} were last seen in the group: `,
      t ? time(t) : 'never (new)')),
    Object.entries(r.partial_chain ?? {}).map(([rule, chain]) => h('p', null, `The partial chain of ${rule} after it: `,
      chain.length ? chain.map((c, i) => [i ? ' → ' : '', `${c.step} at `, time(c.time)]) : 'none (a chain completed, or none started)')),
    (r.resolves ?? []).map(resolveLine),
    [...r.alerts, ...(r.escalations ?? []), ...(r.digests ?? [])].map((a) => alertCard(a, (r.notifications ?? []).filter((n) => n.alert === a.id))),
    eventFields(r.event));
}

// resolveLine says which group its rule resolved, and why.
function resolveLine(rv) {
  const group = groupText(rv.group);
  return h('p', { class: 'resolve' }, h('strong', null, 'Resolved'), `: the group of ${rv.rule}${group ? ` (${group})` : ''}, `,
    rv.after ? `after ${rv.after} without a match, at ` : `by the event ${rv.event_id} (its resolve.when), at `, time(rv.time), '.');
}

// cardMark marks an escalation or a digest apart from an alert.
function cardMark(a) {
  if (a.escalation) return h('span', { class: 'mark' }, `Escalation ${a.escalation}`);
  if (a.digest) return h('span', { class: 'mark' }, `Digest: ${a.digest.count} suppressed`);
  return null;
}

function alertCard(a, notifications) {
  const facts = [
    ['Group', groupText(a.group) || 'none (one group)'],
    ['Count', a.count],
    ...(a.distinct ? [['Distinct', a.distinct]] : []),
    ['Suppressed before it', a.suppressed],
    ...(a.escalates ? [['Escalates', h('code', null, a.escalates)]] : []),
    ...(a.digest ? [['Suppressed in the period', [`${a.digest.count}, from `, time(a.digest.first), ' to ', time(a.digest.last)]]] : []),
    ['Labels', Object.entries(a.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || 'none'],
    ['Dedup key', h('code', null, a.dedup_key)],
  ];
  const targets = a.notify ?? [];
  const mark = cardMark(a);
  return h('section', { class: 'alert-card' + (mark ? ' lifecycle' : '') },
    h('h4', null, mark, mark ? ' ' : '', severity(a.severity), ' ', h('span', { class: 'alert-title' }, a.title)),
    a.text ? h('div', { class: 'alert-text' }, a.text) : null,
    h('dl', { class: 'facts' }, facts.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)])),
    h('h5', null, `Notifications (${targets.length} target${targets.length === 1 ? '' : 's'})`),
    targets.length
      ? targets.map((t) => notificationView(a, t, notifications.find((n) => n.target === t)))
      : h('p', { class: 'empty' }, 'No target: the rule routes nowhere.'));
}

// notificationView shows what one target would be sent, as its notifier
// renders it (the server's preview), with the structured body on demand.
function notificationView(a, target, n) {
  if (!n) {
    return h('div', { class: 'notification' },
      h('h5', null, target),
      h('div', { class: 'subject' }, `[${(a.severity ?? '').toUpperCase()}] ${a.title}`),
      a.text ? h('div', { class: 'body' }, a.text) : null);
  }
  return h('div', { class: 'notification' },
    h('h5', null, `${target} (${n.type})`),
    n.subject ? h('div', { class: 'subject' }, n.subject) : null,
    n.text ? h('div', { class: 'body' }, n.text) : null,
    n.body ? h('details', null, h('summary', null, 'What is sent'), h('pre', null, JSON.stringify(n.body, null, 2))) : null);
}

// fromRule loads a loaded rule as written, to change it and backtest the
// change; the events stay as they were. With exclusion, it loads the rule
// with the exclusion its verdicts suggest added to its when:, so that
// Backtest compares the two.
async function fromRule(id, exclusion) {
  const rules = await api('api/v1/rules');
  const r = rules.rules.find((x) => x.id === id);
  if (!r) throw new Error(`There is no loaded rule ${id}.`);
  if (exclusion) {
    const s = r.suggestion;
    if (!s) throw new Error(`The verdicts on ${id} suggest no exclusion now.`);
    rule.value = `# The rule ${r.id}, as loaded from ${r.file}:${r.line}, with the exclusion its verdicts suggest\n` + s.source;
    $('try-status').textContent = `Loaded the rule ${r.id} with ${s.condition} added: Backtest it to compare with the rule as loaded.`;
    return;
  }
  rule.value = `# The rule ${r.id}, as loaded from ${r.file}:${r.line}\n` + r.source;
  $('try-status').textContent = `Loaded the rule ${r.id}: change it, then Try it on an event or Backtest it on the stored ones.`;
}

const params = new URLSearchParams(location.search);
if (params.get('alert')) {
  fromAlert(params.get('alert')).catch((e) => showError($('try-status'), e));
} else {
  restoreDraft();
  if (params.get('rule')) fromRule(params.get('rule'), params.get('exclusion') === '1').catch((e) => showError($('try-status'), e));
}
