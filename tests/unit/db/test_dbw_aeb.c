/*
 * test_dbw_aeb.c - the contract between the aeb service's outputs and the db-writer, without a
 * hub: a CCRs-like approach (ego 50 km/h onto a stationary lead from 100 m, 100 Hz) is split
 * into batches, run through the aeb service logic (aebsvc_process, key state carried from batch
 * to batch) and every `frames` and `events` output is stored with dbw_store, in both encodings
 * (binary columns and JSON) and once more as a redelivery. The stored rows must cover every
 * frame without gaps, the events and the summary must be what the aeb service produced, and the
 * two encodings must give identical rows.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aebsvc.h"
#include "dbw.h"
#include "wsm_columns.h"
#include "wsm_frame.h"
#include "lib/dbtest.h"
#include "wsm_test.h"

enum { FRAMES = 900, BATCH = 128 };

static char tmpdir[256];

/* Input batch [first, first + n) of the scenario as columns in content type ct. */
static void input_batch(int64_t first, size_t n, const char *ct, cJSON **meta, wsm_buf *payload)
{
    static double t[BATCH], v[BATCH], range[BATCH], rel[BATCH];
    for (size_t i = 0; i < n; i++) {
        double tt = (double)(first + (int64_t)i) * 0.01;
        t[i] = tt;
        v[i] = 50 / 3.6;
        range[i] = fmax(100 - v[i] * tt, -1);
        rel[i] = -v[i];
    }
    wsm_col c[4] = {
        {.name = "t", .type = WSM_COL_F64, .unit = "s", .values = t},
        {.name = "ego_v", .type = WSM_COL_F64, .unit = "m/s", .values = v},
        {.name = "range", .type = WSM_COL_F64, .unit = "m", .nullable = true, .values = range},
        {.name = "rel_v", .type = WSM_COL_F64, .unit = "m/s", .nullable = true, .values = rel}};
    wsm_err e;
    int rc = wsm_columns_encode(ct, c, 4, n, meta, payload, &e);
    if (rc)
        fprintf(stderr, "encode: %s\n", e.msg);
    CHECK_EQ_INT(rc, WSM_OK);
}

static int store(res_db *db, const char *key, const cJSON *args, const char *ct, const cJSON *meta,
                 const void *p, size_t len)
{
    dbw_job j = {.key = key,
                 .args = args,
                 .content_type = ct,
                 .payload_meta = meta,
                 .payload = p,
                 .len = len};
    cJSON *res = NULL;
    dbw_error e;
    int rc = dbw_store(db, &j, &res, &e);
    if (rc)
        fprintf(stderr, "dbw_store: %s: %s\n", e.type, e.msg);
    cJSON_Delete(res);
    return rc;
}

/* Runs the whole recording through aebsvc and the db-writer; returns the events produced. */
static size_t run(res_db *db, const char *rec, const char *ct, int deliveries)
{
    aeb_params p;
    aeb_params_default(&p);
    cJSON *state = NULL;
    size_t n_events = 0;
    for (int64_t first = 0; first < FRAMES; first += BATCH) {
        size_t n = FRAMES - first < BATCH ? (size_t)(FRAMES - first) : BATCH;
        cJSON *meta = NULL;
        wsm_buf payload = WSM_BUF_INIT;
        input_batch(first, n, ct, &meta, &payload);
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "recording_id", rec);
        cJSON_AddNumberToObject(args, "first_frame", (double)first);
        cJSON_AddBoolToObject(args, "last", first + BATCH >= FRAMES);
        aebsvc_in in = {.key = rec,
                        .args = args,
                        .state = state,
                        .content_type = ct,
                        .payload_meta = meta,
                        .payload = payload.data,
                        .len = payload.len};
        aebsvc_out out;
        memset(&out, 0, sizeof out);
        aebsvc_error e;
        int rc = aebsvc_process(&p, &in, &out, &e);
        if (rc)
            fprintf(stderr, "aebsvc: %s: %s\n", e.type, e.msg);
        CHECK_EQ_INT(rc, 0);
        if (rc == 0) {
            for (int d = 0; d < deliveries; d++) {
                CHECK_EQ_INT(store(db, rec, out.frames_args, out.content_type, out.frames_meta,
                                   out.frames_payload.data, out.frames_payload.len),
                             RES_OK);
                if (out.events_args)
                    CHECK_EQ_INT(store(db, rec, out.events_args, NULL, NULL, NULL, 0), RES_OK);
            }
            n_events += out.n_events;
            cJSON_Delete(state);
            state = cJSON_Duplicate(out.state, true);
        }
        aebsvc_out_free(&out);
        cJSON_Delete(args);
        cJSON_Delete(meta);
        wsm_buf_free(&payload);
    }
    cJSON_Delete(state);
    return n_events;
}

static char *rows_of(res_db *db, const char *rec)
{
    cJSON *o = NULL;
    CHECK_EQ_INT(res_get_frame_rows(db, rec, 0, 100000, &o, NULL), RES_OK);
    cJSON_DeleteItemFromObjectCaseSensitive(o, "recording_id");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

TEST(t_aeb_outputs_stored)
{
    char url[400];
    snprintf(url, sizeof url, "sqlite:%s/results.db", tmpdir);
    res_db *db = NULL;
    res_err re;
    CHECK_EQ_INT(res_open(url, NULL, &db, &re), RES_OK);
    if (!db)
        return;
    size_t ev_bin = run(db, "ccrs50-bin", WSM_CT_COLUMNS, 2); /* every output delivered twice */
    size_t ev_json = run(db, "ccrs50-json", WSM_CT_JSON, 1);
    CHECK(ev_bin >= 5); /* fcw, brake, stage changes, collision */
    CHECK_EQ_INT(ev_bin, ev_json);
    int64_t n, f, l;
    CHECK_EQ_INT(res_frames_coverage(db, "ccrs50-bin", &n, &f, &l, NULL), RES_OK);
    CHECK_EQ_INT(n, FRAMES);
    CHECK_EQ_INT(l, FRAMES - 1);
    char *a = rows_of(db, "ccrs50-bin"), *b = rows_of(db, "ccrs50-json");
    CHECK_STR(a, b);
    free(a);
    free(b);
    cJSON *ev = NULL;
    CHECK_EQ_INT(res_get_events(db, "ccrs50-bin", &ev, NULL), RES_OK);
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(ev, "events");
    CHECK_EQ_INT(cJSON_GetArraySize(arr), ev_bin); /* redelivery added no events */
    bool saw_fcw = false, saw_coll = false;
    cJSON *x;
    cJSON_ArrayForEach(x, arr)
    {
        const char *k = cJSON_GetObjectItemCaseSensitive(x, "kind")->valuestring;
        saw_fcw = saw_fcw || strcmp(k, "fcw_onset") == 0;
        if (strcmp(k, "collision") == 0) {
            saw_coll = true;
            CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(x, "impact_speed_kmh")->valuedouble, 50,
                       0.5);
        }
    }
    CHECK(saw_fcw && saw_coll);
    cJSON_Delete(ev);
    /* the summary came with the last frames batch; no metadata row: only via the rows */
    cJSON *fr = NULL;
    CHECK_EQ_INT(res_get_frames(db, "ccrs50-bin", 100, NAN, NAN, &fr, NULL), RES_OK);
    cJSON *st = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(fr, "series"), "state"),
        "v");
    CHECK_STR(cJSON_GetArrayItem(st, 0)->valuestring, "NONE");
    CHECK_STR(cJSON_GetArrayItem(st, cJSON_GetArraySize(st) - 1)->valuestring, "FB");
    cJSON_Delete(fr);
    /* metadata as the reader reports it, then the recording with its summary */
    cJSON *meta = cJSON_Parse("{\"recording_id\":\"ccrs50-bin\",\"path\":\"/s/ccrs50.mf4\","
                              "\"sha256\":\"ab\",\"frames\":900,\"t_start\":0,\"t_end\":8.99}");
    CHECK_EQ_INT(store(db, "ccrs50-bin", meta, NULL, NULL, NULL, 0), RES_OK);
    cJSON_Delete(meta);
    cJSON *rec = NULL;
    CHECK_EQ_INT(res_get_recording(db, "ccrs50-bin", &rec, NULL), RES_OK);
    cJSON *s = cJSON_GetObjectItemCaseSensitive(rec, "summary");
    CHECK(cJSON_IsObject(s));
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(s, "frames")->valuedouble, FRAMES);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(s, "max_stage")->valuestring, "FB");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "collision")));
    CHECK(cJSON_GetObjectItemCaseSensitive(s, "first_fcw_t")->valuedouble > 0);
    cJSON *params = cJSON_GetObjectItemCaseSensitive(s, "params");
    cJSON *sv = cJSON_GetObjectItemCaseSensitive(params, "service_version");
    CHECK(cJSON_IsString(sv) && strstr(sv->valuestring, "aeb") != NULL);
    CHECK(cJSON_GetArraySize(params) > 3); /* the AEB parameters */
    cJSON_Delete(rec);
    res_close(db);
}

int main(void)
{
    wsm_log_set_level(WSM_LOG_WARN);
    if (dbtest_mkdtemp(tmpdir, sizeof tmpdir, "dbw-aeb") != 0)
        return 1;
    RUN(t_aeb_outputs_stored);
    int rc = TEST_DONE();
    if (rc == 0)
        dbtest_rmtree(tmpdir);
    return rc;
}
