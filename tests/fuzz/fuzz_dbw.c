/*
 * fuzz_dbw.c - libFuzzer target for the db-writer's job decoding and storing (dbw_store and
 * dbw_query in src/services/db-writer/dbw.h) on a fresh in-memory SQLite database.
 *
 * Input: one or more protocol v1 messages (wsm_frame_next), each standing for a `db` job as the
 * adapter hands it to the service: header fields `args`, `key`, `root`, `content_type`,
 * `payload_meta` and the payload. A header with `"query": true` is a `db.query` job instead
 * (args are the query). Every job must end in RES_OK with a result object, or in an error
 * with a type and a message; a job refused as bad input must write nothing (the recordings
 * listing is the same before and after); never a crash, leak or sanitizer report.
 */
#include "dbw.h"
#include "wsm_common.h"
#include "wsm_frame.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *str_field(const cJSON *h, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(h, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The recordings listing as text (NULL if the query fails). */
static char *listing(res_db *db)
{
    cJSON *q = cJSON_CreateObject(), *out = NULL;
    cJSON_AddStringToObject(q, "q", "recordings");
    dbw_error e;
    char *s = NULL;
    if (dbw_query(db, q, &out, &e) == RES_OK)
        s = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    cJSON_Delete(q);
    return s;
}

static void check_error(int rc, const dbw_error *e)
{
    if (rc <= 0 || rc >= RES_CODE_COUNT || e->code != rc || !e->type[0] || !e->msg[0])
        abort(); /* every failure names its cause */
    if (rc == RES_E_BAD_INPUT && e->retry)
        abort(); /* bad input is never worth a retry */
}

static void run_job(res_db *db, const wsm_msg *m)
{
    const cJSON *h = m->hdr;
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(h, "args");
    cJSON *empty = NULL;
    if (!args)
        args = empty = cJSON_CreateObject(); /* the adapter's default: {} */
    cJSON *result = NULL;
    dbw_error e;
    int rc;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(h, "query"))) {
        rc = dbw_query(db, args, &result, &e);
    } else {
        char *before = listing(db);
        dbw_job j = {.key = str_field(h, "key"),
                     .root = str_field(h, "root"),
                     .args = args,
                     .content_type = m->content_type,
                     .payload_meta = cJSON_GetObjectItemCaseSensitive(h, "payload_meta"),
                     .payload = m->len ? m->payload : NULL,
                     .len = m->len};
        rc = dbw_store(db, &j, &result, &e);
        if (rc == RES_E_BAD_INPUT) {
            char *after = listing(db);
            if (!before || !after || strcmp(before, after) != 0)
                abort(); /* an invalid job wrote something */
            free(after);
        }
        free(before);
    }
    if (rc == RES_OK) {
        if (!cJSON_IsObject(result) && !cJSON_IsArray(result))
            abort();
        char *s = cJSON_PrintUnformatted(result);
        if (!s || strlen(s) > DBW_MAX_ANSWER_BYTES)
            abort(); /* the answer must fit a result header */
        free(s);
    } else {
        if (result)
            abort();
        check_error(rc, &e);
    }
    cJSON_Delete(result);
    cJSON_Delete(empty);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    res_db *db = NULL;
    res_err re;
    wsm_log_set_level(WSM_LOG_WARN); /* no "schema migrated" line per input */
    if (res_open("sqlite::memory:", NULL, &db, &re) != RES_OK)
        abort();
    size_t off = 0;
    wsm_msg m;
    wsm_err err;
    for (int n = 0; n < 8 && wsm_frame_next(data, size, &off, 65536, &m, &err) == 1; n++) {
        run_job(db, &m);
        wsm_msg_clear(&m);
    }
    res_close(db);
    return 0;
}
