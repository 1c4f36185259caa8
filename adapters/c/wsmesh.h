/*
 * wsmesh.h - libwsmesh, the adapter library: write a wsmesh service (a handler per queue) or a
 * client (enqueue, wait, query, admin, subscribe) without any WebSocket code.
 *
 * A service in a few lines (see examples/hello-service.c and docs/writing-a-service.md):
 *
 *   static int hello(wsm_job *job, void *user) { ... wsm_job_set_result(job, value); return 0; }
 *   static const wsm_endpoint eps[] = {{.queue = "hello", .handler = hello}, {0}};
 *   int main(int argc, char **argv) {
 *       const wsm_service_config cfg = {.name = "hello-service", .endpoints = eps};
 *       return wsm_service_main(&cfg, argc, argv);
 *   }
 *
 * Threads. A service runs one libevent loop (connection, heartbeats, credits, reconnect) on
 * the thread that calls wsm_service_run / wsm_service_main, and `concurrency` handler threads.
 * The wsm_job_* functions are called from the handler thread that got the job, only during the
 * handler call. A wsm_client is used by one thread at a time.
 *
 * Ownership (hiredis / project rule). Everything a function receives is BORROWED: strings, cJSON
 * values and payload bytes are copied or serialised before the call returns, so the caller
 * keeps and frees what it passed. Everything a handler receives (args, state, payload, ...) is
 * borrowed from the library and valid only until the handler returns. A function that returns
 * a `cJSON **` out-value transfers ownership to the caller (free with cJSON_Delete). All *_free
 * functions accept NULL.
 *
 * Return values. Functions returning int return WSM_OK (0) or a status code: a wsm_code of
 * wsm_common.h (the protocol's stable codes: WSM_E_QUEUE_FULL, WSM_E_NO_SUCH_JOB, ... and the
 * client-side WSM_E_CONNECT, WSM_E_TIMEOUT, WSM_E_NOMEM, WSM_E_IO) or one of the adapter codes
 * below. wsm_strerror() names each. Contexts (wsm_client, wsm_service) also keep the last error
 * as err + errstr (a sentence naming the cause, e.g. "cannot connect to ws://127.0.0.1:7700:
 * connection refused").
 *
 * Delivery is at-least-once (docs/writing-a-service.md §"What a handler must assume"): a job can
 * run again after a crash, a lost connection or a timeout, possibly on another worker and
 * possibly while an earlier attempt's result is still on its way. Handlers must be idempotent;
 * emits are made idempotent by the library (seq numbers per attempt, hub de-duplication).
 */
#ifndef WSMESH_H
#define WSMESH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "wsm_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WSMESH_VERSION  "0.1.0"
#define WSM_DEFAULT_URL "ws://127.0.0.1:7700/ws"
/* Job ids are 1-200 characters (protocol §3); buffers for ids need WSM_JOB_ID_MAX + 1 bytes. */
#define WSM_JOB_ID_MAX 200

/* Adapter status codes (beyond wsm_code; never renumbered). */
enum {
    WSM_E_WOULD_BLOCK = 100, /* a non-blocking call could not proceed now (no emit credit) */
    WSM_E_STOPPED = 101,     /* the job was stopped (timeout, cancel, lease lost) */
    WSM_E_CLOSED = 102,      /* the client/service is shutting down or the connection is gone */
    WSM_E_USAGE = 103,       /* bad argument (NULL where a value is required, bad option) */
};

/* A sentence for any status code (wsm_code or adapter code). Static string, never NULL. */
const char *wsm_strerror(int code);

/* ------------------------------------------------------------------ memory
 * The allocator of libwsmesh and of cJSON. All three functions must be set, behave like the C
 * library's (malloc and realloc return NULL when out of memory; realloc(NULL, n) allocates) and
 * be thread-safe: the loop thread and the handler threads allocate at the same time.
 */
typedef struct wsm_allocator {
    void *(*malloc_fn)(size_t n);
    void *(*realloc_fn)(void *p, size_t n);
    void (*free_fn)(void *p); /* never called with NULL */
} wsm_allocator;

/* Installs a (copied) as the allocator of everything libwsmesh allocates itself (contexts,
 * jobs, header and payload copies, messages and buffers, including the src/common buffers it
 * uses) and, through cJSON_InitHooks, of every cJSON value in the process: the values the
 * library creates, the ones it returns through `cJSON **` out-values (free them with
 * cJSON_Delete, as always) and the application's own. NULL a restores malloc/realloc/free.
 * Process-wide. Call it before any other libwsmesh or cJSON call, or at least while no
 * service or client exists and no cJSON value or libwsmesh buffer made under the previous
 * allocator is still alive (each would be freed by the wrong function).
 * Not covered: libevent, OpenSSL, wslay and the C library allocate their own internal objects
 * with their own allocators; none of those is ever freed by libwsmesh or handed to the
 * application, so the two sets never mix.
 * Returns 0, or WSM_E_USAGE when a member of *a is NULL or a service or client exists. */
int wsm_set_allocator(const wsm_allocator *a);

/* ------------------------------------------------------------------ options
 * Connection options shared by services and clients. Zero / NULL members take the default shown;
 * use designated initialisers: `wsm_options o = {.url = "ws://hub:7700/ws", .concurrency = 4};`
 */
typedef struct wsm_options {
    const char *url;          /* hub address ws://host[:port][/ws] or wss://...; NULL:
                                 $WSMESH_URL, else WSM_DEFAULT_URL. The path defaults to /ws. */
    const char *token;        /* NULL: $WSMESH_TOKEN (may be unset: no token sent) */
    const char *name;         /* shown in worker lists; NULL: "wsmesh" */
    const char *instance;     /* hello's instance, shown in worker lists; NULL:
                                 "$WSMESH_INSTANCE hostname:pid" when that variable is set (the
                                 hub sets it to "name[i]" for the services it starts), else
                                 "hostname:pid" */
    const char *ca_file;      /* PEM CA bundle for wss://; NULL: the system's default CAs */
    const char *cert_file;    /* PEM client certificate (chain) presented to a wss:// hub that
                                 requires one (mutual TLS: mesh.json listen.tls.ca); NULL:
                                 $WSMESH_CERT_FILE, else none. Ignored for ws:// */
    const char *key_file;     /* PEM private key of cert_file; NULL: $WSMESH_KEY_FILE, else
                                 the key is read from cert_file */
    const char *log_level;    /* error|warn|info|debug|trace; NULL: leave the process level */
    int concurrency;          /* handler threads; 0: 1 */
    int prefetch;             /* jobs leased at once; 0: concurrency */
    bool burst;               /* exit 0 when every consumed queue is empty and nothing runs */
    long max_jobs;            /* stop consuming after this many jobs and exit 0; 0: no limit */
    double connect_timeout;   /* seconds for TCP + TLS + WebSocket handshake + hello; 0: 10 */
    double ping_interval;     /* seconds between WebSocket pings when idle; 0: 15 */
    double pong_timeout;      /* seconds to wait for any data after a ping; 0: 10 */
    double reconnect_max;     /* cap of the exponential reconnect backoff, s; 0: 5 */
    bool no_reconnect;        /* service: exit 1 when the connection is lost (default: retry) */
    size_t max_message_bytes; /* largest WebSocket message accepted from the hub (larger:
                                 the connection is closed with 1009); 0: 64 MiB */
    size_t max_unsent_bytes;  /* bound on bytes queued for sending; 0: 64 MiB */
} wsm_options;

/* Parses the options every wsmesh program accepts, from argv, into *o (strings point into
 * argv): --url URL --token T --name N --concurrency N --burst --log-level L --ca-file F
 * --cert-file F --key-file F --max-jobs N --help (also --opt=value). Unset url/token/cert
 * file/key file fall back to WSMESH_URL/WSMESH_TOKEN/WSMESH_CERT_FILE/WSMESH_KEY_FILE.
 * Recognised options are removed from argv and *argc is updated, so that a program can parse
 * its own options from what is left (argv[0] stays).
 * `help_extra` (may be NULL) is printed after the common options on --help.
 * Returns 0: continue; 1: --help was printed to stdout (exit 0); 2: a usage error was printed
 * to stderr as a sentence (exit 2). */
int wsm_options_parse(wsm_options *o, int *argc, char **argv, const char *help_extra);

/* ------------------------------------------------------------------ services */
typedef struct wsm_job wsm_job;
typedef struct wsm_service wsm_service;

/* A handler runs one attempt of one job on a handler thread. Return 0 for success: the result
 * set with wsm_job_set_result* (JSON null if none) is sent. Return non-zero for failure: the
 * error given to wsm_job_fail is sent, or {type "handler_error", message "handler returned N"}
 * if wsm_job_fail was not called. A handler that called wsm_job_fail always fails. */
typedef int (*wsm_handler)(wsm_job *job, void *user);

typedef struct wsm_endpoint {
    const char *queue;   /* queue to consume (priority = array order) */
    wsm_handler handler; /* called for its jobs */
    void *user;          /* passed to the handler */
} wsm_endpoint;

typedef struct wsm_service_config {
    const char *name;              /* default --name */
    const char *description;       /* first line of --help */
    const wsm_endpoint *endpoints; /* array terminated by an entry with queue == NULL */
    int concurrency;               /* default --concurrency; 0: 1 */
    const char *help_extra;        /* more --help text (the program's own options) */
} wsm_service_config;

/* The whole life of a service in one call: parses argv (wsm_options_parse; argv may be NULL
 * with argc 0), creates the service, registers cfg->endpoints, runs it. Unknown options are a
 * usage error. Returns the process exit status: 0 (drained in burst mode, max_jobs reached,
 * SIGTERM/SIGINT after finishing running jobs, or --help), 1 (fatal error, printed), 2 (usage). */
int wsm_service_main(const wsm_service_config *cfg, int argc, char **argv);

/* Creates a service (no connection yet). Returns NULL and fills err (if not NULL) on bad options
 * (WSM_E_USAGE: unparsable url, bad log level, unusable ca/cert/key file) or WSM_E_NOMEM. *o is
 * copied. */
wsm_service *wsm_service_new(const wsm_options *o, wsm_err *err);
/* Registers a handler for a queue before wsm_service_run. queue is copied.
 * Returns 0, WSM_E_USAGE (NULL queue/handler, duplicate queue, service running), WSM_E_NOMEM. */
int wsm_service_add(wsm_service *s, const char *queue, wsm_handler fn, void *user);
/* Connects, consumes the registered queues and runs until done; installs SIGTERM/SIGINT
 * handlers (drain: finish running jobs, release prefetched ones, exit) and ignores SIGPIPE.
 * Returns 0 on a normal end (drain, burst, max_jobs, wsm_service_stop) or a code with errstr
 * set (WSM_E_CONNECT when no_reconnect and the connection fails, WSM_E_UNAUTHORIZED, ...). */
int wsm_service_run(wsm_service *s);
/* Asks a running service to drain and return, like SIGTERM. Thread-safe, async-signal-unsafe. */
void wsm_service_stop(wsm_service *s);
/* Last error of the service: code and sentence (static or owned by s; "" when none). */
int wsm_service_err(const wsm_service *s);
const char *wsm_service_errstr(const wsm_service *s);
/* Counters since start (for tests and logs). */
typedef struct wsm_service_stats {
    uint64_t jobs;       /* attempts started */
    uint64_t finished;   /* results acknowledged */
    uint64_t failed;     /* fails acknowledged */
    uint64_t emits;      /* emits acknowledged */
    uint64_t reconnects; /* successful reconnects after a lost connection */
} wsm_service_stats;
void wsm_service_get_stats(const wsm_service *s, wsm_service_stats *out);
void wsm_service_free(wsm_service *s);

/* ---- the job, inside a handler. All getters return borrowed values valid until the handler
 * returns; strings that are absent in the job message are NULL unless stated otherwise.
 * args, meta, state and payload_meta are parsed when first asked for (a handler that does not
 * read them does not pay for them); should that parse run out of memory, the getter returns
 * what it would for an absent value and the attempt fails (out_of_memory, retried) whatever
 * the handler returns. */
const char *wsm_job_id(const wsm_job *j);
const char *wsm_job_queue(const wsm_job *j);
int wsm_job_attempt(const wsm_job *j);         /* 1-based */
const char *wsm_job_key(const wsm_job *j);     /* ordering key or NULL */
const char *wsm_job_parent(const wsm_job *j);  /* NULL for roots */
const char *wsm_job_root(const wsm_job *j);    /* the root's id (own id for roots) */
int64_t wsm_job_deadline_at(const wsm_job *j); /* Unix ms, 0 = no timeout */
const cJSON *wsm_job_args(const wsm_job *j);   /* never NULL (an empty object if absent) */
const cJSON *wsm_job_meta(const wsm_job *j);   /* NULL if absent */
const cJSON *wsm_job_state(const wsm_job *j);  /* the key's state from the hub, NULL if none */
/* Payload bytes (NULL and *len 0 if none; len may be NULL). Not NUL-terminated. */
const void *wsm_job_payload(const wsm_job *j, size_t *len);
const char *wsm_job_content_type(const wsm_job *j); /* never NULL: default application/json */
const cJSON *wsm_job_payload_meta(const wsm_job *j);
/* Convenience: args[name] as a string / number, or dflt if absent or of another type. */
const char *wsm_job_arg_str(const wsm_job *j, const char *name, const char *dflt);
double wsm_job_arg_num(const wsm_job *j, const char *name, double dflt);

/* True once the hub sent `stop` for this attempt (timeout, cancel, shutdown) or the attempt's
 * lease is known to be lost. Cheap (one atomic load): call it in loops. */
bool wsm_job_should_stop(const wsm_job *j);
/* "timeout", "canceled", "shutdown", "lease_lost", or NULL while not stopped. Static string. */
const char *wsm_job_stop_reason(const wsm_job *j);

/* A named output (protocol §6.6). All members optional; zero = absent / route default. */
typedef struct wsm_emit_opts {
    const cJSON *args; /* the child job's args (default {}) */
    const cJSON *meta;
    const char *key;     /* ordering key of the child */
    int64_t weight;      /* progress weight; 0: absent (hub default 1) */
    const void *payload; /* bytes (copied) */
    size_t len;
    const char *content_type;  /* default application/json */
    const cJSON *payload_meta; /* e.g. the column descriptors of application/vnd.wsmesh.columns */
    double timeout, ttl, result_ttl, failure_ttl; /* 0: the route's defaults */
    const cJSON *retry;                           /* {"max": n, "intervals": [...]} */
} wsm_emit_opts;

/* Emits a named output; e may be NULL (empty args). The seq number is assigned by the library
 * (0, 1, 2, ... per attempt, so a re-run emits the same ids). Blocks without spinning while
 * welcome.emit_window emits of the connection are unanswered (the hub's backpressure: the
 * target queue is full; emits made while the connection is down count too and are sent after
 * the reconnect). Returns 0 (queued for sending), WSM_E_STOPPED (the attempt was stopped, or
 * its lease was lost with the connection: return from the handler), WSM_E_USAGE (output NULL or
 * empty), WSM_E_NOMEM, or the code of an earlier emit of this attempt that the hub refused (e.g.
 * WSM_E_NO_SUCH_QUEUE: no route) — the attempt then fails with that error whatever the handler
 * returns. */
int wsm_job_emit(wsm_job *j, const char *output, const wsm_emit_opts *e);
/* Like wsm_job_emit but never blocks: WSM_E_WOULD_BLOCK when no credit is free right now. */
int wsm_job_try_emit(wsm_job *j, const char *output, const wsm_emit_opts *e);
/* Reports progress (protocol §6.5; coalesced: only the latest unsent report is kept).
 * message may be NULL. Returns 0 or WSM_E_NOMEM. */
int wsm_job_progress(wsm_job *j, double done, double total, const char *message);
/* Sets the result value (copied; NULL = JSON null). Replaces an earlier value. 0 or NOMEM. */
int wsm_job_set_result(wsm_job *j, const cJSON *value);
/* Sets a result payload (copied) with its content type (NULL = application/json) and
 * payload_meta (may be NULL). 0 or WSM_E_NOMEM. */
int wsm_job_set_result_payload(wsm_job *j, const void *p, size_t len, const char *content_type,
                               const cJSON *payload_meta);
/* Sets the key's new state, stored by the hub atomically with the result (copied). 0/NOMEM. */
int wsm_job_set_state(wsm_job *j, const cJSON *state);
/* Marks the attempt failed: error {type, message, detail}; retry false = fail for good (no
 * retries). type/message NULL become "error"/"". Replaces an earlier call. 0 or WSM_E_NOMEM. */
int wsm_job_fail(wsm_job *j, const char *type, const char *message, const cJSON *detail,
                 bool retry);

/* ------------------------------------------------------------------ clients (blocking) */
typedef struct wsm_client wsm_client;

/* Connects, performs the WebSocket handshake and hello (kind "client"), and returns the client;
 * or NULL with err filled (WSM_E_CONNECT with "cannot connect to URL: reason" -- refused, DNS,
 * TLS verification, handshake, "timed out after Ns" --, WSM_E_UNAUTHORIZED / _FORBIDDEN /
 * _UNSUPPORTED_VERSION when hello is refused, WSM_E_USAGE for a bad url, ca file, client
 * certificate or key (unreadable, not PEM, key not matching) or log level, WSM_E_NOMEM). A hub
 * that requires a client certificate and gets none, or one it does not trust, is WSM_E_CONNECT
 * with a sentence saying so. Never reconnects. */
wsm_client *wsm_client_connect(const wsm_options *o, wsm_err *err);
void wsm_client_free(wsm_client *c);
int wsm_client_err(const wsm_client *c);
const char *wsm_client_errstr(const wsm_client *c); /* owned by c; "" when none */
/* The hub's welcome message (borrowed, valid while c lives). */
const cJSON *wsm_client_welcome(const wsm_client *c);

/* Every job option of protocol §6.2. Zero members are absent. */
typedef struct wsm_enqueue_opts {
    const char *job_id;
    const cJSON *meta;
    const char *key;
    bool at_front;
    double timeout, ttl, result_ttl, failure_ttl; /* seconds; 0: queue default */
    const cJSON *retry;                           /* {"max": n, "intervals": [s, ...]} */
    const char *const *depends_on;                /* n_depends_on job ids */
    size_t n_depends_on;
    bool allow_failure;
    int64_t enqueue_at;  /* Unix ms */
    double enqueue_in;   /* seconds */
    int64_t weight;      /* 0: absent */
    const void *payload; /* bytes */
    size_t len;
    const char *content_type;
    const cJSON *payload_meta;
} wsm_enqueue_opts;

/* Enqueues a job; args NULL = {} (absent), o may be NULL. The header is formatted directly
 * (no cJSON copy of args/meta/retry/payload_meta); strings and the strings inside those cJSON
 * values must be valid UTF-8 (JSON text is UTF-8). On success writes the job id to job_id (if
 * not NULL; WSM_JOB_ID_MAX + 1 bytes) and returns 0; else the hub's code (WSM_E_NO_SUCH_QUEUE,
 * WSM_E_QUEUE_FULL, WSM_E_DUPLICATE_ID, WSM_E_BAD_FIELD, WSM_E_FORBIDDEN, ...) with errstr set
 * to the hub's message, WSM_E_USAGE (NULL/empty queue, payload NULL with len > 0, or a string
 * that is not valid UTF-8 / an invalid cJSON item: nothing is sent, errstr names the member,
 * the client stays usable), or WSM_E_CLOSED / WSM_E_TIMEOUT (no reply within
 * connect_timeout). */
int wsm_enqueue(wsm_client *c, const char *queue, const cJSON *args, const wsm_enqueue_opts *o,
                char *job_id);
/* Pipelined enqueue: sends without waiting for the reply. Replies are collected by
 * wsm_client_sync. Consecutive pipelined requests are batched into one WebSocket message: a
 * request is sent at once while fewer than 8 earlier ones are unanswered, otherwise it is held
 * until enough replies arrive (read during later calls on this client: a call that holds its
 * request runs the client's loop only when 20 µs have passed since the last call that did,
 * so a tight loop of calls does not pay a loop turn per request), 256 requests are held, or
 * any other call on this client (wsm_client_sync sends everything at once).
 * Returns 0 (queued for sending), WSM_E_CLOSED, WSM_E_NOMEM, WSM_E_USAGE (as wsm_enqueue:
 * nothing is sent, errstr names the member). */
int wsm_enqueue_nowait(wsm_client *c, const char *queue, const cJSON *args,
                       const wsm_enqueue_opts *o);
/* Waits until every reply to *_nowait requests has arrived (timeout seconds, 0 = none).
 * *n_failed (may be NULL) gets the number of refused requests. Returns 0, WSM_E_TIMEOUT or
 * WSM_E_CLOSED. */
int wsm_client_sync(wsm_client *c, double timeout, size_t *n_failed);
/* Waits until the job (tree = true: its whole tree) has ended, at most timeout seconds (0 = no
 * limit). On 0 *job_out (may be NULL) receives the job as in `query job` (caller frees).
 * Returns 0, WSM_E_TIMEOUT, WSM_E_NO_SUCH_JOB, WSM_E_CLOSED. */
int wsm_wait(wsm_client *c, const char *job_id, bool tree, double timeout, cJSON **job_out);
/* Request/reply: enqueue + wait for that job. On 0 *value_out (may be NULL) receives the
 * result value (JSON null if none; caller frees). A job that ended failed returns
 * WSM_E_BAD_STATE with errstr "job ID failed: TYPE: MESSAGE". */
int wsm_request(wsm_client *c, const char *queue, const cJSON *args, const wsm_enqueue_opts *o,
                double timeout, cJSON **value_out);
/* query (protocol §6.12): what = hub|queues|workers|job|tree|registry|children; fields (may be
 * NULL) is an object whose members are added to the request (job_id, queue, registry, offset,
 * limit, search, descendants, status). On 0 *result_out receives the reply's `result`
 * (caller frees). */
int wsm_query(wsm_client *c, const char *what, const cJSON *fields, cJSON **result_out);
/* Options of wsm_query_children; a zeroed struct (or NULL) = direct children, first page. */
typedef struct wsm_children_opts {
    bool descendants;   /* every job below job_id at any depth, not only its direct children */
    const char *status; /* only jobs in this status ("failed", "queued", ...); NULL = all */
    int64_t offset;     /* >= 0: where the page starts (the previous page's next_offset) */
    int64_t limit;      /* 1..1000 jobs per page; 0 = the hub's default (100) */
} wsm_children_opts;
/* One page of the jobs below job_id in its tree (query what=children, protocol §6.12), in
 * the order they joined the tree. On 0 *page_out receives {job_id, total, offset,
 * next_offset (only when more follow), jobs: [{job_id, queue, status, attempt, key, parent,
 * enqueued_at, started_at, ended_at, reason, error_type}]}, owned by the caller (cJSON_Delete).
 * The hub may list fewer than limit jobs to keep its reply below its header limit: go on with
 * next_offset, not offset + limit. On any error *page_out is NULL.
 * Returns 0; WSM_E_USAGE (c, job_id or page_out NULL, offset < 0, limit outside 0..1000);
 * WSM_E_NO_SUCH_JOB (unknown or purged job); WSM_E_BAD_FIELD (status is not a status name);
 * WSM_E_FORBIDDEN (the token may not query every queue of the job's tree); WSM_E_NOMEM;
 * WSM_E_CLOSED or WSM_E_TIMEOUT (no reply within connect_timeout). errstr = the hub's
 * message or the reason. */
int wsm_query_children(wsm_client *c, const char *job_id, const wsm_children_opts *o,
                       cJSON **page_out);
/* Admin ops (§6.13): op = requeue|cancel|empty|pause|resume; job_id or queue (+ all for
 * requeue --all). On 0 *count (may be NULL) gets the number of jobs affected. */
int wsm_admin(wsm_client *c, const char *op, const char *job_id, const char *queue, bool all,
              int64_t *count);
/* Subscribes to topics (names; a trailing * is a prefix). Returns 0 or the hub's code. */
int wsm_subscribe(wsm_client *c, const char *const *topics, size_t n);
/* Waits up to timeout seconds (0 = forever) for the next `event`; on 0 *event_out receives its
 * header {topic, data, seq, ...} (caller frees). Returns 0, WSM_E_TIMEOUT or WSM_E_CLOSED. */
int wsm_next_event(wsm_client *c, double timeout, cJSON **event_out);
/* Any request: hdr is borrowed and sent with a fresh "id" (its own id member is replaced) and
 * the payload; waits up to timeout seconds (0: connect_timeout) for the reply. On 0 *reply_out
 * (may be NULL) receives the whole `ok` header (caller frees). On an `error` reply returns its
 * code with errstr = the hub's message.
 * If no reply at all arrives in time (every blocking call: WSM_E_TIMEOUT with errstr "no reply
 * to OP from URL within Ns"), the client closes its session: later calls return the same error.
 * A `wait` that the hub itself ends with TIMEOUT leaves the client usable. */
int wsm_call(wsm_client *c, const cJSON *hdr, const void *payload, size_t len, double timeout,
             cJSON **reply_out);

/* ---- asynchronous variants (same client, same thread). Replies and events are delivered by
 * wsm_client_dispatch / wsm_client_sync (and by any blocking call) on the calling thread. */

/* Called once per asynchronous request: code 0 with the `ok` header, a protocol code with the
 * `error` header, or WSM_E_CLOSED with reply NULL when the connection ended first. reply is
 * borrowed (valid during the call). The callback may issue new requests. */
typedef void (*wsm_reply_cb)(int code, const cJSON *reply, void *ud);
/* Sends any request (as wsm_call) without waiting; cb (may be NULL) gets the reply.
 * Returns 0 (sent or queued), WSM_E_CLOSED, WSM_E_NOMEM, WSM_E_USAGE. */
int wsm_call_async(wsm_client *c, const cJSON *hdr, const void *payload, size_t len,
                   wsm_reply_cb cb, void *ud);
/* Enqueue without waiting; cb gets the `ok` (with job_id) or the error. Returns as above
 * (WSM_E_USAGE as wsm_enqueue: nothing is sent, cb is not called). */
int wsm_enqueue_async(wsm_client *c, const char *queue, const cJSON *args,
                      const wsm_enqueue_opts *o, wsm_reply_cb cb, void *ud);
/* Delivers events to cb (borrowed event header) instead of queueing them for
 * wsm_next_event; cb NULL restores queueing. */
void wsm_client_set_event_cb(wsm_client *c, void (*cb)(const cJSON *event, void *ud), void *ud);
/* Runs the client's loop for up to timeout seconds (0: until no asynchronous request is
 * outstanding), delivering replies and events. Returns 0, WSM_E_TIMEOUT (time ran out with
 * requests outstanding; with timeout > 0 and none outstanding it returns 0 after the time),
 * or WSM_E_CLOSED. */
int wsm_client_dispatch(wsm_client *c, double timeout);

#ifdef __cplusplus
}
#endif
#endif
