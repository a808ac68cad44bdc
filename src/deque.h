/*
 * deque.h - the per-worker work-stealing deque. Moves task pointers only;
 * knows nothing about tasks (testable alone).
 */
#ifndef CREW_DEQUE_H
#define CREW_DEQUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "platform.h"

typedef struct crew__ring {
    int64_t mask;               /* capacity - 1 */
    struct crew__ring *retired; /* older rings, freed with the deque */
    _Atomic(void *) slot[];
} crew__ring_t;

typedef struct crew__deque {
    CREW_ALIGNED _Atomic int64_t top;    /* thieves' end; CAS by thieves/owner */
    CREW_ALIGNED _Atomic int64_t bottom; /* owner's end; written by owner */
    _Atomic(crew__ring_t *) ring;        /* written by owner, read by all */
} crew__deque_t;

/* Named outcomes of a steal. */
typedef enum { CREW__STEAL_OK, CREW__STEAL_EMPTY, CREW__STEAL_LOST } crew__steal_t;

int crew__deque_init(crew__deque_t *d); /* 0 or CREW_ENOMEM */
void crew__deque_destroy(crew__deque_t *d);
/* Slow path of push: double the ring (deque.c). */
crew__ring_t *crew__deque_grow(crew__deque_t *d, crew__ring_t *a, int64_t t, int64_t b);

/* The owner's operations are inline: they are the spawn/join hot path.
 * Their orderings are explained in deque.c's proof sketch. */

/* Owner only. false: the ring could not grow (out of memory). */
static inline bool crew__deque_push(crew__deque_t *d, void *x)
{
    /* relaxed: only the owner writes bottom. */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    /* acquire: pairs with the CAS of top in steal(); a slot is reused only
     * after the thief that took it has read it. */
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    /* relaxed: only the owner writes ring. */
    crew__ring_t *a = atomic_load_explicit(&d->ring, memory_order_relaxed);
    if (CREW_UNLIKELY(b - t > a->mask)) {
        a = crew__deque_grow(d, a, t, b);
        if (!a)
            return false;
    }
    /* relaxed: published by the release store of bottom just below. */
    atomic_store_explicit(&a->slot[b & a->mask], x, memory_order_relaxed);
    /* release: pairs with the acquire load of bottom in steal(); the thief
     * that sees b+1 sees the slot and everything the spawner wrote into the
     * task record before pushing it. */
    atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
    return true;
}

/* Owner only. NULL if empty. */
static inline void *crew__deque_pop(crew__deque_t *d)
{
    /* relaxed: only the owner writes bottom and ring. */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    crew__ring_t *a = atomic_load_explicit(&d->ring, memory_order_relaxed);
    int64_t t;
    void *x;
    atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
    /* seq_cst fence: orders the store of bottom before the load of top.
     * Without it a thief could read the old bottom while we read the old
     * top, and both would take the last element. Pairs with the fence in
     * steal(). */
    CREW_FENCE_SEQ_CST();
    /* relaxed: ordered by the fence above. */
    t = atomic_load_explicit(&d->top, memory_order_relaxed);
    if (t > b) {
        /* Empty: restore bottom. relaxed: owner-only variable. */
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
        return NULL;
    }
    x = atomic_load_explicit(&a->slot[b & a->mask], memory_order_relaxed);
    if (t == b) {
        /* Last element: race thieves for it. seq_cst on success: part of
         * the total order with the fences; relaxed on failure: we return
         * empty and read nothing else. */
        if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                     memory_order_relaxed))
            x = NULL;
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
    }
    return x;
}

/* Owner only: the element pop() would return next, without taking it. */
static inline void *crew__deque_peek(crew__deque_t *d)
{
    /* relaxed: owner-only reads of bottom/ring; top acquire as in push. A
     * thief may take the element right after; callers re-check with pop. */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    crew__ring_t *a = atomic_load_explicit(&d->ring, memory_order_relaxed);
    if (t > b)
        return NULL;
    return atomic_load_explicit(&a->slot[b & a->mask], memory_order_relaxed);
}

/* Any thread. */
crew__steal_t crew__deque_steal(crew__deque_t *d, void **out);
/* Any thread; a snapshot, exact only while nobody touches the deque. */
int64_t crew__deque_size(crew__deque_t *d);

#endif
