/*
 * http.h - helpers of the hub's HTTP side (http.c) that are pure and unit-testable: content
 * types and safe resolution of a request path inside the web root.
 */
#ifndef HUB_HTTP_H
#define HUB_HTTP_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The Content-Type for a file name by its extension (static string);
 * "application/octet-stream" when unknown. */
const char *http_mime_type(const char *path);

/* Resolves request path uri ("/js/app.js") inside web_root into out (a real, absolute path
 * of a regular file; a directory resolves to its index.html). Returns 0, or -1 when the
 * path is not a file inside the web root (missing, "..", symlink escaping the root, ...). */
int http_resolve(const char *web_root, const char *uri, char *out, size_t out_n);

#ifdef __cplusplus
}
#endif
#endif
