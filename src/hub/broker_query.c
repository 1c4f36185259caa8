/*
 * broker_query.c - read-only views of the broker (protocol §6.12 query, §6.10 progress
 * events): queue stats, workers, one job, one tree, registry listings with pagination and
 * id-prefix search, pages of a job's children or descendants (bounded in count and bytes). Queries
 * build cJSON values (not on the hot path); progress events are formatted directly as JSON text.
 *
 * Invariant: nothing here changes broker state.
 */
#include "broker_int.h"

#include <inttypes.h>

/* Adds a raw JSON text as a parsed value (or as a string if it does not parse). */
static void add_raw(cJSON *o, const char *name, const char *s, size_t n)
{
    if (!s)
        return;
    cJSON *v = cJSON_ParseWithLength(s, n);
    if (!v)
        v = cJSON_CreateString(s);
    cJSON_AddItemToObject(o, name, v);
}

static void add_str(cJSON *o, const char *name, const char *s)
{
    if (s)
        cJSON_AddStringToObject(o, name, s);
}

static void add_time(cJSON *o, const char *name, int64_t t)
{
    if (t > 0)
        cJSON_AddNumberToObject(o, name, (double)t);
}

static bool tree_is_ended(const btree *t)
{
    return t->jobs == t->ended;
}

const char *broker_tree_status(const bjob *j)
{
    if (j->tree)
        return !tree_is_ended(j->tree) ? "running" : j->tree->bad ? "failed" : "finished";
    if (!ST_ENDED(j->status))
        return "running";
    return j->status == ST_FINISHED ? "finished" : "failed";
}

cJSON *broker_job_json(broker *b, bjob *j)
{
    (void)b;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "job_id", j->h.key);
    cJSON_AddStringToObject(o, "queue", j->q->name);
    cJSON_AddStringToObject(o, "status", broker_status_name(j->status));
    cJSON_AddNumberToObject(o, "attempt", j->attempt);
    add_raw(o, "args", j->args, j->args_len);
    add_raw(o, "meta", j->meta, j->meta_len);
    if (j->key)
        cJSON_AddStringToObject(o, "key", j->key->h.key);
    add_str(o, "parent", j->parent_id);
    add_str(o, "root", j->root_id);
    if (j->tree) {
        /* bounded (a tree may have millions of jobs): the first BROKER_JSON_MAX_IDS children
         * in memory, children_total counts them all; the rest via query registry/tree */
        cJSON *ch = cJSON_AddArrayToObject(o, "children");
        size_t total = 0;
        for (blink *l = j->tree->members.next; l != &j->tree->members; l = l->next) {
            bjob *c = bcontainer(l, bjob, tree_link);
            if (c->parent_id && strcmp(c->parent_id, j->h.key) == 0 &&
                total++ < BROKER_JSON_MAX_IDS)
                cJSON_AddItemToArray(ch, cJSON_CreateString(c->h.key));
        }
        cJSON_AddNumberToObject(o, "children_total", (double)total);
    }
    if (j->n_deps) {
        cJSON *d = cJSON_AddArrayToObject(o, "depends_on");
        for (size_t i = 0; i < j->n_deps && i < BROKER_JSON_MAX_IDS; i++)
            cJSON_AddItemToArray(d, cJSON_CreateString(j->deps[i]));
        if (j->n_deps > BROKER_JSON_MAX_IDS)
            cJSON_AddNumberToObject(o, "depends_on_total", (double)j->n_deps);
        cJSON_AddBoolToObject(o, "allow_failure", j->allow_failure);
    }
    add_time(o, "enqueued_at", j->enqueued_at);
    add_time(o, "started_at", j->started_at);
    add_time(o, "ended_at", j->ended_at);
    if (j->status == ST_SCHEDULED)
        add_time(o, "scheduled_at", j->run_at);
    add_raw(o, "result", j->value, j->value_len);
    add_raw(o, "error", j->error, j->error_len);
    add_str(o, "reason", j->reason);
    cJSON_AddNumberToObject(o, "weight", (double)j->weight);
    cJSON_AddStringToObject(o, "tree_status", broker_tree_status(j));
    if (j->lease) {
        cJSON *w = cJSON_AddObjectToObject(o, "worker");
        cJSON_AddNumberToObject(w, "session", (double)j->lease->session);
        add_str(w, "name", j->lease->name);
    }
    if (j->prog_total > 0 || j->prog_done > 0 || j->prog_msg) {
        cJSON *p = cJSON_AddObjectToObject(o, "progress");
        cJSON_AddNumberToObject(p, "done", j->prog_done);
        cJSON_AddNumberToObject(p, "total", j->prog_total);
        add_str(p, "message", j->prog_msg);
    }
    return o;
}

int broker_tree_progress_json(broker *b, btree *t, bjob *root, wsm_buf *s)
{
    int rc = wsm_buf_append_str(s, "{\"root\":");
    rc |= bjson_str(s, t->root_id);
    const char *st = !tree_is_ended(t) ? "running" : t->bad ? "failed" : "finished";
    rc |= wsm_buf_printf(s, ",\"status\":\"%s\",\"queues\":{", st);
    bool first = true;
    for (size_t i = 0; i < b->n_queues; i++) {
        btree_q *tq = &t->qs[i];
        if (!tq->jobs)
            continue;
        if (!first)
            rc |= wsm_buf_append_str(s, ",");
        first = false;
        rc |= bjson_str(s, b->queues[i].name);
        rc |= wsm_buf_printf(s,
                             ":{\"jobs\":%" PRId64 ",\"ended\":%" PRId64 ",\"weight\":%" PRId64
                             ",\"weight_done\":%" PRId64 "}",
                             tq->jobs, tq->ended, tq->weight, tq->weight_done);
    }
    rc |= wsm_buf_printf(s, "},\"jobs\":%" PRId64 ",\"ended\":%" PRId64, t->jobs, t->ended);
    if (t->prog_total > 0 || t->prog_done > 0 || t->prog_msg) {
        rc |= wsm_buf_printf(s, ",\"progress\":{\"done\":%.17g,\"total\":%.17g", t->prog_done,
                             t->prog_total);
        if (t->prog_msg) {
            rc |= wsm_buf_append_str(s, ",\"message\":");
            rc |= bjson_str(s, t->prog_msg);
        }
        rc |= wsm_buf_append_str(s, "}");
    }
    if (t->started_at)
        rc |= wsm_buf_printf(s, ",\"started_at\":%" PRId64, t->started_at);
    if (t->ended_at && tree_is_ended(t))
        rc |= wsm_buf_printf(s, ",\"ended_at\":%" PRId64, t->ended_at);
    (void)root;
    rc |= wsm_buf_append_str(s, "}");
    return rc ? WSM_E_NOMEM : WSM_OK;
}

cJSON *broker_query_queues(broker *b)
{
    cJSON *a = cJSON_CreateArray();
    if (!a)
        return NULL;
    for (size_t i = 0; i < b->n_queues; i++) {
        bqueue *q = &b->queues[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            cJSON_Delete(a);
            return NULL;
        }
        cJSON_AddItemToArray(a, o);
        cJSON_AddStringToObject(o, "name", q->name);
        cJSON_AddBoolToObject(o, "paused", q->paused);
        cJSON_AddNumberToObject(o, "max_length", (double)q->max_length);
        for (int s = 0; s < ST__N; s++)
            cJSON_AddNumberToObject(o, broker_status_name(s), (double)q->count[s]);
        cJSON_AddNumberToObject(o, "consumers", (double)q->n_consumers);
        cJSON_AddNumberToObject(o, "held_emits", (double)q->n_held);
        cJSON_AddNumberToObject(o, "enqueued_total", (double)q->n_enqueued);
        cJSON_AddNumberToObject(o, "finished_total", (double)q->n_finished);
        cJSON_AddNumberToObject(o, "failed_total", (double)q->n_failed);
        cJSON_AddNumberToObject(o, "dropped_total", (double)q->n_dropped);
    }
    return a;
}

cJSON *broker_query_workers(broker *b)
{
    cJSON *a = cJSON_CreateArray();
    if (!a)
        return NULL;
    for (blink *l = b->conns.next; l != &b->conns; l = l->next) {
        bconn *c = bcontainer(l, bconn, all_link);
        if (!c->worker && !c->n_leased)
            continue;
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            cJSON_Delete(a);
            return NULL;
        }
        cJSON_AddItemToArray(a, o);
        cJSON_AddNumberToObject(o, "session", (double)c->session);
        add_str(o, "name", c->name);
        add_str(o, "instance", c->instance);
        add_str(o, "kind", c->kind);
        cJSON *qs = cJSON_AddArrayToObject(o, "queues");
        for (size_t i = 0; i < c->n_subs; i++)
            cJSON_AddItemToArray(qs, cJSON_CreateString(c->subs[i].q->name));
        cJSON_AddNumberToObject(o, "prefetch", (double)c->prefetch);
        const char *st = b->draining || c->prefetch == 0 ? "draining"
                         : c->n_leased                   ? "busy"
                                                         : "idle";
        cJSON_AddStringToObject(o, "state", st);
        /* the first leased ids only (a worker may hold up to 1,000,000): the reply stays
         * small for any prefetch; jobs_total counts them all */
        cJSON *js = cJSON_AddArrayToObject(o, "jobs");
        size_t nl = 0;
        for (blink *m = c->leased.next; m != &c->leased; m = m->next)
            if (nl++ < BROKER_WORKER_MAX_IDS)
                cJSON_AddItemToArray(js,
                                     cJSON_CreateString(bcontainer(m, bjob, lease_link)->h.key));
        cJSON_AddNumberToObject(o, "jobs_total", (double)nl);
        add_time(o, "connected_at", c->connected_at);
        add_time(o, "last_seen_at", c->last_seen_at);
        cJSON_AddNumberToObject(o, "processed", (double)c->processed);
        cJSON_AddNumberToObject(o, "failed", (double)c->failed);
    }
    return a;
}

cJSON *broker_query_job(broker *b, const char *job_id, wsm_err *err)
{
    bjob *j = broker_find_job(b, job_id);
    if (!j) {
        wsm_err_set(err, WSM_E_NO_SUCH_JOB, "no job '%s'", job_id ? job_id : "");
        return NULL;
    }
    cJSON *o = broker_job_json(b, j);
    if (!o)
        wsm_err_set(err, WSM_E_NOMEM, "out of memory");
    return o;
}

cJSON *broker_query_tree(broker *b, const char *job_id, wsm_err *err)
{
    bjob *j = broker_find_job(b, job_id);
    btree *t = NULL;
    if (j) {
        t = j->tree;
    } else if (job_id) {
        bdedup *d = (bdedup *)bhash_get(&b->dedup, job_id, bhash_str(job_id, strlen(job_id)));
        if (d)
            t = d->tree;
    }
    if (!j && !t) {
        wsm_err_set(err, WSM_E_NO_SUCH_JOB, "no job '%s'", job_id ? job_id : "");
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        return NULL;
    }
    if (!t) { /* a root without children: a tree of one */
        cJSON_AddStringToObject(o, "root", j->h.key);
        cJSON_AddStringToObject(o, "status", broker_tree_status(j));
        cJSON_AddNumberToObject(o, "jobs", 1);
        cJSON *bs = cJSON_AddObjectToObject(o, "by_status");
        cJSON_AddNumberToObject(bs, broker_status_name(j->status), 1);
        cJSON *qs = cJSON_AddObjectToObject(o, "queues");
        cJSON *qo = cJSON_AddObjectToObject(qs, j->q->name);
        cJSON_AddNumberToObject(qo, "jobs", 1);
        cJSON_AddNumberToObject(qo, "ended", ST_ENDED(j->status) ? 1 : 0);
        cJSON_AddNumberToObject(qo, "weight", (double)j->weight);
        cJSON_AddNumberToObject(qo, "weight_done", ST_ENDED(j->status) ? (double)j->weight : 0);
        add_time(o, "started_at", j->enqueued_at);
        add_time(o, "ended_at", j->ended_at);
        return o;
    }
    cJSON_AddStringToObject(o, "root", t->root_id);
    cJSON_AddStringToObject(o, "status",
                            !tree_is_ended(t) ? "running"
                            : t->bad          ? "failed"
                                              : "finished");
    cJSON_AddNumberToObject(o, "jobs", (double)t->jobs);
    cJSON_AddNumberToObject(o, "ended", (double)t->ended);
    size_t counts[ST__N] = {0};
    for (blink *l = t->members.next; l != &t->members; l = l->next)
        counts[bcontainer(l, bjob, tree_link)->status]++;
    cJSON *bs = cJSON_AddObjectToObject(o, "by_status");
    for (int s = 0; s < ST__N; s++)
        if (counts[s])
            cJSON_AddNumberToObject(bs, broker_status_name(s), (double)counts[s]);
    int64_t purged = t->jobs - (int64_t)t->refs;
    if (purged > 0)
        cJSON_AddNumberToObject(bs, "purged", (double)purged);
    cJSON *qs = cJSON_AddObjectToObject(o, "queues");
    for (size_t i = 0; i < b->n_queues; i++) {
        btree_q *tq = &t->qs[i];
        if (!tq->jobs)
            continue;
        cJSON *qo = cJSON_AddObjectToObject(qs, b->queues[i].name);
        cJSON_AddNumberToObject(qo, "jobs", (double)tq->jobs);
        cJSON_AddNumberToObject(qo, "ended", (double)tq->ended);
        cJSON_AddNumberToObject(qo, "weight", (double)tq->weight);
        cJSON_AddNumberToObject(qo, "weight_done", (double)tq->weight_done);
    }
    add_time(o, "started_at", t->started_at);
    if (tree_is_ended(t))
        add_time(o, "ended_at", t->ended_at);
    return o;
}

static int registry_from_name(const char *s)
{
    for (int i = 0; i < ST__N; i++)
        if (s && strcmp(s, broker_status_name(i)) == 0)
            return i;
    return -1;
}

/* The arguments every paged query shares: a status/registry name (field names it in the
 * error) and offset/limit bounds. Returns the status (-1 for a NULL name) or -2 with err set
 * (BAD_FIELD). */
static int page_args(const char *field, const char *name, int64_t offset, int64_t limit,
                     wsm_err *err)
{
    int st = name ? registry_from_name(name) : -1;
    if (name && st < 0) {
        wsm_err_set(err, WSM_E_BAD_FIELD,
                    "%s: expected one of queued, deferred, scheduled, started, finished, failed, "
                    "expired, canceled",
                    field);
        return -2;
    }
    if (offset < 0 || limit < 1 || limit > BROKER_PAGE_MAX) {
        wsm_err_set(err, WSM_E_BAD_FIELD, "offset >= 0 and limit 1..%d expected", BROKER_PAGE_MAX);
        return -2;
    }
    return st;
}

/* A page of job summaries bounded by count (limit) and by bytes (the compact JSON text of the
 * array stays within max_bytes; 0 = no byte cap): every paged query (registry, children) fills
 * its page through page_add, so they end early the same way. The first summary is always
 * taken, so a page makes progress whatever the cap. */
typedef struct bpage {
    cJSON *arr;
    int64_t limit, listed;
    size_t max_bytes, bytes;
    bool full; /* no more summaries go in: limit reached or the next one did not fit */
} bpage;

/* Adds e (taken: added or deleted) unless the page is full. 0, or -1 on NOMEM. Only a
 * byte-capped page prints e to measure it. */
static int page_add(bpage *p, cJSON *e)
{
    if (!e || p->full) {
        cJSON_Delete(e);
        return p->full ? 0 : -1;
    }
    if (p->max_bytes) {
        char *txt = cJSON_PrintUnformatted(e);
        if (!txt) {
            cJSON_Delete(e);
            return -1;
        }
        size_t n = strlen(txt) + (p->listed ? 1 : 0); /* the comma before it */
        cJSON_free(txt);
        if (p->listed && p->bytes + n > p->max_bytes) {
            cJSON_Delete(e);
            p->full = true;
            return 0;
        }
        p->bytes += n;
    }
    cJSON_AddItemToArray(p->arr, e);
    if (++p->listed == p->limit)
        p->full = true;
    return 0;
}

/* Adds total, offset, next_offset (when more follow the page) and jobs (the page's array,
 * taken) to o. */
static void page_finish(cJSON *o, bpage *p, int64_t offset, int64_t total)
{
    cJSON_AddNumberToObject(o, "total", (double)total);
    cJSON_AddNumberToObject(o, "offset", (double)offset);
    if (offset + p->listed < total)
        cJSON_AddNumberToObject(o, "next_offset", (double)(offset + p->listed));
    cJSON_AddItemToObject(o, "jobs", p->arr);
}

/* Frees a page being built (o and its array) and sets NOMEM; returns NULL. */
static cJSON *page_nomem(cJSON *o, bpage *p, wsm_err *err)
{
    cJSON_Delete(p->arr);
    cJSON_Delete(o);
    wsm_err_set(err, WSM_E_NOMEM, "out of memory");
    return NULL;
}

/* Adds s as member `name`, cut to at most max bytes at a UTF-8 character boundary and ending
 * with "…" when cut. */
static void add_str_cut(cJSON *o, const char *name, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max) {
        cJSON_AddStringToObject(o, name, s);
        return;
    }
    n = max - 3; /* room for the ellipsis (3 bytes) */
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    char buf[BROKER_SUMMARY_TEXT_MAX + 1];
    memcpy(buf, s, n);
    memcpy(buf + n, "\xE2\x80\xA6", 4);
    cJSON_AddStringToObject(o, name, buf);
}

/* error_type and error_message of a failed job's error JSON ({"type","message","detail"}),
 * each cut to BROKER_SUMMARY_TEXT_MAX bytes. */
static void add_error_summary(cJSON *o, const bjob *j)
{
    if (!j->error)
        return;
    cJSON *e = cJSON_ParseWithLength(j->error, j->error_len);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "type");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    if (cJSON_IsString(t))
        add_str_cut(o, "error_type", t->valuestring, BROKER_SUMMARY_TEXT_MAX);
    if (cJSON_IsString(m))
        add_str_cut(o, "error_message", m->valuestring, BROKER_SUMMARY_TEXT_MAX);
    cJSON_Delete(e);
}

enum { SUM_PARENT = 1, SUM_ROOT = 2 };

/* One entry of a registry or children page (the job summary of protocol §6.12); NULL on
 * NOMEM. */
static cJSON *job_summary(const bjob *j, unsigned with)
{
    cJSON *e = cJSON_CreateObject();
    if (!e)
        return NULL;
    cJSON_AddStringToObject(e, "job_id", j->h.key);
    cJSON_AddStringToObject(e, "queue", j->q->name);
    cJSON_AddStringToObject(e, "status", broker_status_name(j->status));
    cJSON_AddNumberToObject(e, "attempt", j->attempt);
    if (j->key)
        cJSON_AddStringToObject(e, "key", j->key->h.key);
    if (with & SUM_PARENT)
        add_str(e, "parent", j->parent_id);
    if (with & SUM_ROOT)
        add_str(e, "root", j->root_id);
    add_time(e, "enqueued_at", j->enqueued_at);
    add_time(e, "started_at", j->started_at);
    add_time(e, "ended_at", j->ended_at);
    add_str(e, "reason", j->reason);
    add_error_summary(e, j);
    return e;
}

cJSON *broker_query_registry(broker *b, const char *queue, const char *registry, int64_t offset,
                             int64_t limit, const char *search, size_t max_bytes, wsm_err *err)
{
    bqueue *q = broker_find_queue(b, queue);
    if (!q) {
        wsm_err_set(err, WSM_E_NO_SUCH_QUEUE, "queue '%s' is not declared", queue ? queue : "");
        return NULL;
    }
    int st = page_args("registry", registry ? registry : "", offset, limit, err);
    if (st < 0)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    bpage pg = {.arr = o ? cJSON_CreateArray() : NULL, .limit = limit, .max_bytes = max_bytes};
    if (!pg.arr)
        return page_nomem(o, &pg, err);
    size_t slen = search ? strlen(search) : 0;
    bool newest_first = ST_ENDED(st);
    blink *h = &q->reg[st];
    int64_t total = 0;
    for (blink *l = newest_first ? h->prev : h->next; l != h;
         l = newest_first ? l->prev : l->next) {
        bjob *j = bcontainer(l, bjob, reg);
        if (slen && strncmp(j->h.key, search, slen) != 0)
            continue;
        if (total++ < offset || pg.full)
            continue;
        if (page_add(&pg, job_summary(j, SUM_PARENT | SUM_ROOT)) < 0)
            return page_nomem(o, &pg, err);
        if (!slen && pg.full) {
            total = (int64_t)q->count[st]; /* no filter: the count is known */
            break;
        }
    }
    page_finish(o, &pg, offset, total);
    return o;
}

cJSON *broker_query_children(broker *b, const char *job_id, bool descendants, const char *status,
                             int64_t offset, int64_t limit, size_t max_bytes, wsm_err *err)
{
    bjob *j = broker_find_job(b, job_id);
    btree *t = j ? j->tree : NULL;
    if (!j && job_id) { /* purged, but an emitted id of a live tree: its children may live */
        bdedup *d = (bdedup *)bhash_get(&b->dedup, job_id, bhash_str(job_id, strlen(job_id)));
        t = d ? d->tree : NULL;
        if (!t) {
            wsm_err_set(err, WSM_E_NO_SUCH_JOB, "no job '%s'", job_id);
            return NULL;
        }
    } else if (!j) {
        wsm_err_set(err, WSM_E_NO_SUCH_JOB, "no job ''");
        return NULL;
    }
    int st = page_args("status", status, offset, limit, err);
    if (st == -2)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    bpage pg = {.arr =
                    o && cJSON_AddStringToObject(o, "job_id", job_id) ? cJSON_CreateArray() : NULL,
                .limit = limit,
                .max_bytes = max_bytes};
    if (!pg.arr)
        return page_nomem(o, &pg, err);
    size_t idl = strlen(job_id);
    int64_t total = 0;
    for (blink *l = t ? t->members.next : NULL; t && l != &t->members; l = l->next) {
        bjob *c = bcontainer(l, bjob, tree_link);
        bool below = descendants ? strncmp(c->h.key, job_id, idl) == 0 && c->h.key[idl] == '.'
                                 : c->parent_id && strcmp(c->parent_id, job_id) == 0;
        if (!below || (st >= 0 && c->status != st))
            continue;
        if (total++ < offset || pg.full)
            continue;
        if (page_add(&pg, job_summary(c, descendants ? SUM_PARENT : 0)) < 0)
            return page_nomem(o, &pg, err);
    }
    page_finish(o, &pg, offset, total);
    return o;
}
