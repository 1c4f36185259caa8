// wshub integration: tokens from mesh.json — hello without or with a wrong token is UNAUTHORIZED,
// a token limited to some ops gets FORBIDDEN for the others, an admin token may do everything.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, testConfig, Client } from './hubutil.mjs';

let hub;
before(async () => {
  hub = await startHub(
    testConfig({
      tokens: [
        { name: 'ops', token: 'admin-token-123', role: 'admin' },
        { name: 'worker', token: 'worker-token-123', ops: ['consume', 'result', 'fail'] },
      ],
      limits: { drain_timeout: 1 },
    }),
  );
});
after(async () => {
  const r = await hub.stop();
  assert.equal(r.code, 0, hub.stderr());
});

test('hello needs a valid token', async () => {
  const c = await Client.connect(hub.url, { hello: false });
  const none = await c.request({ op: 'hello', versions: [1] });
  assert.equal(none.header.code, 'UNAUTHORIZED');
  assert.equal(none.header.message, 'token: required by this hub');
  const wrong = await c.request({ op: 'hello', versions: [1], token: 'admin-token-124' });
  assert.equal(wrong.header.code, 'UNAUTHORIZED');
  const q = await c.request({ op: 'query', what: 'hub' });
  assert.equal(q.header.code, 'UNAUTHORIZED');
  const ok = await c.request({ op: 'hello', versions: [1], token: 'worker-token-123' });
  assert.equal(ok.header.op, 'welcome');
  assert.equal(ok.header.role, 'worker');
  c.close();
});

test('failed hellos from one address are answered with growing delay', async () => {
  const c = await Client.connect(hub.url, { hello: false });
  const times = [];
  for (let i = 0; i < 4; i++) {
    const t0 = Date.now();
    const r = await c.request({ op: 'hello', versions: [1], token: `wrong-token-${i}` }, { timeoutMs: 10000 });
    assert.equal(r.header.code, 'UNAUTHORIZED');
    times.push(Date.now() - t0);
  }
  // 100, 200, 400, 800 ms after the earlier failures of this address (first test) -> at least
  // doubling from the second one on
  for (let i = 1; i < times.length; i++) assert.ok(times[i] >= 1.7 * times[i - 1] - 20, `delays ${times}`);
  assert.ok(times[3] >= 700, `delays ${times}`);
  // a good token still works, and resets the count
  const ok = await c.request({ op: 'hello', versions: [1], token: 'admin-token-123' });
  assert.equal(ok.header.op, 'welcome');
  c.close();
  const d = await Client.connect(hub.url, { hello: false });
  const t0 = Date.now();
  const r = await d.request({ op: 'hello', versions: [1], token: 'wrong-again' });
  assert.equal(r.header.code, 'UNAUTHORIZED');
  assert.ok(Date.now() - t0 < 600, 'the count was not reset by the successful hello');
  d.close();
});

test('a token limited to some ops gets FORBIDDEN for the others; admin may do all', async () => {
  const w = await Client.connect(hub.url, { token: 'worker-token-123' });
  const a = await Client.connect(hub.url, { token: 'admin-token-123' });
  assert.equal(a.welcome.role, 'admin');
  const e = await w.request({ op: 'enqueue', queue: 'work' });
  assert.equal(e.header.code, 'FORBIDDEN');
  assert.equal(e.header.message, "enqueue: not allowed for role 'worker'");
  const p = await w.request({ op: 'pause', queue: 'work' });
  assert.equal(p.header.code, 'FORBIDDEN');
  await w.ok({ op: 'consume', queues: ['work'] });
  const j = await a.ok({ op: 'enqueue', queue: 'work' });
  const job = await w.next((m) => m.header.op === 'job');
  assert.equal(job.header.job_id, j.job_id);
  await w.ok({ op: 'result', job_id: j.job_id, attempt: 1 });
  await a.ok({ op: 'pause', queue: 'work' });
  await a.ok({ op: 'resume', queue: 'work' });
  w.close();
  a.close();
});
