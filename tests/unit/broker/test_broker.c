/*
 * test_broker.c - unit tests of the pure broker core (src/hub/broker*): each test is a short
 * scenario with a fake clock and a recording output interface (broker_fixture.h); no
 * sockets, no store. One test per rule of docs/protocol.md §5-§6.
 */
#include "broker_fixture.h"

static fx *fx_one(const char *q, int64_t max_length)
{
    static broker_queue_decl d[1];
    d[0] = fx_q(q, max_length);
    return fx_new_cfg(d, 1, NULL, 0, NULL, false);
}

TEST(enqueue_dispatch_result)
{
    fx *f = fx_one("q", 0);
    broker_job_spec s;
    broker_job_spec_init(&s);
    s.queue = "q";
    s.args = "{\"a\":1}";
    s.args_len = strlen(s.args);
    s.content_type = "application/octet-stream";
    static const unsigned char bin[] = {0, 0xff, 0xfe, '\n', 7};
    s.payload = bin;
    s.len = sizeof bin;
    broker_reply r;
    CHECK_EQ_INT(broker_enqueue(f->b, NULL, &s, &r, NULL), WSM_OK);
    CHECK_STR(r.status, "queued");
    CHECK_EQ_INT(strlen(r.job_id), 20); /* generated: 20 hex chars */
    CHECK_EQ_INT(f->nd, 0);
    broker_conn *w = fx_worker(f, "w1", "q", 1);
    CHECK_EQ_INT(f->nd, 1);
    CHECK_STR(f->disp[0].id, r.job_id);
    CHECK_STR(f->disp[0].conn, "w1");
    CHECK_EQ_INT(f->disp[0].attempt, 1);
    CHECK_STR(f->disp[0].args, "{\"a\":1}");
    CHECK_STR(f->disp[0].ct, "application/octet-stream");
    CHECK_EQ_INT(f->disp[0].len, sizeof bin);
    CHECK(memcmp(f->disp[0].payload, bin, sizeof bin) == 0);
    CHECK_STR(fx_status(f, r.job_id), "started");
    CHECK_EQ_INT(broker_leased_count(f->b), 1);
    CHECK_EQ_INT(fx_result(f, w, r.job_id, 1, "{\"ok\":true}", NULL), WSM_OK);
    CHECK_STR(fx_status(f, r.job_id), "finished");
    CHECK_STR(fx_field(f, r.job_id, "result"), "{\"ok\":true}");
    CHECK_EQ_INT(fx_count(f, "q", "finished"), 1);
    CHECK_EQ_INT(broker_leased_count(f->b), 0);
    /* a second result for the same attempt is refused */
    CHECK_EQ_INT(fx_result(f, w, r.job_id, 1, NULL, NULL), WSM_E_BAD_STATE);
    CHECK_EQ_INT(fx_result(f, w, "nope", 1, NULL, NULL), WSM_E_NO_SUCH_JOB);
    broker_job_spec_init(&s);
    s.queue = "nope";
    CHECK_EQ_INT(broker_enqueue(f->b, NULL, &s, &r, NULL), WSM_E_NO_SUCH_QUEUE);
    broker_conn_free(f->b, w);
    fx_free(f);
}

TEST(queue_full)
{
    fx *f = fx_one("q", 2);
    CHECK_EQ_INT(fx_enq(f, "q", "a", NULL, NULL), WSM_OK);
    CHECK_EQ_INT(fx_enq(f, "q", "b", NULL, NULL), WSM_OK);
    wsm_err e = {0};
    broker_job_spec s;
    fx_spec(&s, "q", "c", NULL);
    broker_reply r;
    CHECK_EQ_INT(broker_enqueue(f->b, NULL, &s, &r, &e), WSM_E_QUEUE_FULL);
    CHECK(strstr(e.msg, "'q'") != NULL);
    CHECK_STR(fx_status(f, "c"), ""); /* nothing enqueued */
    /* scheduled jobs are not refused (they do not occupy the queue yet) */
    s.enqueue_in_ms = 1000;
    CHECK_EQ_INT(broker_enqueue(f->b, NULL, &s, &r, &e), WSM_OK);
    CHECK_STR(r.status, "scheduled");
    broker_conn *w = fx_worker(f, "w", "q", 1);
    CHECK_EQ_INT(fx_enq(f, "q", "d", NULL, NULL), WSM_OK); /* one slot freed by dispatch */
    CHECK_EQ_INT(fx_enq(f, "q", "e", NULL, NULL), WSM_E_QUEUE_FULL);
    broker_conn_free(f->b, w);
    fx_free(f);
}

static fx *fx_pipeline(int64_t dst_max)
{
    static broker_queue_decl d[3];
    static broker_route_decl r[2];
    d[0] = fx_q("src", 0);
    d[1] = fx_q("dst", dst_max);
    d[2] = fx_q("db", 0);
    r[0] = (broker_route_decl){"src", "out", "dst"};
    r[1] = (broker_route_decl){"src", "result", "db"};
    return fx_new_cfg(d, 3, r, 2, NULL, false);
}

static int fx_emit(fx *f, broker_conn *c, const char *parent, int64_t seq, const char *key,
                   uint64_t req, broker_reply *r)
{
    broker_job_spec s;
    broker_job_spec_init(&s);
    s.key = key;
    char args[64];
    snprintf(args, sizeof args, "{\"seq\":%lld}", (long long)seq);
    s.args = args;
    s.args_len = strlen(args);
    return broker_emit(f->b, c, parent, "out", seq, &s, req, r, NULL);
}

TEST(held_emit_completed_when_space_frees)
{
    fx *f = fx_pipeline(1);
    broker_conn *w = fx_worker(f, "w", "src", 1);
    CHECK_EQ_INT(fx_enq(f, "src", "p", NULL, NULL), WSM_OK);
    CHECK_EQ_INT(f->nd, 1);
    broker_reply r;
    CHECK_EQ_INT(fx_emit(f, w, "p", 0, NULL, 10, &r), WSM_OK);
    CHECK_STR(r.status, "queued");
    CHECK_STR(r.job_id, "p.0");
    CHECK(!r.held);
    CHECK_EQ_INT(fx_emit(f, w, "p", 1, NULL, 11, &r), WSM_OK);
    CHECK(r.held);
    CHECK_EQ_INT(fx_emit(f, w, "p", 2, NULL, 12, &r), WSM_OK);
    CHECK(r.held);
    CHECK_EQ_INT(f->ne, 0);
    CHECK_EQ_INT(fx_count(f, "dst", "queued"), 1);
    /* unknown output, unleased parent */
    broker_job_spec s;
    broker_job_spec_init(&s);
    CHECK_EQ_INT(broker_emit(f->b, w, "p", "nope", 0, &s, 1, &r, NULL), WSM_E_NO_SUCH_QUEUE);
    CHECK_EQ_INT(broker_emit(f->b, w, "x", "out", 0, &s, 1, &r, NULL), WSM_E_NO_SUCH_JOB);
    /* a consumer of dst frees space: held emits enter one by one, in order */
    broker_conn *d = fx_worker(f, "d", "dst", 1);
    CHECK_EQ_INT(f->ne, 1);
    CHECK_EQ_INT(f->emit_done[0].req, 11);
    CHECK_EQ_INT(f->emit_done[0].code, WSM_OK);
    CHECK_STR(f->emit_done[0].status, "queued");
    CHECK_STR(f->emit_done[0].id, "p.1");
    CHECK_STR(f->disp[f->nd - 1].id, "p.0");
    CHECK_STR(f->disp[f->nd - 1].parent, "p");
    CHECK_STR(f->disp[f->nd - 1].root, "p");
    CHECK_EQ_INT(fx_result(f, d, "p.0", 1, NULL, NULL), WSM_OK);
    CHECK_EQ_INT(f->ne, 2);
    CHECK_EQ_INT(f->emit_done[1].req, 12);
    CHECK_STR(f->disp[f->nd - 1].id, "p.1");
    broker_conn_free(f->b, d);
    broker_conn_free(f->b, w);
    fx_free(f);
}

TEST(held_emit_dropped_on_disconnect)
{
    fx *f = fx_pipeline(1);
    broker_conn *w = fx_worker(f, "w", "src", 1);
    fx_enq(f, "src", "p", NULL, NULL);
    broker_reply r;
    fx_emit(f, w, "p", 0, NULL, 1, &r);
    fx_emit(f, w, "p", 1, NULL, 2, &r);
    CHECK(r.held);
    broker_conn_free(f->b, w); /* p goes back to queued (attempt counted, no retry: failed) */
    CHECK_EQ_INT(f->ne, 0);
    CHECK_STR(fx_status(f, "p"), "failed");
    CHECK_STR(fx_field(f, "p", "reason"), "worker_lost");
    CHECK_STR(fx_status(f, "p.1"), "");
    broker_conn *d = fx_worker(f, "d", "dst", 1);
    CHECK_EQ_INT(f->ne, 0);
    CHECK_EQ_INT(fx_result(f, d, "p.0", 1, NULL, NULL), WSM_OK);
    /* the tree (p failed, p.0 finished) has ended, and failed */
    cJSON *t = broker_query_tree(f->b, "p", NULL);
    CHECK_STR(cJSON_GetObjectItem(t, "status")->valuestring, "failed");
    CHECK_EQ_INT(cJSON_GetObjectItem(t, "jobs")->valuedouble, 2);
    cJSON_Delete(t);
    broker_conn_free(f->b, d);
    fx_free(f);
}

TEST(duplicate_and_bad_ids)
{
    fx *f = fx_one("q", 0);
    CHECK_EQ_INT(fx_enq(f, "q", "a", NULL, NULL), WSM_OK);
    CHECK_EQ_INT(fx_enq(f, "q", "a", NULL, NULL), WSM_E_DUPLICATE_ID);
    CHECK_EQ_INT(fx_enq(f, "q", "bad id", NULL, NULL), WSM_E_BAD_FIELD);
    CHECK_EQ_INT(fx_enq(f, "q", "", NULL, NULL), WSM_E_BAD_FIELD);
    char longid[300];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = 0;
    CHECK_EQ_INT(fx_enq(f, "q", longid, NULL, NULL), WSM_E_BAD_FIELD);
    longid[200] = 0;
    CHECK_EQ_INT(fx_enq(f, "q", longid, NULL, NULL), WSM_OK);
    CHECK_EQ_INT(fx_enq(f, "q", "A.b_c:d-1", NULL, NULL), WSM_OK);
    fx_free(f);
}

TEST(at_front)
{
    fx *f = fx_one("q", 0);
    fx_enq(f, "q", "a", NULL, NULL);
    fx_enq(f, "q", "b", NULL, NULL);
    broker_job_spec s;
    fx_spec(&s, "q", "c", NULL);
    s.at_front = true;
    broker_reply r;
    CHECK_EQ_INT(broker_enqueue(f->b, NULL, &s, &r, NULL), WSM_OK);
    cJSON *reg = broker_query_registry(f->b, "q", "queued", 0, 10, NULL, 0, NULL);
    cJSON *jobs = cJSON_GetObjectItem(reg, "jobs");
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(jobs, 0), "job_id")->valuestring, "c");
    cJSON_Delete(reg);
    broker_conn *w = fx_worker(f, "w", "q", 10);
    CHECK_EQ_INT(f->nd, 3);
    CHECK_STR(f->disp[0].id, "c");
    CHECK_STR(f->disp[1].id, "a");
    CHECK_STR(f->disp[2].id, "b");
    broker_conn_free(f->b, w);
    fx_free(f);
}

TEST(timeout_stop_retry_scheduled_queued)
{
    fx *f = fx_one("q", 0);
    broker_job_spec s;
    fx_spec(&s, "q", "j", NULL);
    s.opts.timeout_ms = 1000;
    fx_retry(&s, 1, 500);
    broker_reply r;
    CHECK_EQ_INT(broker_enqueue(f->b, NULL, &s, &r, NULL), WSM_OK);
    broker_conn *w = fx_worker(f, "w", "q", 1);
    CHECK_EQ_INT(f->nd, 1);
    CHECK_EQ_INT(f->disp[0].deadline, f->now + 1000);
    CHECK_EQ_INT(broker_next_deadline(f->b), f->now + 1000);
    fx_advance(f, 999);
    CHECK_EQ_INT(f->ns, 0);
    fx_advance(f, 1);
    CHECK_EQ_INT(f->ns, 1);
    CHECK_STR(f->stop[0].id, "j");
    CHECK_STR(f->stop[0].reason, "timeout");
    CHECK_EQ_INT(f->stop[0].attempt, 1);
    CHECK_STR(fx_status(f, "j"), "scheduled");
    CHECK_EQ_INT(fx_count(f, "q", "scheduled"), 1);
    /* a late result of the timed-out attempt is refused */
    CHECK_EQ_INT(fx_result(f, w, "j", 1, NULL, NULL), WSM_E_BAD_STATE);
    fx_advance(f, 499);
    CHECK_EQ_INT(f->nd, 1);
    fx_advance(f, 1);
    CHECK_EQ_INT(f->nd, 2); /* queued again and dispatched */
    CHECK_EQ_INT(f->disp[1].attempt, 2);
    fx_advance(f, 1000); /* second timeout: no retry left */
    CHECK_EQ_INT(f->ns, 2);
    CHECK_STR(fx_status(f, "j"), "failed");
    CHECK_STR(fx_field(f, "j", "reason"), "timeout");
    broker_conn_free(f->b, w);
    fx_free(f);
}

TEST(retry_intervals_and_fail_for_good)
{
    fx *f = fx_one("q", 0);
    broker_job_spec s;
    fx_spec(&s, "q", "j", NULL);
    s.opts.retry_max = 3;
    s.opts.n_intervals = 2;
    s.opts.intervals_ms[0] = 0;
    s.opts.intervals_ms[1] = 100;
    broker_reply r;
    broker_enqueue(f->b, NULL, &s, &r, NULL);
    broker_conn *w = fx_worker(f, "w", "q", 1);
    CHECK_EQ_INT(fx_fail(f, w, "j", 1, true), WSM_OK);
    CHECK_EQ_INT(f->nd, 2); /* interval 0: requeued at once */
    CHECK_EQ_INT(fx_fail(f, w, "j", 2, true), WSM_OK);
    CHECK_STR(fx_status(f, "j"), "scheduled");
    fx_advance(f, 100);
    CHECK_EQ_INT(f->nd, 3);
    CHECK_EQ_INT(fx_fail(f, w, "j", 3, false), WSM_OK); /* retry false: for good */
    CHECK_STR(fx_status(f, "j"), "failed");
    CHECK_STR(fx_field(f, "j", "error"), "{\"type\":\"E\",\"message\":\"boom\"}");
    broker_conn_free(f->b, w);
    fx_free(f);
}

TEST(enqueue_at_and_in)
{
    fx *f = fx_one("q", 0);
    broker_conn *w = fx_worker(f, "w", "q", 5);
    broker_job_spec s;
    fx_spec(&s, "q", "at", NULL);
    s.enqueue_at = f->now + 2000;
    broker_reply r;
    CHECK_EQ_INT(broker_enqueue(f->b, NULL, &s, &r, NULL), WSM_OK);
    CHECK_STR(r.status, "scheduled");
    s.job_id = "in";
    s.enqueue_at = 0;
    s.enqueue_in_ms = 1000;
    CHECK_EQ_INT(broker_enqueue(f->b, NULL, &s, &r, NULL), WSM_OK);
    CHECK_EQ_INT(broker_next_deadline(f->b), f->now + 1000);
    fx_advance(f, 1000);
    CHECK_EQ_INT(f->nd, 1);
    CHECK_STR(f->disp[0].id, "in");
    fx_advance(f, 1000);
    CHECK_EQ_INT(f->nd, 2);
    CHECK_STR(f->disp[1].id, "at");
    broker_conn_free(f->b, w);
    fx_free(f);
}

TEST(ttl_expired)
{
    fx *f = fx_one("q", 0);
    broker_set_topics(f->b, true, false);
    broker_job_spec s;
    fx_spec(&s, "q", "t", NULL);
    s.opts.ttl_ms = 5000;
    broker_reply r;
    broker_enqueue(f->b, NULL, &s, &r, NULL);
    fx_advance(f, 4999);
    CHECK_STR(fx_status(f, "t"), "queued");
    fx_advance(f, 1);
    CHECK_STR(fx_status(f, "t"), "expired");
    CHECK_EQ_INT(fx_count(f, "q", "expired"), 1);
    CHECK_EQ_INT(fx_count(f, "q", "queued"), 0);
    CHECK(strstr(f->ev[f->nev - 1].data, "\"status\":\"expired\"") != NULL);
    CHECK_STR(f->ev[f->nev - 1].topic, "events");
    /* an expired job is never dispatched */
    broker_conn *w = fx_worker(f, "w", "q", 1);
    CHECK_EQ_INT(f->nd, 0);
    broker_conn_free(f->b, w);
    fx_free(f);
}

static int fx_enq_deps(fx *f, const char *id, const char *const *deps, size_t n, bool allow,
                       broker_reply *r)
{
    broker_job_spec s;
    fx_spec(&s, "q", id, NULL);
    s.depends_on = deps;
    s.n_depends_on = n;
    s.allow_failure = allow;
    return broker_enqueue(f->b, NULL, &s, r, NULL);
}

TEST(depends_on_success_failure_allow_failure)
{
    fx *f = fx_one("q", 0);
    broker_reply r;
    fx_enq(f, "q", "a", NULL, NULL);
    const char *da[] = {"a"};
    CHECK_EQ_INT(fx_enq_deps(f, "b", da, 1, false, &r), WSM_OK);
    CHECK_STR(r.status, "deferred");
    const char *dn[] = {"nope"};
    CHECK_EQ_INT(fx_enq_deps(f, "x", dn, 1, false, &r), WSM_E_NO_SUCH_JOB);
    broker_conn *w = fx_worker(f, "w", "q", 1);
    CHECK_EQ_INT(f->nd, 1);
    CHECK_STR(f->disp[0].id, "a");
    fx_result(f, w, "a", 1, NULL, NULL);
    CHECK_EQ_INT(f->nd, 2);
    CHECK_STR(f->disp[1].id, "b");
    fx_result(f, w, "b", 1, NULL, NULL);
    /* failure cascade: c <- d <- e, and f allows failure */
    fx_enq(f, "q", "c", NULL, NULL);
    const char *dc[] = {"c"}, *dd[] = {"d"};
    fx_enq_deps(f, "d", dc, 1, false, &r);
    fx_enq_deps(f, "e", dd, 1, false, &r);
    fx_enq_deps(f, "g", dc, 1, true, &r);
    CHECK_STR(fx_status(f, "e"), "deferred");
    CHECK_STR(f->disp[f->nd - 1].id, "c");
    fx_fail(f, w, "c", 1, true); /* no retry policy: failed for good */
    CHECK_STR(fx_status(f, "c"), "failed");
    CHECK_STR(fx_status(f, "d"), "canceled");
    CHECK_STR(fx_field(f, "d", "reason"), "dependency_failed: c");
    CHECK_STR(fx_status(f, "e"), "canceled");
    CHECK_STR(fx_field(f, "e", "reason"), "dependency_failed: d");
    CHECK_STR(f->disp[f->nd - 1].id, "g");
    /* a dependency that already failed cancels at once */
    CHECK_EQ_INT(fx_enq_deps(f, "h", dc, 1, false, &r), WSM_OK);
    CHECK_STR(r.status, "canceled");
    /* two parents: deferred until both ended */
    fx_result(f, w, "g", 1, NULL, NULL);
    broker_credit(f->b, w, -1);
    fx_enq(f, "q", "p1", NULL, NULL);
    fx_enq(f, "q", "p2", NULL, NULL);
    const char *dp[] = {"p1", "p2"};
    fx_enq_deps(f, "k", dp, 2, false, &r);
    broker_credit(f->b, w, 1);
    fx_result(f, w, "p1", 1, NULL, NULL);
    CHECK_STR(fx_status(f, "k"), "deferred");
    fx_result(f, w, "p2", 1, NULL, NULL);
    CHECK_STR(fx_status(f, "k"), "started");
    broker_conn_free(f->b, w);
    fx_free(f);
}

TEST(key_order_and_state_handoff)
{
    fx *f = fx_one("q", 0);
    fx_enq(f, "q", "k1", "rec", NULL);
    fx_enq(f, "q", "k2", "rec", NULL);
    fx_enq(f, "q", "free", NULL, NULL);
    fx_enq(f, "q", "k3", "rec", NULL);
    fx_enq(f, "q", "o1", "other", NULL);
    broker_conn *w1 = fx_worker(f, "w1", "q", 10);
    /* one per key in flight: k1, free, o1 */
    CHECK_EQ_INT(f->nd, 3);
    CHECK_STR(f->disp[0].id, "k1");
    CHECK_STR(f->disp[1].id, "free");
    CHECK_STR(f->disp[2].id, "o1");
    CHECK_STR(f->disp[0].state, "");
    CHECK_STR(f->disp[0].key, "rec");
    CHECK_EQ_INT(fx_result(f, w1, "k1", 1, NULL, "{\"n\":1}"), WSM_OK);
    CHECK_EQ_INT(f->nd, 4);
    CHECK_STR(f->disp[3].id, "k2");
    CHECK_STR(f->disp[3].state, "{\"n\":1}");
    /* no new state: the old one stays */
    fx_result(f, w1, "k2", 1, NULL, NULL);
    CHECK_STR(f->disp[4].id, "k3");
    CHECK_STR(f->disp[4].state, "{\"n\":1}");
    CHECK_STR(f->disp[4].conn, "w1");
    broker_conn_free(f->b, w1);
    fx_free(f);
}

TEST(key_retried_job_keeps_head)
{
    fx *f = fx_one("q", 0);
    broker_job_spec s;
    fx_spec(&s, "q", "k1", "r");
    fx_retry(&s, 1, 1000);
    broker_reply r;
    broker_enqueue(f->b, NULL, &s, &r, NULL);
    fx_enq(f, "q", "k2", "r", NULL);
    broker_conn *w = fx_worker(f, "w", "q", 10);
    CHECK_EQ_INT(f->nd, 1);
    fx_fail(f, w, "k1", 1, true);
    CHECK_STR(fx_status(f, "k1"), "scheduled");
    CHECK_EQ_INT(f->nd, 1); /* k2 waits behind the retried k1 */
    fx_advance(f, 1000);
    CHECK_EQ_INT(f->nd, 2);
    CHECK_STR(f->disp[1].id, "k1");
    CHECK_EQ_INT(f->disp[1].attempt, 2);
    fx_result(f, w, "k1", 2, NULL, "\"s\"");
    CHECK_STR(f->disp[2].id, "k2");
    CHECK_STR(f->disp[2].state, "\"s\"");
    broker_conn_free(f->b, w);
    fx_free(f);
}

TEST(key_failed_cancels_later_jobs)
{
    fx *f = fx_one("q", 0);
    fx_enq(f, "q", "k1", "r", NULL);
    fx_enq(f, "q", "k2", "r", NULL);
    fx_enq(f, "q", "k3", "r", NULL);
    fx_enq(f, "q", "x1", "x", NULL);
    broker_conn *w = fx_worker(f, "w", "q", 10);
    fx_fail(f, w, "k1", 1, false);
    CHECK_STR(fx_status(f, "k2"), "canceled");
    CHECK_STR(fx_field(f, "k2", "reason"), "key_failed: k1");
    CHECK_STR(fx_status(f, "k3"), "canceled");
    CHECK_STR(fx_status(f, "x1"), "started"); /* other keys unaffected */
    broker_reply r;
    CHECK_EQ_INT(fx_enq(f, "q", "k4", "r", &r), WSM_OK);
    CHECK_STR(r.status, "canceled");
    CHECK_STR(fx_field(f, "k4", "reason"), "key_failed: k1");
    /* requeueing the failed job reopens the key */
    size_t n;
    CHECK_EQ_INT(broker_requeue(f->b, "k1", &n, NULL), WSM_OK);
    CHECK_EQ_INT(n, 1);
    CHECK_STR(fx_status(f, "k1"), "started");
    fx_result(f, w, "k1", 1, NULL, NULL);
    CHECK_EQ_INT(fx_enq(f, "q", "k5", "r", &r), WSM_OK);
    CHECK_STR(fx_status(f, "k5"), "started");
    broker_conn_free(f->b, w);
    fx_free(f);
}

TEST(emit_dedup_on_rerun_every_output_once_in_key_order)
{
    fx *f = fx_pipeline(0);
    broker_job_spec s;
    fx_spec(&s, "src", "rec", NULL);
    s.opts.retry_max = 2;
    broker_reply r;
    broker_enqueue(f->b, NULL, &s, &r, NULL);
    broker_conn *reader = fx_worker(f, "reader1", "src", 1);
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(fx_emit(f, reader, "rec", i, "rec", (uint64_t)i, &r), WSM_OK);
    broker_conn_free(f->b, reader); /* killed after half its outputs */
    CHECK_STR(fx_status(f, "rec"), "queued");
    reader = fx_worker(f, "reader2", "src", 1);
    CHECK_EQ_INT(f->disp[f->nd - 1].attempt, 2);
    int dup = 0, queued = 0;
    for (int i = 0; i < 10; i++) {
        CHECK_EQ_INT(fx_emit(f, reader, "rec", i, "rec", (uint64_t)i, &r), WSM_OK);
        if (strcmp(r.status, "duplicate") == 0)
            dup++;
        else if (strcmp(r.status, "queued") == 0)
            queued++;
    }
    CHECK_EQ_INT(dup, 5);
    CHECK_EQ_INT(queued, 5);
    fx_result(f, reader, "rec", 2, "{\"frames\":10}", NULL);
    broker_conn *aeb = fx_worker(f, "aeb", "dst", 4);
    int nd0 = f->nd;
    (void)nd0;
    /* drain dst: each output exactly once, in order (one in flight per key) */
    int seen = 0;
    for (int i = 0; i < 10; i++) {
        char id[32];
        snprintf(id, sizeof id, "rec.%d", i);
        CHECK_STR(f->disp[f->nd - 1].id, id);
        if (fx_result(f, aeb, id, 1, NULL, NULL) == WSM_OK)
            seen++;
    }
    CHECK_EQ_INT(seen, 10);
    int count = 0;
    for (int i = 0; i < f->nd; i++)
        if (strncmp(f->disp[i].id, "rec.", 4) == 0 && strcmp(f->disp[i].id, "rec.r") != 0)
            count++;
    CHECK_EQ_INT(count, 10);
    broker_conn_free(f->b, aeb);
    broker_conn_free(f->b, reader);
    fx_free(f);
}

TEST(result_routing)
{
    fx *f = fx_pipeline(0);
    fx_enq(f, "src", "j", NULL, NULL);
    broker_conn *w = fx_worker(f, "w", "src", 1);
    broker_result_spec rs;
    broker_result_spec_init(&rs);
    rs.value = "{\"x\":1}";
    rs.value_len = strlen(rs.value);
    static const unsigned char pl[] = "abc";
    rs.payload = pl;
    rs.len = 3;
    CHECK_EQ_INT(broker_result(f->b, w, "j", 1, &rs, NULL), WSM_OK);
    CHECK_STR(fx_status(f, "j.r"), "queued");
    broker_conn *db = fx_worker(f, "db", "db", 1);
    CHECK_STR(f->disp[f->nd - 1].id, "j.r");
    CHECK_STR(f->disp[f->nd - 1].args, "{\"x\":1}");
    CHECK_STR(f->disp[f->nd - 1].parent, "j");
    CHECK_STR(f->disp[f->nd - 1].root, "j");
    CHECK_EQ_INT(f->disp[f->nd - 1].len, 3);
    cJSON *t = broker_query_tree(f->b, "j", NULL);
    CHECK_STR(cJSON_GetObjectItem(t, "status")->valuestring, "running");
    cJSON_Delete(t);
    fx_result(f, db, "j.r", 1, NULL, NULL);
    t = broker_query_tree(f->b, "j.r", NULL);
    CHECK_STR(cJSON_GetObjectItem(t, "status")->valuestring, "finished");
    cJSON_Delete(t);
    broker_conn_free(f->b, db);
    broker_conn_free(f->b, w);
    fx_free(f);
}

TEST(registries_pagination_caps)
{
    static broker_queue_decl d[1];
    d[0] = fx_q("q", 0);
    broker_retention ret = {.result_ttl_ms = 100000,
                            .failure_ttl_ms = 100000,
                            .emitted_result_ttl_ms = 1000,
                            .registry_cap = 5};
    fx *f = fx_new_cfg(d, 1, NULL, 0, &ret, false);
    broker_conn *w = fx_worker(f, "w", "q", 1);
    for (int i = 0; i < 8; i++) {
        char id[16];
        snprintf(id, sizeof id, "job%d", i);
        fx_enq(f, "q", id, NULL, NULL);
        f->now += 10;
        fx_result(f, w, id, 1, NULL, NULL);
    }
    CHECK_EQ_INT(fx_count(f, "q", "finished"), 5);
    broker_queue_stats st;
    broker_queue_stats_get(f->b, 0, &st);
    CHECK_EQ_INT(st.n_dropped, 3);
    CHECK_EQ_INT(st.n_finished, 8);
    CHECK_STR(fx_status(f, "job2"), ""); /* oldest dropped */
    CHECK_STR(fx_status(f, "job3"), "finished");
    cJSON *reg = broker_query_registry(f->b, "q", "finished", 1, 2, NULL, 0, NULL);
    CHECK_EQ_INT(cJSON_GetObjectItem(reg, "total")->valuedouble, 5);
    cJSON *jobs = cJSON_GetObjectItem(reg, "jobs");
    CHECK_EQ_INT(cJSON_GetArraySize(jobs), 2);
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(jobs, 0), "job_id")->valuestring, "job6");
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(jobs, 1), "job_id")->valuestring, "job5");
    cJSON_Delete(reg);
    reg = broker_query_registry(f->b, "q", "finished", 0, 100, "job7", 0, NULL);
    CHECK_EQ_INT(cJSON_GetObjectItem(reg, "total")->valuedouble, 1);
    cJSON_Delete(reg);
    wsm_err e;
    CHECK(broker_query_registry(f->b, "q", "bogus", 0, 10, NULL, 0, &e) == NULL);
    CHECK_EQ_INT(e.code, WSM_E_BAD_FIELD);
    CHECK(broker_query_registry(f->b, "q", "queued", 0, 1001, NULL, 0, &e) == NULL);
    CHECK(broker_query_registry(f->b, "zz", "queued", 0, 10, NULL, 0, &e) == NULL);
    CHECK_EQ_INT(e.code, WSM_E_NO_SUCH_QUEUE);
    /* retention: finished jobs are purged after result_ttl */
    fx_advance(f, 100000);
    CHECK_EQ_INT(fx_count(f, "q", "finished"), 0);
    CHECK_EQ_INT(broker_job_count(f->b), 0);
    broker_conn_free(f->b, w);
    fx_free(f);
}

TEST(tree_status_and_progress)
{
    fx *f = fx_pipeline(0);
    broker_set_topics(f->b, false, true);
    fx_enq(f, "src", "root", NULL, NULL);
    broker_conn *w = fx_worker(f, "w", "src", 1);
    broker_reply r;
    broker_job_spec s;
    broker_job_spec_init(&s);
    s.weight = 100;
    CHECK_EQ_INT(broker_emit(f->b, w, "root", "out", 0, &s, 1, &r, NULL), WSM_OK);
    CHECK_EQ_INT(broker_emit(f->b, w, "root", "out", 1, &s, 2, &r, NULL), WSM_OK);
    CHECK_EQ_INT(broker_progress(f->b, w, "root", 2, 10, "reading", NULL), WSM_OK);
    CHECK_EQ_INT(broker_progress(f->b, w, "zzz", 2, 10, NULL, NULL), WSM_E_NO_SUCH_JOB);
    broker_publish_progress(f->b);
    CHECK_EQ_INT(f->nev, 1);
    CHECK_STR(f->ev[0].topic, "progress");
    CHECK_STR(f->ev[0].subject, "root");
    CHECK(strstr(f->ev[0].data, "\"status\":\"running\"") != NULL);
    CHECK(strstr(f->ev[0].data, "\"dst\":{\"jobs\":2,\"ended\":0,\"weight\":200") != NULL);
    CHECK(strstr(f->ev[0].data, "\"message\":\"reading\"") != NULL);
    broker_publish_progress(f->b); /* coalesced: nothing changed */
    CHECK_EQ_INT(f->nev, 1);
    fx_result(f, w, "root", 1, NULL, NULL);
    /* root finished, result routed to db, children queued: tree running */
    CHECK_STR(fx_field(f, "root", "tree_status"), "running");
    CHECK_STR(fx_field(f, "root", "children"), "[\"root.0\",\"root.1\",\"root.r\"]");
    broker_conn *d = fx_worker(f, "d", "dst", 1);
    broker_conn *db = fx_worker(f, "db", "db", 1);
    fx_result(f, d, "root.0", 1, NULL, NULL);
    fx_fail(f, d, "root.1", 1, false);
    fx_result(f, db, "root.r", 1, NULL, NULL);
    CHECK_STR(fx_field(f, "root", "tree_status"), "failed");
    broker_publish_progress(f->b);
    CHECK(strstr(f->ev[f->nev - 1].data, "\"status\":\"failed\"") != NULL);
    CHECK(strstr(f->ev[f->nev - 1].data, "\"weight_done\":200") != NULL);
    cJSON *t = broker_query_tree(f->b, "root.0", NULL);
    CHECK_EQ_INT(cJSON_GetObjectItem(t, "jobs")->valuedouble, 4);
    cJSON *bs = cJSON_GetObjectItem(t, "by_status");
    CHECK_EQ_INT(cJSON_GetObjectItem(bs, "finished")->valuedouble, 3);
    CHECK_EQ_INT(cJSON_GetObjectItem(bs, "failed")->valuedouble, 1);
    cJSON_Delete(t);
    /* retention: emitted jobs go first (60 s), the tree and its dedup ids with the root */
    CHECK_EQ_INT(broker_tree_count(f->b), 1);
    fx_advance(f, 60000);
    CHECK_STR(fx_status(f, "root.0"), "");
    CHECK_STR(fx_status(f, "root"), "finished");
    CHECK_EQ_INT(fx_emit(f, NULL, "root", 0, NULL, 9, &r), WSM_E_NO_SUCH_JOB);
    fx_advance(f, 7200000);
    CHECK_EQ_INT(broker_job_count(f->b), 0);
    CHECK_EQ_INT(broker_tree_count(f->b), 0);
    broker_conn_free(f->b, db);
    broker_conn_free(f->b, d);
    broker_conn_free(f->b, w);
    fx_free(f);
}

/* query children: a tree of 250 emitted children (+ the routed result and 2 grandchildren),
 * some failed; pages by offset/limit, status filter, descendants, the byte cap, bad input. */
static const char *page_id(const cJSON *page, int i)
{
    const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(page, "jobs"), i);
    const cJSON *id = cJSON_GetObjectItem(e, "job_id");
    return cJSON_IsString(id) ? id->valuestring : "";
}

static double page_num(const cJSON *page, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(page, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

TEST(children_pages_filter_bounds)
{
    static broker_queue_decl d[3];
    static broker_route_decl r[3];
    d[0] = fx_q("src", 0);
    d[1] = fx_q("dst", 0);
    d[2] = fx_q("db", 0);
    r[0] = (broker_route_decl){"src", "out", "dst"};
    r[1] = (broker_route_decl){"dst", "out", "db"};
    r[2] = (broker_route_decl){"src", "result", "db"};
    fx *f = fx_new_cfg(d, 3, r, 3, NULL, false);
    fx_enq(f, "src", "root", NULL, NULL);
    broker_conn *w = fx_worker(f, "w", "src", 1);
    broker_conn *dw = fx_worker(f, "d", "dst", 1000);
    broker_reply rep;
    for (int i = 0; i < 250; i++)
        CHECK_EQ_INT(fx_emit(f, w, "root", i, NULL, (uint64_t)i, &rep), WSM_OK);
    CHECK_EQ_INT(fx_result(f, w, "root", 1, NULL, NULL), WSM_OK); /* routes root.r to db */
    /* root.0 emits two grandchildren (queued in db: nobody consumes it) */
    CHECK_EQ_INT(fx_emit(f, dw, "root.0", 0, NULL, 1, &rep), WSM_OK);
    CHECK_EQ_INT(fx_emit(f, dw, "root.0", 1, NULL, 2, &rep), WSM_OK);
    for (int i = 0; i < 250; i++) {
        char id[32];
        snprintf(id, sizeof id, "root.%d", i);
        if (i % 10 == 3)
            CHECK_EQ_INT(fx_fail(f, dw, id, 1, false), WSM_OK);
        else if (i < 200)
            CHECK_EQ_INT(fx_result(f, dw, id, 1, NULL, NULL), WSM_OK);
    }
    /* page 1: the first 100 direct children in emit order */
    wsm_err e = {0};
    cJSON *p = broker_query_children(f->b, "root", false, NULL, 0, 100, 0, &e);
    CHECK(p != NULL);
    CHECK_STR(cJSON_GetObjectItem(p, "job_id")->valuestring, "root");
    CHECK_EQ_INT(page_num(p, "total"), 251);
    CHECK_EQ_INT(page_num(p, "offset"), 0);
    CHECK_EQ_INT(page_num(p, "next_offset"), 100);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(p, "jobs")), 100);
    CHECK_STR(page_id(p, 0), "root.0");
    CHECK_STR(page_id(p, 99), "root.99");
    const cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "jobs"), 0);
    CHECK_STR(cJSON_GetObjectItem(e0, "queue")->valuestring, "dst");
    CHECK_STR(cJSON_GetObjectItem(e0, "status")->valuestring, "finished");
    CHECK_EQ_INT(cJSON_GetObjectItem(e0, "attempt")->valuedouble, 1);
    CHECK(cJSON_GetObjectItem(e0, "enqueued_at") && cJSON_GetObjectItem(e0, "ended_at"));
    CHECK(cJSON_GetObjectItem(e0, "parent") == NULL); /* direct children: parent is the job */
    cJSON_Delete(p);
    /* the last page: root.200..root.249 and the routed result; no next_offset */
    p = broker_query_children(f->b, "root", false, NULL, 200, 100, 0, &e);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(p, "jobs")), 51);
    CHECK_STR(page_id(p, 0), "root.200");
    CHECK_STR(page_id(p, 50), "root.r");
    CHECK(cJSON_GetObjectItem(p, "next_offset") == NULL);
    cJSON_Delete(p);
    /* past the end: empty, total still counted */
    p = broker_query_children(f->b, "root", false, NULL, 5000, 10, 0, &e);
    CHECK_EQ_INT(page_num(p, "total"), 251);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(p, "jobs")), 0);
    CHECK(cJSON_GetObjectItem(p, "next_offset") == NULL);
    cJSON_Delete(p);
    /* status filter: the 25 failed ones, with their error type; paged */
    p = broker_query_children(f->b, "root", false, "failed", 0, 20, 0, &e);
    CHECK_EQ_INT(page_num(p, "total"), 25);
    CHECK_EQ_INT(page_num(p, "next_offset"), 20);
    CHECK_STR(page_id(p, 0), "root.3");
    CHECK_STR(page_id(p, 1), "root.13");
    e0 = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "jobs"), 0);
    CHECK_STR(cJSON_GetObjectItem(e0, "status")->valuestring, "failed");
    CHECK_STR(cJSON_GetObjectItem(e0, "error_type")->valuestring, "E");
    CHECK_STR(cJSON_GetObjectItem(e0, "error_message")->valuestring, "boom");
    cJSON_Delete(p);
    p = broker_query_children(f->b, "root", false, "failed", 20, 20, 0, &e);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(p, "jobs")), 5);
    CHECK_STR(page_id(p, 4), "root.243");
    CHECK(cJSON_GetObjectItem(p, "next_offset") == NULL);
    cJSON_Delete(p);
    p = broker_query_children(f->b, "root", false, "started", 0, 100, 0, &e);
    CHECK_EQ_INT(page_num(p, "total"), 45); /* root.200..249 minus the 5 failed */
    cJSON_Delete(p);
    /* descendants: the grandchildren too, each with its parent */
    p = broker_query_children(f->b, "root", true, "queued", 0, 100, 0, &e);
    CHECK_EQ_INT(page_num(p, "total"), 3); /* in the order they joined the tree */
    CHECK_STR(page_id(p, 0), "root.r");
    CHECK_STR(page_id(p, 1), "root.0.0");
    CHECK_STR(page_id(p, 2), "root.0.1");
    e0 = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "jobs"), 1);
    CHECK_STR(cJSON_GetObjectItem(e0, "parent")->valuestring, "root.0");
    CHECK_STR(cJSON_GetObjectItem(e0, "queue")->valuestring, "db");
    cJSON_Delete(p);
    p = broker_query_children(f->b, "root", true, NULL, 0, 1, 0, &e);
    CHECK_EQ_INT(page_num(p, "total"), 253);
    cJSON_Delete(p);
    p = broker_query_children(f->b, "root.0", true, NULL, 0, 10, 0, &e);
    CHECK_EQ_INT(page_num(p, "total"), 2);
    cJSON_Delete(p);
    /* a job without children */
    p = broker_query_children(f->b, "root.1", false, NULL, 0, 10, 0, &e);
    CHECK_EQ_INT(page_num(p, "total"), 0);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(p, "jobs")), 0);
    cJSON_Delete(p);
    /* the byte cap: fewer entries than the limit, next_offset says where to go on; the jobs
     * array stays within the cap; a cap below one entry still lists one */
    p = broker_query_children(f->b, "root", false, NULL, 10, 100, 600, &e);
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(p, "jobs"));
    CHECK(n >= 2 && n < 10);
    CHECK_EQ_INT(page_num(p, "next_offset"), 10 + n);
    char *txt = cJSON_PrintUnformatted(cJSON_GetObjectItem(p, "jobs"));
    CHECK(strlen(txt) <= 600);
    free(txt);
    cJSON_Delete(p);
    p = broker_query_children(f->b, "root", false, NULL, 0, 100, 1, &e);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(p, "jobs")), 1);
    CHECK_EQ_INT(page_num(p, "next_offset"), 1);
    cJSON_Delete(p);
    /* bad input: stable codes */
    CHECK(broker_query_children(f->b, "nope", false, NULL, 0, 10, 0, &e) == NULL);
    CHECK_EQ_INT(e.code, WSM_E_NO_SUCH_JOB);
    CHECK(strstr(e.msg, "nope") != NULL);
    CHECK(broker_query_children(f->b, NULL, false, NULL, 0, 10, 0, &e) == NULL);
    CHECK_EQ_INT(e.code, WSM_E_NO_SUCH_JOB);
    CHECK(broker_query_children(f->b, "root", false, "broken", 0, 10, 0, &e) == NULL);
    CHECK_EQ_INT(e.code, WSM_E_BAD_FIELD);
    CHECK(strstr(e.msg, "status") != NULL);
    CHECK(broker_query_children(f->b, "root", false, NULL, 0, 0, 0, &e) == NULL);
    CHECK_EQ_INT(e.code, WSM_E_BAD_FIELD);
    CHECK(broker_query_children(f->b, "root", false, NULL, 0, BROKER_PAGE_MAX + 1, 0, &e) == NULL);
    CHECK_EQ_INT(e.code, WSM_E_BAD_FIELD);
    CHECK(broker_query_children(f->b, "root", false, NULL, -1, 10, 0, &e) == NULL);
    CHECK_EQ_INT(e.code, WSM_E_BAD_FIELD);
    /* root.0 is purged (finished emitted job, 60 s) while its children still wait: they are
     * still listed through the emitted id the tree remembers */
    fx_advance(f, 60001);
    CHECK_STR(fx_status(f, "root.0"), "");
    p = broker_query_children(f->b, "root.0", false, NULL, 0, 10, 0, &e);
    CHECK(p != NULL);
    CHECK_EQ_INT(page_num(p, "total"), 2);
    CHECK_STR(page_id(p, 1), "root.0.1");
    cJSON_Delete(p);
    broker_conn_free(f->b, dw);
    broker_conn_free(f->b, w);
    fx_free(f);
}

/* query registry: 1000 failed jobs with 190-byte ids and a long error message. Without a cap
 * one page of 1000 is far above 64 KiB; with a cap every page's jobs array stays within it,
 * pages end early with next_offset, and following next_offset lists every job once, newest
 * first. Summaries carry error_type and error_message (cut at a character boundary). */
TEST(registry_byte_cap)
{
    fx *f = fx_one("q", 0);
    broker_conn *w = fx_worker(f, "w", "q", 1);
    char msg[400];
    memset(msg, 'm', sizeof msg);
    memcpy(msg + 196, "\xC3\xA9", 2); /* a 2-byte character across the cut (197 + U+2026) */
    memcpy(msg + sizeof msg - 1, "", 1);
    char err[512];
    snprintf(err, sizeof err, "{\"type\":\"ValueError\",\"message\":\"%s\"}", msg);
    char pad[181];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = 0;
    for (int i = 0; i < 1000; i++) {
        char id[BROKER_MAX_ID + 1];
        snprintf(id, sizeof id, "%s-%06d", pad, i);
        fx_enq(f, "q", id, NULL, NULL);
        f->now += 1;
        CHECK_EQ_INT(broker_fail(f->b, w, id, 1, err, strlen(err), false, NULL), WSM_OK);
    }
    wsm_err e = {0};
    /* no cap: one page of 1000, far above the 64 KiB adapters accept */
    cJSON *p = broker_query_registry(f->b, "q", "failed", 0, 1000, NULL, 0, &e);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(p, "jobs")), 1000);
    CHECK(cJSON_GetObjectItem(p, "next_offset") == NULL);
    char *txt = cJSON_PrintUnformatted(p);
    CHECK(strlen(txt) > 65536);
    free(txt);
    const cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "jobs"), 0);
    CHECK(strstr(cJSON_GetObjectItem(e0, "job_id")->valuestring, "-000999") != NULL);
    CHECK_STR(cJSON_GetObjectItem(e0, "queue")->valuestring, "q");
    CHECK_STR(cJSON_GetObjectItem(e0, "status")->valuestring, "failed");
    CHECK_STR(cJSON_GetObjectItem(e0, "error_type")->valuestring, "ValueError");
    const char *m = cJSON_GetObjectItem(e0, "error_message")->valuestring;
    CHECK_EQ_INT(strlen(m), 196 + 3); /* cut before the character, then U+2026 */
    CHECK(strncmp(m, msg, 196) == 0);
    CHECK_STR(m + 196, "\xE2\x80\xA6");
    CHECK(cJSON_GetObjectItem(e0, "started_at") != NULL);
    cJSON_Delete(p);
    /* capped: follow next_offset to the end */
    const size_t cap = 16384;
    int64_t off = 0, seen = 0, pages = 0;
    for (;;) {
        p = broker_query_registry(f->b, "q", "failed", off, 1000, NULL, cap, &e);
        CHECK(p != NULL);
        CHECK_EQ_INT(page_num(p, "total"), 1000);
        CHECK_EQ_INT(page_num(p, "offset"), (double)off);
        const cJSON *jobs = cJSON_GetObjectItem(p, "jobs");
        int n = cJSON_GetArraySize(jobs);
        CHECK(n >= 1);
        txt = cJSON_PrintUnformatted(jobs);
        CHECK(strlen(txt) <= cap);
        free(txt);
        for (int i = 0; i < n; i++) {
            char want[16];
            snprintf(want, sizeof want, "-%06d", (int)(999 - seen - i));
            CHECK(strstr(page_id(p, i), want) != NULL);
        }
        seen += n;
        pages++;
        const cJSON *next = cJSON_GetObjectItem(p, "next_offset");
        if (seen < 1000) {
            CHECK_EQ_INT(page_num(p, "next_offset"), (double)seen);
        } else {
            CHECK(next == NULL);
        }
        cJSON_Delete(p);
        if (!next)
            break;
        off = seen;
    }
    CHECK_EQ_INT(seen, 1000);
    CHECK(pages >= 20); /* ~700 bytes a summary: ~23 per 16 KiB page */
    /* the cap with a search filter: total still counts every match */
    p = broker_query_registry(f->b, "q", "failed", 0, 1000, pad, cap, &e);
    CHECK_EQ_INT(page_num(p, "total"), 1000);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(p, "jobs")) < 1000);
    CHECK_EQ_INT(page_num(p, "next_offset"), cJSON_GetArraySize(cJSON_GetObjectItem(p, "jobs")));
    cJSON_Delete(p);
    /* the count limit alone still ends a page; a cap below one summary still lists one */
    p = broker_query_registry(f->b, "q", "failed", 990, 5, NULL, cap, &e);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(p, "jobs")), 5);
    CHECK_EQ_INT(page_num(p, "next_offset"), 995);
    cJSON_Delete(p);
    p = broker_query_registry(f->b, "q", "failed", 0, 10, NULL, 1, &e);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(p, "jobs")), 1);
    CHECK_EQ_INT(page_num(p, "next_offset"), 1);
    cJSON_Delete(p);
    broker_conn_free(f->b, w);
    fx_free(f);
}

TEST(fair_dispatch_three_consumers)
{
    fx *f = fx_one("q", 0);
    broker_conn *w[3] = {fx_worker(f, "w0", "q", 2), fx_worker(f, "w1", "q", 2),
                         fx_worker(f, "w2", "q", 2)};
    for (int i = 0; i < 6; i++) {
        char id[8];
        snprintf(id, sizeof id, "j%d", i);
        fx_enq(f, "q", id, NULL, NULL);
    }
    /* jobs trickle in one at a time: round robin, longest waiting first */
    CHECK_EQ_INT(f->nd, 6);
    const char *exp[] = {"w0", "w1", "w2", "w0", "w1", "w2"};
    for (int i = 0; i < 6; i++)
        CHECK_STR(f->disp[i].conn, exp[i]);
    /* a backlog: whoever frees credit gets the next job */
    for (int i = 6; i < 12; i++) {
        char id[8];
        snprintf(id, sizeof id, "j%d", i);
        fx_enq(f, "q", id, NULL, NULL);
    }
    CHECK_EQ_INT(f->nd, 6);
    fx_result(f, w[1], "j1", 1, NULL, NULL);
    CHECK_STR(f->disp[6].conn, "w1");
    CHECK_STR(f->disp[6].id, "j6");
    fx_result(f, w[2], "j2", 1, NULL, NULL);
    CHECK_STR(f->disp[7].conn, "w2");
    for (int i = 0; i < 3; i++)
        broker_conn_free(f->b, w[i]);
    fx_free(f);
}

TEST(consume_priority_and_credit)
{
    static broker_queue_decl d[2];
    d[0] = fx_q("hi", 0);
    d[1] = fx_q("lo", 0);
    fx *f = fx_new_cfg(d, 2, NULL, 0, NULL, false);
    fx_enq(f, "lo", "l1", NULL, NULL);
    fx_enq(f, "hi", "h1", NULL, NULL);
    fx_enq(f, "lo", "l2", NULL, NULL);
    broker_conn *c = broker_conn_new(f->b, "w", NULL);
    const char *qs[] = {"hi", "lo"};
    CHECK_EQ_INT(broker_consume(f->b, c, qs, 2, 0, NULL), WSM_OK); /* prefetch 0: paused */
    CHECK_EQ_INT(f->nd, 0);
    broker_credit(f->b, c, 2);
    CHECK_EQ_INT(f->nd, 2);
    CHECK_STR(f->disp[0].id, "h1");
    CHECK_STR(f->disp[1].id, "l1");
    broker_credit(f->b, c, -5); /* clamped at 0 */
    fx_result(f, c, "h1", 1, NULL, NULL);
    CHECK_EQ_INT(f->nd, 2);
    broker_credit(f->b, c, 1); /* prefetch 1, one leased: still full */
    CHECK_EQ_INT(f->nd, 2);
    broker_credit(f->b, c, 1);
    CHECK_EQ_INT(f->nd, 3);
    const char *bad[] = {"hi", "nope"};
    CHECK_EQ_INT(broker_consume(f->b, c, bad, 2, 1, NULL), WSM_E_NO_SUCH_QUEUE);
    CHECK_EQ_INT(broker_consume(f->b, c, qs, 0, 1, NULL), WSM_E_BAD_FIELD);
    cJSON *ws = broker_query_workers(f->b);
    CHECK_EQ_INT(cJSON_GetArraySize(ws), 1);
    cJSON *w0 = cJSON_GetArrayItem(ws, 0);
    CHECK_EQ_INT(cJSON_GetObjectItem(w0, "processed")->valuedouble, 1);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(w0, "jobs")), 2);
    CHECK_EQ_INT(cJSON_GetObjectItem(w0, "jobs_total")->valuedouble, 2);
    CHECK_STR(cJSON_GetObjectItem(w0, "state")->valuestring, "busy");
    cJSON_Delete(ws);
    /* a large prefetch: jobs lists the first BROKER_WORKER_MAX_IDS leased ids, jobs_total all */
    for (int i = 0; i < 500; i++) {
        char id[16];
        snprintf(id, sizeof id, "many%d", i);
        fx_enq(f, "hi", id, NULL, NULL);
    }
    broker_credit(f->b, c, 1000);
    ws = broker_query_workers(f->b);
    w0 = cJSON_GetArrayItem(ws, 0);
    cJSON *jobs = cJSON_GetObjectItem(w0, "jobs");
    CHECK_EQ_INT(cJSON_GetArraySize(jobs), BROKER_WORKER_MAX_IDS);
    CHECK_EQ_INT(cJSON_GetObjectItem(w0, "jobs_total")->valuedouble, 502);
    CHECK_STR(cJSON_GetArrayItem(jobs, 2)->valuestring, "many0");
    cJSON_Delete(ws);
    broker_conn_free(f->b, c);
    fx_free(f);
}

TEST(release_keeps_position_and_attempt)
{
    fx *f = fx_one("q", 0);
    fx_enq(f, "q", "a", NULL, NULL);
    fx_enq(f, "q", "b", NULL, NULL);
    fx_enq(f, "q", "c", NULL, NULL);
    broker_conn *w = fx_worker(f, "w", "q", 2);
    CHECK_EQ_INT(f->nd, 2);
    broker_credit(f->b, w, -2);
    const char *ids[] = {"a", "b", "zz"};
    size_t n = 0;
    CHECK_EQ_INT(broker_release(f->b, w, ids, 3, &n, NULL), WSM_OK);
    CHECK_EQ_INT(n, 2);
    CHECK_STR(fx_status(f, "a"), "queued");
    broker_conn *v = fx_worker(f, "v", "q", 3);
    CHECK_EQ_INT(f->nd, 5);
    CHECK_STR(f->disp[2].id, "a");
    CHECK_EQ_INT(f->disp[2].attempt, 1);
    CHECK_STR(f->disp[3].id, "b");
    CHECK_STR(f->disp[4].id, "c");
    broker_conn_free(f->b, v);
    broker_conn_free(f->b, w);
    fx_free(f);
}

TEST(disconnect_requeues_with_attempt_counted)
{
    fx *f = fx_one("q", 0);
    broker_job_spec s;
    fx_spec(&s, "q", "j", NULL);
    s.opts.retry_max = 1;
    broker_reply r;
    broker_enqueue(f->b, NULL, &s, &r, NULL);
    fx_enq(f, "q", "once", NULL, NULL);
    broker_conn *w = fx_worker(f, "w", "q", 2);
    CHECK_EQ_INT(f->nd, 2);
    broker_queue_stats st;
    broker_queue_stats_get(f->b, 0, &st);
    CHECK_EQ_INT(st.consumers, 1);
    broker_conn_free(f->b, w);
    broker_queue_stats_get(f->b, 0, &st);
    CHECK_EQ_INT(st.consumers, 0);
    CHECK_STR(fx_status(f, "j"), "queued");
    CHECK_STR(fx_status(f, "once"), "failed");
    CHECK_STR(fx_field(f, "once", "reason"), "worker_lost");
    broker_conn *v = fx_worker(f, "v", "q", 2);
    CHECK_STR(f->disp[2].id, "j");
    CHECK_EQ_INT(f->disp[2].attempt, 2);
    CHECK_EQ_INT(fx_result(f, v, "j", 2, NULL, NULL), WSM_OK);
    broker_conn_free(f->b, v);
    fx_free(f);
}

TEST(admin_ops)
{
    fx *f = fx_one("q", 0);
    fx_enq(f, "q", "a", NULL, NULL);
    fx_enq(f, "q", "b", NULL, NULL);
    fx_enq(f, "q", "c", NULL, NULL);
    const char *da[] = {"a"};
    broker_reply r;
    fx_enq_deps(f, "d", da, 1, false, &r);
    broker_conn *w = fx_worker(f, "w", "q", 1);
    size_t n = 0;
    /* cancel a started job: stop sent, canceled; its dependent canceled too */
    CHECK_EQ_INT(broker_cancel(f->b, "a", &n, NULL), WSM_OK);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(f->ns, 1);
    CHECK_STR(f->stop[0].reason, "canceled");
    CHECK_STR(fx_status(f, "a"), "canceled");
    CHECK_STR(fx_status(f, "d"), "canceled");
    CHECK_EQ_INT(fx_result(f, w, "a", 1, NULL, NULL), WSM_E_BAD_STATE);
    CHECK_EQ_INT(broker_cancel(f->b, "a", &n, NULL), WSM_E_BAD_STATE);
    CHECK_EQ_INT(broker_cancel(f->b, "zz", &n, NULL), WSM_E_NO_SUCH_JOB);
    /* b was dispatched after a's cancel; cancel queued c */
    CHECK_STR(fx_status(f, "b"), "started");
    CHECK_EQ_INT(broker_cancel(f->b, "c", &n, NULL), WSM_OK);
    CHECK_STR(fx_status(f, "c"), "canceled");
    /* pause: accepted, not dispatched */
    CHECK_EQ_INT(broker_pause(f->b, "q", true, &n, NULL), WSM_OK);
    fx_result(f, w, "b", 1, NULL, NULL);
    fx_enq(f, "q", "e", NULL, NULL);
    CHECK_STR(fx_status(f, "e"), "queued");
    CHECK_EQ_INT(broker_pause(f->b, "q", false, &n, NULL), WSM_OK);
    CHECK_STR(fx_status(f, "e"), "started");
    /* requeue all failed/canceled of the queue */
    CHECK_EQ_INT(broker_requeue_all(f->b, "q", &n, NULL), WSM_OK);
    CHECK_EQ_INT(n, 3); /* a, c, d */
    CHECK_STR(fx_status(f, "a"), "queued");
    CHECK_EQ_INT(broker_requeue(f->b, "e", &n, NULL), WSM_E_BAD_STATE);
    /* empty */
    CHECK_EQ_INT(broker_empty(f->b, "q", &n, NULL), WSM_OK);
    CHECK_EQ_INT(n, 3);
    CHECK_STR(fx_field(f, "c", "reason"), "emptied");
    CHECK_EQ_INT(broker_empty(f->b, "zz", &n, NULL), WSM_E_NO_SUCH_QUEUE);
    CHECK_EQ_INT(broker_pause(f->b, "zz", true, &n, NULL), WSM_E_NO_SUCH_QUEUE);
    broker_conn_free(f->b, w);
    fx_free(f);
}

TEST(drain)
{
    fx *f = fx_one("q", 0);
    fx_enq(f, "q", "a", NULL, NULL);
    fx_enq(f, "q", "b", NULL, NULL);
    broker_conn *w = fx_worker(f, "w", "q", 1);
    broker_drain(f->b);
    CHECK(broker_draining(f->b));
    CHECK_EQ_INT(f->drained, 0);
    CHECK_EQ_INT(fx_enq(f, "q", "c", NULL, NULL), WSM_E_SHUTTING_DOWN);
    CHECK_EQ_INT(fx_result(f, w, "a", 1, NULL, NULL), WSM_OK);
    CHECK_EQ_INT(f->nd, 1); /* b not dispatched */
    CHECK_EQ_INT(f->drained, 1);
    broker_conn_free(f->b, w);
    fx_free(f);
}

TEST(wait_job_and_tree)
{
    fx *f = fx_pipeline(0);
    fx_enq(f, "src", "r", NULL, NULL);
    broker_conn *cl = broker_conn_new(f->b, "client", NULL);
    bool done;
    cJSON *js = NULL;
    CHECK_EQ_INT(broker_wait(f->b, cl, "r", false, 0, 1, &done, &js, NULL), WSM_OK);
    CHECK(!done);
    CHECK_EQ_INT(broker_wait(f->b, cl, "r", true, 0, 2, &done, &js, NULL), WSM_OK);
    CHECK_EQ_INT(broker_wait(f->b, cl, "r", true, 500, 3, &done, &js, NULL), WSM_OK);
    CHECK_EQ_INT(broker_wait(f->b, cl, "zz", true, 500, 3, &done, &js, NULL), WSM_E_NO_SUCH_JOB);
    broker_conn *w = fx_worker(f, "w", "src", 1);
    broker_reply r;
    fx_emit(f, w, "r", 0, NULL, 1, &r);
    fx_advance(f, 500);
    CHECK_EQ_INT(f->nw, 1);
    CHECK_EQ_INT(f->wait_done[0].req, 3);
    CHECK_EQ_INT(f->wait_done[0].code, WSM_E_TIMEOUT);
    fx_result(f, w, "r", 1, NULL, NULL);
    CHECK_EQ_INT(f->nw, 2);
    CHECK_EQ_INT(f->wait_done[1].req, 1);
    CHECK_STR(f->wait_done[1].status, "finished");
    CHECK_STR(f->wait_done[1].tree_status, "running");
    broker_conn *d = fx_worker(f, "d", "dst", 1);
    broker_conn *db = fx_worker(f, "db", "db", 1);
    fx_result(f, d, "r.0", 1, NULL, NULL);
    CHECK_EQ_INT(f->nw, 2);
    fx_result(f, db, "r.r", 1, NULL, NULL);
    CHECK_EQ_INT(f->nw, 3);
    CHECK_EQ_INT(f->wait_done[2].req, 2);
    CHECK_STR(f->wait_done[2].tree_status, "finished");
    /* already ended: immediate */
    CHECK_EQ_INT(broker_wait(f->b, cl, "r", true, 0, 4, &done, &js, NULL), WSM_OK);
    CHECK(done);
    CHECK(js != NULL);
    cJSON_Delete(js);
    broker_conn_free(f->b, cl);
    broker_conn_free(f->b, db);
    broker_conn_free(f->b, d);
    broker_conn_free(f->b, w);
    fx_free(f);
}

TEST(bad_config)
{
    broker_queue_decl d[2] = {fx_q("a", 0), fx_q("a", 0)};
    broker_config cfg = {0};
    cfg.queues = d;
    cfg.n_queues = 2;
    cfg.now = fx_clock;
    wsm_err e = {0};
    CHECK(broker_new(&cfg, &e) == NULL);
    CHECK_EQ_INT(e.code, WSM_E_BAD_FIELD);
    d[1].name = "b";
    broker_route_decl r = {"a", "out", "nope"};
    cfg.routes = &r;
    cfg.n_routes = 1;
    CHECK(broker_new(&cfg, &e) == NULL);
    CHECK(strstr(e.msg, "nope") != NULL);
    cfg.n_routes = 0;
    d[0].max_length = -1;
    CHECK(broker_new(&cfg, &e) == NULL);
    cfg.now = NULL;
    CHECK(broker_new(&cfg, &e) == NULL);
}

TEST(many_jobs_memory_flat)
{
    /* a long run: retention keeps the job count bounded */
    static broker_queue_decl d[1];
    d[0] = fx_q("q", 0);
    broker_retention ret = {.result_ttl_ms = 1000,
                            .failure_ttl_ms = 1000,
                            .emitted_result_ttl_ms = 100,
                            .registry_cap = 100};
    fx *f = fx_new_cfg(d, 1, NULL, 0, &ret, false);
    broker_conn *w = fx_worker(f, "w", "q", 1);
    size_t maxjobs = 0;
    for (int i = 0; i < 20000; i++) {
        broker_reply r;
        fx_enq(f, "q", NULL, NULL, &r);
        f->nd = 0;
        fx_result(f, w, r.job_id, 1, NULL, NULL);
        if (i % 100 == 0)
            fx_advance(f, 10);
        if (broker_job_count(f->b) > maxjobs)
            maxjobs = broker_job_count(f->b);
    }
    CHECK(maxjobs <= 101);
    broker_conn_free(f->b, w);
    fx_free(f);
}

TEST(free_with_live_connections)
{
    /* broker_free with leases, held emits, waits, keys, trees and timers still alive: no
     * callback, no leak (valgrind/ASan check this) */
    fx *f = fx_pipeline(1);
    broker_conn *w = fx_worker(f, "w", "src", 2);
    fx_enq(f, "src", "p", "k", NULL);
    fx_enq(f, "src", "p2", "k", NULL);
    broker_reply r;
    fx_emit(f, w, "p", 0, "x", 1, &r);
    fx_emit(f, w, "p", 1, "x", 2, &r);
    CHECK(r.held);
    broker_conn *cl = broker_conn_new(f->b, "cl", NULL);
    bool done;
    CHECK_EQ_INT(broker_wait(f->b, cl, "p", true, 1000, 1, &done, NULL, NULL), WSM_OK);
    CHECK(!done);
    fx_free(f);
}

TEST(cancel_deferred_scheduled_and_ttl_on_deferred)
{
    fx *f = fx_one("q", 0);
    broker_set_topics(f->b, true, false);
    fx_enq(f, "q", "p", NULL, NULL);
    broker_job_spec s;
    fx_spec(&s, "q", "sch", NULL);
    s.enqueue_in_ms = 1000;
    broker_reply r;
    broker_enqueue(f->b, NULL, &s, &r, NULL);
    const char *dp[] = {"p"};
    fx_enq_deps(f, "def", dp, 1, false, &r);
    fx_spec(&s, "q", "dttl", NULL);
    s.depends_on = dp;
    s.n_depends_on = 1;
    s.opts.ttl_ms = 500;
    broker_enqueue(f->b, NULL, &s, &r, NULL);
    /* deferred + enqueue_in: deferred first, then scheduled once the parent finished */
    fx_spec(&s, "q", "dsch", NULL);
    s.depends_on = dp;
    s.n_depends_on = 1;
    s.enqueue_in_ms = 2000;
    broker_enqueue(f->b, NULL, &s, &r, NULL);
    CHECK_STR(r.status, "deferred");
    size_t n;
    CHECK_EQ_INT(broker_cancel(f->b, "sch", &n, NULL), WSM_OK);
    CHECK_EQ_INT(broker_cancel(f->b, "def", &n, NULL), WSM_OK);
    CHECK_STR(fx_status(f, "sch"), "canceled");
    CHECK_STR(fx_status(f, "def"), "canceled");
    fx_advance(f, 500); /* ttl counts while deferred */
    CHECK_STR(fx_status(f, "dttl"), "expired");
    fx_advance(f, 1000); /* the canceled scheduled job never runs */
    broker_conn *w = fx_worker(f, "w", "q", 5);
    CHECK_EQ_INT(f->nd, 1);
    fx_result(f, w, "p", 1, NULL, NULL);
    CHECK_STR(fx_status(f, "dsch"), "scheduled");
    fx_advance(f, 2000);
    CHECK_STR(fx_status(f, "dsch"), "started");
    /* events: one per status change, with job, queue, status, root, at */
    bool saw = false;
    for (int i = 0; i < f->nev; i++)
        if (strcmp(f->ev[i].subject, "def") == 0 && strstr(f->ev[i].data, "canceled")) {
            saw = true;
            CHECK(strstr(f->ev[i].data, "\"queue\":\"q\"") != NULL);
            CHECK(strstr(f->ev[i].data, "\"root\":\"def\"") != NULL);
            CHECK(strstr(f->ev[i].data, "\"at\":") != NULL);
        }
    CHECK(saw);
    broker_conn_free(f->b, w);
    fx_free(f);
}

TEST(keyed_release_and_timeout_keep_head)
{
    fx *f = fx_one("q", 0);
    broker_job_spec s;
    fx_spec(&s, "q", "k1", "K");
    s.opts.timeout_ms = 100;
    s.opts.retry_max = 1;
    broker_reply r;
    broker_enqueue(f->b, NULL, &s, &r, NULL);
    fx_enq(f, "q", "k2", "K", NULL);
    broker_conn *w = fx_worker(f, "w", "q", 5);
    CHECK_EQ_INT(f->nd, 1);
    broker_credit(f->b, w, -5);
    const char *ids[] = {"k1"};
    broker_release(f->b, w, ids, 1, NULL, NULL);
    broker_credit(f->b, w, 5);
    CHECK_EQ_INT(f->nd, 2);
    CHECK_STR(f->disp[1].id, "k1"); /* released, still the head of K */
    CHECK_EQ_INT(f->disp[1].attempt, 1);
    fx_advance(f, 100); /* timeout: retried at once, keeps the head */
    CHECK_EQ_INT(f->nd, 3);
    CHECK_STR(f->disp[2].id, "k1");
    CHECK_EQ_INT(f->disp[2].attempt, 2);
    /* keyed jobs waiting behind the head count against max_length too */
    CHECK_EQ_INT(fx_count(f, "q", "queued"), 1);
    fx_result(f, w, "k1", 2, NULL, NULL);
    CHECK_STR(f->disp[3].id, "k2");
    broker_conn_free(f->b, w);
    fx_free(f);
}

TEST(long_run_with_trees_memory_flat)
{
    /* roots that emit keyed children and route results: trees, dedup ids and keys are freed
     * by retention, so the broker's size stays bounded */
    static broker_queue_decl d[3];
    static broker_route_decl rt[2];
    d[0] = fx_q("src", 0);
    d[1] = fx_q("dst", 0);
    d[2] = fx_q("db", 0);
    rt[0] = (broker_route_decl){"src", "out", "dst"};
    rt[1] = (broker_route_decl){"src", "result", "db"};
    broker_retention ret = {.result_ttl_ms = 1000,
                            .failure_ttl_ms = 1000,
                            .emitted_result_ttl_ms = 100,
                            .registry_cap = 1000};
    fx *f = fx_new_cfg(d, 3, rt, 2, &ret, false);
    broker_conn *w = fx_worker(f, "w", "src", 1);
    broker_conn *x = fx_worker(f, "x", "dst", 1);
    broker_conn *y = fx_worker(f, "y", "db", 1);
    size_t maxjobs = 0, maxtrees = 0;
    for (int i = 0; i < 3000; i++) {
        broker_reply r;
        char key[16];
        snprintf(key, sizeof key, "rec%d", i);
        fx_enq(f, "src", NULL, NULL, &r);
        char root[BROKER_MAX_ID + 1];
        snprintf(root, sizeof root, "%s", r.job_id);
        for (int k = 0; k < 2; k++) {
            broker_reply er;
            fx_emit(f, w, root, k, key, 0, &er);
            char cid[BROKER_MAX_ID + 16];
            snprintf(cid, sizeof cid, "%s.%d", root, k);
            CHECK_EQ_INT(fx_result(f, x, cid, 1, NULL, "{\"s\":1}"), WSM_OK);
        }
        fx_result(f, w, root, 1, "{}", NULL);
        char rid[BROKER_MAX_ID + 16];
        snprintf(rid, sizeof rid, "%s.r", root);
        CHECK_EQ_INT(fx_result(f, y, rid, 1, NULL, NULL), WSM_OK);
        f->nd = 0;
        fx_advance(f, 10);
        if (broker_job_count(f->b) > maxjobs)
            maxjobs = broker_job_count(f->b);
        if (broker_tree_count(f->b) > maxtrees)
            maxtrees = broker_tree_count(f->b);
    }
    CHECK(maxjobs <= 4 * 101 + 10);
    CHECK(maxtrees <= 102);
    CHECK(broker_job_count(f->b) > 0);
    broker_conn_free(f->b, y);
    broker_conn_free(f->b, x);
    broker_conn_free(f->b, w);
    fx_free(f);
}

int main(void)
{
    RUN(enqueue_dispatch_result);
    RUN(queue_full);
    RUN(held_emit_completed_when_space_frees);
    RUN(held_emit_dropped_on_disconnect);
    RUN(duplicate_and_bad_ids);
    RUN(at_front);
    RUN(timeout_stop_retry_scheduled_queued);
    RUN(retry_intervals_and_fail_for_good);
    RUN(enqueue_at_and_in);
    RUN(ttl_expired);
    RUN(depends_on_success_failure_allow_failure);
    RUN(key_order_and_state_handoff);
    RUN(key_retried_job_keeps_head);
    RUN(key_failed_cancels_later_jobs);
    RUN(emit_dedup_on_rerun_every_output_once_in_key_order);
    RUN(result_routing);
    RUN(registries_pagination_caps);
    RUN(tree_status_and_progress);
    RUN(children_pages_filter_bounds);
    RUN(registry_byte_cap);
    RUN(fair_dispatch_three_consumers);
    RUN(consume_priority_and_credit);
    RUN(release_keeps_position_and_attempt);
    RUN(disconnect_requeues_with_attempt_counted);
    RUN(admin_ops);
    RUN(drain);
    RUN(wait_job_and_tree);
    RUN(bad_config);
    RUN(many_jobs_memory_flat);
    RUN(free_with_live_connections);
    RUN(cancel_deferred_scheduled_and_ttl_on_deferred);
    RUN(keyed_release_and_timeout_keep_head);
    RUN(long_run_with_trees_memory_flat);
    return TEST_DONE();
}
