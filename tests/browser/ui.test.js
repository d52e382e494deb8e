// The web UI of `wflow serve` in a real browser: Debian's chromium driven by playwright-core,
// against the real binary on loopback with an --auth file, a temp SQLite store and the
// fixture project (tests/browser/fixtures). Screenshots of each step go to
// target/browser-screenshots/; the figures (node status latency, the 1,000-run list, the
// assets' compressed size) are printed.
//
// WFLOW_BIN names the binary (default: $CARGO_TARGET_DIR or target/, then debug/wflow);
// CHROMIUM the browser (default /usr/bin/chromium); WFLOW_UI_STORE a PostgreSQL URL of an
// empty database to use instead of a temp SQLite file. Nothing is downloaded.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(repo, process.env.CARGO_TARGET_DIR) : path.join(repo, 'target');
const BIN = process.env.WFLOW_BIN || path.join(targetDir, 'debug', 'wflow');
const SHOTS = path.join(repo, 'target', 'browser-screenshots');
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

// The deploy webhook's token (a secret): sent to the hook, never shown.
const DEPLOY_TOKEN = 'deploy-token-5b0e94d1c7a3';

const USERS = {
  admin: { token: 'admin-token-0123456789', email: 'admin@acme.io', roles: ['Admin'] },
  requester: { token: 'requester-token-0123456789', email: 'dev@acme.io', roles: ['Member'], teams: ['web'] },
  approver: { token: 'approver-token-0123456789', email: 'approver@acme.io', roles: ['Reviewer'] },
  outsider: { token: 'outsider-token-0123456789', email: 'guest@acme.io', roles: ['Guest'] },
};

let scratch;
let server; // { child, base }
let hook; // the loopback webhook target
let browser;
const figures = {};
let shot = 0;

/** Starts `wflow serve` and resolves with its base URL once it prints where it serves. */
function startServer(flows, auth, store) {
  const authArgs = auth ? ['--auth', auth] : [];
  const env = { ...process.env, NO_COLOR: '1', WFLOW_SECRET_DEPLOY_TOKEN: DEPLOY_TOKEN };
  delete env.WFLOW_CONFIG;
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--store', store, ...authArgs, flows], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    const timer = setTimeout(() => reject(new Error(`wflow serve did not start:\n${log}`)), 20000);
    child.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot start ${BIN}: ${e.message} (build it with cargo build -p wflow)`)); });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`wflow serve exited (${code}):\n${log}`)); });
    child.stderr.on('data', (d) => {
      log += d;
      const m = /serving .* on (http:\/\/[0-9.:]+)\r?\n/.exec(log);
      if (m) { clearTimeout(timer); resolve({ child, base: m[1], log: () => log }); }
    });
  });
}

/** The API as `who` (a bearer token), for the setup. */
async function api(method, p, body, who = USERS.admin) {
  const resp = await fetch(server.base + p, {
    method,
    headers: { Authorization: `Bearer ${who.token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  try {
    return { status: resp.status, data: JSON.parse(text) };
  } catch {
    throw new Error(`${method} ${p}: ${resp.status} ${text}`);
  }
}

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of (401|403|404|422)/.test(m.text())) page.problems.push(`console: ${m.text()}`); });
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (!['127.0.0.1', 'localhost'].includes(u.hostname) && u.protocol !== 'data:') page.problems.push(`third-party request: ${r.url()}`);
  });
  return page;
}

async function signIn(page, who) {
  await page.goto(`${server.base}/ui/`);
  await page.waitForURL(/\/ui\/signin/);
  await page.getByLabel('Token').fill(who.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForSelector('h1:text("Self-service")');
}

/** axe-core on the page as it is: no serious or critical violations. */
async function axe(page, name) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const said = bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(said, [], `axe on ${name}`);
}

async function snap(page, name, fullPage = true) {
  shot += 1;
  await page.screenshot({ path: path.join(SHOTS, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage });
}

function noProblems(page) {
  assert.deepEqual(page.problems, []);
}

// Whatever happens to this process, the server it started does not outlive it.
process.on('exit', () => { if (server) server.child.kill('SIGKILL'); });

describe('the web UI in chromium', () => {
  let requester;
  let approver;
  let runId;

  before(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    for (const f of fs.readdirSync(SHOTS)) if (f.endsWith('.png')) fs.rmSync(path.join(SHOTS, f));
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'wflow-browser-'));
    hook = http.createServer((req, res) => {
      if (req.url.startsWith('/deploy/')) hook.deployAuth = req.headers.authorization;
      req.resume();
      req.on('end', () => {
        // `/hold` calls wait until the test lets them go (hook.held holds their answers).
        if (req.url === '/hold') {
          hook.held.push(() => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('{}'); });
          return;
        }
        const failing = hook.failing && req.url === '/ping';
        res.writeHead(failing ? 500 : 200, { 'Content-Type': 'application/json' });
        res.end(failing ? '{"error":"down"}' : '{"deployed":true}');
      });
    });
    hook.held = [];
    await new Promise((r) => hook.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${hook.address().port}`;
    const flows = path.join(scratch, 'flows');
    fs.mkdirSync(flows);
    const src = fs.readFileSync(path.join(here, 'fixtures', 'flows', 'release.wflow'), 'utf8');
    fs.writeFileSync(path.join(flows, 'release.wflow'), src.replaceAll('__HOOK__', hookUrl));
    const auth = path.join(scratch, 'users.json');
    fs.writeFileSync(auth, JSON.stringify({ users: Object.values(USERS) }));
    // WFLOW_UI_STORE: a PostgreSQL URL of an empty database, to run the same pages on it.
    server = await startServer(flows, auth, process.env.WFLOW_UI_STORE || path.join(scratch, 'wflow.db'));
    // The catalog the form's entity picker and the upsert need.
    const bp = { identifier: 'service', title: 'Service', schema: { properties: { lifecycle: { type: 'string' }, lastRegion: { type: 'string' } } } };
    assert.equal((await api('POST', '/v1/blueprints', bp)).status, 201);
    for (const [id, lifecycle] of [['api', 'Production'], ['web', 'Production'], ['old', 'Retired']]) {
      const e = await api('POST', '/v1/blueprints/service/entities', { identifier: id, title: `${id} service`, properties: { lifecycle } });
      assert.equal(e.status, 201, JSON.stringify(e.data));
    }
    // The workflow is served once its blueprint exists.
    for (let i = 0; i < 100; i++) {
      if ((await api('GET', '/v1/workflows/release')).status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
    });
    requester = await newPage();
    approver = await newPage();
  });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (server) {
      server.child.removeAllListeners('exit');
      server.child.kill('SIGTERM');
      await new Promise((r) => { const t = setTimeout(() => { server.child.kill('SIGKILL'); r(); }, 5000); server.child.once('exit', () => { clearTimeout(t); r(); }); });
    }
    if (hook) hook.close();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
    console.log(`figures: ${JSON.stringify(figures)}`);
  });

  it('signs in with a token and shows the self-service hub', async () => {
    const page = requester;
    await page.goto(`${server.base}/`);
    await page.waitForURL(/\/ui\/signin/);
    await axe(page, 'sign-in');
    await snap(page, 'sign-in');
    await page.getByLabel('Token').fill('not-a-token-of-this-server');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForSelector('#token-error:not([hidden])');
    await page.getByLabel('Token').fill(USERS.requester.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForSelector('h1:text("Self-service")');
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'wflow_session');
    assert.ok(session.httpOnly && session.sameSite === 'Strict', 'an HttpOnly, SameSite=Strict session cookie');
    assert.equal(await page.evaluate(() => document.cookie.includes('wflow_session')), false);
    await page.waitForSelector('.card[data-workflow="release"]');
    assert.match(await page.textContent('.category:has(.card[data-workflow="release"]) h2'), /Deployments/);
    assert.match(await page.textContent('.card[data-workflow="release"]'), /Release a Service.*Release a service to a region/s);
    await page.waitForSelector('text=dev@acme.io');
    await axe(page, 'hub');
    await snap(page, 'hub');
    noProblems(page);
  });

  it('fills the steps, recomputes the jq enum, shows each mistake at its field, then starts a run', async () => {
    const page = requester;
    await page.locator('.card[data-workflow="release"] .card-actions a').first().click();
    await page.waitForSelector('h1:text("Release a Service")');
    await page.waitForSelector('.progress li[aria-current="step"]:text("Target")');
    const options = (sel) => page.$$eval(`${sel} option`, (os) => os.map((o) => o.textContent));
    assert.deepEqual(await options('#in-service'), ['— choose —', 'api service (api)', 'web service (web)'], 'the dataset leaves the retired service out');
    assert.equal(await page.isDisabled('#in-region'), true, 'the region depends on the tier');
    await page.selectOption('#in-tier', { label: 'silver' });
    await page.waitForFunction(() => document.querySelectorAll('#in-region option').length === 2);
    assert.deepEqual(await options('#in-region'), ['— choose —', 'eu']);
    await page.selectOption('#in-tier', { label: 'gold' });
    await page.waitForFunction(() => document.querySelectorAll('#in-region option').length === 4);
    assert.deepEqual(await options('#in-region'), ['— choose —', 'eu', 'us', 'all'], 'the enum is recomputed by the server');
    await page.selectOption('#in-region', { label: 'all' });
    await axe(page, 'form step 1');
    await snap(page, 'form-step-1');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.waitForSelector('.progress li[aria-current="step"]:text("Details")');
    assert.equal(await page.inputValue('#in-replicas'), '2', 'the default');
    await page.fill('#in-replicas', '12');
    await axe(page, 'form step 2');
    await snap(page, 'form-step-2');
    await page.getByRole('button', { name: 'Start release' }).click();
    await page.waitForSelector('#problems:not([hidden])');
    const summary = await page.textContent('#problems');
    assert.match(summary, /3 problems/);
    assert.match(summary, /At most 5 replicas/);
    assert.match(await page.textContent('#err-service'), /required/);
    assert.match(await page.textContent('#err-replicas'), /out of range/);
    assert.match(await page.textContent('fieldset[data-step="1"] .step-error'), /At most 5 replicas/, "the step's validation, in its step");
    assert.equal(await page.getAttribute('#in-service', 'aria-invalid'), 'true');
    assert.match(await page.getAttribute('#in-service', 'aria-describedby'), /err-service/);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'in-service', 'focus on the first mistake');
    await axe(page, 'form with problems');
    await snap(page, 'form-problems');
    await page.selectOption('#in-service', { label: 'api service (api)' });
    await page.getByRole('button', { name: 'Next' }).click();
    await page.fill('#in-replicas', '3');
    assert.deepEqual(await page.$$eval('#list-owner option', (os) => os.map((o) => o.value)), ['web'], "the team picker offers the user's teams");
    await page.fill('#in-owner', 'web');
    await page.fill('#in-after', '2030-01-02T03:04');
    await page.getByRole('button', { name: 'Start release' }).click();
    await page.waitForURL(/\/ui\/runs\/wfr_/);
    runId = page.url().split('/').pop();
    const started = (await api('GET', `/v1/workflows/runs/${runId}`)).data.run.variables.outputs.trigger;
    assert.equal(started.owner, 'web');
    assert.equal(new Date(started.after).getTime(), new Date('2030-01-02T03:04').getTime(), 'date-time sent as ISO 8601');
    await page.waitForSelector('[id="release.review"].status-waiting');
    await axe(page, 'run page');
    await snap(page, 'run-waiting');
    noProblems(page);
  });

  it('lets the approver approve in a second context; the run page shows it within 1 s and reaches SUCCESS', async () => {
    await signIn(approver, USERS.approver);
    // The approver may view the run while it waits for them, but not cancel it: no button.
    await approver.goto(`${server.base}/ui/runs/${runId}`);
    await approver.waitForSelector('[id="release.review"].status-waiting');
    assert.equal(await approver.getByRole('button', { name: 'Cancel run' }).count(), 0);
    await approver.getByRole('link', { name: 'Approvals waiting for me' }).click();
    await approver.waitForSelector(`.approval[data-run="${runId}"]`);
    assert.match(await approver.textContent(`.approval[data-run="${runId}"] .asked`), /Release api to all\?/);
    await axe(approver, 'approvals');
    await snap(approver, 'approvals');
    // The requester watches the run page (a page in front: hidden pages' timers are throttled).
    await requester.bringToFront();
    await requester.evaluate(() => {
      const g = document.getElementById('release.review');
      new MutationObserver(() => {
        if (!window.reviewDoneAt && g.classList.contains('status-succeeded')) window.reviewDoneAt = Date.now();
      }).observe(g, { attributes: true, attributeFilter: ['class'] });
    });
    const clicked = Date.now();
    const answered = approver.waitForResponse((r) => r.url().includes('/responses') && r.request().method() === 'POST');
    await approver.locator(`.approval[data-run="${runId}"]`).getByRole('button', { name: 'Approve' }).click();
    const resp = await answered;
    const changed = Date.now();
    assert.equal(resp.status(), 200);
    await requester.waitForSelector('[id="release.review"].status-succeeded', { timeout: 5000 });
    const seen = await requester.evaluate(() => window.reviewDoneAt);
    console.log(`click→response ${changed - clicked} ms, response→class ${seen - changed} ms, response→waitForSelector ${Date.now() - changed} ms`);
    // From the run's change (the review node run's completion, as the server recorded it) to
    // the class on the page (both clocks are this machine's).
    const after = await api('GET', `/v1/workflows/runs/${runId}`);
    const review = after.data.run.nodeRuns.find((n) => n.node.identifier === 'review');
    const latency = seen - Date.parse(review.completedAt);
    figures.nodeStatusLatencyMs = latency;
    const polls = await requester.evaluate(() => performance.getEntriesByType('resource')
      .filter((e) => /\/v1\/workflows\/runs\/wfr_[^/]+$/.test(e.name)).slice(-4).map((e) => Math.round(e.duration)));
    console.log(`the last polls took ${polls.join(', ')} ms`);
    console.log(`node status change shown ${latency} ms after the run changed`);
    assert.ok(latency < 1000, `the status change showed after ${latency} ms`);
    await approver.waitForSelector('.approval.answered');
    await snap(approver, 'approved');
    await requester.waitForSelector('[id="release.record"].status-succeeded', { timeout: 10000 });
    await requester.waitForSelector('.run-head .b-success');
    await requester.click('[id="release.review"]');
    await requester.waitForSelector('#node-panel:not([hidden]) .answers');
    assert.match(await requester.textContent('#node-panel .answers'), /approve by approver@acme\.io/);
    await requester.keyboard.press('Shift+Tab');
    await requester.focus('[id="release.record"]');
    await requester.keyboard.press('Enter');
    await requester.waitForSelector('#node-panel a[href="/ui/catalog/service/api"]');
    // The deploy node's panel shows the request as sent: templates rendered, the token redacted.
    await requester.click('[id="release.deploy"]');
    await requester.waitForSelector('#node-panel h3:text("Request (rendered)")');
    assert.equal(hook.deployAuth, `Bearer ${DEPLOY_TOKEN}`, 'the hook got the token');
    const sent = await requester.textContent('#node-panel');
    assert.match(sent, /"url": "http:\/\/127\.0\.0\.1:\d+\/deploy\/api"/);
    assert.match(sent, /"region": "all"/);
    assert.match(sent, /"Authorization": "Bearer \[REDACTED\]"/);
    assert.ok(!sent.includes('{{') && !sent.includes(DEPLOY_TOKEN.slice(-8)), sent);
    assert.ok(!(await requester.content()).includes(DEPLOY_TOKEN.slice(-8)), 'the token is nowhere on the page');
    await axe(requester, 'run page, finished');
    await snap(requester, 'run-success');
    // Re-run with the same inputs: a new run, waiting for its approval; then cancel it.
    await requester.getByRole('button', { name: 'Re-run with the same inputs' }).click();
    await requester.waitForURL((u) => /\/ui\/runs\/wfr_/.test(u.pathname) && !u.pathname.endsWith(runId));
    await requester.waitForSelector('[id="release.review"].status-waiting');
    await requester.getByRole('button', { name: 'Cancel run' }).click();
    await requester.waitForSelector('.run-head .b-cancelled');
    await snap(requester, 'rerun-cancelled');
    await requester.goBack();
    await requester.waitForSelector('[id="release.record"].status-succeeded');
    await requester.click('[id="release.record"]');
    await requester.click('#node-panel a[href="/ui/catalog/service/api"]');
    await requester.waitForSelector('h1:text("api service")');
    assert.match(await requester.textContent('main'), /lastRegion\s*all/);
    await axe(requester, 'entity');
    await snap(requester, 'entity');
    noProblems(requester);
    noProblems(approver);
  });

  it('shows a user without permission the refusal page', async () => {
    const page = await newPage();
    await signIn(page, USERS.outsider);
    assert.match(await page.textContent('main'), /no workflows that you may run/);
    await page.goto(`${server.base}/ui/workflows/release`);
    await page.waitForSelector('.refusal');
    assert.match(await page.textContent('.refusal'), /no workflow `release` that you can see/);
    await page.goto(`${server.base}/ui/runs/${runId}`);
    await page.waitForSelector('.refusal[data-status="403"]');
    assert.match(await page.textContent('.refusal'), /Not allowed.*you may not view run/s);
    await axe(page, 'refusal');
    await snap(page, 'refusal');
    await page.context().close();
  });

  it('says that everyone is an admin on a server without --auth', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wflow-browser-open-'));
    const flows = path.join(dir, 'flows');
    fs.mkdirSync(flows);
    fs.writeFileSync(path.join(flows, 'hello.wflow'), 'workflow hello "Hello" {\n  form trigger "Say hello" {}\n  webhook call "Call" { url "http://127.0.0.1:9/" }\n  flow { trigger -> call }\n}\n');
    const open = await startServer(flows, null, path.join(dir, 'wflow.db'));
    const page = await newPage();
    try {
      await page.goto(`${open.base}/ui/`);
      await page.waitForSelector('.card[data-workflow="hello"]');
      assert.match(await page.textContent('.banner'), /everyone who can reach it is an admin/);
      await axe(page, 'hub without --auth');
      await snap(page, 'no-auth-banner');
      noProblems(page);
    } finally {
      await page.context().close();
      open.child.removeAllListeners('exit');
      open.child.kill('SIGTERM');
      await new Promise((r) => open.child.once('exit', r));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('submits a form with the keyboard alone', async () => {
    const page = requester;
    await page.goto(`${server.base}/ui/`);
    await page.waitForSelector('.card[data-workflow="release"]');
    // To the card's button, then Enter.
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      if (await page.evaluate(() => document.activeElement.textContent.startsWith('Release:'))) break;
    }
    await page.keyboard.press('Enter');
    await page.waitForSelector('h1:text("Release a Service")');
    const focused = () => page.evaluate(() => document.activeElement.id);
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'in-service');
    await page.keyboard.press('ArrowDown'); // api
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'in-tier');
    await page.keyboard.press('ArrowDown'); // gold
    await page.waitForFunction(() => document.querySelectorAll('#in-region option').length === 4);
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'in-region');
    await page.keyboard.press('ArrowDown'); // eu
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Next');
    await page.keyboard.press('Space');
    await page.waitForSelector('.progress li[aria-current="step"]:text("Details")');
    assert.equal(await focused(), 'in-replicas', 'focus moves to the step');
    await snap(page, 'keyboard-step-2');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/ui\/runs\/wfr_/);
    await page.waitForSelector('[id="release.review"].status-waiting');
    const run = await api('GET', `/v1/workflows/runs/${page.url().split('/').pop()}`);
    assert.deepEqual(run.data.run.variables.outputs.trigger, { service: 'api', tier: 'gold', region: 'eu', replicas: 2 });
    await snap(page, 'keyboard-run');
    noProblems(page);
  });

  it('lists 1,000 runs in at most 300 ms, filters them, and passes axe on the list and catalog pages', async () => {
    const page = requester;
    let next = 0;
    const started = Date.now();
    const worker = async () => {
      while (next < 1000) {
        next += 1;
        const r = await api('POST', '/v1/workflows/ping/runs', {}, USERS.requester);
        assert.equal(r.status, 201, JSON.stringify(r.data));
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    console.log(`1,000 runs started through the API in ${Date.now() - started} ms`);
    await page.goto(`${server.base}/ui/runs?workflow=ping&limit=1000`);
    await page.waitForSelector('#run-count');
    await page.waitForFunction(() => performance.getEntriesByName('runs-list').length > 0);
    const rows = await page.$$eval('.runs .chunk [role=row]', (r) => r.length);
    assert.equal(rows, 1000);
    const [all, ms] = await page.evaluate(() => ['runs-list', 'runs-render'].map((n) => performance.getEntriesByName(n)[0].duration));
    figures.runsList1000RenderMs = Math.round(ms);
    figures.runsList1000WithFetchMs = Math.round(all);
    console.log(`the 1,000-run list rendered in ${ms.toFixed(1)} ms (${all.toFixed(1)} ms with the API's answer)`);
    assert.ok(ms <= 300, `the 1,000-run list took ${ms} ms to render`);
    await snap(page, 'runs-1000', false);
    // The filters (the API reads the newest runs, then filters them).
    await page.selectOption('#filter-status', 'IN_PROGRESS');
    await page.fill('#filter-createdBy', 'dev@acme.io');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/status=IN_PROGRESS&createdBy=dev%40acme.io/);
    await page.waitForFunction(() => !document.querySelector('.runs') || document.querySelectorAll('.runs .chunk [role=row]').length < 1000);
    const shown = await page.$$eval('.runs .chunk [role=row]', (rs) => rs.map((r) => [...r.children].slice(1, 4).map((c) => c.textContent)));
    assert.ok(shown.every(([, status, by]) => status === 'in progress' && by === 'dev@acme.io'), JSON.stringify(shown.slice(0, 5)));
    await axe(page, 'runs list');
    await page.getByRole('link', { name: 'Catalog' }).click();
    await page.waitForSelector('h1:text("Catalog")');
    await axe(page, 'catalog');
    await page.getByRole('link', { name: 'Service', exact: true }).click();
    await page.waitForSelector('h1:text("Service")');
    await axe(page, 'blueprint');
    await snap(page, 'blueprint');
    // A day-2 run: from an entity, the form of a workflow with an ENTITY context, filled.
    await page.getByRole('link', { name: 'api service' }).click();
    await page.waitForSelector('h1:text("api service")');
    await axe(page, 'entity');
    await page.getByRole('link', { name: 'Release', exact: true }).click();
    await page.waitForURL(/\/ui\/workflows\/release\?trigger=trigger&entity=api$/);
    await page.waitForFunction(() => {
      const el = document.getElementById('in-service');
      return el && el.selectedOptions.length === 1 && el.selectedOptions[0].textContent.includes('api');
    });
    await snap(page, 'form-from-entity');
    noProblems(page);
  });

  it('retries a failed run from its failed node', async () => {
    const page = requester;
    hook.failing = true;
    const started = await api('POST', '/v1/workflows/ping/runs', {}, USERS.requester);
    assert.equal(started.status, 201);
    const id = started.data.run.identifier;
    await page.goto(`${server.base}/ui/runs/${id}`);
    await page.waitForSelector('.run-head .b-failed', { timeout: 20000 });
    await page.waitForSelector('[id="ping.call"].status-failed');
    await page.click('[id="ping.call"]');
    await page.waitForSelector('#node-panel .log-error, #node-panel .logs');
    await axe(page, 'failed run');
    await snap(page, 'run-failed');
    hook.failing = false;
    await page.getByRole('button', { name: 'Retry from the failed node' }).click();
    await page.waitForSelector('.run-head .b-success', { timeout: 20000 });
    await page.waitForSelector('[id="ping.call"].status-succeeded');
    await snap(page, 'run-retried');
    noProblems(page);
  });

  it('shows a queued run where it stands until its turn comes', async () => {
    const page = requester;
    const start = async () => {
      const r = await api('POST', '/v1/workflows/serial/runs', {}, USERS.requester);
      assert.equal(r.status, 201, JSON.stringify(r.data));
      return r.data.run;
    };
    const first = await start();
    for (let i = 0; i < 100 && hook.held.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(hook.held.length, 1, 'the first run is calling the hook');
    const second = await start();
    const third = await start();
    assert.deepEqual([first.status, second.status, third.status], ['IN_PROGRESS', 'QUEUED', 'QUEUED']);
    await page.goto(`${server.base}/ui/runs/${third.identifier}`);
    await page.waitForSelector('.run-head .queue');
    assert.equal(await page.textContent('.run-head .queue'), 'Waiting for its turn: 1 run ahead of it, 1 in progress (at most 1 at once).');
    await axe(page, 'queued run');
    await snap(page, 'run-queued');
    await page.goto(`${server.base}/ui/runs/${second.identifier}`);
    await page.waitForSelector('.run-head .queue:text("next in line")');
    // The first run ends: the second takes its place, and its page follows it to the end.
    hook.held.shift()();
    for (let i = 0; i < 100 && hook.held.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(hook.held.length, 1, "the second run's turn came");
    hook.held.shift()();
    await page.waitForSelector('.run-head .b-success', { timeout: 20000 });
    assert.equal(await page.locator('.run-head .queue').count(), 0);
    for (let i = 0; i < 100 && hook.held.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    hook.held.shift()();
    noProblems(page);
  });

  it('signs out', async () => {
    const page = requester;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/ui\/signin/);
    await page.goto(`${server.base}/ui/runs`);
    await page.waitForURL(/\/ui\/signin/);
  });

  it('ships at most 300 KB of compressed assets, all from this server', async () => {
    const shell = await fetch(`${server.base}/ui/`);
    assert.match(shell.headers.get('content-security-policy'), /default-src 'self'/);
    const seen = new Set();
    const queue = ['/ui/'];
    let total = 0;
    while (queue.length) {
      const p = queue.shift();
      if (seen.has(p)) continue;
      seen.add(p);
      const { size, text } = await gzipped(`${server.base}${p}`);
      total += size;
      for (const m of text.matchAll(/(?:href|src)="(\/ui\/assets\/[^"]+)"|from '\.\/([^']+)'/g)) queue.push(m[1] || `/ui/assets/${m[2]}`);
    }
    figures.assetsGzipBytes = total;
    console.log(`${seen.size} files, ${total} bytes gzip-compressed`);
    assert.ok(seen.size >= 8, [...seen].join(' '));
    assert.ok(total <= 300 * 1024, `${total} bytes`);
  });
});

/** A file's gzip-compressed size as served, and its text. */
function gzipped(url) {
  return new Promise((resolve, reject) => {
    http.get(url, { headers: { 'Accept-Encoding': 'gzip' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', async () => {
        const body = Buffer.concat(chunks);
        assert.equal(res.statusCode, 200, url);
        assert.equal(res.headers['content-encoding'], 'gzip', url);
        const { gunzipSync } = await import('node:zlib');
        resolve({ size: body.length, text: gunzipSync(body).toString('utf8') });
      });
    }).on('error', reject);
  });
}
