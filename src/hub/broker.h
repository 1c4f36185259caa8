/*
 * broker.h - the hub's pure broker core: queues, jobs, leases, keys, dependencies, retries,
 * registries, job trees, consumers and credit (docs/protocol.md §5-§6).
 *
 * The broker does no I/O. The network layer (net.c) turns protocol messages into calls of
 * this API and receives the broker's decisions through the output callbacks
 * (broker_output): "dispatch job J to connection C", "send stop", "answer a held emit",
 * "answer a wait", "publish an event". Time comes from an injected clock (broker_config.now),
 * in Unix milliseconds; the broker never sleeps: the net layer arms one timer for
 * broker_next_deadline() and calls broker_tick() when it fires.
 *
 * Threading: a broker is single-threaded; every function must be called from the thread
 * that owns it. Callbacks are invoked synchronously from inside broker calls; a callback
 * MUST NOT call back into the broker (queue what it needs and act after the call returns).
 *
 * Retention (memory stays flat): an ended job is purged after its result_ttl/failure_ttl or
 * when its registry exceeds registry_cap (oldest first); a root is kept until its whole tree
 * has ended; a tree (and the dedup ids of its emits) is freed with the last of its jobs; a
 * key (and its state) is freed when no job of that key and no tree that had a job of that key
 * is in memory — so a keyed stream inside a tree keeps its state across batches whatever the
 * retention of the finished batches, until the tree's root is purged (its result_ttl or
 * failure_ttl after the whole tree ended). A job's payload is freed as soon as it finishes.
 *
 * Memory: every pointer passed into the broker is borrowed for the duration of the call;
 * the broker copies what it keeps (ids, JSON texts, payload bytes). Every pointer the broker
 * hands to a callback is borrowed and valid only during that callback. JSON values (args,
 * meta, state, value, payload_meta, error) are passed as JSON text slices (pointer + length,
 * not NUL-terminated); the broker stores and forwards them without parsing. A NULL pointer
 * means "absent". Payloads are opaque bytes (content_type, payload_meta, bytes, len).
 *
 * Return values: functions returning int return WSM_OK (0) or a positive wsm_code
 * (wsm_common.h) and fill the wsm_err (may be NULL) with a message that names the queue /
 * job / field. Codes used: BAD_FIELD, NO_SUCH_QUEUE, NO_SUCH_JOB, DUPLICATE_ID, QUEUE_FULL,
 * BAD_STATE, SHUTTING_DOWN, NOMEM.
 */
#ifndef WSM_BROKER_H
#define WSM_BROKER_H

#include "wsm_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct broker broker;
typedef struct broker_conn broker_conn;

/* "unset" marker for the int64 option fields below: inherit the default. */
#define BROKER_UNSET (-1)
/* Maximum retry intervals kept per job. */
#define BROKER_MAX_INTERVALS 16
/* Job ids: 1..200 characters of [A-Za-z0-9._:-] (protocol §3). */
#define BROKER_MAX_ID 200

/* Job options. Every field BROKER_UNSET (-1) = inherit (queue default, then retention
 * default, then "none"); 0 = none/no limit for timeout and ttl. Durations in ms. */
typedef struct broker_job_opts {
    int64_t timeout_ms;     /* max run time of one attempt */
    int64_t ttl_ms;         /* max time waiting (queued/deferred) before it starts */
    int64_t result_ttl_ms;  /* keep a finished job this long */
    int64_t failure_ttl_ms; /* keep a failed/expired/canceled job this long */
    int64_t retry_max;      /* retries after the first attempt (-1 inherit, default 0) */
    int n_intervals;        /* 0..BROKER_MAX_INTERVALS; used when retry_max >= 0 */
    int64_t intervals_ms[BROKER_MAX_INTERVALS];
} broker_job_opts;

/* Fills *o with BROKER_UNSET everywhere (n_intervals 0). */
void broker_job_opts_init(broker_job_opts *o);

/* ------------------------------------------------------------------ configuration */

typedef struct broker_queue_decl {
    const char *name;         /* required, unique */
    int64_t max_length;       /* bound on queued jobs; 0 = unbounded */
    broker_job_opts defaults; /* default job options of this queue */
    bool paused;              /* starts paused */
} broker_queue_decl;

/* Route (from queue, output) -> to queue. output "result" routes results (child <id>.r). */
typedef struct broker_route_decl {
    const char *from_queue;
    const char *output;
    const char *to_queue;
} broker_route_decl;

typedef struct broker_retention {
    int64_t result_ttl_ms;         /* default for finished root jobs (e.g. 24 h) */
    int64_t failure_ttl_ms;        /* default for failed/expired/canceled jobs (e.g. 7 d) */
    int64_t emitted_result_ttl_ms; /* default for finished emitted jobs (e.g. 60 s) */
    /* default for failed/expired/canceled emitted jobs; 0 = failure_ttl_ms (so that a
     * zero-initialised struct keeps the old behaviour) */
    int64_t emitted_failure_ttl_ms;
    size_t registry_cap; /* max jobs per ended registry per queue; 0 = 100000 */
} broker_retention;

/* What a dispatched job looks like (protocol §6.4). All borrowed, valid during the callback. */
typedef struct broker_dispatch {
    const char *job_id;
    const char *queue;
    int attempt;         /* 1-based */
    int64_t deadline_at; /* Unix ms; 0 = no timeout */
    const char *args;    /* JSON text, never NULL ("{}" default) */
    size_t args_len;
    const char *meta; /* JSON text or NULL */
    size_t meta_len;
    const char *key;   /* or NULL */
    const char *state; /* key state JSON text or NULL */
    size_t state_len;
    const char *parent; /* or NULL for roots */
    const char *root;   /* or NULL for roots */
    int64_t enqueued_at;
    const char *content_type; /* or NULL (= application/json) */
    const char *payload_meta; /* JSON text or NULL */
    size_t payload_meta_len;
    const unsigned char *payload; /* may be NULL when len == 0 */
    size_t len;
} broker_dispatch;

/* The broker's outputs. Every callback may be NULL (then that output is dropped). `user` is
 * broker_output.user; `conn_user` is what the net layer gave broker_conn_new. */
typedef struct broker_output {
    void *user;
    /* Send this job to the connection (it is leased to it now). */
    void (*dispatch)(void *user, void *conn_user, const broker_dispatch *job);
    /* Send `stop` for (job_id, attempt); reason "timeout" | "canceled" | "shutdown". */
    void (*stop)(void *user, void *conn_user, const char *job_id, int attempt, const char *reason);
    /* A held emit (broker_emit returned held) is answered now: code WSM_OK with the child's
     * job_id and status "queued" | "duplicate", or an error code + message. req is the
     * request token given to broker_emit. */
    void (*emit_done)(void *user, void *conn_user, uint64_t req, int code, const char *job_id,
                      const char *status, const char *message);
    /* A wait (broker_wait returned pending) ends: code WSM_OK with the job (as in
     * broker_query_job, borrowed cJSON), WSM_E_TIMEOUT or WSM_E_NO_SUCH_JOB (job == NULL). */
    void (*wait_done)(void *user, void *conn_user, uint64_t req, int code, const cJSON *job);
    /* Publish on a topic: "events" (subject = job id) and "progress" (subject = root id).
     * data is a compact JSON object (protocol §6.10). Called only for topics enabled with
     * broker_set_topics. */
    void (*event)(void *user, const char *topic, const char *subject, const char *data,
                  size_t data_len);
    /* Draining and nothing is leased any more (called once per broker_drain). */
    void (*drained)(void *user);
} broker_output;

typedef struct broker_config {
    const broker_queue_decl *queues;
    size_t n_queues;
    const broker_route_decl *routes;
    size_t n_routes;
    broker_retention retention;
    /* Clock: Unix milliseconds. Required. */
    int64_t (*now)(void *clock_user);
    void *clock_user;
    broker_output out;
    /* Track changes for a persistent store (broker_persist_collect). False = memory store. */
    bool persist;
    /* Seed for generated job ids (20 hex chars); 0 = seed from wsm_random_id. */
    uint64_t id_seed;
} broker_config;

/* Creates a broker. Copies the config. Returns NULL and fills err on a bad config (empty or
 * duplicate queue name, route naming an unknown queue, negative values: BAD_FIELD) or
 * NOMEM. Free with broker_free. */
broker *broker_new(const broker_config *cfg, wsm_err *err);
/* Frees the broker and everything it holds, without calling any callback. Accepts NULL.
 * Connections (broker_conn) become invalid. */
void broker_free(broker *b);

/* ------------------------------------------------------------------ connections */

typedef struct broker_conn_info {
    uint64_t session; /* connection id shown in queries */
    const char *name;
    const char *instance;
    const char *kind; /* "worker" | "client" | "dashboard" or NULL */
} broker_conn_info;

/* Registers a connection (any client: producer, worker, dashboard). conn_user is handed
 * back in callbacks. Returns the handle (owned by the broker, freed by broker_conn_free)
 * or NULL (NOMEM). */
broker_conn *broker_conn_new(broker *b, void *conn_user, const broker_conn_info *info);
/* Updates the name/instance/kind of a connection (after hello). Copies the strings.
 * Returns WSM_OK or WSM_E_NOMEM. */
int broker_conn_set_info(broker *b, broker_conn *c, const broker_conn_info *info);
/* Records liveness (last_seen_at = now). */
void broker_conn_touch(broker *b, broker_conn *c);
/* The connection is gone: its leased jobs fail their attempt at once with reason
 * "worker_lost" (retry policy applies), its held emits and waits are dropped without
 * callbacks, and the handle is freed. Accepts NULL. */
void broker_conn_free(broker *b, broker_conn *c);

/* ------------------------------------------------------------------ producing */

/* A job to enqueue (enqueue) or emit (emit). All fields optional unless noted. */
typedef struct broker_job_spec {
    const char *queue;  /* enqueue: required; emit: ignored (the route decides) */
    const char *job_id; /* enqueue: NULL = generate; emit: ignored (<parent>.<seq>) */
    const char *args;   /* JSON text; NULL = "{}" */
    size_t args_len;
    const char *meta; /* JSON text or NULL */
    size_t meta_len;
    const char *content_type;
    const char *payload_meta; /* JSON text or NULL */
    size_t payload_meta_len;
    const void *payload;
    size_t len;
    broker_job_opts opts;
    const char *const *depends_on; /* enqueue only */
    size_t n_depends_on;
    bool allow_failure;
    const char *key;       /* ordering key or NULL */
    bool at_front;         /* enqueue only */
    int64_t enqueue_at;    /* Unix ms; 0 = none (enqueue only) */
    int64_t enqueue_in_ms; /* BROKER_UNSET or >= 0 (enqueue only) */
    int64_t weight;        /* BROKER_UNSET = 1 */
} broker_job_spec;

/* Fills *s with defaults: everything NULL/0, opts unset, enqueue_in_ms/weight unset. */
void broker_job_spec_init(broker_job_spec *s);

/* Result of enqueue/emit: job_id and status, valid until the next broker call. */
typedef struct broker_reply {
    char job_id[BROKER_MAX_ID + 1];
    /* "queued" | "deferred" | "scheduled" | "canceled" (dependency already failed or key
     * stopped) | "duplicate" (emit only) */
    const char *status;
    bool held; /* emit only: the target queue is full; answered later by emit_done */
} broker_reply;

/* Enqueues a root job (protocol §6.2). conn may be NULL (internal producers).
 * Returns WSM_OK (reply filled), or NO_SUCH_QUEUE, QUEUE_FULL (queue at max_length and the
 * job would be queued now), DUPLICATE_ID, NO_SUCH_JOB (a depends_on id unknown), BAD_FIELD
 * (bad job id, key, weight or option), SHUTTING_DOWN (draining), NOMEM. With a persistent
 * store the reply must wait for durability: see broker_change_seq. */
int broker_enqueue(broker *b, broker_conn *c, const broker_job_spec *spec, broker_reply *out,
                   wsm_err *err);

/* Emits output `output` number `seq` of parent_id, which must be leased to c (§6.6).
 * spec->queue/job_id/depends_on/at_front/enqueue_* are ignored. Returns WSM_OK with
 * out->status "queued" or "duplicate", or out->held = true: the target queue is full; the
 * reply comes later through emit_done(req) (or never, if c disconnects first). Errors:
 * NO_SUCH_JOB (parent not leased to c), NO_SUCH_QUEUE (no route), BAD_FIELD, NOMEM. */
int broker_emit(broker *b, broker_conn *c, const char *parent_id, const char *output, int64_t seq,
                const broker_job_spec *spec, uint64_t req, broker_reply *out, wsm_err *err);

/* ------------------------------------------------------------------ consuming */

/* Sets what c consumes: queues in priority order (copied), prefetch >= 1 (0 = paused).
 * Replaces a previous consume. Jobs may be dispatched from inside this call.
 * Returns WSM_OK, NO_SUCH_QUEUE (nothing changed), BAD_FIELD (n == 0, prefetch < 0), NOMEM. */
int broker_consume(broker *b, broker_conn *c, const char *const *queues, size_t n, int64_t prefetch,
                   wsm_err *err);
/* Adds n (may be negative) to c's prefetch, clamped at 0. May dispatch. */
void broker_credit(broker *b, broker_conn *c, int64_t n);

/* Result of attempt `attempt` of job_id leased to c (§6.7). value/state: JSON text or NULL;
 * weight BROKER_UNSET keeps the job's weight. The job is finished, the key state stored,
 * the result routed (child <id>.r) if (queue,"result") has a route.
 * Returns WSM_OK, NO_SUCH_JOB (unknown), BAD_STATE (not this attempt leased to c), NOMEM. */
typedef struct broker_result_spec {
    const char *value;
    size_t value_len;
    const char *state;
    size_t state_len;
    const char *content_type;
    const char *payload_meta;
    size_t payload_meta_len;
    const void *payload;
    size_t len;
    int64_t weight;
} broker_result_spec;
void broker_result_spec_init(broker_result_spec *r);
int broker_result(broker *b, broker_conn *c, const char *job_id, int attempt,
                  const broker_result_spec *r, wsm_err *err);

/* Attempt failed. error: JSON text {"type","message","detail"} (required, not parsed).
 * retry false = fail for good. Returns WSM_OK, NO_SUCH_JOB, BAD_STATE, NOMEM. */
int broker_fail(broker *b, broker_conn *c, const char *job_id, int attempt, const char *error,
                size_t error_len, bool retry, wsm_err *err);

/* Hands leased jobs back untouched (attempt not counted) at their old queue position.
 * Ids not leased to c are skipped. *count (may be NULL) = jobs released. Returns WSM_OK. */
int broker_release(broker *b, broker_conn *c, const char *const *job_ids, size_t n, size_t *count,
                   wsm_err *err);

/* Progress of a job leased to c: stored on the job and published (coalesced per loop turn
 * by broker_publish_progress) on topic "progress" for its root. message may be NULL.
 * Returns WSM_OK or NO_SUCH_JOB (not leased to c). */
int broker_progress(broker *b, broker_conn *c, const char *job_id, double done, double total,
                    const char *message, wsm_err *err);

/* ------------------------------------------------------------------ waiting */

/* Waits until job_id (tree: its whole tree) has ended. timeout_ms 0 = no limit.
 * Returns WSM_OK with *done = true and *job_out = the job (caller frees with cJSON_Delete)
 * when it has already ended; WSM_OK with *done = false when pending (answered later by
 * wait_done(req), dropped if c disconnects); NO_SUCH_JOB; NOMEM. */
int broker_wait(broker *b, broker_conn *c, const char *job_id, bool tree, int64_t timeout_ms,
                uint64_t req, bool *done, cJSON **job_out, wsm_err *err);

/* ------------------------------------------------------------------ admin (§6.13) */
/* Each returns WSM_OK and *count (may be NULL) = jobs affected, or an error. */

/* A failed/expired/canceled job back to queued, attempts reset. NO_SUCH_JOB, BAD_STATE. */
int broker_requeue(broker *b, const char *job_id, size_t *count, wsm_err *err);
/* Every failed/expired/canceled job of the queue. NO_SUCH_QUEUE. */
int broker_requeue_all(broker *b, const char *queue, size_t *count, wsm_err *err);
/* queued/deferred/scheduled -> canceled; started -> stop ("canceled") sent, canceled.
 * NO_SUCH_JOB, BAD_STATE (already ended). Dependents are canceled recursively. */
int broker_cancel(broker *b, const char *job_id, size_t *count, wsm_err *err);
/* Every queued job of the queue -> canceled, reason "emptied". NO_SUCH_QUEUE. */
int broker_empty(broker *b, const char *queue, size_t *count, wsm_err *err);
/* Pause (no dispatch, jobs still accepted) or resume a queue. NO_SUCH_QUEUE. */
int broker_pause(broker *b, const char *queue, bool paused, size_t *count, wsm_err *err);

/* Stop dispatching; enqueue answers SHUTTING_DOWN; results/fails/emits are still taken.
 * drained() is called (possibly from inside this call) once nothing is leased. */
void broker_drain(broker *b);
bool broker_draining(const broker *b);

/* ------------------------------------------------------------------ time */

/* Processes every deadline <= now (timeouts -> stop + retry policy, ttl -> expired,
 * scheduled -> queued, retention purge, wait timeouts). Call when the timer fires. */
void broker_tick(broker *b);
/* The next deadline (Unix ms) or -1 if none. Re-read after every broker call that may have
 * changed it (cheap: O(1)). */
int64_t broker_next_deadline(const broker *b);

/* ------------------------------------------------------------------ topics */

/* Enables publishing of "events" (every job status change) and "progress" (tree progress);
 * the net layer enables a topic while anyone subscribes to it. Both default off. */
void broker_set_topics(broker *b, bool events, bool progress);
/* Publishes the coalesced "progress" of every root whose tree changed since the last call
 * (call once per loop turn). */
void broker_publish_progress(broker *b);

/* ------------------------------------------------------------------ queries (§6.12) */
/* Each builds a new cJSON value owned by the caller (cJSON_Delete), or returns NULL on
 * NOMEM / fills err. */

/* [{name, paused, max_length, queued, deferred, scheduled, started, finished, failed,
 *   expired, canceled, consumers}] */
cJSON *broker_query_queues(broker *b);
/* [{session, name, instance, kind, queues, prefetch, state, jobs, jobs_total, connected_at,
 *   last_seen_at, processed, failed}] (connections that ever consumed or hold leases): jobs
 * lists at most BROKER_WORKER_MAX_IDS of the ids leased to it (in lease order), jobs_total
 * counts them all, so the reply stays small whatever the prefetch. */
#define BROKER_WORKER_MAX_IDS 10
cJSON *broker_query_workers(broker *b);
/* At most this many ids in a job's "children" and "depends_on" arrays (the job JSON of
 * query job, wait and wait_done stays small for any tree): "children_total" always counts
 * the children in memory, "depends_on_total" is added when depends_on was cut. */
#define BROKER_JSON_MAX_IDS 100
/* The job, or NULL with NO_SUCH_JOB. */
cJSON *broker_query_job(broker *b, const char *job_id, wsm_err *err);
/* The tree of any job of it, or NULL with NO_SUCH_JOB. */
cJSON *broker_query_tree(broker *b, const char *job_id, wsm_err *err);
/* A job summary, one entry of a registry or children page (protocol §6.12): {job_id, queue,
 * status, attempt, key, parent, root (registry only), enqueued_at, started_at, ended_at,
 * reason, error_type, error_message}; error_type and error_message come from a failed job's
 * error and are cut to BROKER_SUMMARY_TEXT_MAX bytes (at a character boundary, ending with
 * "..." as U+2026 when cut); absent values are omitted. */
#define BROKER_SUMMARY_TEXT_MAX 200
/* {total, offset, next_offset?, jobs: [job summaries]}: one page of a queue's registry.
 * registry: one of the 8 status names. limit 1..BROKER_PAGE_MAX. search: id prefix or NULL.
 * Newest first for ended registries, queue order otherwise. jobs holds at most `limit`
 * summaries from `offset`, fewer when their compact JSON text (the array) would pass
 * max_bytes (0 = no byte cap; at least one is always listed); next_offset is present when
 * more jobs follow. NULL with NO_SUCH_QUEUE, BAD_FIELD or NOMEM. */
cJSON *broker_query_registry(broker *b, const char *queue, const char *registry, int64_t offset,
                             int64_t limit, const char *search, size_t max_bytes, wsm_err *err);

/* Largest `limit` of a paged query (registry, children). */
#define BROKER_PAGE_MAX 1000
/* One page of the jobs below job_id in its tree, in the order they joined the tree (emit
 * order): its direct children, or with descendants every job below it at any depth (the ids
 * that start with "<job_id>."), optionally only those in status `status` (a status name, or
 * NULL for all). job_id may also be a purged emitted job whose tree is still in memory.
 * {job_id, total, offset, next_offset?, jobs: [job summaries, parent only with
 * descendants, no root]}:
 * total counts every match in memory; jobs holds at most `limit` of them from `offset`, and
 * fewer when their compact JSON text (the array) would pass max_bytes (0 = no byte cap;
 * at least one entry is always listed); next_offset is present when more matches follow.
 * A job without children gives total 0. NULL with NO_SUCH_JOB, BAD_FIELD (status unknown,
 * offset < 0, limit outside 1..BROKER_PAGE_MAX) or NOMEM. */
cJSON *broker_query_children(broker *b, const char *job_id, bool descendants, const char *status,
                             int64_t offset, int64_t limit, size_t max_bytes, wsm_err *err);

/* Numbers for /metrics. Counters are cumulative since start. */
typedef struct broker_queue_stats {
    const char *name;
    bool paused;
    int64_t max_length;
    size_t queued, deferred, scheduled, started;          /* current */
    size_t finished, failed, expired, canceled;           /* current registry sizes */
    uint64_t n_finished, n_failed, n_expired, n_canceled; /* cumulative ends */
    uint64_t n_enqueued, n_dispatched, n_dropped;         /* dropped = purged by registry cap */
    size_t consumers;
    size_t held_emits;
} broker_queue_stats;
size_t broker_queue_count(const broker *b);
/* Fills *out for queue i (0 <= i < broker_queue_count). Returns WSM_OK or BAD_FIELD. */
int broker_queue_stats_get(const broker *b, size_t i, broker_queue_stats *out);
/* Total leased jobs, total jobs in memory, trees in memory. */
size_t broker_leased_count(const broker *b);
size_t broker_job_count(const broker *b);
size_t broker_tree_count(const broker *b);
/* Bytes of payload and payload_meta held by the jobs in memory (queued to ended, held emits
 * included): a finished job holds none (its payload is freed when it finishes); failed,
 * expired and canceled jobs keep theirs for requeue until they are purged. */
size_t broker_payload_bytes(const broker *b);
/* Keys (with their state) in memory, all queues. */
size_t broker_key_count(const broker *b);

/* ------------------------------------------------------------------ persistence
 * With config.persist, every change is tracked. The store (store.h) collects the changes
 * once per loop turn through a sink; an enqueue (or any op) may be acknowledged once the
 * batch containing change number broker_change_seq() (read right after the call) has
 * committed. */

/* The number of the latest change; 0 when persist is off (nothing to wait for). */
uint64_t broker_change_seq(const broker *b);

typedef struct broker_persist_sink {
    void *user;
    /* A job's current record (opaque text, see broker_restore_job) and, when with_payload,
     * its payload (first write of the job). */
    int (*job_put)(void *user, const char *id, const char *rec, size_t rec_len, const void *payload,
                   size_t len, bool with_payload);
    int (*job_del)(void *user, const char *id);
    /* The record (opaque text: key state and stop marker, see broker_restore_key) of
     * (queue, key); rec NULL = key forgotten (delete). */
    int (*key_put)(void *user, const char *queue, const char *key, const char *rec, size_t rec_len);
    /* An emitted id remembered for dedup while its root lives; dedup_del_root: forget all
     * ids of root. */
    int (*dedup_put)(void *user, const char *id, const char *root);
    int (*dedup_del_root)(void *user, const char *root);
} broker_persist_sink;

/* Hands every change since the last collect to the sink (coalesced: each dirty job once)
 * and returns the change seq the batch covers. A sink callback returning non-zero aborts
 * (NOMEM; the changes stay pending). Returns the seq, or 0 when nothing was pending and
 * *err_code (may be NULL) = WSM_OK / WSM_E_NOMEM. */
uint64_t broker_persist_collect(broker *b, const broker_persist_sink *sink, int *err_code);
/* True if changes are waiting for a collect. */
bool broker_persist_pending(const broker *b);

/* Restoring a fresh broker (before any other call): feed every stored job, key record and
 * dedup id in any order, then broker_restore_finish, which links trees, dependencies, keys
 * and registries, re-arms every deadline and turns started jobs (their workers are gone with
 * the old process) back to queued with the attempt counted — whatever their retry policy,
 * since the hub failed, not the job. Jobs of queues no longer declared are dropped with a
 * warning. Returns WSM_OK, BAD_FIELD (corrupt record), NOMEM. */
int broker_restore_job(broker *b, const char *rec, size_t rec_len, const void *payload, size_t len,
                       wsm_err *err);
int broker_restore_key(broker *b, const char *queue, const char *key, const char *rec,
                       size_t rec_len, wsm_err *err);
int broker_restore_dedup(broker *b, const char *id, const char *root, wsm_err *err);
int broker_restore_finish(broker *b, wsm_err *err);

/* Status names ("queued", ...) */
const char *broker_status_name(int status);

#ifdef __cplusplus
}
#endif
#endif
