/*
 * mf4_internal.h - helpers shared by the libmf4 sources (not installed, not public).
 */
#ifndef MF4_INTERNAL_H
#define MF4_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mf4.h"

/* Fills e (if not NULL) and returns code. */
int mf4__err(mf4_error *e, int code, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static inline void mf4__put_le(unsigned char *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t mf4__get_le(const unsigned char *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = n; i-- > 0;)
        v = (v << 8) | p[i];
    return v;
}

static inline uint64_t mf4__get_be(const unsigned char *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

#endif
