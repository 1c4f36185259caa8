/*
 * jsonw.h - direct JSON formatting of protocol headers into a wsm_buf (internal): strings
 * escaped and checked as UTF-8, cJSON values printed without a copy of the tree or an
 * intermediate string, and the client's `enqueue` message (docs/protocol.md §6.2) formatted
 * in one pass. Output is compact JSON, value for value what cJSON_PrintUnformatted prints
 * (numbers: shortest round-trip text, src/common/wsm_dtoa.h).
 */
#ifndef WSM_JSONW_H
#define WSM_JSONW_H

#include <stdint.h>

#include "wsmesh.h"

/* Appends s[0..n) as a JSON string: quotes, \" \\ \b \f \n \r \t, other bytes < 0x20 as
 * \u00XX, everything else (valid UTF-8) as is. Returns 0, WSM_E_NOMEM, or WSM_E_USAGE when s
 * is not valid UTF-8 (RFC 3629); on an error b->len is unchanged. */
int jw_strn(wsm_buf *b, const char *s, size_t n);
/* jw_strn of a NUL-terminated string. */
int jw_str(wsm_buf *b, const char *s);

/* Writes the decimal digits of v to o (at most 20 bytes, no NUL). Returns their number. */
size_t jw_u64_text(char *o, uint64_t v);

/* Appends the cJSON value v (NULL: null) compactly: non-finite numbers as null, raw items
 * verbatim, a NULL valuestring or member name as "". Returns 0, WSM_E_NOMEM, or WSM_E_USAGE
 * (a string or name that is not valid UTF-8, an item of invalid type, a raw item without
 * text, nesting deeper than 10,000); on an error b->len is unchanged. */
int jw_value(wsm_buf *b, const cJSON *v);

/* Appends one complete `enqueue` protocol message to b: the header (op, id when id != 0,
 * queue, args when not NULL, and every member of *o that is set, zero members absent; o may
 * be NULL), "len" when o->len > 0, '\n', then the payload bytes. Returns 0, WSM_E_NOMEM, or
 * WSM_E_USAGE with *bad (if not NULL) naming the member that cannot be sent: a string or JSON
 * value that is not valid UTF-8, an invalid cJSON item, a NULL depends_on entry, a payload
 * NULL with len > 0. On an error b->len is unchanged. */
int jw_enqueue(wsm_buf *b, uint64_t id, const char *queue, const cJSON *args,
               const wsm_enqueue_opts *o, const char **bad);

#endif
