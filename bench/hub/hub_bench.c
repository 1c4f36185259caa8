/*
 * hub_bench.c - the load generator of the hub benchmark (bench/hub/run_hub_bench.py drives it
 * against a wshub on loopback). Built on libwsmesh, so the client side is the C adapter, not a
 * script. Every mode prints one JSON object on stdout.
 *
 *   hub-bench work URL QUEUE N PREFETCH LATFILE  a worker with a no-op handler that exits after
 *                                                N jobs; writes each job's enqueue->handler
 *                                                latency (µs, int64) to LATFILE; prints jobs,
 *                                                first/last handler time (CLOCK_MONOTONIC µs)
 *   hub-bench produce URL QUEUE N RATE           enqueues N small jobs (args {"t": send time}),
 *                                                pipelined; RATE > 0 paces them at RATE jobs/s;
 *                                                prints start/end time (µs) and failures
 *
 * Latency is measured between processes with CLOCK_MONOTONIC, which is system-wide on Linux.
 */
#include <pthread.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wsmesh.h>

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

typedef struct counters {
    int64_t first_us, last_us;
    int64_t *lat;
    long n, max;
    pthread_mutex_t mu;
} counters;

static int handler(wsm_job *j, void *u)
{
    counters *c = u;
    int64_t now = wsm_mono_us();
    double t = wsm_job_arg_num(j, "t", 0);
    pthread_mutex_lock(&c->mu);
    if (!c->n)
        c->first_us = now;
    c->last_us = now;
    if (c->n < c->max)
        c->lat[c->n] = now - (int64_t)t;
    c->n++;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static int work(const char *url, const char *queue, long n, int prefetch, const char *latfile)
{
    counters c = {.mu = PTHREAD_MUTEX_INITIALIZER, .max = n};
    c.lat = calloc((size_t)(n > 0 ? n : 1), sizeof *c.lat);
    wsm_options o = {.url = url,
                     .name = "hub-bench-worker",
                     .prefetch = prefetch,
                     .concurrency = 1,
                     .max_jobs = n,
                     .log_level = "warn"};
    wsm_err e;
    wsm_service *s = wsm_service_new(&o, &e);
    if (!s || !c.lat || wsm_service_add(s, queue, handler, &c) != 0) {
        fprintf(stderr, "hub-bench: %s\n", s ? "cannot add handler" : e.msg);
        return 1;
    }
    int rc = wsm_service_run(s);
    if (rc)
        fprintf(stderr, "hub-bench: %s\n", wsm_service_errstr(s));
    wsm_service_free(s);
    FILE *f = fopen(latfile, "wb");
    long kept = c.n < c.max ? c.n : c.max;
    if (!f || fwrite(c.lat, sizeof *c.lat, (size_t)kept, f) != (size_t)kept) {
        fprintf(stderr, "hub-bench: cannot write %s\n", latfile);
        rc = 1;
    }
    if (f)
        fclose(f);
    printf("{\"jobs\":%ld,\"first_us\":%lld,\"last_us\":%lld,\"cpu_s\":%.6f}\n", c.n,
           (long long)c.first_us, (long long)c.last_us, cpu_s());
    free(c.lat);
    return rc ? 1 : 0;
}

static int produce(const char *url, const char *queue, long n, double rate)
{
    wsm_options o = {.url = url, .name = "hub-bench-producer", .log_level = "warn"};
    wsm_err e;
    wsm_client *c = wsm_client_connect(&o, &e);
    if (!c) {
        fprintf(stderr, "hub-bench: %s\n", e.msg);
        return 1;
    }
    cJSON *args = cJSON_CreateObject();
    cJSON *t = cJSON_AddNumberToObject(args, "t", 0);
    int64_t t0 = wsm_mono_us();
    int rc = 0;
    size_t failed = 0;
    for (long i = 0; i < n && rc == 0; i++) {
        if (rate > 0) {
            int64_t due = t0 + (int64_t)((double)i * 1e6 / rate);
            int64_t now = wsm_mono_us();
            if (due > now + 200) {
                struct timespec ts = {0, (long)(due - now) * 1000};
                nanosleep(&ts, NULL);
            }
        }
        cJSON_SetNumberValue(t, (double)wsm_mono_us());
        rc = wsm_enqueue_nowait(c, queue, args, NULL);
    }
    if (rc == 0)
        rc = wsm_client_sync(c, 600, &failed);
    int64_t t1 = wsm_mono_us();
    if (rc || failed)
        fprintf(stderr, "hub-bench: produce: %s (%zu refused)\n", wsm_client_errstr(c), failed);
    printf("{\"jobs\":%ld,\"failed\":%zu,\"start_us\":%lld,\"end_us\":%lld,\"cpu_s\":%.6f}\n", n,
           failed, (long long)t0, (long long)t1, cpu_s());
    cJSON_Delete(args);
    wsm_client_free(c);
    return rc || failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 7 && strcmp(argv[1], "work") == 0)
        return work(argv[2], argv[3], atol(argv[4]), atoi(argv[5]), argv[6]);
    if (argc >= 6 && strcmp(argv[1], "produce") == 0)
        return produce(argv[2], argv[3], atol(argv[4]), atof(argv[5]));
    fprintf(stderr, "usage: hub-bench work URL QUEUE N PREFETCH LATFILE | "
                    "produce URL QUEUE N RATE\n");
    return 2;
}
