/*
 * res_read.c - the read side of libresults for the query service: recordings with summaries
 * (paginated), events, raw frame rows, frame coverage, and frames downsampled for plotting.
 *
 * Each read runs in one read transaction (a consistent snapshot: the total count and the page
 * come from the same state). Results are built as cJSON owned by the caller.
 *
 * Downsampling (res_get_frames) works on the rows in frame order:
 *  - numeric series: if the rows fit in max_points every row is a point; else the rows are cut
 *    into B = max_points / 2 buckets of (nearly) equal row count and each bucket gives its
 *    minimum and maximum (in frame order; one point when they are the same row). A bucket with
 *    no value gives one null point (only the first of a run), so gaps stay visible. Hence at
 *    most 2B <= max_points points, and every global extreme is kept.
 *  - discrete series (state, fcw, collision): the first row and every row whose value differs
 *    from the previous row (NULL is a value). Never downsampled.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "res_internal.h"

static const int rec_types[18] = {RV_TEXT, RV_TEXT, RV_TEXT, RV_INT,  RV_REAL, RV_REAL,
                                  RV_TEXT, RV_TEXT, RV_TEXT, RV_INT,  RV_REAL, RV_REAL,
                                  RV_TEXT, RV_INT,  RV_REAL, RV_REAL, RV_REAL, RV_TEXT};

#define REC_SELECT                                                                                 \
    "SELECT r.id, r.path, r.sha256, r.frames, r.t_start, r.t_end, r.status, r.created_at, "        \
    "s.recording_id, s.frames, s.min_ttc, s.t_min_ttc, s.max_stage, s.collision, "                 \
    "s.impact_speed_kmh, s.first_fcw_t, s.first_brake_t, s.params FROM recordings r "              \
    "LEFT JOIN aeb_summary s ON s.recording_id = r.id "

static cJSON *j_val(const res_val *v)
{
    switch (v->type) {
    case RV_INT:
        return cJSON_CreateNumber((double)v->i);
    case RV_REAL:
        return isfinite(v->d) ? cJSON_CreateNumber(v->d) : cJSON_CreateNull();
    case RV_TEXT:
        return cJSON_CreateString(v->s);
    default:
        return cJSON_CreateNull();
    }
}

/* Adds v under name; false on allocation failure. */
static bool j_add(cJSON *obj, const char *name, cJSON *v)
{
    if (!v)
        return false;
    cJSON_AddItemToObject(obj, name, v);
    return true;
}

static bool j_push(cJSON *arr, cJSON *v)
{
    if (!v)
        return false;
    cJSON_AddItemToArray(arr, v);
    return true;
}

static int nomem(res_err *err)
{
    return res_err_set(err, RES_E_NOMEM, "out of memory building the JSON result");
}

static cJSON *rec_json(const res_val *c)
{
    static const char *const rn[8] = {"id",      "path",  "sha256", "frames",
                                      "t_start", "t_end", "status", "created_at"};
    static const char *const sn[9] = {"frames",      "min_ttc",       "t_min_ttc",
                                      "max_stage",   "collision",     "impact_speed_kmh",
                                      "first_fcw_t", "first_brake_t", NULL};
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    for (int i = 0; i < 8; i++)
        if (!j_add(o, rn[i], j_val(&c[i])))
            goto fail;
    if (c[8].type == RV_NULL) {
        if (!j_add(o, "summary", cJSON_CreateNull()))
            goto fail;
        return o;
    }
    cJSON *s = cJSON_CreateObject();
    if (!j_add(o, "summary", s))
        goto fail;
    for (int i = 0; sn[i]; i++) {
        cJSON *v = j_val(&c[9 + i]);
        if (i == 4 && c[13].type == RV_INT) { /* collision as a JSON boolean */
            cJSON_Delete(v);
            v = cJSON_CreateBool(c[13].i != 0);
        }
        if (!j_add(s, sn[i], v))
            goto fail;
    }
    cJSON *params = NULL;
    if (c[17].type == RV_TEXT) {
        params = cJSON_ParseWithLengthOpts(c[17].s, strlen(c[17].s), NULL, false);
        if (!params) /* written by someone else and not JSON: keep it as text */
            params = cJSON_CreateString(c[17].s);
    } else {
        params = cJSON_CreateNull();
    }
    if (!j_add(s, "params", params))
        goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

/* A recording id as asked and as resolved: an alias (res_write_alias, e.g. the id of the root
 * job that read the recording) names its recording; any other id names itself. */
typedef struct res_rid {
    const char *asked;
    const char *id;
    char buf[260];
} res_rid;

static int alias_row(void *ctx, const res_val *c, int n, res_err *err)
{
    res_rid *r = ctx;
    if (c[0].type == RV_TEXT) {
        snprintf(r->buf, sizeof r->buf, "%s", c[0].s);
        r->id = r->buf;
    }
    return RES_OK;
}

/* Runs inside the read transaction, so the answer and the rows come from one snapshot. */
static int resolve(res_db *db, res_rid *r, res_err *err)
{
    static const int t_text[] = {RV_TEXT};
    r->id = r->asked;
    res_val p[1] = {{.type = RV_TEXT, .s = r->asked}};
    return db->ops->query(db, "SELECT recording_id FROM recording_aliases WHERE alias = $1", p, 1,
                          t_text, 1, alias_row, r, err);
}

/* ------------------------------------------------------------------ list / get recording */

struct list_ctx {
    cJSON *arr;
    int64_t total;
    int64_t offset, limit;
    res_rid rid;
};

static int count_row(void *ctx, const res_val *c, int n, res_err *err)
{
    ((struct list_ctx *)ctx)->total = c[0].type == RV_INT ? c[0].i : 0;
    return RES_OK;
}

static int rec_row(void *ctx, const res_val *c, int n, res_err *err)
{
    struct list_ctx *l = ctx;
    if (!j_push(l->arr, rec_json(c)))
        return nomem(err);
    return RES_OK;
}

/* A retried transaction runs its body again: results start from an empty array. */
static void clear_array(cJSON *arr)
{
    while (arr->child)
        cJSON_DeleteItemFromArray(arr, 0);
}

static int list_body(res_db *db, void *arg, res_err *err)
{
    struct list_ctx *l = arg;
    clear_array(l->arr);
    static const int t_int[] = {RV_INT};
    int rc =
        db->ops->query(db, "SELECT COUNT(*) FROM recordings", NULL, 0, t_int, 1, count_row, l, err);
    if (rc)
        return rc;
    res_val p[2] = {{.type = RV_INT, .i = l->limit}, {.type = RV_INT, .i = l->offset}};
    return db->ops->query(db, REC_SELECT "ORDER BY r.created_at DESC, r.id LIMIT $1 OFFSET $2", p,
                          2, rec_types, 18, rec_row, l, err);
}

int res_list_recordings(res_db *db, int64_t offset, int64_t limit, cJSON **out, res_err *err)
{
    if (!out)
        return res_err_set(err, RES_E_BAD_INPUT, "res_list_recordings: out is NULL");
    *out = NULL;
    if (!db)
        return res_err_set(err, RES_E_BAD_INPUT, "res_list_recordings: db is NULL");
    if (offset < 0)
        return res_err_set(err, RES_E_BAD_INPUT, "offset: %lld, expected >= 0", (long long)offset);
    if (limit < 1 || limit > 1000)
        return res_err_set(err, RES_E_BAD_INPUT, "limit: %lld, expected 1..1000", (long long)limit);
    struct list_ctx l = {.arr = cJSON_CreateArray(), .offset = offset, .limit = limit};
    if (!l.arr)
        return nomem(err);
    int rc = res_run_tx(db, RES_TX_READ, list_body, &l, err);
    if (rc) {
        cJSON_Delete(l.arr);
        return rc;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o || !j_add(o, "total", cJSON_CreateNumber((double)l.total)) ||
        !j_add(o, "offset", cJSON_CreateNumber((double)offset)) ||
        !j_add(o, "limit", cJSON_CreateNumber((double)limit))) {
        cJSON_Delete(o);
        cJSON_Delete(l.arr);
        return nomem(err);
    }
    cJSON_AddItemToObject(o, "recordings", l.arr);
    *out = o;
    return RES_OK;
}

static int get_body(res_db *db, void *arg, res_err *err)
{
    struct list_ctx *l = arg;
    clear_array(l->arr);
    int rc = resolve(db, &l->rid, err);
    if (rc)
        return rc;
    res_val p[1] = {{.type = RV_TEXT, .s = l->rid.id}};
    return db->ops->query(db, REC_SELECT "WHERE r.id = $1", p, 1, rec_types, 18, rec_row, l, err);
}

int res_get_recording(res_db *db, const char *recording_id, cJSON **out, res_err *err)
{
    if (!out)
        return res_err_set(err, RES_E_BAD_INPUT, "res_get_recording: out is NULL");
    *out = NULL;
    if (!db)
        return res_err_set(err, RES_E_BAD_INPUT, "res_get_recording: db is NULL");
    int rc = res_check_id("recording_id", recording_id, err);
    if (rc)
        return rc;
    struct list_ctx l = {.arr = cJSON_CreateArray(), .rid = {.asked = recording_id}};
    if (!l.arr)
        return nomem(err);
    rc = res_run_tx(db, RES_TX_READ, get_body, &l, err);
    if (rc == RES_OK && cJSON_GetArraySize(l.arr) == 0)
        rc = res_err_set(err, RES_E_NOT_FOUND, "recording \"%.80s\" not found", recording_id);
    if (rc == RES_OK)
        *out = cJSON_DetachItemFromArray(l.arr, 0);
    cJSON_Delete(l.arr);
    return rc;
}

/* ------------------------------------------------------------------ events */

static int event_row(void *ctx, const res_val *c, int n, res_err *err)
{
    static const char *const names[9] = {
        "seq", "t", "kind", "ttc", "ego_v", "range", "rel_v", "stage", "impact_speed_kmh"};
    cJSON *e = cJSON_CreateObject();
    if (!j_push(ctx, e))
        return nomem(err);
    for (int i = 0; i < 9; i++)
        if (!j_add(e, names[i], j_val(&c[i])))
            return nomem(err);
    return RES_OK;
}

struct id_arr {
    res_rid rid;
    cJSON *arr;
};

static int events_body(res_db *db, void *arg, res_err *err)
{
    struct id_arr *a = arg;
    clear_array(a->arr);
    int rc = resolve(db, &a->rid, err);
    if (rc)
        return rc;
    static const int types[9] = {RV_INT,  RV_REAL, RV_TEXT, RV_REAL, RV_REAL,
                                 RV_REAL, RV_REAL, RV_TEXT, RV_REAL};
    res_val p[1] = {{.type = RV_TEXT, .s = a->rid.id}};
    return db->ops->query(db,
                          "SELECT seq, t, kind, ttc, ego_v, \"range\", rel_v, stage, "
                          "impact_speed_kmh FROM aeb_events WHERE recording_id = $1 ORDER BY seq",
                          p, 1, types, 9, event_row, a->arr, err);
}

/* Runs a read whose rows are appended to a fresh array; the array is replaced on retries. */
static int read_into_array(res_db *db, res_tx_body body, struct id_arr *a, res_err *err)
{
    a->arr = cJSON_CreateArray();
    if (!a->arr)
        return nomem(err);
    int rc = res_run_tx(db, RES_TX_READ, body, a, err);
    if (rc) {
        cJSON_Delete(a->arr);
        a->arr = NULL;
    }
    return rc;
}

int res_get_events(res_db *db, const char *recording_id, cJSON **out, res_err *err)
{
    if (!out)
        return res_err_set(err, RES_E_BAD_INPUT, "res_get_events: out is NULL");
    *out = NULL;
    if (!db)
        return res_err_set(err, RES_E_BAD_INPUT, "res_get_events: db is NULL");
    int rc = res_check_id("recording_id", recording_id, err);
    if (rc)
        return rc;
    struct id_arr a = {.rid = {.asked = recording_id}};
    if ((rc = read_into_array(db, events_body, &a, err)))
        return rc;
    cJSON *o = cJSON_CreateObject();
    if (!o || !j_add(o, "recording_id", cJSON_CreateString(a.rid.id))) {
        cJSON_Delete(o);
        cJSON_Delete(a.arr);
        return nomem(err);
    }
    cJSON_AddItemToObject(o, "events", a.arr);
    *out = o;
    return RES_OK;
}

/* ------------------------------------------------------------------ frames */

enum { F_FRAME, F_T, F_EGO_V, F_RANGE, F_REL_V, F_TTC, F_STATE, F_FCW, F_DECEL, F_COLL, F_NCOL };

static const int frame_types[F_NCOL] = {RV_INT,  RV_REAL, RV_REAL, RV_REAL, RV_REAL,
                                        RV_REAL, RV_TEXT, RV_INT,  RV_REAL, RV_INT};
static const char *const frame_names[F_NCOL] = {"frame", "t",     "ego_v", "range", "rel_v",
                                                "ttc",   "state", "fcw",   "decel", "collision"};

#define FRAME_COLS_SQL                                                                             \
    "SELECT frame, t, ego_v, \"range\", rel_v, ttc, state, fcw, decel, collision FROM aeb_frames "

/* The same column layout with only one series read (the others as NULL constants), for the
 * common plot request of one series: far less to transfer and convert on large recordings.
 * Index: series (ego_v range rel_v ttc decel state fcw collision) x (all rows, time window). */
#define SEL1(e, r, v, c, s, f, d, k)                                                               \
    "SELECT frame, t, " e ", " r ", " v ", " c ", " s ", " f ", " d ", " k " FROM aeb_frames "
#define W_ALL   "WHERE recording_id = $1 ORDER BY frame"
#define W_RANGE "WHERE recording_id = $1 AND t >= $2 AND t <= $3 ORDER BY frame"
#define NUL     "NULL"
static const char *const one_series_sql[8][2] = {
    {SEL1("ego_v", NUL, NUL, NUL, NUL, NUL, NUL, NUL) W_ALL,
     SEL1("ego_v", NUL, NUL, NUL, NUL, NUL, NUL, NUL) W_RANGE},
    {SEL1(NUL, "\"range\"", NUL, NUL, NUL, NUL, NUL, NUL) W_ALL,
     SEL1(NUL, "\"range\"", NUL, NUL, NUL, NUL, NUL, NUL) W_RANGE},
    {SEL1(NUL, NUL, "rel_v", NUL, NUL, NUL, NUL, NUL) W_ALL,
     SEL1(NUL, NUL, "rel_v", NUL, NUL, NUL, NUL, NUL) W_RANGE},
    {SEL1(NUL, NUL, NUL, "ttc", NUL, NUL, NUL, NUL) W_ALL,
     SEL1(NUL, NUL, NUL, "ttc", NUL, NUL, NUL, NUL) W_RANGE},
    {SEL1(NUL, NUL, NUL, NUL, NUL, NUL, "decel", NUL) W_ALL,
     SEL1(NUL, NUL, NUL, NUL, NUL, NUL, "decel", NUL) W_RANGE},
    {SEL1(NUL, NUL, NUL, NUL, "state", NUL, NUL, NUL) W_ALL,
     SEL1(NUL, NUL, NUL, NUL, "state", NUL, NUL, NUL) W_RANGE},
    {SEL1(NUL, NUL, NUL, NUL, NUL, "fcw", NUL, NUL) W_ALL,
     SEL1(NUL, NUL, NUL, NUL, NUL, "fcw", NUL, NUL) W_RANGE},
    {SEL1(NUL, NUL, NUL, NUL, NUL, NUL, NUL, "collision") W_ALL,
     SEL1(NUL, NUL, NUL, NUL, NUL, NUL, NUL, "collision") W_RANGE},
};

/* Series names in output order; bit k of a series mask = series_names[k]. */
static const char *const series_names[8] = {"ego_v", "range", "rel_v", "ttc",
                                            "decel", "state", "fcw",   "collision"};
#define ALL_SERIES 0xffu

/* The frame rows in memory, column by column. NULL: NaN for doubles, -1 for ints/state. */
typedef struct fcols {
    size_t n, cap;
    int64_t *frame;
    double *d[5]; /* t ego_v range rel_v ttc, then decel in dd */
    double *decel;
    int8_t *state; /* index into res_states, -1 NULL, 5 = unknown text */
    int8_t *fcw, *coll;
} fcols;

static void fcols_free(fcols *f)
{
    free(f->frame);
    for (int i = 0; i < 5; i++)
        free(f->d[i]);
    free(f->decel);
    free(f->state);
    free(f->fcw);
    free(f->coll);
    memset(f, 0, sizeof *f);
}

static bool grow(void **p, size_t elem, size_t cap)
{
    void *q = realloc(*p, elem * cap);
    if (!q)
        return false;
    *p = q;
    return true;
}

static int frame_row(void *ctx, const res_val *c, int n, res_err *err)
{
    fcols *f = ctx;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 1024;
        bool ok = grow((void **)&f->frame, sizeof(int64_t), cap) &&
                  grow((void **)&f->decel, sizeof(double), cap) &&
                  grow((void **)&f->state, 1, cap) && grow((void **)&f->fcw, 1, cap) &&
                  grow((void **)&f->coll, 1, cap);
        for (int i = 0; ok && i < 5; i++)
            ok = grow((void **)&f->d[i], sizeof(double), cap);
        if (!ok)
            return nomem(err);
        f->cap = cap;
    }
    size_t i = f->n++;
    f->frame[i] = c[F_FRAME].i;
    for (int k = 0; k < 5; k++)
        f->d[k][i] = c[F_T + k].type == RV_NULL ? NAN : c[F_T + k].d;
    f->decel[i] = c[F_DECEL].type == RV_NULL ? NAN : c[F_DECEL].d;
    if (c[F_STATE].type == RV_NULL) {
        f->state[i] = -1;
    } else {
        int s = res_state_index(c[F_STATE].s);
        f->state[i] = (int8_t)(s < 0 ? 5 : s);
    }
    f->fcw[i] = c[F_FCW].type == RV_NULL ? -1 : (int8_t)(c[F_FCW].i != 0);
    f->coll[i] = c[F_COLL].type == RV_NULL ? -1 : (int8_t)(c[F_COLL].i != 0);
    return RES_OK;
}

struct frames_q {
    res_rid rid;
    double t_from, t_to;
    int64_t first, max_rows;
    unsigned mask; /* series to read (ALL_SERIES or 0 = every column) */
    fcols *f;
};

/* The index of the only series in mask, or -1 if it has several. */
static int single_series(unsigned mask)
{
    for (int k = 0; k < 8; k++)
        if (mask == 1u << k)
            return k;
    return -1;
}

static int frames_body(res_db *db, void *arg, res_err *err)
{
    struct frames_q *q = arg;
    fcols_free(q->f); /* a retried transaction starts from scratch */
    int rc = resolve(db, &q->rid, err);
    if (rc)
        return rc;
    if (q->max_rows > 0) {
        res_val p[3] = {{.type = RV_TEXT, .s = q->rid.id},
                        {.type = RV_INT, .i = q->first},
                        {.type = RV_INT, .i = q->max_rows}};
        return db->ops->query(
            db, FRAME_COLS_SQL "WHERE recording_id = $1 AND frame >= $2 ORDER BY frame LIMIT $3", p,
            3, frame_types, F_NCOL, frame_row, q->f, err);
    }
    int one = single_series(q->mask);
    if (isnan(q->t_from) && isnan(q->t_to)) {
        res_val p[1] = {{.type = RV_TEXT, .s = q->rid.id}};
        return db->ops->query(db, one >= 0 ? one_series_sql[one][0] : FRAME_COLS_SQL W_ALL, p, 1,
                              frame_types, F_NCOL, frame_row, q->f, err);
    }
    res_val p[3] = {{.type = RV_TEXT, .s = q->rid.id},
                    {.type = RV_REAL, .d = isnan(q->t_from) ? -1e308 : q->t_from},
                    {.type = RV_REAL, .d = isnan(q->t_to) ? 1e308 : q->t_to}};
    return db->ops->query(db, one >= 0 ? one_series_sql[one][1] : FRAME_COLS_SQL W_RANGE, p, 3,
                          frame_types, F_NCOL, frame_row, q->f, err);
}

static cJSON *num_or_null(double v)
{
    return isnan(v) ? cJSON_CreateNull() : cJSON_CreateNumber(v);
}

/* A series object {"frame":[],"t":[],"v":[]} with its three arrays. */
typedef struct plot_series {
    cJSON *obj, *frame, *t, *v;
} plot_series;

static bool series_new(cJSON *parent, const char *name, plot_series *s)
{
    s->obj = cJSON_CreateObject();
    if (!j_add(parent, name, s->obj))
        return false;
    s->frame = cJSON_CreateArray();
    s->t = cJSON_CreateArray();
    s->v = cJSON_CreateArray();
    return j_add(s->obj, "frame", s->frame) && j_add(s->obj, "t", s->t) && j_add(s->obj, "v", s->v);
}

static bool series_point(plot_series *s, const fcols *f, size_t i, cJSON *v)
{
    return j_push(s->frame, cJSON_CreateNumber((double)f->frame[i])) &&
           j_push(s->t, num_or_null(f->d[0][i])) && j_push(s->v, v);
}

static bool numeric_series(cJSON *parent, const char *name, const fcols *f, const double *col,
                           size_t max_points)
{
    plot_series s;
    if (!series_new(parent, name, &s))
        return false;
    if (f->n <= max_points) {
        for (size_t i = 0; i < f->n; i++)
            if (!series_point(&s, f, i, num_or_null(col[i])))
                return false;
        return true;
    }
    size_t buckets = max_points / 2;
    bool last_null = false;
    for (size_t b = 0; b < buckets; b++) {
        size_t lo = b * f->n / buckets, hi = (b + 1) * f->n / buckets;
        size_t imin = SIZE_MAX, imax = SIZE_MAX;
        for (size_t i = lo; i < hi; i++) {
            if (isnan(col[i]))
                continue;
            if (imin == SIZE_MAX || col[i] < col[imin])
                imin = i;
            if (imax == SIZE_MAX || col[i] > col[imax])
                imax = i;
        }
        if (imin == SIZE_MAX) {
            if (!last_null && !series_point(&s, f, lo, cJSON_CreateNull()))
                return false;
            last_null = true;
            continue;
        }
        last_null = false;
        size_t a = imin < imax ? imin : imax, z = imin < imax ? imax : imin;
        if (!series_point(&s, f, a, cJSON_CreateNumber(col[a])))
            return false;
        if (z != a && !series_point(&s, f, z, cJSON_CreateNumber(col[z])))
            return false;
    }
    return true;
}

static cJSON *state_json(int8_t s)
{
    if (s < 0)
        return cJSON_CreateNull();
    return cJSON_CreateString(s < RES_STATES ? res_states[s] : "UNKNOWN");
}

static cJSON *flag_json(int8_t v)
{
    return v < 0 ? cJSON_CreateNull() : cJSON_CreateBool(v);
}

static bool change_series(cJSON *parent, const char *name, const fcols *f, const int8_t *col,
                          cJSON *(*mk)(int8_t))
{
    plot_series s;
    if (!series_new(parent, name, &s))
        return false;
    for (size_t i = 0; i < f->n; i++)
        if ((i == 0 || col[i] != col[i - 1]) && !series_point(&s, f, i, mk(col[i])))
            return false;
    return true;
}

static int frames_read(res_db *db, const char *fn, const char *recording_id, struct frames_q *q,
                       fcols *f, res_err *err)
{
    int rc = res_check_id("recording_id", recording_id, err);
    if (rc)
        return rc;
    q->rid.asked = recording_id;
    q->f = f;
    rc = res_run_tx(db, RES_TX_READ, frames_body, q, err);
    if (rc)
        fcols_free(f);
    return rc;
}

int res_get_frames(res_db *db, const char *recording_id, int max_points, double t_from, double t_to,
                   cJSON **out, res_err *err)
{
    return res_get_frames_series(db, recording_id, max_points, t_from, t_to, NULL, 0, out, err);
}

int res_get_frames_series(res_db *db, const char *recording_id, int max_points, double t_from,
                          double t_to, const char *const *series, size_t n_series, cJSON **out,
                          res_err *err)
{
    if (!out)
        return res_err_set(err, RES_E_BAD_INPUT, "res_get_frames: out is NULL");
    *out = NULL;
    if (!db)
        return res_err_set(err, RES_E_BAD_INPUT, "res_get_frames: db is NULL");
    if (max_points == 0)
        max_points = 1000;
    if (max_points < 4 || max_points > 1000000)
        return res_err_set(err, RES_E_BAD_INPUT, "max_points: %d, expected 4..1000000", max_points);
    if (isinf(t_from) || isinf(t_to) || (!isnan(t_from) && !isnan(t_to) && t_from > t_to))
        return res_err_set(err, RES_E_BAD_INPUT,
                           "t_from/t_to: %g..%g is not a finite range (NaN = unbounded)", t_from,
                           t_to);
    unsigned mask = n_series ? 0 : ALL_SERIES;
    if (n_series && !series)
        return res_err_set(err, RES_E_BAD_INPUT, "series: NULL with n_series %zu", n_series);
    for (size_t i = 0; i < n_series; i++) {
        int k = -1;
        for (int j = 0; series[i] && j < 8; j++)
            if (strcmp(series[i], series_names[j]) == 0)
                k = j;
        if (k < 0)
            return res_err_set(err, RES_E_BAD_INPUT,
                               "series[%zu]: \"%.40s\" is not one of ego_v range rel_v ttc decel "
                               "state fcw collision",
                               i, series[i] ? series[i] : "(null)");
        mask |= 1u << k;
    }
    fcols f = {0};
    struct frames_q q = {.t_from = t_from, .t_to = t_to, .mask = mask};
    int rc = frames_read(db, "res_get_frames", recording_id, &q, &f, err);
    if (rc)
        return rc;
    cJSON *o = cJSON_CreateObject();
    cJSON *ser = cJSON_CreateObject();
    bool ok = o && ser && j_add(o, "recording_id", cJSON_CreateString(q.rid.id)) &&
              j_add(o, "frames", cJSON_CreateNumber((double)f.n)) &&
              j_add(o, "first_frame",
                    f.n ? cJSON_CreateNumber((double)f.frame[0]) : cJSON_CreateNull()) &&
              j_add(o, "last_frame",
                    f.n ? cJSON_CreateNumber((double)f.frame[f.n - 1]) : cJSON_CreateNull()) &&
              j_add(o, "max_points", cJSON_CreateNumber(max_points));
    if (ok) {
        cJSON_AddItemToObject(o, "series", ser);
        ser = NULL;
        cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "series");
        const double *cols[5] = {f.d[1], f.d[2], f.d[3], f.d[4], f.decel};
        for (int k = 0; ok && k < 5; k++)
            if (mask & (1u << k))
                ok = numeric_series(s, series_names[k], &f, cols[k], (size_t)max_points);
        const int8_t *disc[3] = {f.state, f.fcw, f.coll};
        cJSON *(*mk[3])(int8_t) = {state_json, flag_json, flag_json};
        for (int k = 5; ok && k < 8; k++)
            if (mask & (1u << k))
                ok = change_series(s, series_names[k], &f, disc[k - 5], mk[k - 5]);
    }
    cJSON_Delete(ser);
    fcols_free(&f);
    if (!ok) {
        cJSON_Delete(o);
        return nomem(err);
    }
    *out = o;
    return RES_OK;
}

int res_get_frame_rows(res_db *db, const char *recording_id, int64_t first_frame, int64_t max_rows,
                       cJSON **out, res_err *err)
{
    if (!out)
        return res_err_set(err, RES_E_BAD_INPUT, "res_get_frame_rows: out is NULL");
    *out = NULL;
    if (!db)
        return res_err_set(err, RES_E_BAD_INPUT, "res_get_frame_rows: db is NULL");
    if (first_frame < 0)
        return res_err_set(err, RES_E_BAD_INPUT, "first_frame: %lld, expected >= 0",
                           (long long)first_frame);
    if (max_rows < 1 || max_rows > 100000)
        return res_err_set(err, RES_E_BAD_INPUT, "max_rows: %lld, expected 1..100000",
                           (long long)max_rows);
    fcols f = {0};
    struct frames_q q = {.first = first_frame, .max_rows = max_rows};
    int rc = frames_read(db, "res_get_frame_rows", recording_id, &q, &f, err);
    if (rc)
        return rc;
    cJSON *o = cJSON_CreateObject();
    bool ok = o && j_add(o, "recording_id", cJSON_CreateString(q.rid.id));
    cJSON *arr[F_NCOL] = {0};
    for (int k = 0; ok && k < F_NCOL; k++) {
        arr[k] = cJSON_CreateArray();
        ok = j_add(o, frame_names[k], arr[k]);
    }
    for (size_t i = 0; ok && i < f.n; i++) {
        ok = j_push(arr[F_FRAME], cJSON_CreateNumber((double)f.frame[i])) &&
             j_push(arr[F_T], num_or_null(f.d[0][i])) &&
             j_push(arr[F_EGO_V], num_or_null(f.d[1][i])) &&
             j_push(arr[F_RANGE], num_or_null(f.d[2][i])) &&
             j_push(arr[F_REL_V], num_or_null(f.d[3][i])) &&
             j_push(arr[F_TTC], num_or_null(f.d[4][i])) &&
             j_push(arr[F_STATE], state_json(f.state[i])) &&
             j_push(arr[F_FCW], flag_json(f.fcw[i])) &&
             j_push(arr[F_DECEL], num_or_null(f.decel[i])) &&
             j_push(arr[F_COLL], flag_json(f.coll[i]));
    }
    fcols_free(&f);
    if (!ok) {
        cJSON_Delete(o);
        return nomem(err);
    }
    *out = o;
    return RES_OK;
}

struct cov {
    res_rid rid;
    int64_t count, first, last;
};

static int cov_row(void *ctx, const res_val *c, int n, res_err *err)
{
    struct cov *v = ctx;
    v->count = c[0].type == RV_INT ? c[0].i : 0;
    v->first = c[1].type == RV_INT ? c[1].i : -1;
    v->last = c[2].type == RV_INT ? c[2].i : -1;
    return RES_OK;
}

static int cov_body(res_db *db, void *arg, res_err *err)
{
    struct cov *v = arg;
    int rc = resolve(db, &v->rid, err);
    if (rc)
        return rc;
    static const int types[3] = {RV_INT, RV_INT, RV_INT};
    res_val p[1] = {{.type = RV_TEXT, .s = v->rid.id}};
    return db->ops->query(db,
                          "SELECT COUNT(*), MIN(frame), MAX(frame) FROM aeb_frames "
                          "WHERE recording_id = $1",
                          p, 1, types, 3, cov_row, v, err);
}

int res_frames_coverage(res_db *db, const char *recording_id, int64_t *count, int64_t *first,
                        int64_t *last, res_err *err)
{
    if (!db || !count || !first || !last)
        return res_err_set(err, RES_E_BAD_INPUT, "res_frames_coverage: NULL argument");
    int rc = res_check_id("recording_id", recording_id, err);
    if (rc)
        return rc;
    struct cov v = {.rid = {.asked = recording_id}, .first = -1, .last = -1};
    rc = res_run_tx(db, RES_TX_READ, cov_body, &v, err);
    *count = rc ? 0 : v.count;
    *first = rc ? -1 : v.first;
    *last = rc ? -1 : v.last;
    return rc;
}
