// wshub integration: a slow topic subscriber gets the latest event per (topic, subject), not an
// unbounded buffer; a fast one gets every event. Subjects of the built-in `events` topic are job
// ids: a paused subscriber sees only the latest status of each job.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, testConfig, Client, httpGet, sleep } from './hubutil.mjs';

let hub;
before(async () => {
  hub = await startHub(testConfig({ limits: { subscriber_buffer_bytes: 65536, drain_timeout: 1 } }));
});
after(async () => {
  const r = await hub.stop();
  assert.equal(r.code, 0, hub.stderr());
});

test('slow subscriber: events coalesced per subject, the latest one delivered', async () => {
  const slow = await Client.connect(hub.url, { name: 'slow-sub', kind: 'dashboard' });
  const fast = await Client.connect(hub.url, { name: 'fast-sub', kind: 'dashboard' });
  const pub = await Client.connect(hub.url, { name: 'pub' });
  const w = await Client.connect(hub.url, { name: 'w', kind: 'worker' });
  await slow.ok({ op: 'subscribe', topics: ['events', 'demo.*'] });
  await fast.ok({ op: 'subscribe', topics: ['events'] });
  await w.ok({ op: 'consume', queues: ['work'], prefetch: 50 });
  slow.ws._socket.pause();
  // fill the slow subscriber's socket and send buffer
  const blob = Buffer.alloc(256 * 1024, 1);
  for (let i = 0; i < 64; i++) await pub.ok({ op: 'publish', topic: 'demo.fill', data: { i } }, { payload: blob });
  // 50 jobs, each queued -> started -> finished while the subscriber does not read
  const N = 50;
  const ids = [];
  for (let i = 0; i < N; i++) ids.push((await pub.ok({ op: 'enqueue', queue: 'work' })).job_id);
  for (let i = 0; i < N; i++) {
    const m = await w.next((x) => x.header.op === 'job');
    await w.ok({ op: 'result', job_id: m.header.job_id, attempt: 1 });
  }
  // the fast subscriber got every status change
  const fastEv = [];
  while (fastEv.length < 3 * N) {
    const m = await fast.next((x) => x.header.op === 'event' && x.header.topic === 'events', 10000);
    fastEv.push(m.header.data);
  }
  for (const id of ids) assert.deepEqual(fastEv.filter((d) => d.job_id === id).map((d) => d.status), ['queued', 'started', 'finished']);
  const t = (await httpGet(`${hub.httpUrl}/metrics`)).body.toString();
  assert.ok(Number(/^wsmesh_events_coalesced_total (\d+)$/m.exec(t)[1]) >= N, 'nothing was coalesced');
  slow.ws._socket.resume();
  const seen = [];
  for (;;) {
    let m;
    try {
      m = await slow.next((x) => x.header.op === 'event' && x.header.topic === 'events', 3000);
    } catch {
      break;
    }
    seen.push(m.header.data);
  }
  assert.ok(seen.length < 3 * N, `slow subscriber got ${seen.length} events: not coalesced`);
  for (const id of ids) {
    const mine = seen.filter((d) => d.job_id === id);
    assert.equal(mine.length, 1, `${id}: ${JSON.stringify(mine)}`);
    assert.equal(mine[0].status, 'finished');
  }
  assert.equal(slow.closed, null);
  for (const c of [slow, fast, pub, w]) c.close();
});
