/*
 * test_aeb_db.c - the contract between the aeb service and the db-writer (docs/results-schema.md
 * §"The db queue"): every output aebsvc_process produces for a recording (frames batches in
 * both encodings, events, the summary on the last batch) is accepted by dbw_store, and what
 * the database then answers matches the AEB run (frame count without gaps, events, summary).
 */
#include "aeb_scenario.h"
#include "aebsvc.h"
#include "results.h"
#include "dbw.h"
#include "wsm_frame.h"
#include "../../wsm_test.h"

#include <stdlib.h>
#include <unistd.h>

static char dir[] = "/tmp/wsm-aebdb-XXXXXX";

/* Runs CCRb-6-12m (open loop + standstill) through aebsvc in batches of 37 rows and stores
 * every output with dbw_store. Returns the number of events produced. */
static int store_recording(res_db *db, const char *rid, const char *ct, aeb_state *final)
{
    const aeb_scenario *sc = aeb_scenario_find("CCRb-6-12m");
    enum { CAP = 400 };
    static double t[CAP], v[CAP], range[CAP], rel_v[CAP];
    static uint8_t obj[CAP];
    size_t n = 0;
    aeb_scenario_gen g;
    aeb_scenario_gen_init(&g, sc, 0.01, 0.07);
    for (;;) {
        aeb_input in;
        aeb_truth tr;
        aeb_scenario_gen_frame(&g, &in, &tr);
        t[n] = in.t;
        v[n] = in.ego_v;
        obj[n] = (in.has & AEB_HAS_RANGE) != 0;
        range[n] = in.range;
        rel_v[n] = in.rel_v;
        n++;
        if (tr.gap <= 0)
            break;
        aeb_scenario_gen_advance(&g, 0);
    }
    for (int k = 0; k < 20; k++, n++) { /* standstill: release */
        t[n] = t[n - 1] + 0.01;
        v[n] = 0;
        obj[n] = 0;
    }
    aeb_params p;
    aeb_params_default(&p);
    char *state = NULL;
    int events = 0;
    for (size_t from = 0; from < n; from += 37) {
        size_t rows = n - from < 37 ? n - from : 37;
        uint8_t bm[8] = {0};
        for (size_t i = 0; i < rows; i++)
            if (obj[from + i])
                bm[i >> 3] |= (uint8_t)(1u << (i & 7));
        wsm_col cols[4] = {
            {.name = "t", .type = WSM_COL_F64, .values = t + from},
            {.name = "ego_v", .type = WSM_COL_F64, .values = v + from},
            {.name = "range",
             .type = WSM_COL_F64,
             .nullable = true,
             .values = range + from,
             .validity = bm},
            {.name = "rel_v",
             .type = WSM_COL_F64,
             .nullable = true,
             .values = rel_v + from,
             .validity = bm},
        };
        cJSON *meta;
        wsm_buf payload = WSM_BUF_INIT;
        wsm_err we;
        CHECK_EQ_INT(wsm_columns_encode(ct, cols, 4, rows, &meta, &payload, &we), WSM_OK);
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "recording_id", rid);
        cJSON_AddNumberToObject(args, "first_frame", (double)from);
        cJSON_AddBoolToObject(args, "last", from + rows == n);
        cJSON *st = state ? cJSON_Parse(state) : NULL;
        aebsvc_in in = {.args = args,
                        .state = st,
                        .content_type = ct,
                        .payload_meta = meta,
                        .payload = payload.data,
                        .len = payload.len};
        aebsvc_out o;
        aebsvc_error e;
        CHECK_EQ_INT(aebsvc_process(&p, &in, &o, &e), 0);
        /* the frames output as a db job */
        dbw_job fj = {.args = o.frames_args,
                      .content_type = o.content_type,
                      .payload_meta = o.frames_meta,
                      .payload = o.frames_payload.data,
                      .len = o.frames_payload.len};
        cJSON *res = NULL;
        dbw_error de;
        int rc = dbw_store(db, &fj, &res, &de);
        if (rc != RES_OK)
            fprintf(stderr, "frames at %zu: %s: %s\n", from, de.type, de.msg);
        CHECK_EQ_INT(rc, RES_OK);
        cJSON_Delete(res);
        if (o.events_args) {
            dbw_job ej = {.args = o.events_args};
            rc = dbw_store(db, &ej, &res, &de);
            if (rc != RES_OK)
                fprintf(stderr, "events at %zu: %s: %s\n", from, de.type, de.msg);
            CHECK_EQ_INT(rc, RES_OK);
            cJSON_Delete(res);
            events += (int)o.n_events;
        }
        free(state);
        state = cJSON_PrintUnformatted(o.state);
        aebsvc_out_free(&o);
        cJSON_Delete(st);
        cJSON_Delete(args);
        cJSON_Delete(meta);
        wsm_buf_free(&payload);
    }
    cJSON *sj = cJSON_Parse(state);
    aeb_state_init(final);
    CHECK_EQ_INT(aeb_state_from_json(sj, final, NULL), AEB_OK);
    cJSON_Delete(sj);
    free(state);
    return events;
}

static cJSON *query(res_db *db, const char *q)
{
    cJSON *args = cJSON_Parse(q), *out = NULL;
    dbw_error e;
    if (dbw_query(db, args, &out, &e) != RES_OK)
        fprintf(stderr, "query %s: %s: %s\n", q, e.type, e.msg);
    cJSON_Delete(args);
    return out;
}

TEST(event_keys_follow_the_aeb_event_types)
{
    /* the db-writer keys an event without seq as frame * 5 + kind index; the in-process
     * benchmark keys libaeb's events the same way only if both orders agree */
    for (int k = 0; k < AEB_EV_COUNT; k++) {
        CHECK_EQ_INT(res_event_kind_index(aeb_event_name((aeb_event_type)k)), k);
        CHECK_EQ_INT(res_event_seq(10, aeb_event_name((aeb_event_type)k)), 50 + k);
    }
    CHECK_EQ_INT(RES_EVENT_KINDS, AEB_EV_COUNT);
    CHECK_EQ_INT(res_event_seq(10, "summary"), -1);
    CHECK_EQ_INT(res_event_seq(-1, "collision"), -1);
    CHECK_EQ_INT(res_event_kind_index(NULL), -1);
}

TEST(db_accepts_the_aeb_outputs)
{
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/results.db", dir);
    dbw_pool *pool = NULL;
    res_err re;
    CHECK_EQ_INT(dbw_pool_new(url, 1, &pool, &re), RES_OK);
    if (!pool)
        return;
    res_db *db = dbw_pool_get(pool, &re);
    const char *cts[] = {WSM_CT_COLUMNS, WSM_CT_JSON};
    const char *ids[] = {"rec-bin", "rec-json"};
    for (int k = 0; k < 2; k++) {
        /* the reader's metadata (mf4:result) makes the recording listable */
        char meta[256];
        snprintf(meta, sizeof meta,
                 "{\"recording_id\":\"%s\",\"path\":\"/data/%s.mf4\",\"status\":\"read\"}", ids[k],
                 ids[k]);
        cJSON *margs = cJSON_Parse(meta), *mres = NULL;
        dbw_job mj = {.args = margs};
        dbw_error de;
        CHECK_EQ_INT(dbw_store(db, &mj, &mres, &de), RES_OK);
        cJSON_Delete(mres);
        cJSON_Delete(margs);
        aeb_state st;
        int events = store_recording(db, ids[k], cts[k], &st);
        char q[256];
        snprintf(q, sizeof q, "{\"q\":\"coverage\",\"recording_id\":\"%s\"}", ids[k]);
        cJSON *cov = query(db, q);
        CHECK(cov != NULL);
        CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(cov, "frames")->valuedouble, st.frames);
        CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cov, "gap_free")));
        cJSON_Delete(cov);
        snprintf(q, sizeof q, "{\"q\":\"events\",\"recording_id\":\"%s\"}", ids[k]);
        cJSON *ev = query(db, q);
        CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "events")), events);
        CHECK(events >= 6); /* fcw, brake, 4 stage changes, collision, release */
        cJSON_Delete(ev);
        snprintf(q, sizeof q, "{\"q\":\"recording\",\"recording_id\":\"%s\"}", ids[k]);
        cJSON *rec = query(db, q);
        const cJSON *sum = cJSON_GetObjectItemCaseSensitive(rec, "summary");
        CHECK(cJSON_IsObject(sum));
        if (cJSON_IsObject(sum)) {
            CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sum, "max_stage")),
                      "FB");
            CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(sum, "impact_speed_kmh")->valuedouble, 43.2,
                       0.5);
            CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(sum, "first_fcw_t")->valuedouble, 1.42,
                       0.011);
        }
        char *txt = cJSON_PrintUnformatted(rec);
        CHECK(txt && strstr(txt, AEBSVC_VERSION) != NULL);
        free(txt);
        cJSON_Delete(rec);
    }
    dbw_pool_put(pool, db);
    dbw_pool_free(pool);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(event_keys_follow_the_aeb_event_types);
    RUN(db_accepts_the_aeb_outputs);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return TEST_DONE();
}
