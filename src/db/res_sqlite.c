/*
 * res_sqlite.c - the SQLite backend of libresults (URL sqlite:PATH[?options]).
 *
 * The file is opened in WAL mode with synchronous=NORMAL (durable against a crash of the
 * process; `synchronous=full` also against power loss) and a busy timeout, so readers never
 * block and several writers (threads with their own handles, or processes) take turns: every
 * write transaction starts with BEGIN IMMEDIATE, which takes the write lock up front and so
 * cannot deadlock on a lock upgrade. Statements are prepared once per handle and cached by the
 * address of their SQL text (all SQL of the library is static). Frame batches are written with
 * a 64-row multi-VALUES upsert plus a one-row statement for the remainder.
 *
 * Invariant: outside a call no statement is active (each is reset after use), so BEGIN/COMMIT
 * never meet a pending statement.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "res_internal.h"

#define FRAME_COLS  11
#define MULTI_ROWS  64
#define CACHE_SLOTS 24

typedef struct sq_cached {
    const char *key;
    sqlite3_stmt *st;
} sq_cached;

typedef struct sq_be {
    sqlite3 *h;
    char *path;
    sq_cached cache[CACHE_SLOTS];
    sqlite3_stmt *frames_multi;
    sqlite3_stmt *frames_one;
} sq_be;

static const char *const sqlite_migrations[RES_SCHEMA_VERSION] = {
    "CREATE TABLE recordings (id TEXT NOT NULL PRIMARY KEY, path TEXT, sha256 TEXT, "
    "frames INTEGER, t_start REAL, t_end REAL, status TEXT, created_at TEXT);"
    "CREATE TABLE aeb_frames (recording_id TEXT NOT NULL, frame INTEGER NOT NULL, t REAL, "
    "ego_v REAL, \"range\" REAL, rel_v REAL, ttc REAL, state TEXT, fcw INTEGER, decel REAL, "
    "collision INTEGER, PRIMARY KEY (recording_id, frame)) WITHOUT ROWID;"
    "CREATE TABLE aeb_events (recording_id TEXT NOT NULL, seq INTEGER NOT NULL, t REAL, "
    "kind TEXT NOT NULL, ttc REAL, ego_v REAL, \"range\" REAL, rel_v REAL, stage TEXT, "
    "impact_speed_kmh REAL, PRIMARY KEY (recording_id, seq)) WITHOUT ROWID;"
    "CREATE TABLE aeb_summary (recording_id TEXT NOT NULL PRIMARY KEY, frames INTEGER, "
    "min_ttc REAL, t_min_ttc REAL, max_stage TEXT, collision INTEGER, impact_speed_kmh REAL, "
    "first_fcw_t REAL, first_brake_t REAL, params TEXT);",
    "CREATE INDEX recordings_created_at ON recordings (created_at DESC, id);",
    ("CREATE TABLE recording_aliases (alias TEXT NOT NULL PRIMARY KEY, "
     "recording_id TEXT NOT NULL) WITHOUT ROWID;"),
};

static int sq_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return RES_E_BUSY;
    case SQLITE_NOMEM:
        return RES_E_NOMEM;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
        return RES_E_IO;
    default:
        return RES_E_DB;
    }
}

static int sq_fail(res_db *db, int rc, const char *what, res_err *err)
{
    sq_be *b = db->be;
    return res_err_set(err, sq_code(rc), "sqlite %s (%s): %s", what, b->path,
                       b->h ? sqlite3_errmsg(b->h) : sqlite3_errstr(rc));
}

static int sq_prepare(res_db *db, const char *sql, sqlite3_stmt **out, res_err *err)
{
    sq_be *b = db->be;
    /* our generic SQL uses $N placeholders; SQLite's numbered form is ?N */
    size_t n = strlen(sql);
    char stackbuf[2048];
    char *s = n < sizeof stackbuf ? stackbuf : malloc(n + 1);
    if (!s)
        return res_err_set(err, RES_E_NOMEM, "out of memory");
    for (size_t i = 0; i <= n; i++)
        s[i] = sql[i] == '$' ? '?' : sql[i];
    int rc = sqlite3_prepare_v3(b->h, s, (int)n + 1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    if (s != stackbuf)
        free(s);
    if (rc != SQLITE_OK)
        return sq_fail(db, rc, "prepare", err);
    return RES_OK;
}

static int sq_stmt(res_db *db, const char *sql, sqlite3_stmt **out, res_err *err)
{
    sq_be *b = db->be;
    int free_slot = -1;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        if (b->cache[i].key == sql) {
            *out = b->cache[i].st;
            return RES_OK;
        }
        if (!b->cache[i].key && free_slot < 0)
            free_slot = i;
    }
    int rc = sq_prepare(db, sql, out, err);
    if (rc)
        return rc;
    if (free_slot >= 0) {
        b->cache[free_slot].key = sql;
        b->cache[free_slot].st = *out;
    }
    return RES_OK;
}

static void sq_release(res_db *db, const char *sql, sqlite3_stmt *st)
{
    sq_be *b = db->be;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (b->cache[i].st == st)
            return;
    sqlite3_finalize(st); /* cache full: not kept */
}

static int sq_bind(sqlite3_stmt *st, int idx, const res_val *v)
{
    switch (v->type) {
    case RV_INT:
        return sqlite3_bind_int64(st, idx, v->i);
    case RV_REAL:
        return sqlite3_bind_double(st, idx, v->d);
    case RV_TEXT:
        return sqlite3_bind_text(st, idx, v->s, -1, SQLITE_STATIC);
    default:
        return sqlite3_bind_null(st, idx);
    }
}

static int sq_query(res_db *db, const char *sql, const res_val *params, int nparams,
                    const int *coltypes, int ncols, res_row_fn fn, void *ctx, res_err *err)
{
    sqlite3_stmt *st;
    int rc = sq_stmt(db, sql, &st, err);
    if (rc)
        return rc;
    for (int i = 0; i < nparams; i++) {
        int brc = sq_bind(st, i + 1, &params[i]);
        if (brc != SQLITE_OK) {
            rc = sq_fail(db, brc, "bind", err);
            goto out;
        }
    }
    res_val cols[24];
    if (ncols > 24)
        ncols = 24;
    for (;;) {
        int src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = sq_fail(db, src, "step", err);
            goto out;
        }
        if (!fn)
            continue;
        for (int c = 0; c < ncols; c++) {
            res_val *v = &cols[c];
            memset(v, 0, sizeof *v);
            if (sqlite3_column_type(st, c) == SQLITE_NULL)
                continue;
            v->type = coltypes[c];
            if (v->type == RV_INT)
                v->i = sqlite3_column_int64(st, c);
            else if (v->type == RV_REAL)
                v->d = sqlite3_column_double(st, c);
            else if (v->type == RV_TEXT)
                v->s = (const char *)sqlite3_column_text(st, c);
        }
        rc = fn(ctx, cols, ncols, err);
        if (rc)
            goto out;
    }
out:
    sq_release(db, sql, st);
    return rc;
}

static int sq_exec(res_db *db, const char *sql, res_err *err)
{
    sq_be *b = db->be;
    char *msg = NULL;
    int rc = sqlite3_exec(b->h, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        int code = res_err_set(err, sq_code(rc), "sqlite (%s): %s", b->path,
                               msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return code;
    }
    return RES_OK;
}

static int sq_begin(res_db *db, int kind, res_err *err)
{
    int rc = sq_exec(db, kind == RES_TX_WRITE ? "BEGIN IMMEDIATE" : "BEGIN", err);
    if (rc == RES_E_BUSY)
        return res_err_set(err, RES_E_BUSY,
                           "sqlite (%s): database locked by another writer for more than %d ms",
                           ((sq_be *)db->be)->path, db->busy_timeout_ms);
    return rc;
}

static int sq_commit(res_db *db, res_err *err)
{
    return sq_exec(db, "COMMIT", err);
}

static void sq_rollback(res_db *db)
{
    sq_be *b = db->be;
    if (!sqlite3_get_autocommit(b->h))
        sqlite3_exec(b->h, "ROLLBACK", NULL, NULL, NULL);
}

static int sq_lock_schema(res_db *db, res_err *err)
{
    return RES_OK; /* BEGIN IMMEDIATE already holds the write lock */
}

static const char frames_upsert_tail[] =
    " ON CONFLICT (recording_id, frame) DO UPDATE SET t = excluded.t, ego_v = excluded.ego_v, "
    "\"range\" = excluded.\"range\", rel_v = excluded.rel_v, ttc = excluded.ttc, "
    "state = excluded.state, fcw = excluded.fcw, decel = excluded.decel, "
    "collision = excluded.collision";

static int sq_frames_stmt(res_db *db, int rows, sqlite3_stmt **out, res_err *err)
{
    sq_be *b = db->be;
    char *sql = malloc(256 + (size_t)rows * 32 + sizeof frames_upsert_tail);
    if (!sql)
        return res_err_set(err, RES_E_NOMEM, "out of memory");
    size_t n = (size_t)sprintf(sql, "INSERT INTO aeb_frames (recording_id, frame, t, ego_v, "
                                    "\"range\", rel_v, ttc, state, fcw, decel, collision) VALUES ");
    for (int r = 0; r < rows; r++)
        n += (size_t)sprintf(sql + n, "%s(?,?,?,?,?,?,?,?,?,?,?)", r ? "," : "");
    memcpy(sql + n, frames_upsert_tail, sizeof frames_upsert_tail);
    int rc = sqlite3_prepare_v3(b->h, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    free(sql);
    if (rc != SQLITE_OK)
        return sq_fail(db, rc, "prepare", err);
    return RES_OK;
}

static inline void bind_real(sqlite3_stmt *st, int idx, const double *col, size_t i)
{
    if (col && col[i] == col[i])
        sqlite3_bind_double(st, idx, col[i]);
    else
        sqlite3_bind_null(st, idx);
}

static inline void bind_flag(sqlite3_stmt *st, int idx, const int8_t *col, size_t i)
{
    if (col && col[i] >= 0)
        sqlite3_bind_int(st, idx, col[i]);
    else
        sqlite3_bind_null(st, idx);
}

static void bind_frame(sqlite3_stmt *st, int base, const res_frames *f, size_t i, int idlen)
{
    sqlite3_bind_text(st, base + 1, f->recording_id, idlen, SQLITE_STATIC);
    sqlite3_bind_int64(st, base + 2, f->first_frame + (int64_t)i);
    bind_real(st, base + 3, f->t, i);
    bind_real(st, base + 4, f->ego_v, i);
    bind_real(st, base + 5, f->range, i);
    bind_real(st, base + 6, f->rel_v, i);
    bind_real(st, base + 7, f->ttc, i);
    if (f->state && f->state[i])
        sqlite3_bind_text(st, base + 8, f->state[i], -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, base + 8);
    bind_flag(st, base + 9, f->fcw, i);
    bind_real(st, base + 10, f->decel, i);
    bind_flag(st, base + 11, f->collision, i);
}

static int sq_run(res_db *db, sqlite3_stmt *st, res_err *err)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return sq_fail(db, rc, "insert aeb_frames", err);
    return RES_OK;
}

static int sq_write_frames(res_db *db, const res_frames *f, res_err *err)
{
    sq_be *b = db->be;
    int rc;
    if (!b->frames_multi && (rc = sq_frames_stmt(db, MULTI_ROWS, &b->frames_multi, err)))
        return rc;
    if (!b->frames_one && (rc = sq_frames_stmt(db, 1, &b->frames_one, err)))
        return rc;
    int idlen = (int)strlen(f->recording_id);
    size_t i = 0;
    for (; i + MULTI_ROWS <= f->n; i += MULTI_ROWS) {
        for (int r = 0; r < MULTI_ROWS; r++)
            bind_frame(b->frames_multi, r * FRAME_COLS, f, i + (size_t)r, idlen);
        if ((rc = sq_run(db, b->frames_multi, err)))
            return rc;
    }
    for (; i < f->n; i++) {
        bind_frame(b->frames_one, 0, f, i, idlen);
        if ((rc = sq_run(db, b->frames_one, err)))
            return rc;
    }
    return RES_OK;
}

static void sq_close(res_db *db)
{
    sq_be *b = db->be;
    if (!b)
        return;
    for (int i = 0; i < CACHE_SLOTS; i++)
        sqlite3_finalize(b->cache[i].st);
    sqlite3_finalize(b->frames_multi);
    sqlite3_finalize(b->frames_one);
    sqlite3_close_v2(b->h);
    free(b->path);
    free(b);
    db->be = NULL;
}

static const res_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .exec = sq_exec,
    .query = sq_query,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .lock_schema = sq_lock_schema,
    .write_frames = sq_write_frames,
    .reconnect = NULL,
    .migrations = sqlite_migrations,
};

/* Parses "PATH[?k=v&k=v]" into the path and the options. */
static int sq_parse(const char *rest, char **path, int *busy_ms, const char **sync, res_err *err)
{
    if (strncmp(rest, "//", 2) == 0)
        rest += 2; /* sqlite:///abs/path */
    const char *q = strchr(rest, '?');
    size_t plen = q ? (size_t)(q - rest) : strlen(rest);
    if (plen == 0)
        return res_err_set(err, RES_E_BAD_URL, "sqlite URL: empty path (use sqlite:PATH)");
    *path = strndup(rest, plen);
    if (!*path)
        return res_err_set(err, RES_E_NOMEM, "out of memory");
    *sync = "NORMAL";
    while (q && *q) {
        q++;
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        char opt[64];
        if (len >= sizeof opt)
            goto bad;
        memcpy(opt, q, len);
        opt[len] = '\0';
        char *eq = strchr(opt, '=');
        if (!eq)
            goto bad;
        *eq = '\0';
        const char *val = eq + 1;
        if (strcmp(opt, "busy_timeout_ms") == 0) {
            char *end;
            errno = 0;
            long v = strtol(val, &end, 10);
            if (errno || *end || end == val || v < 0 || v > 3600000)
                return res_err_set(err, RES_E_BAD_URL,
                                   "sqlite URL: busy_timeout_ms=%s, expected 0..3600000", val);
            *busy_ms = (int)v;
        } else if (strcmp(opt, "synchronous") == 0) {
            if (strcmp(val, "normal") == 0)
                *sync = "NORMAL";
            else if (strcmp(val, "full") == 0)
                *sync = "FULL";
            else if (strcmp(val, "off") == 0)
                *sync = "OFF";
            else
                return res_err_set(err, RES_E_BAD_URL,
                                   "sqlite URL: synchronous=%s, expected normal, full or off", val);
        } else {
            return res_err_set(err, RES_E_BAD_URL,
                               "sqlite URL: unknown option \"%s\" (busy_timeout_ms, synchronous)",
                               opt);
        }
        q = amp;
    }
    return RES_OK;
bad:
    return res_err_set(err, RES_E_BAD_URL, "sqlite URL: malformed option near \"%.30s\"", q);
}

int res_sqlite_open(res_db *db, const char *rest, res_err *err)
{
    sq_be *b = calloc(1, sizeof *b);
    if (!b)
        return res_err_set(err, RES_E_NOMEM, "out of memory");
    db->be = b;
    db->ops = &sqlite_ops;
    const char *sync = NULL;
    int busy = db->busy_timeout_ms;
    int rc = sq_parse(rest, &b->path, &busy, &sync, err);
    if (rc)
        goto fail;
    db->busy_timeout_ms = busy;
    int src = sqlite3_open_v2(
        b->path, &b->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        rc = res_err_set(err, RES_E_CONNECT, "sqlite: cannot open %s: %s", b->path,
                         b->h ? sqlite3_errmsg(b->h) : sqlite3_errstr(src));
        goto fail;
    }
    sqlite3_extended_result_codes(b->h, 1);
    sqlite3_busy_timeout(b->h, busy);
    /* journal_mode=WAL is persistent in the file ("memory" stays for :memory: databases).
     * Switching needs an exclusive lock and SQLite does not call the busy handler for it when
     * another process opens the same new file at the same moment: retry within the timeout. */
    for (int waited = 0;; waited += 10) {
        rc = sq_exec(db, "PRAGMA journal_mode=WAL", err);
        if (rc != RES_E_BUSY || waited >= busy)
            break;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (rc)
        goto fail;
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA synchronous=%s", sync);
    if ((rc = sq_exec(db, pragma, err)))
        goto fail;
    return RES_OK;
fail:
    if (rc == RES_E_IO && strstr(err ? err->msg : "", "not a database"))
        rc = RES_E_CONNECT;
    sq_close(db);
    db->ops = NULL;
    if (err)
        err->code = rc;
    return rc;
}
