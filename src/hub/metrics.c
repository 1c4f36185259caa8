/*
 * metrics.c - Prometheus text rendering of the hub's counters and the broker's per-queue
 * numbers (GET /metrics), and the dispatch-latency histogram.
 *
 * Invariants: every metric name starts with "wsmesh_"; counters end in "_total"; histogram
 * buckets are cumulative as Prometheus requires (rendered from per-bucket counts here).
 */
#include "metrics.h"

#include <stdio.h>

static const double lat_bounds[HUB_LAT_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                   0.1,    0.25,  0.5,    1,     2.5,  5,     10};

void metrics_observe_latency(hub_metrics *m, double s)
{
    if (s < 0)
        s = 0;
    size_t i = 0;
    while (i < HUB_LAT_BUCKETS && s > lat_bounds[i])
        i++;
    m->lat_bucket[i]++;
    m->lat_count++;
    m->lat_sum += s;
}

#define P(...)                                                                                     \
    do {                                                                                           \
        if (wsm_buf_printf(out, __VA_ARGS__))                                                      \
            return WSM_E_NOMEM;                                                                    \
    } while (0)

static int counter(wsm_buf *out, const char *name, const char *help, uint64_t v)
{
    return wsm_buf_printf(out, "# HELP wsmesh_%s %s\n# TYPE wsmesh_%s counter\nwsmesh_%s %llu\n",
                          name, help, name, name, (unsigned long long)v);
}

static int gauge(wsm_buf *out, const char *name, const char *help, double v)
{
    return wsm_buf_printf(out, "# HELP wsmesh_%s %s\n# TYPE wsmesh_%s gauge\nwsmesh_%s %.17g\n",
                          name, help, name, name, v);
}

/* Per-queue metric family: fetches each queue's stats and prints field f. */
#define QFAMILY(NM, TY, HP, EX)                                                                    \
    do {                                                                                           \
        P("# HELP wsmesh_%s %s\n# TYPE wsmesh_%s %s\n", NM, HP, NM, TY);                           \
        for (size_t i = 0; i < nq; i++) {                                                          \
            broker_queue_stats s;                                                                  \
            if (broker_queue_stats_get(b, i, &s) != WSM_OK)                                        \
                continue;                                                                          \
            P("wsmesh_%s{queue=\"%s\"} %llu\n", NM, s.name, (unsigned long long)(EX));             \
        }                                                                                          \
    } while (0)

int metrics_render(const hub_metrics *m, const broker *b, size_t connections, double uptime_s,
                   bool draining, wsm_buf *out)
{
    if (gauge(out, "up", "1 while the hub serves", 1) ||
        gauge(out, "uptime_seconds", "seconds since the hub started", uptime_s) ||
        gauge(out, "draining", "1 while the hub drains for shutdown", draining ? 1 : 0) ||
        gauge(out, "connections", "open WebSocket connections", (double)connections) ||
        counter(out, "connections_accepted_total", "WebSocket connections accepted",
                m->conns_accepted) ||
        counter(out, "connections_rejected_total",
                "WebSocket connections refused (max_connections)", m->conns_rejected) ||
        counter(out, "ws_messages_in_total", "WebSocket messages received", m->ws_msgs_in) ||
        counter(out, "ws_messages_out_total", "WebSocket messages sent", m->ws_msgs_out) ||
        counter(out, "messages_in_total", "protocol messages received", m->msgs_in) ||
        counter(out, "messages_out_total", "protocol messages sent", m->msgs_out) ||
        counter(out, "bytes_in_total", "WebSocket payload bytes received", m->bytes_in) ||
        counter(out, "bytes_out_total", "WebSocket payload bytes sent", m->bytes_out) ||
        counter(out, "events_sent_total", "topic events sent", m->events_sent) ||
        counter(out, "events_coalesced_total",
                "topic events replaced by a newer one for a slow subscriber",
                m->events_coalesced) ||
        counter(out, "events_dropped_total",
                "topic events dropped for a slow subscriber (coalescing table full)",
                m->events_dropped) ||
        counter(out, "store_batches_total", "store batches committed", m->store_batches) ||
        counter(out, "store_rows_total", "store rows written", m->store_rows) ||
        counter(out, "store_errors_total", "store batches that failed", m->store_errors) ||
        counter(out, "http_requests_total", "HTTP requests served", m->http_requests))
        return WSM_E_NOMEM;

    P("# HELP wsmesh_closes_total connections closed by the hub, by reason\n"
      "# TYPE wsmesh_closes_total counter\n");
    P("wsmesh_closes_total{reason=\"slow_consumer\"} %llu\n", (unsigned long long)m->close_slow);
    P("wsmesh_closes_total{reason=\"protocol_errors\"} %llu\n",
      (unsigned long long)m->close_errors);
    P("wsmesh_closes_total{reason=\"too_large\"} %llu\n", (unsigned long long)m->close_too_large);
    P("wsmesh_closes_total{reason=\"idle\"} %llu\n", (unsigned long long)m->close_idle);
    P("wsmesh_closes_total{reason=\"limit\"} %llu\n", (unsigned long long)m->close_limit);

    P("# HELP wsmesh_errors_total protocol errors sent, by code\n"
      "# TYPE wsmesh_errors_total counter\n");
    for (int i = 1; i < WSM_CODE_COUNT; i++)
        if (m->errors[i])
            P("wsmesh_errors_total{code=\"%s\"} %llu\n", wsm_code_name(i),
              (unsigned long long)m->errors[i]);

    P("# HELP wsmesh_dispatch_latency_seconds time from enqueue to dispatch of a job\n"
      "# TYPE wsmesh_dispatch_latency_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < HUB_LAT_BUCKETS; i++) {
        cum += m->lat_bucket[i];
        P("wsmesh_dispatch_latency_seconds_bucket{le=\"%g\"} %llu\n", lat_bounds[i],
          (unsigned long long)cum);
    }
    cum += m->lat_bucket[HUB_LAT_BUCKETS];
    P("wsmesh_dispatch_latency_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    P("wsmesh_dispatch_latency_seconds_sum %.9g\n", m->lat_sum);
    P("wsmesh_dispatch_latency_seconds_count %llu\n", (unsigned long long)m->lat_count);

    if (!b)
        return 0;
    P("# HELP wsmesh_jobs_in_memory jobs held by the broker\n# TYPE wsmesh_jobs_in_memory "
      "gauge\nwsmesh_jobs_in_memory %zu\n",
      broker_job_count(b));
    P("# HELP wsmesh_trees_in_memory job trees held by the broker\n# TYPE "
      "wsmesh_trees_in_memory gauge\nwsmesh_trees_in_memory %zu\n",
      broker_tree_count(b));
    size_t nq = broker_queue_count(b);
    QFAMILY("queue_depth", "gauge", "jobs queued (waiting for a consumer)", s.queued);
    QFAMILY("queue_in_flight", "gauge", "jobs leased to workers", s.started);
    QFAMILY("queue_deferred", "gauge", "jobs waiting for dependencies", s.deferred);
    QFAMILY("queue_scheduled", "gauge", "jobs waiting for their time or a retry", s.scheduled);
    QFAMILY("queue_max_length", "gauge", "bound on queued jobs (0 = none)", s.max_length);
    QFAMILY("queue_paused", "gauge", "1 if the queue is paused", s.paused ? 1 : 0);
    QFAMILY("queue_consumers", "gauge", "connections consuming from the queue", s.consumers);
    QFAMILY("queue_held_emits", "gauge", "emits held back by credit (queue full)", s.held_emits);
    QFAMILY("queue_enqueued_total", "counter", "jobs that entered the queue", s.n_enqueued);
    QFAMILY("queue_dispatched_total", "counter", "dispatches (attempts started)", s.n_dispatched);
    QFAMILY("queue_finished_total", "counter", "jobs finished", s.n_finished);
    QFAMILY("queue_failed_total", "counter", "jobs failed for good", s.n_failed);
    QFAMILY("queue_expired_total", "counter", "jobs expired (ttl) before starting", s.n_expired);
    QFAMILY("queue_canceled_total", "counter", "jobs canceled", s.n_canceled);
    QFAMILY("queue_registry_dropped_total", "counter",
            "ended jobs purged early because a registry hit retention.registry_cap", s.n_dropped);
    return 0;
}
