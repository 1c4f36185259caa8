/*
 * net.c - wshub's network layer: libwebsockets 4.1 on one libuv loop (LWS_SERVER_OPTION_LIBUV
 * with a foreign uv_loop_t), connections, outbound batching, close handling, topics, the
 * store's commit pipeline, timers, signals and graceful drain.
 *
 * Invariants:
 *  - One thread (the loop) touches the hub, the broker and lws; only store_batch_commit runs
 *    on a libuv work thread, one batch at a time (h->committing).
 *  - Output is queued per connection (out_chunk list) and written only from
 *    LWS_CALLBACK_SERVER_WRITEABLE, one lws_write per callback. Every protocol message
 *    queued while a chunk is below BATCH_TARGET joins that chunk, so a burst of messages
 *    leaves as ONE WebSocket message, always a binary frame (protocol §2 allows it for every
 *    message; the receiver then skips the UTF-8 check a text frame costs, and we skip ours).
 *  - Queued output above limits.send_buffer_bytes = slow consumer: the output is dropped and
 *    the connection closed with 1013; the broker requeues its leased jobs on close.
 *  - Closing with a status: we never return -1 from a read/write callback (with libuv that
 *    drops the socket without a close frame); we arm lws_set_timer_usecs and close from
 *    LWS_CALLBACK_TIMER with lws_close_reason.
 *  - A conn struct is lws's per-session data: valid from ESTABLISHED to CLOSED. On CLOSED it
 *    leaves the broker (broker_conn_free) and every held reply pointing at it is dropped.
 *  - Replies acknowledging broker changes are held until the store has committed them
 *    (held_ack list, FIFO in change-seq order) when the store is persistent.
 *  - Access (docs/operations.md, Security): a WebSocket upgrade whose Origin header is not
 *    allowed is refused in FILTER_PROTOCOL_CONNECTION (HTTP 403) before any protocol byte; a
 *    connection without a successful hello is closed after limits.hello_timeout; with
 *    listen.tls every byte is TLS (lws + OpenSSL), a plain connection is dropped.
 */
#include "net.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define BATCH_TARGET  (1u << 20) /* start a new WebSocket message above this many bytes */
#define MAX_COALESCED 4096       /* per connection (topic, subject) entries kept when slow */
/* Between deciding to close and closing: input still in flight is read and dropped, so that
 * the kernel does not answer our close with a reset (the peer would lose our last error). */
#define CLOSE_DELAY_US 50000
/* Slow consumer: queued output above limits.send_buffer_bytes with no write progress for
 * SLOW_STALL_MS, or above SLOW_HARD_FACTOR times it at any moment. */
#define SLOW_STALL_MS 1000
/* A connection closing gracefully (queued output first, then the close frame) that is still
 * open after this long has a peer that does not read: its output is dropped and it is closed
 * now, so that it releases its buffers and its max_connections slot. */
#define CLOSE_FORCE_MS   2000
#define SLOW_HARD_FACTOR 4

int64_t hub_now(hub *h)
{
    /* Unix ms from the loop's cached clock (one clock_gettime per loop turn, not per call);
     * never goes backwards. Re-based on the wall clock by the housekeeping timer. */
    if (!h->loop_inited)
        return wsm_wall_ms();
    int64_t t = h->wall_base + ((int64_t)uv_now(&h->loop) - h->uv_base);
    if (t < h->last_now)
        t = h->last_now;
    h->last_now = t;
    return t;
}

static void clock_rebase(hub *h)
{
    h->wall_base = wsm_wall_ms();
    h->uv_base = (int64_t)uv_now(&h->loop);
}

static int64_t clock_now(void *user)
{
    return hub_now(user);
}

/* ------------------------------------------------------------------ JSON helpers */

int json_quote(wsm_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (wsm_buf_reserve(b, strlen(s) + 2))
        return WSM_E_NOMEM;
    size_t mark = b->len;
    if (wsm_buf_append(b, "\"", 1))
        return WSM_E_NOMEM;
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *run = p;
    for (;; p++) {
        unsigned char ch = *p;
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        if (p > run && wsm_buf_append(b, run, (size_t)(p - run)))
            goto nomem;
        if (!ch)
            break;
        char esc[8];
        size_t n;
        switch (ch) {
        case '"':
            n = 2, memcpy(esc, "\\\"", 2);
            break;
        case '\\':
            n = 2, memcpy(esc, "\\\\", 2);
            break;
        case '\n':
            n = 2, memcpy(esc, "\\n", 2);
            break;
        case '\r':
            n = 2, memcpy(esc, "\\r", 2);
            break;
        case '\t':
            n = 2, memcpy(esc, "\\t", 2);
            break;
        default:
            n = 6, memcpy(esc, "\\u00", 4), esc[4] = hex[ch >> 4], esc[5] = hex[ch & 15];
        }
        if (wsm_buf_append(b, esc, n))
            goto nomem;
        run = p + 1;
    }
    if (wsm_buf_append(b, "\"", 1))
        goto nomem;
    return 0;
nomem:
    b->len = mark;
    return WSM_E_NOMEM;
}

/* ------------------------------------------------------------------ output */

static void chunk_free(out_chunk *ch)
{
    wsm_buf_free(&ch->b);
    free(ch);
}

static void conn_drop_output(conn *c)
{
    out_chunk *ch = c->out_head;
    while (ch) {
        out_chunk *n = ch->next;
        chunk_free(ch);
        ch = n;
    }
    c->out_head = c->out_tail = NULL;
    c->out_bytes = 0;
}

static out_chunk *chunk_for(conn *c, size_t need)
{
    out_chunk *t = c->out_tail;
    if (t && t->b.len - LWS_PRE < BATCH_TARGET)
        return t;
    out_chunk *ch = calloc(1, sizeof *ch);
    if (!ch)
        return NULL;
    if (wsm_buf_reserve(&ch->b, LWS_PRE + (need < 4096 ? 4096 : need))) {
        free(ch);
        return NULL;
    }
    memset(ch->b.data, 0, LWS_PRE);
    ch->b.len = LWS_PRE;
    if (t)
        t->next = ch;
    else
        c->out_head = ch;
    c->out_tail = ch;
    return ch;
}

/* Asks lws for one WRITEABLE callback; asked once until it comes (each request changes the
 * poll set: an epoll_ctl per message otherwise). */
static void conn_want_write(conn *c)
{
    if (c->wsi && !c->write_requested) {
        c->write_requested = true;
        lws_callback_on_writable(c->wsi);
    }
}

int conn_send(conn *c, const char *hdr, size_t hdr_n, const void *payload, size_t n)
{
    if (c->closing)
        return 0;
    if (!c->out_head)
        c->out_since = (int64_t)uv_now(&c->h->loop);
    out_chunk *ch = chunk_for(c, hdr_n + n + 32);
    if (!ch)
        return WSM_E_NOMEM;
    size_t mark = ch->b.len;
    if (wsm_frame_append_raw(&ch->b, hdr, hdr_n, payload, n))
        return WSM_E_NOMEM;
    c->out_bytes += ch->b.len - mark;
    c->h->m.msgs_out++;
    if ((int64_t)c->out_bytes > SLOW_HARD_FACTOR * c->h->cfg->limits.send_buffer_bytes) {
        wsm_log(WSM_LOG_WARN, "net",
                "session %llu (%s): send buffer above %d x %lld bytes: closing (slow consumer)",
                (unsigned long long)c->session, c->peer, SLOW_HARD_FACTOR,
                (long long)c->h->cfg->limits.send_buffer_bytes);
        c->h->m.close_slow++;
        conn_close(c, 1013, "send buffer overflow (slow consumer)", true);
        return 0;
    }
    conn_want_write(c);
    return 0;
}

void conn_close(conn *c, int status, const char *reason, bool drop_output)
{
    if (c->closing)
        return;
    c->closing = true;
    c->closing_since = (int64_t)uv_now(&c->h->loop);
    c->close_status = status;
    snprintf(c->close_reason, sizeof c->close_reason, "%s", reason);
    if (drop_output)
        conn_drop_output(c);
    if (!c->wsi)
        return;
    if (!c->out_head) {
        lws_set_timer_usecs(c->wsi, CLOSE_DELAY_US);
        /* outside an lws callback (our timers) lws does not re-arm its scheduler by itself:
         * wake its service so that the timer above is taken into account */
        lws_cancel_service(c->h->ctx);
    } else {
        conn_want_write(c);
    }
}

/* Appends the error header {"op":"error","code":..,"message":..[,"ref":..]} to b. */
static int error_header(wsm_buf *b, int code, const char *msg, const char *ref)
{
    return wsm_buf_printf(b,
                          "{\"op\":\"error\",\"code\":\"%s\",\"message\":", wsm_code_name(code)) ||
           json_quote(b, msg ? msg : "") ||
           (ref && (wsm_buf_append_str(b, ",\"ref\":") || json_quote(b, ref))) ||
           wsm_buf_append(b, "}", 1);
}

void conn_error(conn *c, int code, const char *msg, const char *ref)
{
    hub *h = c->h;
    if (code > 0 && code < WSM_CODE_COUNT)
        h->m.errors[code]++;
    wsm_buf *s = &h->scratch;
    wsm_buf_reset(s);
    if (error_header(s, code, msg, ref))
        return;
    wsm_log(WSM_LOG_DEBUG, "net", "session %llu: error %s: %s", (unsigned long long)c->session,
            wsm_code_name(code), msg ? msg : "");
    conn_send(c, (const char *)s->data, s->len, NULL, 0);
    if (++c->errors >= h->cfg->limits.max_errors && !c->closing) {
        h->m.close_errors++;
        wsm_log(WSM_LOG_WARN, "net", "session %llu (%s): %d protocol errors: closing",
                (unsigned long long)c->session, c->peer, c->errors);
        conn_close(c, 1008, "too many protocol errors", false);
    }
}

/* ------------------------------------------------------------------ failed hellos */

#define AUTH_FORGET_MS (10 * 60 * 1000)

static auth_fail *auth_entry(hub *h, const char *peer, bool create)
{
    int64_t now = (int64_t)uv_now(&h->loop);
    auth_fail *oldest = &h->auth_fails[0];
    for (size_t i = 0; i < HUB_AUTH_PEERS; i++) {
        auth_fail *a = &h->auth_fails[i];
        if (a->fails && now - a->last_ms > AUTH_FORGET_MS)
            a->fails = 0;
        if (a->fails && strcmp(a->peer, peer) == 0)
            return a;
        if (!a->fails || (oldest->fails && a->last_ms < oldest->last_ms))
            oldest = a;
    }
    if (!create)
        return NULL;
    memset(oldest, 0, sizeof *oldest);
    snprintf(oldest->peer, sizeof oldest->peer, "%s", peer);
    return oldest;
}

static void conn_flush_delayed(conn *c)
{
    const char *p = (const char *)c->delayed.data, *end = p + c->delayed.len;
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        conn_send(c, p, (size_t)(nl - p), NULL, 0);
        p = nl + 1;
    }
    wsm_buf_reset(&c->delayed);
}

void conn_auth_failed(conn *c, const char *msg, const char *ref)
{
    hub *h = c->h;
    auth_fail *a = auth_entry(h, c->peer, true);
    int64_t now = (int64_t)uv_now(&h->loop);
    a->fails++;
    a->last_ms = now;
    int shift = a->fails - 1 < 5 ? a->fails - 1 : 5;
    int64_t delay = (int64_t)100 << shift;
    c->delay_until = (c->delay_until > now ? c->delay_until : now) + delay;
    h->m.errors[WSM_E_UNAUTHORIZED]++;
    wsm_buf *d = &c->delayed;
    if (error_header(d, WSM_E_UNAUTHORIZED, msg, ref) || wsm_buf_append(d, "\n", 1))
        wsm_buf_reset(d);
    wsm_log(WSM_LOG_WARN, "auth", "session %llu (%s): failed hello #%d from this address: %s",
            (unsigned long long)c->session, c->peer, a->fails, msg);
    if (++c->errors >= h->cfg->limits.max_errors && !c->closing) {
        h->m.close_errors++;
        conn_flush_delayed(c);
        conn_close(c, 1008, "too many protocol errors", false);
        return;
    }
    if (c->wsi && !c->closing)
        lws_set_timer_usecs(c->wsi, (lws_usec_t)(c->delay_until - now) * 1000);
}

void conn_auth_ok(conn *c)
{
    auth_fail *a = auth_entry(c->h, c->peer, false);
    if (a)
        a->fails = 0;
}

/* ------------------------------------------------------------------ held acks (durability) */

static void held_release(hub *h, bool failed)
{
    while (h->held_head && (failed || h->held_head->seq <= h->committed_seq)) {
        held_ack *a = h->held_head;
        h->held_head = a->next;
        if (!h->held_head)
            h->held_tail = NULL;
        if (a->c) {
            a->c->held_acks--;
            if (failed)
                conn_error(a->c, WSM_E_INTERNAL, "the store could not commit this change", NULL);
            else
                conn_send(a->c, a->text, a->len, NULL, 0);
        }
        free(a->text);
        free(a);
    }
}

void conn_ok(conn *c, const char *ref, const char *extra)
{
    if (!ref)
        return;
    hub *h = c->h;
    wsm_buf *s = &h->scratch;
    wsm_buf_reset(s);
    if (wsm_buf_append_str(s, "{\"op\":\"ok\",\"ref\":") || json_quote(s, ref) ||
        (extra && *extra && (wsm_buf_append(s, ",", 1) || wsm_buf_append_str(s, extra))) ||
        wsm_buf_append(s, "}", 1))
        return;
    uint64_t seq = broker_change_seq(h->b);
    if (seq > h->committed_seq && store_persistent(h->st)) {
        held_ack *a = calloc(1, sizeof *a);
        char *t = malloc(s->len);
        if (!a || !t) {
            free(a);
            free(t);
            conn_error(c, WSM_E_NOMEM, "out of memory", ref);
            return;
        }
        memcpy(t, s->data, s->len);
        a->c = c;
        a->seq = seq;
        a->text = t;
        a->len = s->len;
        if (h->held_tail)
            h->held_tail->next = a;
        else
            h->held_head = a;
        h->held_tail = a;
        c->held_acks++;
        return;
    }
    conn_send(c, (const char *)s->data, s->len, NULL, 0);
}

/* ------------------------------------------------------------------ topics */

static bool topic_match(const char *pattern, const char *topic)
{
    size_t n = strlen(pattern);
    if (n && pattern[n - 1] == '*')
        return strncmp(pattern, topic, n - 1) == 0;
    return strcmp(pattern, topic) == 0;
}

static bool conn_subscribed(const conn *c, const char *topic)
{
    for (size_t i = 0; i < c->n_subs; i++)
        if (topic_match(c->subs[i], topic))
            return true;
    return false;
}

bool hub_has_subscriber(hub *h, const char *topic)
{
    for (conn *c = h->conns; c; c = c->next)
        if (c->hello_done && conn_subscribed(c, topic))
            return true;
    return false;
}

void hub_topics_update(hub *h)
{
    bool ev = hub_has_subscriber(h, "events"), pr = hub_has_subscriber(h, "progress");
    if (ev != h->topic_events || pr != h->topic_progress) {
        h->topic_events = ev;
        h->topic_progress = pr;
        broker_set_topics(h->b, ev, pr);
    }
}

static void co_free(co_event *e)
{
    free(e->topic);
    free(e->subject);
    free(e->data);
}

/* Keeps the latest event per (topic, subject) for a slow subscriber. */
static void conn_coalesce(conn *c, const char *topic, const char *subject, const char *data,
                          size_t n)
{
    hub *h = c->h;
    for (size_t i = 0; i < c->n_co; i++) {
        co_event *e = &c->co[i];
        if (strcmp(e->topic, topic) == 0 && strcmp(e->subject, subject) == 0) {
            char *d = malloc(n ? n : 1);
            if (!d)
                return;
            memcpy(d, data, n);
            free(e->data);
            e->data = d;
            e->data_len = n;
            e->order = ++c->co_order;
            h->m.events_coalesced++;
            return;
        }
    }
    if (c->n_co >= MAX_COALESCED) {
        h->m.events_dropped++;
        return;
    }
    if (c->n_co == c->cap_co) {
        size_t nc = c->cap_co ? c->cap_co * 2 : 16;
        co_event *ne = realloc(c->co, nc * sizeof *ne);
        if (!ne)
            return;
        c->co = ne;
        c->cap_co = nc;
    }
    co_event *e = &c->co[c->n_co];
    e->topic = strdup(topic);
    e->subject = strdup(subject);
    e->data = malloc(n ? n : 1);
    if (!e->topic || !e->subject || !e->data) {
        co_free(e);
        return;
    }
    memcpy(e->data, data, n);
    e->data_len = n;
    e->order = ++c->co_order;
    c->n_co++;
}

static void conn_send_event(conn *c, const char *topic, const char *data, size_t data_len,
                            const void *payload, size_t n, const char *ct)
{
    wsm_buf *s = &c->h->scratch;
    wsm_buf_reset(s);
    if (wsm_buf_append_str(s, "{\"op\":\"event\",\"topic\":") || json_quote(s, topic) ||
        wsm_buf_printf(s, ",\"seq\":%llu", (unsigned long long)++c->event_seq))
        return;
    if (data && data_len &&
        (wsm_buf_append_str(s, ",\"data\":") || wsm_buf_append(s, data, data_len)))
        return;
    if (ct && strcmp(ct, WSM_CT_JSON) != 0 &&
        (wsm_buf_append_str(s, ",\"content_type\":") || json_quote(s, ct)))
        return;
    if (wsm_buf_append(s, "}", 1))
        return;
    c->h->m.events_sent++;
    conn_send(c, (const char *)s->data, s->len, payload, n);
}

/* Sends the coalesced events (oldest first) once the buffer is below the threshold. */
static void conn_flush_coalesced(conn *c)
{
    hub *h = c->h;
    while (c->n_co && (int64_t)c->out_bytes < h->cfg->limits.subscriber_buffer_bytes) {
        size_t best = 0;
        for (size_t i = 1; i < c->n_co; i++)
            if (c->co[i].order < c->co[best].order)
                best = i;
        co_event e = c->co[best];
        c->co[best] = c->co[--c->n_co];
        conn_send_event(c, e.topic, e.data, e.data_len, NULL, 0, NULL);
        co_free(&e);
    }
}

void hub_publish(hub *h, const char *topic, const char *subject, const char *data, size_t data_len,
                 const void *payload, size_t n, const char *ct)
{
    for (conn *c = h->conns; c; c = c->next) {
        if (!c->hello_done || c->closing || !conn_subscribed(c, topic))
            continue;
        if ((int64_t)c->out_bytes >= h->cfg->limits.subscriber_buffer_bytes || c->n_co) {
            /* slow subscriber: latest state per (topic, subject); payloads are not kept */
            conn_coalesce(c, topic, subject ? subject : "", data ? data : "null",
                          data ? data_len : 4);
            continue;
        }
        conn_send_event(c, topic, data, data_len, payload, n, ct);
    }
}

/* ------------------------------------------------------------------ receive */

static void conn_process(conn *c, const unsigned char *buf, size_t n, bool binary)
{
    hub *h = c->h;
    size_t off = 0;
    if (!binary && !wsm_utf8_valid(buf, n)) {
        /* protocol §2: bytes that are not UTF-8 travel in binary frames */
        conn_error(c, WSM_E_BAD_FRAME,
                   "text frame with invalid UTF-8: send non-UTF-8 payloads in binary frames", NULL);
        return;
    }
    wsm_msg m;
    wsm_err err;
    int rc;
    while (!c->closing &&
           (rc = wsm_frame_next(buf, n, &off, (size_t)h->cfg->limits.max_header_bytes, &m, &err)) ==
               1) {
        h->m.msgs_in++;
        ops_handle(c, &m);
        wsm_msg_clear(&m);
    }
    if (!c->closing && rc < 0)
        conn_error(c, -rc, err.msg, NULL);
}

static void conn_receive(conn *c, const unsigned char *in, size_t len)
{
    hub *h = c->h;
    struct lws *wsi = c->wsi;
    bool final = lws_is_final_fragment(wsi);
    h->m.bytes_in += len;
    c->last_rx_ms = (int64_t)uv_now(&h->loop);
    if (c->bc)
        broker_conn_touch(h->b, c->bc);
    if (c->closing)
        return;
    if (c->rx_discard) {
        /* the rest of an oversize message: read and drop it, then close 1009 (closing while
         * the peer still sends would reset the connection before it reads our error) */
        c->rx_discarded += len;
        if (final || c->rx_discarded > 4 * (uint64_t)h->cfg->limits.max_message_bytes) {
            c->rx_discard = false;
            conn_close(c, 1009, "message too big", false);
        }
        return;
    }
    size_t limit = (size_t)h->cfg->limits.max_message_bytes;
    if (c->rx.len + len > limit) {
        char msg[160];
        snprintf(msg, sizeof msg, "WebSocket message larger than limits.max_message_bytes (%zu)",
                 limit);
        wsm_buf_free(&c->rx);
        h->m.close_too_large++;
        conn_error(c, WSM_E_TOO_LARGE, msg, NULL);
        if (final) {
            conn_close(c, 1009, "message too big", false);
        } else {
            c->rx_discard = true;
            c->rx_discarded = 0;
        }
        return;
    }
    if (final && c->rx.len == 0) {
        /* the whole message in one piece: parse in place, no copy */
        h->m.ws_msgs_in++;
        conn_process(c, in, len, lws_frame_is_binary(wsi));
        return;
    }
    if (wsm_buf_append(&c->rx, in, len)) {
        wsm_buf_free(&c->rx);
        conn_error(c, WSM_E_NOMEM, "out of memory while receiving a message", NULL);
        conn_close(c, 1011, "out of memory", false);
        return;
    }
    if (!final)
        return;
    h->m.ws_msgs_in++;
    conn_process(c, c->rx.data, c->rx.len, lws_frame_is_binary(wsi));
    /* keep a moderate buffer for the next message, free a huge one */
    if (c->rx.cap > (4u << 20))
        wsm_buf_free(&c->rx);
    else
        wsm_buf_reset(&c->rx);
}

/* ------------------------------------------------------------------ connection lifecycle */

static void conn_start(hub *h, conn *c, struct lws *wsi)
{
    memset(c, 0, sizeof *c);
    c->wsi = wsi;
    c->h = h;
    c->session = ++h->next_session;
    c->connected_at = hub_now(h);
    c->start_ms = c->last_rx_ms = c->last_ping_ms = (int64_t)uv_now(&h->loop);
    if (!lws_get_peer_simple(wsi, c->peer, sizeof c->peer))
        snprintf(c->peer, sizeof c->peer, "?");
    c->next = h->conns;
    if (h->conns)
        h->conns->prev = c;
    h->conns = c;
    h->n_conns++;
    h->m.conns_accepted++;
    wsm_log(WSM_LOG_DEBUG, "net", "session %llu: connected from %s", (unsigned long long)c->session,
            c->peer);
    if ((int64_t)h->n_conns > h->cfg->limits.max_connections) {
        h->m.conns_rejected++;
        h->m.close_limit++;
        conn_error(c, WSM_E_LIMIT, "too many connections (limits.max_connections)", NULL);
        conn_close(c, 1013, "too many connections", false);
        return;
    }
    if (h->shutting_down)
        conn_close(c, 1001, "hub shutting down", false);
}

static void conn_end(hub *h, conn *c)
{
    if (!c->h)
        return; /* never started */
    wsm_log(WSM_LOG_DEBUG, "net", "session %llu: closed", (unsigned long long)c->session);
    bool was_worker = c->hello_done;
    if (c->bc) {
        broker_conn_free(h->b, c->bc);
        c->bc = NULL;
    }
    for (held_ack *a = h->held_head; a && c->held_acks; a = a->next)
        if (a->c == c) {
            a->c = NULL;
            c->held_acks--;
        }
    conn_drop_output(c);
    wsm_buf_free(&c->rx);
    wsm_buf_free(&c->delayed);
    for (size_t i = 0; i < c->n_subs; i++)
        free(c->subs[i]);
    free(c->subs);
    c->subs = NULL;
    c->n_subs = 0;
    for (size_t i = 0; i < c->n_co; i++)
        co_free(&c->co[i]);
    free(c->co);
    for (size_t i = 0; i < c->n_pend; i++)
        free(c->pend[i].ref);
    free(c->pend);
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->n_conns--;
    c->wsi = NULL;
    if (was_worker)
        ops_publish_worker(h, c, "disconnected");
    free(c->name);
    c->name = NULL;
    c->h = NULL;
    hub_topics_update(h);
}

static int conn_writeable(conn *c)
{
    hub *h = c->h;
    c->write_requested = false;
    out_chunk *ch = c->out_head;
    if (ch) {
        size_t n = ch->b.len - LWS_PRE;
        int wr = lws_write(c->wsi, ch->b.data + LWS_PRE, n, LWS_WRITE_BINARY);
        wsm_log(WSM_LOG_TRACE, "net", "session %llu: wrote %zu bytes (%d)",
                (unsigned long long)c->session, n, wr);
        c->out_head = ch->next;
        if (!c->out_head)
            c->out_tail = NULL;
        c->out_bytes -= n;
        chunk_free(ch);
        if (wr < (int)n) {
            wsm_log(WSM_LOG_DEBUG, "net", "session %llu: write failed",
                    (unsigned long long)c->session);
            return -1;
        }
        h->m.ws_msgs_out++;
        h->m.bytes_out += n;
        c->out_since = (int64_t)uv_now(&h->loop);
    }
    if (!c->closing && c->n_co)
        conn_flush_coalesced(c);
    if (c->out_head)
        conn_want_write(c);
    else if (c->closing)
        lws_set_timer_usecs(c->wsi, CLOSE_DELAY_US);
    return 0;
}

bool hub_origin_allowed(const hub *h, const char *origin, size_t n)
{
    char norm[300];
    if (hubcfg_origin_normalize(origin, n, norm, sizeof norm) != 0)
        return false;
    for (size_t i = 0; i < h->n_origins; i++)
        if (strcmp(h->origins[i], "*") == 0 || strcmp(h->origins[i], norm) == 0)
            return true;
    return false;
}

bool hub_upgrade_origin_ok(hub *h, struct lws *wsi)
{
    int olen = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);
    if (olen <= 0)
        return true; /* not a browser */
    char origin[300];
    int n =
        olen < (int)sizeof origin ? lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) : -1;
    if (n >= 0 && hub_origin_allowed(h, origin, (size_t)n))
        return true;
    char peer[64] = "?";
    lws_get_peer_simple(wsi, peer, sizeof peer);
    /* the Origin is the peer's text: print it escaped and truncated */
    char shown[80];
    size_t k = 0;
    for (int i = 0; n > 0 && i < n && k + 5 < sizeof shown; i++) {
        unsigned char ch = (unsigned char)origin[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\')
            shown[k++] = (char)ch;
        else
            k += (size_t)snprintf(shown + k, sizeof shown - k, "\\x%02x", ch);
    }
    shown[k] = 0;
    h->m.conns_rejected++;
    wsm_log(WSM_LOG_WARN, "net",
            "WebSocket upgrade from %s refused (403): Origin '%s' is not allowed "
            "(http.allowed_origins)",
            peer, n < 0 ? "(too long)" : shown);
    return false;
}

static int origin_add(hub *h, const char *scheme, const char *host, int port)
{
    char raw[300], norm[300];
    snprintf(raw, sizeof raw, "%s://%s:%d", scheme, host, port);
    if (hubcfg_origin_normalize(raw, strlen(raw), norm, sizeof norm) != 0)
        return 0; /* not a host an Origin can name: nothing to allow */
    for (size_t i = 0; i < h->n_origins; i++)
        if (strcmp(h->origins[i], norm) == 0)
            return 0;
    char **nv = realloc(h->origins, (h->n_origins + 1) * sizeof *nv);
    if (!nv)
        return -1;
    h->origins = nv;
    if (!(nv[h->n_origins] = strdup(norm)))
        return -1;
    h->n_origins++;
    return 0;
}

/* The allowed origins: http.allowed_origins, else the hub's own origin(s) on the bound port
 * (its address; with a loopback address also localhost and 127.0.0.1; with 0.0.0.0 every
 * local IPv4 address and localhost). */
static int origins_init(hub *h)
{
    hubcfg *cfg = h->cfg;
    if (cfg->origins_set) {
        for (size_t i = 0; i < cfg->n_allowed_origins; i++) {
            char **nv = realloc(h->origins, (h->n_origins + 1) * sizeof *nv);
            if (!nv)
                return -1;
            h->origins = nv;
            if (!(nv[h->n_origins] = strdup(cfg->allowed_origins[i])))
                return -1;
            h->n_origins++;
        }
        return 0;
    }
    const char *scheme = cfg->tls_cert ? "https" : "http";
    const char *a = cfg->address;
    int rc = 0;
    if (strcmp(a, "0.0.0.0") == 0) {
        struct ifaddrs *ifs = NULL;
        if (getifaddrs(&ifs) == 0) {
            for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
                if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
                    continue;
                char ip[INET_ADDRSTRLEN];
                const struct sockaddr_in *sin = (const struct sockaddr_in *)i->ifa_addr;
                if (inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip))
                    rc |= origin_add(h, scheme, ip, h->port);
            }
            freeifaddrs(ifs);
        }
        rc |= origin_add(h, scheme, "localhost", h->port);
    } else {
        rc |= origin_add(h, scheme, a, h->port);
        if (hubcfg_is_loopback(a)) {
            rc |= origin_add(h, scheme, "localhost", h->port);
            rc |= origin_add(h, scheme, "127.0.0.1", h->port);
        }
    }
    return rc;
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    hub *h = ctx ? lws_context_user(ctx) : NULL;
    conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        char uri[64];
        if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) < 0 ||
            strcmp(uri, WSM_WS_PATH) != 0) {
            wsm_log(WSM_LOG_DEBUG, "net", "WebSocket upgrade refused: path is not %s", WSM_WS_PATH);
            return 1;
        }
        if (h && !hub_upgrade_origin_ok(h, wsi)) {
            /* a browser page of another origin: answer 403 before the upgrade, then hang up
             * (lws closes when this callback returns non-zero) */
            lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN,
                                   "Origin not allowed (http.allowed_origins)");
            return 1;
        }
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED:
        if (!h || !c)
            return -1;
        conn_start(h, c, wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        if (!c || !c->h)
            return 0;
        conn_receive(c, in, len);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!c || !c->h)
            return 0;
        return conn_writeable(c);
    case LWS_CALLBACK_TIMER:
        if (c && c->h && c->delayed.len && !c->closing) {
            int64_t now = (int64_t)uv_now(&c->h->loop);
            if (now + 1 >= c->delay_until)
                conn_flush_delayed(c);
            else
                lws_set_timer_usecs(wsi, (lws_usec_t)(c->delay_until - now) * 1000);
            return 0;
        }
        if (c && c->h && c->closing) {
            lws_close_reason(wsi, (enum lws_close_status)c->close_status,
                             (unsigned char *)c->close_reason, strlen(c->close_reason));
            return -1;
        }
        return 0;
    case LWS_CALLBACK_CLOSED:
        if (c && h)
            conn_end(h, c);
        return 0;
    default:
        return 0;
    }
}

/* ------------------------------------------------------------------ store pipeline */

static void commit_work(uv_work_t *w)
{
    hub *h = w->data;
    h->commit_rc = store_batch_commit(h->st, h->committing, &h->commit_err);
}

static void store_kick(hub *h);
static void hub_shutdown(hub *h);

static void commit_done(uv_work_t *w, int status)
{
    hub *h = w->data;
    store_batch *bt = h->committing;
    h->committing = NULL;
    if (status == 0 && h->commit_rc == WSM_OK) {
        h->m.store_batches++;
        h->m.store_rows += store_batch_size(bt);
        h->committed_seq = store_batch_seq(bt);
        held_release(h, false);
    } else {
        h->m.store_errors++;
        wsm_log(WSM_LOG_ERROR, "store", "commit failed: %s",
                status ? uv_strerror(status) : h->commit_err.msg);
        held_release(h, true);
        h->exit_code = HUB_EXIT_RUNTIME;
        store_batch_free(bt);
        /* durability is gone: stop serving rather than acknowledge what cannot be kept */
        wsm_log(WSM_LOG_ERROR, "store", "shutting down (exit %d)", HUB_EXIT_RUNTIME);
        hub_shutdown(h);
        return;
    }
    store_batch_free(bt);
    store_kick(h);
}

/* Starts committing the broker's pending changes if no batch is in flight. */
static void store_kick(hub *h)
{
    if (h->committing || !store_persistent(h->st) || !broker_persist_pending(h->b))
        return;
    int code = 0;
    store_batch *bt = store_batch_take(h->st, h->b, &code);
    if (!bt)
        return;
    h->committing = bt;
    h->work.data = h;
    int rc = uv_queue_work(&h->loop, &h->work, commit_work, commit_done);
    if (rc) {
        /* no thread pool: commit inline */
        h->commit_rc = store_batch_commit(h->st, bt, &h->commit_err);
        commit_done(&h->work, 0);
    }
}

/* Commits everything pending on the loop thread (shutdown). */
static void store_flush_sync(hub *h)
{
    if (!store_persistent(h->st))
        return;
    for (int i = 0; i < 100 && broker_persist_pending(h->b); i++) {
        int code = 0;
        store_batch *bt = store_batch_take(h->st, h->b, &code);
        if (!bt)
            break;
        wsm_err e;
        if (store_batch_commit(h->st, bt, &e) != WSM_OK) {
            wsm_log(WSM_LOG_ERROR, "store", "final commit failed: %s", e.msg);
            store_batch_free(bt);
            h->exit_code = HUB_EXIT_RUNTIME;
            break;
        }
        h->committed_seq = store_batch_seq(bt);
        store_batch_free(bt);
    }
}

/* ------------------------------------------------------------------ timers and turns */

static void deadline_cb(uv_timer_t *t)
{
    hub *h = t->data;
    h->deadline_armed = -1;
    broker_tick(h->b);
}

static void rearm_deadline(hub *h)
{
    int64_t d = broker_next_deadline(h->b);
    if (d == h->deadline_armed)
        return;
    h->deadline_armed = d;
    if (d < 0) {
        uv_timer_stop(&h->deadline_timer);
        return;
    }
    int64_t delay = d - hub_now(h);
    uv_timer_start(&h->deadline_timer, deadline_cb, (uint64_t)(delay > 0 ? delay : 0), 0);
}

static void turn_cb(uv_prepare_t *p)
{
    hub *h = p->data;
    if (h->topic_progress)
        broker_publish_progress(h->b);
    store_kick(h);
    rearm_deadline(h);
}

static void house_cb(uv_timer_t *t)
{
    hub *h = t->data;
    clock_rebase(h);
    int64_t now = (int64_t)uv_now(&h->loop);
    int64_t idle_ms = (int64_t)(h->cfg->limits.idle_timeout * 1000);
    int64_t hb_ms = (int64_t)(h->cfg->limits.heartbeat * 1000);
    int64_t hello_ms = (int64_t)(h->cfg->limits.hello_timeout * 1000);
    for (conn *c = h->conns; c; c = c->next) {
        if (c->closing) {
            if (!c->close_forced && now - c->closing_since > CLOSE_FORCE_MS && c->wsi) {
                wsm_log(WSM_LOG_INFO, "net",
                        "session %llu (%s): peer reads nothing while closing (%s): dropping %zu "
                        "queued bytes",
                        (unsigned long long)c->session, c->peer, c->close_reason, c->out_bytes);
                c->close_forced = true;
                conn_drop_output(c);
                /* no close frame can get through: drop the socket on lws's next turn */
                lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
                lws_cancel_service(h->ctx);
            }
            continue;
        }
        if (now - c->last_rx_ms > idle_ms) {
            h->m.close_idle++;
            wsm_log(WSM_LOG_INFO, "net", "session %llu (%s): idle for %.1f s: closing",
                    (unsigned long long)c->session, c->peer, h->cfg->limits.idle_timeout);
            /* a peer silent for idle_timeout is not reading either: do not wait for it */
            conn_close(c, 1001, "idle timeout", true);
            continue;
        }
        if (!c->hello_done && now - c->start_ms > hello_ms) {
            h->m.close_limit++;
            wsm_log(WSM_LOG_INFO, "net",
                    "session %llu (%s): no successful hello within %.1f s: closing",
                    (unsigned long long)c->session, c->peer, h->cfg->limits.hello_timeout);
            conn_close(c, 1008, "hello timeout", false);
            continue;
        }
        if ((int64_t)c->out_bytes > h->cfg->limits.send_buffer_bytes &&
            now - c->out_since > SLOW_STALL_MS) {
            wsm_log(WSM_LOG_WARN, "net",
                    "session %llu (%s): %zu bytes queued, no progress for %lld ms: closing "
                    "(slow consumer)",
                    (unsigned long long)c->session, c->peer, c->out_bytes,
                    (long long)(now - c->out_since));
            h->m.close_slow++;
            conn_close(c, 1013, "send buffer overflow (slow consumer)", true);
            continue;
        }
        if (c->hello_done && now - c->last_ping_ms >= hb_ms && now - c->last_rx_ms >= hb_ms) {
            char hdr[80];
            int n = snprintf(hdr, sizeof hdr, "{\"op\":\"ping\",\"id\":\"hb-%llu\"}",
                             (unsigned long long)++c->ping_seq);
            c->last_ping_ms = now;
            conn_send(c, hdr, (size_t)n, NULL, 0);
        }
    }
    int64_t st_ms = (int64_t)(h->cfg->stats_interval * 1000);
    if (now - h->last_stats_ms >= st_ms) {
        h->last_stats_ms = now;
        if (hub_has_subscriber(h, "stats"))
            ops_publish_stats(h);
    }
}

/* ------------------------------------------------------------------ drain and shutdown */

static void close_cb_noop(uv_handle_t *hd)
{
    (void)hd;
}

static void shutdown_final_cb(uv_timer_t *t);

static void close_handles(hub *h)
{
    if (!h->handles_open)
        return;
    h->handles_open = false;
    uv_close((uv_handle_t *)&h->deadline_timer, close_cb_noop);
    uv_close((uv_handle_t *)&h->house_timer, close_cb_noop);
    uv_close((uv_handle_t *)&h->turn, close_cb_noop);
    uv_close((uv_handle_t *)&h->sigint, close_cb_noop);
    uv_close((uv_handle_t *)&h->sigterm, close_cb_noop);
    uv_close((uv_handle_t *)&h->drain_timer, close_cb_noop);
}

/* Phase 2: destroy lws (closing what is left), commit the last changes, close our handles;
 * uv_run then returns. */
static void shutdown_final(hub *h)
{
    if (h->ctx) {
        lws_context_destroy(h->ctx);
        h->ctx = NULL;
    }
    if (h->committing) {
        /* a batch is committing on the thread pool: come back when it is done */
        uv_timer_start(&h->drain_timer, shutdown_final_cb, 10, 0);
        return;
    }
    store_flush_sync(h);
    close_handles(h);
}

static void shutdown_final_cb(uv_timer_t *t)
{
    shutdown_final(t->data);
}

/* Phase 1: every connection gets a close frame (1000); phase 2 follows shortly. */
static void hub_shutdown(hub *h)
{
    if (h->shutting_down)
        return;
    h->shutting_down = true;
    wsm_log(WSM_LOG_INFO, "hub", "shutting down");
    for (conn *c = h->conns; c; c = c->next)
        conn_close(c, 1000, "hub shutting down", false);
    if (h->handles_open)
        uv_timer_start(&h->drain_timer, shutdown_final_cb, h->conns ? 200 : 0, 0);
    else
        shutdown_final(h);
}

static void drain_timeout_cb(uv_timer_t *t);

static void on_drained(void *user)
{
    hub *h = user;
    if (h->draining && !h->shutting_down) {
        wsm_log(WSM_LOG_INFO, "hub", "drained: no job is leased any more");
        /* leave the broker call first: shut down from the timer */
        uv_timer_start(&h->drain_timer, drain_timeout_cb, 0, 0);
    }
}

static void drain_timeout_cb(uv_timer_t *t)
{
    hub *h = t->data;
    if (broker_leased_count(h->b))
        wsm_log(WSM_LOG_WARN, "hub", "drain timeout: %zu jobs still leased (they are requeued)",
                broker_leased_count(h->b));
    hub_shutdown(h);
}

void hub_drain(hub *h)
{
    if (h->draining) {
        wsm_log(WSM_LOG_WARN, "hub", "second signal: shutting down now");
        hub_shutdown(h);
        return;
    }
    h->draining = true;
    wsm_log(WSM_LOG_INFO, "hub", "draining: no new jobs; waiting up to %.1f s for %zu leased jobs",
            h->cfg->limits.drain_timeout, broker_leased_count(h->b));
    uv_timer_start(&h->drain_timer, drain_timeout_cb,
                   (uint64_t)(h->cfg->limits.drain_timeout * 1000), 0);
    broker_drain(h->b);
    if (!h->shutting_down && broker_leased_count(h->b) == 0)
        uv_timer_start(&h->drain_timer, drain_timeout_cb, 0, 0);
}

static void signal_cb(uv_signal_t *s, int signum)
{
    hub *h = s->data;
    wsm_log(WSM_LOG_INFO, "hub", "signal %d", signum);
    hub_drain(h);
}

/* ------------------------------------------------------------------ setup */

static const struct lws_extension extensions[] = {
    {"permessage-deflate", lws_extension_callback_pm_deflate,
     "permessage-deflate; client_no_context_takeover; client_max_window_bits"},
    {NULL, NULL, NULL}};

static void lws_log_bridge(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    wsm_log(level & LLL_ERR ? WSM_LOG_ERROR : (level & LLL_WARN ? WSM_LOG_WARN : WSM_LOG_DEBUG),
            "lws", "%.*s", (int)n, line);
}

static int make_broker(hub *h, wsm_err *err)
{
    hubcfg *cfg = h->cfg;
    broker_queue_decl *qs = calloc(cfg->n_queues, sizeof *qs);
    broker_route_decl *rs = calloc(cfg->n_routes ? cfg->n_routes : 1, sizeof *rs);
    if (!qs || !rs) {
        free(qs);
        free(rs);
        return wsm_err_set(err, WSM_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < cfg->n_queues; i++) {
        const hubcfg_queue *q = &cfg->queues[i];
        qs[i].name = q->name;
        qs[i].max_length = q->max_length;
        qs[i].paused = q->paused;
        broker_job_opts_init(&qs[i].defaults);
        const hubcfg_jobopts *d = &q->defaults;
        if (d->timeout >= 0)
            qs[i].defaults.timeout_ms = (int64_t)(d->timeout * 1000);
        if (d->ttl >= 0)
            qs[i].defaults.ttl_ms = (int64_t)(d->ttl * 1000);
        if (d->result_ttl >= 0)
            qs[i].defaults.result_ttl_ms = (int64_t)(d->result_ttl * 1000);
        if (d->failure_ttl >= 0)
            qs[i].defaults.failure_ttl_ms = (int64_t)(d->failure_ttl * 1000);
        if (d->retry_max >= 0) {
            qs[i].defaults.retry_max = d->retry_max;
            size_t ni = d->n_retry_intervals;
            if (ni > BROKER_MAX_INTERVALS)
                ni = BROKER_MAX_INTERVALS;
            qs[i].defaults.n_intervals = (int)ni;
            for (size_t k = 0; k < ni; k++)
                qs[i].defaults.intervals_ms[k] = (int64_t)(d->retry_intervals[k] * 1000);
        }
    }
    for (size_t i = 0; i < cfg->n_routes; i++) {
        rs[i].from_queue = cfg->routes[i].from_queue;
        rs[i].output = cfg->routes[i].output;
        rs[i].to_queue = cfg->routes[i].to_queue;
    }
    broker_config bc = {
        .queues = qs,
        .n_queues = cfg->n_queues,
        .routes = rs,
        .n_routes = cfg->n_routes,
        .retention =
            {
                .result_ttl_ms = (int64_t)(cfg->retention.result_ttl * 1000),
                .failure_ttl_ms = (int64_t)(cfg->retention.failure_ttl * 1000),
                .emitted_result_ttl_ms = (int64_t)(cfg->retention.emitted_result_ttl * 1000),
                .emitted_failure_ttl_ms = (int64_t)(cfg->retention.emitted_failure_ttl * 1000),
                .registry_cap = (size_t)cfg->retention.registry_cap,
            },
        .now = clock_now,
        .clock_user = h,
        .out =
            {
                .user = h,
                .dispatch = ops_on_dispatch,
                .stop = ops_on_stop,
                .emit_done = ops_on_emit_done,
                .wait_done = ops_on_wait_done,
                .event = ops_on_event,
                .drained = on_drained,
            },
        .persist = store_persistent(h->st),
    };
    h->b = broker_new(&bc, err);
    free(qs);
    free(rs);
    return h->b ? 0 : (err ? err->code : WSM_E_INTERNAL);
}

static int make_dirs(const char *path)
{
    /* mkdir -p of path's parent directory */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    char *slash = strrchr(tmp, '/');
    if (!slash || slash == tmp)
        return 0;
    *slash = 0;
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) && errno != EEXIST)
        return -1;
    return 0;
}

/* Binds a throwaway socket to address:port so that "address in use" is reported before lws
 * is created (lws 4.1 cannot be torn down cleanly on a foreign loop after a failed bind). */
static int probe_listen(const char *address, int port, wsm_err *err)
{
    if (port == 0)
        return 0;
    struct addrinfo hints = {
        .ai_family = AF_INET, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int rc = getaddrinfo(address, ps, &hints, &res);
    if (rc != 0)
        return wsm_err_set(err, WSM_E_IO, "listen.address %s: %s", address, gai_strerror(rc));
    int fd = socket(res->ai_family, res->ai_socktype, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 1)) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return wsm_err_set(err, WSM_E_IO, "cannot listen on %s:%d: %s", address, port, strerror(e));
    }
    close(fd);
    freeaddrinfo(res);
    return 0;
}

hub *hub_new(hubcfg *cfg, int port_override, wsm_err *err)
{
    hub *h = calloc(1, sizeof *h);
    if (!h) {
        hubcfg_free(cfg);
        wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        return NULL;
    }
    h->cfg = cfg;
    h->deadline_armed = -1;
    h->started_ms = wsm_wall_ms();
    h->exit_code = HUB_EXIT_OK;
    h->last_stats_ms = 0;
    signal(SIGPIPE, SIG_IGN);

    if (cfg->sqlite) {
        if (make_dirs(cfg->store_path)) {
            wsm_err_set(err, WSM_E_IO, "store.path %s: cannot create its directory: %s",
                        cfg->store_path, strerror(errno));
            goto fail;
        }
        h->st = store_sqlite_open(cfg->store_path, 0, err);
    } else {
        h->st = store_memory_new();
        if (!h->st)
            wsm_err_set(err, WSM_E_NOMEM, "out of memory");
    }
    if (!h->st)
        goto fail;
    if (make_broker(h, err))
        goto fail;
    if (store_load(h->st, h->b, err) != WSM_OK)
        goto fail;
    if (store_persistent(h->st))
        h->committed_seq = broker_change_seq(h->b);

    if (uv_loop_init(&h->loop)) {
        wsm_err_set(err, WSM_E_INTERNAL, "uv_loop_init failed");
        goto fail;
    }
    h->loop_inited = true;
    clock_rebase(h);
    uv_timer_init(&h->loop, &h->deadline_timer);
    uv_timer_init(&h->loop, &h->house_timer);
    uv_timer_init(&h->loop, &h->drain_timer);
    uv_prepare_init(&h->loop, &h->turn);
    uv_signal_init(&h->loop, &h->sigint);
    uv_signal_init(&h->loop, &h->sigterm);
    h->deadline_timer.data = h->house_timer.data = h->drain_timer.data = h;
    h->turn.data = h->sigint.data = h->sigterm.data = h;
    h->handles_open = true;

    int lws_levels = LLL_ERR | LLL_WARN;
    if (wsm_log_enabled(WSM_LOG_TRACE))
        lws_levels |= LLL_NOTICE | LLL_INFO;
    lws_set_log_level(lws_levels, lws_log_bridge);

    /* lws keeps pointers to the protocols for the context's lifetime: they live in the hub */
    struct lws_protocols *protocols = h->protocols;
    memset(h->protocols, 0, sizeof h->protocols);
    protocols[0] = (struct lws_protocols){
        .name = "http",
        .callback = http_callback,
        .per_session_data_size = 0,
        .rx_buffer_size = 0,
    };
    protocols[0].per_session_data_size = http_pss_size();
    protocols[1] = (struct lws_protocols){
        .name = WSM_SUBPROTOCOL,
        .callback = ws_callback,
        .per_session_data_size = sizeof(conn),
        .rx_buffer_size = 65536,
        .tx_packet_size = 1 << 20,
    };
    static const struct lws_protocol_vhost_options pvo_default = {NULL, NULL, "default", "1"};
    static const struct lws_protocol_vhost_options pvo = {NULL, &pvo_default, WSM_SUBPROTOCOL, ""};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *foreign[1] = {&h->loop};
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6;
    info.foreign_loops = foreign;
    info.port = port_override >= 0 ? port_override : (int)cfg->port;
    info.iface = cfg->address;
    info.protocols = protocols;
    info.pvo = &pvo;
    info.user = h;
    info.pcontext = &h->ctx_alive; /* lws sets it to NULL once the context is freed */
    info.max_http_header_data = (unsigned short)cfg->limits.max_http_header_bytes;
    info.pt_serv_buf_size = 256 * 1024;
    /* lws's own timeouts (an HTTP request or WebSocket handshake that never completes: a
     * slowloris) follow limits.hello_timeout */
    info.timeout_secs =
        cfg->limits.hello_timeout < 1 ? 1 : (unsigned int)(cfg->limits.hello_timeout + 0.999);
    info.timeout_secs_ah_idle = info.timeout_secs; /* a request's headers that never complete */
    if (cfg->limits.deflate)
        info.extensions = extensions;
    if (cfg->tls_cert) {
        /* wss:// only: lws + OpenSSL; a plain-text client gets no answer */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cfg->tls_cert;
        info.ssl_private_key_filepath = cfg->tls_key;
        /* HTTP/1.1 only: browsers would otherwise pick h2 by ALPN, and lws 4.1's h2 serving
         * of our files and WebSockets failed in chromium (ERR_HTTP2_FRAME_SIZE_ERROR) */
        info.alpn = "http/1.1";
        if (cfg->tls_ca) {
            info.ssl_ca_filepath = cfg->tls_ca;
            info.options |= LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT;
        }
    }
    if (probe_listen(cfg->address, info.port, err))
        goto fail;
    h->ctx = h->ctx_alive = lws_create_context(&info);
    if (!h->ctx) {
        /* lws 4.1 leaves handles of its (unloaded) uv plugin on our loop: never run the
         * loop again; the process exits */
        h->loop_unusable = true;
        wsm_err_set(err, WSM_E_IO, "cannot listen on %s:%d (address in use or not local?)",
                    cfg->address, info.port);
        goto fail;
    }
    struct lws_vhost *vh = lws_get_vhost_by_name(h->ctx, "default");
    h->port = vh ? lws_get_vhost_listen_port(vh) : -1;
    if (h->port <= 0) {
        /* lws 4.1 may return a context whose vhost failed to bind (or whose TLS setup failed:
         * a certificate and key that do not match, a file that is not PEM) */
        wsm_err_set(err, WSM_E_IO, "cannot listen on %s:%d (%s)", cfg->address, info.port,
                    cfg->tls_cert ? "address in use, or listen.tls cert/key unusable?"
                                  : "address in use or not local?");
        goto fail;
    }
    if (origins_init(h)) {
        wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        goto fail;
    }
    return h;
fail:
    hub_free(h);
    return NULL;
}

int hub_run(hub *h)
{
    uv_signal_start(&h->sigint, signal_cb, SIGINT);
    uv_signal_start(&h->sigterm, signal_cb, SIGTERM);
    uv_prepare_start(&h->turn, turn_cb);
    double tick = h->cfg->limits.heartbeat / 4;
    if (tick > h->cfg->stats_interval)
        tick = h->cfg->stats_interval;
    if (tick > 1)
        tick = 1;
    uint64_t tick_ms = (uint64_t)(tick * 1000);
    uv_timer_start(&h->house_timer, house_cb, tick_ms ? tick_ms : 1, tick_ms ? tick_ms : 1);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    if (h->ctx || h->handles_open) {
        /* the loop ended for another reason */
        h->shutting_down = true;
        shutdown_final(h);
        uv_run(&h->loop, UV_RUN_DEFAULT);
    }
    if (h->ctx_alive) {
        /* with a foreign loop lws finishes its destruction in a second call, once the loop
         * has closed its handles */
        lws_context_destroy(h->ctx_alive);
        uv_run(&h->loop, UV_RUN_DEFAULT);
    }
    return h->exit_code;
}

void hub_free(hub *h)
{
    if (!h)
        return;
    if (h->loop_unusable) {
        /* see hub_new: leave the loop alone */
        broker_free(h->b);
        store_free(h->st);
        hubcfg_free(h->cfg);
        free(h);
        return;
    }
    if (h->ctx && h->handles_open) {
        /* destroy lws from inside the running loop, as the normal shutdown does: destroying
         * it outside and then running the loop calls into the unloaded uv plugin */
        h->shutting_down = true;
        uv_timer_start(&h->drain_timer, shutdown_final_cb, 0, 0);
        uv_run(&h->loop, UV_RUN_DEFAULT);
    }
    if (h->ctx) {
        lws_context_destroy(h->ctx);
        h->ctx = NULL;
    }
    close_handles(h);
    if (h->loop_inited)
        uv_run(&h->loop, UV_RUN_DEFAULT);
    if (h->ctx_alive) {
        lws_context_destroy(h->ctx_alive);
        if (h->loop_inited)
            uv_run(&h->loop, UV_RUN_DEFAULT);
    }
    if (h->loop_inited)
        uv_loop_close(&h->loop);
    while (h->held_head) {
        held_ack *a = h->held_head;
        h->held_head = a->next;
        free(a->text);
        free(a);
    }
    broker_free(h->b);
    store_free(h->st);
    hubcfg_free(h->cfg);
    wsm_buf_free(&h->scratch);
    for (size_t i = 0; i < h->n_origins; i++)
        free(h->origins[i]);
    free(h->origins);
    free(h);
}
