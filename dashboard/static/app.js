// The kervi dashboard: a single page that follows the application over the
// WebSocket /api/live (docs/protocol.md, "Dashboard WebSocket") and shows
// the dashboards of GET /api/layout's shape. Plain JavaScript, no build step.

'use strict';

// ---------------------------------------------------------------- state

const state = {
  cat: new Map(),      // id → catalogue entry
  values: new Map(),   // id → {value, time}
  layout: null,        // {dashboards: [...]}
  subs: new Map(),     // id → Set of functions called with (value, time)
  ws: null,
  ref: 0,
  pending: new Map(),  // ref → {resolve, reject}
  backoff: 500,
  session: null,       // the answer of /api/session
  logs: [],            // log records, newest first
  logKeys: new Set(),
  modules: new Map(),  // name → status from /api/modules
  cleanup: [],         // what the current view undoes when it goes
};

window.kervi = { connected: false, firstValueAt: null };

const $ = (sel, root = document) => root.querySelector(sel);

// el makes an element: el('div.a.b', {attr: v, onclick: f}, ...children).
function el(spec, attrs = {}, ...kids) {
  const [head, ...classes] = spec.split('.');
  const [tag, id] = head.split('#');
  const e = document.createElement(tag || 'div');
  if (id) e.id = id;
  if (classes.length) e.className = classes.join(' ');
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else if (k in e && typeof v !== 'string') e[k] = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) if (k != null) e.append(k);
  return e;
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs = {}) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// ---------------------------------------------------------------- formatting

function fmtNumber(x) {
  if (typeof x !== 'number') return String(x);
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  return String(+x.toFixed(a >= 100 ? 1 : a >= 10 ? 1 : 2));
}

// forInput returns a number as an input shows it, without float noise.
const forInput = x => String(+x.toFixed(6));

function withUnit(text, unit) {
  if (!unit) return text;
  return unit === '%' ? text + '%' : text + ' ' + unit;
}

// display returns the text that shows value v of entry d.
function display(d, v) {
  if (v === undefined) return '—';
  if (!d) return String(v);
  switch (d.type) {
    case 'number': return withUnit(fmtNumber(v), d.unit);
    case 'bool': return v ? 'On' : 'Off';
    case 'enum': {
      const c = (d.choices || []).find(c => c.value === v);
      return c && c.text ? c.text : String(v);
    }
    case 'datetime': {
      const t = new Date(v);
      return isNaN(t) ? String(v) : t.toLocaleString();
    }
  }
  return v === '' ? '—' : String(v);
}

function raw(v) {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : String(v);
}

function duration(ms) {
  let s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

// ---------------------------------------------------------------- subscriptions

// watch calls fn with the value of id now (if any) and at each change,
// until the view goes.
function watch(id, fn) {
  let set = state.subs.get(id);
  if (!set) state.subs.set(id, set = new Set());
  set.add(fn);
  state.cleanup.push(() => set.delete(fn));
  const v = state.values.get(id);
  if (v) fn(v.value, v.time);
}

function publish(id, value, time) {
  state.values.set(id, { value, time });
  const set = state.subs.get(id);
  if (set) for (const fn of set) {
    try { fn(value, time); } catch (e) { console.error(e); }
  }
}

// ---------------------------------------------------------------- connection

function setConn(s) {
  const c = $('#conn');
  c.dataset.state = s;
  c.textContent = s === 'connected' ? '' : s === 'connecting' ? 'Connecting…' : 'Disconnected — reconnecting…';
  c.title = s;
  window.kervi.connected = s === 'connected';
  document.documentElement.dataset.conn = s;
}

// send sends a set or a call and returns a promise of its result message.
function send(msg) {
  return new Promise((resolve, reject) => {
    const ws = state.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      reject(new Error('not connected'));
      return;
    }
    const ref = ++state.ref;
    state.pending.set(ref, { resolve, reject });
    ws.send(JSON.stringify({ ...msg, ref }));
  }).then(m => {
    if (m.error) throw new Error(m.error);
    return m.result;
  });
}

const setValue = (id, value) => send({ t: 'set', id, value });
const callAction = (id, args) => send({ t: 'call', id, args: args || [] });

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  let data = null;
  const text = await r.text();
  if (text) { try { data = JSON.parse(text); } catch { data = { error: text }; } }
  return { status: r.status, data, headers: r.headers };
}

let reconnectTimer = 0;

async function start() {
  clearTimeout(reconnectTimer);
  setConn(state.ws ? 'disconnected' : 'connecting');
  let s;
  try {
    s = await api('GET', '/api/session');
  } catch {
    return retry();
  }
  if (s.status === 401) return showLogin();
  if (s.status !== 200) return retry();
  state.session = s.data || { auth: false };
  $('#logout').hidden = !state.session.auth;
  connect();
}

function retry() {
  setConn('disconnected');
  clearTimeout(reconnectTimer);
  reconnectTimer = setTimeout(start, state.backoff);
  state.backoff = Math.min(state.backoff * 2, 5000);
}

function connect() {
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/live';
  const ws = new WebSocket(url);
  state.ws = ws;
  ws.onopen = () => {
    state.backoff = 500;
    setConn('connected');
    loadSystemSeeds();
  };
  ws.onmessage = ev => {
    let m;
    try { m = JSON.parse(ev.data); } catch { return; }
    receive(m);
  };
  ws.onclose = ev => {
    if (state.ws !== ws) return;
    for (const p of state.pending.values()) p.reject(new Error('disconnected'));
    state.pending.clear();
    if (ev.code === 4001) {
      state.ws = null;
      showLogin('Your session expired: please log in again.');
      return;
    }
    retry();
  };
}

// shown reports whether the view shows a widget of id.
const shown = id => !!id && !!document.querySelector(`.widget[data-id="${CSS.escape(id)}"]`);

function receive(m) {
  switch (m.t) {
    case 'catalogue':
      state.cat = new Map(m.entries.map(d => [d.id, d]));
      for (const id of [...state.values.keys()]) if (!state.cat.has(id)) state.values.delete(id);
      if (!state.layout) render();
      else if (current() === '_system') render();
      break;
    case 'entry': {
      const old = state.cat.get(m.entry.id);
      state.cat.set(m.entry.id, m.entry);
      if (current() === '_system' && (m.entry.id.startsWith('kervi.module.') || m.entry.id.startsWith('kervi.node.'))) render();
      else if (old ? JSON.stringify(old) !== JSON.stringify(m.entry) : shown(m.entry.id) || shown(m.entry.parent)) render();
      break;
    }
    case 'retire':
      state.cat.delete(m.id);
      state.values.delete(m.id);
      break;
    case 'layout':
      state.layout = m.layout;
      render();
      break;
    case 'values': {
      for (const v of m.values) publish(v.id, v.value, v.time);
      if (window.kervi.firstValueAt === null && m.values.length && $('.widget[data-value]')) {
        window.kervi.firstValueAt = performance.now();
      }
      break;
    }
    case 'result': {
      const p = state.pending.get(m.ref);
      if (p) { state.pending.delete(m.ref); p.resolve(m); }
      break;
    }
  }
}

// ---------------------------------------------------------------- login

function showLogin(message) {
  clearTimeout(reconnectTimer);
  if (state.ws) { const ws = state.ws; state.ws = null; ws.close(); }
  setConn('disconnected');
  $('#conn').textContent = 'Logged out';
  document.documentElement.dataset.conn = 'login';
  $('#logout').hidden = true;
  teardown();
  $('#nav').replaceChildren();
  $('#header-area').hidden = $('#footer-area').hidden = true;
  const err = el('p#login-error.w-error', { role: 'alert', text: message || '' });
  const form = el('form', { id: 'login', class: 'login card', 'aria-labelledby': 'login-title' },
    el('h1', { id: 'login-title', text: 'Log in' }),
    el('label', {}, 'User', el('input', { name: 'user', autocomplete: 'username', required: true })),
    el('label', {}, 'Password', el('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    err,
    el('button', { type: 'submit', text: 'Log in' }));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const btn = $('button', form);
    btn.disabled = true;
    err.textContent = '';
    try {
      const r = await api('POST', '/api/login', { user: form.user.value, password: form.password.value });
      if (r.status === 200) {
        state.backoff = 500;
        start();
        return;
      }
      err.textContent = (r.data && r.data.error) || `Login failed (${r.status})`;
    } catch (e) {
      err.textContent = 'The dashboard cannot be reached: ' + e.message;
    } finally {
      btn.disabled = false;
    }
  });
  $('#main').replaceChildren(form);
  form.user.focus();
}

async function logout() {
  try { await api('POST', '/api/logout'); } catch { /* shown as logged out anyway */ }
  state.layout = null;
  showLogin();
}

// ---------------------------------------------------------------- theme

function initTheme() {
  let t = null;
  try { t = localStorage.getItem('kervi-theme'); } catch { /* private mode */ }
  if (t !== 'light' && t !== 'dark') t = matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  applyTheme(t);
  $('#theme').addEventListener('click', () => {
    const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
    applyTheme(next);
    try { localStorage.setItem('kervi-theme', next); } catch { /* not remembered */ }
    if (state.layout) render(); // charts take their colours when made
  });
}

function applyTheme(t) {
  document.documentElement.dataset.theme = t;
  $('#theme').setAttribute('aria-label', t === 'dark' ? 'Switch to light theme' : 'Switch to dark theme');
}

const cssVar = name => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

// ---------------------------------------------------------------- routing and views

function current() {
  const m = /^#\/d\/(.+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

function teardown() {
  for (const f of state.cleanup.splice(0)) {
    try { f(); } catch (e) { console.error(e); }
  }
}

function render() {
  if (!state.ws && !state.layout) return;
  const all = boards();
  let name = current();
  if (name !== '_system' && !all.some(d => d.name === name)) {
    if (!state.layout) return; // wait for the layout
    if (name === null) {
      name = all.length ? all[0].name : '_system';
      history.replaceState(null, '', '#/d/' + encodeURIComponent(name));
    }
  }
  const focused = document.activeElement && document.activeElement.closest('.widget');
  const focusID = focused && focused.dataset.id;
  teardown();
  renderNav(all, name);
  const main = $('#main');
  if (name === '_system') {
    $('#header-area').hidden = $('#footer-area').hidden = true;
    main.replaceChildren(systemView());
    document.title = 'System · Kervi';
  } else {
    // A dashboard that is gone (its module restarts, say) keeps its
    // place in the URL until it is back.
    const d = all.find(d => d.name === name) ||
      { name, title: name, header: [], footer: [], panels: [], missing: true };
    main.replaceChildren(dashboardView(d));
    area($('#header-area'), d.header);
    area($('#footer-area'), d.footer);
    document.title = titleOf(d) + ' · Kervi';
  }
  if (focusID) {
    const w = document.querySelector(`.widget[data-id="${CSS.escape(focusID)}"]`);
    const f = w && w.querySelector('input,button,select');
    if (f) f.focus();
  }
}

// titleOf returns the title of a dashboard or panel; one that is only its
// name (none was declared) starts with a capital.
function titleOf(x) {
  const t = x.title || x.name || '';
  return t === x.name ? t.charAt(0).toUpperCase() + t.slice(1) : t;
}

function renderNav(list, name) {
  const links = list.map(d => el('a', { href: '#/d/' + encodeURIComponent(d.name), 'data-dashboard': d.name, text: titleOf(d) }));
  links.push(el('a', { href: '#/d/_system', 'data-dashboard': '_system', text: 'System' }));
  for (const a of links) if (a.dataset.dashboard === name) a.setAttribute('aria-current', 'page');
  $('#nav').replaceChildren(...links);
}

function area(box, ws) {
  box.replaceChildren(...(ws || []).map(w => widget(w, true)).filter(Boolean));
  box.hidden = !box.children.length;
}

const boards = () => (state.layout && state.layout.dashboards) || [];

function dashboardView(d) {
  const grid = el('div.grid');
  if (d.width > 0) grid.style.setProperty('--cols', d.width);
  for (const p of d.panels) {
    const span = p.width > 0 ? p.width : p.widgets.length > 4 ? 2 : 1;
    const ws = p.widgets.map(w => widget(w, false, 2 * span)).filter(Boolean);
    const sec = el('section.panel.card', { 'data-panel': p.name, 'aria-label': titleOf(p) || titleOf(d) });
    sec.style.setProperty('--w', span);
    sec.dataset.w = span;
    if (p.title) sec.append(el('h2', { text: titleOf(p) }));
    sec.append(el('div.widgets', {}, ws));
    grid.append(sec);
  }
  if (d.missing) {
    grid.append(el('p.empty', {}, `The dashboard “${d.name}” is not there (yet). `,
      el('a', { href: '#/d/' + encodeURIComponent(boards()[0] ? boards()[0].name : '_system'), text: 'Go to the first one' })));
  } else if (!d.panels.length) grid.append(el('p.empty', { text: 'Nothing to show yet.' }));
  return grid;
}

// ---------------------------------------------------------------- widgets

// choose returns the kind of widget for entry d when the layout leaves
// it to the browser.
function choose(d) {
  if (d.kind === 'action') return d.params && d.params.length ? 'form' : 'button';
  switch (d.type) {
    case 'bool': return d.input ? 'switch' : 'value';
    case 'number':
      if (d.input) return d.min != null && d.max != null ? 'slider' : 'number';
      return d.min != null && d.max != null ? 'gauge' : 'sparkline';
    case 'string': return d.input ? 'text' : 'value';
    case 'enum': return d.input ? ((d.choices || []).length <= 4 ? 'buttons' : 'select') : 'value';
    case 'color': return d.input ? 'color' : 'value';
    case 'datetime': return d.input ? 'datetime' : 'value';
  }
  return 'value';
}

const valueKinds = {
  value: valueWidget, gauge: gaugeWidget, radial_gauge: gaugeWidget, linear_gauge: linearWidget,
  sparkline: sparkWidget, chart: chartWidget, switch: switchWidget, button: pushWidget, slider: sliderWidget,
  number: numberWidget, text: textWidget, select: selectWidget, buttons: buttonsWidget, color: colorWidget,
  datetime: datetimeWidget,
};

// widget makes the widget of placement w (id, widget, width, options).
function widget(w, small, maxSpan = 4) {
  const d = state.cat.get(w.id);
  let kind = w.widget || '';
  const opts = w.options || {};
  const root = el('div.widget', { 'data-id': w.id });
  if (w.width > 1) root.style.setProperty('--ww', Math.min(w.width, maxSpan));
  if (small) root.classList.add('small');
  const title = el('div.w-title', { text: (d && d.name) || w.id, id: 'w-' + w.id.replace(/[^\w-]/g, '_') + '-' + (++uid) });
  const error = el('div.w-error', { role: 'alert' });
  root.append(title);
  const ctx = { w, d, opts, root, title, error, fail: msg => { error.textContent = msg; }, ok: () => { error.textContent = ''; } };
  if (d && d.node) markStale(root, d.node);
  if (!d) {
    root.dataset.widget = 'value';
    root.append(el('div.w-value.muted', { text: 'unavailable' }));
    return root;
  }
  if (d.kind === 'action') {
    if (kind === 'switch') actionSwitch(ctx);
    else if (kind === 'button' || !(d.params && d.params.length)) actionButton(ctx);
    else actionForm(ctx);
    kind = root.dataset.widget;
  } else if (d.kind !== 'value') {
    // A sensor or a controller: its values and actions.
    root.dataset.widget = 'group';
    root.classList.add('group', 'wide');
    const kids = [...state.cat.values()].filter(e => e.parent === d.id).sort((a, b) => (a.id < b.id ? -1 : 1));
    root.append(el('div.widgets', {}, kids.map(e => widget({ id: e.id, widget: '', options: {} }, small, maxSpan))));
    if (!kids.length) root.append(el('div.w-value.muted', { text: '—' }));
  } else {
    if (!kind || !valueKinds[kind]) kind = kind && !valueKinds[kind] ? 'value' : choose(d);
    root.dataset.widget = kind;
    valueKinds[kind](ctx);
  }
  root.append(error);
  return root;
}
let uid = 0;

// markStale marks a widget of a component of another node as stale while
// that node is offline: what it shows is the last known value.
function markStale(root, node) {
  root.dataset.node = node;
  watch(`kervi.node.${node}.online`, v => {
    const off = v === false;
    root.classList.toggle('stale', off);
    if (off) root.setAttribute('title', `Node ${node} is offline: this is its last known state`);
    else root.removeAttribute('title');
  });
}

// follow sets the root's data-value and calls fn at each value of the
// widget's own id.
function follow(ctx, fn) {
  watch(ctx.w.id, (v, t) => {
    ctx.root.dataset.value = raw(v);
    fn(v, t);
  });
}

function labelled(ctx, input) {
  input.setAttribute('aria-labelledby', ctx.title.id);
  if (!ctx.d.input) input.disabled = true;
  return input;
}

// write sets the widget's value; on refusal it shows the error and puts
// back the value the server holds (restore).
async function write(ctx, value, restore) {
  ctx.root.classList.add('busy');
  try {
    await setValue(ctx.w.id, value);
    ctx.ok();
  } catch (e) {
    ctx.fail(e.message);
    const v = state.values.get(ctx.w.id);
    if (restore) restore(v ? v.value : undefined);
  } finally {
    ctx.root.classList.remove('busy');
  }
}

function valueWidget(ctx) {
  const out = el('div.w-value');
  const { d } = ctx;
  let dot = null;
  if (d.type === 'bool') { dot = el('span.lamp', { 'aria-hidden': 'true' }); ctx.root.append(el('div.row', {}, dot, out)); }
  else if (d.type === 'color') { dot = el('span.swatch', { 'aria-hidden': 'true' }); ctx.root.append(el('div.row', {}, dot, out)); }
  else ctx.root.append(out);
  follow(ctx, v => {
    out.textContent = display(d, v);
    if (d.type === 'bool') dot.classList.toggle('on', !!v);
    if (d.type === 'color') dot.style.background = v;
  });
}

// Gauge: an arc of 240°, from min to max.
function gaugeWidget(ctx) {
  const { d } = ctx;
  const min = d.min ?? 0, max = d.max ?? 100;
  const s = svg('svg', { viewBox: '0 0 120 100', class: 'gauge', role: 'img' });
  const arc = 'M 20.16 81 A 46 46 0 1 1 99.84 81'; // 240° around (60,58)
  s.append(svg('path', { d: arc, class: 'track', pathLength: 100 }));
  const bar = svg('path', { d: arc, class: 'bar', pathLength: 100, 'stroke-dasharray': '0 100' });
  s.append(bar);
  const txt = svg('text', { x: 60, y: 62, 'text-anchor': 'middle', class: 'g-text' });
  s.append(txt);
  const lo = svg('text', { x: 20, y: 97, 'text-anchor': 'middle', class: 'g-lim' }); lo.textContent = fmtNumber(min);
  const hi = svg('text', { x: 100, y: 97, 'text-anchor': 'middle', class: 'g-lim' }); hi.textContent = fmtNumber(max);
  s.append(lo, hi);
  const out = el('div.w-value.sr-only');
  ctx.root.append(s, out);
  follow(ctx, v => {
    const f = typeof v === 'number' && max > min ? Math.min(1, Math.max(0, (v - min) / (max - min))) : 0;
    bar.setAttribute('stroke-dasharray', `${(f * 100).toFixed(2)} 100`);
    const text = display(d, v);
    txt.textContent = text;
    // The text fits inside the arc: about 70 units at 0.6 em a character.
    txt.style.fontSize = Math.min(17, 70 / (0.6 * Math.max(text.length, 1))).toFixed(1) + 'px';
    out.textContent = text;
    s.setAttribute('aria-label', `${d.name || d.id}: ${text}`);
  });
}

function linearWidget(ctx) {
  const { d } = ctx;
  const min = d.min ?? 0, max = d.max ?? 100;
  const out = el('div.w-value');
  const fill = el('div.fill');
  const bar = el('div.lbar', { role: 'meter', 'aria-valuemin': min, 'aria-valuemax': max, 'aria-labelledby': ctx.title.id }, fill);
  ctx.root.append(out, bar, el('div.limits', {}, el('span', { text: fmtNumber(min) }), el('span', { text: fmtNumber(max) })));
  follow(ctx, v => {
    out.textContent = display(d, v);
    const f = typeof v === 'number' && max > min ? Math.min(1, Math.max(0, (v - min) / (max - min))) : 0;
    fill.style.width = (f * 100).toFixed(2) + '%';
    if (typeof v === 'number') bar.setAttribute('aria-valuenow', v);
  });
}

// history loads the recent past of id: [[ms, value], ...].
async function loadHistory(id, points, since) {
  const from = since ? `&from=${Date.now() - since}` : '';
  const r = await fetch(`/api/history/${encodeURIComponent(id)}?points=${points}${from}`, { credentials: 'same-origin' });
  if (!r.ok) throw new Error(`history of ${id}: ${r.status}`);
  return r.json();
}

// series keeps a bounded series of a value: history first, then live.
function series(ctx, points, onChange, since) {
  const xs = [], ys = [];
  let seeded = false;
  const early = [];
  const push = (t, v) => {
    if (typeof v !== 'number') return;
    if (xs.length && t <= xs[xs.length - 1]) return;
    xs.push(t); ys.push(v);
    if (xs.length > points) { xs.shift(); ys.shift(); }
  };
  loadHistory(ctx.w.id, points, since).then(h => {
    for (const [t, v] of h) push(t / 1000, v);
  }).catch(e => console.warn(e.message)).finally(() => {
    seeded = true;
    for (const [t, v] of early.splice(0)) push(t, v);
    onChange(xs, ys);
  });
  return (v, t) => {
    if (!seeded) { early.push([t / 1000, v]); return; }
    push(t / 1000, v);
    onChange(xs, ys);
  };
}

function sparkWidget(ctx) {
  const { d } = ctx;
  const out = el('div.w-value');
  const s = svg('svg', { class: 'spark', viewBox: '0 0 100 30', preserveAspectRatio: 'none', 'aria-hidden': 'true' });
  const line = svg('polyline', { points: '', 'vector-effect': 'non-scaling-stroke' });
  s.append(line);
  ctx.root.append(out, s);
  const add = series(ctx, 120, (xs, ys) => {
    ctx.root.dataset.points = xs.length;
    if (xs.length < 2) { line.setAttribute('points', ''); return; }
    const x0 = xs[0], x1 = xs[xs.length - 1];
    let y0 = Math.min(...ys), y1 = Math.max(...ys);
    if (d.min != null && d.max != null) { y0 = d.min; y1 = d.max; }
    if (y1 === y0) { y0 -= 1; y1 += 1; }
    line.setAttribute('points', xs.map((x, i) =>
      `${((x - x0) / (x1 - x0 || 1) * 100).toFixed(2)},${(28 - (ys[i] - y0) / (y1 - y0) * 26).toFixed(2)}`).join(' '));
  }, 15 * 60 * 1000); // the last quarter of an hour
  follow(ctx, (v, t) => { out.textContent = display(d, v); add(v, t); });
}

function chartWidget(ctx) {
  const { d } = ctx;
  const out = el('div.w-value');
  const box = el('div.w-chart');
  ctx.root.classList.add('wide');
  ctx.root.append(out, box);
  let plot = null, frame = 0;
  const data = [[], []];
  const draw = () => {
    frame = 0;
    ctx.root.dataset.points = data[0].length;
    if (!window.uPlot || !box.isConnected) return;
    if (!plot) {
      const fg = cssVar('--muted'), grid = cssVar('--border'), accent = cssVar('--accent');
      const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: '11px system-ui, sans-serif' };
      plot = new window.uPlot({
        width: Math.max(box.clientWidth, 100), height: 180,
        legend: { show: false }, cursor: { y: false },
        scales: { x: { time: true } },
        axes: [axis, { ...axis, size: 46, values: (u, vals) => vals.map(v => fmtNumber(v)) }],
        series: [{}, { label: d.name || d.id, stroke: accent, width: 2, fill: accent + '22', points: { show: false } }],
      }, data, box);
      const ro = new ResizeObserver(() => plot && plot.setSize({ width: Math.max(box.clientWidth, 100), height: 180 }));
      ro.observe(box);
      state.cleanup.push(() => { ro.disconnect(); plot.destroy(); plot = null; });
    } else {
      plot.setData(data);
    }
  };
  const add = series(ctx, 600, (xs, ys) => {
    data[0] = xs; data[1] = ys;
    if (!frame) frame = requestAnimationFrame(draw);
  });
  state.cleanup.push(() => cancelAnimationFrame(frame));
  follow(ctx, (v, t) => { out.textContent = display(d, v); add(v, t); });
}

// enterClicks makes Enter toggle a checkbox, as Space does.
function enterClicks(e) {
  if (e.key === 'Enter') { e.preventDefault(); e.target.click(); }
}

function switchWidget(ctx) {
  const box = labelled(ctx, el('input', { type: 'checkbox', role: 'switch' }));
  const out = el('span.w-value');
  ctx.root.append(el('label.switch', {}, box, el('span.slider', { 'aria-hidden': 'true' }), out));
  follow(ctx, v => { box.checked = !!v; out.textContent = display(ctx.d, v); });
  box.addEventListener('keydown', enterClicks);
  box.addEventListener('change', () => write(ctx, box.checked, v => { box.checked = !!v; }));
}

// A push button: true while pressed.
function pushWidget(ctx) {
  const out = el('span.w-value');
  const b = labelled(ctx, el('button.w-push', { type: 'button', text: ctx.opts.text || 'Push' }));
  let down = false;
  const press = on => {
    if (down === on) return;
    down = on;
    b.classList.toggle('pressed', on);
    b.setAttribute('aria-pressed', on);
    write(ctx, on);
  };
  b.addEventListener('pointerdown', e => { b.setPointerCapture(e.pointerId); press(true); });
  b.addEventListener('pointerup', () => press(false));
  b.addEventListener('pointercancel', () => press(false));
  b.addEventListener('keydown', e => { if ((e.key === ' ' || e.key === 'Enter') && !e.repeat) { e.preventDefault(); press(true); } });
  b.addEventListener('keyup', e => { if (e.key === ' ' || e.key === 'Enter') press(false); });
  b.addEventListener('blur', () => press(false));
  ctx.root.append(el('div.row', {}, b, out));
  follow(ctx, v => { out.textContent = display(ctx.d, v); });
}

// A slider, with the number beside it to read and to type.
function sliderWidget(ctx) {
  const { d } = ctx;
  const r = labelled(ctx, el('input', { type: 'range', min: d.min ?? 0, max: d.max ?? 100, step: ctx.opts.step || 'any' }));
  const n = labelled(ctx, el('input.mini', { type: 'number', min: d.min ?? null, max: d.max ?? null, step: 'any', inputMode: 'decimal' }));
  const out = el('output.w-value');
  ctx.root.classList.add('wide');
  ctx.root.append(out, el('div.row.nowrap', {}, r, n));
  let editing = false;
  const restore = v => {
    if (typeof v === 'number') { r.value = v; n.value = forInput(v); }
    out.textContent = display(d, v);
  };
  r.addEventListener('input', () => { editing = true; n.value = r.value; out.textContent = withUnit(fmtNumber(+r.value), d.unit); });
  r.addEventListener('change', () => { editing = false; write(ctx, +r.value, restore); });
  const commit = () => {
    if (n.value === '' || +n.value === +r.value && !n.matches(':invalid')) return;
    write(ctx, +n.value, restore);
  };
  n.addEventListener('change', commit);
  n.addEventListener('keydown', e => { if (e.key === 'Enter') commit(); });
  follow(ctx, v => {
    if (!editing && typeof v === 'number') r.value = v;
    if (document.activeElement !== n && typeof v === 'number') n.value = forInput(v);
    out.textContent = display(d, v);
    r.setAttribute('aria-valuetext', display(d, v));
  });
}

function numberWidget(ctx) {
  const { d } = ctx;
  const n = labelled(ctx, el('input', { type: 'number', step: ctx.opts.step || 'any', min: d.min ?? null, max: d.max ?? null, inputMode: 'decimal' }));
  const out = el('span.w-value');
  ctx.root.append(el('div.row', {}, n, d.unit ? el('span.unit', { text: d.unit }) : null), out);
  out.classList.add('sr-only');
  let last = '';
  const commit = () => {
    if (n.value === '' || n.value === last) return;
    last = n.value;
    write(ctx, +n.value, v => { n.value = typeof v === 'number' ? forInput(v) : ''; last = n.value; });
  };
  n.addEventListener('change', commit);
  n.addEventListener('keydown', e => { if (e.key === 'Enter') commit(); });
  follow(ctx, v => {
    out.textContent = display(d, v);
    if (document.activeElement !== n && typeof v === 'number') { n.value = forInput(v); last = n.value; }
  });
}

function textWidget(ctx) {
  const t = labelled(ctx, el('input', { type: 'text' }));
  const out = el('span.w-value.sr-only');
  ctx.root.append(t, out);
  let last = '';
  const commit = () => {
    if (t.value === last) return;
    last = t.value;
    write(ctx, t.value, v => { t.value = v ?? ''; last = t.value; });
  };
  t.addEventListener('change', commit);
  t.addEventListener('keydown', e => { if (e.key === 'Enter') commit(); });
  follow(ctx, v => {
    out.textContent = display(ctx.d, v);
    if (document.activeElement !== t) { t.value = raw(v); last = t.value; }
  });
}

function selectWidget(ctx) {
  const s = labelled(ctx, el('select', {}, (ctx.d.choices || []).map(c => el('option', { value: c.value, text: c.text || c.value }))));
  const out = el('span.w-value.sr-only');
  ctx.root.append(s, out);
  s.addEventListener('change', () => write(ctx, s.value, v => { s.value = raw(v); }));
  follow(ctx, v => { s.value = raw(v); out.textContent = display(ctx.d, v); });
}

function buttonsWidget(ctx) {
  const group = el('div.choices', { role: 'group', 'aria-labelledby': ctx.title.id });
  const out = el('span.w-value.sr-only');
  const bs = (ctx.d.choices || []).map(c => el('button', {
    type: 'button', 'data-choice': c.value, text: c.text || c.value, disabled: !ctx.d.input,
    onclick: () => write(ctx, c.value),
  }));
  group.append(...bs);
  ctx.root.append(group, out);
  follow(ctx, v => {
    for (const b of bs) b.setAttribute('aria-pressed', b.dataset.choice === v);
    out.textContent = display(ctx.d, v);
  });
}

function colorWidget(ctx) {
  const c = labelled(ctx, el('input', { type: 'color' }));
  const out = el('span.w-value');
  ctx.root.append(el('div.row', {}, c, out));
  c.addEventListener('change', () => write(ctx, c.value, v => { if (v) c.value = v; }));
  follow(ctx, v => { if (/^#[0-9a-f]{6}$/i.test(v)) c.value = v; out.textContent = raw(v); });
}

function pad(n) { return String(n).padStart(2, '0'); }
function toLocalInput(v) {
  const t = new Date(v);
  if (isNaN(t)) return '';
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}T${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`;
}

function datetimeWidget(ctx) {
  const i = labelled(ctx, el('input', { type: 'datetime-local', step: 1 }));
  const out = el('span.w-value.sr-only');
  ctx.root.append(i, out);
  i.addEventListener('change', () => {
    const t = new Date(i.value);
    if (isNaN(t)) return;
    write(ctx, t.toISOString(), v => { i.value = toLocalInput(v); });
  });
  follow(ctx, v => {
    out.textContent = display(ctx.d, v);
    if (document.activeElement !== i) i.value = toLocalInput(v);
  });
}

// ---------------------------------------------------------------- actions

// run calls the action with args, showing its state on the widget root.
async function run(ctx, args) {
  const { root } = ctx;
  if (ctx.opts.confirm && !(await confirmDialog(ctx.opts.confirm === 'true' ? `Run “${ctx.d.name || ctx.d.id}”?` : ctx.opts.confirm))) return false;
  root.dataset.state = 'running';
  root.setAttribute('aria-busy', 'true');
  try {
    const res = await callAction(ctx.w.id, args);
    root.dataset.state = 'done';
    ctx.ok();
    const out = root.querySelector('.w-result');
    if (out) out.textContent = res == null ? 'Done' : typeof res === 'object' ? JSON.stringify(res) : String(res);
    return true;
  } catch (e) {
    root.dataset.state = 'failed';
    ctx.fail(e.message);
    const out = root.querySelector('.w-result');
    if (out) out.textContent = '';
    return false;
  } finally {
    root.removeAttribute('aria-busy');
  }
}

function actionButton(ctx) {
  ctx.root.dataset.widget = 'button';
  ctx.root.dataset.state = 'idle';
  const b = el('button.w-action', { type: 'button', text: ctx.opts.text || 'Run', 'aria-describedby': ctx.title.id });
  b.addEventListener('click', async () => {
    b.disabled = true;
    try { await run(ctx, []); } finally { b.disabled = false; }
  });
  ctx.root.append(el('div.row', {}, b, el('span.w-result.muted', { 'aria-live': 'polite' })));
}

function actionSwitch(ctx) {
  ctx.root.dataset.widget = 'switch';
  ctx.root.dataset.state = 'idle';
  const box = el('input', { type: 'checkbox', role: 'switch', 'aria-labelledby': ctx.title.id });
  const out = el('span.w-value');
  ctx.root.append(el('label.switch', {}, box, el('span.slider', { 'aria-hidden': 'true' }), out));
  const stateID = ctx.opts.state;
  const show = on => { box.checked = on; out.textContent = on ? 'On' : 'Off'; ctx.root.dataset.value = String(on); };
  let on = false;
  show(false);
  if (stateID) watch(stateID, v => { on = !!v; show(on); });
  box.addEventListener('keydown', enterClicks);
  box.addEventListener('change', async () => {
    const want = box.checked;
    box.disabled = true;
    const ok = await run(ctx, [want]);
    box.disabled = false;
    if (!stateID) { if (ok) on = want; show(on); } // else the state value says
    else { const v = state.values.get(stateID); show(v ? !!v.value : on); }
  });
}

function paramInput(p) {
  const k = p.type && p.type.kind;
  const attrs = { name: p.name };
  switch (k) {
    case 'bool': return el('input', { ...attrs, type: 'checkbox' });
    case 'int': case 'uint': return el('input', { ...attrs, type: 'number', step: 1, min: k === 'uint' ? 0 : null, required: true });
    case 'float': return el('input', { ...attrs, type: 'number', step: 'any', required: true });
    case 'time': return el('input', { ...attrs, type: 'datetime-local', step: 1, required: true });
    case 'list': case 'map': case 'struct': return el('textarea', { ...attrs, rows: 2, placeholder: 'JSON', required: true });
  }
  return el('input', { ...attrs, type: 'text' });
}

function paramValue(input, p) {
  const k = p.type && p.type.kind;
  switch (k) {
    case 'bool': return input.checked;
    case 'int': case 'uint': case 'float': return +input.value;
    case 'time': return new Date(input.value).toISOString();
    case 'list': case 'map': case 'struct': return JSON.parse(input.value);
    case 'duration': return /^\d+$/.test(input.value) ? +input.value : input.value;
  }
  return input.value;
}

function actionForm(ctx) {
  ctx.root.dataset.widget = 'form';
  ctx.root.dataset.state = 'idle';
  const params = ctx.d.params || [];
  const inputs = params.map(paramInput);
  const form = el('form.w-form', { 'aria-labelledby': ctx.title.id },
    params.map((p, i) => el('label', { class: inputs[i].type === 'checkbox' ? 'check' : null }, el('span', { text: p.name }), inputs[i])),
    el('div.row', {}, el('button.w-action', { type: 'submit', text: ctx.opts.text || 'Run' }), el('span.w-result.muted', { 'aria-live': 'polite' })));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    let args;
    try { args = params.map((p, i) => paramValue(inputs[i], p)); } catch (e) { ctx.fail(`${e.message}`); return; }
    const b = $('button[type=submit]', form);
    b.disabled = true;
    try { await run(ctx, args); } finally { b.disabled = false; }
  });
  ctx.root.classList.add('wide');
  ctx.root.append(form);
}

function confirmDialog(text) {
  const dlg = $('#confirm');
  $('#confirm-text').textContent = text;
  dlg.returnValue = '';
  return new Promise(resolve => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
    dlg.showModal();
    $('#confirm-ok').focus();
  });
}

// ---------------------------------------------------------------- system view

async function loadSystemSeeds() {
  try {
    const r = await api('GET', '/api/modules');
    if (r.status === 200 && Array.isArray(r.data)) {
      for (const m of r.data) state.modules.set(m.Name, m);
    }
  } catch { /* the live values fill in */ }
  try {
    const r = await api('GET', '/api/logs');
    if (r.status === 200 && Array.isArray(r.data)) for (const rec of r.data) addLog(rec);
  } catch { /* live records only */ }
  if (current() === '_system') renderLogs();
}

function addLog(rec) {
  if (!rec || (rec.level !== 'WARN' && rec.level !== 'ERROR' && !/^(WARN|ERROR)/.test(rec.level || ''))) return false;
  const key = `${rec.time}|${rec.module}|${rec.msg}`;
  if (state.logKeys.has(key)) return false;
  state.logKeys.add(key);
  state.logs.push(rec);
  state.logs.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
  if (state.logs.length > 300) state.logKeys.delete(logKey(state.logs.pop()));
  return true;
}
const logKey = r => `${r.time}|${r.module}|${r.msg}`;

// The log feed, followed whatever the view.
function onLogValue(v) {
  if (typeof v !== 'string' || !v) return;
  let rec;
  try { rec = JSON.parse(v); } catch { return; }
  if (addLog(rec) && current() === '_system') renderLogs();
}

function modulesFromCatalogue() {
  const names = new Set(state.modules.keys());
  for (const id of state.cat.keys()) {
    const m = /^kervi\.module\.([^.]+)$/.exec(id);
    if (m) names.add(m[1]);
  }
  return [...names];
}

// The state of a module in kervi.modules: its name, such as "ready".
const stateName = s => (s == null ? '' : String(s));

function systemView() {
  const rows = el('tbody');
  const table = el('table.health', {},
    el('thead', {}, el('tr', {}, ['Module', 'State', 'Restarts', 'Uptime', 'Last exit', 'PID'].map(h => el('th', { scope: 'col', text: h })))),
    rows);
  const health = el('section#health.panel.card', { 'aria-labelledby': 'health-title' },
    el('h2', { id: 'health-title', text: 'Modules' }), el('div.scroll', {}, table));
  const tick = [];
  for (const name of modulesFromCatalogue()) {
    const st = state.modules.get(name) || {};
    const cells = {
      state: el('td.state'), restarts: el('td', { text: st.Restarts ?? '—' }), uptime: el('td'),
      last: el('td.last', { text: st.LastExit || '' }), pid: el('td', { text: st.PID || '—' }),
    };
    const entry = state.cat.get('kervi.module.' + name);
    const where = entry && entry.node ? `${name} (${entry.node})` : name;
    const tr = el('tr', { 'data-module': name }, el('th', { scope: 'row', text: where }), cells.state, cells.restarts, cells.uptime, cells.last, cells.pid);
    rows.append(tr);
    let s = stateName(st.State), since = st.Since ? Date.parse(st.Since) : NaN;
    const showState = () => {
      cells.state.textContent = s || '—';
      tr.dataset.state = s;
      cells.uptime.textContent = s === 'ready' && !isNaN(since) ? duration(Date.now() - since) : '—';
    };
    showState();
    const id = 'kervi.module.' + name;
    watch(id, v => { s = String(v); showState(); });
    watch(id + '.since', v => { since = Date.parse(v); showState(); });
    watch(id + '.restarts', v => { cells.restarts.textContent = fmtNumber(v); });
    watch(id + '.pid', v => { cells.pid.textContent = v ? String(v) : '—'; });
    watch(id + '.last_exit', v => { cells.last.textContent = v || ''; });
    tick.push(showState);
  }
  if (!rows.children.length) rows.append(el('tr', {}, el('td', { colspan: 6, class: 'muted', text: 'No module status yet.' })));
  const timer = setInterval(() => tick.forEach(f => f()), 1000);
  state.cleanup.push(() => clearInterval(timer));

  const logs = el('section#logs.panel.card', { 'aria-labelledby': 'logs-title' },
    el('h2', { id: 'logs-title', text: 'Warnings and errors' }), el('ol.log-list'));
  const nodes = nodesPanel();
  const grid = el('div.grid.system', {}, ...(nodes ? [nodes] : []), health, logs);
  queueMicrotask(renderLogs);
  return grid;
}

// nodesPanel shows the state of each node of an application on several
// machines (the values kervi.node.<name>.*), or nothing on one machine.
function nodesPanel() {
  const names = [];
  for (const id of state.cat.keys()) {
    const m = /^kervi\.node\.([^.]+)$/.exec(id);
    if (m) names.push(m[1]);
  }
  if (!names.length) return null;
  names.sort((a, b) => (a === 'main' ? -1 : b === 'main' ? 1 : a < b ? -1 : 1));
  const rows = el('tbody');
  for (const n of names) {
    const cells = { online: el('td.state', { text: '—' }), offset: el('td', { text: '—' }), version: el('td', { text: '—' }) };
    const tr = el('tr', { 'data-node': n }, el('th', { scope: 'row', text: n }), cells.online, cells.offset, cells.version);
    rows.append(tr);
    const id = 'kervi.node.' + n;
    watch(id + '.online', v => {
      cells.online.textContent = v ? 'online' : 'offline';
      tr.dataset.state = v ? 'ready' : 'failed';
    });
    watch(id + '.clock_offset', v => {
      const off = Number(v);
      cells.offset.textContent = isNaN(off) ? '—' : (Math.abs(off) < 1 ? `${Math.round(off * 1000)} ms` : `${fmtNumber(off)} s`);
      cells.offset.classList.toggle('warn', Math.abs(off) > 1);
      cells.offset.title = Math.abs(off) > 1 ? 'This clock is more than a second off the main node\'s: set it with NTP' : '';
    });
    watch(id + '.version', v => { cells.version.textContent = v || '—'; });
  }
  return el('section#nodes.panel.card', { 'aria-labelledby': 'nodes-title' },
    el('h2', { id: 'nodes-title', text: 'Nodes' }),
    el('div.scroll', {}, el('table.health', {},
      el('thead', {}, el('tr', {}, ['Node', 'State', 'Clock offset', 'Version'].map(h => el('th', { scope: 'col', text: h })))),
      rows)));
}

function renderLogs() {
  const list = $('#logs .log-list');
  if (!list) return;
  if (!state.logs.length) {
    list.replaceChildren(el('li.muted', { text: 'No warnings or errors.' }));
    return;
  }
  list.replaceChildren(...state.logs.slice(0, 200).map(r => {
    const attrs = Object.entries(r.attrs || {}).map(([k, v]) => `${k}=${v}`).join(' ');
    const t = new Date(r.time);
    return el('li.log-record', { 'data-level': r.level },
      el('time', { datetime: r.time, text: isNaN(t) ? r.time : t.toLocaleString() }),
      el('span.level', { text: r.level }),
      el('span.module', { text: r.module }),
      el('span.msg', { text: r.msg }),
      attrs ? el('span.attrs', { text: attrs }) : null);
  }));
}

// ---------------------------------------------------------------- start

function main() {
  initTheme();
  setConn('connecting');
  $('#logout').addEventListener('click', logout);
  addEventListener('hashchange', () => { if (state.layout) render(); });
  // The log feed is followed for the whole page's life, not by one view.
  let set = state.subs.get('kervi.log');
  if (!set) state.subs.set('kervi.log', set = new Set());
  set.add(onLogValue);
  start();
}

main();
