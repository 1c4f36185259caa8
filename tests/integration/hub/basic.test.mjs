// wshub integration: session (hello/welcome, ping/pong, auth before hello), enqueue -> consume ->
// result, 3 workers sharing a queue, payloads forwarded byte for byte, batching, and every kind of
// malformed input answered with its documented error while the hub keeps serving others.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, testConfig, Client, encode, sleep } from './hubutil.mjs';

let hub;

before(async () => {
  hub = await startHub(
    testConfig({
      queues: { work: { max_length: 100000 }, small: { max_length: 2 }, other: {}, bin: {}, topics: {}, routed: {}, 'routed.out': {}, admin: {} },
      routes: { 'routed:result': 'routed.out' },
      limits: { max_message_bytes: 1048576, max_errors: 50, heartbeat: 1, idle_timeout: 30, drain_timeout: 2 },
    }),
  );
});

after(async () => {
  const r = await hub.stop();
  assert.equal(r.code, 0, `wshub exit: ${JSON.stringify(r)}\n${hub.stderr()}`);
});

test('hello: welcome with the negotiated version and limits', async () => {
  const c = await Client.connect(hub.url);
  assert.equal(c.welcome.version, 1);
  assert.match(c.welcome.hub, /^wshub /);
  assert.equal(c.welcome.role, 'admin');
  assert.equal(c.welcome.max_message_bytes, 1048576);
  assert.equal(c.welcome.emit_window, 64);
  assert.ok(Number.isInteger(c.welcome.session));
  const again = await c.request({ op: 'hello', versions: [1] });
  assert.equal(again.header.op, 'error');
  assert.equal(again.header.code, 'BAD_STATE');
  c.close();
});

test('hello: unsupported version, bad field; ops before hello are UNAUTHORIZED; ping works', async () => {
  const c = await Client.connect(hub.url, { hello: false });
  const pong = await c.request({ op: 'ping' });
  assert.equal(pong.header.op, 'pong');
  const e1 = await c.request({ op: 'enqueue', queue: 'work' });
  assert.equal(e1.header.code, 'UNAUTHORIZED');
  const e2 = await c.request({ op: 'hello', versions: [2, 3] });
  assert.equal(e2.header.code, 'UNSUPPORTED_VERSION');
  const e3 = await c.request({ op: 'hello', versions: 'one' });
  assert.equal(e3.header.code, 'BAD_FIELD');
  assert.equal(e3.header.message, 'versions: expected array');
  const w = await c.request({ op: 'hello', versions: [1] });
  assert.equal(w.header.op, 'welcome');
  c.close();
});

test('a client offering no subprotocol is served as wsmesh.v1; other paths are refused', async () => {
  const c = await Client.connect(hub.url, { protocols: [] });
  assert.equal(c.welcome.version, 1);
  c.close();
  await assert.rejects(Client.connect(hub.url.replace('/ws', '/other'), { hello: false }));
  await assert.rejects(Client.connect(hub.url, { protocols: ['mqtt'], hello: false }));
});

test('enqueue -> consume -> result, with the job message carrying args and payload', async () => {
  const p = await Client.connect(hub.url, { name: 'producer' });
  const w = await Client.connect(hub.url, { name: 'worker', kind: 'worker' });
  await w.ok({ op: 'consume', queues: ['work'], prefetch: 1 });
  const ok = await p.ok({ op: 'enqueue', queue: 'work', args: { n: 42 }, meta: { who: 'test' } }, { payload: '{"x":1}' });
  assert.match(ok.job_id, /^[0-9a-f]{20}$/);
  assert.equal(ok.status, 'queued');
  const job = await w.next((m) => m.header.op === 'job');
  assert.equal(job.header.job_id, ok.job_id);
  assert.equal(job.header.queue, 'work');
  assert.equal(job.header.attempt, 1);
  assert.deepEqual(job.header.args, { n: 42 });
  assert.deepEqual(job.header.meta, { who: 'test' });
  assert.equal(job.payload.toString(), '{"x":1}');
  await w.ok({ op: 'result', job_id: ok.job_id, attempt: 1, value: { sum: 43 } });
  const q = await p.ok({ op: 'query', what: 'job', job_id: ok.job_id });
  assert.equal(q.result.status, 'finished');
  assert.deepEqual(q.result.result, { sum: 43 });
  const done = await p.ok({ op: 'wait', job_id: ok.job_id });
  assert.equal(done.job.status, 'finished');
  // a result for an attempt that is no longer leased
  const bad = await w.request({ op: 'result', job_id: ok.job_id, attempt: 1 });
  assert.equal(bad.header.code, 'BAD_STATE');
  p.close();
  w.close();
});

test('3 workers on one queue share the load; every job finished exactly once', async () => {
  const N = 300;
  const p = await Client.connect(hub.url, { name: 'p3' });
  const workers = await Promise.all([1, 2, 3].map((i) => Client.connect(hub.url, { name: `w${i}`, kind: 'worker' })));
  const seen = new Map();
  const counts = [0, 0, 0];
  let finished = 0;
  const stop = { v: false };
  const loops = workers.map(async (w, i) => {
    await w.ok({ op: 'consume', queues: ['other'], prefetch: 4 });
    while (!stop.v) {
      let m;
      try {
        m = await w.next((x) => x.header.op === 'job', 300);
      } catch {
        if (w.closed) break;
        continue;
      }
      seen.set(m.header.job_id, (seen.get(m.header.job_id) || 0) + 1);
      counts[i]++;
      await sleep(1);
      w.send({ op: 'result', id: `r-${m.header.job_id}`, job_id: m.header.job_id, attempt: m.header.attempt });
      finished++;
    }
  });
  const items = [];
  for (let i = 0; i < N; i++) items.push([{ op: 'enqueue', id: `e${i}`, queue: 'other', args: { i } }]);
  p.sendBatch(items, { binary: false });
  for (let i = 0; i < N; i++) {
    const m = await p.next((x) => x.header.ref === `e${i}`);
    assert.equal(m.header.op, 'ok');
  }
  const deadline = Date.now() + 15000;
  while (finished < N && Date.now() < deadline) await sleep(20);
  stop.v = true;
  await Promise.all(loops);
  assert.equal(finished, N);
  assert.equal(seen.size, N);
  for (const v of seen.values()) assert.equal(v, 1);
  for (const c of counts) assert.ok(c >= N / 10, `uneven share: ${counts}`);
  const q = await p.ok({ op: 'query', what: 'queues' });
  const other = q.result.find((x) => x.name === 'other');
  assert.equal(other.queued, 0);
  p.close();
  for (const w of workers) w.close();
});

test('invalid-JSON and binary payloads arrive byte-identical at the consumer', async () => {
  const p = await Client.connect(hub.url);
  const w = await Client.connect(hub.url);
  await w.ok({ op: 'consume', queues: ['bin'], prefetch: 10 });
  const notJson = Buffer.from('{"unterminated": [1, 2, \u00e9\n\n{{{');
  const binary = Buffer.alloc(70000);
  for (let i = 0; i < binary.length; i++) binary[i] = (i * 131 + 7) & 0xff;
  binary[5] = 0x0a;
  binary[6] = 0xff;
  const a = await p.ok({ op: 'enqueue', queue: 'bin' }, { payload: notJson });
  const b = await p.ok({ op: 'enqueue', queue: 'bin', content_type: 'application/octet-stream' }, { payload: binary });
  const ja = await w.next((m) => m.header.op === 'job' && m.header.job_id === a.job_id);
  const jb = await w.next((m) => m.header.op === 'job' && m.header.job_id === b.job_id);
  assert.ok(ja.payload.equals(notJson));
  assert.ok(jb.payload.equals(binary));
  assert.equal(jb.header.content_type, 'application/octet-stream');
  assert.equal(jb.header.len, binary.length);
  // the binary payload travelled in a binary frame
  assert.ok(w.frames.some((f) => f.binary && f.size > binary.length));
  // the result payload is forwarded untouched too (routed jobs are covered by the reader test)
  await w.ok({ op: 'result', job_id: a.job_id, attempt: 1 }, { payload: binary });
  await w.ok({ op: 'result', job_id: b.job_id, attempt: 1 });
  p.close();
  w.close();
});

test('a routed result becomes a child job <id>.r with the value as args and the payload untouched', async () => {
  const p = await Client.connect(hub.url);
  const w = await Client.connect(hub.url, { kind: 'worker' });
  await w.ok({ op: 'consume', queues: ['routed', 'routed.out'], prefetch: 2 });
  const root = await p.ok({ op: 'enqueue', queue: 'routed', args: { rec: 1 } });
  const job = await w.next((m) => m.header.op === 'job' && m.header.queue === 'routed');
  const blob = Buffer.from([0xff, 0x00, 0x0a, 0x7b, 0xfe]);
  await w.ok({ op: 'result', job_id: root.job_id, attempt: job.header.attempt, value: { frames: 3 }, content_type: 'application/octet-stream' }, { payload: blob });
  const child = await w.next((m) => m.header.op === 'job' && m.header.queue === 'routed.out');
  assert.equal(child.header.job_id, `${root.job_id}.r`);
  assert.deepEqual(child.header.args, { frames: 3 });
  assert.equal(child.header.parent, root.job_id);
  assert.equal(child.header.root, root.job_id);
  assert.ok(child.payload.equals(blob));
  await w.ok({ op: 'result', job_id: child.header.job_id, attempt: 1 });
  const tree = await p.ok({ op: 'wait', job_id: root.job_id, tree: true, timeout: 5 });
  assert.equal(tree.job.tree_status, 'finished');
  p.close();
  w.close();
});

test('timeout and cancel reach the worker as stop; pause/resume; requeue of a failed job', async () => {
  const p = await Client.connect(hub.url);
  const w = await Client.connect(hub.url, { kind: 'worker' });
  await w.ok({ op: 'consume', queues: ['admin'], prefetch: 4 });
  // timeout: the deadline timer fires, the worker gets stop, a late result is refused
  const t = await p.ok({ op: 'enqueue', queue: 'admin', timeout: 0.2 });
  const tj = await w.next((m) => m.header.op === 'job' && m.header.job_id === t.job_id);
  assert.ok(tj.header.deadline_at > Date.now() - 1000);
  const stop = await w.next((m) => m.header.op === 'stop' && m.header.job_id === t.job_id, 3000);
  assert.equal(stop.header.reason, 'timeout');
  assert.equal(stop.header.attempt, 1);
  const late = await w.request({ op: 'result', job_id: t.job_id, attempt: 1 });
  assert.equal(late.header.code, 'BAD_STATE');
  const failed = await p.ok({ op: 'query', what: 'job', job_id: t.job_id });
  assert.equal(failed.result.status, 'failed');
  // requeue brings it back with attempts reset
  assert.equal((await p.ok({ op: 'requeue', job_id: t.job_id })).count, 1);
  const again = await w.next((m) => m.header.op === 'job' && m.header.job_id === t.job_id);
  await w.ok({ op: 'result', job_id: t.job_id, attempt: again.header.attempt });
  // cancel of a started job: stop with reason canceled
  const c = await p.ok({ op: 'enqueue', queue: 'admin' });
  await w.next((m) => m.header.op === 'job' && m.header.job_id === c.job_id);
  assert.equal((await p.ok({ op: 'cancel', job_id: c.job_id })).count, 1);
  const cs = await w.next((m) => m.header.op === 'stop' && m.header.job_id === c.job_id);
  assert.equal(cs.header.reason, 'canceled');
  // pause: accepted but not dispatched until resume
  await p.ok({ op: 'pause', queue: 'admin' });
  const q = await p.ok({ op: 'enqueue', queue: 'admin' });
  await sleep(200);
  assert.equal(w.inbox.filter((m) => m.header.op === 'job').length, 0);
  await p.ok({ op: 'resume', queue: 'admin' });
  const qj = await w.next((m) => m.header.op === 'job' && m.header.job_id === q.job_id);
  await w.ok({ op: 'result', job_id: q.job_id, attempt: qj.header.attempt });
  const reg = await p.ok({ op: 'query', what: 'registry', queue: 'admin', registry: 'finished' });
  assert.equal(reg.result.total, 2);
  p.close();
  w.close();
});

test('several protocol messages per WebSocket message, both directions', async () => {
  const p = await Client.connect(hub.url);
  const before = p.frames.length;
  p.sendBatch(
    [
      [{ op: 'ping', id: 'b1' }],
      [{ op: 'ping', id: 'b2' }],
      [{ op: 'enqueue', id: 'b3', queue: 'work', args: {} }, Buffer.from([0, 1, 2, 255])],
      [{ op: 'ping', id: 'b4' }],
    ],
    { binary: true },
  );
  for (const id of ['b1', 'b2', 'b3', 'b4']) await p.next((m) => m.header.ref === id);
  // the four answers were produced in one loop turn: batched into fewer WebSocket messages
  assert.ok(p.frames.length - before < 4, `answers came in ${p.frames.length - before} messages`);
  await p.ok({ op: 'empty', queue: 'work' });
  p.close();
});

test('malformed input gets its documented error and the hub keeps serving', async () => {
  const bad = await Client.connect(hub.url, { name: 'bad' });
  const good = await Client.connect(hub.url, { name: 'good' });
  const expectErr = async (code, msgRe) => {
    const m = await bad.next((x) => x.header.op === 'error');
    assert.equal(m.header.code, code, JSON.stringify(m.header));
    if (msgRe) assert.match(m.header.message, msgRe);
    return m.header;
  };
  bad.sendRaw(Buffer.from('{"op":"ping",\n'), { binary: false });
  await expectErr('BAD_JSON', /header at offset 0: invalid JSON/);
  bad.sendRaw(Buffer.from('{"op":"ping","id":"x"}'), { binary: false });
  await expectErr('BAD_FRAME', /no newline/);
  bad.sendRaw(Buffer.from('{"op":"enqueue","queue":"work","len":100}\nabc'));
  await expectErr('BAD_FRAME', /len 100 but only 3 bytes follow/);
  bad.sendRaw(Buffer.from('[1,2]\n'), { binary: false });
  await expectErr('BAD_JSON', /not a JSON object/);
  bad.sendRaw(Buffer.from('{"op":7}\n'), { binary: false });
  await expectErr('BAD_FIELD', /op: expected string/);
  // a text frame must be UTF-8 (payload bytes that are not go in binary frames)
  bad.sendRaw(Buffer.concat([Buffer.from('{"op":"ping","id":"u","len":2}\n'), Buffer.from([0xff, 0xfe])]), { binary: false });
  await expectErr('BAD_FRAME', /text frame with invalid UTF-8/);
  bad.sendRaw(Buffer.concat([Buffer.from('{"op":"ping","id":"u2","len":2}\n'), Buffer.from([0xff, 0xfe])]), { binary: true });
  await bad.next((m) => m.header.ref === 'u2');
  const u = await bad.request({ op: 'teleport' });
  assert.equal(u.header.code, 'UNKNOWN_OP');
  assert.match(u.header.message, /teleport/);
  const f1 = await bad.request({ op: 'enqueue', queue: 5 });
  assert.equal(f1.header.code, 'BAD_FIELD');
  assert.equal(f1.header.message, 'queue: expected string');
  const f2 = await bad.request({ op: 'enqueue', queue: 'work', timeout: 'soon' });
  assert.equal(f2.header.code, 'BAD_FIELD');
  assert.match(f2.header.message, /^timeout: expected number/);
  const f3 = await bad.request({ op: 'consume', queues: 'work' });
  assert.equal(f3.header.message, 'queues: expected array');
  const f4 = await bad.request({ op: 'result', job_id: 'x', attempt: 'first' });
  assert.equal(f4.header.code, 'BAD_FIELD');
  const f5 = await bad.request({ op: 'enqueue', queue: 'nope' });
  assert.equal(f5.header.code, 'NO_SUCH_QUEUE');
  const f6 = await bad.request({ op: 'enqueue', queue: 'work', job_id: 'bad id!' });
  assert.equal(f6.header.code, 'BAD_FIELD');
  const f7 = await bad.request({ op: 'query', what: 'job', job_id: 'nope' });
  assert.equal(f7.header.code, 'NO_SUCH_JOB');
  const f8 = await bad.request({ op: 'subscribe', topics: ['bad topic'] });
  assert.equal(f8.header.code, 'BAD_FIELD');
  bad.send({ op: 'ping', id: 5 });
  await expectErr('BAD_FIELD', /^id: expected string/);
  // messages of the same WebSocket message before a framing error are processed (§2)
  bad.sendRaw(Buffer.concat([encode({ op: 'ping', id: 'before' }), Buffer.from('garbage without newline')]));
  await bad.next((m) => m.header.ref === 'before');
  await expectErr('BAD_FRAME');
  // QUEUE_FULL beyond max_length
  await good.ok({ op: 'enqueue', queue: 'small' });
  await good.ok({ op: 'enqueue', queue: 'small' });
  const full = await good.request({ op: 'enqueue', queue: 'small' });
  assert.equal(full.header.code, 'QUEUE_FULL');
  const dup = await good.ok({ op: 'enqueue', queue: 'work', job_id: 'dup-1' });
  assert.equal(dup.job_id, 'dup-1');
  const dup2 = await good.request({ op: 'enqueue', queue: 'work', job_id: 'dup-1' });
  assert.equal(dup2.header.code, 'DUPLICATE_ID');
  // the misbehaving connection is still open, and the good one is served
  assert.equal(bad.closed, null);
  const pong = await good.request({ op: 'ping' });
  assert.equal(pong.header.op, 'pong');
  await good.ok({ op: 'empty', queue: 'small' });
  await good.ok({ op: 'cancel', job_id: 'dup-1' });
  bad.close();
  good.close();
});

test('a message over max_message_bytes: TOO_LARGE then close 1009; others unaffected', async () => {
  const big = await Client.connect(hub.url, { name: 'big' });
  const other = await Client.connect(hub.url, { name: 'other' });
  const payload = Buffer.alloc(10 * 1024 * 1024 + 1048576, 0x61);
  big.send({ op: 'enqueue', id: 'huge', queue: 'work' }, payload);
  const e = await big.next((m) => m.header.op === 'error');
  assert.equal(e.header.code, 'TOO_LARGE');
  const closed = await big.waitClosed();
  assert.equal(closed.code, 1009);
  const pong = await other.request({ op: 'ping' });
  assert.equal(pong.header.op, 'pong');
  const q = await other.ok({ op: 'query', what: 'queues' });
  assert.equal(q.result.find((x) => x.name === 'work').queued, 0);
  other.close();
});

test('repeated protocol errors close only that connection with 1008', async () => {
  const c = await Client.connect(hub.url, { name: 'noisy' });
  const other = await Client.connect(hub.url, { name: 'quiet' });
  for (let i = 0; i < 60; i++) c.sendRaw(Buffer.from('not json\n'), { binary: false });
  const closed = await c.waitClosed();
  assert.equal(closed.code, 1008);
  assert.equal(closed.reason, 'too many protocol errors');
  const errors = c.inbox.filter((m) => m.header.op === 'error');
  assert.equal(errors.length, 50);
  assert.equal((await other.request({ op: 'ping' })).header.op, 'pong');
  other.close();
});

test('heartbeat: the hub pings; a client that never answers is still alive while it talks', async () => {
  const c = await Client.connect(hub.url);
  const ping = await c.next((m) => m.header.op === 'ping', 4000);
  assert.match(ping.header.id, /^hb-/);
  c.close();
});

test('topics: subscribe to stats and events; user topic publish reaches subscribers', async () => {
  const s = await Client.connect(hub.url, { kind: 'dashboard' });
  const p = await Client.connect(hub.url);
  await s.ok({ op: 'subscribe', topics: ['stats', 'events', 'alerts.*'] });
  const st = await s.next((m) => m.header.op === 'event' && m.header.topic === 'stats', 4000);
  assert.ok(Array.isArray(st.header.data.queues));
  const job = await p.ok({ op: 'enqueue', queue: 'topics', args: {} });
  const ev = await s.next((m) => m.header.op === 'event' && m.header.topic === 'events' && m.header.data.job_id === job.job_id);
  assert.equal(ev.header.data.status, 'queued');
  await p.ok({ op: 'publish', topic: 'alerts.fire', data: { level: 3 } }, { payload: Buffer.from([1, 2, 3]) });
  const al = await s.next((m) => m.header.op === 'event' && m.header.topic === 'alerts.fire');
  assert.deepEqual(al.header.data, { level: 3 });
  assert.deepEqual([...al.payload], [1, 2, 3]);
  const bad = await p.request({ op: 'publish', topic: 'stats', data: {} });
  assert.equal(bad.header.code, 'FORBIDDEN');
  await p.ok({ op: 'cancel', job_id: job.job_id });
  s.close();
  p.close();
});
