/*
 * aeb_scenario.c - the scenario table of AEB_SPEC §4 and the kinematic model of §5 (see
 * aeb_scenario.h for the model). Pure computation: no globals except the constant table.
 *
 * Invariants: frame k is at exactly k*dt; positions are advanced step by step (x += motion
 * over dt, the same arithmetic in open and closed loop, so an open-loop run reproduces the
 * frames a recording of the same scenario contains); a stopped ego stays stopped; the lead
 * brakes from frame round(lead_brake_t/dt) until standstill.
 */
#include "aeb_scenario.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define KMH (1.0 / 3.6)

#define CCRS(kmh)                                                                                  \
    {                                                                                              \
        "CCRs-" #kmh, "CCRs: ego " #kmh " km/h towards a stationary target, start at TTC 8 s",     \
            kmh *KMH, 0.0, 8.0 * (kmh * KMH - 0.0), 0.0, 0.0, 0.0, 0.0                             \
    }
#define CCRB(d, g)                                                                                 \
    {                                                                                              \
        "CCRb-" #d "-" #g "m",                                                                     \
            "CCRb: both 50 km/h, gap " #g " m, lead brakes at -" #d " m/s^2 from t = 1 s",         \
            50.0 * KMH, 50.0 * KMH, g, d, 1.0, 0.0, 1.0                                            \
    }

static const aeb_scenario scenarios[] = {
    CCRS(10),
    CCRS(20),
    CCRS(30),
    CCRS(40),
    CCRS(50),
    {"CCRm-50", "CCRm: ego 50 km/h behind a lead at constant 20 km/h, start at TTC 8 s", 50.0 * KMH,
     20.0 * KMH, 8.0 * (50.0 * KMH - 20.0 * KMH), 0.0, 0.0, 0.0, 0.0},
    CCRB(2, 12),
    CCRB(2, 40),
    CCRB(6, 12),
    CCRB(6, 40),
    {"CCRs-50-reveal1.0s", "stress: CCRs 50 km/h, target reported only once TTC < 1.0 s",
     50.0 * KMH, 0.0, 8.0 * (50.0 * KMH - 0.0), 0.0, 0.0, 1.0, 0.0},
    {"CCRs-50-reveal0.6s", "stress: CCRs 50 km/h, target reported only once TTC < 0.6 s",
     50.0 * KMH, 0.0, 8.0 * (50.0 * KMH - 0.0), 0.0, 0.0, 0.6, 0.0},
};
#define N_SCENARIOS (sizeof scenarios / sizeof scenarios[0])

size_t aeb_scenario_count(void)
{
    return N_SCENARIOS;
}

const aeb_scenario *aeb_scenario_get(size_t i)
{
    return i < N_SCENARIOS ? &scenarios[i] : NULL;
}

const aeb_scenario *aeb_scenario_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < N_SCENARIOS; i++)
        if (strcmp(scenarios[i].name, name) == 0)
            return &scenarios[i];
    return NULL;
}

/* ------------------------------------------------------------------ the model */

void aeb_scenario_gen_init(aeb_scenario_gen *g, const aeb_scenario *sc, double dt, double tau)
{
    memset(g, 0, sizeof *g);
    g->sc = sc;
    g->dt = dt;
    g->tau = tau;
    g->ego_v = sc->ego_v0;
    g->lead_x = sc->gap0;
    g->lead_v = sc->lead_v0;
    g->event_t = NAN;
    g->impact_speed = NAN;
    g->event_gap = NAN;
}

/* Is the lead braking during step k (from frame k to k+1)? */
static bool lead_braking(const aeb_scenario_gen *g, uint64_t k)
{
    if (g->sc->lead_decel <= 0 || g->lead_v <= 0)
        return false;
    double kb = nearbyint(g->sc->lead_brake_t / g->dt);
    return (double)k >= kb;
}

void aeb_scenario_gen_frame(aeb_scenario_gen *g, aeb_input *in, aeb_truth *tr)
{
    double t = (double)g->k * g->dt;
    double gap = g->lead_x - g->ego_x;
    double lead_a = lead_braking(g, g->k) ? -g->sc->lead_decel : 0.0;
    if (g->sc->reveal_ttc <= 0) {
        g->revealed = true;
    } else if (!g->revealed) {
        double closing = g->ego_v - g->lead_v;
        if (closing > 0 && gap > 0 && gap / closing < g->sc->reveal_ttc - 1e-9)
            g->revealed = true;
    }
    memset(in, 0, sizeof *in);
    in->t = t;
    in->ego_v = g->ego_v;
    in->ego_a = g->ego_a;
    in->has = AEB_HAS_EGO_A;
    if (g->revealed) {
        in->range = gap;
        in->rel_v = g->lead_v - g->ego_v;
        in->lead_a = lead_a;
        in->has |= AEB_HAS_RANGE | AEB_HAS_REL_V | AEB_HAS_LEAD_A;
    }
    if (tr) {
        tr->t = t;
        tr->ego_x = g->ego_x;
        tr->ego_v = g->ego_v;
        tr->ego_a = g->ego_a;
        tr->lead_x = g->lead_x;
        tr->lead_v = g->lead_v;
        tr->lead_a = lead_a;
        tr->gap = gap;
        tr->visible = g->revealed;
    }
}

/* Lead motion s seconds into step (exact for a constant speed or a constant deceleration
 * that ends at standstill). */
typedef struct motion {
    double x, v;
} motion;

static motion lead_at(const aeb_scenario_gen *g, bool braking, double s)
{
    motion m;
    if (!braking) {
        m.x = g->lead_x + g->lead_v * s;
        m.v = g->lead_v;
        return m;
    }
    double d = g->sc->lead_decel, ss = s;
    if (g->lead_v - d * s <= 0)
        ss = g->lead_v / d;
    m.x = g->lead_x + g->lead_v * ss - 0.5 * d * ss * ss;
    m.v = (ss < s) ? 0.0 : g->lead_v - d * s;
    return m;
}

void aeb_scenario_gen_advance(aeb_scenario_gen *g, double decel)
{
    double u = -(decel > 0 ? decel : 0.0), dt = g->dt;
    bool braking = lead_braking(g, g->k);
    double t0 = (double)g->k * dt;
    g->contact = g->stopped = false;

    /* ego: exact lag for a, Euler for v (with a_k), trapezoid for x */
    double xn = g->ego_x, vn = 0.0, an = 0.0;
    bool stops = false;
    double s_stop = 0;
    if (g->ego_v > 0) {
        vn = g->ego_v + g->ego_a * dt;
        an = u + (g->ego_a - u) * exp(-dt / g->tau);
        if (vn <= 0) { /* standstill within the step: v falls linearly to 0 at s_stop */
            s_stop = dt * g->ego_v / (g->ego_v - vn);
            xn = g->ego_x + 0.5 * g->ego_v * s_stop;
            vn = an = 0.0;
            stops = true;
        } else {
            xn = g->ego_x + 0.5 * (g->ego_v + vn) * dt;
        }
    }
    motion ml = lead_at(g, braking, dt);

    /* contact within the step: gap and closing speed interpolated linearly */
    double gap0 = g->lead_x - g->ego_x, gap1 = ml.x - xn;
    if (gap0 > 0 && gap1 <= 0) {
        double f = gap0 / (gap0 - gap1);
        double c0 = g->ego_v - g->lead_v, c1 = vn - ml.v;
        g->contact = true;
        g->event_t = t0 + f * dt;
        g->impact_speed = c0 + f * (c1 - c0);
    } else if (stops) {
        g->stopped = true;
        g->event_t = t0 + s_stop;
        g->event_gap = gap1; /* the gap on the first frame at standstill */
    }
    g->ego_x = xn;
    g->ego_v = vn;
    g->ego_a = an;
    g->lead_x = ml.x;
    g->lead_v = ml.v;
    g->k++;
}

/* ------------------------------------------------------------------ simulation */

void aeb_sim_opts_default(aeb_sim_opts *o)
{
    o->dt = 0.01;
    o->tau = 0.07;
    o->latency = 0.0;
    o->closed_loop = true;
    o->max_t = 60.0;
}

#define RING 256

int aeb_scenario_simulate(const aeb_scenario *sc, const aeb_params *p, const aeb_sim_opts *o,
                          aeb_sim_result *r, aeb_err *err)
{
    if (!sc || !(o->dt > 0 && o->dt <= 1) || !(o->tau > 0 && o->tau <= 10) || !(o->latency >= 0) ||
        !(o->max_t > 0 && o->max_t <= 3600)) {
        if (err) {
            err->code = AEB_E_BAD_PARAM;
            snprintf(err->msg, sizeof err->msg,
                     "sim: need a scenario, 0 < dt <= 1, 0 < tau <= 10, latency >= 0, "
                     "0 < max_t <= 3600");
        }
        return AEB_E_BAD_PARAM;
    }
    double lf = nearbyint(o->latency / o->dt);
    if (lf >= RING) {
        if (err) {
            err->code = AEB_E_BAD_PARAM;
            snprintf(err->msg, sizeof err->msg, "sim: latency above %d frames", RING - 1);
        }
        return AEB_E_BAD_PARAM;
    }
    int rc = aeb_params_check(p, err);
    if (rc != AEB_OK)
        return rc;
    uint64_t lat = (uint64_t)lf;

    memset(r, 0, sizeof *r);
    r->contact_t = r->impact_speed = r->stop_t = r->stop_gap = NAN;
    r->min_gap = INFINITY;
    for (int i = 0; i < AEB_STAGE_COUNT; i++)
        r->stage_t[i] = r->stage_ttc[i] = NAN;
    aeb_state_init(&r->state);
    double req[RING] = {0};

    aeb_scenario_gen g;
    aeb_scenario_gen_init(&g, sc, o->dt, o->tau);
    for (;;) {
        aeb_input in;
        aeb_truth tr;
        aeb_output out;
        aeb_scenario_gen_frame(&g, &in, &tr);
        r->end_t = tr.t;
        if (tr.t > o->max_t)
            break;
        aeb_stage before = r->state.stage;
        aeb_step(p, &r->state, &in, &out);
        r->frames++;
        if (tr.gap < r->min_gap)
            r->min_gap = tr.gap;
        if (out.state != before && isnan(r->stage_t[out.state])) {
            r->stage_t[out.state] = tr.t;
            r->stage_ttc[out.state] = out.ttc;
        }
        req[g.k % RING] = out.decel;
        double apply = 0;
        if (o->closed_loop && g.k >= lat)
            apply = req[(g.k - lat) % RING];
        aeb_scenario_gen_advance(&g, apply);
        if (g.contact) {
            r->collision = true;
            r->contact_t = r->end_t = g.event_t;
            r->impact_speed = g.impact_speed;
            r->min_gap = 0;
            break;
        }
        if (g.stopped) {
            r->stopped = true;
            r->stop_t = r->end_t = g.event_t;
            r->stop_gap = g.event_gap;
            if (r->stop_gap < r->min_gap)
                r->min_gap = r->stop_gap;
            break;
        }
    }
    return AEB_OK;
}
