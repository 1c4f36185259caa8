/*
 * wsm_dtoa.h - shortest round-trip formatting of doubles and floats (the JSON encoder's number
 * printer).
 *
 * wsm_dtoa writes the shortest decimal that reads back (strtod, round to nearest even) as
 * exactly the same double, and among the shortest the one closest to the double. The text is a
 * valid JSON number: "-0", "0", "1.5", "0.0001", "123", "1e-5", "1.2345e20". Fixed notation
 * when the decimal exponent X (value = d.ddd * 10^X) is in -4..15, so every integer below
 * 10^16 prints as an integer; otherwise scientific with a bare exponent ("e20", "e-7").
 * Thread-safe, no allocation, locale-independent.
 */
#ifndef WSM_DTOA_H
#define WSM_DTOA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes a wsm_dtoa buffer needs: the longest output ("-1.2345678901234567e-308") + NUL. */
#define WSM_DTOA_BUF 32

/* Writes v into buf (NUL-terminated) and returns the number of characters (without the NUL),
 * 1..24. Non-finite values have no JSON number: NaN and +-Inf write "null" (returns 4). */
int wsm_dtoa(double v, char *buf);

/* The same for a float: the shortest text that strtof - and strtod followed by a conversion to
 * float - read back as exactly v, in the same layout; at most 9 digits, 1..17 characters.
 * NaN and +-Inf write "null" (returns 4). */
int wsm_ftoa(float v, char *buf);

/* The shortest decimal of a finite v > 0: v reads back from *digits * 10^*exp10, *digits has
 * no trailing zeros and 1..17 digits. Returns the number of digits; 0 (outputs untouched)
 * if v is not finite and > 0. */
int wsm_dtoa_shortest(double v, uint64_t *digits, int *exp10);

#ifdef __cplusplus
}
#endif
#endif
