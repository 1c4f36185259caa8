/*
 * store_memory.c - the store entry points (store.h) shared by every backend, the memory
 * store (persists nothing: store_batch_take always returns NULL), and the batch builder that
 * turns the broker's pending changes (broker_persist_collect) into a self-contained byte log.
 *
 * Invariants: a batch owns all its bytes (records and payloads are copied), so committing it
 * never touches the broker; batches are taken in order and must be committed in order, one
 * at a time (the net layer's job).
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

store *store_memory_new(void)
{
    store *s = calloc(1, sizeof *s);
    if (s)
        s->kind = STORE_MEMORY;
    return s;
}

void store_free(store *s)
{
    if (!s)
        return;
    if (s->kind == STORE_SQLITE)
        store_sqlite_close(s);
    free(s);
}

const char *store_kind(const store *s)
{
    return s && s->kind == STORE_SQLITE ? "sqlite" : "memory";
}

bool store_persistent(const store *s)
{
    return s && s->kind == STORE_SQLITE;
}

int store_load(store *s, broker *b, wsm_err *err)
{
    if (s && s->kind == STORE_SQLITE)
        return store_sqlite_load(s, b, err);
    return broker_restore_finish(b, err);
}

/* ------------------------------------------------------------------ batch building */

static int put_field(wsm_buf *o, const void *p, size_t n)
{
    if (n > UINT32_MAX)
        return WSM_E_TOO_LARGE;
    uint32_t l = (uint32_t)n;
    if (wsm_buf_reserve(o, 4 + n))
        return WSM_E_NOMEM;
    wsm_buf_append(o, &l, 4);
    if (n)
        wsm_buf_append(o, p, n);
    return WSM_OK;
}

static int put_str(wsm_buf *o, const char *s)
{
    return put_field(o, s, strlen(s));
}

static int put_tag(store_batch *bt, char tag)
{
    bt->rows++;
    return wsm_buf_append(&bt->ops, &tag, 1);
}

static int sink_job_put(void *u, const char *id, const char *rec, size_t rec_len,
                        const void *payload, size_t len, bool with_payload)
{
    store_batch *bt = u;
    int rc = put_tag(bt, with_payload ? 'P' : 'p');
    rc = rc ? rc : put_str(&bt->ops, id);
    rc = rc ? rc : put_field(&bt->ops, rec, rec_len);
    if (with_payload && !rc)
        rc = put_field(&bt->ops, payload, len);
    return rc;
}

static int sink_job_del(void *u, const char *id)
{
    store_batch *bt = u;
    int rc = put_tag(bt, 'J');
    return rc ? rc : put_str(&bt->ops, id);
}

static int sink_key_put(void *u, const char *queue, const char *key, const char *rec,
                        size_t rec_len)
{
    store_batch *bt = u;
    int rc = put_tag(bt, rec ? 'K' : 'k');
    rc = rc ? rc : put_str(&bt->ops, queue);
    rc = rc ? rc : put_str(&bt->ops, key);
    if (rec && !rc)
        rc = put_field(&bt->ops, rec, rec_len);
    return rc;
}

static int sink_dedup_put(void *u, const char *id, const char *root)
{
    store_batch *bt = u;
    int rc = put_tag(bt, 'D');
    rc = rc ? rc : put_str(&bt->ops, id);
    return rc ? rc : put_str(&bt->ops, root);
}

static int sink_dedup_del_root(void *u, const char *root)
{
    store_batch *bt = u;
    int rc = put_tag(bt, 'R');
    return rc ? rc : put_str(&bt->ops, root);
}

store_batch *store_batch_take(store *s, broker *b, int *code)
{
    if (code)
        *code = WSM_OK;
    if (!s || s->kind == STORE_MEMORY || !broker_persist_pending(b))
        return NULL;
    store_batch *bt = calloc(1, sizeof *bt);
    if (!bt) {
        if (code)
            *code = WSM_E_NOMEM;
        return NULL;
    }
    broker_persist_sink sink = {.user = bt,
                                .job_put = sink_job_put,
                                .job_del = sink_job_del,
                                .key_put = sink_key_put,
                                .dedup_put = sink_dedup_put,
                                .dedup_del_root = sink_dedup_del_root};
    int rc = WSM_OK;
    bt->seq = broker_persist_collect(b, &sink, &rc);
    if (rc || bt->seq == 0) {
        if (code)
            *code = rc;
        store_batch_free(bt);
        return NULL;
    }
    return bt;
}

int store_batch_commit(store *s, store_batch *bt, wsm_err *err)
{
    if (!s || !bt)
        return wsm_err_set(err, WSM_E_INTERNAL, "store: no store or batch");
    if (s->kind != STORE_SQLITE)
        return WSM_OK;
    return store_sqlite_commit(s, bt, err);
}

uint64_t store_batch_seq(const store_batch *bt)
{
    return bt ? bt->seq : 0;
}

size_t store_batch_size(const store_batch *bt)
{
    return bt ? bt->rows : 0;
}

void store_batch_free(store_batch *bt)
{
    if (!bt)
        return;
    wsm_buf_free(&bt->ops);
    free(bt);
}
