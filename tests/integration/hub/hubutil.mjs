// Helpers of the wshub integration tests: start the real wshub on a free port (--port 0, read
// the printed URL), raw protocol v1 clients over npm `ws`, and a log of every header sent and
// received (JSONL under $WSM_BUILDDIR/protocol-log/, validated against schemas/protocol/ by the
// JS schema test).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';

export const SRCDIR = process.env.WSM_SRCDIR || path.resolve(new URL('../../..', import.meta.url).pathname);
export const BUILDDIR = process.env.WSM_BUILDDIR || path.join(SRCDIR, 'build');
export const WSHUB = process.env.WSHUB || path.join(BUILDDIR, 'src/hub/wshub');

const LOGDIR = path.join(BUILDDIR, 'protocol-log');
fs.mkdirSync(LOGDIR, { recursive: true });
const logFile = path.join(LOGDIR, `hub-${path.basename(process.argv[1] || 'test', '.mjs')}-${process.pid}.jsonl`);
const logFd = fs.openSync(logFile, 'w');

/** Appends one header to the protocol log. dir: "c2h" | "h2c". */
export function logHeader(dir, header) {
  fs.writeSync(logFd, JSON.stringify({ dir, header }) + '\n');
}

export function tmpDir(prefix = 'wshub-test-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A config object for tests: one or more queues, memory store unless given. */
export function testConfig(over = {}) {
  return {
    listen: { address: '127.0.0.1', port: 0 },
    queues: { work: { max_length: 10000 } },
    store: { type: 'memory' },
    logging: { level: 'warn' },
    ...over,
  };
}

/**
 * Starts wshub with the config object (written to a temp dir) or a config file path.
 * Resolves {proc, url, port, httpUrl, stderr(), stop(), kill9(), dir} once the hub printed
 * "listening on ws://127.0.0.1:PORT/ws".
 */
export async function startHub(config, { args = [], dir = null, timeoutMs = 10000 } = {}) {
  dir = dir || tmpDir();
  let cfgPath = config;
  if (typeof config !== 'string') {
    fs.mkdirSync(path.join(dir, 'config'), { recursive: true });
    cfgPath = path.join(dir, 'config', 'mesh.json');
    fs.writeFileSync(cfgPath, JSON.stringify(config, null, 2));
  }
  const proc = spawn(WSHUB, ['--config', cfgPath, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const port = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`wshub did not start in time:\n${err}`)), timeoutMs);
    proc.stderr.on('data', (d) => {
      err += d.toString();
      const m = /listening on ws:\/\/127\.0\.0\.1:(\d+)\/ws/.exec(err);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    proc.stdout.on('data', () => {});
    proc.on('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`wshub exited with ${code} before listening:\n${err}`));
    });
  });
  const hub = {
    proc,
    port,
    dir,
    cfgPath,
    url: `ws://127.0.0.1:${port}/ws`,
    httpUrl: `http://127.0.0.1:${port}`,
    exited,
    stderr: () => err,
    async stop(signal = 'SIGTERM', ms = 10000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), ms);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
    async kill9() {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill('SIGKILL');
      return exited;
    },
  };
  return hub;
}

const enc = new TextEncoder();

/** Encodes one protocol message: header line + payload bytes (len set from the payload). */
export function encode(header, payload) {
  const body = payload == null ? Buffer.alloc(0) : Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === 'string' ? enc.encode(payload) : payload);
  const h = { ...header };
  if (body.length) h.len = body.length;
  else delete h.len;
  return Buffer.concat([Buffer.from(JSON.stringify(h) + '\n'), body]);
}

/** Decodes every protocol message of one WebSocket message (throws on a framing error). */
export function decode(buf) {
  const out = [];
  let off = 0;
  while (off < buf.length) {
    const nl = buf.indexOf(0x0a, off);
    if (nl < 0) throw new Error(`no newline at ${off}`);
    const header = JSON.parse(buf.subarray(off, nl).toString('utf8'));
    const len = header.len || 0;
    const payload = buf.subarray(nl + 1, nl + 1 + len);
    if (payload.length !== len) throw new Error(`len ${len} beyond the message`);
    out.push({ header, payload: Buffer.from(payload) });
    off = nl + 1 + len;
  }
  return out;
}

let clientSeq = 0;

/** A raw protocol client. */
export class Client {
  constructor(ws, name) {
    this.ws = ws;
    this.name = name;
    this.inbox = [];
    this.waiters = [];
    this.frames = []; // {binary, size} of every WebSocket message received
    this.nextId = 1;
    this.closed = null;
    ws.on('message', (data, isBinary) => {
      this.frames.push({ binary: isBinary, size: data.length });
      let msgs;
      try {
        msgs = decode(data);
      } catch (e) {
        msgs = [{ header: { op: '__undecodable', error: String(e) }, payload: Buffer.alloc(0) }];
      }
      for (const m of msgs) {
        if (m.header.op !== '__undecodable') logHeader('h2c', m.header);
        // answer the hub's heartbeat pings automatically
        if (m.header.op === 'ping' && m.header.id && this.autoPong !== false) this.send({ op: 'pong', ref: m.header.id });
        this.inbox.push(m);
      }
      this._wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this._wake();
    });
    ws.on('error', () => {});
  }

  static async connect(url, { name = `c${++clientSeq}`, protocols = ['wsmesh.v1'], hello = true, token, kind = 'client' } = {}) {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
    // listen before 'open': a message sent by the hub right after the handshake may be
    // emitted before an await after 'open' resumes
    const c = new Client(ws, name);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
      ws.once('unexpected-response', (req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    if (hello) {
      const w = await c.request({ op: 'hello', versions: [1], name, kind, ...(token ? { token } : {}) }, { expect: 'welcome' });
      c.welcome = w.header;
    }
    return c;
  }

  _wake() {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** Sends one protocol message (or several: pass an array of [header, payload]). */
  send(header, payload, { binary } = {}) {
    logHeader('c2h', header);
    const buf = encode(header, payload);
    this.ws.send(buf, { binary: binary ?? (payload != null && !Buffer.isBuffer(payload) ? false : payload != null) });
  }

  sendBatch(items, { binary = true } = {}) {
    for (const [h] of items) logHeader('c2h', h);
    this.ws.send(Buffer.concat(items.map(([h, p]) => encode(h, p))), { binary });
  }

  sendRaw(bytes, { binary = true } = {}) {
    this.ws.send(bytes, { binary });
  }

  /** Waits for (and removes) the first inbox message matching pred. */
  async next(pred = () => true, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex(pred);
      if (i >= 0) return this.inbox.splice(i, 1)[0];
      if (this.closed) throw new Error(`${this.name}: connection closed (${this.closed.code} ${this.closed.reason}) while waiting`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: timeout waiting; inbox: ${JSON.stringify(this.inbox.map((m) => m.header)).slice(0, 800)}`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Sends a request with a fresh id; resolves the answer (ok/welcome/pong/error). */
  async request(header, { payload, expect = null, timeoutMs = 5000 } = {}) {
    const id = header.id || `${this.name}-${this.nextId++}`;
    this.send({ ...header, id }, payload);
    const m = await this.next((m) => m.header.ref === id, timeoutMs);
    if (expect && m.header.op !== expect) throw new Error(`expected ${expect}, got ${JSON.stringify(m.header)}`);
    return m;
  }

  async ok(header, opts) {
    const m = await this.request(header, opts);
    if (m.header.op !== 'ok') throw new Error(`expected ok for ${JSON.stringify(header)}, got ${JSON.stringify(m.header)}`);
    return m.header;
  }

  async waitClosed(timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`${this.name}: not closed in time`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.closed;
  }

  close() {
    try {
      this.ws.close();
    } catch {}
  }

  terminate() {
    try {
      this.ws.terminate();
    } catch {}
  }
}

export async function httpGet(url) {
  const r = await fetch(url);
  return { status: r.status, type: r.headers.get('content-type'), body: Buffer.from(await r.arrayBuffer()) };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
