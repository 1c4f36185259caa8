// Overview view: queues (depth, in flight, rate with a sparkline, paused), workers, totals and
// hub health. Fed by Live (stats topic + queries); admins get pause/resume buttons.

import uPlot from '../vendor/uplot/uPlot.esm.js';
import { h, fill, fmtNum, fmtAgo, fmtDuration } from './dom.mjs';
import { PIPELINE } from './config.mjs';

let els = null;
const sparks = new Map();

export function mount(root, ctx) {
  els = {
    totals: h('div', { class: 'totals', id: 'totals' }),
    health: h('dl', { class: 'kv', id: 'health' }),
    queues: h('tbody', { id: 'queues' }),
    workers: h('tbody', { id: 'workers' }),
  };
  root.append(
    h('section', { class: 'card' }, h('h2', {}, 'Totals'), els.totals),
    h('section', { class: 'card' }, h('h2', {}, 'Queues'), h('table', {},
      h('thead', {}, h('tr', {}, ['queue', 'queued', 'in flight', 'deferred', 'scheduled', 'finished', 'failed',
        'consumers', 'rate /s', 'last minute', 'state', ''].map((t, i) => h('th', { class: i > 0 && i < 9 ? 'num' : '' }, t)))),
      els.queues)),
    h('section', { class: 'card' }, h('h2', {}, 'Workers'), h('table', {},
      h('thead', {}, h('tr', {}, ['name', 'kind', 'queues', 'state', 'current jobs', 'last seen', 'processed', 'failed']
        .map((t, i) => h('th', { class: i >= 6 ? 'num' : '' }, t)))),
      els.workers)),
    h('section', { class: 'card' }, h('h2', {}, 'Hub'), els.health));
}

export function unmount() {
  for (const s of sparks.values()) s.plot.destroy();
  sparks.clear();
  els = null;
}

export function render(ctx) {
  if (!els) return;
  const live = ctx.live;
  renderTotals(live);
  fill(els.queues, [...live.queues.values()].sort((a, b) => a.name.localeCompare(b.name)).map((q) => queueRow(ctx, q)));
  fill(els.workers, live.workers.length ? live.workers.map(workerRow) : h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'no workers connected')));
  renderHealth(live);
}

function renderTotals(live) {
  const sum = (k) => [...live.queues.values()].reduce((n, q) => n + (q[k] ?? 0), 0);
  const items = [['queued', sum('queued')], ['in flight', sum('started')], ['finished', sum('finished')],
    ['failed', sum('failed')], ['expired', sum('expired')], ['canceled', sum('canceled')],
    ['workers', live.workers.length], ['pipelines', [...live.roots.values()].filter((d) => d.queues?.[PIPELINE.rootQueue]).length]];
  fill(els.totals, items.map(([k, v]) => h('div', { dataset: { total: k } }, h('b', {}, fmtNum(v)), k)));
}

function queueRow(ctx, q) {
  const admin = ctx.admin
    ? h('button', { class: 'admin', onclick: () => adminOp(ctx, q.paused ? 'resume' : 'pause', q.name) }, q.paused ? 'resume' : 'pause')
    : null;
  return h('tr', { dataset: { queue: q.name } },
    h('td', {}, h('a', { class: 'link', href: `#view=jobs&queue=${encodeURIComponent(q.name)}&registry=queued` }, q.name)),
    ...['queued', 'started', 'deferred', 'scheduled', 'finished', 'failed', 'consumers'].map((k) => h('td', { class: 'num' }, fmtNum(q[k]))),
    h('td', { class: 'num' }, fmtNum(q.rate, 1)),
    h('td', {}, spark(ctx.live, q.name)),
    h('td', {}, q.paused ? h('b', { class: 'error-text' }, 'paused') : 'active'),
    h('td', {}, admin));
}

async function adminOp(ctx, op, queue) {
  try {
    await ctx.client.admin(op, { queue });
  } catch (e) {
    alert(`${op} ${queue}: ${e.message}`);
  }
}

/** A small uPlot line of the queue's rate over the last minute (one instance per queue). */
function spark(live, name) {
  const hist = live.rates.get(name) ?? [];
  const data = [hist.map((p) => p[0]), hist.map((p) => p[1])];
  let s = sparks.get(name);
  if (!s) {
    const el = h('span', { class: 'spark' });
    const plot = new uPlot({
      width: 120, height: 24, pxAlign: false, cursor: { show: false }, legend: { show: false },
      scales: { x: { time: false }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
      axes: [{ show: false }, { show: false }],
      series: [{}, { stroke: '#1f5fbf', width: 1, fill: 'rgba(31,95,191,0.15)', points: { show: false } }],
    }, data, el);
    s = { el, plot };
    sparks.set(name, s);
  } else {
    s.plot.setData(data);
  }
  return s.el;
}

function workerRow(w) {
  return h('tr', { dataset: { session: w.session } },
    h('td', {}, w.name ?? '–'), h('td', {}, w.kind ?? '–'), h('td', {}, (w.queues ?? []).join(', ') || '–'),
    h('td', {}, w.state ?? '–'), h('td', {}, (w.jobs ?? []).slice(0, 3).join(', ') + ((w.jobs_total ?? (w.jobs ?? []).length) > 3 ? ' …' : '')),
    h('td', {}, fmtAgo(w.last_seen_at)), h('td', { class: 'num' }, fmtNum(w.processed)), h('td', { class: 'num' }, fmtNum(w.failed)));
}

function renderHealth(live) {
  const hub = live.hub ?? {};
  const rows = [['version', hub.version], ['uptime', fmtDuration(hub.uptime)], ['connections', fmtNum(hub.connections)],
    ['draining', hub.draining === undefined ? '–' : String(hub.draining)], ['store', hub.store],
    ['/healthz', live.health ? `${live.health.ok ? 'ok' : 'FAILING'} ${live.health.text}` : '–']];
  fill(els.health, rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { dataset: { health: k } }, v ?? '–')]));
}
