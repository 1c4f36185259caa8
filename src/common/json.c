/*
 * json.c - typed readers for members of JSON objects, with error messages that name the
 * JSON path of the offending field ("queues.aeb.max_length: expected integer >= 1").
 *
 * Used by the config loader and every protocol op handler, so that every bad input gets
 * the same kind of answer. Lookups are case-sensitive (cJSON_GetObjectItemCaseSensitive).
 */
#include "wsm_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *sep(const char *path)
{
    return (path && *path) ? "." : "";
}

static const cJSON *member(const cJSON *obj, const char *path, const char *key, bool required,
                           wsm_err *err, int *rc)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *rc = 0;
    if (!v || cJSON_IsNull(v)) {
        if (required)
            *rc = -1,
            wsm_err_set(err, WSM_E_BAD_FIELD, "%s%s%s: required", path ? path : "", sep(path), key);
        return NULL;
    }
    return v;
}

#define BAD(expect)                                                                                \
    (wsm_err_set(err, WSM_E_BAD_FIELD, "%s%s%s: expected %s", path ? path : "", sep(path), key,    \
                 expect),                                                                          \
     -1)

int wsm_json_str(const cJSON *obj, const char *path, const char *key, bool required,
                 const char **out, wsm_err *err)
{
    int rc;
    const cJSON *v = member(obj, path, key, required, err, &rc);
    if (!v)
        return rc;
    if (!cJSON_IsString(v))
        return BAD("string");
    *out = v->valuestring;
    return 1;
}

int wsm_json_bool(const cJSON *obj, const char *path, const char *key, bool required, bool *out,
                  wsm_err *err)
{
    int rc;
    const cJSON *v = member(obj, path, key, required, err, &rc);
    if (!v)
        return rc;
    if (!cJSON_IsBool(v))
        return BAD("boolean");
    *out = cJSON_IsTrue(v);
    return 1;
}

int wsm_json_int(const cJSON *obj, const char *path, const char *key, bool required, int64_t min,
                 int64_t max, int64_t *out, wsm_err *err)
{
    int rc;
    const cJSON *v = member(obj, path, key, required, err, &rc);
    if (!v)
        return rc;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!isfinite(d) || d != floor(d) || d < (double)min || d > (double)max) {
        char what[96];
        if (max == INT64_MAX)
            snprintf(what, sizeof what, "integer >= %lld", (long long)min);
        else
            snprintf(what, sizeof what, "integer in [%lld, %lld]", (long long)min, (long long)max);
        return BAD(what);
    }
    *out = (int64_t)d;
    return 1;
}

int wsm_json_num(const cJSON *obj, const char *path, const char *key, bool required, double min,
                 double max, double *out, wsm_err *err)
{
    int rc;
    const cJSON *v = member(obj, path, key, required, err, &rc);
    if (!v)
        return rc;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!isfinite(d) || d < min || d > max) {
        char what[96];
        snprintf(what, sizeof what, "number in [%g, %g]", min, max);
        return BAD(what);
    }
    *out = d;
    return 1;
}

int wsm_json_obj(const cJSON *obj, const char *path, const char *key, bool required,
                 const cJSON **out, wsm_err *err)
{
    int rc;
    const cJSON *v = member(obj, path, key, required, err, &rc);
    if (!v)
        return rc;
    if (!cJSON_IsObject(v))
        return BAD("object");
    *out = v;
    return 1;
}

int wsm_json_arr(const cJSON *obj, const char *path, const char *key, bool required,
                 const cJSON **out, wsm_err *err)
{
    int rc;
    const cJSON *v = member(obj, path, key, required, err, &rc);
    if (!v)
        return rc;
    if (!cJSON_IsArray(v))
        return BAD("array");
    *out = v;
    return 1;
}

int wsm_json_no_unknown(const cJSON *obj, const char *path, const char *const *known, wsm_err *err)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, obj)
    {
        bool ok = false;
        for (const char *const *k = known; *k && !ok; k++)
            ok = c->string && strcmp(c->string, *k) == 0;
        if (!ok) {
            wsm_err_set(err, WSM_E_BAD_FIELD, "%s%s%s: unknown key", path ? path : "", sep(path),
                        c->string ? c->string : "?");
            return -1;
        }
    }
    return 0;
}

int wsm_json_append(wsm_buf *b, const cJSON *v)
{
    char *s = cJSON_PrintUnformatted(v);
    if (!s)
        return WSM_E_NOMEM;
    int rc = wsm_buf_append_str(b, s);
    cJSON_free(s);
    return rc;
}
