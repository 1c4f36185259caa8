// Live state of the dashboard, fed by topic subscriptions (stats, progress, workers) and by
// queries after each (re)connect. Updates only mark the state dirty; the page renders at most
// once per animation frame (schedule()), so a burst of events cannot freeze it.

const RATE_POINTS = 60;
/** Pipeline roots kept in memory (oldest forgotten first). */
const MAX_ROOTS = 5000;

/** Jobs finished per second between two samples (when the hub sends no `rate`). */
function rateOf(prev, q, now) {
  if (!prev || prev.finished_total === undefined || q.finished_total === undefined) return prev?.rate;
  const dt = (now - prev.sampled_at) / 1000;
  if (dt < 0.2) return prev.rate;
  return Math.max(0, (q.finished_total - prev.finished_total) / dt);
}

export class Live {
  constructor(client, onChange) {
    this.client = client;
    this.onChange = onChange;
    this.queues = new Map();
    this.rates = new Map();
    this.workers = [];
    this.hub = null;
    this.health = null;
    this.roots = new Map();
    this.rootInfo = new Map();
    this.eventCount = 0;
    this._workersTimer = null;
    this._unsubs = [];
  }

  async start() {
    this.client.on('welcome', () => this.refresh());
    this._unsubs.push(await this.client.subscribe('stats', (d) => this.onStats(d)));
    this._unsubs.push(await this.client.subscribe('progress', (d) => this.onProgress(d)));
    this._unsubs.push(await this.client.subscribe('workers', () => this.refreshWorkersSoon()));
  }

  /** Full state after a (re)connect: queues, workers, hub and the recent pipeline roots. */
  async refresh() {
    const c = this.client;
    const [queues, workers, hub] = await Promise.all([c.query('queues'), c.query('workers'), c.query('hub')]);
    this.setQueues(queues);
    this.workers = workers ?? [];
    this.hub = hub;
    this.onChange();
    this.checkHealth();
  }

  async checkHealth() {
    if (!globalThis.location?.host) return;
    try {
      const r = await fetch('/healthz', { cache: 'no-store' });
      this.health = { ok: r.ok, text: (await r.text()).slice(0, 200) };
    } catch (e) {
      this.health = { ok: false, text: e.message };
    }
    this.onChange();
  }

  setQueues(list) {
    const now = Date.now();
    for (const q of list ?? []) {
      const prev = this.queues.get(q.name);
      if (q.rate === undefined) q.rate = rateOf(prev, q, now);
      q.sampled_at = now;
      this.queues.set(q.name, q);
      const hist = this.rates.get(q.name) ?? [];
      hist.push([now / 1000, q.rate ?? 0]);
      if (hist.length > RATE_POINTS) hist.shift();
      this.rates.set(q.name, hist);
    }
  }

  onStats(d) {
    const list = Array.isArray(d) ? d : Array.isArray(d?.queues) ? d.queues
      : d?.queues ? Object.entries(d.queues).map(([name, q]) => ({ name, ...q })) : [];
    this.setQueues(list);
    if (d?.hub) this.hub = { ...this.hub, ...d.hub };
    // per-worker counters (processed, last seen) are not in `stats`: refresh them every 5 s
    if (Date.now() - (this._workersAt ?? 0) > 5000) this.refreshWorkersSoon();
    this.onChange();
  }

  onProgress(d) {
    if (!d?.root) return;
    this.eventCount++;
    this.roots.set(d.root, { ...this.roots.get(d.root), ...d, seen_at: Date.now() });
    if (this.roots.size > MAX_ROOTS) this.roots.delete(this.roots.keys().next().value);
    this.onChange();
  }

  refreshWorkersSoon() {
    if (this._workersTimer) return;
    this._workersTimer = setTimeout(async () => {
      this._workersTimer = null;
      try {
        this._workersAt = Date.now();
        this.workers = (await this.client.query('workers')) ?? [];
        this.onChange();
      } catch { /* shown by the connection state */ }
    }, 500);
  }

  /** Loads pipeline roots of `queue` from its registries (for roots that started before we came). */
  async loadRoots(queue, limit = 50) {
    const regs = ['started', 'queued', 'finished', 'failed'];
    const pages = await Promise.all(regs.map((registry) =>
      this.client.query('registry', { queue, registry, offset: 0, limit }).catch(() => null)));
    const ids = pages.flatMap((p) => p?.jobs ?? []).map((j) => j.job_id).filter((id) => !this.roots.has(id));
    const trees = await Promise.all(ids.map((id) => this.client.query('tree', { job_id: id }).catch(() => null)));
    for (const t of trees) {
      if (t?.root && !this.roots.has(t.root)) this.roots.set(t.root, { ...t, seen_at: Date.now() });
    }
    this.onChange();
  }

  /** Fetches a root job once more after its tree ended (for its result). */
  rootJobEnded(id) {
    if (this._refetched?.has(id)) return;
    (this._refetched ??= new Set()).add(id);
    this.rootJob(id, true);
  }

  /** Root job details (args, timestamps) for pipeline rows, fetched once per root. */
  async rootJob(id, force = false) {
    if (this.rootInfo.has(id) && !force) return this.rootInfo.get(id);
    if (!this.rootInfo.has(id)) this.rootInfo.set(id, null);
    try {
      const job = await this.client.query('job', { job_id: id });
      this.rootInfo.set(id, job);
      this.onChange();
      return job;
    } catch {
      return null;
    }
  }
}
