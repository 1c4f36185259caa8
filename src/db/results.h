/*
 * results.h - libresults: the AEB results schema and its writers/readers for SQLite and
 * PostgreSQL (docs/results-schema.md is the contract; this header is the C interface).
 *
 * One handle (res_db) is one connection. The backend is chosen by URL:
 *   sqlite:PATH[?busy_timeout_ms=N&synchronous=normal|full]   the embedded default (WAL)
 *   postgresql://... or postgres://...                        libpq connection URI
 *
 * Writes take plain C arrays and are idempotent keyed upserts: writing the same rows twice
 * leaves identical rows, and two handles (threads or processes) writing the same keys into one
 * SQLite file or one PostgreSQL database never corrupt or duplicate. Each write call is one
 * transaction: it is applied completely or not at all.
 *
 * Threads: a res_db may be used by one thread at a time (different handles on different
 * threads are fine). Every call BLOCKS the calling thread until the database answered: SQLite
 * waits up to busy_timeout_ms for a lock held by another writer; PostgreSQL waits for the
 * network round trips and, on a lost connection, reconnects with exponential backoff (up to
 * res_options.reconnect_ms) before it fails. Call it from worker threads (e.g. the adapter's
 * handler threads), never from an event loop.
 *
 * NULL values: a double that is NaN stores NULL; an int8_t flag that is negative stores NULL;
 * a NULL string pointer stores NULL; a NULL column array stores NULL for every row.
 *
 * Errors: every function returns a res_code (RES_OK = 0) and, when `err` is not NULL, fills it
 * with the code and a message naming the cause ("frames.ttc[12]: infinite (use NaN for NULL)").
 * cJSON results are owned by the caller, who deletes them with cJSON_Delete.
 */
#ifndef RESULTS_H
#define RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Stable error codes. Never renumber: append. */
typedef enum res_code {
    RES_OK = 0,
    RES_E_BAD_URL,     /* URL is not sqlite:PATH or postgresql://..., or a bad URL option */
    RES_E_BAD_INPUT,   /* an argument or a row value is invalid (the message names it) */
    RES_E_UNSUPPORTED, /* backend not compiled in (libpq missing at build time) */
    RES_E_CONNECT,     /* cannot open the file / connect to the server (after retries) */
    RES_E_BUSY,        /* a lock held by another writer outlasted the busy timeout */
    RES_E_SCHEMA,      /* schema is newer than this library, or a migration failed */
    RES_E_NOT_FOUND,   /* the recording asked for does not exist */
    RES_E_IO,          /* disk full, read-only file, corrupt database, lost connection */
    RES_E_DB,          /* any other error reported by the database (message has details) */
    RES_E_NOMEM,       /* allocation failed */
    RES_CODE_COUNT
} res_code;

/* Name of a code ("BAD_INPUT"); "UNKNOWN" for out-of-range values. Static string. */
const char *res_code_name(int code);
/* A sentence describing the code ("invalid argument or row value"). Static string. */
const char *res_strerror(int code);

/* Error detail of the last failed call: code plus a message naming the cause. */
typedef struct res_err {
    int code;
    char msg[320];
} res_err;

/* Newest schema version this library writes (the schema_version table holds the history). */
#define RES_SCHEMA_VERSION 3

/* ------------------------------------------------------------------ open / close */

typedef struct res_options {
    int busy_timeout_ms; /* SQLite lock wait; 0 = default 10000 (URL option overrides) */
    int reconnect_ms;    /* PostgreSQL: total backoff budget on a lost connection; 0 = 5000,
                            negative = do not reconnect */
    int migrate;         /* 0 = apply missing migrations on open (default); 1 = fail with
                            RES_E_SCHEMA if the schema is not current */
} res_options;

typedef struct res_db res_db;

/* Opens (creating if needed) the database named by url, applies missing schema migrations
 * under a lock (safe when several processes open at once), and stores the handle in *out.
 * opts may be NULL. Returns RES_OK, RES_E_BAD_URL, RES_E_UNSUPPORTED, RES_E_CONNECT,
 * RES_E_SCHEMA (database newer than RES_SCHEMA_VERSION or migration failed), RES_E_BUSY,
 * RES_E_IO, RES_E_DB or RES_E_NOMEM; on failure *out is NULL. */
int res_open(const char *url, const res_options *opts, res_db **out, res_err *err);
/* Closes the connection and frees the handle. Accepts NULL. */
void res_close(res_db *db);
/* "sqlite" or "postgresql". Static string. */
const char *res_backend(const res_db *db);
/* Reads the current schema version into *version. RES_OK or a database error code. */
int res_schema_version(res_db *db, int *version, res_err *err);

/* ------------------------------------------------------------------ writes */

/* A batch of per-frame AEB outputs: rows first_frame .. first_frame + n - 1 of one recording.
 * Arrays have n elements and are borrowed for the duration of the call. */
typedef struct res_frames {
    const char *recording_id; /* required, 1..256 bytes */
    int64_t first_frame;      /* >= 0 */
    size_t n;                 /* rows; 0 is a no-op */
    const double *t;          /* s; NaN = NULL */
    const double *ego_v;      /* m/s */
    const double *range;      /* m */
    const double *rel_v;      /* m/s */
    const double *ttc;        /* s */
    const char *const *state; /* NONE FCW PB1 PB2 FB, or NULL */
    const int8_t *fcw;        /* 0/1, negative = NULL */
    const double *decel;      /* m/s^2, positive magnitude */
    const int8_t *collision;  /* 0/1, negative = NULL */
} res_frames;

/* Upserts the rows of a batch in one transaction, keyed by (recording_id, frame).
 * Infinite doubles, states outside the set, flags > 1 and bad ids are RES_E_BAD_INPUT (the
 * message names the column and row; nothing is written). Other returns: RES_E_BUSY, RES_E_IO,
 * RES_E_CONNECT (connection lost and not restored), RES_E_DB, RES_E_NOMEM. */
int res_write_frames(res_db *db, const res_frames *f, res_err *err);

/* The event kinds, in the order of their index: fcw_onset brake_onset stage_change collision
 * aeb_release (the order of libaeb's event types). */
#define RES_EVENT_KINDS 5
extern const char *const res_event_kinds[RES_EVENT_KINDS];
/* The index of kind in res_event_kinds; -1 for NULL or an unknown kind. */
int res_event_kind_index(const char *kind);
/* The key of an event that has no seq of its own: frame * RES_EVENT_KINDS + the kind's index
 * (there is at most one event of each kind per frame). Returns -1 for an unknown kind or a
 * negative frame. The db-writer and the in-process benchmark both key events this way. */
int64_t res_event_seq(int64_t frame, const char *kind);

/* The AEB states (aeb_frames.state, events' stage, summary max_stage), in libaeb's order:
 * NONE FCW PB1 PB2 FB. Static strings. */
#define RES_STATES 5
extern const char *const res_states[RES_STATES];
/* The index of s in res_states; -1 for NULL or an unknown name. */
int res_state_index(const char *s);

/* An AEB event (kind: one of res_event_kinds). */
typedef struct res_event {
    int64_t seq;             /* >= 0, the key within the recording */
    double t;                /* s; NaN = NULL */
    const char *kind;        /* required, one of the kinds above */
    double ttc;              /* NaN = NULL */
    double ego_v;            /* NaN = NULL */
    double range;            /* NaN = NULL */
    double rel_v;            /* NaN = NULL */
    const char *stage;       /* NONE FCW PB1 PB2 FB, or NULL */
    double impact_speed_kmh; /* NaN = NULL */
} res_event;

/* Upserts n events of one recording in one transaction, keyed by (recording_id, seq).
 * Returns as res_write_frames. */
int res_write_events(res_db *db, const char *recording_id, const res_event *ev, size_t n,
                     res_err *err);

/* The end-of-recording summary. */
typedef struct res_summary {
    const char *recording_id; /* required */
    int64_t frames;           /* negative = NULL */
    double min_ttc;           /* NaN = NULL (also for the other doubles) */
    double t_min_ttc;
    const char *max_stage; /* NONE FCW PB1 PB2 FB, or NULL */
    int8_t collision;      /* 0/1, negative = NULL */
    double impact_speed_kmh;
    double first_fcw_t;
    double first_brake_t;
    const char *params_json; /* a JSON object (AEB parameters, service version), or NULL */
} res_summary;

/* Upserts the summary row (keyed by recording_id; the new row replaces the old one).
 * params_json that is not a JSON object is RES_E_BAD_INPUT. Returns as res_write_frames. */
int res_write_summary(res_db *db, const res_summary *s, res_err *err);

/* Recording metadata (the reader's result). */
typedef struct res_recording {
    const char *id;   /* required */
    const char *path; /* NULL = keep the stored value */
    const char *sha256;
    int64_t frames;         /* negative = keep */
    double t_start;         /* NaN = keep */
    double t_end;           /* NaN = keep */
    const char *status;     /* NULL = keep */
    const char *created_at; /* ISO 8601; NULL = now on first write, then keep */
} res_recording;

/* Upserts a recording keyed by id. Fields given as NULL/NaN/negative keep the stored value,
 * so partial updates (e.g. only status) are possible and a repeated call changes nothing.
 * Returns as res_write_frames. */
int res_write_recording(res_db *db, const res_recording *r, res_err *err);

/* Records another id under which readers find a recording (e.g. the id of the root job that
 * read it, which the dashboard links to). Every read function resolves an alias to its
 * recording; the id in their answers is the recording's own. Upsert keyed by alias.
 * alias == recording_id is RES_E_BAD_INPUT. Returns as res_write_frames. */
int res_write_alias(res_db *db, const char *alias, const char *recording_id, res_err *err);

/* ------------------------------------------------------------------ reads (cJSON results)
 * Numbers that are NULL in the database are JSON null. Every result is a new cJSON object
 * owned by the caller; on failure *out is NULL. A recording_id argument may also be an alias
 * (res_write_alias). */

/* Recordings page, newest first (created_at DESC, id ASC), each with its summary or null:
 *   {"total":N,"offset":O,"limit":L,"recordings":[{"id":..,"path":..,"sha256":..,"frames":..,
 *    "t_start":..,"t_end":..,"status":..,"created_at":..,"summary":{..,"params":{..}}|null}]}
 * limit 1..1000, offset >= 0 (else RES_E_BAD_INPUT). Returns RES_OK or a database error. */
int res_list_recordings(res_db *db, int64_t offset, int64_t limit, cJSON **out, res_err *err);

/* One recording with its summary (same object as in the list), RES_E_NOT_FOUND if absent. */
int res_get_recording(res_db *db, const char *recording_id, cJSON **out, res_err *err);

/* Events of a recording ordered by seq: {"recording_id":..,"events":[{"seq":..,"t":..,
 * "kind":..,"ttc":..,"ego_v":..,"range":..,"rel_v":..,"stage":..,"impact_speed_kmh":..}]}.
 * An unknown recording gives an empty list. */
int res_get_events(res_db *db, const char *recording_id, cJSON **out, res_err *err);

/* Frames of a recording for plotting, each series downsampled to at most max_points points
 * (max_points >= 4; 0 = 1000). Numeric series (ego_v range rel_v ttc decel) keep, per bucket,
 * the minimum and the maximum (in frame order), so peaks survive; a bucket without values adds
 * one null point so gaps stay visible. Discrete series (state fcw collision) list every change
 * (the first frame and each frame whose value differs from the previous one): changes are never
 * dropped, even beyond max_points. Only frames with t_from <= t <= t_to (NaN = unbounded):
 *   {"recording_id":..,"frames":ROWS,"first_frame":F,"last_frame":L,"max_points":N,
 *    "series":{"ego_v":{"frame":[..],"t":[..],"v":[..]},..,
 *              "state":{"frame":[..],"t":[..],"v":["NONE","FCW",..]},..}}
 * If the recording has no frames, frames is 0 and every series is empty. */
int res_get_frames(res_db *db, const char *recording_id, int max_points, double t_from, double t_to,
                   cJSON **out, res_err *err);

/* Like res_get_frames, but reads and returns only the named series (n_series names from
 * ego_v range rel_v ttc decel state fcw collision; NULL/0 = all). With one series only that
 * column is read, which is much cheaper on large recordings. An unknown name is
 * RES_E_BAD_INPUT. Other returns as res_get_frames. */
int res_get_frames_series(res_db *db, const char *recording_id, int max_points, double t_from,
                          double t_to, const char *const *series, size_t n_series, cJSON **out,
                          res_err *err);

/* Raw rows first_frame .. (at most max_rows, 1..100000), columnar:
 *   {"recording_id":..,"frame":[..],"t":[..],"ego_v":[..],"range":[..],"rel_v":[..],"ttc":[..],
 *    "state":[..],"fcw":[..],"decel":[..],"collision":[..]} */
int res_get_frame_rows(res_db *db, const char *recording_id, int64_t first_frame, int64_t max_rows,
                       cJSON **out, res_err *err);

/* Stored frame coverage of a recording: row count, smallest and largest frame index (-1/-1 when
 * there are none). The frames are gap-free iff count == last - first + 1. */
int res_frames_coverage(res_db *db, const char *recording_id, int64_t *count, int64_t *first,
                        int64_t *last, res_err *err);

#ifdef __cplusplus
}
#endif
#endif
