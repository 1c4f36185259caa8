/*
 * aebsvc.h - the logic of the aeb service, separate from the mesh so it can be tested without
 * a hub: one frame batch of a recording in (columns, JSON or binary), the AEB per-frame
 * outputs, events, next key state and (on the last batch) the summary out.
 *
 * Input batch (a job of queue `aeb`, emitted by mf4-reader as output `frames`):
 *   payload + payload_meta: columns by field name (wsm_columns.h): `t` and `ego_v` required;
 *   (a JSON payload without payload_meta is accepted: every array is read as f64 nullable);
 *   `range` + `rel_v` (both or neither; null = no object), `ego_a`, `lead_a` optional. Units from
 * each column's `unit`, else from args.units[field], else SI: time s|ms, speeds m/s|km/h|kph|mph,
 * ranges m|ft, accelerations m/s^2|m/s²|m/s2|g|ft/s^2. An unknown unit fails the job (BAD_FIELD).
 *   args: `recording_id` (else the job key), `first_frame` (optional; must equal the number of
 *   frames the key state has evaluated), `seq` (copied), `last` (bool).
 * Key state: the aeb_state JSON of libaeb (absent = a new recording).
 * Outputs:
 *   frames: same encoding as the input; columns t ego_v range rel_v ttc state fcw brake_stage
 *     aeb_status decel collision t_fcw t_pb1 t_pb2 t_fb ettc input_error t_not_increasing
 *     (SI, nulls where AEB_SPEC says null); args {recording_id, first_frame, rows, last[, seq]
 *     [, summary]}; the summary (last batch) carries the parameters and service_version.
 *   events: args {recording_id, first_frame, events: [aeb_event_to_json...]} (only when the
 *     batch has events).
 *   state: the next key state; result: {recording_id, first_frame, frames, events, stage, last}.
 */
#ifndef AEBSVC_H
#define AEBSVC_H

#include "aeb.h"
#include "wsm_columns.h"

#define AEBSVC_VERSION "aeb-service/" AEB_VERSION

typedef struct aebsvc_in {
    const char *key;          /* ordering key or NULL */
    const cJSON *args;        /* never NULL */
    const cJSON *state;       /* key state or NULL */
    const char *content_type; /* NULL = application/json */
    const cJSON *payload_meta;
    const void *payload;
    size_t len;
} aebsvc_in;

typedef struct aebsvc_out {
    char recording_id[256];
    const char *content_type; /* static: same as the input */
    cJSON *frames_meta;       /* payload_meta of the frames output */
    wsm_buf frames_payload;
    cJSON *frames_args;
    cJSON *events_args; /* NULL when the batch has no events */
    size_t n_events;
    cJSON *state;
    cJSON *result;
} aebsvc_out;

typedef struct aebsvc_error {
    char type[32]; /* BAD_FIELD, BAD_STATE, NOMEM */
    char msg[400];
    bool retry; /* only for NOMEM */
} aebsvc_error;

/* Evaluates one batch with parameters p (checked). Returns 0 and fills *out (free with
 * aebsvc_out_free), or -1 with e filled (out is left empty). */
int aebsvc_process(const aeb_params *p, const aebsvc_in *in, aebsvc_out *out, aebsvc_error *e);

/* Frees everything in out and zeroes it. Accepts NULL. */
void aebsvc_out_free(aebsvc_out *out);

/* The factor that converts a value in `unit` to SI for a field ("t", "ego_v", "rel_v",
 * "range", "ego_a", "lead_a"); NULL or "" unit = SI. Returns the factor, or 0 if the unit is
 * not one of that field's units. */
double aebsvc_unit_factor(const char *field, const char *unit);

#endif
