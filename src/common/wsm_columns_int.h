/*
 * wsm_columns_int.h - internal hooks of the columns codec for its tests and fuzz target (not a
 * public API; services use wsm_columns.h).
 */
#ifndef WSM_COLUMNS_INT_H
#define WSM_COLUMNS_INT_H

#include "wsm_columns.h"

#ifdef __cplusplus
extern "C" {
#endif

/* wsm_columns_decode of an application/json batch through the reference decoder only (a cJSON
 * tree of the whole payload), bypassing the scanner: the answer every JSON decode must equal.
 * Same arguments, ownership and return values as wsm_columns_decode. */
int wsm_columns_decode_json_reference(const cJSON *meta, const void *payload, size_t len,
                                      size_t max_rows, wsm_columns **out, wsm_err *err);

#ifdef __cplusplus
}
#endif
#endif
