/*
 * park.c - parking idle workers without lost wake-ups (an eventcount).
 *
 * Worker (consumer) protocol:
 *  1. Look for work (own deque, inbox, injection queue, other deques) and
 *     spin a bounded number of rounds doing so.
 *  2. prepare: sleepers += 1 (seq_cst RMW), then key = epoch.
 *     Why: from here on any producer that publishes work and then reads
 *     `sleepers` sees us, so it will bump epoch.
 *  3. seq_cst fence, then re-scan every queue (and, for a helping waiter,
 *     its target's state and its own cancellation). If anything is found:
 *     done (sleepers -= 1) and go to 1. Why: work published before step 2
 *     was not announced to us. The fence (worker.c any_work) is needed in
 *     C11: step 2's RMW alone does not order the later loads (on x86 its
 *     locked add happens to).
 *  4. sleep: futex_wait(epoch, key). The kernel returns at once if epoch is
 *     no longer key, so a notify between 2 and 4 is not lost.
 *  5. done: sleepers -= 1, go to 1.
 *  6. pass on: a worker back from idle (it found work in 1 or 3, or woke
 *     in 4) that takes a task, and a helping waiter that slept and now
 *     takes a task or returns, first reads sleepers (after a seq_cst
 *     fence) and, if any, the other queues; if work is queued there it
 *     notifies as a producer does (b, c). worker.c pass_on.
 *
 * Before step 2 an idle worker spins (step 1) with `spinning` counted;
 * it stops counting (seq_cst RMW) before step 2.
 *
 * Producer protocol:
 *  a. Publish the work (deque push: release store of bottom; injection
 *     queue: seq_cst CAS).
 *  b. seq_cst fence, then read spinning: if > 0, stop (a spinner will
 *     find the work). Otherwise read sleepers.
 *  c. If sleepers > 0: epoch += 1 (seq_cst) and futex_wake(epoch, 1).
 *
 * Why skipping the wake for a spinner is safe (Go's rule for spinning
 * threads): the producer's read of spinning comes after its publication;
 * if it saw a spinner, that spinner's decrement comes later in the total
 * order, and so do its step-3 re-scan and its step-6 look, which then
 * find the work. A spinner that leaves with other work (or one task of
 * several) must not take that duty into a task that may block: a task
 * that waits for the work whose wake-up was skipped (a gate, a barrier)
 * would wait forever while the other workers sleep. Step 6 hands the
 * duty on: work left queued elsewhere wakes a sleeper, which in turn
 * passes on when it takes a task (Go's resetspinning/wakep). The same
 * holds for a wake-up that woke a helping waiter whose wait then ended.
 * Skipping keeps a steady stream of submissions from paying a futex wake
 * each; step 6 wakes only when work is visibly left over.
 * tools/model/park.pml checks this with tasks that all block until every
 * one has started (GATE), and rejects the protocol without step 6.
 *
 * Why no wake-up is lost: step 2's RMW and step b's fence + load are in the
 * single total order of seq_cst operations. Either the producer's read in b
 * comes after the worker's increment (the producer sees sleepers > 0, bumps
 * epoch; the worker's step-4 wait returns because epoch != key), or it
 * comes before, and then the publication in a precedes the worker's re-scan
 * in 3, which therefore finds the work. The model in tools/model/park.pml
 * checks this exhaustively and shows that dropping step 3 loses wake-ups.
 *
 * Owner pushes (spawn onto the worker's own deque) skip the fence of step
 * b and read sleepers relaxed. A wake-up can then be missed only in a
 * window of a few nanoseconds, and missing it cannot lose the task: the
 * owner never parks while its own deque is non-empty, so it runs the task
 * itself when its task joins it or returns; at worst one sleeper stays
 * asleep until the next spawn, external submission, or a thief's chained
 * wake-up (worker.c). A parent that blocks until its child has run on a
 * lock of its own (not crew_join, which runs the child) could wait for
 * one of those: crew.h says so at crew_spawn, and park.pml shows it
 * (SPAWN_WAITS). Submissions from outside the executor, where nobody else
 * would run the task, always use the full protocol. This saves a locked
 * instruction per spawn; the alternative, a light fence here paired with
 * a membarrier per park (platform.h), measured create-run-destroy of a
 * 2-worker executor about 25% slower.
 *
 * notify_one bumps epoch, which releases every worker between 2 and 4 (they
 * re-scan; extra ones park again): wasted work only, never a lost wake-up.
 */
#include "park.h"

#include <limits.h>

void crew__park_init(crew__park_t *p)
{
    atomic_init(&p->epoch, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->spinning, 0);
}

uint32_t crew__park_prepare(crew__park_t *p)
{
    /* seq_cst: step 2; pairs with the producer's fence + load (step b). */
    atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_seq_cst);
    /* seq_cst: read after the announcement in the total order. */
    return atomic_load_explicit(&p->epoch, memory_order_seq_cst);
}

void crew__park_sleep(crew__park_t *p, uint32_t key, int64_t timeout_ns)
{
    crew__futex_wait(&p->epoch, key, timeout_ns);
}

void crew__park_done(crew__park_t *p)
{
    /* relaxed: leaving only makes producers' wake-ups unnecessary; a stale
     * nonzero read costs one spurious wake. */
    atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_relaxed);
}

static void bump(crew__park_t *p, int n)
{
    /* seq_cst: step c; a worker in step 4 sees epoch != key. */
    atomic_fetch_add_explicit(&p->epoch, 1, memory_order_seq_cst);
    crew__futex_wake(&p->epoch, n);
}

void crew__park_spin_begin(crew__park_t *p)
{
    /* relaxed: counting in early only suppresses wake-ups that the spin
     * itself makes unnecessary; the decrement below is what matters. */
    atomic_fetch_add_explicit(&p->spinning, 1, memory_order_relaxed);
}

void crew__park_spin_end(crew__park_t *p)
{
    /* seq_cst: ordered before step 2 and the re-scan (see above). */
    atomic_fetch_sub_explicit(&p->spinning, 1, memory_order_seq_cst);
}

bool crew__park_notify_one(crew__park_t *p)
{
    /* seq_cst fence: step b; pairs with step 2's RMW and with spin_end.
     * Without it the loads may be satisfied before our publication is
     * visible, and a worker between 2 and 3 may miss both. */
    CREW_FENCE_SEQ_CST();
    /* relaxed: ordered after our publication by the fence above. */
    if (atomic_load_explicit(&p->spinning, memory_order_relaxed) != 0)
        return false;
    if (atomic_load_explicit(&p->sleepers, memory_order_relaxed) == 0)
        return false;
    bump(p, 1);
    return true;
}

void crew__park_notify_all(crew__park_t *p)
{
    /* seq_cst fence: as in notify_one. */
    CREW_FENCE_SEQ_CST();
    /* relaxed: ordered after our publication by the fence above. */
    if (atomic_load_explicit(&p->sleepers, memory_order_relaxed) != 0)
        bump(p, INT_MAX);
}
