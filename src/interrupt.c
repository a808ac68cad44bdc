/*
 * interrupt.c - reaching a running body (interrupt.h): on-cancel
 * callbacks, interruptible regions, shields.
 *
 * "Visible" below means: a canceller has counted its scope (seq_cst) and
 * published its cancellation (REQ in the state word, a group's flag, the
 * executor's CANCEL mode) so that crew__inherited_cancel or the REQ bit
 * shows it. Every cancel path calls crew__reach_running afterwards.
 *
 * On-cancel registrations (states ARMED -> RUNNING -> RAN, or ARMED ->
 * REMOVED), all under ex->reach_mu:
 *  1. Register: lock; link at the head of ex->regs, ARMED; nregs += 1
 *     (seq_cst); unlock. Then a seq_cst fence and the task's check: if it
 *     is cancelled, run the scan (step 2) ourselves.
 *  2. Scan (a canceller after its cancellation is visible, then a seq_cst
 *     fence; skipped when nregs reads 0): lock; every ARMED registration
 *     whose task is cancelled becomes RUNNING and is unlinked; unlock; run
 *     them (newest first); lock; mark them RAN; broadcast reach_cv; unlock.
 *     The fences of 1 and 2 pair: either the registrar's check sees the
 *     cancellation or the canceller's load of nregs sees the registration.
 *     The state, changed only under the mutex, makes "exactly once".
 *  3. Remove: lock; ARMED and the task not cancelled: unlink, REMOVED,
 *     answer 0; ARMED and cancelled (its canceller was the task's own
 *     thread, which step 2 leaves alone): unlink, run fn here, answer 1;
 *     RUNNING: wait on reach_cv until RAN; RAN: answer 1. After it returns
 *     fn is not running and never will.
 *
 * Interruptible regions (per worker slot: irq is OFF, IN, CLAIMED or
 * KICKED; irq_sent counts signals sent, irq_delivered the handler's runs):
 *  1. Open (the body's own thread): write irq_task and irq_thread; nregions
 *     += 1 (seq_cst); irq = IN (seq_cst); a seq_cst fence; check: if the
 *     task is cancelled, the opener acts as a canceller (step 2) on its
 *     own slot.
 *  2. Kick (a canceller, after its cancellation is visible and a seq_cst
 *     fence, for each slot while nregions > 0): CAS IN -> CLAIMED
 *     (acquire: irq_task is the region's, and the task cannot leave the
 *     region while we hold the claim); if that task is cancelled:
 *     irq_sent += 1 (release), pthread_kill, irq = KICKED (release), and a
 *     re-kick armed on the timer at +1 ms; else irq = IN (release). The
 *     fences of 1 and 2 pair: the opener's check sees the cancellation or
 *     the canceller sees IN.
 *  3. Re-kick (the timer thread; the signal may have arrived just before
 *     the body entered its blocking call): CAS KICKED -> CLAIMED, send
 *     again, irq = KICKED, re-arm after 2, 4 ... 64 ms. Steps 2 and 3 send
 *     only while no signal is outstanding (irq_delivered == irq_sent): at
 *     most one is ever in flight, so counts stay exact even where pending
 *     signals of one number are merged.
 *  4. Close (the body's own thread): CAS IN or KICKED -> OFF (acq_rel),
 *     spinning while CLAIMED; then wait until no signal is outstanding
 *     (acquire; a thread-directed signal is delivered at the latest when
 *     this thread next returns from the kernel: the wait yields). The
 *     wait is bounded (200 ms) for runtimes that hold signals back
 *     (ThreadSanitizer defers handlers to its own safe points): a signal
 *     not handled by then is written off, and if it arrives later, outside
 *     the region, the handler recognises it (irq_abandoned) instead of
 *     counting a stray; it may interrupt a system call there, which only
 *     such a runtime can cause. Only then is the region closed: no
 *     claim can succeed on OFF, so no signal is sent or pending for it,
 *     and none can reach the next region or another task on this thread.
 *  5. Another body on this thread (a helping wait, an inline fork, a
 *     shield) closes the region first (step 4) and reopens it (step 1)
 *     after.
 * The model tools/model/interrupt.pml checks steps 1, 2 and 4 with the
 * broken variants it names.
 */
#include "interrupt.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { REG_ARMED = 1, REG_RUNNING = 2, REG_RAN = 3, REG_REMOVED = 4 };
enum { IRQ_OFF = 0, IRQ_IN = 1, IRQ_CLAIMED = 2, IRQ_KICKED = 3 };

static _Atomic uint64_t irq_stray;
static pthread_mutex_t sig_mu = PTHREAD_MUTEX_INITIALIZER;

uint64_t crew__irq_stray(void)
{
    /* relaxed: a test reads it after the threads it counts are joined. */
    return atomic_load_explicit(&irq_stray, memory_order_relaxed);
}

/* ---- cancelled? ----------------------------------------------------------- */

/* Is task t cancelled, by any cause, as a canceller that made its
 * cancellation visible sees it? (No set lookup: a direct request has set
 * REQ before it reaches us.) */
static bool reached(struct crew *ex, crew__task_t *t)
{
    crew__cause_t why;
    /* acquire (rec_load): pairs with the REQ CAS. */
    return crew__word_req(crew__rec_load(t)) || crew__inherited_cancel(ex, t, &why);
}

/* ---- on-cancel callbacks ---------------------------------------------------- */

/* Step 2. Registrations of `skip` (the task running on the calling
 * thread, when it is the canceller) are left for its own remove (step 3):
 * it may be inside crew_cancelled() holding the very lock its callback
 * takes. */
static void scan_callbacks(struct crew *ex, void *skip)
{
    crew_on_cancel_t *r, *nx, *run = NULL;
    uint64_t n = 0;
    pthread_mutex_lock(&ex->reach_mu);
    for (r = ex->regs; r; r = nx) {
        nx = r->next;
        if (r->state != REG_ARMED || (skip && r->task == skip) || !reached(ex, r->task))
            continue;
        /* step 2: claim and unlink, keeping the order (newest first) */
        if (r->prev)
            r->prev->next = r->next;
        else
            ex->regs = r->next;
        if (r->next)
            r->next->prev = r->prev;
        r->state = REG_RUNNING;
        /* relaxed: a hint, under the mutex. */
        atomic_fetch_sub_explicit(&ex->nregs, 1, memory_order_relaxed);
        r->prev = run; /* a stack: reversed below */
        run = r;
    }
    pthread_mutex_unlock(&ex->reach_mu);
    if (!run)
        return;
    { /* back to newest first */
        crew_on_cancel_t *rev = NULL;
        for (r = run; r; r = nx) {
            nx = r->prev;
            r->prev = rev;
            rev = r;
        }
        run = rev;
    }
    for (r = run; r; r = r->prev, n++)
        r->fn(r->arg);
    pthread_mutex_lock(&ex->reach_mu);
    for (r = run; r; r = nx) {
        nx = r->prev;
        r->prev = r->next = NULL;
        r->state = REG_RAN;
    }
    pthread_cond_broadcast(&ex->reach_cv);
    pthread_mutex_unlock(&ex->reach_mu);
    /* relaxed: a statistic. */
    atomic_fetch_add_explicit(&ex->callbacks_run, n, memory_order_relaxed);
}

int crew_on_cancel(crew_on_cancel_t *reg, void (*fn)(void *arg), void *arg)
{
    crew__worker_t *w = crew__tls_worker;
    crew__task_t *t = crew__tls_task;
    struct crew *ex;
    int state;
    if (!w || !t)
        return CREW_ENOTINTASK;
    if (!reg || !fn)
        return CREW_EINVAL;
    ex = w->ex;
    *reg = (crew_on_cancel_t){.fn = fn, .arg = arg, .task = t, .ex = ex, .state = REG_ARMED};
    pthread_mutex_lock(&ex->reach_mu);
    reg->next = ex->regs;
    if (reg->next)
        reg->next->prev = reg;
    ex->regs = reg;
    /* seq_cst: step 1, with the fence below. */
    atomic_fetch_add_explicit(&ex->nregs, 1, memory_order_seq_cst);
    pthread_mutex_unlock(&ex->reach_mu);
    w->fd.o.forks->ncb++;
    /* seq_cst fence: pairs with the canceller's fence (step 2): without it
     * our check could miss a cancel whose canceller missed our
     * registration, and fn would never run. */
    CREW_FENCE_SEQ_CST();
    if (crew__any_scope(ex) && reached(ex, t))
        scan_callbacks(ex, NULL);
    pthread_mutex_lock(&ex->reach_mu);
    state = reg->state;
    pthread_mutex_unlock(&ex->reach_mu);
    return state == REG_ARMED ? 0 : 1;
}

int crew_on_cancel_remove(crew_on_cancel_t *reg)
{
    struct crew *ex;
    crew__worker_t *w = crew__tls_worker;
    int rc;
    if (!reg || !reg->ex)
        return CREW_EINVAL;
    ex = reg->ex;
    pthread_mutex_lock(&ex->reach_mu);
    if (reg->state < REG_ARMED || reg->state > REG_RAN) {
        pthread_mutex_unlock(&ex->reach_mu);
        return CREW_EINVAL;
    }
    if (reg->state == REG_ARMED) {         /* step 3 */
        bool run = reached(ex, reg->task); /* cancelled by its own thread */
        if (reg->prev)
            reg->prev->next = reg->next;
        else
            ex->regs = reg->next;
        if (reg->next)
            reg->next->prev = reg->prev;
        /* relaxed: a hint, under the mutex. */
        atomic_fetch_sub_explicit(&ex->nregs, 1, memory_order_relaxed);
        reg->prev = reg->next = NULL;
        reg->state = run ? REG_RUNNING : REG_REMOVED;
        rc = run;
        if (run) {
            pthread_mutex_unlock(&ex->reach_mu);
            reg->fn(reg->arg);
            /* relaxed: a statistic. */
            atomic_fetch_add_explicit(&ex->callbacks_run, 1, memory_order_relaxed);
            pthread_mutex_lock(&ex->reach_mu);
            reg->state = REG_REMOVED;
            pthread_cond_broadcast(&ex->reach_cv);
        }
    } else {
        while (reg->state == REG_RUNNING)
            pthread_cond_wait(&ex->reach_cv, &ex->reach_mu);
        reg->state = REG_REMOVED;
        rc = 1;
    }
    pthread_mutex_unlock(&ex->reach_mu);
    if (w && w->ex == ex && w->fd.o.forks && w->fd.o.forks->ncb)
        w->fd.o.forks->ncb--;
    return rc;
}

/* ---- interruptible regions --------------------------------------------------- */

static void on_signal(int sig)
{
    crew__worker_t *w = crew__tls_worker;
    (void)sig;
    if (!w) {
        /* relaxed: a test counter (async-signal-safe: lock-free). */
        atomic_fetch_add_explicit(&irq_stray, 1, memory_order_relaxed);
        return;
    }
    if (!w->fd.o.irq_open) {
        /* Outside a region: a signal a closer gave up waiting for (step 4's
         * bound) arriving late is accounted for; any other is a stray.
         * relaxed: this thread's own counters (the closer is the thread
         * this handler interrupted). */
        uint32_t a = atomic_load_explicit(&w->irq_abandoned, memory_order_relaxed);
        if (a)
            atomic_store_explicit(&w->irq_abandoned, a - 1, memory_order_relaxed);
        else
            atomic_fetch_add_explicit(&irq_stray, 1, memory_order_relaxed);
        return;
    }
    /* release: pairs with the closer's acquire (step 4). */
    atomic_fetch_add_explicit(&w->irq_delivered, 1, memory_order_release);
}

/* Signals sent to w's regions and neither handled nor written off. */
static int32_t outstanding(crew__worker_t *w)
{
    /* acquire: pairs with the handler's and the kickers' release RMWs. */
    uint32_t sent = atomic_load_explicit(&w->irq_sent, memory_order_acquire);
    uint32_t got = atomic_load_explicit(&w->irq_delivered, memory_order_acquire);
    uint32_t off = atomic_load_explicit(&w->irq_written_off, memory_order_acquire);
    return (int32_t)(sent - got - off);
}

static int install_handler(int sig)
{
    struct sigaction old, sa;
    int rc = 0;
    pthread_mutex_lock(&sig_mu);
    if (sigaction(sig, NULL, &old) != 0) {
        rc = CREW_EINVAL;
    } else if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == on_signal) {
        rc = 0;
    } else if ((old.sa_flags & SA_SIGINFO) ||
               (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)) {
        rc = CREW_ESIGNAL;
    } else {
        sa = (struct sigaction){.sa_handler = on_signal};
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0; /* no SA_RESTART: blocking calls return EINTR */
        if (sigaction(sig, &sa, NULL) != 0)
            rc = CREW_EINVAL;
    }
    pthread_mutex_unlock(&sig_mu);
    return rc;
}

int crew__interrupt_init(struct crew *ex, int sig)
{
    pthread_condattr_t ca;
    ex->irq_sig = sig ? sig : SIGRTMIN + 3;
    if (ex->irq_sig < SIGRTMIN || ex->irq_sig > SIGRTMAX)
        return CREW_EINVAL;
    if (pthread_mutex_init(&ex->reach_mu, NULL) != 0)
        return CREW_ENOMEM;
    pthread_condattr_init(&ca);
    if (pthread_cond_init(&ex->reach_cv, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        pthread_mutex_destroy(&ex->reach_mu);
        return CREW_ENOMEM;
    }
    pthread_condattr_destroy(&ca);
    ex->regs = NULL;
    return 0;
}

void crew__interrupt_fini(struct crew *ex)
{
    pthread_cond_destroy(&ex->reach_cv);
    pthread_mutex_destroy(&ex->reach_mu);
}

/* Send the signal unless one is still on its way (delivered < sent): at
 * most one is ever outstanding, so a runtime that merges pending signals
 * of one number (ThreadSanitizer does) cannot make the counts disagree,
 * and a closer that sees delivered == sent knows none is left. The
 * caller holds the claim. */
static void send_kick(struct crew *ex, crew__worker_t *w)
{
    if (outstanding(w) > 0)
        return; /* the one outstanding will interrupt the call */
    /* release: the closer waits until delivered catches up with this. */
    atomic_fetch_add_explicit(&w->irq_sent, 1, memory_order_release);
    pthread_kill(w->irq_thread, ex->irq_sig);
    /* relaxed: a statistic. */
    atomic_fetch_add_explicit(&ex->interrupts_sent, 1, memory_order_relaxed);
}

static void arm_rekick(struct crew *ex, crew__worker_t *w)
{
    /* Best effort: without memory for the entry, no re-kick (the first
     * signal still went). */
    (void)crew__timer_arm(&ex->timer, CREW__TM_IRQ, w->index, NULL,
                          crew__now_ns() + (int64_t)w->irq_backoff * 1000000, NULL);
}

/* Step 2 on one slot. */
static void kick(struct crew *ex, crew__worker_t *w)
{
    /* relaxed: a hint; the CAS decides. */
    uint32_t s = atomic_load_explicit(&w->irq, memory_order_relaxed);
    crew__task_t *t;
    if (s != IRQ_IN)
        return;
    /* acquire: pairs with the opener's seq_cst store of IN; we read
     * irq_task and irq_thread next. */
    if (!atomic_compare_exchange_strong_explicit(&w->irq, &s, IRQ_CLAIMED, memory_order_acquire,
                                                 memory_order_relaxed))
        return;
    /* relaxed: ordered by the claim. */
    t = atomic_load_explicit(&w->irq_task, memory_order_relaxed);
    if (reached(ex, t)) {
        w->irq_backoff = 1;
        send_kick(ex, w);
        /* release: publishes irq_backoff and the send to the closer. */
        atomic_store_explicit(&w->irq, IRQ_KICKED, memory_order_release);
        arm_rekick(ex, w);
    } else {
        /* release: back as we found it. */
        atomic_store_explicit(&w->irq, IRQ_IN, memory_order_release);
    }
}

void crew__irq_rekick(struct crew *ex, unsigned idx)
{
    crew__worker_t *w;
    uint32_t s = IRQ_KICKED;
    if (idx >= ex->nslots)
        return;
    w = &ex->workers[idx];
    /* acquire: as in kick (step 3). */
    if (!atomic_compare_exchange_strong_explicit(&w->irq, &s, IRQ_CLAIMED, memory_order_acquire,
                                                 memory_order_relaxed))
        return; /* the region closed */
    send_kick(ex, w);
    if (w->irq_backoff < 64)
        w->irq_backoff *= 2;
    /* release: as in kick. */
    atomic_store_explicit(&w->irq, IRQ_KICKED, memory_order_release);
    arm_rekick(ex, w);
}

void crew__reach_running(struct crew *ex)
{
    /* seq_cst fence: pairs with the fences of registration step 1 and
     * region step 1. Without it the loads below could miss a registration
     * or a region whose own check missed our cancellation. */
    CREW_FENCE_SEQ_CST();
    /* relaxed: hints ordered by the fence. */
    if (atomic_load_explicit(&ex->nregs, memory_order_relaxed))
        scan_callbacks(ex, crew__self_worker(ex) ? crew__tls_task : NULL);
    if (atomic_load_explicit(&ex->nregions, memory_order_relaxed))
        for (unsigned i = 0; i < ex->nslots; i++)
            kick(ex, &ex->workers[i]);
}

/* Step 1. */
static void irq_open(struct crew *ex, crew__worker_t *w)
{
    /* relaxed: published by the seq_cst store of IN. */
    atomic_store_explicit(&w->irq_task, crew__tls_task, memory_order_relaxed);
    w->irq_thread = pthread_self();
    w->fd.o.irq_open = true;
    crew__fj_derive(&w->fd.o); /* the inline sync leaves every frame to us */
    /* seq_cst: the count before the state, both before our check. */
    atomic_fetch_add_explicit(&ex->nregions, 1, memory_order_seq_cst);
    atomic_store_explicit(&w->irq, IRQ_IN, memory_order_seq_cst);
    /* seq_cst fence: pairs with crew__reach_running's (see the top). */
    CREW_FENCE_SEQ_CST();
    if (crew__any_scope(ex) && reached(ex, crew__tls_task))
        kick(ex, w); /* cancelled already: act as its canceller */
}

/* Step 4. */
void crew__irq_close(struct crew *ex, crew__worker_t *w)
{
    /* relaxed: the CAS decides. */
    uint32_t s = atomic_load_explicit(&w->irq, memory_order_relaxed);
    for (;;) {
        if (s == IRQ_CLAIMED) { /* a canceller decides: wait for it */
            crew__cpu_relax();
            s = atomic_load_explicit(&w->irq, memory_order_relaxed);
            continue;
        }
        /* acq_rel: acquire pairs with a kicker's release store (its send is
         * counted in irq_sent before); release orders our region's end. */
        if (atomic_compare_exchange_weak_explicit(&w->irq, &s, IRQ_OFF, memory_order_acq_rel,
                                                  memory_order_relaxed))
            break; /* s: IN or KICKED, what we replaced */
    }
    if (s == IRQ_KICKED) {
        int64_t give_up = crew__now_ns() + 200000000;
        int32_t left;
        for (unsigned i = 0; (left = outstanding(w)) > 0; i++) {
            /* A syscall: the pending signal is delivered on its way back.
             * Now and then a sleep too: a runtime that defers handlers to
             * its own safe points (ThreadSanitizer) runs them there. */
            if (i % 16 == 15) {
                struct timespec ts = {0, 1000};
                nanosleep(&ts, NULL);
                /* Bounded: a runtime that holds a signal back longer (seen
                 * under ThreadSanitizer) must not hang the task. The signal
                 * is written off; if it arrives later the handler knows it
                 * (irq_abandoned) and it is not counted a stray. */
                if (crew__now_ns() > give_up) {
                    /* release: as the handler's increments. */
                    atomic_fetch_add_explicit(&w->irq_written_off, (uint32_t)left,
                                              memory_order_release);
                    /* relaxed: this thread's own counter (see on_signal). */
                    atomic_fetch_add_explicit(&w->irq_abandoned, (uint32_t)left,
                                              memory_order_relaxed);
                    break;
                }
            } else {
                sched_yield();
            }
        }
        (void)crew__timer_disarm(&ex->timer, CREW__TM_IRQ, w->index, NULL);
    }
    w->fd.o.irq_open = false;
    crew__fj_derive(&w->fd.o);
    /* relaxed: a hint (see crew__reach_running). */
    atomic_fetch_sub_explicit(&ex->nregions, 1, memory_order_relaxed);
}

void crew__irq_reopen(struct crew *ex, crew__worker_t *w) { irq_open(ex, w); }

void crew__body_leftovers(struct crew *ex, crew__worker_t *w, crew__forks_t *k)
{
    if (k->ncb) {
        fprintf(stderr,
                "crew: a task body returned with %u on-cancel registration(s) armed "
                "(crew_on_cancel_remove() must come first)\n",
                (unsigned)k->ncb);
        abort();
    }
    if (k->irq_depth) {
        k->irq_depth = 0;
        if (w->fd.o.irq_open)
            crew__irq_close(ex, w);
    }
}

int crew_interruptible_begin(void)
{
    crew__worker_t *w = crew__tls_worker;
    crew__forks_t *k;
    struct crew *ex;
    int rc;
    if (!w || !crew__tls_task || !w->fd.o.forks)
        return CREW_ENOTINTASK;
    ex = w->ex;
    k = w->fd.o.forks;
    if (k->irq_depth) {
        k->irq_depth++;
        return 0;
    }
    if ((rc = install_handler(ex->irq_sig)) != 0)
        return rc;
    if (crew_cancelled())
        return CREW_ECANCELED;
    k->irq_depth = 1;
    if (k->shield)
        return 0; /* opened when the shield ends */
    irq_open(ex, w);
    if (crew_cancelled()) { /* cancelled between the check and the open */
        k->irq_depth = 0;
        crew__irq_close(ex, w);
        return CREW_ECANCELED;
    }
    return 0;
}

void crew_interruptible_end(void)
{
    crew__worker_t *w = crew__tls_worker;
    crew__forks_t *k;
    if (!w || !crew__tls_task || !(k = w->fd.o.forks) || !k->irq_depth)
        return;
    if (--k->irq_depth == 0 && w->fd.o.irq_open)
        crew__irq_close(w->ex, w);
}

/* ---- shields ------------------------------------------------------------------ */

void crew_shield_begin(void)
{
    crew__worker_t *w = crew__tls_worker;
    crew__forks_t *k;
    if (!w || !crew__tls_task || !(k = w->fd.o.forks))
        return;
    if (k->shield++ == 0 && w->fd.o.irq_open)
        crew__irq_close(w->ex, w); /* interruption is off inside */
}

void crew_shield_end(void)
{
    crew__worker_t *w = crew__tls_worker;
    crew__forks_t *k;
    if (!w || !crew__tls_task || !(k = w->fd.o.forks) || !k->shield)
        return;
    if (--k->shield)
        return;
    /* A deadline that passed inside the shield takes effect now, even if
     * the timer thread is late (a loaded machine): fire what is due here,
     * as the thread would (timer.h step 6). A deadline no longer pending
     * may be one the thread took and has not fired yet: wait for it. */
    int64_t d = crew_deadline();
    if (d && d <= crew__now_ns())
        crew__timer_poll(&w->ex->timer);
    else
        crew__timer_settle(&w->ex->timer);
    if (k->irq_depth && !w->fd.o.irq_open)
        irq_open(w->ex, w); /* a cancel that came meanwhile kicks now */
}
