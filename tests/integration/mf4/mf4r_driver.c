/*
 * mf4r_driver.c - drives the mf4-reader service through a real wshub for mf4r_test.py:
 * enqueues one `mf4` job, collects the frame batches the reader emits (routed to queue
 * `sink`, consumed here by a small service on a second thread) and compares them, batch by
 * batch and byte for byte, with an in-process run of the same job (mf4r_run); then checks the
 * job's result. With --expect-fail TYPE the job must fail for good with that error type, and
 * --expect-text S must appear in its message.
 *
 *   mf4r-driver --url URL --args JSON [--expect-fail TYPE] [--expect-text S]
 *
 * Exit 0 on success, 1 on a mismatch or failure (printed).
 */
#include "lib/sinkdrv.h"
#include "mf4r.h"
#include "wsmesh.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BATCHES 4096

typedef struct got {
    int count;
    unsigned char *payload;
    size_t len;
    char *ct;
    char *args;
} got;

typedef struct ctx {
    pthread_mutex_t mu;
    got sink[MAX_BATCHES];
    got ref[MAX_BATCHES];
    size_t n_ref;
    int bad;
} ctx;

static char *print(const cJSON *v)
{
    return v ? cJSON_PrintUnformatted(v) : strdup("null");
}

static void keep(got *g, const void *p, size_t len, const char *ct, const cJSON *args)
{
    g->count++;
    if (g->count > 1)
        return;
    g->payload = malloc(len ? len : 1);
    if (len)
        memcpy(g->payload, p, len);
    g->len = len;
    g->ct = strdup(ct ? ct : "");
    g->args = print(args);
}

static int sink(wsm_job *job, void *user)
{
    ctx *c = user;
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(wsm_job_args(job), "seq");
    if (!cJSON_IsNumber(seq) || seq->valuedouble < 0 || seq->valuedouble >= MAX_BATCHES) {
        pthread_mutex_lock(&c->mu);
        c->bad = 1;
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    size_t len = 0;
    const void *p = wsm_job_payload(job, &len);
    pthread_mutex_lock(&c->mu);
    keep(&c->sink[(size_t)seq->valuedouble], p, len, wsm_job_content_type(job), wsm_job_args(job));
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static int ref_emit(void *user, const mf4r_batch *b)
{
    ctx *c = user;
    if (c->n_ref >= MAX_BATCHES)
        return 1;
    keep(&c->ref[c->n_ref++], b->payload, b->len, b->content_type, b->args);
    return 0;
}

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int main(int argc, char **argv)
{
    const char *url = NULL, *args_txt = NULL, *expect_fail = NULL, *expect_text = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--url") == 0)
            url = argv[i + 1];
        else if (strcmp(argv[i], "--args") == 0)
            args_txt = argv[i + 1];
        else if (strcmp(argv[i], "--expect-fail") == 0)
            expect_fail = argv[i + 1];
        else if (strcmp(argv[i], "--expect-text") == 0)
            expect_text = argv[i + 1];
    }
    if (!url || !args_txt) {
        fprintf(stderr, "usage: mf4r-driver --url URL --args JSON [--expect-fail TYPE] "
                        "[--expect-text S]\n");
        return 2;
    }
    cJSON *args = cJSON_Parse(args_txt);
    if (!args) {
        fprintf(stderr, "--args: not JSON\n");
        return 2;
    }
    static ctx c;
    pthread_mutex_init(&c.mu, NULL);
    sink_runner sr;
    wsm_client *cl;
    if (sink_start(&sr, url, "mf4r-sink", sink, &c, "mf4r-driver", &cl) != 0)
        return 1;
    char id[WSM_JOB_ID_MAX + 1];
    int rc = wsm_enqueue(cl, "mf4", args, NULL, id);
    cJSON *job = NULL;
    if (rc == 0)
        rc = wsm_wait(cl, id, true, 120, &job);
    if (rc != 0)
        fprintf(stderr, "enqueue/wait: %s\n", wsm_client_errstr(cl));
    wsm_client_free(cl);
    sink_stop(&sr);
    if (rc != 0)
        return 1;
    char *jt = print(job);
    const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(job, "status"));
    int fail = 0;
    if (expect_fail) {
        if (!status || strcmp(status, "failed") != 0 || !strstr(jt, expect_fail) ||
            (expect_text && !strstr(jt, expect_text))) {
            fprintf(stderr, "expected a %s failure mentioning '%s', got %s\n", expect_fail,
                    expect_text ? expect_text : "", jt);
            fail = 1;
        } else {
            printf("failed as expected: %.300s\n", jt);
        }
        free(jt);
        cJSON_Delete(job);
        cJSON_Delete(args);
        return fail;
    }
    if (!status || strcmp(status, "finished") != 0) {
        fprintf(stderr, "job did not finish: %s\n", jt);
        free(jt);
        return 1;
    }
    /* reference: the same job in-process */
    mf4r_callbacks cb = {.emit = ref_emit, .user = &c};
    cJSON *ref_result = NULL;
    mf4r_error e;
    if (mf4r_run(args, &cb, &ref_result, &e) != 0) {
        fprintf(stderr, "in-process run failed: %s: %s\n", e.type, e.msg);
        return 1;
    }
    size_t mism = 0;
    for (size_t b = 0; b < c.n_ref; b++) {
        got *g = &c.sink[b], *x = &c.ref[b];
        int ok = g->count == 1 && g->len == x->len && memcmp(g->payload, x->payload, x->len) == 0 &&
                 same(g->ct, x->ct) && same(g->args, x->args);
        if (!ok && mism++ < 3)
            fprintf(stderr, "batch %zu differs: %d deliveries, %zu vs %zu bytes, args %s vs %s\n",
                    b, g->count, g->len, x->len, g->args ? g->args : "-", x->args);
    }
    for (size_t b = c.n_ref; b < MAX_BATCHES; b++)
        if (c.sink[b].count)
            mism++;
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(job, "result");
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(res, "value");
    if (!val)
        val = res;
    char *rt = print(val), *xt = print(ref_result);
    if (!same(rt, xt)) {
        fprintf(stderr, "result differs:\n  hub: %s\n  ref: %s\n", rt, xt);
        mism++;
    }
    if (c.bad)
        mism++;
    printf("%zu batches, %s\n", c.n_ref, mism ? "MISMATCH" : "identical to the in-process run");
    free(rt);
    free(xt);
    free(jt);
    cJSON_Delete(job);
    cJSON_Delete(ref_result);
    cJSON_Delete(args);
    return mism ? 1 : 0;
}
