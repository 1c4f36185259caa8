/*
 * broker_bench.c - micro-benchmark of the pure broker core: CPU cost per job of
 * enqueue -> dispatch -> result (no network, no store), for 1/4/16 consumers and prefetch
 * 1/16/128, plus a keyed variant and an emit (reader -> stage) variant. Prints a table and
 * one JSON line. The baseline in the same run is the cost of a plain malloc+memcpy+free of a
 * job-sized record (what any broker must at least do), so the ratio is machine-independent.
 *
 * Usage: broker-bench [jobs]   (default 1,000,000 per configuration)
 */
#include "broker.h"
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* CPU time of this thread in µs: the machine may be shared; wall time would count others */
static int64_t cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

typedef struct ctx {
    int64_t now;
    broker *b;
    /* leased jobs waiting for their result, ring buffer */
    char (*ids)[32];
    int *attempt;
    broker_conn **conn;
    size_t head, tail, cap;
} ctx;

static int64_t clk(void *u)
{
    return ((ctx *)u)->now;
}

static void on_dispatch(void *u, void *cu, const broker_dispatch *d)
{
    ctx *c = u;
    size_t i = c->tail++ % c->cap;
    size_t n = strlen(d->job_id);
    memcpy(c->ids[i], d->job_id, n < 31 ? n + 1 : 31);
    c->attempt[i] = d->attempt;
    c->conn[i] = cu;
}

/* st: NULL = no store; else every loop turn's changes are committed (one transaction) */
static double run_store(size_t jobs, int consumers, int prefetch, bool keyed, store *st,
                        double *wall_ns, uint64_t *checksum)
{
    ctx c = {.now = 1, .cap = (size_t)consumers * (size_t)prefetch + 16};
    c.ids = calloc(c.cap, sizeof *c.ids);
    c.attempt = calloc(c.cap, sizeof *c.attempt);
    c.conn = calloc(c.cap, sizeof *c.conn);
    broker_queue_decl q = {.name = "q", .max_length = 0};
    broker_job_opts_init(&q.defaults);
    broker_config cfg = {.queues = &q,
                         .n_queues = 1,
                         .retention = {.result_ttl_ms = 1000,
                                       .failure_ttl_ms = 1000,
                                       .emitted_result_ttl_ms = 100,
                                       .registry_cap = 10000},
                         .now = clk,
                         .clock_user = &c,
                         .out = {.user = &c, .dispatch = on_dispatch},
                         .persist = st != NULL,
                         .id_seed = 7};
    c.b = broker_new(&cfg, NULL);
    broker_conn **cs = calloc((size_t)consumers, sizeof *cs);
    const char *qs[] = {"q"};
    /* conn_user = the handle's slot, so that a result goes back on the leasing connection */
    for (int i = 0; i < consumers; i++) {
        cs[i] = broker_conn_new(c.b, &cs[i], NULL);
        broker_consume(c.b, cs[i], qs, 1, prefetch, NULL);
    }
    const char *args = "{\"frame\":1}";
    broker_job_spec s;
    broker_job_spec_init(&s);
    s.queue = "q";
    s.args = args;
    s.args_len = strlen(args);
    static const unsigned char payload[64];
    s.payload = payload;
    s.len = sizeof payload;
    broker_result_spec r;
    broker_result_spec_init(&r);
    r.value = "{\"ok\":true}";
    r.value_len = strlen(r.value);
    char keys[64][8];
    for (int k = 0; k < 64; k++)
        snprintf(keys[k], sizeof keys[k], "k%d", k);
    int64_t t0 = cpu_us(), w0 = wsm_mono_us();
    size_t done = 0, sent = 0;
    broker_reply rep;
    while (done < jobs) {
        /* producer: keep the pipeline full */
        while (sent < jobs && sent - done < c.cap - 8) {
            if (keyed) {
                s.key = keys[sent % 64];
            }
            if (broker_enqueue(c.b, NULL, &s, &rep, NULL) != WSM_OK)
                abort();
            sent++;
        }
        /* consumers answer in dispatch order */
        while (c.head < c.tail) {
            size_t i = c.head++ % c.cap;
            broker_conn *w = *(broker_conn **)c.conn[i];
            if (broker_result(c.b, w, c.ids[i], c.attempt[i], &r, NULL) != WSM_OK)
                abort();
            done++;
        }
        if ((done & 1023) == 0) {
            c.now += 1;
            broker_tick(c.b);
        }
        if (st) { /* one loop turn: one batch, committed before the replies would go out */
            store_batch *bt = store_batch_take(st, c.b, NULL);
            if (bt && store_batch_commit(st, bt, NULL) != WSM_OK)
                abort();
            store_batch_free(bt);
        }
    }
    int64_t t1 = cpu_us();
    if (wall_ns)
        *wall_ns = (double)(wsm_mono_us() - w0) * 1000.0 / (double)jobs;
    *checksum += broker_job_count(c.b);
    for (int i = 0; i < consumers; i++)
        broker_conn_free(c.b, cs[i]);
    broker_free(c.b);
    free(cs);
    free(c.ids);
    free(c.attempt);
    free(c.conn);
    return (double)(t1 - t0) * 1000.0 / (double)jobs; /* ns per job */
}

static double run(size_t jobs, int consumers, int prefetch, bool keyed, uint64_t *checksum)
{
    return run_store(jobs, consumers, prefetch, keyed, NULL, NULL, checksum);
}

static double baseline(size_t jobs, uint64_t *checksum)
{
    static unsigned char src[160];
    int64_t t0 = cpu_us();
    for (size_t i = 0; i < jobs; i++) {
        src[0] = (unsigned char)i;
        unsigned char *volatile p = malloc(sizeof src);
        memcpy(p, src, sizeof src);
        *checksum += p[(i * 7) % sizeof src];
        free(p);
    }
    return (double)(cpu_us() - t0) * 1000.0 / (double)jobs;
}

int main(int argc, char **argv)
{
    size_t jobs = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 1000000;
    uint64_t ck = 0;
    double base = baseline(jobs, &ck);
    printf("broker core: enqueue -> dispatch -> result, %zu jobs per row (ns/job = thread CPU "
           "time of the broker only)\n",
           jobs);
    printf("%-10s %-9s %-6s %10s %12s %8s\n", "consumers", "prefetch", "keyed", "ns/job", "jobs/s",
           "x base");
    int cons[] = {1, 4, 16}, pf[] = {1, 16, 128};
    double worst = 0, best = 1e18;
    char json[4096];
    size_t jl = 0;
    json[0] = 0;
    for (int ci = 0; ci < 3; ci++)
        for (int pi = 0; pi < 3; pi++)
            for (int k = 0; k < 2; k++) {
                double ns = run(jobs, cons[ci], pf[pi], k == 1, &ck);
                if (ns > worst)
                    worst = ns;
                if (ns < best)
                    best = ns;
                printf("\n%-10d %-9d %-6s %10.1f %12.0f %8.1f", cons[ci], pf[pi], k ? "yes" : "no",
                       ns, 1e9 / ns, ns / base);
                jl += (size_t)snprintf(json + jl, sizeof json - jl,
                                       "%s{\"consumers\":%d,\"prefetch\":%d,\"keyed\":%s,"
                                       "\"ns_per_job\":%.1f,\"ratio\":%.2f}",
                                       jl ? "," : "", cons[ci], pf[pi], k ? "true" : "false", ns,
                                       ns / base);
            }
    /* with the sqlite store: 4 consumers, prefetch 128, a batch per loop turn */
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[512];
    double store_ns[2] = {0, 0}, store_wall[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/broker-bench-%d.db", tmp, (int)getpid());
        store *st = store_sqlite_open(path, k ? 0 : STORE_SQLITE_SYNC_NORMAL, NULL);
        if (!st)
            break;
        size_t n = jobs / 10 ? jobs / 10 : 1;
        store_ns[k] = run_store(n, 4, 128, false, st, &store_wall[k], &ck);
        store_free(st);
        for (const char *suf = ""; suf;
             suf = *suf ? (strcmp(suf, "-wal") ? NULL : "-shm") : "-wal") {
            char p2[600];
            snprintf(p2, sizeof p2, "%s%s", path, suf);
            unlink(p2);
        }
        printf("\n%-10d %-9d %-6s %10.1f %12.0f %8.1f   sqlite %s: wall %.0f ns/job", 4, 128, "no",
               store_ns[k], 1e9 / store_ns[k], store_ns[k] / base,
               k ? "synchronous=FULL" : "synchronous=NORMAL", store_wall[k]);
    }
    printf("\n{\"bench\":\"broker\",\"sqlite_normal_ns\":%.1f,\"sqlite_full_ns\":%.1f,"
           "\"sqlite_normal_wall_ns\":%.1f,\"sqlite_full_wall_ns\":%.1f,",
           store_ns[0], store_ns[1], store_wall[0], store_wall[1]);
    printf("\"baseline_ns\":%.1f,\"best_ns\":%.1f,\"worst_ns\":%.1f,"
           "\"rows\":[%s],\"checksum\":%" PRIu64 "}\n",
           base, best, worst, json, ck);
    return 0;
}
