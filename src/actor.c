/*
 * actor.c - actors: serial executors on the shared pool (crew.h, "Actors").
 *
 * An actor is a mailbox (a FIFO of ordinary task records, flag TF_ACTOR,
 * owner = the actor) plus at most one *runner*: an internal task with no
 * parent and no group that pops the mailbox and runs each record through
 * the normal path, crew__task_run() (start-vs-cancel CAS, body,
 * finish). A record in the mailbox is QUEUED | INQUEUE: the mailbox counts
 * as a queue, so a record a canceller removed stays allocated until whoever
 * holds the mailbox pointer drops it (the runner, a kill, a cleanup).
 * Nothing below actor.c knows about actors; crew_cancel() of a queued actor
 * task is the ordinary QUEUED -> REMOVING -> CANCELLED, and the runner
 * later finds it non-QUEUED and only drops its queue pointer.
 *
 * Fields: a->mu guards everything in struct crew_actor except `finished`
 * (atomic) and the executor's list links (ex->actors_mu).
 *
 * `scheduled` is true from the moment a runner record is allocated for the
 * actor until that runner's *cleanup* has finished. The cleanup, not the
 * body, hands the actor over (publishes a successor, or marks the actor
 * idle): it runs exactly once per runner, after the body or instead of it
 * when the runner was removed before it ran (cancel shutdown, or a stray
 * crew_cancel of its ID), so one code path covers both, and at most one
 * runner record of an actor is ever alive. Tasks of one actor therefore
 * never overlap, and a removed runner can neither strand the mailbox nor
 * leave a second runner behind.
 *
 * Protocol (numbered steps; "lock" is a->mu):
 *  1. Submit: allocate the record; lock; refuse if the actor is not ALIVE
 *     (CREW_EACTORDEAD) or, from outside a task, if shutdown began; fill
 *     the record (crew__submit_prepare: no parent, the caller's group unless
 *     desc names one, born-cancelled check);
 *     append it, unless born cancelled. If no runner is scheduled, allocate
 *     one and set `scheduled` (the runner reference); otherwise make sure a
 *     spare record exists for the runner's successor (step 3 then never
 *     needs to allocate). Unlock. Then, outside the lock: finish a
 *     born-cancelled record; publish the new runner.
 *  2. Runner body: lock; up to CREW_ACTOR_BATCH times: pop
 *     the head, pin it (a reference in its state word) as `current`,
 *     unlock, crew__task_run(), read its terminal status, lock, count
 *     it, clear current; then unpin it outside the lock. Past the batch it
 *     stops if the mailbox is empty or a spare record exists (allocating
 *     one if needed; if none can be had it keeps draining instead).
 *  3. Runner cleanup (exactly once per runner: after its body, or instead
 *     of it when the runner was removed before running): lock; in a
 *     cancel shutdown take and drop the whole mailbox (CANCELLED, cause
 *     SHUTDOWN). If the mailbox is non-empty, publish the spare as the
 *     successor through the injection queue (behind work already queued:
 *     fairness), passing on the runner reference (no spare and no memory
 *     for one: drop the mailbox, CANCELLED, cause ACTOR, code
 *     CREW_ENOMEM, so no task is left without a runner). Otherwise clear
 *     `scheduled`, turn EXITING into DEAD, recycle the spare and claim the
 *     end (step 6).
 *  4. Kill: lock; DEAD + cause; take the whole mailbox; pin `current`;
 *     dropping += 1; unlock. Each taken record: QUEUED -> REMOVING under
 *     crew__task_remove (cause ACTOR), finished ACTOR_DEAD. `current`:
 *     crew__task_cancel(cause ACTOR). Lock; dropping -= 1; claim the end.
 *  5. Exit (inside an actor task) and destroy: lock; ALIVE -> EXITING
 *     (destroy: DEAD at once when no runner is scheduled); claim the end.
 *  6. End: claimed under the lock by whoever first sees DEAD && !scheduled
 *     && dropping == 0; runs the destructor outside the lock, then
 *     `finished` := 1 and wakes crew_actor_wait(). The claimer holds a pin.
 *  7. Shutdown (crew_shutdown, once quiescent): every actor not DEAD is
 *     DEAD with cause SHUTDOWN; ends are claimed and run by the caller.
 *
 * Why kill vs submit loses nothing: the status test and the append (1)
 * and the status change and the mailbox take (4) are each done under the
 * lock, so every submission is either refused (after the kill) or in the
 * mailbox the kill takes, or already popped by the runner (then it is
 * `current`, which the kill cancels, or it has finished). A record taken
 * by the kill and removed meanwhile by crew_cancel loses the CAS in (4)
 * and stays CANCELLED. Why the destructor runs after the running task:
 * the runner's reference (`scheduled`) is dropped only in its cleanup,
 * after the body that ran the task returned.
 *
 * Lock order: ex->actors_mu -> a->mu -> the cancel set mutex -> pool mutex. While
 * holding actors_mu or a->mu we never run user code (bodies, cleanups,
 * destructors) nor call anything that may: crew__task_run,
 * crew__task_cancel, crew__task_remove, crew__task_born_cancelled.
 * Under a->mu we only allocate records (pool mutex, a leaf) and fill them
 * (crew__submit_prepare takes no lock and runs no callback).
 *
 * Memory: `refs` (under the lock) counts the handle, the scheduled runner
 * and temporary pins (kill, end, shutdown sweep). The structure is freed
 * when it drops to 0, or by crew_destroy (crew__actors_fini) for handles
 * still held once the executor is stopped.
 */
#include <limits.h>
#include <string.h>

#include "actor.h"
#include "group.h"
#include "harness.h"
#include "submit.h"
#include "worker.h"

#define CREW__ACTOR_MAGIC 0x61637472u /* "actr" */

struct crew_actor {
    /* First: the harness releases a slot through the record's owner
     * pointer (TF_LIMITED with TF_ACTOR), knowing nothing of actors. */
    crew__limit_t limit;
    uint32_t magic;
    struct crew *ex;
    void *state;
    crew_actor_dtor_fn dtor;
    struct crew_actor *prev, *next; /* ex->actors, under ex->actors_mu */
    struct crew_actor *sweep_next;  /* private to the sweep that pinned it */
    pthread_mutex_t mu;
    /* Under mu. */
    crew__task_t *head, *tail; /* mailbox, oldest first, linked by next */
    crew__task_t *current;     /* taken by the runner; pinned */
    crew__task_t *spare;       /* record for the runner's successor */
    crew_actor_status_t status;
    crew_actor_cause_t cause;
    int code;
    char reason[CREW_REASON_MAX];
    bool scheduled;    /* a runner record is alive (step 3) */
    bool end_claimed;  /* the end (step 6) is being or was run */
    bool handle_gone;  /* crew_actor_destroy() was called */
    unsigned dropping; /* kills/cleanups finishing taken records */
    unsigned refs;
    uint64_t submitted, done, failed, cancelled, dead, refused;
    /* 0, then 1 once the end ran; a futex word. */
    _Atomic uint32_t finished;
};

static bool actor_ok(const struct crew_actor *a) { return a && a->magic == CREW__ACTOR_MAGIC; }

/* ---- memory ---------------------------------------------------------------- */

void crew__actors_init(struct crew *ex)
{
    pthread_mutex_init(&ex->actors_mu, NULL);
    ex->actors = NULL;
}

static void actor_free(struct crew_actor *a)
{
    struct crew *ex = a->ex;
    pthread_mutex_lock(&ex->actors_mu);
    if (a->prev)
        a->prev->next = a->next;
    else
        ex->actors = a->next;
    if (a->next)
        a->next->prev = a->prev;
    pthread_mutex_unlock(&ex->actors_mu);
    a->magic = 0;
    pthread_mutex_destroy(&a->mu);
    crew__free(a);
}

/* Drop one reference (handle, runner or pin); the last one frees. */
static void actor_unref(struct crew_actor *a)
{
    bool last;
    pthread_mutex_lock(&a->mu);
    last = --a->refs == 0;
    pthread_mutex_unlock(&a->mu);
    if (last)
        actor_free(a);
}

void crew__actors_fini(struct crew *ex)
{
    struct crew_actor *a = ex->actors, *n;
    /* The executor is stopped: no runner, kill or sweep is in flight, and
     * every actor was ended by the shutdown (its destructor ran). */
    for (; a; a = n) {
        n = a->next;
        a->magic = 0;
        pthread_mutex_destroy(&a->mu);
        crew__free(a);
    }
    ex->actors = NULL;
    pthread_mutex_destroy(&ex->actors_mu);
}

/* ---- records ---------------------------------------------------------------- */

/* Keep t allocated until crew__task_put(). Called under a->mu while
 * something else still keeps it: the runner pins a record it just took
 * from the mailbox (INQUEUE is still set), a kill pins `current` (the
 * runner's pin is dropped only after it clears `current` under a->mu). */
static void pin_record(crew__task_t *t) { crew__task_hold(t); }

/* Finish a record taken out of a mailbox (the caller holds its queue
 * pointer): still QUEUED, it is removed (cause written first) and made
 * terminal `phase`; removed meanwhile by a canceller, only the queue
 * pointer goes. Returns true in the first case. */
static bool drop_record(struct crew *ex, crew__task_t *t, crew_status_t phase, uint8_t cause,
                        int code, const char *reason)
{
    crew__cause_t why = {cause, code, reason};
    return crew__task_remove(ex, t, phase, &why, true);
}

/* Drop a chain of taken records. Returns how many became `phase`; the
 * others had been removed (CANCELLED) by a canceller first. */
static uint64_t drop_chain(struct crew *ex, crew__task_t *t, crew_status_t phase, uint8_t cause,
                           int code, const char *reason)
{
    uint64_t won = 0;
    while (t) {
        crew__task_t *next = t->next; /* before finishing: it may be freed */
        won += drop_record(ex, t, phase, cause, code, reason);
        t = next;
    }
    return won;
}

static uint64_t chain_len(const crew__task_t *t)
{
    uint64_t n = 0;
    for (; t; t = t->next)
        n++;
    return n;
}

/* ---- the end (step 6) ------------------------------------------------------- */

/* Under a->mu: true if the caller must run the end now (it is given a
 * pin, dropped by run_end). */
static bool claim_end_locked(struct crew_actor *a)
{
    if (a->status != CREW_ACTOR_DEAD || a->scheduled || a->dropping || a->end_claimed)
        return false;
    a->end_claimed = true;
    a->refs++;
    return true;
}

static void run_end(struct crew_actor *a)
{
    struct crew *ex = a->ex;
    if (a->dtor)
        a->dtor(a->state);
    /* seq_cst: a waiter that reads 1 sees the destructor's effects
     * (release part, pairs with actor_finished's load); and it is the
     * publication of step a of park.c's producer protocol for helping
     * waiters, ordered before notify_all's fence and sleepers load. */
    atomic_store_explicit(&a->finished, 1, memory_order_seq_cst);
    crew__futex_wake(&a->finished, INT_MAX);
    crew__park_notify_all(&ex->park);
    actor_unref(a); /* the pin from claim_end_locked */
}

/* ---- the runner (steps 2 and 3) ------------------------------------------- */

static int runner_main(void *arg);
static void runner_cleanup(void *arg);

/* Publish r (allocated for this actor) as its runner. The caller holds no
 * actor lock: a runner born cancelled (cancel shutdown) runs its cleanup
 * here. inject: through the injection queue even from a worker. */
static void runner_publish(struct crew *ex, struct crew_actor *a, crew__task_t *r, bool inject)
{
    crew__worker_t *w = crew__self_worker(ex);
    crew_task_desc_t d = {.fn = runner_main, .arg = a, .cleanup = runner_cleanup};
    crew__cause_t born;
    /* No parent even from inside a task: cancelling the submitter must not
     * remove the runner, and successors must not chain. */
    if (CREW_UNLIKELY(crew__submit_prepare(ex, w, r, NULL, &d, a, false, false, NULL, 0, &born))) {
        crew__task_born_cancelled(ex, r, &born);
        return;
    }
    crew__schedule(ex, w, r, inject);
}

/* Under a->mu: count a record the runner ran or skipped, by its phase. */
static void count_phase(struct crew_actor *a, crew_status_t ph)
{
    if (ph == CREW_TASK_DONE)
        a->done++;
    else if (ph == CREW_TASK_FAILED)
        a->failed++;
    else /* CANCELLED, or REMOVING: a canceller is finishing it CANCELLED.
            Never ACTOR_DEAD: kills cancel `current`, they never drop it. */
        a->cancelled++;
}

/* The same classification, for crew_actor_info()'s `current`. */
static void count_phase_into(crew_actor_info_t *in, crew_status_t ph)
{
    if (ph == CREW_TASK_DONE)
        in->done++;
    else if (ph == CREW_TASK_FAILED)
        in->failed++;
    else
        in->cancelled++;
}

/* Under a->mu: the next record to run, or NULL to stop (step 2). */
static crew__task_t *next_record(struct crew_actor *a, crew__worker_t *w, unsigned n)
{
    crew__task_t *t = a->head;
    if (!t)
        return NULL;
    if (n >= CREW_ACTOR_BATCH) {
        if (!a->spare)
            a->spare = crew__task_new(a->ex, w);
        if (a->spare)
            return NULL; /* yield; the cleanup publishes the successor */
        /* No record for a successor: keep draining rather than strand the
         * mailbox; retried after each task. */
    }
    a->head = t->next;
    if (!a->head)
        a->tail = NULL;
    pin_record(t);
    a->current = t;
    return t;
}

static int runner_main(void *arg)
{
    struct crew_actor *a = arg;
    struct crew *ex = a->ex;
    crew__worker_t *w = crew__self_worker(ex); /* runners run on workers */
    crew__task_t *t, *prev = NULL;
    unsigned n = 0;
    pthread_mutex_lock(&a->mu);
    while ((t = next_record(a, w, n)) != NULL) {
        crew_status_t ph;
        pthread_mutex_unlock(&a->mu);
        if (prev)
            crew__task_put(ex, prev);
        crew__task_run(ex, w, t, false);
        ph = crew__task_status(t);
        pthread_mutex_lock(&a->mu);
        a->current = NULL;
        count_phase(a, ph);
        prev = t;
        n++;
    }
    pthread_mutex_unlock(&a->mu);
    if (prev)
        crew__task_put(ex, prev);
    return 0;
}

static void runner_cleanup(void *arg)
{
    struct crew_actor *a = arg;
    struct crew *ex = a->ex;
    crew__task_t *succ = NULL, *spare = NULL;
    bool end = false;
    /* Whether or not our body ran (it did not if the runner was removed),
     * what is left in the mailbox is handled the same way. */
    pthread_mutex_lock(&a->mu);
    for (;;) {
        crew__task_t *taken = a->head;
        uint64_t n;
        const char *why = "shutdown";
        uint8_t cause = CREW_CAUSE_SHUTDOWN;
        int code = 0;
        if (!taken)
            break;
        if (crew__mode(ex) != CREW__MODE_CANCEL) {
            /* Step 1 left a spare whenever it appended behind a runner;
             * only a runner removed before it ran (a stray crew_cancel of
             * its ID) may lack one. */
            succ = a->spare;
            if (!succ)
                succ = crew__task_new(ex, crew__self_worker(ex));
            if (succ) {
                a->spare = NULL;
                break;
            }
            /* Out of memory for a successor: fail the mailbox rather than
             * leave its tasks without a runner (every task must end). */
            why = "actor runner lost";
            cause = CREW_CAUSE_ACTOR;
            code = CREW_ENOMEM;
        }
        a->head = a->tail = NULL;
        a->dropping++;
        pthread_mutex_unlock(&a->mu);
        n = chain_len(taken);
        /* Dropped here or removed before by a canceller: CANCELLED either
         * way, so the count of winners does not matter. */
        drop_chain(ex, taken, CREW_TASK_CANCELLED, cause, code, why);
        pthread_mutex_lock(&a->mu);
        a->dropping--;
        a->cancelled += n;
    }
    if (!succ) {
        /* Idle: the runner reference goes (below). */
        a->scheduled = false;
        spare = a->spare;
        a->spare = NULL;
        if (a->status == CREW_ACTOR_EXITING)
            a->status = CREW_ACTOR_DEAD;
        end = claim_end_locked(a);
    }
    pthread_mutex_unlock(&a->mu);
    if (succ) {
        /* The runner reference passes to the successor; this must be our
         * last touch of `a` (a born-cancelled successor may end it). */
        runner_publish(ex, a, succ, true);
        return;
    }
    if (spare)
        crew__task_unused(ex, spare);
    if (end)
        run_end(a);
    actor_unref(a);
}

/* ---- public calls ------------------------------------------------------------ */

int crew_actor_create(crew_t *ex, void *state, crew_actor_dtor_fn dtor, crew_actor_t **out)
{
    struct crew_actor *a;
    if (out)
        *out = NULL;
    if (!crew__valid(ex) || !out)
        return CREW_EINVAL;
    a = crew__calloc(1, sizeof *a);
    if (!a)
        return CREW_ENOMEM;
    a->ex = ex;
    a->state = state;
    a->dtor = dtor;
    a->refs = 1; /* the handle */
    pthread_mutex_init(&a->mu, NULL);
    atomic_init(&a->finished, 0);
    a->magic = CREW__ACTOR_MAGIC;
    pthread_mutex_lock(&ex->actors_mu);
    /* Under actors_mu, so the shutdown sweep (step 7) either sees this
     * actor or we see the mode. */
    if (crew__mode(ex) != CREW__MODE_RUNNING && !crew__self_worker(ex)) {
        pthread_mutex_unlock(&ex->actors_mu);
        pthread_mutex_destroy(&a->mu);
        crew__free(a);
        return CREW_ESHUTDOWN;
    }
    a->next = ex->actors;
    if (a->next)
        a->next->prev = a;
    ex->actors = a;
    pthread_mutex_unlock(&ex->actors_mu);
    *out = a;
    return 0;
}

/* Give back the bound slots taken for a submission that did not happen. */
static void admit_undo(crew_actor_t *a, crew_group_t *g, unsigned tflags)
{
    if (tflags & TF_LIMITED)
        crew__limit_put(&a->limit, 1);
    if (tflags & TF_GLIMITED)
        crew__limit_put(&g->glimit, 1);
}

int crew_actor_set_limit(crew_actor_t *a, unsigned max_queued)
{
    if (!actor_ok(a) || max_queued > INT32_MAX)
        return CREW_EINVAL;
    /* relaxed: see crew__limit_max. */
    atomic_store_explicit(&a->limit.max, max_queued, memory_order_relaxed);
    crew__futex_wake(&a->limit.used, INT_MAX); /* a raised bound admits now */
    return 0;
}

int crew_actor_submit_ex(crew_actor_t *a, const crew_task_desc_t *desc, crew_id_t *id)
{
    struct crew *ex;
    crew__worker_t *w;
    crew__task_t *t, *caller, *r = NULL, *runner = NULL;
    crew_task_desc_t d;
    bool born = false;
    crew__cause_t why;
    unsigned tflags = 0;
    int err = 0;
    if (!actor_ok(a))
        return CREW_EINVAL;
    ex = a->ex;
    if ((err = crew__desc_check(ex, desc)) != 0)
        return err;
    w = crew__self_worker(ex);
    caller = w ? crew__tls_task : NULL;
    /* Not a child of the caller (see crew.h): a message outlives its
     * sender, and actors that send to each other (or to themselves) would
     * otherwise chain every sender's record, alive, behind the newest
     * message, and every cancellation check would walk that chain. It does
     * join the caller's group, the scope for cancelling actor work. */
    d = *desc;
    if (!d.group && caller && !(d.flags & CREW_TASK_ISOLATED))
        d.group = caller->group;
    if (CREW_UNLIKELY(
            !w && (crew__limit_max(&a->limit) || (d.group && crew__limit_max(&d.group->glimit))))) {
        bool here; /* never: an actor's tasks wait their turn */
        if ((err = crew__admit(ex, &d, d.group, &a->limit, &tflags, &here)) != 0)
            return err;
    }
    t = crew__task_new(ex, w);
    if (!t) {
        admit_undo(a, d.group, tflags);
        return CREW_ENOMEM;
    }
    if (CREW_UNLIKELY(d.deadline || d.timeout)) {
        /* relaxed: our own fresh record */
        err = crew__desc_arm(ex, &d, atomic_load_explicit(&t->id, memory_order_relaxed));
        if (err) {
            crew__task_unused(ex, t);
            admit_undo(a, d.group, tflags);
            return err;
        }
    }
    pthread_mutex_lock(&a->mu); /* step 1 */
    if (a->status != CREW_ACTOR_ALIVE) {
        a->refused++;
        err = CREW_EACTORDEAD;
    } else if (!caller && crew__mode(ex) != CREW__MODE_RUNNING) {
        err = CREW_ESHUTDOWN;
    } else if (!a->scheduled || !a->spare) {
        r = crew__task_new(ex, w);
        if (!r)
            err = CREW_ENOMEM;
    }
    if (err) {
        pthread_mutex_unlock(&a->mu);
        if (d.deadline || d.timeout) /* relaxed: our own fresh record */
            (void)crew__disarm_task(ex, w, atomic_load_explicit(&t->id, memory_order_relaxed));
        crew__task_unused(ex, t);
        admit_undo(a, d.group, tflags);
        return err;
    }
    a->submitted++;
    if (id) /* relaxed: our own fresh record */
        *id = atomic_load_explicit(&t->id, memory_order_relaxed);
    born = crew__submit_prepare(ex, w, t, NULL, &d, d.arg, id != NULL, false, a, tflags, &why);
    if (CREW_UNLIKELY(born)) {
        a->cancelled++;
    } else {
        t->next = NULL;
        if (a->tail)
            a->tail->next = t;
        else
            a->head = t;
        a->tail = t;
        if (!a->scheduled) {
            a->scheduled = true;
            a->refs++; /* the runner's */
            runner = r;
            r = NULL;
        } else if (!a->spare) {
            a->spare = r;
            r = NULL;
        }
    }
    pthread_mutex_unlock(&a->mu);
    if (r)
        crew__task_unused(ex, r);
    if (born)
        crew__task_born_cancelled(ex, t, &why);
    if (runner)
        runner_publish(ex, a, runner, false);
    return 0;
}

int crew_actor_submit(crew_actor_t *a, crew_fn fn, void *arg, crew_id_t *id)
{
    crew_task_desc_t d = {.fn = fn, .arg = arg};
    return crew_actor_submit_ex(a, &d, id);
}

crew_actor_t *crew_actor_self(void)
{
    crew__task_t *t = crew__tls_task;
    /* flags and owner were written under a->mu before the runner took the
     * record under the same mutex, on this thread. */
    return t ? crew__task_owner(t) : NULL;
}

void *crew_actor_state(void)
{
    struct crew_actor *a = crew_actor_self();
    return a ? a->state : NULL;
}

int crew_actor_exit(void)
{
    struct crew_actor *a = crew_actor_self();
    if (!a)
        return CREW_ENOTINTASK;
    pthread_mutex_lock(&a->mu); /* step 5 */
    if (a->status == CREW_ACTOR_ALIVE) {
        /* Our runner is scheduled (it runs us), so its cleanup makes the
         * actor DEAD once the mailbox is empty. */
        a->status = CREW_ACTOR_EXITING;
        a->cause = CREW_ACTOR_EXITED;
    }
    pthread_mutex_unlock(&a->mu);
    return 0;
}

int crew_actor_kill(crew_actor_t *a, int code, const char *reason)
{
    struct crew *ex;
    crew__task_t *taken, *cur;
    uint64_t n, won;
    bool end;
    if (!actor_ok(a))
        return CREW_EINVAL;
    ex = a->ex;
    pthread_mutex_lock(&a->mu); /* step 4 */
    if (a->status == CREW_ACTOR_DEAD) {
        pthread_mutex_unlock(&a->mu);
        return 0;
    }
    a->status = CREW_ACTOR_DEAD;
    a->cause = CREW_ACTOR_KILLED;
    a->code = code;
    crew__copy_reason(a->reason, reason);
    taken = a->head;
    a->head = a->tail = NULL;
    cur = a->current;
    if (cur)
        pin_record(cur);
    a->dropping++;
    a->refs++; /* pin: a concurrent destroy by a task must not free it */
    pthread_mutex_unlock(&a->mu);
    n = chain_len(taken);
    won = drop_chain(ex, taken, CREW_TASK_ACTOR_DEAD, CREW_CAUSE_ACTOR, code, reason);
    if (cur) {
        crew__task_cancel(ex, cur, code, reason, CREW_CAUSE_ACTOR);
        crew__task_put(ex, cur);
    }
    pthread_mutex_lock(&a->mu);
    a->dropping--;
    a->dead += won;
    a->cancelled += n - won; /* crew_cancel removed them first */
    end = claim_end_locked(a);
    pthread_mutex_unlock(&a->mu);
    if (end)
        run_end(a);
    actor_unref(a);
    return 0;
}

static bool actor_finished(void *ctx, bool arm, _Atomic uint32_t **word, uint32_t *val)
{
    struct crew_actor *a = ctx;
    /* seq_cst: pairs with run_end's store; for helping waiters, step 3 of
     * the park protocol (read after the announcement). run_end wakes the
     * futex and parked workers unconditionally, so arming is just saying
     * where to sleep. */
    if (atomic_load_explicit(&a->finished, memory_order_seq_cst) != 0)
        return true;
    if (arm) {
        *word = &a->finished;
        *val = 0;
    }
    return false;
}

int crew_actor_wait(crew_actor_t *a, int64_t timeout_ns)
{
    int64_t deadline;
    if (!actor_ok(a) || crew__check_timeout(timeout_ns, &deadline) != 0)
        return CREW_EINVAL;
    if (crew_actor_self() == a)
        return CREW_EDEADLK;
    return crew__wait_until(a->ex, actor_finished, a, deadline, true);
}

int crew_actor_info(crew_actor_t *a, crew_actor_info_t *out)
{
    uint64_t in_box_cancelled = 0;
    crew_actor_info_t full, *info = &full;
    if (!actor_ok(a) || !out || !crew__size_ok(out->size, sizeof full))
        return CREW_EINVAL;
    memset(info, 0, sizeof *info);
    pthread_mutex_lock(&a->mu);
    info->status = a->status;
    info->cause = a->cause;
    info->code = a->code;
    memcpy(info->reason, a->reason, CREW_REASON_MAX);
    info->finished = actor_finished(a, false, NULL, NULL);
    info->submitted = a->submitted;
    if (a->current) {
        /* The runner counts `current` only when it has the lock back; a
         * caller that already saw it terminal (crew_join) must see it
         * counted: classify it by its phase here. The runner's pin keeps
         * it allocated and it cannot change while we hold the lock. */
        crew_status_t ph = crew__task_status(a->current);
        if (ph == CREW_TASK_QUEUED || ph == CREW_TASK_RUNNING)
            info->running = true;
        else
            count_phase_into(info, ph);
    }
    for (const crew__task_t *t = a->head; t; t = t->next) {
        /* A snapshot; the status only leaves QUEUED once. */
        if (crew__task_status((crew__task_t *)t) == CREW_TASK_QUEUED)
            info->queued++;
        else
            in_box_cancelled++; /* removed by a canceller, not yet dropped */
    }
    info->done += a->done;
    info->failed += a->failed;
    info->cancelled += a->cancelled + in_box_cancelled;
    info->dead = a->dead;
    info->refused = a->refused;
    pthread_mutex_unlock(&a->mu);
    crew__copy_sized(out, &full, sizeof full);
    return 0;
}

int crew_actor_destroy(crew_actor_t *a)
{
    bool end;
    if (!actor_ok(a))
        return CREW_EINVAL;
    pthread_mutex_lock(&a->mu); /* step 5 */
    if (a->handle_gone) {
        pthread_mutex_unlock(&a->mu);
        return CREW_EINVAL;
    }
    a->handle_gone = true;
    if (a->status == CREW_ACTOR_ALIVE) {
        a->status = CREW_ACTOR_EXITING;
        a->cause = CREW_ACTOR_EXITED;
    }
    if (a->status == CREW_ACTOR_EXITING && !a->scheduled)
        a->status = CREW_ACTOR_DEAD;
    end = claim_end_locked(a);
    pthread_mutex_unlock(&a->mu);
    if (end)
        run_end(a);
    actor_unref(a); /* the handle's */
    return 0;
}

/* ---- executor shutdown (step 7) ---------------------------------------- */

void crew__actors_shutdown(struct crew *ex)
{
    struct crew_actor *a, *ending = NULL;
    pthread_mutex_lock(&ex->actors_mu);
    for (a = ex->actors; a; a = a->next) {
        pthread_mutex_lock(&a->mu);
        if (a->status != CREW_ACTOR_DEAD) {
            /* Quiescent: no runner is alive, so the mailbox is empty (a
             * drain ran it, a cancel dropped it). */
            a->status = CREW_ACTOR_DEAD;
            a->cause = CREW_ACTOR_SHUTDOWN;
        }
        if (claim_end_locked(a)) {
            a->sweep_next = ending;
            ending = a;
        }
        pthread_mutex_unlock(&a->mu);
    }
    pthread_mutex_unlock(&ex->actors_mu);
    /* Destructors outside actors_mu: they may create or destroy actors. */
    while (ending) {
        a = ending;
        ending = a->sweep_next;
        run_end(a);
    }
}
