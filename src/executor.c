/*
 * executor.c - lifecycle (create, shutdown, destroy) and the public calls
 * that compose the other modules: submit, spawn, wait, join, release,
 * cancel, inspect, statistics. The shutdown protocol is at the top of
 * worker.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "internal.h"

bool crew__valid(const struct crew *ex)
{
    return ex && ex->magic == CREW__MAGIC;
}

int crew__check_timeout(int64_t timeout_ns, int64_t *deadline)
{
    if (timeout_ns == CREW_FOREVER) {
        *deadline = -1;
        return 0;
    }
    if (timeout_ns < 0 || timeout_ns > CREW_TIMEOUT_MAX_NS)
        return CREW_EINVAL;
    *deadline = crew__now_ns() + timeout_ns;
    return 0;
}

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
    crew__actors_fini(ex);
    crew__cset_destroy(ex);
    if (ex->workers) {
        for (unsigned i = 0; i < ex->nworkers; i++) {
            crew__worker_t *w = &ex->workers[i];
            /* relaxed: single-threaded teardown. */
            if (atomic_load_explicit(&w->dq.ring, memory_order_relaxed))
                crew__deque_destroy(&w->dq);
        }
    }
    crew__pool_destroy(ex);
    crew__free(ex->workers);
    ex->magic = 0;
    crew__free(ex);
}

int crew_create(crew_t **out, const crew_options_t *opts)
{
    crew_options_t o = {sizeof o, 0, 0, 0};
    struct crew *ex;
    unsigned n;
    int rc;
    if (!out)
        return CREW_EINVAL;
    *out = NULL;
    if (opts) {
        if (opts->size < sizeof(size_t) + sizeof(unsigned) ||
            opts->size > sizeof o * 4)
            return CREW_EINVAL;
        memcpy(&o, opts, opts->size < sizeof o ? opts->size : sizeof o);
        o.size = sizeof o;
    }
    if (o.workers > CREW_MAX_WORKERS || (o.flags & ~CREW_OPT_PIN) ||
        o.spin > 1000000)
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
    ex->nworkers = n;
    ex->spin = o.spin ? o.spin : CREW_SPIN_DEFAULT;
    ex->flags = o.flags;
    crew__actors_init(ex);
    crew__inject_init(&ex->inject);
    crew__park_init(&ex->park);
    rc = crew__pool_init(ex);
    if (rc == 0)
        rc = crew__cset_init(ex);
    if (rc == 0) {
        ex->workers = crew__calloc(n, sizeof *ex->workers);
        if (!ex->workers)
            rc = CREW_ENOMEM;
    }
    for (unsigned i = 0; rc == 0 && i < n; i++) {
        crew__worker_t *w = &ex->workers[i];
        w->ex = ex;
        w->index = i;
        w->rng = 0x9e3779b97f4a7c15ULL * (i + 1) ^ ex->uid;
        rc = crew__deque_init(&w->dq);
        if (rc == 0)
            rc = crew__cset_register(ex, w);
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

unsigned crew_workers(const crew_t *ex)
{
    return crew__valid(ex) ? ex->nworkers : 0;
}

static uint64_t sum(struct crew *ex, size_t off)
{
    /* relaxed: counters; crew__live_tasks orders its passes with fences. */
    uint64_t s = atomic_load_explicit(
        (_Atomic uint64_t *)((char *)&ex->shared + off), memory_order_relaxed);
    for (unsigned i = 0; i < ex->nworkers; i++)
        s += atomic_load_explicit(
            (_Atomic uint64_t *)((char *)&ex->workers[i].c + off),
            memory_order_relaxed);
    return s;
}

#define SUM(ex, f) sum(ex, offsetof(crew__counters_t, f))

/* Exact when nothing is created concurrently except by live tasks: read
 * the finish counters first, then (after a fence) the creation counters.
 * A task is counted created before it is published and finished after it
 * is terminal, so finished_read <= finished(t) <= created(t) <=
 * created_read for the instant t between the two passes; equality means
 * no task was live at t, and only live tasks create tasks. */
uint64_t crew__live_tasks(struct crew *ex)
{
    uint64_t fin, created;
    CREW_FENCE_SEQ_CST();
    fin = SUM(ex, done) + SUM(ex, failed) + SUM(ex, cancelled);
    /* seq_cst fence: keeps the two passes in order (see above). */
    CREW_FENCE_SEQ_CST();
    created = SUM(ex, created);
    return created > fin ? created - fin : 0;
}

/* Quiescent: no live task, and every queue slot consumed (each created
 * task takes one slot; a slot of a task removed while queued is consumed
 * when a worker pops it and reclaims the record). Same two-pass argument
 * as crew__live_tasks: `dequeued` is counted after the popper is done
 * with the record. */
static bool quiescent(struct crew *ex)
{
    uint64_t deq, created;
    if (crew__live_tasks(ex) != 0)
        return false;
    CREW_FENCE_SEQ_CST();
    deq = SUM(ex, dequeued);
    CREW_FENCE_SEQ_CST();
    created = SUM(ex, created);
    return deq >= created;
}

static void wait_quiescent(struct crew *ex)
{
    /* seq_cst: pairs with crew__notify_quiesce's fence + load. */
    atomic_fetch_add_explicit(&ex->quiesce_waiters, 1, memory_order_seq_cst);
    crew__park_notify_all(&ex->park);
    for (;;) {
        uint32_t q = atomic_load_explicit(&ex->quiesce, memory_order_seq_cst);
        /* Also every queue slot consumed: slots of tasks removed while
         * queued are reclaimed when a worker pops them, so a shutdown
         * that returns leaves no record behind. */
        if (quiescent(ex))
            break;
        crew__futex_wait(&ex->quiesce, q, -1);
    }
    /* relaxed: leaving only makes later notifications unnecessary. */
    atomic_fetch_sub_explicit(&ex->quiesce_waiters, 1, memory_order_relaxed);
}

int crew_shutdown(crew_t *ex, crew_shutdown_mode_t mode)
{
    int cur;
    if (!crew__valid(ex) || (mode != CREW_DRAIN && mode != CREW_CANCEL))
        return CREW_EINVAL;
    if (crew__self_worker(ex))
        return CREW_EDEADLK;
    /* acquire: pairs with the seq_cst mode changes below (another shutdown). */
    cur = atomic_load_explicit(&ex->mode, memory_order_acquire);
    if (mode == CREW_CANCEL && cur != EX_CANCEL) {
        /* Step 2: the executor-wide scope, counted before the mode is
         * visible (as every canceller does). */
        pthread_mutex_lock(&ex->cset.mu);
        /* relaxed: under cset.mu, which every escalation takes. */
        if (atomic_load_explicit(&ex->mode, memory_order_relaxed) != EX_CANCEL) {
            /* seq_cst: the scope is counted before the mode is visible (cancel.c
             * check protocol step 1); the mode store pairs with submitters' acquire. */
            atomic_fetch_add_explicit(&ex->cancel_scopes, 1, memory_order_seq_cst);
            atomic_store_explicit(&ex->mode, EX_CANCEL, memory_order_seq_cst);
        }
        pthread_mutex_unlock(&ex->cset.mu);
    } else if (cur == EX_RUNNING) {
        int expect = EX_RUNNING;
        /* seq_cst: step 1; submitters read mode with acquire. */
        atomic_compare_exchange_strong_explicit(&ex->mode, &expect, EX_DRAIN,
                                                memory_order_seq_cst,
                                                memory_order_relaxed);
    }
    wait_quiescent(ex); /* steps 3 and 4 */
    crew__actors_shutdown(ex);
    return 0;
}

int crew_destroy(crew_t **exp)
{
    struct crew *ex;
    if (!exp || !crew__valid(*exp))
        return CREW_EINVAL;
    ex = *exp;
    if (crew__self_worker(ex))
        return CREW_EDEADLK;
    /* Live actors are not an error: the shutdown below ends them and
     * free_executor frees their structures (actor.c). */
    /* acquire: pairs with crew_group_destroy's handle count (same caller). */
    if (atomic_load_explicit(&ex->live_groups, memory_order_acquire) != 0)
        return CREW_EBUSY;
    /* relaxed: only this thread may call destroy; mode only grows. */
    crew_shutdown(ex, atomic_load_explicit(&ex->mode, memory_order_relaxed) ==
                              EX_CANCEL ? CREW_CANCEL : CREW_DRAIN);
    crew__workers_stop(ex); /* step 5 */
    crew__pool_drop_refs(ex);
    /* relaxed: the workers are stopped. */
    if (atomic_load_explicit(&ex->mode, memory_order_relaxed) == EX_CANCEL)
        atomic_fetch_sub_explicit(&ex->cancel_scopes, 1, memory_order_relaxed);
    free_executor(ex);
    *exp = NULL;
    return 0;
}

/* ---- submission --------------------------------------------------------- */

int crew__desc_check(struct crew *ex, const crew_task_desc_t *d)
{
    if (!d || !d->fn)
        return CREW_EINVAL;
    if (d->group) {
        if (d->group->magic != CREW__GROUP_MAGIC)
            return CREW_EINVAL;
        if (d->group->ex != ex)
            return CREW_EWRONGEXEC;
    }
    return 0;
}

/* The fields every new record gets (cause, cancel_code, reason and
 * result are written before they can be read, see task.h; next belongs to
 * the queues). The state word is published by the caller. */
static inline void fill_task(crew__task_t *t, crew_fn fn, void *arg,
                             crew_cleanup_fn cleanup, crew__task_t *parent,
                             crew_group_t *g)
{
    t->fn = fn;
    t->arg = arg;
    t->cleanup = cleanup;
    t->parent = parent;
    t->group = g;
    t->group_id = g ? g->id : 0;
    t->flags = 0;
    t->spawned = 0;
    t->joined_self = 0;
    t->owner = NULL;
    if (parent)
        parent->spawned++;
}

/* Fill a fresh record and publish its state. Returns true if it is born
 * cancelled; *born then says why (for born_cancelled). */
static bool init_task(struct crew *ex, crew__task_t *t, crew__task_t *parent,
                      const crew_task_desc_t *d, void *arg, bool joinable,
                      bool group_counted, crew__cause_t *born)
{
    crew_group_t *g = d->group ? d->group : (parent ? parent->group : NULL);
    fill_task(t, d->fn, arg, d->cleanup, parent, g);
    if (parent) {
        if (parent->group && g != parent->group) {
            t->flags |= TF_PGROUP_REF;
            crew__group_ref(parent->group);
        }
    }
    if (g && !group_counted)
        crew__group_add(g, 1);
    /* release: publishes the fields above to lookups by ID (whose acquire
     * CAS reads this store); queues publish them to workers as well. */
    atomic_store_explicit(&t->state,
                          T_QUEUED | (joinable ? 0 : T_RELEASED) | T_INQUEUE,
                          memory_order_release);
    /* relaxed: the fast path; see crew_cancelled(). */
    if (CREW_UNLIKELY(atomic_load_explicit(&ex->cancel_scopes, memory_order_relaxed))) {
        /* The parent's own request counts here too (its set entry), and
         * reaches the child as CREW_CAUSE_PARENT. */
        if (parent && crew__is_cancelled(ex, parent, &born->cause, &born->code,
                                         &born->reason)) {
            born->cause = CREW_CAUSE_PARENT;
            return true;
        }
        if (crew__inherited_cancel(ex, t, &born->cause, &born->code, &born->reason))
            return true;
    }
    return false;
}

/* Born cancelled: never queued; remove it at once (as a canceller would).
 * born->reason points into the group or ancestor that cancelled t, which
 * t keeps alive (it counts in the group; it keeps its parent's record). */
static void born_cancelled(struct crew *ex, crew__task_t *t, const crew__cause_t *born)
{
    uint32_t s;
    pthread_mutex_lock(&ex->cset.mu);
    t->cause = born->cause;
    t->cancel_code = born->code;
    crew__copy_reason(t->reason, born->reason);
    /* relaxed: validated by the CAS below. */
    s = atomic_load_explicit(&t->state, memory_order_relaxed);
    /* release: publishes the cause fields; nobody else can have won the
     * record yet except a lookup's reference, which the CAS preserves. */
    while (!atomic_compare_exchange_weak_explicit(
        &t->state, &s, (s & ~(T_PHASE | T_INQUEUE)) | T_REMOVING,
        memory_order_acq_rel, memory_order_relaxed))
        ;
    pthread_mutex_unlock(&ex->cset.mu);
    crew__task_finish_removed(ex, t, T_CANCELLED);
    CREW__COUNT(ex, crew__self_worker(ex), dequeued, 1); /* never queued */
}

bool crew__task_init(struct crew *ex, crew__task_t *t, crew__task_t *parent,
                     const crew_task_desc_t *d, bool joinable, crew__cause_t *born)
{
    return init_task(ex, t, parent, d, d->arg, joinable, false, born);
}

void crew__task_born_cancelled(struct crew *ex, crew__task_t *t,
                               const crew__cause_t *born)
{
    born_cancelled(ex, t, born);
}

int crew_submit_ex(crew_t *ex, const crew_task_desc_t *desc, crew_id_t *id)
{
    crew__worker_t *w;
    crew__task_t *t, *parent;
    crew__cause_t born;
    crew_id_t tid;
    int err = 0;
    if (!crew__valid(ex))
        return CREW_EINVAL;
    if ((err = crew__desc_check(ex, desc)) != 0)
        return err;
    w = crew__self_worker(ex);
    parent = w ? crew__tls_task : NULL; /* a spawn from inside a task */
    /* acquire: pairs with the seq_cst mode change in crew_shutdown. */
    if (!parent && atomic_load_explicit(&ex->mode, memory_order_acquire) != EX_RUNNING)
        return CREW_ESHUTDOWN;
    t = crew__task_alloc(ex, w);
    if (!t)
        return CREW_ENOMEM;
    /* relaxed: our own fresh record. */
    tid = atomic_load_explicit(&t->id, memory_order_relaxed);
    CREW__COUNT(ex, w, created, 1);
    if (id)
        *id = tid;
    if (CREW_UNLIKELY(init_task(ex, t, parent, desc, desc->arg, id != NULL, false,
                                &born))) {
        born_cancelled(ex, t, &born);
        return 0;
    }
    if (w) {
        crew__push_local(ex, w, t);
    } else {
        crew__inject_push(&ex->inject, t, t);
        crew__park_notify_one(&ex->park);
    }
    return 0;
}

int crew_submit(crew_t *ex, crew_fn fn, void *arg, crew_id_t *id)
{
    crew_task_desc_t d = {fn, arg, NULL, NULL};
    return crew_submit_ex(ex, &d, id);
}

/* The fork of fork-join, kept short: the caller is a running task, so
 * the executor is valid, submissions are open to it, the group is its
 * parent's, and the record comes from this worker's private list. */
int crew_spawn(crew_fn fn, void *arg, crew_id_t *id)
{
    crew__worker_t *w = crew__tls_worker;
    crew__task_t *parent = crew__tls_task, *t;
    struct crew *ex;
    uint64_t tid;
    if (CREW_UNLIKELY(!w || !parent))
        return CREW_ENOTINTASK;
    if (CREW_UNLIKELY(!fn))
        return CREW_EINVAL;
    ex = w->ex;
    /* relaxed: the fast path; see crew_cancelled(). Groups and a pending
     * cancellation take the general path (born-cancelled check, counts). */
    if (CREW_UNLIKELY(parent->group || atomic_load_explicit(&ex->cancel_scopes,
                                                            memory_order_relaxed))) {
        crew_task_desc_t d = {fn, arg, NULL, NULL};
        return crew_submit_ex(ex, &d, id);
    }
    t = crew__task_alloc(ex, w);
    if (CREW_UNLIKELY(!t))
        return CREW_ENOMEM;
    /* relaxed: our own fresh record. */
    tid = atomic_load_explicit(&t->id, memory_order_relaxed);
    fill_task(t, fn, arg, NULL, parent, NULL);
    /* release: as in init_task. */
    atomic_store_explicit(&t->state, T_QUEUED | T_INQUEUE | (id ? 0 : T_RELEASED),
                          memory_order_release);
    CREW__COUNT(ex, w, created, 1);
    if (id)
        *id = tid;
    crew__push_local(ex, w, t);
    return 0;
}

int crew_submit_batch(crew_t *ex, const crew_task_desc_t *desc,
                      void *const *args, size_t n, crew_id_t *ids)
{
    crew__worker_t *w;
    crew__task_t *parent, *head = NULL, *tail = NULL, *t;
    crew_group_t *batch_group;
    crew__cause_t born;
    int err = 0;
    size_t i;
    if (!crew__valid(ex))
        return CREW_EINVAL;
    if ((err = crew__desc_check(ex, desc)) != 0)
        return err;
    if (n == 0)
        return 0;
    if (!args || n > UINT32_MAX)
        return CREW_EINVAL;
    w = crew__self_worker(ex);
    parent = w ? crew__tls_task : NULL; /* a spawn from inside a task */
    /* acquire: pairs with the seq_cst mode change in crew_shutdown. */
    if (!parent && atomic_load_explicit(&ex->mode, memory_order_acquire) != EX_RUNNING)
        return CREW_ESHUTDOWN;
    /* All or nothing: take every record first. */
    for (i = 0; i < n; i++) {
        t = crew__task_alloc(ex, w);
        if (!t) {
            while (head) {
                crew__task_t *x = head;
                head = head->next;
                crew__task_recycle(ex, x);
            }
            return CREW_ENOMEM;
        }
        t->next = head;
        head = t;
    }
    /* One group count for the whole batch: one RMW on the group's line
     * instead of n. */
    batch_group = desc->group ? desc->group : (parent ? parent->group : NULL);
    if (batch_group)
        crew__group_add(batch_group, (uint32_t)n);
    /* head holds the records in reverse order of allocation; walk it
     * while filling args from the end, so `head` is rebuilt with args[0]
     * first, the order both publication paths below want. */
    t = head;
    head = NULL;
    for (i = n; i-- > 0;) {
        crew__task_t *x = t;
        t = t->next;
        if (ids)
            /* relaxed: our own fresh record. */
            ids[i] = atomic_load_explicit(&x->id, memory_order_relaxed);
        CREW__COUNT(ex, w, created, 1);
        if (init_task(ex, x, parent, desc, args[i], ids != NULL, batch_group != NULL,
                      &born)) {
            born_cancelled(ex, x, &born);
            continue;
        }
        x->next = head;
        if (!head)
            tail = x;
        head = x;
    }
    if (!head)
        return 0;
    if (w) {
        /* Own deque: thieves take args[0] first, the owner pops the last. */
        while (head) {
            crew__task_t *x = head;
            head = head->next;
            crew__push_local(ex, w, x);
        }
    } else {
        /* The injection queue wants newest first: reverse once. */
        crew__task_t *r = NULL;
        tail = head;
        while (head) {
            crew__task_t *x = head;
            head = head->next;
            x->next = r;
            r = x;
        }
        crew__inject_push(&ex->inject, r, tail);
        crew__park_notify_all(&ex->park);
    }
    return 0;
}

/* ---- waiting ------------------------------------------------------------ */

/* done() for helping waits on a task: true once terminal; with arm (the
 * helper is about to park), make sure WAITERS is set so the finisher wakes
 * parked workers. Arming earlier would make every out-of-order join cost
 * its target a futex wake. */
static bool task_done_ctx(void *ctx, bool arm)
{
    crew__task_t *t = ctx;
    /* acquire: pairs with the terminal CAS. */
    uint32_t s = atomic_load_explicit(&t->state, memory_order_acquire);
    if (!arm)
        return crew__terminal(s);
    while (!crew__terminal(s)) {
        if (s & T_WAITERS)
            return false;
        /* seq_cst: the finisher's CAS reads this and then (fence) our
         * announcement in the park protocol. */
        if (atomic_compare_exchange_weak_explicit(&t->state, &s, s | T_WAITERS,
                                                  memory_order_seq_cst,
                                                  memory_order_acquire))
            return false;
    }
    return true;
}

/* Wait for t to be terminal. stop_on_cancel: return CREW_ECANCELED if the
 * calling task is cancelled first. */
static int wait_task(struct crew *ex, crew__task_t *t, int64_t deadline,
                     bool stop_on_cancel)
{
    crew__worker_t *w = crew__self_worker(ex);
    /* acquire: pairs with the terminal CAS; the caller then reads the status. */
    if (crew__terminal(atomic_load_explicit(&t->state, memory_order_acquire)))
        return 0;
    if (w)
        return crew__help_until(ex, w, task_done_ctx, t, deadline, stop_on_cancel);
    for (;;) {
        /* acquire: pairs with the terminal CAS; we then read the status. */
        uint32_t s = atomic_load_explicit(&t->state, memory_order_acquire);
        int64_t left = -1;
        if (crew__terminal(s))
            return 0;
        if (!(s & T_WAITERS)) {
            /* acquire on failure: reload and re-check. */
            /* seq_cst on success: the finisher's CAS reads WAITERS and then wakes the
             * futex; acquire on failure: reload and re-check. */
            if (!atomic_compare_exchange_weak_explicit(&t->state, &s,
                                                       s | T_WAITERS,
                                                       memory_order_seq_cst,
                                                       memory_order_acquire))
                continue;
            s |= T_WAITERS;
        }
        if (deadline >= 0) {
            left = deadline - crew__now_ns();
            if (left <= 0)
                return CREW_ETIMEDOUT;
        }
        crew__futex_wait(&t->state, s, left);
    }
}

/* The common start of crew_wait and crew_cancel_wait: check the
 * arguments, compute the deadline, and pin the task (a reference). */
static int wait_begin(crew_t *ex, crew_id_t id, int64_t timeout_ns,
                      crew_status_t *status, crew__task_t **t, int64_t *deadline)
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
        crew__task_unref(ex, t);
        return CREW_EDEADLK;
    }
    rc = wait_task(ex, t, deadline, true);
    if (rc == 0)
        crew__task_wait_done(t, status);
    crew__task_unref(ex, t);
    return rc;
}

int crew_join(crew_t *ex, crew_id_t id, crew_status_t *status)
{
    crew__worker_t *w;
    crew__task_t *t, *self = crew__tls_task;
    uint32_t s;
    int rc;
    if (!crew__valid(ex) || !status)
        return CREW_EINVAL;
    /* The caller owns the handle, so the record cannot be freed under us
     * (it is not RELEASED); check the ID without taking a reference. */
    t = crew__slot_record(ex, id);
    if (!t)
        return CREW_ENOTASK;
    /* acquire: pairs with the publication / terminal CAS. */
    s = atomic_load_explicit(&t->state, memory_order_acquire);
    if (atomic_load_explicit(&t->id, memory_order_relaxed) != id ||
        crew__phase(s) == T_FREE || (s & T_RELEASED))
        return CREW_ENOTASK;
    if (t == self)
        return CREW_EDEADLK;
    w = crew__self_worker(ex);
    if (w && !crew__terminal(s) && crew__deque_peek(&w->dq) == t) {
        /* Fork-join fast path: the child is still on top of our deque.
         * Run it here and release it in its terminal CAS. */
        crew__task_t *x = crew__deque_pop(&w->dq);
        if (x == t) {
            uint32_t ph = crew__task_dequeued(ex, w, t, true);
            if (ph) {
                *status = (crew_status_t)ph;
                return (self && crew_cancelled()) ? CREW_ECANCELED : 0;
            }
        } else if (x) {
            crew__task_dequeued(ex, w, x, false);
        }
    }
    wait_task(ex, t, -1, false);
    /* acq_rel: as crew__task_release. */
    s = atomic_fetch_or_explicit(&t->state, T_RELEASED, memory_order_acq_rel);
    *status = (crew_status_t)crew__phase(s);
    if (crew__freeable(s | T_RELEASED))
        crew__task_free(ex, t);
    rc = (self && crew_cancelled()) ? CREW_ECANCELED : 0;
    return rc;
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
    crew__task_unref(ex, t);
    return rc;
}

int crew_cancel(crew_t *ex, crew_id_t id, int code, const char *reason)
{
    crew__task_t *t;
    int rc;
    if (!crew__valid(ex))
        return CREW_EINVAL;
    /* A released ID is stale, except that a task may always cancel itself
     * (a detached task knows its ID only through crew_self()). */
    t = crew__task_get(ex, id, id == crew_self());
    if (!t)
        return CREW_ENOTASK;
    rc = crew__task_cancel(ex, t, code, reason, CREW_CAUSE_SELF);
    crew__task_unref(ex, t);
    return rc;
}

int crew_cancel_wait(crew_t *ex, crew_id_t id, int64_t timeout_ns,
                     crew_status_t *status)
{
    crew__task_t *t;
    int64_t deadline;
    int rc = wait_begin(ex, id, timeout_ns, status, &t, &deadline);
    if (rc != 0)
        return rc;
    rc = crew__task_cancel(ex, t, 0, NULL, CREW_CAUSE_SELF);
    if (rc > 0) {
        rc = t == crew__tls_task ? CREW_EDEADLK : wait_task(ex, t, deadline, true);
        if (rc == 0)
            crew__task_wait_done(t, status);
    }
    crew__task_unref(ex, t);
    return rc;
}

int crew_inspect(crew_t *ex, crew_id_t id, crew_task_info_t *info)
{
    crew__task_t *t;
    uint32_t s;
    if (!crew__valid(ex) || !info)
        return CREW_EINVAL;
    t = crew__task_get(ex, id, false);
    if (!t)
        return CREW_ENOTASK;
    memset(info, 0, sizeof *info);
    /* acquire: pairs with the CASes that publish result and cause. */
    s = atomic_load_explicit(&t->state, memory_order_acquire);
    info->id = id;
    info->parent = t->parent ? atomic_load_explicit(&t->parent->id, memory_order_relaxed) : 0;
    info->group = t->group_id;
    info->status = crew__status_of(s);
    info->cancel_requested = (s & T_REQ) != 0;
    if (crew__terminal(s) && crew__phase(s) != T_CANCELLED)
        info->result = t->result;
    if ((s & T_REQ) || crew__phase(s) == T_CANCELLED || crew__phase(s) == T_REMOVING ||
        crew__phase(s) == T_ACTOR_DEAD) {
        info->cause = (crew_cancel_cause_t)t->cause;
        info->cancel_code = t->cancel_code;
        memcpy(info->reason, t->reason, CREW_REASON_MAX);
        info->reason[CREW_REASON_MAX - 1] = '\0';
        if (crew__phase(s) == T_CANCELLED && (t->flags & TF_RAN_CANCELLED))
            info->cancel_requested = true;
    } else if (crew__phase(s) == T_RUNNING &&
               /* relaxed: the fast path; see crew_cancelled(). */
               atomic_load_explicit(&ex->cancel_scopes, memory_order_relaxed)) {
        /* Running and cancelled through an ancestor, a group or shutdown:
         * the request has reached it; the source holds code and reason. */
        uint8_t cause;
        int code;
        const char *reason;
        if (crew__inherited_cancel(ex, t, &cause, &code, &reason)) {
            info->cancel_requested = true;
            info->cause = (crew_cancel_cause_t)cause;
            info->cancel_code = code;
            crew__copy_reason(info->reason, reason);
        }
    }
    if (crew__phase(s) == T_CANCELLED && (s & T_REQ))
        info->result = t->result;
    crew__task_unref(ex, t);
    return 0;
}

/* ---- context and statistics ---------------------------------------------- */

crew_id_t crew_self(void)
{
    crew__task_t *t = crew__tls_task;
    /* relaxed: the caller's own record. */
    return t ? atomic_load_explicit(&t->id, memory_order_relaxed) : 0;
}

crew_t *crew_current(void)
{
    return crew__tls_task && crew__tls_worker ? crew__tls_worker->ex : NULL;
}

int crew_worker_index(void)
{
    return crew__tls_worker ? (int)crew__tls_worker->index : -1;
}

int crew_stats(crew_t *ex, crew_stats_t *st)
{
    if (!crew__valid(ex) || !st || st->size < sizeof *st)
        return CREW_EINVAL;
    st->live_tasks = crew__live_tasks(ex);
    st->submitted = SUM(ex, created);
    st->done = SUM(ex, done);
    st->failed = SUM(ex, failed);
    st->cancelled = SUM(ex, cancelled);
    st->removed = SUM(ex, removed);
    st->cancelled_running = SUM(ex, cancelled_running);
    st->late_cancels = SUM(ex, late_cancels);
    st->steals = SUM(ex, steals);
    st->parks = SUM(ex, parks);
    {
        uint64_t a = SUM(ex, rec_alloc), f = SUM(ex, rec_free);
        st->live_records = a > f ? a - f : 0;
    }
    /* relaxed: a statistic. */
    st->cancel_set_size = atomic_load_explicit(&ex->cset.size, memory_order_relaxed);
    return 0;
}

uint32_t crew__debug_cancel_scopes(crew_t *ex)
{
    /* relaxed: a test's snapshot, read at rest. */
    return crew__valid(ex) ? atomic_load_explicit(&ex->cancel_scopes, memory_order_relaxed)
                           : 0;
}

int crew__debug_task_waiters(crew_t *ex, crew_id_t id)
{
    crew__task_t *t;
    uint32_t s;
    if (!crew__valid(ex))
        return CREW_EINVAL;
    t = crew__task_get(ex, id, true);
    if (!t)
        return CREW_ENOTASK;
    /* acquire: a test's snapshot; pairs with the waiter's CAS. */
    s = atomic_load_explicit(&t->state, memory_order_acquire);
    crew__task_unref(ex, t);
    return (s & T_WAITERS) != 0;
}

void crew__dump(crew_t *ex, FILE *out)
{
    crew_stats_t st;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    if (!crew__valid(ex)) {
        fprintf(out, "crew: invalid executor %p\n", (void *)ex);
        return;
    }
    crew_stats(ex, &st);
    fprintf(out,
            "crew %p: workers=%u mode=%d scopes=%u sleepers=%u inject=%s\n"
            "  submitted=%llu done=%llu failed=%llu cancelled=%llu removed=%llu"
            " live_tasks=%llu live_records=%llu cset=%llu groups=%u\n",
            (void *)ex, ex->nworkers, (int)atomic_load(&ex->mode),
            (unsigned)atomic_load(&ex->cancel_scopes),
            (unsigned)atomic_load(&ex->park.sleepers),
            crew__inject_empty(&ex->inject) ? "empty" : "non-empty",
            (unsigned long long)st.submitted, (unsigned long long)st.done,
            (unsigned long long)st.failed, (unsigned long long)st.cancelled,
            (unsigned long long)st.removed, (unsigned long long)st.live_tasks,
            (unsigned long long)st.live_records,
            (unsigned long long)st.cancel_set_size,
            (unsigned)atomic_load(&ex->live_groups));
    {
        /* Records not on a free list (racy snapshot, for humans). */
        uint32_t n = atomic_load_explicit(&ex->pool.nslabs, memory_order_acquire);
        unsigned shown = 0;
        for (uint32_t i = 0; i < n && shown < 32; i++)
            for (uint32_t k = 0; k < ((uint32_t)1 << CREW_SLAB_LOG2) && shown < 32; k++) {
                crew__task_t *t = &ex->pool.dir[i][k];
                uint32_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
                if (crew__phase(s) == T_FREE)
                    continue;
                shown++;
                fprintf(out,
                        "  record id=%#llx phase=%u req=%d waiters=%d released=%d"
                        " inqueue=%d refs=%u flags=%#x spawned=%u joined_self=%u"
                        " kids_done=%d parent=%#llx\n",
                        (unsigned long long)atomic_load_explicit(&t->id, memory_order_relaxed),
                        crew__phase(s), !!(s & T_REQ), !!(s & T_WAITERS),
                        !!(s & T_RELEASED), !!(s & T_INQUEUE), s >> T_REF_SHIFT,
                        t->flags, t->spawned, t->joined_self,
                        (int)atomic_load_explicit(&t->kids_done, memory_order_relaxed),
                        t->parent ? (unsigned long long)atomic_load_explicit(
                                        &t->parent->id, memory_order_relaxed)
                                  : 0ULL);
            }
    }
    for (unsigned i = 0; i < ex->nworkers; i++)
        fprintf(out, "  worker %u: deque=%lld inbox=%s steals=%llu parks=%llu\n", i,
                (long long)crew__deque_size(&ex->workers[i].dq),
                ex->workers[i].inbox ? "yes" : "no",
                (unsigned long long)atomic_load(&ex->workers[i].c.steals),
                (unsigned long long)atomic_load(&ex->workers[i].c.parks));
}
