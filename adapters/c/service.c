/*
 * service.c - the service runtime of wsmesh.h: consume queues, run handlers on worker threads,
 * send emits / progress / results with the hub's emit credit, reconnect, drain, burst mode.
 *
 * Threads: the loop thread (the caller of wsm_service_run) owns the conn, the job list, the
 * unacked list and every libevent object. `concurrency` worker threads run handlers. They meet
 * only under s->mu through:
 *   runq      jobs waiting for a worker                (loop pushes, workers pop; cond work_cv)
 *   outbox    framed messages made by handlers         (workers push, loop pops; notify_ev is
 *                                                       activated with event_active: evthread
 *                                                       makes that thread-safe; no polling)
 *   inflight  unanswered emits vs. window              (workers wait on credit_cv; the loop
 *                                                       decrements on each emit reply)
 *   job->stop atomic flag read by wsm_job_should_stop
 *
 * Job life (loop view):  job msg -> runq -> running (worker) -> final queued in outbox ->
 *   [parked until the job's emits are answered] -> final sent (in unacked) -> final answered
 *   -> freed. A `stop` for a job still in runq drops it. A lost connection drops runq jobs (the
 *   hub ends their leases) but keeps running jobs: their emits and final are re-sent after the
 *   next welcome, in their original order, with their original request ids (at-least-once).
 *
 * Reliable messages (emit, result, fail, release) stay in the unacked list until the hub
 * answers; progress is best-effort and coalesced (one pending report per job).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "conn.h"
#include "internal.h"
#include "jsonw.h"

enum item_kind { IT_EMIT, IT_PROGRESS, IT_FINAL, IT_RELEASE };

struct item {
    enum item_kind kind;
    wsm_job *job; /* NULL for IT_RELEASE */
    uint64_t id;  /* request id (0 for progress) */
    wsm_buf msg;  /* framed protocol message */
    bool fail;    /* IT_FINAL: a fail (not a result) */
    struct item *next, *prev;
};

struct ep {
    char *queue;
    wsm_handler fn;
    void *user;
};

/* The JSON values of a job, in this order in wsm_job's val/span/tree arrays. */
enum { V_ARGS, V_META, V_STATE, V_PMETA, V_N };

struct wsm_job {
    wsm_service *s;
    cJSON *hdr;                   /* general path: the parsed job message (owned) */
    char *text;                   /* fast path: the header line, copied after this struct;
                                     its fixed string members are NUL-terminated in place */
    unsigned char *payload;       /* in payload_block, or after text for small payloads */
    unsigned char *payload_block; /* owned allocation holding the payload, or NULL */
    size_t payload_cap;           /* its size when it is a receive buffer (recycled) */
    size_t len;
    const char *id, *queue, *key, *parent, *root, *content_type;
    int attempt;
    int64_t deadline_at;
    /* args, meta, state, payload_meta: the general path sets val[] at once; the fast path
     * parses span[k] of text into tree[k] when the handler first asks (handler thread) */
    const cJSON *val[V_N];
    js_span span[V_N];
    cJSON *tree[V_N];
    unsigned val_done; /* bit k: val[k] is final */
    bool lazy_nomem;   /* a lazy parse ran out of memory: the attempt fails (retried) */
    const struct ep *ep;

    int stop; /* atomic */
    const char *stop_reason;
    int emit_err; /* atomic: first refused emit's code */

    /* handler thread only */
    uint64_t emit_seq;
    cJSON *res_value;
    unsigned char *res_payload;
    size_t res_len;
    char *res_ct;
    cJSON *res_pmeta, *res_state;
    bool failed, fail_retry;
    cJSON *fail_error;

    /* under s->mu */
    struct item *progress; /* pending progress item in the outbox */

    /* loop thread only */
    bool in_runq, running, final_made;
    int emits_pending;
    struct item *parked; /* final waiting for emits */
    char emit_errmsg[300];
    struct wsm_job *next, *prev; /* s->jobs */
    struct wsm_job *rq_next;     /* runq */
};

struct wsm_service {
    wsm_options o;
    struct ep *eps;
    size_t n_eps;
    struct event_base *base;
    conn *c;
    bool running_now;

    pthread_mutex_t mu;
    pthread_cond_t work_cv, credit_cv;
    wsm_job *rq_head, *rq_tail;
    struct item *ob_head, *ob_tail;
    int inflight, window;
    size_t max_header; /* loop: the hub's welcome.max_header_bytes */
    bool quit;
    int n_running;
    wsm_service_stats stats;
    pthread_t *threads;
    int n_threads;

    /* loop thread */
    wsm_job *jobs; /* every job we hold */
    struct item *un_head, *un_tail;
    struct event *notify_ev, *reconnect_ev, *burst_ev, *stop_ev, *sig_term, *sig_int;
    double backoff;
    bool ever_ready, draining, max_reached, exiting, burst_querying, consumed;
    long received;
    int signals;
    int rc;
    int err;
    char errstr[1400];
};

static void svc_check_exit(wsm_service *s);
static void svc_send_item(wsm_service *s, struct item *it);

/* ------------------------------------------------------------------ helpers */

static void svc_fail(wsm_service *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void svc_fail(wsm_service *s, int code, const char *fmt, ...)
{
    s->err = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errstr, sizeof s->errstr, fmt, ap);
    va_end(ap);
}

static void item_free(struct item *it)
{
    if (!it)
        return;
    wsm_buf_free(&it->msg);
    wsm__free(it);
}

static void job_free(wsm_job *j)
{
    if (!j)
        return;
    cJSON_Delete(j->hdr);
    for (int k = 0; k < V_N; k++)
        cJSON_Delete(j->tree[k]);
    wsm__free(j->payload_block);
    cJSON_Delete(j->res_value);
    wsm__free(j->res_payload);
    wsm__free(j->res_ct);
    cJSON_Delete(j->res_pmeta);
    cJSON_Delete(j->res_state);
    cJSON_Delete(j->fail_error);
    item_free(j->parked);
    wsm__free(j);
}

static void jobs_unlink(wsm_service *s, wsm_job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        s->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    j->next = j->prev = NULL;
}

static void un_append(wsm_service *s, struct item *it)
{
    it->next = NULL;
    it->prev = s->un_tail;
    if (s->un_tail)
        s->un_tail->next = it;
    else
        s->un_head = it;
    s->un_tail = it;
}

static void un_unlink(wsm_service *s, struct item *it)
{
    if (it->prev)
        it->prev->next = it->next;
    else
        s->un_head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        s->un_tail = it->prev;
    it->next = it->prev = NULL;
}

static void job_stop(wsm_service *s, wsm_job *j, const char *reason)
{
    pthread_mutex_lock(&s->mu);
    if (!__atomic_load_n(&j->stop, __ATOMIC_ACQUIRE)) {
        j->stop_reason = reason;
        __atomic_store_n(&j->stop, 1, __ATOMIC_RELEASE);
    }
    pthread_cond_broadcast(&s->credit_cv);
    pthread_mutex_unlock(&s->mu);
}

/* Removes j from the runq if it is there (not started). Returns true if removed. */
static bool runq_remove(wsm_service *s, wsm_job *j)
{
    bool removed = false;
    pthread_mutex_lock(&s->mu);
    if (j->in_runq) {
        wsm_job **pp = &s->rq_head;
        wsm_job *prev = NULL;
        while (*pp && *pp != j) {
            prev = *pp;
            pp = &(*pp)->rq_next;
        }
        if (*pp) {
            *pp = j->rq_next;
            if (s->rq_tail == j)
                s->rq_tail = prev;
            j->in_runq = false;
            removed = true;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return removed;
}

static void job_drop(wsm_service *s, wsm_job *j)
{
    if (j->payload_cap) { /* a receive buffer: back to the transport for the next message */
        conn_recycle(s->c, j->payload_block, j->payload_cap);
        j->payload_block = NULL;
    }
    jobs_unlink(s, j);
    job_free(j);
}

/* ------------------------------------------------------------------ replies (loop) */

static void send_final(wsm_service *s, wsm_job *j);

static void emit_reply(void *ud, int code, const wsm_msg *m)
{
    struct item *it = ud;
    wsm_job *j = it->job;
    wsm_service *s = j->s;
    if (code == WSM_E_CLOSED)
        return; /* stays in unacked; re-sent after reconnect */
    un_unlink(s, it);
    pthread_mutex_lock(&s->mu);
    s->inflight--;
    if (code == 0)
        s->stats.emits++;
    pthread_cond_broadcast(&s->credit_cv);
    pthread_mutex_unlock(&s->mu);
    if (code != 0) {
        const cJSON *msg = m ? cJSON_GetObjectItemCaseSensitive(m->hdr, "message") : NULL;
        if (!__atomic_load_n(&j->emit_err, __ATOMIC_ACQUIRE)) {
            snprintf(j->emit_errmsg, sizeof j->emit_errmsg, "%s: %s", wsm_code_name(code),
                     cJSON_IsString(msg) ? msg->valuestring : "");
            __atomic_store_n(&j->emit_err, code, __ATOMIC_RELEASE);
        }
        wsm_log(WSM_LOG_WARN, "wsmesh", "job %s: emit refused: %s", j->id, j->emit_errmsg);
        if (code == WSM_E_NO_SUCH_JOB || code == WSM_E_BAD_STATE)
            job_stop(s, j, "lease_lost");
    }
    item_free(it);
    j->emits_pending--;
    if (j->emits_pending == 0 && j->parked)
        send_final(s, j);
}

static void final_reply(void *ud, int code, const wsm_msg *m)
{
    struct item *it = ud;
    wsm_job *j = it->job;
    wsm_service *s = j->s;
    if (code == WSM_E_CLOSED)
        return;
    un_unlink(s, it);
    bool is_fail = it->fail;
    if (code == 0) {
        pthread_mutex_lock(&s->mu);
        if (is_fail)
            s->stats.failed++;
        else
            s->stats.finished++;
        pthread_mutex_unlock(&s->mu);
        wsm_log(WSM_LOG_DEBUG, "wsmesh", "job %s attempt %d %s", j->id, j->attempt,
                is_fail ? "failed" : "finished");
    } else {
        const cJSON *msg = m ? cJSON_GetObjectItemCaseSensitive(m->hdr, "message") : NULL;
        wsm_log(code == WSM_E_BAD_STATE || code == WSM_E_NO_SUCH_JOB ? WSM_LOG_INFO : WSM_LOG_WARN,
                "wsmesh", "job %s attempt %d: the hub did not take the %s: %s: %s", j->id,
                j->attempt, is_fail ? "failure" : "result", wsm_code_name(code),
                cJSON_IsString(msg) ? msg->valuestring : "");
    }
    item_free(it);
    job_drop(s, j);
    svc_check_exit(s);
}

static void release_reply(void *ud, int code, const wsm_msg *m)
{
    struct item *it = ud;
    if (code == WSM_E_CLOSED)
        return;
    /* the service pointer travels in the item's job-less slot: find it via the list owner */
    wsm_service *s = (wsm_service *)it->job;
    un_unlink(s, it);
    item_free(it);
    svc_check_exit(s);
}

static void svc_send_item(wsm_service *s, struct item *it)
{
    if (!conn_is_ready(s->c))
        return;
    conn_reply_fn fn = it->kind == IT_EMIT    ? emit_reply
                       : it->kind == IT_FINAL ? final_reply
                                              : release_reply;
    int rc = conn_send_framed(s->c, it->id, it->msg.data, it->msg.len, fn, it);
    if (rc != 0 && rc != WSM_E_CLOSED)
        wsm_log(WSM_LOG_WARN, "wsmesh", "cannot send: %s", wsm_strerror(rc));
}

/* Builds a fail message (for good: retrying cannot help) that replaces a final the hub would
 * refuse: one whose emits were refused, or whose header is larger than the hub takes. */
static struct item *make_fail(wsm_service *s, wsm_job *j, const char *type, const char *message)
{
    struct item *it = wsm__calloc(1, sizeof *it);
    cJSON *h = cJSON_CreateObject();
    cJSON *e = cJSON_CreateObject();
    char ids[24];
    if (!it || !h || !e) {
        wsm__free(it);
        cJSON_Delete(h);
        cJSON_Delete(e);
        return NULL;
    }
    it->kind = IT_FINAL;
    it->fail = true;
    it->job = j;
    it->id = conn_next_id(s->c);
    snprintf(ids, sizeof ids, "%" PRIu64, it->id);
    cJSON_AddStringToObject(h, "op", "fail");
    cJSON_AddStringToObject(h, "id", ids);
    cJSON_AddStringToObject(h, "job_id", j->id);
    cJSON_AddNumberToObject(h, "attempt", j->attempt);
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddItemToObject(h, "error", e);
    cJSON_AddBoolToObject(h, "retry", 0);
    if (wsm_frame_append(&it->msg, h, NULL, 0) != 0) {
        cJSON_Delete(h);
        item_free(it);
        return NULL;
    }
    cJSON_Delete(h);
    return it;
}

/* The hub's limit on one header line (welcome.max_header_bytes), read once per welcome. */
static size_t hub_max_header(wsm_service *s)
{
    if (!s->max_header) {
        const cJSON *w = conn_welcome(s->c);
        const cJSON *m = w ? cJSON_GetObjectItemCaseSensitive(w, "max_header_bytes") : NULL;
        s->max_header = cJSON_IsNumber(m) && m->valuedouble >= 1 ? (size_t)m->valuedouble
                                                                 : WSM_MAX_HEADER_DEFAULT;
    }
    return s->max_header;
}

static void send_final(wsm_service *s, wsm_job *j)
{
    struct item *it = j->parked;
    j->parked = NULL;
    struct item *f = NULL;
    if (__atomic_load_n(&j->emit_err, __ATOMIC_ACQUIRE)) {
        f = make_fail(s, j, "emit_failed", j->emit_errmsg);
    } else {
        /* a result whose header (value + state) the hub would refuse as TOO_LARGE without
         * knowing which request it was: fail the attempt with the reason instead of letting it
         * time out */
        const unsigned char *nl = memchr(it->msg.data, '\n', it->msg.len);
        size_t hlen = nl ? (size_t)(nl - it->msg.data) : it->msg.len;
        size_t max = hub_max_header(s);
        if (hlen > max) {
            char why[200];
            snprintf(why, sizeof why,
                     "the result header is %zu bytes, more than the hub's max_header_bytes %zu: "
                     "send large results as a payload",
                     hlen, max);
            wsm_log(WSM_LOG_WARN, "wsmesh", "job %s: %s", j->id, why);
            f = make_fail(s, j, "result_too_large", why);
        }
    }
    if (f) {
        item_free(it);
        it = f;
    }
    un_append(s, it);
    svc_send_item(s, it);
}

/* ------------------------------------------------------------------ outbox (loop) */

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
    wsm_service *s = arg;
    pthread_mutex_lock(&s->mu);
    struct item *list = s->ob_head;
    s->ob_head = s->ob_tail = NULL;
    for (struct item *it = list; it; it = it->next)
        if (it->kind == IT_PROGRESS)
            it->job->progress = NULL;
    pthread_mutex_unlock(&s->mu);
    while (list) {
        struct item *it = list;
        list = it->next;
        it->next = NULL;
        wsm_job *j = it->job;
        switch (it->kind) {
        case IT_PROGRESS:
            if (conn_is_ready(s->c))
                conn_send_framed(s->c, 0, it->msg.data, it->msg.len, NULL, NULL);
            item_free(it);
            break;
        case IT_EMIT:
            j->emits_pending++;
            un_append(s, it);
            svc_send_item(s, it);
            break;
        case IT_FINAL:
            j->running = false;
            j->final_made = true;
            j->parked = it;
            if (j->emits_pending == 0)
                send_final(s, j);
            break;
        case IT_RELEASE:
            item_free(it);
            break;
        }
    }
    svc_check_exit(s);
}

static void outbox_push(wsm_service *s, struct item *it)
{
    /* caller holds s->mu. Only the first item of an empty outbox wakes the loop: notify_cb
     * takes the whole list under s->mu, so later items ride on that wake-up. */
    it->next = NULL;
    if (s->ob_tail) {
        s->ob_tail->next = it;
    } else {
        s->ob_head = it;
        event_active(s->notify_ev, EV_READ, 0);
    }
    s->ob_tail = it;
}

/* ------------------------------------------------------------------ jobs from the hub (loop) */

static const struct ep *find_ep(const wsm_service *s, const char *queue)
{
    for (size_t i = 0; i < s->n_eps; i++)
        if (strcmp(s->eps[i].queue, queue) == 0)
            return &s->eps[i];
    return NULL;
}

static void release_jobs(wsm_service *s, wsm_job **list, size_t n)
{
    if (!n)
        return;
    cJSON *h = cJSON_CreateObject();
    cJSON *ids = cJSON_CreateArray();
    struct item *it = wsm__calloc(1, sizeof *it);
    if (!h || !ids || !it) {
        cJSON_Delete(h);
        cJSON_Delete(ids);
        wsm__free(it);
        return;
    }
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(ids, cJSON_CreateString(list[i]->id));
    it->kind = IT_RELEASE;
    it->job = (wsm_job *)(void *)s; /* release_reply's way back to the service */
    it->id = conn_next_id(s->c);
    char idstr[24];
    snprintf(idstr, sizeof idstr, "%" PRIu64, it->id);
    cJSON_AddStringToObject(h, "op", "release");
    cJSON_AddStringToObject(h, "id", idstr);
    cJSON_AddItemToObject(h, "job_ids", ids);
    if (wsm_frame_append(&it->msg, h, NULL, 0) != 0) {
        item_free(it);
    } else {
        un_append(s, it);
        svc_send_item(s, it);
    }
    cJSON_Delete(h);
}

/* The members of a job header that on_job reads, found in one pass over the object (the
 * first of duplicate names wins, as with cJSON_GetObjectItemCaseSensitive); names are told
 * apart by jobscan_member, as on the fast path. */
struct job_fields {
    const cJSON *job_id, *queue, *attempt, *key, *parent, *root, *content_type, *deadline_at, *args,
        *meta, *state, *payload_meta;
};

static void job_fields_scan(const cJSON *hdr, struct job_fields *f)
{
    const cJSON **const slot_of[JSM_COUNT] = {
        [JSM_JOB_ID] = &f->job_id,   [JSM_QUEUE] = &f->queue,
        [JSM_KEY] = &f->key,         [JSM_PARENT] = &f->parent,
        [JSM_ROOT] = &f->root,       [JSM_CT] = &f->content_type,
        [JSM_ARGS] = &f->args,       [JSM_META] = &f->meta,
        [JSM_STATE] = &f->state,     [JSM_PMETA] = &f->payload_meta,
        [JSM_ATTEMPT] = &f->attempt, [JSM_DEADLINE] = &f->deadline_at};
    memset(f, 0, sizeof *f);
    for (const cJSON *it = hdr ? hdr->child : NULL; it; it = it->next) {
        if (!it->string)
            continue;
        const cJSON **slot = slot_of[jobscan_member(it->string, strlen(it->string))];
        if (slot && !*slot)
            *slot = it;
    }
}

/* Args of a job without args (or with args null): an empty object that is never freed. */
static cJSON empty_args = {.type = cJSON_Object};

/* A received job (either path) enters the service: the list, then the runq (or back to the
 * hub when draining or past max_jobs). */
static void job_accept(wsm_service *s, wsm_job *j)
{
    if (!j->root)
        j->root = j->id;
    if (!j->content_type)
        j->content_type = WSM_CT_JSON;
    j->ep = find_ep(s, j->queue);

    j->next = s->jobs;
    if (s->jobs)
        s->jobs->prev = j;
    s->jobs = j;

    s->received++;
    if (s->draining || (s->o.max_jobs && s->received > s->o.max_jobs)) {
        /* not ours to run any more: hand it back untouched */
        wsm_job *one[1] = {j};
        release_jobs(s, one, 1);
        job_drop(s, j);
        return;
    }
    if (s->o.max_jobs && s->received == s->o.max_jobs) {
        s->max_reached = true;
        cJSON *h = cJSON_CreateObject();
        if (h && cJSON_AddStringToObject(h, "op", "credit") &&
            cJSON_AddNumberToObject(h, "n", -1000000.0))
            conn_send_hdr(s->c, h, NULL, 0, NULL, NULL);
        cJSON_Delete(h);
    }
    wsm_log(WSM_LOG_DEBUG, "wsmesh", "job %s (queue %s, attempt %d) received", j->id, j->queue,
            j->attempt);
    pthread_mutex_lock(&s->mu);
    s->stats.jobs++;
    j->in_runq = true;
    if (s->rq_tail)
        s->rq_tail->rq_next = j;
    else
        s->rq_head = j;
    s->rq_tail = j;
    pthread_cond_signal(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
}

/* The payload of a job: a bulk payload that is the whole WebSocket message keeps the receive
 * buffer (no copy); others are copied into their own block. 0 or WSM_E_NOMEM. */
static int job_take_payload(wsm_service *s, wsm_job *j, const unsigned char *p, size_t len)
{
    size_t cap = 0;
    unsigned char *whole = len >= 4096 ? conn_take_message(s->c, &cap) : NULL;
    if (whole) {
        j->payload_block = whole;
        j->payload_cap = cap;
        j->payload = (unsigned char *)p; /* inside whole */
    } else if ((j->payload = wsm__malloc(len)) != NULL) {
        memcpy(j->payload, p, len);
        j->payload_block = j->payload;
    } else {
        return WSM_E_NOMEM;
    }
    j->len = len;
    return 0;
}

/* The hot path: a job header read by jobscan (conn's on_job). One allocation holds the job,
 * its header text and a small payload; args/meta/state/payload_meta stay text until asked. */
static void on_job_fast(void *ud, const jobscan *js, const unsigned char *msg)
{
    wsm_service *s = ud;
    const unsigned char *payload = msg + js->hdr_len + 1;
    size_t inl = js->len && js->len < 4096 ? js->len : 0;
    size_t text_at = sizeof(wsm_job);
    size_t pay_at = (text_at + js->hdr_len + 1 + 15) & ~(size_t)15; /* payload 16-aligned */
    wsm_job *j = wsm__calloc(1, pay_at + inl);
    if (!j)
        return;
    j->s = s;
    j->text = (char *)j + text_at;
    memcpy(j->text, msg, js->hdr_len);
    j->text[js->hdr_len] = 0;
    if (inl) {
        j->payload = (unsigned char *)j + pay_at;
        memcpy(j->payload, payload, inl);
        j->len = inl;
    } else if (js->len && job_take_payload(s, j, payload, js->len) != 0) {
        wsm__free(j);
        return;
    }
    /* the fixed string members have no escapes: NUL-terminate them in place */
    const js_span *str[] = {&js->job_id, &js->queue, &js->key,
                            &js->parent, &js->root,  &js->content_type};
    const char **dst[] = {&j->id, &j->queue, &j->key, &j->parent, &j->root, &j->content_type};
    for (size_t k = 0; k < sizeof str / sizeof str[0]; k++) {
        if (str[k]->off) {
            j->text[str[k]->off + str[k]->len] = 0;
            *dst[k] = j->text + str[k]->off;
        }
    }
    j->attempt = js->attempt;
    j->deadline_at = js->deadline_at;
    j->span[V_ARGS] = js->args;
    j->span[V_META] = js->meta;
    j->span[V_STATE] = js->state;
    j->span[V_PMETA] = js->payload_meta;
    job_accept(s, j);
}

/* The general path: any other job message (parsed into m->hdr by wsm_frame_next). */
static void on_job(wsm_service *s, const wsm_msg *m)
{
    struct job_fields f;
    job_fields_scan(m->hdr, &f);
    int64_t attempt = 1;
    bool ok = cJSON_IsString(f.job_id) && cJSON_IsString(f.queue);
    if (ok && f.attempt && !cJSON_IsNull(f.attempt)) {
        double d = cJSON_IsNumber(f.attempt) ? f.attempt->valuedouble : 0;
        ok = d >= 1 && d <= INT32_MAX && d == (double)(int64_t)d;
        attempt = ok ? (int64_t)d : 1;
    }
    if (!ok) {
        /* the general checks name the problem */
        wsm_err e;
        const char *id = NULL, *queue = NULL;
        if (wsm_json_str(m->hdr, "job", "job_id", true, &id, &e) < 0 ||
            wsm_json_str(m->hdr, "job", "queue", true, &queue, &e) < 0 ||
            wsm_json_int(m->hdr, "job", "attempt", false, 1, INT32_MAX, &attempt, &e) < 0)
            wsm_log(WSM_LOG_WARN, "wsmesh", "ignoring a bad job message: %s", e.msg);
        else
            wsm_log(WSM_LOG_WARN, "wsmesh", "ignoring a bad job message");
        return;
    }
    wsm_job *j = wsm__calloc(1, sizeof *j);
    if (!j)
        return;
    j->s = s;
    j->hdr = conn_take_header(s->c); /* no copy: the job keeps the parsed header */
    if (!j->hdr) {
        j->hdr = cJSON_Duplicate(m->hdr, 1);
        job_fields_scan(j->hdr, &f); /* the members of the copy */
    }
    if (!j->hdr || (m->len && job_take_payload(s, j, m->payload, m->len) != 0)) {
        job_free(j);
        return;
    }
    j->id = f.job_id->valuestring;
    j->queue = f.queue->valuestring;
    j->attempt = (int)attempt;
    j->key = cJSON_IsString(f.key) ? f.key->valuestring : NULL;
    j->parent = cJSON_IsString(f.parent) ? f.parent->valuestring : NULL;
    j->root = cJSON_IsString(f.root) ? f.root->valuestring : NULL;
    j->content_type = cJSON_IsString(f.content_type) ? f.content_type->valuestring : NULL;
    j->deadline_at = cJSON_IsNumber(f.deadline_at) ? (int64_t)f.deadline_at->valuedouble : 0;
    j->val[V_ARGS] = f.args && !cJSON_IsNull(f.args) ? f.args : &empty_args;
    j->val[V_META] = f.meta;
    j->val[V_STATE] = f.state;
    j->val[V_PMETA] = f.payload_meta;
    j->val_done = (1u << V_N) - 1;
    job_accept(s, j);
}

static void on_stop(wsm_service *s, const wsm_msg *m)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(m->hdr, "job_id");
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(m->hdr, "attempt");
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(m->hdr, "reason");
    if (!cJSON_IsString(id))
        return;
    const char *reason = "canceled";
    if (cJSON_IsString(rs)) {
        if (strcmp(rs->valuestring, "timeout") == 0)
            reason = "timeout";
        else if (strcmp(rs->valuestring, "shutdown") == 0)
            reason = "shutdown";
    }
    for (wsm_job *j = s->jobs; j; j = j->next) {
        if (strcmp(j->id, id->valuestring) != 0)
            continue;
        if (cJSON_IsNumber(at) && (int)at->valuedouble != j->attempt)
            continue;
        wsm_log(WSM_LOG_INFO, "wsmesh", "job %s attempt %d: stop (%s)", j->id, j->attempt, reason);
        if (runq_remove(s, j)) {
            job_drop(s, j);
        } else {
            job_stop(s, j, reason);
        }
        break;
    }
    svc_check_exit(s);
}

/* ------------------------------------------------------------------ session events (loop) */

static void arm_timer(struct event *ev, double seconds)
{
    struct timeval tv = wsm__timeval(seconds);
    event_add(ev, &tv);
}

static bool svc_idle(const wsm_service *s)
{
    return !s->jobs && !s->un_head;
}

static void burst_reply(void *ud, int code, const wsm_msg *m)
{
    wsm_service *s = ud;
    s->burst_querying = false;
    if (code != 0) {
        if (code != WSM_E_CLOSED)
            arm_timer(s->burst_ev, 0.5);
        return;
    }
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(m->hdr, "result");
    double waiting = 0;
    const cJSON *q;
    cJSON_ArrayForEach(q, res)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(q, "name");
        if (!cJSON_IsString(name) || !find_ep(s, name->valuestring))
            continue;
        const char *fields[] = {"queued", "scheduled"};
        for (size_t i = 0; i < 2; i++) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(q, fields[i]);
            if (cJSON_IsNumber(n))
                waiting += n->valuedouble;
        }
    }
    if (waiting == 0 && svc_idle(s)) {
        wsm_log(WSM_LOG_INFO, "wsmesh", "burst: every queue is empty, exiting");
        s->draining = true;
        svc_check_exit(s);
    } else {
        arm_timer(s->burst_ev, 0.25);
    }
}

static void burst_cb(evutil_socket_t fd, short what, void *arg)
{
    wsm_service *s = arg;
    if (!s->o.burst || s->burst_querying || !conn_is_ready(s->c) || !svc_idle(s) || !s->consumed)
        return;
    cJSON *h = cJSON_CreateObject();
    if (h && cJSON_AddStringToObject(h, "op", "query") &&
        cJSON_AddStringToObject(h, "what", "queues") &&
        conn_send_hdr(s->c, h, NULL, 0, burst_reply, s) == 0)
        s->burst_querying = true;
    cJSON_Delete(h);
}

static void consume_reply(void *ud, int code, const wsm_msg *m)
{
    wsm_service *s = ud;
    if (code == WSM_E_CLOSED)
        return;
    if (code != 0) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(m->hdr, "message");
        svc_fail(s, code, "the hub refused consume: %s: %s", wsm_code_name(code),
                 cJSON_IsString(msg) ? msg->valuestring : "");
        s->rc = code;
        s->exiting = true;
        conn_close(s->c);
        return;
    }
    s->consumed = true;
    if (s->o.burst)
        arm_timer(s->burst_ev, 0.05);
}

static void on_ready(void *ud)
{
    wsm_service *s = ud;
    if (s->ever_ready) {
        pthread_mutex_lock(&s->mu);
        s->stats.reconnects++;
        pthread_mutex_unlock(&s->mu);
        wsm_log(WSM_LOG_INFO, "wsmesh", "reconnected to %s", s->o.url);
    } else {
        wsm_log(WSM_LOG_INFO, "wsmesh", "%s connected to %s", s->o.name, s->o.url);
    }
    s->ever_ready = true;
    s->backoff = 0;
    s->max_header = 0; /* this welcome's value: read on first use */
    pthread_mutex_lock(&s->mu);
    s->window = conn_emit_window(s->c);
    pthread_cond_broadcast(&s->credit_cv);
    pthread_mutex_unlock(&s->mu);
    if (!s->draining && !s->max_reached && s->n_eps) {
        cJSON *h = cJSON_CreateObject();
        cJSON *qs = cJSON_CreateArray();
        if (h && qs) {
            cJSON_AddItemToObject(h, "queues", qs);
            for (size_t i = 0; i < s->n_eps; i++)
                cJSON_AddItemToArray(qs, cJSON_CreateString(s->eps[i].queue));
            cJSON_AddStringToObject(h, "op", "consume");
            cJSON_AddNumberToObject(h, "prefetch", s->o.prefetch);
            conn_send_hdr(s->c, h, NULL, 0, consume_reply, s);
        } else {
            cJSON_Delete(qs);
        }
        cJSON_Delete(h);
    }
    /* re-send what the previous connection did not get answered, in order */
    for (struct item *it = s->un_head; it; it = it->next)
        svc_send_item(s, it);
    svc_check_exit(s);
}

static void on_msg(void *ud, const wsm_msg *m)
{
    wsm_service *s = ud;
    if (strcmp(m->op, "job") == 0)
        on_job(s, m);
    else if (strcmp(m->op, "stop") == 0)
        on_stop(s, m);
    /* other ops (event, error without ref, future ops) are not for services */
}

static bool fatal_code(int code)
{
    return code == WSM_E_UNAUTHORIZED || code == WSM_E_UNSUPPORTED_VERSION ||
           code == WSM_E_FORBIDDEN;
}

static void on_down(void *ud, int code, const char *why)
{
    wsm_service *s = ud;
    s->consumed = false;
    s->burst_querying = false;
    /* the hub ends the leases of jobs we have not started */
    pthread_mutex_lock(&s->mu);
    wsm_job *rq = s->rq_head;
    s->rq_head = s->rq_tail = NULL;
    for (wsm_job *j = rq; j; j = j->rq_next)
        j->in_runq = false;
    pthread_mutex_unlock(&s->mu);
    while (rq) {
        wsm_job *nx = rq->rq_next;
        job_drop(s, rq);
        rq = nx;
    }
    /* running attempts lost their leases too (protocol §5: a disconnect fails the attempt and
     * the hub retries the job): tell their handlers; their results are still re-sent */
    pthread_mutex_lock(&s->mu);
    for (wsm_job *j = s->jobs; j; j = j->next) {
        if (j->running && !__atomic_load_n(&j->stop, __ATOMIC_ACQUIRE)) {
            j->stop_reason = "lease_lost";
            __atomic_store_n(&j->stop, 1, __ATOMIC_RELEASE);
        }
    }
    pthread_cond_broadcast(&s->credit_cv);
    pthread_mutex_unlock(&s->mu);
    if (s->exiting) {
        event_base_loopbreak(s->base);
        return;
    }
    if (fatal_code(code) || s->o.no_reconnect) {
        svc_fail(s, code, "%s", why);
        s->rc = code ? code : WSM_E_CONNECT;
        s->exiting = true;
        wsm_log(WSM_LOG_ERROR, "wsmesh", "%s", why);
        svc_check_exit(s);
        return;
    }
    double base = s->backoff > 0 ? s->backoff * 2 : 0.1;
    if (base > s->o.reconnect_max)
        base = s->o.reconnect_max;
    s->backoff = base;
    /* full jitter in [base/2, base] */
    unsigned r;
    char rnd[21];
    wsm_random_id(rnd);
    r = (unsigned)strtoul(rnd + 12, NULL, 16);
    double delay = base / 2 + (base / 2) * ((double)(r % 1000) / 1000.0);
    wsm_log(s->ever_ready ? WSM_LOG_WARN : WSM_LOG_INFO, "wsmesh", "%s; retrying in %.2fs", why,
            delay);
    arm_timer(s->reconnect_ev, delay);
    svc_check_exit(s);
}

static void reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
    wsm_service *s = arg;
    if (s->exiting)
        return;
    if (conn_start(s->c) != 0)
        arm_timer(s->reconnect_ev, 1.0);
}

/* Decides whether the service is done; if so closes the session (loopbreak follows from
 * on_down) or breaks the loop at once when there is no session. Done means: draining, burst
 * drained or max_jobs reached (or a fatal error), no handler running, nothing in the outbox or
 * the run queue, and -- while connected -- every result, fail and release answered. */
static void svc_check_exit(wsm_service *s)
{
    if (s->o.burst && !s->draining && !s->burst_querying && svc_idle(s) && s->consumed &&
        conn_is_ready(s->c))
        arm_timer(s->burst_ev, 0.05);
    if (!(s->draining || s->max_reached || s->exiting))
        return;
    pthread_mutex_lock(&s->mu);
    bool busy = s->n_running || s->ob_head || s->rq_head;
    pthread_mutex_unlock(&s->mu);
    bool fatal = s->exiting && s->rc != 0;
    if (busy && !fatal)
        return;
    if (conn_is_ready(s->c) && !svc_idle(s) && !fatal)
        return;
    if (conn_is_down(s->c)) {
        event_base_loopbreak(s->base);
        return;
    }
    s->exiting = true;
    conn_close(s->c);
}

static void start_drain(wsm_service *s, const char *why)
{
    if (s->draining)
        return;
    wsm_log(WSM_LOG_INFO, "wsmesh", "%s: finishing running jobs, releasing prefetched ones", why);
    s->draining = true;
    if (conn_is_ready(s->c)) {
        cJSON *h = cJSON_CreateObject();
        if (h && cJSON_AddStringToObject(h, "op", "credit") &&
            cJSON_AddNumberToObject(h, "n", -1000000.0))
            conn_send_hdr(s->c, h, NULL, 0, NULL, NULL);
        cJSON_Delete(h);
    }
    /* jobs waiting for a worker go back to the hub */
    pthread_mutex_lock(&s->mu);
    wsm_job *rq = s->rq_head;
    s->rq_head = s->rq_tail = NULL;
    size_t n = 0;
    for (wsm_job *j = rq; j; j = j->rq_next) {
        j->in_runq = false;
        n++;
    }
    pthread_mutex_unlock(&s->mu);
    wsm_job **list = n ? wsm__calloc(n, sizeof *list) : NULL;
    size_t k = 0;
    for (wsm_job *j = rq; j; j = j->rq_next)
        if (list)
            list[k++] = j;
    if (list && conn_is_ready(s->c))
        release_jobs(s, list, k);
    while (rq) {
        wsm_job *nx = rq->rq_next;
        job_drop(s, rq);
        rq = nx;
    }
    wsm__free(list);
    svc_check_exit(s);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    wsm_service *s = arg;
    if (++s->signals > 1) {
        wsm_log(WSM_LOG_WARN, "wsmesh", "second signal: exiting without waiting for jobs");
        svc_fail(s, WSM_E_CLOSED, "interrupted");
        s->rc = WSM_E_CLOSED;
        event_base_loopbreak(s->base);
        return;
    }
    start_drain(s, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    start_drain(arg, "stop requested");
}

/* ------------------------------------------------------------------ workers */

/* Frames the job's final message (result or fail) with a fresh id. NULL on NOMEM. */
/* Ids are [A-Za-z0-9._:-] (protocol §3): such a string needs no JSON escaping. */
static bool json_safe_id(const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == ':' || ch == '-'))
            return false;
    }
    return true;
}

/* The common final: a result without payload, header formatted directly (no cJSON tree).
 * NULL when not applicable or out of memory (the caller then uses the general path). */
static struct item *make_plain_result(wsm_job *j)
{
    if (j->failed || j->res_len || !json_safe_id(j->id))
        return NULL;
    struct item *it = wsm__calloc(1, sizeof *it);
    if (!it)
        return NULL;
    it->kind = IT_FINAL;
    it->job = j;
    it->id = conn_next_id(j->s->c);
    /* the header goes straight into the message: no payload, so the frame is header + '\n' */
    wsm_buf *h = &it->msg;
    size_t idn = strlen(j->id);
    int rc = wsm_buf_reserve(h, 96 + idn);
    if (rc == 0) {
        static const char p1[] = "{\"op\":\"result\",\"id\":\"", p2[] = "\",\"job_id\":\"",
                          p3[] = "\",\"attempt\":", p4[] = ",\"value\":";
        char *o = (char *)h->data;
        memcpy(o, p1, sizeof p1 - 1);
        o += sizeof p1 - 1;
        o += jw_u64_text(o, it->id);
        memcpy(o, p2, sizeof p2 - 1);
        o += sizeof p2 - 1;
        memcpy(o, j->id, idn);
        o += idn;
        memcpy(o, p3, sizeof p3 - 1);
        o += sizeof p3 - 1;
        o += jw_u64_text(o, (uint64_t)j->attempt);
        memcpy(o, p4, sizeof p4 - 1);
        o += sizeof p4 - 1;
        h->len = (size_t)(o - (char *)h->data);
    }
    if (rc == 0)
        rc = j->res_value ? wsm_json_append(h, j->res_value) : wsm_buf_append(h, "null", 4);
    if (rc == 0 && j->res_state)
        rc = wsm_buf_append(h, ",\"state\":", 9) || wsm_json_append(h, j->res_state);
    if (rc == 0)
        rc = wsm_buf_append(h, "}\n", 2);
    if (rc != 0) {
        item_free(it);
        return NULL;
    }
    return it;
}

static struct item *make_final(wsm_job *j, int hrc)
{
    if (hrc == 0) {
        struct item *fast = make_plain_result(j);
        if (fast)
            return fast;
    }
    struct item *it = wsm__calloc(1, sizeof *it);
    cJSON *h = cJSON_CreateObject();
    if (!it || !h)
        goto nomem;
    it->kind = IT_FINAL;
    it->job = j;
    it->id = conn_next_id(j->s->c);
    char ids[24];
    snprintf(ids, sizeof ids, "%" PRIu64, it->id);
    bool fail = j->failed || hrc != 0;
    it->fail = fail;
    if (!cJSON_AddStringToObject(h, "op", fail ? "fail" : "result") ||
        !cJSON_AddStringToObject(h, "id", ids) || !cJSON_AddStringToObject(h, "job_id", j->id) ||
        !cJSON_AddNumberToObject(h, "attempt", j->attempt))
        goto nomem;
    const void *payload = NULL;
    size_t len = 0;
    if (fail) {
        cJSON *e = j->fail_error;
        j->fail_error = NULL;
        if (!e) {
            char msg[64];
            snprintf(msg, sizeof msg, "handler returned %d", hrc);
            e = cJSON_CreateObject();
            if (!e || !cJSON_AddStringToObject(e, "type", "handler_error") ||
                !cJSON_AddStringToObject(e, "message", msg)) {
                cJSON_Delete(e);
                goto nomem;
            }
        }
        cJSON_AddItemToObject(h, "error", e);
        if (j->failed && !j->fail_retry)
            cJSON_AddBoolToObject(h, "retry", 0);
    } else {
        cJSON *v = j->res_value ? j->res_value : cJSON_CreateNull();
        j->res_value = NULL;
        if (!v)
            goto nomem;
        cJSON_AddItemToObject(h, "value", v);
        if (j->res_state) {
            cJSON_AddItemToObject(h, "state", j->res_state);
            j->res_state = NULL;
        }
        if (j->res_len) {
            payload = j->res_payload;
            len = j->res_len;
            if (j->res_ct && !cJSON_AddStringToObject(h, "content_type", j->res_ct))
                goto nomem;
            if (j->res_pmeta) {
                cJSON_AddItemToObject(h, "payload_meta", j->res_pmeta);
                j->res_pmeta = NULL;
            }
        }
    }
    if (wsm_frame_append(&it->msg, h, payload, len) != 0)
        goto nomem;
    cJSON_Delete(h);
    return it;
nomem:
    cJSON_Delete(h);
    item_free(it);
    return NULL;
}

static void *worker_main(void *arg)
{
    wsm_service *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->rq_head && !s->quit)
            pthread_cond_wait(&s->work_cv, &s->mu);
        if (s->quit && !s->rq_head) {
            pthread_mutex_unlock(&s->mu);
            return NULL;
        }
        wsm_job *j = s->rq_head;
        s->rq_head = j->rq_next;
        if (!s->rq_head)
            s->rq_tail = NULL;
        j->rq_next = NULL;
        j->in_runq = false;
        j->running = true;
        s->n_running++;
        pthread_mutex_unlock(&s->mu);

        int hrc;
        if (j->ep) {
            hrc = j->ep->fn(j, j->ep->user);
        } else {
            wsm_job_fail(j, "no_handler", "this service has no handler for the job's queue", NULL,
                         true);
            hrc = 1;
        }
        if (j->lazy_nomem) { /* the handler saw an absent value that was not absent */
            wsm_job_fail(j, "out_of_memory", "cannot parse the job's JSON values: out of memory",
                         NULL, true);
            hrc = 1;
        }
        struct item *fin = make_final(j, hrc);
        for (int tries = 0; !fin && tries < 100; tries++)
            fin = make_final(j, hrc); /* out of memory: the result must still go out */
        pthread_mutex_lock(&s->mu);
        s->n_running--;
        if (fin)
            outbox_push(s, fin);
        pthread_mutex_unlock(&s->mu);
    }
}

/* ------------------------------------------------------------------ job API (handler thread) */

const char *wsm_job_id(const wsm_job *j)
{
    return j ? j->id : NULL;
}
const char *wsm_job_queue(const wsm_job *j)
{
    return j ? j->queue : NULL;
}
int wsm_job_attempt(const wsm_job *j)
{
    return j ? j->attempt : 0;
}
const char *wsm_job_key(const wsm_job *j)
{
    return j ? j->key : NULL;
}
const char *wsm_job_parent(const wsm_job *j)
{
    return j ? j->parent : NULL;
}
const char *wsm_job_root(const wsm_job *j)
{
    return j ? j->root : NULL;
}
int64_t wsm_job_deadline_at(const wsm_job *j)
{
    return j ? j->deadline_at : 0;
}
/* val[k] of the job, parsing its text on first use (fast-path jobs; handler thread only).
 * The text was checked by jobscan, so a parse fails only for want of memory: the value is
 * then absent (args: {}) and the attempt fails with a retry (worker_main). */
static const cJSON *job_value(const wsm_job *cj, int k)
{
    if (!cj)
        return NULL;
    wsm_job *j = (wsm_job *)cj; /* the cache is not part of the job's observable state */
    if (!(j->val_done & (1u << k))) {
        j->val_done |= 1u << k;
        if (j->span[k].off) {
            j->tree[k] = cJSON_ParseWithLength(j->text + j->span[k].off, j->span[k].len);
            if (!j->tree[k])
                j->lazy_nomem = true;
            j->val[k] = j->tree[k];
        }
        if (k == V_ARGS && (!j->val[k] || cJSON_IsNull(j->val[k])))
            j->val[k] = &empty_args;
    }
    return j->val[k];
}

const cJSON *wsm_job_args(const wsm_job *j)
{
    return job_value(j, V_ARGS);
}
const cJSON *wsm_job_meta(const wsm_job *j)
{
    return job_value(j, V_META);
}
const cJSON *wsm_job_state(const wsm_job *j)
{
    return job_value(j, V_STATE);
}
const void *wsm_job_payload(const wsm_job *j, size_t *len)
{
    if (len)
        *len = j ? j->len : 0;
    return j && j->len ? j->payload : NULL;
}
const char *wsm_job_content_type(const wsm_job *j)
{
    return j ? j->content_type : WSM_CT_JSON;
}
const cJSON *wsm_job_payload_meta(const wsm_job *j)
{
    return job_value(j, V_PMETA);
}

const char *wsm_job_arg_str(const wsm_job *j, const char *name, const char *dflt)
{
    const cJSON *v = j && name ? cJSON_GetObjectItemCaseSensitive(wsm_job_args(j), name) : NULL;
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

double wsm_job_arg_num(const wsm_job *j, const char *name, double dflt)
{
    const cJSON *v = j && name ? cJSON_GetObjectItemCaseSensitive(wsm_job_args(j), name) : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

bool wsm_job_should_stop(const wsm_job *j)
{
    return j && __atomic_load_n(&j->stop, __ATOMIC_ACQUIRE);
}

const char *wsm_job_stop_reason(const wsm_job *j)
{
    return wsm_job_should_stop(j) ? j->stop_reason : NULL;
}

static bool add_dup(cJSON *h, const char *k, const cJSON *v)
{
    if (!v)
        return true;
    cJSON *d = cJSON_Duplicate(v, 1);
    if (!d)
        return false;
    cJSON_AddItemToObject(h, k, d);
    return true;
}

static int emit_common(wsm_job *j, const char *output, const wsm_emit_opts *e, bool block)
{
    static const wsm_emit_opts none;
    if (!j || !output || !*output)
        return WSM_E_USAGE;
    if (!e)
        e = &none;
    if (e->len && !e->payload)
        return WSM_E_USAGE;
    int prior = __atomic_load_n(&j->emit_err, __ATOMIC_ACQUIRE);
    if (prior)
        return prior;
    wsm_service *s = j->s;
    /* take one unit of emit credit */
    pthread_mutex_lock(&s->mu);
    while (!__atomic_load_n(&j->stop, __ATOMIC_ACQUIRE) && s->inflight >= s->window) {
        if (!block) {
            pthread_mutex_unlock(&s->mu);
            return WSM_E_WOULD_BLOCK;
        }
        pthread_cond_wait(&s->credit_cv, &s->mu);
    }
    if (__atomic_load_n(&j->stop, __ATOMIC_ACQUIRE)) {
        pthread_mutex_unlock(&s->mu);
        return WSM_E_STOPPED;
    }
    s->inflight++;
    pthread_mutex_unlock(&s->mu);

    struct item *it = wsm__calloc(1, sizeof *it);
    cJSON *h = cJSON_CreateObject();
    char ids[24];
    bool ok = it && h;
    if (ok) {
        it->kind = IT_EMIT;
        it->job = j;
        it->id = conn_next_id(s->c);
        snprintf(ids, sizeof ids, "%" PRIu64, it->id);
        ok =
            cJSON_AddStringToObject(h, "op", "emit") && cJSON_AddStringToObject(h, "id", ids) &&
            cJSON_AddStringToObject(h, "job_id", j->id) &&
            cJSON_AddStringToObject(h, "output", output) &&
            cJSON_AddNumberToObject(h, "seq", (double)j->emit_seq) && add_dup(h, "args", e->args) &&
            add_dup(h, "meta", e->meta) && (!e->key || cJSON_AddStringToObject(h, "key", e->key)) &&
            (!e->weight || cJSON_AddNumberToObject(h, "weight", (double)e->weight)) &&
            (!e->content_type || cJSON_AddStringToObject(h, "content_type", e->content_type)) &&
            add_dup(h, "payload_meta", e->payload_meta) &&
            (!e->timeout || cJSON_AddNumberToObject(h, "timeout", e->timeout)) &&
            (!e->ttl || cJSON_AddNumberToObject(h, "ttl", e->ttl)) &&
            (!e->result_ttl || cJSON_AddNumberToObject(h, "result_ttl", e->result_ttl)) &&
            (!e->failure_ttl || cJSON_AddNumberToObject(h, "failure_ttl", e->failure_ttl)) &&
            add_dup(h, "retry", e->retry) && wsm_frame_append(&it->msg, h, e->payload, e->len) == 0;
    }
    cJSON_Delete(h);
    if (!ok) {
        item_free(it);
        pthread_mutex_lock(&s->mu);
        s->inflight--;
        pthread_cond_broadcast(&s->credit_cv);
        pthread_mutex_unlock(&s->mu);
        return WSM_E_NOMEM;
    }
    j->emit_seq++;
    pthread_mutex_lock(&s->mu);
    outbox_push(s, it);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int wsm_job_emit(wsm_job *j, const char *output, const wsm_emit_opts *e)
{
    return emit_common(j, output, e, true);
}

int wsm_job_try_emit(wsm_job *j, const char *output, const wsm_emit_opts *e)
{
    return emit_common(j, output, e, false);
}

int wsm_job_progress(wsm_job *j, double done, double total, const char *message)
{
    if (!j)
        return WSM_E_USAGE;
    cJSON *h = cJSON_CreateObject();
    struct item *it = wsm__calloc(1, sizeof *it);
    if (!h || !it || !cJSON_AddStringToObject(h, "op", "progress") ||
        !cJSON_AddStringToObject(h, "job_id", j->id) || !cJSON_AddNumberToObject(h, "done", done) ||
        !cJSON_AddNumberToObject(h, "total", total) ||
        (message && !cJSON_AddStringToObject(h, "message", message)) ||
        wsm_frame_append(&it->msg, h, NULL, 0) != 0) {
        cJSON_Delete(h);
        item_free(it);
        return WSM_E_NOMEM;
    }
    cJSON_Delete(h);
    it->kind = IT_PROGRESS;
    it->job = j;
    wsm_service *s = j->s;
    pthread_mutex_lock(&s->mu);
    if (j->progress) {
        /* coalesce: the queued report takes the newer content */
        wsm_buf tmp = j->progress->msg;
        j->progress->msg = it->msg;
        it->msg = tmp;
        item_free(it);
    } else {
        j->progress = it;
        outbox_push(s, it);
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int wsm_job_set_result(wsm_job *j, const cJSON *value)
{
    if (!j)
        return WSM_E_USAGE;
    cJSON *v = value ? cJSON_Duplicate(value, 1) : cJSON_CreateNull();
    if (!v)
        return WSM_E_NOMEM;
    cJSON_Delete(j->res_value);
    j->res_value = v;
    return 0;
}

int wsm_job_set_result_payload(wsm_job *j, const void *p, size_t len, const char *content_type,
                               const cJSON *payload_meta)
{
    if (!j || (len && !p))
        return WSM_E_USAGE;
    unsigned char *copy = len ? wsm__malloc(len) : NULL;
    char *ct = content_type ? wsm__strdup(content_type) : NULL;
    cJSON *pm = payload_meta ? cJSON_Duplicate(payload_meta, 1) : NULL;
    if ((len && !copy) || (content_type && !ct) || (payload_meta && !pm)) {
        wsm__free(copy);
        wsm__free(ct);
        cJSON_Delete(pm);
        return WSM_E_NOMEM;
    }
    if (len)
        memcpy(copy, p, len);
    wsm__free(j->res_payload);
    wsm__free(j->res_ct);
    cJSON_Delete(j->res_pmeta);
    j->res_payload = copy;
    j->res_len = len;
    j->res_ct = ct;
    j->res_pmeta = pm;
    return 0;
}

int wsm_job_set_state(wsm_job *j, const cJSON *state)
{
    if (!j)
        return WSM_E_USAGE;
    cJSON *v = state ? cJSON_Duplicate(state, 1) : cJSON_CreateNull();
    if (!v)
        return WSM_E_NOMEM;
    cJSON_Delete(j->res_state);
    j->res_state = v;
    return 0;
}

int wsm_job_fail(wsm_job *j, const char *type, const char *message, const cJSON *detail, bool retry)
{
    if (!j)
        return WSM_E_USAGE;
    cJSON *e = cJSON_CreateObject();
    if (!e || !cJSON_AddStringToObject(e, "type", type ? type : "error") ||
        !cJSON_AddStringToObject(e, "message", message ? message : "") ||
        !add_dup(e, "detail", detail)) {
        cJSON_Delete(e);
        return WSM_E_NOMEM;
    }
    cJSON_Delete(j->fail_error);
    j->fail_error = e;
    j->failed = true;
    j->fail_retry = retry;
    return 0;
}

/* ------------------------------------------------------------------ service object */

wsm_service *wsm_service_new(const wsm_options *o, wsm_err *err)
{
    wsm__lib_init();
    wsm_service *s = wsm__calloc(1, sizeof *s);
    if (!s) {
        wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        return NULL;
    }
    wsm__live_add(1);
    if (conn_options_take(&s->o, o, err) != 0) {
        wsm__free(s);
        wsm__live_add(-1);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work_cv, NULL);
    pthread_cond_init(&s->credit_cv, NULL);
    s->window = 64;
    s->base = event_base_new();
    conn_handlers h = {
        .on_ready = on_ready, .on_msg = on_msg, .on_down = on_down, .on_job = on_job_fast};
    if (!s->base) {
        wsm_err_set(err, WSM_E_NOMEM, "cannot create an event loop");
        goto fail;
    }
    s->c = conn_new(s->base, &s->o, "worker", &h, s, err);
    if (!s->c)
        goto fail;
    /* these read only the code of a successful reply: plain oks skip the JSON parser */
    conn_light_reply(s->c, emit_reply);
    conn_light_reply(s->c, final_reply);
    conn_light_reply(s->c, release_reply);
    s->notify_ev = event_new(s->base, -1, EV_PERSIST | EV_READ, notify_cb, s);
    s->reconnect_ev = evtimer_new(s->base, reconnect_cb, s);
    s->burst_ev = evtimer_new(s->base, burst_cb, s);
    s->stop_ev = event_new(s->base, -1, 0, stop_cb, s);
    if (!s->notify_ev || !s->reconnect_ev || !s->burst_ev || !s->stop_ev) {
        wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        goto fail;
    }
    return s;
fail:
    wsm_service_free(s);
    return NULL;
}

int wsm_service_add(wsm_service *s, const char *queue, wsm_handler fn, void *user)
{
    if (!s || !queue || !*queue || !fn || s->running_now || find_ep(s, queue))
        return WSM_E_USAGE;
    struct ep *n = wsm__realloc(s->eps, (s->n_eps + 1) * sizeof *n);
    if (!n)
        return WSM_E_NOMEM;
    s->eps = n;
    n[s->n_eps].queue = wsm__strdup(queue);
    if (!n[s->n_eps].queue)
        return WSM_E_NOMEM;
    n[s->n_eps].fn = fn;
    n[s->n_eps].user = user;
    s->n_eps++;
    return 0;
}

int wsm_service_run(wsm_service *s)
{
    if (!s || s->running_now)
        return WSM_E_USAGE;
    if (!s->n_eps) {
        svc_fail(s, WSM_E_USAGE, "no handler registered");
        return WSM_E_USAGE;
    }
    s->running_now = true;
    wsm__ignore_sigpipe();
    s->sig_term = evsignal_new(s->base, SIGTERM, signal_cb, s);
    s->sig_int = evsignal_new(s->base, SIGINT, signal_cb, s);
    if (s->sig_term)
        evsignal_add(s->sig_term, NULL);
    if (s->sig_int)
        evsignal_add(s->sig_int, NULL);
    event_add(s->notify_ev, NULL);
    s->n_threads = s->o.concurrency;
    s->threads = wsm__calloc((size_t)s->n_threads, sizeof *s->threads);
    int started = 0;
    /* handler threads must not take the signals libevent handles */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (int i = 0; s->threads && i < s->n_threads; i++)
        if (pthread_create(&s->threads[i], NULL, worker_main, s) == 0)
            started++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (started == 0) {
        svc_fail(s, WSM_E_NOMEM, "cannot start handler threads");
        s->rc = WSM_E_NOMEM;
    } else {
        s->n_threads = started;
        if (conn_start(s->c) != 0) {
            svc_fail(s, WSM_E_NOMEM, "out of memory");
            s->rc = WSM_E_NOMEM;
        } else {
            event_base_dispatch(s->base);
        }
    }
    /* stop the workers: every job still held is told to stop */
    pthread_mutex_lock(&s->mu);
    s->quit = true;
    for (wsm_job *j = s->jobs; j; j = j->next)
        if (!j->stop) {
            j->stop_reason = "shutdown";
            __atomic_store_n(&j->stop, 1, __ATOMIC_RELEASE);
        }
    wsm_job *rq = s->rq_head;
    s->rq_head = s->rq_tail = NULL;
    (void)rq; /* they are in s->jobs and freed below */
    pthread_cond_broadcast(&s->work_cv);
    pthread_cond_broadcast(&s->credit_cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < started; i++)
        pthread_join(s->threads[i], NULL);
    wsm__free(s->threads);
    s->threads = NULL;
    if (s->sig_term)
        event_free(s->sig_term);
    if (s->sig_int)
        event_free(s->sig_int);
    s->sig_term = s->sig_int = NULL;
    event_del(s->notify_ev);
    s->running_now = false;
    return s->rc;
}

void wsm_service_stop(wsm_service *s)
{
    if (s && s->stop_ev)
        event_active(s->stop_ev, EV_TIMEOUT, 0);
}

int wsm_service_err(const wsm_service *s)
{
    return s ? s->err : WSM_E_USAGE;
}

const char *wsm_service_errstr(const wsm_service *s)
{
    return s ? s->errstr : "no service";
}

void wsm_service_get_stats(const wsm_service *s, wsm_service_stats *out)
{
    if (!s || !out)
        return;
    pthread_mutex_lock((pthread_mutex_t *)&s->mu);
    *out = s->stats;
    pthread_mutex_unlock((pthread_mutex_t *)&s->mu);
}

void wsm_service_free(wsm_service *s)
{
    if (!s)
        return;
    conn_free(s->c);
    while (s->jobs) {
        wsm_job *j = s->jobs;
        s->jobs = j->next;
        job_free(j);
    }
    while (s->un_head) {
        struct item *it = s->un_head;
        s->un_head = it->next;
        item_free(it);
    }
    while (s->ob_head) {
        struct item *it = s->ob_head;
        s->ob_head = it->next;
        item_free(it);
    }
    if (s->notify_ev)
        event_free(s->notify_ev);
    if (s->reconnect_ev)
        event_free(s->reconnect_ev);
    if (s->burst_ev)
        event_free(s->burst_ev);
    if (s->stop_ev)
        event_free(s->stop_ev);
    if (s->base)
        event_base_free(s->base);
    for (size_t i = 0; i < s->n_eps; i++)
        wsm__free(s->eps[i].queue);
    wsm__free(s->eps);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work_cv);
    pthread_cond_destroy(&s->credit_cv);
    wsm__free(s);
    wsm__live_add(-1);
}
