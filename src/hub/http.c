/*
 * http.c - plain HTTP on the hub's port (lws protocols[0]): GET /healthz, GET /metrics
 * (Prometheus text, metrics.c) and static files from http.web_root (the dashboard).
 *
 * Invariants: only GET and HEAD are served; a static path is resolved with realpath() and
 * served only if it lies inside the real web root (no directory traversal, no symlink
 * escape); directories serve their index.html; unknown files are 404 and the body of every
 * generated response is built before the headers are written, then sent in one
 * lws_write(LWS_WRITE_HTTP_FINAL) from HTTP_WRITEABLE. With listen.tls.ca a client
 * certificate that OpenSSL did not verify against that CA is refused (lws would accept it).
 */
#include "http.h"
#include "net.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct http_pss {
    wsm_buf body; /* LWS_PRE headroom + body */
    bool pending;
} http_pss;

size_t http_pss_size(void)
{
    return sizeof(http_pss);
}

static const struct {
    const char *ext;
    const char *type;
} mime_table[] = {
    {".html", "text/html; charset=utf-8"},
    {".htm", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".gif", "image/gif"},
    {".ico", "image/x-icon"},
    {".webp", "image/webp"},
    {".txt", "text/plain; charset=utf-8"},
    {".md", "text/markdown; charset=utf-8"},
    {".wasm", "application/wasm"},
    {".woff", "font/woff"},
    {".woff2", "font/woff2"},
    {".ttf", "font/ttf"},
    {".csv", "text/csv; charset=utf-8"},
};

const char *http_mime_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof mime_table / sizeof *mime_table; i++)
            if (strcasecmp(dot, mime_table[i].ext) == 0)
                return mime_table[i].type;
    return "application/octet-stream";
}

int http_resolve(const char *web_root, const char *uri, char *out, size_t out_n)
{
    if (!web_root || !uri || uri[0] != '/')
        return -1;
    /* refuse anything that looks like traversal before touching the file system */
    if (strstr(uri, "..") || strchr(uri, '\\') || strchr(uri, '%'))
        return -1;
    char root[PATH_MAX];
    if (!realpath(web_root, root))
        return -1;
    char cand[PATH_MAX];
    int n = snprintf(cand, sizeof cand, "%s%s", root, uri);
    if (n < 0 || (size_t)n >= sizeof cand)
        return -1;
    struct stat st;
    char real[PATH_MAX];
    if (!realpath(cand, real) || stat(real, &st) != 0)
        return -1;
    if (S_ISDIR(st.st_mode)) {
        size_t l = strlen(real);
        if (l + sizeof "/index.html" > sizeof real)
            return -1;
        memcpy(real + l, "/index.html", sizeof "/index.html");
        char again[PATH_MAX];
        if (!realpath(real, again) || stat(again, &st) != 0)
            return -1;
        snprintf(real, sizeof real, "%s", again);
    }
    if (!S_ISREG(st.st_mode))
        return -1;
    size_t rl = strlen(root);
    if (strncmp(real, root, rl) != 0 || (real[rl] != '/' && !(rl == 1 && root[0] == '/')))
        return -1;
    if (strlen(real) + 1 > out_n)
        return -1;
    memcpy(out, real, strlen(real) + 1);
    return 0;
}

/* Writes the status line and headers now, the body in HTTP_WRITEABLE. */
static int respond(struct lws *wsi, http_pss *p, unsigned status, const char *type)
{
    unsigned char hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *q = start,
                                       *end = hdr + sizeof hdr - 1;
    size_t blen = p->body.len >= LWS_PRE ? p->body.len - LWS_PRE : 0;
    if (lws_add_http_common_headers(wsi, status, type, (lws_filepos_t)blen, &q, end))
        return 1;
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)"no-store", 8, &q, end))
        return 1;
    if (lws_finalize_write_http_header(wsi, start, &q, end))
        return 1;
    p->pending = true;
    lws_callback_on_writable(wsi);
    return 0;
}

static int body_start(http_pss *p)
{
    wsm_buf_free(&p->body);
    if (wsm_buf_reserve(&p->body, LWS_PRE + 256))
        return -1;
    memset(p->body.data, 0, LWS_PRE);
    p->body.len = LWS_PRE;
    return 0;
}

static int simple(struct lws *wsi, http_pss *p, unsigned status, const char *text)
{
    if (body_start(p) || wsm_buf_append_str(&p->body, text))
        return -1;
    return respond(wsi, p, status, "text/plain; charset=utf-8") ? -1 : 0;
}

int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    hub *h = ctx ? lws_context_user(ctx) : NULL;
    http_pss *p = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        if (!h || !p)
            return -1;
        h->m.http_requests++;
        const char *uri = in;
        if (!lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) &&
            !lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI))
            return simple(wsi, p, 405, "method not allowed\n");
        if (strcmp(uri, "/healthz") == 0) {
            if (body_start(p) ||
                wsm_buf_printf(&p->body,
                               "{\"status\":\"%s\",\"version\":\"%s\",\"uptime_s\":%.3f,"
                               "\"connections\":%zu,\"store\":\"%s\"}\n",
                               h->draining ? "draining" : "ok", WSM_VERSION,
                               (double)(wsm_wall_ms() - h->started_ms) / 1000.0, h->n_conns,
                               store_kind(h->st)))
                return -1;
            return respond(wsi, p, h->draining ? 503 : 200, "application/json") ? -1 : 0;
        }
        if (strcmp(uri, "/metrics") == 0) {
            if (body_start(p) || metrics_render(&h->m, h->b, h->n_conns,
                                                (double)(wsm_wall_ms() - h->started_ms) / 1000.0,
                                                h->draining, &p->body))
                return -1;
            return respond(wsi, p, 200, "text/plain; version=0.0.4; charset=utf-8") ? -1 : 0;
        }
        if (strcmp(uri, WSM_WS_PATH) == 0)
            return simple(wsi, p, 426, "this path is the WebSocket endpoint (wsmesh.v1)\n");
        char path[PATH_MAX];
        if (!h->cfg->web_root || http_resolve(h->cfg->web_root, uri, path, sizeof path) != 0)
            return simple(wsi, p, 404, "not found\n");
        int n = lws_serve_http_file(wsi, path, http_mime_type(path), NULL, 0);
        if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
            return -1;
        return 0;
    }
    case LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION:
        /* listen.tls.ca (mutual TLS): lws passes OpenSSL's verdict in len and accepts the
         * client certificate if we return 0 — so a certificate that does not chain to the CA
         * must be refused here */
        if (!len) {
            wsm_log(WSM_LOG_WARN, "tls", "client certificate refused: not signed by listen.tls.ca");
            return 1;
        }
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE: {
        if (!p || !p->pending)
            break;
        p->pending = false;
        size_t blen = p->body.len - LWS_PRE;
        int w = lws_write(wsi, p->body.data + LWS_PRE, blen, LWS_WRITE_HTTP_FINAL);
        wsm_buf_free(&p->body);
        if (w < (int)blen)
            return -1;
        if (lws_http_transaction_completed(wsi))
            return -1;
        return 0;
    }
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        if (lws_http_transaction_completed(wsi))
            return -1;
        return 0;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (p) {
            wsm_buf_free(&p->body);
            p->pending = false;
        }
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}
