/*
 * mf4dump - prints the structure and the values of an MDF4 file with libmf4.
 *
 *   mf4dump FILE                                  header, groups, channels (text)
 *   mf4dump --json FILE                           structure + per-channel statistics, in the
 *                                                 shape of asammdf's reference JSON
 *   mf4dump --csv FILE --group G [--channels a,b] physical values with the time column
 *
 * Exit codes (docs/mf4dump.md): 0 ok, 1 usage, 2 file cannot be opened/read, 3 not an MDF4
 * file or unsupported version, 4 corrupt/truncated file, 5 unsupported MDF feature,
 * 6 group or channel not found, 7 out of memory / internal.
 *
 * Statistics are computed in one streaming pass over each group (O(batch) memory); byte-array
 * channels need a second pass for their fixed-width SHA-256 (values padded with zeros to the
 * longest one, as numpy stores them).
 */
#include "mf4.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 65536

enum {
    EXIT_USAGE = 1,
    EXIT_IO = 2,
    EXIT_NOT_MDF = 3,
    EXIT_CORRUPT = 4,
    EXIT_UNSUPPORTED = 5,
    EXIT_NOT_FOUND = 6,
    EXIT_INTERNAL = 7,
};

static int exit_code_for(int status)
{
    switch (status) {
    case MF4_OK:
        return 0;
    case MF4_E_IO:
        return EXIT_IO;
    case MF4_E_NOT_MDF:
    case MF4_E_VERSION:
        return EXIT_NOT_MDF;
    case MF4_E_TRUNCATED:
    case MF4_E_CORRUPT:
    case MF4_E_ZLIB:
    case MF4_E_CONV:
        return EXIT_CORRUPT;
    case MF4_E_UNSUPPORTED:
        return EXIT_UNSUPPORTED;
    case MF4_E_NOT_FOUND:
        return EXIT_NOT_FOUND;
    default:
        return EXIT_INTERNAL;
    }
}

static int report(const char *file, const mf4_error *e)
{
    fprintf(stderr, "mf4dump: %s: %s: %s (offset %" PRIu64 ")\n", file, mf4_strerror(e->code),
            e->message, e->offset);
    return exit_code_for(e->code);
}

static void usage(FILE *o)
{
    fprintf(o, "usage: mf4dump FILE\n"
               "       mf4dump --json FILE\n"
               "       mf4dump --csv FILE --group G [--channels NAME,NAME...]\n"
               "exit codes: 0 ok, 1 usage, 2 cannot open/read, 3 not MDF4, 4 corrupt or "
               "truncated,\n            5 unsupported feature, 6 group/channel not found, "
               "7 internal\n");
}

/* ------------------------------------------------------------------ JSON output helpers */
static void json_str(FILE *o, const char *s, size_t n)
{
    fputc('"', o);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(o, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", o);
        else if (c == '\r')
            fputs("\\r", o);
        else if (c == '\t')
            fputs("\\t", o);
        else if (c < 0x20)
            fprintf(o, "\\u%04x", c);
        else
            fputc(c, o);
    }
    fputc('"', o);
}

static void json_cstr(FILE *o, const char *s)
{
    json_str(o, s, strlen(s));
}

/* Shortest decimal that reads back as d (like Python's repr). */
static void fmt_double(char *buf, size_t n, double d)
{
    if (isnan(d) || isinf(d)) {
        snprintf(buf, n, "null");
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    /* make it look like a float, as Python prints it */
    if (!strpbrk(buf, ".eEn"))
        strncat(buf, ".0", n - strlen(buf) - 1);
}

static void json_double(FILE *o, double d)
{
    char b[40];
    fmt_double(b, sizeof b, d);
    fputs(b, o);
}

/* ------------------------------------------------------------------ dtype names (numpy) */
static unsigned std_width(unsigned bits)
{
    return bits <= 8 ? 1 : bits <= 16 ? 2 : bits <= 32 ? 4 : 8;
}

static int natural(const mf4_channel *c)
{
    return c->bit_offset == 0 &&
           (c->bit_count == 8 || c->bit_count == 16 || c->bit_count == 32 || c->bit_count == 64);
}

static int is_be(const mf4_channel *c)
{
    return c->data_type == MF4_DT_UINT_BE || c->data_type == MF4_DT_INT_BE ||
           c->data_type == MF4_DT_FLOAT_BE;
}

/* "uint16", ">i2", "float64" ... */
static void dtype_name(const mf4_channel *c, char *b, size_t n)
{
    if (c->channel_type == MF4_CN_VIRTUAL_MASTER || c->channel_type == MF4_CN_VIRTUAL_DATA) {
        snprintf(b, n, "uint64");
        return;
    }
    unsigned w = c->kind == MF4_VAL_FLOAT ? c->bit_count / 8 : std_width(c->bit_count);
    char k = c->kind == MF4_VAL_UINT ? 'u' : c->kind == MF4_VAL_INT ? 'i' : 'f';
    if (c->kind == MF4_VAL_BYTES) {
        snprintf(b, n, "uint8");
        return;
    }
    if (is_be(c) && natural(c) && w > 1) {
        snprintf(b, n, ">%c%u", k, w);
        return;
    }
    snprintf(b, n, "%s%u", k == 'u' ? "uint" : k == 'i' ? "int" : "float", w * 8);
}

/* numpy type code inside a record dtype: 'u1', '<u4', '>i2', '<f8' */
static void dtype_code(const mf4_channel *c, char *b, size_t n)
{
    unsigned w = c->kind == MF4_VAL_FLOAT ? c->bit_count / 8 : std_width(c->bit_count);
    char k = c->kind == MF4_VAL_UINT ? 'u' : c->kind == MF4_VAL_INT ? 'i' : 'f';
    if (w == 1)
        snprintf(b, n, "%c1", k);
    else
        snprintf(b, n, "%c%c%u", is_be(c) && natural(c) ? '>' : '<', k, w);
}

/* ------------------------------------------------------------------ statistics */
typedef struct stat {
    uint64_t n;
    int kind; /* MF4_VAL_* of the values accumulated (phys of numeric: FLOAT unless identity) */
    int as_int;
    /* integer values */
    int64_t ifirst, ilast, imin, imax;
    uint64_t ufirst, ulast, umin, umax;
    __int128 isum;
    /* float values */
    double ffirst, flast, fmin, fmax, fsum, fcomp;
    /* text/bytes */
    char *tfirst, *tlast;
    size_t maxlen;
    unsigned char bfirst[256], blast[256];
    size_t lfirst, llast;
} stat;

static void st_float(stat *s, double v)
{
    if (s->n == 0) {
        s->ffirst = s->fmin = s->fmax = v;
    }
    s->flast = v;
    if (v < s->fmin || isnan(v))
        s->fmin = v;
    if (v > s->fmax || isnan(v))
        s->fmax = v;
    /* Neumaier summation */
    double t = s->fsum + v;
    if (fabs(s->fsum) >= fabs(v))
        s->fcomp += (s->fsum - t) + v;
    else
        s->fcomp += (v - t) + s->fsum;
    s->fsum = t;
    s->n++;
}

static void st_uint(stat *s, uint64_t v)
{
    if (s->n == 0)
        s->ufirst = s->umin = s->umax = v;
    s->ulast = v;
    if (v < s->umin)
        s->umin = v;
    if (v > s->umax)
        s->umax = v;
    s->isum += v;
    s->n++;
}

static void st_int(stat *s, int64_t v)
{
    if (s->n == 0)
        s->ifirst = s->imin = s->imax = v;
    s->ilast = v;
    if (v < s->imin)
        s->imin = v;
    if (v > s->imax)
        s->imax = v;
    s->isum += v;
    s->n++;
}

static void st_bytes(stat *s, const unsigned char *p, size_t l)
{
    if (s->n == 0) {
        s->lfirst = l < sizeof s->bfirst ? l : sizeof s->bfirst;
        memcpy(s->bfirst, p, s->lfirst);
    }
    s->llast = l < sizeof s->blast ? l : sizeof s->blast;
    memcpy(s->blast, p, s->llast);
    if (l > s->maxlen)
        s->maxlen = l;
    s->n++;
}

static void print_stat(FILE *o, const stat *s, const char *dtype, int kind)
{
    fprintf(o, "{\"dtype\": ");
    json_cstr(o, dtype);
    fprintf(o, ", \"n\": %" PRIu64, s->n);
    if (s->n == 0) {
        fputc('}', o);
        return;
    }
    if (kind == MF4_VAL_UINT) {
        fprintf(o,
                ", \"first\": %" PRIu64 ", \"last\": %" PRIu64 ", \"min\": %" PRIu64
                ", \"max\": %" PRIu64 ", \"sum\": ",
                s->ufirst, s->ulast, s->umin, s->umax);
        json_double(o, (double)s->isum);
    } else if (kind == MF4_VAL_INT) {
        fprintf(o,
                ", \"first\": %" PRId64 ", \"last\": %" PRId64 ", \"min\": %" PRId64
                ", \"max\": %" PRId64 ", \"sum\": ",
                s->ifirst, s->ilast, s->imin, s->imax);
        json_double(o, (double)s->isum);
    } else {
        fprintf(o, ", \"first\": ");
        json_double(o, s->ffirst);
        fprintf(o, ", \"last\": ");
        json_double(o, s->flast);
        fprintf(o, ", \"min\": ");
        json_double(o, s->fmin);
        fprintf(o, ", \"max\": ");
        json_double(o, s->fmax);
        fprintf(o, ", \"sum\": ");
        json_double(o, s->fsum + s->fcomp);
    }
    fputc('}', o);
}

/* ------------------------------------------------------------------ --json */
typedef struct chstat {
    stat raw, phys;
    int phys_float; /* the conversion turns values into float64 */
    int phys_text;  /* a conversion yielded text */
    unsigned char sha[32];
    int have_sha;
    size_t width; /* byte arrays: padded width */
    /* first record values for composition strings */
    char first_repr[512];
} chstat;

static int is_identity(const mf4_conversion *c)
{
    return !c || c->type == MF4_CONV_IDENTITY ||
           (c->type == MF4_CONV_LINEAR && c->params[0] == 0 && c->params[1] == 1);
}

/* numpy-style repr of a byte array: elements right-aligned to the widest. */
static void bytes_repr(char *b, size_t n, const unsigned char *p, size_t l, size_t width)
{
    unsigned w = 1;
    for (size_t i = 0; i < width; i++) {
        unsigned v = i < l ? p[i] : 0;
        unsigned d = v >= 100 ? 3 : v >= 10 ? 2 : 1;
        if (d > w)
            w = d;
    }
    size_t k = 0;
    k += (size_t)snprintf(b + k, n - k, "[");
    for (size_t i = 0; i < width && k < n; i++)
        k += (size_t)snprintf(b + k, n - k, "%s%*u", i ? ", " : "", (int)w, i < l ? p[i] : 0);
    if (k < n)
        snprintf(b + k, n - k, "]");
}

static int group_json(FILE *o, const mf4_file *f, size_t gi, const char *file)
{
    const mf4_group *g = mf4_group_at(f, gi);
    mf4_error e;
    fprintf(o, "{\"index\": %zu, \"acq_name\": ", gi);
    json_cstr(o, g->acq_name);
    fprintf(o, ", \"cycles\": %" PRIu64 ", \"channels\": [", g->cycles);
    if (g->n_channels == 0) {
        fprintf(o, "]}");
        return 0;
    }
    size_t nch = g->n_channels;
    chstat *cs = calloc(nch, sizeof *cs);
    size_t *sel = malloc(nch * sizeof *sel);
    stat tstat;
    memset(&tstat, 0, sizeof tstat);
    if (!cs || !sel) {
        free(cs);
        free(sel);
        fprintf(stderr, "mf4dump: out of memory\n");
        return EXIT_INTERNAL;
    }
    for (size_t k = 0; k < nch; k++) {
        sel[k] = k;
        cs[k].phys_float = !is_identity(g->channels[k].conv);
    }
    mf4_reader *r;
    int rc = mf4_reader_open(&r, f, gi, sel, nch, BATCH, &e);
    size_t n;
    int any_bytes = 0;
    while (!rc && (rc = mf4_reader_next(r, &n, &e)) == MF4_OK && n > 0) {
        for (size_t k = 0; k < nch; k++) {
            const mf4_column *c = mf4_reader_column(r, k);
            chstat *s = &cs[k];
            for (size_t i = 0; i < n; i++) {
                switch (c->kind) {
                case MF4_VAL_UINT:
                    st_uint(&s->raw, c->u64[i]);
                    break;
                case MF4_VAL_INT:
                    st_int(&s->raw, c->i64[i]);
                    break;
                case MF4_VAL_FLOAT:
                    st_float(&s->raw, c->f64[i]);
                    break;
                case MF4_VAL_BYTES:
                    st_bytes(&s->raw, c->bytes + c->offsets[i], c->offsets[i + 1] - c->offsets[i]);
                    any_bytes = 1;
                    break;
                }
                if (c->kind != MF4_VAL_BYTES) {
                    if (c->text && c->text[i])
                        s->phys_text = 1;
                    if (s->phys_float)
                        st_float(&s->phys, c->phys[i]);
                }
            }
            if ((long)k == g->master)
                for (size_t i = 0; i < n; i++)
                    st_float(&tstat, c->phys[i]);
        }
        if (g->master < 0)
            for (size_t i = 0; i < n; i++)
                st_float(&tstat, (double)(mf4_reader_position(r) - n + i));
    }
    mf4_reader_free(r);
    if (rc) {
        free(cs);
        free(sel);
        return report(file, &e);
    }
    /* second pass: byte arrays padded to their widest value, hashed */
    if (any_bytes && g->cycles > 0) {
        size_t nb = 0;
        for (size_t k = 0; k < nch; k++)
            if (g->channels[k].kind == MF4_VAL_BYTES && !g->channels[k].n_children)
                sel[nb++] = k;
        EVP_MD_CTX **ctx = calloc(nb ? nb : 1, sizeof *ctx);
        unsigned char *pad = calloc(1, 65536);
        rc = mf4_reader_open(&r, f, gi, sel, nb, BATCH, &e);
        for (size_t j = 0; j < nb && !rc; j++) {
            ctx[j] = EVP_MD_CTX_new();
            EVP_DigestInit_ex(ctx[j], EVP_sha256(), NULL);
            cs[sel[j]].width = cs[sel[j]].raw.maxlen;
        }
        while (!rc && (rc = mf4_reader_next(r, &n, &e)) == MF4_OK && n > 0) {
            for (size_t j = 0; j < nb; j++) {
                const mf4_column *c = mf4_reader_column(r, j);
                size_t w = cs[sel[j]].width;
                for (size_t i = 0; i < n; i++) {
                    size_t l = c->offsets[i + 1] - c->offsets[i];
                    EVP_DigestUpdate(ctx[j], c->bytes + c->offsets[i], l);
                    while (l < w) {
                        size_t k = w - l > 65536 ? 65536 : w - l;
                        EVP_DigestUpdate(ctx[j], pad, k);
                        l += k;
                    }
                }
            }
        }
        mf4_reader_free(r);
        for (size_t j = 0; j < nb; j++) {
            if (ctx[j]) {
                unsigned int len = 32;
                EVP_DigestFinal_ex(ctx[j], cs[sel[j]].sha, &len);
                cs[sel[j]].have_sha = 1;
                EVP_MD_CTX_free(ctx[j]);
            }
        }
        free(ctx);
        free(pad);
        if (rc) {
            free(cs);
            free(sel);
            return report(file, &e);
        }
    }
    for (size_t k = 0; k < nch; k++) {
        const mf4_channel *c = &g->channels[k];
        chstat *s = &cs[k];
        if (k)
            fputs(", ", o);
        fprintf(o, "{\"index\": %zu, \"name\": ", k);
        json_cstr(o, c->name);
        fprintf(o, ", \"unit\": ");
        json_cstr(o, c->unit);
        char dt[64];
        if (c->n_children) {
            /* composition: numpy record dtype and str(record)[:60] of the first record */
            char desc[4096], first[4096];
            size_t dk = 0, fk = 0;
            /* asammdf views the record directly (a plain structured dtype) when no two
             * members share a byte, else it assembles a numpy.record array */
            int plain = 1;
            for (size_t a = k + 1; a < nch; a++)
                for (size_t b2 = a + 1; b2 < nch; b2++) {
                    const mf4_channel *ca = &g->channels[a], *cb = &g->channels[b2];
                    if (ca->parent != (long)k || cb->parent != (long)k)
                        continue;
                    uint64_t ea = ca->byte_offset + (ca->bit_offset + ca->bit_count + 7) / 8;
                    uint64_t eb = cb->byte_offset + (cb->bit_offset + cb->bit_count + 7) / 8;
                    if (ca->byte_offset < eb && cb->byte_offset < ea)
                        plain = 0;
                }
            dk += (size_t)snprintf(desc + dk, sizeof desc - dk, "[");
            fk += (size_t)snprintf(first + fk, sizeof first - fk, "(");
            int m = 0;
            for (size_t j = k + 1; j < nch && dk < sizeof desc && fk < sizeof first; j++) {
                const mf4_channel *ch = &g->channels[j];
                if (ch->parent != (long)k)
                    continue;
                const stat *cst = &cs[j].raw;
                char code[16];
                if (ch->kind == MF4_VAL_BYTES) {
                    size_t w = cs[j].raw.maxlen ? cs[j].raw.maxlen : ch->bit_count / 8;
                    dk += (size_t)snprintf(desc + dk, sizeof desc - dk, "%s('%s', 'u1', (%zu,))",
                                           m ? ", " : "", ch->name, w);
                    char br[2048];
                    bytes_repr(br, sizeof br, cst->bfirst, cst->lfirst, w);
                    fk +=
                        (size_t)snprintf(first + fk, sizeof first - fk, "%s%s", m ? ", " : "", br);
                } else {
                    dtype_code(ch, code, sizeof code);
                    dk += (size_t)snprintf(desc + dk, sizeof desc - dk, "%s('%s', '%s')",
                                           m ? ", " : "", ch->name, code);
                    char v[48];
                    if (ch->kind == MF4_VAL_UINT)
                        snprintf(v, sizeof v, "%" PRIu64, cst->ufirst);
                    else if (ch->kind == MF4_VAL_INT)
                        snprintf(v, sizeof v, "%" PRId64, cst->ifirst);
                    else
                        fmt_double(v, sizeof v, cst->ffirst);
                    fk += (size_t)snprintf(first + fk, sizeof first - fk, "%s%s", m ? ", " : "", v);
                }
                m++;
            }
            if (dk < sizeof desc)
                snprintf(desc + dk, sizeof desc - dk, "]");
            if (fk < sizeof first)
                snprintf(first + fk, sizeof first - fk, ")");
            char full[4200];
            if (plain)
                snprintf(full, sizeof full, "%s", desc);
            else
                snprintf(full, sizeof full, "(numpy.record, %s)", desc);
            first[60] = 0;
            for (int pass = 0; pass < 2; pass++) {
                fprintf(o, pass ? ", \"phys\": " : ", \"raw\": ");
                fprintf(o, "{\"dtype\": ");
                json_cstr(o, full);
                fprintf(o, ", \"n\": %" PRIu64, s->raw.n);
                if (s->raw.n) {
                    fprintf(o, ", \"first\": ");
                    json_cstr(o, first);
                }
                fputc('}', o);
            }
        } else if (c->kind == MF4_VAL_BYTES) {
            int text =
                c->data_type >= MF4_DT_STRING_LATIN1 && c->data_type <= MF4_DT_STRING_UTF16_BE;
            for (int pass = 0; pass < 2; pass++) {
                fprintf(o, pass ? ", \"phys\": " : ", \"raw\": ");
                if (text) {
                    fprintf(o, "{\"dtype\": \"str\", \"n\": %" PRIu64, s->raw.n);
                    if (s->raw.n) {
                        fprintf(o, ", \"first\": ");
                        json_str(o, (const char *)s->raw.bfirst, s->raw.lfirst);
                        fprintf(o, ", \"last\": ");
                        json_str(o, (const char *)s->raw.blast, s->raw.llast);
                    }
                    fputc('}', o);
                    continue;
                }
                fprintf(o, "{\"dtype\": \"uint8\", \"n\": %" PRIu64, s->raw.n);
                if (s->raw.n) {
                    size_t w = s->width;
                    char br[2048];
                    fprintf(o, ", \"shape\": [%" PRIu64 ", %zu], \"first\": ", s->raw.n, w);
                    fputc('[', o);
                    for (size_t i = 0; i < w; i++)
                        fprintf(o, "%s%u", i ? ", " : "", i < s->raw.lfirst ? s->raw.bfirst[i] : 0);
                    fprintf(o, "], \"last\": [");
                    for (size_t i = 0; i < w; i++)
                        fprintf(o, "%s%u", i ? ", " : "", i < s->raw.llast ? s->raw.blast[i] : 0);
                    fprintf(o, "], \"sha256\": \"");
                    for (int i = 0; i < 32; i++)
                        fprintf(o, "%02x", s->sha[i]);
                    fputc('"', o);
                    (void)br;
                }
                fputc('}', o);
            }
        } else {
            dtype_name(c, dt, sizeof dt);
            fprintf(o, ", \"raw\": ");
            print_stat(o, &s->raw, dt, c->kind);
            fprintf(o, ", \"phys\": ");
            if (s->phys_float)
                print_stat(o, &s->phys, "float64", MF4_VAL_FLOAT);
            else
                print_stat(o, &s->raw, dt, c->kind);
        }
        fprintf(o, ", \"t\": ");
        print_stat(o, &tstat, "float64", MF4_VAL_FLOAT);
        fputc('}', o);
    }
    fprintf(o, "]}");
    free(cs);
    free(sel);
    return 0;
}

static int cmd_json(const char *file)
{
    mf4_file *f;
    mf4_error e;
    int rc = mf4_open(&f, file, &e);
    if (rc)
        return report(file, &e);
    const mf4_file_info *in = mf4_info(f);
    /* build into a memory stream so that a failure prints nothing half-done */
    char *buf = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&buf, &len);
    if (!o) {
        mf4_close(f);
        return EXIT_INTERNAL;
    }
    fprintf(o, "{\"version\": ");
    json_cstr(o, in->version_str);
    fprintf(o, ", \"groups\": [");
    int ec = 0;
    for (size_t gi = 0; gi < mf4_group_count(f) && !ec; gi++) {
        if (gi)
            fputs(", ", o);
        ec = group_json(o, f, gi, file);
    }
    fprintf(o, "]}\n");
    fclose(o);
    if (!ec)
        fwrite(buf, 1, len, stdout);
    free(buf);
    mf4_close(f);
    return ec;
}

/* ------------------------------------------------------------------ text */
static int cmd_text(const char *file)
{
    mf4_file *f;
    mf4_error e;
    int rc = mf4_open(&f, file, &e);
    if (rc)
        return report(file, &e);
    const mf4_file_info *in = mf4_info(f);
    printf("file:      %s\n", file);
    printf("version:   %s (%u)%s\n", in->version_str, in->version,
           in->unfinalized ? "  UNFINALIZED" : "");
    printf("program:   %s\n", in->program);
    printf("start:     %" PRIu64 " ns  (tz %+d min, dst %+d min)\n", in->start_time_ns,
           in->tz_offset_min, in->dst_offset_min);
    printf("size:      %" PRIu64 " bytes, %zu data groups, %zu channel groups\n", in->file_size,
           in->n_data_groups, in->n_groups);
    for (size_t gi = 0; gi < mf4_group_count(f); gi++) {
        const mf4_group *g = mf4_group_at(f, gi);
        printf("\ngroup %zu  \"%s\"  dg %zu  record id %" PRIu64 "  %" PRIu64
               " records of %u+%u bytes%s\n",
               gi, g->acq_name, g->dg_index, g->record_id, g->cycles, g->data_bytes, g->inval_bytes,
               g->is_vlsd ? "  (VLSD data group)" : "");
        for (size_t k = 0; k < g->n_channels; k++) {
            const mf4_channel *c = &g->channels[k];
            printf("  %3zu %s%-32s %-14s %2u bits @%u.%u %-8s %s%s%s\n", k,
                   c->parent >= 0 ? "  " : "", c->name, mf4_data_type_name(c->data_type),
                   c->bit_count, c->byte_offset, c->bit_offset, c->unit,
                   c->conv ? mf4_conv_type_name(c->conv->type) : "",
                   c->is_master ? " [master]" : "", c->has_invalidation ? " [inval]" : "");
        }
    }
    mf4_close(f);
    return 0;
}

/* ------------------------------------------------------------------ --csv */
static void csv_field(const char *s, size_t n)
{
    int q = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r')
            q = 1;
    if (!q) {
        fwrite(s, 1, n, stdout);
        return;
    }
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            putchar('"');
        putchar(s[i]);
    }
    putchar('"');
}

static int cmd_csv(const char *file, const char *group, const char *channels)
{
    char *end;
    errno = 0;
    unsigned long gi = strtoul(group, &end, 10);
    if (*group == 0 || *end || errno) {
        fprintf(stderr, "mf4dump: --group wants a group index, got '%s'\n", group);
        return EXIT_USAGE;
    }
    mf4_file *f;
    mf4_error e;
    int rc = mf4_open(&f, file, &e);
    if (rc)
        return report(file, &e);
    const mf4_group *g = mf4_group_at(f, gi);
    if (!g) {
        fprintf(stderr, "mf4dump: %s: no group %lu (the file has %zu)\n", file, gi,
                mf4_group_count(f));
        mf4_close(f);
        return EXIT_NOT_FOUND;
    }
    size_t cap = g->n_channels + 1, n = 0;
    size_t *sel = malloc(cap * sizeof *sel);
    if (!sel) {
        mf4_close(f);
        return EXIT_INTERNAL;
    }
    /* column 0: the master (or nothing; then the record index is printed) */
    if (g->master >= 0)
        sel[n++] = (size_t)g->master;
    if (channels) {
        char *list = strdup(channels);
        char *save = NULL;
        for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            size_t k;
            if (mf4_find_channel(f, tok, gi, NULL, &k) != MF4_OK) {
                fprintf(stderr, "mf4dump: %s: group %lu has no channel '%s'; channels:", file, gi,
                        tok);
                for (size_t j = 0; j < g->n_channels; j++)
                    fprintf(stderr, "%s '%s'", j ? "," : "", g->channels[j].name);
                fputc('\n', stderr);
                free(list);
                free(sel);
                mf4_close(f);
                return EXIT_NOT_FOUND;
            }
            if (n == cap) {
                cap *= 2;
                size_t *ns = realloc(sel, cap * sizeof *ns);
                if (!ns) {
                    free(list);
                    free(sel);
                    mf4_close(f);
                    return EXIT_INTERNAL;
                }
                sel = ns;
            }
            sel[n++] = k;
        }
        free(list);
    } else {
        for (size_t k = 0; k < g->n_channels; k++)
            if ((long)k != g->master && !g->channels[k].n_children)
                sel[n++] = k;
    }
    int has_master = g->master >= 0;
    printf("t");
    for (size_t j = has_master ? 1 : 0; j < n; j++) {
        putchar(',');
        csv_field(g->channels[sel[j]].name, strlen(g->channels[sel[j]].name));
    }
    putchar('\n');
    if (n == 0 || g->cycles == 0) {
        free(sel);
        mf4_close(f);
        return 0;
    }
    mf4_reader *r;
    rc = mf4_reader_open(&r, f, gi, sel, n, BATCH, &e);
    size_t got;
    while (!rc && (rc = mf4_reader_next(r, &got, &e)) == MF4_OK && got > 0) {
        uint64_t base = mf4_reader_position(r) - got;
        for (size_t i = 0; i < got; i++) {
            char b[40];
            if (!has_master) {
                printf("%" PRIu64, base + i);
            }
            for (size_t j = 0; j < n; j++) {
                const mf4_column *c = mf4_reader_column(r, j);
                if (j || !has_master) {
                    if (j || !has_master)
                        putchar(',');
                }
                if (!c->valid[i])
                    continue;
                if (c->text && c->text[i]) {
                    csv_field(c->text[i], strlen(c->text[i]));
                } else if (c->kind == MF4_VAL_BYTES) {
                    size_t l = c->offsets[i + 1] - c->offsets[i];
                    const unsigned char *p = c->bytes + c->offsets[i];
                    int str = c->ch->data_type >= MF4_DT_STRING_LATIN1 &&
                              c->ch->data_type <= MF4_DT_STRING_UTF16_BE;
                    if (str) {
                        csv_field((const char *)p, l);
                    } else {
                        for (size_t k = 0; k < l; k++)
                            printf("%02x", p[k]);
                    }
                } else if (c->kind == MF4_VAL_UINT && !c->ch->conv) {
                    printf("%" PRIu64, c->u64[i]);
                } else if (c->kind == MF4_VAL_INT && !c->ch->conv) {
                    printf("%" PRId64, c->i64[i]);
                } else {
                    fmt_double(b, sizeof b, c->phys[i]);
                    fputs(strcmp(b, "null") ? b : "", stdout);
                }
            }
            putchar('\n');
        }
    }
    mf4_reader_free(r);
    free(sel);
    mf4_close(f);
    if (rc)
        return report(file, &e);
    return 0;
}

int main(int argc, char **argv)
{
    const char *file = NULL, *group = NULL, *channels = NULL;
    int json = 0, csv = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--csv") == 0) {
            csv = 1;
        } else if (strcmp(a, "--group") == 0 && i + 1 < argc) {
            group = argv[++i];
        } else if (strcmp(a, "--channels") == 0 && i + 1 < argc) {
            channels = argv[++i];
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "mf4dump: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return EXIT_USAGE;
        } else if (!file) {
            file = a;
        } else {
            fprintf(stderr, "mf4dump: more than one file given\n");
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!file || (json && csv) || (csv && !group) || (!csv && (group || channels))) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (json)
        return cmd_json(file);
    if (csv)
        return cmd_csv(file, group, channels);
    return cmd_text(file);
}
