/*
 * group.c - groups: membership, lifetime, cancellation state (group.h).
 *
 * Membership: `pending` counts live members (a futex word). A member is
 * counted from submission until just after its terminal CAS, so "wait
 * returned" implies "every member is terminal".
 *
 * Lifetime (`refs`): the handle holds one reference; the group holds one
 * more while pending > 0 (taken by the add that moves pending 0 -> 1,
 * dropped by the done that moves it 1 -> 0, after waking waiters); each
 * nested group holds one on its parent; a task spawned into another group
 * than its parent's holds one on the parent's group (TF_PGROUP_REF); a
 * terminal task whose handle is still held holds one (TF_GROUP_REF).
 * crew_group_destroy drops the handle's reference; the memory goes when
 * the last reference does (at the latest in crew_destroy, which drops the
 * references of records never released).
 *
 * Waiting protocol (no lost wake-up):
 *  1. waiter: waiters += 1 (seq_cst), then read pending.
 *  2. done: pending -= 1 (seq_cst); if it reached 0, read waiters.
 *  Either the waiter reads 0, or done sees waiters > 0 and wakes the futex
 *  on `pending` (and the executor's parked workers, where helping waiters
 *  sleep).
 *
 * Deferred member counts (a submitter adds to `pending` and a worker takes
 * from it for every member: without this the line would move between
 * their cores twice per task):
 *  1. A DONE member of a group without FIRST_SUCCESS that ended on a
 *     worker's top level (no task of its thread running around it) counts
 *     in that worker's `gdef` word if the word names its group or nothing,
 *     up to 63; otherwise the word is flushed first.
 *  2. Flush: the word becomes 0, then pending -= its count (seq_cst, as
 *     done; so the clear is released with the RMW).
 *  3. A worker flushes before it starts a task of another group (or of
 *     none), before it spins or parks, at every turn of a wait that helps
 *     on it, and a crew_run() caller before it leaves the worker slot. So a count
 *     outlives its member only while the worker runs further tasks of the
 *     same group, which keep pending above 0 anyway: no wait hangs on it.
 *  4. The group is alive while a word names it (its counted members are
 *     still in pending); other threads only compare the pointer.
 *  5. crew_group_info() reads pending (acquire), then every worker's word,
 *     and subtracts the counts that name the group: a flush that its
 *     pending load saw had cleared the word before, so nothing is
 *     subtracted twice (a member may show live a moment longer).
 * Model: tools/model/group_defer.pml (steps 1, 2, 3 and 5).
 */
#include <limits.h>
#include <string.h>

#include "group.h"

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
        /* relaxed: we hold the last reference. */
        if (atomic_load_explicit(&g->cancelled, memory_order_relaxed)) {
            crew__cset_lock(&ex->cset);
            crew__cset_remove(&ex->cset, g->id);
            crew__cset_unlock(&ex->cset);
            crew__scope_drop(ex); /* no member is left to need it */
        }
        /* A worker in task_start may be reading g (a member it popped was
         * removed meanwhile, harness.c): wait until none announces it.
         * seq_cst fence: pairs with task_start's; either it sees the
         * removal that led here and leaves g alone, or we see it. */
        CREW_FENCE_SEQ_CST();
        for (unsigned i = 0; ex->workers && i < ex->nslots; i++)
            /* acquire: pairs with the worker's release when it is done. */
            while (atomic_load_explicit(&ex->workers[i].hazard_group, memory_order_acquire) ==
                   (void *)g)
                crew__cpu_relax();
        for (unsigned i = 0; i < 16; i++) /* sweeping threads that are not workers */
            /* acquire: as above. */
            while (atomic_load_explicit(&ex->hz_ext[i], memory_order_acquire) == (void *)g)
                crew__cpu_relax();
        pthread_mutex_destroy(&g->fail_mu);
        crew__free(g->fails);
        crew__free(g);
        if (parent)
            crew__group_unref(parent);
    }
}

void crew__group_add(crew_group_t *g, uint32_t n)
{
    /* seq_cst: pairs with done and the waiters' protocol. */
    if (atomic_fetch_add_explicit(&g->pending, n, memory_order_seq_cst) == 0)
        crew__group_ref(g);
    /* relaxed: a statistic. */
    atomic_fetch_add_explicit(&g->submitted, n, memory_order_relaxed);
}

static void keep_failure(crew_group_t *g, crew_id_t id, int result)
{
    pthread_mutex_lock(&g->fail_mu);
    if (g->nfails == g->capfails) {
        size_t cap = g->capfails ? g->capfails * 2 : 8;
        crew_group_failure_t *n = crew__malloc(cap * sizeof *n);
        if (!n) {
            g->fails_lost = true;
            pthread_mutex_unlock(&g->fail_mu);
            return;
        }
        if (g->nfails)
            memcpy(n, g->fails, g->nfails * sizeof *n);
        crew__free(g->fails);
        g->fails = n;
        g->capfails = cap;
    }
    g->fails[g->nfails++] = (crew_group_failure_t){id, result};
    pthread_mutex_unlock(&g->fail_mu);
}

crew__gm_t crew__group_member_ended(crew_group_t *g, crew_id_t id, int result, crew_status_t phase,
                                    bool removed)
{
    int expect = 0;
    crew__gm_t ask = CREW__GM_NONE;
    /* relaxed for the counters: statistics, read after a wait that
     * synchronises through `pending`. */
    if (phase == CREW_TASK_DONE) {
        uint64_t zero = 0;
        /* acq_rel: one winner; crew_group_info reads it after a wait. */
        if ((g->flags & CREW_GROUP_FIRST_SUCCESS) &&
            atomic_compare_exchange_strong_explicit(&g->winner, &zero, id, memory_order_acq_rel,
                                                    memory_order_relaxed))
            return CREW__GM_FIRST_SUCCESS;
        return CREW__GM_NONE; /* DONE is derived in crew_group_info */
    }
    if (phase == CREW_TASK_FAILED) {
        uint64_t zero = 0;
        keep_failure(g, id, result);
        atomic_fetch_add_explicit(&g->failed, 1, memory_order_relaxed);
        /* acq_rel: one first failure. */
        if (atomic_compare_exchange_strong_explicit(&g->first_failure, &zero, id,
                                                    memory_order_acq_rel, memory_order_relaxed)) {
            atomic_store_explicit(&g->first_failure_result, result, memory_order_relaxed);
            if (g->flags & CREW_GROUP_FAIL_FAST)
                ask = CREW__GM_FAIL_FAST;
        }
    } else {
        atomic_fetch_add_explicit(&g->cancelled_n, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(removed ? &g->removed : &g->cancelled_running, 1,
                                  memory_order_relaxed);
    }
    /* relaxed: one winner is all we need; read after a wait. */
    atomic_compare_exchange_strong_explicit(&g->first_bad, &expect, (int)phase,
                                            memory_order_relaxed, memory_order_relaxed);
    return ask;
}

void crew__group_removed(crew_group_t *g, uint32_t m)
{
    int expect = 0;
    /* relaxed: statistics, as in member_ended. */
    atomic_fetch_add_explicit(&g->cancelled_n, m, memory_order_relaxed);
    atomic_fetch_add_explicit(&g->removed, m, memory_order_relaxed);
    atomic_compare_exchange_strong_explicit(&g->first_bad, &expect, (int)CREW_TASK_CANCELLED,
                                            memory_order_relaxed, memory_order_relaxed);
}

void crew__group_done(struct crew *ex, crew_group_t *g, uint32_t n)
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

void crew__group_flush(struct crew *ex, crew__worker_t *w)
{
    /* relaxed: our own word; step 2's RMW releases the clear. */
    uint64_t d = atomic_load_explicit(&w->gdef, memory_order_relaxed);
    if (!d)
        return;
    atomic_store_explicit(&w->gdef, 0, memory_order_relaxed);
    crew__group_done(ex, (crew_group_t *)GDEF_PTR(d), GDEF_N(d));
}

void crew__group_done_top(struct crew *ex, crew__worker_t *w, crew_group_t *g)
{
    /* relaxed: our own word (step 1). */
    uint64_t d = atomic_load_explicit(&w->gdef, memory_order_relaxed);
    if (CREW_UNLIKELY((uintptr_t)g >> 48)) { /* does not pack: no deferral */
        crew__group_done(ex, g, 1);
        return;
    }
    if (d && GDEF_PTR(d) != (uintptr_t)g) {
        crew__group_flush(ex, w);
        d = 0;
    }
    if (d && GDEF_N(d) >= GDEF_MAX) {
        /* relaxed: step 2 (the RMW below releases the clear). */
        atomic_store_explicit(&w->gdef, 0, memory_order_relaxed);
        crew__group_done(ex, g, GDEF_N(d) + 1);
        return;
    }
    /* relaxed: single writer; crew_group_info reads it (step 5). */
    atomic_store_explicit(
        &w->gdef, d ? d + ((uint64_t)1 << 48) : (uint64_t)(uintptr_t)g | ((uint64_t)1 << 48),
        memory_order_relaxed);
}

void crew__group_late_cancel(crew_group_t *g)
{
    /* relaxed: a statistic. */
    atomic_fetch_add_explicit(&g->late_cancels, 1, memory_order_relaxed);
}

bool crew__group_chain_cancelled(crew_group_t *g, int *code, const char **reason, uint8_t *cause)
{
    for (; g; g = g->parent) {
        /* acquire: pairs with the release store in mark_cancelled_locked;
         * we then read code and reason. */
        if (atomic_load_explicit(&g->cancelled, memory_order_acquire)) {
            *code = g->cancel_code;
            *reason = g->reason;
            if (cause)
                *cause = g->cancel_cause;
            return true;
        }
    }
    return false;
}

int crew__group_mark_cancelled_locked(struct crew *ex, crew_group_t *g, int code,
                                      const char *reason, uint8_t cause)
{
    /* relaxed: under the set mutex, which every writer of `cancelled` holds. */
    if (atomic_load_explicit(&g->cancelled, memory_order_relaxed))
        return 0; /* idempotent: the first reason wins */
    if (!crew__cset_insert(&ex->cset, g->id))
        return CREW_ENOMEM;
    crew__scope_add(ex); /* before the flag: check protocol step 1 */
    g->cancel_code = code;
    g->cancel_cause = cause;
    crew__copy_reason(g->reason, reason);
    /* release: publishes code and reason to the checks. */
    atomic_store_explicit(&g->cancelled, true, memory_order_release);
    return 0;
}

void crew__group_wait_begin(crew_group_t *g)
{
    /* seq_cst: step 1 of the waiting protocol (before reading pending). */
    atomic_fetch_add_explicit(&g->waiters, 1, memory_order_seq_cst);
}

void crew__group_wait_end(crew_group_t *g)
{
    /* relaxed: leaving only makes later wakes unnecessary. */
    atomic_fetch_sub_explicit(&g->waiters, 1, memory_order_relaxed);
}

bool crew__group_empty(crew_group_t *g)
{
    /* seq_cst: step 1 of the waiting protocol (read after waiters += 1). */
    return atomic_load_explicit(&g->pending, memory_order_seq_cst) == 0;
}

crew_status_t crew__group_outcome(crew_group_t *g)
{
    /* relaxed: written before the members' pending decrements that the
     * caller's seq_cst read of pending == 0 saw. */
    int bad = atomic_load_explicit(&g->first_bad, memory_order_relaxed);
    int code;
    const char *reason;
    /* relaxed: as first_bad. */
    if (atomic_load_explicit(&g->winner, memory_order_relaxed))
        return CREW_TASK_DONE; /* FIRST_SUCCESS: someone won */
    if (atomic_load_explicit(&g->first_failure, memory_order_relaxed))
        return CREW_TASK_FAILED;
    if (bad)
        return (crew_status_t)bad;
    /* A group cancelled directly or through an enclosing group waits
     * CANCELLED even if every member finished first (crew.h). */
    if (crew__group_chain_cancelled(g, &code, &reason, NULL))
        return CREW_TASK_CANCELLED;
    return CREW_TASK_DONE;
}

int crew_group_create(crew_t *ex, crew_group_t *parent, unsigned flags, crew_group_t **out)
{
    crew_group_t *g;
    if (out)
        *out = NULL;
    if (!crew__valid(ex) || !out || (flags & ~(CREW_GROUP_FAIL_FAST | CREW_GROUP_FIRST_SUCCESS)))
        return CREW_EINVAL;
    if (parent && !crew__group_ok(parent))
        return CREW_EINVAL;
    if (parent && parent->ex != ex)
        return CREW_EWRONGEXEC;
    if (crew__mode(ex) != CREW__MODE_RUNNING && !crew__self_worker(ex))
        return CREW_ESHUTDOWN;
    g = crew__calloc(1, sizeof *g);
    if (!g)
        return CREW_ENOMEM;
    if (pthread_mutex_init(&g->fail_mu, NULL) != 0) {
        crew__free(g);
        return CREW_ENOMEM;
    }
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
    pthread_mutex_lock(&ex->groups_mu);
    g->hnext = ex->groups;
    if (g->hnext)
        g->hnext->hprev = g;
    ex->groups = g;
    pthread_mutex_unlock(&ex->groups_mu);
    *out = g;
    return 0;
}

void crew__groups_init(struct crew *ex)
{
    pthread_mutex_init(&ex->groups_mu, NULL);
    ex->groups = NULL;
    pthread_mutex_init(&ex->batches_mu, NULL); /* harness.c's; freed below */
    ex->batches = ex->spare_batches = NULL;
    ex->nspare_batches = 0;
    atomic_init(&ex->batches_used, false);
}

void crew__groups_fini(struct crew *ex)
{
    crew_group_t *g, *next;
    /* Single-threaded: the workers are stopped, no task is live. Pin every
     * handle first, so dropping one handle (which may free its group and
     * unref its parent) never frees a group we have yet to visit. */
    for (g = ex->groups; g; g = g->hnext)
        crew__group_ref(g);
    for (g = ex->groups; g; g = g->hnext) {
        g->magic = 0;
        crew__group_unref(g); /* the handle's reference */
    }
    for (g = ex->groups; g; g = next) {
        next = g->hnext; /* alive: its pin is still held */
        crew__group_unref(g);
    }
    ex->groups = NULL;
    /* relaxed: single-threaded teardown. */
    atomic_store_explicit(&ex->live_groups, 0, memory_order_relaxed);
    pthread_mutex_destroy(&ex->groups_mu);
    while (ex->spare_batches) { /* every live block is gone with its records */
        struct crew__batch *b = ex->spare_batches;
        ex->spare_batches = b->next;
        crew__free(b);
    }
    pthread_mutex_destroy(&ex->batches_mu);
}

crew_id_t crew_group_id(const crew_group_t *g) { return crew__group_ok(g) ? g->id : 0; }

/* Members not yet ended: pending, less the DONE members that a carrier
 * (harness.c, Batch carriers, step 3) or a worker (deferred member
 * counts, step 5) has yet to take off it. Never less than the truth. */
static uint64_t group_live(crew_group_t *g)
{
    uint64_t live;
    /* acquire: pending orders the counters the members wrote before. */
    live = atomic_load_explicit(&g->pending, memory_order_acquire);
    /* Batch carriers' DONE tasks still in pending (harness.c, step 3),
     * read after pending: a carrier that ends meanwhile clears `ended`
     * before its RMW on pending, which our acquire load above pairs with,
     * so what left pending is not subtracted again. */
    /* relaxed: a hint; a block listed after this load counts no task
     * ended yet that this snapshot could have seen end. */
    if (atomic_load_explicit(&g->ex->batches_used, memory_order_relaxed)) {
        uint64_t ended = 0;
        pthread_mutex_lock(&g->ex->batches_mu);
        for (crew__batch_t *b = g->ex->batches; b; b = b->next)
            if (b->group == g)
                for (uint32_t i = 0; i < b->ncar; i++)
                    /* relaxed: a snapshot; see above. */
                    ended += atomic_load_explicit(&b->car[i].ended, memory_order_relaxed);
        pthread_mutex_unlock(&g->ex->batches_mu);
        live = live > ended ? live - ended : 0;
    }
    /* Deferred member counts (step 5), read after pending as above. */
    for (unsigned i = 0; g->ex->workers && i < g->ex->nslots; i++) {
        /* relaxed: a snapshot, ordered after the acquire load above. */
        uint64_t d = atomic_load_explicit(&g->ex->workers[i].gdef, memory_order_relaxed);
        if (d && GDEF_PTR(d) == (uintptr_t)g)
            live = live > GDEF_N(d) ? live - GDEF_N(d) : 0;
    }
    return live;
}

int crew_group_destroy(crew_group_t *g)
{
    if (!crew__group_ok(g))
        return CREW_EINVAL;
    /* group_live: pending (acquire: pairs with done's decrement; the
     * members are done), less counts that only wait to be taken off it
     * (their members ended; what holds them holds the group alive). */
    if (group_live(g) != 0 || atomic_load_explicit(&g->nested, memory_order_acquire) != 0)
        return CREW_EBUSY;
    g->magic = 0;
    {
        void *o; /* its deadline goes with it (the entry's reference) */
        if (crew__timer_disarm(&g->ex->timer, CREW__TM_GROUP, g->id, &o))
            crew__group_unref(o);
    }
    pthread_mutex_lock(&g->ex->groups_mu);
    if (g->hprev)
        g->hprev->hnext = g->hnext;
    else
        g->ex->groups = g->hnext;
    if (g->hnext)
        g->hnext->hprev = g->hprev;
    pthread_mutex_unlock(&g->ex->groups_mu);
    /* nested and live_groups count handles: the memory may live on a
     * little longer, held by records that still point at the group. */
    if (g->parent) /* relaxed: counts checked by destroy calls */
        atomic_fetch_sub_explicit(&g->parent->nested, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&g->ex->live_groups, 1, memory_order_relaxed);
    crew__group_unref(g);
    return 0;
}

int crew_group_info(crew_group_t *g, crew_group_info_t *out)
{
    int code;
    const char *reason;
    crew_group_info_t full, *info = &full;
    if (!crew__group_ok(g) || !out || !crew__size_ok(out->size, sizeof full))
        return CREW_EINVAL;
    memset(info, 0, sizeof *info);
    info->id = g->id;
    info->live = group_live(g);
    /* relaxed: a snapshot of statistics. */
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
    info->cancelled_running = atomic_load_explicit(&g->cancelled_running, memory_order_relaxed);
    info->late_cancels = atomic_load_explicit(&g->late_cancels, memory_order_relaxed);
    /* A nested group is cancelled when any enclosing group is. */
    info->is_cancelled = crew__group_chain_cancelled(g, &code, &reason, NULL);
    /* relaxed: read after a wait (see member_ended). */
    info->winner = atomic_load_explicit(&g->winner, memory_order_relaxed);
    info->deadline = crew__timer_get(&g->ex->timer, CREW__TM_GROUP, g->id);
    /* acquire: pairs with member_ended's CAS; we then read the result. */
    info->first_failure = atomic_load_explicit(&g->first_failure, memory_order_acquire);
    info->first_failure_result =
        atomic_load_explicit(&g->first_failure_result, memory_order_relaxed);
    crew__copy_sized(out, &full, sizeof full);
    return 0;
}

int crew_group_set_limit(crew_group_t *g, unsigned max_queued)
{
    if (!crew__group_ok(g) || max_queued > INT32_MAX)
        return CREW_EINVAL;
    /* relaxed: see crew__limit_max. */
    atomic_store_explicit(&g->glimit.max, max_queued, memory_order_relaxed);
    crew__futex_wake(&g->glimit.used, INT_MAX); /* a raised bound admits now */
    return 0;
}

int crew_group_failures(crew_group_t *g, crew_group_failure_t *out, size_t cap, size_t *total)
{
    bool lost;
    if (!crew__group_ok(g) || !total || (!out && cap))
        return CREW_EINVAL;
    pthread_mutex_lock(&g->fail_mu);
    *total = g->nfails;
    if (cap > g->nfails)
        cap = g->nfails;
    if (cap)
        memcpy(out, g->fails, cap * sizeof *out);
    lost = g->fails_lost;
    pthread_mutex_unlock(&g->fail_mu);
    return lost ? CREW_ENOMEM : 0;
}
