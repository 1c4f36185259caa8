// Shared helpers of the node tests that drive the real wshub (tests/integration/hub,
// tests/integration/security, tests/e2e/security): source/build paths and executables, an
// environment without inherited WSMESH_* variables for every process a test starts, temp dirs,
// the protocol v1 wire format, starting wshub on a free port, running programs, and a raw
// protocol v1 client over npm `ws`. The suites' own util files (hubutil.mjs, secutil.mjs) set
// what differs between them on top of this: timeouts, config layout, temp dir prefixes, frame
// types, and whether every header goes to the protocol log (only the hub tests: the security
// tests send deliberately bad traffic that the schema test must not see).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';

export const SRCDIR = process.env.WSM_SRCDIR || path.resolve(new URL('../..', import.meta.url).pathname);
export const BUILDDIR = process.env.WSM_BUILDDIR || path.join(SRCDIR, 'build');
export const exe = {
  hub: process.env.WSHUB || path.join(BUILDDIR, 'src/hub/wshub'),
  meshctl: path.join(BUILDDIR, 'src/tools/meshctl/meshctl'),
  hello: path.join(BUILDDIR, 'examples/hello-service'),
  reader: path.join(BUILDDIR, 'src/services/mf4-reader/mf4-reader'),
  aeb: path.join(BUILDDIR, 'src/services/aeb/aeb'),
  db: path.join(BUILDDIR, 'src/services/db-writer/db-writer'),
  scenario: path.join(BUILDDIR, 'src/tools/scenario-gen/scenario-gen'),
};

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * process.env without any WSMESH_* variable (URL, token, client certificate, instance name,
 * ...), plus extra (which may set WSMESH_* on purpose): a developer's own settings must not
 * point a test process elsewhere. The JS twin of clean_environ in tests/lib/wsmtest.py.
 */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WSMESH_')) env[k] = v;
  return { ...env, ...extra };
}

export function tmpDir(prefix = 'wsm-test-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * A wshub config for tests: loopback on port 0, queue "work", memory store, then defaults
 * (the suite's) and over (the test's) replacing whole top-level keys.
 */
export function hubConfig(defaults = {}, over = {}) {
  return {
    listen: { address: '127.0.0.1', port: 0 },
    queues: { work: { max_length: 10000 } },
    store: { type: 'memory' },
    logging: { level: 'warn' },
    ...defaults,
    ...over,
  };
}

/** Writes a config object to dir/name (name may hold a folder); a string is a config path already. */
export function writeConfig(config, dir, name = 'mesh.json') {
  if (typeof config === 'string') return config;
  const cfgPath = path.join(dir, name);
  fs.mkdirSync(path.dirname(cfgPath), { recursive: true });
  fs.writeFileSync(cfgPath, JSON.stringify(config, null, 2));
  return cfgPath;
}

/**
 * Ends proc with signal, SIGKILL after ms; resolves {code, signal}. exited: the promise of
 * its exit when the caller has one (made at spawn time), else one is made here.
 */
export async function stopProcess(proc, { signal = 'SIGTERM', ms = 10000, exited = null } = {}) {
  if (proc.exitCode !== null || proc.signalCode !== null) return exited ?? { code: proc.exitCode, signal: proc.signalCode };
  const done = exited ?? new Promise((resolve) => proc.once('exit', (code, sig) => resolve({ code, signal: sig })));
  proc.kill(signal);
  const t = setTimeout(() => proc.kill('SIGKILL'), ms);
  const r = await done;
  clearTimeout(t);
  return r;
}

/**
 * Starts wshub on --port 0 with config (an object written to dir/configName, or a config file
 * path); resolves once it printed "listening on ws(s)://127.0.0.1:PORT/ws":
 * {proc, pid, port, dir, cfgPath, scheme, url, httpUrl, exited, stderr(), alive(), stop(), kill9()}.
 * Options: args (more wshub arguments), env (added to the WSMESH_*-free environment), dir
 * (default: a new temp dir named tmpPrefix..., removed once the hub has exited when
 * removeOwnDir), timeoutMs (to start), stderrMax (keep only the last so many characters).
 */
export async function startHub(config, {
  args = [], env = {}, dir = null, configName = 'mesh.json', tmpPrefix = undefined, removeOwnDir = false,
  timeoutMs = 10000, stderrMax = Infinity,
} = {}) {
  const own = !dir;
  dir = dir || tmpDir(tmpPrefix);
  const cfgPath = writeConfig(config, dir, configName);
  const proc = spawn(exe.hub, ['--config', cfgPath, '--port', '0', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'], env: cleanEnv(env),
  });
  let err = '';
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => {
    if (own && removeOwnDir) fs.rmSync(dir, { recursive: true, force: true });
    resolve({ code, signal });
  }));
  const m = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`wshub did not start in time:\n${err}`)), timeoutMs);
    proc.stderr.on('data', (d) => {
      err += d.toString();
      if (err.length > stderrMax) err = err.slice(-stderrMax);
      const mm = /listening on (wss?):\/\/127\.0\.0\.1:(\d+)\/ws/.exec(err);
      if (mm) {
        clearTimeout(t);
        resolve(mm);
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`wshub exited with ${code} before listening:\n${err}`));
    });
  });
  const scheme = m[1];
  const port = Number(m[2]);
  return {
    proc,
    pid: proc.pid,
    port,
    dir,
    cfgPath,
    scheme,
    url: `${scheme}://127.0.0.1:${port}/ws`,
    httpUrl: `${scheme === 'wss' ? 'https' : 'http'}://127.0.0.1:${port}`,
    exited,
    stderr: () => err,
    alive: () => proc.exitCode === null && proc.signalCode === null,
    stop: (signal = 'SIGTERM', ms = 10000) => stopProcess(proc, { signal, ms, exited }),
    kill9: () => stopProcess(proc, { signal: 'SIGKILL', exited }),
  };
}

/**
 * Runs wshub to completion (a refused start, --check); returns {status, signal, stderr, stdout}.
 * Options as startHub's; a temp dir made here is removed afterwards.
 */
export function runHubSync(config, { args = [], env = {}, dir = null, configName = 'mesh.json', tmpPrefix = undefined, timeoutMs = 10000 } = {}) {
  const own = !dir;
  dir = dir || tmpDir(tmpPrefix);
  const cfgPath = writeConfig(config, dir, configName);
  const r = spawnSync(exe.hub, ['--config', cfgPath, '--port', '0', ...args], {
    encoding: 'utf8', timeout: timeoutMs, env: cleanEnv(env),
  });
  if (own) fs.rmSync(dir, { recursive: true, force: true });
  return { status: r.status, signal: r.signal, stderr: r.stderr, stdout: r.stdout };
}

/** Runs a program; resolves {code, signal, stdout, stderr}; kills it after timeoutMs. */
export function run(file, args, { env = {}, timeoutMs = 20000, input } = {}) {
  return new Promise((resolve) => {
    const p = spawn(file, args, { env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
    if (input != null) p.stdin.end(input);
    else p.stdin.end();
  });
}

const enc = new TextEncoder();

/** Encodes one protocol message: header line + payload bytes (len set from the payload, dropped without one). */
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

let peerSeq = 0;

/**
 * A raw protocol v1 client: request/reply by id, an inbox of what the hub sent, the hub's pings
 * answered (set autoPong = false to stop), the close code and reason, {binary, size} of every
 * WebSocket message received (frames) and the count of those that did not decode (undecodable).
 * A suite tunes it in a subclass through static defaults:
 *   namePrefix       default client names: namePrefix1, namePrefix2, ...
 *   timeoutMs        default wait of next/request/waitClosed
 *   log              null, or fn(dir, header) called with every header sent ("c2h") and received ("h2c")
 *   binary           fn(payload): whether send() uses a binary (else text) WebSocket message
 *   keepPings        pings answered automatically stay in the inbox too
 *   keepUndecodable  a message that does not decode is put in the inbox as op "__undecodable"
 */
export class Peer {
  static defaults = {
    namePrefix: 'p', timeoutMs: 5000, log: null, binary: (payload) => payload != null, keepPings: true, keepUndecodable: false,
  };

  constructor(ws, name) {
    this.ws = ws;
    this.name = name;
    this.opts = this.constructor.defaults;
    this.inbox = [];
    this.waiters = [];
    this.frames = [];
    this.undecodable = 0;
    this.nextId = 1;
    this.closed = null;
    this.autoPong = true;
    ws.on('message', (data, isBinary) => {
      this.frames.push({ binary: isBinary, size: data.length });
      let msgs = [];
      try {
        msgs = decode(data);
      } catch (e) {
        this.undecodable++;
        if (this.opts.keepUndecodable) this.inbox.push({ header: { op: '__undecodable', error: String(e) }, payload: Buffer.alloc(0) });
      }
      for (const m of msgs) {
        this.opts.log?.('h2c', m.header);
        const pong = m.header.op === 'ping' && m.header.id && this.autoPong !== false;
        if (pong) this.send({ op: 'pong', ref: m.header.id });
        if (!pong || this.opts.keepPings) this.inbox.push(m);
      }
      this._wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this._wake();
    });
    ws.on('error', () => {});
  }

  /**
   * Opens a connection and (unless hello is false) says hello; rejects with "HTTP <status>",
   * the socket/TLS error, or a refused hello. wsOptions: node `ws` options (ca, cert, key,
   * origin, localAddress); headers: extra HTTP headers of the handshake.
   */
  static async open(url, { name, protocols = ['wsmesh.v1'], hello = true, token, kind = 'client', headers, wsOptions = {} } = {}) {
    name = name ?? `${this.defaults.namePrefix}${++peerSeq}`;
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false, maxPayload: 256 << 20, ...(headers && { headers }), ...wsOptions });
    // listen before 'open': a message sent by the hub right after the handshake may be
    // emitted before an await after 'open' resumes
    const p = new this(ws, name);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
      ws.once('unexpected-response', (req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    if (hello) {
      const w = await p.request({ op: 'hello', versions: [1], name, kind, ...(token ? { token } : {}) });
      if (w.header.op !== 'welcome') throw new Error(`${name}: hello refused: ${JSON.stringify(w.header)}`);
      p.welcome = w.header;
    }
    return p;
  }

  _wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Sends one protocol message; binary: the WebSocket message type (default: opts.binary(payload)). */
  send(header, payload, { binary } = {}) {
    this.opts.log?.('c2h', header);
    this.ws.send(encode(header, payload), { binary: binary ?? this.opts.binary(payload) });
  }

  /** Sends several protocol messages, items [[header, payload], ...], in one WebSocket message. */
  sendBatch(items, { binary = true } = {}) {
    for (const [h] of items) this.opts.log?.('c2h', h);
    this.ws.send(Buffer.concat(items.map(([h, p]) => encode(h, p))), { binary });
  }

  /** Sends bytes as they are (nothing logged), unless the connection is no longer open. */
  sendRaw(bytes, binary = true) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes, { binary });
  }

  /** Waits for (and removes) the first inbox message matching pred. */
  async next(pred = () => true, timeoutMs = this.opts.timeoutMs) {
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

  /** Sends a request with a fresh id (unless it has one); resolves the answer (ok/welcome/pong/error). */
  async request(header, { payload, expect = null, timeoutMs = this.opts.timeoutMs } = {}) {
    const id = header.id || `${this.name}-${this.nextId++}`;
    this.send({ ...header, id }, payload);
    const m = await this.next((m) => m.header.ref === id, timeoutMs);
    if (expect && m.header.op !== expect) throw new Error(`${this.name}: expected ${expect}, got ${JSON.stringify(m.header)}`);
    return m;
  }

  /** request() that must be answered ok; resolves the ok header. */
  async ok(header, opts) {
    const m = await this.request(header, opts);
    if (m.header.op !== 'ok') throw new Error(`${this.name}: expected ok for ${JSON.stringify(header).slice(0, 200)}, got ${JSON.stringify(m.header)}`);
    return m.header;
  }

  async waitClosed(timeoutMs = this.opts.timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`${this.name}: not closed in time`);
      await sleep(20);
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
