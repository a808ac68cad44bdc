/*
 * wait.c - the public calls on tasks and groups that exist: wait, join,
 * release, cancel, cancel-and-wait, inspect, group wait and cancel, and
 * the calling context (crew_self, crew_current, crew_worker_index).
 */
#include <string.h>

#include "cancel.h"
#include "group.h"
#include "harness.h"
#include "worker.h"

/* ---- waiting for a task -------------------------------------------------- */

static bool task_done(void *ctx, bool arm, _Atomic uint32_t **word, uint32_t *val)
{
    crew__task_t *t = ctx;
    uint32_t s = crew__rec_load(t); /* acquire: pairs with the terminal CAS */
    if (!arm)
        return crew__terminal(s);
    /* About to sleep: arm WAITERS so the finisher wakes us. Arming only
     * now keeps out-of-order joins that never sleep from costing their
     * target a wake-up. */
    if (!crew__rec_arm_waiters(t, &s))
        return true;
    *word = &t->state;
    *val = s;
    return false;
}

/* Wait for a pinned t to be terminal. */
static int wait_task(struct crew *ex, crew__task_t *t, int64_t deadline, bool stop_on_cancel)
{
    return crew__wait_until(ex, task_done, t, deadline, stop_on_cancel);
}

/* The common start of crew_wait and crew_cancel_wait: check the
 * arguments, compute the deadline, and pin the task. */
static int wait_begin(crew_t *ex, crew_id_t id, int64_t timeout_ns, crew_status_t *status,
                      crew__task_t **t, int64_t *deadline)
{
    if (!crew__valid(ex) || !status)
        return CREW_EINVAL;
    if (crew__check_timeout(timeout_ns, deadline) != 0)
        return CREW_EINVAL;
    *t = crew__task_get(ex, id, false);
    return *t ? 0 : CREW_ENOTASK;
}

int crew_wait(crew_t *ex, crew_id_t id, int64_t timeout_ns, crew_status_t *status)
{
    crew__task_t *t;
    int64_t deadline;
    int rc = wait_begin(ex, id, timeout_ns, status, &t, &deadline);
    if (rc != 0)
        return rc;
    if (t == crew__tls_task) {
        crew__task_put(ex, t);
        return CREW_EDEADLK;
    }
    rc = wait_task(ex, t, deadline, true);
    if (rc == 0)
        *status = crew__status_of(crew__rec_load(t));
    crew__task_put(ex, t);
    return rc;
}

int crew_join(crew_t *ex, crew_id_t id, crew_status_t *status)
{
    crew__worker_t *w;
    crew__task_t *t, *self = crew__tls_task;
    uint32_t s;
    if (!crew__valid(ex) || !status)
        return CREW_EINVAL;
    /* The caller owns the handle, so the record cannot be freed under us
     * (it is not RELEASED); check the ID without taking a pin. */
    t = crew__pool_slot(&ex->pool, id);
    if (!t)
        return CREW_ENOTASK;
    s = crew__rec_load(t);
    /* relaxed: ordered by the acquire load above. */
    if (atomic_load_explicit(&t->id, memory_order_relaxed) != id || crew__word_free(s) ||
        crew__word_released(s))
        return CREW_ENOTASK;
    if (t == self)
        return CREW_EDEADLK;
    w = crew__self_worker(ex);
    if (w && !crew__terminal(s) && crew__deque_peek(&w->dq) == t) {
        /* Fork-join fast path: the child is still on top of our deque.
         * Run it here and release it in its terminal CAS. */
        crew__task_t *x = crew__deque_pop(&w->dq);
        if (x == t) {
            crew_status_t ph = crew__task_run(ex, w, t, true);
            if (ph) {
                *status = ph;
                return (self && crew_cancelled()) ? CREW_ECANCELED : 0;
            }
        } else if (x) {
            crew__task_run(ex, w, x, false);
        }
    }
    wait_task(ex, t, -1, false);
    if (crew__rec_release(t, &s) == CREW__REL_FREE)
        crew__task_free(ex, t);
    *status = crew__status_of(s);
    return (self && crew_cancelled()) ? CREW_ECANCELED : 0;
}

int crew_status(crew_t *ex, crew_id_t id, crew_status_t *status)
{
    crew__task_t *t;
    if (!crew__valid(ex) || !status)
        return CREW_EINVAL;
    t = crew__task_get(ex, id, false);
    if (!t)
        return CREW_ENOTASK;
    *status = crew__status_of(crew__rec_load(t));
    crew__task_put(ex, t);
    return 0;
}

int crew_release(crew_t *ex, crew_id_t id)
{
    crew__task_t *t;
    int rc;
    if (!crew__valid(ex))
        return CREW_EINVAL;
    t = crew__task_get(ex, id, false);
    if (!t)
        return CREW_ENOTASK;
    rc = crew__task_release(ex, t);
    crew__task_put(ex, t);
    return rc;
}

/* ---- fork-join ------------------------------------------------------------------ */

int crew_join_child(crew_id_t id, crew_status_t *status)
{
    crew_t *ex = crew_current();
    crew_status_t st = CREW_TASK_DONE;
    int rc;
    if (!ex)
        return CREW_ENOTINTASK;
    rc = crew_join(ex, id, status ? status : &st);
    if (rc != 0)
        return rc;
    st = status ? *status : st;
    return st == CREW_TASK_DONE ? 0 : st == CREW_TASK_FAILED ? CREW_EFAILED : CREW_ECHILDCANCELED;
}

/* ---- cancelling ------------------------------------------------------------ */

int crew_cancel(crew_t *ex, crew_id_t id, int code, const char *reason)
{
    crew__task_t *t;
    int rc;
    if (!crew__valid(ex))
        return CREW_EINVAL;
    /* A released ID is stale, except that a task may always cancel itself
     * (a detached task knows its ID only through crew_self()). */
    t = crew__task_get(ex, id, id == crew__self_id());
    if (!t)
        return CREW_ENOTASK;
    rc = crew__task_cancel(ex, t, code, reason, CREW_CAUSE_SELF);
    crew__task_put(ex, t);
    return rc;
}

int crew_cancel_id(crew_t *ex, crew_id_t id) { return crew_cancel(ex, id, 0, NULL); }

int crew_cancel_wait(crew_t *ex, crew_id_t id, int64_t timeout_ns, crew_status_t *status)
{
    crew__task_t *t;
    int64_t deadline;
    int rc = wait_begin(ex, id, timeout_ns, status, &t, &deadline);
    if (rc != 0)
        return rc;
    if (t == crew__tls_task) { /* an error changes nothing: check first */
        crew__task_put(ex, t);
        return CREW_EDEADLK;
    }
    rc = crew__task_cancel(ex, t, 0, NULL, CREW_CAUSE_SELF);
    if (rc > 0) {
        rc = wait_task(ex, t, deadline, true);
        if (rc == 0)
            *status = crew__status_of(crew__rec_load(t));
    }
    crew__task_put(ex, t);
    return rc;
}

/* ---- inspecting ------------------------------------------------------------- */

int crew_inspect(crew_t *ex, crew_id_t id, crew_task_info_t *out)
{
    crew__task_t *t;
    crew_task_info_t full, *info = &full;
    uint32_t s;
    crew_status_t st;
    if (!crew__valid(ex) || !out || !crew__size_ok(out->size, sizeof full))
        return CREW_EINVAL;
    t = crew__task_get(ex, id, false);
    if (!t)
        return CREW_ENOTASK;
    memset(info, 0, sizeof *info);
    s = crew__rec_load(t); /* acquire: pairs with the CASes that publish result and cause */
    st = crew__status_of(s);
    info->id = id;
    /* relaxed: the parent record stays allocated while t lives. */
    info->parent = t->parent ? atomic_load_explicit(&t->parent->id, memory_order_relaxed) : 0;
    info->group = t->group_id;
    info->status = st;
    info->cancel_requested = crew__word_req(s);
    if (crew__terminal(s) && st != CREW_TASK_CANCELLED)
        info->result = t->result;
    if (crew__word_has_cause(s)) {
        info->cause = (crew_cancel_cause_t)t->cause;
        info->cancel_code = t->cancel_code;
        memcpy(info->reason, t->reason, CREW_REASON_MAX);
        info->reason[CREW_REASON_MAX - 1] = '\0';
        if (st == CREW_TASK_CANCELLED && (t->flags & TF_RAN_CANCELLED))
            info->cancel_requested = true;
    } else if (st == CREW_TASK_RUNNING && crew__any_scope(ex)) {
        /* Running and cancelled through an ancestor, a group or shutdown:
         * the request has reached it; the source holds code and reason. */
        crew__cause_t why;
        if (crew__inherited_cancel(ex, t, &why)) {
            info->cancel_requested = true;
            info->cause = (crew_cancel_cause_t)why.cause;
            info->cancel_code = why.code;
            crew__copy_reason(info->reason, why.reason);
        }
    }
    if (st == CREW_TASK_CANCELLED && crew__word_req(s))
        info->result = t->result;
    crew__task_put(ex, t);
    crew__copy_sized(out, &full, sizeof full);
    return 0;
}

/* ---- groups ------------------------------------------------------------------ */

static bool group_done(void *ctx, bool arm, _Atomic uint32_t **word, uint32_t *val)
{
    crew_group_t *g = ctx;
    /* waiters was counted before the wait began (protocol step 1). */
    if (crew__group_empty(g))
        return true;
    if (arm) {
        *word = &g->pending;
        /* acquire: a 0 here ends the wait, so it must synchronise with the
         * members' decrements (group.c step 2) as crew__group_empty's
         * load does: the waiter then reads what the members wrote. (A
         * stale non-zero value only makes the futex return at once.)
         * With relaxed, ThreadSanitizer saw a member's write race with
         * the waiter's read after the wait. */
        *val = atomic_load_explicit(&g->pending, memory_order_acquire);
        if (*val == 0)
            return true;
    }
    return false;
}

int crew_group_wait(crew_group_t *g, int64_t timeout_ns, crew_status_t *status)
{
    int64_t deadline;
    int rc;
    if (!crew__group_ok(g) || !status)
        return CREW_EINVAL;
    if (crew__check_timeout(timeout_ns, &deadline) != 0)
        return CREW_EINVAL;
    crew__group_wait_begin(g);
    rc = crew__wait_until(g->ex, group_done, g, deadline, true);
    crew__group_wait_end(g);
    if (rc == 0)
        *status = crew__group_outcome(g);
    return rc;
}

int crew_group_join(crew_group_t *g, crew_status_t *status)
{
    if (!crew__group_ok(g) || !status)
        return CREW_EINVAL;
    crew__group_wait_begin(g);
    crew__wait_until(g->ex, group_done, g, -1, false); /* never gives up */
    crew__group_wait_end(g);
    *status = crew__group_outcome(g);
    return (crew__tls_task && crew_cancelled()) ? CREW_ECANCELED : 0;
}

int crew_group_cancel(crew_group_t *g, int code, const char *reason)
{
    if (!crew__group_ok(g))
        return CREW_EINVAL;
    return crew__group_cancel(g->ex, g, code, reason, CREW_CAUSE_GROUP);
}

/* ---- the calling context ------------------------------------------------------ */

crew_id_t crew__self_id(void)
{
    crew__task_t *t = crew__tls_task;
    if (!t || crew__tls_worker->fd.o.forks->in_frame)
        return 0; /* a forked child has no ID */
    /* relaxed: the caller's own record. */
    return atomic_load_explicit(&t->id, memory_order_relaxed);
}

crew_id_t crew_self(void)
{
    crew_id_t id = crew__self_id();
    if (id)
        crew__rec_show(crew__tls_task); /* a carrier's task: its ID now leaves the runner */
    return id;
}

crew_t *crew_current(void)
{
    return crew__tls_task && crew__tls_worker ? crew__tls_worker->ex : NULL;
}

int crew_worker_index(void) { return crew__tls_worker ? (int)crew__tls_worker->index : -1; }
