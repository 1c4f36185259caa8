/*
 * buf.c - wsm_buf, the growable byte buffer used for outbound batches, headers and text.
 *
 * Invariant: len <= cap; data is NULL iff cap == 0. Growth doubles, so appends are
 * amortised O(1); a failed growth leaves the buffer as it was.
 */
#include "wsm_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *(*buf_realloc)(void *, size_t) = realloc;
static void (*buf_free)(void *) = free;

void wsm_buf_set_allocator(void *(*realloc_fn)(void *, size_t), void (*free_fn)(void *))
{
    buf_realloc = realloc_fn ? realloc_fn : realloc;
    buf_free = free_fn ? free_fn : free;
}

int wsm_buf_reserve(wsm_buf *b, size_t extra)
{
    if (extra > SIZE_MAX / 2 - b->len)
        return WSM_E_NOMEM;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    unsigned char *d = buf_realloc(b->data, cap);
    if (!d)
        return WSM_E_NOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int wsm_buf_append(wsm_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (wsm_buf_reserve(b, n))
        return WSM_E_NOMEM;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int wsm_buf_append_str(wsm_buf *b, const char *s)
{
    return wsm_buf_append(b, s, strlen(s));
}

int wsm_buf_printf(wsm_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return WSM_E_INTERNAL;
    if ((size_t)n < sizeof small)
        return wsm_buf_append(b, small, (size_t)n);
    if (wsm_buf_reserve(b, (size_t)n + 1))
        return WSM_E_NOMEM;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void wsm_buf_consume(wsm_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void wsm_buf_reset(wsm_buf *b)
{
    b->len = 0;
}

void wsm_buf_free(wsm_buf *b)
{
    if (!b)
        return;
    buf_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
