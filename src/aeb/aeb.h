/*
 * aeb.h - libaeb: the AEB decision logic of docs/AEB_SPEC.md (MathWorks cascade
 * FCW -> PB1 -> PB2 -> FB) as pure functions over an explicit state.
 *
 * libaeb takes frames, not files: it knows nothing of MF4 or the mesh. One aeb_state follows
 * one recording (stream). aeb_step() evaluates one frame: per-frame quantities (§3.2), at most
 * one state transition (§3.3), the per-frame outputs (§2.2) and the events of that frame
 * (§2.3); it also accumulates the end-of-recording summary in the state. The state is a plain
 * value that serialises to JSON and back exactly (doubles as %.17g strings), so a recording
 * may be processed in any split of batches, by any process, with bit-identical results.
 *
 * State machine (one transition per frame, checked in this order; see aeb.c step()):
 *
 *      NONE --threat(T_fcw)--> FCW --threat(T_pb1)--> PB1 --threat(T_pb2)--> PB2 --threat(T_fb)-->
 * FB ^                      |                      |                      |                    |
 *        +--not closing or------+                      |                      | | |  ttc
 * >= 1.2*T_fcw                           |                      |                    |
 *        +-----------------------stop (ego_v <= stop_v), braking is latched until
 * then-------------+
 *
 * Units are SI (m, s, m/s, m/s^2); decelerations are positive magnitudes; rel_v = v_lead -
 * v_ego (negative = closing). Output values that are "null" in the spec are NaN here.
 *
 * cJSON ownership: functions returning cJSON* return a new tree the caller deletes;
 * const cJSON* arguments are borrowed for the call only.
 */
#ifndef AEB_H
#define AEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AEB_VERSION "1.0.0"

/* ------------------------------------------------------------------ status codes */
typedef enum aeb_code {
    AEB_OK = 0,
    AEB_E_BAD_PARAM, /* a parameter is missing, of the wrong type or out of range */
    AEB_E_BAD_STATE, /* a serialised state is malformed */
    AEB_E_NOMEM      /* allocation failed */
} aeb_code;

/* Static name of a code ("BAD_PARAM"); "UNKNOWN" for other values. */
const char *aeb_strerror(int code);

/* An error: code and a message naming the JSON field. */
typedef struct aeb_err {
    int code;
    char msg[256];
} aeb_err;

/* ------------------------------------------------------------------ stages */
typedef enum aeb_stage {
    AEB_NONE = 0,
    AEB_FCW = 1,
    AEB_PB1 = 2,
    AEB_PB2 = 3,
    AEB_FB = 4
} aeb_stage;
#define AEB_STAGE_COUNT 5

/* "NONE", "FCW", "PB1", "PB2", "FB"; "?" for out-of-range values. Static string. */
const char *aeb_stage_name(aeb_stage s);
/* Inverse of aeb_stage_name: returns the stage or -1 for an unknown name / NULL. */
int aeb_stage_from_name(const char *name);

/* ------------------------------------------------------------------ parameters (§3.1) */
typedef struct aeb_params {
    double t_react;            /* s, driver reaction time assumed by FCW (1.2) */
    double a_driver;           /* m/s^2, driver braking assumed by FCW (4.0) */
    double a_pb1, a_pb2, a_fb; /* m/s^2, stage decelerations (3.8 / 5.3 / 9.8) */
    double time_margin;        /* s, added to the PB/FB stopping times (0) */
    double fcw_release_factor; /* FCW hysteresis factor (1.2) */
    double stop_v;             /* m/s, standstill threshold that releases braking (0.1) */
    double headway_offset;     /* m, subtracted from range (0) */
    double relv_min, relv_max; /* m/s, TTC denominator clamp (0.01, 100) */
} aeb_params;

/* Fills p with the defaults of §3.1. */
void aeb_params_default(aeb_params *p);

/* Checks that every parameter is finite and in range (decelerations > 0, t_react >= 0,
 * time_margin >= 0, fcw_release_factor >= 1, stop_v >= 0, 0 < relv_min <= relv_max).
 * Returns AEB_OK or AEB_E_BAD_PARAM (err names the parameter; err may be NULL). */
int aeb_params_check(const aeb_params *p, aeb_err *err);

/* Applies the members of a JSON object to p (members absent keep p's value), then checks
 * the result. Unknown members and non-numeric values are errors. obj NULL = no change.
 * Returns AEB_OK or AEB_E_BAD_PARAM (p is unchanged on error). */
int aeb_params_from_json(const cJSON *obj, aeb_params *p, aeb_err *err);

/* All parameters as a JSON object (caller deletes); NULL on allocation failure. */
cJSON *aeb_params_to_json(const aeb_params *p);

/* ------------------------------------------------------------------ frames (§2.1) */
/* Presence bits of aeb_input.has. MIO present = both AEB_HAS_RANGE and AEB_HAS_REL_V. */
#define AEB_HAS_RANGE  0x1u
#define AEB_HAS_REL_V  0x2u
#define AEB_HAS_EGO_A  0x4u
#define AEB_HAS_LEAD_A 0x8u

typedef struct aeb_input {
    double t;      /* s */
    double ego_v;  /* m/s */
    double ego_a;  /* m/s^2, if AEB_HAS_EGO_A */
    double range;  /* m, if AEB_HAS_RANGE */
    double rel_v;  /* m/s, if AEB_HAS_REL_V */
    double lead_a; /* m/s^2, if AEB_HAS_LEAD_A */
    unsigned has;  /* AEB_HAS_* bits */
} aeb_input;

/* ------------------------------------------------------------------ events (§2.3) */
typedef enum aeb_event_type {
    AEB_EV_FCW_ONSET = 0, /* fcw false -> true */
    AEB_EV_BRAKE_ONSET,   /* aeb_status 0 -> >= 1 */
    AEB_EV_STAGE_CHANGE,  /* any state change */
    AEB_EV_COLLISION,     /* collision false -> true */
    AEB_EV_RELEASE,       /* PB1/PB2/FB -> NONE */
    AEB_EV_COUNT
} aeb_event_type;

/* "fcw_onset", "brake_onset", "stage_change", "collision", "aeb_release". Static string. */
const char *aeb_event_name(aeb_event_type e);

/* One event. Fields not relevant to the type are NaN / AEB_NONE; range, ttc, rel_v are NaN
 * when they were null on that frame. */
typedef struct aeb_event {
    aeb_event_type type;
    uint64_t frame;      /* 0-based frame index within the recording */
    double t;            /* s */
    aeb_stage from, to;  /* stage_change: from/to; brake_onset: to = stage */
    double ttc;          /* fcw_onset, brake_onset, stage_change */
    double range;        /* fcw_onset, brake_onset, aeb_release (stop gap) */
    double ego_v;        /* fcw_onset, brake_onset, collision */
    double rel_v;        /* fcw_onset */
    double impact_speed; /* collision: -rel_v of the contact frame, m/s */
} aeb_event;

/* The event as a JSON object {"event": NAME, "frame": n, "t": ..., ...} with the payload
 * fields of §2.3 (null for NaN values; collision also carries impact_speed_kmh). Caller
 * deletes; NULL on allocation failure. */
cJSON *aeb_event_to_json(const aeb_event *ev);

/* ------------------------------------------------------------------ outputs (§2.2) */
#define AEB_MAX_EVENTS 5 /* at most one of each type per frame */

/* Per-frame flags (aeb_output.flags). */
#define AEB_OUT_INPUT_ERROR      0x1u /* a non-finite or inconsistent input (rule 6) */
#define AEB_OUT_T_NOT_INCREASING 0x2u /* t <= the previous frame's t */

typedef struct aeb_output {
    double t;                         /* copied from the input (NaN if it was not finite) */
    double ttc;                       /* s, NaN = null */
    aeb_stage state;                  /* after this frame's transition */
    bool fcw;                         /* state != NONE */
    aeb_stage brake_stage;            /* state if PB1/PB2/FB, else NONE */
    int aeb_status;                   /* 0 NONE/FCW, 1 PB1, 2 PB2, 3 FB */
    double decel;                     /* requested deceleration, m/s^2 (0 / a_pb1 / a_pb2 / a_fb) */
    bool collision;                   /* MIO present and headway <= 0 */
    double t_fcw, t_pb1, t_pb2, t_fb; /* stopping-time thresholds (NaN if ego_v not finite) */
    double ettc;                      /* s, NaN = null (needs lead_a; missing ego_a counts as 0) */
    unsigned flags;                   /* AEB_OUT_* */
    int n_events;                     /* events of this frame, in events[0..n_events) */
    aeb_event events[AEB_MAX_EVENTS];
} aeb_output;

/* ------------------------------------------------------------------ state */
/* Everything carried from one frame to the next, including the summary accumulators.
 * A plain value: copy it freely. Initialise with aeb_state_init. */
typedef struct aeb_state {
    aeb_stage stage;  /* current state */
    bool collision;   /* collision output of the previous frame */
    uint64_t frames;  /* frames evaluated so far */
    bool have_last_t; /* last_t is set */
    double last_t;    /* last finite timestamp */
    /* summary */
    uint64_t input_errors;     /* frames with AEB_OUT_INPUT_ERROR */
    uint64_t t_not_increasing; /* frames with AEB_OUT_T_NOT_INCREASING */
    aeb_stage max_stage;
    bool have_min_ttc;
    double min_ttc, min_ttc_t;
    uint64_t counts[AEB_EV_COUNT];
    bool have_first_fcw, have_first_brake, have_first_collision;
    double first_fcw_t, first_brake_t, first_collision_t;
    double first_impact_speed; /* m/s, of the first collision */
} aeb_state;

/* The state of a new recording (stage NONE, empty summary). */
void aeb_state_init(aeb_state *s);

/* Evaluates one frame: updates s and fills out (all fields). Never fails: bad inputs are
 * handled per §3.3 rule 6 and flagged in out->flags and the summary. p must have passed
 * aeb_params_check. */
void aeb_step(const aeb_params *p, aeb_state *s, const aeb_input *in, aeb_output *out);

/* The state as a JSON object. Its doubles are decimal strings printed with %.17g, so they
 * round-trip exactly even through processors that re-print JSON numbers with fewer digits.
 * Caller deletes; NULL on OOM. */
cJSON *aeb_state_to_json(const aeb_state *s);

/* Reads a state written by aeb_state_to_json. Returns AEB_OK, or AEB_E_BAD_STATE with err
 * naming the field (s is unchanged on error). */
int aeb_state_from_json(const cJSON *obj, aeb_state *s, aeb_err *err);

/* The end-of-recording summary of §2.3 from the state: {"frames", "min_ttc": {"value","t"}
 * or null, "max_stage", "counts": {event: n}, "first_fcw_t", "first_brake_t",
 * "first_collision": {"t","impact_speed","impact_speed_kmh"} or null, "input_errors",
 * "t_not_increasing", "params": {...}}. p may be NULL (no "params"). Caller deletes; NULL
 * on OOM. */
cJSON *aeb_summary_to_json(const aeb_state *s, const aeb_params *p);

#ifdef __cplusplus
}
#endif
#endif
