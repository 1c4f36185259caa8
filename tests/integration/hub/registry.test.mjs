// wshub integration: query what=registry (protocol §6.12) against the real hub with a small
// limits.max_header_bytes and many jobs with long ids. 320 jobs (ids of ~190 bytes) fail for
// good with a long error message, 260 more wait in a queue nobody consumes. Asserts: with
// limit 1000 every reply header stays below max_header_bytes (so pages end early by bytes and
// answer next_offset); following next_offset lists every job exactly once, failed ones newest
// first and queued ones in queue order, also with an id-prefix search; a page ends at `limit`
// when that comes first; failed summaries carry error_type and error_message (cut to 200 bytes,
// ending with U+2026); bad input answers BAD_FIELD / NO_SUCH_QUEUE.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, testConfig, Client, queryPages } from './hubutil.mjs';

const ADMIN = 'registry-admin-token';
const MAX_HEADER = 8192;
const NF = 320;
const NQ = 260;
const PAD = 'recording-2026-11-29T14:25:00Z-vehicle-0042-'.repeat(4); // 176 bytes
const fid = (i) => `${PAD}f${String(i).padStart(6, '0')}`;
const qid = (i) => `${PAD}${i % 2 ? 'odd' : 'even'}-q${String(i).padStart(6, '0')}`;
// 300 bytes, with 2- and 3-byte characters around the 200-byte cut
const MESSAGE = `frame ${'x'.repeat(190)}é€ü${'y'.repeat(200)}`;

let hub;

before(async () => {
  hub = await startHub(
    testConfig({
      queues: { work: { max_length: 10000 }, idle: { max_length: 10000 } },
      limits: { max_header_bytes: MAX_HEADER },
      tokens: [{ name: 'ops', token: ADMIN, role: 'admin' }],
    }),
  );
  const p = await Client.connect(hub.url, { token: ADMIN });
  const w = await Client.connect(hub.url, { token: ADMIN, kind: 'worker' });
  for (let i = 0; i < NF; i++) await p.ok({ op: 'enqueue', queue: 'work', job_id: fid(i), args: { i } });
  for (let i = 0; i < NQ; i++) await p.ok({ op: 'enqueue', queue: 'idle', job_id: qid(i), args: { i } });
  await w.ok({ op: 'consume', queues: ['work'], prefetch: 1 });
  for (let done = 0; done < NF; done++) {
    const j = (await w.next((m) => m.header.op === 'job')).header;
    await w.ok({ op: 'fail', job_id: j.job_id, attempt: j.attempt, retry: false,
      error: { type: 'CORRUPT', message: MESSAGE, detail: { offset: j.args.i } } });
  }
  p.close();
  w.close();
});

after(async () => {
  const r = await hub.stop();
  assert.equal(r.code, 0, `wshub exit: ${JSON.stringify(r)}\n${hub.stderr()}`);
});

/** Every page of a registry query (queryPages in hubutil.mjs). */
const allPages = (c, fields) => queryPages(c, { what: 'registry', ...fields }, MAX_HEADER);

test('failed registry: pages end by bytes, next_offset lists every job once, newest first', async () => {
  const c = await Client.connect(hub.url, { token: ADMIN });
  const pages = await allPages(c, { queue: 'work', registry: 'failed', limit: 1000 });
  assert.ok(pages.length > 5, `max_header_bytes ${MAX_HEADER} must cut ${NF} summaries into pages (got ${pages.length})`);
  assert.ok(pages.every((p) => p.total === NF));
  const jobs = pages.flatMap((p) => p.jobs);
  assert.deepEqual(jobs.map((j) => j.job_id), [...Array(NF).keys()].reverse().map(fid));
  for (const j of jobs) {
    assert.equal(j.queue, 'work');
    assert.equal(j.status, 'failed');
    assert.equal(j.attempt, 1);
    assert.equal(j.error_type, 'CORRUPT');
    for (const f of ['enqueued_at', 'started_at', 'ended_at']) assert.ok(Number.isInteger(j[f]), f);
  }
  const m = jobs[0].error_message;
  assert.ok(Buffer.byteLength(m) <= 200, `error_message of ${Buffer.byteLength(m)} bytes`);
  assert.ok(m.endsWith('…'), m);
  assert.ok(MESSAGE.startsWith(m.slice(0, -1)), 'a prefix of the message, cut at a character');
  assert.ok(m.length > 150);
  // query job still has the whole error
  const full = (await c.ok({ op: 'query', what: 'job', job_id: jobs[0].job_id })).result;
  assert.equal(full.error.message, MESSAGE);
  c.close();
});

test('queued registry: queue order, id-prefix search, limit first when it comes first', async () => {
  const c = await Client.connect(hub.url, { token: ADMIN });
  const all = (await allPages(c, { queue: 'idle', registry: 'queued', limit: 1000 })).flatMap((p) => p.jobs);
  assert.deepEqual(all.map((j) => j.job_id), [...Array(NQ).keys()].map(qid));
  assert.ok(all.every((j) => j.error_type === undefined && j.error_message === undefined));
  const pages = await allPages(c, { queue: 'idle', registry: 'queued', limit: 1000, search: `${PAD}odd` });
  assert.ok(pages.length > 1);
  assert.ok(pages.every((p) => p.total === NQ / 2));
  assert.deepEqual(pages.flatMap((p) => p.jobs.map((j) => j.job_id)),
    [...Array(NQ).keys()].filter((i) => i % 2).map(qid));
  const small = (await c.ok({ op: 'query', what: 'registry', queue: 'idle', registry: 'queued', offset: 250, limit: 7 })).result;
  assert.deepEqual([small.total, small.offset, small.jobs.length, small.next_offset], [NQ, 250, 7, 257]);
  const last = (await c.ok({ op: 'query', what: 'registry', queue: 'idle', registry: 'queued', offset: 257, limit: 7 })).result;
  assert.deepEqual([last.jobs.length, last.next_offset], [3, undefined]);
  c.close();
});

test('registry: bad input answers stable codes', async () => {
  const c = await Client.connect(hub.url, { token: ADMIN });
  for (const [fields, code, word] of [
    [{ queue: 'work', registry: 'failed', limit: 1001 }, 'BAD_FIELD', 'limit'],
    [{ queue: 'work', registry: 'failed', offset: -1 }, 'BAD_FIELD', 'offset'],
    [{ queue: 'work', registry: 'broken' }, 'BAD_FIELD', 'registry'],
    [{ queue: 'nope', registry: 'failed' }, 'NO_SUCH_QUEUE', 'nope'],
  ]) {
    const m = await c.request({ op: 'query', what: 'registry', ...fields });
    assert.equal(m.header.op, 'error', JSON.stringify(m.header));
    assert.equal(m.header.code, code);
    assert.ok(m.header.message.includes(word), m.header.message);
  }
  c.close();
});
