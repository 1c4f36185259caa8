/*
 * broker_util.c - small data structures of the broker core: a string-keyed hash table (open
 * addressing, linear probing, backward-shift deletion), a binary min-heap of timers with
 * O(log n) re-arm/removal, and JSON text helpers.
 *
 * Invariants: hash: load factor <= 1/2, every entry sits in the probe run that starts at its
 * home slot (hash & (cap-1)), no tombstones. Heap: v[i]->idx == i for every armed timer,
 * parent.at <= child.at; an unarmed timer has idx == SIZE_MAX.
 */
#include "broker_int.h"

#include <stdio.h>

/* ------------------------------------------------------------------ hash */

uint64_t bhash_str(const char *s, size_t n)
{
    /* 8 bytes per step with a multiply-xorshift mix, then a final avalanche (murmur3 fmix) */
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
    uint64_t v;
    while (n >= 8) {
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    if (n) {
        v = 0;
        memcpy(&v, s, n);
        h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

bhent *bhash_get(const bhash *h, const char *key, uint64_t hash)
{
    if (!h->cap)
        return NULL;
    size_t mask = h->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        bhent *e = h->slots[i];
        if (!e)
            return NULL;
        if (e->hash == hash && strcmp(e->key, key) == 0)
            return e;
    }
}

static void bhash_place(bhent **slots, size_t cap, bhent *e)
{
    size_t mask = cap - 1;
    size_t i = e->hash & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = e;
}

int bhash_put(bhash *h, bhent *e)
{
    if ((h->n + 1) * 2 > h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 64;
        bhent **ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return WSM_E_NOMEM;
        for (size_t i = 0; i < h->cap; i++)
            if (h->slots[i])
                bhash_place(ns, ncap, h->slots[i]);
        free(h->slots);
        h->slots = ns;
        h->cap = ncap;
    }
    bhash_place(h->slots, h->cap, e);
    h->n++;
    return WSM_OK;
}

void bhash_del(bhash *h, bhent *e)
{
    size_t mask = h->cap - 1;
    size_t i = e->hash & mask;
    while (h->slots[i] != e)
        i = (i + 1) & mask;
    /* backward-shift: move later entries of the run into the hole when allowed */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        bhent *x = h->slots[j];
        if (!x)
            break;
        size_t home = x->hash & mask;
        /* x may move to i if its home is not in (i, j] cyclically */
        bool in_range = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_range) {
            h->slots[i] = x;
            i = j;
        }
    }
    h->slots[i] = NULL;
    h->n--;
}

void bhash_free(bhash *h)
{
    free(h->slots);
    h->slots = NULL;
    h->cap = h->n = 0;
}

/* ------------------------------------------------------------------ heap */

static void heap_swap(bheap *h, size_t a, size_t b)
{
    btimer *t = h->v[a];
    h->v[a] = h->v[b];
    h->v[b] = t;
    h->v[a]->idx = a;
    h->v[b]->idx = b;
}

static void heap_up(bheap *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h->v[p]->at <= h->v[i]->at)
            break;
        heap_swap(h, p, i);
        i = p;
    }
}

static void heap_down(bheap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && h->v[l]->at < h->v[m]->at)
            m = l;
        if (r < h->n && h->v[r]->at < h->v[m]->at)
            m = r;
        if (m == i)
            break;
        heap_swap(h, i, m);
        i = m;
    }
}

int bheap_set(bheap *h, btimer *t, int64_t at)
{
    if (btimer_armed(t)) {
        int64_t old = t->at;
        t->at = at;
        if (at < old)
            heap_up(h, t->idx);
        else
            heap_down(h, t->idx);
        return WSM_OK;
    }
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 256;
        btimer **nv = realloc(h->v, nc * sizeof *nv);
        if (!nv)
            return WSM_E_NOMEM;
        h->v = nv;
        h->cap = nc;
    }
    t->at = at;
    t->idx = h->n;
    h->v[h->n++] = t;
    heap_up(h, t->idx);
    return WSM_OK;
}

void bheap_del(bheap *h, btimer *t)
{
    if (!btimer_armed(t))
        return;
    size_t i = t->idx;
    h->n--;
    if (i != h->n) {
        h->v[i] = h->v[h->n];
        h->v[i]->idx = i;
        heap_up(h, i);
        heap_down(h, h->v[i]->idx);
    }
    t->idx = SIZE_MAX;
}

/* ------------------------------------------------------------------ JSON text */

int bjson_str(wsm_buf *b, const char *s)
{
    if (!s)
        return wsm_buf_append(b, "null", 4);
    if (wsm_buf_reserve(b, strlen(s) + 2))
        return WSM_E_NOMEM;
    if (wsm_buf_append(b, "\"", 1))
        return WSM_E_NOMEM;
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *run = p;
    for (; *p; p++) {
        const char *esc = NULL;
        char tmp[8];
        switch (*p) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        default:
            if (*p < 0x20) {
                snprintf(tmp, sizeof tmp, "\\u%04x", *p);
                esc = tmp;
            }
        }
        if (esc) {
            if (wsm_buf_append(b, run, (size_t)(p - run)) || wsm_buf_append_str(b, esc))
                return WSM_E_NOMEM;
            run = p + 1;
        }
    }
    if (wsm_buf_append(b, run, (size_t)(p - run)) || wsm_buf_append(b, "\"", 1))
        return WSM_E_NOMEM;
    return WSM_OK;
}

int bjson_raw(wsm_buf *b, const char *s, size_t n)
{
    if (!s)
        return wsm_buf_append(b, "null", 4);
    return wsm_buf_append(b, s, n);
}

char *bdup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}
