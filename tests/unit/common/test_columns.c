/*
 * test_columns.c - the columnar batch codec (wsm_columns.h): the exact binary layout of
 * docs/protocol.md §8, the JSON twin, round trips between both for every type, unaligned
 * payloads, and a clear BAD_FIELD / BAD_JSON / TOO_LARGE for every kind of malformed batch; the
 * JSON scanner gives exactly the reference (cJSON tree) decoder's answer on valid, unusual and
 * mutated payloads.
 */
#include "wsm_columns.h"
#include "wsm_columns_int.h"
#include "wsm_dtoa.h"
#include "wsm_frame.h"
#include "../../wsm_test.h"

#include <stdlib.h>

static const char *const stages[] = {"NONE", "FCW", "PB1", "PB2", "FB"};

static int decode_text(const char *ct, const char *meta_txt, const void *p, size_t n,
                       size_t max_rows, wsm_err *err);

/* A 3-row batch: t f64, range f32 nullable (row 1 invalid), state u8 enum. */
static const double t3[] = {0.0, 0.01, 0.02};
static const float range3[] = {10.5f, 0.0f, 9.25f};
static const uint8_t valid3[] = {0x05};
static const uint8_t state3[] = {0, 1, 4};

static void small_batch(wsm_col cols[3])
{
    memset(cols, 0, 3 * sizeof *cols);
    cols[0] = (wsm_col){.name = "t", .type = WSM_COL_F64, .unit = "s", .values = t3};
    cols[1] = (wsm_col){.name = "range",
                        .type = WSM_COL_F32,
                        .unit = "m",
                        .nullable = true,
                        .values = range3,
                        .validity = valid3};
    cols[2] = (wsm_col){
        .name = "state", .type = WSM_COL_U8, .enum_names = stages, .n_enum = 5, .values = state3};
}

static char *print(const cJSON *j)
{
    return cJSON_PrintUnformatted(j);
}

TEST(types)
{
    CHECK_STR(wsm_col_type_name(WSM_COL_BOOL), "bool");
    CHECK_EQ_INT(wsm_col_type_from_name("i16"), WSM_COL_I16);
    CHECK_EQ_INT(wsm_col_type_from_name("F64"), -1);
    CHECK_EQ_INT(wsm_col_type_from_name(NULL), -1);
    CHECK_EQ_INT(wsm_col_type_size(WSM_COL_F32), 4);
    CHECK_EQ_INT(wsm_col_type_size(WSM_COL_I64), 8);
    CHECK(wsm_col_type_name(WSM_COL_TYPE_COUNT) == NULL);
}

TEST(binary_layout)
{
    wsm_col cols[3];
    small_batch(cols);
    cJSON *meta;
    wsm_buf b = WSM_BUF_INIT;
    wsm_err err;
    CHECK_EQ_INT(wsm_columns_encode(WSM_CT_COLUMNS, cols, 3, 3, &meta, &b, &err), WSM_OK);
    /* t: 24; range: bitmap 8 + values 12 -> 16; state: 3 -> 8 */
    CHECK_EQ_INT(b.len, 24 + 8 + 16 + 8);
    CHECK_EQ_INT(wsm_columns_binary_size(cols, 3, 3), 56);
    double d;
    memcpy(&d, b.data + 8, 8);
    CHECK(d == 0.01);
    CHECK_EQ_INT(b.data[24], 0x05);
    for (int i = 25; i < 32; i++)
        CHECK_EQ_INT(b.data[i], 0);
    float f;
    memcpy(&f, b.data + 32 + 8, 4);
    CHECK(f == 9.25f);
    for (int i = 44; i < 48; i++)
        CHECK_EQ_INT(b.data[i], 0);
    CHECK_EQ_INT(b.data[48], 0);
    CHECK_EQ_INT(b.data[49], 1);
    CHECK_EQ_INT(b.data[50], 4);
    for (int i = 51; i < 56; i++)
        CHECK_EQ_INT(b.data[i], 0);
    char *m = print(meta);
    CHECK_STR(m, "{\"rows\":3,\"columns\":[{\"name\":\"t\",\"type\":\"f64\",\"unit\":\"s\","
                 "\"nullable\":false},{\"name\":\"range\",\"type\":\"f32\",\"unit\":\"m\","
                 "\"nullable\":true},{\"name\":\"state\",\"type\":\"u8\",\"nullable\":false,"
                 "\"enum\":[\"NONE\",\"FCW\",\"PB1\",\"PB2\",\"FB\"]}]}");
    free(m);
    cJSON_Delete(meta);
    wsm_buf_free(&b);
}

TEST(json_layout)
{
    wsm_col cols[3];
    small_batch(cols);
    cJSON *meta, *meta2;
    wsm_buf b = WSM_BUF_INIT, b2 = WSM_BUF_INIT;
    wsm_err err;
    CHECK_EQ_INT(wsm_columns_encode(WSM_CT_JSON, cols, 3, 3, &meta, &b, &err), WSM_OK);
    CHECK_EQ_INT(wsm_columns_encode(WSM_CT_COLUMNS, cols, 3, 3, &meta2, &b2, &err), WSM_OK);
    wsm_buf_append(&b, "", 1);
    CHECK_STR(
        (char *)b.data,
        "{\"t\":[0,0.01,0.02],\"range\":[10.5,null,9.25],\"state\":[\"NONE\",\"FCW\",\"FB\"]}");
    /* both encodings carry the same descriptors */
    char *m1 = print(meta), *m2 = print(meta2);
    CHECK_STR(m1, m2);
    free(m1);
    free(m2);
    cJSON_Delete(meta);
    cJSON_Delete(meta2);
    wsm_buf_free(&b);
    wsm_buf_free(&b2);
}

static void check_small(const wsm_columns *bt)
{
    CHECK_EQ_INT(bt->rows, 3);
    CHECK_EQ_INT(bt->ncols, 3);
    const wsm_col *t = wsm_columns_find(bt, "t"), *r = wsm_columns_find(bt, "range"),
                  *s = wsm_columns_find(bt, "state");
    CHECK(t && r && s);
    if (!t || !r || !s)
        return;
    CHECK(wsm_columns_find(bt, "T") == NULL);
    CHECK_STR(t->unit, "s");
    CHECK(!t->nullable && t->validity == NULL);
    CHECK(((const double *)t->values)[1] == 0.01);
    CHECK(wsm_col_get(t, 2) == 0.02);
    CHECK(r->nullable && r->validity != NULL);
    CHECK(wsm_col_valid(r, 0) && !wsm_col_valid(r, 1) && wsm_col_valid(r, 2));
    CHECK(((const float *)r->values)[2] == 9.25f);
    double out[3];
    wsm_col_to_f64(r, 3, out);
    CHECK(out[0] == 10.5 && isnan(out[1]) && out[2] == 9.25);
    CHECK_EQ_INT(s->n_enum, 5);
    CHECK_STR(s->enum_names[4], "FB");
    CHECK_EQ_INT(((const uint8_t *)s->values)[2], 4);
    CHECK(s->unit == NULL);
}

TEST(decode_both)
{
    wsm_col cols[3];
    small_batch(cols);
    const char *cts[] = {WSM_CT_COLUMNS, WSM_CT_JSON};
    for (int k = 0; k < 2; k++) {
        cJSON *meta;
        wsm_buf b = WSM_BUF_INIT;
        wsm_err err;
        CHECK_EQ_INT(wsm_columns_encode(cts[k], cols, 3, 3, &meta, &b, &err), WSM_OK);
        /* unaligned copy of the payload */
        unsigned char *u = malloc(b.len + 1);
        memcpy(u + 1, b.data, b.len);
        wsm_columns *bt = NULL;
        CHECK_EQ_INT(wsm_columns_decode(cts[k], meta, u + 1, b.len, 0, &bt, &err), WSM_OK);
        if (bt)
            check_small(bt);
        wsm_columns_free(bt);
        free(u);
        cJSON_Delete(meta);
        wsm_buf_free(&b);
    }
    wsm_columns_free(NULL);
}

/* ------------------------------------------------------------------ random round trips */

static unsigned rnd_state = 1;
static unsigned rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return rnd_state >> 8;
}

static bool same_batch(const wsm_columns *a, const wsm_columns *b)
{
    if (a->rows != b->rows || a->ncols != b->ncols)
        return false;
    for (size_t i = 0; i < a->ncols; i++) {
        const wsm_col *x = &a->cols[i], *y = &b->cols[i];
        if (strcmp(x->name, y->name) || x->type != y->type || x->nullable != y->nullable ||
            x->n_enum != y->n_enum || (!x->unit != !y->unit) ||
            (x->unit && strcmp(x->unit, y->unit)))
            return false;
        size_t sz = wsm_col_type_size(x->type);
        for (size_t r = 0; r < a->rows; r++) {
            if (wsm_col_valid(x, r) != wsm_col_valid(y, r))
                return false;
            if (wsm_col_valid(x, r) &&
                memcmp((const char *)x->values + r * sz, (const char *)y->values + r * sz, sz))
                return false;
        }
    }
    return true;
}

TEST(random_round_trips)
{
    for (int trial = 0; trial < 200; trial++) {
        size_t rows = trial < 10 ? (size_t)trial : rnd() % 700;
        size_t ncols = 1 + rnd() % 9;
        wsm_col cols[9];
        void *vals[9];
        uint8_t *bms[9];
        char names[9][24];
        for (size_t i = 0; i < ncols; i++) {
            wsm_col *c = &cols[i];
            memset(c, 0, sizeof *c);
            snprintf(names[i], sizeof names[i], "c%zu", i);
            c->name = names[i];
            c->type = (wsm_col_type)(rnd() % WSM_COL_TYPE_COUNT);
            c->unit = (rnd() & 1) ? "m/s" : NULL;
            c->nullable = rnd() & 1;
            size_t sz = wsm_col_type_size(c->type);
            unsigned char *v = malloc(rows * sz + 1);
            bms[i] = malloc(rows / 8 + 1);
            for (size_t k = 0; k < rows / 8 + 1; k++)
                bms[i][k] = (uint8_t)rnd();
            for (size_t r = 0; r < rows; r++) {
                switch (c->type) {
                case WSM_COL_F64: {
                    double d = (double)(int)rnd() / (double)(1 + rnd() % 1000) * 1e-3;
                    memcpy(v + r * 8, &d, 8);
                    break;
                }
                case WSM_COL_F32: {
                    float f = (float)((double)(int)rnd() / 7.0);
                    memcpy(v + r * 4, &f, 4);
                    break;
                }
                case WSM_COL_I64: {
                    int64_t x = ((int64_t)(int)rnd() << 20) - 12345; /* within 2^53 */
                    memcpy(v + r * 8, &x, 8);
                    break;
                }
                case WSM_COL_I32: {
                    int32_t x = (int32_t)(rnd() * 2654435761u);
                    memcpy(v + r * 4, &x, 4);
                    break;
                }
                case WSM_COL_I16: {
                    int16_t x = (int16_t)rnd();
                    memcpy(v + r * 2, &x, 2);
                    break;
                }
                case WSM_COL_U8:
                    v[r] = (uint8_t)(c->n_enum ? rnd() % 5 : rnd());
                    break;
                case WSM_COL_BOOL:
                    v[r] = rnd() & 1;
                    break;
                default:
                    break;
                }
            }
            if (c->type == WSM_COL_U8 && (rnd() & 1)) {
                c->enum_names = stages;
                c->n_enum = 5;
                for (size_t r = 0; r < rows; r++)
                    v[r] %= 5;
            }
            c->values = vals[i] = v;
            c->validity = c->nullable && (rnd() & 1) ? bms[i] : NULL;
        }
        cJSON *mb, *mj;
        wsm_buf bb = WSM_BUF_INIT, bj = WSM_BUF_INIT;
        wsm_err err;
        CHECK_EQ_INT(wsm_columns_encode(WSM_CT_COLUMNS, cols, ncols, rows, &mb, &bb, &err), WSM_OK);
        CHECK_EQ_INT(wsm_columns_encode(WSM_CT_JSON, cols, ncols, rows, &mj, &bj, &err), WSM_OK);
        CHECK_EQ_INT(bb.len % 8, 0);
        wsm_columns *db = NULL, *dj = NULL;
        CHECK_EQ_INT(wsm_columns_decode(WSM_CT_COLUMNS, mb, bb.data, bb.len, 0, &db, &err), WSM_OK);
        CHECK_EQ_INT(wsm_columns_decode(WSM_CT_JSON, mj, bj.data, bj.len, 0, &dj, &err), WSM_OK);
        wsm_columns *dr = NULL;
        CHECK_EQ_INT(wsm_columns_decode_json_reference(mj, bj.data, bj.len, 0, &dr, &err), WSM_OK);
        if (dj && dr)
            CHECK(same_batch(dj, dr));
        wsm_columns_free(dr);
        if (db && dj) {
            CHECK(same_batch(db, dj));
            /* re-encoding the decoded batch gives the same bytes */
            cJSON *m2;
            wsm_buf b2 = WSM_BUF_INIT;
            CHECK_EQ_INT(
                wsm_columns_encode(WSM_CT_COLUMNS, db->cols, db->ncols, db->rows, &m2, &b2, &err),
                WSM_OK);
            CHECK(b2.len == bb.len && (bb.len == 0 || memcmp(b2.data, bb.data, bb.len) == 0));
            cJSON_Delete(m2);
            wsm_buf_free(&b2);
            /* and it matches the source values */
            for (size_t i = 0; i < ncols; i++) {
                size_t sz = wsm_col_type_size(cols[i].type);
                for (size_t r = 0; r < rows; r++)
                    if (wsm_col_valid(&cols[i], r))
                        CHECK(memcmp((char *)vals[i] + r * sz,
                                     (const char *)db->cols[i].values + r * sz, sz) == 0);
            }
        }
        wsm_columns_free(db);
        wsm_columns_free(dj);
        cJSON_Delete(mb);
        cJSON_Delete(mj);
        wsm_buf_free(&bb);
        wsm_buf_free(&bj);
        for (size_t i = 0; i < ncols; i++) {
            free(vals[i]);
            free(bms[i]);
        }
        if (wsm_test_failures)
            break;
    }
}

TEST(json_special_values)
{
    /* non-finite doubles become null (invalid) in JSON; exact shortest doubles */
    double v[4] = {0.1, NAN, 1.0 / 3.0, -INFINITY};
    wsm_col c = {.name = "x", .type = WSM_COL_F64, .nullable = true, .values = v};
    cJSON *meta;
    wsm_buf b = WSM_BUF_INIT;
    wsm_err err;
    CHECK_EQ_INT(wsm_columns_encode(WSM_CT_JSON, &c, 1, 4, &meta, &b, &err), WSM_OK);
    wsm_buf_append(&b, "", 1);
    /* the shortest text that reads back exactly (16 digits; %.17g wrote 0.33333333333333331) */
    CHECK_STR((char *)b.data, "{\"x\":[0.1,null,0.3333333333333333,null]}");
    wsm_columns *d = NULL;
    CHECK_EQ_INT(wsm_columns_decode(NULL, meta, b.data, b.len - 1, 0, &d, &err), WSM_OK);
    if (d) {
        CHECK(((const double *)d->cols[0].values)[2] == 1.0 / 3.0);
        CHECK(!wsm_col_valid(&d->cols[0], 1) && !wsm_col_valid(&d->cols[0], 3));
    }
    wsm_columns_free(d);
    cJSON_Delete(meta);
    wsm_buf_free(&b);
    /* bool columns are JSON booleans */
    uint8_t bu[2] = {1, 0};
    wsm_col cb = {.name = "flag", .type = WSM_COL_BOOL, .values = bu};
    b = (wsm_buf)WSM_BUF_INIT;
    CHECK_EQ_INT(wsm_columns_encode(WSM_CT_JSON, &cb, 1, 2, &meta, &b, &err), WSM_OK);
    wsm_buf_append(&b, "", 1);
    CHECK_STR((char *)b.data, "{\"flag\":[true,false]}");
    cJSON_Delete(meta);
    wsm_buf_free(&b);
}

TEST(enum_on_wider_integers)
{
    /* schemas/protocol/columns.json allows enum names on any integer column */
    int16_t s16[3] = {2, 0, 1};
    int32_t s32[3] = {1, 1, 0};
    int64_t s64[3] = {0, 2, 2};
    static const char *const abc[] = {"A", "B", "C"};
    wsm_col cols[3] = {
        {.name = "a", .type = WSM_COL_I16, .enum_names = abc, .n_enum = 3, .values = s16},
        {.name = "b", .type = WSM_COL_I32, .enum_names = abc, .n_enum = 3, .values = s32},
        {.name = "c", .type = WSM_COL_I64, .enum_names = abc, .n_enum = 3, .values = s64},
    };
    const char *cts[] = {WSM_CT_COLUMNS, WSM_CT_JSON};
    for (int k = 0; k < 2; k++) {
        cJSON *meta;
        wsm_buf b = WSM_BUF_INIT;
        wsm_err err;
        CHECK_EQ_INT(wsm_columns_encode(cts[k], cols, 3, 3, &meta, &b, &err), WSM_OK);
        if (k == 1) {
            wsm_buf_append(&b, "", 1);
            CHECK_STR(
                (char *)b.data,
                "{\"a\":[\"C\",\"A\",\"B\"],\"b\":[\"B\",\"B\",\"A\"],\"c\":[\"A\",\"C\",\"C\"]}");
            b.len--;
        }
        wsm_columns *d = NULL;
        CHECK_EQ_INT(wsm_columns_decode(cts[k], meta, b.data, b.len, 0, &d, &err), WSM_OK);
        if (d) {
            CHECK_EQ_INT(((const int16_t *)d->cols[0].values)[0], 2);
            CHECK_EQ_INT(((const int32_t *)d->cols[1].values)[2], 0);
            CHECK_EQ_INT(((const int64_t *)d->cols[2].values)[1], 2);
            CHECK_EQ_INT(d->cols[2].n_enum, 3);
        }
        wsm_columns_free(d);
        cJSON_Delete(meta);
        wsm_buf_free(&b);
    }
    /* out of range (negative or >= names) is refused on both sides */
    wsm_err err;
    cJSON *meta;
    wsm_buf b = WSM_BUF_INIT;
    s32[1] = 3;
    CHECK_EQ_INT(wsm_columns_encode(WSM_CT_COLUMNS, &cols[1], 1, 3, &meta, &b, &err),
                 WSM_E_BAD_FIELD);
    s32[1] = -1;
    CHECK_EQ_INT(wsm_columns_encode(WSM_CT_COLUMNS, &cols[1], 1, 3, &meta, &b, &err),
                 WSM_E_BAD_FIELD);
    unsigned char p[16] = {0};
    int32_t bad = 5;
    memcpy(p + 4, &bad, 4);
    CHECK_EQ_INT(decode_text(WSM_CT_COLUMNS,
                             "{\"rows\":3,\"columns\":[{\"name\":\"e\",\"type\":\"i32\","
                             "\"enum\":[\"A\",\"B\"]}]}",
                             p, 16, 0, &err),
                 WSM_E_BAD_FIELD);
    CHECK(strstr(err.msg, "row 1") != NULL);
    CHECK_EQ_INT(decode_text(WSM_CT_COLUMNS,
                             "{\"rows\":3,\"columns\":[{\"name\":\"e\",\"type\":\"bool\","
                             "\"enum\":[\"A\",\"B\"]}]}",
                             p, 8, 0, &err),
                 WSM_E_BAD_FIELD);
}

/* Decodes p with the scanner and with the reference decoder: same code, message and batch. */
static bool same_answer(const cJSON *meta, const char *p, size_t n)
{
    wsm_columns *a = NULL, *b = NULL;
    wsm_err ea, eb;
    memset(&ea, 0, sizeof ea);
    memset(&eb, 0, sizeof eb);
    int ra = wsm_columns_decode(WSM_CT_JSON, meta, p, n, 0, &a, &ea);
    int rb = wsm_columns_decode_json_reference(meta, p, n, 0, &b, &eb);
    bool same = ra == rb && (ra != WSM_OK || (a && b && same_batch(a, b))) &&
                (ra == WSM_OK || (strcmp(ea.msg, eb.msg) == 0 && !a && !b));
    if (!same)
        fprintf(stderr, "scanner %d '%s' vs reference %d '%s' on '%.*s'\n", ra, ea.msg, rb, eb.msg,
                (int)n, p);
    wsm_columns_free(a);
    wsm_columns_free(b);
    return same;
}

TEST(json_scanner_matches_reference)
{
    /* a batch of every type with the values the printer finds hard */
    static const double d[] = {0.0,       -0.0, 5e-324,         1.7976931348623157e308,   0.1,
                               1.0 / 3.0, 1e-7, 123456789012.5, -2.2250738585072014e-308, 1e16};
    static const float f[] = {0.0f, -1.5f, 3.4028235e38f, 1e-45f, 0.1f,
                              7.0f, 1e10f, -0.0f,         2.5f,   1.17549435e-38f};
    static const int64_t l[] = {0, -1, 9007199254740992, -9007199254740992, 42, 7, 8, 9, 10, 11};
    static const int32_t i32[] = {INT32_MIN, INT32_MAX, 0, -7, 1, 2, 3, 4, 5, 6};
    static const int16_t i16[] = {INT16_MIN, INT16_MAX, 0, -7, 1, 2, 3, 4, 5, 6};
    static const uint8_t u8[] = {0, 255, 1, 2, 3, 4, 5, 6, 7, 8};
    static const uint8_t st[] = {0, 1, 2, 3, 4, 4, 3, 2, 1, 0};
    static const uint8_t bo[] = {1, 0, 1, 1, 0, 0, 1, 0, 1, 0};
    static const uint8_t valid[] = {0xaf, 0x02};
    wsm_col cols[] = {
        {.name = "d", .type = WSM_COL_F64, .values = d},
        {.name = "dn", .type = WSM_COL_F64, .nullable = true, .values = d, .validity = valid},
        {.name = "f", .type = WSM_COL_F32, .values = f},
        {.name = "l", .type = WSM_COL_I64, .values = l},
        {.name = "i", .type = WSM_COL_I32, .values = i32},
        {.name = "h", .type = WSM_COL_I16, .nullable = true, .values = i16, .validity = valid},
        {.name = "u", .type = WSM_COL_U8, .values = u8},
        {.name = "s", .type = WSM_COL_U8, .enum_names = stages, .n_enum = 5, .values = st},
        {.name = "b", .type = WSM_COL_BOOL, .nullable = true, .values = bo, .validity = valid},
    };
    cJSON *meta;
    wsm_buf b = WSM_BUF_INIT;
    wsm_err err;
    CHECK_EQ_INT(wsm_columns_encode(WSM_CT_JSON, cols, 9, 10, &meta, &b, &err), WSM_OK);
    CHECK(same_answer(meta, (const char *)b.data, b.len));
    /* long numbers (some cJSON versions cut them at 63 characters), unusual but valid texts */
    const char *m1 = "{\"rows\":1,\"columns\":[{\"name\":\"d\",\"type\":\"f64\"}]}";
    cJSON *meta1 = cJSON_Parse(m1);
    for (int len = 60; len <= 66; len++) {
        char txt[128] = "{\"d\":[1.";
        size_t o = strlen(txt);
        memset(txt + o, '0', (size_t)len - 3);
        txt[o + (size_t)len - 3] = '1';
        strcpy(txt + o + (size_t)len - 2, "]}");
        CHECK(same_answer(meta1, txt, strlen(txt)));
    }
    const char *odd[] = {"{\"d\":[1E+2]}",       "{\"d\":[-0.0e-0]}", "{ \"d\" : [ 5e-324 ] }",
                         "{\"d\":[0.1]} \r\n\t", "{\"d\":[\"1\"]}",   "{\"d\":[1]}\x01"};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
        CHECK(same_answer(meta1, odd[i], strlen(odd[i])));
    cJSON_Delete(meta1);
    /* mutations: replaced, deleted and inserted bytes (from the JSON alphabet), swapped spans */
    static const char alphabet[] = "{}[],:\"-+.eE0123456789 \t\n\\nultrfaseu\x01\x0b\x7f\xc3";
    char *m = malloc(b.len + 16);
    long mismatches = 0;
    for (int trial = 0; trial < 60000 / WSM_TEST_SLOW() && m; trial++) {
        size_t n = b.len;
        memcpy(m, b.data, n);
        int edits = 1 + (int)(rnd() % 3);
        for (int k = 0; k < edits && n > 2; k++) {
            size_t at = rnd() % n;
            char ch = alphabet[rnd() % (sizeof alphabet - 1)];
            switch (rnd() % 4) {
            case 0:
                m[at] = ch;
                break;
            case 1:
                memmove(m + at, m + at + 1, n - at - 1);
                n--;
                break;
            case 2:
                memmove(m + at + 1, m + at, n - at);
                m[at] = ch;
                n++;
                break;
            default: { /* truncate */
                n = at + 1;
                break;
            }
            }
        }
        if (!same_answer(meta, m, n) && mismatches++ > 5)
            break;
    }
    CHECK_EQ_INT(mismatches, 0);
    free(m);
    cJSON_Delete(meta);
    wsm_buf_free(&b);
}

/* ------------------------------------------------------------------ errors */

static int decode_text(const char *ct, const char *meta_txt, const void *p, size_t n,
                       size_t max_rows, wsm_err *err)
{
    cJSON *meta = cJSON_Parse(meta_txt);
    wsm_columns *b = (wsm_columns *)1;
    err->msg[0] = 0;
    int rc = wsm_columns_decode(ct, meta, p, n, max_rows, &b, err);
    if (rc != WSM_OK && b != NULL)
        rc = -999; /* *out must be NULL on error */
    wsm_columns_free(rc == WSM_OK ? b : NULL);
    cJSON_Delete(meta);
    return rc;
}

#define META1 "{\"rows\":3,\"columns\":[{\"name\":\"v\",\"type\":\"i16\"}]}"

TEST(binary_errors)
{
    wsm_err err;
    unsigned char p[64] = {0};
    /* i16 x 3 = 6 bytes -> 8 */
    CHECK_EQ_INT(decode_text(WSM_CT_COLUMNS, META1, p, 8, 0, &err), WSM_OK);
    CHECK_EQ_INT(decode_text(WSM_CT_COLUMNS, META1, p, 7, 0, &err), WSM_E_BAD_FIELD);
    CHECK(strstr(err.msg, "'v'") != NULL);
    CHECK_EQ_INT(decode_text(WSM_CT_COLUMNS, META1, p, 9, 0, &err), WSM_E_BAD_FIELD);
    CHECK(strstr(err.msg, "'v'") != NULL);
    CHECK_EQ_INT(decode_text(WSM_CT_COLUMNS, META1, NULL, 0, 0, &err), WSM_E_BAD_FIELD);
    /* non-zero padding */
    p[7] = 1;
    CHECK_EQ_INT(decode_text(WSM_CT_COLUMNS, META1, p, 8, 0, &err), WSM_E_BAD_FIELD);
    CHECK(strstr(err.msg, "padding") != NULL);
    p[7] = 0;
    /* rows above the limit */
    CHECK_EQ_INT(decode_text(WSM_CT_COLUMNS, META1, p, 8, 2, &err), WSM_E_TOO_LARGE);
    /* bitmap bits past the last row */
    const char *mn =
        "{\"rows\":3,\"columns\":[{\"name\":\"v\",\"type\":\"u8\",\"nullable\":true}]}";
    p[0] = 0x0f;
    CHECK_EQ_INT(decode_text(WSM_CT_COLUMNS, mn, p, 16, 0, &err), WSM_E_BAD_FIELD);
    p[0] = 0x07;
    CHECK_EQ_INT(decode_text(WSM_CT_COLUMNS, mn, p, 16, 0, &err), WSM_OK);
    memset(p, 0, sizeof p);
    /* bool must be 0/1; enum index < names (only valid rows count) */
    const char *mb = "{\"rows\":2,\"columns\":[{\"name\":\"b\",\"type\":\"bool\"}]}";
    p[1] = 2;
    CHECK_EQ_INT(decode_text(WSM_CT_COLUMNS, mb, p, 8, 0, &err), WSM_E_BAD_FIELD);
    const char *me = "{\"rows\":2,\"columns\":[{\"name\":\"s\",\"type\":\"u8\",\"nullable\":true,"
                     "\"enum\":[\"A\",\"B\"]}]}";
    p[1] = 0;
    p[0] = 0x01; /* row 1 invalid */
    p[8] = 1;
    p[9] = 7;
    CHECK_EQ_INT(decode_text(WSM_CT_COLUMNS, me, p, 16, 0, &err), WSM_OK);
    p[0] = 0x03;
    CHECK_EQ_INT(decode_text(WSM_CT_COLUMNS, me, p, 16, 0, &err), WSM_E_BAD_FIELD);
    CHECK(strstr(err.msg, "row 1") != NULL);
}

TEST(meta_errors)
{
    wsm_err err;
    unsigned char p[64] = {0};
    const char *bad[] = {
        "[]",
        "{\"columns\":[{\"name\":\"v\",\"type\":\"u8\"}]}",
        "{\"rows\":-1,\"columns\":[{\"name\":\"v\",\"type\":\"u8\"}]}",
        "{\"rows\":1.5,\"columns\":[{\"name\":\"v\",\"type\":\"u8\"}]}",
        "{\"rows\":1}",
        "{\"rows\":1,\"columns\":[]}",
        "{\"rows\":1,\"columns\":[1]}",
        "{\"rows\":1,\"columns\":[{\"type\":\"u8\"}]}",
        "{\"rows\":1,\"columns\":[{\"name\":\"\",\"type\":\"u8\"}]}",
        "{\"rows\":1,\"columns\":[{\"name\":\"v\",\"type\":\"u16\"}]}",
        "{\"rows\":1,\"columns\":[{\"name\":\"v\",\"type\":\"u8\",\"nullable\":1}]}",
        "{\"rows\":1,\"columns\":[{\"name\":\"v\",\"type\":\"u8\",\"unit\":5}]}",
        "{\"rows\":1,\"columns\":[{\"name\":\"v\",\"type\":\"f64\",\"enum\":[\"A\"]}]}",
        "{\"rows\":1,\"columns\":[{\"name\":\"v\",\"type\":\"u8\",\"enum\":[]}]}",
        "{\"rows\":1,\"columns\":[{\"name\":\"v\",\"type\":\"u8\",\"enum\":[1]}]}",
        ("{\"rows\":1,\"columns\":[{\"name\":\"v\",\"type\":\"u8\"},{\"name\":\"v\",\"type\":"
         "\"u8\"}"
         "]}"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = decode_text(WSM_CT_COLUMNS, bad[i], p, 8, 0, &err);
        if (rc != WSM_E_BAD_FIELD)
            fprintf(stderr, "meta %zu: rc %d (%s)\n", i, rc, err.msg);
        CHECK_EQ_INT(rc, WSM_E_BAD_FIELD);
        CHECK(err.msg[0] != 0);
    }
    CHECK_EQ_INT(decode_text(WSM_CT_COLUMNS, bad[15], p, 16, 0, &err), WSM_E_BAD_FIELD);
    CHECK(strstr(err.msg, "duplicate") != NULL);
    CHECK_EQ_INT(decode_text("text/plain", META1, p, 8, 0, &err), WSM_E_BAD_FIELD);
    CHECK_EQ_INT(decode_text(WSM_CT_COLUMNS, "null", p, 8, 0, &err), WSM_E_BAD_FIELD);
    /* unknown members are ignored (additive protocol changes) */
    CHECK_EQ_INT(decode_text(WSM_CT_COLUMNS,
                             "{\"rows\":1,\"x\":1,\"columns\":[{\"name\":\"v\",\"type\":\"u8\","
                             "\"source\":\"can\"}]}",
                             p, 8, 0, &err),
                 WSM_OK);
}

/* A JSON payload and the answer expected for it: code, and a needle of the message (or NULL). */
typedef struct json_case {
    const char *payload;
    int code;
    const char *needle;
} json_case;

/* Decodes each case's payload under meta_txt and checks code and message; label names the
 * table in the diagnostics. */
static void check_json_cases(const char *label, const char *meta_txt, const json_case *cases,
                             size_t n)
{
    wsm_err err;
    for (size_t i = 0; i < n; i++) {
        int rc =
            decode_text(WSM_CT_JSON, meta_txt, cases[i].payload, strlen(cases[i].payload), 0, &err);
        if (rc != cases[i].code)
            fprintf(stderr, "%s %zu: rc %d (%s)\n", label, i, rc, err.msg);
        CHECK_EQ_INT(rc, cases[i].code);
        if (cases[i].needle && !strstr(err.msg, cases[i].needle)) {
            fprintf(stderr, "%s %zu: message '%s' lacks '%s'\n", label, i, err.msg,
                    cases[i].needle);
            CHECK(0);
        }
    }
}

TEST(json_errors)
{
    wsm_err err;
    const char *meta = "{\"rows\":2,\"columns\":[{\"name\":\"a\",\"type\":\"i32\"},{\"name\":\"s\","
                       "\"type\":\"u8\",\"enum\":[\"X\",\"Y\"],\"nullable\":true},{\"name\":\"b\","
                       "\"type\":\"bool\"},{\"name\":\"f\",\"type\":\"f32\"}]}";
    const json_case cases[] = {
        {"{\"a\":[1,2],\"s\":[\"X\",null],\"b\":[true,false],\"f\":[1.5,2]}", WSM_OK, NULL},
        {"{\"a\":[1,2],\"s\":[\"X\",null],\"b\":[true,false],\"f\":[1.5,2]}  \n", WSM_OK, NULL},
        {"{\"a\":[1],\"s\":[\"X\",null],\"b\":[true,false],\"f\":[1.5,2]}", WSM_E_BAD_FIELD,
         "payload.a"},
        {"{\"a\":[1,2,3],\"s\":[\"X\",null],\"b\":[true,false],\"f\":[1.5,2]}", WSM_E_BAD_FIELD,
         "payload.a"},
        {"{\"a\":[1,null],\"s\":[\"X\",null],\"b\":[true,false],\"f\":[1.5,2]}", WSM_E_BAD_FIELD,
         "payload.a[1]"},
        {"{\"a\":[1,2.5],\"s\":[\"X\",null],\"b\":[true,false],\"f\":[1.5,2]}", WSM_E_BAD_FIELD,
         "payload.a[1]"},
        {"{\"a\":[1,3000000000],\"s\":[\"X\",null],\"b\":[true,false],\"f\":[1.5,2]}",
         WSM_E_BAD_FIELD, "payload.a[1]"},
        {"{\"a\":[1,\"2\"],\"s\":[\"X\",null],\"b\":[true,false],\"f\":[1.5,2]}", WSM_E_BAD_FIELD,
         "payload.a[1]"},
        {"{\"a\":[1,2],\"s\":[\"Z\",null],\"b\":[true,false],\"f\":[1.5,2]}", WSM_E_BAD_FIELD,
         "payload.s[0]"},
        {"{\"a\":[1,2],\"s\":[0,null],\"b\":[true,false],\"f\":[1.5,2]}", WSM_E_BAD_FIELD,
         "payload.s[0]"},
        {"{\"a\":[1,2],\"s\":[\"X\",null],\"b\":[1,false],\"f\":[1.5,2]}", WSM_E_BAD_FIELD,
         "payload.b[0]"},
        {"{\"a\":[1,2],\"s\":[\"X\",null],\"b\":[true,false],\"f\":[1e300,2]}", WSM_E_BAD_FIELD,
         "payload.f[0]"},
        {"{\"a\":[1,2],\"s\":[\"X\",null],\"b\":[true,false]}", WSM_E_BAD_FIELD, "payload"},
        {"{\"a\":[1,2],\"s\":[\"X\",null],\"b\":[true,false],\"f\":[1.5,2],\"g\":[1,2]}",
         WSM_E_BAD_FIELD, "payload.g"},
        {"{\"a\":[1,2],\"a\":[1,2],\"s\":[\"X\",null],\"b\":[true,false],\"f\":[1.5,2]}",
         WSM_E_BAD_FIELD, "repeated"},
        {"{\"a\":{},\"s\":[\"X\",null],\"b\":[true,false],\"f\":[1.5,2]}", WSM_E_BAD_FIELD,
         "payload.a"},
        {"[1,2]", WSM_E_BAD_FIELD, "payload"},
        {"{\"a\":[1,2]", WSM_E_BAD_JSON, "payload"},
        {"{\"a\":[1,2],\"s\":[\"X\",null],\"b\":[true,false],\"f\":[1.5,2]} x", WSM_E_BAD_JSON,
         "trailing"},
        {"", WSM_E_BAD_JSON, "payload"},
    };
    check_json_cases("case", meta, cases, sizeof cases / sizeof cases[0]);
    /* f64 and wider integer columns */
    const char *meta2 =
        "{\"rows\":1,\"columns\":[{\"name\":\"d\",\"type\":\"f64\"},{\"name\":"
        "\"l\",\"type\":\"i64\"},{\"name\":\"h\",\"type\":\"i16\"},{\"name\":"
        "\"u\",\"type\":\"u8\"},{\"name\":\"n\",\"type\":\"f64\",\"nullable\":true}]}";
    const json_case cases2[] = {
        {"{\"d\":[1.5],\"l\":[-9007199254740992],\"h\":[-32768],\"u\":[255],\"n\":[null]}", WSM_OK,
         NULL},
        {"{\"d\":[1e999],\"l\":[1],\"h\":[1],\"u\":[1],\"n\":[1]}", WSM_E_BAD_FIELD,
         "payload.d[0]: not a finite number"},
        {"{\"d\":[-1e400],\"l\":[1],\"h\":[1],\"u\":[1],\"n\":[1]}", WSM_E_BAD_FIELD,
         "payload.d[0]: not a finite number"},
        {"{\"d\":[null],\"l\":[1],\"h\":[1],\"u\":[1],\"n\":[1]}", WSM_E_BAD_FIELD,
         "payload.d[0]: null in a non-nullable column"},
        {"{\"d\":[true],\"l\":[1],\"h\":[1],\"u\":[1],\"n\":[1]}", WSM_E_BAD_FIELD,
         "payload.d[0]: expected a number"},
        {"{\"d\":[[1]],\"l\":[1],\"h\":[1],\"u\":[1],\"n\":[1]}", WSM_E_BAD_FIELD,
         "payload.d[0]: expected a number"},
        {"{\"d\":[1],\"l\":[9007199254740994],\"h\":[1],\"u\":[1],\"n\":[1]}", WSM_E_BAD_FIELD,
         "payload.l[0]: expected an integer in i64 range"},
        {"{\"d\":[1],\"l\":[1],\"h\":[32768],\"u\":[1],\"n\":[1]}", WSM_E_BAD_FIELD,
         "payload.h[0]: expected an integer in i16 range"},
        {"{\"d\":[1],\"l\":[1],\"h\":[1],\"u\":[-1],\"n\":[1]}", WSM_E_BAD_FIELD,
         "payload.u[0]: expected an integer in u8 range"},
        {"{\"d\":[1],\"l\":[1],\"h\":[1],\"u\":[256],\"n\":[1]}", WSM_E_BAD_FIELD,
         "payload.u[0]: expected an integer in u8 range"},
        {"{\"d\":[1],\"l\":[1],\"h\":[1],\"u\":[1],\"n\":[1e999]}", WSM_E_BAD_FIELD,
         "payload.n[0]: not a finite number"},
        /* the first failing column in descriptor order is named, not the first in the text */
        {"{\"n\":[\"x\"],\"u\":[1],\"h\":[1],\"l\":[1],\"d\":[true]}", WSM_E_BAD_FIELD,
         "payload.d[0]"},
        /* syntax errors anywhere come before any column error */
        {"{\"d\":[true],\"l\":[1],\"h\":[1],\"u\":[1],\"n\":[1,]}", WSM_E_BAD_JSON, "payload"},
        /* not JSON, but cJSON (the reference) reads "1." and "01": the scanner defers to it */
        {"{\"d\":[1.],\"l\":[01],\"h\":[1],\"u\":[1],\"n\":[1]}", WSM_OK, NULL},
        /* escapes and whitespace outside the scanner's subset decode the same */
        {"{\x0b\"\\u0064\":[1],\"l\":[1],\"h\":[1],\"u\":[1],\"n\":[1]}", WSM_OK, NULL},
        {"{\"d\":[1],\"l\":[1],\"h\":[1],\"u\":[1],\"n\":[1]}\x0b", WSM_E_BAD_JSON, "trailing"},
        {"{\"d\":[1],\"l\":[1],\"h\":[1],\"u\":[1],\"n\":[-]}", WSM_E_BAD_JSON, "payload"},
        {"{\"d\":[1],\"l\":[1],\"h\":[1],\"u\":[1],\"n\":[nul]}", WSM_E_BAD_JSON, "payload"},
        {"{\"d\":[1],\"l\":[1],\"h\":[1],\"u\":[1],\"n\":[1]", WSM_E_BAD_JSON, "payload"},
        {"{\"d\":[1],\"l\":[1],\"h\":[1],\"u\":[1],\"n\":[1]}}", WSM_E_BAD_JSON, "trailing"},
        {"{\"d\":[1],\"x\":[1],\"h\":[1],\"u\":[1],\"n\":[1]}", WSM_E_BAD_FIELD,
         "payload.x: not a described column"},
        {"{}", WSM_E_BAD_FIELD, "payload: 0 members for 5 described columns"},
        {"{\"d\":[1],\"l\":[1],\"h\":[1],\"u\":[1],\"d\":[1]}", WSM_E_BAD_FIELD,
         "payload.n: expected an array"}, /* d repeated, n missing */
        {"{\"d\":[],\"l\":[1],\"h\":[1],\"u\":[1],\"n\":[1]}", WSM_E_BAD_FIELD,
         "payload.d: expected 1 elements, got 0"},
        {"{\"d\":[1,2,3],\"l\":[1],\"h\":[1],\"u\":[1],\"n\":[1]}", WSM_E_BAD_FIELD,
         "payload.d: expected 1 elements, got more than 1"},
        {"{\"d\":1,\"l\":[1],\"h\":[1],\"u\":[1],\"n\":[1]}", WSM_E_BAD_FIELD,
         "payload.d: expected an array"},
        {"\"x\"", WSM_E_BAD_FIELD, "payload: expected an object of column arrays"},
    };
    check_json_cases("case2", meta2, cases2, sizeof cases2 / sizeof cases2[0]);
    /* the JSON payload need not be NUL-terminated: decode a prefix of a longer buffer */
    const char *ok = "{\"a\":[1,2],\"s\":[\"X\",null],\"b\":[true,false],\"f\":[1.5,2]}GARBAGE";
    CHECK_EQ_INT(decode_text(WSM_CT_JSON, meta, ok, strlen(ok) - 7, 0, &err), WSM_OK);
}

TEST(encode_errors)
{
    wsm_err err;
    cJSON *meta = (cJSON *)1;
    wsm_buf b = WSM_BUF_INIT;
    uint8_t v[2] = {0, 3};
    double d[2] = {0, 0};
    wsm_col dup[2] = {{.name = "x", .type = WSM_COL_F64, .values = d},
                      {.name = "x", .type = WSM_COL_F64, .values = d}};
    CHECK_EQ_INT(wsm_columns_encode(WSM_CT_COLUMNS, dup, 2, 2, &meta, &b, &err), WSM_E_BAD_FIELD);
    CHECK(meta == NULL && b.len == 0);
    wsm_col e = {.name = "s", .type = WSM_COL_U8, .enum_names = stages, .n_enum = 2, .values = v};
    CHECK_EQ_INT(wsm_columns_encode(WSM_CT_COLUMNS, &e, 1, 2, &meta, &b, &err), WSM_E_BAD_FIELD);
    wsm_col bo = {.name = "b", .type = WSM_COL_BOOL, .values = v};
    CHECK_EQ_INT(wsm_columns_encode(WSM_CT_JSON, &bo, 1, 2, &meta, &b, &err), WSM_E_BAD_FIELD);
    wsm_col ef = {.name = "f", .type = WSM_COL_F64, .enum_names = stages, .n_enum = 2, .values = d};
    CHECK_EQ_INT(wsm_columns_encode(WSM_CT_JSON, &ef, 1, 2, &meta, &b, &err), WSM_E_BAD_FIELD);
    wsm_col vn = {.name = "f", .type = WSM_COL_F64, .values = d, .validity = v};
    CHECK_EQ_INT(wsm_columns_encode(WSM_CT_JSON, &vn, 1, 2, &meta, &b, &err), WSM_E_BAD_FIELD);
    wsm_col nn = {.name = NULL, .type = WSM_COL_F64, .values = d};
    CHECK_EQ_INT(wsm_columns_encode(WSM_CT_JSON, &nn, 1, 2, &meta, &b, &err), WSM_E_BAD_FIELD);
    int64_t big[2] = {INT64_C(1) << 53, (INT64_C(1) << 53) + 1};
    wsm_col bg = {.name = "i", .type = WSM_COL_I64, .values = big};
    CHECK_EQ_INT(wsm_columns_encode(WSM_CT_JSON, &bg, 1, 1, &meta, &b, &err), WSM_OK);
    cJSON_Delete(meta);
    b.len = 0;
    CHECK_EQ_INT(wsm_columns_encode(WSM_CT_JSON, &bg, 1, 2, &meta, &b, &err), WSM_E_BAD_FIELD);
    CHECK_EQ_INT(wsm_columns_encode(WSM_CT_COLUMNS, &bg, 1, 2, &meta, &b, &err), WSM_OK);
    cJSON_Delete(meta);
    b.len = 0;
    wsm_col ok = {.name = "f", .type = WSM_COL_F64, .values = d};
    CHECK_EQ_INT(wsm_columns_encode("text/csv", &ok, 1, 2, &meta, &b, &err), WSM_E_BAD_FIELD);
    CHECK_EQ_INT(b.len, 0);
    wsm_buf_free(&b);
}

int main(void)
{
    RUN(types);
    RUN(binary_layout);
    RUN(json_layout);
    RUN(decode_both);
    RUN(random_round_trips);
    RUN(json_special_values);
    RUN(json_scanner_matches_reference);
    RUN(enum_on_wider_integers);
    RUN(binary_errors);
    RUN(meta_errors);
    RUN(json_errors);
    RUN(encode_errors);
    return TEST_DONE();
}
