/*
 * test_retention.c - unit tests of what the broker holds per ended job, per key and per tree:
 * a finished job's payload is freed at once (failed ones keep theirs for requeue), a keyed
 * stream's state survives the purge of its finished jobs (retention 0) while its tree lives,
 * keys go with their trees (memory flat), the job JSON of a big tree stays small, and (with
 * the sqlite store) the same holds across a restart.
 */
#include "broker_fixture.h"
#ifdef WSM_TEST_STORE
#include "store.h"

#include <sqlite3.h>
#include <unistd.h>
#endif

#include <stdio.h>

static broker_queue_decl qd[3];
static broker_route_decl rd[1];

static fx *fx_retention(int64_t emitted_ttl, bool persist)
{
    qd[0] = fx_q("src", 0);
    qd[1] = fx_q("dst", 0);
    qd[2] = fx_q("other", 0);
    rd[0] = (broker_route_decl){"src", "out", "dst"};
    broker_retention ret = {.result_ttl_ms = 1000,
                            .failure_ttl_ms = 1000,
                            .emitted_result_ttl_ms = emitted_ttl,
                            .registry_cap = 10000};
    return fx_new_cfg(qd, 3, rd, 1, &ret, persist);
}

static unsigned char big[4096];
static const char pmeta[] = "{\"rows\":1}";
#define HELD (sizeof big + sizeof pmeta) /* payload + payload_meta + NUL */

/* Gives s the test payload (big) and its payload_meta (HELD bytes in the broker). */
static void with_payload(broker_job_spec *s)
{
    s->payload = big;
    s->len = sizeof big;
    s->payload_meta = pmeta;
    s->payload_meta_len = strlen(pmeta);
}

static int emit_keyed(fx *f, broker_conn *w, const char *parent, int64_t seq, const char *key,
                      bool payload)
{
    broker_job_spec s;
    fx_spec(&s, NULL, NULL, key);
    if (payload)
        with_payload(&s);
    broker_reply r;
    return broker_emit(f->b, w, parent, "out", seq, &s, (uint64_t)seq, &r, NULL);
}

TEST(finished_payload_freed_failed_kept)
{
    fx *f = fx_retention(60000, false); /* the default 60 s emitted retention */
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)i;
    CHECK_EQ_INT(fx_enq(f, "src", "R", NULL, NULL), WSM_OK);
    broker_conn *w = fx_worker(f, "w", "src", 1);
    broker_conn *x = fx_worker(f, "x", "dst", 1);
    size_t maxheld = 0, maxold = 0;
    char state[64], want[64] = "";
    for (int i = 0; i < 5000; i++) {
        f->nd = 0;
        CHECK_EQ_INT(emit_keyed(f, w, "R", i, "rec", true), WSM_OK);
        CHECK_EQ_INT(f->nd, 1);
        CHECK_EQ_INT(f->disp[0].len, sizeof big);
        CHECK_STR(f->disp[0].state, want);
        if (broker_payload_bytes(f->b) > maxheld)
            maxheld = broker_payload_bytes(f->b);
        snprintf(state, sizeof state, "{\"n\":%d}", i + 1);
        CHECK_EQ_INT(fx_result(f, x, f->disp[0].id, 1, NULL, state), WSM_OK);
        snprintf(want, sizeof want, "%s", state);
        /* before the fix every retained finished job held its payload */
        size_t old = (size_t)fx_count(f, "dst", "finished") * HELD;
        if (old > maxold)
            maxold = old;
        fx_advance(f, 10);
    }
    printf("  payload bytes held, 5000 keyed batches of 4 KiB, 60 s retention: max %zu "
           "(in flight only), before the fix %zu (%d finished batches retained)\n",
           maxheld, maxold, fx_count(f, "dst", "finished"));
    CHECK_EQ_INT(maxheld, HELD);
    CHECK(maxold >= 5000 * HELD); /* all 5000 retained (50 s < 60 s) */
    CHECK_EQ_INT(broker_payload_bytes(f->b), 0);
    /* a job failed for good keeps its payload for requeue */
    f->nd = 0;
    CHECK_EQ_INT(emit_keyed(f, w, "R", 9000, NULL, true), WSM_OK);
    CHECK_EQ_INT(fx_fail(f, x, "R.9000", 1, false), WSM_OK);
    CHECK_STR(fx_status(f, "R.9000"), "failed");
    CHECK_EQ_INT(broker_payload_bytes(f->b), HELD);
    f->nd = 0;
    CHECK_EQ_INT(broker_requeue(f->b, "R.9000", NULL, NULL), WSM_OK);
    CHECK_EQ_INT(f->nd, 1);
    CHECK_EQ_INT(f->disp[0].len, sizeof big);
    CHECK_EQ_INT(fx_result(f, x, "R.9000", 1, NULL, NULL), WSM_OK);
    CHECK_EQ_INT(broker_payload_bytes(f->b), 0);
    /* a finished job's JSON no longer shows payload_meta; its result stays */
    CHECK_STR(fx_status(f, "R.9000"), "finished");
    CHECK_EQ_INT(fx_result(f, w, "R", 1, "{\"ok\":1}", NULL), WSM_OK);
    CHECK_STR(fx_field(f, "R", "result"), "{\"ok\":1}");
    fx_advance(f, 3600000);
    CHECK_EQ_INT(broker_job_count(f->b), 0);
    CHECK_EQ_INT(broker_payload_bytes(f->b), 0);
    broker_conn_free(f->b, x);
    broker_conn_free(f->b, w);
    fx_free(f);
}

TEST(key_state_survives_retention_0)
{
    fx *f = fx_retention(0, false);
    CHECK_EQ_INT(fx_enq(f, "src", "R", NULL, NULL), WSM_OK);
    broker_conn *w = fx_worker(f, "w", "src", 1);
    broker_conn *x = fx_worker(f, "x", "dst", 1);
    char state[64], want[64] = "";
    for (int i = 0; i < 50; i++) {
        f->nd = 0;
        /* each batch is emitted only after the previous one finished and was purged */
        CHECK_EQ_INT(emit_keyed(f, w, "R", i, "rec", false), WSM_OK);
        CHECK_EQ_INT(f->nd, 1);
        CHECK_STR(f->disp[0].state, want); /* handed over every time */
        snprintf(state, sizeof state, "{\"n\":%d}", i + 1);
        CHECK_EQ_INT(fx_result(f, x, f->disp[0].id, 1, NULL, state), WSM_OK);
        snprintf(want, sizeof want, "%s", state);
        fx_advance(f, 1);
        CHECK_STR(fx_status(f, f->disp[0].id), ""); /* purged */
        CHECK_EQ_INT(broker_job_count(f->b), 1);    /* only the root */
        CHECK_EQ_INT(broker_key_count(f->b), 1);
    }
    /* the tree ends; its root is kept result_ttl (1 s) and the key with it */
    CHECK_EQ_INT(fx_result(f, w, "R", 1, NULL, NULL), WSM_OK);
    fx_advance(f, 500);
    CHECK_EQ_INT(broker_key_count(f->b), 1);
    f->nd = 0;
    CHECK_EQ_INT(fx_enq(f, "dst", "X", "rec", NULL), WSM_OK);
    CHECK_EQ_INT(f->nd, 1);
    CHECK_STR(f->disp[0].state, "{\"n\":50}");
    CHECK_EQ_INT(fx_result(f, x, "X", 1, NULL, NULL), WSM_OK);
    fx_advance(f, 2000); /* R and X purged: the key goes */
    CHECK_EQ_INT(broker_job_count(f->b), 0);
    CHECK_EQ_INT(broker_tree_count(f->b), 0);
    CHECK_EQ_INT(broker_key_count(f->b), 0);
    f->nd = 0;
    CHECK_EQ_INT(fx_enq(f, "dst", "Y", "rec", NULL), WSM_OK);
    CHECK_STR(f->disp[0].state, ""); /* a new life of the key */
    CHECK_EQ_INT(fx_result(f, x, "Y", 1, NULL, NULL), WSM_OK);
    /* many streams: keys and trees stay bounded by the roots' retention */
    size_t maxkeys = 0, maxtrees = 0;
    for (int t = 0; t < 400; t++) {
        char root[32], key[32];
        snprintf(root, sizeof root, "T%d", t);
        snprintf(key, sizeof key, "rec%d", t);
        f->nd = 0;
        CHECK_EQ_INT(fx_enq(f, "src", root, NULL, NULL), WSM_OK);
        for (int i = 0; i < 3; i++) {
            int n0 = f->nd;
            CHECK_EQ_INT(emit_keyed(f, w, root, i, key, false), WSM_OK);
            CHECK_EQ_INT(f->nd, n0 + 1);
            CHECK_STR(f->disp[n0].state, i ? "{\"n\":1}" : "");
            CHECK_EQ_INT(fx_result(f, x, f->disp[n0].id, 1, NULL, "{\"n\":1}"), WSM_OK);
            fx_advance(f, 1);
        }
        CHECK_EQ_INT(fx_result(f, w, root, 1, NULL, NULL), WSM_OK);
        fx_advance(f, 10);
        if (broker_key_count(f->b) > maxkeys)
            maxkeys = broker_key_count(f->b);
        if (broker_tree_count(f->b) > maxtrees)
            maxtrees = broker_tree_count(f->b);
    }
    CHECK(maxkeys <= 1000 / 13 + 3);
    CHECK(maxtrees <= 1000 / 13 + 3);
    fx_advance(f, 2000);
    CHECK_EQ_INT(broker_key_count(f->b), 0);
    CHECK_EQ_INT(broker_tree_count(f->b), 0);
    CHECK_EQ_INT(broker_job_count(f->b), 0);
    broker_conn_free(f->b, x);
    broker_conn_free(f->b, w);
    fx_free(f);
}

static size_t json_len(const cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    size_t n = s ? strlen(s) : 0;
    free(s);
    return n;
}

TEST(emitted_failure_ttl)
{
    /* failed emitted jobs are kept for emitted_failure_ttl, failed roots for failure_ttl */
    qd[0] = fx_q("src", 0);
    qd[1] = fx_q("dst", 0);
    qd[2] = fx_q("other", 0);
    rd[0] = (broker_route_decl){"src", "out", "dst"};
    broker_retention ret = {.result_ttl_ms = 1000,
                            .failure_ttl_ms = 100000,
                            .emitted_result_ttl_ms = 1000,
                            .emitted_failure_ttl_ms = 5000,
                            .registry_cap = 10000};
    fx *f = fx_new_cfg(qd, 3, rd, 1, &ret, false);
    CHECK_EQ_INT(fx_enq(f, "src", "R", NULL, NULL), WSM_OK);
    broker_conn *w = fx_worker(f, "w", "src", 1);
    broker_conn *x = fx_worker(f, "x", "dst", 1);
    CHECK_EQ_INT(emit_keyed(f, w, "R", 0, NULL, false), WSM_OK);
    CHECK_EQ_INT(fx_fail(f, x, "R.0", 1, false), WSM_OK);
    CHECK_EQ_INT(fx_fail(f, w, "R", 1, false), WSM_OK);
    CHECK_STR(fx_status(f, "R.0"), "failed");
    fx_advance(f, 4000);
    CHECK_STR(fx_status(f, "R.0"), "failed");
    fx_advance(f, 2000);
    CHECK_EQ_INT(fx_count(f, "dst", "failed"), 0); /* purged after 5 s */
    CHECK_STR(fx_status(f, "R"), "failed");        /* the root stays for failure_ttl */
    fx_advance(f, 100000);
    CHECK_EQ_INT(fx_count(f, "src", "failed"), 0);
    broker_conn_free(f->b, x);
    broker_conn_free(f->b, w);
    fx_free(f);
}

TEST(big_tree_job_json_bounded)
{
    fx *f = fx_retention(60000, false);
    CHECK_EQ_INT(fx_enq(f, "src", "a-fairly-long-root-id-of-a-recording", NULL, NULL), WSM_OK);
    broker_conn *w = fx_worker(f, "w", "src", 1);
    const char *root = "a-fairly-long-root-id-of-a-recording";
    for (int i = 0; i < 10000; i++)
        CHECK_EQ_INT(emit_keyed(f, w, root, i, NULL, false), WSM_OK);
    cJSON *j = broker_query_job(f->b, root, NULL);
    CHECK(j != NULL);
    size_t n = json_len(j);
    printf("  job JSON of a root with 10000 children: %zu bytes\n", n);
    CHECK(n < 16384);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "children")), BROKER_JSON_MAX_IDS);
    CHECK_EQ_INT(cJSON_GetObjectItem(j, "children_total")->valuedouble, 10000);
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "children"), 0)->valuestring,
              "a-fairly-long-root-id-of-a-recording.0");
    cJSON_Delete(j);
    /* a fan-in on 1000 of them */
    const char *deps[1000];
    char ids[1000][64];
    for (int i = 0; i < 1000; i++) {
        snprintf(ids[i], sizeof ids[i], "%s.%d", root, i);
        deps[i] = ids[i];
    }
    broker_job_spec s;
    fx_spec(&s, "other", "fanin", NULL);
    s.depends_on = deps;
    s.n_depends_on = 1000;
    broker_reply r;
    CHECK_EQ_INT(broker_enqueue(f->b, NULL, &s, &r, NULL), WSM_OK);
    CHECK_STR(r.status, "deferred");
    j = broker_query_job(f->b, "fanin", NULL);
    CHECK(j != NULL);
    CHECK(json_len(j) < 16384);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "depends_on")), BROKER_JSON_MAX_IDS);
    CHECK_EQ_INT(cJSON_GetObjectItem(j, "depends_on_total")->valuedouble, 1000);
    cJSON_Delete(j);
    /* a child: no children of its own, small too */
    j = broker_query_job(f->b, ids[5], NULL);
    CHECK(j && json_len(j) < 1024);
    CHECK_EQ_INT(cJSON_GetObjectItem(j, "children_total")->valuedouble, 0);
    cJSON_Delete(j);
    /* a wait on the tree answers with the same bounded job */
    bool done = true;
    cJSON *out = NULL;
    CHECK_EQ_INT(broker_wait(f->b, w, root, true, 0, 7, &done, &out, NULL), WSM_OK);
    CHECK(!done);
    broker_empty(f->b, "dst", NULL, NULL);
    CHECK_EQ_INT(fx_result(f, w, root, 1, NULL, NULL), WSM_OK);
    CHECK_EQ_INT(f->nw, 1);
    CHECK_STR(f->wait_done[0].tree_status, "failed"); /* children canceled */
    broker_conn_free(f->b, w);
    fx_free(f);
}

#ifdef WSM_TEST_STORE
static char dir[256];

static void flush(store *s, fx *f)
{
    int code = -1;
    store_batch *bt = store_batch_take(s, f->b, &code);
    CHECK_EQ_INT(code, WSM_OK);
    if (!bt)
        return;
    wsm_err e = {0};
    CHECK_EQ_INT(store_batch_commit(s, bt, &e), WSM_OK);
    store_batch_free(bt);
}

static fx *reopen(store **s, const char *path)
{
    wsm_err e = {0};
    *s = store_sqlite_open(path, 0, &e);
    CHECK(*s != NULL);
    fx *f = fx_retention(0, true);
    CHECK_EQ_INT(store_load(*s, f->b, &e), WSM_OK);
    return f;
}

/* Length of the stored payload of job id (-1: no row). */
static long long stored_payload(const char *path, const char *id)
{
    sqlite3 *db;
    long long n = -1;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -2;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT length(payload) FROM jobs WHERE id = ?1", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
}

TEST(sqlite_key_state_and_payloads_across_restart)
{
    char path[512];
    snprintf(path, sizeof path, "%s/retention.db", dir);
    store *s;
    fx *f = reopen(&s, path);
    CHECK_EQ_INT(fx_enq(f, "src", "R", NULL, NULL), WSM_OK);
    broker_conn *w = fx_worker(f, "w", "src", 1);
    broker_conn *x = fx_worker(f, "x", "dst", 1);
    CHECK_EQ_INT(emit_keyed(f, w, "R", 0, "rec", true), WSM_OK);
    flush(s, f); /* R.0 stored with its payload */
    CHECK_EQ_INT(stored_payload(path, "R.0"), sizeof big);
    CHECK_EQ_INT(fx_result(f, x, "R.0", 1, NULL, "{\"n\":1}"), WSM_OK);
    fx_advance(f, 1); /* R.0 purged (retention 0); the key lives with R's tree */
    CHECK_STR(fx_status(f, "R.0"), "");
    /* a job finished after its payload was stored: the store drops the payload */
    broker_conn *o = fx_worker(f, "o", "other", 1);
    broker_job_spec sp;
    fx_spec(&sp, "other", NULL, NULL);
    with_payload(&sp);
    broker_reply r;
    broker_credit(f->b, o, -1);
    sp.job_id = "G";
    CHECK_EQ_INT(broker_enqueue(f->b, NULL, &sp, &r, NULL), WSM_OK);
    sp.job_id = "F";
    CHECK_EQ_INT(broker_enqueue(f->b, NULL, &sp, &r, NULL), WSM_OK);
    flush(s, f);
    CHECK_EQ_INT(stored_payload(path, "G"), sizeof big);
    broker_credit(f->b, o, 2);
    CHECK_EQ_INT(fx_result(f, o, "G", 1, NULL, NULL), WSM_OK);
    CHECK_EQ_INT(fx_fail(f, o, "F", 1, false), WSM_OK);
    CHECK_EQ_INT(broker_payload_bytes(f->b), HELD); /* F only */
    flush(s, f);
    CHECK_EQ_INT(stored_payload(path, "G"), 0);
    CHECK_EQ_INT(stored_payload(path, "F"), sizeof big);
    CHECK_EQ_INT(stored_payload(path, "R.0"), -1);
    fx_free(f);
    store_free(s);
    /* restart */
    f = reopen(&s, path);
    CHECK_EQ_INT(broker_payload_bytes(f->b), HELD);
    CHECK_STR(fx_status(f, "G"), "finished");
    CHECK_STR(fx_field(f, "G", "queue"), "other");
    CHECK_EQ_INT(broker_key_count(f->b), 1);
    w = fx_worker(f, "w", "src", 1); /* R again (the hub failed, not R) */
    x = fx_worker(f, "x", "dst", 1);
    f->nd = 0;
    CHECK_EQ_INT(emit_keyed(f, w, "R", 1, "rec", false), WSM_OK);
    CHECK_EQ_INT(f->nd, 1);
    CHECK_STR(f->disp[0].state, "{\"n\":1}"); /* the state survived purge and restart */
    CHECK_EQ_INT(fx_result(f, x, "R.1", 1, NULL, "{\"n\":2}"), WSM_OK);
    CHECK_EQ_INT(fx_result(f, w, "R", 2, NULL, NULL), WSM_OK);
    fx_advance(f, 5000); /* everything purged: the key record goes too */
    CHECK_EQ_INT(broker_key_count(f->b), 0);
    flush(s, f);
    fx_free(f);
    store_free(s);
    f = reopen(&s, path);
    CHECK_EQ_INT(broker_key_count(f->b), 0);
    CHECK_EQ_INT(broker_job_count(f->b), 0);
    fx_free(f);
    store_free(s);
}
#endif

int main(void)
{
    RUN(finished_payload_freed_failed_kept);
    RUN(key_state_survives_retention_0);
    RUN(emitted_failure_ttl);
    RUN(big_tree_job_json_bounded);
#ifdef WSM_TEST_STORE
    const char *base = getenv("WSM_BUILDDIR");
    snprintf(dir, sizeof dir, "%s/wsm-retention-test-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    RUN(sqlite_key_state_and_payloads_across_restart);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
#endif
    return TEST_DONE();
}
