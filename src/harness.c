/*
 * harness.c - a task record from birth to recycling (harness.h).
 *
 * Cancel vs start, the protocol that makes "removed" and "requested" exact:
 *  1. A worker that pops a record moves QUEUED -> RUNNING (try_start). A
 *     canceller moves QUEUED -> REMOVING (try_remove). Both compare
 *     against the same QUEUED word, so exactly one wins: "removed and ran"
 *     is impossible.
 *  2. A canceller that finds RUNNING without REQ first inserts the ID into
 *     the cancellation set and counts a cancel scope, then sets REQ
 *     (set_req). Only then does it return CREW_REQUESTED, so every later
 *     check (a set lookup after the scope count is seen) reports it.
 *  3. A body's check that finds its ID in the set sets REQ itself
 *     (note_req; the canceller may not have yet). The finisher's terminal
 *     CAS replaces a word that either has REQ (then the phase is
 *     CANCELLED) or not. In the second case no check of the body saw the
 *     request, and the canceller's set_req fails on the terminal word: it
 *     answers CREW_TOO_LATE. A canceller that finds the word terminal
 *     *with* REQ knows the body saw its entry: it answers CREW_REQUESTED.
 *     So "requested and DONE", and "the body saw a cancel but ended
 *     DONE", are impossible.
 *  4. The finisher removes the ID from the set after its terminal CAS, so
 *     the set holds only live cancelled tasks.
 * The model tools/model/task_state.pml checks these steps exhaustively.
 *
 * Batch carriers (a batch from outside without IDs, submit.c): one record
 * runs consecutive tasks of one crew_submit_batch() call, each as its own
 * incarnation (its own ID, status, cleanup and group count):
 *  1. The carrier is published QUEUED with BATCH. Index 0 is the record's
 *     own task; the others are claimed through the carrier's `next`
 *     (starting at 1). Whoever wins the QUEUED word owns task 0 (steps
 *     above); a remover also drops every task not claimed (carrier_drop).
 *  2. The runner pins the record once started, so that no incarnation's
 *     terminal word is freeable, and runs task 0.
 *  3. When a task's body returned, the runner claims the next index
 *     (fetch_add), then finishes the task as usual (terminal CAS, set
 *     entry out, group count; a task that ended DONE counts in the
 *     carrier's `ended` instead, which crew_group_info subtracts). None
 *     left: it takes `ended` off the group in one RMW, drops its pin (the
 *     last record out frees the block) and stops.
 *  3a. A task that ended DONE on an incarnation the runner made (step 4)
 *     and nobody else can name (no event showed its ID, no pin, no
 *     crew_self(): the word has no SEEN, task.h; no child; no
 *     FIRST_SUCCESS group) ends quietly: cleanup, claim, and if the word
 *     is still exactly RUNNING + the runner's pin (quiet_next, a seq_cst
 *     load against the pins' seq_cst CAS) and nothing is cancelled, the
 *     claimed task runs on the same incarnation, its ID unchanged, with
 *     no terminal word and no RMW besides the claim. The ID was never
 *     known outside, so no lookup can tell the two tasks apart; a pin
 *     after the load reaches the next task. Otherwise step 4.
 *  4. The claimed task gets the record's next incarnation when the
 *     runner's pin is the only hold on it and the ended task left no live
 *     children: FREE (refusing pins, so no lookup validates the old ID
 *     against the new incarnation; the terminal CAS itself goes there when
 *     it can, else a CAS from the terminal word once the other pins are
 *     gone), new ID and fields, RUNNING (release). Otherwise a fresh
 *     record takes it (RUNNING, pinned by the runner, a reference on the
 *     block) and the old one is left to its holders.
 *  5. A sweep for a cancelled group (or a cancel shutdown) takes the
 *     executor's listed blocks of that scope and claims every index left
 *     (exchange): those tasks are removed (cleanup, group counts) before
 *     the cancel returns. The claim word arbitrates each task: run (the
 *     runner claimed it first: it started before the cancel) or removed,
 *     never both. A block is listed from before its first record is
 *     published until its last record is freed, so no sweep misses a
 *     task that is not claimed; the records themselves cannot serve (a
 *     record between two tasks is FREE to a pool walk).
 *  6. A batch deadline is one timer entry holding a reference on the block
 *     (armed before any record is published; a deadline already past
 *     marks the block expired at birth instead). When it fires, `expired`
 *     is set under the set mutex with a cancel scope (dropped when the
 *     block is freed) and a sweep follows, as for a group: the block's
 *     tasks see it as an inherited cancellation (cancel.c), so queued runs
 *     are removed, indexes left are claimed as in step 5, running tasks
 *     and their descendants see crew_cancelled(). A task whose own
 *     deadline replaced the batch's (its ID in its carrier's own_dl,
 *     deadline.c) is not reached. Each carrier's end (step 3's last, or
 *     its queued record removed) counts down dl_live; the last one
 *     disarms the entry, and whichever of that disarm and the timer's
 *     claim takes the entry (under its shard's lock) drops its reference.
 * The model tools/model/carrier.pml checks steps 3-5 against a canceller
 * and a lookup by an old ID, and step 3a against a looker that learns an
 * ID and later acts on it; tools/model/batch_deadline.pml checks step
 * 6's references against the timer and a shutdown.
 *
 * Record lifetime: see crew__task_free() for the parent/child protocol.
 */
#include "harness.h"

#include <limits.h>
#include <sched.h>

#include "fault.h"
#include "fdeque.h"
#include "group.h"
#include "interrupt.h"
#include "stats.h"

crew__task_t *crew__task_get(struct crew *ex, crew_id_t id, bool allow_released)
{
    crew__task_t *t = crew__pool_slot(&ex->pool, id);
    if (!t || !crew__rec_pin(t, allow_released))
        return NULL;
    /* relaxed: ordered by the pin's acquire CAS. */
    if (atomic_load_explicit(&t->id, memory_order_relaxed) != id) {
        crew__task_put(ex, t);
        return NULL;
    }
    return t;
}

void crew__task_put(struct crew *ex, crew__task_t *t)
{
    if (crew__rec_unpin(t))
        crew__task_free(ex, t);
}

int crew__task_release(struct crew *ex, crew__task_t *t)
{
    switch (crew__rec_release(t, NULL)) {
    case CREW__REL_ALREADY:
        return CREW_ENOTASK;
    case CREW__REL_FREE:
        crew__task_free(ex, t);
        break;
    case CREW__REL_KEPT:
        break;
    }
    return 0;
}

/* Batch carriers: under batches_mu, take b off the executor's list. */
static void unlist_locked(struct crew *ex, crew__batch_t *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        ex->batches = b->next;
    if (b->next)
        b->next->prev = b->prev;
}

/* Blocks kept for reuse (a batch of the same size comes next, usually):
 * fresh memory written by the submitter costs the worker page faults and
 * a cross-thread free. */
#define SPARE_BATCHES 4

/* b's last user is done and b is unlisted: drop its group reference, then
 * keep it as a spare or free it. Not under batches_mu. */
static void batch_free(struct crew *ex, crew__batch_t *b)
{
    /* relaxed: we hold the last reference (the unref's acquire). */
    if (atomic_load_explicit(&b->expired, memory_order_relaxed)) {
        atomic_store_explicit(&b->expired, false, memory_order_relaxed);
        crew__scope_drop(ex); /* no task of the batch is left to need it */
    }
    if (b->group) {
        crew__group_unref(b->group);
        b->group = NULL;
    }
    pthread_mutex_lock(&ex->batches_mu);
    if (ex->nspare_batches < SPARE_BATCHES) {
        b->next = ex->spare_batches;
        ex->spare_batches = b;
        ex->nspare_batches++;
        b = NULL;
    }
    pthread_mutex_unlock(&ex->batches_mu);
    crew__free(b);
}

/* A record that pointed into block b is freed. The last one out unlists
 * it and keeps or frees it. */
static void batch_unref(struct crew *ex, crew__batch_t *b)
{
    /* acq_rel: the last one out sees every other user's accesses to the
     * block (released by their own unref) before freeing it. */
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_lock(&ex->batches_mu);
    unlist_locked(ex, b);
    pthread_mutex_unlock(&ex->batches_mu);
    batch_free(ex, b);
}

void crew__batch_put(struct crew *ex, crew__batch_t *b) { batch_unref(ex, b); }

/* A carrier of b ended (its runner's last task, or its queued record was
 * removed); the caller still holds a reference on b. The last carrier to
 * end takes the batch's deadline off the timer (unless it fired). */
static void carrier_ended(struct crew *ex, crew__batch_t *b)
{
    void *obj;
    /* relaxed: a count; the disarm and the timer's claim arbitrate under
     * the shard's lock which of them drops the entry's reference. */
    if (CREW_UNLIKELY(b->when) &&
        atomic_fetch_sub_explicit(&b->dl_live, 1, memory_order_relaxed) == 1 &&
        crew__timer_disarm(&ex->timer, CREW__TM_BATCH, (uint64_t)(uintptr_t)b, &obj))
        batch_unref(ex, b); /* the entry's (ours keeps b) */
}

void crew__batch_expire(struct crew *ex, crew__batch_t *b)
{
    bool first = false;
    crew__cset_lock(&ex->cset);
    /* relaxed: written only under the mutex we hold. */
    if (!atomic_load_explicit(&b->expired, memory_order_relaxed)) {
        crew__scope_add(ex); /* before the flag: check protocol step 1 */
        /* release: pairs with the checks' acquire load (cancel.c); they
         * then read own_dl, written before under this mutex. */
        atomic_store_explicit(&b->expired, true, memory_order_release);
        first = true;
    }
    crew__cset_unlock(&ex->cset);
    if (first) {
        crew__sweep(ex);         /* queued runs, and every task not claimed */
        crew__reach_running(ex); /* callbacks and interruptible regions */
    }
    crew__park_notify_all(&ex->park); /* helping waiters re-check */
    batch_unref(ex, b);               /* the timer entry's reference */
}

void crew__batch_listed(struct crew *ex, crew__batch_t *b)
{
    if (b->group)
        crew__group_ref(b->group);
    /* relaxed: a hint for crew_group_info, which then takes the mutex. */
    atomic_store_explicit(&ex->batches_used, true, memory_order_relaxed);
    pthread_mutex_lock(&ex->batches_mu);
    b->prev = NULL;
    b->next = ex->batches;
    if (b->next)
        b->next->prev = b;
    ex->batches = b;
    pthread_mutex_unlock(&ex->batches_mu);
}

crew__batch_t *crew__batch_alloc(struct crew *ex, size_t bytes)
{
    crew__batch_t *b, **pp;
    pthread_mutex_lock(&ex->batches_mu);
    for (pp = &ex->spare_batches; (b = *pp) != NULL; pp = &b->next)
        if (b->bytes >= bytes) {
            *pp = b->next;
            ex->nspare_batches--;
            break;
        }
    pthread_mutex_unlock(&ex->batches_mu);
    if (!b && (b = crew__malloc(bytes)) != NULL)
        b->bytes = bytes;
    if (b) /* relaxed: not shared yet (read by batch_free if unused) */
        atomic_init(&b->expired, false);
    return b;
}

void crew__batch_unused(struct crew *ex, crew__batch_t *b)
{
    b->group = NULL;
    batch_free(ex, b);
}

/*
 * Free a freeable record. Children keep their parent's record alive (the
 * cancellation check walks the parent chain), without an atomic per spawn:
 *  - the parent's own thread counts `spawned` and, when it frees one of its
 *    children itself (the usual join), `joined_self` (plain fields);
 *  - a child freed by any other thread adds 1 to the parent's kids_done;
 *  - the parent, when freeable, subtracts (spawned - joined_self) from
 *    kids_done: if that brings it to 0 all children are gone and the parent
 *    is freed now; otherwise the child whose add brings it to 0 (it sees -1)
 *    frees the parent. Both sides use acq_rel RMWs on one word, so exactly
 *    one of them sees the final value.
 */
void crew__task_free(struct crew *ex, crew__task_t *t)
{
    crew__pool_cache_t *cache = crew__cache_of(crew__self_worker(ex));
    bool kids_settled = false; /* true when we got here as the last child */
    for (;;) {
        uint32_t pending = crew__rec_children_unjoined(t);
        crew__task_t *parent = t->parent;
        uint8_t flags = t->flags;
        if (pending && !kids_settled) {
            /* acq_rel: pairs with the children's fetch_add below. */
            int32_t old =
                atomic_fetch_sub_explicit(&t->kids_done, (int32_t)pending, memory_order_acq_rel);
            if (old != (int32_t)pending)
                return; /* the last child to go frees us */
        }
        /* We own the record: REQ is sticky and nobody else writes it. */
        if (crew__word_req(crew__rec_load(t)) || (t->flags & TF_SCOPE))
            crew__scope_drop(ex); /* no descendant is alive to need it */
        if (t->flags & TF_PGROUP_REF)
            crew__group_unref(parent->group);
        if (t->flags & TF_GROUP_REF)
            crew__group_unref(t->group);
        CREW__OBS_RECLAIM(ex, t); /* recent tasks (stats.h) */
        if (CREW_UNLIKELY(crew__word_batch(crew__rec_peek(t))))
            batch_unref(ex, ((crew__carrier_t *)t->owner)->blk);
        crew__pool_recycle(&ex->pool, cache, t);
        if (!parent)
            return;
        if (crew__tls_task == parent && !(flags & TF_FRAME)) {
            crew__rec_child_joined(parent); /* we are the parent's own thread */
            return;
        }
        /* acq_rel: pairs with the parent's fetch_sub above (and with the
         * promotion's, for a stolen fork). */
        if (atomic_fetch_add_explicit(&parent->kids_done, 1, memory_order_acq_rel) != -1)
            return;
        t = parent;
        kids_settled = true;
    }
}

/* Before a terminal CAS: a task whose handle is still held keeps its
 * group's memory alive until the record is freed, so inspecting or
 * cancelling it later may touch the group. Taken before the member count
 * drops, so the group is alive here. If the handle is released between
 * this check and the CAS, the free drops the reference: still exact. */
static void hold_group(crew__task_t *t, uint32_t s)
{
    if (t->group && !crew__word_released(s) && !(t->flags & TF_GROUP_REF)) {
        t->flags |= TF_GROUP_REF;
        crew__group_ref(t->group);
    }
}

static void task_wake(struct crew *ex, crew__task_t *t)
{
    /* Harmless even if the record was recycled meanwhile: a futex wake on
     * type-stable memory is at worst a spurious wake-up. */
    crew__futex_wake(&t->state, INT_MAX);
    crew__park_notify_all(&ex->park); /* helping waiters park on the epoch */
}

/* After the terminal word: tell the group (and cancel it if it is a
 * fail-fast group and this was its first failure). */
static void group_member_ended(struct crew *ex, struct crew_group *g, crew_id_t id, int rc,
                               crew_status_t ph, bool removed)
{
    switch (crew__group_member_ended(g, id, rc, ph, removed)) {
    case CREW__GM_FAIL_FAST:
        crew__group_cancel(ex, g, rc, "sibling failed", CREW_CAUSE_GROUP);
        break;
    case CREW__GM_FIRST_SUCCESS:
        crew__group_cancel(ex, g, 0, "sibling succeeded", CREW_CAUSE_GROUP);
        break;
    case CREW__GM_NONE:
        break;
    }
    crew__group_done(ex, g, 1);
}

int crew__group_cancel(struct crew *ex, struct crew_group *g, int code, const char *reason,
                       uint8_t cause)
{
    int rc;
    crew__cset_lock(&ex->cset);
    rc = crew__group_mark_cancelled_locked(ex, g, code, reason, cause);
    crew__cset_unlock(&ex->cset);
    if (rc == 0) {
        crew__sweep(ex);
        crew__reach_running(ex); /* callbacks and interruptible regions */
    }
    /* Helping waiters that are members (or descendants) must re-check. */
    crew__park_notify_all(&ex->park);
    return rc;
}

/* Batch carriers: remove every task of c not claimed yet (c's block is
 * held by the caller): the cleanups run and the group stops counting them.
 * Returns how many; the caller books them after its last use of the
 * block. */
static uint32_t carrier_drop(struct crew *ex, crew__carrier_t *c)
{
    crew__batch_t *b = c->blk;
    /* relaxed: the claim word only decides who owns which index (the
     * runner's fetch_add or this exchange); the arguments were published
     * with the records. */
    uint32_t k = atomic_exchange_explicit(&c->next, c->n, memory_order_relaxed), m;
    if (k >= c->n)
        return 0;
    m = c->n - k;
    if (b->cleanup)
        for (uint32_t i = k; i < c->n; i++)
            b->cleanup(c->args[i]);
    if (b->group) { /* alive: the block holds a reference */
        crew__group_removed(b->group, m);
        crew__group_done(ex, b->group, m);
    }
    return m;
}

static void book_dropped(struct crew *ex, crew__worker_t *w, uint64_t m)
{
    CREW__COUNT(ex, w, removed, m);
    CREW__BOOK(ex, w, cancelled, m);
    CREW__BOOK(ex, w, dequeued, m); /* a carried task's slot is its own */
}

struct sweep {
    struct crew *ex;
    uint64_t removed;
    _Atomic(void *) *hz; /* our hazard slot (worker's, or a claimed hz_ext) */
    void *hz_idle;       /* its value when we read no group */
};

#define HZ_CLAIMED ((void *)1)

static bool sweep_one(crew__task_t *t, void *ctx)
{
    struct sweep *sw = ctx;
    crew__cause_t why;
    char reason[CREW_REASON_MAX];
    bool in_scope = false;
    uint32_t s = crew__rec_peek(t);
    if (!crew__word_queued(s) && !crew__word_removing(s))
        return true;
    if (!crew__rec_pin(t, true)) /* detached records are RELEASED */
        return true;
    /* The pin's acquire makes parent/group (published before QUEUED)
     * readable; remove re-checks QUEUED under the set mutex. The group
     * itself may go once a concurrent removal of t ends: announce it in
     * our hazard slot first, then look again (as task_start does). */
    if (t->group) {
        /* relaxed: ordered by the fence (pairs with crew__group_unref's). */
        atomic_store_explicit(sw->hz, (void *)t->group, memory_order_relaxed);
        CREW_FENCE_SEQ_CST();
    }
    s = crew__rec_load(t);
    if (crew__word_queued(s) || crew__word_removing(s)) {
        in_scope = crew__inherited_cancel(sw->ex, t, &why);
        if (in_scope && why.reason) { /* it may point into the group */
            crew__copy_reason(reason, why.reason);
            why.reason = reason;
        }
    }
    if (t->group) /* release: our reads of the group are done */
        atomic_store_explicit(sw->hz, sw->hz_idle, memory_order_release);
    if (in_scope) {
        if (crew__word_queued(s) && crew__task_remove(sw->ex, t, CREW_TASK_CANCELLED, &why, false))
            sw->removed++;
        else
            /* Someone else (a popper, a canceller, its own submitter) is
             * removing it and runs the cleanup: as crew__task_cancel does,
             * return only once it is terminal, so that no task of the scope
             * still shows QUEUED when the cancel returns. */
            while (crew__word_removing(crew__rec_load(t)))
                sched_yield();
    }
    crew__task_put(sw->ex, t);
    return true;
}

/* Batch carriers, step 5: the tasks no runner claimed yet, of every block
 * whose scope (its group, or a cancel shutdown) is cancelled, go now. The
 * list's mutex is held while walking, and dropped around each block's
 * cleanups (user code); a reference keeps that block listed meanwhile, so
 * the walk goes on from it. */
static uint64_t sweep_batches(struct crew *ex, crew__worker_t *w)
{
    crew__batch_t *b, *gone = NULL;
    uint64_t removed = 0;
    const char *reason;
    int code;
    /* relaxed: mode only grows; our caller's fence ordered it. */
    bool all = atomic_load_explicit(&ex->mode, memory_order_relaxed) == CREW__MODE_CANCEL;
    pthread_mutex_lock(&ex->batches_mu);
    for (b = ex->batches; b;) {
        crew__batch_t *nb;
        /* relaxed: the CAS validates; the unrefs order. At 0 the block's
         * last record is gone (everything claimed) and its last unref is
         * on its way to unlist it: leave it alone. */
        uint32_t r = atomic_load_explicit(&b->refs, memory_order_relaxed);
        /* relaxed: the sweep an expiry owes runs on the expiring thread
         * after its store; other sweeps may take the block or not. */
        if (!all && !atomic_load_explicit(&b->expired, memory_order_relaxed) &&
            !(b->group && crew__group_chain_cancelled(b->group, &code, &reason, NULL))) {
            b = b->next;
            continue;
        }
        while (r && !atomic_compare_exchange_weak_explicit(
                        &b->refs, &r, r + 1, memory_order_relaxed, memory_order_relaxed))
            ;
        if (!r) {
            b = b->next;
            continue;
        }
        pthread_mutex_unlock(&ex->batches_mu);
        for (uint32_t i = 0; i < b->ncar; i++)
            removed += carrier_drop(ex, &b->car[i]);
        pthread_mutex_lock(&ex->batches_mu);
        nb = b->next; /* still listed: our reference */
        /* acq_rel: as in batch_unref. */
        if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) {
            unlist_locked(ex, b);
            b->swept = gone; /* freed below, outside the mutex */
            gone = b;
        }
        b = nb;
    }
    pthread_mutex_unlock(&ex->batches_mu);
    while ((b = gone) != NULL) {
        gone = b->swept;
        batch_free(ex, b);
    }
    if (removed) { /* booked after our last use of the blocks */
        book_dropped(ex, w, removed);
        if (!w)
            crew__notify_quiesce(ex);
    }
    return removed;
}

uint64_t crew__sweep(struct crew *ex)
{
    struct sweep sw = {ex, 0, NULL, NULL};
    /* Heavy fence (platform.h): pairs with the light one in
     * crew__submit_prepare between a record's publication and its
     * born-cancelled check. Our caller made its cancellation visible
     * before this point; without the pair, a concurrent submission could
     * miss the cancellation while this walk misses the record, leaving a
     * cancelled task QUEUED after the cancel returned. */
    crew__fence_heavy();
    {
        crew__worker_t *w = crew__self_worker(ex);
        unsigned i = 0;
        if (w) {
            sw.hz = &w->hazard_group;
            sw.hz_idle = NULL;
        } else { /* claim a free outside slot (16: wait if all are busy) */
            for (;; i = (i + 1) % 16) {
                void *free_slot = NULL;
                /* acquire: the slot's previous holder is done with it. */
                if (atomic_compare_exchange_weak_explicit(&ex->hz_ext[i], &free_slot, HZ_CLAIMED,
                                                          memory_order_acquire,
                                                          memory_order_relaxed))
                    break;
                if (i == 15)
                    sched_yield();
            }
            sw.hz = &ex->hz_ext[i];
            sw.hz_idle = HZ_CLAIMED;
        }
        crew__pool_walk(&ex->pool, sweep_one, &sw);
        sw.removed += sweep_batches(ex, w);
        if (!w) /* release: handed back */
            atomic_store_explicit(sw.hz, NULL, memory_order_release);
    }
    return sw.removed;
}

/* A stolen fork reached its terminal status: tell its frame (the forking
 * task waits for DONE in crew_sync), waking it if it may sleep. */
static void frame_signal(struct crew *ex, crew__frame_t *f, crew_status_t st, int rc)
{
    f->status = (int32_t)st;
    f->result = rc;
    /* acq_rel: release publishes status (and the child's effects) to the
     * owner's acquire load of DONE; acquire pairs with its WAITER CAS. */
    if (atomic_exchange_explicit(&f->state, CREW__FRAME_DONE, memory_order_acq_rel) &
        CREW__FRAME_WAITER)
        crew__park_notify_all(&ex->park);
}

void crew__frame_promote(struct crew *ex, crew__worker_t *w, crew__task_t *t, crew__frame_t *f)
{
    crew__task_t *parent = f->parent;
    /* arg may point into the frame's payload: valid until DONE. No group
     * of its own: it is reached through its parent's groups. */
    crew__rec_fill(t, f->fn, f->arg, NULL, parent, NULL, 0, TF_FRAME, f);
    /* The parent's record must outlive this one (descendants walk the
     * chain), but only the parent's thread writes `spawned`: count this
     * child in `adopted` instead (the parent/child protocol adds it to the
     * children to wait for). relaxed: the parent reads it only after it saw
     * this frame DONE (acquire), which comes after this. */
    atomic_fetch_add_explicit(&parent->adopted, 1, memory_order_relaxed);
    CREW__BOOK(ex, w, created, 1);
    crew__rec_publish(t, false, false);
}

/* A queued task leaves the queue (started or removed): give back the
 * slots it held in its executor's (or actor's) and its group's bound. */
static CREW_NOINLINE void admit_release(struct crew *ex, crew__task_t *t)
{
    if (t->flags & TF_LIMITED)
        crew__limit_put((t->flags & TF_ACTOR) ? (crew__limit_t *)t->owner : &ex->limit, 1);
    if (t->flags & TF_GLIMITED)
        crew__limit_put(&t->group->glimit, 1); /* a live member: the group is alive */
}

/* After QUEUED -> REMOVING was won: run the cleanup, then make it terminal. */
static void end_removed(struct crew *ex, crew__task_t *t, crew_status_t phase)
{
    crew__worker_t *w = crew__self_worker(ex);
    struct crew_group *g = t->group;
    /* relaxed: read while we still own the record (before its terminal CAS). */
    crew_id_t id = atomic_load_explicit(&t->id, memory_order_relaxed);
    crew__frame_t *frame = (t->flags & TF_FRAME) ? t->owner : NULL;
    /* relaxed: our REMOVING word (BATCH is fixed from publish). */
    crew__carrier_t *car = crew__rec_carrier(t, crew__rec_peek(t));
    uint32_t s, n, dropped = 0;
    if (CREW_UNLIKELY(crew__timer_task_maybe(&ex->timer, id)))
        (void)crew__disarm_task(ex, w, id);
    CREW__OBS(ex, w, CREW__EV_REMOVE, id, 0);
    if (CREW_UNLIKELY(t->flags & (TF_LIMITED | TF_GLIMITED)))
        admit_release(ex, t);
    if (t->cleanup)
        t->cleanup(t->arg);
    if (CREW_UNLIKELY(car)) { /* its other tasks go with it */
        dropped = carrier_drop(ex, car);
        carrier_ended(ex, car->blk);
    }
    /* relaxed: validated by the CAS in end_removed. */
    s = atomic_load_explicit(&t->state, memory_order_relaxed);
    hold_group(t, s);
    n = crew__rec_end_removed(t, &s, phase);
    if (g)
        group_member_ended(ex, g, id, 0, phase, true);
    if (frame)
        frame_signal(ex, frame, phase, 0);
    if (crew__word_waiters(s))
        task_wake(ex, t);
    if (crew__freeable(n))
        crew__task_free(ex, t);
    /* Counted last: shutdown's quiescence (created == finished) then
     * implies that this function is done with the record. */
    CREW__COUNT(ex, w, removed, 1);
    CREW__BOOK(ex, w, cancelled, 1);
    if (CREW_UNLIKELY(dropped))
        book_dropped(ex, w, dropped);
    if (!w)
        crew__notify_quiesce(ex);
}

static void write_cause(crew__task_t *t, const crew__cause_t *why)
{
    t->cause = why->cause;
    t->cancel_code = why->code;
    crew__copy_reason(t->reason, why->reason);
}

bool crew__task_remove(struct crew *ex, crew__task_t *t, crew_status_t phase,
                       const crew__cause_t *why, bool holds_queue)
{
    crew__worker_t *w = crew__self_worker(ex);
    bool won = false;
    uint32_t s;
    crew__cset_lock(&ex->cset);
    s = crew__rec_load(t);
    while (crew__word_queued(s)) {
        write_cause(t, why); /* before the CAS that publishes it */
        if (crew__rec_try_remove(t, &s, holds_queue)) {
            won = true;
            break;
        }
    }
    crew__cset_unlock(&ex->cset);
    if (won)
        end_removed(ex, t, phase);
    else if (holds_queue && crew__rec_drop_queue(t))
        crew__task_free(ex, t); /* removed before by a canceller */
    if (holds_queue)            /* the slot is consumed, after the last use of t */
        CREW__BOOK(ex, w, dequeued, 1);
    return won;
}

int crew__task_cancel(struct crew *ex, crew__task_t *t, int code, const char *reason, uint8_t cause)
{
    crew__worker_t *w = crew__self_worker(ex);
    crew__cause_t why = {cause, code, reason};
    bool inserted = false;
    uint32_t s;
    crew__cset_lock(&ex->cset);
    s = crew__rec_load(t);
    for (;;) {
        if (crew__word_queued(s)) {
            write_cause(t, &why);
            if (crew__rec_try_remove(t, &s, false)) { /* step 1 */
                crew__cset_unlock(&ex->cset);
                end_removed(ex, t, CREW_TASK_CANCELLED);
                return CREW_REMOVED;
            }
            continue;
        }
        if (crew__status_of(s) == CREW_TASK_RUNNING && !crew__word_removing(s)) {
            crew__req_t r;
            if (!inserted && !crew__word_req(s)) {
                /* The cause goes in before the set entry: a body that sees
                 * the entry may publish REQ itself (step 3), and whoever
                 * sees REQ reads the cause. */
                write_cause(t, &why);
                crew__obs_cancel_req(ex, w, t);          /* cancel latency starts */
                if (!crew__cancel_enter_locked(ex, t)) { /* step 2 */
                    crew__cset_unlock(&ex->cset);
                    return CREW_ENOMEM;
                }
                inserted = true;
                /* relaxed: we hold a pin; the ID cannot change. */
                CREW__PAUSE(CREW__PAUSE_CANCEL_INSERTED,
                            atomic_load_explicit(&t->id, memory_order_relaxed));
            }
            r = crew__rec_set_req(t, &s);
            if (r == CREW__REQ_RETRY)
                continue;
            if (r == CREW__REQ_SET || r == CREW__REQ_ALREADY) {
                /* ALREADY: by an earlier canceller (then we did not
                 * insert), or by the body after seeing our entry (then the
                 * entry and the scope are ours and stay, as if our CAS had
                 * set REQ). */
                crew__cset_unlock(&ex->cset);
                if (inserted) {
                    /* Its queued descendants go now (eager removal); ones
                     * spawned concurrently with this call are caught when
                     * it finishes (finish()). */
                    if (crew__rec_has_live_children(t))
                        crew__sweep(ex);
                    /* a helping waiter parked on the epoch re-checks */
                    crew__park_notify_all(&ex->park);
                    crew__reach_running(ex); /* callbacks, interruption */
                }
                return CREW_REQUESTED;
            }
            continue; /* left RUNNING: examine again */
        }
        if (crew__word_removing(s)) {
            /* Another canceller won and is running the cleanup. Answer
             * only once the task is terminal, so "too late" always means
             * "already terminal". */
            crew__cset_unlock(&ex->cset);
            while (crew__word_removing(s = crew__rec_load(t)))
                sched_yield();
            crew__cset_lock(&ex->cset);
            continue;
        }
        /* Terminal. */
        if (inserted && crew__word_req(s)) {
            /* With REQ while our entry was in the set: the body saw it
             * (step 3). The finisher removes the ID (it waits for the set
             * mutex, which we hold); the scope goes when the record is
             * freed. */
            crew__cset_unlock(&ex->cset);
            crew__park_notify_all(&ex->park);
            return CREW_REQUESTED;
        }
        if (inserted)
            crew__cancel_withdraw_locked(ex, t);
        if (crew__status_of(s) == CREW_TASK_DONE || crew__status_of(s) == CREW_TASK_FAILED) {
            CREW__COUNT(ex, w, late_cancels, 1);
            if (t->flags & TF_GROUP_REF) /* the group's memory is alive */
                crew__group_late_cancel(t->group);
        }
        crew__cset_unlock(&ex->cset);
        return CREW_TOO_LATE;
    }
}

/* Batch carriers, step 4: t (FREE, ours) becomes the incarnation of the
 * carrier's task k; s: the ended task's word. What crew__task_free does
 * for an incarnation, without the free list. */
static CREW_ALWAYS_INLINE crew__task_t *carrier_reborn(struct crew *ex, crew__task_t *t,
                                                       crew__carrier_t *c, uint32_t k, uint32_t s)
{
    if (CREW_UNLIKELY(crew__word_req(s) || (t->flags & TF_SCOPE)))
        crew__scope_drop(ex);
    CREW__OBS_RECLAIM(ex, t);
    crew__pool_renew(t, t->home);
    t->arg = c->args[k];
    t->flags = 0; /* outside, unbounded: none of the birth flags */
    /* relaxed: no child is left to touch them; published below. */
    atomic_store_explicit(&t->spawned, 0, memory_order_relaxed);
    atomic_store_explicit(&t->joined_self, 0, memory_order_relaxed);
    atomic_store_explicit(&t->adopted, 0, memory_order_relaxed);
    atomic_store_explicit(&t->kids_done, 0, memory_order_relaxed);
    crew__rec_run_next(t);
    return t;
}

/* Batch carriers: the runner's task on t ended (s: its word before the
 * end) and index k was claimed (step 3), and the terminal CAS could not
 * make t FREE for it. Give task k an incarnation (step 4): t once the
 * runner's pin is the only hold on it, or a fresh record. Returns the
 * record to run next, or NULL when nothing was left to claim (the
 * runner's pin is then dropped). */
static CREW_NOINLINE crew__task_t *carrier_next(struct crew *ex, crew__worker_t *w, crew__task_t *t,
                                                crew__carrier_t *c, uint32_t k, uint32_t s)
{
    crew__task_t *x;
    if (k >= c->n) { /* the last one ran, or a canceller dropped the rest */
        /* relaxed: single writer. Cleared before the group hears:
         * group_done's seq_cst RMW releases the clear to crew_group_info's
         * acquire load of pending, so an info counts them live a moment
         * longer, never gone twice. */
        uint32_t m = atomic_load_explicit(&c->ended, memory_order_relaxed);
        if (m) {
            atomic_store_explicit(&c->ended, 0, memory_order_relaxed);
            crew__group_done(ex, t->group, m); /* alive: they counted */
        }
        carrier_ended(ex, c->blk); /* t keeps the block */
        if (crew__rec_unpin(t))
            crew__task_free(ex, t);
        return NULL;
    }
    for (;;) {
        /* Children of the ended task keep its incarnation (they walk
         * their parent chain): exact here, on the body's thread. */
        if (!crew__rec_has_live_children(t) && crew__rec_reborn_begin(t))
            return carrier_reborn(ex, t, c, k, s);
        if ((x = crew__pool_alloc(&ex->pool, crew__cache_of(w))) != NULL)
            break;
        sched_yield(); /* out of memory: wait for a record, or for t's holders to go */
    }
    crew__rec_fill(x, t->fn, c->args[k], t->cleanup, NULL, t->group, t->group_id, 0, c);
    /* relaxed: t holds a reference on the block until after this. */
    atomic_fetch_add_explicit(&c->blk->refs, 1, memory_order_relaxed);
    crew__rec_run_next(x);
    if (crew__rec_unpin(t))
        crew__task_free(ex, t);
    return x;
}

/* Batch carriers, step 3: one more of car's tasks ended DONE in a group
 * (taken off the group when the carrier ends). */
static inline void carrier_count_done(crew__carrier_t *car)
{
    /* relaxed: single writer, the runner; crew_group_info reads it. */
    atomic_store_explicit(&car->ended, atomic_load_explicit(&car->ended, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* The first steps of a task's end: its own deadline off the timer (if
 * timer), its cleanup, its result. */
static CREW_ALWAYS_INLINE void finish_begin(struct crew *ex, crew__worker_t *w, crew__task_t *t,
                                            int rc, bool timer)
{
    /* relaxed: read while we own the record (before its terminal CAS). */
    crew_id_t id = atomic_load_explicit(&t->id, memory_order_relaxed);
    if (timer && CREW_UNLIKELY(crew__timer_task_maybe(&ex->timer, id)))
        (void)crew__disarm_task(ex, w, id);
    if (t->cleanup)
        t->cleanup(t->arg);
    t->result = rc;
}

/* The body returned rc: cleanup, then the terminal CAS (protocol step 3).
 * car: the carrier t runs (NULL for a plain task): its runner did
 * finish_begin and claimed index k (step 3) already, and timer says to
 * look at the timer again (see carrier_run); then *next gets the record
 * of its next task, or NULL. */
static CREW_ALWAYS_INLINE crew_status_t task_finish(struct crew *ex, crew__worker_t *w,
                                                    crew__task_t *t, int rc, bool join_release,
                                                    crew__carrier_t *car, uint32_t k, bool timer,
                                                    crew__task_t **next)
{
    struct crew_group *g = t->group;
    crew__frame_t *frame = (t->flags & TF_FRAME) ? t->owner : NULL;
    /* relaxed: read while we own the record (before its terminal CAS). */
    crew_id_t id = atomic_load_explicit(&t->id, memory_order_relaxed);
    crew__cause_t why;
    crew_status_t ph;
    uint32_t s, n;
    bool kids, reborn = false;
    if (!car)
        finish_begin(ex, w, t, rc, true);
    else if (CREW_UNLIKELY(timer) && crew__timer_task_maybe(&ex->timer, id))
        (void)crew__disarm_task(ex, w, id);
    /* Only a cancelled task sweeps for its children (below); while nothing
     * is cancelled anywhere, skip the loads. exact: our own thread. */
    kids = crew__any_scope(ex) && crew__rec_has_live_children(t);
    if (crew__any_scope(ex) && crew__inherited_cancel(ex, t, &why)) {
        /* Cancelled through an ancestor, a group or shutdown: the cause
         * fields are written under the set mutex (see task.h). */
        crew__cset_lock(&ex->cset);
        /* relaxed: under the mutex no REQ can appear; the CAS validates. */
        s = atomic_load_explicit(&t->state, memory_order_relaxed);
        if (!crew__word_req(s))
            write_cause(t, &why);
        t->flags |= TF_RAN_CANCELLED;
        if (!join_release)
            hold_group(t, s);
        if (crew__rec_children_unjoined(t) && !crew__word_req(s)) {
            /* Children may still run and must keep seeing this
             * cancellation after its source is gone: count a scope until
             * this record is freed. (With REQ the record already counts
             * one, dropped when it is freed.) */
            t->flags |= TF_SCOPE;
            crew__scope_add(ex);
        }
        n = crew__rec_finish(t, &s, rc, true, join_release);
        crew__cset_unlock(&ex->cset);
    } else {
        /* relaxed: validated by the CAS. */
        s = atomic_load_explicit(&t->state, memory_order_relaxed);
        if (!join_release)
            hold_group(t, s);
        if (CREW_UNLIKELY(car) && k < car->n && !crew__rec_has_live_children(t) &&
            crew__rec_finish_reborn(t, &s, rc, &n))
            reborn = true; /* step 4, in the terminal CAS itself */
        else
            n = crew__rec_finish(t, &s, rc, false, join_release);
    }
    ph = crew__status_of(n);
    if (crew__word_req(s))
        crew__cancel_forget(ex, id); /* step 4 */
    if (crew__word_req(s))
        crew__obs_ending(ex, w, id); /* cancel latency to terminal */
    if (ph == CREW_TASK_CANCELLED && kids)
        /* Children it spawned while its cancel was under way may still be
         * queued (the canceller's sweep can miss a spawn concurrent with
         * it): they go now, before the task is seen terminal by a group
         * wait (its member count drops below). The record stays allocated:
         * live children keep it. */
        crew__sweep(ex);
    if (g) {
        /* A DONE member of a group without FIRST_SUCCESS only counts down
         * (crew__group_member_ended would return at once); a carrier's
         * task counts in its carrier, taken off the group when the carrier
         * ends (Batch carriers, step 3): one RMW on the group's line per
         * run, not per task. */
        if (CREW_LIKELY(ph == CREW_TASK_DONE && !(g->flags & CREW_GROUP_FIRST_SUCCESS))) {
            if (car)
                carrier_count_done(car);
            else if (w && !crew__tls_task) /* a top-level task (group.c) */
                crew__group_done_top(ex, w, g);
            else
                crew__group_done(ex, g, 1);
        } else {
            group_member_ended(ex, g, id, rc, ph, false);
        }
    }
    if (frame)
        frame_signal(ex, frame, ph, rc);
    if (crew__word_waiters(s))
        task_wake(ex, t);
    if (CREW_UNLIKELY(car)) /* pinned: never freeable above */
        *next = reborn ? carrier_reborn(ex, t, car, k, s) : carrier_next(ex, w, t, car, k, s);
    else if (crew__freeable(n))
        crew__task_free(ex, t);
    /* Counted last: shutdown's quiescence (created == finished) then
     * implies that this function is done with the record. */
    if (ph == CREW_TASK_DONE) {
        CREW__BOOK(ex, w, done, 1);
    } else if (ph == CREW_TASK_FAILED) {
        CREW__BOOK(ex, w, failed, 1);
    } else {
        CREW__COUNT(ex, w, cancelled_running, 1);
        CREW__BOOK(ex, w, cancelled, 1);
    }
    /* Counted last, after every use of the record (see stats.c). */
    CREW__BOOK(ex, w, dequeued, 1);
    return ph;
}

static inline bool task_start(struct crew *ex, crew__worker_t *w, crew__task_t *t)
{
    uint32_t s = crew__rec_load(t); /* acquire: we read fn/arg next */
    for (;;) {
        if (!crew__word_queued(s)) {
            /* Removed while queued: this queue slot was the last pointer. */
            if (crew__rec_drop_queue(t))
                crew__task_free(ex, t);
            CREW__BOOK(ex, w, dequeued, 1); /* after the last use of t */
            return false;
        }
        if (CREW_UNLIKELY(crew__any_scope(ex))) {
            crew__cause_t why;
            char reason[CREW_REASON_MAX];
            bool cancelled;
            /* The walk reads t's group, which a concurrent removal of t may
             * let go (its member count drops): announce it (a hazard the
             * group's free waits for, group.c), then look again that t is
             * still QUEUED. seq_cst fence: pairs with the fence in
             * crew__group_unref; without it the free could miss our
             * announcement while we miss the removal. */
            if (t->group) {
                /* relaxed: ordered by the fence. */
                atomic_store_explicit(&w->hazard_group, t->group, memory_order_relaxed);
                CREW_FENCE_SEQ_CST();
                s = crew__rec_load(t); /* acquire: as at the top */
                if (!crew__word_queued(s)) {
                    /* release: our reads of the group are done. */
                    atomic_store_explicit(&w->hazard_group, NULL, memory_order_release);
                    continue;
                }
            }
            cancelled = crew__inherited_cancel(ex, t, &why);
            if (cancelled && why.reason) { /* it may point into the group */
                crew__copy_reason(reason, why.reason);
                why.reason = reason;
            }
            /* release: our reads of the group are done. */
            atomic_store_explicit(&w->hazard_group, NULL, memory_order_release);
            if (cancelled) {
                /* We act as the canceller (step 1); we hold the queue slot,
                 * which remove consumes. */
                crew__task_remove(ex, t, CREW_TASK_CANCELLED, &why, true);
                return false;
            }
        }
        if (crew__rec_try_start(t, &s) == CREW__START_OK) {
            if (CREW_UNLIKELY(t->flags & (TF_LIMITED | TF_GLIMITED)))
                admit_release(ex, t);
            return true;
        }
    }
}

/* Run t's body as the worker's current task (prev: the task it helps
 * for, or NULL); its forks are synced before this returns. *shown is set
 * when its START event named its ID. */
static CREW_ALWAYS_INLINE int run_body(struct crew *ex, crew__worker_t *w, crew__task_t *t,
                                       crew__task_t *prev, bool *shown)
{
    crew__forks_t forks, *saved = w->fd.o.forks;
    int rc;
    crew__tls_task = t;
    w->fd.o.task = t;
    /* A stolen fork shows no ID (in_frame). */
    forks = (crew__forks_t){.base = w->fd.o.head, .in_frame = (t->flags & TF_FRAME) != 0};
    w->fd.o.forks = &forks;
    CREW__OBS_SHOWN(ex, w, CREW__EV_START, crew__obs_id(t), 0, *shown = true);
    rc = t->fn(t->arg);
    if (CREW_UNLIKELY(w->fd.o.head != forks.base))
        ex->fork_sync(ex, w); /* forks never outlive their task */
    if (CREW_UNLIKELY(forks.ncb | forks.irq_depth))
        crew__body_leftovers(ex, w, &forks);
    w->fd.o.forks = saved;
    crew__tls_task = prev;
    w->fd.o.task = prev;
    return rc;
}

/* A started carrier (Batch carriers, steps 2-4): its tasks one after
 * another, on t and the records that follow it. */
static CREW_NOINLINE void carrier_run(struct crew *ex, crew__worker_t *w, crew__task_t *t,
                                      crew__carrier_t *car)
{
    crew__task_t *prev = crew__tls_task;
    /* Every task of the carrier has its group; a FIRST_SUCCESS group
     * hears of each DONE member (step 3a). */
    bool quiet_group = !t->group || !(t->group->flags & CREW_GROUP_FIRST_SUCCESS);
    /* The incarnation running was made by this runner (step 4), not
     * published by the submitter: no event or list showed its ID. */
    bool fresh = false, irq;
    crew__rec_pin_held(t); /* step 2 */
    /* The submitter wrote the arguments on another CPU: ask for all of
     * their lines now rather than miss on every eighth task. */
    for (uint32_t i = 0; i < car->n; i += 8)
        __builtin_prefetch(&car->args[i]);
    irq = crew__irq_suspend(ex, w); /* a region of the body we help for */
    while (t) {
        crew__task_t *next = NULL;
        bool shown = false, quiet;
        int rc = run_body(ex, w, t, prev, &shown);
        uint32_t k;
        CREW__OBS_SHOWN(ex, w, CREW__EV_FINISH, crew__obs_id(t), (uint32_t)rc, shown = true);
        /* Step 3a: a task that ended DONE on a fresh incarnation nobody
         * else has seen (no event named it, no pin, no crew_self(), no
         * child, no FIRST_SUCCESS group to hear of it) ends without a
         * terminal word, and the next task takes its incarnation over
         * (task.h, quiet_next). Such an ID was never armed on the timer
         * (arming needs the ID). relaxed peek: our own record's word; the
         * decision is quiet_next's, below. */
        quiet = fresh && rc == 0 && !shown && crew__word_quiet(crew__rec_peek(t)) &&
                /* relaxed: spawned has one writer, this thread; a thief
                 * counts adopted before its fork is DONE, and the body's
                 * sync saw every fork DONE (acquire). */
                (atomic_load_explicit(&t->spawned, memory_order_relaxed) |
                 atomic_load_explicit(&t->adopted, memory_order_relaxed)) == 0 &&
                quiet_group;
        finish_begin(ex, w, t, rc, !quiet);
        /* Step 3. relaxed: see carrier_drop. */
        k = atomic_fetch_add_explicit(&car->next, 1, memory_order_relaxed);
        if (quiet && k < car->n && !crew__any_scope(ex) && crew__rec_quiet_next(t)) {
            if (t->group)
                carrier_count_done(car);
            t->arg = car->args[k]; /* read by this runner only */
            CREW__BOOK(ex, w, done, 1);
            CREW__BOOK(ex, w, dequeued, 1);
            continue;
        }
        (void)task_finish(ex, w, t, rc, false, car, k, quiet, &next);
        t = next;
        fresh = true;
    }
    if (CREW_UNLIKELY(irq))
        crew__irq_reopen(ex, w);
}

crew_status_t crew__task_run(struct crew *ex, crew__worker_t *w, crew__task_t *t, bool join_release)
{
    crew__carrier_t *car;
    crew_status_t ph;
    bool irq, shown = false;
    int rc;
    if (!task_start(ex, w, t))
        return 0;
    crew__group_flush_for(ex, w, t->group); /* deferred counts, step 3 */
    /* relaxed: our RUNNING word (BATCH is fixed from publish). */
    car = crew__rec_carrier(t, crew__rec_peek(t));
    if (CREW_UNLIKELY(car)) { /* detached: join_release is false */
        carrier_run(ex, w, t, car);
        return 0;
    }
    irq = crew__irq_suspend(ex, w); /* a region of the body we help for */
    rc = run_body(ex, w, t, crew__tls_task, &shown);
    if (CREW_UNLIKELY(irq))
        crew__irq_reopen(ex, w);
    CREW__OBS(ex, w, CREW__EV_FINISH, crew__obs_id(t), (uint32_t)rc);
    ph = task_finish(ex, w, t, rc, join_release, NULL, 0, false, NULL);
    return join_release ? ph : 0;
}

static bool drop_refs(crew__task_t *t, void *ctx)
{
    (void)ctx;
    /* relaxed: single-threaded teardown. */
    if (crew__word_free(atomic_load_explicit(&t->state, memory_order_relaxed)))
        return true;
    if (t->flags & TF_PGROUP_REF)
        crew__group_unref(t->parent->group);
    if (t->flags & TF_GROUP_REF)
        crew__group_unref(t->group);
    t->flags &= (uint8_t) ~(TF_PGROUP_REF | TF_GROUP_REF);
    return true;
}

void crew__drop_group_refs(struct crew *ex)
{
    /* Workers are stopped: every record not FREE is terminal and owned by a
     * handle never released (or pointed at by such a record). Drop the
     * group references they hold, as crew__task_free would. */
    crew__pool_walk(&ex->pool, drop_refs, NULL);
}
