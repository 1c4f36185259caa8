/*
 * store_int.h - private layout shared by store_memory.c (the generic entry points and the
 * memory store) and store_sqlite.c (the sqlite store). Not a public header.
 *
 * A batch is a self-contained byte log of store operations (no pointer into the broker), so
 * that it can be committed on another thread while the broker keeps running:
 *   op := tag:u8 field*   field := len:u32 bytes
 *   'P' id rec payload   job upsert with its payload     'p' id rec   job upsert, keep payload
 *   'J' id               job delete                       'K' queue key rec   key upsert
 *   'k' queue key        key delete                       'D' id root  dedup id
 *   'R' root             dedup ids of a root deleted
 */
#ifndef WSM_STORE_INT_H
#define WSM_STORE_INT_H

#include "store.h"

#include <sqlite3.h>

enum { STORE_MEMORY = 0, STORE_SQLITE = 1 };

struct store {
    int kind;
    sqlite3 *db;
    sqlite3_stmt *st_put_payload, *st_put, *st_del, *st_key_put, *st_key_del, *st_dedup_put,
        *st_dedup_del;
};

struct store_batch {
    uint64_t seq;
    size_t rows;
    wsm_buf ops;
};

/* store_sqlite.c */
int store_sqlite_load(store *s, broker *b, wsm_err *err);
int store_sqlite_commit(store *s, store_batch *bt, wsm_err *err);
void store_sqlite_close(store *s);

#endif
