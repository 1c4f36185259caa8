// Recordings view: results of the AEB pipeline from the results database, through request/reply
// on the db-writer's query queue (docs/dashboard.md: {"q":"recordings"|"events"|"frames"}).
// Without #rec=…: the list of recordings. With it: the AEB summary, the event list and a uPlot
// chart of ego speed, range and TTC over time, FCW/PB1/PB2/FB periods shaded, collisions marked.

import uPlot from '../vendor/uplot/uPlot.esm.js';
import { h, fill, fmtNum, showError } from './dom.mjs';
import { DB_QUERY_QUEUE, DB_QUERY_TIMEOUT, PLOT_POINTS } from './config.mjs';

export const STATE_COLORS = { FCW: 'rgba(255,193,7,0.25)', PB1: 'rgba(255,138,0,0.28)', PB2: 'rgba(244,81,30,0.30)', FB: 'rgba(198,40,40,0.32)' };
const PAGE = 50;
let st = null;

export const remountOnParams = true;

export function mount(root, ctx) {
  st = { rec: ctx.params.get('rec'), offset: Number(ctx.params.get('offset') ?? 0) || 0, data: null, error: null, plot: null, gen: 0,
    el: h('div', { id: 'recording' }) };
  root.append(h('section', { class: 'card' }, h('h2', {}, st.rec ? `Recording ${st.rec}` : 'Recordings'), st.el));
  load(ctx);
}

export function unmount() {
  st?.plot?.destroy();
  st = null;
}

export function reload(ctx) { if (st && !st.data) load(ctx); }

/** One request/reply round trip to the db-writer. */
function dbQuery(ctx, req) {
  return ctx.client.call(DB_QUERY_QUEUE, req, { ttl: DB_QUERY_TIMEOUT, result_ttl: 60, wait_timeout: DB_QUERY_TIMEOUT });
}

export const PLOT_SERIES = ['ego_v', 'range', 'ttc', 'state'];

async function load(ctx) {
  if (!st) return;
  const s = st;
  const gen = ++s.gen;
  try {
    if (s.rec) {
      const id = s.rec;
      const [rec, ev, ...parts] = await Promise.all([
        dbQuery(ctx, { q: 'recording', recording_id: id }).catch((e) => ({ error: e.message })),
        dbQuery(ctx, { q: 'events', recording_id: id }),
        ...PLOT_SERIES.map((name) => dbQuery(ctx, { q: 'frames', recording_id: id, max_points: PLOT_POINTS, series: [name] }))]);
      const series = {};
      for (const p of parts) Object.assign(series, p?.series ?? {});
      s.data = { rec, ev, series };
    } else {
      s.data = { list: await dbQuery(ctx, { q: 'recordings', offset: s.offset, limit: PAGE }) };
    }
    s.error = null;
  } catch (e) {
    s.error = e.code === 'TIMEOUT'
      ? new Error(`no answer from queue ${DB_QUERY_QUEUE} within ${DB_QUERY_TIMEOUT} s: is db-writer running?`) : e;
  }
  if (st === s && gen === s.gen) {
    s.drawn = false;
    ctx.invalidate();
  }
}

export function render(ctx) {
  if (!st || st.drawn) return;
  if (st.error) return showError(st.el, st.error);
  if (!st.data) return fill(st.el, h('p', { class: 'muted' }, 'loading…'));
  st.drawn = true;
  if (st.data.list) return renderList(ctx, st.data.list);
  renderRecording(st.data.rec ?? {}, st.data.ev ?? {}, st.data.series ?? {});
}

function renderList(ctx, list) {
  const recs = list?.recordings ?? [];
  const total = list?.total ?? recs.length;
  fill(st.el,
    h('table', {}, h('thead', {}, h('tr', {}, ['recording', 'path', 'frames', 'duration s', 'max stage', 'min TTC s', 'collision']
      .map((t) => h('th', {}, t)))),
    h('tbody', { id: 'recordings' }, recs.length ? recs.map(recRow) : h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'no recordings stored yet')))),
    h('div', { class: 'filters' },
      h('button', { disabled: st.offset <= 0, onclick: () => ctx.navigate({ offset: Math.max(0, st.offset - PAGE) || null }) }, '‹ newer'),
      `${fmtNum(total ? st.offset + 1 : 0)}–${fmtNum(Math.min(total, st.offset + PAGE))} of ${fmtNum(total)}`,
      h('button', { disabled: st.offset + PAGE >= total, onclick: () => ctx.navigate({ offset: st.offset + PAGE }) }, 'older ›')));
}

function recRow(r) {
  const s = r.summary ?? {};
  const duration = r.t_end != null && r.t_start != null ? r.t_end - r.t_start : null;
  return h('tr', { dataset: { rec: r.id } },
    h('td', {}, h('a', { class: 'link', href: `#view=recordings&rec=${encodeURIComponent(r.id)}` }, r.id)),
    h('td', { title: r.path ?? '' }, String(r.path ?? '').split('/').pop() || '–'), h('td', { class: 'num' }, fmtNum(r.frames)),
    h('td', { class: 'num' }, fmtNum(duration, 2)), h('td', {}, s.max_stage ?? '–'),
    h('td', { class: 'num' }, fmtNum(s.min_ttc, 2)),
    h('td', {}, s.collision ? h('b', { class: 'error-text' }, 'yes') : s.collision === 0 || s.collision === false ? 'no' : '–'));
}

function renderRecording(rec, ev, series) {
  const events = (ev.events ?? []).slice().sort((a, b) => a.t - b.t);
  const plotEl = h('div', { id: 'plot' });
  fill(st.el,
    h('h3', {}, 'Summary'), summaryEl(rec),
    h('h3', {}, 'Speed, range and TTC'), plotEl, legend(),
    h('h3', {}, `Events (${events.length})`),
    h('table', {}, h('thead', {}, h('tr', {}, ['t s', 'event', 'details'].map((t) => h('th', {}, t)))),
      h('tbody', { id: 'events' }, events.length ? events.map(eventRow) : h('tr', {}, h('td', { colspan: 3, class: 'muted' }, 'no events')))));
  st.plot?.destroy();
  st.plot = plot(plotEl, series, events);
}

function summaryEl(rec) {
  if (rec?.error) return h('p', { class: 'error-text' }, rec.error);
  const s = rec?.summary;
  const rows = [['path', rec?.path], ['frames', rec?.frames], ['status', rec?.status],
    ...Object.entries(s ?? {}).filter(([k]) => !['params', 'recording_id', 'frames'].includes(k))];
  const fmt = (v) => (v === null || v === undefined ? '–' : typeof v === 'object' ? JSON.stringify(v)
    : typeof v === 'number' ? fmtNum(v, Number.isInteger(v) ? 0 : 3) : String(v));
  return h('dl', { class: 'kv', id: 'summary' }, rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { dataset: { key: k } }, fmt(v))]),
    s ? null : [h('dt', {}, 'summary'), h('dd', {}, 'not stored yet')]);
}

const EVENT_FIELDS = ['stage', 'ttc', 'range', 'ego_v', 'rel_v', 'impact_speed_kmh'];

function eventRow(e) {
  const text = EVENT_FIELDS.filter((k) => e[k] !== null && e[k] !== undefined)
    .map((k) => `${k}=${typeof e[k] === 'number' ? +e[k].toFixed(3) : e[k]}`).join('  ');
  return h('tr', { dataset: { type: e.kind } }, h('td', { class: 'num', dataset: { t: e.t } }, Number(e.t).toFixed(2)),
    h('td', {}, e.kind), h('td', { class: 'muted' }, text));
}

function legend() {
  return h('div', { class: 'muted' }, Object.entries(STATE_COLORS).map(([k, c]) => [h('span', { class: 'legend-box', style: `background:${c}` }), k]),
    h('span', { class: 'legend-box', style: 'background:#c62828;width:3px' }), 'collision');
}

/** Shaded [t0, t1, state] periods from the state series (every change), else from stage_change events. */
export function statePeriods(series, events, tEnd) {
  const out = [];
  const st8 = series.state;
  const changes = st8?.t?.length ? st8.t.map((t, i) => ({ t, to: st8.v[i] }))
    : events.filter((e) => e.kind === 'stage_change').map((e) => ({ t: e.t, to: e.stage }));
  let cur = null;
  for (const c of changes) {
    if (cur) out.push([cur.t, c.t, cur.state]);
    cur = c.to && c.to !== 'NONE' ? { t: c.t, state: c.to } : null;
  }
  if (cur) out.push([cur.t, Math.max(tEnd, cur.t), cur.state]);
  return out;
}

function plot(el, series, events) {
  const pair = (name, f = (v) => v) => {
    const s = series[name] ?? { t: [], v: [] };
    return [s.t, s.v.map((v) => (v === null || v === undefined ? null : f(v)))];
  };
  const data = uPlot.join([pair('ego_v', (v) => v * 3.6), pair('range'), pair('ttc', (v) => Math.min(v, 10))], [[1], [1], [1]]);
  const xs = data[0];
  const periods = statePeriods(series, events, xs.length ? xs[xs.length - 1] : 0);
  const collisions = events.filter((e) => e.kind === 'collision').map((e) => e.t);
  const width = Math.max(400, (el.parentElement?.clientWidth ?? 900) - 24);
  const opts = {
    width, height: 320,
    scales: { x: { time: false }, ttc: { range: [0, 10] } },
    axes: [{ label: 't (s)' }, { label: 'speed km/h · range m' }, { scale: 'ttc', side: 1, label: 'TTC s', grid: { show: false } }],
    series: [{ label: 't' },
      { label: 'ego speed km/h', stroke: '#1f5fbf', width: 1.5 },
      { label: 'range m', stroke: '#2e7d32', width: 1.5 },
      { label: 'TTC s (≤ 10)', stroke: '#8e24aa', width: 1.5, scale: 'ttc' }],
    hooks: {
      drawClear: [(u) => shade(u, periods)],
      draw: [(u) => markCollisions(u, collisions)],
    },
  };
  return new uPlot(opts, data, el);
}

function shade(u, periods) {
  const { ctx, bbox } = u;
  ctx.save();
  for (const [t0, t1, state] of periods) {
    const x0 = u.valToPos(t0, 'x', true);
    const x1 = u.valToPos(t1, 'x', true);
    ctx.fillStyle = STATE_COLORS[state] ?? 'rgba(0,0,0,0.1)';
    ctx.fillRect(x0, bbox.top, Math.max(1, x1 - x0), bbox.height);
  }
  ctx.restore();
}

function markCollisions(u, times) {
  const { ctx, bbox } = u;
  ctx.save();
  ctx.strokeStyle = '#c62828';
  ctx.lineWidth = 3;
  for (const t of times) {
    const x = u.valToPos(t, 'x', true);
    ctx.beginPath();
    ctx.moveTo(x, bbox.top);
    ctx.lineTo(x, bbox.top + bbox.height);
    ctx.stroke();
  }
  ctx.restore();
}
