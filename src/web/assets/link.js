// The public page of a share link (/s/{token}): what the link holds, its password when
// it has one, and downloads through the link's JSON API on the same path. Names are
// always set as text, never as markup.

import { $, bytes, crumbs, show } from './common.js';

const token = location.pathname.split('/')[2] ?? '';
const base = `/s/${token}`;

let password = null;
// The folders opened below the link's own: [{id, name}], the link's folder first.
let trail = [];
let info = null;

function fail(message) {
  $('error').textContent = message;
  show('error', Boolean(message));
}

async function call(path, { method = 'GET', body, headers = {} } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers }, credentials: 'omit', cache: 'no-store' };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(base + path, init);
  let json = null;
  try {
    json = await res.json();
  } catch {
    // No body (or not JSON): the status says enough.
  }
  return { res, json };
}

function why(res, json) {
  if (res.status === 429) return 'Too many attempts. Wait a minute and try again.';
  return json?.detail ?? `The server answered ${res.status}.`;
}

function gone() {
  document.title = 'Coffer · link not available';
  $('name').textContent = 'This link is not available';
  $('meta').textContent = 'It may have expired, been revoked or reached its download limit.';
  for (const id of ['unlock', 'file', 'folder', 'error']) show(id, false);
}

function describe() {
  const parts = [];
  if (info.kind === 'file') parts.push(bytes(info.size));
  if (info.downloads_remaining != null) {
    parts.push(`${info.downloads_remaining} download${info.downloads_remaining === 1 ? '' : 's'} left`);
  }
  if (info.expires_at) parts.push(`available until ${new Date(info.expires_at).toLocaleString()}`);
  $('meta').textContent = parts.join(' · ');
}

async function load(cursor) {
  const q = new URLSearchParams();
  const here = trail.at(-1);
  if (here && trail.length > 1) q.set('folder_id', here.id);
  if (cursor) q.set('cursor', cursor);
  const headers = password ? { 'X-Link-Password': password } : {};
  const query = q.toString();
  const { res, json } = await call(query ? `?${query}` : '', { headers });
  if (res.status === 404 && trail.length <= 1) return gone();
  if (res.status === 401) {
    password = null;
    show('unlock');
    return fail(why(res, json));
  }
  if (!res.ok) return fail(why(res, json));
  fail('');
  info = json;
  document.title = `Coffer · ${info.name}`;
  $('name').textContent = info.name;
  describe();
  const locked = info.password_required && !password;
  show('unlock', locked);
  if (info.kind === 'file') {
    show('file', !locked);
    return;
  }
  if (locked) return;
  if (!trail.length) trail = [{ id: null, name: info.name }];
  show('folder');
  crumbs($('crumbs'), trail, (i) => {
    trail = trail.slice(0, i + 1);
    load();
  });
  renderItems(info.items ?? [], Boolean(cursor));
  const more = $('more');
  more.hidden = !info.next_cursor;
  more.onclick = () => load(info.next_cursor);
}

function renderItems(items, append) {
  const body = $('items');
  if (!append) body.replaceChildren();
  for (const item of items) {
    const row = document.createElement('tr');
    const name = document.createElement('td');
    const size = document.createElement('td');
    const action = document.createElement('td');
    size.className = 'num';
    if (item.kind === 'folder') {
      const open = document.createElement('button');
      open.type = 'button';
      open.className = 'link';
      open.textContent = `${item.name}/`;
      open.onclick = () => {
        trail.push({ id: item.id, name: item.name });
        load();
      };
      name.append(open);
    } else {
      name.textContent = item.name;
      size.textContent = bytes(item.size);
      if (item.state === 'active') {
        const get = document.createElement('button');
        get.type = 'button';
        get.textContent = 'Download';
        get.onclick = () => download(item.id, get);
        action.append(get);
      } else {
        action.textContent = 'uploading';
      }
    }
    row.append(name, size, action);
    body.append(row);
  }
}

async function download(fileId, button) {
  button.disabled = true;
  try {
    const body = { no_redirect: true };
    if (password) body.password = password;
    if (fileId) body.file_id = fileId;
    const { res, json } = await call('/download', { method: 'POST', body });
    if (res.status === 404 && !fileId) return gone();
    if (res.status === 401) {
      password = null;
      show('file', false);
      show('unlock');
      return fail(why(res, json));
    }
    if (!res.ok) return fail(why(res, json));
    fail('');
    // A presigned GET of the store, answered as an attachment: the page stays.
    location.assign(json.url);
    if (info.downloads_remaining != null) {
      info.downloads_remaining = Math.max(0, info.downloads_remaining - 1);
      describe();
    }
  } finally {
    button.disabled = false;
  }
}

async function zip() {
  const button = $('zip');
  const state = $('zip-state');
  button.disabled = true;
  try {
    const { res, json } = await call('/archives', { method: 'POST', body: password ? { password } : {} });
    if (!res.ok) return fail(why(res, json));
    fail('');
    for (;;) {
      const { res: r, json: task } = await call(`/archives/${json.task_id}`);
      if (!r.ok) return fail(why(r, task));
      if (task.state === 'done') {
        state.textContent = `Ready: ${bytes(task.download.size)}.`;
        location.assign(task.download.url);
        return;
      }
      if (task.state === 'failed' || task.state === 'expired') {
        state.textContent = '';
        return fail(task.error ?? 'The archive could not be made.');
      }
      const p = task.progress;
      state.textContent = p.files_total
        ? `Preparing the zip: ${p.files_done} of ${p.files_total} files…`
        : 'Preparing the zip…';
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  } finally {
    button.disabled = false;
  }
}

$('unlock').addEventListener('submit', (e) => {
  e.preventDefault();
  password = $('password').value;
  if (info?.kind === 'file') {
    // A file link's password is checked when it is redeemed.
    show('unlock', false);
    show('file');
    return;
  }
  load();
});
$('download').addEventListener('click', () => download(null, $('download')));
$('zip').addEventListener('click', zip);
load();
