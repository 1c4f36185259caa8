/*
 * config.c - loading and validating mesh.json (see config.h, schemas/mesh.schema.json and
 * docs/operations.md).
 *
 * Invariants: validation never stops at the first problem — every reader records its error
 * in the error list and the loader carries on with a default, so `wshub --check` prints all
 * of them; a config is returned only when the list is empty. Every message starts with the
 * JSON path of the offending value. Defaults live in one place (cfg_defaults).
 *
 * Security invariants: a token's secret (given inline, by token_env or by token_file) never
 * appears in an error message or log line — only its name and a 4-byte SHA-256 fingerprint;
 * tokens are matched by comparing SHA-256 digests in constant time; a config that listens on
 * a non-loopback address without tokens is refused (every client would be admin).
 */
#include "config.h"
#include "wsm_frame.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <ctype.h>
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

/* 1-maxlen characters of [A-Za-z0-9._-], and '*' when star. */
static bool valid_chars(const char *s, size_t maxlen, bool star)
{
    size_t n = strlen(s);
    if (n == 0 || n > maxlen)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-' || (star && ch == '*')))
            return false;
    }
    return true;
}

/* Queue names: 1-64 of [A-Za-z0-9._-] (no ':' — routes use "queue:output"). */
static bool valid_name(const char *s, size_t maxlen)
{
    return valid_chars(s, maxlen, false);
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

static char *resolve(ld *l, const char *p);

/* Reads a file path member, resolves it and checks that the file is readable. */
static char *rd_file(ld *l, const cJSON *o, const char *path, const char *key, bool req)
{
    const char *v = rd_str(l, o, path, key, req);
    char p[256];
    if (!v)
        return NULL;
    if (!*v) {
        err_add(l, "%s: expected a file path", join_path(path, key, p, sizeof p));
        return NULL;
    }
    char *r = resolve(l, v);
    if (r && access(r, R_OK) != 0) {
        err_add(l, "%s: cannot read %s: %s", join_path(path, key, p, sizeof p), r, strerror(errno));
        free(r);
        return NULL;
    }
    return r;
}

/* The last OpenSSL error as text (and the queue emptied). */
static const char *ssl_errstr(char *buf, size_t n)
{
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (!e)
        return "unknown error";
    ERR_error_string_n(e, buf, n);
    return buf;
}

/* Loads listen.tls into a throwaway OpenSSL context: a certificate that is not PEM, a key
 * that does not match it or an unreadable CA file is a config error here, not a failure deep
 * inside lws at startup. */
static void tls_check(ld *l, const char *cert, const char *key, const char *ca)
{
    char eb[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        err_add(l, "listen.tls: OpenSSL: %s", ssl_errstr(eb, sizeof eb));
        return;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        err_add(l, "listen.tls.cert: %s: not a usable PEM certificate (%s)", cert,
                ssl_errstr(eb, sizeof eb));
    else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        err_add(l, "listen.tls.key: %s: not a usable PEM private key (%s)", key,
                ssl_errstr(eb, sizeof eb));
    else if (SSL_CTX_check_private_key(ctx) != 1)
        err_add(l, "listen.tls.key: %s does not match the certificate %s", key, cert);
    if (ca && SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
        err_add(l, "listen.tls.ca: %s: no usable PEM CA certificate (%s)", ca,
                ssl_errstr(eb, sizeof eb));
    ERR_clear_error();
    SSL_CTX_free(ctx);
}

static void rd_listen(ld *l, const cJSON *root)
{
    const cJSON *o = rd_obj(l, root, "", "listen");
    if (!o)
        return;
    static const char *const keys[] = {"address", "port", "tls", NULL};
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
    const cJSON *t = rd_obj(l, o, "listen", "tls");
    if (!t)
        return;
    static const char *const tkeys[] = {"cert", "key", "ca", NULL};
    check_keys(l, t, "listen.tls", tkeys);
    l->c->tls_cert = rd_file(l, t, "listen.tls", "cert", true);
    l->c->tls_key = rd_file(l, t, "listen.tls", "key", true);
    l->c->tls_ca = rd_file(l, t, "listen.tls", "ca", false);
    if (l->c->tls_cert && l->c->tls_key)
        tls_check(l, l->c->tls_cert, l->c->tls_key, l->c->tls_ca);
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
                                       "hello_timeout",
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
    rd_num(l, o, "limits", "hello_timeout", 0.1, 86400, &x->hello_timeout);
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

int hubcfg_origin_normalize(const char *in, size_t n, char *out, size_t out_n)
{
    /* scheme "://" host [":" port], nothing else (no path, no user info) */
    char buf[300];
    if (!in || n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, in, n);
    buf[n] = 0;
    if (n && buf[n - 1] == '/')
        buf[--n] = 0;
    char *sep = strstr(buf, "://");
    if (!sep)
        return -1;
    *sep = 0;
    for (char *q = buf; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    bool https = strcmp(buf, "https") == 0;
    if (!https && strcmp(buf, "http") != 0)
        return -1;
    char *host = sep + 3, *port = NULL;
    if (*host == '[') { /* [v6]:port */
        char *rb = strchr(host, ']');
        if (!rb)
            return -1;
        port = rb[1] == ':' ? rb + 2 : NULL;
        if (rb[1] && rb[1] != ':')
            return -1;
        rb[1] = 0;
    } else {
        char *colon = strchr(host, ':');
        if (colon) {
            *colon = 0;
            port = colon + 1;
        }
    }
    if (!*host)
        return -1;
    for (char *q = host; *q; q++) {
        unsigned char ch = (unsigned char)*q;
        if (!(isalnum(ch) || ch == '.' || ch == '-' || ch == '_' || ch == '[' || ch == ']' ||
              ch == ':'))
            return -1;
        *q = (char)tolower(ch);
    }
    long pn = -1;
    if (port) {
        char *end = NULL;
        if (!*port || !isdigit((unsigned char)*port))
            return -1;
        pn = strtol(port, &end, 10);
        if (*end || pn < 1 || pn > 65535)
            return -1;
        if ((https && pn == 443) || (!https && pn == 80))
            pn = -1;
    }
    int w = pn < 0 ? snprintf(out, out_n, "%s://%s", https ? "https" : "http", host)
                   : snprintf(out, out_n, "%s://%s:%ld", https ? "https" : "http", host, pn);
    return w < 0 || (size_t)w >= out_n ? -1 : 0;
}

static void rd_http(ld *l, const cJSON *root)
{
    const cJSON *o = rd_obj(l, root, "", "http");
    bool st = true;
    const char *wr = NULL;
    if (o) {
        static const char *const keys[] = {"web_root", "static", "allowed_origins", NULL};
        check_keys(l, o, "http", keys);
        wr = rd_str(l, o, "http", "web_root", false);
        rd_bool(l, o, "http", "static", &st);
        if (wr && !*wr) {
            err_add(l, "http.web_root: expected a directory path");
            wr = NULL;
        }
        const cJSON *ao = rd_arr(l, o, "http", "allowed_origins", false);
        if (ao) {
            l->c->origins_set = true;
            l->c->allowed_origins =
                rd_strv(l, ao, "http.allowed_origins", &l->c->n_allowed_origins);
            for (size_t i = 0; i < l->c->n_allowed_origins; i++) {
                char norm[300];
                char *v = l->c->allowed_origins[i];
                if (strcmp(v, "*") == 0)
                    continue;
                if (hubcfg_origin_normalize(v, strlen(v), norm, sizeof norm) != 0) {
                    err_add(l,
                            "http.allowed_origins[%zu]: expected \"*\" or an origin "
                            "\"http(s)://host[:port]\" (no path)",
                            i);
                    continue;
                }
                char *d = xstrdup(l, norm);
                if (d) {
                    free(v);
                    l->c->allowed_origins[i] = d;
                }
            }
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

/* The ops of each ACL category (hubcfg_op_category). */
static const char *const acl_names[HUBCFG_ACL_COUNT] = {"consume", "produce", "subscribe", "query",
                                                        "admin"};

/* Pattern of an ACL entry: 1-128 of [A-Za-z0-9._-] and '*'. */
static bool valid_pattern(const char *s)
{
    return valid_chars(s, 128, true);
}

static void sha256(const char *s, unsigned char out[32])
{
    unsigned int n = 32;
    if (!EVP_Digest(s, strlen(s), out, &n, EVP_sha256(), NULL))
        memset(out, 0, 32);
}

/* Preset ACLs of role names given without "acl" (docs/operations.md). */
static bool acl_preset(ld *l, hubcfg_token *t, const char *role)
{
    static const struct {
        const char *role;
        const char *pat[HUBCFG_ACL_COUNT]; /* one pattern per category or NULL */
    } presets[] = {
        /* the read-only dashboard: watch everything, ask the results service (db.query) */
        {"viewer", {NULL, "db.query", "*", "*", NULL}},
        /* a service: take and make jobs everywhere, watch, no admin */
        {"worker", {"*", "*", "*", "*", NULL}},
    };
    for (size_t i = 0; i < sizeof presets / sizeof *presets; i++) {
        if (strcmp(presets[i].role, role) != 0)
            continue;
        t->has_acl = true;
        for (int k = 0; k < HUBCFG_ACL_COUNT; k++) {
            if (!presets[i].pat[k])
                continue;
            t->acl[k] = calloc(1, sizeof(char *));
            if (t->acl[k] && (t->acl[k][0] = xstrdup(l, presets[i].pat[k])))
                t->n_acl[k] = 1;
        }
        return true;
    }
    return false;
}

static void rd_acl(ld *l, const cJSON *acl, const char *path, hubcfg_token *t)
{
    char ap[96];
    snprintf(ap, sizeof ap, "%s.acl", path);
    static const char *const keys[] = {"consume", "produce", "subscribe", "query", "admin", NULL};
    check_keys(l, acl, ap, keys);
    t->has_acl = true;
    for (int k = 0; k < HUBCFG_ACL_COUNT; k++) {
        const cJSON *a = rd_arr(l, acl, ap, acl_names[k], false);
        if (!a)
            continue;
        char kp[128];
        snprintf(kp, sizeof kp, "%s.%s", ap, acl_names[k]);
        t->acl[k] = rd_strv(l, a, kp, &t->n_acl[k]);
        for (size_t i = 0; i < t->n_acl[k]; i++)
            if (!valid_pattern(t->acl[k][i]))
                err_add(l, "%s[%zu]: expected a name pattern of [A-Za-z0-9._-] and '*'", kp, i);
    }
}

/* The secret of a token entry: inline "token", or from "token_env" / "token_file".
 * Messages never contain the secret. Returns a malloc'd string or NULL (error recorded). */
static char *rd_secret(ld *l, const cJSON *t, const char *path)
{
    const char *tok = rd_str(l, t, path, "token", false);
    const char *env = rd_str(l, t, path, "token_env", false);
    const char *file = rd_str(l, t, path, "token_file", false);
    int given = (tok != NULL) + (env != NULL) + (file != NULL);
    if (given != 1) {
        err_add(l, "%s: give exactly one of token, token_env or token_file", path);
        return NULL;
    }
    char *secret = NULL;
    if (tok) {
        secret = xstrdup(l, tok);
    } else if (env) {
        const char *v = *env ? getenv(env) : NULL;
        if (!v || !*v) {
            err_add(l, "%s.token_env: environment variable '%s' is not set or empty", path, env);
            return NULL;
        }
        secret = xstrdup(l, v);
    } else {
        char *fp = *file ? resolve(l, file) : NULL;
        FILE *f = fp ? fopen(fp, "rb") : NULL;
        if (!f) {
            err_add(l, "%s.token_file: cannot read %s: %s", path, fp ? fp : "(empty path)",
                    fp ? strerror(errno) : "expected a file path");
            free(fp);
            return NULL;
        }
        char buf[4097];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        bool big = n == sizeof buf - 1 && fgetc(f) != EOF;
        fclose(f);
        buf[n] = 0;
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
                     buf[n - 1] == '\t'))
            buf[--n] = 0;
        if (big || strlen(buf) != n || strchr(buf, '\n')) {
            err_add(l, "%s.token_file: %s must hold one token on one line (at most 4096 bytes)",
                    path, fp);
            free(fp);
            return NULL;
        }
        free(fp);
        secret = xstrdup(l, buf);
        memset(buf, 0, sizeof buf);
    }
    if (secret && strlen(secret) < 8) {
        err_add(l, "%s.%s: expected at least 8 characters", path,
                tok ? "token" : (env ? "token_env" : "token_file"));
    }
    return secret;
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
        static const char *const keys[] = {"name", "token", "token_env",   "token_file", "role",
                                           "ops",  "acl",   "description", NULL};
        check_keys(l, t, path, keys);
        (void)rd_str(l, t, path, "description", false);
        hubcfg_token *tt = &l->c->tokens[l->c->n_tokens++];
        const char *name = rd_str(l, t, path, "name", true);
        const char *role = rd_str(l, t, path, "role", false);
        const cJSON *ops = rd_arr(l, t, path, "ops", false);
        const cJSON *acl = rd_obj(l, t, path, "acl");
        tt->name = xstrdup(l, name ? name : "");
        if (name && !valid_name(name, 64))
            err_add(l, "%s.name: expected 1-64 characters of [A-Za-z0-9._-]", path);
        char *secret = rd_secret(l, t, path);
        tt->token = secret ? secret : xstrdup(l, "");
        sha256(tt->token, tt->digest);
        snprintf(tt->fingerprint, sizeof tt->fingerprint, "%02x%02x%02x%02x", tt->digest[0],
                 tt->digest[1], tt->digest[2], tt->digest[3]);
        for (size_t k = 0; secret && k + 1 < l->c->n_tokens; k++)
            if (l->c->tokens[k].token[0] && strcmp(l->c->tokens[k].token, secret) == 0)
                err_add(l, "%s: the same token is also tokens[%zu]", path, k);
        if (role && !valid_name(role, 64))
            err_add(l, "%s.role: expected 1-64 characters of [A-Za-z0-9._-]", path);
        if (ops && acl)
            err_add(l, "%s: give either ops or acl, not both", path);
        if (role && strcmp(role, "admin") == 0) {
            if (ops || acl)
                err_add(l, "%s: role \"admin\" may do everything: drop ops/acl", path);
            tt->admin = true;
        } else if (acl) {
            rd_acl(l, acl, path, tt);
        } else if (ops) {
            char op_path[80];
            snprintf(op_path, sizeof op_path, "%s.ops", path);
            tt->ops = rd_strv(l, ops, op_path, &tt->n_ops);
            for (size_t k = 0; k < tt->n_ops; k++)
                if (!known_op(tt->ops[k]))
                    err_add(l, "%s.ops[%zu]: unknown op '%s'", path, k, tt->ops[k]);
        } else if (!role || !acl_preset(l, tt, role)) {
            err_add(l,
                    "%s: needs role \"admin\", \"viewer\" or \"worker\", or acl (ops per "
                    "category), or ops (a list of allowed ops)",
                    path);
        }
        /* welcome.role: the role name if given, else admin or the token's name */
        tt->role = xstrdup(l, role ? role : (tt->admin ? "admin" : tt->name));
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
        .hello_timeout = 10,
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
        if (c->n_tokens == 0 && c->address && !hubcfg_is_loopback(c->address))
            err_add(&l,
                    "listen.address: '%s' is not a loopback address and no tokens are "
                    "configured (every client would be admin): add tokens or listen on "
                    "127.0.0.1 (docs/operations.md, Security)",
                    c->address);
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
    free(c->tls_cert);
    free(c->tls_key);
    free(c->tls_ca);
    strv_free(c->allowed_origins, c->n_allowed_origins);
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
        if (c->tokens[i].token) {
            OPENSSL_cleanse(c->tokens[i].token, strlen(c->tokens[i].token));
            free(c->tokens[i].token);
        }
        free(c->tokens[i].role);
        strv_free(c->tokens[i].ops, c->tokens[i].n_ops);
        for (int k = 0; k < HUBCFG_ACL_COUNT; k++)
            strv_free(c->tokens[i].acl[k], c->tokens[i].n_acl[k]);
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

const hubcfg_token *hubcfg_token_find(const hubcfg *c, const char *tok)
{
    if (!tok)
        return NULL;
    unsigned char d[32];
    sha256(tok, d);
    const hubcfg_token *found = NULL;
    for (size_t i = 0; i < c->n_tokens; i++) {
        /* every entry is compared (no early exit); empty secrets never match */
        bool eq = CRYPTO_memcmp(c->tokens[i].digest, d, sizeof d) == 0;
        if (eq && c->tokens[i].token[0] && !found)
            found = &c->tokens[i];
    }
    return found;
}

int hubcfg_op_category(const char *op)
{
    static const struct {
        const char *op;
        int cat;
    } map[] = {
        {"consume", HUBCFG_ACL_CONSUME},
        {"credit", HUBCFG_ACL_CONSUME},
        {"release", HUBCFG_ACL_CONSUME},
        {"progress", HUBCFG_ACL_CONSUME},
        {"result", HUBCFG_ACL_CONSUME},
        {"fail", HUBCFG_ACL_CONSUME},
        {"enqueue", HUBCFG_ACL_PRODUCE},
        {"emit", HUBCFG_ACL_PRODUCE},
        {"publish", HUBCFG_ACL_PRODUCE},
        {"subscribe", HUBCFG_ACL_SUBSCRIBE},
        {"unsubscribe", HUBCFG_ACL_SUBSCRIBE},
        {"query", HUBCFG_ACL_QUERY},
        {"wait", HUBCFG_ACL_QUERY},
        {"requeue", HUBCFG_ACL_ADMIN},
        {"cancel", HUBCFG_ACL_ADMIN},
        {"empty", HUBCFG_ACL_ADMIN},
        {"pause", HUBCFG_ACL_ADMIN},
        {"resume", HUBCFG_ACL_ADMIN},
    };
    for (size_t i = 0; op && i < sizeof map / sizeof *map; i++)
        if (strcmp(map[i].op, op) == 0)
            return map[i].cat;
    return -1;
}

bool hubcfg_token_allows(const hubcfg_token *t, const char *op)
{
    if (!t || t->admin)
        return true;
    if (strcmp(op, "hello") == 0 || strcmp(op, "ping") == 0 || strcmp(op, "pong") == 0)
        return true;
    if (t->has_acl) {
        int cat = hubcfg_op_category(op);
        return cat >= 0 && t->n_acl[cat] > 0;
    }
    for (size_t i = 0; i < t->n_ops; i++)
        if (strcmp(t->ops[i], op) == 0)
            return true;
    return false;
}

bool hubcfg_glob_match(const char *p, const char *s)
{
    /* iterative '*' matching with one backtrack point (linear in practice) */
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == 0;
}

bool hubcfg_token_allows_on(const hubcfg_token *t, int cat, const char *name)
{
    if (!t || t->admin || !t->has_acl)
        return true;
    if (cat < 0 || cat >= HUBCFG_ACL_COUNT || !name)
        return false;
    /* a subscription pattern "x*" is matched as the literal text "x*": an ACL pattern can
     * only match it through a trailing '*', which then also covers every "x..." */
    for (size_t i = 0; i < t->n_acl[cat]; i++)
        if (hubcfg_glob_match(t->acl[cat][i], name))
            return true;
    return false;
}

bool hubcfg_token_unrestricted(const hubcfg_token *t, int cat)
{
    if (!t || t->admin || !t->has_acl)
        return true;
    if (cat < 0 || cat >= HUBCFG_ACL_COUNT)
        return false;
    for (size_t i = 0; i < t->n_acl[cat]; i++)
        if (strcmp(t->acl[cat][i], "*") == 0)
            return true;
    return false;
}

bool hubcfg_is_loopback(const char *a)
{
    if (!a)
        return false;
    if (strcmp(a, "localhost") == 0 || strcmp(a, "::1") == 0 || strcmp(a, "[::1]") == 0)
        return true;
    unsigned b[4];
    char tail;
    if (sscanf(a, "%u.%u.%u.%u%c", &b[0], &b[1], &b[2], &b[3], &tail) == 4)
        return b[0] == 127 && b[1] < 256 && b[2] < 256 && b[3] < 256;
    return false;
}
