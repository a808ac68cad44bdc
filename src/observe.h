/*
 * observe.h - seeing inside (observe.c): per-worker statistics and their
 * OpenMetrics export, the task list, the trace's start/stop/export, the
 * cancel watchdog. The hooks the lower layers call, the counters and the
 * side table of task times are stats.h's; the event rings are trace.h's.
 */
#ifndef CREW_OBSERVE_H
#define CREW_OBSERVE_H

#include <stddef.h>

#include "exec.h"

/* Teardown (crew_destroy, create failure), before anything is freed: stop
 * the watchdog. (crew__obs_fini frees the rest, after the set.) */
void crew__observe_stop(struct crew *ex);

/* IDs of the tasks not yet terminal (stolen forks excepted), up to cap of
 * them into ids; returns how many there are. Any thread. */
size_t crew__live_ids(struct crew *ex, crew_id_t *ids, size_t cap);

#endif
