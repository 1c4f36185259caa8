/*
 * scenario_mf4.c - the open-loop recordings of the AEB scenarios (see scenario_mf4.h): the
 * frame sequence (the kinematic model of aeb_scenario.h run open loop, repeated with
 * standstill gaps for long recordings) and its MF4 encoding through libmf4's writer.
 *
 * Invariants: frame i has t = i * dt exactly; a run ends on its first frame with gap <= 0;
 * nothing depends on the clock or the environment (deterministic output).
 */
#include "scenario_mf4.h"

#include "mf4.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const ch_names[SG_N_CHANNELS] = {
    "t", "VehSpd", "VehAccLong", "ObjDist", "ObjRelSpd", "ObjAccLong", "ObjStatus"};
static const char *const ch_fields[SG_N_CHANNELS] = {"t",     "ego_v",  "ego_a", "range",
                                                     "rel_v", "lead_a", NULL};

const char *sg_channel_name(int ch)
{
    return (ch >= 0 && ch < SG_N_CHANNELS) ? ch_names[ch] : NULL;
}

const char *sg_channel_field(int ch)
{
    return (ch >= 0 && ch < SG_N_CHANNELS) ? ch_fields[ch] : NULL;
}

void sg_opts_default(sg_opts *o)
{
    o->dt = 0.01;
    o->frames = 0;
    o->compress = false;
}

/* ------------------------------------------------------------------ frames */

#define MAX_RUN_T 120.0 /* a run that never reaches contact ends here */

void sg_frames_init(sg_frames *f, const aeb_scenario *sc, const sg_opts *o)
{
    memset(f, 0, sizeof *f);
    f->sc = sc;
    f->o = *o;
    aeb_scenario_gen_init(&f->g, sc, o->dt, 0.07);
}

bool sg_frames_next(sg_frames *f, sg_frame *out)
{
    if (f->o.frames ? f->idx >= f->o.frames : f->run_done)
        return false;
    memset(out, 0, sizeof *out);
    out->t = (double)f->idx * f->o.dt;
    f->idx++;
    if (f->gap_left > 0) { /* ego at standstill, nothing ahead */
        if (--f->gap_left == 0) {
            aeb_scenario_gen_init(&f->g, f->sc, f->o.dt, 0.07);
            f->run_done = false;
        }
        return true;
    }
    aeb_input in;
    aeb_truth tr;
    aeb_scenario_gen_frame(&f->g, &in, &tr);
    out->ego_kmh = in.ego_v * 3.6;
    out->ego_a = in.ego_a;
    out->object = tr.visible;
    if (tr.visible) {
        out->range = in.range;
        out->rel_v = in.rel_v;
        out->lead_a = in.lead_a;
    }
    if (tr.gap <= 0 || tr.t >= MAX_RUN_T) {
        f->run_done = true;
        if (f->o.frames)
            f->gap_left = SG_GAP_FRAMES;
    } else {
        aeb_scenario_gen_advance(&f->g, 0.0);
    }
    return true;
}

/* ------------------------------------------------------------------ MF4 */

static int fail(char *errbuf, size_t errlen, const char *what, const mf4_error *e)
{
    snprintf(errbuf, errlen, "%s: %s", what, e->message[0] ? e->message : mf4_strerror(e->code));
    return -1;
}

int sg_write(const aeb_scenario *sc, const char *path, const sg_opts *o, uint64_t *frames_out,
             char *errbuf, size_t errlen)
{
    static const double speed_lin[2] = {0.0, SG_SPEED_RES_KMH};
    static const double accel_lin[2] = {0.0, SG_ACCEL_RES};
    static const double status_keys[2] = {0, 1};
    static const char *const status_texts[3] = {"NO_OBJECT", "TRACKED", NULL};
    const mf4_wchannel ch[SG_N_CHANNELS] = {
        {.name = ch_names[SG_CH_T], .unit = "s", .type = MF4_W_F64, .comment = "time"},
        {.name = ch_names[SG_CH_EGO_V],
         .unit = "km/h",
         .type = MF4_W_U16,
         .comment = "ego vehicle speed",
         .conv = {.type = MF4_CONV_LINEAR, .n_params = 2, .params = speed_lin}},
        {.name = ch_names[SG_CH_EGO_A],
         .unit = "m/s^2",
         .type = MF4_W_I16,
         .comment = "ego longitudinal acceleration",
         .conv = {.type = MF4_CONV_LINEAR, .n_params = 2, .params = accel_lin}},
        {.name = ch_names[SG_CH_RANGE],
         .unit = "m",
         .type = MF4_W_F32,
         .comment = "distance to the most important object (bumper to bumper)",
         .invalidation = true},
        {.name = ch_names[SG_CH_REL_V],
         .unit = "m/s",
         .type = MF4_W_F32,
         .comment = "object speed minus ego speed",
         .invalidation = true},
        {.name = ch_names[SG_CH_LEAD_A],
         .unit = "m/s^2",
         .type = MF4_W_I16,
         .comment = "object longitudinal acceleration",
         .invalidation = true,
         .conv = {.type = MF4_CONV_LINEAR, .n_params = 2, .params = accel_lin}},
        {.name = ch_names[SG_CH_STATUS],
         .type = MF4_W_U8,
         .comment = "object track status",
         .conv = {.type = MF4_CONV_VALUE_TEXT,
                  .n_params = 2,
                  .params = status_keys,
                  .n_texts = 3,
                  .texts = status_texts}},
    };
    char comment[512];
    snprintf(comment, sizeof comment,
             "wsmesh scenario-gen: %s (%s). Open loop (no AEB applied), dt %.3f s.", sc->name,
             sc->description, o->dt);
    mf4_writer_opts wo = {.program = "scengen",
                          .start_time_ns = UINT64_C(1767225600000000000), /* 2026-01-01 */
                          .comment = comment};
    mf4_writer *w = NULL;
    mf4_error e = {0};
    if (mf4_writer_open(&w, path, &wo, &e) != MF4_OK)
        return fail(errbuf, errlen, path, &e);
    char acq[64];
    snprintf(acq, sizeof acq, "AEB %.0f Hz", 1.0 / o->dt);
    mf4_wgroup g = {.acq_name = acq,
                    .comment = sc->name,
                    .channels = ch,
                    .n_channels = SG_N_CHANNELS,
                    .compress = o->compress};
    if (mf4_writer_begin_group(w, &g, &e) != MF4_OK) {
        mf4_writer_abort(w);
        return fail(errbuf, errlen, path, &e);
    }
    sg_frames fr;
    sg_frames_init(&fr, sc, o);
    sg_frame f;
    uint64_t n = 0;
    while (sg_frames_next(&fr, &f)) {
        double raw[SG_N_CHANNELS] = {
            f.t,     f.ego_kmh / SG_SPEED_RES_KMH, f.ego_a / SG_ACCEL_RES, f.range,
            f.rel_v, f.lead_a / SG_ACCEL_RES,      f.object ? 1.0 : 0.0};
        uint8_t valid[SG_N_CHANNELS] = {1, 1, 1, f.object, f.object, f.object, 1};
        if (mf4_writer_record(w, raw, valid, &e) != MF4_OK) {
            mf4_writer_abort(w);
            return fail(errbuf, errlen, path, &e);
        }
        n++;
    }
    if (mf4_writer_close(w, &e) != MF4_OK)
        return fail(errbuf, errlen, path, &e);
    if (frames_out)
        *frames_out = n;
    return 0;
}
