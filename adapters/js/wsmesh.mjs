// wsmesh JavaScript adapter (ES module, browser and node >= 18): one Client object speaks
// protocol v1 (docs/protocol.md) to wshub. It connects with hello + token, reconnects with
// backoff and jitter (visible state: connecting / open / retrying / closed), batches outgoing
// messages into one WebSocket message per microtask, and offers enqueue, wait, request/reply,
// subscribe, publish, query (with paged children), admin ops and consume with an async handler (progress, emit with
// the hub's emit_window credit, result with key state, fail). JSON and columnar payloads.

import {
  WsmError, encodeMessage, decodeMessages, concatBytes, decodeJsonPayload, toBytes,
  JSON_TYPE, COLUMNS_TYPE,
} from './framing.mjs';
import { encodeColumns, decodeColumns, columnsToJson } from './columns.mjs';

export * from './framing.mjs';
export * from './columns.mjs';

export const VERSION = '0.1.0';
const ADMIN_OPS = ['requeue', 'cancel', 'empty', 'pause', 'resume'];

/** Finds a WebSocket class: the option, the global one (browsers, node >= 22), or npm `ws`. */
async function resolveWebSocket(given) {
  if (given) return given;
  if (globalThis.WebSocket) return globalThis.WebSocket;
  try {
    const m = await import('ws');
    return m.WebSocket ?? m.default;
  } catch {
    // ESM resolution ignores NODE_PATH; CommonJS require honours it.
    const { createRequire } = await import('node:module');
    return createRequire(import.meta.url)('ws');
  }
}

/** Environment variable in node (WSMESH_URL, WSMESH_TOKEN), undefined in a browser. */
function env(name) {
  return globalThis.process?.env?.[name] || undefined;
}

/**
 * The default hub URL: in a browser the hub that served the page, in node $WSMESH_URL, else
 * ws://127.0.0.1:7700/ws.
 */
export function defaultUrl() {
  const loc = globalThis.location;
  if (!loc || !loc.host) return env('WSMESH_URL') ?? 'ws://127.0.0.1:7700/ws';
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/ws`;
}

/** Thrown by a handler to fail a job with a type, detail and retry choice (§6.7 fail). */
export class JobFailure extends Error {
  constructor(type, message, { detail, retry = true } = {}) {
    super(message);
    this.name = 'JobFailure';
    this.type = type;
    this.detail = detail;
    this.retry = retry;
  }
}

/** Builds payload fields from user options: payload (bytes/string), json, or columns. */
function payloadFrom(opts) {
  if (opts.columns) {
    const { meta, data } = opts.columns;
    return { bytes: encodeColumns(meta, data), fields: { content_type: COLUMNS_TYPE, payload_meta: meta } };
  }
  if (opts.json !== undefined) {
    return { bytes: toBytes(JSON.stringify(opts.json)), fields: { content_type: JSON_TYPE } };
  }
  if (opts.payload != null) {
    const fields = {};
    if (opts.content_type) fields.content_type = opts.content_type;
    if (opts.payload_meta !== undefined) fields.payload_meta = opts.payload_meta;
    return { bytes: toBytes(opts.payload), fields };
  }
  return { bytes: null, fields: {} };
}

function pick(obj, keys) {
  const out = {};
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}

/** The jobs of every page of a paged query (page(offset) -> {jobs, next_offset?}) from offset on. */
async function* pages(page, offset = 0) {
  for (;;) {
    const p = await page(offset);
    yield* p.jobs;
    if (p.next_offset === undefined) return;
    offset = p.next_offset;
  }
}

const JOB_OPTS = ['job_id', 'meta', 'timeout', 'ttl', 'result_ttl', 'failure_ttl', 'retry', 'depends_on',
  'allow_failure', 'key', 'at_front', 'enqueue_at', 'enqueue_in', 'weight'];
const EMIT_OPTS = ['args', 'meta', 'key', 'weight', 'timeout', 'ttl', 'retry', 'result_ttl', 'failure_ttl'];

/** A dispatched job as seen by a consume handler. */
export class Job {
  constructor(client, header, payload) {
    this.client = client;
    this.header = header;
    this.id = header.job_id;
    this.queue = header.queue;
    this.attempt = header.attempt;
    this.args = header.args ?? {};
    this.meta = header.meta;
    this.key = header.key;
    this.state = header.state;
    this.parent = header.parent;
    this.root = header.root;
    this.deadlineAt = header.deadline_at;
    this.contentType = header.content_type ?? JSON_TYPE;
    this.payloadMeta = header.payload_meta;
    this.payload = payload;
    this._abort = new AbortController();
    this.signal = this._abort.signal;
    this._seq = 0;
    this._acks = [];
    this._newState = undefined;
    this._result = {};
    this._progressTimer = null;
    this._progress = null;
    this._progressAt = 0;
  }

  /** True once the hub sent `stop` (timeout, cancel, shutdown) or the connection was lost. */
  get stopped() { return this.signal.aborted; }
  get stopReason() { return this.signal.aborted ? this.signal.reason : null; }

  /** The payload parsed as JSON (content_type application/json). */
  json() { return this.payload.length ? decodeJsonPayload(this.payload) : undefined; }
  /** The columnar payload decoded to typed arrays: {rows, columns: {name: {values, valid}}}. */
  columns() { return decodeColumns(this.payloadMeta, this.payload); }
  /** The columnar payload in its JSON form ({name: [..]}). */
  columnsJson() { return columnsToJson(this.payloadMeta, this.payload); }

  /** Reports progress (no reply; throttled to one message per 100 ms, the last one wins). */
  progress(done, total, message) {
    this._progress = pick({ done, total, message }, ['done', 'total', 'message']);
    const wait = 100 - (Date.now() - this._progressAt);
    if (wait <= 0) return this._sendProgress();
    if (!this._progressTimer) this._progressTimer = setTimeout(() => this._sendProgress(), wait);
  }

  _sendProgress() {
    clearTimeout(this._progressTimer);
    this._progressTimer = null;
    if (!this._progress) return;
    this._progressAt = Date.now();
    this.client._post({ op: 'progress', job_id: this.id, ...this._progress });
    this._progress = null;
  }

  /**
   * Emits a named output (§6.6). Resolves once the emit is sent, which waits while the
   * connection has emit_window unanswered emits (backpressure). Resolves to {seq, ack}: `ack`
   * is a promise of the hub's reply {job_id, status}. The job's result waits for every ack.
   */
  async emit(output, opts = {}) {
    if (this.stopped) throw new WsmError('STOPPED', `job ${this.id} was stopped (${this.stopReason})`);
    const seq = this._seq++;
    const { bytes, fields } = payloadFrom(opts);
    const header = { op: 'emit', job_id: this.id, output, seq, ...pick(opts, EMIT_OPTS), ...fields };
    await this.client._emitSlot();
    if (this.stopped) {
      this.client._emitsOut = Math.max(0, this.client._emitsOut - 1);
      this.client._wakeEmitters();
      throw new WsmError('STOPPED', `job ${this.id} was stopped (${this.stopReason})`);
    }
    const ack = this.client.request(header, bytes, { emit: true });
    ack.catch(() => {});
    this._acks.push(ack);
    return { seq, ack };
  }

  /** Sets the new key state stored atomically with the result (§5 ordered keys). */
  setState(state) { this._newState = state; }
  /** Sets a result payload: {payload | json | columns, content_type, payload_meta} and/or weight. */
  setResult(opts) { this._result = opts; }
}

/**
 * A connection to wshub. opts: token (default $WSMESH_TOKEN in node), name, kind, instance,
 * reconnect (default true), backoffInitial / backoffMax (s), WebSocket (a class), wsOptions
 * (third argument of node `ws`, e.g. {ca}), trace(direction, header). Events (client.on(name, fn)): 'state' ({state, attempt, retryIn, error}),
 * 'welcome' (the welcome header), 'error' (protocol errors that answer no request), 'log'.
 */
export class Client {
  constructor(url = defaultUrl(), opts = {}) {
    this.url = url;
    this.opts = {
      token: env('WSMESH_TOKEN'), name: 'wsmesh-js', kind: 'client', instance: undefined,
      reconnect: true, backoffInitial: 0.25, backoffMax: 5, WebSocket: undefined, wsOptions: undefined, ...opts,
    };
    this.state = 'idle';
    this.welcome = null;
    this.lastError = null;
    this._listeners = new Map();
    this._ws = null;
    this._tx = [];
    this._flushQueued = false;
    this._pending = new Map();
    this._nextId = 1;
    this._subs = new Map();
    this._consumer = null;
    this._jobs = new Map();
    this._emitWindow = 64;
    this._emitsOut = 0;
    this._emitWaiters = [];
    this._attempt = 0;
    this._timer = null;
    this._hb = null;
    this._lastRx = 0;
    this._closed = false;
    this._ready = null;
  }

  on(name, fn) {
    if (!this._listeners.has(name)) this._listeners.set(name, new Set());
    this._listeners.get(name).add(fn);
    return () => this._listeners.get(name).delete(fn);
  }

  _fire(name, arg) {
    for (const fn of this._listeners.get(name) ?? []) {
      try { fn(arg); } catch (e) { console.error(`wsmesh: ${name} listener threw`, e); }
    }
  }

  _setState(state, extra = {}) {
    this.state = state;
    this._fire('state', { state, attempt: this._attempt, error: this.lastError, ...extra });
  }

  /** Connects (and keeps reconnecting); resolves with the welcome header of the first session. */
  connect() {
    if (this._ready) return this._ready.promise;
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    promise.catch(() => {});
    this._ready = { promise, resolve, reject };
    this._closed = false;
    this._open();
    return promise;
  }

  async _open() {
    this._setState(this._attempt === 0 ? 'connecting' : 'retrying', { retryIn: 0 });
    let WS;
    try {
      WS = await resolveWebSocket(this.opts.WebSocket);
    } catch (e) {
      return this._fatal(new WsmError('NO_WEBSOCKET', `no WebSocket implementation: ${e.message}`));
    }
    if (this._closed) return;
    let ws;
    try {
      // wsOptions: node `ws` options such as {ca} for a wss:// hub with a private CA
      ws = this.opts.wsOptions ? new WS(this.url, ['wsmesh.v1'], this.opts.wsOptions) : new WS(this.url, ['wsmesh.v1']);
    } catch (e) {
      return this._fatal(new WsmError('BAD_URL', `cannot connect to ${this.url}: ${e.message}`));
    }
    ws.binaryType = 'arraybuffer';
    this._ws = ws;
    ws.onopen = () => this._onOpen(ws);
    ws.onmessage = (ev) => this._onMessage(ws, ev.data);
    ws.onerror = (ev) => { this.lastError = new WsmError('CONNECT', `${this.url}: ${ev?.message ?? 'connection error'}`); };
    ws.onclose = (ev) => this._onClose(ws, ev);
  }

  _onOpen(ws) {
    if (ws !== this._ws) return;
    this._lastRx = Date.now();
    const hello = pick({ versions: [1], name: this.opts.name, token: this.opts.token, kind: this.opts.kind,
      instance: this.opts.instance }, ['versions', 'name', 'token', 'kind', 'instance']);
    const id = this._id();
    this._pending.set(id, {
      header: { op: 'hello', id, ...hello }, bytes: null, sent: true, hello: true,
      resolve: (w) => this._onWelcome(w), reject: (e) => this._onHelloError(ws, e),
    });
    this._write(this._enc({ op: 'hello', id, ...hello }));
  }

  _onWelcome(w) {
    this.welcome = w;
    this._attempt = 0;
    this.lastError = null;
    this._emitWindow = w.emit_window ?? 64;
    this._setState('open');
    this._fire('welcome', w);
    this._startHeartbeat((w.heartbeat ?? 10) * 1000);
    this._resume();
    this._wakeEmitters();
    this._ready?.resolve(w);
  }

  _onHelloError(ws, e) {
    this.lastError = e;
    if (e.code === 'UNAUTHORIZED' || e.code === 'UNSUPPORTED_VERSION') this._fatal(e);
    else ws.close();
  }

  /** After (re)connect: subscriptions, consume, then every request not answered yet. */
  _resume() {
    const topics = [...this._subs.keys()];
    if (topics.length) this._post({ op: 'subscribe', topics });
    if (this._consumer) this._post({ op: 'consume', queues: this._consumer.queues, prefetch: this._consumer.prefetch });
    for (const [id, p] of this._pending) {
      if (p.hello || p.sent) continue;
      p.sent = true;
      this._write(this._enc(p.header, p.bytes));
    }
  }

  _fatal(err) {
    this.lastError = err;
    this._closed = true;
    this._stopTimers();
    try { this._ws?.close(); } catch { /* already closing */ }
    this._ws = null;
    this._failPending(err, () => true);
    this._setState('closed');
    this._ready?.reject(err);
  }

  _onClose(ws, ev) {
    if (ws !== this._ws) return;
    this._ws = null;
    this._stopTimers();
    if (!this.lastError || this.state === 'open') {
      this.lastError = new WsmError('DISCONNECTED', `connection to ${this.url} closed (${ev?.code ?? '?'}${ev?.reason ? ': ' + ev.reason : ''})`);
    }
    this._loseSession();
    if (this._closed) return this._setState('closed');
    if (!this.opts.reconnect) return this._fatal(this.lastError);
    this._attempt++;
    const base = Math.min(this.opts.backoffMax, this.opts.backoffInitial * 2 ** (this._attempt - 1));
    const delay = Math.round(base * (0.5 + Math.random() * 0.5) * 1000);
    this._setState('retrying', { retryIn: delay });
    this._timer = setTimeout(() => this._open(), delay);
  }

  /** The session ended: leases are gone, running jobs are told, unsafe requests fail. */
  _loseSession() {
    for (const job of this._jobs.values()) if (!job.stopped) job._abort.abort('disconnected');
    this._backlog = []; // their leases ended with the connection
    this._emitsOut = 0;
    this._failPending(new WsmError('DISCONNECTED', `connection to ${this.url} lost before the reply`),
      (p) => p.sent && (p.hello || !p.resend));
    for (const p of this._pending.values()) p.sent = false;
    this._tx = [];
    this._wakeEmitters();
  }

  _failPending(err, which) {
    for (const [id, p] of this._pending) {
      if (!which(p)) continue;
      this._pending.delete(id);
      if (p.emit) this._emitsOut = Math.max(0, this._emitsOut - 1);
      if (!p.hello) p.reject(err);
    }
  }

  _startHeartbeat(ms) {
    clearInterval(this._hb);
    const tick = Math.max(250, Math.min(ms, 10000));
    this._hb = setInterval(() => {
      const idle = Date.now() - this._lastRx;
      if (idle > 3 * tick) {
        this.lastError = new WsmError('TIMEOUT', `no message from ${this.url} for ${Math.round(idle / 1000)} s`);
        try { this._ws?.close(); } catch { /* closing */ }
      } else if (idle > tick) {
        this._post({ op: 'ping', id: this._id() });
      }
    }, tick);
  }

  _stopTimers() {
    clearTimeout(this._timer);
    clearInterval(this._hb);
    this._timer = null;
    this._hb = null;
  }

  /** Closes for good: pending requests fail with CLOSED; running handlers are stopped. */
  close() {
    this._closed = true;
    this._stopTimers();
    const ws = this._ws;
    if (ws) this._flush(ws);
    this._ws = null;
    this._loseSession();
    this._failPending(new WsmError('CLOSED', 'client closed'), () => true);
    if (ws) {
      try { ws.close(1000); } catch { /* already closed */ }
    }
    this._setState('closed');
    this._ready = null;
  }

  _id() { return `j${this._nextId++}`; }

  /** Encodes a message; opts.trace(direction, header) sees every header sent and received. */
  _enc(header, payload) {
    const bytes = encodeMessage(header, payload);
    if (this.opts.trace) {
      const len = payload == null ? 0 : toBytes(payload).length;
      const { len: _drop, ...rest } = header;
      this.opts.trace('send', len ? { ...rest, len } : rest);
    }
    return bytes;
  }

  // ---- sending: every message of one turn goes out as one WebSocket message (§2 batching)
  _write(bytes) {
    this._tx.push(bytes);
    if (this._flushQueued) return;
    this._flushQueued = true;
    queueMicrotask(() => {
      this._flushQueued = false;
      if (this._ws) this._flush(this._ws);
    });
  }

  _flush(ws) {
    if (!this._tx.length || ws.readyState !== 1) return;
    const max = this.welcome?.max_message_bytes ?? 64 * 1024 * 1024;
    let batch = [];
    let size = 0;
    for (const m of this._tx) {
      if (batch.length && size + m.length > max) {
        ws.send(concatBytes(batch));
        batch = [];
        size = 0;
      }
      batch.push(m);
      size += m.length;
    }
    if (batch.length) ws.send(concatBytes(batch));
    this._tx = [];
  }

  /** Sends a message that expects no reply (dropped while disconnected). */
  _post(header, payload) {
    if (this.state !== 'open') return;
    this._write(this._enc(header, payload));
  }

  /**
   * Sends a request and resolves with the `ok` header (rejects with a WsmError). Requests made
   * while disconnected wait for the connection. opts.resend: send again after a reconnect
   * (idempotent requests: wait, query, result, fail); other requests that were sent but not
   * answered fail with DISCONNECTED.
   */
  request(header, payload, opts = {}) {
    const id = this._id();
    const h = { ...header, id };
    const bytes = payload == null ? null : toBytes(payload);
    const tooBig = this._tooLarge(h, bytes);
    if (tooBig) return Promise.reject(tooBig);
    return new Promise((resolve, reject) => {
      const p = { header: h, bytes, sent: false, resend: !!opts.resend, emit: !!opts.emit, resolve, reject };
      this._pending.set(id, p);
      if (this.state === 'open') {
        p.sent = true;
        this._write(this._enc(h, bytes));
      } else if (this._closed) {
        this._pending.delete(id);
        reject(new WsmError('CLOSED', 'client closed'));
      }
    });
  }

  /** A WsmError TOO_LARGE if the header or message exceeds the hub's limits (welcome), else null. */
  _tooLarge(h, bytes) {
    const maxHeader = this.welcome?.max_header_bytes ?? 65536;
    const maxMessage = this.welcome?.max_message_bytes ?? 64 * 1024 * 1024;
    const headerBytes = new TextEncoder().encode(JSON.stringify(h)).length + 1;
    if (headerBytes > maxHeader) {
      return new WsmError('TOO_LARGE', `${h.op} header is ${headerBytes} bytes, above the hub's max_header_bytes ${maxHeader}: move bulk data into the payload`);
    }
    if (headerBytes + (bytes?.length ?? 0) > maxMessage) {
      return new WsmError('TOO_LARGE', `${h.op} message is ${headerBytes + bytes.length} bytes, above the hub's max_message_bytes ${maxMessage}`);
    }
    return null;
  }

  // ---- receiving
  _onMessage(ws, data) {
    if (ws !== this._ws) return;
    this._lastRx = Date.now();
    const { messages, error } = decodeMessages(typeof data === 'string' ? data : toBytes(data));
    for (const m of messages) {
      if (this.opts.trace) this.opts.trace('recv', m.header);
      try {
        this._dispatch(m.header, m.payload);
      } catch (e) {
        console.error('wsmesh: dispatch failed', m.header, e);
      }
    }
    if (error) this._fire('error', error);
  }

  _dispatch(h, payload) {
    switch (h.op) {
      case 'welcome': case 'ok': return this._reply(h, null);
      case 'error': return h.ref !== undefined && this._pending.has(h.ref)
        ? this._reply(h, new WsmError(h.code, h.message, { ref: h.ref }))
        : this._fire('error', new WsmError(h.code, h.message));
      case 'event': return this._onEvent(h, payload);
      case 'job': return this._onJob(h, payload);
      case 'stop': return this._onStop(h);
      case 'ping': return this._post({ op: 'pong', ...(h.id !== undefined ? { ref: h.id } : {}) });
      case 'pong': return undefined;
      default: return this._fire('log', `ignored message with op ${JSON.stringify(h.op)}`);
    }
  }

  _reply(h, err) {
    const p = this._pending.get(h.ref);
    if (!p) return;
    this._pending.delete(h.ref);
    if (p.emit) {
      this._emitsOut = Math.max(0, this._emitsOut - 1);
      this._wakeEmitters();
    }
    if (err) p.reject(err);
    else p.resolve(h);
  }

  // ---- topics
  /**
   * Subscribes handler(data, header, payload) to topics (names; "prefix*" patterns). Resolves
   * with a function that removes the handler (and unsubscribes topics nobody listens to).
   */
  async subscribe(topics, handler) {
    const list = Array.isArray(topics) ? topics : [topics];
    const fresh = list.filter((t) => !this._subs.has(t));
    for (const t of list) {
      if (!this._subs.has(t)) this._subs.set(t, new Set());
      this._subs.get(t).add(handler);
    }
    if (fresh.length) await this.request({ op: 'subscribe', topics: fresh });
    return () => this._unsubscribe(list, handler);
  }

  async _unsubscribe(list, handler) {
    const gone = [];
    for (const t of list) {
      const set = this._subs.get(t);
      if (!set) continue;
      set.delete(handler);
      if (!set.size) {
        this._subs.delete(t);
        gone.push(t);
      }
    }
    if (gone.length && this.state === 'open') await this.request({ op: 'unsubscribe', topics: gone });
  }

  _onEvent(h, payload) {
    for (const [pattern, handlers] of this._subs) {
      const match = pattern.endsWith('*') ? h.topic.startsWith(pattern.slice(0, -1)) : h.topic === pattern;
      if (!match) continue;
      for (const fn of handlers) {
        try { fn(h.data, h, payload); } catch (e) { console.error(`wsmesh: handler of topic ${h.topic} threw`, e); }
      }
    }
  }

  /** Publishes on a user topic: data (JSON) and/or opts {payload|json|columns}. */
  async publish(topic, data, opts = {}) {
    const { bytes, fields } = payloadFrom(opts);
    const h = { op: 'publish', topic, ...fields };
    if (data !== undefined) h.data = data;
    await this.request(h, bytes);
  }

  // ---- producer side
  /**
   * Enqueues a root job (§6.2). opts: every job option (job_id, meta, timeout, ttl, result_ttl,
   * failure_ttl, retry, depends_on, allow_failure, key, at_front, enqueue_at, enqueue_in, weight)
   * and a payload (payload + content_type + payload_meta, json, or columns {meta, data}).
   * Resolves with {job_id, status}.
   */
  async enqueue(queue, args = {}, opts = {}) {
    const { bytes, fields } = payloadFrom(opts);
    const ok = await this.request({ op: 'enqueue', queue, args, ...pick(opts, JOB_OPTS), ...fields }, bytes);
    return { job_id: ok.job_id, status: ok.status };
  }

  /** Waits until a job (opts.tree: its whole tree) has ended; resolves with the job (§6.11). */
  async wait(jobId, opts = {}) {
    const ok = await this.request({ op: 'wait', job_id: jobId, ...pick(opts, ['tree', 'timeout']) }, null, { resend: true });
    return ok.job;
  }

  /**
   * Request/reply over a queue: enqueues a job and waits for it; resolves with its result value,
   * or rejects with WsmError JOB_FAILED (err.job holds the job) if it did not finish.
   */
  async call(queue, args = {}, opts = {}) {
    const { job_id } = await this.enqueue(queue, args, opts);
    const job = await this.wait(job_id, { timeout: opts.wait_timeout ?? opts.timeout ?? 30, tree: !!opts.tree });
    if (job.status !== 'finished') {
      const why = job.error?.message ?? job.error?.type ?? job.status;
      throw new WsmError('JOB_FAILED', `job ${job_id} on queue ${queue} ${job.status}: ${why}`, { job });
    }
    return job.result;
  }

  /** query (§6.12): what = hub | queues | workers | job | tree | registry | children; resolves with result. */
  async query(what, fields = {}) {
    const ok = await this.request({ op: 'query', what, ...fields }, null, { resend: true });
    return ok.result;
  }

  /**
   * One page of the jobs below jobId in its tree (query children, §6.12). opts: descendants
   * (every depth, not only direct children), status (e.g. 'failed'), offset, limit (1..1000,
   * hub default 100). Resolves with {job_id, total, offset, next_offset?, jobs: [summaries]};
   * the hub may return fewer than limit jobs (header limit): continue from next_offset.
   */
  async children(jobId, opts = {}) {
    return this.query('children', { job_id: jobId, ...pick(opts, ['descendants', 'status', 'offset', 'limit']) });
  }

  /** Every job below jobId (opts as for children()), page by page: an async iterator of summaries. */
  async *allChildren(jobId, opts = {}) {
    yield* pages((offset) => this.children(jobId, { ...opts, offset }), opts.offset);
  }

  /**
   * One page of a queue's registry (query registry, §6.12): registry is a status name
   * ('failed', 'finished', ...). opts: search (job id prefix), offset, limit (1..1000, hub
   * default 100). Resolves with {total, offset, next_offset?, jobs: [job summaries]} (newest
   * first for ended registries; a failed job's summary has error_type and error_message); the
   * hub may return fewer than limit jobs (header limit): continue from next_offset.
   */
  async registry(queue, registry, opts = {}) {
    return this.query('registry', { queue, registry, ...pick(opts, ['search', 'offset', 'limit']) });
  }

  /** Every job of a registry (opts as for registry()), page by page: an async iterator of summaries. */
  async *allRegistry(queue, registry, opts = {}) {
    yield* pages((offset) => this.registry(queue, registry, { ...opts, offset }), opts.offset);
  }

  /** Admin ops (§6.13); each resolves with the number of jobs affected. */
  async admin(op, fields) {
    if (!ADMIN_OPS.includes(op)) throw new WsmError('BAD_FIELD', `${op} is not an admin op (${ADMIN_OPS.join(', ')})`);
    const ok = await this.request({ op, ...fields });
    return ok.count;
  }
  requeue(jobId) { return this.admin('requeue', { job_id: jobId }); }
  requeueAll(queue) { return this.admin('requeue', { queue, all: true }); }
  cancel(jobId) { return this.admin('cancel', { job_id: jobId }); }
  empty(queue) { return this.admin('empty', { queue }); }
  pause(queue) { return this.admin('pause', { queue }); }
  resume(queue) { return this.admin('resume', { queue }); }

  // ---- consumer side
  /**
   * Consumes queues (priority order) with handler(job) -> value (async). opts.prefetch: jobs
   * leased to this client at once (default 1). A handler's return value becomes the result `value`; job.setState
   * / job.setResult add the key state and a payload; a throw fails the job (JobFailure for
   * type, detail and retry:false). opts.concurrency (default = prefetch) caps the handlers
   * running at once; jobs prefetched beyond it wait here. Resolves when the hub accepted.
   */
  async consume(queues, handler, opts = {}) {
    const prefetch = opts.prefetch ?? 1;
    const concurrency = Math.max(1, Math.min(opts.concurrency ?? prefetch, prefetch));
    this._consumer = { queues, prefetch, concurrency, handler };
    this._backlog = [];
    await this.request({ op: 'consume', queues, prefetch }, null, { resend: true });
  }

  /**
   * Stops taking new jobs (prefetch 0), hands prefetched jobs that have not started back to the
   * hub (`release`: their attempt is not counted) and waits for the running handlers.
   */
  async drain() {
    if (this._consumer && this.state === 'open') this._post({ op: 'credit', n: -this._consumer.prefetch });
    this._consumer = null;
    this._releaseBacklog();
    if (!this._jobs.size) return;
    await new Promise((resolve) => { this._idle = resolve; });
  }

  _releaseBacklog() {
    const ids = (this._backlog ?? []).map((j) => j.id);
    this._backlog = [];
    if (ids.length && this.state === 'open') {
      this.request({ op: 'release', job_ids: ids }).catch((e) => this._fire('log', `release: ${e.message}`));
    }
  }

  /** Jobs received but not started yet (prefetch above concurrency). */
  get backlog() { return this._backlog?.length ?? 0; }

  _onJob(h, payload) {
    if (!this._consumer) {
      this._post({ op: 'release', job_ids: [h.job_id] });
      return;
    }
    const job = new Job(this, h, payload.slice());
    if (this._jobs.size >= this._consumer.concurrency) {
      this._backlog.push(job);
      return;
    }
    this._start(job);
  }

  _start(job) {
    this._jobs.set(`${job.id}#${job.attempt}`, job);
    this._runJob(job, this._consumer.handler);
  }

  _startNext() {
    while (this._consumer && this._backlog?.length && this._jobs.size < this._consumer.concurrency) {
      this._start(this._backlog.shift());
    }
  }

  async _runJob(job, handler) {
    let done;
    try {
      const value = await handler(job);
      await Promise.all(job._acks);
      done = this._resultMessage(job, value);
    } catch (e) {
      done = this._failMessage(job, e);
    }
    if (job._progress && !job.stopped) job._sendProgress();
    clearTimeout(job._progressTimer);
    this._jobs.delete(`${job.id}#${job.attempt}`);
    this._startNext();
    if (!this._jobs.size && this._idle) {
      this._idle();
      this._idle = null;
    }
    try {
      await this.request(done.header, done.bytes, { resend: true });
    } catch (e) {
      if (e.code !== 'BAD_STATE' && e.code !== 'CLOSED') this._fire('log', `${done.header.op} of ${job.id}: ${e.message}`);
    }
  }

  _resultMessage(job, value) {
    const { bytes, fields } = payloadFrom(job._result);
    const header = { op: 'result', job_id: job.id, attempt: job.attempt, ...fields };
    if (value !== undefined) header.value = value;
    if (job._newState !== undefined) header.state = job._newState;
    if (job._result.weight !== undefined) header.weight = job._result.weight;
    return { header, bytes };
  }

  _failMessage(job, e) {
    const error = {
      type: e?.type ?? (e?.code ? `${e.code}` : e?.name ?? 'Error'),
      message: String(e?.message ?? e),
    };
    if (e?.detail !== undefined) error.detail = e.detail;
    const header = { op: 'fail', job_id: job.id, attempt: job.attempt, error };
    if (e?.retry === false) header.retry = false;
    return { header, bytes: null };
  }

  _onStop(h) {
    for (const job of this._jobs.values()) {
      if (job.id === h.job_id && (h.attempt === undefined || h.attempt === job.attempt) && !job.stopped) {
        job._abort.abort(h.reason ?? 'stop');
      }
    }
  }

  // ---- emit credit (§6.6): at most emit_window unanswered emits per connection
  _emitSlot() {
    if (this.state === 'open' && this._emitsOut < this._emitWindow) {
      this._emitsOut++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this._emitWaiters.push(resolve));
  }

  _wakeEmitters() {
    while (this._emitWaiters.length && this.state === 'open' && this._emitsOut < this._emitWindow) {
      this._emitsOut++;
      this._emitWaiters.shift()();
    }
  }

  /** Emits currently waiting for credit (for tests and dashboards). */
  get emitsWaiting() { return this._emitWaiters.length; }
  get emitsInFlight() { return this._emitsOut; }
}

/** Convenience: new Client(url, opts) + connect(); resolves with the open client. */
export async function connect(url, opts) {
  const c = new Client(url, opts);
  await c.connect();
  return c;
}
