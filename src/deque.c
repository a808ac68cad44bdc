/*
 * deque.c - Chase-Lev work-stealing deque with C11 atomics.
 *
 * Follows N. M. Le, A. Pop, A. Cohen, F. Zappa Nardelli, "Correct and
 * Efficient Work-Stealing for Weak Memory Models", PPoPP 2013 (figure 1),
 * which proves this algorithm correct under the C11 model with exactly the
 * orderings used below. Two deviations, both strengthening:
 *  - push publishes `bottom` with a release store instead of a release fence
 *    followed by a relaxed store (same cost on x86 and ARMv8; it lets
 *    ThreadSanitizer, which does not model fences, see the edge);
 *  - steal loads `bottom` with acquire for the same reason.
 *
 * Proof sketch (after the paper). Elements live in [top, bottom). The owner
 * moves bottom; thieves and the owner move top only by CAS, so each index is
 * taken at most once. The only contested element is the last one (top ==
 * bottom - 1): the owner's take first publishes bottom-1 and then reads top;
 * a thief reads top then bottom. The seq_cst fences in both put these four
 * accesses in one total order, so either the thief sees the decremented
 * bottom (and backs off) or the owner sees the thief's top and both race on
 * the CAS of top, which exactly one wins. A stale ring pointer read by a
 * thief is harmless because old rings are never freed while the deque lives
 * (they hold the same pointers at the same indices, see grow()).
 *
 * Reclamation: a ring that is replaced goes on the new ring's retired list
 * and is freed at crew__deque_destroy. Rings double, so the retired ones
 * together are smaller than the live one: memory stays within 2x the peak.
 */
#include "deque.h"

#include <string.h>

#include "crew.h"

static crew__ring_t *ring_new(int64_t cap)
{
    crew__ring_t *r = crew__malloc(sizeof *r + (size_t)cap * sizeof(void *));
    if (!r)
        return NULL;
    r->mask = cap - 1;
    r->retired = NULL;
    memset((void *)r->slot, 0, (size_t)cap * sizeof(void *));
    return r;
}

int crew__deque_init(crew__deque_t *d)
{
    crew__ring_t *r = ring_new((int64_t)1 << CREW_DEQUE_INIT_LOG2);
    if (!r)
        return CREW_ENOMEM;
    atomic_init(&d->top, 0);
    atomic_init(&d->bottom, 0);
    atomic_init(&d->ring, r);
    return 0;
}

void crew__deque_destroy(crew__deque_t *d)
{
    /* relaxed: the deque is private to the destroying thread now. */
    crew__ring_t *r = atomic_load_explicit(&d->ring, memory_order_relaxed);
    while (r) {
        crew__ring_t *next = r->retired;
        crew__free(r);
        r = next;
    }
}

CREW_NOINLINE crew__ring_t *crew__deque_grow(crew__deque_t *d, crew__ring_t *a, int64_t t,
                                             int64_t b)
{
    crew__ring_t *n = ring_new((a->mask + 1) * 2);
    if (!n)
        return NULL;
    for (int64_t i = t; i < b; i++) {
        /* relaxed: only the owner writes slots; thieves read the new ring
         * only after the release store of `ring` below. */
        void *x = atomic_load_explicit(&a->slot[i & a->mask], memory_order_relaxed);
        atomic_store_explicit(&n->slot[i & n->mask], x, memory_order_relaxed);
    }
    n->retired = a;
    /* release: pairs with the acquire load of `ring` in steal(), so a thief
     * that sees the new ring sees its copied slots. */
    atomic_store_explicit(&d->ring, n, memory_order_release);
    return n;
}

crew__steal_t crew__deque_steal(crew__deque_t *d, void **out)
{
    /* acquire: pairs with the CAS of other thieves and the owner. */
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    int64_t b;
    /* seq_cst fence: pairs with the fence in pop(); see the proof sketch. */
    CREW_FENCE_SEQ_CST();
    /* acquire: pairs with the release store of bottom in push(). */
    b = atomic_load_explicit(&d->bottom, memory_order_acquire);
    if (t >= b)
        return CREW__STEAL_EMPTY;
    {
        /* acquire: pairs with the release store of ring in grow(). */
        crew__ring_t *a = atomic_load_explicit(&d->ring, memory_order_acquire);
        void *x = atomic_load_explicit(&a->slot[t & a->mask], memory_order_relaxed);
        /* seq_cst: one winner per index, ordered with the fences. */
        if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                     memory_order_relaxed))
            return CREW__STEAL_LOST;
        *out = x;
        return CREW__STEAL_OK;
    }
}

int64_t crew__deque_size(crew__deque_t *d)
{
    /* relaxed: a snapshot for heuristics and diagnostics. */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    return b > t ? b - t : 0;
}
