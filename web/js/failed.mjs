// Failed view: jobs that ended badly (failed, expired, canceled) in every queue with their
// error type and message (from the registry summaries, the message cut to 200 bytes; the job's
// page has the whole error) or the reason, and jobs waiting for a retry (scheduled). Admins get
// requeue (one job or all of a queue) and cancel buttons; read-only viewers see none (and the hub
// would refuse them).
// Refreshed on job status events (topic `events`), at most once per second.

import { h, fill, fmtTime, fmtNum, showError } from './dom.mjs';

const ENDED = ['failed', 'expired', 'canceled'];
const LIMIT = 100;
let st = null;

export function mount(root, ctx) {
  st = { rows: [], retrying: [], error: null, timer: null, unsub: null, gen: 0,
    els: { body: h('tbody', { id: 'failed' }), retry: h('tbody', { id: 'retrying' }), msg: h('div'), bulk: h('div', { class: 'filters' }) } };
  root.append(
    h('section', { class: 'card' }, h('h2', {}, 'Failed, expired and canceled jobs'), st.els.msg, st.els.bulk,
      h('table', {}, h('thead', {}, h('tr', {}, ['job id', 'queue', 'status', 'attempts', 'error', 'message', 'ended', '']
        .map((t) => h('th', {}, t)))), st.els.body)),
    h('section', { class: 'card' }, h('h2', {}, 'Waiting for a retry'),
      h('table', {}, h('thead', {}, h('tr', {}, ['job id', 'queue', 'attempts', 'enqueued', ''].map((t) => h('th', {}, t)))), st.els.retry)));
  ctx.client.subscribe('events', () => soon(ctx)).then((u) => { if (st) st.unsub = u; else u(); }).catch(() => {});
  load(ctx);
}

export function unmount() {
  if (!st) return;
  clearTimeout(st.timer);
  st.unsub?.();
  st = null;
}

export function reload(ctx) { load(ctx); }

function soon(ctx) {
  if (!st || st.timer) return;
  st.timer = setTimeout(() => { if (st) { st.timer = null; load(ctx); } }, 1000);
}

async function load(ctx) {
  if (!st) return;
  const gen = ++st.gen;
  const c = ctx.client;
  try {
    const queues = (await c.query('queues')).map((q) => q.name);
    const reg = (queue, registry) => c.query('registry', { queue, registry, offset: 0, limit: LIMIT })
      .then((p) => (p?.jobs ?? []).map((j) => ({ queue, status: registry, ...j })));
    const ended = (await Promise.all(queues.flatMap((q) => ENDED.map((r) => reg(q, r))))).flat();
    const retrying = (await Promise.all(queues.map((q) => reg(q, 'scheduled')))).flat();
    if (!st || gen !== st.gen) return;
    // registry summaries carry error_type / error_message (cut to 200 bytes): no query job per row
    st.rows = ended.sort((a, b) => (b.ended_at ?? 0) - (a.ended_at ?? 0));
    st.retrying = retrying;
    st.error = null;
  } catch (e) {
    if (st) st.error = e;
  }
  ctx.invalidate();
}

export function render(ctx) {
  if (!st) return;
  if (st.error) showError(st.els.msg, st.error);
  else fill(st.els.msg);
  const failedQueues = [...new Set(st.rows.filter((r) => r.status === 'failed').map((r) => r.queue))];
  fill(st.els.bulk, ctx.admin ? failedQueues.map((q) =>
    h('button', { class: 'admin', dataset: { op: 'requeue-all', queue: q }, onclick: () => act(ctx, 'requeue', { queue: q, all: true }) },
      `requeue all failed in ${q}`)) : null);
  fill(st.els.body, st.rows.length ? st.rows.map((j) => endedRow(ctx, j))
    : h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'nothing failed')));
  fill(st.els.retry, st.retrying.length ? st.retrying.map((j) => retryRow(ctx, j))
    : h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'none')));
}

function endedRow(ctx, j) {
  return h('tr', { dataset: { job: j.job_id, status: j.status } },
    h('td', {}, h('a', { class: 'link', href: `#view=job&id=${encodeURIComponent(j.job_id)}` }, j.job_id)),
    h('td', {}, j.queue), h('td', {}, j.status), h('td', { class: 'num' }, fmtNum(j.attempt)),
    h('td', {}, j.error_type ?? j.reason ?? '–'), h('td', { class: 'error-text' }, j.error_message ?? ''),
    h('td', {}, fmtTime(j.ended_at)),
    h('td', {}, ctx.admin ? h('button', { class: 'admin', dataset: { op: 'requeue' }, onclick: () => act(ctx, 'requeue', { job_id: j.job_id }) }, 'requeue') : null));
}

function retryRow(ctx, j) {
  return h('tr', { dataset: { job: j.job_id } },
    h('td', {}, h('a', { class: 'link', href: `#view=job&id=${encodeURIComponent(j.job_id)}` }, j.job_id)),
    h('td', {}, j.queue), h('td', { class: 'num' }, fmtNum(j.attempt)), h('td', {}, fmtTime(j.enqueued_at)),
    h('td', {}, ctx.admin ? h('button', { class: 'admin', dataset: { op: 'cancel' }, onclick: () => act(ctx, 'cancel', { job_id: j.job_id }) }, 'cancel') : null));
}

async function act(ctx, op, fields) {
  try {
    await ctx.client.admin(op, fields);
  } catch (e) {
    alert(`${op}: ${e.message}`);
  }
  load(ctx);
}
