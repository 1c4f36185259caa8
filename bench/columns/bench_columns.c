/*
 * bench_columns.c - the columns codec alone (src/common/wsm_columns.h): encode and decode of
 * the pipeline's two batch shapes, 4096 rows each, as binary columns and as JSON, with the old
 * JSON implementation measured in the same run as the baseline:
 *   reader  the mf4-reader's frames: t + 5 nullable f64 channels (ego_v, range, rel_v, ego_a,
 *           lead_a; range/rel_v null while no object is tracked)
 *   aeb     the aeb service's frames (aebsvc.c): 11 f64 (10 nullable), 3 u8 enums, 4 bool
 * Values: t = i * 0.01 (decimal-looking, the shortest text is short) and physics-like doubles
 * computed with full precision (16-17 significant digits), the mix the pipeline carries.
 *
 * Rows of the table (CPU time per row, the best of --reps repetitions of --iters batches):
 *   binary encode/decode     wsm_columns_encode/decode with application/vnd.wsmesh.columns
 *   json encode/decode       the same with application/json (shortest printer, scanner)
 *   json-old encode          the old encoder's number formatting: per value snprintf %.15g,
 *                            strtod back, %.17g if it did not round-trip, appended to a wsm_buf
 *                            (integers and enums as before); same JSON shape
 *   json-old decode          the old encoder's text through the reference decoder (a cJSON
 *                            tree of the payload + strtod), i.e. the decoder as it was before
 *                            the scanner
 * Output: the table, then one JSON line with ns/row and the ratios json-old/json and
 * json/binary. Usage: bench-columns [--iters N] [--reps N] [--rows N]. --smoke: tiny run.
 */
#include "wsm_columns.h"
#include "wsm_columns_int.h"
#include "wsm_frame.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *const stage_names[] = {"NONE", "FCW", "PB1", "PB2", "FB"};
static const char *const status_names[] = {"OFF", "STANDBY", "ACTIVE", "FAULT"};

typedef struct shape {
    const char *name;
    size_t ncols, rows;
    wsm_col cols[20];
    void *mem[20];
    uint8_t *bm[20];
} shape;

static double *f64col(shape *s, size_t i, const char *name, bool nullable)
{
    double *v = calloc(s->rows, sizeof *v);
    s->mem[i] = v;
    s->cols[i] = (wsm_col){.name = name, .type = WSM_COL_F64, .nullable = nullable, .values = v};
    if (nullable) {
        s->bm[i] = calloc((s->rows + 7) / 8, 1);
        s->cols[i].validity = s->bm[i];
    }
    return v;
}

static uint8_t *u8col(shape *s, size_t i, const char *name, wsm_col_type t, const char *const *en,
                      size_t n_enum)
{
    uint8_t *v = calloc(s->rows, 1);
    s->mem[i] = v;
    s->cols[i] =
        (wsm_col){.name = name, .type = t, .enum_names = en, .n_enum = n_enum, .values = v};
    return v;
}

static void set_valid(shape *s, size_t i, size_t r, bool ok)
{
    if (ok)
        s->bm[i][r >> 3] |= (uint8_t)(1u << (r & 7));
}

static void make_reader(shape *s, size_t rows)
{
    memset(s, 0, sizeof *s);
    s->name = "reader";
    s->rows = rows;
    s->ncols = 6;
    double *t = f64col(s, 0, "t", false);
    double *v = f64col(s, 1, "ego_v", true), *rg = f64col(s, 2, "range", true);
    double *rv = f64col(s, 3, "rel_v", true), *ea = f64col(s, 4, "ego_a", true);
    double *la = f64col(s, 5, "lead_a", true);
    for (size_t r = 0; r < rows; r++) {
        double x = (double)r * 0.01;
        bool obj = (r / 500) % 3 != 0;
        t[r] = x;
        v[r] = 13.888888888888889 + 2.5 * sin(x * 0.3);
        rg[r] = obj ? 80.0 - 0.7 * x + 0.01 * cos(x) : 0;
        rv[r] = obj ? -0.7 - 0.01 * sin(x) : 0;
        ea[r] = 0.25 * cos(x * 0.7);
        la[r] = obj ? -0.5 * sin(x * 0.2) : 0;
        for (size_t c = 1; c < 6; c++)
            set_valid(s, c, r, c == 2 || c == 3 || c == 5 ? obj : true);
    }
}

static void make_aeb(shape *s, size_t rows)
{
    static const char *const f64names[11] = {"t",     "ego_v", "range", "rel_v", "ttc", "decel",
                                             "t_fcw", "t_pb1", "t_pb2", "t_fb",  "ettc"};
    memset(s, 0, sizeof *s);
    s->name = "aeb";
    s->rows = rows;
    s->ncols = 18;
    double *d[11];
    for (size_t i = 0; i < 11; i++)
        d[i] = f64col(s, i, f64names[i], i != 5);
    uint8_t *state = u8col(s, 11, "state", WSM_COL_U8, stage_names, 5);
    uint8_t *fcw = u8col(s, 12, "fcw", WSM_COL_BOOL, NULL, 0);
    uint8_t *brake = u8col(s, 13, "brake_stage", WSM_COL_U8, stage_names, 5);
    uint8_t *status = u8col(s, 14, "aeb_status", WSM_COL_U8, status_names, 4);
    uint8_t *coll = u8col(s, 15, "collision", WSM_COL_BOOL, NULL, 0);
    uint8_t *ierr = u8col(s, 16, "input_error", WSM_COL_BOOL, NULL, 0);
    uint8_t *tni = u8col(s, 17, "t_not_increasing", WSM_COL_BOOL, NULL, 0);
    for (size_t r = 0; r < rows; r++) {
        double x = (double)r * 0.01;
        bool obj = (r / 500) % 3 != 0, warn = obj && (r % 500) > 400;
        d[0][r] = x;
        d[1][r] = 13.888888888888889 + 2.5 * sin(x * 0.3);
        d[2][r] = 80.0 - 0.7 * x + 0.01 * cos(x);
        d[3][r] = -0.7 - 0.01 * sin(x);
        d[4][r] = d[2][r] / 0.7;
        d[5][r] = warn ? 4.0 : 0.0;
        for (size_t i = 6; i < 10; i++)
            d[i][r] = warn ? x - 1.5 : 0;
        d[10][r] = d[4][r] * 1.0000001;
        set_valid(s, 0, r, true);
        set_valid(s, 1, r, true);
        set_valid(s, 2, r, obj);
        set_valid(s, 3, r, obj);
        set_valid(s, 4, r, obj);
        for (size_t i = 6; i < 10; i++)
            set_valid(s, i, r, warn);
        set_valid(s, 10, r, obj);
        state[r] = warn ? 1 : 0;
        fcw[r] = warn;
        brake[r] = warn ? 2 : 0;
        status[r] = 2;
        coll[r] = 0;
        ierr[r] = 0;
        tni[r] = 0;
    }
}

static void free_shape(shape *s)
{
    for (size_t i = 0; i < s->ncols; i++) {
        free(s->mem[i]);
        free(s->bm[i]);
    }
}

/* ------------------------------------------------------------------ the old JSON encoder */

static int old_fmt_f64(char *buf, size_t n, double v)
{
    if (v == 0)
        return snprintf(buf, n, signbit(v) ? "-0" : "0");
    if (fabs(v) < 9007199254740992.0 && v == (double)(long long)v)
        return snprintf(buf, n, "%lld", (long long)v);
    int len = snprintf(buf, n, "%.15g", v);
    if (strtod(buf, NULL) == v)
        return len;
    return snprintf(buf, n, "%.17g", v);
}

/* The old encode_json: one wsm_buf_append per token, snprintf per double. Names and enum
 * strings need no escaping here. */
static int old_encode_json(const wsm_col *cols, size_t ncols, size_t rows, wsm_buf *b)
{
    int rc = wsm_buf_append(b, "{", 1);
    for (size_t i = 0; i < ncols && rc == WSM_OK; i++) {
        const wsm_col *c = &cols[i];
        if (i)
            rc = wsm_buf_append(b, ",", 1);
        rc |= wsm_buf_printf(b, "\"%s\":[", c->name);
        for (size_t r = 0; r < rows && rc == WSM_OK; r++) {
            char num[48];
            int len = 0;
            if (r)
                rc = wsm_buf_append(b, ",", 1);
            if (!wsm_col_valid(c, r)) {
                rc |= wsm_buf_append(b, "null", 4);
                continue;
            }
            if (c->enum_names) {
                char q[140];
                len =
                    snprintf(q, sizeof q, "\"%s\"", c->enum_names[((const uint8_t *)c->values)[r]]);
                rc |= wsm_buf_append(b, q, (size_t)len);
                continue;
            }
            if (c->type == WSM_COL_F64) {
                double v = ((const double *)c->values)[r];
                len = isfinite(v) ? old_fmt_f64(num, sizeof num, v)
                                  : snprintf(num, sizeof num, "null");
            } else if (c->type == WSM_COL_BOOL) {
                len = snprintf(num, sizeof num, "%s",
                               ((const uint8_t *)c->values)[r] ? "true" : "false");
            } else {
                len = snprintf(num, sizeof num, "%u", ((const uint8_t *)c->values)[r]);
            }
            rc |= wsm_buf_append(b, num, (size_t)len);
        }
        rc |= wsm_buf_append(b, "]", 1);
    }
    rc |= wsm_buf_append(b, "}", 1);
    return rc;
}

/* ------------------------------------------------------------------ measuring */

enum { BIN_ENC, BIN_DEC, JSON_ENC, JSON_DEC, OLD_ENC, OLD_DEC, N_OPS };
static const char *const op_names[N_OPS] = {"binary encode", "binary decode",   "json encode",
                                            "json decode",   "json-old encode", "json-old decode"};

static size_t payload_bytes[N_OPS];

/* One operation on the shape, iters times; returns CPU seconds. */
static double run_op(int op, const shape *s, int iters, const cJSON *meta_bin,
                     const cJSON *meta_json, const wsm_buf *bin, const wsm_buf *json,
                     const wsm_buf *old)
{
    wsm_buf out = WSM_BUF_INIT;
    wsm_err err;
    double t0 = cpu_now();
    for (int it = 0; it < iters; it++) {
        cJSON *meta = NULL;
        wsm_columns *d = NULL;
        int rc = WSM_OK;
        out.len = 0;
        switch (op) {
        case BIN_ENC:
        case JSON_ENC:
            rc = wsm_columns_encode(op == BIN_ENC ? WSM_CT_COLUMNS : WSM_CT_JSON, s->cols, s->ncols,
                                    s->rows, &meta, &out, &err);
            payload_bytes[op] = out.len;
            break;
        case OLD_ENC:
            rc = old_encode_json(s->cols, s->ncols, s->rows, &out);
            payload_bytes[op] = out.len;
            break;
        case BIN_DEC:
            rc = wsm_columns_decode(WSM_CT_COLUMNS, meta_bin, bin->data, bin->len, 0, &d, &err);
            break;
        case JSON_DEC:
            rc = wsm_columns_decode(WSM_CT_JSON, meta_json, json->data, json->len, 0, &d, &err);
            break;
        default:
            rc = wsm_columns_decode_json_reference(meta_json, old->data, old->len, 0, &d, &err);
            break;
        }
        if (rc != WSM_OK) {
            fprintf(stderr, "bench-columns: %s failed: %d\n", op_names[op], rc);
            exit(1);
        }
        cJSON_Delete(meta);
        wsm_columns_free(d);
    }
    double t = cpu_now() - t0;
    wsm_buf_free(&out);
    return t;
}

int main(int argc, char **argv)
{
    int iters = 20, reps = 5;
    size_t rows = 4096;
    bool smoke = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
            iters = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc)
            rows = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--smoke") == 0)
            smoke = true;
        else {
            fprintf(stderr, "usage: bench-columns [--iters N] [--reps N] [--rows N] [--smoke]\n");
            return 2;
        }
    }
    if (smoke)
        iters = 1, reps = 1, rows = 100;
    if (iters < 1 || reps < 1 || rows < 1) {
        fprintf(stderr, "bench-columns: --iters, --reps and --rows must be positive\n");
        return 2;
    }
    static shape shapes[2];
    make_reader(&shapes[0], rows);
    make_aeb(&shapes[1], rows);
    printf("columns codec, %zu rows per batch, CPU ns per row (best of %d x %d batches)\n", rows,
           reps, iters);
    printf("%-8s %-16s %10s %12s\n", "shape", "operation", "ns/row", "bytes/batch");
    char json_line[4096];
    size_t jl = 0;
    int status = 0;
    for (int k = 0; k < 2; k++) {
        shape *s = &shapes[k];
        cJSON *mb = NULL, *mj = NULL;
        wsm_buf bin = WSM_BUF_INIT, json = WSM_BUF_INIT, old = WSM_BUF_INIT;
        wsm_err err;
        if (wsm_columns_encode(WSM_CT_COLUMNS, s->cols, s->ncols, rows, &mb, &bin, &err) ||
            wsm_columns_encode(WSM_CT_JSON, s->cols, s->ncols, rows, &mj, &json, &err) ||
            old_encode_json(s->cols, s->ncols, rows, &old)) {
            fprintf(stderr, "bench-columns: encode failed: %s\n", err.msg);
            return 1;
        }
        /* the old encoder's text decodes to the same batch as the new one's */
        wsm_columns *a = NULL, *b = NULL;
        if (wsm_columns_decode(WSM_CT_JSON, mj, json.data, json.len, 0, &a, &err) ||
            wsm_columns_decode(WSM_CT_JSON, mj, old.data, old.len, 0, &b, &err)) {
            fprintf(stderr, "bench-columns: decode failed: %s\n", err.msg);
            return 1;
        }
        for (size_t i = 0; i < s->ncols; i++)
            if (memcmp(a->cols[i].values, b->cols[i].values,
                       rows * wsm_col_type_size(a->cols[i].type)) != 0) {
                fprintf(stderr, "bench-columns: %s: column %s differs old/new\n", s->name,
                        a->cols[i].name);
                status = 1;
            }
        wsm_columns_free(a);
        wsm_columns_free(b);
        double best[N_OPS];
        for (int op = 0; op < N_OPS; op++) {
            best[op] = 1e30;
            for (int r = 0; r < reps; r++) {
                double t = run_op(op, s, iters, mb, mj, &bin, &json, &old);
                if (t < best[op])
                    best[op] = t;
            }
            best[op] = best[op] / iters / (double)rows * 1e9;
            size_t bytes = op == BIN_DEC    ? bin.len
                           : op == JSON_DEC ? json.len
                           : op == OLD_DEC  ? old.len
                                            : payload_bytes[op];
            printf("%-8s %-16s %10.1f %12zu\n", s->name, op_names[op], best[op], bytes);
        }
        jl += (size_t)snprintf(
            json_line + jl, sizeof json_line - jl,
            "%s\"%s\": {\"ns_per_row\": {\"binary_encode\": %.1f, \"binary_decode\": %.1f, "
            "\"json_encode\": %.1f, \"json_decode\": %.1f, \"json_old_encode\": %.1f, "
            "\"json_old_decode\": %.1f}, \"bytes\": {\"binary\": %zu, \"json\": %zu, "
            "\"json_old\": %zu}, \"ratio\": {\"old_over_new_encode\": %.2f, "
            "\"old_over_new_decode\": %.2f, \"json_over_binary_encode\": %.2f, "
            "\"json_over_binary_decode\": %.2f}}",
            k ? ", " : "", s->name, best[BIN_ENC], best[BIN_DEC], best[JSON_ENC], best[JSON_DEC],
            best[OLD_ENC], best[OLD_DEC], bin.len, json.len, old.len,
            best[OLD_ENC] / best[JSON_ENC], best[OLD_DEC] / best[JSON_DEC],
            best[JSON_ENC] / best[BIN_ENC], best[JSON_DEC] / best[BIN_DEC]);
        cJSON_Delete(mb);
        cJSON_Delete(mj);
        wsm_buf_free(&bin);
        wsm_buf_free(&json);
        wsm_buf_free(&old);
    }
    printf(
        "{\"bench\": \"columns\", \"rows\": %zu, \"iters\": %d, \"reps\": %d, \"shapes\": {%s}}\n",
        rows, iters, reps, json_line);
    for (int k = 0; k < 2; k++)
        free_shape(&shapes[k]);
    return status;
}
