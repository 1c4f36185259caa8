/*
 * transport.c - WebSocket client transport on libevent + wslay (see transport.h).
 *
 * States:  CONNECTING --(TCP/TLS connected, request written)--> HANDSHAKE
 *          HANDSHAKE --(valid 101 response)--> OPEN            (on_open)
 *          OPEN --(wst_close: close frame queued)--> CLOSING
 *          any --(EOF, error, timeout, close frames exchanged)--> DEAD   (on_closed, once)
 *
 * Invariants:
 *  - One timer (deadline) guards whatever we wait for: connect + handshake, the pong after a
 *    ping, the peer's close frame. The ping timer runs only while OPEN.
 *  - Incoming data frames are appended to t->msg (reused across messages, wslay no-buffering
 *    mode); the size check against max_message_bytes happens before appending, so t->msg never
 *    grows beyond the bound. Control frames are handled by wslay (ping -> pong, close).
 *  - Outgoing data messages are framed here, not by wslay (wslay masks byte by byte and
 *    copies every message): each message becomes one frame whose header and masked payload
 *    are written straight into the bufferevent's output evbuffer, 64 bits at a time, in pieces
 *    of at most CHUNK bytes while the output holds less than OUT_HIGH (so bytes in flight stay
 *    bounded; the write callback resumes when it has drained to OUT_LOW). A message that cannot
 *    be written at once is queued (struct outmsg, owning its bytes: no copy). wslay still
 *    sends the control frames (pong, ping, close), but only between our frames: while one of
 *    our frames is partly written (t->cur_off > 0) wslay is not asked to send, so frames never
 *    interleave. A close requested while data is queued is sent after it.
 *  - on_closed is delivered through an event (never re-entrantly from a wst_* call).
 *  - Reads: libevent 2.1 reads 4 KiB per call; on plain TCP t_read_more takes the rest of
 *    what the socket holds into t->rbuf (256 KiB, reused), read by wslay after t->in (up to
 *    1 MiB per wake-up). Unread rbuf bytes are moved to the front of t->in before new input.
 */
#include "internal.h"
#include "transport.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <wslay/wslay.h>

#include "wsm_frame.h"
#include "wsmesh.h"

#define OUT_HIGH     (4u << 20)   /* stop feeding the output evbuffer above this */
#define OUT_LOW      (1u << 20)   /* resume below this */
#define CHUNK        (256u << 10) /* bytes of one frame written per step */
#define MAX_RESPONSE (16u << 10)  /* HTTP handshake response bound */
#define CLOSE_WAIT_S 2.0
#define WS_GUID      "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define FUZZ_KEY     "dGhlIHNhbXBsZSBub25jZQ=="

enum wst_state { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSING, ST_DEAD };

struct outmsg {
    unsigned char *data; /* owned */
    size_t len;
    struct outmsg *next;
};

struct wst {
    struct event_base *base;
    struct bufferevent *bev;
    struct evbuffer *in;  /* input (the bufferevent's, or the fuzz buffer) */
    struct evbuffer *out; /* output (the bufferevent's, or a scratch buffer) */
    SSL *ssl;             /* owned by bev when set */
    wslay_event_context_ptr ws;
    wst_url url;
    wst_config cfg;
    wst_handlers h;
    void *ud;
    enum wst_state state;
    char key[32];

    /* incoming message assembly */
    wsm_buf msg;
    int frame_op; /* opcode of the frame being received */
    int frame_fin;
    int msg_op; /* opcode of the data message being assembled (1 text, 2 binary), 0 none */
    bool too_large;

    struct {
        unsigned char *data;
        size_t cap;
    } spare[WST_SPARES]; /* receive buffers given back by wst_recycle */
    int n_spare;
    struct outmsg *oq_head, *oq_tail; /* data messages waiting to be framed */
    size_t oq_bytes;                  /* their unwritten bytes */
    size_t cur_off;                   /* bytes of oq_head's payload already written (0: none) */
    uint8_t cur_mask[4];
    uint8_t rnd[256];   /* CSPRNG bytes for frame masks, used up from rnd_off */
    size_t rnd_off;     /* next unused byte; 0: none left (refilled when needed) */
    bool close_pending; /* wst_close waits for the queue to drain */
    int close_status;
    char close_text[124];

    struct event *deadline;
    struct event *ping_timer;
    struct event *done_ev;
    int64_t last_rx_us;
    int64_t ping_sent_us; /* 0: no ping outstanding */

    int close_code;
    char close_reason[300];
    bool fuzz;

    /* t_read_more's receive buffer (allocated once, reused: no fresh pages per read); its
     * bytes [rpos, rlen) follow everything in t->in */
    unsigned char *rbuf;
    size_t rpos, rlen;
};

/* ------------------------------------------------------------------ url, tls */

int wst_parse_url(const char *url, wst_url *out, wsm_err *err)
{
    memset(out, 0, sizeof *out);
    if (!url || !*url)
        return wsm_err_set(err, WSM_E_USAGE, "url: empty");
    const char *p;
    if (strncmp(url, "ws://", 5) == 0) {
        p = url + 5;
        out->port = 80;
    } else if (strncmp(url, "wss://", 6) == 0) {
        p = url + 6;
        out->tls = true;
        out->port = 443;
    } else {
        return wsm_err_set(err, WSM_E_USAGE, "url %s: expected ws:// or wss://", url);
    }
    const char *hend;
    if (*p == '[') {
        hend = strchr(p, ']');
        if (!hend || hend - p - 1 <= 0 || (size_t)(hend - p - 1) >= sizeof out->host)
            return wsm_err_set(err, WSM_E_USAGE, "url %s: bad IPv6 address", url);
        memcpy(out->host, p + 1, (size_t)(hend - p - 1));
        hend++;
    } else {
        hend = p + strcspn(p, ":/?#");
        if (hend == p || (size_t)(hend - p) >= sizeof out->host)
            return wsm_err_set(err, WSM_E_USAGE, "url %s: missing or too long host", url);
        memcpy(out->host, p, (size_t)(hend - p));
    }
    const char *q = hend;
    if (*q == ':') {
        char *e;
        long port = strtol(q + 1, &e, 10);
        if (e == q + 1 || port < 1 || port > 65535 || (*e && *e != '/'))
            return wsm_err_set(err, WSM_E_USAGE, "url %s: bad port", url);
        out->port = (int)port;
        q = e;
    }
    if (*q == '/') {
        if (strlen(q) >= sizeof out->path)
            return wsm_err_set(err, WSM_E_USAGE, "url %s: path too long", url);
        snprintf(out->path, sizeof out->path, "%s", strcmp(q, "/") == 0 ? WSM_WS_PATH : q);
    } else if (*q == 0) {
        snprintf(out->path, sizeof out->path, "%s", WSM_WS_PATH);
    } else {
        return wsm_err_set(err, WSM_E_USAGE, "url %s: unexpected '%c' after the host", url, *q);
    }
    for (const char *c = out->path; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return wsm_err_set(err, WSM_E_USAGE, "url %s: bad character in path", url);
    snprintf(out->text, sizeof out->text, "%.*s", (int)(q - url), url);
    return 0;
}

/* The reason of the last OpenSSL error (queue cleared). */
static const char *ssl_err_text(char *buf, size_t n)
{
    unsigned long e = ERR_peek_last_error();
    ERR_error_string_n(e, buf, n);
    ERR_clear_error();
    return e ? buf : "unknown error";
}

/* Loads the client certificate and key for mutual TLS. 0 or WSM_E_USAGE (err set). */
static int ssl_ctx_client_cert(SSL_CTX *ctx, const char *cert_file, const char *key_file,
                               wsm_err *err)
{
    char buf[200];
    if (!cert_file)
        return wsm_err_set(err, WSM_E_USAGE,
                           "key-file %s: given without a client certificate (cert-file)", key_file);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
        return wsm_err_set(err, WSM_E_USAGE,
                           "cert-file %s: cannot load a PEM client certificate (%s)", cert_file,
                           ssl_err_text(buf, sizeof buf));
    const char *kf = key_file ? key_file : cert_file;
    if (SSL_CTX_use_PrivateKey_file(ctx, kf, SSL_FILETYPE_PEM) != 1 &&
        ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH)
        return wsm_err_set(err, WSM_E_USAGE, "key-file %s: cannot load a PEM private key (%s)", kf,
                           ssl_err_text(buf, sizeof buf));
    if (ERR_peek_last_error() || SSL_CTX_check_private_key(ctx) != 1)
        return wsm_err_set(err, WSM_E_USAGE,
                           "key-file %s does not match the client certificate %s (%s)", kf,
                           cert_file, ssl_err_text(buf, sizeof buf));
    return 0;
}

SSL_CTX *wst_ssl_ctx_new(const char *ca_file, const char *cert_file, const char *key_file,
                         wsm_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        wsm_err_set(err, WSM_E_NOMEM, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        unsigned long e = ERR_get_error();
        char buf[200];
        ERR_error_string_n(e, buf, sizeof buf);
        wsm_err_set(err, WSM_E_USAGE, "ca-file %s: cannot load CA certificates (%s)",
                    ca_file ? ca_file : "(system default)", buf);
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return NULL;
    }
    if ((cert_file || key_file) && ssl_ctx_client_cert(ctx, cert_file, key_file, err) != 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* ------------------------------------------------------------------ ending */

static void t_set_close(wst *t, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records why the connection ends (first reason wins) and schedules on_closed. */
static void t_set_close(wst *t, int code, const char *fmt, ...)
{
    if (t->state == ST_DEAD)
        return;
    t->state = ST_DEAD;
    t->close_code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->close_reason, sizeof t->close_reason, fmt, ap);
    va_end(ap);
    if (t->deadline)
        event_del(t->deadline);
    if (t->ping_timer)
        event_del(t->ping_timer);
    if (t->bev) {
        bufferevent_disable(t->bev, EV_READ | EV_WRITE);
        bufferevent_setcb(t->bev, NULL, NULL, NULL, NULL);
    }
    if (t->done_ev)
        event_active(t->done_ev, EV_TIMEOUT, 0);
}

static void t_done_cb(evutil_socket_t fd, short what, void *arg)
{
    wst *t = arg;
    /* Close the socket now; the struct lives until wst_free. */
    if (t->bev) {
        bufferevent_free(t->bev);
        t->bev = NULL;
        t->ssl = NULL;
        t->in = t->out = NULL;
    }
    if (t->h.on_closed)
        t->h.on_closed(t->ud, t->close_code, t->close_reason);
}

static void t_arm(struct event *ev, double seconds)
{
    struct timeval tv = wsm__timeval(seconds < 0.001 ? 0.001 : seconds);
    event_add(ev, &tv);
}

/* ------------------------------------------------------------------ wslay callbacks */

static void t_pump_write(wst *t);

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *ud)
{
    wst *t = ud;
    int n = t->in ? evbuffer_remove(t->in, buf, len) : 0;
    if (n < 0)
        n = 0;
    if ((size_t)n < len && t->rpos < t->rlen) {
        size_t k = t->rlen - t->rpos;
        if (k > len - (size_t)n)
            k = len - (size_t)n;
        memcpy(buf + n, t->rbuf + t->rpos, k);
        t->rpos += k;
        n += (int)k;
    }
    if (n <= 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    return n;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *ud)
{
    wst *t = ud;
    if (!t->out || evbuffer_get_length(t->out) >= OUT_HIGH) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (t->fuzz) { /* nothing is written anywhere: drop */
        return (ssize_t)len;
    }
    if (evbuffer_add(t->out, data, len) != 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

/* n bytes of frame mask. RFC 6455 §5.3: masks must be unpredictable, so they come from
 * OpenSSL's CSPRNG, drawn 256 bytes at a time (one RAND_bytes call, ~6,000 instructions and a
 * getpid, per 64 frames instead of per frame). Returns 0, or -1 when the CSPRNG fails. */
static int mask_bytes(wst *t, uint8_t *out, size_t n)
{
    if (n > sizeof t->rnd)
        return RAND_bytes(out, (int)n) == 1 ? 0 : -1;
    if (t->rnd_off == 0 || sizeof t->rnd - t->rnd_off < n) {
        if (RAND_bytes(t->rnd, (int)sizeof t->rnd) != 1)
            return -1;
        t->rnd_off = 0;
    }
    memcpy(out, t->rnd + t->rnd_off, n);
    memset(t->rnd + t->rnd_off, 0, n); /* each byte is used once */
    t->rnd_off += n;
    if (t->rnd_off == sizeof t->rnd)
        t->rnd_off = 0; /* empty: refill next time */
    return 0;
}

static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud)
{
    if (mask_bytes(ud, buf, len) != 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return 0;
}

static void ws_frame_start_cb(wslay_event_context_ptr ctx,
                              const struct wslay_event_on_frame_recv_start_arg *a, void *ud)
{
    wst *t = ud;
    t->frame_op = a->opcode;
    t->frame_fin = a->fin;
    if (a->opcode >= 8)
        return; /* control frame: wslay buffers and handles it */
    if (a->opcode != WSLAY_CONTINUATION_FRAME) {
        t->msg_op = a->opcode;
        wsm_buf_reset(&t->msg);
        t->too_large = false;
    }
    if (t->msg.len + a->payload_length > t->cfg.max_message_bytes) {
        /* refuse at once: do not read (let alone store) the rest */
        t->too_large = true;
        wslay_event_queue_close(ctx, WSLAY_CODE_MESSAGE_TOO_BIG, NULL, 0);
        t_pump_write(t);
        t_set_close(t, WSM_E_TOO_LARGE,
                    "the hub sent a message larger than max_message_bytes (%zu)",
                    t->cfg.max_message_bytes);
        wslay_event_shutdown_read(ctx);
        return;
    }
    if (!t->msg.data && a->payload_length) {
        /* the previous buffer was taken: reuse a recycled one that is large enough (avoids a
         * fresh allocation, and its page faults, per bulk message) */
        for (int i = 0; i < t->n_spare; i++) {
            if (t->spare[i].cap >= a->payload_length) {
                t->msg.data = t->spare[i].data;
                t->msg.cap = t->spare[i].cap;
                t->msg.len = 0;
                t->spare[i] = t->spare[--t->n_spare];
                break;
            }
        }
    }
    if (a->payload_length && wsm_buf_reserve(&t->msg, (size_t)a->payload_length) != 0)
        t->too_large = true; /* cannot hold it: treated like an oversize message */
}

static void ws_frame_chunk_cb(wslay_event_context_ptr ctx,
                              const struct wslay_event_on_frame_recv_chunk_arg *a, void *ud)
{
    wst *t = ud;
    if (t->frame_op >= 8 || t->too_large || !a->data_length)
        return;
    if (t->msg.len + a->data_length > t->msg.cap) { /* reserved at frame start */
        t->too_large = true;
        return;
    }
    memcpy(t->msg.data + t->msg.len, a->data, a->data_length);
    t->msg.len += a->data_length;
}

static void ws_frame_end_cb(wslay_event_context_ptr ctx, void *ud)
{
    wst *t = ud;
    if (t->frame_op >= 8 || !t->frame_fin)
        return;
    int op = t->msg_op;
    t->msg_op = 0;
    if (t->too_large) {
        if (t->state == ST_OPEN || t->fuzz) {
            t_set_close(t, WSM_E_TOO_LARGE,
                        "the hub sent a message larger than max_message_bytes (%zu)",
                        t->cfg.max_message_bytes);
            wslay_event_shutdown_read(ctx);
        }
        return;
    }
    if (t->state != ST_OPEN && t->state != ST_CLOSING)
        return;
    if (t->h.on_message)
        t->h.on_message(t->ud, &t->msg, op == WSLAY_BINARY_FRAME);
    /* Do not keep a huge buffer forever after one huge message. */
    if (t->msg.cap > (8u << 20))
        wsm_buf_free(&t->msg);
    else
        wsm_buf_reset(&t->msg);
}

static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                      void *ud)
{
    wst *t = ud;
    if (a->opcode == WSLAY_PONG)
        t->ping_sent_us = 0;
    else if (a->opcode == WSLAY_CONNECTION_CLOSE && t->state == ST_OPEN)
        t->close_code = a->status_code; /* remembered for the message below */
}

/* ------------------------------------------------------------------ I/O pumping */

static void t_after_io(wst *t);

/* XORs n bytes of src with the mask (phase = offset of src[0] within the payload, mod 4)
 * into dst. 8 bytes per step on the aligned middle part. */
static void mask_copy(unsigned char *dst, const unsigned char *src, size_t n, const uint8_t mask[4],
                      size_t phase)
{
    size_t i = 0;
    while (i < n && ((phase + i) & 3))
        dst[i] = src[i] ^ mask[(phase + i) & 3], i++;
    uint64_t m8;
    uint8_t mb[8] = {mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]};
    memcpy(&m8, mb, 8);
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v ^= m8;
        memcpy(dst + i, &v, 8);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ mask[(phase + i) & 3];
}

/* Writes the header of a binary frame of n payload bytes into out and picks its mask (every
 * data message is a binary frame: protocol §2 allows it, and the hub skips the UTF-8 check). */
static int put_header(wst *t, size_t n)
{
    unsigned char h[14];
    size_t hl = 2;
    h[0] = (unsigned char)(0x80 | WSLAY_BINARY_FRAME);
    if (n < 126) {
        h[1] = (unsigned char)(0x80 | n);
    } else if (n < 65536) {
        h[1] = 0x80 | 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    if (mask_bytes(t, t->cur_mask, 4) != 0)
        return -1;
    memcpy(h + hl, t->cur_mask, 4);
    hl += 4;
    return evbuffer_add(t->out, h, hl);
}

/* Appends payload bytes [off, off + n) of p, masked, to the output. */
static int put_masked(wst *t, const unsigned char *p, size_t off, size_t n)
{
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(t->out, (ev_ssize_t)n, &v, 1) < 1 || v.iov_len < n)
        return -1;
    mask_copy(v.iov_base, p + off, n, t->cur_mask, off);
    v.iov_len = n;
    return evbuffer_commit_space(t->out, &v, 1);
}

/* Writes as much of one data message as the output bound allows. Returns 1 when the message
 * is completely written, 0 when it must wait, -1 on failure. t->cur_off tracks progress. */
static int write_frame(wst *t, const unsigned char *p, size_t len)
{
    if (t->cur_off == 0 && put_header(t, len) != 0)
        return -1;
    while (t->cur_off < len) {
        if (evbuffer_get_length(t->out) >= OUT_HIGH) {
            if (t->cur_off == 0)
                t->cur_off = SIZE_MAX; /* header written, no payload yet */
            return 0;
        }
        size_t off = t->cur_off == SIZE_MAX ? 0 : t->cur_off;
        size_t n = len - off < CHUNK ? len - off : CHUNK;
        if (put_masked(t, p, off, n) != 0)
            return -1;
        t->cur_off = off + n;
        t->oq_bytes -= t->oq_head && t->oq_head->data == p ? n : 0;
    }
    t->cur_off = 0;
    return 1;
}

static void t_pump_write(wst *t)
{
    if (!t->ws || t->state == ST_DEAD)
        return;
    for (;;) {
        if (t->cur_off == 0) {
            /* between our frames: let wslay send its control frames first */
            if (wslay_event_want_write(t->ws)) {
                if (wslay_event_send(t->ws) != 0) {
                    t_set_close(t, WSM_E_IO, "cannot send to the hub: connection broken");
                    return;
                }
                if (wslay_event_want_write(t->ws))
                    return; /* wslay is mid-frame or the output is full */
            }
            if (!t->oq_head) {
                if (t->close_pending) {
                    t->close_pending = false;
                    wslay_event_queue_close(t->ws, (uint16_t)t->close_status,
                                            (const uint8_t *)t->close_text, strlen(t->close_text));
                    continue;
                }
                return;
            }
            if (wslay_event_get_close_sent(t->ws) || evbuffer_get_length(t->out) >= OUT_HIGH)
                return;
        }
        struct outmsg *m = t->oq_head;
        if (!m)
            return;
        int r = write_frame(t, m->data, m->len);
        if (r < 0) {
            t_set_close(t, WSM_E_NOMEM, "cannot send to the hub: out of memory");
            return;
        }
        if (r == 0)
            return;
        t->oq_head = m->next;
        if (!t->oq_head)
            t->oq_tail = NULL;
        wsm__free(m->data);
        wsm__free(m);
    }
}

/* Checks whether the close handshake has completed. */
static void t_after_io(wst *t)
{
    if (t->state == ST_DEAD || !t->ws)
        return;
    bool rcvd = wslay_event_get_close_received(t->ws);
    bool sent = wslay_event_get_close_sent(t->ws);
    if (rcvd && t->state == ST_OPEN) {
        /* the hub closes: wslay queued our answering close frame */
        t->state = ST_CLOSING;
        t_pump_write(t);
        sent = wslay_event_get_close_sent(t->ws);
        if (!sent)
            t_arm(t->deadline, CLOSE_WAIT_S);
    }
    if (rcvd && sent && t->out && evbuffer_get_length(t->out) == 0) {
        uint16_t code = wslay_event_get_status_code_received(t->ws);
        t_set_close(t, WSM_E_CLOSED, "closed by the hub (%u)", code);
    } else if (rcvd && sent && !t->out) {
        t_set_close(t, WSM_E_CLOSED, "closed");
    }
}

/* Parses the 101 response in t->in. Returns 1 done, 0 need more, -1 failed (closed). */
static int t_handshake_response(wst *t)
{
    struct evbuffer_ptr end = evbuffer_search(t->in, "\r\n\r\n", 4, NULL);
    if (end.pos < 0) {
        if (evbuffer_get_length(t->in) > MAX_RESPONSE) {
            t_set_close(t, WSM_E_CONNECT, "handshake failed: response headers too long");
            return -1;
        }
        return 0;
    }
    size_t n = (size_t)end.pos + 4;
    if (n > MAX_RESPONSE) {
        t_set_close(t, WSM_E_CONNECT, "handshake failed: response headers too long");
        return -1;
    }
    char *r = wsm__malloc(n + 1);
    if (!r) {
        t_set_close(t, WSM_E_NOMEM, "out of memory");
        return -1;
    }
    evbuffer_remove(t->in, r, n);
    r[n] = 0;
    int rc = -1;
    int status = 0;
    if (sscanf(r, "HTTP/1.1 %d", &status) != 1) {
        t_set_close(t, WSM_E_CONNECT, "handshake failed: not an HTTP/1.1 response");
        goto out;
    }
    if (status != 101) {
        char line[120];
        size_t l = strcspn(r, "\r\n");
        snprintf(line, sizeof line, "%.*s", (int)(l < 100 ? l : 100), r);
        t_set_close(t, status == 401 || status == 403 ? WSM_E_UNAUTHORIZED : WSM_E_CONNECT,
                    "handshake failed: the server answered \"%s\" (is %s%s a wsmesh hub?)", line,
                    t->url.text, t->url.path);
        goto out;
    }
    /* expected Sec-WebSocket-Accept */
    char cat[64 + sizeof WS_GUID];
    snprintf(cat, sizeof cat, "%s%s", t->key, WS_GUID);
    unsigned char sha[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)cat, strlen(cat), sha);
    char want[64];
    EVP_EncodeBlock((unsigned char *)want, sha, SHA_DIGEST_LENGTH);
    bool upgrade = false, connection = false, accept = false, proto_ok = true;
    char *save = NULL;
    char *line = strtok_r(r, "\r\n", &save); /* status line */
    while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = 0;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            v[--vl] = 0;
        if (strcasecmp(line, "Upgrade") == 0)
            upgrade = strcasecmp(v, "websocket") == 0;
        else if (strcasecmp(line, "Connection") == 0)
            connection = strcasestr(v, "upgrade") != NULL;
        else if (strcasecmp(line, "Sec-WebSocket-Accept") == 0)
            accept = strcmp(v, want) == 0;
        else if (strcasecmp(line, "Sec-WebSocket-Protocol") == 0)
            proto_ok = strcmp(v, WSM_SUBPROTOCOL) == 0;
        else if (strcasecmp(line, "Sec-WebSocket-Extensions") == 0 && vl)
            proto_ok = false; /* we offered none */
    }
    if (!upgrade || !connection || !accept || !proto_ok) {
        t_set_close(t, WSM_E_CONNECT, "handshake failed: %s",
                    !upgrade      ? "no 'Upgrade: websocket' header"
                    : !connection ? "no 'Connection: Upgrade' header"
                    : !accept     ? "wrong Sec-WebSocket-Accept"
                                  : "unexpected subprotocol or extension");
        goto out;
    }
    rc = 1;
out:
    wsm__free(r);
    return rc;
}

static int t_ws_init(wst *t)
{
    struct wslay_event_callbacks cb = {
        .recv_callback = ws_recv_cb,
        .send_callback = ws_send_cb,
        .genmask_callback = ws_genmask_cb,
        .on_frame_recv_start_callback = ws_frame_start_cb,
        .on_frame_recv_chunk_callback = ws_frame_chunk_cb,
        .on_frame_recv_end_callback = ws_frame_end_cb,
        .on_msg_recv_callback = ws_msg_cb,
    };
    if (wslay_event_context_client_init(&t->ws, &cb, t) != 0)
        return -1;
    wslay_event_config_set_no_buffering(t->ws, 1);
    /* the size check is ours (frame start callback), over the whole fragmented message */
    wslay_event_config_set_max_recv_msg_length(t->ws, UINT64_MAX >> 1);
    return 0;
}

/* Processes everything readable in t->in. */
static void t_process_input(wst *t)
{
    if (t->state == ST_HANDSHAKE) {
        int r = t_handshake_response(t);
        if (r <= 0)
            return;
        if (t_ws_init(t) != 0) {
            t_set_close(t, WSM_E_NOMEM, "out of memory");
            return;
        }
        t->state = ST_OPEN;
        if (t->deadline)
            event_del(t->deadline);
        if (t->ping_timer)
            t_arm(t->ping_timer, t->cfg.ping_interval);
        if (t->h.on_open)
            t->h.on_open(t->ud);
        if (t->state == ST_DEAD)
            return;
    }
    if ((t->state == ST_OPEN || t->state == ST_CLOSING) && t->ws) {
        if (wslay_event_recv(t->ws) != 0) {
            if (t->state != ST_DEAD)
                t_set_close(t, WSM_E_IO, "connection to %s broken: protocol error", t->url.text);
            return;
        }
        if (t->state == ST_DEAD)
            return;
        if (!wslay_event_get_read_enabled(t->ws) && !wslay_event_get_close_received(t->ws)) {
            /* wslay refused a frame (protocol error, oversize frame, bad UTF-8) and queued
             * a close frame */
            t_pump_write(t);
            t_set_close(t, WSM_E_IO, "connection to %s closed: the hub sent an invalid frame",
                        t->url.text);
            return;
        }
        t_pump_write(t);
        t_after_io(t);
    }
}

/* ------------------------------------------------------------------ bufferevent callbacks */

/* libevent 2.1 reads at most 4 KiB per read call whatever the bufferevent's max_single_read
 * (EVBUFFER_MAX_READ), so bulk data would cost one wake-up, one FIONREAD and one read per 4 KiB.
 * On plain TCP, after the bufferevent's read, take what else the socket holds (up to
 * READ_MORE bytes) into t->rbuf, which wslay reads after t->in. Returns true when it got
 * bytes. End of stream and errors are left for the bufferevent's next read to report. */
#define READ_MORE (256u << 10)
static bool t_recv_more(wst *t)
{
    evutil_socket_t fd = bufferevent_getfd(t->bev);
    if (fd < 0)
        return false;
    if (!t->rbuf && !(t->rbuf = wsm__malloc(READ_MORE)))
        return false;
    ssize_t r = recv(fd, t->rbuf, READ_MORE, MSG_DONTWAIT);
    t->rpos = 0;
    t->rlen = r > 0 ? (size_t)r : 0;
    return r > 0;
}

static bool t_read_more(wst *t)
{
    /* less than one 4 KiB read waiting: the socket was drained, save the extra call */
    if (t->ssl || !t->bev || !t->in || t->rpos < t->rlen || evbuffer_get_length(t->in) < 4096)
        return false;
    return t_recv_more(t);
}

static void t_read_cb(struct bufferevent *bev, void *arg)
{
    wst *t = arg;
    if (t->rpos < t->rlen) {
        /* wslay stopped reading before the end of t->rbuf: keep the byte order */
        evbuffer_prepend(t->in, t->rbuf + t->rpos, t->rlen - t->rpos);
        t->rpos = t->rlen = 0;
    }
    t->last_rx_us = wsm_mono_us();
    t->ping_sent_us = 0; /* any data answers a ping */
    bool more = t->state == ST_OPEN && t_read_more(t);
    t_process_input(t);
    /* the buffer came back full: a few more rounds in this wake-up (each drains what it read) */
    for (int i = 0;
         more && i < 3 && t->state == ST_OPEN && t->rlen == READ_MORE && t->rpos == t->rlen; i++) {
        more = t_recv_more(t);
        if (more)
            t_process_input(t);
    }
}

static void t_write_cb(struct bufferevent *bev, void *arg)
{
    wst *t = arg;
    t_pump_write(t);
    t_after_io(t);
}

/* The hub closed the connection after the TLS handshake, before answering the upgrade
 * request. With TLS 1.3 a hub checks the client certificate only after the client finished
 * its handshake, and its alert can be lost when it closes the socket at once (the upgrade
 * request is unread: the close becomes a reset). Names the likely cause. */
static const char *t_tls_closed(wst *t, char *buf, size_t n)
{
    bool have_cert = t->ssl && SSL_get_certificate(t->ssl) != NULL;
    if (have_cert)
        snprintf(buf, n,
                 "the hub closed the connection right after the TLS handshake (it probably "
                 "does not accept the client certificate)");
    else
        snprintf(buf, n,
                 "the hub closed the connection right after the TLS handshake (it probably "
                 "requires a client certificate: --cert-file and --key-file, or "
                 "WSMESH_CERT_FILE and WSMESH_KEY_FILE)");
    return buf;
}

static const char *t_tls_reason(wst *t, char *buf, size_t n)
{
    if (t->ssl) {
        long v = SSL_get_verify_result(t->ssl);
        if (v != X509_V_OK) {
            snprintf(buf, n, "TLS certificate verification failed: %s",
                     X509_verify_cert_error_string(v));
            return buf;
        }
    }
    /* the first error of the SSL library, else the first error */
    unsigned long e = 0, x;
    while (t->bev && (x = bufferevent_get_openssl_error(t->bev)) != 0)
        if (!e || (ERR_GET_LIB(e) != ERR_LIB_SSL && ERR_GET_LIB(x) == ERR_LIB_SSL))
            e = x;
    if (e) {
        char es[120];
        ERR_error_string_n(e, es, sizeof es);
        /* the hub's alerts about the client certificate (mutual TLS) */
        int r = ERR_GET_LIB(e) == ERR_LIB_SSL ? ERR_GET_REASON(e) : 0;
        bool have_cert = t->ssl && SSL_get_certificate(t->ssl) != NULL;
        const char *rs = ERR_reason_error_string(e);
        if (!have_cert && (r == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
                           r == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE))
            snprintf(buf, n,
                     "TLS handshake failed: the hub requires a client certificate "
                     "(--cert-file and --key-file, or WSMESH_CERT_FILE and WSMESH_KEY_FILE): %.80s",
                     rs ? rs : es);
        else if (have_cert &&
                 (r == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
                  r == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE ||
                  r == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
                  r == SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE ||
                  r == SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED ||
                  r == SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED ||
                  r == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN || r == SSL_R_TLSV1_ALERT_UNKNOWN_CA ||
                  r == SSL_R_TLSV1_ALERT_ACCESS_DENIED || r == SSL_R_TLSV1_ALERT_DECRYPT_ERROR))
            snprintf(buf, n, "TLS handshake failed: the hub refused the client certificate: %.80s",
                     rs ? rs : es);
        else if (e == SSL_ERROR_SYSCALL) /* libevent's code for a socket error, not OpenSSL's */
            return t->state == ST_HANDSHAKE ? t_tls_closed(t, buf, n) : NULL;
        else
            snprintf(buf, n, "TLS handshake failed: %s", es);
        return buf;
    }
    return NULL;
}

static void t_event_cb(struct bufferevent *bev, short what, void *arg)
{
    wst *t = arg;
    char buf[300];
    if (what & BEV_EVENT_CONNECTED) {
        /* send the upgrade request */
        unsigned char rnd[16];
        if (RAND_bytes(rnd, sizeof rnd) != 1) {
            t_set_close(t, WSM_E_INTERNAL, "no random bytes for the WebSocket key");
            return;
        }
        EVP_EncodeBlock((unsigned char *)t->key, rnd, sizeof rnd);
        bool v6 = strchr(t->url.host, ':') != NULL;
        bool dflt = t->url.port == (t->url.tls ? 443 : 80);
        char port[16] = "";
        if (!dflt)
            snprintf(port, sizeof port, ":%d", t->url.port);
        evbuffer_add_printf(bufferevent_get_output(bev),
                            "GET %s HTTP/1.1\r\nHost: %s%s%s%s\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n"
                            "User-Agent: libwsmesh/%s\r\n\r\n",
                            t->url.path, v6 ? "[" : "", t->url.host, v6 ? "]" : "", port, t->key,
                            WSM_SUBPROTOCOL, WSM_VERSION);
        t->state = ST_HANDSHAKE;
        return;
    }
    if (what & BEV_EVENT_EOF) {
        if (t->state == ST_CONNECTING || t->state == ST_HANDSHAKE) {
            const char *tls = t->url.tls ? t_tls_reason(t, buf, sizeof buf) : NULL;
            if (!tls && t->url.tls && t->state == ST_HANDSHAKE)
                tls = t_tls_closed(t, buf, sizeof buf);
            t_set_close(t, WSM_E_CONNECT, "cannot connect to %s: %s", t->url.text,
                        tls ? tls : "the server closed the connection during the handshake");
        } else if (t->state == ST_CLOSING) {
            t_set_close(t, WSM_E_CLOSED, "closed");
        } else {
            t_set_close(t, WSM_E_CLOSED, "connection to %s closed by the hub", t->url.text);
        }
        return;
    }
    if (what & BEV_EVENT_ERROR) {
        int dnserr = bufferevent_socket_get_dns_error(bev);
        int e = EVUTIL_SOCKET_ERROR();
        const char *tls = t->url.tls ? t_tls_reason(t, buf, sizeof buf) : NULL;
        const char *why = dnserr ? evutil_gai_strerror(dnserr) : tls ? tls : strerror(e);
        char lower[300];
        snprintf(lower, sizeof lower, "%s", why);
        if (!tls && !dnserr && lower[0])
            lower[0] = (char)tolower((unsigned char)lower[0]);
        if (t->state == ST_CONNECTING || t->state == ST_HANDSHAKE)
            t_set_close(t, WSM_E_CONNECT, "cannot connect to %s: %s", t->url.text, lower);
        else
            t_set_close(t, WSM_E_IO, "connection to %s lost: %s", t->url.text, lower);
    }
}

static void t_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    wst *t = arg;
    switch (t->state) {
    case ST_CONNECTING:
    case ST_HANDSHAKE:
        t_set_close(t, WSM_E_CONNECT, "cannot connect to %s: timed out after %gs", t->url.text,
                    t->cfg.connect_timeout);
        break;
    case ST_OPEN:
        if (t->ping_sent_us)
            t_set_close(t, WSM_E_TIMEOUT, "connection to %s lost: no answer to ping within %gs",
                        t->url.text, t->cfg.pong_timeout);
        break;
    case ST_CLOSING:
        t_set_close(t, WSM_E_CLOSED, "closed (the hub did not answer the close frame)");
        break;
    case ST_DEAD:
        break;
    }
}

static void t_ping_cb(evutil_socket_t fd, short what, void *arg)
{
    wst *t = arg;
    if (t->state != ST_OPEN)
        return;
    int64_t now = wsm_mono_us();
    double idle = (double)(now - t->last_rx_us) / 1e6;
    if (idle >= t->cfg.ping_interval * 0.9 && !t->ping_sent_us) {
        struct wslay_event_msg m = {
            .opcode = WSLAY_PING, .msg = (const uint8_t *)"p", .msg_length = 1};
        if (wslay_event_queue_msg(t->ws, &m) == 0) {
            t->ping_sent_us = now;
            t_arm(t->deadline, t->cfg.pong_timeout);
            t_pump_write(t);
        }
    }
    t_arm(t->ping_timer, t->cfg.ping_interval);
}

/* ------------------------------------------------------------------ public */

wst *wst_open(struct event_base *base, struct evdns_base *dns, SSL_CTX *ssl, const wst_url *u,
              const wst_config *cfg, const wst_handlers *h, void *ud)
{
    wst *t = wsm__calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->base = base;
    t->url = *u;
    t->cfg = *cfg;
    t->h = *h;
    t->ud = ud;
    t->state = ST_CONNECTING;
    t->last_rx_us = wsm_mono_us();
    t->deadline = evtimer_new(base, t_deadline_cb, t);
    t->ping_timer = evtimer_new(base, t_ping_cb, t);
    t->done_ev = event_new(base, -1, 0, t_done_cb, t);
    if (!t->deadline || !t->ping_timer || !t->done_ev)
        goto fail;
    int opts = BEV_OPT_CLOSE_ON_FREE;
    if (u->tls) {
        if (!ssl)
            goto fail;
        t->ssl = SSL_new(ssl);
        if (!t->ssl)
            goto fail;
        struct in6_addr a6;
        struct in_addr a4;
        bool ip = inet_pton(AF_INET, u->host, &a4) == 1 || inet_pton(AF_INET6, u->host, &a6) == 1;
        if (!ip)
            SSL_set_tlsext_host_name(t->ssl, u->host);
        X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);
        if (ip)
            X509_VERIFY_PARAM_set1_ip_asc(param, u->host);
        else
            X509_VERIFY_PARAM_set1_host(param, u->host, 0);
        t->bev = bufferevent_openssl_socket_new(base, -1, t->ssl, BUFFEREVENT_SSL_CONNECTING, opts);
        if (!t->bev) {
            SSL_free(t->ssl);
            t->ssl = NULL;
            goto fail;
        }
    } else {
        t->bev = bufferevent_socket_new(base, -1, opts);
        if (!t->bev)
            goto fail;
    }
    t->in = bufferevent_get_input(t->bev);
    t->out = bufferevent_get_output(t->bev);
    bufferevent_setcb(t->bev, t_read_cb, t_write_cb, t_event_cb, t);
    bufferevent_setwatermark(t->bev, EV_WRITE, OUT_LOW, 0);
    /* libevent reads/writes 4 KiB per call by default: far too many syscalls for bulk data */
    bufferevent_set_max_single_read(t->bev, 1u << 20);
    bufferevent_set_max_single_write(t->bev, 1u << 20);
    bufferevent_enable(t->bev, EV_READ | EV_WRITE);
    t_arm(t->deadline, cfg->connect_timeout);
    char port[16];
    snprintf(port, sizeof port, "%d", u->port);
    if (bufferevent_socket_connect_hostname(t->bev, dns, AF_UNSPEC, u->host, u->port) != 0) {
        /* the error (e.g. DNS) is reported through t_event_cb when possible; if the bev
         * could not even start, report it from the loop */
        if (t->state != ST_DEAD)
            t_set_close(t, WSM_E_CONNECT, "cannot connect to %s: %s", t->url.text,
                        strerror(errno ? errno : ECONNREFUSED));
    }
    return t;
fail:
    wst_free(t);
    return NULL;
}

int wst_send_buf(wst *t, wsm_buf *b)
{
    if (!t || t->state != ST_OPEN || !t->ws)
        return WSM_E_CLOSED;
    if (b->len == 0)
        return 0;
    if (wst_unsent(t) + b->len > t->cfg.max_unsent_bytes)
        return WSM_E_LIMIT;
    t_pump_write(t);
    if (!t->oq_head && t->cur_off == 0 && !wslay_event_want_write(t->ws) &&
        evbuffer_get_length(t->out) + b->len + 14 <= OUT_HIGH) {
        /* common case: frame it straight into the output, keep the caller's buffer */
        t->oq_bytes += b->len;
        struct outmsg tmp = {.data = b->data, .len = b->len};
        t->oq_head = t->oq_tail = &tmp;
        int r = write_frame(t, b->data, b->len);
        t->oq_head = t->oq_tail = NULL;
        if (r != 1) {
            t->oq_bytes -= b->len;
            return r < 0 ? WSM_E_NOMEM : WSM_E_INTERNAL;
        }
        wsm_buf_reset(b);
        return 0;
    }
    struct outmsg *m = wsm__calloc(1, sizeof *m);
    if (!m)
        return WSM_E_NOMEM;
    m->data = b->data; /* taken: no copy */
    m->len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    if (t->oq_tail)
        t->oq_tail->next = m;
    else
        t->oq_head = m;
    t->oq_tail = m;
    t->oq_bytes += m->len;
    t_pump_write(t);
    return 0;
}

void wst_recycle(wst *t, unsigned char *buf, size_t cap)
{
    if (!buf)
        return;
    if (!t || t->n_spare >= WST_SPARES || cap > (16u << 20)) {
        wsm__free(buf);
        return;
    }
    t->spare[t->n_spare].data = buf;
    t->spare[t->n_spare].cap = cap;
    t->n_spare++;
}

size_t wst_unsent(const wst *t)
{
    if (!t)
        return 0;
    size_t n = t->oq_bytes;
    if (t->ws)
        n += wslay_event_get_queued_msg_length(t->ws);
    if (t->out)
        n += evbuffer_get_length(t->out);
    return n;
}

void wst_close(wst *t, int status, const char *reason)
{
    if (!t || t->state == ST_DEAD || t->state == ST_CLOSING)
        return;
    if (t->state != ST_OPEN || !t->ws) {
        t_set_close(t, WSM_E_CLOSED, "closed before the connection was open");
        return;
    }
    t->state = ST_CLOSING;
    /* the close frame follows the data already queued */
    t->close_pending = true;
    t->close_status = status ? status : 1000;
    snprintf(t->close_text, sizeof t->close_text, "%s", reason ? reason : "");
    t_pump_write(t);
    t_arm(t->deadline, CLOSE_WAIT_S);
}

void wst_free(wst *t)
{
    if (!t)
        return;
    if (t->bev)
        bufferevent_free(t->bev);
    else if (t->ssl && !t->fuzz)
        SSL_free(t->ssl);
    if (t->deadline)
        event_free(t->deadline);
    if (t->ping_timer)
        event_free(t->ping_timer);
    if (t->done_ev)
        event_free(t->done_ev);
    if (t->ws)
        wslay_event_context_free(t->ws);
    for (int i = 0; i < t->n_spare; i++)
        wsm__free(t->spare[i].data);
    while (t->oq_head) {
        struct outmsg *m = t->oq_head;
        t->oq_head = m->next;
        wsm__free(m->data);
        wsm__free(m);
    }
    wsm_buf_free(&t->msg);
    wsm__free(t->rbuf);
    wsm__free(t);
}

int wst_feed_raw(const unsigned char *data, size_t n, size_t max_message_bytes,
                 const wst_handlers *h, void *ud)
{
    wst *t = wsm__calloc(1, sizeof *t);
    if (!t)
        return WSM_E_NOMEM;
    t->fuzz = true;
    t->h = *h;
    t->ud = ud;
    t->cfg.max_message_bytes = max_message_bytes;
    t->cfg.max_unsent_bytes = 1u << 20;
    t->state = ST_HANDSHAKE;
    snprintf(t->key, sizeof t->key, "%s", FUZZ_KEY);
    snprintf(t->url.text, sizeof t->url.text, "ws://fuzz");
    t->in = evbuffer_new();
    t->out = evbuffer_new();
    int rc = WSM_E_NOMEM;
    if (t->in && t->out && evbuffer_add(t->in, data, n) == 0) {
        t_process_input(t);
        rc = t->state == ST_DEAD ? (t->close_code ? t->close_code : WSM_E_CLOSED) : 0;
    }
    if (t->in)
        evbuffer_free(t->in);
    if (t->out)
        evbuffer_free(t->out);
    t->in = t->out = NULL;
    wst_free(t);
    return rc;
}
