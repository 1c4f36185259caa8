/*
 * config.c - loading and validating mesh.json (see config.h, schemas/mesh.schema.json and
 * docs/operations.md).
 *
 * Invariants: validation never stops at the first problem — every reader records its error
 * in the error list and the loader carries on with a default, so `wshub --check` prints all
 * of them; a config is returned only when the list is empty. Every message starts with the
 * JSON path of the offending value. Defaults live in one place (cfg_defaults).
 */
#include "config.h"
#include "wsm_frame.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DURATION 1e9 /* s: ~31 years, big enough for "forever" */

typedef struct ld {
    hubcfg_errors *errs;
    hubcfg *c;
} ld;

static void err_add(ld *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void err_add(ld *l, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *s = strdup(buf);
    char **n = realloc(l->errs->msgs, (l->errs->n + 1) * sizeof *n);
    if (!s || !n) {
        free(s);
        if (n)
            l->errs->msgs = n;
        return;
    }
    l->errs->msgs = n;
    n[l->errs->n++] = s;
}

static void err_take(ld *l, const wsm_err *e)
{
    err_add(l, "%s", e->msg);
}

static char *xstrdup(ld *l, const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        err_add(l, "out of memory");
    return d;
}

static char *join_path(const char *path, const char *key, char *out, size_t n)
{
    snprintf(out, n, "%s%s%s", path && *path ? path : "", path && *path ? "." : "", key);
    return out;
}

/* Reports every member of obj not in known. */
static void check_keys(ld *l, const cJSON *obj, const char *path, const char *const *known)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, obj)
    {
        bool ok = false;
        for (const char *const *k = known; *k && !ok; k++)
            ok = c->string && strcmp(c->string, *k) == 0;
        if (!ok)
            err_add(l, "%s%s%s: unknown key", path && *path ? path : "", path && *path ? "." : "",
                    c->string ? c->string : "?");
    }
}

static void rd_int(ld *l, const cJSON *o, const char *path, const char *key, int64_t min,
                   int64_t max, int64_t *out)
{
    wsm_err e;
    if (wsm_json_int(o, path, key, false, min, max, out, &e) < 0)
        err_take(l, &e);
}

static void rd_num(ld *l, const cJSON *o, const char *path, const char *key, double min, double max,
                   double *out)
{
    wsm_err e;
    double d;
    int rc = wsm_json_num(o, path, key, false, min, max, &d, &e);
    if (rc < 0) {
        /* a friendlier message than "number in [0, 1e+09]" for durations */
        char p[256];
        if (min == 0 && max == MAX_DURATION)
            err_add(l, "%s: expected number of seconds >= 0", join_path(path, key, p, sizeof p));
        else
            err_take(l, &e);
    } else if (rc > 0) {
        *out = d;
    }
}

static void rd_bool(ld *l, const cJSON *o, const char *path, const char *key, bool *out)
{
    wsm_err e;
    if (wsm_json_bool(o, path, key, false, out, &e) < 0)
        err_take(l, &e);
}

/* Returns the borrowed string or NULL (absent or error, which is recorded). */
static const char *rd_str(ld *l, const cJSON *o, const char *path, const char *key, bool req)
{
    wsm_err e;
    const char *s = NULL;
    if (wsm_json_str(o, path, key, req, &s, &e) < 0)
        err_take(l, &e);
    return s;
}

static const cJSON *rd_obj(ld *l, const cJSON *o, const char *path, const char *key)
{
    wsm_err e;
    const cJSON *v = NULL;
    if (wsm_json_obj(o, path, key, false, &v, &e) < 0)
        err_take(l, &e);
    return v;
}

static const cJSON *rd_arr(ld *l, const cJSON *o, const char *path, const char *key, bool req)
{
    wsm_err e;
    const cJSON *v = NULL;
    if (wsm_json_arr(o, path, key, req, &v, &e) < 0)
        err_take(l, &e);
    return v;
}

/* Reads an array of strings into a NULL-free malloc'd vector. */
static char **rd_strv(ld *l, const cJSON *arr, const char *path, size_t *n_out)
{
    *n_out = 0;
    int n = cJSON_GetArraySize(arr);
    if (n <= 0)
        return NULL;
    char **v = calloc((size_t)n, sizeof *v);
    if (!v) {
        err_add(l, "out of memory");
        return NULL;
    }
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it))
            err_add(l, "%s[%d]: expected string", path, i);
        else
            v[(*n_out)++] = xstrdup(l, it->valuestring);
        i++;
    }
    return v;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Queue names: 1-64 of [A-Za-z0-9._-] (no ':' — routes use "queue:output"). */
static bool valid_name(const char *s, size_t maxlen)
{
    size_t n = strlen(s);
    if (n == 0 || n > maxlen)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

static void jobopts_init(hubcfg_jobopts *o)
{
    memset(o, 0, sizeof *o);
    o->timeout = o->ttl = o->result_ttl = o->failure_ttl = -1;
    o->retry_max = -1;
}

static void jobopts_free(hubcfg_jobopts *o)
{
    free(o->retry_intervals);
    o->retry_intervals = NULL;
    o->n_retry_intervals = 0;
}

static void rd_jobopts(ld *l, const cJSON *o, const char *path, hubcfg_jobopts *out)
{
    static const char *const keys[] = {"timeout",     "ttl",   "result_ttl",
                                       "failure_ttl", "retry", NULL};
    check_keys(l, o, path, keys);
    rd_num(l, o, path, "timeout", 0, MAX_DURATION, &out->timeout);
    rd_num(l, o, path, "ttl", 0, MAX_DURATION, &out->ttl);
    rd_num(l, o, path, "result_ttl", 0, MAX_DURATION, &out->result_ttl);
    rd_num(l, o, path, "failure_ttl", 0, MAX_DURATION, &out->failure_ttl);
    char rp[256];
    join_path(path, "retry", rp, sizeof rp);
    const cJSON *r = rd_obj(l, o, path, "retry");
    if (!r)
        return;
    static const char *const rkeys[] = {"max", "intervals", NULL};
    check_keys(l, r, rp, rkeys);
    int64_t max = 0;
    wsm_err e;
    if (wsm_json_int(r, rp, "max", true, 0, 1000, &max, &e) < 0)
        err_take(l, &e);
    out->retry_max = (int)max;
    const cJSON *iv = rd_arr(l, r, rp, "intervals", false);
    if (!iv)
        return;
    int n = cJSON_GetArraySize(iv);
    if (n <= 0)
        return;
    out->retry_intervals = calloc((size_t)n, sizeof(double));
    if (!out->retry_intervals) {
        err_add(l, "out of memory");
        return;
    }
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, iv)
    {
        if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0) || it->valuedouble > MAX_DURATION)
            err_add(l, "%s.intervals[%d]: expected number of seconds >= 0", rp, i);
        else
            out->retry_intervals[out->n_retry_intervals++] = it->valuedouble;
        i++;
    }
}

static void rd_listen(ld *l, const cJSON *root)
{
    const cJSON *o = rd_obj(l, root, "", "listen");
    if (!o)
        return;
    static const char *const keys[] = {"address", "port", NULL};
    check_keys(l, o, "listen", keys);
    const char *a = rd_str(l, o, "listen", "address", false);
    if (a) {
        if (!*a || strlen(a) > 255)
            err_add(l, "listen.address: expected a host name or IP address");
        else {
            free(l->c->address);
            l->c->address = xstrdup(l, a);
        }
    }
    rd_int(l, o, "listen", "port", 0, 65535, &l->c->port);
}

static void rd_queues(ld *l, const cJSON *root)
{
    const cJSON *o = rd_obj(l, root, "", "queues");
    if (!o)
        return;
    int n = cJSON_GetArraySize(o);
    if (n <= 0)
        return;
    l->c->queues = calloc((size_t)n, sizeof *l->c->queues);
    if (!l->c->queues) {
        err_add(l, "out of memory");
        return;
    }
    const cJSON *q;
    cJSON_ArrayForEach(q, o)
    {
        char path[256];
        snprintf(path, sizeof path, "queues.%s", q->string);
        if (!valid_name(q->string, 64)) {
            err_add(l, "%s: queue name must be 1-64 characters of [A-Za-z0-9._-]", path);
            continue;
        }
        if (!cJSON_IsObject(q)) {
            err_add(l, "%s: expected object", path);
            continue;
        }
        static const char *const keys[] = {"max_length", "paused", "defaults", "description", NULL};
        check_keys(l, q, path, keys);
        hubcfg_queue *qq = &l->c->queues[l->c->n_queues++];
        qq->name = xstrdup(l, q->string);
        qq->max_length = 100000;
        jobopts_init(&qq->defaults);
        rd_int(l, q, path, "max_length", 1, INT32_MAX, &qq->max_length);
        rd_bool(l, q, path, "paused", &qq->paused);
        (void)rd_str(l, q, path, "description", false);
        const cJSON *d = rd_obj(l, q, path, "defaults");
        if (d) {
            char dp[300];
            snprintf(dp, sizeof dp, "%s.defaults", path);
            rd_jobopts(l, d, dp, &qq->defaults);
        }
    }
}

static void rd_routes(ld *l, const cJSON *root)
{
    const cJSON *o = rd_obj(l, root, "", "routes");
    if (!o)
        return;
    int n = cJSON_GetArraySize(o);
    if (n <= 0)
        return;
    l->c->routes = calloc((size_t)n, sizeof *l->c->routes);
    if (!l->c->routes) {
        err_add(l, "out of memory");
        return;
    }
    const cJSON *r;
    cJSON_ArrayForEach(r, o)
    {
        char path[256];
        snprintf(path, sizeof path, "routes.%s", r->string);
        const char *colon = strchr(r->string, ':');
        if (!colon || colon == r->string || !colon[1] || strchr(colon + 1, ':')) {
            err_add(l, "%s: expected a key of the form \"queue:output\"", path);
            continue;
        }
        char from[128], output[128];
        size_t fl = (size_t)(colon - r->string);
        if (fl >= sizeof from || strlen(colon + 1) >= sizeof output) {
            err_add(l, "%s: queue or output name too long", path);
            continue;
        }
        memcpy(from, r->string, fl);
        from[fl] = 0;
        snprintf(output, sizeof output, "%s", colon + 1);
        if (!valid_name(output, 64)) {
            err_add(l, "%s: output name must be 1-64 characters of [A-Za-z0-9._-]", path);
            continue;
        }
        const char *to = NULL;
        hubcfg_jobopts opts;
        jobopts_init(&opts);
        if (cJSON_IsString(r)) {
            to = r->valuestring;
        } else if (cJSON_IsObject(r)) {
            static const char *const keys[] = {"to", "defaults", NULL};
            check_keys(l, r, path, keys);
            to = rd_str(l, r, path, "to", true);
            const cJSON *d = rd_obj(l, r, path, "defaults");
            if (d) {
                char dp[300];
                snprintf(dp, sizeof dp, "%s.defaults", path);
                rd_jobopts(l, d, dp, &opts);
            }
        } else {
            err_add(l, "%s: expected a queue name or {\"to\": queue, \"defaults\": {...}}", path);
            continue;
        }
        if (!to) {
            jobopts_free(&opts);
            continue;
        }
        if (!hubcfg_queue_find(l->c, from))
            err_add(l, "%s: queue '%s' is not declared in queues", path, from);
        if (!hubcfg_queue_find(l->c, to))
            err_add(l, "%s: target queue '%s' is not declared in queues", path, to);
        hubcfg_route *rr = &l->c->routes[l->c->n_routes++];
        rr->from_queue = xstrdup(l, from);
        rr->output = xstrdup(l, output);
        rr->to_queue = xstrdup(l, to);
        rr->defaults = opts;
    }
}

static const char *const builtin_topics[] = {"progress", "events", "stats", "workers", NULL};

static void rd_topics(ld *l, const cJSON *root)
{
    const cJSON *o = rd_obj(l, root, "", "topics");
    if (!o)
        return;
    static const char *const keys[] = {"stats_interval", "user", "strict", NULL};
    check_keys(l, o, "topics", keys);
    rd_num(l, o, "topics", "stats_interval", 0.05, 3600, &l->c->stats_interval);
    rd_bool(l, o, "topics", "strict", &l->c->strict_topics);
    const cJSON *u = rd_arr(l, o, "topics", "user", false);
    if (!u)
        return;
    l->c->user_topics = rd_strv(l, u, "topics.user", &l->c->n_user_topics);
    for (size_t i = 0; i < l->c->n_user_topics; i++) {
        const char *t = l->c->user_topics[i];
        if (!valid_name(t, 128))
            err_add(l, "topics.user[%zu]: topic name must be 1-128 characters of [A-Za-z0-9._-]",
                    i);
        for (const char *const *b = builtin_topics; *b; b++)
            if (strcmp(*b, t) == 0)
                err_add(l, "topics.user[%zu]: '%s' is a built-in topic", i, t);
    }
}

static void rd_limits(ld *l, const cJSON *root)
{
    const cJSON *o = rd_obj(l, root, "", "limits");
    if (!o)
        return;
    static const char *const keys[] = {"max_message_bytes",
                                       "max_header_bytes",
                                       "max_http_header_bytes",
                                       "max_connections",
                                       "send_buffer_bytes",
                                       "subscriber_buffer_bytes",
                                       "max_errors",
                                       "idle_timeout",
                                       "heartbeat",
                                       "emit_window",
                                       "drain_timeout",
                                       "deflate",
                                       NULL};
    check_keys(l, o, "limits", keys);
    hubcfg_limits *x = &l->c->limits;
    rd_int(l, o, "limits", "max_message_bytes", 1024, (int64_t)1 << 31, &x->max_message_bytes);
    rd_int(l, o, "limits", "max_header_bytes", 256, 16 << 20, &x->max_header_bytes);
    rd_int(l, o, "limits", "max_http_header_bytes", 1024, 65535, &x->max_http_header_bytes);
    rd_int(l, o, "limits", "max_connections", 1, 1000000, &x->max_connections);
    rd_int(l, o, "limits", "send_buffer_bytes", 65536, (int64_t)1 << 34, &x->send_buffer_bytes);
    rd_int(l, o, "limits", "subscriber_buffer_bytes", 1024, (int64_t)1 << 32,
           &x->subscriber_buffer_bytes);
    rd_int(l, o, "limits", "max_errors", 1, 1000000, &x->max_errors);
    rd_num(l, o, "limits", "idle_timeout", 1, 86400, &x->idle_timeout);
    rd_num(l, o, "limits", "heartbeat", 0.1, 3600, &x->heartbeat);
    rd_int(l, o, "limits", "emit_window", 1, 1000000, &x->emit_window);
    rd_num(l, o, "limits", "drain_timeout", 0, 86400, &x->drain_timeout);
    rd_bool(l, o, "limits", "deflate", &x->deflate);
    if (x->max_header_bytes > x->max_message_bytes)
        err_add(l, "limits.max_header_bytes: must not exceed limits.max_message_bytes");
    if (x->heartbeat >= x->idle_timeout)
        err_add(l, "limits.heartbeat: must be smaller than limits.idle_timeout");
}

static void rd_retention(ld *l, const cJSON *root)
{
    const cJSON *o = rd_obj(l, root, "", "retention");
    if (!o)
        return;
    static const char *const keys[] = {
        "result_ttl", "failure_ttl", "emitted_result_ttl", "emitted_failure_ttl", "registry_cap",
        "tree_ttl",   NULL};
    check_keys(l, o, "retention", keys);
    hubcfg_retention *r = &l->c->retention;
    rd_num(l, o, "retention", "result_ttl", 0, MAX_DURATION, &r->result_ttl);
    rd_num(l, o, "retention", "failure_ttl", 0, MAX_DURATION, &r->failure_ttl);
    rd_num(l, o, "retention", "emitted_result_ttl", 0, MAX_DURATION, &r->emitted_result_ttl);
    rd_num(l, o, "retention", "emitted_failure_ttl", 0, MAX_DURATION, &r->emitted_failure_ttl);
    rd_num(l, o, "retention", "tree_ttl", 0, MAX_DURATION, &r->tree_ttl);
    rd_int(l, o, "retention", "registry_cap", 1, INT32_MAX, &r->registry_cap);
}

static char *resolve(ld *l, const char *p)
{
    if (p[0] == '/')
        return xstrdup(l, p);
    const char *rel = p;
    while (rel[0] == '.' && rel[1] == '/')
        rel += 2;
    size_t n = strlen(l->c->base_dir) + strlen(rel) + 2;
    char *s = malloc(n);
    if (!s) {
        err_add(l, "out of memory");
        return NULL;
    }
    if (!*rel || strcmp(rel, ".") == 0)
        snprintf(s, n, "%s", l->c->base_dir);
    else
        snprintf(s, n, "%s/%s", l->c->base_dir, rel);
    return s;
}

static void rd_store(ld *l, const cJSON *root)
{
    const cJSON *o = rd_obj(l, root, "", "store");
    if (!o)
        return;
    static const char *const keys[] = {"type", "path", "batch_ms", NULL};
    check_keys(l, o, "store", keys);
    const char *t = rd_str(l, o, "store", "type", true);
    const char *p = rd_str(l, o, "store", "path", false);
    rd_int(l, o, "store", "batch_ms", 0, 10000, &l->c->store_batch_ms);
    if (!t)
        return;
    if (strcmp(t, "memory") == 0) {
        l->c->sqlite = false;
        if (p)
            err_add(l, "store.path: only allowed with store.type \"sqlite\"");
    } else if (strcmp(t, "sqlite") == 0) {
        l->c->sqlite = true;
        if (!p)
            err_add(l, "store.path: required with store.type \"sqlite\"");
        else if (!*p)
            err_add(l, "store.path: expected a file path");
        else
            l->c->store_path = resolve(l, p);
    } else {
        err_add(l, "store.type: expected \"memory\" or \"sqlite\"");
    }
}

static void rd_logging(ld *l, const cJSON *root)
{
    const cJSON *o = rd_obj(l, root, "", "logging");
    if (!o)
        return;
    static const char *const keys[] = {"level", NULL};
    check_keys(l, o, "logging", keys);
    const char *lv = rd_str(l, o, "logging", "level", false);
    if (lv && wsm_log_parse_level(lv, &l->c->log_level) != 0)
        err_add(l, "logging.level: expected one of error, warn, info, debug, trace");
}

static void rd_http(ld *l, const cJSON *root)
{
    const cJSON *o = rd_obj(l, root, "", "http");
    bool st = true;
    const char *wr = NULL;
    if (o) {
        static const char *const keys[] = {"web_root", "static", NULL};
        check_keys(l, o, "http", keys);
        wr = rd_str(l, o, "http", "web_root", false);
        rd_bool(l, o, "http", "static", &st);
        if (wr && !*wr) {
            err_add(l, "http.web_root: expected a directory path");
            wr = NULL;
        }
    }
    free(l->c->web_root);
    l->c->web_root = st ? resolve(l, wr ? wr : "web") : NULL;
}

static bool known_op(const char *op)
{
    static const char *const ops[] = {
        "hello",   "ping",   "pong",    "enqueue",   "consume",     "credit",  "progress", "emit",
        "result",  "fail",   "release", "subscribe", "unsubscribe", "publish", "wait",     "query",
        "requeue", "cancel", "empty",   "pause",     "resume",      NULL};
    for (const char *const *o = ops; *o; o++)
        if (strcmp(*o, op) == 0)
            return true;
    return false;
}

static void rd_tokens(ld *l, const cJSON *root)
{
    const cJSON *a = rd_arr(l, root, "", "tokens", false);
    if (!a)
        return;
    int n = cJSON_GetArraySize(a);
    if (n <= 0)
        return;
    l->c->tokens = calloc((size_t)n, sizeof *l->c->tokens);
    if (!l->c->tokens) {
        err_add(l, "out of memory");
        return;
    }
    int i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, a)
    {
        char path[64];
        snprintf(path, sizeof path, "tokens[%d]", i++);
        if (!cJSON_IsObject(t)) {
            err_add(l, "%s: expected object", path);
            continue;
        }
        static const char *const keys[] = {"name", "token", "role", "ops", NULL};
        check_keys(l, t, path, keys);
        hubcfg_token *tt = &l->c->tokens[l->c->n_tokens++];
        const char *name = rd_str(l, t, path, "name", true);
        const char *tok = rd_str(l, t, path, "token", true);
        const char *role = rd_str(l, t, path, "role", false);
        const cJSON *ops = rd_arr(l, t, path, "ops", false);
        tt->name = xstrdup(l, name ? name : "");
        tt->token = xstrdup(l, tok ? tok : "");
        if (tok && strlen(tok) < 8)
            err_add(l, "%s.token: expected at least 8 characters", path);
        for (size_t k = 0; tok && k + 1 < l->c->n_tokens; k++)
            if (strcmp(l->c->tokens[k].token, tok) == 0)
                err_add(l, "%s.token: the same token is also tokens[%zu]", path, k);
        if (role && ops)
            err_add(l, "%s: give either role or ops, not both", path);
        else if (role) {
            if (strcmp(role, "admin") != 0)
                err_add(l, "%s.role: expected \"admin\" (or give \"ops\")", path);
            tt->admin = true;
        } else if (ops) {
            char op_path[80];
            snprintf(op_path, sizeof op_path, "%s.ops", path);
            tt->ops = rd_strv(l, ops, op_path, &tt->n_ops);
            for (size_t k = 0; k < tt->n_ops; k++)
                if (!known_op(tt->ops[k]))
                    err_add(l, "%s.ops[%zu]: unknown op '%s'", path, k, tt->ops[k]);
        } else {
            err_add(l, "%s: needs role (\"admin\") or ops (a list of allowed ops)", path);
        }
    }
}

static void rd_services(ld *l, const cJSON *root)
{
    const cJSON *a = rd_arr(l, root, "", "services", false);
    if (!a)
        return;
    int n = cJSON_GetArraySize(a);
    if (n <= 0)
        return;
    l->c->services = calloc((size_t)n, sizeof *l->c->services);
    if (!l->c->services) {
        err_add(l, "out of memory");
        return;
    }
    int i = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, a)
    {
        char path[64];
        snprintf(path, sizeof path, "services[%d]", i++);
        if (!cJSON_IsObject(s)) {
            err_add(l, "%s: expected object", path);
            continue;
        }
        static const char *const keys[] = {"name", "exec",    "args",        "instances",
                                           "env",  "restart", "description", NULL};
        check_keys(l, s, path, keys);
        (void)rd_str(l, s, path, "description", false);
        hubcfg_service *ss = &l->c->services[l->c->n_services++];
        const char *name = rd_str(l, s, path, "name", true);
        const char *ex = rd_str(l, s, path, "exec", true);
        ss->name = xstrdup(l, name ? name : "");
        ss->exec = xstrdup(l, ex ? ex : "");
        if (name && !valid_name(name, 64))
            err_add(l, "%s.name: expected 1-64 characters of [A-Za-z0-9._-]", path);
        if (ex && !*ex)
            err_add(l, "%s.exec: expected a program path", path);
        for (size_t k = 0; name && k + 1 < l->c->n_services; k++)
            if (strcmp(l->c->services[k].name, name) == 0)
                err_add(l, "%s.name: '%s' is also services[%zu]", path, name, k);
        const cJSON *args = rd_arr(l, s, path, "args", false);
        if (args) {
            char ap[80];
            snprintf(ap, sizeof ap, "%s.args", path);
            ss->args = rd_strv(l, args, ap, &ss->n_args);
        }
        ss->instances = 1;
        rd_int(l, s, path, "instances", 0, 1024, &ss->instances);
        const cJSON *env = rd_obj(l, s, path, "env");
        if (env) {
            int ne = cJSON_GetArraySize(env);
            ss->env = calloc((size_t)(ne > 0 ? ne : 1), sizeof(char *));
            const cJSON *e;
            cJSON_ArrayForEach(e, env)
            {
                if (!cJSON_IsString(e)) {
                    err_add(l, "%s.env.%s: expected string", path, e->string);
                    continue;
                }
                if (!*e->string || strchr(e->string, '=')) {
                    err_add(l, "%s.env.%s: invalid variable name", path, e->string);
                    continue;
                }
                size_t len = strlen(e->string) + strlen(e->valuestring) + 2;
                char *kv = malloc(len);
                if (!kv || !ss->env) {
                    free(kv);
                    err_add(l, "out of memory");
                    continue;
                }
                snprintf(kv, len, "%s=%s", e->string, e->valuestring);
                ss->env[ss->n_env++] = kv;
            }
        }
        const char *rs = rd_str(l, s, path, "restart", false);
        if (rs && strcmp(rs, "always") && strcmp(rs, "on-failure") && strcmp(rs, "never"))
            err_add(l, "%s.restart: expected \"always\", \"on-failure\" or \"never\"", path);
        ss->restart = xstrdup(l, rs ? rs : "on-failure");
    }
}

static void cfg_defaults(hubcfg *c)
{
    c->port = 7700;
    c->stats_interval = 1.0;
    c->limits = (hubcfg_limits){
        .max_message_bytes = 64 << 20,
        .max_header_bytes = WSM_MAX_HEADER_DEFAULT,
        .max_http_header_bytes = 8192,
        .max_connections = 1024,
        .send_buffer_bytes = 64 << 20,
        .subscriber_buffer_bytes = 1 << 20,
        .max_errors = 100,
        .idle_timeout = 60,
        .heartbeat = 15,
        .emit_window = 64,
        .drain_timeout = 30,
        .deflate = false,
    };
    c->retention = (hubcfg_retention){
        .result_ttl = 3600,
        .failure_ttl = 7 * 86400,
        .emitted_result_ttl = 60,
        .emitted_failure_ttl = 86400,
        .registry_cap = 10000,
        .tree_ttl = 3600,
    };
    c->store_batch_ms = 2;
    c->log_level = WSM_LOG_INFO;
}

hubcfg *hubcfg_load_text(const char *text, size_t n, const char *base_dir, hubcfg_errors *errs)
{
    errs->msgs = NULL;
    errs->n = 0;
    hubcfg *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    ld l = {errs, c};
    cfg_defaults(c);
    char cwd[PATH_MAX];
    if (!base_dir)
        base_dir = getcwd(cwd, sizeof cwd) ? cwd : ".";
    c->base_dir = xstrdup(&l, base_dir);
    c->address = xstrdup(&l, "127.0.0.1");

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    if (!root) {
        /* find line:column of the failure for the message */
        size_t at = end ? (size_t)(end - text) : 0, line = 1, col = 1;
        for (size_t i = 0; i < at && i < n; i++, col++)
            if (text[i] == '\n')
                line++, col = 0;
        err_add(&l, "(root): invalid JSON at line %zu, column %zu", line, col);
    } else if (!cJSON_IsObject(root)) {
        err_add(&l, "(root): expected object");
    } else {
        const char *p = end;
        while (p && p < text + n && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
            p++;
        if (p && p < text + n)
            err_add(&l, "(root): trailing bytes after the JSON object");
        static const char *const keys[] = {"$schema", "listen",    "queues", "routes",  "topics",
                                           "limits",  "retention", "store",  "logging", "http",
                                           "tokens",  "services",  NULL};
        check_keys(&l, root, "", keys);
        rd_listen(&l, root);
        rd_queues(&l, root);
        rd_routes(&l, root);
        rd_topics(&l, root);
        rd_limits(&l, root);
        rd_retention(&l, root);
        rd_store(&l, root);
        rd_logging(&l, root);
        rd_http(&l, root);
        rd_tokens(&l, root);
        rd_services(&l, root);
        (void)rd_str(&l, root, "", "$schema", false);
        if (c->n_queues == 0)
            err_add(&l, "queues: at least one queue must be declared");
    }
    cJSON_Delete(root);
    if (errs->n) {
        hubcfg_free(c);
        return NULL;
    }
    return c;
}

hubcfg *hubcfg_load_file(const char *path, hubcfg_errors *errs)
{
    errs->msgs = NULL;
    errs->n = 0;
    ld l = {errs, NULL};
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_add(&l, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 > cap) {
            if (cap > (64u << 20)) {
                err_add(&l, "%s: larger than 64 MiB", path);
                free(buf);
                fclose(f);
                return NULL;
            }
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                err_add(&l, "out of memory");
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    bool ioerr = ferror(f);
    fclose(f);
    if (ioerr) {
        free(buf);
        err_add(&l, "%s: read error", path);
        return NULL;
    }
    /* base dir: parent of the config file's directory */
    char *abs = realpath(path, NULL);
    char base[PATH_MAX];
    snprintf(base, sizeof base, "%s", abs ? abs : path);
    free(abs);
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(base, '/');
        if (slash && slash != base)
            *slash = 0;
        else if (slash)
            base[1] = 0;
        else
            snprintf(base, sizeof base, "%s", up ? ".." : ".");
    }
    hubcfg *c = hubcfg_load_text(buf ? buf : "", len, base, errs);
    free(buf);
    return c;
}

void hubcfg_free(hubcfg *c)
{
    if (!c)
        return;
    free(c->base_dir);
    free(c->address);
    for (size_t i = 0; i < c->n_queues; i++) {
        free(c->queues[i].name);
        jobopts_free(&c->queues[i].defaults);
    }
    free(c->queues);
    for (size_t i = 0; i < c->n_routes; i++) {
        free(c->routes[i].from_queue);
        free(c->routes[i].output);
        free(c->routes[i].to_queue);
        jobopts_free(&c->routes[i].defaults);
    }
    free(c->routes);
    strv_free(c->user_topics, c->n_user_topics);
    free(c->store_path);
    free(c->web_root);
    for (size_t i = 0; i < c->n_tokens; i++) {
        free(c->tokens[i].name);
        free(c->tokens[i].token);
        strv_free(c->tokens[i].ops, c->tokens[i].n_ops);
    }
    free(c->tokens);
    for (size_t i = 0; i < c->n_services; i++) {
        hubcfg_service *s = &c->services[i];
        free(s->name);
        free(s->exec);
        free(s->restart);
        strv_free(s->args, s->n_args);
        strv_free(s->env, s->n_env);
    }
    free(c->services);
    free(c);
}

void hubcfg_errors_free(hubcfg_errors *e)
{
    if (!e)
        return;
    strv_free(e->msgs, e->n);
    e->msgs = NULL;
    e->n = 0;
}

const hubcfg_queue *hubcfg_queue_find(const hubcfg *c, const char *name)
{
    for (size_t i = 0; name && i < c->n_queues; i++)
        if (c->queues[i].name && strcmp(c->queues[i].name, name) == 0)
            return &c->queues[i];
    return NULL;
}

const hubcfg_route *hubcfg_route_find(const hubcfg *c, const char *queue, const char *output)
{
    for (size_t i = 0; queue && output && i < c->n_routes; i++)
        if (strcmp(c->routes[i].from_queue, queue) == 0 && strcmp(c->routes[i].output, output) == 0)
            return &c->routes[i];
    return NULL;
}

static bool ct_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < la; i++)
        d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return d == 0;
}

const hubcfg_token *hubcfg_token_find(const hubcfg *c, const char *tok)
{
    const hubcfg_token *found = NULL;
    for (size_t i = 0; tok && i < c->n_tokens; i++)
        if (ct_equal(c->tokens[i].token, tok) && !found)
            found = &c->tokens[i];
    return found;
}

bool hubcfg_token_allows(const hubcfg_token *t, const char *op)
{
    if (!t || t->admin)
        return true;
    if (strcmp(op, "hello") == 0 || strcmp(op, "ping") == 0 || strcmp(op, "pong") == 0)
        return true;
    for (size_t i = 0; i < t->n_ops; i++)
        if (strcmp(t->ops[i], op) == 0)
            return true;
    return false;
}
