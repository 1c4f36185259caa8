/*
 * mf4r.h - the logic of the mf4-reader service, separate from the mesh so it can be tested
 * without a hub: one `mf4` job (a recording) in, frame batches out through a callback, a
 * result object at the end.
 *
 * Job args (queue `mf4`; JSON Schemas in schemas/mf4-reader/):
 *   path          required: a local path or a file:// URL (file:///abs/path). It is resolved
 *                 on the reader's host: workers on other machines need the same storage
 *                 mounted at the same path.
 *   recording_id  optional, default: the file's sha256 (hex).
 *   group         optional: group index (asammdf numbering) in which channel names are looked
 *                 up, and the default time base. Default: names are searched in every group.
 *   channels      optional object {output field: MF4 channel name}. Channels may come from
 *                 different groups: the time base is the group of the first channel (its
 *                 master, in s) unless resample_hz is given; the others are zero-order held
 *                 onto it (null before their first sample). Default: every numeric channel of
 *                 `group` (or of the first group with records), field = channel name.
 *   resample_hz   optional > 0: a uniform time base from the earliest to the latest sample of
 *                 the selected channels' groups; every channel zero-order held onto it.
 *   batch         optional frames per batch, 1..100000, default 1000.
 *   encoding      optional "json" (default, application/json) or "binary"
 *                 (application/vnd.wsmesh.columns).
 *
 * Each batch (output `frames`, key = recording id): payload + payload_meta = columns `t` (f64,
 * s) and one f64 nullable column per field (unit = the channel's unit; invalid samples null),
 * args {recording_id, seq, first_frame, rows, frames_total, last, units: {field: unit}}.
 * Progress: frames done / frames_total. Result: {recording_id, path, sha256, frames, t_start,
 * t_end, channels: [{field, name, group, unit}]}.
 *
 * Failures name the cause (error type, retry):
 *   BAD_FIELD (no)          an argument is missing or malformed
 *   FILE_NOT_FOUND (no)     the path does not exist
 *   IO (yes)                the file exists but cannot be read
 *   NOT_MDF (no)            not an MDF 4 file (or another MDF version)
 *   CORRUPT (no)            truncated or corrupt MDF file (message: what and where)
 *   UNSUPPORTED (no)        an MDF feature libmf4 does not implement (named)
 *   CHANNEL_NOT_FOUND (no)  a channel name is not in the file (lists the available names)
 *   NOMEM (yes)
 *   STOPPED                 the emit callback asked to stop (the job was stopped)
 */
#ifndef MF4R_H
#define MF4R_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "mf4.h"
#include "wsm_common.h"

#define MF4R_VERSION "mf4-reader/0.1.0"

typedef struct mf4r_error {
    char type[32];
    char msg[1024];
    bool retry;
} mf4r_error;

/* One batch, all borrowed for the call. Return 0 to continue, non-zero to stop (the job
 * fails with STOPPED unless the callee already decided otherwise). */
typedef struct mf4r_batch {
    const char *recording_id;
    const cJSON *args;        /* {recording_id, seq, first_frame, rows, frames_total, last,
                                 units} */
    const char *content_type; /* application/json or application/vnd.wsmesh.columns */
    const cJSON *payload_meta;
    const void *payload;
    size_t len;
} mf4r_batch;

typedef struct mf4r_callbacks {
    int (*emit)(void *user, const mf4r_batch *b);
    /* may be NULL */
    void (*progress)(void *user, uint64_t done, uint64_t total);
    /* may be NULL; true = stop now (job stopped) */
    bool (*should_stop)(void *user);
    void *user;
} mf4r_callbacks;

/* Runs one job. Returns 0 with *result (caller deletes) or -1 with e filled. */
int mf4r_run(const cJSON *args, const mf4r_callbacks *cb, cJSON **result, mf4r_error *e);

/* Turns a path or file:// URL into a local path (percent-decoded). Returns 0 or -1 (not a
 * local path: another URL scheme or a remote host). out has room for n bytes. */
int mf4r_local_path(const char *path_or_url, char *out, size_t n);

#endif
