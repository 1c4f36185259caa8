// Job detail view (#view=job&id=…): args, meta, result or error, attempts, timestamps, parent,
// root and the tree's status, from `query job` and `query tree`, and the job's children a page
// at a time (`query children`, optionally only one status, e.g. the failed ones); admins can
// requeue an ended job or cancel a waiting or running one.

import { h, fill, fmtNum, fmtTime, statusEl, json, showError } from './dom.mjs';

let st = null;
const PAGE = 100;
const CHILD_STATUSES = ['', 'failed', 'expired', 'canceled', 'queued', 'started', 'finished'];

export const remountOnParams = true;

export function mount(root, ctx) {
  st = { id: ctx.params.get('id'), job: null, tree: null, kids: null, kidOffset: 0, kidStatus: '', error: null,
    el: h('div', { id: 'job-detail' }) };
  root.append(h('section', { class: 'card' }, h('h2', {}, `Job ${st.id ?? ''}`), st.el));
  load(ctx);
}

export function unmount() { st = null; }
export function update(ctx) { ctx.invalidate(); }

async function load(ctx) {
  if (!st?.id) return;
  const s = st;
  try {
    const [job, tree] = await Promise.all([ctx.client.query('job', { job_id: s.id }),
      ctx.client.query('tree', { job_id: s.id }).catch(() => null)]);
    s.job = job;
    s.tree = tree;
    s.error = null;
  } catch (e) {
    s.error = e;
  }
  await loadChildren(ctx, s);
}

/** One page of children; on a refusal (e.g. a token that may not see the whole tree) the
 * view falls back to the ids of `query job`. */
async function loadChildren(ctx, s) {
  try {
    s.kids = await ctx.client.children(s.id, { offset: s.kidOffset, limit: PAGE, ...(s.kidStatus ? { status: s.kidStatus } : {}) });
  } catch {
    s.kids = null;
  }
  if (st === s) ctx.invalidate();
}

function pageChildren(ctx, change) {
  Object.assign(st, change);
  loadChildren(ctx, st);
}

const link = (id) => (id ? h('a', { class: 'link', href: `#view=job&id=${encodeURIComponent(id)}` }, id) : '–');

export function render(ctx) {
  if (!st) return;
  if (st.error) return showError(st.el, st.error);
  const j = st.job;
  if (!j) return fill(st.el, h('p', { class: 'muted' }, 'loading…'));
  const kv = [['status', statusEl(j.status)], ['tree status', statusEl(j.tree_status)], ['queue', j.queue],
    ['attempt', j.attempt], ['key', j.key ?? '–'], ['worker', j.worker ?? '–'], ['parent', link(j.parent)], ['root', link(j.root)],
    ['enqueued', fmtTime(j.enqueued_at)], ['started', fmtTime(j.started_at)], ['ended', fmtTime(j.ended_at)],
    ['depends on', (j.depends_on ?? []).length ? j.depends_on.map(link) : '–']];
  fill(st.el,
    h('dl', { class: 'kv' }, kv.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { dataset: { field: k } }, v)])),
    adminButtons(ctx, j),
    h('h3', {}, 'args'), json(j.args), h('h3', {}, 'meta'), json(j.meta),
    j.error ? [h('h3', {}, 'error'), json(j.error)] : [h('h3', {}, 'result'), json(j.result)],
    st.tree ? [h('h3', {}, 'tree'), json(st.tree)] : null,
    renderChildren(ctx, j));
}

function renderChildren(ctx, j) {
  const k = st.kids;
  if (!k) { // query children refused: the first ids from query job
    const ids = j.children ?? [];
    return [h('h3', {}, `children (${fmtNum(j.children_total ?? ids.length)})`), h('div', { id: 'children' }, ids.map((c) => [link(c), ' ']))];
  }
  const from = k.jobs.length ? k.offset + 1 : 0;
  const to = k.offset + k.jobs.length;
  const filter = h('select', { id: 'children-status', onchange: (e) => pageChildren(ctx, { kidStatus: e.target.value, kidOffset: 0 }) },
    CHILD_STATUSES.map((v) => h('option', { value: v, selected: v === st.kidStatus }, v || 'all')));
  return [
    h('h3', {}, `children (${fmtNum(j.children_total ?? k.total)})`),
    h('p', { class: 'pager' }, filter, ' ',
      h('button', { dataset: { page: 'prev' }, disabled: k.offset <= 0, onclick: () => pageChildren(ctx, { kidOffset: Math.max(0, k.offset - PAGE) }) }, '‹ previous'), ' ',
      h('span', { id: 'children-info' }, k.total ? `${fmtNum(from)}–${fmtNum(to)} of ${fmtNum(k.total)}${st.kidStatus ? ` ${st.kidStatus}` : ''}` : `no ${st.kidStatus ? `${st.kidStatus} ` : ''}children`),
      ' ', h('button', { dataset: { page: 'next' }, disabled: k.next_offset === undefined, onclick: () => pageChildren(ctx, { kidOffset: k.next_offset }) }, 'next ›')),
    h('div', { id: 'children' }, k.jobs.map((c) => h('span', { class: 'child', dataset: { job: c.job_id, status: c.status } },
      link(c.job_id), ' ', statusEl(c.status), c.error_type ? ` ${c.error_type}` : '', ' '))),
  ];
}

function adminButtons(ctx, j) {
  if (!ctx.admin) return null;
  const out = [];
  if (['failed', 'expired', 'canceled'].includes(j.status)) out.push(button(ctx, 'requeue', j.job_id));
  if (['queued', 'deferred', 'scheduled', 'started'].includes(j.status)) out.push(button(ctx, 'cancel', j.job_id));
  return out.length ? h('p', {}, out) : null;
}

function button(ctx, op, id) {
  return h('button', { class: 'admin', dataset: { op }, onclick: async () => {
    try {
      await ctx.client.admin(op, { job_id: id });
      load(ctx);
    } catch (e) {
      alert(`${op} ${id}: ${e.message}`);
    }
  } }, op);
}

/** Called after every (re)connect. */
export function reload(ctx) { load(ctx); }
