/*
 * inproc.c - bench-pipeline-inproc: the in-process baseline of the pipeline benchmark. One
 * program does what the mesh's three services do, in a loop, with the same libraries and no
 * hub, no JSON, no copies between processes:
 *
 *   libmf4 (streaming columns, batches of --batch records)
 *     -> libaeb (aeb_step on every frame, one state per recording)
 *     -> libresults (res_write_frames / res_write_events per batch, then res_write_summary and
 *        res_write_recording: the writer calls the db-writer service makes, same keys)
 *
 *   bench-pipeline-inproc --mf4 FILE --db URL [--batch N] [--id RECORDING_ID] [--label L]
 *
 * Channels are found by the names scenario-gen writes (VehSpd, VehAccLong, ObjDist, ObjRelSpd,
 * ObjAccLong; the master is t); a speed in km/h is converted to m/s. Invalid Obj* values mean
 * "no lead object". Prints a short table on stderr and one JSON line on stdout:
 *   {"bench":"pipeline","config":"inproc",...,"frames":N,"seconds":S,"frames_per_s":F,
 *    "stage_s":{"read":..,"aeb":..,"db":..},"rows":R,"events":E,"peak_rss_kb":K}
 * rows is the stored row count read back with res_frames_coverage (equal to frames when every
 * frame was stored). Exit status: 0 ok, 1 a library error, 2 usage.
 */
#include "aeb.h"
#include "mf4.h"
#include "results.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum { CH_T, CH_EGO_V, CH_EGO_A, CH_RANGE, CH_REL_V, CH_LEAD_A, N_CH };

static const char *const ch_names[N_CH] = {NULL,      "VehSpd",    "VehAccLong",
                                           "ObjDist", "ObjRelSpd", "ObjAccLong"};

typedef struct opts {
    const char *mf4;
    const char *db;
    const char *id;
    const char *label;
    size_t batch;
    char id_buf[256];
} opts;

/* Per-batch working arrays (one allocation each, batch entries). */
typedef struct bufs {
    aeb_input *in;
    double *t, *ego_v, *range, *rel_v, *ttc, *decel;
    const char **state;
    int8_t *fcw, *coll;
    res_event *ev;
    size_t ev_cap;
} bufs;

typedef struct stats {
    double read_s, aeb_s, db_s;
    uint64_t frames, events;
} stats;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench-pipeline-inproc --mf4 FILE --db URL [--batch N] [--id RECORDING_ID] "
               "[--label LABEL]\n"
               "Reads FILE with libmf4, runs libaeb on every frame and stores the results with "
               "libresults;\nprints a table on stderr and one JSON line on stdout.\n");
}

static int parse_args(int argc, char **argv, opts *o)
{
    o->mf4 = NULL;
    o->db = NULL;
    o->id = NULL;
    o->label = "inproc";
    o->batch = 4096;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench-pipeline-inproc: '%s' needs a value or is unknown\n", a);
            return -1;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--mf4") == 0) {
            o->mf4 = v;
        } else if (strcmp(a, "--db") == 0) {
            o->db = v;
        } else if (strcmp(a, "--id") == 0) {
            o->id = v;
        } else if (strcmp(a, "--label") == 0) {
            o->label = v;
        } else if (strcmp(a, "--batch") == 0) {
            char *end;
            unsigned long n = strtoul(v, &end, 10);
            if (*end || n == 0 || n > (1u << 22)) {
                fprintf(stderr, "bench-pipeline-inproc: --batch: expected 1..4194304\n");
                return -1;
            }
            o->batch = n;
        } else {
            fprintf(stderr, "bench-pipeline-inproc: unknown option '%s'\n", a);
            return -1;
        }
    }
    if (!o->mf4 || !o->db) {
        usage(stderr);
        return -1;
    }
    if (!o->id) { /* the file name without directory and extension */
        const char *b = strrchr(o->mf4, '/');
        snprintf(o->id_buf, sizeof o->id_buf, "%s", b ? b + 1 : o->mf4);
        char *dot = strrchr(o->id_buf, '.');
        if (dot && dot != o->id_buf)
            *dot = 0;
        o->id = o->id_buf;
    }
    return 0;
}

static int bufs_alloc(bufs *b, size_t n)
{
    memset(b, 0, sizeof *b);
    b->in = calloc(n, sizeof *b->in);
    b->t = calloc(n, sizeof(double));
    b->ego_v = calloc(n, sizeof(double));
    b->range = calloc(n, sizeof(double));
    b->rel_v = calloc(n, sizeof(double));
    b->ttc = calloc(n, sizeof(double));
    b->decel = calloc(n, sizeof(double));
    b->state = calloc(n, sizeof(char *));
    b->fcw = calloc(n, 1);
    b->coll = calloc(n, 1);
    b->ev_cap = 64;
    b->ev = calloc(b->ev_cap, sizeof *b->ev);
    return (b->in && b->t && b->ego_v && b->range && b->rel_v && b->ttc && b->decel && b->state &&
            b->fcw && b->coll && b->ev)
               ? 0
               : -1;
}

static void bufs_free(bufs *b)
{
    free(b->in);
    free(b->t);
    free(b->ego_v);
    free(b->range);
    free(b->rel_v);
    free(b->ttc);
    free(b->decel);
    free(b->state);
    free(b->fcw);
    free(b->coll);
    free(b->ev);
}

/* Appends the events of one frame output as res_event rows keyed like the db-writer
 * (res_event_seq). */
static int add_events(bufs *b, size_t *n_ev, const aeb_output *out)
{
    for (int k = 0; k < out->n_events; k++) {
        if (*n_ev == b->ev_cap) {
            res_event *ne = realloc(b->ev, 2 * b->ev_cap * sizeof *ne);
            if (!ne)
                return -1;
            b->ev = ne;
            b->ev_cap *= 2;
        }
        const aeb_event *e = &out->events[k];
        res_event *r = &b->ev[(*n_ev)++];
        r->seq = res_event_seq((int64_t)e->frame, aeb_event_name(e->type));
        r->t = e->t;
        r->kind = aeb_event_name(e->type);
        r->ttc = e->ttc;
        r->ego_v = e->ego_v;
        r->range = e->range;
        r->rel_v = e->rel_v;
        r->stage = (e->type == AEB_EV_BRAKE_ONSET || e->type == AEB_EV_STAGE_CHANGE)
                       ? aeb_stage_name(e->to)
                       : NULL;
        r->impact_speed_kmh = e->type == AEB_EV_COLLISION ? e->impact_speed * 3.6 : NAN;
    }
    return 0;
}

static double col_phys(const mf4_column *c, size_t i, double scale)
{
    return c->valid[i] ? c->phys[i] * scale : NAN;
}

int main(int argc, char **argv)
{
    opts o;
    if (parse_args(argc, argv, &o) != 0)
        return 2;
    double t_start = now_s();

    mf4_file *f = NULL;
    mf4_error me = {0};
    if (mf4_open(&f, o.mf4, &me) != MF4_OK) {
        fprintf(stderr, "bench-pipeline-inproc: %s: %s\n", o.mf4, me.message);
        return 1;
    }
    size_t group = 0, chan[N_CH];
    size_t g2;
    const mf4_group *g = NULL;
    for (int c = 1; c < N_CH; c++) {
        if (mf4_find_channel(f, ch_names[c], c == 1 ? (size_t)-1 : group, &g2, &chan[c]) !=
            MF4_OK) {
            fprintf(stderr, "bench-pipeline-inproc: %s: no channel '%s'\n", o.mf4, ch_names[c]);
            mf4_close(f);
            return 1;
        }
        if (c == 1)
            group = g2;
    }
    g = mf4_group_at(f, group);
    if (g->master < 0) {
        fprintf(stderr, "bench-pipeline-inproc: %s: group %zu has no master\n", o.mf4, group);
        mf4_close(f);
        return 1;
    }
    chan[CH_T] = (size_t)g->master;
    double v_scale = strcmp(g->channels[chan[CH_EGO_V]].unit, "km/h") == 0 ? 1.0 / 3.6 : 1.0;

    res_db *db = NULL;
    res_err re = {0};
    if (res_open(o.db, NULL, &db, &re) != RES_OK) {
        fprintf(stderr, "bench-pipeline-inproc: %s: %s\n", o.db, re.msg);
        mf4_close(f);
        return 1;
    }
    mf4_reader *r = NULL;
    bufs b;
    int rc = 1;
    if (bufs_alloc(&b, o.batch) != 0) {
        fprintf(stderr, "bench-pipeline-inproc: out of memory\n");
        goto out;
    }
    if (mf4_reader_open(&r, f, group, chan, N_CH, o.batch, &me) != MF4_OK) {
        fprintf(stderr, "bench-pipeline-inproc: %s: %s\n", o.mf4, me.message);
        goto out;
    }

    aeb_params p;
    aeb_params_default(&p);
    aeb_state st;
    aeb_state_init(&st);
    stats s = {0};
    double t_first = NAN, t_last = NAN;
    for (;;) {
        /* read: one batch of columns -> aeb inputs */
        double t0 = now_s();
        size_t n = 0;
        if (mf4_reader_next(r, &n, &me) != MF4_OK) {
            fprintf(stderr, "bench-pipeline-inproc: %s: %s\n", o.mf4, me.message);
            goto out;
        }
        if (n == 0)
            break;
        const mf4_column *c[N_CH];
        for (int k = 0; k < N_CH; k++)
            c[k] = mf4_reader_column(r, (size_t)k);
        for (size_t i = 0; i < n; i++) {
            aeb_input *in = &b.in[i];
            in->t = c[CH_T]->phys[i];
            in->ego_v = col_phys(c[CH_EGO_V], i, v_scale);
            in->ego_a = col_phys(c[CH_EGO_A], i, 1.0);
            in->range = col_phys(c[CH_RANGE], i, 1.0);
            in->rel_v = col_phys(c[CH_REL_V], i, 1.0);
            in->lead_a = col_phys(c[CH_LEAD_A], i, 1.0);
            in->has = (c[CH_RANGE]->valid[i] ? AEB_HAS_RANGE : 0) |
                      (c[CH_REL_V]->valid[i] ? AEB_HAS_REL_V : 0) |
                      (c[CH_EGO_A]->valid[i] ? AEB_HAS_EGO_A : 0) |
                      (c[CH_LEAD_A]->valid[i] ? AEB_HAS_LEAD_A : 0);
        }
        uint64_t first = s.frames;
        if (first == 0)
            t_first = b.in[0].t;
        t_last = b.in[n - 1].t;
        double t1 = now_s();

        /* aeb: every frame, results as the columns of a db batch */
        size_t n_ev = 0;
        for (size_t i = 0; i < n; i++) {
            aeb_output out;
            aeb_step(&p, &st, &b.in[i], &out);
            b.t[i] = out.t;
            b.ego_v[i] = b.in[i].ego_v;
            b.range[i] = (b.in[i].has & AEB_HAS_RANGE) ? b.in[i].range : NAN;
            b.rel_v[i] = (b.in[i].has & AEB_HAS_REL_V) ? b.in[i].rel_v : NAN;
            b.ttc[i] = out.ttc;
            b.state[i] = aeb_stage_name(out.state);
            b.fcw[i] = out.fcw;
            b.decel[i] = out.decel;
            b.coll[i] = out.collision;
            if (out.n_events && add_events(&b, &n_ev, &out) != 0) {
                fprintf(stderr, "bench-pipeline-inproc: out of memory\n");
                goto out;
            }
        }
        double t2 = now_s();

        /* db: the writer calls of the db-writer service */
        res_frames fr = {.recording_id = o.id,
                         .first_frame = (int64_t)first,
                         .n = n,
                         .t = b.t,
                         .ego_v = b.ego_v,
                         .range = b.range,
                         .rel_v = b.rel_v,
                         .ttc = b.ttc,
                         .state = b.state,
                         .fcw = b.fcw,
                         .decel = b.decel,
                         .collision = b.coll};
        if (res_write_frames(db, &fr, &re) != RES_OK ||
            (n_ev && res_write_events(db, o.id, b.ev, n_ev, &re) != RES_OK)) {
            fprintf(stderr, "bench-pipeline-inproc: %s\n", re.msg);
            goto out;
        }
        double t3 = now_s();
        s.read_s += t1 - t0;
        s.aeb_s += t2 - t1;
        s.db_s += t3 - t2;
        s.frames += n;
        s.events += n_ev;
    }

    /* end of recording: summary + the reader's metadata */
    {
        double t0 = now_s();
        cJSON *pj = aeb_params_to_json(&p);
        if (pj)
            cJSON_AddStringToObject(pj, "service_version", "bench-pipeline-inproc " AEB_VERSION);
        char *params = pj ? cJSON_PrintUnformatted(pj) : NULL;
        cJSON_Delete(pj);
        res_summary sum = {
            .recording_id = o.id,
            .frames = (int64_t)st.frames,
            .min_ttc = st.have_min_ttc ? st.min_ttc : NAN,
            .t_min_ttc = st.have_min_ttc ? st.min_ttc_t : NAN,
            .max_stage = aeb_stage_name(st.max_stage),
            .collision = st.have_first_collision ? 1 : 0,
            .impact_speed_kmh = st.have_first_collision ? st.first_impact_speed * 3.6 : NAN,
            .first_fcw_t = st.have_first_fcw ? st.first_fcw_t : NAN,
            .first_brake_t = st.have_first_brake ? st.first_brake_t : NAN,
            .params_json = params,
        };
        res_recording rec = {.id = o.id,
                             .path = o.mf4,
                             .frames = (int64_t)s.frames,
                             .t_start = t_first,
                             .t_end = t_last,
                             .status = "read"};
        int wrc = res_write_summary(db, &sum, &re);
        if (wrc == RES_OK)
            wrc = res_write_recording(db, &rec, &re);
        free(params);
        if (wrc != RES_OK) {
            fprintf(stderr, "bench-pipeline-inproc: %s\n", re.msg);
            goto out;
        }
        s.db_s += now_s() - t0;
    }
    double secs = now_s() - t_start;

    int64_t rows = 0, first_row = 0, last_row = 0;
    if (res_frames_coverage(db, o.id, &rows, &first_row, &last_row, &re) != RES_OK) {
        fprintf(stderr, "bench-pipeline-inproc: %s\n", re.msg);
        goto out;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
    double fps = secs > 0 ? (double)s.frames / secs : 0;
    fprintf(stderr,
            "in-process %s: %llu frames in %.3f s = %.0f frames/s (cpu %.3f s)\n"
            "  read %.3f s (%.0f ns/frame)  aeb %.3f s (%.0f ns/frame)  db %.3f s (%.0f "
            "ns/frame)\n"
            "  rows stored %lld, events %llu, peak RSS %ld kB\n",
            o.label, (unsigned long long)s.frames, secs, fps, cpu, s.read_s,
            s.frames ? s.read_s * 1e9 / (double)s.frames : 0, s.aeb_s,
            s.frames ? s.aeb_s * 1e9 / (double)s.frames : 0, s.db_s,
            s.frames ? s.db_s * 1e9 / (double)s.frames : 0, (long long)rows,
            (unsigned long long)s.events, ru.ru_maxrss);
    printf("{\"bench\":\"pipeline\",\"config\":\"%s\",\"recording\":\"%s\",\"batch\":%zu,"
           "\"frames\":%llu,\"seconds\":%.4f,\"frames_per_s\":%.1f,\"cpu_s\":%.4f,"
           "\"stage_s\":{\"read\":%.4f,\"aeb\":%.4f,\"db\":%.4f},\"rows\":%lld,\"events\":%llu,"
           "\"peak_rss_kb\":%ld}\n",
           o.label, o.id, o.batch, (unsigned long long)s.frames, secs, fps, cpu, s.read_s, s.aeb_s,
           s.db_s, (long long)rows, (unsigned long long)s.events, ru.ru_maxrss);
    rc = 0;
out:
    mf4_reader_free(r);
    bufs_free(&b);
    res_close(db);
    mf4_close(f);
    return rc;
}
