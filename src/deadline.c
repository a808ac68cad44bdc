/*
 * deadline.c - deadlines (crew.h "Deadlines"): the public calls, what the
 * timer does when one passes, and the deterministic test mode.
 *
 * A deadline is a timer entry (timer.h) keyed by the task's or group's
 * ID. When it passes, the timer thread cancels that task or group exactly
 * as crew_cancel / crew_group_cancel would, with cause TIMEOUT: the rest
 * (removal of queued descendants, requests, callbacks, interruption) is
 * the cancel protocol's. The effective deadline of a task needs no
 * bookkeeping: an ancestor's or group's expiry reaches it as inherited
 * cancellation, reported as TIMEOUT (cancel.c).
 *
 * A task's entry is armed before the task is published (submit.c) or
 * while it is live, and disarmed when it ends (harness.c), so a deadline
 * that never fires costs one arm and one disarm. An arm that races with
 * the task's end may leave an entry for an ended task; it fires into an
 * ID lookup that fails (or a TOO_LATE) and is gone.
 */
#include "deadline.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "harness.h"
#include "interrupt.h"

int64_t crew_now(void) { return crew__now_ns(); }

void crew__deadline_fire(void *ctx, uint8_t kind, uint64_t key, void *obj)
{
    struct crew *ex = ctx;
    crew__task_t *t;
    switch (kind) {
    case CREW__TM_TASK:
        t = crew__task_get(ex, key, true);
        if (t) {
            (void)crew__task_cancel(ex, t, CREW_ETIMEDOUT, "deadline", CREW_CAUSE_TIMEOUT);
            crew__task_put(ex, t);
        }
        break;
    case CREW__TM_GROUP:
        (void)crew__group_cancel(ex, obj, CREW_ETIMEDOUT, "deadline", CREW_CAUSE_TIMEOUT);
        crew__group_unref(obj); /* the entry's reference */
        break;
    case CREW__TM_BATCH:
        crew__batch_expire(ex, obj);
        break;
    case CREW__TM_IRQ:
        crew__irq_rekick(ex, (unsigned)key);
        break;
    default:
        break;
    }
}

void crew__deadline_drop(void *ctx, uint8_t kind, void *obj)
{
    if (kind == CREW__TM_GROUP)
        crew__group_unref(obj);
    else if (kind == CREW__TM_BATCH)
        crew__batch_put(ctx, obj);
}

static bool bad_deadline(int64_t when)
{
    return when < 0 || (when > 0 && when - crew__now_ns() > CREW__FAR_NS);
}

/* The carrier of t (pinned, or the caller's own task) when t is a task of
 * a batch with a deadline that is still t's own, else NULL. */
static crew__carrier_t *batch_dl_of(crew__task_t *t, crew_id_t id)
{
    /* relaxed: BATCH is fixed while the record is pinned. */
    crew__carrier_t *c = crew__rec_carrier(t, crew__rec_peek(t));
    /* relaxed: own_dl only ever becomes this task's ID, by this file. */
    if (!c || !c->blk->when || atomic_load_explicit(&c->own_dl, memory_order_relaxed) == id)
        return NULL;
    return c;
}

/* t, a carried task, gets a deadline of its own (crew_set_deadline): the
 * batch's no longer applies to it. If the batch's already expired, the
 * cancellation it caused stays (made sticky as a request first). */
static int own_deadline(struct crew *ex, crew__task_t *t, crew__carrier_t *c, crew_id_t id)
{
    bool expired;
    crew__cset_lock(&ex->cset);
    /* relaxed: written under the mutex we hold. */
    expired = atomic_load_explicit(&c->blk->expired, memory_order_relaxed);
    if (!expired)
        /* relaxed: published to the checks by a later expiry's release
         * (after this mutex); before one, nobody reads it. */
        atomic_store_explicit(&c->own_dl, id, memory_order_relaxed);
    crew__cset_unlock(&ex->cset);
    if (expired) {
        int rc = crew__task_cancel(ex, t, CREW_ETIMEDOUT, "deadline", CREW_CAUSE_TIMEOUT);
        if (rc == CREW_ENOMEM)
            return rc;
        /* relaxed: the request (REQ) now cancels it whatever this says. */
        atomic_store_explicit(&c->own_dl, id, memory_order_relaxed);
    }
    return 0;
}

int crew_set_deadline(crew_t *ex, crew_id_t id, int64_t deadline)
{
    crew__worker_t *w = crew__self_worker(ex);
    crew__carrier_t *c;
    crew__task_t *t;
    int rc = 0;
    if (!crew__valid(ex) || bad_deadline(deadline))
        return CREW_EINVAL;
    t = crew__task_get(ex, id, id == crew__self_id());
    if (!t)
        return CREW_ENOTASK;
    c = batch_dl_of(t, id); /* a carried task: its batch's deadline goes */
    if (crew__terminal(crew__rec_load(t))) {
        rc = CREW_TOO_LATE;
    } else if (deadline == 0 || deadline <= crew__now_ns()) {
        if (c)
            rc = own_deadline(ex, t, c, id);
        if (rc == 0)
            (void)crew__disarm_task(ex, w, id);
        if (rc == 0 && deadline)
            rc = crew__task_cancel(ex, t, CREW_ETIMEDOUT, "deadline", CREW_CAUSE_TIMEOUT);
    } else {
        rc = crew__timer_arm(&ex->timer, CREW__TM_TASK, id, NULL, deadline, NULL);
        if (rc == 0 && c && (rc = own_deadline(ex, t, c, id)) != 0)
            (void)crew__disarm_task(ex, w, id); /* nothing changed */
        /* Ended meanwhile: its end may have missed our entry. */
        else if (rc == 0 && crew__terminal(crew__rec_load(t)))
            (void)crew__disarm_task(ex, w, id);
    }
    crew__task_put(ex, t);
    return rc;
}

/* t's own pending deadline: its batch's, or its timer entry's. */
static int64_t task_deadline(struct crew *ex, crew__task_t *t, crew_id_t id)
{
    crew__carrier_t *c = batch_dl_of(t, id);
    if (c) /* relaxed: a snapshot, as the timer's */
        return atomic_load_explicit(&c->blk->expired, memory_order_relaxed) ? 0 : c->blk->when;
    return crew__timer_get(&ex->timer, CREW__TM_TASK, id);
}

int crew_get_deadline(crew_t *ex, crew_id_t id, int64_t *deadline)
{
    crew__task_t *t;
    if (!crew__valid(ex) || !deadline)
        return CREW_EINVAL;
    t = crew__task_get(ex, id, id == crew__self_id());
    if (!t)
        return CREW_ENOTASK;
    *deadline = task_deadline(ex, t, id);
    crew__task_put(ex, t);
    return 0;
}

int crew_group_set_deadline(crew_group_t *g, int64_t deadline)
{
    struct crew *ex;
    void *old = NULL;
    int rc;
    if (!crew__group_ok(g) || bad_deadline(deadline))
        return CREW_EINVAL;
    ex = g->ex;
    if (deadline == 0 || deadline <= crew__now_ns()) {
        if (crew__timer_disarm(&ex->timer, CREW__TM_GROUP, g->id, &old))
            crew__group_unref(old);
        if (deadline == 0)
            return 0;
        rc = crew__group_cancel(ex, g, CREW_ETIMEDOUT, "deadline", CREW_CAUSE_TIMEOUT);
        return rc < 0 ? rc : 0;
    }
    crew__group_ref(g); /* the entry's */
    rc = crew__timer_arm(&ex->timer, CREW__TM_GROUP, g->id, g, deadline, &old);
    if (rc != 0)
        crew__group_unref(g);
    else if (old)
        crew__group_unref(old); /* moved: the old entry's */
    return rc;
}

int64_t crew_deadline(void)
{
    crew__worker_t *w = crew__tls_worker;
    crew__task_t *t = crew__tls_task, *a;
    crew_group_t *g, *seen = NULL;
    struct crew *ex;
    int64_t best = 0;
    if (!w || !t)
        return 0;
    ex = w->ex;
    if (!crew__timer_set_total(&ex->timer)) /* no deadline was ever set */
        return 0;
#define TAKE(x)                                                                                    \
    do {                                                                                           \
        int64_t d_ = (x);                                                                          \
        if (d_ && (!best || d_ < best))                                                            \
            best = d_;                                                                             \
    } while (0)
    for (a = t; a; a = a->parent) {
        /* Records on the chain stay allocated while a descendant lives
         * (cancel.c); relaxed: the ID of a live record does not change. */
        TAKE(task_deadline(ex, a, atomic_load_explicit(&a->id, memory_order_relaxed)));
        for (g = a->group; g && g != seen; g = g->parent)
            TAKE(crew__timer_get(&ex->timer, CREW__TM_GROUP, g->id));
        seen = a->group;
    }
#undef TAKE
    return best;
}

/* ---- the deterministic test mode ------------------------------------------ */

static bool fn_matches(struct crew *ex, crew_fn fn)
{
    Dl_info di;
    if (!ex->test_fn[0])
        return true;
    if (!dladdr((void *)(uintptr_t)fn, &di) || !di.dli_sname)
        return false;
    return strstr(di.dli_sname, ex->test_fn) != NULL;
}

static bool test_check(struct crew *ex, crew__worker_t *w, crew__task_t *t)
{
    crew__forks_t *k = w->fd.o.forks;
    uint64_t c, m;
    if (!k || !ex->test_n)
        return false;
    /* relaxed: the ID of our own running record. */
    if (ex->test_id && atomic_load_explicit(&t->id, memory_order_relaxed) != ex->test_id)
        return false;
    if (!fn_matches(ex, t->fn))
        return false;
    c = ++k->checks;
    /* relaxed: statistics for the report. */
    m = atomic_load_explicit(&ex->test_max_checks, memory_order_relaxed);
    while (c > m && !atomic_compare_exchange_weak_explicit(
                        &ex->test_max_checks, &m, c, memory_order_relaxed, memory_order_relaxed))
        ;
    if (c != ex->test_n)
        return false;
    atomic_fetch_add_explicit(&ex->test_fired, 1, memory_order_relaxed);
    /* A real cancellation, so the whole cancel path runs; an inline fork
     * child has no record of its own and only reports it. */
    if (!k->in_frame)
        (void)crew__task_cancel(ex, t, CREW_ECANCELED, "test mode", CREW_CAUSE_SELF);
    return true;
}

int crew_test_cancel_at(crew_t *ex, uint64_t n, const char *filter)
{
    bool was;
    if (!crew__valid(ex))
        return CREW_EINVAL;
    /* acquire: pairs with the release store below (a previous call). */
    was = atomic_load_explicit(&ex->test_check, memory_order_acquire) != NULL;
    ex->test_n = n;
    ex->test_id = 0;
    ex->test_fn[0] = '\0';
    if (filter && strncmp(filter, "id:", 3) == 0)
        ex->test_id = strtoull(filter + 3, NULL, 10);
    else if (filter)
        snprintf(ex->test_fn, sizeof ex->test_fn, "%s", filter);
    if (n && !was) {
        /* release: publishes the fields above to test_check's callers
         * (cancel.c loads the pointer with acquire); then the scope sends
         * every check to the slow path. */
        atomic_store_explicit(&ex->test_check, test_check, memory_order_release);
        crew__scope_add(ex);
    } else if (!n && was) {
        atomic_store_explicit(&ex->test_check, NULL, memory_order_release);
        crew__scope_drop(ex);
    }
    return 0;
}

uint64_t crew_test_cancel_fired(crew_t *ex)
{
    /* relaxed: a statistic. */
    return crew__valid(ex) ? atomic_load_explicit(&ex->test_fired, memory_order_relaxed) : 0;
}

void crew__test_mode_env(struct crew *ex)
{
    const char *v = getenv("CREW_TEST_CANCEL");
    char *end;
    unsigned long long n;
    if (!v || !*v)
        return;
    n = strtoull(v, &end, 10);
    if (n)
        crew_test_cancel_at(ex, n, *end == ':' ? end + 1 : NULL);
}

void crew__test_mode_report(struct crew *ex)
{
    const char *path = getenv("CREW_TEST_CANCEL_REPORT");
    FILE *f;
    if (!ex->test_n || !path || !*path || !(f = fopen(path, "a")))
        return;
    /* relaxed: the workers are stopped. */
    fprintf(f, "fired %llu max_checks %llu\n",
            (unsigned long long)atomic_load_explicit(&ex->test_fired, memory_order_relaxed),
            (unsigned long long)atomic_load_explicit(&ex->test_max_checks, memory_order_relaxed));
    fclose(f);
}
