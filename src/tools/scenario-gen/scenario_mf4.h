/*
 * scenario_mf4.h - writes one scenario of AEB_SPEC §4 (aeb_scenario.h) as an open-loop MF4
 * recording with the encodings a vehicle logger would use. Shared by the scenario-gen tool
 * and the tests that read the files back.
 *
 * One data group, one channel group "AEB 100 Hz", channels (SG_CH_* indexes):
 *   t           f64   s      master (time)
 *   VehSpd      u16   km/h   linear: phys = 0.01 * raw           (ego speed)
 *   VehAccLong  i16   m/s^2  linear: phys = 0.001 * raw          (ego acceleration)
 *   ObjDist     f32   m      identity, invalidation bit          (range to the lead)
 *   ObjRelSpd   f32   m/s    identity, invalidation bit          (v_lead - v_ego)
 *   ObjAccLong  i16   m/s^2  linear 0.001, invalidation bit      (lead acceleration)
 *   ObjStatus   u8    -      value->text 0 NO_OBJECT, 1 TRACKED
 * The Obj* values are invalid (and ObjStatus is NO_OBJECT) on frames where the sensor does
 * not report the lead. The output is deterministic: same options, same bytes.
 */
#ifndef SCENARIO_MF4_H
#define SCENARIO_MF4_H

#include "aeb_scenario.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    SG_CH_T = 0,
    SG_CH_EGO_V,
    SG_CH_EGO_A,
    SG_CH_RANGE,
    SG_CH_REL_V,
    SG_CH_LEAD_A,
    SG_CH_STATUS,
    SG_N_CHANNELS
};

/* Channel names by SG_CH_* index, and the AEB input field each one feeds ("t", "ego_v",
 * "ego_a", "range", "rel_v", "lead_a", NULL for ObjStatus). Static strings. */
const char *sg_channel_name(int ch);
const char *sg_channel_field(int ch);

/* Resolutions of the integer channels (phys per raw unit). */
#define SG_SPEED_RES_KMH 0.01
#define SG_ACCEL_RES     0.001

/* Standstill frames between repetitions of the scenario in long recordings. */
#define SG_GAP_FRAMES 100

typedef struct sg_opts {
    double dt;       /* frame period, s (0.01) */
    uint64_t frames; /* 0: one run, frame 0 to the first frame with gap <= 0 (contact).
                        N: exactly N frames: the run repeated, each repetition followed by
                        SG_GAP_FRAMES frames of ego standstill with no object; time keeps
                        increasing (t = frame index * dt). */
    bool compress;   /* DZ (transposed deflate) data blocks */
} sg_opts;

void sg_opts_default(sg_opts *o);

/* One frame of the recording, in physical units (speed in km/h as logged), and whether the
 * lead is reported. idx is the frame index in the recording. Generates frames in order;
 * state lives in sg_frames. */
typedef struct sg_frame {
    double t, ego_kmh, ego_a, range, rel_v, lead_a;
    bool object;
} sg_frame;

typedef struct sg_frames {
    const aeb_scenario *sc;
    sg_opts o;
    uint64_t idx;       /* next frame index */
    uint64_t gap_left;  /* standstill frames left in the current gap */
    bool run_done;      /* the current run reached contact */
    aeb_scenario_gen g; /* the current run */
} sg_frames;

void sg_frames_init(sg_frames *f, const aeb_scenario *sc, const sg_opts *o);
/* Produces the next frame; returns false when the recording is complete. */
bool sg_frames_next(sg_frames *f, sg_frame *out);

/* Writes sc to path. *frames_out (may be NULL) receives the frame count. Returns 0, or -1
 * with a message in errbuf (I/O or writer error). */
int sg_write(const aeb_scenario *sc, const char *path, const sg_opts *o, uint64_t *frames_out,
             char *errbuf, size_t errlen);

#endif
