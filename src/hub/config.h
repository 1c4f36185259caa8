/*
 * config.h - mesh.json: the hub's configuration, loaded and validated in one pass.
 *
 * The loader checks everything it can and collects EVERY error (not just the first), each
 * naming its JSON path: "queues.aeb.max_length: expected integer >= 1". Unknown keys are
 * errors. schemas/mesh.schema.json describes the same document; docs/operations.md is the
 * reference for every key and its default.
 *
 * Relative paths in the file (store.path, http.web_root) are resolved against the config's
 * "base dir": the parent of the directory holding the config file (config/mesh.json ->
 * the project root), or the current directory for a config given as a string.
 */
#ifndef HUB_CONFIG_H
#define HUB_CONFIG_H

#include "wsm_common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Job options that a queue (or a route) applies to jobs that do not set them. A value < 0
 * means "not set here" (use the next level's default); 0 means "none" for timeout and ttl. */
typedef struct hubcfg_jobopts {
    double timeout;     /* s; max run time of an attempt */
    double ttl;         /* s; max time waiting before it starts */
    double result_ttl;  /* s; how long a finished job is kept */
    double failure_ttl; /* s; how long a failed/expired/canceled job is kept */
    int retry_max;      /* -1 = not set */
    double *retry_intervals;
    size_t n_retry_intervals;
} hubcfg_jobopts;

typedef struct hubcfg_queue {
    char *name;
    int64_t max_length;
    bool paused; /* start paused */
    hubcfg_jobopts defaults;
} hubcfg_queue;

/* (from_queue, output) -> to_queue; output "result" routes a job's result. */
typedef struct hubcfg_route {
    char *from_queue;
    char *output;
    char *to_queue;
    hubcfg_jobopts defaults; /* overrides of the target queue's defaults for routed jobs */
} hubcfg_route;

/* ACL categories of a token (docs/operations.md, Security). Each op belongs to at most one:
 * consume = consume (+ credit, release, progress, result, fail on jobs leased by it),
 * produce = enqueue, emit (target: the routed queue) and publish (target: the topic),
 * subscribe = subscribe/unsubscribe (target: topic or prefix pattern), query = query and
 * wait (target: the queue concerned), admin = requeue, cancel, empty, pause, resume. */
enum {
    HUBCFG_ACL_CONSUME,
    HUBCFG_ACL_PRODUCE,
    HUBCFG_ACL_SUBSCRIBE,
    HUBCFG_ACL_QUERY,
    HUBCFG_ACL_ADMIN,
    HUBCFG_ACL_COUNT
};

typedef struct hubcfg_token {
    char *name;
    char *token;              /* the secret: NEVER log it (log `fingerprint`) */
    unsigned char digest[32]; /* SHA-256 of token: compared in constant time */
    char fingerprint[9];      /* first 4 bytes of the SHA-256, hex: safe to log */
    char *role;               /* welcome.role: "admin", a preset or the given name */
    bool admin;               /* role "admin": every op on everything */
    char **ops;               /* legacy "ops": op names allowed on every target */
    size_t n_ops;
    bool has_acl;                 /* "acl" given, or a preset role other than admin */
    char **acl[HUBCFG_ACL_COUNT]; /* per category: name patterns ('*' = any run of chars) */
    size_t n_acl[HUBCFG_ACL_COUNT];
} hubcfg_token;

typedef struct hubcfg_service {
    char *name;
    char *exec;
    char **args;
    size_t n_args;
    int64_t instances;
    char **env; /* "KEY=VALUE" strings */
    size_t n_env;
    char *restart; /* "always" | "on-failure" | "never" */
} hubcfg_service;

typedef struct hubcfg_limits {
    int64_t max_message_bytes;
    int64_t max_header_bytes;
    int64_t max_http_header_bytes;
    int64_t max_connections;
    int64_t send_buffer_bytes;       /* per connection: above it = slow consumer, close 1013 */
    int64_t subscriber_buffer_bytes; /* above it, topic events are coalesced */
    int64_t max_errors;              /* protocol errors before close 1008 */
    double idle_timeout;             /* s without any message before close */
    double heartbeat;                /* s between the hub's pings */
    int64_t emit_window;
    double drain_timeout; /* s to let leased jobs finish on SIGINT/SIGTERM */
    double hello_timeout; /* s a connection may stay without a successful hello */
    bool deflate;         /* permessage-deflate */
} hubcfg_limits;

typedef struct hubcfg_retention {
    double result_ttl;
    double failure_ttl;
    double emitted_result_ttl;
    double emitted_failure_ttl;
    int64_t registry_cap;
    double tree_ttl; /* s an ended tree's bookkeeping (emit dedup) is kept */
} hubcfg_retention;

typedef struct hubcfg {
    char *base_dir; /* absolute; relative paths are resolved against it */
    char *address;
    int64_t port;
    char *tls_cert; /* absolute paths; NULL = plain ws:// (listen.tls absent) */
    char *tls_key;
    char *tls_ca; /* optional: clients must present a certificate signed by it */
    hubcfg_queue *queues;
    size_t n_queues;
    hubcfg_route *routes;
    size_t n_routes;
    double stats_interval;
    char **user_topics;
    size_t n_user_topics;
    bool strict_topics; /* true: publish/subscribe only to declared user topics */
    hubcfg_limits limits;
    hubcfg_retention retention;
    bool sqlite;            /* store.type == "sqlite" */
    char *store_path;       /* absolute, sqlite only */
    int64_t store_batch_ms; /* max time an enqueue waits for its batch commit */
    wsm_log_level log_level;
    char *web_root; /* absolute; NULL when http.static is false */
    /* http.allowed_origins: normalised "scheme://host[:port]" or "*"; origins_set false =
     * the default (the hub's own listen origin(s), computed once the port is bound) */
    char **allowed_origins;
    size_t n_allowed_origins;
    bool origins_set;
    hubcfg_token *tokens;
    size_t n_tokens;
    hubcfg_service *services;
    size_t n_services;
} hubcfg;

/* A list of error messages, each "json.path: what is wrong". */
typedef struct hubcfg_errors {
    char **msgs;
    size_t n;
} hubcfg_errors;

/* Loads and validates the config file at path. On success returns a new hubcfg (free with
 * hubcfg_free) and leaves errs empty; on failure returns NULL and fills errs with every
 * error found (free with hubcfg_errors_free). Never crashes on any input. */
hubcfg *hubcfg_load_file(const char *path, hubcfg_errors *errs);

/* Same for a config given as text (n bytes). base_dir resolves relative paths (NULL = the
 * current directory). */
hubcfg *hubcfg_load_text(const char *text, size_t n, const char *base_dir, hubcfg_errors *errs);

/* Frees a config; accepts NULL. */
void hubcfg_free(hubcfg *c);
/* Frees the messages and empties the list; accepts NULL. */
void hubcfg_errors_free(hubcfg_errors *e);

/* Finds a queue by name; NULL if not declared. Borrowed. */
const hubcfg_queue *hubcfg_queue_find(const hubcfg *c, const char *name);
/* Finds the route of (queue, output); NULL if none. Borrowed. */
const hubcfg_route *hubcfg_route_find(const hubcfg *c, const char *queue, const char *output);
/* Finds the token entry matching tok: SHA-256 digests compared in constant time over every
 * configured token (no early exit, no length leak); NULL if none. Borrowed. */
const hubcfg_token *hubcfg_token_find(const hubcfg *c, const char *tok);
/* The ACL category of an op (HUBCFG_ACL_*), or -1 for ops every session may use (hello,
 * ping, pong) and unknown names. */
int hubcfg_op_category(const char *op);
/* True if token entry t (NULL = no tokens configured: everyone is admin) may use op on some
 * target (the op-level check done before the op's fields are read). */
bool hubcfg_token_allows(const hubcfg_token *t, const char *op);
/* True if t may use category cat on the queue/topic `name` (a subscription may be a prefix
 * pattern "x*": allowed only if every name it covers is allowed). NULL t, admin and legacy
 * "ops" tokens are not restricted by target. */
bool hubcfg_token_allows_on(const hubcfg_token *t, int cat, const char *name);
/* True if t may use category cat on every target (admin, legacy ops, or a "*" pattern):
 * callers skip target look-ups then. */
bool hubcfg_token_unrestricted(const hubcfg_token *t, int cat);
/* Glob match of name against pattern, where '*' matches any run of characters (also
 * empty) and every other character itself. */
bool hubcfg_glob_match(const char *pattern, const char *name);
/* True if addr is a loopback address or "localhost" (127.0.0.0/8, ::1). */
bool hubcfg_is_loopback(const char *addr);
/* Normalises an origin "scheme://host[:port]" (lower-case scheme and host, no trailing '/',
 * default port removed) into out. Returns 0, or -1 if it is not such an origin. */
int hubcfg_origin_normalize(const char *in, size_t n, char *out, size_t out_n);

#ifdef __cplusplus
}
#endif
#endif
