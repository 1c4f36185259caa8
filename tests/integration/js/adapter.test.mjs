// Round trips of the JavaScript adapter (adapters/js/wsmesh.mjs) against the real wshub:
// enqueue -> consume -> result, every job option, emit + route with emit_window credit, wait on
// a tree, subscribe to progress, queries, admin ops and tokens, a byte-identical binary columnar
// payload, batching of several protocol messages per WebSocket message, and reconnect.
// Every header sent and received is recorded in $WSM_BUILDDIR/protocol-log/js-adapter.jsonl.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import {
  Client, JobFailure, encodeColumns, columnsToJson, encodeMessage, decodeMessages, concatBytes,
} from '../../../adapters/js/wsmesh.mjs';
import { startHub, protocolLog, until, assertCleanExit } from './hub.mjs';

const ADMIN = 'js-admin-token';
const VIEWER = 'js-viewer-token';
const WORKER = 'js-worker-token';
let hub;
const trace = protocolLog('js-adapter');
const clients = [];

async function client(token = ADMIN, opts = {}) {
  const c = new Client(hub.url, { token, name: `t-${clients.length}`, WebSocket, trace, backoffInitial: 0.05, backoffMax: 0.5, ...opts });
  clients.push(c);
  await c.connect();
  return c;
}

before(async () => { hub = await startHub(); });
after(async () => {
  for (const c of clients) c.close();
  await hub?.stop();
  if (hub) assertCleanExit(hub);
});

test('hello: welcome carries version, role and limits; a bad token is refused', async () => {
  const c = await client(ADMIN);
  assert.equal(c.welcome.version, 1);
  assert.equal(c.welcome.role, 'admin');
  assert.equal(c.welcome.emit_window, 8);
  assert.equal(c.state, 'open');
  const bad = new Client(hub.url, { token: 'nope', WebSocket, trace });
  const states = [];
  bad.on('state', (s) => states.push(s.state));
  await assert.rejects(bad.connect(), (e) => e.code === 'UNAUTHORIZED');
  assert.equal(bad.state, 'closed');
  assert.ok(states.includes('connecting'));
});

test('enqueue -> consume -> result, with the value returned by wait', async () => {
  const worker = await client(WORKER);
  await worker.consume(['js.work'], async (job) => ({ sum: job.args.a + job.args.b, attempt: job.attempt }), { prefetch: 4 });
  const producer = await client(ADMIN);
  const ids = await Promise.all([1, 2, 3, 4, 5].map((i) => producer.enqueue('js.work', { a: i, b: 10 })));
  for (const { job_id, status } of ids) {
    assert.match(job_id, /^[0-9a-f]{20}$/);
    assert.equal(status, 'queued');
  }
  const jobs = await Promise.all(ids.map(({ job_id }) => producer.wait(job_id, { timeout: 10 })));
  assert.deepEqual(jobs.map((j) => j.status), Array(5).fill('finished'));
  assert.deepEqual(jobs.map((j) => j.result.sum), [11, 12, 13, 14, 15]);
  const v = await producer.call('js.work', { a: 1, b: 1 });
  assert.deepEqual(v, { sum: 2, attempt: 1 });
  await worker.drain();
});

test('every job option is accepted and errors carry their codes', async () => {
  const c = await client(ADMIN);
  const id = `opt-${Date.now()}`;
  const r = await c.enqueue('js.idle', { x: 1 }, {
    job_id: id, meta: { who: 'test' }, timeout: 5, ttl: 60, result_ttl: 30, failure_ttl: 30,
    retry: { max: 2, intervals: [0, 1] }, key: 'k1', at_front: true, weight: 3,
  });
  assert.deepEqual(r, { job_id: id, status: 'queued' });
  const sched = await c.enqueue('js.idle', {}, { enqueue_in: 30 });
  assert.equal(sched.status, 'scheduled');
  const at = await c.enqueue('js.idle', {}, { enqueue_at: Date.now() + 60000 });
  assert.equal(at.status, 'scheduled');
  const dep = await c.enqueue('js.idle', {}, { depends_on: [id], allow_failure: true });
  assert.equal(dep.status, 'deferred');
  const job = await c.query('job', { job_id: id });
  assert.equal(job.key, 'k1');
  assert.deepEqual(job.meta, { who: 'test' });
  await assert.rejects(c.enqueue('js.idle', {}, { job_id: id }), (e) => e.code === 'DUPLICATE_ID');
  await assert.rejects(c.enqueue('no.such.queue', {}), (e) => e.code === 'NO_SUCH_QUEUE' && /no\.such\.queue/.test(e.message));
  await assert.rejects(c.enqueue('js.idle', {}, { depends_on: ['missing-parent'] }), (e) => e.code === 'NO_SUCH_JOB');
  const bad = await client(ADMIN, { trace: (d, h) => trace(d, h, d === 'send' && h.op === 'enqueue') });
  await assert.rejects(bad.request({ op: 'enqueue', queue: 'js.idle', timeout: 'soon' }), (e) => e.code === 'BAD_FIELD' && /timeout/.test(e.message));
  await assert.rejects(c.wait(id, { timeout: 0.2 }), (e) => e.code === 'TIMEOUT');
  assert.equal(await c.cancel(sched.job_id), 1);
  // empty cancels the queued job; its allow_failure dependent is released to queued by that and
  // may be emptied too, so the count is 1 or 2.
  const emptied = await c.empty('js.idle');
  assert.ok(emptied >= 1 && emptied <= 2, `empty count ${emptied}`);
  const gone = await c.query('job', { job_id: id });
  assert.equal(gone.status, 'canceled');
});

test('emit + route, wait on the tree, subscribe to progress', async () => {
  const c = await client(ADMIN);
  const progress = [];
  const unsub = await c.subscribe('progress', (d) => progress.push(d));
  const w = await client(WORKER);
  await w.consume(['js.split', 'js.part'], async (job) => {
    if (job.queue === 'js.part') return { part: job.args.i, parent: job.parent, root: job.root };
    for (let i = 0; i < job.args.n; i++) {
      await job.emit('parts', { args: { i }, weight: 10 });
      job.progress(i + 1, job.args.n, `emitted ${i + 1}`);
    }
    return { emitted: job.args.n };
  }, { prefetch: 2 });
  const { job_id } = await c.enqueue('js.split', { n: 4 });
  const root = await c.wait(job_id, { tree: true, timeout: 10 });
  assert.equal(root.tree_status, 'finished');
  assert.deepEqual(root.result, { emitted: 4 });
  const child = await c.query('job', { job_id: `${job_id}.2` });
  assert.equal(child.queue, 'js.part');
  assert.equal(child.parent, job_id);
  assert.equal(child.root, job_id);
  assert.deepEqual(child.result, { part: 2, parent: job_id, root: job_id });
  const tree = await c.query('tree', { job_id: `${job_id}.0` });
  assert.equal(tree.root, job_id);
  assert.equal(tree.jobs, 5);
  assert.equal(tree.status, 'finished');
  const last = await until(() => progress.filter((p) => p.root === job_id && p.status === 'finished').pop(), 5000, 'final progress event');
  assert.equal(last.queues['js.part'].weight_done, 40);
  assert.equal(last.queues['js.part'].ended, 4);
  await unsub();
  await w.drain();
});

test('children: pages of a tree by next_offset, status filter, allChildren, errors', async () => {
  const c = await client(ADMIN);
  const w = await client(WORKER);
  await w.consume(['js.split', 'js.part'], async (job) => {
    if (job.queue === 'js.part') {
      if (job.args.i % 4 === 1) throw new JobFailure('BadPart', `part ${job.args.i}`, { retry: false });
      return { part: job.args.i };
    }
    for (let i = 0; i < job.args.n; i++) await job.emit('parts', { args: { i } });
    return { emitted: job.args.n };
  }, { prefetch: 2 });
  const { job_id } = await c.enqueue('js.split', { n: 12 });
  const root = await c.wait(job_id, { tree: true, timeout: 10 });
  assert.equal(root.tree_status, 'failed');
  assert.equal(root.children_total, 12);
  const first = await c.children(job_id, { limit: 5 });
  assert.equal(first.job_id, job_id);
  assert.equal(first.total, 12);
  assert.equal(first.next_offset, 5);
  assert.deepEqual(first.jobs.map((j) => j.job_id), [0, 1, 2, 3, 4].map((i) => `${job_id}.${i}`));
  assert.equal(first.jobs[0].queue, 'js.part');
  assert.equal(first.jobs[0].status, 'finished');
  const all = [];
  for await (const j of c.allChildren(job_id, { limit: 5 })) all.push(j.job_id);
  assert.deepEqual(all, [...Array(12).keys()].map((i) => `${job_id}.${i}`));
  const failed = await c.children(job_id, { status: 'failed' });
  assert.equal(failed.total, 3);
  assert.equal(failed.next_offset, undefined);
  assert.deepEqual(failed.jobs.map((j) => [j.job_id, j.status, j.error_type]),
    [1, 5, 9].map((i) => [`${job_id}.${i}`, 'failed', 'BadPart']));
  await assert.rejects(c.children('never-was'), (e) => e.code === 'NO_SUCH_JOB');
  await assert.rejects(c.children(job_id, { status: 'lost' }), (e) => e.code === 'BAD_FIELD');
  await assert.rejects(c.children(job_id, { limit: 1001 }), (e) => e.code === 'BAD_FIELD');
  await w.drain();
});

test('emit credit: a full queue holds replies, the adapter waits at emit_window', async () => {
  const c = await client(ADMIN);
  const producer = await client(WORKER);
  let maxInFlight = 0;
  let maxWaiting = 0;
  let emitted = 0;
  await producer.consume(['js.split'], async (job) => {
    for (let i = 0; i < job.args.n; i++) {
      await job.emit('parts', { args: { i } });
      emitted++;
      maxInFlight = Math.max(maxInFlight, producer.emitsInFlight);
    }
    return { emitted: job.args.n };
  });
  const { job_id } = await c.enqueue('js.split', { n: 30 });
  // js.part holds 5; 8 more emits may be unanswered; the handler blocks on the 14th.
  await until(() => emitted >= 13, 5000, '13 emits');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(emitted, 13, 'the producer must block when emit_window emits are unanswered');
  const q = (await c.query('queues')).find((x) => x.name === 'js.part');
  assert.equal(q.queued, 5);
  const seen = [];
  const consumer = await client(WORKER);
  await consumer.consume(['js.part'], async (job) => {
    maxWaiting = Math.max(maxWaiting, (await c.query('queues')).find((x) => x.name === 'js.part').queued);
    seen.push(job.args.i);
    return null;
  });
  const root = await c.wait(job_id, { tree: true, timeout: 20 });
  assert.equal(root.tree_status, 'finished');
  assert.equal(seen.length, 30);
  assert.deepEqual([...seen].sort((a, b) => a - b), [...Array(30).keys()]);
  assert.ok(maxInFlight <= 8, `at most emit_window emits unanswered (saw ${maxInFlight})`);
  assert.ok(maxWaiting <= 5, `queue bound kept (saw ${maxWaiting})`);
  await producer.drain();
  await consumer.drain();
});

test('binary columnar payload travels byte-identical through the hub (enqueue, job, emit)', async () => {
  const meta = { rows: 5, columns: [
    { name: 't', type: 'f64', unit: 's' }, { name: 'range', type: 'f32', unit: 'm', nullable: true },
    { name: 'state', type: 'u8', enum: ['NONE', 'FCW', 'PB1', 'PB2', 'FB'] }, { name: 'hit', type: 'bool' },
    { name: 'frame', type: 'i64' }, { name: 'n', type: 'i32' }, { name: 'k', type: 'i16' }] };
  const data = { t: [0, 0.01, 0.02, 0.03, 0.04], range: [40.5, null, 39.25, 38, null], state: ['NONE', 'FCW', 'PB1', 'PB2', 'FB'],
    hit: [false, false, true, false, true], frame: [0, 1, 2, 3, 2 ** 40], n: [-1, 0, 1, 2, 3], k: [-7, 7, 0, 1, 2] };
  const bytes = encodeColumns(meta, data);
  const raw = Uint8Array.from([0xff, 0x00, 0xfe, 0x0a, 0x7b, 0xc3, 0x28]);
  const c = await client(ADMIN);
  const got = [];
  const w = await client(WORKER);
  await w.consume(['js.echo', 'js.sink'], async (job) => {
    got.push({ queue: job.queue, payload: Buffer.from(job.payload), meta: job.payloadMeta, ct: job.contentType });
    if (job.queue === 'js.echo') {
      await job.emit('out', { payload: job.payload, content_type: job.contentType, payload_meta: job.payloadMeta });
      job.setResult({ payload: raw, content_type: 'application/octet-stream' });
      return { echoed: job.payload.length };
    }
    return job.contentType === 'application/vnd.wsmesh.columns' ? job.columnsJson() : { raw: job.payload.length };
  });
  const { job_id } = await c.enqueue('js.echo', { what: 'frames' }, { columns: { meta, data } });
  const root = await c.wait(job_id, { tree: true, timeout: 10 });
  assert.equal(root.tree_status, 'finished');
  const echo = got.find((g) => g.queue === 'js.echo');
  assert.ok(Buffer.from(bytes).equals(echo.payload), 'consumer payload equals enqueued bytes');
  assert.deepEqual(echo.meta, meta);
  assert.equal(echo.ct, 'application/vnd.wsmesh.columns');
  const sinks = got.filter((g) => g.queue === 'js.sink');
  assert.equal(sinks.length, 2);
  const emitted = sinks.find((g) => g.ct === 'application/vnd.wsmesh.columns');
  assert.ok(Buffer.from(bytes).equals(emitted.payload), 'emitted payload equals the original bytes');
  const routed = sinks.find((g) => g.ct === 'application/octet-stream');
  assert.ok(Buffer.from(raw).equals(routed.payload), 'result payload (not UTF-8) routed byte-identical');
  const child = await c.query('job', { job_id: `${job_id}.0` });
  assert.deepEqual(child.result, { ...columnsToJson(meta, bytes) });
  assert.equal(child.result.frame[4], 2 ** 40);
  await w.drain();
});

test('key state travels with the result to the next job of the key, in order', async () => {
  const c = await client(ADMIN);
  const w = await client(WORKER);
  const seen = [];
  await w.consume(['js.work'], async (job) => {
    const n = (job.state?.n ?? 0) + 1;
    seen.push([job.args.i, job.state?.n ?? null]);
    job.setState({ n, last: job.args.i });
    return n;
  }, { prefetch: 8 });
  const key = `rec-${Date.now()}`;
  const ids = [];
  for (let i = 0; i < 6; i++) ids.push((await c.enqueue('js.work', { i }, { key })).job_id);
  const jobs = await Promise.all(ids.map((id) => c.wait(id, { timeout: 10 })));
  assert.deepEqual(jobs.map((j) => j.result), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(seen, [[0, null], [1, 1], [2, 2], [3, 3], [4, 4], [5, 5]]);
  await w.drain();
});

test('messages of one turn leave as one WebSocket message', async () => {
  let sends = 0;
  class CountingWS extends WebSocket {
    send(data, ...rest) { sends++; return super.send(data, ...rest); }
  }
  const c = await client(ADMIN, { WebSocket: CountingWS });
  sends = 0;
  const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => c.enqueue('js.idle', { i })));
  assert.equal(replies.length, 20);
  assert.equal(sends, 1, '20 enqueues of one turn are one WebSocket message');
  assert.ok(await c.empty('js.idle') >= 20);
});

test('several protocol messages per WebSocket message, both ways', async () => {
  const ws = new WebSocket(hub.url, ['wsmesh.v1']);
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  const got = [];
  ws.on('message', (d) => {
    const { messages, error } = decodeMessages(new Uint8Array(d));
    assert.equal(error, null);
    for (const m of messages) { trace('recv', m.header); got.push(m.header); }
  });
  const msgs = [
    { op: 'hello', id: 'h', versions: [1], token: ADMIN, name: 'raw' },
    { op: 'enqueue', id: 'e1', queue: 'js.idle', args: { n: 1 } },
    { op: 'enqueue', id: 'e2', queue: 'js.idle', args: { n: 2 } },
    { op: 'ping', id: 'p' },
    { op: 'query', id: 'q', what: 'hub' },
  ];
  for (const m of msgs) trace('send', m);
  ws.send(concatBytes(msgs.map((m) => encodeMessage(m))));
  await until(() => got.length >= 5, 5000, 'five replies');
  assert.equal(got.find((h) => h.ref === 'h').op, 'welcome');
  assert.equal(got.find((h) => h.ref === 'e1').status, 'queued');
  assert.equal(got.find((h) => h.ref === 'e2').status, 'queued');
  assert.equal(got.find((h) => h.ref === 'p').op, 'pong');
  assert.match(got.find((h) => h.ref === 'q').result.version, /wshub/);
  ws.close();
  const c = await client(ADMIN);
  for (const ref of ['e1', 'e2']) {
    const job = await c.query('job', { job_id: got.find((h) => h.ref === ref).job_id });
    assert.equal(job.args.n, Number(ref[1]));
  }
});

test('queries: hub, queues, workers, job, registry with search and pagination', async () => {
  const c = await client(ADMIN);
  const w = await client(WORKER, { name: 'query-worker' });
  await w.consume(['js.work'], async (job) => job.args.i);
  const ids = [];
  for (let i = 0; i < 12; i++) ids.push((await c.enqueue('js.work', { i }, { job_id: `reg-${String(i).padStart(2, '0')}` })).job_id);
  await Promise.all(ids.map((id) => c.wait(id, { timeout: 10 })));
  const hubInfo = await c.query('hub');
  assert.match(hubInfo.version, /wshub/);
  assert.ok(hubInfo.connections >= 2);
  const queues = await c.query('queues');
  assert.ok(queues.find((q) => q.name === 'js.work').finished >= 12);
  const workers = await c.query('workers');
  const me = workers.find((x) => x.name === 'query-worker');
  assert.ok(me, 'the worker is listed');
  assert.deepEqual(me.queues, ['js.work']);
  assert.ok(me.processed >= 12);
  const page = await c.query('registry', { queue: 'js.work', registry: 'finished', offset: 0, limit: 5, search: 'reg-' });
  assert.equal(page.total, 12);
  assert.equal(page.jobs.length, 5);
  assert.equal(page.jobs[0].job_id, 'reg-11', 'newest first');
  const page3 = await c.query('registry', { queue: 'js.work', registry: 'finished', offset: 10, limit: 5, search: 'reg-' });
  assert.deepEqual(page3.jobs.map((j) => j.job_id), ['reg-01', 'reg-00']);
  assert.equal(page3.next_offset, undefined);
  const p1 = await c.registry('js.work', 'finished', { search: 'reg-', limit: 5 });
  assert.deepEqual([p1.total, p1.offset, p1.jobs.length, p1.next_offset], [12, 0, 5, 5]);
  assert.equal(p1.jobs[0].queue, 'js.work');
  assert.ok(Number.isInteger(p1.jobs[0].started_at));
  const all = [];
  for await (const j of c.allRegistry('js.work', 'finished', { search: 'reg-', limit: 5 })) all.push(j.job_id);
  assert.deepEqual(all, [...ids].reverse(), 'every page by next_offset, newest first');
  await assert.rejects(c.registry('js.work', 'lost'), (e) => e.code === 'BAD_FIELD');
  await assert.rejects(c.registry('js.nope', 'failed'), (e) => e.code === 'NO_SUCH_QUEUE');
  await assert.rejects(c.query('job', { job_id: 'never-was' }), (e) => e.code === 'NO_SUCH_JOB');
  await w.drain();
});

test('fail, requeue and the other admin ops; a read-only token is refused', async () => {
  const admin = await client(ADMIN);
  const viewer = await client(VIEWER);
  assert.notEqual(viewer.welcome.role, 'admin');
  let allow = false;
  const w = await client(WORKER);
  await w.consume(['js.fail'], async (job) => {
    if (!allow) throw new JobFailure('Boom', `cannot handle ${job.id}`, { detail: { at: 3 }, retry: false });
    return 'ok now';
  });
  const { job_id } = await admin.enqueue('js.fail', {});
  const failed = await admin.wait(job_id, { timeout: 10 });
  assert.equal(failed.status, 'failed');
  assert.equal(failed.error.type, 'Boom');
  assert.deepEqual(failed.error.detail, { at: 3 });
  const reg = await admin.registry('js.fail', 'failed', { search: job_id });
  assert.deepEqual(reg.jobs.map((j) => [j.job_id, j.error_type, j.error_message]), [[job_id, 'Boom', `cannot handle ${job_id}`]]);
  await assert.rejects(viewer.requeue(job_id), (e) => e.code === 'FORBIDDEN');
  await assert.rejects(viewer.pause('js.fail'), (e) => e.code === 'FORBIDDEN');
  allow = true;
  assert.equal(await admin.requeue(job_id), 1);
  const again = await admin.wait(job_id, { timeout: 10 });
  assert.equal(again.status, 'finished');
  assert.equal(again.result, 'ok now');
  await admin.pause('js.idle');
  const q = (await admin.query('queues')).find((x) => x.name === 'js.idle');
  assert.equal(q.paused, true);
  await admin.resume('js.idle');
  const { job_id: later } = await admin.enqueue('js.idle', {}, { enqueue_in: 60 });
  assert.equal(await admin.cancel(later), 1);
  assert.equal((await admin.query('job', { job_id: later })).status, 'canceled');
  await w.drain();
});

test('drain releases prefetched jobs that have not started; running ones finish', async () => {
  const c = await client(ADMIN);
  const w = await client(WORKER);
  let open;
  const gate = new Promise((r) => { open = r; });
  const ran = [];
  await w.consume(['js.work'], async (job) => { ran.push(job.id); await gate; return 'done'; }, { prefetch: 4, concurrency: 1 });
  const ids = [];
  for (let i = 0; i < 4; i++) ids.push((await c.enqueue('js.work', { i })).job_id);
  await until(() => ran.length === 1 && w.backlog === 3, 5000, '1 running + 3 prefetched');
  const drained = w.drain();
  await until(async () => (await c.query('queues')).find((q) => q.name === 'js.work').queued === 3, 5000, 'released jobs queued again');
  for (const id of ids.filter((x) => x !== ran[0])) {
    const j = await c.query('job', { job_id: id });
    assert.equal(j.status, 'queued');
    assert.equal(j.attempt, 0, 'a released attempt is not counted');
  }
  open();
  await drained;
  assert.equal((await c.wait(ran[0], { timeout: 5 })).result, 'done');
  const other = await client(WORKER);
  await other.consume(['js.work'], async () => 'later', { prefetch: 4 });
  const rest = await Promise.all(ids.filter((x) => x !== ran[0]).map((id) => c.wait(id, { timeout: 10 })));
  assert.deepEqual(rest.map((j) => j.result), ['later', 'later', 'later']);
  await other.drain();
});

test('stop: a job past its timeout sees the stop request and fails with reason timeout', async () => {
  const c = await client(ADMIN);
  const w = await client(WORKER);
  let reason = null;
  await w.consume(['js.fail'], async (job) => {
    await new Promise((resolve) => job.signal.addEventListener('abort', resolve, { once: true }));
    reason = job.stopReason;
    throw new Error('stopped');
  });
  const { job_id } = await c.enqueue('js.fail', {}, { timeout: 0.3 });
  const job = await c.wait(job_id, { timeout: 10 });
  assert.equal(job.status, 'failed');
  assert.equal(reason, 'timeout');
  await w.drain();
});

test('publish on a user topic reaches subscribers with data and payload', async () => {
  const c = await client(ADMIN);
  const got = [];
  const unsub = await c.subscribe('js.news*', (data, h, payload) => got.push({ topic: h.topic, data, text: new TextDecoder().decode(payload) }));
  const p = await client(WORKER);
  await p.publish('js.news.1', { n: 1 }, { payload: 'hello payload', content_type: 'text/plain' });
  await until(() => got.length === 1, 5000, 'published event');
  assert.deepEqual(got[0], { topic: 'js.news.1', data: { n: 1 }, text: 'hello payload' });
  await unsub();
});

test('reconnect: the client retries while the hub is down and resumes subscriptions', async () => {
  const c = await client(ADMIN);
  const states = [];
  c.on('state', (s) => states.push(s.state));
  const events = [];
  await c.subscribe('progress', (d) => events.push(d));
  await hub.restart();
  await until(() => c.state === 'open' && states.includes('retrying'), 10000, 'reconnect');
  const w = await client(WORKER);
  await w.consume(['js.work'], async (job) => { job.progress(1, 1, 'done'); return 1; });
  const { job_id } = await c.enqueue('js.work', {});
  await c.wait(job_id, { tree: true, timeout: 10 });
  await until(() => events.some((e) => e.root === job_id), 5000, 'progress after reconnect');
  await w.drain();
});
