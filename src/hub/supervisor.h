/*
 * supervisor.h - the hub's service supervisor: starts the services that mesh.json declares
 * (`services`: name, exec, args, instances, env, restart), restarts crashed ones with
 * exponential backoff, prefixes their output with `name[i]` and stops them when the hub ends.
 *
 * Everything runs on the hub's libuv loop (uv_spawn, uv_pipe, uv_timer, uv_signal): no threads,
 * no polling. The supervisor's handles are unreferenced while the hub runs, so they never keep
 * hub_run's loop alive; supervisor_shutdown then runs the loop until every child has exited.
 *
 * Lifecycle:  supervisor_new (before listening) -> supervisor_start (after) -> (hub_run) ->
 *             supervisor_shutdown -> supervisor_free.
 */
#ifndef HUB_SUPERVISOR_H
#define HUB_SUPERVISOR_H

#include "config.h"
#include "wsm_common.h"

#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct supervisor supervisor;

/* Creates a supervisor for cfg->services (no process yet; call before listening so that a bad
 * service fails the start early). cfg is borrowed and must outlive it. stop_timeout: seconds
 * between SIGTERM and SIGKILL at shutdown. Every exec is resolved here (an exec without '/'
 * is looked up in $WSMESH_BIN_DIR, next to wshub, in the build tree, then in $PATH; one with
 * '/' is relative to cfg->base_dir) and ${VAR} / ${VAR:-default} in args and env values are
 * expanded from the environment. Returns NULL and fills err (WSM_E_NOMEM, or WSM_E_BAD_FIELD
 * naming the service whose program was not found or is not executable, or the unset VAR). */
supervisor *supervisor_new(const hubcfg *cfg, double stop_timeout, wsm_err *err);

/* Spawns every instance on loop (borrowed, must outlive the supervisor) with WSMESH_URL =
 * hub_url (copied), and installs SIGINT/SIGTERM watchers that begin the stop (children get
 * SIGTERM at once so that they drain with the hub). Returns 0, or a wsm_code with err filled
 * when an instance could not be spawned (the ones already started are stopped by
 * supervisor_shutdown). */
int supervisor_start(supervisor *sv, uv_loop_t *loop, const char *hub_url, wsm_err *err);

/* Number of children currently running. */
size_t supervisor_running(const supervisor *sv);

/* Stops every child (SIGTERM, then SIGKILL after stop_timeout; no restarts any more), runs the
 * loop until each has exited and every supervisor handle is closed. Call after hub_run
 * returned, before hub_free. Accepts NULL. */
void supervisor_shutdown(supervisor *sv);

/* Frees the supervisor (after supervisor_shutdown, or without supervisor_start; its handles
 * must be closed). Does not read the config (which may already be freed). Accepts NULL. */
void supervisor_free(supervisor *sv);

#ifdef __cplusplus
}
#endif
#endif
