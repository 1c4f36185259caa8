/*
 * test_service.c - a service for the adapter's integration tests, built on wsm_service_main.
 * Each queue exercises one part of the handler API and records what happened, one line per
 * event, to the file given by --record FILE (appended with O_APPEND, so several processes can
 * share it): "start QUEUE JOB ATTEMPT KEY PID", "done QUEUE JOB ATTEMPT KEY PID",
 * "stop QUEUE JOB ATTEMPT REASON PID", "emitted JOB N PID".
 *
 * Queues:  sleep  args {ms}: sleeps in 10 ms steps, stops early when asked; result {slept_ms}
 *          fail   fails with type "test_error", message "asked to fail", detail = args
 *          emit   args {n, key?, bytes?}: emits n outputs "out" (seq 0..n-1, args {i}, key)
 *          slow   args {i}: sleeps --slow-ms, result {i}
 *          echo   result = args, result payload = the job's payload and content type
 *          state  key state counter: result {count}, new state {count: count + 1}
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <wsmesh.h>

struct cfg {
    int fd;
    int slow_ms;
};

static void record(struct cfg *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void record(struct cfg *c, const char *fmt, ...)
{
    if (c->fd < 0)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    if (write(c->fd, line, (size_t)n) < 0)
        perror("record");
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void start(struct cfg *c, wsm_job *j)
{
    record(c, "start %s %s %d %s %d", wsm_job_queue(j), wsm_job_id(j), wsm_job_attempt(j),
           wsm_job_key(j) ? wsm_job_key(j) : "-", (int)getpid());
}

static void done(struct cfg *c, wsm_job *j)
{
    record(c, "done %s %s %d %s %d", wsm_job_queue(j), wsm_job_id(j), wsm_job_attempt(j),
           wsm_job_key(j) ? wsm_job_key(j) : "-", (int)getpid());
}

static int h_sleep(wsm_job *j, void *u)
{
    struct cfg *c = u;
    start(c, j);
    int ms = (int)wsm_job_arg_num(j, "ms", 100), slept = 0;
    while (slept < ms) {
        if (wsm_job_should_stop(j)) {
            record(c, "stop %s %s %d %s %d", wsm_job_queue(j), wsm_job_id(j), wsm_job_attempt(j),
                   wsm_job_stop_reason(j), (int)getpid());
            return wsm_job_fail(j, "stopped", wsm_job_stop_reason(j), NULL, true), 1;
        }
        sleep_ms(10);
        slept += 10;
        wsm_job_progress(j, slept, ms, "sleeping");
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "slept_ms", slept);
    wsm_job_set_result(j, r);
    cJSON_Delete(r);
    done(c, j);
    return 0;
}

static int h_fail(wsm_job *j, void *u)
{
    start(u, j);
    wsm_job_fail(j, "test_error", "asked to fail", wsm_job_args(j), true);
    return 1;
}

static int h_emit(wsm_job *j, void *u)
{
    struct cfg *c = u;
    start(c, j);
    int n = (int)wsm_job_arg_num(j, "n", 1);
    int bytes = (int)wsm_job_arg_num(j, "bytes", 0);
    const char *key = wsm_job_arg_str(j, "key", NULL);
    unsigned char *payload = bytes ? malloc((size_t)bytes) : NULL;
    for (int i = 0; payload && i < bytes; i++)
        payload[i] = (unsigned char)(i * 7 + 1);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "i", i);
        wsm_emit_opts e = {.args = a,
                           .key = key,
                           .payload = payload,
                           .len = payload ? (size_t)bytes : 0,
                           .content_type = payload ? "application/octet-stream" : NULL};
        rc = wsm_job_emit(j, "out", &e);
        cJSON_Delete(a);
        if (rc != 0) {
            record(c, "emit-error %s %d %s %d", wsm_job_id(j), i, wsm_strerror(rc), (int)getpid());
            break;
        }
    }
    free(payload);
    record(c, "emitted %s %d %d", wsm_job_id(j), n, (int)getpid());
    if (rc == 0)
        done(c, j);
    return rc;
}

static int h_slow(wsm_job *j, void *u)
{
    struct cfg *c = u;
    start(c, j);
    sleep_ms(c->slow_ms);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "i", wsm_job_arg_num(j, "i", -1));
    wsm_job_set_result(j, r);
    cJSON_Delete(r);
    record(c, "done %s %s %d %s %d i=%d", wsm_job_queue(j), wsm_job_id(j), wsm_job_attempt(j),
           wsm_job_key(j) ? wsm_job_key(j) : "-", (int)getpid(), (int)wsm_job_arg_num(j, "i", -1));
    return 0;
}

/* A result value larger than the hub takes in one header (args.bytes characters). */
static int h_big(wsm_job *j, void *u)
{
    start(u, j);
    size_t n = (size_t)wsm_job_arg_num(j, "bytes", 100000);
    char *big = malloc(n + 1);
    if (!big)
        return -1;
    memset(big, 'x', n);
    big[n] = 0;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "big", big);
    wsm_job_set_result(j, r);
    cJSON_Delete(r);
    free(big);
    done(u, j);
    return 0;
}

static int h_echo(wsm_job *j, void *u)
{
    start(u, j);
    size_t n;
    const void *p = wsm_job_payload(j, &n);
    wsm_job_set_result(j, wsm_job_args(j));
    if (n)
        wsm_job_set_result_payload(j, p, n, wsm_job_content_type(j), wsm_job_payload_meta(j));
    done(u, j);
    return 0;
}

static int h_state(wsm_job *j, void *u)
{
    start(u, j);
    const cJSON *st = wsm_job_state(j);
    const cJSON *cnt = st ? cJSON_GetObjectItemCaseSensitive(st, "count") : NULL;
    double count = cJSON_IsNumber(cnt) ? cnt->valuedouble : 0;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "count", count);
    wsm_job_set_result(j, r);
    cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "count"), count + 1);
    wsm_job_set_state(j, r);
    cJSON_Delete(r);
    done(u, j);
    return 0;
}

int main(int argc, char **argv)
{
    struct cfg c = {.fd = -1, .slow_ms = 5};
    const char *queues = "sleep,fail,emit,slow,echo,state";
    /* our own options: --record FILE, --slow-ms N, --queues a,b */
    int w = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--record") == 0 && i + 1 < argc) {
            c.fd = open(argv[++i], O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (c.fd < 0) {
                perror(argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--slow-ms") == 0 && i + 1 < argc) {
            c.slow_ms = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--queues") == 0 && i + 1 < argc) {
            queues = argv[++i];
        } else {
            argv[w++] = argv[i];
        }
    }
    argc = w;
    static const struct {
        const char *q;
        wsm_handler fn;
    } all[] = {{"sleep", h_sleep}, {"fail", h_fail},   {"emit", h_emit}, {"slow", h_slow},
               {"echo", h_echo},   {"state", h_state}, {"big", h_big}};
    wsm_endpoint eps[8];
    size_t n = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *p = strstr(queues, all[i].q);
        size_t l = strlen(all[i].q);
        if (p && (p == queues || p[-1] == ',') && (p[l] == 0 || p[l] == ','))
            eps[n++] = (wsm_endpoint){.queue = all[i].q, .handler = all[i].fn, .user = &c};
    }
    eps[n] = (wsm_endpoint){0};
    const wsm_service_config cfg = {.name = "test-service",
                                    .endpoints = eps,
                                    .help_extra = "  --record FILE --slow-ms N --queues a,b\n"};
    int rc = wsm_service_main(&cfg, argc, argv);
    if (c.fd >= 0)
        close(c.fd);
    return rc;
}
