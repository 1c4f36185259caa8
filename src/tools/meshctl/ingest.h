/*
 * ingest.h - `meshctl ingest FILE...`: the main job from the command line (ingest.c).
 */
#ifndef MESHCTL_INGEST_H
#define MESHCTL_INGEST_H

#include <stdbool.h>

#include <wsmesh.h>

/* Runs `meshctl ingest` on the connected client *pc with the command's own arguments (argv[0]
 * is the first argument after "ingest"). When the connection is lost it connects again with o
 * (borrowed) and replaces *pc (the old client is freed; *pc may be NULL on return: the caller
 * frees whatever *pc holds). json: print one JSON document instead of the
 * progress display and the table. Returns meshctl's exit status: 0 every recording finished,
 * 1 at least one failed (each reason printed), 2 usage, 3 connection lost, 4 refused, 6 timed
 * out. */
int meshctl_ingest(wsm_client **pc, const wsm_options *o, bool json, int argc, char **argv);

/* With no client (pc or *pc NULL) meshctl_ingest only checks the arguments (before connecting):
 * it returns 0 after printing --help, 2 after a usage error, else MESHCTL_INGEST_ARGS_OK. */
#define MESHCTL_INGEST_ARGS_OK 255

#endif
