/*
 * test_db.c - the libresults test suite, run against SQLite (suite unit: real files in a fresh
 * temporary directory) and against PostgreSQL (suite integration: RES_TEST_PG_URL names a real
 * server started by tests/integration/db/run-pg.sh; every test gets its own fresh database).
 *
 * Covered: idempotent upserts (same batch twice -> identical rows), resuming after a writer
 * killed mid-sequence (no gaps, identical to a clean run), two concurrent writers (processes
 * and threads) on one recording (identical to one writer), schema migrations, bad input (clear
 * error, nothing written), pagination, downsampling (extremes and state changes kept), and
 * backend specifics (SQLite busy timeout; PostgreSQL reconnect after the server drops us).
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>
#ifdef RES_HAVE_PG
#include <libpq-fe.h>
#endif

#include "results.h"
#include "wsm_common.h"
#include "lib/dbtest.h"
#include "wsm_test.h"

static char tmpdir[256];
static const char *pg_base; /* NULL: SQLite run */
static int db_counter;

/* ------------------------------------------------------------------ helpers */

/* A fresh, empty database URL named after the test. */
static void fresh_url(const char *name, char *url, size_t cap)
{
    db_counter++;
    if (!pg_base) {
        snprintf(url, cap, "sqlite:%s/%s_%d.db", tmpdir, name, db_counter);
        return;
    }
#ifdef RES_HAVE_PG
    char dbname[96];
    snprintf(dbname, sizeof dbname, "t_%s_%d_%d", name, (int)getpid(), db_counter);
    if (dbtest_pg_create(pg_base, dbname, url, cap) != 0)
        exit(2);
#endif
}

/* Runs SQL directly on the database (not through libresults). */
static int raw_exec(const char *url, const char *sql)
{
    if (strncmp(url, "sqlite:", 7) == 0) {
        sqlite3 *h;
        if (sqlite3_open(url + 7, &h) != SQLITE_OK)
            return -1;
        int rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
        sqlite3_close(h);
        return rc == SQLITE_OK ? 0 : -1;
    }
#ifdef RES_HAVE_PG
    PGconn *c = PQconnectdb(url);
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
#else
    return -1;
#endif
}

static res_db *open_ok(const char *url)
{
    res_db *db = NULL;
    res_err e;
    int rc = res_open(url, NULL, &db, &e);
    if (rc != RES_OK)
        fprintf(stderr, "res_open(%s): %s: %s\n", url, res_code_name(rc), e.msg);
    CHECK_EQ_INT(rc, RES_OK);
    return db;
}

/* Deterministic synthetic AEB output of frame i of a recording. */
typedef struct batch {
    res_frames f;
    double t[4096], ego_v[4096], range[4096], rel_v[4096], ttc[4096], decel[4096];
    const char *state[4096];
    int8_t fcw[4096], coll[4096];
} batch;

static void make_batch(batch *b, const char *rec, int64_t first, size_t n, int variant)
{
    for (size_t k = 0; k < n; k++) {
        int64_t i = first + (int64_t)k;
        b->t[k] = (double)i * 0.01;
        b->ego_v[k] = 13.9 - (double)(i % 500) * 0.001 + variant;
        bool obj = (i % 700) < 600;
        b->range[k] = obj ? 50.0 - (double)(i % 700) * 0.07 : NAN;
        b->rel_v[k] = obj ? -5.0 + (double)(i % 7) * 0.1 : NAN;
        b->ttc[k] = obj && i % 3 ? b->range[k] / 5.0 : NAN;
        int st = (int)((i / 37) % 5);
        b->state[k] =
            (i % 101 == 100) ? NULL : (const char *[]){"NONE", "FCW", "PB1", "PB2", "FB"}[st];
        b->fcw[k] = (i % 101 == 100) ? -1 : (int8_t)(st > 0);
        b->decel[k] = (double[]){0, 0, 3.8, 5.3, 9.8}[st];
        b->coll[k] = (int8_t)(i % 997 == 5);
    }
    b->f = (res_frames){.recording_id = rec,
                        .first_frame = first,
                        .n = n,
                        .t = b->t,
                        .ego_v = b->ego_v,
                        .range = b->range,
                        .rel_v = b->rel_v,
                        .ttc = b->ttc,
                        .state = b->state,
                        .fcw = b->fcw,
                        .decel = b->decel,
                        .collision = b->coll};
}

static int write_batch(res_db *db, const char *rec, int64_t first, size_t n, int variant)
{
    batch *b = malloc(sizeof *b);
    make_batch(b, rec, first, n, variant);
    res_err e;
    int rc = res_write_frames(db, &b->f, &e);
    if (rc)
        fprintf(stderr, "write_batch %lld: %s: %s\n", (long long)first, res_code_name(rc), e.msg);
    free(b);
    return rc;
}

static const res_event test_events[3] = {
    {.seq = 0,
     .t = 1.5,
     .kind = "fcw_onset",
     .ttc = 2.1,
     .ego_v = 13.9,
     .range = 29.0,
     .rel_v = -13.9,
     .stage = NULL,
     .impact_speed_kmh = NAN},
    {.seq = 1,
     .t = 2.5,
     .kind = "brake_onset",
     .ttc = 1.1,
     .ego_v = 13.5,
     .range = 15.0,
     .rel_v = -13.5,
     .stage = "PB1",
     .impact_speed_kmh = NAN},
    {.seq = 2,
     .t = 3.9,
     .kind = "collision",
     .ttc = NAN,
     .ego_v = 5.0,
     .range = 0.0,
     .rel_v = -5.0,
     .stage = "FB",
     .impact_speed_kmh = 18.0},
};

static int write_rest(res_db *db, const char *rec)
{
    res_err e;
    int rc = res_write_events(db, rec, test_events, 3, &e);
    res_summary s = {.recording_id = rec,
                     .frames = 5000,
                     .min_ttc = 0.01,
                     .t_min_ttc = 3.88,
                     .max_stage = "FB",
                     .collision = 1,
                     .impact_speed_kmh = 18.0,
                     .first_fcw_t = 1.5,
                     .first_brake_t = 2.5,
                     .params_json = "{\"a_fb\":9.8,\"service\":\"aeb 0.1.0\"}"};
    if (!rc)
        rc = res_write_summary(db, &s, &e);
    res_recording r = {.id = rec,
                       .path = "/data/rec.mf4",
                       .sha256 = "ab12",
                       .frames = 5000,
                       .t_start = 0,
                       .t_end = 49.99,
                       .status = "done",
                       .created_at = "2026-11-29T10:00:00.000Z"};
    if (!rc)
        rc = res_write_recording(db, &r, &e);
    if (rc)
        fprintf(stderr, "write_rest: %s: %s\n", res_code_name(rc), e.msg);
    return rc;
}

/* Everything stored about a recording, as one JSON text (caller frees). */
static char *dump(res_db *db, const char *rec)
{
    cJSON *all = cJSON_CreateObject(), *x = NULL;
    res_err e;
    int64_t first = 0;
    cJSON *pages = cJSON_AddArrayToObject(all, "frames");
    for (;;) {
        if (res_get_frame_rows(db, rec, first, 50000, &x, &e)) {
            fprintf(stderr, "dump: %s\n", e.msg);
            break;
        }
        cJSON *fr = cJSON_GetObjectItemCaseSensitive(x, "frame");
        int n = cJSON_GetArraySize(fr);
        if (n == 0) {
            cJSON_Delete(x);
            break;
        }
        first = (int64_t)cJSON_GetArrayItem(fr, n - 1)->valuedouble + 1;
        cJSON_AddItemToArray(pages, x);
    }
    if (res_get_events(db, rec, &x, &e) == RES_OK)
        cJSON_AddItemToObject(all, "events", x);
    if (res_get_recording(db, rec, &x, &e) == RES_OK)
        cJSON_AddItemToObject(all, "recording", x);
    char *s = cJSON_PrintUnformatted(all);
    cJSON_Delete(all);
    return s;
}

/* The reference: one writer, batches in order. */
#define REC_FRAMES 5000
#define BATCH      500

static char *reference_dump(const char *name, const char *rec)
{
    char url[512];
    fresh_url(name, url, sizeof url);
    res_db *db = open_ok(url);
    if (!db)
        return NULL;
    for (int64_t f = 0; f < REC_FRAMES; f += BATCH)
        CHECK_EQ_INT(write_batch(db, rec, f, BATCH, 0), RES_OK);
    CHECK_EQ_INT(write_rest(db, rec), RES_OK);
    char *d = dump(db, rec);
    res_close(db);
    return d;
}

/* ------------------------------------------------------------------ tests */

TEST(t_codes_and_urls)
{
    CHECK_STR(res_code_name(RES_E_BAD_INPUT), "BAD_INPUT");
    CHECK_STR(res_code_name(999), "UNKNOWN");
    CHECK(strlen(res_strerror(RES_E_BUSY)) > 5);
    res_db *db = (res_db *)1;
    res_err e;
    CHECK_EQ_INT(res_open("mysql://x/y", NULL, &db, &e), RES_E_BAD_URL);
    CHECK(db == NULL);
    CHECK(strstr(e.msg, "mysql:") != NULL);
    CHECK_EQ_INT(res_open(NULL, NULL, &db, &e), RES_E_BAD_URL);
    CHECK_EQ_INT(res_open("sqlite:", NULL, &db, &e), RES_E_BAD_URL);
    CHECK_EQ_INT(res_open("sqlite:x.db?colour=red", NULL, &db, &e), RES_E_BAD_URL);
    CHECK(strstr(e.msg, "colour") != NULL);
    CHECK_EQ_INT(res_open("sqlite:x.db?busy_timeout_ms=abc", NULL, &db, &e), RES_E_BAD_URL);
    CHECK_EQ_INT(res_open("sqlite:/nonexistent-dir/sub/x.db", NULL, &db, &e), RES_E_CONNECT);
    CHECK(strstr(e.msg, "/nonexistent-dir/sub/x.db") != NULL);
#ifdef RES_HAVE_PG
    /* port 1: nothing listens; must fail fast and clearly, not hang */
    CHECK_EQ_INT(res_open("postgresql://postgres@127.0.0.1:1/x?connect_timeout=2", NULL, &db, &e),
                 RES_E_CONNECT);
    CHECK(strstr(e.msg, "127.0.0.1:1/x") != NULL);
    CHECK_EQ_INT(res_open("postgresql://[bad", NULL, &db, &e), RES_E_BAD_URL);
#endif
    res_close(NULL);
}

TEST(t_schema_migrations)
{
    char url[512];
    fresh_url("schema", url, sizeof url);
    res_db *db = open_ok(url);
    if (!db)
        return;
    int v = 0;
    CHECK_EQ_INT(res_schema_version(db, &v, NULL), RES_OK);
    CHECK_EQ_INT(v, RES_SCHEMA_VERSION);
    res_close(db);
    /* reopening applies nothing twice */
    db = open_ok(url);
    CHECK_EQ_INT(res_schema_version(db, &v, NULL), RES_OK);
    CHECK_EQ_INT(v, RES_SCHEMA_VERSION);
    res_close(db);
    /* a database at version 1 is migrated to the current version */
    CHECK_EQ_INT(raw_exec(url, "DROP INDEX recordings_created_at"), 0);
    CHECK_EQ_INT(raw_exec(url, "DROP TABLE recording_aliases"), 0);
    CHECK_EQ_INT(raw_exec(url, "DELETE FROM schema_version WHERE version >= 2"), 0);
    db = open_ok(url);
    CHECK_EQ_INT(res_schema_version(db, &v, NULL), RES_OK);
    CHECK_EQ_INT(v, RES_SCHEMA_VERSION);
    res_close(db);
    /* versions 2 and 3 exist again */
    CHECK_EQ_INT(raw_exec(url, "DROP INDEX recordings_created_at"), 0);
    CHECK_EQ_INT(raw_exec(url, "CREATE INDEX recordings_created_at ON recordings (created_at)"), 0);
    CHECK_EQ_INT(raw_exec(url, "INSERT INTO recording_aliases VALUES ('a', 'b')"), 0);
    /* migrate=1 (check only) refuses an old schema */
    CHECK_EQ_INT(raw_exec(url, "DELETE FROM schema_version WHERE version = 3"), 0);
    res_options o = {.migrate = 1};
    res_err e;
    CHECK_EQ_INT(res_open(url, &o, &db, &e), RES_E_SCHEMA);
    CHECK(strstr(e.msg, "older") != NULL);
    CHECK_EQ_INT(raw_exec(url, "INSERT INTO schema_version VALUES (3, 'x', 'y')"), 0);
    /* a newer database is refused with a clear message */
    CHECK_EQ_INT(raw_exec(url, "INSERT INTO schema_version VALUES (99, 'future', 'later')"), 0);
    CHECK_EQ_INT(res_open(url, NULL, &db, &e), RES_E_SCHEMA);
    CHECK(db == NULL);
    CHECK(strstr(e.msg, "99") != NULL);
}

TEST(t_same_batch_twice)
{
    char url[512];
    fresh_url("twice", url, sizeof url);
    res_db *db = open_ok(url);
    if (!db)
        return;
    CHECK_EQ_INT(write_batch(db, "rec-A", 0, 2000, 0), RES_OK);
    CHECK_EQ_INT(write_rest(db, "rec-A"), RES_OK);
    char *d1 = dump(db, "rec-A");
    CHECK_EQ_INT(write_batch(db, "rec-A", 0, 2000, 0), RES_OK);
    CHECK_EQ_INT(write_rest(db, "rec-A"), RES_OK);
    char *d2 = dump(db, "rec-A");
    CHECK_STR(d1, d2);
    int64_t n, first, last;
    CHECK_EQ_INT(res_frames_coverage(db, "rec-A", &n, &first, &last, NULL), RES_OK);
    CHECK_EQ_INT(n, 2000);
    CHECK_EQ_INT(first, 0);
    CHECK_EQ_INT(last, 1999);

    /* values round-trip exactly, NULLs included */
    cJSON *rows = NULL;
    CHECK_EQ_INT(res_get_frame_rows(db, "rec-A", 600, 101, &rows, NULL), RES_OK);
    batch *b = malloc(sizeof *b);
    make_batch(b, "rec-A", 600, 101, 0);
    cJSON *t = cJSON_GetObjectItemCaseSensitive(rows, "t");
    cJSON *rng = cJSON_GetObjectItemCaseSensitive(rows, "range");
    cJSON *st = cJSON_GetObjectItemCaseSensitive(rows, "state");
    cJSON *fcw = cJSON_GetObjectItemCaseSensitive(rows, "fcw");
    cJSON *ttc = cJSON_GetObjectItemCaseSensitive(rows, "ttc");
    CHECK_EQ_INT(cJSON_GetArraySize(t), 101);
    for (int i = 0; i < 101; i++) {
        CHECK(cJSON_GetArrayItem(t, i)->valuedouble == b->t[i]);
        if (isnan(b->range[i]))
            CHECK(cJSON_IsNull(cJSON_GetArrayItem(rng, i)));
        else
            CHECK(cJSON_GetArrayItem(rng, i)->valuedouble == b->range[i]);
        CHECK(isnan(b->ttc[i]) == cJSON_IsNull(cJSON_GetArrayItem(ttc, i)));
        if (b->state[i])
            CHECK_STR(cJSON_GetArrayItem(st, i)->valuestring, b->state[i]);
        else
            CHECK(cJSON_IsNull(cJSON_GetArrayItem(st, i)));
        CHECK(b->fcw[i] < 0 ? cJSON_IsNull(cJSON_GetArrayItem(fcw, i))
                            : cJSON_IsBool(cJSON_GetArrayItem(fcw, i)) &&
                                  cJSON_IsTrue(cJSON_GetArrayItem(fcw, i)) == (b->fcw[i] == 1));
    }
    free(b);
    cJSON_Delete(rows);

    /* a redelivered batch with different values replaces the rows (last write wins), and the
     * identical batch restores them */
    CHECK_EQ_INT(write_batch(db, "rec-A", 1000, 500, 1), RES_OK);
    char *d3 = dump(db, "rec-A");
    CHECK(strcmp(d1, d3) != 0);
    CHECK_EQ_INT(write_batch(db, "rec-A", 1000, 500, 0), RES_OK);
    char *d4 = dump(db, "rec-A");
    CHECK_STR(d1, d4);
    free(d1);
    free(d2);
    free(d3);
    free(d4);
    res_close(db);
}

/* A writer killed after some batches; a new writer resumes from the last acknowledged batch. */
TEST(t_resume_after_kill)
{
    char *ref = reference_dump("resume_ref", "rec-R");
    char url[512];
    fresh_url("resume", url, sizeof url);
    int pfd[2];
    CHECK_EQ_INT(pipe(pfd), 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        res_db *db = NULL;
        if (res_open(url, NULL, &db, NULL))
            _exit(3);
        /* four batches, then batch 4 over and over (a redelivery loop) until killed: the kill
         * lands inside a write transaction almost surely */
        for (int64_t k = 0;; k++) {
            int64_t f = (k < 4 ? k : 4) * BATCH;
            if (write_batch(db, "rec-R", f, BATCH, 0))
                _exit(4);
            if (write(pfd[1], &f, sizeof f) != sizeof f)
                _exit(5);
        }
    }
    close(pfd[1]);
    int64_t acked = -1, f;
    for (int i = 0; i < 6 && read(pfd[0], &f, sizeof f) == sizeof f; i++)
        acked = f;
    usleep(20000);
    kill(pid, SIGKILL); /* most likely in the middle of the next batch's transaction */
    int status;
    waitpid(pid, &status, 0);
    /* drain acknowledgements that raced the kill */
    while (read(pfd[0], &f, sizeof f) == sizeof f)
        acked = f;
    close(pfd[0]);
    CHECK_EQ_INT(acked, 4 * BATCH);
    CHECK(WIFSIGNALED(status));
    res_db *db = open_ok(url);
    if (!db) {
        free(ref);
        return;
    }
    int64_t n, first, last;
    CHECK_EQ_INT(res_frames_coverage(db, "rec-R", &n, &first, &last, NULL), RES_OK);
    CHECK_EQ_INT(n, 5 * BATCH); /* every acknowledged batch is stored, nothing after */
    CHECK_EQ_INT(n % BATCH, 0); /* and no partial batch: each is one transaction */
    CHECK_EQ_INT(n, last - first + 1);
    /* resume: redeliver the last acknowledged batch (at-least-once), then the rest */
    for (int64_t g = acked; g < REC_FRAMES; g += BATCH)
        CHECK_EQ_INT(write_batch(db, "rec-R", g, BATCH, 0), RES_OK);
    CHECK_EQ_INT(write_rest(db, "rec-R"), RES_OK);
    CHECK_EQ_INT(res_frames_coverage(db, "rec-R", &n, &first, &last, NULL), RES_OK);
    CHECK_EQ_INT(n, REC_FRAMES);
    CHECK_EQ_INT(first, 0);
    CHECK_EQ_INT(last, REC_FRAMES - 1);
    char *d = dump(db, "rec-R");
    CHECK_STR(d, ref);
    free(d);
    free(ref);
    res_close(db);
}

/* Writes every batch of rec-C in the given order (+1 forward, -1 backward), plus the rest. */
static int write_all(const char *url, int dir)
{
    res_db *db = NULL;
    res_err e;
    if (res_open(url, NULL, &db, &e)) {
        fprintf(stderr, "writer open: %s\n", e.msg);
        return 1;
    }
    int rc = 0;
    for (int k = 0; k < REC_FRAMES / BATCH && !rc; k++) {
        int64_t f = (dir > 0 ? k : REC_FRAMES / BATCH - 1 - k) * BATCH;
        rc = write_batch(db, "rec-C", f, BATCH, 0);
        /* and every batch once more, as a redelivery racing the other writer */
        if (!rc)
            rc = write_batch(db, "rec-C", f, BATCH, 0);
    }
    if (!rc)
        rc = write_rest(db, "rec-C");
    res_close(db);
    return rc;
}

TEST(t_two_writer_processes)
{
    char *ref = reference_dump("procs_ref", "rec-C");
    char url[512];
    fresh_url("procs", url, sizeof url);
    pid_t pids[2];
    for (int k = 0; k < 2; k++) {
        fflush(NULL);
        pids[k] = fork();
        if (pids[k] == 0)
            _exit(write_all(url, k == 0 ? 1 : -1));
    }
    for (int k = 0; k < 2; k++) {
        int status = 0;
        waitpid(pids[k], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    res_db *db = open_ok(url);
    if (db) {
        char *d = dump(db, "rec-C");
        CHECK_STR(d, ref);
        free(d);
        res_close(db);
    }
    free(ref);
}

struct thr_arg {
    const char *url;
    int dir, rc;
};

static void *writer_thread(void *p)
{
    struct thr_arg *a = p;
    a->rc = write_all(a->url, a->dir);
    return NULL;
}

TEST(t_two_writer_threads)
{
    char *ref = reference_dump("threads_ref", "rec-C");
    char url[512];
    fresh_url("threads", url, sizeof url);
    struct thr_arg a[2] = {{url, 1, -1}, {url, -1, -1}};
    pthread_t th[2];
    for (int k = 0; k < 2; k++)
        pthread_create(&th[k], NULL, writer_thread, &a[k]);
    for (int k = 0; k < 2; k++) {
        pthread_join(th[k], NULL);
        CHECK_EQ_INT(a[k].rc, 0);
    }
    res_db *db = open_ok(url);
    if (db) {
        char *d = dump(db, "rec-C");
        CHECK_STR(d, ref);
        free(d);
        res_close(db);
    }
    free(ref);
}

TEST(t_bad_input)
{
    char url[512];
    fresh_url("bad", url, sizeof url);
    res_db *db = open_ok(url);
    if (!db)
        return;
    res_err e;
    batch *b = malloc(sizeof *b);
    make_batch(b, "rec-B", 0, 100, 0);

    b->f.recording_id = NULL;
    CHECK_EQ_INT(res_write_frames(db, &b->f, &e), RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "recording_id") != NULL);
    b->f.recording_id = "";
    CHECK_EQ_INT(res_write_frames(db, &b->f, &e), RES_E_BAD_INPUT);
    b->f.recording_id = "bad\xff\xfe";
    CHECK_EQ_INT(res_write_frames(db, &b->f, &e), RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "UTF-8") != NULL);
    b->f.recording_id = "rec-B";
    b->f.first_frame = -5;
    CHECK_EQ_INT(res_write_frames(db, &b->f, &e), RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "first_frame") != NULL);
    b->f.first_frame = 0;
    b->ttc[57] = INFINITY;
    CHECK_EQ_INT(res_write_frames(db, &b->f, &e), RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "ttc[57]") != NULL);
    b->ttc[57] = NAN;
    b->fcw[12] = 2;
    CHECK_EQ_INT(res_write_frames(db, &b->f, &e), RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "fcw[12]") != NULL);
    b->fcw[12] = 1;
    b->state[99] = "BRAKE";
    CHECK_EQ_INT(res_write_frames(db, &b->f, &e), RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "state[99]") != NULL && strstr(e.msg, "BRAKE") != NULL);
    CHECK_EQ_INT(e.code, RES_E_BAD_INPUT);
    CHECK_EQ_INT(res_write_frames(db, NULL, &e), RES_E_BAD_INPUT);
    /* nothing of the rejected batches was written */
    int64_t n, first, last;
    CHECK_EQ_INT(res_frames_coverage(db, "rec-B", &n, &first, &last, &e), RES_OK);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(first, -1);
    /* the handle still works after errors */
    b->state[99] = "FB";
    CHECK_EQ_INT(res_write_frames(db, &b->f, &e), RES_OK);
    CHECK_EQ_INT(e.code, RES_OK);
    b->f.n = 0;
    CHECK_EQ_INT(res_write_frames(db, &b->f, &e), RES_OK);
    free(b);

    res_event ev = test_events[1];
    ev.kind = "boom";
    CHECK_EQ_INT(res_write_events(db, "rec-B", &ev, 1, &e), RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "events[0].kind") != NULL && strstr(e.msg, "boom") != NULL);
    ev = test_events[1];
    ev.seq = -1;
    CHECK_EQ_INT(res_write_events(db, "rec-B", &ev, 1, &e), RES_E_BAD_INPUT);
    ev = test_events[1];
    ev.stage = "pb1";
    CHECK_EQ_INT(res_write_events(db, "rec-B", &ev, 1, &e), RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "events[0].stage") != NULL);
    CHECK_EQ_INT(res_write_events(db, "rec-B", NULL, 2, &e), RES_E_BAD_INPUT);

    res_summary s = {.recording_id = "rec-B",
                     .frames = 1,
                     .min_ttc = NAN,
                     .t_min_ttc = NAN,
                     .collision = 0,
                     .impact_speed_kmh = NAN,
                     .first_fcw_t = NAN,
                     .first_brake_t = NAN,
                     .params_json = "{\"a\":1"};
    CHECK_EQ_INT(res_write_summary(db, &s, &e), RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "summary.params") != NULL);
    s.params_json = "[1,2]";
    CHECK_EQ_INT(res_write_summary(db, &s, &e), RES_E_BAD_INPUT);
    s.params_json = "{} trailing";
    CHECK_EQ_INT(res_write_summary(db, &s, &e), RES_E_BAD_INPUT);
    s.params_json = "{}";
    s.max_stage = "MAX";
    CHECK_EQ_INT(res_write_summary(db, &s, &e), RES_E_BAD_INPUT);
    s.max_stage = NULL;
    s.min_ttc = -INFINITY;
    CHECK_EQ_INT(res_write_summary(db, &s, &e), RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "summary.min_ttc") != NULL);

    res_recording r = {.id = NULL, .frames = -1, .t_start = NAN, .t_end = NAN};
    CHECK_EQ_INT(res_write_recording(db, &r, &e), RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "recording.id") != NULL);

    cJSON *out = (cJSON *)1;
    CHECK_EQ_INT(res_list_recordings(db, 0, 0, &out, &e), RES_E_BAD_INPUT);
    CHECK(out == NULL);
    CHECK(strstr(e.msg, "limit") != NULL);
    CHECK_EQ_INT(res_list_recordings(db, -1, 10, &out, &e), RES_E_BAD_INPUT);
    CHECK_EQ_INT(res_get_frames(db, "rec-B", 2, NAN, NAN, &out, &e), RES_E_BAD_INPUT);
    CHECK_EQ_INT(res_get_frames(db, "rec-B", 100, 5.0, 1.0, &out, &e), RES_E_BAD_INPUT);
    CHECK_EQ_INT(res_get_frame_rows(db, "rec-B", 0, 0, &out, &e), RES_E_BAD_INPUT);
    CHECK_EQ_INT(res_get_recording(db, "no-such", &out, &e), RES_E_NOT_FOUND);
    CHECK(strstr(e.msg, "no-such") != NULL);
    CHECK_EQ_INT(res_get_events(db, NULL, &out, &e), RES_E_BAD_INPUT);
    res_close(db);
}

TEST(t_list_pagination)
{
    char url[512];
    fresh_url("list", url, sizeof url);
    res_db *db = open_ok(url);
    if (!db)
        return;
    res_err e;
    for (int i = 0; i < 25; i++) {
        char id[32], ts[40];
        snprintf(id, sizeof id, "rec-%02d", i);
        snprintf(ts, sizeof ts, "2026-11-29T10:%02d:00.000Z", i);
        res_recording r = {.id = id,
                           .path = "/p",
                           .frames = 100 + i,
                           .t_start = 0,
                           .t_end = NAN,
                           .status = "read",
                           .created_at = ts};
        CHECK_EQ_INT(res_write_recording(db, &r, &e), RES_OK);
        if (i % 2 == 0) {
            res_summary s = {.recording_id = id,
                             .frames = 100 + i,
                             .min_ttc = 0.5 + i,
                             .t_min_ttc = 1,
                             .max_stage = "PB2",
                             .collision = (int8_t)(i % 4 == 0),
                             .impact_speed_kmh = NAN,
                             .first_fcw_t = 1,
                             .first_brake_t = NAN,
                             .params_json = "{\"version\":\"1\"}"};
            CHECK_EQ_INT(res_write_summary(db, &s, &e), RES_OK);
        }
    }
    /* partial update: only the status; the rest (and created_at) stays */
    res_recording upd = {
        .id = "rec-07", .frames = -1, .t_start = NAN, .t_end = NAN, .status = "done"};
    CHECK_EQ_INT(res_write_recording(db, &upd, &e), RES_OK);
    char seen[25] = {0};
    int prev = 100;
    for (int off = 0; off < 30; off += 10) {
        cJSON *page = NULL;
        CHECK_EQ_INT(res_list_recordings(db, off, 10, &page, &e), RES_OK);
        if (!page)
            continue;
        CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(page, "total")->valuedouble, 25);
        cJSON *recs = cJSON_GetObjectItemCaseSensitive(page, "recordings");
        CHECK_EQ_INT(cJSON_GetArraySize(recs), off < 20 ? 10 : 5);
        cJSON *r;
        cJSON_ArrayForEach(r, recs)
        {
            int i = atoi(cJSON_GetObjectItemCaseSensitive(r, "id")->valuestring + 4);
            CHECK(i >= 0 && i < 25 && !seen[i]);
            seen[i] = 1;
            CHECK(i < prev); /* newest first */
            prev = i;
            cJSON *s = cJSON_GetObjectItemCaseSensitive(r, "summary");
            if (i % 2 == 0) {
                CHECK(cJSON_IsObject(s));
                CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(s, "min_ttc")->valuedouble, 0.5 + i,
                           1e-12);
                CHECK(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(s, "collision")));
                cJSON *p = cJSON_GetObjectItemCaseSensitive(s, "params");
                CHECK(cJSON_IsObject(p));
                CHECK_STR(cJSON_GetObjectItemCaseSensitive(p, "version")->valuestring, "1");
                CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(s, "first_brake_t")));
            } else {
                CHECK(cJSON_IsNull(s));
            }
            CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r, "t_end")));
            if (i == 7) {
                CHECK_STR(cJSON_GetObjectItemCaseSensitive(r, "status")->valuestring, "done");
                CHECK_STR(cJSON_GetObjectItemCaseSensitive(r, "path")->valuestring, "/p");
                CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(r, "frames")->valuedouble, 107);
                CHECK_STR(cJSON_GetObjectItemCaseSensitive(r, "created_at")->valuestring,
                          "2026-11-29T10:07:00.000Z");
            }
        }
        cJSON_Delete(page);
    }
    for (int i = 0; i < 25; i++)
        CHECK(seen[i]);
    cJSON *page = NULL;
    CHECK_EQ_INT(res_list_recordings(db, 100, 10, &page, &e), RES_OK);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(page, "recordings")), 0);
    cJSON_Delete(page);
    /* created_at defaults to now on first write and then stays */
    res_recording r = {.id = "rec-now", .frames = -1, .t_start = NAN, .t_end = NAN};
    CHECK_EQ_INT(res_write_recording(db, &r, &e), RES_OK);
    cJSON *a = NULL, *b = NULL;
    CHECK_EQ_INT(res_get_recording(db, "rec-now", &a, &e), RES_OK);
    usleep(5000);
    CHECK_EQ_INT(res_write_recording(db, &r, &e), RES_OK);
    CHECK_EQ_INT(res_get_recording(db, "rec-now", &b, &e), RES_OK);
    const char *ca = cJSON_GetObjectItemCaseSensitive(a, "created_at")->valuestring;
    CHECK(ca && strlen(ca) == 24 && ca[10] == 'T');
    CHECK_STR(ca, cJSON_GetObjectItemCaseSensitive(b, "created_at")->valuestring);
    cJSON_Delete(a);
    cJSON_Delete(b);
    /* events come back in seq order whatever the write order */
    res_event ev[3] = {test_events[2], test_events[0], test_events[1]};
    CHECK_EQ_INT(res_write_events(db, "rec-00", ev, 3, &e), RES_OK);
    CHECK_EQ_INT(res_get_events(db, "rec-00", &a, &e), RES_OK);
    cJSON *evs = cJSON_GetObjectItemCaseSensitive(a, "events");
    CHECK_EQ_INT(cJSON_GetArraySize(evs), 3);
    for (int i = 0; i < 3; i++) {
        cJSON *x = cJSON_GetArrayItem(evs, i);
        CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(x, "seq")->valuedouble, i);
        CHECK_STR(cJSON_GetObjectItemCaseSensitive(x, "kind")->valuestring, test_events[i].kind);
    }
    CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(evs, 2), "impact_speed_kmh")
                   ->valuedouble,
               18.0, 1e-12);
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(evs, 0), "stage")));
    cJSON_Delete(a);
    res_close(db);
}

static double series_max(cJSON *series, const char *name, int *frame_at)
{
    cJSON *s = cJSON_GetObjectItemCaseSensitive(series, name);
    cJSON *v = cJSON_GetObjectItemCaseSensitive(s, "v");
    cJSON *fr = cJSON_GetObjectItemCaseSensitive(s, "frame");
    double best = -INFINITY;
    for (int i = 0; i < cJSON_GetArraySize(v); i++) {
        cJSON *x = cJSON_GetArrayItem(v, i);
        if (cJSON_IsNumber(x) && x->valuedouble > best) {
            best = x->valuedouble;
            *frame_at = (int)cJSON_GetArrayItem(fr, i)->valuedouble;
        }
    }
    return best;
}

TEST(t_downsampling)
{
    char url[512];
    fresh_url("down", url, sizeof url);
    res_db *db = open_ok(url);
    if (!db)
        return;
    enum { N = 10000 };
    static double t[N], ego[N], rng[N], relv[N], ttc[N], dec[N];
    static const char *st[N];
    static int8_t fcw[N], coll[N];
    int changes = 0;
    for (int i = 0; i < N; i++) {
        t[i] = i * 0.01;
        ego[i] = 10 + sin(i * 0.001);
        rng[i] = 40 - i * 0.003;
        relv[i] = -3;
        ttc[i] = (i >= 2000 && i < 4000) ? NAN : 5 + cos(i * 0.002);
        int s = i < 3000 ? 0 : i < 6000 ? 1 : i < 6100 ? 2 : i < 6150 ? 3 : 4;
        st[i] = (const char *[]){"NONE", "FCW", "PB1", "PB2", "FB"}[s];
        if (i == 5555) /* a one-frame blip must survive */
            st[i] = "PB2";
        if (i > 0 && strcmp(st[i], st[i - 1]) != 0)
            changes++;
        fcw[i] = (int8_t)(s > 0 || i == 5555);
        dec[i] = (double[]){0, 0, 3.8, 5.3, 9.8}[s];
        coll[i] = (int8_t)(i >= 9990);
    }
    ego[4321] = 99.5; /* a one-frame spike */
    ego[777] = -7.25; /* a one-frame dip */
    res_frames f = {.recording_id = "rec-D",
                    .first_frame = 0,
                    .n = N,
                    .t = t,
                    .ego_v = ego,
                    .range = rng,
                    .rel_v = relv,
                    .ttc = ttc,
                    .state = st,
                    .fcw = fcw,
                    .decel = dec,
                    .collision = coll};
    res_err e;
    CHECK_EQ_INT(res_write_frames(db, &f, &e), RES_OK);
    cJSON *o = NULL;
    CHECK_EQ_INT(res_get_frames(db, "rec-D", 100, NAN, NAN, &o, &e), RES_OK);
    if (!o) {
        res_close(db);
        return;
    }
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(o, "frames")->valuedouble, N);
    cJSON *ser = cJSON_GetObjectItemCaseSensitive(o, "series");
    const char *num[] = {"ego_v", "range", "rel_v", "ttc", "decel"};
    for (int k = 0; k < 5; k++) {
        cJSON *s = cJSON_GetObjectItemCaseSensitive(ser, num[k]);
        int np = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "v"));
        CHECK(np > 10 && np <= 100);
        CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "t")), np);
        /* points are in frame order */
        cJSON *fr = cJSON_GetObjectItemCaseSensitive(s, "frame");
        for (int i = 1; i < np; i++)
            CHECK(cJSON_GetArrayItem(fr, i)->valuedouble >
                  cJSON_GetArrayItem(fr, i - 1)->valuedouble);
    }
    int at = -1;
    CHECK_NEAR(series_max(ser, "ego_v", &at), 99.5, 1e-12);
    CHECK_EQ_INT(at, 4321);
    /* the dip: the minimum of ego_v */
    cJSON *ev =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ser, "ego_v"), "v");
    double mn = INFINITY;
    cJSON *x;
    cJSON_ArrayForEach(x, ev) if (cJSON_IsNumber(x) && x->valuedouble < mn) mn = x->valuedouble;
    CHECK_NEAR(mn, -7.25, 1e-12);
    /* range is monotonic: first and last values are the extremes */
    at = -1;
    CHECK_NEAR(series_max(ser, "range", &at), 40, 1e-12);
    CHECK_EQ_INT(at, 0);
    /* the ttc gap shows as a null point, exactly one per gap */
    cJSON *tv = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ser, "ttc"), "v");
    int nulls = 0;
    cJSON_ArrayForEach(x, tv) nulls += cJSON_IsNull(x);
    CHECK_EQ_INT(nulls, 1);
    /* every state change is there, with the right frame and value */
    cJSON *ss = cJSON_GetObjectItemCaseSensitive(ser, "state");
    cJSON *sv = cJSON_GetObjectItemCaseSensitive(ss, "v");
    cJSON *sf = cJSON_GetObjectItemCaseSensitive(ss, "frame");
    CHECK_EQ_INT(cJSON_GetArraySize(sv), changes + 1);
    int k = 0;
    for (int i = 0; i < N; i++) {
        if (i > 0 && strcmp(st[i], st[i - 1]) == 0)
            continue;
        CHECK_EQ_INT(cJSON_GetArrayItem(sf, k)->valuedouble, i);
        CHECK_STR(cJSON_GetArrayItem(sv, k)->valuestring, st[i]);
        k++;
    }
    cJSON *fc =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ser, "fcw"), "frame");
    CHECK_EQ_INT(cJSON_GetArraySize(fc), 2); /* false at 0, true at 3000 */
    cJSON *cc = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ser, "collision"),
                                                 "frame");
    CHECK_EQ_INT(cJSON_GetArraySize(cc), 2);
    CHECK_EQ_INT(cJSON_GetArrayItem(cc, 1)->valuedouble, 9990);
    cJSON_Delete(o);

    /* one series at a time gives exactly that series as in the full answer */
    cJSON *full = NULL;
    CHECK_EQ_INT(res_get_frames(db, "rec-D", 100, NAN, NAN, &full, &e), RES_OK);
    const char *names[] = {"ego_v", "range", "rel_v", "ttc", "decel", "state", "fcw", "collision"};
    for (int i = 0; i < 8; i++) {
        cJSON *one = NULL;
        CHECK_EQ_INT(res_get_frames_series(db, "rec-D", 100, NAN, NAN, &names[i], 1, &one, &e),
                     RES_OK);
        cJSON *os = cJSON_GetObjectItemCaseSensitive(one, "series");
        CHECK_EQ_INT(cJSON_GetArraySize(os), 1);
        char *a = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(os, names[i]));
        char *b = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(full, "series"), names[i]));
        CHECK_STR(a, b);
        free(a);
        free(b);
        cJSON_Delete(one);
    }
    cJSON_Delete(full);
    const char *two[] = {"state", "ttc"}, *bad[] = {"speed"};
    CHECK_EQ_INT(res_get_frames_series(db, "rec-D", 100, 10.0, 20.0, two, 2, &o, &e), RES_OK);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "series")), 2);
    cJSON_Delete(o);
    CHECK_EQ_INT(res_get_frames_series(db, "rec-D", 100, 10.0, 20.0, &two[1], 1, &o, &e), RES_OK);
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(o, "frames")->valuedouble, 1001);
    cJSON_Delete(o);
    CHECK_EQ_INT(res_get_frames_series(db, "rec-D", 100, NAN, NAN, bad, 1, &o, &e),
                 RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "speed") != NULL);
    /* a time window: frames 1000..1999 (t 10.00 .. 19.99), fewer rows than max_points */
    CHECK_EQ_INT(res_get_frames(db, "rec-D", 2000, 10.0, 19.995, &o, &e), RES_OK);
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(o, "frames")->valuedouble, 1000);
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(o, "first_frame")->valuedouble, 1000);
    ser = cJSON_GetObjectItemCaseSensitive(o, "series");
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
                     cJSON_GetObjectItemCaseSensitive(ser, "ego_v"), "v")),
                 1000); /* exact when it fits */
    cJSON_Delete(o);
    /* an unknown recording: empty series */
    CHECK_EQ_INT(res_get_frames(db, "nothing", 0, NAN, NAN, &o, &e), RES_OK);
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(o, "frames")->valuedouble, 0);
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "first_frame")));
    cJSON_Delete(o);
    res_close(db);
}

TEST(t_aliases)
{
    char url[512];
    fresh_url("alias", url, sizeof url);
    res_db *db = open_ok(url);
    if (!db)
        return;
    res_err e;
    CHECK_EQ_INT(write_batch(db, "rec-X", 0, 300, 0), RES_OK);
    CHECK_EQ_INT(write_rest(db, "rec-X"), RES_OK);
    CHECK_EQ_INT(res_write_alias(db, "job-123", "rec-X", &e), RES_OK);
    CHECK_EQ_INT(res_write_alias(db, "job-123", "rec-X", &e), RES_OK); /* idempotent */
    CHECK_EQ_INT(res_write_alias(db, "rec-X", "rec-X", &e), RES_E_BAD_INPUT);
    CHECK_EQ_INT(res_write_alias(db, "", "rec-X", &e), RES_E_BAD_INPUT);
    cJSON *o = NULL;
    CHECK_EQ_INT(res_get_recording(db, "job-123", &o, &e), RES_OK);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(o, "id")->valuestring, "rec-X");
    cJSON_Delete(o);
    CHECK_EQ_INT(res_get_events(db, "job-123", &o, &e), RES_OK);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(o, "recording_id")->valuestring, "rec-X");
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "events")), 3);
    cJSON_Delete(o);
    CHECK_EQ_INT(res_get_frames(db, "job-123", 50, NAN, NAN, &o, &e), RES_OK);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(o, "recording_id")->valuestring, "rec-X");
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(o, "frames")->valuedouble, 300);
    cJSON_Delete(o);
    CHECK_EQ_INT(res_get_frame_rows(db, "job-123", 0, 10, &o, &e), RES_OK);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "frame")), 10);
    cJSON_Delete(o);
    int64_t n, first, last;
    CHECK_EQ_INT(res_frames_coverage(db, "job-123", &n, &first, &last, &e), RES_OK);
    CHECK_EQ_INT(n, 300);
    /* an alias moved to another recording follows it; unknown ids stay themselves */
    CHECK_EQ_INT(res_write_alias(db, "job-123", "rec-Y", &e), RES_OK);
    CHECK_EQ_INT(res_frames_coverage(db, "job-123", &n, &first, &last, &e), RES_OK);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(res_get_recording(db, "job-123", &o, &e), RES_E_NOT_FOUND);
    res_close(db);
}

/* SQLite: a writer that cannot get the lock within the busy timeout fails with BUSY. */
TEST(t_sqlite_busy)
{
    char url[512];
    fresh_url("busy", url, sizeof url);
    res_db *db = open_ok(url);
    if (!db)
        return;
    res_close(db);
    char busy_url[600];
    snprintf(busy_url, sizeof busy_url, "%s?busy_timeout_ms=150&synchronous=full", url);
    db = open_ok(busy_url);
    sqlite3 *h;
    CHECK_EQ_INT(sqlite3_open(url + 7, &h), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    res_err e;
    CHECK_EQ_INT(write_batch(db, "rec-L", 0, 10, 0), RES_E_BUSY);
    batch *b = malloc(sizeof *b);
    make_batch(b, "rec-L", 0, 10, 0);
    CHECK_EQ_INT(res_write_frames(db, &b->f, &e), RES_E_BUSY);
    CHECK(strstr(e.msg, "150 ms") != NULL);
    /* reads are not blocked by the writer (WAL) */
    int64_t n, first, last;
    CHECK_EQ_INT(res_frames_coverage(db, "rec-L", &n, &first, &last, &e), RES_OK);
    sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(h);
    CHECK_EQ_INT(res_write_frames(db, &b->f, &e), RES_OK);
    free(b);
    res_close(db);
}

#ifdef RES_HAVE_PG
/* PostgreSQL: the server drops our connection; the next write reconnects and succeeds. */
TEST(t_pg_reconnect)
{
    char url[512];
    fresh_url("reconnect", url, sizeof url);
    res_db *db = open_ok(url);
    if (!db)
        return;
    CHECK_EQ_INT(write_batch(db, "rec-P", 0, 100, 0), RES_OK);
    const char *dbname = strrchr(url, '/') + 1;
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s' "
             "AND pid <> pg_backend_pid()",
             dbname);
    CHECK_EQ_INT(raw_exec(pg_base, sql), 0);
    usleep(100000);
    CHECK_EQ_INT(write_batch(db, "rec-P", 100, 100, 0), RES_OK);
    int64_t n, first, last;
    CHECK_EQ_INT(res_frames_coverage(db, "rec-P", &n, &first, &last, NULL), RES_OK);
    CHECK_EQ_INT(n, 200);
    res_close(db);

    /* with reconnecting disabled the write fails with a clear error */
    res_options o = {.reconnect_ms = -1};
    res_err e;
    CHECK_EQ_INT(res_open(url, &o, &db, &e), RES_OK);
    CHECK_EQ_INT(raw_exec(pg_base, sql), 0);
    usleep(100000);
    int rc = write_batch(db, "rec-P", 200, 100, 0);
    CHECK_EQ_INT(rc, RES_E_IO);
    res_close(db);
}
#endif

int main(int argc, char **argv)
{
    pg_base = getenv("RES_TEST_PG_URL");
    if (pg_base && !*pg_base)
        pg_base = NULL;
#ifndef RES_HAVE_PG
    if (pg_base) {
        fprintf(stderr, "RES_TEST_PG_URL set but this build has no libpq\n");
        return 1;
    }
#endif
    if (dbtest_mkdtemp(tmpdir, sizeof tmpdir, "res-test") != 0)
        return 1;
    wsm_log_set_level(WSM_LOG_WARN);
    printf("backend: %s\n", pg_base ? "postgresql" : "sqlite");
    RUN(t_codes_and_urls);
    RUN(t_schema_migrations);
    RUN(t_same_batch_twice);
    RUN(t_resume_after_kill);
    RUN(t_two_writer_processes);
    RUN(t_two_writer_threads);
    RUN(t_bad_input);
    RUN(t_list_pagination);
    RUN(t_downsampling);
    RUN(t_aliases);
    if (!pg_base)
        RUN(t_sqlite_busy);
#ifdef RES_HAVE_PG
    if (pg_base)
        RUN(t_pg_reconnect);
#endif
    int rc = TEST_DONE();
    if (rc == 0) { /* keep the files of a failed run for inspection */
        if (dbtest_rmtree(tmpdir) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    } else {
        fprintf(stderr, "test databases kept in %s\n", tmpdir);
    }
    return rc;
}
