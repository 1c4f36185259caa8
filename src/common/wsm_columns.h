/*
 * wsm_columns.h - frame batches as typed columns: the protocol's binary columnar content
 * type `application/vnd.wsmesh.columns` (WSM_CT_COLUMNS) and the same batch as JSON
 * (`application/json`), docs/protocol.md §8.
 *
 * Encoding (normative):
 *  - The column descriptors travel in the protocol header as the JSON object `payload_meta`:
 *      {"rows": N, "columns": [{"name": "t", "type": "f64", "unit": "s", "nullable": false},
 *                              {"name": "state", "type": "u8", "enum": ["NONE", "FCW"]}, ...]}
 *    Types: f64 f32 i64 i32 i16 u8 bool (bool = one byte, 0 or 1). "unit" is optional,
 *    "nullable" defaults to false, "enum" (distinct names of the values 0..n-1, at most
 *    256) is allowed only on integer columns (u8 i16 i32 i64; schemas/protocol/columns.json). Names
 * are unique, non-empty, at most 128 bytes. Other members of the meta and of descriptors are
 * ignored (additive protocol changes).
 *  - Binary payload: the columns in descriptor order. For each column: if nullable, a
 *    validity bitmap of ceil(N/8) bytes (bit i set = row i valid, LSB first) zero-padded to a
 *    multiple of 8 bytes; then N little-endian values zero-padded to a multiple of 8 bytes.
 *    The payload length must equal the sum exactly. Padding bytes and bitmap bits past N must
 *    be zero, bool values 0 or 1, enum values in 0..names-1 (checked on valid rows).
 *  - JSON payload: {"t": [...], "state": ["NONE", ...], ...}: one array of N elements per
 *    column (exactly the described columns), null = invalid (only in nullable columns),
 *    enum columns as strings, bool as true/false, integers as whole numbers within the type's
 *    range (i64: within +-2^53, where JSON numbers are exact), f32 within the float range. A
 * non-finite f64/f32 value of a valid row is written as null by the JSON encoder (JSON has no NaN)
 * and decodes as an invalid row. The encoder writes each f64 as the shortest text that reads back
 * as the same double (wsm_dtoa.h: "0.1", "1e-7", "-0"), f32 likewise for floats; the decoder
 * reads numbers exactly as strtod does, so f64/f32 values survive a JSON round trip bit for bit.
 *
 * The decoder validates everything and reports BAD_FIELD with a message naming the column
 * (or TOO_LARGE for rows above the limit); it never reads outside the payload, which may be
 * unaligned. Thread-safe: no shared state.
 *
 * Ownership: wsm_columns_decode returns a batch the caller frees with wsm_columns_free; the
 * columns' names, units, enum names, values and bitmaps live inside the batch. The encoder
 * borrows its inputs for the call; the meta it returns belongs to the caller (add it to a
 * header or cJSON_Delete it).
 */
#ifndef WSM_COLUMNS_H
#define WSM_COLUMNS_H

#include "wsm_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum wsm_col_type {
    WSM_COL_F64 = 0,
    WSM_COL_F32,
    WSM_COL_I64,
    WSM_COL_I32,
    WSM_COL_I16,
    WSM_COL_U8,
    WSM_COL_BOOL,
    WSM_COL_TYPE_COUNT
} wsm_col_type;

#define WSM_COLUMNS_MAX_COLS         1024
#define WSM_COLUMNS_MAX_NAME         128
#define WSM_COLUMNS_MAX_ENUM         256
#define WSM_COLUMNS_DEFAULT_MAX_ROWS 1000000

/* "f64", "f32", "i64", "i32", "i16", "u8", "bool"; NULL if out of range. Static string. */
const char *wsm_col_type_name(wsm_col_type t);
/* Inverse of wsm_col_type_name; -1 for unknown names and NULL. */
int wsm_col_type_from_name(const char *name);
/* Bytes per value: 8, 4, 8, 4, 2, 1, 1 (0 if out of range). */
size_t wsm_col_type_size(wsm_col_type t);

/* One column: encoder input and decoder output.
 * values: rows values of the native C type (double, float, int64_t, int32_t, int16_t,
 * uint8_t, uint8_t for bool), aligned for that type. validity: NULL = every row valid,
 * otherwise a bitmap of ceil(rows/8) bytes (bit i set = row i valid, LSB first), allowed only
 * when nullable. Decoded columns always carry a bitmap when nullable. */
typedef struct wsm_col {
    const char *name;
    wsm_col_type type;
    const char *unit; /* NULL = none */
    bool nullable;
    const char *const *enum_names; /* integer columns only; NULL = not an enum */
    size_t n_enum;
    const void *values;
    const uint8_t *validity;
} wsm_col;

/* A decoded batch. Read-only for the caller. */
typedef struct wsm_columns {
    size_t rows;
    size_t ncols;
    wsm_col *cols;
} wsm_columns;

/* Encodes rows rows of ncols columns as content_type (WSM_CT_COLUMNS or WSM_CT_JSON):
 * *meta receives the payload_meta object (caller owns), the payload is appended to
 * payload. Returns WSM_OK, or BAD_FIELD (bad column spec: empty/duplicate/too long name,
 * unknown type, enum on a non-integer column, validity on a non-nullable column, an enum or bool
 * value out of range, in JSON an i64 beyond +-2^53; unknown content type), TOO_LARGE (ncols >
 * WSM_COLUMNS_MAX_COLS), NOMEM. On error *meta is NULL and payload is unchanged. */
int wsm_columns_encode(const char *content_type, const wsm_col *cols, size_t ncols, size_t rows,
                       cJSON **meta, wsm_buf *payload, wsm_err *err);

/* Decodes a batch of content_type (NULL = application/json) described by meta. max_rows
 * bounds meta.rows (0 = WSM_COLUMNS_DEFAULT_MAX_ROWS). Returns WSM_OK and *out (caller
 * frees with wsm_columns_free), or: BAD_FIELD (meta malformed, payload size or content
 * wrong; the message names the column / element), BAD_JSON (JSON payload does not parse),
 * TOO_LARGE (rows above max_rows), NOMEM. *out is NULL on error. */
int wsm_columns_decode(const char *content_type, const cJSON *meta, const void *payload, size_t len,
                       size_t max_rows, wsm_columns **out, wsm_err *err);

/* Frees a decoded batch. Accepts NULL. */
void wsm_columns_free(wsm_columns *b);

/* The column with that exact name, or NULL. Borrowed from b. */
const wsm_col *wsm_columns_find(const wsm_columns *b, const char *name);

/* True if row is valid (always true without a bitmap). row < rows. */
static inline bool wsm_col_valid(const wsm_col *c, size_t row)
{
    return !c->validity || ((c->validity[row >> 3] >> (row & 7)) & 1u);
}

/* The value of row as a double (regardless of validity). row < rows. */
double wsm_col_get(const wsm_col *c, size_t row);

/* Converts rows values to doubles: out[i] = value, NaN for invalid rows. */
void wsm_col_to_f64(const wsm_col *c, size_t rows, double *out);

/* Bytes of the binary payload for these descriptors: the exact size the encoder writes. */
size_t wsm_columns_binary_size(const wsm_col *cols, size_t ncols, size_t rows);

#ifdef __cplusplus
}
#endif
#endif
