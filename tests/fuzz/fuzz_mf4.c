/*
 * fuzz_mf4.c - libFuzzer target for libmf4: any byte string is opened as an MDF4 file from
 * memory; if it opens, every channel of every group is extracted (small batches, so batch
 * boundaries, DZ blocks and VLSD look-ups are crossed often) and every conversion is applied
 * to a few values. A malformed input must end in an error status, never a crash, a hang or an
 * allocation the input does not justify; every column value must lie inside what the reader
 * said it returned.
 */
#include "mf4.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_conversion(const mf4_conversion *c)
{
    static const double xs[] = {0, 1, -1, 0.5, 255, 1e9, -1e300};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        double p;
        const char *t;
        if (mf4_conv_apply(c, xs[i], i % 2 == 0, &p, &t) == MF4_OK && t)
            (void)strlen(t);
    }
    double p;
    const char *t;
    (void)mf4_conv_apply_text(c, "1", &p, &t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mf4_file *f;
    mf4_error e;
    if (mf4_open_memory(&f, data, size, &e) != MF4_OK) {
        if (e.code == MF4_OK || !e.message[0])
            abort(); /* an error must say what it is */
        return 0;
    }
    const mf4_file_info *in = mf4_info(f);
    (void)strlen(in->comment);
    for (size_t gi = 0; gi < mf4_group_count(f); gi++) {
        const mf4_group *g = mf4_group_at(f, gi);
        (void)strlen(g->acq_name);
        if (g->n_channels == 0)
            continue;
        size_t *sel = malloc(g->n_channels * sizeof *sel);
        if (!sel)
            break;
        for (size_t k = 0; k < g->n_channels; k++) {
            sel[k] = k;
            (void)strlen(g->channels[k].name);
            (void)strlen(g->channels[k].unit);
            if (g->channels[k].conv)
                check_conversion(g->channels[k].conv);
        }
        mf4_reader *r;
        if (mf4_reader_open(&r, f, gi, sel, g->n_channels, 1 + gi % 7, &e) == MF4_OK) {
            size_t n;
            uint64_t total = 0;
            while (mf4_reader_next(r, &n, &e) == MF4_OK && n > 0) {
                total += n;
                if (total > g->cycles)
                    abort(); /* never more records than the group has */
                for (size_t k = 0; k < g->n_channels; k++) {
                    const mf4_column *c = mf4_reader_column(r, k);
                    if (c->kind == MF4_VAL_BYTES && c->offsets[n] < c->offsets[0])
                        abort();
                    for (size_t i = 0; i < n; i++) {
                        if (c->valid[i] > 1)
                            abort();
                        if (c->text && c->text[i])
                            (void)strlen(c->text[i]);
                    }
                }
            }
            mf4_reader_free(r);
        }
        free(sel);
    }
    mf4_close(f);
    return 0;
}
