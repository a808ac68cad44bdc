/*
 * fdeque.c - the fork deque's out-of-line steps (protocol in fdeque.h).
 */
#include "fdeque.h"

#include "crew.h"

void crew__fdeque_init(crew__fdeque_t *d, uint32_t cap)
{
    d->o.dq = NULL; /* reserved at the first push */
    d->o.cap = 0;
    d->want = cap;
    d->o.head = 0;
    d->o.o_split = 0;
    d->o.irq_open = false;
    crew__fj_derive(&d->o);
    d->o.movesplit = &d->movesplit;
    atomic_init(&d->ts, crew__ts(0, 0));
    atomic_init(&d->movesplit, 0);
}

bool crew__fdeque_reserve(crew__fdeque_t *d)
{
    d->o.dq = crew__reserve((size_t)d->want * sizeof(crew__frame_t));
    if (!d->o.dq)
        return false;
    d->o.cap = d->want;
    crew__fj_derive(&d->o);
    return true;
}

void crew__fdeque_destroy(crew__fdeque_t *d)
{
    crew__unreserve(d->o.dq, (size_t)d->o.cap * sizeof(crew__frame_t));
    d->o.dq = NULL;
}

bool crew__fdeque_share(crew__fdeque_t *d)
{
    uint32_t priv = d->o.head - d->o.o_split, split;
    /* relaxed: the request is served by the CAS below (or there is nothing
     * to share; a thief asks again when it finds the shared part empty). */
    atomic_store_explicit(&d->movesplit, 0, memory_order_relaxed);
    if (priv == 0)
        return false;
    split = d->o.o_split + (priv + 1) / 2; /* share the older half, at least one */
    /* relaxed: published by the CAS below. */
    for (uint32_t i = d->o.o_split; i < split; i++)
        atomic_store_explicit(&d->o.dq[i].state, CREW__FRAME_QUEUED, memory_order_relaxed);
    {
        /* relaxed: validated by the CAS. */
        uint64_t ts = atomic_load_explicit(&d->ts, memory_order_relaxed);
        /* seq_cst: release publishes the shared frames' contents to the
         * thieves whose CAS reads this value (or a later one in its release
         * sequence); seq_cst also makes it step a of park.c's producer
         * protocol, so the caller may read sleepers next without a fence.
         * Only tail changes under us (thieves): retry with its new value. */
        while (!atomic_compare_exchange_weak_explicit(&d->ts, &ts,
                                                      crew__ts(crew__ts_tail(ts), split),
                                                      memory_order_seq_cst, memory_order_relaxed))
            ;
    }
    d->o.o_split = split;
    crew__fj_derive(&d->o);
    return true;
}

crew__take_t crew__fdeque_reclaim(crew__fdeque_t *d, uint32_t i)
{
    /* acquire: if a thief took frame i we read nothing of it here, but the
     * caller will wait for its DONE; acquire keeps tail's value current. */
    uint64_t ts = atomic_load_explicit(&d->ts, memory_order_acquire);
    for (;;) {
        if (crew__ts_tail(ts) > i)
            return CREW__TAKE_STOLEN; /* step 3b: a thief has it */
        /* acq_rel: the single winner against a thief's CAS on the same
         * word; on failure ts is reloaded (acquire) and re-examined. */
        if (atomic_compare_exchange_weak_explicit(&d->ts, &ts, crew__ts(crew__ts_tail(ts), i),
                                                  memory_order_acq_rel, memory_order_acquire)) {
            d->o.o_split = i;
            d->o.head = i;
            crew__fj_derive(&d->o);
            return CREW__TAKE_OURS;
        }
    }
}

void crew__fdeque_stolen_done(crew__fdeque_t *d)
{
    uint32_t i = d->o.head - 1;
    /* release: step 4; tail == split == i + 1, so no thief CASes now, and a
     * later share's CAS publishes new frames on top of this value. */
    atomic_store_explicit(&d->ts, crew__ts(i, i), memory_order_release);
    d->o.o_split = i;
    d->o.head = i;
    crew__fj_derive(&d->o);
}

crew__frame_t *crew__fdeque_steal(crew__fdeque_t *d)
{
    /* acquire: pairs with the owner's share (release CAS) / step 4 store. */
    uint64_t ts = atomic_load_explicit(&d->ts, memory_order_acquire);
    uint32_t tail = crew__ts_tail(ts);
    if (tail >= crew__ts_split(ts))
        return NULL;
    /* acq_rel: step 2; the winner owns frame `tail` (acquire: its contents
     * were published by the share that made it shared). */
    if (!atomic_compare_exchange_strong_explicit(&d->ts, &ts,
                                                 crew__ts(tail + 1, crew__ts_split(ts)),
                                                 memory_order_acq_rel, memory_order_relaxed))
        return NULL;
    return &d->o.dq[tail];
}
