/*
 * main.c - the mf4-reader service: the source stage of the pipeline. Consumes queue `mf4`
 * (one job per recording: {"path": "/data/rec.mf4", "channels": {"ego_v": "VehSpd", ...}}),
 * reads the file with libmf4 and emits its frames in batches (output `frames`, key = the
 * recording id) with progress; the result describes the recording (mf4r.h has the formats
 * and every failure type).
 *
 *   mf4-reader [--url ws://HUB/ws] [--concurrency N] [--queue mf4]
 *
 * Paths are resolved on this worker's host: workers on other machines need the same storage
 * mounted at the same path.
 */
#include "mf4r.h"
#include "wsmesh.h"

#include <stdio.h>
#include <string.h>

typedef struct ctx {
    wsm_job *job;
    int emit_rc;
} ctx;

static int on_emit(void *user, const mf4r_batch *b)
{
    ctx *c = user;
    wsm_emit_opts o = {.args = b->args,
                       .key = b->recording_id,
                       .payload = b->payload,
                       .len = b->len,
                       .content_type = b->content_type,
                       .payload_meta = b->payload_meta};
    c->emit_rc = wsm_job_emit(c->job, "frames", &o);
    return c->emit_rc;
}

static void on_progress(void *user, uint64_t done, uint64_t total)
{
    ctx *c = user;
    wsm_job_progress(c->job, (double)done, (double)total, NULL);
}

static bool on_should_stop(void *user)
{
    ctx *c = user;
    return wsm_job_should_stop(c->job);
}

static int handle(wsm_job *job, void *user)
{
    (void)user;
    ctx c = {.job = job};
    mf4r_callbacks cb = {
        .emit = on_emit, .progress = on_progress, .should_stop = on_should_stop, .user = &c};
    cJSON *result = NULL;
    mf4r_error e;
    if (mf4r_run(wsm_job_args(job), &cb, &result, &e) != 0) {
        if (c.emit_rc == WSM_E_STOPPED || (strcmp(e.type, "STOPPED") == 0 && c.emit_rc == 0))
            return 1; /* stopped: the hub already knows */
        if (c.emit_rc != 0) {
            wsm_job_fail(job, wsm_code_name(c.emit_rc), wsm_strerror(c.emit_rc), NULL, true);
            return 1;
        }
        wsm_log(WSM_LOG_INFO, "mf4-reader", "job %s: %s: %s", wsm_job_id(job), e.type, e.msg);
        wsm_job_fail(job, e.type, e.msg, NULL, e.retry);
        return 1;
    }
    int rc = wsm_job_set_result(job, result);
    cJSON_Delete(result);
    if (rc != 0) {
        wsm_job_fail(job, wsm_code_name(rc), wsm_strerror(rc), NULL, true);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    wsm_options o = {.name = "mf4-reader"};
    int prc =
        wsm_options_parse(&o, &argc, argv, "  --queue Q          queue to consume (default mf4)\n");
    if (prc == 1)
        return 0;
    if (prc == 2)
        return 2;
    const char *queue = "mf4";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--queue") == 0 && i + 1 < argc) {
            queue = argv[++i];
        } else {
            fprintf(stderr, "mf4-reader: unknown or incomplete option '%s' (see --help)\n",
                    argv[i]);
            return 2;
        }
    }
    wsm_err err;
    wsm_service *s = wsm_service_new(&o, &err);
    if (!s) {
        fprintf(stderr, "mf4-reader: %s\n", err.msg);
        return 1;
    }
    if (wsm_service_add(s, queue, handle, NULL) != 0) {
        fprintf(stderr, "mf4-reader: %s\n", wsm_service_errstr(s));
        wsm_service_free(s);
        return 1;
    }
    int rc = wsm_service_run(s);
    if (rc != 0)
        fprintf(stderr, "mf4-reader: %s\n", wsm_service_errstr(s));
    wsm_service_free(s);
    return rc == 0 ? 0 : 1;
}
