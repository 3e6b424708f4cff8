// What the browser tests share: a cofferd on its embedded defaults in a scratch
// directory, the JSON API with a bearer token, Debian's Chromium through playwright-core
// (never a downloaded browser), pages that record script errors, CSP violations and
// unexpected console errors, downloads saved and read back, screenshots.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

export function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

export const sha = (b) => createHash('sha256').update(b).digest('hex');

/// The admin every test server starts with.
export const ADMIN = { username: 'root', password: 'admin horse battery staple' };

async function freePort() {
  return new Promise((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => done(port));
    });
  });
}

/// Runs `test(h)` against a fresh cofferd (argv[2]) and browser, then cleans up.
export async function withCoffer(name, test) {
  const bin = resolve(process.argv[2] ?? '../../target/debug/cofferd');
  const shots = resolve(process.env.WEB_SHOTS ?? fileURLToPath(new URL('screenshots', import.meta.url)));
  mkdirSync(shots, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'coffer-web-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(bin, [], {
    cwd: work,
    env: {
      ...process.env,
      COFFER_PORT: String(port),
      COFFER_EMBEDDED_S3_PORT: '0',
      COFFER_DATA_DIR: join(work, 'data'),
      COFFER_BOOTSTRAP_ADMIN_USERNAME: ADMIN.username,
      COFFER_BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let browser;
  const problems = [];
  const pages = [];
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
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      headless: true,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run',
      ],
    });
    const h = {
      base,
      async api(path, { method = 'GET', body, token } = {}) {
        const headers = { Accept: 'application/json' };
        if (token) headers.Authorization = `Bearer ${token}`;
        if (body !== undefined) headers['Content-Type'] = 'application/json';
        const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
        const text = await res.text();
        if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
        return text ? JSON.parse(text) : null;
      },
      async login(username, password) {
        return (await h.api('/api/v1/auth/login', { method: 'POST', body: { username, password } })).access_token;
      },
      async upload(token, fileName, bytes, parentId) {
        const start = await h.api('/api/v1/uploads', {
          method: 'POST',
          token,
          body: { name: fileName, size: bytes.length, content_type: 'application/octet-stream', parent_id: parentId },
        });
        const put = await fetch(start.put.url, { method: 'PUT', headers: start.put.headers, body: bytes });
        check(put.ok, `PUT ${fileName}: ${put.status}`);
        return (await h.api(`/api/v1/uploads/${start.upload_id}/complete`, { method: 'POST', token })).id;
      },
      /// A page in a fresh browser context, its problems recorded.
      async freshPage() {
        const context = await browser.newContext({ acceptDownloads: true });
        const page = await context.newPage();
        pages.push(page);
        page.on('pageerror', (e) => problems.push(`script error: ${e.message}`));
        page.on('console', (m) => {
          const text = m.text();
          // The pages' own requests answer 401 (signed out, a wrong password), 403
          // (registration closed) and 404 (a dead link), and Chromium logs those
          // statuses; anything else is a problem. (A refusal the test does not expect
          // fails it anyway: the page shows the error instead of what the test awaits.)
          const expected = /^Failed to load resource: the server responded with a status of (401|403|404)/.test(text);
          if (m.type() === 'error' && !expected) problems.push(`console: ${text}`);
          if (/Content Security Policy/i.test(text)) problems.push(`CSP: ${text}`);
        });
        return page;
      },
      async downloaded(page, click) {
        const [download] = await Promise.all([page.waitForEvent('download'), click()]);
        const path = join(work, `dl-${Math.random()}`);
        await download.saveAs(path);
        return { name: download.suggestedFilename(), bytes: readFileSync(path) };
      },
      async shot(page, file) {
        await page.screenshot({ path: join(shots, file), fullPage: true });
      },
    };
    try {
      await test(h);
    } catch (e) {
      // What the last page showed, and what went wrong in the pages before.
      await pages.at(-1)?.screenshot({ path: join(shots, `${name}-failure.png`), fullPage: true }).catch(() => {});
      if (problems.length) console.error(problems.join('\n'));
      throw e;
    }
    check(problems.length === 0, `no console errors or CSP violations:\n${problems.join('\n')}`);
    console.log(`web: ${name} ok (screenshots in ${shots})`);
  } finally {
    await browser?.close();
    server.kill();
    rmSync(work, { recursive: true, force: true });
  }
}
