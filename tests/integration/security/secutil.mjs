// Helpers of the hub security integration tests (tests/integration/security): start the real
// wshub (ws:// or wss://) on a free port and stop exactly that process, a minimal protocol v1
// client over npm `ws` (with TLS and Origin options), and a throwaway PKI made with the
// openssl command line in the test's temp dir (CA, server certificates, client certificate).
// Nothing here writes to the protocol log of the hub tests: some traffic is deliberately bad.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';

export const SRCDIR = process.env.WSM_SRCDIR || path.resolve(new URL('../../..', import.meta.url).pathname);
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

export function tmpDir(prefix = 'wsm-secint-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A config object for tests: memory store, loopback, one queue unless given. */
export function baseConfig(over = {}) {
  return {
    listen: { address: '127.0.0.1', port: 0 },
    queues: { work: { max_length: 1000 } },
    store: { type: 'memory' },
    logging: { level: 'info' },
    limits: { drain_timeout: 1 },
    ...over,
  };
}

function writeConfig(config, dir) {
  const cfgPath = path.join(dir, 'mesh.json');
  fs.writeFileSync(cfgPath, JSON.stringify(config, null, 2));
  return cfgPath;
}

/** Runs wshub to completion (start refused, --check); returns {status, stderr, stdout}. */
export function runHubSync(config, { args = [], env = {}, dir = null } = {}) {
  const own = !dir;
  dir = dir || tmpDir();
  const cfgPath = typeof config === 'string' ? config : writeConfig(config, dir);
  const r = spawnSync(exe.hub, ['--config', cfgPath, '--port', '0', ...args], {
    encoding: 'utf8', timeout: 10000, env: { ...process.env, ...env },
  });
  if (own) fs.rmSync(dir, { recursive: true, force: true });
  return { status: r.status, signal: r.signal, stderr: r.stderr, stdout: r.stdout };
}

/**
 * Starts wshub; resolves {proc, port, url, httpUrl, stderr(), stop()} once it printed
 * "listening on ws(s)://127.0.0.1:PORT/ws".
 */
export async function startHub(config, { args = [], env = {}, dir = null, timeoutMs = 10000 } = {}) {
  const own = !dir; // a temp dir made here is removed once the hub has exited
  dir = dir || tmpDir();
  const cfgPath = writeConfig(config, dir);
  const proc = spawn(exe.hub, ['--config', cfgPath, '--port', '0', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env },
  });
  let err = '';
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => {
    if (own) fs.rmSync(dir, { recursive: true, force: true });
    resolve({ code, signal });
  }));
  const m = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`wshub did not start in time:\n${err}`)), timeoutMs);
    proc.stderr.on('data', (d) => {
      err += d.toString();
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
    proc, port, dir, exited, scheme,
    url: `${scheme}://127.0.0.1:${port}/ws`,
    httpUrl: `${scheme === 'wss' ? 'https' : 'http'}://127.0.0.1:${port}`,
    stderr: () => err,
    async stop(ms = 10000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), ms);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

/** Encodes one protocol message (header line + payload). */
export function encode(header, payload) {
  const body = payload == null ? Buffer.alloc(0) : Buffer.from(payload);
  const h = { ...header };
  if (body.length) h.len = body.length;
  return Buffer.concat([Buffer.from(JSON.stringify(h) + '\n'), body]);
}

function decode(buf) {
  const out = [];
  let off = 0;
  while (off < buf.length) {
    const nl = buf.indexOf(0x0a, off);
    if (nl < 0) break;
    const header = JSON.parse(buf.subarray(off, nl).toString('utf8'));
    const len = header.len || 0;
    out.push({ header, payload: Buffer.from(buf.subarray(nl + 1, nl + 1 + len)) });
    off = nl + 1 + len;
  }
  return out;
}

let seq = 0;

/** A raw protocol v1 client. wsOptions: node `ws` options (ca, cert, key, origin, headers). */
export class Peer {
  constructor(ws, name) {
    this.ws = ws;
    this.name = name;
    this.inbox = [];
    this.waiters = [];
    this.closed = null;
    this.nextId = 1;
    this.autoPong = true;
    ws.on('message', (data) => {
      for (const m of decode(data)) {
        if (m.header.op === 'ping' && m.header.id && this.autoPong) this.send({ op: 'pong', ref: m.header.id });
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

  /** Opens a connection; rejects with "HTTP <status>" or the socket/TLS error. */
  static async open(url, { name = `p${++seq}`, hello = true, token, wsOptions = {}, kind = 'client' } = {}) {
    const ws = new WebSocket(url, ['wsmesh.v1'], { perMessageDeflate: false, maxPayload: 256 << 20, ...wsOptions });
    const p = new Peer(ws, name);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
      ws.once('unexpected-response', (req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    if (hello) {
      const w = await p.request({ op: 'hello', versions: [1], name, kind, ...(token ? { token } : {}) });
      if (w.header.op !== 'welcome') throw new Error(`hello refused: ${JSON.stringify(w.header)}`);
      p.welcome = w.header;
    }
    return p;
  }

  _wake() {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  send(header, payload) {
    this.ws.send(encode(header, payload), { binary: payload != null });
  }

  sendRaw(bytes, binary = true) {
    this.ws.send(bytes, { binary });
  }

  async next(pred = () => true, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex(pred);
      if (i >= 0) return this.inbox.splice(i, 1)[0];
      if (this.closed) throw new Error(`${this.name}: closed (${this.closed.code} ${this.closed.reason}) while waiting`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: timeout; inbox ${JSON.stringify(this.inbox.map((m) => m.header)).slice(0, 600)}`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async request(header, { payload, timeoutMs = 5000 } = {}) {
    const id = header.id || `${this.name}-${this.nextId++}`;
    this.send({ ...header, id }, payload);
    return this.next((m) => m.header.ref === id, timeoutMs);
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

/** The query rows of every queue, by name (for "nothing changed" checks). */
export async function queueRows(peer) {
  const r = await peer.ok({ op: 'query', what: 'queues' });
  return Object.fromEntries(r.result.map((q) => [q.name, q]));
}

function ossl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * A throwaway PKI in dir: a CA, a server certificate for `names` (DNS and IP subjectAltNames,
 * default localhost + 127.0.0.1), optionally more server certificates and a client
 * certificate. Returns file paths.
 */
export function makePki(dir, { servers = { server: ['DNS:localhost', 'IP:127.0.0.1'] }, caName = 'ca', client = false } = {}) {
  fs.mkdirSync(dir, { recursive: true });
  const out = {};
  const ca = path.join(dir, `${caName}.pem`);
  const caKey = path.join(dir, `${caName}.key`);
  if (!fs.existsSync(ca)) {
    ossl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
      '-subj', `/CN=wsmesh test ${caName}`, '-keyout', caKey, '-out', ca,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  }
  out.ca = ca;
  out.caKey = caKey;
  const issue = (name, sans, usage) => {
    const key = path.join(dir, `${name}.key`);
    const csr = path.join(dir, `${name}.csr`);
    const crt = path.join(dir, `${name}.pem`);
    const ext = path.join(dir, `${name}.ext`);
    fs.writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=${usage}\n${sans.length ? `subjectAltName=${sans.join(',')}\n` : ''}`);
    ossl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`, '-keyout', key, '-out', csr], dir);
    ossl(['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', crt], dir);
    return { cert: crt, key };
  };
  for (const [name, sans] of Object.entries(servers)) out[name] = issue(name, sans, 'serverAuth');
  if (client) out.client = issue('client', [], 'clientAuth');
  return out;
}

/** Runs a program; resolves {code, signal, stdout, stderr}; kills it after timeoutMs. */
export function run(file, args, { env = {}, timeoutMs = 20000, input } = {}) {
  return new Promise((resolve) => {
    const p = spawn(file, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
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
