/*
 * stats.c - the ledger, the statistics and quiescence (see stats.h).
 *
 * Quiescence (shutdown step 4) from the ledger, without a lock: read the
 * finish counters first, then (after a fence) the creation counters. A
 * task is counted created before it is published and finished after its
 * last use of the record, so finished_read <= finished(t) <= created(t) <=
 * created_read for the instant t between the two passes; equality means
 * no task was live at t, and only live tasks (or outside submitters, which
 * shutdown has refused by then) create tasks. The same argument with
 * `dequeued` shows every queue slot consumed.
 */
#include <limits.h>
#include <string.h>

#include "exec.h"
#include "stats.h"

uint64_t crew__ledger_sum(struct crew *ex, size_t off)
{
    /* relaxed: counters; crew__live_tasks orders its passes with fences. */
    uint64_t s =
        atomic_load_explicit((_Atomic uint64_t *)((char *)&ex->books + off), memory_order_relaxed);
    for (unsigned i = 0; i < ex->nslots; i++)
        s += atomic_load_explicit((_Atomic uint64_t *)((char *)&ex->workers[i].books + off),
                                  memory_order_relaxed);
    return s;
}

uint64_t crew__counters_sum(struct crew *ex, size_t off)
{
    /* relaxed: statistics. */
    uint64_t s =
        atomic_load_explicit((_Atomic uint64_t *)((char *)&ex->shared + off), memory_order_relaxed);
    for (unsigned i = 0; i < ex->nslots; i++)
        s += atomic_load_explicit((_Atomic uint64_t *)((char *)&ex->workers[i].c + off),
                                  memory_order_relaxed);
    return s;
}

uint64_t crew__live_tasks(struct crew *ex)
{
    uint64_t fin, created;
    CREW_FENCE_SEQ_CST();
    fin = CREW__LEDGER(ex, done) + CREW__LEDGER(ex, failed) + CREW__LEDGER(ex, cancelled);
    /* seq_cst fence: keeps the two passes in order (see above). */
    CREW_FENCE_SEQ_CST();
    created = CREW__LEDGER(ex, created);
    return created > fin ? created - fin : 0;
}

/* No live task and every queue slot consumed (shutdown step 4). */
static bool quiescent(struct crew *ex)
{
    uint64_t deq, created;
    if (crew__live_tasks(ex) != 0)
        return false;
    CREW_FENCE_SEQ_CST();
    deq = CREW__LEDGER(ex, dequeued);
    /* seq_cst fence: as in crew__live_tasks. */
    CREW_FENCE_SEQ_CST();
    created = CREW__LEDGER(ex, created);
    return deq >= created;
}

void crew__wait_quiescent(struct crew *ex)
{
    /* seq_cst: pairs with crew__notify_quiesce's fence + load. */
    atomic_fetch_add_explicit(&ex->quiesce_waiters, 1, memory_order_seq_cst);
    crew__park_notify_all(&ex->park);
    for (;;) {
        /* seq_cst: read before counting; a notify after our count bumps it. */
        uint32_t q = atomic_load_explicit(&ex->quiesce, memory_order_seq_cst);
        if (quiescent(ex))
            break;
        crew__futex_wait(&ex->quiesce, q, -1);
    }
    /* relaxed: leaving only makes later notifications unnecessary. */
    atomic_fetch_sub_explicit(&ex->quiesce_waiters, 1, memory_order_relaxed);
}

void crew__notify_quiesce(struct crew *ex)
{
    /* seq_cst fence: pairs with the waiter's increment of quiesce_waiters
     * before it counts; without it we could miss the waiter while it
     * misses our count. */
    CREW_FENCE_SEQ_CST();
    if (atomic_load_explicit(&ex->quiesce_waiters, memory_order_relaxed) != 0) {
        /* seq_cst: the waiter's futex value check sees the bump. */
        atomic_fetch_add_explicit(&ex->quiesce, 1, memory_order_seq_cst);
        crew__futex_wake(&ex->quiesce, INT_MAX);
    }
}

void crew__stats_fill(struct crew *ex, crew_stats_t *st)
{
    st->live_tasks = crew__live_tasks(ex);
    st->submitted = CREW__LEDGER(ex, created);
    st->done = CREW__LEDGER(ex, done);
    st->failed = CREW__LEDGER(ex, failed);
    st->cancelled = CREW__LEDGER(ex, cancelled);
    st->removed = CREW__STAT(ex, removed);
    st->cancelled_running = CREW__STAT(ex, cancelled_running);
    st->late_cancels = CREW__STAT(ex, late_cancels);
    st->steals = CREW__STAT(ex, steals);
    st->parks = CREW__STAT(ex, parks);
    st->live_records = crew__pool_live(&ex->pool);
    st->cancel_set_size = crew__cset_size(&ex->cset);
    /* relaxed: statistics. */
    st->deadlines_pending = crew__timer_pending(&ex->timer);
    st->deadlines_set = atomic_load_explicit(&ex->timer.set_total, memory_order_relaxed);
    st->deadlines_fired = atomic_load_explicit(&ex->timer.fired, memory_order_relaxed);
    st->callbacks_run = atomic_load_explicit(&ex->callbacks_run, memory_order_relaxed);
    st->interrupts_sent = atomic_load_explicit(&ex->interrupts_sent, memory_order_relaxed);
}
