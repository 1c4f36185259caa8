// Abuse tests against the real wshub (issue 10, "Abuse tests"): hostile and broken peers must
// get clear errors while everyone else is served and nothing changes.
//  - 10 clients x 1,000 random and malformed messages while the real pipeline (mf4-reader, aeb,
//    db-writer on scenario-gen recordings) runs: the results equal a clean run's; the hub
//    stays up and exits 0 on SIGTERM.
//  - a subscriber that never reads: the hub's RSS stays bounded and the connection is closed.
//  - unauthorised consume / enqueue / admin ops: FORBIDDEN, and the queues are unchanged.
//  - no token, a wrong token, a second hello, a wrong Origin, an oversize message (TOO_LARGE
//    then close 1009), too many connections (LIMIT then close 1013).
// Loopback only; every process started here is stopped here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startHub, Peer, rssKiB, sleep, tmpDir, haveServices, makeRecordings, startServices } from './secutil.mjs';

const TOK = {
  admin: 'sec-admin-token-7f3a9c',
  worker: 'sec-worker-token-1b2c3d',
  viewer: 'sec-viewer-token-4e5f6a',
  abuser: 'sec-abuser-token-9d8c7b',
};
const MAX_MSG = 4 << 20;

function config(limits = {}) {
  return {
    listen: { address: '127.0.0.1', port: 0 },
    queues: {
      mf4: { max_length: 1000, defaults: { timeout: 120 } },
      aeb: { max_length: 64, defaults: { timeout: 60, retry: { max: 2, intervals: [0] } } },
      db: { max_length: 256, defaults: { timeout: 60, retry: { max: 2, intervals: [0] } } },
      'db.query': { max_length: 100, defaults: { timeout: 30 } },
      work: { max_length: 1000 },
    },
    routes: { 'mf4:frames': 'aeb', 'mf4:meta': 'db', 'mf4:result': 'db', 'aeb:frames': 'db', 'aeb:events': 'db' },
    limits: {
      max_message_bytes: MAX_MSG,
      max_connections: 40,
      heartbeat: 1,
      idle_timeout: 5,
      max_errors: 100,
      send_buffer_bytes: 8 << 20,
      subscriber_buffer_bytes: 256 << 10,
      drain_timeout: 2,
      ...limits,
    },
    store: { type: 'memory' },
    logging: { level: 'error' },
    tokens: [
      { name: 'admin', token: TOK.admin, role: 'admin' },
      { name: 'workers', token: TOK.worker, ops: ['consume', 'credit', 'progress', 'emit', 'result', 'fail', 'release', 'subscribe', 'unsubscribe', 'query', 'wait', 'enqueue', 'publish'] },
      { name: 'viewer', token: TOK.viewer, ops: ['subscribe', 'unsubscribe', 'query', 'wait'] },
      // may talk, but not take or make jobs, nor administer
      { name: 'abuser', token: TOK.abuser, ops: ['subscribe', 'unsubscribe', 'query', 'wait', 'publish', 'progress', 'result', 'fail', 'release', 'emit', 'credit'] },
    ],
  };
}

// ------------------------------------------------------------------ random garbage

function prng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

const OPS = ['hello', 'enqueue', 'consume', 'credit', 'progress', 'emit', 'result', 'fail', 'release', 'ping', 'pong', 'subscribe', 'unsubscribe', 'publish', 'wait', 'query', 'requeue', 'cancel', 'empty', 'pause', 'resume', 'job', 'stop', 'event', 'welcome', 'ok', 'error', 'bogus', ''];
const QUEUES = ['mf4', 'aeb', 'db', 'db.query', 'work', 'nope', '', 'a'.repeat(300)];
const VALUES = [null, true, false, 0, -1, 1.5, 1e308, -1e308, 2 ** 63, '', 'x', 'é\u0000', [], {}, [1, 'a', null], { a: { b: [] } }, 'mf4', '../../etc/passwd'];

/** One random or malformed WebSocket message: {bytes, binary}. */
function garbage(r, big) {
  const pick = (a) => a[Math.floor(r() * a.length)];
  const rnd = (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256)));
  const hdr = (h, payload) => {
    const body = payload || Buffer.alloc(0);
    return Buffer.concat([Buffer.from(JSON.stringify(h) + '\n'), body]);
  };
  const randomHeader = () => {
    const h = { op: pick(OPS) };
    const n = Math.floor(r() * 5);
    for (let i = 0; i < n; i++) h[pick(['id', 'queue', 'queues', 'job_id', 'args', 'topics', 'topic', 'what', 'n', 'prefetch', 'attempt', 'seq', 'output', 'token', 'versions', 'all', 'data', 'error', 'job_ids', 'tree', 'timeout', 'depends_on', 'key'])] = pick(VALUES);
    if (r() < 0.5) h.id = `g${Math.floor(r() * 1e9)}`;
    return h;
  };
  switch (Math.floor(r() * 16)) {
    case 0: return { bytes: rnd(Math.floor(r() * 300)), binary: true };
    case 1: return { bytes: Buffer.from('{"op":"ping","id":"x"'), binary: r() < 0.5 }; // no newline
    case 2: return { bytes: Buffer.from('{"op": ping}\n'), binary: false }; // bad JSON
    case 3: return { bytes: Buffer.from(pick(['[1,2]\n', '42\n', '"op"\n', 'null\n', '\n', '{}\n'])), binary: false };
    case 4: return { bytes: hdr(randomHeader()), binary: r() < 0.5 };
    case 5: return { bytes: hdr({ op: 'ping', id: 'l', len: 100 }, rnd(10)), binary: true }; // len beyond the message
    case 6: return { bytes: hdr({ op: 'publish', topic: 'garbage', len: pick([-1, 1.5, '3', 1e20]) }), binary: true };
    case 7: { // a batch with a bad message in the middle
      const parts = [hdr({ op: 'ping', id: 'b1' }), rnd(20), hdr({ op: 'ping', id: 'b2' })];
      return { bytes: Buffer.concat(parts), binary: true };
    }
    case 8: // forbidden for the abuser's token (FORBIDDEN) or before hello (UNAUTHORIZED)
      return { bytes: hdr(pick([
        { op: 'consume', id: 'f1', queues: ['aeb'], prefetch: 100 },
        { op: 'enqueue', id: 'f2', queue: 'db', args: { recording_id: 'evil', summary: { frames: 1 } } },
        { op: 'cancel', id: 'f3', job_id: 'x' },
        { op: 'empty', id: 'f4', queue: pick(QUEUES) },
        { op: 'pause', id: 'f5', queue: 'aeb' },
        { op: 'requeue', id: 'f6', queue: 'db', all: true },
      ])), binary: r() < 0.5 };
    case 9: return { bytes: hdr({ op: 'hello', id: 'h2', versions: pick([[1], [2], [], 'x']), token: pick([TOK.abuser, 'wrong', 7]) }), binary: true };
    case 10: return { bytes: Buffer.from('['.repeat(20000) + '\n'), binary: true }; // deep nesting
    case 11: return { bytes: Buffer.from(`{"op":"ping","pad":"${'p'.repeat(70000)}"}\n`), binary: true }; // header > 64 KiB
    case 12: // allowed ops on jobs that are not ours
      return { bytes: hdr(pick([
        { op: 'result', id: 'r', job_id: `${Math.floor(r() * 1e6)}`, attempt: 1, value: { x: 1 } },
        { op: 'fail', id: 'r', job_id: 'nope', attempt: 1, error: { type: 'X', message: 'y' } },
        { op: 'emit', id: 'r', job_id: 'nope', output: 'frames', seq: 0 },
        { op: 'release', id: 'r', job_ids: ['a', 'b'] },
        { op: 'progress', job_id: 'nope', done: 1, total: 2 },
        { op: 'credit', n: pick([-1e9, 1e9, 1.5, 'x']) },
        { op: 'wait', id: 'w', job_id: 'nope', timeout: 0.01 },
        { op: 'query', id: 'q', what: pick(['hub', 'queues', 'workers', 'job', 'tree', 'registry', 'x']), job_id: 'nope', queue: pick(QUEUES), registry: 'failed', limit: pick([1, 5000, -1]) },
        { op: 'subscribe', id: 's', topics: pick([['*'], ['progress', 'events'], [''], 'x', [1]]) },
        { op: 'publish', topic: pick(['garbage', 'progress', '', 'a*']), data: pick(VALUES) },
      ])), binary: true };
    case 13: return { bytes: Buffer.from([0xff, 0xfe, 0x0a, 0xc3, 0x28]), binary: r() < 0.2 }; // invalid UTF-8 (in a text frame: 1007)
    case 14: return big ? { bytes: Buffer.alloc(MAX_MSG + 1024, 0x41), binary: true } : { bytes: rnd(5), binary: true };
    default: return { bytes: hdr(randomHeader(), r() < 0.3 ? rnd(Math.floor(r() * 100)) : null), binary: r() < 0.7 };
  }
}

/** A client sending n garbage messages, reconnecting whenever the hub closes it. */
async function abuser(url, i, n) {
  const r = prng(1000 + i);
  const mode = i % 3; // 0: abuser token, 1: no hello at all, 2: a wrong token first
  const stats = { sent: 0, errors: {}, closes: {}, connects: 0 };
  let p = null;
  let bigSent = false;
  while (stats.sent < n) {
    if (!p || p.closed) {
      if (p) stats.closes[p.closed.code] = (stats.closes[p.closed.code] || 0) + 1;
      p = await Peer.open(url, { name: `abuser${i}`, hello: false });
      p.autoPong = mode === 0;
      stats.connects++;
      if (mode === 0) await p.ok({ op: 'hello', versions: [1], name: `abuser${i}`, token: TOK.abuser }).catch(() => {});
      // not awaited: the hub may answer failed hellos from one address with growing delay
      if (mode === 2) p.send({ op: 'hello', id: 'bad-hello', versions: [1], token: 'not-the-token' });
    }
    const g = garbage(r, !bigSent && stats.sent > n / 2 && i < 3);
    if (g.bytes.length > MAX_MSG) bigSent = true;
    p.sendRaw(g.bytes, g.binary);
    stats.sent++;
    for (const m of p.inbox.splice(0)) if (m.header.op === 'error') stats.errors[m.header.code] = (stats.errors[m.header.code] || 0) + 1;
    if (stats.sent % 25 === 0) await sleep(2); // let the pipeline breathe; 1,000 messages take ~1 s
  }
  await sleep(200);
  for (const m of p.inbox.splice(0)) if (m.header.op === 'error') stats.errors[m.header.code] = (stats.errors[m.header.code] || 0) + 1;
  if (p.closed) stats.closes[p.closed.code] = (stats.closes[p.closed.code] || 0) + 1;
  p.terminate();
  return stats;
}

// ------------------------------------------------------------------ pipeline

/** Removes timestamps (they differ between runs by nature). */
function stable(v) {
  if (Array.isArray(v)) return v.map(stable);
  if (v && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v).sort()) if (!/_at$/.test(k)) o[k] = stable(v[k]);
    return o;
  }
  return v;
}

async function dbQuery(admin, args) {
  const { job_id } = await admin.ok({ op: 'enqueue', queue: 'db.query', args });
  const w = await admin.ok({ op: 'wait', job_id, timeout: 30 }, { timeoutMs: 35000 });
  if (w.job.status !== 'finished') {
    const j = (await admin.ok({ op: 'query', what: 'job', job_id })).result;
    assert.fail(`db.query ${JSON.stringify(args)}: ${j.status}: ${JSON.stringify(j)}`);
  }
  return w.job.result;
}

/** Every stored row of a recording, paging through `rows` answers: [{frame, t, ...}]. */
async function allRows(admin, id) {
  const rows = [];
  for (let first = 0; ; ) {
    const a = await dbQuery(admin, { q: 'rows', recording_id: id, first_frame: first, max_rows: 100000 });
    if (!a.frame?.length) return rows;
    a.frame.forEach((f, i) => rows.push(Object.fromEntries(Object.keys(a).filter((k) => Array.isArray(a[k])).map((k) => [k, a[k][i]]))));
    first = a.frame[a.frame.length - 1] + 1;
  }
}

/** Runs the pipeline over recs on a fresh hub; with abuse, 10 abusers run alongside. */
async function runPipeline(dir, recs, channels, abuse) {
  const hub = await startHub(config(), { dir: tmpDir() });
  const svc = startServices(hub.url, TOK.worker, `sqlite:${path.join(dir, `results-${abuse ? 'abused' : 'clean'}.db`)}`);
  let admin;
  try {
    admin = await Peer.open(hub.url, { name: 'admin', token: TOK.admin });
    const abusers = abuse ? Array.from({ length: 10 }, (_, i) => abuser(hub.url, i, 1000)) : [];
    const roots = [];
    for (const rec of recs) roots.push((await admin.ok({ op: 'enqueue', queue: 'mf4', args: { path: rec.path, channels, recording_id: rec.name } })).job_id);
    for (const id of roots) {
      const w = await admin.ok({ op: 'wait', job_id: id, tree: true, timeout: 60 }, { timeoutMs: 65000 });
      assert.equal(w.job.tree_status, 'finished', `tree ${id}: ${JSON.stringify(w.job)}\n${JSON.stringify(svc.logs)}`);
    }
    const stats = await Promise.all(abusers);
    assert.ok(hub.alive(), 'the hub died');
    const results = {};
    for (const rec of recs) {
      results[rec.name] = {
        recording: await dbQuery(admin, { q: 'recording', recording_id: rec.name }),
        events: await dbQuery(admin, { q: 'events', recording_id: rec.name }),
        rows: await allRows(admin, rec.name),
      };
      assert.equal(results[rec.name].rows.length, rec.frames, `${rec.name}: rows stored`);
    }
    const health = await fetch(`${hub.httpUrl}/healthz`);
    assert.equal(health.status, 200);
    const queues = (await admin.ok({ op: 'query', what: 'queues' })).result;
    return { results: stable(results), stats, queues };
  } finally {
    admin?.terminate();
    await svc.stop();
    const ex = await hub.stop();
    assert.equal(ex.code, 0, `wshub exit ${JSON.stringify(ex)}:\n${hub.stderr().slice(-3000)}`);
  }
}

let work;
before(() => {
  work = tmpDir('wsm-sec-rec-');
});
after(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

test('10 clients x 1,000 malformed messages during a pipeline: results identical to a clean run, hub up', { skip: !haveServices() && 'pipeline services not built', timeout: 90000 }, async () => {
  const { recs, channels } = makeRecordings(work, ['CCRs-50', 'CCRm-50']);
  assert.equal(recs.length, 2);
  const clean = await runPipeline(work, recs, channels, false);
  const abused = await runPipeline(work, recs, channels, true);
  assert.deepEqual(abused.results, clean.results);
  const total = { sent: 0, errors: {}, closes: {}, connects: 0 };
  for (const s of abused.stats) {
    total.sent += s.sent;
    total.connects += s.connects;
    for (const [k, v] of Object.entries(s.errors)) total.errors[k] = (total.errors[k] || 0) + v;
    for (const [k, v] of Object.entries(s.closes)) total.closes[k] = (total.closes[k] || 0) + v;
  }
  console.log(`abusers: ${JSON.stringify(total)}`);
  assert.equal(total.sent, 10000);
  for (const code of ['BAD_JSON', 'BAD_FRAME', 'UNAUTHORIZED', 'FORBIDDEN']) assert.ok(total.errors[code] > 0, `no ${code} seen: ${JSON.stringify(total.errors)}`);
  assert.ok(total.closes[1008] > 0, 'no connection closed for too many errors (1008)');
  // no job was taken or made by the abusers: only the pipeline's own jobs exist
  const count = (qs) => Object.fromEntries(qs.map((q) => [q.name, q.finished + q.failed + q.canceled + q.expired + q.queued + q.started]));
  assert.deepEqual(count(abused.queues), count(clean.queues));
});

// ------------------------------------------------------------------ one hub for the rest

let hub;
test('start a hub for the remaining tests', async () => {
  hub = await startHub(config({ max_connections: 12, idle_timeout: 3, heartbeat: 0.5 }), { dir: tmpDir() });
});

test('a subscriber that never reads: hub RSS stays bounded, the connection is closed', { timeout: 30000 }, async () => {
  const pub = await Peer.open(hub.url, { token: TOK.worker });
  const slow = await Peer.open(hub.url, { token: TOK.viewer });
  await slow.ok({ op: 'subscribe', topics: ['*'] });
  slow.ws._socket.pause(); // stop reading: the hub's output for it piles up
  slow.autoPong = false;
  const rss0 = rssKiB(hub.pid);
  const blob = 'x'.repeat(60000);
  let maxRss = rss0;
  // 120 MB of events for it: 2,000 events of ~60 KB on 50 subjects (coalescing keeps the latest)
  for (let i = 0; i < 2000; i++) {
    pub.send({ op: 'publish', topic: 'flood', data: { subject: `s${i % 50}`, i, blob } });
    if (i % 50 === 49) {
      await sleep(5);
      maxRss = Math.max(maxRss, rssKiB(hub.pid));
    }
  }
  await pub.request({ op: 'ping' }, { timeoutMs: 30000 }); // the hub has read everything
  maxRss = Math.max(maxRss, rssKiB(hub.pid));
  console.log(`hub RSS: ${rss0} KiB before, max ${maxRss} KiB while flooding a never-reading subscriber`);
  assert.ok(maxRss - rss0 < 64 * 1024, `hub RSS grew by ${maxRss - rss0} KiB (bounded: < 64 MiB expected for 120 MB of events)`);
  // it answers no ping: closed by the idle timeout (3 s) at the latest
  const conns = async () => (await pub.ok({ op: 'query', what: 'hub' })).result.connections;
  const n0 = await conns();
  const deadline = Date.now() + 10000;
  let gone = false;
  while (Date.now() < deadline && !gone) {
    await sleep(250);
    gone = (await conns()) < n0;
  }
  assert.ok(hub.alive());
  assert.ok(gone, 'the never-reading subscriber is still connected');
  slow.terminate();
  pub.close();
});

test('unauthorised consume / enqueue / admin: FORBIDDEN, nothing changes', async () => {
  const admin = await Peer.open(hub.url, { token: TOK.admin });
  const viewer = await Peer.open(hub.url, { token: TOK.viewer });
  const worker = await Peer.open(hub.url, { token: TOK.worker });
  const { job_id } = await admin.ok({ op: 'enqueue', queue: 'work', args: { n: 1 } });
  const before = (await admin.ok({ op: 'query', what: 'queues' })).result;
  const attempts = [
    [viewer, { op: 'consume', queues: ['work'], prefetch: 10 }],
    [viewer, { op: 'enqueue', queue: 'work', args: {} }],
    [viewer, { op: 'emit', job_id, output: 'frames', seq: 0 }],
    [viewer, { op: 'result', job_id, attempt: 1 }],
    [viewer, { op: 'publish', topic: 'x', data: 1 }],
    [worker, { op: 'cancel', job_id }],
    [worker, { op: 'empty', queue: 'work' }],
    [worker, { op: 'pause', queue: 'work' }],
    [worker, { op: 'requeue', queue: 'work', all: true }],
    [viewer, { op: 'pause', queue: 'work' }],
  ];
  for (const [p, h] of attempts) {
    const m = await p.request(h);
    assert.equal(m.header.op, 'error', JSON.stringify(h));
    assert.equal(m.header.code, 'FORBIDDEN', `${JSON.stringify(h)}: ${JSON.stringify(m.header)}`);
    assert.match(m.header.message, new RegExp(h.op));
  }
  await sleep(100);
  assert.equal(viewer.inbox.filter((m) => m.header.op === 'job').length, 0, 'a job was dispatched to a forbidden consumer');
  const afterQ = (await admin.ok({ op: 'query', what: 'queues' })).result;
  assert.deepEqual(stable(afterQ), stable(before));
  const j = (await admin.ok({ op: 'query', what: 'job', job_id })).result;
  assert.equal(j.status, 'queued');
  await admin.ok({ op: 'cancel', job_id });
  for (const p of [admin, viewer, worker]) p.close();
});

test('no token, a wrong token, a second hello, then garbage before hello: UNAUTHORIZED/BAD_STATE', async () => {
  const p = await Peer.open(hub.url, { hello: false });
  let m = await p.request({ op: 'hello', versions: [1] });
  assert.equal(m.header.code, 'UNAUTHORIZED');
  m = await p.request({ op: 'hello', versions: [1], token: TOK.admin.slice(0, -1) + 'X' });
  assert.equal(m.header.code, 'UNAUTHORIZED');
  m = await p.request({ op: 'hello', versions: [1], token: TOK.admin + 'X' });
  assert.equal(m.header.code, 'UNAUTHORIZED');
  for (const op of ['consume', 'enqueue', 'query', 'subscribe', 'cancel']) {
    m = await p.request({ op, queues: ['work'], queue: 'work', what: 'hub', topics: ['events'], job_id: 'x' });
    assert.equal(m.header.code, 'UNAUTHORIZED', op);
  }
  assert.equal((await p.request({ op: 'ping' })).header.op, 'pong'); // ping is allowed before hello
  m = await p.request({ op: 'hello', versions: [1], token: TOK.viewer });
  assert.equal(m.header.op, 'welcome');
  assert.equal(m.header.role, 'viewer');
  m = await p.request({ op: 'hello', versions: [1], token: TOK.admin });
  assert.equal(m.header.code, 'BAD_STATE'); // no upgrade by a second hello
  m = await p.request({ op: 'pause', queue: 'work' });
  assert.equal(m.header.code, 'FORBIDDEN');
  p.close();
});

test('a wrong Origin: the WebSocket upgrade is refused (403)', async () => {
  const r = await Peer.open(hub.url, { hello: false, headers: { Origin: 'http://evil.example' } }).then(
    (p) => {
      p.terminate();
      return null;
    },
    (e) => e,
  );
  assert.ok(r, 'a connection with Origin http://evil.example was accepted');
  assert.match(String(r), /HTTP 403/);
  // the hub's own origin is allowed
  const own = await Peer.open(hub.url, { token: TOK.viewer, headers: { Origin: hub.httpUrl } });
  own.close();
});

test('oversize message: TOO_LARGE, then close 1009; others unaffected', async () => {
  const other = await Peer.open(hub.url, { token: TOK.viewer });
  const p = await Peer.open(hub.url, { token: TOK.worker });
  p.send({ op: 'publish', topic: 'big', id: 'big' }, Buffer.alloc(MAX_MSG + 1, 0x42));
  const closed = await p.waitClosed(15000);
  assert.equal(closed.code, 1009);
  const err = p.inbox.find((m) => m.header.op === 'error');
  assert.ok(err, 'no error before the close');
  assert.equal(err.header.code, 'TOO_LARGE');
  // a header line above max_header_bytes: TOO_LARGE, the connection stays
  const q = await Peer.open(hub.url, { token: TOK.worker });
  q.sendRaw(Buffer.from(`{"op":"ping","id":"h","pad":"${'p'.repeat(70000)}"}\n`));
  const e2 = await q.next((m) => m.header.op === 'error');
  assert.equal(e2.header.code, 'TOO_LARGE');
  assert.equal((await q.request({ op: 'ping' })).header.op, 'pong');
  assert.equal((await other.request({ op: 'ping' })).header.op, 'pong');
  q.close();
  other.close();
});

test('too many connections: LIMIT, close 1013; a slot is usable again after a close', async () => {
  await sleep(300); // closes of earlier tests settle
  const open = [];
  let refused = null;
  for (let i = 0; i < 20 && !refused; i++) {
    const p = await Peer.open(hub.url, { hello: false });
    await sleep(30);
    if (p.closed || p.inbox.some((m) => m.header.op === 'error')) refused = p;
    else open.push(p);
  }
  assert.ok(refused, 'no connection was refused with max_connections 12');
  assert.ok(open.length <= 12, `${open.length} connections accepted`);
  const e = await refused.next((m) => m.header.op === 'error').catch(() => null);
  if (e) assert.equal(e.header.code, 'LIMIT');
  assert.equal((await refused.waitClosed()).code, 1013);
  open.pop().terminate();
  await sleep(300);
  const again = await Peer.open(hub.url, { token: TOK.viewer });
  assert.equal((await again.request({ op: 'ping' })).header.op, 'pong');
  again.close();
  for (const p of open) p.terminate();
});

test('the hub is still healthy and exits 0 on SIGTERM', async () => {
  const h = await fetch(`${hub.httpUrl}/healthz`);
  assert.equal(h.status, 200);
  const ex = await hub.stop();
  assert.equal(ex.code, 0, hub.stderr().slice(-3000));
});
