// fakehub.cjs - a scripted stand-in for wshub that speaks protocol v1 (docs/protocol.md) over
// the npm `ws` package, used by the adapter's transport-level tests: handshake variants,
// fragmented and batched messages, pings, close, oversize messages, TLS, and a small in-memory
// broker (queues, prefetch, leases with timeouts, retries, emits with routes and emit credit,
// wait, query, admin) so that libwsmesh can be exercised before/independently of the real hub.
//
// Usage: node fakehub.cjs CONFIG_JSON   (prints "listening on ws://127.0.0.1:PORT/ws" on stderr)
// CONFIG: {port, tls: {cert, key}, token, emit_window, queues: {q: {max_length}},
//          routes: {"q:output": "q2"}, mode: "normal" | "fragment" | "ping" | "bad_accept" |
//          "no_subprotocol_check" | "oversize_after_welcome" | "close_after_welcome" |
//          "silent" | "http_404", split: N (send every message split into WS fragments of N bytes),
//          log: FILE (append every received protocol message header as a JSON line)}
'use strict';
const http = require('http');
const https = require('https');
const fs = require('fs');
const crypto = require('crypto');
const net = require('net');
const { WebSocketServer } = require('ws');

const cfg = JSON.parse(process.argv[2] || '{}');
const mode = cfg.mode || 'normal';
const logf = cfg.log ? fs.openSync(cfg.log, 'a') : null;

// ---------------------------------------------------------------- framing
function parseMessages(buf) {
  const out = [];
  let off = 0;
  while (off < buf.length) {
    const nl = buf.indexOf(10, off);
    if (nl < 0) throw new Error('BAD_FRAME: no newline');
    const hdr = JSON.parse(buf.subarray(off, nl).toString('utf8'));
    const len = hdr.len || 0;
    const payload = buf.subarray(nl + 1, nl + 1 + len);
    if (payload.length !== len) throw new Error('BAD_FRAME: short payload');
    out.push({ hdr, payload });
    off = nl + 1 + len;
  }
  return out;
}
function frame(hdr, payload) {
  const h = Object.assign({}, hdr);
  if (payload && payload.length) h.len = payload.length; else delete h.len;
  const head = Buffer.from(JSON.stringify(h) + '\n');
  return payload && payload.length ? Buffer.concat([head, payload]) : head;
}

// ---------------------------------------------------------------- broker state
const queues = new Map(); // name -> {name, max_length, items: [], paused}
const jobs = new Map();   // id -> job
const conns = new Set();
let session = 0;
function queue(name) {
  if (!queues.has(name)) {
    const qc = (cfg.queues || {})[name] || {};
    queues.set(name, { name, max_length: qc.max_length || 1e9, items: [], paused: false, held: [] });
  }
  return queues.get(name);
}
for (const q of Object.keys(cfg.queues || {})) queue(q);
function qdefaults(name) { return ((cfg.queues || {})[name] || {}).defaults || {}; }
function genId() { return crypto.randomBytes(10).toString('hex'); }
function now() { return Date.now(); }
function summary(j) {
  return { job_id: j.id, queue: j.queue, status: j.status, attempt: j.attempt, args: j.args,
           key: j.key, parent: j.parent, root: j.root, children: j.children,
           enqueued_at: j.enqueued_at, ended_at: j.ended_at, result: j.result, error: j.error,
           tree_status: treeStatus(j) };
}
function ended(j) { return ['finished', 'failed', 'expired', 'canceled'].includes(j.status); }
function treeJobs(root) { return [...jobs.values()].filter(j => j.root === root); }
function treeStatus(j) {
  const all = treeJobs(j.root);
  if (!all.every(ended)) return 'running';
  return all.some(x => x.status !== 'finished') ? 'failed' : 'finished';
}
function publish(topic, data) {
  for (const c of conns) {
    if ([...c.topics].some(t => t === topic || (t.endsWith('*') && topic.startsWith(t.slice(0, -1)))))
      c.send([{ op: 'event', topic, data, seq: ++c.evseq }]);
  }
}
function setStatus(j, st) {
  j.status = st;
  if (ended(j)) j.ended_at = now();
  publish('events', { job_id: j.id, queue: j.queue, status: st, root: j.root, at: now() });
  checkWaiters();
  if (ended(j)) dispatchAll();
}
const waiters = [];
function checkWaiters() {
  for (let i = waiters.length - 1; i >= 0; i--) {
    const w = waiters[i];
    const j = jobs.get(w.job_id);
    if (!j) continue;
    const done = w.tree ? treeStatus(j) !== 'running' : ended(j);
    if (done) {
      waiters.splice(i, 1);
      clearTimeout(w.timer);
      w.conn.send([{ op: 'ok', ref: w.ref, job: Object.assign(summary(j),
        w.tree ? { status: j.status, tree_status: treeStatus(j) } : {}) }]);
    }
  }
}
function addJob(j, q, atFront) {
  jobs.set(j.id, j);
  j.status = 'queued';
  if (atFront) q.items.unshift(j); else q.items.push(j);
  publish('events', { job_id: j.id, queue: j.queue, status: 'queued', root: j.root, at: now() });
  dispatchAll();
}
function dispatchAll() {
  for (const q of queues.values()) {
    // held emits enter when space frees
    while (q.held.length && q.items.length < q.max_length) {
      const h = q.held.shift();
      addJob(h.job, q, false);
      h.conn.emitsOut--;
      h.conn.send([{ op: 'ok', ref: h.ref, job_id: h.job.id, status: 'queued' }]);
    }
  }
  let progress = true;
  while (progress) {
    progress = false;
    for (const c of conns) {
      if (!c.queues.length || c.leases.size >= c.prefetch) continue;
      for (const qn of c.queues) {
        const q = queue(qn);
        if (q.paused) continue;
        const idx = q.items.findIndex(j => !j.key || ![...jobs.values()].some(o => o !== j &&
          o.queue === j.queue && o.key === j.key && o.status === 'started'));
        if (idx < 0) continue;
        const j = q.items.splice(idx, 1)[0];
        lease(c, j);
        progress = true;
        break;
      }
    }
  }
}
function lease(c, j) {
  j.attempt++;
  j.status = 'started';
  j.worker = c;
  c.leases.add(j.id);
  const hdr = { op: 'job', job_id: j.id, queue: j.queue, attempt: j.attempt, args: j.args,
                enqueued_at: j.enqueued_at, root: j.root };
  if (j.parent) hdr.parent = j.parent;
  if (j.key) hdr.key = j.key;
  if (j.meta) hdr.meta = j.meta;
  if (j.key && queue(j.queue).state && queue(j.queue).state[j.key] !== undefined)
    hdr.state = queue(j.queue).state[j.key];
  if (j.content_type) hdr.content_type = j.content_type;
  if (j.payload_meta) hdr.payload_meta = j.payload_meta;
  if (j.timeout) {
    hdr.deadline_at = now() + j.timeout * 1000;
    j.timer = setTimeout(() => {
      if (j.status !== 'started' || j.worker !== c) return;
      c.send([{ op: 'stop', job_id: j.id, attempt: j.attempt, reason: 'timeout' }]);
      endAttempt(c, j, { type: 'timeout', message: 'job timed out' }, true);
    }, j.timeout * 1000);
  }
  publish('events', { job_id: j.id, queue: j.queue, status: 'started', root: j.root, at: now() });
  c.send([{ hdr, payload: j.payload }]);
}
function endAttempt(c, j, error, retry) {
  clearTimeout(j.timer);
  c.leases.delete(j.id);
  j.worker = null;
  const max = (j.retry && j.retry.max) || 0;
  if (retry && j.attempt <= max) {
    j.status = 'queued';
    queue(j.queue).items.unshift(j);
    dispatchAll();
  } else {
    j.error = error;
    setStatus(j, 'failed');
  }
}

// ---------------------------------------------------------------- connections
function onMessage(c, data, isBinary) {
  let msgs;
  try { msgs = parseMessages(Buffer.from(data)); } catch (e) {
    c.send([{ op: 'error', code: 'BAD_FRAME', message: String(e.message) }]);
    return;
  }
  for (const { hdr, payload } of msgs) {
    if (logf) fs.writeSync(logf, JSON.stringify(Object.assign({ _binary: isBinary }, hdr)) + '\n');
    handle(c, hdr, payload);
  }
}
function reply(c, hdr, fields) { if (hdr.id !== undefined) c.send([Object.assign({ op: 'ok', ref: hdr.id }, fields)]); }
function err(c, hdr, code, message) { c.send([{ op: 'error', code, message, ref: hdr.id }]); }
function handle(c, h, payload) {
  if (!c.hello && h.op !== 'hello' && h.op !== 'ping') return err(c, h, 'UNAUTHORIZED', 'hello first');
  switch (h.op) {
  case 'hello':
    if (cfg.token && h.token !== cfg.token) return err(c, h, 'UNAUTHORIZED', 'bad token');
    c.hello = h;
    reply(c, h, { version: 1, hub: 'fakehub', session: String(c.session), role: 'admin',
                  heartbeat: 15, max_message_bytes: 64 << 20, max_header_bytes: 65536,
                  emit_window: cfg.emit_window || (cfg.limits || {}).emit_window || 64 });
    if (mode === 'close_after_welcome') setTimeout(() => c.ws.close(1000, 'bye'), 50);
    if (mode === 'oversize_after_welcome')
      setTimeout(() => c.ws.send(Buffer.alloc(cfg.oversize || (2 << 20), 0x61), { binary: true }), 50);
    if (mode === 'ping') setTimeout(() => c.send([{ op: 'ping', id: 'p1' }]), 20);
    return;
  case 'ping': return c.send([{ op: 'pong', ref: h.id }]);
  case 'pong': c.pongs = (c.pongs || 0) + 1; return;
  case 'consume':
    c.queues = h.queues; c.prefetch = h.prefetch || 1; reply(c, h, {}); dispatchAll(); return;
  case 'credit': c.prefetch = Math.max(0, c.prefetch + h.n); dispatchAll(); return;
  case 'enqueue': {
    const q = queue(h.queue);
    if (q.items.length >= q.max_length) return err(c, h, 'QUEUE_FULL', `queue ${h.queue} is full`);
    const id = h.job_id || genId();
    if (jobs.has(id)) return err(c, h, 'DUPLICATE_ID', `job ${id} already exists`);
    const d = qdefaults(h.queue);
    const j = { id, queue: h.queue, args: h.args || {}, meta: h.meta, key: h.key, attempt: 0,
                timeout: h.timeout || d.timeout, retry: h.retry || d.retry, root: id, children: [], enqueued_at: now(),
                payload: Buffer.from(payload), content_type: h.content_type,
                payload_meta: h.payload_meta };
    reply(c, h, { job_id: id, status: 'queued' });
    addJob(j, q, h.at_front);
    return;
  }
  case 'emit': {
    const p = jobs.get(h.job_id);
    if (!p || p.worker !== c) return err(c, h, 'NO_SUCH_JOB', `job ${h.job_id} is not leased to you`);
    const target = (cfg.routes || {})[p.queue + ':' + h.output];
    if (!target) return err(c, h, 'NO_SUCH_QUEUE', `no route for ${p.queue}:${h.output}`);
    const id = p.id + '.' + h.seq;
    if (jobs.has(id) || [...queue(target).held].some(x => x.job.id === id))
      return reply(c, h, { job_id: id, status: 'duplicate' });
    const d = qdefaults(target);
    const j = { id, queue: target, args: h.args || {}, key: h.key, attempt: 0,
                timeout: h.timeout || d.timeout, retry: h.retry || d.retry, root: p.root, parent: p.id, children: [], enqueued_at: now(),
                payload: Buffer.from(payload), content_type: h.content_type,
                payload_meta: h.payload_meta };
    p.children.push(id);
    jobs.set(id, j); j.status = 'queued';
    const q = queue(target);
    if (q.items.length >= q.max_length) {
      jobs.delete(id);
      c.emitsOut = (c.emitsOut || 0) + 1;
      q.held.push({ job: j, conn: c, ref: h.id });
      return;
    }
    jobs.delete(id);
    reply(c, h, { job_id: id, status: 'queued' });
    addJob(j, q, false);
    return;
  }
  case 'progress': publish('progress', { root: h.job_id, progress: { done: h.done, total: h.total, message: h.message } }); return;
  case 'result': case 'fail': {
    const j = jobs.get(h.job_id);
    if (!j || j.worker !== c || j.attempt !== h.attempt)
      return err(c, h, 'BAD_STATE', `job ${h.job_id} attempt ${h.attempt} is not leased to you`);
    reply(c, h, {});
    if (h.op === 'result') {
      clearTimeout(j.timer);
      c.leases.delete(j.id);
      j.worker = null;
      j.result = h.value === undefined ? null : h.value;
      if (payload.length) j.result_payload = Buffer.from(payload);
      if (h.state !== undefined && j.key) {
        const q = queue(j.queue); q.state = q.state || {}; q.state[j.key] = h.state;
      }
      setStatus(j, 'finished');
      const target = (cfg.routes || {})[j.queue + ':result'];
      if (target) {
        const cid = j.id + '.r';
        j.children.push(cid);
        addJob({ id: cid, queue: target, args: j.result, attempt: 0, root: j.root, parent: j.id,
                 children: [], enqueued_at: now(), payload: Buffer.from(payload) }, queue(target));
      }
    } else {
      endAttempt(c, j, h.error, h.retry !== false);
    }
    dispatchAll();
    return;
  }
  case 'release':
    for (const id of h.job_ids || []) {
      const j = jobs.get(id);
      if (j && j.worker === c) {
        clearTimeout(j.timer); c.leases.delete(id); j.worker = null; j.attempt--;
        j.status = 'queued'; queue(j.queue).items.unshift(j);
      }
    }
    reply(c, h, { count: (h.job_ids || []).length });
    dispatchAll();
    return;
  case 'query': {
    if (h.what === 'queues') {
      const res = [...queues.values()].map(q => {
        const mine = [...jobs.values()].filter(j => j.queue === q.name);
        const cnt = s => mine.filter(j => j.status === s).length;
        return { name: q.name, paused: q.paused, max_length: q.max_length, queued: q.items.length,
                 deferred: 0, scheduled: 0, started: cnt('started'), finished: cnt('finished'),
                 failed: cnt('failed'), expired: 0, canceled: cnt('canceled'),
                 consumers: [...conns].filter(c2 => c2.queues.includes(q.name)).length, rate: 0 };
      });
      return reply(c, h, { result: res });
    }
    if (h.what === 'job') {
      const j = jobs.get(h.job_id);
      if (!j) return err(c, h, 'NO_SUCH_JOB', `no such job: ${h.job_id}`);
      return reply(c, h, { result: summary(j) });
    }
    if (h.what === 'workers')
      return reply(c, h, { result: [...conns].filter(x => x.hello).map(x => ({
        session: String(x.session), name: x.hello.name, kind: x.hello.kind, queues: x.queues,
        prefetch: x.prefetch, jobs: [...x.leases] })) });
    if (h.what === 'tree') {
      const j = jobs.get(h.job_id);
      if (!j) return err(c, h, 'NO_SUCH_JOB', `no such job: ${h.job_id}`);
      const all = treeJobs(j.root); const by = {};
      for (const x of all) by[x.status] = (by[x.status] || 0) + 1;
      return reply(c, h, { result: { root: j.root, status: treeStatus(j), jobs: all.length, by_status: by, queues: {} } });
    }
    if (h.what === 'registry') {
      const all = [...jobs.values()].filter(j => j.queue === h.queue && j.status === h.registry);
      const off = h.offset || 0, lim = h.limit || 100;
      return reply(c, h, { result: { total: all.length, offset: off, jobs: all.slice(off, off + lim).map(summary) } });
    }
    if (h.what === 'hub') return reply(c, h, { result: { version: 'fakehub', connections: conns.size } });
    return err(c, h, 'BAD_FIELD', `what: unknown ${h.what}`);
  }
  case 'wait': {
    const j = jobs.get(h.job_id);
    if (!j) return err(c, h, 'NO_SUCH_JOB', `no such job: ${h.job_id}`);
    const w = { job_id: h.job_id, tree: !!h.tree, conn: c, ref: h.id };
    if (h.timeout) w.timer = setTimeout(() => {
      const i = waiters.indexOf(w);
      if (i >= 0) { waiters.splice(i, 1); err(c, h, 'TIMEOUT', `job ${h.job_id} did not end within ${h.timeout}s`); }
    }, h.timeout * 1000);
    waiters.push(w);
    checkWaiters();
    return;
  }
  case 'subscribe': for (const t of h.topics) c.topics.add(t); return reply(c, h, {});
  case 'cancel': {
    const j = jobs.get(h.job_id);
    if (!j) return err(c, h, 'NO_SUCH_JOB', `no such job: ${h.job_id}`);
    if (ended(j)) return err(c, h, 'BAD_STATE', `job ${h.job_id} has ended`);
    if (j.status === 'started' && j.worker) {
      j.worker.send([{ op: 'stop', job_id: j.id, attempt: j.attempt, reason: 'canceled' }]);
      j.worker.leases.delete(j.id); clearTimeout(j.timer); j.worker = null;
    }
    const q = queue(j.queue); q.items = q.items.filter(x => x !== j);
    setStatus(j, 'canceled');
    return reply(c, h, { count: 1 });
  }
  case 'requeue': {
    const list = h.all ? [...jobs.values()].filter(j => j.queue === h.queue && ['failed', 'canceled', 'expired'].includes(j.status))
                       : [jobs.get(h.job_id)].filter(Boolean);
    if (!h.all && !list.length) return err(c, h, 'NO_SUCH_JOB', `no such job: ${h.job_id}`);
    for (const j of list) { j.attempt = 0; j.error = undefined; j.status = 'queued'; queue(j.queue).items.push(j); }
    dispatchAll();
    return reply(c, h, { count: list.length });
  }
  case 'pause': case 'resume':
    queue(h.queue).paused = h.op === 'pause'; dispatchAll(); return reply(c, h, { count: 0 });
  case 'empty': {
    const q = queue(h.queue); const n = q.items.length;
    for (const j of q.items) setStatus(j, 'canceled');
    q.items = []; return reply(c, h, { count: n });
  }
  default: return err(c, h, 'UNKNOWN_OP', `unknown op ${h.op}`);
  }
}

function onConnection(ws) {
  const c = { ws, session: ++session, queues: [], prefetch: 0, leases: new Set(), topics: new Set(),
              evseq: 0, hello: null, out: [], timer: null };
  // batching: everything produced while handling one WebSocket message goes out together
  c.send = (items) => {
    for (const it of items) c.out.push(it.hdr ? it : { hdr: it, payload: null });
    if (!c.timer) c.timer = setImmediate(() => {
      c.timer = null;
      if (ws.readyState !== 1) return;
      const buf = Buffer.concat(c.out.map(x => frame(x.hdr, x.payload)));
      c.out = [];
      const binary = !cfg.text;
      if (cfg.split) {
        for (let off = 0; off < buf.length; off += cfg.split)
          ws.send(buf.subarray(off, off + cfg.split), { binary, fin: off + cfg.split >= buf.length });
      } else {
        ws.send(buf, { binary });
      }
    });
  };
  conns.add(c);
  if (mode === 'ping') ws.ping('x');
  ws.on('message', (d, isBinary) => onMessage(c, d, isBinary));
  ws.on('close', () => {
    conns.delete(c);
    for (const id of c.leases) {
      const j = jobs.get(id);
      if (j && j.worker === c) endAttempt(c, j, { type: 'worker_lost', message: 'worker disconnected' }, true);
    }
    for (const q of queues.values()) q.held = q.held.filter(x => x.conn !== c);
  });
  ws.on('pong', () => { c.wsPongs = (c.wsPongs || 0) + 1; });
}

let server;
if (mode === 'bad_accept' || mode === 'silent' || mode === 'http_404') {
  server = net.createServer(sock => {
    sock.on('data', () => {
      if (mode === 'silent') return;
      if (mode === 'http_404') { sock.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'); return; }
      sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
                 'Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\nSec-WebSocket-Protocol: wsmesh.v1\r\n\r\n');
    });
    sock.on('error', () => {});
  });
} else {
  server = cfg.tls ? https.createServer({ cert: fs.readFileSync(cfg.tls.cert), key: fs.readFileSync(cfg.tls.key) })
                   : http.createServer();
  const wss = new WebSocketServer({ noServer: true, maxPayload: 256 << 20, perMessageDeflate: false,
    autoPong: cfg.no_pong ? false : true,
    handleProtocols: (protos) => (protos.has('wsmesh.v1') ? 'wsmesh.v1' : false) });
  server.on('upgrade', (req, sock, head) => {
    if (!req.url.startsWith('/ws')) { sock.end('HTTP/1.1 404 Not Found\r\n\r\n'); return; }
    wss.handleUpgrade(req, sock, head, ws => onConnection(ws));
  });
}
server.listen(cfg.port || 0, '127.0.0.1', () => {
  process.stderr.write(`listening on ${cfg.tls ? 'wss' : 'ws'}://127.0.0.1:${server.address().port}/ws\n`);
});
process.on('SIGTERM', () => process.exit(0));
