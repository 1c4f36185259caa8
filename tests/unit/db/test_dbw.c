/*
 * test_dbw.c - the db-writer's job and query logic (src/services/db-writer/dbw.c) without a hub:
 * real columnar payloads (binary and JSON, encoded with src/common's codec), real SQLite files.
 * Checks redelivery idempotence, derived event keys, AEB summary mapping, recording metadata,
 * bad jobs (clear error, retry false, nothing written) and every query kind.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbw.h"
#include "wsm_columns.h"
#include "wsm_frame.h"
#include "wsm_common.h"
#include "lib/dbtest.h"
#include "wsm_test.h"

static char tmpdir[256];

static const char *const states[5] = {"NONE", "FCW", "PB1", "PB2", "FB"};

enum { ROWS = 300 };

/* A frame batch as columns; state as a u8 enum; nullable range/rel_v/ttc. */
typedef struct cols {
    double t[ROWS], ego_v[ROWS], range[ROWS], rel_v[ROWS], ttc[ROWS], decel[ROWS];
    uint8_t state[ROWS], fcw[ROWS], coll[ROWS];
    uint8_t valid[(ROWS + 7) / 8];
    wsm_col c[9];
} cols;

static void make_cols(cols *b, int64_t first)
{
    memset(b->valid, 0, sizeof b->valid);
    for (int i = 0; i < ROWS; i++) {
        int64_t f = first + i;
        b->t[i] = (double)f * 0.01;
        b->ego_v[i] = 13.9 - (double)f * 0.001;
        b->range[i] = 40 - (double)f * 0.1;
        b->rel_v[i] = -10;
        b->ttc[i] = b->range[i] / 10;
        b->state[i] = (uint8_t)((f / 60) % 5);
        b->fcw[i] = b->state[i] > 0;
        b->decel[i] = (double[]){0, 0, 3.8, 5.3, 9.8}[b->state[i]];
        b->coll[i] = 0;
        if (f % 50 != 7) /* every 50th row: no object */
            b->valid[i / 8] |= (uint8_t)(1u << (i % 8));
    }
    wsm_col c[9] = {
        {.name = "t", .type = WSM_COL_F64, .unit = "s", .values = b->t},
        {.name = "ego_v", .type = WSM_COL_F64, .values = b->ego_v},
        {.name = "range",
         .type = WSM_COL_F64,
         .nullable = true,
         .values = b->range,
         .validity = b->valid},
        {.name = "rel_v",
         .type = WSM_COL_F64,
         .nullable = true,
         .values = b->rel_v,
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
    memcpy(b->c, c, sizeof c);
}

/* Encodes cols (ncols of them) and stores the job; returns the res code. */
static int store_batch(res_db *db, const char *ct, cols *b, size_t ncols, const char *args_json,
                       dbw_error *e)
{
    cJSON *meta = NULL;
    wsm_buf payload = WSM_BUF_INIT;
    wsm_err we;
    if (wsm_columns_encode(ct, b->c, ncols, ROWS, &meta, &payload, &we) != WSM_OK) {
        fprintf(stderr, "encode: %s\n", we.msg);
        return -1;
    }
    cJSON *args = cJSON_Parse(args_json);
    dbw_job j = {.key = "key-rec",
                 .args = args,
                 .content_type = ct,
                 .payload_meta = meta,
                 .payload = payload.data,
                 .len = payload.len};
    cJSON *res = NULL;
    int rc = dbw_store(db, &j, &res, e);
    if (rc == RES_OK) {
        CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(res, "frames")->valuedouble, ROWS);
    }
    cJSON_Delete(res);
    cJSON_Delete(args);
    cJSON_Delete(meta);
    wsm_buf_free(&payload);
    return rc;
}

static int store_args(res_db *db, const char *args_json, const char *key, dbw_error *e)
{
    cJSON *args = cJSON_Parse(args_json);
    if (!args) {
        fprintf(stderr, "bad test JSON: %s\n", args_json);
        return -1;
    }
    dbw_job j = {.key = key, .args = args};
    cJSON *res = NULL;
    int rc = dbw_store(db, &j, &res, e);
    cJSON_Delete(res);
    cJSON_Delete(args);
    return rc;
}

static cJSON *query(res_db *db, const char *args_json, int expect, dbw_error *e)
{
    cJSON *args = cJSON_Parse(args_json);
    cJSON *out = NULL;
    int rc = dbw_query(db, args, &out, e);
    if (rc != expect)
        fprintf(stderr, "query %s: %s %s\n", args_json, res_code_name(rc), e->msg);
    CHECK_EQ_INT(rc, expect);
    cJSON_Delete(args);
    return out;
}

static char *rows_text(res_db *db, const char *rec)
{
    cJSON *o = NULL;
    res_get_frame_rows(db, rec, 0, 100000, &o, NULL);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static dbw_pool *pool;

TEST(t_frames_binary_and_json)
{
    res_err re;
    res_db *db = dbw_pool_get(pool, &re);
    CHECK(db != NULL);
    cols *b = malloc(sizeof *b);
    dbw_error e;
    make_cols(b, 0);
    CHECK_EQ_INT(
        store_batch(db, WSM_CT_COLUMNS, b, 9, "{\"recording_id\":\"bin\",\"first_frame\":0}", &e),
        RES_OK);
    make_cols(b, ROWS);
    CHECK_EQ_INT(
        store_batch(db, WSM_CT_COLUMNS, b, 9, "{\"recording_id\":\"bin\",\"first_frame\":300}", &e),
        RES_OK);
    char *once = rows_text(db, "bin");
    /* the same data as JSON batches into another recording, and redelivered */
    for (int rep = 0; rep < 2; rep++) {
        make_cols(b, 0);
        CHECK_EQ_INT(store_batch(db, WSM_CT_JSON, b, 9, "{\"first_frame\":0}", &e), RES_OK);
        make_cols(b, ROWS);
        CHECK_EQ_INT(store_batch(db, WSM_CT_JSON, b, 9, "{\"first_frame\":300}", &e), RES_OK);
    }
    char *json = rows_text(db, "key-rec"); /* recording id from the job key */
    /* identical values apart from the id */
    const char *p1 = strstr(once, "\"frame\""), *p2 = strstr(json, "\"frame\"");
    CHECK(p1 && p2 && strcmp(p1, p2) == 0);
    int64_t n, f, l;
    CHECK_EQ_INT(res_frames_coverage(db, "key-rec", &n, &f, &l, NULL), RES_OK);
    CHECK_EQ_INT(n, 2 * ROWS);
    /* redelivering the binary batches changes nothing */
    make_cols(b, 0);
    CHECK_EQ_INT(
        store_batch(db, WSM_CT_COLUMNS, b, 9, "{\"recording_id\":\"bin\",\"first_frame\":0}", &e),
        RES_OK);
    char *again = rows_text(db, "bin");
    CHECK_STR(once, again);
    /* a null row of range came back as null */
    cJSON *rows = NULL;
    CHECK_EQ_INT(res_get_frame_rows(db, "bin", 7, 1, &rows, NULL), RES_OK);
    CHECK(cJSON_IsNull(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rows, "range"), 0)));
    cJSON_Delete(rows);
    free(once);
    free(json);
    free(again);
    free(b);
    dbw_pool_put(pool, db);
}

TEST(t_bad_jobs)
{
    res_err re;
    res_db *db = dbw_pool_get(pool, &re);
    cols *b = malloc(sizeof *b);
    dbw_error e;
    make_cols(b, 0);
    /* missing first_frame */
    CHECK_EQ_INT(store_batch(db, WSM_CT_COLUMNS, b, 9, "{\"recording_id\":\"bad\"}", &e),
                 RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "first_frame") != NULL);
    CHECK(!e.retry);
    CHECK_STR(e.type, "BAD_INPUT");
    /* a required column missing: drop collision (the last one) */
    CHECK_EQ_INT(
        store_batch(db, WSM_CT_COLUMNS, b, 8, "{\"recording_id\":\"bad\",\"first_frame\":0}", &e),
        RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "collision") != NULL);
    /* state of the wrong type */
    b->c[5] = (wsm_col){.name = "state", .type = WSM_COL_F64, .values = b->t};
    CHECK_EQ_INT(
        store_batch(db, WSM_CT_COLUMNS, b, 9, "{\"recording_id\":\"bad\",\"first_frame\":0}", &e),
        RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "state") != NULL);
    /* a state name outside the set */
    make_cols(b, 0);
    static const char *const odd[5] = {"NONE", "FCW", "PB1", "PB2", "BOOM"};
    b->c[5].enum_names = odd;
    CHECK_EQ_INT(
        store_batch(db, WSM_CT_COLUMNS, b, 9, "{\"recording_id\":\"bad\",\"first_frame\":0}", &e),
        RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "BOOM") != NULL);
    /* fcw not a flag */
    make_cols(b, 0);
    b->c[6] = (wsm_col){.name = "fcw", .type = WSM_COL_F64, .values = b->t};
    CHECK_EQ_INT(
        store_batch(db, WSM_CT_COLUMNS, b, 9, "{\"recording_id\":\"bad\",\"first_frame\":0}", &e),
        RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "fcw") != NULL);
    /* a corrupt payload: JSON content that is not JSON */
    cJSON *meta = cJSON_Parse("{\"rows\":1,\"columns\":[{\"name\":\"t\",\"type\":\"f64\"}]}");
    cJSON *args = cJSON_Parse("{\"recording_id\":\"bad\",\"first_frame\":0}");
    dbw_job j = {.args = args,
                 .content_type = WSM_CT_JSON,
                 .payload_meta = meta,
                 .payload = "{\"t\":[1",
                 .len = 7};
    cJSON *res = NULL;
    CHECK_EQ_INT(dbw_store(db, &j, &res, &e), RES_E_BAD_INPUT);
    CHECK(res == NULL);
    j.content_type = WSM_CT_COLUMNS; /* binary of the wrong size */
    CHECK_EQ_INT(dbw_store(db, &j, &res, &e), RES_E_BAD_INPUT);
    cJSON_Delete(meta);
    cJSON_Delete(args);
    /* nothing was written for "bad" */
    int64_t n, f, l;
    CHECK_EQ_INT(res_frames_coverage(db, "bad", &n, &f, &l, NULL), RES_OK);
    CHECK_EQ_INT(n, 0);
    /* jobs without anything to store, without an id, with wrong types */
    CHECK_EQ_INT(store_args(db, "{\"recording_id\":\"bad\"}", NULL, &e), RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "nothing to store") != NULL);
    CHECK_EQ_INT(store_args(db, "{\"events\":[]}", NULL, &e), RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "recording_id") != NULL);
    CHECK_EQ_INT(store_args(db, "{\"recording_id\":5,\"events\":[]}", NULL, &e), RES_E_BAD_INPUT);
    CHECK_EQ_INT(store_args(db, "{\"recording_id\":\"bad\",\"events\":{}}", NULL, &e),
                 RES_E_BAD_INPUT);
    CHECK_EQ_INT(store_args(db,
                            "{\"recording_id\":\"bad\",\"events\":[{\"event\":\"fcw_onset\","
                            "\"frame\":3,\"t\":\"soon\"}]}",
                            NULL, &e),
                 RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "args.events[0].t") != NULL);
    CHECK_EQ_INT(
        store_args(db, "{\"recording_id\":\"bad\",\"events\":[{\"event\":\"boom\"}]}", NULL, &e),
        RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "boom") != NULL);
    CHECK_EQ_INT(store_args(db, "{\"recording_id\":\"bad\",\"events\":[{\"event\":\"collision\"}]}",
                            NULL, &e),
                 RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "seq") != NULL);
    CHECK_EQ_INT(
        store_args(db, "{\"recording_id\":\"bad\",\"summary\":{\"max_stage\":\"XX\"}}", NULL, &e),
        RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "max_stage") != NULL);
    CHECK_EQ_INT(
        store_args(db, "{\"recording_id\":\"bad\",\"summary\":{\"params\":[1]}}", NULL, &e),
        RES_E_BAD_INPUT);
    CHECK_EQ_INT(store_args(db, "{\"recording_id\":\"bad\",\"path\":7}", NULL, &e),
                 RES_E_BAD_INPUT);
    CHECK(strstr(e.msg, "args.path") != NULL);
    cJSON *ev = NULL;
    CHECK_EQ_INT(res_get_events(db, "bad", &ev, NULL), RES_OK);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "events")), 0);
    cJSON_Delete(ev);
    free(b);
    dbw_pool_put(pool, db);
}

TEST(t_events_summary_metadata)
{
    res_err re;
    res_db *db = dbw_pool_get(pool, &re);
    dbw_error e;
    /* events as libaeb prints them (no seq): keys derived from frame and kind */
    const char *events =
        "{\"recording_id\":\"ccrs-20\",\"events\":["
        "{\"event\":\"fcw_onset\",\"frame\":412,\"t\":4.12,\"ttc\":2.2,\"range\":12.3,"
        "\"ego_v\":5.55,\"rel_v\":-5.55},"
        "{\"event\":\"stage_change\",\"frame\":412,\"t\":4.12,\"from\":\"NONE\",\"to\":\"FCW\","
        "\"ttc\":2.2},"
        "{\"event\":\"brake_onset\",\"frame\":500,\"t\":5.0,\"stage\":\"PB1\",\"ttc\":1.1,"
        "\"range\":6.1,\"ego_v\":5.55},"
        "{\"event\":\"collision\",\"frame\":700,\"t\":7.0,\"ego_v\":2.0,\"impact_speed\":2.0,"
        "\"impact_speed_kmh\":7.2}]}";
    for (int rep = 0; rep < 2; rep++)
        CHECK_EQ_INT(store_args(db, events, NULL, &e), RES_OK);
    cJSON *out = query(db, "{\"q\":\"events\",\"recording_id\":\"ccrs-20\"}", RES_OK, &e);
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(out, "events");
    CHECK_EQ_INT(cJSON_GetArraySize(arr), 4);
    cJSON *e0 = cJSON_GetArrayItem(arr, 0), *e1 = cJSON_GetArrayItem(arr, 1);
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(e0, "seq")->valuedouble, 412 * 5 + 0);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(e1, "kind")->valuestring, "stage_change");
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(e1, "stage")->valuestring, "FCW");
    CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, 3), "impact_speed_kmh")
                   ->valuedouble,
               7.2, 1e-12);
    cJSON_Delete(out);

    /* the summary as aeb_summary_to_json writes it, the service version in the args */
    const char *summary =
        "{\"recording_id\":\"ccrs-20\",\"service_version\":\"aeb 0.1.0\",\"summary\":{"
        "\"frames\":800,\"min_ttc\":{\"value\":0.01,\"t\":6.99},\"max_stage\":\"FB\","
        "\"counts\":{\"fcw_onset\":1},\"first_fcw_t\":4.12,\"first_brake_t\":5.0,"
        "\"first_collision\":{\"t\":7.0,\"impact_speed\":2.0,\"impact_speed_kmh\":7.2},"
        "\"input_errors\":0,\"t_not_increasing\":0,\"params\":{\"a_fb\":9.8}}}";
    CHECK_EQ_INT(store_args(db, summary, NULL, &e), RES_OK);
    /* the reader's result: recording metadata */
    CHECK_EQ_INT(store_args(db,
                            "{\"recording_id\":\"ccrs-20\",\"path\":\"/data/ccrs-20.mf4\","
                            "\"sha256\":\"00ff\",\"frames\":800,\"t_start\":0,\"t_end\":7.99,"
                            "\"channels\":{\"ego_v\":\"VehSpd\"}}",
                            NULL, &e),
                 RES_OK);
    /* the root job id of a stored job finds the recording too */
    cJSON *margs = cJSON_Parse("{\"recording_id\":\"ccrs-20\",\"status\":\"read\"}");
    dbw_job mj = {.args = margs, .root = "root-job-77"};
    cJSON *mres = NULL;
    CHECK_EQ_INT(dbw_store(db, &mj, &mres, &e), RES_OK);
    cJSON_Delete(mres);
    cJSON_Delete(margs);
    out = query(db, "{\"q\":\"recording\",\"recording_id\":\"root-job-77\"}", RES_OK, &e);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(out, "id")->valuestring, "ccrs-20");
    cJSON_Delete(out);
    out = query(db, "{\"q\":\"recording\",\"recording_id\":\"ccrs-20\"}", RES_OK, &e);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(out, "status")->valuestring, "read");
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(out, "path")->valuestring, "/data/ccrs-20.mf4");
    cJSON *s = cJSON_GetObjectItemCaseSensitive(out, "summary");
    CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(s, "min_ttc")->valuedouble, 0.01, 1e-12);
    CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(s, "t_min_ttc")->valuedouble, 6.99, 1e-12);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "collision")));
    CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(s, "impact_speed_kmh")->valuedouble, 7.2, 1e-12);
    cJSON *p = cJSON_GetObjectItemCaseSensitive(s, "params");
    CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(p, "a_fb")->valuedouble, 9.8, 1e-12);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(p, "service_version")->valuestring, "aeb 0.1.0");
    cJSON_Delete(out);
    /* a summary without collision */
    CHECK_EQ_INT(store_args(db,
                            "{\"recording_id\":\"ok\",\"summary\":{\"frames\":10,\"min_ttc\":null,"
                            "\"max_stage\":\"NONE\",\"first_collision\":null}}",
                            NULL, &e),
                 RES_OK);
    cJSON *rec = NULL;
    CHECK_EQ_INT(res_get_recording(db, "ok", &rec, NULL), RES_E_NOT_FOUND); /* no metadata */
    CHECK_EQ_INT(store_args(db, "{\"recording\":{\"id\":\"ok\",\"path\":\"/x\"}}", NULL, &e),
                 RES_OK);
    out = query(db, "{\"q\":\"recording\",\"recording_id\":\"ok\"}", RES_OK, &e);
    s = cJSON_GetObjectItemCaseSensitive(out, "summary");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(s, "collision")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(s, "min_ttc")));
    cJSON_Delete(out);
    dbw_pool_put(pool, db);
}

TEST(t_queries)
{
    res_err re;
    res_db *db = dbw_pool_get(pool, &re);
    dbw_error e;
    cJSON *out = query(db, "{\"q\":\"recordings\",\"limit\":1}", RES_OK, &e);
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(out, "total")->valuedouble, 2);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(out, "recordings")), 1);
    cJSON_Delete(out);
    out = query(db,
                "{\"q\":\"frames\",\"recording_id\":\"bin\",\"max_points\":50,"
                "\"series\":[\"ego_v\",\"state\"]}",
                RES_OK, &e);
    cJSON *ser = cJSON_GetObjectItemCaseSensitive(out, "series");
    CHECK_EQ_INT(cJSON_GetArraySize(ser), 2);
    cJSON *ev = cJSON_GetObjectItemCaseSensitive(ser, "ego_v");
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "v")) <= 50);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
                     cJSON_GetObjectItemCaseSensitive(ser, "state"), "v")),
                 10); /* state changes every 60 frames over 600 frames */
    cJSON_Delete(out);
    out = query(db, "{\"q\":\"rows\",\"recording_id\":\"bin\",\"first_frame\":598}", RES_OK, &e);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(out, "frame")), 2);
    cJSON_Delete(out);
    out = query(db, "{\"q\":\"coverage\",\"recording_id\":\"bin\"}", RES_OK, &e);
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(out, "frames")->valuedouble, 600);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(out, "gap_free")));
    cJSON_Delete(out);
    CHECK(query(db, "{\"q\":\"nope\"}", RES_E_BAD_INPUT, &e) == NULL);
    CHECK(strstr(e.msg, "nope") != NULL);
    CHECK(query(db, "{}", RES_E_BAD_INPUT, &e) == NULL);
    CHECK(query(db, "{\"q\":\"events\"}", RES_E_BAD_INPUT, &e) == NULL);
    CHECK(query(db, "{\"q\":\"recordings\",\"limit\":5000}", RES_E_BAD_INPUT, &e) == NULL);
    CHECK(strstr(e.msg, "args.limit") != NULL);
    CHECK(query(db, "{\"q\":\"frames\",\"recording_id\":\"bin\",\"series\":[\"speed\"]}",
                RES_E_BAD_INPUT, &e) == NULL);
    CHECK(strstr(e.msg, "speed") != NULL);
    CHECK(query(db, "{\"q\":\"recording\",\"recording_id\":\"nobody\"}", RES_E_NOT_FOUND, &e) ==
          NULL);
    CHECK(!e.retry);
    dbw_pool_put(pool, db);
}

int main(void)
{
    wsm_log_set_level(WSM_LOG_WARN);
    if (dbtest_mkdtemp(tmpdir, sizeof tmpdir, "dbw-test") != 0)
        return 1;
    char url[600];
    if (dbtest_url(tmpdir, "dbw", url, sizeof url) != 0)
        return 1;
    printf("database: %s\n", url);
    res_err re;
    CHECK_EQ_INT(dbw_pool_new("bogus:x", 2, &pool, &re), RES_E_BAD_URL);
    CHECK(pool == NULL);
    if (dbw_pool_new(url, 2, &pool, &re) != RES_OK) {
        fprintf(stderr, "pool: %s\n", re.msg);
        return 1;
    }
    RUN(t_frames_binary_and_json);
    RUN(t_bad_jobs);
    RUN(t_events_summary_metadata);
    RUN(t_queries);
    dbw_pool_free(pool);
    int rc = TEST_DONE();
    if (rc == 0)
        dbtest_rmtree(tmpdir);
    return rc;
}
