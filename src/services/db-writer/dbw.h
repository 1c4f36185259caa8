/*
 * dbw.h - the logic of the db-writer service, separate from the mesh so it can be tested
 * without a hub: a pool of libresults handles (one per handler thread at a time), turning a
 * `db` job (frame batch, events, summary, recording metadata) into idempotent writes, and
 * answering `db.query` requests. The job formats are in docs/results-schema.md §"The db queue".
 *
 * Everything here blocks the calling thread (libresults does): call it from handler threads.
 */
#ifndef DBW_H
#define DBW_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "results.h"

/* ------------------------------------------------------------------ handle pool */
typedef struct dbw_pool dbw_pool;

/* Opens one handle on url at once (so a bad URL, an unreachable server or a schema mismatch
 * is reported at start) and keeps at most max idle handles. Returns RES_OK and *out, or the
 * res_open code with err filled. */
int dbw_pool_new(const char *url, int max, dbw_pool **out, res_err *err);
/* Closes every idle handle and frees the pool (handles still borrowed must be put back first).
 * Accepts NULL. */
void dbw_pool_free(dbw_pool *p);
/* Borrows a handle (opening a new one when none is idle); NULL with err filled on failure.
 * Thread-safe. */
res_db *dbw_pool_get(dbw_pool *p, res_err *err);
/* Returns a borrowed handle (closed when max idle handles are already kept). Thread-safe. */
void dbw_pool_put(dbw_pool *p, res_db *db);

/* ------------------------------------------------------------------ jobs */

/* A job of the `db` queue, all borrowed. */
typedef struct dbw_job {
    const char *key;          /* ordering key (the recording id when args has none), or NULL */
    const char *root;         /* id of the job tree's root (recorded as an alias of the
                                 recording, so the root job id finds the results), or NULL */
    const cJSON *args;        /* never NULL */
    const char *content_type; /* NULL = application/json */
    const cJSON *payload_meta;
    const void *payload;
    size_t len;
} dbw_job;

/* Why a job failed: type (a res_code name such as "BAD_INPUT"), message naming the field, and
 * whether a retry can help (false for bad input). */
typedef struct dbw_error {
    int code;
    bool retry;
    char type[24];
    char msg[400];
} dbw_error;

/* Stores what the job carries. On RES_OK *result is a new object (caller deletes):
 * {"recording_id": ID, "frames": N, "events": N, "summary": bool, "recording": bool}.
 * Else returns the res_code and fills e (nothing of an invalid job is written). */
int dbw_store(res_db *db, const dbw_job *job, cJSON **result, dbw_error *e);

/* The largest answer (printed JSON) dbw_query returns: the answer travels as the result's
 * `value` in a protocol header, and the hub refuses headers above limits.max_header_bytes
 * (default 65,536), leaving the job to time out. A `rows` answer is cut to fewer rows until it
 * fits; any other answer above it fails with BAD_INPUT asking for less. */
#define DBW_MAX_ANSWER_BYTES 60000

/* Answers a db.query request (args {"q": "recordings"|"recording"|"events"|"frames"|"rows"|
 * "coverage", ...}). On RES_OK *result is a new object (caller deletes); else fills e. */
int dbw_query(res_db *db, const cJSON *args, cJSON **result, dbw_error *e);

#endif
