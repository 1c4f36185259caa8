/*
 * transport.h - the adapter's WebSocket client transport (internal interface).
 *
 * One wst is one connection attempt and, once open, one WebSocket connection: TCP or TLS
 * through a libevent bufferevent, the RFC 6455 client handshake (subprotocol wsmesh.v1), wslay
 * framing in no-buffering mode with messages assembled in one reused buffer, pings with a pong
 * deadline, the close handshake, and a bound on unsent bytes. Everything runs on the thread of
 * the event_base. Callbacks are never called from inside wst_* calls: they come from the loop.
 */
#ifndef WSM_TRANSPORT_H
#define WSM_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "wsm_common.h"

typedef struct wst wst;

typedef struct wst_url {
    bool tls;
    char host[256]; /* without brackets for IPv6 literals */
    int port;
    char path[512];
    char text[300]; /* for messages: "ws://host:port" as given, without the path */
} wst_url;

/* Parses ws://host[:port][/path] or wss://...; path default /ws. 0 or WSM_E_USAGE (err set). */
int wst_parse_url(const char *url, wst_url *out, wsm_err *err);

/* A TLS client context that verifies peers against ca_file (PEM; NULL: system default CAs) and,
 * when cert_file is not NULL, presents that PEM certificate (chain) with the private key from
 * key_file (NULL: from cert_file) for mutual TLS. NULL with err set on failure: WSM_E_USAGE
 * naming the file and the reason (unreadable, not PEM, key not matching the certificate, a key
 * without a certificate), WSM_E_NOMEM. Free with SSL_CTX_free. */
SSL_CTX *wst_ssl_ctx_new(const char *ca_file, const char *cert_file, const char *key_file,
                         wsm_err *err);

typedef struct wst_config {
    double connect_timeout;   /* seconds for TCP + TLS + handshake */
    double ping_interval;     /* seconds of silence before a ping */
    double pong_timeout;      /* seconds to wait for any data after a ping */
    size_t max_message_bytes; /* larger incoming messages close the connection with 1009 */
    size_t max_unsent_bytes;  /* wst_send refuses beyond this */
} wst_config;

typedef struct wst_handlers {
    /* The handshake succeeded; wst_send may be used. */
    void (*on_open)(void *ud);
    /* One complete WebSocket message in msg (msg->len bytes; msg->data may be NULL when
     * empty). Valid only during the call, except that the callee may take msg->data (then it
     * sets msg->data = NULL and msg->len = msg->cap = 0, and frees it with wsm__free()). */
    void (*on_message)(void *ud, wsm_buf *msg, bool binary);
    /* The connection ended or could not be made; called once. code is WSM_E_CONNECT (never
     * opened), WSM_E_TIMEOUT, WSM_E_TOO_LARGE, WSM_E_CLOSED (closed by either side) or
     * WSM_E_IO; reason is a sentence ("connection refused", "closed by the hub (1000)").
     * The wst must then be freed with wst_free (not from inside this callback's caller). */
    void (*on_closed)(void *ud, int code, const char *reason);
} wst_handlers;

/* Starts connecting (DNS through dns, may be NULL for IP literals). ssl is required for wss://
 * (borrowed; must outlive the wst). Returns NULL only on allocation failure. */
wst *wst_open(struct event_base *base, struct evdns_base *dns, SSL_CTX *ssl, const wst_url *u,
              const wst_config *cfg, const wst_handlers *h, void *ud);

/* Queues one WebSocket message. The data in *b is taken (b is left empty, its buffer may be
 * kept for reuse when the message is small) and sent as a binary frame.
 * Returns 0, WSM_E_CLOSED (not open), WSM_E_LIMIT (unsent bytes would exceed the bound),
 * WSM_E_NOMEM. */
int wst_send_buf(wst *t, wsm_buf *b);
/* Gives back a receive buffer taken from on_message (cap = its allocated size) for reuse by
 * later messages (at most WST_SPARES are kept; the rest is freed). Accepts NULL buf. */
#define WST_SPARES 4
void wst_recycle(wst *t, unsigned char *buf, size_t cap);
/* Bytes accepted by wst_send_buf that have not been written to the socket yet. */
size_t wst_unsent(const wst *t);
/* Starts the close handshake (status 1000 if 0); on_closed follows. Safe in any state. */
void wst_close(wst *t, int status, const char *reason);
/* Frees immediately, without callbacks. Accepts NULL. */
void wst_free(wst *t);

/* Fuzzing/testing entry: feeds raw bytes as if received from a server that accepted the
 * handshake with the given key (so the bytes start with the HTTP response), delivering complete
 * messages to on_message. No socket is involved. Returns 0 if the input was accepted as a whole,
 * or the code the connection would have been closed with. */
int wst_feed_raw(const unsigned char *data, size_t n, size_t max_message_bytes,
                 const wst_handlers *h, void *ud);

#endif
