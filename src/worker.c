/*
 * worker.c - the policy for finding work, the worker loop, parking, and
 * waits that help instead of blocking.
 *
 * Finding work, in order: own deque (LIFO, hot in cache), own inbox
 * (private overflow, only when a deque could not grow), the injection
 * queue (take everything, run the oldest, push the rest on our deque where
 * others can steal it: we pop them oldest first, thieves take the newest),
 * then one pass over the other workers starting at a
 * random victim (steal FIFO). A worker that takes a batch or steals while
 * others sleep wakes one more, so parallelism spreads without every spawn
 * paying a wake-up (Go's "spinning thread" idea).
 *
 * Idle: spin a bounded number of rounds (yielding), then park with the
 * eventcount protocol of park.c: announce, re-check every queue, sleep.
 * A worker exits only when `stop` is set and it found no work after
 * announcing itself, so nothing queued is left behind (shutdown step 5,
 * executor.c).
 */
#include "worker.h"

#include <limits.h>
#include <sched.h>
#include <stddef.h>

#include "cancel.h"
#include "group.h"
#include "harness.h"
#include "interrupt.h"
#include "stats.h"

CREW_TLS crew__worker_t *crew__tls_worker;
CREW_TLS crew__task_t *crew__tls_task;
CREW_TLS _Atomic uint32_t *crew__tls_scopes;
CREW_API __thread struct crew__fj *crew__fj_cur __attribute__((tls_model("initial-exec")));

/* The calling thread works for w from now on (NULL: no longer): the TLS
 * the library and crew.h's inline fork and sync read. */
void crew__tls_enter(crew__worker_t *w)
{
    crew__tls_worker = w;
    crew__tls_scopes = w ? &w->ex->cancel_scopes : NULL;
    crew__fj_cur = w ? &w->fd.o : NULL;
}

static uint64_t next_rand(crew__worker_t *w)
{
    /* xorshift64*: cheap, per-worker, no shared state. */
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void crew__inbox_append(crew__worker_t *w, crew__task_t *t)
{
    t->next = NULL;
    if (w->inbox_tail)
        w->inbox_tail->next = t;
    else
        w->inbox = t;
    w->inbox_tail = t;
}

/* Report where w runs (a hint for unstack): written only when it changed,
 * so the compact cpu_of array is rarely written. */
static void note_cpu(struct crew *ex, crew__worker_t *w, int me)
{
    /* relaxed: a hint (unstack). */
    if (atomic_load_explicit(&ex->cpu_of[w->index], memory_order_relaxed) != me)
        atomic_store_explicit(&ex->cpu_of[w->index], me, memory_order_relaxed);
}

/* Wake one parked worker for work we just made visible. Our CPU report is
 * refreshed first (the wakee compares against it in unstack(); we may have
 * moved since), and we yield once after: if the kernel placed the wakee
 * on our CPU (it does when no CPU looks idle at that instant, e.g. while
 * the thread that submitted to us is still on its way to sleep), the
 * wakee runs now and moves itself to the free CPU, instead of waiting for
 * our time slice to end (1-5 ms measured on 2 vCPUs). Only when a sleeper
 * was woken; with nothing else runnable here the yield returns at once.
 * Not for pinned workers. */
static void wake_thief(struct crew *ex, crew__worker_t *w)
{
    bool pinned = (ex->flags & CREW_OPT_PIN) != 0;
    if (!pinned)
        note_cpu(ex, w, crew__cpu_now());
    if (crew__park_notify_one(&ex->park) && !pinned)
        sched_yield();
}

static crew__task_t *take_injected(struct crew *ex, crew__worker_t *w)
{
    /* The list comes newest first. Each record but the oldest goes onto
     * the deque as the walk meets it, so the owner pops them oldest first
     * and thieves take the newest; the oldest runs now. One pass: each
     * ->next is a record the submitter wrote on another CPU, a miss when
     * it ran far ahead. */
    crew__task_t *h = crew__inject_take_all(&ex->inject), *n;
    bool pushed = false, full = false;
    if (!h)
        return NULL;
    while ((n = h->next) != NULL) {
        /* The ring could not grow: the rest is kept private, with no
         * allocation tried again for each record. */
        if (!full && crew__deque_push(&w->dq, h)) {
            pushed = true;
        } else {
            full = true;
            crew__inbox_append(w, h);
        }
        h = n;
    }
    if (pushed)
        wake_thief(ex, w);
    return h;
}

/* Steal a frame from v's fork deque into a record of ours, or ask v to
 * share. */
static crew__task_t *steal_frame(struct crew *ex, crew__worker_t *w, crew__worker_t *v)
{
    crew__frame_t *f;
    crew__task_t *t;
    if (!crew__fdeque_has_shared(&v->fd)) {
        crew__fdeque_request(&v->fd);
        return NULL;
    }
    /* The record first: once the CAS wins, the frame must run. */
    if (!w->spare && !(w->spare = crew__pool_alloc(&ex->pool, &w->cache)))
        return NULL; /* out of memory: leave the frame to its owner */
    f = crew__fdeque_steal(&v->fd);
    if (!f)
        return NULL;
    t = w->spare;
    w->spare = NULL;
    crew__frame_promote(ex, w, t, f);
    return t;
}

static crew__task_t *find_work(struct crew *ex, crew__worker_t *w)
{
    crew__task_t *t = crew__deque_pop(&w->dq);
    unsigned n = ex->nslots, start; /* the guest's deques too */
    if (t)
        return t;
    if (w->inbox) {
        t = w->inbox;
        w->inbox = t->next;
        if (!w->inbox)
            w->inbox_tail = NULL;
        return t;
    }
    t = take_injected(ex, w);
    if (t)
        return t;
    start = (unsigned)(next_rand(w) % n);
    for (unsigned i = 0; i < n; i++) {
        crew__worker_t *v = &ex->workers[(start + i) % n];
        void *x;
        crew__steal_t r;
        if (v == w)
            continue;
        CREW__COUNT(ex, w, steal_attempts, 1);
        do
            r = crew__deque_steal(&v->dq, &x);
        while (r == CREW__STEAL_LOST);
        if (r == CREW__STEAL_OK) {
            CREW__COUNT(ex, w, steals, 1);
            CREW__OBS(ex, w, CREW__EV_STEAL, crew__obs_id(x), v->index);
            if (crew__deque_size(&v->dq) > 0 && crew__park_has_sleepers(&ex->park))
                wake_thief(ex, w);
            return x;
        }
        if ((x = steal_frame(ex, w, v)) != NULL) {
            CREW__COUNT(ex, w, steals, 1);
            CREW__OBS(ex, w, CREW__EV_STEAL, crew__obs_id(x), v->index);
            return x;
        }
    }
    return NULL;
}

/* Work queued where another worker could take it: the injection queue,
 * the other workers' deques and shared frames. The caller fences. */
static bool work_elsewhere(struct crew *ex, crew__worker_t *w)
{
    if (!crew__inject_empty(&ex->inject))
        return true;
    for (unsigned i = 0; i < ex->nslots; i++)
        if (&ex->workers[i] != w && (crew__deque_size(&ex->workers[i].dq) > 0 ||
                                     crew__fdeque_has_shared(&ex->workers[i].fd)))
            return true;
    return false;
}

static bool any_work(struct crew *ex, crew__worker_t *w)
{
    /* seq_cst fence: step 3 of the park protocol reads the queues after
     * step 2's announcement. Without it these loads could be satisfied
     * before the announcement is visible, and a producer that missed our
     * announcement could also be missed here. */
    CREW_FENCE_SEQ_CST();
    return w->inbox || crew__deque_size(&w->dq) > 0 || work_elsewhere(ex, w);
}

/* Step 6 of the park protocol (park.c): back from idle, or from a helping
 * wait's sleep, with a task to run or an answer. A producer may have
 * skipped its wake-up because we were spinning, or its wake-up may have
 * woken us: work still queued elsewhere is then handed on to a sleeper,
 * since what we run next may block until that work runs. */
static CREW_NOINLINE void pass_on(struct crew *ex, crew__worker_t *w)
{
    /* seq_cst fence: sleepers and the queues are read after our spin_end,
     * our step-3 re-scan or the wake-up (each seq_cst), as in step 3. A
     * worker that announces itself after we read no sleepers re-scans
     * after that, and finds the work itself. */
    CREW_FENCE_SEQ_CST();
    if (crew__park_has_sleepers(&ex->park) && work_elsewhere(ex, w))
        crew__park_notify_one(&ex->park);
}

/* After a wake-up (and at a worker's start), in an idle spin whose yield
 * took a time slice (idle() below), and when a worker starts a parallel
 * loop (crew__worker_unstack): if another worker
 * reported the CPU we run on (the kernel placed us beside it, and neither
 * its idle balancer nor its periodic one moves a cache-hot thread for
 * milliseconds), move to an allowed CPU no worker reported. Without it two
 * workers share one CPU while another idles (seen as a second worker that
 * joins a parallel loop late and then runs at half speed). Then report
 * where we run. Not after every spin that found work: that can happen once
 * per task when tasks trickle in. Hints only: a stale report costs a
 * needless move or a missed one. Off for pinned workers. */
static void unstack(struct crew *ex, crew__worker_t *w)
{
    int busy[64], me = crew__cpu_now();
    unsigned n = 0;
    bool stacked = false;
    if (me < 0 || (ex->flags & CREW_OPT_PIN) || ex->nworkers > 64)
        return;
    for (unsigned i = 0; i < ex->nworkers; i++) {
        /* relaxed: a hint (see above). */
        int c = i == w->index ? -1 : atomic_load_explicit(&ex->cpu_of[i], memory_order_relaxed);
        busy[n++] = c;
        stacked |= c == me;
    }
    if (stacked && crew__move_off(busy, n)) {
        CREW__COUNT(ex, w, unstacks, 1);
        me = crew__cpu_now();
    }
    note_cpu(ex, w, me);
}

void crew__worker_unstack(struct crew *ex)
{
    crew__worker_t *w = crew__tls_worker;
    if (w && w->ex == ex && w->index < ex->nworkers)
        unstack(ex, w);
}

/* Park (protocol in park.c). Returns true if the worker should exit. */
static bool idle(struct crew *ex, crew__worker_t *w)
{
    uint32_t key;
    crew__group_flush(ex, w); /* deferred member counts (group.c, step 3) */
    /* Out of work: a shutdown waiting for quiescence re-counts now, not
     * after our spin (shutdown step 4, executor.c). */
    crew__notify_quiesce(ex);
    if (w->spare) { /* an idle worker holds no record */
        crew__pool_recycle(&ex->pool, &w->cache, w->spare);
        w->spare = NULL;
    }
    crew__pool_flush(&ex->pool, &w->cache);
    crew__park_spin_begin(&ex->park);
    for (unsigned i = 0; i < ex->spin; i++) {
        if (any_work(ex, w)) {
            crew__park_spin_end(&ex->park);
            return false;
        }
        /* relaxed: a hint; the decision is the acquire load below, after
         * the announcement and the last scan. Without it crew_destroy
         * waits out every round (a yield can cost a time slice when the
         * CPUs are busy: 49 ms a destroy with two other busy processes on
         * 2 vCPUs, 2.5 ms with this check). */
        if (atomic_load_explicit(&ex->stop, memory_order_relaxed))
            break;
        /* Yield rather than pause: when threads outnumber cores (the
         * submitting thread among them) a spinning worker would take the
         * core the producer needs; with a free core, yield returns at once.
         * A yield that took a time slice means another thread ran on our
         * CPU: if it is a busy worker, move. A worker that never parks (it
         * finds work again within its spin, as in a loop of parallel
         * loops) is otherwise never unstacked: seen as stencil sweeps at
         * one worker's speed for the rest of a run after the kernel moved
         * the idle worker beside the busy one. */
        if (i & 1) {
            int64_t t0 = crew__now_ns();
            sched_yield();
            if (crew__now_ns() - t0 > CREW_YIELD_SLICE_NS)
                unstack(ex, w);
        } else
            for (int k = 0; k < 16; k++)
                crew__cpu_relax();
    }
    crew__park_spin_end(&ex->park);
    key = crew__park_prepare(&ex->park);
    if (any_work(ex, w)) {
        crew__park_done(&ex->park);
        return false;
    }
    /* acquire: pairs with the release store in crew__workers_stop; the
     * queues were checked empty above, after our announcement. */
    if (atomic_load_explicit(&ex->stop, memory_order_acquire)) {
        crew__park_done(&ex->park);
        return true;
    }
    CREW__COUNT(ex, w, parks, 1);
    CREW__OBS(ex, w, CREW__EV_PARK, 0, 0);
    /* relaxed: a hint (unstack): a parked worker occupies no CPU. */
    atomic_store_explicit(&ex->cpu_of[w->index], -1, memory_order_relaxed);
    crew__park_sleep(&ex->park, key, -1);
    CREW__OBS(ex, w, CREW__EV_UNPARK, 0, 0);
    crew__park_done(&ex->park);
    /* relaxed: a hint; woken to exit, a move is wasted (a migration
     * costs up to milliseconds when the target CPU is busy). */
    if (!atomic_load_explicit(&ex->stop, memory_order_relaxed))
        unstack(ex, w);
    return false;
}

static void *worker_main(void *arg)
{
    crew__worker_t *w = arg;
    struct crew *ex = w->ex;
    crew__tls_enter(w);
    if (ex->flags & CREW_OPT_PIN)
        crew__pin_self(w->index);
    unstack(ex, w);
    crew__obs_born(w);
    bool back = false; /* idle() returned: pass on at the next task */
    for (;;) {
        crew__task_t *t = find_work(ex, w);
        bool stop;
        if (t) {
            if (CREW_UNLIKELY(back)) {
                back = false;
                pass_on(ex, w);
            }
            crew__task_run(ex, w, t, false);
            continue;
        }
        crew__obs_idle(w, true); /* idle time (stats.h) */
        stop = idle(ex, w);
        crew__obs_idle(w, false);
        if (stop)
            break;
        back = true;
    }
    crew__tls_enter(NULL);
    return NULL;
}

/* ---- running tasks and forks ------------------------------------------------- */

/* The outcome of one fork, added to the running task's tallies. */
static inline void tally(crew__forks_t *k, crew_status_t st, int rc)
{
    if (CREW_LIKELY(st == CREW_TASK_DONE)) {
        k->done++;
        return;
    }
    if (st == CREW_TASK_FAILED) {
        if (!k->failed)
            k->first_failure = rc;
        k->failed++;
    } else {
        k->cancelled++;
    }
    if (!k->first_bad)
        k->first_bad = st;
}

static CREW_NOINLINE bool parent_cancelled(struct crew *ex)
{
    return crew__is_cancelled(ex, crew__tls_task, NULL);
}

/* A fork child c returned: sync the forks it left unsynced and close the
 * registrations and regions it left open, with its tallies still current
 * (as run_body does for a task). */
static inline void child_leftovers(struct crew *ex, crew__worker_t *w, crew__forks_t *c)
{
    if (CREW_UNLIKELY(w->fd.o.head != c->base))
        crew__fork_sync(ex, w);
    if (CREW_UNLIKELY(c->ncb | c->irq_depth))
        crew__body_leftovers(ex, w, c);
}

/* A fork child's outcome once it returned rc: as for any task, cancelled
 * while it ran -> CANCELLED, whatever rc. */
static inline crew_status_t child_outcome(struct crew *ex, int rc)
{
    if (CREW_UNLIKELY(crew__any_scope(ex)) && parent_cancelled(ex))
        return CREW_TASK_CANCELLED;
    return rc ? CREW_TASK_FAILED : CREW_TASK_DONE;
}

static inline crew_status_t fork_call(struct crew *ex, crew__worker_t *w, crew_fn fn, void *arg,
                                      int *rc)
{
    crew__forks_t forks = {.base = w->fd.o.head, .in_frame = true}, *saved = w->fd.o.forks;
    /* A fork child of a cancelled task never starts (its cancellation is
     * its parent's: it has no ID and no group of its own). */
    if (CREW_UNLIKELY(crew__any_scope(ex)) && parent_cancelled(ex)) {
        *rc = 0;
        return CREW_TASK_CANCELLED;
    }
    bool irq = crew__irq_suspend(ex, w); /* the parent's region, if open */
    w->fd.o.forks = &forks;
    *rc = fn(arg);
    child_leftovers(ex, w, &forks);
    w->fd.o.forks = saved;
    if (CREW_UNLIKELY(irq))
        crew__irq_reopen(ex, w);
    return child_outcome(ex, *rc);
}

static bool frame_done(void *ctx, bool arm, _Atomic uint32_t **word, uint32_t *val)
{
    crew__frame_t *f = ctx;
    /* acquire: pairs with the thief's DONE exchange; we then read status. */
    uint32_t s = atomic_load_explicit(&f->state, memory_order_acquire);
    while ((s & ~(uint32_t)CREW__FRAME_WAITER) != CREW__FRAME_DONE) {
        if (!arm || (s & CREW__FRAME_WAITER)) {
            if (arm) {
                *word = &f->state;
                *val = s;
            }
            return false;
        }
        /* seq_cst: the thief's exchange then sees WAITER and wakes the
         * parked workers (park.c step c); acquire on failure: re-check. */
        if (atomic_compare_exchange_weak_explicit(&f->state, &s, s | CREW__FRAME_WAITER,
                                                  memory_order_seq_cst, memory_order_acquire))
            s |= CREW__FRAME_WAITER;
    }
    return true;
}

/* Stolen: wait (helping) until its thief marks it DONE. */
static CREW_NOINLINE crew_status_t sync_stolen(struct crew *ex, crew__worker_t *w, crew__frame_t *f,
                                               int *rc)
{
    crew__wait_until(ex, frame_done, f, -1, false);
    *rc = f->result;
    crew__fdeque_stolen_done(&w->fd);
    return (crew_status_t)f->status;
}

/* Sync one frame, the newest (head - 1). */
static inline void sync_one(struct crew *ex, crew__worker_t *w)
{
    crew__frame_t *f = &w->fd.o.dq[w->fd.o.head - 1];
    crew_status_t st;
    int rc;
    if (CREW_LIKELY(crew__fdeque_take(&w->fd) == CREW__TAKE_OURS)) {
        /* Ours: its slot is free again, and the child's own forks reuse it,
         * so run it from a copy (fn, arg, and the payload if arg points
         * there). */
        crew_fn fn = f->fn;
        void *arg = f->arg;
        _Alignas(8) unsigned char copy[CREW__FRAME_PAYLOAD];
        if (CREW_UNLIKELY(arg == (void *)f->payload)) {
            __builtin_memcpy(copy, f->payload, sizeof copy);
            arg = copy;
        }
        st = fork_call(ex, w, fn, arg, &rc);
    } else {
        st = sync_stolen(ex, w, f, &rc);
    }
    tally(w->fd.o.forks, st, rc);
}

void crew__fork_sync(struct crew *ex, crew__worker_t *w)
{
    while (w->fd.o.head > w->fd.o.forks->base)
        sync_one(ex, w);
}

/* ---- fork-join: the public calls -------------------------------------------- */

/* Deep enough that nobody wants more work, or out of frames: the fork
 * runs now as a plain call (still a child: cancellation, outcome, sync). */
static CREW_NOINLINE int fork_now(crew__worker_t *w, crew_fn fn, void *arg, const void *payload,
                                  size_t size)
{
    _Alignas(8) unsigned char copy[CREW__FRAME_PAYLOAD];
    crew_status_t st;
    int rc;
    if (payload) {
        __builtin_memcpy(copy, payload, size);
        arg = copy;
    }
    st = fork_call(w->ex, w, fn, arg, &rc);
    tally(w->fd.o.forks, st, rc);
    return 0;
}

static CREW_NOINLINE void fork_shared(crew__worker_t *w)
{
    if (crew__fdeque_share(&w->fd) && crew__park_has_sleepers(&w->ex->park))
        wake_thief(w->ex, w); /* frames were shared */
}

_Static_assert(CREW__FRAME_PAYLOAD == CREW_FORK_PAYLOAD_MAX, "crew.h promises the frame's payload");

/* The fork: the child's frame goes on this worker's fork deque (fdeque.h),
 * with no record, no ID and no lock; the next crew_sync (or the end of the
 * task) joins it. */
static inline int fork_frame(crew_fn fn, void *arg, const void *payload, size_t size)
{
    crew__worker_t *w = crew__tls_worker;
    crew__frame_t *f;
    uint32_t ask;
    if (CREW_UNLIKELY(!w || !crew__tls_task))
        return CREW_ENOTINTASK;
    if (CREW_UNLIKELY(!fn || size > CREW__FRAME_PAYLOAD))
        return CREW_EINVAL;
    f = crew__fdeque_slot(&w->fd);
    /* relaxed: a hint; a thief asking, or any worker idle, means share:
     * a frame stays private until its owner's next fork or sync, so one
     * forked while a worker idles must be offered now. */
    ask = atomic_load_explicit(&w->fd.movesplit, memory_order_relaxed) |
          crew__park_any_idle(&w->ex->park);
    if (CREW_UNLIKELY(!f || (!ask && crew__fdeque_private(&w->fd) >= CREW_FORK_INLINE_DEPTH)))
        return fork_now(w, fn, arg, payload, size);
    f->fn = fn;
    if (payload) {
        __builtin_memcpy(f->payload, payload, size);
        arg = f->payload;
    }
    f->arg = arg;
    f->parent = crew__tls_task;
    /* Its state word is set by the share that may hand it to a thief
     * (fdeque.h step 1). */
    w->fd.o.head++;
    if (CREW_UNLIKELY(ask))
        fork_shared(w);
    return 0;
}

int crew__fork(crew_fn fn, void *arg) { return fork_frame(fn, arg, NULL, 0); }

int crew_fork_copy(crew_fn fn, const void *payload, size_t size)
{
    if (!payload && size)
        return CREW_EINVAL;
    return fork_frame(fn, NULL, payload ? payload : (const void *)"", payload ? size : 0);
}

int crew_sync(crew_sync_result_t *r)
{
    crew__worker_t *w = crew__tls_worker;
    crew__forks_t *k;
    if (CREW_UNLIKELY(!w || !crew__tls_task))
        return CREW_ENOTINTASK;
    k = w->fd.o.forks;
    /* Waits for every child, even if we are cancelled. */
    while (w->fd.o.head > k->base)
        sync_one(w->ex, w);
    if (r) {
        r->status = k->first_bad ? k->first_bad : CREW_TASK_DONE;
        r->done = k->done;
        r->failed = k->failed;
        r->cancelled = k->cancelled;
        r->first_failure = k->failed ? k->first_failure : 0;
    }
    if (CREW_UNLIKELY(k->first_bad)) {
        k->failed = k->cancelled = 0;
        k->first_bad = 0;
    }
    k->done = 0;
    /* relaxed: step 1 of the check protocol (cancel.c), inline. */
    if (CREW_UNLIKELY(atomic_load_explicit(&w->ex->cancel_scopes, memory_order_relaxed)) &&
        crew_cancelled())
        return CREW_ECANCELED;
    return 0;
}

int crew__sync_ok(void)
{
    crew_sync_result_t r;
    int rc = crew_sync(&r);
    if (rc != 0)
        return rc;
    if (r.failed)
        return CREW_EFAILED;
    if (r.cancelled)
        return CREW_ECHILDCANCELED;
    return 0;
}

/* The out-of-line steps of crew.h's inline crew_sync_ok(), which mirrors
 * sync_one()/fork_call() for a private frame while nothing is cancelled
 * and no region is open. They run on a worker inside a task: the inline
 * path checked crew__fj_cur and its forks. */

/* A frame the inline path does not take: the whole of sync_one(). */
void crew__sync_one(void)
{
    crew__worker_t *w = crew__tls_worker;
    sync_one(w->ex, w);
}

/* crew_sync_ok()'s inline child c returned rc, and something is left to
 * do: as fork_call(), sync what it left unsynced and close what it left
 * open (with its own tallies, still current), restore the caller's
 * tallies (c->up), and add its outcome to them unless it simply ended
 * DONE. */
_Static_assert(offsetof(crew__forks_t, ncb) == offsetof(crew__forks_t, irq_depth) + 2 &&
                   offsetof(crew__forks_t, irq_depth) % 4 == 0,
               "crew_sync_ok() reads irq_depth and ncb as one 32-bit word");
void crew__fork_after(int rc, crew__forks_t *c)
{
    crew__worker_t *w = crew__tls_worker;
    child_leftovers(w->ex, w, c);
    w->fd.o.forks = c->up;
    if (rc || crew__any_scope(w->ex))
        tally(c->up, child_outcome(w->ex, rc), rc);
}

int crew__workers_start(struct crew *ex)
{
    for (unsigned i = 0; i < ex->nworkers; i++) {
        crew__worker_t *w = &ex->workers[i];
        if (crew__thread_create(&w->thread, worker_main, w) != 0) {
            crew__workers_stop(ex);
            return CREW_ETHREAD;
        }
        w->started = true;
    }
    return 0;
}

void crew__workers_stop(struct crew *ex)
{
    /* release: pairs with the acquire load in idle(). */
    atomic_store_explicit(&ex->stop, true, memory_order_release);
    crew__park_notify_all(&ex->park);
    for (unsigned i = 0; i < ex->nworkers; i++) {
        crew__worker_t *w = &ex->workers[i];
        if (w->started) {
            pthread_join(w->thread, NULL);
            w->started = false;
        }
    }
}

/* help_until returns rc: a wake-up that came to it while it slept may
 * have been meant for the work it leaves queued (park.c step 6). */
static inline int help_leave(struct crew *ex, crew__worker_t *w, bool woke, int rc)
{
    if (CREW_UNLIKELY(woke))
        pass_on(ex, w);
    return rc;
}

/* On a worker: run other tasks until done. When nothing is runnable, park
 * like an idle worker (park.c protocol); whoever makes done() true wakes
 * parked workers (notify_all), and so does a cancel that may concern the
 * waiting task. */
static int help_until(struct crew *ex, crew__worker_t *w, crew__wait_fn done, void *ctx,
                      int64_t deadline, bool stop_on_cancel)
{
    unsigned spins = 0;
    bool check_cancel = stop_on_cancel && crew__tls_task;
    bool woke = false; /* slept: pass on before the next task or return */
    for (;;) {
        crew__task_t *t;
        _Atomic uint32_t *word;
        uint32_t val, key;
        /* Deferred member counts (group.c, step 3): what we may be waiting
         * for must not sit in our own word. */
        crew__group_flush(ex, w);
        if (done(ctx, false, NULL, NULL))
            return help_leave(ex, w, woke, 0);
        if (check_cancel && crew_cancelled())
            return help_leave(ex, w, woke, CREW_ECANCELED);
        t = find_work(ex, w);
        if (t) {
            if (CREW_UNLIKELY(woke)) { /* as help_leave */
                woke = false;
                pass_on(ex, w);
            }
            crew__task_run(ex, w, t, false);
            spins = 0;
            continue;
        }
        if (deadline >= 0 && crew__now_ns() >= deadline)
            return help_leave(ex, w, woke, CREW_ETIMEDOUT);
        if (++spins < ex->spin) {
            crew__cpu_relax();
            continue;
        }
        key = crew__park_prepare(&ex->park);
        if (any_work(ex, w) || done(ctx, true, &word, &val) || (check_cancel && crew_cancelled())) {
            crew__park_done(&ex->park);
            continue;
        }
        {
            int64_t left = -1;
            if (deadline >= 0) {
                left = deadline - crew__now_ns();
                if (left < 0)
                    left = 0;
            }
            crew__park_sleep(&ex->park, key, left);
        }
        crew__park_done(&ex->park);
        woke = true;
        spins = 0;
    }
}

int crew__wait_until(struct crew *ex, crew__wait_fn done, void *ctx, int64_t deadline,
                     bool stop_on_cancel)
{
    crew__worker_t *w = crew__self_worker(ex);
    if (done(ctx, false, NULL, NULL))
        return 0;
    if (w)
        return help_until(ex, w, done, ctx, deadline, stop_on_cancel);
    for (;;) {
        _Atomic uint32_t *word;
        uint32_t val;
        int64_t left = -1;
        if (done(ctx, true, &word, &val))
            return 0;
        if (deadline >= 0) {
            left = deadline - crew__now_ns();
            if (left <= 0)
                return CREW_ETIMEDOUT;
        }
        crew__futex_wait(word, val, left);
    }
}
