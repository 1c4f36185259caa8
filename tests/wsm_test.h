/*
 * wsm_test.h - the minimal unit-test harness shared by tests/unit: CHECK-style assertions
 * that report file:line and the compared values, and a runner that executes the TEST cases
 * of one file and exits non-zero if any check failed (meson counts the executable as one test).
 *
 *   TEST(name) { CHECK(x == 1); CHECK_EQ_INT(a, b); CHECK_STR(s, "x"); CHECK_NEAR(d, 1.0, 1e-9); }
 *   int main(void) { RUN(name); return TEST_DONE(); }
 */
#ifndef WSM_TEST_H
#define WSM_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* WSM_TEST_SLOW(): 10 under valgrind (about 50x slower), else 1: divide the iteration count of
 * long randomised loops by it so the valgrind run stays within meson's timeout. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifdef RUNNING_ON_VALGRIND
#define WSM_TEST_SLOW() (RUNNING_ON_VALGRIND ? 10 : 1)
#else
#define WSM_TEST_SLOW() 1
#endif

/* wsm_test_rand(&state): the next value of a xorshift64 generator, for randomised tests that
 * repeat run after run (state: a file's own static uint64_t, seeded non-zero). */
static inline uint64_t wsm_test_rand(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

static int wsm_test_failures;
static int wsm_test_checks;
static const char *wsm_test_current;

#define TEST(name) static void name(void)
#define RUN(name)                                                                                  \
    do {                                                                                           \
        int before_ = wsm_test_failures;                                                           \
        wsm_test_current = #name;                                                                  \
        name();                                                                                    \
        printf("%s %s\n", wsm_test_failures == before_ ? "ok  " : "FAIL", #name);                  \
    } while (0)
#define TEST_DONE()                                                                                \
    (printf("%d checks, %d failed\n", wsm_test_checks, wsm_test_failures),                         \
     wsm_test_failures ? 1 : 0)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        wsm_test_checks++;                                                                         \
        if (!(cond)) {                                                                             \
            wsm_test_failures++;                                                                   \
            fprintf(stderr, "%s:%d: [%s] CHECK(%s) failed\n", __FILE__, __LINE__,                  \
                    wsm_test_current, #cond);                                                      \
        }                                                                                          \
    } while (0)
#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        wsm_test_checks++;                                                                         \
        if (a_ != b_) {                                                                            \
            wsm_test_failures++;                                                                   \
            fprintf(stderr, "%s:%d: [%s] %s == %s failed: %lld != %lld\n", __FILE__, __LINE__,     \
                    wsm_test_current, #a, #b, a_, b_);                                             \
        }                                                                                          \
    } while (0)
#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        wsm_test_checks++;                                                                         \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                   \
            wsm_test_failures++;                                                                   \
            fprintf(stderr, "%s:%d: [%s] %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, \
                    wsm_test_current, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");             \
        }                                                                                          \
    } while (0)
#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b);                                                 \
        wsm_test_checks++;                                                                         \
        if (!(fabs(a_ - b_) <= (tol))) {                                                           \
            wsm_test_failures++;                                                                   \
            fprintf(stderr, "%s:%d: [%s] %s ~ %s failed: %.12g vs %.12g (tol %g)\n", __FILE__,     \
                    __LINE__, wsm_test_current, #a, #b, a_, b_, (double)(tol));                    \
        }                                                                                          \
    } while (0)

#endif
