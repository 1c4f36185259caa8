/*
 * aebsvc.c - one batch of the aeb service (see aebsvc.h): decode the columns, convert units
 * to SI, continue the recording's AEB state machine from the key state, and build the frames
 * output (same encoding as the input), the events output, the next state and the result.
 *
 * Invariants: the outputs are a pure function of (params, key state, batch), so a batch that
 * is redelivered or handled by another instance produces identical outputs, and any split of a
 * recording into batches gives the outputs of one uninterrupted run (libaeb's state JSON is
 * exact). Nothing is emitted for a batch that fails validation.
 */
#include "aebsvc.h"

#include "wsm_frame.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS 1000000

static int fail(aebsvc_error *e, const char *type, bool retry, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(aebsvc_error *e, const char *type, bool retry, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    snprintf(e->type, sizeof e->type, "%s", type);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->retry = retry;
    return -1;
}

/* ------------------------------------------------------------------ units */

typedef struct unit_def {
    const char *name;
    double factor;
} unit_def;

static const unit_def time_units[] = {{"s", 1.0}, {"ms", 1e-3}, {NULL, 0}};
static const unit_def speed_units[] = {{"m/s", 1.0},       {"km/h", 1.0 / 3.6}, {"kph", 1.0 / 3.6},
                                       {"kmh", 1.0 / 3.6}, {"mph", 0.44704},    {NULL, 0}};
static const unit_def range_units[] = {{"m", 1.0}, {"ft", 0.3048}, {NULL, 0}};
static const unit_def accel_units[] = {
    {"m/s^2", 1.0}, {"m/s\xc2\xb2", 1.0}, {"m/s2", 1.0},     {"m/s/s", 1.0},
    {"g", 9.80665}, {"ft/s^2", 0.3048},   {"ft/s2", 0.3048}, {NULL, 0}};

static const unit_def *units_of(const char *field)
{
    if (strcmp(field, "t") == 0)
        return time_units;
    if (strcmp(field, "ego_v") == 0 || strcmp(field, "rel_v") == 0)
        return speed_units;
    if (strcmp(field, "range") == 0)
        return range_units;
    if (strcmp(field, "ego_a") == 0 || strcmp(field, "lead_a") == 0)
        return accel_units;
    return NULL;
}

double aebsvc_unit_factor(const char *field, const char *unit)
{
    const unit_def *u = units_of(field);
    if (!u)
        return 0;
    if (!unit || !unit[0])
        return 1.0;
    for (; u->name; u++)
        if (strcmp(u->name, unit) == 0)
            return u->factor;
    return 0;
}

static void unit_list(const char *field, char *buf, size_t n)
{
    buf[0] = 0;
    size_t off = 0;
    for (const unit_def *u = units_of(field); u && u->name && off < n; u++)
        off += (size_t)snprintf(buf + off, n - off, "%s%s", off ? ", " : "", u->name);
}

/* One input field: its column (or NULL), values converted to SI (NaN = null). */
typedef struct field {
    const char *name;
    bool required;
    const wsm_col *col;
    double *v; /* rows values, SI, NaN for null */
} field;

enum { F_T, F_EGO_V, F_RANGE, F_REL_V, F_EGO_A, F_LEAD_A, N_FIELDS };

static int load_field(const wsm_columns *b, const cJSON *args, field *f, aebsvc_error *e)
{
    f->col = wsm_columns_find(b, f->name);
    if (!f->col) {
        if (f->required)
            return fail(e, "BAD_FIELD", false, "payload: column \"%s\" is required", f->name);
        return 0;
    }
    if (f->col->enum_names)
        return fail(e, "BAD_FIELD", false, "payload: column \"%s\" must be numeric, not an enum",
                    f->name);
    const char *unit = f->col->unit;
    if (!unit || !unit[0]) {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(args, "units"), f->name);
        if (u && !cJSON_IsString(u))
            return fail(e, "BAD_FIELD", false, "args.units.%s: expected a string", f->name);
        unit = u ? u->valuestring : NULL;
    }
    double k = aebsvc_unit_factor(f->name, unit);
    if (k == 0) {
        char list[160];
        unit_list(f->name, list, sizeof list);
        return fail(e, "BAD_FIELD", false, "column \"%s\": unknown unit \"%.40s\" (expected %s)",
                    f->name, unit, list);
    }
    f->v = malloc((b->rows ? b->rows : 1) * sizeof(double));
    if (!f->v)
        return fail(e, "NOMEM", true, "out of memory");
    wsm_col_to_f64(f->col, b->rows, f->v); /* invalid rows are NaN */
    if (k != 1.0)
        for (size_t i = 0; i < b->rows; i++)
            f->v[i] *= k;
    return 0;
}

/* ------------------------------------------------------------------ output columns */

enum {
    O_T,
    O_EGO_V,
    O_RANGE,
    O_REL_V,
    O_TTC,
    O_STATE,
    O_FCW,
    O_BRAKE,
    O_STATUS,
    O_DECEL,
    O_COLLISION,
    O_T_FCW,
    O_T_PB1,
    O_T_PB2,
    O_T_FB,
    O_ETTC,
    O_INPUT_ERROR,
    O_T_NOT_INC,
    N_OUT
};

static const char *const stage_names[AEB_STAGE_COUNT] = {"NONE", "FCW", "PB1", "PB2", "FB"};

typedef struct outcols {
    double *d[N_OUT];   /* f64 columns */
    uint8_t *u[N_OUT];  /* u8 / bool columns */
    uint8_t *bm[N_OUT]; /* validity of nullable f64 columns */
} outcols;

static bool is_u8(int c)
{
    return c == O_STATE || c == O_FCW || c == O_BRAKE || c == O_STATUS || c == O_COLLISION ||
           c == O_INPUT_ERROR || c == O_T_NOT_INC;
}

static bool nullable(int c)
{
    return !is_u8(c) && c != O_DECEL;
}

static void outcols_free(outcols *o)
{
    for (int c = 0; c < N_OUT; c++) {
        free(o->d[c]);
        free(o->u[c]);
        free(o->bm[c]);
    }
}

static int outcols_alloc(outcols *o, size_t rows)
{
    memset(o, 0, sizeof *o);
    size_t n = rows ? rows : 1, nb = rows / 8 + 1;
    for (int c = 0; c < N_OUT; c++) {
        if (is_u8(c)) {
            if (!(o->u[c] = calloc(n, 1)))
                return -1;
        } else {
            if (!(o->d[c] = calloc(n, sizeof(double))))
                return -1;
            if (nullable(c) && !(o->bm[c] = calloc(nb, 1)))
                return -1;
        }
    }
    return 0;
}

static void put(outcols *o, int c, size_t r, double v)
{
    o->d[c][r] = isfinite(v) ? v : 0.0;
    if (o->bm[c] && isfinite(v))
        o->bm[c][r >> 3] |= (uint8_t)(1u << (r & 7));
}

static void describe(const outcols *o, wsm_col cols[N_OUT])
{
    static const char *const names[N_OUT] = {
        "t",     "ego_v",       "range",      "rel_v", "ttc",         "state",
        "fcw",   "brake_stage", "aeb_status", "decel", "collision",   "t_fcw",
        "t_pb1", "t_pb2",       "t_fb",       "ettc",  "input_error", "t_not_increasing"};
    static const char *const units[N_OUT] = {"s",  "m/s", "m",  "m/s",   "s",  NULL,
                                             NULL, NULL,  NULL, "m/s^2", NULL, "s",
                                             "s",  "s",   "s",  "s",     NULL, NULL};
    for (int c = 0; c < N_OUT; c++) {
        wsm_col *d = &cols[c];
        memset(d, 0, sizeof *d);
        d->name = names[c];
        d->unit = units[c];
        if (is_u8(c)) {
            bool boolean = c == O_FCW || c == O_COLLISION || c == O_INPUT_ERROR || c == O_T_NOT_INC;
            d->type = boolean ? WSM_COL_BOOL : WSM_COL_U8;
            d->values = o->u[c];
            if (c == O_STATE || c == O_BRAKE) {
                d->enum_names = stage_names;
                d->n_enum = AEB_STAGE_COUNT;
            }
        } else {
            d->type = WSM_COL_F64;
            d->values = o->d[c];
            d->nullable = nullable(c);
            d->validity = o->bm[c];
        }
    }
}

/* ------------------------------------------------------------------ the batch */

void aebsvc_out_free(aebsvc_out *out)
{
    if (!out)
        return;
    cJSON_Delete(out->frames_meta);
    cJSON_Delete(out->frames_args);
    cJSON_Delete(out->events_args);
    cJSON_Delete(out->state);
    cJSON_Delete(out->result);
    wsm_buf_free(&out->frames_payload);
    memset(out, 0, sizeof *out);
}

/* A JSON batch without payload_meta (protocol §8 asks for one, but be liberal): every member
 * of the payload object is an array of numbers or nulls -> an f64 nullable column; rows = the
 * length of "t". The decoder then checks everything as usual. */
static int infer_meta(const void *payload, size_t len, cJSON **out, aebsvc_error *e)
{
    *out = NULL;
    cJSON *root = payload && len ? cJSON_ParseWithLength(payload, len) : NULL;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail(e, "BAD_FIELD", false,
                    "payload_meta: required (the column descriptors), or a JSON payload object "
                    "of column arrays");
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "t");
    cJSON *meta = cJSON_CreateObject(), *cols = NULL;
    bool ok = meta && cJSON_IsArray(t) &&
              cJSON_AddNumberToObject(meta, "rows", cJSON_GetArraySize(t)) &&
              (cols = cJSON_AddArrayToObject(meta, "columns")) != NULL;
    const cJSON *m;
    cJSON_ArrayForEach(m, root)
    {
        if (!ok)
            break;
        cJSON *d = cJSON_CreateObject();
        ok = d && cJSON_AddItemToArray(cols, d) && m->string &&
             cJSON_AddStringToObject(d, "name", m->string) &&
             cJSON_AddStringToObject(d, "type", "f64") && cJSON_AddBoolToObject(d, "nullable", 1);
    }
    cJSON_Delete(root);
    if (!ok) {
        cJSON_Delete(meta);
        return fail(e, "BAD_FIELD", false,
                    "payload_meta: missing, and the JSON payload has no array \"t\" to infer it "
                    "from");
    }
    *out = meta;
    return 0;
}

static int read_args(const aebsvc_in *in, aebsvc_out *out, int64_t *first_frame, bool *last,
                     aebsvc_error *e)
{
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(in->args, "recording_id");
    const char *id = NULL;
    if (rid && !cJSON_IsNull(rid)) {
        if (!cJSON_IsString(rid) || !rid->valuestring[0])
            return fail(e, "BAD_FIELD", false, "args.recording_id: expected a non-empty string");
        id = rid->valuestring;
    } else {
        id = in->key;
    }
    if (!id || !id[0])
        return fail(e, "BAD_FIELD", false,
                    "args.recording_id: required when the job has no ordering key");
    if (strlen(id) >= sizeof out->recording_id)
        return fail(e, "BAD_FIELD", false, "args.recording_id: longer than %zu bytes",
                    sizeof out->recording_id - 1);
    snprintf(out->recording_id, sizeof out->recording_id, "%s", id);
    wsm_err we;
    bool lst = false;
    if (wsm_json_int(in->args, "args", "first_frame", false, 0, INT64_C(1) << 52, first_frame,
                     &we) < 0 ||
        wsm_json_bool(in->args, "args", "last", false, &lst, &we) < 0)
        return fail(e, "BAD_FIELD", false, "%s", we.msg);
    *last = lst;
    return 0;
}

int aebsvc_process(const aeb_params *p, const aebsvc_in *in, aebsvc_out *out, aebsvc_error *e)
{
    memset(out, 0, sizeof *out);
    int64_t first_frame = -1;
    bool last = false;
    if (read_args(in, out, &first_frame, &last, e) < 0)
        return -1;

    /* the key state. A batch with first_frame 0 starts a new pass over the recording (AEB_SPEC
     * §3.3 rule 4: a new stream starts in NONE), so the state a previous ingest of the same
     * recording left under its key is not continued: re-ingesting a file is idempotent. */
    aeb_state st;
    aeb_state_init(&st);
    if (in->state && !cJSON_IsNull(in->state) && first_frame != 0) {
        aeb_err ae;
        if (aeb_state_from_json(in->state, &st, &ae) != AEB_OK)
            return fail(e, "BAD_STATE", false, "key state: %s", ae.msg);
    }
    if (first_frame >= 0 && (uint64_t)first_frame != st.frames)
        return fail(e, "BAD_STATE", false,
                    "args.first_frame is %lld but the key state has evaluated %llu frames "
                    "(batches of recording %s out of order, or its state was lost)",
                    (long long)first_frame, (unsigned long long)st.frames, out->recording_id);
    first_frame = (int64_t)st.frames;

    /* the batch */
    const char *ct = in->content_type ? in->content_type : WSM_CT_JSON;
    if (strcmp(ct, WSM_CT_COLUMNS) != 0 && strcmp(ct, WSM_CT_JSON) != 0)
        return fail(e, "BAD_FIELD", false, "content_type: \"%.60s\" is not a frame batch encoding",
                    ct);
    cJSON *inferred = NULL;
    const cJSON *meta = in->payload_meta;
    if (!meta && strcmp(ct, WSM_CT_JSON) == 0) {
        if (infer_meta(in->payload, in->len, &inferred, e) < 0)
            return -1;
        meta = inferred;
    }
    if (!meta)
        return fail(e, "BAD_FIELD", false, "payload_meta: required (the column descriptors)");
    out->content_type = strcmp(ct, WSM_CT_COLUMNS) == 0 ? WSM_CT_COLUMNS : WSM_CT_JSON;
    wsm_columns *b = NULL;
    wsm_err we;
    int rc = wsm_columns_decode(ct, meta, in->payload, in->len, MAX_ROWS, &b, &we);
    cJSON_Delete(inferred);
    if (rc != WSM_OK)
        return fail(e, rc == WSM_E_NOMEM ? "NOMEM" : wsm_code_name(rc), rc == WSM_E_NOMEM, "%s",
                    we.msg);
    size_t rows = b->rows;
    field f[N_FIELDS] = {{"t", true, NULL, NULL},      {"ego_v", true, NULL, NULL},
                         {"range", false, NULL, NULL}, {"rel_v", false, NULL, NULL},
                         {"ego_a", false, NULL, NULL}, {"lead_a", false, NULL, NULL}};
    outcols oc;
    memset(&oc, 0, sizeof oc);
    cJSON *events = NULL;
    int ret = -1;
    for (int i = 0; i < N_FIELDS; i++)
        if (load_field(b, in->args, &f[i], e) < 0)
            goto done;
    if (!f[F_RANGE].col != !f[F_REL_V].col) {
        fail(e, "BAD_FIELD", false,
             "payload: columns \"range\" and \"rel_v\" go together (one without the other "
             "cannot give a TTC)");
        goto done;
    }
    if (outcols_alloc(&oc, rows) < 0 || !(events = cJSON_CreateArray())) {
        fail(e, "NOMEM", true, "out of memory");
        goto done;
    }

    /* evaluate */
    for (size_t r = 0; r < rows; r++) {
        aeb_input x = {.t = f[F_T].v[r], .ego_v = f[F_EGO_V].v[r]};
        /* a null is "absent"; a non-finite value in a valid row goes to libaeb (rule 6) */
        if (f[F_RANGE].col && wsm_col_valid(f[F_RANGE].col, r)) {
            x.range = f[F_RANGE].v[r];
            x.has |= AEB_HAS_RANGE;
        }
        if (f[F_REL_V].col && wsm_col_valid(f[F_REL_V].col, r)) {
            x.rel_v = f[F_REL_V].v[r];
            x.has |= AEB_HAS_REL_V;
        }
        if (f[F_EGO_A].col && wsm_col_valid(f[F_EGO_A].col, r)) {
            x.ego_a = f[F_EGO_A].v[r];
            x.has |= AEB_HAS_EGO_A;
        }
        if (f[F_LEAD_A].col && wsm_col_valid(f[F_LEAD_A].col, r)) {
            x.lead_a = f[F_LEAD_A].v[r];
            x.has |= AEB_HAS_LEAD_A;
        }
        /* null t or ego_v: libaeb counts the frame as an input error */
        aeb_output o;
        aeb_step(p, &st, &x, &o);
        bool mio = (x.has & (AEB_HAS_RANGE | AEB_HAS_REL_V)) == (AEB_HAS_RANGE | AEB_HAS_REL_V) &&
                   !(o.flags & AEB_OUT_INPUT_ERROR);
        put(&oc, O_T, r, o.t);
        put(&oc, O_EGO_V, r, x.ego_v);
        put(&oc, O_RANGE, r, mio ? x.range : NAN);
        put(&oc, O_REL_V, r, mio ? x.rel_v : NAN);
        put(&oc, O_TTC, r, o.ttc);
        oc.u[O_STATE][r] = (uint8_t)o.state;
        oc.u[O_FCW][r] = o.fcw;
        oc.u[O_BRAKE][r] = (uint8_t)o.brake_stage;
        oc.u[O_STATUS][r] = (uint8_t)o.aeb_status;
        put(&oc, O_DECEL, r, o.decel);
        oc.u[O_COLLISION][r] = o.collision;
        put(&oc, O_T_FCW, r, o.t_fcw);
        put(&oc, O_T_PB1, r, o.t_pb1);
        put(&oc, O_T_PB2, r, o.t_pb2);
        put(&oc, O_T_FB, r, o.t_fb);
        put(&oc, O_ETTC, r, o.ettc);
        oc.u[O_INPUT_ERROR][r] = (o.flags & AEB_OUT_INPUT_ERROR) != 0;
        oc.u[O_T_NOT_INC][r] = (o.flags & AEB_OUT_T_NOT_INCREASING) != 0;
        for (int k = 0; k < o.n_events; k++) {
            cJSON *ev = aeb_event_to_json(&o.events[k]);
            if (!ev) {
                fail(e, "NOMEM", true, "out of memory");
                goto done;
            }
            cJSON_AddItemToArray(events, ev);
            out->n_events++;
        }
    }

    /* outputs */
    wsm_col cols[N_OUT];
    describe(&oc, cols);
    rc = wsm_columns_encode(out->content_type, cols, N_OUT, rows, &out->frames_meta,
                            &out->frames_payload, &we);
    if (rc != WSM_OK) {
        fail(e, rc == WSM_E_NOMEM ? "NOMEM" : "INTERNAL", rc == WSM_E_NOMEM, "frames: %s", we.msg);
        goto done;
    }
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(in->args, "seq");
    out->frames_args = cJSON_CreateObject();
    out->result = cJSON_CreateObject();
    out->state = aeb_state_to_json(&st);
    bool ok = out->frames_args && out->result && out->state &&
              cJSON_AddStringToObject(out->frames_args, "recording_id", out->recording_id) &&
              cJSON_AddNumberToObject(out->frames_args, "first_frame", (double)first_frame) &&
              cJSON_AddNumberToObject(out->frames_args, "rows", (double)rows) &&
              cJSON_AddBoolToObject(out->frames_args, "last", last) &&
              (!cJSON_IsNumber(seq) ||
               cJSON_AddNumberToObject(out->frames_args, "seq", seq->valuedouble)) &&
              cJSON_AddStringToObject(out->result, "recording_id", out->recording_id) &&
              cJSON_AddNumberToObject(out->result, "first_frame", (double)first_frame) &&
              cJSON_AddNumberToObject(out->result, "frames", (double)rows) &&
              cJSON_AddNumberToObject(out->result, "events", (double)out->n_events) &&
              cJSON_AddStringToObject(out->result, "stage", aeb_stage_name(st.stage)) &&
              cJSON_AddBoolToObject(out->result, "last", last);
    if (ok && last) {
        cJSON *sum = aeb_summary_to_json(&st, p);
        ok = sum && cJSON_AddStringToObject(sum, "service_version", AEBSVC_VERSION) &&
             cJSON_AddItemToObject(out->frames_args, "summary", sum);
        if (!ok) {
            cJSON_Delete(sum);
        } else {
            cJSON *copy = cJSON_Duplicate(sum, 1);
            ok = copy && cJSON_AddItemToObject(out->result, "summary", copy);
            if (!ok)
                cJSON_Delete(copy);
        }
    }
    if (ok && out->n_events) {
        out->events_args = cJSON_CreateObject();
        ok = out->events_args &&
             cJSON_AddStringToObject(out->events_args, "recording_id", out->recording_id) &&
             cJSON_AddNumberToObject(out->events_args, "first_frame", (double)first_frame) &&
             cJSON_AddItemToObject(out->events_args, "events", events);
        if (ok)
            events = NULL;
    }
    if (!ok) {
        fail(e, "NOMEM", true, "out of memory");
        goto done;
    }
    ret = 0;
done:
    if (ret != 0)
        aebsvc_out_free(out);
    cJSON_Delete(events);
    outcols_free(&oc);
    for (int i = 0; i < N_FIELDS; i++)
        free(f[i].v);
    wsm_columns_free(b);
    return ret;
}
