/*
 * cancel.c - the executor's cancellation set and the cooperative check.
 *
 * The set (cset.h) holds the IDs of requested running tasks and of
 * cancelled groups. Writers hold its mutex; readers (task bodies calling
 * crew_cancelled() on worker threads) take no lock.
 *
 * Check protocol (crew_cancelled):
 *  1. cancel_scopes == 0 (one relaxed load): nothing anywhere is cancelled.
 *     Every canceller increments it (seq_cst) before making its
 *     cancellation visible and before returning, so a check that happens
 *     after a cancel call returned cannot read 0 (coherence).
 *  2. The task's own ID in the set (Ray's is_canceled(): the request made
 *     by crew_cancel on a running task). A hit also sets REQ in the state
 *     word if the canceller has not yet, so a body that saw the request
 *     always ends CANCELLED (harness.c, cancel protocol step 3).
 *  3. Inherited: the executor cancelled at shutdown; the expired deadline
 *     of the batch that carries the task (harness.c, "Batch carriers");
 *     the task's group and the groups enclosing it; each ancestor (REQ
 *     bit, a terminal CANCELLED phase, its batch's expired deadline) and
 *     each live ancestor's groups. Ancestor records
 *     stay allocated while a descendant lives (harness.c), and every group
 *     on the walk is alive: it is either the group of the task below it on
 *     the chain, or that task holds a reference on it (TF_PGROUP_REF).
 */
#include "cancel.h"

#include "group.h"

int crew__cancel_init(struct crew *ex)
{
    int rc = crew__cset_init(&ex->cset, CREW_CSET_INIT);
    for (unsigned i = 0; rc == 0 && i < ex->nslots; i++) {
        ex->workers[i].reader = crew__cset_reader(&ex->cset);
        if (!ex->workers[i].reader)
            rc = CREW_ENOMEM;
    }
    return rc;
}

void crew__cancel_fini(struct crew *ex)
{
    crew__cset_destroy(&ex->cset);
    for (unsigned i = 0; ex->workers && i < ex->nslots; i++) {
        crew__cset_reader_free(ex->workers[i].reader);
        ex->workers[i].reader = NULL;
    }
}

static crew_id_t id_of(crew__task_t *t)
{
    /* relaxed: the caller holds the record (pin, or its own task). */
    return atomic_load_explicit(&t->id, memory_order_relaxed);
}

bool crew__cancel_enter_locked(struct crew *ex, crew__task_t *t)
{
    if (!crew__cset_insert(&ex->cset, id_of(t)))
        return false;
    crew__scope_add(ex); /* step 1: visible before REQ and our return */
    return true;
}

void crew__cancel_withdraw_locked(struct crew *ex, crew__task_t *t)
{
    crew__cset_remove(&ex->cset, id_of(t));
    crew__scope_drop(ex);
}

void crew__cancel_forget(struct crew *ex, crew_id_t id)
{
    crew__cset_lock(&ex->cset);
    crew__cset_remove(&ex->cset, id);
    crew__cset_unlock(&ex->cset);
}

bool crew__batch_expired(crew__task_t *t, uint32_t s, crew__cause_t *why)
{
    crew__carrier_t *c = crew__rec_carrier(t, s);
    /* acquire: pairs with crew__batch_expire's release store; own_dl,
     * written before it under the set mutex, is then up to date. */
    if (!c || !c->blk->when || !atomic_load_explicit(&c->blk->expired, memory_order_acquire) ||
        atomic_load_explicit(&c->own_dl, memory_order_relaxed) == id_of(t))
        return false;
    *why = (crew__cause_t){CREW_CAUSE_TIMEOUT, CREW_ETIMEDOUT, "deadline"};
    return true;
}

bool crew__inherited_cancel(struct crew *ex, crew__task_t *t, crew__cause_t *why)
{
    struct crew_group *seen;
    crew__task_t *a;
    uint8_t gc;
    /* relaxed: mode only grows; the scope count already sent us here. */
    if (atomic_load_explicit(&ex->mode, memory_order_relaxed) == CREW__MODE_CANCEL) {
        *why = (crew__cause_t){CREW_CAUSE_SHUTDOWN, 0, "shutdown"};
        return true;
    }
    /* relaxed: BATCH is fixed while the record is pinned or ours. */
    if (CREW_UNLIKELY(crew__batch_expired(t, crew__rec_peek(t), why)))
        return true; /* its batch's deadline: its own */
    if (t->group && crew__group_chain_cancelled(t->group, &why->code, &why->reason, &gc)) {
        /* A group's deadline reaches its members as a timeout. */
        why->cause = gc == CREW_CAUSE_TIMEOUT ? CREW_CAUSE_TIMEOUT : CREW_CAUSE_GROUP;
        return true;
    }
    seen = t->group;
    for (a = t->parent; a; a = a->parent) {
        /* acquire (rec_load): pairs with the REQ CAS / terminal CAS; we then
         * read the cause fields they guard. */
        uint32_t s = crew__rec_load(a);
        if (crew__word_req(s) || crew__status_of(s) == CREW_TASK_CANCELLED) {
            /* An ancestor's deadline is the task's effective deadline. */
            uint8_t c = a->cause == CREW_CAUSE_TIMEOUT ? CREW_CAUSE_TIMEOUT : CREW_CAUSE_PARENT;
            *why = (crew__cause_t){c, a->cancel_code, a->reason};
            return true;
        }
        if (crew__terminal(s))
            continue; /* finished uncancelled: its groups no longer reach
                         its descendants */
        if (CREW_UNLIKELY(crew__batch_expired(a, s, why)))
            return true; /* an ancestor's deadline, as above */
        if (a->group && a->group != seen &&
            crew__group_chain_cancelled(a->group, &why->code, &why->reason, &gc)) {
            why->cause = gc == CREW_CAUSE_TIMEOUT ? CREW_CAUSE_TIMEOUT : CREW_CAUSE_PARENT;
            return true;
        }
        seen = a->group;
    }
    return false;
}

bool crew__is_cancelled(struct crew *ex, crew__task_t *t, crew__cause_t *why)
{
    crew__worker_t *w = crew__self_worker(ex);
    crew__cause_t dummy;
    if (!why)
        why = &dummy;
    /* Off a worker there is no reader record; the REQ bit is set in the
     * same protocol step as the set entry (acquire: rec_load). */
    if (w ? crew__cset_contains(&ex->cset, w->reader, id_of(t))
          : crew__word_req(crew__rec_load(t))) {
        if (w)
            crew__rec_note_req(t); /* step 2 of the check, step 3 of cancel */
        *why = (crew__cause_t){CREW_CAUSE_SELF, 0, NULL};
        return true;
    }
    return crew__inherited_cancel(ex, t, why);
}

static CREW_NOINLINE bool cancelled_slow(void)
{
    crew__task_t *t = crew__tls_task;
    crew__worker_t *w = crew__tls_worker;
    struct crew *ex;
    if (!t)
        return false;
    ex = w->ex;
    /* Step 0: a shielded body sees nothing (interrupt.c). */
    if (w->fd.o.forks && w->fd.o.forks->shield)
        return false;
    /* The test mode's Nth check (interrupt.c), when it is on. */
    {
        /* acquire: pairs with crew_test_cancel_at's release store; we then
         * read the mode's fields. A check that misses the pointer is one
         * made before the mode was set. */
        crew__test_fn test = atomic_load_explicit(&ex->test_check, memory_order_acquire);
        if (CREW_UNLIKELY(test != NULL) && test(ex, w, t))
            return true;
    }
    if (!crew__is_cancelled(ex, t, NULL))
        return false;
    crew__obs_checked(ex, w, t); /* cancel latency */
    return true;
}

bool crew_cancelled(void)
{
    _Atomic uint32_t *scopes = crew__tls_scopes;
    /* relaxed: step 1 of the check protocol (see the top of this file). */
    if (CREW_LIKELY(!scopes || atomic_load_explicit(scopes, memory_order_relaxed) == 0))
        return false;
    return cancelled_slow();
}
