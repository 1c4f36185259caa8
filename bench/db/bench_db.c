/*
 * bench_db.c - rows/s of libresults for AEB frame batches (default 2,000 rows) into SQLite and
 * into PostgreSQL, each against a plain loop of single-row inserts measured in the same run.
 *
 *   bench-db [--rows N] [--batch N] [--baseline-s S] [--dir DIR] [--pg URL]
 *
 * Per backend it measures, on a fresh database:
 *   batched   res_write_frames with N-row batches (one transaction and, on PostgreSQL, one
 *             statement per batch), new rows;
 *   redeliver the same batches again (the upsert update path: what a redelivery costs);
 *   baseline  a plain loop: one INSERT ... ON CONFLICT statement per row, autocommit (prepared
 *             once on SQLite; PQexecParams on PostgreSQL), run for at most --baseline-s seconds.
 * Settings are the library defaults: SQLite WAL + synchronous=NORMAL; PostgreSQL as configured
 * by the server (scripts/pg-test-cluster.sh: stock settings, fsync on). Without --pg (or
 * RES_BENCH_PG_URL) only SQLite is measured; bench/db/run.sh starts a throwaway server.
 * Prints a table and one JSON line {"bench":"db",...} with the ratios batched/baseline.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#ifdef RES_HAVE_PG
#include <libpq-fe.h>
#endif

#include "results.h"
#include "wsm_common.h"

typedef struct cols {
    size_t n;
    double *t, *ego_v, *range, *rel_v, *ttc, *decel;
    const char **state;
    int8_t *fcw, *coll;
} cols;

static const char *const states[5] = {"NONE", "FCW", "PB1", "PB2", "FB"};

static void cols_fill(cols *c, size_t n, int64_t first)
{
    c->n = n;
    for (size_t k = 0; k < n; k++) {
        int64_t i = first + (int64_t)k;
        c->t[k] = (double)i * 0.01;
        c->ego_v[k] = 13.9 - (double)(i % 1000) * 0.002;
        bool obj = i % 900 < 800;
        c->range[k] = obj ? 60.0 - (double)(i % 900) * 0.07 : NAN;
        c->rel_v[k] = obj ? -8.0 + (double)(i % 11) * 0.05 : NAN;
        c->ttc[k] = obj ? c->range[k] / 8.0 : NAN;
        int s = (int)((i / 173) % 5);
        c->state[k] = states[s];
        c->fcw[k] = (int8_t)(s > 0);
        c->decel[k] = (double[]){0, 0, 3.8, 5.3, 9.8}[s];
        c->coll[k] = 0;
    }
}

static int cols_alloc(cols *c, size_t n)
{
    c->t = calloc(n, sizeof(double));
    c->ego_v = calloc(n, sizeof(double));
    c->range = calloc(n, sizeof(double));
    c->rel_v = calloc(n, sizeof(double));
    c->ttc = calloc(n, sizeof(double));
    c->decel = calloc(n, sizeof(double));
    c->state = calloc(n, sizeof(char *));
    c->fcw = calloc(n, 1);
    c->coll = calloc(n, 1);
    return c->t && c->ego_v && c->range && c->rel_v && c->ttc && c->decel && c->state && c->fcw &&
                   c->coll
               ? 0
               : -1;
}

static void cols_free(cols *c)
{
    free(c->t);
    free(c->ego_v);
    free(c->range);
    free(c->rel_v);
    free(c->ttc);
    free(c->decel);
    free(c->state);
    free(c->fcw);
    free(c->coll);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Batched writes of rows 0..rows-1 via libresults; returns rows/s or -1. */
static double run_batched(res_db *db, const char *rec, size_t rows, size_t batch, cols *c)
{
    double busy = 0; /* time inside res_write_frames only (excludes generating the data) */
    for (size_t first = 0; first < rows; first += batch) {
        size_t n = rows - first < batch ? rows - first : batch;
        cols_fill(c, n, (int64_t)first);
        res_frames f = {.recording_id = rec,
                        .first_frame = (int64_t)first,
                        .n = n,
                        .t = c->t,
                        .ego_v = c->ego_v,
                        .range = c->range,
                        .rel_v = c->rel_v,
                        .ttc = c->ttc,
                        .state = c->state,
                        .fcw = c->fcw,
                        .decel = c->decel,
                        .collision = c->coll};
        res_err e;
        double t0 = now_s();
        if (res_write_frames(db, &f, &e) != RES_OK) {
            fprintf(stderr, "bench-db: write failed: %s\n", e.msg);
            return -1;
        }
        busy += now_s() - t0;
    }
    return (double)rows / busy;
}

static const char single_sql_sqlite[] =
    "INSERT INTO aeb_frames (recording_id, frame, t, ego_v, \"range\", rel_v, ttc, state, fcw, "
    "decel, collision) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT "
    "(recording_id, frame) DO UPDATE SET t = excluded.t, ego_v = excluded.ego_v, "
    "\"range\" = excluded.\"range\", rel_v = excluded.rel_v, ttc = excluded.ttc, "
    "state = excluded.state, fcw = excluded.fcw, decel = excluded.decel, "
    "collision = excluded.collision";

/* Baseline on SQLite: one prepared single-row upsert per row, each its own transaction. */
static double baseline_sqlite(const char *path, const char *rec, size_t max_rows, double budget_s,
                              cols *c, size_t *done)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    if (sqlite3_open(path, &h) != SQLITE_OK)
        return -1;
    sqlite3_busy_timeout(h, 10000);
    sqlite3_exec(h, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    if (sqlite3_prepare_v2(h, single_sql_sqlite, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench-db: %s\n", sqlite3_errmsg(h));
        sqlite3_close(h);
        return -1;
    }
    cols_fill(c, 1000, 0);
    double t0 = now_s(), t = t0;
    size_t i = 0;
    for (; i < max_rows && t - t0 < budget_s; i++) {
        size_t k = i % 1000;
        if (k == 0)
            cols_fill(c, 1000, (int64_t)i);
        sqlite3_bind_text(st, 1, rec, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (int64_t)i);
        double *d[6] = {c->t, c->ego_v, c->range, c->rel_v, c->ttc, NULL};
        for (int j = 0; j < 5; j++)
            if (isnan(d[j][k]))
                sqlite3_bind_null(st, 3 + j);
            else
                sqlite3_bind_double(st, 3 + j, d[j][k]);
        sqlite3_bind_text(st, 8, c->state[k], -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 9, c->fcw[k]);
        sqlite3_bind_double(st, 10, c->decel[k]);
        sqlite3_bind_int(st, 11, c->coll[k]);
        if (sqlite3_step(st) != SQLITE_DONE) {
            fprintf(stderr, "bench-db: %s\n", sqlite3_errmsg(h));
            break;
        }
        sqlite3_reset(st);
        if ((i & 63) == 0)
            t = now_s();
    }
    t = now_s();
    sqlite3_finalize(st);
    sqlite3_close(h);
    *done = i;
    return (double)i / (t - t0);
}

#ifdef RES_HAVE_PG
/* Baseline on PostgreSQL: one INSERT ... ON CONFLICT per row with PQexecParams, autocommit. */
static double baseline_pg(const char *url, const char *rec, size_t max_rows, double budget_s,
                          cols *c, size_t *done)
{
    PGconn *conn = PQconnectdb(url);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "bench-db: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return -1;
    }
    char sql[sizeof single_sql_sqlite + 32];
    /* the same statement with PostgreSQL placeholders */
    size_t o = 0;
    for (const char *p = single_sql_sqlite; *p; p++)
        sql[o++] = *p == '?' ? '$' : *p;
    sql[o] = '\0';
    cols_fill(c, 1000, 0);
    double t0 = now_s(), t = t0;
    size_t i = 0;
    for (; i < max_rows && t - t0 < budget_s; i++) {
        size_t k = i % 1000;
        if (k == 0)
            cols_fill(c, 1000, (int64_t)i);
        char buf[11][32];
        const char *v[11];
        v[0] = rec;
        snprintf(buf[1], 32, "%zu", i);
        double *d[5] = {c->t, c->ego_v, c->range, c->rel_v, c->ttc};
        for (int j = 0; j < 5; j++) {
            snprintf(buf[2 + j], 32, "%.17g", d[j][k]);
            v[2 + j] = isnan(d[j][k]) ? NULL : buf[2 + j];
        }
        v[1] = buf[1];
        v[7] = c->state[k];
        snprintf(buf[8], 32, "%d", c->fcw[k]);
        v[8] = buf[8];
        snprintf(buf[9], 32, "%.17g", c->decel[k]);
        v[9] = buf[9];
        snprintf(buf[10], 32, "%d", c->coll[k]);
        v[10] = buf[10];
        PGresult *r = PQexecParams(conn, sql, 11, NULL, v, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "bench-db: %s", PQerrorMessage(conn));
            PQclear(r);
            break;
        }
        PQclear(r);
        if ((i & 15) == 0)
            t = now_s();
    }
    t = now_s();
    PQfinish(conn);
    *done = i;
    return (double)i / (t - t0);
}
#endif

typedef struct result {
    const char *backend;
    double batched, redeliver, baseline;
    size_t rows, baseline_rows;
    double target;
} result;

static int bench_backend(const char *url, const char *sqlite_path, size_t rows, size_t batch,
                         double budget_s, cols *c, result *out)
{
    res_db *db = NULL;
    res_err e;
    if (res_open(url, NULL, &db, &e) != RES_OK) {
        fprintf(stderr, "bench-db: open %s: %s\n", url, e.msg);
        return -1;
    }
    char rec[64], base_rec[80];
    snprintf(rec, sizeof rec, "bench-%d-%lld", (int)getpid(), (long long)wsm_wall_ms());
    snprintf(base_rec, sizeof base_rec, "%s-single", rec);
    out->backend = res_backend(db);
    out->rows = rows;
    out->batched = run_batched(db, rec, rows, batch, c);
    out->redeliver = run_batched(db, rec, rows, batch, c);
    res_close(db);
    if (out->batched < 0 || out->redeliver < 0)
        return -1;
    size_t done = 0;
#ifdef RES_HAVE_PG
    if (!sqlite_path)
        out->baseline = baseline_pg(url, base_rec, rows, budget_s, c, &done);
    else
#endif
        out->baseline = baseline_sqlite(sqlite_path, base_rec, rows, budget_s, c, &done);
    out->baseline_rows = done;
    return out->baseline < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    size_t rows = 400000, batch = 2000;
    double budget_s = 3.0;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    const char *pg = getenv("RES_BENCH_PG_URL");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--rows") == 0 && v)
            rows = strtoul(v, NULL, 10), i++;
        else if (strcmp(a, "--batch") == 0 && v)
            batch = strtoul(v, NULL, 10), i++;
        else if (strcmp(a, "--baseline-s") == 0 && v)
            budget_s = strtod(v, NULL), i++;
        else if (strcmp(a, "--dir") == 0 && v)
            dir = v, i++;
        else if (strcmp(a, "--pg") == 0 && v)
            pg = v, i++;
        else {
            fprintf(stderr, "usage: bench-db [--rows N] [--batch N] [--baseline-s S] [--dir DIR] "
                            "[--pg URL]\n");
            return 2;
        }
    }
    if (rows < 1 || batch < 1 || batch > 100000 || !(budget_s > 0)) {
        fprintf(stderr, "bench-db: bad --rows/--batch/--baseline-s\n");
        return 2;
    }
    wsm_log_set_level(WSM_LOG_WARN);
    cols c;
    if (cols_alloc(&c, batch > 1000 ? batch : 1000)) {
        fprintf(stderr, "bench-db: out of memory\n");
        return 1;
    }
    result res[2];
    memset(res, 0, sizeof res);
    int nres = 0, rc = 0;

    char tmpl[512], path[600], url[640];
    snprintf(tmpl, sizeof tmpl, "%s/bench-db-XXXXXX", dir);
    if (!mkdtemp(tmpl)) {
        perror("bench-db: mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/results.db", tmpl);
    snprintf(url, sizeof url, "sqlite:%s", path);
    res[0].target = 300000;
    if (bench_backend(url, path, rows, batch, budget_s, &c, &res[0]) == 0)
        nres++;
    else
        rc = 1;
    char side[700];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int k = 0; k < 3; k++) {
        snprintf(side, sizeof side, "%s%s", path, sfx[k]);
        unlink(side);
    }
    rmdir(tmpl);

    if (pg && *pg) {
#ifdef RES_HAVE_PG
        res[nres].target = 100000;
        if (bench_backend(pg, NULL, rows, batch, budget_s, &c, &res[nres]) == 0)
            nres++;
        else
            rc = 1;
#else
        fprintf(stderr, "bench-db: built without libpq, PostgreSQL not measured\n");
        rc = 1;
#endif
    } else {
        fprintf(stderr, "bench-db: no PostgreSQL URL (--pg or RES_BENCH_PG_URL): SQLite only; "
                        "bench/db/run.sh starts a throwaway server\n");
    }
    cols_free(&c);

    printf("AEB frame rows/s, batches of %zu rows, %zu rows per run\n", batch, rows);
    printf("%-11s %14s %14s %16s %9s %8s %6s\n", "backend", "batched", "redelivered",
           "single-row loop", "ratio", "target", "met");
    for (int i = 0; i < nres; i++)
        printf("%-11s %14.0f %14.0f %16.0f %8.1fx %8.0f %6s\n", res[i].backend, res[i].batched,
               res[i].redeliver, res[i].baseline, res[i].batched / res[i].baseline, res[i].target,
               res[i].batched >= res[i].target ? "yes" : "NO");
    printf("{\"bench\":\"db\",\"batch\":%zu,\"rows\":%zu", batch, rows);
    for (int i = 0; i < nres; i++)
        printf(",\"%s\":{\"rows_per_s\":%.0f,\"redeliver_rows_per_s\":%.0f,"
               "\"baseline_single_row_rows_per_s\":%.0f,\"baseline_rows\":%zu,\"ratio\":%.2f,"
               "\"target\":%.0f,\"met\":%s}",
               res[i].backend, res[i].batched, res[i].redeliver, res[i].baseline,
               res[i].baseline_rows, res[i].batched / res[i].baseline, res[i].target,
               res[i].batched >= res[i].target ? "true" : "false");
    printf("}\n");
    return rc;
}
