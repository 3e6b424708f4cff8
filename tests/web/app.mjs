// Browser test of the web interface at `/` in Debian's Chromium (see harness.mjs):
// register and sign in (the cookie session), create a folder and open it, upload three
// files into it through the file picker (one of 70 MiB, multipart; progress to 100%,
// the stored bytes compared) and one by drag and drop, cancel an upload (its
// reservation given back), browse back by the breadcrumbs, download a file (bytes
// compared), copy it into the folder, rename it, move it with the folder picker, zip
// the folder, share it with another user who then sees it, make a password link and
// use it in a fresh context, revoke it, delete with the browser's dialogs; then the
// admin area (statistics, a quota changed, a user found and disabled, registration
// closed and no longer offered, the audit log filtered); the page at phone width;
// change the password, sign out and in. Screenshots go to $WEB_SHOTS.
//
// Usage: node app.mjs path/to/cofferd

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN, check, sha, withCoffer } from './harness.mjs';

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

  // Three files into the folder through the picker, one of 70 MiB (multipart): straight
  // to the store, progress to 100%.
  const dir = mkdtempSync(join(tmpdir(), 'coffer-web-files-'));
  const sent = { 'notes.txt': Buffer.from('job 4242 ran fine\n'), 'table.csv': randomBytes(300_000), 'big.bin': randomBytes(70 * 1024 * 1024) };
  for (const [name, bytes] of Object.entries(sent)) writeFileSync(join(dir, name), bytes);
  // Every state the transfer rows show is recorded as it changes (each XHR progress
  // event is its own task, so none is missed).
  await page.evaluate(() => {
    window.seen = [];
    new MutationObserver(() => {
      for (const row of document.querySelectorAll('#transfer-rows tr')) {
        window.seen.push(`${row.cells[0].textContent} ${row.cells[2].textContent}`);
      }
    }).observe(document.getElementById('transfer-rows'), { subtree: true, childList: true, characterData: true });
  });
  await page.setInputFiles('#pick', Object.keys(sent).map((n) => join(dir, n)));
  await page.locator('#total-text').filter({ hasText: '100% · 3 of 3 files done' }).waitFor();
  const seen = await page.evaluate(() => window.seen);
  check(seen.some((t) => /^big\.bin ([1-9]|[1-9][0-9])%$/.test(t)), 'the big file showed its progress on the way');
  await page.locator('#items tr', { hasText: 'big.bin' }).waitFor();
  await h.shot(page, 'app-uploaded.png');
  const token0 = await h.login('carol', password);
  const listed = (await h.api('/api/v1/folders/root/items', { token: token0 })).items;
  const folderId = listed.find((i) => i.name === 'results <i>2026').id;
  const inside = (await h.api(`/api/v1/folders/${folderId}/items`, { token: token0 })).items;
  check(inside.map((i) => i.name).sort().join('|') === 'big.bin|notes.txt|table.csv', 'the three files, listed by the API');
  for (const item of inside) {
    check(item.state === 'active', `${item.name} is active`);
    const { url } = await h.api(`/api/v1/files/${item.id}/download`, { token: token0 });
    const bytes = Buffer.from(await (await fetch(url)).arrayBuffer());
    check(sha(bytes) === sha(sent[item.name]), `${item.name}: the stored bytes are the file's`);
  }

  // A cancelled upload gives its reservation back and leaves no file.
  writeFileSync(join(dir, 'cancelled.bin'), randomBytes(70 * 1024 * 1024));
  // Its parts reach the store only after a pause, so the cancel comes mid-upload.
  await page.route(/_cancelled\.bin\?/, (route) => setTimeout(() => route.continue().catch(() => {}), 3000));
  await page.setInputFiles('#pick', [join(dir, 'cancelled.bin')]);
  const cancelRow = page.locator('#transfer-rows tr', { hasText: 'cancelled.bin' });
  await cancelRow.locator('td').nth(2).filter({ hasText: '%' }).waitFor();
  await cancelRow.getByRole('button', { name: 'Cancel' }).click();
  await cancelRow.locator('td').nth(2).filter({ hasText: 'cancelled' }).waitFor();
  for (let i = 0; ; i += 1) {
    const u = await h.api('/api/v1/me/usage', { token: token0 });
    if (u.reserved_bytes === 0 && u.reserved_objects === 0) break;
    check(i < 100, `the reservation is given back (${u.reserved_bytes} bytes left)`);
    await page.waitForTimeout(100);
  }
  const after = (await h.api(`/api/v1/folders/${folderId}/items`, { token: token0 })).items;
  check(!after.some((i) => i.name === 'cancelled.bin'), 'no file left by the cancelled upload');
  rmSync(dir, { recursive: true, force: true });

  // One more by drag and drop onto the upload area.
  const dropped = await page.evaluateHandle(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['dropped on the page\n'], 'dropped.txt', { type: 'text/plain' }));
    return dt;
  });
  await page.dispatchEvent('#drop', 'drop', { dataTransfer: dropped });
  await page.locator('#items tr', { hasText: 'dropped.txt' }).waitFor();
  const droppedItem = (await h.api(`/api/v1/folders/${folderId}/items`, { token: token0 })).items.find((i) => i.name === 'dropped.txt');
  check(droppedItem?.state === 'active' && droppedItem.size === 20, 'the dropped file is stored');

  await page.locator('#crumbs').getByRole('button', { name: 'My files' }).click();
  await folderButton.waitFor();

  // A file (uploaded through the API for now), listed, downloaded, renamed, deleted.
  const token = await h.login('carol', password);
  const bytes = randomBytes(120_000);
  await h.upload(token, 'energy.h5', bytes);
  await page.reload();
  const fileRow = page.locator('#items tr', { hasText: 'energy.h5' });
  await fileRow.waitFor();
  check((await fileRow.locator('td').nth(2).textContent()) === '117.2 KiB', 'the size');
  check((await fileRow.locator('td').nth(5).textContent()) === 'active', 'the state');
  // 70 MiB + 300,000 + 18 + 120,000 bytes: 70.4 MiB.
  await page.locator('#usage').filter({ hasText: '70.4 MiB of ' }).waitFor();
  await h.shot(page, 'app-files.png');
  const got = await h.downloaded(page, () => fileRow.getByRole('button', { name: 'Download' }).click());
  check(sha(got.bytes) === sha(bytes), 'the downloaded bytes are the file');
  check(got.name === 'energy.h5', `the download's name (${got.name})`);

  // Copied into the folder (the store copies the bytes; the API never sees them).
  await fileRow.getByRole('button', { name: 'Copy' }).click();
  await page.locator('#move-dialog').getByRole('button', { name: 'results <i>2026/' }).click();
  await page.locator('#move-crumbs').filter({ hasText: 'results <i>2026' }).waitFor();
  await page.click('#move-here');
  await page.locator('#notice').filter({ hasText: 'Copied energy.h5 to results <i>2026 as energy.h5.' }).waitFor();
  const copied = (await h.api(`/api/v1/folders/${folderId}/items`, { token })).items.find((i) => i.name === 'energy.h5');
  check(copied, 'the copy is in the folder');
  const { url: copyUrl } = await h.api(`/api/v1/files/${copied.id}/download`, { token });
  check(sha(Buffer.from(await (await fetch(copyUrl)).arrayBuffer())) === sha(bytes), "the copy's bytes");

  page.once('dialog', (d) => d.accept('energy-final.h5'));
  await fileRow.getByRole('button', { name: 'Rename' }).click();
  let renamed = page.locator('#items tr', { hasText: 'energy-final.h5' });
  await renamed.waitFor();

  // Moved into the folder with the folder picker.
  await renamed.getByRole('button', { name: 'Move' }).click();
  await page.locator('#move-dialog').getByRole('button', { name: 'results <i>2026/' }).click();
  await page.locator('#move-crumbs').filter({ hasText: 'results <i>2026' }).waitFor();
  await h.shot(page, 'app-move.png');
  await page.click('#move-here');
  await page.locator('#notice').filter({ hasText: 'Moved energy-final.h5 to results <i>2026.' }).waitFor();
  const moved = (await h.api(`/api/v1/folders/${folderId}/items`, { token })).items.map((i) => i.name);
  check(moved.includes('energy-final.h5'), `moved into the folder: ${moved.join('|')}`);

  // The folder selected and downloaded as one zip.
  const folderRow = page.locator('#items tr', { hasText: 'results <i>2026/' });
  await folderRow.locator('input[type=checkbox]').check();
  const zip = await h.downloaded(page, () => page.click('#zip'));
  check(zip.bytes.subarray(0, 4).toString('binary') === 'PK\x03\x04', 'a zip');
  for (const name of ['results <i>2026/big.bin', 'results <i>2026/notes.txt', 'results <i>2026/energy-final.h5']) {
    check(zip.bytes.includes(Buffer.from(name)), `the zip holds ${name}`);
  }
  await h.shot(page, 'app-zip.png');

  // The folder shared with dave, who then sees it; a password link to it, opened in a
  // fresh context, then revoked.
  await h.api('/api/v1/auth/register', { method: 'POST', body: { username: 'dave', password } });
  await folderRow.getByRole('button', { name: 'Share' }).click();
  await page.fill('#share-user', 'dave');
  await page.click('#share-form button');
  await page.locator('#shares td', { hasText: 'dave' }).waitFor();
  await page.fill('#link-password', 'link horse battery');
  await page.fill('#link-max', '3');
  await page.click('#link-form button');
  await page.locator('#link-made').waitFor();
  const linkUrl = await page.inputValue('#link-url');
  check(linkUrl.startsWith(`${h.base}/s/`), `the link's URL (${linkUrl})`);
  await page.locator('#links td', { hasText: '0 of 3 downloads' }).waitFor();
  await h.shot(page, 'app-share.png');

  const daves = await h.freshPage();
  await daves.goto(`${h.base}/`);
  await daves.fill('#username', 'dave');
  await daves.fill('#auth-password', password);
  await daves.click('#auth-submit');
  await daves.locator('#who').filter({ hasText: 'dave' }).waitFor();
  await daves.click('#view-shared');
  await daves.locator('#shared-items td', { hasText: 'carol' }).waitFor();
  await h.shot(daves, 'app-shared-with-me.png');
  await daves.getByRole('button', { name: 'results <i>2026/' }).click();
  await daves.locator('#items tr', { hasText: 'table.csv' }).waitFor();
  await daves.context().close();

  const visitor = await h.freshPage();
  await visitor.goto(linkUrl);
  await visitor.fill('#password', 'link horse battery');
  await visitor.click('#unlock button');
  const viaLink = await h.downloaded(visitor, () => visitor.locator('#items tr', { hasText: 'notes.txt' }).getByRole('button', { name: 'Download' }).click());
  check(sha(viaLink.bytes) === sha(sent['notes.txt']), 'the link gives the file');
  await page.locator('#links').getByRole('button', { name: 'Revoke' }).click();
  await page.locator('#links td', { hasText: 'revoked' }).waitFor();
  await page.click('#share-close');
  const dead = await visitor.goto(linkUrl);
  check(dead.status() === 404, `a revoked link answers ${dead.status()}`);
  await visitor.locator('h1').filter({ hasText: 'This link is not available' }).waitFor();
  await visitor.context().close();

  // The file deleted inside the folder: a dismissed confirmation first.
  await folderRow.getByRole('button', { name: 'results <i>2026/' }).click();
  renamed = page.locator('#items tr', { hasText: 'energy-final.h5' });
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

  // The admin area: statistics, users (search, quota, disable), settings, audit log.
  const admin = await h.freshPage();
  await admin.goto(`${h.base}/`);
  await admin.fill('#username', ADMIN.username);
  await admin.fill('#auth-password', ADMIN.password);
  await admin.click('#auth-submit');
  await admin.click('#view-admin');
  await admin.locator('#stats').filter({ hasText: '3 users (0 disabled)' }).waitFor();
  await admin.locator('#top-users td', { hasText: 'carol' }).first().waitFor();
  const carolRow = admin.locator('#users tr', { hasText: 'carol' });
  await carolRow.locator('input.quota').fill('2147483648');
  await carolRow.getByRole('button', { name: 'Save' }).click();
  await admin.locator('#notice').filter({ hasText: 'Saved carol: quota 2.0 GiB, user.' }).waitFor();
  check((await h.api('/api/v1/me/usage', { token })).quota_bytes === 2147483648, "carol's new quota");
  await admin.fill('#user-q', 'da');
  await admin.click('#user-search button');
  await admin.locator('#users tr', { hasText: 'carol' }).waitFor({ state: 'detached' });
  const daveRow = admin.locator('#users tr', { hasText: 'dave' });
  await daveRow.locator('input[type=checkbox]').check();
  await daveRow.getByRole('button', { name: 'Save' }).click();
  await admin.locator('#notice').filter({ hasText: 'Saved dave: quota 10.0 GiB, user, disabled.' }).waitFor();
  await admin.locator('#stats').filter({ hasText: '(1 disabled)' }).waitFor();
  await admin.uncheck('#setting-registration_open');
  await admin.click('#settings-form button[type=submit]');
  await admin.locator('#notice').filter({ hasText: 'Saved: registration_open.' }).waitFor();
  await admin.fill('#audit-action', 'link.');
  await admin.click('#audit-filter button');
  await admin.locator('#audit td', { hasText: 'link.created' }).first().waitFor();
  const actions = await admin.locator('#audit tr td:nth-child(3)').allTextContents();
  check(actions.length > 0 && actions.every((a) => a.startsWith('link.')), `the filtered log: ${actions.join(', ')}`);
  await h.shot(admin, 'app-admin.png');
  // Registration is closed now: the sign-in page no longer offers it.
  const late = await h.freshPage();
  await late.goto(`${h.base}/`);
  await late.locator('#auth-form').waitFor();
  await late.waitForLoadState('networkidle');
  check(await late.locator('#auth-switch').isHidden(), 'no "Create an account" while registration is closed');
  await late.context().close();
  await admin.context().close();
  await page.click('#view-files');

  // At phone width the page still fits (tables scroll inside it).
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `nothing wider than a phone's screen (${overflow}px over)`);
  await h.shot(page, 'app-phone.png');
  await page.setViewportSize({ width: 1280, height: 720 });

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
