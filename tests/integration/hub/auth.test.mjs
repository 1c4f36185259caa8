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
