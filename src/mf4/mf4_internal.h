/*
 * mf4_internal.h - helpers shared by the libmf4 sources (not installed, not public).
 */
#ifndef MF4_INTERNAL_H
#define MF4_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mf4.h"

/* Fills e (if not NULL) and returns code. */
int mf4__err(mf4_error *e, int code, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static inline void mf4__put_le(unsigned char *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t mf4__get_le(const unsigned char *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = n; i-- > 0;)
        v = (v << 8) | p[i];
    return v;
}

static inline uint64_t mf4__get_be(const unsigned char *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

#endif

/* ------------------------------------------------------------------ parsed file (mf4_file.c) */

/* One piece of a data stream: raw bytes in the file, or a DZ block to inflate. */
typedef struct mf4__frag {
    uint64_t file_off; /* first payload byte in the file */
    uint64_t len;      /* logical (inflated) length */
    uint64_t clen;     /* compressed length; 0 for raw fragments */
    uint64_t start;    /* logical offset of the first byte in the stream */
    uint32_t zip_param;
    uint8_t zip_type; /* 0 deflate, 1 transposed deflate (only if clen > 0) */
    uint64_t blk_off; /* block offset for error messages */
} mf4__frag;

typedef struct mf4__stream_def {
    mf4__frag *frags;
    size_t n;
    uint64_t total;
} mf4__stream_def;

/* Compiled algebraic formula (mf4_conv.c). */
typedef struct mf4__prog mf4__prog;

typedef struct mf4__conv {
    mf4_conversion pub; /* must stay first */
    mf4__prog *prog;    /* ALGEBRAIC */
    int state;          /* 0 new, 1 in progress, 2 done (cycle detection) */
    int depth;
    int may_text; /* can yield text for numeric input */
} mf4__conv;

/* Extra per-channel data the reader needs. */
typedef struct mf4__chan {
    mf4__stream_def sd; /* VLSD signal data in SD/DL/DZ blocks */
    long vlsd_group;    /* VLSD channel group (index in f->groups), or -1 */
    unsigned nbytes;    /* bytes spanned in the record by the value */
    int is_struct;      /* has composition children */
} mf4__chan;

typedef struct mf4__dg {
    uint64_t offset;
    uint8_t rec_id_size;
    mf4__stream_def data;
    size_t first_group, n_groups;
    int unsorted; /* more than one channel group (record ids) */
    int scanned;  /* cycle counts come from a scan of the data */
} mf4__dg;

struct mf4_file {
    const unsigned char *map;
    uint64_t size;
    int mapped;
    uint64_t frag_count; /* data blocks located so far (mf4_file.c) */
    mf4_file_info info;
    mf4_group *groups;
    mf4__chan **gchan; /* per group: n_channels entries */
    size_t *group_dg;  /* per group: its data group */
    size_t n_groups;
    mf4__dg *dgs;
    size_t n_dgs;
    /* allocation arena for strings and descriptors */
    void *arena;
    /* conversion cache */
    mf4__conv **convs;
    size_t n_convs, cap_convs;
    /* visited chain blocks (cycle detection) */
    uint64_t *seen;
    size_t seen_cap, seen_n;
};

/* mf4_conv.c */
int mf4__conv_compile(mf4__conv *c, mf4_error *err);
void mf4__conv_free(mf4__conv *c);
int mf4__conv_num(const mf4_conversion *c, double x, int raw_is_int, double *phys,
                  const char **text, int depth);

/* mf4_data.c: stream cursor over a stream_def. */
typedef struct mf4__cursor {
    const mf4_file *f;
    const mf4__stream_def *def;
    size_t frag;         /* current fragment */
    uint64_t pos;        /* logical position */
    unsigned char *zbuf; /* inflated fragment */
    size_t zcap;
    long zfrag;         /* which fragment zbuf holds, -1 none */
    int zplanes;        /* zbuf holds zfrag's transposed byte planes, not row-major data */
    unsigned char *tmp; /* transposition scratch */
    size_t tcap;
    uint64_t work; /* bytes inflated or scanned so far (see mf4__cursor_work) */
} mf4__cursor;

/* Counts n bytes of work (inflating, scanning) on a cursor. A hostile file can make a reader
 * jump back and forth (VLSD offsets out of order) and redo the same work again and again;
 * beyond 16 times the stream plus 256 MiB this returns MF4_E_CORRUPT instead of hanging. */
int mf4__cursor_work(mf4__cursor *c, uint64_t n, mf4_error *err);

void mf4__cursor_init(mf4__cursor *c, const mf4_file *f, const mf4__stream_def *def);
void mf4__cursor_free(mf4__cursor *c);
int mf4__cursor_seek(mf4__cursor *c, uint64_t pos, mf4_error *err);
/* Pointer to up to want contiguous bytes at the position (*got <= want, 0 at end). Does not
 * advance. */
int mf4__cursor_peek(mf4__cursor *c, size_t want, const unsigned char **p, size_t *got,
                     mf4_error *err);
int mf4__cursor_read(mf4__cursor *c, void *dst, size_t n, mf4_error *err);
/* The fragment at the position as byte planes, for decoders that read transposed DZ data
 * without un-transposing it: byte j of row r (rows of (*frag)->zip_param bytes, counted from
 * the fragment's start) is at (*planes)[j * rows + r], rows = len / zip_param; the bytes after
 * the last whole row are not transposed. Sets *planes and *frag to NULL when the fragment is
 * not transposed or already holds row-major data (use peek then). Does not advance. Returns
 * MF4_OK or an inflate error. */
int mf4__cursor_planes(mf4__cursor *c, const unsigned char **planes, const mf4__frag **frag,
                       mf4_error *err);
int mf4__cursor_skip(mf4__cursor *c, uint64_t n, mf4_error *err);

/* For tests: on != 0 makes reader r decode value by value from row-major records (the
 * reference the specialised kernels and the byte-plane path are checked against). */
void mf4__reader_generic(mf4_reader *r, int on);
