/*
 * internal.h - helpers shared by the adapter's modules (not part of the public API).
 */
#ifndef WSM_INTERNAL_H
#define WSM_INTERNAL_H

#include <string.h>
#include <sys/time.h>

#include "wsmesh.h"

/* The allocator of wsm_set_allocator (default: the C library's). Every allocation libwsmesh
 * makes itself goes through these, and everything it frees was allocated by them. */
extern wsm_allocator wsm__mem;

static inline void *wsm__malloc(size_t n)
{
    return wsm__mem.malloc_fn(n ? n : 1);
}
static inline void *wsm__calloc(size_t n, size_t size)
{
    if (size && n > (size_t)-1 / size)
        return NULL;
    void *p = wsm__malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}
static inline void *wsm__realloc(void *p, size_t n)
{
    return wsm__mem.realloc_fn(p, n ? n : 1);
}
static inline void wsm__free(void *p)
{
    if (p)
        wsm__mem.free_fn(p);
}
char *wsm__strdup(const char *s);
/* Services and clients alive (wsm_set_allocator refuses while any exists). */
void wsm__live_add(int d);

/* seconds (>= 0) as the struct timeval that event_add takes. */
static inline struct timeval wsm__timeval(double seconds)
{
    struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
    return tv;
}

/* evthread_use_pthreads once per process (before any event_base is created). */
void wsm__lib_init(void);
/* Ignores SIGPIPE process-wide (writes to a closed socket must fail with EPIPE). */
void wsm__ignore_sigpipe(void);

#endif
