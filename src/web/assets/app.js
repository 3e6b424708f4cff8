// Coffer's web interface: sign in (the API's cookie session: HttpOnly cookies, no token
// in script reach), the file browser, folders, downloads, renames, deletes, usage and
// the password. Every change carries X-Coffer-CSRF; every name is set as text.

const api = '/api/v1';
const $ = (id) => document.getElementById(id);
const PAGE = 100;

let me = null;
// The folders from the root to the one shown: [{id, name}], the root's id null.
let trail = [{ id: null, name: 'My files' }];
let registering = false;

function show(id, on = true) {
  $(id).hidden = !on;
}

function say(id, text) {
  $(id).textContent = text ?? '';
  show(id, Boolean(text));
}

const fail = (text) => {
  say('notice', '');
  say('error', text);
};
const notice = (text) => {
  say('error', '');
  say('notice', text);
};

function bytes(n) {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return i === 0 ? `${n} bytes` : `${n.toFixed(1)} ${units[i]}`;
}

async function call(method, path, body) {
  const init = { method, credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } };
  if (method !== 'GET') init.headers['X-Coffer-CSRF'] = '1';
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res = await fetch(api + path, init);
  if (res.status === 401 && me && !path.startsWith('/auth/')) {
    // The access cookie ran out: renew it with the refresh cookie, once.
    const renewed = await fetch(`${api}/auth/refresh`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-Coffer-CSRF': '1' },
      body: JSON.stringify({ cookie: true }),
    });
    if (renewed.ok) res = await fetch(api + path, init);
  }
  let json = null;
  try {
    json = await res.json();
  } catch {
    // 204, or not JSON: the status says enough.
  }
  if (res.status === 401 && me && !path.startsWith('/auth/')) signedOut('Your session ended; sign in again.');
  return { ok: res.ok, status: res.status, json };
}

const detail = (r) => (r.status === 429 ? 'Too many requests; wait a minute.' : r.json?.detail ?? `The server answered ${r.status}.`);

function signedOut(message) {
  me = null;
  show('account', false);
  show('files', false);
  show('auth');
  if (message) fail(message);
}

async function signedIn(user) {
  me = user;
  $('who').textContent = user.username;
  show('account');
  show('auth', false);
  show('files');
  trail = [{ id: null, name: 'My files' }];
  await refresh();
}

function setMode(register) {
  registering = register;
  $('auth-title').textContent = register ? 'Create an account' : 'Sign in';
  $('auth-submit').textContent = register ? 'Create account' : 'Sign in';
  $('auth-switch').textContent = register ? 'I have an account' : 'Create an account';
  $('auth-password').autocomplete = register ? 'new-password' : 'current-password';
}

async function submitAuth(e) {
  e.preventDefault();
  const username = $('username').value.trim();
  const password = $('auth-password').value;
  if (registering) {
    const r = await call('POST', '/auth/register', { username, password });
    if (!r.ok) return fail(detail(r));
  }
  const r = await call('POST', '/auth/login', { username, password, cookie: true });
  if (!r.ok) return fail(detail(r));
  $('auth-password').value = '';
  const who = await call('GET', '/auth/me');
  if (!who.ok) return fail(detail(who));
  notice(registering ? `Welcome, ${who.json.username}.` : '');
  setMode(false);
  await signedIn(who.json);
}

async function usage() {
  const r = await call('GET', '/me/usage');
  if (!r.ok) return;
  const u = r.json;
  $('usage').textContent = `${bytes(u.used_bytes)} of ${bytes(u.quota_bytes)} used · ${u.used_objects} of ${u.quota_objects} files`;
}

function renderCrumbs() {
  const nav = $('crumbs');
  nav.replaceChildren();
  trail.forEach((f, i) => {
    if (i > 0) {
      const sep = document.createElement('span');
      sep.className = 'sep';
      sep.textContent = '/';
      nav.append(sep);
    }
    if (i === trail.length - 1) {
      const here = document.createElement('strong');
      here.textContent = f.name;
      nav.append(here);
    } else {
      const up = document.createElement('button');
      up.type = 'button';
      up.className = 'link';
      up.textContent = f.name;
      up.onclick = () => {
        trail = trail.slice(0, i + 1);
        refresh();
      };
      nav.append(up);
    }
  });
}

function button(label, onclick, className) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  if (className) b.className = className;
  b.onclick = onclick;
  return b;
}

function row(item) {
  const tr = document.createElement('tr');
  const cells = Array.from({ length: 6 }, () => document.createElement('td'));
  const [name, size, type, modified, state, actions] = cells;
  size.className = 'num';
  actions.className = 'actions';
  if (item.kind === 'folder') {
    name.append(button(`${item.name}/`, () => {
      trail.push({ id: item.id, name: item.name });
      refresh();
    }, 'link'));
    type.textContent = 'folder';
  } else {
    name.textContent = item.name;
    size.textContent = bytes(item.size);
    type.textContent = item.content_type ?? '';
    if (item.state === 'active') actions.append(button('Download', () => download(item)));
  }
  modified.textContent = new Date(item.updated_at).toLocaleString();
  state.textContent = item.state;
  actions.append(button('Rename', () => rename(item)), button('Delete', () => remove(item), 'danger'));
  tr.append(...cells);
  return tr;
}

async function list(cursor) {
  const here = trail.at(-1);
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (cursor) q.set('cursor', cursor);
  const r = await call('GET', `/folders/${here.id ?? 'root'}/items?${q}`);
  if (r.status === 404 && trail.length > 1) {
    trail.pop();
    fail('That folder is gone.');
    return list();
  }
  if (!r.ok) return fail(detail(r));
  const body = $('items');
  if (!cursor) body.replaceChildren();
  for (const item of r.json.items) body.append(row(item));
  show('empty', !cursor && r.json.items.length === 0);
  const more = $('more');
  more.hidden = !r.json.next_cursor;
  more.onclick = () => list(r.json.next_cursor);
}

async function refresh() {
  renderCrumbs();
  await Promise.all([list(), usage()]);
}

async function download(item) {
  const r = await call('GET', `/files/${item.id}/download`);
  if (!r.ok) return fail(detail(r));
  // A presigned GET of the store, answered as an attachment: the page stays.
  location.assign(r.json.url);
}

async function rename(item) {
  const name = prompt(`Rename “${item.name}” to:`, item.name);
  if (name === null || name.trim() === '' || name === item.name) return;
  const r = await call('PATCH', `/files/${item.id}`, { name });
  if (!r.ok) return fail(detail(r));
  notice(`Renamed to ${r.json.name}.`);
  await refresh();
}

async function remove(item) {
  const what = item.kind === 'folder' ? `the folder “${item.name}” and everything in it` : `“${item.name}”`;
  if (!confirm(`Delete ${what}? This cannot be undone.`)) return;
  const r = await call('DELETE', `/files/${item.id}`);
  if (!r.ok) return fail(detail(r));
  notice(`Deleted ${item.name}.`);
  await refresh();
}

async function createFolder(e) {
  e.preventDefault();
  const name = $('folder-name').value.trim();
  const r = await call('POST', '/folders', { name, parent_id: trail.at(-1).id });
  if (!r.ok) return fail(detail(r));
  $('folder-name').value = '';
  notice(`Created ${r.json.name}.`);
  await refresh();
}

async function changePassword(e) {
  e.preventDefault();
  const r = await call('POST', '/auth/password', {
    current_password: $('current-password').value,
    new_password: $('new-password').value,
  });
  if (!r.ok) return fail(detail(r));
  $('current-password').value = '';
  $('new-password').value = '';
  $('password-change').open = false;
  notice('Password changed.');
}

async function signOut() {
  await call('POST', '/auth/logout');
  signedOut();
  notice('Signed out.');
}

$('auth-form').addEventListener('submit', submitAuth);
$('auth-switch').addEventListener('click', () => setMode(!registering));
$('new-folder').addEventListener('submit', createFolder);
$('password-form').addEventListener('submit', changePassword);
$('signout').addEventListener('click', signOut);

// Signed in already (the cookie session), or not.
const who = await call('GET', '/auth/me');
if (who.ok) await signedIn(who.json);
else signedOut();
