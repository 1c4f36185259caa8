/*
 * main.c - db-writer: the storage stage of the AEB pipeline. Consumes queue `db` (frame
 * batches, events, summaries and recording metadata routed there by mesh.json) and stores them
 * with libresults into SQLite (default) or PostgreSQL; answers `db.query` requests (recordings,
 * events, downsampled frames) for the dashboard and meshctl.
 *
 *   db-writer [--url ws://HUB/ws] [--concurrency N] [--db URL] [--queue db]
 *             [--query-queue db.query]
 *
 * Threads: libwsmesh runs its event loop on the main thread and calls the handlers on
 * `concurrency` handler threads; only those threads touch the database (libresults blocks), each
 * with a handle borrowed from the pool. Failures: invalid jobs fail for good with the field
 * named; database trouble fails with retry so the hub redelivers (writes are idempotent).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dbw.h"
#include "wsmesh.h"

typedef struct app {
    dbw_pool *pool;
} app;

static int handle(wsm_job *job, app *a, bool query)
{
    res_err re;
    res_db *db = dbw_pool_get(a->pool, &re);
    if (!db) {
        wsm_job_fail(job, res_code_name(re.code), re.msg, NULL, true);
        return 1;
    }
    cJSON *result = NULL;
    dbw_error e;
    int rc;
    if (query) {
        rc = dbw_query(db, wsm_job_args(job), &result, &e);
    } else {
        size_t len = 0;
        const void *payload = wsm_job_payload(job, &len);
        dbw_job j = {.key = wsm_job_key(job),
                     .root = wsm_job_parent(job) ? wsm_job_root(job) : NULL, /* in a tree */
                     .args = wsm_job_args(job),
                     .content_type = wsm_job_content_type(job),
                     .payload_meta = wsm_job_payload_meta(job),
                     .payload = payload,
                     .len = len};
        rc = dbw_store(db, &j, &result, &e);
    }
    dbw_pool_put(a->pool, db);
    if (rc) {
        wsm_log(e.retry ? WSM_LOG_WARN : WSM_LOG_INFO, "db-writer", "job %s: %s: %s",
                wsm_job_id(job), e.type, e.msg);
        wsm_job_fail(job, e.type, e.msg, NULL, e.retry);
        return 1;
    }
    rc = wsm_job_set_result(job, result);
    cJSON_Delete(result);
    return rc ? 1 : 0;
}

static int store_handler(wsm_job *job, void *user)
{
    return handle(job, user, false);
}

static int query_handler(wsm_job *job, void *user)
{
    return handle(job, user, true);
}

/* Creates the directory of a sqlite:PATH database if it is missing (one level, e.g. ./var). */
static void make_sqlite_dir(const char *url)
{
    if (strncmp(url, "sqlite:", 7) != 0)
        return;
    char path[1024];
    snprintf(path, sizeof path, "%s", url + 7);
    char *q = strchr(path, '?');
    if (q)
        *q = '\0';
    char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return;
    *slash = '\0';
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        wsm_log(WSM_LOG_WARN, "db-writer", "cannot create %s: %s", path, strerror(errno));
}

static const char help[] =
    "db-writer options:\n"
    "  --db URL            results database: sqlite:PATH or postgresql://... (default\n"
    "                      $WSMESH_DB_URL, else sqlite:./var/results.db)\n"
    "  --queue NAME        queue of results to store (default db)\n"
    "  --query-queue NAME  queue of queries to answer (default db.query; \"\" = none)\n"
    "db-writer runs 2 handler threads unless --concurrency says otherwise; each uses its own\n"
    "database connection (the database calls block their thread, never the event loop).\n";

int main(int argc, char **argv)
{
    wsm_options o = {.name = "db-writer", .concurrency = 2};
    int prc = wsm_options_parse(&o, &argc, argv, help);
    if (prc == 1)
        return 0;
    if (prc == 2)
        return 2;
    const char *db_url = getenv("WSMESH_DB_URL");
    if (!db_url || !*db_url)
        db_url = "sqlite:./var/results.db";
    const char *queue = "db", *query_queue = "db.query";
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--db") == 0 && v)
            db_url = v, i++;
        else if (strcmp(argv[i], "--queue") == 0 && v)
            queue = v, i++;
        else if (strcmp(argv[i], "--query-queue") == 0 && v)
            query_queue = v, i++;
        else {
            fprintf(stderr, "db-writer: unknown or incomplete option \"%s\" (see --help)\n",
                    argv[i]);
            return 2;
        }
    }
    if (!*queue) {
        fprintf(stderr, "db-writer: --queue must not be empty\n");
        return 2;
    }
    make_sqlite_dir(db_url);
    app a = {0};
    res_err re;
    int conc = o.concurrency > 0 ? o.concurrency : 1;
    if (dbw_pool_new(db_url, conc, &a.pool, &re) != RES_OK) {
        fprintf(stderr, "db-writer: %s: %s\n", res_code_name(re.code), re.msg);
        return 1;
    }
    wsm_err err = {0};
    wsm_service *s = wsm_service_new(&o, &err);
    if (!s) {
        fprintf(stderr, "db-writer: %s\n", err.msg);
        dbw_pool_free(a.pool);
        return 1;
    }
    int rc = wsm_service_add(s, queue, store_handler, &a);
    if (!rc && *query_queue)
        rc = wsm_service_add(s, query_queue, query_handler, &a);
    if (!rc) {
        wsm_log(WSM_LOG_INFO, "db-writer", "storing queue %s into the %s database%s%s", queue,
                strncmp(db_url, "sqlite:", 7) == 0 ? "sqlite" : "postgresql",
                *query_queue ? "; answering queue " : "", query_queue);
        rc = wsm_service_run(s);
    }
    if (rc)
        fprintf(stderr, "db-writer: %s\n", wsm_service_errstr(s));
    wsm_service_free(s);
    dbw_pool_free(a.pool);
    return rc ? 1 : 0;
}
