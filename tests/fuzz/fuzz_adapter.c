/*
 * fuzz_adapter.c - libFuzzer target for libwsmesh's incoming side: the HTTP 101 handshake
 * check, wslay frame parsing with the adapter's message assembly (fragments, control frames,
 * the max-message bound) and the session's dispatch of the protocol messages in each
 * WebSocket message (batches, replies, pings). Any input must end in a message, a clear close
 * code, or nothing -- never a crash, and never a message above the bound.
 *
 * Input: byte 0 selects the form: even = the bytes follow a valid 101 response (the fuzzer
 * explores frames), odd = the bytes are the whole server stream (handshake included).
 */
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
    conn_handlers ch = {.on_msg = on_msg};
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
