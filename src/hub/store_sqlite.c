/*
 * store_sqlite.c - the sqlite store: the broker's jobs (every status, with payloads), key
 * records (state, stop marker) and emit dedup ids in one SQLite database in WAL mode.
 *
 * Durability: each batch is one transaction (BEGIN IMMEDIATE .. COMMIT). With
 * synchronous=FULL (default) a committed batch survives a process crash and a power loss;
 * with STORE_SQLITE_SYNC_NORMAL it survives a process crash (kill -9: the WAL is in the OS
 * page cache) but the last transactions may be lost on power loss. A crash during a commit
 * rolls that batch back entirely at the next open (SQLite's atomic commit), so the database
 * always reflects a prefix of the batches.
 *
 * Threading: the connection is opened with SQLITE_OPEN_FULLMUTEX; the store is used by one
 * thread at a time (load at start on the loop thread, then commits on a worker thread).
 */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS wsm_meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
    "INSERT OR IGNORE INTO wsm_meta(k, v) VALUES('schema', 'wsmesh-broker-1');"
    "CREATE TABLE IF NOT EXISTS jobs(id TEXT PRIMARY KEY, rec TEXT NOT NULL, payload BLOB);"
    "CREATE TABLE IF NOT EXISTS keys(queue TEXT NOT NULL, key TEXT NOT NULL, rec TEXT NOT "
    "NULL, PRIMARY KEY(queue, key));"
    "CREATE TABLE IF NOT EXISTS dedup(id TEXT PRIMARY KEY, root TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS dedup_root ON dedup(root);";

static int db_err(store *s, wsm_err *err, const char *what)
{
    return wsm_err_set(err, WSM_E_IO, "sqlite store: %s: %s", what,
                       s->db ? sqlite3_errmsg(s->db) : "no database");
}

void store_sqlite_close(store *s)
{
    sqlite3_stmt *sts[] = {s->st_put_payload, s->st_put,       s->st_del,      s->st_key_put,
                           s->st_key_del,     s->st_dedup_put, s->st_dedup_del};
    for (size_t i = 0; i < sizeof sts / sizeof *sts; i++)
        sqlite3_finalize(sts[i]);
    if (s->db)
        sqlite3_close(s->db);
    s->db = NULL;
}

store *store_sqlite_open(const char *path, unsigned flags, wsm_err *err)
{
    if (!path || !*path) {
        wsm_err_set(err, WSM_E_BAD_FIELD, "store.path: required for the sqlite store");
        return NULL;
    }
    store *s = calloc(1, sizeof *s);
    if (!s) {
        wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        return NULL;
    }
    s->kind = STORE_SQLITE;
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        wsm_err_set(err, WSM_E_IO, "sqlite store: cannot open '%s': %s", path,
                    s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    char *msg = NULL;
    const char *sync = (flags & STORE_SQLITE_SYNC_NORMAL) ? "PRAGMA synchronous=NORMAL;"
                                                          : "PRAGMA synchronous=FULL;";
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL;", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(s->db, sync, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        wsm_err_set(err, WSM_E_IO, "sqlite store '%s': %s", path, msg ? msg : "schema error");
        sqlite3_free(msg);
        goto fail;
    }
    sqlite3_stmt *chk = NULL;
    bool ok = false;
    if (sqlite3_prepare_v2(s->db, "SELECT v FROM wsm_meta WHERE k = 'schema'", -1, &chk, NULL) ==
            SQLITE_OK &&
        sqlite3_step(chk) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(chk, 0);
        ok = v && strcmp(v, "wsmesh-broker-1") == 0;
    }
    sqlite3_finalize(chk);
    if (!ok) {
        wsm_err_set(err, WSM_E_IO, "sqlite store '%s': not a wsmesh broker store (schema)", path);
        goto fail;
    }
    struct {
        sqlite3_stmt **st;
        const char *sql;
    } prep[] = {
        {&s->st_put_payload,
         "INSERT INTO jobs(id, rec, payload) VALUES(?1, ?2, ?3) ON CONFLICT(id) DO UPDATE "
         "SET rec = excluded.rec, payload = excluded.payload"},
        {&s->st_put, "INSERT INTO jobs(id, rec) VALUES(?1, ?2) ON CONFLICT(id) DO UPDATE SET "
                     "rec = excluded.rec"},
        {&s->st_del, "DELETE FROM jobs WHERE id = ?1"},
        {&s->st_key_put, "INSERT INTO keys(queue, key, rec) VALUES(?1, ?2, ?3) ON "
                         "CONFLICT(queue, key) DO UPDATE SET rec = excluded.rec"},
        {&s->st_key_del, "DELETE FROM keys WHERE queue = ?1 AND key = ?2"},
        {&s->st_dedup_put, "INSERT OR REPLACE INTO dedup(id, root) VALUES(?1, ?2)"},
        {&s->st_dedup_del, "DELETE FROM dedup WHERE root = ?1"},
    };
    for (size_t i = 0; i < sizeof prep / sizeof *prep; i++)
        if (sqlite3_prepare_v3(s->db, prep[i].sql, -1, SQLITE_PREPARE_PERSISTENT, prep[i].st,
                               NULL) != SQLITE_OK) {
            db_err(s, err, "prepare");
            goto fail;
        }
    return s;
fail:
    store_sqlite_close(s);
    free(s);
    return NULL;
}

/* ------------------------------------------------------------------ load */

int store_sqlite_load(store *s, broker *b, wsm_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = WSM_OK;
    if (sqlite3_prepare_v2(s->db, "SELECT id, rec, payload FROM jobs", -1, &st, NULL) != SQLITE_OK)
        return db_err(s, err, "load jobs");
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW && rc == WSM_OK) {
        const char *rec = (const char *)sqlite3_column_text(st, 1);
        int rec_len = sqlite3_column_bytes(st, 1);
        const void *pl = sqlite3_column_blob(st, 2);
        int pl_len = sqlite3_column_bytes(st, 2);
        rc = broker_restore_job(b, rec ? rec : "", (size_t)rec_len, pl, (size_t)pl_len, err);
    }
    if (rc == WSM_OK && r != SQLITE_DONE && r != SQLITE_ROW)
        rc = db_err(s, err, "load jobs");
    sqlite3_finalize(st);
    if (rc)
        return rc;
    if (sqlite3_prepare_v2(s->db, "SELECT queue, key, rec FROM keys", -1, &st, NULL) != SQLITE_OK)
        return db_err(s, err, "load keys");
    while ((r = sqlite3_step(st)) == SQLITE_ROW && rc == WSM_OK) {
        const char *rec = (const char *)sqlite3_column_text(st, 2);
        rc = broker_restore_key(b, (const char *)sqlite3_column_text(st, 0),
                                (const char *)sqlite3_column_text(st, 1), rec,
                                (size_t)sqlite3_column_bytes(st, 2), err);
    }
    if (rc == WSM_OK && r != SQLITE_DONE && r != SQLITE_ROW)
        rc = db_err(s, err, "load keys");
    sqlite3_finalize(st);
    if (rc)
        return rc;
    if (sqlite3_prepare_v2(s->db, "SELECT id, root FROM dedup", -1, &st, NULL) != SQLITE_OK)
        return db_err(s, err, "load dedup");
    while ((r = sqlite3_step(st)) == SQLITE_ROW && rc == WSM_OK)
        rc = broker_restore_dedup(b, (const char *)sqlite3_column_text(st, 0),
                                  (const char *)sqlite3_column_text(st, 1), err);
    if (rc == WSM_OK && r != SQLITE_DONE && r != SQLITE_ROW)
        rc = db_err(s, err, "load dedup");
    sqlite3_finalize(st);
    if (rc)
        return rc;
    return broker_restore_finish(b, err);
}

/* ------------------------------------------------------------------ commit */

typedef struct rd {
    const unsigned char *p, *end;
} rd;

static bool get_field(rd *r, const void **p, size_t *n)
{
    uint32_t l;
    if ((size_t)(r->end - r->p) < 4)
        return false;
    memcpy(&l, r->p, 4);
    r->p += 4;
    if ((size_t)(r->end - r->p) < l)
        return false;
    *p = r->p;
    *n = l;
    r->p += l;
    return true;
}

static int bind_field(sqlite3_stmt *st, int i, const void *p, size_t n, bool blob)
{
    if (blob)
        return sqlite3_bind_blob64(st, i, n ? p : "", n, SQLITE_STATIC);
    return sqlite3_bind_text64(st, i, n ? p : "", n, SQLITE_STATIC, SQLITE_UTF8);
}

int store_sqlite_commit(store *s, store_batch *bt, wsm_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) {
        int rc = wsm_err_set(err, WSM_E_IO, "sqlite store: begin: %s", msg ? msg : "");
        sqlite3_free(msg);
        return rc;
    }
    rd r = {bt->ops.data, bt->ops.len ? bt->ops.data + bt->ops.len : bt->ops.data};
    int rc = WSM_OK;
    while (r.p < r.end && rc == WSM_OK) {
        char tag = (char)*r.p++;
        const void *f[3] = {0};
        size_t n[3] = {0};
        int nf;
        sqlite3_stmt *st;
        bool blob3 = false;
        switch (tag) {
        case 'P':
            st = s->st_put_payload;
            nf = 3;
            blob3 = true;
            break;
        case 'p':
            st = s->st_put;
            nf = 2;
            break;
        case 'J':
            st = s->st_del;
            nf = 1;
            break;
        case 'K':
            st = s->st_key_put;
            nf = 3;
            break;
        case 'k':
            st = s->st_key_del;
            nf = 2;
            break;
        case 'D':
            st = s->st_dedup_put;
            nf = 2;
            break;
        case 'R':
            st = s->st_dedup_del;
            nf = 1;
            break;
        default:
            rc = wsm_err_set(err, WSM_E_INTERNAL, "sqlite store: corrupt batch (tag %d)", tag);
            continue;
        }
        for (int i = 0; i < nf; i++)
            if (!get_field(&r, &f[i], &n[i])) {
                rc = wsm_err_set(err, WSM_E_INTERNAL, "sqlite store: truncated batch");
                break;
            }
        if (rc)
            break;
        for (int i = 0; i < nf; i++)
            bind_field(st, i + 1, f[i], n[i], blob3 && i == 2);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_err(s, err, "write");
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    if (rc == WSM_OK) {
        if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
            rc = wsm_err_set(err, WSM_E_IO, "sqlite store: commit: %s", msg ? msg : "");
            sqlite3_free(msg);
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        }
    } else {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}
