/*
 * mf4r.c - one job of the mf4-reader service (see mf4r.h): resolve the path, hash the file,
 * open it with libmf4, map the requested fields to channels, and stream frame batches on a
 * time base with every other channel zero-order held onto it.
 *
 * Memory is O(batch): one libmf4 reader per channel group involved ("source"), each holding
 * one batch of its records, plus the output batch. Sources other than the time base are
 * advanced monotonically with the base time ("advance"): a sample is taken once its time is
 * <= the frame time, so the held value is the latest sample at or before the frame.
 */
#include "mf4r.h"

#include "wsm_columns.h"
#include "wsm_frame.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FIELDS 512

static int fail(mf4r_error *e, const char *type, bool retry, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(mf4r_error *e, const char *type, bool retry, const char *fmt, ...)
{
    snprintf(e->type, sizeof e->type, "%s", type);
    e->retry = retry;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static int fail_mf4(mf4r_error *e, const char *path, const mf4_error *me)
{
    switch (me->code) {
    case MF4_E_IO:
        return fail(e, "IO", true, "%s: %s", path, me->message);
    case MF4_E_NOT_MDF:
    case MF4_E_VERSION:
        return fail(e, "NOT_MDF", false, "%s: not an MDF 4 file: %s", path, me->message);
    case MF4_E_UNSUPPORTED:
        return fail(e, "UNSUPPORTED", false, "%s: unsupported MDF feature: %s", path, me->message);
    case MF4_E_NOMEM:
        return fail(e, "NOMEM", true, "%s: out of memory", path);
    default:
        return fail(e, "CORRUPT", false, "%s: %s: %s (offset %llu)", path, mf4_strerror(me->code),
                    me->message, (unsigned long long)me->offset);
    }
}

/* ------------------------------------------------------------------ paths */
static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int mf4r_local_path(const char *p, char *out, size_t n)
{
    if (!p || !*p || n == 0)
        return -1;
    if (strncmp(p, "file://", 7) == 0) {
        p += 7;
        if (strncmp(p, "localhost/", 10) == 0)
            p += 9;
        if (*p != '/')
            return -1; /* file://host/... is not local */
        size_t k = 0;
        for (; *p && k + 1 < n; p++) {
            if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
                out[k++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
                p += 2;
            } else {
                out[k++] = *p;
            }
        }
        if (*p)
            return -1;
        out[k] = 0;
        return memchr(out, 0, k) ? -1 : 0;
    }
    if (strstr(p, "://"))
        return -1;
    if (strlen(p) >= n)
        return -1;
    snprintf(out, n, "%s", p);
    return 0;
}

static int sha256_file(const char *path, char hex[65], mf4r_error *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return fail(e, "FILE_NOT_FOUND", false, "file not found: %s", path);
        return fail(e, "IO", true, "cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(e, "IO", false, "%s is not a regular file", path);
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *buf = malloc(1 << 20);
    if (!ctx || !buf) {
        EVP_MD_CTX_free(ctx);
        free(buf);
        close(fd);
        return fail(e, "NOMEM", true, "out of memory");
    }
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    ssize_t k;
    while ((k = read(fd, buf, 1 << 20)) > 0)
        EVP_DigestUpdate(ctx, buf, (size_t)k);
    int rerr = k < 0 ? errno : 0;
    unsigned char md[32];
    unsigned int mdlen = 32;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    free(buf);
    close(fd);
    if (rerr)
        return fail(e, "IO", true, "cannot read %s: %s", path, strerror(rerr));
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* ------------------------------------------------------------------ sources */
typedef struct source {
    size_t group;
    const mf4_group *g;
    mf4_reader *r;
    size_t *sel;
    size_t nsel;
    int has_master;
    double tscale;
    size_t n, i; /* current batch and position in it */
    int eof;
} source;

typedef struct field {
    const char *name; /* output field */
    const char *chname;
    size_t group, ch;
    const char *unit;
    size_t src, col; /* source and its column */
    double held;     /* zero-order hold */
    int have;
} field;

typedef struct job {
    const mf4_file *f;
    source src[MAX_FIELDS];
    size_t nsrc;
    field fld[MAX_FIELDS];
    size_t nf;
    size_t batch;
} job;

static double time_scale(const char *unit)
{
    if (strcmp(unit, "ms") == 0)
        return 1e-3;
    if (strcmp(unit, "us") == 0 || strcmp(unit, "\xc2\xb5s") == 0)
        return 1e-6;
    if (strcmp(unit, "ns") == 0)
        return 1e-9;
    return 1.0;
}

static int source_for(job *j, size_t group, mf4r_error *e)
{
    for (size_t s = 0; s < j->nsrc; s++)
        if (j->src[s].group == group)
            return (int)s;
    if (j->nsrc == MAX_FIELDS)
        return fail(e, "BAD_FIELD", false, "too many channel groups");
    source *s = &j->src[j->nsrc];
    memset(s, 0, sizeof *s);
    s->group = group;
    s->g = mf4_group_at(j->f, group);
    s->has_master = s->g->master >= 0;
    s->tscale = s->has_master ? time_scale(s->g->channels[s->g->master].unit) : 1.0;
    return (int)j->nsrc++;
}

static int source_open(job *j, source *s, mf4r_error *e)
{
    s->sel = malloc((j->nf + 1) * sizeof *s->sel);
    if (!s->sel)
        return fail(e, "NOMEM", true, "out of memory");
    s->nsel = 0;
    if (s->has_master)
        s->sel[s->nsel++] = (size_t)s->g->master;
    for (size_t k = 0; k < j->nf; k++)
        if (&j->src[j->fld[k].src] == s) {
            j->fld[k].col = s->nsel;
            s->sel[s->nsel++] = j->fld[k].ch;
        }
    if (s->nsel == 0)
        s->sel[s->nsel++] = 0;
    mf4_error me;
    if (mf4_reader_open(&s->r, j->f, s->group, s->sel, s->nsel, j->batch, &me))
        return fail_mf4(e, "reader", &me);
    return 0;
}

/* Makes sure a record is available at s->i (s->eof when none is left). */
static int source_fill(source *s, mf4r_error *e)
{
    if (s->eof || s->i < s->n)
        return 0;
    mf4_error me;
    if (mf4_reader_next(s->r, &s->n, &me))
        return fail_mf4(e, "data", &me);
    s->i = 0;
    if (s->n == 0)
        s->eof = 1;
    return 0;
}

static double source_t(const source *s)
{
    if (s->has_master)
        return mf4_reader_column(s->r, 0)->phys[s->i] * s->tscale;
    return (double)(mf4_reader_position(s->r) - s->n + s->i);
}

static void take_sample(job *j, size_t si)
{
    source *s = &j->src[si];
    for (size_t k = 0; k < j->nf; k++) {
        field *f = &j->fld[k];
        if (f->src != si)
            continue;
        const mf4_column *c = mf4_reader_column(s->r, f->col);
        double v = c->phys[s->i];
        f->have = c->valid[s->i] && isfinite(v);
        f->held = v;
    }
}

/* Takes every sample of source si with time <= t. */
static int advance(job *j, size_t si, double t, mf4r_error *e)
{
    source *s = &j->src[si];
    for (;;) {
        if (source_fill(s, e))
            return -1;
        if (s->eof || source_t(s) > t)
            return 0;
        take_sample(j, si);
        s->i++;
    }
}

/* First and last time of a source (one pass over its master). */
static int source_span(job *j, size_t si, double *t0, double *t1, uint64_t *n, mf4r_error *e)
{
    source *s = &j->src[si];
    mf4_reader *r;
    mf4_error me;
    size_t sel = s->has_master ? (size_t)s->g->master : 0;
    *n = 0;
    if (s->g->cycles == 0 || s->g->n_channels == 0)
        return 0;
    if (mf4_reader_open(&r, j->f, s->group, &sel, 1, j->batch, &me))
        return fail_mf4(e, "reader", &me);
    size_t got;
    int rc;
    while ((rc = mf4_reader_next(r, &got, &me)) == MF4_OK && got > 0) {
        const mf4_column *c = mf4_reader_column(r, 0);
        uint64_t base = mf4_reader_position(r) - got;
        double a = s->has_master ? c->phys[0] * s->tscale : (double)base;
        double b = s->has_master ? c->phys[got - 1] * s->tscale : (double)(base + got - 1);
        if (*n == 0)
            *t0 = a;
        *t1 = b;
        *n += got;
    }
    mf4_reader_free(r);
    if (rc)
        return fail_mf4(e, "data", &me);
    return 0;
}

/* ------------------------------------------------------------------ args */
static int channel_list(const mf4_file *f, long group, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    for (size_t gi = 0; gi < mf4_group_count(f); gi++) {
        if (group >= 0 && (size_t)group != gi)
            continue;
        const mf4_group *g = mf4_group_at(f, gi);
        for (size_t c = 0; c < g->n_channels && k + 8 < n; c++) {
            int w = snprintf(buf + k, n - k, "%s%s", k ? ", " : "", g->channels[c].name);
            if (w < 0 || (size_t)w >= n - k) {
                snprintf(buf + (n > 5 ? n - 5 : 0), n > 5 ? 5 : n, " ...");
                return 0;
            }
            k += (size_t)w;
        }
    }
    return 0;
}

static int add_field(job *j, const char *name, const char *chname, long group, mf4r_error *e)
{
    if (j->nf == MAX_FIELDS)
        return fail(e, "BAD_FIELD", false, "args.channels: more than %d fields", MAX_FIELDS);
    if (!*name || strlen(name) > WSM_COLUMNS_MAX_NAME || strcmp(name, "t") == 0)
        return fail(e, "BAD_FIELD", false,
                    "args.channels: field name \"%.40s\" is empty, too long or the reserved \"t\"",
                    name);
    for (size_t k = 0; k < j->nf; k++)
        if (strcmp(j->fld[k].name, name) == 0)
            return 0; /* duplicates (default list) are dropped */
    size_t gi, ci;
    if (mf4_find_channel(j->f, chname, group < 0 ? (size_t)-1 : (size_t)group, &gi, &ci) !=
        MF4_OK) {
        char list[800];
        channel_list(j->f, group, list, sizeof list);
        return fail(e, "CHANNEL_NOT_FOUND", false, "channel \"%s\" not found%s; available: %s",
                    chname, group >= 0 ? " in the group" : "", list);
    }
    field *f = &j->fld[j->nf];
    memset(f, 0, sizeof *f);
    f->name = name;
    f->chname = chname;
    f->group = gi;
    f->ch = ci;
    const mf4_channel *c = &mf4_group_at(j->f, gi)->channels[ci];
    if (c->kind == MF4_VAL_BYTES)
        return fail(e, "UNSUPPORTED", false,
                    "channel \"%s\" holds %s values, not numbers (frames carry numbers)", chname,
                    mf4_data_type_name(c->data_type));
    f->unit = *c->unit ? c->unit : (c->conv && c->conv->unit ? c->conv->unit : "");
    int s = source_for(j, gi, e);
    if (s < 0)
        return -1;
    f->src = (size_t)s;
    j->nf++;
    return 0;
}

/* ------------------------------------------------------------------ run */
typedef struct outbuf {
    double *t;
    double *v;      /* nf x batch */
    uint8_t *valid; /* nf x ceil(batch/8) */
    size_t vb;
} outbuf;

static int emit_batch(job *j, outbuf *o, size_t rows, uint64_t first, uint64_t seq, uint64_t total,
                      bool last, const char *rid, const char *ct, const mf4r_callbacks *cb,
                      mf4r_error *e)
{
    wsm_col *cols = calloc(j->nf + 1, sizeof *cols);
    if (!cols)
        return fail(e, "NOMEM", true, "out of memory");
    cols[0] = (wsm_col){.name = "t", .type = WSM_COL_F64, .unit = "s", .values = o->t};
    for (size_t k = 0; k < j->nf; k++)
        cols[k + 1] = (wsm_col){.name = j->fld[k].name,
                                .type = WSM_COL_F64,
                                .unit = *j->fld[k].unit ? j->fld[k].unit : NULL,
                                .nullable = true,
                                .values = o->v + k * j->batch,
                                .validity = o->valid + k * o->vb};
    cJSON *meta = NULL;
    wsm_buf payload = WSM_BUF_INIT;
    wsm_err we;
    int rc = wsm_columns_encode(ct, cols, j->nf + 1, rows, &meta, &payload, &we);
    free(cols);
    if (rc)
        return fail(e, rc == WSM_E_NOMEM ? "NOMEM" : "INTERNAL", rc == WSM_E_NOMEM, "frames: %s",
                    we.msg);
    cJSON *args = cJSON_CreateObject();
    cJSON *units = cJSON_CreateObject();
    bool ok = args && units && cJSON_AddStringToObject(args, "recording_id", rid) &&
              cJSON_AddNumberToObject(args, "seq", (double)seq) &&
              cJSON_AddNumberToObject(args, "first_frame", (double)first) &&
              cJSON_AddNumberToObject(args, "rows", (double)rows) &&
              cJSON_AddNumberToObject(args, "frames_total", (double)total) &&
              cJSON_AddBoolToObject(args, "last", last) && cJSON_AddStringToObject(units, "t", "s");
    for (size_t k = 0; ok && k < j->nf; k++)
        ok = cJSON_AddStringToObject(units, j->fld[k].name, j->fld[k].unit) != NULL;
    if (ok) {
        ok = cJSON_AddItemToObject(args, "units", units);
        units = NULL;
    }
    cJSON_Delete(units);
    if (!ok) {
        cJSON_Delete(args);
        cJSON_Delete(meta);
        wsm_buf_free(&payload);
        return fail(e, "NOMEM", true, "out of memory");
    }
    mf4r_batch b = {.recording_id = rid,
                    .args = args,
                    .content_type = ct,
                    .payload_meta = meta,
                    .payload = payload.data,
                    .len = payload.len};
    rc = cb->emit(cb->user, &b);
    cJSON_Delete(args);
    cJSON_Delete(meta);
    wsm_buf_free(&payload);
    if (rc)
        return fail(e, "STOPPED", false, "stopped while emitting batch %llu",
                    (unsigned long long)seq);
    return 0;
}

static int run(job *j, const cJSON *args, const mf4r_callbacks *cb, cJSON **result, mf4r_error *e)
{
    wsm_err we;
    const char *path = NULL, *rid = NULL, *enc = "json";
    int64_t group = -1, batch = 1000;
    double hz = 0;
    const cJSON *chans = NULL;
    static const char *const known[] = {"path",        "recording_id", "group",    "channels",
                                        "resample_hz", "batch",        "encoding", NULL};
    if (!cJSON_IsObject(args))
        return fail(e, "BAD_FIELD", false, "args: expected an object");
    if (wsm_json_no_unknown(args, "args", known, &we) < 0 ||
        wsm_json_str(args, "args", "path", true, &path, &we) < 0 ||
        wsm_json_str(args, "args", "recording_id", false, &rid, &we) < 0 ||
        wsm_json_int(args, "args", "group", false, 0, 1 << 30, &group, &we) < 0 ||
        wsm_json_obj(args, "args", "channels", false, &chans, &we) < 0 ||
        wsm_json_num(args, "args", "resample_hz", false, 1e-6, 1e6, &hz, &we) < 0 ||
        wsm_json_int(args, "args", "batch", false, 1, 100000, &batch, &we) < 0 ||
        wsm_json_str(args, "args", "encoding", false, &enc, &we) < 0)
        return fail(e, "BAD_FIELD", false, "%s", we.msg);
    const char *ct;
    if (strcmp(enc, "json") == 0)
        ct = WSM_CT_JSON;
    else if (strcmp(enc, "binary") == 0 || strcmp(enc, "columns") == 0)
        ct = WSM_CT_COLUMNS;
    else
        return fail(e, "BAD_FIELD", false, "args.encoding: expected \"json\" or \"binary\"");
    if (rid && (!*rid || strlen(rid) > 200))
        return fail(e, "BAD_FIELD", false, "args.recording_id: 1..200 characters");
    char local[4096];
    if (mf4r_local_path(path, local, sizeof local) != 0)
        return fail(e, "BAD_FIELD", false,
                    "args.path: \"%.200s\" is not a local path or file:// URL (the file is read "
                    "on the reader's host)",
                    path);
    char sha[65];
    if (sha256_file(local, sha, e))
        return -1;
    if (!rid)
        rid = sha;
    mf4_file *f;
    mf4_error me;
    if (mf4_open(&f, local, &me))
        return fail_mf4(e, local, &me);
    j->f = f;
    j->batch = (size_t)batch;
    int rc = -1;
    if (group >= (int64_t)mf4_group_count(f)) {
        fail(e, "BAD_FIELD", false, "args.group: %lld but the file has %zu groups",
             (long long)group, mf4_group_count(f));
        goto out;
    }
    if (chans) {
        const cJSON *c;
        cJSON_ArrayForEach(c, chans)
        {
            if (!cJSON_IsString(c)) {
                fail(e, "BAD_FIELD", false, "args.channels.%s: expected a channel name", c->string);
                goto out;
            }
            if (add_field(j, c->string, c->valuestring, (long)group, e))
                goto out;
        }
        if (j->nf == 0) {
            fail(e, "BAD_FIELD", false, "args.channels: empty");
            goto out;
        }
    } else {
        long gsel = (long)group;
        for (size_t gi = 0; gsel < 0 && gi < mf4_group_count(f); gi++)
            if (mf4_group_at(f, gi)->cycles > 0 && mf4_group_at(f, gi)->n_channels > 0)
                gsel = (long)gi;
        if (gsel < 0) {
            fail(e, "CHANNEL_NOT_FOUND", false, "the file has no group with records");
            goto out;
        }
        const mf4_group *g = mf4_group_at(f, (size_t)gsel);
        for (size_t k = 0; k < g->n_channels; k++) {
            const mf4_channel *c = &g->channels[k];
            if ((long)k == g->master || c->n_children || c->kind == MF4_VAL_BYTES ||
                strcmp(c->name, "t") == 0 || !*c->name)
                continue;
            if (add_field(j, c->name, c->name, gsel, e))
                goto out;
        }
        if (j->nf == 0) {
            fail(e, "CHANNEL_NOT_FOUND", false, "group %ld has no numeric channels", gsel);
            goto out;
        }
    }
    for (size_t s = 0; s < j->nsrc; s++)
        if (source_open(j, &j->src[s], e))
            goto out;
    /* time base */
    uint64_t total;
    double t0 = 0, t1 = 0;
    size_t base = j->fld[0].src;
    if (hz > 0) {
        int any = 0;
        for (size_t s = 0; s < j->nsrc; s++) {
            double a = 0, b = 0;
            uint64_t n;
            if (source_span(j, s, &a, &b, &n, e))
                goto out;
            if (n && (!any || a < t0))
                t0 = a;
            if (n && (!any || b > t1))
                t1 = b;
            any |= n > 0;
        }
        double span = any ? (t1 - t0) * hz : -1;
        if (span > 1e9) {
            fail(e, "BAD_FIELD", false, "args.resample_hz: %g Hz over %g s is too many frames", hz,
                 t1 - t0);
            goto out;
        }
        total = any ? (uint64_t)floor(span + 1e-9) + 1 : 0;
    } else {
        total = j->src[base].g->cycles;
    }
    outbuf o;
    o.vb = (j->batch + 7) / 8;
    o.t = malloc(j->batch * sizeof(double));
    o.v = malloc(j->nf * j->batch * sizeof(double));
    o.valid = calloc(j->nf, o.vb);
    if (!o.t || !o.v || !o.valid) {
        free(o.t);
        free(o.v);
        free(o.valid);
        fail(e, "NOMEM", true, "out of memory");
        goto out;
    }
    uint64_t done = 0, seq = 0;
    double first_t = NAN, last_t = NAN;
    rc = 0;
    while (rc == 0 && (done < total || (total == 0 && seq == 0))) {
        size_t rows = 0;
        memset(o.valid, 0, j->nf * o.vb);
        while (rows < j->batch && done + rows < total) {
            double t;
            if (hz > 0) {
                t = t0 + (double)(done + rows) / hz;
            } else {
                source *s = &j->src[base];
                if ((rc = source_fill(s, e)) != 0)
                    break;
                if (s->eof) {
                    rc = fail(e, "CORRUPT", false, "group %zu ended after %llu of %llu records",
                              s->group, (unsigned long long)(done + rows),
                              (unsigned long long)total);
                    break;
                }
                t = source_t(s);
                take_sample(j, base);
                s->i++;
            }
            for (size_t si = 0; si < j->nsrc && rc == 0; si++)
                if (hz > 0 || si != base)
                    rc = advance(j, si, t, e);
            if (rc)
                break;
            o.t[rows] = t;
            for (size_t k = 0; k < j->nf; k++) {
                o.v[k * j->batch + rows] = j->fld[k].have ? j->fld[k].held : 0;
                if (j->fld[k].have)
                    o.valid[k * o.vb + (rows >> 3)] |= (uint8_t)(1u << (rows & 7));
            }
            if (done + rows == 0)
                first_t = t;
            last_t = t;
            rows++;
        }
        if (rc)
            break;
        bool last = done + rows >= total;
        if ((rc = emit_batch(j, &o, rows, done, seq, total, last, rid, ct, cb, e)) != 0)
            break;
        done += rows;
        seq++;
        if (cb->progress)
            cb->progress(cb->user, done, total);
        if (!last && cb->should_stop && cb->should_stop(cb->user)) {
            rc = fail(e, "STOPPED", false, "stopped after %llu of %llu frames",
                      (unsigned long long)done, (unsigned long long)total);
            break;
        }
        if (last)
            break;
    }
    free(o.t);
    free(o.v);
    free(o.valid);
    if (rc)
        goto out;
    cJSON *r = cJSON_CreateObject();
    cJSON *ch = cJSON_CreateArray();
    bool ok = r && ch && cJSON_AddStringToObject(r, "recording_id", rid) &&
              cJSON_AddStringToObject(r, "path", path) &&
              cJSON_AddStringToObject(r, "sha256", sha) &&
              cJSON_AddNumberToObject(r, "frames", (double)done) &&
              (isnan(first_t) ? cJSON_AddNullToObject(r, "t_start") != NULL
                              : cJSON_AddNumberToObject(r, "t_start", first_t) != NULL) &&
              (isnan(last_t) ? cJSON_AddNullToObject(r, "t_end") != NULL
                             : cJSON_AddNumberToObject(r, "t_end", last_t) != NULL) &&
              cJSON_AddStringToObject(r, "service_version", MF4R_VERSION);
    for (size_t k = 0; ok && k < j->nf; k++) {
        cJSON *c = cJSON_CreateObject();
        ok = c && cJSON_AddItemToArray(ch, c) &&
             cJSON_AddStringToObject(c, "field", j->fld[k].name) &&
             cJSON_AddStringToObject(c, "name", j->fld[k].chname) &&
             cJSON_AddNumberToObject(c, "group", (double)j->fld[k].group) &&
             cJSON_AddStringToObject(c, "unit", j->fld[k].unit);
    }
    if (ok) {
        ok = cJSON_AddItemToObject(r, "channels", ch);
        ch = NULL;
    }
    cJSON_Delete(ch);
    if (!ok) {
        cJSON_Delete(r);
        rc = fail(e, "NOMEM", true, "out of memory");
        goto out;
    }
    *result = r;
    rc = 0;
out:
    for (size_t s = 0; s < j->nsrc; s++) {
        mf4_reader_free(j->src[s].r);
        free(j->src[s].sel);
    }
    mf4_close(f);
    return rc;
}

int mf4r_run(const cJSON *args, const mf4r_callbacks *cb, cJSON **result, mf4r_error *e)
{
    *result = NULL;
    e->type[0] = 0;
    e->msg[0] = 0;
    e->retry = false;
    if (!cb || !cb->emit)
        return fail(e, "INTERNAL", false, "mf4r_run: no emit callback");
    job *j = calloc(1, sizeof *j);
    if (!j)
        return fail(e, "NOMEM", true, "out of memory");
    int rc = run(j, args, cb, result, e);
    free(j);
    return rc;
}
