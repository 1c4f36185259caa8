/*
 * ops.c - protocol v1 op handlers (docs/protocol.md §4, §6): each decoded message becomes a
 * broker call, each broker output becomes a message. Also the hub's own topics (`stats`,
 * `workers`) and user-topic publishing.
 *
 * Invariants: a handler validates every field it reads and answers a bad one with BAD_FIELD
 * naming the field; every request with an `id` gets exactly one answer (`ok`, `welcome`,
 * `pong` or `error` with `ref`), possibly later (held emits, waits, durability); payload
 * bytes are passed to the broker and back out untouched. Broker callbacks never call back
 * into the broker. The hub scratch buffer is never held across a broker call.
 *
 * Access control: before a successful hello only hello and ping are served (UNAUTHORIZED);
 * after it, ops_handle checks the token's op-level permission and each handler checks the
 * targets (queues, topics) of its ACL category with acl_check BEFORE any change, so a
 * FORBIDDEN request changes nothing. Targets not named in the request (the queue of a job
 * id, the routed queue of an emit) are looked up only for tokens restricted by pattern.
 */
#include "net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* JSON texts printed from the header for one op; freed together. */
typedef struct texts {
    char *p[12];
    int n;
} texts;

static void texts_free(texts *t)
{
    for (int i = 0; i < t->n; i++)
        cJSON_free(t->p[i]);
    t->n = 0;
}

/* ---- raw JSON values: the bytes of a top-level member's value as received, so that args,
 * meta, state, value, payload_meta and data are forwarded without a re-encode. The header
 * text has already been parsed by cJSON (it is valid JSON), so the scanner only skips. */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

static const char *skip_str(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return end;
}

static const char *skip_value(const char *p, const char *end)
{
    if (p >= end)
        return end;
    if (*p == '"')
        return skip_str(p, end);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            char ch = *p;
            if (ch == '"') {
                p = skip_str(p, end);
                continue;
            }
            if (ch == '{' || ch == '[')
                depth++;
            else if ((ch == '}' || ch == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return end;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
           *p != '\r' && *p != '\n')
        p++;
    return p;
}

/* The raw value of top-level member `key` in the header line, or NULL (absent, or a key
 * written with escapes: the caller then falls back to printing the cJSON item). */
static const char *raw_member(const wsm_msg *m, const char *key, size_t *len)
{
    const char *p = m->hdr_text, *end = m->hdr_text + m->hdr_len;
    size_t kl = strlen(key);
    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return NULL;
    p++;
    for (;;) {
        p = skip_ws(p, end);
        if (p >= end || *p != '"')
            return NULL;
        const char *k = p + 1;
        p = skip_str(p, end);
        bool match = (size_t)(p - 1 - k) == kl && memcmp(k, key, kl) == 0;
        p = skip_ws(p, end);
        if (p >= end || *p != ':')
            return NULL;
        p = skip_ws(p + 1, end);
        const char *v = p;
        p = skip_value(p, end);
        if (match) {
            *len = (size_t)(p - v);
            return v;
        }
        p = skip_ws(p, end);
        if (p >= end || *p != ',')
            return NULL;
        p++;
    }
}

/* Member key of hdr (any JSON) as text: the received bytes when possible, else printed into
 * t; NULL when absent. *len set. */
static const char *jtext(texts *t, const wsm_msg *m, const char *key, size_t *len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m->hdr, key);
    *len = 0;
    if (!v)
        return NULL;
    const char *raw = raw_member(m, key, len);
    if (raw)
        return raw;
    if (t->n >= (int)(sizeof t->p / sizeof *t->p))
        return NULL;
    char *s = cJSON_PrintUnformatted(v);
    if (!s)
        return NULL;
    t->p[t->n++] = s;
    *len = strlen(s);
    return s;
}

/* The payload's content_type when the header gives one, else NULL (the frame decoder already
 * defaulted m->content_type to application/json; the broker stores only a given type). */
static const char *given_ct(const wsm_msg *m)
{
    return cJSON_GetObjectItemCaseSensitive(m->hdr, "content_type") ? m->content_type : NULL;
}

/* Appends a decimal integer (hot paths avoid printf). */
static int put_int(wsm_buf *b, long long v)
{
    char tmp[24];
    int i = sizeof tmp;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    return wsm_buf_append(b, tmp + i, sizeof tmp - (size_t)i);
}

/* Protocol violations count towards limits.max_errors; answers about jobs/queues do not. */
static bool is_violation(int code)
{
    switch (code) {
    case WSM_E_BAD_JSON:
    case WSM_E_BAD_FRAME:
    case WSM_E_UNKNOWN_OP:
    case WSM_E_BAD_FIELD:
    case WSM_E_TOO_LARGE:
    case WSM_E_UNAUTHORIZED:
    case WSM_E_FORBIDDEN:
        return true;
    default:
        return false;
    }
}

/* Answers an error; only violations count towards the connection's error limit. */
static void reply_err(conn *c, int code, const char *msg, const char *ref)
{
    if (is_violation(code)) {
        conn_error(c, code, msg, ref);
        return;
    }
    int saved = c->errors;
    conn_error(c, code, msg, ref);
    c->errors = saved;
}

static void reply_werr(conn *c, const wsm_err *e, const char *ref)
{
    reply_err(c, e->code ? e->code : WSM_E_INTERNAL, e->msg, ref);
}

/* ------------------------------------------------------------------ access control */

static const char *const acl_cat_names[HUBCFG_ACL_COUNT] = {"consume", "produce", "subscribe",
                                                            "query", "admin"};

/* True if c's token may use category cat on target `name` (a queue or topic); otherwise
 * answers FORBIDDEN naming the op, the target and the role, and returns false. */
static bool acl_check(conn *c, int cat, const char *what, const char *name, const char *ref)
{
    if (hubcfg_token_allows_on(c->tok, cat, name))
        return true;
    char msg[400];
    snprintf(msg, sizeof msg, "%.40s: %s '%.128s' is not allowed for role '%s' (%s)", what,
             cat == HUBCFG_ACL_SUBSCRIBE || (cat == HUBCFG_ACL_PRODUCE && !strcmp(what, "publish"))
                 ? "topic"
                 : "queue",
             name ? name : "", c->role, acl_cat_names[cat]);
    conn_error(c, WSM_E_FORBIDDEN, msg, ref);
    return false;
}

/* The queue of job `job_id` (copied into out), for a token restricted in cat; returns 1 when
 * found, 0 when the check is not needed (unrestricted) or the job is unknown (the broker
 * then answers NO_SUCH_JOB itself). leased: the job must be leased to c (emit), so the queue
 * noted at its dispatch to c is authoritative and the broker is not asked. */
static int job_queue(conn *c, int cat, const char *job_id, bool leased, char *out, size_t n)
{
    if (hubcfg_token_unrestricted(c->tok, cat) || !job_id)
        return 0;
    if (leased && c->acl_job[0] && strcmp(c->acl_job, job_id) == 0) {
        snprintf(out, n, "%s", c->acl_queue); /* set by the job's dispatch to c */
        return 1;
    }
    wsm_err e;
    cJSON *j = broker_query_job(c->h->b, job_id, &e);
    const cJSON *q = j ? cJSON_GetObjectItemCaseSensitive(j, "queue") : NULL;
    int rc = 0;
    if (cJSON_IsString(q)) {
        snprintf(out, n, "%s", q->valuestring);
        rc = 1;
    }
    cJSON_Delete(j);
    return rc;
}

/* Job-addressed ops (wait, cancel, requeue of one job): checks the job's queue. */
static bool acl_check_job(conn *c, int cat, const char *what, const char *job_id, const char *ref)
{
    char q[128];
    if (job_queue(c, cat, job_id, false, q, sizeof q) != 1)
        return true;
    return acl_check(c, cat, what, q, ref);
}

/* ------------------------------------------------------------------ field readers */

static int rd_seconds_ms(const cJSON *hdr, const char *key, int64_t *out_ms, wsm_err *e)
{
    double d;
    int rc = wsm_json_num(hdr, "", key, false, 0, 1e9, &d, e);
    if (rc > 0)
        *out_ms = (int64_t)llround(d * 1000.0);
    return rc;
}

static int rd_opts(const cJSON *hdr, broker_job_opts *o, wsm_err *e)
{
    if (rd_seconds_ms(hdr, "timeout", &o->timeout_ms, e) < 0 ||
        rd_seconds_ms(hdr, "ttl", &o->ttl_ms, e) < 0 ||
        rd_seconds_ms(hdr, "result_ttl", &o->result_ttl_ms, e) < 0 ||
        rd_seconds_ms(hdr, "failure_ttl", &o->failure_ttl_ms, e) < 0)
        return -1;
    const cJSON *r = NULL;
    if (wsm_json_obj(hdr, "", "retry", false, &r, e) < 0)
        return -1;
    if (!r)
        return 0;
    if (wsm_json_int(r, "retry", "max", true, 0, 1000, &o->retry_max, e) < 0)
        return -1;
    const cJSON *iv = NULL;
    if (wsm_json_arr(r, "retry", "intervals", false, &iv, e) < 0)
        return -1;
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, iv)
    {
        if (i >= BROKER_MAX_INTERVALS)
            return wsm_err_set(e, WSM_E_BAD_FIELD, "retry.intervals: at most %d entries",
                               BROKER_MAX_INTERVALS),
                   -1;
        if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0) || it->valuedouble > 1e9)
            return wsm_err_set(e, WSM_E_BAD_FIELD,
                               "retry.intervals[%d]: expected number of seconds >= 0", i),
                   -1;
        o->intervals_ms[i++] = (int64_t)llround(it->valuedouble * 1000.0);
    }
    o->n_intervals = i;
    return 0;
}

/* Fields shared by enqueue and emit. */
static int rd_spec(const wsm_msg *m, broker_job_spec *s, texts *t, wsm_err *e)
{
    const cJSON *h = m->hdr;
    s->args = jtext(t, m, "args", &s->args_len);
    s->meta = jtext(t, m, "meta", &s->meta_len);
    s->payload_meta = jtext(t, m, "payload_meta", &s->payload_meta_len);
    s->content_type = given_ct(m);
    s->payload = m->payload;
    s->len = m->len;
    if (wsm_json_str(h, "", "key", false, &s->key, e) < 0 ||
        wsm_json_int(h, "", "weight", false, 0, INT64_C(1) << 53, &s->weight, e) < 0)
        return -1;
    return rd_opts(h, &s->opts, e);
}

/* An array of strings into a malloc'd vector of borrowed pointers. */
static int rd_strs(const cJSON *hdr, const char *key, bool required, const char ***out, size_t *n,
                   wsm_err *e)
{
    const cJSON *a = NULL;
    *out = NULL;
    *n = 0;
    int rc = wsm_json_arr(hdr, "", key, required, &a, e);
    if (rc <= 0)
        return rc;
    int cnt = cJSON_GetArraySize(a);
    if (cnt == 0)
        return 1;
    const char **v = calloc((size_t)cnt, sizeof *v);
    if (!v)
        return wsm_err_set(e, WSM_E_NOMEM, "out of memory"), -1;
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, a)
    {
        if (!cJSON_IsString(it)) {
            free(v);
            return wsm_err_set(e, WSM_E_BAD_FIELD, "%s[%d]: expected string", key, i), -1;
        }
        v[i++] = it->valuestring;
    }
    *out = v;
    *n = (size_t)i;
    return 1;
}

/* ------------------------------------------------------------------ replies */

static void ok_with(conn *c, const char *ref, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void ok_with(conn *c, const char *ref, const char *fmt, ...)
{
    if (!ref)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    conn_ok(c, ref, buf);
}

/* ok with job_id and status (job ids are [A-Za-z0-9._:-]: no escaping needed). */
static void ok_job(conn *c, const char *ref, const char *job_id, const char *status)
{
    if (!ref)
        return;
    char buf[BROKER_MAX_ID + 64];
    size_t il = strlen(job_id), sl = strlen(status);
    if (il > BROKER_MAX_ID || sl > 32)
        return;
    char *p = buf;
    memcpy(p, "\"job_id\":\"", 10);
    p += 10;
    memcpy(p, job_id, il);
    p += il;
    memcpy(p, "\",\"status\":\"", 12);
    p += 12;
    memcpy(p, status, sl);
    p += sl;
    *p++ = '"';
    *p = 0;
    conn_ok(c, ref, buf);
}

/* ok with "<name>":<json> (json borrowed). */
static void ok_json(conn *c, const char *ref, const char *name, const cJSON *v)
{
    if (!ref)
        return;
    wsm_buf b = WSM_BUF_INIT;
    if (wsm_buf_printf(&b, "\"%s\":", name) || wsm_json_append(&b, v) ||
        wsm_buf_append(&b, "", 1)) {
        wsm_buf_free(&b);
        reply_err(c, WSM_E_NOMEM, "out of memory", ref);
        return;
    }
    conn_ok(c, ref, (const char *)b.data);
    wsm_buf_free(&b);
}

/* ------------------------------------------------------------------ pending requests */

static int pend_add(conn *c, uint64_t req, const char *ref, bool emit)
{
    if (c->n_pend == c->cap_pend) {
        size_t nc = c->cap_pend ? c->cap_pend * 2 : 8;
        struct pend_req *np = realloc(c->pend, nc * sizeof *np);
        if (!np)
            return -1;
        c->pend = np;
        c->cap_pend = nc;
    }
    char *r = ref ? strdup(ref) : NULL;
    if (ref && !r)
        return -1;
    c->pend[c->n_pend++] = (struct pend_req){req, r, emit};
    if (emit)
        c->n_pend_emits++;
    return 0;
}

/* Removes req; returns its ref (caller frees) via *ref. false if unknown. */
static bool pend_take(conn *c, uint64_t req, char **ref)
{
    for (size_t i = 0; i < c->n_pend; i++) {
        if (c->pend[i].req != req)
            continue;
        *ref = c->pend[i].ref;
        if (c->pend[i].emit)
            c->n_pend_emits--;
        c->pend[i] = c->pend[--c->n_pend];
        return true;
    }
    return false;
}

/* ------------------------------------------------------------------ op handlers */

static const char *const op_names[] = {
    "hello",   "ping",   "pong",    "enqueue",   "consume",     "credit",  "progress", "emit",
    "result",  "fail",   "release", "subscribe", "unsubscribe", "publish", "wait",     "query",
    "requeue", "cancel", "empty",   "pause",     "resume",      NULL};

static void op_hello(conn *c, const wsm_msg *m, const char *ref)
{
    hub *h = c->h;
    wsm_err e;
    if (c->hello_done) {
        reply_err(c, WSM_E_BAD_STATE, "hello: already done on this connection", ref);
        return;
    }
    const cJSON *vs = NULL;
    const char *name = NULL, *token = NULL, *kind = NULL, *instance = NULL;
    if (wsm_json_arr(m->hdr, "", "versions", true, &vs, &e) < 0 ||
        wsm_json_str(m->hdr, "", "name", false, &name, &e) < 0 ||
        wsm_json_str(m->hdr, "", "token", false, &token, &e) < 0 ||
        wsm_json_str(m->hdr, "", "kind", false, &kind, &e) < 0 ||
        wsm_json_str(m->hdr, "", "instance", false, &instance, &e) < 0) {
        reply_werr(c, &e, ref);
        return;
    }
    bool v1 = false;
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, vs)
    {
        if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble)) {
            char msg[80];
            snprintf(msg, sizeof msg, "versions[%d]: expected integer", i);
            reply_err(c, WSM_E_BAD_FIELD, msg, ref);
            return;
        }
        if (it->valuedouble == WSM_PROTOCOL_VERSION)
            v1 = true;
        i++;
    }
    if (!v1) {
        reply_err(c, WSM_E_UNSUPPORTED_VERSION, "versions: this hub speaks protocol version 1 only",
                  ref);
        return;
    }
    if (kind && strcmp(kind, "worker") && strcmp(kind, "client") && strcmp(kind, "dashboard")) {
        reply_err(c, WSM_E_BAD_FIELD, "kind: expected \"worker\", \"client\" or \"dashboard\"",
                  ref);
        return;
    }
    const hubcfg_token *tok = NULL;
    if (h->cfg->n_tokens) {
        if (!token) {
            conn_auth_failed(c, "token: required by this hub", ref);
            return;
        }
        tok = hubcfg_token_find(h->cfg, token);
        if (!tok) {
            conn_auth_failed(c, "token: not accepted", ref);
            return;
        }
    }
    broker_conn_info info = {
        .session = c->session, .name = name ? name : "", .instance = instance, .kind = kind};
    c->bc = broker_conn_new(h->b, c, &info);
    if (!c->bc) {
        reply_err(c, WSM_E_NOMEM, "out of memory", ref);
        return;
    }
    c->tok = tok;
    if (tok)
        conn_auth_ok(c);
    c->hello_done = true;
    free(c->name);
    c->name = strdup(name ? name : "");
    snprintf(c->role, sizeof c->role, "%s", tok ? tok->role : "admin");

    wsm_buf b = WSM_BUF_INIT;
    int rc = wsm_buf_append_str(&b, "{\"op\":\"welcome\"");
    if (ref)
        rc = rc || wsm_buf_append_str(&b, ",\"ref\":") || json_quote(&b, ref);
    rc = rc ||
         wsm_buf_printf(&b, ",\"version\":%d,\"hub\":\"wshub %s\",\"session\":%llu,\"role\":",
                        WSM_PROTOCOL_VERSION, WSM_VERSION, (unsigned long long)c->session) ||
         json_quote(&b, c->role) ||
         wsm_buf_printf(&b,
                        ",\"heartbeat\":%g,\"max_message_bytes\":%lld,\"max_header_bytes\":%lld,"
                        "\"emit_window\":%lld,\"ops\":[",
                        h->cfg->limits.heartbeat, (long long)h->cfg->limits.max_message_bytes,
                        (long long)h->cfg->limits.max_header_bytes,
                        (long long)h->cfg->limits.emit_window);
    for (int k = 0; op_names[k]; k++)
        rc = rc || wsm_buf_printf(&b, "%s\"%s\"", k ? "," : "", op_names[k]);
    rc = rc || wsm_buf_append_str(&b, "]}");
    if (!rc)
        conn_send(c, (const char *)b.data, b.len, NULL, 0);
    wsm_buf_free(&b);
    /* the token itself is never logged: its entry's name and SHA-256 fingerprint are */
    wsm_log(WSM_LOG_INFO, "net", "session %llu (%s): hello from '%s' (%s), role %s, token %s%s%s",
            (unsigned long long)c->session, c->peer, c->name, kind ? kind : "-", c->role,
            tok ? tok->name : "(none: no tokens configured)", tok ? " sha256:" : "",
            tok ? tok->fingerprint : "");
    ops_publish_worker(h, c, "connected");
}

static void op_enqueue(conn *c, const wsm_msg *m, const char *ref)
{
    broker_job_spec s;
    broker_job_spec_init(&s);
    texts t = {0};
    wsm_err e;
    const char **deps = NULL;
    size_t n_deps = 0;
    double in_s = -1;
    if (wsm_json_str(m->hdr, "", "queue", true, &s.queue, &e) < 0 ||
        wsm_json_str(m->hdr, "", "job_id", false, &s.job_id, &e) < 0 ||
        rd_spec(m, &s, &t, &e) < 0 ||
        wsm_json_bool(m->hdr, "", "allow_failure", false, &s.allow_failure, &e) < 0 ||
        wsm_json_bool(m->hdr, "", "at_front", false, &s.at_front, &e) < 0 ||
        wsm_json_int(m->hdr, "", "enqueue_at", false, 0, INT64_C(1) << 53, &s.enqueue_at, &e) < 0 ||
        wsm_json_num(m->hdr, "", "enqueue_in", false, 0, 1e9, &in_s, &e) < 0 ||
        rd_strs(m->hdr, "depends_on", false, &deps, &n_deps, &e) < 0) {
        reply_werr(c, &e, ref);
        texts_free(&t);
        return;
    }
    if (!acl_check(c, HUBCFG_ACL_PRODUCE, "enqueue", s.queue, ref)) {
        free(deps);
        texts_free(&t);
        return;
    }
    if (in_s >= 0)
        s.enqueue_in_ms = (int64_t)llround(in_s * 1000.0);
    s.depends_on = deps;
    s.n_depends_on = n_deps;
    broker_reply r;
    int rc = broker_enqueue(c->h->b, c->bc, &s, &r, &e);
    free(deps);
    texts_free(&t);
    if (rc != WSM_OK) {
        reply_werr(c, &e, ref);
        return;
    }
    ok_job(c, ref, r.job_id, r.status);
}

static void op_consume(conn *c, const wsm_msg *m, const char *ref)
{
    wsm_err e;
    const char **qs = NULL;
    size_t n = 0;
    int64_t prefetch = 1;
    if (rd_strs(m->hdr, "queues", true, &qs, &n, &e) < 0 ||
        wsm_json_int(m->hdr, "", "prefetch", false, 0, 1000000, &prefetch, &e) < 0) {
        reply_werr(c, &e, ref);
        return;
    }
    if (n == 0) {
        free(qs);
        reply_err(c, WSM_E_BAD_FIELD, "queues: expected at least one queue", ref);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (!acl_check(c, HUBCFG_ACL_CONSUME, "consume", qs[i], ref)) {
            free(qs);
            return;
        }
    int rc = broker_consume(c->h->b, c->bc, qs, n, prefetch, &e);
    free(qs);
    if (rc != WSM_OK) {
        reply_werr(c, &e, ref);
        return;
    }
    conn_ok(c, ref, NULL);
    ops_publish_worker(c->h, c, "consuming");
}

static void op_credit(conn *c, const wsm_msg *m, const char *ref)
{
    wsm_err e;
    int64_t n = 0;
    if (wsm_json_int(m->hdr, "", "n", true, -1000000, 1000000, &n, &e) < 0) {
        reply_werr(c, &e, ref);
        return;
    }
    broker_credit(c->h->b, c->bc, n);
    conn_ok(c, ref, NULL);
}

static void op_progress(conn *c, const wsm_msg *m, const char *ref)
{
    wsm_err e;
    const char *job = NULL, *message = NULL;
    double done = 0, total = 0;
    if (wsm_json_str(m->hdr, "", "job_id", true, &job, &e) < 0 ||
        wsm_json_num(m->hdr, "", "done", false, -1e300, 1e300, &done, &e) < 0 ||
        wsm_json_num(m->hdr, "", "total", false, -1e300, 1e300, &total, &e) < 0 ||
        wsm_json_str(m->hdr, "", "message", false, &message, &e) < 0) {
        reply_werr(c, &e, ref);
        return;
    }
    if (broker_progress(c->h->b, c->bc, job, done, total, message, &e) != WSM_OK) {
        reply_werr(c, &e, ref);
        return;
    }
    conn_ok(c, ref, NULL);
}

static void op_emit(conn *c, const wsm_msg *m, const char *ref)
{
    hub *h = c->h;
    broker_job_spec s;
    broker_job_spec_init(&s);
    texts t = {0};
    wsm_err e;
    const char *job = NULL, *output = NULL;
    int64_t seq = 0;
    if (wsm_json_str(m->hdr, "", "job_id", true, &job, &e) < 0 ||
        wsm_json_str(m->hdr, "", "output", true, &output, &e) < 0 ||
        wsm_json_int(m->hdr, "", "seq", true, 0, INT64_C(1) << 53, &seq, &e) < 0 ||
        rd_spec(m, &s, &t, &e) < 0) {
        reply_werr(c, &e, ref);
        texts_free(&t);
        return;
    }
    char pq[128];
    if (job_queue(c, HUBCFG_ACL_PRODUCE, job, true, pq, sizeof pq) == 1) {
        const hubcfg_route *rt = hubcfg_route_find(h->cfg, pq, output);
        if (rt && !acl_check(c, HUBCFG_ACL_PRODUCE, "emit", rt->to_queue, ref)) {
            texts_free(&t);
            return;
        }
    }
    if ((int64_t)c->n_pend_emits >= h->cfg->limits.emit_window) {
        texts_free(&t);
        reply_err(c, WSM_E_LIMIT, "emit: more than emit_window emits unanswered", ref);
        return;
    }
    uint64_t req = ++c->next_req;
    broker_reply r;
    int rc = broker_emit(h->b, c->bc, job, output, seq, &s, req, &r, &e);
    texts_free(&t);
    if (rc != WSM_OK) {
        reply_werr(c, &e, ref);
        return;
    }
    if (r.held) {
        if (pend_add(c, req, ref, true))
            reply_err(c, WSM_E_NOMEM, "out of memory", ref);
        return;
    }
    ok_job(c, ref, r.job_id, r.status);
}

static void op_result(conn *c, const wsm_msg *m, const char *ref)
{
    broker_result_spec r;
    broker_result_spec_init(&r);
    texts t = {0};
    wsm_err e;
    const char *job = NULL;
    int64_t attempt = 0;
    if (wsm_json_str(m->hdr, "", "job_id", true, &job, &e) < 0 ||
        wsm_json_int(m->hdr, "", "attempt", true, 1, INT32_MAX, &attempt, &e) < 0 ||
        wsm_json_int(m->hdr, "", "weight", false, 0, INT64_C(1) << 53, &r.weight, &e) < 0) {
        reply_werr(c, &e, ref);
        return;
    }
    r.value = jtext(&t, m, "value", &r.value_len);
    r.state = jtext(&t, m, "state", &r.state_len);
    r.payload_meta = jtext(&t, m, "payload_meta", &r.payload_meta_len);
    r.content_type = given_ct(m);
    r.payload = m->payload;
    r.len = m->len;
    int rc = broker_result(c->h->b, c->bc, job, (int)attempt, &r, &e);
    texts_free(&t);
    if (rc != WSM_OK) {
        reply_werr(c, &e, ref);
        return;
    }
    conn_ok(c, ref, NULL);
}

static void op_fail(conn *c, const wsm_msg *m, const char *ref)
{
    wsm_err e;
    const char *job = NULL, *type = NULL, *message = NULL;
    int64_t attempt = 0;
    const cJSON *err = NULL;
    bool retry = true;
    if (wsm_json_str(m->hdr, "", "job_id", true, &job, &e) < 0 ||
        wsm_json_int(m->hdr, "", "attempt", true, 1, INT32_MAX, &attempt, &e) < 0 ||
        wsm_json_obj(m->hdr, "", "error", true, &err, &e) < 0 ||
        wsm_json_str(err, "error", "type", true, &type, &e) < 0 ||
        wsm_json_str(err, "error", "message", true, &message, &e) < 0 ||
        wsm_json_bool(m->hdr, "", "retry", false, &retry, &e) < 0) {
        reply_werr(c, &e, ref);
        return;
    }
    char *text = cJSON_PrintUnformatted(err);
    if (!text) {
        reply_err(c, WSM_E_NOMEM, "out of memory", ref);
        return;
    }
    int rc = broker_fail(c->h->b, c->bc, job, (int)attempt, text, strlen(text), retry, &e);
    cJSON_free(text);
    if (rc != WSM_OK) {
        reply_werr(c, &e, ref);
        return;
    }
    conn_ok(c, ref, NULL);
}

static void op_release(conn *c, const wsm_msg *m, const char *ref)
{
    wsm_err e;
    const char **ids = NULL;
    size_t n = 0, count = 0;
    if (rd_strs(m->hdr, "job_ids", true, &ids, &n, &e) < 0) {
        reply_werr(c, &e, ref);
        return;
    }
    int rc = broker_release(c->h->b, c->bc, ids, n, &count, &e);
    free(ids);
    if (rc != WSM_OK) {
        reply_werr(c, &e, ref);
        return;
    }
    ok_with(c, ref, "\"count\":%zu", count);
}

static bool builtin_topic(const char *t)
{
    return !strcmp(t, "progress") || !strcmp(t, "events") || !strcmp(t, "stats") ||
           !strcmp(t, "workers");
}

static bool declared_topic(const hubcfg *cfg, const char *t)
{
    for (size_t i = 0; i < cfg->n_user_topics; i++)
        if (!strcmp(cfg->user_topics[i], t))
            return true;
    return false;
}

/* Checks a topic name or pattern; fills msg on error. */
static bool topic_ok(const hubcfg *cfg, const char *t, size_t idx, char *msg, size_t n)
{
    size_t len = strlen(t);
    if (len == 0 || len > 128) {
        snprintf(msg, n, "topics[%zu]: expected 1-128 characters", idx);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = t[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-' ||
                  (ch == '*' && i == len - 1);
        if (!ok) {
            snprintf(msg, n, "topics[%zu]: '%s' is not a topic name or prefix pattern", idx, t);
            return false;
        }
    }
    if (cfg->strict_topics && t[len - 1] != '*' && !builtin_topic(t) && !declared_topic(cfg, t)) {
        snprintf(msg, n, "topics[%zu]: '%s' is not a built-in or declared topic", idx, t);
        return false;
    }
    return true;
}

static void op_subscribe(conn *c, const wsm_msg *m, const char *ref, bool sub)
{
    hub *h = c->h;
    wsm_err e;
    const char **ts = NULL;
    size_t n = 0;
    if (rd_strs(m->hdr, "topics", true, &ts, &n, &e) < 0) {
        reply_werr(c, &e, ref);
        return;
    }
    char msg[256];
    for (size_t i = 0; i < n; i++)
        if (!topic_ok(h->cfg, ts[i], i, msg, sizeof msg)) {
            free(ts);
            reply_err(c, WSM_E_BAD_FIELD, msg, ref);
            return;
        }
    for (size_t i = 0; sub && i < n; i++)
        if (!acl_check(c, HUBCFG_ACL_SUBSCRIBE, "subscribe", ts[i], ref)) {
            free(ts);
            return;
        }
    bool stats_new = false;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < c->n_subs && strcmp(c->subs[k], ts[i]))
            k++;
        if (sub && k == c->n_subs) {
            if (c->n_subs >= 256) {
                free(ts);
                reply_err(c, WSM_E_LIMIT, "topics: at most 256 subscriptions per connection", ref);
                return;
            }
            char **nv = realloc(c->subs, (c->n_subs + 1) * sizeof *nv);
            char *d = strdup(ts[i]);
            if (!nv || !d) {
                if (nv)
                    c->subs = nv;
                free(d);
                free(ts);
                reply_err(c, WSM_E_NOMEM, "out of memory", ref);
                return;
            }
            c->subs = nv;
            c->subs[c->n_subs++] = d;
            if (!strcmp(ts[i], "stats"))
                stats_new = true;
        } else if (!sub && k < c->n_subs) {
            free(c->subs[k]);
            c->subs[k] = c->subs[--c->n_subs];
        }
    }
    free(ts);
    hub_topics_update(h);
    conn_ok(c, ref, NULL);
    if (stats_new)
        ops_publish_stats(h);
}

static void op_publish(conn *c, const wsm_msg *m, const char *ref)
{
    hub *h = c->h;
    wsm_err e;
    const char *topic = NULL, *subject = NULL;
    if (wsm_json_str(m->hdr, "", "topic", true, &topic, &e) < 0 ||
        wsm_json_str(m->hdr, "", "subject", false, &subject, &e) < 0) {
        reply_werr(c, &e, ref);
        return;
    }
    char msg[256];
    if (builtin_topic(topic)) {
        snprintf(msg, sizeof msg, "topic: '%s' is a built-in topic (published by the hub only)",
                 topic);
        reply_err(c, WSM_E_FORBIDDEN, msg, ref);
        return;
    }
    if (strchr(topic, '*') || !topic_ok(h->cfg, topic, 0, msg, sizeof msg)) {
        snprintf(msg, sizeof msg, "topic: '%s' is not a %s topic name", topic,
                 h->cfg->strict_topics ? "declared" : "valid");
        reply_err(c, WSM_E_BAD_FIELD, msg, ref);
        return;
    }
    if (!acl_check(c, HUBCFG_ACL_PRODUCE, "publish", topic, ref))
        return;
    texts t = {0};
    size_t dl = 0;
    const char *data = jtext(&t, m, "data", &dl);
    hub_publish(h, topic, subject ? subject : "", data, dl, m->payload, m->len, given_ct(m));
    texts_free(&t);
    conn_ok(c, ref, NULL);
}

static void op_wait(conn *c, const wsm_msg *m, const char *ref)
{
    wsm_err e;
    const char *job = NULL;
    bool tree = false;
    int64_t timeout_ms = 0;
    if (wsm_json_str(m->hdr, "", "job_id", true, &job, &e) < 0 ||
        wsm_json_bool(m->hdr, "", "tree", false, &tree, &e) < 0 ||
        rd_seconds_ms(m->hdr, "timeout", &timeout_ms, &e) < 0) {
        reply_werr(c, &e, ref);
        return;
    }
    if (!acl_check_job(c, HUBCFG_ACL_QUERY, "wait", job, ref))
        return;
    uint64_t req = ++c->next_req;
    bool done = false;
    cJSON *jobj = NULL;
    int rc = broker_wait(c->h->b, c->bc, job, tree, timeout_ms, req, &done, &jobj, &e);
    if (rc != WSM_OK) {
        reply_werr(c, &e, ref);
        return;
    }
    if (done) {
        ok_json(c, ref, "job", jobj);
        cJSON_Delete(jobj);
        return;
    }
    if (pend_add(c, req, ref, false))
        reply_err(c, WSM_E_NOMEM, "out of memory", ref);
}

/* True if c may query the queues of a query job/tree result (NULL passes): a job's "queue",
 * every key of a tree's "queues"; answers FORBIDDEN at the first one refused. */
static bool acl_check_result(conn *c, const cJSON *res, const char *ref)
{
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(res, "queue");
    if (cJSON_IsString(q) && !acl_check(c, HUBCFG_ACL_QUERY, "query", q->valuestring, ref))
        return false;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(res, "queues"))
    {
        if (it->string && !acl_check(c, HUBCFG_ACL_QUERY, "query", it->string, ref))
            return false;
    }
    return true;
}

/* True if c may query every queue the tree of job_id spans (the rule of query tree); answers
 * FORBIDDEN otherwise. An unknown job passes (the broker answers NO_SUCH_JOB itself). */
static bool acl_check_tree(conn *c, const char *job_id, const char *ref)
{
    if (hubcfg_token_unrestricted(c->tok, HUBCFG_ACL_QUERY))
        return true;
    cJSON *t = broker_query_tree(c->h->b, job_id, NULL);
    bool ok = acl_check_result(c, t, ref);
    cJSON_Delete(t);
    return ok;
}

/* The byte budget of a paged query's jobs array (registry, children): the ok header stays
 * below the smaller of limits.max_header_bytes and the adapters' default header limit, with
 * room for the envelope, the other members of the page and the (escaped) ref. */
static size_t page_budget(const conn *c, const char *ref)
{
    size_t cap = (size_t)c->h->cfg->limits.max_header_bytes;
    if (cap > WSM_MAX_HEADER_DEFAULT)
        cap = WSM_MAX_HEADER_DEFAULT;
    size_t overhead = 1024 + (ref ? 6 * strlen(ref) : 0); /* envelope, job_id, counts, ref */
    return cap > overhead + 256 ? cap - overhead : 256;
}

/* query what=children (protocol §6.12): one page of a job's children or descendants, bounded
 * by page_budget. NULL with e set, or NULL with e.code 0 when FORBIDDEN was answered. */
static cJSON *query_children(conn *c, const wsm_msg *m, const char *ref, wsm_err *e)
{
    const char *job = NULL, *status = NULL;
    bool descendants = false;
    int64_t offset = 0, limit = 100;
    if (wsm_json_str(m->hdr, "", "job_id", true, &job, e) < 0 ||
        wsm_json_bool(m->hdr, "", "descendants", false, &descendants, e) < 0 ||
        wsm_json_str(m->hdr, "", "status", false, &status, e) < 0 ||
        wsm_json_int(m->hdr, "", "offset", false, 0, INT32_MAX, &offset, e) < 0 ||
        wsm_json_int(m->hdr, "", "limit", false, 1, BROKER_PAGE_MAX, &limit, e) < 0)
        return NULL;
    if (!acl_check_tree(c, job, ref)) {
        e->code = 0;
        return NULL;
    }
    return broker_query_children(c->h->b, job, descendants, status, offset, limit,
                                 page_budget(c, ref), e);
}

static void op_query(conn *c, const wsm_msg *m, const char *ref)
{
    hub *h = c->h;
    wsm_err e = {0};
    const char *what = NULL, *job = NULL;
    if (wsm_json_str(m->hdr, "", "what", true, &what, &e) < 0) {
        reply_werr(c, &e, ref);
        return;
    }
    cJSON *res = NULL;
    if (!strcmp(what, "hub")) {
        res = cJSON_CreateObject();
        char ver[64];
        snprintf(ver, sizeof ver, "wshub %s", WSM_VERSION);
        cJSON_AddStringToObject(res, "version", ver);
        cJSON_AddNumberToObject(res, "uptime", (double)(wsm_wall_ms() - h->started_ms) / 1000.0);
        cJSON_AddNumberToObject(res, "connections", (double)h->n_conns);
        cJSON_AddBoolToObject(res, "draining", h->draining);
        cJSON_AddStringToObject(res, "store", store_kind(h->st));
        cJSON_AddNumberToObject(res, "jobs", (double)broker_job_count(h->b));
        cJSON_AddNumberToObject(res, "leased", (double)broker_leased_count(h->b));
        cJSON_AddNumberToObject(res, "trees", (double)broker_tree_count(h->b));
    } else if (!strcmp(what, "queues")) {
        res = broker_query_queues(h->b);
        /* a token restricted by pattern sees only the queues it may query */
        for (int i = cJSON_GetArraySize(res) - 1;
             res && !hubcfg_token_unrestricted(c->tok, HUBCFG_ACL_QUERY) && i >= 0; i--) {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(res, i), "name");
            if (!cJSON_IsString(nm) ||
                !hubcfg_token_allows_on(c->tok, HUBCFG_ACL_QUERY, nm->valuestring))
                cJSON_DeleteItemFromArray(res, i);
        }
    } else if (!strcmp(what, "workers")) {
        if (!hubcfg_token_unrestricted(c->tok, HUBCFG_ACL_QUERY)) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "query: what 'workers' needs query on every queue (\"*\") for role '%s'",
                     c->role);
            conn_error(c, WSM_E_FORBIDDEN, msg, ref);
            return;
        }
        res = broker_query_workers(h->b);
    } else if (!strcmp(what, "job") || !strcmp(what, "tree")) {
        if (wsm_json_str(m->hdr, "", "job_id", true, &job, &e) < 0) {
            reply_werr(c, &e, ref);
            return;
        }
        res = !strcmp(what, "job") ? broker_query_job(h->b, job, &e)
                                   : broker_query_tree(h->b, job, &e);
        if (res && !hubcfg_token_unrestricted(c->tok, HUBCFG_ACL_QUERY) &&
            !acl_check_result(c, res, ref)) {
            cJSON_Delete(res);
            return;
        }
    } else if (!strcmp(what, "registry")) {
        const char *queue = NULL, *reg = NULL, *search = NULL;
        int64_t offset = 0, limit = 100;
        if (wsm_json_str(m->hdr, "", "queue", true, &queue, &e) < 0 ||
            wsm_json_str(m->hdr, "", "registry", true, &reg, &e) < 0 ||
            wsm_json_int(m->hdr, "", "offset", false, 0, INT32_MAX, &offset, &e) < 0 ||
            wsm_json_int(m->hdr, "", "limit", false, 1, BROKER_PAGE_MAX, &limit, &e) < 0 ||
            wsm_json_str(m->hdr, "", "search", false, &search, &e) < 0) {
            reply_werr(c, &e, ref);
            return;
        }
        if (!acl_check(c, HUBCFG_ACL_QUERY, "query", queue, ref))
            return;
        res =
            broker_query_registry(h->b, queue, reg, offset, limit, search, page_budget(c, ref), &e);
    } else if (!strcmp(what, "children")) {
        res = query_children(c, m, ref, &e);
        if (!res && !e.code)
            return; /* refused (FORBIDDEN already answered) */
    } else {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "what: expected hub, queues, workers, job, tree, registry or children (got "
                 "'%.60s')",
                 what);
        reply_err(c, WSM_E_BAD_FIELD, msg, ref);
        return;
    }
    if (!res) {
        if (!e.code)
            wsm_err_set(&e, WSM_E_NOMEM, "out of memory");
        reply_werr(c, &e, ref);
        return;
    }
    ok_json(c, ref, "result", res);
    cJSON_Delete(res);
}

static void op_admin(conn *c, const wsm_msg *m, const char *ref)
{
    hub *h = c->h;
    wsm_err e;
    const char *op = m->op, *job = NULL, *queue = NULL;
    bool all = false;
    size_t count = 0;
    int rc;
    if (wsm_json_str(m->hdr, "", "job_id", false, &job, &e) < 0 ||
        wsm_json_str(m->hdr, "", "queue", false, &queue, &e) < 0 ||
        wsm_json_bool(m->hdr, "", "all", false, &all, &e) < 0) {
        reply_werr(c, &e, ref);
        return;
    }
    if (queue && !acl_check(c, HUBCFG_ACL_ADMIN, op, queue, ref))
        return;
    if (job && !acl_check_job(c, HUBCFG_ACL_ADMIN, op, job, ref))
        return;
    if (!strcmp(op, "requeue")) {
        if (job)
            rc = broker_requeue(h->b, job, &count, &e);
        else if (queue && all)
            rc = broker_requeue_all(h->b, queue, &count, &e);
        else
            rc = wsm_err_set(&e, WSM_E_BAD_FIELD, "requeue: give job_id, or queue with all: true");
    } else if (!strcmp(op, "cancel")) {
        rc = job ? broker_cancel(h->b, job, &count, &e)
                 : wsm_err_set(&e, WSM_E_BAD_FIELD, "job_id: required");
    } else {
        if (!queue)
            rc = wsm_err_set(&e, WSM_E_BAD_FIELD, "queue: required");
        else if (!strcmp(op, "empty"))
            rc = broker_empty(h->b, queue, &count, &e);
        else
            rc = broker_pause(h->b, queue, !strcmp(op, "pause"), &count, &e);
    }
    if (rc != WSM_OK) {
        reply_werr(c, &e, ref);
        return;
    }
    wsm_log(WSM_LOG_INFO, "admin", "session %llu (%s): %s %s: %zu jobs",
            (unsigned long long)c->session, c->name ? c->name : "", op,
            job ? job : (queue ? queue : ""), count);
    ok_with(c, ref, "\"count\":%zu", count);
}

static void op_sub(conn *c, const wsm_msg *m, const char *ref)
{
    op_subscribe(c, m, ref, true);
}

static void op_unsub(conn *c, const wsm_msg *m, const char *ref)
{
    op_subscribe(c, m, ref, false);
}

typedef void (*op_fn)(conn *c, const wsm_msg *m, const char *ref);

/* Ops that need a successful hello; the hot ones first. */
static const struct {
    const char *name;
    op_fn fn;
} op_table[] = {
    {"result", op_result},     {"enqueue", op_enqueue},   {"emit", op_emit},
    {"credit", op_credit},     {"progress", op_progress}, {"fail", op_fail},
    {"consume", op_consume},   {"release", op_release},   {"subscribe", op_sub},
    {"unsubscribe", op_unsub}, {"publish", op_publish},   {"wait", op_wait},
    {"query", op_query},       {"requeue", op_admin},     {"cancel", op_admin},
    {"empty", op_admin},       {"pause", op_admin},       {"resume", op_admin},
};

void ops_handle(conn *c, wsm_msg *m)
{
    const char *op = m->op;
    const char *ref = NULL;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(m->hdr, "id");
    if (id && !cJSON_IsString(id)) {
        conn_error(c, WSM_E_BAD_FIELD, "id: expected string", NULL);
        return;
    }
    if (id)
        ref = id->valuestring;
    op_fn fn = NULL;
    for (size_t i = 0; i < sizeof op_table / sizeof *op_table && !fn; i++)
        if (op[0] == op_table[i].name[0] && !strcmp(op, op_table[i].name))
            fn = op_table[i].fn;
    if (!fn) {
        if (!strcmp(op, "ping")) {
            if (!ref) {
                conn_send(c, "{\"op\":\"pong\"}", 13, NULL, 0);
                return;
            }
            wsm_buf b = WSM_BUF_INIT;
            if (!wsm_buf_append_str(&b, "{\"op\":\"pong\",\"ref\":") && !json_quote(&b, ref) &&
                !wsm_buf_append(&b, "}", 1))
                conn_send(c, (const char *)b.data, b.len, NULL, 0);
            wsm_buf_free(&b);
            return;
        }
        if (!strcmp(op, "pong"))
            return; /* liveness is recorded on every receive */
        if (!strcmp(op, "hello")) {
            op_hello(c, m, ref);
            return;
        }
    }
    char msg[160];
    if (!fn) {
        snprintf(msg, sizeof msg, "op: unknown op '%.60s' in protocol v1", op);
        conn_error(c, WSM_E_UNKNOWN_OP, msg, ref);
        return;
    }
    if (!c->hello_done) {
        snprintf(msg, sizeof msg, "%.60s: send hello first", op);
        conn_error(c, WSM_E_UNAUTHORIZED, msg, ref);
        return;
    }
    if (c->tok && !hubcfg_token_allows(c->tok, op)) {
        snprintf(msg, sizeof msg, "%.60s: not allowed for role '%s'", op, c->role);
        conn_error(c, WSM_E_FORBIDDEN, msg, ref);
        return;
    }
    fn(c, m, ref);
}

/* ------------------------------------------------------------------ broker outputs */

void ops_on_dispatch(void *user, void *conn_user, const broker_dispatch *j)
{
    hub *h = user;
    conn *c = conn_user;
    if (!c || !c->h)
        return;
    size_t il = strlen(j->job_id), ql = strlen(j->queue);
    if (c->tok && c->tok->has_acl && il < sizeof c->acl_job && ql < sizeof c->acl_queue) {
        /* the queue of the job leased last: the emit ACL check needs no broker look-up */
        memcpy(c->acl_job, j->job_id, il + 1);
        memcpy(c->acl_queue, j->queue, ql + 1);
    }
    wsm_buf *s = &h->scratch;
    wsm_buf_reset(s);
    int rc = wsm_buf_append_str(s, "{\"op\":\"job\",\"job_id\":") || json_quote(s, j->job_id) ||
             wsm_buf_append_str(s, ",\"queue\":") || json_quote(s, j->queue) ||
             wsm_buf_append_str(s, ",\"attempt\":") || put_int(s, j->attempt);
    if (j->deadline_at > 0)
        rc = rc || wsm_buf_append_str(s, ",\"deadline_at\":") || put_int(s, j->deadline_at);
    rc = rc || wsm_buf_append_str(s, ",\"args\":") ||
         (j->args ? wsm_buf_append(s, j->args, j->args_len) : wsm_buf_append_str(s, "{}"));
    if (j->meta)
        rc = rc || wsm_buf_append_str(s, ",\"meta\":") || wsm_buf_append(s, j->meta, j->meta_len);
    if (j->key)
        rc = rc || wsm_buf_append_str(s, ",\"key\":") || json_quote(s, j->key);
    if (j->state)
        rc =
            rc || wsm_buf_append_str(s, ",\"state\":") || wsm_buf_append(s, j->state, j->state_len);
    if (j->parent)
        rc = rc || wsm_buf_append_str(s, ",\"parent\":") || json_quote(s, j->parent);
    if (j->root)
        rc = rc || wsm_buf_append_str(s, ",\"root\":") || json_quote(s, j->root);
    rc = rc || wsm_buf_append_str(s, ",\"enqueued_at\":") || put_int(s, j->enqueued_at);
    if (j->content_type)
        rc = rc || wsm_buf_append_str(s, ",\"content_type\":") || json_quote(s, j->content_type);
    if (j->payload_meta)
        rc = rc || wsm_buf_append_str(s, ",\"payload_meta\":") ||
             wsm_buf_append(s, j->payload_meta, j->payload_meta_len);
    rc = rc || wsm_buf_append(s, "}", 1);
    if (rc)
        return;
    conn_send(c, (const char *)s->data, s->len, j->payload, j->len);
    metrics_observe_latency(&h->m, (double)(hub_now(h) - j->enqueued_at) / 1000.0);
}

void ops_on_stop(void *user, void *conn_user, const char *job_id, int attempt, const char *reason)
{
    hub *h = user;
    conn *c = conn_user;
    if (!c || !c->h)
        return;
    wsm_buf *s = &h->scratch;
    wsm_buf_reset(s);
    if (wsm_buf_append_str(s, "{\"op\":\"stop\",\"job_id\":") || json_quote(s, job_id) ||
        wsm_buf_printf(s, ",\"attempt\":%d,\"reason\":", attempt) ||
        json_quote(s, reason ? reason : "canceled") || wsm_buf_append(s, "}", 1))
        return;
    conn_send(c, (const char *)s->data, s->len, NULL, 0);
}

void ops_on_emit_done(void *user, void *conn_user, uint64_t req, int code, const char *job_id,
                      const char *status, const char *message)
{
    (void)user;
    conn *c = conn_user;
    char *ref = NULL;
    if (!c || !c->h || !pend_take(c, req, &ref))
        return;
    if (code == WSM_OK)
        ok_with(c, ref, "\"job_id\":\"%s\",\"status\":\"%s\"", job_id ? job_id : "",
                status ? status : "queued");
    else
        reply_err(c, code, message ? message : "emit failed", ref);
    free(ref);
}

void ops_on_wait_done(void *user, void *conn_user, uint64_t req, int code, const cJSON *job)
{
    (void)user;
    conn *c = conn_user;
    char *ref = NULL;
    if (!c || !c->h || !pend_take(c, req, &ref))
        return;
    if (code == WSM_OK && job)
        ok_json(c, ref, "job", job);
    else if (code == WSM_E_TIMEOUT)
        reply_err(c, WSM_E_TIMEOUT, "wait: timeout before the job ended", ref);
    else
        reply_err(c, code ? code : WSM_E_NO_SUCH_JOB, "wait: the job is gone", ref);
    free(ref);
}

void ops_on_event(void *user, const char *topic, const char *subject, const char *data,
                  size_t data_len)
{
    hub_publish(user, topic, subject, data, data_len, NULL, 0, NULL);
}

void ops_publish_stats(hub *h)
{
    cJSON *q = broker_query_queues(h->b);
    if (!q)
        return;
    wsm_buf b = WSM_BUF_INIT;
    if (!wsm_buf_printf(
            &b,
            "{\"at\":%lld,\"hub\":{\"connections\":%zu,\"uptime\":%.3f,"
            "\"draining\":%s,\"jobs\":%zu,\"leased\":%zu,\"messages_in\":%llu,"
            "\"messages_out\":%llu},\"queues\":",
            (long long)wsm_wall_ms(), h->n_conns, (double)(wsm_wall_ms() - h->started_ms) / 1000.0,
            h->draining ? "true" : "false", broker_job_count(h->b), broker_leased_count(h->b),
            (unsigned long long)h->m.msgs_in, (unsigned long long)h->m.msgs_out) &&
        !wsm_json_append(&b, q) && !wsm_buf_append(&b, "}", 1))
        hub_publish(h, "stats", "hub", (const char *)b.data, b.len, NULL, 0, NULL);
    wsm_buf_free(&b);
    cJSON_Delete(q);
}

void ops_publish_worker(hub *h, conn *c, const char *what)
{
    if (!hub_has_subscriber(h, "workers"))
        return;
    wsm_buf b = WSM_BUF_INIT;
    char subject[32];
    snprintf(subject, sizeof subject, "%llu", (unsigned long long)c->session);
    if (!wsm_buf_printf(&b, "{\"event\":\"%s\",\"session\":%llu,\"name\":", what,
                        (unsigned long long)c->session) &&
        !json_quote(&b, c->name ? c->name : "") &&
        !wsm_buf_printf(&b, ",\"peer\":\"%s\",\"at\":%lld}", c->peer, (long long)wsm_wall_ms()))
        hub_publish(h, "workers", subject, (const char *)b.data, b.len, NULL, 0, NULL);
    wsm_buf_free(&b);
}
