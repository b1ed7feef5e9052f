// Browser tests of the dashboard: a real edgeflow node (ingest -> rules ->
// SQLite store, API on a free loopback port) and Debian's Chromium driven by
// playwright-core. Screenshots of every page go to $EDGEFLOW_ARTIFACTS.
//
//   EDGEFLOW_BINARY=build/release/edgeflow node --test tests/browser/dashboard_test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const require = createRequire(join(root, 'web', 'package.json'));
const { chromium } = require('playwright-core');

const BIN = resolve(process.env.EDGEFLOW_BINARY || join(root, 'build', 'release', 'edgeflow'));
const ARTIFACTS = process.env.EDGEFLOW_ARTIFACTS || join(root, 'build', 'release', 'artifacts', 'dashboard');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

// Bounded polling: resolves with the value once `fn` returns a truthy one.
async function waitFor(fn, { timeout = 10000, interval = 50, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

let dir, node, base, token, browser, stderr = '';

async function startNode() {
  dir = mkdtempSync(join(tmpdir(), 'edgeflow-dashboard-'));
  writeFileSync(join(dir, 'c.yaml'), `
node: {id: browser-test, data_dir: ${dir}}
api: {port: 0}
sources: [{id: in, type: ingest}]
processors:
  - id: rules
    type: rules
    inputs: [in]
    rules:
      - {id: too_hot, metrics: [temperature], when: value > 80, clear_when: value < 70, severity: critical}
sinks:
  - {id: store, type: sqlite, inputs: [rules]}
`);
  node = spawn(BIN, ['run', '-c', join(dir, 'c.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  node.stderr.on('data', (d) => { stderr += d; });
  const port = await waitFor(() => (stderr.match(/API listening on http:\/\/127\.0\.0\.1:(\d+)/) || [])[1],
    { what: 'the API to listen' });
  base = `http://127.0.0.1:${port}`;
  token = readFileSync(join(dir, 'api-token'), 'utf8').trim();
}

async function ingest(readings) {
  const res = await fetch(`${base}/api/v1/ingest`, {
    method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ readings }),
  });
  assert.equal(res.status, 200, await res.text());
}

async function apiGet(path) {
  const res = await fetch(`${base}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  return res.json();
}

async function newPage(viewport = { width: 1280, height: 860 }, colorScheme = 'light') {
  const context = await browser.newContext({ viewport, colorScheme });
  const page = await context.newPage();
  page.on('pageerror', (e) => { throw e; });
  return page;
}

async function signIn(page) {
  await page.goto(`${base}/`);
  await page.locator('#token').fill(token);
  await page.keyboard.press('Enter');
  await page.locator('#app').waitFor({ state: 'visible' });
}

const shot = (page, name) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  await startNode();
  const now = Date.now() / 1000;
  const history = [];
  for (let i = 120; i > 0; --i) {
    history.push({ sensor: 'oven-1', metric: 'temperature', ts: now - i * 10, value: 60 + 5 * Math.sin(i / 8) });
    history.push({ sensor: 'hall', metric: 'humidity', ts: now - i * 10, value: 45 + (i % 7) });
  }
  await ingest(history);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--disable-dev-shm-usage'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (node && node.exitCode === null) {
    node.kill('SIGTERM');
    await waitFor(() => node.exitCode !== null, { what: 'edgeflow to stop' }).catch(() => node.kill('SIGKILL'));
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a wrong token is refused and nothing is shown', async () => {
  const page = await newPage();
  await page.goto(`${base}/`);
  await page.locator('#token').fill('0123456789abcdef0123456789abcdef');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await waitFor(async () => (await page.locator('#login-error').textContent()).includes('not this node'),
    { what: 'the sign-in error' });
  assert.equal(await page.locator('#app').isVisible(), false);
  const cookies = await page.context().cookies();
  assert.equal(cookies.length, 0, 'no session cookie');
  // The API refuses the page's own calls without a session.
  const status = await page.evaluate(async () => (await fetch('/api/v1/status')).status);
  assert.equal(status, 401);
  await shot(page, 'login-refused');
  await page.context().close();
});

test('sign in: the overview shows the node, and the session cookie is HttpOnly', async () => {
  const page = await newPage();
  await signIn(page);
  await waitFor(async () => (await page.locator('#node-id').textContent()).includes('browser-test'), { what: 'node id' });
  await waitFor(async () => (await page.locator('#live').textContent()) === 'live', { what: 'live updates' });
  const tiles = await page.locator('#tiles').textContent();
  assert.match(tiles, /Node health\s*healthy/);
  assert.match(tiles, /Uplink\s*not configured/);
  const [cookie] = await page.context().cookies();
  assert.equal(cookie.name, 'edgeflow_session');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => document.cookie), '', 'scripts cannot read the session');
  await shot(page, 'overview');
  await page.context().close();
});

// Signed in, on the sensors page, oven-1's chart drawn with its history and live updates on.
async function openOvenChart() {
  const page = await newPage();
  await signIn(page);
  await page.getByRole('link', { name: 'Sensors' }).click();
  await page.locator('#series').selectOption('oven-1/temperature');
  const chart = page.locator('#chart');
  await waitFor(async () => Number(await chart.getAttribute('data-points')) >= 100, { what: 'the history' });
  await waitFor(async () => (await page.locator('#live').textContent()) === 'live', { what: 'live updates' });
  return { page, chart };
}

test('the chart updates within 2 s of a new reading', async () => {
  const { page, chart } = await openOvenChart();
  const before = Number(await chart.getAttribute('data-points'));
  const value = 77.25;
  const sent = Date.now();
  await ingest([{ sensor: 'oven-1', metric: 'temperature', ts: Date.now() / 1000, value }]);
  await waitFor(async () => (await chart.getAttribute('data-last-value')) === String(value),
    { timeout: 2000, interval: 20, what: 'the chart to show the new reading' });
  const took = Date.now() - sent;
  assert.equal(Number(await chart.getAttribute('data-points')), before + 1);
  const row = page.locator('tr[data-series="oven-1/temperature"] .value');
  assert.equal(await row.textContent(), '77.25');
  console.log(`# reading -> chart: ${took} ms`);
  await shot(page, 'sensors');
  await page.context().close();
});

test('a live reading survives a history load that was in flight when it arrived', async () => {
  const { page, chart } = await openOvenChart();
  // Hold the next history answer (already computed by the node) until the live reading has been drawn.
  let release, asked = false;
  const gate = new Promise((r) => { release = r; });
  await page.route('**/api/v1/readings?*', async (route) => {
    const answer = await route.fetch();
    asked = true;
    await gate;
    await route.fulfill({ response: answer });
  });
  const loads = Number(await chart.getAttribute('data-loads'));
  await page.locator('#range').selectOption('900');
  await waitFor(() => asked, { what: 'the history request' });
  const value = 78.5;
  await ingest([{ sensor: 'oven-1', metric: 'temperature', ts: Date.now() / 1000, value }]);
  await waitFor(async () => (await chart.getAttribute('data-last-value')) === String(value),
    { what: 'the live reading on the chart' });
  release();
  await waitFor(async () => Number(await chart.getAttribute('data-loads')) > loads, { what: 'the history load' });
  assert.equal(await chart.getAttribute('data-last-value'), String(value), 'the older history answer dropped it');
  await page.context().close();
});

test('an alert is acknowledged from the alerts page', async () => {
  const page = await newPage();
  await signIn(page);
  await page.getByRole('link', { name: /Alerts/ }).click();
  await ingest([{ sensor: 'oven-1', metric: 'temperature', ts: Date.now() / 1000, value: 95.5 }]);
  const row = page.locator('#alerts tbody tr', { hasText: 'too_hot' });
  await waitFor(async () => (await row.count()) === 1, { what: 'the alert to show up' });
  assert.match(await page.locator('#open-count').textContent(), /^[1-9]/);
  await shot(page, 'alerts');
  await row.getByRole('button', { name: /Acknowledge/ }).click();
  await waitFor(async () => (await row.textContent()).includes('dashboard 127.0.0.1'), { what: 'acknowledged' });
  const { alerts } = await apiGet('/api/v1/alerts?state=open');
  const hot = alerts.find((a) => a.rule === 'too_hot');
  assert.ok(hot.acknowledged_at, 'stored in the node');
  assert.equal(hot.acknowledged_by, 'dashboard 127.0.0.1');
  // Filters (asked of the node): unacknowledged only hides it.
  await page.locator('#alert-ack').selectOption('false');
  await waitFor(async () => (await row.count()) === 0, { what: 'the acknowledged alert to be filtered out' });
  await page.context().close();
});

test('a bad rule edit shows its errors and changes nothing', async () => {
  const page = await newPage();
  await signIn(page);
  await page.getByRole('link', { name: 'Rules' }).click();
  const text = page.locator('#rules-text');
  await waitFor(async () => (await text.inputValue()).includes('too_hot'), { what: 'the rules' });
  const rulesBefore = await apiGet('/api/v1/rules');
  const edited = JSON.parse(await text.inputValue());
  edited.rules.push({ id: 'broken', when: 'value >>> 3', severity: 'apocalyptic' });
  await text.fill(JSON.stringify(edited, null, 2));
  await page.getByRole('button', { name: 'Validate and apply' }).click();
  const errors = page.locator('#rules-errors li');
  await waitFor(async () => (await errors.count()) >= 2, { what: 'the validation errors' });
  const all = (await errors.allTextContents()).join('\n');
  assert.match(all, /severity/);
  assert.match(all, /expression 'value >>> 3'/);
  assert.match(await page.locator('#rules-result').textContent(), /nothing changed/);
  assert.deepEqual(await apiGet('/api/v1/rules'), rulesBefore, 'nothing changed on the node');
  await shot(page, 'rules-errors');
  // A good edit applies.
  edited.rules.pop();
  edited.rules[0].when = 'value > 85';
  await text.fill(JSON.stringify(edited, null, 2));
  await page.getByRole('button', { name: 'Validate and apply' }).click();
  await waitFor(async () => (await page.locator('#rules-result').textContent()) === 'Applied.', { what: 'applied' });
  assert.equal((await apiGet('/api/v1/rules')).rules[0].when, 'value > 85');
  await page.context().close();
});

test('the built-in demo (make run) shows live data at the printed address', async () => {
  const demoDir = mkdtempSync(join(tmpdir(), 'edgeflow-demo-'));
  const demo = spawn(BIN, ['run'], { cwd: demoDir, env: { ...process.env, EDGEFLOW_API_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  demo.stdout.on('data', (d) => { out += d; });
  try {
    const url = await waitFor(() => (out.match(/Dashboard: (http:\/\/127\.0\.0\.1:\d+\/ui\/)/) || [])[1],
      { what: 'the dashboard address' });
    const demoToken = await waitFor(() => (out.match(/API token \(saved in [^)]*\): ([0-9a-f]{64})/) || [])[1],
      { what: 'the printed token' });
    const page = await newPage();
    await page.goto(url);
    await page.locator('#token').fill(demoToken);
    await page.keyboard.press('Enter');
    await page.locator('#app').waitFor({ state: 'visible' });
    await waitFor(async () => /Readings \/ s\s*[1-9]/.test(await page.locator('#tiles').textContent()),
      { what: 'readings per second' });
    await shot(page, 'demo-overview');
    await page.getByRole('link', { name: 'Sensors' }).click();
    await waitFor(async () => (await page.locator('#sensors tbody tr').count()) >= 5, { what: 'the demo sensors' });
    const chart = page.locator('#chart');
    const first = await waitFor(async () => Number(await chart.getAttribute('data-points')), { what: 'chart points' });
    await waitFor(async () => Number(await chart.getAttribute('data-points')) > first, { what: 'the chart to grow' });
    await shot(page, 'demo-sensors');
    await page.getByRole('link', { name: /Alerts/ }).click();
    await page.locator('#alert-state').selectOption('');
    await waitFor(async () => (await page.locator('#alerts tbody tr').count()) > 0,
      { timeout: 30000, what: 'the demo\'s injected faults to raise alerts' });
    await shot(page, 'demo-alerts');
    await page.getByRole('link', { name: 'Rules' }).click();
    await waitFor(async () => (await page.locator('#rules-text').inputValue()).length > 10, { what: 'rules' });
    await shot(page, 'demo-rules');
    await page.context().close();
  } finally {
    demo.kill('SIGTERM');
    await waitFor(() => demo.exitCode !== null, { what: 'the demo to stop' }).catch(() => demo.kill('SIGKILL'));
    rmSync(demoDir, { recursive: true, force: true });
  }
});

test('phone-sized, dark and keyboard-only', async () => {
  const page = await newPage({ width: 390, height: 844 }, 'dark');
  await page.goto(`${base}/`);
  await page.locator('#token').waitFor({ state: 'visible' });
  assert.equal(await page.evaluate(() => document.activeElement.id), 'token', 'focus starts in the token field');
  await page.keyboard.type(token);
  await page.keyboard.press('Enter');
  await page.locator('#app').waitFor({ state: 'visible' });
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, 'rgb(17, 20, 24)', 'dark background');
  // No horizontal scrolling of the page itself on a phone.
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1));
  // Tab reaches the navigation; Enter follows it.
  let reached = false;
  for (let i = 0; i < 10 && !reached; ++i) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement.textContent.trim() === 'Sensors');
  }
  assert.ok(reached, 'Sensors link reachable by Tab');
  await page.keyboard.press('Enter');
  await waitFor(async () => page.locator('#page-sensors').isVisible(), { what: 'sensors page' });
  await waitFor(async () => Number(await page.locator('#chart').getAttribute('data-points')) > 0, { what: 'chart' });
  await shot(page, 'phone-dark-sensors');
  await page.getByRole('link', { name: 'Overview' }).click();
  await shot(page, 'phone-dark-overview');
  await page.context().close();
});

test('models: deploy a shadow from the page, see the comparison, promote and roll back', async () => {
  const { spawnSync } = await import('node:child_process');
  // Two versions trained on the cloud side (tools/train_autoencoder.py) from a healthy signal.
  const csv = ['ts,value'];
  for (let i = 0; i < 2000; ++i) csv.push(`${i},${Math.sin(i / 3) + 0.1 * Math.sin(i * 1.7)}`);
  writeFileSync(join(dir, 'export.csv'), csv.join('\n'));
  for (const v of ['1', '2']) {
    const r = spawnSync('/usr/bin/python3', [join(root, 'tools', 'train_autoencoder.py'), '--input', join(dir, 'export.csv'),
      '--name', 'pump', '--version', v, '--window', '16', '--components', v === '1' ? '4' : '3', '--out', join(dir, `v${v}`)]);
    assert.equal(r.status, 0, String(r.stderr));
  }
  const b64 = (p) => readFileSync(p).toString('base64');
  const res = await fetch(`${base}/api/v1/models/pump`, {
    method: 'PUT', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ manifest: readFileSync(join(dir, 'v1', 'manifest.yaml'), 'utf8'), model_base64: b64(join(dir, 'v1', 'model.onnx')) }),
  });
  assert.equal(res.status, 200, await res.text());

  const page = await newPage();
  await signIn(page);
  await page.getByRole('link', { name: 'Models' }).click();
  const card = page.locator('[data-model="pump"]');
  await waitFor(async () => (await card.count()) === 1, { what: 'the model card' });
  assert.match(await card.textContent(), /Live\s*1/);
  // A broken upload is refused with the reason; nothing changes.
  writeFileSync(join(dir, 'broken.onnx'), 'not a model');
  await page.locator('#deploy-manifest').setInputFiles(join(dir, 'v2', 'manifest.yaml'));
  await page.locator('#deploy-model').setInputFiles(join(dir, 'broken.onnx'));
  await page.getByRole('button', { name: 'Validate and deploy' }).click();
  await waitFor(async () => (await page.locator('#deploy-result').textContent()).startsWith('Refused'), { what: 'refusal' });
  assert.match(await page.locator('#deploy-errors').textContent(), /cannot load/);
  // The real version 2, as a shadow.
  await page.locator('#deploy-model').setInputFiles(join(dir, 'v2', 'model.onnx'));
  await page.getByRole('button', { name: 'Validate and deploy' }).click();
  await waitFor(async () => /Shadow\s*2/.test(await card.textContent()), { what: 'the shadow' });
  await shot(page, 'models');
  await card.getByRole('button', { name: 'Promote 2' }).click();
  await waitFor(async () => /Live\s*2/.test(await card.textContent()), { what: 'promotion' });
  await card.getByRole('button', { name: 'Roll back to 1' }).click();
  await waitFor(async () => /Live\s*1/.test(await card.textContent()), { what: 'rollback' });
  const m = await apiGet('/api/v1/models/pump');
  assert.equal(m.live, '1');
  assert.equal(m.rollbacks, 1);
  await page.context().close();
});

test('cameras: the live preview plays and motion events show their masked snapshots', async () => {
  const camDir = mkdtempSync(join(tmpdir(), 'edgeflow-cameras-'));
  writeFileSync(join(camDir, 'c.yaml'), `
node: {id: camera-test, data_dir: ${camDir}}
api: {port: 0}
sources:
  - {id: yard, type: camera, input: synthetic, fps: 15, synthetic: {objects: 1, episode_secs: 1.5, gap_secs: 1},
     motion: {end_secs: 0.3, warmup_frames: 10}}
sinks: [{id: store, type: sqlite, inputs: [yard]}]
`);
  const cam = spawn(BIN, ['run', '-c', join(camDir, 'c.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  cam.stderr.on('data', (d) => { err += d; });
  try {
    const port = await waitFor(() => (err.match(/API listening on http:\/\/127\.0\.0\.1:(\d+)/) || [])[1],
      { what: 'the API to listen' });
    const camToken = readFileSync(join(camDir, 'api-token'), 'utf8').trim();
    const page = await newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.locator('#token').fill(camToken);
    await page.keyboard.press('Enter');
    await page.locator('#app').waitFor({ state: 'visible' });
    // Wait for two events on the node, then open the page.
    await waitFor(async () => {
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/vision/events`, { headers: { Authorization: `Bearer ${camToken}` } });
      return (await r.json()).events.length >= 2;
    }, { timeout: 20000, what: 'two motion events' });
    await page.getByRole('link', { name: 'Cameras' }).click();
    const preview = page.locator('.camera[data-camera="yard"] img.preview');
    await waitFor(async () => (await preview.evaluate((img) => img.naturalWidth)) === 640, { what: 'the preview to play' });
    await waitFor(async () => /connected/.test(await page.locator('.camera .tiles').textContent()), { what: 'camera state' });
    const snaps = page.locator('.event img');
    await waitFor(async () => (await snaps.count()) >= 2, { what: 'event snapshots' });
    await waitFor(async () => (await snaps.first().evaluate((img) => img.complete && img.naturalWidth)) === 640,
      { what: 'a snapshot to load' });
    await shot(page, 'cameras');
    // The figures follow without leaving the page (every 5 s): new motion events are counted.
    const eventsTile = page.locator('.camera[data-camera="yard"] .tile', { hasText: 'Events' }).locator('.value');
    const counted = async () => Number((await eventsTile.textContent()).replace(/\D/g, ''));
    const firstCount = await counted();
    await waitFor(async () => (await counted()) > firstCount, { timeout: 15000, what: 'the camera figures to refresh' });
    // The node reloads its configuration: the camera starts again and the old
    // stream ends; the page asks for the new one and plays it.
    const streams = Number(await preview.getAttribute('data-streams'));
    cam.kill('SIGHUP');
    await waitFor(async () => Number(await preview.getAttribute('data-streams')) > streams,
      { timeout: 15000, what: 'the preview to be asked for again after the reload' });
    const frames = Number(await preview.getAttribute('data-frames'));
    await waitFor(async () => Number(await preview.getAttribute('data-frames')) > frames + 3,
      { timeout: 15000, what: 'frames of the new stream' });
    // Leaving the page stops the preview: the node stops encoding for it.
    await page.getByRole('link', { name: 'Overview' }).click();
    await waitFor(async () => {
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/cameras`, { headers: { Authorization: `Bearer ${camToken}` } });
      return (await r.json()).cameras[0].viewers === 0;
    }, { what: 'the preview stream to close' });
    await page.context().close();
  } finally {
    cam.kill('SIGTERM');
    await waitFor(() => cam.exitCode !== null, { what: 'the camera node to stop' }).catch(() => cam.kill('SIGKILL'));
    rmSync(camDir, { recursive: true, force: true });
  }
});

test('alerts: the page fetches the newest 500 in the chosen state and says how many there are', async () => {
  // 510 sensors too hot at once: 510 open alerts (one is open already from the test above).
  const now = Date.now() / 1000;
  await ingest(Array.from({ length: 510 }, (_, i) => ({ sensor: `kiln-${i}`, metric: 'temperature', ts: now + i / 1000, value: 99 })));
  await waitFor(async () => (await apiGet('/api/v1/alerts?state=open&limit=1')).counts.open >= 510, { what: 'the alerts' });
  const page = await newPage();
  const asked = [];
  page.on('request', (r) => { if (r.url().includes('/api/v1/alerts?')) asked.push(new URL(r.url()).searchParams); });
  await signIn(page);
  await page.getByRole('link', { name: /Alerts/ }).click();
  const rows = page.locator('#alerts tbody tr');
  await waitFor(async () => (await rows.count()) === 500, { what: 'the newest 500 alerts' });
  const total = (await apiGet('/api/v1/alerts?state=open&limit=1')).total;
  assert.ok(total > 500);
  assert.match(await page.locator('#alerts-more').textContent(), new RegExp(`newest 500 of ${total}`));
  assert.match(await page.locator('#open-count').textContent(), new RegExp(`^${total}$`), 'the badge counts them all');
  assert.equal(await rows.first().locator('td').nth(2).textContent(), 'kiln-509', 'newest first');
  // The older ones, a page further (kept when new alerts come).
  await page.locator('#alerts-older').click();
  await ingest([{ sensor: 'kiln-new', metric: 'temperature', ts: Date.now() / 1000 + 5, value: 99 }]);
  await waitFor(async () => (await rows.count()) === total + 1, { what: 'the older alerts and the new one' });
  assert.ok(await page.locator('#alerts-older').isHidden(), 'nothing older');
  // Text is asked of the node too: kiln-5, kiln-50..59, kiln-500..509.
  await page.locator('#alert-filter').fill('KILN-5');
  await waitFor(() => asked.some((p) => p.get('q') === 'KILN-5'), { what: 'the text request' });
  await waitFor(async () => (await rows.count()) === 21, { what: 'the alerts matching the text' });
  await page.locator('#alert-filter').fill('');
  // Another state is asked of the node, not filtered from the 500.
  await page.locator('#alert-state').selectOption('cleared');
  await waitFor(() => asked.some((p) => p.get('state') === 'cleared' && p.get('limit') === '500'), { what: 'the cleared alerts request' });
  await waitFor(async () => (await page.locator('#alerts-more').isHidden()), { what: 'the note to go' });
  await page.context().close();
});
