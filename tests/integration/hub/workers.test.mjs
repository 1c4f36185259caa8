// wshub integration: a worker killed with SIGKILL mid-job gets its job redelivered and finished
// exactly once; a reader-like job killed after emitting half its outputs and re-run produces
// every output exactly once, in key order (emit dedup + ordered keys). A worker holding 400
// leases of long ids: query workers lists 10 of them and counts all (the reply stays small).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { startHub, testConfig, Client, SRCDIR, cleanEnv } from './hubutil.mjs';

const WORKER = path.join(SRCDIR, 'tests/integration/hub/worker_proc.mjs');
let hub;

before(async () => {
  hub = await startHub(
    testConfig({
      queues: {
        work: { defaults: { retry: { max: 3, intervals: [0] } } },
        reader: { defaults: { retry: { max: 3, intervals: [0] } } },
        aeb: { max_length: 1000 },
        held: { max_length: 1000 },
      },
      routes: { 'reader:frames': 'aeb' },
      limits: { drain_timeout: 2 },
    }),
  );
});

after(async () => {
  const r = await hub.stop();
  assert.equal(r.code, 0, hub.stderr());
});

/** Spawns worker_proc.mjs and resolves its first stdout JSON line (and the child). */
function spawnWorker(queue, mode, n = 10) {
  const child = spawn(process.execPath, [WORKER, hub.url, queue, mode, String(n)], { stdio: ['ignore', 'pipe', 'inherit'], env: cleanEnv() });
  const line = new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)));
    });
    child.on('exit', (code) => reject(new Error(`worker exited with ${code} before reporting`)));
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return { child, line, exited };
}

test('kill -9 a worker mid-job: the job is redelivered and finished exactly once', async () => {
  const p = await Client.connect(hub.url, { name: 'producer' });
  await p.ok({ op: 'subscribe', topics: ['events'] });
  const j = await p.ok({ op: 'enqueue', queue: 'work', args: { task: 'x' } });
  const w1 = spawnWorker('work', 'hang');
  const got = await w1.line;
  assert.equal(got.job, j.job_id);
  assert.equal(got.attempt, 1);
  w1.child.kill('SIGKILL');
  await w1.exited;
  const w2 = await Client.connect(hub.url, { name: 'rescuer', kind: 'worker' });
  await w2.ok({ op: 'consume', queues: ['work'] });
  const again = await w2.next((m) => m.header.op === 'job', 10000);
  assert.equal(again.header.job_id, j.job_id);
  assert.equal(again.header.attempt, 2);
  assert.deepEqual(again.header.args, { task: 'x' });
  await w2.ok({ op: 'result', job_id: j.job_id, attempt: 2, value: 'done' });
  const done = await p.ok({ op: 'wait', job_id: j.job_id, timeout: 5 });
  assert.equal(done.job.status, 'finished');
  // the dead attempt cannot finish it a second time
  const late = await w2.request({ op: 'result', job_id: j.job_id, attempt: 1 });
  assert.equal(late.header.code, 'BAD_STATE');
  await new Promise((r) => setTimeout(r, 100));
  const finishedEvents = p.inbox.filter((m) => m.header.op === 'event' && m.header.data.job_id === j.job_id && m.header.data.status === 'finished');
  assert.equal(finishedEvents.length, 1);
  p.close();
  w2.close();
});

test('reader killed after emitting half its outputs, re-run: every output exactly once, in key order', async () => {
  const N = 10;
  const p = await Client.connect(hub.url, { name: 'submitter' });
  const sink = await Client.connect(hub.url, { name: 'aeb-sink', kind: 'worker' });
  await sink.ok({ op: 'consume', queues: ['aeb'], prefetch: 4 });
  const root = await p.ok({ op: 'enqueue', queue: 'reader', job_id: 'rec-0001', args: { file: 'x.mf4' } });
  const r1 = spawnWorker('reader', 'half-reader', N);
  const half = await r1.line;
  assert.equal(half.emitted, N / 2);
  r1.child.kill('SIGKILL');
  await r1.exited;
  // the second run emits everything again: the first half are duplicates
  const r2 = await Client.connect(hub.url, { name: 'reader-2', kind: 'worker' });
  await r2.ok({ op: 'consume', queues: ['reader'] });
  const job = await r2.next((m) => m.header.op === 'job', 10000);
  assert.equal(job.header.job_id, root.job_id);
  assert.equal(job.header.attempt, 2);
  const statuses = [];
  for (let seq = 0; seq < N; seq++) {
    const r = await r2.ok({ op: 'emit', job_id: root.job_id, output: 'frames', seq, key: 'rec', args: { seq } }, { payload: Buffer.from(`frame-${seq}`) });
    assert.equal(r.job_id, `${root.job_id}.${seq}`);
    statuses.push(r.status);
  }
  assert.deepEqual(statuses, [...Array(N / 2).fill('duplicate'), ...Array(N / 2).fill('queued')]);
  await r2.ok({ op: 'result', job_id: root.job_id, attempt: 2, value: { frames: N } });
  // the sink processes the keyed stream: one at a time, in order
  const order = [];
  while (order.length < N) {
    const m = await sink.next((x) => x.header.op === 'job', 10000);
    assert.equal(sink.inbox.filter((x) => x.header.op === 'job').length, 0, 'a second job of the key was dispatched while one was in flight');
    assert.equal(m.header.key, 'rec');
    assert.equal(m.header.parent, root.job_id);
    assert.equal(m.header.root, root.job_id);
    assert.equal(m.payload.toString(), `frame-${m.header.args.seq}`);
    order.push(m.header.args.seq);
    await sink.ok({ op: 'result', job_id: m.header.job_id, attempt: m.header.attempt });
  }
  assert.deepEqual(order, [...Array(N).keys()]);
  const tree = await p.ok({ op: 'wait', job_id: root.job_id, tree: true, timeout: 5 });
  assert.equal(tree.job.tree_status, 'finished');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(sink.inbox.filter((x) => x.header.op === 'job').length, 0, 'an output was delivered twice');
  p.close();
  sink.close();
  r2.close();
});

test('query workers: a worker holding 400 long-id leases lists 10 of them, jobs_total counts all', async () => {
  const p = await Client.connect(hub.url);
  const w = await Client.connect(hub.url, { kind: 'worker' });
  const id = (i) => `${'held-recording-2026-11-29-vehicle-0042-'.repeat(4)}${String(i).padStart(6, '0')}`;
  for (let i = 0; i < 400; i++) await p.ok({ op: 'enqueue', queue: 'held', job_id: id(i), args: {} });
  await w.ok({ op: 'consume', queues: ['held'], prefetch: 1000 });
  for (let i = 0; i < 400; i++) await w.next((m) => m.header.op === 'job');
  const m = await p.request({ op: 'query', what: 'workers' });
  assert.equal(m.header.op, 'ok', JSON.stringify(m.header).slice(0, 300));
  const bytes = Buffer.byteLength(JSON.stringify(m.header)) + 1;
  assert.ok(bytes < 16384, `query workers reply of ${bytes} bytes`);
  const me = m.header.result.find((x) => x.jobs_total === 400);
  assert.ok(me, JSON.stringify(m.header.result).slice(0, 500));
  assert.deepEqual(me.jobs, [...Array(10).keys()].map(id));
  w.close();
  p.close();
});
