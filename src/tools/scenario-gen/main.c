/*
 * main.c - scenario-gen: writes the Euro NCAP car-to-car rear scenarios of AEB_SPEC §4 (and
 * the two late-detection stress cases) as open-loop MF4 recordings, one file per scenario
 * (DIR/<name>.mf4), plus DIR/channels.json mapping AEB input fields to channel names (the
 * `channels` argument of an mf4-reader job). Deterministic.
 *
 *   scenario-gen [--out DIR] [--frames N] [--dt S] [--compress] [NAME...]
 *   scenario-gen --list
 *   scenario-gen --table closed|open    (AEB_SPEC table 6.2 / 6.3 from the model)
 *
 * Exit status: 0 success, 1 a file could not be written, 2 usage error.
 */
#include "scenario_mf4.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: scenario-gen [--out DIR] [--frames N] [--dt S] [--compress] [NAME...]\n"
            "       scenario-gen --list | --table closed|open\n"
            "Writes each scenario (default: all) as DIR/NAME.mf4 (DIR default '.'), an open-loop\n"
            "recording at 1/dt Hz (dt default 0.01) that ends on the first frame of contact.\n"
            "--frames N writes exactly N frames: the run repeated, each time followed by %d\n"
            "frames of standstill with no object (for long recordings / benchmarks).\n"
            "--compress stores the data in DZ blocks (transposed deflate).\n"
            "Also writes DIR/channels.json: {AEB input field: channel name}.\n"
            "--table closed|open prints AEB_SPEC table 6.2 / 6.3 as the kinematic model\n"
            "computes it (times of CCRb cases from the start of lead braking).\n",
            SG_GAP_FRAMES);
}

/* Prints table 6.2 (closed loop) or 6.3 (open loop) of AEB_SPEC as the model computes it. */
static int print_table(bool closed)
{
    aeb_params p;
    aeb_params_default(&p);
    aeb_sim_opts so;
    aeb_sim_opts_default(&so);
    so.closed_loop = closed;
    printf("| scenario | collision | impact (km/h) | min TTC (s) | FCW t / TTC | brake t / TTC | "
           "PB2 t | FB t | max stage | min gap / stop gap (m) |\n"
           "|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < aeb_scenario_count(); i++) {
        const aeb_scenario *sc = aeb_scenario_get(i);
        aeb_sim_result r;
        aeb_err err;
        if (aeb_scenario_simulate(sc, &p, &so, &r, &err) != AEB_OK) {
            fprintf(stderr, "scenario-gen: %s: %s\n", sc->name, err.msg);
            return 1;
        }
        char impact[16] = "-", pb2[16] = "-", fb[16] = "-", stop[16] = "-";
        double o = sc->t_origin;
        if (r.collision)
            snprintf(impact, sizeof impact, "%.1f", r.impact_speed * 3.6);
        if (!isnan(r.stage_t[AEB_PB2]))
            snprintf(pb2, sizeof pb2, "%.2f", r.stage_t[AEB_PB2] - o);
        if (!isnan(r.stage_t[AEB_FB]))
            snprintf(fb, sizeof fb, "%.2f", r.stage_t[AEB_FB] - o);
        if (r.stopped)
            snprintf(stop, sizeof stop, "%.2f", r.stop_gap);
        printf("| %s | %s | %s | %.3f | %.2f / %.3f | %.2f / %.3f | %s | %s | %s | %.2f / %s |\n",
               sc->name, r.collision ? "YES" : "no", impact, r.state.min_ttc,
               r.stage_t[AEB_FCW] - o, r.stage_ttc[AEB_FCW], r.stage_t[AEB_PB1] - o,
               r.stage_ttc[AEB_PB1], pb2, fb, aeb_stage_name(r.state.max_stage), r.min_gap, stop);
    }
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !*s || *end || s[0] == '-' || v == 0 || v > (1ULL << 40))
        return -1;
    *out = v;
    return 0;
}

static int write_channels_json(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/channels.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "scenario-gen: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fputs("{", f);
    bool first = true;
    for (int i = 1; i < SG_N_CHANNELS; i++) { /* t is the master: not a mapped field */
        if (!sg_channel_field(i))
            continue;
        fprintf(f, "%s\"%s\": \"%s\"", first ? "" : ", ", sg_channel_field(i), sg_channel_name(i));
        first = false;
    }
    fputs("}\n", f);
    if (fclose(f) != 0) {
        fprintf(stderr, "scenario-gen: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    sg_opts o;
    sg_opts_default(&o);
    const char *dir = ".";
    const char *names[64];
    size_t n_names = 0;
    bool list = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--list") == 0) {
            list = true;
        } else if (strcmp(a, "--compress") == 0) {
            o.compress = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--table") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "closed") != 0 && strcmp(v, "open") != 0) {
                fprintf(stderr, "scenario-gen: --table: expected closed or open\n");
                return 2;
            }
            return print_table(strcmp(v, "closed") == 0);
        } else if ((strcmp(a, "--out") == 0 || strcmp(a, "--frames") == 0 ||
                    strcmp(a, "--dt") == 0) &&
                   i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(a, "--out") == 0) {
                dir = v;
            } else if (strcmp(a, "--frames") == 0) {
                if (parse_u64(v, &o.frames) != 0) {
                    fprintf(stderr, "scenario-gen: --frames: expected an integer in 1..2^40\n");
                    return 2;
                }
            } else {
                char *end;
                o.dt = strtod(v, &end);
                if (*end || !(o.dt >= 0.001 && o.dt <= 1.0)) {
                    fprintf(stderr, "scenario-gen: --dt: expected seconds in [0.001, 1]\n");
                    return 2;
                }
            }
        } else if (a[0] == '-') {
            fprintf(stderr, "scenario-gen: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        } else {
            if (!aeb_scenario_find(a)) {
                fprintf(stderr, "scenario-gen: unknown scenario '%s' (see --list)\n", a);
                return 2;
            }
            if (n_names == sizeof names / sizeof names[0]) {
                fprintf(stderr, "scenario-gen: too many scenario names\n");
                return 2;
            }
            names[n_names++] = a;
        }
    }
    if (list) {
        for (size_t i = 0; i < aeb_scenario_count(); i++) {
            const aeb_scenario *sc = aeb_scenario_get(i);
            printf("%-20s %s\n", sc->name, sc->description);
        }
        return 0;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "scenario-gen: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    if (n_names == 0)
        for (size_t i = 0; i < aeb_scenario_count(); i++)
            names[n_names++] = aeb_scenario_get(i)->name;
    for (size_t i = 0; i < n_names; i++) {
        char path[4096], err[512];
        snprintf(path, sizeof path, "%s/%s.mf4", dir, names[i]);
        uint64_t frames = 0;
        if (sg_write(aeb_scenario_find(names[i]), path, &o, &frames, err, sizeof err) != 0) {
            fprintf(stderr, "scenario-gen: %s\n", err);
            return 1;
        }
        printf("%s\t%llu frames\n", path, (unsigned long long)frames);
    }
    return write_channels_json(dir) == 0 ? 0 : 1;
}
