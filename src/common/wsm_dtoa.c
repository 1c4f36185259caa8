/*
 * wsm_dtoa.c - shortest round-trip formatting of doubles and floats (wsm_dtoa.h), after
 * R. Giulietti's "Schubfach" method ("The Schubfach way to render doubles", 2020).
 *
 * A finite v > 0 is c * 2^q. Its rounding interval R (the reals that strtod rounds to v) is
 * [v - 2^(q-1), v + 2^(q-1)] (half as wide below when c is the smallest significand of a
 * binade), closed when c is even. With k = floor(log10(2^q)) (log10(3/4 * 2^q) for the
 * asymmetric case), R holds at least one multiple of 10^k and at most one of 10^(k+1); so the
 * shortest decimal in R is either the one multiple of 10^(k+1) in R, or one of s * 10^k and
 * (s + 1) * 10^k where s = floor(v / 10^k), the closer to v if both are in R (ties to even).
 * v / 10^k and the interval ends are computed in fixed point as 4 * x / 10^k with one
 * 64 x 126-bit multiplication by g(k) ~ 10^-k, rounded to odd, which is exact enough for every
 * comparison above (the paper's proof; the tests compare against a %.17g search on millions of
 * values). Java's version scales the tiniest subnormals by 10 first because Java wants at least
 * two digits; for the shortest text that is not needed (every subnormal significand < 20000 of
 * double and every float subnormal were checked against the %.{p}e search).
 */
#include "wsm_dtoa.h"
#include "wsm_num_tables.h"

#include <stdbool.h>
#include <string.h>

#define C_MIN  (UINT64_C(1) << 52)
#define Q_MIN  (-1074)
#define MASK63 ((UINT64_C(1) << 63) - 1)

/* floor(q * log10(2)), floor(log10(3/4 * 2^q)), floor(e * log2(10)): exact for |q|, |e| <= 1100
 * (checked by gen_num_tables.py). */
static inline int flog10pow2(int q)
{
    return (int)(((int64_t)q * INT64_C(661971961083)) >> 41);
}

static inline int flog10_3q_pow2(int q)
{
    return (int)(((int64_t)q * INT64_C(661971961083) - INT64_C(274743187321)) >> 41);
}

static inline int flog2pow10(int e)
{
    return (int)(((int64_t)e * INT64_C(913124641741)) >> 38);
}

/* floor(g * cp / 2^127), its last bit set when the discarded bits are not zero (round to odd). */
static inline uint64_t rop(uint64_t g1, uint64_t g0, uint64_t cp)
{
    uint64_t x1 = (uint64_t)(((unsigned __int128)g0 * cp) >> 64);
    unsigned __int128 y = (unsigned __int128)g1 * cp;
    uint64_t y0 = (uint64_t)y, y1 = (uint64_t)(y >> 64);
    uint64_t z = (y0 >> 1) + x1;
    uint64_t vbp = y1 + (z >> 63);
    return vbp | (((z & MASK63) + MASK63) >> 63);
}

/* The shortest decimal f * 10^e of c * 2^q, the closest to it among the shortest. */
static void to_decimal(int q, uint64_t c, uint64_t *f, int *e)
{
    uint64_t out = c & 1, cb = c << 2, cbr = cb + 2, cbl;
    int k;
    if (c != C_MIN || q == Q_MIN) {
        cbl = cb - 2;
        k = flog10pow2(q);
    } else {
        cbl = cb - 1;
        k = flog10_3q_pow2(q);
    }
    int h = q + flog2pow10(-k) + 2; /* 1..4 */
    const uint64_t *g = wsm_dtoa_g[k - WSM_DTOA_K_MIN];
    uint64_t vb = rop(g[0], g[1], cb << h);
    uint64_t vbl = rop(g[0], g[1], cbl << h);
    uint64_t vbr = rop(g[0], g[1], cbr << h);
    uint64_t s = vb >> 2;
    if (s >= 10) {
        /* one digit less: the multiples of 10^(k+1) around v */
        uint64_t sp = s / 10, up = sp * 40, wp = up + 40;
        bool upin = vbl + out <= up, wpin = wp + out <= vbr;
        if (upin != wpin) {
            *f = upin ? sp : sp + 1;
            *e = k + 1;
            return;
        }
    }
    uint64_t t = s + 1;
    bool uin = vbl + out <= s << 2, win = (t << 2) + out <= vbr;
    if (uin != win) {
        *f = uin ? s : t;
        *e = k;
        return;
    }
    /* both in R: the closer, ties to even */
    uint64_t mid = (s + t) << 1;
    *f = (vb < mid || (vb == mid && (s & 1) == 0)) ? s : t;
    *e = k;
}

static const uint64_t pow10_u64[20] = {1u,
                                       10u,
                                       100u,
                                       1000u,
                                       10000u,
                                       100000u,
                                       1000000u,
                                       10000000u,
                                       100000000u,
                                       1000000000u,
                                       10000000000u,
                                       100000000000u,
                                       1000000000000u,
                                       10000000000000u,
                                       100000000000000u,
                                       1000000000000000u,
                                       10000000000000000u,
                                       100000000000000000u,
                                       1000000000000000000u,
                                       10000000000000000000u};

/* Number of decimal digits of f > 0: floor(log10(2^bits)) from the bit length, corrected. */
static inline int count_digits(uint64_t f)
{
    int t = ((64 - __builtin_clzll(f)) * 1233) >> 12;
    return t - (f < pow10_u64[t]) + 1;
}

/* wsm_dtoa_shortest for a finite v > 0 (bits: its representation). */
static inline int shortest(uint64_t bits, uint64_t *digits, int *exp10)
{
    uint64_t t = bits & (C_MIN - 1), f;
    int bq = (int)(bits >> 52), e;
    if (bq) {
        uint64_t c = C_MIN | t;
        int q = bq - 1075;
        if (q < 0 && q > -53 && ((c >> -q) << -q) == c) {
            f = c >> -q; /* an integer below 2^53: its digits are exact */
            e = 0;
        } else {
            to_decimal(q, c, &f, &e);
        }
    } else {
        to_decimal(Q_MIN, t, &f, &e);
    }
    /* drop trailing zeros (at most 16; most results have none), big steps first: 8, 8, then
     * 4 + 2 + 1 for the rest */
    if (f % 10 == 0) {
        while (f % 100000000 == 0) {
            f /= 100000000;
            e += 8;
        }
        if (f % 10000 == 0) {
            f /= 10000;
            e += 4;
        }
        if (f % 100 == 0) {
            f /= 100;
            e += 2;
        }
        if (f % 10 == 0) {
            f /= 10;
            e++;
        }
    }
    *digits = f;
    *exp10 = e;
    return count_digits(f);
}

int wsm_dtoa_shortest(double v, uint64_t *digits, int *exp10)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    if (bits >> 63 || (bits >> 52) == 0x7ff || bits == 0)
        return 0;
    return shortest(bits, digits, exp10);
}

static const char pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

/* ceil(2^57 / 10^m): y < 10^m times this is y / 10^m in 0.57 fixed point, rounded up by less
 * than 10^m / 2^57 < 1e-9, too little to change any of the m digits read off below (checked
 * for every y < 10^8 when this was written; test_num checks samples and every boundary). */
static const uint64_t inv_pow10_57[9] = {0,
                                         14411518807585588u,
                                         1441151880758559u,
                                         144115188075856u,
                                         14411518807586u,
                                         1441151880759u,
                                         144115188076u,
                                         14411518808u,
                                         1441151881u};

#define MASK57 ((UINT64_C(1) << 57) - 1)

/* Writes the m digits (1..8, leading zeros included) of y < 10^m to d: one multiplication by
 * 10 or 100 per digit or pair instead of a division. */
static inline void put_upto8(char *d, uint32_t y, int m)
{
    uint64_t f = (uint64_t)y * inv_pow10_57[m];
    int i = 0;
    if (m & 1) {
        f *= 10;
        d[i++] = (char)('0' + (f >> 57));
        f &= MASK57;
    }
    for (; i < m; i += 2) {
        f *= 100;
        memcpy(d + i, pairs + 2 * (f >> 57), 2);
        f &= MASK57;
    }
}

/* Writes the n (1..17) decimal digits of f to d[0..n). */
static void put_digits(char *d, uint64_t f, int n)
{
    if (n <= 8) {
        put_upto8(d, (uint32_t)f, n);
    } else if (n <= 16) {
        put_upto8(d, (uint32_t)(f / 100000000), n - 8);
        put_upto8(d + n - 8, (uint32_t)(f % 100000000), 8);
    } else {
        uint64_t rest = f % UINT64_C(10000000000000000);
        d[0] = (char)('0' + f / UINT64_C(10000000000000000));
        put_upto8(d + 1, (uint32_t)(rest / 100000000), 8);
        put_upto8(d + 9, (uint32_t)(rest % 100000000), 8);
    }
}

/* Writes f * 10^e (n digits, no trailing zeros) at p in the layout of wsm_dtoa.h, NUL-terminated;
 * returns the end (the NUL). */
static char *format(char *p, uint64_t f, int e, int n)
{
    int x = e + n - 1; /* v = d.ddd * 10^x */
    if (x >= -4 && x <= 15) {
        if (x >= n - 1) { /* an integer: digits, then zeros */
            put_digits(p, f, n);
            p += n;
            memset(p, '0', (size_t)(x - n + 1));
            p += x - n + 1;
        } else if (x >= 0) { /* d.ddd: digits one to the right, the x + 1 integer ones back */
            put_digits(p + 1, f, n);
            for (int i = 0; i <= x; i++) /* usually 1-3 bytes: cheaper than a memmove call */
                p[i] = p[i + 1];
            p[x + 1] = '.';
            p += n + 1;
        } else { /* 0.000ddd */
            memset(p, '0', (size_t)(1 - x));
            p[1] = '.';
            p += 1 - x;
            put_digits(p, f, n);
            p += n;
        }
    } else {
        put_digits(p + 1, f, n);
        p[0] = p[1];
        if (n > 1) {
            p[1] = '.';
            p += n + 1;
        } else {
            p += 1;
        }
        *p++ = 'e';
        if (x < 0) {
            *p++ = '-';
            x = -x;
        }
        if (x >= 100) {
            *p++ = (char)('0' + x / 100);
            x %= 100;
            memcpy(p, pairs + 2 * x, 2);
            p += 2;
        } else if (x >= 10) {
            memcpy(p, pairs + 2 * x, 2);
            p += 2;
        } else {
            *p++ = (char)('0' + x);
        }
    }
    *p = 0;
    return p;
}

int wsm_dtoa(double v, char *buf)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    char *p = buf;
    if (((bits >> 52) & 0x7ff) == 0x7ff) {
        memcpy(buf, "null", 5);
        return 4;
    }
    if (bits >> 63) {
        *p++ = '-';
        bits &= ~(UINT64_C(1) << 63);
    }
    if (bits == 0) {
        *p++ = '0';
        *p = 0;
        return (int)(p - buf);
    }
    uint64_t f;
    int e;
    int n = shortest(bits, &f, &e);
    return (int)(format(p, f, e, n) - buf);
}

/* ------------------------------------------------------------------ float
 * The same method with a 24-bit significand: k ranges over -45..31, g is the high 63-bit limb
 * of the double table's g(k) plus one (still rounded up), and the products fit in 64 bits. */
#define FC_MIN (UINT32_C(1) << 23)
#define FQ_MIN (-149)

/* floor(g * cp / 2^95), last bit set when the discarded bits are not zero. */
static inline uint32_t rop32(uint64_t g, uint64_t cp)
{
    uint64_t x1 = (uint64_t)(((unsigned __int128)g * cp) >> 64);
    uint64_t vbp = x1 >> 31;
    return (uint32_t)(vbp | (((x1 & 0xffffffffu) + 0xffffffffu) >> 32));
}

static void to_decimal32(int q, uint32_t c, uint64_t *f, int *e)
{
    uint32_t out = c & 1;
    uint64_t cb = (uint64_t)c << 2, cbr = cb + 2, cbl;
    int k;
    if (c != FC_MIN || q == FQ_MIN) {
        cbl = cb - 2;
        k = flog10pow2(q);
    } else {
        cbl = cb - 1;
        k = flog10_3q_pow2(q);
    }
    int h = q + flog2pow10(-k) + 33;
    uint64_t g = wsm_dtoa_g[k - WSM_DTOA_K_MIN][0] + 1;
    uint32_t vb = rop32(g, cb << h), vbl = rop32(g, cbl << h), vbr = rop32(g, cbr << h);
    uint32_t s = vb >> 2;
    if (s >= 10) {
        uint32_t sp = s / 10, up = sp * 40, wp = up + 40;
        bool upin = vbl + out <= up, wpin = wp + out <= vbr;
        if (upin != wpin) {
            *f = upin ? sp : sp + 1;
            *e = k + 1;
            return;
        }
    }
    uint32_t t = s + 1;
    bool uin = vbl + out <= s << 2, win = (t << 2) + out <= vbr;
    if (uin != win) {
        *f = uin ? s : t;
        *e = k;
        return;
    }
    uint32_t mid = (s + t) << 1;
    *f = (vb < mid || (vb == mid && (s & 1) == 0)) ? s : t;
    *e = k;
}

int wsm_ftoa(float v, char *buf)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    char *p = buf;
    if (((bits >> 23) & 0xff) == 0xff) {
        memcpy(buf, "null", 5);
        return 4;
    }
    if (bits >> 31) {
        *p++ = '-';
        bits &= ~(UINT32_C(1) << 31);
    }
    if (bits == 0) {
        *p++ = '0';
        *p = 0;
        return (int)(p - buf);
    }
    uint32_t t = bits & (FC_MIN - 1);
    int bq = (int)(bits >> 23);
    uint64_t f;
    int e;
    if (bq) {
        uint32_t c = FC_MIN | t;
        int q = bq - 150;
        if (q < 0 && q > -24 && ((c >> -q) << -q) == c) {
            f = c >> -q; /* an integer below 2^24 */
            e = 0;
        } else {
            to_decimal32(q, c, &f, &e);
        }
    } else {
        to_decimal32(FQ_MIN, t, &f, &e);
    }
    while (f % 10 == 0) {
        f /= 10;
        e++;
    }
    return (int)(format(p, f, e, count_digits(f)) - buf);
}
