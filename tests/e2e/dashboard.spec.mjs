// End-to-end tests of the review dashboard: the real commsd and commsctl, a real
// (headless) Chromium driven by playwright-core. See README.md beside this file.
//
//   COMMSD_BIN=target/debug/commsd COMMSCTL_BIN=target/debug/commsctl \
//   E2E_NODE_PREFIX="$CACHE_DIR/e2e-node" node tests/e2e/dashboard.spec.mjs
//
// Environment:
//   COMMSD_BIN, COMMSCTL_BIN  paths to the binaries under test (required)
//   E2E_NODE_PREFIX           the `npm install --prefix` directory holding playwright-core
//                             (else $CACHE_DIR/e2e-node, else node_modules beside this file or NODE_PATH)
//   CHROMIUM                  the browser executable (default /usr/bin/chromium); never downloaded
//   SCREENSHOT_DIR            where review.png goes (default: the test's temp dir)
//   E2E_KEEP_TMP=1            keep the temp dir (it is kept anyway when a test fails)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WAIT_MS = 10_000;
const TEST_TIMEOUT_MS = 90_000;

const COMMSD_BIN = process.env.COMMSD_BIN;
const COMMSCTL_BIN = process.env.COMMSCTL_BIN;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

// ------------------------------------------------------------------ helpers

function loadPlaywright() {
  const bases = [
    process.env.E2E_NODE_PREFIX,
    process.env.CACHE_DIR && path.join(process.env.CACHE_DIR, 'e2e-node'),
    HERE,
  ].filter(Boolean);
  const tried = [];
  for (const base of bases) {
    try {
      return createRequire(path.join(path.resolve(base), 'noop.cjs'))('playwright-core');
    } catch (err) {
      tried.push(`${base}: ${err.code || err.message}`);
    }
  }
  try {
    // CommonJS resolution also honours NODE_PATH.
    return createRequire(import.meta.url)('playwright-core');
  } catch (err) {
    tried.push(`NODE_PATH: ${err.code || err.message}`);
  }
  throw new Error(`playwright-core is not installed. Install it with\n` +
    `  npm install --prefix "$CACHE_DIR/e2e-node" --no-save playwright-core@<version in package.json>\n` +
    `and set E2E_NODE_PREFIX to that directory. Tried:\n  ${tried.join('\n  ')}`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `fn` until it returns a truthy value; throws with `what` after `timeout` ms. */
async function waitFor(what, fn, { timeout = WAIT_MS, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let lastErr = null;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      const label = typeof what === 'function' ? what() : what;
      throw new Error(`timed out after ${timeout} ms waiting for ${label}${lastErr ? ` (last error: ${lastErr.message})` : ''}`);
    }
    await sleep(interval);
  }
}

function parseJsonOutput(stdout, what) {
  const text = stdout.trim();
  try {
    return JSON.parse(text);
  } catch (_) {
    const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
    for (let i = lines.length - 1; i >= 0; i -= 1) {
      try { return JSON.parse(lines[i]); } catch (_) { /* keep looking */ }
    }
    throw new Error(`${what} did not print JSON:\n${stdout}`);
  }
}

/** The full header block of a message file, with folded lines unfolded. */
function headersOf(raw) {
  const end = raw.search(/\r?\n\r?\n/);
  const block = end === -1 ? raw : raw.slice(0, end);
  return block.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/);
}

function httpRequest(url, { method = 'GET', headers = {}, body = null } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request({
      host: u.hostname,
      port: u.port,
      path: u.pathname + u.search,
      method,
      headers: { ...headers, ...(body !== null ? { 'Content-Length': Buffer.byteLength(body) } : {}) },
      setHost: !Object.keys(headers).some((k) => k.toLowerCase() === 'host'),
    }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { data += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.setTimeout(WAIT_MS, () => req.destroy(new Error(`${method} ${url} timed out`)));
    if (body !== null) req.write(body);
    req.end();
  });
}

// ------------------------------------------------------------------ the system under test

const sut = {
  tmp: null,
  dataDir: null,
  env: null,
  daemon: null,
  stderrPath: null,
  dashboardUrl: null,
  browser: null,
  context: null, // the signed-in browser context
  page: null,
  pageErrors: [],
  failed: false,
  screenshotDir: null,
};

function commsctl(args, { allowFail = false, timeout = 30_000 } = {}) {
  return new Promise((resolve, reject) => {
    execFile(COMMSCTL_BIN, args, { env: sut.env, timeout, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      const result = { code, stdout, stderr };
      if (code !== 0 && !allowFail) {
        reject(new Error(`commsctl ${args.join(' ')} exited ${code}\nstdout: ${stdout}\nstderr: ${stderr}`));
      } else {
        resolve(result);
      }
    });
  });
}

async function commsctlJson(args) {
  const { stdout } = await commsctl(args);
  return parseJsonOutput(stdout, `commsctl ${args.join(' ')}`);
}

const showItem = (id) => commsctlJson(['outbox', 'show', id, '--json']);

async function stageEmail({ to, subject, body, extra = [] }) {
  return stageWithOptionalFlags(['outbox', 'stage', 'email', '--to', to, '--subject', subject, '--body', body], extra);
}

async function stageSms({ to, body, extra = [] }) {
  return stageWithOptionalFlags(['outbox', 'stage', 'sms', '--to', to, '--body', body], extra);
}

/**
 * Stages with optional flags (e.g. `--priority high`) that the CLI may not offer:
 * when clap rejects them, stages again without them. Returns the Item and which
 * optional flags were accepted.
 */
async function stageWithOptionalFlags(args, optional) {
  if (optional.length) {
    const res = await commsctl([...args, ...optional, '--json'], { allowFail: true });
    if (res.code === 0) return { item: parseJsonOutput(res.stdout, 'stage'), accepted: true };
    if (!/unexpected argument|unrecognized|invalid value|found argument/i.test(res.stderr)) {
      throw new Error(`commsctl ${[...args, ...optional].join(' ')} failed (${res.code}): ${res.stderr}`);
    }
    console.log(`# note: commsctl does not accept ${optional.join(' ')}; staging without it`);
  }
  const item = await commsctlJson([...args, '--json']);
  return { item, accepted: optional.length === 0 };
}

function maildirFiles() {
  const files = [];
  for (const sub of ['new', 'cur']) {
    const dir = path.join(sut.dataDir, 'sandbox', 'Maildir', sub);
    let names = [];
    try { names = fs.readdirSync(dir); } catch (_) { continue; }
    for (const name of names) {
      const file = path.join(dir, name);
      try { files.push({ file, raw: fs.readFileSync(file, 'utf8') }); } catch (_) { /* being written */ }
    }
  }
  return files;
}

/** Delivered messages whose Subject header is exactly `subject`. */
function mailsWithSubject(subject) {
  return maildirFiles()
    .map((m) => ({ ...m, headers: headersOf(m.raw) }))
    .filter((m) => m.headers.some((h) => h === `Subject: ${subject}`));
}

async function waitForMail(subject) {
  return waitFor(`a message with "Subject: ${subject}" in ${path.join(sut.dataDir, 'sandbox', 'Maildir', 'new')}`, () => {
    const found = mailsWithSubject(subject);
    return found.length ? found[0] : null;
  });
}

async function waitForState(id, predicate, what) {
  let last = null;
  return waitFor(() => `item ${id} to be ${what} (last state: ${last && last.state})`, async () => {
    last = await showItem(id);
    return predicate(last) ? last : null;
  });
}

async function newSignedInContext() {
  const { url } = await commsctlJson(['dashboard', '--no-browser', '--json']);
  const context = await sut.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (err) => sut.pageErrors.push(err.message));
  await page.goto(url);
  await page.waitForURL((u) => new URL(u).pathname === '/review');
  return { url, context, page };
}

/** The signed-in page; signs in again if scenario 1 did not leave one. */
async function signedInPage() {
  if (!sut.page || sut.page.isClosed()) {
    const { context, page } = await newSignedInContext();
    sut.context = context;
    sut.page = page;
  }
  return sut.page;
}

async function openReview(page) {
  const target = `${sut.dashboardUrl}/review`;
  if (page.url() !== target) await page.goto(target);
  await page.locator('[data-testid="review-page"]').waitFor();
  await page.locator('[data-testid="live-status"][data-state="connected"]').waitFor();
}

const row = (page, id) => page.locator(`[data-testid="item-row"][data-id="${id}"]`);

async function openItem(page, id) {
  await row(page, id).locator('[data-testid="item-link"]').click();
  await page.waitForURL((u) => new URL(u).pathname === `/review/${id}`);
  await page.locator('[data-testid="detail-title"]').waitFor();
}

function scenario(name, fn) {
  test(name, { timeout: TEST_TIMEOUT_MS }, async (t) => {
    try {
      await fn(t);
    } catch (err) {
      sut.failed = true;
      if (sut.page && !sut.page.isClosed()) {
        const shot = path.join(sut.screenshotDir || sut.tmp || os.tmpdir(), `failure-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.png`);
        await sut.page.screenshot({ path: shot, fullPage: true }).then(() => console.log(`# failure screenshot: ${shot}`)).catch(() => {});
      }
      throw err;
    }
  });
}

// ------------------------------------------------------------------ set-up and tear-down

before(async () => {
  assert.ok(COMMSD_BIN && fs.existsSync(COMMSD_BIN), `set COMMSD_BIN to the commsd binary (got ${COMMSD_BIN})`);
  assert.ok(COMMSCTL_BIN && fs.existsSync(COMMSCTL_BIN), `set COMMSCTL_BIN to the commsctl binary (got ${COMMSCTL_BIN})`);
  assert.ok(fs.existsSync(CHROMIUM), `no browser at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set CHROMIUM`);
  const { chromium } = loadPlaywright();

  sut.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'commsd-e2e-')); // 0700
  const home = path.join(sut.tmp, 'home');
  const run = path.join(sut.tmp, 'run');
  fs.mkdirSync(home, { mode: 0o700 });
  fs.mkdirSync(run, { mode: 0o700 });
  sut.dataDir = path.join(sut.tmp, 'data');
  const config = path.join(sut.tmp, 'config.toml');
  fs.writeFileSync(config, '[listen]\ndashboard = "127.0.0.1:0"\napi = "127.0.0.1:0"\nwebhooks = "127.0.0.1:0"\n'
    + '[twilio]\nprice_per_segment = 0.0079\n');
  sut.screenshotDir = process.env.SCREENSHOT_DIR ? path.resolve(process.env.SCREENSHOT_DIR) : sut.tmp;
  fs.mkdirSync(sut.screenshotDir, { recursive: true });

  sut.env = {
    PATH: process.env.PATH || '/usr/bin:/bin',
    HOME: home,
    COMMSD_CONFIG: config,
    COMMSD_DATA_DIR: sut.dataDir,
    COMMSD_SOCKET: path.join(run, 'commsd.sock'),
    COMMSD_LOG: 'info',
    COMMSD_BIN,
    COMMSD_AUTOSTART: '0', // commsctl must never start a second daemon behind our back
  };

  sut.stderrPath = path.join(sut.tmp, 'commsd.stderr.log');
  const errFd = fs.openSync(sut.stderrPath, 'a');
  sut.daemon = spawn(COMMSD_BIN, [], { env: sut.env, stdio: ['ignore', errFd, errFd] });
  fs.closeSync(errFd);
  sut.daemon.on('exit', (code, signal) => { sut.daemon.exitInfo = { code, signal }; });

  const status = await waitFor('commsd to answer `commsctl status --json`', async () => {
    if (sut.daemon.exitInfo) {
      throw new Error(`commsd exited early (${JSON.stringify(sut.daemon.exitInfo)}):\n${fs.readFileSync(sut.stderrPath, 'utf8')}`);
    }
    const res = await commsctl(['status', '--json'], { allowFail: true });
    return res.code === 0 ? parseJsonOutput(res.stdout, 'status') : null;
  }, { timeout: 20_000, interval: 100 }).catch((err) => {
    if (/exited early/.test(err.message)) throw err;
    throw new Error(`${err.message}\ncommsd stderr:\n${fs.readFileSync(sut.stderrPath, 'utf8')}`);
  });
  assert.match(status.dashboard_url, /^http:\/\/127\.0\.0\.1:\d+$/, 'status --json has the bound dashboard_url');
  sut.dashboardUrl = status.dashboard_url.replace(/\/$/, '');
  console.log(`# commsd ${status.version} (pid ${status.pid}) dashboard on ${sut.dashboardUrl}; temp dir ${sut.tmp}`);

  sut.browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (sut.browser) await sut.browser.close().catch(() => {});
  if (sut.daemon && !sut.daemon.exitInfo) {
    await commsctl(['daemon', 'stop'], { allowFail: true, timeout: 15_000 }).catch(() => {});
    const exited = await waitFor('commsd to exit', () => Boolean(sut.daemon.exitInfo), { timeout: WAIT_MS }).catch(() => false);
    if (!exited) {
      console.log('# commsd did not stop after `commsctl daemon stop`; killing it');
      sut.daemon.kill('SIGKILL');
    }
  }
  if (sut.failed && sut.stderrPath && fs.existsSync(sut.stderrPath)) {
    console.log(`# ---- commsd stderr (${sut.stderrPath}) ----`);
    console.log(fs.readFileSync(sut.stderrPath, 'utf8').split('\n').map((l) => `# ${l}`).join('\n'));
    console.log('# ---- end of commsd stderr ----');
  }
  const screenshotsInTmp = sut.screenshotDir === sut.tmp;
  if (sut.tmp && !sut.failed && !screenshotsInTmp && process.env.E2E_KEEP_TMP !== '1') {
    fs.rmSync(sut.tmp, { recursive: true, force: true });
  } else if (sut.tmp) {
    console.log(`# kept temp dir ${sut.tmp}`);
  }
});

// Never leave a daemon behind, whatever happens.
process.on('exit', () => {
  if (sut.daemon && !sut.daemon.exitInfo) {
    try { sut.daemon.kill('SIGKILL'); } catch (_) { /* already gone */ }
  }
});

// ------------------------------------------------------------------ scenarios

scenario('1. login: one-time link signs in, is refused a second time, no cookie gets the help page', async () => {
  const { url } = await commsctlJson(['dashboard', '--no-browser', '--json']);
  assert.ok(url.startsWith(`${sut.dashboardUrl}/login?token=`), `login URL ${url} is on ${sut.dashboardUrl}/login?token=`);

  const context = await sut.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (err) => sut.pageErrors.push(err.message));
  await page.goto(url);
  await page.waitForURL((u) => new URL(u).pathname === '/review');
  await page.locator('[data-testid="review-page"]').waitFor();
  await page.locator('[data-testid="live-status"][data-state="connected"]').waitFor();
  assert.equal(await page.locator('[data-testid="session-expired"]').isVisible(), false, 'no session-expired banner');

  const cookies = await context.cookies(sut.dashboardUrl);
  assert.ok(cookies.length > 0, 'a session cookie was set');
  const session = cookies.find((c) => c.httpOnly);
  assert.ok(session, `the session cookie is HttpOnly: ${JSON.stringify(cookies)}`);
  assert.equal(session.sameSite, 'Strict', 'the session cookie is SameSite=Strict');
  sut.context = context;
  sut.page = page;

  // The same link a second time, from a browser without the cookie: refused.
  const again = await sut.browser.newContext();
  try {
    const p2 = await again.newPage();
    const res = await p2.goto(url);
    assert.equal(res.status(), 401, 'a used login link is refused with 401');
    assert.match(await p2.locator('body').innerText(), /commsctl dashboard/);
    assert.equal((await again.cookies(sut.dashboardUrl)).length, 0, 'a refused link sets no cookie');
  } finally {
    await again.close();
  }

  // No cookie at all: the login-help page, as a 401.
  const fresh = await sut.browser.newContext();
  try {
    const p3 = await fresh.newPage();
    const res = await p3.goto(`${sut.dashboardUrl}/review`);
    assert.equal(res.status(), 401, '/review without a session is 401');
    assert.match(await p3.locator('body').innerText(), /commsctl dashboard/, 'the 401 page says to run `commsctl dashboard`');
    const api = await p3.request.get(`${sut.dashboardUrl}/dashboard/api/items?state=pending_approval&limit=50`);
    assert.equal(api.status(), 401, 'the API without a session is 401');
  } finally {
    await fresh.close();
  }
});

scenario('2. live staging and approval: the row appears without reload, approval delivers to the Maildir', async () => {
  const page = await signedInPage();
  await openReview(page);
  await page.evaluate(() => { window.__e2eNoReload = true; });

  const subject = 'Your appointment on Tuesday';
  const { item } = await stageEmail({
    to: 'Jane Roe <jane@example.org>',
    subject,
    body: 'Dear Jane, this is to confirm your appointment on Tuesday at 9:30. Kind regards, the practice',
  });
  assert.equal(item.state, 'pending_approval', 'a staged email waits for approval');
  assert.match(item.id, /^ob_/);

  await row(page, item.id).waitFor();
  assert.equal(await page.evaluate(() => window.__e2eNoReload), true, 'the row appeared without a page reload');
  assert.match(await row(page, item.id).innerText(), /jane@example\.org/);

  await openItem(page, item.id);
  assert.equal((await page.locator('[data-testid="detail-subject"]').innerText()).trim(), subject);
  assert.match(await page.locator('[data-testid="detail-to"]').innerText(), /Jane Roe <jane@example\.org>/);
  assert.match(await page.locator('[data-testid="preview-text"]').innerText(), /Dear Jane/);
  assert.equal(await page.locator('[data-testid="approve-button"]').isEnabled(), true);

  await page.locator('[data-testid="approve-button"]').click();
  await page.waitForURL((u) => new URL(u).pathname === '/review');
  await page.locator('[data-testid="flash"]').waitFor();
  await row(page, item.id).waitFor({ state: 'detached' });

  const mail = await waitForMail(subject);
  assert.ok(mail.headers.includes(`Subject: ${subject}`), `Subject header in ${mail.file}`);
  // lettre quotes display names ("Jane Roe"), which RFC 5322 allows either way.
  assert.ok(mail.headers.includes('To: "Jane Roe" <jane@example.org>'), `To header in ${mail.file}:\n${mail.headers.join('\n')}`);

  await page.locator('[data-testid="nav-audit"]').click();
  await page.waitForURL((u) => new URL(u).pathname === '/audit');
  for (const action of ['staged', 'approved', 'sent']) {
    await page.locator(`[data-testid="audit-event"][data-action="${action}"][data-item-id="${item.id}"]`).first().waitFor();
  }
});

scenario('3. reject path: a reason is required, the item is rejected and nothing is delivered', async () => {
  const page = await signedInPage();
  await openReview(page);
  const subject = 'Your test results are ready';
  const { item } = await stageEmail({
    to: 'John Doe <john.doe@example.org>',
    subject,
    body: 'Dear John, your test results are ready. Please call us.',
  });
  await row(page, item.id).waitFor();
  await openItem(page, item.id);

  await page.locator('[data-testid="reject-button"]').click();
  const reason = page.locator('[data-testid="reject-reason"]');
  await reason.waitFor();
  // An empty reason is refused in the page and nothing is sent to the daemon.
  await page.locator('[data-testid="reject-submit"]').click();
  await page.locator('[data-testid="reject-error"]').waitFor();
  assert.equal((await showItem(item.id)).state, 'pending_approval');

  await reason.fill('Wrong patient');
  await page.locator('[data-testid="reject-submit"]').click();
  await page.waitForURL((u) => new URL(u).pathname === '/review');

  const shown = await waitForState(item.id, (it) => it.state === 'rejected', 'rejected');
  assert.ok(shown.rejection, 'rejection is recorded');
  assert.equal(shown.rejection.reason, 'Wrong patient');
  // A rejected item is final; give a wrongly started dispatch a moment to show itself.
  await sleep(1000);
  assert.equal(mailsWithSubject(subject).length, 0, 'a rejected message is not delivered');
});

scenario('4. edit drops approval: the UI says so, the CLI shows approval null, the edited text is delivered', async () => {
  const page = await signedInPage();
  await openReview(page);
  const oldSubject = 'Vaccination reminder';
  const newSubject = 'Your flu vaccination is due';
  const { item } = await stageEmail({
    to: 'Max Mustermann <max@example.org>',
    subject: oldSubject,
    body: 'Dear Max, your flu vaccination is due. Please book an appointment.',
  });
  await row(page, item.id).waitFor();
  await openItem(page, item.id);

  await page.locator('[data-testid="edit-button"]').click();
  const subjectField = page.locator('[data-testid="edit-subject"]');
  await subjectField.waitFor();
  await subjectField.fill(newSubject);
  await page.locator('[data-testid="edit-save"]').click();

  const notice = page.locator('[data-testid="reapproval-notice"]');
  await notice.waitFor();
  assert.match(await notice.innerText(), /approved again/i, 'the UI says approval is required again');
  assert.equal((await page.locator('[data-testid="detail-subject"]').innerText()).trim(), newSubject);

  const shown = await showItem(item.id);
  assert.equal(shown.approval, null, 'an edit leaves no approval');
  assert.equal(shown.state, 'pending_approval');
  assert.equal(shown.content.subject, newSubject);

  await page.locator('[data-testid="approve-button"]').click();
  await page.waitForURL((u) => new URL(u).pathname === '/review');
  const mail = await waitForMail(newSubject);
  assert.ok(mail.headers.includes(`Subject: ${newSubject}`));
  assert.equal(mailsWithSubject(oldSubject).length, 0, 'the pre-edit subject is never delivered');
});

scenario('5. security: CSRF token, Origin, Host and cookie are all required for a POST', async () => {
  await signedInPage();
  const { item } = await stageEmail({
    to: 'Erika Musterfrau <erika@example.org>',
    subject: 'Security probe',
    body: 'This must not be approved by a forged request.',
  });
  const cookies = await sut.context.cookies(sut.dashboardUrl);
  const cookie = cookies.map((c) => `${c.name}=${c.value}`).join('; ');
  const origin = new URL(sut.dashboardUrl).origin;
  const approveUrl = `${sut.dashboardUrl}/dashboard/api/items/${encodeURIComponent(item.id)}/approve`;

  const sessionRes = await httpRequest(`${sut.dashboardUrl}/dashboard/api/session`, { headers: { Cookie: cookie, Accept: 'application/json' } });
  assert.equal(sessionRes.status, 200, `GET /dashboard/api/session with the cookie: ${sessionRes.body}`);
  const csrf = JSON.parse(sessionRes.body).csrfToken;
  assert.ok(csrf, 'the session has a CSRF token');

  const base = { 'Content-Type': 'application/json', Accept: 'application/json', Cookie: cookie, Origin: origin };
  const probes = [
    { name: 'without X-CSRF-Token', headers: { ...base }, expect: [403] },
    { name: 'with a foreign Origin', headers: { ...base, 'X-CSRF-Token': csrf, Origin: 'http://evil.example' }, expect: [403] },
    { name: 'with Host: evil.example', headers: { ...base, 'X-CSRF-Token': csrf, Host: 'evil.example' }, expect: [403, 421] },
    { name: 'without the session cookie', headers: { 'Content-Type': 'application/json', Accept: 'application/json', Origin: origin, 'X-CSRF-Token': csrf }, expect: [401] },
  ];
  for (const probe of probes) {
    const res = await httpRequest(approveUrl, { method: 'POST', headers: probe.headers, body: '{}' });
    assert.ok(probe.expect.includes(res.status), `POST approve ${probe.name}: expected ${probe.expect.join(' or ')}, got ${res.status} ${res.body}`);
    const shown = await showItem(item.id);
    assert.equal(shown.state, 'pending_approval', `after the request ${probe.name} the item is unchanged`);
    assert.equal(shown.approval, null);
  }

  // Control: the same request done right is accepted, so the refusals above were about the probes.
  const ok = await httpRequest(approveUrl, { method: 'POST', headers: { ...base, 'X-CSRF-Token': csrf }, body: '{}' });
  assert.equal(ok.status, 200, `a correct POST approve is accepted: ${ok.body}`);
  assert.notEqual(JSON.parse(ok.body).state, 'pending_approval');
});

scenario('6. screenshot of the review queue with a few pending items', async () => {
  const page = await signedInPage();
  await openReview(page);

  const staged = [];
  const high = await stageEmail({
    to: 'Max Mustermann <max.mustermann@example.net>',
    subject: 'Lab results: please call the practice',
    body: 'Dear Mr. Mustermann,\n\nyour lab results have arrived. Please call us to arrange a short appointment.\n\nKind regards,\nthe practice',
    extra: ['--priority', 'high'],
  });
  staged.push(high);
  const sms = await stageSms({ to: '+14155550100', body: 'Reminder: your appointment with Dr. Weber is tomorrow at 10:15. Reply C to cancel.' });
  staged.push(sms);
  const low = await stageEmail({
    to: 'patients@example.org',
    subject: 'The practice is closed on 24 December',
    body: 'Dear patients,\n\nthe practice is closed on 24 December. In urgent cases, call the on-call service.',
    extra: ['--priority', 'low'],
  });
  staged.push(low);

  for (const { item } of staged) await row(page, item.id).waitFor();
  const order = await page.locator('[data-testid="item-row"]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id')));
  if (high.accepted && low.accepted) {
    const at = (s) => order.indexOf(s.item.id);
    assert.ok(at(high) < at(sms) && at(sms) < at(low), `high before normal before low: ${order.join(', ')}`);
    assert.equal(await row(page, high.item.id).getAttribute('data-priority'), 'high');
  }

  // Keyboard: j focuses the first row, x selects it, x again unselects it.
  await page.locator('h1').first().focus();
  await page.keyboard.press('j');
  const focusedId = await page.evaluate(() => document.activeElement.closest('[data-testid="item-row"]')?.getAttribute('data-id'));
  assert.equal(focusedId, order[0], 'j moves to the first row');
  await page.keyboard.press('x');
  assert.equal((await page.locator('[data-testid="batch-approve"]').innerText()).trim(), 'Approve selected (1)');
  await page.keyboard.press('x');
  assert.equal((await page.locator('[data-testid="batch-approve"]').innerText()).trim(), 'Approve selected (0)');

  // The nav badge follows live: it ends up counting exactly the pending rows shown.
  await waitFor('the pending-count badge to match the rows shown', async () => {
    const rows = await page.locator('[data-testid="item-row"]').count();
    const badge = (await page.locator('[data-testid="pending-count"]').innerText()).trim();
    return badge === String(rows);
  });

  await page.mouse.move(0, 0);
  const reviewPng = path.join(sut.screenshotDir, 'review.png');
  await page.screenshot({ path: reviewPng, animations: 'disabled' });
  console.log(`# screenshot: ${reviewPng}`);

  await openItem(page, high.item.id);
  const detailPng = path.join(sut.screenshotDir, 'detail.png');
  await page.screenshot({ path: detailPng, animations: 'disabled' });
  console.log(`# screenshot: ${detailPng}`);

  assert.deepEqual(sut.pageErrors, [], 'no uncaught errors in the dashboard page');
});

scenario('7. accounts page: the sandbox is listed as the default, from the nav', async () => {
  const page = await signedInPage();
  await openReview(page);
  await page.locator('[data-testid="nav-accounts"]').click();
  await page.waitForURL((u) => new URL(u).pathname === '/accounts');
  const sandbox = page.locator('[data-testid="account-row"][data-account-id="sandbox"]');
  await sandbox.waitFor();
  assert.equal(await sandbox.getAttribute('data-state'), 'active');
  assert.equal(await sandbox.locator('[data-testid="account-default"]').count(), 1, 'the sandbox is the default');
  assert.equal(await page.locator('[data-testid="accounts-attention"]').count(), 0, 'nothing needs attention');
  const accountsPng = path.join(sut.screenshotDir, 'accounts.png');
  await page.screenshot({ path: accountsPng, animations: 'disabled' });
  console.log(`# screenshot: ${accountsPng}`);
  assert.deepEqual(sut.pageErrors, [], 'no uncaught errors in the dashboard page');
});

scenario('8. status page: Gmail cache and quota counters in a card of their own', async () => {
  const page = await signedInPage();
  await page.goto(`${sut.dashboardUrl}/status`);
  await page.locator('[data-testid="status-gmail"]').waitFor();
  const status = await commsctlJson(['status', '--json']);
  for (const [testid, key] of [
    ['gmail-hits', 'gmail_cache_hits'],
    ['gmail-misses', 'gmail_cache_misses'],
    ['gmail-upstream-requests', 'gmail_upstream_requests'],
    ['gmail-quota-units', 'gmail_quota_units'],
    ['gmail-requests-saved', 'gmail_requests_saved'],
  ]) {
    const shown = (await page.locator(`[data-testid="${testid}"]`).innerText()).trim();
    assert.equal(shown, String(status.counts[key]), `${testid} shows the daemon's ${key}`);
  }
  const pageText = await page.locator('.status-body').innerText();
  assert.ok(!/^\s*null/.test(pageText), `no stray "null" where the warnings go: ${pageText.slice(0, 40)}`);
  // The generic counters table leaves them to the Gmail card.
  const generic = await page.locator('[data-testid="status-counts"]').innerText();
  assert.ok(!/gmail/i.test(generic), `no Gmail rows among the daemon counters: ${generic}`);
  const statusPng = path.join(sut.screenshotDir, 'status.png');
  await page.screenshot({ path: statusPng, animations: 'disabled', fullPage: true });
  console.log(`# screenshot: ${statusPng}`);
  assert.deepEqual(sut.pageErrors, [], 'no uncaught errors in the dashboard page');
});

scenario('9. text messages: a received SMS appears live as a thread, its text as text; an SMS preview shows UCS-2, segments and cost', async () => {
  const page = await signedInPage();
  await openReview(page);
  await page.locator('[data-testid="nav-texts"]').click();
  await page.waitForURL((u) => new URL(u).pathname === '/texts');
  await page.locator('[data-testid="texts-page"]').waitFor();
  assert.equal(await page.locator('[data-testid="nav-texts"]').getAttribute('aria-current'), 'page');

  // Received while the page is open: the SSE `received` event (channel sms) refreshes it.
  const hostile = 'Can I move it to 3pm? <img src=x onerror="window.__pwned=1"><b>bold</b>';
  await commsctl(['sandbox', 'receive', 'sms', '--from', '+14155550123', '--body', hostile]);
  const thread = page.locator('[data-testid="sms-thread-row"]', { hasText: '+14155550123' });
  await thread.waitFor();
  assert.equal(await thread.locator('[data-testid="sms-thread-last"]').innerText(), hostile, 'the last message, as text');
  assert.match(await thread.locator('[data-testid="sms-thread-count"]').innerText(), /^1 message$/);
  assert.equal(await thread.locator('time').count(), 1, 'the time of the last message');
  assert.equal(await page.locator('[data-testid="sms-threads"] img, [data-testid="sms-threads"] b').count(), 0, 'untrusted text never becomes HTML');

  // A second message to the same thread: the count moves, live.
  await commsctl(['sandbox', 'receive', 'sms', '--from', '+14155550123', '--body', 'Or Thursday.']);
  await waitFor('the thread to count 2 messages', async () => /^2 messages$/.test(await thread.locator('[data-testid="sms-thread-count"]').innerText()));

  await thread.locator('[data-testid="sms-thread-link"]').click();
  await page.waitForURL((u) => new URL(u).pathname.startsWith('/texts/'));
  const messages = page.locator('[data-testid="sms-message"]');
  await waitFor('2 messages in the thread', async () => (await messages.count()) === 2);
  assert.deepEqual(await messages.evaluateAll((els) => els.map((e) => e.getAttribute('data-direction'))), ['inbound', 'inbound']);
  assert.equal(await messages.nth(0).locator('[data-testid="sms-text"]').innerText(), hostile, 'oldest first, as text');
  assert.equal(await messages.nth(1).locator('[data-testid="sms-text"]').innerText(), 'Or Thursday.');
  assert.equal(await page.locator('[data-testid="sms-messages"] img').count(), 0);
  assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no script ran');
  await page.locator('[data-testid="sms-untrusted"]').waitFor();

  // The preview of an SMS with a smart quote: UCS-2, its segments, the cost, and why.
  const body = 'It’s Dr. Weber’s office: your appointment is tomorrow at 10:15. Reply C to cancel or R to reschedule; bring your insurance card, please. Thanks!';
  const { item } = await stageSms({ to: '+14155550100', body });
  await page.goto(`${sut.dashboardUrl}/review/${item.id}`);
  await page.locator('[data-testid="sms-segments"]').waitFor();
  const viewed = await page.evaluate(async (id) => (await fetch(`/dashboard/api/items/${id}`)).json(), item.id);
  const preview = viewed.content.segments;
  assert.equal(preview.encoding, 'UCS-2');
  assert.equal(await page.locator('[data-testid="sms-encoding"]').innerText(), 'UCS-2');
  assert.equal(await page.locator('[data-testid="sms-segment-count"]').innerText(), `${preview.segments} segments (${preview.characters} characters)`);
  assert.ok(preview.segments >= 3, `a smart quote makes ${preview.characters} characters ${preview.segments} segments`);
  assert.match(await page.locator('[data-testid="sms-cost"]').innerText(), new RegExp(`^about ${String(preview.estimatedCost).replace('.', '\\.')} `));
  const why = await page.locator('[data-testid="sms-ucs2"]').innerText();
  assert.match(why, /UCS-2/);
  assert.match(why, /’ \(U\+2019\)/, `names the smart quote: ${why}`);

  // Approved, the sandbox sends it: its thread lists it as sent.
  await page.locator('[data-testid="live-status"][data-state="connected"]').waitFor();
  await page.locator('[data-testid="approve-button"]').click();
  await waitForState(item.id, (i) => i.state === 'sent', 'sent');
  await page.goto(`${sut.dashboardUrl}/texts`);
  const sent = page.locator('[data-testid="sms-thread-row"]', { hasText: '+14155550100' });
  await sent.waitFor();
  assert.match(await sent.innerText(), /You sent:/);
  assert.equal(await sent.locator('[data-testid="sms-thread-last"]').innerText(), body);
  const textsPng = path.join(sut.screenshotDir, 'texts.png');
  await page.screenshot({ path: textsPng, animations: 'disabled', fullPage: true });
  console.log(`# screenshot: ${textsPng}`);
  assert.deepEqual(sut.pageErrors, [], 'no uncaught errors in the dashboard page');
});

scenario('10. inbox: a message delivered while the page is open appears without a reload, unread first; search finds it; its text stays text', async () => {
  const page = await signedInPage();
  await openReview(page);
  await page.locator('[data-testid="nav-inbox"]').click();
  await page.waitForURL((u) => new URL(u).pathname === '/inbox');
  await page.locator('[data-testid="inbox-page"]').waitFor();
  assert.equal(await page.locator('[data-testid="nav-inbox"]').getAttribute('aria-current'), 'page');
  await page.locator('[data-testid="live-status"][data-state="connected"]').waitFor();

  const hostile = 'Résumé attached <img src=x onerror="window.__pwned=1"><b>INV-20931</b>';
  await commsctl(['sandbox', 'receive', 'chat', '--from', 'Front Desk', '--space', 'spaces/team', '--body', hostile]);
  const row = page.locator('[data-testid="inbox-row"]', { hasText: 'INV-20931' });
  await row.waitFor();
  assert.equal(await row.getAttribute('data-unread'), 'true');
  assert.equal(await row.locator('[data-testid="inbox-what"]').innerText(), hostile, 'the text, as text');
  assert.equal(await page.locator('[data-testid="inbox-list"] img, [data-testid="inbox-list"] b').count(), 0, 'untrusted text never becomes HTML');

  // Search: accents and case folded, operators are text.
  await page.locator('[data-testid="inbox-search"]').fill('resume inv-20931');
  await page.locator('[data-testid="inbox-form"] button[type="submit"]').click();
  await waitFor('one search result', async () => (await page.locator('[data-testid="inbox-row"]').count()) === 1);
  await page.locator('[data-testid="inbox-search"]').fill('"resume OR nothing');
  await page.locator('[data-testid="inbox-form"] button[type="submit"]').click();
  await page.locator('[data-testid="inbox-empty"]').waitFor();
  assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no script ran');
  const inboxPng = path.join(sut.screenshotDir, 'inbox.png');
  await page.screenshot({ path: inboxPng, animations: 'disabled', fullPage: true });
  console.log(`# screenshot: ${inboxPng}`);
  assert.deepEqual(sut.pageErrors, [], 'no uncaught errors in the dashboard page');
});

scenario('11. addressing by name: the item page shows what a name became, in a "By name" row, as text', async () => {
  const page = await signedInPage();
  await openReview(page);

  // A name from the sandbox's local address book.
  const { item } = await stageEmail({ to: 'Ada Lovelace', subject: 'Your results', body: 'They are ready.' });
  assert.deepEqual(item.content.to, ['ada@example.com'], 'staging resolved the name');
  assert.equal(item.addressing[0].asked, 'Ada Lovelace');
  await row(page, item.id).waitFor();
  await openItem(page, item.id);
  assert.match(await page.locator('[data-testid="detail-to"]').innerText(), /ada@example\.com/);
  const byName = page.locator('[data-testid="detail-addressing"]');
  assert.equal((await byName.innerText()).trim(),
    'Ada Lovelace → ada@example.com (local address book, sandbox account)');

  // A contact whose name is markup: the row shows it as text.
  const hostile = 'Eve <img src=x onerror="window.__pwned=2"><b>Mallory</b>';
  const created = await commsctlJson(['contacts', 'add', '--name', hostile, '--email', 'eve@example.net', '--json']);
  const { item: eve } = await stageEmail({ to: `contact:${created.id}`, subject: 'Hello Eve', body: 'Hello.' });
  await openReview(page);
  await row(page, eve.id).waitFor();
  await openItem(page, eve.id);
  assert.equal((await byName.innerText()).trim(),
    `${hostile} → eve@example.net (local address book, sandbox account)`);
  assert.equal(await page.locator('[data-testid="envelope"] img, [data-testid="envelope"] b').count(), 0,
    'a contact name never becomes HTML');
  assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no script ran');
  const png = path.join(sut.screenshotDir, 'addressing.png');
  await page.screenshot({ path: png, animations: 'disabled', fullPage: true });
  console.log(`# screenshot: ${png}`);
  assert.deepEqual(sut.pageErrors, [], 'no uncaught errors in the dashboard page');
});

scenario('12. inbox reply: the Reply button stages a reply for approval; a chat conversation opens oldest first with its own reply', async () => {
  const page = await signedInPage();
  await page.goto(`${sut.dashboardUrl}/inbox`);
  await page.locator('[data-testid="inbox-page"]').waitFor();
  await page.locator('[data-testid="live-status"][data-state="connected"]').waitFor();
  await commsctl(['sandbox', 'receive', 'chat', '--from', 'Dr Lee', '--space', 'spaces/rota', '--body', 'Who covers room 5 today?']);
  const row = page.locator('[data-testid="inbox-row"]', { hasText: 'room 5' });
  await row.waitFor();

  await row.locator('[data-testid="inbox-reply"]').click();
  const form = page.locator('[data-testid="reply-form"]');
  await form.waitFor();
  await form.locator('[data-testid="reply-text"]').fill('Dr Chen covers room 5');
  await form.locator('[data-testid="reply-stage"]').click();
  const link = form.locator('[data-testid="reply-item"]');
  await link.waitFor();
  const id = (await link.innerText()).replace(/^item /, '');
  const replyPng = path.join(sut.screenshotDir, 'inbox-reply.png');
  await page.screenshot({ path: replyPng, animations: 'disabled', fullPage: true });
  console.log(`# screenshot: ${replyPng}`);
  const shown = await commsctlJson(['outbox', 'show', id, '--json']);
  const flat = JSON.stringify(shown);
  assert.ok(flat.includes('pending_approval'), `the reply waits for a human: ${flat}`);
  assert.ok(flat.includes('spaces/rota') && flat.includes('Dr Chen covers room 5'), `in the same space: ${flat}`);

  // The conversation view: the thread's messages, and a reply to its latest.
  await commsctl(['sandbox', 'receive', 'chat', '--from', 'Front Desk', '--space', 'spaces/rota', '--body', 'Thanks!']);
  await waitFor('the second rota message', async () => (await page.locator('[data-testid="inbox-row"]', { hasText: 'Thanks!' }).count()) === 1);
  await page.locator('[data-testid="inbox-row"]', { hasText: 'Thanks!' }).locator('[data-testid="inbox-conversation"]').click();
  await page.locator('[data-testid="conversation-page"]').waitFor();
  const texts = await page.locator('[data-testid="conversation-message"] .sms-text').allInnerTexts();
  assert.deepEqual(texts, ['Who covers room 5 today?', 'Thanks!'], 'oldest first, one thread');
  await page.locator('[data-testid="conversation-page"] [data-testid="reply-text"]').fill('You are welcome');
  await page.locator('[data-testid="conversation-page"] [data-testid="reply-stage"]').click();
  await page.locator('[data-testid="conversation-page"] [data-testid="reply-item"]').waitFor();
  const conversationPng = path.join(sut.screenshotDir, 'conversation.png');
  await page.screenshot({ path: conversationPng, animations: 'disabled', fullPage: true });
  console.log(`# screenshot: ${conversationPng}`);
  assert.deepEqual(sut.pageErrors, [], 'no uncaught errors in the dashboard page');
});
