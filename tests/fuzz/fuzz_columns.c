/*
 * fuzz_columns.c - libFuzzer target for the columnar batch decoder (wsm_columns.h). Input:
 * the payload_meta JSON text up to the first NUL byte, then the payload. Each input is
 * decoded as binary and as JSON; whatever decodes must re-encode in both encodings and
 * decode again to the same values (bit for bit on valid rows), and nothing may read outside
 * the input (ASan) or crash. Every JSON decode (of the input and of each re-encoding) is also
 * run through the reference decoder (wsm_columns_int.h): the scanner must give the same code,
 * message and values.
 */
#include "wsm_columns.h"
#include "wsm_columns_int.h"
#include "wsm_frame.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_or_abort(const wsm_columns *a, const wsm_columns *b)
{
    if (a->rows != b->rows || a->ncols != b->ncols)
        abort();
    for (size_t i = 0; i < a->ncols; i++) {
        const wsm_col *x = &a->cols[i], *y = &b->cols[i];
        if (strcmp(x->name, y->name) || x->type != y->type || x->nullable != y->nullable ||
            x->n_enum != y->n_enum)
            abort();
        size_t sz = wsm_col_type_size(x->type);
        for (size_t r = 0; r < a->rows; r++) {
            bool vx = wsm_col_valid(x, r), vy = wsm_col_valid(y, r);
            /* JSON turns a non-finite float of a valid row into null */
            double d = wsm_col_get(x, r);
            if (vx && !vy && (x->type == WSM_COL_F64 || x->type == WSM_COL_F32) && !isfinite(d))
                continue;
            if (vx != vy)
                abort();
            if (vx &&
                memcmp((const char *)x->values + r * sz, (const char *)y->values + r * sz, sz) !=
                    0 &&
                !(x->type <= WSM_COL_F32 && d == 0 && wsm_col_get(y, r) == 0))
                abort();
        }
    }
}

/* wsm_columns_decode, and for JSON the same decode through the reference decoder: aborts
 * unless both give the same answer. */
static int decode_checked(const char *ct, const cJSON *meta, const void *p, size_t n,
                          size_t max_rows, wsm_columns **out, wsm_err *err)
{
    int rc = wsm_columns_decode(ct, meta, p, n, max_rows, out, err);
    if (strcmp(ct, WSM_CT_JSON) != 0)
        return rc;
    wsm_columns *ref = NULL;
    wsm_err rerr;
    int rrc = wsm_columns_decode_json_reference(meta, p, n, max_rows, &ref, &rerr);
    if (rrc != rc)
        abort();
    if (rc == WSM_OK) {
        if (!*out || !ref)
            abort();
        /* bit for bit, valid and invalid rows (both zero the values of invalid rows) */
        const wsm_columns *a = *out;
        if (a->rows != ref->rows || a->ncols != ref->ncols)
            abort();
        for (size_t i = 0; i < ref->ncols; i++) {
            const wsm_col *x = &a->cols[i], *y = &ref->cols[i];
            size_t sz = wsm_col_type_size(y->type);
            if (strcmp(x->name, y->name) || x->type != y->type || x->nullable != y->nullable ||
                x->n_enum != y->n_enum ||
                (ref->rows && memcmp(x->values, y->values, ref->rows * sz) != 0))
                abort();
            for (size_t r = 0; r < ref->rows; r++)
                if (wsm_col_valid(x, r) != wsm_col_valid(y, r))
                    abort();
        }
    } else if (strcmp(err->msg, rerr.msg) != 0) {
        abort();
    }
    wsm_columns_free(ref);
    return rc;
}

static void reencode(const wsm_columns *b, const char *ct)
{
    cJSON *meta = NULL;
    wsm_buf buf = WSM_BUF_INIT;
    wsm_err err;
    if (wsm_columns_encode(ct, b->cols, b->ncols, b->rows, &meta, &buf, &err) != WSM_OK) {
        /* a decoded batch is always encodable, except i64 beyond 2^53 as JSON */
        if (strcmp(ct, WSM_CT_JSON) != 0 || err.code != WSM_E_BAD_FIELD || !strstr(err.msg, "2^53"))
            abort();
        return;
    }
    wsm_columns *again = NULL;
    if (decode_checked(ct, meta, buf.data, buf.len, b->rows + 1, &again, &err) != WSM_OK) {
        /* JSON cannot carry NaN in a non-nullable float column: that is the only refusal */
        if (strcmp(ct, WSM_CT_JSON) != 0 || err.code != WSM_E_BAD_FIELD)
            abort();
    } else {
        same_or_abort(b, again);
    }
    wsm_columns_free(again);
    cJSON_Delete(meta);
    wsm_buf_free(&buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t mlen = nul ? (size_t)(nul - data) : size;
    const uint8_t *payload = nul ? nul + 1 : data + size;
    size_t plen = nul ? size - mlen - 1 : 0;
    cJSON *meta = cJSON_ParseWithLength((const char *)data, mlen);
    const char *cts[] = {WSM_CT_COLUMNS, WSM_CT_JSON};
    for (int k = 0; k < 2; k++) {
        wsm_columns *b = NULL;
        wsm_err err;
        /* an exact-size copy so that reads past the payload are caught */
        uint8_t *copy = malloc(plen ? plen : 1);
        if (!copy)
            break;
        if (plen)
            memcpy(copy, payload, plen);
        int rc = decode_checked(cts[k], meta, plen ? copy : NULL, plen, 4096, &b, &err);
        if (rc == WSM_OK) {
            if (!b)
                abort();
            reencode(b, WSM_CT_COLUMNS);
            reencode(b, WSM_CT_JSON);
        } else if (b != NULL || err.msg[0] == 0) {
            abort();
        }
        wsm_columns_free(b);
        free(copy);
    }
    cJSON_Delete(meta);
    return 0;
}
