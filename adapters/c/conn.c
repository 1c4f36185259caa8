/*
 * conn.c - a protocol v1 session (see conn.h).
 *
 * States: DOWN --conn_start--> CONNECTING --ws open, hello sent--> HELLO --welcome--> READY
 *         any --transport closed / hello refused / hello timeout--> DOWN (on_down)
 *
 * Invariants:
 *  - Outgoing protocol messages are appended to c->out and sent as one WebSocket message by
 *    flush_cb, which runs once per loop iteration after the appends (batching); a batch is
 *    flushed early when it reaches BATCH_MAX. While held (conn_hold), the loop leaves the batch
 *    alone until the hold ends (BATCH_MAX still applies). Every batch goes in a binary frame
 *    (protocol §2 allows it whatever the payloads are; the hub then skips the UTF-8 check).
 *  - Every request with an id has one entry in the reply table until its reply arrives or the
 *    connection ends; then its callback runs exactly once (WSM_E_CLOSED on connection end).
 *  - Messages are only accepted for sending while READY (hello itself is sent internally).
 */
#include "conn.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "transport.h"

#define BATCH_MAX (256u << 10)
#define SPARE_MAX 4096 /* recycled reply table entries kept */

enum conn_state { C_DOWN, C_CONNECTING, C_HELLO, C_READY };

struct pending {
    uint64_t id;
    conn_reply_fn fn;
    void *ud;
    struct pending *next;
};

struct conn {
    struct event_base *base;
    struct evdns_base *dns;
    SSL_CTX *ssl;
    wsm_options o;
    const char *kind;
    conn_handlers h;
    void *ud;
    wst_url url;
    wst *t;
    enum conn_state state;
    uint64_t next_id; /* atomic: handler threads take ids too (conn_next_id) */

    wsm_buf out;
    struct event *flush_ev;
    bool flush_armed;
    conn_reply_fn light[4]; /* conn_light_reply */
    int n_light;
    bool hold; /* conn_hold: the loop does not send the batch (BATCH_MAX still does) */
    struct event *hello_timer;

    struct pending **tab; /* reply table: chained hash on id */
    size_t tab_size;      /* power of two */
    size_t n_pending;
    struct pending *spare; /* recycled entries (no allocation per request) */
    size_t n_spare;

    cJSON *welcome;
    int emit_window;
    wsm_buf *cur_msg; /* the WebSocket message being dispatched (conn_take_message) */
    bool cur_single;  /* ... and it holds only the protocol message being handled */
    wsm_msg *cur_m;   /* the protocol message being handled (conn_take_header) */
    int down_code;    /* overrides the transport's code (e.g. UNAUTHORIZED from hello) */
    char errstr[1024];
    bool detached;
};

void conn_options_defaults(wsm_options *o)
{
    if (!o->url)
        o->url = getenv("WSMESH_URL");
    if (!o->url || !*o->url)
        o->url = WSM_DEFAULT_URL;
    if (!o->token)
        o->token = getenv("WSMESH_TOKEN");
    if (!o->cert_file || !*o->cert_file)
        o->cert_file = getenv("WSMESH_CERT_FILE");
    if (!o->key_file || !*o->key_file)
        o->key_file = getenv("WSMESH_KEY_FILE");
    if (o->cert_file && !*o->cert_file)
        o->cert_file = NULL;
    if (o->key_file && !*o->key_file)
        o->key_file = NULL;
    if (!o->name)
        o->name = "wsmesh";
    if (o->instance && !*o->instance)
        o->instance = NULL;
    if (o->concurrency <= 0)
        o->concurrency = 1;
    if (o->prefetch <= 0)
        o->prefetch = o->concurrency;
    if (o->connect_timeout <= 0)
        o->connect_timeout = 10;
    if (o->ping_interval <= 0)
        o->ping_interval = 15;
    if (o->pong_timeout <= 0)
        o->pong_timeout = 10;
    if (o->reconnect_max <= 0)
        o->reconnect_max = 5;
    if (!o->max_message_bytes)
        o->max_message_bytes = 64u << 20;
    if (!o->max_unsent_bytes)
        o->max_unsent_bytes = 64u << 20;
}

int conn_options_take(wsm_options *dst, const wsm_options *src, wsm_err *err)
{
    if (src)
        *dst = *src;
    conn_options_defaults(dst);
    if (dst->log_level) {
        wsm_log_level lv;
        if (wsm_log_parse_level(dst->log_level, &lv) != 0)
            return wsm_err_set(err, WSM_E_USAGE,
                               "log-level %s: expected error|warn|info|debug|trace",
                               dst->log_level);
        wsm_log_set_level(lv);
    }
    return 0;
}

/* ------------------------------------------------------------------ reply table */

static int tab_put(conn *c, uint64_t id, conn_reply_fn fn, void *ud)
{
    if (c->n_pending + 1 > c->tab_size) {
        size_t ns = c->tab_size ? c->tab_size * 2 : 64;
        struct pending **nt = wsm__calloc(ns, sizeof *nt);
        if (!nt)
            return WSM_E_NOMEM;
        for (size_t i = 0; i < c->tab_size; i++) {
            struct pending *p = c->tab[i];
            while (p) {
                struct pending *nx = p->next;
                p->next = nt[p->id & (ns - 1)];
                nt[p->id & (ns - 1)] = p;
                p = nx;
            }
        }
        wsm__free(c->tab);
        c->tab = nt;
        c->tab_size = ns;
    }
    struct pending *p = c->spare;
    if (p) {
        c->spare = p->next;
        c->n_spare--;
    } else if (!(p = wsm__malloc(sizeof *p))) {
        return WSM_E_NOMEM;
    }
    p->id = id;
    p->fn = fn;
    p->ud = ud;
    p->next = c->tab[id & (c->tab_size - 1)];
    c->tab[id & (c->tab_size - 1)] = p;
    c->n_pending++;
    return 0;
}

/* Gives a reply table entry back for reuse (up to SPARE_MAX are kept). Accepts NULL. */
static void pending_free(conn *c, struct pending *p)
{
    if (!p)
        return;
    if (c->n_spare >= SPARE_MAX) {
        wsm__free(p);
        return;
    }
    p->next = c->spare;
    c->spare = p;
    c->n_spare++;
}

static struct pending *tab_take(conn *c, uint64_t id)
{
    if (!c->tab_size)
        return NULL;
    for (struct pending **pp = &c->tab[id & (c->tab_size - 1)]; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            struct pending *p = *pp;
            *pp = p->next;
            c->n_pending--;
            return p;
        }
    }
    return NULL;
}

static struct pending *tab_peek(const conn *c, uint64_t id)
{
    if (!c->tab_size)
        return NULL;
    for (struct pending *p = c->tab[id & (c->tab_size - 1)]; p; p = p->next)
        if (p->id == id)
            return p;
    return NULL;
}

void conn_light_reply(conn *c, conn_reply_fn fn)
{
    if (c->n_light < (int)(sizeof c->light / sizeof c->light[0]))
        c->light[c->n_light++] = fn;
}

/* The hub's success reply {"op":"ok","ref":"<digits>"...} (any further members, no payload)
 * to a request whose callback was registered with conn_light_reply: delivered without parsing
 * the header. Returns the bytes consumed at data[0..n) (0 when the message is not one of
 * those: it then takes the general path). */
static size_t fast_ok(conn *c, const unsigned char *data, size_t n)
{
    static const char pre[] = "{\"op\":\"ok\",\"ref\":\"";
    const size_t pl = sizeof pre - 1;
    if (!c->n_light || n < pl + 4 || memcmp(data, pre, pl) != 0)
        return 0;
    uint64_t id = 0;
    size_t i = pl, d = 0;
    for (; i < n && data[i] >= '0' && data[i] <= '9' && d < 19; i++, d++)
        id = id * 10 + (uint64_t)(data[i] - '0');
    if (!d || i + 3 > n || data[i] != '"' || (data[i + 1] != '}' && data[i + 1] != ','))
        return 0;
    const unsigned char *nl = memchr(data + i, '\n', n - i);
    if (!nl || nl[-1] != '}')
        return 0;
    size_t line = (size_t)(nl - data);
    /* a payload ("len") needs the general path; so does anything cJSON might read as one: a
     * name that starts with len (cJSON ends a name at a raw NUL byte: "len\0x") or any
     * escape (a name spelled "l\u0065n"). The hub's plain replies have neither. */
    if (data[i + 1] == ',') {
        const unsigned char *rest = data + i + 1;
        if (memchr(rest, '\\', (size_t)(nl - rest)))
            return 0;
        for (const unsigned char *q = rest; (q = memchr(q, '"', (size_t)(nl - q))); q++)
            if (nl - q >= 4 && memcmp(q, "\"len", 4) == 0)
                return 0;
    }
    struct pending *p = tab_peek(c, id);
    if (!p || !p->fn)
        return 0;
    int k = 0;
    while (k < c->n_light && c->light[k] != p->fn)
        k++;
    if (k == c->n_light)
        return 0;
    tab_take(c, id);
    wsm_msg m = {.op = "ok", .hdr_text = (const char *)data, .hdr_len = line};
    conn_reply_fn fn = p->fn;
    void *ud = p->ud;
    pending_free(c, p);
    fn(ud, 0, &m);
    return line + 1;
}

/* Fails every pending request with WSM_E_CLOSED. Callbacks may send (they get CLOSED). */
static void tab_fail_all(conn *c)
{
    while (c->n_pending) {
        for (size_t i = 0; i < c->tab_size; i++) {
            struct pending *p = c->tab[i];
            if (!p)
                continue;
            c->tab[i] = p->next;
            c->n_pending--;
            if (p->fn)
                p->fn(p->ud, WSM_E_CLOSED, NULL);
            wsm__free(p);
        }
    }
}

/* ------------------------------------------------------------------ sending */

static void flush_now(conn *c)
{
    if (c->flush_armed) {
        event_del(c->flush_ev);
        c->flush_armed = false;
    }
    if (!c->out.len || !c->t)
        return;
    int rc = wst_send_buf(c->t, &c->out);
    if (rc != 0) {
        snprintf(c->errstr, sizeof c->errstr, "cannot send to %s: %s", c->url.text,
                 rc == WSM_E_LIMIT ? "too many unsent bytes (the hub does not read)"
                                   : wsm_strerror(rc));
        wsm_log(WSM_LOG_WARN, "wsmesh", "%s", c->errstr);
        wsm_buf_reset(&c->out);
        c->down_code = rc == WSM_E_LIMIT ? WSM_E_LIMIT : WSM_E_IO;
        wst_close(c->t, 1011, "send failed");
    }
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    c->flush_armed = false;
    if (!c->hold)
        flush_now(c);
}

void conn_hold(conn *c, bool hold)
{
    c->hold = hold;
    if (!hold && c->out.len && !c->flush_armed && c->flush_ev) {
        c->flush_armed = true;
        event_active(c->flush_ev, EV_TIMEOUT, 0);
    }
}

/* A message was appended to c->out: flush early at BATCH_MAX, else at the end of the turn. */
static void appended(conn *c)
{
    if (c->out.len >= BATCH_MAX) {
        flush_now(c);
    } else if (!c->flush_armed) {
        c->flush_armed = true;
        event_active(c->flush_ev, EV_TIMEOUT, 0);
    }
}

static int append_msg(conn *c, const unsigned char *msg, size_t n)
{
    if (c->detached)
        return 0;
    if (wsm_buf_append(&c->out, msg, n) != 0)
        return WSM_E_NOMEM;
    appended(c);
    return 0;
}

int conn_send_framed(conn *c, uint64_t id, const unsigned char *msg, size_t n, conn_reply_fn fn,
                     void *ud)
{
    if (c->state != C_READY)
        return WSM_E_CLOSED;
    if (id && fn && tab_put(c, id, fn, ud) != 0)
        return WSM_E_NOMEM;
    int rc = append_msg(c, msg, n);
    if (rc != 0 && id && fn)
        pending_free(c, tab_take(c, id));
    return rc;
}

wsm_buf *conn_out(conn *c)
{
    return c->state == C_READY ? &c->out : NULL;
}

int conn_out_commit(conn *c, size_t mark, uint64_t id, conn_reply_fn fn, void *ud)
{
    if (c->detached) {
        c->out.len = mark;
        return 0;
    }
    if (id && fn && tab_put(c, id, fn, ud) != 0) {
        c->out.len = mark;
        return WSM_E_NOMEM;
    }
    appended(c);
    return 0;
}

static int send_hdr_any(conn *c, cJSON *hdr, const void *payload, size_t len, conn_reply_fn fn,
                        void *ud, bool internal)
{
    if (!internal && c->state != C_READY)
        return WSM_E_CLOSED;
    uint64_t id = 0;
    if (fn) {
        id = conn_next_id(c);
        char ids[24];
        snprintf(ids, sizeof ids, "%" PRIu64, id);
        cJSON_DeleteItemFromObjectCaseSensitive(hdr, "id");
        if (!cJSON_AddStringToObject(hdr, "id", ids))
            return WSM_E_NOMEM;
    }
    wsm_buf b = WSM_BUF_INIT;
    if (wsm_frame_append(&b, hdr, payload, len) != 0) {
        wsm_buf_free(&b);
        return WSM_E_NOMEM;
    }
    int rc;
    if (internal) {
        rc = (id && tab_put(c, id, fn, ud) != 0) ? WSM_E_NOMEM : append_msg(c, b.data, b.len);
    } else {
        rc = conn_send_framed(c, id, b.data, b.len, fn, ud);
    }
    wsm_buf_free(&b);
    return rc;
}

int conn_send_hdr(conn *c, cJSON *hdr, const void *payload, size_t len, conn_reply_fn fn, void *ud)
{
    return send_hdr_any(c, hdr, payload, len, fn, ud, false);
}

uint64_t conn_next_id(conn *c)
{
    return __atomic_add_fetch(&c->next_id, 1, __ATOMIC_RELAXED);
}

size_t conn_unsent(const conn *c)
{
    return c->out.len + (c->t ? wst_unsent(c->t) : 0);
}

/* ------------------------------------------------------------------ session */

static void hello_reply(void *ud, int code, const wsm_msg *m)
{
    conn *c = ud;
    if (c->hello_timer)
        event_del(c->hello_timer);
    if (code == WSM_E_CLOSED)
        return;
    if (code != 0) {
        const cJSON *msg = m ? cJSON_GetObjectItemCaseSensitive(m->hdr, "message") : NULL;
        snprintf(c->errstr, sizeof c->errstr, "hub %s refused hello: %s: %s", c->url.text,
                 wsm_code_name(code), cJSON_IsString(msg) ? msg->valuestring : "");
        c->down_code = code;
        wst_close(c->t, 1000, "hello refused");
        return;
    }
    cJSON_Delete(c->welcome);
    c->welcome = cJSON_Duplicate(m->hdr, 1);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(m->hdr, "emit_window");
    c->emit_window = cJSON_IsNumber(w) && w->valuedouble >= 1 ? (int)w->valuedouble : 64;
    c->state = C_READY;
    c->errstr[0] = 0;
    wsm_log(WSM_LOG_DEBUG, "wsmesh", "connected to %s%s", c->url.text, c->url.path);
    if (c->h.on_ready)
        c->h.on_ready(c->ud);
}

static void hello_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    if (c->state != C_HELLO)
        return;
    snprintf(c->errstr, sizeof c->errstr, "cannot connect to %s: no answer to hello within %gs",
             c->url.text, c->o.connect_timeout);
    c->down_code = WSM_E_CONNECT;
    wst_close(c->t, 1000, "hello timeout");
}

static void t_on_open(void *ud)
{
    conn *c = ud;
    c->state = C_HELLO;
    cJSON *h = cJSON_CreateObject();
    cJSON *vers = cJSON_CreateArray();
    char inst[400], host[256] = "";
    const char *label = getenv("WSMESH_INSTANCE");
    gethostname(host, sizeof host - 1);
    if (c->o.instance)
        snprintf(inst, sizeof inst, "%s", c->o.instance);
    else if (label && *label) /* the supervisor's name[i], and which process it is */
        snprintf(inst, sizeof inst, "%.100s %s:%d", label, host, (int)getpid());
    else
        snprintf(inst, sizeof inst, "%s:%d", host, (int)getpid());
    if (!h || !vers || !cJSON_AddStringToObject(h, "op", "hello") ||
        !cJSON_AddItemToArray(vers, cJSON_CreateNumber(WSM_PROTOCOL_VERSION)) ||
        !cJSON_AddItemToObject(h, "versions", vers) ||
        !cJSON_AddStringToObject(h, "name", c->o.name) ||
        !cJSON_AddStringToObject(h, "kind", c->kind) ||
        !cJSON_AddStringToObject(h, "instance", inst) ||
        (c->o.token && *c->o.token && !cJSON_AddStringToObject(h, "token", c->o.token))) {
        if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(h, "versions")))
            cJSON_Delete(vers);
        cJSON_Delete(h);
        c->down_code = WSM_E_NOMEM;
        wst_close(c->t, 1011, "out of memory");
        return;
    }
    if (send_hdr_any(c, h, NULL, 0, hello_reply, c, true) != 0) {
        c->down_code = WSM_E_NOMEM;
        wst_close(c->t, 1011, "out of memory");
    }
    cJSON_Delete(h);
    flush_now(c);
    struct timeval tv = wsm__timeval(c->o.connect_timeout);
    event_add(c->hello_timer, &tv);
}

static void t_on_message(void *ud, wsm_buf *msg, bool binary)
{
    conn_dispatch(ud, msg);
}

static void t_on_closed(void *ud, int code, const char *reason)
{
    conn *c = ud;
    /* reason lives in the transport: copy it before freeing the transport */
    if (!c->down_code || !c->errstr[0])
        snprintf(c->errstr, sizeof c->errstr, "%s", reason);
    wst_free(c->t);
    c->t = NULL;
    bool was_ready = c->state == C_READY;
    c->state = C_DOWN;
    if (c->hello_timer)
        event_del(c->hello_timer);
    if (c->flush_armed) {
        event_del(c->flush_ev);
        c->flush_armed = false;
    }
    wsm_buf_reset(&c->out);
    int dc = c->down_code ? c->down_code : code;
    c->down_code = 0;
    if (was_ready)
        wsm_log(WSM_LOG_DEBUG, "wsmesh", "disconnected: %s", c->errstr);
    tab_fail_all(c);
    if (c->h.on_down)
        c->h.on_down(c->ud, dc, c->errstr);
}

unsigned char *conn_take_message(conn *c, size_t *cap)
{
    if (!c->cur_msg || !c->cur_single)
        return NULL;
    unsigned char *d = c->cur_msg->data;
    if (cap)
        *cap = c->cur_msg->cap;
    c->cur_msg->data = NULL;
    c->cur_msg->len = c->cur_msg->cap = 0;
    c->cur_msg = NULL;
    return d;
}

void conn_recycle(conn *c, unsigned char *buf, size_t cap)
{
    if (c && c->t)
        wst_recycle(c->t, buf, cap);
    else
        wsm__free(buf);
}

cJSON *conn_take_header(conn *c)
{
    if (!c->cur_m)
        return NULL;
    cJSON *h = c->cur_m->hdr;
    c->cur_m->hdr = NULL;
    return h;
}

void conn_dispatch(conn *c, wsm_buf *msg)
{
    size_t off = 0;
    wsm_msg m;
    wsm_err err;
    int rc = 0;
    const unsigned char *data = msg->data ? msg->data : (const unsigned char *)"";
    size_t n = msg->len;
    bool first = true;
    for (;;) {
        size_t k = off < n ? fast_ok(c, data + off, n - off) : 0;
        if (k) {
            off += k;
            first = false;
            continue;
        }
        jobscan js;
        if (c->h.on_job && off < n && jobscan_parse(data + off, n - off, 0, &js)) {
            /* the service's hot path: no cJSON tree for the header */
            c->cur_msg = msg;
            c->cur_single = first && off + js.total == n;
            c->h.on_job(c->ud, &js, data + off);
            c->cur_msg = NULL;
            off += js.total;
            first = false;
            if (!msg->data) /* taken: it held only this message */
                break;
            continue;
        }
        if ((rc = wsm_frame_next(data, n, &off, 0, &m, &err)) != 1)
            break;
        c->cur_msg = msg;
        c->cur_m = &m;
        c->cur_single = first && off == n;
        first = false;
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(m.hdr, "ref");
        /* a reply is any message whose ref names one of our outstanding requests ("ok",
         * "error", "welcome" for hello, "pong") */
        bool is_reply = strcmp(m.op, "ok") == 0 || strcmp(m.op, "error") == 0 ||
                        strcmp(m.op, "pong") == 0 || strcmp(m.op, "welcome") == 0;
        struct pending *p = NULL;
        if (cJSON_IsString(ref)) {
            char *end;
            unsigned long long id = strtoull(ref->valuestring, &end, 10);
            if (*end == 0 && end != ref->valuestring)
                p = tab_take(c, id);
        }
        if (p) {
            int code = 0;
            if (strcmp(m.op, "error") == 0) {
                const cJSON *cd = cJSON_GetObjectItemCaseSensitive(m.hdr, "code");
                code = cJSON_IsString(cd) ? wsm_code_from_name(cd->valuestring) : WSM_E_INTERNAL;
                if (code == WSM_OK)
                    code = WSM_E_INTERNAL;
            }
            conn_reply_fn fn = p->fn;
            void *ud = p->ud;
            pending_free(c, p);
            if (fn)
                fn(ud, code, &m);
        } else if (strcmp(m.op, "ping") == 0) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(m.hdr, "id");
            if (c->state == C_READY || c->state == C_HELLO) {
                cJSON *pong = cJSON_CreateObject();
                if (pong && cJSON_AddStringToObject(pong, "op", "pong") &&
                    (!cJSON_IsString(id) || cJSON_AddStringToObject(pong, "ref", id->valuestring)))
                    send_hdr_any(c, pong, NULL, 0, NULL, NULL, true);
                cJSON_Delete(pong);
            }
        } else if (is_reply && !p && strcmp(m.op, "error") != 0) {
            /* a late reply to a request we no longer track: ignore */
        } else {
            if (strcmp(m.op, "error") == 0) {
                const cJSON *cd = cJSON_GetObjectItemCaseSensitive(m.hdr, "code");
                const cJSON *ms = cJSON_GetObjectItemCaseSensitive(m.hdr, "message");
                wsm_log(WSM_LOG_WARN, "wsmesh", "hub error %s: %s",
                        cJSON_IsString(cd) ? cd->valuestring : "?",
                        cJSON_IsString(ms) ? ms->valuestring : "");
            }
            if (c->h.on_msg)
                c->h.on_msg(c->ud, &m);
        }
        c->cur_msg = NULL;
        c->cur_m = NULL;
        wsm_msg_clear(&m);
        if (!msg->data) /* taken: it held only this message */
            break;
    }
    if (rc < 0)
        wsm_log(WSM_LOG_WARN, "wsmesh", "bad message from the hub: %s: %s", wsm_code_name(-rc),
                err.msg);
}

/* ------------------------------------------------------------------ life cycle */

conn *conn_new(struct event_base *base, const wsm_options *o, const char *kind,
               const conn_handlers *h, void *ud, wsm_err *err)
{
    conn *c = wsm__calloc(1, sizeof *c);
    if (!c) {
        wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        return NULL;
    }
    c->base = base;
    c->o = *o;
    c->kind = kind;
    c->h = *h;
    c->ud = ud;
    c->emit_window = 64;
    if (wst_parse_url(o->url, &c->url, err) != 0)
        goto fail;
    if (c->url.tls && !(c->ssl = wst_ssl_ctx_new(o->ca_file, o->cert_file, o->key_file, err)))
        goto fail;
    if (!c->url.tls && (o->cert_file || o->key_file))
        wsm_log(WSM_LOG_DEBUG, "wsmesh", "%s is ws://: the client certificate is not used",
                c->url.text);
    c->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (!c->dns) /* no resolv.conf: IP literals still work */
        c->dns = evdns_base_new(base, 0);
    c->flush_ev = event_new(base, -1, 0, flush_cb, c);
    c->hello_timer = evtimer_new(base, hello_timeout_cb, c);
    if (!c->dns || !c->flush_ev || !c->hello_timer) {
        wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        goto fail;
    }
    return c;
fail:
    conn_free(c);
    return NULL;
}

conn *conn_new_detached(const conn_handlers *h, void *ud)
{
    conn *c = wsm__calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->h = *h;
    c->ud = ud;
    c->detached = true;
    c->state = C_READY;
    c->emit_window = 64;
    return c;
}

int conn_start(conn *c)
{
    if (c->state != C_DOWN)
        return 0;
    wst_config cfg = {
        .connect_timeout = c->o.connect_timeout,
        .ping_interval = c->o.ping_interval,
        .pong_timeout = c->o.pong_timeout,
        .max_message_bytes = c->o.max_message_bytes,
        .max_unsent_bytes = c->o.max_unsent_bytes,
    };
    wst_handlers th = {.on_open = t_on_open, .on_message = t_on_message, .on_closed = t_on_closed};
    c->down_code = 0;
    c->hold = false;
    c->t = wst_open(c->base, c->dns, c->ssl, &c->url, &cfg, &th, c);
    if (!c->t)
        return WSM_E_NOMEM;
    c->state = C_CONNECTING;
    return 0;
}

bool conn_is_ready(const conn *c)
{
    return c->state == C_READY;
}

bool conn_is_down(const conn *c)
{
    return c->state == C_DOWN;
}

const cJSON *conn_welcome(const conn *c)
{
    return c->welcome;
}

int conn_emit_window(const conn *c)
{
    return c->emit_window;
}

const char *conn_errstr(const conn *c)
{
    return c->errstr;
}

const char *conn_url_text(const conn *c)
{
    return c->url.text;
}

void conn_close(conn *c)
{
    if (!c || !c->t)
        return;
    flush_now(c);
    wst_close(c->t, 1000, "bye");
}

void conn_free(conn *c)
{
    if (!c)
        return;
    wst_free(c->t);
    c->t = NULL;
    for (size_t i = 0; i < c->tab_size; i++) {
        while (c->tab[i]) {
            struct pending *p = c->tab[i];
            c->tab[i] = p->next;
            wsm__free(p);
        }
    }
    wsm__free(c->tab);
    while (c->spare) {
        struct pending *p = c->spare;
        c->spare = p->next;
        wsm__free(p);
    }
    if (c->flush_ev)
        event_free(c->flush_ev);
    if (c->hello_timer)
        event_free(c->hello_timer);
    if (c->dns)
        evdns_base_free(c->dns, 0);
    if (c->ssl)
        SSL_CTX_free(c->ssl);
    cJSON_Delete(c->welcome);
    wsm_buf_free(&c->out);
    wsm__free(c);
}
