// Browser test of the public link page (/s/{token}) in Debian's Chromium, driven by
// playwright-core (which never downloads a browser). Starts the given cofferd on its
// embedded defaults in a scratch directory, prepares files and links through the API,
// then does in the browser what a recipient does: opens a password link, gets the
// password wrong and then right, downloads (bytes compared); browses a folder link,
// downloads a file inside and everything as a zip; sees the "not available" page once a
// link is revoked. Fails on any script error, any CSP violation, any console error
// other than the HTTP statuses the page expects. Screenshots go to $WEB_SHOTS.
//
// Usage: node link.mjs path/to/cofferd

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const bin = resolve(process.argv[2] ?? '../../target/debug/cofferd');
const shots = resolve(process.env.WEB_SHOTS ?? 'screenshots');
mkdirSync(shots, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'coffer-web-'));

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

async function freePort() {
  return new Promise((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => done(port));
    });
  });
}

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const server = spawn(bin, [], {
  cwd: work,
  env: { ...process.env, COFFER_PORT: String(port), COFFER_EMBEDDED_S3_PORT: '0', COFFER_DATA_DIR: join(work, 'data') },
  stdio: ['ignore', 'ignore', 'inherit'],
});
let browser;

async function api(path, { method = 'GET', body, token } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function upload(token, name, bytes, parentId) {
  const start = await api('/api/v1/uploads', {
    method: 'POST',
    token,
    body: { name, size: bytes.length, content_type: 'application/octet-stream', parent_id: parentId },
  });
  const put = await fetch(start.put.url, { method: 'PUT', headers: start.put.headers, body: bytes });
  check(put.ok, `PUT ${name}: ${put.status}`);
  return (await api(`/api/v1/uploads/${start.upload_id}/complete`, { method: 'POST', token })).id;
}

const sha = (b) => createHash('sha256').update(b).digest('hex');

try {
  for (let i = 0; ; i += 1) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      // Not listening yet.
    }
    check(i < 200, 'cofferd answers /healthz');
    await new Promise((r) => setTimeout(r, 100));
  }
  const password = 'correct horse battery staple';
  await api('/api/v1/auth/register', { method: 'POST', body: { username: 'alice', password } });
  const { access_token: token } = await api('/api/v1/auth/login', { method: 'POST', body: { username: 'alice', password } });

  // A file whose name is markup (it must show as text), behind a password.
  const fileName = '<img src=x onerror=alert(1)> results.bin';
  const fileBytes = randomBytes(300_000);
  const fileId = await upload(token, fileName, fileBytes);
  const fileLink = await api(`/api/v1/files/${fileId}/links`, {
    method: 'POST',
    token,
    body: { password: 'open sesame 42', max_downloads: 5 },
  });
  // A folder with a subfolder, behind no password.
  const folder = await api('/api/v1/folders', { method: 'POST', token, body: { name: 'job 4242' } });
  const sub = await api('/api/v1/folders', { method: 'POST', token, body: { name: 'profiles', parent_id: folder.id } });
  const csv = Buffer.from('node,energy_j\nc0107,1234\n');
  const h5 = randomBytes(50_000);
  await upload(token, 'summary.csv', csv, folder.id);
  await upload(token, '4242_batch_c0107.h5', h5, sub.id);
  const folderLink = await api(`/api/v1/files/${folder.id}/links`, { method: 'POST', token, body: {} });

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
    ],
  });
  const problems = [];
  async function freshPage() {
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    page.on('pageerror', (e) => problems.push(`script error: ${e.message}`));
    page.on('console', (m) => {
      const text = m.text();
      // The page's own requests answer 401 for a wrong password and 404 for a dead
      // link, and Chromium logs those statuses; anything else is a problem.
      const expected = /^Failed to load resource: the server responded with a status of (401|404)/.test(text);
      if (m.type() === 'error' && !expected) problems.push(`console: ${text}`);
      if (/Content Security Policy/i.test(text)) problems.push(`CSP: ${text}`);
    });
    return page;
  }
  async function downloaded(page, click) {
    const [download] = await Promise.all([page.waitForEvent('download'), click()]);
    const path = join(work, `dl-${Math.random()}`);
    await download.saveAs(path);
    return { name: download.suggestedFilename(), bytes: readFileSync(path) };
  }

  // The password link, in a fresh context.
  let page = await freshPage();
  const res = await page.goto(fileLink.url);
  check(res.status() === 200, `link page status ${res.status()}`);
  await page.locator('#unlock').waitFor();
  check((await page.locator('h1').textContent()) === fileName, 'the name shown as text');
  check((await page.locator('img').count()) === 0, 'no markup from the name');
  check((await page.locator('#meta').textContent()).includes('5 downloads left'), 'downloads left shown');
  await page.screenshot({ path: join(shots, 'link-password.png'), fullPage: true });
  await page.fill('#password', 'wrong password 1');
  await page.click('#unlock button');
  await page.click('#download');
  await page.locator('#error').filter({ hasText: 'The password is wrong.' }).waitFor();
  await page.screenshot({ path: join(shots, 'link-wrong-password.png'), fullPage: true });
  await page.fill('#password', 'open sesame 42');
  await page.click('#unlock button');
  const got = await downloaded(page, () => page.click('#download'));
  check(sha(got.bytes) === sha(fileBytes), 'the downloaded bytes are the file');
  // Chromium makes `<` and `>` safe for a file system: the rest of the name stays.
  check(got.name.endsWith('onerror=alert(1)_ results.bin'), `the download's name (${got.name})`);
  await page.locator('#meta').filter({ hasText: '4 downloads left' }).waitFor();
  await page.screenshot({ path: join(shots, 'link-file.png'), fullPage: true });

  // The folder link: browse, download a file inside, then everything as a zip.
  page = await freshPage();
  await page.goto(folderLink.url);
  await page.locator('#items tr').first().waitFor();
  const rows = await page.locator('#items tr td:first-child').allTextContents();
  check(rows.join('|') === 'profiles/|summary.csv', `the folder's rows: ${rows.join('|')}`);
  await page.screenshot({ path: join(shots, 'link-folder.png'), fullPage: true });
  await page.getByRole('button', { name: 'profiles/' }).click();
  await page.locator('#items tr td', { hasText: '4242_batch_c0107.h5' }).waitFor();
  check((await page.locator('#crumbs').textContent()).includes('job 4242'), 'breadcrumbs');
  await page.screenshot({ path: join(shots, 'link-subfolder.png'), fullPage: true });
  const inner = await downloaded(page, () => page.locator('#items tr', { hasText: '4242_batch_c0107.h5' }).getByRole('button', { name: 'Download' }).click());
  check(sha(inner.bytes) === sha(h5), 'the file inside downloads whole');
  await page.getByRole('button', { name: 'job 4242' }).click();
  await page.locator('#items tr td', { hasText: 'summary.csv' }).waitFor();
  const zip = await downloaded(page, () => page.click('#zip'));
  check(zip.bytes.subarray(0, 4).toString('binary') === 'PK\x03\x04', 'a zip');
  for (const name of ['summary.csv', 'profiles/4242_batch_c0107.h5']) {
    check(zip.bytes.includes(Buffer.from(name)), `the zip holds ${name}`);
  }
  await page.screenshot({ path: join(shots, 'link-zip.png'), fullPage: true });

  // Revoked: the one "not available" page, in a fresh context.
  await api(`/api/v1/files/${fileId}/links/${fileLink.id}`, { method: 'DELETE', token });
  page = await freshPage();
  const gone = await page.goto(fileLink.url);
  check(gone.status() === 404, `a revoked link's page answers ${gone.status()}`);
  check((await page.locator('h1').textContent()) === 'This link is not available', 'the not-available page');
  await page.screenshot({ path: join(shots, 'link-gone.png'), fullPage: true });

  check(problems.length === 0, `no console errors or CSP violations:\n${problems.join('\n')}`);
  console.log(`web: link page ok (screenshots in ${shots})`);
} finally {
  await browser?.close();
  server.kill();
  rmSync(work, { recursive: true, force: true });
}
