/*
 * main.c - the aeb service: the processing stage of the pipeline. Consumes queue `aeb` (frame
 * batches keyed by recording), continues each recording's AEB state machine from the key state
 * the hub hands over with the job, and emits per batch the per-frame outputs (output `frames`,
 * same encoding as the input) and the batch's events (output `events`); the `last` batch also
 * carries the summary. Any instance can take any batch; a crashed instance loses nothing (the
 * hub stores the state atomically with the result).
 *
 *   aeb [--url ws://HUB/ws] [--concurrency N] [--queue aeb] [--params JSON]
 *
 * --params: AEB parameters overriding the defaults of AEB_SPEC §3.1, e.g.
 * '{"headway_offset": 3.7}'. Bad batches fail for good with the field named; out-of-memory
 * fails with retry.
 */
#include "aebsvc.h"
#include "wsmesh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct app {
    aeb_params params;
} app;

static int handle(wsm_job *job, void *user)
{
    const app *a = user;
    size_t len = 0;
    const void *payload = wsm_job_payload(job, &len);
    aebsvc_in in = {.key = wsm_job_key(job),
                    .args = wsm_job_args(job),
                    .state = wsm_job_state(job),
                    .content_type = wsm_job_content_type(job),
                    .payload_meta = wsm_job_payload_meta(job),
                    .payload = payload,
                    .len = len};
    aebsvc_out out;
    aebsvc_error e;
    if (aebsvc_process(&a->params, &in, &out, &e) != 0) {
        wsm_log(WSM_LOG_INFO, "aeb", "job %s: %s: %s", wsm_job_id(job), e.type, e.msg);
        wsm_job_fail(job, e.type, e.msg, NULL, e.retry);
        return 1;
    }
    /* weight = frames, so the dashboard's "frames stored" is exact while running
     * (docs/dashboard.md); events keep the adapter's default weight (it cannot send 0) */
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(out.frames_args, "rows");
    wsm_emit_opts fo = {.args = out.frames_args,
                        .weight = cJSON_IsNumber(rows) ? (int64_t)rows->valuedouble : 0,
                        .payload = out.frames_payload.data,
                        .len = out.frames_payload.len,
                        .content_type = out.content_type,
                        .payload_meta = out.frames_meta};
    int rc = wsm_job_emit(job, "frames", &fo);
    if (rc == 0 && out.events_args) {
        wsm_emit_opts eo = {.args = out.events_args};
        rc = wsm_job_emit(job, "events", &eo);
    }
    if (rc == 0)
        rc = wsm_job_set_state(job, out.state);
    if (rc == 0)
        rc = wsm_job_set_result(job, out.result);
    aebsvc_out_free(&out);
    if (rc != 0) {
        if (rc != WSM_E_STOPPED)
            wsm_job_fail(job, wsm_code_name(rc), wsm_strerror(rc), NULL, true);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    wsm_options o = {.name = "aeb"};
    int prc = wsm_options_parse(&o, &argc, argv,
                                "  --queue Q          queue to consume (default aeb)\n"
                                "  --params JSON      AEB parameters (AEB_SPEC 3.1), e.g. "
                                "'{\"headway_offset\": 3.7}'\n");
    if (prc == 1)
        return 0;
    if (prc == 2)
        return 2;
    app a;
    aeb_params_default(&a.params);
    const char *queue = "aeb";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--queue") == 0 && i + 1 < argc) {
            queue = argv[++i];
        } else if (strcmp(argv[i], "--params") == 0 && i + 1 < argc) {
            const char *txt = argv[++i];
            cJSON *j = cJSON_ParseWithLengthOpts(txt, strlen(txt) + 1, NULL, 1);
            aeb_err ae;
            if (!j) {
                fprintf(stderr, "aeb: --params: not valid JSON\n");
                return 2;
            }
            int rc = aeb_params_from_json(j, &a.params, &ae);
            cJSON_Delete(j);
            if (rc != AEB_OK) {
                fprintf(stderr, "aeb: --params: %s\n", ae.msg);
                return 2;
            }
        } else {
            fprintf(stderr, "aeb: unknown or incomplete option '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    wsm_err err;
    wsm_service *s = wsm_service_new(&o, &err);
    if (!s) {
        fprintf(stderr, "aeb: %s\n", err.msg);
        return 1;
    }
    if (wsm_service_add(s, queue, handle, &a) != 0) {
        fprintf(stderr, "aeb: %s\n", wsm_service_errstr(s));
        wsm_service_free(s);
        return 1;
    }
    int rc = wsm_service_run(s);
    if (rc != 0)
        fprintf(stderr, "aeb: %s\n", wsm_service_errstr(s));
    wsm_service_free(s);
    return rc == 0 ? 0 : 1;
}
