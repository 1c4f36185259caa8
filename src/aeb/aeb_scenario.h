/*
 * aeb_scenario.h - the Euro NCAP car-to-car rear scenarios of AEB_SPEC §4 (plus the two
 * late-detection stress cases) and the kinematic model of §5: a frame generator (what an
 * ideal sensor reports at each frame) and a closed-/open-loop simulator that runs libaeb on
 * those frames and, in closed loop, brakes the ego with the requested deceleration through a
 * first-order lag (exact discretisation).
 *
 * Model: ego and lead are points on a line, range = gap (bumper to bumper). Frame k is at
 * t_k = k*dt. Per step the ego acceleration follows a' = (u - a)/tau for the request
 * u = -decel of frame k (k - latency frames) held over the step, discretised exactly:
 * a_{k+1} = u + (a_k - u)*exp(-dt/tau); speed and position advance as v_{k+1} = v_k + a_k*dt
 * and x_{k+1} = x_k + (v_k + v_{k+1})/2*dt (this reproduces tables 6.1-6.3 to the printed
 * digits). The speed is clamped at 0 (standstill instant interpolated; the stop gap is the
 * gap on the first frame at standstill). The lead drives at constant speed, or (CCRb) brakes
 * with a step deceleration from lead_brake_t to standstill (exact). Contact is gap <= 0; the
 * contact instant and relative impact speed are interpolated linearly within the step. Used
 * by the unit tests (tables 6.1-6.3) and by the scenario-gen tool.
 */
#ifndef AEB_SCENARIO_H
#define AEB_SCENARIO_H

#include "aeb.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One scenario. All in SI. */
typedef struct aeb_scenario {
    const char *name;        /* "CCRs-10", ..., "CCRs-50-reveal0.6s" */
    const char *description; /* one line */
    double ego_v0;           /* m/s, initial ego speed */
    double lead_v0;          /* m/s, initial lead speed */
    double gap0;             /* m, initial gap */
    double lead_decel;       /* m/s^2 (positive), 0 = the lead never brakes */
    double lead_brake_t;     /* s, when the lead starts braking */
    double reveal_ttc;       /* s, 0 = lead always reported; else reported (and then kept)
                                from the first frame whose true TTC < reveal_ttc */
    double t_origin;         /* s, origin of the times in the spec tables (CCRb: 1.0) */
} aeb_scenario;

/* Number of scenarios (12) and the i-th one (NULL if i is out of range). Static data. */
size_t aeb_scenario_count(void);
const aeb_scenario *aeb_scenario_get(size_t i);
/* The scenario with that exact name, or NULL. */
const aeb_scenario *aeb_scenario_find(const char *name);

/* Ground truth at a frame. */
typedef struct aeb_truth {
    double t;
    double ego_x, ego_v, ego_a;
    double lead_x, lead_v, lead_a;
    double gap;   /* lead_x - ego_x */
    bool visible; /* the sensor reports the lead on this frame */
} aeb_truth;

/* The kinematic model of one run, advanced one frame at a time. A plain value. */
typedef struct aeb_scenario_gen {
    const aeb_scenario *sc;
    double dt, tau;
    uint64_t k; /* index of the next frame */
    double ego_x, ego_v, ego_a;
    double lead_x, lead_v;
    bool revealed;
    bool stopped;        /* ego reached standstill during the last advance */
    bool contact;        /* gap reached 0 during the last advance */
    double event_t;      /* contact or standstill instant (s) when contact/stopped */
    double impact_speed; /* relative impact speed at the contact instant, m/s */
    double event_gap;    /* gap on the first frame at standstill, m (when stopped) */
} aeb_scenario_gen;

/* Starts a run of sc at t = 0. dt > 0 is the frame period, tau > 0 the brake lag. */
void aeb_scenario_gen_init(aeb_scenario_gen *g, const aeb_scenario *sc, double dt, double tau);

/* The sensor view of the current frame k (t = k*dt): t, ego_v, ego_a, and, when the lead is
 * visible, range, rel_v and lead_a. tr (may be NULL) receives the ground truth. Does not
 * advance; calling it twice gives the same frame. */
void aeb_scenario_gen_frame(aeb_scenario_gen *g, aeb_input *in, aeb_truth *tr);

/* Advances from frame k to frame k+1 with the ego braking request decel (m/s^2, >= 0; 0 =
 * open loop: the ego keeps its speed). Sets g->contact (event_t, impact_speed) when the gap
 * reaches 0 within the step, else g->stopped (event_t, event_gap) when the ego reaches
 * standstill; a stopped ego stays stopped. The motion continues past a contact (points on a
 * line): callers end the run there. */
void aeb_scenario_gen_advance(aeb_scenario_gen *g, double decel);

/* Simulation options. */
typedef struct aeb_sim_opts {
    double dt;        /* frame period, s (0.01) */
    double tau;       /* brake lag, s (0.07) */
    double latency;   /* extra dead time, s, rounded to whole frames, <= 255 frames (0) */
    bool closed_loop; /* apply the AEB request to the ego */
    double max_t;     /* stop after this time, s (60) */
} aeb_sim_opts;

void aeb_sim_opts_default(aeb_sim_opts *o); /* the values in parentheses, closed loop */

/* Result of one simulated run. Times are absolute (s from the run start); NaN = never. */
typedef struct aeb_sim_result {
    bool collision;
    double contact_t;    /* interpolated contact instant */
    double impact_speed; /* interpolated relative impact speed, m/s */
    bool stopped;        /* ego reached standstill */
    double stop_t, stop_gap;
    double min_gap; /* over frames, contact (0) and standstill */
    double end_t;
    uint64_t frames;                   /* frames evaluated */
    double stage_t[AEB_STAGE_COUNT];   /* first entry of each stage */
    double stage_ttc[AEB_STAGE_COUNT]; /* ttc output on that frame */
    aeb_state state;                   /* final libaeb state (summary accumulators) */
} aeb_sim_result;

/* Runs sc with libaeb (params p) until contact, ego standstill or max_t. Returns AEB_OK or
 * AEB_E_BAD_PARAM (bad options or parameters; err says which). */
int aeb_scenario_simulate(const aeb_scenario *sc, const aeb_params *p, const aeb_sim_opts *o,
                          aeb_sim_result *r, aeb_err *err);

#ifdef __cplusplus
}
#endif
#endif
