// wshub integration: a slow topic subscriber gets the latest event per (topic, subject), not an
// unbounded buffer; a fast one gets every event.
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
  await slow.ok({ op: 'subscribe', topics: ['demo.*'] });
  await fast.ok({ op: 'subscribe', topics: ['demo.fill', 'demo.state'] });
  slow.ws._socket.pause();
  // fill the slow subscriber's socket and send buffer
  const blob = Buffer.alloc(256 * 1024, 1);
  for (let i = 0; i < 64; i++) await pub.ok({ op: 'publish', topic: 'demo.fill', subject: `f${i % 4}`, data: { i } }, { payload: blob });
  const N = 200;
  for (let n = 0; n < N; n++) await pub.ok({ op: 'publish', topic: 'demo.state', subject: 'rec-1', data: { n } });
  await pub.ok({ op: 'publish', topic: 'demo.state', subject: 'rec-2', data: { n: -1 } });
  // the fast subscriber got everything, in order
  const fastStates = [];
  while (fastStates.length < N + 1) {
    const m = await fast.next((x) => x.header.op === 'event' && x.header.topic === 'demo.state', 10000);
    fastStates.push(m.header.data.n);
  }
  assert.deepEqual(fastStates, [...Array(N).keys(), -1]);
  const t = (await httpGet(`${hub.httpUrl}/metrics`)).body.toString();
  assert.ok(Number(/^wsmesh_events_coalesced_total (\d+)$/m.exec(t)[1]) > 0, 'nothing was coalesced');
  slow.ws._socket.resume();
  const seen = [];
  for (;;) {
    let m;
    try {
      m = await slow.next((x) => x.header.op === 'event' && x.header.topic === 'demo.state', 3000);
    } catch {
      break;
    }
    seen.push(`${m.header.data.n}`);
  }
  assert.ok(seen.length < N, `slow subscriber got ${seen.length} state events: not coalesced`);
  assert.ok(seen.includes(`${N - 1}`), `the latest state of rec-1 is missing: ${seen.slice(-5)}`);
  assert.ok(seen.includes('-1'), 'the state of rec-2 is missing');
  assert.equal(slow.closed, null);
  slow.close();
  fast.close();
  pub.close();
});
