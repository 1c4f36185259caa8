/*
 * test_aeb.c - libaeb against AEB_SPEC: every scenario of table 6.3 evaluated open loop on
 * the frames of the kinematic model (onsets within one frame, impact speed within 0.5 km/h,
 * min TTC within 0.01 s), the closed-loop simulator against tables 6.1/6.2 (avoided vs
 * collision, stop gaps within 0.05 m, max stage), the state machine rules one by one, the
 * exact JSON round trip of the state, bit-identical outputs for any split into batches, and
 * bad inputs.
 */
#include "aeb.h"
#include "aeb_scenario.h"
#include "../../wsm_test.h"

#include <stdint.h>
#include <stdlib.h>

#define FRAME 0.01
#define NA    NAN

#include "aeb_tables.h"

/* "Within one frame" (plus rounding of the table's printed value). */
static void check_onset(const char *what, const char *name, double got, double want_rel,
                        double origin)
{
    if (isnan(want_rel)) {
        if (!isnan(got))
            fprintf(stderr, "%s %s: expected never, got %.3f\n", name, what, got);
        CHECK(isnan(got));
        return;
    }
    double want = origin + want_rel;
    if (!(fabs(got - want) <= FRAME + 1e-6))
        fprintf(stderr, "%s %s: got %.3f want %.3f\n", name, what, got, want);
    CHECK_NEAR(got, want, FRAME + 1e-6);
}

/* Evaluates a scenario open loop frame by frame (the service's view of a recording made
 * without AEB): frames until and including the first frame with gap <= 0. */
typedef struct open_run {
    double stage_t[AEB_STAGE_COUNT], stage_ttc[AEB_STAGE_COUNT];
    aeb_state st;
    int n_collision_events;
    double impact_speed;
    uint64_t frames;
} open_run;

static void run_open(const aeb_scenario *sc, open_run *r)
{
    aeb_params p;
    aeb_params_default(&p);
    aeb_state_init(&r->st);
    for (int i = 0; i < AEB_STAGE_COUNT; i++)
        r->stage_t[i] = r->stage_ttc[i] = NAN;
    r->n_collision_events = 0;
    r->impact_speed = NAN;
    r->frames = 0;
    aeb_scenario_gen g;
    aeb_scenario_gen_init(&g, sc, FRAME, 0.07);
    for (;;) {
        aeb_input in;
        aeb_truth tr;
        aeb_output out;
        aeb_scenario_gen_frame(&g, &in, &tr);
        aeb_stage before = r->st.stage;
        aeb_step(&p, &r->st, &in, &out);
        r->frames++;
        if (out.state != before && isnan(r->stage_t[out.state])) {
            r->stage_t[out.state] = out.t;
            r->stage_ttc[out.state] = out.ttc;
        }
        for (int i = 0; i < out.n_events; i++)
            if (out.events[i].type == AEB_EV_COLLISION) {
                r->n_collision_events++;
                r->impact_speed = out.events[i].impact_speed;
            }
        if (tr.gap <= 0 || tr.t > 60)
            break;
        aeb_scenario_gen_advance(&g, 0.0);
    }
}

TEST(scenario_table)
{
    CHECK_EQ_INT(aeb_scenario_count(), 12);
    for (size_t i = 0; i < aeb_scenario_count(); i++) {
        const aeb_scenario *sc = aeb_scenario_get(i);
        CHECK(sc != NULL);
        CHECK(aeb_scenario_find(sc->name) == sc);
        CHECK_STR(sc->name, open_loop[i].name);
        CHECK_STR(sc->name, closed_loop[i].name);
    }
    CHECK(aeb_scenario_get(12) == NULL);
    CHECK(aeb_scenario_find("CCRs-15") == NULL);
    CHECK(aeb_scenario_find(NULL) == NULL);
    /* initial gaps of table 6.1 */
    CHECK_NEAR(aeb_scenario_find("CCRs-10")->gap0, 22.2, 0.05);
    CHECK_NEAR(aeb_scenario_find("CCRs-50")->gap0, 111.1, 0.05);
    CHECK_NEAR(aeb_scenario_find("CCRm-50")->gap0, 66.7, 0.05);
}

TEST(open_loop_table_6_3)
{
    for (size_t i = 0; i < aeb_scenario_count(); i++) {
        const aeb_scenario *sc = aeb_scenario_get(i);
        const expect *x = &open_loop[i];
        open_run r;
        run_open(sc, &r);
        double o = sc->t_origin;
        check_onset("FCW", sc->name, r.stage_t[AEB_FCW], x->fcw_t, o);
        check_onset("PB1", sc->name, r.stage_t[AEB_PB1], x->brake_t, o);
        check_onset("PB2", sc->name, r.stage_t[AEB_PB2], x->pb2_t, o);
        check_onset("FB", sc->name, r.stage_t[AEB_FB], x->fb_t, o);
        CHECK_NEAR(r.stage_ttc[AEB_FCW], x->fcw_ttc, 0.011);
        CHECK_NEAR(r.stage_ttc[AEB_PB1], x->brake_ttc, 0.011);
        CHECK_EQ_INT(r.st.max_stage, x->max_stage);
        CHECK_EQ_INT(r.n_collision_events, 1);
        CHECK(r.st.have_first_collision);
        CHECK_NEAR(r.impact_speed * 3.6, x->impact_kmh, 0.5);
        CHECK_NEAR(r.st.first_impact_speed * 3.6, x->impact_kmh, 0.5);
        CHECK(r.st.have_min_ttc);
        /* table values are printed with 3 decimals */
        CHECK_NEAR(r.st.min_ttc, x->min_ttc, 0.01 + 5e-4);
        /* the summary's first-onset times match the stage onsets */
        CHECK(r.st.first_fcw_t == r.stage_t[AEB_FCW]);
        CHECK(r.st.first_brake_t == r.stage_t[AEB_PB1]);
        CHECK_EQ_INT(r.st.counts[AEB_EV_FCW_ONSET], 1);
        CHECK_EQ_INT(r.st.counts[AEB_EV_BRAKE_ONSET], 1);
        CHECK_EQ_INT(r.st.counts[AEB_EV_STAGE_CHANGE], 4);
        CHECK_EQ_INT(r.st.counts[AEB_EV_COLLISION], 1);
        CHECK_EQ_INT(r.st.counts[AEB_EV_RELEASE], 0);
        CHECK_EQ_INT(r.st.input_errors, 0);
        CHECK_EQ_INT(r.st.t_not_increasing, 0);
    }
}

TEST(open_loop_simulator)
{
    /* the simulator in open loop: same onsets, interpolated impact = the no-AEB impact */
    aeb_params p;
    aeb_params_default(&p);
    aeb_sim_opts o;
    aeb_sim_opts_default(&o);
    o.closed_loop = false;
    for (size_t i = 0; i < aeb_scenario_count(); i++) {
        const aeb_scenario *sc = aeb_scenario_get(i);
        const expect *x = &open_loop[i];
        aeb_sim_result r;
        CHECK_EQ_INT(aeb_scenario_simulate(sc, &p, &o, &r, NULL), AEB_OK);
        CHECK(r.collision);
        CHECK_NEAR(r.impact_speed * 3.6, x->impact_kmh, 0.5);
        check_onset("FB", sc->name, r.stage_t[AEB_FB], x->fb_t, sc->t_origin);
        CHECK_EQ_INT(r.state.max_stage, AEB_FB);
    }
}

TEST(closed_loop_tables_6_1_6_2)
{
    aeb_params p;
    aeb_params_default(&p);
    aeb_sim_opts o;
    aeb_sim_opts_default(&o);
    for (size_t i = 0; i < aeb_scenario_count(); i++) {
        const aeb_scenario *sc = aeb_scenario_get(i);
        const expect *x = &closed_loop[i];
        aeb_sim_result r;
        aeb_err err;
        CHECK_EQ_INT(aeb_scenario_simulate(sc, &p, &o, &r, &err), AEB_OK);
        if (r.collision != x->collision)
            fprintf(stderr, "%s: collision %d, expected %d\n", sc->name, r.collision, x->collision);
        CHECK(r.collision == x->collision);
        CHECK(r.stopped == !x->collision);
        CHECK_EQ_INT(r.state.max_stage, x->max_stage);
        double oo = sc->t_origin;
        check_onset("FCW", sc->name, r.stage_t[AEB_FCW], x->fcw_t, oo);
        check_onset("PB1", sc->name, r.stage_t[AEB_PB1], x->brake_t, oo);
        check_onset("PB2", sc->name, r.stage_t[AEB_PB2], x->pb2_t, oo);
        check_onset("FB", sc->name, r.stage_t[AEB_FB], x->fb_t, oo);
        CHECK_NEAR(r.stage_ttc[AEB_FCW], x->fcw_ttc, 0.011);
        CHECK_NEAR(r.stage_ttc[AEB_PB1], x->brake_ttc, 0.011);
        CHECK_NEAR(r.state.min_ttc, x->min_ttc, 0.01 + 5e-4);
        if (x->collision) {
            CHECK_NEAR(r.impact_speed * 3.6, x->impact_kmh, 0.5);
            CHECK_NEAR(r.min_gap, 0.0, 1e-9);
        } else {
            if (fabs(r.stop_gap - x->stop_gap) > 0.05 || fabs(r.min_gap - x->min_gap) > 0.05)
                fprintf(stderr, "%s: stop gap %.3f (want %.2f), min gap %.3f (want %.2f)\n",
                        sc->name, r.stop_gap, x->stop_gap, r.min_gap, x->min_gap);
            CHECK_NEAR(r.stop_gap, x->stop_gap, 0.05);
            CHECK_NEAR(r.min_gap, x->min_gap, 0.05);
        }
    }
    /* row 12: contact at t = 8.147 s */
    aeb_sim_result r;
    CHECK_EQ_INT(aeb_scenario_simulate(aeb_scenario_find("CCRs-50-reveal0.6s"), &p, &o, &r, NULL),
                 AEB_OK);
    CHECK_NEAR(r.contact_t, 8.147, 0.0015);
}

TEST(closed_loop_latency_makes_it_worse)
{
    /* a longer dead time can only shrink the stop gap of a stationary-target case */
    aeb_params p;
    aeb_params_default(&p);
    aeb_sim_opts o;
    aeb_sim_opts_default(&o);
    aeb_sim_result r0, r1;
    const aeb_scenario *sc = aeb_scenario_find("CCRs-30");
    CHECK_EQ_INT(aeb_scenario_simulate(sc, &p, &o, &r0, NULL), AEB_OK);
    o.latency = 0.2;
    CHECK_EQ_INT(aeb_scenario_simulate(sc, &p, &o, &r1, NULL), AEB_OK);
    CHECK(r1.stopped);
    /* 0.2 s at 30 km/h = 1.67 m less */
    CHECK_NEAR(r0.stop_gap - r1.stop_gap, 0.2 * 30 / 3.6, 0.05);
    o.latency = 10.0;
    aeb_err err;
    CHECK_EQ_INT(aeb_scenario_simulate(sc, &p, &o, &r1, &err), AEB_E_BAD_PARAM);
    o.latency = 0;
    o.dt = 0;
    CHECK_EQ_INT(aeb_scenario_simulate(sc, &p, &o, &r1, &err), AEB_E_BAD_PARAM);
}

/* ------------------------------------------------------------------ rules one by one */

static aeb_input mio(double t, double v, double range, double rel_v)
{
    aeb_input in = {
        .t = t, .ego_v = v, .range = range, .rel_v = rel_v, .has = AEB_HAS_RANGE | AEB_HAS_REL_V};
    return in;
}

static aeb_input no_mio(double t, double v)
{
    aeb_input in = {.t = t, .ego_v = v};
    return in;
}

TEST(quantities)
{
    aeb_params p;
    aeb_params_default(&p);
    aeb_state s;
    aeb_state_init(&s);
    aeb_output o;
    aeb_input in = mio(0, 10, 50, -5);
    aeb_step(&p, &s, &in, &o);
    CHECK_NEAR(o.ttc, 10.0, 1e-12);
    CHECK_NEAR(o.t_fcw, 1.2 + 10 / 4.0, 1e-12);
    CHECK_NEAR(o.t_pb1, 10 / 3.8, 1e-12);
    CHECK_NEAR(o.t_pb2, 10 / 5.3, 1e-12);
    CHECK_NEAR(o.t_fb, 10 / 9.8, 1e-12);
    CHECK_EQ_INT(o.state, AEB_NONE);
    CHECK(!o.fcw && !o.collision && o.decel == 0 && o.aeb_status == 0);
    CHECK(isnan(o.ettc)); /* no lead_a */
    /* clamp of the denominator */
    in = mio(0.01, 10, 50, -0.001);
    aeb_step(&p, &s, &in, &o);
    CHECK_NEAR(o.ttc, 50 / 0.01, 1e-9);
    /* opening: no ttc */
    in = mio(0.02, 10, 50, 1);
    aeb_step(&p, &s, &in, &o);
    CHECK(isnan(o.ttc));
    /* headway offset */
    p.headway_offset = 3.7;
    in = mio(0.03, 10, 50, -5);
    aeb_step(&p, &s, &in, &o);
    CHECK_NEAR(o.ttc, (50 - 3.7) / 5, 1e-12);
    /* ettc: headway + rel_v*x + 0.5*(lead_a - ego_a)*x^2 = 0 */
    p.headway_offset = 0;
    in = mio(0.04, 10, 20, -5);
    in.lead_a = -2;
    in.ego_a = 0;
    in.has |= AEB_HAS_LEAD_A | AEB_HAS_EGO_A;
    aeb_step(&p, &s, &in, &o);
    /* 20 - 5x - x^2 = 0 -> x = (-5 + sqrt(105)) / 2 */
    CHECK_NEAR(o.ettc, (-5 + sqrt(105)) / 2, 1e-12);
    CHECK_NEAR(o.ttc, 4.0, 1e-12);
    /* lead pulling away faster than closing: no positive root */
    in = mio(0.05, 10, 20, 1);
    in.lead_a = 1;
    in.has |= AEB_HAS_LEAD_A;
    aeb_step(&p, &s, &in, &o);
    CHECK(isnan(o.ettc));
}

TEST(one_transition_per_frame_and_latch)
{
    aeb_params p;
    aeb_params_default(&p);
    aeb_state s;
    aeb_state_init(&s);
    aeb_output o;
    /* sudden threat: TTC 0.1 s at 20 m/s -> NONE, FCW, PB1, PB2, FB over 4 frames */
    aeb_stage want[] = {AEB_FCW, AEB_PB1, AEB_PB2, AEB_FB, AEB_FB};
    double decel[] = {0, 3.8, 5.3, 9.8, 9.8};
    for (int i = 0; i < 5; i++) {
        aeb_input in = mio(i * 0.01, 20, 2.0, -20);
        aeb_step(&p, &s, &in, &o);
        CHECK_EQ_INT(o.state, want[i]);
        CHECK_NEAR(o.decel, decel[i], 0);
        CHECK_EQ_INT(o.aeb_status, i == 0 ? 0 : (i > 3 ? 3 : i));
        CHECK(o.fcw);
        CHECK_EQ_INT(o.brake_stage, i == 0 ? AEB_NONE : want[i]);
    }
    CHECK_EQ_INT(s.counts[AEB_EV_STAGE_CHANGE], 4);
    /* the threat disappears: braking stays latched (no MIO, opening, far away) */
    aeb_input in = no_mio(0.05, 20);
    aeb_step(&p, &s, &in, &o);
    CHECK_EQ_INT(o.state, AEB_FB);
    in = mio(0.06, 20, 100, 5);
    aeb_step(&p, &s, &in, &o);
    CHECK_EQ_INT(o.state, AEB_FB);
    CHECK_NEAR(o.decel, 9.8, 0);
    /* released only at standstill (ego_v <= stop_v) */
    in = no_mio(0.07, 0.11);
    aeb_step(&p, &s, &in, &o);
    CHECK_EQ_INT(o.state, AEB_FB);
    in = mio(0.08, 0.1, 3.5, 0);
    aeb_step(&p, &s, &in, &o);
    CHECK_EQ_INT(o.state, AEB_NONE);
    CHECK(!o.fcw && o.decel == 0);
    CHECK_EQ_INT(o.n_events, 2);
    CHECK_EQ_INT(o.events[0].type, AEB_EV_STAGE_CHANGE);
    CHECK_EQ_INT(o.events[1].type, AEB_EV_RELEASE);
    CHECK_NEAR(o.events[1].range, 3.5, 0);
    CHECK_EQ_INT(o.events[1].frame, 8);
    CHECK_EQ_INT(s.counts[AEB_EV_RELEASE], 1);
}

TEST(fcw_release)
{
    aeb_params p;
    aeb_params_default(&p);
    aeb_state s;
    aeb_state_init(&s);
    aeb_output o;
    /* v = 10: T_fcw = 3.7, T_pb1 = 2.63; ttc 3.5 -> FCW */
    aeb_input in = mio(0, 10, 35, -10);
    aeb_step(&p, &s, &in, &o);
    CHECK_EQ_INT(o.state, AEB_FCW);
    CHECK_EQ_INT(o.n_events, 2);
    CHECK_EQ_INT(o.events[1].type, AEB_EV_FCW_ONSET);
    CHECK_NEAR(o.events[1].ttc, 3.5, 1e-12);
    CHECK_NEAR(o.events[1].rel_v, -10, 0);
    /* hysteresis: ttc 4.0 is between T_fcw and 1.2*T_fcw = 4.44: stays */
    in = mio(0.01, 10, 40, -10);
    aeb_step(&p, &s, &in, &o);
    CHECK_EQ_INT(o.state, AEB_FCW);
    /* ttc 4.5 >= 4.44: released */
    in = mio(0.02, 10, 45, -10);
    aeb_step(&p, &s, &in, &o);
    CHECK_EQ_INT(o.state, AEB_NONE);
    /* again FCW, then the lead pulls away (not closing): released [choice] */
    in = mio(0.03, 10, 35, -10);
    aeb_step(&p, &s, &in, &o);
    CHECK_EQ_INT(o.state, AEB_FCW);
    in = mio(0.04, 10, 35, 0.5);
    aeb_step(&p, &s, &in, &o);
    CHECK_EQ_INT(o.state, AEB_NONE);
    /* FCW, then the MIO disappears: released */
    in = mio(0.05, 10, 35, -10);
    aeb_step(&p, &s, &in, &o);
    in = no_mio(0.06, 10);
    aeb_step(&p, &s, &in, &o);
    CHECK_EQ_INT(o.state, AEB_NONE);
    CHECK_EQ_INT(s.counts[AEB_EV_FCW_ONSET], 3);
    CHECK_EQ_INT(s.counts[AEB_EV_BRAKE_ONSET], 0);
    CHECK_EQ_INT(s.max_stage, AEB_FCW);
    /* strict "<": ttc exactly T_fcw does not warn */
    aeb_state_init(&s);
    in = mio(0, 8, 1.2 * 4 + 8, -4); /* T_fcw = 1.2 + 2 = 3.2 ; ttc = 12.8/4 = 3.2 */
    aeb_step(&p, &s, &in, &o);
    CHECK_NEAR(o.ttc, o.t_fcw, 0);
    CHECK_EQ_INT(o.state, AEB_NONE);
}

TEST(collision_episodes)
{
    aeb_params p;
    aeb_params_default(&p);
    aeb_state s;
    aeb_state_init(&s);
    aeb_output o;
    aeb_input in = mio(0, 5, 0.0, -5);
    aeb_step(&p, &s, &in, &o);
    CHECK(o.collision);
    CHECK(isnan(o.ttc));
    int found = 0;
    for (int i = 0; i < o.n_events; i++)
        if (o.events[i].type == AEB_EV_COLLISION) {
            found++;
            CHECK_NEAR(o.events[i].impact_speed, 5, 0);
        }
    CHECK_EQ_INT(found, 1);
    in = mio(0.01, 5, -0.1, -5); /* same episode */
    aeb_step(&p, &s, &in, &o);
    CHECK(o.collision);
    in = mio(0.02, 5, 1.0, 1); /* separated */
    aeb_step(&p, &s, &in, &o);
    CHECK(!o.collision);
    in = mio(0.03, 5, -0.01, -2); /* second episode */
    aeb_step(&p, &s, &in, &o);
    CHECK_EQ_INT(s.counts[AEB_EV_COLLISION], 2);
    CHECK_NEAR(s.first_impact_speed, 5, 0);
    CHECK_NEAR(s.first_collision_t, 0, 0);
}

TEST(bad_inputs)
{
    aeb_params p;
    aeb_params_default(&p);
    aeb_state s;
    aeb_state_init(&s);
    aeb_output o;
    /* NaN range: no MIO, flagged, counted, still evaluated */
    aeb_input in = mio(0, 10, NAN, -10);
    aeb_step(&p, &s, &in, &o);
    CHECK(o.flags & AEB_OUT_INPUT_ERROR);
    CHECK(isnan(o.ttc) && !o.collision);
    CHECK_EQ_INT(s.input_errors, 1);
    CHECK_EQ_INT(s.frames, 1);
    /* infinite rel_v */
    in = mio(0.01, 10, 5, -INFINITY);
    aeb_step(&p, &s, &in, &o);
    CHECK(o.flags & AEB_OUT_INPUT_ERROR);
    CHECK_EQ_INT(o.state, AEB_NONE);
    /* only one of range / rel_v */
    in = mio(0.02, 10, 5, -10);
    in.has = AEB_HAS_RANGE;
    aeb_step(&p, &s, &in, &o);
    CHECK(o.flags & AEB_OUT_INPUT_ERROR);
    CHECK_EQ_INT(o.state, AEB_NONE);
    /* NaN ego speed: thresholds null, no MIO */
    in = mio(0.03, NAN, 5, -10);
    aeb_step(&p, &s, &in, &o);
    CHECK(o.flags & AEB_OUT_INPUT_ERROR);
    CHECK(isnan(o.t_fcw) && isnan(o.ttc));
    /* NaN lead_a */
    in = mio(0.04, 10, 50, -1);
    in.lead_a = NAN;
    in.has |= AEB_HAS_LEAD_A;
    aeb_step(&p, &s, &in, &o);
    CHECK(o.flags & AEB_OUT_INPUT_ERROR);
    CHECK_EQ_INT(s.input_errors, 5);
    /* a valid frame is not flagged */
    in = mio(0.05, 10, 50, -1);
    aeb_step(&p, &s, &in, &o);
    CHECK_EQ_INT(o.flags, 0);
    /* timestamps: equal and decreasing are flagged and counted; NaN t is an input error */
    in = mio(0.05, 10, 50, -1);
    aeb_step(&p, &s, &in, &o);
    CHECK(o.flags & AEB_OUT_T_NOT_INCREASING);
    in = mio(0.01, 10, 50, -1);
    aeb_step(&p, &s, &in, &o);
    CHECK(o.flags & AEB_OUT_T_NOT_INCREASING);
    in = mio(NAN, 10, 50, -1);
    aeb_step(&p, &s, &in, &o);
    CHECK(o.flags & AEB_OUT_INPUT_ERROR);
    CHECK(!(o.flags & AEB_OUT_T_NOT_INCREASING));
    in = mio(0.02, 10, 50, -1);
    aeb_step(&p, &s, &in, &o);
    CHECK_EQ_INT(o.flags, 0);
    CHECK_EQ_INT(s.t_not_increasing, 2);
    CHECK_EQ_INT(s.input_errors, 6);
    CHECK_EQ_INT(s.frames, 10);
    cJSON *sum = aeb_summary_to_json(&s, &p);
    CHECK(sum != NULL);
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(sum, "input_errors")->valuedouble, 6);
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(sum, "t_not_increasing")->valuedouble, 2);
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(sum, "frames")->valuedouble, 10);
    CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(sum, "params")));
    cJSON_Delete(sum);
}

TEST(params)
{
    aeb_params p, q;
    aeb_params_default(&p);
    aeb_err err;
    CHECK_EQ_INT(aeb_params_check(&p, &err), AEB_OK);
    cJSON *j = cJSON_Parse("{\"a_pb1\": 4.0, \"headway_offset\": 3.7}");
    q = p;
    CHECK_EQ_INT(aeb_params_from_json(j, &q, &err), AEB_OK);
    CHECK_NEAR(q.a_pb1, 4.0, 0);
    CHECK_NEAR(q.headway_offset, 3.7, 0);
    CHECK_NEAR(q.a_fb, 9.8, 0);
    cJSON_Delete(j);
    const char *bad[] = {"{\"a_pb1\": 0}",
                         "{\"nope\": 1}",
                         "{\"a_fb\": \"9.8\"}",
                         "{\"relv_min\": 5, \"relv_max\": 1}",
                         "{\"fcw_release_factor\": 0.5}",
                         "[1]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = cJSON_Parse(bad[i]);
        q = p;
        err.msg[0] = 0;
        CHECK_EQ_INT(aeb_params_from_json(j, &q, &err), AEB_E_BAD_PARAM);
        CHECK(err.msg[0] != 0);
        CHECK(memcmp(&q, &p, sizeof p) == 0);
        cJSON_Delete(j);
    }
    j = cJSON_Parse("{\"nope\": 1}");
    aeb_params_from_json(j, &q, &err);
    CHECK(strstr(err.msg, "nope") != NULL);
    cJSON_Delete(j);
    /* round trip */
    q.a_pb2 = 5.1;
    j = aeb_params_to_json(&q);
    aeb_params r;
    aeb_params_default(&r);
    CHECK_EQ_INT(aeb_params_from_json(j, &r, &err), AEB_OK);
    CHECK(memcmp(&q, &r, sizeof q) == 0);
    cJSON_Delete(j);
    p.a_driver = NAN;
    CHECK_EQ_INT(aeb_params_check(&p, &err), AEB_E_BAD_PARAM);
    CHECK_STR(aeb_strerror(AEB_E_BAD_PARAM), "BAD_PARAM");
}

/* ------------------------------------------------------------------ state JSON + splits */

static bool same_double(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b));
}

static bool same_output(const aeb_output *a, const aeb_output *b)
{
    if (!same_double(a->t, b->t) || !same_double(a->ttc, b->ttc) || a->state != b->state ||
        a->fcw != b->fcw || a->brake_stage != b->brake_stage || a->aeb_status != b->aeb_status ||
        !same_double(a->decel, b->decel) || a->collision != b->collision ||
        !same_double(a->t_fcw, b->t_fcw) || !same_double(a->t_pb1, b->t_pb1) ||
        !same_double(a->t_pb2, b->t_pb2) || !same_double(a->t_fb, b->t_fb) ||
        !same_double(a->ettc, b->ettc) || a->flags != b->flags || a->n_events != b->n_events)
        return false;
    for (int i = 0; i < a->n_events; i++) {
        const aeb_event *x = &a->events[i], *y = &b->events[i];
        if (x->type != y->type || x->frame != y->frame || !same_double(x->t, y->t) ||
            x->from != y->from || x->to != y->to || !same_double(x->ttc, y->ttc) ||
            !same_double(x->range, y->range) || !same_double(x->ego_v, y->ego_v) ||
            !same_double(x->rel_v, y->rel_v) || !same_double(x->impact_speed, y->impact_speed))
            return false;
    }
    return true;
}

/* The state through text: print, parse, read back (as between hub and workers). */
static int through_json(aeb_state *s)
{
    cJSON *j = aeb_state_to_json(s);
    if (!j)
        return -1;
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!txt)
        return -1;
    cJSON *k = cJSON_ParseWithLengthOpts(txt, strlen(txt) + 1, NULL, 1);
    free(txt);
    aeb_state t;
    aeb_err err;
    int rc = aeb_state_from_json(k, &t, &err);
    cJSON_Delete(k);
    if (rc != AEB_OK)
        return -1;
    *s = t;
    return 0;
}

/* A frame list for split tests: the open-loop frames of sc, with a few bad frames mixed in. */
static size_t frames_of(const aeb_scenario *sc, aeb_input *buf, size_t max)
{
    aeb_scenario_gen g;
    aeb_scenario_gen_init(&g, sc, FRAME, 0.07);
    size_t n = 0;
    while (n < max) {
        aeb_truth tr;
        aeb_scenario_gen_frame(&g, &buf[n], &tr);
        if (n % 97 == 50)
            buf[n].range = NAN;
        if (n % 131 == 70)
            buf[n].t -= 0.5;
        n++;
        if (tr.gap <= 0)
            break;
        aeb_scenario_gen_advance(&g, 0.0);
    }
    /* then the ego stops with no object: releases the brake */
    for (int i = 0; i < 20 && n < max; i++, n++)
        buf[n] = no_mio(buf[n - 1].t + FRAME, i < 10 ? 1.0 : 0.0);
    return n;
}

TEST(state_json_round_trip)
{
    aeb_params p;
    aeb_params_default(&p);
    static aeb_input frames[2000];
    size_t n = frames_of(aeb_scenario_find("CCRb-6-12m"), frames, 2000);
    aeb_state s;
    aeb_state_init(&s);
    aeb_output o;
    for (size_t i = 0; i < n; i++) {
        aeb_step(&p, &s, &frames[i], &o);
        aeb_state c = s;
        CHECK_EQ_INT(through_json(&c), 0);
        /* every field identical (doubles bit for bit) */
        CHECK(c.stage == s.stage && c.collision == s.collision && c.frames == s.frames &&
              c.have_last_t == s.have_last_t && same_double(c.last_t, s.last_t) &&
              c.input_errors == s.input_errors && c.t_not_increasing == s.t_not_increasing &&
              c.max_stage == s.max_stage && c.have_min_ttc == s.have_min_ttc &&
              same_double(c.min_ttc, s.min_ttc) && same_double(c.min_ttc_t, s.min_ttc_t) &&
              memcmp(c.counts, s.counts, sizeof c.counts) == 0 &&
              c.have_first_fcw == s.have_first_fcw && c.have_first_brake == s.have_first_brake &&
              c.have_first_collision == s.have_first_collision &&
              same_double(c.first_fcw_t, s.first_fcw_t) &&
              same_double(c.first_brake_t, s.first_brake_t) &&
              same_double(c.first_collision_t, s.first_collision_t) &&
              same_double(c.first_impact_speed, s.first_impact_speed));
        if (wsm_test_failures)
            break;
    }
    CHECK_EQ_INT(s.counts[AEB_EV_RELEASE], 1);
    CHECK(s.input_errors > 0 && s.t_not_increasing > 0);
    /* hard doubles survive too */
    aeb_state h;
    aeb_state_init(&h);
    h.have_last_t = h.have_min_ttc = true;
    h.last_t = 0.1 + 0.2;
    h.min_ttc = 5e-324;
    h.min_ttc_t = -0.0;
    aeb_state c = h;
    CHECK_EQ_INT(through_json(&c), 0);
    CHECK(same_double(c.last_t, h.last_t) && same_double(c.min_ttc, h.min_ttc) &&
          signbit(c.min_ttc_t));
}

TEST(state_json_bad)
{
    aeb_state s, ref;
    aeb_state_init(&s);
    s.frames = 7;
    ref = s;
    aeb_err err;
    const char *bad[] = {
        "[]",
        "{}",
        "{\"stage\":\"XX\",\"collision\":false}",
        "{\"stage\":\"NONE\",\"collision\":1}",
        "{\"stage\":\"NONE\",\"collision\":false,\"max_stage\":\"FB\",\"frames\":-1}",
        "{\"stage\":\"NONE\",\"collision\":false,\"max_stage\":\"FB\",\"frames\":1.5}",
        ("{\"stage\":\"NONE\",\"collision\":false,\"max_stage\":\"FB\",\"frames\":1,"
         "\"input_errors\":0,\"t_not_increasing\":0,\"last_t\":\"x\"}"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *j = cJSON_Parse(bad[i]);
        err.msg[0] = 0;
        CHECK_EQ_INT(aeb_state_from_json(j, &s, &err), AEB_E_BAD_STATE);
        CHECK(err.msg[0] != 0);
        CHECK(s.frames == ref.frames);
        cJSON_Delete(j);
    }
    CHECK_EQ_INT(aeb_state_from_json(NULL, &s, &err), AEB_E_BAD_STATE);
    /* a good one minus one count */
    cJSON *j = aeb_state_to_json(&ref);
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "counts"),
                                            "collision");
    CHECK_EQ_INT(aeb_state_from_json(j, &s, &err), AEB_E_BAD_STATE);
    CHECK(strstr(err.msg, "counts.collision") != NULL);
    cJSON_Delete(j);
}

TEST(batch_splits_identical)
{
    aeb_params p;
    aeb_params_default(&p);
    static aeb_input frames[2000];
    static aeb_output ref[2000], got[2000];
    unsigned seed = 12345;
    for (size_t si = 0; si < aeb_scenario_count(); si++) {
        size_t n = frames_of(aeb_scenario_get(si), frames, 2000);
        aeb_state s;
        aeb_state_init(&s);
        for (size_t i = 0; i < n; i++)
            aeb_step(&p, &s, &frames[i], &ref[i]);
        cJSON *sj = aeb_summary_to_json(&s, &p);
        char *ref_summary = cJSON_PrintUnformatted(sj);
        cJSON_Delete(sj);
        /* several random splits; the state crosses JSON text at every boundary */
        for (int trial = 0; trial < 5; trial++) {
            aeb_state b;
            aeb_state_init(&b);
            size_t i = 0;
            while (i < n) {
                seed = seed * 1103515245u + 12345u;
                size_t len = 1 + (seed >> 16) % (trial == 0 ? 3 : 200);
                for (size_t k = 0; k < len && i < n; k++, i++)
                    aeb_step(&p, &b, &frames[i], &got[i]);
                CHECK_EQ_INT(through_json(&b), 0);
            }
            bool same = true;
            for (size_t k = 0; k < n; k++)
                same = same && same_output(&ref[k], &got[k]);
            CHECK(same);
            sj = aeb_summary_to_json(&b, &p);
            char *sum = cJSON_PrintUnformatted(sj);
            cJSON_Delete(sj);
            CHECK_STR(sum, ref_summary);
            free(sum);
        }
        free(ref_summary);
    }
}

TEST(event_json)
{
    aeb_params p;
    aeb_params_default(&p);
    aeb_state s;
    aeb_state_init(&s);
    aeb_output o;
    aeb_input in = mio(1.5, 10, 0, -10);
    in.has |= 0;
    aeb_step(&p, &s, &in, &o);
    cJSON *j = NULL;
    for (int i = 0; i < o.n_events; i++)
        if (o.events[i].type == AEB_EV_COLLISION)
            j = aeb_event_to_json(&o.events[i]);
    CHECK(j != NULL);
    char *txt = cJSON_PrintUnformatted(j);
    CHECK_STR(txt, "{\"event\":\"collision\",\"frame\":0,\"t\":1.5,\"impact_speed\":10,"
                   "\"impact_speed_kmh\":36,\"ego_v\":10}");
    free(txt);
    cJSON_Delete(j);
    /* fcw onset with a NaN field prints null */
    aeb_event e = {.type = AEB_EV_FCW_ONSET,
                   .frame = 3,
                   .t = 0.25,
                   .ttc = NAN,
                   .range = 1,
                   .ego_v = 2,
                   .rel_v = -1};
    j = aeb_event_to_json(&e);
    txt = cJSON_PrintUnformatted(j);
    CHECK_STR(txt, "{\"event\":\"fcw_onset\",\"frame\":3,\"t\":0.25,\"ttc\":null,\"range\":1,"
                   "\"ego_v\":2,\"rel_v\":-1}");
    free(txt);
    cJSON_Delete(j);
    CHECK_STR(aeb_stage_name(AEB_PB2), "PB2");
    CHECK_EQ_INT(aeb_stage_from_name("FB"), AEB_FB);
    CHECK_EQ_INT(aeb_stage_from_name("fb"), -1);
    CHECK_STR(aeb_event_name(AEB_EV_RELEASE), "aeb_release");
}

int main(void)
{
    RUN(scenario_table);
    RUN(open_loop_table_6_3);
    RUN(open_loop_simulator);
    RUN(closed_loop_tables_6_1_6_2);
    RUN(closed_loop_latency_makes_it_worse);
    RUN(quantities);
    RUN(one_transition_per_frame_and_latch);
    RUN(fcw_release);
    RUN(collision_episodes);
    RUN(bad_inputs);
    RUN(params);
    RUN(state_json_round_trip);
    RUN(state_json_bad);
    RUN(batch_splits_identical);
    RUN(event_json);
    return TEST_DONE();
}
