/*
 * aeb.c - the AEB decision logic of AEB_SPEC §3: per-frame quantities, the state machine
 * (one transition per frame, latched braking), per-frame outputs, events, the summary
 * accumulators, and the exact JSON (de)serialisation of the state and parameters.
 *
 * Invariants:
 *  - aeb_step is a pure function of (params, state, input): no globals, no clock, no I/O,
 *    so replaying the same frames from the same state gives bit-identical outputs.
 *  - Braking (PB1/PB2/FB) is left only for NONE and only at standstill (rule 3).
 *  - A frame with any non-finite input, or with only one of range/rel_v, is a "no MIO"
 *    frame (rule 6) and is counted in input_errors.
 *  - Every double of the state is finite whenever its have_* flag is set, and is written to
 *    JSON with %.17g so that strtod gives back the same bits.
 */
#include "aeb.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const stage_names[AEB_STAGE_COUNT] = {"NONE", "FCW", "PB1", "PB2", "FB"};
static const char *const event_names[AEB_EV_COUNT] = {"fcw_onset", "brake_onset", "stage_change",
                                                      "collision", "aeb_release"};

static int err_set(aeb_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int err_set(aeb_err *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        e->code = code;
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *aeb_strerror(int code)
{
    switch (code) {
    case AEB_OK:
        return "OK";
    case AEB_E_BAD_PARAM:
        return "BAD_PARAM";
    case AEB_E_BAD_STATE:
        return "BAD_STATE";
    case AEB_E_NOMEM:
        return "NOMEM";
    default:
        return "UNKNOWN";
    }
}

const char *aeb_stage_name(aeb_stage s)
{
    return ((unsigned)s < AEB_STAGE_COUNT) ? stage_names[s] : "?";
}

int aeb_stage_from_name(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < AEB_STAGE_COUNT; i++)
        if (strcmp(stage_names[i], name) == 0)
            return i;
    return -1;
}

const char *aeb_event_name(aeb_event_type e)
{
    return ((unsigned)e < AEB_EV_COUNT) ? event_names[e] : "?";
}

/* ------------------------------------------------------------------ parameters */

void aeb_params_default(aeb_params *p)
{
    p->t_react = 1.2;
    p->a_driver = 4.0;
    p->a_pb1 = 3.8;
    p->a_pb2 = 5.3;
    p->a_fb = 9.8;
    p->time_margin = 0.0;
    p->fcw_release_factor = 1.2;
    p->stop_v = 0.1;
    p->headway_offset = 0.0;
    p->relv_min = 0.01;
    p->relv_max = 100.0;
}

/* The parameter table: name, offset, minimum, whether the minimum is exclusive. */
typedef struct param_desc {
    const char *name;
    size_t off;
    double min;
    bool min_exclusive;
} param_desc;

#define PD(field, min, excl)                                                                       \
    {                                                                                              \
#field, offsetof(aeb_params, field), min, excl                                             \
    }
static const param_desc param_table[] = {
    PD(t_react, 0.0, false),
    PD(a_driver, 0.0, true),
    PD(a_pb1, 0.0, true),
    PD(a_pb2, 0.0, true),
    PD(a_fb, 0.0, true),
    PD(time_margin, 0.0, false),
    PD(fcw_release_factor, 1.0, false),
    PD(stop_v, 0.0, false),
    PD(headway_offset, -1e6, false),
    PD(relv_min, 0.0, true),
    PD(relv_max, 0.0, true),
};
#define N_PARAMS (sizeof param_table / sizeof param_table[0])

static double *param_ptr(aeb_params *p, size_t i)
{
    return (double *)((char *)p + param_table[i].off);
}

int aeb_params_check(const aeb_params *p, aeb_err *err)
{
    for (size_t i = 0; i < N_PARAMS; i++) {
        double v = *param_ptr((aeb_params *)p, i);
        const param_desc *d = &param_table[i];
        if (!isfinite(v) || v > 1e6 || (d->min_exclusive ? v <= d->min : v < d->min))
            return err_set(err, AEB_E_BAD_PARAM, "%s: expected a finite number %s %g", d->name,
                           d->min_exclusive ? ">" : ">=", d->min);
    }
    if (p->relv_max < p->relv_min)
        return err_set(err, AEB_E_BAD_PARAM, "relv_max: must be >= relv_min");
    return AEB_OK;
}

int aeb_params_from_json(const cJSON *obj, aeb_params *p, aeb_err *err)
{
    if (!obj)
        return AEB_OK;
    if (!cJSON_IsObject(obj))
        return err_set(err, AEB_E_BAD_PARAM, "params: expected an object");
    aeb_params q = *p;
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        size_t i;
        for (i = 0; i < N_PARAMS; i++)
            if (it->string && strcmp(it->string, param_table[i].name) == 0)
                break;
        if (i == N_PARAMS)
            return err_set(err, AEB_E_BAD_PARAM, "params.%s: unknown parameter",
                           it->string ? it->string : "?");
        if (!cJSON_IsNumber(it))
            return err_set(err, AEB_E_BAD_PARAM, "params.%s: expected a number", it->string);
        *param_ptr(&q, i) = it->valuedouble;
    }
    int rc = aeb_params_check(&q, err);
    if (rc == AEB_OK)
        *p = q;
    return rc;
}

/* Adds a number (null if not finite). */
static bool add_num(cJSON *o, const char *name, double v)
{
    cJSON *n = isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
    if (n && !cJSON_AddItemToObject(o, name, n)) {
        cJSON_Delete(n);
        return false;
    }
    return n != NULL;
}

static bool add_u64(cJSON *o, const char *name, uint64_t v)
{
    return cJSON_AddNumberToObject(o, name, (double)v) != NULL;
}

/* Adds a double of the state as a decimal string printed with %.17g: strtod gives back the
 * same bits, and a string survives any JSON processor that re-prints the tree (cJSON's own
 * number printer may drop the 17th digit). */
static bool add_exact(cJSON *o, const char *name, double v)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", v);
    return cJSON_AddStringToObject(o, name, buf) != NULL;
}

cJSON *aeb_params_to_json(const aeb_params *p)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    for (size_t i = 0; i < N_PARAMS; i++)
        if (!add_num(o, param_table[i].name, *param_ptr((aeb_params *)p, i))) {
            cJSON_Delete(o);
            return NULL;
        }
    return o;
}

/* ------------------------------------------------------------------ the step */

static double clamp(double x, double lo, double hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* Smallest positive root of c + b*x + a*x^2 = 0 (c = headway > 0), NaN if none. */
static double smallest_positive_root(double a, double b, double c)
{
    if (fabs(a) < 1e-12)
        return b < 0 ? -c / b : NAN;
    double disc = b * b - 4.0 * a * c;
    if (disc < 0)
        return NAN;
    double q = -0.5 * (b + copysign(sqrt(disc), b));
    double r1 = q / a, r2 = (q != 0) ? c / q : NAN;
    double best = NAN;
    if (r1 > 0)
        best = r1;
    if (r2 > 0 && (isnan(best) || r2 < best))
        best = r2;
    return best;
}

static void push_event(aeb_output *out, const aeb_state *s, aeb_event_type type, double t)
{
    aeb_event *e = &out->events[out->n_events++];
    e->type = type;
    e->frame = s->frames;
    e->t = t;
    e->from = e->to = AEB_NONE;
    e->ttc = e->range = e->ego_v = e->rel_v = e->impact_speed = NAN;
}

void aeb_step(const aeb_params *p, aeb_state *s, const aeb_input *in, aeb_output *out)
{
    bool input_error = false;
    double t = in->t, ego_v = in->ego_v;
    if (!isfinite(t)) {
        input_error = true;
        t = NAN;
    }
    if (!isfinite(ego_v)) {
        input_error = true;
        ego_v = NAN;
    }
    bool has_range = (in->has & AEB_HAS_RANGE) != 0, has_rel_v = (in->has & AEB_HAS_REL_V) != 0;
    bool mio = has_range && has_rel_v;
    if (has_range != has_rel_v)
        input_error = true;
    if ((has_range && !isfinite(in->range)) || (has_rel_v && !isfinite(in->rel_v)))
        input_error = true;
    bool has_ego_a = (in->has & AEB_HAS_EGO_A) != 0, has_lead_a = (in->has & AEB_HAS_LEAD_A) != 0;
    if ((has_ego_a && !isfinite(in->ego_a)) || (has_lead_a && !isfinite(in->lead_a)))
        input_error = true;
    if (input_error)
        mio = false; /* rule 6 */

    unsigned flags = input_error ? AEB_OUT_INPUT_ERROR : 0u;
    if (isfinite(t)) {
        if (s->have_last_t && !(t > s->last_t))
            flags |= AEB_OUT_T_NOT_INCREASING;
        s->have_last_t = true;
        s->last_t = t;
    }

    /* §3.2 per-frame quantities */
    double range = mio ? in->range : NAN, rel_v = mio ? in->rel_v : NAN;
    double headway = mio ? range - p->headway_offset : NAN;
    bool closing = mio && rel_v < 0;
    double ttc =
        (closing && headway > 0) ? headway / clamp(fabs(rel_v), p->relv_min, p->relv_max) : NAN;
    double t_fcw = p->t_react + ego_v / p->a_driver;
    double t_pb1 = ego_v / p->a_pb1 + p->time_margin;
    double t_pb2 = ego_v / p->a_pb2 + p->time_margin;
    double t_fb = ego_v / p->a_fb + p->time_margin;
    bool stop = ego_v <= p->stop_v; /* false for NaN */
#define THREAT(T) (!isnan(ttc) && ttc < (T))

    /* §3.3: at most one transition, conditions in table order */
    aeb_stage from = s->stage, to = from;
    switch (from) {
    case AEB_NONE:
        if (THREAT(t_fcw))
            to = AEB_FCW;
        break;
    case AEB_FCW:
        if (THREAT(t_pb1))
            to = AEB_PB1;
        else if (!closing || (!isnan(ttc) && ttc >= p->fcw_release_factor * t_fcw))
            to = AEB_NONE;
        break;
    case AEB_PB1:
        if (THREAT(t_pb2))
            to = AEB_PB2;
        else if (stop)
            to = AEB_NONE;
        break;
    case AEB_PB2:
        if (THREAT(t_fb))
            to = AEB_FB;
        else if (stop)
            to = AEB_NONE;
        break;
    case AEB_FB:
        if (stop)
            to = AEB_NONE;
        break;
    }
#undef THREAT
    bool collision = mio && headway <= 0;

    /* §2.2 outputs */
    out->t = t;
    out->ttc = ttc;
    out->state = to;
    out->fcw = to != AEB_NONE;
    out->brake_stage = to >= AEB_PB1 ? to : AEB_NONE;
    out->aeb_status = to >= AEB_PB1 ? (int)to - 1 : 0;
    out->decel = to == AEB_PB1 ? p->a_pb1 : to == AEB_PB2 ? p->a_pb2 : to == AEB_FB ? p->a_fb : 0;
    out->collision = collision;
    out->t_fcw = t_fcw;
    out->t_pb1 = t_pb1;
    out->t_pb2 = t_pb2;
    out->t_fb = t_fb;
    out->ettc = NAN;
    if (mio && has_lead_a && headway > 0)
        out->ettc = smallest_positive_root(0.5 * (in->lead_a - (has_ego_a ? in->ego_a : 0.0)),
                                           rel_v, headway);
    out->flags = flags;
    out->n_events = 0;

    /* §2.3 events */
    if (to != from) {
        push_event(out, s, AEB_EV_STAGE_CHANGE, t);
        out->events[out->n_events - 1].from = from;
        out->events[out->n_events - 1].to = to;
        out->events[out->n_events - 1].ttc = ttc;
    }
    if (from == AEB_NONE && to != AEB_NONE) {
        aeb_event *e = (push_event(out, s, AEB_EV_FCW_ONSET, t), &out->events[out->n_events - 1]);
        e->ttc = ttc;
        e->range = range;
        e->ego_v = ego_v;
        e->rel_v = rel_v;
    }
    if (from < AEB_PB1 && to >= AEB_PB1) {
        aeb_event *e = (push_event(out, s, AEB_EV_BRAKE_ONSET, t), &out->events[out->n_events - 1]);
        e->to = to;
        e->ttc = ttc;
        e->range = range;
        e->ego_v = ego_v;
    }
    if (from >= AEB_PB1 && to == AEB_NONE) {
        aeb_event *e = (push_event(out, s, AEB_EV_RELEASE, t), &out->events[out->n_events - 1]);
        e->range = range;
    }
    if (collision && !s->collision) {
        aeb_event *e = (push_event(out, s, AEB_EV_COLLISION, t), &out->events[out->n_events - 1]);
        e->impact_speed = -rel_v;
        e->ego_v = ego_v;
    }

    /* summary accumulators */
    for (int i = 0; i < out->n_events; i++) {
        const aeb_event *e = &out->events[i];
        s->counts[e->type]++;
        if (e->type == AEB_EV_FCW_ONSET && !s->have_first_fcw) {
            s->have_first_fcw = true;
            s->first_fcw_t = t;
        } else if (e->type == AEB_EV_BRAKE_ONSET && !s->have_first_brake) {
            s->have_first_brake = true;
            s->first_brake_t = t;
        } else if (e->type == AEB_EV_COLLISION && !s->have_first_collision) {
            s->have_first_collision = true;
            s->first_collision_t = t;
            s->first_impact_speed = e->impact_speed;
        }
    }
    if (!isnan(ttc) && (!s->have_min_ttc || ttc < s->min_ttc)) {
        s->have_min_ttc = true;
        s->min_ttc = ttc;
        s->min_ttc_t = t;
    }
    if (to > s->max_stage)
        s->max_stage = to;
    if (input_error)
        s->input_errors++;
    if (flags & AEB_OUT_T_NOT_INCREASING)
        s->t_not_increasing++;
    s->stage = to;
    s->collision = collision;
    s->frames++;
}

/* ------------------------------------------------------------------ events as JSON */

cJSON *aeb_event_to_json(const aeb_event *ev)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    bool ok = cJSON_AddStringToObject(o, "event", aeb_event_name(ev->type)) &&
              add_u64(o, "frame", ev->frame) && add_num(o, "t", ev->t);
    switch (ev->type) {
    case AEB_EV_FCW_ONSET:
        ok = ok && add_num(o, "ttc", ev->ttc) && add_num(o, "range", ev->range) &&
             add_num(o, "ego_v", ev->ego_v) && add_num(o, "rel_v", ev->rel_v);
        break;
    case AEB_EV_BRAKE_ONSET:
        ok = ok && cJSON_AddStringToObject(o, "stage", aeb_stage_name(ev->to)) &&
             add_num(o, "ttc", ev->ttc) && add_num(o, "range", ev->range) &&
             add_num(o, "ego_v", ev->ego_v);
        break;
    case AEB_EV_STAGE_CHANGE:
        ok = ok && cJSON_AddStringToObject(o, "from", aeb_stage_name(ev->from)) &&
             cJSON_AddStringToObject(o, "to", aeb_stage_name(ev->to)) && add_num(o, "ttc", ev->ttc);
        break;
    case AEB_EV_COLLISION:
        ok = ok && add_num(o, "impact_speed", ev->impact_speed) &&
             add_num(o, "impact_speed_kmh", ev->impact_speed * 3.6) &&
             add_num(o, "ego_v", ev->ego_v);
        break;
    case AEB_EV_RELEASE:
        ok = ok && add_num(o, "range", ev->range);
        break;
    default:
        break;
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ------------------------------------------------------------------ state as JSON */

void aeb_state_init(aeb_state *s)
{
    memset(s, 0, sizeof *s);
    s->stage = AEB_NONE;
    s->max_stage = AEB_NONE;
}

/* Writes an optional double: the value when have, null otherwise. */
static bool add_opt(cJSON *o, const char *name, bool have, double v)
{
    return have ? add_exact(o, name, v) : (cJSON_AddNullToObject(o, name) != NULL);
}

cJSON *aeb_state_to_json(const aeb_state *s)
{
    cJSON *o = cJSON_CreateObject(), *c = NULL;
    if (!o)
        return NULL;
    bool ok = cJSON_AddStringToObject(o, "stage", aeb_stage_name(s->stage)) &&
              cJSON_AddBoolToObject(o, "collision", s->collision) &&
              add_u64(o, "frames", s->frames) && add_opt(o, "last_t", s->have_last_t, s->last_t) &&
              add_u64(o, "input_errors", s->input_errors) &&
              add_u64(o, "t_not_increasing", s->t_not_increasing) &&
              cJSON_AddStringToObject(o, "max_stage", aeb_stage_name(s->max_stage)) &&
              add_opt(o, "min_ttc", s->have_min_ttc, s->min_ttc) &&
              add_opt(o, "min_ttc_t", s->have_min_ttc, s->min_ttc_t) &&
              add_opt(o, "first_fcw_t", s->have_first_fcw, s->first_fcw_t) &&
              add_opt(o, "first_brake_t", s->have_first_brake, s->first_brake_t) &&
              add_opt(o, "first_collision_t", s->have_first_collision, s->first_collision_t) &&
              add_opt(o, "first_impact_speed", s->have_first_collision, s->first_impact_speed) &&
              (c = cJSON_AddObjectToObject(o, "counts")) != NULL;
    for (int i = 0; ok && i < AEB_EV_COUNT; i++)
        ok = add_u64(c, event_names[i], s->counts[i]);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int get_stage(const cJSON *o, const char *name, aeb_stage *out, aeb_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    int st = cJSON_IsString(v) ? aeb_stage_from_name(v->valuestring) : -1;
    if (st < 0)
        return err_set(err, AEB_E_BAD_STATE, "state.%s: expected one of NONE FCW PB1 PB2 FB", name);
    *out = (aeb_stage)st;
    return AEB_OK;
}

static int get_u64(const cJSON *o, const char *path, const char *name, uint64_t *out, aeb_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 9007199254740992.0 ||
        v->valuedouble != floor(v->valuedouble))
        return err_set(err, AEB_E_BAD_STATE, "%s.%s: expected an integer >= 0", path, name);
    *out = (uint64_t)v->valuedouble;
    return AEB_OK;
}

/* Optional double: null -> have = false; a decimal string (as written by add_exact) or a
 * number that is finite -> have = true. */
static int get_opt(const cJSON *o, const char *name, bool *have, double *out, aeb_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (cJSON_IsNull(v)) {
        *have = false;
        *out = 0;
        return AEB_OK;
    }
    double d = NAN;
    if (cJSON_IsNumber(v)) {
        d = v->valuedouble;
    } else if (cJSON_IsString(v) && v->valuestring[0]) {
        char *end;
        d = strtod(v->valuestring, &end);
        if (*end)
            d = NAN;
    }
    if (!isfinite(d))
        return err_set(err, AEB_E_BAD_STATE, "state.%s: expected a decimal number or null", name);
    *have = true;
    *out = d;
    return AEB_OK;
}

int aeb_state_from_json(const cJSON *obj, aeb_state *s, aeb_err *err)
{
    if (!cJSON_IsObject(obj))
        return err_set(err, AEB_E_BAD_STATE, "state: expected an object");
    aeb_state q;
    aeb_state_init(&q);
    bool h1, h2;
    const cJSON *col = cJSON_GetObjectItemCaseSensitive(obj, "collision");
    if (!cJSON_IsBool(col))
        return err_set(err, AEB_E_BAD_STATE, "state.collision: expected a boolean");
    q.collision = cJSON_IsTrue(col);
    int rc;
    if ((rc = get_stage(obj, "stage", &q.stage, err)) ||
        (rc = get_stage(obj, "max_stage", &q.max_stage, err)) ||
        (rc = get_u64(obj, "state", "frames", &q.frames, err)) ||
        (rc = get_u64(obj, "state", "input_errors", &q.input_errors, err)) ||
        (rc = get_u64(obj, "state", "t_not_increasing", &q.t_not_increasing, err)) ||
        (rc = get_opt(obj, "last_t", &q.have_last_t, &q.last_t, err)) ||
        (rc = get_opt(obj, "min_ttc", &q.have_min_ttc, &q.min_ttc, err)) ||
        (rc = get_opt(obj, "min_ttc_t", &h1, &q.min_ttc_t, err)) ||
        (rc = get_opt(obj, "first_fcw_t", &q.have_first_fcw, &q.first_fcw_t, err)) ||
        (rc = get_opt(obj, "first_brake_t", &q.have_first_brake, &q.first_brake_t, err)) ||
        (rc = get_opt(obj, "first_collision_t", &q.have_first_collision, &q.first_collision_t,
                      err)) ||
        (rc = get_opt(obj, "first_impact_speed", &h2, &q.first_impact_speed, err)))
        return rc;
    if (h1 != q.have_min_ttc || h2 != q.have_first_collision)
        return err_set(err, AEB_E_BAD_STATE,
                       "state: min_ttc/min_ttc_t or first_collision_t/"
                       "first_impact_speed: both or neither must be set");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, "counts");
    if (!cJSON_IsObject(c))
        return err_set(err, AEB_E_BAD_STATE, "state.counts: expected an object");
    for (int i = 0; i < AEB_EV_COUNT; i++)
        if ((rc = get_u64(c, "state.counts", event_names[i], &q.counts[i], err)))
            return rc;
    *s = q;
    return AEB_OK;
}

/* ------------------------------------------------------------------ summary */

cJSON *aeb_summary_to_json(const aeb_state *s, const aeb_params *p)
{
    cJSON *o = cJSON_CreateObject(), *c = NULL, *m = NULL;
    if (!o)
        return NULL;
    bool ok = add_u64(o, "frames", s->frames);
    if (ok && s->have_min_ttc) {
        ok = (m = cJSON_AddObjectToObject(o, "min_ttc")) != NULL &&
             add_num(m, "value", s->min_ttc) && add_num(m, "t", s->min_ttc_t);
    } else if (ok) {
        ok = cJSON_AddNullToObject(o, "min_ttc") != NULL;
    }
    ok = ok && cJSON_AddStringToObject(o, "max_stage", aeb_stage_name(s->max_stage)) &&
         (c = cJSON_AddObjectToObject(o, "counts")) != NULL;
    for (int i = 0; ok && i < AEB_EV_COUNT; i++)
        ok = add_u64(c, event_names[i], s->counts[i]);
    ok = ok && add_num(o, "first_fcw_t", s->have_first_fcw ? s->first_fcw_t : NAN) &&
         add_num(o, "first_brake_t", s->have_first_brake ? s->first_brake_t : NAN);
    if (ok && s->have_first_collision) {
        ok = (m = cJSON_AddObjectToObject(o, "first_collision")) != NULL &&
             add_num(m, "t", s->first_collision_t) &&
             add_num(m, "impact_speed", s->first_impact_speed) &&
             add_num(m, "impact_speed_kmh", s->first_impact_speed * 3.6);
    } else if (ok) {
        ok = cJSON_AddNullToObject(o, "first_collision") != NULL;
    }
    ok = ok && add_u64(o, "input_errors", s->input_errors) &&
         add_u64(o, "t_not_increasing", s->t_not_increasing);
    if (ok && p) {
        cJSON *pj = aeb_params_to_json(p);
        ok = pj && cJSON_AddItemToObject(o, "params", pj);
        if (!ok)
            cJSON_Delete(pj);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
