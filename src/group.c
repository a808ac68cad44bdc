/*
 * group.c - groups: wait for and cancel a set of tasks together.
 *
 * Membership: `pending` counts live members (a futex word). A member is
 * counted from submission until just after its terminal CAS, so "wait
 * returned" implies "every member is terminal".
 *
 * Lifetime (`refs`): the handle holds one reference; the group holds one
 * more while pending > 0 (taken by the add that moves pending 0 -> 1,
 * dropped by the member_done that moves it 1 -> 0, after waking waiters);
 * each nested group holds one on its parent; a task spawned into another
 * group than its parent's holds one on the parent's group
 * (TF_PGROUP_REF); a terminal task whose handle is still held holds one
 * (TF_GROUP_REF). crew_group_destroy drops the handle's reference; the
 * memory goes when the last reference does (at the latest in crew_destroy,
 * which drops the references of records never released).
 *
 * Waiting protocol (no lost wake-up):
 *  1. waiter: waiters += 1 (seq_cst), then read pending.
 *  2. member_done: pending -= 1 (seq_cst); if it reached 0, read waiters.
 *  Either the waiter reads 0, or member_done sees waiters > 0 and wakes the
 *  futex on `pending` (and the executor's parked workers, where helping
 *  waiters sleep).
 */
#include <limits.h>
#include <string.h>

#include "internal.h"

static bool group_ok(const crew_group_t *g)
{
    return g && g->magic == CREW__GROUP_MAGIC;
}

void crew__group_ref(crew_group_t *g)
{
    /* relaxed: taking a reference while already holding one (or while
     * pending > 0 keeps the group alive) needs no ordering. */
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
}

void crew__group_unref(crew_group_t *g)
{
    /* acq_rel: the last one out must see every other holder's writes. */
    if (atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1) {
        crew_group_t *parent = g->parent;
        struct crew *ex = g->ex;
        if (atomic_load_explicit(&g->cancelled, memory_order_relaxed)) {
            pthread_mutex_lock(&ex->cset.mu);
            crew__cset_remove(ex, g->id);
            pthread_mutex_unlock(&ex->cset.mu);
            /* relaxed: no member is left to need this scope. */
            atomic_fetch_sub_explicit(&ex->cancel_scopes, 1, memory_order_relaxed);
        }
        crew__free(g);
        if (parent)
            crew__group_unref(parent);
    }
}

void crew__group_add(crew_group_t *g, uint32_t n)
{
    /* seq_cst: pairs with member_done and the waiters' protocol. */
    if (atomic_fetch_add_explicit(&g->pending, n, memory_order_seq_cst) == 0)
        crew__group_ref(g);
    /* relaxed: a statistic. */
    atomic_fetch_add_explicit(&g->submitted, n, memory_order_relaxed);
}

void crew__group_member_done(struct crew *ex, crew_group_t *g, crew_id_t id,
                             int result, uint32_t phase, bool removed)
{
    int expect = 0;
    /* Called after the member's terminal CAS, when the caller may no
     * longer own the record: everything about the member comes in the
     * arguments (spin found the read-after-CAS race, task_state.pml
     * GROUP_READS_AFTER_CAS). relaxed for the counters: statistics, read
     * after a wait that synchronises through `pending`. */
    if (phase != T_DONE) { /* DONE is derived in crew_group_info */
        if (phase == T_FAILED) {
            uint64_t zero = 0;
            atomic_fetch_add_explicit(&g->failed, 1, memory_order_relaxed);
            /* acq_rel: one first failure. */
            if (atomic_compare_exchange_strong_explicit(
                    &g->first_failure, &zero, id, memory_order_acq_rel,
                    memory_order_relaxed)) {
                atomic_store_explicit(&g->first_failure_result, result,
                                      memory_order_relaxed);
                if (g->flags & CREW_GROUP_FAIL_FAST) {
                    pthread_mutex_lock(&ex->cset.mu);
                    crew__group_cancel_locked(ex, g, result, "sibling failed");
                    pthread_mutex_unlock(&ex->cset.mu);
                    crew__park_notify_all(&ex->park);
                }
            }
        } else {
            /* relaxed: statistics, read after a wait (pending orders them). */
            atomic_fetch_add_explicit(&g->cancelled_n, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(removed ? &g->removed : &g->cancelled_running,
                                      1, memory_order_relaxed);
        }
        /* relaxed: one winner is all we need; read after a wait. */
        atomic_compare_exchange_strong_explicit(&g->first_bad, &expect,
                                                (int)phase, memory_order_relaxed,
                                                memory_order_relaxed);
    }
    crew__group_done_n(ex, g, 1);
}

void crew__group_done_n(struct crew *ex, crew_group_t *g, uint32_t n)
{
    /* seq_cst: step 2 of the waiting protocol. */
    if (atomic_fetch_sub_explicit(&g->pending, n, memory_order_seq_cst) == n) {
        if (atomic_load_explicit(&g->waiters, memory_order_seq_cst) != 0) {
            crew__futex_wake(&g->pending, INT_MAX);
            crew__park_notify_all(&ex->park);
        }
        crew__group_unref(g);
    }
}


bool crew__group_chain_cancelled(crew_group_t *g, int *code, const char **reason)
{
    for (; g; g = g->parent) {
        /* acquire: pairs with the release store in group_cancel_locked; we
         * then read code and reason. */
        if (atomic_load_explicit(&g->cancelled, memory_order_acquire)) {
            *code = g->cancel_code;
            *reason = g->reason;
            return true;
        }
    }
    return false;
}

/* Under cset.mu. */
int crew__group_cancel_locked(struct crew *ex, crew_group_t *g, int code,
                              const char *reason)
{
    /* relaxed: under cset.mu, which every writer of `cancelled` holds. */
    if (atomic_load_explicit(&g->cancelled, memory_order_relaxed))
        return 0; /* idempotent: the first reason wins */
    if (!crew__cset_insert(ex, g->id))
        return CREW_ENOMEM;
    /* seq_cst: the scope count is visible before the flag, as in
     * crew__task_cancel (check protocol step 1). */
    atomic_fetch_add_explicit(&ex->cancel_scopes, 1, memory_order_seq_cst);
    g->cancel_code = code;
    crew__copy_reason(g->reason, reason);
    /* release: publishes code and reason to the checks. */
    atomic_store_explicit(&g->cancelled, true, memory_order_release);
    return 0;
}

int crew_group_create(crew_t *ex, crew_group_t *parent, unsigned flags,
                      crew_group_t **out)
{
    crew_group_t *g;
    if (out)
        *out = NULL;
    if (!crew__valid(ex) || !out || (flags & ~CREW_GROUP_FAIL_FAST))
        return CREW_EINVAL;
    if (parent && !group_ok(parent))
        return CREW_EINVAL;
    if (parent && parent->ex != ex)
        return CREW_EWRONGEXEC;
    /* relaxed: a refusal check; racing a shutdown either way is fine. */
    if (atomic_load_explicit(&ex->mode, memory_order_relaxed) != EX_RUNNING &&
        !crew__self_worker(ex))
        return CREW_ESHUTDOWN;
    g = crew__calloc(1, sizeof *g);
    if (!g)
        return CREW_ENOMEM;
    g->magic = CREW__GROUP_MAGIC;
    g->flags = flags;
    g->ex = ex;
    /* relaxed: a unique number. Group IDs use slot 0, which no task has. */
    g->id = (atomic_fetch_add_explicit(&ex->group_seq, 1, memory_order_relaxed) + 1)
            << CREW_SLOT_BITS;
    g->parent = parent;
    atomic_init(&g->refs, 1);
    if (parent) {
        crew__group_ref(parent);
        /* relaxed: handle counts, checked by destroy calls of the same user. */
        atomic_fetch_add_explicit(&parent->nested, 1, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&ex->live_groups, 1, memory_order_relaxed);
    *out = g;
    return 0;
}

crew_id_t crew_group_id(const crew_group_t *g)
{
    return group_ok(g) ? g->id : 0;
}

int crew_group_cancel(crew_group_t *g, int code, const char *reason)
{
    struct crew *ex;
    int rc;
    if (!group_ok(g))
        return CREW_EINVAL;
    ex = g->ex;
    pthread_mutex_lock(&ex->cset.mu);
    rc = crew__group_cancel_locked(ex, g, code, reason);
    pthread_mutex_unlock(&ex->cset.mu);
    /* Helping waiters that are members (or descendants) must re-check. */
    crew__park_notify_all(&ex->park);
    return rc;
}

static bool group_empty(void *ctx, bool arm)
{
    (void)arm; /* waiters was counted before the wait began */
    crew_group_t *g = ctx;
    /* seq_cst: step 1 of the waiting protocol (read after waiters += 1). */
    return atomic_load_explicit(&g->pending, memory_order_seq_cst) == 0;
}

int crew_group_wait(crew_group_t *g, int64_t timeout_ns, crew_status_t *status)
{
    struct crew *ex;
    crew__worker_t *w;
    int64_t deadline;
    int rc = 0;
    if (!group_ok(g) || !status)
        return CREW_EINVAL;
    if (crew__check_timeout(timeout_ns, &deadline) != 0)
        return CREW_EINVAL;
    ex = g->ex;
    w = crew__self_worker(ex);
    /* seq_cst: step 1 of the waiting protocol (before reading pending). */
    atomic_fetch_add_explicit(&g->waiters, 1, memory_order_seq_cst);
    if (w && crew__tls_task) {
        rc = crew__help_until(ex, w, group_empty, g, deadline, true);
    } else {
        for (;;) {
            /* seq_cst: step 1, read after waiters += 1. */
            uint32_t p = atomic_load_explicit(&g->pending, memory_order_seq_cst);
            int64_t left = -1;
            if (p == 0)
                break;
            if (deadline >= 0) {
                left = deadline - crew__now_ns();
                if (left <= 0) {
                    rc = CREW_ETIMEDOUT;
                    break;
                }
            }
            crew__futex_wait(&g->pending, p, left);
        }
    }
    /* relaxed: leaving only makes later wakes unnecessary. */
    atomic_fetch_sub_explicit(&g->waiters, 1, memory_order_relaxed);
    if (rc == 0) {
        /* relaxed: written before the members' pending decrements that our
         * seq_cst read of pending == 0 saw. */
        int bad = atomic_load_explicit(&g->first_bad, memory_order_relaxed);
        if (atomic_load_explicit(&g->first_failure, memory_order_relaxed))
            *status = CREW_TASK_FAILED;
        else if (bad)
            *status = (crew_status_t)bad;
        /* acquire: pairs with the release store in group_cancel_locked. */
        else if (atomic_load_explicit(&g->cancelled, memory_order_acquire))
            *status = CREW_TASK_CANCELLED;
        else
            *status = CREW_TASK_DONE;
    }
    return rc;
}

int crew_group_destroy(crew_group_t *g)
{
    if (!group_ok(g))
        return CREW_EINVAL;
    /* acquire: pairs with member_done's decrement (members are done). */
    if (atomic_load_explicit(&g->pending, memory_order_acquire) != 0 ||
        atomic_load_explicit(&g->nested, memory_order_acquire) != 0)
        return CREW_EBUSY;
    g->magic = 0;
    /* nested and live_groups count handles: the memory may live on a
     * little longer, held by records that still point at the group. */
    if (g->parent) /* relaxed: counts checked by destroy calls */
        atomic_fetch_sub_explicit(&g->parent->nested, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&g->ex->live_groups, 1, memory_order_relaxed);
    crew__group_unref(g);
    return 0;
}

int crew_group_info(crew_group_t *g, crew_group_info_t *info)
{
    if (!group_ok(g) || !info)
        return CREW_EINVAL;
    memset(info, 0, sizeof *info);
    info->id = g->id;
    /* relaxed: a snapshot of statistics. */
    info->live = atomic_load_explicit(&g->pending, memory_order_acquire);
    info->submitted = atomic_load_explicit(&g->submitted, memory_order_relaxed);
    info->failed = atomic_load_explicit(&g->failed, memory_order_relaxed);
    info->cancelled = atomic_load_explicit(&g->cancelled_n, memory_order_relaxed);
    /* Every member is live, DONE, FAILED or CANCELLED (ACTOR_DEAD counts
     * as cancelled); exact once the group is quiescent. */
    {
        uint64_t other = info->live + info->failed + info->cancelled;
        info->done = info->submitted > other ? info->submitted - other : 0;
    }
    info->removed = atomic_load_explicit(&g->removed, memory_order_relaxed);
    info->cancelled_running =
        atomic_load_explicit(&g->cancelled_running, memory_order_relaxed);
    info->late_cancels = atomic_load_explicit(&g->late_cancels, memory_order_relaxed);
    {
        int code;
        const char *reason;
        /* A nested group is cancelled when any enclosing group is. */
        info->is_cancelled = crew__group_chain_cancelled(g, &code, &reason);
    }
    /* acquire: pairs with member_done's CAS; we then read the result. */
    info->first_failure = atomic_load_explicit(&g->first_failure, memory_order_acquire);
    info->first_failure_result =
        atomic_load_explicit(&g->first_failure_result, memory_order_relaxed);
    return 0;
}
