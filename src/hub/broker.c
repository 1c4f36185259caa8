/*
 * broker.c - the broker's job state machine (docs/protocol.md §5-§6): enqueue, emit,
 * dispatch by credit, results, failures, retries, keys, dependencies, trees, retention,
 * admin ops and draining. Pure: no I/O; time from the injected clock; outputs through the
 * broker_output callbacks.
 *
 * Job states and transitions. Every arrow is labelled with the function that performs it;
 * [n] refers to the list below.
 *
 *            [1]                       [3]
 *   (new) ------> DEFERRED ----------------------------+
 *     |              |                                 |
 *     | [1]          | [3] (run_at in the future)      |
 *     +------> SCHEDULED <-----------------------+     |
 *     |              | [4]                       |     |
 *     | [1] [2]      v                           |[7]  v
 *     +---------> QUEUED  ---------[5]-------> STARTED
 *                  ^  ^  <---------[6]----------  | | |
 *                  |  +----------- [7] ----------+ | |
 *                  |                               | | [8]  ---> FINISHED --+
 *              [11]|           [9] (no retry left) +-|------->  FAILED   --+--[10]--> (purged)
 *                  |    QUEUED/DEFERRED --[12]--------|------->  EXPIRED  --+
 *                  |    any waiting or STARTED --[13]+------->  CANCELED --+
 *                  +--------------------------------------- FAILED/EXPIRED/CANCELED
 *
 *   [1]  broker_enqueue: deferred (parents pending), scheduled (enqueue_at/in), else queued
 *   [2]  child_insert (broker_emit, held_release, routed result of broker_result): queued
 *   [3]  dependents_resolve -> job_make_ready: the last parent ended
 *   [4]  broker_tick (run_at) -> job_enter_queued
 *   [5]  job_dispatch (pump_queue, conn_feed): leased to a consumer with free credit
 *   [6]  broker_release (attempt not counted) -> job_enter_queued
 *   [7]  job_attempt_failed (fail with retry, timeout in broker_tick, worker lost in
 *        broker_conn_free): retry left -> queued (interval 0) or scheduled
 *   [8]  broker_result -> job_end (job_end_one)
 *   [9]  job_attempt_failed, no retry left or retry false -> job_end
 *   [10] broker_tick (result_ttl / failure_ttl) or enforce_cap (registry_cap) -> job_purge
 *   [11] broker_requeue / broker_requeue_all (attempts reset) -> job_enter_queued
 *   [12] broker_tick (ttl) -> job_end
 *   [13] broker_cancel, broker_empty, a failed parent (dependents_resolve) or a key stopped
 *        by a job failed for good (job_end_one, job_enter_queued) -> job_cancel_later ->
 *        cascade_run -> job_end_one
 *   broker_restore_job_state (restart): STARTED -> QUEUED, attempt kept.
 *
 * Invariants (checked by the unit tests through the public API):
 *  - Every job is in exactly one registry list q->reg[status]; q->count[s] is its length.
 *  - A QUEUED job is either in q->ready (dispatch candidate) or in its key's waiting list.
 *    A keyed job in q->ready or STARTED or SCHEDULED-for-retry is its key's owner; a key has
 *    at most one owner, so at most one job of a key is in flight.
 *  - q->ready is ordered by qseq (at_front jobs have smaller qseq).
 *  - After every public call (broker_settle): for each unpaused queue, not (ready non-empty and
 *    a consumer of it has free credit) unless draining; cascaded cancels are done.
 *  - A job has at most one armed timer (tm): ttl while waiting, run_at while scheduled,
 *    timeout while started, purge while ended.
 *  - A tree's refs counts its member jobs in memory (held emits included); the tree and its
 *    dedup ids are freed when refs reaches 0. A root with a running tree is not purged.
 *  - A key lives while a job of it (refs) or a tree that had a job of it (key->trees, the
 *    tree's keys) is in memory: its state outlives the purge of the key's finished jobs
 *    until the tree is freed (the root purged after the whole tree ended).
 *  - A FINISHED job holds no payload nor payload_meta (freed in job_end_one); b->payload_bytes
 *    is the sum over the jobs in memory (held emits included).
 */
#include "broker_int.h"

#include <inttypes.h>
#include <stdio.h>

static const char *const status_names[ST__N] = {"queued",   "deferred", "scheduled", "started",
                                                "finished", "failed",   "expired",   "canceled"};

const char *broker_status_name(int status)
{
    return status >= 0 && status < ST__N ? status_names[status] : "unknown";
}

void broker_job_opts_init(broker_job_opts *o)
{
    memset(o, 0, sizeof *o);
    o->timeout_ms = o->ttl_ms = o->result_ttl_ms = o->failure_ttl_ms = BROKER_UNSET;
    o->retry_max = BROKER_UNSET;
}

void broker_job_spec_init(broker_job_spec *s)
{
    memset(s, 0, sizeof *s);
    broker_job_opts_init(&s->opts);
    s->enqueue_in_ms = BROKER_UNSET;
    s->weight = BROKER_UNSET;
}

void broker_result_spec_init(broker_result_spec *r)
{
    memset(r, 0, sizeof *r);
    r->weight = BROKER_UNSET;
}

/* ------------------------------------------------------------------ lookups */

bqueue *broker_find_queue(const broker *b, const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < b->n_queues; i++)
        if (strcmp(b->queues[i].name, name) == 0)
            return &b->queues[i];
    return NULL;
}

bjob *broker_find_job(const broker *b, const char *id)
{
    if (!id)
        return NULL;
    return (bjob *)bhash_get(&b->jobs, id, bhash_str(id, strlen(id)));
}

static bool id_taken(const broker *b, const char *id)
{
    uint64_t h = bhash_str(id, strlen(id));
    return bhash_get(&b->jobs, id, h) || bhash_get(&b->dedup, id, h);
}

static bool valid_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == ':' || ch == '-'))
            return false;
        if (n >= BROKER_MAX_ID)
            return false;
    }
    return n > 0;
}

static bool opts_valid(const broker_job_opts *o, wsm_err *err)
{
    const int64_t *v[] = {&o->timeout_ms, &o->ttl_ms, &o->result_ttl_ms, &o->failure_ttl_ms,
                          &o->retry_max};
    static const char *const names[] = {"timeout", "ttl", "result_ttl", "failure_ttl", "retry.max"};
    for (size_t i = 0; i < 5; i++)
        if (*v[i] < BROKER_UNSET) {
            wsm_err_set(err, WSM_E_BAD_FIELD, "%s: expected a value >= 0", names[i]);
            return false;
        }
    if (o->retry_max > 1000000) {
        wsm_err_set(err, WSM_E_BAD_FIELD, "retry.max: expected integer <= 1000000");
        return false;
    }
    if (o->n_intervals < 0 || o->n_intervals > BROKER_MAX_INTERVALS) {
        wsm_err_set(err, WSM_E_BAD_FIELD, "retry.intervals: at most %d entries",
                    BROKER_MAX_INTERVALS);
        return false;
    }
    for (int i = 0; i < o->n_intervals; i++)
        if (o->intervals_ms[i] < 0) {
            wsm_err_set(err, WSM_E_BAD_FIELD, "retry.intervals[%d]: expected a value >= 0", i);
            return false;
        }
    return true;
}

/* ------------------------------------------------------------------ persistence marks */

void broker_mark_dirty(broker *b, bjob *j)
{
    if (!b->persist)
        return;
    b->change_seq++;
    if (!j->dirty) {
        j->dirty = true;
        blist_push_back(&b->dirty_jobs, &j->dirty_link);
    }
}

void broker_key_dirty(broker *b, bkey *k)
{
    if (!b->persist)
        return;
    b->change_seq++;
    if (!k->dirty) {
        k->dirty = true;
        blist_push_back(&b->dirty_keys, &k->dirty_link);
    }
}

void broker_oplog(broker *b, char tag, const char *s1, const char *s2)
{
    if (!b->persist)
        return;
    b->change_seq++;
    size_t n1 = strlen(s1) + 1, n2 = s2 ? strlen(s2) + 1 : 0;
    if (wsm_buf_reserve(&b->oplog, 1 + n1 + n2)) {
        wsm_log(WSM_LOG_ERROR, "broker", "out of memory recording a store change");
        return;
    }
    wsm_buf_append(&b->oplog, &tag, 1);
    wsm_buf_append(&b->oplog, s1, n1);
    if (s2)
        wsm_buf_append(&b->oplog, s2, n2);
}

/* ------------------------------------------------------------------ keys */

bkey *broker_key_get(broker *b, bqueue *q, const char *key, bool create)
{
    uint64_t h = bhash_str(key, strlen(key));
    bkey *k = (bkey *)bhash_get(&q->keys, key, h);
    if (k || !create)
        return k;
    k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->h.key = bstrdup0(key);
    if (!k->h.key) {
        free(k);
        return NULL;
    }
    k->h.hash = h;
    k->q = q;
    blist_init(&k->waiting);
    if (bhash_put(&q->keys, &k->h)) {
        free(k->h.key);
        free(k);
        return NULL;
    }
    return k;
}

static void key_free(broker *b, bkey *k)
{
    bhash_del(&k->q->keys, &k->h);
    if (k->dirty)
        blist_remove(&k->dirty_link);
    if (b->persist && k->saved) {
        /* forget the stored state */
        broker_oplog(b, 'K', k->q->name, k->h.key);
    }
    free(k->h.key);
    free(k->state);
    free(k->stopped_by);
    cJSON_Delete(k->restore_roots);
    free(k->trees);
    free(k);
}

/* A key is kept while a job of it or a tree that had a job of it is in memory. */
static bool key_in_use(const bkey *k)
{
    return k->refs || k->n_trees || k->owner || !blist_empty(&k->waiting);
}

static void key_maybe_free(broker *b, bkey *k)
{
    if (!key_in_use(k))
        key_free(b, k);
}

void broker_key_unref(broker *b, bkey *k)
{
    k->refs--;
    key_maybe_free(b, k);
}

/* ------------------------------------------------------------------ events */

static void publish_status(broker *b, bjob *j)
{
    if (!b->topic_events || !b->out.event)
        return;
    wsm_buf *s = &b->scratch;
    wsm_buf_reset(s);
    int rc = wsm_buf_append_str(s, "{\"job_id\":");
    rc |= bjson_str(s, j->h.key);
    rc |= wsm_buf_append_str(s, ",\"queue\":");
    rc |= bjson_str(s, j->q->name);
    rc |= wsm_buf_printf(s, ",\"status\":\"%s\",\"root\":", status_names[j->status]);
    rc |= bjson_str(s, j->root_id ? j->root_id : j->h.key);
    rc |= wsm_buf_printf(s, ",\"at\":%" PRId64, broker_now(b));
    if (j->reason) {
        rc |= wsm_buf_append_str(s, ",\"reason\":");
        rc |= bjson_str(s, j->reason);
    }
    rc |= wsm_buf_append_str(s, "}");
    if (rc == 0)
        b->out.event(b->out.user, "events", j->h.key, (const char *)s->data, s->len);
}

static void tree_touch(broker *b, btree *t)
{
    if (!t->pdirty) {
        t->pdirty = true;
        blist_push_back(&b->pdirty, &t->pdirty_link);
    }
}

/* ------------------------------------------------------------------ status and timers */

/* Moves j to status st: registry list, counts, event, dirty. */
static void job_set_status(broker *b, bjob *j, int st)
{
    bqueue *q = j->q;
    if (blink_linked(&j->reg)) {
        blist_remove(&j->reg);
        q->count[j->status]--;
    }
    j->status = (uint8_t)st;
    blink *h = &q->reg[st];
    if (st == ST_QUEUED && !blist_empty(h) && j->qseq < bcontainer(h->next, bjob, reg)->qseq)
        blist_push_front(h, &j->reg);
    else
        blist_push_back(h, &j->reg);
    q->count[st]++;
    broker_mark_dirty(b, j);
    publish_status(b, j);
}

static void timer_set(broker *b, btimer *t, int64_t at)
{
    if (bheap_set(&b->timers, t, at) != WSM_OK)
        wsm_log(WSM_LOG_ERROR, "broker", "out of memory arming a timer");
}

static int64_t job_keep_ms(const bjob *j)
{
    return j->status == ST_FINISHED ? j->result_ttl_ms : j->failure_ttl_ms;
}

static bool tree_ended(const btree *t)
{
    return t->jobs == t->ended;
}

/* Arms the purge timer of an ended job, unless it is a root whose tree still runs. */
static void job_arm_purge(broker *b, bjob *j)
{
    if (j->tree && j->tree->root == j && !tree_ended(j->tree)) {
        bheap_del(&b->timers, &j->tm);
        return;
    }
    int64_t from = j->ended_at;
    if (j->tree && j->tree->root == j && j->tree->ended_at > from)
        from = j->tree->ended_at;
    timer_set(b, &j->tm, from + job_keep_ms(j));
}

/* ------------------------------------------------------------------ ready list and keys */

static void ready_insert(broker *b, bqueue *q, bjob *j)
{
    blink *h = &q->ready;
    /* walk from both ends at once: O(min(distance from head, distance from tail)) */
    blink *fw = h->next, *bw = h->prev;
    for (;;) {
        if (bw == h || bcontainer(bw, bjob, run)->qseq < j->qseq) {
            blist_insert_after(bw, &j->run);
            break;
        }
        if (fw == h || bcontainer(fw, bjob, run)->qseq > j->qseq) {
            blist_insert_after(fw->prev, &j->run);
            break;
        }
        fw = fw->next;
        bw = bw->prev;
    }
    if (!q->pump_pending) {
        q->pump_pending = true;
        blist_push_back(&b->pump, &q->pump_link);
    }
}

static void key_waiting_insert(bkey *k, bjob *j)
{
    blink *h = &k->waiting, *p = h->prev;
    while (p != h && bcontainer(p, bjob, run)->qseq > j->qseq)
        p = p->prev;
    blist_insert_after(p, &j->run);
}

static void job_cancel_later(broker *b, bjob *j, const char *reason)
{
    if (ST_ENDED(j->status) || j->cascading)
        return;
    if (blink_linked(&j->run))
        blist_remove(&j->run);
    char *r = bstrdup0(reason);
    if (r) {
        free(j->reason);
        j->reason = r;
    }
    j->cascading = true;
    blist_push_back(&b->cascade, &j->run);
}

/* j becomes QUEUED (from new, deferred, scheduled, retry, release, requeue). */
static void job_enter_queued(broker *b, bjob *j)
{
    bheap_del(&b->timers, &j->tm);
    job_set_status(b, j, ST_QUEUED);
    if (j->ttl_at > 0)
        timer_set(b, &j->tm, j->ttl_at);
    bkey *k = j->key;
    if (k) {
        if (k->stopped_by && k->owner != j) {
            char reason[BROKER_MAX_ID + 32];
            snprintf(reason, sizeof reason, "key_failed: %s", k->stopped_by);
            job_cancel_later(b, j, reason);
            return;
        }
        if (!k->owner)
            k->owner = j;
        if (k->owner != j) {
            key_waiting_insert(k, j);
            return;
        }
    }
    ready_insert(b, j->q, j);
}

/* A job whose dependencies are done (or that never had any) becomes ready: scheduled if its
 * run_at is in the future, else queued. */
static void job_make_ready(broker *b, bjob *j)
{
    if (j->run_at > broker_now(b)) {
        bheap_del(&b->timers, &j->tm);
        job_set_status(b, j, ST_SCHEDULED);
        timer_set(b, &j->tm, j->run_at);
    } else {
        j->run_at = 0;
        job_enter_queued(b, j);
    }
}

static void key_promote(broker *b, bkey *k)
{
    if (k->owner || blist_empty(&k->waiting))
        return;
    bjob *n = bcontainer(k->waiting.next, bjob, run);
    blist_remove(&n->run);
    k->owner = n;
    ready_insert(b, k->q, n);
}

/* ------------------------------------------------------------------ leases */

static void conn_mark_feed(broker *b, bconn *c)
{
    if (!c->feed_pending) {
        c->feed_pending = true;
        blist_push_back(&b->feed, &c->feed_link);
    }
}

static void lease_end(broker *b, bjob *j)
{
    bconn *c = j->lease;
    if (!c)
        return;
    blist_remove(&j->lease_link);
    j->lease = NULL;
    c->n_leased--;
    b->n_leased--;
    conn_mark_feed(b, c);
}

/* ------------------------------------------------------------------ trees */

static btree_q *tree_q(btree *t, const bqueue *q)
{
    return &t->qs[q->idx];
}

btree *broker_tree_new(broker *b, const char *root_id)
{
    btree *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->qs = calloc(b->n_queues, sizeof *t->qs);
    t->root_id = bstrdup0(root_id);
    if (!t->qs || !t->root_id) {
        free(t->qs);
        free(t->root_id);
        free(t);
        return NULL;
    }
    blist_init(&t->members);
    blist_init(&t->waits);
    b->n_trees++;
    return t;
}

btree *broker_tree_ensure(broker *b, bjob *root)
{
    if (root->tree)
        return root->tree;
    btree *t = broker_tree_new(b, root->h.key);
    if (!t)
        return NULL;
    t->root = root;
    t->started_at = root->enqueued_at;
    broker_tree_add(b, t, root);
    return t;
}

/* Room for one more of n elements of `size` bytes in v (capacity *cap, doubled from 2):
 * returns v or its reallocation (*cap updated), NULL on NOMEM (v untouched). */
static void *vec_reserve(void *v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return v;
    size_t nc = *cap ? 2 * *cap : 2;
    void *nv = realloc(v, nc * size);
    if (nv)
        *cap = nc;
    return nv;
}

int broker_tree_key_add(broker *b, btree *t, bkey *k)
{
    /* linked already? The links go both ways: scan the shorter list (a tree of many keys,
     * or a key of many trees, stays O(1) per job added) */
    if (k->n_trees < t->n_keys) {
        for (size_t i = 0; i < k->n_trees; i++)
            if (k->trees[i] == t)
                return WSM_OK;
    } else {
        for (size_t i = 0; i < t->n_keys; i++)
            if (t->keys[i] == k)
                return WSM_OK;
    }
    bkey **kv = vec_reserve(t->keys, &t->cap_keys, t->n_keys, sizeof *kv);
    if (!kv)
        return WSM_E_NOMEM;
    t->keys = kv;
    btree **tv = vec_reserve(k->trees, &k->cap_trees, k->n_trees, sizeof *tv);
    if (!tv)
        return WSM_E_NOMEM;
    k->trees = tv;
    t->keys[t->n_keys++] = k;
    k->trees[k->n_trees++] = t;
    broker_key_dirty(b, k); /* its record names the roots of its trees */
    return WSM_OK;
}

void broker_tree_add(broker *b, btree *t, bjob *j)
{
    if (j->key && broker_tree_key_add(b, t, j->key))
        wsm_log(WSM_LOG_ERROR, "broker", "out of memory: key '%s' not held by tree '%s'",
                j->key->h.key, t->root_id);
    j->tree = t;
    t->refs++;
    t->jobs++;
    blist_push_back(&t->members, &j->tree_link);
    btree_q *tq = tree_q(t, j->q);
    tq->jobs++;
    tq->weight += j->weight;
    if (ST_ENDED(j->status)) {
        t->ended++;
        tq->ended++;
        tq->weight_done += j->weight;
        if (j->status != ST_FINISHED)
            t->bad++;
    } else {
        t->ended_at = 0;
    }
    tree_touch(b, t);
}

static void tree_free(broker *b, btree *t)
{
    bdedup *d = t->dedup;
    while (d) {
        bdedup *n = d->next;
        bhash_del(&b->dedup, &d->h);
        free(d->h.key);
        free(d);
        d = n;
    }
    broker_oplog(b, 'R', t->root_id, NULL);
    if (t->pdirty)
        blist_remove(&t->pdirty_link);
    while (!blist_empty(&t->waits)) {
        bwait *w = bcontainer(t->waits.next, bwait, target_link);
        blist_remove(&w->target_link);
        blist_remove(&w->conn_link);
        bheap_del(&b->timers, &w->tm);
        free(w);
    }
    b->n_trees--;
    for (size_t i = 0; i < t->n_keys; i++) {
        bkey *k = t->keys[i];
        for (size_t x = 0; x < k->n_trees; x++)
            if (k->trees[x] == t) {
                k->trees[x] = k->trees[--k->n_trees];
                break;
            }
        if (key_in_use(k))
            broker_key_dirty(b, k); /* one root fewer in its record */
        else
            key_free(b, k);
    }
    free(t->keys);
    free(t->qs);
    free(t->root_id);
    free(t->prog_msg);
    free(t);
}

static void tree_unref(broker *b, btree *t, bjob *j)
{
    blist_remove(&j->tree_link);
    if (t->root == j)
        t->root = NULL;
    j->tree = NULL;
    if (--t->refs == 0)
        tree_free(b, t);
}

static int dedup_add(broker *b, btree *t, const char *id)
{
    bdedup *d = calloc(1, sizeof *d);
    if (!d)
        return WSM_E_NOMEM;
    d->h.key = bstrdup0(id);
    d->h.hash = bhash_str(id, strlen(id));
    if (!d->h.key || bhash_put(&b->dedup, &d->h)) {
        free(d->h.key);
        free(d);
        return WSM_E_NOMEM;
    }
    d->tree = t;
    d->next = t->dedup;
    t->dedup = d;
    broker_oplog(b, 'D', id, t->root_id);
    return WSM_OK;
}

static void wait_complete(broker *b, bwait *w, int code, bjob *j)
{
    blist_remove(&w->target_link);
    blist_remove(&w->conn_link);
    bheap_del(&b->timers, &w->tm);
    if (b->out.wait_done) {
        cJSON *js = j ? broker_job_json(b, j) : NULL;
        b->out.wait_done(b->out.user, w->c->user, w->req, code, js);
        cJSON_Delete(js);
    }
    free(w);
}

static void tree_on_end(broker *b, btree *t)
{
    t->ended_at = broker_now(b);
    tree_touch(b, t);
    while (!blist_empty(&t->waits)) {
        bwait *w = bcontainer(t->waits.next, bwait, target_link);
        wait_complete(b, w, WSM_OK, t->root);
    }
    if (t->root && ST_ENDED(t->root->status))
        job_arm_purge(b, t->root);
}

/* ------------------------------------------------------------------ ending */

static void dependents_resolve(broker *b, bjob *j)
{
    while (!blist_empty(&j->dependents)) {
        bdep *e = bcontainer(j->dependents.next, bdep, link);
        bjob *c = e->child;
        blist_remove(&e->link);
        e->parent = NULL;
        c->deps_pending--;
        if (j->status != ST_FINISHED && !c->allow_failure) {
            char reason[BROKER_MAX_ID + 32];
            snprintf(reason, sizeof reason, "dependency_failed: %s", j->h.key);
            job_cancel_later(b, c, reason);
        } else if (c->deps_pending == 0 && c->status == ST_DEFERRED && !c->cascading) {
            free(c->edges);
            c->edges = NULL;
            job_make_ready(b, c);
        }
    }
}

static void edges_unlink(bjob *j)
{
    if (!j->edges)
        return;
    for (size_t i = 0; i < j->n_deps; i++)
        if (j->edges[i].parent)
            blist_remove(&j->edges[i].link);
    free(j->edges);
    j->edges = NULL;
}

static void job_drop_payload(broker *b, bjob *j);

static void job_end_one(broker *b, bjob *j, int st, const char *reason)
{
    if (ST_ENDED(j->status))
        return;
    int old = j->status;
    if (blink_linked(&j->run))
        blist_remove(&j->run);
    j->cascading = false;
    lease_end(b, j);
    bheap_del(&b->timers, &j->tm);
    if (old == ST_DEFERRED)
        edges_unlink(j);
    if (reason) {
        char *r = bstrdup0(reason);
        if (r) {
            free(j->reason);
            j->reason = r;
        }
    }
    j->ended_at = broker_now(b);
    if (old == ST_QUEUED && j->q->n_held && !j->q->pump_pending) {
        j->q->pump_pending = true; /* space for held emits */
        blist_push_back(&b->pump, &j->q->pump_link);
    }
    job_set_status(b, j, st);
    bqueue *q = j->q;
    switch (st) {
    case ST_FINISHED:
        q->n_finished++;
        /* nothing reads the payload of a finished job any more (a routed result carries its
         * own; requeue takes failed/expired/canceled jobs only): free it now, not at purge.
         * The store drops its copy with the next write of the job (payload_saved false). */
        if (j->pbuf) {
            job_drop_payload(b, j);
            j->payload_saved = false;
        }
        break;
    case ST_FAILED:
        q->n_failed++;
        break;
    case ST_EXPIRED:
        q->n_expired++;
        break;
    default:
        q->n_canceled++;
    }
    /* key */
    bkey *k = j->key;
    if (k && k->owner == j) {
        k->owner = NULL;
        if (st == ST_FAILED) {
            free(k->stopped_by);
            k->stopped_by = bstrdup0(j->h.key);
            broker_key_dirty(b, k);
            char r[BROKER_MAX_ID + 32];
            snprintf(r, sizeof r, "key_failed: %s", j->h.key);
            while (!blist_empty(&k->waiting))
                job_cancel_later(b, bcontainer(k->waiting.next, bjob, run), r);
        } else {
            key_promote(b, k);
        }
    }
    /* tree */
    btree *t = j->tree;
    if (t) {
        btree_q *tq = tree_q(t, q);
        t->ended++;
        tq->ended++;
        tq->weight_done += j->weight;
        if (st != ST_FINISHED)
            t->bad++;
        tree_touch(b, t);
    }
    /* retention (the registry cap is enforced by job_end / cascade_run) */
    job_arm_purge(b, j);
    dependents_resolve(b, j);
    while (!blist_empty(&j->waits)) {
        bwait *w = bcontainer(j->waits.next, bwait, target_link);
        if (w->tree && t && !tree_ended(t)) {
            blist_remove(&w->target_link);
            blist_push_back(&t->waits, &w->target_link);
        } else {
            wait_complete(b, w, WSM_OK, j);
        }
    }
    if (t && tree_ended(t))
        tree_on_end(b, t);
}

static void job_purge(broker *b, bjob *j);

static void enforce_cap(broker *b, bqueue *q, int st)
{
    if (b->in_restore)
        return; /* the restored jobs are still being linked: see broker_restore_settle */
    while (q->count[st] > b->ret.registry_cap) {
        bjob *o = bcontainer(q->reg[st].next, bjob, reg);
        q->n_dropped++;
        job_purge(b, o);
    }
}

static void cascade_run(broker *b)
{
    while (!blist_empty(&b->cascade)) {
        bjob *c = bcontainer(b->cascade.next, bjob, run);
        blist_remove(&c->run);
        c->cascading = false;
        job_end_one(b, c, ST_CANCELED, NULL);
        enforce_cap(b, c->q, ST_CANCELED);
    }
}

static void job_end(broker *b, bjob *j, int st, const char *reason)
{
    bqueue *q = j->q;
    job_end_one(b, j, st, reason);
    cascade_run(b);
    enforce_cap(b, q, st);
}

/* An attempt of a STARTED job failed (fail, timeout, worker lost): retry or fail for good. */
static void job_attempt_failed(broker *b, bjob *j, const char *reason, bool retry)
{
    lease_end(b, j);
    if (reason) {
        char *r = bstrdup0(reason);
        if (r) {
            free(j->reason);
            j->reason = r;
        }
    }
    if (retry && j->attempt <= j->retry_max) {
        int64_t iv = 0;
        if (j->n_intervals > 0)
            iv =
                j->intervals[j->attempt - 1 < j->n_intervals ? j->attempt - 1 : j->n_intervals - 1];
        if (iv > 0) {
            bheap_del(&b->timers, &j->tm);
            j->run_at = broker_now(b) + iv;
            job_set_status(b, j, ST_SCHEDULED);
            timer_set(b, &j->tm, j->run_at);
        } else {
            job_enter_queued(b, j);
        }
        cascade_run(b);
        return;
    }
    job_end(b, j, ST_FAILED, NULL);
}

/* Frees the payload and payload_meta of j (accounted in b->payload_bytes). */
static void job_drop_payload(broker *b, bjob *j)
{
    if (!j->pbuf)
        return;
    b->payload_bytes -= (j->payload_meta ? j->payload_meta_len + 1 : 0) + j->len;
    free(j->pbuf);
    j->pbuf = NULL;
    j->payload = NULL;
    j->len = 0;
    j->payload_meta = NULL;
    j->payload_meta_len = 0;
}

static void job_free_mem(broker *b, bjob *j)
{
    job_drop_payload(b, j);
    free(j->intervals);
    free(j->value);
    free(j->error);
    free(j->reason);
    free(j->parent_id);
    free(j->root_id);
    if (j->deps) {
        for (size_t i = 0; i < j->n_deps; i++)
            free(j->deps[i]);
        free(j->deps);
    }
    free(j->edges);
    free(j->prog_msg);
    free(j); /* id and immutable data live in the same allocation */
}

/* Frees a job that is not in the hash (held emits, failed inserts). */
void broker_job_free(broker *b, bjob *j)
{
    if (j->key)
        broker_key_unref(b, j->key);
    if (j->tree)
        tree_unref(b, j->tree, j);
    job_free_mem(b, j);
}

static void job_purge(broker *b, bjob *j)
{
    bqueue *q = j->q;
    blist_remove(&j->reg);
    q->count[j->status]--;
    bheap_del(&b->timers, &j->tm);
    if (blink_linked(&j->run))
        blist_remove(&j->run);
    bhash_del(&b->jobs, &j->h);
    if (j->dirty)
        blist_remove(&j->dirty_link);
    broker_oplog(b, 'J', j->h.key, NULL);
    while (!blist_empty(&j->waits)) /* cannot happen for ended jobs; be safe */
        wait_complete(b, bcontainer(j->waits.next, bwait, target_link), WSM_E_NO_SUCH_JOB, NULL);
    broker_job_free(b, j);
}

/* ------------------------------------------------------------------ job creation */

int broker_job_alloc(broker *b, bqueue *q, const char *id, const broker_job_spec *spec, bjob **out)
{
    /* an empty JSON text is no JSON value: treat it as absent */
    bool has_args = spec->args && spec->args_len, has_meta = spec->meta && spec->meta_len;
    bool has_pm = spec->payload_meta && spec->payload_meta_len;
    const char *args = has_args ? spec->args : "{}";
    size_t args_len = has_args ? spec->args_len : 2;
    size_t ct_len = spec->content_type ? strlen(spec->content_type) + 1 : 0;
    size_t id_len = strlen(id);
    size_t need = id_len + 1 + args_len + 1 + (has_meta ? spec->meta_len + 1 : 0) + ct_len;
    size_t pneed = (has_pm ? spec->payload_meta_len + 1 : 0) + spec->len;
    /* one allocation: the job, then its id and immutable data; the payload apart (pbuf) */
    bjob *j = malloc(sizeof *j + need);
    if (!j)
        return WSM_E_NOMEM;
    memset(j, 0, sizeof *j);
    if (pneed && !(j->pbuf = malloc(pneed))) {
        free(j);
        return WSM_E_NOMEM;
    }
    b->payload_bytes += pneed;
    char *p = (char *)(j + 1);
    memcpy(p, id, id_len + 1);
    j->h.key = p;
    j->h.hash = bhash_str(id, id_len);
    p += id_len + 1;
    memcpy(p, args, args_len);
    p[args_len] = 0;
    j->args = p;
    j->args_len = args_len;
    p += args_len + 1;
    if (has_meta) {
        memcpy(p, spec->meta, spec->meta_len);
        p[spec->meta_len] = 0;
        j->meta = p;
        j->meta_len = spec->meta_len;
        p += spec->meta_len + 1;
    }
    if (ct_len) {
        memcpy(p, spec->content_type, ct_len);
        j->content_type = p;
    }
    p = j->pbuf;
    if (has_pm) {
        memcpy(p, spec->payload_meta, spec->payload_meta_len);
        p[spec->payload_meta_len] = 0;
        j->payload_meta = p;
        j->payload_meta_len = spec->payload_meta_len;
        p += spec->payload_meta_len + 1;
    }
    if (spec->len) {
        memcpy(p, spec->payload, spec->len);
        j->payload = (const unsigned char *)p;
        j->len = spec->len;
    }
    j->q = q;
    j->tm.idx = SIZE_MAX;
    j->tm.kind = BT_JOB;
    blist_init(&j->dependents);
    blist_init(&j->waits);
    j->weight = spec->weight >= 0 ? spec->weight : 1;
    /* options: spec, then queue default, then retention/none */
    const broker_job_opts *o = &spec->opts, *d = &q->defaults;
#define PICK(f) (o->f != BROKER_UNSET ? o->f : d->f)
    j->timeout_ms = PICK(timeout_ms) > 0 ? PICK(timeout_ms) : 0;
    j->ttl_ms = PICK(ttl_ms) > 0 ? PICK(ttl_ms) : 0;
    j->result_ttl_ms = PICK(result_ttl_ms);
    j->failure_ttl_ms = PICK(failure_ttl_ms);
    if (j->result_ttl_ms < 0)
        j->result_ttl_ms = b->ret.result_ttl_ms;
    if (j->failure_ttl_ms < 0)
        j->failure_ttl_ms = b->ret.failure_ttl_ms;
    const broker_job_opts *ro = o->retry_max != BROKER_UNSET ? o : d;
    j->retry_max = ro->retry_max > 0 ? (int)ro->retry_max : 0;
    if (ro->n_intervals > 0) {
        j->intervals = malloc((size_t)ro->n_intervals * sizeof *j->intervals);
        if (!j->intervals) {
            job_free_mem(b, j);
            return WSM_E_NOMEM;
        }
        memcpy(j->intervals, ro->intervals_ms, (size_t)ro->n_intervals * sizeof *j->intervals);
        j->n_intervals = ro->n_intervals;
    }
#undef PICK
    if (spec->key) {
        bkey *k = broker_key_get(b, q, spec->key, true);
        if (!k) {
            job_free_mem(b, j);
            return WSM_E_NOMEM;
        }
        k->refs++;
        j->key = k;
    }
    j->enqueued_at = broker_now(b);
    *out = j;
    return WSM_OK;
}

static void gen_id(broker *b, char out[21])
{
    static const char hex[] = "0123456789abcdef";
    do {
        b->id_ctr++;
        uint64_t hi = b->id_hi & 0xffffffffffull, lo = b->id_ctr & 0xffffffffffull;
        for (int i = 9; i >= 0; i--, hi >>= 4, lo >>= 4) {
            out[i] = hex[hi & 15];
            out[10 + i] = hex[lo & 15];
        }
        out[20] = 0;
    } while (id_taken(b, out));
}

static int spec_check(const broker_job_spec *s, wsm_err *err)
{
    if (s->key && (!*s->key || strlen(s->key) > 1024))
        return wsm_err_set(err, WSM_E_BAD_FIELD, "key: expected a string of 1..1024 bytes");
    if (s->weight < BROKER_UNSET)
        return wsm_err_set(err, WSM_E_BAD_FIELD, "weight: expected integer >= 0");
    if (s->len && !s->payload)
        return wsm_err_set(err, WSM_E_BAD_FIELD, "payload: missing bytes");
    if (!opts_valid(&s->opts, err))
        return WSM_E_BAD_FIELD;
    return WSM_OK;
}

int broker_enqueue(broker *b, broker_conn *c, const broker_job_spec *spec, broker_reply *out,
                   wsm_err *err)
{
    (void)c;
    if (b->draining)
        return wsm_err_set(err, WSM_E_SHUTTING_DOWN, "the hub is draining: no new jobs");
    bqueue *q = broker_find_queue(b, spec->queue);
    if (!q)
        return wsm_err_set(err, WSM_E_NO_SUCH_QUEUE, "queue '%s' is not declared",
                           spec->queue ? spec->queue : "");
    int rc = spec_check(spec, err);
    if (rc)
        return rc;
    if (spec->enqueue_in_ms < BROKER_UNSET || spec->enqueue_at < 0)
        return wsm_err_set(err, WSM_E_BAD_FIELD, "enqueue_in/enqueue_at: expected >= 0");
    char idbuf[BROKER_MAX_ID + 1];
    if (spec->job_id) {
        if (!valid_id(spec->job_id))
            return wsm_err_set(err, WSM_E_BAD_FIELD,
                               "job_id: expected 1..200 characters of [A-Za-z0-9._:-]");
        if (id_taken(b, spec->job_id))
            return wsm_err_set(err, WSM_E_DUPLICATE_ID, "job '%s' already exists", spec->job_id);
        memcpy(idbuf, spec->job_id, strlen(spec->job_id) + 1); /* valid_id: <= 200 chars */
    } else {
        gen_id(b, idbuf);
    }
    /* dependencies */
    size_t pending = 0;
    bjob *failed_dep = NULL;
    for (size_t i = 0; i < spec->n_depends_on; i++) {
        bjob *p = broker_find_job(b, spec->depends_on[i]);
        if (!p)
            return wsm_err_set(err, WSM_E_NO_SUCH_JOB, "depends_on[%zu]: no job '%s'", i,
                               spec->depends_on[i] ? spec->depends_on[i] : "");
        if (!ST_ENDED(p->status))
            pending++;
        else if (p->status != ST_FINISHED && !spec->allow_failure && !failed_dep)
            failed_dep = p;
    }
    int64_t now = broker_now(b);
    int64_t run_at = spec->enqueue_at;
    if (spec->enqueue_in_ms >= 0)
        run_at = now + spec->enqueue_in_ms;
    bool queue_now = !failed_dep && pending == 0 && run_at <= now;
    if (queue_now && q->max_length > 0 && (int64_t)q->count[ST_QUEUED] >= q->max_length)
        return wsm_err_set(err, WSM_E_QUEUE_FULL, "queue '%s' is full (max_length %" PRId64 ")",
                           q->name, q->max_length);
    bjob *j;
    rc = broker_job_alloc(b, q, idbuf, spec, &j);
    if (rc)
        return wsm_err_set(err, rc, "out of memory");
    if (spec->n_depends_on) {
        j->deps = calloc(spec->n_depends_on, sizeof *j->deps);
        j->edges = pending ? calloc(spec->n_depends_on, sizeof *j->edges) : NULL;
        if (!j->deps || (pending && !j->edges)) {
            broker_job_free(b, j);
            return wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        }
        j->n_deps = spec->n_depends_on;
        for (size_t i = 0; i < spec->n_depends_on; i++) {
            j->deps[i] = bstrdup0(spec->depends_on[i]);
            if (!j->deps[i]) {
                broker_job_free(b, j);
                return wsm_err_set(err, WSM_E_NOMEM, "out of memory");
            }
        }
    }
    if (bhash_put(&b->jobs, &j->h)) {
        broker_job_free(b, j);
        return wsm_err_set(err, WSM_E_NOMEM, "out of memory");
    }
    j->allow_failure = spec->allow_failure;
    j->qseq = spec->at_front ? --q->head_seq : ++q->tail_seq;
    j->ttl_at = j->ttl_ms > 0 ? now + j->ttl_ms : 0;
    j->run_at = run_at;
    q->n_enqueued++;
    if (failed_dep) {
        char reason[BROKER_MAX_ID + 32];
        snprintf(reason, sizeof reason, "dependency_failed: %s", failed_dep->h.key);
        j->status = ST_DEFERRED; /* placeholder status before the first registry insert */
        job_set_status(b, j, ST_DEFERRED);
        job_end(b, j, ST_CANCELED, reason);
    } else if (pending) {
        job_set_status(b, j, ST_DEFERRED);
        if (j->ttl_at)
            timer_set(b, &j->tm, j->ttl_at);
        size_t e = 0;
        for (size_t i = 0; i < j->n_deps; i++) {
            bjob *p = broker_find_job(b, j->deps[i]);
            if (ST_ENDED(p->status))
                continue;
            bdep *d = &j->edges[e++];
            d->child = j;
            d->parent = p;
            blist_push_back(&p->dependents, &d->link);
        }
        j->deps_pending = pending;
    } else {
        job_make_ready(b, j);
    }
    memcpy(out->job_id, idbuf, strlen(idbuf) + 1);
    out->held = false;
    /* the status the job entered (it may be dispatched or purged during settle) */
    out->status = failed_dep                                 ? "canceled"
                  : pending                                  ? "deferred"
                  : run_at > now                             ? "scheduled"
                  : j->status == ST_CANCELED || j->cascading ? "canceled"
                                                             : "queued";
    broker_settle(b);
    return WSM_OK;
}

/* ------------------------------------------------------------------ emit */

static broute *find_route(bqueue *q, const char *output)
{
    for (size_t i = 0; i < q->n_routes; i++)
        if (strcmp(q->routes[i].output, output) == 0)
            return &q->routes[i];
    return NULL;
}

/* Inserts a built child (emit or routed result) into the hash and its queue. */
static int child_insert(broker *b, bjob *j, btree *t)
{
    if (bhash_put(&b->jobs, &j->h))
        return WSM_E_NOMEM;
    if (dedup_add(b, t, j->h.key)) {
        bhash_del(&b->jobs, &j->h);
        return WSM_E_NOMEM;
    }
    j->qseq = ++j->q->tail_seq;
    j->ttl_at = j->ttl_ms > 0 ? broker_now(b) + j->ttl_ms : 0;
    j->enqueued_at = broker_now(b);
    j->q->n_enqueued++;
    job_enter_queued(b, j);
    return WSM_OK;
}

static bool queue_full(const bqueue *q)
{
    return q->max_length > 0 && (int64_t)q->count[ST_QUEUED] >= q->max_length;
}

/* Builds a child of parent in queue q with the given id; it joins parent's tree. */
static int child_build(broker *b, bjob *parent, bqueue *q, const char *id,
                       const broker_job_spec *spec, bjob **out)
{
    btree *t = parent->tree;
    if (!t) {
        t = broker_tree_ensure(b, parent); /* parent is a root */
        if (!t)
            return WSM_E_NOMEM;
    }
    bjob *j;
    int rc = broker_job_alloc(b, q, id, spec, &j);
    if (rc)
        return rc;
    j->emitted = true;
    if (spec->opts.result_ttl_ms == BROKER_UNSET && q->defaults.result_ttl_ms == BROKER_UNSET)
        j->result_ttl_ms = b->ret.emitted_result_ttl_ms;
    if (spec->opts.failure_ttl_ms == BROKER_UNSET && q->defaults.failure_ttl_ms == BROKER_UNSET &&
        b->ret.emitted_failure_ttl_ms > 0)
        j->failure_ttl_ms = b->ret.emitted_failure_ttl_ms;
    j->parent_id = bstrdup0(parent->h.key);
    j->root_id = bstrdup0(t->root_id);
    if (!j->parent_id || !j->root_id) {
        broker_job_free(b, j);
        return WSM_E_NOMEM;
    }
    broker_tree_add(b, t, j);
    *out = j;
    return WSM_OK;
}

int broker_emit(broker *b, broker_conn *c, const char *parent_id, const char *output, int64_t seq,
                const broker_job_spec *spec, uint64_t req, broker_reply *out, wsm_err *err)
{
    bjob *p = broker_find_job(b, parent_id);
    if (!p || p->status != ST_STARTED || p->lease != c)
        return wsm_err_set(err, WSM_E_NO_SUCH_JOB, "job '%s' is not leased to this connection",
                           parent_id ? parent_id : "");
    if (!output)
        return wsm_err_set(err, WSM_E_BAD_FIELD, "output: required");
    broute *r = find_route(p->q, output);
    if (!r)
        return wsm_err_set(err, WSM_E_NO_SUCH_QUEUE, "no route for output '%s' of queue '%s'",
                           output, p->q->name);
    if (seq < 0)
        return wsm_err_set(err, WSM_E_BAD_FIELD, "seq: expected integer >= 0");
    int rc = spec_check(spec, err);
    if (rc)
        return rc;
    char id[BROKER_MAX_ID + 32];
    int n = snprintf(id, sizeof id, "%s.%" PRId64, p->h.key, seq);
    if (n > BROKER_MAX_ID)
        return wsm_err_set(err, WSM_E_BAD_FIELD, "seq: child id '%s' longer than %d characters", id,
                           BROKER_MAX_ID);
    memcpy(out->job_id, id, (size_t)n + 1);
    out->held = false;
    if (id_taken(b, id)) {
        out->status = "duplicate";
        return WSM_OK;
    }
    /* a held emit of the same id (rare: re-emit before the first was answered) */
    for (blink *l = r->to->held.next; l != &r->to->held; l = l->next)
        if (strcmp(bcontainer(l, bheld, qlink)->job->h.key, id) == 0) {
            out->status = "duplicate";
            return WSM_OK;
        }
    broker_job_spec cs = *spec;
    cs.depends_on = NULL;
    cs.n_depends_on = 0;
    bjob *j;
    rc = child_build(b, p, r->to, id, &cs, &j);
    if (rc)
        return wsm_err_set(err, rc, "out of memory");
    if (queue_full(r->to) || r->to->n_held) {
        bheld *h = calloc(1, sizeof *h);
        if (!h) {
            broker_job_free(b, j);
            return wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        }
        h->c = c;
        h->req = req;
        h->job = j;
        blist_push_back(&r->to->held, &h->qlink);
        blist_push_back(&c->held, &h->conn_link);
        r->to->n_held++;
        out->held = true;
        out->status = "held";
        return WSM_OK;
    }
    rc = child_insert(b, j, j->tree);
    if (rc) {
        broker_job_free(b, j);
        return wsm_err_set(err, rc, "out of memory");
    }
    out->status = "queued";
    broker_settle(b);
    return WSM_OK;
}

static void held_release(broker *b, bqueue *q)
{
    while (q->n_held && !queue_full(q)) {
        bheld *h = bcontainer(q->held.next, bheld, qlink);
        blist_remove(&h->qlink);
        blist_remove(&h->conn_link);
        q->n_held--;
        bjob *j = h->job;
        char id[BROKER_MAX_ID + 1];
        snprintf(id, sizeof id, "%s", j->h.key);
        int code = WSM_OK;
        const char *status = "queued";
        if (id_taken(b, id)) {
            status = "duplicate";
            broker_job_free(b, j);
        } else if (child_insert(b, j, j->tree) != WSM_OK) {
            code = WSM_E_NOMEM;
            broker_job_free(b, j);
        }
        if (b->out.emit_done)
            b->out.emit_done(b->out.user, h->c->user, h->req, code, id, status,
                             code ? "out of memory" : NULL);
        free(h);
    }
}

/* ------------------------------------------------------------------ dispatch */

static bool conn_hungry(const broker *b, const bconn *c)
{
    return c->n_subs > 0 && (int64_t)c->n_leased < c->prefetch && !b->draining;
}

static void conn_unhungry(bconn *c)
{
    if (!c->in_hungry)
        return;
    for (size_t i = 0; i < c->n_subs; i++)
        blist_remove(&c->subs[i].hungry);
    c->in_hungry = false;
}

static void conn_to_hungry_tail(bconn *c)
{
    conn_unhungry(c);
    for (size_t i = 0; i < c->n_subs; i++)
        blist_push_back(&c->subs[i].q->hungry, &c->subs[i].hungry);
    c->in_hungry = true;
}

static void job_dispatch(broker *b, bjob *j, bconn *c)
{
    bqueue *q = j->q;
    blist_remove(&j->run);
    int64_t now = broker_now(b);
    j->attempt++;
    j->started_at = now;
    j->ttl_at = 0;
    j->lease = c;
    blist_push_back(&c->leased, &j->lease_link);
    c->n_leased++;
    b->n_leased++;
    c->last_seen_at = c->last_seen_at > now ? c->last_seen_at : now;
    bheap_del(&b->timers, &j->tm);
    job_set_status(b, j, ST_STARTED);
    if (j->timeout_ms > 0)
        timer_set(b, &j->tm, now + j->timeout_ms);
    q->n_dispatched++;
    if (q->n_held && !q->pump_pending) {
        q->pump_pending = true;
        blist_push_back(&b->pump, &q->pump_link);
    }
    if (!b->out.dispatch)
        return;
    broker_dispatch d = {
        .job_id = j->h.key,
        .queue = q->name,
        .attempt = j->attempt,
        .deadline_at = j->timeout_ms > 0 ? now + j->timeout_ms : 0,
        .args = j->args,
        .args_len = j->args_len,
        .meta = j->meta,
        .meta_len = j->meta_len,
        .key = j->key ? j->key->h.key : NULL,
        .state = j->key ? j->key->state : NULL,
        .state_len = j->key ? j->key->state_len : 0,
        .parent = j->parent_id,
        .root = j->root_id,
        .enqueued_at = j->enqueued_at,
        .content_type = j->content_type,
        .payload_meta = j->payload_meta,
        .payload_meta_len = j->payload_meta_len,
        .payload = j->payload,
        .len = j->len,
    };
    b->out.dispatch(b->out.user, c->user, &d);
}

static void pump_queue(broker *b, bqueue *q)
{
    held_release(b, q);
    if (q->paused || b->draining)
        return;
    while (!blist_empty(&q->ready) && !blist_empty(&q->hungry)) {
        bsub *s = bcontainer(q->hungry.next, bsub, hungry);
        bconn *c = s->c;
        job_dispatch(b, bcontainer(q->ready.next, bjob, run), c);
        if (conn_hungry(b, c))
            conn_to_hungry_tail(c);
        else
            conn_unhungry(c);
        held_release(b, q);
    }
}

static void conn_feed(broker *b, bconn *c)
{
    conn_unhungry(c);
    while (conn_hungry(b, c)) {
        bjob *j = NULL;
        for (size_t i = 0; i < c->n_subs && !j; i++) {
            bqueue *q = c->subs[i].q;
            if (!q->paused && !blist_empty(&q->ready))
                j = bcontainer(q->ready.next, bjob, run);
        }
        if (!j)
            break;
        job_dispatch(b, j, c);
    }
    if (conn_hungry(b, c))
        conn_to_hungry_tail(c);
}

void broker_settle(broker *b)
{
    if (b->settling)
        return;
    b->settling = true;
    for (;;) {
        cascade_run(b);
        if (!blist_empty(&b->pump)) {
            bqueue *q = bcontainer(b->pump.next, bqueue, pump_link);
            blist_remove(&q->pump_link);
            q->pump_pending = false;
            pump_queue(b, q);
            continue;
        }
        if (!blist_empty(&b->feed)) {
            bconn *c = bcontainer(b->feed.next, bconn, feed_link);
            blist_remove(&c->feed_link);
            c->feed_pending = false;
            conn_feed(b, c);
            continue;
        }
        if (blist_empty(&b->cascade))
            break;
    }
    b->settling = false;
    if (b->draining && b->n_leased == 0 && !b->drained_sent) {
        b->drained_sent = true;
        if (b->out.drained)
            b->out.drained(b->out.user);
    }
}

/* ------------------------------------------------------------------ connections */

static void conn_set_str(char **dst, const char *s)
{
    if (!s)
        return;
    char *d = bstrdup0(s);
    if (d) {
        free(*dst);
        *dst = d;
    }
}

broker_conn *broker_conn_new(broker *b, void *conn_user, const broker_conn_info *info)
{
    bconn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->user = conn_user;
    blist_init(&c->leased);
    blist_init(&c->held);
    blist_init(&c->waits);
    c->connected_at = c->last_seen_at = broker_now(b);
    if (info) {
        c->session = info->session;
        conn_set_str(&c->name, info->name);
        conn_set_str(&c->instance, info->instance);
        conn_set_str(&c->kind, info->kind);
    }
    blist_push_back(&b->conns, &c->all_link);
    return (broker_conn *)c;
}

int broker_conn_set_info(broker *b, broker_conn *bc, const broker_conn_info *info)
{
    bconn *c = (bconn *)bc;
    (void)b;
    if (!info)
        return WSM_OK;
    c->session = info->session ? info->session : c->session;
    conn_set_str(&c->name, info->name);
    conn_set_str(&c->instance, info->instance);
    conn_set_str(&c->kind, info->kind);
    return WSM_OK;
}

void broker_conn_touch(broker *b, broker_conn *bc)
{
    ((bconn *)bc)->last_seen_at = broker_now(b);
}

void broker_conn_free(broker *b, broker_conn *bc)
{
    bconn *c = (bconn *)bc;
    if (!c)
        return;
    conn_unhungry(c);
    for (size_t i = 0; i < c->n_subs; i++)
        c->subs[i].q->n_consumers--;
    c->n_subs = 0;
    c->prefetch = 0;
    while (!blist_empty(&c->held)) {
        bheld *h = bcontainer(c->held.next, bheld, conn_link);
        blist_remove(&h->conn_link);
        blist_remove(&h->qlink);
        bqueue *tq = h->job->q;
        tq->n_held--;
        btree *t = h->job->tree;
        bool was_running = t && !tree_ended(t);
        /* the held child leaves its tree uncounted */
        if (t) {
            btree_q *tqq = tree_q(t, tq);
            t->jobs--;
            tqq->jobs--;
            tqq->weight -= h->job->weight;
        }
        bool ended_now = t && was_running && t->refs > 1 && tree_ended(t);
        broker_job_free(b, h->job);
        if (ended_now)
            tree_on_end(b, t);
        free(h);
    }
    while (!blist_empty(&c->waits)) {
        bwait *w = bcontainer(c->waits.next, bwait, conn_link);
        blist_remove(&w->conn_link);
        blist_remove(&w->target_link);
        bheap_del(&b->timers, &w->tm);
        free(w);
    }
    while (!blist_empty(&c->leased)) {
        bjob *j = bcontainer(c->leased.next, bjob, lease_link);
        job_attempt_failed(b, j, "worker_lost", true);
    }
    if (c->feed_pending)
        blist_remove(&c->feed_link);
    blist_remove(&c->all_link);
    free(c->subs);
    free(c->name);
    free(c->instance);
    free(c->kind);
    free(c);
    broker_settle(b);
}

/* ------------------------------------------------------------------ consuming */

int broker_consume(broker *b, broker_conn *bc, const char *const *queues, size_t n,
                   int64_t prefetch, wsm_err *err)
{
    bconn *c = (bconn *)bc;
    if (n == 0 || n > 256)
        return wsm_err_set(err, WSM_E_BAD_FIELD, "queues: expected 1..256 queue names");
    if (prefetch < 0 || prefetch > 1000000)
        return wsm_err_set(err, WSM_E_BAD_FIELD, "prefetch: expected integer 0..1000000");
    bsub *subs = calloc(n, sizeof *subs);
    if (!subs)
        return wsm_err_set(err, WSM_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        bqueue *q = broker_find_queue(b, queues[i]);
        if (!q) {
            free(subs);
            return wsm_err_set(err, WSM_E_NO_SUCH_QUEUE, "queues[%zu]: queue '%s' is not declared",
                               i, queues[i] ? queues[i] : "");
        }
        for (size_t k = 0; k < i; k++)
            if (subs[k].q == q) {
                free(subs);
                return wsm_err_set(err, WSM_E_BAD_FIELD, "queues[%zu]: '%s' listed twice", i,
                                   q->name);
            }
        subs[i].q = q;
        subs[i].c = c;
    }
    conn_unhungry(c);
    for (size_t i = 0; i < c->n_subs; i++)
        c->subs[i].q->n_consumers--;
    free(c->subs);
    c->subs = subs;
    c->n_subs = n;
    for (size_t i = 0; i < n; i++)
        subs[i].q->n_consumers++;
    c->prefetch = prefetch;
    c->worker = true;
    conn_mark_feed(b, c);
    broker_settle(b);
    return WSM_OK;
}

void broker_credit(broker *b, broker_conn *bc, int64_t n)
{
    bconn *c = (bconn *)bc;
    int64_t p = c->prefetch + n;
    if (n > 0 && p < c->prefetch) /* overflow */
        p = INT64_MAX;
    c->prefetch = p < 0 ? 0 : p;
    if (!conn_hungry(b, c))
        conn_unhungry(c);
    conn_mark_feed(b, c);
    broker_settle(b);
}

static bjob *leased_job(broker *b, bconn *c, const char *job_id, int attempt, wsm_err *err, int *rc)
{
    bjob *j = broker_find_job(b, job_id);
    if (!j) {
        *rc = wsm_err_set(err, WSM_E_NO_SUCH_JOB, "no job '%s'", job_id ? job_id : "");
        return NULL;
    }
    if (j->status != ST_STARTED || j->lease != c || j->attempt != attempt) {
        *rc = wsm_err_set(err, WSM_E_BAD_STATE,
                          "job '%s' attempt %d is not leased to this connection (status %s, "
                          "attempt %d)",
                          job_id, attempt, status_names[j->status], j->attempt);
        return NULL;
    }
    *rc = WSM_OK;
    return j;
}

int broker_result(broker *b, broker_conn *bc, const char *job_id, int attempt,
                  const broker_result_spec *r, wsm_err *err)
{
    bconn *c = (bconn *)bc;
    int rc;
    bjob *j = leased_job(b, c, job_id, attempt, err, &rc);
    if (!j)
        return rc;
    if (r->weight < BROKER_UNSET)
        return wsm_err_set(err, WSM_E_BAD_FIELD, "weight: expected integer >= 0");
    if (r->len && !r->payload)
        return wsm_err_set(err, WSM_E_BAD_FIELD, "payload: missing bytes");
    char *value = NULL, *state = NULL;
    if (r->value && r->value_len && !(value = bdup(r->value, r->value_len)))
        return wsm_err_set(err, WSM_E_NOMEM, "out of memory");
    if (r->state && r->state_len && !(state = bdup(r->state, r->state_len))) {
        free(value);
        return wsm_err_set(err, WSM_E_NOMEM, "out of memory");
    }
    /* routed result: child <id>.r, before the job ends so that its tree stays open */
    broute *route = find_route(j->q, "result");
    if (route) {
        char cid[BROKER_MAX_ID + 8];
        snprintf(cid, sizeof cid, "%s.r", j->h.key);
        if (strlen(cid) <= BROKER_MAX_ID && !id_taken(b, cid)) {
            broker_job_spec cs;
            broker_job_spec_init(&cs);
            cs.args = value ? value : "null";
            cs.args_len = value ? r->value_len : 4;
            cs.content_type = r->content_type;
            cs.payload_meta = r->payload_meta;
            cs.payload_meta_len = r->payload_meta_len;
            cs.payload = r->payload;
            cs.len = r->len;
            bjob *ch;
            rc = child_build(b, j, route->to, cid, &cs, &ch);
            if (rc == WSM_OK && (rc = child_insert(b, ch, ch->tree)) != WSM_OK)
                broker_job_free(b, ch);
            if (rc) {
                free(value);
                free(state);
                return wsm_err_set(err, rc, "out of memory");
            }
        }
    }
    free(j->value);
    j->value = value;
    j->value_len = r->value_len;
    if (r->weight >= 0 && r->weight != j->weight) {
        if (j->tree)
            tree_q(j->tree, j->q)->weight += r->weight - j->weight;
        j->weight = r->weight;
    }
    if (j->key && state) {
        free(j->key->state);
        j->key->state = state;
        j->key->state_len = r->state_len;
        broker_key_dirty(b, j->key);
        state = NULL;
    }
    free(state);
    c->processed++;
    c->last_seen_at = broker_now(b);
    job_end(b, j, ST_FINISHED, NULL);
    broker_settle(b);
    return WSM_OK;
}

int broker_fail(broker *b, broker_conn *bc, const char *job_id, int attempt, const char *error,
                size_t error_len, bool retry, wsm_err *err)
{
    bconn *c = (bconn *)bc;
    int rc;
    bjob *j = leased_job(b, c, job_id, attempt, err, &rc);
    if (!j)
        return rc;
    if (!error || !error_len)
        return wsm_err_set(err, WSM_E_BAD_FIELD, "error: required");
    char *e = bdup(error, error_len);
    if (!e)
        return wsm_err_set(err, WSM_E_NOMEM, "out of memory");
    free(j->error);
    j->error = e;
    j->error_len = error_len;
    c->failed++;
    c->last_seen_at = broker_now(b);
    job_attempt_failed(b, j, "failed", retry);
    broker_settle(b);
    return WSM_OK;
}

int broker_release(broker *b, broker_conn *bc, const char *const *job_ids, size_t n, size_t *count,
                   wsm_err *err)
{
    bconn *c = (bconn *)bc;
    (void)err;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bjob *j = broker_find_job(b, job_ids[i]);
        if (!j || j->status != ST_STARTED || j->lease != c)
            continue;
        lease_end(b, j);
        j->attempt--;
        job_enter_queued(b, j);
        k++;
    }
    if (count)
        *count = k;
    broker_settle(b);
    return WSM_OK;
}

int broker_progress(broker *b, broker_conn *bc, const char *job_id, double done, double total,
                    const char *message, wsm_err *err)
{
    bconn *c = (bconn *)bc;
    bjob *j = broker_find_job(b, job_id);
    if (!j || j->status != ST_STARTED || j->lease != c)
        return wsm_err_set(err, WSM_E_NO_SUCH_JOB, "job '%s' is not leased to this connection",
                           job_id ? job_id : "");
    c->last_seen_at = broker_now(b);
    j->prog_done = done;
    j->prog_total = total;
    if (message) {
        char *m = bstrdup0(message);
        if (m) {
            free(j->prog_msg);
            j->prog_msg = m;
        }
    }
    btree *t = j->tree;
    if (!t && !j->root_id)
        t = broker_tree_ensure(b, j);
    if (t) {
        t->prog_done = done;
        t->prog_total = total;
        if (message) {
            char *m = bstrdup0(message);
            if (m) {
                free(t->prog_msg);
                t->prog_msg = m;
            }
        }
        tree_touch(b, t);
    }
    return WSM_OK;
}

/* ------------------------------------------------------------------ waiting */

int broker_wait(broker *b, broker_conn *bc, const char *job_id, bool tree, int64_t timeout_ms,
                uint64_t req, bool *done, cJSON **job_out, wsm_err *err)
{
    bconn *c = (bconn *)bc;
    *done = false;
    if (job_out)
        *job_out = NULL;
    if (timeout_ms < 0)
        return wsm_err_set(err, WSM_E_BAD_FIELD, "timeout: expected >= 0");
    bjob *j = broker_find_job(b, job_id);
    if (!j)
        return wsm_err_set(err, WSM_E_NO_SUCH_JOB, "no job '%s'", job_id ? job_id : "");
    btree *t = j->tree;
    bool ended = tree && t ? tree_ended(t) : ST_ENDED(j->status);
    if (ended) {
        *done = true;
        if (job_out) {
            *job_out = broker_job_json(b, tree && t && t->root ? t->root : j);
            if (!*job_out)
                return wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        }
        return WSM_OK;
    }
    bwait *w = calloc(1, sizeof *w);
    if (!w)
        return wsm_err_set(err, WSM_E_NOMEM, "out of memory");
    w->c = c;
    w->req = req;
    w->tree = tree;
    w->tm.idx = SIZE_MAX;
    w->tm.kind = BT_WAIT;
    if (tree && t && ST_ENDED(j->status))
        blist_push_back(&t->waits, &w->target_link);
    else
        blist_push_back(&j->waits, &w->target_link);
    blist_push_back(&c->waits, &w->conn_link);
    if (timeout_ms > 0)
        timer_set(b, &w->tm, broker_now(b) + timeout_ms);
    return WSM_OK;
}

/* ------------------------------------------------------------------ admin */

int broker_requeue(broker *b, const char *job_id, size_t *count, wsm_err *err)
{
    if (count)
        *count = 0;
    bjob *j = broker_find_job(b, job_id);
    if (!j)
        return wsm_err_set(err, WSM_E_NO_SUCH_JOB, "no job '%s'", job_id ? job_id : "");
    if (j->status != ST_FAILED && j->status != ST_EXPIRED && j->status != ST_CANCELED)
        return wsm_err_set(err, WSM_E_BAD_STATE,
                           "job '%s' is %s: only failed, expired or "
                           "canceled jobs can be requeued",
                           job_id, status_names[j->status]);
    btree *t = j->tree;
    if (t) {
        btree_q *tq = tree_q(t, j->q);
        t->ended--;
        t->bad--;
        tq->ended--;
        tq->weight_done -= j->weight;
        t->ended_at = 0;
        tree_touch(b, t);
    }
    if (j->key && j->key->stopped_by && strcmp(j->key->stopped_by, j->h.key) == 0) {
        free(j->key->stopped_by);
        j->key->stopped_by = NULL;
        broker_key_dirty(b, j->key);
    }
    j->attempt = 0;
    j->ended_at = 0;
    j->ttl_at = 0;
    j->run_at = 0;
    free(j->reason);
    j->reason = NULL;
    free(j->error);
    j->error = NULL;
    if (j->edges)
        edges_unlink(j);
    job_enter_queued(b, j);
    if (count)
        *count = 1;
    broker_settle(b);
    return WSM_OK;
}

int broker_requeue_all(broker *b, const char *queue, size_t *count, wsm_err *err)
{
    bqueue *q = broker_find_queue(b, queue);
    if (count)
        *count = 0;
    if (!q)
        return wsm_err_set(err, WSM_E_NO_SUCH_QUEUE, "queue '%s' is not declared",
                           queue ? queue : "");
    size_t k = 0;
    static const int sts[] = {ST_FAILED, ST_EXPIRED, ST_CANCELED};
    for (size_t s = 0; s < 3; s++) {
        /* oldest first so that queue order follows the original order; only the jobs that
         * were there at the start (a job requeued onto a stopped key is canceled again and
         * lands at the tail) */
        for (size_t n = q->count[sts[s]]; n > 0 && !blist_empty(&q->reg[sts[s]]); n--) {
            bjob *j = bcontainer(q->reg[sts[s]].next, bjob, reg);
            if (broker_requeue(b, j->h.key, NULL, NULL) != WSM_OK)
                break;
            k++;
        }
    }
    if (count)
        *count = k;
    return WSM_OK;
}

int broker_cancel(broker *b, const char *job_id, size_t *count, wsm_err *err)
{
    if (count)
        *count = 0;
    bjob *j = broker_find_job(b, job_id);
    if (!j)
        return wsm_err_set(err, WSM_E_NO_SUCH_JOB, "no job '%s'", job_id ? job_id : "");
    if (ST_ENDED(j->status))
        return wsm_err_set(err, WSM_E_BAD_STATE, "job '%s' has already ended (%s)", job_id,
                           status_names[j->status]);
    if (j->status == ST_STARTED && j->lease && b->out.stop)
        b->out.stop(b->out.user, j->lease->user, j->h.key, j->attempt, "canceled");
    job_end(b, j, ST_CANCELED, "canceled");
    if (count)
        *count = 1;
    broker_settle(b);
    return WSM_OK;
}

int broker_empty(broker *b, const char *queue, size_t *count, wsm_err *err)
{
    bqueue *q = broker_find_queue(b, queue);
    if (count)
        *count = 0;
    if (!q)
        return wsm_err_set(err, WSM_E_NO_SUCH_QUEUE, "queue '%s' is not declared",
                           queue ? queue : "");
    size_t k = 0;
    while (!blist_empty(&q->reg[ST_QUEUED])) {
        bjob *j = bcontainer(q->reg[ST_QUEUED].next, bjob, reg);
        job_end(b, j, ST_CANCELED, "emptied");
        k++;
    }
    if (count)
        *count = k;
    broker_settle(b);
    return WSM_OK;
}

int broker_pause(broker *b, const char *queue, bool paused, size_t *count, wsm_err *err)
{
    bqueue *q = broker_find_queue(b, queue);
    if (count)
        *count = 0;
    if (!q)
        return wsm_err_set(err, WSM_E_NO_SUCH_QUEUE, "queue '%s' is not declared",
                           queue ? queue : "");
    if (q->paused != paused && count)
        *count = 1;
    q->paused = paused;
    if (!paused && !q->pump_pending) {
        q->pump_pending = true;
        blist_push_back(&b->pump, &q->pump_link);
    }
    broker_settle(b);
    return WSM_OK;
}

void broker_drain(broker *b)
{
    b->draining = true;
    b->drained_sent = false;
    for (blink *l = b->conns.next; l != &b->conns; l = l->next)
        conn_unhungry(bcontainer(l, bconn, all_link));
    broker_settle(b);
}

bool broker_draining(const broker *b)
{
    return b->draining;
}

/* ------------------------------------------------------------------ time */

void broker_tick(broker *b)
{
    int64_t now = broker_now(b);
    btimer *t;
    while ((t = bheap_top(&b->timers)) && t->at <= now) {
        bheap_del(&b->timers, t);
        if (t->kind == BT_WAIT) {
            bwait *w = bcontainer(t, bwait, tm);
            blist_remove(&w->target_link);
            blist_remove(&w->conn_link);
            if (b->out.wait_done)
                b->out.wait_done(b->out.user, w->c->user, w->req, WSM_E_TIMEOUT, NULL);
            free(w);
            continue;
        }
        bjob *j = bcontainer(t, bjob, tm);
        switch (j->status) {
        case ST_QUEUED:
        case ST_DEFERRED:
            job_end(b, j, ST_EXPIRED, "ttl");
            break;
        case ST_SCHEDULED:
            j->run_at = 0;
            job_enter_queued(b, j);
            break;
        case ST_STARTED:
            if (j->lease && b->out.stop)
                b->out.stop(b->out.user, j->lease->user, j->h.key, j->attempt, "timeout");
            job_attempt_failed(b, j, "timeout", true);
            break;
        default:
            if (j->tree && j->tree->root == j && !tree_ended(j->tree))
                break; /* re-armed when the tree ends */
            job_purge(b, j);
        }
        broker_settle(b);
    }
    broker_settle(b);
}

int64_t broker_next_deadline(const broker *b)
{
    btimer *t = bheap_top(&b->timers);
    return t ? t->at : -1;
}

/* ------------------------------------------------------------------ topics */

void broker_set_topics(broker *b, bool events, bool progress)
{
    b->topic_events = events;
    b->topic_progress = progress;
}

void broker_publish_progress(broker *b)
{
    while (!blist_empty(&b->pdirty)) {
        btree *t = bcontainer(b->pdirty.next, btree, pdirty_link);
        blist_remove(&t->pdirty_link);
        t->pdirty = false;
        if (!b->topic_progress || !b->out.event)
            continue;
        wsm_buf_reset(&b->scratch);
        if (broker_tree_progress_json(b, t, t->root, &b->scratch) == WSM_OK)
            b->out.event(b->out.user, "progress", t->root_id, (const char *)b->scratch.data,
                         b->scratch.len);
    }
}

/* ------------------------------------------------------------------ restore helpers */

void broker_restore_job_state(broker *b, bjob *j)
{
    switch (j->status) {
    case ST_STARTED:
        /* the hub restarted: the worker is gone; the attempt stays counted and the job is
         * queued again whatever its retry policy (the hub, not the job, failed) */
        j->lease = NULL;
        job_enter_queued(b, j);
        break;
    case ST_QUEUED:
        job_enter_queued(b, j);
        break;
    case ST_DEFERRED: {
        bjob *failed = NULL;
        size_t pending = 0;
        free(j->edges);
        j->edges = j->n_deps ? calloc(j->n_deps, sizeof *j->edges) : NULL;
        for (size_t i = 0; i < j->n_deps && j->edges; i++) {
            bjob *p = broker_find_job(b, j->deps[i]);
            if (!p)
                continue; /* purged: it ended long ago */
            if (!ST_ENDED(p->status)) {
                bdep *d = &j->edges[pending++];
                d->child = j;
                d->parent = p;
                blist_push_back(&p->dependents, &d->link);
            } else if (p->status != ST_FINISHED && !j->allow_failure && !failed) {
                failed = p;
            }
        }
        j->deps_pending = pending;
        if (failed) {
            char reason[BROKER_MAX_ID + 32];
            snprintf(reason, sizeof reason, "dependency_failed: %s", failed->h.key);
            edges_unlink(j);
            job_end(b, j, ST_CANCELED, reason);
        } else if (pending == 0) {
            free(j->edges);
            j->edges = NULL;
            job_make_ready(b, j);
        } else if (j->ttl_at) {
            timer_set(b, &j->tm, j->ttl_at);
        }
        break;
    }
    case ST_SCHEDULED:
        if (j->run_at > 0)
            timer_set(b, &j->tm, j->run_at);
        else
            job_enter_queued(b, j);
        break;
    default:
        job_arm_purge(b, j);
    }
    cascade_run(b);
}

void broker_restore_tree_done(broker *b, btree *t)
{
    if (!tree_ended(t) || t->refs == 0)
        return;
    int64_t last = 0;
    for (blink *l = t->members.next; l != &t->members; l = l->next) {
        bjob *m = bcontainer(l, bjob, tree_link);
        if (m->ended_at > last)
            last = m->ended_at;
    }
    t->ended_at = last ? last : broker_now(b);
    if (t->root && ST_ENDED(t->root->status))
        job_arm_purge(b, t->root);
}

void broker_restore_settle(broker *b)
{
    b->in_restore = false;
    for (size_t i = 0; i < b->n_queues; i++)
        for (int st = ST_FINISHED; st < ST__N; st++)
            enforce_cap(b, &b->queues[i], st);
    broker_settle(b);
}

/* ------------------------------------------------------------------ stats */

size_t broker_queue_count(const broker *b)
{
    return b->n_queues;
}

int broker_queue_stats_get(const broker *b, size_t i, broker_queue_stats *o)
{
    if (i >= b->n_queues)
        return WSM_E_BAD_FIELD;
    const bqueue *q = &b->queues[i];
    memset(o, 0, sizeof *o);
    o->name = q->name;
    o->paused = q->paused;
    o->max_length = q->max_length;
    o->queued = q->count[ST_QUEUED];
    o->deferred = q->count[ST_DEFERRED];
    o->scheduled = q->count[ST_SCHEDULED];
    o->started = q->count[ST_STARTED];
    o->finished = q->count[ST_FINISHED];
    o->failed = q->count[ST_FAILED];
    o->expired = q->count[ST_EXPIRED];
    o->canceled = q->count[ST_CANCELED];
    o->n_finished = q->n_finished;
    o->n_failed = q->n_failed;
    o->n_expired = q->n_expired;
    o->n_canceled = q->n_canceled;
    o->n_enqueued = q->n_enqueued;
    o->n_dispatched = q->n_dispatched;
    o->n_dropped = q->n_dropped;
    o->consumers = q->n_consumers;
    o->held_emits = q->n_held;
    return WSM_OK;
}

size_t broker_leased_count(const broker *b)
{
    return b->n_leased;
}

size_t broker_job_count(const broker *b)
{
    return b->jobs.n;
}

size_t broker_payload_bytes(const broker *b)
{
    return b->payload_bytes;
}

size_t broker_key_count(const broker *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n_queues; i++)
        n += b->queues[i].keys.n;
    return n;
}

size_t broker_tree_count(const broker *b)
{
    return b->n_trees;
}

uint64_t broker_change_seq(const broker *b)
{
    return b->persist ? b->change_seq : 0;
}

/* ------------------------------------------------------------------ new / free */

static int queue_init(broker *b, bqueue *q, const broker_queue_decl *d, size_t idx, wsm_err *err)
{
    if (!d->name || !*d->name)
        return wsm_err_set(err, WSM_E_BAD_FIELD, "queues[%zu].name: required", idx);
    if (d->max_length < 0)
        return wsm_err_set(err, WSM_E_BAD_FIELD, "queues.%s.max_length: expected >= 0", d->name);
    if (!opts_valid(&d->defaults, err))
        return WSM_E_BAD_FIELD;
    q->name = bstrdup0(d->name);
    if (!q->name)
        return wsm_err_set(err, WSM_E_NOMEM, "out of memory");
    q->idx = idx;
    q->max_length = d->max_length;
    q->defaults = d->defaults;
    q->paused = d->paused;
    blist_init(&q->ready);
    blist_init(&q->hungry);
    blist_init(&q->held);
    for (int s = 0; s < ST__N; s++)
        blist_init(&q->reg[s]);
    (void)b;
    return WSM_OK;
}

broker *broker_new(const broker_config *cfg, wsm_err *err)
{
    if (!cfg || !cfg->now) {
        wsm_err_set(err, WSM_E_BAD_FIELD, "broker: a clock is required");
        return NULL;
    }
    broker *b = calloc(1, sizeof *b);
    if (!b) {
        wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        return NULL;
    }
    blist_init(&b->conns);
    blist_init(&b->pump);
    blist_init(&b->feed);
    blist_init(&b->pdirty);
    blist_init(&b->cascade);
    blist_init(&b->dirty_jobs);
    blist_init(&b->dirty_keys);
    blist_init(&b->restoring);
    b->now = cfg->now;
    b->clock_user = cfg->clock_user;
    b->out = cfg->out;
    b->persist = cfg->persist;
    b->ret = cfg->retention;
    if (b->ret.registry_cap == 0)
        b->ret.registry_cap = 100000;
    if (b->ret.result_ttl_ms < 0 || b->ret.failure_ttl_ms < 0 || b->ret.emitted_result_ttl_ms < 0) {
        wsm_err_set(err, WSM_E_BAD_FIELD, "retention: expected durations >= 0");
        goto fail;
    }
    if (cfg->id_seed) {
        b->id_hi = cfg->id_seed;
    } else {
        char r[21];
        wsm_random_id(r);
        b->id_hi = strtoull(r + 10, NULL, 16);
    }
    b->queues = calloc(cfg->n_queues ? cfg->n_queues : 1, sizeof *b->queues);
    if (!b->queues) {
        wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->n_queues; i++) {
        if (queue_init(b, &b->queues[i], &cfg->queues[i], i, err))
            goto fail;
        b->n_queues = i + 1;
        for (size_t k = 0; k < i; k++)
            if (strcmp(b->queues[k].name, b->queues[i].name) == 0) {
                wsm_err_set(err, WSM_E_BAD_FIELD, "queues.%s: declared twice", b->queues[i].name);
                goto fail;
            }
    }
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const broker_route_decl *r = &cfg->routes[i];
        bqueue *from = broker_find_queue(b, r->from_queue);
        bqueue *to = broker_find_queue(b, r->to_queue);
        if (!from || !to || !r->output || !*r->output) {
            wsm_err_set(err, WSM_E_BAD_FIELD, "routes[%zu]: unknown queue '%s' or empty output", i,
                        !from ? (r->from_queue ? r->from_queue : "")
                              : (r->to_queue ? r->to_queue : ""));
            goto fail;
        }
        if (find_route(from, r->output)) {
            wsm_err_set(err, WSM_E_BAD_FIELD, "routes[%zu]: (%s, %s) routed twice", i, from->name,
                        r->output);
            goto fail;
        }
        broute *nr = realloc(from->routes, (from->n_routes + 1) * sizeof *nr);
        if (!nr) {
            wsm_err_set(err, WSM_E_NOMEM, "out of memory");
            goto fail;
        }
        from->routes = nr;
        nr[from->n_routes].output = bstrdup0(r->output);
        nr[from->n_routes].to = to;
        if (!nr[from->n_routes].output) {
            wsm_err_set(err, WSM_E_NOMEM, "out of memory");
            goto fail;
        }
        from->n_routes++;
    }
    return b;
fail:
    broker_free(b);
    return NULL;
}

/* Frees a tree without touching the broker's hashes or lists (broker_free only). */
static void tree_free_raw(btree *t)
{
    bdedup *d = t->dedup;
    while (d) {
        bdedup *n = d->next;
        free(d->h.key);
        free(d);
        d = n;
    }
    free(t->qs);
    free(t->root_id);
    free(t->prog_msg);
    free(t->keys);
    free(t);
}

void broker_free(broker *b)
{
    if (!b)
        return;
    /* connections (no callbacks, no requeue) */
    while (!blist_empty(&b->conns)) {
        bconn *c = bcontainer(b->conns.next, bconn, all_link);
        blist_remove(&c->all_link);
        while (!blist_empty(&c->held)) {
            bheld *h = bcontainer(c->held.next, bheld, conn_link);
            blist_remove(&h->conn_link);
            blist_remove(&h->qlink);
            bjob *j = h->job;
            if (j->key)
                j->key->refs--;
            if (j->tree) {
                blist_remove(&j->tree_link);
                if (--j->tree->refs == 0)
                    tree_free_raw(j->tree);
            }
            job_free_mem(b, j);
            free(h);
        }
        while (!blist_empty(&c->waits)) {
            bwait *w = bcontainer(c->waits.next, bwait, conn_link);
            blist_remove(&w->conn_link);
            free(w);
        }
        free(c->subs);
        free(c->name);
        free(c->instance);
        free(c->kind);
        free(c);
    }
    /* jobs: collect trees first (a job's tree may be shared) */
    for (size_t i = 0; i < b->jobs.cap; i++) {
        bjob *j = (bjob *)b->jobs.slots[i];
        if (!j)
            continue;
        btree *t = j->tree;
        if (t && --t->refs == 0)
            tree_free_raw(t);
        job_free_mem(b, j);
    }
    bhash_free(&b->jobs);
    bhash_free(&b->dedup);
    for (size_t i = 0; i < b->n_queues; i++) {
        bqueue *q = &b->queues[i];
        for (size_t k = 0; k < q->keys.cap; k++) {
            bkey *key = (bkey *)q->keys.slots[k];
            if (!key)
                continue;
            free(key->h.key);
            free(key->state);
            free(key->stopped_by);
            cJSON_Delete(key->restore_roots);
            free(key->trees);
            free(key);
        }
        bhash_free(&q->keys);
        for (size_t r = 0; r < q->n_routes; r++)
            free(q->routes[r].output);
        free(q->routes);
        free(q->name);
    }
    free(b->queues);
    free(b->timers.v);
    wsm_buf_free(&b->oplog);
    wsm_buf_free(&b->restore_dedup);
    wsm_buf_free(&b->scratch);
    free(b);
}
