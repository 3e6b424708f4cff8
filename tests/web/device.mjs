// Browser test of the device-login page (/device) in Debian's Chromium (see
// harness.mjs): a command-line client starts a device login through the API; the user
// opens the link it prints, signs in on the page (the cookie session), checks what asks
// and approves; the client's next poll gets its tokens. Screenshots go to $WEB_SHOTS.
//
// Usage: node device.mjs path/to/cofferd

import { check, withCoffer } from './harness.mjs';

await withCoffer('device page', async (h) => {
  const password = 'correct horse battery staple';
  await h.api('/api/v1/auth/register', { method: 'POST', body: { username: 'frida', password } });
  const started = await h.api('/api/v1/auth/device', {
    method: 'POST',
    body: { client_name: 'coffer CLI', host: 'login01.cluster' },
  });
  const page = await h.freshPage();
  await page.goto(started.verification_uri_complete);
  await page.locator('#signin-form').waitFor();
  await h.shot(page, 'device-sign-in.png');
  await page.fill('#signin-form input[name=username]', 'frida');
  await page.fill('#signin-form input[name=password]', password);
  await page.click('#signin-form button');
  await page.locator('#client').filter({ hasText: 'coffer CLI' }).waitFor();
  check((await page.locator('#host').textContent()) === 'login01.cluster', 'the host shown');
  check((await page.locator('#who').textContent()) === 'frida', 'who it signs in as');
  await h.shot(page, 'device-approve.png');
  await page.click('#approve');
  await page.locator('#message').filter({ hasText: 'Approved' }).waitFor();
  const res = await fetch(`${h.base}/api/v1/auth/device/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ device_code: started.device_code }),
  });
  check(res.status === 200, `the client's poll after approval answers ${res.status}`);
  const tokens = await res.json();
  const me = await h.api('/api/v1/auth/me', { token: tokens.access_token });
  check(me.username === 'frida', 'the client is signed in as frida');
});
