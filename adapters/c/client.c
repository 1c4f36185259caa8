/*
 * client.c - the blocking client API of wsmesh.h (enqueue, wait, request, query, admin,
 * subscribe, events) on the same session machinery as services (conn.c + transport.c).
 *
 * The client owns an event_base and runs it on the calling thread only while a call waits
 * (run_until), so a client needs no thread of its own. Invariants: at most one call runs at a
 * time (a client is used by one thread); replies to pipelined requests (*_nowait) are counted
 * in `outstanding`/`failed`; events that arrive while no one waits for them are queued (up to
 * EVENTS_MAX, oldest dropped) for wsm_next_event.
 *
 * Pipelined requests are batched Nagle-style: a *_nowait request goes out at once while fewer
 * than NOWAIT_FREE earlier ones are unanswered (nw_inflight); otherwise it is held in the
 * conn's batch (nw_held) until the replies to the earlier ones have come back below that,
 * NOWAIT_BATCH requests are held, or any other call is made. So a fast producer sends one WebSocket
 * message per round trip instead of one per request, and a paced one still sends each request at
 * once. A held request runs the loop (to read replies and send) only when POLL_US have passed
 * since the last turn: a loop turn is an epoll_wait and libevent's bookkeeping, more than the
 * request itself costs, and in a tight loop the replies cannot have come back sooner.
 *
 * Enqueue headers are formatted straight into the conn's outgoing batch (jsonw.c), with the
 * reply read by conn's fast path for plain `ok` replies when nothing of it is needed
 * (conn_light_reply): no cJSON tree and no allocation per pipelined request.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "conn.h"
#include "internal.h"
#include "jsonw.h"

#define EVENTS_MAX   10000
#define NOWAIT_BATCH 256
#define NOWAIT_FREE  8  /* fewer unanswered requests than this: no holding */
#define POLL_US      20 /* a held *_nowait request runs the loop if this long since the last */

struct evq {
    cJSON *ev;
    struct evq *next;
};

struct wsm_client {
    struct event_base *base;
    conn *c;
    wsm_options o;
    bool down;
    int err;
    char errstr[1400];
    size_t outstanding, failed;
    size_t nw_inflight;   /* sent *_nowait requests not answered yet */
    size_t nw_held;       /* *_nowait requests held in the conn's batch */
    int64_t last_poll_us; /* when wsm_enqueue_nowait last ran the loop (wsm_mono_us) */
    struct evq *ev_head, *ev_tail;
    size_t n_events;
    void (*event_cb)(const cJSON *event, void *ud);
    void *event_ud;
};

/* One asynchronous request. */
struct acall {
    wsm_client *cl;
    wsm_reply_cb cb;
    void *ud;
};

static void nowait_reply(void *ud, int code, const wsm_msg *m);

/* Ends the hold of pipelined requests: the batch goes out at the end of this loop turn. */
static void cl_release(wsm_client *cl)
{
    if (!cl->nw_held)
        return;
    cl->nw_inflight += cl->nw_held;
    cl->nw_held = 0;
    conn_hold(cl->c, false);
}

/* One outstanding blocking call. */
struct call {
    bool done;
    int code;
    cJSON *reply;
};

static void cl_set_err(wsm_client *cl, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cl_set_err(wsm_client *cl, int code, const char *fmt, ...)
{
    cl->err = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cl->errstr, sizeof cl->errstr, fmt, ap);
    va_end(ap);
}

static void cl_on_ready(void *ud)
{
}

static void cl_on_msg(void *ud, const wsm_msg *m)
{
    wsm_client *cl = ud;
    if (strcmp(m->op, "event") != 0)
        return;
    if (cl->event_cb) {
        cl->event_cb(m->hdr, cl->event_ud);
        return;
    }
    struct evq *q = wsm__malloc(sizeof *q);
    if (!q)
        return;
    q->ev = cJSON_Duplicate(m->hdr, 1);
    q->next = NULL;
    if (!q->ev) {
        wsm__free(q);
        return;
    }
    if (cl->ev_tail)
        cl->ev_tail->next = q;
    else
        cl->ev_head = q;
    cl->ev_tail = q;
    if (++cl->n_events > EVENTS_MAX) {
        struct evq *old = cl->ev_head;
        cl->ev_head = old->next;
        cJSON_Delete(old->ev);
        wsm__free(old);
        cl->n_events--;
    }
}

static void cl_on_down(void *ud, int code, const char *why)
{
    wsm_client *cl = ud;
    cl->down = true;
    cl->nw_inflight = cl->nw_held = 0;
    cl_set_err(cl, code == WSM_E_CLOSED || code == WSM_E_IO ? WSM_E_CLOSED : code, "%s", why);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    *(bool *)arg = true;
}

/* Starts a one-shot timer that sets *expired after timeout seconds (none when timeout <= 0;
 * *tev is then NULL). Returns 0, or WSM_E_NOMEM when the timer cannot be created. The caller
 * frees *tev (event_free) when it is not NULL. */
static int start_timeout(wsm_client *cl, double timeout, bool *expired, struct event **tev)
{
    *tev = NULL;
    if (timeout <= 0)
        return 0;
    *tev = evtimer_new(cl->base, timeout_cb, expired);
    if (!*tev)
        return WSM_E_NOMEM;
    struct timeval tv = wsm__timeval(timeout);
    evtimer_add(*tev, &tv);
    return 0;
}

/* Runs the loop until *flag or the timeout (seconds, 0 = none). Returns 0 when *flag became
 * true, WSM_E_TIMEOUT, or WSM_E_CLOSED when the connection went down first. */
static int run_until(wsm_client *cl, const bool *flag, double timeout)
{
    cl_release(cl);
    bool expired = false;
    struct event *tev;
    if (start_timeout(cl, timeout, &expired, &tev) != 0)
        return WSM_E_NOMEM;
    while (!*flag && !expired && !cl->down)
        event_base_loop(cl->base, EVLOOP_ONCE);
    if (tev)
        event_free(tev);
    if (*flag)
        return 0;
    if (cl->down)
        return WSM_E_CLOSED;
    return WSM_E_TIMEOUT;
}

static void once_init(void)
{
    evthread_use_pthreads();
}

void wsm__lib_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, once_init);
}

wsm_client *wsm_client_connect(const wsm_options *o, wsm_err *err)
{
    wsm__lib_init();
    wsm__ignore_sigpipe();
    wsm_client *cl = wsm__calloc(1, sizeof *cl);
    if (!cl) {
        wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        return NULL;
    }
    wsm__live_add(1);
    if (conn_options_take(&cl->o, o, err) != 0) {
        wsm__free(cl);
        wsm__live_add(-1);
        return NULL;
    }
    cl->base = event_base_new();
    conn_handlers h = {.on_ready = cl_on_ready, .on_msg = cl_on_msg, .on_down = cl_on_down};
    if (!cl->base) {
        wsm_err_set(err, WSM_E_NOMEM, "cannot create an event loop");
        goto fail;
    }
    cl->c = conn_new(cl->base, &cl->o, "client", &h, cl, err);
    if (!cl->c)
        goto fail;
    conn_light_reply(cl->c, nowait_reply); /* reads only the code of a success */
    if (conn_start(cl->c) != 0) {
        wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        goto fail;
    }
    while (!conn_is_ready(cl->c) && !cl->down)
        event_base_loop(cl->base, EVLOOP_ONCE);
    if (cl->down) {
        wsm_err_set(err, cl->err, "%s", cl->errstr);
        goto fail;
    }
    return cl;
fail:
    wsm_client_free(cl);
    return NULL;
}

void wsm_client_free(wsm_client *cl)
{
    if (!cl)
        return;
    if (cl->c && !cl->down && conn_is_ready(cl->c)) {
        /* polite close: wait (briefly) for the close handshake */
        conn_close(cl->c);
        bool never = false;
        run_until(cl, &never, 1.0);
    }
    conn_free(cl->c);
    while (cl->ev_head) {
        struct evq *q = cl->ev_head;
        cl->ev_head = q->next;
        cJSON_Delete(q->ev);
        wsm__free(q);
    }
    if (cl->base)
        event_base_free(cl->base);
    wsm__free(cl);
    wsm__live_add(-1);
}

int wsm_client_err(const wsm_client *cl)
{
    return cl ? cl->err : WSM_E_USAGE;
}

const char *wsm_client_errstr(const wsm_client *cl)
{
    return cl ? cl->errstr : "no client";
}

const cJSON *wsm_client_welcome(const wsm_client *cl)
{
    return cl && cl->c ? conn_welcome(cl->c) : NULL;
}

/* ------------------------------------------------------------------ calls */

static void call_reply(void *ud, int code, const wsm_msg *m)
{
    struct call *k = ud;
    k->done = true;
    k->code = code;
    if (m)
        k->reply = cJSON_Duplicate(m->hdr, 1);
}

static int call_wait(wsm_client *cl, struct call *k, const char *op, double timeout,
                     cJSON **reply_out);

static int do_call(wsm_client *cl, cJSON *hdr, const void *payload, size_t len, double timeout,
                   cJSON **reply_out)
{
    if (reply_out)
        *reply_out = NULL;
    if (cl->down) {
        cJSON_Delete(hdr);
        return cl->err ? cl->err : WSM_E_CLOSED;
    }
    struct call *k = wsm__calloc(1, sizeof *k); /* heap: may outlive a timed-out call */
    if (!k) {
        cJSON_Delete(hdr);
        return WSM_E_NOMEM;
    }
    const cJSON *opj = cJSON_GetObjectItemCaseSensitive(hdr, "op");
    char op[32];
    snprintf(op, sizeof op, "%s", cJSON_IsString(opj) ? opj->valuestring : "?");
    int rc = conn_send_hdr(cl->c, hdr, payload, len, call_reply, k);
    cJSON_Delete(hdr);
    if (rc != 0) {
        wsm__free(k);
        cl_set_err(cl, rc, "cannot send %s: %s", op, wsm_strerror(rc));
        return rc;
    }
    return call_wait(cl, k, op, timeout, reply_out);
}

/* Waits for the reply to the request sent for k (which it frees) and returns its code; on 0
 * *reply_out (may be NULL) gets the reply header. op names the request in errstr. */
static int call_wait(wsm_client *cl, struct call *k, const char *op, double timeout,
                     cJSON **reply_out)
{
    int rc = run_until(cl, &k->done, timeout > 0 ? timeout : cl->o.connect_timeout);
    if (rc == WSM_E_TIMEOUT) {
        /* The reply may still come, but the caller gave up: end the session, which fails
         * every pending request (k included) before k is freed. The client is unusable after
         * a timeout (documented for wsm_call). */
        cl_set_err(cl, WSM_E_TIMEOUT, "no reply to %s from %s within %gs", op, conn_url_text(cl->c),
                   timeout > 0 ? timeout : cl->o.connect_timeout);
        conn_close(cl->c);
        bool never = false;
        run_until(cl, &never, 1.0);
        cl->down = true;
        cl->err = WSM_E_TIMEOUT;
        wsm__free(k);
        return WSM_E_TIMEOUT;
    }
    if (rc != 0) {
        wsm__free(k);
        if (rc == WSM_E_CLOSED)
            cl_set_err(cl, WSM_E_CLOSED, "%s: connection lost: %s", op, conn_errstr(cl->c));
        return rc;
    }
    rc = k->code;
    if (rc != 0) {
        const cJSON *msg = k->reply ? cJSON_GetObjectItemCaseSensitive(k->reply, "message") : NULL;
        if (rc == WSM_E_CLOSED)
            cl_set_err(cl, rc, "%s: connection lost: %s", op, conn_errstr(cl->c));
        else
            cl_set_err(cl, rc, "%s", cJSON_IsString(msg) ? msg->valuestring : wsm_strerror(rc));
        cJSON_Delete(k->reply);
    } else {
        cl->err = 0;
        cl->errstr[0] = 0;
        if (reply_out)
            *reply_out = k->reply;
        else
            cJSON_Delete(k->reply);
    }
    wsm__free(k);
    return rc;
}

int wsm_call(wsm_client *cl, const cJSON *hdr, const void *payload, size_t len, double timeout,
             cJSON **reply_out)
{
    if (reply_out)
        *reply_out = NULL;
    if (!cl || !cJSON_IsObject(hdr))
        return WSM_E_USAGE;
    cJSON *h = cJSON_Duplicate(hdr, 1);
    if (!h)
        return WSM_E_NOMEM;
    return do_call(cl, h, payload, len, timeout, reply_out);
}

/* Formats an enqueue straight into the connection's outgoing batch (jsonw.c: no cJSON tree,
 * no copy) and registers fn for its reply. Returns 0, WSM_E_CLOSED, WSM_E_NOMEM, or
 * WSM_E_USAGE with errstr naming the member that cannot be sent (not valid UTF-8, an invalid
 * cJSON item). */
static int enqueue_send(wsm_client *cl, const char *queue, const cJSON *args,
                        const wsm_enqueue_opts *o, conn_reply_fn fn, void *ud)
{
    wsm_buf *b = conn_out(cl->c);
    if (!b)
        return WSM_E_CLOSED;
    size_t mark = b->len;
    uint64_t id = conn_next_id(cl->c);
    const char *bad = NULL;
    int rc = jw_enqueue(b, id, queue, args, o, &bad);
    if (rc == WSM_E_USAGE) {
        cl_set_err(cl, rc,
                   "enqueue to queue %.200s: cannot send %s: not valid UTF-8 or not a valid "
                   "cJSON value",
                   bad && strcmp(bad, "queue") == 0 ? "?" : queue, bad ? bad : "the header");
        return rc;
    }
    if (rc != 0)
        return rc;
    return conn_out_commit(cl->c, mark, id, fn, ud);
}

int wsm_enqueue(wsm_client *cl, const char *queue, const cJSON *args, const wsm_enqueue_opts *o,
                char *job_id)
{
    if (job_id)
        job_id[0] = 0;
    if (!cl || !queue || !*queue || (o && o->len && !o->payload))
        return WSM_E_USAGE;
    if (cl->down)
        return cl->err ? cl->err : WSM_E_CLOSED;
    struct call *k = wsm__calloc(1, sizeof *k); /* heap: may outlive a timed-out call */
    if (!k)
        return WSM_E_NOMEM;
    cl_release(cl);
    int rc = enqueue_send(cl, queue, args, o, call_reply, k);
    if (rc != 0) {
        wsm__free(k);
        if (rc != WSM_E_USAGE)
            cl_set_err(cl, rc, "cannot send enqueue: %s", wsm_strerror(rc));
        return rc;
    }
    cJSON *reply = NULL;
    rc = call_wait(cl, k, "enqueue", 0, &reply);
    if (rc == 0 && job_id) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(reply, "job_id");
        if (cJSON_IsString(id))
            snprintf(job_id, WSM_JOB_ID_MAX + 1, "%s", id->valuestring);
    }
    cJSON_Delete(reply);
    return rc;
}

static void nowait_reply(void *ud, int code, const wsm_msg *m)
{
    wsm_client *cl = ud;
    cl->outstanding--;
    if (cl->nw_inflight && --cl->nw_inflight < NOWAIT_FREE)
        cl_release(cl); /* (almost) every sent request is answered: send the held ones */
    if (code != 0) {
        cl->failed++;
        if (m) {
            const cJSON *msg = cJSON_GetObjectItemCaseSensitive(m->hdr, "message");
            cl_set_err(cl, code, "%s", cJSON_IsString(msg) ? msg->valuestring : "");
        }
    }
}

int wsm_enqueue_nowait(wsm_client *cl, const char *queue, const cJSON *args,
                       const wsm_enqueue_opts *o)
{
    if (!cl || !queue || !*queue || (o && o->len && !o->payload))
        return WSM_E_USAGE;
    if (cl->down)
        return WSM_E_CLOSED;
    /* bound memory: let the socket drain when too much is queued */
    if (conn_unsent(cl->c) > cl->o.max_unsent_bytes / 2)
        cl_release(cl);
    while (!cl->down && conn_unsent(cl->c) > cl->o.max_unsent_bytes / 2)
        event_base_loop(cl->base, EVLOOP_ONCE);
    int rc = enqueue_send(cl, queue, args, o, nowait_reply, cl);
    bool now = true;
    if (rc == 0) {
        cl->outstanding++;
        cl->nw_held++;
        now = cl->nw_inflight < NOWAIT_FREE || cl->nw_held >= NOWAIT_BATCH;
        if (now)
            cl_release(cl);
        else
            conn_hold(cl->c, true);
    }
    /* Let replies and writes progress without blocking: at once when this request is to go
     * out now, else (it is held) when POLL_US have passed since the last turn, so that a
     * tight loop of calls does not pay a loop turn (an epoll_wait) per request while the
     * replies it waits for cannot have come yet. */
    int64_t t = wsm_mono_us();
    if (now || t - cl->last_poll_us >= POLL_US) {
        cl->last_poll_us = t;
        event_base_loop(cl->base, EVLOOP_NONBLOCK);
    }
    return rc;
}

int wsm_client_sync(wsm_client *cl, double timeout, size_t *n_failed)
{
    if (!cl)
        return WSM_E_USAGE;
    int rc = 0;
    struct event *tev;
    bool expired = false;
    (void)start_timeout(cl, timeout, &expired, &tev); /* without a timer: waits unbounded */
    cl_release(cl);
    while (cl->outstanding && !cl->down && !expired)
        event_base_loop(cl->base, EVLOOP_ONCE);
    if (tev)
        event_free(tev);
    if (cl->outstanding)
        rc = cl->down ? WSM_E_CLOSED : WSM_E_TIMEOUT;
    if (n_failed)
        *n_failed = cl->failed;
    cl->failed = 0;
    return rc;
}

int wsm_wait(wsm_client *cl, const char *job_id, bool tree, double timeout, cJSON **job_out)
{
    if (job_out)
        *job_out = NULL;
    if (!cl || !job_id)
        return WSM_E_USAGE;
    cJSON *h = cJSON_CreateObject();
    if (!h || !cJSON_AddStringToObject(h, "op", "wait") ||
        !cJSON_AddStringToObject(h, "job_id", job_id) ||
        (tree && !cJSON_AddBoolToObject(h, "tree", 1)) ||
        (timeout > 0 && !cJSON_AddNumberToObject(h, "timeout", timeout))) {
        cJSON_Delete(h);
        return WSM_E_NOMEM;
    }
    cJSON *reply = NULL;
    /* the hub answers TIMEOUT itself; give it a little more time than the wait */
    double local = timeout > 0 ? timeout + cl->o.connect_timeout : 1e9;
    int rc = do_call(cl, h, NULL, 0, local, &reply);
    if (rc == 0 && job_out) {
        *job_out = cJSON_DetachItemFromObjectCaseSensitive(reply, "job");
        if (!*job_out)
            *job_out = cJSON_CreateObject();
    }
    cJSON_Delete(reply);
    return rc;
}

int wsm_request(wsm_client *cl, const char *queue, const cJSON *args, const wsm_enqueue_opts *o,
                double timeout, cJSON **value_out)
{
    if (value_out)
        *value_out = NULL;
    char id[WSM_JOB_ID_MAX + 1];
    int rc = wsm_enqueue(cl, queue, args, o, id);
    if (rc != 0)
        return rc;
    cJSON *job = NULL;
    rc = wsm_wait(cl, id, false, timeout, &job);
    if (rc != 0)
        return rc;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(job, "status");
    if (!cJSON_IsString(st) || strcmp(st->valuestring, "finished") != 0) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(job, "error");
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(e, "type");
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(e, "message");
        cl_set_err(cl, WSM_E_BAD_STATE, "job %s %s: %s: %s", id,
                   cJSON_IsString(st) ? st->valuestring : "ended",
                   cJSON_IsString(ty) ? ty->valuestring : "error",
                   cJSON_IsString(ms) ? ms->valuestring : "");
        cJSON_Delete(job);
        return WSM_E_BAD_STATE;
    }
    if (value_out) {
        cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(job, "result");
        *value_out = v ? v : cJSON_CreateNull();
    }
    cJSON_Delete(job);
    return 0;
}

int wsm_query(wsm_client *cl, const char *what, const cJSON *fields, cJSON **result_out)
{
    if (result_out)
        *result_out = NULL;
    if (!cl || !what)
        return WSM_E_USAGE;
    cJSON *h = fields && cJSON_IsObject(fields) ? cJSON_Duplicate(fields, 1) : cJSON_CreateObject();
    if (!h)
        return WSM_E_NOMEM;
    cJSON_DeleteItemFromObjectCaseSensitive(h, "op");
    cJSON_DeleteItemFromObjectCaseSensitive(h, "what");
    if (!cJSON_AddStringToObject(h, "op", "query") || !cJSON_AddStringToObject(h, "what", what)) {
        cJSON_Delete(h);
        return WSM_E_NOMEM;
    }
    cJSON *reply = NULL;
    int rc = do_call(cl, h, NULL, 0, 0, &reply);
    if (rc == 0 && result_out) {
        *result_out = cJSON_DetachItemFromObjectCaseSensitive(reply, "result");
        if (!*result_out)
            *result_out = cJSON_CreateNull();
    }
    cJSON_Delete(reply);
    return rc;
}

int wsm_admin(wsm_client *cl, const char *op, const char *job_id, const char *queue, bool all,
              int64_t *count)
{
    if (count)
        *count = 0;
    if (!cl || !op)
        return WSM_E_USAGE;
    cJSON *h = cJSON_CreateObject();
    if (!h || !cJSON_AddStringToObject(h, "op", op) ||
        (job_id && !cJSON_AddStringToObject(h, "job_id", job_id)) ||
        (queue && !cJSON_AddStringToObject(h, "queue", queue)) ||
        (all && !cJSON_AddBoolToObject(h, "all", 1))) {
        cJSON_Delete(h);
        return WSM_E_NOMEM;
    }
    cJSON *reply = NULL;
    int rc = do_call(cl, h, NULL, 0, 0, &reply);
    if (rc == 0 && count) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(reply, "count");
        if (cJSON_IsNumber(n))
            *count = (int64_t)n->valuedouble;
    }
    cJSON_Delete(reply);
    return rc;
}

int wsm_subscribe(wsm_client *cl, const char *const *topics, size_t n)
{
    if (!cl || (n && !topics))
        return WSM_E_USAGE;
    cJSON *h = cJSON_CreateObject();
    cJSON *t = cJSON_CreateArray();
    if (!h || !t) {
        cJSON_Delete(h);
        cJSON_Delete(t);
        return WSM_E_NOMEM;
    }
    cJSON_AddItemToObject(h, "topics", t);
    bool ok = cJSON_AddStringToObject(h, "op", "subscribe") != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = cJSON_AddItemToArray(t, cJSON_CreateString(topics[i]));
    if (!ok) {
        cJSON_Delete(h);
        return WSM_E_NOMEM;
    }
    return do_call(cl, h, NULL, 0, 0, NULL);
}

int wsm_next_event(wsm_client *cl, double timeout, cJSON **event_out)
{
    if (event_out)
        *event_out = NULL;
    if (!cl)
        return WSM_E_USAGE;
    if (!cl->ev_head) {
        /* wait until an event is queued */
        bool expired = false;
        struct event *tev;
        (void)start_timeout(cl, timeout, &expired, &tev); /* without a timer: waits unbounded */
        cl_release(cl);
        while (!cl->ev_head && !cl->down && !expired)
            event_base_loop(cl->base, EVLOOP_ONCE);
        if (tev)
            event_free(tev);
        if (!cl->ev_head)
            return cl->down ? WSM_E_CLOSED : WSM_E_TIMEOUT;
    }
    struct evq *q = cl->ev_head;
    cl->ev_head = q->next;
    if (!cl->ev_head)
        cl->ev_tail = NULL;
    cl->n_events--;
    if (event_out)
        *event_out = q->ev;
    else
        cJSON_Delete(q->ev);
    wsm__free(q);
    return 0;
}

/* ------------------------------------------------------------------ asynchronous */

static void async_reply(void *ud, int code, const wsm_msg *m)
{
    struct acall *a = ud;
    a->cl->outstanding--;
    if (code != 0)
        a->cl->failed++;
    if (a->cb)
        a->cb(code, m ? m->hdr : NULL, a->ud);
    wsm__free(a);
}

/* The asynchronous request of cb/ud, once the send queue has room; NULL with *rc set
 * (WSM_E_CLOSED, WSM_E_NOMEM). */
static struct acall *async_begin(wsm_client *cl, wsm_reply_cb cb, void *ud, int *rc)
{
    *rc = WSM_E_CLOSED;
    if (cl->down)
        return NULL;
    cl_release(cl);
    while (!cl->down && conn_unsent(cl->c) > cl->o.max_unsent_bytes / 2)
        event_base_loop(cl->base, EVLOOP_ONCE);
    struct acall *a = wsm__malloc(sizeof *a);
    if (!a) {
        *rc = WSM_E_NOMEM;
        return NULL;
    }
    a->cl = cl;
    a->cb = cb;
    a->ud = ud;
    return a;
}

static int send_async(wsm_client *cl, cJSON *h, const void *payload, size_t len, wsm_reply_cb cb,
                      void *ud)
{
    int rc;
    struct acall *a = async_begin(cl, cb, ud, &rc);
    if (!a) {
        cJSON_Delete(h);
        return rc;
    }
    rc = conn_send_hdr(cl->c, h, payload, len, async_reply, a);
    cJSON_Delete(h);
    if (rc != 0) {
        wsm__free(a);
        return rc;
    }
    cl->outstanding++;
    return 0;
}

int wsm_call_async(wsm_client *cl, const cJSON *hdr, const void *payload, size_t len,
                   wsm_reply_cb cb, void *ud)
{
    if (!cl || !cJSON_IsObject(hdr) || (len && !payload))
        return WSM_E_USAGE;
    cJSON *h = cJSON_Duplicate(hdr, 1);
    if (!h)
        return WSM_E_NOMEM;
    return send_async(cl, h, payload, len, cb, ud);
}

int wsm_enqueue_async(wsm_client *cl, const char *queue, const cJSON *args,
                      const wsm_enqueue_opts *o, wsm_reply_cb cb, void *ud)
{
    if (!cl || !queue || !*queue || (o && o->len && !o->payload))
        return WSM_E_USAGE;
    int rc;
    struct acall *a = async_begin(cl, cb, ud, &rc);
    if (!a)
        return rc;
    rc = enqueue_send(cl, queue, args, o, async_reply, a);
    if (rc != 0) {
        wsm__free(a);
        return rc;
    }
    cl->outstanding++;
    return 0;
}

void wsm_client_set_event_cb(wsm_client *cl, void (*cb)(const cJSON *event, void *ud), void *ud)
{
    if (!cl)
        return;
    cl->event_cb = cb;
    cl->event_ud = ud;
}

int wsm_client_dispatch(wsm_client *cl, double timeout)
{
    if (!cl)
        return WSM_E_USAGE;
    bool expired = false;
    struct event *tev;
    if (start_timeout(cl, timeout, &expired, &tev) != 0)
        return WSM_E_NOMEM;
    cl_release(cl);
    while (!cl->down && !expired && (timeout > 0 || cl->outstanding))
        event_base_loop(cl->base, EVLOOP_ONCE);
    if (tev)
        event_free(tev);
    if (cl->down)
        return WSM_E_CLOSED;
    return cl->outstanding && timeout > 0 ? WSM_E_TIMEOUT : 0;
}

/* ------------------------------------------------------------------ query children */

int wsm_query_children(wsm_client *cl, const char *job_id, const wsm_children_opts *o,
                       cJSON **page_out)
{
    if (page_out)
        *page_out = NULL;
    if (!cl || !job_id || !page_out)
        return WSM_E_USAGE;
    wsm_children_opts d = {0};
    if (!o)
        o = &d;
    if (o->offset < 0 || o->limit < 0 || o->limit > 1000) {
        cl_set_err(cl, WSM_E_USAGE, "query children: offset >= 0 and limit 0..1000 expected");
        return WSM_E_USAGE;
    }
    cJSON *f = cJSON_CreateObject();
    if (!f || !cJSON_AddStringToObject(f, "job_id", job_id) ||
        (o->descendants && !cJSON_AddBoolToObject(f, "descendants", 1)) ||
        (o->status && !cJSON_AddStringToObject(f, "status", o->status)) ||
        (o->offset && !cJSON_AddNumberToObject(f, "offset", (double)o->offset)) ||
        (o->limit && !cJSON_AddNumberToObject(f, "limit", (double)o->limit))) {
        cJSON_Delete(f);
        return WSM_E_NOMEM;
    }
    int rc = wsm_query(cl, "children", f, page_out);
    cJSON_Delete(f);
    return rc;
}
