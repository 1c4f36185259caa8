/*
 * wsm_columns.c - encoder and decoder of frame batches as typed columns (wsm_columns.h): the
 * binary `application/vnd.wsmesh.columns` layout and its JSON twin.
 *
 * Invariants:
 *  - The decoder reads the payload only through bounds-checked offsets and memcpy (the
 *    payload may be unaligned and is untrusted); every size is computed with overflow checks
 *    (rows <= max_rows <= SIZE_MAX / 64, ncols <= WSM_COLUMNS_MAX_COLS).
 *  - A decoded column owns one allocation holding, in this order, its values (aligned by
 *    malloc), its bitmap, its enum-name pointer array and its strings.
 *  - Binary encode and decode of a column are one memcpy on little-endian hosts plus the
 *    validation loops (padding, bitmap tail, bool/enum ranges): this is the pipeline's hot
 *    path.
 *  - JSON is the readable path, exact both ways: doubles print as the shortest text that reads
 *    back bit for bit (wsm_dtoa), written in place into room reserved once per column; numbers
 *    parse with wsm_atod_json (equal to strtod). Decoding runs a scanner straight into the
 *    columns for the common shape; anything it does not take (every error, and valid JSON
 *    outside its subset) goes to the reference decoder (a cJSON tree), whose answer is the
 *    decoder's definition - the unit tests and the fuzz target compare the two.
 */
#include "wsm_columns.h"
#include "wsm_atod.h"
#include "wsm_columns_int.h"
#include "wsm_dtoa.h"
#include "wsm_frame.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[WSM_COL_TYPE_COUNT] = {"f64", "f32", "i64", "i32",
                                                           "i16", "u8",  "bool"};
static const size_t type_sizes[WSM_COL_TYPE_COUNT] = {8, 4, 8, 4, 2, 1, 1};

const char *wsm_col_type_name(wsm_col_type t)
{
    return ((unsigned)t < WSM_COL_TYPE_COUNT) ? type_names[t] : NULL;
}

int wsm_col_type_from_name(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < WSM_COL_TYPE_COUNT; i++)
        if (strcmp(type_names[i], name) == 0)
            return i;
    return -1;
}

size_t wsm_col_type_size(wsm_col_type t)
{
    return ((unsigned)t < WSM_COL_TYPE_COUNT) ? type_sizes[t] : 0;
}

static size_t pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static size_t bitmap_bytes(size_t rows)
{
    return (rows + 7) / 8;
}

static size_t col_payload_bytes(const wsm_col *c, size_t rows)
{
    return (c->nullable ? pad8(bitmap_bytes(rows)) : 0) + pad8(rows * type_sizes[c->type]);
}

size_t wsm_columns_binary_size(const wsm_col *cols, size_t ncols, size_t rows)
{
    size_t n = 0;
    for (size_t i = 0; i < ncols; i++)
        if ((unsigned)cols[i].type < WSM_COL_TYPE_COUNT)
            n += col_payload_bytes(&cols[i], rows);
    return n;
}

/* ------------------------------------------------------------------ byte order */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_LE 0
#else
#define HOST_LE 1
#endif

/* Copies n values of size sz between little-endian wire order and host order. */
static void copy_le(void *dst, const void *src, size_t sz, size_t n)
{
    if (HOST_LE || sz == 1) {
        if (n)
            memcpy(dst, src, sz * n);
        return;
    }
    const unsigned char *s = src;
    unsigned char *d = dst;
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < sz; b++)
            d[i * sz + b] = s[i * sz + sz - 1 - b];
}

/* ------------------------------------------------------------------ reading values */

double wsm_col_get(const wsm_col *c, size_t row)
{
    switch (c->type) {
    case WSM_COL_F64:
        return ((const double *)c->values)[row];
    case WSM_COL_F32:
        return ((const float *)c->values)[row];
    case WSM_COL_I64:
        return (double)((const int64_t *)c->values)[row];
    case WSM_COL_I32:
        return ((const int32_t *)c->values)[row];
    case WSM_COL_I16:
        return ((const int16_t *)c->values)[row];
    case WSM_COL_U8:
    case WSM_COL_BOOL:
        return ((const uint8_t *)c->values)[row];
    default:
        return NAN;
    }
}

#define CONVERT(ctype)                                                                             \
    do {                                                                                           \
        const ctype *v_ = c->values;                                                               \
        for (size_t i = 0; i < rows; i++)                                                          \
            out[i] = (double)v_[i];                                                                \
    } while (0)

void wsm_col_to_f64(const wsm_col *c, size_t rows, double *out)
{
    switch (c->type) {
    case WSM_COL_F64:
        if (rows)
            memcpy(out, c->values, rows * sizeof(double));
        break;
    case WSM_COL_F32:
        CONVERT(float);
        break;
    case WSM_COL_I64:
        CONVERT(int64_t);
        break;
    case WSM_COL_I32:
        CONVERT(int32_t);
        break;
    case WSM_COL_I16:
        CONVERT(int16_t);
        break;
    case WSM_COL_U8:
    case WSM_COL_BOOL:
        CONVERT(uint8_t);
        break;
    default:
        for (size_t i = 0; i < rows; i++)
            out[i] = NAN;
        return;
    }
    if (c->validity)
        for (size_t i = 0; i < rows; i++)
            if (!wsm_col_valid(c, i))
                out[i] = NAN;
}

const wsm_col *wsm_columns_find(const wsm_columns *b, const char *name)
{
    if (!b || !name)
        return NULL;
    for (size_t i = 0; i < b->ncols; i++)
        if (strcmp(b->cols[i].name, name) == 0)
            return &b->cols[i];
    return NULL;
}

/* Integer types may carry enum names (schemas/protocol/columns.json). */
static bool is_int_type(wsm_col_type t)
{
    return t == WSM_COL_U8 || t == WSM_COL_I16 || t == WSM_COL_I32 || t == WSM_COL_I64;
}

/* The first valid row whose value is outside [0, lim) (bool: lim 2; enum: n_enum), or rows. */
static size_t first_out_of_range(const wsm_col *c, size_t rows, double lim)
{
    if (c->type == WSM_COL_U8 || c->type == WSM_COL_BOOL) {
        const uint8_t *v = c->values; /* the hot path: one byte compare per row */
        for (size_t r = 0; r < rows; r++)
            if (v[r] >= lim && wsm_col_valid(c, r))
                return r;
        return rows;
    }
    for (size_t r = 0; r < rows; r++) {
        double x = wsm_col_get(c, r);
        if (!(x >= 0 && x < lim) && wsm_col_valid(c, r))
            return r;
    }
    return rows;
}

/* ------------------------------------------------------------------ encoder */

static int check_specs(const wsm_col *cols, size_t ncols, size_t rows, bool json, wsm_err *err)
{
    if (ncols > WSM_COLUMNS_MAX_COLS)
        return wsm_err_set(err, WSM_E_TOO_LARGE, "columns: %zu columns, at most %d", ncols,
                           WSM_COLUMNS_MAX_COLS);
    if (rows > SIZE_MAX / 64)
        return wsm_err_set(err, WSM_E_TOO_LARGE, "columns: %zu rows is too many", rows);
    for (size_t i = 0; i < ncols; i++) {
        const wsm_col *c = &cols[i];
        if (!c->name || !c->name[0] || strlen(c->name) > WSM_COLUMNS_MAX_NAME ||
            !wsm_utf8_valid(c->name, strlen(c->name)))
            return wsm_err_set(err, WSM_E_BAD_FIELD,
                               "columns[%zu].name: expected a UTF-8 name of 1..%d bytes", i,
                               WSM_COLUMNS_MAX_NAME);
        for (size_t j = 0; j < i; j++)
            if (strcmp(cols[j].name, c->name) == 0)
                return wsm_err_set(err, WSM_E_BAD_FIELD, "column '%s': duplicate name", c->name);
        if ((unsigned)c->type >= WSM_COL_TYPE_COUNT)
            return wsm_err_set(err, WSM_E_BAD_FIELD, "column '%s': unknown type %d", c->name,
                               (int)c->type);
        if (c->unit && !wsm_utf8_valid(c->unit, strlen(c->unit)))
            return wsm_err_set(err, WSM_E_BAD_FIELD, "column '%s': unit is not UTF-8", c->name);
        if (c->enum_names) {
            if (!is_int_type(c->type) || c->n_enum == 0 || c->n_enum > WSM_COLUMNS_MAX_ENUM)
                return wsm_err_set(err, WSM_E_BAD_FIELD,
                                   "column '%s': enum needs an integer type and 1..%d names",
                                   c->name, WSM_COLUMNS_MAX_ENUM);
            for (size_t k = 0; k < c->n_enum; k++)
                if (!c->enum_names[k] ||
                    !wsm_utf8_valid(c->enum_names[k], strlen(c->enum_names[k])))
                    return wsm_err_set(err, WSM_E_BAD_FIELD,
                                       "column '%s': enum[%zu] is not a UTF-8 string", c->name, k);
        }
        if (c->validity && !c->nullable)
            return wsm_err_set(err, WSM_E_BAD_FIELD,
                               "column '%s': validity bitmap on a non-nullable column", c->name);
        if (rows && !c->values)
            return wsm_err_set(err, WSM_E_BAD_FIELD, "column '%s': no values", c->name);
        /* value ranges that the wire format constrains */
        if (c->type == WSM_COL_BOOL || c->enum_names) {
            double lim = c->type == WSM_COL_BOOL ? 2.0 : (double)c->n_enum;
            size_t r = first_out_of_range(c, rows, lim);
            if (r < rows)
                return wsm_err_set(err, WSM_E_BAD_FIELD,
                                   "column '%s': row %zu: value %.0f out of range", c->name, r,
                                   wsm_col_get(c, r));
        }
        /* JSON numbers are doubles: i64 beyond +-2^53 would not come back exactly */
        if (json && c->type == WSM_COL_I64) {
            const int64_t *v = c->values;
            for (size_t r = 0; r < rows; r++)
                if ((v[r] > (INT64_C(1) << 53) || v[r] < -(INT64_C(1) << 53)) &&
                    wsm_col_valid(c, r))
                    return wsm_err_set(err, WSM_E_BAD_FIELD,
                                       "column '%s': row %zu: i64 value beyond +-2^53 cannot "
                                       "travel as a JSON number",
                                       c->name, r);
        }
    }
    return WSM_OK;
}

static cJSON *build_meta(const wsm_col *cols, size_t ncols, size_t rows)
{
    cJSON *meta = cJSON_CreateObject(), *arr = NULL;
    if (!meta || !cJSON_AddNumberToObject(meta, "rows", (double)rows) ||
        !(arr = cJSON_AddArrayToObject(meta, "columns")))
        goto fail;
    for (size_t i = 0; i < ncols; i++) {
        const wsm_col *c = &cols[i];
        cJSON *d = cJSON_CreateObject();
        if (!d)
            goto fail;
        cJSON_AddItemToArray(arr, d);
        if (!cJSON_AddStringToObject(d, "name", c->name) ||
            !cJSON_AddStringToObject(d, "type", type_names[c->type]) ||
            (c->unit && !cJSON_AddStringToObject(d, "unit", c->unit)) ||
            !cJSON_AddBoolToObject(d, "nullable", c->nullable))
            goto fail;
        if (c->enum_names) {
            cJSON *e = cJSON_CreateStringArray(c->enum_names, (int)c->n_enum);
            if (!e)
                goto fail;
            cJSON_AddItemToObject(d, "enum", e);
        }
    }
    return meta;
fail:
    cJSON_Delete(meta);
    return NULL;
}

static void encode_binary(const wsm_col *cols, size_t ncols, size_t rows, unsigned char *p)
{
    size_t nb = bitmap_bytes(rows);
    for (size_t i = 0; i < ncols; i++) {
        const wsm_col *c = &cols[i];
        if (c->nullable) {
            if (c->validity)
                memcpy(p, c->validity, nb);
            else
                memset(p, 0xff, nb);
            if (rows & 7)
                p[nb - 1] &= (unsigned char)((1u << (rows & 7)) - 1u);
            memset(p + nb, 0, pad8(nb) - nb);
            p += pad8(nb);
        }
        size_t vb = rows * type_sizes[c->type];
        copy_le(p, c->values, type_sizes[c->type], rows);
        memset(p + vb, 0, pad8(vb) - vb);
        p += pad8(vb);
    }
}

/* Decimal digits of x (|x| <= 2^63) into buf; returns the length. No NUL. */
static int fmt_int(char *buf, long long x)
{
    char tmp[24];
    int n = 0;
    unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    int len = 0;
    if (x < 0)
        buf[len++] = '-';
    while (n)
        buf[len++] = tmp[--n];
    return len;
}

/* Appends s as a JSON string literal. */
static int append_json_string(wsm_buf *b, const char *s)
{
    cJSON *str = cJSON_CreateString(s);
    if (!str)
        return WSM_E_NOMEM;
    int rc = wsm_json_append(b, str);
    cJSON_Delete(str);
    return rc;
}

/* Most bytes one value of a non-enum column takes in JSON ("null" included). */
static size_t json_value_max(wsm_col_type t)
{
    switch (t) {
    case WSM_COL_F64:
        return 24; /* "-1.2345678901234567e-308"; its NUL goes where the next comma goes */
    case WSM_COL_F32:
        return 17; /* "-1234567800000000" */
    case WSM_COL_I64:
        return 20;
    case WSM_COL_I32:
        return 11;
    case WSM_COL_I16:
        return 6;
    default:
        return 5; /* u8 "255", bool "false", "null" */
    }
}

/* One column's values as "v,v,...": the buffer holds room for rows * (max + 1) bytes, so the
 * values are written in place without a size check or a call per value. */
static char *encode_json_values(const wsm_col *c, size_t rows, const wsm_buf *names,
                                const size_t *name_off, char *p)
{
    if (c->type == WSM_COL_F64) { /* the hot case (never an enum): one loop, no dispatch */
        const double *v = c->values;
        for (size_t r = 0; r < rows; r++) {
            if (r)
                *p++ = ',';
            if (wsm_col_valid(c, r)) {
                p += wsm_dtoa(v[r], p); /* non-finite writes "null", an invalid row */
            } else {
                memcpy(p, "null", 4);
                p += 4;
            }
        }
        return p;
    }
    for (size_t r = 0; r < rows; r++) {
        if (r)
            *p++ = ',';
        if (!wsm_col_valid(c, r)) {
            memcpy(p, "null", 4);
            p += 4;
            continue;
        }
        if (c->enum_names) {
            size_t k = (size_t)wsm_col_get(c, r); /* checked < n_enum */
            size_t l = name_off[k + 1] - name_off[k];
            memcpy(p, names->data + name_off[k], l);
            p += l;
            continue;
        }
        switch (c->type) {
        case WSM_COL_F32:
            p += wsm_ftoa(((const float *)c->values)[r], p); /* non-finite: "null" */
            break;
        case WSM_COL_I64:
            p += fmt_int(p, (long long)((const int64_t *)c->values)[r]);
            break;
        case WSM_COL_I32:
            p += fmt_int(p, ((const int32_t *)c->values)[r]);
            break;
        case WSM_COL_I16:
            p += fmt_int(p, ((const int16_t *)c->values)[r]);
            break;
        case WSM_COL_U8:
            p += fmt_int(p, ((const uint8_t *)c->values)[r]);
            break;
        case WSM_COL_BOOL:
            if (((const uint8_t *)c->values)[r]) {
                memcpy(p, "true", 4);
                p += 4;
            } else {
                memcpy(p, "false", 5);
                p += 5;
            }
            break;
        default: /* f64 went the hot way above */
            break;
        }
    }
    return p;
}

static int encode_json(const wsm_col *cols, size_t ncols, size_t rows, wsm_buf *b)
{
    wsm_buf names = WSM_BUF_INIT;
    size_t name_off[WSM_COLUMNS_MAX_ENUM + 1];
    int rc = wsm_buf_append(b, "{", 1);
    for (size_t i = 0; i < ncols && rc == WSM_OK; i++) {
        const wsm_col *c = &cols[i];
        if (i)
            rc = wsm_buf_append(b, ",", 1);
        if (rc == WSM_OK)
            rc = append_json_string(b, c->name);
        if (rc == WSM_OK)
            rc = wsm_buf_append(b, ":[", 2);
        /* enum names as JSON string literals, once per column */
        wsm_buf_reset(&names);
        size_t vmax = c->enum_names ? 4 : json_value_max(c->type);
        for (size_t k = 0; c->enum_names && k < c->n_enum && rc == WSM_OK; k++) {
            name_off[k] = names.len;
            rc = append_json_string(&names, c->enum_names[k]);
            name_off[k + 1] = names.len;
            if (names.len - name_off[k] > vmax)
                vmax = names.len - name_off[k];
        }
        if (rc != WSM_OK)
            break;
        if (rows > (SIZE_MAX / 4) / (vmax + 1)) {
            rc = WSM_E_NOMEM;
            break;
        }
        if ((rc = wsm_buf_reserve(b, rows * (vmax + 1) + 2)) != WSM_OK)
            break;
        char *start = (char *)b->data + b->len;
        char *p = encode_json_values(c, rows, &names, name_off, start);
        *p++ = ']';
        b->len += (size_t)(p - start);
    }
    if (rc == WSM_OK)
        rc = wsm_buf_append(b, "}", 1);
    wsm_buf_free(&names);
    return rc;
}

int wsm_columns_encode(const char *content_type, const wsm_col *cols, size_t ncols, size_t rows,
                       cJSON **meta, wsm_buf *payload, wsm_err *err)
{
    *meta = NULL;
    bool binary;
    if (content_type && strcmp(content_type, WSM_CT_COLUMNS) == 0)
        binary = true;
    else if (!content_type || strcmp(content_type, WSM_CT_JSON) == 0)
        binary = false;
    else
        return wsm_err_set(err, WSM_E_BAD_FIELD, "content_type: '%s' is not a column encoding",
                           content_type);
    int rc = check_specs(cols, ncols, rows, !binary, err);
    if (rc != WSM_OK)
        return rc;
    cJSON *m = build_meta(cols, ncols, rows);
    if (!m)
        return wsm_err_set(err, WSM_E_NOMEM, "columns: out of memory");
    size_t old_len = payload->len;
    if (binary) {
        size_t n = wsm_columns_binary_size(cols, ncols, rows);
        rc = n ? wsm_buf_reserve(payload, n) : WSM_OK;
        if (rc == WSM_OK && n) {
            encode_binary(cols, ncols, rows, payload->data + payload->len);
            payload->len += n;
        }
    } else {
        rc = encode_json(cols, ncols, rows, payload);
    }
    if (rc != WSM_OK) {
        payload->len = old_len;
        cJSON_Delete(m);
        return wsm_err_set(err, rc, "columns: out of memory");
    }
    *meta = m;
    return WSM_OK;
}

/* ------------------------------------------------------------------ decoder: meta */

/* The mutable view of a decoded column while it is filled. */
typedef struct col_block {
    void *values;
    uint8_t *validity;
} col_block;

struct batch {
    wsm_columns pub;
    col_block *blocks;
};

void wsm_columns_free(wsm_columns *b)
{
    if (!b)
        return;
    struct batch *bb = (struct batch *)b;
    for (size_t i = 0; i < b->ncols; i++)
        free(bb->blocks[i].values);
    free(bb->blocks);
    free(b->cols);
    free(bb);
}

/* Reads the descriptors into a new batch with allocated (uninitialised) columns. */
static int decode_meta(const cJSON *meta, size_t max_rows, struct batch **out, wsm_err *err)
{
    *out = NULL;
    if (!cJSON_IsObject(meta))
        return wsm_err_set(err, WSM_E_BAD_FIELD, "payload_meta: expected an object");
    int64_t rows64;
    if (wsm_json_int(meta, "payload_meta", "rows", true, 0, INT64_MAX, &rows64, err) < 0)
        return err ? err->code : WSM_E_BAD_FIELD;
    if ((uint64_t)rows64 > max_rows)
        return wsm_err_set(err, WSM_E_TOO_LARGE, "payload_meta.rows: %lld above the limit %zu",
                           (long long)rows64, max_rows);
    size_t rows = (size_t)rows64;
    const cJSON *arr;
    if (wsm_json_arr(meta, "payload_meta", "columns", true, &arr, err) < 0)
        return err ? err->code : WSM_E_BAD_FIELD;
    int n = cJSON_GetArraySize(arr);
    if (n < 1 || n > WSM_COLUMNS_MAX_COLS)
        return wsm_err_set(err, WSM_E_BAD_FIELD, "payload_meta.columns: expected 1..%d columns",
                           WSM_COLUMNS_MAX_COLS);
    struct batch *b = calloc(1, sizeof *b);
    if (!b || !(b->pub.cols = calloc((size_t)n, sizeof(wsm_col))) ||
        !(b->blocks = calloc((size_t)n, sizeof(col_block)))) {
        if (b)
            free(b->pub.cols);
        free(b);
        return wsm_err_set(err, WSM_E_NOMEM, "columns: out of memory");
    }
    b->pub.rows = rows;
    int i = 0, rc = WSM_OK;
    const cJSON *d;
    cJSON_ArrayForEach(d, arr)
    {
        char path[64];
        snprintf(path, sizeof path, "payload_meta.columns[%d]", i);
        const char *name = NULL, *type = NULL, *unit = NULL;
        bool nullable = false;
        const cJSON *en = NULL;
        if (!cJSON_IsObject(d)) {
            rc = wsm_err_set(err, WSM_E_BAD_FIELD, "%s: expected an object", path);
            break;
        }
        if (wsm_json_str(d, path, "name", true, &name, err) < 0 ||
            wsm_json_str(d, path, "type", true, &type, err) < 0 ||
            wsm_json_str(d, path, "unit", false, &unit, err) < 0 ||
            wsm_json_bool(d, path, "nullable", false, &nullable, err) < 0 ||
            wsm_json_arr(d, path, "enum", false, &en, err) < 0) {
            rc = err ? err->code : WSM_E_BAD_FIELD;
            break;
        }
        size_t name_len = strlen(name), unit_len = unit ? strlen(unit) : 0;
        if (!wsm_utf8_valid(name, name_len) || (unit && !wsm_utf8_valid(unit, unit_len))) {
            rc = wsm_err_set(err, WSM_E_BAD_FIELD, "%s: name or unit is not valid UTF-8", path);
            break;
        }
        if (name_len == 0 || name_len > WSM_COLUMNS_MAX_NAME) {
            rc = wsm_err_set(err, WSM_E_BAD_FIELD, "%s.name: expected 1..%d bytes", path,
                             WSM_COLUMNS_MAX_NAME);
            break;
        }
        if (unit_len > 64) {
            rc = wsm_err_set(err, WSM_E_BAD_FIELD, "column '%s': unit longer than 64 bytes", name);
            break;
        }
        int t = wsm_col_type_from_name(type);
        if (t < 0) {
            rc = wsm_err_set(err, WSM_E_BAD_FIELD,
                             "column '%s': unknown type '%.32s' (f64 f32 i64 i32 i16 u8 bool)",
                             name, type);
            break;
        }
        for (int j = 0; j < i && rc == WSM_OK; j++)
            if (strcmp(b->pub.cols[j].name, name) == 0)
                rc = wsm_err_set(err, WSM_E_BAD_FIELD, "column '%s': duplicate name", name);
        if (rc != WSM_OK)
            break;
        size_t n_enum = 0, enum_chars = 0;
        if (en) {
            int ne = cJSON_GetArraySize(en);
            if (!is_int_type((wsm_col_type)t) || ne < 1 || ne > WSM_COLUMNS_MAX_ENUM) {
                rc = wsm_err_set(err, WSM_E_BAD_FIELD,
                                 "column '%s': enum needs an integer type and 1..%d names", name,
                                 WSM_COLUMNS_MAX_ENUM);
                break;
            }
            const cJSON *e;
            cJSON_ArrayForEach(e, en)
            {
                if (!cJSON_IsString(e) || strlen(e->valuestring) > WSM_COLUMNS_MAX_NAME ||
                    !wsm_utf8_valid(e->valuestring, strlen(e->valuestring))) {
                    rc = wsm_err_set(err, WSM_E_BAD_FIELD,
                                     "column '%s': enum[%zu]: expected a UTF-8 string of at "
                                     "most %d bytes",
                                     name, n_enum, WSM_COLUMNS_MAX_NAME);
                    break;
                }
                for (const cJSON *f = en->child; f != e; f = f->next)
                    if (strcmp(f->valuestring, e->valuestring) == 0) {
                        rc = wsm_err_set(err, WSM_E_BAD_FIELD,
                                         "column '%s': enum[%zu]: duplicate name", name, n_enum);
                        break;
                    }
                if (rc != WSM_OK)
                    break;
                enum_chars += strlen(e->valuestring) + 1;
                n_enum++;
            }
            if (rc != WSM_OK)
                break;
        }
        /* one block: values | bitmap | enum pointers | name | unit | enum strings */
        size_t vbytes = pad8(rows * type_sizes[t]);
        size_t bbytes = nullable ? pad8(bitmap_bytes(rows)) : 0;
        size_t total = vbytes + bbytes + n_enum * sizeof(char *) + name_len + 1 +
                       (unit ? unit_len + 1 : 0) + enum_chars;
        char *blk = malloc(total ? total : 1);
        if (!blk) {
            rc = wsm_err_set(err, WSM_E_NOMEM, "columns: out of memory");
            break;
        }
        wsm_col *c = &b->pub.cols[i];
        b->blocks[i].values = blk;
        b->blocks[i].validity = nullable ? (uint8_t *)blk + vbytes : NULL;
        b->pub.ncols = (size_t)i + 1; /* from here on wsm_columns_free frees this block */
        char **ep = (char **)(blk + vbytes + bbytes);
        char *sp = (char *)(ep + n_enum);
        memcpy(sp, name, name_len + 1);
        c->name = sp;
        sp += name_len + 1;
        if (unit) {
            memcpy(sp, unit, unit_len + 1);
            c->unit = sp;
            sp += unit_len + 1;
        }
        if (en) {
            size_t k = 0;
            const cJSON *e;
            cJSON_ArrayForEach(e, en)
            {
                size_t l = strlen(e->valuestring) + 1;
                memcpy(sp, e->valuestring, l);
                ep[k++] = sp;
                sp += l;
            }
            c->enum_names = (const char *const *)ep;
            c->n_enum = n_enum;
        }
        c->type = (wsm_col_type)t;
        c->nullable = nullable;
        c->values = blk;
        c->validity = b->blocks[i].validity;
        i++;
    }
    if (rc != WSM_OK) {
        wsm_columns_free(&b->pub);
        return rc;
    }
    *out = b;
    return WSM_OK;
}

/* ------------------------------------------------------------------ decoder: binary */

static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static int decode_binary(struct batch *b, const unsigned char *p, size_t len, wsm_err *err)
{
    size_t rows = b->pub.rows, off = 0, nb = bitmap_bytes(rows);
    for (size_t i = 0; i < b->pub.ncols; i++) {
        const wsm_col *c = &b->pub.cols[i];
        size_t need = col_payload_bytes(c, rows);
        if (need > len - off)
            return wsm_err_set(err, WSM_E_BAD_FIELD,
                               "column '%s': payload ends at byte %zu, the column needs bytes "
                               "%zu..%zu",
                               c->name, len, off, off + need);
        if (c->nullable) {
            uint8_t *bm = b->blocks[i].validity;
            memcpy(bm, p + off, nb);
            if (((rows & 7) && (bm[nb - 1] >> (rows & 7))) ||
                !all_zero(p + off + nb, pad8(nb) - nb))
                return wsm_err_set(err, WSM_E_BAD_FIELD,
                                   "column '%s': validity bitmap has bits set past row %zu",
                                   c->name, rows);
            off += pad8(nb);
        }
        size_t sz = type_sizes[c->type], vb = rows * sz;
        copy_le(b->blocks[i].values, p + off, sz, rows);
        if (!all_zero(p + off + vb, pad8(vb) - vb))
            return wsm_err_set(err, WSM_E_BAD_FIELD, "column '%s': non-zero padding", c->name);
        off += pad8(vb);
        if (c->type == WSM_COL_BOOL || c->enum_names) {
            double lim = c->type == WSM_COL_BOOL ? 2.0 : (double)c->n_enum;
            size_t r = first_out_of_range(c, rows, lim);
            if (r < rows)
                return wsm_err_set(err, WSM_E_BAD_FIELD,
                                   "column '%s': row %zu: value %.0f out of range (< %.0f)",
                                   c->name, r, wsm_col_get(c, r), lim);
        }
    }
    if (off != len)
        return wsm_err_set(err, WSM_E_BAD_FIELD,
                           "column '%s': payload has %zu bytes after the last column",
                           b->pub.cols[b->pub.ncols - 1].name, len - off);
    return WSM_OK;
}

/* ------------------------------------------------------------------ decoder: JSON */

/* Row r of an integer column (i64, i32, i16, u8; an enum's index) := v, already in range. */
static void store_int(wsm_col_type t, col_block *blk, size_t r, int64_t v)
{
    switch (t) {
    case WSM_COL_I64:
        ((int64_t *)blk->values)[r] = v;
        break;
    case WSM_COL_I32:
        ((int32_t *)blk->values)[r] = (int32_t)v;
        break;
    case WSM_COL_I16:
        ((int16_t *)blk->values)[r] = (int16_t)v;
        break;
    default:
        ((uint8_t *)blk->values)[r] = (uint8_t)v;
        break;
    }
}

static int json_element(const wsm_col *c, col_block *blk, size_t r, const cJSON *e, wsm_err *err)
{
    if (cJSON_IsNull(e)) {
        if (!c->nullable)
            return wsm_err_set(err, WSM_E_BAD_FIELD,
                               "payload.%s[%zu]: null in a non-nullable column", c->name, r);
        blk->validity[r >> 3] &= (uint8_t) ~(1u << (r & 7));
        memset((char *)blk->values + r * type_sizes[c->type], 0, type_sizes[c->type]);
        return WSM_OK;
    }
    if (c->type == WSM_COL_BOOL) {
        if (!cJSON_IsBool(e))
            return wsm_err_set(err, WSM_E_BAD_FIELD, "payload.%s[%zu]: expected true/false",
                               c->name, r);
        ((uint8_t *)blk->values)[r] = cJSON_IsTrue(e) ? 1 : 0;
        return WSM_OK;
    }
    if (c->enum_names) {
        if (cJSON_IsString(e))
            for (size_t k = 0; k < c->n_enum; k++)
                if (strcmp(c->enum_names[k], e->valuestring) == 0) {
                    store_int(c->type, blk, r, (int64_t)k);
                    return WSM_OK;
                }
        return wsm_err_set(err, WSM_E_BAD_FIELD, "payload.%s[%zu]: expected one of the enum names",
                           c->name, r);
    }
    if (!cJSON_IsNumber(e))
        return wsm_err_set(err, WSM_E_BAD_FIELD, "payload.%s[%zu]: expected a number", c->name, r);
    double v = e->valuedouble;
    double lo = 0, hi = 0;
    switch (c->type) {
    case WSM_COL_F64:
        if (!isfinite(v))
            return wsm_err_set(err, WSM_E_BAD_FIELD, "payload.%s[%zu]: not a finite number",
                               c->name, r);
        ((double *)blk->values)[r] = v;
        return WSM_OK;
    case WSM_COL_F32:
        if (!(fabs(v) <= FLT_MAX))
            return wsm_err_set(err, WSM_E_BAD_FIELD, "payload.%s[%zu]: outside the f32 range",
                               c->name, r);
        ((float *)blk->values)[r] = (float)v;
        return WSM_OK;
    case WSM_COL_I64: /* doubles are exact up to 2^53 */
        lo = -9007199254740992.0, hi = 9007199254740992.0;
        break;
    case WSM_COL_I32:
        lo = INT32_MIN, hi = INT32_MAX;
        break;
    case WSM_COL_I16:
        lo = INT16_MIN, hi = INT16_MAX;
        break;
    case WSM_COL_U8:
        lo = 0, hi = 255;
        break;
    default:
        break;
    }
    if (!(v >= lo && v <= hi) || v != floor(v))
        return wsm_err_set(err, WSM_E_BAD_FIELD, "payload.%s[%zu]: expected an integer in %s range",
                           c->name, r, type_names[c->type]);
    store_int(c->type, blk, r, (int64_t)v);
    return WSM_OK;
}

/* The reference decoder: cJSON's tree of the whole payload, then the checks in their order of
 * priority (syntax, members, then column by column). It defines every answer of the JSON
 * decoder; the scanner below only takes the common case faster. */
static int decode_json_tree(struct batch *b, const char *p, size_t len, wsm_err *err)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(p, len, &end, 0);
    if (!root)
        return wsm_err_set(err, WSM_E_BAD_JSON, "payload: not valid JSON (near byte %zu)",
                           end && end >= p ? (size_t)(end - p) : (size_t)0);
    int rc = WSM_OK;
    while (end && (size_t)(end - p) < len &&
           (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
        end++;
    if (!end || (size_t)(end - p) != len)
        rc = wsm_err_set(err, WSM_E_BAD_JSON, "payload: trailing bytes after the JSON value");
    else if (!cJSON_IsObject(root))
        rc = wsm_err_set(err, WSM_E_BAD_FIELD, "payload: expected an object of column arrays");
    size_t rows = b->pub.rows, members = 0;
    const cJSON *m;
    if (rc == WSM_OK) {
        cJSON_ArrayForEach(m, root)
        {
            members++;
            if (!m->string || !wsm_columns_find(&b->pub, m->string)) {
                rc = wsm_err_set(err, WSM_E_BAD_FIELD, "payload.%.128s: not a described column",
                                 m->string ? m->string : "?");
                break;
            }
        }
        if (rc == WSM_OK && members != b->pub.ncols)
            rc = wsm_err_set(err, WSM_E_BAD_FIELD,
                             "payload: %zu members for %zu described columns (a column is "
                             "missing or repeated)",
                             members, b->pub.ncols);
    }
    for (size_t i = 0; rc == WSM_OK && i < b->pub.ncols; i++) {
        const wsm_col *c = &b->pub.cols[i];
        col_block *blk = &b->blocks[i];
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, c->name);
        if (!cJSON_IsArray(arr)) {
            rc = wsm_err_set(err, WSM_E_BAD_FIELD, "payload.%s: expected an array", c->name);
            break;
        }
        if (blk->validity) {
            size_t nb = bitmap_bytes(rows);
            memset(blk->validity, 0xff, nb);
            if (rows & 7)
                blk->validity[nb - 1] = (uint8_t)((1u << (rows & 7)) - 1u);
        }
        size_t r = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, arr)
        {
            if (r >= rows) {
                r++;
                break;
            }
            if ((rc = json_element(c, blk, r, e, err)) != WSM_OK)
                break;
            r++;
        }
        if (rc == WSM_OK && r != rows)
            rc = wsm_err_set(err, WSM_E_BAD_FIELD, "payload.%s: expected %zu elements, got %s%zu",
                             c->name, rows, r > rows ? "more than " : "", r > rows ? rows : r);
    }
    cJSON_Delete(root);
    return rc;
}

/* The JSON scanner: decodes the common case {"col": [v, ...], ...} straight into the columns,
 * without a tree. It accepts a strict subset of what decode_json_tree accepts and stores the
 * same values (numbers through wsm_atod_json, which equals the strtod cJSON uses): plain
 * JSON whitespace, keys and enum strings without escapes or control bytes, numbers of the JSON
 * grammar, each described column once. Anything else - every error,
 * but also valid JSON outside that subset - returns false, and the caller runs the reference
 * decoder on the same bytes, which gives the answer (the same error code and message as
 * before the scanner existed). */
typedef struct scan {
    const char *s, *end;
} scan;

static inline void scan_ws(scan *sc)
{
    while (sc->s < sc->end && (*sc->s == ' ' || *sc->s == '\n' || *sc->s == '\r' || *sc->s == '\t'))
        sc->s++;
}

/* A string without escapes or control bytes at sc->s (the opening quote): its bytes. */
static bool scan_plain_string(scan *sc, const char **str, size_t *n)
{
    if (sc->s >= sc->end || *sc->s != '"')
        return false;
    const char *q = ++sc->s;
    while (q < sc->end && *q != '"') {
        if (*q == '\\' || (unsigned char)*q < 0x20)
            return false;
        q++;
    }
    if (q >= sc->end)
        return false;
    *str = sc->s;
    *n = (size_t)(q - sc->s);
    sc->s = q + 1;
    return true;
}

static bool scan_literal(scan *sc, const char *lit, size_t n)
{
    if ((size_t)(sc->end - sc->s) < n || memcmp(sc->s, lit, n) != 0)
        return false;
    sc->s += n;
    return true;
}

/* One element of column c (row r); false if it is not in the scanner's subset or not valid. */
static bool scan_element(scan *sc, const wsm_col *c, col_block *blk, size_t r,
                         const size_t *enum_len)
{
    if (*sc->s == 'n') {
        if (!c->nullable || !scan_literal(sc, "null", 4))
            return false;
        blk->validity[r >> 3] &= (uint8_t) ~(1u << (r & 7));
        memset((char *)blk->values + r * type_sizes[c->type], 0, type_sizes[c->type]);
        return true;
    }
    if (c->type == WSM_COL_BOOL) {
        if (scan_literal(sc, "true", 4))
            ((uint8_t *)blk->values)[r] = 1;
        else if (scan_literal(sc, "false", 5))
            ((uint8_t *)blk->values)[r] = 0;
        else
            return false;
        return true;
    }
    if (c->enum_names) {
        const char *str;
        size_t n;
        if (!scan_plain_string(sc, &str, &n))
            return false;
        for (size_t k = 0; k < c->n_enum; k++)
            if (enum_len[k] == n && memcmp(c->enum_names[k], str, n) == 0) {
                store_int(c->type, blk, r, (int64_t)k);
                return true;
            }
        return false;
    }
    double v;
    const char *q = wsm_atod_json(sc->s, sc->end, &v);
    if (!q)
        return false;
    sc->s = q;
    switch (c->type) {
    case WSM_COL_F64:
        if (!isfinite(v))
            return false;
        ((double *)blk->values)[r] = v;
        return true;
    case WSM_COL_F32:
        if (!(fabs(v) <= FLT_MAX))
            return false;
        ((float *)blk->values)[r] = (float)v;
        return true;
    case WSM_COL_I64:
        if (!(v >= -9007199254740992.0 && v <= 9007199254740992.0))
            return false;
        break;
    case WSM_COL_I32:
        if (!(v >= INT32_MIN && v <= INT32_MAX))
            return false;
        break;
    case WSM_COL_I16:
        if (!(v >= INT16_MIN && v <= INT16_MAX))
            return false;
        break;
    default: /* u8 */
        if (!(v >= 0 && v <= 255))
            return false;
        break;
    }
    if (v != floor(v))
        return false;
    store_int(c->type, blk, r, (int64_t)v);
    return true;
}

/* The array of column c at sc->s (its '['), exactly rows elements. */
static bool scan_column(scan *sc, const wsm_col *c, col_block *blk, size_t rows)
{
    size_t enum_len[WSM_COLUMNS_MAX_ENUM];
    for (size_t k = 0; c->enum_names && k < c->n_enum; k++)
        enum_len[k] = strlen(c->enum_names[k]);
    if (blk->validity) {
        size_t nb = bitmap_bytes(rows);
        memset(blk->validity, 0xff, nb);
        if (rows & 7)
            blk->validity[nb - 1] = (uint8_t)((1u << (rows & 7)) - 1u);
    }
    if (sc->s >= sc->end || *sc->s != '[')
        return false;
    sc->s++;
    scan_ws(sc);
    if (sc->s < sc->end && *sc->s == ']') {
        sc->s++;
        return rows == 0;
    }
    for (size_t r = 0;; r++) {
        if (r >= rows || sc->s >= sc->end || !scan_element(sc, c, blk, r, enum_len))
            return false;
        scan_ws(sc);
        if (sc->s >= sc->end)
            return false;
        char d = *sc->s++;
        if (d == ']')
            return r + 1 == rows;
        if (d != ',')
            return false;
        scan_ws(sc);
    }
}

static bool decode_json_scan(struct batch *b, const char *p, size_t len)
{
    scan sc = {p, p + len};
    size_t ncols = b->pub.ncols, seen_n = 0;
    uint64_t seen[(WSM_COLUMNS_MAX_COLS + 63) / 64] = {0};
    size_t name_len[WSM_COLUMNS_MAX_COLS];
    for (size_t i = 0; i < ncols; i++)
        name_len[i] = strlen(b->pub.cols[i].name);
    scan_ws(&sc);
    if (sc.s >= sc.end || *sc.s++ != '{')
        return false;
    for (;;) {
        scan_ws(&sc);
        const char *key;
        size_t kn;
        if (!scan_plain_string(&sc, &key, &kn))
            return false;
        /* payloads usually list the columns in descriptor order: try that one first */
        size_t i = seen_n < ncols ? seen_n : 0, tries = 0;
        while (tries < ncols && !(name_len[i] == kn && memcmp(b->pub.cols[i].name, key, kn) == 0)) {
            i = i + 1 < ncols ? i + 1 : 0;
            tries++;
        }
        if (tries == ncols || (seen[i / 64] >> (i % 64)) & 1)
            return false;
        seen[i / 64] |= UINT64_C(1) << (i % 64);
        seen_n++;
        scan_ws(&sc);
        if (sc.s >= sc.end || *sc.s++ != ':')
            return false;
        scan_ws(&sc);
        if (!scan_column(&sc, &b->pub.cols[i], &b->blocks[i], b->pub.rows))
            return false;
        scan_ws(&sc);
        if (sc.s >= sc.end)
            return false;
        char d = *sc.s++;
        if (d == '}')
            break;
        if (d != ',')
            return false;
    }
    scan_ws(&sc);
    return sc.s == sc.end && seen_n == ncols;
}

static int decode_common(const char *content_type, const cJSON *meta, const void *payload,
                         size_t len, size_t max_rows, bool scanner, wsm_columns **out, wsm_err *err)
{
    *out = NULL;
    bool binary;
    if (content_type && strcmp(content_type, WSM_CT_COLUMNS) == 0)
        binary = true;
    else if (!content_type || strcmp(content_type, WSM_CT_JSON) == 0)
        binary = false;
    else
        return wsm_err_set(err, WSM_E_BAD_FIELD, "content_type: '%.64s' is not a column encoding",
                           content_type);
    if (max_rows == 0)
        max_rows = WSM_COLUMNS_DEFAULT_MAX_ROWS;
    if (max_rows > SIZE_MAX / 64)
        max_rows = SIZE_MAX / 64;
    if (!payload && len)
        return wsm_err_set(err, WSM_E_BAD_FIELD, "payload: missing");
    static const unsigned char empty[8];
    if (!payload)
        payload = empty; /* no pointer arithmetic on NULL */
    struct batch *b;
    int rc = decode_meta(meta, max_rows, &b, err);
    if (rc != WSM_OK)
        return rc;
    if (binary)
        rc = decode_binary(b, payload, len, err);
    else if (scanner && decode_json_scan(b, payload, len))
        rc = WSM_OK;
    else
        rc = decode_json_tree(b, payload, len, err);
    if (rc != WSM_OK) {
        wsm_columns_free(&b->pub);
        return rc;
    }
    *out = &b->pub;
    return WSM_OK;
}

int wsm_columns_decode(const char *content_type, const cJSON *meta, const void *payload, size_t len,
                       size_t max_rows, wsm_columns **out, wsm_err *err)
{
    return decode_common(content_type, meta, payload, len, max_rows, true, out, err);
}

int wsm_columns_decode_json_reference(const cJSON *meta, const void *payload, size_t len,
                                      size_t max_rows, wsm_columns **out, wsm_err *err)
{
    return decode_common(WSM_CT_JSON, meta, payload, len, max_rows, false, out, err);
}
