/*
 * park.h - the only code that puts a worker to sleep: an eventcount.
 * See the protocol at the top of park.c.
 */
#ifndef CREW_PARK_H
#define CREW_PARK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "platform.h"

typedef struct crew__park {
    CREW_ALIGNED _Atomic uint32_t epoch; /* futex word, bumped by notify */
    _Atomic uint32_t sleepers;           /* workers between prepare and done */
    _Atomic uint32_t spinning;           /* idle workers still looking */
} crew__park_t;

void crew__park_init(crew__park_t *p);
/* Step 2 of the protocol: announce, and return the key to sleep on. */
uint32_t crew__park_prepare(crew__park_t *p);
/* Step 4: sleep unless notified since prepare; at most timeout_ns
 * (< 0: forever). Always followed by crew__park_done. */
void crew__park_sleep(crew__park_t *p, uint32_t key, int64_t timeout_ns);
/* Step 5 (or 3 when work was found): leave the sleepers. */
void crew__park_done(crew__park_t *p);
/* An idle worker starts / stops spinning (looking for work before it
 * prepares to sleep). */
void crew__park_spin_begin(crew__park_t *p);
void crew__park_spin_end(crew__park_t *p);
/* Producer side, after publishing work: wake one sleeper if any, unless
 * a worker is spinning (it will find the work). */
bool crew__park_notify_one(crew__park_t *p); /* true: a sleeper was woken */
/* Wake every sleeper (shutdown, cancellation, a helping waiter's target
 * finished). */
void crew__park_notify_all(crew__park_t *p);

/* Cheap producer check for the spawn hot path: true if a sleeper may need
 * waking. Must follow the publication with a seq_cst fence (see park.c). */
static inline bool crew__park_has_sleepers(crew__park_t *p)
{
    /* relaxed: ordered after the caller's publication by its seq_cst fence
     * (step b of the producer protocol). */
    return atomic_load_explicit(&p->sleepers, memory_order_relaxed) != 0;
}

/* Is any worker idle (spinning or parked)? A relaxed hint for a producer
 * deciding whether to expose work it would otherwise keep private (fork
 * deque); nothing is lost if it is stale. */
static inline bool crew__park_any_idle(crew__park_t *p)
{
    /* relaxed: a hint (see above). */
    return (atomic_load_explicit(&p->sleepers, memory_order_relaxed) |
            atomic_load_explicit(&p->spinning, memory_order_relaxed)) != 0;
}

#endif
