/*
 * mf4_data.c - reading sample data: a cursor over a data stream (raw DT/SD fragments in the
 * mapped file, DZ fragments inflated one at a time), and mf4_reader, which walks the records
 * of one channel group (sorted: fixed stride; unsorted: by record id) in batches and decodes
 * the selected channels into columns.
 *
 * Invariants:
 *  - A cursor never hands out a pointer past the end of its current fragment; a read that
 *    crosses fragments is copied. Inflated data lives in one buffer per cursor, grown only as
 *    zlib really produces output (a DZ header cannot make us allocate what it merely claims).
 *  - All buffers of a reader are sized by the batch (records x record size) and by the
 *    variable-length values of the current batch, never by the file.
 *  - Decoding reads only bytes [byte_offset, byte_offset + nbytes) of a record, checked
 *    against the record size when the file was opened (mf4_file.c).
 */
#include "mf4.h"
#include "mf4_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ------------------------------------------------------------------ cursor */
void mf4__cursor_init(mf4__cursor *c, const mf4_file *f, const mf4__stream_def *def)
{
    memset(c, 0, sizeof *c);
    c->f = f;
    c->def = def;
    c->zfrag = -1;
}

void mf4__cursor_free(mf4__cursor *c)
{
    free(c->zbuf);
    free(c->tmp);
    c->zbuf = c->tmp = NULL;
    c->zcap = c->tcap = 0;
    c->zfrag = -1;
}

int mf4__cursor_work(mf4__cursor *c, uint64_t n, mf4_error *err)
{
    c->work += n;
    if (c->work > 16 * c->def->total + ((uint64_t)256 << 20))
        return mf4__err(err, MF4_E_CORRUPT, 0,
                        "data accessed out of order too often (VLSD offsets not increasing?)");
    return MF4_OK;
}

int mf4__cursor_seek(mf4__cursor *c, uint64_t pos, mf4_error *err)
{
    const mf4__stream_def *d = c->def;
    if (pos > d->total)
        return mf4__err(err, MF4_E_CORRUPT, 0, "data offset %llu beyond the %llu bytes of data",
                        (unsigned long long)pos, (unsigned long long)d->total);
    size_t lo = 0, hi = d->n;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (d->frags[mid].start <= pos)
            lo = mid;
        else
            hi = mid;
    }
    c->frag = lo;
    c->pos = pos;
    return MF4_OK;
}

/* Transposed DZ data holds byte column j of every record, then column j+1...: rebuild the
 * records. dst[r * cols + j] = src[j * rows + r]. 8x8 byte tiles with SSE2 where available
 * (8 loads of 8 bytes, 12 unpacks, 8 stores), a scalar loop for the edges. */
static void untranspose(unsigned char *dst, const unsigned char *src, size_t rows, size_t cols)
{
    size_t r0 = 0, c0 = 0;
#ifdef __SSE2__
    size_t rt = rows & ~(size_t)7, ct = cols & ~(size_t)7;
    for (size_t r = 0; r < rt; r += 8) {
        for (size_t j = 0; j < ct; j += 8) {
            __m128i a[8];
            for (int k = 0; k < 8; k++)
                a[k] = _mm_loadl_epi64((const __m128i *)(src + (j + k) * rows + r));
            __m128i t0 = _mm_unpacklo_epi8(a[0], a[1]), t1 = _mm_unpacklo_epi8(a[2], a[3]);
            __m128i t2 = _mm_unpacklo_epi8(a[4], a[5]), t3 = _mm_unpacklo_epi8(a[6], a[7]);
            __m128i u0 = _mm_unpacklo_epi16(t0, t1), u1 = _mm_unpackhi_epi16(t0, t1);
            __m128i u2 = _mm_unpacklo_epi16(t2, t3), u3 = _mm_unpackhi_epi16(t2, t3);
            __m128i v[4] = {_mm_unpacklo_epi32(u0, u2), _mm_unpackhi_epi32(u0, u2),
                            _mm_unpacklo_epi32(u1, u3), _mm_unpackhi_epi32(u1, u3)};
            for (int k = 0; k < 4; k++) {
                _mm_storel_epi64((__m128i *)(dst + (r + 2 * k) * cols + j), v[k]);
                _mm_storel_epi64((__m128i *)(dst + (r + 2 * k + 1) * cols + j),
                                 _mm_unpackhi_epi64(v[k], v[k]));
            }
        }
    }
    /* edges: columns ct..cols of the tiled rows, then the rows rt..rows */
    for (size_t r = 0; r < rt; r++)
        for (size_t j = ct; j < cols; j++)
            dst[r * cols + j] = src[j * rows + r];
    r0 = rt;
#endif
    for (size_t j = c0; j < cols; j++) {
        const unsigned char *sp = src + j * rows;
        for (size_t r = r0; r < rows; r++)
            dst[r * cols + j] = sp[r];
    }
}

static int inflate_frag(mf4__cursor *c, size_t i, mf4_error *err)
{
    const mf4__frag *fr = &c->def->frags[i];
    const mf4_file *f = c->f;
    if (fr->file_off > f->size || f->size - fr->file_off < fr->clen)
        return mf4__err(err, MF4_E_TRUNCATED, fr->blk_off, "DZ data at %llu past the end",
                        (unsigned long long)fr->blk_off);
    size_t want = (size_t)fr->len;
    int wrc = mf4__cursor_work(c, fr->len, err);
    if (wrc)
        return wrc;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK)
        return mf4__err(err, MF4_E_NOMEM, fr->blk_off, "zlib init failed");
    zs.next_in = (Bytef *)(f->map + fr->file_off);
    size_t in_left = (size_t)fr->clen;
    size_t have = 0;
    int zrc = Z_OK;
    while (zrc != Z_STREAM_END) {
        if (have == c->zcap) {
            if (c->zcap >= want) {
                inflateEnd(&zs);
                return mf4__err(err, MF4_E_ZLIB, fr->blk_off,
                                "DZ at %llu inflates to more than its %llu bytes",
                                (unsigned long long)fr->blk_off, (unsigned long long)fr->len);
            }
            size_t nc = c->zcap ? c->zcap * 2 : (size_t)1 << 16;
            if (nc < (size_t)fr->clen * 2)
                nc = (size_t)fr->clen * 2;
            if (nc > want)
                nc = want;
            unsigned char *nb = realloc(c->zbuf, nc);
            if (!nb) {
                inflateEnd(&zs);
                return mf4__err(err, MF4_E_NOMEM, fr->blk_off, "out of memory");
            }
            c->zbuf = nb;
            c->zcap = nc;
        }
        zs.next_out = c->zbuf + have;
        size_t out_room = c->zcap - have;
        zs.avail_out = out_room > 0x40000000u ? 0x40000000u : (uInt)out_room;
        size_t in_now = in_left > 0x40000000u ? 0x40000000u : in_left;
        zs.avail_in = (uInt)in_now;
        uInt before_out = zs.avail_out;
        zrc = inflate(&zs, Z_NO_FLUSH);
        in_left -= in_now - zs.avail_in;
        have += before_out - zs.avail_out;
        if (zrc == Z_BUF_ERROR && in_left == 0 && zs.avail_in == 0 && have < c->zcap)
            break;
        if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR) {
            inflateEnd(&zs);
            return mf4__err(err, MF4_E_ZLIB, fr->blk_off, "DZ at %llu: inflate error %d (%s)",
                            (unsigned long long)fr->blk_off, zrc, zs.msg ? zs.msg : "");
        }
        if (zrc == Z_BUF_ERROR && have < c->zcap && zs.avail_in == 0)
            break;
    }
    inflateEnd(&zs);
    if (f->mapped) {
        /* the compressed bytes are not needed again soon: give their pages back so that the
         * resident memory of a pass over a DZ file does not grow with the file */
        uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
        uint64_t lo = (fr->file_off + page - 1) / page * page;
        uint64_t hi = (fr->file_off + fr->clen) / page * page;
        if (hi > lo)
            madvise((void *)(f->map + lo), (size_t)(hi - lo), MADV_DONTNEED);
    }
    if (zrc != Z_STREAM_END || have != want) {
        c->zfrag = -1;
        return mf4__err(err, MF4_E_ZLIB, fr->blk_off,
                        "DZ at %llu inflates to %zu bytes, %llu declared",
                        (unsigned long long)fr->blk_off, have, (unsigned long long)fr->len);
    }
    if (fr->zip_type == 1) {
        size_t cols = fr->zip_param, rows = want / cols;
        if (rows > 1 && cols > 1) {
            if (c->tcap < want) {
                unsigned char *nt = realloc(c->tmp, want);
                if (!nt) {
                    c->zfrag = -1;
                    return mf4__err(err, MF4_E_NOMEM, fr->blk_off, "out of memory");
                }
                c->tmp = nt;
                c->tcap = want;
            }
            untranspose(c->tmp, c->zbuf, rows, cols);
            /* the bytes after the last whole record are stored as they are */
            memcpy(c->tmp + rows * cols, c->zbuf + rows * cols, want - rows * cols);
            unsigned char *sw = c->zbuf;
            size_t swcap = c->zcap;
            c->zbuf = c->tmp;
            c->zcap = c->tcap;
            c->tmp = sw;
            c->tcap = swcap;
        }
    }
    c->zfrag = (long)i;
    return MF4_OK;
}

int mf4__cursor_peek(mf4__cursor *c, size_t want, const unsigned char **p, size_t *got,
                     mf4_error *err)
{
    const mf4__stream_def *d = c->def;
    *got = 0;
    *p = NULL;
    while (c->frag < d->n && c->pos >= d->frags[c->frag].start + d->frags[c->frag].len)
        c->frag++;
    if (c->frag >= d->n || want == 0)
        return MF4_OK;
    const mf4__frag *fr = &d->frags[c->frag];
    uint64_t off = c->pos - fr->start;
    const unsigned char *base;
    if (fr->clen) {
        if (c->zfrag != (long)c->frag) {
            int rc = inflate_frag(c, c->frag, err);
            if (rc)
                return rc;
        }
        base = c->zbuf;
    } else {
        if (fr->file_off > c->f->size || c->f->size - fr->file_off < fr->len)
            return mf4__err(err, MF4_E_TRUNCATED, fr->blk_off, "data block at %llu past the end",
                            (unsigned long long)fr->blk_off);
        base = c->f->map + fr->file_off;
    }
    uint64_t avail = fr->len - off;
    *got = avail < want ? (size_t)avail : want;
    *p = base + off;
    return MF4_OK;
}

int mf4__cursor_read(mf4__cursor *c, void *dst, size_t n, mf4_error *err)
{
    unsigned char *o = dst;
    while (n > 0) {
        const unsigned char *p;
        size_t got;
        int rc = mf4__cursor_peek(c, n, &p, &got, err);
        if (rc)
            return rc;
        if (got == 0)
            return mf4__err(err, MF4_E_TRUNCATED, 0, "data ends at offset %llu",
                            (unsigned long long)c->pos);
        memcpy(o, p, got);
        o += got;
        n -= got;
        c->pos += got;
    }
    return MF4_OK;
}

int mf4__cursor_skip(mf4__cursor *c, uint64_t n, mf4_error *err)
{
    if (n > c->def->total - c->pos)
        return mf4__err(err, MF4_E_TRUNCATED, 0, "data ends at offset %llu",
                        (unsigned long long)c->def->total);
    c->pos += n;
    return MF4_OK;
}

/* ------------------------------------------------------------------ reader */
typedef struct colbuf {
    mf4_column pub;
    uint64_t *u64;
    int64_t *i64;
    double *f64;
    double *phys;
    uint8_t *valid;
    const char **text;
    unsigned char *bytes;
    size_t bcap, blen;
    size_t *offsets;
    const mf4__chan *x;
    /* VLSD resolution */
    int has_vc;
    mf4__cursor vc;
    uint64_t vlog;       /* VLSD group: logical offset of the record at vc.pos */
    const mf4_group *vg; /* VLSD group */
} colbuf;

struct mf4_reader {
    const mf4_file *f;
    const mf4_group *g;
    const mf4__dg *dg;
    size_t batch;
    size_t ncols;
    colbuf *cols;
    uint64_t pos, total;
    mf4__cursor cur;
    unsigned rec_len; /* data + invalidation bytes */
    unsigned idsize;
    unsigned char *recbuf;
    uint64_t dropped; /* mapped file: pages below this offset were released */
    int failed;
    mf4_error saved;
};

static int col_alloc(colbuf *c, size_t batch)
{
    const mf4_channel *ch = c->pub.ch;
    c->phys = malloc(batch * sizeof(double));
    c->valid = malloc(batch);
    if (!c->phys || !c->valid)
        return -1;
    switch (ch->kind) {
    case MF4_VAL_UINT:
        c->u64 = malloc(batch * sizeof(uint64_t));
        if (!c->u64)
            return -1;
        break;
    case MF4_VAL_INT:
        c->i64 = malloc(batch * sizeof(int64_t));
        if (!c->i64)
            return -1;
        break;
    case MF4_VAL_FLOAT:
        c->f64 = malloc(batch * sizeof(double));
        if (!c->f64)
            return -1;
        break;
    case MF4_VAL_BYTES:
        c->offsets = malloc((batch + 1) * sizeof(size_t));
        if (!c->offsets)
            return -1;
        break;
    }
    const mf4__conv *cv = (const mf4__conv *)ch->conv;
    if (cv && (cv->may_text || cv->pub.type == MF4_CONV_TEXT_TEXT)) {
        c->text = calloc(batch, sizeof(char *));
        if (!c->text)
            return -1;
    }
    c->pub.kind = ch->kind;
    c->pub.u64 = c->u64;
    c->pub.i64 = c->i64;
    c->pub.f64 = c->f64;
    c->pub.phys = c->phys;
    c->pub.valid = c->valid;
    c->pub.text = c->text;
    c->pub.offsets = c->offsets;
    return 0;
}

int mf4_reader_open(mf4_reader **out, const mf4_file *f, size_t group, const size_t *channels,
                    size_t n_channels, size_t batch, mf4_error *err)
{
    if (!out || !f || (!channels && n_channels))
        return mf4__err(err, MF4_E_ARG, 0, "mf4_reader_open: NULL argument");
    *out = NULL;
    if (group >= f->n_groups)
        return mf4__err(err, MF4_E_NOT_FOUND, 0, "no group %zu (the file has %zu)", group,
                        f->n_groups);
    if (batch < 1 || batch > ((size_t)1 << 24))
        return mf4__err(err, MF4_E_ARG, 0, "batch size %zu not in 1..16777216", batch);
    const mf4_group *g = &f->groups[group];
    if (n_channels < 1)
        return mf4__err(err, MF4_E_ARG, 0, "no channels selected");
    for (size_t i = 0; i < n_channels; i++)
        if (channels[i] >= g->n_channels)
            return mf4__err(err, MF4_E_NOT_FOUND, 0, "group %zu has no channel %zu", group,
                            channels[i]);
    mf4_reader *r = calloc(1, sizeof *r);
    if (!r)
        return mf4__err(err, MF4_E_NOMEM, 0, "out of memory");
    r->f = f;
    r->g = g;
    r->dg = &f->dgs[g->dg_index];
    r->batch = batch;
    r->total = g->is_vlsd ? 0 : g->cycles;
    r->idsize = r->dg->rec_id_size;
    r->rec_len = g->data_bytes + g->inval_bytes;
    mf4__cursor_init(&r->cur, f, &r->dg->data);
    /* buffers hold one batch, and never more records than the group has */
    if ((uint64_t)batch > r->total)
        batch = r->total ? (size_t)r->total : 1;
    r->batch = batch;
    r->cols = calloc(n_channels, sizeof *r->cols);
    size_t rb = (size_t)r->rec_len + r->idsize;
    if (rb && batch > SIZE_MAX / rb)
        goto oom;
    r->recbuf = malloc(rb * batch + 1);
    if (!r->cols || !r->recbuf)
        goto oom;
    r->ncols = n_channels;
    for (size_t i = 0; i < n_channels; i++) {
        colbuf *c = &r->cols[i];
        c->pub.channel = channels[i];
        c->pub.ch = &g->channels[channels[i]];
        c->x = &f->gchan[group][channels[i]];
        if (col_alloc(c, batch))
            goto oom;
        if (c->pub.ch->channel_type == MF4_CN_VLSD) {
            c->has_vc = 1;
            if (c->x->vlsd_group >= 0) {
                c->vg = &f->groups[c->x->vlsd_group];
                mf4__cursor_init(&c->vc, f, &r->dg->data);
            } else {
                mf4__cursor_init(&c->vc, f, &c->x->sd);
            }
        }
    }
    *out = r;
    return MF4_OK;
oom:
    mf4_reader_free(r);
    return mf4__err(err, MF4_E_NOMEM, 0, "out of memory for a batch of %zu records", batch);
}

void mf4_reader_free(mf4_reader *r)
{
    if (!r)
        return;
    if (r->cols)
        for (size_t i = 0; i < r->ncols; i++) {
            colbuf *c = &r->cols[i];
            free(c->u64);
            free(c->i64);
            free(c->f64);
            free(c->phys);
            free(c->valid);
            free(c->text);
            free(c->bytes);
            free(c->offsets);
            if (c->has_vc)
                mf4__cursor_free(&c->vc);
        }
    free(r->cols);
    free(r->recbuf);
    mf4__cursor_free(&r->cur);
    free(r);
}

const mf4_column *mf4_reader_column(const mf4_reader *r, size_t i)
{
    return r && i < r->ncols ? &r->cols[i].pub : NULL;
}

uint64_t mf4_reader_position(const mf4_reader *r)
{
    return r ? r->pos : 0;
}

/* ---- value extraction */
static uint64_t extract_bits(const unsigned char *p, unsigned nbytes, int be, unsigned bitoff,
                             unsigned bits)
{
    unsigned __int128 v = 0;
    if (be)
        for (unsigned i = 0; i < nbytes; i++)
            v = (v << 8) | p[i];
    else
        for (unsigned i = nbytes; i-- > 0;)
            v = (v << 8) | p[i];
    v >>= bitoff;
    uint64_t u = (uint64_t)v;
    if (bits < 64)
        u &= (UINT64_C(1) << bits) - 1;
    return u;
}

static double half_to_double(uint16_t h)
{
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 0)
        v = ldexp(m, -24);
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexp(m + 1024, e - 25);
    return s ? -v : v;
}

static int bytes_reserve(colbuf *c, size_t extra)
{
    if (c->bcap - c->blen >= extra)
        return 0;
    size_t nc = c->bcap ? c->bcap : 256;
    while (nc - c->blen < extra) {
        if (nc > SIZE_MAX / 2)
            return -1;
        nc *= 2;
    }
    unsigned char *nb = realloc(c->bytes, nc);
    if (!nb)
        return -1;
    c->bytes = nb;
    c->bcap = nc;
    return 0;
}

static void put_utf8(unsigned char *o, size_t *n, uint32_t cp)
{
    if (cp < 0x80) {
        o[(*n)++] = (unsigned char)cp;
    } else if (cp < 0x800) {
        o[(*n)++] = (unsigned char)(0xC0 | (cp >> 6));
        o[(*n)++] = (unsigned char)(0x80 | (cp & 63));
    } else if (cp < 0x10000) {
        o[(*n)++] = (unsigned char)(0xE0 | (cp >> 12));
        o[(*n)++] = (unsigned char)(0x80 | ((cp >> 6) & 63));
        o[(*n)++] = (unsigned char)(0x80 | (cp & 63));
    } else {
        o[(*n)++] = (unsigned char)(0xF0 | (cp >> 18));
        o[(*n)++] = (unsigned char)(0x80 | ((cp >> 12) & 63));
        o[(*n)++] = (unsigned char)(0x80 | ((cp >> 6) & 63));
        o[(*n)++] = (unsigned char)(0x80 | (cp & 63));
    }
}

/* Appends value bytes [p, p+n) of data type dt to the column, decoding strings to UTF-8
 * (up to the first NUL). */
static int append_value(colbuf *c, const unsigned char *p, size_t n, int dt)
{
    size_t need = n;
    if (dt == MF4_DT_STRING_LATIN1)
        need = n * 2;
    else if (dt == MF4_DT_STRING_UTF16_LE || dt == MF4_DT_STRING_UTF16_BE)
        need = n * 2 + 4;
    if (bytes_reserve(c, need + 1))
        return -1;
    if (n == 0)
        return 0;
    unsigned char *o = c->bytes + c->blen;
    size_t k = 0;
    switch (dt) {
    case MF4_DT_STRING_LATIN1:
        for (size_t i = 0; i < n && p[i]; i++)
            put_utf8(o, &k, p[i]);
        break;
    case MF4_DT_STRING_UTF8:
        while (k < n && p[k])
            k++;
        memcpy(o, p, k);
        break;
    case MF4_DT_STRING_UTF16_LE:
    case MF4_DT_STRING_UTF16_BE: {
        int be = dt == MF4_DT_STRING_UTF16_BE;
        for (size_t i = 0; i + 1 < n; i += 2) {
            uint32_t u = be ? (uint32_t)(p[i] << 8 | p[i + 1]) : (uint32_t)(p[i + 1] << 8 | p[i]);
            if (u == 0)
                break;
            if (u >= 0xD800 && u < 0xDC00 && i + 3 < n) {
                uint32_t u2 = be ? (uint32_t)(p[i + 2] << 8 | p[i + 3])
                                 : (uint32_t)(p[i + 3] << 8 | p[i + 2]);
                if (u2 >= 0xDC00 && u2 < 0xE000) {
                    u = 0x10000 + ((u - 0xD800) << 10) + (u2 - 0xDC00);
                    i += 2;
                }
            }
            if (u >= 0xD800 && u < 0xE000)
                u = 0xFFFD;
            put_utf8(o, &k, u);
        }
        break;
    }
    default:
        memcpy(o, p, n);
        k = n;
    }
    c->blen += k;
    return 0;
}

static int is_string(int dt)
{
    return dt >= MF4_DT_STRING_LATIN1 && dt <= MF4_DT_STRING_UTF16_BE;
}

/* Finds VLSD value at logical offset off and appends it. */
static int vlsd_fetch(mf4_reader *r, colbuf *c, uint64_t off, mf4_error *err)
{
    const mf4_channel *ch = c->pub.ch;
    int rc;
    unsigned char lb[4];
    if (!c->vg) {
        /* SD blocks: random access */
        if ((rc = mf4__cursor_seek(&c->vc, off, err)) ||
            (rc = mf4__cursor_read(&c->vc, lb, 4, err)))
            return rc;
        uint64_t len = mf4__get_le(lb, 4);
        if (len > c->vc.def->total - c->vc.pos)
            return mf4__err(err, MF4_E_CORRUPT, ch->offset,
                            "channel '%s': VLSD value of %llu bytes at %llu past the signal data",
                            ch->name, (unsigned long long)len, (unsigned long long)off);
        const unsigned char *p;
        size_t got;
        if ((rc = mf4__cursor_peek(&c->vc, (size_t)len, &p, &got, err)))
            return rc;
        if (got == len)
            return append_value(c, p, got, ch->data_type)
                       ? mf4__err(err, MF4_E_NOMEM, 0, "out of memory")
                       : MF4_OK;
        /* spans fragments: copy */
        unsigned char *tmp = malloc(len ? (size_t)len : 1);
        if (!tmp)
            return mf4__err(err, MF4_E_NOMEM, 0, "out of memory");
        rc = mf4__cursor_read(&c->vc, tmp, (size_t)len, err);
        if (!rc && append_value(c, tmp, (size_t)len, ch->data_type))
            rc = mf4__err(err, MF4_E_NOMEM, 0, "out of memory");
        free(tmp);
        return rc;
    }
    /* VLSD channel group: scan the data group's records, counting VLSD bytes */
    const mf4__dg *dg = r->dg;
    unsigned ids = dg->rec_id_size;
    if (off < c->vlog) {
        mf4__cursor_seek(&c->vc, 0, err);
        c->vlog = 0;
    }
    uint64_t total = dg->data.total;
    while (c->vc.pos < total) {
        unsigned char idb[8];
        if (total - c->vc.pos < ids)
            break;
        if ((rc = mf4__cursor_read(&c->vc, idb, ids, err)))
            return rc;
        uint64_t id = mf4__get_le(idb, ids);
        const mf4_group *g = NULL;
        for (size_t k = 0; k < dg->n_groups; k++)
            if (r->f->groups[dg->first_group + k].record_id == id)
                g = &r->f->groups[dg->first_group + k];
        if (!g)
            return mf4__err(err, MF4_E_CORRUPT, dg->offset, "unknown record id %llu",
                            (unsigned long long)id);
        if (!g->is_vlsd) {
            uint64_t l = (uint64_t)g->data_bytes + g->inval_bytes;
            if (l > total - c->vc.pos)
                break;
            c->vc.pos += l;
            if ((rc = mf4__cursor_work(&c->vc, l + ids, err)))
                return rc;
            continue;
        }
        if (total - c->vc.pos < 4)
            break;
        if ((rc = mf4__cursor_read(&c->vc, lb, 4, err)))
            return rc;
        uint64_t len = mf4__get_le(lb, 4);
        if (len > total - c->vc.pos)
            break;
        if ((rc = mf4__cursor_work(&c->vc, len + ids + 4, err)))
            return rc;
        if (g != c->vg) {
            c->vc.pos += len;
            continue;
        }
        uint64_t here = c->vlog;
        c->vlog += 4 + len;
        if (here < off) {
            c->vc.pos += len;
            continue;
        }
        if (here > off)
            break;
        unsigned char *tmp = NULL;
        const unsigned char *p;
        size_t got;
        if ((rc = mf4__cursor_peek(&c->vc, (size_t)len, &p, &got, err)))
            return rc;
        if (got < len) {
            tmp = malloc((size_t)len);
            if (!tmp)
                return mf4__err(err, MF4_E_NOMEM, 0, "out of memory");
            if ((rc = mf4__cursor_read(&c->vc, tmp, (size_t)len, err))) {
                free(tmp);
                return rc;
            }
            p = tmp;
        } else {
            c->vc.pos += len;
        }
        rc = append_value(c, p, (size_t)len, ch->data_type)
                 ? mf4__err(err, MF4_E_NOMEM, 0, "out of memory")
                 : MF4_OK;
        free(tmp);
        return rc;
    }
    return mf4__err(err, MF4_E_CORRUPT, ch->offset,
                    "channel '%s': no VLSD record at offset %llu of group %zu", ch->name,
                    (unsigned long long)off, c->vg->index);
}

/* Decodes column c from n records at recs (stride bytes apart, record id already skipped). */
static int decode(mf4_reader *r, colbuf *c, const unsigned char *recs, size_t stride, size_t n,
                  mf4_error *err)
{
    const mf4_channel *ch = c->pub.ch;
    const mf4__chan *x = c->x;
    const mf4_group *g = r->g;
    uint64_t first = r->pos;
    int dt = ch->data_type;
    int be = dt == MF4_DT_UINT_BE || dt == MF4_DT_INT_BE || dt == MF4_DT_FLOAT_BE;
    const unsigned char *base = recs + ch->byte_offset;
    unsigned bits = ch->bit_count, bo = ch->bit_offset, nb = x->nbytes;
    int virt = ch->channel_type == MF4_CN_VIRTUAL_MASTER || ch->channel_type == MF4_CN_VIRTUAL_DATA;
    /* validity */
    if (ch->all_invalid) {
        memset(c->valid, 0, n);
    } else if (ch->has_invalidation && g->inval_bytes) {
        const unsigned char *ib = recs + g->data_bytes + (ch->inval_bit_pos >> 3);
        unsigned m = 1u << (ch->inval_bit_pos & 7);
        for (size_t i = 0; i < n; i++)
            c->valid[i] = (ib[i * stride] & m) ? 0 : 1;
    } else {
        memset(c->valid, 1, n);
    }
    if (virt) {
        for (size_t i = 0; i < n; i++)
            c->u64[i] = first + i;
    } else if (ch->kind == MF4_VAL_UINT || ch->kind == MF4_VAL_INT) {
        uint64_t *u = ch->kind == MF4_VAL_UINT ? c->u64 : (uint64_t *)c->i64;
        if (!be && bo == 0 && bits == 8 * nb && (nb == 1 || nb == 2 || nb == 4 || nb == 8)) {
            int sg = ch->kind == MF4_VAL_INT;
            switch (nb) {
            case 1:
                for (size_t i = 0; i < n; i++)
                    u[i] = sg ? (uint64_t)(int64_t)(int8_t)base[i * stride] : base[i * stride];
                break;
            case 2:
                for (size_t i = 0; i < n; i++) {
                    uint16_t v;
                    memcpy(&v, base + i * stride, 2);
                    u[i] = sg ? (uint64_t)(int64_t)(int16_t)v : v;
                }
                break;
            case 4:
                for (size_t i = 0; i < n; i++) {
                    uint32_t v;
                    memcpy(&v, base + i * stride, 4);
                    u[i] = sg ? (uint64_t)(int64_t)(int32_t)v : v;
                }
                break;
            default:
                for (size_t i = 0; i < n; i++)
                    memcpy(&u[i], base + i * stride, 8);
            }
        } else {
            for (size_t i = 0; i < n; i++)
                u[i] = extract_bits(base + i * stride, nb, be, bo, bits);
            if (ch->kind == MF4_VAL_INT && bits < 64) {
                uint64_t sign = UINT64_C(1) << (bits - 1);
                for (size_t i = 0; i < n; i++)
                    u[i] = (u[i] ^ sign) - sign;
            }
        }
    } else if (ch->kind == MF4_VAL_FLOAT) {
        double *o = c->f64;
        if (!be && bo == 0 && bits == 64) {
            for (size_t i = 0; i < n; i++)
                memcpy(&o[i], base + i * stride, 8);
        } else if (!be && bo == 0 && bits == 32) {
            for (size_t i = 0; i < n; i++) {
                float v;
                memcpy(&v, base + i * stride, 4);
                o[i] = v;
            }
        } else {
            for (size_t i = 0; i < n; i++) {
                uint64_t v = extract_bits(base + i * stride, nb, be, bo, bits);
                if (bits == 64) {
                    memcpy(&o[i], &v, 8);
                } else if (bits == 32) {
                    uint32_t v32 = (uint32_t)v;
                    float fv;
                    memcpy(&fv, &v32, 4);
                    o[i] = fv;
                } else {
                    o[i] = half_to_double((uint16_t)v);
                }
            }
        }
    } else {
        /* bytes: fixed-length strings / arrays, or VLSD */
        c->blen = 0;
        for (size_t i = 0; i < n; i++) {
            c->offsets[i] = c->blen;
            const unsigned char *p = base + i * stride;
            if (ch->channel_type == MF4_CN_VLSD) {
                uint64_t off;
                off = mf4__get_le(p, 8);
                if (!c->valid[i]) {
                    continue;
                }
                int rc = vlsd_fetch(r, c, off, err);
                if (rc)
                    return rc;
            } else if (ch->channel_type == MF4_CN_VLSC) {
                return mf4__err(err, MF4_E_UNSUPPORTED, ch->offset,
                                "channel '%s': VLSC channels (MDF 4.2)", ch->name);
            } else {
                if (append_value(c, p, bits / 8, dt))
                    return mf4__err(err, MF4_E_NOMEM, 0, "out of memory");
            }
        }
        c->offsets[n] = c->blen;
        c->pub.bytes = c->bytes;
        c->pub.offsets = c->offsets;
    }
    /* physical values */
    const mf4_conversion *cv = ch->conv;
    if (ch->kind == MF4_VAL_BYTES) {
        for (size_t i = 0; i < n; i++)
            c->phys[i] = NAN;
        if (cv && c->text && is_string(dt)) {
            for (size_t i = 0; i < n; i++) {
                size_t l = c->offsets[i + 1] - c->offsets[i];
                char buf[256];
                if (l >= sizeof buf)
                    l = sizeof buf - 1;
                memcpy(buf, c->bytes + c->offsets[i], l);
                buf[l] = 0;
                const char *t = NULL;
                mf4_conv_apply_text(cv, buf, &c->phys[i], &t);
                /* text results pointing into buf would dangle: only conversion texts kept */
                c->text[i] = (t && t != buf) ? t : NULL;
            }
        } else if (cv && cv->type == MF4_CONV_TEXT_VALUE && is_string(dt)) {
            for (size_t i = 0; i < n; i++) {
                size_t l = c->offsets[i + 1] - c->offsets[i];
                char buf[256];
                if (l >= sizeof buf)
                    l = sizeof buf - 1;
                memcpy(buf, c->bytes + c->offsets[i], l);
                buf[l] = 0;
                mf4_conv_apply_text(cv, buf, &c->phys[i], NULL);
            }
        }
        return MF4_OK;
    }
    int isint = ch->kind != MF4_VAL_FLOAT;
    if (!cv) {
        if (ch->kind == MF4_VAL_UINT)
            for (size_t i = 0; i < n; i++)
                c->phys[i] = (double)c->u64[i];
        else if (ch->kind == MF4_VAL_INT)
            for (size_t i = 0; i < n; i++)
                c->phys[i] = (double)c->i64[i];
        else
            memcpy(c->phys, c->f64, n * sizeof(double));
        return MF4_OK;
    }
    if (cv->type == MF4_CONV_LINEAR) {
        double a = cv->params[1], b = cv->params[0];
        if (ch->kind == MF4_VAL_UINT)
            for (size_t i = 0; i < n; i++)
                c->phys[i] = a * (double)c->u64[i] + b;
        else if (ch->kind == MF4_VAL_INT)
            for (size_t i = 0; i < n; i++)
                c->phys[i] = a * (double)c->i64[i] + b;
        else
            for (size_t i = 0; i < n; i++)
                c->phys[i] = a * c->f64[i] + b;
        return MF4_OK;
    }
    for (size_t i = 0; i < n; i++) {
        double xv = ch->kind == MF4_VAL_UINT  ? (double)c->u64[i]
                    : ch->kind == MF4_VAL_INT ? (double)c->i64[i]
                                              : c->f64[i];
        const char *t = NULL;
        if (mf4__conv_num(cv, xv, isint, &c->phys[i], &t, 0) != MF4_OK)
            c->phys[i] = NAN;
        if (c->text)
            c->text[i] = t;
    }
    return MF4_OK;
}

/* A sequential pass over a memory-mapped file would otherwise keep every page it touched
 * resident: every 16 MiB, give the pages already decoded back to the page cache, so the
 * reader's resident memory does not grow with the file. p points into the mapping. */
static void release_pages(mf4_reader *r, const unsigned char *p)
{
    /* only pointers into the mapping itself (inflated DZ data lives in a heap buffer) */
    if (!r->f->mapped || p < r->f->map || p >= r->f->map + r->f->size)
        return;
    uint64_t off = (uint64_t)(p - r->f->map);
    if (off < r->dropped)
        r->dropped = 0;
    if (off - r->dropped < ((uint64_t)16 << 20))
        return;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t lo = (r->dropped + page - 1) / page * page, hi = off / page * page;
    if (hi > lo)
        madvise((void *)(r->f->map + lo), (size_t)(hi - lo), MADV_DONTNEED);
    r->dropped = off;
}

static int fail(mf4_reader *r, int rc, mf4_error *err)
{
    r->failed = rc;
    if (err)
        r->saved = *err;
    else
        mf4__err(&r->saved, rc, 0, "%s", mf4_strerror(rc));
    return rc;
}

int mf4_reader_next(mf4_reader *r, size_t *n_out, mf4_error *err)
{
    if (!r || !n_out)
        return mf4__err(err, MF4_E_ARG, 0, "mf4_reader_next: NULL argument");
    *n_out = 0;
    if (r->failed) {
        if (err)
            *err = r->saved;
        return r->failed;
    }
    mf4_error local;
    if (!err)
        err = &local;
    if (r->pos >= r->total)
        return MF4_OK;
    uint64_t left = r->total - r->pos;
    size_t want = left < r->batch ? (size_t)left : r->batch;
    const unsigned char *recs;
    size_t stride;
    int rc;
    if (!r->dg->unsorted) {
        stride = (size_t)r->rec_len + r->idsize;
        const unsigned char *p;
        size_t got;
        if (stride == 0) {
            recs = r->recbuf;
        } else {
            if ((rc = mf4__cursor_peek(&r->cur, want * stride, &p, &got, err)))
                return fail(r, rc, err);
            if (got == want * stride) {
                recs = p;
                r->cur.pos += got;
                release_pages(r, p);
            } else {
                if ((rc = mf4__cursor_read(&r->cur, r->recbuf, want * stride, err)))
                    return fail(r, rc, err);
                recs = r->recbuf;
            }
        }
        recs += r->idsize;
    } else {
        /* unsorted: pick this group's records out of the stream */
        const mf4__dg *dg = r->dg;
        unsigned ids = dg->rec_id_size;
        uint64_t total = dg->data.total;
        size_t have = 0;
        stride = r->rec_len;
        while (have < want) {
            unsigned char idb[8], lb[4];
            if (total - r->cur.pos < ids)
                break;
            if ((rc = mf4__cursor_read(&r->cur, idb, ids, err)))
                return fail(r, rc, err);
            uint64_t id = mf4__get_le(idb, ids);
            const mf4_group *g = NULL;
            for (size_t k = 0; k < dg->n_groups; k++)
                if (r->f->groups[dg->first_group + k].record_id == id)
                    g = &r->f->groups[dg->first_group + k];
            if (!g)
                return fail(r,
                            mf4__err(err, MF4_E_CORRUPT, dg->offset,
                                     "unknown record id %llu at data offset %llu",
                                     (unsigned long long)id,
                                     (unsigned long long)(r->cur.pos - ids)),
                            err);
            uint64_t len;
            if (g->is_vlsd) {
                if (total - r->cur.pos < 4)
                    break;
                if ((rc = mf4__cursor_read(&r->cur, lb, 4, err)))
                    return fail(r, rc, err);
                len = mf4__get_le(lb, 4);
            } else {
                len = (uint64_t)g->data_bytes + g->inval_bytes;
            }
            if (len > total - r->cur.pos)
                break;
            if (g == r->g) {
                if ((rc = mf4__cursor_read(&r->cur, r->recbuf + have * stride, r->rec_len, err)))
                    return fail(r, rc, err);
                have++;
            } else {
                r->cur.pos += len;
            }
        }
        if (have < want)
            return fail(r,
                        mf4__err(err, MF4_E_TRUNCATED, r->dg->offset,
                                 "group %zu: data ends after %llu of %llu records", r->g->index,
                                 (unsigned long long)(r->pos + have), (unsigned long long)r->total),
                        err);
        recs = r->recbuf;
    }
    for (size_t i = 0; i < r->ncols; i++)
        if ((rc = decode(r, &r->cols[i], recs, stride, want, err)))
            return fail(r, rc, err);
    r->pos += want;
    *n_out = want;
    return MF4_OK;
}
