/*
 * test_dbw_service.c - the db-writer service through the real hub: starts wshub (--port 0) and
 * db-writer processes on a temporary SQLite file (or, with RES_TEST_PG_URL, a fresh PostgreSQL
 * database), and drives them with a libwsmesh client:
 *   - bad jobs fail with a clear error (retry false) and the service keeps running;
 *   - a recording's frame batches (binary and JSON columns), each enqueued twice, plus events,
 *     summary and metadata, handled concurrently by two instances, one of them killed with
 *     SIGKILL mid-run and replaced: every job finishes and the stored rows are identical to a
 *     reference written directly with libresults (no gaps, no duplicates);
 *   - db.query answers (coverage, recordings, frames) through the hub.
 *
 *   test-dbw-service WSHUB DB_WRITER        (or: test-dbw-service ws://HUB/ws DB_WRITER)
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "results.h"
#include "wsm_columns.h"
#include "wsm_frame.h"
#include "lib/dbtest.h"
#include "wsm_test.h"
#include "wsmesh.h"

enum { BATCHES = 24, ROWS = 500 };

static char tmpdir[256];
static char hub_url[128];
static char db_url[600];
static const char *db_writer;

static const char *const states[5] = {"NONE", "FCW", "PB1", "PB2", "FB"};

/* ------------------------------------------------------------------ processes */

static pid_t spawn(char *const argv[], const char *log)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

static void show_log(const char *log)
{
    FILE *f = fopen(log, "r");
    char line[512];
    fprintf(stderr, "---- %s\n", log);
    while (f && fgets(line, sizeof line, f))
        fputs(line, stderr);
    if (f)
        fclose(f);
}

static int stop(pid_t pid, int sig)
{
    int status = 0;
    if (pid <= 0)
        return -1;
    kill(pid, sig);
    for (int i = 0; i < 200; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return status;
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return status;
}

static pid_t start_hub(const char *wshub)
{
    char cfg[400], log[400];
    snprintf(cfg, sizeof cfg, "%s/mesh.json", tmpdir);
    snprintf(log, sizeof log, "%s/hub.log", tmpdir);
    FILE *f = fopen(cfg, "w");
    if (!f)
        return -1;
    fprintf(f, "{\"listen\": {\"address\": \"127.0.0.1\", \"port\": 0},\n"
               " \"queues\": {\"db\": {\"max_length\": 10000, \"defaults\": {\"timeout\": 120,\n"
               "                 \"retry\": {\"max\": 5, \"intervals\": [0, 1]}}},\n"
               "            \"db.query\": {\"max_length\": 1000}},\n"
               " \"store\": {\"type\": \"memory\"},\n"
               " \"logging\": {\"level\": \"warn\"}}\n");
    fclose(f);
    char *argv[] = {(char *)wshub, "--config", cfg, "--port", "0", NULL};
    pid_t pid = spawn(argv, log);
    for (int i = 0; i < 200; i++) { /* wait for "listening on ws://127.0.0.1:PORT/ws" */
        usleep(50000);
        FILE *l = fopen(log, "r");
        char line[512];
        while (l && fgets(line, sizeof line, l)) {
            char *p = strstr(line, "listening on ws://");
            if (p && sscanf(p + 13, "%127s", hub_url) == 1) {
                fclose(l);
                return pid;
            }
        }
        if (l)
            fclose(l);
        if (waitpid(pid, NULL, WNOHANG) == pid)
            break;
    }
    show_log(log);
    stop(pid, SIGKILL);
    return -1;
}

static pid_t start_writer(const char *name)
{
    char log[400];
    snprintf(log, sizeof log, "%s/%s.log", tmpdir, name);
    char *argv[] = {(char *)db_writer, "--url",      hub_url,         "--db", db_url,
                    "--name",          (char *)name, "--concurrency", "2",    NULL};
    return spawn(argv, log);
}

static bool alive(pid_t pid)
{
    return waitpid(pid, NULL, WNOHANG) == 0;
}

/* ------------------------------------------------------------------ data */

typedef struct batch {
    double t[ROWS], ego_v[ROWS], range[ROWS], ttc[ROWS], decel[ROWS];
    uint8_t state[ROWS], fcw[ROWS], coll[ROWS], valid[(ROWS + 7) / 8];
} batch;

static void make(batch *b, int64_t first)
{
    memset(b->valid, 0, sizeof b->valid);
    for (int i = 0; i < ROWS; i++) {
        int64_t f = first + i;
        b->t[i] = (double)f * 0.01;
        b->ego_v[i] = 20 - (double)(f % 1000) * 0.003;
        b->range[i] = 80 - (double)(f % 1000) * 0.05;
        b->ttc[i] = b->range[i] / 7.0;
        b->state[i] = (uint8_t)((f / 333) % 5);
        b->fcw[i] = b->state[i] > 0;
        b->decel[i] = (double[]){0, 0, 3.8, 5.3, 9.8}[b->state[i]];
        b->coll[i] = f % 1000 == 999;
        if (f % 97 != 0)
            b->valid[i / 8] |= (uint8_t)(1u << (i % 8));
    }
}

static void cols_of(batch *b, wsm_col c[8])
{
    wsm_col x[8] = {
        {.name = "t", .type = WSM_COL_F64, .values = b->t},
        {.name = "ego_v", .type = WSM_COL_F64, .values = b->ego_v},
        {.name = "range",
         .type = WSM_COL_F64,
         .nullable = true,
         .values = b->range,
         .validity = b->valid},
        {.name = "ttc",
         .type = WSM_COL_F64,
         .nullable = true,
         .values = b->ttc,
         .validity = b->valid},
        {.name = "state",
         .type = WSM_COL_U8,
         .enum_names = states,
         .n_enum = 5,
         .values = b->state},
        {.name = "fcw", .type = WSM_COL_BOOL, .values = b->fcw},
        {.name = "decel", .type = WSM_COL_F64, .values = b->decel},
        {.name = "collision", .type = WSM_COL_BOOL, .values = b->coll},
    };
    memcpy(c, x, sizeof x);
}

/* The same batch written directly, for the reference database. */
static int write_ref(res_db *db, const char *rec, int64_t first)
{
    batch b;
    make(&b, first);
    double rng[ROWS], ttc[ROWS];
    const char *st[ROWS];
    int8_t fcw[ROWS], coll[ROWS];
    for (int i = 0; i < ROWS; i++) {
        bool v = (b.valid[i / 8] >> (i % 8)) & 1;
        rng[i] = v ? b.range[i] : NAN;
        ttc[i] = v ? b.ttc[i] : NAN;
        st[i] = states[b.state[i]];
        fcw[i] = (int8_t)b.fcw[i];
        coll[i] = (int8_t)b.coll[i];
    }
    res_frames f = {.recording_id = rec,
                    .first_frame = first,
                    .n = ROWS,
                    .t = b.t,
                    .ego_v = b.ego_v,
                    .range = rng,
                    .ttc = ttc,
                    .state = st,
                    .fcw = fcw,
                    .decel = b.decel,
                    .collision = coll};
    return res_write_frames(db, &f, NULL);
}

static const char events_json[] =
    "{\"recording_id\":\"svc\",\"events\":[{\"event\":\"fcw_onset\",\"frame\":333,\"t\":3.33,"
    "\"ttc\":2.5,\"range\":63.35,\"ego_v\":19.0,\"rel_v\":-7},{\"event\":\"stage_change\","
    "\"frame\":333,\"t\":3.33,\"from\":\"NONE\",\"to\":\"FCW\",\"ttc\":2.5}]}";
static const char summary_json[] =
    "{\"recording_id\":\"svc\",\"summary\":{\"frames\":12000,\"min_ttc\":{\"value\":0.7,"
    "\"t\":9.99},\"max_stage\":\"FB\",\"first_fcw_t\":3.33,\"first_brake_t\":6.66,"
    "\"first_collision\":null,\"params\":{\"a_fb\":9.8},\"service_version\":\"aeb-test\"}}";
static const char meta_json[] =
    "{\"recording_id\":\"svc\",\"path\":\"/data/svc.mf4\",\"sha256\":\"beef\",\"frames\":12000,"
    "\"t_start\":0,\"t_end\":119.99,\"created_at\":\"2026-11-29T11:00:00.000Z\"}";

/* Enqueues frame batch k (JSON columns for odd k, binary for even k); writes the job id. */
static int enqueue_batch(wsm_client *c, int k, char *id)
{
    batch b;
    make(&b, (int64_t)k * ROWS);
    wsm_col cols[8];
    cols_of(&b, cols);
    const char *ct = k % 2 ? WSM_CT_JSON : WSM_CT_COLUMNS;
    cJSON *meta = NULL;
    wsm_buf p = WSM_BUF_INIT;
    wsm_err e;
    if (wsm_columns_encode(ct, cols, 8, ROWS, &meta, &p, &e) != WSM_OK)
        return -1;
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "recording_id", "svc");
    cJSON_AddNumberToObject(args, "first_frame", (double)k * ROWS);
    wsm_enqueue_opts o = {
        .payload = p.data, .len = p.len, .content_type = ct, .payload_meta = meta, .weight = ROWS};
    int rc = wsm_enqueue(c, "db", args, &o, id);
    if (rc)
        fprintf(stderr, "enqueue batch %d: %s\n", k, wsm_client_errstr(c));
    cJSON_Delete(args);
    cJSON_Delete(meta);
    wsm_buf_free(&p);
    return rc;
}

static int enqueue_json(wsm_client *c, const char *json, char *id)
{
    cJSON *args = cJSON_Parse(json);
    int rc = wsm_enqueue(c, "db", args, NULL, id);
    cJSON_Delete(args);
    return rc;
}

static cJSON *request(wsm_client *c, const char *queue, const char *json, int expect)
{
    cJSON *args = cJSON_Parse(json);
    cJSON *v = NULL;
    int rc = wsm_request(c, queue, args, NULL, 30, &v);
    if (rc != expect)
        fprintf(stderr, "request %s %s: %d %s\n", queue, json, rc, wsm_client_errstr(c));
    CHECK_EQ_INT(rc, expect);
    cJSON_Delete(args);
    return v;
}

static char *dump(const char *url, const char *rec)
{
    res_db *db = NULL;
    if (res_open(url, NULL, &db, NULL) != RES_OK)
        return strdup("(cannot open)");
    cJSON *all = cJSON_CreateObject(), *x = NULL;
    if (res_get_frame_rows(db, rec, 0, 100000, &x, NULL) == RES_OK)
        cJSON_AddItemToObject(all, "rows", x);
    if (res_get_events(db, rec, &x, NULL) == RES_OK)
        cJSON_AddItemToObject(all, "events", x);
    if (res_get_recording(db, rec, &x, NULL) == RES_OK)
        cJSON_AddItemToObject(all, "recording", x);
    res_close(db);
    char *s = cJSON_PrintUnformatted(all);
    cJSON_Delete(all);
    return s;
}

/* ------------------------------------------------------------------ tests */

static wsm_client *client;
static pid_t writers[3];

TEST(t_bad_jobs_keep_service_running)
{
    CHECK(request(client, "db", "{\"recording_id\":\"svc-bad\"}", WSM_E_BAD_STATE) == NULL);
    CHECK(strstr(wsm_client_errstr(client), "nothing to store") != NULL);
    CHECK(strstr(wsm_client_errstr(client), "BAD_INPUT") != NULL);
    CHECK(request(client, "db", "{\"recording_id\":\"svc-bad\",\"events\":[{\"event\":\"x\"}]}",
                  WSM_E_BAD_STATE) == NULL);
    CHECK(strstr(wsm_client_errstr(client), "events[0].kind") != NULL);
    /* a batch with a missing column */
    batch b;
    make(&b, 0);
    wsm_col cols[8];
    cols_of(&b, cols);
    cJSON *meta = NULL;
    wsm_buf p = WSM_BUF_INIT;
    wsm_err e;
    CHECK_EQ_INT(wsm_columns_encode(WSM_CT_COLUMNS, cols, 7, ROWS, &meta, &p, &e), WSM_OK);
    cJSON *args = cJSON_Parse("{\"recording_id\":\"svc-bad\",\"first_frame\":0}");
    wsm_enqueue_opts o = {
        .payload = p.data, .len = p.len, .content_type = WSM_CT_COLUMNS, .payload_meta = meta};
    CHECK_EQ_INT(wsm_request(client, "db", args, &o, 30, NULL), WSM_E_BAD_STATE);
    CHECK(strstr(wsm_client_errstr(client), "collision") != NULL);
    cJSON_Delete(args);
    cJSON_Delete(meta);
    wsm_buf_free(&p);
    CHECK(request(client, "db.query", "{\"q\":\"nope\"}", WSM_E_BAD_STATE) == NULL);
    CHECK(request(client, "db.query", "{\"q\":\"recording\",\"recording_id\":\"svc-bad\"}",
                  WSM_E_BAD_STATE) == NULL);
    CHECK(strstr(wsm_client_errstr(client), "NOT_FOUND") != NULL);
    /* still running, nothing stored */
    CHECK(alive(writers[0]));
    cJSON *cov =
        request(client, "db.query", "{\"q\":\"coverage\",\"recording_id\":\"svc-bad\"}", 0);
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(cov, "frames")->valuedouble, 0);
    cJSON_Delete(cov);
}

TEST(t_two_writers_one_killed)
{
    char ref_url[400];
    snprintf(ref_url, sizeof ref_url, "sqlite:%s/reference.db", tmpdir);
    res_db *ref = NULL;
    CHECK_EQ_INT(res_open(ref_url, NULL, &ref, NULL), RES_OK);
    for (int k = 0; k < BATCHES && ref; k++)
        CHECK_EQ_INT(write_ref(ref, "svc", (int64_t)k * ROWS), RES_OK);
    res_close(ref);

    writers[1] = start_writer("writer-b");
    enum { MAXJOBS = 2 * BATCHES + 8 };
    static char ids[MAXJOBS][WSM_JOB_ID_MAX + 1];
    int n = 0;
    for (int rep = 0; rep < 2; rep++) { /* every batch twice: a redelivery */
        for (int k = 0; k < BATCHES; k++) {
            CHECK_EQ_INT(enqueue_batch(client, rep ? BATCHES - 1 - k : k, ids[n++]), 0);
            if (rep == 0 && k == BATCHES / 2) {
                usleep(100000);
                stop(writers[0], SIGKILL); /* mid-run, jobs in flight */
                writers[2] = start_writer("writer-c");
            }
        }
    }
    CHECK_EQ_INT(enqueue_json(client, events_json, ids[n++]), 0);
    CHECK_EQ_INT(enqueue_json(client, events_json, ids[n++]), 0);
    CHECK_EQ_INT(enqueue_json(client, summary_json, ids[n++]), 0);
    CHECK_EQ_INT(enqueue_json(client, meta_json, ids[n++]), 0);
    int finished = 0;
    for (int i = 0; i < n; i++) {
        cJSON *job = NULL;
        int rc = wsm_wait(client, ids[i], false, 120, &job);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(job, "status");
        if (rc == 0 && cJSON_IsString(st) && strcmp(st->valuestring, "finished") == 0)
            finished++;
        else
            fprintf(stderr, "job %s: rc %d %s\n", ids[i], rc,
                    job ? cJSON_PrintUnformatted(job) : wsm_client_errstr(client));
        cJSON_Delete(job);
    }
    CHECK_EQ_INT(finished, n);

    cJSON *cov = request(client, "db.query", "{\"q\":\"coverage\",\"recording_id\":\"svc\"}", 0);
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(cov, "frames")->valuedouble, BATCHES * ROWS);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cov, "gap_free")));
    cJSON_Delete(cov);
    cJSON *list = request(client, "db.query", "{\"q\":\"recordings\"}", 0);
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(list, "total")->valuedouble, 1);
    cJSON_Delete(list);
    cJSON *fr = request(client, "db.query",
                        "{\"q\":\"frames\",\"recording_id\":\"svc\",\"max_points\":400,"
                        "\"series\":[\"state\"]}",
                        0);
    cJSON *sv = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(fr, "series"), "state"),
        "v");
    CHECK_EQ_INT(cJSON_GetArraySize(sv), (BATCHES * ROWS + 332) / 333);
    cJSON_Delete(fr);

    /* the rows equal the reference; events, summary and metadata are there once */
    char *got = dump(db_url, "svc"), *want = dump(ref_url, "svc");
    const char *rows_got = strstr(got, "\"rows\""), *rows_want = strstr(want, "\"rows\"");
    const char *ev_got = strstr(got, ",\"events\"");
    CHECK(rows_got && rows_want && ev_got &&
          strncmp(rows_got, rows_want, (size_t)(ev_got - rows_got)) == 0);
    res_db *db = NULL;
    CHECK_EQ_INT(res_open(db_url, NULL, &db, NULL), RES_OK);
    cJSON *ev = NULL, *rec = NULL;
    CHECK_EQ_INT(res_get_events(db, "svc", &ev, NULL), RES_OK);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "events")), 2);
    CHECK_EQ_INT(res_get_recording(db, "svc", &rec, NULL), RES_OK);
    cJSON *s = cJSON_GetObjectItemCaseSensitive(rec, "summary");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(s, "collision")));
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s, "params"),
                                               "service_version")
                  ->valuestring,
              "aeb-test");
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(rec, "path")->valuestring, "/data/svc.mf4");
    cJSON_Delete(ev);
    cJSON_Delete(rec);
    res_close(db);
    free(got);
    free(want);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test-dbw-service WSHUB|ws://URL DB_WRITER\n");
        return 2;
    }
    db_writer = argv[2];
    signal(SIGPIPE, SIG_IGN);
    wsm_log_set_level(WSM_LOG_WARN);
    if (dbtest_mkdtemp(tmpdir, sizeof tmpdir, "dbw-svc") != 0)
        return 1;
    if (dbtest_url(tmpdir, "svc", db_url, sizeof db_url) != 0)
        return 1;
    printf("database: %s\n", db_url);
    pid_t hub = -1;
    if (strncmp(argv[1], "ws://", 5) == 0) {
        snprintf(hub_url, sizeof hub_url, "%s", argv[1]);
    } else if ((hub = start_hub(argv[1])) < 0) {
        fprintf(stderr, "wshub did not start\n");
        return 1;
    }
    printf("hub: %s\n", hub_url);
    writers[0] = start_writer("writer-a");
    wsm_options o = {.url = hub_url, .name = "test-dbw-service"};
    wsm_err e = {0};
    for (int i = 0; i < 50 && !client; i++) {
        client = wsm_client_connect(&o, &e);
        if (!client)
            usleep(100000);
    }
    if (!client) {
        fprintf(stderr, "client: %s\n", e.msg);
        return 1;
    }
    RUN(t_bad_jobs_keep_service_running);
    RUN(t_two_writers_one_killed);
    wsm_client_free(client);
    for (int i = 0; i < 3; i++)
        if (writers[i] > 0 && alive(writers[i])) {
            int st = stop(writers[i], SIGTERM);
            CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0); /* drains and exits cleanly */
        }
    if (hub > 0)
        stop(hub, SIGTERM);
    int rc = TEST_DONE();
    if (rc == 0) {
        dbtest_rmtree(tmpdir);
    } else {
        const char *logs[] = {"hub.log", "writer-a.log", "writer-b.log", "writer-c.log"};
        for (int i = 0; i < 4; i++) {
            char path[400];
            snprintf(path, sizeof path, "%s/%s", tmpdir, logs[i]);
            if (access(path, R_OK) == 0)
                show_log(path);
        }
    }
    return rc;
}
