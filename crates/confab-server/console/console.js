// The confab console: one page, no framework, no build step. Every string
// from the server goes into the page as text (textContent), never as HTML.

const main = document.getElementById('main');
let csrf = null;
let app = localStorage.getItem('confab.app') || '';
let liveTimer = null;

// h('tag', {attrs}, ...children): an element; strings become text nodes.
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v !== false && v !== null && v !== undefined) el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function show(...nodes) {
  main.replaceChildren(...nodes);
}

function time(ms) {
  return ms ? new Date(ms).toLocaleString() : '';
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const headers = { 'Accept': 'application/json' };
  if (method !== 'GET') headers['X-CSRF-Token'] = csrf || '';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch('/console/api' + path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (res.status === 401 && path !== '/login') { loginPage(); throw new ApiError(401, 'signed out'); }
  if (!res.ok) throw new ApiError(res.status, data.error || res.statusText);
  return data;
}

function errorBox(e) {
  return h('p', { class: 'error', 'data-testid': 'error' }, e.message);
}

// A button that asks again before it acts: the first click arms it.
function confirmButton(label, action) {
  const b = h('button', { class: 'danger', 'data-action': label.toLowerCase() }, label);
  b.addEventListener('click', async () => {
    if (!b.classList.contains('armed')) {
      b.classList.add('armed');
      b.textContent = 'Confirm ' + label.toLowerCase() + '?';
      setTimeout(() => { b.classList.remove('armed'); b.textContent = label; }, 5000);
      return;
    }
    b.disabled = true;
    try { await action(); } catch (e) { b.after(errorBox(e)); }
  });
  return b;
}

function appPath() {
  if (!app) throw new ApiError(0, 'choose an app first (Apps)');
  return '/apps/' + app.split('/').map(encodeURIComponent).join('/');
}

function appPicker(onChange) {
  const select = h('select', { 'data-testid': 'app-picker', onchange: () => {
    app = select.value; localStorage.setItem('confab.app', app); onChange();
  } });
  api('GET', '/apps').then(({ apps }) => {
    const names = apps.map(a => a.org + '/' + a.name);
    if (!names.includes(app)) { app = names[0] || ''; localStorage.setItem('confab.app', app); }
    select.replaceChildren(...names.map(n => h('option', { value: n, selected: n === app }, n)));
    onChange();
  }).catch(e => select.after(errorBox(e)));
  return h('label', {}, 'App ', select);
}

// ---- sign-in

function loginPage() {
  stopLive();
  csrf = null;
  document.getElementById('nav').hidden = true;
  document.getElementById('whoami').replaceChildren();
  const name = h('input', { name: 'name', value: 'admin', autocomplete: 'username', required: true });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const out = h('div');
  const form = h('form', { 'data-testid': 'login', onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const r = await api('POST', '/login', { name: name.value, password: password.value });
      signedIn(r);
    } catch (e) { out.replaceChildren(errorBox(e)); }
  } }, h('label', {}, 'Operator ', name), h('label', {}, 'Password ', password), h('button', { type: 'submit' }, 'Sign in'));
  show(h('h2', {}, 'Sign in'), form, out,
    h('p', { class: 'note' }, 'The first start printed the password of operator admin; `confab console password` sets a new one.'));
}

function signedIn(r) {
  csrf = r.csrf;
  document.getElementById('nav').hidden = false;
  const out = h('button', { onclick: async () => { await api('POST', '/logout').catch(() => {}); loginPage(); } }, 'Sign out');
  document.getElementById('whoami').replaceChildren(h('span', { 'data-testid': 'operator' }, r.operator), out);
  if (!location.hash || location.hash === '#/') location.hash = '#/live';
  route();
}

// ---- live view

function stopLive() {
  if (liveTimer) clearInterval(liveTimer);
  liveTimer = null;
}

function p99(prev, next) {
  const deltas = next.latency.map(([le, n], i) => [le, n - prev.latency[i][1]]);
  const total = deltas.reduce((s, [, n]) => s + n, 0);
  if (total === 0) return null;
  let seen = 0;
  for (const [le, n] of deltas) {
    seen += n;
    if (seen >= total * 0.99) return le;
  }
  return null;
}

function chart(points) {
  const w = 600, hgt = 200, pad = 30;
  const max = Math.max(1, ...points.flatMap(p => [p.sends, p.deliveries]));
  const x = i => pad + (i * (w - pad - 5)) / Math.max(1, points.length - 1);
  const y = v => hgt - pad + 10 - (v / max) * (hgt - pad - 10);
  const line = key => points.map((p, i) => (i ? 'L' : 'M') + x(i).toFixed(1) + ',' + y(p[key]).toFixed(1)).join(' ');
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'chart');
  svg.setAttribute('viewBox', `0 0 ${w} ${hgt}`);
  svg.setAttribute('data-testid', 'live-chart');
  svg.setAttribute('data-points', String(points.length));
  for (const key of ['sends', 'deliveries']) {
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('class', key);
    path.setAttribute('d', points.length ? line(key) : '');
    svg.append(path);
  }
  const label = document.createElementNS(ns, 'text');
  label.setAttribute('x', '2'); label.setAttribute('y', '12');
  label.textContent = Math.round(max) + '/s';
  svg.append(label);
  return svg;
}

function livePage() {
  const stats = h('div', { class: 'stats' });
  const graph = h('div');
  const points = [];
  let prev = null;
  const stat = (id, label, value) => h('div', { class: 'stat' }, h('b', { 'data-testid': id }, value), label);
  async function tick() {
    try {
      const now = await api('GET', '/live');
      const t = now.totals;
      const connections = Object.values(t.sessions).reduce((a, b) => a + b, 0);
      if (prev) {
        const secs = Math.max(0.001, (now.at_ms - prev.at_ms) / 1000);
        const sends = (t.committed - prev.totals.committed) / secs;
        const deliveries = (t.deliveries - prev.totals.deliveries) / secs;
        const tail = p99(prev.totals, t);
        points.push({ sends, deliveries });
        if (points.length > 60) points.shift();
        stats.replaceChildren(
          stat('live-connections', 'connections', connections),
          stat('live-sends', 'sends/s', sends.toFixed(1)),
          stat('live-deliveries', 'deliveries/s', deliveries.toFixed(1)),
          stat('live-p99', 'p99 request latency', tail === null ? (t.requests ? '> 8 s' : '–') : (tail * 1000).toFixed(2) + ' ms'),
        );
        graph.replaceChildren(chart(points),
          h('p', { class: 'legend' }, h('span', { class: 'sends' }, '— sends/s'), h('span', { class: 'deliveries' }, '— deliveries/s'),
            'by protocol: ', Object.entries(t.sessions).map(([p, n]) => `${p} ${n}`).join(', ')));
      } else {
        stats.replaceChildren(stat('live-connections', 'connections', connections));
      }
      prev = now;
    } catch (e) { if (e.status !== 401) stats.replaceChildren(errorBox(e)); }
  }
  show(h('h2', {}, 'Live'), h('p', { class: 'note' }, 'Read every 2 seconds; rates are between two readings.'), stats, graph);
  tick();
  liveTimer = setInterval(tick, 2000);
}

// ---- apps

function appsPage() {
  const list = h('div');
  const created = h('div');
  const org = h('input', { name: 'org', placeholder: 'org', required: true });
  const name = h('input', { name: 'name', placeholder: 'app', required: true });
  async function load() {
    try {
      const { apps } = await api('GET', '/apps');
      list.replaceChildren(...apps.map(appCard));
    } catch (e) { list.replaceChildren(errorBox(e)); }
  }
  const form = h('form', { 'data-testid': 'create-app', onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const r = await api('POST', '/apps', { org: org.value, name: name.value });
      created.replaceChildren(h('div', { class: 'card' },
        h('p', {}, `Created ${r.app.org}/${r.app.name}. Copy these now: they are not shown again.`),
        h('pre', { class: 'secret', 'data-testid': 'credentials' },
          Object.entries(r.credentials).map(([k, v]) => `${k}: ${v}`).join('\n'))));
      load();
    } catch (e) { created.replaceChildren(errorBox(e)); }
  } }, 'New app ', org, name, h('button', { type: 'submit' }, 'Create'));
  show(h('h2', {}, 'Apps'), form, created, list);
  load();
}

function appCard(a) {
  const names = Object.keys(a.limits);
  const which = h('select', {}, ...names.map(n => h('option', { value: n }, n)));
  const value = h('input', { type: 'number', min: 0, placeholder: 'value (empty: default)' });
  const out = h('span');
  const rows = names.map(n => h('tr', {}, h('td', {}, n), h('td', {}, a.limits[n].value), h('td', {}, a.limits[n].own ? 'this app' : 'server default')));
  return h('div', { class: 'card', 'data-app': a.org + '/' + a.name },
    h('h3', {}, `${a.org}/${a.name}`),
    h('p', { class: 'note' }, `application ${a.uuid} · client_id ${a.client_id} · created ${time(a.created_ms)}`),
    h('details', {}, h('summary', {}, 'Limits and retention (0 = unlimited)'),
      h('table', {}, h('tr', {}, h('th', {}, 'limit'), h('th', {}, 'value'), h('th', {}, 'set by')), rows),
      h('form', { onsubmit: async (ev) => {
        ev.preventDefault();
        try {
          const v = value.value === '' ? null : Number(value.value);
          await api('PUT', `/apps/${encodeURIComponent(a.org)}/${encodeURIComponent(a.name)}/limits/${encodeURIComponent(which.value)}`, { value: v });
          appsPage();
        } catch (e) { out.replaceChildren(errorBox(e)); }
      } }, which, value, h('button', { type: 'submit' }, 'Set'), out)));
}

// ---- users

function usersPage(prefixValue = '') {
  const results = h('div');
  const prefix = h('input', { name: 'prefix', placeholder: 'user ID starts with…', value: prefixValue, 'data-testid': 'user-search' });
  async function search() {
    try {
      const { users } = await api('GET', `${appPath()}/users?prefix=${encodeURIComponent(prefix.value)}`);
      results.replaceChildren(h('table', { 'data-testid': 'users' },
        h('tr', {}, h('th', {}, 'user'), h('th', {}, 'nickname'), h('th', {}, 'state'), h('th', {}, 'online'), h('th', {}, 'created')),
        users.map(u => h('tr', { class: 'clickable', 'data-user': u.username, onclick: () => { location.hash = '#/user/' + encodeURIComponent(u.username); } },
          h('td', {}, u.username), h('td', {}, u.nickname || ''), h('td', {}, u.activated ? 'active' : 'deactivated'),
          h('td', { class: u.online ? 'online' : 'offline' }, u.online ? 'online' : 'offline'), h('td', {}, time(u.created_ms))))));
      if (!users.length) results.append(h('p', { class: 'note' }, 'No user ID starts with that.'));
    } catch (e) { results.replaceChildren(errorBox(e)); }
  }
  const form = h('form', { onsubmit: (ev) => { ev.preventDefault(); search(); } }, prefix, h('button', { type: 'submit' }, 'Find'));
  show(h('h2', {}, 'Users'), h('div', { class: 'bar' }, appPicker(() => {})), form, results);
}

function messagesTable(messages, reload) {
  if (!messages.length) return h('p', { class: 'note' }, 'No messages.');
  return h('table', { 'data-testid': 'messages' },
    h('tr', {}, h('th', {}, 'time'), h('th', {}, 'from'), h('th', {}, 'to'), h('th', {}, 'content'), h('th', {}, 'state'), h('th', {}, '')),
    messages.map(m => h('tr', { 'data-message': m.id },
      h('td', {}, time(m.time_ms)), h('td', {}, m.from), h('td', {}, `${m.kind} ${m.to}`),
      h('td', { class: 'content' }, m.body && m.body.msg !== undefined ? m.body.msg : JSON.stringify(m.body)),
      h('td', { class: 'state' }, m.state),
      h('td', {}, m.state === 'sent' || m.state === 'edited' ? [
        confirmButton('Recall', async () => { await api('POST', `${appPath()}/messages/${m.id}/recall`); reload(); }),
        ' ',
        confirmButton('Delete', async () => { await api('POST', `${appPath()}/messages/${m.id}/delete`); reload(); }),
      ] : ''))));
}

async function userPage(name) {
  const path = `${appPath()}/users/${encodeURIComponent(name)}`;
  let u;
  try { u = await api('GET', path); } catch (e) { show(h('h2', {}, name), errorBox(e)); return; }
  const out = h('div');
  const act = (label, action, body) => h('button', { 'data-action': action, onclick: async () => {
    try { await api('POST', `${path}/${action}`, body && body()); userPage(name); } catch (e) { out.replaceChildren(errorBox(e)); }
  } }, label);
  const password = h('input', { type: 'password', placeholder: 'new password', 'data-testid': 'new-password' });
  const attributes = h('textarea', { 'data-testid': 'attributes' }, JSON.stringify(u.attributes, null, 2));
  const recent = h('div');
  async function loadRecent() {
    try {
      const { messages } = await api('GET', `${path}/messages?limit=50`);
      recent.replaceChildren(messagesTable(messages, loadRecent));
    } catch (e) { recent.replaceChildren(errorBox(e)); }
  }
  show(
    h('h2', {}, `User ${u.username}`),
    h('div', { class: 'card' },
      h('p', {}, 'State: ', h('b', { 'data-testid': 'user-state' }, u.activated ? 'active' : 'deactivated'),
        ' · ', h('span', { 'data-testid': 'user-online', class: u.online ? 'online' : 'offline' }, u.online ? 'online' : 'offline'),
        ' · unread ', u.unread, ' · created ', time(u.created_ms)),
      h('p', {}, 'Devices online: ', h('span', { 'data-testid': 'devices' }, u.devices.length ? u.devices.join(', ') : 'none')),
      h('p', {}, 'Groups and rooms: ', u.groups.length ? u.groups.map(g => `${g.kind} ${g.id} (${g.name})`).join(', ') : 'none'),
      h('div', { class: 'bar' },
        u.activated ? act('Deactivate', 'deactivate') : act('Activate', 'activate'),
        act('Kick (all devices offline)', 'kick'),
        password, act('Reset password', 'password', () => ({ password: password.value })),
        h('button', { onclick: () => { location.hash = '#/user/' + encodeURIComponent(name); route(); } }, 'Refresh')),
      out),
    h('h3', {}, 'Attributes'),
    attributes,
    h('div', { class: 'bar' }, h('button', { onclick: async () => {
      try { await api('PUT', `${path}/attributes`, JSON.parse(attributes.value || '{}')); userPage(name); }
      catch (e) { out.replaceChildren(errorBox(e)); }
    } }, 'Save attributes')),
    h('h3', {}, 'Recent messages sent'),
    recent,
  );
  loadRecent();
}

// ---- groups and rooms

function groupsPage() {
  const kind = h('select', { 'data-testid': 'group-kind' }, h('option', { value: 'group' }, 'groups'), h('option', { value: 'room' }, 'chat rooms'));
  const list = h('div');
  async function load() {
    try {
      const { groups } = await api('GET', `${appPath()}/groups?kind=${kind.value}`);
      list.replaceChildren(h('table', { 'data-testid': 'groups' },
        h('tr', {}, h('th', {}, 'ID'), h('th', {}, 'name'), h('th', {}, 'owner'), h('th', {}, 'members'), h('th', {}, 'created')),
        groups.map(g => h('tr', { class: 'clickable', onclick: () => { location.hash = `#/group/${g.kind}/${encodeURIComponent(g.id)}`; } },
          h('td', {}, g.id), h('td', {}, g.name), h('td', {}, g.owner), h('td', {}, `${g.members}/${g.max_users}`), h('td', {}, time(g.created_ms))))));
    } catch (e) { list.replaceChildren(errorBox(e)); }
  }
  kind.addEventListener('change', load);
  show(h('h2', {}, 'Groups and chat rooms'), h('div', { class: 'bar' }, appPicker(load), kind), list);
}

async function groupPage(kind, id) {
  let g;
  try { g = await api('GET', `${appPath()}/groups/${kind}/${encodeURIComponent(id)}`); } catch (e) { show(errorBox(e)); return; }
  const people = (rows) => rows.length ? rows.map(r => r.username + (r.until_ms ? ` (until ${time(r.until_ms)})` : '')).join(', ') : 'none';
  const history = h('div');
  show(
    h('h2', {}, `${kind === 'room' ? 'Chat room' : 'Group'} ${g.name} (${g.id})`),
    h('p', {}, `owner ${g.owner} · ${g.members}/${g.max_users} members · ${g.mute_all ? 'everyone muted' : 'speaking'}`),
    h('h3', {}, kind === 'room' ? 'Members (online now are in the room)' : 'Members'),
    h('table', { 'data-testid': 'members' }, h('tr', {}, h('th', {}, 'user'), h('th', {}, 'role'), h('th', {}, 'online'), h('th', {}, 'joined')),
      g.members_list.map(m => h('tr', {}, h('td', {}, m.username), h('td', {}, m.role),
        h('td', { class: m.online ? 'online' : 'offline' }, m.online ? 'online' : 'offline'), h('td', {}, time(m.joined_ms))))),
    h('p', {}, 'Muted: ', people(g.muted)), h('p', {}, 'Blocked: ', people(g.blocked)), h('p', {}, 'Allowed while muted: ', people(g.allowed)),
    h('h3', {}, 'History'), history);
  const load = async () => {
    try {
      const { messages } = await api('GET', `${appPath()}/history?kind=${kind}&id=${encodeURIComponent(id)}&limit=50`);
      history.replaceChildren(messagesTable(messages, load));
    } catch (e) { history.replaceChildren(errorBox(e)); }
  };
  load();
}

// ---- messages

function messagesPage() {
  const kind = h('select', { name: 'kind' }, ['chat', 'group', 'room', 'thread'].map(k => h('option', { value: k }, k)));
  const user = h('input', { name: 'user', placeholder: 'user' });
  const peer = h('input', { name: 'peer', placeholder: 'peer (one-to-one)' });
  const id = h('input', { name: 'id', placeholder: 'group, room or thread ID' });
  const out = h('div');
  const sync = () => { const chat = kind.value === 'chat'; user.hidden = !chat; peer.hidden = !chat; id.hidden = chat; };
  kind.addEventListener('change', sync);
  async function load() {
    try {
      const q = kind.value === 'chat'
        ? `kind=chat&user=${encodeURIComponent(user.value)}&peer=${encodeURIComponent(peer.value)}`
        : `kind=${kind.value}&id=${encodeURIComponent(id.value)}`;
      const { messages } = await api('GET', `${appPath()}/history?${q}&limit=100`);
      out.replaceChildren(messagesTable(messages, load));
    } catch (e) { out.replaceChildren(errorBox(e)); }
  }
  sync();
  show(h('h2', {}, 'Messages'), h('div', { class: 'bar' }, appPicker(() => {})),
    h('form', { 'data-testid': 'history', onsubmit: (ev) => { ev.preventDefault(); load(); } }, kind, user, peer, id, h('button', { type: 'submit' }, 'Show history')),
    h('p', { class: 'note' }, 'Newest first; recalled and deleted messages stay listed with their state.'), out);
}

// ---- nodes and audit

async function nodesPage() {
  try {
    const { this: n } = await api('GET', '/nodes');
    show(h('h2', {}, 'Nodes'),
      h('table', { 'data-testid': 'nodes' }, h('tr', {}, h('th', {}, 'node'), h('th', {}, 'state'), h('th', {}, 'sessions')),
        h('tr', {}, h('td', {}, `${n.node_id} (this one)`),
          h('td', {}, `${n.engine}${n.nats_connected === null ? ', alone' : n.nats_connected ? ', NATS connected' : ', NATS disconnected'}`),
          h('td', {}, n.sessions)),
        n.peers.map(([id, ago]) => h('tr', {}, h('td', {}, String(id)), h('td', {}, `heard from ${ago} ms ago`), h('td', {}, '')))),
      n.nats_connected === null ? h('p', { class: 'note' }, 'This server runs alone (no CONFAB_NATS_URL).') : null);
  } catch (e) { show(errorBox(e)); }
}

async function auditPage(before) {
  try {
    const { entries, next } = await api('GET', '/audit' + (before ? `?before=${before}` : ''));
    show(h('h2', {}, 'Audit log'),
      h('table', { 'data-testid': 'audit' }, h('tr', {}, h('th', {}, 'when'), h('th', {}, 'who'), h('th', {}, 'app'), h('th', {}, 'what'), h('th', {}, 'target'), h('th', {}, 'detail')),
        entries.map(e => h('tr', {}, h('td', {}, time(e.at_ms)), h('td', {}, e.operator), h('td', {}, e.app || ''),
          h('td', { class: 'action' }, e.action), h('td', {}, e.target || ''), h('td', {}, e.detail || '')))),
      next ? h('button', { onclick: () => auditPage(next) }, 'Older') : null);
  } catch (e) { show(errorBox(e)); }
}

// ---- API reference (the dialects' OpenAPI documents)

async function apiPage(dialect = 'easemob') {
  const pick = h('select', { 'data-testid': 'api-dialect', onchange: () => apiPage(pick.value) },
    [['easemob', 'Easemob'], ['wildfire', 'WildfireChat'], ['leancloud', 'LeanCloud']]
      .map(([v, label]) => h('option', { value: v, selected: v === dialect }, label)));
  let doc;
  try {
    const res = await fetch(`/openapi/${dialect}.json`, { credentials: 'same-origin' });
    if (!res.ok) throw new ApiError(res.status, res.statusText);
    doc = await res.json();
  } catch (e) { show(h('h2', {}, 'API reference'), pick, errorBox(e)); return; }
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags && op.tags[0]) || 'other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push({ method: method.toUpperCase(), path, op });
    }
  }
  const sections = [...byTag.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([tag, ops]) =>
    h('section', {}, h('h3', {}, tag),
      h('table', { 'data-testid': 'api-operations' },
        h('tr', {}, h('th', {}, 'method'), h('th', {}, 'path'), h('th', {}, 'what'), h('th', {}, 'vendor ID')),
        ops.map(({ method, path, op }) => h('tr', { 'data-operation': `${method} ${path}` },
          h('td', {}, h('code', {}, method)), h('td', {}, h('code', {}, path)), h('td', {}, op.summary),
          h('td', {}, (op.description || '').replace(/^Vendor ID (\S+) .*$/, '$1')))))));
  const schemes = Object.entries(doc.components.securitySchemes)
    .map(([name, s]) => `${name}: ${s.type}${s.scheme ? ' ' + s.scheme : ''}${s.name ? ' header ' + s.name : ''}`).join('; ');
  show(h('h2', {}, 'API reference'),
    h('div', { class: 'bar' }, pick, h('a', { href: `/openapi/${dialect}.json` }, `/openapi/${dialect}.json`)),
    h('p', {}, doc.info.description), h('p', { class: 'note' }, 'Credentials: ', schemes),
    h('p', { class: 'note' }, 'Errors: ', Object.keys(doc.components.schemas).join(', '), ' (schema in the document).'),
    ...sections);
}

// ---- routing

function route() {
  if (!csrf) return;
  stopLive();
  const [page, ...rest] = location.hash.replace(/^#\//, '').split('/');
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.getAttribute('href') === '#/' + page);
  const arg = rest.map(decodeURIComponent);
  switch (page) {
    case 'apps': return appsPage();
    case 'users': return usersPage();
    case 'user': return userPage(arg[0]);
    case 'groups': return groupsPage();
    case 'group': return groupPage(arg[0], arg[1]);
    case 'messages': return messagesPage();
    case 'nodes': return nodesPage();
    case 'audit': return auditPage();
    case 'api': return apiPage(arg[0]);
    default: return livePage();
  }
}

window.addEventListener('hashchange', route);
api('GET', '/session').then(signedIn).catch(() => {});
