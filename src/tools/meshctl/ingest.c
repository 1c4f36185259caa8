/*
 * ingest.c - `meshctl ingest FILE...`: submits each recording to the `mf4` queue (one root job
 * per file, args {path, channels, encoding, batch}), shows one progress bar per recording
 * (frames read / evaluated / stored) from the hub's `progress` topic, waits for every job
 * tree, then asks the db-writer (request/reply on `db.query`) for each recording's summary and
 * stored-row coverage and prints a table (or one JSON document with --json).
 *
 * Invariants:
 *  - A file is always submitted, even when it does not exist locally: the reader decides, so
 *    every failure (missing file, not an MF4, truncated, unknown channel) has the same path and
 *    is visible in `meshctl job` and the dashboard too.
 *  - Paths are sent absolute (the reader runs in another directory).
 *  - The subscription to `progress` is made before the first enqueue, so no event is missed;
 *    progress events are best effort (coalesced), so an unfinished tree is also checked with a
 *    `query tree` after 2 s without news. The final status always comes from `query job`.
 *  - A recording counts as ok only if its tree finished AND the stored rows are gap-free and
 *    equal the frames the reader read.
 *  - Exit status: 0 all ok, 1 some recording failed (each reason printed on stderr), 3 the
 *    connection was lost, 4 refused, 6 --timeout reached.
 */
#include "ingest.h"
#include "meshctl.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum item_state { IT_RUNNING, IT_ENDED, IT_REFUSED };

typedef struct item {
    const char *arg;  /* as given */
    const char *name; /* basename of arg */
    char *path;       /* absolute */
    char job_id[WSM_JOB_ID_MAX + 1];
    enum item_state state;
    char tree_status[16];
    double total, read, eval, stored;
    double last_news; /* monotonic s of the last progress event or tree query */
    char *reason;     /* failure reason, owned */
    char *recording_id;
    double frames_read; /* from the reader's result, -1 unknown */
    cJSON *rec;         /* db.query recording answer, owned */
    cJSON *cov;         /* db.query coverage answer, owned */
    bool ok;
} item;

typedef struct ingest {
    wsm_client *c;        /* == *pc */
    wsm_client **pc;      /* the caller's client: replaced after a reconnect */
    const wsm_options *o; /* to reconnect */
    double reconnect;     /* s to keep trying after the connection is lost; 0: give up */
    bool json, tty;
    item *it;
    size_t n;
    int drawn; /* lines of the progress display on screen */
    double last_draw;
} ingest;

static const char help[] =
    "Usage: meshctl ingest [options] FILE...\n"
    "Submits each MF4 recording to the mf4 queue, shows progress (frames read / evaluated /\n"
    "stored), waits, and prints a summary from the results database (db.query).\n"
    "  --channels FILE     channel map {field: channel name} (default: channels.json next to\n"
    "                      each recording if there is one, else the reader's default)\n"
    "  --no-channels       do not send a channel map\n"
    "  --group N           MF4 channel group to read\n"
    "  --batch N           frames per batch (default 1000)\n"
    "  --encoding E        json or binary (default binary)\n"
    "  --queue Q           queue of the reader (default mf4)\n"
    "  --timeout S         give up after S seconds (exit 6; default: wait forever)\n"
    "  --reconnect S       when the hub goes away (restart), reconnect for up to S seconds\n"
    "                      and keep waiting (default 60; 0: exit 3 at once)\n"
    "  --no-progress       no progress display (plain lines when stdout is not a terminal)\n"
    "Exit status: 0 every recording stored completely, 1 some failed (reasons on stderr).\n";

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const cJSON *jo(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static cJSON *read_json_file(const char *path, char *why, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, n, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(why, n, "%s: out of memory", path);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0)
            break;
    }
    fclose(f);
    cJSON *v = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        snprintf(why, n, "%s: not a JSON object {field: channel name}", path);
        return NULL;
    }
    return v;
}

static char *abs_path(const char *p)
{
    char *r = realpath(p, NULL);
    if (r)
        return r;
    if (p[0] == '/')
        return strdup(p);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return strdup(p);
    return xprintf("%s/%s", cwd, p);
}

/* ------------------------------------------------------------------ display */

static void bar(char *out, size_t n, double frac, int width)
{
    if (!(frac >= 0))
        frac = 0;
    if (frac > 1)
        frac = 1;
    int full = (int)(frac * width + 0.5);
    size_t k = 0;
    for (int i = 0; i < width && k + 1 < n; i++)
        out[k++] = i < full ? '#' : '-';
    out[k] = '\0';
}

static void line_of(const item *it, char *out, size_t n)
{
    char b[32];
    double tot = it->total > 0 ? it->total : 0;
    double frac = tot > 0 ? it->stored / tot : 0;
    if (it->state == IT_ENDED && strcmp(it->tree_status, "finished") == 0)
        frac = 1;
    bar(b, sizeof b, frac, 24);
    const char *st = it->state == IT_REFUSED ? "refused"
                     : it->state == IT_ENDED ? it->tree_status
                                             : "running";
    snprintf(out, n, "%-28.28s [%s] read %7.0f/%-7.0f eval %7.0f  stored %7.0f  %s", it->name, b,
             it->read, tot, it->eval, it->stored, st);
}

static void draw(ingest *g, bool force)
{
    if (g->json || !g->tty)
        return;
    double t = mono();
    if (!force && t - g->last_draw < 0.1)
        return;
    g->last_draw = t;
    if (g->drawn)
        printf("\033[%dA", g->drawn);
    for (size_t i = 0; i < g->n; i++) {
        char l[256];
        line_of(&g->it[i], l, sizeof l);
        printf("\r\033[K%s\n", l);
    }
    g->drawn = (int)g->n;
    fflush(stdout);
}

static void plain(ingest *g, const item *it, const char *what)
{
    if (g->json || g->tty)
        return;
    printf("%s: %s\n", it->name, what);
    fflush(stdout);
}

/* ------------------------------------------------------------------ progress */

static item *find(ingest *g, const char *root)
{
    for (size_t i = 0; root && i < g->n; i++)
        if (g->it[i].state != IT_REFUSED && strcmp(g->it[i].job_id, root) == 0)
            return &g->it[i];
    return NULL;
}

static void mark_ended(ingest *g, item *it, const char *status)
{
    if (it->state != IT_RUNNING)
        return;
    it->state = IT_ENDED;
    snprintf(it->tree_status, sizeof it->tree_status, "%s", status);
    char w[64];
    snprintf(w, sizeof w, "tree %s (%.0f frames read)", status, it->read);
    plain(g, it, w);
}

/* progress data: {root, status, queues: {q: {jobs, ended, weight, weight_done}}, progress} */
static void on_progress(ingest *g, const cJSON *d)
{
    item *it = find(g, jstr(d, "root", NULL));
    if (!it)
        return;
    it->last_news = mono();
    const cJSON *p = jo(d, "progress");
    if (p) {
        it->read = jnum_or(p, "done", it->read);
        it->total = jnum_or(p, "total", it->total);
    }
    const cJSON *qs = jo(d, "queues");
    const cJSON *aeb = jo(qs, "aeb"), *db = jo(qs, "db");
    double jobs = jnum(aeb, "jobs"), ended = jnum(aeb, "ended");
    /* batches are equal-sized but the last: evaluated = read x share of ended batches */
    double ev = jobs > 0 ? it->read * ended / jobs : 0;
    if (ev > it->eval)
        it->eval = ev;
    double st = jnum(db, "weight_done");
    it->stored = st < it->eval ? st : it->eval;
    const char *s = jstr(d, "status", "running");
    if (strcmp(s, "running") != 0) {
        it->eval = it->read;
        if (strcmp(s, "finished") == 0)
            it->stored = it->read;
        mark_ended(g, it, s);
    }
}

static int check_tree(ingest *g, item *it)
{
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "job_id", it->job_id);
    cJSON *t = NULL;
    int rc = wsm_query(g->c, "tree", f, &t);
    cJSON_Delete(f);
    it->last_news = mono();
    if (rc == 0) {
        const char *s = jstr(t, "status", "running");
        if (strcmp(s, "running") != 0)
            mark_ended(g, it, s);
    }
    cJSON_Delete(t);
    if (rc == WSM_E_NO_SUCH_JOB && it->state == IT_RUNNING) {
        /* e.g. a hub restarted without a persistent store */
        it->reason =
            xprintf("the hub no longer knows job %s (restarted without its store?)", it->job_id);
        mark_ended(g, it, "lost");
        return 0;
    }
    return rc;
}

static bool conn_lost(int code)
{
    return code == WSM_E_CLOSED || code == WSM_E_CONNECT || code == WSM_E_IO;
}

/* The connection is gone: connect again (every 0.5 s, for g->reconnect seconds), subscribe
 * again, and have every running tree checked at once. 0 or WSM_E_CONNECT. */
static int reconnect(ingest *g)
{
    fprintf(stderr,
            "meshctl: ingest: connection to the hub lost (%s); reconnecting for up to "
            "%.0f s\n",
            wsm_client_errstr(g->c), g->reconnect);
    g->drawn = 0;
    wsm_client_free(g->c);
    g->c = *g->pc = NULL;
    double end = mono() + g->reconnect;
    wsm_err err = {0};
    while (mono() < end) {
        struct timespec ts = {0, 500 * 1000 * 1000};
        nanosleep(&ts, NULL);
        wsm_client *c = wsm_client_connect(g->o, &err);
        if (!c)
            continue;
        const char *topics[] = {"progress"};
        if (wsm_subscribe(c, topics, 1) != 0) {
            wsm_client_free(c);
            continue;
        }
        g->c = *g->pc = c;
        for (size_t i = 0; i < g->n; i++)
            g->it[i].last_news = 0;
        fprintf(stderr, "meshctl: ingest: reconnected; waiting for %s\n",
                g->n == 1 ? "the recording" : "the recordings");
        return 0;
    }
    fprintf(stderr, "meshctl: ingest: cannot reconnect: %s\n", err.msg);
    return WSM_E_CONNECT;
}

/* ------------------------------------------------------------------ results */

static char *error_text(const cJSON *e)
{
    if (!e || cJSON_IsNull(e))
        return NULL;
    if (cJSON_IsString(e))
        return strdup(e->valuestring);
    return xprintf("%s: %s", jstr(e, "type", "error"), jstr(e, "message", ""));
}

/* The first failed/expired/canceled job of the tree (id prefix = root id) in queue q. */
static char *child_reason(ingest *g, const item *it, const char *q)
{
    static const char *const regs[] = {"failed", "expired", "canceled"};
    for (size_t i = 0; i < 3; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "queue", q);
        cJSON_AddStringToObject(f, "registry", regs[i]);
        cJSON_AddStringToObject(f, "search", it->job_id);
        cJSON_AddNumberToObject(f, "limit", 1);
        cJSON *r = NULL;
        int rc = wsm_query(g->c, "registry", f, &r);
        cJSON_Delete(f);
        const cJSON *jobs = rc == 0 ? jo(r, "jobs") : NULL;
        const cJSON *j = cJSON_GetArrayItem(jobs, 0);
        if (j) {
            /* registry entries are summaries: the job itself carries the error or reason */
            cJSON *full = NULL;
            cJSON *jf = cJSON_CreateObject();
            cJSON_AddStringToObject(jf, "job_id", jstr(j, "job_id", ""));
            if (wsm_query(g->c, "job", jf, &full) == 0)
                j = full;
            cJSON_Delete(jf);
            char *e = error_text(jo(j, "error"));
            if (!e && jstr(j, "reason", NULL))
                e = strdup(jstr(j, "reason", ""));
            char *s = xprintf("%s job %s %s%s%s", q, jstr(j, "job_id", "?"), regs[i], e ? ": " : "",
                              e ? e : "");
            free(e);
            cJSON_Delete(full);
            cJSON_Delete(r);
            return s;
        }
        cJSON_Delete(r);
    }
    return NULL;
}

static int collect(ingest *g, item *it)
{
    if (it->state == IT_REFUSED || strcmp(it->tree_status, "lost") == 0)
        return 0;
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "job_id", it->job_id);
    cJSON *job = NULL;
    int rc = wsm_query(g->c, "job", f, &job);
    cJSON_Delete(f);
    if (rc != 0)
        return rc;
    const char *ts = jstr(job, "tree_status", it->tree_status);
    snprintf(it->tree_status, sizeof it->tree_status, "%s", ts);
    const cJSON *res = jo(job, "result");
    const char *rid = jstr(res, "recording_id", NULL);
    if (rid)
        it->recording_id = strdup(rid);
    it->frames_read = jnum_or(res, "frames", -1);
    if (strcmp(ts, "finished") != 0) {
        it->reason = error_text(jo(job, "error"));
        if (!it->reason)
            it->reason = child_reason(g, it, "mf4");
        if (!it->reason)
            it->reason = child_reason(g, it, "aeb");
        if (!it->reason)
            it->reason = child_reason(g, it, "db");
        if (!it->reason)
            it->reason = xprintf("job tree %s", ts);
    }
    cJSON_Delete(job);
    if (!it->recording_id)
        return 0;
    for (int k = 0; k < 2; k++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "q", k ? "coverage" : "recording");
        cJSON_AddStringToObject(a, "recording_id", it->recording_id);
        cJSON *v = NULL;
        rc = wsm_request(g->c, "db.query", a, NULL, 60, &v);
        cJSON_Delete(a);
        if (rc == WSM_E_CLOSED || rc == WSM_E_CONNECT)
            return rc;
        if (rc != 0 && !it->reason)
            it->reason = xprintf("results: %s", wsm_client_errstr(g->c));
        if (k)
            it->cov = v;
        else
            it->rec = v;
    }
    if (!it->reason && it->cov) {
        double fr = jnum_or(it->cov, "frames", -1);
        const cJSON *gf = jo(it->cov, "gap_free");
        if (it->frames_read >= 0 && fr != it->frames_read)
            it->reason = xprintf("stored %.0f frames of %.0f read", fr, it->frames_read);
        else if (!cJSON_IsTrue(gf) && fr > 0)
            it->reason = xprintf("stored frames are not contiguous");
    }
    it->ok = !it->reason && strcmp(it->tree_status, "finished") == 0;
    return 0;
}

/* ------------------------------------------------------------------ output */

static void fmt_num(char *out, size_t n, const cJSON *v, const char *fmt)
{
    if (cJSON_IsNumber(v))
        snprintf(out, n, fmt, v->valuedouble);
    else
        snprintf(out, n, "-");
}

static void print_table(ingest *g)
{
    printf("%-28s %8s %9s %9s %9s %11s  %s\n", "RECORDING", "FRAMES", "MIN TTC", "MAX STAGE",
           "COLLISION", "IMPACT km/h", "STATUS");
    for (size_t i = 0; i < g->n; i++) {
        const item *it = &g->it[i];
        const cJSON *s = jo(it->rec, "summary");
        char fr[32], ttc[32], imp[32];
        fmt_num(fr, sizeof fr, jo(it->cov, "frames"), "%.0f");
        fmt_num(ttc, sizeof ttc, jo(s, "min_ttc"), "%.3f s");
        fmt_num(imp, sizeof imp, jo(s, "impact_speed_kmh"), "%.1f");
        const cJSON *col = jo(s, "collision");
        printf("%-28.28s %8s %9s %9s %9s %11s  %s\n", it->name, fr, ttc, jstr(s, "max_stage", "-"),
               s ? (cJSON_IsTrue(col) ? "YES" : "no") : "-", imp, it->ok ? "ok" : "FAILED");
    }
}

static void print_json_doc(ingest *g, bool all_ok)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", all_ok);
    cJSON *arr = cJSON_AddArrayToObject(o, "recordings");
    for (size_t i = 0; i < g->n; i++) {
        const item *it = &g->it[i];
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "file", it->arg);
        cJSON_AddStringToObject(r, "path", it->path);
        if (it->state != IT_REFUSED)
            cJSON_AddStringToObject(r, "job_id", it->job_id);
        else
            cJSON_AddNullToObject(r, "job_id");
        cJSON_AddStringToObject(r, "tree_status",
                                it->state == IT_REFUSED ? "refused" : it->tree_status);
        cJSON_AddBoolToObject(r, "ok", it->ok);
        if (it->recording_id)
            cJSON_AddStringToObject(r, "recording_id", it->recording_id);
        else
            cJSON_AddNullToObject(r, "recording_id");
        if (it->frames_read >= 0)
            cJSON_AddNumberToObject(r, "frames_read", it->frames_read);
        else
            cJSON_AddNullToObject(r, "frames_read");
        const cJSON *fs = jo(it->cov, "frames");
        cJSON_AddItemToObject(r, "frames_stored",
                              cJSON_IsNumber(fs) ? cJSON_CreateNumber(fs->valuedouble)
                                                 : cJSON_CreateNull());
        const cJSON *s = jo(it->rec, "summary");
        cJSON_AddItemToObject(r, "summary", s ? cJSON_Duplicate(s, 1) : cJSON_CreateNull());
        if (it->reason)
            cJSON_AddStringToObject(r, "error", it->reason);
        else
            cJSON_AddNullToObject(r, "error");
        cJSON_AddItemToArray(arr, r);
    }
    char *t = cJSON_PrintUnformatted(o);
    if (t)
        puts(t);
    free(t);
    cJSON_Delete(o);
}

static int exit_of(int code)
{
    switch (code) {
    case WSM_E_CONNECT:
    case WSM_E_CLOSED:
    case WSM_E_IO:
        return EX_CONNECT;
    case WSM_E_TIMEOUT:
        return EX_TIMEOUT;
    default:
        return EX_REFUSED;
    }
}

/* ------------------------------------------------------------------ command */

static int usage_err(const char *fmt, const char *a)
{
    fprintf(stderr, "meshctl: ingest: ");
    fprintf(stderr, fmt, a);
    fprintf(stderr, " (see meshctl ingest --help)\n");
    return EX_USAGE;
}

static bool parse_pos(const char *s, double *out)
{
    double d;
    if (!parse_num(s, &d) || !(d >= 0))
        return false;
    *out = d;
    return true;
}

int meshctl_ingest(wsm_client **pc, const wsm_options *o, bool json, int argc, char **argv)
{
    wsm_client *c = pc ? *pc : NULL;
    double reconnect_s = 60;
    const char *channels = NULL, *encoding = "binary", *queue = "mf4";
    bool no_channels = false, no_progress = false;
    double batch = 1000, group = -1, timeout = 0;
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    size_t nf = 0;
    if (!files)
        return EX_FAILED;
    int rc = EX_OK;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = !strcmp(a, "--channels") || !strcmp(a, "--group") || !strcmp(a, "--batch") ||
                     !strcmp(a, "--encoding") || !strcmp(a, "--queue") || !strcmp(a, "--timeout") ||
                     !strcmp(a, "--reconnect");
        if (!strcmp(a, "--help")) {
            fputs(help, stdout);
            free(files);
            return EX_OK;
        } else if (takes && !v) {
            rc = usage_err("%s needs a value", a);
        } else if (!strcmp(a, "--channels")) {
            channels = argv[++i];
        } else if (!strcmp(a, "--encoding")) {
            encoding = argv[++i];
            if (strcmp(encoding, "json") && strcmp(encoding, "binary"))
                rc = usage_err("--encoding %s: expected json or binary", encoding);
        } else if (!strcmp(a, "--queue")) {
            queue = argv[++i];
        } else if (!strcmp(a, "--group")) {
            if (!parse_pos(argv[++i], &group) || group != floor(group))
                rc = usage_err("--group %s: expected an integer >= 0", argv[i]);
        } else if (!strcmp(a, "--batch")) {
            if (!parse_pos(argv[++i], &batch) || batch < 1 || batch != floor(batch))
                rc = usage_err("--batch %s: expected an integer >= 1", argv[i]);
        } else if (!strcmp(a, "--timeout")) {
            if (!parse_pos(argv[++i], &timeout))
                rc = usage_err("--timeout %s: expected seconds >= 0", argv[i]);
        } else if (!strcmp(a, "--reconnect")) {
            if (!parse_pos(argv[++i], &reconnect_s))
                rc = usage_err("--reconnect %s: expected seconds >= 0", argv[i]);
        } else if (!strcmp(a, "--no-channels")) {
            no_channels = true;
        } else if (!strcmp(a, "--no-progress")) {
            no_progress = true;
        } else if (a[0] == '-' && a[1] == '-') {
            rc = usage_err("unknown option %s", a);
        } else {
            files[nf++] = a;
        }
        if (rc)
            break;
    }
    if (!rc && nf == 0)
        rc = usage_err("no recordings given%s", "");
    cJSON *chmap = NULL;
    if (!rc && channels) {
        char why[PATH_MAX + 64];
        chmap = read_json_file(channels, why, sizeof why);
        if (!chmap) {
            fprintf(stderr, "meshctl: ingest: --channels %s\n", why);
            rc = EX_USAGE;
        }
    }
    if (rc || !c) {
        free(files);
        cJSON_Delete(chmap);
        return rc ? rc : MESHCTL_INGEST_ARGS_OK;
    }

    ingest g = {.c = c,
                .pc = pc,
                .o = o,
                .reconnect = reconnect_s,
                .json = json,
                .tty = !json && !no_progress && isatty(STDOUT_FILENO)};
    g.it = calloc(nf, sizeof *g.it);
    if (!g.it) {
        free(files);
        cJSON_Delete(chmap);
        return EX_FAILED;
    }
    g.n = nf;
    const char *topics[] = {"progress"};
    int code = wsm_subscribe(c, topics, 1);
    if (code) {
        fprintf(stderr, "meshctl: ingest: subscribe progress: %s\n", wsm_client_errstr(c));
        rc = exit_of(code);
        goto out;
    }
    /* submit */
    for (size_t i = 0; i < nf; i++) {
        item *it = &g.it[i];
        it->arg = files[i];
        const char *sl = strrchr(files[i], '/');
        it->name = sl ? sl + 1 : files[i];
        it->path = abs_path(files[i]);
        it->frames_read = -1;
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "path", it->path ? it->path : files[i]);
        cJSON *cm = NULL;
        if (chmap) {
            cm = cJSON_Duplicate(chmap, 1);
        } else if (!no_channels && it->path) {
            /* channels.json next to the recording */
            char *dir = strdup(it->path);
            char *s = dir ? strrchr(dir, '/') : NULL;
            if (s) {
                *s = '\0';
                char *p = xprintf("%s/channels.json", dir);
                char why[64];
                if (p && access(p, R_OK) == 0)
                    cm = read_json_file(p, why, sizeof why);
                free(p);
            }
            free(dir);
        }
        if (cm)
            cJSON_AddItemToObject(args, "channels", cm);
        if (group >= 0)
            cJSON_AddNumberToObject(args, "group", group);
        cJSON_AddNumberToObject(args, "batch", batch);
        cJSON_AddStringToObject(args, "encoding", encoding);
        code = wsm_enqueue(c, queue, args, NULL, it->job_id);
        cJSON_Delete(args);
        it->last_news = mono();
        if (code == WSM_E_CLOSED || code == WSM_E_CONNECT) {
            fprintf(stderr, "meshctl: ingest: %s\n", wsm_client_errstr(c));
            rc = EX_CONNECT;
            goto out;
        }
        if (code) {
            it->state = IT_REFUSED;
            it->reason = xprintf("refused by the hub: %s", wsm_client_errstr(c));
            snprintf(it->tree_status, sizeof it->tree_status, "refused");
            plain(&g, it, it->reason);
        } else {
            char w[WSM_JOB_ID_MAX + 32];
            snprintf(w, sizeof w, "submitted as job %s", it->job_id);
            plain(&g, it, w);
        }
    }
    /* wait */
    double t0 = mono();
    draw(&g, true);
    for (;;) {
        size_t running = 0;
        for (size_t i = 0; i < g.n; i++)
            running += g.it[i].state == IT_RUNNING;
        if (!running)
            break;
        double now = mono();
        if (timeout > 0 && now - t0 >= timeout) {
            draw(&g, true);
            fprintf(stderr, "meshctl: ingest: %zu recordings still running after %.0f s\n", running,
                    timeout);
            rc = EX_TIMEOUT;
            goto out;
        }
        for (size_t i = 0; i < g.n; i++) {
            item *it = &g.it[i];
            if (it->state == IT_RUNNING && now - it->last_news >= 2.0) {
                code = check_tree(&g, it);
                if (conn_lost(code) && g.reconnect > 0)
                    code = reconnect(&g);
                if (code) {
                    if (g.c)
                        fprintf(stderr, "meshctl: ingest: %s\n", wsm_client_errstr(g.c));
                    rc = exit_of(code);
                    goto out;
                }
            }
        }
        cJSON *ev = NULL;
        code = wsm_next_event(g.c, 0.5, &ev);
        if (code == 0) {
            if (strcmp(jstr(ev, "topic", ""), "progress") == 0)
                on_progress(&g, jo(ev, "data"));
            cJSON_Delete(ev);
        } else if (code != WSM_E_TIMEOUT) {
            if (g.reconnect > 0 && reconnect(&g) == 0)
                continue;
            if (g.c)
                fprintf(stderr, "meshctl: ingest: connection lost: %s\n", wsm_client_errstr(g.c));
            rc = EX_CONNECT;
            goto out;
        }
        draw(&g, false);
    }
    /* results */
    bool all_ok = true;
    for (size_t i = 0; i < g.n; i++) {
        code = collect(&g, &g.it[i]);
        if (code) {
            fprintf(stderr, "meshctl: ingest: %s\n", wsm_client_errstr(g.c));
            rc = exit_of(code);
            goto out;
        }
        all_ok &= g.it[i].ok;
    }
    draw(&g, true);
    if (json) {
        print_json_doc(&g, all_ok);
    } else {
        if (g.tty)
            printf("\n");
        print_table(&g);
    }
    for (size_t i = 0; i < g.n; i++)
        if (!g.it[i].ok)
            fprintf(stderr, "meshctl: %s: %s\n", g.it[i].arg,
                    g.it[i].reason ? g.it[i].reason : "failed");
    rc = all_ok ? EX_OK : EX_FAILED;
out:
    for (size_t i = 0; i < g.n; i++) {
        free(g.it[i].path);
        free(g.it[i].reason);
        free(g.it[i].recording_id);
        cJSON_Delete(g.it[i].rec);
        cJSON_Delete(g.it[i].cov);
    }
    free(g.it);
    free(files);
    cJSON_Delete(chmap);
    return rc;
}
