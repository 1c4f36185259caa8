/*
 * frame.c - protocol v1 framing: splitting a WebSocket message into protocol messages
 * (header line + `len` payload bytes) and writing them.
 *
 * The decoder never looks inside a payload and never copies it: wsm_msg.payload points into
 * the caller's buffer. Headers are parsed with cJSON_ParseWithLengthOpts so that the parse
 * is bounded by the header line. Any framing error poisons the rest of the WebSocket message
 * (a length we cannot trust means we cannot find the next header).
 */
#include "wsm_frame.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int wsm_frame_next(const unsigned char *buf, size_t n, size_t *off, size_t max_header, wsm_msg *out,
                   wsm_err *err)
{
    memset(out, 0, sizeof *out);
    size_t at = *off;
    if (at >= n)
        return 0;
    if (!max_header)
        max_header = WSM_MAX_HEADER_DEFAULT;
    size_t scan = n - at;
    if (scan > max_header + 1)
        scan = max_header + 1;
    const unsigned char *nl = memchr(buf + at, '\n', scan);
    if (!nl) {
        *off = n;
        if (scan > max_header)
            return -wsm_err_set(err, WSM_E_TOO_LARGE, "header at offset %zu: longer than %zu bytes",
                                at, max_header);
        return -wsm_err_set(err, WSM_E_BAD_FRAME,
                            "header at offset %zu: no newline before the end of the message", at);
    }
    size_t hlen = (size_t)(nl - (buf + at));
    const char *end = NULL;
    cJSON *hdr = cJSON_ParseWithLengthOpts((const char *)buf + at, hlen, &end, 0);
    if (!hdr || !cJSON_IsObject(hdr)) {
        size_t where = hdr ? 0 : (size_t)(end ? end - (const char *)(buf + at) : 0);
        cJSON_Delete(hdr);
        *off = n;
        if (!hdr)
            return -wsm_err_set(err, WSM_E_BAD_JSON,
                                "header at offset %zu: invalid JSON near byte %zu", at, where);
        return -wsm_err_set(err, WSM_E_BAD_JSON, "header at offset %zu: not a JSON object", at);
    }
    /* trailing garbage after the object on the header line */
    if (end && (size_t)(end - (const char *)(buf + at)) < hlen) {
        const char *p = end;
        while (p < (const char *)nl && (*p == ' ' || *p == '\t' || *p == '\r'))
            p++;
        if (p != (const char *)nl) {
            cJSON_Delete(hdr);
            *off = n;
            return -wsm_err_set(err, WSM_E_BAD_JSON,
                                "header at offset %zu: trailing bytes after the JSON object", at);
        }
    }
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(hdr, "op");
    if (!cJSON_IsString(op)) {
        cJSON_Delete(hdr);
        *off = n;
        return -wsm_err_set(err, WSM_E_BAD_FIELD, "header at offset %zu: op: expected string", at);
    }
    size_t len = 0;
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(hdr, "len");
    if (l) {
        double d = cJSON_IsNumber(l) ? l->valuedouble : -1;
        if (!(d >= 0) || d != floor(d) || d > 9007199254740992.0) {
            cJSON_Delete(hdr);
            *off = n;
            return -wsm_err_set(err, WSM_E_BAD_FIELD,
                                "header at offset %zu: len: expected integer >= 0", at);
        }
        len = (size_t)d;
        /* a second "len" would be read differently by other JSON parsers (JavaScript takes
         * the last one): receivers would disagree on where the next header starts */
        for (const cJSON *x = l->next; x; x = x->next)
            if (x->string && strcmp(x->string, "len") == 0) {
                cJSON_Delete(hdr);
                *off = n;
                return -wsm_err_set(err, WSM_E_BAD_FIELD,
                                    "header at offset %zu: len: given more than once", at);
            }
    }
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(hdr, "content_type");
    if (ct && !cJSON_IsString(ct)) {
        cJSON_Delete(hdr);
        *off = n;
        return -wsm_err_set(err, WSM_E_BAD_FIELD,
                            "header at offset %zu: content_type: expected string", at);
    }
    size_t body = at + hlen + 1;
    if (len > n - body) {
        cJSON_Delete(hdr);
        *off = n;
        return -wsm_err_set(err, WSM_E_BAD_FRAME,
                            "header at offset %zu: len %zu but only %zu bytes follow", at, len,
                            n - body);
    }
    out->hdr = hdr;
    out->op = op->valuestring;
    out->content_type = ct ? ct->valuestring : WSM_CT_JSON;
    out->payload = buf + body;
    out->len = len;
    out->hdr_text = (const char *)buf + at;
    out->hdr_len = hlen;
    *off = body + len;
    return 1;
}

void wsm_msg_clear(wsm_msg *m)
{
    if (!m)
        return;
    cJSON_Delete(m->hdr);
    memset(m, 0, sizeof *m);
}

int wsm_frame_append(wsm_buf *b, cJSON *hdr, const void *payload, size_t n)
{
    cJSON_DeleteItemFromObjectCaseSensitive(hdr, "len");
    if (n > 0 && !cJSON_AddNumberToObject(hdr, "len", (double)n))
        return WSM_E_NOMEM;
    size_t mark = b->len;
    if (wsm_json_append(b, hdr) || wsm_buf_append(b, "\n", 1) || wsm_buf_append(b, payload, n)) {
        b->len = mark;
        return WSM_E_NOMEM;
    }
    return 0;
}

int wsm_frame_append_raw(wsm_buf *b, const char *hdr_json, size_t hdr_n, const void *payload,
                         size_t n)
{
    if (hdr_n < 2 || hdr_json[hdr_n - 1] != '}')
        return WSM_E_INTERNAL;
    size_t mark = b->len;
    int rc;
    if (n > 0) {
        bool empty = hdr_n == 2; /* "{}" */
        rc = wsm_buf_append(b, hdr_json, hdr_n - 1) ||
             wsm_buf_printf(b, "%s\"len\":%zu}\n", empty ? "" : ",", n) ||
             wsm_buf_append(b, payload, n);
    } else {
        rc = wsm_buf_append(b, hdr_json, hdr_n) || wsm_buf_append(b, "\n", 1);
    }
    if (rc) {
        b->len = mark;
        return WSM_E_NOMEM;
    }
    return 0;
}

int wsm_frame_append_error(wsm_buf *b, int code, const char *msg, const char *ref)
{
    cJSON *h = cJSON_CreateObject();
    if (!h || !cJSON_AddStringToObject(h, "op", "error") ||
        !cJSON_AddStringToObject(h, "code", wsm_code_name(code)) ||
        !cJSON_AddStringToObject(h, "message", msg ? msg : "") ||
        (ref && !cJSON_AddStringToObject(h, "ref", ref))) {
        cJSON_Delete(h);
        return WSM_E_NOMEM;
    }
    int rc = wsm_frame_append(b, h, NULL, 0);
    cJSON_Delete(h);
    return rc;
}
