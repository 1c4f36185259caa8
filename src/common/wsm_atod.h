/*
 * wsm_atod.h - fast, exact parsing of JSON numbers to doubles (the JSON column decoder's number
 * reader).
 *
 * wsm_atod_json reads one number of the JSON grammar (RFC 8259:
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?) and returns exactly the double strtod returns
 * for the same text (round to nearest even, -0, subnormals, +-HUGE_VAL on overflow). Fast
 * paths: up to 19 significant digits are converted with exact arithmetic (Clinger's exact
 * floating-point path when the digits and the power of ten are both exact doubles, else the
 * Eisel-Lemire 128-bit product with its ambiguity checks); everything else (more digits,
 * ambiguous halfway products, subnormal or overflowing results) goes to the C library's strtod,
 * which assumes the "C" LC_NUMERIC locale like every other reader here. Thread-safe; allocates
 * only for a number of more than 127 characters that needs strtod.
 */
#ifndef WSM_ATOD_H
#define WSM_ATOD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Parses the JSON number at the start of [p, end) (end need not be a NUL; nothing is read at
 * or past end) and stops at the first byte the grammar does not allow ("01" reads "0", "1-"
 * reads "1"). Returns that byte's address and stores the value in *out; returns NULL (*out
 * untouched) if [p, end) does not start with a JSON number ("+1", ".5", "-", "x") or the number
 * is cut off ("1.", "1e", "1e+"), or if a number of more than 127 characters needs strtod and
 * there is no memory for its copy. */
const char *wsm_atod_json(const char *p, const char *end, double *out);

#ifdef __cplusplus
}
#endif
#endif
