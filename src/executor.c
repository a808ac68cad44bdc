/*
 * executor.c - lifecycle: create, shutdown, destroy; statistics and the
 * diagnostic dump.
 *
 * Shutdown protocol:
 *  1. mode := DRAIN or CANCEL; submissions from outside the executor are
 *     refused from now (tasks may still spawn: they are part of the work).
 *  2. In CANCEL mode a scope is counted before the mode is visible, so
 *     every check and every pop sees the executor-wide cancellation:
 *     running ones see crew_cancelled() == true, children are born
 *     cancelled, and (2b) a sweep removes every queued task at once
 *     (harness.c), whether or not a worker is free to pop it; the deque
 *     slots left behind are tombstones the workers discard.
 *  3. Wake every worker (park notify_all) so the queues drain.
 *  4. Wait until the ledger shows no live task and every queue slot
 *     consumed (stats.c): workers bump `quiesce` each time they go idle
 *     while someone waits, and the waiter re-counts. (4b) If the timer
 *     thread is inside a round, wait until it ends (timer.h step 6): a
 *     deadline it took just before its task or batch ended is fired into
 *     nothing live, but a batch's expiry holds a cancel scope until it
 *     drops its block. (A worker may still be freeing a batch's last
 *     record when every task is terminal: that scope goes with the block
 *     a moment later.) Then end the actors.
 *  5. crew_destroy: stop := true, notify_all, join the threads (worker.c:
 *     a worker exits only when stop is set and it found no work after
 *     announcing itself, so nothing queued is left behind); drop the group
 *     references of records never released; free everything.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor.h"
#include "cancel.h"
#include "deadline.h"
#include "interrupt.h"
#include <signal.h>
#include "fault.h"
#include "group.h"
#include "harness.h"
#include "observe.h"
#include "stats.h"
#include "worker.h"

static int workers_from_env(unsigned *n)
{
    const char *s = getenv("CREW_WORKERS");
    char *end;
    long v;
    if (!s || !*s)
        return 0;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < 1 || v > CREW_MAX_WORKERS)
        return CREW_EINVAL;
    *n = (unsigned)v;
    return 0;
}

static void free_executor(struct crew *ex)
{
    crew__observe_stop(ex); /* the watchdog reads records */
    crew__actors_fini(ex);
    if (ex->timer_ok)
        crew__timer_fini(&ex->timer, crew__deadline_drop);
    if (ex->irq_ok)
        crew__interrupt_fini(ex);
    crew__cancel_fini(ex);
    if (ex->workers) {
        for (unsigned i = 0; i < ex->nslots; i++) {
            crew__worker_t *w = &ex->workers[i];
            /* relaxed: single-threaded teardown. */
            if (atomic_load_explicit(&w->dq.ring, memory_order_relaxed))
                crew__deque_destroy(&w->dq);
            if (w->fd.o.dq)
                crew__fdeque_destroy(&w->fd);
        }
    }
    crew__pool_destroy(&ex->pool);
    crew__obs_fini(ex); /* after the set: its reader record */
    crew__free(ex->caches);
    crew__free(ex->cpu_of);
    crew__free(ex->workers);
    ex->magic = 0;
    crew__free(ex);
}

int crew_create(crew_t **out, const crew_options_t *opts)
{
    crew_options_t o = {.size = sizeof o};
    struct crew *ex;
    unsigned n;
    int rc = 0;
    if (!out)
        return CREW_EINVAL;
    *out = NULL;
    crew__fences_init(); /* before any executor exists (platform.h) */
    if (opts) {
        if (opts->size < sizeof(size_t) + sizeof(unsigned) || opts->size > sizeof o * 4)
            return CREW_EINVAL;
        memcpy(&o, opts, opts->size < sizeof o ? opts->size : sizeof o);
        o.size = sizeof o;
    }
    if (o.workers > CREW_MAX_WORKERS || (o.flags & ~(CREW_OPT_PIN | CREW_OPT_NO_CARRIERS)) ||
        o.spin > 1000000)
        return CREW_EINVAL;
    if (o.interrupt_signal && (o.interrupt_signal < SIGRTMIN || o.interrupt_signal > SIGRTMAX))
        return CREW_EINVAL;
    if (o.max_queued > INT32_MAX || o.full_policy > CREW_FULL_CALLER_RUNS || o.full_timeout < 0)
        return CREW_EINVAL;
    n = o.workers;
    if (n == 0) {
        n = crew__ncpu();
        if (n > CREW_MAX_WORKERS)
            n = CREW_MAX_WORKERS;
        if (workers_from_env(&n) != 0)
            return CREW_EINVAL;
    }
    ex = crew__calloc(1, sizeof *ex);
    if (!ex)
        return CREW_ENOMEM;
    ex->magic = CREW__MAGIC;
    crew__obs_init(ex);
    ex->nworkers = n;
    ex->nslots = n + 1;
    ex->spin = o.spin ? o.spin : CREW_SPIN_DEFAULT;
    ex->flags = o.flags;
    atomic_init(&ex->limit.max, o.max_queued);
    ex->full_policy = o.full_policy;
    ex->full_timeout = o.full_timeout ? o.full_timeout : -1;
    crew__actors_init(ex);
    crew__groups_init(ex);
    ex->fork_sync = crew__fork_sync;
    crew__inject_init(&ex->inject);
    crew__park_init(&ex->park);
    ex->workers = crew__calloc(n + 1, sizeof *ex->workers);
    ex->caches = crew__calloc(n + 1, sizeof *ex->caches);
    ex->cpu_of = crew__calloc(n + 1, sizeof *ex->cpu_of);
    if (!ex->workers || !ex->caches || !ex->cpu_of) {
        free_executor(ex);
        return CREW_ENOMEM;
    }
    for (unsigned i = 0; i <= n; i++) /* relaxed: before the threads */
        atomic_init(&ex->cpu_of[i], -1);
    for (unsigned i = 0; i <= n; i++)
        ex->caches[i] = &ex->workers[i].cache;
    rc = crew__pool_init(&ex->pool, ex->caches, n + 1);
    if (rc == 0)
        rc = crew__cancel_init(ex);
    if (rc == 0 && (rc = crew__timer_init(&ex->timer, crew__deadline_fire, ex)) == 0)
        ex->timer_ok = true;
    if (rc == 0 && (rc = crew__interrupt_init(ex, o.interrupt_signal)) == 0)
        ex->irq_ok = true;
    if (rc == 0)
        crew__test_mode_env(ex);
    for (unsigned i = 0; rc == 0 && i <= n; i++) { /* the guest slot too */
        crew__worker_t *w = &ex->workers[i];
        w->ex = ex;
        w->index = i;
        w->rng = 0x9e3779b97f4a7c15ULL * (i + 1) ^ ex->pool.uid;
        rc = crew__deque_init(&w->dq);
        crew__fdeque_init(&w->fd, CREW_FORK_FRAMES); /* allocates nothing */
        /* What the inline crew_fork()/crew_sync_ok() read besides the
         * deque (crew.h's struct crew__fj). */
        w->fd.o.scopes = &ex->cancel_scopes;
        w->fd.o.sleepers = &ex->park.sleepers;
        w->fd.o.spinning = &ex->park.spinning;
    }
    if (rc == 0)
        rc = crew__workers_start(ex);
    if (rc != 0) {
        free_executor(ex);
        return rc;
    }
    *out = ex;
    return 0;
}

unsigned crew_workers(const crew_t *ex) { return crew__valid(ex) ? ex->nworkers : 0; }

/* deadline: crew__now_ns() time, -1 for none. */
static int shutdown_until(crew_t *ex, crew_shutdown_mode_t mode, int64_t deadline)
{
    int cur;
    if (!crew__valid(ex) || (mode != CREW_DRAIN && mode != CREW_CANCEL))
        return CREW_EINVAL;
    if (crew__self_worker(ex))
        return CREW_EDEADLK;
    cur = crew__mode(ex);
    if (mode == CREW_CANCEL && cur != CREW__MODE_CANCEL) {
        /* Step 2: the executor-wide scope, counted before the mode is
         * visible (as every canceller does). */
        crew__cset_lock(&ex->cset);
        /* relaxed: under the set mutex, which every escalation takes. */
        if (atomic_load_explicit(&ex->mode, memory_order_relaxed) != CREW__MODE_CANCEL) {
            crew__scope_add(ex);
            /* seq_cst: pairs with submitters' acquire (crew__mode). */
            atomic_store_explicit(&ex->mode, CREW__MODE_CANCEL, memory_order_seq_cst);
        }
        crew__cset_unlock(&ex->cset);
        crew__sweep(ex);         /* step 2b: queued tasks are CANCELLED now */
        crew__reach_running(ex); /* callbacks and interruptible regions */
    } else if (cur == CREW__MODE_RUNNING) {
        int expect = CREW__MODE_RUNNING;
        /* seq_cst: step 1; submitters read mode with acquire. */
        atomic_compare_exchange_strong_explicit(&ex->mode, &expect, CREW__MODE_DRAIN,
                                                memory_order_seq_cst, memory_order_relaxed);
    }
    /* Submitters waiting for room look again and see the shutdown. */
    crew__futex_wake(&ex->limit.used, INT_MAX);
    if (!crew__wait_quiescent_until(ex, deadline)) /* steps 3 and 4 */
        return CREW_ETIMEDOUT;      /* still shutting down: see crew_shutdown_timed */
    crew__timer_settle(&ex->timer); /* step 4b */
    crew__actors_shutdown(ex);
    return 0;
}

int crew_shutdown(crew_t *ex, crew_shutdown_mode_t mode) { return shutdown_until(ex, mode, -1); }

/* Steps 1-4 with a deadline on step 4. On time-out the mode stays set
 * (outside submissions refused; in CANCEL mode every task sees its
 * cancellation) and nothing is undone: a later call resumes at step 4,
 * crew_destroy waits there. The actors end only once every task has. */
int crew_shutdown_timed(crew_t *ex, crew_shutdown_mode_t mode, int64_t timeout_ns, crew_id_t *ids,
                        size_t cap, size_t *n)
{
    int64_t deadline;
    int rc;
    if (!crew__valid(ex) || !n || (!ids && cap) || (mode != CREW_DRAIN && mode != CREW_CANCEL) ||
        crew__check_timeout(timeout_ns, &deadline) != 0)
        return CREW_EINVAL;
    *n = 0;
    rc = shutdown_until(ex, mode, deadline);
    if (rc == CREW_ETIMEDOUT)
        *n = crew__live_ids(ex, ids, cap);
    return rc;
}

int crew_destroy(crew_t **exp)
{
    struct crew *ex;
    if (!exp || !crew__valid(*exp))
        return CREW_EINVAL;
    ex = *exp;
    if (crew__self_worker(ex))
        return CREW_EDEADLK;
    /* Live groups and actors are not an error: the shutdown below ends
     * their tasks, then their handles are freed (groups here, actors in
     * free_executor). */
    crew_shutdown(ex, crew__mode(ex) == CREW__MODE_CANCEL ? CREW_CANCEL : CREW_DRAIN);
    /* No task is live: stop the timer (its group entries drop their
     * references before the groups go). */
    crew__timer_fini(&ex->timer, crew__deadline_drop);
    ex->timer_ok = false;
    crew__test_mode_report(ex);
    crew__workers_stop(ex); /* step 5 */
    crew__drop_group_refs(ex);
    crew__groups_fini(ex);
    /* relaxed: the workers are stopped. */
    if (atomic_load_explicit(&ex->mode, memory_order_relaxed) == CREW__MODE_CANCEL)
        crew__scope_drop(ex);
    free_executor(ex);
    *exp = NULL;
    return 0;
}

int crew_stats(crew_t *ex, crew_stats_t *st)
{
    crew_stats_t full;
    /* Two versions: 0.1's struct ended at cancel_set_size; a caller built
     * against it gets the fields it knows. */
    if (!crew__valid(ex) || !st ||
        (st->size != offsetof(crew_stats_t, tasks_run) &&
         (st->size < sizeof full || !crew__size_ok(st->size, sizeof full))))
        return CREW_EINVAL;
    crew__stats_fill(ex, &full);
    crew__copy_sized(st, &full, sizeof full);
    return 0;
}

/* ---- test and diagnostic access (fault.h) --------------------------------- */

uint32_t crew__debug_cancel_scopes(crew_t *ex)
{
    /* relaxed: a test's snapshot, read at rest. */
    return crew__valid(ex) ? atomic_load_explicit(&ex->cancel_scopes, memory_order_relaxed) : 0;
}

int crew__debug_task_waiters(crew_t *ex, crew_id_t id)
{
    crew__task_t *t;
    int r;
    if (!crew__valid(ex))
        return CREW_EINVAL;
    t = crew__task_get(ex, id, true);
    if (!t)
        return CREW_ENOTASK;
    r = crew__word_waiters(crew__rec_load(t));
    crew__task_put(ex, t);
    return r;
}

struct dump_ctx {
    FILE *out;
    unsigned shown;
};

static bool dump_record(crew__task_t *t, void *ctx)
{
    struct dump_ctx *d = ctx;
    /* relaxed: a racy snapshot for humans. */
    if (crew__word_free(atomic_load_explicit(&t->state, memory_order_relaxed)))
        return true;
    crew__rec_dump(t, d->out);
    return ++d->shown < 32;
}

void crew__dump(crew_t *ex, FILE *out)
{
    crew_stats_t st;
    struct dump_ctx d = {out, 0};
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    if (!crew__valid(ex)) {
        fprintf(out, "crew: invalid executor %p\n", (void *)ex);
        return;
    }
    crew_stats(ex, &st);
    /* Relaxed loads throughout: a racy snapshot for humans. */
    fprintf(out,
            "crew %p: workers=%u mode=%d scopes=%u sleepers=%u inject=%s\n"
            "  submitted=%llu done=%llu failed=%llu cancelled=%llu removed=%llu"
            " live_tasks=%llu live_records=%llu cset=%llu groups=%u\n",
            (void *)ex, ex->nworkers, atomic_load_explicit(&ex->mode, memory_order_relaxed),
            (unsigned)atomic_load_explicit(&ex->cancel_scopes, memory_order_relaxed),
            (unsigned)atomic_load_explicit(&ex->park.sleepers, memory_order_relaxed),
            crew__inject_empty(&ex->inject) ? "empty" : "non-empty",
            (unsigned long long)st.submitted, (unsigned long long)st.done,
            (unsigned long long)st.failed, (unsigned long long)st.cancelled,
            (unsigned long long)st.removed, (unsigned long long)st.live_tasks,
            (unsigned long long)st.live_records, (unsigned long long)st.cancel_set_size,
            (unsigned)atomic_load_explicit(&ex->live_groups, memory_order_relaxed));
    crew__pool_walk(&ex->pool, dump_record, &d);
    for (unsigned i = 0; i < ex->nslots; i++)
        fprintf(out, "  worker %u: deque=%lld inbox=%s steals=%llu parks=%llu\n", i,
                (long long)crew__deque_size(&ex->workers[i].dq),
                ex->workers[i].inbox ? "yes" : "no",
                (unsigned long long)atomic_load_explicit(&ex->workers[i].c.steals,
                                                         memory_order_relaxed),
                (unsigned long long)atomic_load_explicit(&ex->workers[i].c.parks,
                                                         memory_order_relaxed));
}
