/*
 * hello-service.c - a complete wsmesh service: consumes queue "hello", answers
 * {"greeting": "hello, NAME"} for args {"name": NAME}, and reports progress.
 * Run: hello-service --url ws://127.0.0.1:7700/ws [--concurrency 4] [--burst]
 * Walkthrough: docs/writing-a-service.md.
 */
#include <stdio.h>

#include <wsmesh.h>

/* Called on a handler thread for each job of queue "hello". */
static int hello(wsm_job *job, void *user)
{
    const char *name = wsm_job_arg_str(job, "name", "world");
    if (name[0] == '\0') /* a job the handler cannot do: fail it for good */
        return wsm_job_fail(job, "bad_args", "name must not be empty", NULL, false), 1;

    char greeting[256];
    snprintf(greeting, sizeof greeting, "hello, %s", name);
    wsm_job_progress(job, 1, 1, "greeted");

    cJSON *result = cJSON_CreateObject();
    cJSON_AddStringToObject(result, "greeting", greeting);
    int rc = wsm_job_set_result(job, result); /* copies: we still own result */
    cJSON_Delete(result);
    return rc;
}

static const wsm_endpoint endpoints[] = {
    {.queue = "hello", .handler = hello},
    {0},
};

int main(int argc, char **argv)
{
    const wsm_service_config cfg = {
        .name = "hello-service",
        .description = "Answers jobs of queue \"hello\" with a greeting.",
        .endpoints = endpoints,
    };
    return wsm_service_main(&cfg, argc, argv);
}
