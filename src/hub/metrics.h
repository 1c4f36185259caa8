/*
 * metrics.h - the hub's counters and the Prometheus text rendering behind GET /metrics.
 *
 * Counters are plain integers updated on the loop thread (no atomics needed: one thread).
 * Queue numbers come from the broker (broker_queue_stats_get) at render time.
 */
#ifndef HUB_METRICS_H
#define HUB_METRICS_H

#include "broker.h"
#include "wsm_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Upper bounds (seconds) of the dispatch-latency histogram buckets (+Inf is implicit). */
#define HUB_LAT_BUCKETS 14

typedef struct hub_metrics {
    uint64_t conns_accepted, conns_rejected;
    uint64_t ws_msgs_in, ws_msgs_out, msgs_in, msgs_out, bytes_in, bytes_out;
    uint64_t errors[WSM_CODE_COUNT];
    uint64_t close_slow, close_errors, close_too_large, close_idle, close_limit;
    uint64_t events_sent, events_coalesced, events_dropped;
    uint64_t store_batches, store_rows, store_errors;
    uint64_t http_requests;
    uint64_t lat_bucket[HUB_LAT_BUCKETS + 1];
    uint64_t lat_count;
    double lat_sum;
} hub_metrics;

/* Records one dispatch latency (enqueue to dispatch), in seconds. */
void metrics_observe_latency(hub_metrics *m, double seconds);

/* Appends the Prometheus text exposition (format 0.0.4) to out: the hub counters in m,
 * `connections` (current), `uptime_s`, and per-queue numbers from b. Returns 0 or NOMEM. */
int metrics_render(const hub_metrics *m, const broker *b, size_t connections, double uptime_s,
                   bool draining, wsm_buf *out);

#ifdef __cplusplus
}
#endif
#endif
