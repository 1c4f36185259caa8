// Helpers of the abuse tests (tests/e2e/security): start the real wshub on a free port, a
// minimal protocol v1 client over npm `ws` (deliberately NOT the integration tests' logging
// client: the garbage sent here must not end up in protocol-log/, which the schema test
// validates), raw senders, the hub's RSS from /proc, and the pipeline services.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';

export const SRCDIR = process.env.WSM_SRCDIR || path.resolve(new URL('../../..', import.meta.url).pathname);
export const BUILDDIR = process.env.WSM_BUILDDIR || path.join(SRCDIR, 'build');
export const exe = {
  hub: process.env.WSHUB || path.join(BUILDDIR, 'src/hub/wshub'),
  reader: path.join(BUILDDIR, 'src/services/mf4-reader/mf4-reader'),
  aeb: path.join(BUILDDIR, 'src/services/aeb/aeb'),
  db: path.join(BUILDDIR, 'src/services/db-writer/db-writer'),
  scenario: path.join(BUILDDIR, 'src/tools/scenario-gen/scenario-gen'),
};
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function tmpDir(prefix = 'wsm-sec-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Starts wshub on config (an object); resolves {proc, pid, url, http, stderr(), stop(), alive()}. */
export async function startHub(config, dir = tmpDir()) {
  const cfgPath = path.join(dir, 'mesh.json');
  fs.writeFileSync(cfgPath, JSON.stringify(config, null, 2));
  const proc = spawn(exe.hub, ['--config', cfgPath, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const port = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`wshub did not start:\n${err}`)), 15000);
    proc.stderr.on('data', (d) => {
      err = (err + d.toString()).slice(-200000);
      const m = /listening on ws:\/\/127\.0\.0\.1:(\d+)\/ws/.exec(err);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`wshub exited with ${code}:\n${err}`));
    });
  });
  return {
    proc,
    pid: proc.pid,
    port,
    dir,
    url: `ws://127.0.0.1:${port}/ws`,
    http: `http://127.0.0.1:${port}`,
    exited,
    stderr: () => err,
    alive: () => proc.exitCode === null && proc.signalCode === null,
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

/** Resident set size of a process in KiB (VmRSS of /proc/PID/status). */
export function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

export function encode(header, payload) {
  const body = payload == null ? Buffer.alloc(0) : Buffer.from(payload);
  const h = { ...header };
  if (body.length) h.len = body.length;
  return Buffer.concat([Buffer.from(JSON.stringify(h) + '\n'), body]);
}

/** Splits one WebSocket message into protocol messages; null on a framing error. */
export function decode(buf) {
  const out = [];
  let off = 0;
  while (off < buf.length) {
    const nl = buf.indexOf(0x0a, off);
    if (nl < 0) return null;
    let header;
    try {
      header = JSON.parse(buf.subarray(off, nl).toString('utf8'));
    } catch {
      return null;
    }
    const len = header.len || 0;
    if (nl + 1 + len > buf.length) return null;
    out.push({ header, payload: buf.subarray(nl + 1, nl + 1 + len) });
    off = nl + 1 + len;
  }
  return out;
}

let seq = 0;

/** A minimal protocol client: request/reply by id, inbox, close status. */
export class Peer {
  constructor(ws, name) {
    this.ws = ws;
    this.name = name;
    this.inbox = [];
    this.waiters = [];
    this.closed = null;
    this.n = 0;
    this.undecodable = 0;
    ws.on('message', (data) => {
      const msgs = decode(data);
      if (!msgs) this.undecodable++;
      for (const m of msgs || []) {
        if (m.header.op === 'ping' && m.header.id && this.autoPong !== false) this.send({ op: 'pong', ref: m.header.id });
        else this.inbox.push(m);
      }
      this._wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this._wake();
    });
    ws.on('error', () => {});
  }

  /** Opens a connection (optionally with hello and token); rejects on HTTP refusal. */
  static async open(url, { name = `sec${++seq}`, token, hello = true, kind = 'client', headers } = {}) {
    const ws = new WebSocket(url, ['wsmesh.v1'], { perMessageDeflate: false, maxPayload: 256 << 20, headers });
    const p = new Peer(ws, name);
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

  send(header, payload) {
    this.ws.send(encode(header, payload), { binary: true });
  }

  sendRaw(bytes, binary = true) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes, { binary });
  }

  async next(pred = () => true, ms = 10000) {
    const deadline = Date.now() + ms;
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

  async request(header, { payload, ms = 10000 } = {}) {
    const id = `${this.name}-${++this.n}`;
    this.send({ ...header, id }, payload);
    return this.next((m) => m.header.ref === id, ms);
  }

  async ok(header, opts) {
    const m = await this.request(header, opts);
    if (m.header.op !== 'ok') throw new Error(`${this.name}: expected ok for ${JSON.stringify(header).slice(0, 200)}, got ${JSON.stringify(m.header)}`);
    return m.header;
  }

  async waitClosed(ms = 10000) {
    const deadline = Date.now() + ms;
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

/** True when the real pipeline services and scenario-gen are built. */
export function haveServices() {
  return ['reader', 'aeb', 'db', 'scenario'].every((k) => fs.existsSync(exe[k]));
}

/** Writes recordings with scenario-gen; returns [{name, path, frames}] and the channel map. */
export function makeRecordings(dir, names) {
  const out = execFileSync(exe.scenario, ['--out', dir, ...names], { encoding: 'utf8', timeout: 60000 });
  const recs = [];
  for (const m of out.matchAll(/([^\s]+\.mf4)\s+(\d+) frames/g)) recs.push({ name: path.basename(m[1], '.mf4'), path: m[1], frames: Number(m[2]) });
  const channels = JSON.parse(fs.readFileSync(path.join(dir, 'channels.json'), 'utf8'));
  return { recs, channels };
}

/** Starts db-writer, aeb and mf4-reader against the hub; resolves {stop(), logs}. */
export function startServices(url, token, dbUrl) {
  const common = ['--url', url, '--token', token, '--log-level', 'warn'];
  const logs = {};
  const run = (file, args, name) => {
    const p = spawn(file, [...common, '--name', name, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    logs[name] = '';
    const add = (d) => {
      logs[name] = (logs[name] + d.toString()).slice(-20000);
    };
    p.stdout.on('data', add);
    p.stderr.on('data', add);
    return p;
  };
  const procs = [
    run(exe.db, ['--concurrency', '2', '--db', dbUrl], 'db-writer'),
    run(exe.aeb, ['--concurrency', '2'], 'aeb'),
    run(exe.reader, [], 'mf4-reader'),
  ];
  return {
    logs,
    procs,
    async stop() {
      await Promise.all(
        procs.map(async (p) => {
          if (p.exitCode !== null || p.signalCode !== null) return;
          const gone = new Promise((r) => p.once('exit', r));
          p.kill('SIGTERM');
          const t = setTimeout(() => p.kill('SIGKILL'), 5000);
          await gone;
          clearTimeout(t);
        }),
      );
    },
  };
}
