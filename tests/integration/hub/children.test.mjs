// wshub integration: query what=children (protocol §6.12) against the real hub. A recording-like
// tree: a root emits 150 frame batches, 15 of them fail for good, one batch emits two children
// of its own, and the root's result is routed. Asserts: pages follow next_offset and together
// list every child exactly once in emit order; the status filter finds exactly the failed ones
// with their error type; descendants reach the grandchildren; every reply header stays below
// limits.max_header_bytes (set small here, so pages end early by bytes); bad input answers
// BAD_FIELD / NO_SUCH_JOB naming the field or id; a token that may not query every queue of
// the tree is FORBIDDEN (the rule of query tree), also for a tree it can see only a part of.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, testConfig, Client, queryPages } from './hubutil.mjs';

const ADMIN = 'children-admin-token';
const RECONLY = 'children-rec-only-token';
const MAX_HEADER = 8192;
const N = 150;
const isFailed = (i) => i % 10 === 7;

let hub;
let root;

before(async () => {
  hub = await startHub(
    testConfig({
      queues: { rec: {}, aeb: { max_length: 10000 }, db: { max_length: 10000 } },
      routes: { 'rec:frames': 'aeb', 'aeb:events': 'db', 'rec:result': 'db' },
      limits: { max_header_bytes: MAX_HEADER, emit_window: 64 },
      tokens: [
        { name: 'ops', token: ADMIN, role: 'admin' },
        { name: 'rec-viewer', token: RECONLY, role: 'rec-viewer', acl: { query: ['rec'] } },
      ],
    }),
  );
  // the tree: rec job -> N aeb batches (-> 2 db events under batch 0) + routed result
  const p = await Client.connect(hub.url, { token: ADMIN });
  const reader = await Client.connect(hub.url, { token: ADMIN, kind: 'worker' });
  const aeb = await Client.connect(hub.url, { token: ADMIN, kind: 'worker' });
  root = (await p.ok({ op: 'enqueue', queue: 'rec', job_id: 'rec-0001', args: { file: 'drive.mf4' } })).job_id;
  await reader.ok({ op: 'consume', queues: ['rec'], prefetch: 1 });
  const job = await reader.next((m) => m.header.op === 'job');
  for (let i = 0; i < N; i++) {
    const ok = await reader.ok({ op: 'emit', job_id: root, output: 'frames', seq: i, args: { batch: i }, key: `stream-${i}` });
    assert.equal(ok.job_id, `${root}.${i}`);
  }
  await reader.ok({ op: 'result', job_id: root, attempt: job.header.attempt, value: { frames: N * 1000 } });
  await aeb.ok({ op: 'consume', queues: ['aeb'], prefetch: 1 });
  for (let done = 0; done < N; done++) {
    const j = (await aeb.next((m) => m.header.op === 'job')).header;
    const i = j.args.batch;
    if (i === 0) {
      await aeb.ok({ op: 'emit', job_id: j.job_id, output: 'events', seq: 0, args: { ev: 'FCW' } });
      await aeb.ok({ op: 'emit', job_id: j.job_id, output: 'events', seq: 1, args: { ev: 'PB1' } });
    }
    if (isFailed(i)) {
      await aeb.ok({ op: 'fail', job_id: j.job_id, attempt: j.attempt, retry: false,
        error: { type: 'CORRUPT', message: `batch ${i}: block link outside the file` } });
    } else {
      await aeb.ok({ op: 'result', job_id: j.job_id, attempt: j.attempt, value: { n: i } });
    }
  }
  for (const c of [p, reader, aeb]) c.close();
});

after(async () => {
  const r = await hub.stop();
  assert.equal(r.code, 0, `wshub exit: ${JSON.stringify(r)}\n${hub.stderr()}`);
});

/** Every page of a children query under root (queryPages in hubutil.mjs). */
const allPages = (c, fields) => queryPages(c, { what: 'children', job_id: root, ...fields }, MAX_HEADER);

test('query job lists 100 child ids of 151 and counts them all', async () => {
  const c = await Client.connect(hub.url, { token: ADMIN });
  const j = await c.ok({ op: 'query', what: 'job', job_id: root });
  assert.equal(j.result.children.length, 100);
  assert.equal(j.result.children_total, N + 1);
  c.close();
});

test('children: default page of 100, then the rest from next_offset; every child once, in emit order', async () => {
  const c = await Client.connect(hub.url, { token: ADMIN });
  const first = (await c.ok({ op: 'query', what: 'children', job_id: root, limit: 20 })).result;
  assert.equal(first.job_id, root);
  assert.equal(first.total, N + 1);
  assert.equal(first.jobs.length, 20);
  assert.equal(first.next_offset, 20);
  const b0 = first.jobs[0];
  assert.equal(b0.job_id, `${root}.0`);
  assert.equal(b0.queue, 'aeb');
  assert.equal(b0.status, 'finished');
  assert.equal(b0.attempt, 1);
  assert.equal(b0.key, 'stream-0');
  for (const f of ['enqueued_at', 'started_at', 'ended_at']) assert.ok(Number.isInteger(b0[f]), f);
  assert.equal(b0.parent, undefined);
  const pages = await allPages(c, { limit: 1000 });
  assert.ok(pages.length > 1, 'max_header_bytes 8192 must cut a page of 151 summaries');
  const ids = pages.flatMap((p) => p.jobs.map((j) => j.job_id));
  assert.deepEqual(ids, [...[...Array(N).keys()].map((i) => `${root}.${i}`), `${root}.r`]);
  assert.ok(pages.every((p) => p.total === N + 1));
  c.close();
});

test('children --status failed: exactly the failed batches, with their error type', async () => {
  const c = await Client.connect(hub.url, { token: ADMIN });
  const want = [...Array(N).keys()].filter(isFailed).map((i) => `${root}.${i}`);
  const pages = await allPages(c, { status: 'failed', limit: 4 });
  assert.equal(pages[0].total, want.length);
  const jobs = pages.flatMap((p) => p.jobs);
  assert.deepEqual(jobs.map((j) => j.job_id), want);
  for (const j of jobs) {
    assert.equal(j.status, 'failed');
    assert.equal(j.error_type, 'CORRUPT');
    assert.ok(j.ended_at >= j.started_at);
  }
  const none = (await c.ok({ op: 'query', what: 'children', job_id: root, status: 'expired' })).result;
  assert.deepEqual([none.total, none.jobs, none.next_offset], [0, [], undefined]);
  c.close();
});

test('children with descendants: the grandchildren too, each with its parent', async () => {
  const c = await Client.connect(hub.url, { token: ADMIN });
  const all = (await allPages(c, { descendants: true })).flatMap((p) => p.jobs);
  assert.equal(all.length, N + 3);
  const ev = all.filter((j) => j.queue === 'db' && j.job_id !== `${root}.r`);
  assert.deepEqual(ev.map((j) => [j.job_id, j.parent]), [[`${root}.0.0`, `${root}.0`], [`${root}.0.1`, `${root}.0`]]);
  const below0 = (await c.ok({ op: 'query', what: 'children', job_id: `${root}.0` })).result;
  assert.equal(below0.total, 2);
  const leaf = (await c.ok({ op: 'query', what: 'children', job_id: `${root}.5` })).result;
  assert.deepEqual([leaf.total, leaf.jobs], [0, []]);
  c.close();
});

test('children: bad fields and unknown ids get stable codes and name what is wrong', async () => {
  const c = await Client.connect(hub.url, { token: ADMIN });
  const cases = [
    [{ job_id: 'no-such-recording' }, 'NO_SUCH_JOB', /no-such-recording/],
    [{}, 'BAD_FIELD', /job_id/],
    [{ job_id: root, status: 'lost' }, 'BAD_FIELD', /status/],
    [{ job_id: root, limit: 1001 }, 'BAD_FIELD', /limit/],
    [{ job_id: root, limit: 0 }, 'BAD_FIELD', /limit/],
    [{ job_id: root, offset: -1 }, 'BAD_FIELD', /offset/],
    [{ job_id: root, descendants: 'yes' }, 'BAD_FIELD', /descendants/],
  ];
  for (const [fields, code, re] of cases) {
    const m = await c.request({ op: 'query', what: 'children', ...fields });
    assert.equal(m.header.op, 'error', JSON.stringify(fields));
    assert.equal(m.header.code, code, JSON.stringify(m.header));
    assert.match(m.header.message, re);
  }
  const m = await c.request({ op: 'query', what: 'kids', job_id: root });
  assert.match(m.header.message, /children/);
  c.close();
});

test('children: a token that may query only "rec" is FORBIDDEN for a tree spanning aeb and db', async () => {
  const admin = await Client.connect(hub.url, { token: ADMIN });
  const v = await Client.connect(hub.url, { token: RECONLY });
  await v.ok({ op: 'query', what: 'job', job_id: root }); // the root's own queue is allowed
  for (const job_id of [root, `${root}.3`]) {
    const m = await v.request({ op: 'query', what: 'children', job_id });
    assert.equal(m.header.code, 'FORBIDDEN', JSON.stringify(m.header));
    assert.match(m.header.message, /'aeb'.*rec-viewer/);
  }
  // a root without children in "rec": allowed, empty
  const lone = (await admin.ok({ op: 'enqueue', queue: 'rec', args: {} })).job_id;
  const page = (await v.ok({ op: 'query', what: 'children', job_id: lone })).result;
  assert.deepEqual([page.total, page.jobs], [0, []]);
  await admin.ok({ op: 'cancel', job_id: lone });
  admin.close();
  v.close();
});
