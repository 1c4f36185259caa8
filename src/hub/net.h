/*
 * net.h - the hub's network layer: libwebsockets on one libuv loop, connections and their
 * outbound queues, the protocol op handlers (ops.c), HTTP (http.c) and metrics (metrics.c).
 *
 * This header is internal to wshub: it declares the hub and connection structs shared by
 * net.c, ops.c, http.c, metrics.c and main.c. Everything runs on the loop thread except
 * store_batch_commit (a libuv work thread, one batch at a time).
 */
#ifndef HUB_NET_H
#define HUB_NET_H

#include "broker.h"
#include "config.h"
#include "metrics.h"
#include "store.h"
#include "wsm_frame.h"

#include <libwebsockets.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exit codes of wshub (docs/operations.md). */
enum {
    HUB_EXIT_OK = 0,      /* clean shutdown (also after a drain), --check passed, --help */
    HUB_EXIT_CONFIG = 1,  /* config invalid or unreadable (--check prints every error) */
    HUB_EXIT_USAGE = 2,   /* bad command line */
    HUB_EXIT_STARTUP = 3, /* could not listen, open the store or load it */
    HUB_EXIT_RUNTIME = 4, /* a fatal error while running (e.g. store write failed) */
};

typedef struct hub hub;
typedef struct conn conn;

/* One queued WebSocket message: LWS_PRE headroom, then protocol messages back to back. */
typedef struct out_chunk {
    struct out_chunk *next;
    wsm_buf b; /* b.len includes the LWS_PRE headroom */
} out_chunk;

/* A coalesced topic event waiting for a slow subscriber's buffer to drain. */
typedef struct co_event {
    char *topic;
    char *subject;
    char *data;
    size_t data_len;
    uint64_t order;
} co_event;

/* An ok reply held until the store has committed the change it acknowledges. */
typedef struct held_ack {
    struct held_ack *next;
    conn *c;
    uint64_t seq;
    char *text; /* one protocol message, header + '\n' (no payload) */
    size_t len;
} held_ack;

struct conn {
    struct lws *wsi;
    hub *h;
    conn *prev, *next; /* hub's connection list */
    broker_conn *bc;
    uint64_t session;
    char peer[64];
    char *name;
    bool hello_done;
    const hubcfg_token *tok; /* NULL with no tokens configured (= admin) */
    /* ACL: the last job dispatched to this connection and its queue (the emit check of a
     * producer that emits many outputs of one job needs no broker look-up) */
    char acl_job[BROKER_MAX_ID + 1];
    char acl_queue[72];
    char role[64];
    int64_t connected_at, last_rx_ms, last_ping_ms;
    int64_t start_ms; /* uv_now at ESTABLISHED (limits.hello_timeout) */
    uint64_t ping_seq;
    /* receive */
    wsm_buf rx;
    bool rx_discard; /* oversize message: drop the rest of it, then close 1009 */
    uint64_t rx_discarded;
    /* send */
    out_chunk *out_head, *out_tail;
    bool write_requested; /* lws_callback_on_writable asked, WRITEABLE not yet seen */
    size_t out_bytes;
    int64_t out_since; /* uv_now ms of the last write progress (or output becoming pending) */
    /* close */
    bool closing;
    bool close_forced;     /* output dropped after CLOSE_FORCE_MS of waiting to close */
    int64_t closing_since; /* uv_now when conn_close was called */
    int close_status;
    char close_reason[124];
    int errors;
    /* topics */
    char **subs;
    size_t n_subs;
    uint64_t event_seq;
    co_event *co;
    size_t n_co, cap_co;
    uint64_t co_order;
    size_t held_acks; /* held_ack entries pointing at this connection */
    /* requests answered later by the broker (held emits, waits): req -> request id */
    struct pend_req {
        uint64_t req;
        char *ref; /* NULL when the request had no id */
        bool emit;
    } * pend;
    size_t n_pend, cap_pend, n_pend_emits;
    uint64_t next_req;
    /* failed hellos are answered late (growing delay per peer address, protocol §4) */
    wsm_buf delayed; /* error headers, one per line, to send at delay_until */
    int64_t delay_until;
};

/* Failed hellos per peer address (a small table; the oldest entry is reused). */
#define HUB_AUTH_PEERS 64
typedef struct auth_fail {
    char peer[64];
    int fails;
    int64_t last_ms;
} auth_fail;

struct hub {
    hubcfg *cfg;
    uv_loop_t loop;
    struct lws_context *ctx;
    struct lws_protocols protocols[3]; /* http, wsmesh.v1, terminator */
    struct lws_context *ctx_alive;     /* set to NULL by lws when fully destroyed */
    broker *b;
    store *st;
    int port; /* the bound port */
    int64_t started_ms;
    int64_t wall_base, uv_base, last_now; /* hub_now(): cached loop clock */
    uint64_t next_session;
    conn *conns;
    size_t n_conns;
    hub_metrics m;
    /* loop machinery */
    uv_timer_t deadline_timer;
    int64_t deadline_armed; /* the broker deadline the timer is armed for, -1 none */
    uv_timer_t house_timer; /* heartbeat pings, idle timeouts, stats topic */
    int64_t last_stats_ms;
    uv_prepare_t turn; /* once per loop turn: store batches, progress, timer re-arm */
    uv_signal_t sigint, sigterm;
    uv_timer_t drain_timer;
    bool handles_open, loop_inited, loop_unusable;
    /* store */
    store_batch *committing;
    uv_work_t work;
    int commit_rc;
    wsm_err commit_err;
    uint64_t committed_seq;
    held_ack *held_head, *held_tail;
    /* drain / shutdown */
    bool draining, shutting_down;
    int exit_code;
    /* topic bookkeeping */
    bool topic_events, topic_progress;
    auth_fail auth_fails[HUB_AUTH_PEERS];
    /* Origins allowed to open a WebSocket (normalised, see hubcfg_origin_normalize): the
     * config's http.allowed_origins, or by default the hub's own origin(s), computed once the
     * port is bound. A request without an Origin header (not a browser) is always allowed. */
    char **origins;
    size_t n_origins;
    /* scratch for building headers */
    wsm_buf scratch;
};

/* ---- net.c */
/* Creates the hub: broker, store (loaded), lws context on a fresh uv loop, listening.
 * port_override >= 0 replaces listen.port (0 = a free port). Takes ownership of cfg.
 * Returns NULL and fills err (exit code HUB_EXIT_STARTUP) on failure. */
hub *hub_new(hubcfg *cfg, int port_override, wsm_err *err);
/* True if a WebSocket upgrade carrying Origin header value `origin` (n bytes) may proceed. */
bool hub_origin_allowed(const hub *h, const char *origin, size_t n);
/* Checks the Origin header of WebSocket upgrade request wsi; logs and counts a refusal.
 * Returns true if the upgrade may proceed (no Origin header, or an allowed one). */
bool hub_upgrade_origin_ok(hub *h, struct lws *wsi);
/* Runs the loop until shutdown; returns the exit code. */
int hub_run(hub *h);
/* Frees everything (after hub_run). Accepts NULL. */
void hub_free(hub *h);
/* Starts a graceful drain (SIGINT/SIGTERM). */
void hub_drain(hub *h);

/* Unix ms from the loop's cached clock (monotonic non-decreasing). */
int64_t hub_now(hub *h);

/* Appends one protocol message (header text without len, payload) to c's outbound queue
 * (sent in binary frames whatever the payload's content type). Borrows hdr and payload for
 * the call. Returns 0 or WSM_E_NOMEM. */
int conn_send(conn *c, const char *hdr, size_t hdr_n, const void *payload, size_t n);
/* Sends {op:error, code, message, ref} and counts the error; closes 1008 after
 * limits.max_errors. ref may be NULL. */
void conn_error(conn *c, int code, const char *msg, const char *ref);
/* A failed hello: the UNAUTHORIZED error is sent after a delay that grows with the peer
 * address's recent failures (100 ms doubling up to 3.2 s; forgotten after 10 minutes). */
void conn_auth_failed(conn *c, const char *msg, const char *ref);
/* A successful hello: forgets the peer's failures. */
void conn_auth_ok(conn *c);
/* Closes the connection with a WebSocket close status and reason once the queued output has
 * been written (at once, dropping it, when drop_output). */
void conn_close(conn *c, int status, const char *reason, bool drop_output);
/* Sends `ok` (fields: extra JSON members text without braces, may be NULL) for request id
 * ref (no reply when ref is NULL); held until durable when the broker changed. */
void conn_ok(conn *c, const char *ref, const char *extra);
/* Publishes a topic event to every subscriber (coalesced per (topic, subject) for slow
 * ones). data: JSON text; payload may be NULL. */
void hub_publish(hub *h, const char *topic, const char *subject, const char *data, size_t data_len,
                 const void *payload, size_t n, const char *ct);
/* Recomputes which broker topics are enabled from the subscriptions. */
void hub_topics_update(hub *h);
/* True if some connection subscribes to topic. */
bool hub_has_subscriber(hub *h, const char *topic);
/* Appends s as a JSON string literal (quoted, escaped) to b. 0 or NOMEM. */
int json_quote(wsm_buf *b, const char *s);

/* ---- ops.c */
/* Handles one decoded protocol message from c. */
void ops_handle(conn *c, wsm_msg *m);
/* broker callbacks */
void ops_on_dispatch(void *user, void *conn_user, const broker_dispatch *job);
void ops_on_stop(void *user, void *conn_user, const char *job_id, int attempt, const char *reason);
void ops_on_emit_done(void *user, void *conn_user, uint64_t req, int code, const char *job_id,
                      const char *status, const char *message);
void ops_on_wait_done(void *user, void *conn_user, uint64_t req, int code, const cJSON *job);
void ops_on_event(void *user, const char *topic, const char *subject, const char *data,
                  size_t data_len);
/* Publishes the `stats` topic now. */
void ops_publish_stats(hub *h);
/* Publishes a `workers` topic event for c ("connected", "disconnected", "consuming"). */
void ops_publish_worker(hub *h, conn *c, const char *what);

/* ---- http.c */
/* The lws callback of protocols[0] (HTTP: /healthz, /metrics, static files). */
int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len);
/* Size of the per-session HTTP struct. */
size_t http_pss_size(void);

#ifdef __cplusplus
}
#endif
#endif
