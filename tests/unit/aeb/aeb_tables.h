/*
 * aeb_tables.h - the expected results of AEB_SPEC tables 6.2 (closed loop) and 6.3 (open
 * loop), transcribed row by row, shared by the libaeb tests and the scenario recording
 * tests. Times are as printed in the spec (CCRb: relative to the start of lead braking, i.e.
 * add the scenario's t_origin).
 */
#ifndef AEB_TABLES_H
#define AEB_TABLES_H

#include "aeb.h"

#include <math.h>

#define FRAME 0.01
#define NA    NAN

/* One row of tables 6.2 / 6.3 (times absolute after adding the scenario's t_origin). */
typedef struct expect {
    const char *name;
    bool collision;
    double impact_kmh; /* NA if no collision */
    double min_ttc;
    double fcw_t, fcw_ttc, brake_t, brake_ttc, pb2_t, fb_t; /* NA = never */
    aeb_stage max_stage;
    double min_gap, stop_gap; /* NA = "-" */
} expect;

/* Table 6.3: open loop. */
static const expect open_loop[] = {
    {"CCRs-10", true, 10.0, 0.010, 6.11, 1.890, 7.27, 0.730, 7.48, 7.72, AEB_FB, 0, NA},
    {"CCRs-20", true, 20.0, 0.010, 5.42, 2.580, 6.54, 1.460, 6.96, 7.44, AEB_FB, 0, NA},
    {"CCRs-30", true, 30.0, 0.010, 4.72, 3.280, 5.81, 2.190, 6.43, 7.15, AEB_FB, 0, NA},
    {"CCRs-40", true, 40.0, 0.010, 4.03, 3.970, 5.08, 2.920, 5.91, 6.87, AEB_FB, 0, NA},
    {"CCRs-50", true, 50.0, 0.000, 3.33, 4.670, 4.35, 3.650, 5.38, 6.59, AEB_FB, 0, NA},
    {"CCRm-50", true, 30.0, 0.000, 3.33, 4.670, 4.35, 3.650, 5.38, 6.59, AEB_FB, 0, NA},
    {"CCRb-2-12m", true, 24.9, 0.004, 1.15, 4.642, 1.39, 3.622, 1.73, 2.33, AEB_FB, 0, NA},
    {"CCRb-2-40m", true, 45.5, 0.005, 3.20, 4.650, 3.65, 3.654, 4.23, 5.07, AEB_FB, 0, NA},
    {"CCRb-6-12m", true, 43.2, 0.000, 0.42, 4.552, 0.52, 3.586, 0.68, 1.04, AEB_FB, 0, NA},
    {"CCRb-6-40m", true, 50.0, 0.007, 1.26, 4.661, 1.52, 3.626, 1.88, 2.63, AEB_FB, 0, NA},
    {"CCRs-50-reveal1.0s", true, 50.0, 0.000, 7.01, 0.990, 7.02, 0.980, 7.03, 7.04, AEB_FB, 0, NA},
    {"CCRs-50-reveal0.6s", true, 50.0, 0.000, 7.41, 0.590, 7.42, 0.580, 7.43, 7.44, AEB_FB, 0, NA},
};

/* Table 6.2: closed loop (and the outcome column of table 6.1). */
static const expect closed_loop[] = {
    {"CCRs-10", false, NA, 0.660, 6.11, 1.890, 7.27, 0.730, NA, NA, AEB_PB1, 0.81, 0.81},
    {"CCRs-20", false, NA, 1.389, 5.42, 2.580, 6.54, 1.460, NA, NA, AEB_PB1, 3.64, 3.64},
    {"CCRs-30", false, NA, 2.119, 4.72, 3.280, 5.81, 2.190, NA, NA, AEB_PB1, 8.50, 8.50},
    {"CCRs-40", false, NA, 2.848, 4.03, 3.970, 5.08, 2.920, NA, NA, AEB_PB1, 15.37, 15.37},
    {"CCRs-50", false, NA, 3.578, 3.33, 4.670, 4.35, 3.650, NA, NA, AEB_PB1, 24.28, 24.28},
    {"CCRm-50", false, NA, 3.617, 3.33, 4.670, 4.35, 3.650, NA, NA, AEB_PB1, 20.66, 24.78},
    {"CCRb-2-12m", false, NA, 3.474, 1.15, 4.642, 1.39, 3.622, NA, NA, AEB_PB1, 7.48, 11.21},
    {"CCRb-2-40m", false, NA, 3.450, 3.20, 4.650, 3.65, 3.654, NA, NA, AEB_PB1, 11.12, 11.12},
    {"CCRb-6-12m", false, NA, 0.399, 0.42, 4.552, 0.52, 3.586, 0.84, NA, AEB_PB2, 0.42, 0.42},
    {"CCRb-6-40m", false, NA, 2.121, 1.26, 4.661, 1.52, 3.626, NA, NA, AEB_PB1, 8.55, 8.55},
    {"CCRs-50-reveal1.0s", false, NA, 0.729, 7.01, 0.990, 7.02, 0.980, 7.03, 7.04, AEB_FB, 2.60,
     2.60},
    {"CCRs-50-reveal0.6s", true, 27.4, 0.007, 7.41, 0.590, 7.42, 0.580, 7.43, 7.44, AEB_FB, 0.00,
     NA},
};

#endif
