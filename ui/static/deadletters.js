// Dead letters: notifications given up on, newest first.
import { $, allowed, api, clock, h, href, poll, redeliverButton, severity, showError, time } from './app.js';

const notifier = new URLSearchParams(location.search).get('notifier') ?? '';

function row(d) {
  const a = d.alert ?? {};
  return h('tr', null,
    h('td', { class: 'time' }, time(d.at)),
    h('td', null, d.notifier),
    h('th', { scope: 'row' }, a.id ? h('a', { href: href('alerts/' + encodeURIComponent(a.id)) }, a.title || a.id) : '—'),
    h('td', null, a.severity ? severity(a.severity) : ''),
    h('td', { class: 'num' }, d.attempts),
    h('td', null, d.reason),
    h('td', null, d.error),
    h('td', null, a.id && d.now === 'dead' && allowed('writer') ? redeliverButton(a.id, d.notifier)
      : d.now ? h('span', { class: 'state state-' + d.now, title: 'What became of it since' }, d.now) : null),
  );
}

async function refresh() {
  const q = new URLSearchParams({ limit: '200' });
  if (notifier) q.set('notifier', notifier);
  const data = await api('api/v1/deadletters?' + q);
  const list = data.deadletters ?? [];
  $('dead-body').replaceChildren(...(list.length
    ? list.map(row)
    : [h('tr', null, h('td', { colspan: 8, class: 'empty' }, 'No dead letters: every notification was delivered, silenced or is still being tried.'))]));
  $('dead-status').textContent = `${list.length} dead letter${list.length === 1 ? '' : 's'}${notifier ? ` of ${notifier}` : ''}; updated ${clock()}.`;
}

poll(refresh, { every: 10000, hidden: 60000, onError: (e) => showError($('dead-error'), e) });
