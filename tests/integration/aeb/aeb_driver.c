/*
 * aeb_driver.c - drives the aeb service through a real wshub for aeb_test.py: builds an
 * open-loop recording (scenario-gen's frame sequence), enqueues it to queue `aeb` as N keyed
 * batches, collects what the aeb instances emit (routed to queue `sink`, consumed here by a
 * small service on a second thread) and compares it, batch by batch and byte for byte, with
 * the outputs of one uninterrupted in-process run of the same batches (aebsvc_process).
 *
 *   aeb-driver --url URL [--batches N] [--rows R] [--encoding binary|json]
 *              [--scenario NAME] [--progress] [--bad-unit]
 *
 * --progress prints "sunk K" after each collected output (the test kills an instance midway).
 * --bad-unit enqueues one batch with an unknown unit and expects it to fail for good with a
 * message naming the unit. Exit 0 on success, 1 on a mismatch or failure (printed).
 */
#include "aebsvc.h"
#include "lib/sinkdrv.h"
#include "scenario_mf4.h"
#include "wsm_frame.h"
#include "wsmesh.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct batch_out {
    bool have_frames, have_events;
    int frames_count, events_count; /* deliveries (duplicates would show here) */
    unsigned char *payload;
    size_t len;
    char *content_type;
    char *frames_args; /* printed */
    char *events_args;
} batch_out;

typedef struct ctx {
    size_t rows, batches;
    bool progress;
    pthread_mutex_t mu;
    batch_out *got; /* [batches] */
    batch_out *ref; /* [batches] */
    int sunk;
    char recording_id[64];
} ctx;

static char *print(const cJSON *j)
{
    return j ? cJSON_PrintUnformatted(j) : NULL;
}

/* ------------------------------------------------------------------ the sink service */

static int sink(wsm_job *job, void *user)
{
    ctx *c = user;
    const cJSON *args = wsm_job_args(job);
    const cJSON *ff = cJSON_GetObjectItemCaseSensitive(args, "first_frame");
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(args, "recording_id");
    if (!cJSON_IsNumber(ff) || !cJSON_IsString(rid) ||
        strcmp(rid->valuestring, c->recording_id) != 0) {
        wsm_job_fail(job, "BAD_FIELD", "sink: unexpected job", NULL, false);
        return 1;
    }
    size_t b = (size_t)ff->valuedouble / c->rows;
    if (b >= c->batches) {
        wsm_job_fail(job, "BAD_FIELD", "sink: first_frame out of range", NULL, false);
        return 1;
    }
    bool events = cJSON_GetObjectItemCaseSensitive(args, "events") != NULL;
    pthread_mutex_lock(&c->mu);
    batch_out *o = &c->got[b];
    if (events) {
        o->events_count++;
        if (!o->have_events) {
            o->have_events = true;
            o->events_args = print(args);
        }
    } else {
        o->frames_count++;
        if (!o->have_frames) {
            size_t len = 0;
            const void *p = wsm_job_payload(job, &len);
            o->have_frames = true;
            o->payload = malloc(len ? len : 1);
            if (len)
                memcpy(o->payload, p, len);
            o->len = len;
            o->content_type = strdup(wsm_job_content_type(job));
            o->frames_args = print(args);
        }
    }
    int sunk = ++c->sunk;
    pthread_mutex_unlock(&c->mu);
    if (c->progress) {
        printf("sunk %d\n", sunk);
        fflush(stdout);
    }
    return 0;
}

/* ------------------------------------------------------------------ the recording */

typedef struct recording {
    size_t n;
    double *t, *v, *a, *range, *rel_v, *lead_a;
    uint8_t *obj;
} recording;

static void make_recording(const char *scenario, size_t n, recording *r)
{
    r->n = n;
    r->t = calloc(n, sizeof(double));
    r->v = calloc(n, sizeof(double));
    r->a = calloc(n, sizeof(double));
    r->range = calloc(n, sizeof(double));
    r->rel_v = calloc(n, sizeof(double));
    r->lead_a = calloc(n, sizeof(double));
    r->obj = calloc(n, 1);
    sg_opts o;
    sg_opts_default(&o);
    o.frames = n;
    sg_frames fr;
    sg_frames_init(&fr, aeb_scenario_find(scenario), &o);
    sg_frame f;
    for (size_t i = 0; i < n && sg_frames_next(&fr, &f); i++) {
        r->t[i] = f.t;
        r->v[i] = f.ego_kmh;
        r->a[i] = f.ego_a;
        r->obj[i] = f.object;
        r->range[i] = f.range;
        r->rel_v[i] = f.rel_v;
        r->lead_a[i] = f.lead_a;
    }
}

/* Batch b of the recording as (meta, payload, args). bad_unit: ego_v in "furlongs". */
static void encode_batch(const ctx *c, const recording *r, size_t b, const char *ct, bool last,
                         bool bad_unit, cJSON **meta, wsm_buf *payload, cJSON **args)
{
    size_t from = b * c->rows, n = c->rows;
    uint8_t *bm = calloc(n / 8 + 1, 1);
    for (size_t i = 0; i < n; i++)
        if (r->obj[from + i])
            bm[i >> 3] |= (uint8_t)(1u << (i & 7));
    wsm_col cols[6] = {
        {.name = "t", .type = WSM_COL_F64, .unit = "s", .values = r->t + from},
        {.name = "ego_v",
         .type = WSM_COL_F64,
         .unit = bad_unit ? "furlongs" : "km/h",
         .values = r->v + from},
        {.name = "ego_a", .type = WSM_COL_F64, .unit = "m/s^2", .values = r->a + from},
        {.name = "range",
         .type = WSM_COL_F64,
         .unit = "m",
         .nullable = true,
         .values = r->range + from,
         .validity = bm},
        {.name = "rel_v",
         .type = WSM_COL_F64,
         .unit = "m/s",
         .nullable = true,
         .values = r->rel_v + from,
         .validity = bm},
        {.name = "lead_a",
         .type = WSM_COL_F64,
         .unit = "m/s^2",
         .nullable = true,
         .values = r->lead_a + from,
         .validity = bm},
    };
    wsm_err err;
    if (wsm_columns_encode(ct, cols, 6, n, meta, payload, &err) != WSM_OK) {
        fprintf(stderr, "encode: %s\n", err.msg);
        exit(1);
    }
    free(bm);
    *args = cJSON_CreateObject();
    cJSON_AddStringToObject(*args, "recording_id", c->recording_id);
    cJSON_AddNumberToObject(*args, "first_frame", (double)from);
    cJSON_AddNumberToObject(*args, "seq", (double)b);
    cJSON_AddBoolToObject(*args, "last", last);
}

/* The reference: the same batches through aebsvc_process in one process, state as text. */
static int reference(ctx *c, const recording *r, const char *ct)
{
    aeb_params p;
    aeb_params_default(&p);
    char *state = NULL;
    for (size_t b = 0; b < c->batches; b++) {
        cJSON *meta, *args;
        wsm_buf payload = WSM_BUF_INIT;
        encode_batch(c, r, b, ct, b + 1 == c->batches, false, &meta, &payload, &args);
        cJSON *st = state ? cJSON_Parse(state) : NULL;
        aebsvc_in in = {.key = c->recording_id,
                        .args = args,
                        .state = st,
                        .content_type = ct,
                        .payload_meta = meta,
                        .payload = payload.data,
                        .len = payload.len};
        aebsvc_out o;
        aebsvc_error e;
        if (aebsvc_process(&p, &in, &o, &e) != 0) {
            fprintf(stderr, "reference batch %zu: %s: %s\n", b, e.type, e.msg);
            return -1;
        }
        batch_out *x = &c->ref[b];
        x->have_frames = true;
        x->payload = malloc(o.frames_payload.len + 1);
        memcpy(x->payload, o.frames_payload.data, o.frames_payload.len);
        x->len = o.frames_payload.len;
        x->content_type = strdup(o.content_type);
        x->frames_args = print(o.frames_args);
        x->have_events = o.events_args != NULL;
        x->events_args = print(o.events_args);
        free(state);
        state = print(o.state);
        aebsvc_out_free(&o);
        cJSON_Delete(st);
        cJSON_Delete(meta);
        cJSON_Delete(args);
        wsm_buf_free(&payload);
    }
    free(state);
    return 0;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int main(int argc, char **argv)
{
    const char *url = NULL, *enc = "binary", *scenario = "CCRb-6-12m";
    ctx c = {.rows = 10, .batches = 200};
    bool bad_unit = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            url = argv[++i];
        else if (strcmp(argv[i], "--batches") == 0 && i + 1 < argc)
            c.batches = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc)
            c.rows = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--encoding") == 0 && i + 1 < argc)
            enc = argv[++i];
        else if (strcmp(argv[i], "--scenario") == 0 && i + 1 < argc)
            scenario = argv[++i];
        else if (strcmp(argv[i], "--progress") == 0)
            c.progress = true;
        else if (strcmp(argv[i], "--bad-unit") == 0)
            bad_unit = true;
        else {
            fprintf(stderr, "aeb-driver: bad argument %s\n", argv[i]);
            return 2;
        }
    }
    if (!url || c.rows == 0 || c.batches == 0 || !aeb_scenario_find(scenario)) {
        fprintf(stderr, "aeb-driver: need --url, rows/batches >= 1, a known scenario\n");
        return 2;
    }
    const char *ct = strcmp(enc, "json") == 0 ? WSM_CT_JSON : WSM_CT_COLUMNS;
    snprintf(c.recording_id, sizeof c.recording_id, "rec-%d", (int)getpid());
    pthread_mutex_init(&c.mu, NULL);
    c.got = calloc(c.batches, sizeof *c.got);
    c.ref = calloc(c.batches, sizeof *c.ref);
    recording r;
    make_recording(scenario, c.batches * c.rows, &r);
    if (!bad_unit && reference(&c, &r, ct) != 0)
        return 1;

    /* the sink and the producer */
    sink_runner sr;
    wsm_client *cl;
    if (sink_start(&sr, url, "aeb-sink", sink, &c, "aeb-driver", &cl) != 0)
        return 1;
    int rc = 0;
    size_t n_enq = bad_unit ? 1 : c.batches;
    char(*ids)[WSM_JOB_ID_MAX + 1] = calloc(n_enq, sizeof *ids);
    for (size_t b = 0; b < n_enq && rc == 0; b++) {
        cJSON *meta, *args;
        wsm_buf payload = WSM_BUF_INIT;
        encode_batch(&c, &r, b, ct, b + 1 == c.batches, bad_unit, &meta, &payload, &args);
        wsm_enqueue_opts eo = {.key = c.recording_id,
                               .payload = payload.data,
                               .len = payload.len,
                               .content_type = ct,
                               .payload_meta = meta};
        rc = wsm_enqueue(cl, "aeb", args, &eo, ids[b]);
        if (rc != 0)
            fprintf(stderr, "enqueue %zu: %s\n", b, wsm_client_errstr(cl));
        cJSON_Delete(meta);
        cJSON_Delete(args);
        wsm_buf_free(&payload);
    }
    for (size_t b = 0; b < n_enq && rc == 0; b++) {
        cJSON *job = NULL;
        rc = wsm_wait(cl, ids[b], true, 120, &job);
        if (rc != 0) {
            fprintf(stderr, "wait %s: %s\n", ids[b], wsm_client_errstr(cl));
        } else {
            const char *status =
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(job, "status"));
            char *txt = print(job);
            if (bad_unit) {
                if (!status || strcmp(status, "failed") != 0 || !strstr(txt, "furlongs") ||
                    !strstr(txt, "BAD_FIELD")) {
                    fprintf(stderr,
                            "bad-unit batch: expected failed with BAD_FIELD naming the "
                            "unit, got %s\n",
                            txt);
                    rc = 1;
                }
            } else if (!status || strcmp(status, "finished") != 0) {
                fprintf(stderr, "batch %zu did not finish: %s\n", b, txt);
                rc = 1;
            }
            free(txt);
        }
        cJSON_Delete(job);
    }
    wsm_client_free(cl);
    sink_stop(&sr);

    /* compare */
    size_t mismatches = 0;
    for (size_t b = 0; b < c.batches && rc == 0 && !bad_unit; b++) {
        batch_out *g = &c.got[b], *x = &c.ref[b];
        bool ok = g->have_frames && g->frames_count == 1 && g->len == x->len &&
                  memcmp(g->payload, x->payload, x->len) == 0 &&
                  same_str(g->content_type, x->content_type) &&
                  same_str(g->frames_args, x->frames_args) && g->have_events == x->have_events &&
                  g->events_count == (x->have_events ? 1 : 0) &&
                  same_str(g->events_args, x->events_args);
        if (!ok && mismatches++ < 5)
            fprintf(stderr,
                    "batch %zu differs: frames %d (x%d, %zu vs %zu bytes), events %d (x%d)\n"
                    "  got args %s\n  ref args %s\n",
                    b, g->have_frames, g->frames_count, g->len, x->len, g->have_events,
                    g->events_count, g->frames_args ? g->frames_args : "-",
                    x->frames_args ? x->frames_args : "-");
    }
    if (mismatches)
        rc = 1;
    if (rc == 0 && !bad_unit) {
        size_t ev = 0;
        for (size_t b = 0; b < c.batches; b++)
            ev += c.ref[b].have_events;
        printf("ok: %zu batches x %zu rows (%s), %zu event batches, identical to one run\n",
               c.batches, c.rows, enc, ev);
    } else if (rc == 0) {
        printf("ok: bad unit refused\n");
    }
    for (size_t b = 0; b < c.batches; b++)
        for (int k = 0; k < 2; k++) {
            batch_out *x = k ? &c.got[b] : &c.ref[b];
            free(x->payload);
            free(x->content_type);
            free(x->frames_args);
            free(x->events_args);
        }
    free(c.got);
    free(c.ref);
    free(ids);
    free(r.t);
    free(r.v);
    free(r.a);
    free(r.range);
    free(r.rel_v);
    free(r.lead_a);
    free(r.obj);
    pthread_mutex_destroy(&c.mu);
    return rc == 0 ? 0 : 1;
}
