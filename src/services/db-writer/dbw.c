/*
 * dbw.c - the db-writer's logic: a pool of libresults handles, `db` jobs -> libresults writes,
 * and `db.query` requests -> libresults reads (formats: docs/results-schema.md §"The db queue").
 *
 * Invariants:
 *  - A job is validated completely (payload decoded, every field type-checked) before the first
 *    write, so an invalid job writes nothing and fails for good (retry = false) with a message
 *    naming the field. Database failures (busy, I/O, lost connection) fail with retry = true.
 *  - Every write is an idempotent keyed upsert, so a redelivered job (at-least-once delivery)
 *    leaves exactly the same rows. Event keys are derived deterministically when the producer
 *    gives no seq: res_event_seq(frame, kind) (at most one event of each kind per frame).
 *  - A handle is used by one thread at a time: handlers borrow one from the pool.
 *  - The root job id of every stored job becomes an alias of its recording, so the dashboard's
 *    link from a pipeline (root job) to its results works whatever recording id the reader
 *    chose.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbw.h"
#include "wsm_columns.h"
#include "wsm_common.h"

/* ------------------------------------------------------------------ pool */

struct dbw_pool {
    pthread_mutex_t mu;
    char *url;
    int max;
    int n_idle;
    res_db **idle;
};

int dbw_pool_new(const char *url, int max, dbw_pool **out, res_err *err)
{
    *out = NULL;
    dbw_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->url = strdup(url ? url : "")) ||
        !(p->idle = calloc((size_t)(max < 1 ? 1 : max), sizeof(res_db *)))) {
        if (p)
            free(p->url);
        free(p);
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return err->code = RES_E_NOMEM;
    }
    p->max = max < 1 ? 1 : max;
    pthread_mutex_init(&p->mu, NULL);
    res_db *db = NULL;
    int rc = res_open(url, NULL, &db, err);
    if (rc) {
        dbw_pool_free(p);
        return rc;
    }
    p->idle[p->n_idle++] = db;
    *out = p;
    return RES_OK;
}

void dbw_pool_free(dbw_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_idle; i++)
        res_close(p->idle[i]);
    pthread_mutex_destroy(&p->mu);
    free(p->idle);
    free(p->url);
    free(p);
}

res_db *dbw_pool_get(dbw_pool *p, res_err *err)
{
    pthread_mutex_lock(&p->mu);
    res_db *db = p->n_idle ? p->idle[--p->n_idle] : NULL;
    pthread_mutex_unlock(&p->mu);
    if (db)
        return db;
    if (res_open(p->url, NULL, &db, err) != RES_OK)
        return NULL;
    return db;
}

void dbw_pool_put(dbw_pool *p, res_db *db)
{
    if (!db)
        return;
    pthread_mutex_lock(&p->mu);
    if (p->n_idle < p->max) {
        p->idle[p->n_idle++] = db;
        db = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    res_close(db);
}

/* ------------------------------------------------------------------ errors */

static int fail(dbw_error *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(dbw_error *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    snprintf(e->type, sizeof e->type, "%s", res_code_name(code));
    e->retry = !(code == RES_E_BAD_INPUT || code == RES_E_BAD_URL || code == RES_E_NOT_FOUND ||
                 code == RES_E_UNSUPPORTED || code == RES_E_SCHEMA);
    return code;
}

static int from_res(dbw_error *e, int code, const res_err *re)
{
    return fail(e, code, "%s", re->msg);
}

static int from_wsm(dbw_error *e, const wsm_err *we)
{
    return fail(e, we->code == WSM_E_NOMEM ? RES_E_NOMEM : RES_E_BAD_INPUT, "%s", we->msg);
}

/* ------------------------------------------------------------------ JSON field readers */

/* A nullable number: absent or null -> NaN (returns 0); number -> value (1); else error (-1). */
static int opt_num(const cJSON *obj, const char *path, const char *key, double *out, dbw_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NAN;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        fail(e, RES_E_BAD_INPUT, "%s.%s: expected a number or null", path, key);
        return -1;
    }
    *out = v->valuedouble;
    return 1;
}

/* A nullable string: absent or null -> NULL (0); string (1); else error (-1). */
static int opt_str(const cJSON *obj, const char *path, const char *key, const char **out,
                   dbw_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v)) {
        fail(e, RES_E_BAD_INPUT, "%s.%s: expected a string or null", path, key);
        return -1;
    }
    *out = v->valuestring;
    return 1;
}

/* A nullable integer in [min, max]: absent/null -> 0 with *out = dflt; else 1 or -1. */
static int opt_int(const cJSON *obj, const char *path, const char *key, int64_t min, int64_t max,
                   int64_t dflt, int64_t *out, dbw_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = dflt;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < min ||
        v->valuedouble > max) {
        fail(e, RES_E_BAD_INPUT, "%s.%s: expected an integer in %lld..%lld", path, key,
             (long long)min, (long long)max);
        return -1;
    }
    *out = (int64_t)v->valuedouble;
    return 1;
}

/* A nullable flag: bool or 0/1 -> 0/1, absent/null -> -1. */
static int opt_flag(const cJSON *obj, const char *path, const char *key, int8_t *out, dbw_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = -1;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (cJSON_IsBool(v)) {
        *out = cJSON_IsTrue(v) ? 1 : 0;
        return 1;
    }
    if (cJSON_IsNumber(v) && (v->valuedouble == 0 || v->valuedouble == 1)) {
        *out = (int8_t)v->valuedouble;
        return 1;
    }
    fail(e, RES_E_BAD_INPUT, "%s.%s: expected true, false, 0, 1 or null", path, key);
    return -1;
}

/* ------------------------------------------------------------------ frames */

typedef struct frames_buf {
    size_t n;
    double *t, *ego_v, *range, *rel_v, *ttc, *decel;
    const char **state;
    int8_t *fcw, *coll;
} frames_buf;

static void frames_buf_free(frames_buf *b)
{
    free(b->t);
    free(b->ego_v);
    free(b->range);
    free(b->rel_v);
    free(b->ttc);
    free(b->decel);
    free(b->state);
    free(b->fcw);
    free(b->coll);
}

/* A numeric column as doubles (NaN = NULL); absent and optional -> all NULL. */
static int col_f64(const wsm_columns *c, const char *name, bool required, double **out,
                   dbw_error *e)
{
    const wsm_col *col = wsm_columns_find(c, name);
    *out = malloc((c->rows ? c->rows : 1) * sizeof(double));
    if (!*out)
        return fail(e, RES_E_NOMEM, "out of memory");
    if (!col) {
        if (required)
            return fail(e, RES_E_BAD_INPUT, "payload: column \"%s\" missing", name);
        for (size_t i = 0; i < c->rows; i++)
            (*out)[i] = NAN;
        return RES_OK;
    }
    if (col->enum_names || col->type == WSM_COL_BOOL)
        return fail(e, RES_E_BAD_INPUT, "payload: column \"%s\" is %s, expected a number", name,
                    col->enum_names ? "an enum" : "bool");
    wsm_col_to_f64(col, c->rows, *out);
    for (size_t i = 0; i < c->rows; i++)
        if (isinf((*out)[i]))
            return fail(e, RES_E_BAD_INPUT, "payload: column \"%s\" row %zu: infinite", name, i);
    return RES_OK;
}

static int col_flag(const wsm_columns *c, const char *name, int8_t **out, dbw_error *e)
{
    const wsm_col *col = wsm_columns_find(c, name);
    if (!col)
        return fail(e, RES_E_BAD_INPUT, "payload: column \"%s\" missing", name);
    if (col->enum_names || col->type == WSM_COL_F64 || col->type == WSM_COL_F32)
        return fail(e, RES_E_BAD_INPUT, "payload: column \"%s\" must be bool (or integer 0/1)",
                    name);
    *out = malloc(c->rows ? c->rows : 1);
    if (!*out)
        return fail(e, RES_E_NOMEM, "out of memory");
    for (size_t i = 0; i < c->rows; i++) {
        if (!wsm_col_valid(col, i)) {
            (*out)[i] = -1;
            continue;
        }
        double v = wsm_col_get(col, i);
        if (v != 0 && v != 1)
            return fail(e, RES_E_BAD_INPUT, "payload: column \"%s\" row %zu: %g, expected 0 or 1",
                        name, i, v);
        (*out)[i] = (int8_t)v;
    }
    return RES_OK;
}

static int col_state(const wsm_columns *c, const char **out, dbw_error *e)
{
    const wsm_col *col = wsm_columns_find(c, "state");
    if (!col)
        return fail(e, RES_E_BAD_INPUT, "payload: column \"state\" missing");
    if (col->type != WSM_COL_U8 || !col->enum_names)
        return fail(e, RES_E_BAD_INPUT,
                    "payload: column \"state\" must be a u8 enum of NONE FCW PB1 PB2 FB");
    /* map each enum name to our static names once; unknown names are an error when used */
    int map[WSM_COLUMNS_MAX_ENUM];
    for (size_t k = 0; k < col->n_enum && k < WSM_COLUMNS_MAX_ENUM; k++)
        map[k] = res_state_index(col->enum_names[k]);
    const uint8_t *v = col->values;
    for (size_t i = 0; i < c->rows; i++) {
        if (!wsm_col_valid(col, i)) {
            out[i] = NULL;
            continue;
        }
        if (v[i] >= col->n_enum || map[v[i]] < 0)
            return fail(e, RES_E_BAD_INPUT,
                        "payload: column \"state\" row %zu: \"%.40s\" is not one of NONE FCW "
                        "PB1 PB2 FB",
                        i, v[i] < col->n_enum ? col->enum_names[v[i]] : "?");
        out[i] = res_states[map[v[i]]];
    }
    return RES_OK;
}

/* Decodes the payload into b; *first gets the first frame index. */
static int decode_frames(const dbw_job *job, frames_buf *b, int64_t *first, dbw_error *e)
{
    wsm_columns *c = NULL;
    wsm_err we = {0};
    if (wsm_columns_decode(job->content_type, job->payload_meta, job->payload, job->len, 0, &c,
                           &we) != WSM_OK)
        return from_wsm(e, &we);
    int rc = RES_OK;
    b->n = c->rows;
    int have = opt_int(job->args, "args", "first_frame", 0, INT64_MAX / 2, -1, first, e);
    if (have < 0) {
        rc = e->code;
        goto out;
    }
    const wsm_col *fc = wsm_columns_find(c, "frame");
    if (fc && c->rows) { /* a frame column must be contiguous and agree with first_frame */
        double f0 = wsm_col_get(fc, 0);
        for (size_t i = 0; i < c->rows; i++)
            if (!wsm_col_valid(fc, i) || wsm_col_get(fc, i) != f0 + (double)i) {
                rc = fail(e, RES_E_BAD_INPUT,
                          "payload: column \"frame\" row %zu: frames of a batch must be "
                          "consecutive",
                          i);
                goto out;
            }
        if (have && f0 != (double)*first) {
            rc = fail(e, RES_E_BAD_INPUT,
                      "args.first_frame: %lld disagrees with column \"frame\" (%.0f)",
                      (long long)*first, f0);
            goto out;
        }
        if (f0 < 0) {
            rc = fail(e, RES_E_BAD_INPUT, "payload: column \"frame\": negative frame index");
            goto out;
        }
        *first = (int64_t)f0;
        have = 1;
    }
    if (!have) {
        rc = fail(e, RES_E_BAD_INPUT,
                  "args.first_frame: missing (the index of the batch's first frame)");
        goto out;
    }
    b->state = calloc(c->rows ? c->rows : 1, sizeof(char *));
    if (!b->state) {
        rc = fail(e, RES_E_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = col_f64(c, "t", true, &b->t, e)) || (rc = col_f64(c, "ego_v", false, &b->ego_v, e)) ||
        (rc = col_f64(c, "range", false, &b->range, e)) ||
        (rc = col_f64(c, "rel_v", false, &b->rel_v, e)) ||
        (rc = col_f64(c, "ttc", true, &b->ttc, e)) ||
        (rc = col_f64(c, "decel", true, &b->decel, e)) || (rc = col_state(c, b->state, e)) ||
        (rc = col_flag(c, "fcw", &b->fcw, e)) || (rc = col_flag(c, "collision", &b->coll, e)))
        goto out;
out:
    wsm_columns_free(c);
    return rc;
}

/* ------------------------------------------------------------------ events */

static int parse_events(const cJSON *arr, res_event **out, size_t *n, dbw_error *e)
{
    *n = (size_t)cJSON_GetArraySize(arr);
    *out = calloc(*n ? *n : 1, sizeof(res_event));
    if (!*out)
        return fail(e, RES_E_NOMEM, "out of memory");
    size_t i = 0;
    const cJSON *ev;
    cJSON_ArrayForEach(ev, arr)
    {
        char path[48];
        snprintf(path, sizeof path, "args.events[%zu]", i);
        if (!cJSON_IsObject(ev))
            return fail(e, RES_E_BAD_INPUT, "%s: expected an object", path);
        res_event *r = &(*out)[i++];
        const char *kind = NULL;
        if (opt_str(ev, path, "kind", &kind, e) < 0)
            return e->code;
        if (!kind && opt_str(ev, path, "event", &kind, e) < 0)
            return e->code;
        int k = res_event_kind_index(kind);
        if (k < 0)
            return fail(e, RES_E_BAD_INPUT,
                        "%s.kind: %s%.40s%s is not one of fcw_onset brake_onset stage_change "
                        "collision aeb_release",
                        path, kind ? "\"" : "", kind ? kind : "missing", kind ? "\"" : "");
        r->kind = res_event_kinds[k];
        int64_t seq, frame;
        int hs = opt_int(ev, path, "seq", 0, INT64_MAX / 8, -1, &seq, e);
        int hf = opt_int(ev, path, "frame", 0, INT64_MAX / 8, -1, &frame, e);
        if (hs < 0 || hf < 0)
            return e->code;
        if (!hs && !hf)
            return fail(e, RES_E_BAD_INPUT, "%s: needs \"seq\" or \"frame\" (the event's key)",
                        path);
        r->seq = hs ? seq : res_event_seq(frame, r->kind);
        if (opt_num(ev, path, "t", &r->t, e) < 0 || opt_num(ev, path, "ttc", &r->ttc, e) < 0 ||
            opt_num(ev, path, "ego_v", &r->ego_v, e) < 0 ||
            opt_num(ev, path, "range", &r->range, e) < 0 ||
            opt_num(ev, path, "rel_v", &r->rel_v, e) < 0 ||
            opt_num(ev, path, "impact_speed_kmh", &r->impact_speed_kmh, e) < 0)
            return e->code;
        if (opt_str(ev, path, "stage", &r->stage, e) < 0)
            return e->code;
        if (!r->stage && k == 2 && opt_str(ev, path, "to", &r->stage, e) < 0)
            return e->code;
    }
    return RES_OK;
}

/* ------------------------------------------------------------------ summary */

/* Fills s from an AEB summary object (aeb_summary_to_json or the flat table form). The params
 * text (params object plus the service version) is returned in *params (caller frees). */
static int parse_summary(const cJSON *o, const cJSON *args, res_summary *s, char **params,
                         dbw_error *e)
{
    const char *p = "args.summary";
    *params = NULL;
    if (!cJSON_IsObject(o))
        return fail(e, RES_E_BAD_INPUT, "%s: expected an object", p);
    if (opt_int(o, p, "frames", 0, INT64_MAX / 2, -1, &s->frames, e) < 0)
        return e->code;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(o, "min_ttc");
    if (cJSON_IsObject(mt)) { /* {"value", "t"} */
        if (opt_num(mt, "args.summary.min_ttc", "value", &s->min_ttc, e) < 0 ||
            opt_num(mt, "args.summary.min_ttc", "t", &s->t_min_ttc, e) < 0)
            return e->code;
    } else if (opt_num(o, p, "min_ttc", &s->min_ttc, e) < 0 ||
               opt_num(o, p, "t_min_ttc", &s->t_min_ttc, e) < 0) {
        return e->code;
    }
    if (opt_str(o, p, "max_stage", &s->max_stage, e) < 0 ||
        opt_num(o, p, "first_fcw_t", &s->first_fcw_t, e) < 0 ||
        opt_num(o, p, "first_brake_t", &s->first_brake_t, e) < 0)
        return e->code;
    const cJSON *fc = cJSON_GetObjectItemCaseSensitive(o, "first_collision");
    if (fc && !cJSON_IsNull(fc)) {
        if (!cJSON_IsObject(fc))
            return fail(e, RES_E_BAD_INPUT, "%s.first_collision: expected an object or null", p);
        s->collision = 1;
        if (opt_num(fc, "args.summary.first_collision", "impact_speed_kmh", &s->impact_speed_kmh,
                    e) < 0)
            return e->code;
    } else {
        if (opt_flag(o, p, "collision", &s->collision, e) < 0 ||
            opt_num(o, p, "impact_speed_kmh", &s->impact_speed_kmh, e) < 0)
            return e->code;
        if (fc && s->collision < 0)
            s->collision = 0; /* first_collision: null = none */
    }
    const cJSON *pj = cJSON_GetObjectItemCaseSensitive(o, "params");
    if (pj && !cJSON_IsNull(pj) && !cJSON_IsObject(pj))
        return fail(e, RES_E_BAD_INPUT, "%s.params: expected an object", p);
    cJSON *copy = pj && cJSON_IsObject(pj) ? cJSON_Duplicate(pj, true) : cJSON_CreateObject();
    if (!copy)
        return fail(e, RES_E_NOMEM, "out of memory");
    /* the service version travels with the summary or the job args */
    static const char *const vkeys[] = {"service_version", "service", "version"};
    for (int pass = 0; pass < 2; pass++) {
        const cJSON *src = pass ? args : o;
        for (int k = 0; k < 3; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, vkeys[k]);
            if (cJSON_IsString(v) && !cJSON_GetObjectItemCaseSensitive(copy, "service_version"))
                cJSON_AddStringToObject(copy, "service_version", v->valuestring);
        }
    }
    *params = cJSON_PrintUnformatted(copy);
    cJSON_Delete(copy);
    if (!*params)
        return fail(e, RES_E_NOMEM, "out of memory");
    s->params_json = *params;
    return RES_OK;
}

/* ------------------------------------------------------------------ recording metadata */

static bool looks_like_recording(const cJSON *o)
{
    static const char *const keys[] = {"path", "sha256", "t_start", "t_end", "frames", "status"};
    for (int i = 0; i < 6; i++)
        if (cJSON_GetObjectItemCaseSensitive(o, keys[i]))
            return true;
    return false;
}

static int parse_recording(const cJSON *o, const char *path, const char *rec_id, res_recording *r,
                           dbw_error *e)
{
    r->id = rec_id;
    if (opt_str(o, path, "path", &r->path, e) < 0 ||
        opt_str(o, path, "sha256", &r->sha256, e) < 0 ||
        opt_str(o, path, "status", &r->status, e) < 0 ||
        opt_str(o, path, "created_at", &r->created_at, e) < 0 ||
        opt_int(o, path, "frames", 0, INT64_MAX / 2, -1, &r->frames, e) < 0 ||
        opt_num(o, path, "t_start", &r->t_start, e) < 0 ||
        opt_num(o, path, "t_end", &r->t_end, e) < 0)
        return e->code;
    if (!r->status)
        r->status = "read";
    return RES_OK;
}

/* ------------------------------------------------------------------ store */

/* libresults checks its inputs call by call, and dbw_store makes several calls: whatever a later
 * call would refuse must be refused before the first write, or an invalid job leaves part of
 * itself behind. These are the checks of libresults (results.c) that dbw does not do anyway. */
static int utf8_tree(const cJSON *v, dbw_error *e)
{
    if (v->string && !wsm_utf8_valid(v->string, strlen(v->string)))
        return fail(e, RES_E_BAD_INPUT, "args: a member name is not valid UTF-8");
    if (cJSON_IsString(v) && !wsm_utf8_valid(v->valuestring, strlen(v->valuestring)))
        return fail(e, RES_E_BAD_INPUT, "args%s%.60s: not valid UTF-8", v->string ? "." : "",
                    v->string ? v->string : "");
    for (const cJSON *c = v->child; c; c = c->next)
        if (utf8_tree(c, e))
            return e->code;
    return RES_OK;
}

static int stage_ok(const char *what, const char *st, dbw_error *e)
{
    if (!st || res_state_index(st) >= 0)
        return RES_OK;
    return fail(e, RES_E_BAD_INPUT, "%s: \"%.40s\" is not one of NONE FCW PB1 PB2 FB", what, st);
}

static int text_ok(const char *what, const char *t, size_t max, dbw_error *e)
{
    if (t && strlen(t) > max)
        return fail(e, RES_E_BAD_INPUT, "%s: %zu bytes, at most %zu allowed", what, strlen(t), max);
    return RES_OK;
}

static int id_ok(const char *what, const char *id, dbw_error *e)
{
    size_t n = strlen(id);
    if (n > 256 || !wsm_utf8_valid(id, n))
        return fail(e, RES_E_BAD_INPUT, "%s: expected 1..256 bytes of UTF-8", what);
    return RES_OK;
}

/* alias: the root job id to record as an alias of rec, or NULL. */
static int prevalidate(const cJSON *args, const char *rec, const char *alias, const res_event *evs,
                       size_t n_ev, const res_summary *sum, bool summary, const res_recording *r,
                       bool meta, dbw_error *e)
{
    if (id_ok("recording id", rec, e) || (alias && id_ok("root", alias, e)))
        return e->code;
    if (utf8_tree(args, e))
        return e->code;
    for (size_t i = 0; i < n_ev; i++)
        if (stage_ok("args.events[].stage", evs[i].stage, e))
            return e->code;
    if (summary && (stage_ok("args.summary.max_stage", sum->max_stage, e) ||
                    text_ok("args.summary.params", sum->params_json, 1 << 20, e)))
        return e->code;
    if (meta && (text_ok("recording.path", r->path, 4096, e) ||
                 text_ok("recording.sha256", r->sha256, 128, e) ||
                 text_ok("recording.status", r->status, 64, e) ||
                 text_ok("recording.created_at", r->created_at, 64, e)))
        return e->code;
    return RES_OK;
}

int dbw_store(res_db *db, const dbw_job *job, cJSON **result, dbw_error *e)
{
    *result = NULL;
    memset(e, 0, sizeof *e);
    const cJSON *args = job->args;
    if (!cJSON_IsObject(args))
        return fail(e, RES_E_BAD_INPUT, "args: expected an object");
    /* the recording id: args.recording_id, args.id (reader metadata), or the ordering key */
    const char *rec = NULL;
    if (opt_str(args, "args", "recording_id", &rec, e) < 0)
        return e->code;
    const cJSON *recobj = cJSON_GetObjectItemCaseSensitive(args, "recording");
    if (recobj && !cJSON_IsObject(recobj))
        return fail(e, RES_E_BAD_INPUT, "args.recording: expected an object");
    if (!rec && recobj && opt_str(recobj, "args.recording", "id", &rec, e) < 0)
        return e->code;
    if (!rec && opt_str(args, "args", "id", &rec, e) < 0)
        return e->code;
    if (!rec)
        rec = job->key;
    if (!rec || !*rec)
        return fail(e, RES_E_BAD_INPUT,
                    "args.recording_id: missing (and the job has no key to take it from)");

    bool has_frames =
        job->payload_meta && cJSON_GetObjectItemCaseSensitive(job->payload_meta, "columns");
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(args, "events");
    const cJSON *summary = cJSON_GetObjectItemCaseSensitive(args, "summary");
    if (events && !cJSON_IsArray(events))
        return fail(e, RES_E_BAD_INPUT, "args.events: expected an array");
    if (summary && cJSON_IsNull(summary))
        summary = NULL;
    const cJSON *meta = recobj ? recobj : (looks_like_recording(args) ? args : NULL);
    if (!has_frames && !events && !summary && !meta)
        return fail(e, RES_E_BAD_INPUT,
                    "job carries nothing to store: expected a columnar frame batch (payload_meta "
                    "with columns), args.events, args.summary or recording metadata");

    /* validate and convert everything first */
    frames_buf fb = {0};
    int64_t first = 0;
    res_event *evs = NULL;
    size_t n_ev = 0;
    res_summary sum = {.recording_id = rec, .frames = -1, .collision = -1};
    char *params = NULL;
    res_recording r = {0};
    int rc = RES_OK;
    if (has_frames && (rc = decode_frames(job, &fb, &first, e)))
        goto out;
    if (events && (rc = parse_events(events, &evs, &n_ev, e)))
        goto out;
    if (summary && (rc = parse_summary(summary, args, &sum, &params, e)))
        goto out;
    if (meta && (rc = parse_recording(meta, recobj ? "args.recording" : "args", rec, &r, e)))
        goto out;
    /* the root job id becomes an alias of the recording, unless it is the recording id */
    const char *alias = job->root && *job->root && strcmp(job->root, rec) != 0 ? job->root : NULL;
    if ((rc = prevalidate(args, rec, alias, evs, n_ev, &sum, summary != NULL, &r, meta != NULL, e)))
        goto out;

    res_err re;
    if (has_frames) {
        res_frames f = {.recording_id = rec,
                        .first_frame = first,
                        .n = fb.n,
                        .t = fb.t,
                        .ego_v = fb.ego_v,
                        .range = fb.range,
                        .rel_v = fb.rel_v,
                        .ttc = fb.ttc,
                        .state = fb.state,
                        .fcw = fb.fcw,
                        .decel = fb.decel,
                        .collision = fb.coll};
        if ((rc = res_write_frames(db, &f, &re))) {
            from_res(e, rc, &re);
            goto out;
        }
    }
    if (n_ev && (rc = res_write_events(db, rec, evs, n_ev, &re))) {
        from_res(e, rc, &re);
        goto out;
    }
    if (summary && (rc = res_write_summary(db, &sum, &re))) {
        from_res(e, rc, &re);
        goto out;
    }
    if (meta && (rc = res_write_recording(db, &r, &re))) {
        from_res(e, rc, &re);
        goto out;
    }
    if (alias && (rc = res_write_alias(db, alias, rec, &re))) {
        from_res(e, rc, &re);
        goto out;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "recording_id", rec) ||
        !cJSON_AddNumberToObject(o, "frames", (double)fb.n) ||
        !cJSON_AddNumberToObject(o, "events", (double)n_ev) ||
        !cJSON_AddBoolToObject(o, "summary", summary != NULL) ||
        !cJSON_AddBoolToObject(o, "recording", meta != NULL)) {
        cJSON_Delete(o);
        rc = fail(e, RES_E_NOMEM, "out of memory");
        goto out;
    }
    *result = o;
out:
    frames_buf_free(&fb);
    free(evs);
    free(params);
    return rc;
}

/* ------------------------------------------------------------------ queries */

static int need_id(const cJSON *args, const char **id, dbw_error *e)
{
    if (opt_str(args, "args", "recording_id", id, e) < 0)
        return e->code;
    if (!*id)
        return fail(e, RES_E_BAD_INPUT, "args.recording_id: missing");
    return RES_OK;
}

/* args.series: absent/null = every series; else an array of at most 8 names (borrowed). */
static int series_arg(const cJSON *args, const char *names[8], size_t *n, dbw_error *e)
{
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(args, "series");
    *n = 0;
    if (!want || cJSON_IsNull(want))
        return RES_OK;
    if (!cJSON_IsArray(want) || cJSON_GetArraySize(want) > 8)
        return fail(e, RES_E_BAD_INPUT, "args.series: expected an array of at most 8 names");
    const cJSON *w;
    cJSON_ArrayForEach(w, want)
    {
        if (!cJSON_IsString(w))
            return fail(e, RES_E_BAD_INPUT, "args.series[%zu]: expected a string", *n);
        names[(*n)++] = w->valuestring;
    }
    return RES_OK;
}

/* Size of an answer as the adapter will print it into the result header (0 if unprintable). */
static size_t answer_bytes(const cJSON *out)
{
    char *s = cJSON_PrintUnformatted(out);
    size_t n = s ? strlen(s) : 0;
    free(s);
    return n;
}

int dbw_query(res_db *db, const cJSON *args, cJSON **result, dbw_error *e)
{
    *result = NULL;
    memset(e, 0, sizeof *e);
    if (!cJSON_IsObject(args))
        return fail(e, RES_E_BAD_INPUT, "args: expected an object");
    const char *q = NULL;
    if (opt_str(args, "args", "q", &q, e) < 0)
        return e->code;
    if (!q)
        return fail(e, RES_E_BAD_INPUT,
                    "args.q: missing (recordings, recording, events, frames, rows, coverage)");
    res_err re;
    int rc;
    const char *id = NULL;
    cJSON *out = NULL;
    size_t bytes = 0; /* answer_bytes(out) once measured (the rows loop measures its answer) */
    if (strcmp(q, "recordings") == 0) {
        int64_t off, lim;
        if (opt_int(args, "args", "offset", 0, INT64_MAX / 2, 0, &off, e) < 0 ||
            opt_int(args, "args", "limit", 1, 1000, 50, &lim, e) < 0)
            return e->code;
        rc = res_list_recordings(db, off, lim, &out, &re);
    } else if (strcmp(q, "recording") == 0) {
        if ((rc = need_id(args, &id, e)))
            return rc;
        rc = res_get_recording(db, id, &out, &re);
    } else if (strcmp(q, "events") == 0) {
        if ((rc = need_id(args, &id, e)))
            return rc;
        rc = res_get_events(db, id, &out, &re);
    } else if (strcmp(q, "frames") == 0) {
        int64_t mp;
        double t0, t1;
        if ((rc = need_id(args, &id, e)))
            return rc;
        if (opt_int(args, "args", "max_points", 4, 100000, 1000, &mp, e) < 0 ||
            opt_num(args, "args", "t_from", &t0, e) < 0 ||
            opt_num(args, "args", "t_to", &t1, e) < 0)
            return e->code;
        const char *names[8];
        size_t n_names;
        if ((rc = series_arg(args, names, &n_names, e)))
            return rc;
        rc = res_get_frames_series(db, id, (int)mp, t0, t1, n_names ? names : NULL, n_names, &out,
                                   &re);
    } else if (strcmp(q, "rows") == 0) {
        int64_t first, max;
        if ((rc = need_id(args, &id, e)))
            return rc;
        if (opt_int(args, "args", "first_frame", 0, INT64_MAX / 2, 0, &first, e) < 0 ||
            opt_int(args, "args", "max_rows", 1, 100000, 1000, &max, e) < 0)
            return e->code;
        /* an answer travels in the result header: fewer rows until it fits (the caller pages
         * on from the last frame it got) */
        for (;;) {
            rc = res_get_frame_rows(db, id, first, max, &out, &re);
            if (rc || max == 1 || (bytes = answer_bytes(out)) <= DBW_MAX_ANSWER_BYTES)
                break;
            cJSON_Delete(out);
            out = NULL;
            bytes = 0;
            max /= 2;
        }
    } else if (strcmp(q, "coverage") == 0) {
        int64_t n, first, last;
        if ((rc = need_id(args, &id, e)))
            return rc;
        rc = res_frames_coverage(db, id, &n, &first, &last, &re);
        if (rc == RES_OK) {
            out = cJSON_CreateObject();
            if (!out || !cJSON_AddStringToObject(out, "recording_id", id) ||
                !cJSON_AddNumberToObject(out, "frames", (double)n) ||
                !cJSON_AddNumberToObject(out, "first_frame", (double)first) ||
                !cJSON_AddNumberToObject(out, "last_frame", (double)last) ||
                !cJSON_AddBoolToObject(out, "gap_free", n == 0 || n == last - first + 1)) {
                cJSON_Delete(out);
                return fail(e, RES_E_NOMEM, "out of memory");
            }
        }
    } else {
        return fail(e, RES_E_BAD_INPUT,
                    "args.q: \"%.40s\" is not one of recordings, recording, events, frames, rows, "
                    "coverage",
                    q);
    }
    if (rc)
        return from_res(e, rc, &re);
    if (!bytes)
        bytes = answer_bytes(out);
    if (bytes > DBW_MAX_ANSWER_BYTES) {
        cJSON_Delete(out);
        return fail(e, RES_E_BAD_INPUT,
                    "args: the answer to q \"%s\" is %zu bytes, above the %d a result may carry "
                    "(ask for less: limit, max_points, series or max_rows)",
                    q, bytes, DBW_MAX_ANSWER_BYTES);
    }
    *result = out;
    return RES_OK;
}
