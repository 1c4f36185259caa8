// Jobs view: any registry of any queue with server-side filtering (queue, registry, id prefix)
// and pagination through `query registry` — only one page is ever fetched, so it stays fast
// with 100,000 jobs. Pages go on from the reply's next_offset (the hub may end a page before
// the limit to keep its reply below the header limit). Job status events of the shown queue
// refresh the page (at most 1/s).

import { h, fill, fmtNum, fmtTime, statusEl, showError } from './dom.mjs';

export const REGISTRIES = ['queued', 'deferred', 'scheduled', 'started', 'finished', 'failed', 'expired', 'canceled'];
const PAGE = 50;
let st = null;

export function mount(root, ctx) {
  const p = ctx.params;
  st = {
    queue: p.get('queue') ?? '', registry: p.get('registry') ?? 'finished', search: p.get('search') ?? '',
    offset: Number(p.get('offset') ?? 0) || 0, page: null, error: null, stale: false, timer: null, unsub: null, gen: 0,
  };
  const queueSel = h('select', { id: 'f-queue', onchange: (e) => go(ctx, { queue: e.target.value, offset: 0 }) });
  const regSel = h('select', { id: 'f-registry', onchange: (e) => go(ctx, { registry: e.target.value, offset: 0 }) },
    REGISTRIES.map((r) => h('option', { value: r, selected: r === st.registry }, r)));
  const search = h('input', { id: 'f-search', placeholder: 'job id prefix', value: st.search });
  const form = h('form', { class: 'filters', id: 'jobs-form', onsubmit: (e) => { e.preventDefault(); go(ctx, { search: search.value.trim(), offset: 0 }); } },
    'queue', queueSel, 'registry', regSel, search, h('button', { type: 'submit' }, 'search'));
  st.els = { queueSel, body: h('tbody', { id: 'jobs' }), pager: h('div', { class: 'filters', id: 'pager' }), msg: h('div') };
  root.append(h('section', { class: 'card' }, h('h2', {}, 'Jobs'), form, st.els.msg,
    h('table', {}, h('thead', {}, h('tr', {}, ['job id', 'status', 'attempt', 'key', 'parent', 'enqueued', 'started', 'ended', 'error']
      .map((t) => h('th', {}, t)))), st.els.body), st.els.pager));
  ctx.client.subscribe('events', (d) => onEvent(ctx, d)).then((u) => { if (st) st.unsub = u; else u(); }).catch(() => {});
  fetchPage(ctx);
}

export const remountOnParams = true;

export function unmount() {
  if (!st) return;
  clearTimeout(st.timer);
  st.unsub?.();
  st = null;
}

function go(ctx, change) {
  ctx.navigate({ queue: st.queue, registry: st.registry, search: st.search, offset: st.offset || null, ...change });
}

function onEvent(ctx, d) {
  if (!st || (st.queue && d?.queue !== st.queue)) return;
  if (st.timer) return;
  st.timer = setTimeout(() => {
    if (!st) return;
    st.timer = null;
    fetchPage(ctx);
  }, 1000);
}

async function fetchPage(ctx) {
  if (!st) return;
  const gen = ++st.gen;
  if (!st.queue) {
    const queues = [...ctx.live.queues.keys()];
    if (!queues.length) {
      try { ctx.live.setQueues(await ctx.client.query('queues')); } catch { /* state shown */ }
    }
    st.queue = [...ctx.live.queues.keys()].sort()[0] ?? '';
  }
  try {
    const q = { queue: st.queue, registry: st.registry, offset: st.offset, limit: PAGE };
    if (st.search) q.search = st.search;
    const page = await ctx.client.query('registry', q);
    if (!st || gen !== st.gen) return;
    st.page = page;
    st.error = null;
  } catch (e) {
    if (!st) return;
    st.error = e;
  }
  ctx.invalidate();
}

export function render(ctx) {
  if (!st) return;
  const names = [...ctx.live.queues.keys()].sort();
  if (st.els.queueSel.options.length !== names.length) {
    fill(st.els.queueSel, names.map((n) => h('option', { value: n, selected: n === st.queue }, n)));
  }
  if (st.error) showError(st.els.msg, st.error);
  else fill(st.els.msg);
  const jobs = st.page?.jobs ?? [];
  fill(st.els.body, jobs.length ? jobs.map(jobRow) : h('tr', {}, h('td', { colspan: 9, class: 'muted' },
    st.page ? `no ${st.registry} jobs in ${st.queue}${st.search ? ` matching ${st.search}` : ''}` : 'loading…')));
  renderPager(ctx);
}

function jobRow(j) {
  return h('tr', { dataset: { job: j.job_id } },
    h('td', {}, h('a', { class: 'link', href: `#view=job&id=${encodeURIComponent(j.job_id)}` }, j.job_id)),
    h('td', {}, statusEl(j.status)), h('td', { class: 'num' }, fmtNum(j.attempt)), h('td', {}, j.key ?? ''),
    h('td', {}, j.parent ?? ''), h('td', {}, fmtTime(j.enqueued_at)), h('td', {}, fmtTime(j.started_at)), h('td', {}, fmtTime(j.ended_at)),
    h('td', { class: 'error-text' }, errorText(j)));
}

/** A failed job's "type: message" (the hub cuts the message to 200 bytes), else why it ended. */
function errorText(j) {
  if (j.error_type !== undefined || j.error_message !== undefined) {
    return [j.error_type, j.error_message].filter((x) => x !== undefined).join(': ');
  }
  return j.reason ?? '';
}

function renderPager(ctx) {
  const total = st.page?.total ?? 0;
  const n = st.page?.jobs?.length ?? 0;
  const from = n ? st.offset + 1 : 0;
  const to = n ? st.offset + n : 0;
  const next = st.page?.next_offset;
  fill(st.els.pager,
    h('button', { disabled: st.offset <= 0, onclick: () => go(ctx, { offset: Math.max(0, st.offset - PAGE) }) }, '‹ newer'),
    h('span', { id: 'page-info' }, `${fmtNum(from)}–${fmtNum(to)} of ${fmtNum(total)}`),
    h('button', { disabled: next === undefined, dataset: { next: next ?? '' }, onclick: () => go(ctx, { offset: next }) }, 'older ›'));
}

/** Called after every (re)connect. */
export function reload(ctx) { fetchPage(ctx); }
