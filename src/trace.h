/*
 * trace.h - rings of fixed-size timestamped events. Knows nothing of tasks
 * or executors: an event is (timestamp, kind, a, b), four numbers whose
 * meaning belongs to the caller (stats.h names the kinds crew records).
 *
 * A ring has a single writer (crew__trace_put) or, for crew__trace_put_locked,
 * any number of writers serialised by the ring's mutex. Readers
 * (crew__trace_read) may run at any time, concurrently with the writer:
 * the ring is a seqlock per slot range.
 *
 *   writer, event number j (slot j & mask):
 *     W1. begin := j + 1          (relaxed store)
 *     W2. release fence
 *     W3. the slot's four fields  (relaxed stores)
 *     W4. head := j + 1           (release store)
 *   reader:
 *     R1. h := head               (acquire load: pairs with W4, so events
 *                                  below h are completely written)
 *     R2. copy events [h - cap, h) (relaxed loads)
 *     R3. acquire fence
 *     R4. b := begin              (relaxed load)
 *     keep only events i >= b - cap: if R2 read a field written by a writer
 *     of event j (which overwrites event j - cap), W2/R3 make that writer's
 *     W1 visible at R4, so b >= j + 1 and event j - cap is dropped.
 *
 * Cost of a put: one timestamp (rdtsc on x86-64, else the monotonic
 * clock), four plain stores and two stores of the ring's own counters (a
 * release fence and release store are plain moves on x86-64).
 */
#ifndef CREW_TRACE_H
#define CREW_TRACE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "platform.h"

/* ThreadSanitizer does not model fences (GCC warns with -Wtsan). Every
 * field here is atomic, so without the fences a TSan build can at worst
 * keep a torn event while the writer runs; tests read stopped rings. */
#if defined(__SANITIZE_THREAD__)
#define CREW__TRACE_FENCE(mo) ((void)0)
#else
#define CREW__TRACE_FENCE(mo) atomic_thread_fence(mo)
#endif

typedef struct crew__trace_ev {
    _Atomic uint64_t ts; /* crew__trace_stamp() */
    _Atomic uint64_t a;
    _Atomic uint32_t kind;
    _Atomic uint32_t b;
} crew__trace_ev_t;

/* A plain copy of an event, as read back. */
typedef struct crew__trace_rec {
    uint64_t ts, a;
    uint32_t kind, b;
} crew__trace_rec_t;

typedef struct crew__trace_ring {
    crew__trace_ev_t *ev; /* cap slots, cap a power of two */
    uint32_t mask;
    pthread_mutex_t mu;     /* serialises crew__trace_put_locked writers */
    _Atomic uint64_t begin; /* W1: events started */
    _Atomic uint64_t head;  /* W4: events completely written */
} crew__trace_ring_t;

/* The timestamp source: raw ticks. rdtsc on x86-64 (invariant TSC assumed;
 * crew__trace_calibrate converts), else nanoseconds of the monotonic
 * clock. */
static inline uint64_t crew__trace_stamp(void)
{
#if defined(__x86_64__)
    return __builtin_ia32_rdtsc();
#else
    return (uint64_t)crew__now_ns();
#endif
}

/* A pair (ticks, ns) read back to back; two of them give the tick rate. */
typedef struct crew__trace_clock {
    uint64_t ticks;
    int64_t ns;
} crew__trace_clock_t;
crew__trace_clock_t crew__trace_clock(void);
/* Nanoseconds per tick between two clock pairs (1.0 without rdtsc). */
double crew__trace_ns_per_tick(crew__trace_clock_t a, crew__trace_clock_t b);

/* cap: events kept (rounded up to a power of two, at least 64). 0 or
 * CREW_ENOMEM. */
int crew__trace_ring_init(crew__trace_ring_t *r, uint32_t cap);
void crew__trace_ring_destroy(crew__trace_ring_t *r);
/* Forget every event (no writer may run). */
void crew__trace_ring_reset(crew__trace_ring_t *r);

/* Single writer: the ring's owner thread. */
static inline void crew__trace_put(crew__trace_ring_t *r, uint32_t kind, uint64_t a, uint32_t b)
{
    /* relaxed: the writer's own counter. */
    uint64_t j = atomic_load_explicit(&r->head, memory_order_relaxed);
    crew__trace_ev_t *e = &r->ev[j & r->mask];
    uint64_t ts = crew__trace_stamp();
    /* relaxed + release fence: W1/W2 of the protocol above, pairs with the
     * reader's acquire fence R3. */
    atomic_store_explicit(&r->begin, j + 1, memory_order_relaxed);
    CREW__TRACE_FENCE(memory_order_release);
    /* relaxed: W3, published by W4. */
    atomic_store_explicit(&e->ts, ts, memory_order_relaxed);
    atomic_store_explicit(&e->a, a, memory_order_relaxed);
    atomic_store_explicit(&e->kind, kind, memory_order_relaxed);
    atomic_store_explicit(&e->b, b, memory_order_relaxed);
    /* release: W4, pairs with the reader's acquire R1. */
    atomic_store_explicit(&r->head, j + 1, memory_order_release);
}

/* Any thread: serialised by the ring's mutex. */
void crew__trace_put_locked(crew__trace_ring_t *r, uint32_t kind, uint64_t a, uint32_t b);

/* Copy the ring's surviving events, oldest first, into out (room for the
 * ring's capacity). Returns how many; *lost (optional): events overwritten
 * before they could be read. Any thread, concurrently with the writer. */
uint32_t crew__trace_read(crew__trace_ring_t *r, crew__trace_rec_t *out, uint64_t *lost);
static inline uint32_t crew__trace_cap(const crew__trace_ring_t *r) { return r->mask + 1; }

#endif
