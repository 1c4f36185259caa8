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
 * The client's side is exercised too: requests 1..64 wait for replies through a callback
 * registered with conn_light_reply, so plain `ok` replies take the fast path (fast_ok), which
 * must only accept a line that, where cJSON parses it, is an `ok` with that ref and no `len`
 * (it does not check the rest of the line: the ok's members are not read). And every header
 * the general path parses is printed again by the request writer (jsonw.c), which must refuse
 * it exactly when cJSON's own print of it is not valid UTF-8, and otherwise print text that
 * cJSON reads back as an equal value.
 *
 * Input: byte 0 selects the form: even = the bytes follow a valid 101 response (the fuzzer
 * explores frames), odd = the bytes are the whole server stream (handshake included).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "jsonw.h"
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

/* Same tree: member by member in order (duplicate names included), numbers exactly equal. */
static bool same_tree(const cJSON *a, const cJSON *b)
{
    if ((a->string == NULL) != (b->string == NULL) ||
        (a->string && strcmp(a->string, b->string) != 0))
        return false;
    /* a number cJSON read as infinite (1e999) prints as null, with cJSON as with jsonw */
    if (cJSON_IsNull(a) && cJSON_IsNumber(b) && !isfinite(b->valuedouble))
        return true;
    if ((a->type & 0xff) != (b->type & 0xff))
        return false;
    switch (a->type & 0xff) {
    case cJSON_Number:
        return a->valuedouble == b->valuedouble;
    case cJSON_String:
        return strcmp(a->valuestring, b->valuestring) == 0;
    case cJSON_Array:
    case cJSON_Object: {
        const cJSON *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next)
            if (!same_tree(x, y))
                return false;
        return !x && !y;
    }
    default:
        return true;
    }
}

/* jw_value against cJSON's printer and parser (see the top comment). */
static void writer_check(const cJSON *hdr)
{
    wsm_buf b = WSM_BUF_INIT;
    int rc = jw_value(&b, hdr);
    char *ref = cJSON_PrintUnformatted(hdr);
    if (!ref)
        abort();
    bool utf8 = wsm_utf8_valid(ref, strlen(ref));
    if (rc != (utf8 ? 0 : WSM_E_USAGE)) {
        fprintf(stderr, "fuzz-adapter: jsonw returned %d for a header cJSON prints as %s\n", rc,
                utf8 ? "UTF-8" : "not UTF-8");
        abort();
    }
    if (rc == 0) {
        cJSON *back = cJSON_ParseWithLength((const char *)b.data, b.len);
        if (!back || !same_tree(back, hdr)) {
            fprintf(stderr, "fuzz-adapter: jsonw printed %.*s for %s\n", (int)b.len,
                    (const char *)b.data, ref);
            abort();
        }
        cJSON_Delete(back);
    }
    cJSON_free(ref);
    wsm_buf_free(&b);
}

/* The reply of request (uintptr_t)ud through the fast path or the general one. */
static void light_reply(void *ud, int code, const wsm_msg *m)
{
    if (code != 0 || !m || m->hdr)
        return; /* errors and the general path: not the fast path's business */
    if (strcmp(m->op, "ok") != 0 || !m->hdr_text || !m->hdr_len)
        abort();
    cJSON *h = cJSON_ParseWithLength(m->hdr_text, m->hdr_len);
    if (h) {
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(h, "ref");
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(h, "op");
        if (!cJSON_IsString(op) || strcmp(op->valuestring, "ok") != 0 || !cJSON_IsString(ref) ||
            strtoull(ref->valuestring, NULL, 10) != (uintptr_t)ud ||
            cJSON_GetObjectItemCaseSensitive(h, "len")) {
            fprintf(stderr, "fuzz-adapter: fast ok path took %.*s for request %zu\n",
                    (int)m->hdr_len, m->hdr_text, (size_t)(uintptr_t)ud);
            abort();
        }
        cJSON_Delete(h);
    }
}

static void on_msg(void *ud, const wsm_msg *m)
{
    struct sink *s = ud;
    if (!m->op || (m->len && !m->payload))
        abort();
    if (m->hdr)
        writer_check(m->hdr);
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
    conn_light_reply(s.c, light_reply);
    for (uintptr_t id = 1; id <= 64; id++)
        if (conn_send_framed(s.c, id, (const unsigned char *)"{}\n", 3, light_reply, (void *)id) !=
            0)
            abort();
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
