// Hub security integration: every limit of docs/operations.md (Security, limits) against the
// real wshub with small values — max message size (TOO_LARGE, then close 1009), max
// connections (LIMIT, close 1013 "too many connections"), the per-connection send buffer (a
// slow consumer is closed 1013 with a reason, the others are unaffected, its leased jobs are
// requeued and finished by another worker), max queue length (QUEUE_FULL, nothing enqueued),
// max protocol errors (1008), idle timeout (1001; a peer that reads nothing is released, not
// kept waiting for its close frame), hello timeout (1008) and a half-open handshake (a TCP peer
// that never completes its HTTP request is dropped).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startHub, baseConfig, Peer, queueRows, sleep } from './secutil.mjs';

const TOKEN = 'limits-admin-token-5f6e7d';
let hub;
before(async () => {
  hub = await startHub(
    baseConfig({
      queues: { bulk: { defaults: { retry: { max: 2, intervals: [0] } } }, small: { max_length: 3 } },
      tokens: [{ name: 'ops', token: TOKEN, role: 'admin' }],
      limits: {
        max_message_bytes: 65536,
        max_header_bytes: 4096,
        max_connections: 8,
        send_buffer_bytes: 262144,
        max_errors: 5,
        idle_timeout: 2,
        heartbeat: 0.5,
        hello_timeout: 1.5,
        drain_timeout: 1,
      },
    }),
  );
});
after(async () => {
  const r = await hub.stop();
  assert.equal(r.code, 0, hub.stderr());
});

const open = (o = {}) => Peer.open(hub.url, { token: TOKEN, ...o });

test('max_message_bytes: TOO_LARGE, then close 1009; another connection unaffected', async () => {
  const other = await open();
  const p = await open();
  p.send({ op: 'publish', topic: 'big', id: 'big' }, Buffer.alloc(65536 + 1, 0x42));
  const closed = await p.waitClosed(5000);
  assert.equal(closed.code, 1009);
  assert.equal(closed.reason, 'message too big');
  const err = p.inbox.find((m) => m.header.op === 'error');
  assert.equal(err?.header.code, 'TOO_LARGE');
  assert.match(err.header.message, /limits\.max_message_bytes \(65536\)/);
  // exactly at the limit is fine
  const q = await open();
  const body = Buffer.alloc(65536 - 200, 0x43);
  const hdr = Buffer.from(JSON.stringify({ op: 'publish', topic: 'big', id: 'ok', len: body.length }) + '\n');
  q.sendRaw(Buffer.concat([hdr, body, Buffer.alloc(65536 - hdr.length - body.length, 0)]).subarray(0, hdr.length + body.length));
  assert.equal((await q.next((m) => m.header.ref === 'ok')).header.op, 'ok');
  assert.equal((await other.request({ op: 'ping' })).header.op, 'pong');
  q.close();
  other.close();
});

test('max_errors: the 5th protocol error closes that connection with 1008', async () => {
  const p = await open();
  for (let i = 0; i < 5; i++) p.sendRaw(Buffer.from('not json\n'));
  const c = await p.waitClosed(5000);
  assert.equal(c.code, 1008);
  assert.equal(c.reason, 'too many protocol errors');
  assert.equal(p.inbox.filter((m) => m.header.code === 'BAD_JSON').length, 5);
});

test('max queue length: QUEUE_FULL above max_length, nothing enqueued', async () => {
  const p = await open();
  for (let i = 0; i < 3; i++) await p.ok({ op: 'enqueue', queue: 'small', args: { i } });
  const m = await p.request({ op: 'enqueue', queue: 'small', args: { i: 3 }, job_id: 'one-too-many' });
  assert.equal(m.header.code, 'QUEUE_FULL');
  assert.equal((await queueRows(p)).small.queued, 3);
  assert.equal((await p.request({ op: 'query', what: 'job', job_id: 'one-too-many' })).header.code, 'NO_SUCH_JOB');
  await p.ok({ op: 'empty', queue: 'small' });
  p.close();
});

test('max_connections: the connection above the limit gets LIMIT and close 1013; the slot comes back', async () => {
  await sleep(300); // closes of earlier tests settle
  const peers = [];
  let refused = null;
  for (let i = 0; i < 12 && !refused; i++) {
    const p = await Peer.open(hub.url, { hello: false });
    await sleep(50);
    if (p.closed || p.inbox.some((m) => m.header.op === 'error')) refused = p;
    else peers.push(p);
  }
  assert.ok(refused, 'no connection refused');
  assert.equal(peers.length, 8);
  const e = await refused.next((m) => m.header.op === 'error');
  assert.equal(e.header.code, 'LIMIT');
  assert.match(e.header.message, /too many connections \(limits\.max_connections\)/);
  const c = await refused.waitClosed();
  assert.equal(c.code, 1013);
  assert.equal(c.reason, 'too many connections');
  peers.pop().terminate();
  await sleep(200);
  const again = await open();
  assert.equal((await again.request({ op: 'ping' })).header.op, 'pong');
  again.close();
  for (const p of peers) p.terminate();
  await sleep(200);
});

test('slow consumer: closed 1013 with a reason, others unaffected, its leased jobs requeued', async () => {
  const slow = await open({ name: 'slow', kind: 'worker' });
  await slow.ok({ op: 'consume', queues: ['bulk'], prefetch: 1000 });
  slow.ws._socket.pause(); // stops reading: the hub's output for it piles up
  // ... but keeps talking, so that it is the send buffer (not the idle timeout) that closes it
  const talk = setInterval(() => slow.send({ op: 'pong' }), 200);
  const bystander = await open({ name: 'bystander' });
  const prod = await open({ name: 'producer' });
  const big = Buffer.alloc(60000, 7);
  const ids = [];
  for (let i = 0; i < 300; i++) ids.push((await prod.ok({ op: 'enqueue', queue: 'bulk', args: { i } }, { payload: big })).job_id);
  // wait for the hub to give up on it
  let closed = false;
  for (let k = 0; k < 100 && !closed; k++) {
    await sleep(100);
    closed = /closing \(slow consumer\)/.test(hub.stderr());
  }
  clearInterval(talk);
  assert.ok(closed, 'the slow consumer was not closed');
  assert.equal((await bystander.request({ op: 'ping' })).header.op, 'pong');
  slow.ws._socket.resume();
  // Once it reads again it gets what the kernel still held, then the close frame (1013 with
  // the reason) — unless the hub had to drop the socket because even the close frame could
  // not be written to a peer that does not read (1006). The hub's log and metric are exact.
  const c = await slow.waitClosed(5000);
  assert.ok(c.code === 1013 || c.code === 1006, `close code ${c.code}`);
  if (c.code === 1013) assert.equal(c.reason, 'send buffer overflow (slow consumer)');
  const metrics = await (await fetch(`${hub.httpUrl}/metrics`)).text();
  assert.match(metrics, /^wsmesh_closes_total\{reason="slow_consumer"\} 1$/m);
  slow.terminate();
  const fast = await open({ name: 'fast', kind: 'worker' });
  await fast.ok({ op: 'consume', queues: ['bulk'], prefetch: 4 });
  const got = new Map();
  while (got.size < ids.length) {
    const m = await fast.next((x) => x.header.op === 'job', 10000);
    assert.equal(m.payload.length, big.length);
    got.set(m.header.job_id, m.header.attempt);
    await fast.ok({ op: 'result', job_id: m.header.job_id, attempt: m.header.attempt });
  }
  assert.deepEqual([...got.keys()].sort(), [...ids].sort());
  // the jobs leased to the slow consumer ran again (attempt 2), the others once
  assert.ok([...got.values()].filter((a) => a === 2).length >= 1, JSON.stringify([...got.values()]));
  assert.match(hub.stderr(), /session \d+ \(127\.0\.0\.1\): .*closing \(slow consumer\)/);
  for (const p of [bystander, prod, fast]) p.close();
});

test('idle timeout: a connection that sends nothing (no pong either) is closed 1001', async () => {
  const p = await open();
  p.autoPong = false;
  const t0 = Date.now();
  const c = await p.waitClosed(6000);
  assert.equal(c.code, 1001);
  assert.equal(c.reason, 'idle timeout');
  assert.ok(Date.now() - t0 >= 1500, `closed after ${Date.now() - t0} ms`);
});

test('a subscriber that neither reads nor talks is closed by the idle timeout and released', async () => {
  // a large send buffer: the idle timeout, not the slow-consumer rule, ends this connection
  const big = await startHub(baseConfig({
    tokens: [{ name: 'ops', token: TOKEN, role: 'admin' }],
    limits: { send_buffer_bytes: 64 << 20, idle_timeout: 2, heartbeat: 0.5, drain_timeout: 1 },
  }));
  try {
    const pub = await Peer.open(big.url, { token: TOKEN, name: 'flood-pub' });
    const deaf = await Peer.open(big.url, { token: TOKEN, name: 'deaf' });
    await deaf.ok({ op: 'subscribe', topics: ['flood'] });
    deaf.ws._socket.pause();
    deaf.autoPong = false;
    const conns = async () => (await pub.ok({ op: 'query', what: 'hub' })).result.connections;
    const n0 = await conns();
    const blob = Buffer.alloc(60000, 0x78);
    for (let i = 0; i < 300; i++) pub.send({ op: 'publish', topic: 'flood', subject: `s${i}`, data: { i } }, blob);
    await pub.request({ op: 'ping' }, { timeoutMs: 20000 });
    const t0 = Date.now();
    let n = n0;
    while (Date.now() - t0 < 6000 && n >= n0) {
      await sleep(200);
      n = await conns();
    }
    // the close frame cannot reach a peer that reads nothing: the hub must not wait for it for
    // ever (its buffers and its max_connections slot would stay taken)
    assert.equal(n, n0 - 1, `connections ${n0} -> ${n} after ${Date.now() - t0} ms\n${big.stderr().slice(-2000)}`);
    assert.match(big.stderr(), /session \d+ \(127\.0\.0\.1\): idle for 2\.0 s: closing/);
    deaf.terminate();
    pub.close();
  } finally {
    const r = await big.stop();
    assert.equal(r.code, 0, big.stderr());
  }
});

test('hello timeout: a connection that talks but never says hello is closed 1008', async () => {
  const p = await Peer.open(hub.url, { hello: false });
  const t0 = Date.now();
  const timer = setInterval(() => p.send({ op: 'ping' }), 300); // not idle, just never authenticated
  const c = await p.waitClosed(6000).finally(() => clearInterval(timer));
  assert.equal(c.code, 1008);
  assert.equal(c.reason, 'hello timeout');
  assert.ok(Date.now() - t0 >= 1200 && Date.now() - t0 < 4000, `closed after ${Date.now() - t0} ms`);
});

test('half-open handshake: a TCP peer that never finishes its HTTP request is dropped', async () => {
  const s = net.connect(hub.port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  s.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n'); // ... and nothing more
  const t0 = Date.now();
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('not dropped within 8 s')), 8000);
    s.on('close', () => {
      clearTimeout(t);
      resolve();
    });
    s.on('error', () => {});
    s.resume();
  });
  assert.ok(Date.now() - t0 < 8000);
  const p = await open();
  assert.equal((await p.request({ op: 'ping' })).header.op, 'pong');
  p.close();
});
