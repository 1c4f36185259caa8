// Hub security integration: tokens and ACLs against the real wshub (issue 10, Access control).
// Tokens come inline, from an environment variable and from a file; each has a role and an
// ACL (ops per category on queue/topic patterns). Asserts: every unauthorised consume,
// produce (enqueue, emit, publish), subscribe, query and admin op is FORBIDDEN and changes
// nothing (query shows the queues unchanged); no token, a wrong token and ops before hello are
// UNAUTHORIZED; failed hellos are slowed down per peer address; welcome.role is what the
// dashboard reads; no token value ever appears in the hub's log (trace level), only
// fingerprints; a missing token_env/token_file and a non-loopback listen without tokens are
// refused at start with exit 1 and a clear message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { startHub, runHubSync, baseConfig, Peer, queueRows, tmpDir, sleep } from './secutil.mjs';

const SECRETS = {
  admin: 'acl-admin-secret-0a1b2c',
  viewer: 'acl-viewer-secret-3d4e5f', // from the environment (token_env)
  worker: 'acl-worker-secret-6a7b8c', // from a file (token_file)
  dbadmin: 'acl-dbadmin-secret-9d0e1f',
  legacy: 'acl-legacy-secret-2a3b4c',
};
const fp = (s) => crypto.createHash('sha256').update(s).digest('hex').slice(0, 8);

let hub;
let dir;
before(async () => {
  dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'worker.token'), `${SECRETS.worker}\n`, { mode: 0o600 });
  hub = await startHub(
    baseConfig({
      queues: { work: { max_length: 100 }, db: {}, 'db.query': {}, aeb: {} },
      routes: { 'work:out': 'db', 'work:side': 'aeb' },
      topics: { user: ['alerts.fire', 'results'] },
      logging: { level: 'trace' },
      tokens: [
        { name: 'ops', token: SECRETS.admin, role: 'admin' },
        { name: 'dashboard', token_env: 'WSM_SEC_VIEWER_TOKEN', role: 'viewer' },
        // relative token_file paths resolve against the parent of the config's directory
        { name: 'aeb-svc', token_file: `./${path.basename(dir)}/worker.token`, role: 'aeb-worker',
          acl: { consume: ['work'], produce: ['db', 'alerts.*'], subscribe: ['progress', 'alerts.*'] } },
        { name: 'dbops', token: SECRETS.dbadmin, role: 'db-admin', acl: { admin: ['db*'], query: ['db*'] } },
        { name: 'legacy', token: SECRETS.legacy, ops: ['query', 'subscribe'] },
      ],
    }),
    { dir, env: { WSM_SEC_VIEWER_TOKEN: SECRETS.viewer } },
  );
});
after(async () => {
  const r = await hub.stop();
  assert.equal(r.code, 0, hub.stderr());
  fs.rmSync(dir, { recursive: true, force: true }); // the token file
});

/** Queue counters that a refused op must not change. */
function counts(rows) {
  const o = {};
  for (const [n, q] of Object.entries(rows)) o[n] = [q.queued, q.started, q.deferred, q.scheduled, q.finished, q.failed, q.canceled, q.paused, q.consumers];
  return o;
}

test('welcome.role per token: admin, viewer (preset), a named ACL role; inline, env and file tokens', async () => {
  const a = await Peer.open(hub.url, { token: SECRETS.admin });
  const v = await Peer.open(hub.url, { token: SECRETS.viewer, kind: 'dashboard' });
  const w = await Peer.open(hub.url, { token: SECRETS.worker, kind: 'worker' });
  const l = await Peer.open(hub.url, { token: SECRETS.legacy });
  assert.equal(a.welcome.role, 'admin');
  assert.equal(v.welcome.role, 'viewer'); // the dashboard shows admin buttons only for "admin"
  assert.equal(w.welcome.role, 'aeb-worker');
  assert.equal(l.welcome.role, 'legacy');
  for (const p of [a, v, w, l]) p.close();
});

test('no token, a wrong token, ops before hello: UNAUTHORIZED and nothing changes', async () => {
  const admin = await Peer.open(hub.url, { token: SECRETS.admin });
  const before_ = counts(await queueRows(admin));
  const p = await Peer.open(hub.url, { hello: false });
  for (const h of [{ op: 'enqueue', queue: 'work' }, { op: 'consume', queues: ['work'] }, { op: 'empty', queue: 'work' }, { op: 'subscribe', topics: ['events'] }]) {
    const m = await p.request(h);
    assert.equal(m.header.code, 'UNAUTHORIZED', JSON.stringify(m.header));
    assert.match(m.header.message, /send hello first/);
  }
  let m = await p.request({ op: 'hello', versions: [1] }, { timeoutMs: 10000 });
  assert.equal(m.header.code, 'UNAUTHORIZED');
  assert.equal(m.header.message, 'token: required by this hub');
  m = await p.request({ op: 'hello', versions: [1], token: SECRETS.admin.toUpperCase() }, { timeoutMs: 10000 });
  assert.equal(m.header.code, 'UNAUTHORIZED');
  assert.equal(m.header.message, 'token: not accepted');
  m = await p.request({ op: 'hello', versions: [1], token: `${SECRETS.admin}x` }, { timeoutMs: 10000 });
  assert.equal(m.header.code, 'UNAUTHORIZED');
  m = await p.request({ op: 'enqueue', queue: 'work' });
  assert.equal(m.header.code, 'UNAUTHORIZED');
  assert.deepEqual(counts(await queueRows(admin)), before_);
  // the right token still works on the same connection
  m = await p.request({ op: 'hello', versions: [1], token: SECRETS.admin }, { timeoutMs: 10000 });
  assert.equal(m.header.op, 'welcome');
  p.close();
  admin.close();
});

test('viewer: subscribe + query everything, produce only db.query; consume/enqueue/admin FORBIDDEN, nothing changes', async () => {
  const admin = await Peer.open(hub.url, { token: SECRETS.admin });
  const queued = await admin.ok({ op: 'enqueue', queue: 'work', args: { n: 1 } });
  const v = await Peer.open(hub.url, { token: SECRETS.viewer });
  const before_ = counts(await queueRows(v));
  const refused = [
    [{ op: 'consume', queues: ['work'] }, /consume: not allowed for role 'viewer'/],
    [{ op: 'enqueue', queue: 'work' }, /enqueue: queue 'work' is not allowed for role 'viewer' \(produce\)/],
    [{ op: 'enqueue', queue: 'db' }, /queue 'db' is not allowed/],
    [{ op: 'publish', topic: 'results', data: { x: 1 } }, /publish: topic 'results' is not allowed/],
    [{ op: 'pause', queue: 'work' }, /pause: not allowed for role 'viewer'/],
    [{ op: 'empty', queue: 'work' }, /not allowed/],
    [{ op: 'cancel', job_id: queued.job_id }, /not allowed/],
    [{ op: 'requeue', queue: 'work', all: true }, /not allowed/],
    [{ op: 'result', job_id: queued.job_id, attempt: 1 }, /not allowed/],
  ];
  for (const [h, re] of refused) {
    const m = await v.request(h);
    assert.equal(m.header.code, 'FORBIDDEN', JSON.stringify(h));
    assert.match(m.header.message, re);
  }
  assert.deepEqual(counts(await queueRows(v)), before_);
  const job = await v.ok({ op: 'query', what: 'job', job_id: queued.job_id });
  assert.equal(job.result.status, 'queued');
  // allowed: the results-service request queue, subscriptions, every query, wait
  const q = await v.ok({ op: 'enqueue', queue: 'db.query', args: { sql: 'recordings' } });
  await v.ok({ op: 'subscribe', topics: ['*'] });
  await v.ok({ op: 'query', what: 'workers' });
  await v.ok({ op: 'query', what: 'registry', queue: 'work', registry: 'queued' });
  const wt = await v.request({ op: 'wait', job_id: q.job_id, timeout: 0.2 });
  assert.equal(wt.header.code, 'TIMEOUT');
  await admin.ok({ op: 'cancel', job_id: queued.job_id });
  await admin.ok({ op: 'cancel', job_id: q.job_id });
  v.close();
  admin.close();
});

test('ACL role: consume only "work", emit only into db, subscribe progress + alerts.*; the rest FORBIDDEN', async () => {
  const admin = await Peer.open(hub.url, { token: SECRETS.admin });
  const w = await Peer.open(hub.url, { token: SECRETS.worker, kind: 'worker' });
  let m = await w.request({ op: 'consume', queues: ['work', 'aeb'] });
  assert.equal(m.header.code, 'FORBIDDEN');
  assert.match(m.header.message, /consume: queue 'aeb' is not allowed for role 'aeb-worker' \(consume\)/);
  const rows0 = await queueRows(admin);
  assert.equal(rows0.work.consumers, 0, 'a refused consume must not register the consumer');
  await w.ok({ op: 'consume', queues: ['work'], prefetch: 1 });
  const j = await admin.ok({ op: 'enqueue', queue: 'work', args: { n: 2 } });
  const job = await w.next((x) => x.header.op === 'job' && x.header.job_id === j.job_id);
  // emit routed to db: allowed; routed to aeb: FORBIDDEN, nothing enqueued there
  const e1 = await w.ok({ op: 'emit', job_id: j.job_id, output: 'out', seq: 0, args: { ok: true } });
  assert.equal(e1.status, 'queued');
  const before_ = counts(await queueRows(admin));
  m = await w.request({ op: 'emit', job_id: j.job_id, output: 'side', seq: 1, args: {} });
  assert.equal(m.header.code, 'FORBIDDEN');
  assert.match(m.header.message, /emit: queue 'aeb' is not allowed for role 'aeb-worker' \(produce\)/);
  for (const [h, re] of [
    [{ op: 'enqueue', queue: 'work' }, /queue 'work' is not allowed/],
    [{ op: 'publish', topic: 'results', data: 1 }, /topic 'results' is not allowed/],
    [{ op: 'subscribe', topics: ['events'] }, /topic 'events' is not allowed/],
    [{ op: 'subscribe', topics: ['alerts*'] }, /topic 'alerts\*' is not allowed/],
    [{ op: 'subscribe', topics: ['*'] }, /topic '\*' is not allowed/],
    [{ op: 'query', what: 'queues' }, /query: not allowed for role 'aeb-worker'/],
    [{ op: 'wait', job_id: j.job_id }, /not allowed/],
    [{ op: 'cancel', job_id: j.job_id }, /not allowed/],
  ]) {
    m = await w.request(h);
    assert.equal(m.header.code, 'FORBIDDEN', JSON.stringify(h));
    assert.match(m.header.message, re);
  }
  assert.deepEqual(counts(await queueRows(admin)), before_);
  await w.ok({ op: 'subscribe', topics: ['progress', 'alerts.*'] });
  await w.ok({ op: 'publish', topic: 'alerts.fire', data: { level: 1 } });
  await w.ok({ op: 'result', job_id: j.job_id, attempt: job.header.attempt });
  const done = await admin.ok({ op: 'query', what: 'job', job_id: j.job_id });
  assert.equal(done.result.status, 'finished');
  await admin.ok({ op: 'empty', queue: 'db' });
  w.close();
  admin.close();
});

test('admin limited to db*: pause/empty/cancel there, FORBIDDEN on other queues and their jobs', async () => {
  const admin = await Peer.open(hub.url, { token: SECRETS.admin });
  const d = await Peer.open(hub.url, { token: SECRETS.dbadmin });
  const wj = await admin.ok({ op: 'enqueue', queue: 'work', args: { n: 3 } });
  const dj = await admin.ok({ op: 'enqueue', queue: 'db', args: { n: 4 } });
  const before_ = counts(await queueRows(admin));
  for (const h of [{ op: 'pause', queue: 'work' }, { op: 'empty', queue: 'work' }, { op: 'cancel', job_id: wj.job_id },
    { op: 'requeue', queue: 'aeb', all: true }, { op: 'query', what: 'job', job_id: wj.job_id },
    { op: 'query', what: 'registry', queue: 'work', registry: 'queued' }, { op: 'query', what: 'workers' }]) {
    const m = await d.request(h);
    assert.equal(m.header.code, 'FORBIDDEN', JSON.stringify(h));
  }
  assert.deepEqual(counts(await queueRows(admin)), before_);
  // its own queues: allowed; query queues lists only what it may see
  const rows = (await d.ok({ op: 'query', what: 'queues' })).result.map((q) => q.name).sort();
  assert.deepEqual(rows, ['db', 'db.query']);
  await d.ok({ op: 'pause', queue: 'db' });
  assert.equal((await queueRows(admin)).db.paused, true);
  await d.ok({ op: 'resume', queue: 'db' });
  const c = await d.ok({ op: 'cancel', job_id: dj.job_id });
  assert.equal(c.count, 1);
  assert.equal((await admin.ok({ op: 'query', what: 'job', job_id: wj.job_id })).result.status, 'queued');
  await admin.ok({ op: 'cancel', job_id: wj.job_id });
  d.close();
  admin.close();
});

test('failed hellos are slowed down per peer address; another address is not', async () => {
  const p = await Peer.open(hub.url, { hello: false });
  const times = [];
  for (let i = 0; i < 4; i++) {
    const t0 = Date.now();
    const m = await p.request({ op: 'hello', versions: [1], token: `not-a-token-${i}` }, { timeoutMs: 10000 });
    assert.equal(m.header.code, 'UNAUTHORIZED');
    times.push(Date.now() - t0);
  }
  assert.ok(times[3] >= 700 && times[3] >= 1.7 * times[1], `delays ${times}`);
  // 127.0.0.2 is another peer address on the loopback interface: its first failure is fast
  const q = await Peer.open(hub.url, { hello: false, wsOptions: { localAddress: '127.0.0.2' } });
  const t0 = Date.now();
  const m = await q.request({ op: 'hello', versions: [1], token: 'not-a-token-x' }, { timeoutMs: 10000 });
  assert.equal(m.header.code, 'UNAUTHORIZED');
  assert.ok(Date.now() - t0 < 600, `first failure from 127.0.0.2 took ${Date.now() - t0} ms`);
  // a successful hello resets the count of 127.0.0.1
  const ok = await p.request({ op: 'hello', versions: [1], token: SECRETS.viewer }, { timeoutMs: 10000 });
  assert.equal(ok.header.op, 'welcome');
  p.close();
  q.close();
});

test('no token value in the hub log (trace level): names and SHA-256 fingerprints only', async () => {
  await sleep(200);
  const log = hub.stderr();
  for (const [k, s] of Object.entries(SECRETS)) {
    assert.ok(!log.includes(s), `the ${k} token appears in the log`);
    assert.ok(!log.includes(s.toUpperCase()), `the ${k} token (upper case) appears in the log`);
  }
  assert.ok(!log.includes('not-a-token-'), 'a presented wrong token appears in the log');
  assert.match(log, new RegExp(`token 'ops': role admin, sha256:${fp(SECRETS.admin)}`));
  assert.match(log, new RegExp(`token 'dashboard': role viewer, sha256:${fp(SECRETS.viewer)}`));
  assert.match(log, new RegExp(`role aeb-worker, token aeb-svc sha256:${fp(SECRETS.worker)}`));
  assert.match(log, /failed hello #\d+ from this address: token: not accepted/);
});

test('start refused (exit 1, clear message): token_env unset, token_file unreadable, non-loopback listen without tokens', () => {
  const env = { WSM_SEC_UNSET_TOKEN: '' };
  let r = runHubSync(baseConfig({ tokens: [{ name: 'a', token_env: 'WSM_SEC_UNSET_TOKEN', role: 'admin' }] }), { env });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /tokens\[0\]\.token_env: environment variable 'WSM_SEC_UNSET_TOKEN' is not set or empty/);
  assert.doesNotMatch(r.stderr, /listening/);
  r = runHubSync(baseConfig({ tokens: [{ name: 'a', token_file: '/nonexistent/wsm.token', role: 'admin' }] }));
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /tokens\[0\]\.token_file: cannot read \/nonexistent\/wsm\.token: No such file or directory/);
  for (const address of ['0.0.0.0', '10.1.2.3']) {
    r = runHubSync(baseConfig({ listen: { address, port: 0 } }));
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`listen\\.address: '${address.replace(/\./g, '\\.')}' is not a loopback address and no tokens are configured \\(every client would be admin\\)`));
    assert.doesNotMatch(r.stderr, /listening/);
  }
  // with a token, listening on every interface is accepted (checked without binding)
  r = runHubSync(baseConfig({ listen: { address: '0.0.0.0', port: 0 }, tokens: [{ name: 'a', token: SECRETS.admin, role: 'admin' }] }), { args: ['--check'] });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!r.stdout.includes(SECRETS.admin) && !r.stderr.includes(SECRETS.admin));
});
