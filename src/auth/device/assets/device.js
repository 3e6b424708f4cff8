// The /device page: sign in (cookie session), enter the device's code, look at what
// asks, approve or deny. Every name is set with textContent, never as markup.
const api = '/api/v1';
const $ = (id) => document.getElementById(id);

function show(section) {
  for (const id of ['signin', 'enter', 'details']) $(id).hidden = id !== section;
}

function say(text) {
  $('message').textContent = text;
}

async function call(method, path, body) {
  // The custom header marks the request as this page's (the API refuses a change
  // authenticated by cookie without it).
  const init = { method, credentials: 'same-origin', headers: { 'x-coffer-csrf': '1' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(api + path, init);
  const json = await res.json().catch(() => ({}));
  return { status: res.status, json };
}

async function signedIn() {
  let me = await call('GET', '/auth/me');
  if (me.status === 401) {
    // The access cookie may have expired while the refresh cookie lives on.
    const renewed = await call('POST', '/auth/refresh', { cookie: true });
    if (renewed.status === 200) me = await call('GET', '/auth/me');
  }
  return me.status === 200 ? me.json : null;
}

let code = '';
let user = null;

async function lookUp(typed) {
  code = typed.trim().toUpperCase();
  say('');
  const res = await call('GET', `/auth/device/${encodeURIComponent(code)}`);
  if (res.status !== 200) {
    say(res.status === 429 ? 'Too many codes tried; wait a minute.' : 'No such code, or it expired.');
    show('enter');
    return;
  }
  const r = res.json;
  $('who').textContent = user.username;
  $('client').textContent = r.client_name;
  $('host').textContent = r.client_host;
  $('ip').textContent = r.client_ip ?? 'unknown';
  $('when').textContent = new Date(r.requested_at).toLocaleString();
  show('details');
  if (r.state !== 'pending') say(`This request was already ${r.state}.`);
}

async function decide(verb) {
  const res = await call('POST', `/auth/device/${encodeURIComponent(code)}/${verb}`, {});
  if (res.status === 200) {
    say(verb === 'approve' ? 'Approved: return to your terminal.' : 'Denied: the device was refused.');
    $('approve').disabled = true;
    $('deny').disabled = true;
  } else {
    say(res.json.detail ?? `Refused (${res.status}).`);
  }
}

async function start() {
  const fromLink = new URLSearchParams(location.search).get('code') ?? '';
  $('code').value = fromLink;
  user = await signedIn();
  if (!user) {
    show('signin');
    return;
  }
  if (fromLink) await lookUp(fromLink);
  else show('enter');
}

$('signin-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  const res = await call('POST', '/auth/login', {
    username: form.get('username'),
    password: form.get('password'),
    cookie: true,
  });
  if (res.status !== 200) {
    say(res.json.detail ?? 'Sign-in failed.');
    return;
  }
  e.target.reset();
  await start();
});

$('code-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  await lookUp($('code').value);
});

$('approve').addEventListener('click', () => decide('approve'));
$('deny').addEventListener('click', () => decide('deny'));

start();
