/*
 * conn.h - one protocol v1 session over the transport (internal): hello/welcome, request ids
 * and their replies, batching of outgoing protocol messages into WebSocket messages, protocol
 * ping answers. Used by the service runtime and the blocking client; loop thread only.
 */
#ifndef WSM_CONN_H
#define WSM_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "jobscan.h"
#include "wsm_frame.h"
#include "wsmesh.h"

typedef struct conn conn;

/* A reply to a request: code 0 with the `ok` message, a protocol error code with the `error`
 * message (msg->hdr has "message"), or WSM_E_CLOSED with msg NULL when the connection ended
 * before the reply came. */
typedef void (*conn_reply_fn)(void *ud, int code, const wsm_msg *msg);

typedef struct conn_handlers {
    void (*on_ready)(void *ud);                 /* welcome received */
    void (*on_msg)(void *ud, const wsm_msg *m); /* anything that is not a reply or a ping */
    void (*on_down)(void *ud, int code, const char *why); /* the attempt/connection ended */
    /* Optional: a `job` message that jobscan_parse read without building a cJSON tree
     * (others still come to on_msg). msg points at its header line, js says where the members
     * are; valid during the call (conn_take_message works as in on_msg). */
    void (*on_job)(void *ud, const jobscan *js, const unsigned char *msg);
} conn_handlers;

/* Fills the defaults of wsm_options (env, timeouts, sizes) into *o. */
void conn_options_defaults(wsm_options *o);

/* The options of a new client or service: *dst = *src (dst left as is, e.g. zeroed, for a NULL
 * src), then the defaults, then the log level applied. Returns 0, or WSM_E_USAGE (err says
 * why) for a bad log_level. */
int conn_options_take(wsm_options *dst, const wsm_options *src, wsm_err *err);

/* o must already carry defaults (conn_options_defaults); strings must outlive the conn.
 * NULL with err on a bad url / ca file / no memory. */
conn *conn_new(struct event_base *base, const wsm_options *o, const char *kind,
               const conn_handlers *h, void *ud, wsm_err *err);
/* Starts a connection attempt (only while down). 0 or WSM_E_NOMEM. */
int conn_start(conn *c);
bool conn_is_ready(const conn *c);
bool conn_is_down(const conn *c);
/* A fresh request id (unique for the conn's life, across reconnects). Thread-safe. */
uint64_t conn_next_id(conn *c);
/* Sends a framed protocol message (header line + payload) whose header carries "id":"<id>"
 * (id 0 = no reply expected); it goes out in a binary frame. fn is called with
 * the reply (never from inside this call). Returns 0, WSM_E_CLOSED (not ready), WSM_E_NOMEM. */
int conn_send_framed(conn *c, uint64_t id, const unsigned char *msg, size_t n, conn_reply_fn fn,
                     void *ud);
/* Formatting a request straight into the outgoing batch (no copy of the message): conn_out
 * returns the batch buffer (NULL when the session is not ready); the caller notes
 * mark = b->len, appends exactly one complete protocol message (header line + payload) whose
 * header carries "id":"<id>" (from conn_next_id; 0 = no reply expected), and then calls
 * conn_out_commit, which registers fn for the reply and schedules the send like
 * conn_send_framed. A caller that fails while formatting sets b->len back to mark itself.
 * conn_out_commit returns 0, or WSM_E_NOMEM (the message is removed again: b->len = mark). */
wsm_buf *conn_out(conn *c);
int conn_out_commit(conn *c, size_t mark, uint64_t id, conn_reply_fn fn, void *ud);
/* Builds and sends: sets hdr's "id" when fn is not NULL (hdr is modified), frames it with the
 * payload. Returns as conn_send_framed. */
int conn_send_hdr(conn *c, cJSON *hdr, const void *payload, size_t len, conn_reply_fn fn, void *ud);
/* hold = true: the batch of outgoing messages is not sent at the end of the loop turn but kept
 * (and added to) until conn_hold(c, false) or until it reaches the batch bound; used by the
 * client to batch pipelined requests while replies to earlier ones are outstanding. */
void conn_hold(conn *c, bool hold);
/* Registers a reply callback (at most 4 per conn) that reads nothing of a successful reply
 * but its code: the hub's ok replies without payload to requests with that callback
 * are then delivered without parsing the header (msg->hdr is NULL, msg->op is "ok"). */
void conn_light_reply(conn *c, conn_reply_fn fn);
/* Bytes queued and not yet written (batch + transport). */
size_t conn_unsent(const conn *c);
/* The welcome header (borrowed) or NULL; its emit_window (default 64). */
const cJSON *conn_welcome(const conn *c);
int conn_emit_window(const conn *c);
/* Last error sentence of the connection ("" if none). */
const char *conn_errstr(const conn *c);
const char *conn_url_text(const conn *c);
/* Graceful close (close handshake); on_down follows. */
void conn_close(conn *c);
void conn_free(conn *c);

/* Processes one received WebSocket message (exposed for the fuzz target). msg may be
 * taken by an on_msg handler through conn_take_message. */
void conn_dispatch(conn *c, wsm_buf *msg);
/* During on_msg: if the current WebSocket message holds only the message being handled,
 * takes the whole receive buffer (so that its payload can be kept without a copy: m->payload
 * points into it) and returns it, its allocated size in *cap; otherwise NULL. Give it back
 * with conn_recycle (or wsm__free()). */
unsigned char *conn_take_message(conn *c, size_t *cap);
/* Returns a buffer from conn_take_message for reuse by later messages (or frees it). */
void conn_recycle(conn *c, unsigned char *buf, size_t cap);
/* During on_msg: takes the parsed header of the message being handled (the caller frees it
 * with cJSON_Delete; m->op and other borrowed strings stay valid as long as it lives). */
cJSON *conn_take_header(conn *c);
/* A conn without network for fuzzing conn_dispatch: no sends happen. */
conn *conn_new_detached(const conn_handlers *h, void *ud);

#endif
