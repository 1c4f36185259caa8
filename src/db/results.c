/*
 * results.c - the backend-independent half of libresults: error codes, URL dispatch, versioned
 * schema migrations, transactions with retry/reconnect, and validation of every write.
 *
 * Invariants:
 *  - Nothing reaches a backend unvalidated: ids are 1..256 bytes of UTF-8, doubles are finite
 *    or NaN (= NULL), flags are 0/1 or negative (= NULL), states and event kinds are from their
 *    sets. A bad row fails the whole call with RES_E_BAD_INPUT before any SQL runs.
 *  - Every public write is exactly one transaction (res_run_tx). On a transient failure
 *    (deadlock, serialisation failure, lost connection) the whole transaction is repeated after
 *    a backoff; repeating is safe because all writes are keyed upserts.
 *  - Migrations run in one transaction under the backend's schema lock, so concurrent opens
 *    apply each version exactly once; a database newer than RES_SCHEMA_VERSION is refused.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "res_internal.h"
#include "wsm_common.h"

static const char *const code_names[RES_CODE_COUNT] = {
    "OK",     "BAD_URL",   "BAD_INPUT", "UNSUPPORTED", "CONNECT", "BUSY",
    "SCHEMA", "NOT_FOUND", "IO",        "DB",          "NOMEM",
};

static const char *const code_texts[RES_CODE_COUNT] = {
    "success",
    "bad database URL or URL option",
    "invalid argument or row value",
    "backend not compiled in",
    "cannot open or connect to the database",
    "database locked by another writer beyond the busy timeout",
    "schema version mismatch or failed migration",
    "no such recording",
    "I/O error or lost connection",
    "database error",
    "out of memory",
};

const char *const res_states[RES_STATES] = {"NONE", "FCW", "PB1", "PB2", "FB"};

const char *const res_event_kinds[RES_EVENT_KINDS] = {"fcw_onset", "brake_onset", "stage_change",
                                                      "collision", "aeb_release"};

int res_event_kind_index(const char *kind)
{
    for (int k = 0; kind && k < RES_EVENT_KINDS; k++)
        if (strcmp(kind, res_event_kinds[k]) == 0)
            return k;
    return -1;
}

int64_t res_event_seq(int64_t frame, const char *kind)
{
    int k = res_event_kind_index(kind);
    if (k < 0 || frame < 0 || frame > (INT64_MAX - k) / RES_EVENT_KINDS)
        return -1;
    return frame * RES_EVENT_KINDS + k;
}

const char *const res_migration_desc[RES_SCHEMA_VERSION] = {
    "tables recordings, aeb_frames, aeb_events, aeb_summary",
    "index recordings(created_at) for the newest-first listing",
    "table recording_aliases (other ids of a recording, e.g. its root job id)",
};

const char *res_code_name(int code)
{
    return code >= 0 && code < RES_CODE_COUNT ? code_names[code] : "UNKNOWN";
}

const char *res_strerror(int code)
{
    return code >= 0 && code < RES_CODE_COUNT ? code_texts[code] : "unknown error code";
}

int res_err_set(res_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

static void err_ok(res_err *err)
{
    if (err) {
        err->code = RES_OK;
        err->msg[0] = '\0';
    }
}

int res_state_index(const char *s)
{
    if (!s)
        return -1;
    for (int i = 0; i < RES_STATES; i++)
        if (strcmp(s, res_states[i]) == 0)
            return i;
    return -1;
}

int res_check_id(const char *what, const char *id, res_err *err)
{
    if (!id)
        return res_err_set(err, RES_E_BAD_INPUT, "%s: missing", what);
    size_t n = strlen(id);
    if (n == 0 || n > 256)
        return res_err_set(err, RES_E_BAD_INPUT, "%s: length %zu, expected 1..256 bytes", what, n);
    if (!wsm_utf8_valid(id, n))
        return res_err_set(err, RES_E_BAD_INPUT, "%s: not valid UTF-8", what);
    return RES_OK;
}

/* A text column value: NULL is allowed, else UTF-8 of at most max bytes. */
static int check_text(const char *what, const char *s, size_t max, res_err *err)
{
    if (!s)
        return RES_OK;
    size_t n = strlen(s);
    if (n > max)
        return res_err_set(err, RES_E_BAD_INPUT, "%s: %zu bytes, at most %zu allowed", what, n,
                           max);
    if (!wsm_utf8_valid(s, n))
        return res_err_set(err, RES_E_BAD_INPUT, "%s: not valid UTF-8", what);
    return RES_OK;
}

static int check_num(const char *what, double v, res_err *err)
{
    if (isinf(v))
        return res_err_set(err, RES_E_BAD_INPUT, "%s: infinite (use NaN for NULL)", what);
    return RES_OK;
}

static int check_stage(const char *what, const char *s, res_err *err)
{
    if (s && res_state_index(s) < 0)
        return res_err_set(err, RES_E_BAD_INPUT, "%s: \"%.40s\" is not one of NONE FCW PB1 PB2 FB",
                           what, s);
    return RES_OK;
}

/* ------------------------------------------------------------------ transactions */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

int res_run_tx(res_db *db, int kind, res_tx_body body, void *arg, res_err *err)
{
    int waited = 0, delay = 20, retries = 0;
    for (;;) {
        db->transient = RES_T_NONE;
        int rc = db->ops->begin(db, kind, err);
        if (rc == RES_OK) {
            rc = body(db, arg, err);
            if (rc == RES_OK)
                rc = db->ops->commit(db, err);
            if (rc != RES_OK && db->transient != RES_T_LOST)
                db->ops->rollback(db);
        }
        if (rc == RES_OK) {
            err_ok(err);
            return RES_OK;
        }
        if (db->transient == RES_T_RETRY && retries < 20) {
            /* deadlock / serialisation failure: the other transaction wins, we repeat */
            retries++;
            sleep_ms(1 + retries * 3);
            continue;
        }
        if (db->transient != RES_T_LOST || !db->ops->reconnect || db->reconnect_ms < 0)
            return rc;
        /* lost connection: reconnect with exponential backoff within the budget */
        for (;;) {
            if (waited >= db->reconnect_ms)
                return res_err_set(err, RES_E_CONNECT,
                                   "connection lost and not restored within %d ms: %s",
                                   db->reconnect_ms, err ? err->msg : "");
            res_err cerr;
            if (db->ops->reconnect(db, &cerr) == RES_OK)
                break;
            if (err)
                *err = cerr;
            sleep_ms(delay);
            waited += delay;
            delay = delay * 2 > 1000 ? 1000 : delay * 2;
        }
    }
}

/* ------------------------------------------------------------------ open / migrate */

static int read_int_row(void *ctx, const res_val *cols, int ncols, res_err *err)
{
    *(int64_t *)ctx = cols[0].type == RV_INT ? cols[0].i : 0;
    return RES_OK;
}

struct migrate_arg {
    int check_only;
    int from, to;
};

static int migrate_body(res_db *db, void *argp, res_err *err)
{
    struct migrate_arg *a = argp;
    int rc = db->ops->lock_schema(db, err);
    if (rc)
        return rc;
    rc = db->ops->exec(db,
                       "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                       "description TEXT NOT NULL, applied_at TEXT NOT NULL)",
                       err);
    if (rc)
        return rc;
    int64_t cur = 0;
    static const int t_int[] = {RV_INT};
    rc = db->ops->query(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version", NULL, 0, t_int,
                        1, read_int_row, &cur, err);
    if (rc)
        return rc;
    a->from = (int)cur;
    a->to = (int)cur;
    if (cur > RES_SCHEMA_VERSION)
        return res_err_set(err, RES_E_SCHEMA,
                           "database schema version %lld is newer than this library (%d)",
                           (long long)cur, RES_SCHEMA_VERSION);
    if (cur < RES_SCHEMA_VERSION && a->check_only)
        return res_err_set(err, RES_E_SCHEMA,
                           "database schema version %lld is older than %d and migrations are off",
                           (long long)cur, RES_SCHEMA_VERSION);
    char now[32];
    wsm_format_iso8601(wsm_wall_ms(), now);
    for (int v = (int)cur + 1; v <= RES_SCHEMA_VERSION; v++) {
        rc = db->ops->exec(db, db->ops->migrations[v - 1], err);
        if (rc) {
            if (rc != RES_E_BUSY && !db->transient)
                rc = res_err_set(err, RES_E_SCHEMA, "migration to version %d failed: %s", v,
                                 err ? err->msg : "");
            return rc;
        }
        res_val p[3] = {{.type = RV_INT, .i = v},
                        {.type = RV_TEXT, .s = res_migration_desc[v - 1]},
                        {.type = RV_TEXT, .s = now}};
        rc = db->ops->query(db,
                            "INSERT INTO schema_version (version, description, applied_at) "
                            "VALUES ($1, $2, $3)",
                            p, 3, NULL, 0, NULL, NULL, err);
        if (rc)
            return rc;
        a->to = v;
    }
    return RES_OK;
}

int res_open(const char *url, const res_options *opts, res_db **out, res_err *err)
{
    if (!out)
        return res_err_set(err, RES_E_BAD_INPUT, "res_open: out is NULL");
    *out = NULL;
    if (!url)
        return res_err_set(err, RES_E_BAD_URL, "database URL missing");
    res_db *db = calloc(1, sizeof *db);
    if (!db)
        return res_err_set(err, RES_E_NOMEM, "out of memory");
    db->busy_timeout_ms = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 10000;
    db->reconnect_ms = opts && opts->reconnect_ms != 0 ? opts->reconnect_ms : 5000;
    int rc;
    if (strncmp(url, "sqlite:", 7) == 0) {
        rc = res_sqlite_open(db, url + 7, err);
    } else if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0) {
#ifdef RES_HAVE_PG
        rc = res_pg_open(db, url, err);
#else
        rc = res_err_set(err, RES_E_UNSUPPORTED,
                         "postgresql: this build has no libpq (configure with libpq-dev)");
#endif
    } else {
        const char *colon = strchr(url, ':');
        rc = res_err_set(err, RES_E_BAD_URL,
                         "database URL \"%.*s...\": scheme must be sqlite: or postgresql://",
                         colon ? (int)(colon - url) + 1 : 20, url);
    }
    if (rc) {
        free(db);
        return rc;
    }
    struct migrate_arg a = {.check_only = opts && opts->migrate == 1};
    rc = res_run_tx(db, RES_TX_WRITE, migrate_body, &a, err);
    if (rc) {
        res_close(db);
        return rc;
    }
    if (a.to != a.from)
        wsm_log(WSM_LOG_INFO, "results", "%s schema migrated from version %d to %d", db->ops->name,
                a.from, a.to);
    *out = db;
    err_ok(err);
    return RES_OK;
}

void res_close(res_db *db)
{
    if (!db)
        return;
    if (db->ops)
        db->ops->close(db);
    free(db);
}

const char *res_backend(const res_db *db)
{
    return db && db->ops ? db->ops->name : "none";
}

static int version_body(res_db *db, void *arg, res_err *err)
{
    static const int t_int[] = {RV_INT};
    return db->ops->query(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version", NULL, 0,
                          t_int, 1, read_int_row, arg, err);
}

int res_schema_version(res_db *db, int *version, res_err *err)
{
    if (!db || !version)
        return res_err_set(err, RES_E_BAD_INPUT, "res_schema_version: NULL argument");
    int64_t v = 0;
    int rc = res_run_tx(db, RES_TX_READ, version_body, &v, err);
    *version = (int)v;
    return rc;
}

/* ------------------------------------------------------------------ writes */

static int validate_frames(const res_frames *f, res_err *err)
{
    int rc = res_check_id("frames.recording_id", f->recording_id, err);
    if (rc)
        return rc;
    if (f->first_frame < 0)
        return res_err_set(err, RES_E_BAD_INPUT, "frames.first_frame: %lld, expected >= 0",
                           (long long)f->first_frame);
    if (f->n > (size_t)1 << 24)
        return res_err_set(err, RES_E_BAD_INPUT, "frames.n: %zu rows, at most 16777216 per call",
                           f->n);
    if (f->first_frame > INT64_MAX - (int64_t)f->n)
        return res_err_set(err, RES_E_BAD_INPUT, "frames.first_frame: too large");
    const struct {
        const char *name;
        const double *v;
    } dcols[] = {{"t", f->t},         {"ego_v", f->ego_v}, {"range", f->range},
                 {"rel_v", f->rel_v}, {"ttc", f->ttc},     {"decel", f->decel}};
    for (size_t c = 0; c < sizeof dcols / sizeof dcols[0]; c++) {
        const double *v = dcols[c].v;
        if (!v)
            continue;
        for (size_t i = 0; i < f->n; i++)
            if (isinf(v[i]))
                return res_err_set(err, RES_E_BAD_INPUT,
                                   "frames.%s[%zu] (frame %lld): infinite (use NaN for NULL)",
                                   dcols[c].name, i, (long long)(f->first_frame + (int64_t)i));
    }
    const struct {
        const char *name;
        const int8_t *v;
    } bcols[] = {{"fcw", f->fcw}, {"collision", f->collision}};
    for (size_t c = 0; c < 2; c++) {
        const int8_t *v = bcols[c].v;
        if (!v)
            continue;
        for (size_t i = 0; i < f->n; i++)
            if (v[i] > 1)
                return res_err_set(err, RES_E_BAD_INPUT,
                                   "frames.%s[%zu] (frame %lld): %d, expected 0, 1 or negative "
                                   "for NULL",
                                   bcols[c].name, i, (long long)(f->first_frame + (int64_t)i),
                                   v[i]);
    }
    if (f->state)
        for (size_t i = 0; i < f->n; i++)
            if (f->state[i] && res_state_index(f->state[i]) < 0)
                return res_err_set(err, RES_E_BAD_INPUT,
                                   "frames.state[%zu] (frame %lld): \"%.40s\" is not one of NONE "
                                   "FCW PB1 PB2 FB",
                                   i, (long long)(f->first_frame + (int64_t)i), f->state[i]);
    return RES_OK;
}

static int frames_body(res_db *db, void *arg, res_err *err)
{
    return db->ops->write_frames(db, arg, err);
}

int res_write_frames(res_db *db, const res_frames *f, res_err *err)
{
    if (!db || !f)
        return res_err_set(err, RES_E_BAD_INPUT, "res_write_frames: NULL argument");
    int rc = validate_frames(f, err);
    if (rc)
        return rc;
    if (f->n == 0) {
        err_ok(err);
        return RES_OK;
    }
    return res_run_tx(db, RES_TX_WRITE, frames_body, (void *)f, err);
}

static res_val v_real(double d)
{
    res_val v = {.type = isnan(d) ? RV_NULL : RV_REAL, .d = d};
    return v;
}

static res_val v_text(const char *s)
{
    res_val v = {.type = s ? RV_TEXT : RV_NULL, .s = s};
    return v;
}

static res_val v_int(int64_t i, bool null)
{
    res_val v = {.type = null ? RV_NULL : RV_INT, .i = i};
    return v;
}

struct events_arg {
    const char *rec;
    const res_event *ev;
    size_t n;
};

static int events_body(res_db *db, void *argp, res_err *err)
{
    const struct events_arg *a = argp;
    for (size_t i = 0; i < a->n; i++) {
        const res_event *e = &a->ev[i];
        res_val p[10] = {
            v_text(a->rec),   v_int(e->seq, false),       v_real(e->t),     v_text(e->kind),
            v_real(e->ttc),   v_real(e->ego_v),           v_real(e->range), v_real(e->rel_v),
            v_text(e->stage), v_real(e->impact_speed_kmh)};
        int rc = db->ops->query(
            db,
            "INSERT INTO aeb_events (recording_id, seq, t, kind, ttc, ego_v, \"range\", rel_v, "
            "stage, impact_speed_kmh) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
            "ON CONFLICT (recording_id, seq) DO UPDATE SET t = excluded.t, kind = excluded.kind, "
            "ttc = excluded.ttc, ego_v = excluded.ego_v, \"range\" = excluded.\"range\", "
            "rel_v = excluded.rel_v, stage = excluded.stage, "
            "impact_speed_kmh = excluded.impact_speed_kmh",
            p, 10, NULL, 0, NULL, NULL, err);
        if (rc)
            return rc;
    }
    return RES_OK;
}

int res_write_events(res_db *db, const char *recording_id, const res_event *ev, size_t n,
                     res_err *err)
{
    if (!db || (!ev && n))
        return res_err_set(err, RES_E_BAD_INPUT, "res_write_events: NULL argument");
    int rc = res_check_id("events.recording_id", recording_id, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const res_event *e = &ev[i];
        char what[64];
        if (e->seq < 0)
            return res_err_set(err, RES_E_BAD_INPUT, "events[%zu].seq: %lld, expected >= 0", i,
                               (long long)e->seq);
        if (res_event_kind_index(e->kind) < 0)
            return res_err_set(err, RES_E_BAD_INPUT,
                               "events[%zu].kind: \"%.40s\" is not one of fcw_onset brake_onset "
                               "stage_change collision aeb_release",
                               i, e->kind ? e->kind : "(null)");
        const struct {
            const char *name;
            double v;
        } d[] = {{"t", e->t},         {"ttc", e->ttc},
                 {"ego_v", e->ego_v}, {"range", e->range},
                 {"rel_v", e->rel_v}, {"impact_speed_kmh", e->impact_speed_kmh}};
        for (size_t k = 0; k < sizeof d / sizeof d[0]; k++) {
            snprintf(what, sizeof what, "events[%zu].%s", i, d[k].name);
            if ((rc = check_num(what, d[k].v, err)))
                return rc;
        }
        snprintf(what, sizeof what, "events[%zu].stage", i);
        if ((rc = check_stage(what, e->stage, err)))
            return rc;
    }
    if (n == 0) {
        err_ok(err);
        return RES_OK;
    }
    struct events_arg a = {recording_id, ev, n};
    return res_run_tx(db, RES_TX_WRITE, events_body, &a, err);
}

static int summary_body(res_db *db, void *argp, res_err *err)
{
    const res_summary *s = argp;
    res_val p[10] = {v_text(s->recording_id),     v_int(s->frames, s->frames < 0),
                     v_real(s->min_ttc),          v_real(s->t_min_ttc),
                     v_text(s->max_stage),        v_int(s->collision, s->collision < 0),
                     v_real(s->impact_speed_kmh), v_real(s->first_fcw_t),
                     v_real(s->first_brake_t),    v_text(s->params_json)};
    return db->ops->query(
        db,
        "INSERT INTO aeb_summary (recording_id, frames, min_ttc, t_min_ttc, max_stage, collision, "
        "impact_speed_kmh, first_fcw_t, first_brake_t, params) VALUES ($1, $2, $3, $4, $5, $6, $7, "
        "$8, $9, $10) ON CONFLICT (recording_id) DO UPDATE SET frames = excluded.frames, "
        "min_ttc = excluded.min_ttc, t_min_ttc = excluded.t_min_ttc, "
        "max_stage = excluded.max_stage, collision = excluded.collision, "
        "impact_speed_kmh = excluded.impact_speed_kmh, first_fcw_t = excluded.first_fcw_t, "
        "first_brake_t = excluded.first_brake_t, params = excluded.params",
        p, 10, NULL, 0, NULL, NULL, err);
}

int res_write_summary(res_db *db, const res_summary *s, res_err *err)
{
    if (!db || !s)
        return res_err_set(err, RES_E_BAD_INPUT, "res_write_summary: NULL argument");
    int rc = res_check_id("summary.recording_id", s->recording_id, err);
    if (rc)
        return rc;
    const struct {
        const char *name;
        double v;
    } d[] = {{"summary.min_ttc", s->min_ttc},
             {"summary.t_min_ttc", s->t_min_ttc},
             {"summary.impact_speed_kmh", s->impact_speed_kmh},
             {"summary.first_fcw_t", s->first_fcw_t},
             {"summary.first_brake_t", s->first_brake_t}};
    for (size_t k = 0; k < sizeof d / sizeof d[0]; k++)
        if ((rc = check_num(d[k].name, d[k].v, err)))
            return rc;
    if ((rc = check_stage("summary.max_stage", s->max_stage, err)))
        return rc;
    if (s->collision > 1)
        return res_err_set(err, RES_E_BAD_INPUT,
                           "summary.collision: %d, expected 0, 1 or negative for NULL",
                           s->collision);
    if (s->params_json) {
        size_t n = strlen(s->params_json);
        if (n > 1 << 20)
            return res_err_set(err, RES_E_BAD_INPUT, "summary.params: %zu bytes, at most 1 MiB", n);
        const char *end = NULL;
        cJSON *j = cJSON_ParseWithLengthOpts(s->params_json, n, &end, false);
        bool ok = j && cJSON_IsObject(j) && end == s->params_json + n;
        cJSON_Delete(j);
        if (!ok)
            return res_err_set(err, RES_E_BAD_INPUT,
                               "summary.params: not a JSON object (error near byte %zu)",
                               end && end >= s->params_json ? (size_t)(end - s->params_json) : 0);
        if (!wsm_utf8_valid(s->params_json, n))
            return res_err_set(err, RES_E_BAD_INPUT, "summary.params: not valid UTF-8");
    }
    return res_run_tx(db, RES_TX_WRITE, summary_body, (void *)s, err);
}

struct rec_arg {
    const res_recording *r;
    const char *now;
};

static int recording_body(res_db *db, void *argp, res_err *err)
{
    const struct rec_arg *a = argp;
    const res_recording *r = a->r;
    res_val p[9] = {v_text(r->id),
                    v_text(r->path),
                    v_text(r->sha256),
                    v_int(r->frames, r->frames < 0),
                    v_real(r->t_start),
                    v_real(r->t_end),
                    v_text(r->status),
                    v_text(r->created_at ? r->created_at : a->now),
                    v_int(r->created_at ? 1 : 0, false)};
    return db->ops->query(
        db,
        "INSERT INTO recordings (id, path, sha256, frames, t_start, t_end, status, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET "
        "path = COALESCE(excluded.path, recordings.path), "
        "sha256 = COALESCE(excluded.sha256, recordings.sha256), "
        "frames = COALESCE(excluded.frames, recordings.frames), "
        "t_start = COALESCE(excluded.t_start, recordings.t_start), "
        "t_end = COALESCE(excluded.t_end, recordings.t_end), "
        "status = COALESCE(excluded.status, recordings.status), "
        "created_at = CASE WHEN $9 = 1 THEN excluded.created_at ELSE recordings.created_at END",
        p, 9, NULL, 0, NULL, NULL, err);
}

int res_write_recording(res_db *db, const res_recording *r, res_err *err)
{
    if (!db || !r)
        return res_err_set(err, RES_E_BAD_INPUT, "res_write_recording: NULL argument");
    int rc = res_check_id("recording.id", r->id, err);
    if (rc)
        return rc;
    if ((rc = check_text("recording.path", r->path, 4096, err)) ||
        (rc = check_text("recording.sha256", r->sha256, 128, err)) ||
        (rc = check_text("recording.status", r->status, 64, err)) ||
        (rc = check_text("recording.created_at", r->created_at, 64, err)) ||
        (rc = check_num("recording.t_start", r->t_start, err)) ||
        (rc = check_num("recording.t_end", r->t_end, err)))
        return rc;
    char now[32];
    wsm_format_iso8601(wsm_wall_ms(), now);
    struct rec_arg a = {r, now};
    return res_run_tx(db, RES_TX_WRITE, recording_body, &a, err);
}

struct alias_arg {
    const char *alias, *rec;
};

static int alias_body(res_db *db, void *argp, res_err *err)
{
    const struct alias_arg *a = argp;
    res_val p[2] = {v_text(a->alias), v_text(a->rec)};
    return db->ops->query(db,
                          "INSERT INTO recording_aliases (alias, recording_id) VALUES ($1, $2) "
                          "ON CONFLICT (alias) DO UPDATE SET recording_id = excluded.recording_id",
                          p, 2, NULL, 0, NULL, NULL, err);
}

int res_write_alias(res_db *db, const char *alias, const char *recording_id, res_err *err)
{
    if (!db)
        return res_err_set(err, RES_E_BAD_INPUT, "res_write_alias: db is NULL");
    int rc = res_check_id("alias", alias, err);
    if (rc || (rc = res_check_id("alias.recording_id", recording_id, err)))
        return rc;
    if (strcmp(alias, recording_id) == 0)
        return res_err_set(err, RES_E_BAD_INPUT, "alias: \"%.80s\" is the recording's own id",
                           alias);
    struct alias_arg a = {alias, recording_id};
    return res_run_tx(db, RES_TX_WRITE, alias_body, &a, err);
}
