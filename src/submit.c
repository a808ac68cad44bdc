/*
 * submit.c - submit, spawn and batch submission (submit.h).
 *
 * A record is filled, counted created (ledger, before it is published),
 * published QUEUED (release), checked for a cancellation it inherits at
 * birth (parent, group, shutdown), and scheduled. Spawns from inside a
 * task go to the calling worker's deque; everything else through the
 * injection queue.
 */
#include "submit.h"

#include <stdint.h>
#include <string.h>

#include "group.h"
#include "harness.h"

static CREW_NOINLINE int desc_check_slow(struct crew *ex, const crew_task_desc_t *d)
{
    unsigned full =
        d ? d->flags & (CREW_TASK_FULL_WAIT | CREW_TASK_FULL_FAIL | CREW_TASK_FULL_RUN) : 0;
    if (!d || !d->fn ||
        (d->flags &
         ~(CREW_TASK_ISOLATED | CREW_TASK_FULL_WAIT | CREW_TASK_FULL_FAIL | CREW_TASK_FULL_RUN)) ||
        (full & (full - 1)))
        return CREW_EINVAL;
    if ((d->deadline || d->timeout) &&
        (d->deadline < 0 || d->timeout < 0 || d->timeout > CREW__FAR_NS ||
         (d->deadline && d->deadline - crew__now_ns() > CREW__FAR_NS)))
        return CREW_EINVAL;
    if (d->group) {
        if (!crew__group_ok(d->group))
            return CREW_EINVAL;
        if (d->group->ex != ex)
            return CREW_EWRONGEXEC;
    }
    return 0;
}

int crew__desc_check(struct crew *ex, const crew_task_desc_t *d)
{
    /* The common case in a few loads: a body, no option, no group or a
     * live one of this executor. */
    if (CREW_LIKELY(d && d->fn && !(d->flags & ~CREW_TASK_ISOLATED) &&
                    !(d->deadline | d->timeout) &&
                    (!d->group || (crew__group_ok(d->group) && d->group->ex == ex))))
        return 0;
    return desc_check_slow(ex, d);
}

int64_t crew__desc_when(const crew_task_desc_t *d)
{
    int64_t when = d->deadline;
    if (d->timeout) {
        int64_t rel = crew__now_ns() + d->timeout;
        if (!when || rel < when)
            when = rel;
    }
    return when;
}

int crew__desc_arm(struct crew *ex, const crew_task_desc_t *d, crew_id_t id)
{
    /* Armed before the task is published: its end always finds it. */
    return crew__timer_arm(&ex->timer, CREW__TM_TASK, id, NULL, crew__desc_when(d), NULL);
}

void crew__task_unused(struct crew *ex, crew__task_t *t)
{
    crew__pool_recycle(&ex->pool, crew__cache_of(crew__self_worker(ex)), t);
}

/* The fields every new record gets (cause, cancel_code, reason and result
 * are written before they can be read, see task.h; next belongs to the
 * queues). The state word is published by the caller. */
static inline void fill_task(crew__task_t *t, crew_fn fn, void *arg, crew_cleanup_fn cleanup,
                             crew__task_t *parent, crew_group_t *g)
{
    crew__rec_fill(t, fn, arg, cleanup, parent, g, g ? g->id : 0, 0, NULL);
    if (parent)
        crew__rec_child_born(parent);
}

bool crew__submit_prepare(struct crew *ex, crew__worker_t *w, crew__task_t *t, crew__task_t *parent,
                          const crew_task_desc_t *d, void *arg, bool joinable, bool group_counted,
                          void *owner, unsigned tflags, crew__cause_t *born)
{
    crew_group_t *g = d->group ? d->group : (parent ? parent->group : NULL);
    /* The caller passes parent NULL for an isolated submission. */
    bool carrier = (tflags & CREW__SUB_CARRIER) != 0;
    fill_task(t, d->fn, arg, d->cleanup, parent, g);
    t->flags |= (uint8_t)(tflags & 0xFFu);
    if (carrier) {
        t->owner = owner;
    } else if (owner) {
        t->flags |= TF_ACTOR;
        t->owner = owner;
    }
    if (parent && parent->group && g != parent->group) {
        t->flags |= TF_PGROUP_REF;
        crew__group_ref(parent->group);
    }
    if (g && !group_counted)
        crew__group_add(g, 1);
    CREW__OBS(ex, w, parent ? CREW__EV_SPAWN : CREW__EV_SUBMIT, crew__obs_id(t), 0);
    /* A carrier's tasks are all created now (each finishes on its own). */
    CREW__BOOK(ex, w, created, carrier ? ((crew__carrier_t *)owner)->n : 1);
    crew__rec_publish(t, joinable, carrier);
    if (g || parent || (carrier && ((crew__carrier_t *)owner)->blk->when))
        /* Light fence (platform.h): pairs with the heavy one in
         * crew__sweep. Either the check below sees a group, parent or
         * batch deadline cancellation made visible concurrently, or that
         * canceller's sweep sees this record QUEUED and removes it: a
         * cancelled scope never keeps a queued task. */
        CREW_FENCE_LIGHT();
    if (CREW_UNLIKELY(crew__any_scope(ex))) {
        /* The parent's own request counts here too (its set entry), and
         * reaches the child as CREW_CAUSE_PARENT. */
        if (parent && crew__is_cancelled(ex, parent, born)) {
            born->cause = CREW_CAUSE_PARENT;
            return true;
        }
        if (crew__inherited_cancel(ex, t, born))
            return true;
    }
    return false;
}

void crew__task_born_cancelled(struct crew *ex, crew__task_t *t, const crew__cause_t *born)
{
    /* born->reason points into the group or ancestor that cancelled t,
     * which t keeps alive (it counts in the group; it keeps its parent's
     * record). It is "its own queue": remove consumes that slot. */
    crew__task_remove(ex, t, CREW_TASK_CANCELLED, born, true);
}

/* Who submits: *w the calling worker of ex (or NULL), *parent the task
 * that submits (NULL from outside, and for an isolated submission).
 * Outside submitters are refused once shutdown began; tasks are not (their
 * children are part of the work being drained or cancelled). */
static int submitter(struct crew *ex, const crew_task_desc_t *desc, crew__worker_t **w,
                     crew__task_t **parent)
{
    *w = crew__self_worker(ex);
    *parent = *w ? crew__tls_task : NULL; /* a spawn from inside a task */
    if (!*parent && crew__mode(ex) != CREW__MODE_RUNNING)
        return CREW_ESHUTDOWN;
    if (desc->flags & CREW_TASK_ISOLATED)
        *parent = NULL; /* not a child; only desc->group */
    return 0;
}

/* ---- backpressure --------------------------------------------------------- */

static unsigned full_policy(struct crew *ex, unsigned flags)
{
    if (flags & CREW_TASK_FULL_FAIL)
        return CREW_FULL_FAIL;
    if (flags & CREW_TASK_FULL_RUN)
        return CREW_FULL_CALLER_RUNS;
    if (flags & CREW_TASK_FULL_WAIT)
        return CREW_FULL_WAIT;
    return ex->full_policy;
}

/* Take n slots of l (waiting as the policy says). */
static int limit_acquire(struct crew *ex, crew__limit_t *l, uint32_t n, unsigned policy)
{
    int64_t deadline = ex->full_timeout >= 0 ? crew__now_ns() + ex->full_timeout : -1;
    bool in_task = crew__tls_task != NULL; /* a task of another executor */
    for (bool slept = false;; slept = true) {
        int64_t left = -1;
        /* Shutdown began while we waited: refused, as any later submission. */
        if (slept && crew__mode(ex) != CREW__MODE_RUNNING)
            return CREW_ESHUTDOWN;
        if (crew__limit_take(l, n))
            return 0;
        if (policy != CREW_FULL_WAIT)
            return CREW_EFULL;
        if (in_task && crew_cancelled())
            return CREW_ECANCELED;
        if (deadline >= 0 && (left = deadline - crew__now_ns()) <= 0)
            return CREW_ETIMEDOUT;
        if (in_task && (left < 0 || left > 1000000))
            left = 1000000; /* a cancellation wakes nothing here: look each ms */
        crew__limit_sleep(l, n, left);
    }
}

int crew__admit(struct crew *ex, const crew_task_desc_t *d, crew_group_t *g, crew__limit_t *al,
                unsigned *tflags, bool *run_here)
{
    crew__limit_t *l = al ? al : &ex->limit;
    unsigned policy;
    int rc;
    *tflags = 0;
    *run_here = false;
    if (crew__self_worker(ex) || (!crew__limit_max(l) && !(g && crew__limit_max(&g->glimit))))
        return 0; /* a spawn never waits (crew.h "Backpressure"); no bound */
    policy = full_policy(ex, d->flags);
    /* An actor task must wait its turn; a task of another executor cannot
     * become this one's guest. */
    if (policy == CREW_FULL_CALLER_RUNS && (al || crew__tls_worker))
        policy = CREW_FULL_WAIT;
    if (crew__limit_max(l)) {
        if ((rc = limit_acquire(ex, l, 1, policy)) != 0)
            goto full;
        *tflags |= TF_LIMITED;
    }
    if (g && crew__limit_max(&g->glimit)) {
        if ((rc = limit_acquire(ex, &g->glimit, 1, policy)) != 0) {
            if (*tflags & TF_LIMITED)
                crew__limit_put(l, 1);
            *tflags = 0;
            goto full;
        }
        *tflags |= TF_GLIMITED;
    }
    return 0;
full:
    *run_here = rc == CREW_EFULL && policy == CREW_FULL_CALLER_RUNS;
    return rc;
}

static int run_here(struct crew *ex, const crew_task_desc_t *d, crew_id_t *id,
                    crew_status_t *status);

/* Give back slots taken for n tasks that were not submitted after all. */
static void limits_put(struct crew *ex, crew_group_t *g, unsigned tflags, uint32_t n)
{
    if (tflags & TF_LIMITED)
        crew__limit_put(&ex->limit, n);
    if (tflags & TF_GLIMITED)
        crew__limit_put(&g->glimit, n);
}

int crew_submit_ex(crew_t *ex, const crew_task_desc_t *desc, crew_id_t *id)
{
    crew__worker_t *w;
    crew__task_t *t, *parent;
    crew__cause_t born;
    unsigned tflags = 0;
    int err;
    if (!crew__valid(ex))
        return CREW_EINVAL;
    if ((err = crew__desc_check(ex, desc)) != 0)
        return err;
    if ((err = submitter(ex, desc, &w, &parent)) != 0)
        return err;
    if (CREW_UNLIKELY(!w && (crew__limit_max(&ex->limit) ||
                             (desc->group && crew__limit_max(&desc->group->glimit))))) {
        bool here;
        err = crew__admit(ex, desc, desc->group, NULL, &tflags, &here);
        if (here) /* caller-runs: the task runs now, on this thread */
            return run_here(ex, desc, id, NULL);
        if (err)
            return err;
    }
    t = crew__task_new(ex, w);
    if (!t) {
        limits_put(ex, desc->group, tflags, 1);
        return CREW_ENOMEM;
    }
    if (CREW_UNLIKELY(desc->deadline || desc->timeout)) {
        /* relaxed: our own fresh record */
        err = crew__desc_arm(ex, desc, atomic_load_explicit(&t->id, memory_order_relaxed));
        if (err) {
            crew__task_unused(ex, t);
            limits_put(ex, desc->group, tflags, 1);
            return err;
        }
    }
    if (id) /* relaxed: our own fresh record */
        *id = atomic_load_explicit(&t->id, memory_order_relaxed);
    if (CREW_UNLIKELY(crew__submit_prepare(ex, w, t, parent, desc, desc->arg, id != NULL, false,
                                           NULL, tflags, &born))) {
        crew__task_born_cancelled(ex, t, &born);
        return 0;
    }
    crew__schedule(ex, w, t, false);
    return 0;
}

int crew_submit(crew_t *ex, crew_fn fn, void *arg, crew_id_t *id)
{
    crew_task_desc_t d = {.fn = fn, .arg = arg};
    return crew_submit_ex(ex, &d, id);
}

/* The fork of fork-join, kept short: the caller is a running task, so the
 * executor is valid, submissions are open to it, and the record comes from
 * this worker's private list. Groups and a pending cancellation take the
 * general path (born-cancelled check, group counts). */
int crew_spawn(crew_fn fn, void *arg, crew_id_t *id)
{
    crew__worker_t *w = crew__tls_worker;
    crew__task_t *parent = crew__tls_task, *t;
    struct crew *ex;
    if (CREW_UNLIKELY(!w || !parent))
        return CREW_ENOTINTASK;
    if (CREW_UNLIKELY(!fn))
        return CREW_EINVAL;
    ex = w->ex;
    if (CREW_UNLIKELY(parent->group || crew__any_scope(ex))) {
        crew_task_desc_t d = {.fn = fn, .arg = arg};
        return crew_submit_ex(ex, &d, id);
    }
    t = crew__task_new(ex, w);
    if (CREW_UNLIKELY(!t))
        return CREW_ENOMEM;
    if (id) /* relaxed: our own fresh record */
        *id = atomic_load_explicit(&t->id, memory_order_relaxed);
    fill_task(t, fn, arg, NULL, parent, NULL);
    CREW__OBS(ex, w, CREW__EV_SPAWN, crew__obs_id(t), 0);
    CREW__BOOK(ex, w, created, 1);
    crew__rec_publish(t, id != NULL, false);
    crew__schedule(ex, w, t, false);
    return 0;
}

/* Give back records taken for a batch that is not submitted after all. */
static void records_unused(struct crew *ex, crew__task_t *head)
{
    while (head) {
        crew__task_t *x = head;
        head = head->next;
        crew__task_unused(ex, x);
    }
}

/* Publish a list of records (oldest first) through the injection queue,
 * which wants newest first: reverse once, push once, wake the workers. */
static void inject_list(struct crew *ex, crew__task_t *head)
{
    crew__task_t *r = NULL, *last = head;
    while (head) {
        crew__task_t *x = head;
        head = head->next;
        x->next = r;
        r = x;
    }
    crew__inject_push(&ex->inject, r, last);
    crew__park_notify_all(&ex->park);
}

/* Tasks a batch carrier takes at most, and the carriers a batch is cut
 * into per worker at least (so every worker finds some). */
#define CARRIER_MAX         64
#define CARRIERS_PER_WORKER 4

/* From outside, without IDs: args[0..n) as carriers of `per` consecutive
 * tasks each (harness.c, "Batch carriers"), in one block: the carriers,
 * each on its own line, then a copy of args. A deadline (every task's
 * own, the same for all) is one timer entry for the block. All or
 * nothing. */
static int batch_carried(struct crew *ex, const crew_task_desc_t *desc, void *const *args, size_t n,
                         uint32_t per)
{
    uint32_t ncar = (uint32_t)((n + per - 1) / per);
    crew__batch_t *b =
        crew__batch_alloc(ex, sizeof *b + ncar * sizeof(crew__carrier_t) + n * sizeof(void *));
    crew__task_t *head = NULL, *tail = NULL, *t;
    void **copy;
    int64_t now;
    uint32_t i;
    if (!b)
        return CREW_ENOMEM;
    for (i = 0; i < ncar; i++) {
        t = crew__task_new(ex, NULL);
        if (!t) {
            records_unused(ex, head);
            crew__batch_unused(ex, b);
            return CREW_ENOMEM;
        }
        t->next = head;
        head = t;
    }
    copy = (void **)&b->car[ncar];
    memcpy(copy, args, n * sizeof *copy);
    b->ncar = ncar;
    b->group = desc->group; /* no reference until listed */
    b->cleanup = desc->cleanup;
    b->when = (desc->deadline | desc->timeout) ? crew__desc_when(desc) : 0;
    now = b->when ? crew__now_ns() : 0;
    /* relaxed: published with the records (publish's release). A timer
     * entry (a deadline not yet past) holds one reference more. */
    atomic_init(&b->refs, ncar + (b->when > now ? 1u : 0u));
    atomic_init(&b->dl_live, ncar);
    if (CREW_UNLIKELY(b->when) && b->when <= now) {
        /* Already past: born expired, so every run is removed in this
         * call (born cancelled, below). The scope before the flag (check
         * protocol step 1); both before any record is published. */
        crew__scope_add(ex);
        /* relaxed: published with the records (publish's release). */
        atomic_store_explicit(&b->expired, true, memory_order_relaxed);
    } else if (CREW_UNLIKELY(b->when)) {
        /* Armed before any record is published, so the last carrier's
         * end always finds it; the entry holds a reference. */
        int err =
            crew__timer_arm(&ex->timer, CREW__TM_BATCH, (uint64_t)(uintptr_t)b, b, b->when, NULL);
        if (err) {
            records_unused(ex, head);
            crew__batch_unused(ex, b);
            return err;
        }
    }
    if (desc->group)
        crew__group_add(desc->group, (uint32_t)n); /* one RMW for the batch */
    for (i = 0; i < ncar; i++) {
        crew__carrier_t *c = &b->car[i];
        c->n = (uint32_t)(i + 1 < ncar ? per : n - (size_t)i * per);
        c->args = copy + (size_t)i * per;
        c->blk = b;
        /* relaxed: published by the list's mutex and with the record;
         * index 0 is the record's own. */
        atomic_init(&c->next, 1);
        atomic_init(&c->ended, 0);
        atomic_init(&c->own_dl, 0);
    }
    crew__batch_listed(ex, b); /* complete, before any record is published */
    /* Fill in order (the list is consumed from its head); keep the ones
     * not born cancelled, args[0]'s carrier first. */
    t = head;
    head = NULL;
    for (i = 0; i < ncar; i++) {
        crew__carrier_t *c = &b->car[i];
        crew__task_t *x = t;
        crew__cause_t born;
        t = t->next;
        if (crew__submit_prepare(ex, NULL, x, NULL, desc, c->args[0], false, desc->group != NULL, c,
                                 CREW__SUB_CARRIER, &born)) {
            crew__task_born_cancelled(ex, x, &born); /* its tasks with it */
            continue;
        }
        x->next = NULL;
        if (tail)
            tail->next = x;
        else
            head = x;
        tail = x;
    }
    if (head)
        inject_list(ex, head);
    return 0;
}

/* Submit args[0..n) (all or nothing), each holding the bound slots
 * tflags says were taken for it. */
static int batch_core(struct crew *ex, const crew_task_desc_t *desc, void *const *args, size_t n,
                      crew_id_t *ids, crew__worker_t *w, crew__task_t *parent, unsigned tflags)
{
    crew__task_t *head = NULL, *t;
    crew_group_t *batch_group;
    crew__cause_t born;
    int err;
    size_t i;
    if (!w && !ids && !tflags && !(ex->flags & CREW_OPT_NO_CARRIERS) &&
        /* relaxed: as CREW__OBS; a trace wants one record per task */
        !atomic_load_explicit(&ex->obs.on, memory_order_relaxed)) {
        size_t per = n / ((size_t)ex->nworkers * CARRIERS_PER_WORKER);
        if (per > CARRIER_MAX)
            per = CARRIER_MAX;
        if (per >= 2)
            return batch_carried(ex, desc, args, n, (uint32_t)per);
    }
    /* All or nothing: take every record first. */
    for (i = 0; i < n; i++) {
        t = crew__task_new(ex, w);
        if (!t) {
            records_unused(ex, head);
            return CREW_ENOMEM;
        }
        t->next = head;
        head = t;
    }
    if (CREW_UNLIKELY(desc->deadline || desc->timeout)) {
        /* All or nothing here too: arm them in chunks (one timer lock per
         * shard per chunk), or disarm those armed. */
        int64_t when = crew__desc_when(desc);
        uint64_t idv[256];
        size_t k = 0;
        crew__task_t *from = head, *x;
        for (t = head; t; t = t->next) {
            /* relaxed: our own fresh records */
            idv[k++] = atomic_load_explicit(&t->id, memory_order_relaxed);
            if (k < 256 && t->next)
                continue;
            err = crew__timer_arm_tasks(&ex->timer, idv, k, when);
            if (err) {
                for (x = head; x != from; x = x->next)
                    (void)crew__disarm_task(ex, w,
                                            atomic_load_explicit(&x->id, memory_order_relaxed));
                records_unused(ex, head);
                return err;
            }
            from = t->next;
            k = 0;
        }
    }
    /* One group count for the whole batch: one RMW on the group's line
     * instead of n. */
    batch_group = desc->group ? desc->group : (parent ? parent->group : NULL);
    if (batch_group)
        crew__group_add(batch_group, (uint32_t)n);
    /* head holds the records in reverse order of allocation; walk it while
     * filling args from the end, so `head` is rebuilt with args[0] first,
     * the order both publication paths below want. */
    t = head;
    head = NULL;
    for (i = n; i-- > 0;) {
        crew__task_t *x = t;
        t = t->next;
        if (ids) /* relaxed: our own fresh record */
            ids[i] = atomic_load_explicit(&x->id, memory_order_relaxed);
        if (crew__submit_prepare(ex, w, x, parent, desc, args[i], ids != NULL, batch_group != NULL,
                                 NULL, tflags, &born)) {
            crew__task_born_cancelled(ex, x, &born);
            continue;
        }
        x->next = head;
        head = x;
    }
    if (!head)
        return 0;
    if (w) {
        /* Own deque: thieves take args[0] first, the owner pops the last. */
        while (head) {
            crew__task_t *x = head;
            head = head->next;
            crew__schedule(ex, w, x, false);
        }
    } else {
        inject_list(ex, head);
    }
    return 0;
}

int crew_submit_batch(crew_t *ex, const crew_task_desc_t *desc, void *const *args, size_t n,
                      crew_id_t *ids)
{
    crew__worker_t *w;
    crew__task_t *parent;
    crew__limit_t *gl;
    size_t done = 0;
    int err;
    if (!crew__valid(ex))
        return CREW_EINVAL;
    if ((err = crew__desc_check(ex, desc)) != 0)
        return err;
    if (n == 0)
        return 0;
    if (!args || n > UINT32_MAX)
        return CREW_EINVAL;
    if ((err = submitter(ex, desc, &w, &parent)) != 0)
        return err;
    gl = desc->group && crew__limit_max(&desc->group->glimit) ? &desc->group->glimit : NULL;
    if (CREW_LIKELY(w || (!crew__limit_max(&ex->limit) && !gl)))
        return batch_core(ex, desc, args, n, ids, w, parent, 0);
    /* Bounded: admitted in pieces as room appears (crew.h). */
    if (ids)
        memset(ids, 0, n * sizeof *ids);
    while (done < n) {
        unsigned tflags = 0;
        bool here;
        uint32_t k = 1;
        err = crew__admit(ex, desc, desc->group, NULL, &tflags, &here);
        if (here) { /* caller-runs: this one runs now, on this thread */
            crew_task_desc_t one = *desc;
            one.arg = args[done];
            err = run_here(ex, &one, ids ? &ids[done] : NULL, NULL);
            if (err)
                return err;
            done++;
            continue;
        }
        if (err)
            return err; /* the first `done` were submitted, ids[done..] are 0 */
        /* One slot each is held; take what else is free, up to the rest. */
        while (done + k < n && (!(tflags & TF_LIMITED) || crew__limit_take(&ex->limit, 1))) {
            if ((tflags & TF_GLIMITED) && !crew__limit_take(gl, 1)) {
                if (tflags & TF_LIMITED)
                    crew__limit_put(&ex->limit, 1);
                break;
            }
            k++;
        }
        err = batch_core(ex, desc, args + done, k, ids ? ids + done : NULL, w, parent, tflags);
        if (err) {
            limits_put(ex, desc->group, tflags, k);
            return err;
        }
        done += k;
    }
    return 0;
}

/* The root of a computation on the calling thread: it takes the guest slot
 * (workers[nworkers]) and works as a worker until the root task is
 * terminal: the root's forks and spawns go on the guest's deques, where
 * the executor's workers steal them, and its waits help like any worker's.
 * Protocol:
 *  1. Claim the guest slot (CAS guest_busy, acquire: the previous guest's
 *     writes to the slot's private fields are visible). Taken: fall back to
 *     submit + join from this thread.
 *  2. Become the guest: the thread-local worker and cancel-scope pointers.
 *  3. Run the root through the normal harness (start-vs-cancel, body, its
 *     forks synced, finish) with join_release, as a worker popping it would.
 *  4. Leave: give back the spare record and batched frees, move any private
 *     overflow (inbox) to the injection queue; what the root left queued on
 *     the guest's deque is stolen by the workers. Clear the thread-locals,
 *     release the slot (release store). */
/* crew_run's work, for any task desc: run it on the calling thread as the
 * executor's guest (steps above). id: keep it joinable and give its ID;
 * status: report its terminal status (then it is released); neither: a
 * detached task (caller-runs). The guest slot taken: submit (waiting for
 * room if bounded) and, with status, join. */
static int run_here(struct crew *ex, const crew_task_desc_t *d, crew_id_t *id,
                    crew_status_t *status)
{
    crew__worker_t *w;
    crew__task_t *t;
    crew__cause_t born;
    crew_status_t st;
    bool expect = false, joinable = id || status;
    /* acquire: step 1, pairs with the release store at step 4. */
    if (!atomic_compare_exchange_strong_explicit(&ex->guest_busy, &expect, true,
                                                 memory_order_acquire, memory_order_relaxed)) {
        crew_task_desc_t q = *d;
        crew_id_t mine;
        int rc;
        q.flags = (q.flags & ~(CREW_TASK_FULL_FAIL | CREW_TASK_FULL_RUN)) | CREW_TASK_FULL_WAIT;
        rc = crew_submit_ex(ex, &q, status ? &mine : id);
        return rc || !status ? rc : crew_join(ex, mine, status);
    }
    w = &ex->workers[ex->nworkers];
    crew__tls_enter(w); /* step 2 */
    t = crew__task_new(ex, w);
    if (t && id) /* relaxed: our own fresh record */
        *id = atomic_load_explicit(&t->id, memory_order_relaxed);
    if (!t) {
        st = (crew_status_t)0;
    } else if (CREW_UNLIKELY(crew__submit_prepare(ex, w, t, NULL, d, d->arg, joinable, false, NULL,
                                                  0, &born))) {
        crew__task_born_cancelled(ex, t, &born);
        st = joinable ? crew__task_status(t) : CREW_TASK_CANCELLED;
        if (!id && joinable)
            crew__task_release(ex, t);
    } else {
        st = crew__task_run(ex, w, t, status && !id); /* step 3 */
        if (status && !id && !st) { /* removed before it started (a cancel shutdown) */
            st = crew__task_status(t);
            crew__task_release(ex, t);
        }
    }
    if (w->spare) { /* step 4 */
        crew__pool_recycle(&ex->pool, &w->cache, w->spare);
        w->spare = NULL;
    }
    crew__pool_flush(&ex->pool, &w->cache);
    crew__group_flush(ex, w); /* deferred member counts (group.c, step 3) */
    if (w->inbox) {
        crew__inject_push(&ex->inject, w->inbox, w->inbox_tail);
        w->inbox = w->inbox_tail = NULL;
        crew__park_notify_all(&ex->park);
    }
    crew__tls_enter(NULL);
    /* release: step 4; the next guest sees this one's private writes. */
    atomic_store_explicit(&ex->guest_busy, false, memory_order_release);
    if (!t)
        return CREW_ENOMEM;
    if (status)
        *status = st;
    return 0;
}

int crew_run(crew_t *ex, crew_fn fn, void *arg, crew_status_t *status)
{
    crew_task_desc_t d = {.fn = fn, .arg = arg};
    if (!crew__valid(ex) || !fn || !status)
        return CREW_EINVAL;
    if (crew__tls_worker)
        return CREW_EDEADLK; /* already a worker: fork or spawn instead */
    if (crew__mode(ex) != CREW__MODE_RUNNING)
        return CREW_ESHUTDOWN;
    return run_here(ex, &d, NULL, status);
}
