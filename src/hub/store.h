/*
 * store.h - persistence of the broker's state: "memory" (nothing survives a restart) and
 * "sqlite" (queued, deferred, scheduled, started and retained ended jobs with their payloads,
 * key state and emit dedup ids survive a restart).
 *
 * Flow, once per loop turn of the net layer:
 *
 *   store_batch *bt = store_batch_take(st, b);      // loop thread: collect broker changes
 *   if (bt) {                                        // (NULL: nothing to write)
 *       store_batch_commit(st, bt, &err);            // any ONE thread (e.g. uv_queue_work)
 *       seq = store_batch_seq(bt);                   // loop thread, after the commit:
 *       store_batch_free(bt);                        // answer every request whose
 *   }                                                // broker_change_seq <= seq
 *
 * store_batch_take copies everything the batch needs (records, payloads), so the broker keeps
 * running while the batch commits on another thread. At most one batch may be committing at
 * a time; changes made meanwhile stay pending in the broker and go into the next batch.
 *
 * Durability (sqlite): one transaction per batch, WAL journal, synchronous=FULL by default:
 * once store_batch_commit returned WSM_OK the batch survives a process crash (kill -9) and a
 * power loss; with STORE_SQLITE_SYNC_NORMAL it survives a process crash but the last batches
 * may be lost on power loss. A crash before the commit loses exactly the changes of the
 * uncommitted batches — none of which was acknowledged.
 */
#ifndef WSM_STORE_H
#define WSM_STORE_H

#include "broker.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct store store;
typedef struct store_batch store_batch;

#define STORE_SQLITE_SYNC_NORMAL 1u

/* A store that persists nothing (broker_config.persist = false). Never fails except NOMEM
 * (NULL). */
store *store_memory_new(void);
/* Opens (creating if needed) the sqlite database at path. flags: STORE_SQLITE_*.
 * Returns NULL and fills err (IO: cannot open / not a wsmesh store / schema error). */
store *store_sqlite_open(const char *path, unsigned flags, wsm_err *err);
/* Closes the store (no batch may be committing). Accepts NULL. */
void store_free(store *s);

/* "memory" or "sqlite". */
const char *store_kind(const store *s);
/* Whether the broker must track changes (set broker_config.persist to this). */
bool store_persistent(const store *s);

/* Loads everything stored into b (a fresh broker created with persist = true) and calls
 * broker_restore_finish. Memory store: only broker_restore_finish. Returns WSM_OK, IO,
 * BAD_FIELD (corrupt row), NOMEM. */
int store_load(store *s, broker *b, wsm_err *err);

/* Loop thread: collects the broker's pending changes into a new batch. Returns NULL when
 * there is nothing to write (always for the memory store) or on NOMEM (*code set; the
 * changes stay pending). code may be NULL. */
store_batch *store_batch_take(store *s, broker *b, int *code);
/* Any thread, one batch at a time: writes the batch in one transaction. Returns WSM_OK or
 * WSM_E_IO (err filled; the transaction was rolled back; the net layer should treat this as
 * fatal for durability: answer the covered requests with INTERNAL). */
int store_batch_commit(store *s, store_batch *bt, wsm_err *err);
/* The broker change seq the batch covers (requests with seq <= this are durable after a
 * successful commit). */
uint64_t store_batch_seq(const store_batch *bt);
/* Number of rows written by the batch (for metrics). */
size_t store_batch_size(const store_batch *bt);
/* Frees a batch (committed or not). Accepts NULL. */
void store_batch_free(store_batch *bt);

#ifdef __cplusplus
}
#endif
#endif
