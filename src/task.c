/*
 * task.c - the task state machine (see the diagram in task.h).
 *
 * Cancel vs start, the protocol that makes "removed" and "requested" exact:
 *  1. A worker that pops a record CASes QUEUED -> RUNNING. A canceller CASes
 *     QUEUED -> REMOVING. Both compare against the same QUEUED word, so
 *     exactly one wins: "removed and ran" is impossible.
 *  2. A canceller that finds RUNNING without REQ first inserts the ID into
 *     the cancellation set and counts a cancel scope, then CASes REQ in.
 *     Only then does it return CREW_REQUESTED, so every later check (a set
 *     lookup after the scope count is seen) reports cancellation.
 *  3. A body's check that finds its ID in the set sets REQ itself (the
 *     canceller may not have yet). The finisher's terminal CAS replaces a
 *     word that either has REQ (then the phase is CANCELLED) or not. In the
 *     second case no check of the body saw the request, and the canceller's
 *     CAS of REQ fails on the terminal word: it answers CREW_TOO_LATE. A
 *     canceller that finds the word terminal *with* REQ knows the body saw
 *     its entry: it answers CREW_REQUESTED. So "requested and DONE", and
 *     "the body saw a cancel but ended DONE", are impossible (the second
 *     was found by tools/stress).
 *  4. The finisher removes the ID from the set after its terminal CAS, so
 *     the set holds only live cancelled tasks.
 * The model tools/model/task_state.pml checks these steps exhaustively.
 *
 * Record lifetime: see crew__task_free() for the parent/child protocol.
 */
#include <limits.h>
#include <sched.h>
#include <string.h>

#include "fault.h"
#include "internal.h"

crew__task_t *crew__task_get(struct crew *ex, crew_id_t id, bool allow_released)
{
    crew__task_t *t = crew__slot_record(ex, id);
    uint32_t s;
    if (!t)
        return NULL;
    /* relaxed: validated by the CAS below. */
    s = atomic_load_explicit(&t->state, memory_order_relaxed);
    do {
        if (crew__phase(s) == T_FREE || crew__freeable(s))
            return NULL; /* nobody may revive a record being freed */
        if (!allow_released && (s & T_RELEASED))
            return NULL;
        /* acquire: pairs with the release store of the state at submission
         * (and the RMWs after it), so the fields and `id` we read next are
         * those of the incarnation we pinned. */
    } while (!atomic_compare_exchange_weak_explicit(
        &t->state, &s, s + T_REF_ONE, memory_order_acquire, memory_order_relaxed));
    /* relaxed: ordered by the acquire CAS above. */
    if (atomic_load_explicit(&t->id, memory_order_relaxed) != id) {
        crew__task_unref(ex, t);
        return NULL;
    }
    return t;
}

void crew__task_unref(struct crew *ex, crew__task_t *t)
{
    /* acq_rel: release our reads of the record to whoever frees it; acquire
     * their writes if we are the one freeing. */
    uint32_t old = atomic_fetch_sub_explicit(&t->state, T_REF_ONE,
                                             memory_order_acq_rel);
    if (crew__freeable(old - T_REF_ONE))
        crew__task_free(ex, t);
}

int crew__task_release(struct crew *ex, crew__task_t *t)
{
    /* acq_rel: as in unref. */
    uint32_t old = atomic_fetch_or_explicit(&t->state, T_RELEASED,
                                            memory_order_acq_rel);
    if (old & T_RELEASED)
        return CREW_ENOTASK;
    if (crew__freeable(old | T_RELEASED))
        crew__task_free(ex, t);
    return 0;
}

bool crew__task_wait_done(crew__task_t *t, crew_status_t *st)
{
    /* acquire: pairs with the terminal CAS; we then read the result. */
    uint32_t s = atomic_load_explicit(&t->state, memory_order_acquire);
    if (!crew__terminal(s))
        return false;
    if (st)
        *st = (crew_status_t)crew__phase(s);
    return true;
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
    bool kids_settled = false; /* true when we got here as the last child */
    for (;;) {
        uint32_t pending = t->spawned - t->joined_self;
        crew__task_t *parent = t->parent;
        uint32_t s;
        if (pending && !kids_settled) {
            /* acq_rel: pairs with the children's fetch_add below. */
            int32_t old = atomic_fetch_sub_explicit(&t->kids_done, (int32_t)pending,
                                                    memory_order_acq_rel);
            if (old != (int32_t)pending)
                return; /* the last child to go frees us */
        }
        /* relaxed: we own the record; REQ is sticky. */
        s = atomic_load_explicit(&t->state, memory_order_relaxed);
        if ((s & T_REQ) || (t->flags & TF_SCOPE))
            /* relaxed: no descendant is alive to need this scope any more. */
            atomic_fetch_sub_explicit(&ex->cancel_scopes, 1, memory_order_relaxed);
        if (t->flags & TF_PGROUP_REF)
            crew__group_unref(parent->group);
        if (t->flags & TF_GROUP_REF)
            crew__group_unref(t->group);
        crew__task_recycle(ex, t);
        if (!parent)
            return;
        if (crew__tls_task == parent) {
            parent->joined_self++; /* we are the parent's own thread */
            return;
        }
        /* acq_rel: pairs with the parent's fetch_sub above. */
        if (atomic_fetch_add_explicit(&parent->kids_done, 1,
                                      memory_order_acq_rel) != -1)
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
    if (t->group && !(s & T_RELEASED) && !(t->flags & TF_GROUP_REF)) {
        t->flags |= TF_GROUP_REF;
        crew__group_ref(t->group);
    }
}

static void wake_waiters(struct crew *ex, crew__task_t *t)
{
    /* Harmless even if the record was recycled meanwhile: a futex wake on
     * type-stable memory is at worst a spurious wake-up. */
    crew__futex_wake(&t->state, INT_MAX);
    crew__park_notify_all(&ex->park); /* helping waiters park on the epoch */
}

/* After a canceller (or the popper, or a born-cancelled spawn) won
 * QUEUED -> REMOVING: run the cleanup, then make it terminal. */
void crew__task_finish_removed(struct crew *ex, crew__task_t *t, uint32_t phase)
{
    crew__worker_t *w = crew__self_worker(ex);
    struct crew_group *g = t->group;
    /* relaxed: read while we still own the record (before its terminal CAS). */
    crew_id_t id = atomic_load_explicit(&t->id, memory_order_relaxed);
    uint32_t s, n;
    if (t->cleanup)
        t->cleanup(t->arg);
    /* relaxed: validated by the CAS. */
    s = atomic_load_explicit(&t->state, memory_order_relaxed);
    hold_group(t, s);
    do
        n = (s & ~T_PHASE) | phase;
    /* acq_rel: release publishes cleanup's effects and the cause fields to
     * waiters (acquire loads of a terminal word); acquire so that if we
     * free the record we see all earlier writes. */
    while (!atomic_compare_exchange_weak_explicit(&t->state, &s, n,
                                                  memory_order_acq_rel,
                                                  memory_order_relaxed));
    if (g)
        crew__group_member_done(ex, g, id, 0, phase, true);
    if (s & T_WAITERS)
        wake_waiters(ex, t);
    if (crew__freeable(n))
        crew__task_free(ex, t);
    /* Counted last: shutdown's quiescence (created == finished) then
     * implies that this function is done with the record. */
    CREW__COUNT(ex, w, removed, 1);
    CREW__COUNT(ex, w, cancelled, 1);
    if (!w)
        crew__notify_quiesce(ex);
}

static void write_cause(crew__task_t *t, uint8_t cause, int code,
                        const char *reason)
{
    t->cause = cause;
    t->cancel_code = code;
    crew__copy_reason(t->reason, reason);
}

int crew__task_cancel(struct crew *ex, crew__task_t *t, int code,
                      const char *reason, uint8_t cause)
{
    crew__worker_t *w = crew__self_worker(ex);
    bool inserted = false;
    uint32_t s;
    pthread_mutex_lock(&ex->cset.mu);
    /* acquire: we may read fields published with this word. */
    s = atomic_load_explicit(&t->state, memory_order_acquire);
    for (;;) {
        uint32_t ph = crew__phase(s);
        if (ph == T_QUEUED) {
            write_cause(t, cause, code, reason);
            /* acq_rel: step 1 of the protocol; the winner against start. */
            if (atomic_compare_exchange_weak_explicit(
                    &t->state, &s, (s & ~T_PHASE) | T_REMOVING,
                    memory_order_acq_rel, memory_order_acquire)) {
                pthread_mutex_unlock(&ex->cset.mu);
                crew__task_finish_removed(ex, t, T_CANCELLED);
                return CREW_REMOVED;
            }
            continue;
        }
        if (ph == T_RUNNING) {
            if (s & T_REQ)
                break; /* already requested: idempotent */
            if (!inserted) {
                /* relaxed: we hold a reference; the ID cannot change. */
                crew_id_t id = atomic_load_explicit(&t->id, memory_order_relaxed);
                /* The cause goes in before the set entry: a body that sees
                 * the entry may publish REQ itself (step 3), and whoever
                 * sees REQ reads the cause (TSan found the other order). */
                write_cause(t, cause, code, reason);
                if (!crew__cset_insert(ex, id)) {
                    pthread_mutex_unlock(&ex->cset.mu);
                    return CREW_ENOMEM;
                }
                /* seq_cst: step 2; the scope count is visible before REQ
                 * and before we return, so a later check leaves the fast
                 * path. Paired with the relaxed load in crew_cancelled()
                 * through the caller's happens-before edge. */
                atomic_fetch_add_explicit(&ex->cancel_scopes, 1, memory_order_seq_cst);
                inserted = true;
                CREW__PAUSE(CREW__PAUSE_CANCEL_INSERTED, id);
            }
            /* acq_rel: publishes the cause fields with REQ. */
            if (atomic_compare_exchange_weak_explicit(
                    &t->state, &s, s | T_REQ, memory_order_acq_rel,
                    memory_order_acquire)) {
                pthread_mutex_unlock(&ex->cset.mu);
                /* A helping waiter parked on the epoch must re-check. */
                crew__park_notify_all(&ex->park);
                return CREW_REQUESTED;
            }
            continue;
        }
        if (ph == T_REMOVING) {
            /* Another canceller won and is running the cleanup. Answer
             * only once the task is terminal, so "too late" always means
             * "already terminal" (found by the spin model review). */
            pthread_mutex_unlock(&ex->cset.mu);
            /* acquire: pairs with the remover's terminal CAS. */
            while (crew__phase(s = atomic_load_explicit(&t->state, memory_order_acquire)) ==
                   T_REMOVING)
                sched_yield();
            pthread_mutex_lock(&ex->cset.mu);
            continue;
        }
        if (inserted && (s & T_REQ)) {
            /* Terminal with REQ while our entry was in the set: the body
             * saw it (step 3). The finisher removes the ID (it waits for
             * cset.mu, which we hold); the scope goes when the record is
             * freed. */
            pthread_mutex_unlock(&ex->cset.mu);
            crew__park_notify_all(&ex->park);
            return CREW_REQUESTED;
        }
        /* Terminal: too late. */
        if (inserted) {
            /* relaxed: we hold a reference; the scope count is undone under cset.mu. */
            crew__cset_remove(ex, atomic_load_explicit(&t->id, memory_order_relaxed));
            atomic_fetch_sub_explicit(&ex->cancel_scopes, 1, memory_order_relaxed);
            inserted = false;
        }
        if (ph == T_DONE || ph == T_FAILED) {
            CREW__COUNT(ex, w, late_cancels, 1);
            if (t->flags & TF_GROUP_REF) /* the group's memory is alive */
                /* relaxed: a statistic. */
                atomic_fetch_add_explicit(&t->group->late_cancels, 1,
                                          memory_order_relaxed);
        }
        pthread_mutex_unlock(&ex->cset.mu);
        return CREW_TOO_LATE;
    }
    /* RUNNING with REQ already set: by an earlier canceller (then we did
     * not insert), or by the body after seeing our entry (then the entry
     * and the scope are ours and stay, as if our CAS had set REQ). */
    pthread_mutex_unlock(&ex->cset.mu);
    if (inserted)
        crew__park_notify_all(&ex->park);
    return CREW_REQUESTED;
}

/* Body returned rc: cleanup, then the terminal CAS (protocol step 3). */
static uint32_t finish(struct crew *ex, crew__worker_t *w, crew__task_t *t,
                       int rc, bool join_release)
{
    struct crew_group *g = t->group;
    /* relaxed: read while we own the record (before its terminal CAS). */
    crew_id_t id = atomic_load_explicit(&t->id, memory_order_relaxed);
    uint32_t extra = join_release ? T_RELEASED : 0;
    uint32_t s, n, ph;
    uint8_t cause = 0;
    int code = 0;
    const char *reason = NULL;
    if (t->cleanup)
        t->cleanup(t->arg);
    t->result = rc;
    /* relaxed: the fast path; see crew_cancelled(). */
    if (atomic_load_explicit(&ex->cancel_scopes, memory_order_relaxed) != 0 &&
        crew__inherited_cancel(ex, t, &cause, &code, &reason)) {
        /* Cancelled through an ancestor, a group or shutdown: the cause
         * fields are written under the set mutex (see task.h). */
        pthread_mutex_lock(&ex->cset.mu);
        /* relaxed: under cset.mu no REQ can appear; the CAS validates the rest. */
        s = atomic_load_explicit(&t->state, memory_order_relaxed);
        if (!(s & T_REQ))
            write_cause(t, cause, code, reason);
        t->flags |= TF_RAN_CANCELLED;
        if (!join_release)
            hold_group(t, s);
        if (t->spawned != t->joined_self && !(s & T_REQ)) {
            /* (With REQ the record already counts one scope, dropped when
             * it is freed; a second would never be given back.) */
            /* Children may still run and must keep seeing this
             * cancellation after the source is gone: count a scope until
             * this record is freed. */
            t->flags |= TF_SCOPE;
            atomic_fetch_add_explicit(&ex->cancel_scopes, 1, memory_order_seq_cst);
        }
        do
            n = (s & ~T_PHASE) | T_CANCELLED | extra;
        /* acq_rel: as below. */
        while (!atomic_compare_exchange_weak_explicit(&t->state, &s, n,
                                                      memory_order_acq_rel,
                                                      memory_order_relaxed));
        pthread_mutex_unlock(&ex->cset.mu);
        ph = T_CANCELLED;
    } else {
        /* relaxed: under cset.mu no REQ can appear; the CAS validates the rest. */
        s = atomic_load_explicit(&t->state, memory_order_relaxed);
        if (!join_release)
            hold_group(t, s);
        do {
            ph = (s & T_REQ) ? T_CANCELLED : rc ? T_FAILED : T_DONE;
            n = (s & ~T_PHASE) | ph | extra;
            /* acq_rel: release publishes result and the body's effects to
             * waiters; acquire pairs with a canceller's REQ CAS (its cause
             * fields) and with whoever else touched the word. */
        } while (!atomic_compare_exchange_weak_explicit(&t->state, &s, n,
                                                        memory_order_acq_rel,
                                                        memory_order_relaxed));
    }
    if (s & T_REQ) {
        pthread_mutex_lock(&ex->cset.mu);
        crew__cset_remove(ex, id); /* step 4 */
        pthread_mutex_unlock(&ex->cset.mu);
    }
    if (g)
        crew__group_member_done(ex, g, id, rc, ph, false);
    if (s & T_WAITERS)
        wake_waiters(ex, t);
    if (crew__freeable(n))
        crew__task_free(ex, t);
    /* Counted last: shutdown's quiescence (created == finished) then
     * implies that this function is done with the record. */
    if (ph == T_DONE)
        CREW__COUNT(ex, w, done, 1);
    else if (ph == T_FAILED)
        CREW__COUNT(ex, w, failed, 1);
    else {
        CREW__COUNT(ex, w, cancelled_running, 1);
        CREW__COUNT(ex, w, cancelled, 1);
    }
    return ph;
}

/*
 * A worker popped t from a queue. Start it (or drop it if it was removed
 * meanwhile, or remove it now if an ancestor or group was cancelled).
 * Returns the terminal phase if join_release consumed the caller's handle,
 * 0 otherwise.
 */
static uint32_t dequeued(struct crew *ex, crew__worker_t *w, crew__task_t *t,
                         bool join_release);

uint32_t crew__task_dequeued(struct crew *ex, crew__worker_t *w, crew__task_t *t,
                             bool join_release)
{
    uint32_t ph = dequeued(ex, w, t, join_release);
    /* Counted last, after every use of the record (see crew__live_tasks). */
    CREW__COUNT(ex, w, dequeued, 1);
    return ph;
}

static uint32_t dequeued(struct crew *ex, crew__worker_t *w, crew__task_t *t,
                         bool join_release)
{
    crew__task_t *prev;
    uint32_t s;
    int rc;
    /* acquire: pairs with the publication; we read fn/arg next. */
    s = atomic_load_explicit(&t->state, memory_order_acquire);
    for (;;) {
        if (crew__phase(s) != T_QUEUED) {
            /* Removed while queued: this queue slot was the last pointer. */
            uint32_t old = atomic_fetch_and_explicit(&t->state, ~(uint32_t)T_INQUEUE,
                                                     memory_order_acq_rel);
            if (crew__freeable(old & ~(uint32_t)T_INQUEUE))
                crew__task_free(ex, t);
            return 0;
        }
        /* relaxed: the fast path; see crew_cancelled(). */
        if (CREW_UNLIKELY(atomic_load_explicit(&ex->cancel_scopes,
                                               memory_order_relaxed) != 0)) {
            uint8_t cause;
            int code;
            const char *reason;
            if (crew__inherited_cancel(ex, t, &cause, &code, &reason)) {
                pthread_mutex_lock(&ex->cset.mu);
                /* acquire: re-read under cset.mu; pairs with a canceller's CAS. */
                s = atomic_load_explicit(&t->state, memory_order_acquire);
                if (crew__phase(s) == T_QUEUED) {
                    write_cause(t, cause, code, reason);
                    /* acq_rel: step 1 (we act as the canceller). */
                    while (!atomic_compare_exchange_weak_explicit(
                        &t->state, &s, (s & ~(T_PHASE | T_INQUEUE)) | T_REMOVING,
                        memory_order_acq_rel, memory_order_acquire))
                        ;
                    pthread_mutex_unlock(&ex->cset.mu);
                    crew__task_finish_removed(ex, t, T_CANCELLED);
                    return 0;
                }
                pthread_mutex_unlock(&ex->cset.mu);
                continue; /* a canceller removed it first */
            }
        }
        /* acquire: step 1, the start side. On failure s is reloaded. */
        if (atomic_compare_exchange_weak_explicit(
                &t->state, &s, (s & ~(T_PHASE | T_INQUEUE)) | T_RUNNING,
                memory_order_acquire, memory_order_acquire))
            break;
    }
    prev = crew__tls_task;
    crew__tls_task = t;
    rc = t->fn(t->arg);
    crew__tls_task = prev;
    {
        uint32_t ph = finish(ex, w, t, rc, join_release);
        return join_release ? ph : 0;
    }
}
