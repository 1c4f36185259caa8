// wshub integration: thousands of random and half-valid headers (every op, fields of every JSON
// type, random bytes, random frame types) from several connections: each gets an answer or an
// error, the hub never crashes (run under ASan in CI), and a well-behaved client is served
// throughout. Deterministic: a seeded PRNG.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, testConfig, Client, sleep } from './hubutil.mjs';

let hub;
before(async () => {
  hub = await startHub(
    testConfig({
      queues: { work: { max_length: 50 }, b: {} },
      routes: { 'work:out': 'b', 'work:result': 'b' },
      limits: { max_errors: 1000000, drain_timeout: 1, max_message_bytes: 1048576 },
    }),
  );
});
after(async () => {
  const r = await hub.stop();
  assert.equal(r.code, 0, hub.stderr());
});

let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
const pick = (a) => a[Math.floor(rnd() * a.length)];
const OPS = ['hello', 'ping', 'pong', 'enqueue', 'consume', 'credit', 'progress', 'emit', 'result', 'fail', 'release', 'subscribe', 'unsubscribe', 'publish', 'wait', 'query', 'requeue', 'cancel', 'empty', 'pause', 'resume', 'job', 'stop', 'x'];
const FIELDS = ['id', 'queue', 'queues', 'job_id', 'job_ids', 'args', 'meta', 'timeout', 'ttl', 'retry', 'depends_on', 'key', 'at_front', 'enqueue_at', 'enqueue_in', 'weight', 'prefetch', 'n', 'output', 'seq', 'attempt', 'value', 'state', 'error', 'topics', 'topic', 'data', 'what', 'registry', 'offset', 'limit', 'all', 'tree', 'versions', 'token', 'content_type', 'payload_meta', 'done', 'total', 'message'];
function value(depth = 0) {
  switch (Math.floor(rnd() * (depth > 2 ? 6 : 9))) {
    case 0: return null;
    case 1: return rnd() < 0.5;
    case 2: return Math.floor(rnd() * 2e9) - 1e9;
    case 3: return rnd() * 1e6 - 10;
    case 4: return pick(['work', 'b', 'nope', '', 'x'.repeat(300), 'a\u0000b', 'job-1', 'work:out', '*', 'events', 'stats']);
    case 5: return pick([-1, 0, 1, 2, 1e300, 0.5]);
    case 6: return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth + 1));
    case 7: return Object.fromEntries(Array.from({ length: Math.floor(rnd() * 4) }, () => [pick(FIELDS), value(depth + 1)]));
    default: return { max: Math.floor(rnd() * 5), intervals: [rnd(), 'x'] };
  }
}

test('random headers from 4 connections: answers or errors, the hub keeps serving', async () => {
  const good = await Client.connect(hub.url, { name: 'good' });
  const clients = [];
  for (let i = 0; i < 4; i++) clients.push(await Client.connect(hub.url, { name: `g${i}`, hello: i % 2 === 0 }));
  let sent = 0;
  for (let round = 0; round < 60; round++) {
    for (const c of clients) {
      if (c.closed) continue;
      const parts = [];
      const nmsg = 1 + Math.floor(rnd() * 8);
      for (let k = 0; k < nmsg; k++) {
        const h = { op: pick(OPS) };
        const nf = Math.floor(rnd() * 6);
        for (let f = 0; f < nf; f++) h[pick(FIELDS)] = value();
        if (rnd() < 0.3) h.id = `r${sent}`;
        let payload = null;
        if (rnd() < 0.2) payload = Buffer.from(Array.from({ length: Math.floor(rnd() * 300) }, () => Math.floor(rnd() * 256)));
        let bytes = Buffer.concat([Buffer.from(JSON.stringify({ ...h, ...(payload ? { len: payload.length } : {}) }) + '\n'), payload || Buffer.alloc(0)]);
        if (rnd() < 0.05) bytes = bytes.subarray(0, Math.floor(rnd() * bytes.length)); // truncated
        if (rnd() < 0.03) bytes = Buffer.from(Array.from({ length: 40 }, () => Math.floor(rnd() * 256))); // noise
        parts.push(bytes);
        sent++;
      }
      c.sendRaw(Buffer.concat(parts), { binary: rnd() < 0.7 });
    }
    if (round % 10 === 0) {
      const pong = await good.request({ op: 'ping' });
      assert.equal(pong.header.op, 'pong');
    }
  }
  await sleep(300);
  const q = await good.ok({ op: 'query', what: 'hub' });
  assert.ok(q.result.connections >= 1);
  const total = clients.reduce((n, c) => n + c.inbox.length, 0);
  assert.ok(total > 100, `only ${total} answers to ${sent} messages`);
  for (const c of clients) c.terminate();
  good.close();
});
