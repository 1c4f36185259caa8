/*
 * mf4_writer.c - a small MDF 4.10 writer: sorted data groups (one channel group each),
 * numeric channels, conversions with parameters/texts, invalidation bits, data in one DT
 * block or in a DL list of transposed-deflate DZ blocks behind an HL block.
 *
 * File layout, in write order:
 *   ID (0..63), HD (64..) with HD comment TX,
 *   per group: [DT header + records]  or  [DZ blocks ... DL, HL], then the group's metadata
 *              (TX/CC/CN blocks, CG, DG); the previous DG's dg_next (or HD's dg_first) is
 *              patched to point at the new DG.
 * Invariants: every block starts at an 8-byte aligned offset; w->pos is the file offset of
 * the next byte to write (the buffer holds [w->pos - w->blen, w->pos)); patches go through
 * patch_u64(), which flushes first. Memory is O(channels) plus one DZ chunk.
 */
#include "mf4.h"
#include "mf4_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define WBUF_SIZE (1u << 20)

typedef struct wchan {
    mf4_wchannel def; /* strings point into the copies below */
    char *name, *unit, *comment, *formula;
    double *params;
    char **texts;
    unsigned width; /* bytes in the record */
    unsigned bits;
    uint32_t byte_offset;
    long inval_pos; /* -1 if none */
} wchan;

struct mf4_writer {
    int fd;
    uint64_t pos; /* offset of the next byte */
    unsigned char *buf;
    size_t blen;
    int failed; /* sticky: an I/O error happened */
    mf4_writer_opts opts;
    char program[9];
    uint64_t last_dg_link; /* offset of the link to patch with the next DG's offset */
    /* open group */
    int in_group;
    char *acq_name, *gcomment;
    wchan *ch;
    size_t nch;
    uint32_t data_bytes, inval_bytes, rec_size;
    uint64_t cycles;
    int compress;
    uint64_t dt_start;    /* DT block offset (uncompressed) */
    unsigned char *rec;   /* one record */
    unsigned char *chunk; /* DZ chunk (compressed groups) */
    size_t chunk_len, chunk_cap;
    unsigned char *tbuf; /* transposition scratch */
    unsigned char *zbuf;
    size_t zcap;
    uint64_t *dz_offs;
    size_t n_dz, cap_dz;
    uint64_t dz_equal_len;
};

/* ------------------------------------------------------------------ errors */
int mf4__err(mf4_error *e, int code, uint64_t off, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        e->code = code;
        e->offset = off;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof e->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ------------------------------------------------------------------ low-level output */
static int wflush(mf4_writer *w, mf4_error *err)
{
    size_t done = 0;
    while (done < w->blen) {
        ssize_t k = pwrite(w->fd, w->buf + done, w->blen - done, (off_t)(w->pos - w->blen + done));
        if (k < 0) {
            if (errno == EINTR)
                continue;
            w->failed = 1;
            return mf4__err(err, MF4_E_IO, w->pos, "write failed: %s", strerror(errno));
        }
        done += (size_t)k;
    }
    w->blen = 0;
    return MF4_OK;
}

static int wbytes(mf4_writer *w, const void *p, size_t n, mf4_error *err)
{
    const unsigned char *s = p;
    if (w->failed)
        return mf4__err(err, MF4_E_IO, w->pos, "writer failed earlier");
    while (n > 0) {
        if (w->blen == WBUF_SIZE) {
            int rc = wflush(w, err);
            if (rc)
                return rc;
        }
        size_t k = WBUF_SIZE - w->blen;
        if (k > n)
            k = n;
        memcpy(w->buf + w->blen, s, k);
        w->blen += k;
        w->pos += k;
        s += k;
        n -= k;
    }
    return MF4_OK;
}

static int wpad8(mf4_writer *w, mf4_error *err)
{
    static const unsigned char zeros[8];
    size_t pad = (size_t)((8 - (w->pos & 7)) & 7);
    return pad ? wbytes(w, zeros, pad, err) : MF4_OK;
}

static int patch_u64(mf4_writer *w, uint64_t off, uint64_t v, mf4_error *err)
{
    unsigned char b[8];
    int rc = wflush(w, err);
    if (rc)
        return rc;
    mf4__put_le(b, v, 8);
    if (pwrite(w->fd, b, 8, (off_t)off) != 8) {
        w->failed = 1;
        return mf4__err(err, MF4_E_IO, off, "write failed: %s", strerror(errno));
    }
    return MF4_OK;
}

/* Block header into b (24 bytes). */
static void block_header(unsigned char *b, const char id[2], uint64_t len, uint64_t nlinks)
{
    b[0] = '#';
    b[1] = '#';
    b[2] = (unsigned char)id[0];
    b[3] = (unsigned char)id[1];
    memset(b + 4, 0, 4);
    mf4__put_le(b + 8, len, 8);
    mf4__put_le(b + 16, nlinks, 8);
}

/* Writes a TX block for s (NULL or "" -> no block, returns 0 link). */
static int write_tx(mf4_writer *w, const char *s, uint64_t *link, mf4_error *err)
{
    *link = 0;
    if (!s || !*s)
        return MF4_OK;
    int rc = wpad8(w, err);
    if (rc)
        return rc;
    size_t n = strlen(s) + 1;
    size_t padded = (n + 7) & ~(size_t)7;
    unsigned char h[24];
    block_header(h, "TX", 24 + padded, 0);
    *link = w->pos;
    if ((rc = wbytes(w, h, 24, err)) || (rc = wbytes(w, s, n - 1, err)))
        return rc;
    static const unsigned char zeros[8];
    return wbytes(w, zeros, padded - (n - 1), err);
}

/* ------------------------------------------------------------------ open/close */
int mf4_writer_open(mf4_writer **out, const char *path, const mf4_writer_opts *opts, mf4_error *err)
{
    if (!out || !path)
        return mf4__err(err, MF4_E_ARG, 0, "mf4_writer_open: NULL argument");
    *out = NULL;
    mf4_writer *w = calloc(1, sizeof *w);
    if (!w)
        return mf4__err(err, MF4_E_NOMEM, 0, "out of memory");
    w->buf = malloc(WBUF_SIZE);
    if (!w->buf) {
        free(w);
        return mf4__err(err, MF4_E_NOMEM, 0, "out of memory");
    }
    if (opts)
        w->opts = *opts;
    if (w->opts.dz_chunk_bytes == 0)
        w->opts.dz_chunk_bytes = 4u << 20;
    if (w->opts.dz_chunk_bytes > (256u << 20))
        w->opts.dz_chunk_bytes = 256u << 20;
    snprintf(w->program, sizeof w->program, "%s",
             w->opts.program && *w->opts.program ? w->opts.program : "libmf4");
    w->opts.program = NULL;
    w->opts.comment = NULL;
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        int e = errno;
        free(w->buf);
        free(w);
        return mf4__err(err, MF4_E_IO, 0, "cannot create %s: %s", path, strerror(e));
    }
    /* ID block */
    unsigned char id[64];
    memset(id, 0, sizeof id);
    memcpy(id, "MDF     ", 8);
    memcpy(id + 8, "4.10    ", 8);
    memset(id + 16, ' ', 8);
    memcpy(id + 16, w->program, strlen(w->program));
    mf4__put_le(id + 28, 410, 2);
    /* HD block: 24 + 6 links + 32 bytes of data */
    unsigned char hd[104];
    memset(hd, 0, sizeof hd);
    block_header(hd, "HD", sizeof hd, 6);
    mf4__put_le(hd + 72, opts ? opts->start_time_ns : 0, 8);
    hd[84] = 0; /* time flags: UTC */
    hd[86] = 0;
    uint64_t comment_link = 0;
    int rc;
    if ((rc = wbytes(w, id, 64, err)) || (rc = wbytes(w, hd, sizeof hd, err)) ||
        (rc = write_tx(w, opts ? opts->comment : NULL, &comment_link, err)) ||
        (comment_link && (rc = patch_u64(w, 64 + 24 + 5 * 8, comment_link, err)))) {
        mf4_writer_abort(w);
        return rc;
    }
    w->last_dg_link = 64 + 24; /* hd_dg_first */
    *out = w;
    return MF4_OK;
}

static void free_group(mf4_writer *w)
{
    for (size_t i = 0; i < w->nch; i++) {
        wchan *c = &w->ch[i];
        free(c->name);
        free(c->unit);
        free(c->comment);
        free(c->formula);
        free(c->params);
        if (c->texts)
            for (size_t k = 0; k < c->def.conv.n_texts; k++)
                free(c->texts[k]);
        free(c->texts);
    }
    free(w->ch);
    w->ch = NULL;
    w->nch = 0;
    free(w->acq_name);
    free(w->gcomment);
    w->acq_name = w->gcomment = NULL;
    free(w->rec);
    free(w->chunk);
    free(w->tbuf);
    free(w->zbuf);
    free(w->dz_offs);
    w->rec = w->chunk = w->tbuf = w->zbuf = NULL;
    w->dz_offs = NULL;
    w->chunk_len = w->chunk_cap = w->zcap = w->n_dz = w->cap_dz = 0;
    w->in_group = 0;
}

void mf4_writer_abort(mf4_writer *w)
{
    if (!w)
        return;
    free_group(w);
    if (w->fd >= 0)
        close(w->fd);
    free(w->buf);
    free(w);
}

int mf4_writer_close(mf4_writer *w, mf4_error *err)
{
    if (!w)
        return MF4_OK;
    int rc = MF4_OK;
    if (w->in_group)
        rc = mf4_writer_end_group(w, err);
    if (!rc)
        rc = wflush(w, err);
    if (!rc && fsync(w->fd) != 0 && errno != EINVAL && errno != EROFS)
        rc = mf4__err(err, MF4_E_IO, w->pos, "fsync failed: %s", strerror(errno));
    if (close(w->fd) != 0 && !rc)
        rc = mf4__err(err, MF4_E_IO, w->pos, "close failed: %s", strerror(errno));
    w->fd = -1;
    mf4_writer_abort(w);
    return rc;
}

/* ------------------------------------------------------------------ groups */
static unsigned wtype_width(mf4_wtype t)
{
    switch (t) {
    case MF4_W_U8:
    case MF4_W_I8:
        return 1;
    case MF4_W_U16:
    case MF4_W_I16:
        return 2;
    case MF4_W_U32:
    case MF4_W_I32:
    case MF4_W_F32:
        return 4;
    case MF4_W_U64:
    case MF4_W_I64:
    case MF4_W_F64:
        return 8;
    }
    return 0;
}

static int wtype_is_float(mf4_wtype t)
{
    return t == MF4_W_F32 || t == MF4_W_F64;
}

static int wtype_is_signed(mf4_wtype t)
{
    return t == MF4_W_I8 || t == MF4_W_I16 || t == MF4_W_I32 || t == MF4_W_I64;
}

static char *dup_or_null(const char *s, int *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = 1;
    return d;
}

/* Checks the parameter/text counts a conversion type needs. */
static int check_conv(const mf4_wconv *c, const char *name, mf4_error *err)
{
    size_t np = c->n_params, nt = c->n_texts;
    int ok = 1;
    if (np && !c->params)
        ok = 0;
    if (nt && !c->texts)
        ok = 0;
    switch (c->type) {
    case MF4_CONV_IDENTITY:
        ok = ok && np == 0 && nt == 0;
        break;
    case MF4_CONV_LINEAR:
        ok = ok && np == 2 && nt == 0;
        break;
    case MF4_CONV_RATIONAL:
        ok = ok && np == 6 && nt == 0;
        break;
    case MF4_CONV_ALGEBRAIC:
        ok = ok && c->formula && np == 0 && nt == 0;
        break;
    case MF4_CONV_TAB_INTERP:
    case MF4_CONV_TAB:
        ok = ok && np >= 2 && np % 2 == 0 && nt == 0;
        break;
    case MF4_CONV_RANGE_VALUE:
        ok = ok && np >= 1 && np % 3 == 1 && nt == 0;
        break;
    case MF4_CONV_VALUE_TEXT:
        ok = ok && nt == np + 1;
        break;
    case MF4_CONV_RANGE_TEXT:
        ok = ok && np % 2 == 0 && nt == np / 2 + 1;
        break;
    case MF4_CONV_TEXT_VALUE:
        ok = ok && np == nt + 1;
        break;
    case MF4_CONV_TEXT_TEXT:
        ok = ok && np == 0 && nt % 2 == 1;
        break;
    default:
        ok = 0;
    }
    if (!ok)
        return mf4__err(err, MF4_E_ARG, 0,
                        "channel '%s': conversion type %d with %zu params / %zu texts is not "
                        "valid",
                        name, (int)c->type, np, nt);
    if (c->n_params > 65535 || c->n_texts > 65535)
        return mf4__err(err, MF4_E_ARG, 0, "channel '%s': conversion too large", name);
    return MF4_OK;
}

int mf4_writer_begin_group(mf4_writer *w, const mf4_wgroup *g, mf4_error *err)
{
    if (!w || !g || !g->channels)
        return mf4__err(err, MF4_E_ARG, 0, "mf4_writer_begin_group: NULL argument");
    if (w->in_group)
        return mf4__err(err, MF4_E_ARG, 0, "a group is already open (call end_group first)");
    if (w->failed)
        return mf4__err(err, MF4_E_IO, w->pos, "writer failed earlier");
    if (g->n_channels < 1 || g->n_channels > 65535)
        return mf4__err(err, MF4_E_ARG, 0, "a group needs 1..65535 channels, got %zu",
                        g->n_channels);
    for (size_t i = 0; i < g->n_channels; i++) {
        const mf4_wchannel *c = &g->channels[i];
        if (!c->name || !*c->name)
            return mf4__err(err, MF4_E_ARG, 0, "channel %zu has no name", i);
        unsigned width = wtype_width(c->type);
        if (!width)
            return mf4__err(err, MF4_E_ARG, 0, "channel '%s': unknown type %d", c->name,
                            (int)c->type);
        if (c->bits && (wtype_is_float(c->type) || c->bits > width * 8))
            return mf4__err(err, MF4_E_ARG, 0, "channel '%s': %u bits do not fit its type", c->name,
                            c->bits);
        int rc = check_conv(&c->conv, c->name, err);
        if (rc)
            return rc;
    }
    int oom = 0;
    w->ch = calloc(g->n_channels, sizeof *w->ch);
    if (!w->ch)
        return mf4__err(err, MF4_E_NOMEM, 0, "out of memory");
    w->nch = g->n_channels;
    w->acq_name = dup_or_null(g->acq_name, &oom);
    w->gcomment = dup_or_null(g->comment, &oom);
    uint32_t off = 0;
    long ninval = 0;
    for (size_t i = 0; i < g->n_channels; i++) {
        const mf4_wchannel *s = &g->channels[i];
        wchan *c = &w->ch[i];
        c->def = *s;
        c->name = dup_or_null(s->name, &oom);
        c->unit = dup_or_null(s->unit, &oom);
        c->comment = dup_or_null(s->comment, &oom);
        c->formula = dup_or_null(s->conv.formula, &oom);
        if (s->conv.n_params) {
            c->params = malloc(s->conv.n_params * sizeof(double));
            if (c->params)
                memcpy(c->params, s->conv.params, s->conv.n_params * sizeof(double));
            else
                oom = 1;
        }
        if (s->conv.n_texts) {
            c->texts = calloc(s->conv.n_texts, sizeof(char *));
            if (c->texts) {
                for (size_t k = 0; k < s->conv.n_texts; k++)
                    c->texts[k] = dup_or_null(s->conv.texts[k], &oom);
            } else {
                c->def.conv.n_texts = 0;
                oom = 1;
            }
        }
        c->width = wtype_width(s->type);
        c->bits = s->bits ? s->bits : c->width * 8;
        c->byte_offset = off;
        off += c->width;
        c->inval_pos = s->invalidation ? ninval++ : -1;
    }
    w->data_bytes = off;
    w->inval_bytes = (uint32_t)((ninval + 7) / 8);
    w->rec_size = w->data_bytes + w->inval_bytes;
    w->rec = calloc(1, w->rec_size);
    if (!w->rec)
        oom = 1;
    w->cycles = 0;
    w->compress = g->compress;
    w->in_group = 1;
    if (oom) {
        free_group(w);
        return mf4__err(err, MF4_E_NOMEM, 0, "out of memory");
    }
    int rc = wpad8(w, err);
    if (rc)
        return rc;
    if (w->compress) {
        size_t recs = w->opts.dz_chunk_bytes / w->rec_size;
        if (recs == 0)
            recs = 1;
        w->chunk_cap = recs * w->rec_size;
        w->chunk = malloc(w->chunk_cap);
        w->tbuf = malloc(w->chunk_cap);
        w->zcap = compressBound((uLong)w->chunk_cap);
        w->zbuf = malloc(w->zcap);
        if (!w->chunk || !w->tbuf || !w->zbuf) {
            free_group(w);
            return mf4__err(err, MF4_E_NOMEM, 0, "out of memory");
        }
        w->dz_equal_len = w->chunk_cap;
    } else {
        unsigned char h[24];
        block_header(h, "DT", 24, 0); /* length patched in end_group */
        w->dt_start = w->pos;
        rc = wbytes(w, h, 24, err);
    }
    return rc;
}

/* Compresses the current chunk into a DZ block (transposed deflate). */
static int flush_chunk(mf4_writer *w, mf4_error *err)
{
    if (w->chunk_len == 0)
        return MF4_OK;
    size_t cols = w->rec_size, rows = w->chunk_len / cols;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            w->tbuf[c * rows + r] = w->chunk[r * cols + c];
    uLongf zlen = (uLongf)w->zcap;
    int level = w->opts.zlib_level ? w->opts.zlib_level : Z_DEFAULT_COMPRESSION;
    int zrc = compress2(w->zbuf, &zlen, w->tbuf, (uLong)(rows * cols), level);
    if (zrc != Z_OK)
        return mf4__err(err, MF4_E_ZLIB, w->pos, "deflate failed (%d)", zrc);
    int rc = wpad8(w, err);
    if (rc)
        return rc;
    if (w->n_dz == w->cap_dz) {
        size_t nc = w->cap_dz ? w->cap_dz * 2 : 16;
        uint64_t *p = realloc(w->dz_offs, nc * sizeof *p);
        if (!p)
            return mf4__err(err, MF4_E_NOMEM, 0, "out of memory");
        w->dz_offs = p;
        w->cap_dz = nc;
    }
    w->dz_offs[w->n_dz++] = w->pos;
    unsigned char h[48];
    block_header(h, "DZ", 48 + (uint64_t)zlen, 0);
    h[24] = 'D';
    h[25] = 'T';
    h[26] = 1; /* transposed deflate */
    h[27] = 0;
    mf4__put_le(h + 28, cols, 4);
    mf4__put_le(h + 32, rows * cols, 8);
    mf4__put_le(h + 40, zlen, 8);
    if ((rc = wbytes(w, h, 48, err)) || (rc = wbytes(w, w->zbuf, zlen, err)))
        return rc;
    w->chunk_len = 0;
    return MF4_OK;
}

static int emit_record(mf4_writer *w, mf4_error *err)
{
    w->cycles++;
    if (!w->compress)
        return wbytes(w, w->rec, w->rec_size, err);
    memcpy(w->chunk + w->chunk_len, w->rec, w->rec_size);
    w->chunk_len += w->rec_size;
    if (w->chunk_len + w->rec_size > w->chunk_cap)
        return flush_chunk(w, err);
    return MF4_OK;
}

static void put_value(unsigned char *p, uint64_t v, unsigned width, int big)
{
    if (big) {
        for (unsigned i = 0; i < width; i++)
            p[width - 1 - i] = (unsigned char)(v >> (8 * i));
    } else {
        mf4__put_le(p, v, width);
    }
}

/* Stores integer bits v (already range-limited) or a float into channel i of w->rec. */
static void store_int(mf4_writer *w, size_t i, uint64_t v)
{
    wchan *c = &w->ch[i];
    if (c->bits < 64)
        v &= (UINT64_C(1) << c->bits) - 1;
    put_value(w->rec + c->byte_offset, v, c->width, c->def.big_endian);
}

static void store_float(mf4_writer *w, size_t i, double d)
{
    wchan *c = &w->ch[i];
    uint64_t bits;
    if (c->def.type == MF4_W_F32) {
        float f = (float)d;
        uint32_t b32;
        memcpy(&b32, &f, 4);
        bits = b32;
    } else {
        memcpy(&bits, &d, 8);
    }
    put_value(w->rec + c->byte_offset, bits, c->width, c->def.big_endian);
}

static void store_double(mf4_writer *w, size_t i, double d)
{
    wchan *c = &w->ch[i];
    if (wtype_is_float(c->def.type)) {
        store_float(w, i, d);
        return;
    }
    if (isnan(d))
        d = 0;
    d = nearbyint(d);
    if (wtype_is_signed(c->def.type)) {
        double lo = -ldexp(1.0, (int)c->bits - 1), hi = ldexp(1.0, (int)c->bits - 1) - 1;
        int64_t v;
        if (d <= lo)
            v = c->bits == 64 ? INT64_MIN : (int64_t)lo;
        else if (d >= hi)
            v = c->bits == 64 ? INT64_MAX : (int64_t)hi;
        else
            v = (int64_t)d;
        store_int(w, i, (uint64_t)v);
    } else {
        double hi = ldexp(1.0, (int)c->bits) - 1;
        uint64_t v;
        if (d <= 0)
            v = 0;
        else if (d >= hi)
            v = c->bits == 64 ? UINT64_MAX : (uint64_t)hi;
        else
            v = (uint64_t)d;
        store_int(w, i, v);
    }
}

static void store_valid(mf4_writer *w, const uint8_t *valid)
{
    unsigned char *ib = w->rec + w->data_bytes;
    memset(ib, 0, w->inval_bytes);
    if (!valid)
        return;
    for (size_t i = 0; i < w->nch; i++) {
        long p = w->ch[i].inval_pos;
        if (p >= 0 && !valid[i])
            ib[p >> 3] |= (unsigned char)(1u << (p & 7));
    }
}

int mf4_writer_record(mf4_writer *w, const double *raw, const uint8_t *valid, mf4_error *err)
{
    if (!w || !raw)
        return mf4__err(err, MF4_E_ARG, 0, "mf4_writer_record: NULL argument");
    if (!w->in_group)
        return mf4__err(err, MF4_E_ARG, 0, "no open group (call begin_group first)");
    for (size_t i = 0; i < w->nch; i++)
        store_double(w, i, raw[i]);
    store_valid(w, valid);
    return emit_record(w, err);
}

int mf4_writer_record_int(mf4_writer *w, const int64_t *raw, const uint8_t *valid, mf4_error *err)
{
    if (!w || !raw)
        return mf4__err(err, MF4_E_ARG, 0, "mf4_writer_record_int: NULL argument");
    if (!w->in_group)
        return mf4__err(err, MF4_E_ARG, 0, "no open group (call begin_group first)");
    for (size_t i = 0; i < w->nch; i++) {
        if (wtype_is_float(w->ch[i].def.type))
            store_float(w, i, (double)raw[i]);
        else
            store_int(w, i, (uint64_t)raw[i]);
    }
    store_valid(w, valid);
    return emit_record(w, err);
}

int mf4_writer_record_phys(mf4_writer *w, const double *phys, const uint8_t *valid, mf4_error *err)
{
    if (!w || !phys)
        return mf4__err(err, MF4_E_ARG, 0, "mf4_writer_record_phys: NULL argument");
    if (!w->in_group)
        return mf4__err(err, MF4_E_ARG, 0, "no open group (call begin_group first)");
    for (size_t i = 0; i < w->nch; i++) {
        const mf4_wconv *cv = &w->ch[i].def.conv;
        double x = phys[i];
        if (cv->type == MF4_CONV_LINEAR) {
            double p1 = w->ch[i].params[0], p2 = w->ch[i].params[1];
            if (p2 == 0)
                return mf4__err(err, MF4_E_ARG, 0,
                                "channel '%s': linear factor 0 cannot be inverted", w->ch[i].name);
            x = (x - p1) / p2;
        } else if (cv->type != MF4_CONV_IDENTITY) {
            return mf4__err(err, MF4_E_ARG, 0,
                            "channel '%s': only linear conversions can be inverted", w->ch[i].name);
        }
        store_double(w, i, x);
    }
    store_valid(w, valid);
    return emit_record(w, err);
}

/* Writes the CC block of channel c (after its TX blocks); *link = 0 for identity. */
static int write_cc(mf4_writer *w, wchan *c, uint64_t *link, mf4_error *err)
{
    const mf4_wconv *cv = &c->def.conv;
    *link = 0;
    if (cv->type == MF4_CONV_IDENTITY)
        return MF4_OK;
    size_t nrefs = cv->type == MF4_CONV_ALGEBRAIC ? 1 : cv->n_texts;
    uint64_t *refs = calloc(nrefs ? nrefs : 1, sizeof *refs);
    if (!refs)
        return mf4__err(err, MF4_E_NOMEM, 0, "out of memory");
    int rc = MF4_OK;
    if (cv->type == MF4_CONV_ALGEBRAIC)
        rc = write_tx(w, c->formula, &refs[0], err);
    else
        for (size_t k = 0; k < nrefs && !rc; k++)
            rc = write_tx(w, c->texts[k], &refs[k], err);
    if (!rc)
        rc = wpad8(w, err);
    if (!rc) {
        size_t nlinks = 4 + nrefs;
        size_t len = 24 + nlinks * 8 + 24 + cv->n_params * 8;
        unsigned char *b = calloc(1, len);
        if (!b) {
            free(refs);
            return mf4__err(err, MF4_E_NOMEM, 0, "out of memory");
        }
        block_header(b, "CC", len, nlinks);
        for (size_t k = 0; k < nrefs; k++)
            mf4__put_le(b + 24 + (4 + k) * 8, refs[k], 8);
        unsigned char *d = b + 24 + nlinks * 8;
        d[0] = (unsigned char)cv->type;
        mf4__put_le(d + 4, nrefs, 2);
        mf4__put_le(d + 6, cv->n_params, 2);
        for (size_t k = 0; k < cv->n_params; k++) {
            uint64_t bits;
            memcpy(&bits, &c->params[k], 8);
            mf4__put_le(d + 24 + k * 8, bits, 8);
        }
        *link = w->pos;
        rc = wbytes(w, b, len, err);
        free(b);
    }
    free(refs);
    return rc;
}

int mf4_writer_end_group(mf4_writer *w, mf4_error *err)
{
    if (!w)
        return mf4__err(err, MF4_E_ARG, 0, "mf4_writer_end_group: NULL argument");
    if (!w->in_group)
        return mf4__err(err, MF4_E_ARG, 0, "no open group");
    int rc = MF4_OK;
    uint64_t data_link = 0;
    if (w->compress) {
        if ((rc = flush_chunk(w, err)))
            goto out;
        if (w->n_dz > 0) {
            if ((rc = wpad8(w, err)))
                goto out;
            uint64_t dl = w->pos;
            size_t nlinks = 1 + w->n_dz;
            unsigned char h[24 + 8];
            block_header(h, "DL", 24 + nlinks * 8 + 16, nlinks);
            mf4__put_le(h + 24, 0, 8); /* dl_next */
            if ((rc = wbytes(w, h, 32, err)))
                goto out;
            for (size_t k = 0; k < w->n_dz; k++) {
                unsigned char b[8];
                mf4__put_le(b, w->dz_offs[k], 8);
                if ((rc = wbytes(w, b, 8, err)))
                    goto out;
            }
            unsigned char d[16] = {0};
            d[0] = 1; /* equal length */
            mf4__put_le(d + 4, w->n_dz, 4);
            mf4__put_le(d + 8, w->dz_equal_len, 8);
            if ((rc = wbytes(w, d, 16, err)))
                goto out;
            unsigned char hl[40];
            block_header(hl, "HL", 40, 1);
            mf4__put_le(hl + 24, dl, 8);
            mf4__put_le(hl + 32, 0, 8);
            hl[34] = 1; /* zip type: transposed deflate */
            data_link = w->pos;
            if ((rc = wbytes(w, hl, 40, err)))
                goto out;
        }
    } else {
        data_link = w->dt_start;
        if ((rc = patch_u64(w, w->dt_start + 8, w->pos - w->dt_start, err)))
            goto out;
    }
    /* channel blocks, last to first so each can link to its successor */
    uint64_t next_cn = 0;
    for (size_t ii = w->nch; ii-- > 0;) {
        wchan *c = &w->ch[ii];
        uint64_t tx_name, tx_unit, tx_comment, cc;
        if ((rc = write_tx(w, c->name, &tx_name, err)) ||
            (rc = write_tx(w, c->unit, &tx_unit, err)) ||
            (rc = write_tx(w, c->comment, &tx_comment, err)) || (rc = write_cc(w, c, &cc, err)) ||
            (rc = wpad8(w, err)))
            goto out;
        unsigned char b[160];
        memset(b, 0, sizeof b);
        block_header(b, "CN", sizeof b, 8);
        mf4__put_le(b + 24, next_cn, 8);
        mf4__put_le(b + 24 + 2 * 8, tx_name, 8);
        mf4__put_le(b + 24 + 4 * 8, cc, 8);
        mf4__put_le(b + 24 + 6 * 8, tx_unit, 8);
        mf4__put_le(b + 24 + 7 * 8, tx_comment, 8);
        unsigned char *d = b + 88;
        int is_master = ii == 0;
        d[0] = is_master ? MF4_CN_MASTER : MF4_CN_FIXED;
        d[1] = is_master ? 1 : 0;
        mf4_wtype t = c->def.type;
        int dt = wtype_is_float(t)    ? MF4_DT_FLOAT_LE
                 : wtype_is_signed(t) ? MF4_DT_INT_LE
                                      : MF4_DT_UINT_LE;
        if (c->def.big_endian)
            dt += 1;
        d[2] = (unsigned char)dt;
        d[3] = 0;
        mf4__put_le(d + 4, c->byte_offset, 4);
        mf4__put_le(d + 8, c->bits, 4);
        mf4__put_le(d + 12, c->inval_pos >= 0 ? 2u : 0u, 4);
        mf4__put_le(d + 16, c->inval_pos >= 0 ? (uint64_t)c->inval_pos : 0, 4);
        next_cn = w->pos;
        if ((rc = wbytes(w, b, sizeof b, err)))
            goto out;
    }
    uint64_t tx_acq, tx_gc;
    if ((rc = write_tx(w, w->acq_name, &tx_acq, err)) ||
        (rc = write_tx(w, w->gcomment, &tx_gc, err)) || (rc = wpad8(w, err)))
        goto out;
    uint64_t cg = w->pos;
    unsigned char b[104];
    memset(b, 0, sizeof b);
    block_header(b, "CG", sizeof b, 6);
    mf4__put_le(b + 24 + 1 * 8, next_cn, 8);
    mf4__put_le(b + 24 + 2 * 8, tx_acq, 8);
    mf4__put_le(b + 24 + 5 * 8, tx_gc, 8);
    unsigned char *d = b + 72;
    mf4__put_le(d + 8, w->cycles, 8);
    mf4__put_le(d + 24, w->data_bytes, 4);
    mf4__put_le(d + 28, w->inval_bytes, 4);
    if ((rc = wbytes(w, b, sizeof b, err)))
        goto out;
    uint64_t dg = w->pos;
    unsigned char g[64];
    memset(g, 0, sizeof g);
    block_header(g, "DG", sizeof g, 4);
    mf4__put_le(g + 24 + 8, cg, 8);
    mf4__put_le(g + 24 + 16, data_link, 8);
    if ((rc = wbytes(w, g, sizeof g, err)))
        goto out;
    rc = patch_u64(w, w->last_dg_link, dg, err);
    w->last_dg_link = dg + 24;
out:
    free_group(w);
    if (rc)
        w->failed = 1;
    return rc;
}
