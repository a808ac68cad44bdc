/*
 * stats.h - what the executor counts, in two kinds kept apart:
 *
 *  - the ledger (crew__ledger_t): created, finished (done + failed +
 *    cancelled) and dequeued. Shutdown's quiescence is computed from it
 *    (stats.c), so it is part of correctness: every created task is
 *    counted before it is published, every finish after the record's last
 *    use, every queue slot when it is consumed.
 *  - statistics (crew__counters_t): removed, cancelled while running, late
 *    cancels, steals, parks. Nothing depends on them but crew_stats().
 *
 * Each worker has its own set of both (single writer: relaxed load +
 * store, no RMW on the hot path); threads outside the executor use the
 * shared sets with fetch_add. Readers sum them.
 */
#ifndef CREW_STATS_H
#define CREW_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "crew.h"

typedef struct crew__ledger {
    _Atomic uint64_t created, done, failed, cancelled,
        dequeued; /* queue slots consumed (each created task takes one) */
} crew__ledger_t;

typedef struct crew__counters {
    _Atomic uint64_t removed, cancelled_running, late_cancels, steals, parks;
} crew__counters_t;

/* Add n to field f of set `mine` (the calling worker's, single writer) or,
 * when mine is NULL, of `shared` (any thread). */
#define CREW__ADD(mine, shared, f, n)                                                              \
    do {                                                                                           \
        if (mine) /* relaxed: single writer; readers want a recent value */                        \
            atomic_store_explicit(&(mine)->f,                                                      \
                                  atomic_load_explicit(&(mine)->f, memory_order_relaxed) + (n),    \
                                  memory_order_relaxed);                                           \
        else /* relaxed: counts; quiescence reads use seq_cst fences */                            \
            atomic_fetch_add_explicit(&(shared)->f, (n), memory_order_relaxed);                    \
    } while (0)

struct crew;

/* Sums over the shared set and every worker's. */
uint64_t crew__ledger_sum(struct crew *ex, size_t offset);
uint64_t crew__counters_sum(struct crew *ex, size_t offset);
#define CREW__LEDGER(ex, f) crew__ledger_sum((ex), offsetof(crew__ledger_t, f))
#define CREW__STAT(ex, f)   crew__counters_sum((ex), offsetof(crew__counters_t, f))

/* Tasks created and not yet terminal. Exact when nothing is created
 * concurrently except by live tasks. */
uint64_t crew__live_tasks(struct crew *ex);
/* Wait until quiescent (shutdown step 4); workers going idle and tasks
 * finished outside workers call crew__notify_quiesce(). */
void crew__wait_quiescent(struct crew *ex);
void crew__notify_quiesce(struct crew *ex);
/* Fill the public statistics. */
void crew__stats_fill(struct crew *ex, crew_stats_t *st);

#endif
