// Browser test of the dashboard (suite 'browser'): the real wshub on a free port, the pipeline
// services (the C services when they are built, else the JS stand-ins of sim-services.mjs), and
// Debian's chromium driven by playwright-core. Asserts: pipeline rows reach 100 % with the right
// frame counts; the recording plot's canvas has drawn pixels; the event list shows fcw_onset at
// the AEB spec's time; a failed job appears under Failed, admin requeue works and a read-only
// token has no buttons and is refused; "disconnected, retrying" appears when the hub stops and
// clears when it returns. Screenshots: test-artifacts/dashboard/*.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { WebSocket } from 'ws';
import { Client, JobFailure } from '../../../adapters/js/wsmesh.mjs';
import { startHub, until, srcdir, assertCleanExit } from '../../integration/js/hub.mjs';
import { launchBrowser, artifactsDir } from './browser.mjs';
import { startServices } from './services.mjs';

const ADMIN = 'e2e-admin-token';
const VIEWER = 'e2e-viewer-token';
const WORKER = 'e2e-worker-token';
const shots = artifactsDir(srcdir);
let hub, services, browser, admin, adminPage, flaky;
const roots = [];

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

async function open(page, fragment) {
  await page.goto(`${hub.http}/#${fragment}`);
  await page.waitForSelector('#conn[data-state="open"]', { timeout: 10000 });
}

/** The hub serves web/, which loads the adapter and uPlot from web/vendor/ (scripts/vendor-web.sh). */
function checkVendored() {
  const need = ['uplot/uPlot.esm.js', 'uplot/uPlot.min.css'];
  for (const f of need) {
    assert.ok(fs.existsSync(path.join(srcdir, 'web/vendor', f)), `web/vendor/${f} missing: run scripts/vendor-web.sh (scripts/deps.sh does)`);
  }
  for (const f of fs.readdirSync(path.join(srcdir, 'adapters/js')).filter((x) => x.endsWith('.mjs'))) {
    const v = path.join(srcdir, 'web/vendor/wsmesh', f);
    assert.ok(fs.existsSync(v) && fs.readFileSync(v).equals(fs.readFileSync(path.join(srcdir, 'adapters/js', f))),
      `web/vendor/wsmesh/${f} is missing or older than adapters/js/${f}: run scripts/vendor-web.sh`);
  }
}

before(async () => {
  checkVendored();
  hub = await startHub({ config: 'tests/e2e/dashboard/mesh-dashboard.json' });
  services = await startServices(hub, WORKER);
  console.log(`services: ${services.mode}`);
  process.on('exit', () => { if (process.exitCode && services?.logs) console.log(JSON.stringify(services.logs, null, 1)); });
  admin = new Client(hub.url, { token: ADMIN, name: 'e2e-driver', WebSocket });
  await admin.connect();
  let allow = false;
  flaky = new Client(hub.url, { token: WORKER, name: 'e2e-flaky', WebSocket, backoffInitial: 0.1, backoffMax: 0.5 });
  await flaky.connect();
  await flaky.consume(['e2e.flaky'], async (job) => {
    if (!allow && !job.args.ok) throw new JobFailure('SensorDropout', `frame ${job.args.frame} has no range`, { retry: false });
    return { ok: true };
  });
  flaky.allow = () => { allow = true; };
  browser = await launchBrowser();
  adminPage = await browser.page();
});

after(async () => {
  await browser?.close();
  admin?.close();
  flaky?.close();
  await services?.stop();
  await hub?.stop();
});

test('pipeline rows reach 100 % with the right frame counts', { timeout: 120000 }, async () => {
  await open(adminPage, `token=${ADMIN}&view=pipelines`);
  assert.equal(await adminPage.textContent('#role'), `${(await admin.query('hub')).version} · admin`);
  for (const rec of services.recordings) {
    const { job_id } = await admin.enqueue('mf4', rec.args);
    roots.push({ ...rec, id: job_id });
  }
  await checkPipelines(adminPage);
  await shot(adminPage, '01-pipelines');
  // a page opened afterwards builds the same rows from queries (registry, tree, job)
  const late = await browser.page();
  await open(late, `token=${VIEWER}&view=pipelines`);
  await checkPipelines(late);
  await late.close();
});

async function checkPipelines(page) {
  for (const r of roots) {
    const row = `#pipelines tr[data-root="${r.id}"]`;
    await page.waitForSelector(`${row}[data-status="finished"]`, { timeout: 90000 });
    let frames = [];
    await until(async () => {
      frames = await page.$$eval(`${row} td[data-stage]`, (tds) => tds.map((td) => Number(td.dataset.frames)));
      return frames.length === 3 && frames.every((n) => n === r.frames);
    }, 10000, `stage counts ${r.frames} for ${r.label}`).catch(async (e) => {
      await shot(page, '01-pipelines-failed');
      throw new Error(`${e.message}: read/evaluated/stored = ${frames.join('/')}`);
    });
    assert.equal(await page.getAttribute(row, 'data-total'), String(r.frames));
    const pcts = await page.$$eval(`${row} .bar`, (bars) => bars.map((b) => b.dataset.pct));
    assert.deepEqual(pcts, ['100', '100', '100']);
  }
}

test('overview lists queues, workers, totals and hub health', async () => {
  await open(adminPage, 'view=overview');
  await adminPage.waitForSelector('#queues tr[data-queue="aeb"]');
  // queue counters arrive with the next `stats` event (once per second)
  let finished = 0;
  await until(async () => {
    finished = await adminPage.$eval('#totals [data-total="finished"] b', (b) => Number(b.textContent.replace(/,/g, '')));
    return finished >= roots.length * 3;
  }, 5000, 'finished total').catch((e) => { throw new Error(`${e.message}: ${finished}`); });
  await until(async () => (await adminPage.$$('#workers tr[data-session]')).length >= services.workers, 5000, 'worker rows');
  assert.match(await adminPage.textContent('#health [data-health="version"]'), /wshub/);
  assert.match(await adminPage.textContent('#health [data-health="/healthz"]'), /^ok/);
  assert.equal(await adminPage.$$eval('#queues button.admin', (b) => b.length) > 0, true, 'admin sees pause buttons');
  await shot(adminPage, '02-overview');
});

test('jobs view: registry filter, id search and job detail', async () => {
  const root = roots[0];
  await open(adminPage, `view=jobs&queue=aeb&registry=finished&search=${encodeURIComponent(root.id + '.')}`);
  const batches = (await admin.query('registry', { queue: 'aeb', registry: 'finished', search: `${root.id}.`, limit: 1 })).total;
  assert.ok(batches > 0);
  await adminPage.waitForFunction((n) => document.querySelector('#page-info')?.textContent.endsWith(`of ${n}`), batches, { timeout: 10000 });
  await adminPage.click(`#jobs tr[data-job="${root.id}.0"] a`);
  await adminPage.waitForSelector('#job-detail [data-field="root"] a');
  assert.equal(await adminPage.textContent('#job-detail [data-field="root"] a'), root.id);
  assert.equal(await adminPage.textContent('#job-detail [data-field="status"]'), 'finished');
  await shot(adminPage, '03-job-detail');
});

test('job detail pages a root\'s children (query children) and filters them by status', async () => {
  const root = roots[0];
  const fmt = (n) => Number(n).toLocaleString('en-US');
  const first = await admin.children(root.id, { limit: 100 });
  assert.ok(first.total > 0, `${root.id} has children`);
  await open(adminPage, `view=job&id=${encodeURIComponent(root.id)}`);
  const info = `1–${fmt(first.jobs.length)} of ${fmt(first.total)}`;
  await adminPage.waitForFunction((t) => document.querySelector('#children-info')?.textContent === t, info, { timeout: 10000 })
    .catch(async () => { throw new Error(`children info: ${await adminPage.textContent('#children-info').catch(() => 'none')}, want ${info}`); });
  assert.deepEqual(await adminPage.$$eval('#children .child', (els) => els.map((e) => e.dataset.job)), first.jobs.map((j) => j.job_id));
  if (first.next_offset !== undefined) {
    const second = await admin.children(root.id, { limit: 100, offset: first.next_offset });
    await adminPage.click('#job-detail button[data-page="next"]');
    await adminPage.waitForFunction((id) => document.querySelector('#children .child')?.dataset.job === id, second.jobs[0].job_id);
  }
  const failed = await admin.children(root.id, { status: 'failed' });
  await adminPage.selectOption('#children-status', 'failed');
  const want = failed.total ? `1–${fmt(failed.jobs.length)} of ${fmt(failed.total)} failed` : 'no failed children';
  await adminPage.waitForFunction((t) => document.querySelector('#children-info')?.textContent === t, want, { timeout: 10000 });
  assert.equal((await adminPage.$$('#children .child')).length, failed.jobs.length);
  await shot(adminPage, '03b-job-children');
});

test('recording view: plot with drawn pixels and fcw_onset at the AEB spec time', { timeout: 60000 }, async () => {
  const r = roots.find((x) => x.fcw_t !== undefined);
  // through the pipeline row's "results" link (the recording id comes from the root's result)
  await open(adminPage, 'view=pipelines');
  const link = `#pipelines tr[data-root="${r.id}"] a[href^="#view=recordings"]`;
  await adminPage.waitForSelector(link);
  const rootJob = await admin.query('job', { job_id: r.id });
  const recId = rootJob.result?.recording_id ?? r.id;
  await adminPage.waitForFunction(([sel, id]) => document.querySelector(sel)?.getAttribute('href').endsWith(encodeURIComponent(id)), [link, recId]);
  await adminPage.click(link);
  await adminPage.waitForSelector('#events tr[data-type="fcw_onset"]', { timeout: 30000 });
  const t = Number(await adminPage.getAttribute('#events tr[data-type="fcw_onset"] td[data-t]', 'data-t'));
  assert.ok(Math.abs(t - r.fcw_t) <= 0.011, `fcw_onset at ${t} s, spec ${r.fcw_t} s (${r.label})`);
  // open loop CCRs ends in contact (table 6.3): the collision is listed (and marked on the plot)
  assert.equal(await adminPage.$$eval('#events tr[data-type="collision"]', (rows) => rows.length), 1);
  const painted = await adminPage.$eval('#plot canvas', (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    let shaded = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 0) n++;
      if (d[i + 3] > 0 && d[i] > 200 && d[i + 2] < 200) shaded++;
    }
    return { n, shaded, total: d.length / 4 };
  });
  assert.ok(painted.n > painted.total * 0.05, `plot drew ${painted.n} of ${painted.total} pixels`);
  assert.ok(painted.shaded > 1000, `FCW/PB/FB periods shaded (${painted.shaded} warm pixels)`);
  await shot(adminPage, '04-recording');
  await open(adminPage, 'view=recordings');
  await adminPage.waitForSelector(`#recordings tr[data-rec="${recId}"]`, { timeout: 30000 });
  await shot(adminPage, '04b-recordings');
});

test('failed job: listed under Failed, admin requeue works, read-only has no buttons and is refused', { timeout: 60000 }, async () => {
  const { job_id } = await admin.enqueue('e2e.flaky', { frame: 1234 });
  assert.equal((await admin.wait(job_id, { timeout: 10 })).status, 'failed');
  const viewer = await browser.page();
  await open(viewer, `token=${VIEWER}&view=failed`);
  await viewer.waitForSelector(`#failed tr[data-job="${job_id}"]`, { timeout: 10000 });
  assert.equal(await viewer.getAttribute('#role', 'data-admin'), 'false');
  assert.equal(await viewer.$$eval('button.admin', (b) => b.length), 0, 'read-only sees no admin buttons');
  const refused = await viewer.evaluate((id) => window.wsmesh.client.requeue(id).then(() => 'accepted', (e) => e.code), job_id);
  assert.equal(refused, 'FORBIDDEN');
  await shot(viewer, '05-failed-readonly');
  // a token typed into the page's field switches the same tab to admin
  await viewer.fill('#token', ADMIN);
  await viewer.click('#token-form button');
  await viewer.waitForSelector('#role[data-admin="true"]', { timeout: 10000 });
  await viewer.waitForSelector(`#failed tr[data-job="${job_id}"] button[data-op="requeue"]`, { timeout: 10000 });
  assert.deepEqual(viewer.errors, []);
  await viewer.close();

  await open(adminPage, 'view=failed');
  const row = `#failed tr[data-job="${job_id}"]`;
  await adminPage.waitForSelector(`${row} button[data-op="requeue"]`, { timeout: 10000 });
  assert.match(await adminPage.textContent(row), /SensorDropout.*frame 1234 has no range/);
  await shot(adminPage, '06-failed-admin');
  // the Jobs view's failed registry shows the error type and message of each row
  await open(adminPage, 'view=jobs&queue=e2e.flaky&registry=failed');
  await adminPage.waitForSelector(`#jobs tr[data-job="${job_id}"]`, { timeout: 10000 });
  assert.match(await adminPage.textContent(`#jobs tr[data-job="${job_id}"] td:last-child`), /^SensorDropout: .*frame 1234 has no range/);
  await open(adminPage, 'view=failed');
  await adminPage.waitForSelector(`${row} button[data-op="requeue"]`, { timeout: 10000 });
  flaky.allow();
  await adminPage.click(`${row} button[data-op="requeue"]`);
  await until(async () => (await admin.query('job', { job_id })).status === 'finished', 10000, 'requeued job to finish');
  await adminPage.waitForSelector(row, { state: 'detached', timeout: 10000 });
});

test('a burst of thousands of progress events does not freeze the page', { timeout: 120000 }, async () => {
  await open(adminPage, 'view=overview');
  const burst = new Client(hub.url, { token: WORKER, name: 'e2e-burst', WebSocket });
  await burst.connect();
  await burst.consume(['e2e.burst'], async (job) => { job.progress(1, 1); return job.args.i; }, { prefetch: 128 });
  const before = await adminPage.evaluate(() => {
    window.__gaps = [];
    window.__stop = false;
    let last = performance.now();
    const tick = (t) => { window.__gaps.push(t - last); last = t; if (!window.__stop) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
    return window.wsmesh.live.eventCount;
  });
  const N = 3000;
  const ids = await Promise.all(Array.from({ length: N }, (_, i) => admin.enqueue('e2e.burst', { i })));
  await until(async () => (await admin.query('queues')).find((q) => q.name === 'e2e.burst').finished >= N, 60000, 'burst jobs');
  await new Promise((r) => setTimeout(r, 500));
  const res = await adminPage.evaluate(() => {
    window.__stop = true;
    const g = window.__gaps.slice(1);
    return { frames: g.length, max: Math.max(...g), events: window.wsmesh.live.eventCount };
  });
  burst.close();
  console.log(`burst: ${N} jobs, ${res.events - before} progress events handled, ${res.frames} frames, longest frame gap ${res.max.toFixed(0)} ms`);
  assert.equal(ids.length, N);
  assert.ok(res.events - before >= N / 2, `progress events reached the page (${res.events - before})`);
  assert.ok(res.max < 1000, `the page kept painting (longest gap ${res.max.toFixed(0)} ms)`);
  await shot(adminPage, '07-after-burst');

  // the Jobs view pages through them on the server: one page of 50 at a time
  await open(adminPage, 'view=jobs&queue=e2e.burst&registry=finished');
  const info = async (text) => adminPage.waitForFunction((t) => document.querySelector('#page-info')?.textContent === t, text, { timeout: 10000 });
  await info('1–50 of 3,000');
  assert.equal(await adminPage.$$eval('#jobs tr[data-job]', (r) => r.length), 50);
  // "older" goes on from the page's next_offset (a page may end early by bytes)
  const first = await admin.registry('e2e.burst', 'finished', { limit: 50 });
  assert.equal(await adminPage.getAttribute('#pager button:last-child', 'data-next'), String(first.next_offset));
  const t0 = Date.now();
  await adminPage.click('#pager button:last-child');
  await info(`${first.next_offset + 1}–${first.next_offset + 50} of 3,000`);
  assert.ok(Date.now() - t0 < 2000, `next page in ${Date.now() - t0} ms`);
  const prefix = ids[0].job_id.slice(0, -2);
  await adminPage.fill('#f-search', prefix);
  await adminPage.click('#jobs-form button[type="submit"]');
  const total = (await admin.query('registry', { queue: 'e2e.burst', registry: 'finished', search: prefix, limit: 1 })).total;
  await info(`1–${Math.min(50, total)} of ${total.toLocaleString('en-US')}`);
  await shot(adminPage, '07b-jobs-paged');
});

test('hub stops: "disconnected, retrying" shows, and clears when it returns', { timeout: 60000 }, async () => {
  await open(adminPage, 'view=overview');
  await hub.stop();
  assertCleanExit(hub);
  await adminPage.waitForSelector('#conn[data-state="retrying"]', { timeout: 10000 });
  assert.match(await adminPage.textContent('#banner'), /Disconnected from the hub, retrying/);
  assert.equal(await adminPage.isVisible('#banner'), true);
  await shot(adminPage, '08-disconnected');
  await hub.restart();
  await adminPage.waitForSelector('#conn[data-state="open"]', { timeout: 15000 });
  assert.equal(await adminPage.isVisible('#banner'), false);
  await adminPage.waitForSelector('#queues tr[data-queue="mf4"]', { timeout: 10000 });
  await shot(adminPage, '09-reconnected');
  assert.deepEqual(adminPage.errors, []);
});
