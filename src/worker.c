/*
 * worker.c - the policy for finding work, the worker loop, parking, and
 * waits that help instead of blocking.
 *
 * Finding work, in order: own deque (LIFO, hot in cache), own inbox
 * (private overflow, only when a deque could not grow), the injection
 * queue (take everything, run the oldest, push the rest on our deque where
 * others can steal it), then one pass over the other workers starting at a
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

#include "cancel.h"
#include "harness.h"
#include "stats.h"

CREW_TLS crew__worker_t *crew__tls_worker;
CREW_TLS crew__task_t *crew__tls_task;
CREW_TLS _Atomic uint32_t *crew__tls_scopes;

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

static crew__task_t *take_injected(struct crew *ex, crew__worker_t *w)
{
    crew__task_t *t = crew__inject_take_all(&ex->inject), *rest;
    if (!t)
        return NULL;
    rest = t->next;
    while (rest) {
        crew__task_t *n = rest->next;
        if (!crew__deque_push(&w->dq, rest)) {
            /* The ring could not grow: the rest stays private, in order. */
            while (rest) {
                n = rest->next;
                crew__inbox_append(w, rest);
                rest = n;
            }
            break;
        }
        rest = n;
    }
    if (t->next)
        crew__park_notify_one(&ex->park);
    return t;
}

static crew__task_t *find_work(struct crew *ex, crew__worker_t *w)
{
    crew__task_t *t = crew__deque_pop(&w->dq);
    unsigned n = ex->nworkers, start;
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
    if (n < 2)
        return NULL;
    start = (unsigned)(next_rand(w) % n);
    for (unsigned i = 0; i < n; i++) {
        crew__worker_t *v = &ex->workers[(start + i) % n];
        void *x;
        crew__steal_t r;
        if (v == w)
            continue;
        do
            r = crew__deque_steal(&v->dq, &x);
        while (r == CREW__STEAL_LOST);
        if (r == CREW__STEAL_OK) {
            CREW__COUNT(ex, w, steals, 1);
            if (crew__deque_size(&v->dq) > 0 && crew__park_has_sleepers(&ex->park))
                crew__park_notify_one(&ex->park);
            return x;
        }
    }
    return NULL;
}

static bool any_work(struct crew *ex, crew__worker_t *w)
{
    /* seq_cst fence: step 3 of the park protocol reads the queues after
     * step 2's announcement. Without it these loads could be satisfied
     * before the announcement is visible, and a producer that missed our
     * announcement could also be missed here. */
    CREW_FENCE_SEQ_CST();
    if (w->inbox || !crew__inject_empty(&ex->inject))
        return true;
    for (unsigned i = 0; i < ex->nworkers; i++)
        if (crew__deque_size(&ex->workers[i].dq) > 0)
            return true;
    return false;
}

/* Park (protocol in park.c). Returns true if the worker should exit. */
static bool idle(struct crew *ex, crew__worker_t *w)
{
    uint32_t key;
    crew__pool_flush(&ex->pool, &w->cache);
    crew__park_spin_begin(&ex->park);
    for (unsigned i = 0; i < ex->spin; i++) {
        if (any_work(ex, w)) {
            crew__park_spin_end(&ex->park);
            return false;
        }
        /* Yield rather than pause: when threads outnumber cores (the
         * submitting thread among them) a spinning worker would take the
         * core the producer needs; with a free core, yield returns at once. */
        if (i & 1)
            sched_yield();
        else
            for (int k = 0; k < 16; k++)
                crew__cpu_relax();
    }
    crew__park_spin_end(&ex->park);
    crew__notify_quiesce(ex);
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
    crew__park_sleep(&ex->park, key, -1);
    crew__park_done(&ex->park);
    return false;
}

static void *worker_main(void *arg)
{
    crew__worker_t *w = arg;
    struct crew *ex = w->ex;
    crew__tls_worker = w;
    crew__tls_scopes = &ex->cancel_scopes;
    if (ex->flags & CREW_OPT_PIN)
        crew__pin_self(w->index);
    for (;;) {
        crew__task_t *t = find_work(ex, w);
        if (t) {
            crew__task_run(ex, w, t, false);
            continue;
        }
        if (idle(ex, w))
            break;
    }
    crew__tls_worker = NULL;
    crew__tls_scopes = NULL;
    return NULL;
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

/* On a worker: run other tasks until done. When nothing is runnable, park
 * like an idle worker (park.c protocol); whoever makes done() true wakes
 * parked workers (notify_all), and so does a cancel that may concern the
 * waiting task. */
static int help_until(struct crew *ex, crew__worker_t *w, crew__wait_fn done, void *ctx,
                      int64_t deadline, bool stop_on_cancel)
{
    unsigned spins = 0;
    bool check_cancel = stop_on_cancel && crew__tls_task;
    for (;;) {
        crew__task_t *t;
        _Atomic uint32_t *word;
        uint32_t val, key;
        if (done(ctx, false, NULL, NULL))
            return 0;
        if (check_cancel && crew_cancelled())
            return CREW_ECANCELED;
        t = find_work(ex, w);
        if (t) {
            crew__task_run(ex, w, t, false);
            spins = 0;
            continue;
        }
        if (deadline >= 0 && crew__now_ns() >= deadline)
            return CREW_ETIMEDOUT;
        if (++spins < ex->spin) {
            crew__cpu_relax();
            continue;
        }
        key = crew__park_prepare(&ex->park);
        if (any_work(ex, w) || done(ctx, true, &word, &val) ||
            (check_cancel && crew_cancelled())) {
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
