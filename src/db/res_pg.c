/*
 * res_pg.c - the PostgreSQL backend of libresults (URL postgresql://... via libpq).
 *
 * Calls are synchronous libpq calls: they block the calling thread (see results.h). A frame
 * batch is ONE prepared statement: the columns travel as binary arrays (float8[], text[],
 * int4[]) and are expanded server-side with unnest(...) WITH ORDINALITY into a multi-row
 * INSERT ... ON CONFLICT DO UPDATE; the update is skipped for rows that are already identical,
 * so a redelivered batch writes no new row versions. Rows are inserted in ascending frame order,
 * so two writers on one recording lock rows in the same order (a deadlock can still be reported
 * by the server; the common layer repeats the transaction).
 *
 * Failure classes: SQLSTATE class 08 or a broken connection -> RES_T_LOST (the common layer
 * calls pg_reconnect with backoff and repeats); 40001/40P01 -> RES_T_RETRY. After a reconnect
 * the prepared statement is prepared again (prepared == false).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "res_internal.h"

#define OID_INT8     20
#define OID_INT4     23
#define OID_TEXT     25
#define OID_FLOAT8   701
#define OID_INT4ARR  1007
#define OID_TEXTARR  1009
#define OID_FLOAT8AR 1022

typedef struct pg_be {
    PGconn *conn;
    char where[160]; /* host:port/db for messages (never the password) */
    bool prepared;
    unsigned char *arr[9]; /* binary array buffers of the frames statement */
    size_t arr_cap[9];
} pg_be;

static const char *const pg_migrations[RES_SCHEMA_VERSION] = {
    "CREATE TABLE recordings (id TEXT NOT NULL PRIMARY KEY, path TEXT, sha256 TEXT, "
    "frames BIGINT, t_start DOUBLE PRECISION, t_end DOUBLE PRECISION, status TEXT, "
    "created_at TEXT);"
    "CREATE TABLE aeb_frames (recording_id TEXT NOT NULL, frame BIGINT NOT NULL, "
    "t DOUBLE PRECISION, ego_v DOUBLE PRECISION, \"range\" DOUBLE PRECISION, "
    "rel_v DOUBLE PRECISION, ttc DOUBLE PRECISION, state TEXT, fcw BIGINT, "
    "decel DOUBLE PRECISION, collision BIGINT, PRIMARY KEY (recording_id, frame));"
    "CREATE TABLE aeb_events (recording_id TEXT NOT NULL, seq BIGINT NOT NULL, "
    "t DOUBLE PRECISION, kind TEXT NOT NULL, ttc DOUBLE PRECISION, ego_v DOUBLE PRECISION, "
    "\"range\" DOUBLE PRECISION, rel_v DOUBLE PRECISION, stage TEXT, "
    "impact_speed_kmh DOUBLE PRECISION, PRIMARY KEY (recording_id, seq));"
    "CREATE TABLE aeb_summary (recording_id TEXT NOT NULL PRIMARY KEY, frames BIGINT, "
    "min_ttc DOUBLE PRECISION, t_min_ttc DOUBLE PRECISION, max_stage TEXT, collision BIGINT, "
    "impact_speed_kmh DOUBLE PRECISION, first_fcw_t DOUBLE PRECISION, "
    "first_brake_t DOUBLE PRECISION, params TEXT);",
    "CREATE INDEX recordings_created_at ON recordings (created_at DESC, id);",
    ("CREATE TABLE recording_aliases (alias TEXT NOT NULL PRIMARY KEY, "
     "recording_id TEXT NOT NULL);"),
};

static const char frames_sql[] =
    "INSERT INTO aeb_frames (recording_id, frame, t, ego_v, \"range\", rel_v, ttc, state, fcw, "
    "decel, collision) "
    "SELECT $1, $2 + u.ord - 1, u.t, u.ego_v, u.rng, u.rel_v, u.ttc, u.state, u.fcw, u.decel, "
    "u.collision FROM unnest($3::float8[], $4::float8[], $5::float8[], $6::float8[], "
    "$7::float8[], $8::text[], $9::int4[], $10::float8[], $11::int4[]) WITH ORDINALITY "
    "AS u(t, ego_v, rng, rel_v, ttc, state, fcw, decel, collision, ord) "
    "ON CONFLICT (recording_id, frame) DO UPDATE SET t = EXCLUDED.t, ego_v = EXCLUDED.ego_v, "
    "\"range\" = EXCLUDED.\"range\", rel_v = EXCLUDED.rel_v, ttc = EXCLUDED.ttc, "
    "state = EXCLUDED.state, fcw = EXCLUDED.fcw, decel = EXCLUDED.decel, "
    "collision = EXCLUDED.collision WHERE (aeb_frames.t, aeb_frames.ego_v, aeb_frames.\"range\", "
    "aeb_frames.rel_v, aeb_frames.ttc, aeb_frames.state, aeb_frames.fcw, aeb_frames.decel, "
    "aeb_frames.collision) IS DISTINCT FROM (EXCLUDED.t, EXCLUDED.ego_v, EXCLUDED.\"range\", "
    "EXCLUDED.rel_v, EXCLUDED.ttc, EXCLUDED.state, EXCLUDED.fcw, EXCLUDED.decel, "
    "EXCLUDED.collision)";

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

/* Classifies a failed result (res may be NULL) and fills err. */
static int pg_fail(res_db *db, PGresult *res, const char *what, res_err *err)
{
    pg_be *b = db->be;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(b->conn));
    if (!msg[0])
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(b->conn));
    trim(msg);
    int code = RES_E_DB;
    if (PQstatus(b->conn) != CONNECTION_OK || (state && strncmp(state, "08", 2) == 0) ||
        (state && strncmp(state, "57P", 3) == 0)) {
        db->transient = RES_T_LOST;
        code = RES_E_IO;
    } else if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)) {
        db->transient = RES_T_RETRY;
    } else if (state && strcmp(state, "55P03") == 0) {
        code = RES_E_BUSY;
    } else if (state && (strncmp(state, "53", 2) == 0 || strncmp(state, "58", 2) == 0)) {
        code = RES_E_IO;
    } else if (state && strncmp(state, "22", 2) == 0) {
        code = RES_E_BAD_INPUT;
    } else if (state && strcmp(state, "42P01") == 0) {
        code = RES_E_SCHEMA;
    }
    return res_err_set(err, code, "postgresql %s (%s)%s%s: %s", what, b->where,
                       state ? " SQLSTATE " : "", state ? state : "", msg);
}

static int pg_check(res_db *db, PGresult *res, const char *what, res_err *err)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return RES_OK;
    return pg_fail(db, res, what, err);
}

static int pg_exec(res_db *db, const char *sql, res_err *err)
{
    pg_be *b = db->be;
    PGresult *res = PQexec(b->conn, sql);
    int rc = pg_check(db, res, "exec", err);
    PQclear(res);
    return rc;
}

static int pg_query(res_db *db, const char *sql, const res_val *params, int nparams,
                    const int *coltypes, int ncols, res_row_fn fn, void *ctx, res_err *err)
{
    pg_be *b = db->be;
    char num[16][32];
    const char *values[16];
    if (nparams > 16)
        return res_err_set(err, RES_E_DB, "internal: too many parameters");
    for (int i = 0; i < nparams; i++) {
        const res_val *v = &params[i];
        switch (v->type) {
        case RV_INT:
            snprintf(num[i], sizeof num[i], "%lld", (long long)v->i);
            values[i] = num[i];
            break;
        case RV_REAL:
            snprintf(num[i], sizeof num[i], "%.17g", v->d);
            values[i] = num[i];
            break;
        case RV_TEXT:
            values[i] = v->s;
            break;
        default:
            values[i] = NULL;
        }
    }
    PGresult *res = PQexecParams(b->conn, sql, nparams, NULL, values, NULL, NULL, 0);
    int rc = pg_check(db, res, "query", err);
    if (rc == RES_OK && fn && PQresultStatus(res) == PGRES_TUPLES_OK) {
        int rows = PQntuples(res);
        res_val cols[24];
        if (ncols > 24)
            ncols = 24;
        if (ncols > PQnfields(res))
            ncols = PQnfields(res);
        for (int r = 0; r < rows && rc == RES_OK; r++) {
            for (int c = 0; c < ncols; c++) {
                res_val *v = &cols[c];
                memset(v, 0, sizeof *v);
                if (PQgetisnull(res, r, c))
                    continue;
                const char *s = PQgetvalue(res, r, c);
                v->type = coltypes[c];
                if (v->type == RV_INT)
                    v->i = strtoll(s, NULL, 10);
                else if (v->type == RV_REAL)
                    v->d = strtod(s, NULL);
                else
                    v->s = s;
            }
            rc = fn(ctx, cols, ncols, err);
        }
    }
    PQclear(res);
    return rc;
}

static int pg_begin(res_db *db, int kind, res_err *err)
{
    return pg_exec(
        db, kind == RES_TX_WRITE ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        err);
}

static int pg_commit(res_db *db, res_err *err)
{
    return pg_exec(db, "COMMIT", err);
}

static void pg_rollback(res_db *db)
{
    pg_be *b = db->be;
    if (PQstatus(b->conn) == CONNECTION_OK && PQtransactionStatus(b->conn) != PQTRANS_IDLE)
        PQclear(PQexec(b->conn, "ROLLBACK"));
}

static int pg_lock_schema(res_db *db, res_err *err)
{
    /* a fixed advisory lock key for "libresults schema", released at COMMIT/ROLLBACK */
    return pg_exec(db, "SELECT pg_advisory_xact_lock(727365730001)", err);
}

/* ---------------------------------------------------------------- binary arrays */

static void put32(unsigned char *p, uint32_t v)
{
    v = htonl(v);
    memcpy(p, &v, 4);
}

static int arr_reserve(pg_be *b, int k, size_t need, res_err *err)
{
    if (b->arr_cap[k] >= need)
        return RES_OK;
    unsigned char *p = realloc(b->arr[k], need);
    if (!p)
        return res_err_set(err, RES_E_NOMEM, "out of memory");
    b->arr[k] = p;
    b->arr_cap[k] = need;
    return RES_OK;
}

static size_t arr_header(unsigned char *p, uint32_t elem_oid, size_t n, bool has_null)
{
    put32(p, 1);
    put32(p + 4, has_null ? 1 : 0);
    put32(p + 8, elem_oid);
    put32(p + 12, (uint32_t)n);
    put32(p + 16, 1);
    return 20;
}

static int arr_float8(pg_be *b, int k, const double *v, size_t n, int *len, res_err *err)
{
    int rc = arr_reserve(b, k, 20 + n * 12, err);
    if (rc)
        return rc;
    unsigned char *p = b->arr[k];
    size_t o = arr_header(p, OID_FLOAT8, n, true);
    for (size_t i = 0; i < n; i++) {
        if (!v || v[i] != v[i]) {
            put32(p + o, 0xffffffffu);
            o += 4;
            continue;
        }
        uint64_t bits;
        memcpy(&bits, &v[i], 8);
        put32(p + o, 8);
        put32(p + o + 4, (uint32_t)(bits >> 32));
        put32(p + o + 8, (uint32_t)bits);
        o += 12;
    }
    *len = (int)o;
    return RES_OK;
}

static int arr_int4(pg_be *b, int k, const int8_t *v, size_t n, int *len, res_err *err)
{
    int rc = arr_reserve(b, k, 20 + n * 8, err);
    if (rc)
        return rc;
    unsigned char *p = b->arr[k];
    size_t o = arr_header(p, OID_INT4, n, true);
    for (size_t i = 0; i < n; i++) {
        if (!v || v[i] < 0) {
            put32(p + o, 0xffffffffu);
            o += 4;
            continue;
        }
        put32(p + o, 4);
        put32(p + o + 4, (uint32_t)v[i]);
        o += 8;
    }
    *len = (int)o;
    return RES_OK;
}

static int arr_text(pg_be *b, int k, const char *const *v, size_t n, int *len, res_err *err)
{
    size_t need = 20 + n * 4;
    for (size_t i = 0; v && i < n; i++)
        need += v[i] ? strlen(v[i]) : 0;
    int rc = arr_reserve(b, k, need, err);
    if (rc)
        return rc;
    unsigned char *p = b->arr[k];
    size_t o = arr_header(p, OID_TEXT, n, true);
    for (size_t i = 0; i < n; i++) {
        if (!v || !v[i]) {
            put32(p + o, 0xffffffffu);
            o += 4;
            continue;
        }
        size_t l = strlen(v[i]);
        put32(p + o, (uint32_t)l);
        memcpy(p + o + 4, v[i], l);
        o += 4 + l;
    }
    *len = (int)o;
    return RES_OK;
}

static int pg_write_frames(res_db *db, const res_frames *f, res_err *err)
{
    pg_be *b = db->be;
    if (!b->prepared) {
        static const Oid types[11] = {OID_TEXT,     OID_INT8,     OID_FLOAT8AR, OID_FLOAT8AR,
                                      OID_FLOAT8AR, OID_FLOAT8AR, OID_FLOAT8AR, OID_TEXTARR,
                                      OID_INT4ARR,  OID_FLOAT8AR, OID_INT4ARR};
        PGresult *res = PQprepare(b->conn, "res_frames", frames_sql, 11, types);
        int rc = pg_check(db, res, "prepare frames", err);
        PQclear(res);
        if (rc)
            return rc;
        b->prepared = true;
    }
    int rc, lens[11], formats[11];
    const char *values[11];
    char first[24];
    snprintf(first, sizeof first, "%lld", (long long)f->first_frame);
    values[0] = f->recording_id;
    lens[0] = 0;
    formats[0] = 0;
    values[1] = first;
    lens[1] = 0;
    formats[1] = 0;
    const double *dcols[5] = {f->t, f->ego_v, f->range, f->rel_v, f->ttc};
    for (int k = 0; k < 5; k++)
        if ((rc = arr_float8(b, k, dcols[k], f->n, &lens[2 + k], err)))
            return rc;
    if ((rc = arr_text(b, 5, f->state, f->n, &lens[7], err)) ||
        (rc = arr_int4(b, 6, f->fcw, f->n, &lens[8], err)) ||
        (rc = arr_float8(b, 7, f->decel, f->n, &lens[9], err)) ||
        (rc = arr_int4(b, 8, f->collision, f->n, &lens[10], err)))
        return rc;
    for (int k = 0; k < 9; k++) {
        values[2 + k] = (const char *)b->arr[k];
        formats[2 + k] = 1;
    }
    PGresult *res = PQexecPrepared(b->conn, "res_frames", 11, values, lens, formats, 0);
    rc = pg_check(db, res, "insert aeb_frames", err);
    PQclear(res);
    return rc;
}

/* ---------------------------------------------------------------- connection */

static void pg_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* NOTICEs (e.g. "relation exists") are not errors; errors come by result */
}

static int pg_setup(res_db *db, res_err *err)
{
    pg_be *b = db->be;
    PQsetNoticeProcessor(b->conn, pg_notice, NULL);
    b->prepared = false;
    return pg_exec(db, "SET client_encoding = 'UTF8'", err);
}

static int pg_reconnect(res_db *db, res_err *err)
{
    pg_be *b = db->be;
    PQreset(b->conn);
    if (PQstatus(b->conn) != CONNECTION_OK) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(b->conn));
        trim(msg);
        return res_err_set(err, RES_E_CONNECT, "postgresql: cannot reconnect to %s: %s", b->where,
                           msg);
    }
    db->transient = RES_T_NONE;
    return pg_setup(db, err);
}

static void pg_close(res_db *db)
{
    pg_be *b = db->be;
    if (!b)
        return;
    PQfinish(b->conn);
    for (int k = 0; k < 9; k++)
        free(b->arr[k]);
    free(b);
    db->be = NULL;
}

static const res_ops pg_ops = {
    .name = "postgresql",
    .close = pg_close,
    .exec = pg_exec,
    .query = pg_query,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .lock_schema = pg_lock_schema,
    .write_frames = pg_write_frames,
    .reconnect = pg_reconnect,
    .migrations = pg_migrations,
};

int res_pg_open(res_db *db, const char *url, res_err *err)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    if (!opts) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s", perr ? perr : "out of memory");
        trim(msg);
        PQfreemem(perr);
        return res_err_set(err, RES_E_BAD_URL, "postgresql URL: %s", msg);
    }
    const char *host = NULL, *port = NULL, *dbname = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0 || (strcmp(o->keyword, "hostaddr") == 0 && !host))
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            dbname = o->val;
    }
    pg_be *b = calloc(1, sizeof *b);
    if (!b) {
        PQconninfoFree(opts);
        return res_err_set(err, RES_E_NOMEM, "out of memory");
    }
    snprintf(b->where, sizeof b->where, "%s:%s/%s", host ? host : "localhost", port ? port : "5432",
             dbname ? dbname : "(default)");
    PQconninfoFree(opts);
    db->be = b;
    db->ops = &pg_ops;
    /* defaults first: the URL (expanded in place of dbname) overrides them */
    static const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname",
                                       NULL};
    const char *vals[] = {"10", "wsmesh-results", url, NULL};
    b->conn = PQconnectdbParams(keys, vals, 1);
    if (!b->conn || PQstatus(b->conn) != CONNECTION_OK) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s", b->conn ? PQerrorMessage(b->conn) : "out of memory");
        trim(msg);
        int rc =
            res_err_set(err, RES_E_CONNECT, "postgresql: cannot connect to %s: %s", b->where, msg);
        pg_close(db);
        db->ops = NULL;
        return rc;
    }
    int rc = pg_setup(db, err);
    if (rc) {
        pg_close(db);
        db->ops = NULL;
    }
    return rc;
}
