// Job detail view (#view=job&id=…): args, meta, result or error, attempts, timestamps, parent,
// root, children and the tree's status, from `query job` and `query tree`; admins can requeue
// an ended job or cancel a waiting or running one.

import { h, fill, fmtTime, statusEl, json, showError } from './dom.mjs';

let st = null;

export const remountOnParams = true;

export function mount(root, ctx) {
  st = { id: ctx.params.get('id'), job: null, tree: null, error: null, el: h('div', { id: 'job-detail' }) };
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
  ctx.invalidate();
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
  const children = j.children ?? [];
  fill(st.el,
    h('dl', { class: 'kv' }, kv.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { dataset: { field: k } }, v)])),
    adminButtons(ctx, j),
    h('h3', {}, 'args'), json(j.args), h('h3', {}, 'meta'), json(j.meta),
    j.error ? [h('h3', {}, 'error'), json(j.error)] : [h('h3', {}, 'result'), json(j.result)],
    st.tree ? [h('h3', {}, 'tree'), json(st.tree)] : null,
    h('h3', {}, `children (${children.length})`),
    h('div', {}, children.slice(0, 200).map((c) => [link(c), ' ']), children.length > 200 ? ` … ${children.length - 200} more` : ''));
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
