/*
 * mf4_data.c - reading sample data: a cursor over a data stream (raw DT/SD fragments in the
 * mapped file, DZ fragments inflated one at a time), and mf4_reader, which walks the records
 * of one channel group (sorted: fixed stride; unsorted: by record id) in batches and decodes
 * the selected channels into columns.
 *
 * Decoding: a batch is taken as segments of whole records in one data block: row-major
 * records (DT in the mapped file, or an inflated DZ), one record copied because it spans two
 * blocks, or - for a transposed DZ block whose rows are the group's records - the block's byte
 * planes as inflated, never un-transposed. Numeric columns are decoded CHUNK records at a time,
 * every column of a chunk in turn (its bytes stay in cache), by kernels specialised for whole
 * 1/2/4/8-byte words in either byte order with identity or linear conversions; other shapes
 * (bit fields, 3/5/6/7/9-byte values, other conversions) take a shift-and-mask path or go value
 * by value. Strings, byte arrays and VLSD values are read from row-major records only.
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

/* The fragment holding the cursor's position (moving c->frag forward to it), NULL at the end. */
static const mf4__frag *cursor_frag(mf4__cursor *c)
{
    const mf4__stream_def *d = c->def;
    while (c->frag < d->n && c->pos >= d->frags[c->frag].start + d->frags[c->frag].len)
        c->frag++;
    return c->frag < d->n ? &d->frags[c->frag] : NULL;
}

/* A DZ fragment whose inflated bytes are transposed: zip type 1 with at least 2 rows of at
 * least 2 columns (anything smaller is stored as it is). */
static int transposed(const mf4__frag *fr)
{
    return fr->zip_type == 1 && fr->zip_param > 1 && fr->len / fr->zip_param > 1;
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

/* Gives the whole pages within bytes [from, to) of f's mapping back to the page cache (a
 * read-only private mapping faults them in again if they are needed). */
static void drop_pages(const mf4_file *f, uint64_t from, uint64_t to)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t lo = (from + page - 1) / page * page, hi = to / page * page;
    if (hi > lo)
        madvise((void *)(f->map + lo), (size_t)(hi - lo), MADV_DONTNEED);
}

/* Un-transposes the planes in zbuf (fragment zfrag) into row-major records. */
static int to_rows(mf4__cursor *c, mf4_error *err)
{
    const mf4__frag *fr = &c->def->frags[c->zfrag];
    size_t want = (size_t)fr->len, cols = fr->zip_param, rows = want / cols;
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
    c->zplanes = 0;
    return MF4_OK;
}

/* Inflates fragment i into zbuf. A transposed block is left as byte planes when keep_planes
 * is set (c->zplanes tells), else un-transposed. */
static int inflate_frag(mf4__cursor *c, size_t i, int keep_planes, mf4_error *err)
{
    c->zfrag = -1;
    c->zplanes = 0;
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
        drop_pages(f, fr->file_off, fr->file_off + fr->clen);
    }
    if (zrc != Z_STREAM_END || have != want) {
        c->zfrag = -1;
        return mf4__err(err, MF4_E_ZLIB, fr->blk_off,
                        "DZ at %llu inflates to %zu bytes, %llu declared",
                        (unsigned long long)fr->blk_off, have, (unsigned long long)fr->len);
    }
    c->zfrag = (long)i;
    /* transposed data stays as byte planes until someone asks for row-major bytes */
    c->zplanes = transposed(fr);
    if (c->zplanes && !keep_planes)
        return to_rows(c, err);
    return MF4_OK;
}

int mf4__cursor_peek(mf4__cursor *c, size_t want, const unsigned char **p, size_t *got,
                     mf4_error *err)
{
    *got = 0;
    *p = NULL;
    const mf4__frag *fr = cursor_frag(c);
    if (!fr || want == 0)
        return MF4_OK;
    uint64_t off = c->pos - fr->start;
    const unsigned char *base;
    if (fr->clen) {
        int rc = MF4_OK;
        if (c->zfrag != (long)c->frag)
            rc = inflate_frag(c, c->frag, 0, err);
        else if (c->zplanes && off < fr->len / fr->zip_param * fr->zip_param)
            rc = to_rows(c, err); /* the tail after the last whole row is not transposed */
        if (rc)
            return rc;
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

int mf4__cursor_planes(mf4__cursor *c, const unsigned char **planes, const mf4__frag **frag,
                       mf4_error *err)
{
    *planes = NULL;
    *frag = NULL;
    const mf4__frag *fr = cursor_frag(c);
    if (!fr || !fr->clen || !transposed(fr))
        return MF4_OK;
    if (c->zfrag != (long)c->frag) {
        int rc = inflate_frag(c, c->frag, 1, err);
        if (rc)
            return rc;
    }
    if (c->zplanes) {
        *planes = c->zbuf;
        *frag = fr;
    }
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
/* How a column's physical values are made from its raw values. */
enum {
    PH_ALIAS,   /* float without conversion: phys is the f64 array itself */
    PH_IDENT,   /* integer without conversion: (double)raw */
    PH_LINEAR,  /* a * raw + b */
    PH_GENERAL, /* any other conversion, value by value (may yield text) */
};

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
    /* decoding plan of a numeric channel, fixed at open */
    int virt;               /* virtual master/data channel: the record index */
    unsigned off;           /* byte offset in the record (after the record id) */
    unsigned nb;            /* bytes the value spans */
    unsigned wb;            /* nb rounded up to a word of 1, 2, 4 or 8 bytes; 0 if nb > 8 */
    int be;                 /* big-endian bytes */
    int full;               /* the value is the whole word: bit offset 0, 8 * nb bits, nb == wb */
    unsigned bo;            /* bit offset */
    unsigned bits;          /* bit count */
    int pm;                 /* PH_* */
    double pa, pb;          /* PH_LINEAR: phys = pa * raw + pb */
    int vmode;              /* 0 all valid, 1 all invalid, 2 an invalidation bit */
    unsigned vbyte, vshift; /* vmode 2: byte (after the record id) and bit of it */
} colbuf;

/* Where the records of a segment are: byte b (after the record id) of record i is at
 * p[i * is + b * bs]. Row-major records: is = the record size, bs = 1; the byte planes of a
 * transposed DZ block (planes = 1): is = 1, bs = the block's row count. */
typedef struct recsrc {
    const unsigned char *p;
    size_t is, bs;
    int planes;
} recsrc;

/* Values are decoded CHUNK at a time through a scratch buffer of CHUNK words, so that a
 * chunk's raw values are still in L1 when its physical values are computed. */
#define CHUNK 1024

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
    unsigned char *recbuf; /* unsorted: a batch of records; sorted: one record */
    uint64_t dropped;      /* mapped file: pages below this offset were released */
    int planes_ok;         /* every column can be decoded from byte planes */
    int generic;           /* mf4__reader_generic: value-by-value reference decoding */
    uint64_t scratch[CHUNK];
    uint64_t scratch2[CHUNK];
    int failed;
    mf4_error saved;
};

/* Fixes how column c is decoded (see colbuf). */
static void col_plan(colbuf *c, const mf4_group *g)
{
    const mf4_channel *ch = c->pub.ch;
    int dt = ch->data_type;
    c->virt = ch->channel_type == MF4_CN_VIRTUAL_MASTER || ch->channel_type == MF4_CN_VIRTUAL_DATA;
    c->off = ch->byte_offset;
    c->nb = c->x->nbytes;
    c->wb = c->nb <= 1 ? 1 : c->nb <= 2 ? 2 : c->nb <= 4 ? 4 : c->nb <= 8 ? 8 : 0;
    c->be = dt == MF4_DT_UINT_BE || dt == MF4_DT_INT_BE || dt == MF4_DT_FLOAT_BE;
    c->bo = ch->bit_offset;
    c->bits = ch->bit_count;
    c->full = c->bo == 0 && c->bits == 8 * c->nb && c->nb == c->wb;
    const mf4_conversion *cv = ch->conv;
    if (!cv)
        c->pm = ch->kind == MF4_VAL_FLOAT ? PH_ALIAS : PH_IDENT;
    else if (cv->type == MF4_CONV_LINEAR)
        c->pm = PH_LINEAR;
    else
        c->pm = PH_GENERAL;
    if (c->pm == PH_LINEAR) {
        c->pa = cv->params[1];
        c->pb = cv->params[0];
    }
    if (ch->all_invalid) {
        c->vmode = 1;
    } else if (ch->has_invalidation && g->inval_bytes) {
        c->vmode = 2;
        c->vbyte = g->data_bytes + (ch->inval_bit_pos >> 3);
        c->vshift = ch->inval_bit_pos & 7;
    } else {
        c->vmode = 0;
    }
}

static int col_alloc(colbuf *c, size_t batch)
{
    const mf4_channel *ch = c->pub.ch;
    /* a float without conversion is its own physical value */
    c->phys = c->pm == PH_ALIAS ? NULL : malloc(batch * sizeof(double));
    c->valid = malloc(batch);
    if ((c->pm != PH_ALIAS && !c->phys) || !c->valid)
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
    c->pub.phys = c->pm == PH_ALIAS ? c->f64 : c->phys;
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
    /* sorted data needs room for one record that spans data blocks, unsorted data for a
     * batch of this group's records picked out of the stream */
    r->recbuf = malloc((r->dg->unsorted ? rb * batch : rb) + 1);
    if (!r->cols || !r->recbuf)
        goto oom;
    r->ncols = n_channels;
    r->planes_ok = 1;
    for (size_t i = 0; i < n_channels; i++) {
        colbuf *c = &r->cols[i];
        c->pub.channel = channels[i];
        c->pub.ch = &g->channels[channels[i]];
        c->x = &f->gchan[group][channels[i]];
        col_plan(c, g);
        if (c->pub.ch->kind == MF4_VAL_BYTES)
            r->planes_ok = 0; /* strings, byte arrays and VLSD are read from records */
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
/* Value of nbytes bytes at p, p + bs, p + 2 bs ... (record order), shifted right by bitoff
 * and cut to bits: the reference extraction, for any width up to 9 bytes. */
static uint64_t extract_bits(const unsigned char *p, size_t bs, unsigned nbytes, int be,
                             unsigned bitoff, unsigned bits)
{
    unsigned __int128 v = 0;
    if (be)
        for (unsigned i = 0; i < nbytes; i++)
            v = (v << 8) | p[i * bs];
    else
        for (unsigned i = nbytes; i-- > 0;)
            v = (v << 8) | p[i * bs];
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

/* ---- numeric decoding kernels
 * A numeric value is decoded in three steps, CHUNK values at a time: its nb bytes are
 * gathered into little-endian words of wb bytes (from row-major records or straight from
 * the byte planes of a transposed DZ block), the words become raw values (a cast for whole
 * words, shift + mask + sign extension otherwise), and the raw values become physical ones.
 * The common shapes (whole 1/2/4/8-byte words, identity or linear conversion) run as tight
 * loops without per-value branches or calls, which the compiler vectorises. */

/* Words of values i (0..m-1) from byte pointers pk[0..nb-1] (least significant first), the
 * bytes of value i at pk[k][i * is]; any nb <= 8, zero-extended to wb bytes. */
static void words_scalar(const unsigned char *const *pk, unsigned nb, unsigned wb, size_t is,
                         size_t i, size_t m, unsigned char *o)
{
    for (; i < m; i++) {
        uint64_t v = 0;
        for (unsigned k = 0; k < nb; k++)
            v |= (uint64_t)pk[k][i * is] << (8 * k);
        mf4__put_le(o + i * wb, v, wb);
    }
}

/* Interleaves nb byte planes into m words of nb bytes (nb = 2, 4, 8): an un-transposition of
 * just the planes of one value, with SSE2 16 values at a time. */
static void interleave(const unsigned char *const *pk, unsigned nb, size_t m, unsigned char *o)
{
    size_t i = 0;
#ifdef __SSE2__
#define LD(k)    _mm_loadu_si128((const __m128i *)(pk[k] + i))
#define ST(j, v) _mm_storeu_si128((__m128i *)(o + i * nb + 16 * (j)), v)
    if (nb == 2) {
        for (; i + 16 <= m; i += 16) {
            __m128i a = LD(0), b = LD(1);
            ST(0, _mm_unpacklo_epi8(a, b));
            ST(1, _mm_unpackhi_epi8(a, b));
        }
    } else if (nb == 4) {
        for (; i + 16 <= m; i += 16) {
            __m128i a0 = LD(0), a1 = LD(1), a2 = LD(2), a3 = LD(3);
            __m128i t0 = _mm_unpacklo_epi8(a0, a1), t1 = _mm_unpackhi_epi8(a0, a1);
            __m128i t2 = _mm_unpacklo_epi8(a2, a3), t3 = _mm_unpackhi_epi8(a2, a3);
            ST(0, _mm_unpacklo_epi16(t0, t2));
            ST(1, _mm_unpackhi_epi16(t0, t2));
            ST(2, _mm_unpacklo_epi16(t1, t3));
            ST(3, _mm_unpackhi_epi16(t1, t3));
        }
    } else if (nb == 8) {
        for (; i + 16 <= m; i += 16) {
            __m128i a0 = LD(0), a1 = LD(1), a2 = LD(2), a3 = LD(3);
            __m128i a4 = LD(4), a5 = LD(5), a6 = LD(6), a7 = LD(7);
            /* bytes (0,1), (2,3), (4,5), (6,7) of values 0-7 (lo) and 8-15 (hi) */
            __m128i b0 = _mm_unpacklo_epi8(a0, a1), b1 = _mm_unpackhi_epi8(a0, a1);
            __m128i b2 = _mm_unpacklo_epi8(a2, a3), b3 = _mm_unpackhi_epi8(a2, a3);
            __m128i b4 = _mm_unpacklo_epi8(a4, a5), b5 = _mm_unpackhi_epi8(a4, a5);
            __m128i b6 = _mm_unpacklo_epi8(a6, a7), b7 = _mm_unpackhi_epi8(a6, a7);
            /* bytes 0-3 and 4-7 of values 0-3, 4-7, 8-11, 12-15 */
            __m128i c0 = _mm_unpacklo_epi16(b0, b2), c1 = _mm_unpackhi_epi16(b0, b2);
            __m128i c2 = _mm_unpacklo_epi16(b1, b3), c3 = _mm_unpackhi_epi16(b1, b3);
            __m128i d0 = _mm_unpacklo_epi16(b4, b6), d1 = _mm_unpackhi_epi16(b4, b6);
            __m128i d2 = _mm_unpacklo_epi16(b5, b7), d3 = _mm_unpackhi_epi16(b5, b7);
            ST(0, _mm_unpacklo_epi32(c0, d0));
            ST(1, _mm_unpackhi_epi32(c0, d0));
            ST(2, _mm_unpacklo_epi32(c1, d1));
            ST(3, _mm_unpackhi_epi32(c1, d1));
            ST(4, _mm_unpacklo_epi32(c2, d2));
            ST(5, _mm_unpackhi_epi32(c2, d2));
            ST(6, _mm_unpacklo_epi32(c3, d3));
            ST(7, _mm_unpackhi_epi32(c3, d3));
        }
    }
#undef LD
#undef ST
#endif
    words_scalar(pk, nb, nb, 1, i, m, o);
}

/* Gathers the words of the first m values of column c in s into w (m words of c->wb
 * bytes); returns w, or the plane itself for one-byte values in byte planes. */
static const void *gather(const colbuf *c, const recsrc *s, size_t m, void *w)
{
    unsigned nb = c->nb, wb = c->wb;
    const unsigned char *pk[8];
    for (unsigned k = 0; k < nb; k++)
        pk[k] = s->p + (size_t)(c->be ? c->off + nb - 1 - k : c->off + k) * s->bs;
    if (s->planes) {
        if (nb == 1)
            return pk[0];
        if (nb == wb)
            interleave(pk, nb, m, w);
        else
            words_scalar(pk, nb, wb, 1, 0, m, w);
        return w;
    }
    const unsigned char *q = s->p + c->off;
    size_t is = s->is;
    if (nb != wb) {
        words_scalar(pk, nb, wb, is, 0, m, w);
    } else if (nb == 1) {
        uint8_t *o = w;
        for (size_t i = 0; i < m; i++)
            o[i] = q[i * is];
    } else if (nb == 2) {
        uint16_t *o = w;
        for (size_t i = 0; i < m; i++) {
            uint16_t v;
            memcpy(&v, q + i * is, 2);
            o[i] = c->be ? __builtin_bswap16(v) : v;
        }
    } else if (nb == 4) {
        uint32_t *o = w;
        for (size_t i = 0; i < m; i++) {
            uint32_t v;
            memcpy(&v, q + i * is, 4);
            o[i] = c->be ? __builtin_bswap32(v) : v;
        }
    } else {
        uint64_t *o = w;
        for (size_t i = 0; i < m; i++) {
            uint64_t v;
            memcpy(&v, q + i * is, 8);
            o[i] = c->be ? __builtin_bswap64(v) : v;
        }
    }
    return w;
}

/* Whole-word integers: raw = (CT)word, and with PH_IDENT / PH_LINEAR the physical value in
 * the same loop (other conversions: raw only, phys is made afterwards). */
#define CONV_INT(NAME, WT, CT, OT)                                                                 \
    static void NAME(const void *wv, OT *restrict raw, double *restrict phys, size_t m, int pm,    \
                     double a, double b)                                                           \
    {                                                                                              \
        const WT *restrict w = wv;                                                                 \
        if (pm == PH_LINEAR)                                                                       \
            for (size_t i = 0; i < m; i++) {                                                       \
                CT v = (CT)w[i];                                                                   \
                raw[i] = (OT)v;                                                                    \
                phys[i] = a * (double)v + b;                                                       \
            }                                                                                      \
        else if (pm == PH_IDENT)                                                                   \
            for (size_t i = 0; i < m; i++) {                                                       \
                CT v = (CT)w[i];                                                                   \
                raw[i] = (OT)v;                                                                    \
                phys[i] = (double)v;                                                               \
            }                                                                                      \
        else                                                                                       \
            for (size_t i = 0; i < m; i++)                                                         \
                raw[i] = (OT)(CT)w[i];                                                             \
    }
CONV_INT(conv_u8, uint8_t, uint8_t, uint64_t)
CONV_INT(conv_i8, uint8_t, int8_t, int64_t)
CONV_INT(conv_u16, uint16_t, uint16_t, uint64_t)
CONV_INT(conv_i16, uint16_t, int16_t, int64_t)
CONV_INT(conv_u32, uint32_t, uint32_t, uint64_t)
CONV_INT(conv_i32, uint32_t, int32_t, int64_t)
#undef CONV_INT

/* Raw value i of numeric column c as a double (the input of a conversion). */
static double raw_value(const colbuf *c, size_t i)
{
    int kind = c->pub.ch->kind;
    return kind == MF4_VAL_UINT  ? (double)c->u64[i]
           : kind == MF4_VAL_INT ? (double)c->i64[i]
                                 : c->f64[i];
}

/* Physical values of raw values [0, m) of column c (a chunk starting at batch index o). */
static void phys_chunk(colbuf *c, size_t o, size_t m)
{
    if (c->pm == PH_ALIAS) /* phys is the f64 array */
        return;
    const mf4_channel *ch = c->pub.ch;
    double *ph = c->phys + o, a = c->pa, b = c->pb;
    switch (c->pm) {
    case PH_IDENT:
        if (ch->kind == MF4_VAL_UINT) {
            const uint64_t *u = c->u64 + o;
            if (c->virt || c->bits < 64) /* below 2^63: the signed conversion, no branches */
                for (size_t i = 0; i < m; i++)
                    ph[i] = (double)(int64_t)u[i];
            else
                for (size_t i = 0; i < m; i++)
                    ph[i] = (double)u[i];
        } else {
            const int64_t *v = c->i64 + o;
            for (size_t i = 0; i < m; i++)
                ph[i] = (double)v[i];
        }
        return;
    case PH_LINEAR:
        if (ch->kind == MF4_VAL_UINT) {
            const uint64_t *u = c->u64 + o;
            if (c->virt || c->bits < 64)
                for (size_t i = 0; i < m; i++)
                    ph[i] = a * (double)(int64_t)u[i] + b;
            else
                for (size_t i = 0; i < m; i++)
                    ph[i] = a * (double)u[i] + b;
        } else if (ch->kind == MF4_VAL_INT) {
            const int64_t *v = c->i64 + o;
            for (size_t i = 0; i < m; i++)
                ph[i] = a * (double)v[i] + b;
        } else {
            const double *v = c->f64 + o;
            for (size_t i = 0; i < m; i++)
                ph[i] = a * v[i] + b;
        }
        return;
    default: {
        int isint = ch->kind != MF4_VAL_FLOAT;
        for (size_t i = o; i < o + m; i++) {
            const char *t = NULL;
            if (mf4__conv_num(ch->conv, raw_value(c, i), isint, &c->phys[i], &t, 0) != MF4_OK)
                c->phys[i] = NAN;
            if (c->text)
                c->text[i] = t;
        }
    }
    }
}

/* Raw values from value bits v[0..m) (already shifted and cut to c->bits). */
static void raw_from_bits(colbuf *c, const uint64_t *v, size_t o, size_t m)
{
    const mf4_channel *ch = c->pub.ch;
    if (ch->kind == MF4_VAL_UINT) {
        memcpy(c->u64 + o, v, m * sizeof *v);
    } else if (ch->kind == MF4_VAL_INT) {
        int64_t *d = c->i64 + o;
        uint64_t sign = c->bits < 64 ? UINT64_C(1) << (c->bits - 1) : 0;
        for (size_t i = 0; i < m; i++)
            d[i] = (int64_t)((v[i] ^ sign) - sign);
    } else {
        double *d = c->f64 + o;
        if (c->bits == 64) {
            memcpy(d, v, m * sizeof *v);
        } else if (c->bits == 32) {
            for (size_t i = 0; i < m; i++) {
                uint32_t v32 = (uint32_t)v[i];
                float fv;
                memcpy(&fv, &v32, 4);
                d[i] = fv;
            }
        } else {
            for (size_t i = 0; i < m; i++)
                d[i] = half_to_double((uint16_t)v[i]);
        }
    }
}

/* Validity of the first m values of s into v. */
static void valid_chunk(const colbuf *c, const recsrc *s, size_t m, uint8_t *v)
{
    if (c->vmode != 2) {
        memset(v, c->vmode == 0, m);
        return;
    }
    const unsigned char *ib = s->p + (size_t)c->vbyte * s->bs;
    unsigned sh = c->vshift;
    if (s->is == 1)
        for (size_t i = 0; i < m; i++)
            v[i] = (uint8_t)(((ib[i] >> sh) & 1) ^ 1);
    else
        for (size_t i = 0; i < m; i++)
            v[i] = (uint8_t)(((ib[i * s->is] >> sh) & 1) ^ 1);
}

/* Decodes m <= CHUNK records of numeric column c from s into batch positions d..d+m-1. */
static void decode_num(mf4_reader *r, colbuf *c, const recsrc *s, size_t d, size_t m)
{
    const mf4_channel *ch = c->pub.ch;
    valid_chunk(c, s, m, c->valid + d);
    if (c->virt) {
        uint64_t first = r->pos + d;
        for (size_t i = 0; i < m; i++)
            c->u64[d + i] = first + i;
        phys_chunk(c, d, m);
        return;
    }
    if (r->generic || !c->wb) {
        /* the reference: value by value, any width */
        uint64_t *v = r->scratch2;
        for (size_t i = 0; i < m; i++)
            v[i] = extract_bits(s->p + i * s->is + (size_t)c->off * s->bs, s->bs, c->nb, c->be,
                                c->bo, c->bits);
        raw_from_bits(c, v, d, m);
        if (r->generic && c->pm != PH_GENERAL) {
            /* conversions value by value too, as mf4_conv_apply does them */
            int isint = ch->kind != MF4_VAL_FLOAT;
            for (size_t i = d; i < d + m; i++) {
                double xv = raw_value(c, i);
                if (c->pm == PH_IDENT)
                    c->phys[i] = xv;
                else if (c->pm == PH_LINEAR) {
                    const char *t;
                    mf4__conv_num(ch->conv, xv, isint, &c->phys[i], &t, 0);
                }
            }
        } else {
            phys_chunk(c, d, m);
        }
        return;
    }
    if (c->full && c->wb == 8) {
        /* 8-byte words are the raw values: gather straight into the column */
        void *dst = ch->kind == MF4_VAL_UINT  ? (void *)(c->u64 + d)
                    : ch->kind == MF4_VAL_INT ? (void *)(c->i64 + d)
                                              : (void *)(c->f64 + d);
        const void *w = gather(c, s, m, dst);
        if (w != dst)
            memcpy(dst, w, m * 8);
        phys_chunk(c, d, m);
        return;
    }
    const void *w = gather(c, s, m, r->scratch);
    if (!c->full) {
        uint64_t *v = r->scratch2, mask = c->bits < 64 ? (UINT64_C(1) << c->bits) - 1 : ~0ull;
        unsigned bo = c->bo;
        if (c->wb == 1)
            for (size_t i = 0; i < m; i++)
                v[i] = ((uint64_t)((const uint8_t *)w)[i] >> bo) & mask;
        else if (c->wb == 2)
            for (size_t i = 0; i < m; i++)
                v[i] = ((uint64_t)((const uint16_t *)w)[i] >> bo) & mask;
        else if (c->wb == 4)
            for (size_t i = 0; i < m; i++)
                v[i] = ((uint64_t)((const uint32_t *)w)[i] >> bo) & mask;
        else
            for (size_t i = 0; i < m; i++)
                v[i] = (((const uint64_t *)w)[i] >> bo) & mask;
        raw_from_bits(c, v, d, m);
        phys_chunk(c, d, m);
        return;
    }
    int fused = c->pm == PH_IDENT || c->pm == PH_LINEAR;
    double *ph = fused ? c->phys + d : NULL;
    int pm = fused ? c->pm : PH_GENERAL; /* PH_GENERAL here: raw only */
    if (ch->kind == MF4_VAL_FLOAT) {
        double *f = c->f64 + d;
        if (c->wb == 4)
            for (size_t i = 0; i < m; i++) {
                float fv;
                memcpy(&fv, (const unsigned char *)w + 4 * i, 4);
                f[i] = fv;
            }
        else
            for (size_t i = 0; i < m; i++)
                f[i] = half_to_double(((const uint16_t *)w)[i]);
        phys_chunk(c, d, m);
        return;
    }
    int sg = ch->kind == MF4_VAL_INT;
    switch (c->wb) {
    case 1:
        if (sg)
            conv_i8(w, c->i64 + d, ph, m, pm, c->pa, c->pb);
        else
            conv_u8(w, c->u64 + d, ph, m, pm, c->pa, c->pb);
        break;
    case 2:
        if (sg)
            conv_i16(w, c->i64 + d, ph, m, pm, c->pa, c->pb);
        else
            conv_u16(w, c->u64 + d, ph, m, pm, c->pa, c->pb);
        break;
    default:
        if (sg)
            conv_i32(w, c->i64 + d, ph, m, pm, c->pa, c->pb);
        else
            conv_u32(w, c->u64 + d, ph, m, pm, c->pa, c->pb);
    }
    if (!fused)
        phys_chunk(c, d, m);
}

/* Decodes k records of a strings / byte arrays / VLSD column c (row-major records only)
 * into batch positions o..o+k-1. */
static int decode_bytes(mf4_reader *r, colbuf *c, const recsrc *s, size_t o, size_t k,
                        mf4_error *err)
{
    const mf4_channel *ch = c->pub.ch;
    if (o == 0)
        c->blen = 0;
    valid_chunk(c, s, k, c->valid + o);
    for (size_t i = 0; i < k; i++) {
        c->offsets[o + i] = c->blen;
        const unsigned char *p = s->p + i * s->is + c->off;
        if (ch->channel_type == MF4_CN_VLSD) {
            if (!c->valid[o + i])
                continue;
            int rc = vlsd_fetch(r, c, mf4__get_le(p, 8), err);
            if (rc)
                return rc;
        } else if (ch->channel_type == MF4_CN_VLSC) {
            return mf4__err(err, MF4_E_UNSUPPORTED, ch->offset,
                            "channel '%s': VLSC channels (MDF 4.2)", ch->name);
        } else if (append_value(c, p, ch->bit_count / 8, ch->data_type)) {
            return mf4__err(err, MF4_E_NOMEM, 0, "out of memory");
        }
    }
    return MF4_OK;
}

/* After the last segment of a batch of n: offsets end and text conversions of bytes columns. */
static void finish_bytes(colbuf *c, size_t n)
{
    const mf4_channel *ch = c->pub.ch;
    int dt = ch->data_type;
    const mf4_conversion *cv = ch->conv;
    c->offsets[n] = c->blen;
    c->pub.bytes = c->bytes;
    c->pub.offsets = c->offsets;
    for (size_t i = 0; i < n; i++)
        c->phys[i] = NAN;
    /* a string converts when the conversion can yield text (then kept) or is text -> value */
    if (cv && is_string(dt) && (c->text || cv->type == MF4_CONV_TEXT_VALUE)) {
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
            if (c->text)
                c->text[i] = (t && t != buf) ? t : NULL;
        }
    }
}

/* Decodes k records of every column from s into batch positions o..o+k-1: numeric columns
 * CHUNK records at a time, all columns of a chunk in turn, so the chunk's record bytes are
 * read from memory once and then from cache. */
static int decode_segment(mf4_reader *r, const recsrc *s, size_t o, size_t k, mf4_error *err)
{
    for (size_t i0 = 0; i0 < k; i0 += CHUNK) {
        size_t m = k - i0 < CHUNK ? k - i0 : CHUNK;
        recsrc sc = *s;
        sc.p += i0 * s->is;
        for (size_t i = 0; i < r->ncols; i++)
            if (r->cols[i].pub.ch->kind != MF4_VAL_BYTES)
                decode_num(r, &r->cols[i], &sc, o + i0, m);
    }
    for (size_t i = 0; i < r->ncols; i++) {
        int rc;
        if (r->cols[i].pub.ch->kind == MF4_VAL_BYTES &&
            (rc = decode_bytes(r, &r->cols[i], s, o, k, err)))
            return rc;
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
    drop_pages(r->f, r->dropped, off);
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
    int rc;
    if (!r->dg->unsorted) {
        /* sorted: the batch is decoded segment by segment, each a run of whole records in one
         * data block (row-major, or the byte planes of a transposed DZ block), or one record
         * that spans blocks, copied */
        size_t stride = (size_t)r->rec_len + r->idsize, done = 0;
        while (done < want) {
            size_t k = want - done;
            recsrc s = {r->recbuf + r->idsize, stride, 1, 0};
            if (stride > 0 && r->planes_ok && !r->generic) {
                const unsigned char *pl;
                const mf4__frag *fr;
                if ((rc = mf4__cursor_planes(&r->cur, &pl, &fr, err)))
                    return fail(r, rc, err);
                /* rows of the block are records when it starts at a record boundary */
                if (pl && fr->zip_param == stride && fr->start % stride == 0) {
                    size_t rows = (size_t)(fr->len / stride);
                    size_t row = (size_t)((r->cur.pos - fr->start) / stride);
                    if (row < rows) {
                        if (k > rows - row)
                            k = rows - row;
                        s = (recsrc){pl + row + (size_t)r->idsize * rows, 1, rows, 1};
                        r->cur.pos += (uint64_t)k * stride;
                        goto decode;
                    }
                }
            }
            if (stride > 0) {
                const unsigned char *p;
                size_t got;
                if ((rc = mf4__cursor_peek(&r->cur, k * stride, &p, &got, err)))
                    return fail(r, rc, err);
                if (got >= stride) {
                    k = got / stride;
                    s.p = p + r->idsize;
                    r->cur.pos += (uint64_t)k * stride;
                    release_pages(r, p);
                } else {
                    if ((rc = mf4__cursor_read(&r->cur, r->recbuf, stride, err)))
                        return fail(r, rc, err);
                    k = 1;
                }
            }
        decode:
            if ((rc = decode_segment(r, &s, done, k, err)))
                return fail(r, rc, err);
            done += k;
        }
    } else {
        /* unsorted: pick this group's records out of the stream */
        const mf4__dg *dg = r->dg;
        unsigned ids = dg->rec_id_size;
        uint64_t total = dg->data.total;
        size_t have = 0;
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
                if ((rc =
                         mf4__cursor_read(&r->cur, r->recbuf + have * r->rec_len, r->rec_len, err)))
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
        recsrc s = {r->recbuf, r->rec_len, 1, 0};
        if ((rc = decode_segment(r, &s, 0, want, err)))
            return fail(r, rc, err);
    }
    for (size_t i = 0; i < r->ncols; i++)
        if (r->cols[i].pub.ch->kind == MF4_VAL_BYTES)
            finish_bytes(&r->cols[i], want);
    r->pos += want;
    *n_out = want;
    return MF4_OK;
}

void mf4__reader_generic(mf4_reader *r, int on)
{
    if (r)
        r->generic = on;
}
