/*
 * test_mf4.c - libmf4 unit tests: writer -> reader round trips for every writable type
 * (both byte orders, bit fields, invalidation bits, DT and DZ), every conversion type with
 * expected values computed by hand, the formula evaluator, and hand-built files (VLSD in SD
 * blocks and in a VLSD channel group, strings in every encoding, nested and text
 * conversions, unsorted and unfinalized data) so the reader is not only checked against its
 * own writer.
 */
#include "../../wsm_test.h"
#include "mf4.h"
#include "mf4_build.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[256];

static const char *tmp_path(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return p;
}

/* Reads every record of channel ch of group g into the provided arrays. */
typedef struct colvals {
    size_t n;
    uint64_t u[8192];
    int64_t i[8192];
    double f[8192];
    double phys[8192];
    uint8_t valid[8192];
    const char *text[8192];
    char bytes[8192][32];
} colvals;

static colvals cv;

static int read_channel(mf4_file *f, size_t g, size_t ch, size_t batch)
{
    mf4_reader *r;
    mf4_error e;
    int rc = mf4_reader_open(&r, f, g, &ch, 1, batch, &e);
    if (rc) {
        fprintf(stderr, "reader_open: %s\n", e.message);
        return rc;
    }
    cv.n = 0;
    size_t n;
    while ((rc = mf4_reader_next(r, &n, &e)) == MF4_OK && n > 0) {
        const mf4_column *c = mf4_reader_column(r, 0);
        for (size_t k = 0; k < n && cv.n < 8192; k++, cv.n++) {
            if (c->u64)
                cv.u[cv.n] = c->u64[k];
            if (c->i64)
                cv.i[cv.n] = c->i64[k];
            if (c->f64)
                cv.f[cv.n] = c->f64[k];
            cv.phys[cv.n] = c->phys[k];
            cv.valid[cv.n] = c->valid[k];
            cv.text[cv.n] = c->text ? c->text[k] : NULL;
            if (c->kind == MF4_VAL_BYTES) {
                size_t l = c->offsets[k + 1] - c->offsets[k];
                if (l > 31)
                    l = 31;
                memcpy(cv.bytes[cv.n], c->bytes + c->offsets[k], l);
                cv.bytes[cv.n][l] = 0;
            }
        }
    }
    if (rc)
        fprintf(stderr, "reader_next: %s\n", e.message);
    mf4_reader_free(r);
    return rc;
}

/* ------------------------------------------------------------------ round trips */
static const mf4_wtype all_types[] = {MF4_W_U8,  MF4_W_U16, MF4_W_U32, MF4_W_U64, MF4_W_I8,
                                      MF4_W_I16, MF4_W_I32, MF4_W_I64, MF4_W_F32, MF4_W_F64};

static int64_t pattern(size_t ch, size_t rec, mf4_wtype t)
{
    /* extremes first, then a mix */
    int64_t v = (int64_t)(rec * 2654435761u + ch * 40503u);
    switch (t) {
    case MF4_W_U8:
        return rec == 0 ? 255 : v & 0xFF;
    case MF4_W_U16:
        return rec == 0 ? 65535 : v & 0xFFFF;
    case MF4_W_U32:
        return rec == 0 ? 0xFFFFFFFFll : v & 0xFFFFFFFFll;
    case MF4_W_U64:
        return rec == 0 ? (int64_t)UINT64_MAX : v * 7919;
    case MF4_W_I8:
        return rec == 0 ? -128 : (int8_t)v;
    case MF4_W_I16:
        return rec == 0 ? -32768 : (int16_t)v;
    case MF4_W_I32:
        return rec == 0 ? INT32_MIN : (int32_t)v;
    case MF4_W_I64:
        return rec == 0 ? INT64_MIN : -v * 7919;
    default:
        return (int64_t)rec - 500;
    }
}

static void roundtrip(int compress, int big_endian, size_t nrec, size_t batch)
{
    char fname[64];
    snprintf(fname, sizeof fname, "rt_%d_%d.mf4", compress, big_endian);
    const char *path = tmp_path(fname);
    mf4_writer *w;
    mf4_error e;
    mf4_writer_opts o = {.program = "rt", .dz_chunk_bytes = 1000};
    CHECK_EQ_INT(mf4_writer_open(&w, path, &o, &e), MF4_OK);
    enum { NT = sizeof all_types / sizeof all_types[0] };
    mf4_wchannel ch[1 + NT + 2];
    char names[1 + NT + 2][16];
    memset(ch, 0, sizeof ch);
    ch[0] = (mf4_wchannel){.name = "t", .unit = "s", .type = MF4_W_F64};
    for (size_t k = 0; k < NT; k++) {
        snprintf(names[1 + k], 16, "c%zu", k);
        ch[1 + k] = (mf4_wchannel){.name = names[1 + k],
                                   .type = all_types[k],
                                   .big_endian = big_endian,
                                   .invalidation = k % 3 == 0};
    }
    /* bit fields: a 12-bit signed and a 5-bit unsigned value */
    ch[1 + NT] =
        (mf4_wchannel){.name = "i12", .type = MF4_W_I16, .bits = 12, .big_endian = big_endian};
    ch[2 + NT] = (mf4_wchannel){.name = "u5", .type = MF4_W_U8, .bits = 5, .invalidation = 1};
    mf4_wgroup g = {.acq_name = "all", .channels = ch, .n_channels = 3 + NT, .compress = compress};
    CHECK_EQ_INT(mf4_writer_begin_group(w, &g, &e), MF4_OK);
    for (size_t r = 0; r < nrec; r++) {
        int64_t v[3 + NT];
        uint8_t valid[3 + NT];
        v[0] = (int64_t)r;
        for (size_t k = 0; k < NT; k++)
            v[1 + k] = pattern(k, r, all_types[k]);
        v[1 + NT] = (int64_t)(r % 4096) - 2048;
        v[2 + NT] = (int64_t)(r % 32);
        for (size_t k = 0; k < 3 + NT; k++)
            valid[k] = (r + k) % 5 != 0;
        CHECK_EQ_INT(mf4_writer_record_int(w, v, valid, &e), MF4_OK);
    }
    CHECK_EQ_INT(mf4_writer_end_group(w, &e), MF4_OK);
    /* a second, empty group */
    mf4_wgroup g2 = {.acq_name = "empty", .channels = ch, .n_channels = 2};
    CHECK_EQ_INT(mf4_writer_begin_group(w, &g2, &e), MF4_OK);
    CHECK_EQ_INT(mf4_writer_close(w, &e), MF4_OK);

    mf4_file *f;
    int rc = mf4_open(&f, path, &e);
    CHECK_EQ_INT(rc, MF4_OK);
    if (rc) {
        fprintf(stderr, "open: %s\n", e.message);
        return;
    }
    CHECK_EQ_INT(mf4_group_count(f), 2);
    const mf4_group *gr = mf4_group_at(f, 0);
    CHECK_EQ_INT(gr->cycles, nrec);
    CHECK_STR(gr->acq_name, "all");
    CHECK_EQ_INT(gr->master, 0);
    CHECK_EQ_INT(mf4_group_at(f, 1)->cycles, 0);
    CHECK_STR(mf4_info(f)->program, "rt");
    for (size_t k = 0; k < NT + 2; k++) {
        CHECK_EQ_INT(read_channel(f, 0, 1 + k, batch), MF4_OK);
        CHECK_EQ_INT(cv.n, nrec);
        int bad = 0;
        for (size_t r = 0; r < nrec && !bad; r++) {
            int has_inval = k < NT ? k % 3 == 0 : k == NT + 1;
            int want_valid = has_inval ? (r + 1 + k) % 5 != 0 : 1;
            if (cv.valid[r] != want_valid)
                bad = 1;
            if (k == NT) {
                bad |= cv.i[r] != (int64_t)(r % 4096) - 2048;
                continue;
            }
            if (k == NT + 1) {
                bad |= cv.u[r] != r % 32;
                continue;
            }
            int64_t want = pattern(k, r, all_types[k]);
            switch (all_types[k]) {
            case MF4_W_U8:
            case MF4_W_U16:
            case MF4_W_U32:
            case MF4_W_U64:
                bad |= cv.u[r] != (uint64_t)want;
                bad |= cv.phys[r] != (double)(uint64_t)want;
                break;
            case MF4_W_F32:
            case MF4_W_F64:
                bad |= cv.f[r] != (double)want;
                break;
            default:
                bad |= cv.i[r] != want;
                bad |= cv.phys[r] != (double)want;
            }
            if (bad)
                fprintf(stderr, "channel %zu record %zu differs\n", k, r);
        }
        CHECK(!bad);
    }
    mf4_close(f);
}

TEST(roundtrip_dt_le)
{
    roundtrip(0, 0, 3000, 1000);
}

TEST(roundtrip_dt_be_small_batches)
{
    roundtrip(0, 1, 1500, 7);
}

TEST(roundtrip_dz_many_blocks)
{
    roundtrip(1, 0, 5000, 333); /* 1000-byte DZ chunks: ~300 blocks, batches straddle them */
}

TEST(roundtrip_dz_be)
{
    roundtrip(1, 1, 777, 4096);
}

TEST(writer_phys_inverts_linear)
{
    const char *path = tmp_path("phys.mf4");
    mf4_writer *w;
    mf4_error e;
    CHECK_EQ_INT(mf4_writer_open(&w, path, NULL, &e), MF4_OK);
    double lin[2] = {0.0, 0.01}; /* km/h = 0.01 * raw */
    mf4_wchannel ch[] = {
        {.name = "t", .unit = "s", .type = MF4_W_F64},
        {.name = "speed",
         .unit = "km/h",
         .type = MF4_W_U16,
         .conv = {.type = MF4_CONV_LINEAR, .n_params = 2, .params = lin}},
        {.name = "range", .unit = "m", .type = MF4_W_F32, .invalidation = true},
    };
    mf4_wgroup g = {.acq_name = "100 Hz", .channels = ch, .n_channels = 3};
    CHECK_EQ_INT(mf4_writer_begin_group(w, &g, &e), MF4_OK);
    for (int i = 0; i < 100; i++) {
        double p[3] = {i * 0.01, 50.0 + i * 0.25, 12.5};
        uint8_t ok[3] = {1, 1, (uint8_t)(i % 2)};
        CHECK_EQ_INT(mf4_writer_record_phys(w, p, ok, &e), MF4_OK);
    }
    double toobig[3] = {1, 1e9, 0}; /* saturates to 65535 */
    CHECK_EQ_INT(mf4_writer_record_phys(w, toobig, NULL, &e), MF4_OK);
    CHECK_EQ_INT(mf4_writer_close(w, &e), MF4_OK);
    mf4_file *f;
    CHECK_EQ_INT(mf4_open(&f, path, &e), MF4_OK);
    CHECK_STR(mf4_group_at(f, 0)->channels[1].unit, "km/h");
    CHECK_EQ_INT(read_channel(f, 0, 1, 64), MF4_OK);
    CHECK_EQ_INT(cv.n, 101);
    CHECK_EQ_INT(cv.u[0], 5000);
    CHECK_NEAR(cv.phys[10], 52.5, 1e-9);
    CHECK_EQ_INT(cv.u[100], 65535);
    CHECK_EQ_INT(read_channel(f, 0, 2, 64), MF4_OK);
    CHECK_EQ_INT(cv.valid[0], 0);
    CHECK_EQ_INT(cv.valid[1], 1);
    CHECK_NEAR(cv.phys[1], 12.5, 0);
    mf4_close(f);
}

TEST(writer_rejects_bad_input)
{
    mf4_writer *w;
    mf4_error e;
    CHECK_EQ_INT(mf4_writer_open(&w, "/nonexistent-dir/x.mf4", NULL, &e), MF4_E_IO);
    CHECK_EQ_INT(mf4_writer_open(&w, tmp_path("bad.mf4"), NULL, &e), MF4_OK);
    double one = 1;
    CHECK_EQ_INT(mf4_writer_record(w, &one, NULL, &e), MF4_E_ARG); /* no group */
    mf4_wchannel bad[] = {{.name = "t", .type = MF4_W_F64},
                          {.name = "x",
                           .type = MF4_W_U8,
                           .conv = {.type = MF4_CONV_LINEAR, .n_params = 1, .params = &one}}};
    mf4_wgroup g = {.channels = bad, .n_channels = 2};
    CHECK_EQ_INT(mf4_writer_begin_group(w, &g, &e), MF4_E_ARG);
    mf4_wchannel bits[] = {{.name = "t", .type = MF4_W_F32, .bits = 3}};
    g.channels = bits;
    g.n_channels = 1;
    CHECK_EQ_INT(mf4_writer_begin_group(w, &g, &e), MF4_E_ARG);
    g.n_channels = 0;
    CHECK_EQ_INT(mf4_writer_begin_group(w, &g, &e), MF4_E_ARG);
    CHECK_EQ_INT(mf4_writer_close(w, &e), MF4_OK);
    CHECK_EQ_INT(mf4_writer_close(NULL, &e), MF4_OK);
}

/* ------------------------------------------------------------------ conversions */
TEST(conversions_by_hand)
{
    const char *path = tmp_path("conv.mf4");
    mf4_writer *w;
    mf4_error e;
    CHECK_EQ_INT(mf4_writer_open(&w, path, NULL, &e), MF4_OK);
    double lin[] = {10, 0.5};
    double rat[] = {1, 0, 0, 0, 0, 2}; /* x^2 / 2 */
    double tab[] = {0, 0, 10, 100, 20, 400};
    double rv[] = {0, 9, 1, 10, 19, 2, -1};
    double vt[] = {0, 1, 2};
    const char *vtt[] = {"OFF", "ON", "ERR", "?"};
    double rt[] = {0, 50, 51, 100};
    const char *rtt[] = {"low", "high", "out"};
    mf4_wchannel ch[] = {
        {.name = "t", .type = MF4_W_F64},
        {.name = "lin", .type = MF4_W_I16, .conv = {MF4_CONV_LINEAR, 2, lin, 0, NULL, NULL}},
        {.name = "rat", .type = MF4_W_I16, .conv = {MF4_CONV_RATIONAL, 6, rat, 0, NULL, NULL}},
        {.name = "alg",
         .type = MF4_W_I16,
         .conv = {MF4_CONV_ALGEBRAIC, 0, NULL, 0, NULL, "X*2 + 1"}},
        {.name = "tabi", .type = MF4_W_I16, .conv = {MF4_CONV_TAB_INTERP, 6, tab, 0, NULL, NULL}},
        {.name = "tab", .type = MF4_W_I16, .conv = {MF4_CONV_TAB, 6, tab, 0, NULL, NULL}},
        {.name = "rv", .type = MF4_W_I16, .conv = {MF4_CONV_RANGE_VALUE, 7, rv, 0, NULL, NULL}},
        {.name = "rvf", .type = MF4_W_F64, .conv = {MF4_CONV_RANGE_VALUE, 7, rv, 0, NULL, NULL}},
        {.name = "vt", .type = MF4_W_U8, .conv = {MF4_CONV_VALUE_TEXT, 3, vt, 4, vtt, NULL}},
        {.name = "rt", .type = MF4_W_U8, .conv = {MF4_CONV_RANGE_TEXT, 4, rt, 3, rtt, NULL}},
    };
    mf4_wgroup g = {.channels = ch, .n_channels = 10};
    CHECK_EQ_INT(mf4_writer_begin_group(w, &g, &e), MF4_OK);
    /* raw inputs per record, for every channel */
    static const double raw[][10] = {
        {0, 4, 4, 5, 5, 4, 9, 9, 1, 70},
        {1, -6, -2, -3, 15, 6, 10, 9.5, 7, 50},
        {2, 0, 6, 0, -3, 16, 25, 19.5, 2, 200},
        {3, 1, 1, 1, 25, 5, 19, 10, 0, 51},
    };
    for (int r = 0; r < 4; r++)
        CHECK_EQ_INT(mf4_writer_record(w, raw[r], NULL, &e), MF4_OK);
    CHECK_EQ_INT(mf4_writer_close(w, &e), MF4_OK);
    static const double want[][4] = {
        {12, 7, 10, 10.5}, /* lin: 0.5x + 10 */
        {8, 2, 18, 0.5},   /* rat: x^2/2 */
        {11, -5, 1, 3},    /* alg: 2x + 1 */
        {50, 250, 0, 400}, /* tabi: interpolate, clamp */
        {0, 100, 400, 0},  /* tab: nearest key (5 is halfway: the lower key) */
        {1, 2, -1, 2},     /* rv (int): 9 in [0,9], 10 in [10,19], 25 default, 19 inclusive */
    };
    mf4_file *f;
    CHECK_EQ_INT(mf4_open(&f, path, &e), MF4_OK);
    for (int k = 1; k <= 6; k++) {
        CHECK_EQ_INT(read_channel(f, 0, (size_t)k, 3), MF4_OK);
        for (int r = 0; r < 4; r++)
            CHECK_NEAR(cv.phys[r], want[k - 1][r], 1e-12);
    }
    /* float range rule is min <= x < max: 9 -> default? no: 9 in [0,9) is false, [10,19) false */
    CHECK_EQ_INT(read_channel(f, 0, 7, 3), MF4_OK);
    CHECK_NEAR(cv.phys[0], -1, 0); /* 9.0: not < 9, not >= 10 */
    CHECK_NEAR(cv.phys[1], -1, 0); /* 9.5 */
    CHECK_NEAR(cv.phys[2], -1, 0); /* 19.5: not < 19 */
    CHECK_NEAR(cv.phys[3], 2, 0);  /* 10.0 */
    CHECK_EQ_INT(read_channel(f, 0, 8, 3), MF4_OK);
    CHECK_STR(cv.text[0], "ON");
    CHECK_STR(cv.text[1], "?");
    CHECK_STR(cv.text[2], "ERR");
    CHECK_STR(cv.text[3], "OFF");
    CHECK_EQ_INT(read_channel(f, 0, 9, 3), MF4_OK);
    CHECK_STR(cv.text[0], "high");
    CHECK_STR(cv.text[1], "low");
    CHECK_STR(cv.text[2], "out");
    CHECK_STR(cv.text[3], "high");
    const mf4_conversion *c = mf4_group_at(f, 0)->channels[3].conv;
    CHECK(c && c->type == MF4_CONV_ALGEBRAIC);
    CHECK_STR(c->formula, "X*2 + 1");
    double p;
    const char *t;
    CHECK_EQ_INT(mf4_conv_apply(c, 20, true, &p, &t), MF4_OK);
    CHECK_NEAR(p, 41, 0);
    CHECK(t == NULL);
    CHECK_EQ_INT(mf4_conv_apply(NULL, 3.5, false, &p, &t), MF4_OK);
    CHECK_NEAR(p, 3.5, 0);
    mf4_close(f);
}

TEST(formula_evaluator)
{
    mf4_error e;
    double v;
    CHECK_EQ_INT(mf4_formula_eval("X*2+1", 3, &v, &e), MF4_OK);
    CHECK_NEAR(v, 7, 0);
    CHECK_EQ_INT(mf4_formula_eval("2^3^2", 0, &v, &e), MF4_OK); /* right associative */
    CHECK_NEAR(v, 512, 0);
    CHECK_EQ_INT(mf4_formula_eval("-X^2", 3, &v, &e), MF4_OK);
    CHECK_NEAR(v, -9, 0);
    CHECK_EQ_INT(mf4_formula_eval("(X1 - 32) / 1.8", 212, &v, &e), MF4_OK);
    CHECK_NEAR(v, 100, 1e-12);
    CHECK_EQ_INT(mf4_formula_eval("sqrt(X) + abs(-2) * sin(0) + pow(2, 10)", 16, &v, &e), MF4_OK);
    CHECK_NEAR(v, 4 + 1024, 1e-12);
    CHECK_EQ_INT(mf4_formula_eval("X > 2 && X < 5", 3, &v, &e), MF4_OK);
    CHECK_NEAR(v, 1, 0);
    CHECK_EQ_INT(mf4_formula_eval("X > 2 && X < 5", 6, &v, &e), MF4_OK);
    CHECK_NEAR(v, 0, 0);
    CHECK_EQ_INT(mf4_formula_eval("10 % 4 + ln(exp(2)) + log10(1000)", 0, &v, &e), MF4_OK);
    CHECK_NEAR(v, 2 + 2 + 3, 1e-12);
    CHECK_EQ_INT(mf4_formula_eval("X +", 1, &v, &e), MF4_E_CONV);
    CHECK(strstr(e.message, "character") != NULL);
    CHECK_EQ_INT(mf4_formula_eval("foo(X)", 1, &v, &e), MF4_E_CONV);
    CHECK_EQ_INT(mf4_formula_eval("(((X)", 1, &v, &e), MF4_E_CONV);
    char deep[400];
    memset(deep, '(', 200);
    deep[200] = 'X';
    memset(deep + 201, ')', 198);
    deep[399] = 0;
    CHECK_EQ_INT(mf4_formula_eval(deep, 1, &v, &e), MF4_E_CONV); /* too deep, no crash */
}

/* ------------------------------------------------------------------ hand-built files */
/* Opens the hand-built file B (checked); NULL when it does not open (message printed, B freed). */
static mf4_file *open_built(bld *B)
{
    mf4_file *f;
    mf4_error e;
    int rc = mf4_open_memory(&f, B->b, B->n, &e);
    CHECK_EQ_INT(rc, MF4_OK);
    if (rc) {
        fprintf(stderr, "%s\n", e.message);
        free(B->b);
        return NULL;
    }
    return f;
}

static bld make_sorted_vlsd_file(void)
{
    bld B = {0};
    uint64_t hd = bld_start(&B, 0, 0);
    /* signal data: "hello", "", "world!" */
    unsigned char sd[64];
    size_t sn = 0;
    const char *vals[] = {"hello", "", "world!"};
    uint64_t offs[3];
    for (int i = 0; i < 3; i++) {
        offs[i] = sn;
        size_t l = strlen(vals[i]);
        bld_le(sd + sn, l, 4);
        memcpy(sd + sn + 4, vals[i], l);
        sn += 4 + l;
    }
    uint64_t sdb = bld_block(&B, "SD", 0, NULL, sd, sn);
    /* conversions */
    double lin10[] = {0, 10};
    uint64_t nested = bld_cc(&B, MF4_CONV_LINEAR, 0, NULL, 2, lin10);
    uint64_t vt_refs[] = {nested, bld_tx(&B, "two"), bld_tx(&B, "other")};
    double vt_keys[] = {1, 2};
    uint64_t vt = bld_cc(&B, MF4_CONV_VALUE_TEXT, 3, vt_refs, 2, vt_keys);
    uint64_t tv_refs[] = {bld_tx(&B, "ab"), bld_tx(&B, "cd")};
    double tv_vals[] = {1.5, 2.5, 9};
    uint64_t tv = bld_cc(&B, MF4_CONV_TEXT_VALUE, 2, tv_refs, 3, tv_vals);
    uint64_t tt_refs[] = {bld_tx(&B, "ab"), bld_tx(&B, "AB"), 0};
    uint64_t tt = bld_cc(&B, MF4_CONV_TEXT_TEXT, 3, tt_refs, 0, NULL);
    /* channels */
    uint64_t cn[10];
    cn[0] = bld_cn(&B, "t", 2, 1, MF4_DT_FLOAT_LE, 0, 0, 64, 0, 0, 0, 0);
    cn[1] = bld_cn(&B, "vlsd", 1, 0, MF4_DT_STRING_UTF8, 0, 8, 64, 0, 0, 0, sdb);
    cn[2] = bld_cn(&B, "latin1", 0, 0, MF4_DT_STRING_LATIN1, 0, 16, 32, 2, 0, 0, 0);
    cn[3] = bld_cn(&B, "vt", 0, 0, MF4_DT_UINT_LE, 0, 20, 8, 0, 0, vt, 0);
    cn[4] = bld_cn(&B, "tv", 0, 0, MF4_DT_STRING_UTF8, 0, 21, 32, 0, 0, tv, 0);
    cn[5] = bld_cn(&B, "tt", 0, 0, MF4_DT_STRING_UTF8, 0, 25, 32, 0, 0, tt, 0);
    cn[6] = bld_cn(&B, "utf16", 0, 0, MF4_DT_STRING_UTF16_LE, 0, 29, 32, 0, 0, 0, 0);
    cn[7] = bld_cn(&B, "i12", 0, 0, MF4_DT_INT_LE, 4, 33, 12, 0, 0, 0, 0);
    cn[8] = bld_cn(&B, "f16", 0, 0, MF4_DT_FLOAT_LE, 0, 35, 16, 0, 0, 0, 0);
    cn[9] = bld_cn(&B, "f64be", 0, 0, MF4_DT_FLOAT_BE, 0, 37, 64, 0, 0, 0, 0);
    for (int i = 0; i < 9; i++)
        bld_link(&B, cn[i], 0, cn[i + 1]);
    /* 3 records of 45 data bytes + 1 invalidation byte */
    unsigned char rec[3][46];
    memset(rec, 0, sizeof rec);
    const char *lat[] = {"caf\xe9", "ab", "x"};
    const char *tvs[] = {"ab", "cd", "zz"};
    const char *tts[] = {"ab", "q", ""};
    const uint16_t halfs[] = {0x3C00, 0xC000, 0x3555}; /* 1.0, -2.0, 0.333251953125 */
    const int16_t i12[] = {-2048, 2047, -1};
    const double be[] = {1.5, -1e300, 0};
    for (int r = 0; r < 3; r++) {
        double t = r * 0.5;
        memcpy(rec[r], &t, 8);
        bld_le(rec[r] + 8, offs[r], 8);
        memcpy(rec[r] + 16, lat[r], strlen(lat[r]));
        rec[r][20] = (unsigned char)(r + 1); /* 1 -> nested linear (10), 2 -> "two", 3 -> other */
        memcpy(rec[r] + 21, tvs[r], strlen(tvs[r]));
        memcpy(rec[r] + 25, tts[r], strlen(tts[r]));
        rec[r][29] = 'h';
        rec[r][31] = r == 2 ? 0 : 'i';
        uint16_t v = (uint16_t)(((uint16_t)i12[r] & 0xFFF) << 4) | 0x5; /* junk in low bits */
        bld_le(rec[r] + 33, v, 2);
        bld_le(rec[r] + 35, halfs[r], 2);
        uint64_t bits;
        memcpy(&bits, &be[r], 8);
        for (int i = 0; i < 8; i++)
            rec[r][37 + i] = (unsigned char)(bits >> (56 - 8 * i));
        rec[r][45] = r == 1 ? 1 : 0; /* latin1 invalid in record 1 */
    }
    uint64_t dt = bld_block(&B, "DT", 0, NULL, rec, sizeof rec);
    uint64_t cg = bld_cg(&B, cn[0], bld_tx(&B, "hand"), 0, 3, 0, 45, 1);
    uint64_t dg = bld_dg(&B, cg, dt, 0);
    bld_link(&B, hd, 0, dg);
    return B;
}

TEST(hand_built_sorted_vlsd_strings_conversions)
{
    bld B = make_sorted_vlsd_file();
    mf4_file *f = open_built(&B);
    if (!f)
        return;
    const mf4_group *g = mf4_group_at(f, 0);
    CHECK_EQ_INT(g->n_channels, 10);
    CHECK_STR(g->acq_name, "hand");
    CHECK_EQ_INT(read_channel(f, 0, 1, 2), MF4_OK); /* VLSD from SD, batch 2 */
    CHECK_EQ_INT(cv.n, 3);
    CHECK_STR(cv.bytes[0], "hello");
    CHECK_STR(cv.bytes[1], "");
    CHECK_STR(cv.bytes[2], "world!");
    CHECK_EQ_INT(read_channel(f, 0, 2, 10), MF4_OK);
    CHECK_STR(cv.bytes[0], "caf\xc3\xa9"); /* Latin-1 é -> UTF-8 */
    CHECK_STR(cv.bytes[2], "x");
    CHECK_EQ_INT(cv.valid[0], 1);
    CHECK_EQ_INT(cv.valid[1], 0);
    CHECK_EQ_INT(read_channel(f, 0, 3, 10), MF4_OK); /* value->text with a nested conversion */
    CHECK(cv.text[0] == NULL);
    CHECK_NEAR(cv.phys[0], 10, 0);
    CHECK_STR(cv.text[1], "two");
    CHECK_STR(cv.text[2], "other");
    CHECK_EQ_INT(read_channel(f, 0, 4, 10), MF4_OK); /* text->value */
    CHECK_NEAR(cv.phys[0], 1.5, 0);
    CHECK_NEAR(cv.phys[1], 2.5, 0);
    CHECK_NEAR(cv.phys[2], 9, 0);
    const mf4_conversion *tt = g->channels[5].conv;
    const char *t;
    double p;
    CHECK_EQ_INT(mf4_conv_apply_text(tt, "ab", &p, &t), MF4_OK); /* text->text */
    CHECK_STR(t, "AB");
    CHECK_EQ_INT(mf4_conv_apply_text(tt, "q", &p, &t), MF4_OK);
    CHECK_STR(t, "q"); /* NIL default keeps the input */
    CHECK_EQ_INT(mf4_conv_apply(tt, 1, false, &p, &t), MF4_E_CONV);
    CHECK_EQ_INT(read_channel(f, 0, 5, 10), MF4_OK);
    CHECK_STR(cv.text[0], "AB");
    CHECK_EQ_INT(read_channel(f, 0, 6, 10), MF4_OK); /* UTF-16 LE */
    CHECK_STR(cv.bytes[0], "hi");
    CHECK_STR(cv.bytes[2], "h");
    CHECK_EQ_INT(read_channel(f, 0, 7, 10), MF4_OK); /* 12-bit signed at bit offset 4 */
    CHECK_EQ_INT(cv.i[0], -2048);
    CHECK_EQ_INT(cv.i[1], 2047);
    CHECK_EQ_INT(cv.i[2], -1);
    CHECK_EQ_INT(read_channel(f, 0, 8, 10), MF4_OK); /* float16 */
    CHECK_NEAR(cv.f[0], 1.0, 0);
    CHECK_NEAR(cv.f[1], -2.0, 0);
    CHECK_NEAR(cv.f[2], 0.333251953125, 0);
    CHECK_EQ_INT(read_channel(f, 0, 9, 10), MF4_OK); /* float64 big endian */
    CHECK_NEAR(cv.f[0], 1.5, 0);
    CHECK(cv.f[1] == -1e300);
    mf4_close(f);
    free(B.b);
}

/* Unsorted data group: channel group 1 (fixed records) + VLSD channel group 2; optionally
 * unfinalized with a DT length that was never written and a cut-off last record. */
static bld make_unsorted_file(int unfinalized)
{
    bld B = {0};
    uint64_t hd = bld_start(&B, unfinalized, unfinalized ? 0x25 : 0);
    uint64_t cn0 = bld_cn(&B, "t", 2, 1, MF4_DT_FLOAT_LE, 0, 0, 64, 0, 0, 0, 0);
    uint64_t cn1 = bld_cn(&B, "payload", 1, 0, MF4_DT_BYTE_ARRAY, 0, 8, 64, 0, 0, 0, 0);
    bld_link(&B, cn0, 0, cn1);
    uint64_t cga = bld_cg(&B, cn0, bld_tx(&B, "frames"), 1, unfinalized ? 0 : 3, 0, 16, 0);
    uint64_t cgb = bld_cg(&B, 0, 0, 2, unfinalized ? 0 : 3, 1, 0, 0);
    bld_link(&B, cga, 0, cgb);
    bld_link(&B, cn1, 5, cgb);
    /* data: [2][len]bytes [1][t][off] ... */
    unsigned char d[256];
    size_t n = 0;
    const char *pl[] = {"abc", "xy", "0123456789"};
    uint64_t vlog = 0;
    for (int r = 0; r < 3; r++) {
        size_t l = strlen(pl[r]);
        d[n++] = 2;
        bld_le(d + n, l, 4);
        memcpy(d + n + 4, pl[r], l);
        n += 4 + l;
        d[n++] = 1;
        double t = r;
        memcpy(d + n, &t, 8);
        bld_le(d + n + 8, vlog, 8);
        n += 16;
        vlog += 4 + l;
    }
    if (unfinalized) { /* a record cut off by the end of the file */
        d[n++] = 1;
        memset(d + n, 0, 5);
        n += 5;
    }
    uint64_t dt;
    if (unfinalized) {
        /* the DT block is last in the file and its length was never updated */
        uint64_t dg = bld_dg(&B, cga, 0, 1);
        bld_link(&B, hd, 0, dg);
        bld_align(&B);
        dt = B.n;
        unsigned char h[24] = {'#', '#', 'D', 'T'};
        bld_le(h + 8, 24, 8);
        bld_put(&B, h, 24);
        bld_put(&B, d, n);
        bld_link(&B, dg, 2, dt);
        return B;
    }
    dt = bld_block(&B, "DT", 0, NULL, d, n);
    uint64_t dg = bld_dg(&B, cga, dt, 1);
    bld_link(&B, hd, 0, dg);
    return B;
}

static void check_unsorted(int unfinalized)
{
    bld B = make_unsorted_file(unfinalized);
    mf4_file *f = open_built(&B);
    if (!f)
        return;
    CHECK_EQ_INT(mf4_group_count(f), 2);
    CHECK(mf4_group_at(f, 1)->is_vlsd);
    CHECK_EQ_INT(mf4_group_at(f, 1)->n_channels, 0);
    CHECK_EQ_INT(mf4_info(f)->unfinalized, unfinalized);
    CHECK(mf4_group_at(f, 0)->channels[1].vlsd_in_group);
    for (size_t batch = 1; batch <= 4; batch++) {
        CHECK_EQ_INT(read_channel(f, 0, 1, batch), MF4_OK);
        CHECK_EQ_INT(cv.n, 3);
        CHECK_STR(cv.bytes[0], "abc");
        CHECK_STR(cv.bytes[1], "xy");
        CHECK_STR(cv.bytes[2], "0123456789");
        CHECK_EQ_INT(read_channel(f, 0, 0, batch), MF4_OK);
        CHECK_NEAR(cv.f[2], 2.0, 0);
    }
    mf4_close(f);
    free(B.b);
}

TEST(hand_built_unsorted_vlsd_group)
{
    check_unsorted(0);
}

TEST(hand_built_unfinalized)
{
    check_unsorted(1);
}

/* Names and units may come from MD blocks: the <TX> element, XML entities decoded; an MD
 * block without one names nothing (regression: fuzz crash writing to a literal). */
TEST(md_names)
{
    bld B = {0};
    uint64_t hd = bld_start(&B, 0, 0);
    const char *md1 = "<CNcomment><TX>a&amp;b &lt;1&gt;</TX></CNcomment>";
    const char *md2 = "<CNcomment><name>no tx &amp; here</name></CNcomment>";
    uint64_t m1 = bld_block(&B, "MD", 0, NULL, md1, strlen(md1) + 1);
    uint64_t m2 = bld_block(&B, "MD", 0, NULL, md2, strlen(md2) + 1);
    uint64_t cn0 = bld_cn(&B, "t", 2, 1, MF4_DT_FLOAT_LE, 0, 0, 64, 0, 0, 0, 0);
    uint64_t cn1 = bld_cn(&B, "x", 0, 0, MF4_DT_UINT_LE, 0, 8, 8, 0, 0, 0, 0);
    bld_link(&B, cn0, 0, cn1);
    bld_link(&B, cn0, 2, m1);
    bld_link(&B, cn1, 2, m2);
    bld_link(&B, cn1, 6, m1); /* unit */
    unsigned char rec[9] = {0};
    uint64_t dt = bld_block(&B, "DT", 0, NULL, rec, sizeof rec);
    uint64_t cg = bld_cg(&B, cn0, 0, 0, 1, 0, 9, 0);
    bld_link(&B, hd, 0, bld_dg(&B, cg, dt, 0));
    mf4_file *f;
    mf4_error e;
    CHECK_EQ_INT(mf4_open_memory(&f, B.b, B.n, &e), MF4_OK);
    if (f) {
        CHECK_STR(mf4_group_at(f, 0)->channels[0].name, "a&b <1>");
        CHECK_STR(mf4_group_at(f, 0)->channels[1].name, "");
        CHECK_STR(mf4_group_at(f, 0)->channels[1].unit, "a&b <1>");
        mf4_close(f);
    }
    free(B.b);
}

/* A virtual master (cn_type 3: time = conversion of the record index, no bytes in the record)
 * and a virtual data channel, next to a normal one; unsorted bus-event style flags kept. */
TEST(virtual_channels)
{
    bld B = {0};
    uint64_t hd = bld_start(&B, 0, 0);
    double lin[] = {0.5, 0.01}; /* t = 0.5 + 0.01 * index */
    uint64_t cc = bld_cc(&B, MF4_CONV_LINEAR, 0, NULL, 2, lin);
    uint64_t cn0 = bld_cn(&B, "t", 3, 1, MF4_DT_UINT_LE, 0, 0, 0, 0, 0, cc, 0);
    uint64_t cn1 = bld_cn(&B, "idx", 6, 0, MF4_DT_UINT_LE, 0, 0, 0, 0, 0, 0, 0);
    uint64_t cn2 = bld_cn(&B, "v", 0, 0, MF4_DT_INT_BE, 0, 0, 16, 0, 0, 0, 0);
    bld_link(&B, cn0, 0, cn1);
    bld_link(&B, cn1, 0, cn2);
    unsigned char rec[5][2] = {{0, 1}, {0xFF, 0xFF}, {0x80, 0}, {0x7F, 0xFF}, {1, 0}};
    uint64_t dt = bld_block(&B, "DT", 0, NULL, rec, sizeof rec);
    uint64_t cg = bld_cg(&B, cn0, 0, 0, 5, 2 /* bus event */, 2, 0);
    bld_link(&B, hd, 0, bld_dg(&B, cg, dt, 0));
    mf4_file *f = open_built(&B);
    if (!f)
        return;
    const mf4_group *g = mf4_group_at(f, 0);
    CHECK_EQ_INT(g->master, 0);
    CHECK_EQ_INT(g->flags & 2, 2);
    CHECK(g->channels[0].is_master);
    CHECK_EQ_INT(read_channel(f, 0, 0, 2), MF4_OK);
    CHECK_EQ_INT(cv.n, 5);
    CHECK_EQ_INT(cv.u[4], 4);
    CHECK_NEAR(cv.phys[0], 0.5, 1e-15);
    CHECK_NEAR(cv.phys[3], 0.53, 1e-15);
    CHECK_EQ_INT(read_channel(f, 0, 1, 3), MF4_OK);
    CHECK_EQ_INT(cv.u[2], 2);
    CHECK_EQ_INT(read_channel(f, 0, 2, 4), MF4_OK);
    CHECK_EQ_INT(cv.i[0], 1);
    CHECK_EQ_INT(cv.i[1], -1);
    CHECK_EQ_INT(cv.i[2], -32768);
    CHECK_EQ_INT(cv.i[3], 32767);
    CHECK_EQ_INT(cv.i[4], 256);
    mf4_close(f);
    free(B.b);
}

/* A transposed DZ block whose column count (zip parameter 8) is not the record size (3) and
 * whose length is not a multiple of it: 9 rows of 8 columns are transposed, the last 3 bytes
 * stored as they are. Built by hand with zlib, the same bytes in a DL of two DZ blocks. */
TEST(dz_transposed_with_tail)
{
    enum { NREC = 25, RS = 3, COLS = 8 };
    unsigned char plain[NREC * RS], tr[NREC * RS];
    for (int r = 0; r < NREC; r++) {
        plain[r * RS] = (unsigned char)(r * 3);
        plain[r * RS + 1] = (unsigned char)(r >> 1);
        plain[r * RS + 2] = (unsigned char)(200 - r);
    }
    size_t len = sizeof plain, rows = len / COLS;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < COLS; c++)
            tr[c * rows + r] = plain[r * COLS + c];
    memcpy(tr + rows * COLS, plain + rows * COLS, len - rows * COLS);
    unsigned char z[256];
    uLongf zl = sizeof z;
    CHECK_EQ_INT(compress(z, &zl, tr, len), Z_OK);
    bld B = {0};
    uint64_t hd = bld_start(&B, 0, 0);
    unsigned char dz[24 + 256];
    memset(dz, 0, 24);
    dz[0] = 'D';
    dz[1] = 'T';
    dz[2] = 1;
    bld_le(dz + 4, COLS, 4);
    bld_le(dz + 8, len, 8);
    bld_le(dz + 16, zl, 8);
    memcpy(dz + 24, z, zl);
    uint64_t dzb = bld_block(&B, "DZ", 0, NULL, dz, 24 + zl);
    uint64_t cn0 = bld_cn(&B, "v16", 0, 0, MF4_DT_UINT_LE, 0, 0, 16, 0, 0, 0, 0);
    uint64_t cn1 = bld_cn(&B, "v8", 0, 0, MF4_DT_UINT_LE, 0, 2, 8, 0, 0, 0, 0);
    bld_link(&B, cn0, 0, cn1);
    uint64_t cg = bld_cg(&B, cn0, 0, 0, NREC, 0, RS, 0);
    bld_link(&B, hd, 0, bld_dg(&B, cg, dzb, 0));
    mf4_file *f;
    mf4_error e;
    int rc = mf4_open_memory(&f, B.b, B.n, &e);
    CHECK_EQ_INT(rc, MF4_OK);
    if (!rc) {
        CHECK_EQ_INT(mf4_group_at(f, 0)->master, -1);
        for (size_t batch = 1; batch <= 25; batch += 6) {
            CHECK_EQ_INT(read_channel(f, 0, 0, batch), MF4_OK);
            CHECK_EQ_INT(cv.n, NREC);
            int bad = 0;
            for (int r = 0; r < NREC; r++)
                bad |= cv.u[r] != (uint64_t)(r * 3 + ((r >> 1) << 8));
            CHECK(!bad);
            CHECK_EQ_INT(read_channel(f, 0, 1, batch), MF4_OK);
            bad = 0;
            for (int r = 0; r < NREC; r++)
                bad |= cv.u[r] != (uint64_t)(200 - r);
            CHECK(!bad);
        }
        mf4_close(f);
    }
    /* a DZ claiming more bytes than it inflates to is an error, not garbage */
    bld_le(B.b + dzb + 24 + 8, len + 1, 8);
    rc = mf4_open_memory(&f, B.b, B.n, &e);
    CHECK_EQ_INT(rc, MF4_OK); /* 76 bytes still hold the 25 records */
    if (!rc) {
        CHECK_EQ_INT(read_channel(f, 0, 0, 10), MF4_E_ZLIB);
        mf4_close(f);
    }
    free(B.b);
}

TEST(open_errors)
{
    mf4_file *f;
    mf4_error e;
    CHECK_EQ_INT(mf4_open(&f, "/nonexistent.mf4", &e), MF4_E_IO);
    CHECK(f == NULL);
    CHECK_EQ_INT(mf4_open_memory(&f, "hello", 5, &e), MF4_E_NOT_MDF);
    unsigned char buf[200];
    memset(buf, 0, sizeof buf);
    memcpy(buf, "MDF     3.30    ", 16);
    buf[28] = 330 & 0xFF;
    buf[29] = 330 >> 8;
    CHECK_EQ_INT(mf4_open_memory(&f, buf, sizeof buf, &e), MF4_E_VERSION);
    /* a DG chain that loops back on itself */
    bld B = {0};
    uint64_t hd = bld_start(&B, 0, 0);
    uint64_t dg = bld_dg(&B, 0, 0, 0);
    bld_link(&B, dg, 0, dg);
    bld_link(&B, hd, 0, dg);
    CHECK_EQ_INT(mf4_open_memory(&f, B.b, B.n, &e), MF4_E_CORRUPT);
    CHECK(strstr(e.message, "cycle") != NULL);
    CHECK_EQ_INT(e.offset, dg);
    free(B.b);
    CHECK(strcmp(mf4_strerror(MF4_E_TRUNCATED), "truncated file") == 0);
    CHECK(mf4_strerror(999) != NULL);
    mf4_close(NULL);
}

/* MF4_SEED_DIR=dir test-mf4 also writes the hand-built files there (how the fuzz seed corpus
 * tests/fuzz/corpus/mf4/hand_*.mf4 was made). */
static void write_seeds(const char *dir)
{
    bld files[3] = {make_sorted_vlsd_file(), make_unsorted_file(0), make_unsorted_file(1)};
    const char *names[3] = {"hand_sorted_vlsd.mf4", "hand_unsorted.mf4", "hand_unfinalized.mf4"};
    for (int i = 0; i < 3; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        FILE *f = fopen(p, "wb");
        if (f) {
            fwrite(files[i].b, 1, files[i].n, f);
            fclose(f);
        }
        free(files[i].b);
    }
}

int main(void)
{
    if (getenv("MF4_SEED_DIR"))
        write_seeds(getenv("MF4_SEED_DIR"));
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test-mf4-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    RUN(roundtrip_dt_le);
    RUN(roundtrip_dt_be_small_batches);
    RUN(roundtrip_dz_many_blocks);
    RUN(roundtrip_dz_be);
    RUN(writer_phys_inverts_linear);
    RUN(writer_rejects_bad_input);
    RUN(conversions_by_hand);
    RUN(formula_evaluator);
    RUN(hand_built_sorted_vlsd_strings_conversions);
    RUN(hand_built_unsorted_vlsd_group);
    RUN(hand_built_unfinalized);
    RUN(md_names);
    RUN(virtual_channels);
    RUN(dz_transposed_with_tail);
    RUN(open_errors);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_DONE();
}
