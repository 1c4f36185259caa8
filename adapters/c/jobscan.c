/*
 * jobscan.c - one-pass reader of the hub's `job` header (see jobscan.h for what it accepts and
 * why anything else goes to the general cJSON path).
 *
 * The grammar checked here is strict JSON without whitespace, minus \u escapes, raw control
 * characters in strings, numbers longer than MAX_NUM characters and nesting deeper than
 * MAX_DEPTH: a subset of what cJSON 1.7 accepts (cJSON reads at most 63 characters of a
 * number and nests up to 1000 levels), so an accepted header always parses with cJSON too.
 */
#include "jobscan.h"

#include <string.h>

#include "wsm_frame.h"

#define MAX_DEPTH 64
#define MAX_NUM   40

typedef struct sc {
    const unsigned char *p;
    size_t i, end; /* position and end of the header line */
} sc;

/* A string starting at the opening quote at s->i. plain: no backslash allowed (the fixed
 * members, used in place). On success s->i is past the closing quote and *sp spans the
 * characters. */
static bool scan_string(sc *s, bool plain, js_span *sp)
{
    size_t i = s->i + 1;
    const unsigned char *p = s->p;
    size_t start = i;
    for (;;) {
        /* 8 bytes at a time while none is '"', '\\' or a control character */
        while (i + 8 <= s->end) {
            uint64_t v;
            memcpy(&v, p + i, 8);
            const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
            uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
            uint64_t special = ((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v);
            if (special & high) {
                /* the lowest flagged byte is exact (false flags only sit above a true one) */
                i += (size_t)__builtin_ctzll(special & high) / 8;
                break;
            }
            i += 8;
        }
        if (i >= s->end)
            return false;
        unsigned char ch = p[i];
        if (ch == '"')
            break;
        if (ch < 0x20)
            return false;
        if (ch == '\\') {
            if (plain || i + 1 >= s->end)
                return false;
            switch (p[i + 1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                i += 2;
                continue;
            default: /* \u and anything else: the general path decides */
                return false;
            }
        }
        i++;
    }
    if (sp) {
        sp->off = (uint32_t)start;
        sp->len = (uint32_t)(i - start);
    }
    s->i = i + 1;
    return true;
}

/* A strict JSON number at s->i. *integer: it has no fraction or exponent. */
static bool scan_number(sc *s, bool *integer)
{
    const unsigned char *p = s->p;
    size_t i = s->i, start = i;
    bool in = true;
    if (i < s->end && p[i] == '-')
        i++;
    if (i >= s->end)
        return false;
    if (p[i] == '0') {
        i++;
    } else if (p[i] >= '1' && p[i] <= '9') {
        while (i < s->end && p[i] >= '0' && p[i] <= '9')
            i++;
    } else {
        return false;
    }
    if (i < s->end && p[i] == '.') {
        in = false;
        i++;
        size_t d = i;
        while (i < s->end && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    if (i < s->end && (p[i] == 'e' || p[i] == 'E')) {
        in = false;
        i++;
        if (i < s->end && (p[i] == '+' || p[i] == '-'))
            i++;
        size_t d = i;
        while (i < s->end && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    if (i - start > MAX_NUM)
        return false;
    if (integer)
        *integer = in;
    s->i = i;
    return true;
}

static bool scan_lit(sc *s, const char *w, size_t n)
{
    if (s->end - s->i < n || memcmp(s->p + s->i, w, n) != 0)
        return false;
    s->i += n;
    return true;
}

static bool scan_value(sc *s, int depth)
{
    if (s->i >= s->end)
        return false;
    switch (s->p[s->i]) {
    case '"':
        return scan_string(s, false, NULL);
    case 't':
        return scan_lit(s, "true", 4);
    case 'f':
        return scan_lit(s, "false", 5);
    case 'n':
        return scan_lit(s, "null", 4);
    case '{':
    case '[': {
        bool obj = s->p[s->i] == '{';
        char close = obj ? '}' : ']';
        if (depth >= MAX_DEPTH)
            return false;
        s->i++;
        if (s->i < s->end && s->p[s->i] == close) {
            s->i++;
            return true;
        }
        for (;;) {
            if (obj) {
                if (s->i >= s->end || s->p[s->i] != '"' || !scan_string(s, false, NULL) ||
                    s->i >= s->end || s->p[s->i] != ':')
                    return false;
                s->i++;
            }
            if (!scan_value(s, depth + 1) || s->i >= s->end)
                return false;
            if (s->p[s->i] == ',') {
                s->i++;
                continue;
            }
            if (s->p[s->i] != close)
                return false;
            s->i++;
            return true;
        }
    }
    default:
        return scan_number(s, NULL);
    }
}

/* A non-negative or signed integer of at most 15 digits (exact as a double, as cJSON reads
 * it). */
static bool scan_int(sc *s, bool allow_neg, int64_t *out)
{
    size_t start = s->i;
    bool integer;
    if (!scan_number(s, &integer) || !integer)
        return false;
    const unsigned char *p = s->p + start;
    size_t n = s->i - start;
    bool neg = p[0] == '-';
    if (neg && !allow_neg)
        return false;
    if (neg) {
        p++;
        n--;
    }
    if (n > 15 || (neg && n == 1 && p[0] == '0')) /* -0: rare, left to the general path */
        return false;
    int64_t v = 0;
    for (size_t k = 0; k < n; k++)
        v = v * 10 + (p[k] - '0');
    *out = neg ? -v : v;
    return true;
}

enum js_member jobscan_member(const void *name, size_t n)
{
    const unsigned char *k = name;
#define IS(lit) (n == sizeof lit - 1 && memcmp(k, lit, n) == 0)
    switch (n ? k[0] : 0) {
    case 'a':
        return IS("args") ? JSM_ARGS : IS("attempt") ? JSM_ATTEMPT : JSM_OTHER;
    case 'c':
        return IS("content_type") ? JSM_CT : JSM_OTHER;
    case 'd':
        return IS("deadline_at") ? JSM_DEADLINE : JSM_OTHER;
    case 'j':
        return IS("job_id") ? JSM_JOB_ID : JSM_OTHER;
    case 'k':
        return IS("key") ? JSM_KEY : JSM_OTHER;
    case 'l':
        return IS("len") ? JSM_LEN : JSM_OTHER;
    case 'm':
        return IS("meta") ? JSM_META : JSM_OTHER;
    case 'o':
        return IS("op") ? JSM_REFUSE : JSM_OTHER;
    case 'p':
        return IS("parent") ? JSM_PARENT : IS("payload_meta") ? JSM_PMETA : JSM_OTHER;
    case 'q':
        return IS("queue") ? JSM_QUEUE : JSM_OTHER;
    case 'r':
        return IS("root") ? JSM_ROOT : IS("ref") ? JSM_REFUSE : JSM_OTHER;
    case 's':
        return IS("state") ? JSM_STATE : JSM_OTHER;
    default:
        return JSM_OTHER;
    }
#undef IS
}

bool jobscan_parse(const unsigned char *data, size_t n, size_t max_header, jobscan *out)
{
    static const char pre[] = "{\"op\":\"job\",";
    const size_t pl = sizeof pre - 1;
    if (n < pl || memcmp(data, pre, pl) != 0)
        return false;
    if (!max_header)
        max_header = WSM_MAX_HEADER_DEFAULT;
    size_t lim = n < max_header + 1 ? n : max_header + 1;
    if (lim > UINT32_MAX)
        lim = UINT32_MAX;
    const unsigned char *nl = memchr(data, '\n', lim);
    if (!nl)
        return false;
    memset(out, 0, sizeof *out);
    out->attempt = 1;
    sc s = {.p = data, .i = pl, .end = (size_t)(nl - data)};
    bool seen[JSM_REFUSE] = {0};
    /* where each member's span goes: string members, JSON value members */
    js_span *const str_of[JSM_COUNT] = {
        [JSM_JOB_ID] = &out->job_id, [JSM_QUEUE] = &out->queue, [JSM_KEY] = &out->key,
        [JSM_PARENT] = &out->parent, [JSM_ROOT] = &out->root,   [JSM_CT] = &out->content_type};
    js_span *const val_of[JSM_COUNT] = {[JSM_ARGS] = &out->args,
                                        [JSM_META] = &out->meta,
                                        [JSM_STATE] = &out->state,
                                        [JSM_PMETA] = &out->payload_meta};
    for (;;) {
        js_span k;
        if (s.i >= s.end || data[s.i] != '"' || !scan_string(&s, true, &k) || s.i >= s.end ||
            data[s.i] != ':')
            return false;
        s.i++;
        enum js_member m = jobscan_member(data + k.off, k.len);
        if (m == JSM_REFUSE || (m != JSM_OTHER && seen[m]))
            return false;
        seen[m] = true;
        size_t vstart = s.i;
        js_span *str = str_of[m], *val = val_of[m];
        int64_t num;
        if (str) {
            if (s.i >= s.end || data[s.i] != '"' || !scan_string(&s, true, str))
                return false;
        } else if (m == JSM_ATTEMPT) {
            if (!scan_int(&s, false, &num) || num < 1 || num > INT32_MAX)
                return false;
            out->attempt = (int)num;
        } else if (m == JSM_DEADLINE) {
            if (!scan_int(&s, true, &num))
                return false;
            out->deadline_at = num;
        } else if (m == JSM_LEN) {
            if (!scan_int(&s, false, &num))
                return false;
            out->len = (size_t)num;
        } else {
            if (!scan_value(&s, 1))
                return false;
            if (val) {
                val->off = (uint32_t)vstart;
                val->len = (uint32_t)(s.i - vstart);
            }
        }
        if (s.i >= s.end)
            return false;
        if (data[s.i] == ',') {
            s.i++;
            continue;
        }
        if (data[s.i] != '}' || s.i + 1 != s.end)
            return false;
        break;
    }
    if (!out->job_id.off || !out->queue.off)
        return false;
    out->hdr_len = s.end;
    if (out->len > n - (s.end + 1))
        return false;
    out->total = s.end + 1 + out->len;
    return true;
}
