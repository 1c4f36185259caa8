/*
 * alloc_hooks.c - checks wsm_set_allocator: with counting hooks installed, a service (in this
 * process, on its own thread) and a client do round trips through a hub -- request/reply with
 * args, a payload, key state, a handler failure, pipelined enqueues, a query -- and afterwards
 * every allocation made through the hooks has been freed through them, no free of a pointer
 * the hooks did not allocate happened, and the hooks were really used (libwsmesh and cJSON).
 * Also: the allocator cannot be changed while a client exists; NULL restores the default.
 *
 *   alloc-hooks URL        exits 0 when every check holds, 1 with the failed checks on stderr
 *
 * Run by adapter_test.py (case alloc_hooks) against the real wshub (queues echo and state).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wsmesh.h>

/* ------------------------------------------------------------------ counting hooks */

#define SLOTS (1u << 20) /* open addressing, far more than the live allocations */
#define TOMB  ((void *)1)

static struct {
    void *p;
    size_t n;
} tab[SLOTS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long n_alloc, n_free, n_live, n_foreign;
static size_t live_bytes;

static size_t slot_of(void *p)
{
    return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15u >> 44) & (SLOTS - 1);
}

static void track(void *p, size_t n) /* under mu */
{
    size_t i = slot_of(p);
    while (tab[i].p && tab[i].p != TOMB)
        i = (i + 1) & (SLOTS - 1);
    tab[i].p = p;
    tab[i].n = n;
    n_alloc++;
    n_live++;
    live_bytes += n;
}

static bool untrack(void *p) /* under mu */
{
    for (size_t i = slot_of(p); tab[i].p; i = (i + 1) & (SLOTS - 1)) {
        if (tab[i].p == p) {
            tab[i].p = TOMB;
            n_free++;
            n_live--;
            live_bytes -= tab[i].n;
            return true;
        }
    }
    n_foreign++;
    return false;
}

static void *h_malloc(size_t n)
{
    void *p = malloc(n);
    if (p) {
        pthread_mutex_lock(&mu);
        track(p, n);
        pthread_mutex_unlock(&mu);
    }
    return p;
}

static void *h_realloc(void *old, size_t n)
{
    pthread_mutex_lock(&mu);
    bool known = !old || untrack(old);
    pthread_mutex_unlock(&mu);
    if (!known)
        return NULL; /* counted as foreign: the check fails */
    void *p = realloc(old, n);
    pthread_mutex_lock(&mu);
    if (p)
        track(p, n);
    else if (old)
        track(old, 0); /* still owned by the caller */
    pthread_mutex_unlock(&mu);
    return p;
}

static void h_free(void *p)
{
    pthread_mutex_lock(&mu);
    bool known = untrack(p);
    pthread_mutex_unlock(&mu);
    if (known)
        free(p);
}

/* ------------------------------------------------------------------ the round trips */

static int fails;
#define CHECK(c, ...)                                                                              \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "alloc-hooks: %s:%d: ", __FILE__, __LINE__);                           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            fails++;                                                                               \
        }                                                                                          \
    } while (0)

/* echo: result {"n": args.n + 1, "len": payload bytes}, the payload back */
static int echo(wsm_job *j, void *u)
{
    size_t n = 0;
    const void *p = wsm_job_payload(j, &n);
    if (wsm_job_arg_num(j, "fail", 0) != 0) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "why", "asked");
        wsm_job_fail(j, "test_error", "asked to fail", d, false);
        cJSON_Delete(d);
        return 1;
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "n", wsm_job_arg_num(j, "n", 0) + 1);
    cJSON_AddNumberToObject(r, "len", (double)n);
    int rc = n ? wsm_job_set_result_payload(j, p, n, "application/octet-stream", NULL) : 0;
    rc = rc ? rc : wsm_job_set_result(j, r);
    cJSON_Delete(r);
    return rc;
}

/* state: counts per key in the key state */
static int state(wsm_job *j, void *u)
{
    const cJSON *st = wsm_job_state(j);
    const cJSON *c = st ? cJSON_GetObjectItemCaseSensitive(st, "count") : NULL;
    cJSON *ns = cJSON_CreateObject();
    cJSON_AddNumberToObject(ns, "count", (cJSON_IsNumber(c) ? c->valuedouble : 0) + 1);
    int rc = wsm_job_set_state(j, ns) || wsm_job_set_result(j, ns);
    cJSON_Delete(ns);
    return rc;
}

static void *run_service(void *arg)
{
    wsm_service_run(arg);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: alloc-hooks URL\n");
        return 2;
    }
    wsm_allocator bad = {.malloc_fn = h_malloc};
    CHECK(wsm_set_allocator(&bad) == WSM_E_USAGE, "an incomplete allocator is refused");
    wsm_allocator a = {h_malloc, h_realloc, h_free};
    CHECK(wsm_set_allocator(&a) == 0, "set the counting allocator");

    cJSON *probe = cJSON_CreateObject(); /* cJSON allocates through the hooks */
    CHECK(n_live > 0, "cJSON_CreateObject did not go through the hooks");
    cJSON_Delete(probe);

    wsm_options so = {.url = argv[1],
                      .name = "alloc-hooks",
                      .concurrency = 2,
                      .prefetch = 8,
                      .log_level = "warn"};
    wsm_err e;
    wsm_service *s = wsm_service_new(&so, &e);
    CHECK(s != NULL, "service: %s", e.msg);
    if (!s)
        return 1;
    CHECK(wsm_service_add(s, "echo", echo, NULL) == 0 &&
              wsm_service_add(s, "state", state, NULL) == 0,
          "handlers");
    pthread_t th;
    pthread_create(&th, NULL, run_service, s);

    wsm_options co = {.url = argv[1], .name = "alloc-hooks-client", .log_level = "warn"};
    wsm_client *c = wsm_client_connect(&co, &e);
    CHECK(c != NULL, "client: %s", e.msg);
    if (c) {
        CHECK(wsm_set_allocator(NULL) == WSM_E_USAGE, "allocator changed while a client exists");
        long before = n_alloc;
        /* request/reply with args and a payload (binary frames, kept receive buffers) */
        for (int i = 0; i < 20; i++) {
            size_t len = i % 2 ? 100000 : 0;
            unsigned char *pl = len ? malloc(len) : NULL;
            for (size_t k = 0; k < len; k++)
                pl[k] = (unsigned char)(k * 7 + i);
            cJSON *args = cJSON_CreateObject();
            cJSON_AddNumberToObject(args, "n", i);
            wsm_enqueue_opts eo = {
                .payload = pl, .len = len, .content_type = len ? "application/octet-stream" : NULL};
            cJSON *v = NULL;
            int rc = wsm_request(c, "echo", args, &eo, 20, &v);
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(v, "n");
            const cJSON *l = cJSON_GetObjectItemCaseSensitive(v, "len");
            CHECK(rc == 0 && cJSON_IsNumber(n) && n->valuedouble == i + 1 && cJSON_IsNumber(l) &&
                      l->valuedouble == (double)len,
                  "echo %d: %d %s", i, rc, wsm_client_errstr(c));
            cJSON_Delete(v);
            cJSON_Delete(args);
            free(pl);
        }
        /* key state across jobs of one key */
        cJSON *args = cJSON_CreateObject();
        char key[32]; /* a key of its own: the hub keeps key state across runs */
        snprintf(key, sizeof key, "k%ld", (long)getpid());
        wsm_enqueue_opts ko = {.key = key};
        for (int i = 1; i <= 3; i++) {
            cJSON *v = NULL;
            int rc = wsm_request(c, "state", args, &ko, 20, &v);
            const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(v, "count");
            CHECK(rc == 0 && cJSON_IsNumber(cnt) && cnt->valuedouble == i, "state %d: %d", i, rc);
            cJSON_Delete(v);
        }
        /* a failing handler: the error comes back */
        cJSON_AddNumberToObject(args, "fail", 1);
        CHECK(wsm_request(c, "echo", args, NULL, 20, NULL) == WSM_E_BAD_STATE, "failed job");
        cJSON_Delete(args);
        /* pipelined enqueues, then a query */
        cJSON *pa = cJSON_CreateObject();
        for (int i = 0; i < 200; i++)
            CHECK(wsm_enqueue_nowait(c, "echo", pa, NULL) == 0, "enqueue_nowait");
        size_t refused = 1;
        CHECK(wsm_client_sync(c, 20, &refused) == 0 && refused == 0, "sync");
        cJSON_Delete(pa);
        cJSON *q = NULL;
        CHECK(wsm_query(c, "queues", NULL, &q) == 0 && q, "query queues");
        cJSON_Delete(q);
        CHECK(n_alloc - before > 100, "the round trips allocated only %ld times through the hooks",
              n_alloc - before);
        wsm_client_free(c);
    }
    wsm_service_stop(s);
    pthread_join(th, NULL);
    wsm_service_free(s);

    pthread_mutex_lock(&mu);
    CHECK(n_live == 0 && live_bytes == 0,
          "%ld allocations (%zu bytes) made through the hooks were not freed", n_live, live_bytes);
    CHECK(n_foreign == 0, "%ld frees/reallocs of pointers the hooks did not allocate", n_foreign);
    pthread_mutex_unlock(&mu);
    CHECK(wsm_set_allocator(NULL) == 0, "restore the default allocator");
    long after = n_alloc;
    cJSON_Delete(cJSON_CreateObject());
    CHECK(n_alloc == after, "cJSON still uses the hooks after wsm_set_allocator(NULL)");
    printf("alloc-hooks: %ld allocations, %ld frees through the hooks\n", n_alloc, n_free);
    return fails ? 1 : 0;
}
