/*
 * sinkdrv.h - what the C drivers of the service integration tests (tests/integration/aeb,
 * tests/integration/mf4) share: a small service that consumes queue `sink` (where the hub
 * routes the outputs of the service under test) on a second thread, and the client that
 * enqueues the jobs. Header-only (static functions), included as "lib/sinkdrv.h" from tests/.
 */
#ifndef WSM_SINKDRV_H
#define WSM_SINKDRV_H

#include "wsmesh.h"

#include <pthread.h>
#include <stdio.h>

typedef struct sink_runner {
    wsm_service *s;
    pthread_t th;
} sink_runner;

static void *sink_runner_thread(void *arg)
{
    wsm_service *s = arg;
    if (wsm_service_run(s) != 0)
        fprintf(stderr, "sink: %s\n", wsm_service_errstr(s));
    return NULL;
}

/* Starts service `name` (concurrency 1, prefetch 16) with handler h on queue `sink`, on a new
 * thread, then connects the client `client_name` into *client; 0, or -1 (printed). */
static inline int sink_start(sink_runner *r, const char *url, const char *name, wsm_handler h,
                             void *user, const char *client_name, wsm_client **client)
{
    wsm_options so = {.url = url, .name = name, .concurrency = 1, .prefetch = 16};
    wsm_err err;
    r->s = wsm_service_new(&so, &err);
    if (!r->s || wsm_service_add(r->s, "sink", h, user) != 0) {
        fprintf(stderr, "sink: %s\n", r->s ? wsm_service_errstr(r->s) : err.msg);
        return -1;
    }
    pthread_create(&r->th, NULL, sink_runner_thread, r->s);
    wsm_options co = {.url = url, .name = client_name};
    *client = wsm_client_connect(&co, &err);
    if (!*client) {
        fprintf(stderr, "client: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* Stops the sink service, waits for its thread and frees it. */
static inline void sink_stop(sink_runner *r)
{
    wsm_service_stop(r->s);
    pthread_join(r->th, NULL);
    wsm_service_free(r->s);
}

#endif
