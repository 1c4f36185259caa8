// wshub integration: connection limits — max_connections (LIMIT, close 1013), idle timeout,
// a slow consumer above send_buffer_bytes (closed, its leased jobs go to another worker), held
// emits (credit) answered once the target queue has room.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, testConfig, Client, httpGet, sleep } from './hubutil.mjs';

let hub;
before(async () => {
  hub = await startHub(
    testConfig({
      queues: {
        bulk: { defaults: { retry: { max: 3, intervals: [0] } } },
        src: {},
        dst: { max_length: 2 },
      },
      routes: { 'src:out': 'dst' },
      limits: { max_connections: 6, idle_timeout: 2, heartbeat: 0.5, send_buffer_bytes: 4194304, drain_timeout: 1 },
    }),
  );
});
after(async () => {
  const r = await hub.stop();
  assert.equal(r.code, 0, hub.stderr());
});

test('max_connections: the connection above the limit gets LIMIT and close 1013', async () => {
  const cs = [];
  for (let i = 0; i < 6; i++) cs.push(await Client.connect(hub.url));
  const extra = await Client.connect(hub.url, { hello: false });
  const e = await extra.next((m) => m.header.op === 'error');
  assert.equal(e.header.code, 'LIMIT');
  const closed = await extra.waitClosed();
  assert.equal(closed.code, 1013);
  for (const c of cs) c.close();
  await sleep(200);
});

test('idle timeout: a connection that answers nothing is closed', async () => {
  const c = await Client.connect(hub.url);
  c.autoPong = false;
  const closed = await c.waitClosed(6000);
  assert.equal(closed.code, 1001);
  assert.equal(closed.reason, 'idle timeout');
  // one that answers the pings stays
  const d = await Client.connect(hub.url);
  await sleep(3000);
  assert.equal(d.closed, null);
  d.close();
});

test('slow consumer: output stalled above send_buffer_bytes: closed, its jobs go to another worker', async () => {
  const slow = await Client.connect(hub.url, { name: 'slow', kind: 'worker' });
  await slow.ok({ op: 'consume', queues: ['bulk'], prefetch: 100 });
  slow.ws._socket.pause(); // stop reading: the hub's output for it piles up
  const p = await Client.connect(hub.url, { name: 'bulk-producer' });
  const big = Buffer.alloc(512 * 1024, 7);
  const ids = [];
  for (let i = 0; i < 16; i++) ids.push((await p.ok({ op: 'enqueue', queue: 'bulk' }, { payload: big })).job_id);
  let closes = 0;
  for (let k = 0; k < 100 && !closes; k++) {
    await sleep(100);
    const t = (await httpGet(`${hub.httpUrl}/metrics`)).body.toString();
    closes = Number(/^wsmesh_closes_total\{reason="slow_consumer"\} (\d+)$/m.exec(t)[1]);
  }
  assert.equal(closes, 1);
  slow.terminate();
  const fast = await Client.connect(hub.url, { name: 'fast', kind: 'worker' });
  await fast.ok({ op: 'consume', queues: ['bulk'], prefetch: 4 });
  const got = new Set();
  while (got.size < ids.length) {
    const m = await fast.next((x) => x.header.op === 'job', 10000);
    assert.equal(m.payload.length, big.length);
    got.add(m.header.job_id);
    await fast.ok({ op: 'result', job_id: m.header.job_id, attempt: m.header.attempt });
  }
  assert.deepEqual([...got].sort(), [...ids].sort());
  p.close();
  fast.close();
});

test('emit into a full queue is held (credit) and answered when there is room', async () => {
  const p = await Client.connect(hub.url);
  const src = await Client.connect(hub.url, { kind: 'worker' });
  await src.ok({ op: 'consume', queues: ['src'] });
  const root = await p.ok({ op: 'enqueue', queue: 'src' });
  const job = await src.next((m) => m.header.op === 'job');
  for (let seq = 0; seq < 2; seq++) {
    const r = await src.ok({ op: 'emit', job_id: root.job_id, output: 'out', seq });
    assert.equal(r.status, 'queued');
  }
  src.send({ op: 'emit', id: 'held', job_id: root.job_id, output: 'out', seq: 2 });
  await sleep(300);
  assert.equal(src.inbox.filter((m) => m.header.ref === 'held').length, 0, 'the emit into a full queue was answered at once');
  const dst = await Client.connect(hub.url, { kind: 'worker' });
  await dst.ok({ op: 'consume', queues: ['dst'] });
  const first = await dst.next((m) => m.header.op === 'job');
  await dst.ok({ op: 'result', job_id: first.header.job_id, attempt: 1 });
  const ans = await src.next((m) => m.header.ref === 'held', 5000);
  assert.equal(ans.header.op, 'ok');
  assert.equal(ans.header.job_id, `${root.job_id}.2`);
  await src.ok({ op: 'result', job_id: job.header.job_id, attempt: 1 });
  p.close();
  src.close();
  dst.close();
});
