/*
 * util.c - status code sentences (wsm_strerror), the allocator (wsm_set_allocator) and
 * process-wide set-up helpers of the adapter.
 * Invariants: wsm_strerror returns a static string for every int; the allocator changes only
 * while no service or client exists.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

wsm_allocator wsm__mem = {malloc, realloc, free};
static int live; /* atomic: services + clients */

void wsm__live_add(int d)
{
    __atomic_add_fetch(&live, d, __ATOMIC_ACQ_REL);
}

char *wsm__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = wsm__malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

int wsm_set_allocator(const wsm_allocator *a)
{
    if (a && (!a->malloc_fn || !a->realloc_fn || !a->free_fn))
        return WSM_E_USAGE;
    if (__atomic_load_n(&live, __ATOMIC_ACQUIRE) != 0)
        return WSM_E_USAGE;
    wsm_allocator d = {malloc, realloc, free};
    wsm__mem = a ? *a : d;
    cJSON_Hooks h = {.malloc_fn = wsm__mem.malloc_fn, .free_fn = wsm__mem.free_fn};
    cJSON_InitHooks(a ? &h : NULL);
    wsm_buf_set_allocator(wsm__mem.realloc_fn, wsm__mem.free_fn);
    return 0;
}

const char *wsm_strerror(int code)
{
    switch (code) {
    case WSM_OK:
        return "success";
    case WSM_E_BAD_JSON:
        return "the message header is not valid JSON";
    case WSM_E_BAD_FRAME:
        return "the message framing is invalid";
    case WSM_E_UNKNOWN_OP:
        return "unknown operation";
    case WSM_E_BAD_FIELD:
        return "a field is missing or invalid";
    case WSM_E_TOO_LARGE:
        return "message too large";
    case WSM_E_QUEUE_FULL:
        return "the queue is full";
    case WSM_E_NO_SUCH_QUEUE:
        return "no such queue";
    case WSM_E_NO_SUCH_JOB:
        return "no such job";
    case WSM_E_DUPLICATE_ID:
        return "a job with this id already exists";
    case WSM_E_UNAUTHORIZED:
        return "unauthorised";
    case WSM_E_FORBIDDEN:
        return "forbidden";
    case WSM_E_BAD_STATE:
        return "the job is not in a state that allows this";
    case WSM_E_UNSUPPORTED_VERSION:
        return "no common protocol version";
    case WSM_E_SHUTTING_DOWN:
        return "the hub is shutting down";
    case WSM_E_LIMIT:
        return "a limit was hit";
    case WSM_E_INTERNAL:
        return "internal error";
    case WSM_E_TIMEOUT:
        return "timed out";
    case WSM_E_CONNECT:
        return "cannot connect";
    case WSM_E_NOMEM:
        return "out of memory";
    case WSM_E_IO:
        return "input/output error";
    case WSM_E_WOULD_BLOCK:
        return "would block";
    case WSM_E_STOPPED:
        return "the job was stopped";
    case WSM_E_CLOSED:
        return "the connection is closed";
    case WSM_E_USAGE:
        return "invalid argument";
    default:
        return "unknown error";
    }
}

void wsm__ignore_sigpipe(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}
