// Pipelines view: one row per submitted root job (a recording): per-stage progress bars
// (frames read / evaluated / stored), status, elapsed time and throughput, live from topic
// `progress` (Live.roots). Stage definitions come from config.mjs.

import { h, fill, bar, fmtNum, fmtDuration, statusEl } from './dom.mjs';
import { PIPELINE } from './config.mjs';

/** Newest rows shown; older roots stay in the Jobs view. Keeps a render cheap. */
const MAX_ROWS = 100;
let body = null;
let loaded = null;

export function mount(root, ctx) {
  body = h('tbody', { id: 'pipelines' });
  root.append(h('section', { class: 'card' }, h('h2', {}, 'Pipelines'),
    h('table', {}, h('thead', {}, h('tr', {},
      h('th', {}, 'root job'), h('th', {}, 'source'), h('th', {}, 'status'),
      PIPELINE.stages.map((s) => h('th', {}, `frames ${s.label}`)),
      h('th', { class: 'num' }, 'elapsed'), h('th', { class: 'num' }, 'frames/s'), h('th', {}, ''))), body)));
  load(ctx);
}

export function unmount() { body = null; }

function load(ctx) {
  loaded = ctx.live.loadRoots(PIPELINE.rootQueue).catch(() => null);
  return loaded;
}

/**
 * Frames per stage of one progress record, and the recording's total frames. Frames read come
 * from the reader's progress (done/total). A later stage has handled the share weight_done /
 * weight of what reached it (protocol §5 weights), which times the frames read gives its
 * frames: exact when jobs weigh their frame count, and exact at the end whatever the weights.
 */
export function stageCounts(d, info) {
  const q = d.queues ?? {};
  const next = q[PIPELINE.stages[1]?.queue] ?? {};
  const ended = d.status && d.status !== 'running';
  // Roots that ended before the page opened have no progress record: their result says how
  // many frames the reader read (mf4-reader's result.frames).
  const total = d.progress?.total ?? info?.result?.frames ?? null;
  let read = d.progress?.done;
  if (read === undefined) read = info?.status === 'finished' && total !== null ? total : next.weight ?? 0;
  const counts = PIPELINE.stages.map((s) => {
    if (s.from === 'progress') return read;
    const qs = q[s.queue];
    if (!qs || !qs.weight) return 0;
    return Math.round(read * Math.min(1, qs.weight_done / qs.weight));
  });
  return { total: total ?? (ended ? read : null), counts };
}

function isPipeline(d) {
  return d.queues ? Object.prototype.hasOwnProperty.call(d.queues, PIPELINE.rootQueue) : false;
}

export function render(ctx) {
  if (!body) return;
  const rows = [...ctx.live.roots.values()].filter(isPipeline)
    .sort((a, b) => (b.started_at ?? b.seen_at) - (a.started_at ?? a.seen_at));
  const hidden = Math.max(0, rows.length - MAX_ROWS);
  if (hidden) rows.length = MAX_ROWS;
  if (!rows.length) {
    fill(body, h('tr', {}, h('td', { colspan: 5 + PIPELINE.stages.length, class: 'muted' },
      `no pipelines yet: submit a job to queue ${PIPELINE.rootQueue}`)));
    return;
  }
  fill(body, rows.map((d) => row(ctx, d)), hidden ? h('tr', {}, h('td', { colspan: 5 + PIPELINE.stages.length, class: 'muted' },
    `${hidden} older pipelines not shown (see Jobs, queue ${PIPELINE.rootQueue})`)) : null);
}

/** The recording id of a root: its result's recording_id (or key) once known, else the root id. */
function recordingId(info, root) {
  return info?.result?.recording_id ?? info?.key ?? root;
}

function row(ctx, d) {
  const info = ctx.live.rootInfo.get(d.root);
  if (info === undefined) ctx.live.rootJob(d.root);
  else if (d.status && d.status !== 'running') ctx.live.rootJobEnded(d.root);
  const { total, counts } = stageCounts(d, info);
  const status = d.status ?? 'running';
  const end = d.ended_at ?? (status === 'running' ? Date.now() : d.seen_at);
  const elapsed = d.started_at ? (end - d.started_at) / 1000 : null;
  const evaluated = counts[1] ?? 0;
  const source = info?.args?.path ?? info?.args?.file ?? info?.args?.recording ?? '';
  return h('tr', { dataset: { root: d.root, status, total: total ?? '' } },
    h('td', {}, h('a', { class: 'link', href: `#view=job&id=${encodeURIComponent(d.root)}` }, d.root)),
    h('td', { title: source }, source.split('/').pop() || '–'),
    h('td', {}, statusEl(status)),
    counts.map((n, i) => h('td', { dataset: { stage: PIPELINE.stages[i].label, frames: n } },
      bar(total ? n / total : 0, total ? `${fmtNum(n)} / ${fmtNum(total)}` : fmtNum(n)))),
    h('td', { class: 'num' }, fmtDuration(elapsed)),
    h('td', { class: 'num' }, elapsed ? fmtNum(evaluated / Math.max(elapsed, 0.001)) : '–'),
    h('td', {}, h('a', { class: 'link', href: `#view=recordings&rec=${encodeURIComponent(recordingId(info, d.root))}` }, 'results')));
}

/** Called after every (re)connect. */
export function reload(ctx) { load(ctx); }
