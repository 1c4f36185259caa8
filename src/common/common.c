/*
 * common.c - status code names, error formatting, logging, clocks, random ids and UTF-8
 * validation: the small leaf utilities every part of wsmesh uses.
 *
 * Invariant: nothing here allocates except wsm_buf (buf.c); the only process-wide state is
 * the log threshold.
 */
#include "wsm_common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static const char *const code_names[WSM_CODE_COUNT] = {
    [WSM_OK] = "OK",
    [WSM_E_BAD_JSON] = "BAD_JSON",
    [WSM_E_BAD_FRAME] = "BAD_FRAME",
    [WSM_E_UNKNOWN_OP] = "UNKNOWN_OP",
    [WSM_E_BAD_FIELD] = "BAD_FIELD",
    [WSM_E_TOO_LARGE] = "TOO_LARGE",
    [WSM_E_QUEUE_FULL] = "QUEUE_FULL",
    [WSM_E_NO_SUCH_QUEUE] = "NO_SUCH_QUEUE",
    [WSM_E_NO_SUCH_JOB] = "NO_SUCH_JOB",
    [WSM_E_DUPLICATE_ID] = "DUPLICATE_ID",
    [WSM_E_UNAUTHORIZED] = "UNAUTHORIZED",
    [WSM_E_FORBIDDEN] = "FORBIDDEN",
    [WSM_E_BAD_STATE] = "BAD_STATE",
    [WSM_E_UNSUPPORTED_VERSION] = "UNSUPPORTED_VERSION",
    [WSM_E_SHUTTING_DOWN] = "SHUTTING_DOWN",
    [WSM_E_LIMIT] = "LIMIT",
    [WSM_E_INTERNAL] = "INTERNAL",
    [WSM_E_TIMEOUT] = "TIMEOUT",
    [WSM_E_CONNECT] = "CONNECT",
    [WSM_E_NOMEM] = "NOMEM",
    [WSM_E_IO] = "IO",
};

const char *wsm_code_name(int code)
{
    if (code < 0)
        code = -code;
    if (code >= WSM_CODE_COUNT)
        return "INTERNAL";
    return code_names[code];
}

int wsm_code_from_name(const char *name)
{
    if (!name)
        return WSM_E_INTERNAL;
    for (int i = 0; i < WSM_CODE_COUNT; i++)
        if (strcmp(code_names[i], name) == 0)
            return i;
    return WSM_E_INTERNAL;
}

int wsm_err_set(wsm_err *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        e->code = code;
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---------------------------------------------------------------- logging */

static wsm_log_level log_threshold = WSM_LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

void wsm_log_set_level(wsm_log_level lvl)
{
    log_threshold = lvl;
}

wsm_log_level wsm_log_get_level(void)
{
    return log_threshold;
}

int wsm_log_parse_level(const char *s, wsm_log_level *out)
{
    for (int i = 0; s && i <= WSM_LOG_TRACE; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (wsm_log_level)i;
            return 0;
        }
    }
    return -1;
}

void wsm_log(wsm_log_level lvl, const char *component, const char *fmt, ...)
{
    if (lvl > log_threshold)
        return;
    char line[2048], ts[32];
    wsm_format_iso8601(wsm_wall_ms(), ts);
    int n = snprintf(line, sizeof line, "%s %-5s %s: ", ts, level_names[lvl],
                     component ? component : "-");
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    /* one write(2)-sized fwrite keeps lines of concurrent threads whole */
    fwrite(line, 1, len, stderr);
}

/* ---------------------------------------------------------------- time */

int64_t wsm_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t wsm_mono_ms(void)
{
    return wsm_mono_us() / 1000;
}

int64_t wsm_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void wsm_format_iso8601(int64_t wall_ms, char out[32])
{
    time_t s = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
             (tm.tm_mon + 1) % 100, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(wall_ms % 1000));
}

/* ---------------------------------------------------------------- ids */

void wsm_random_id(char out[21])
{
    unsigned char r[10];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t k = getrandom(r + got, sizeof r - got, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            /* getrandom cannot fail on Linux >= 3.17 with a valid buffer; fall back to the
             * clock so that an id is still produced */
            int64_t t = wsm_mono_us();
            memcpy(r, &t, sizeof t);
            break;
        }
        got += (size_t)k;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof r; i++) {
        out[2 * i] = hex[r[i] >> 4];
        out[2 * i + 1] = hex[r[i] & 15];
    }
    out[20] = 0;
}

/* ---------------------------------------------------------------- UTF-8 */

bool wsm_utf8_valid(const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t i = 0;
    while (i < n) {
        /* fast path: 8 ASCII bytes at a time */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned min;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            min = 0x10000;
        } else {
            return false;
        }
        if (n - i <= need)
            return false;
        unsigned cp = c & (0x3F >> need);
        for (size_t k = 1; k <= need; k++) {
            unsigned d = s[i + k];
            if ((d & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (d & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += need + 1;
    }
    return true;
}
