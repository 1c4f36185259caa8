// wshub integration: HTTP on the WebSocket port (/healthz, /metrics, static files with content
// types and no directory traversal), the command line (--check exit codes and messages,
// --version, --help, bad options) and graceful shutdown on SIGTERM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startHub, testConfig, Client, httpGet, tmpDir, WSHUB, SRCDIR, cleanEnv } from './hubutil.mjs';

const WEBROOT = path.join(SRCDIR, 'tests/integration/hub/webroot');
let hub;

before(async () => {
  hub = await startHub(testConfig({ queues: { work: {}, db: {} }, http: { web_root: WEBROOT }, limits: { drain_timeout: 2 } }));
});

after(async () => {
  if (hub) await hub.stop();
});

test('GET /healthz', async () => {
  const r = await httpGet(`${hub.httpUrl}/healthz`);
  assert.equal(r.status, 200);
  assert.match(r.type, /application\/json/);
  const j = JSON.parse(r.body.toString());
  assert.equal(j.status, 'ok');
  assert.equal(j.store, 'memory');
});

test('GET /metrics: Prometheus text with per-queue and hub counters', async () => {
  const c = await Client.connect(hub.url);
  await c.ok({ op: 'enqueue', queue: 'work', args: {} });
  await c.ok({ op: 'enqueue', queue: 'work', args: {} });
  const r = await httpGet(`${hub.httpUrl}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.type, /^text\/plain; version=0\.0\.4/);
  const t = r.body.toString();
  assert.match(t, /^wsmesh_queue_depth\{queue="work"\} 2$/m);
  assert.match(t, /^wsmesh_queue_depth\{queue="db"\} 0$/m);
  assert.match(t, /^wsmesh_queue_in_flight\{queue="work"\} 0$/m);
  for (const n of ['finished', 'failed', 'expired', 'canceled']) assert.match(t, new RegExp(`^wsmesh_queue_${n}_total\\{queue="work"\\} \\d+$`, 'm'));
  assert.match(t, /^wsmesh_connections 1$/m);
  assert.match(t, /^wsmesh_messages_in_total \d+$/m);
  assert.match(t, /^wsmesh_bytes_out_total \d+$/m);
  assert.match(t, /^wsmesh_dispatch_latency_seconds_bucket\{le="\+Inf"\} \d+$/m);
  assert.match(t, /^# TYPE wsmesh_dispatch_latency_seconds histogram$/m);
  // dispatch shows up in the histogram
  await c.ok({ op: 'consume', queues: ['work'], prefetch: 2 });
  await c.next((m) => m.header.op === 'job');
  await c.next((m) => m.header.op === 'job');
  const t2 = (await httpGet(`${hub.httpUrl}/metrics`)).body.toString();
  assert.match(t2, /^wsmesh_dispatch_latency_seconds_count 2$/m);
  assert.match(t2, /^wsmesh_queue_in_flight\{queue="work"\} 2$/m);
  c.close();
});

test('static files from web_root with content types', async () => {
  const idx = await httpGet(`${hub.httpUrl}/`);
  assert.equal(idx.status, 200);
  assert.match(idx.type, /^text\/html/);
  assert.ok(idx.body.equals(fs.readFileSync(path.join(WEBROOT, 'index.html'))));
  const js = await httpGet(`${hub.httpUrl}/app.mjs`);
  assert.equal(js.status, 200);
  assert.match(js.type, /^text\/javascript/);
  const css = await httpGet(`${hub.httpUrl}/sub/style.css`);
  assert.match(css.type, /^text\/css/);
  const sub = await httpGet(`${hub.httpUrl}/sub/`);
  assert.equal(sub.status, 200);
  assert.match(sub.body.toString(), /sub index/);
  const bin = await httpGet(`${hub.httpUrl}/blob.bin`);
  assert.equal(bin.type, 'application/octet-stream');
  assert.ok(bin.body.equals(fs.readFileSync(path.join(WEBROOT, 'blob.bin'))));
  assert.equal((await httpGet(`${hub.httpUrl}/missing.html`)).status, 404);
});

/** Sends a raw HTTP request (no URL normalisation by the client) and returns the status. */
function rawGet(port, target) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let d = '';
    s.on('data', (b) => (d += b.toString('latin1')));
    s.on('end', () => resolve(d));
    s.on('error', reject);
    s.setTimeout(3000, () => {
      s.destroy();
      resolve(d);
    });
  });
}

test('no directory traversal', async () => {
  for (const target of ['/../http.test.mjs', '/sub/../../hubutil.mjs', '/%2e%2e/hubutil.mjs', '/..%2fhubutil.mjs', '/../../../../etc/passwd']) {
    const resp = await rawGet(hub.port, target);
    assert.doesNotMatch(resp, /import|root:/, `${target} leaked a file`);
    assert.doesNotMatch(resp.split('\r\n')[0] || '', / 200 /, `${target}: ${resp.split('\r\n')[0]}`);
  }
  // the hub still serves
  assert.equal((await httpGet(`${hub.httpUrl}/healthz`)).status, 200);
});

test('--check: exit 0 on a valid config, exit 1 printing every error', () => {
  const ok = spawnSync(WSHUB, ['--check', '--config', path.join(SRCDIR, 'config/mesh.json')], { encoding: 'utf8', env: cleanEnv() });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /ok \(4 queues, 4 routes/);
  const dir = tmpDir();
  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(bad, JSON.stringify({ queues: { aeb: { max_length: 0 }, db: { bogus: 1 } }, routes: { 'aeb:frames': 'nowhere' }, limits: { max_errors: 'x' } }));
  const r = spawnSync(WSHUB, ['--check', '--config', bad], { encoding: 'utf8', env: cleanEnv() });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /queues\.aeb\.max_length: expected integer in \[1, 2147483647\]/);
  assert.match(r.stderr, /queues\.db\.bogus: unknown key/);
  assert.match(r.stderr, /routes\.aeb:frames: target queue 'nowhere' is not declared in queues/);
  assert.match(r.stderr, /limits\.max_errors: expected integer/);
  assert.match(r.stderr, /4 errors/);
  const missing = spawnSync(WSHUB, ['--check', '--config', path.join(dir, 'nope.json')], { encoding: 'utf8', env: cleanEnv() });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /cannot open/);
  // starting (not --check) with a bad config also exits 1
  const start = spawnSync(WSHUB, ['--config', bad, '--port', '0'], { encoding: 'utf8', env: cleanEnv(), timeout: 5000 });
  assert.equal(start.status, 1);
});

test('--version, --help, bad options', () => {
  const v = spawnSync(WSHUB, ['--version'], { encoding: 'utf8', env: cleanEnv() });
  assert.equal(v.status, 0);
  assert.match(v.stdout, /^wshub \d+\.\d+\.\d+ \(protocol v1/);
  const h = spawnSync(WSHUB, ['--help'], { encoding: 'utf8', env: cleanEnv() });
  assert.equal(h.status, 0);
  assert.match(h.stdout, /--check/);
  assert.equal(spawnSync(WSHUB, ['--bogus'], { encoding: 'utf8', env: cleanEnv() }).status, 2);
  assert.equal(spawnSync(WSHUB, ['--port', 'x'], { encoding: 'utf8', env: cleanEnv() }).status, 2);
  assert.equal(spawnSync(WSHUB, ['--log-level', 'loud'], { encoding: 'utf8', env: cleanEnv() }).status, 2);
});

test('startup failure: port in use -> exit 3', async () => {
  const dir = tmpDir();
  const cfg = path.join(dir, 'mesh.json');
  fs.writeFileSync(cfg, JSON.stringify(testConfig()));
  const r = spawnSync(WSHUB, ['--config', cfg, '--port', String(hub.port)], { encoding: 'utf8', env: cleanEnv(), timeout: 5000 });
  assert.equal(r.status, 3, r.stderr);
});

test('SIGTERM drains: leased jobs may finish, new enqueues get SHUTTING_DOWN, exit 0', async () => {
  const h2 = await startHub(testConfig({ limits: { drain_timeout: 10 } }));
  const w = await Client.connect(h2.url, { name: 'drainer' });
  const p = await Client.connect(h2.url, { name: 'prod' });
  await w.ok({ op: 'consume', queues: ['work'] });
  const j = await p.ok({ op: 'enqueue', queue: 'work' });
  const job = await w.next((m) => m.header.op === 'job');
  h2.proc.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  const refused = await p.request({ op: 'enqueue', queue: 'work' });
  assert.equal(refused.header.code, 'SHUTTING_DOWN');
  const health = await httpGet(`${h2.httpUrl}/healthz`);
  assert.equal(health.status, 503);
  await w.ok({ op: 'result', job_id: job.header.job_id, attempt: 1 });
  assert.equal(job.header.job_id, j.job_id);
  const r = await h2.exited;
  assert.equal(r.code, 0);
  const closed = await w.waitClosed();
  assert.equal(closed.code, 1000);
});
