/*
 * meshctl.h - what meshctl's commands (meshctl.c, ingest.c) share: the exit statuses and the
 * small readers of hub replies and numeric arguments. Header-only (static inline).
 */
#ifndef MESHCTL_H
#define MESHCTL_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <wsmesh.h>

enum {
    EX_OK = 0,
    EX_FAILED = 1,
    EX_USAGE = 2,
    EX_CONNECT = 3,
    EX_REFUSED = 4,
    EX_AUTH = 5,
    EX_TIMEOUT = 6
};

/* o[k] if it is a string, else dflt. */
static inline const char *jstr(const cJSON *o, const char *k, const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

/* o[k] if it is a number, else dflt. */
static inline double jnum_or(const cJSON *o, const char *k, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* o[k] if it is a number, else 0. */
static inline double jnum(const cJSON *o, const char *k)
{
    return jnum_or(o, k, 0);
}

/* The whole of s as a number (strtod syntax); false for anything else. */
static inline bool parse_num(const char *s, double *out)
{
    char *e;
    errno = 0;
    double d = strtod(s, &e);
    if (errno || e == s || *e)
        return false;
    *out = d;
    return true;
}

#endif
