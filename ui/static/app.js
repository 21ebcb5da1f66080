// What every page shares: the API client (which asks for the API token
// when the API answers 401), building DOM nodes, and formatting.

const root = document.querySelector('meta[name="alerter-root"]')?.content ?? './';

// href is the address of a path under the root (no leading slash), so that
// the pages also work behind a proxy that mounts them under a prefix.
export const href = (path) => root + path;

export const severities = ['info', 'low', 'medium', 'high', 'critical'];

// APIError is an answer other than 2xx: its status, and the API's message.
export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const tokenKey = 'alerter.api-token';
let asking = null; // the open token prompt, shared by calls that wait on it
let declined = false; // the prompt was cancelled: do not ask again unprompted

// api calls the JSON API and gives its answer; it throws an APIError with
// the API's {"error"} message. On 401 it asks for the token once (however
// many calls are under way), keeps it in sessionStorage and tries again.
export async function api(path, { method = 'GET', body } = {}) {
  for (let attempt = 0; ; attempt++) {
    const token = sessionStorage.getItem(tokenKey);
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(new URL(root + path, location.href), {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new APIError(0, `alerter did not answer (${e.message}); is it running?`);
    }
    if (res.status === 401 && attempt < 3) {
      await askToken(token ? 'That token was refused. Check server.api_token and server.tokens.' : '');
      continue;
    }
    let data = null;
    try {
      data = await res.json();
    } catch {
      // Not JSON: a proxy's error page, say.
    }
    if (!res.ok) throw new APIError(res.status, data?.error || `${res.status} ${res.statusText}`);
    return data;
  }
}

function askToken(problem) {
  if (declined) {
    return Promise.reject(new APIError(401, 'The API needs its token: use the “API token” button at the top of the page.'));
  }
  if (asking) return asking;
  const dialog = document.getElementById('token-dialog');
  const input = document.getElementById('token-input');
  asking = new Promise((resolve, reject) => {
    document.getElementById('token-error').textContent = problem;
    input.value = '';
    dialog.returnValue = '';
    dialog.addEventListener('close', () => {
      asking = null;
      const token = input.value.trim();
      input.value = '';
      if (dialog.returnValue === 'ok' && token) {
        sessionStorage.setItem(tokenKey, token);
        showTokenButton();
        resolve();
      } else {
        declined = true;
        showTokenButton();
        reject(new APIError(401, 'The API needs its token: use the “API token” button at the top of the page.'));
      }
    }, { once: true });
    dialog.showModal();
    input.focus();
  });
  return asking;
}

function showTokenButton() {
  document.getElementById('token-button').hidden = false;
}

// roles, least allowed first: viewers read, writers also silence and hand
// dead letters back, admins also reload rules and test targets.
const roles = ['viewer', 'writer', 'admin'];
let identity = null; // who the API takes this tab for, once known
let asked = null;

// whoami asks the API once who this tab is ({name, role, token}); null
// when it cannot say (then every control is shown, and the API's 403
// says what is missing). With a token, the header's button shows its name
// and role.
export function whoami() {
  asked ??= api('api/v1/whoami').then((id) => {
    identity = id;
    const b = document.getElementById('token-button');
    if (b && id?.token) {
      b.textContent = `${id.name} (${id.role})`;
      b.title = 'The API token this tab uses; click to change it';
      b.hidden = false;
    }
    return id;
  }, () => null);
  return asked;
}

// allowed tells whether this tab's token has at least role, as far as is
// known yet (whoami not answered: yes).
export function allowed(role) {
  return !identity || roles.indexOf(identity.role) >= roles.indexOf(role);
}

// roleNote says that the token's role does not allow something, for
// where its controls would be.
export function roleNote(role, what) {
  return h('p', { class: 'note role-note' },
    `Your token (${identity?.name}) is a ${identity?.role}: ${what} needs a ${role} or admin token. `,
    'Use the button at the top of the page to change it.');
}

// The header's button asks for a (new) token, then reloads the page.
document.getElementById('token-button')?.addEventListener('click', () => {
  declined = false;
  askToken('').then(() => location.reload(), () => {});
});
if (sessionStorage.getItem(tokenKey)) showTokenButton();
whoami();

// h builds an element: h('a', {href: '...', class: 'x'}, 'text', child).
// Children are text or nodes; text is never parsed as HTML.
export function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

// $ is document.getElementById.
export const $ = (id) => document.getElementById(id);

// severity is a severity as a word, coloured.
export function severity(s) {
  const known = severities.includes(s) ? s : 'info';
  return h('span', { class: 'sev sev-' + known }, s || 'unknown');
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

// time is a <time> in local time, with UTC in its title.
export function time(iso) {
  if (!iso || iso.startsWith('0001-')) return h('span', { class: 'empty' }, '—');
  const d = new Date(iso);
  if (isNaN(d)) return h('span', null, iso);
  const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return h('time', { datetime: iso, title: d.toISOString() }, text);
}

// clock is now as HH:MM:SS.
export function clock() {
  const d = new Date();
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// safeURL is u when it is an http(s) address, else null: a runbook link
// never runs script.
export function safeURL(u) {
  try {
    const p = new URL(u, location.href);
    return p.protocol === 'https:' || p.protocol === 'http:' ? p.href : null;
  } catch {
    return null;
  }
}

// group writes an alert's group as "expr = value" pairs.
export function groupText(group) {
  const e = Object.entries(group ?? {});
  return e.length ? e.map(([k, v]) => `${k} = ${v}`).join(', ') : '';
}

// showError puts an error's message in a role=alert element ("" clears).
export function showError(el, err) {
  el.replaceChildren();
  if (!err) return;
  const lines = String(err.message ?? err).split('\n').filter(Boolean);
  if (lines.length > 1) el.append(h('ul', null, lines.map((l) => h('li', null, l))));
  else el.textContent = lines[0] ?? '';
}

// poll runs fn now and then every `every` ms, or every `hidden` ms while
// the tab is hidden, and at once when it is shown again. fn never runs
// twice at a time; an error goes to onError and polling goes on.
export function poll(fn, { every = 2000, hidden = 30000, onError = () => {} } = {}) {
  let timer;
  let busy = false;
  const tick = async () => {
    clearTimeout(timer);
    if (busy) return;
    busy = true;
    try {
      await fn();
      onError(null);
    } catch (e) {
      onError(e);
    } finally {
      busy = false;
      timer = setTimeout(tick, document.hidden ? hidden : every);
    }
  };
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) tick();
  });
  tick();
  return tick;
}

// deliveryRows are the rows of a deliveries table (target, status,
// attempts, at, error or silences): what became of an alert at each target.
// With the alert's id, a dead delivery has a button to hand it back.
export function deliveryRows(d, alertID) {
  const targets = Object.keys(d ?? {}).sort();
  if (!targets.length) return [h('tr', null, h('td', { colspan: 5, class: 'empty' }, 'No targets: the alert was routed nowhere.'))];
  return targets.map((t) => {
    const o = d[t];
    const detail = o.error
      ? o.error
      : (o.silences ?? []).map((s, i) => [i ? ', ' : 'silence ', h('a', { href: href('silences#silence-' + s) }, s)]);
    return h('tr', null,
      h('th', { scope: 'row' }, t),
      h('td', null, h('span', { class: 'state state-' + o.status }, o.status)),
      h('td', { class: 'num' }, o.attempts ?? 0),
      h('td', { class: 'time' }, time(o.at)),
      h('td', null, detail, o.status === 'dead' && alertID && allowed('writer') ? [' ', redeliverButton(alertID, t)] : null));
  });
}

// redeliverButton hands a dead letter back to its target's queue, to be
// tried again once the target is mended.
export function redeliverButton(alertID, target) {
  const b = h('button', { type: 'button', class: 'secondary small redeliver', 'aria-label': `Redeliver to ${target}` }, 'Redeliver');
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      const r = await api(`api/v1/alerts/${encodeURIComponent(alertID)}/redeliver`, { method: 'POST', body: { target } });
      b.replaceWith(h('span', { class: 'status', role: 'status' }, r.already ? `Handed back to ${target}'s queue already.` : `Handed back to ${target}'s queue.`));
    } catch (e) {
      b.replaceWith(h('span', { class: 'error', role: 'alert' }, e.message));
    }
  });
  return b;
}

const verdicts = new Map([['true_positive', 'true positive'], ['false_positive', 'false positive'], ['benign', 'benign']]);

// verdict names the verdict of a resolve in words.
export const verdict = (v) => verdicts.get(v) ?? v;

// standing says where an alert stands (docs/notifications.md, The alert
// lifecycle): firing, acknowledged by whom, or resolved by whom and with
// which verdict; when, on hover, or written out with { when: true }.
export function standing(a, { when = false } = {}) {
  const s = a.status || 'firing';
  const word = h('span', { class: 'state state-' + s }, s);
  let who, at;
  if (s === 'acknowledged') [who, at] = [a.acknowledged_by, a.acknowledged_at];
  else if (s === 'resolved') [who, at] = [a.resolved_by, a.resolved_at];
  else return word;
  const hover = !when && at ? 'at ' + new Date(at).toISOString() : null;
  return h('span', { title: hover }, word, ` by ${who}`, when && at ? [' at ', time(at)] : null,
    s === 'resolved' && a.verdict ? h('span', { class: 'verdict' }, ` (${verdict(a.verdict)})`) : null);
}
