/*
 * test_adapter.c - unit tests of libwsmesh's pure parts: URL parsing, the shared command line,
 * the transport's handshake check and frame assembly (fed from memory through wst_feed_raw:
 * fragmentation, interleaved control frames, oversize, masked and reserved-bit frames), the
 * session's dispatch of batched protocol messages and reply routing, the one-pass job header
 * scanner (jobscan: what it reads, what it leaves to the general path), the direct JSON
 * writer of request headers (jsonw: strings, values and the enqueue message against cJSON's
 * printer and parser, invalid UTF-8 refused), and wsm_strerror.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "jsonw.h"
#include "transport.h"
#include "wsm_test.h"
#include "wsmesh.h"

/* the accept value for the fixed key transport.c uses in wst_feed_raw (RFC 6455 §1.3) */
#define OK_RESPONSE                                                                                \
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"            \
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"                                       \
    "Sec-WebSocket-Protocol: wsmesh.v1\r\n\r\n"

TEST(url_parsing)
{
    wst_url u;
    wsm_err e;
    CHECK_EQ_INT(wst_parse_url("ws://127.0.0.1:7700/ws", &u, &e), 0);
    CHECK_STR(u.host, "127.0.0.1");
    CHECK_EQ_INT(u.port, 7700);
    CHECK_STR(u.path, "/ws");
    CHECK(!u.tls);
    CHECK_STR(u.text, "ws://127.0.0.1:7700");
    CHECK_EQ_INT(wst_parse_url("wss://hub.example", &u, &e), 0);
    CHECK(u.tls);
    CHECK_EQ_INT(u.port, 443);
    CHECK_STR(u.path, "/ws");
    CHECK_EQ_INT(wst_parse_url("ws://[::1]:9/x/y", &u, &e), 0);
    CHECK_STR(u.host, "::1");
    CHECK_EQ_INT(u.port, 9);
    CHECK_STR(u.path, "/x/y");
    CHECK_EQ_INT(wst_parse_url("ws://h/", &u, &e), 0);
    CHECK_STR(u.path, "/ws");
    const char *bad[] = {"",           "http://h",  "ws://",      "ws://h:0",   "ws://h:70000",
                         "ws://h:12x", "ws://[::1", "ws://h?q=1", "ws://h/a b", NULL};
    for (int i = 0; bad[i]; i++) {
        e.code = 0;
        CHECK_EQ_INT(wst_parse_url(bad[i], &u, &e), WSM_E_USAGE);
        CHECK(e.msg[0] != 0);
    }
    CHECK_EQ_INT(wst_parse_url(NULL, &u, &e), WSM_E_USAGE);
}

TEST(options_parse)
{
    char a0[] = "svc", a1[] = "--url", a2[] = "ws://h:1/ws", a3[] = "--burst", a4[] = "--own",
         a5[] = "--concurrency=3", a6[] = "x", a7[] = "--max-jobs", a8[] = "5",
         a9[] = "--log-level", a10[] = "debug", a11[] = "--ca-file", a12[] = "ca.pem";
    char *argv[] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, NULL};
    int argc = 13;
    wsm_options o = {0};
    CHECK_EQ_INT(wsm_options_parse(&o, &argc, argv, NULL), 0);
    CHECK_STR(o.url, "ws://h:1/ws");
    CHECK(o.burst);
    CHECK_EQ_INT(o.concurrency, 3);
    CHECK_EQ_INT(o.max_jobs, 5);
    CHECK_STR(o.log_level, "debug");
    CHECK_STR(o.ca_file, "ca.pem");
    CHECK_EQ_INT(argc, 3); /* svc --own x */
    CHECK_STR(argv[1], "--own");
    CHECK_STR(argv[2], "x");

    char b0[] = "svc", b1[] = "--concurrency", b2[] = "zero";
    char *bv[] = {b0, b1, b2, NULL};
    int bc = 3;
    wsm_options o2 = {0};
    CHECK_EQ_INT(wsm_options_parse(&o2, &bc, bv, NULL), 2);
    char c0[] = "svc", c1[] = "--token";
    char *cv[] = {c0, c1, NULL};
    int cc = 2;
    CHECK_EQ_INT(wsm_options_parse(&o2, &cc, cv, NULL), 2);
    char d0[] = "svc", d1[] = "--log-level", d2[] = "loud";
    char *dv[] = {d0, d1, d2, NULL};
    int dc = 3;
    CHECK_EQ_INT(wsm_options_parse(&o2, &dc, dv, NULL), 2);

    setenv("WSMESH_URL", "ws://from-env:2/ws", 1);
    setenv("WSMESH_TOKEN", "tok", 1);
    char e0[] = "svc";
    char *ev[] = {e0, NULL};
    int ec = 1;
    wsm_options o3 = {0};
    CHECK_EQ_INT(wsm_options_parse(&o3, &ec, ev, NULL), 0);
    CHECK_STR(o3.url, "ws://from-env:2/ws");
    CHECK_STR(o3.token, "tok");
    unsetenv("WSMESH_URL");
    unsetenv("WSMESH_TOKEN");
    wsm_options o4 = {0};
    conn_options_defaults(&o4);
    CHECK_STR(o4.url, WSM_DEFAULT_URL);
    CHECK_EQ_INT(o4.concurrency, 1);
    CHECK_EQ_INT(o4.prefetch, 1);
}

/* ---- transport: frames from memory */

struct got {
    int n;
    size_t total;
    bool binary[16];
    size_t len[16];
    unsigned char first[16];
};

static void got_msg(void *ud, wsm_buf *msg, bool binary)
{
    struct got *g = ud;
    const unsigned char *d = msg->data;
    size_t n = msg->len;
    if (g->n < 16) {
        g->binary[g->n] = binary;
        g->len[g->n] = n;
        g->first[g->n] = n ? d[0] : 0;
    }
    g->n++;
    g->total += n;
}

/* Appends an unmasked server frame. */
static void frame(wsm_buf *b, int fin, int op, const void *p, size_t n)
{
    unsigned char h[10];
    size_t hl = 2;
    h[0] = (unsigned char)((fin ? 0x80 : 0) | op);
    if (n < 126) {
        h[1] = (unsigned char)n;
    } else if (n < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    wsm_buf_append(b, h, hl);
    wsm_buf_append(b, p, n);
}

static int feed(wsm_buf *b, size_t max, struct got *g)
{
    memset(g, 0, sizeof *g);
    wst_handlers h = {.on_message = got_msg};
    return wst_feed_raw(b->data, b->len, max, &h, g);
}

TEST(transport_frames)
{
    wsm_buf b = WSM_BUF_INIT;
    struct got g;
    /* one text message, then a binary message in three fragments with a ping between */
    wsm_buf_append_str(&b, OK_RESPONSE);
    frame(&b, 1, 1, "{\"op\":\"x\"}\n", 11);
    frame(&b, 0, 2, "ab", 2);
    frame(&b, 1, 9, "pi", 2); /* ping inside a fragmented message */
    frame(&b, 0, 0, "cd", 2);
    frame(&b, 1, 0, "ef", 2);
    CHECK_EQ_INT(feed(&b, 1 << 20, &g), 0);
    CHECK_EQ_INT(g.n, 2);
    CHECK(!g.binary[0]);
    CHECK_EQ_INT(g.len[0], 11);
    CHECK(g.binary[1]);
    CHECK_EQ_INT(g.len[1], 6);
    CHECK_EQ_INT(g.first[1], 'a');

    /* a 100 KB message (64-bit length form would be >= 64 KiB) */
    wsm_buf_reset(&b);
    wsm_buf_append_str(&b, OK_RESPONSE);
    unsigned char *big = calloc(1, 100000);
    frame(&b, 1, 2, big, 100000);
    CHECK_EQ_INT(feed(&b, 1 << 20, &g), 0);
    CHECK_EQ_INT(g.n, 1);
    CHECK_EQ_INT(g.len[0], 100000);
    /* over the limit, in one frame and across fragments */
    CHECK_EQ_INT(feed(&b, 99999, &g), WSM_E_TOO_LARGE);
    CHECK_EQ_INT(g.n, 0);
    wsm_buf_reset(&b);
    wsm_buf_append_str(&b, OK_RESPONSE);
    frame(&b, 0, 2, big, 60000);
    frame(&b, 1, 0, big, 60000);
    CHECK_EQ_INT(feed(&b, 100000, &g), WSM_E_TOO_LARGE);
    CHECK_EQ_INT(g.n, 0);
    free(big);

    /* a masked frame from the server is a protocol error */
    wsm_buf_reset(&b);
    wsm_buf_append_str(&b, OK_RESPONSE);
    unsigned char masked[] = {0x81, 0x82, 1, 2, 3, 4, 'a' ^ 1, 'b' ^ 2};
    wsm_buf_append(&b, masked, sizeof masked);
    CHECK(feed(&b, 1 << 20, &g) != 0);
    CHECK_EQ_INT(g.n, 0);
    /* reserved bits set (no extension negotiated) */
    wsm_buf_reset(&b);
    wsm_buf_append_str(&b, OK_RESPONSE);
    unsigned char rsv[] = {0xC1, 0x01, 'a'};
    wsm_buf_append(&b, rsv, sizeof rsv);
    CHECK(feed(&b, 1 << 20, &g) != 0);
    /* invalid UTF-8 in a text frame */
    wsm_buf_reset(&b);
    wsm_buf_append_str(&b, OK_RESPONSE);
    frame(&b, 1, 1, "\xff\xfe", 2);
    CHECK(feed(&b, 1 << 20, &g) != 0);
    CHECK_EQ_INT(g.n, 0);
    /* a continuation without a start */
    wsm_buf_reset(&b);
    wsm_buf_append_str(&b, OK_RESPONSE);
    frame(&b, 1, 0, "x", 1);
    CHECK(feed(&b, 1 << 20, &g) != 0);
    /* the hub closes: no error message, just closed */
    wsm_buf_reset(&b);
    wsm_buf_append_str(&b, OK_RESPONSE);
    frame(&b, 1, 8, "\x03\xe8", 2);
    int rc = feed(&b, 1 << 20, &g);
    CHECK(rc == 0 || rc == WSM_E_CLOSED);
    wsm_buf_free(&b);
}

TEST(transport_handshake)
{
    wsm_buf b = WSM_BUF_INIT;
    struct got g;
    const char *bad[] = {
        "HTTP/1.1 404 Not Found\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: "
        "chat\r\n\r\n",
        "SSH-2.0-OpenSSH\r\n\r\n",
        NULL};
    for (int i = 0; bad[i]; i++) {
        wsm_buf_reset(&b);
        wsm_buf_append_str(&b, bad[i]);
        frame(&b, 1, 1, "x", 1);
        CHECK_EQ_INT(feed(&b, 1 << 20, &g), WSM_E_CONNECT);
        CHECK_EQ_INT(g.n, 0);
    }
    /* incomplete response: waits (no error, no message) */
    wsm_buf_reset(&b);
    wsm_buf_append_str(&b, "HTTP/1.1 101 Switching");
    CHECK_EQ_INT(feed(&b, 1 << 20, &g), 0);
    /* headers without the optional subprotocol line are accepted; extra whitespace too */
    wsm_buf_reset(&b);
    wsm_buf_append_str(&b, "HTTP/1.1 101 OK\r\nupgrade:  WebSocket \r\nconnection: keep-alive, "
                           "Upgrade\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
    frame(&b, 1, 1, "x", 1);
    CHECK_EQ_INT(feed(&b, 1 << 20, &g), 0);
    CHECK_EQ_INT(g.n, 1);
    /* an endless header block is refused */
    wsm_buf_reset(&b);
    wsm_buf_append_str(&b, "HTTP/1.1 101 OK\r\n");
    for (int i = 0; i < 2000; i++)
        wsm_buf_append_str(&b, "X-Pad: aaaaaaaaaaa\r\n");
    CHECK_EQ_INT(feed(&b, 1 << 20, &g), WSM_E_CONNECT);
    wsm_buf_free(&b);
}

/* ---- session dispatch */

struct seen {
    int msgs;
    char ops[8][16];
    int replies;
    int last_code;
};

/* Dispatches a copy of p[0..n) as one WebSocket message. */
static void dispatch(conn *c, const char *p, size_t n)
{
    wsm_buf b = WSM_BUF_INIT;
    wsm_buf_append(&b, p, n);
    conn_dispatch(c, &b);
    wsm_buf_free(&b);
}

static void seen_msg(void *ud, const wsm_msg *m)
{
    struct seen *s = ud;
    if (s->msgs < 8)
        snprintf(s->ops[s->msgs], sizeof s->ops[0], "%s", m->op);
    s->msgs++;
}

static void seen_reply(void *ud, int code, const wsm_msg *m)
{
    struct seen *s = ud;
    s->replies++;
    s->last_code = code;
}

TEST(conn_dispatch_batches)
{
    struct seen s = {0};
    conn_handlers h = {.on_msg = seen_msg};
    conn *c = conn_new_detached(&h, &s);
    CHECK(c != NULL);
    const char batch[] = "{\"op\":\"job\",\"job_id\":\"a\",\"len\":3}\nxyz"
                         "{\"op\":\"event\",\"topic\":\"t\"}\n"
                         "{\"op\":\"ping\",\"id\":\"7\"}\n"
                         "{\"op\":\"stop\",\"job_id\":\"a\"}\n";
    dispatch(c, batch, sizeof batch - 1);
    CHECK_EQ_INT(s.msgs, 3); /* ping is answered by the session itself */
    CHECK_STR(s.ops[0], "job");
    CHECK_STR(s.ops[1], "event");
    CHECK_STR(s.ops[2], "stop");

    /* replies are routed by ref to the request's callback, once */
    cJSON *req = cJSON_Parse("{\"op\":\"query\",\"what\":\"hub\"}");
    CHECK_EQ_INT(conn_send_hdr(c, req, NULL, 0, seen_reply, &s), 0);
    const char *id = cJSON_GetObjectItemCaseSensitive(req, "id")->valuestring;
    char ok[128], er[160];
    snprintf(ok, sizeof ok, "{\"op\":\"ok\",\"ref\":\"%s\",\"result\":{}}\n", id);
    dispatch(c, ok, strlen(ok));
    CHECK_EQ_INT(s.replies, 1);
    CHECK_EQ_INT(s.last_code, 0);
    dispatch(c, ok, strlen(ok)); /* duplicate reply: ignored */
    CHECK_EQ_INT(s.replies, 1);
    CHECK_EQ_INT(conn_send_hdr(c, req, NULL, 0, seen_reply, &s), 0);
    id = cJSON_GetObjectItemCaseSensitive(req, "id")->valuestring;
    snprintf(er, sizeof er,
             "{\"op\":\"error\",\"ref\":\"%s\",\"code\":\"NO_SUCH_JOB\",\"message\":\"m\"}\n", id);
    dispatch(c, er, strlen(er));
    CHECK_EQ_INT(s.replies, 2);
    CHECK_EQ_INT(s.last_code, WSM_E_NO_SUCH_JOB);
    cJSON_Delete(req);

    /* a framing error stops at the bad message; earlier ones were delivered */
    int before = s.msgs;
    const char bad[] = "{\"op\":\"event\"}\n{not json}\n{\"op\":\"event\"}\n";
    dispatch(c, bad, sizeof bad - 1);
    CHECK_EQ_INT(s.msgs, before + 1);
    conn_free(c);
}

TEST(options_client_cert)
{
    char a0[] = "svc", a1[] = "--cert-file", a2[] = "c.pem", a3[] = "--key-file=k.pem";
    char *argv[] = {a0, a1, a2, a3, NULL};
    int argc = 4;
    wsm_options o = {0};
    CHECK_EQ_INT(wsm_options_parse(&o, &argc, argv, NULL), 0);
    CHECK_STR(o.cert_file, "c.pem");
    CHECK_STR(o.key_file, "k.pem");
    CHECK_EQ_INT(argc, 1);
    /* the environment fills what the options leave unset; empty means unset */
    setenv("WSMESH_CERT_FILE", "env-c.pem", 1);
    setenv("WSMESH_KEY_FILE", "", 1);
    wsm_options d = {0};
    conn_options_defaults(&d);
    CHECK_STR(d.cert_file, "env-c.pem");
    CHECK(d.key_file == NULL);
    conn_options_defaults(&o);
    CHECK_STR(o.cert_file, "c.pem");
    unsetenv("WSMESH_CERT_FILE");
    unsetenv("WSMESH_KEY_FILE");
    /* bad files are usage errors naming the file (no connection attempted) */
    wsm_err e = {0};
    wsm_options m = {.url = "wss://127.0.0.1:1/ws", .cert_file = "/nonexistent/c.pem"};
    CHECK(wsm_client_connect(&m, &e) == NULL);
    CHECK_EQ_INT(e.code, WSM_E_USAGE);
    CHECK(strstr(e.msg, "/nonexistent/c.pem") != NULL);
    wsm_options k = {.url = "wss://127.0.0.1:1/ws", .key_file = "k.pem"};
    CHECK(wsm_service_new(&k, &e) == NULL);
    CHECK_EQ_INT(e.code, WSM_E_USAGE);
    CHECK(strstr(e.msg, "without a client certificate") != NULL);
}

static bool scan(const char *text, jobscan *js)
{
    return jobscan_parse((const unsigned char *)text, strlen(text), 0, js);
}

static bool span_is(const char *text, js_span sp, const char *want)
{
    return sp.off && sp.len == strlen(want) && memcmp(text + sp.off, want, sp.len) == 0;
}

TEST(jobscan_shapes)
{
    jobscan js;
    /* the hub's compact form: every member read, values kept as their text */
    const char *h =
        "{\"op\":\"job\",\"job_id\":\"a1.0\",\"queue\":\"q\",\"attempt\":3,"
        "\"deadline_at\":1700000000123,\"args\":{\"i\":[1,-2.5e3,\"x\\\"y\"],\"t\":true},"
        "\"meta\":null,\"key\":\"k\",\"state\":{\"n\":1},\"parent\":\"a1\",\"root\":\"a\","
        "\"enqueued_at\":5,\"content_type\":\"application/octet-stream\","
        "\"payload_meta\":{},\"len\":3,\"future\":[{}]}\nxyz";
    CHECK(scan(h, &js));
    CHECK(span_is(h, js.job_id, "a1.0"));
    CHECK(span_is(h, js.queue, "q"));
    CHECK(span_is(h, js.key, "k"));
    CHECK(span_is(h, js.parent, "a1"));
    CHECK(span_is(h, js.root, "a"));
    CHECK(span_is(h, js.content_type, "application/octet-stream"));
    CHECK(span_is(h, js.args, "{\"i\":[1,-2.5e3,\"x\\\"y\"],\"t\":true}"));
    CHECK(span_is(h, js.meta, "null"));
    CHECK(span_is(h, js.state, "{\"n\":1}"));
    CHECK(span_is(h, js.payload_meta, "{}"));
    CHECK_EQ_INT(js.attempt, 3);
    CHECK(js.deadline_at == 1700000000123LL);
    CHECK_EQ_INT(js.len, 3);
    CHECK_EQ_INT(js.total, strlen(h));
    /* minimal: attempt defaults to 1, absent members are absent */
    CHECK(scan("{\"op\":\"job\",\"job_id\":\"\",\"queue\":\"q\"}\n", &js));
    CHECK_EQ_INT(js.attempt, 1);
    CHECK(js.args.off == 0 && js.key.off == 0 && js.len == 0 && js.job_id.len == 0);

    /* everything else goes to the general path (which gives the same result or the error) */
    static const char *const general[] = {
        "{\"op\":\"stop\",\"job_id\":\"a\",\"queue\":\"q\"}\n",       /* another op */
        "{\"op\":\"job\", \"job_id\":\"a\",\"queue\":\"q\"}\n",       /* whitespace */
        "{\"op\":\"job\",\"job_id\":\"a\",\"queue\":\"q\"} \n",       /* trailing */
        "{\"op\":\"job\",\"job_id\":\"a\\u0062\",\"queue\":\"q\"}\n", /* escape */
        "{\"op\":\"job\",\"job_id\":\"a\",\"queue\":\"q\",\"args\":\"\\u0000\"}\n",
        "{\"op\":\"job\",\"job_id\":\"a\",\"job_id\":\"b\",\"queue\":\"q\"}\n", /* dup */
        "{\"op\":\"job\",\"job_id\":\"a\",\"queue\":\"q\",\"ref\":\"1\"}\n",    /* a reply? */
        "{\"op\":\"job\",\"job_id\":\"a\",\"queue\":\"q\",\"op\":\"x\"}\n",
        "{\"op\":\"job\",\"job_id\":1,\"queue\":\"q\"}\n", /* type */
        "{\"op\":\"job\",\"queue\":\"q\"}\n",              /* required */
        "{\"op\":\"job\",\"job_id\":\"a\",\"queue\":\"q\",\"attempt\":0}\n",
        "{\"op\":\"job\",\"job_id\":\"a\",\"queue\":\"q\",\"attempt\":1.0}\n",
        "{\"op\":\"job\",\"job_id\":\"a\",\"queue\":\"q\",\"attempt\":null}\n",
        "{\"op\":\"job\",\"job_id\":\"a\",\"queue\":\"q\",\"len\":-1}\n",
        "{\"op\":\"job\",\"job_id\":\"a\",\"queue\":\"q\",\"len\":4}\nxyz", /* short */
        "{\"op\":\"job\",\"job_id\":\"a\",\"queue\":\"q\",\"args\":{\"a\":01}}\n",
        "{\"op\":\"job\",\"job_id\":\"a\",\"queue\":\"q\",\"args\":[1,]}\n",
        "{\"op\":\"job\",\"job_id\":\"a\",\"queue\":\"q\",\"args\":tru}\n",
        "{\"op\":\"job\",\"job_id\":\"a\",\"queue\":\"q\",\"key\":\"a\tb\"}\n", /* raw tab */
        "{\"op\":\"job\",\"job_id\":\"a\",\"queue\":\"q\"}",                    /* no newline */
        ("{\"op\":\"job\",\"job_id\":\"a\",\"queue\":\"q\",\"args\":1111111111111111111111111"
         "111111111111111111111111111111111111111111111111111}\n"), /* cJSON reads 63 chars */
    };
    for (size_t i = 0; i < sizeof general / sizeof general[0]; i++) {
        if (scan(general[i], &js)) {
            fprintf(stderr, "jobscan accepted %s\n", general[i]);
            CHECK(0);
        }
    }
    char deep[400] = "{\"op\":\"job\",\"job_id\":\"a\",\"queue\":\"q\",\"args\":";
    for (int i = 0; i < 100; i++)
        strcat(deep, "[");
    for (int i = 0; i < 100; i++)
        strcat(deep, "]");
    strcat(deep, "}\n");
    CHECK(!scan(deep, &js));
    /* the header bound applies as in wsm_frame_next */
    const char *small = "{\"op\":\"job\",\"job_id\":\"a\",\"queue\":\"q\"}\n";
    CHECK(!jobscan_parse((const unsigned char *)small, strlen(small), 10, &js));
}

struct jobs_seen {
    int fast, general;
};

static void js_on_job(void *ud, const jobscan *js, const unsigned char *msg)
{
    ((struct jobs_seen *)ud)->fast++;
}

static void js_on_msg(void *ud, const wsm_msg *m)
{
    if (strcmp(m->op, "job") == 0)
        ((struct jobs_seen *)ud)->general++;
}

TEST(conn_dispatch_jobscan)
{
    struct jobs_seen s = {0};
    conn_handlers h = {.on_msg = js_on_msg, .on_job = js_on_job};
    conn *c = conn_new_detached(&h, &s);
    CHECK(c != NULL);
    const char batch[] = "{\"op\":\"job\",\"job_id\":\"a\",\"queue\":\"q\",\"len\":2}\nxy"
                         "{\"op\":\"job\", \"job_id\":\"b\",\"queue\":\"q\"}\n"
                         "{\"op\":\"job\",\"job_id\":\"c\",\"queue\":\"q\"}\n";
    dispatch(c, batch, sizeof batch - 1);
    CHECK_EQ_INT(s.fast, 2);
    CHECK_EQ_INT(s.general, 1);
    conn_free(c);
}

struct light_seen {
    int fast, general;
    size_t last_len;
};

static void light_seen_reply(void *ud, int code, const wsm_msg *m)
{
    struct light_seen *ls = ud;
    if (code == 0 && m && !m->hdr)
        ls->fast++;
    else if (code == 0 && m)
        ls->general++, ls->last_len = m->len;
}

/* conn_light_reply: plain `ok` replies skip the parser; anything cJSON could read as a "len"
 * member (a payload follows) takes the general path, so both agree on where messages end. */
TEST(conn_fast_ok)
{
    struct light_seen ls = {0};
    conn_handlers h = {0};
    conn *c = conn_new_detached(&h, NULL);
    CHECK(c != NULL);
    conn_light_reply(c, light_seen_reply);
    for (uint64_t id = 1; id <= 5; id++)
        CHECK_EQ_INT(
            conn_send_framed(c, id, (const unsigned char *)"{}\n", 3, light_seen_reply, &ls), 0);
    static const char batch[] =
        "{\"op\":\"ok\",\"ref\":\"1\",\"job_id\":\"a\",\"status\":\"queued\"}\n"
        "{\"op\":\"ok\",\"ref\":\"2\",\"len\":2}\nxy"
        "{\"op\":\"ok\",\"ref\":\"3\",\"len\\u0000\":0,\"x\":1}\n"
        "{\"op\":\"ok\",\"ref\":\"4\",\"l\\u0065n\":1}\nz"
        "{\"op\":\"ok\",\"ref\":\"5\"}\n";
    dispatch(c, batch, sizeof batch - 1);
    CHECK_EQ_INT(ls.fast, 2);    /* 1 and 5 */
    CHECK_EQ_INT(ls.general, 3); /* 2, 3 and 4, whose payloads were skipped */
    CHECK_EQ_INT((int)ls.last_len, 1);
    /* a raw NUL after the name: cJSON reads the name as "len" */
    CHECK_EQ_INT(conn_send_framed(c, 6, (const unsigned char *)"{}\n", 3, light_seen_reply, &ls),
                 0);
    static const char nul[] = "{\"op\":\"ok\",\"ref\":\"6\",\"len\0\":1}\nq";
    dispatch(c, nul, sizeof nul - 1);
    CHECK_EQ_INT(ls.fast, 2);
    CHECK_EQ_INT(ls.general, 4);
    conn_free(c);
}

/* jw_str writes exactly what cJSON prints for valid UTF-8 strings. */
TEST(jsonw_strings)
{
    static const char *const ok[] = {
        "",
        "plain",
        "quote\" back\\slash /",
        "\b\f\n\r\t",
        "\x01\x02\x1f\x7f end",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e \xf4\x8f\xbf\xbf \xed\x9f\xbf \xef\xbf\xbf",
        "0123456789abcdef0123456789abcdef\"0123456789abcdef\x05",
        "long run without escapes, >8 bytes",
        "\xc2\x80\xdf\xbf\xe0\xa0\x80\xf0\x90\x80\x80"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        wsm_buf b = WSM_BUF_INIT;
        wsm_buf_append(&b, "x", 1);
        CHECK_EQ_INT(jw_str(&b, ok[i]), 0);
        cJSON *v = cJSON_CreateString(ok[i]);
        char *want = cJSON_PrintUnformatted(v);
        CHECK_EQ_INT((int)b.len, (int)strlen(want) + 1);
        CHECK(memcmp(b.data + 1, want, b.len - 1) == 0);
        wsm_buf_append(&b, "", 1);
        cJSON *back = cJSON_Parse((char *)b.data + 1);
        CHECK(cJSON_IsString(back) && strcmp(back->valuestring, ok[i]) == 0);
        cJSON_Delete(back);
        cJSON_free(want);
        cJSON_Delete(v);
        wsm_buf_free(&b);
    }
    /* not UTF-8: refused, nothing appended */
    static const char *const bad[] = {"\xff",
                                      "a\x80",
                                      "\xc0\x80",
                                      "\xc1\xbf",
                                      "\xe0\x80\x80",
                                      "\xed\xa0\x80",
                                      "\xf4\x90\x80\x80",
                                      "\xf5\x80\x80\x80",
                                      "\xe2\x82",
                                      "\xe2\x82x",
                                      "0123456789\xf0\x9d\x84"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wsm_buf b = WSM_BUF_INIT;
        wsm_buf_append(&b, "xy", 2);
        CHECK_EQ_INT(jw_str(&b, bad[i]), WSM_E_USAGE);
        CHECK_EQ_INT((int)b.len, 2);
        wsm_buf_free(&b);
    }
}

/* jw_value reads back (cJSON_Parse) as the same value; text equals cJSON's where cJSON
 * prints numbers exactly (integers). */
TEST(jsonw_values)
{
    static const char *const docs[] = {
        "{}",
        "[]",
        "null",
        "true",
        "false",
        "0",
        "-7",
        "123456789012",
        "\"s\"",
        "{\"a\":[1,2,[3,{\"b\":null}]],\"c\":{\"d\":\"\\u00e9\\n\"},\"e\":[],\"f\":{}}",
        "[1.5,-0.25,1e300,-1e-300,0.1,1e-7,123456.789,9007199254740993,4.9e-324]",
        "{\"k\\\"ey\":\"v\",\"\":1,\"\\u0001\":[true,false]}"};
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        cJSON *v = cJSON_Parse(docs[i]);
        CHECK(v != NULL);
        wsm_buf b = WSM_BUF_INIT;
        CHECK_EQ_INT(jw_value(&b, v), 0);
        wsm_buf_append(&b, "", 1);
        cJSON *back = cJSON_Parse((char *)b.data);
        CHECK(back != NULL && cJSON_Compare(v, back, 1));
        if (i < 10) {
            char *want = cJSON_PrintUnformatted(v);
            CHECK_STR((char *)b.data, want);
            cJSON_free(want);
        }
        cJSON_Delete(back);
        cJSON_Delete(v);
        wsm_buf_free(&b);
    }
    /* non-finite numbers are null (as cJSON prints them), raw text goes as is */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "nan", 0.0 / 0.0);
    cJSON_AddNumberToObject(o, "inf", 1.0 / 0.0);
    cJSON_AddRawToObject(o, "raw", "[1,2]");
    wsm_buf b = WSM_BUF_INIT;
    CHECK_EQ_INT(jw_value(&b, o), 0);
    wsm_buf_append(&b, "", 1);
    CHECK_STR((char *)b.data, "{\"nan\":null,\"inf\":null,\"raw\":[1,2]}");
    /* invalid UTF-8 deep inside, in a member name, an invalid item: refused, b unchanged */
    wsm_buf_reset(&b);
    cJSON *inner = cJSON_AddArrayToObject(o, "deep");
    cJSON_AddItemToArray(inner, cJSON_CreateString("ok\xc3"));
    CHECK_EQ_INT(jw_value(&b, o), WSM_E_USAGE);
    CHECK_EQ_INT((int)b.len, 0);
    cJSON_Delete(o);
    o = cJSON_CreateObject();
    cJSON_AddNullToObject(o, "\xff");
    CHECK_EQ_INT(jw_value(&b, o), WSM_E_USAGE);
    cJSON_Delete(o);
    cJSON inv = {.type = cJSON_Invalid};
    CHECK_EQ_INT(jw_value(&b, &inv), WSM_E_USAGE);
    CHECK_EQ_INT((int)b.len, 0);
    wsm_buf_free(&b);
}

/* The enqueue message: every option as protocol §6.2 names it, "len" and the payload after
 * the header line; zero options absent; refusals name the member. */
TEST(jsonw_enqueue)
{
    cJSON *args = cJSON_Parse("{\"i\":1,\"s\":\"\\t\\u00e9\"}");
    cJSON *meta = cJSON_Parse("{\"m\":[1.5]}");
    cJSON *retry = cJSON_Parse("{\"max\":3,\"intervals\":[0,2.5]}");
    cJSON *pm = cJSON_Parse("{\"cols\":[]}");
    const char *deps[] = {"a", "b.1"};
    wsm_enqueue_opts o = {.job_id = "j-1",
                          .meta = meta,
                          .key = "k\"\xc3\xa9",
                          .at_front = true,
                          .timeout = 1.5,
                          .ttl = 60,
                          .result_ttl = 0.001,
                          .failure_ttl = 1e6,
                          .retry = retry,
                          .depends_on = deps,
                          .n_depends_on = 2,
                          .allow_failure = true,
                          .enqueue_in = 2.5,
                          .weight = -3,
                          .payload = "a\nb",
                          .len = 3,
                          .content_type = "text/plain",
                          .payload_meta = pm};
    wsm_buf b = WSM_BUF_INIT;
    const char *bad = "x";
    CHECK_EQ_INT(jw_enqueue(&b, 77, "q", args, &o, &bad), 0);
    CHECK(bad == NULL);
    unsigned char *nl = memchr(b.data, '\n', b.len);
    CHECK(nl != NULL && b.len == (size_t)(nl - b.data) + 1 + 3 && memcmp(nl + 1, "a\nb", 3) == 0);
    cJSON *h = cJSON_ParseWithLength((char *)b.data, (size_t)(nl - b.data));
    cJSON *want = cJSON_Parse(
        "{\"op\":\"enqueue\",\"id\":\"77\",\"queue\":\"q\",\"args\":{\"i\":1,\"s\":\"\\t\\u00e9\"},"
        "\"job_id\":\"j-1\",\"meta\":{\"m\":[1.5]},\"retry\":{\"max\":3,\"intervals\":[0,2.5]},"
        "\"payload_meta\":{\"cols\":[]},\"key\":\"k\\\"\\u00e9\",\"at_front\":true,\"timeout\":1.5,"
        "\"ttl\":60,\"result_ttl\":0.001,\"failure_ttl\":1000000,\"enqueue_in\":2.5,\"weight\":-3,"
        "\"depends_on\":[\"a\",\"b.1\"],\"allow_failure\":true,\"content_type\":\"text/plain\","
        "\"len\":3}");
    CHECK(h != NULL && want != NULL && cJSON_Compare(h, want, 1));
    cJSON_Delete(h);
    cJSON_Delete(want);
    /* nothing but the queue; enqueue_at as an integer */
    wsm_buf_reset(&b);
    wsm_enqueue_opts at = {.enqueue_at = 4102444800123};
    CHECK_EQ_INT(jw_enqueue(&b, 0, "q2", NULL, &at, NULL), 0);
    wsm_buf_append(&b, "", 1);
    CHECK_STR((char *)b.data,
              "{\"op\":\"enqueue\",\"queue\":\"q2\",\"enqueue_at\":4102444800123}\n");
    wsm_buf_reset(&b);
    CHECK_EQ_INT(jw_enqueue(&b, 5, "q3", NULL, NULL, NULL), 0);
    wsm_buf_append(&b, "", 1);
    CHECK_STR((char *)b.data, "{\"op\":\"enqueue\",\"id\":\"5\",\"queue\":\"q3\"}\n");
    /* refusals: the member is named, nothing is appended */
    wsm_buf_reset(&b);
    wsm_buf_append(&b, "keep", 4);
    struct {
        const char *member;
        wsm_enqueue_opts o;
    } cases[] = {
        {"key", {.key = "\xff"}},
        {"job_id", {.job_id = "\xe2\x82"}},
        {"content_type", {.content_type = "a\x80"}},
        {"depends_on", {.depends_on = (const char *[]){"ok", "\xed\xa0\x80"}, .n_depends_on = 2}},
        {"depends_on", {.depends_on = (const char *[]){NULL}, .n_depends_on = 1}},
        {"payload", {.len = 3}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bad = NULL;
        CHECK_EQ_INT(jw_enqueue(&b, 9, "q", NULL, &cases[i].o, &bad), WSM_E_USAGE);
        CHECK(bad && strcmp(bad, cases[i].member) == 0);
        CHECK_EQ_INT((int)b.len, 4);
    }
    cJSON *badargs = cJSON_CreateObject();
    cJSON_AddStringToObject(badargs, "s", "\xc3\x28");
    CHECK_EQ_INT(jw_enqueue(&b, 9, "q", badargs, NULL, &bad), WSM_E_USAGE);
    CHECK_STR(bad, "args");
    CHECK_EQ_INT(jw_enqueue(&b, 9, "q\xff", NULL, NULL, &bad), WSM_E_USAGE);
    CHECK_STR(bad, "queue");
    CHECK_EQ_INT((int)b.len, 4);
    cJSON_Delete(badargs);
    wsm_buf_free(&b);
    cJSON_Delete(args);
    cJSON_Delete(meta);
    cJSON_Delete(retry);
    cJSON_Delete(pm);
}

TEST(strerror_all)
{
    for (int c = 0; c < WSM_CODE_COUNT; c++)
        CHECK(strcmp(wsm_strerror(c), "unknown error") != 0);
    CHECK(strcmp(wsm_strerror(WSM_E_WOULD_BLOCK), "unknown error") != 0);
    CHECK(strcmp(wsm_strerror(WSM_E_STOPPED), "unknown error") != 0);
    CHECK(strcmp(wsm_strerror(WSM_E_CLOSED), "unknown error") != 0);
    CHECK(strcmp(wsm_strerror(WSM_E_USAGE), "unknown error") != 0);
    CHECK_STR(wsm_strerror(-5), "unknown error");
    /* NULL-safe API */
    wsm_client_free(NULL);
    wsm_service_free(NULL);
    CHECK_EQ_INT(wsm_job_attempt(NULL), 0);
    CHECK(!wsm_job_should_stop(NULL));
    CHECK_EQ_INT(wsm_job_emit(NULL, "x", NULL), WSM_E_USAGE);
    CHECK_EQ_INT(wsm_enqueue(NULL, "q", NULL, NULL, NULL), WSM_E_USAGE);
    wsm_err e = {0};
    wsm_options o = {.url = "ftp://x"};
    CHECK(wsm_service_new(&o, &e) == NULL);
    CHECK_EQ_INT(e.code, WSM_E_USAGE);
    wsm_options o2 = {.url = "ws://127.0.0.1:1/ws", .log_level = "shout"};
    CHECK(wsm_client_connect(&o2, &e) == NULL);
    CHECK_EQ_INT(e.code, WSM_E_USAGE);
}

int main(void)
{
    RUN(url_parsing);
    RUN(options_parse);
    RUN(options_client_cert);
    RUN(transport_frames);
    RUN(transport_handshake);
    RUN(conn_dispatch_batches);
    RUN(jobscan_shapes);
    RUN(conn_dispatch_jobscan);
    RUN(conn_fast_ok);
    RUN(jsonw_strings);
    RUN(jsonw_values);
    RUN(jsonw_enqueue);
    RUN(strerror_all);
    return TEST_DONE();
}
