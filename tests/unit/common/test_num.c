/*
 * test_num.c - the number printer (wsm_dtoa.h) and parser (wsm_atod.h) of the JSON column codec:
 * the printer's output (doubles and floats) reads back bit-exactly through strtod/strtof and has
 * as few digits as the
 * shortest %.{p}e that does (checked on random bit patterns, every subnormal significand below
 * 20000, powers of two and ten and their neighbours, integers up to 2^53); its text is a JSON
 * number in the documented layout; the parser equals strtod (value and end) on random digit
 * strings, on the printer's outputs and on the classic hard cases, and refuses what is not a
 * JSON number. WSM_TEST_NUM_ITERS (default 2000000 each) sets the random sample size.
 */
#include "wsm_atod.h"
#include "wsm_dtoa.h"
#include "../../wsm_test.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t rnd64(void)
{
    return wsm_test_rand(&rng);
}

static double from_bits(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static uint64_t to_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

/* Under valgrind the fixed loops run a tenth and the random ones 20000 times. */
#define SLOW() WSM_TEST_SLOW()

static long iterations(void)
{
    const char *s = getenv("WSM_TEST_NUM_ITERS");
    long n = s ? atol(s) : SLOW() > 1 ? 20000 : 2000000;
    return n > 0 ? n : 2000000;
}

/* The significant digits of a printed number (no sign, point, exponent, leading/trailing 0s). */
static int sig_digits(const char *s, char *out)
{
    int n = 0;
    for (; *s && *s != 'e' && *s != 'E'; s++)
        if (*s >= '0' && *s <= '9' && (n || *s != '0'))
            out[n++] = *s;
    while (n > 0 && out[n - 1] == '0')
        n--;
    out[n] = 0;
    return n;
}

/* True if s is exactly one JSON number (the RFC 8259 grammar). */
static bool json_number(const char *s)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return false;
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == 0;
}

static long dtoa_failures;

/* Checks wsm_dtoa(v) for one finite v: JSON number, bit-exact round trip, shortest, closest.
 * full: compare against the complete %.{p}e search (slower); else the cheaper equivalent
 * for symmetric rounding intervals: the correctly rounded n-1 digits do not read back and the
 * correctly rounded n digits are ours. */
static void check_dtoa(double v, bool full)
{
    char buf[WSM_DTOA_BUF], ref[40], d1[24], d2[24];
    int len = wsm_dtoa(v, buf);
    bool ok = len == (int)strlen(buf) && len <= 24 && json_number(buf);
    double back = strtod(buf, NULL);
    ok = ok && to_bits(back) == to_bits(v);
    int n = sig_digits(buf, d1);
    uint64_t b = to_bits(v);
    bool irregular = (b & ((UINT64_C(1) << 52) - 1)) == 0 && ((b >> 52) & 0x7ff) > 1;
    if (ok && v != 0) {
        if (full || irregular) {
            int p = 1;
            for (; p <= 17; p++) {
                snprintf(ref, sizeof ref, "%.*e", p - 1, v);
                if (strtod(ref, NULL) == v)
                    break;
            }
            /* at a power of two the interval is asymmetric: the nearest p-digit decimal can
             * fall outside while a farther one (ours) is inside */
            ok = n <= p && (n == p || irregular);
            if (ok && n == p && !irregular) {
                sig_digits(ref, d2);
                ok = strcmp(d1, d2) == 0;
            }
        } else {
            if (n > 1) {
                snprintf(ref, sizeof ref, "%.*e", n - 2, v);
                ok = strtod(ref, NULL) != v;
            }
            snprintf(ref, sizeof ref, "%.*e", n - 1, v);
            sig_digits(ref, d2);
            ok = ok && strcmp(d1, d2) == 0;
        }
    }
    if (!ok && dtoa_failures++ < 10) {
        fprintf(stderr, "wsm_dtoa(%a = %.17g) = \"%s\"\n", v, v, buf);
        CHECK(0);
    }
}

TEST(dtoa_layout)
{
    struct {
        double v;
        const char *s;
    } cases[] = {
        {0.0, "0"},
        {-0.0, "-0"},
        {1.0, "1"},
        {-1.5, "-1.5"},
        {0.1, "0.1"},
        {1.0 / 3.0, "0.3333333333333333"},
        {2.0 / 3.0, "0.6666666666666666"},
        {123.456, "123.456"},
        {0.0001, "0.0001"},
        {0.00012345, "0.00012345"},
        {1e-5, "1e-5"},
        {1.5e-7, "1.5e-7"},
        {1e15, "1000000000000000"},
        {9007199254740992.0, "9007199254740992"},
        {1e16, "1e16"},
        {1.2345e20, "1.2345e20"},
        {5e-324, "5e-324"},
        {DBL_MIN, "2.2250738585072014e-308"},
        {-DBL_MAX, "-1.7976931348623157e308"},
        {4.35, "4.35"},
        {0.3, "0.3"},
        {100.0, "100"},
        {1e22, "1e22"},
        {1e23, "1e23"},
        {5e-310, "5e-310"},
        {NAN, "null"},
        {INFINITY, "null"},
        {-INFINITY, "null"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[WSM_DTOA_BUF];
        int len = wsm_dtoa(cases[i].v, buf);
        CHECK_STR(buf, cases[i].s);
        CHECK_EQ_INT(len, strlen(cases[i].s));
    }
    /* every output is a JSON number cJSON reads back to the same double */
    char buf[WSM_DTOA_BUF];
    for (int i = 0; i < 2000; i++) {
        double v = from_bits(rnd64());
        if (!isfinite(v))
            continue;
        wsm_dtoa(v, buf);
        cJSON *j = cJSON_Parse(buf);
        CHECK(cJSON_IsNumber(j) && to_bits(j->valuedouble) == to_bits(v));
        cJSON_Delete(j);
    }
    uint64_t f = 1;
    int e = 1;
    CHECK_EQ_INT(wsm_dtoa_shortest(0.0, &f, &e), 0);
    CHECK_EQ_INT(wsm_dtoa_shortest(-1.0, &f, &e), 0);
    CHECK_EQ_INT(wsm_dtoa_shortest(NAN, &f, &e), 0);
    CHECK_EQ_INT(wsm_dtoa_shortest(1.25e-300, &f, &e), 3);
    CHECK(f == 125 && e == -302);
}

TEST(dtoa_special)
{
    dtoa_failures = 0;
    /* subnormals: every significand below 20000, and the largest ones */
    for (uint64_t c = 1; c < 20000 / (uint64_t)SLOW(); c++) {
        check_dtoa(from_bits(c), true);
        check_dtoa(from_bits((UINT64_C(1) << 52) - c), false);
    }
    /* every power of two and its neighbours (the asymmetric intervals) */
    for (int bq = 1; bq < 0x7ff; bq++) {
        uint64_t b = (uint64_t)bq << 52;
        check_dtoa(from_bits(b), true);
        check_dtoa(from_bits(b + 1), true);
        check_dtoa(from_bits(b - 1), true);
    }
    /* every power of ten that is a double, its neighbours */
    char buf[32];
    for (int k = -323; k <= 308; k++) {
        snprintf(buf, sizeof buf, "1e%d", k);
        double v = strtod(buf, NULL);
        check_dtoa(v, true);
        check_dtoa(nextafter(v, 0), true);
        check_dtoa(nextafter(v, INFINITY), false);
        char out[WSM_DTOA_BUF];
        wsm_dtoa(v, out);
        CHECK(strtod(out, NULL) == v && sig_digits(out, buf) == 1);
    }
    /* one-digit decimals d * 10^k and their neighbours: some are exactly halfway between two
     * doubles (5e22 is), where only the even neighbour may print them */
    for (int k = -323; k <= 308; k++)
        for (int d = 1; d <= 9; d++) {
            snprintf(buf, sizeof buf, "%de%d", d, k);
            double v = strtod(buf, NULL);
            if (v > DBL_MAX)
                break;
            check_dtoa(v, true);
            check_dtoa(nextafter(v, 0), true);
            if (v < DBL_MAX)
                check_dtoa(nextafter(v, INFINITY), true);
        }
    check_dtoa(DBL_MAX, true);
    check_dtoa(DBL_MIN, true);
    check_dtoa(DBL_TRUE_MIN, true);
    /* integers: all below 100000, random ones up to 2^53, and around 2^53 */
    for (int64_t i = 0; i < 100000 / SLOW(); i++)
        check_dtoa((double)i, false);
    for (int i = 0; i < 100000 / SLOW(); i++) {
        double v = (double)(rnd64() >> 11);
        char out[WSM_DTOA_BUF], ref[32];
        wsm_dtoa(v, out);
        snprintf(ref, sizeof ref, "%.0f", v); /* integers below 10^16 print as integers */
        CHECK(strcmp(out, ref) == 0 || dtoa_failures++ > 10);
        check_dtoa(-v, false);
    }
    for (int64_t i = -4; i <= 4; i++)
        check_dtoa((double)((INT64_C(1) << 53) + 2 * i), true);
    CHECK_EQ_INT(dtoa_failures, 0);
}

TEST(dtoa_random)
{
    dtoa_failures = 0;
    long n = iterations();
    for (long i = 0; i < n; i++) {
        uint64_t b = rnd64();
        switch (i & 3) {
        case 1: /* subnormal */
            b &= (UINT64_C(1) << 52) - 1;
            break;
        case 2: /* decimal-looking values: short digit strings */
            b = to_bits((double)(int64_t)(b >> 40) / 1000.0);
            break;
        default:
            break;
        }
        double v = from_bits(b);
        if (isfinite(v))
            check_dtoa(v, (i & 63) == 0);
    }
    CHECK_EQ_INT(dtoa_failures, 0);
}

static long ftoa_failures;

/* wsm_ftoa(v) for one finite float: JSON number, reads back through strtof and through strtod +
 * conversion (what the column decoder does), as few digits as the %.{p}e search, same digits. */
static void check_ftoa(float v)
{
    char buf[WSM_DTOA_BUF], ref[40], d1[24], d2[24];
    int len = wsm_ftoa(v, buf);
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    bool ok = len == (int)strlen(buf) && len <= 17 && json_number(buf) && strtof(buf, NULL) == v &&
              (float)strtod(buf, NULL) == v && signbit(strtof(buf, NULL)) == signbit(v);
    if (ok && v != 0) {
        int n = sig_digits(buf, d1), p = 1;
        for (; p <= 9; p++) {
            snprintf(ref, sizeof ref, "%.*e", p - 1, (double)v);
            if (strtof(ref, NULL) == v)
                break;
        }
        bool irregular = (b & 0x7fffff) == 0 && ((b >> 23) & 0xff) > 1;
        ok = n <= p && (n == p || irregular);
        if (ok && n == p) {
            sig_digits(ref, d2);
            ok = strcmp(d1, d2) == 0;
        }
    }
    if (!ok && ftoa_failures++ < 10) {
        fprintf(stderr, "wsm_ftoa(%a = %.9g) = \"%s\"\n", (double)v, (double)v, buf);
        CHECK(0);
    }
}

TEST(ftoa)
{
    struct {
        float v;
        const char *s;
    } cases[] = {{0.0f, "0"},
                 {-0.0f, "-0"},
                 {1.0f, "1"},
                 {0.1f, "0.1"},
                 {1.0f / 3, "0.33333334"},
                 {16777216.0f, "16777216"},
                 {1e-5f, "1e-5"},
                 {3.4028235e38f, "3.4028235e38"},
                 {1e-45f, "1e-45"},
                 {1.17549435e-38f, "1.1754944e-38"},
                 {-2.5f, "-2.5"},
                 {NAN, "null"},
                 {-INFINITY, "null"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[WSM_DTOA_BUF];
        int len = wsm_ftoa(cases[i].v, buf);
        CHECK_STR(buf, cases[i].s);
        CHECK_EQ_INT(len, strlen(cases[i].s));
    }
    ftoa_failures = 0;
    /* subnormals: the first 20000 and every 97th of the rest; powers of two and neighbours */
    for (uint32_t c = 1; c < (UINT32_C(1) << 23); c += c < 20000 ? 1 : 97 * (uint32_t)SLOW()) {
        float v;
        memcpy(&v, &c, sizeof v);
        check_ftoa(v);
    }
    for (uint32_t bq = 1; bq < 0xff; bq++) {
        uint32_t b = bq << 23;
        float v[3];
        uint32_t bb[3] = {b, b + 1, b - 1};
        memcpy(v, bb, sizeof v);
        for (int k = 0; k < 3; k++)
            check_ftoa(v[k]);
    }
    /* one-digit decimals and their neighbours */
    for (int k = -45; k <= 38; k++)
        for (int d = 1; d <= 9; d++) {
            char buf[16];
            snprintf(buf, sizeof buf, "%de%d", d, k);
            float v = strtof(buf, NULL);
            if (isinf(v) || v == 0)
                continue;
            check_ftoa(v);
            check_ftoa(nextafterf(v, 0));
            check_ftoa(nextafterf(v, INFINITY));
        }
    /* random bit patterns and integers */
    long n = iterations() / 10;
    for (long i = 0; i < n; i++) {
        uint32_t b = (uint32_t)rnd64();
        float v;
        memcpy(&v, &b, sizeof v);
        if (isfinite(v))
            check_ftoa(v);
        check_ftoa((float)(int32_t)(b >> 7));
    }
    CHECK_EQ_INT(ftoa_failures, 0);
}

static long atod_failures;

static void check_atod(const char *s)
{
    char *e1;
    double want = strtod(s, &e1), got = 0;
    const char *e2 = wsm_atod_json(s, s + strlen(s), &got);
    if ((e2 != e1 || to_bits(got) != to_bits(want)) && atod_failures++ < 10) {
        fprintf(stderr, "wsm_atod_json(\"%s\") = %a (end +%td), strtod %a (end +%td)\n", s, got,
                e2 ? e2 - s : -1, want, e1 - s);
        CHECK(0);
    }
}

TEST(atod_cases)
{
    atod_failures = 0;
    const char *ok[] = {
        "0",
        "-0",
        "0.0",
        "-0.0",
        "1",
        "-1",
        "0.1",
        "1e0",
        "1E+2",
        "1e-2",
        "123.456e-7",
        "9007199254740992",
        "9007199254740993",
        "9007199254740995",
        "18014398509481989",
        "1e22",
        "1e23",
        "-1e23",
        "2.2250738585072011e-308",
        "2.2250738585072012e-308",
        "2.2250738585072014e-308",
        "4.9406564584124654e-324",
        "5e-324",
        "2.4703282292062327e-324",
        "2.4703282292062328e-324",
        "1e-400",
        "-1e-400",
        "1.7976931348623157e308",
        "1.7976931348623158e308",
        "1.7976931348623159e308",
        "1e309",
        "-1e400",
        "1e99999999999999999999",
        "1e-99999999999999999999",
        "0e999999",
        "7.2057594037927933e16",
        "0.000000000000000000000000001",
        "12345678901234567890",
        "1234567890123456789",
        "18446744073709551615",
        "18446744073709551616",
        "0.1000000000000000055511151231257827",
        "3.141592653589793238462643383279502884197169399375105820974944592307816406286",
        "8.98846567431158e307",
        "4503599627370496.5",
        "4503599627370497.5",
        "9007199254740993.0000000000000000000000000000000000000001"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        check_atod(ok[i]);
    /* a number longer than the parser's stack copy */
    char longnum[400];
    memset(longnum, '1', 300);
    longnum[0] = '9';
    memcpy(longnum + 300, "e-200", 6);
    check_atod(longnum);
    longnum[150] = '.';
    check_atod(longnum);
    /* where the grammar stops */
    double v = 7;
    const char *s = "01";
    CHECK(wsm_atod_json(s, s + 2, &v) == s + 1 && v == 0);
    s = "1.5x";
    CHECK(wsm_atod_json(s, s + 4, &v) == s + 3 && v == 1.5);
    s = "-2e3,";
    CHECK(wsm_atod_json(s, s + 5, &v) == s + 4 && v == -2000);
    s = "12345"; /* the end bound is respected: no NUL needed */
    CHECK(wsm_atod_json(s, s + 3, &v) == s + 3 && v == 123);
    /* every cut of long digit runs (read 8 at a time) equals strtod of the cut text */
    const char *runs[] = {"12345678901234567890123", "0.000123456789012345678901",
                          "-98765432.10987654321e-3", "1234567812345678.8765432187654321"};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++)
        for (size_t cut = 1; cut <= strlen(runs[i]); cut++) {
            char pre[64];
            memcpy(pre, runs[i], cut);
            pre[cut] = 0;
            char *e1;
            double want = strtod(pre, &e1);
            const char *e2 = wsm_atod_json(runs[i], runs[i] + cut, &v);
            /* strtod takes "1." whole, JSON does not; "1e-" is no number for either */
            bool complete = e1 == pre + cut && pre[cut - 1] != '.';
            CHECK(complete ? (e2 == runs[i] + cut && to_bits(v) == to_bits(want))
                           : (e2 == NULL || e2 - runs[i] == e1 - pre));
        }
    const char *bad[] = {"",    "-",  "+1", ".5",       "1.",  "1.e5", "1e",
                         "1e+", "-x", "x",  "Infinity", "NaN", " 1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 7;
        CHECK(wsm_atod_json(bad[i], bad[i] + strlen(bad[i]), &v) == NULL && v == 7);
    }
    s = "1.5";
    CHECK(wsm_atod_json(s, s + 2, &v) == NULL); /* "1." once cut at the bound */
    CHECK_EQ_INT(atod_failures, 0);
}

TEST(atod_random)
{
    atod_failures = 0;
    long n = iterations();
    char buf[128];
    for (long i = 0; i < n; i++) {
        int len = 0;
        switch (i % 4) {
        case 0: { /* the printer's outputs */
            double v = from_bits(rnd64());
            if (!isfinite(v))
                continue;
            wsm_dtoa(v, buf);
            break;
        }
        case 1: /* %.17g of random doubles (the old encoder's text) */
            snprintf(buf, sizeof buf, "%.17g", from_bits(rnd64() >> (rnd64() & 1)));
            if (!json_number(buf))
                continue;
            break;
        default: { /* random digits, point, exponent */
            uint64_t r = rnd64();
            if (r & 1)
                buf[len++] = '-';
            int nd = 1 + (int)((r >> 1) % (i % 4 == 2 ? 20 : 45));
            int dot = (int)((r >> 8) % (uint64_t)(nd + 1));
            for (int k = 0; k < nd; k++) {
                if (k == dot && k > 0)
                    buf[len++] = '.';
                uint64_t d = rnd64() % 10;
                if (k == 0 && nd > 1 && dot != 1 && d == 0)
                    d = 1 + rnd64() % 9; /* no leading zero before more integer digits */
                buf[len++] = (char)('0' + d);
            }
            if ((r >> 16) & 1) {
                buf[len++] = (r >> 17) & 1 ? 'e' : 'E';
                int sgn = (int)((r >> 18) % 3);
                if (sgn)
                    buf[len++] = sgn == 1 ? '-' : '+';
                len += snprintf(buf + len, sizeof buf - (size_t)len, "%d",
                                (int)((r >> 20) % ((r >> 40) & 1 ? 30 : 400)));
            }
            buf[len] = 0;
            break;
        }
        }
        check_atod(buf);
    }
    CHECK_EQ_INT(atod_failures, 0);
}

int main(void)
{
    RUN(dtoa_layout);
    RUN(dtoa_special);
    RUN(dtoa_random);
    RUN(ftoa);
    RUN(atod_cases);
    RUN(atod_random);
    return TEST_DONE();
}
