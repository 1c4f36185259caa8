/*
 * jobscan.h - reads a hub `job` message (protocol §6.4) straight from its bytes (internal).
 *
 * The service's per-job hot path: instead of building a cJSON tree of the whole header, one
 * pass over the header line finds the fixed members (job_id, queue, attempt, deadline_at, key,
 * parent, root, content_type, len) and the spans of the JSON values args, meta, state and
 * payload_meta (parsed later, only if the handler asks). The scanner is conservative: it
 * handles the compact form the hub sends and answers "not mine" for anything else (whitespace,
 * escapes in the fixed string members, \u escapes anywhere, duplicate or wrongly typed fixed
 * members, numbers that are not plain integers, deep nesting, a `ref` member, a bad frame);
 * such a message then takes the general path (wsm_frame_next + cJSON), which gives the same
 * result or names the error. Whatever it accepts, cJSON accepts too, with equal values (the
 * adapter fuzz target checks this on every input).
 */
#ifndef WSM_JOBSCAN_H
#define WSM_JOBSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A piece of the header line: bytes [off, off + len). off == 0 means absent (offset 0 is the
 * header's '{'). For strings the span is the characters between the quotes (no escapes); for
 * JSON values it is the value's whole text. */
typedef struct js_span {
    uint32_t off, len;
} js_span;

typedef struct jobscan {
    size_t hdr_len;      /* header line length, without its '\n' */
    size_t len;          /* payload bytes (0 when absent) */
    size_t total;        /* hdr_len + 1 + len: the bytes of this protocol message */
    int attempt;         /* 1 when absent */
    int64_t deadline_at; /* 0 when absent */
    js_span job_id, queue, key, parent, root, content_type; /* strings */
    js_span args, meta, state, payload_meta;                /* JSON values */
} jobscan;

/* The members of a job header that the scanner knows (jobscan_member). */
enum js_member {
    JSM_OTHER,
    JSM_JOB_ID,
    JSM_QUEUE,
    JSM_KEY,
    JSM_PARENT,
    JSM_ROOT,
    JSM_CT,
    JSM_ARGS,
    JSM_META,
    JSM_STATE,
    JSM_PMETA,
    JSM_ATTEMPT,
    JSM_DEADLINE,
    JSM_LEN,
    JSM_REFUSE, /* op (a second one), ref: the general path */
    JSM_COUNT
};

/* Which member the name name[0..n) is (JSM_OTHER for any other name). */
enum js_member jobscan_member(const void *name, size_t n);

/* Scans the protocol message at data[0..n) (n: the bytes left in the WebSocket message).
 * max_header bounds the header line as in wsm_frame_next (0 = WSM_MAX_HEADER_DEFAULT).
 * Returns true when the message is a well-formed `job` header in the form described above,
 * with job_id and queue present and `len` payload bytes available; *out is then filled.
 * Returns false otherwise (*out undefined): the caller takes the general path. */
bool jobscan_parse(const unsigned char *data, size_t n, size_t max_header, jobscan *out);

#endif
