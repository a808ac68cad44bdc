/*
 * trace.c - event rings (see trace.h for the seqlock protocol).
 */
#include "trace.h"

#include <string.h>

#include "crew.h"

crew__trace_clock_t crew__trace_clock(void)
{
    crew__trace_clock_t c;
    int64_t a = crew__now_ns();
    c.ticks = crew__trace_stamp();
    c.ns = (a + crew__now_ns()) / 2;
    return c;
}

double crew__trace_ns_per_tick(crew__trace_clock_t a, crew__trace_clock_t b)
{
#if defined(__x86_64__)
    if (b.ticks > a.ticks && b.ns > a.ns)
        return (double)(b.ns - a.ns) / (double)(b.ticks - a.ticks);
    return 1.0 / 3.0; /* no interval yet: a 3 GHz guess, corrected at stop */
#else
    (void)a;
    (void)b;
    return 1.0;
#endif
}

int crew__trace_ring_init(crew__trace_ring_t *r, uint32_t cap)
{
    uint32_t n = 64;
    while (n < cap && n < (1u << 30))
        n <<= 1;
    memset(r, 0, sizeof *r);
    r->ev = crew__calloc(n, sizeof *r->ev);
    if (!r->ev)
        return CREW_ENOMEM;
    r->mask = n - 1;
    pthread_mutex_init(&r->mu, NULL);
    return 0;
}

void crew__trace_ring_destroy(crew__trace_ring_t *r)
{
    if (!r->ev)
        return;
    crew__free(r->ev);
    r->ev = NULL;
    pthread_mutex_destroy(&r->mu);
}

void crew__trace_ring_reset(crew__trace_ring_t *r)
{
    /* relaxed: no writer runs (the caller's contract). */
    atomic_store_explicit(&r->begin, 0, memory_order_relaxed);
    atomic_store_explicit(&r->head, 0, memory_order_relaxed);
}

void crew__trace_put_locked(crew__trace_ring_t *r, uint32_t kind, uint64_t a, uint32_t b)
{
    pthread_mutex_lock(&r->mu);
    crew__trace_put(r, kind, a, b);
    pthread_mutex_unlock(&r->mu);
}

uint32_t crew__trace_read(crew__trace_ring_t *r, crew__trace_rec_t *out, uint64_t *lost)
{
    uint64_t cap = (uint64_t)r->mask + 1, h, lo, b, keep;
    uint32_t n = 0;
    /* acquire: R1, pairs with the writer's release store W4. */
    h = atomic_load_explicit(&r->head, memory_order_acquire);
    lo = h > cap ? h - cap : 0;
    for (uint64_t i = lo; i < h; i++) {
        crew__trace_ev_t *e = &r->ev[i & r->mask];
        crew__trace_rec_t *o = &out[i - lo];
        /* relaxed: R2, validated by R3/R4. */
        o->ts = atomic_load_explicit(&e->ts, memory_order_relaxed);
        o->a = atomic_load_explicit(&e->a, memory_order_relaxed);
        o->kind = atomic_load_explicit(&e->kind, memory_order_relaxed);
        o->b = atomic_load_explicit(&e->b, memory_order_relaxed);
    }
    /* acquire fence: R3, pairs with the writer's release fence W2. */
    CREW__TRACE_FENCE(memory_order_acquire);
    /* relaxed: R4, ordered by the fence above. */
    b = atomic_load_explicit(&r->begin, memory_order_relaxed);
    keep = b > cap ? b - cap : 0; /* events below keep may be overwritten */
    if (keep < lo)
        keep = lo;
    if (keep > h)
        keep = h;
    n = (uint32_t)(h - keep);
    if (keep > lo)
        memmove(out, out + (keep - lo), n * sizeof *out);
    if (lost)
        *lost = keep;
    return n;
}
