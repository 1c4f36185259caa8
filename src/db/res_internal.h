/*
 * res_internal.h - what the backends of libresults (res_sqlite.c, res_pg.c) share with the
 * backend-independent layer (results.c: URLs, validation, migrations, transactions and retries;
 * res_read.c: queries and downsampling).
 *
 * A backend is a table of operations (res_ops). The common layer owns transactions: it calls
 * begin, the body, commit (rollback on failure). A backend marks failures that are worth
 * repeating in db->transient (RES_T_RETRY: deadlock or serialisation failure; RES_T_LOST: the
 * connection is gone and reconnect() may restore it); the common layer then repeats the whole
 * transaction, which is safe because every write is an idempotent keyed upsert.
 *
 * Generic SQL uses PostgreSQL placeholders ($1, $2, ...); the SQLite backend rewrites them to
 * ?1, ?2, ... (none of our statements contains '$' elsewhere).
 */
#ifndef RES_INTERNAL_H
#define RES_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>

#include "results.h"

enum res_vtype { RV_NULL = 0, RV_INT, RV_REAL, RV_TEXT };

/* A parameter or column value. Text is borrowed (valid until the next row / end of call). */
typedef struct res_val {
    int type;
    int64_t i;
    double d;
    const char *s;
} res_val;

/* Called per result row with ncols values typed as asked. Return RES_OK to go on, else the
 * code to stop with (err filled by the callback). */
typedef int (*res_row_fn)(void *ctx, const res_val *cols, int ncols, res_err *err);

enum res_transient { RES_T_NONE = 0, RES_T_RETRY, RES_T_LOST };

enum res_tx_kind { RES_TX_WRITE = 0, RES_TX_READ };

typedef struct res_ops {
    const char *name;
    void (*close)(res_db *db);
    /* Runs statements without parameters or results (may contain several for SQLite). */
    int (*exec)(res_db *db, const char *sql, res_err *err);
    /* Runs one statement with parameters; fn (may be NULL) gets each row, typed per coltypes. */
    int (*query)(res_db *db, const char *sql, const res_val *params, int nparams,
                 const int *coltypes, int ncols, res_row_fn fn, void *ctx, res_err *err);
    int (*begin)(res_db *db, int kind, res_err *err);
    int (*commit)(res_db *db, res_err *err);
    void (*rollback)(res_db *db);
    /* Takes the schema lock inside the migration transaction (PostgreSQL advisory lock). */
    int (*lock_schema)(res_db *db, res_err *err);
    /* Upserts a validated batch of frames inside the current transaction. */
    int (*write_frames)(res_db *db, const res_frames *f, res_err *err);
    /* Re-establishes a lost connection once; RES_OK or RES_E_CONNECT. NULL = not possible. */
    int (*reconnect)(res_db *db, res_err *err);
    /* Migration DDL of this backend, indexed by version - 1. */
    const char *const *migrations;
} res_ops;

struct res_db {
    const res_ops *ops;
    void *be;      /* backend state */
    int transient; /* set by the backend on the last failure (enum res_transient) */
    int busy_timeout_ms;
    int reconnect_ms;
};

/* Descriptions of the migrations, indexed by version - 1 (the DDL is per backend). */
extern const char *const res_migration_desc[RES_SCHEMA_VERSION];

/* Fills err (may be NULL) and returns code. */
int res_err_set(res_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Backend constructors: parse the URL rest, connect, set db->ops/db->be. */
int res_sqlite_open(res_db *db, const char *url, res_err *err);
int res_pg_open(res_db *db, const char *url, res_err *err);

/* Runs body(db, arg, err) in a transaction, repeating it on transient failures. */
typedef int (*res_tx_body)(res_db *db, void *arg, res_err *err);
int res_run_tx(res_db *db, int kind, res_tx_body body, void *arg, res_err *err);

/* Validation helpers shared by writers and readers. */
int res_check_id(const char *what, const char *id, res_err *err);

#endif
