/*
 * wsm_frame.h - protocol v1 framing (docs/protocol.md §Framing).
 *
 * A protocol message is one compact JSON object on a single line ending in '\n' (the
 * header), followed by exactly `len` payload bytes (`len` absent = 0). One WebSocket
 * message carries one or more protocol messages back to back. The header names the
 * payload's `content_type` (default "application/json"). Payloads are never parsed here.
 */
#ifndef WSM_FRAME_H
#define WSM_FRAME_H

#include "wsm_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WSM_PROTOCOL_VERSION   1
#define WSM_SUBPROTOCOL        "wsmesh.v1"
#define WSM_WS_PATH            "/ws"
#define WSM_CT_JSON            "application/json"
#define WSM_CT_COLUMNS         "application/vnd.wsmesh.columns"
#define WSM_MAX_HEADER_DEFAULT (64 * 1024)

/* One decoded protocol message. `hdr` is owned by the message (free with wsm_msg_clear);
 * op/content_type point into hdr; payload points into the caller's input buffer and is
 * valid only as long as that buffer is. */
typedef struct wsm_msg {
    cJSON *hdr;
    const char *op;
    const char *content_type;
    const unsigned char *payload;
    size_t len;
    /* The header line as received (without '\n'), borrowed from the input buffer. */
    const char *hdr_text;
    size_t hdr_len;
} wsm_msg;

/* Decodes the next message of buf[*off..n). max_header bounds the header line (0 = default).
 * Returns:
 *   1  a message was decoded into *out and *off advanced past it (caller: wsm_msg_clear);
 *   0  *off == n: nothing left;
 *  <0  an error (-code): BAD_FRAME (no '\n' within the limit or before the end, `len`
 *      larger than what follows), BAD_JSON (header not a JSON object), BAD_FIELD (`op` not a
 *      string, `len` not a non-negative integer, `content_type` not a string), TOO_LARGE
 *      (header over max_header). err names the offset. After an error the rest of this
 *      WebSocket message cannot be trusted: *off is set to n. */
int wsm_frame_next(const unsigned char *buf, size_t n, size_t *off, size_t max_header, wsm_msg *out,
                   wsm_err *err);

/* Frees out->hdr and zeroes *m. Accepts NULL. */
void wsm_msg_clear(wsm_msg *m);

/* Appends one protocol message to b: hdr printed compactly (with "len" set to n when n > 0,
 * removed otherwise — hdr is modified accordingly), '\n', then payload[0..n).
 * Returns 0 or WSM_E_NOMEM. */
int wsm_frame_append(wsm_buf *b, cJSON *hdr, const void *payload, size_t n);

/* Appends a message whose header is given as text: hdr_json must be a compact JSON object
 * without a "len" member and without newlines; the function inserts ,"len":n when n > 0.
 * Used on hot paths that format headers directly. Returns 0 or WSM_E_NOMEM. */
int wsm_frame_append_raw(wsm_buf *b, const char *hdr_json, size_t hdr_n, const void *payload,
                         size_t n);

/* Builds an error header {"op":"error","code":NAME,"message":msg[,"ref":ref]} and appends
 * it to b. ref may be NULL. Returns 0 or WSM_E_NOMEM. */
int wsm_frame_append_error(wsm_buf *b, int code, const char *msg, const char *ref);

#ifdef __cplusplus
}
#endif
#endif
