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
        cJSON *js = cJSON_AddArrayToObject(o, "jobs");
        for (blink *m = c->leased.next; m != &c->leased; m = m->next)
            cJSON_AddItemToArray(js, cJSON_CreateString(bcontainer(m, bjob, lease_link)->h.key));
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

cJSON *broker_query_registry(broker *b, const char *queue, const char *registry, int64_t offset,
                             int64_t limit, const char *search, wsm_err *err)
{
    bqueue *q = broker_find_queue(b, queue);
    if (!q) {
        wsm_err_set(err, WSM_E_NO_SUCH_QUEUE, "queue '%s' is not declared", queue ? queue : "");
        return NULL;
    }
    int st = registry_from_name(registry);
    if (st < 0) {
        wsm_err_set(err, WSM_E_BAD_FIELD,
                    "registry: expected one of queued, deferred, scheduled, started, finished, "
                    "failed, expired, canceled");
        return NULL;
    }
    if (offset < 0 || limit < 1 || limit > 1000) {
        wsm_err_set(err, WSM_E_BAD_FIELD, "offset >= 0 and limit 1..1000 expected");
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = o ? cJSON_AddArrayToObject(o, "jobs") : NULL;
    if (!arr) {
        cJSON_Delete(o);
        wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        return NULL;
    }
    size_t slen = search ? strlen(search) : 0;
    bool newest_first = ST_ENDED(st);
    blink *h = &q->reg[st];
    int64_t total = 0;
    for (blink *l = newest_first ? h->prev : h->next; l != h;
         l = newest_first ? l->prev : l->next) {
        bjob *j = bcontainer(l, bjob, reg);
        if (slen && strncmp(j->h.key, search, slen) != 0)
            continue;
        if (total >= offset && total < offset + limit) {
            cJSON *e = cJSON_CreateObject();
            if (!e)
                break;
            cJSON_AddItemToArray(arr, e);
            cJSON_AddStringToObject(e, "job_id", j->h.key);
            cJSON_AddStringToObject(e, "status", broker_status_name(j->status));
            cJSON_AddNumberToObject(e, "attempt", j->attempt);
            if (j->key)
                cJSON_AddStringToObject(e, "key", j->key->h.key);
            add_str(e, "root", j->root_id);
            add_time(e, "enqueued_at", j->enqueued_at);
            add_time(e, "ended_at", j->ended_at);
            add_str(e, "reason", j->reason);
        }
        total++;
        if (!slen && total >= offset + limit) {
            total = (int64_t)q->count[st]; /* no filter: the count is known */
            break;
        }
    }
    cJSON_AddNumberToObject(o, "total", (double)total);
    cJSON_AddNumberToObject(o, "offset", (double)offset);
    return o;
}

/* The "type" of a failed job's error JSON ({"type","message","detail"}), or NULL. */
static cJSON *error_type(const bjob *j)
{
    if (!j->error)
        return NULL;
    cJSON *e = cJSON_ParseWithLength(j->error, j->error_len);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "type");
    cJSON *out = cJSON_IsString(t) ? cJSON_CreateString(t->valuestring) : NULL;
    cJSON_Delete(e);
    return out;
}

/* One entry of a children page; NULL on NOMEM. */
static cJSON *child_summary(const bjob *j, bool with_parent)
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
    if (with_parent)
        add_str(e, "parent", j->parent_id);
    add_time(e, "enqueued_at", j->enqueued_at);
    add_time(e, "started_at", j->started_at);
    add_time(e, "ended_at", j->ended_at);
    add_str(e, "reason", j->reason);
    cJSON *t = error_type(j);
    if (t)
        cJSON_AddItemToObject(e, "error_type", t);
    return e;
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
    int st = -1;
    if (status && (st = registry_from_name(status)) < 0) {
        wsm_err_set(err, WSM_E_BAD_FIELD,
                    "status: expected one of queued, deferred, scheduled, started, finished, "
                    "failed, expired, canceled");
        return NULL;
    }
    if (offset < 0 || limit < 1 || limit > BROKER_PAGE_MAX) {
        wsm_err_set(err, WSM_E_BAD_FIELD, "offset >= 0 and limit 1..%d expected", BROKER_PAGE_MAX);
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = o && cJSON_AddStringToObject(o, "job_id", job_id) ? cJSON_CreateArray() : NULL;
    if (!arr) {
        cJSON_Delete(o);
        wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        return NULL;
    }
    size_t idl = strlen(job_id);
    int64_t total = 0, listed = 0;
    size_t bytes = 2; /* [] */
    bool full = false;
    for (blink *l = t ? t->members.next : NULL; t && l != &t->members; l = l->next) {
        bjob *c = bcontainer(l, bjob, tree_link);
        bool below = descendants ? strncmp(c->h.key, job_id, idl) == 0 && c->h.key[idl] == '.'
                                 : c->parent_id && strcmp(c->parent_id, job_id) == 0;
        if (!below || (st >= 0 && c->status != st))
            continue;
        if (total++ < offset || full)
            continue;
        cJSON *e = child_summary(c, descendants);
        char *txt = e ? cJSON_PrintUnformatted(e) : NULL;
        if (!txt) {
            cJSON_Delete(e);
            cJSON_Delete(arr);
            cJSON_Delete(o);
            wsm_err_set(err, WSM_E_NOMEM, "out of memory");
            return NULL;
        }
        size_t n = strlen(txt) + (listed ? 1 : 0);
        cJSON_free(txt);
        /* the first entry always (a page makes progress); the rest while they fit */
        if (listed && max_bytes && bytes + n > max_bytes) {
            cJSON_Delete(e);
            full = true;
            continue;
        }
        bytes += n;
        cJSON_AddItemToArray(arr, e);
        if (++listed == limit)
            full = true;
    }
    cJSON_AddNumberToObject(o, "total", (double)total);
    cJSON_AddNumberToObject(o, "offset", (double)offset);
    if (offset + listed < total)
        cJSON_AddNumberToObject(o, "next_offset", (double)(offset + listed));
    cJSON_AddItemToObject(o, "jobs", arr);
    return o;
}
