/*
 * wsm_common.h - shared building blocks of every wsmesh part: status codes, logging,
 * byte buffers, clocks, UTF-8 checks, JSON field readers and the protocol v1 framing.
 *
 * src/common does no I/O policy of its own (it never opens sockets or files) and uses no
 * other part of the project. Everything here is safe to call from any thread unless a
 * function says otherwise; nothing here keeps global state except the log threshold.
 *
 * cJSON ownership (project-wide rule): whoever parses a cJSON tree deletes it; a function
 * that takes a `cJSON *` argument named `take` takes ownership of it (also on failure);
 * `const cJSON *` arguments are borrowed for the duration of the call only.
 */
#ifndef WSM_COMMON_H
#define WSM_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ status codes
 * Stable error codes of protocol v1 (docs/protocol.md §Errors). The numeric values are
 * internal; on the wire a code travels as its name ("BAD_JSON"). Never renumber: append. */
typedef enum wsm_code {
    WSM_OK = 0,
    WSM_E_BAD_JSON,            /* header is not valid JSON / not an object */
    WSM_E_BAD_FRAME,           /* framing: no newline, len mismatch, bad frame type */
    WSM_E_UNKNOWN_OP,          /* op not known in the negotiated protocol version */
    WSM_E_BAD_FIELD,           /* a field is missing, has the wrong type or range */
    WSM_E_TOO_LARGE,           /* message or payload above the configured limit */
    WSM_E_QUEUE_FULL,          /* enqueue beyond max_length */
    WSM_E_NO_SUCH_QUEUE,       /* queue not declared in mesh.json */
    WSM_E_NO_SUCH_JOB,         /* job id unknown (or already purged by retention) */
    WSM_E_DUPLICATE_ID,        /* job_id already in use */
    WSM_E_UNAUTHORIZED,        /* no or wrong token / no hello yet */
    WSM_E_FORBIDDEN,           /* token lacks the permission for this op/queue/topic */
    WSM_E_BAD_STATE,           /* op not valid in the job's current state */
    WSM_E_UNSUPPORTED_VERSION, /* hello asked for protocol versions the hub lacks */
    WSM_E_SHUTTING_DOWN,       /* hub is draining; no new jobs */
    WSM_E_LIMIT,               /* a per-connection limit (connections, buffer, rate) hit */
    WSM_E_INTERNAL,            /* a bug or resource failure on the answering side */
    WSM_E_TIMEOUT,             /* a wait ran out (client side) */
    WSM_E_CONNECT,             /* could not connect / handshake failed (client side) */
    WSM_E_NOMEM,               /* allocation failed */
    WSM_E_IO,                  /* file or socket error */
    WSM_CODE_COUNT
} wsm_code;

/* The wire name of a code ("BAD_JSON"); "INTERNAL" for out-of-range values. Static string. */
const char *wsm_code_name(int code);
/* Inverse of wsm_code_name; returns WSM_E_INTERNAL for unknown names and NULL. */
int wsm_code_from_name(const char *name);

/* A parse/validation error: a code and a message naming the field or offset. */
typedef struct wsm_err {
    int code;
    char msg[256];
} wsm_err;

/* Sets e (if not NULL) and returns code. Formats like printf. */
int wsm_err_set(wsm_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------ logging
 * One line per call on stderr: "2026-11-29T10:00:00.123Z LEVEL component: message".
 * The threshold is process-wide; setting it is not synchronised with concurrent logging
 * (set it once at start). */
typedef enum wsm_log_level {
    WSM_LOG_ERROR = 0,
    WSM_LOG_WARN,
    WSM_LOG_INFO,
    WSM_LOG_DEBUG,
    WSM_LOG_TRACE
} wsm_log_level;

void wsm_log_set_level(wsm_log_level lvl);
wsm_log_level wsm_log_get_level(void);
/* Parses "error|warn|info|debug|trace"; returns 0 and sets *out, or -1 if unknown. */
int wsm_log_parse_level(const char *s, wsm_log_level *out);
void wsm_log(wsm_log_level lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define wsm_log_enabled(lvl) ((lvl) <= wsm_log_get_level())

/* ------------------------------------------------------------------ byte buffer
 * A growable byte buffer. data is NULL until the first append. All functions return 0 or
 * WSM_E_NOMEM (the buffer is left unchanged on failure). wsm_buf_free accepts NULL. */
typedef struct wsm_buf {
    unsigned char *data;
    size_t len;
    size_t cap;
} wsm_buf;

#define WSM_BUF_INIT                                                                               \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }
int wsm_buf_reserve(wsm_buf *b, size_t extra);
int wsm_buf_append(wsm_buf *b, const void *p, size_t n);
int wsm_buf_append_str(wsm_buf *b, const char *s);
int wsm_buf_printf(wsm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Removes the first n bytes (n <= len), keeping the rest. */
void wsm_buf_consume(wsm_buf *b, size_t n);
void wsm_buf_reset(wsm_buf *b); /* len = 0, keeps the allocation */
void wsm_buf_free(wsm_buf *b);  /* frees data, back to WSM_BUF_INIT */
/* The functions wsm_buf allocates and frees data with (NULL: realloc / free). Process-wide, not
 * thread-safe: set before any buffer exists (libwsmesh's wsm_set_allocator does). */
void wsm_buf_set_allocator(void *(*realloc_fn)(void *, size_t), void (*free_fn)(void *));

/* ------------------------------------------------------------------ time */
/* Monotonic clock in microseconds / milliseconds (CLOCK_MONOTONIC). */
int64_t wsm_mono_us(void);
int64_t wsm_mono_ms(void);
/* Wall clock, milliseconds since the Unix epoch. */
int64_t wsm_wall_ms(void);
/* Formats ms-since-epoch as "2026-11-29T10:00:00.123Z" into out (>= 25 bytes). */
void wsm_format_iso8601(int64_t wall_ms, char out[32]);

/* ------------------------------------------------------------------ ids */
/* Writes 20 random lowercase hex characters and a NUL (from getrandom). */
void wsm_random_id(char out[21]);

/* ------------------------------------------------------------------ UTF-8 */
/* True if p[0..n) is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates). */
bool wsm_utf8_valid(const void *p, size_t n);

/* ------------------------------------------------------------------ JSON field readers
 * Read a member of a JSON object with a type check. `path` names the object for messages
 * ("queues.aeb"); on a type error they fill err with BAD_FIELD and a message such as
 * "queues.aeb.max_length: expected integer >= 1" and return -1. A missing member returns 0
 * and leaves *out unchanged when required is false; with required true it is an error.
 * Returns 1 when the member was present and read. Strings are borrowed from obj. */
int wsm_json_str(const cJSON *obj, const char *path, const char *key, bool required,
                 const char **out, wsm_err *err);
int wsm_json_bool(const cJSON *obj, const char *path, const char *key, bool required, bool *out,
                  wsm_err *err);
/* Integers must be whole numbers within [min, max]. */
int wsm_json_int(const cJSON *obj, const char *path, const char *key, bool required, int64_t min,
                 int64_t max, int64_t *out, wsm_err *err);
/* Finite numbers within [min, max]. */
int wsm_json_num(const cJSON *obj, const char *path, const char *key, bool required, double min,
                 double max, double *out, wsm_err *err);
/* Object / array members: returns the borrowed child in *out. */
int wsm_json_obj(const cJSON *obj, const char *path, const char *key, bool required,
                 const cJSON **out, wsm_err *err);
int wsm_json_arr(const cJSON *obj, const char *path, const char *key, bool required,
                 const cJSON **out, wsm_err *err);
/* Reports the first member of obj whose name is not in the NULL-terminated list `known`
 * as BAD_FIELD ("path.name: unknown key"). Returns 0 if all are known, -1 otherwise. */
int wsm_json_no_unknown(const cJSON *obj, const char *path, const char *const *known, wsm_err *err);

/* Prints a cJSON value compactly into b (no trailing newline). 0 or WSM_E_NOMEM. */
int wsm_json_append(wsm_buf *b, const cJSON *v);

#ifdef __cplusplus
}
#endif
#endif
