// Stand-in for the C services (mf4-reader, aeb, db-writer) in the dashboard browser test when
// they are not built: JS-adapter workers on the same queues, routes and payloads. The "reader"
// synthesises a Euro NCAP CCRs open-loop run (ego at constant speed towards a stationary target,
// 100 Hz), the "aeb" stage applies the FCW/PB1/PB2/FB cascade of AEB_SPEC §3 with its state
// carried as key state, the "db-writer" keeps results in memory and answers db.query requests
// in the shapes of docs/dashboard.md. Real hub, real protocol; only the services are simulated.
import { Client, JobFailure } from '../../../adapters/js/wsmesh.mjs';

const P = { t_react: 1.2, a_driver: 4.0, a_pb1: 3.8, a_pb2: 5.3, a_fb: 9.8, release: 1.2, stop_v: 0.1 };
const BATCH = 100;

/** Frames of a CCRs open-loop run: ego at v km/h, stationary target 8 s ahead, until contact. */
export function ccrsFrames(kmh) {
  const v = kmh / 3.6;
  const gap0 = 8 * v;
  const rows = [];
  for (let k = 0; ; k++) {
    const t = k / 100;
    const range = gap0 - v * t;
    rows.push({ t, ego_v: v, range, rel_v: -v });
    if (range <= 0) break;
  }
  return rows;
}

/** One AEB_SPEC §3.3 step; returns the frame's output and the new state. */
export function aebStep(st, f) {
  const closing = f.range !== null && f.rel_v !== null && f.rel_v < 0;
  const headway = f.range;
  const ttc = closing && headway > 0 ? headway / Math.min(Math.max(Math.abs(f.rel_v), 0.01), 100) : null;
  const T = { fcw: P.t_react + f.ego_v / P.a_driver, pb1: f.ego_v / P.a_pb1, pb2: f.ego_v / P.a_pb2, fb: f.ego_v / P.a_fb };
  const threat = (x) => ttc !== null && ttc < x;
  const stop = f.ego_v <= P.stop_v;
  let s = st.state;
  if (s === 'NONE' && threat(T.fcw)) s = 'FCW';
  else if (s === 'FCW' && threat(T.pb1)) s = 'PB1';
  else if (s === 'FCW' && (!closing || (ttc !== null && ttc >= P.release * T.fcw))) s = 'NONE';
  else if (s === 'PB1' && threat(T.pb2)) s = 'PB2';
  else if (s === 'PB2' && threat(T.fb)) s = 'FB';
  else if (['PB1', 'PB2', 'FB'].includes(s) && stop) s = 'NONE';
  const collision = f.range !== null && headway <= 0;
  return { out: { ...f, ttc, state: s, collision }, state: { state: s, collision } };
}

function events(prev, out, seq) {
  const ev = [];
  const base = { t: out.t, ttc: out.ttc, ego_v: out.ego_v, range: out.range, rel_v: out.rel_v };
  if (prev.state === 'NONE' && out.state !== 'NONE') ev.push({ kind: 'fcw_onset', ...base });
  if (!['PB1', 'PB2', 'FB'].includes(prev.state) && ['PB1', 'PB2', 'FB'].includes(out.state)) ev.push({ kind: 'brake_onset', ...base, stage: out.state });
  if (prev.state !== out.state) ev.push({ kind: 'stage_change', ...base, stage: out.state });
  if (!prev.collision && out.collision) ev.push({ kind: 'collision', ...base, impact_speed_kmh: -out.rel_v * 3.6 });
  return ev.map((e) => ({ seq: seq.n++, ...e }));
}

const COLS = { rows: 0, columns: [{ name: 't', type: 'f64', unit: 's' }, { name: 'ego_v', type: 'f64', unit: 'm/s' },
  { name: 'range', type: 'f64', unit: 'm', nullable: true }, { name: 'rel_v', type: 'f64', unit: 'm/s', nullable: true }] };

async function reader(job) {
  const kmh = job.args.kmh ?? 50;
  const rows = ccrsFrames(kmh);
  for (let i = 0; i < rows.length; i += BATCH) {
    const part = rows.slice(i, i + BATCH);
    const data = Object.fromEntries(COLS.columns.map((c) => [c.name, part.map((r) => r[c.name])]));
    await job.emit('frames', { columns: { meta: { ...COLS, rows: part.length }, data }, key: job.id, weight: part.length,
      args: { recording_id: job.id, first_frame: i } });
    job.progress(i + part.length, rows.length, `read ${i + part.length} frames`);
  }
  const meta = { recording_id: job.id, path: job.args.path, frames: rows.length, t_start: rows[0].t, t_end: rows[rows.length - 1].t };
  // Recording metadata goes to db as an output of weight 0 (a routed result would count 1).
  await job.emit('meta', { args: meta, key: job.id, weight: 0 });
  return meta;
}

async function aeb(job) {
  const cols = job.columnsJson();
  let st = job.state ?? { state: 'NONE', collision: false, seq: 0 };
  const seq = { n: st.seq ?? 0 };
  const out = [];
  const evs = [];
  for (let i = 0; i < cols.t.length; i++) {
    const r = aebStep(st, { t: cols.t[i], ego_v: cols.ego_v[i], range: cols.range[i], rel_v: cols.rel_v[i] });
    evs.push(...events(st, r.out, seq));
    st = r.state;
    out.push(r.out);
  }
  const rec = job.args.recording_id;
  await job.emit('frames', { json: out, key: rec, weight: out.length, args: { kind: 'frames', recording_id: rec, first_frame: job.args.first_frame } });
  if (evs.length) await job.emit('events', { json: evs, key: rec, weight: 0, args: { kind: 'events', recording_id: rec } });
  job.setState({ ...st, seq: seq.n });
  return { frames: out.length };
}

function makeDb() {
  const recs = new Map();
  const rec = (id) => {
    if (!recs.has(id)) recs.set(id, { id, frames: [], events: [], meta: {}, created_at: Date.now() });
    return recs.get(id);
  };
  const store = async (job) => {
    if (job.args.kind === 'frames') {
      const r = rec(job.args.recording_id);
      job.json().forEach((f, i) => { r.frames[job.args.first_frame + i] = f; });
      return { stored: job.args.first_frame };
    }
    if (job.args.kind === 'events') {
      const r = rec(job.args.recording_id);
      for (const e of job.json()) r.events[e.seq] = e;
      return { stored: 'events' };
    }
    if (job.args.recording_id) {
      Object.assign(rec(job.args.recording_id).meta, job.args);
      return { stored: 'recording' };
    }
    throw new JobFailure('BadRequest', 'db: unknown job', { retry: false });
  };
  const summary = (r) => {
    const ttcs = r.frames.filter((f) => f && f.ttc !== null);
    const min = ttcs.reduce((m, f) => (m === null || f.ttc < m.ttc ? f : m), null);
    const order = ['NONE', 'FCW', 'PB1', 'PB2', 'FB'];
    const max = r.frames.reduce((m, f) => (f && order.indexOf(f.state) > order.indexOf(m) ? f.state : m), 'NONE');
    const first = (k) => r.events.find((e) => e && e.kind === k)?.t ?? null;
    const col = r.events.find((e) => e && e.kind === 'collision');
    return { frames: r.frames.length, min_ttc: min?.ttc ?? null, t_min_ttc: min?.t ?? null, max_stage: max,
      collision: col ? 1 : 0, impact_speed_kmh: col?.impact_speed_kmh ?? null, first_fcw_t: first('fcw_onset'), first_brake_t: first('brake_onset') };
  };
  const recOut = (r) => ({ id: r.id, path: r.meta.path ?? null, frames: r.meta.frames ?? r.frames.length, t_start: r.meta.t_start ?? null,
    t_end: r.meta.t_end ?? null, status: r.meta.frames && r.frames.length === r.meta.frames ? 'done' : 'partial', created_at: new Date(r.created_at).toISOString(), summary: summary(r) });
  const series = (r, name, maxPoints) => {
    const fr = r.frames.filter(Boolean);
    if (name === 'state') {
      const out = { frame: [], t: [], v: [] };
      fr.forEach((f, i) => { if (i === 0 || f.state !== fr[i - 1].state) { out.frame.push(i); out.t.push(f.t); out.v.push(f.state); } });
      return out;
    }
    const step = Math.max(1, Math.ceil(fr.length / maxPoints));
    const idx = fr.map((_, i) => i).filter((i) => i % step === 0 || i === fr.length - 1);
    return { frame: idx, t: idx.map((i) => fr[i].t), v: idx.map((i) => fr[i][name]) };
  };
  const query = async (job) => {
    const a = job.args;
    const need = () => {
      if (!a.recording_id || !recs.has(a.recording_id)) throw new JobFailure('NotFound', `no recording ${a.recording_id}`, { retry: false });
      return recs.get(a.recording_id);
    };
    switch (a.q) {
      case 'recordings': {
        const all = [...recs.values()].sort((x, y) => y.created_at - x.created_at);
        return { total: all.length, offset: a.offset ?? 0, limit: a.limit ?? 50, recordings: all.slice(a.offset ?? 0, (a.offset ?? 0) + (a.limit ?? 50)).map(recOut) };
      }
      case 'recording': return recOut(need());
      case 'events': return { recording_id: a.recording_id, events: need().events.filter(Boolean) };
      case 'frames': {
        const r = need();
        const names = a.series ?? ['ego_v', 'range', 'ttc', 'state'];
        return { recording_id: r.id, frames: r.frames.length, max_points: a.max_points ?? 1000,
          series: Object.fromEntries(names.map((n) => [n, series(r, n, a.max_points ?? 1000)])) };
      }
      default: throw new JobFailure('BadRequest', `unknown query ${JSON.stringify(a.q)}`, { retry: false });
    }
  };
  return { store, query };
}

/** Starts the simulated services; resolves to {stop()}. */
export async function startSimServices(url, token, WebSocket) {
  const db = makeDb();
  const mk = async (name, queues, handler, prefetch = 1) => {
    const c = new Client(url, { token, name, kind: 'worker', WebSocket, backoffInitial: 0.1, backoffMax: 1 });
    await c.connect();
    await c.consume(queues, handler, { prefetch });
    return c;
  };
  const clients = [
    await mk('sim-mf4-reader', ['mf4'], reader),
    await mk('sim-aeb', ['aeb'], aeb, 2),
    await mk('sim-db-writer', ['db.query', 'db'], (job) => (job.queue === 'db.query' ? db.query(job) : db.store(job)), 4),
  ];
  return { clients, stop: () => clients.forEach((c) => c.close()) };
}
