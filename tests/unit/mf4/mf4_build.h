/*
 * mf4_build.h - a tiny hand-made MDF4 block builder for tests: lets a test lay out exactly
 * the blocks it wants (features the writer does not produce: VLSD, strings, text and nested
 * conversions, unsorted and unfinalized data) so the reader is checked against bytes written
 * by hand, not by the library's own writer.
 */
#ifndef MF4_BUILD_H
#define MF4_BUILD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct bld {
    unsigned char *b;
    size_t n, cap;
} bld;

static void bld_put(bld *B, const void *p, size_t n)
{
    if (B->n + n + 8 > B->cap) {
        B->cap = (B->n + n + 8) * 2;
        B->b = realloc(B->b, B->cap);
    }
    memcpy(B->b + B->n, p, n);
    B->n += n;
}

static void bld_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void bld_align(bld *B)
{
    static const unsigned char z[8];
    if (B->n & 7)
        bld_put(B, z, 8 - (B->n & 7));
}

/* Appends a block; returns its offset. */
static uint64_t bld_block(bld *B, const char *id, size_t nlinks, const uint64_t *links,
                          const void *data, size_t dlen)
{
    bld_align(B);
    uint64_t off = B->n;
    unsigned char h[24] = {'#', '#', (unsigned char)id[0], (unsigned char)id[1]};
    bld_le(h + 8, 24 + nlinks * 8 + dlen, 8);
    bld_le(h + 16, nlinks, 8);
    bld_put(B, h, 24);
    for (size_t i = 0; i < nlinks; i++) {
        unsigned char l[8];
        bld_le(l, links ? links[i] : 0, 8);
        bld_put(B, l, 8);
    }
    if (dlen)
        bld_put(B, data, dlen);
    return off;
}

static uint64_t bld_tx(bld *B, const char *s)
{
    return bld_block(B, "TX", 0, NULL, s, strlen(s) + 1);
}

static void bld_link(bld *B, uint64_t block, size_t i, uint64_t v)
{
    bld_le(B->b + block + 24 + i * 8, v, 8);
}

/* ID + HD; returns the HD offset (link 0 = first DG). */
static uint64_t bld_start(bld *B, int unfinalized, uint16_t unfin_flags)
{
    unsigned char id[64];
    memset(id, 0, sizeof id);
    memcpy(id, unfinalized ? "UnFinMF " : "MDF     ", 8);
    memcpy(id + 8, "4.10    ", 8);
    memcpy(id + 16, "test    ", 8);
    bld_le(id + 28, 410, 2);
    bld_le(id + 60, unfin_flags, 2);
    bld_put(B, id, 64);
    unsigned char hd[32] = {0};
    return bld_block(B, "HD", 6, NULL, hd, sizeof hd);
}

static uint64_t bld_dg(bld *B, uint64_t cg, uint64_t data, int rec_id_size)
{
    uint64_t l[4] = {0, cg, data, 0};
    unsigned char d[8] = {(unsigned char)rec_id_size};
    return bld_block(B, "DG", 4, l, d, 8);
}

static uint64_t bld_cg(bld *B, uint64_t cn, uint64_t acq, uint64_t rec_id, uint64_t cycles,
                       uint16_t flags, uint32_t data_bytes, uint32_t inval_bytes)
{
    uint64_t l[6] = {0, cn, acq, 0, 0, 0};
    unsigned char d[32] = {0};
    bld_le(d, rec_id, 8);
    bld_le(d + 8, cycles, 8);
    bld_le(d + 16, flags, 2);
    bld_le(d + 24, data_bytes, 4);
    bld_le(d + 28, inval_bytes, 4);
    return bld_block(B, "CG", 6, l, d, sizeof d);
}

/* CN with next = 0 (link later with bld_link(B, cn, 0, next)). */
static uint64_t bld_cn(bld *B, const char *name, int cn_type, int sync, int data_type,
                       int bit_offset, uint32_t byte_offset, uint32_t bit_count, uint32_t flags,
                       uint32_t inval_pos, uint64_t cc, uint64_t data)
{
    uint64_t tx = bld_tx(B, name);
    uint64_t l[8] = {0, 0, tx, 0, cc, data, 0, 0};
    unsigned char d[72] = {0};
    d[0] = (unsigned char)cn_type;
    d[1] = (unsigned char)sync;
    d[2] = (unsigned char)data_type;
    d[3] = (unsigned char)bit_offset;
    bld_le(d + 4, byte_offset, 4);
    bld_le(d + 8, bit_count, 4);
    bld_le(d + 12, flags, 4);
    bld_le(d + 16, inval_pos, 4);
    return bld_block(B, "CN", 8, l, d, sizeof d);
}

/* CC block: refs are links (TX/CC or 0). */
static uint64_t bld_cc(bld *B, int type, size_t nref, const uint64_t *refs, size_t nval,
                       const double *vals)
{
    uint64_t *l = calloc(4 + nref, 8);
    for (size_t i = 0; i < nref; i++)
        l[4 + i] = refs[i];
    size_t dlen = 24 + nval * 8;
    unsigned char *d = calloc(1, dlen);
    d[0] = (unsigned char)type;
    bld_le(d + 4, nref, 2);
    bld_le(d + 6, nval, 2);
    for (size_t i = 0; i < nval; i++) {
        uint64_t bits;
        memcpy(&bits, &vals[i], 8);
        bld_le(d + 24 + i * 8, bits, 8);
    }
    uint64_t off = bld_block(B, "CC", 4 + nref, l, d, dlen);
    free(l);
    free(d);
    return off;
}

#endif
