/*
 * meshctl.c - the wsmesh command line: submit jobs, inspect queues, workers and jobs, requeue,
 * cancel, empty, pause/resume queues, tail topics, page through a job's children. Built on
 * libwsmesh's blocking client.
 *
 * Every command's arguments are checked before connecting (a usage error exits 2 even when no
 * hub is reachable): main runs each command once with no client (x->c NULL), in which it only
 * parses and answers ARGS_OK, then connects and runs it again.
 *
 * Invariants: every command prints either its result (a table, or one JSON document with
 * --json; `tail --json` prints one JSON object per line) on stdout, or one error sentence on
 * stderr; the exit status says which (docs/meshctl.md):
 *   0 ok | 1 the job or its tree failed | 2 usage | 3 cannot connect / connection lost |
 *   4 the hub refused the request | 5 unauthorised / forbidden | 6 timed out
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsmesh.h>

#include "ingest.h"
#include "meshctl.h"

static const char usage[] =
    "Usage: meshctl [--url URL] [--token T] [--ca-file F] [--cert-file F [--key-file F]]\n"
    "               [--json] COMMAND ...\n"
    "\n"
    "Commands:\n"
    "  submit QUEUE ARGS_JSON [job options] [--wait [--wait-timeout S]]\n"
    "      job options: --job-id ID --timeout S --ttl S --result-ttl S --failure-ttl S\n"
    "      --retry N --retry-intervals S,S,... --depends-on ID (repeatable) --allow-failure\n"
    "      --key K --at-front --enqueue-at UNIX_MS --enqueue-in S --weight N --meta JSON\n"
    "      --payload-file F --content-type T --payload-meta JSON\n"
    "  info                               queues: queued/started/.../failed and workers\n"
    "  workers                            connected workers\n"
    "  job ID                             one job and its tree\n"
    "  jobs QUEUE --registry NAME [--limit N] [--offset N] [--search PREFIX]\n"
    "                                     one page of a registry (e.g. failed)\n"
    "  children ID [--descendants] [--status S] [--limit N] [--offset N]\n"
    "                                     the jobs below ID in its tree, a page at a time\n"
    "  requeue ID | requeue --all QUEUE   failed/expired/canceled jobs back to queued\n"
    "  cancel ID | empty QUEUE | pause QUEUE | resume QUEUE\n"
    "  tail [TOPIC ...] [--count N]       print events (default topic: events)\n"
    "  ingest FILE... [--channels F]      recordings -> mf4 queue, progress, summary table\n"
    "                                     (meshctl ingest --help)\n"
    "\n"
    "Common options: --url (env WSMESH_URL, default " WSM_DEFAULT_URL "), --token (env\n"
    "WSMESH_TOKEN), --ca-file PEM, --cert-file PEM and --key-file PEM (client certificate\n"
    "for a hub that requires one; env WSMESH_CERT_FILE, WSMESH_KEY_FILE), --json (stable\n"
    "JSON output, docs/meshctl.md), --connect-timeout S.\n"
    "Exit status: 0 ok, 1 job failed, 2 usage, 3 cannot connect, 4 refused by the hub,\n"
    "5 unauthorised, 6 timed out.\n";

struct ctx {
    wsm_options o;
    bool json;
    wsm_client *c; /* NULL: check the arguments only (answer ARGS_OK if they are fine) */
};

/* What a command answers, without a client, when its arguments are fine (same value as
 * meshctl_ingest's). */
#define ARGS_OK MESHCTL_INGEST_ARGS_OK

static int die_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "meshctl: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see meshctl --help)\n");
    return EX_USAGE;
}

static int exit_for(int code)
{
    switch (code) {
    case WSM_OK:
        return EX_OK;
    case WSM_E_CONNECT:
    case WSM_E_CLOSED:
    case WSM_E_IO:
        return EX_CONNECT;
    case WSM_E_UNAUTHORIZED:
    case WSM_E_FORBIDDEN:
        return EX_AUTH;
    case WSM_E_TIMEOUT:
        return EX_TIMEOUT;
    case WSM_E_USAGE:
        return EX_USAGE;
    default:
        return EX_REFUSED;
    }
}

/* Prints the client's error as a sentence and returns the exit status. */
static int report(struct ctx *x, int code)
{
    const char *s = x->c ? wsm_client_errstr(x->c) : "";
    fprintf(stderr, "meshctl: %s\n", s && *s ? s : wsm_strerror(code));
    return exit_for(code);
}

static void print_json(const cJSON *v)
{
    char *s = cJSON_PrintUnformatted(v);
    if (s) {
        puts(s);
        free(s);
    }
}

/* ------------------------------------------------------------------ submit */

static int cmd_submit(struct ctx *x, int argc, char **argv)
{
    const char *queue = NULL, *args_s = NULL, *meta_s = NULL, *pmeta_s = NULL;
    const char *payload_file = NULL;
    wsm_enqueue_opts eo = {0};
    bool wait = false;
    double wait_timeout = 0;
    double retry_max = -1;
    const char *intervals = NULL;
    const char **deps = calloc((size_t)argc + 1, sizeof *deps);
    size_t n_deps = 0;
    int rc = EX_USAGE;
    cJSON *args = NULL, *meta = NULL, *pmeta = NULL, *retry = NULL;
    char *payload = NULL;
    if (!deps)
        return EX_FAILED;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
#define NEEDV                                                                                      \
    if (!v) {                                                                                      \
        rc = die_usage("%s needs a value", a);                                                     \
        goto out;                                                                                  \
    }                                                                                              \
    i++
#define NUMV(dst)                                                                                  \
    NEEDV;                                                                                         \
    if (!parse_num(v, &d) || d < 0) {                                                              \
        rc = die_usage("%s: expected a number >= 0", a);                                           \
        goto out;                                                                                  \
    }                                                                                              \
    dst = d
        if (strcmp(a, "--wait") == 0) {
            wait = true;
        } else if (strcmp(a, "--wait-timeout") == 0) {
            NUMV(wait_timeout);
        } else if (strcmp(a, "--job-id") == 0) {
            NEEDV;
            eo.job_id = v;
        } else if (strcmp(a, "--timeout") == 0) {
            NUMV(eo.timeout);
        } else if (strcmp(a, "--ttl") == 0) {
            NUMV(eo.ttl);
        } else if (strcmp(a, "--result-ttl") == 0) {
            NUMV(eo.result_ttl);
        } else if (strcmp(a, "--failure-ttl") == 0) {
            NUMV(eo.failure_ttl);
        } else if (strcmp(a, "--retry") == 0) {
            NUMV(retry_max);
        } else if (strcmp(a, "--retry-intervals") == 0) {
            NEEDV;
            intervals = v;
        } else if (strcmp(a, "--depends-on") == 0) {
            NEEDV;
            deps[n_deps++] = v;
        } else if (strcmp(a, "--allow-failure") == 0) {
            eo.allow_failure = true;
        } else if (strcmp(a, "--key") == 0) {
            NEEDV;
            eo.key = v;
        } else if (strcmp(a, "--at-front") == 0) {
            eo.at_front = true;
        } else if (strcmp(a, "--enqueue-at") == 0) {
            NUMV(eo.enqueue_at);
        } else if (strcmp(a, "--enqueue-in") == 0) {
            NUMV(eo.enqueue_in);
        } else if (strcmp(a, "--weight") == 0) {
            NUMV(eo.weight);
        } else if (strcmp(a, "--meta") == 0) {
            NEEDV;
            meta_s = v;
        } else if (strcmp(a, "--payload-file") == 0) {
            NEEDV;
            payload_file = v;
        } else if (strcmp(a, "--content-type") == 0) {
            NEEDV;
            eo.content_type = v;
        } else if (strcmp(a, "--payload-meta") == 0) {
            NEEDV;
            pmeta_s = v;
        } else if (a[0] == '-' && a[1] == '-') {
            rc = die_usage("submit: unknown option %s", a);
            goto out;
        } else if (!queue) {
            queue = a;
        } else if (!args_s) {
            args_s = a;
        } else {
            rc = die_usage("submit: unexpected argument %s", a);
            goto out;
        }
#undef NEEDV
#undef NUMV
    }
    if (!queue) {
        rc = die_usage("submit: missing QUEUE%s", "");
        goto out;
    }
    args = cJSON_Parse(args_s ? args_s : "{}");
    if (!args) {
        rc = die_usage("submit: ARGS_JSON is not valid JSON: %s", args_s);
        goto out;
    }
    if (meta_s && !(meta = cJSON_Parse(meta_s))) {
        rc = die_usage("--meta is not valid JSON: %s", meta_s);
        goto out;
    }
    if (pmeta_s && !(pmeta = cJSON_Parse(pmeta_s))) {
        rc = die_usage("--payload-meta is not valid JSON: %s", pmeta_s);
        goto out;
    }
    eo.meta = meta;
    eo.payload_meta = pmeta;
    if (retry_max >= 0 || intervals) {
        retry = cJSON_CreateObject();
        cJSON_AddNumberToObject(retry, "max", retry_max >= 0 ? retry_max : 1);
        if (intervals) {
            cJSON *arr = cJSON_AddArrayToObject(retry, "intervals");
            char *copy = strdup(intervals), *save = NULL;
            for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                double d;
                if (!parse_num(t, &d) || d < 0) {
                    free(copy);
                    rc = die_usage("--retry-intervals: expected numbers >= 0, got %s", intervals);
                    goto out;
                }
                cJSON_AddItemToArray(arr, cJSON_CreateNumber(d));
            }
            free(copy);
        }
        eo.retry = retry;
    }
    eo.depends_on = deps;
    eo.n_depends_on = n_deps;
    if (payload_file) {
        FILE *f = fopen(payload_file, "rb");
        if (!f) {
            fprintf(stderr, "meshctl: cannot open %s: %s\n", payload_file, strerror(errno));
            rc = EX_USAGE;
            goto out;
        }
        if (!x->c) { /* readable: read it when connected */
            fclose(f);
            rc = ARGS_OK;
            goto out;
        }
        size_t cap = 1 << 16, n = 0;
        payload = malloc(cap);
        size_t k;
        while (payload && (k = fread(payload + n, 1, cap - n, f)) > 0) {
            n += k;
            if (n == cap) {
                char *np = realloc(payload, cap *= 2);
                if (!np) {
                    free(payload);
                    payload = NULL;
                }
                payload = np;
            }
        }
        fclose(f);
        eo.payload = payload;
        eo.len = n;
    }
    if (!x->c) {
        rc = ARGS_OK;
        goto out;
    }
    char id[WSM_JOB_ID_MAX + 1];
    int code = wsm_enqueue(x->c, queue, args, &eo, id);
    if (code != 0) {
        rc = report(x, code);
        goto out;
    }
    if (!wait) {
        if (x->json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "job_id", id);
            print_json(o);
            cJSON_Delete(o);
        } else {
            puts(id);
        }
        rc = EX_OK;
        goto out;
    }
    cJSON *tree = NULL;
    code = wsm_wait(x->c, id, true, wait_timeout, &tree);
    if (code != 0) {
        rc = report(x, code);
        goto out;
    }
    /* the root itself, for its result and status */
    cJSON *root = NULL;
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "job_id", id);
    code = wsm_query(x->c, "job", f, &root);
    cJSON_Delete(f);
    if (code != 0) {
        cJSON_Delete(tree);
        rc = report(x, code);
        goto out;
    }
    const char *ts = jstr(tree, "tree_status", NULL);
    if (!ts)
        ts = jstr(root, "tree_status", "failed");
    bool ok = strcmp(ts, "finished") == 0;
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(root, "result");
    if (x->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "job_id", id);
        cJSON_AddStringToObject(o, "status", jstr(root, "status", "unknown"));
        cJSON_AddStringToObject(o, "tree_status", ts);
        cJSON_AddItemToObject(o, "result",
                              result ? cJSON_Duplicate(result, 1) : cJSON_CreateNull());
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
        cJSON_AddItemToObject(o, "error", e ? cJSON_Duplicate(e, 1) : cJSON_CreateNull());
        print_json(o);
        cJSON_Delete(o);
    } else {
        if (result)
            print_json(result);
        else
            puts("null");
    }
    if (!ok) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
        fprintf(stderr, "meshctl: job %s: tree %s (root %s%s%s%s%s)\n", id, ts,
                jstr(root, "status", "?"), e ? ": " : "", e ? jstr(e, "type", "error") : "",
                e ? ": " : "", e ? jstr(e, "message", "") : "");
    }
    cJSON_Delete(tree);
    cJSON_Delete(root);
    rc = ok ? EX_OK : EX_FAILED;
out:
    free(deps);
    free(payload);
    cJSON_Delete(args);
    cJSON_Delete(meta);
    cJSON_Delete(pmeta);
    cJSON_Delete(retry);
    return rc;
}

/* ------------------------------------------------------------------ inspect */

static int cmd_info(struct ctx *x)
{
    cJSON *qs = NULL, *ws = NULL;
    int code = wsm_query(x->c, "queues", NULL, &qs);
    if (code == 0)
        code = wsm_query(x->c, "workers", NULL, &ws);
    if (code != 0) {
        cJSON_Delete(qs);
        return report(x, code);
    }
    if (x->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "queues", qs);
        cJSON_AddItemToObject(o, "workers", ws);
        print_json(o);
        cJSON_Delete(o);
        return EX_OK;
    }
    printf("%-20s %6s %8s %8s %8s %9s %9s %8s %8s %8s %7s\n", "QUEUE", "STATE", "QUEUED", "STARTED",
           "DEFERRED", "SCHEDULED", "FINISHED", "FAILED", "EXPIRED", "CANCELED", "WORKERS");
    const cJSON *q;
    int nq = 0;
    cJSON_ArrayForEach(q, qs)
    {
        nq++;
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(q, "paused");
        printf("%-20s %6s %8.0f %8.0f %8.0f %9.0f %9.0f %8.0f %8.0f %8.0f %7.0f\n",
               jstr(q, "name", "?"), cJSON_IsTrue(p) ? "paused" : "active", jnum(q, "queued"),
               jnum(q, "started"), jnum(q, "deferred"), jnum(q, "scheduled"), jnum(q, "finished"),
               jnum(q, "failed"), jnum(q, "expired"), jnum(q, "canceled"), jnum(q, "consumers"));
    }
    printf("%d queues, %d workers\n", nq, cJSON_GetArraySize(ws));
    cJSON_Delete(qs);
    cJSON_Delete(ws);
    return EX_OK;
}

static void join_strings(const cJSON *arr, char *out, size_t n)
{
    out[0] = 0;
    size_t used = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (!cJSON_IsString(e))
            continue;
        int k = snprintf(out + used, n - used, "%s%s", used ? "," : "", e->valuestring);
        if (k < 0 || (size_t)k >= n - used)
            break;
        used += (size_t)k;
    }
    if (!used)
        snprintf(out, n, "-");
}

static int cmd_workers(struct ctx *x)
{
    cJSON *ws = NULL;
    int code = wsm_query(x->c, "workers", NULL, &ws);
    if (code != 0)
        return report(x, code);
    if (x->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "workers", ws);
        print_json(o);
        cJSON_Delete(o);
        return EX_OK;
    }
    printf("%-24s %-8s %-9s %-24s %5s %9s %7s\n", "NAME", "SESSION", "STATE", "QUEUES", "JOBS",
           "PROCESSED", "FAILED");
    const cJSON *w;
    cJSON_ArrayForEach(w, ws)
    {
        char queues[200];
        join_strings(cJSON_GetObjectItemCaseSensitive(w, "queues"), queues, sizeof queues);
        const cJSON *sess = cJSON_GetObjectItemCaseSensitive(w, "session");
        char sbuf[32];
        if (cJSON_IsNumber(sess))
            snprintf(sbuf, sizeof sbuf, "%.0f", sess->valuedouble);
        else
            snprintf(sbuf, sizeof sbuf, "%s", cJSON_IsString(sess) ? sess->valuestring : "-");
        /* jobs lists the first leased ids only; jobs_total counts them all */
        const cJSON *jt = cJSON_GetObjectItemCaseSensitive(w, "jobs_total");
        double nj = cJSON_IsNumber(jt)
                        ? jt->valuedouble
                        : cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(w, "jobs"));
        printf("%-24s %-8s %-9s %-24s %5.0f %9.0f %7.0f\n", jstr(w, "name", "-"), sbuf,
               jstr(w, "state", "-"), queues, nj, jnum(w, "processed"), jnum(w, "failed"));
    }
    printf("%d workers\n", cJSON_GetArraySize(ws));
    cJSON_Delete(ws);
    return EX_OK;
}

static void fmt_time(const cJSON *o, const char *k, char out[32])
{
    double ms = jnum(o, k);
    if (ms > 0)
        wsm_format_iso8601((int64_t)ms, out);
    else
        snprintf(out, 32, "-");
}

static int cmd_job(struct ctx *x, int argc, char **argv)
{
    if (argc != 1)
        return die_usage("job: expected one job id%s", "");
    if (!x->c)
        return ARGS_OK;
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "job_id", argv[0]);
    cJSON *job = NULL, *tree = NULL;
    int code = wsm_query(x->c, "job", f, &job);
    if (code == 0)
        code = wsm_query(x->c, "tree", f, &tree);
    cJSON_Delete(f);
    if (code != 0) {
        cJSON_Delete(job);
        return report(x, code);
    }
    if (x->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "job", job);
        cJSON_AddItemToObject(o, "tree", tree);
        print_json(o);
        cJSON_Delete(o);
        return EX_OK;
    }
    char t1[32], t2[32], t3[32];
    fmt_time(job, "enqueued_at", t1);
    fmt_time(job, "started_at", t2);
    fmt_time(job, "ended_at", t3);
    printf("job       %s\nqueue     %s\nstatus    %s\nattempt   %.0f\nkey       %s\n"
           "parent    %s\nroot      %s\nenqueued  %s\nstarted   %s\nended     %s\n",
           jstr(job, "job_id", argv[0]), jstr(job, "queue", "-"), jstr(job, "status", "-"),
           jnum(job, "attempt"), jstr(job, "key", "-"), jstr(job, "parent", "-"),
           jstr(job, "root", "-"), t1, t2, t3);
    const char *fields[] = {"args", "result", "error"};
    for (size_t i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(job, fields[i]);
        if (v && !cJSON_IsNull(v)) {
            char *s = cJSON_PrintUnformatted(v);
            printf("%-9s %s\n", fields[i], s ? s : "?");
            free(s);
        }
    }
    /* query job lists at most 100 child ids; children_total counts them all */
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(job, "children");
    const cJSON *cht = cJSON_GetObjectItemCaseSensitive(job, "children_total");
    double nch = cJSON_IsNumber(cht) ? cht->valuedouble : cJSON_GetArraySize(ch);
    if (nch > 0)
        printf(
            "children  %.0f (list them: meshctl children %s [--descendants] [--status failed])\n",
            nch, jstr(job, "job_id", argv[0]));
    else
        printf("children  0\n");
    printf("tree      %s (root %s, %.0f jobs", jstr(tree, "status", "-"), jstr(tree, "root", "-"),
           jnum(tree, "jobs"));
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(tree, "by_status");
    const cJSON *e;
    cJSON_ArrayForEach(e, bs)
    {
        if (cJSON_IsNumber(e))
            printf(", %s %.0f", e->string, e->valuedouble);
    }
    printf(")\n");
    const cJSON *tq = cJSON_GetObjectItemCaseSensitive(tree, "queues");
    cJSON_ArrayForEach(e, tq)
    {
        char *s = cJSON_PrintUnformatted(e);
        printf("  %-20s %s\n", e->string ? e->string : "?", s ? s : "");
        free(s);
    }
    cJSON_Delete(job);
    cJSON_Delete(tree);
    return EX_OK;
}

/* Copies s into out (n bytes) with control characters (newlines, tabs) as spaces, so one job
 * stays one line of the table. */
static void one_line(const char *s, char *out, size_t n)
{
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++)
        out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
    out[i] = 0;
}

/* The ERROR column of a job summary (query registry / children): "type: message" of a failed
 * job, else why it ended (reason), else "-". */
static void summary_error(const cJSON *j, char *out, size_t n)
{
    const char *t = jstr(j, "error_type", NULL), *m = jstr(j, "error_message", NULL);
    char buf[600];
    if (t || m)
        snprintf(buf, sizeof buf, "%s%s%s", t ? t : "error", m ? ": " : "", m ? m : "");
    else
        snprintf(buf, sizeof buf, "%s", jstr(j, "reason", "-"));
    one_line(buf, out, n);
}

/* The table of a page of job summaries (query registry / children; with_queue: a QUEUE
 * column), no header when the page is empty; returns the number of jobs. */
static int print_job_rows(const cJSON *r, bool with_queue)
{
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(r, "jobs");
    int n = cJSON_GetArraySize(jobs);
    if (n) {
        printf("%-44s ", "JOB");
        if (with_queue)
            printf("%-20s ", "QUEUE");
        printf("%-10s %7s %-24s %s\n", "STATUS", "ATTEMPT", "ENDED", "ERROR");
    }
    const cJSON *j;
    cJSON_ArrayForEach(j, jobs)
    {
        char t[32], eb[600];
        fmt_time(j, "ended_at", t);
        summary_error(j, eb, sizeof eb);
        printf("%-44s ", jstr(j, "job_id", "?"));
        if (with_queue)
            printf("%-20s ", jstr(j, "queue", "-"));
        printf("%-10s %7.0f %-24s %s\n", jstr(j, "status", "-"), jnum(j, "attempt"), t, eb);
    }
    return n;
}

/* The line below such a table: "no WHAT", "TOTAL WHAT, none from offset O" or "TOTAL WHAT,
 * showing A-B" and the next page's offset, WHAT formatted from fmt. */
static void print_page_footer(const cJSON *r, int n, double offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void print_page_footer(const cJSON *r, int n, double offset, const char *fmt, ...)
{
    double total = jnum(r, "total");
    if (total == 0)
        printf("no ");
    else
        printf("%.0f ", total);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (total == 0)
        printf("\n");
    else if (n == 0)
        printf(", none from offset %.0f\n", offset);
    else
        printf(", showing %.0f-%.0f", offset + 1, offset + n);
    /* pages may end before --limit (the hub keeps each reply below its header limit) */
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(r, "next_offset");
    if (n && cJSON_IsNumber(next))
        printf("; next page: --offset %.0f\n", next->valuedouble);
    else if (n)
        printf("\n");
}

/* Parses --limit / --offset values: whole numbers, limit 1..1000, offset 0..2^31-1. */
static bool page_arg(const char *a, const char *v, double *out)
{
    bool lim = strcmp(a, "--limit") == 0;
    double d;
    if (!parse_num(v, &d) || d != (double)(int64_t)d || d < (lim ? 1 : 0) ||
        d > (lim ? 1000 : 2147483647.0))
        return false;
    *out = d;
    return true;
}

/* The paging options of a listing command at argv[*i] (v: the next argument or NULL): 1 when
 * it was --limit N or --offset N (*i moves past the value), 0 when it is something else, or
 * EX_USAGE after printing why the value is wrong (negated: -EX_USAGE). */
static int page_opt(const char *a, const char *v, int *i, double *limit, double *offset)
{
    bool lim = strcmp(a, "--limit") == 0;
    if ((!lim && strcmp(a, "--offset") != 0) || !v)
        return 0;
    if (!page_arg(a, v, lim ? limit : offset))
        return -die_usage(lim ? "--limit %s: expected a whole number 1..1000"
                              : "--offset %s: expected a whole number >= 0",
                          v);
    (*i)++;
    return 1;
}

/* jobs QUEUE --registry NAME [--limit N] [--offset N] [--search PREFIX]: one page of a
 * registry (query what=registry), as a table or the query result with --json. */
static int cmd_jobs(struct ctx *x, int argc, char **argv)
{
    const char *queue = NULL, *reg = NULL, *search = NULL;
    double limit = 20, offset = 0;
    int pg;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--registry") == 0 && v) {
            reg = v;
            i++;
        } else if (strcmp(a, "--search") == 0 && v) {
            search = v;
            i++;
        } else if ((pg = page_opt(a, v, &i, &limit, &offset)) != 0) {
            if (pg < 0)
                return -pg;
        } else if (a[0] == '-') {
            return die_usage("jobs: unknown option or missing value: %s", a);
        } else if (!queue) {
            queue = a;
        } else {
            return die_usage("jobs: unexpected argument %s", a);
        }
    }
    if (!queue || !reg)
        return die_usage("jobs: expected QUEUE --registry NAME%s", "");
    if (!x->c)
        return ARGS_OK;
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "queue", queue);
    cJSON_AddStringToObject(f, "registry", reg);
    cJSON_AddNumberToObject(f, "limit", limit);
    cJSON_AddNumberToObject(f, "offset", offset);
    if (search)
        cJSON_AddStringToObject(f, "search", search);
    cJSON *r = NULL;
    int code = wsm_query(x->c, "registry", f, &r);
    cJSON_Delete(f);
    if (code != 0)
        return report(x, code);
    if (x->json) {
        print_json(r);
        cJSON_Delete(r);
        return EX_OK;
    }
    int n = print_job_rows(r, false);
    double total = jnum(r, "total");
    const char *sq = search ? " matching " : "", *sv = search ? search : "";
    print_page_footer(r, n, offset, "%s job%s in %s%s%s", reg, n && total == 1 ? "" : "s", queue,
                      sq, sv);
    cJSON_Delete(r);
    return EX_OK;
}

/* children ID [--descendants] [--status S] [--limit N] [--offset N]: one page of the jobs
 * below ID (query what=children), as a table or the query result with --json. */
static int cmd_children(struct ctx *x, int argc, char **argv)
{
    const char *job = NULL;
    double limit = 20, offset = 0;
    wsm_children_opts o = {0};
    int pg;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--descendants") == 0) {
            o.descendants = true;
        } else if (strcmp(a, "--status") == 0 && v) {
            o.status = v;
            i++;
        } else if ((pg = page_opt(a, v, &i, &limit, &offset)) != 0) {
            if (pg < 0)
                return -pg;
        } else if (a[0] == '-') {
            return die_usage("children: unknown option or missing value: %s", a);
        } else if (!job) {
            job = a;
        } else {
            return die_usage("children: unexpected argument %s", a);
        }
    }
    if (!job)
        return die_usage("children: expected a job id%s", "");
    if (!x->c)
        return ARGS_OK;
    o.limit = (int64_t)limit;
    o.offset = (int64_t)offset;
    cJSON *r = NULL;
    int code = wsm_query_children(x->c, job, &o, &r);
    if (code != 0)
        return report(x, code);
    if (x->json) {
        print_json(r);
        cJSON_Delete(r);
        return EX_OK;
    }
    int n = print_job_rows(r, true);
    double total = jnum(r, "total");
    const char *what = o.descendants ? (total == 1 ? "descendant" : "descendants")
                                     : (total == 1 ? "child" : "children");
    const char *st = o.status ? o.status : "", *sp = o.status ? " " : "";
    print_page_footer(r, n, offset, "%s%s%s of %s", st, sp, what, job);
    cJSON_Delete(r);
    return EX_OK;
}

/* ------------------------------------------------------------------ admin */

static int cmd_admin(struct ctx *x, const char *op, int argc, char **argv)
{
    const char *job = NULL, *queue = NULL;
    bool all = false;
    if (strcmp(op, "requeue") == 0 && argc == 2 && strcmp(argv[0], "--all") == 0) {
        all = true;
        queue = argv[1];
    } else if (argc != 1 || argv[0][0] == '-') {
        return die_usage("%s: expected one argument", op);
    } else if (strcmp(op, "requeue") == 0 || strcmp(op, "cancel") == 0) {
        job = argv[0];
    } else {
        queue = argv[0];
    }
    if (!x->c)
        return ARGS_OK;
    int64_t count = 0;
    int code = wsm_admin(x->c, op, job, queue, all, &count);
    if (code != 0)
        return report(x, code);
    if (x->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "op", op);
        cJSON_AddNumberToObject(o, "count", (double)count);
        print_json(o);
        cJSON_Delete(o);
    } else {
        const char *verb = strcmp(op, "requeue") == 0  ? "requeued"
                           : strcmp(op, "cancel") == 0 ? "canceled"
                           : strcmp(op, "empty") == 0  ? "emptied"
                           : strcmp(op, "pause") == 0  ? "paused"
                                                       : "resumed";
        if (job)
            printf("%s job %s (%" PRId64 " job%s affected)\n", verb, job, count,
                   count == 1 ? "" : "s");
        else
            printf("%s queue %s (%" PRId64 " job%s affected)\n", verb, queue, count,
                   count == 1 ? "" : "s");
    }
    return EX_OK;
}

/* ------------------------------------------------------------------ tail */

static volatile sig_atomic_t stop_tail;
static void on_sigint(int sig)
{
    stop_tail = 1;
}

static int cmd_tail(struct ctx *x, int argc, char **argv)
{
    const char **topics = calloc((size_t)argc + 1, sizeof *topics);
    size_t n = 0;
    double count = 0;
    if (!topics)
        return EX_FAILED;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            if (!parse_num(argv[++i], &count) || count < 1) {
                free(topics);
                return die_usage("--count %s: expected a number >= 1", argv[i]);
            }
        } else if (argv[i][0] == '-') {
            free(topics);
            return die_usage("tail: unknown option %s", argv[i]);
        } else {
            topics[n++] = argv[i];
        }
    }
    if (!n)
        topics[n++] = "events";
    if (!x->c) {
        free(topics);
        return ARGS_OK;
    }
    int code = wsm_subscribe(x->c, topics, n);
    free(topics);
    if (code != 0)
        return report(x, code);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    double seen = 0;
    while (!stop_tail && (count == 0 || seen < count)) {
        cJSON *ev = NULL;
        code = wsm_next_event(x->c, 0.25, &ev);
        if (code == WSM_E_TIMEOUT)
            continue;
        if (code != 0)
            return report(x, code);
        seen++;
        if (x->json) {
            print_json(ev);
        } else {
            char *d = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(ev, "data"));
            printf("%-10s %s\n", jstr(ev, "topic", "?"), d ? d : "");
            free(d);
        }
        fflush(stdout);
        cJSON_Delete(ev);
    }
    return EX_OK;
}

/* ------------------------------------------------------------------ main */

/* Runs command cmd; with x->c NULL only checks its arguments (ARGS_OK or a usage exit). */
static int run(struct ctx *x, const char *cmd, int n, char **args)
{
    if (strcmp(cmd, "submit") == 0)
        return cmd_submit(x, n, args);
    if (strcmp(cmd, "info") == 0)
        return n ? die_usage("info takes no arguments%s", "") : x->c ? cmd_info(x) : ARGS_OK;
    if (strcmp(cmd, "workers") == 0)
        return n ? die_usage("workers takes no arguments%s", "") : x->c ? cmd_workers(x) : ARGS_OK;
    if (strcmp(cmd, "job") == 0)
        return cmd_job(x, n, args);
    if (strcmp(cmd, "jobs") == 0)
        return cmd_jobs(x, n, args);
    if (strcmp(cmd, "children") == 0)
        return cmd_children(x, n, args);
    if (strcmp(cmd, "tail") == 0)
        return cmd_tail(x, n, args);
    if (strcmp(cmd, "ingest") == 0)
        return meshctl_ingest(&x->c, &x->o, x->json, n, args);
    return cmd_admin(x, cmd, n, args);
}

int main(int argc, char **argv)
{
    struct ctx x = {0};
    /* common options may appear anywhere */
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nr = 0;
    if (!rest)
        return EX_FAILED;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if ((strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) &&
            !(nr > 0 && strcmp(rest[0], "ingest") == 0)) {
            fputs(usage, stdout);
            free(rest);
            return EX_OK;
        } else if (strcmp(a, "--json") == 0) {
            x.json = true;
        } else if (strcmp(a, "--url") == 0 || strcmp(a, "--token") == 0 ||
                   strcmp(a, "--ca-file") == 0 || strcmp(a, "--connect-timeout") == 0 ||
                   strcmp(a, "--cert-file") == 0 || strcmp(a, "--key-file") == 0) {
            if (!v) {
                free(rest);
                return die_usage("%s needs a value", a);
            }
            i++;
            if (a[2] == 'u')
                x.o.url = v;
            else if (a[2] == 't')
                x.o.token = v;
            else if (a[2] == 'c' && a[3] == 'a')
                x.o.ca_file = v;
            else if (strcmp(a, "--cert-file") == 0)
                x.o.cert_file = v;
            else if (strcmp(a, "--key-file") == 0)
                x.o.key_file = v;
            else if (!parse_num(v, &x.o.connect_timeout) || x.o.connect_timeout <= 0) {
                free(rest);
                return die_usage("--connect-timeout %s: expected seconds > 0", v);
            }
        } else {
            rest[nr++] = argv[i];
        }
    }
    if (!nr) {
        fputs(usage, stderr);
        free(rest);
        return EX_USAGE;
    }
    const char *cmd = rest[0];
    static const char *const cmds[] = {"submit",   "info",    "workers", "job",   "jobs",
                                       "children", "requeue", "cancel",  "empty", "pause",
                                       "resume",   "tail",    "ingest",  NULL};
    bool known = false;
    for (size_t i = 0; cmds[i]; i++)
        known |= strcmp(cmds[i], cmd) == 0;
    if (!known) {
        free(rest);
        return die_usage("unknown command %s", cmd);
    }
    /* the arguments first (usage errors exit 2 without a hub), then connect and run */
    int n = nr - 1;
    char **args = rest + 1;
    int rc = run(&x, cmd, n, args);
    if (rc != ARGS_OK) {
        free(rest);
        return rc;
    }
    x.o.name = "meshctl";
    x.o.log_level = getenv("MESHCTL_LOG") ? getenv("MESHCTL_LOG") : "error";
    wsm_err err = {0};
    x.c = wsm_client_connect(&x.o, &err);
    if (!x.c) {
        fprintf(stderr, "meshctl: %s\n", err.msg);
        free(rest);
        return exit_for(err.code);
    }
    rc = run(&x, cmd, n, args);
    wsm_client_free(x.c);
    free(rest);
    return rc;
}
