/*
 * broker_persist.c - the broker's side of persistence: job and key records (compact JSON
 * text), collecting the changes since the last batch for a store (broker_persist_collect),
 * and rebuilding a broker from stored records (broker_restore_*).
 *
 * Invariants: a change is reported to the store exactly once, in order: first the ordered
 * oplog (deletions, dedup ids), then the current record of every dirty job and key. A job
 * purged before its collect is only deleted; a job deleted and re-created under the same id
 * is deleted then written. Collect is all-or-nothing: if a sink callback fails, nothing is
 * cleared and the next collect reports everything again.
 *
 * Record format (private to this file; stable across restarts of the same version):
 *   {"id","q","st","att","qs","eq","sa","ea","ra","ta","to","ttl","rt","ft","rm","iv":[],
 *    "w","k","par","root","em","af","deps":[],"args","meta","ct","pm","val","err","rs"}
 * Raw JSON values (args, meta, pm, val, err) are embedded verbatim. A finished job has no
 * "pm" and its stored payload is empty (freed when it finished).
 * Key record: {"state","stopped_by","roots":[root ids of the trees holding the key]}; on
 * restore the key is linked to those trees again, so its state outlives its purged jobs.
 */
#include "broker_int.h"

#include <inttypes.h>
#include <stdio.h>

int broker_job_record(broker *b, const bjob *j, wsm_buf *s)
{
    (void)b;
    int rc = wsm_buf_append_str(s, "{\"id\":");
    rc |= bjson_str(s, j->h.key);
    rc |= wsm_buf_append_str(s, ",\"q\":");
    rc |= bjson_str(s, j->q->name);
    rc |= wsm_buf_printf(s,
                         ",\"st\":%d,\"att\":%d,\"qs\":%" PRId64 ",\"eq\":%" PRId64
                         ",\"sa\":%" PRId64 ",\"ea\":%" PRId64 ",\"ra\":%" PRId64 ",\"ta\":%" PRId64
                         ",\"to\":%" PRId64 ",\"ttl\":%" PRId64 ",\"rt\":%" PRId64
                         ",\"ft\":%" PRId64 ",\"rm\":%d,\"w\":%" PRId64 ",\"em\":%s,\"af\":%s",
                         j->status, j->attempt, j->qseq, j->enqueued_at, j->started_at, j->ended_at,
                         j->run_at, j->ttl_at, j->timeout_ms, j->ttl_ms, j->result_ttl_ms,
                         j->failure_ttl_ms, j->retry_max, j->weight, j->emitted ? "true" : "false",
                         j->allow_failure ? "true" : "false");
    if (j->n_intervals) {
        rc |= wsm_buf_append_str(s, ",\"iv\":[");
        for (int i = 0; i < j->n_intervals; i++)
            rc |= wsm_buf_printf(s, "%s%" PRId64, i ? "," : "", j->intervals[i]);
        rc |= wsm_buf_append_str(s, "]");
    }
    if (j->key) {
        rc |= wsm_buf_append_str(s, ",\"k\":");
        rc |= bjson_str(s, j->key->h.key);
    }
    if (j->parent_id) {
        rc |= wsm_buf_append_str(s, ",\"par\":");
        rc |= bjson_str(s, j->parent_id);
        rc |= wsm_buf_append_str(s, ",\"root\":");
        rc |= bjson_str(s, j->root_id);
    }
    if (j->n_deps) {
        rc |= wsm_buf_append_str(s, ",\"deps\":[");
        for (size_t i = 0; i < j->n_deps; i++) {
            if (i)
                rc |= wsm_buf_append_str(s, ",");
            rc |= bjson_str(s, j->deps[i]);
        }
        rc |= wsm_buf_append_str(s, "]");
    }
    rc |= wsm_buf_append_str(s, ",\"args\":");
    rc |= bjson_raw(s, j->args, j->args_len);
    if (j->meta) {
        rc |= wsm_buf_append_str(s, ",\"meta\":");
        rc |= bjson_raw(s, j->meta, j->meta_len);
    }
    if (j->content_type) {
        rc |= wsm_buf_append_str(s, ",\"ct\":");
        rc |= bjson_str(s, j->content_type);
    }
    if (j->payload_meta) {
        rc |= wsm_buf_append_str(s, ",\"pm\":");
        rc |= bjson_raw(s, j->payload_meta, j->payload_meta_len);
    }
    if (j->value) {
        rc |= wsm_buf_append_str(s, ",\"val\":");
        rc |= bjson_raw(s, j->value, j->value_len);
    }
    if (j->error) {
        rc |= wsm_buf_append_str(s, ",\"err\":");
        rc |= bjson_raw(s, j->error, j->error_len);
    }
    if (j->reason) {
        rc |= wsm_buf_append_str(s, ",\"rs\":");
        rc |= bjson_str(s, j->reason);
    }
    rc |= wsm_buf_append_str(s, "}");
    return rc ? WSM_E_NOMEM : WSM_OK;
}

static int key_record(const bkey *k, wsm_buf *s)
{
    int rc = wsm_buf_append_str(s, "{");
    bool any = false;
    if (k->state) {
        rc |= wsm_buf_append_str(s, "\"state\":");
        rc |= bjson_raw(s, k->state, k->state_len);
        any = true;
    }
    if (k->stopped_by) {
        rc |= wsm_buf_append_str(s, any ? ",\"stopped_by\":" : "\"stopped_by\":");
        rc |= bjson_str(s, k->stopped_by);
        any = true;
    }
    if (k->n_trees) {
        rc |= wsm_buf_append_str(s, any ? ",\"roots\":[" : "\"roots\":[");
        for (size_t i = 0; i < k->n_trees; i++) {
            if (i)
                rc |= wsm_buf_append_str(s, ",");
            rc |= bjson_str(s, k->trees[i]->root_id);
        }
        rc |= wsm_buf_append_str(s, "]");
    }
    rc |= wsm_buf_append_str(s, "}");
    return rc ? WSM_E_NOMEM : WSM_OK;
}

bool broker_persist_pending(const broker *b)
{
    return b->persist &&
           (b->oplog.len || !blist_empty(&b->dirty_jobs) || !blist_empty(&b->dirty_keys));
}

uint64_t broker_persist_collect(broker *b, const broker_persist_sink *sink, int *err_code)
{
    if (err_code)
        *err_code = WSM_OK;
    if (!broker_persist_pending(b))
        return 0;
    int rc = 0;
    void *u = sink->user;
    /* pass 1: report */
    /* (oplog.data is NULL while empty: no pointer arithmetic on it then) */
    const char *p = (const char *)b->oplog.data;
    const char *end = b->oplog.len ? p + b->oplog.len : p;
    while (p < end && !rc) {
        char tag = *p++;
        const char *s1 = p;
        p += strlen(p) + 1;
        const char *s2 = NULL;
        if (tag == 'K' || tag == 'D') {
            s2 = p;
            p += strlen(p) + 1;
        }
        switch (tag) {
        case 'J':
            rc = sink->job_del(u, s1);
            break;
        case 'K':
            rc = sink->key_put(u, s1, s2, NULL, 0);
            break;
        case 'D':
            rc = sink->dedup_put(u, s1, s2);
            break;
        default:
            rc = sink->dedup_del_root(u, s1);
        }
    }
    wsm_buf *s = &b->scratch;
    for (blink *l = b->dirty_jobs.next; l != &b->dirty_jobs && !rc; l = l->next) {
        bjob *j = bcontainer(l, bjob, dirty_link);
        wsm_buf_reset(s);
        rc = broker_job_record(b, j, s);
        if (!rc)
            rc = sink->job_put(u, j->h.key, (const char *)s->data, s->len, j->payload, j->len,
                               !j->payload_saved);
    }
    for (blink *l = b->dirty_keys.next; l != &b->dirty_keys && !rc; l = l->next) {
        bkey *k = bcontainer(l, bkey, dirty_link);
        wsm_buf_reset(s);
        rc = key_record(k, s);
        if (!rc)
            rc = sink->key_put(u, k->q->name, k->h.key, (const char *)s->data, s->len);
    }
    if (rc) {
        if (err_code)
            *err_code = WSM_E_NOMEM;
        return 0;
    }
    /* pass 2: clear */
    wsm_buf_reset(&b->oplog);
    while (!blist_empty(&b->dirty_jobs)) {
        bjob *j = bcontainer(b->dirty_jobs.next, bjob, dirty_link);
        blist_remove(&j->dirty_link);
        j->dirty = false;
        j->payload_saved = true;
    }
    while (!blist_empty(&b->dirty_keys)) {
        bkey *k = bcontainer(b->dirty_keys.next, bkey, dirty_link);
        blist_remove(&k->dirty_link);
        k->dirty = false;
        k->saved = true;
    }
    return b->change_seq;
}

/* ------------------------------------------------------------------ restore */

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t jint(const cJSON *o, const char *k, int64_t dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : dflt;
}

static bool jbool(const cJSON *o, const char *k)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* Prints a member as raw JSON text (caller frees), or NULL when absent. */
static char *jraw(const cJSON *o, const char *k, size_t *n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v)
        return NULL;
    char *s = cJSON_PrintUnformatted(v);
    if (s)
        *n = strlen(s);
    return s;
}

int broker_restore_job(broker *b, const char *rec, size_t rec_len, const void *payload, size_t len,
                       wsm_err *err)
{
    cJSON *o = cJSON_ParseWithLength(rec, rec_len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return wsm_err_set(err, WSM_E_BAD_FIELD, "store: a job record is not a JSON object");
    }
    int rc = WSM_OK;
    char *args = NULL, *meta = NULL, *pm = NULL, *val = NULL, *er = NULL;
    size_t args_n = 0, meta_n = 0, pm_n = 0, val_n = 0, er_n = 0;
    const char *id = jstr(o, "id"), *qn = jstr(o, "q");
    int64_t st = jint(o, "st", -1);
    if (!id || !qn || st < 0 || st >= ST__N) {
        rc = wsm_err_set(err, WSM_E_BAD_FIELD, "store: job record without id, q or st");
        goto out;
    }
    bqueue *q = broker_find_queue(b, qn);
    if (!q) {
        wsm_log(WSM_LOG_WARN, "broker", "store: job '%s' of undeclared queue '%s' dropped", id, qn);
        goto out;
    }
    if (broker_find_job(b, id)) {
        rc = wsm_err_set(err, WSM_E_BAD_FIELD, "store: job '%s' stored twice", id);
        goto out;
    }
    broker_job_spec sp;
    broker_job_spec_init(&sp);
    args = jraw(o, "args", &args_n);
    meta = jraw(o, "meta", &meta_n);
    pm = jraw(o, "pm", &pm_n);
    val = jraw(o, "val", &val_n);
    er = jraw(o, "err", &er_n);
    sp.args = args;
    sp.args_len = args_n;
    sp.meta = meta;
    sp.meta_len = meta_n;
    /* a finished job holds no payload (freed when it finished; an older store may still
     * have one: it is not loaded, and dropped with the job's row) */
    bool fin = st == ST_FINISHED;
    sp.payload_meta = fin ? NULL : pm;
    sp.payload_meta_len = fin ? 0 : pm_n;
    sp.content_type = jstr(o, "ct");
    sp.payload = fin ? NULL : payload;
    sp.len = payload && !fin ? len : 0;
    sp.key = jstr(o, "k");
    sp.weight = jint(o, "w", 1);
    bjob *j;
    rc = broker_job_alloc(b, q, id, &sp, &j);
    if (rc) {
        wsm_err_set(err, rc, "out of memory");
        goto out;
    }
    j->status = (uint8_t)st;
    j->attempt = (int)jint(o, "att", 0);
    j->qseq = jint(o, "qs", 0);
    j->enqueued_at = jint(o, "eq", 0);
    j->started_at = jint(o, "sa", 0);
    j->ended_at = jint(o, "ea", 0);
    j->run_at = jint(o, "ra", 0);
    j->ttl_at = jint(o, "ta", 0);
    j->timeout_ms = jint(o, "to", 0);
    j->ttl_ms = jint(o, "ttl", 0);
    j->result_ttl_ms = jint(o, "rt", b->ret.result_ttl_ms);
    j->failure_ttl_ms = jint(o, "ft", b->ret.failure_ttl_ms);
    j->retry_max = (int)jint(o, "rm", 0);
    j->emitted = jbool(o, "em");
    j->allow_failure = jbool(o, "af");
    free(j->intervals);
    j->intervals = NULL;
    j->n_intervals = 0;
    const cJSON *iv = cJSON_GetObjectItemCaseSensitive(o, "iv");
    int niv = cJSON_GetArraySize(iv);
    if (niv > 0 && niv <= BROKER_MAX_INTERVALS) {
        j->intervals = calloc((size_t)niv, sizeof *j->intervals);
        if (j->intervals) {
            const cJSON *e;
            cJSON_ArrayForEach(e, iv) j->intervals[j->n_intervals++] =
                cJSON_IsNumber(e) ? (int64_t)e->valuedouble : 0;
        }
    }
    j->parent_id = bstrdup0(jstr(o, "par"));
    j->root_id = bstrdup0(jstr(o, "root"));
    j->reason = bstrdup0(jstr(o, "rs"));
    j->value = val;
    j->value_len = val_n;
    val = NULL;
    j->error = er;
    j->error_len = er_n;
    er = NULL;
    const cJSON *deps = cJSON_GetObjectItemCaseSensitive(o, "deps");
    int nd = cJSON_GetArraySize(deps);
    if (nd > 0) {
        j->deps = calloc((size_t)nd, sizeof *j->deps);
        if (j->deps) {
            const cJSON *e;
            cJSON_ArrayForEach(e, deps) if (cJSON_IsString(e)) j->deps[j->n_deps++] =
                bstrdup0(e->valuestring);
        }
    }
    j->payload_saved = true;
    if (bhash_put(&b->jobs, &j->h)) {
        broker_job_free(b, j);
        rc = wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        goto out;
    }
    if (j->qseq < q->head_seq)
        q->head_seq = j->qseq;
    if (j->qseq > q->tail_seq)
        q->tail_seq = j->qseq;
    blist_push_back(&b->restoring, &j->dirty_link);
out:
    free(args);
    free(meta);
    free(pm);
    free(val);
    free(er);
    cJSON_Delete(o);
    return rc;
}

int broker_restore_key(broker *b, const char *queue, const char *key, const char *state,
                       size_t state_len, wsm_err *err)
{
    bqueue *q = broker_find_queue(b, queue);
    if (!q || !key || !*key)
        return WSM_OK; /* queue no longer declared: its keys are gone */
    if (!state)
        return WSM_OK;
    cJSON *o = cJSON_ParseWithLength(state, state_len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return wsm_err_set(err, WSM_E_BAD_FIELD, "store: key record of %s/%s is not an object",
                           queue, key);
    }
    bkey *k = broker_key_get(b, q, key, true);
    if (!k) {
        cJSON_Delete(o);
        return wsm_err_set(err, WSM_E_NOMEM, "out of memory");
    }
    size_t n = 0;
    char *s = jraw(o, "state", &n);
    free(k->state);
    k->state = s;
    k->state_len = n;
    free(k->stopped_by);
    k->stopped_by = bstrdup0(jstr(o, "stopped_by"));
    cJSON_Delete(k->restore_roots);
    cJSON *roots = cJSON_GetObjectItemCaseSensitive(o, "roots");
    k->restore_roots = cJSON_IsArray(roots) && cJSON_GetArraySize(roots) > 0
                           ? cJSON_DetachItemViaPointer(o, roots)
                           : NULL;
    k->saved = true;
    cJSON_Delete(o);
    return WSM_OK;
}

int broker_restore_dedup(broker *b, const char *id, const char *root, wsm_err *err)
{
    if (!id || !root)
        return wsm_err_set(err, WSM_E_BAD_FIELD, "store: dedup row without id or root");
    if (wsm_buf_append(&b->restore_dedup, id, strlen(id) + 1) ||
        wsm_buf_append(&b->restore_dedup, root, strlen(root) + 1))
        return wsm_err_set(err, WSM_E_NOMEM, "out of memory");
    return WSM_OK;
}

/* ordering of restored jobs: waiting/started by queue order, ended by end time */
static int restore_cmp(const void *pa, const void *pb)
{
    const bjob *a = *(const bjob *const *)pa, *c = *(const bjob *const *)pb;
    bool ea = ST_ENDED(a->status), ec = ST_ENDED(c->status);
    if (ea != ec)
        return ea ? 1 : -1;
    int64_t ka = ea ? a->ended_at : a->qseq, kc = ec ? c->ended_at : c->qseq;
    return ka < kc ? -1 : ka > kc;
}

/* Tree of a root id during restore: the root job's tree, or a rootless tree. */
typedef struct rtree {
    bhent h;
    btree *t;
} rtree;

static btree *restore_tree(broker *b, bhash *trees, const char *root_id)
{
    uint64_t h = bhash_str(root_id, strlen(root_id));
    rtree *r = (rtree *)bhash_get(trees, root_id, h);
    if (r)
        return r->t;
    bjob *root = broker_find_job(b, root_id);
    /* a purged root leaves a tree without root job */
    btree *t = root && !root->root_id ? broker_tree_ensure(b, root) : broker_tree_new(b, root_id);
    if (!t)
        return NULL;
    r = calloc(1, sizeof *r);
    if (!r || !(r->h.key = bstrdup0(root_id)) || (r->h.hash = h, bhash_put(trees, &r->h))) {
        if (r)
            free(r->h.key);
        free(r);
        return NULL;
    }
    r->t = t;
    return t;
}

int broker_restore_finish(broker *b, wsm_err *err)
{
    size_t n = 0;
    for (blink *l = b->restoring.next; l != &b->restoring; l = l->next)
        n++;
    bjob **v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return wsm_err_set(err, WSM_E_NOMEM, "out of memory");
    size_t i = 0;
    while (!blist_empty(&b->restoring)) {
        bjob *j = bcontainer(b->restoring.next, bjob, dirty_link);
        blist_remove(&j->dirty_link);
        v[i++] = j;
    }
    qsort(v, n, sizeof *v, restore_cmp);
    int rc = WSM_OK;
    bhash trees = {0};
    /* 1. registries (raw) and trees */
    for (i = 0; i < n; i++) {
        bjob *j = v[i];
        blist_push_back(&j->q->reg[j->status], &j->reg);
        j->q->count[j->status]++;
    }
    for (i = 0; i < n && !rc; i++) {
        bjob *j = v[i];
        if (!j->root_id)
            continue;
        btree *t = restore_tree(b, &trees, j->root_id);
        if (!t) {
            rc = wsm_err_set(err, WSM_E_NOMEM, "out of memory");
            break;
        }
        broker_tree_add(b, t, j);
    }
    /* 2. dedup ids of living trees */
    const char *p = (const char *)b->restore_dedup.data;
    const char *end = b->restore_dedup.len ? p + b->restore_dedup.len : p;
    while (p < end && !rc) {
        const char *id = p;
        p += strlen(p) + 1;
        const char *root = p;
        p += strlen(p) + 1;
        rtree *r = (rtree *)bhash_get(&trees, root, bhash_str(root, strlen(root)));
        if (!r && broker_find_job(b, root)) {
            /* a root whose emitted jobs were all purged: its tree (and dedup ids) lives on */
            if (!restore_tree(b, &trees, root)) {
                rc = wsm_err_set(err, WSM_E_NOMEM, "out of memory");
                break;
            }
            r = (rtree *)bhash_get(&trees, root, bhash_str(root, strlen(root)));
        }
        if (!r || bhash_get(&b->dedup, id, bhash_str(id, strlen(id))))
            continue;
        bdedup *d = calloc(1, sizeof *d);
        if (!d || !(d->h.key = bstrdup0(id))) {
            free(d);
            rc = wsm_err_set(err, WSM_E_NOMEM, "out of memory");
            break;
        }
        d->h.hash = bhash_str(id, strlen(id));
        if (bhash_put(&b->dedup, &d->h)) {
            free(d->h.key);
            free(d);
            rc = wsm_err_set(err, WSM_E_NOMEM, "out of memory");
            break;
        }
        d->tree = r->t;
        d->next = r->t->dedup;
        r->t->dedup = d;
    }
    wsm_buf_free(&b->restore_dedup);
    /* 2b. keys held by trees (their state outlives the purged jobs of the key) */
    for (size_t qi = 0; qi < b->n_queues && !rc; qi++) {
        bqueue *q = &b->queues[qi];
        for (size_t s = 0; s < q->keys.cap && !rc; s++) {
            bkey *k = (bkey *)q->keys.slots[s];
            if (!k || !k->restore_roots)
                continue;
            const cJSON *e;
            cJSON_ArrayForEach(e, k->restore_roots)
            {
                if (!cJSON_IsString(e))
                    continue;
                const char *root = e->valuestring;
                rtree *r = (rtree *)bhash_get(&trees, root, bhash_str(root, strlen(root)));
                btree *t = r ? r->t : NULL;
                bjob *rj = r ? NULL : broker_find_job(b, root);
                if (!t && rj && !rj->root_id && !(t = restore_tree(b, &trees, root)))
                    rc = wsm_err_set(err, WSM_E_NOMEM, "out of memory");
                if (t && !rc && broker_tree_key_add(b, t, k))
                    rc = wsm_err_set(err, WSM_E_NOMEM, "out of memory");
                if (rc)
                    break;
            }
            cJSON_Delete(k->restore_roots);
            k->restore_roots = NULL;
        }
    }
    if (!rc) {
        /* 3. key owners: started and retry-scheduled jobs hold the head of their key */
        for (i = 0; i < n; i++) {
            bjob *j = v[i];
            if (j->key && !j->key->owner &&
                (j->status == ST_STARTED || (j->status == ST_SCHEDULED && j->attempt > 0)))
                j->key->owner = j;
        }
        /* 4. every job resumes its state (started: attempt counted, worker lost); no job
         * may be purged meanwhile (v[] still points at them all) */
        b->in_restore = true;
        for (i = 0; i < n; i++)
            broker_restore_job_state(b, v[i]);
        /* 5. trees that have ended */
        for (size_t s = 0; s < trees.cap; s++) {
            rtree *r = (rtree *)trees.slots[s];
            if (r)
                broker_restore_tree_done(b, r->t);
        }
    }
    for (size_t s = 0; s < trees.cap; s++) {
        rtree *r = (rtree *)trees.slots[s];
        if (r) {
            free(r->h.key);
            free(r);
        }
    }
    bhash_free(&trees);
    /* keys restored without any job are forgotten */
    for (size_t qi = 0; qi < b->n_queues; qi++) {
        bqueue *q = &b->queues[qi];
        for (size_t s = 0; s < q->keys.cap;) {
            bkey *k = (bkey *)q->keys.slots[s];
            if (k && k->refs == 0 && k->n_trees == 0 && !k->owner) {
                k->refs = 1;
                broker_key_unref(b, k); /* frees it; the slot is refilled by a shift */
                continue;
            }
            s++;
        }
    }
    free(v);
    broker_restore_settle(b);
    return rc;
}
