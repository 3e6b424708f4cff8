// Browser test of the web interface at `/` in Debian's Chromium (see harness.mjs):
// register and sign in (the cookie session), create a folder and open it, browse back
// by the breadcrumbs, download a file (bytes compared), rename and delete with the
// browser's dialogs, change the password, sign out and in again. Screenshots go to
// $WEB_SHOTS.
//
// Usage: node app.mjs path/to/cofferd

import { randomBytes } from 'node:crypto';
import { check, sha, withCoffer } from './harness.mjs';

await withCoffer('app', async (h) => {
  const password = 'correct horse battery staple';
  const page = await h.freshPage();
  await page.goto(`${h.base}/`);
  await page.locator('#auth-form').waitFor();
  await h.shot(page, 'app-sign-in.png');

  // Register (then signed in by cookie: no token reaches the page's script).
  await page.click('#auth-switch');
  await page.fill('#username', 'carol');
  await page.fill('#auth-password', password);
  await page.click('#auth-submit');
  await page.locator('#who').filter({ hasText: 'carol' }).waitFor();
  await page.locator('#empty').waitFor();
  check((await page.locator('#usage').textContent()).startsWith('0 bytes of '), 'usage against the quota');
  const cookies = await page.context().cookies();
  const access = cookies.find((c) => c.name === 'coffer_access');
  check(access?.httpOnly && access.sameSite === 'Strict', 'an HttpOnly, SameSite=Strict session cookie');
  check(!(await page.evaluate(() => document.cookie)).includes('coffer_'), 'no token in script reach');
  check((await page.evaluate(() => localStorage.length)) === 0, 'nothing in localStorage');

  // A folder, opened and left by the breadcrumbs.
  await page.fill('#folder-name', 'results <i>2026');
  await page.click('#new-folder button');
  const folderButton = page.getByRole('button', { name: 'results <i>2026/' });
  await folderButton.waitFor();
  check((await page.locator('#items i').count()) === 0, 'a name that is markup shows as text');
  await folderButton.click();
  await page.locator('#crumbs strong').filter({ hasText: 'results <i>2026' }).waitFor();
  await page.locator('#empty').waitFor();
  await h.shot(page, 'app-folder.png');
  await page.getByRole('button', { name: 'My files' }).click();
  await folderButton.waitFor();

  // A file (uploaded through the API for now), listed, downloaded, renamed, deleted.
  const token = await h.login('carol', password);
  const bytes = randomBytes(120_000);
  await h.upload(token, 'energy.h5', bytes);
  await page.reload();
  const fileRow = page.locator('#items tr', { hasText: 'energy.h5' });
  await fileRow.waitFor();
  check((await fileRow.locator('td').nth(1).textContent()) === '117.2 KiB', 'the size');
  check((await fileRow.locator('td').nth(4).textContent()) === 'active', 'the state');
  await page.locator('#usage').filter({ hasText: '117.2 KiB of ' }).waitFor();
  await h.shot(page, 'app-files.png');
  const got = await h.downloaded(page, () => fileRow.getByRole('button', { name: 'Download' }).click());
  check(sha(got.bytes) === sha(bytes), 'the downloaded bytes are the file');
  check(got.name === 'energy.h5', `the download's name (${got.name})`);

  page.once('dialog', (d) => d.accept('energy-final.h5'));
  await fileRow.getByRole('button', { name: 'Rename' }).click();
  const renamed = page.locator('#items tr', { hasText: 'energy-final.h5' });
  await renamed.waitFor();
  page.once('dialog', (d) => d.dismiss());
  await renamed.getByRole('button', { name: 'Delete' }).click();
  check((await renamed.count()) === 1, 'a dismissed confirmation deletes nothing');
  page.once('dialog', (d) => d.accept());
  await renamed.getByRole('button', { name: 'Delete' }).click();
  await page.locator('#notice').filter({ hasText: 'Deleted energy-final.h5.' }).waitFor();
  check((await page.locator('#items tr', { hasText: 'energy-final.h5' }).count()) === 0, 'deleted');
  const files = (await h.api('/api/v1/folders/root/items', { token })).items.map((i) => i.name);
  check(files.join('|') === 'results <i>2026', `what the API lists: ${files.join('|')}`);

  // The password, then sign out and in with the new one.
  const fresh = 'a different horse battery staple';
  await page.click('#password-change summary');
  await page.fill('#current-password', password);
  await page.fill('#new-password', fresh);
  await page.click('#password-form button');
  await page.locator('#notice').filter({ hasText: 'Password changed.' }).waitFor();
  await page.click('#signout');
  await page.locator('#auth-form').waitFor();
  check((await page.context().cookies()).every((c) => !c.name.startsWith('coffer_')), 'the cookies are gone');
  await page.fill('#username', 'carol');
  await page.fill('#auth-password', password);
  await page.click('#auth-submit');
  await page.locator('#error').filter({ hasText: 'wrong' }).waitFor();
  await page.fill('#auth-password', fresh);
  await page.click('#auth-submit');
  await folderButton.waitFor();
  await h.shot(page, 'app-signed-in-again.png');
});
