/*
 * wsm_num_tables.h - internal: the generated power-of-ten tables shared by wsm_dtoa.c and
 * wsm_atod.c (see gen_num_tables.py for their exact definition). Not a public API.
 */
#ifndef WSM_NUM_TABLES_H
#define WSM_NUM_TABLES_H

#include <stdint.h>

#define WSM_DTOA_K_MIN (-324)
#define WSM_DTOA_K_MAX 292
#define WSM_ATOD_E_MIN (-348)
#define WSM_ATOD_E_MAX 347

/* g(k) ~ 10^-k scaled to [2^125, 2^126) and rounded up, as two 63-bit limbs {high, low}. */
extern const uint64_t wsm_dtoa_g[WSM_DTOA_K_MAX - WSM_DTOA_K_MIN + 1][2];
/* m(e) ~ 10^e scaled to [2^127, 2^128) and rounded down, as {high 64, low 64}. */
extern const uint64_t wsm_atod_pow10[WSM_ATOD_E_MAX - WSM_ATOD_E_MIN + 1][2];

#endif
