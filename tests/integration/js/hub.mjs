// Test helper: starts the real wshub ($WSM_BUILDDIR/src/hub/wshub) on a free loopback port with
// a config derived from a JSON file, waits for "listening on ws://…/ws", and stops exactly that
// process (by pid). Also records protocol headers as JSONL for the schema-validation test.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const srcdir = process.env.WSM_SRCDIR ?? path.resolve(import.meta.dirname, '../../..');
export const builddir = process.env.WSM_BUILDDIR ?? path.join(srcdir, 'build');

export function wshubPath() {
  const exe = path.join(builddir, 'src', 'hub', 'wshub');
  if (!fs.existsSync(exe)) throw new Error(`${exe} not found: build the wshub target first (ninja -C ${builddir} wshub)`);
  return exe;
}

/** A free TCP port on 127.0.0.1 (bound and released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts wshub. opts: config (file relative to srcdir or object), port (0 = any), patch(cfg).
 * Resolves to {url, port, http, proc, stop(), restart(), stderr()}.
 */
export async function startHub(opts = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-js-'));
  let cfg = typeof opts.config === 'object' ? structuredClone(opts.config)
    : JSON.parse(fs.readFileSync(path.join(srcdir, opts.config ?? 'tests/integration/js/mesh-test.json'), 'utf8'));
  delete cfg.$schema;
  cfg.http = { ...(cfg.http ?? {}), web_root: path.join(srcdir, 'web') };
  if (cfg.store?.type === 'sqlite') cfg.store.path = path.join(dir, 'wsmesh.db');
  if (opts.patch) cfg = opts.patch(cfg) ?? cfg;
  const file = path.join(dir, 'mesh.json');
  fs.writeFileSync(file, JSON.stringify(cfg, null, 2));
  const hub = { dir, file, port: opts.port ?? 0, proc: null, log: '' };
  await launch(hub);
  hub.stop = () => stopProc(hub);
  hub.restart = async () => { await stopProc(hub); assertCleanExit(hub); await launch(hub); };
  hub.stderr = () => hub.log;
  return hub;
}

function launch(hub) {
  return new Promise((resolve, reject) => {
    const proc = spawn(wshubPath(), ['--config', hub.file, '--port', String(hub.port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    hub.proc = proc;
    hub.log = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`wshub did not print "listening on" within 10 s:\n${hub.log}`));
    }, 10000);
    const onData = (d) => {
      hub.log += d.toString();
      const m = hub.log.match(/listening on (ws:\/\/[^\s]+:(\d+)\/ws)/);
      if (m && !hub.url) {
        clearTimeout(timer);
        hub.url = m[1];
        hub.port = Number(m[2]);
        hub.http = `http://127.0.0.1:${hub.port}`;
        resolve(hub);
      }
    };
    hub.url = null;
    proc.stderr.on('data', onData);
    proc.stdout.on('data', onData);
    proc.on('exit', (code, sig) => {
      hub.exit = { code, sig };
      if (!hub.url) {
        clearTimeout(timer);
        reject(new Error(`wshub exited (${code ?? sig}) before listening:\n${hub.log}`));
      }
    });
  });
}

/** SIGTERM (SIGKILL after 5 s); resolves to {code, sig} of the exit (hub.exit). */
async function stopProc(hub) {
  const proc = hub.proc;
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return hub.exit;
  const gone = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(t);
  return hub.exit;
}

/** Throws unless the hub exited by itself with status 0 (a clean drain; no sanitizer report). */
export function assertCleanExit(hub) {
  const e = hub.exit;
  if (!e || e.code !== 0) {
    throw new Error(`wshub did not exit cleanly after SIGTERM (${e ? `code ${e.code}, signal ${e.sig}` : 'still running'}):\n${hub.stderr().slice(-4000)}`);
  }
}

/** A trace function for Client opts.trace that appends headers to protocol-log/<name>.jsonl. */
export function protocolLog(name) {
  const dir = path.join(builddir, 'protocol-log');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.jsonl`);
  fs.writeFileSync(file, '');
  const fd = fs.openSync(file, 'a');
  // malformed: a deliberately bad header of a robustness test (skipped by the schema check)
  return (dir_, header, malformed = false) =>
    fs.writeSync(fd, JSON.stringify(malformed ? { dir: dir_, header, malformed } : { dir: dir_, header }) + '\n');
}

/** Resolves when pred() is true (polled every 20 ms), rejects after ms. */
export async function until(pred, ms = 5000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
