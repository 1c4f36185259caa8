/*
 * fuzz_broker.c - libFuzzer target for the pure broker core: the input is a program of broker
 * operations (enqueue with random options, consume, credit, result, fail, release, emit,
 * cancel, requeue, empty, pause, clock ticks, disconnects, waits, queries (children pages
 * too), persistence collects). After every operation the registry counts must add up to the number
 * of jobs and the started jobs must equal the leased ones; every persisted record must parse back.
 * Any crash, sanitizer report or abort() is a bug.
 */
#include "broker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fz {
    int64_t now;
    /* the last dispatched jobs, to answer them */
    char ids[64][64];
    int att[64];
    int conn[64];
    int n;
} fz;

static int64_t fz_now(void *u)
{
    return ((fz *)u)->now;
}

static void fz_dispatch(void *u, void *cu, const broker_dispatch *d)
{
    fz *f = u;
    int i = f->n++ % 64;
    snprintf(f->ids[i], sizeof f->ids[i], "%s", d->job_id);
    f->att[i] = d->attempt;
    f->conn[i] = (int)(intptr_t)cu;
    if (d->args_len && !d->args)
        abort();
}

/* An in-memory "store": the latest record per job / key / dedup id, as a real store keeps
 * them, so that the end of every run can rebuild a second broker from it. */
typedef struct row {
    char *k1, *k2; /* id / queue, key / dedup id, root */
    char *rec;
    size_t rec_len;
    unsigned char *pl;
    size_t pl_len;
} row;
typedef struct mstore {
    row jobs[512], keys[64], dedup[512];
    size_t nj, nk, nd;
} mstore;

static row *row_find(row *v, size_t n, const char *k1, const char *k2)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].k1, k1) == 0 && (!k2 || strcmp(v[i].k2, k2) == 0))
            return &v[i];
    return NULL;
}

static void row_clear(row *r)
{
    free(r->k1);
    free(r->k2);
    free(r->rec);
    free(r->pl);
    memset(r, 0, sizeof *r);
}

static void row_del(row *v, size_t *n, row *r)
{
    row_clear(r);
    *r = v[--*n];
    memset(&v[*n], 0, sizeof v[*n]);
}

static char *dupn(const void *p, size_t n)
{
    char *d = malloc(n + 1);
    if (n)
        memcpy(d, p, n);
    d[n] = 0;
    return d;
}

static int sink_job_put(void *u, const char *id, const char *rec, size_t n, const void *p,
                        size_t len, bool wp)
{
    mstore *m = u;
    cJSON *o = cJSON_ParseWithLength(rec, n);
    if (!o || !id[0])
        abort(); /* a record the store could not load again */
    cJSON_Delete(o);
    row *r = row_find(m->jobs, m->nj, id, NULL);
    if (!r) {
        if (!wp)
            abort(); /* the first write of a job must carry its payload */
        if (m->nj == 512)
            return -1;
        r = &m->jobs[m->nj++];
        r->k1 = dupn(id, strlen(id));
        r->k2 = dupn("", 0);
    }
    free(r->rec);
    r->rec = dupn(rec, n);
    r->rec_len = n;
    if (wp) {
        free(r->pl);
        r->pl = (unsigned char *)dupn(p, len);
        r->pl_len = len;
    }
    return 0;
}
static int sink_job_del(void *u, const char *id)
{
    mstore *m = u;
    row *r = row_find(m->jobs, m->nj, id, NULL);
    if (r)
        row_del(m->jobs, &m->nj, r);
    return 0;
}
static int sink_key_put(void *u, const char *q, const char *k, const char *rec, size_t n)
{
    mstore *m = u;
    row *r = row_find(m->keys, m->nk, q, k);
    if (!rec) {
        if (r)
            row_del(m->keys, &m->nk, r);
        return 0;
    }
    cJSON *o = cJSON_ParseWithLength(rec, n);
    if (!o)
        abort();
    cJSON_Delete(o);
    if (!r) {
        if (m->nk == 64)
            return -1;
        r = &m->keys[m->nk++];
        r->k1 = dupn(q, strlen(q));
        r->k2 = dupn(k, strlen(k));
    }
    free(r->rec);
    r->rec = dupn(rec, n);
    r->rec_len = n;
    return 0;
}
static int sink_dedup_put(void *u, const char *id, const char *root)
{
    mstore *m = u;
    if (!id[0] || !root[0])
        abort();
    row *r = row_find(m->dedup, m->nd, id, NULL);
    if (!r) {
        if (m->nd == 512)
            return -1;
        r = &m->dedup[m->nd++];
        r->k1 = dupn(id, strlen(id));
    }
    free(r->k2);
    r->k2 = dupn(root, strlen(root));
    return 0;
}
static int sink_dedup_del(void *u, const char *root)
{
    mstore *m = u;
    for (size_t i = 0; i < m->nd;)
        if (strcmp(m->dedup[i].k2, root) == 0)
            row_del(m->dedup, &m->nd, &m->dedup[i]);
        else
            i++;
    return 0;
}

static void check(broker *b)
{
    size_t total = 0, started = 0;
    for (size_t i = 0; i < broker_queue_count(b); i++) {
        broker_queue_stats s;
        if (broker_queue_stats_get(b, i, &s) != WSM_OK)
            abort();
        total += s.queued + s.deferred + s.scheduled + s.started + s.finished + s.failed +
                 s.expired + s.canceled;
        started += s.started;
    }
    if (total != broker_job_count(b) || started != broker_leased_count(b))
        abort();
}

/* Queue q's counts as a restart must keep them (queued+started: a started job comes back
 * queued; deferred; scheduled; each end) into v; returns the started count. */
static size_t restart_counts(broker *b, size_t q, size_t v[7])
{
    broker_queue_stats st;
    broker_queue_stats_get(b, q, &st);
    size_t c[7] = {st.queued + st.started,
                   st.deferred,
                   st.scheduled,
                   st.finished,
                   st.failed,
                   st.expired,
                   st.canceled};
    memcpy(v, c, sizeof c);
    return st.started;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const qn[] = {"a", "b", "c", "zz"};
    static const char *const ids[] = {"j0", "j1", "j2", "j3", "j4", "j5", "j6", "j7", NULL};
    static const char *const keys[] = {NULL, "k1", "k2"};
    broker_queue_decl qs[3];
    for (int i = 0; i < 3; i++) {
        qs[i] = (broker_queue_decl){.name = qn[i], .max_length = i == 1 ? 2 : 0};
        broker_job_opts_init(&qs[i].defaults);
    }
    qs[2].defaults.retry_max = 1;
    broker_route_decl rs[] = {{"a", "out", "b"}, {"a", "result", "c"}, {"b", "out", "c"}};
    fz f = {.now = 1000};
    broker_config cfg = {.queues = qs,
                         .n_queues = 3,
                         .routes = rs,
                         .n_routes = 3,
                         .retention = {.result_ttl_ms = 50,
                                       .failure_ttl_ms = 80,
                                       .emitted_result_ttl_ms = 20,
                                       .registry_cap = 4},
                         .now = fz_now,
                         .clock_user = &f,
                         .out = {.user = &f, .dispatch = fz_dispatch},
                         .persist = true,
                         .id_seed = 1};
    broker *b = broker_new(&cfg, NULL);
    if (!b)
        abort();
    broker_set_topics(b, true, true);
    broker_conn *c[3] = {NULL, NULL, NULL};
    static mstore ms;
    memset(&ms, 0, sizeof ms);
    broker_persist_sink sink = {&ms,          sink_job_put,   sink_job_del,
                                sink_key_put, sink_dedup_put, sink_dedup_del};
    size_t i = 0;
    while (i + 3 <= size) {
        uint8_t op = data[i], x = data[i + 1], y = data[i + 2];
        i += 3;
        int ci = x % 3;
        if (!c[ci])
            c[ci] = broker_conn_new(b, (void *)(intptr_t)ci, NULL);
        switch (op % 16) {
        case 0:
        case 1: {
            broker_job_spec s;
            broker_job_spec_init(&s);
            s.queue = qn[x % 4];
            s.job_id = ids[y % 9];
            s.key = keys[(y >> 4) % 3];
            s.at_front = x & 0x40;
            if (x & 0x80)
                s.opts.timeout_ms = y % 7;
            if (y & 0x80)
                s.opts.ttl_ms = 1 + x % 5;
            if (op & 0x20) {
                s.opts.retry_max = y % 3;
                s.opts.n_intervals = 1;
                s.opts.intervals_ms[0] = x % 3;
            }
            if (op & 0x40)
                s.enqueue_in_ms = y % 4;
            const char *dep[1] = {ids[x % 8]};
            if (op & 0x80) {
                s.depends_on = dep;
                s.n_depends_on = 1;
                s.allow_failure = y & 1;
            }
            broker_reply r;
            broker_enqueue(b, c[ci], &s, &r, NULL);
            break;
        }
        case 2: {
            const char *q[2] = {qn[y % 3], qn[(y + 1) % 3]};
            broker_consume(b, c[ci], q, 1 + (y >> 7), x % 4, NULL);
            break;
        }
        case 3:
            broker_credit(b, c[ci], (int)(y % 5) - 2);
            break;
        case 4:
        case 5: {
            if (!f.n)
                break;
            int k = (f.n - 1 - y % 4 + 64 * 4) % 64;
            broker_result_spec r;
            broker_result_spec_init(&r);
            r.value = "{\"v\":1}";
            r.value_len = 7;
            if (y & 1) {
                r.state = "[1]";
                r.state_len = 3;
            }
            broker_conn *w = c[f.conn[k] % 3];
            if (w)
                broker_result(b, w, f.ids[k], f.att[k] + (x & 1), &r, NULL);
            break;
        }
        case 6: {
            if (!f.n)
                break;
            int k = (f.n - 1) % 64;
            broker_conn *w = c[f.conn[k] % 3];
            if (w)
                broker_fail(b, w, f.ids[k], f.att[k], "{}", 2, y & 1, NULL);
            break;
        }
        case 7: {
            if (!f.n)
                break;
            const char *r[1] = {f.ids[(f.n - 1) % 64]};
            broker_release(b, c[ci], r, 1, NULL, NULL);
            break;
        }
        case 8: {
            if (!f.n)
                break;
            int k = (f.n - 1 - y % 3 + 64 * 3) % 64;
            broker_job_spec s;
            broker_job_spec_init(&s);
            s.key = keys[y % 3];
            broker_reply r;
            broker_conn *w = c[f.conn[k] % 3];
            if (w)
                broker_emit(b, w, f.ids[k], (y & 8) ? "out" : "nope", x % 4, &s, y, &r, NULL);
            break;
        }
        case 9:
            broker_cancel(b, ids[y % 8], NULL, NULL);
            break;
        case 10:
            if (y & 1)
                broker_requeue_all(b, qn[x % 4], NULL, NULL);
            else
                broker_requeue(b, ids[y % 8], NULL, NULL);
            break;
        case 11:
            if (y & 1)
                broker_empty(b, qn[x % 4], NULL, NULL);
            else
                broker_pause(b, qn[x % 4], y & 2, NULL, NULL);
            break;
        case 12:
            f.now += y % 16;
            broker_tick(b);
            break;
        case 13:
            broker_conn_free(b, c[ci]);
            c[ci] = NULL;
            break;
        case 14: {
            bool done;
            cJSON *j = NULL;
            broker_wait(b, c[ci], ids[y % 8], x & 1, y % 5, y, &done, &j, NULL);
            cJSON_Delete(j);
            break;
        }
        default: {
            cJSON *q = NULL;
            switch (y % 6) {
            case 0:
                q = broker_query_queues(b);
                break;
            case 1:
                q = broker_query_workers(b);
                break;
            case 2:
                q = broker_query_job(b, ids[x % 8], NULL);
                break;
            case 3: {
                q = broker_query_tree(b, ids[x % 8], NULL);
                cJSON_Delete(q);
                /* queries change nothing, so older inputs keep their meaning: then a page of
                 * the children (or descendants) of that job or of its first emitted child */
                char id[16];
                snprintf(id, sizeof id, "%s%s", ids[x % 8], (x & 16) ? ".0" : "");
                q = broker_query_children(b, id, x & 32,
                                          (x & 64) ? broker_status_name(y % 8) : NULL, x % 3,
                                          1 + y % 4, (y & 128) ? 64 : 0, NULL);
                break;
            }
            case 4:
                q = broker_query_registry(b, qn[x % 3], broker_status_name(x % 8), x % 3, 1 + y % 4,
                                          (x & 8) ? "j" : NULL, (y & 128) ? 64 : 0, NULL);
                break;
            default: {
                int code;
                broker_persist_collect(b, &sink, &code);
                broker_publish_progress(b);
                if (x == 0xff)
                    broker_drain(b);
            }
            }
            cJSON_Delete(q);
        }
        }
        check(b);
        if (broker_next_deadline(b) != -1 && broker_next_deadline(b) < 0)
            abort();
    }
    for (int k = 0; k < 3; k++)
        broker_conn_free(b, c[k]);
    check(b);
    /* persist what is pending, then rebuild a second broker from the "store" */
    int code;
    broker_persist_collect(b, &sink, &code);
    size_t jobs_before = broker_job_count(b);
    /* per queue, before the restart */
    size_t before[3][7];
    for (size_t q = 0; q < 3; q++)
        restart_counts(b, q, before[q]);
    broker_free(b);
    b = broker_new(&cfg, NULL);
    if (!b)
        abort();
    bool ok = code == WSM_OK;
    for (size_t k = 0; k < ms.nj; k++)
        if (broker_restore_job(b, ms.jobs[k].rec, ms.jobs[k].rec_len, ms.jobs[k].pl,
                               ms.jobs[k].pl_len, NULL) != WSM_OK)
            abort();
    for (size_t k = 0; k < ms.nk; k++)
        if (broker_restore_key(b, ms.keys[k].k1, ms.keys[k].k2, ms.keys[k].rec, ms.keys[k].rec_len,
                               NULL) != WSM_OK)
            abort();
    for (size_t k = 0; k < ms.nd; k++)
        if (broker_restore_dedup(b, ms.dedup[k].k1, ms.dedup[k].k2, NULL) != WSM_OK)
            abort();
    if (broker_restore_finish(b, NULL) != WSM_OK)
        abort();
    check(b);
    /* every job persisted comes back (a restore may cancel or purge nothing by itself) */
    if (ok && broker_job_count(b) != jobs_before)
        abort();
    /* started jobs come back queued; every other job keeps its status */
    for (size_t q = 0; q < 3 && ok; q++) {
        size_t v[7];
        if (restart_counts(b, q, v) != 0 || memcmp(v, before[q], sizeof v) != 0)
            abort();
    }
    broker_conn *w = broker_conn_new(b, (void *)(intptr_t)0, NULL);
    const char *all[] = {"a", "b", "c"};
    broker_consume(b, w, all, 3, 5, NULL);
    f.now += 1000000;
    broker_tick(b);
    check(b);
    broker_conn_free(b, w);
    broker_free(b);
    for (size_t k = 0; k < ms.nj; k++)
        row_clear(&ms.jobs[k]);
    for (size_t k = 0; k < ms.nk; k++)
        row_clear(&ms.keys[k]);
    for (size_t k = 0; k < ms.nd; k++)
        row_clear(&ms.dedup[k]);
    return 0;
}
