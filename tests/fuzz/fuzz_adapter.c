/*
 * fuzz_adapter.c - libFuzzer target for libwsmesh's incoming side: the HTTP 101 handshake
 * check, wslay frame parsing with the adapter's message assembly (fragments, control frames,
 * the max-message bound) and the session's dispatch of the protocol messages in each
 * WebSocket message (batches, replies, pings), including the service's one-pass `job` header
 * scanner (jobscan). Any input must end in a message, a clear close code, or nothing -- never a
 * crash, and never a message above the bound. Every job header the scanner accepts is parsed
 * again by the general path (wsm_frame_next + cJSON), which must accept it with equal members
 * and payload bounds (a differential check: the scanner never accepts what cJSON refuses and
 * never reads a member differently).
 *
 * Input: byte 0 selects the form: even = the bytes follow a valid 101 response (the fuzzer
 * explores frames), odd = the bytes are the whole server stream (handshake included).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "transport.h"

#define MAX_MSG 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char ok_response[] =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: "
    "wsmesh.v1\r\n\r\n";

struct sink {
    conn *c;
    size_t msgs;
};

static void on_msg(void *ud, const wsm_msg *m)
{
    struct sink *s = ud;
    if (!m->op || (m->len && !m->payload))
        abort();
    if (m->len & 1) { /* like a service keeping a bulk payload: take the receive buffer */
        size_t cap = 0;
        unsigned char *whole = conn_take_message(s->c, &cap);
        if (whole) {
            volatile unsigned char sum = 0;
            for (size_t i = 0; i < m->len; i++)
                sum ^= m->payload[i]; /* still readable: ASan checks */
            (void)sum;
            conn_recycle(s->c, whole, cap);
        }
    }
}

static void differ(const char *what)
{
    fprintf(stderr, "fuzz-adapter: jobscan and cJSON disagree on %s\n", what);
    abort();
}

static void same_str(const unsigned char *msg, js_span sp, const cJSON *hdr, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(hdr, name);
    if (!sp.off) {
        if (v)
            differ(name);
        return;
    }
    if (!cJSON_IsString(v) || strlen(v->valuestring) != sp.len ||
        memcmp(v->valuestring, msg + sp.off, sp.len) != 0)
        differ(name);
}

static void same_val(const unsigned char *msg, js_span sp, const cJSON *hdr, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(hdr, name);
    if (!sp.off) {
        if (v)
            differ(name);
        return;
    }
    cJSON *t = cJSON_ParseWithLength((const char *)msg + sp.off, sp.len);
    if (!t || !v || !cJSON_Compare(t, v, true))
        differ(name);
    cJSON_Delete(t);
}

static void on_job(void *ud, const jobscan *js, const unsigned char *msg)
{
    size_t off = 0;
    wsm_msg m;
    wsm_err e;
    if (wsm_frame_next(msg, js->total, &off, 0, &m, &e) != 1 || off != js->total ||
        strcmp(m.op, "job") != 0 || m.len != js->len || m.payload != msg + js->hdr_len + 1)
        differ("the frame");
    same_str(msg, js->job_id, m.hdr, "job_id");
    same_str(msg, js->queue, m.hdr, "queue");
    same_str(msg, js->key, m.hdr, "key");
    same_str(msg, js->parent, m.hdr, "parent");
    same_str(msg, js->root, m.hdr, "root");
    same_str(msg, js->content_type, m.hdr, "content_type");
    same_val(msg, js->args, m.hdr, "args");
    same_val(msg, js->meta, m.hdr, "meta");
    same_val(msg, js->state, m.hdr, "state");
    same_val(msg, js->payload_meta, m.hdr, "payload_meta");
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(m.hdr, "attempt");
    if (at ? !cJSON_IsNumber(at) || at->valuedouble != js->attempt : js->attempt != 1)
        differ("attempt");
    const cJSON *dl = cJSON_GetObjectItemCaseSensitive(m.hdr, "deadline_at");
    if (dl ? !cJSON_IsNumber(dl) || (int64_t)dl->valuedouble != js->deadline_at
           : js->deadline_at != 0)
        differ("deadline_at");
    if (cJSON_GetObjectItemCaseSensitive(m.hdr, "ref"))
        differ("ref"); /* a job with a ref must take the general path (reply matching) */
    wsm_msg_clear(&m);
    on_msg(ud, &(wsm_msg){.op = "job", .payload = msg + js->hdr_len + 1, .len = js->len});
}

static void on_ws_message(void *ud, wsm_buf *msg, bool binary)
{
    struct sink *s = ud;
    if (msg->len > MAX_MSG || (msg->len && !msg->data))
        abort();
    s->msgs++;
    conn_dispatch(s->c, msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    wsm_log_set_level(WSM_LOG_ERROR);
    struct sink s = {0};
    conn_handlers ch = {.on_msg = on_msg, .on_job = on_job};
    s.c = conn_new_detached(&ch, &s);
    if (!s.c)
        return 0;
    wst_handlers th = {.on_message = on_ws_message};
    wsm_buf b = WSM_BUF_INIT;
    if (!(data[0] & 1))
        wsm_buf_append_str(&b, ok_response);
    wsm_buf_append(&b, data + 1, size - 1);
    int rc = wst_feed_raw(b.data ? b.data : (const unsigned char *)"", b.len, MAX_MSG, &th, &s);
    if (rc < 0 || rc >= 1000)
        abort(); /* close codes are wsm codes */
    wsm_buf_free(&b);
    conn_free(s.c);
    return 0;
}
