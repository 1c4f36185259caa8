/*
 * bench_adapter.c - the pieces of the adapter benchmark (bench/adapter/run_bench.py drives them
 * against a wshub on loopback). Every mode prints one JSON object on stdout.
 *
 *   bench-adapter serve URL QUEUE N [args]
 *                                        a service with a no-op handler (prefetch 256) that
 *                                        exits after N jobs: jobs, payload bytes, wall seconds
 *                                        from the first to the last job, process CPU seconds;
 *                                        `args`: the handler reads args.i (parses the args)
 *   bench-adapter produce URL QUEUE N B  pipelined enqueue of N jobs with B payload bytes each
 *                                        (binary): wall and CPU seconds
 *   bench-adapter rawtcp MB              baseline: MB bytes through a loopback TCP socket in
 *                                        1 MiB writes, same process: wall seconds, MB/s
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <wsmesh.h>

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

struct counters {
    int64_t first_us, last_us;
    uint64_t jobs, bytes;
    bool read_args;
    pthread_mutex_t mu;
};

static int noop(wsm_job *j, void *u)
{
    struct counters *c = u;
    size_t n;
    wsm_job_payload(j, &n);
    if (c->read_args && wsm_job_arg_num(j, "i", -1) < 0)
        return 1;
    int64_t now = wsm_mono_us();
    pthread_mutex_lock(&c->mu);
    if (!c->jobs)
        c->first_us = now;
    c->last_us = now;
    c->jobs++;
    c->bytes += n;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static int serve(const char *url, const char *queue, long n, bool read_args)
{
    struct counters c = {.read_args = read_args, .mu = PTHREAD_MUTEX_INITIALIZER};
    wsm_options o = {
        .url = url, .name = "bench-serve", .prefetch = 256, .max_jobs = n, .log_level = "warn"};
    wsm_err e;
    wsm_service *s = wsm_service_new(&o, &e);
    if (!s || wsm_service_add(s, queue, noop, &c) != 0) {
        fprintf(stderr, "bench-adapter: %s\n", s ? "cannot add handler" : e.msg);
        return 1;
    }
    int rc = wsm_service_run(s);
    if (rc)
        fprintf(stderr, "bench-adapter: %s\n", wsm_service_errstr(s));
    wsm_service_free(s);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"jobs\":%llu,\"bytes\":%llu,\"wall_s\":%.6f,\"cpu_s\":%.6f,\"vcsw\":%ld,"
           "\"ivcsw\":%ld}\n",
           (unsigned long long)c.jobs, (unsigned long long)c.bytes,
           (double)(c.last_us - c.first_us) / 1e6, cpu_s(), ru.ru_nvcsw, ru.ru_nivcsw);
    return rc ? 1 : 0;
}

static int produce(const char *url, const char *queue, long n, size_t bytes)
{
    wsm_options o = {.url = url, .name = "bench-produce", .log_level = "warn"};
    wsm_err e;
    wsm_client *c = wsm_client_connect(&o, &e);
    if (!c) {
        fprintf(stderr, "bench-adapter: %s\n", e.msg);
        return 1;
    }
    unsigned char *p = bytes ? malloc(bytes) : NULL;
    for (size_t i = 0; i < bytes; i++)
        p[i] = (unsigned char)(i * 131 + 17);
    cJSON *args = cJSON_CreateObject();
    cJSON_AddNumberToObject(args, "i", 0);
    wsm_enqueue_opts eo = {
        .payload = p, .len = bytes, .content_type = bytes ? "application/octet-stream" : NULL};
    int64_t t0 = wsm_mono_us();
    int rc = 0;
    for (long i = 0; i < n && rc == 0; i++)
        rc = wsm_enqueue_nowait(c, queue, args, &eo);
    size_t failed = 0;
    if (rc == 0)
        rc = wsm_client_sync(c, 600, &failed);
    int64_t t1 = wsm_mono_us();
    if (rc || failed)
        fprintf(stderr, "bench-adapter: produce: %s (%zu refused)\n", wsm_client_errstr(c), failed);
    printf("{\"jobs\":%ld,\"failed\":%zu,\"wall_s\":%.6f,\"cpu_s\":%.6f}\n", n, failed,
           (double)(t1 - t0) / 1e6, cpu_s());
    cJSON_Delete(args);
    free(p);
    wsm_client_free(c);
    return rc || failed ? 1 : 0;
}

struct tcpw {
    int fd;
    size_t total;
};

static void *tcp_writer(void *arg)
{
    struct tcpw *w = arg;
    size_t chunk = 1 << 20;
    char *buf = calloc(1, chunk);
    size_t sent = 0;
    while (buf && sent < w->total) {
        ssize_t k = write(w->fd, buf, chunk < w->total - sent ? chunk : w->total - sent);
        if (k <= 0)
            break;
        sent += (size_t)k;
    }
    free(buf);
    close(w->fd);
    return NULL;
}

static int rawtcp(long mb)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1) ||
        getsockname(ls, (struct sockaddr *)&a, &al))
        return 1;
    int cfd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(cfd, (struct sockaddr *)&a, sizeof a))
        return 1;
    int sfd = accept(ls, NULL, NULL);
    struct tcpw w = {.fd = sfd, .total = (size_t)mb << 20};
    pthread_t th;
    int64_t t0 = wsm_mono_us();
    pthread_create(&th, NULL, tcp_writer, &w);
    size_t got = 0;
    char *buf = malloc(1 << 20);
    ssize_t k;
    while ((k = read(cfd, buf, 1 << 20)) > 0)
        got += (size_t)k;
    pthread_join(th, NULL);
    double wall = (double)(wsm_mono_us() - t0) / 1e6;
    printf("{\"bytes\":%zu,\"wall_s\":%.6f,\"mb_s\":%.1f}\n", got, wall, (double)got / 1e6 / wall);
    free(buf);
    close(cfd);
    close(ls);
    return got == w.total ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "serve") == 0)
        return serve(argv[2], argv[3], atol(argv[4]), argc >= 6 && strcmp(argv[5], "args") == 0);
    if (argc >= 6 && strcmp(argv[1], "produce") == 0)
        return produce(argv[2], argv[3], atol(argv[4]), (size_t)atol(argv[5]));
    if (argc >= 3 && strcmp(argv[1], "rawtcp") == 0)
        return rawtcp(atol(argv[2]));
    fprintf(stderr, "usage: bench-adapter serve URL QUEUE N [args] | produce URL QUEUE N BYTES | "
                    "rawtcp MB\n");
    return 2;
}
