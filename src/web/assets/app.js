// Coffer's web interface: sign in (the API's cookie session: HttpOnly cookies, no token
// in script reach), the file browser, folders, uploads with progress, downloads, zips
// of a selection, moves, renames, deletes, sharing with people and by link, what is
// shared with me, usage, the password, and for admins statistics, users (search, role,
// disable, quota, delete), the run-time settings and the audit log with filters. Every
// change carries X-Coffer-CSRF; every name is set as text.

import { $, bytes, crumbs, show } from './common.js';

const api = '/api/v1';
const PAGE = 100;

let me = null;
// The folders from the root to the one shown: [{id, name}], the root's id null.
let trail = [{ id: null, name: 'My files' }];
let registering = false;

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
  for (const id of ['views', 'files', 'shared', 'admin']) show(id, false);
  show('auth');
  if (message) fail(message);
  offerRegistration();
}

// "Create an account" only while self-registration is open.
async function offerRegistration() {
  const r = await call('GET', '/auth/options');
  const open = r.ok && r.json.registration_open;
  show('auth-switch', open);
  if (!open && registering) setMode(false);
}

async function signedIn(user) {
  me = user;
  $('who').textContent = user.username;
  show('account');
  show('auth', false);
  show('views');
  show('view-admin', user.role === 'admin');
  trail = [{ id: null, name: 'My files' }];
  await view('files');
}

// The three views: my files, what others shared with me, and (admins) the users.
async function view(which) {
  for (const v of ['files', 'shared', 'admin']) {
    show(v, v === which);
    $(`view-${v}`).classList.toggle('current', v === which);
  }
  if (which === 'files') await refresh();
  if (which === 'shared') await sharedWithMe();
  if (which === 'admin') await admin();
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

function button(label, onclick, className) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  if (className) b.className = className;
  b.onclick = onclick;
  return b;
}

// The items selected for a zip, by id.
const selected = new Set();

function updateSelection() {
  $('zip').disabled = selected.size === 0;
  const boxes = [...document.querySelectorAll('#items input[type=checkbox]')];
  $('select-all').checked = boxes.length > 0 && boxes.every((b) => b.checked);
}

function row(item) {
  const tr = document.createElement('tr');
  const cells = Array.from({ length: 7 }, () => document.createElement('td'));
  const [pick, name, size, type, modified, state, actions] = cells;
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.setAttribute('aria-label', `Select ${item.name}`);
  box.checked = selected.has(item.id);
  box.onchange = () => {
    if (box.checked) selected.add(item.id);
    else selected.delete(item.id);
    updateSelection();
  };
  pick.append(box);
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
  if (item.kind === 'file' && item.state === 'active') actions.append(button('Copy', () => copy(item)));
  actions.append(
    button('Share', () => share(item)),
    button('Move', () => move(item)),
    button('Rename', () => rename(item)),
    button('Delete', () => remove(item), 'danger'),
  );
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
  if (!cursor) {
    body.replaceChildren();
    selected.clear();
  }
  for (const item of r.json.items) body.append(row(item));
  show('empty', !cursor && r.json.items.length === 0);
  const more = $('more');
  more.hidden = !r.json.next_cursor;
  more.onclick = () => list(r.json.next_cursor);
  updateSelection();
}

async function refresh() {
  crumbs($('crumbs'), trail, (i) => {
    trail = trail.slice(0, i + 1);
    refresh();
  });
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
  // It goes to the trash, unless the admins set no retention: no promise either way.
  if (!confirm(`Delete ${what}?`)) return;
  const r = await call('DELETE', `/files/${item.id}`);
  if (!r.ok) return fail(detail(r));
  // The list first: when the notice shows, the item is gone from it.
  await refresh();
  notice(`Deleted ${item.name}.`);
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

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The selected items as one zip: the worker builds it; its progress is shown until the
// download starts.
async function zip() {
  const state = $('zip-state');
  $('zip').disabled = true;
  try {
    const here = trail.at(-1);
    const name = `${here.id ? here.name : 'files'}.zip`;
    const r = await call('POST', '/archives', { ids: [...selected], name });
    if (!r.ok) return fail(detail(r));
    for (;;) {
      const t = await call('GET', `/tasks/${r.json.task_id}`);
      if (!t.ok) return fail(detail(t));
      if (t.json.state === 'done') {
        state.textContent = `Ready: ${bytes(t.json.download.size)}.`;
        location.assign(t.json.download.url);
        return;
      }
      if (t.json.state === 'failed' || t.json.state === 'expired') {
        state.textContent = '';
        return fail(t.json.error ?? 'The zip could not be made.');
      }
      const p = t.json.progress;
      state.textContent = p.files_total ? `Preparing the zip: ${p.files_done} of ${p.files_total} files…` : 'Preparing the zip…';
      await sleep(1000);
    }
  } finally {
    updateSelection();
  }
}

// Moving and copying: a folder picker from the root, one level at a time.
let moving = null;
let copying = false;
let moveTrail = [];

async function pickFolder(item, copy) {
  moving = item;
  copying = copy;
  moveTrail = [{ id: null, name: 'My files' }];
  $('move-title').textContent = `${copy ? 'Copy' : 'Move'} “${item.name}”`;
  $('move-here').textContent = copy ? 'Copy here' : 'Move here';
  $('move-dialog').showModal();
  await moveList();
}

const move = (item) => pickFolder(item, false);
const copy = (item) => pickFolder(item, true);

async function moveList() {
  const nav = $('move-crumbs');
  nav.replaceChildren();
  moveTrail.forEach((f, i) => {
    if (i > 0) nav.append(' / ');
    nav.append(i === moveTrail.length - 1 ? f.name : button(f.name, () => {
      moveTrail = moveTrail.slice(0, i + 1);
      moveList();
    }, 'link'));
  });
  const here = moveTrail.at(-1);
  const r = await call('GET', `/folders/${here.id ?? 'root'}/items?limit=1000`);
  const ul = $('move-folders');
  ul.replaceChildren();
  if (!r.ok) return fail(detail(r));
  for (const f of r.json.items.filter((i) => i.kind === 'folder' && i.id !== moving.id)) {
    const li = document.createElement('li');
    li.append(button(`${f.name}/`, () => {
      moveTrail.push({ id: f.id, name: f.name });
      moveList();
    }, 'link'));
    ul.append(li);
  }
}

async function moveHere() {
  const target = moveTrail.at(-1);
  $('move-dialog').close();
  if (copying) {
    // A copy beside its original needs another name.
    const body = { parent_id: target.id };
    if (target.id === (moving.parent_id ?? null)) body.name = `Copy of ${moving.name}`;
    const r = await call('POST', `/files/${moving.id}/copy`, body);
    if (!r.ok) return fail(detail(r));
    notice(`Copied ${moving.name} to ${target.name} as ${r.json.name}.`);
  } else {
    const r = await call('PATCH', `/files/${moving.id}`, { parent_id: target.id });
    if (!r.ok) return fail(detail(r));
    notice(`Moved ${moving.name} to ${target.name}.`);
  }
  await refresh();
}

// Sharing: people (read or write) and links (password, expiry, download limit).
let sharing = null;

function shareFail(text) {
  say('share-error', text);
}

async function share(item) {
  sharing = item;
  $('share-title').textContent = `Share “${item.name}”`;
  show('link-made', false);
  shareFail('');
  $('share-dialog').showModal();
  await Promise.all([sharesList(), linksList()]);
}

async function sharesList() {
  const r = await call('GET', `/files/${sharing.id}/shares`);
  const body = $('shares');
  body.replaceChildren();
  if (!r.ok) return shareFail(detail(r));
  for (const sh of r.json.items) {
    const tr = document.createElement('tr');
    const who = document.createElement('td');
    const what = document.createElement('td');
    const act = document.createElement('td');
    who.textContent = sh.username;
    what.textContent = sh.inherited ? `${sh.permission} (from a folder above)` : sh.permission;
    if (!sh.inherited) {
      act.append(button('Remove', async () => {
        const d = await call('DELETE', `/files/${sharing.id}/shares/${encodeURIComponent(sh.username)}`);
        if (!d.ok) return shareFail(detail(d));
        await sharesList();
      }, 'danger'));
    }
    tr.append(who, what, act);
    body.append(tr);
  }
}

async function linksList() {
  const r = await call('GET', `/files/${sharing.id}/links`);
  const body = $('links');
  body.replaceChildren();
  if (!r.ok) return shareFail(detail(r));
  for (const l of r.json.items) {
    const tr = document.createElement('tr');
    const what = document.createElement('td');
    const count = document.createElement('td');
    const act = document.createElement('td');
    const parts = [l.state];
    if (l.password_protected) parts.push('password');
    if (l.expires_at) parts.push(`until ${new Date(l.expires_at).toLocaleString()}`);
    what.textContent = parts.join(' · ');
    count.textContent = `${l.download_count}${l.max_downloads != null ? ` of ${l.max_downloads}` : ''} downloads`;
    if (l.state === 'active') {
      act.append(button('Revoke', async () => {
        const d = await call('DELETE', `/files/${sharing.id}/links/${l.id}`);
        if (!d.ok) return shareFail(detail(d));
        await linksList();
      }, 'danger'));
    }
    tr.append(what, count, act);
    body.append(tr);
  }
}

async function shareWith(e) {
  e.preventDefault();
  const r = await call('POST', `/files/${sharing.id}/shares`, {
    username: $('share-user').value.trim(),
    permission: $('share-permission').value,
  });
  if (!r.ok) return shareFail(detail(r));
  shareFail('');
  $('share-user').value = '';
  await sharesList();
}

async function createLink(e) {
  e.preventDefault();
  const body = {};
  if ($('link-password').value) body.password = $('link-password').value;
  if ($('link-expires').value) body.expires_at = new Date($('link-expires').value).toISOString();
  if ($('link-max').value) body.max_downloads = Number($('link-max').value);
  const r = await call('POST', `/files/${sharing.id}/links`, body);
  if (!r.ok) return shareFail(detail(r));
  shareFail('');
  for (const id of ['link-password', 'link-expires', 'link-max']) $(id).value = '';
  $('link-url').value = r.json.url;
  show('link-made');
  await linksList();
}

async function copyLink() {
  const input = $('link-url');
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
    $('link-copy').textContent = 'Copied';
  } catch {
    // No clipboard access (e.g. not a secure context): the link is selected to copy.
    $('link-copy').textContent = 'Selected: copy it';
  }
}

async function sharedWithMe() {
  const r = await call('GET', '/shared-with-me?limit=1000');
  const body = $('shared-items');
  body.replaceChildren();
  if (!r.ok) return fail(detail(r));
  for (const it of r.json.items) {
    const tr = document.createElement('tr');
    const cells = Array.from({ length: 5 }, () => document.createElement('td'));
    const [name, owner, perm, size, act] = cells;
    size.className = 'num';
    if (it.file.kind === 'folder') {
      name.append(button(`${it.file.name}/`, () => {
        trail = [{ id: null, name: 'My files' }, { id: it.file.id, name: it.file.name }];
        view('files');
      }, 'link'));
    } else {
      name.textContent = it.file.name;
      size.textContent = bytes(it.file.size);
      if (it.file.state === 'active') act.append(button('Download', () => download(it.file)));
    }
    owner.textContent = it.owner;
    perm.textContent = it.permission;
    tr.append(...cells);
    body.append(tr);
  }
  show('shared-empty', r.json.items.length === 0);
}

async function admin() {
  await Promise.all([stats(), users(), settings(), audit()]);
}

async function stats() {
  const r = await call('GET', '/admin/stats?top=5');
  if (!r.ok) return fail(detail(r));
  const st = r.json;
  $('stats').textContent = `${st.users} users (${st.disabled_users} disabled) · ${bytes(st.used_bytes)} in ${st.used_objects} files · ${st.open_uploads} uploads open (${bytes(st.reserved_bytes)} reserved)`;
  const body = $('top-users');
  body.replaceChildren();
  for (const u of st.top_users) {
    const tr = document.createElement('tr');
    const cells = Array.from({ length: 3 }, () => document.createElement('td'));
    cells[0].textContent = u.username;
    cells[1].textContent = bytes(u.used_bytes);
    cells[2].textContent = bytes(u.quota_bytes);
    cells[1].className = 'num';
    cells[2].className = 'num';
    tr.append(...cells);
    body.append(tr);
  }
}

async function users() {
  const q = new URLSearchParams({ limit: '1000' });
  if ($('user-q').value.trim()) q.set('q', $('user-q').value.trim());
  const r = await call('GET', `/admin/users?${q}`);
  const body = $('users');
  body.replaceChildren();
  if (!r.ok) return fail(detail(r));
  for (const u of r.json.items) {
    const tr = document.createElement('tr');
    const cells = Array.from({ length: 6 }, () => document.createElement('td'));
    const [name, role, off, used, quota, act] = cells;
    name.textContent = u.username;
    const roleSelect = document.createElement('select');
    roleSelect.setAttribute('aria-label', `Role of ${u.username}`);
    for (const value of ['user', 'admin']) {
      const o = document.createElement('option');
      o.value = value;
      o.textContent = value;
      o.selected = u.role === value;
      roleSelect.append(o);
    }
    role.append(roleSelect);
    const disabled = document.createElement('input');
    disabled.type = 'checkbox';
    disabled.checked = u.disabled;
    disabled.setAttribute('aria-label', `${u.username} disabled`);
    off.append(disabled);
    used.className = 'num';
    used.textContent = `${bytes(u.used_bytes)} · ${u.used_objects} files`;
    const input = document.createElement('input');
    input.type = 'number';
    input.min = '0';
    input.className = 'quota';
    input.value = String(u.quota_bytes);
    input.setAttribute('aria-label', `Quota of ${u.username} in bytes`);
    quota.append(input, ` (${bytes(u.quota_bytes)})`);
    act.className = 'actions';
    act.append(
      button('Save', async () => {
        const change = { quota_bytes: Number(input.value) };
        if (roleSelect.value !== u.role) change.role = roleSelect.value;
        if (disabled.checked !== u.disabled) change.disabled = disabled.checked;
        const p = await call('PATCH', `/admin/users/${u.id}`, change);
        if (!p.ok) return fail(detail(p));
        notice(`Saved ${u.username}: quota ${bytes(p.json.quota_bytes)}, ${p.json.role}${p.json.disabled ? ', disabled' : ''}.`);
        await Promise.all([users(), stats()]);
      }),
      button('Delete', async () => {
        if (!confirm(`Delete the account ${u.username} and all their files? This cannot be undone.`)) return;
        const d = await call('DELETE', `/admin/users/${u.id}`);
        if (!d.ok) return fail(detail(d));
        notice(`Deleted ${u.username}; their files are being purged.`);
        await Promise.all([users(), stats()]);
      }, 'danger'),
    );
    tr.append(...cells);
    body.append(tr);
  }
}

// The run-time settings, a field per setting as the server lists them.
let current = {};

async function settings() {
  const r = await call('GET', '/admin/settings');
  if (!r.ok) return fail(detail(r));
  current = r.json;
  const box = $('settings');
  box.replaceChildren();
  for (const [key, value] of Object.entries(current)) {
    const label = document.createElement('label');
    const input = document.createElement('input');
    input.id = `setting-${key}`;
    input.dataset.key = key;
    if (typeof value === 'boolean') {
      input.type = 'checkbox';
      input.checked = value;
      label.className = 'check';
      label.append(input, ` ${key.replaceAll('_', ' ')}`);
    } else {
      input.type = typeof value === 'number' ? 'number' : 'text';
      input.value = Array.isArray(value) ? value.join(', ') : String(value);
      label.append(`${key.replaceAll('_', ' ')}${Array.isArray(value) ? ' (comma-separated)' : ''} `, input);
    }
    box.append(label);
  }
}

async function saveSettings(e) {
  e.preventDefault();
  const change = {};
  for (const input of document.querySelectorAll('#settings input')) {
    const key = input.dataset.key;
    const old = current[key];
    let value;
    if (typeof old === 'boolean') value = input.checked;
    else if (typeof old === 'number') value = Number(input.value);
    else if (Array.isArray(old)) value = input.value.split(',').map((v) => v.trim()).filter(Boolean);
    else value = input.value;
    if (JSON.stringify(value) !== JSON.stringify(old)) change[key] = value;
  }
  if (!Object.keys(change).length) return notice('No setting changed.');
  const r = await call('PATCH', '/admin/settings', change);
  if (!r.ok) return fail(detail(r));
  notice(`Saved: ${Object.keys(change).join(', ')}.`);
  await settings();
}

async function audit(cursor) {
  const q = new URLSearchParams({ limit: '50' });
  for (const [key, id] of [['action', 'audit-action'], ['outcome', 'audit-outcome'], ['target', 'audit-target']]) {
    if ($(id).value.trim()) q.set(key, $(id).value.trim());
  }
  if (cursor) q.set('cursor', cursor);
  const r = await call('GET', `/admin/audit?${q}`);
  if (!r.ok) return fail(detail(r));
  const body = $('audit');
  if (!cursor) body.replaceChildren();
  for (const ev of r.json.items) {
    const tr = document.createElement('tr');
    const cells = Array.from({ length: 6 }, () => document.createElement('td'));
    cells[0].textContent = new Date(ev.at).toLocaleString();
    cells[1].textContent = ev.actor_name ?? '';
    cells[2].textContent = ev.action;
    cells[3].textContent = ev.target ?? '';
    cells[4].textContent = ev.outcome;
    cells[5].textContent = ev.ip ?? '';
    tr.append(...cells);
    body.append(tr);
  }
  const more = $('audit-more');
  more.hidden = !r.json.next_cursor;
  more.onclick = () => audit(r.json.next_cursor);
}

// Uploads: straight to the store through presigned URLs (the API never sees the bytes),
// three files at a time; above the server's threshold in parts, four at a time, each
// part retried with a fresh URL; cancel aborts the upload and frees its reservation.
const FILES_AT_ONCE = 3;
const PARTS_AT_ONCE = 4;
const PART_TRIES = 3;
let transfers = [];

function updateTotal() {
  // Cancelled and failed files leave the total.
  const counted = transfers.filter((t) => t.state !== 'cancelled' && t.state !== 'failed');
  const size = counted.reduce((n, t) => n + t.file.size, 0);
  const sent = counted.reduce((n, t) => n + t.sent(), 0);
  $('total-bar').max = Math.max(size, 1);
  $('total-bar').value = sent;
  const done = transfers.filter((t) => t.state !== 'sending' && t.state !== 'waiting').length;
  $('total-text').textContent = `${size ? Math.floor((sent / size) * 100) : 100}% · ${done} of ${transfers.length} files done`;
}

function transferRow(t) {
  const tr = document.createElement('tr');
  const name = document.createElement('td');
  const bar = document.createElement('progress');
  const state = document.createElement('td');
  const cancel = button('Cancel', () => t.cancel());
  name.textContent = t.file.name;
  bar.max = Math.max(t.file.size, 1);
  const barCell = document.createElement('td');
  barCell.append(bar);
  const action = document.createElement('td');
  action.append(cancel);
  tr.append(name, barCell, state, action);
  t.show = () => {
    bar.value = t.file.size ? t.sent() : t.state === 'done' ? 1 : 0;
    state.textContent = t.state === 'sending' ? `${Math.floor((t.sent() / Math.max(t.file.size, 1)) * 100)}%` : t.state;
    if (t.error) state.textContent = `failed: ${t.error}`;
    cancel.hidden = t.state !== 'sending' && t.state !== 'waiting';
    updateTotal();
  };
  return tr;
}

// One PUT with upload progress; resolves when the store answered 2xx.
function put(t, key, url, headers, body) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    t.xhrs.add(xhr);
    xhr.open('PUT', url);
    for (const [k, v] of Object.entries(headers ?? {})) {
      // The browser sets Content-Length itself (and refuses to be told).
      if (k.toLowerCase() !== 'content-length') xhr.setRequestHeader(k, v);
    }
    xhr.upload.onprogress = (e) => {
      t.progress.set(key, e.loaded);
      t.show();
    };
    const end = (ok, why) => {
      t.xhrs.delete(xhr);
      if (ok) {
        t.progress.set(key, body.size);
        t.show();
        resolve();
      } else {
        t.progress.set(key, 0);
        reject(new Error(why));
      }
    };
    xhr.onload = () => end(xhr.status >= 200 && xhr.status < 300, `the store answered ${xhr.status}`);
    xhr.onerror = () => end(false, 'the store could not be reached');
    xhr.onabort = () => end(false, 'cancelled');
    xhr.send(body);
  });
}

async function inParallel(items, limit, work) {
  const queue = [...items];
  const workers = Array.from({ length: Math.min(limit, queue.length) }, async () => {
    while (queue.length) await work(queue.shift());
  });
  await Promise.all(workers);
}

async function sendParts(t, start) {
  const numbers = Array.from({ length: start.part_count }, (_, i) => i + 1);
  const urls = async (wanted) => {
    const r = await call('POST', `/uploads/${t.uploadId}/parts`, { part_numbers: wanted });
    if (!r.ok) throw new Error(detail(r));
    return r.json.parts;
  };
  const batches = [];
  for (let i = 0; i < numbers.length; i += 100) batches.push(numbers.slice(i, i + 100));
  for (const batch of batches) {
    const parts = await urls(batch);
    await inParallel(parts, PARTS_AT_ONCE, async (part) => {
      const from = (part.part_number - 1) * start.part_size;
      const slice = t.file.slice(from, from + part.size);
      for (let attempt = 1; ; attempt += 1) {
        if (t.state !== 'sending') throw new Error('cancelled');
        try {
          const fresh = attempt === 1 ? part : (await urls([part.part_number]))[0];
          await put(t, part.part_number, fresh.url, fresh.headers, slice);
          return;
        } catch (e) {
          if (attempt >= PART_TRIES || t.state !== 'sending') throw e;
        }
      }
    });
  }
}

async function sendFile(t) {
  if (t.state !== 'waiting') return;
  t.state = 'sending';
  t.show();
  try {
    const body = { name: t.file.name, size: t.file.size, parent_id: t.parent };
    if (t.file.type) body.content_type = t.file.type;
    const r = await call('POST', '/uploads', body);
    if (!r.ok) throw new Error(detail(r));
    t.uploadId = r.json.upload_id;
    if (t.state !== 'sending') {
      // Cancelled while it was being started.
      await call('POST', `/uploads/${t.uploadId}/abort`);
      return;
    }
    if (r.json.put) await put(t, 0, r.json.put.url, r.json.put.headers, t.file);
    else await sendParts(t, r.json);
    const done = await call('POST', `/uploads/${t.uploadId}/complete`);
    if (!done.ok) throw new Error(detail(done));
    t.state = 'done';
  } catch (e) {
    if (t.state === 'sending') {
      t.state = 'failed';
      t.error = e.message;
      // Nothing half-made is kept: the reservation goes back.
      if (t.uploadId) await call('POST', `/uploads/${t.uploadId}/abort`);
    }
  }
  t.show();
}

async function upload(files) {
  const parent = trail.at(-1).id;
  const added = [...files].map((file) => {
    const t = { file, parent, state: 'waiting', progress: new Map(), xhrs: new Set(), uploadId: null, error: null };
    t.sent = () => [...t.progress.values()].reduce((a, b) => a + b, 0);
    t.cancel = async () => {
      const was = t.state;
      t.state = 'cancelled';
      for (const xhr of t.xhrs) xhr.abort();
      if (was === 'sending' && t.uploadId) await call('POST', `/uploads/${t.uploadId}/abort`);
      t.show();
      await usage();
    };
    return t;
  });
  if (transfers.every((t) => t.state !== 'sending' && t.state !== 'waiting')) {
    transfers = [];
    $('transfer-rows').replaceChildren();
  }
  transfers.push(...added);
  for (const t of added) $('transfer-rows').append(transferRow(t));
  show('transfers');
  for (const t of added) t.show();
  await inParallel(added, FILES_AT_ONCE, sendFile);
  const failed = added.filter((t) => t.state === 'failed').length;
  if (failed) fail(`${failed} of ${added.length} uploads failed.`);
  else if (added.some((t) => t.state === 'done')) notice(`Uploaded ${added.filter((t) => t.state === 'done').length} files.`);
  await refresh();
}

$('pick').addEventListener('change', (e) => {
  const files = [...e.target.files];
  e.target.value = '';
  if (files.length) upload(files);
});
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const files = [...(e.dataTransfer?.files ?? [])];
  if (files.length) upload(files);
});

$('view-files').addEventListener('click', () => {
  trail = [{ id: null, name: 'My files' }];
  view('files');
});
$('view-shared').addEventListener('click', () => view('shared'));
$('view-admin').addEventListener('click', () => view('admin'));
$('user-search').addEventListener('submit', (e) => {
  e.preventDefault();
  users();
});
$('settings-form').addEventListener('submit', saveSettings);
$('audit-filter').addEventListener('submit', (e) => {
  e.preventDefault();
  audit();
});
$('zip').addEventListener('click', zip);
$('select-all').addEventListener('change', (e) => {
  for (const box of document.querySelectorAll('#items input[type=checkbox]')) {
    if (box.checked !== e.target.checked) {
      box.checked = e.target.checked;
      box.onchange();
    }
  }
});
$('move-here').addEventListener('click', moveHere);
$('move-cancel').addEventListener('click', () => $('move-dialog').close());
$('share-form').addEventListener('submit', shareWith);
$('link-form').addEventListener('submit', createLink);
$('link-copy').addEventListener('click', copyLink);
$('share-close').addEventListener('click', () => {
  $('share-dialog').close();
  refresh();
});
$('auth-form').addEventListener('submit', submitAuth);
$('auth-switch').addEventListener('click', () => setMode(!registering));
$('new-folder').addEventListener('submit', createFolder);
$('password-form').addEventListener('submit', changePassword);
$('signout').addEventListener('click', signOut);

// Signed in already (the cookie session), or not.
const who = await call('GET', '/auth/me');
if (who.ok) await signedIn(who.json);
else signedOut();
