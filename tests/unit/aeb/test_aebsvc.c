/*
 * test_aebsvc.c - the aeb service's batch logic without a hub: a recording split into batches
 * of any size (state passed as JSON text between them, as the hub does) gives exactly the
 * outputs of one batch, in both encodings; units are converted to SI and unknown ones refused;
 * null range/rel_v means no object; events, summary and every malformed batch.
 */
#include "aeb_scenario.h"
#include "aebsvc.h"
#include "wsm_frame.h"
#include "../../wsm_test.h"

#include <stdlib.h>

/* A recording as input columns (ego speed in km/h, like the logger). */
typedef struct recording {
    size_t n;
    double *t, *ego_kmh, *range, *rel_v;
    uint8_t *obj; /* one byte per frame: object reported */
} recording;

static void make_recording(const char *scenario, recording *r)
{
    const aeb_scenario *sc = aeb_scenario_find(scenario);
    size_t cap = 2000;
    r->t = malloc(cap * sizeof(double));
    r->ego_kmh = malloc(cap * sizeof(double));
    r->range = malloc(cap * sizeof(double));
    r->rel_v = malloc(cap * sizeof(double));
    r->obj = malloc(cap);
    r->n = 0;
    aeb_scenario_gen g;
    aeb_scenario_gen_init(&g, sc, 0.01, 0.07);
    for (;;) {
        aeb_input in;
        aeb_truth tr;
        aeb_scenario_gen_frame(&g, &in, &tr);
        size_t i = r->n++;
        r->t[i] = in.t;
        r->ego_kmh[i] = in.ego_v * 3.6;
        r->obj[i] = (in.has & AEB_HAS_RANGE) != 0;
        r->range[i] = r->obj[i] ? in.range : 0;
        r->rel_v[i] = r->obj[i] ? in.rel_v : 0;
        if (tr.gap <= 0 || r->n == cap)
            break;
        aeb_scenario_gen_advance(&g, 0);
    }
    /* then standstill without an object: the brake is released */
    for (int k = 0; k < 10 && r->n < cap; k++, r->n++) {
        r->t[r->n] = r->t[r->n - 1] + 0.01;
        r->ego_kmh[r->n] = 0;
        r->obj[r->n] = 0;
        r->range[r->n] = r->rel_v[r->n] = 0;
    }
}

static void free_recording(recording *r)
{
    free(r->t);
    free(r->ego_kmh);
    free(r->range);
    free(r->rel_v);
    free(r->obj);
}

/* Encodes rows [from, from+n) as a batch. */
static void encode_batch(const recording *r, size_t from, size_t n, const char *ct, cJSON **meta,
                         wsm_buf *payload)
{
    uint8_t *bm = calloc(n / 8 + 1, 1);
    for (size_t i = 0; i < n; i++)
        if (r->obj[from + i])
            bm[i >> 3] |= (uint8_t)(1u << (i & 7));
    wsm_col cols[4] = {
        {.name = "t", .type = WSM_COL_F64, .unit = "s", .values = r->t + from},
        {.name = "ego_v", .type = WSM_COL_F64, .unit = "km/h", .values = r->ego_kmh + from},
        {.name = "range",
         .type = WSM_COL_F64,
         .unit = "m",
         .nullable = true,
         .values = r->range + from,
         .validity = bm},
        {.name = "rel_v",
         .type = WSM_COL_F64,
         .unit = "m/s",
         .nullable = true,
         .values = r->rel_v + from,
         .validity = bm},
    };
    wsm_err err;
    if (wsm_columns_encode(ct, cols, 4, n, meta, payload, &err) != WSM_OK) {
        fprintf(stderr, "encode: %s\n", err.msg);
        abort();
    }
    free(bm);
}

/* The outputs of a whole run, concatenated. */
typedef struct run {
    size_t rows;
    double *col_d[32];
    uint8_t *col_v[32]; /* validity per row */
    char *events;       /* concatenated event JSON texts */
    char *summary;
    char *state;
} run;

static const char *const out_names[] = {
    "t",     "ego_v",       "range",      "rel_v", "ttc",         "state",
    "fcw",   "brake_stage", "aeb_status", "decel", "collision",   "t_fcw",
    "t_pb1", "t_pb2",       "t_fb",       "ettc",  "input_error", "t_not_increasing"};
#define N_OUT_NAMES (sizeof out_names / sizeof out_names[0])

static void run_free(run *r)
{
    for (size_t c = 0; c < N_OUT_NAMES; c++) {
        free(r->col_d[c]);
        free(r->col_v[c]);
    }
    free(r->events);
    free(r->summary);
    free(r->state);
    memset(r, 0, sizeof *r);
}

static void append_str(char **dst, const char *s)
{
    size_t a = *dst ? strlen(*dst) : 0, b = strlen(s);
    *dst = realloc(*dst, a + b + 2);
    memcpy(*dst + a, s, b);
    (*dst)[a + b] = '\n';
    (*dst)[a + b + 1] = 0;
}

/* Processes the recording in batches whose sizes come from sizes[] (cycled). */
static int run_batches(const recording *rec, const char *ct, const size_t *sizes, size_t nsizes,
                       run *out)
{
    aeb_params p;
    aeb_params_default(&p);
    memset(out, 0, sizeof *out);
    for (size_t c = 0; c < N_OUT_NAMES; c++) {
        out->col_d[c] = calloc(rec->n + 1, sizeof(double));
        out->col_v[c] = calloc(rec->n + 1, 1);
    }
    char *state_txt = NULL;
    size_t from = 0, bi = 0;
    int rc = 0;
    while (from < rec->n && rc == 0) {
        size_t n = sizes[bi++ % nsizes];
        if (n > rec->n - from)
            n = rec->n - from;
        cJSON *meta;
        wsm_buf payload = WSM_BUF_INIT;
        encode_batch(rec, from, n, ct, &meta, &payload);
        cJSON *args = cJSON_CreateObject();
        cJSON_AddNumberToObject(args, "first_frame", (double)from);
        cJSON_AddNumberToObject(args, "seq", (double)bi);
        cJSON_AddBoolToObject(args, "last", from + n == rec->n);
        cJSON *state = state_txt ? cJSON_Parse(state_txt) : NULL;
        aebsvc_in in = {.key = "rec-1",
                        .args = args,
                        .state = state,
                        .content_type = ct,
                        .payload_meta = meta,
                        .payload = payload.data,
                        .len = payload.len};
        aebsvc_out o;
        aebsvc_error e;
        if (aebsvc_process(&p, &in, &o, &e) != 0) {
            fprintf(stderr, "batch at %zu: %s: %s\n", from, e.type, e.msg);
            rc = -1;
        } else {
            /* the frames output decodes with its own descriptors */
            wsm_columns *b = NULL;
            wsm_err we;
            if (wsm_columns_decode(o.content_type, o.frames_meta, o.frames_payload.data,
                                   o.frames_payload.len, 0, &b, &we) != WSM_OK ||
                b->rows != n || strcmp(o.content_type, ct) != 0) {
                rc = -1;
            } else {
                for (size_t c = 0; c < N_OUT_NAMES; c++) {
                    const wsm_col *col = wsm_columns_find(b, out_names[c]);
                    if (!col) {
                        rc = -1;
                        break;
                    }
                    wsm_col_to_f64(col, n, out->col_d[c] + from);
                    for (size_t i = 0; i < n; i++)
                        out->col_v[c][from + i] = wsm_col_valid(col, i);
                }
            }
            wsm_columns_free(b);
            const cJSON *ff = cJSON_GetObjectItemCaseSensitive(o.frames_args, "first_frame");
            if (!cJSON_IsNumber(ff) || ff->valuedouble != (double)from)
                rc = -1;
            if (strcmp(cJSON_GetStringValue(
                           cJSON_GetObjectItemCaseSensitive(o.frames_args, "recording_id")),
                       "rec-1") != 0)
                rc = -1;
            if (o.events_args) {
                const cJSON *ev;
                cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(o.events_args, "events"))
                {
                    char *txt = cJSON_PrintUnformatted(ev);
                    append_str(&out->events, txt);
                    free(txt);
                }
            }
            const cJSON *sum = cJSON_GetObjectItemCaseSensitive(o.frames_args, "summary");
            if (sum) {
                char *txt = cJSON_PrintUnformatted(sum);
                free(out->summary);
                out->summary = txt;
            }
            /* the state travels as text, as through the hub */
            free(state_txt);
            state_txt = cJSON_PrintUnformatted(o.state);
            aebsvc_out_free(&o);
        }
        cJSON_Delete(state);
        cJSON_Delete(args);
        cJSON_Delete(meta);
        wsm_buf_free(&payload);
        from += n;
    }
    out->rows = from;
    out->state = state_txt;
    return rc;
}

static bool same_runs(const run *a, const run *b)
{
    if (a->rows != b->rows)
        return false;
    for (size_t c = 0; c < N_OUT_NAMES; c++)
        for (size_t i = 0; i < a->rows; i++) {
            if (a->col_v[c][i] != b->col_v[c][i])
                return false;
            if (a->col_v[c][i] && memcmp(&a->col_d[c][i], &b->col_d[c][i], sizeof(double)) != 0)
                return false;
        }
    return a->events && b->events && strcmp(a->events, b->events) == 0 && a->summary &&
           b->summary && strcmp(a->summary, b->summary) == 0 && strcmp(a->state, b->state) == 0;
}

TEST(splits_equal_one_run)
{
    const char *scen[] = {"CCRb-6-12m", "CCRs-50-reveal0.6s", "CCRm-50"};
    for (size_t s = 0; s < 3; s++) {
        recording rec;
        make_recording(scen[s], &rec);
        size_t whole[] = {rec.n};
        run ref;
        CHECK_EQ_INT(run_batches(&rec, WSM_CT_COLUMNS, whole, 1, &ref), 0);
        size_t odd[] = {1, 7, 100, 3, 64, 250, 2};
        size_t ones[] = {1};
        run r1, r2, r3;
        CHECK_EQ_INT(run_batches(&rec, WSM_CT_COLUMNS, odd, 7, &r1), 0);
        CHECK(same_runs(&ref, &r1));
        CHECK_EQ_INT(run_batches(&rec, WSM_CT_JSON, odd, 7, &r2), 0);
        CHECK(same_runs(&ref, &r2));
        if (s == 0) {
            CHECK_EQ_INT(run_batches(&rec, WSM_CT_COLUMNS, ones, 1, &r3), 0);
            CHECK(same_runs(&ref, &r3));
            run_free(&r3);
        }
        /* the run itself is right: ego speed back in m/s, FB reached, a collision, released */
        CHECK_NEAR(ref.col_d[1][0], 50 / 3.6, 1e-12);
        CHECK(strstr(ref.summary, "\"max_stage\":\"FB\"") != NULL);
        CHECK(strstr(ref.summary, "\"service_version\":\"" AEBSVC_VERSION "\"") != NULL);
        CHECK(strstr(ref.summary, "\"params\":{") != NULL);
        CHECK(strstr(ref.events, "\"event\":\"collision\"") != NULL);
        CHECK(strstr(ref.events, "\"event\":\"aeb_release\"") != NULL);
        run_free(&ref);
        run_free(&r1);
        run_free(&r2);
        free_recording(&rec);
    }
}

TEST(no_object_frames)
{
    recording rec;
    make_recording("CCRs-50-reveal1.0s", &rec);
    size_t whole[] = {rec.n};
    run r;
    CHECK_EQ_INT(run_batches(&rec, WSM_CT_JSON, whole, 1, &r), 0);
    /* before the reveal (frame 701): range, rel_v and ttc are null, state NONE */
    CHECK(!r.col_v[2][700] && !r.col_v[3][700] && !r.col_v[4][700]);
    CHECK_EQ_INT(r.col_d[5][700], AEB_NONE);
    CHECK(r.col_v[2][701] && r.col_v[4][701]);
    CHECK_EQ_INT(r.col_d[5][701], AEB_FCW);
    CHECK_EQ_INT(r.col_d[5][704], AEB_FB);
    CHECK_NEAR(r.col_d[9][704], 9.8, 0);
    run_free(&r);
    free_recording(&rec);
}

/* ------------------------------------------------------------------ single batches */

static int one(const char *meta_txt, const char *payload, const char *args_txt,
               const char *state_txt, aebsvc_out *o, aebsvc_error *e)
{
    aeb_params p;
    aeb_params_default(&p);
    cJSON *meta = meta_txt ? cJSON_Parse(meta_txt) : NULL;
    cJSON *args = cJSON_Parse(args_txt ? args_txt : "{}");
    cJSON *state = state_txt ? cJSON_Parse(state_txt) : NULL;
    aebsvc_in in = {.key = "k",
                    .args = args,
                    .state = state,
                    .content_type = WSM_CT_JSON,
                    .payload_meta = meta,
                    .payload = payload,
                    .len = payload ? strlen(payload) : 0};
    e->msg[0] = 0;
    int rc = aebsvc_process(&p, &in, o, e);
    cJSON_Delete(meta);
    cJSON_Delete(args);
    cJSON_Delete(state);
    return rc;
}

#define M2(u1, u2)                                                                                 \
    "{\"rows\":2,\"columns\":[{\"name\":\"t\",\"type\":\"f64\",\"unit\":\"s\"},{\"name\":"         \
    "\"ego_v\",\"type\":\"f64\"" u1 "},{\"name\":\"range\",\"type\":\"f64\",\"nullable\":true" u2  \
    "},{\"name\":\"rel_v\",\"type\":\"f64\",\"nullable\":true}]}"

static double out_value(const aebsvc_out *o, const char *col, size_t row)
{
    wsm_columns *b = NULL;
    wsm_err we;
    double v = -999;
    if (wsm_columns_decode(o->content_type, o->frames_meta, o->frames_payload.data,
                           o->frames_payload.len, 0, &b, &we) == WSM_OK) {
        const wsm_col *c = wsm_columns_find(b, col);
        if (c)
            v = wsm_col_valid(c, row) ? wsm_col_get(c, row) : NAN;
    }
    wsm_columns_free(b);
    return v;
}

TEST(units)
{
    aebsvc_out o;
    aebsvc_error e;
    const char *pl = "{\"t\":[0,0.01],\"ego_v\":[36,72],\"range\":[100,null],\"rel_v\":[-1,null]}";
    CHECK_EQ_INT(one(M2(",\"unit\":\"km/h\"", ",\"unit\":\"ft\""), pl, NULL, NULL, &o, &e), 0);
    CHECK_NEAR(out_value(&o, "ego_v", 0), 10, 1e-12);
    CHECK_NEAR(out_value(&o, "ego_v", 1), 20, 1e-12);
    CHECK_NEAR(out_value(&o, "range", 0), 30.48, 1e-9);
    CHECK(isnan(out_value(&o, "range", 1)));
    CHECK(isnan(out_value(&o, "rel_v", 1)));
    CHECK(isnan(out_value(&o, "ttc", 1)));
    aebsvc_out_free(&o);
    /* mph; unit from args.units when the column has none */
    CHECK_EQ_INT(one(M2("", ""), pl, "{\"units\":{\"ego_v\":\"mph\"}}", NULL, &o, &e), 0);
    CHECK_NEAR(out_value(&o, "ego_v", 0), 36 * 0.44704, 1e-12);
    CHECK_NEAR(out_value(&o, "range", 0), 100, 0);
    aebsvc_out_free(&o);
    /* m/s and no unit at all = SI */
    CHECK_EQ_INT(one(M2(",\"unit\":\"m/s\"", ",\"unit\":\"m\""), pl, NULL, NULL, &o, &e), 0);
    CHECK_NEAR(out_value(&o, "ego_v", 1), 72, 0);
    aebsvc_out_free(&o);
    /* unknown units fail with the column and the unit named */
    CHECK_EQ_INT(one(M2(",\"unit\":\"furlong/fortnight\"", ""), pl, NULL, NULL, &o, &e), -1);
    CHECK_STR(e.type, "BAD_FIELD");
    CHECK(strstr(e.msg, "ego_v") && strstr(e.msg, "furlong/fortnight") && strstr(e.msg, "mph"));
    CHECK(!e.retry);
    CHECK_EQ_INT(one(M2("", ",\"unit\":\"km/h\""), pl, NULL, NULL, &o, &e), -1);
    CHECK(strstr(e.msg, "range") != NULL);
    CHECK_EQ_INT(one(M2("", ""), pl, "{\"units\":{\"ego_v\":5}}", NULL, &o, &e), -1);
    CHECK(strstr(e.msg, "args.units.ego_v") != NULL);
    CHECK_NEAR(aebsvc_unit_factor("lead_a", "g"), 9.80665, 0);
    CHECK_NEAR(aebsvc_unit_factor("t", "ms"), 1e-3, 0);
    CHECK_NEAR(aebsvc_unit_factor("t", "km/h"), 0, 0);
}

TEST(bad_batches)
{
    aebsvc_out o;
    aebsvc_error e;
    const char *pl = "{\"t\":[0,0.01],\"ego_v\":[10,10],\"range\":[100,null],\"rel_v\":[-1,null]}";
    /* no payload_meta: inferred from a JSON payload (units from args), else an error */
    CHECK_EQ_INT(one(NULL, pl, "{\"units\":{\"ego_v\":\"km/h\"}}", NULL, &o, &e), 0);
    CHECK_NEAR(out_value(&o, "ego_v", 0), 10 / 3.6, 1e-12);
    CHECK(isnan(out_value(&o, "range", 1)));
    aebsvc_out_free(&o);
    CHECK_EQ_INT(one(NULL, "{\"ego_v\":[1]}", NULL, NULL, &o, &e), -1);
    CHECK(strstr(e.msg, "payload_meta") != NULL);
    CHECK_EQ_INT(one(NULL, "[1]", NULL, NULL, &o, &e), -1);
    CHECK(strstr(e.msg, "payload_meta") != NULL);
    CHECK_EQ_INT(one(NULL, "{\"t\":[0,1],\"ego_v\":[1,\"x\"]}", NULL, NULL, &o, &e), -1);
    CHECK(strstr(e.msg, "payload.ego_v[1]") != NULL);
    /* range without rel_v */
    CHECK_EQ_INT(one("{\"rows\":1,\"columns\":[{\"name\":\"t\",\"type\":\"f64\"},{\"name\":"
                     "\"ego_v\",\"type\":\"f64\"},{\"name\":\"range\",\"type\":\"f64\"}]}",
                     "{\"t\":[0],\"ego_v\":[1],\"range\":[5]}", NULL, NULL, &o, &e),
                 -1);
    CHECK(strstr(e.msg, "rel_v") != NULL);
    /* neither: a recording without an object sensor is fine */
    CHECK_EQ_INT(one("{\"rows\":1,\"columns\":[{\"name\":\"t\",\"type\":\"f64\"},{\"name\":"
                     "\"ego_v\",\"type\":\"f64\"}]}",
                     "{\"t\":[0],\"ego_v\":[1]}", NULL, NULL, &o, &e),
                 0);
    CHECK(isnan(out_value(&o, "range", 0)));
    aebsvc_out_free(&o);
    /* missing t column, size mismatch, bad JSON */
    CHECK_EQ_INT(one("{\"rows\":2,\"columns\":[{\"name\":\"ego_v\",\"type\":\"f64\"}]}",
                     "{\"ego_v\":[1,2]}", NULL, NULL, &o, &e),
                 -1);
    CHECK(strstr(e.msg, "\"t\"") != NULL);
    CHECK_EQ_INT(one(M2("", ""), "{\"t\":[0],\"ego_v\":[1],\"range\":[1],\"rel_v\":[1]}", NULL,
                     NULL, &o, &e),
                 -1);
    CHECK_STR(e.type, "BAD_FIELD");
    CHECK_EQ_INT(one(M2("", ""), "{\"t\":[0,", NULL, NULL, &o, &e), -1);
    CHECK_STR(e.type, "BAD_JSON");
    /* an enum column where a number is expected */
    CHECK_EQ_INT(one("{\"rows\":1,\"columns\":[{\"name\":\"t\",\"type\":\"f64\"},{\"name\":"
                     "\"ego_v\",\"type\":\"u8\",\"enum\":[\"A\"]}]}",
                     "{\"t\":[0],\"ego_v\":[\"A\"]}", NULL, NULL, &o, &e),
                 -1);
    CHECK(strstr(e.msg, "ego_v") != NULL);
    /* first_frame must follow the state */
    CHECK_EQ_INT(one(M2("", ""), pl, "{\"first_frame\":5}", NULL, &o, &e), -1);
    CHECK_STR(e.type, "BAD_STATE");
    CHECK(strstr(e.msg, "first_frame") != NULL);
    CHECK_EQ_INT(one(M2("", ""), pl, "{\"first_frame\":\"x\"}", NULL, &o, &e), -1);
    CHECK_STR(e.type, "BAD_FIELD");
    /* a bad key state */
    CHECK_EQ_INT(one(M2("", ""), pl, NULL, "{\"stage\":\"WARP\"}", &o, &e), -1);
    CHECK_STR(e.type, "BAD_STATE");
    /* recording id: a bad type */
    CHECK_EQ_INT(one(M2("", ""), pl, "{\"recording_id\":7}", NULL, &o, &e), -1);
    CHECK(strstr(e.msg, "recording_id") != NULL);
    /* a good one continues a state and follows first_frame */
    CHECK_EQ_INT(one(M2("", ""), pl, "{\"first_frame\":0,\"recording_id\":\"r9\"}", NULL, &o, &e),
                 0);
    char *st = cJSON_PrintUnformatted(o.state);
    CHECK_STR(o.recording_id, "r9");
    aebsvc_out_free(&o);
    const char *pl2 = "{\"t\":[0.02,0.02],\"ego_v\":[10,null],\"range\":[1e400,5],"
                      "\"rel_v\":[-1,-1]}";
    /* 1e400 is not a finite number: the JSON decoder refuses it */
    CHECK_EQ_INT(one(M2("", ""), pl2, "{\"first_frame\":2}", st, &o, &e), -1);
    const char *pl3 = "{\"t\":[0.02,0.02],\"ego_v\":[10,null],\"range\":[4,5],\"rel_v\":[-1,-1]}";
    CHECK_EQ_INT(
        one(M2(",\"nullable\":true", ""), pl3, "{\"first_frame\":2,\"last\":true}", st, &o, &e), 0);
    /* t equal to the previous frame's: flagged; null ego_v: input error */
    CHECK_NEAR(out_value(&o, "t_not_increasing", 0), 0, 0);
    CHECK_NEAR(out_value(&o, "t_not_increasing", 1), 1, 0);
    CHECK_NEAR(out_value(&o, "input_error", 1), 1, 0);
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(o.frames_args, "summary");
    CHECK(sum != NULL);
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(sum, "frames")->valuedouble, 4);
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(sum, "input_errors")->valuedouble, 1);
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(sum, "t_not_increasing")->valuedouble, 1);
    CHECK(cJSON_GetObjectItemCaseSensitive(o.result, "summary") != NULL);
    /* range 4 m closing at 1 m/s: ttc 4 s > T_fcw 3.7 s at 10 m/s: no event */
    CHECK(o.events_args == NULL);
    char *end_state = cJSON_PrintUnformatted(o.state);
    aebsvc_out_free(&o);
    /* re-ingesting the recording: first_frame 0 under the state of the finished pass starts a
     * new stream, with exactly the outputs of a first run */
    CHECK_EQ_INT(
        one(M2("", ""), pl, "{\"first_frame\":0,\"recording_id\":\"r9\"}", end_state, &o, &e), 0);
    char *again = cJSON_PrintUnformatted(o.state);
    CHECK_STR(again, st);
    aebsvc_out_free(&o);
    free(again);
    free(end_state);
    free(st);
    aebsvc_out_free(NULL);
}

TEST(empty_last_batch)
{
    /* a reader may close a recording with an empty batch marked last */
    aebsvc_out o;
    aebsvc_error e;
    const char *pl = "{\"t\":[0,0.01],\"ego_v\":[10,10],\"range\":[100,null],\"rel_v\":[-1,null]}";
    CHECK_EQ_INT(one(M2("", ""), pl, NULL, NULL, &o, &e), 0);
    char *st = cJSON_PrintUnformatted(o.state);
    aebsvc_out_free(&o);
    const char *m0 = "{\"rows\":0,\"columns\":[{\"name\":\"t\",\"type\":\"f64\"},{\"name\":"
                     "\"ego_v\",\"type\":\"f64\"}]}";
    CHECK_EQ_INT(
        one(m0, "{\"t\":[],\"ego_v\":[]}", "{\"last\":true,\"first_frame\":2}", st, &o, &e), 0);
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(o.frames_args, "summary");
    CHECK(sum != NULL);
    if (sum)
        CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(sum, "frames")->valuedouble, 2);
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(o.frames_args, "rows")->valuedouble, 0);
    aebsvc_out_free(&o);
    free(st);
}

int main(void)
{
    RUN(splits_equal_one_run);
    RUN(no_object_frames);
    RUN(units);
    RUN(bad_batches);
    RUN(empty_last_batch);
    return TEST_DONE();
}
