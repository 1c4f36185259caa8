/*
 * probe.c - a client for the adapter's transport tests. One command per run; prints one result
 * line on stdout and errors as sentences on stderr; exits with the wsm status code (0 = ok).
 *
 *   probe hello URL [--ca-file F] [--connect-timeout S]      connect + hello, print the hub name
 *   probe request URL QUEUE N [--bytes B]                    N request/replies on queue (echo:
 *                                                            payload of B bytes checked back)
 *   probe pipeline URL QUEUE N                               N pipelined enqueues, then sync
 *   probe idle URL SECONDS [--ping S --pong S --max-message B]  stay connected (waiting for
 *                                                            events); 0 if still connected
 *   probe async URL QUEUE N                                  subscribe to events with a
 *                                                            callback, N wsm_enqueue_async, run
 *                                                            wsm_client_dispatch until all N
 *                                                            jobs are finished
 *   probe options URL QUEUE                                  one job per enqueue call
 *                                                            (blocking, nowait, async) with
 *                                                            every wsm_enqueue_opts member set
 *                                                            (see options_for), then headers
 *                                                            with invalid UTF-8, which must be
 *                                                            refused with WSM_E_USAGE while the
 *                                                            connection stays usable; prints
 *                                                            "ok DEP_ID"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsmesh.h>

struct async_state {
    int replies, refused, finished;
};

static void on_enqueued(int code, const cJSON *reply, void *ud)
{
    struct async_state *st = ud;
    st->replies++;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(reply, "job_id");
    if (code != 0 || !cJSON_IsString(id))
        st->refused++;
}

static void on_event(const cJSON *ev, void *ud)
{
    struct async_state *st = ud;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(ev, "data");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(data, "status");
    if (cJSON_IsString(status) && strcmp(status->valuestring, "finished") == 0)
        st->finished++;
}

/* The args of the options jobs: every JSON type, escapes, non-ASCII UTF-8 (adapter_test.py
 * compares what the hub got with ARGS there). */
static const char ARGS[] =
    "{\"s\":\"tab\\t quote\\\" bs\\\\ nl\\n ctl\\u0001\\u001f del\x7f \xc3\xa9 "
    "\xe2\x82\xac \xf0\x9d\x84\x9e\",\"n\":-1.5,\"big\":1e300,\"small\":1e-7,\"int\":123456789012,"
    "\"t\":true,\"f\":false,\"z\":null,\"a\":[1,[2,{}],[]],\"e\":{},\"k\\\"ey\":\"v\"}";

/* Every member of wsm_enqueue_opts set: mode 0 blocking (enqueue_at), 1 nowait and 2 async
 * (enqueue_in). The values are checked by adapter_test.py t_enqueue_options. */
static void options_for(int mode, const char *dep, const cJSON *meta, const cJSON *retry,
                        const cJSON *pmeta, const char **deps, wsm_enqueue_opts *eo, char *job_id)
{
    static const char *const names[] = {"opt-blocking", "opt-nowait", "opt-async"};
    static const unsigned char payload[] = {0, 1, 2, 0xff, 'b', 'i', 'n', '\n'};
    snprintf(job_id, 64, "%s", names[mode]);
    deps[0] = dep;
    *eo = (wsm_enqueue_opts){.job_id = job_id,
                             .meta = meta,
                             .key = "k-\xc3\xa9 \"q\"",
                             .at_front = true,
                             .timeout = 12.5,
                             .ttl = 3600,
                             .result_ttl = 40,
                             .failure_ttl = 50.25,
                             .retry = retry,
                             .depends_on = deps,
                             .n_depends_on = 1,
                             .allow_failure = true,
                             .weight = 7,
                             .payload = payload,
                             .len = sizeof payload,
                             .content_type = "application/octet-stream",
                             .payload_meta = pmeta};
    if (mode == 0)
        eo->enqueue_at = 4102444800000; /* 2100-01-01 */
    else
        eo->enqueue_in = 7200.5;
}

static void count_reply(int code, const cJSON *reply, void *ud)
{
    *(int *)ud = code == 0 ? 1 : -code;
}

static int options(wsm_client *c, const char *queue)
{
    char dep[WSM_JOB_ID_MAX + 1];
    int rc = wsm_enqueue(c, queue, NULL, NULL, dep);
    if (rc != 0)
        return rc;
    cJSON *args = cJSON_Parse(ARGS);
    cJSON *meta = cJSON_Parse("{\"m\":\"\xc3\xa9\\\"\\n\",\"list\":[0.5,-0]}");
    cJSON *retry = cJSON_Parse("{\"max\":2,\"intervals\":[1,2.5]}");
    cJSON *pmeta = cJSON_Parse("{\"cols\":[{\"name\":\"t\",\"type\":\"f64\"}]}");
    const char *deps[1];
    char id[64];
    wsm_enqueue_opts eo;
    int async_done = 0;
    for (int mode = 0; mode < 3 && rc == 0; mode++) {
        options_for(mode, dep, meta, retry, pmeta, deps, &eo, id);
        if (mode == 0) {
            char got[WSM_JOB_ID_MAX + 1];
            rc = wsm_enqueue(c, queue, args, &eo, got);
            if (rc == 0 && strcmp(got, id) != 0)
                rc = 1;
        } else if (mode == 1) {
            size_t failed = 0;
            rc = wsm_enqueue_nowait(c, queue, args, &eo);
            if (rc == 0)
                rc = wsm_client_sync(c, 30, &failed);
            if (rc == 0 && failed)
                rc = wsm_client_err(c) ? wsm_client_err(c) : 1;
        } else {
            rc = wsm_enqueue_async(c, queue, args, &eo, count_reply, &async_done);
            if (rc == 0)
                rc = wsm_client_dispatch(c, 0);
            if (rc == 0 && async_done != 1)
                rc = async_done < 0 ? -async_done : 1;
        }
    }
    /* invalid UTF-8 from the caller: refused before sending, the connection stays usable */
    if (rc == 0) {
        wsm_enqueue_opts bad = {.key = "k\xff"};
        int r1 = wsm_enqueue(c, queue, NULL, &bad, NULL);
        int ok1 = r1 == WSM_E_USAGE && strstr(wsm_client_errstr(c), "key") != NULL;
        cJSON *bargs = cJSON_CreateObject();
        cJSON_AddStringToObject(bargs, "s", "\xc3\x28");
        int r2 = wsm_enqueue_nowait(c, queue, bargs, NULL);
        int ok2 = r2 == WSM_E_USAGE && strstr(wsm_client_errstr(c), "args") != NULL;
        const char *bdeps[] = {"\xed\xa0\x80"}; /* a surrogate */
        wsm_enqueue_opts bd = {.depends_on = bdeps, .n_depends_on = 1};
        int r3 = wsm_enqueue_async(c, queue, NULL, &bd, count_reply, &async_done);
        int ok3 = r3 == WSM_E_USAGE && strstr(wsm_client_errstr(c), "depends_on") != NULL;
        cJSON_Delete(bargs);
        if (!ok1 || !ok2 || !ok3) {
            fprintf(stderr, "probe: invalid UTF-8 not refused as expected: %d %d %d (%s)\n", r1, r2,
                    r3, wsm_client_errstr(c));
            rc = 1;
        } else {
            rc = wsm_enqueue(c, queue, NULL, NULL, NULL); /* still connected */
        }
    }
    cJSON_Delete(args);
    cJSON_Delete(meta);
    cJSON_Delete(retry);
    cJSON_Delete(pmeta);
    if (rc == 0)
        printf("ok %s\n", dep);
    return rc;
}

static int fail(wsm_client *c, int rc)
{
    fprintf(stderr, "probe: %s (%s)\n", wsm_client_errstr(c), wsm_code_name(rc));
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: probe CMD URL ...\n");
        return 2;
    }
    const char *cmd = argv[1];
    wsm_options o = {.url = argv[2], .name = "probe", .log_level = "warn"};
    size_t bytes = 0;
    int w = 3;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--ca-file") == 0 && i + 1 < argc)
            o.ca_file = argv[++i];
        else if (strcmp(argv[i], "--connect-timeout") == 0 && i + 1 < argc)
            o.connect_timeout = atof(argv[++i]);
        else if (strcmp(argv[i], "--ping") == 0 && i + 1 < argc)
            o.ping_interval = atof(argv[++i]);
        else if (strcmp(argv[i], "--pong") == 0 && i + 1 < argc)
            o.pong_timeout = atof(argv[++i]);
        else if (strcmp(argv[i], "--max-message") == 0 && i + 1 < argc)
            o.max_message_bytes = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--bytes") == 0 && i + 1 < argc)
            bytes = (size_t)atol(argv[++i]);
        else
            argv[w++] = argv[i];
    }
    argc = w;
    wsm_err e = {0};
    wsm_client *c = wsm_client_connect(&o, &e);
    if (!c) {
        fprintf(stderr, "probe: %s (%s)\n", e.msg, wsm_code_name(e.code));
        return e.code ? e.code : 1;
    }
    int rc = 0;
    if (strcmp(cmd, "hello") == 0) {
        const cJSON *hub = cJSON_GetObjectItemCaseSensitive(wsm_client_welcome(c), "hub");
        printf("ok %s\n", cJSON_IsString(hub) ? hub->valuestring : "?");
    } else if (strcmp(cmd, "request") == 0 && argc >= 5) {
        int n = atoi(argv[4]);
        unsigned char *p = bytes ? malloc(bytes) : NULL;
        for (size_t i = 0; i < bytes; i++)
            p[i] = (unsigned char)(i * 31 + 7);
        for (int i = 0; i < n && rc == 0; i++) {
            char id[WSM_JOB_ID_MAX + 1];
            cJSON *args = cJSON_CreateObject();
            cJSON_AddNumberToObject(args, "i", i);
            cJSON_AddStringToObject(args, "name", "probe");
            wsm_enqueue_opts eo = {.payload = p,
                                   .len = bytes,
                                   .content_type = bytes ? "application/octet-stream" : NULL};
            rc = wsm_enqueue(c, argv[3], args, &eo, id);
            cJSON *job = NULL;
            if (rc == 0)
                rc = wsm_wait(c, id, false, 30, &job);
            if (rc == 0) {
                const cJSON *st = cJSON_GetObjectItemCaseSensitive(job, "status");
                if (!cJSON_IsString(st) || strcmp(st->valuestring, "finished") != 0) {
                    fprintf(stderr, "probe: job %s did not finish\n", id);
                    rc = 1;
                }
            }
            cJSON_Delete(job);
            cJSON_Delete(args);
        }
        free(p);
        if (rc == 0)
            printf("ok %d\n", n);
        else if (rc != 1)
            rc = fail(c, rc);
    } else if (strcmp(cmd, "pipeline") == 0 && argc >= 5) {
        int n = atoi(argv[4]);
        for (int i = 0; i < n && rc == 0; i++) {
            cJSON *args = cJSON_CreateObject();
            cJSON_AddNumberToObject(args, "i", i);
            rc = wsm_enqueue_nowait(c, argv[3], args, NULL);
            cJSON_Delete(args);
        }
        size_t failed = 0;
        if (rc == 0)
            rc = wsm_client_sync(c, 60, &failed);
        if (rc == 0)
            printf("ok %d failed %zu\n", n, failed);
        else
            rc = fail(c, rc);
    } else if (strcmp(cmd, "idle") == 0 && argc >= 4) {
        double secs = atof(argv[3]);
        rc = wsm_next_event(c, secs, NULL);
        if (rc == WSM_E_TIMEOUT) {
            printf("ok idle\n");
            rc = 0;
        } else {
            fail(c, rc);
            rc = wsm_client_err(c) ? wsm_client_err(c) : rc;
        }
    } else if (strcmp(cmd, "async") == 0 && argc >= 5) {
        int n = atoi(argv[4]);
        struct async_state st = {0};
        const char *topics[] = {"events"};
        wsm_client_set_event_cb(c, on_event, &st);
        rc = wsm_subscribe(c, topics, 1);
        for (int i = 0; i < n && rc == 0; i++) {
            cJSON *args = cJSON_CreateObject();
            cJSON_AddNumberToObject(args, "i", i);
            rc = wsm_enqueue_async(c, argv[3], args, NULL, on_enqueued, &st);
            cJSON_Delete(args);
        }
        if (rc == 0)
            rc = wsm_client_dispatch(c, 0); /* until every enqueue is answered */
        int64_t deadline = wsm_mono_ms() + 30000;
        while (rc == 0 && st.finished < n && wsm_mono_ms() < deadline)
            rc = wsm_client_dispatch(c, 0.2);
        if (rc == 0 && st.replies == n && st.refused == 0 && st.finished >= n)
            printf("ok async %d\n", n);
        else {
            fprintf(stderr, "probe: async: rc %d, %d replies, %d refused, %d finished\n", rc,
                    st.replies, st.refused, st.finished);
            rc = rc ? rc : 1;
        }
    } else if (strcmp(cmd, "options") == 0 && argc >= 4) {
        rc = options(c, argv[3]);
        if (rc > 1)
            rc = fail(c, rc);
    } else {
        fprintf(stderr, "probe: bad command %s\n", cmd);
        rc = 2;
    }
    wsm_client_free(c);
    return rc;
}
