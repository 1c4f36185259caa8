// Starts the pipeline services for the dashboard browser test and says which recordings to
// submit with their expected frame counts and FCW onset times (AEB_SPEC table 6.3, open loop).
// Uses the C services (mf4-reader, aeb, db-writer) on recordings written by scenario-gen when
// all are built under $WSM_BUILDDIR; otherwise the JS stand-ins of sim-services.mjs (and says so).
// WSM_DASHBOARD_SIM=1 forces the stand-ins.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { builddir } from '../../integration/js/hub.mjs';
import { startSimServices, ccrsFrames } from './sim-services.mjs';

/** Open-loop FCW onsets of AEB_SPEC table 6.3. */
const SCENARIOS = [
  { name: 'CCRs-50', kmh: 50, fcw_t: 3.33 },
  { name: 'CCRs-20', kmh: 20, fcw_t: 5.42 },
];

export function realServicePaths() {
  const p = {
    reader: path.join(builddir, 'src/services/mf4-reader/mf4-reader'),
    aeb: path.join(builddir, 'src/services/aeb/aeb'),
    db: path.join(builddir, 'src/services/db-writer/db-writer'),
    scenario: path.join(builddir, 'src/tools/scenario-gen/scenario-gen'),
  };
  return Object.values(p).every((f) => fs.existsSync(f)) ? p : null;
}

export async function startServices(hub, token) {
  const real = process.env.WSM_DASHBOARD_SIM === '1' ? null : realServicePaths();
  return real ? startReal(hub, token, real) : startSim(hub, token);
}

async function startSim(hub, token) {
  const sim = await startSimServices(hub.url, token, WebSocket);
  return {
    mode: 'JS stand-ins for mf4-reader/aeb/db-writer (the C services are not built)',
    workers: sim.clients.length,
    batchRows: 100,
    recordings: SCENARIOS.map((s) => ({ label: `${s.name} open loop (simulated)`, fcw_t: s.fcw_t,
      frames: ccrsFrames(s.kmh).length, args: { path: `sim://${s.name}`, kmh: s.kmh } })),
    stop: async () => sim.stop(),
  };
}

/** scenario-gen prints "DIR/NAME.mf4\tN frames" per file. */
function generate(exe, dir) {
  const out = execFileSync(exe, ['--out', dir, ...SCENARIOS.map((s) => s.name)], { encoding: 'utf8', timeout: 30000 });
  const frames = new Map();
  for (const m of out.matchAll(/([^\s]+\.mf4)\s+(\d+) frames/g)) frames.set(path.basename(m[1], '.mf4'), Number(m[2]));
  return frames;
}

function spawnService(exe, args, name, logs) {
  const proc = spawn(exe, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  logs[name] = '';
  const add = (d) => { logs[name] = (logs[name] + d.toString()).slice(-20000); };
  proc.stdout.on('data', add);
  proc.stderr.on('data', add);
  return proc;
}

async function stopProc(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(t);
}

async function startReal(hub, token, exe) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-dash-'));
  const frames = generate(exe.scenario, dir);
  const channels = JSON.parse(fs.readFileSync(path.join(dir, 'channels.json'), 'utf8'));
  const common = ['--url', hub.url, '--token', token, '--log-level', 'warn'];
  const logs = {};
  const procs = [
    spawnService(exe.db, [...common, '--name', 'db-writer', '--concurrency', '2', '--db', `sqlite:${path.join(dir, 'results.db')}`], 'db-writer', logs),
    spawnService(exe.aeb, [...common, '--name', 'aeb', '--concurrency', '2'], 'aeb', logs),
    spawnService(exe.reader, [...common, '--name', 'mf4-reader'], 'mf4-reader', logs),
  ];
  return {
    mode: 'C services mf4-reader, aeb, db-writer on scenario-gen recordings',
    workers: procs.length,
    batchRows: null,
    logs,
    recordings: SCENARIOS.map((s) => {
      const n = frames.get(s.name);
      if (!n) throw new Error(`scenario-gen did not report ${s.name}`);
      return { label: `${s.name} open loop`, fcw_t: s.fcw_t, frames: n, args: { path: path.join(dir, `${s.name}.mf4`), channels } };
    }),
    stop: async () => {
      await Promise.all(procs.map(stopProc));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
