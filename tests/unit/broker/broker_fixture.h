/*
 * broker_fixture.h - shared fixture of the broker unit tests: a fake clock and a recording
 * output interface (every dispatch, stop, emit_done, wait_done, event and drained call is
 * kept in arrays that the tests inspect). Connections are identified by their name string,
 * used as conn_user.
 */
#ifndef BROKER_FIXTURE_H
#define BROKER_FIXTURE_H

#include "broker.h"
#include "wsm_test.h"

#include <stdlib.h>
#include <string.h>

#define FX_MAX 4096

typedef struct fx_disp {
    char id[256];
    const char *conn;
    int attempt;
    int64_t deadline;
    char args[256];
    char state[256];
    char key[64];
    char parent[256];
    char root[256];
    char ct[64];
    unsigned char payload[64];
    size_t len;
} fx_disp;

typedef struct fx {
    int64_t now;
    broker *b;
    fx_disp disp[FX_MAX];
    int nd;
    struct {
        char id[256];
        const char *conn;
        int attempt;
        char reason[32];
    } stop[256];
    int ns;
    struct {
        uint64_t req;
        int code;
        char id[256];
        char status[32];
    } emit_done[256];
    int ne;
    struct {
        uint64_t req;
        int code;
        char status[32];
        char tree_status[32];
    } wait_done[64];
    int nw;
    struct {
        char topic[32];
        char subject[256];
        char data[1024];
    } ev[FX_MAX];
    int nev;
    int drained;
} fx;

static __attribute__((unused)) int64_t fx_clock(void *u)
{
    return ((fx *)u)->now;
}

static __attribute__((unused)) void fx_copy(char *dst, size_t cap, const char *s, size_t n)
{
    if (!s) {
        dst[0] = 0;
        return;
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = 0;
}

static __attribute__((unused)) void fx_dispatch(void *u, void *cu, const broker_dispatch *d)
{
    fx *f = u;
    if (f->nd >= FX_MAX)
        return;
    fx_disp *x = &f->disp[f->nd++];
    fx_copy(x->id, sizeof x->id, d->job_id, strlen(d->job_id));
    x->conn = cu;
    x->attempt = d->attempt;
    x->deadline = d->deadline_at;
    fx_copy(x->args, sizeof x->args, d->args, d->args_len);
    fx_copy(x->state, sizeof x->state, d->state, d->state_len);
    fx_copy(x->key, sizeof x->key, d->key, d->key ? strlen(d->key) : 0);
    fx_copy(x->parent, sizeof x->parent, d->parent, d->parent ? strlen(d->parent) : 0);
    fx_copy(x->root, sizeof x->root, d->root, d->root ? strlen(d->root) : 0);
    fx_copy(x->ct, sizeof x->ct, d->content_type, d->content_type ? strlen(d->content_type) : 0);
    x->len = d->len;
    if (d->len <= sizeof x->payload && d->len)
        memcpy(x->payload, d->payload, d->len);
}

static __attribute__((unused)) void fx_stop(void *u, void *cu, const char *id, int attempt,
                                            const char *reason)
{
    fx *f = u;
    if (f->ns >= 256)
        return;
    fx_copy(f->stop[f->ns].id, 256, id, strlen(id));
    f->stop[f->ns].conn = cu;
    f->stop[f->ns].attempt = attempt;
    fx_copy(f->stop[f->ns].reason, 32, reason, strlen(reason));
    f->ns++;
}

static __attribute__((unused)) void fx_emit_done(void *u, void *cu, uint64_t req, int code,
                                                 const char *id, const char *status,
                                                 const char *msg)
{
    fx *f = u;
    (void)cu;
    (void)msg;
    if (f->ne >= 256)
        return;
    f->emit_done[f->ne].req = req;
    f->emit_done[f->ne].code = code;
    fx_copy(f->emit_done[f->ne].id, 256, id, id ? strlen(id) : 0);
    fx_copy(f->emit_done[f->ne].status, 32, status, status ? strlen(status) : 0);
    f->ne++;
}

static __attribute__((unused)) void fx_wait_done(void *u, void *cu, uint64_t req, int code,
                                                 const cJSON *job)
{
    fx *f = u;
    (void)cu;
    if (f->nw >= 64)
        return;
    f->wait_done[f->nw].req = req;
    f->wait_done[f->nw].code = code;
    const cJSON *s = job ? cJSON_GetObjectItem(job, "status") : NULL;
    const cJSON *ts = job ? cJSON_GetObjectItem(job, "tree_status") : NULL;
    fx_copy(f->wait_done[f->nw].status, 32, s ? s->valuestring : "",
            s ? strlen(s->valuestring) : 0);
    fx_copy(f->wait_done[f->nw].tree_status, 32, ts ? ts->valuestring : "",
            ts ? strlen(ts->valuestring) : 0);
    f->nw++;
}

static __attribute__((unused)) void fx_event(void *u, const char *topic, const char *subject,
                                             const char *data, size_t n)
{
    fx *f = u;
    if (f->nev >= FX_MAX)
        return;
    fx_copy(f->ev[f->nev].topic, 32, topic, strlen(topic));
    fx_copy(f->ev[f->nev].subject, 256, subject, strlen(subject));
    fx_copy(f->ev[f->nev].data, 1024, data, n);
    f->nev++;
}

static __attribute__((unused)) void fx_drained(void *u)
{
    ((fx *)u)->drained++;
}

/* A fixture with the given queues (name:max_length pairs via decls) and routes. */
static fx *fx_new_cfg(const broker_queue_decl *qs, size_t nq, const broker_route_decl *rs,
                      size_t nr, const broker_retention *ret, bool persist)
{
    fx *f = calloc(1, sizeof *f);
    f->now = 1000000;
    broker_config cfg = {0};
    cfg.queues = qs;
    cfg.n_queues = nq;
    cfg.routes = rs;
    cfg.n_routes = nr;
    if (ret)
        cfg.retention = *ret;
    else
        cfg.retention = (broker_retention){.result_ttl_ms = 3600000,
                                           .failure_ttl_ms = 7200000,
                                           .emitted_result_ttl_ms = 60000,
                                           .registry_cap = 1000};
    cfg.now = fx_clock;
    cfg.clock_user = f;
    cfg.out = (broker_output){.user = f,
                              .dispatch = fx_dispatch,
                              .stop = fx_stop,
                              .emit_done = fx_emit_done,
                              .wait_done = fx_wait_done,
                              .event = fx_event,
                              .drained = fx_drained};
    cfg.persist = persist;
    cfg.id_seed = 42;
    wsm_err err = {0};
    f->b = broker_new(&cfg, &err);
    if (!f->b) {
        fprintf(stderr, "broker_new: %s\n", err.msg);
        abort();
    }
    return f;
}

static __attribute__((unused)) broker_queue_decl fx_q(const char *name, int64_t max_length)
{
    broker_queue_decl d = {.name = name, .max_length = max_length};
    broker_job_opts_init(&d.defaults);
    return d;
}

static __attribute__((unused)) void fx_free(fx *f)
{
    broker_free(f->b);
    free(f);
}

static __attribute__((unused)) void fx_advance(fx *f, int64_t ms)
{
    f->now += ms;
    broker_tick(f->b);
}

/* A job spec for queue with id and key (either may be NULL); the caller sets the rest. */
static __attribute__((unused)) void fx_spec(broker_job_spec *s, const char *queue, const char *id,
                                            const char *key)
{
    broker_job_spec_init(s);
    s->queue = queue;
    s->job_id = id;
    s->key = key;
}

/* Retry policy of s: up to retry_max retries, each interval_ms after a failed attempt. */
static __attribute__((unused)) void fx_retry(broker_job_spec *s, int64_t retry_max,
                                             int64_t interval_ms)
{
    s->opts.retry_max = retry_max;
    s->opts.n_intervals = 1;
    s->opts.intervals_ms[0] = interval_ms;
}

/* Enqueue helper: returns the wsm code; id may be NULL. */
static __attribute__((unused)) int fx_enq(fx *f, const char *queue, const char *id, const char *key,
                                          broker_reply *out)
{
    broker_job_spec s;
    fx_spec(&s, queue, id, key);
    broker_reply r;
    return broker_enqueue(f->b, NULL, &s, out ? out : &r, NULL);
}

static __attribute__((unused)) int fx_result(fx *f, broker_conn *c, const char *id, int attempt,
                                             const char *value, const char *state)
{
    broker_result_spec r;
    broker_result_spec_init(&r);
    r.value = value;
    r.value_len = value ? strlen(value) : 0;
    r.state = state;
    r.state_len = state ? strlen(state) : 0;
    return broker_result(f->b, c, id, attempt, &r, NULL);
}

static __attribute__((unused)) int fx_fail(fx *f, broker_conn *c, const char *id, int attempt,
                                           bool retry)
{
    const char *e = "{\"type\":\"E\",\"message\":\"boom\"}";
    return broker_fail(f->b, c, id, attempt, e, strlen(e), retry, NULL);
}

static broker_conn *fx_worker(fx *f, const char *name, const char *queue, int64_t prefetch)
{
    broker_conn_info info = {.session = (uint64_t)(uintptr_t)name, .name = name};
    broker_conn *c = broker_conn_new(f->b, (void *)name, &info);
    if (queue) {
        const char *qs[] = {queue};
        broker_consume(f->b, c, qs, 1, prefetch, NULL);
    }
    return c;
}

/* Status of a job by query ("" if unknown). */
static const char *fx_status(fx *f, const char *id)
{
    static char buf[8][32];
    static int k;
    char *o = buf[k++ % 8];
    cJSON *j = broker_query_job(f->b, id, NULL);
    const cJSON *s = j ? cJSON_GetObjectItem(j, "status") : NULL;
    snprintf(o, 32, "%s", s ? s->valuestring : "");
    cJSON_Delete(j);
    return o;
}

static const char *fx_field(fx *f, const char *id, const char *field)
{
    static char buf[8][256];
    static int k;
    char *o = buf[k++ % 8];
    o[0] = 0;
    cJSON *j = broker_query_job(f->b, id, NULL);
    const cJSON *s = j ? cJSON_GetObjectItem(j, field) : NULL;
    if (cJSON_IsString(s))
        snprintf(o, 256, "%s", s->valuestring);
    else if (s) {
        char *p = cJSON_PrintUnformatted(s);
        snprintf(o, 256, "%s", p);
        free(p);
    }
    cJSON_Delete(j);
    return o;
}

static __attribute__((unused)) int fx_count(fx *f, const char *queue, const char *status)
{
    for (size_t i = 0; i < broker_queue_count(f->b); i++) {
        broker_queue_stats st;
        broker_queue_stats_get(f->b, i, &st);
        if (strcmp(st.name, queue) != 0)
            continue;
        size_t v[] = {st.queued,   st.deferred, st.scheduled, st.started,
                      st.finished, st.failed,   st.expired,   st.canceled};
        static const char *n[] = {"queued",   "deferred", "scheduled", "started",
                                  "finished", "failed",   "expired",   "canceled"};
        for (int k = 0; k < 8; k++)
            if (strcmp(n[k], status) == 0)
                return (int)v[k];
    }
    return -1;
}

#endif
