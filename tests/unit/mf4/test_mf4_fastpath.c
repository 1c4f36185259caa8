/*
 * test_mf4_fastpath.c - the reader's specialised decoding (whole-word kernels, fused
 * conversions, columns read straight from the byte planes of transposed DZ blocks) checked
 * against two references on many random shapes:
 *   - values this test extracts itself, bit by bit, from the record bytes it generated;
 *   - the library's value-by-value path on row-major records (mf4__reader_generic).
 * Shapes: bit offsets 0-7, 1-64-bit integers and 16/32/64-bit floats in both byte orders,
 * byte offsets anywhere, record ids, invalidation bits (and "all invalid"), identity,
 * linear, rational and value->text conversions, virtual channels, odd record counts and batch
 * sizes, data in one DT block or in DL lists of DZ blocks (transposed with the record size as
 * column count and split at record boundaries, split in the middle of records, other column
 * counts, plain deflate, DT fragments mixed in).
 */
#include "../../wsm_test.h"
#include "mf4.h"
#include "mf4_build.h"
#include "mf4_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    return wsm_test_rand(&rng_state);
}

static unsigned rnd_below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

typedef struct tchan {
    int cn_type; /* 0 fixed, 6 virtual data */
    int dt;      /* MF4_DT_* */
    unsigned byte_off, bit_off, bits, nbytes;
    uint32_t flags, inval_pos;
    int conv; /* 0 none, 1 linear, 2 rational, 3 value->text */
    double params[6];
} tchan;

typedef struct shape {
    unsigned idsize, data_bytes, inval_bytes;
    size_t nch;
    tchan ch[10];
    size_t nrec;
    int storage; /* see make_file */
} shape;

/* A random channel that fits a record of data_bytes bytes. */
static void rand_chan(tchan *c, const shape *s)
{
    memset(c, 0, sizeof *c);
    if (rnd_below(16) == 0) {
        c->cn_type = 6;
        c->dt = MF4_DT_UINT_LE;
    } else {
        static const int dts[] = {MF4_DT_UINT_LE, MF4_DT_UINT_BE,  MF4_DT_INT_LE,
                                  MF4_DT_INT_BE,  MF4_DT_FLOAT_LE, MF4_DT_FLOAT_BE};
        for (;;) {
            c->dt = dts[rnd_below(6)];
            int fl = c->dt == MF4_DT_FLOAT_LE || c->dt == MF4_DT_FLOAT_BE;
            static const unsigned whole[] = {8, 16, 32, 64};
            static const unsigned fbits[] = {16, 32, 64};
            if (fl)
                c->bits = fbits[rnd_below(3)];
            else
                c->bits = rnd_below(2) ? whole[rnd_below(4)] : 1 + rnd_below(64);
            c->bit_off = rnd_below(2) ? 0 : rnd_below(8);
            c->nbytes = (c->bit_off + c->bits + 7) / 8;
            if (c->nbytes <= s->data_bytes)
                break;
        }
        c->byte_off = rnd_below(s->data_bytes - c->nbytes + 1);
    }
    if (s->inval_bytes && rnd_below(3) == 0) {
        c->flags |= 2;
        c->inval_pos = rnd_below(s->inval_bytes * 8);
    }
    if (rnd_below(25) == 0)
        c->flags |= 1; /* all values invalid */
    c->conv = rnd_below(8) < 4 ? 0 : rnd_below(8) < 6 ? 1 : 2 + rnd_below(2);
    if (c->conv == 1) {
        c->params[0] = (double)(int)rnd_below(2001) - 1000.0; /* offset */
        c->params[1] = rnd_below(2) ? 0.01 : 1.0 / (1 + rnd_below(7));
    } else if (c->conv == 2) {
        double p[6] = {0, 2, 1, 0, 0, 1}; /* (2x + 1) / 1 */
        memcpy(c->params, p, sizeof p);
    }
}

/* The test's own extraction: bit b of the value is bit (bit_off + b) of the value's bytes read
 * in the channel's byte order. */
static uint64_t ref_bits(const unsigned char *rec, const tchan *c)
{
    int be = c->dt == MF4_DT_UINT_BE || c->dt == MF4_DT_INT_BE || c->dt == MF4_DT_FLOAT_BE;
    uint64_t v = 0;
    for (unsigned b = 0; b < c->bits; b++) {
        unsigned p = c->bit_off + b, j = p / 8;
        unsigned byte = be ? c->byte_off + c->nbytes - 1 - j : c->byte_off + j;
        if ((rec[byte] >> (p % 8)) & 1)
            v |= UINT64_C(1) << b;
    }
    return v;
}

static double ref_half(uint16_t h)
{
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
    return s ? -v : v;
}

/* Appends a DZ block of plain[0..len) (zip_type 1: transposed with cols columns). */
static uint64_t put_dz(bld *B, const unsigned char *plain, size_t len, int zip_type, unsigned cols)
{
    unsigned char *tr = malloc(len + 1);
    size_t rows = zip_type ? len / cols : 0;
    if (zip_type) {
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < cols; c++)
                tr[c * rows + r] = plain[r * cols + c];
        memcpy(tr + rows * cols, plain + rows * cols, len - rows * cols);
    } else {
        memcpy(tr, plain, len);
    }
    uLongf zl = compressBound(len);
    unsigned char *dz = malloc(24 + zl);
    memset(dz, 0, 24);
    dz[0] = 'D';
    dz[1] = 'T';
    dz[2] = (unsigned char)zip_type;
    bld_le(dz + 4, zip_type ? cols : 0, 4);
    bld_le(dz + 8, len, 8);
    compress(dz + 24, &zl, tr, len);
    bld_le(dz + 16, zl, 8);
    uint64_t off = bld_block(B, "DZ", 0, NULL, dz, 24 + zl);
    free(tr);
    free(dz);
    return off;
}

/* Lays the data out as storage mode s->storage says; returns the DG's data link.
 *  0: one DT block
 *  1: DL of transposed DZ blocks (columns = record size), split at record boundaries
 *  2: DL of transposed DZ blocks split at random bytes (records span blocks)
 *  3: DL mixing DT, plain deflate DZ and transposed DZ with other column counts
 *  4: one transposed DZ block */
static uint64_t put_data(bld *B, const shape *s, const unsigned char *data, size_t len)
{
    size_t stride = s->idsize + s->data_bytes + s->inval_bytes;
    if (s->storage == 0)
        return bld_block(B, "DT", 0, NULL, data, len);
    if (s->storage == 4)
        return put_dz(B, data, len, 1, (unsigned)stride);
    uint64_t links[64];
    size_t n = 0, pos = 0;
    while (pos < len && n < 63) {
        size_t piece;
        if (s->storage == 1)
            piece = stride * (1 + rnd_below(rnd_below(2) ? 3 : 2500));
        else
            piece = 1 + rnd_below(rnd_below(2) ? 50 : 60000);
        if (piece > len - pos || n == 62)
            piece = len - pos;
        if (s->storage == 3) {
            int kind = (int)rnd_below(3);
            if (kind == 0)
                links[n++] = bld_block(B, "DT", 0, NULL, data + pos, piece);
            else
                links[n++] = put_dz(B, data + pos, piece, kind - 1,
                                    kind == 2 ? 1 + rnd_below((unsigned)stride * 2) : 0);
        } else {
            links[n++] = put_dz(B, data + pos, piece, 1, (unsigned)stride);
        }
        pos += piece;
    }
    uint64_t *l = calloc(n + 1, 8);
    memcpy(l + 1, links, n * 8);
    unsigned char *d = calloc(1, 8 + 8 * n);
    bld_le(d + 4, n, 4);
    size_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        bld_le(d + 8 + 8 * i, acc, 8);
        acc += 1; /* offsets are not read by the reader; keep them increasing */
    }
    uint64_t dl = bld_block(B, "DL", n + 1, l, d, 8 + 8 * n);
    free(l);
    free(d);
    return dl;
}

static const char *const vt_texts[] = {"zero", "one", "other"};

/* Builds the file of shape s over random records (returned in *recs, stride bytes each). */
static bld make_file(const shape *s, unsigned char **recs)
{
    size_t stride = s->idsize + s->data_bytes + s->inval_bytes, len = stride * s->nrec;
    unsigned char *data = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)rnd();
    for (size_t r = 0; r < s->nrec; r++)
        bld_le(data + r * stride, 5, (int)s->idsize); /* the group's record id */
    bld B = {0};
    uint64_t hd = bld_start(&B, 0, 0);
    uint64_t dlink = put_data(&B, s, data, len);
    uint64_t prev = 0, first = 0;
    for (size_t i = 0; i < s->nch; i++) {
        const tchan *c = &s->ch[i];
        uint64_t cc = 0;
        if (c->conv == 1)
            cc = bld_cc(&B, MF4_CONV_LINEAR, 0, NULL, 2, c->params);
        else if (c->conv == 2)
            cc = bld_cc(&B, MF4_CONV_RATIONAL, 0, NULL, 6, c->params);
        else if (c->conv == 3) {
            uint64_t refs[3] = {bld_tx(&B, vt_texts[0]), bld_tx(&B, vt_texts[1]),
                                bld_tx(&B, vt_texts[2])};
            double keys[2] = {0, 1};
            cc = bld_cc(&B, MF4_CONV_VALUE_TEXT, 3, refs, 2, keys);
        }
        char name[32];
        snprintf(name, sizeof name, "c%zu", i);
        uint64_t cn = bld_cn(&B, name, c->cn_type, 0, c->dt, (int)c->bit_off, c->byte_off,
                             c->cn_type == 6 ? 0 : c->bits, c->flags, c->inval_pos, cc, 0);
        if (prev)
            bld_link(&B, prev, 0, cn);
        else
            first = cn;
        prev = cn;
    }
    uint64_t cg = bld_cg(&B, first, 0, 5, s->nrec, 0, s->data_bytes, s->inval_bytes);
    bld_link(&B, hd, 0, bld_dg(&B, cg, dlink, (int)s->idsize));
    *recs = data;
    return B;
}

typedef struct colcopy {
    uint64_t *raw; /* u64 / i64 / f64 bits */
    uint64_t *phys;
    uint8_t *valid;
    const char **text;
} colcopy;

/* Reads every selected column with batch size `batch`; generic selects the reference path. */
static int read_all(mf4_file *f, const size_t *sel, size_t nsel, size_t batch, int generic,
                    size_t nrec, colcopy *out)
{
    mf4_reader *r;
    mf4_error e;
    int rc = mf4_reader_open(&r, f, 0, sel, nsel, batch, &e);
    if (rc) {
        fprintf(stderr, "reader_open: %s\n", e.message);
        return rc;
    }
    mf4__reader_generic(r, generic);
    size_t n, at = 0;
    while ((rc = mf4_reader_next(r, &n, &e)) == MF4_OK && n > 0) {
        for (size_t k = 0; k < nsel; k++) {
            const mf4_column *c = mf4_reader_column(r, k);
            const void *raw = c->u64   ? (const void *)c->u64
                              : c->i64 ? (const void *)c->i64
                                       : (const void *)c->f64;
            if (at + n > nrec)
                return -1;
            memcpy(out[k].raw + at, raw, n * 8);
            memcpy(out[k].phys + at, c->phys, n * 8);
            memcpy(out[k].valid + at, c->valid, n);
            for (size_t i = 0; i < n; i++)
                out[k].text[at + i] = c->text ? c->text[i] : NULL;
        }
        at += n;
    }
    if (rc)
        fprintf(stderr, "reader_next: %s\n", e.message);
    mf4_reader_free(r);
    return rc ? rc : at == nrec ? 0 : -1;
}

static int same_double_bits(uint64_t a, uint64_t b)
{
    double x, y;
    memcpy(&x, &a, 8);
    memcpy(&y, &b, 8);
    return a == b || (isnan(x) && isnan(y));
}

static int failures_reported;

/* One random shape: build, read fast and generic, compare with each other and the test's own
 * values. Returns the number of mismatching values. */
static size_t run_shape(const shape *s, size_t batch)
{
    unsigned char *recs;
    bld B = make_file(s, &recs);
    mf4_file *f;
    mf4_error e;
    size_t bad = 0;
    if (mf4_open_memory(&f, B.b, B.n, &e) != MF4_OK) {
        fprintf(stderr, "open: %s\n", e.message);
        free(B.b);
        free(recs);
        return 1;
    }
    size_t nsel = s->nch + 1, sel[11];
    for (size_t i = 0; i < s->nch; i++)
        sel[i] = i;
    sel[s->nch] = rnd_below((unsigned)s->nch); /* a duplicate */
    colcopy fast[11], gen[11];
    for (size_t k = 0; k < nsel; k++) {
        colcopy *cs[2] = {&fast[k], &gen[k]};
        for (int j = 0; j < 2; j++) {
            cs[j]->raw = calloc(s->nrec, 8);
            cs[j]->phys = calloc(s->nrec, 8);
            cs[j]->valid = calloc(s->nrec, 1);
            cs[j]->text = calloc(s->nrec, sizeof(char *));
        }
    }
    if (read_all(f, sel, nsel, batch, 0, s->nrec, fast) ||
        read_all(f, sel, nsel, batch, 1, s->nrec, gen)) {
        bad++;
        goto out;
    }
    size_t stride = s->idsize + s->data_bytes + s->inval_bytes;
    for (size_t k = 0; k < nsel; k++) {
        const tchan *c = &s->ch[sel[k]];
        int fl = c->dt == MF4_DT_FLOAT_LE || c->dt == MF4_DT_FLOAT_BE;
        int sg = c->dt == MF4_DT_INT_LE || c->dt == MF4_DT_INT_BE;
        for (size_t r = 0; r < s->nrec; r++) {
            const unsigned char *rec = recs + r * stride + s->idsize;
            /* expected raw bits and valid flag */
            uint64_t raw;
            double x;
            if (c->cn_type == 6) {
                raw = r;
                x = (double)r;
            } else {
                uint64_t v = ref_bits(rec, c);
                if (fl) {
                    double d;
                    if (c->bits == 64) {
                        memcpy(&d, &v, 8);
                    } else if (c->bits == 32) {
                        uint32_t v32 = (uint32_t)v;
                        float fv;
                        memcpy(&fv, &v32, 4);
                        d = fv;
                    } else {
                        d = ref_half((uint16_t)v);
                    }
                    memcpy(&raw, &d, 8);
                    x = d;
                } else if (sg) {
                    if (c->bits < 64 && (v >> (c->bits - 1)) & 1)
                        v |= ~UINT64_C(0) << c->bits;
                    raw = v;
                    x = (double)(int64_t)v;
                } else {
                    raw = v;
                    x = (double)v;
                }
            }
            uint8_t valid =
                (c->flags & 1) ? 0
                : (c->flags & 2)
                    ? !((rec[s->data_bytes + c->inval_pos / 8] >> (c->inval_pos % 8)) & 1)
                    : 1;
            double ph = c->conv == 1 ? c->params[1] * x + c->params[0]
                        : c->conv == 2
                            ? (c->params[0] * x * x + c->params[1] * x + c->params[2]) /
                                  (c->params[3] * x * x + c->params[4] * x + c->params[5])
                        : c->conv == 3 ? NAN
                                       : x;
            const char *text = c->conv == 3 ? vt_texts[x == 0 ? 0 : x == 1 ? 1 : 2] : NULL;
            uint64_t phb;
            memcpy(&phb, &ph, 8);
            int ok = fast[k].raw[r] == raw && fast[k].valid[r] == valid &&
                     same_double_bits(fast[k].phys[r], phb) && gen[k].raw[r] == raw &&
                     gen[k].valid[r] == valid && same_double_bits(gen[k].phys[r], fast[k].phys[r]);
            if (c->conv == 3)
                ok = ok && fast[k].text[r] && gen[k].text[r] && !strcmp(fast[k].text[r], text) &&
                     !strcmp(gen[k].text[r], text);
            if (!ok) {
                if (failures_reported++ < 5)
                    fprintf(stderr,
                            "  mismatch: storage %d idsize %u rec %zu/%zu batch %zu ch %zu (dt %d "
                            "byte %u bit %u bits %u flags %u conv %d): raw %llx/%llx want %llx, "
                            "valid %d/%d want %d\n",
                            s->storage, s->idsize, r, s->nrec, batch, sel[k], c->dt, c->byte_off,
                            c->bit_off, c->bits, c->flags, c->conv,
                            (unsigned long long)fast[k].raw[r], (unsigned long long)gen[k].raw[r],
                            (unsigned long long)raw, fast[k].valid[r], gen[k].valid[r], valid);
                bad++;
            }
        }
    }
out:
    for (size_t k = 0; k < nsel; k++) {
        colcopy *cs[2] = {&fast[k], &gen[k]};
        for (int j = 0; j < 2; j++) {
            free(cs[j]->raw);
            free(cs[j]->phys);
            free(cs[j]->valid);
            free(cs[j]->text);
        }
    }
    mf4_close(f);
    free(B.b);
    free(recs);
    return bad;
}

static void rand_shape(shape *s, int storage)
{
    memset(s, 0, sizeof *s);
    static const unsigned ids[] = {0, 0, 1, 2, 4, 8};
    s->idsize = ids[rnd_below(6)];
    s->data_bytes = 1 + rnd_below(rnd_below(2) ? 12 : 40);
    s->inval_bytes = rnd_below(3);
    s->nch = 1 + rnd_below(10);
    for (size_t i = 0; i < s->nch; i++)
        rand_chan(&s->ch[i], s);
    static const size_t counts[] = {1, 2, 3, 15, 16, 17, 1023, 1024, 1025, 4097};
    s->nrec = rnd_below(3) ? counts[rnd_below(10)] : 1 + rnd_below(20000);
    s->storage = storage;
}

TEST(random_shapes_every_storage)
{
    size_t bad = 0, shapes = 0;
    for (int storage = 0; storage <= 4; storage++)
        for (int i = 0; i < 60; i++) {
            shape s;
            rand_shape(&s, storage);
            static const size_t batches[] = {1, 7, 1000, 1024, 1025, 65536};
            size_t batch = rnd_below(2) ? batches[rnd_below(6)] : 1 + rnd_below(5000);
            bad += run_shape(&s, batch);
            shapes++;
        }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(shapes, 300);
}

/* The shapes the kernels specialise, each in both byte orders and every storage, with many
 * records so every SIMD block and its scalar tail run. */
TEST(every_whole_word_kernel)
{
    static const struct {
        int dt;
        unsigned bits;
    } k[] = {{MF4_DT_UINT_LE, 8},   {MF4_DT_UINT_LE, 16}, {MF4_DT_UINT_LE, 32},
             {MF4_DT_UINT_LE, 64},  {MF4_DT_INT_LE, 8},   {MF4_DT_INT_LE, 16},
             {MF4_DT_INT_LE, 32},   {MF4_DT_INT_LE, 64},  {MF4_DT_FLOAT_LE, 16},
             {MF4_DT_FLOAT_LE, 32}, {MF4_DT_FLOAT_LE, 64}};
    size_t bad = 0;
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        for (int be = 0; be < 2; be++)
            for (int storage = 0; storage <= 4; storage++)
                for (int conv = 0; conv < 3; conv++) {
                    shape s;
                    memset(&s, 0, sizeof s);
                    s.idsize = storage == 4 ? 1 : 0;
                    s.data_bytes = 11;
                    s.inval_bytes = 1;
                    s.nch = 2;
                    for (int c = 0; c < 2; c++) {
                        tchan *t = &s.ch[c];
                        t->dt = k[i].dt + be;
                        t->bits = k[i].bits;
                        t->nbytes = t->bits / 8;
                        t->byte_off = c ? s.data_bytes - t->nbytes : 1;
                        t->flags = c ? 2 : 0;
                        t->inval_pos = 5;
                        t->conv = conv;
                        t->params[0] = -3.5;
                        t->params[1] = 0.25;
                    }
                    if (conv == 2) {
                        double p[6] = {0, 2, 1, 0, 0, 1};
                        memcpy(s.ch[0].params, p, sizeof p);
                        memcpy(s.ch[1].params, p, sizeof p);
                    }
                    s.nrec = 3000 + rnd_below(64);
                    s.storage = storage;
                    bad += run_shape(&s, 1 + rnd_below(4000));
                }
    CHECK_EQ_INT(bad, 0);
}

/* MF4_SEED_DIR=DIR: also writes small files of each layout there (fuzz seed corpus). */
static void write_seeds(const char *dir)
{
    for (int storage = 0; storage <= 4; storage++) {
        shape s;
        rand_shape(&s, storage);
        s.nrec = 40 + rnd_below(80);
        unsigned char *recs;
        bld B = make_file(&s, &recs);
        char path[512];
        snprintf(path, sizeof path, "%s/fastpath-layout-%d.mf4", dir, storage);
        FILE *fp = fopen(path, "wb");
        if (fp) {
            fwrite(B.b, 1, B.n, fp);
            fclose(fp);
        }
        free(B.b);
        free(recs);
    }
}

int main(void)
{
    if (getenv("MF4_SEED_DIR"))
        write_seeds(getenv("MF4_SEED_DIR"));
    RUN(random_shapes_every_storage);
    RUN(every_whole_word_kernel);
    return TEST_DONE();
}
