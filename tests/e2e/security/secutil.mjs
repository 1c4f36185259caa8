// Helpers of the abuse tests (tests/e2e/security): start the real wshub on a free port, a
// minimal protocol v1 client over npm `ws` (deliberately NOT the integration tests' logging
// client: the garbage sent here must not end up in protocol-log/, which the schema test
// validates), raw senders, the hub's RSS from /proc, and the pipeline services. The common
// pieces are in tests/lib/meshtest.mjs; what is set here is this suite's: longer waits, a
// bounded stderr buffer, and a client that sends binary WebSocket messages only and keeps the
// pings it answered out of its inbox.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as mesh from '../../lib/meshtest.mjs';

export { SRCDIR, BUILDDIR, exe, sleep } from '../../lib/meshtest.mjs';
const { exe } = mesh;

export const tmpDir = (prefix = 'wsm-sec-') => mesh.tmpDir(prefix);

/**
 * Starts wshub on config (an object); resolves {proc, pid, url, httpUrl, stderr(), stop(),
 * alive(), ...} (the last 200,000 characters of stderr). Options: see startHub in meshtest.mjs.
 */
export const startHub = (config, opts = {}) => mesh.startHub(config, { tmpPrefix: 'wsm-sec-', timeoutMs: 15000, stderrMax: 200000, ...opts });

/** Resident set size of a process in KiB (VmRSS of /proc/PID/status). */
export function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** A minimal protocol client: request/reply by id, inbox, close status. */
export class Peer extends mesh.Peer {
  static defaults = { ...mesh.Peer.defaults, namePrefix: 'sec', timeoutMs: 10000, binary: () => true, keepPings: false };
}

/** True when the real pipeline services and scenario-gen are built. */
export function haveServices() {
  return ['reader', 'aeb', 'db', 'scenario'].every((k) => fs.existsSync(exe[k]));
}

/** Writes recordings with scenario-gen; returns [{name, path, frames}] and the channel map. */
export function makeRecordings(dir, names) {
  const out = execFileSync(exe.scenario, ['--out', dir, ...names], { encoding: 'utf8', timeout: 60000, env: mesh.cleanEnv() });
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
    const p = spawn(file, [...common, '--name', name, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: mesh.cleanEnv() });
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
      await Promise.all(procs.map((p) => mesh.stopProcess(p, { ms: 5000 })));
    },
  };
}
