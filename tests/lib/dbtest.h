/*
 * dbtest.h - what the database tests (tests/unit/db, tests/integration/db) share: a fresh
 * temporary directory for their SQLite files, a fresh PostgreSQL database on the server of
 * RES_TEST_PG_URL (built with -DRES_HAVE_PG), and the removal of the directory after a passing
 * run. Header-only (static functions), included as "lib/dbtest.h" from tests/.
 */
#ifndef WSM_DBTEST_H
#define WSM_DBTEST_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef RES_HAVE_PG
#include <libpq-fe.h>
#endif

/* Makes $TMPDIR/<prefix>-XXXXXX (TMPDIR unset or empty: /tmp) into dir; 0, or -1 (printed). */
static inline int dbtest_mkdtemp(char *dir, size_t cap, const char *prefix)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, cap, "%s/%s-XXXXXX", base && *base ? base : "/tmp", prefix);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return -1;
    }
    return 0;
}

static inline int dbtest_rm_entry(const char *path, const struct stat *sb, int type,
                                  struct FTW *ftw)
{
    return remove(path);
}

/* Removes dir and everything below it; 0, or -1. */
static inline int dbtest_rmtree(const char *dir)
{
    return nftw(dir, dbtest_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

#ifdef RES_HAVE_PG
/* Creates the database dbname on the server of the URL pg and writes the URL of the new
 * database (pg with dbname as its path) into url; 0, or -1 (printed). */
static inline int dbtest_pg_create(const char *pg, const char *dbname, char *url, size_t cap)
{
    PGconn *c = PQconnectdb(pg);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to %s: %s\n", pg, PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    char sql[200];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", dbname);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "%s: %s\n", sql, PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        return -1;
    }
    PQclear(r);
    PQfinish(c);
    /* replace the database name (the path of the URL) */
    const char *p = strstr(pg, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    size_t keep = p ? (size_t)(p - pg) : strlen(pg);
    snprintf(url, cap, "%.*s/%s", (int)keep, pg, dbname);
    return 0;
}
#endif

/* The database of a test run: sqlite:<dir>/results.db, or with RES_TEST_PG_URL set a fresh
 * PostgreSQL database <prefix>_<pid> on that server (dbtest_pg_create); 0, or -1 (printed). */
static inline int dbtest_url(const char *dir, const char *prefix, char *url, size_t cap)
{
    snprintf(url, cap, "sqlite:%s/results.db", dir);
    const char *pg = getenv("RES_TEST_PG_URL");
    if (!pg || !*pg)
        return 0;
#ifdef RES_HAVE_PG
    char dbname[64];
    snprintf(dbname, sizeof dbname, "%s_%d", prefix, (int)getpid());
    return dbtest_pg_create(pg, dbname, url, cap);
#else
    fprintf(stderr, "RES_TEST_PG_URL set but this build has no libpq\n");
    return -1;
#endif
}

#endif
