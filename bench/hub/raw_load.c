/*
 * raw_load.c - a minimal protocol v1 load generator for the hub benchmark that spends as little
 * client CPU as possible, so that the hub (not the clients) is what the benchmark measures on a
 * small machine: blocking sockets, a hand-written RFC 6455 client (zero mask key), headers
 * formatted and scanned with string functions instead of a JSON library, and every reply of
 * one received WebSocket message answered in ONE WebSocket message. Same command line and
 * output as hub-bench (hub_bench.c), so run_hub_bench.py can drive either:
 *
 *   raw-load work URL QUEUE N PREFETCH LATFILE    worker: result (with id) for every job
 *   raw-load produce URL QUEUE N RATE             producer: pipelined enqueue, window 8192
 *
 * Not a client library: it trusts the hub's framing (the hub is the system under test).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct conn {
    int fd;
    unsigned char *in; /* raw bytes from the socket */
    size_t in_len, in_cap;
    unsigned char *msg; /* the current reassembled WebSocket message */
    size_t msg_len, msg_cap;
    unsigned char *out; /* frame being built */
    size_t out_len, out_cap;
} conn;

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what)
{
    fprintf(stderr, "raw-load: %s: %s\n", what, errno ? strerror(errno) : "protocol");
    exit(1);
}

static void grow(unsigned char **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t n = *cap ? *cap : 65536;
    while (n < need)
        n *= 2;
    unsigned char *q = realloc(*p, n);
    if (!q)
        die("out of memory");
    *p = q;
    *cap = n;
}

static void write_all(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n) {
        ssize_t k = write(fd, b, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            die("write");
        b += k;
        n -= (size_t)k;
    }
}

static conn *ws_connect(const char *url)
{
    char host[256] = "127.0.0.1", path[256] = "/ws";
    int port = 7700;
    if (sscanf(url, "ws://%255[^:/]:%d%255s", host, &port, path) < 2)
        die("url");
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &res))
        die("resolve");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen))
        die("connect");
    freeaddrinfo(res);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: "
                     "Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wsmesh.v1\r\n\r\n",
                     path, host, port);
    write_all(fd, req, (size_t)n);
    conn *c = calloc(1, sizeof *c);
    c->fd = fd;
    for (;;) {
        grow(&c->in, &c->in_cap, c->in_len + 4096);
        ssize_t k = read(fd, c->in + c->in_len, 4096);
        if (k <= 0)
            die("handshake");
        c->in_len += (size_t)k;
        unsigned char *e = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        if (!e)
            continue;
        if (memcmp(c->in, "HTTP/1.1 101", 12) != 0)
            die("handshake refused");
        size_t used = (size_t)(e + 4 - c->in);
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
        return c;
    }
}

/* Sends `len` bytes of c->out (after the reserved 14-byte header space) as one frame. */
static void ws_send_out(conn *c, int opcode)
{
    size_t len = c->out_len - 14;
    unsigned char h[14];
    size_t hl;
    h[0] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        h[1] = (unsigned char)(0x80 | len);
        hl = 2;
    } else if (len < 65536) {
        h[1] = 0x80 | 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        hl = 4;
    } else {
        h[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        hl = 10;
    }
    memset(h + hl, 0, 4); /* zero mask key: payload unchanged */
    hl += 4;
    memcpy(c->out + 14 - hl, h, hl);
    write_all(c->fd, c->out + 14 - hl, hl + len);
    c->out_len = 14;
}

static void out_reset(conn *c)
{
    grow(&c->out, &c->out_cap, 14);
    c->out_len = 14;
}

static void out_add(conn *c, const char *s, size_t n)
{
    grow(&c->out, &c->out_cap, c->out_len + n);
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
}

/* Reads until one whole WebSocket message is in c->msg. Answers pings. */
static void ws_recv(conn *c)
{
    c->msg_len = 0;
    for (;;) {
        /* parse frames already buffered */
        while (c->in_len >= 2) {
            unsigned char *p = c->in;
            int fin = p[0] & 0x80, op = p[0] & 0x0f;
            uint64_t len = p[1] & 0x7f;
            size_t hl = 2;
            if (len == 126) {
                if (c->in_len < 4)
                    break;
                len = ((uint64_t)p[2] << 8) | p[3];
                hl = 4;
            } else if (len == 127) {
                if (c->in_len < 10)
                    break;
                len = 0;
                for (int i = 0; i < 8; i++)
                    len = (len << 8) | p[2 + i];
                hl = 10;
            }
            if (c->in_len < hl + len)
                break;
            if (op == 0x9) { /* ping -> pong (control payloads are <= 125 bytes) */
                unsigned char pong[6 + 125];
                pong[0] = 0x8A;
                pong[1] = (unsigned char)(0x80 | len);
                memset(pong + 2, 0, 4);
                memcpy(pong + 6, p + hl, len);
                write_all(c->fd, pong, 6 + len);
            } else if (op == 0x8) {
                errno = 0;
                die("hub closed the connection");
            } else if (op == 0x1 || op == 0x2 || op == 0x0) {
                grow(&c->msg, &c->msg_cap, c->msg_len + len);
                memcpy(c->msg + c->msg_len, p + hl, len);
                c->msg_len += len;
            }
            memmove(c->in, c->in + hl + len, c->in_len - hl - len);
            c->in_len -= hl + len;
            if (fin && op != 0x9 && op != 0xA && op != 0x8)
                return;
        }
        grow(&c->in, &c->in_cap, c->in_len + 262144);
        ssize_t k = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            die("read");
        c->in_len += (size_t)k;
    }
}

/* Finds "key": in a header line; returns a pointer after the colon or NULL. */
static const char *field(const char *h, const char *end, const char *key)
{
    size_t kl = strlen(key);
    const char *p = h;
    while ((p = memmem(p, (size_t)(end - p), key, kl)) != NULL) {
        if (p > h && p[-1] == '"' && p + kl < end && p[kl] == '"' && p + kl + 1 < end &&
            p[kl + 1] == ':')
            return p + kl + 2;
        p += kl;
    }
    return NULL;
}

/* Iterates the protocol messages of c->msg: calls fn(header, header_end, user). */
static void each_message(conn *c, void (*fn)(const char *, const char *, void *), void *user)
{
    const char *p = (const char *)c->msg, *end = p + c->msg_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            die("framing");
        fn(p, nl, user);
        const char *l = field(p, nl, "len");
        size_t len = l ? (size_t)strtoull(l, NULL, 10) : 0;
        p = nl + 1 + len;
    }
}

static void hello(conn *c)
{
    out_reset(c);
    const char *h = "{\"op\":\"hello\",\"id\":\"h\",\"versions\":[1],\"name\":\"raw-load\"}\n";
    out_add(c, h, strlen(h));
    ws_send_out(c, 1);
    ws_recv(c);
    if (!memmem(c->msg, c->msg_len, "\"op\":\"welcome\"", 14))
        die("no welcome");
}

typedef struct worker {
    conn *c;
    long n, max, seq;
    char *release; /* job ids (JSON strings, comma separated) received after max */
    size_t rel_len, rel_cap;
    int64_t first_us, last_us;
    int64_t *lat;
} worker;

static void on_job(const char *h, const char *end, void *user)
{
    worker *w = user;
    if (!memmem(h, (size_t)(end - h), "\"op\":\"job\"", 10))
        return;
    const char *id = field(h, end, "job_id"), *at = field(h, end, "attempt"),
               *t = field(h, end, "t");
    if (!id || !at || *id != '"')
        die("bad job header");
    const char *ide = memchr(id + 1, '"', (size_t)(end - id - 1));
    if (w->n >= w->max) {
        /* beyond our share: hand it back untouched for another worker */
        size_t l = (size_t)(ide - id + 1);
        grow((unsigned char **)&w->release, &w->rel_cap, w->rel_len + l + 2);
        if (w->rel_len)
            w->release[w->rel_len++] = ',';
        memcpy(w->release + w->rel_len, id, l);
        w->rel_len += l;
        return;
    }
    int64_t now = mono_us();
    if (!w->n)
        w->first_us = now;
    w->last_us = now;
    if (t && w->n < w->max)
        w->lat[w->n] = now - (int64_t)strtod(t, NULL);
    w->n++;
    char buf[400];
    int k = snprintf(buf, sizeof buf,
                     "{\"op\":\"result\",\"id\":\"r%ld\",\"job_id\":%.*s,\"attempt\":%ld}\n",
                     ++w->seq, (int)(ide - id + 1), id, strtol(at, NULL, 10));
    out_add(w->c, buf, (size_t)k);
}

static int work(const char *url, const char *queue, long n, int prefetch, const char *latfile)
{
    conn *c = ws_connect(url);
    hello(c);
    out_reset(c);
    char buf[256];
    int k = snprintf(buf, sizeof buf,
                     "{\"op\":\"consume\",\"id\":\"c\",\"queues\":[\"%s\"],\"prefetch\":%d}\n",
                     queue, prefetch);
    out_add(c, buf, (size_t)k);
    ws_send_out(c, 1);
    worker w = {.c = c, .max = n};
    w.lat = calloc((size_t)(n > 0 ? n : 1), sizeof *w.lat);
    while (w.n < n) {
        ws_recv(c);
        out_reset(c);
        each_message(c, on_job, &w);
        if (c->out_len > 14)
            ws_send_out(c, 1);
    }
    /* stop taking jobs, hand back any that arrive, leave once nothing came for 300 ms */
    out_reset(c);
    k = snprintf(buf, sizeof buf, "{\"op\":\"credit\",\"n\":%d}\n", -prefetch);
    out_add(c, buf, (size_t)k);
    ws_send_out(c, 1);
    for (;;) {
        if (w.rel_len) {
            out_reset(c);
            out_add(c, "{\"op\":\"release\",\"id\":\"rel\",\"job_ids\":[", 38);
            out_add(c, w.release, w.rel_len);
            out_add(c, "]}\n", 3);
            ws_send_out(c, 1);
            w.rel_len = 0;
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        if (c->in_len == 0 && poll(&pfd, 1, 300) <= 0)
            break;
        ws_recv(c);
        out_reset(c);
        each_message(c, on_job, &w);
    }
    FILE *f = fopen(latfile, "wb");
    long kept = w.n < w.max ? w.n : w.max;
    if (!f || fwrite(w.lat, sizeof *w.lat, (size_t)kept, f) != (size_t)kept)
        die("latfile");
    fclose(f);
    printf("{\"jobs\":%ld,\"first_us\":%lld,\"last_us\":%lld,\"cpu_s\":%.6f}\n", w.n,
           (long long)w.first_us, (long long)w.last_us, cpu_s());
    return 0;
}

typedef struct prod {
    long acked, failed;
} prod;

static void on_reply(const char *h, const char *end, void *user)
{
    prod *p = user;
    if (memmem(h, (size_t)(end - h), "\"op\":\"ok\"", 9))
        p->acked++;
    else if (memmem(h, (size_t)(end - h), "\"op\":\"error\"", 12))
        p->acked++, p->failed++;
}

static int produce(const char *url, const char *queue, long n, double rate)
{
    conn *c = ws_connect(url);
    hello(c);
    prod p = {0};
    const long window = 8192, batch = rate > 0 ? 1 : 256;
    int64_t t0 = mono_us();
    long sent = 0;
    char buf[256];
    while (p.acked < n) {
        if (sent < n && sent - p.acked < window) {
            out_reset(c);
            long b = 0;
            while (b < batch && sent < n && sent - p.acked < window) {
                if (rate > 0) {
                    int64_t due = t0 + (int64_t)((double)sent * 1e6 / rate);
                    int64_t now = mono_us();
                    if (due > now + 50)
                        usleep((useconds_t)(due - now));
                }
                int k = snprintf(
                    buf, sizeof buf,
                    "{\"op\":\"enqueue\",\"id\":\"e%ld\",\"queue\":\"%s\",\"args\":{\"t\":%lld}}\n",
                    sent, queue, (long long)mono_us());
                out_add(c, buf, (size_t)k);
                sent++;
                b++;
            }
            ws_send_out(c, 1);
            if (rate > 0 && sent < n)
                continue; /* paced: replies are read when the window is full or at the end */
            if (sent < n && sent - p.acked < window)
                continue;
        }
        ws_recv(c);
        each_message(c, on_reply, &p);
    }
    int64_t t1 = mono_us();
    printf("{\"jobs\":%ld,\"failed\":%ld,\"start_us\":%lld,\"end_us\":%lld,\"cpu_s\":%.6f}\n", n,
           p.failed, (long long)t0, (long long)t1, cpu_s());
    return p.failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 7 && strcmp(argv[1], "work") == 0)
        return work(argv[2], argv[3], atol(argv[4]), atoi(argv[5]), argv[6]);
    if (argc >= 6 && strcmp(argv[1], "produce") == 0)
        return produce(argv[2], argv[3], atol(argv[4]), atof(argv[5]));
    fprintf(stderr, "usage: raw-load work URL QUEUE N PREFETCH LATFILE | "
                    "produce URL QUEUE N RATE\n");
    return 2;
}
