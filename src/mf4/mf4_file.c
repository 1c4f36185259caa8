/*
 * mf4_file.c - opening an MDF4 file: mapping it, checking the ID block, and parsing the
 * block tree HD -> DG -> CG -> CN (-> composition CN) with their TX/MD texts and CC
 * conversions into the read-only descriptors of mf4.h; locating each data group's data
 * blocks (DT/DV, DL chains, DZ, HL) as a fragment list; recounting records of unfinalized
 * files.
 *
 * Invariants:
 *  - read_block() is the only way a block is looked at: it checks that the header, the link
 *    table and the declared length lie inside the file before any field is read.
 *  - A chain block (DG, CG, CN, DL, and the HL/DZ/DT they point to) may be visited once per
 *    file: seen_add() rejects a second visit, which turns every link cycle into an error.
 *  - Conversions are cached by offset (they may be shared); nesting deeper than 16 or a
 *    conversion that references itself is an error.
 *  - Every allocation is bounded by the number of blocks the file really contains (each at
 *    least 24 bytes) or by lengths already checked against the file size.
 */
#include "mf4.h"
#include "mf4_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ arena */
typedef struct arena_blk {
    struct arena_blk *next;
    size_t used, cap;
    unsigned char data[];
} arena_blk;

static void *arena_alloc(mf4_file *f, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    arena_blk *b = f->arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        arena_blk *nb = malloc(sizeof *nb + cap);
        if (!nb)
            return NULL;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        f->arena = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

static void arena_free(mf4_file *f)
{
    arena_blk *b = f->arena;
    while (b) {
        arena_blk *n = b->next;
        free(b);
        b = n;
    }
    f->arena = NULL;
}

/* ------------------------------------------------------------------ names */
const char *mf4_strerror(int code)
{
    switch (code) {
    case MF4_OK:
        return "success";
    case MF4_E_IO:
        return "I/O error";
    case MF4_E_NOT_MDF:
        return "not an MDF file";
    case MF4_E_VERSION:
        return "unsupported MDF version";
    case MF4_E_TRUNCATED:
        return "truncated file";
    case MF4_E_CORRUPT:
        return "corrupt file";
    case MF4_E_UNSUPPORTED:
        return "unsupported feature";
    case MF4_E_ZLIB:
        return "compressed data error";
    case MF4_E_NOMEM:
        return "out of memory";
    case MF4_E_NOT_FOUND:
        return "not found";
    case MF4_E_ARG:
        return "invalid argument";
    case MF4_E_CONV:
        return "bad conversion";
    }
    return "unknown error";
}

const char *mf4_conv_type_name(int type)
{
    static const char *const names[] = {
        "identity",     "linear",      "rational",     "algebraic",
        "table interp", "table",       "range->value", "value->text",
        "range->text",  "text->value", "text->text",   "bitfield->text",
    };
    if (type >= 0 && type < (int)(sizeof names / sizeof names[0]))
        return names[type];
    return "unknown";
}

const char *mf4_data_type_name(int dt)
{
    static const char *const names[] = {
        "uint LE",    "uint BE",        "int LE",       "int BE",          "float LE",
        "float BE",   "string Latin-1", "string UTF-8", "string UTF-16LE", "string UTF-16BE",
        "byte array", "MIME sample",    "MIME stream",  "CANopen date",    "CANopen time",
        "complex LE", "complex BE",
    };
    if (dt >= 0 && dt < (int)(sizeof names / sizeof names[0]))
        return names[dt];
    return "unknown";
}

/* ------------------------------------------------------------------ blocks */
typedef struct blk {
    uint64_t off;
    char id[3];
    uint64_t len;
    uint64_t nlinks;
    const unsigned char *links;
    const unsigned char *data;
    uint64_t dlen;
} blk;

/* Reads the block at off; ids is a list of accepted 2-char ids ("DGCG") or NULL for any. */
static int read_block(const mf4_file *f, uint64_t off, const char *ids, blk *b, mf4_error *err)
{
    if (off < 64 || off > f->size || f->size - off < 24)
        return mf4__err(err, MF4_E_TRUNCATED, off, "block link %llu outside the file (%llu bytes)",
                        (unsigned long long)off, (unsigned long long)f->size);
    const unsigned char *p = f->map + off;
    if (p[0] != '#' || p[1] != '#')
        return mf4__err(err, MF4_E_CORRUPT, off, "no block at offset %llu",
                        (unsigned long long)off);
    b->off = off;
    b->id[0] = (char)p[2];
    b->id[1] = (char)p[3];
    b->id[2] = 0;
    b->len = mf4__get_le(p + 8, 8);
    b->nlinks = mf4__get_le(p + 16, 8);
    if (ids) {
        int ok = 0;
        for (const char *q = ids; q[0] && q[1]; q += 2)
            if (q[0] == b->id[0] && q[1] == b->id[1])
                ok = 1;
        if (!ok)
            return mf4__err(err, MF4_E_CORRUPT, off, "expected a %.2s block at %llu, found ##%s",
                            ids, (unsigned long long)off, b->id);
    }
    if (b->len < 24 || b->nlinks > (b->len - 24) / 8)
        return mf4__err(err, MF4_E_CORRUPT, off, "%s block at %llu: bad length %llu / %llu links",
                        b->id, (unsigned long long)off, (unsigned long long)b->len,
                        (unsigned long long)b->nlinks);
    if (b->len > f->size - off)
        return mf4__err(err, MF4_E_TRUNCATED, off,
                        "%s block at %llu (length %llu) reaches past the end of the file", b->id,
                        (unsigned long long)off, (unsigned long long)b->len);
    b->links = p + 24;
    b->data = p + 24 + b->nlinks * 8;
    b->dlen = b->len - 24 - b->nlinks * 8;
    return MF4_OK;
}

static uint64_t blink(const blk *b, uint64_t i)
{
    return i < b->nlinks ? mf4__get_le(b->links + i * 8, 8) : 0;
}

/* Requires at least n data bytes in b. */
static int need_data(const blk *b, uint64_t n, mf4_error *err)
{
    if (b->dlen < n)
        return mf4__err(err, MF4_E_CORRUPT, b->off, "%s block at %llu too short (%llu < %llu)",
                        b->id, (unsigned long long)b->off, (unsigned long long)b->dlen,
                        (unsigned long long)n);
    return MF4_OK;
}

/* Cycle detection: each chain block may be entered once. Open addressing on offsets. */
static int seen_add(mf4_file *f, uint64_t off, mf4_error *err)
{
    if (f->seen_n * 2 >= f->seen_cap) {
        size_t nc = f->seen_cap ? f->seen_cap * 2 : 256;
        uint64_t *ns = calloc(nc, sizeof *ns);
        if (!ns)
            return mf4__err(err, MF4_E_NOMEM, off, "out of memory");
        for (size_t i = 0; i < f->seen_cap; i++)
            if (f->seen[i]) {
                size_t h = (size_t)((f->seen[i] * 0x9E3779B97F4A7C15ull) >> 17) & (nc - 1);
                while (ns[h])
                    h = (h + 1) & (nc - 1);
                ns[h] = f->seen[i];
            }
        free(f->seen);
        f->seen = ns;
        f->seen_cap = nc;
    }
    size_t h = (size_t)((off * 0x9E3779B97F4A7C15ull) >> 17) & (f->seen_cap - 1);
    while (f->seen[h]) {
        if (f->seen[h] == off)
            return mf4__err(err, MF4_E_CORRUPT, off, "link cycle: block at %llu reached twice",
                            (unsigned long long)off);
        h = (h + 1) & (f->seen_cap - 1);
    }
    f->seen[h] = off;
    f->seen_n++;
    return MF4_OK;
}

/* ------------------------------------------------------------------ texts */
static char *arena_strndup(mf4_file *f, const char *s, size_t n)
{
    char *d = arena_alloc(f, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* Replaces the five XML entities in place. */
static void xml_unescape(char *s)
{
    static const struct {
        const char *e;
        char c;
    } ents[] = {{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
    char *w = s;
    for (char *r = s; *r;) {
        int done = 0;
        if (*r == '&')
            for (size_t i = 0; i < 5; i++) {
                size_t l = strlen(ents[i].e);
                if (strncmp(r, ents[i].e, l) == 0) {
                    *w++ = ents[i].c;
                    r += l;
                    done = 1;
                    break;
                }
            }
        if (!done)
            *w++ = *r++;
    }
    *w = 0;
}

/* Text of a TX or MD block (0 -> ""). For MD with want_tx, the content of its <TX> element
 * (names and units); else the whole XML. */
static int read_text(mf4_file *f, uint64_t link, int want_tx, const char **out, mf4_error *err)
{
    *out = "";
    if (link == 0)
        return MF4_OK;
    blk b;
    int rc = read_block(f, link, "TXMD", &b, err);
    if (rc)
        return rc;
    const char *s = (const char *)b.data;
    size_t n = strnlen(s, (size_t)b.dlen);
    char *t = arena_strndup(f, s, n);
    if (!t)
        return mf4__err(err, MF4_E_NOMEM, link, "out of memory");
    if (b.id[0] == 'M' && want_tx) {
        char *a = strstr(t, "<TX>");
        if (!a)
            a = strstr(t, "<TX ");
        if (a)
            a = strchr(a, '>'); /* NULL for an unterminated "<TX ..." */
        if (a) {
            a++;
            char *e = strstr(a, "</TX>");
            if (e)
                *e = 0;
            t = a;
        } else {
            t[0] = 0; /* an MD block without a <TX> element names nothing */
        }
    }
    if (b.id[0] == 'M' && want_tx)
        xml_unescape(t);
    *out = t;
    return MF4_OK;
}

/* Name text of an SI block (acquisition source), "" if none. */
static int read_source(mf4_file *f, uint64_t link, const char **out, mf4_error *err)
{
    *out = "";
    if (link == 0)
        return MF4_OK;
    blk b;
    int rc = read_block(f, link, "SI", &b, err);
    if (rc)
        return rc;
    return read_text(f, blink(&b, 0), 1, out, err);
}

/* ------------------------------------------------------------------ conversions */
static int read_conv(mf4_file *f, uint64_t link, int depth, const mf4_conversion **out,
                     mf4_error *err);

static int read_conv(mf4_file *f, uint64_t link, int depth, const mf4_conversion **out,
                     mf4_error *err)
{
    *out = NULL;
    if (link == 0)
        return MF4_OK;
    if (depth > 16)
        return mf4__err(err, MF4_E_CORRUPT, link, "conversions nested deeper than 16");
    for (size_t i = 0; i < f->n_convs; i++)
        if (f->convs[i]->pub.offset == link) {
            if (f->convs[i]->state == 1)
                return mf4__err(err, MF4_E_CORRUPT, link, "conversion at %llu refers to itself",
                                (unsigned long long)link);
            *out = &f->convs[i]->pub;
            return MF4_OK;
        }
    blk b;
    int rc = read_block(f, link, "CC", &b, err);
    if (rc)
        return rc;
    if ((rc = need_data(&b, 24, err)))
        return rc;
    if (f->n_convs == f->cap_convs) {
        size_t nc = f->cap_convs ? f->cap_convs * 2 : 32;
        mf4__conv **p = realloc(f->convs, nc * sizeof *p);
        if (!p)
            return mf4__err(err, MF4_E_NOMEM, link, "out of memory");
        f->convs = p;
        f->cap_convs = nc;
    }
    mf4__conv *c = calloc(1, sizeof *c);
    if (!c)
        return mf4__err(err, MF4_E_NOMEM, link, "out of memory");
    f->convs[f->n_convs++] = c;
    c->state = 1;
    c->depth = depth;
    mf4_conversion *p = &c->pub;
    p->offset = link;
    p->type = (mf4_conv_type)b.data[0];
    uint64_t nref = mf4__get_le(b.data + 4, 2);
    uint64_t nval = mf4__get_le(b.data + 6, 2);
    if (b.nlinks < 4 + nref)
        return mf4__err(err, MF4_E_CORRUPT, link, "CC at %llu: %llu refs but %llu links",
                        (unsigned long long)link, (unsigned long long)nref,
                        (unsigned long long)b.nlinks);
    if ((rc = need_data(&b, 24 + nval * 8, err)))
        return rc;
    if ((rc = read_text(f, blink(&b, 0), 1, &p->name, err)) ||
        (rc = read_text(f, blink(&b, 1), 1, &p->unit, err)))
        return rc;
    double *vals = arena_alloc(f, (nval ? nval : 1) * sizeof(double));
    const char **texts = arena_alloc(f, (nref ? nref : 1) * sizeof(char *));
    const mf4_conversion **refs = arena_alloc(f, (nref ? nref : 1) * sizeof(void *));
    if (!vals || !texts || !refs)
        return mf4__err(err, MF4_E_NOMEM, link, "out of memory");
    for (uint64_t i = 0; i < nval; i++) {
        uint64_t bits = mf4__get_le(b.data + 24 + i * 8, 8);
        memcpy(&vals[i], &bits, 8);
    }
    for (uint64_t i = 0; i < nref; i++) {
        uint64_t l = blink(&b, 4 + i);
        if (l == 0)
            continue;
        blk r;
        if ((rc = read_block(f, l, "TXMDCC", &r, err)))
            return rc;
        if (r.id[0] == 'C') {
            if ((rc = read_conv(f, l, depth + 1, &refs[i], err)))
                return rc;
        } else if ((rc = read_text(f, l, 1, &texts[i], err))) {
            return rc;
        }
    }
    p->n_params = nval;
    p->params = vals;
    p->n_refs = nref;
    p->texts = texts;
    p->refs = refs;
    /* check the counts each type needs */
    int ok = 1;
    switch (p->type) {
    case MF4_CONV_IDENTITY:
        break;
    case MF4_CONV_LINEAR:
        ok = nval >= 2;
        break;
    case MF4_CONV_RATIONAL:
        ok = nval >= 6;
        break;
    case MF4_CONV_ALGEBRAIC:
        ok = nref >= 1 && texts[0] != NULL;
        if (ok)
            p->formula = texts[0];
        break;
    case MF4_CONV_TAB_INTERP:
    case MF4_CONV_TAB:
        ok = nval >= 2 && nval % 2 == 0;
        break;
    case MF4_CONV_RANGE_VALUE:
        ok = nval >= 1 && nval % 3 == 1;
        break;
    case MF4_CONV_VALUE_TEXT:
        ok = nref >= nval + 1;
        c->may_text = 1;
        break;
    case MF4_CONV_RANGE_TEXT:
        ok = nval % 2 == 0 && nref >= nval / 2 + 1;
        c->may_text = 1;
        break;
    case MF4_CONV_TEXT_VALUE:
        ok = nval >= nref + 1;
        break;
    case MF4_CONV_TEXT_TEXT:
        ok = nref >= 1 && nref % 2 == 1;
        break;
    case MF4_CONV_BITFIELD_TEXT:
        c->may_text = 1;
        break;
    default:
        return mf4__err(err, MF4_E_UNSUPPORTED, link, "conversion type %d at %llu", (int)p->type,
                        (unsigned long long)link);
    }
    if (!ok)
        return mf4__err(err, MF4_E_CORRUPT, link,
                        "CC at %llu: %s conversion with %llu values / %llu refs",
                        (unsigned long long)link, mf4_conv_type_name(p->type),
                        (unsigned long long)nval, (unsigned long long)nref);
    if (p->type == MF4_CONV_ALGEBRAIC && (rc = mf4__conv_compile(c, err))) {
        err->offset = link;
        return rc;
    }
    c->state = 2;
    *out = p;
    return MF4_OK;
}

/* ------------------------------------------------------------------ data streams */
static int add_frag(mf4_file *f, mf4__stream_def *s, size_t *cap, const mf4__frag *fr,
                    mf4_error *err)
{
    if (s->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        mf4__frag *p = realloc(s->frags, nc * sizeof *p);
        if (!p)
            return mf4__err(err, MF4_E_NOMEM, fr->blk_off, "out of memory");
        s->frags = p;
        *cap = nc;
    }
    s->frags[s->n] = *fr;
    s->frags[s->n].start = s->total;
    s->total += fr->len;
    s->n++;
    /* Reading block headers spread over a big file maps a large folio per touch: release
     * them as parsing goes (a read-only private mapping just faults again when needed), so
     * opening a many-block file does not make the process as large as the file. */
    if (f->mapped && ++f->frag_count % 8 == 0)
        madvise((void *)f->map, (size_t)f->size, MADV_DONTNEED);
    return MF4_OK;
}

/* One data block (DT/DV/SD/RD or DZ) -> fragment. last: the last block of an unfinalized
 * data group, whose length may not have been written. */
static int data_block(mf4_file *f, uint64_t link, const char *ids, mf4__stream_def *s, size_t *cap,
                      int last, mf4_error *err)
{
    blk b;
    int rc;
    if ((rc = seen_add(f, link, err)))
        return rc;
    if (f->info.unfinalized && last && link <= f->size && f->size - link >= 24 &&
        f->map[link] == '#' && f->map[link + 1] == '#' && f->map[link + 2] == 'D' &&
        f->map[link + 3] == 'T') {
        /* unfinalized: the last DT block runs to the end of the file */
        uint64_t len = mf4__get_le(f->map + link + 8, 8);
        if (len == 24 || len > f->size - link || (f->info.unfin_flags & 4)) {
            mf4__frag fr = {.file_off = link + 24, .len = f->size - link - 24, .blk_off = link};
            return add_frag(f, s, cap, &fr, err);
        }
    }
    if ((rc = read_block(f, link, NULL, &b, err)))
        return rc;
    if (b.id[0] == 'D' && b.id[1] == 'Z') {
        if ((rc = need_data(&b, 24, err)))
            return rc;
        char org[3] = {(char)b.data[0], (char)b.data[1], 0};
        int okorg = 0;
        for (const char *q = ids; q[0] && q[1]; q += 2)
            if (q[0] == org[0] && q[1] == org[1])
                okorg = 1;
        if (!okorg)
            return mf4__err(err, MF4_E_CORRUPT, link, "DZ at %llu holds a ##%s block here",
                            (unsigned long long)link, org);
        mf4__frag fr = {0};
        fr.zip_type = b.data[2];
        fr.zip_param = (uint32_t)mf4__get_le(b.data + 4, 4);
        fr.len = mf4__get_le(b.data + 8, 8);
        fr.clen = mf4__get_le(b.data + 16, 8);
        fr.file_off = b.off + 24 + b.nlinks * 8 + 24;
        fr.blk_off = link;
        if (fr.zip_type > 1)
            return mf4__err(err, MF4_E_UNSUPPORTED, link, "DZ at %llu: zip type %u",
                            (unsigned long long)link, fr.zip_type);
        if (fr.clen > b.dlen - 24)
            return mf4__err(err, MF4_E_TRUNCATED, link,
                            "DZ at %llu: %llu compressed bytes in a %llu-byte block",
                            (unsigned long long)link, (unsigned long long)fr.clen,
                            (unsigned long long)b.dlen);
        /* deflate cannot expand more than ~1032:1; a larger claim is a lie */
        if (fr.len > fr.clen * 1040 + 64 || fr.len > ((uint64_t)1 << 32))
            return mf4__err(
                err, MF4_E_CORRUPT, link, "DZ at %llu: %llu bytes cannot inflate to %llu",
                (unsigned long long)link, (unsigned long long)fr.clen, (unsigned long long)fr.len);
        if (fr.zip_type == 1 && fr.zip_param == 0)
            return mf4__err(err, MF4_E_CORRUPT, link, "DZ at %llu: transposed with 0 columns",
                            (unsigned long long)link);
        if (fr.len == 0)
            return MF4_OK;
        return add_frag(f, s, cap, &fr, err);
    }
    int okid = 0;
    for (const char *q = ids; q[0] && q[1]; q += 2)
        if (q[0] == b.id[0] && q[1] == b.id[1])
            okid = 1;
    if (!okid)
        return mf4__err(err, MF4_E_CORRUPT, link, "expected a data block at %llu, found ##%s",
                        (unsigned long long)link, b.id);
    if (b.dlen == 0)
        return MF4_OK;
    mf4__frag fr = {.file_off = b.off + 24 + b.nlinks * 8, .len = b.dlen, .blk_off = link};
    return add_frag(f, s, cap, &fr, err);
}

/* Builds the fragment list of a data link (DT/SD/..., DZ, DL chain, HL). ids: the plain data
 * block ids accepted ("DTDV" or "SD"). */
static int build_stream(mf4_file *f, uint64_t link, const char *ids, mf4__stream_def *s,
                        mf4_error *err)
{
    size_t cap = 0;
    memset(s, 0, sizeof *s);
    if (link == 0)
        return MF4_OK;
    blk b;
    int rc = read_block(f, link, NULL, &b, err);
    if (rc)
        return rc;
    if (b.id[0] == 'H' && b.id[1] == 'L') {
        if ((rc = seen_add(f, link, err)))
            return rc;
        link = blink(&b, 0);
        if (link == 0)
            return MF4_OK;
        if ((rc = read_block(f, link, "DL", &b, err)))
            return rc;
    }
    if (b.id[0] == 'D' && b.id[1] == 'L') {
        while (link) {
            if ((rc = read_block(f, link, "DL", &b, err)) || (rc = seen_add(f, link, err)) ||
                (rc = need_data(&b, 8, err)))
                return rc;
            uint64_t count = mf4__get_le(b.data + 4, 4);
            if (count > b.nlinks - 1 || b.nlinks == 0)
                return mf4__err(err, MF4_E_CORRUPT, link, "DL at %llu: %llu entries, %llu links",
                                (unsigned long long)link, (unsigned long long)count,
                                (unsigned long long)b.nlinks);
            uint64_t next = blink(&b, 0);
            for (uint64_t i = 0; i < count; i++) {
                uint64_t l = blink(&b, 1 + i);
                if (l == 0)
                    continue;
                int last = next == 0 && i + 1 == count;
                if ((rc = data_block(f, l, ids, s, &cap, last, err)))
                    return rc;
            }
            link = next;
        }
        return MF4_OK;
    }
    return data_block(f, link, ids, s, &cap, 1, err);
}

/* ------------------------------------------------------------------ channels */
typedef struct chan_list {
    mf4_channel *ch;
    mf4__chan *x;
    size_t n, cap;
} chan_list;

static int chan_push(chan_list *l, uint64_t off, mf4_error *err)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        mf4_channel *a = realloc(l->ch, nc * sizeof *a);
        if (a)
            l->ch = a;
        mf4__chan *b = realloc(l->x, nc * sizeof *b);
        if (b)
            l->x = b;
        if (!a || !b)
            return mf4__err(err, MF4_E_NOMEM, off, "out of memory");
        l->cap = nc;
    }
    memset(&l->ch[l->n], 0, sizeof l->ch[0]);
    memset(&l->x[l->n], 0, sizeof l->x[0]);
    l->n++;
    return MF4_OK;
}

typedef struct grp_ctx {
    uint64_t cg_off;
    uint32_t rec_bytes; /* data + invalidation bytes */
    uint32_t data_bytes, inval_bytes;
} grp_ctx;

static int read_channels(mf4_file *f, uint64_t link, long parent, int depth, const grp_ctx *g,
                         chan_list *l, mf4_error *err)
{
    int rc;
    if (depth > 8)
        return mf4__err(err, MF4_E_CORRUPT, link, "channel compositions nested deeper than 8");
    while (link) {
        blk b;
        if ((rc = read_block(f, link, "CNCA", &b, err)))
            return rc;
        if (b.id[1] == 'A') /* channel array: its elements are not listed as channels */
            return MF4_OK;
        if ((rc = seen_add(f, link, err)) || (rc = need_data(&b, 24, err)))
            return rc;
        if ((rc = chan_push(l, link, err)))
            return rc;
        size_t idx = l->n - 1;
        mf4_channel *c = &l->ch[idx];
        mf4__chan *x = &l->x[idx];
        c->index = idx;
        c->offset = link;
        c->parent = parent;
        x->vlsd_group = -1;
        const unsigned char *d = b.data;
        c->channel_type = (mf4_channel_type)d[0];
        c->sync_type = d[1];
        c->data_type = (mf4_data_type)d[2];
        c->bit_offset = d[3];
        c->byte_offset = (uint32_t)mf4__get_le(d + 4, 4);
        c->bit_count = (uint32_t)mf4__get_le(d + 8, 4);
        c->flags = (uint32_t)mf4__get_le(d + 12, 4);
        c->inval_bit_pos = (uint32_t)mf4__get_le(d + 16, 4);
        c->all_invalid = c->flags & 1;
        c->has_invalidation = (c->flags & 2) != 0;
        c->is_master = c->channel_type == MF4_CN_MASTER || c->channel_type == MF4_CN_VIRTUAL_MASTER;
        if (c->channel_type > MF4_CN_VLSC)
            return mf4__err(err, MF4_E_CORRUPT, link, "CN at %llu: channel type %d",
                            (unsigned long long)link, (int)c->channel_type);
        if (c->data_type > MF4_DT_COMPLEX_BE)
            return mf4__err(err, MF4_E_CORRUPT, link, "CN at %llu: data type %d",
                            (unsigned long long)link, (int)c->data_type);
        const char *cn_unit;
        if ((rc = read_text(f, blink(&b, 2), 1, &c->name, err)) ||
            (rc = read_source(f, blink(&b, 3), &c->source, err)) ||
            (rc = read_conv(f, blink(&b, 4), 0, &c->conv, err)) ||
            (rc = read_text(f, blink(&b, 6), 1, &cn_unit, err)) ||
            (rc = read_text(f, blink(&b, 7), 0, &c->comment, err)))
            return rc;
        c->unit = cn_unit;
        if (c->conv && c->conv->type == MF4_CONV_IDENTITY)
            c->conv = NULL;
        /* value kind and the bytes it spans */
        int virt =
            c->channel_type == MF4_CN_VIRTUAL_MASTER || c->channel_type == MF4_CN_VIRTUAL_DATA;
        switch (c->data_type) {
        case MF4_DT_UINT_LE:
        case MF4_DT_UINT_BE:
            c->kind = MF4_VAL_UINT;
            break;
        case MF4_DT_INT_LE:
        case MF4_DT_INT_BE:
            c->kind = MF4_VAL_INT;
            break;
        case MF4_DT_FLOAT_LE:
        case MF4_DT_FLOAT_BE:
            c->kind = MF4_VAL_FLOAT;
            break;
        default:
            c->kind = MF4_VAL_BYTES;
        }
        if (virt) {
            c->kind = MF4_VAL_UINT;
        } else if (c->channel_type == MF4_CN_VLSD || c->channel_type == MF4_CN_VLSC) {
            c->kind = MF4_VAL_BYTES;
        }
        if (!virt) {
            if (c->kind == MF4_VAL_FLOAT && c->bit_count != 16 && c->bit_count != 32 &&
                c->bit_count != 64)
                return mf4__err(err, MF4_E_CORRUPT, link, "CN '%s': float of %u bits", c->name,
                                c->bit_count);
            if ((c->kind == MF4_VAL_UINT || c->kind == MF4_VAL_INT) &&
                (c->bit_count < 1 || c->bit_count > 64))
                return mf4__err(err, MF4_E_CORRUPT, link, "CN '%s': integer of %u bits", c->name,
                                c->bit_count);
            if (c->channel_type == MF4_CN_VLSD && (c->bit_count != 64 || c->bit_offset))
                return mf4__err(err, MF4_E_UNSUPPORTED, link, "CN '%s': VLSD offset of %u bits",
                                c->name, c->bit_count);
            if (c->bit_count > (uint64_t)g->data_bytes * 8 + 8)
                return mf4__err(err, MF4_E_CORRUPT, link, "CN '%s': %u bits in a %u-byte record",
                                c->name, c->bit_count, g->data_bytes);
            if (c->bit_offset > 7) /* cn_bit_offset is 0..7 (MDF 4.1); more shifts beyond
                                      the 128-bit extraction word */
                return mf4__err(err, MF4_E_CORRUPT, link, "CN '%s': bit offset %u, expected 0..7",
                                c->name, (unsigned)c->bit_offset);
            uint64_t nbits = (uint64_t)c->bit_offset + c->bit_count;
            x->nbytes = (unsigned)((nbits + 7) / 8);
            if ((uint64_t)c->byte_offset + x->nbytes > g->data_bytes)
                return mf4__err(err, MF4_E_CORRUPT, link,
                                "CN '%s': bytes %u..%u outside the %u-byte record", c->name,
                                c->byte_offset, c->byte_offset + x->nbytes, g->data_bytes);
            if (c->bit_count == 0 && c->kind != MF4_VAL_BYTES)
                return mf4__err(err, MF4_E_CORRUPT, link, "CN '%s': 0 bits", c->name);
        }
        if (c->has_invalidation && c->inval_bit_pos >= (uint64_t)g->inval_bytes * 8)
            return mf4__err(err, MF4_E_CORRUPT, link,
                            "CN '%s': invalidation bit %u beyond %u invalidation bytes", c->name,
                            c->inval_bit_pos, g->inval_bytes);
        /* VLSD data: SD blocks, or a VLSD channel group (resolved by the caller) */
        uint64_t dlink = blink(&b, 5);
        if (c->channel_type == MF4_CN_VLSD && dlink) {
            blk t;
            if ((rc = read_block(f, dlink, NULL, &t, err)))
                return rc;
            if (t.id[0] == 'C' && t.id[1] == 'G') {
                x->vlsd_group = -2 - (long)0; /* marker: resolved after all groups are read */
                x->sd.total = dlink;          /* temporarily: the CG offset */
                c->vlsd_in_group = true;
            } else if ((rc = build_stream(f, dlink, "SD", &x->sd, err))) {
                return rc;
            }
        }
        uint64_t comp = blink(&b, 1);
        uint64_t next = blink(&b, 0);
        if (comp) {
            size_t before = l->n;
            if ((rc = read_channels(f, comp, (long)idx, depth + 1, g, l, err)))
                return rc;
            c = &l->ch[idx]; /* l may have moved */
            x = &l->x[idx];
            size_t direct = 0;
            for (size_t k = before; k < l->n; k++)
                if (l->ch[k].parent == (long)idx)
                    direct++;
            c->n_children = direct;
            x->is_struct = direct > 0;
        }
        link = next;
    }
    return MF4_OK;
}

/* ------------------------------------------------------------------ record scanning */
/* Counts the records of each channel group of an unsorted (or unfinalized) data group by
 * walking its data; a record cut off by the end of the data is dropped. */
static int scan_dg(mf4_file *f, mf4__dg *dg, mf4_error *err)
{
    mf4__cursor cur;
    mf4__cursor_init(&cur, f, &dg->data);
    uint64_t *counts = calloc(dg->n_groups ? dg->n_groups : 1, sizeof *counts);
    if (!counts)
        return mf4__err(err, MF4_E_NOMEM, dg->offset, "out of memory");
    int rc = MF4_OK;
    uint64_t total = dg->data.total;
    unsigned ids = dg->rec_id_size;
    while (cur.pos < total) {
        size_t gi = 0;
        if (ids) {
            unsigned char idb[8];
            if (total - cur.pos < ids)
                break;
            if ((rc = mf4__cursor_read(&cur, idb, ids, err)))
                break;
            uint64_t id = mf4__get_le(idb, ids);
            size_t k;
            for (k = 0; k < dg->n_groups; k++)
                if (f->groups[dg->first_group + k].record_id == id)
                    break;
            if (k == dg->n_groups) {
                rc = mf4__err(err, MF4_E_CORRUPT, dg->offset,
                              "data group at %llu: unknown record id %llu at data offset %llu",
                              (unsigned long long)dg->offset, (unsigned long long)id,
                              (unsigned long long)(cur.pos - ids));
                break;
            }
            gi = k;
        }
        const mf4_group *g = &f->groups[dg->first_group + gi];
        uint64_t len;
        if (g->is_vlsd) {
            unsigned char lb[4];
            if (total - cur.pos < 4)
                break;
            if ((rc = mf4__cursor_read(&cur, lb, 4, err)))
                break;
            len = mf4__get_le(lb, 4);
        } else {
            len = (uint64_t)g->data_bytes + g->inval_bytes;
        }
        if (total - cur.pos < len)
            break; /* cut-off last record */
        if ((rc = mf4__cursor_skip(&cur, len, err)))
            break;
        counts[gi]++;
        if (!ids && len == 0)
            break;
    }
    if (!rc)
        for (size_t k = 0; k < dg->n_groups; k++) {
            mf4_group *g = &f->groups[dg->first_group + k];
            if (!g->is_vlsd)
                g->cycles = counts[k];
        }
    free(counts);
    mf4__cursor_free(&cur);
    dg->scanned = 1;
    return rc;
}

/* ------------------------------------------------------------------ open */
static int parse(mf4_file *f, mf4_error *err)
{
    int rc;
    if (f->size < 64 + 24)
        return mf4__err(err,
                        f->size >= 8 && (memcmp(f->map, "MDF     ", 8) == 0 ||
                                         memcmp(f->map, "UnFinMF ", 8) == 0)
                            ? MF4_E_TRUNCATED
                            : MF4_E_NOT_MDF,
                        0, "file too short for an MDF header (%llu bytes)",
                        (unsigned long long)f->size);
    const unsigned char *id = f->map;
    if (memcmp(id, "MDF     ", 8) == 0)
        f->info.unfinalized = false;
    else if (memcmp(id, "UnFinMF ", 8) == 0)
        f->info.unfinalized = true;
    else
        return mf4__err(err, MF4_E_NOT_MDF, 0, "not an MDF file (no MDF identification)");
    f->info.version = (uint16_t)mf4__get_le(id + 28, 2);
    memcpy(f->info.version_str, id + 8, 8);
    memcpy(f->info.program, id + 16, 8);
    for (int i = 7; i >= 0 && (f->info.version_str[i] == ' ' || !f->info.version_str[i]); i--)
        f->info.version_str[i] = 0;
    for (int i = 7; i >= 0 && (f->info.program[i] == ' ' || !f->info.program[i]); i--)
        f->info.program[i] = 0;
    for (int i = 0; i < 8; i++)
        if (f->info.program[i] &&
            ((unsigned char)f->info.program[i] < 32 || (unsigned char)f->info.program[i] > 126))
            f->info.program[i] = '?';
    for (int i = 0; i < 8; i++)
        if (f->info.version_str[i] && ((unsigned char)f->info.version_str[i] < 32 ||
                                       (unsigned char)f->info.version_str[i] > 126))
            f->info.version_str[i] = '?';
    f->info.unfin_flags = (uint16_t)mf4__get_le(id + 60, 2);
    f->info.file_size = f->size;
    if (f->info.version < 400 || f->info.version >= 500)
        return mf4__err(err, MF4_E_VERSION, 28,
                        "MDF version %u is not 4.x (libmf4 reads 4.00-4.2x)", f->info.version);
    blk hd;
    if ((rc = read_block(f, 64, "HD", &hd, err)) || (rc = need_data(&hd, 16, err)))
        return rc;
    f->info.start_time_ns = mf4__get_le(hd.data, 8);
    f->info.tz_offset_min = (int16_t)mf4__get_le(hd.data + 8, 2);
    f->info.dst_offset_min = (int16_t)mf4__get_le(hd.data + 10, 2);
    f->info.time_flags = hd.data[12];
    if ((rc = read_text(f, blink(&hd, 5), 0, &f->info.comment, err)))
        return rc;

    /* data groups and their channel groups */
    size_t cap_g = 0, cap_dg = 0;
    chan_list *lists = NULL;
    for (uint64_t dgl = blink(&hd, 0); dgl;) {
        blk dg;
        if ((rc = read_block(f, dgl, "DG", &dg, err)) || (rc = seen_add(f, dgl, err)) ||
            (rc = need_data(&dg, 1, err)))
            goto fail;
        if (f->n_dgs == cap_dg) {
            size_t nc = cap_dg ? cap_dg * 2 : 8;
            mf4__dg *p = realloc(f->dgs, nc * sizeof *p);
            if (!p) {
                rc = mf4__err(err, MF4_E_NOMEM, dgl, "out of memory");
                goto fail;
            }
            f->dgs = p;
            cap_dg = nc;
        }
        mf4__dg *d = &f->dgs[f->n_dgs++];
        memset(d, 0, sizeof *d);
        d->offset = dgl;
        d->rec_id_size = dg.data[0];
        if (d->rec_id_size != 0 && d->rec_id_size != 1 && d->rec_id_size != 2 &&
            d->rec_id_size != 4 && d->rec_id_size != 8) {
            rc = mf4__err(err, MF4_E_CORRUPT, dgl, "DG at %llu: record id size %u",
                          (unsigned long long)dgl, d->rec_id_size);
            goto fail;
        }
        d->first_group = f->n_groups;
        for (uint64_t cgl = blink(&dg, 1); cgl;) {
            blk cg;
            if ((rc = read_block(f, cgl, "CG", &cg, err)) || (rc = seen_add(f, cgl, err)) ||
                (rc = need_data(&cg, 32, err)))
                goto fail;
            if (f->n_groups == cap_g) {
                size_t nc = cap_g ? cap_g * 2 : 8;
                mf4_group *p = realloc(f->groups, nc * sizeof *p);
                if (p)
                    f->groups = p;
                chan_list *q = realloc(lists, nc * sizeof *q);
                if (q)
                    lists = q;
                size_t *r = realloc(f->group_dg, nc * sizeof *r);
                if (r)
                    f->group_dg = r;
                if (!p || !q || !r) {
                    rc = mf4__err(err, MF4_E_NOMEM, cgl, "out of memory");
                    goto fail;
                }
                cap_g = nc;
            }
            size_t gi = f->n_groups++;
            mf4_group *g = &f->groups[gi];
            memset(g, 0, sizeof *g);
            memset(&lists[gi], 0, sizeof lists[gi]);
            f->group_dg[gi] = f->n_dgs - 1;
            g->index = gi;
            g->dg_index = f->n_dgs - 1;
            g->offset = cgl;
            g->master = -1;
            g->record_id_size = d->rec_id_size;
            g->record_id = mf4__get_le(cg.data, 8);
            g->cycles = mf4__get_le(cg.data + 8, 8);
            g->flags = (uint16_t)mf4__get_le(cg.data + 16, 2);
            g->is_vlsd = g->flags & 1;
            g->data_bytes = (uint32_t)mf4__get_le(cg.data + 24, 4);
            g->inval_bytes = (uint32_t)mf4__get_le(cg.data + 28, 4);
            if ((rc = read_text(f, blink(&cg, 2), 1, &g->acq_name, err)) ||
                (rc = read_source(f, blink(&cg, 3), &g->source, err)) ||
                (rc = read_text(f, blink(&cg, 5), 0, &g->comment, err)))
                goto fail;
            if (!g->is_vlsd) {
                if ((uint64_t)g->data_bytes + g->inval_bytes + d->rec_id_size > f->size) {
                    rc = mf4__err(err, MF4_E_CORRUPT, cgl,
                                  "CG at %llu: %u-byte records in a %llu-byte file",
                                  (unsigned long long)cgl, g->data_bytes + g->inval_bytes,
                                  (unsigned long long)f->size);
                    goto fail;
                }
                grp_ctx gc = {cgl, g->data_bytes + g->inval_bytes, g->data_bytes, g->inval_bytes};
                if ((rc = read_channels(f, blink(&cg, 1), -1, 0, &gc, &lists[gi], err)))
                    goto fail;
            }
            d->n_groups++;
            cgl = blink(&cg, 0);
        }
        d->unsorted = d->n_groups > 1;
        if (d->unsorted && d->rec_id_size == 0) {
            rc = mf4__err(err, MF4_E_CORRUPT, dgl,
                          "DG at %llu: %zu channel groups without record ids",
                          (unsigned long long)dgl, d->n_groups);
            goto fail;
        }
        if ((rc = build_stream(f, blink(&dg, 2), "DTDV", &d->data, err)))
            goto fail;
        dgl = blink(&dg, 0);
    }
    /* move channel lists into the groups, resolve masters and VLSD channel groups */
    f->gchan = calloc(f->n_groups ? f->n_groups : 1, sizeof *f->gchan);
    if (!f->gchan) {
        rc = mf4__err(err, MF4_E_NOMEM, 0, "out of memory");
        goto fail;
    }
    for (size_t gi = 0; gi < f->n_groups; gi++) {
        mf4_group *g = &f->groups[gi];
        g->channels = lists[gi].ch;
        g->n_channels = lists[gi].n;
        f->gchan[gi] = lists[gi].x;
        lists[gi].ch = NULL;
        lists[gi].x = NULL;
        for (size_t k = 0; k < g->n_channels; k++) {
            mf4_channel *c = (mf4_channel *)&g->channels[k];
            mf4__chan *x = &f->gchan[gi][k];
            if (c->is_master && g->master < 0 && c->parent < 0)
                g->master = (long)k;
            if (x->vlsd_group == -2) {
                uint64_t cgoff = x->sd.total;
                x->sd.total = 0;
                x->vlsd_group = -1;
                const mf4__dg *d = &f->dgs[f->group_dg[gi]];
                for (size_t j = 0; j < d->n_groups; j++)
                    if (f->groups[d->first_group + j].offset == cgoff &&
                        f->groups[d->first_group + j].is_vlsd)
                        x->vlsd_group = (long)(d->first_group + j);
                if (x->vlsd_group < 0) {
                    rc = mf4__err(err, MF4_E_CORRUPT, c->offset,
                                  "CN '%s': VLSD data link to a CG that is not a VLSD group "
                                  "of its data group",
                                  c->name);
                    goto fail;
                }
            }
        }
    }
    /* record counts */
    for (size_t i = 0; i < f->n_dgs; i++) {
        mf4__dg *d = &f->dgs[i];
        if (d->n_groups == 0)
            continue;
        if (f->info.unfinalized || d->unsorted) {
            if (f->info.unfinalized || (f->info.unfin_flags & 1)) {
                if ((rc = scan_dg(f, d, err)))
                    goto fail;
            }
        } else {
            mf4_group *g = &f->groups[d->first_group];
            uint64_t stride = (uint64_t)d->rec_id_size + g->data_bytes + g->inval_bytes;
            if (g->is_vlsd)
                continue;
            if (stride == 0) {
                if (g->cycles && d->data.total) {
                    rc = mf4__err(err, MF4_E_CORRUPT, g->offset, "CG at %llu: 0-byte records",
                                  (unsigned long long)g->offset);
                    goto fail;
                }
                continue;
            }
            if (g->cycles > d->data.total / stride) {
                rc = mf4__err(err, MF4_E_TRUNCATED, d->offset,
                              "group %zu: %llu records of %llu bytes declared, the data holds "
                              "%llu bytes",
                              g->index, (unsigned long long)g->cycles, (unsigned long long)stride,
                              (unsigned long long)d->data.total);
                goto fail;
            }
        }
    }
    free(lists);
    f->info.n_data_groups = f->n_dgs;
    f->info.n_groups = f->n_groups;
    return MF4_OK;
fail:
    if (lists) {
        for (size_t gi = 0; gi < f->n_groups; gi++) {
            for (size_t k = 0; k < lists[gi].n && lists[gi].x; k++)
                free(lists[gi].x[k].sd.frags);
            free(lists[gi].ch);
            free(lists[gi].x);
        }
        free(lists);
    }
    return rc;
}

static void release(mf4_file *f)
{
    if (f->gchan) {
        for (size_t gi = 0; gi < f->n_groups; gi++) {
            if (f->gchan[gi])
                for (size_t k = 0; k < f->groups[gi].n_channels; k++)
                    free(f->gchan[gi][k].sd.frags);
            free(f->gchan[gi]);
            free((void *)f->groups[gi].channels);
        }
    }
    free(f->gchan);
    free(f->groups);
    free(f->group_dg);
    for (size_t i = 0; i < f->n_dgs; i++)
        free(f->dgs[i].data.frags);
    free(f->dgs);
    for (size_t i = 0; i < f->n_convs; i++)
        mf4__conv_free(f->convs[i]);
    free(f->convs);
    free(f->seen);
    arena_free(f);
}

static int finish_open(mf4_file *f, mf4_file **out, mf4_error *err)
{
    int rc = parse(f, err);
    /* everything parse() needs is copied out of the mapping: give back the pages it touched
     * (with large folios one touch can map megabytes), so that a reader's resident memory is
     * what it decodes, not the file's size */
    if (f->mapped && f->size) {
        madvise((void *)f->map, (size_t)f->size, MADV_DONTNEED);
        madvise((void *)f->map, (size_t)f->size, MADV_SEQUENTIAL);
    }
    free(f->seen);
    f->seen = NULL;
    f->seen_cap = f->seen_n = 0;
    if (rc) {
        mf4_close(f);
        return rc;
    }
    *out = f;
    return MF4_OK;
}

int mf4_open_memory(mf4_file **out, const void *data, size_t len, mf4_error *err)
{
    if (!out || (!data && len))
        return mf4__err(err, MF4_E_ARG, 0, "mf4_open_memory: NULL argument");
    *out = NULL;
    mf4_file *f = calloc(1, sizeof *f);
    if (!f)
        return mf4__err(err, MF4_E_NOMEM, 0, "out of memory");
    f->map = data;
    f->size = len;
    return finish_open(f, out, err);
}

int mf4_open(mf4_file **out, const char *path, mf4_error *err)
{
    if (!out || !path)
        return mf4__err(err, MF4_E_ARG, 0, "mf4_open: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mf4__err(err, MF4_E_IO, 0, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return mf4__err(err, MF4_E_IO, 0, "cannot stat %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return mf4__err(err, MF4_E_IO, 0, "%s is not a regular file", path);
    }
    mf4_file *f = calloc(1, sizeof *f);
    if (!f) {
        close(fd);
        return mf4__err(err, MF4_E_NOMEM, 0, "out of memory");
    }
    f->size = (uint64_t)st.st_size;
    if (f->size > 0) {
        void *m = mmap(NULL, (size_t)f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            free(f);
            return mf4__err(err, MF4_E_IO, 0, "cannot map %s: %s", path, strerror(e));
        }
        /* the block tree is read at scattered offsets: no read-ahead while parsing */
        madvise(m, (size_t)f->size, MADV_RANDOM);
        f->map = m;
        f->mapped = 1;
    } else {
        f->map = (const unsigned char *)"";
    }
    close(fd);
    return finish_open(f, out, err);
}

void mf4_close(mf4_file *f)
{
    if (!f)
        return;
    release(f);
    if (f->mapped)
        munmap((void *)f->map, (size_t)f->size);
    free(f);
}

const mf4_file_info *mf4_info(const mf4_file *f)
{
    return f ? &f->info : NULL;
}

size_t mf4_group_count(const mf4_file *f)
{
    return f ? f->n_groups : 0;
}

const mf4_group *mf4_group_at(const mf4_file *f, size_t i)
{
    return f && i < f->n_groups ? &f->groups[i] : NULL;
}

int mf4_find_channel(const mf4_file *f, const char *name, size_t group, size_t *group_out,
                     size_t *channel_out)
{
    if (!f || !name)
        return MF4_E_ARG;
    for (size_t gi = 0; gi < f->n_groups; gi++) {
        if (group != (size_t)-1 && gi != group)
            continue;
        const mf4_group *g = &f->groups[gi];
        for (size_t k = 0; k < g->n_channels; k++)
            if (strcmp(g->channels[k].name, name) == 0) {
                if (group_out)
                    *group_out = gi;
                if (channel_out)
                    *channel_out = k;
                return MF4_OK;
            }
    }
    return MF4_E_NOT_FOUND;
}
