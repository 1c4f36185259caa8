/*
 * internal.h - helpers shared by the adapter's modules (not part of the public API).
 */
#ifndef WSM_INTERNAL_H
#define WSM_INTERNAL_H

#include "wsmesh.h"

/* evthread_use_pthreads once per process (before any event_base is created). */
void wsm__lib_init(void);
/* Ignores SIGPIPE process-wide (writes to a closed socket must fail with EPIPE). */
void wsm__ignore_sigpipe(void);

#endif
