/*
 * wsm_atod.c - exact JSON number parsing (wsm_atod.h).
 *
 * The text is first reduced to w * 10^e10 with w the first 19 significant digits (exact in a
 * uint64; runs of 8 digits are converted 8 at a time). Then, in order:
 *  - w = 0: +-0.
 *  - Clinger: w <= 2^53 and |e10| <= 22: w and 10^|e10| are exact doubles, so one IEEE
 *    multiplication or division rounds the exact product/quotient once: correctly rounded.
 *  - Eisel-Lemire (D. Lemire, "Number parsing at a gigabyte per second", 2021): w, normalized,
 *    times the 128-bit truncation of 10^e10 (wsm_num_tables.c); the top 54 bits of the product
 *    give the rounded significand unless the discarded bits are too close to a halfway point to
 *    decide (then it gives up), or the result is subnormal/overflows (gives up).
 *  - otherwise (more than 19 significant digits, gave up): strtod on a NUL-terminated copy.
 * The grammar is checked before any conversion, so every path sees the same text strtod would.
 */
#include "wsm_atod.h"
#include "wsm_num_tables.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const double exact_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static inline bool is_digit(char c)
{
    return (unsigned char)(c - '0') < 10;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_LE 0
#else
#define HOST_LE 1
#endif

/* If s[0..8) are 8 ASCII digits, their value (SWAR: the digits of one little-endian word are
 * combined pairwise, 2 -> 4 -> 8, in three multiplications); else false. */
static inline bool eight_digits(const char *s, uint64_t *out)
{
    uint64_t v;
    memcpy(&v, s, 8);
    /* every byte 0x30..0x39: high nibble 3, and adding 6 does not carry into it */
    if (((v & UINT64_C(0xf0f0f0f0f0f0f0f0)) |
         (((v + UINT64_C(0x0606060606060606)) & UINT64_C(0xf0f0f0f0f0f0f0f0)) >> 4)) !=
        UINT64_C(0x3333333333333333))
        return false;
    v -= UINT64_C(0x3030303030303030);
    v = v * 10 + (v >> 8); /* byte 2i: the 2-digit value of digits 2i, 2i+1 */
    v = (((v & UINT64_C(0x000000ff000000ff)) * (100 + (UINT64_C(1000000) << 32))) +
         (((v >> 16) & UINT64_C(0x000000ff000000ff)) * (1 + (UINT64_C(10000) << 32)))) >>
        32;
    *out = v;
    return true;
}

static inline double from_bits(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

/* w * 10^e10 correctly rounded, w != 0; false if the product cannot decide (see above). */
static bool eisel_lemire(uint64_t w, int e10, bool neg, double *out)
{
    if (e10 < WSM_ATOD_E_MIN || e10 > WSM_ATOD_E_MAX)
        return false;
    const uint64_t *m = wsm_atod_pow10[e10 - WSM_ATOD_E_MIN];
    int clz = __builtin_clzll(w);
    w <<= clz;
    /* biased binary exponent of the result before normalization */
    uint64_t exp2 = (uint64_t)(((217706 * e10) >> 16) + 64 + 1023) - (uint64_t)clz;
    unsigned __int128 x = (unsigned __int128)w * m[0];
    uint64_t xhi = (uint64_t)(x >> 64), xlo = (uint64_t)x;
    if ((xhi & 0x1ff) == 0x1ff && xlo + w < w) {
        /* the truncated low half of 10^e10 may carry into the bits that matter: add it */
        unsigned __int128 y = (unsigned __int128)w * m[1];
        uint64_t yhi = (uint64_t)(y >> 64), ylo = (uint64_t)y;
        uint64_t mhi = xhi, mlo = xlo + yhi;
        if (mlo < xlo)
            mhi++;
        if ((mhi & 0x1ff) == 0x1ff && mlo + 1 == 0 && ylo + w < w)
            return false;
        xhi = mhi;
        xlo = mlo;
    }
    uint64_t msb = xhi >> 63;
    uint64_t mant = xhi >> (msb + 9); /* 54 bits */
    exp2 -= 1 ^ msb;
    if (xlo == 0 && (xhi & 0x1ff) == 0 && (mant & 3) == 1)
        return false; /* exactly halfway, or the truncation hides on which side */
    mant += mant & 1; /* round to 53 bits */
    mant >>= 1;
    if (mant >> 53) {
        mant >>= 1;
        exp2++;
    }
    if (exp2 - 1 >= 0x7ff - 1)
        return false; /* subnormal or infinite */
    *out = from_bits((uint64_t)neg << 63 | exp2 << 52 | (mant & ((UINT64_C(1) << 52) - 1)));
    return true;
}

const char *wsm_atod_json(const char *p, const char *end, double *out)
{
    const char *s = p;
    bool neg = false, many = false;
    if (s < end && *s == '-') {
        neg = true;
        s++;
    }
    if (s >= end || !is_digit(*s))
        return NULL;
    uint64_t w = 0;
    int nd = 0;
    int64_t e10 = 0;
    uint64_t chunk;
    if (*s == '0') {
        s++;
    } else {
        while (HOST_LE && nd <= 11 && end - s >= 8 && eight_digits(s, &chunk)) {
            w = w * 100000000 + chunk;
            nd += 8;
            s += 8;
        }
        for (; s < end && is_digit(*s); s++) {
            if (nd < 19) {
                w = w * 10 + (uint64_t)(*s - '0');
                nd++;
            } else {
                many = true;
                e10++;
            }
        }
    }
    if (s < end && *s == '.') {
        s++;
        if (s >= end || !is_digit(*s))
            return NULL;
        if (w == 0) /* leading zeros are not significant */
            for (; s < end && *s == '0'; s++)
                e10--;
        while (HOST_LE && nd <= 11 && end - s >= 8 && eight_digits(s, &chunk)) {
            w = w * 100000000 + chunk;
            nd += 8;
            e10 -= 8;
            s += 8;
        }
        for (; s < end && is_digit(*s); s++) {
            if (w == 0 && *s == '0') {
                e10--; /* leading zeros are not significant */
            } else if (nd < 19) {
                w = w * 10 + (uint64_t)(*s - '0');
                nd++;
                e10--;
            } else {
                many = true;
            }
        }
    }
    if (s < end && (*s == 'e' || *s == 'E')) {
        s++;
        bool eneg = false;
        if (s < end && (*s == '+' || *s == '-'))
            eneg = *s++ == '-';
        if (s >= end || !is_digit(*s))
            return NULL;
        int64_t x = 0;
        for (; s < end && is_digit(*s); s++)
            if (x < 1000000)
                x = x * 10 + (*s - '0');
        e10 += eneg ? -x : x;
    }
    if (!many) {
        if (w == 0) {
            *out = neg ? -0.0 : 0.0;
            return s;
        }
        if (w <= (UINT64_C(1) << 53) && e10 >= -22 && e10 <= 22) {
            double d = (double)w;
            d = e10 < 0 ? d / exact_pow10[-e10] : d * exact_pow10[e10];
            *out = neg ? -d : d;
            return s;
        }
        if (e10 >= WSM_ATOD_E_MIN && e10 <= WSM_ATOD_E_MAX && eisel_lemire(w, (int)e10, neg, out))
            return s;
    }
    /* the general case: the C library's correctly rounded conversion */
    size_t n = (size_t)(s - p);
    char small[128], *copy = n < sizeof small ? small : malloc(n + 1);
    if (!copy)
        return NULL;
    memcpy(copy, p, n);
    copy[n] = 0;
    *out = strtod(copy, NULL);
    if (copy != small)
        free(copy);
    return s;
}
