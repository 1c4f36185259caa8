/*
 * jsonw.c - direct JSON formatting of the client's request headers (see jsonw.h).
 *
 * Why: building a cJSON tree for every enqueue (a duplicate of args, one node per member) and
 * printing it (sprintf per number, a malloc'd string) cost ~8,500 instructions per small job
 * in the producer; writing the same text straight into the connection's output batch costs a
 * few hundred. The text is what cJSON_PrintUnformatted prints for the same values, except
 * numbers, which are the shortest text that reads back as the same double (wsm_dtoa), and
 * strings, which are checked as UTF-8 on the way (JSON text must be UTF-8, RFC 8259 §8.1: a
 * header with bad UTF-8 is refused here with WSM_E_USAGE instead of reaching the hub).
 *
 * Invariants: every function either appends a complete value or leaves b->len as it was.
 */
#include "jsonw.h"

#include <math.h>
#include <string.h>

#include "wsm_dtoa.h"

#define MAX_DEPTH 10000

/* Any byte of x that needs a look: < 0x20, '"', '\\' or >= 0x80. */
static inline uint64_t special8(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t q = x ^ (ones * '"'), s = x ^ (ones * '\\');
    return (x | ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((s - ones) & ~s)) & high;
}

int jw_strn(wsm_buf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t mark = b->len;
    if (b->cap - b->len < n + 2 && wsm_buf_reserve(b, n + 2) != 0)
        return WSM_E_NOMEM;
    b->data[b->len++] = '"';
    size_t i = 0, run = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t x;
            memcpy(&x, s + i, 8);
            if (!special8(x)) {
                i += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            /* a multi-byte sequence holds only bytes >= 0x80: check the whole run at once */
            size_t j = i + 1;
            while (j < n && s[j] >= 0x80)
                j++;
            if (!wsm_utf8_valid(s + i, j - i)) {
                b->len = mark;
                return WSM_E_USAGE;
            }
            i = j;
            continue;
        }
        /* an escape: copy the run before it, then the escape (at most 6 bytes) */
        if (wsm_buf_reserve(b, (i - run) + 6 + (n - i) + 1) != 0) {
            b->len = mark;
            return WSM_E_NOMEM;
        }
        memcpy(b->data + b->len, s + run, i - run);
        b->len += i - run;
        char *o = (char *)b->data + b->len;
        static const char hex[] = "0123456789abcdef";
        o[0] = '\\';
        switch (c) {
        case '"':
        case '\\':
            o[1] = (char)c;
            break;
        case '\b':
            o[1] = 'b';
            break;
        case '\f':
            o[1] = 'f';
            break;
        case '\n':
            o[1] = 'n';
            break;
        case '\r':
            o[1] = 'r';
            break;
        case '\t':
            o[1] = 't';
            break;
        default:
            memcpy(o + 1, "u00", 3);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            b->len += 4;
            break;
        }
        b->len += 2;
        run = ++i;
    }
    if (b->cap - b->len < (n - run) + 1 && wsm_buf_reserve(b, (n - run) + 1) != 0) {
        b->len = mark;
        return WSM_E_NOMEM;
    }
    memcpy(b->data + b->len, s + run, n - run);
    b->len += n - run;
    b->data[b->len++] = '"';
    return 0;
}

int jw_str(wsm_buf *b, const char *s)
{
    return jw_strn(b, s ? s : "", s ? strlen(s) : 0);
}

static inline int put(wsm_buf *b, const char *s, size_t n)
{
    if (b->cap - b->len < n && wsm_buf_reserve(b, n) != 0)
        return WSM_E_NOMEM;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

size_t jw_u64_text(char *o, uint64_t v)
{
    char t[24];
    size_t i = sizeof t;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(o, t + i, sizeof t - i);
    return sizeof t - i;
}

/* Decimal digits of v (sign included) at the end of b. */
static int put_int(wsm_buf *b, int64_t v)
{
    char t[24];
    size_t n = 0;
    if (v < 0)
        t[n++] = '-';
    n += jw_u64_text(t + n, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
    return put(b, t, n);
}

/* A number as wsm_dtoa writes it; whole numbers below 2^53 (wsm_dtoa's text for them is
 * their digits) without its digit search. */
static int put_num(wsm_buf *b, double v)
{
    if (v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(int64_t)v &&
        !(v == 0 && signbit(v)))
        return put_int(b, (int64_t)v);
    if (wsm_buf_reserve(b, WSM_DTOA_BUF) != 0)
        return WSM_E_NOMEM;
    b->len += (size_t)wsm_dtoa(v, (char *)b->data + b->len);
    return 0;
}

static int value(wsm_buf *b, const cJSON *v, int depth)
{
    if (!v)
        return put(b, "null", 4);
    if (depth > MAX_DEPTH)
        return WSM_E_USAGE;
    switch (v->type & 0xff) {
    case cJSON_NULL:
        return put(b, "null", 4);
    case cJSON_False:
        return put(b, "false", 5);
    case cJSON_True:
        return put(b, "true", 4);
    case cJSON_Number:
        return put_num(b, v->valuedouble);
    case cJSON_String:
        return jw_str(b, v->valuestring);
    case cJSON_Raw:
        return v->valuestring ? put(b, v->valuestring, strlen(v->valuestring)) : WSM_E_USAGE;
    case cJSON_Array:
    case cJSON_Object: {
        bool obj = (v->type & 0xff) == cJSON_Object;
        int rc = put(b, obj ? "{" : "[", 1);
        for (const cJSON *c = v->child; c && rc == 0; c = c->next) {
            if (c != v->child)
                rc = put(b, ",", 1);
            if (rc == 0 && obj)
                rc = jw_str(b, c->string);
            if (rc == 0 && obj)
                rc = put(b, ":", 1);
            if (rc == 0)
                rc = value(b, c, depth + 1);
        }
        return rc ? rc : put(b, obj ? "}" : "]", 1);
    }
    default:
        return WSM_E_USAGE;
    }
}

int jw_value(wsm_buf *b, const cJSON *v)
{
    size_t mark = b->len;
    int rc = value(b, v, 0);
    if (rc != 0)
        b->len = mark;
    return rc;
}

/* ------------------------------------------------------------------ enqueue */

/* The enqueue header under construction: members after the first are prefixed with ','. */
struct hw {
    wsm_buf *b;
    int rc;
    const char *bad; /* the member that failed with WSM_E_USAGE */
};

/* ,"name": (name is a literal that needs no escaping) */
static void key(struct hw *w, const char *name)
{
    if (w->rc)
        return;
    size_t n = strlen(name);
    if (w->b->cap - w->b->len < n + 4 && wsm_buf_reserve(w->b, n + 4) != 0) {
        w->rc = WSM_E_NOMEM;
        return;
    }
    char *o = (char *)w->b->data + w->b->len;
    o[0] = ',';
    o[1] = '"';
    memcpy(o + 2, name, n);
    o[n + 2] = '"';
    o[n + 3] = ':';
    w->b->len += n + 4;
}

static void fail_if(struct hw *w, int rc, const char *name)
{
    if (rc && !w->rc) {
        w->rc = rc;
        if (rc == WSM_E_USAGE)
            w->bad = name;
    }
}

static void str_member(struct hw *w, const char *name, const char *s)
{
    if (!s || w->rc)
        return;
    key(w, name);
    if (!w->rc)
        fail_if(w, jw_str(w->b, s), name);
}

static void json_member(struct hw *w, const char *name, const cJSON *v)
{
    if (!v || w->rc)
        return;
    key(w, name);
    if (!w->rc)
        fail_if(w, jw_value(w->b, v), name);
}

static void lit_member(struct hw *w, const char *name, bool on, const char *lit)
{
    if (!on || w->rc)
        return;
    key(w, name);
    if (!w->rc)
        fail_if(w, put(w->b, lit, strlen(lit)), name);
}

static void num_member(struct hw *w, const char *name, double v)
{
    if (v == 0 || w->rc)
        return;
    key(w, name);
    if (!w->rc)
        fail_if(w, put_num(w->b, v), name);
}

static void int_member(struct hw *w, const char *name, int64_t v)
{
    if (v == 0 || w->rc)
        return;
    key(w, name);
    if (!w->rc)
        fail_if(w, put_int(w->b, v), name);
}

int jw_enqueue(wsm_buf *b, uint64_t id, const char *queue, const cJSON *args,
               const wsm_enqueue_opts *o, const char **bad)
{
    static const wsm_enqueue_opts none;
    if (!o)
        o = &none;
    if (bad)
        *bad = NULL;
    size_t mark = b->len;
    struct hw w = {.b = b};
    if (!queue || (o->len && !o->payload)) {
        w.rc = WSM_E_USAGE;
        w.bad = !queue ? "queue" : "payload";
    }
    if (!w.rc)
        w.rc = put(b, "{\"op\":\"enqueue\"", 15);
    if (id && !w.rc) {
        key(&w, "id");
        if (!w.rc && (put(b, "\"", 1) || put_int(b, (int64_t)id) || put(b, "\"", 1)))
            w.rc = WSM_E_NOMEM;
    }
    str_member(&w, "queue", queue);
    json_member(&w, "args", args);
    str_member(&w, "job_id", o->job_id);
    json_member(&w, "meta", o->meta);
    json_member(&w, "retry", o->retry);
    json_member(&w, "payload_meta", o->payload_meta);
    str_member(&w, "key", o->key);
    lit_member(&w, "at_front", o->at_front, "true");
    num_member(&w, "timeout", o->timeout);
    num_member(&w, "ttl", o->ttl);
    num_member(&w, "result_ttl", o->result_ttl);
    num_member(&w, "failure_ttl", o->failure_ttl);
    int_member(&w, "enqueue_at", o->enqueue_at);
    num_member(&w, "enqueue_in", o->enqueue_in);
    int_member(&w, "weight", o->weight);
    if (o->n_depends_on && !w.rc) {
        key(&w, "depends_on");
        if (!w.rc)
            fail_if(&w, put(b, "[", 1), "depends_on");
        for (size_t i = 0; i < o->n_depends_on && !w.rc; i++) {
            if (i)
                fail_if(&w, put(b, ",", 1), "depends_on");
            if (!w.rc)
                fail_if(&w, o->depends_on && o->depends_on[i] ? 0 : WSM_E_USAGE, "depends_on");
            if (!w.rc)
                fail_if(&w, jw_str(b, o->depends_on[i]), "depends_on");
        }
        if (!w.rc)
            fail_if(&w, put(b, "]", 1), "depends_on");
    }
    lit_member(&w, "allow_failure", o->allow_failure, "true");
    str_member(&w, "content_type", o->content_type);
    if (o->len)
        int_member(&w, "len", (int64_t)o->len);
    if (!w.rc)
        fail_if(&w, put(b, "}\n", 2), "");
    if (o->len && !w.rc)
        fail_if(&w, put(b, o->payload, o->len), "");
    if (w.rc) {
        b->len = mark;
        if (bad && w.rc == WSM_E_USAGE)
            *bad = w.bad;
        return w.rc;
    }
    return 0;
}
