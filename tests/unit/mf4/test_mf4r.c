/*
 * test_mf4r.c - the mf4-reader service logic without a hub: frame batches from a written
 * two-rate recording (time base, zero-order hold of a slower group, invalid samples as null,
 * units, JSON and binary encodings, seq/last/frames_total), resampling, a real sample file,
 * file:// paths, the default recording id, and every failure type.
 *
 * Usage: test-mf4r DATA_DIR
 */
#include "../../wsm_test.h"
#include "mf4.h"
#include "mf4r.h"
#include "wsm_columns.h"
#include "wsm_frame.h"

#include <stdlib.h>
#include <unistd.h>

static const char *datadir;
static char tmpdir[256];
static char rec_path[1024];

#define N_FAST 250 /* 100 Hz, 2.5 s */
#define N_SLOW 25  /* 10 Hz, first sample at 0.05 s */

typedef struct collected {
    size_t batches, rows;
    int last_seen, bad_seq, bad_first;
    uint64_t frames_total;
    double t[1024], ego_v[1024], range[1024], lead_a[1024];
    int range_ok[1024], lead_ok[1024];
    char ct[64];
    char unit_ego[16];
} collected;

static int on_emit(void *user, const mf4r_batch *b)
{
    collected *c = user;
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(b->args, "seq");
    const cJSON *first = cJSON_GetObjectItemCaseSensitive(b->args, "first_frame");
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(b->args, "last");
    const cJSON *tot = cJSON_GetObjectItemCaseSensitive(b->args, "frames_total");
    if (!cJSON_IsNumber(seq) || seq->valuedouble != (double)c->batches)
        c->bad_seq = 1;
    if (!cJSON_IsNumber(first) || first->valuedouble != (double)c->rows)
        c->bad_first = 1;
    if (cJSON_IsTrue(last))
        c->last_seen++;
    c->frames_total = cJSON_IsNumber(tot) ? (uint64_t)tot->valuedouble : 0;
    snprintf(c->ct, sizeof c->ct, "%s", b->content_type);
    const cJSON *units = cJSON_GetObjectItemCaseSensitive(b->args, "units");
    const cJSON *ue = cJSON_GetObjectItemCaseSensitive(units, "ego_v");
    if (cJSON_IsString(ue))
        snprintf(c->unit_ego, sizeof c->unit_ego, "%s", ue->valuestring);
    wsm_columns *cols;
    wsm_err we;
    if (wsm_columns_decode(b->content_type, b->payload_meta, b->payload, b->len, 0, &cols, &we)) {
        fprintf(stderr, "decode: %s\n", we.msg);
        return 1;
    }
    const wsm_col *t = wsm_columns_find(cols, "t"), *v = wsm_columns_find(cols, "ego_v"),
                  *r = wsm_columns_find(cols, "range"), *l = wsm_columns_find(cols, "lead_a");
    for (size_t i = 0; i < cols->rows && c->rows < 1024; i++, c->rows++) {
        c->t[c->rows] = t ? wsm_col_get(t, i) : NAN;
        c->ego_v[c->rows] = v ? wsm_col_get(v, i) : NAN;
        c->range_ok[c->rows] = r && wsm_col_valid(r, i);
        c->range[c->rows] = r ? wsm_col_get(r, i) : NAN;
        c->lead_ok[c->rows] = l && wsm_col_valid(l, i);
        c->lead_a[c->rows] = l ? wsm_col_get(l, i) : NAN;
    }
    wsm_columns_free(cols);
    c->batches++;
    return 0;
}

static void write_recording(void)
{
    snprintf(rec_path, sizeof rec_path, "%s/rec.mf4", tmpdir);
    mf4_writer *w;
    mf4_error e;
    CHECK_EQ_INT(mf4_writer_open(&w, rec_path, NULL, &e), MF4_OK);
    double lin[2] = {0, 0.01};
    mf4_wchannel fast[] = {
        {.name = "time", .unit = "s", .type = MF4_W_F64},
        {.name = "speed",
         .unit = "km/h",
         .type = MF4_W_U16,
         .conv = {.type = MF4_CONV_LINEAR, .n_params = 2, .params = lin}},
        {.name = "range", .unit = "m", .type = MF4_W_F32, .invalidation = true},
    };
    mf4_wgroup g = {.acq_name = "fast", .channels = fast, .n_channels = 3};
    CHECK_EQ_INT(mf4_writer_begin_group(w, &g, &e), MF4_OK);
    for (int i = 0; i < N_FAST; i++) {
        double v[3] = {i * 0.01, 3600 + i, 100.0 - i * 0.25};
        uint8_t ok[3] = {1, 1, (uint8_t)(i % 10 != 3)};
        CHECK_EQ_INT(mf4_writer_record(w, v, ok, &e), MF4_OK);
    }
    CHECK_EQ_INT(mf4_writer_end_group(w, &e), MF4_OK);
    mf4_wchannel slow[] = {
        {.name = "t_slow", .unit = "ms", .type = MF4_W_U32},
        {.name = "lead_a", .unit = "m/s^2", .type = MF4_W_F64},
    };
    mf4_wgroup g2 = {.acq_name = "slow", .channels = slow, .n_channels = 2, .compress = true};
    CHECK_EQ_INT(mf4_writer_begin_group(w, &g2, &e), MF4_OK);
    for (int i = 0; i < N_SLOW; i++) {
        double v[2] = {50 + i * 100, -0.5 * i};
        CHECK_EQ_INT(mf4_writer_record(w, v, NULL, &e), MF4_OK);
    }
    CHECK_EQ_INT(mf4_writer_close(w, &e), MF4_OK);
}

static cJSON *args_of(const char *json)
{
    char buf[2048];
    snprintf(buf, sizeof buf, json, rec_path);
    cJSON *a = cJSON_Parse(buf);
    CHECK(a != NULL);
    return a;
}

static collected col;

static int run_args(const char *json, cJSON **result, mf4r_error *e)
{
    memset(&col, 0, sizeof col);
    cJSON *a = args_of(json);
    mf4r_callbacks cb = {.emit = on_emit, .user = &col};
    int rc = mf4r_run(a, &cb, result, e);
    cJSON_Delete(a);
    return rc;
}

static void check_frames(const char *encoding)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"path\": \"%%s\", \"recording_id\": \"rec-1\", \"batch\": 64, \"encoding\": "
             "\"%s\", \"channels\": {\"ego_v\": \"speed\", \"range\": \"range\", \"lead_a\": "
             "\"lead_a\"}}",
             encoding);
    cJSON *res = NULL;
    mf4r_error e;
    int rc = run_args(json, &res, &e);
    CHECK_EQ_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "%s: %s\n", e.type, e.msg);
        return;
    }
    CHECK_STR(col.ct, strcmp(encoding, "json") == 0 ? WSM_CT_JSON : WSM_CT_COLUMNS);
    CHECK_EQ_INT(col.rows, N_FAST);
    CHECK_EQ_INT(col.batches, (N_FAST + 63) / 64);
    CHECK_EQ_INT(col.last_seen, 1);
    CHECK(!col.bad_seq && !col.bad_first);
    CHECK_EQ_INT(col.frames_total, N_FAST);
    CHECK_STR(col.unit_ego, "km/h");
    int bad = 0;
    for (int i = 0; i < N_FAST; i++) {
        double t = i * 0.01;
        bad |= fabs(col.t[i] - t) > 1e-12;
        bad |= fabs(col.ego_v[i] - (3600 + i) * 0.01) > 1e-9;
        bad |= col.range_ok[i] != (i % 10 != 3);
        if (col.range_ok[i])
            bad |= fabs(col.range[i] - (100.0 - i * 0.25)) > 1e-6;
        /* slow group: sample k at 0.05 + 0.1 k s (ms master), held until the next */
        int k = t + 1e-9 < 0.05 ? -1 : (int)floor((t - 0.05) / 0.1 + 1e-9);
        if (k >= N_SLOW)
            k = N_SLOW - 1;
        bad |= col.lead_ok[i] != (k >= 0);
        if (k >= 0)
            bad |= col.lead_a[i] != -0.5 * k;
        if (bad) {
            fprintf(stderr, "frame %d differs (t %g lead_a %g ok %d, k %d)\n", i, col.t[i],
                    col.lead_a[i], col.lead_ok[i], k);
            break;
        }
    }
    CHECK(!bad);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(res, "frames");
    CHECK(cJSON_IsNumber(v) && v->valuedouble == N_FAST);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(res, "recording_id")->valuestring, "rec-1");
    CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(res, "t_end")->valuedouble, 2.49, 1e-12);
    CHECK_EQ_INT(strlen(cJSON_GetObjectItemCaseSensitive(res, "sha256")->valuestring), 64);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(res, "channels")), 3);
    cJSON_Delete(res);
}

TEST(frames_json)
{
    check_frames("json");
}

TEST(frames_binary)
{
    check_frames("binary");
}

TEST(resample_and_defaults)
{
    cJSON *res = NULL;
    mf4r_error e;
    /* 20 Hz over [0, 2.49] s: frames at 0, 0.05, ... 2.45 -> 50 */
    CHECK_EQ_INT(run_args("{\"path\": \"file://%s\", \"resample_hz\": 20, \"channels\": "
                          "{\"ego_v\": \"speed\", \"lead_a\": \"lead_a\"}}",
                          &res, &e),
                 0);
    CHECK_EQ_INT(col.rows, 50);
    CHECK_NEAR(col.t[3], 0.15, 1e-12);
    CHECK_NEAR(col.ego_v[3], 36.15, 1e-9);
    CHECK_NEAR(col.lead_a[3], -0.5, 0); /* sample 1 at 0.15 s */
    /* default id = sha256 */
    const char *rid = cJSON_GetObjectItemCaseSensitive(res, "recording_id")->valuestring;
    const char *sha = cJSON_GetObjectItemCaseSensitive(res, "sha256")->valuestring;
    CHECK_STR(rid, sha);
    cJSON_Delete(res);
    /* no channels: every numeric channel of the first group with records */
    CHECK_EQ_INT(run_args("{\"path\": \"%s\", \"batch\": 1000}", &res, &e), 0);
    CHECK_EQ_INT(col.rows, N_FAST);
    CHECK_EQ_INT(col.batches, 1);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(res, "channels")), 2);
    cJSON_Delete(res);
}

TEST(real_sample)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"path\": \"%s/Vector_CANape.MF4\", \"group\": 1, \"channels\": {\"ego_v\": "
             "\"channel1\"}, \"batch\": 100}",
             datadir);
    memset(&col, 0, sizeof col);
    cJSON *a = cJSON_Parse(json);
    mf4r_callbacks cb = {.emit = on_emit, .user = &col};
    cJSON *res = NULL;
    mf4r_error e;
    CHECK_EQ_INT(mf4r_run(a, &cb, &res, &e), 0);
    CHECK_EQ_INT(col.rows, 1019);
    CHECK_NEAR(col.t[0], 0.00022, 1e-12);
    CHECK_NEAR(col.ego_v[0], 1.8137906789779663, 1e-12);
    CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(res, "t_end")->valuedouble, 10.18022, 1e-9);
    cJSON_Delete(res);
    cJSON_Delete(a);
}

static void expect_fail(const char *json, const char *type, const char *needle)
{
    cJSON *res = NULL;
    mf4r_error e;
    CHECK_EQ_INT(run_args(json, &res, &e), -1);
    CHECK(res == NULL);
    CHECK_STR(e.type, type);
    if (needle && !strstr(e.msg, needle)) {
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", e.msg, needle);
        CHECK(0);
    }
}

TEST(failures_name_the_cause)
{
    expect_fail("{\"channels\": {}}", "BAD_FIELD", "path");
    expect_fail("{\"path\": \"%s\", \"bogus\": 1}", "BAD_FIELD", "bogus");
    expect_fail("{\"path\": \"%s\", \"encoding\": \"xml\"}", "BAD_FIELD", "encoding");
    expect_fail("{\"path\": \"%s.missing\"}", "FILE_NOT_FOUND", "rec.mf4.missing");
    expect_fail("{\"path\": \"http://example.invalid/x.mf4\"}", "BAD_FIELD", "local path");
    expect_fail("{\"path\": \"%s\", \"channels\": {\"ego_v\": \"VehSpd\"}}", "CHANNEL_NOT_FOUND",
                "speed");
    expect_fail("{\"path\": \"%s\", \"channels\": {\"t\": \"speed\"}}", "BAD_FIELD", "reserved");
    expect_fail("{\"path\": \"%s\", \"group\": 9}", "BAD_FIELD", "group");
    char p[600];
    snprintf(p, sizeof p, "%s/SOURCES.md", datadir);
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", rec_path);
    snprintf(rec_path, sizeof rec_path, "%s", p);
    expect_fail("{\"path\": \"%s\"}", "NOT_MDF", NULL);
    /* a truncated recording */
    snprintf(rec_path, sizeof rec_path, "%s/cut.mf4", tmpdir);
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "head -c 3000 '%s' > '%s'", saved, rec_path);
    CHECK_EQ_INT(system(cmd), 0);
    expect_fail("{\"path\": \"%s\"}", "CORRUPT", "offset");
    snprintf(rec_path, sizeof rec_path, "%s", saved);
    char lp[64];
    CHECK_EQ_INT(mf4r_local_path("file:///a%20b/c.mf4", lp, sizeof lp), 0);
    CHECK_STR(lp, "/a b/c.mf4");
    CHECK_EQ_INT(mf4r_local_path("file://otherhost/c.mf4", lp, sizeof lp), -1);
    CHECK_EQ_INT(mf4r_local_path("file://localhost/c.mf4", lp, sizeof lp), 0);
    CHECK_STR(lp, "/c.mf4");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
        return 2;
    }
    datadir = argv[1];
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test-mf4r-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 2;
    write_recording();
    RUN(frames_json);
    RUN(frames_binary);
    RUN(resample_and_defaults);
    RUN(real_sample);
    RUN(failures_name_the_cause);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_DONE();
}
