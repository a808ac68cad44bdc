/*
 * limit.h - a counting bound with blocking waiters (backpressure): the
 * executor's bound on queued outside submissions, a group's, an actor's.
 *
 * Protocol (no lost wake-up, no thundering herd):
 *  1. take: CAS used -> used + 1 while used < max.
 *  2. A waiter: waiters += 1 (seq_cst); then read used (seq_cst); if there
 *     is room, retry step 1; else futex-wait on `used` for the value read.
 *  3. put(n): used -= n (seq_cst); then read waiters (seq_cst); if any,
 *     wake n of them.
 *  Steps 2 and 3 are a store-load pair on each side: either the waiter's
 *  read of `used` sees the put (and it does not sleep), or the put's read
 *  of `waiters` sees the waiter (and wakes it); a put between the read and
 *  the futex wait changes `used`, so the wait returns at once. One wake
 *  per freed slot: a freed slot wakes one producer, not all of them.
 */
#ifndef CREW_LIMIT_H
#define CREW_LIMIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "platform.h"

typedef struct crew__limit {
    CREW_ALIGNED _Atomic uint32_t used; /* slots taken; the futex word */
    _Atomic uint32_t max;               /* 0: no bound */
    _Atomic uint32_t waiters;           /* threads in step 2 */
} crew__limit_t;

static inline uint32_t crew__limit_max(crew__limit_t *l)
{
    /* relaxed: a bound set before the submissions it governs (the setter
     * documents that changing it while producers wait is allowed: they see
     * it at their next look). */
    return atomic_load_explicit(&l->max, memory_order_relaxed);
}

/* Step 1: take n slots if they are free (n <= max). */
static inline bool crew__limit_take(crew__limit_t *l, uint32_t n)
{
    uint32_t max = crew__limit_max(l);
    /* relaxed: the CAS decides. */
    uint32_t v = atomic_load_explicit(&l->used, memory_order_relaxed);
    while (v + n <= max || max == 0) {
        /* relaxed: the count orders nothing else (the task is published
         * by its own release). */
        if (atomic_compare_exchange_weak_explicit(&l->used, &v, v + n, memory_order_relaxed,
                                                  memory_order_relaxed))
            return true;
    }
    return false;
}

/* How many slots are free now (a hint). */
static inline uint32_t crew__limit_room(crew__limit_t *l)
{
    uint32_t max = crew__limit_max(l);
    /* relaxed: a hint; take decides. */
    uint32_t v = atomic_load_explicit(&l->used, memory_order_relaxed);
    return max == 0 ? UINT32_MAX : (v >= max ? 0 : max - v);
}

/* Step 3. */
static inline void crew__limit_put(crew__limit_t *l, uint32_t n)
{
    /* seq_cst: with the load below, the put's half of the pair (step 3). */
    atomic_fetch_sub_explicit(&l->used, n, memory_order_seq_cst);
    if (atomic_load_explicit(&l->waiters, memory_order_seq_cst))
        crew__futex_wake(&l->used, (int)n);
}

/* Step 2, once: sleep until `used` may have changed or timeout_ns passed
 * (-1: no timeout). Returns false if there was room without sleeping. */
static inline bool crew__limit_sleep(crew__limit_t *l, uint32_t n, int64_t timeout_ns)
{
    uint32_t v;
    bool slept = false;
    /* seq_cst: the waiter's half of the pair (step 2). */
    atomic_fetch_add_explicit(&l->waiters, 1, memory_order_seq_cst);
    v = atomic_load_explicit(&l->used, memory_order_seq_cst);
    if (v + n > crew__limit_max(l) && crew__limit_max(l) != 0) {
        crew__futex_wait(&l->used, v, timeout_ns);
        slept = true;
    }
    /* relaxed: only a hint for puts. */
    atomic_fetch_sub_explicit(&l->waiters, 1, memory_order_relaxed);
    return slept;
}

#endif
