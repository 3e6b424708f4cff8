// Browser test of the public link page (/s/{token}) in Debian's Chromium, driven by
// playwright-core (which never downloads a browser). Starts the given cofferd on its
// embedded defaults in a scratch directory, prepares files and links through the API,
// then does in the browser what a recipient does: opens a password link, gets the
// password wrong and then right, downloads (bytes compared); browses a folder link,
// downloads a file inside and everything as a zip; sees the "not available" page once a
// link is revoked. Fails on any script error, any CSP violation, any console error
// other than the HTTP statuses the page expects (see harness.mjs). Screenshots go to
// $WEB_SHOTS.
//
// Usage: node link.mjs path/to/cofferd

import { randomBytes } from 'node:crypto';
import { check, sha, withCoffer } from './harness.mjs';

await withCoffer('link page', async (h) => {
  const password = 'correct horse battery staple';
  await h.api('/api/v1/auth/register', { method: 'POST', body: { username: 'alice', password } });
  const token = await h.login('alice', password);

  // A file whose name is markup (it must show as text), behind a password.
  const fileName = '<img src=x onerror=alert(1)> results.bin';
  const fileBytes = randomBytes(300_000);
  const fileId = await h.upload(token, fileName, fileBytes);
  const fileLink = await h.api(`/api/v1/files/${fileId}/links`, {
    method: 'POST',
    token,
    body: { password: 'open sesame 42', max_downloads: 5 },
  });
  // A folder with a subfolder, behind no password.
  const folder = await h.api('/api/v1/folders', { method: 'POST', token, body: { name: 'job 4242' } });
  const sub = await h.api('/api/v1/folders', { method: 'POST', token, body: { name: 'profiles', parent_id: folder.id } });
  const csv = Buffer.from('node,energy_j\nc0107,1234\n');
  const h5 = randomBytes(50_000);
  await h.upload(token, 'summary.csv', csv, folder.id);
  await h.upload(token, '4242_batch_c0107.h5', h5, sub.id);
  const folderLink = await h.api(`/api/v1/files/${folder.id}/links`, { method: 'POST', token, body: {} });

  // The password link, in a fresh context.
  let page = await h.freshPage();
  const res = await page.goto(fileLink.url);
  check(res.status() === 200, `link page status ${res.status()}`);
  await page.locator('#unlock').waitFor();
  check((await page.locator('h1').textContent()) === fileName, 'the name shown as text');
  check((await page.locator('img').count()) === 0, 'no markup from the name');
  check((await page.locator('#meta').textContent()).includes('5 downloads left'), 'downloads left shown');
  await h.shot(page, 'link-password.png');
  await page.fill('#password', 'wrong password 1');
  await page.click('#unlock button');
  await page.click('#download');
  await page.locator('#error').filter({ hasText: 'The password is wrong.' }).waitFor();
  await h.shot(page, 'link-wrong-password.png');
  await page.fill('#password', 'open sesame 42');
  await page.click('#unlock button');
  const got = await h.downloaded(page, () => page.click('#download'));
  check(sha(got.bytes) === sha(fileBytes), 'the downloaded bytes are the file');
  // Chromium makes `<` and `>` safe for a file system: the rest of the name stays.
  check(got.name.endsWith('onerror=alert(1)_ results.bin'), `the download's name (${got.name})`);
  await page.locator('#meta').filter({ hasText: '4 downloads left' }).waitFor();
  await h.shot(page, 'link-file.png');

  // The folder link: browse, download a file inside, then everything as a zip.
  page = await h.freshPage();
  await page.goto(folderLink.url);
  await page.locator('#items tr').first().waitFor();
  const rows = await page.locator('#items tr td:first-child').allTextContents();
  check(rows.join('|') === 'profiles/|summary.csv', `the folder's rows: ${rows.join('|')}`);
  await h.shot(page, 'link-folder.png');
  await page.getByRole('button', { name: 'profiles/' }).click();
  await page.locator('#items tr td', { hasText: '4242_batch_c0107.h5' }).waitFor();
  check((await page.locator('#crumbs').textContent()).includes('job 4242'), 'breadcrumbs');
  await h.shot(page, 'link-subfolder.png');
  const inner = await h.downloaded(page, () => page.locator('#items tr', { hasText: '4242_batch_c0107.h5' }).getByRole('button', { name: 'Download' }).click());
  check(sha(inner.bytes) === sha(h5), 'the file inside downloads whole');
  await page.getByRole('button', { name: 'job 4242' }).click();
  await page.locator('#items tr td', { hasText: 'summary.csv' }).waitFor();
  const zip = await h.downloaded(page, () => page.click('#zip'));
  check(zip.bytes.subarray(0, 4).toString('binary') === 'PK\x03\x04', 'a zip');
  for (const name of ['summary.csv', 'profiles/4242_batch_c0107.h5']) {
    check(zip.bytes.includes(Buffer.from(name)), `the zip holds ${name}`);
  }
  await h.shot(page, 'link-zip.png');

  // Revoked: the one "not available" page, in a fresh context.
  await h.api(`/api/v1/files/${fileId}/links/${fileLink.id}`, { method: 'DELETE', token });
  page = await h.freshPage();
  const gone = await page.goto(fileLink.url);
  check(gone.status() === 404, `a revoked link's page answers ${gone.status()}`);
  check((await page.locator('h1').textContent()) === 'This link is not available', 'the not-available page');
  await h.shot(page, 'link-gone.png');
});
