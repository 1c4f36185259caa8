/*
 * test_store.c - unit tests of the broker stores (src/hub/store*): the memory store persists
 * nothing; the sqlite store restores everything acknowledged after a restart (queued,
 * deferred, scheduled, started -> queued with the attempt counted, ended registries,
 * payloads, key state, emit dedup ids), a simulated crash loses only unacknowledged changes,
 * and a batch can commit on another thread while the broker keeps running.
 */
#include "broker_fixture.h"
#include "store.h"

#include <pthread.h>
#include <unistd.h>

static char dir[256];

static void db_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static broker_queue_decl qs[3];
static broker_route_decl rs[1];

static fx *fx_store(void)
{
    qs[0] = fx_q("src", 0);
    qs[1] = fx_q("dst", 0);
    qs[2] = fx_q("other", 0);
    rs[0] = (broker_route_decl){"src", "out", "dst"};
    return fx_new_cfg(qs, 3, rs, 1, NULL, true);
}

/* Takes and commits one batch; returns the seq it covered (0: nothing to write). */
static uint64_t flush(store *s, fx *f)
{
    int code = -1;
    store_batch *bt = store_batch_take(s, f->b, &code);
    CHECK_EQ_INT(code, WSM_OK);
    if (!bt)
        return 0;
    wsm_err e = {0};
    int rc = store_batch_commit(s, bt, &e);
    if (rc)
        fprintf(stderr, "commit: %s\n", e.msg);
    CHECK_EQ_INT(rc, WSM_OK);
    uint64_t seq = store_batch_seq(bt);
    CHECK(store_batch_size(bt) > 0);
    store_batch_free(bt);
    return seq;
}

static fx *reopen(store **s, const char *path)
{
    wsm_err e = {0};
    *s = store_sqlite_open(path, 0, &e);
    CHECK(*s != NULL);
    fx *f = fx_store();
    CHECK_EQ_INT(store_load(*s, f->b, &e), WSM_OK);
    return f;
}

/* The process ends (f and *s freed, nothing more flushed) and a new one loads the store. */
static fx *restart(fx *f, store **s, const char *path)
{
    fx_free(f);
    store_free(*s);
    return reopen(s, path);
}

TEST(memory_store_persists_nothing)
{
    store *s = store_memory_new();
    CHECK(!store_persistent(s));
    CHECK_STR(store_kind(s), "memory");
    qs[0] = fx_q("src", 0);
    fx *f = fx_new_cfg(qs, 1, NULL, 0, NULL, false);
    CHECK_EQ_INT(store_load(s, f->b, NULL), WSM_OK);
    fx_enq(f, "src", "a", NULL, NULL);
    CHECK_EQ_INT(broker_change_seq(f->b), 0); /* nothing to wait for */
    int code = -1;
    CHECK(store_batch_take(s, f->b, &code) == NULL);
    CHECK_EQ_INT(code, WSM_OK);
    fx_free(f);
    store_free(s);
}

TEST(sqlite_restart_restores_everything_acknowledged)
{
    char path[512];
    db_path(path, sizeof path, "restart.db");
    wsm_err e = {0};
    store *s = store_sqlite_open(path, 0, &e);
    CHECK(s != NULL);
    CHECK(store_persistent(s));
    CHECK_STR(store_kind(s), "sqlite");
    fx *f = fx_store();
    CHECK_EQ_INT(store_load(s, f->b, &e), WSM_OK);
    /* a queued job with a binary payload */
    broker_job_spec sp;
    fx_spec(&sp, "other", "bin", NULL);
    sp.args = "{\"file\":\"x.mf4\"}";
    sp.args_len = strlen(sp.args);
    sp.meta = "{\"m\":1}";
    sp.meta_len = 7;
    static const unsigned char pl[] = {0, 1, 2, 0xff, '\n'};
    sp.payload = pl;
    sp.len = sizeof pl;
    sp.content_type = "application/octet-stream";
    broker_reply r;
    CHECK_EQ_INT(broker_enqueue(f->b, NULL, &sp, &r, NULL), WSM_OK);
    uint64_t need = broker_change_seq(f->b);
    CHECK(need > 0);
    uint64_t got = flush(s, f);
    CHECK(got >= need);
    /* deferred and scheduled */
    const char *deps[] = {"bin"};
    fx_spec(&sp, "other", "def", NULL);
    sp.depends_on = deps;
    sp.n_depends_on = 1;
    broker_enqueue(f->b, NULL, &sp, &r, NULL);
    fx_spec(&sp, "other", "sch", NULL);
    sp.enqueue_in_ms = 60000;
    broker_enqueue(f->b, NULL, &sp, &r, NULL);
    /* a reader job: started, 2 emits with a key, then a keyed job finished with state */
    fx_spec(&sp, "src", "rec", NULL);
    sp.opts.retry_max = 3;
    broker_enqueue(f->b, NULL, &sp, &r, NULL);
    broker_conn *w = fx_worker(f, "w", "src", 1);
    CHECK_STR(f->disp[0].id, "rec");
    broker_job_spec es;
    broker_job_spec_init(&es);
    es.key = "K";
    CHECK_EQ_INT(broker_emit(f->b, w, "rec", "out", 0, &es, 1, &r, NULL), WSM_OK);
    CHECK_EQ_INT(broker_emit(f->b, w, "rec", "out", 1, &es, 2, &r, NULL), WSM_OK);
    broker_conn *d = fx_worker(f, "d", "dst", 1);
    CHECK_STR(f->disp[1].id, "rec.0");
    CHECK_EQ_INT(fx_result(f, d, "rec.0", 1, "{\"v\":0}", "{\"n\":1}"), WSM_OK);
    CHECK_STR(f->disp[2].id, "rec.1"); /* started when the "crash" happens */
    fx_spec(&sp, "other", "fin", NULL);
    broker_enqueue(f->b, NULL, &sp, &r, NULL);
    broker_conn *o = fx_worker(f, "o", "other", 1);
    /* other: bin started (def waits for it); finish bin -> def queued -> def started */
    CHECK_EQ_INT(fx_result(f, o, "bin", 1, "{\"ok\":1}", NULL), WSM_OK);
    CHECK_STR(fx_status(f, "def"), "started");
    need = broker_change_seq(f->b);
    CHECK(flush(s, f) >= need);
    CHECK_EQ_INT(flush(s, f), 0); /* nothing pending */
    /* the process dies: no more flushes */
    f = restart(f, &s, path);
    CHECK_STR(fx_status(f, "bin"), "finished");
    CHECK_STR(fx_field(f, "bin", "result"), "{\"ok\":1}");
    CHECK_STR(fx_field(f, "bin", "meta"), "{\"m\":1}");
    CHECK_STR(fx_status(f, "def"), "queued"); /* was started: its worker is gone */
    CHECK_STR(fx_field(f, "def", "attempt"), "1");
    CHECK_STR(fx_status(f, "sch"), "scheduled");
    CHECK_STR(fx_status(f, "rec"), "queued");
    CHECK_STR(fx_status(f, "rec.0"), "finished");
    CHECK_STR(fx_status(f, "rec.1"), "queued"); /* was started */
    CHECK_STR(fx_field(f, "rec.1", "attempt"), "1");
    CHECK_STR(fx_status(f, "fin"), "queued");
    CHECK_STR(fx_field(f, "rec", "tree_status"), "running");
    /* the re-run reader gets attempt 2; its emits are deduplicated */
    w = fx_worker(f, "w2", "src", 1);
    CHECK_STR(f->disp[0].id, "rec");
    CHECK_EQ_INT(f->disp[0].attempt, 2);
    CHECK_EQ_INT(broker_emit(f->b, w, "rec", "out", 0, &es, 1, &r, NULL), WSM_OK);
    CHECK_STR(r.status, "duplicate");
    CHECK_EQ_INT(broker_emit(f->b, w, "rec", "out", 1, &es, 1, &r, NULL), WSM_OK);
    CHECK_STR(r.status, "duplicate");
    CHECK_EQ_INT(broker_emit(f->b, w, "rec", "out", 2, &es, 1, &r, NULL), WSM_OK);
    CHECK_STR(r.status, "queued");
    CHECK_STR(fx_status(f, "rec.2"), "queued"); /* behind rec.1 on key K */
    /* the payload survived byte for byte */
    o = fx_worker(f, "o", "other", 5);
    bool found = false;
    for (int i = 0; i < f->nd; i++)
        if (strcmp(f->disp[i].id, "def") == 0) {
            found = true;
            CHECK_EQ_INT(f->disp[i].attempt, 2);
        }
    CHECK(found);
    d = fx_worker(f, "d", "dst", 1);
    CHECK_STR(f->disp[f->nd - 1].id, "rec.1");
    CHECK_EQ_INT(f->disp[f->nd - 1].attempt, 2);
    CHECK_STR(f->disp[f->nd - 1].state, "{\"n\":1}"); /* key state survived */
    /* rec.1 fails for good: the stopped key survives a restart too */
    CHECK_EQ_INT(fx_fail(f, d, "rec.1", 2, false), WSM_OK);
    CHECK_STR(fx_status(f, "rec.2"), "canceled");
    flush(s, f);
    f = restart(f, &s, path);
    CHECK_STR(fx_status(f, "rec.1"), "failed");
    CHECK_STR(fx_status(f, "rec.2"), "canceled");
    CHECK_STR(fx_field(f, "rec.2", "reason"), "key_failed: rec.1");
    CHECK_EQ_INT(fx_enq(f, "dst", "late", "K", &r), WSM_OK);
    CHECK_STR(r.status, "canceled");
    fx_free(f);
    store_free(s);
}

TEST(sqlite_payload_survives)
{
    char path[512];
    db_path(path, sizeof path, "payload.db");
    store *s;
    fx *f = reopen(&s, path);
    broker_job_spec sp;
    fx_spec(&sp, "other", "p", NULL);
    static const unsigned char pl[] = {0, 1, 2, 0xff, '\n', 0x80};
    sp.payload = pl;
    sp.len = sizeof pl;
    sp.payload_meta = "{\"rows\":1}";
    sp.payload_meta_len = strlen(sp.payload_meta);
    broker_reply r;
    broker_enqueue(f->b, NULL, &sp, &r, NULL);
    flush(s, f);
    f = restart(f, &s, path);
    broker_conn *w = fx_worker(f, "w", "other", 1);
    CHECK_EQ_INT(f->nd, 1);
    CHECK_EQ_INT(f->disp[0].len, sizeof pl);
    CHECK(memcmp(f->disp[0].payload, pl, sizeof pl) == 0);
    fx_result(f, w, "p", 1, NULL, NULL);
    fx_free(f);
    store_free(s);
}

TEST(sqlite_crash_loses_only_unacknowledged)
{
    char path[512];
    db_path(path, sizeof path, "crash.db");
    store *s;
    fx *f = reopen(&s, path);
    fx_enq(f, "other", "acked", NULL, NULL);
    uint64_t need_a = broker_change_seq(f->b);
    uint64_t committed = flush(s, f);
    CHECK(committed >= need_a); /* "acked" may be acknowledged now */
    fx_enq(f, "other", "unacked", NULL, NULL);
    uint64_t need_b = broker_change_seq(f->b);
    CHECK(need_b > committed); /* not covered: its reply must wait */
    /* crash: the pending batch is never taken */
    f = restart(f, &s, path);
    CHECK_STR(fx_status(f, "acked"), "queued");
    CHECK_STR(fx_status(f, "unacked"), "");
    /* a batch taken but not committed is lost too (crash during the commit) */
    fx_enq(f, "other", "taken", NULL, NULL);
    store_batch *bt = store_batch_take(s, f->b, NULL);
    CHECK(bt != NULL);
    store_batch_free(bt);
    f = restart(f, &s, path);
    CHECK_STR(fx_status(f, "taken"), "");
    CHECK_STR(fx_status(f, "acked"), "queued");
    fx_free(f);
    store_free(s);
}

typedef struct commit_arg {
    store *s;
    store_batch *bt;
    int rc;
} commit_arg;

static void *commit_thread(void *p)
{
    commit_arg *a = p;
    a->rc = store_batch_commit(a->s, a->bt, NULL);
    return NULL;
}

TEST(sqlite_commit_on_worker_thread_while_broker_runs)
{
    char path[512];
    db_path(path, sizeof path, "thread.db");
    store *s;
    fx *f = reopen(&s, path);
    broker_conn *w = fx_worker(f, "w", "other", 1000);
    int total = 0;
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 50; i++) {
            char id[32];
            snprintf(id, sizeof id, "r%d-%d", round, i);
            fx_enq(f, "other", id, NULL, NULL);
            total++;
        }
        commit_arg a = {s, store_batch_take(s, f->b, NULL), -1};
        CHECK(a.bt != NULL);
        pthread_t th;
        pthread_create(&th, NULL, commit_thread, &a);
        /* meanwhile the broker keeps working: finish half of this round's jobs */
        for (int i = 0; i < 50; i += 2) {
            char id[32];
            snprintf(id, sizeof id, "r%d-%d", round, i);
            fx_result(f, w, id, 1, NULL, NULL);
        }
        pthread_join(th, NULL);
        CHECK_EQ_INT(a.rc, WSM_OK);
        store_batch_free(a.bt);
    }
    flush(s, f);
    f = restart(f, &s, path);
    CHECK_EQ_INT(fx_count(f, "other", "finished"), total / 2);
    CHECK_EQ_INT(fx_count(f, "other", "queued"), total / 2); /* started ones requeued */
    fx_free(f);
    store_free(s);
}

TEST(sqlite_retention_deletes_rows)
{
    char path[512];
    db_path(path, sizeof path, "retention.db");
    store *s;
    fx *f = reopen(&s, path);
    broker_conn *w = fx_worker(f, "w", "src", 1);
    fx_enq(f, "src", "root", NULL, NULL);
    broker_job_spec es;
    broker_job_spec_init(&es);
    broker_reply r;
    broker_emit(f->b, w, "root", "out", 0, &es, 1, &r, NULL);
    fx_result(f, w, "root", 1, NULL, NULL);
    broker_conn *d = fx_worker(f, "d", "dst", 1);
    fx_result(f, d, "root.0", 1, NULL, NULL);
    flush(s, f);
    fx_advance(f, 24 * 3600 * 1000LL);
    CHECK_EQ_INT(broker_job_count(f->b), 0);
    flush(s, f);
    f = restart(f, &s, path);
    CHECK_EQ_INT(broker_job_count(f->b), 0);
    CHECK_EQ_INT(broker_tree_count(f->b), 0);
    /* the root is gone: its id and its children's ids can be used again */
    CHECK_EQ_INT(fx_enq(f, "src", "root", NULL, NULL), WSM_OK);
    fx_free(f);
    store_free(s);
}

TEST(sqlite_restart_keys_deps_and_retries)
{
    char path[512];
    db_path(path, sizeof path, "keys.db");
    store *s;
    fx *f = reopen(&s, path);
    /* key K: k1 started, k2 waiting behind it; key R: r1 scheduled for a retry, r2 waiting */
    fx_enq(f, "dst", "k1", "K", NULL);
    fx_enq(f, "dst", "k2", "K", NULL);
    broker_job_spec sp;
    fx_spec(&sp, "dst", "r1", "R");
    fx_retry(&sp, 2, 5000);
    broker_reply r;
    broker_enqueue(f->b, NULL, &sp, &r, NULL);
    fx_enq(f, "dst", "r2", "R", NULL);
    /* dependency: d waits for p (queued in "other", no consumer) */
    fx_enq(f, "other", "p", NULL, NULL);
    const char *deps[] = {"p"};
    fx_spec(&sp, "other", "d", NULL);
    sp.depends_on = deps;
    sp.n_depends_on = 1;
    broker_enqueue(f->b, NULL, &sp, &r, NULL);
    broker_conn *w = fx_worker(f, "w", "dst", 10);
    CHECK_EQ_INT(f->nd, 2); /* k1, r1 */
    CHECK_EQ_INT(fx_fail(f, w, "r1", 1, true), WSM_OK);
    CHECK_STR(fx_status(f, "r1"), "scheduled");
    flush(s, f);
    f = restart(f, &s, path);
    CHECK_STR(fx_status(f, "k1"), "queued");
    CHECK_STR(fx_status(f, "k2"), "queued");
    CHECK_STR(fx_status(f, "r1"), "scheduled");
    CHECK_STR(fx_status(f, "d"), "deferred");
    w = fx_worker(f, "w", "dst", 10);
    CHECK_EQ_INT(f->nd, 1); /* only k1: k2 behind it, R held by the retried r1 */
    CHECK_STR(f->disp[0].id, "k1");
    CHECK_EQ_INT(f->disp[0].attempt, 2);
    fx_advance(f, 5000);
    CHECK_EQ_INT(f->nd, 2);
    CHECK_STR(f->disp[1].id, "r1");
    CHECK_EQ_INT(f->disp[1].attempt, 2);
    fx_result(f, w, "k1", 2, NULL, "1");
    CHECK_STR(f->disp[2].id, "k2");
    CHECK_STR(f->disp[2].state, "1");
    broker_conn *o = fx_worker(f, "o", "other", 1);
    fx_result(f, o, "p", 1, NULL, NULL);
    CHECK_STR(fx_status(f, "d"), "started");
    fx_free(f);
    store_free(s);
}

TEST(sqlite_dedup_survives_when_children_were_purged)
{
    char path[512];
    db_path(path, sizeof path, "dedup.db");
    store *s;
    fx *f = reopen(&s, path);
    fx_enq(f, "src", "R", NULL, NULL);
    broker_conn *w = fx_worker(f, "w", "src", 1);
    broker_job_spec es;
    broker_job_spec_init(&es);
    broker_reply r;
    CHECK_EQ_INT(broker_emit(f->b, w, "R", "out", 0, &es, 1, &r, NULL), WSM_OK);
    broker_conn *d = fx_worker(f, "d", "dst", 1);
    fx_result(f, d, "R.0", 1, NULL, NULL);
    fx_advance(f, 60000); /* emitted retention: R.0 purged, R still running */
    CHECK_STR(fx_status(f, "R.0"), "");
    flush(s, f);
    f = restart(f, &s, path);
    CHECK_STR(fx_status(f, "R.0"), "");
    w = fx_worker(f, "w", "src", 1);
    CHECK_EQ_INT(f->disp[0].attempt, 2);
    CHECK_EQ_INT(broker_emit(f->b, w, "R", "out", 0, &es, 1, &r, NULL), WSM_OK);
    CHECK_STR(r.status, "duplicate"); /* processed before the crash: not again */
    CHECK_EQ_INT(broker_emit(f->b, w, "R", "out", 1, &es, 1, &r, NULL), WSM_OK);
    CHECK_STR(r.status, "queued");
    fx_free(f);
    store_free(s);
}

TEST(sqlite_forgotten_key_leaves_no_stale_record)
{
    char path[512];
    db_path(path, sizeof path, "stalekey.db");
    store *s;
    fx *f = reopen(&s, path);
    fx_enq(f, "other", "j3", "K", NULL);
    broker_conn *w = fx_worker(f, "w", "other", 1);
    fx_fail(f, w, "j3", 1, false); /* stops K */
    flush(s, f);                   /* the store has K {"stopped_by":"j3"} */
    broker_requeue(f->b, "j3", NULL, NULL);
    fx_result(f, w, "j3", 1, NULL, NULL);
    fx_advance(f, 24 * 3600 * 1000LL); /* j3 purged: K forgotten */
    CHECK_EQ_INT(broker_job_count(f->b), 0);
    broker_reply r;
    broker_credit(f->b, w, -1);                              /* j4 stays queued */
    CHECK_EQ_INT(fx_enq(f, "other", "j4", "K", &r), WSM_OK); /* a new life of key K */
    CHECK_STR(r.status, "queued");
    flush(s, f);
    f = restart(f, &s, path);
    CHECK_STR(fx_status(f, "j4"), "queued"); /* not canceled by a stale stop marker */
    fx_free(f);
    store_free(s);
}

TEST(sqlite_bad_files)
{
    char path[512];
    wsm_err e = {0};
    CHECK(store_sqlite_open("/nonexistent-dir/x.db", 0, &e) == NULL);
    CHECK_EQ_INT(e.code, WSM_E_IO);
    db_path(path, sizeof path, "garbage.db");
    FILE *fp = fopen(path, "wb");
    fputs("this is not a database, just some bytes.............................", fp);
    fclose(fp);
    CHECK(store_sqlite_open(path, 0, &e) == NULL);
    CHECK_EQ_INT(e.code, WSM_E_IO);
    CHECK(store_sqlite_open(NULL, 0, &e) == NULL);
    CHECK_EQ_INT(e.code, WSM_E_BAD_FIELD);
    /* a corrupt record is reported, not a crash */
    db_path(path, sizeof path, "corrupt.db");
    store *s = store_sqlite_open(path, STORE_SQLITE_SYNC_NORMAL, &e);
    CHECK(s != NULL);
    store_free(s);
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "python3 -c \"import sqlite3; c=sqlite3.connect('%s'); c.execute(\\\"insert into "
             "jobs(id, rec) values('x', 'not json')\\\"); c.commit()\"",
             path);
    if (system(cmd) == 0) {
        s = store_sqlite_open(path, 0, &e);
        fx *f = fx_store();
        CHECK_EQ_INT(store_load(s, f->b, &e), WSM_E_BAD_FIELD);
        fx_free(f);
        store_free(s);
    }
}

int main(void)
{
    const char *base = getenv("WSM_BUILDDIR");
    snprintf(dir, sizeof dir, "%s/wsm-store-test-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    RUN(memory_store_persists_nothing);
    RUN(sqlite_restart_restores_everything_acknowledged);
    RUN(sqlite_payload_survives);
    RUN(sqlite_crash_loses_only_unacknowledged);
    RUN(sqlite_commit_on_worker_thread_while_broker_runs);
    RUN(sqlite_retention_deletes_rows);
    RUN(sqlite_restart_keys_deps_and_retries);
    RUN(sqlite_dedup_survives_when_children_were_purged);
    RUN(sqlite_forgotten_key_leaves_no_stale_record);
    RUN(sqlite_bad_files);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return TEST_DONE();
}
