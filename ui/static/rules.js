// Rules: every loaded rule with its condition, window, targets and
// counters; the counters are refreshed in place every 5 s.
import { $, api, clock, h, href, poll, severity, showError, time } from './app.js';

const body = $('rules-body');
let version = null;
const rows = new Map(); // rule id → {row, search text, counter cells}

function windowText(r) {
  const out = [];
  if (r.threshold) {
    const t = r.threshold;
    out.push(`threshold: ${t.count} within ${t.within}${t.by?.length ? ` by ${t.by.join(', ')}` : ''}`);
  }
  if (r.dedup) out.push(`dedup: ${r.dedup.window}${r.dedup.by?.length ? ` by ${r.dedup.by.join(', ')}` : ''}`);
  return out;
}

const counters = ['evaluations', 'matches', 'alerts', 'suppressed', 'errors'];

function build(r) {
  const cells = Object.fromEntries(counters.map((c) => [c, h('td', { class: 'num' })]));
  const last = h('td', { class: 'time' });
  const lastError = h('div', { class: 'error' });
  const verdicts = h('div', { class: 'meta verdicts' });
  const suggestion = h('div', { class: 'suggestion' });
  const row = h('tr', { id: 'rule-' + r.id, class: r.enabled ? null : 'muted' },
    h('th', { scope: 'row' },
      h('code', null, r.id), h('div', null, r.name),
      r.enabled ? null : h('div', null, h('strong', null, 'disabled')),
      h('div', { class: 'meta' }, `${r.file}:${r.line}`, r.tests ? ` · ${r.tests} test${r.tests === 1 ? '' : 's'}` : ''),
      r.tags?.length ? h('div', { class: 'meta' }, 'tags: ' + r.tags.join(', ')) : null,
      h('div', { class: 'meta' }, h('a', { href: href('playground?rule=' + encodeURIComponent(r.id)), class: 'try-rule' }, 'Try or backtest a change')),
      verdicts, suggestion),
    h('td', null, severity(r.severity)),
    h('td', null, h('code', { class: 'when' }, r.when), windowText(r).map((w) => h('div', { class: 'meta' }, w)), lastError),
    h('td', null, r.notify.join(', ')),
    ...counters.map((c) => cells[c]),
    last,
  );
  const search = [r.id, r.name, r.severity, r.description, ...(r.tags ?? []), ...(r.notify ?? []),
    ...Object.entries(r.labels ?? {}).map(([k, v]) => `${k}=${v}`)].join(' ').toLowerCase();
  return { row, search, cells, last, lastError, verdicts, suggestion, judged: null };
}

// verdictsText says what people judged the rule's alerts when resolving
// them: "precision 67% (2 TP, 1 FP, 1 benign, 30 d)".
function verdictsText(v) {
  const counts = `${v.true_positive} TP, ${v.false_positive} FP, ${v.benign} benign, 30 d`;
  if (v.precision === null || v.precision === undefined) {
    return v.benign ? `precision: none yet (${counts})` : 'no verdicts in 30 d';
  }
  return `precision ${Math.round(v.precision * 100)}% (${counts})`;
}

// showVerdicts shows the rule's precision and, if its false positives
// share a value, the exclusion suggested, with a link that opens the
// playground with it added, to backtest against the rule as loaded.
function showVerdicts(entry, r) {
  const judged = JSON.stringify([r.verdicts, r.suggestion]);
  if (judged === entry.judged) return; // leave a focused link alone
  entry.judged = judged;
  entry.verdicts.textContent = r.verdicts ? verdictsText(r.verdicts) : '';
  const s = r.suggestion;
  if (!s) {
    entry.suggestion.replaceChildren();
    return;
  }
  const fps = s.false_positives_removed;
  const tps = s.true_positives_kept;
  entry.suggestion.replaceChildren(
    h('strong', null, 'Suggested exclusion: '), h('code', null, s.condition),
    h('div', { class: 'meta' }, `${fps} false positive${fps === 1 ? '' : 's'} share ${s.field} = ${s.values.join(', ')}; `
      + `${tps} true positive${tps === 1 ? '' : 's'} kept. `,
    h('a', { href: href(`playground?rule=${encodeURIComponent(r.id)}&exclusion=1`), class: 'try-exclusion' }, 'Backtest it')));
}

function update(entry, r) {
  const s = r.stats ?? {};
  for (const c of counters) {
    if (c === 'alerts' && s.alerts) {
      entry.cells.alerts.replaceChildren(h('a', { href: href('?rule=' + encodeURIComponent(r.id)), title: `Alerts of ${r.id}` }, s.alerts));
    } else {
      entry.cells[c].textContent = s[c] ?? 0;
    }
  }
  entry.last.replaceChildren(s.last_match ? time(s.last_match) : h('span', { class: 'empty' }, 'never'));
  entry.lastError.textContent = s.last_error ? 'Last error: ' + s.last_error : '';
  showVerdicts(entry, r);
}

function filter() {
  const words = $('rules-filter').value.toLowerCase().split(/\s+/).filter(Boolean);
  let n = 0;
  for (const e of rows.values()) {
    e.row.hidden = !words.every((w) => e.search.includes(w));
    if (!e.row.hidden) n++;
  }
  return n;
}

async function refresh() {
  const data = await api('api/v1/rules');
  if (data.version !== version) {
    version = data.version;
    rows.clear();
    for (const r of data.rules) rows.set(r.id, build(r));
    body.replaceChildren(...[...rows.values()].map((e) => e.row));
    filter();
    if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
  }
  for (const r of data.rules) update(rows.get(r.id), r);
  const files = data.files.length;
  const rl = data.reload;
  const reloaded = rl?.ok && rl.trigger !== 'start' && rl.by ? ` Last reloaded (${rl.trigger}) by ${rl.by}.` : '';
  $('rules-status').textContent = `${data.rules.length} rules from ${files} file${files === 1 ? '' : 's'} ` +
    `(rule set ${data.version}).${reloaded} Counters since this alerter started; updated ${clock()}.`;
  showReload(data.reload);
}

// showReload tells of a rejected reload: its errors, and that the set
// before it still runs.
function showReload(rl) {
  const box = $('rules-reload');
  if (!rl || rl.ok) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  box.hidden = false;
  box.replaceChildren(
    h('h2', null, 'The last reload was rejected'),
    h('p', null, `At `, time(rl.at), ` (${rl.trigger}${rl.by ? ', asked by ' + rl.by : ''}) the rule files had ${rl.errors?.length ?? 0} error${rl.errors?.length === 1 ? '' : 's'}; `,
      `the rule set ${rl.version} keeps running until they are fixed.`),
    h('ul', null, (rl.errors ?? []).map((e) => h('li', null, h('code', null, e)))));
}

$('rules-filter').addEventListener('input', filter);
poll(refresh, { every: 5000, hidden: 60000, onError: (e) => showError($('rules-error'), e) });
