// Dashboard configuration: which queues form the AEB pipeline stages and which queue answers
// result-database queries (docs/dashboard.md). Change here if mesh.json names them differently.

export const PIPELINE = {
  /** Queue of the submitted root jobs (one per recording). */
  rootQueue: 'mf4',
  /** Stages shown per pipeline row: frames read (root progress), evaluated, stored (weights). */
  stages: [
    { label: 'read', queue: 'mf4', from: 'progress' },
    { label: 'evaluated', queue: 'aeb', from: 'weight' },
    { label: 'stored', queue: 'db', from: 'weight' },
  ],
};

/** Request/reply queue of the db-writer (docs/dashboard.md lists the request shapes). */
export const DB_QUERY_QUEUE = 'db.query';
export const DB_QUERY_TIMEOUT = 20;
/** Points per plotted series requested from the db-writer (header-size bound, see docs). */
export const PLOT_POINTS = 400;
