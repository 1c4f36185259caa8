/*
 * test_mf4_corrupt.c - truncated and corrupted variants of every sample file: each is
 * opened from an exactly-sized heap copy (so AddressSanitizer/valgrind see any read past
 * the end) and every channel of every group is extracted. A truncated file must give an
 * error (at open or while reading) unless the cut only removed bytes nothing refers to, in
 * which case it must read exactly like the intact file. Flipped bytes may read or fail, but
 * never crash, hang or leak.
 *
 * Usage: test-mf4-corrupt DATA_DIR
 */
#include "../../wsm_test.h"
#include "mf4.h"

#include <stdint.h>
#include <stdlib.h>

static const char *datadir;
static const char *const files[] = {
    "Vector_CANape.MF4",
    "Vector_IntegerTypes.MF4",
    "Vector_DataList_TransposeDeflate.mf4",
    "ETAS_SimpleSorted.mf4",
    "css_canedge_fw010402_finalized_sorted.MF4",
    "css_canedge_fw010402_unfinalized_can_lin.MF4",
};

static unsigned char *load(const char *name, size_t *n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", datadir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* Opens data[0..n) and reads everything. Returns the status; *records = records read; a
 * checksum of the values goes to *sum so intact and variant reads can be compared. */
static int read_all(const unsigned char *data, size_t n, uint64_t *records, double *sum)
{
    unsigned char *copy = malloc(n ? n : 1);
    memcpy(copy, data, n);
    mf4_file *f;
    mf4_error e;
    *records = 0;
    *sum = 0;
    int rc = mf4_open_memory(&f, copy, n, &e);
    if (rc) {
        CHECK(e.code == rc);
        CHECK(e.message[0] != 0);
        free(copy);
        return rc;
    }
    for (size_t gi = 0; gi < mf4_group_count(f) && !rc; gi++) {
        const mf4_group *g = mf4_group_at(f, gi);
        if (g->n_channels == 0)
            continue;
        size_t *sel = malloc(g->n_channels * sizeof *sel);
        for (size_t k = 0; k < g->n_channels; k++)
            sel[k] = k;
        mf4_reader *r;
        rc = mf4_reader_open(&r, f, gi, sel, g->n_channels, 1000, &e);
        size_t got;
        while (!rc && (rc = mf4_reader_next(r, &got, &e)) == MF4_OK && got > 0) {
            *records += got;
            for (size_t k = 0; k < g->n_channels; k++) {
                const mf4_column *c = mf4_reader_column(r, k);
                for (size_t i = 0; i < got; i++) {
                    if (c->kind == MF4_VAL_BYTES)
                        *sum += (double)(c->offsets[i + 1] - c->offsets[i]);
                    else if (c->phys[i] == c->phys[i])
                        *sum += c->phys[i] * 1e-12;
                }
            }
        }
        if (rc)
            CHECK(e.message[0] != 0);
        mf4_reader_free(r);
        free(sel);
    }
    mf4_close(f);
    free(copy);
    return rc;
}

TEST(truncations_and_flips)
{
    for (size_t fi = 0; fi < sizeof files / sizeof files[0]; fi++) {
        size_t n;
        unsigned char *data = load(files[fi], &n);
        CHECK(data != NULL);
        if (!data)
            continue;
        uint64_t full_records;
        double full_sum;
        CHECK_EQ_INT(read_all(data, n, &full_records, &full_sum), MF4_OK);
        int errors = 0, cuts = 0, silent_diff = 0;
        /* an unfinalized file's data runs to the end of the file: a cut there is a shorter
         * recording (fewer records, no error), never more records */
        int unfin = memcmp(data, "UnFinMF ", 8) == 0;
        /* cuts: dense in the metadata at the start, then spread over the whole file */
        for (size_t cut = 0; cut < n; cut += cut < 16384 ? 37 : n / 200 + 1) {
            uint64_t recs;
            double sum;
            int rc = read_all(data, cut, &recs, &sum);
            cuts++;
            if (rc)
                errors++;
            else if (unfin ? recs > full_records : (recs != full_records || sum != full_sum))
                silent_diff++;
        }
        CHECK_EQ_INT(silent_diff, 0);
        CHECK(unfin || errors == cuts);
        /* flipped bytes (deterministic LCG positions), one and several at a time */
        uint32_t seed = 12345u + (uint32_t)fi;
        unsigned char *v = malloc(n);
        for (int t = 0; t < 400; t++) {
            memcpy(v, data, n);
            int flips = 1 + t % 4;
            for (int k = 0; k < flips; k++) {
                seed = seed * 1103515245u + 12345u;
                size_t pos = (t % 2 == 0) ? (seed >> 8) % (n < 16384 ? n : 16384) : (seed >> 8) % n;
                seed = seed * 1103515245u + 12345u;
                v[pos] ^= (unsigned char)(1u << ((seed >> 16) & 7));
            }
            uint64_t recs;
            double sum;
            (void)read_all(v, n, &recs, &sum);
        }
        free(v);
        free(data);
        printf("  %s: %d cuts, %d errors\n", files[fi], cuts, errors);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
        return 2;
    }
    datadir = argv[1];
    RUN(truncations_and_flips);
    return TEST_DONE();
}
