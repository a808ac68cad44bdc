/*
 * exec.h - the executor's shared state: struct crew, the worker, the
 * thread-local context, and small inline accessors on them. Data only:
 * every module from group.c up reads and writes the fields it owns (named
 * beside each); the calls between modules go through each module's own
 * header, downwards only:
 *
 *   executor.c  create, shutdown, destroy, dump
 *   actor.c     actors, through submit.h/harness.h/worker.h only
 *   submit.c    submit, spawn, batch, schedule      wait.c  the public waits,
 *                                                           cancel, inspect
 *   worker.c    find work, the loop, wait_until
 *   harness.c   run, finish, remove, cancel request, scope sweeps, free
 *   cancel.c    the check, the inherited walk, the executor's set
 *   group.c     membership, lifetime, group cancel state
 *   stats.c     ledger, statistics, quiescence
 *   pool.c      records      task.h the record and its state word
 *   deque inject park cset   platform tunables fault error
 */
#ifndef CREW_EXEC_H
#define CREW_EXEC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "crew.h"
#include "cset.h"
#include "deque.h"
#include "fdeque.h"
#include "inject.h"
#include "limit.h"
#include "park.h"
#include "platform.h"
#include "pool.h"
#include "stats.h"
#include "task.h"
#include "timer.h"

#define CREW__MAGIC       0x63726577u /* "crew" */
#define CREW__GROUP_MAGIC 0x67727075u /* "grpu" */

/* Outcomes of the forks of the task (or fork child) running on a worker
 * since its last crew_sync (crew.h's struct crew__forks: the inline
 * crew_sync_ok() reads it). Owner-private. */
typedef struct crew__forks crew__forks_t;

typedef struct crew__worker {
    crew__deque_t dq;  /* top and bottom on their own cache lines */
    crew__fdeque_t fd; /* forked children's frames (fdeque.h); fd.o also holds
                          the running task's forks and the irq_open mirror
                          (crew.h's struct crew__fj, read by the inline
                          crew_fork()/crew_sync_ok()) */
    /* Owner-private, hot. */
    CREW_ALIGNED struct crew *ex;
    unsigned index;
    uint64_t rng;
    crew__task_t *inbox; /* private FIFO overflow when the deque cannot grow */
    crew__task_t *inbox_tail;
    crew__cset_reader_t *reader; /* for lock-free lookups in the cancel set */
    crew__task_t *spare;         /* a record ready for a stolen frame */
    /* Deferred member counts (group.c): group pointer (low 48 bits) and
     * how many of its DONE members this worker has not yet taken off its
     * pending count (high 16); 0: none. Written by this worker only;
     * crew_group_info() reads it. */
    _Atomic uint64_t gdef;
    pthread_t thread;
    bool started;
    /* Interruptible regions (interrupt.c has the protocol). irq: OFF, IN,
     * CLAIMED (a canceller examines the region), KICKED (signalled);
     * irq_task and irq_thread are written by the owner before IN. */
    /* The group task_start is reading (harness.c); its free waits while it
     * is here (group.c). Written by this worker only. */
    _Atomic(void *) hazard_group;
    CREW_ALIGNED _Atomic uint32_t irq;
    _Atomic(crew__task_t *) irq_task;
    pthread_t irq_thread;
    _Atomic uint32_t irq_sent;        /* signals sent (kickers) */
    _Atomic uint32_t irq_delivered;   /* signals handled (the handler) */
    _Atomic uint32_t irq_written_off; /* given up on by a closer (step 4) */
    _Atomic uint32_t irq_abandoned;   /* of those, not yet arrived (handler) */
    unsigned irq_backoff;             /* re-kick interval, ms (kickers, claimed) */
    crew__ledger_t books;
    crew__counters_t c;
    crew__wobs_t obs;         /* trace ring, idle time (stats.h) */
    crew__pool_cache_t cache; /* remote_free on its own line */
} crew__worker_t;

_Static_assert(offsetof(crew__worker_t, ex) % CREW_CACHE_LINE == 0,
               "owner fields start a cache line");

/* Executor modes: submissions from outside are accepted only in RUNNING. */
enum { CREW__MODE_RUNNING = 0, CREW__MODE_DRAIN = 1, CREW__MODE_CANCEL = 2 };

/* The test mode's check (deadline.c), called from crew_cancelled(). */
struct crew;
typedef bool (*crew__test_fn)(struct crew *ex, crew__worker_t *w, crew__task_t *t);

struct crew {
    uint32_t magic;
    unsigned nworkers;
    unsigned nslots; /* nworkers + 1: the guest slot (crew_run's
                                   caller works as workers[nworkers]) */
    unsigned spin;
    unsigned flags;
    crew__worker_t *workers; /* nslots of them; threads for nworkers */
    /* cpu_of[i]: the CPU worker i reported when it last went from idle to
     * busy (-1: parked or unknown); written by worker i only, read by the
     * others as a hint (worker.c unstack). One compact array: rarely
     * written, so a scan costs a line or two, not a miss per worker. */
    _Atomic int *cpu_of;
    _Atomic bool guest_busy;     /* a crew_run caller holds the guest slot */
    crew__pool_cache_t **caches; /* &workers[i].cache, for the pool */
    crew__inject_t inject;       /* submit.c pushes, worker.c takes */
    crew__park_t park;           /* worker.c parks, everyone notifies */
    crew__pool_t pool;
    crew__cset_t cset; /* cancel.c, group.c (group IDs) */
    /* Live cancellation sources (requested tasks, cancelled groups,
     * cancelled parents with live children, a cancel shutdown). Zero
     * makes the check a single load. Changed only through
     * crew__scope_add/crew__scope_drop. */
    CREW_ALIGNED _Atomic uint32_t cancel_scopes;
    _Atomic int mode;         /* CREW__MODE_*; executor.c writes */
    _Atomic bool stop;        /* workers exit; executor.c writes */
    _Atomic uint32_t quiesce; /* futex: bumped when a worker goes idle */
    _Atomic uint32_t quiesce_waiters;
    _Atomic uint64_t group_seq;        /* group.c */
    _Atomic uint32_t live_groups;      /* group handles not destroyed */
    pthread_mutex_t groups_mu;         /* guards `groups` (group.c) */
    struct crew_group *groups;         /* handles not destroyed */
    crew__ledger_t books;              /* for non-worker threads */
    crew__counters_t shared;           /* for non-worker threads */
    pthread_mutex_t batches_mu;        /* guards the next three (harness.c) */
    struct crew__batch *batches;       /* blocks of batch carriers alive */
    struct crew__batch *spare_batches; /* freed blocks kept for reuse */
    _Atomic bool batches_used;         /* a block was ever listed */
    unsigned nspare_batches;
    pthread_mutex_t actors_mu; /* guards `actors` (actor.c) */
    struct crew_actor *actors; /* actor structures not yet freed */
    /* Syncs the forks a task body left unsynced (worker.c's
     * crew__fork_sync, set at create): the harness runs bodies but sits
     * below the fork-join code, so it calls up only through this. */
    void (*fork_sync)(struct crew *ex, crew__worker_t *w);
    /* Deadlines (timer.h); fired through the harness (harness.c). */
    crew__timer_t timer;
    bool timer_ok, irq_ok; /* initialised (crew_create) */
    /* Backpressure (submit.c): queued submissions from outside threads,
     * with the default policy when the bound is reached. */
    crew__limit_t limit;
    /* Hazard slots of sweeping threads that are not workers (harness.c
     * sweep): NULL free, HZ_CLAIMED taken, else the group being read. */
    _Atomic(void *) hz_ext[16];
    unsigned full_policy; /* CREW_FULL_* */
    int64_t full_timeout; /* CREW_FULL_WAIT's limit, ns; -1: none */
    /* On-cancel registrations and interruption (interrupt.c). */
    pthread_mutex_t reach_mu;
    pthread_cond_t reach_cv;
    struct crew_on_cancel *regs; /* every armed registration, newest first */
    _Atomic uint32_t nregs;      /* registrations armed (hint, see interrupt.c) */
    _Atomic uint32_t nregions;   /* interruptible regions open */
    int irq_sig;                 /* the interrupt signal */
    _Atomic uint64_t callbacks_run, interrupts_sent;
    /* Deterministic test mode (interrupt.c): the Nth check reports
     * cancellation. test_check is set before the scope that sends checks
     * to the slow path is counted, and stays until crew_destroy. */
    _Atomic(crew__test_fn) test_check;
    uint64_t test_n;   /* 0: off */
    crew_id_t test_id; /* 0: any task */
    char test_fn[64];  /* "": any function */
    _Atomic uint64_t test_fired, test_max_checks;
    crew__obs_t obs; /* trace, task times, watchdog (stats.h, observe.c) */
};

/* Thread-local context. initial-exec: a direct %fs-relative access
 * instead of a __tls_get_addr call in the shared library; crew's TLS is
 * three pointers, well within the static TLS surplus glibc keeps for
 * libraries loaded with dlopen. */
#define CREW_TLS _Thread_local __attribute__((tls_model("initial-exec")))
extern CREW_TLS crew__worker_t *crew__tls_worker;
extern CREW_TLS crew__task_t *crew__tls_task;
/* &ex->cancel_scopes on a worker thread of ex, NULL elsewhere: the whole
 * fast path of crew_cancelled() is this load and the one it points to. */
extern CREW_TLS _Atomic uint32_t *crew__tls_scopes;

/* The calling thread works for w from now on, or for nobody (NULL): sets
 * the three above and crew.h's crew__fj_cur (worker.c). */
void crew__tls_enter(crew__worker_t *w);

static inline bool crew__valid(const struct crew *ex) { return ex && ex->magic == CREW__MAGIC; }

/* The calling thread's worker if it is one of ex's, else NULL. */
static inline crew__worker_t *crew__self_worker(struct crew *ex)
{
    crew__worker_t *w = crew__tls_worker;
    return (w && w->ex == ex) ? w : NULL;
}

static inline crew__pool_cache_t *crew__cache_of(crew__worker_t *w) { return w ? &w->cache : NULL; }

/* Add n to ledger field f / statistic f of the calling thread's set. */
#define CREW__BOOK(ex, w, f, n)  CREW__ADD((w) ? &(w)->books : NULL, &(ex)->books, f, n)
#define CREW__COUNT(ex, w, f, n) CREW__ADD((w) ? &(w)->c : NULL, &(ex)->shared, f, n)

/* Task `id` ended, or its deadline is cleared: disarm it (one CAS on its
 * timer entry, no lock), counting the disarm in the caller's statistics. */
static inline bool crew__disarm_task(struct crew *ex, crew__worker_t *w, uint64_t id)
{
    if (!crew__timer_task_maybe(&ex->timer, id) ||
        !crew__timer_disarm(&ex->timer, CREW__TM_TASK, id, NULL))
        return false;
    CREW__COUNT(ex, w, dl_disarmed, 1);
    return true;
}

/* Check protocol step 1 (cancel.c): anything cancelled anywhere? */
static inline bool crew__any_scope(struct crew *ex)
{
    /* relaxed: a canceller counts its scope (seq_cst) before its
     * cancellation is visible and before it returns. */
    return atomic_load_explicit(&ex->cancel_scopes, memory_order_relaxed) != 0;
}

static inline void crew__scope_add(struct crew *ex)
{
    /* seq_cst: the count is visible before the cancellation it announces
     * (check protocol step 1 in cancel.c). */
    atomic_fetch_add_explicit(&ex->cancel_scopes, 1, memory_order_seq_cst);
}

static inline void crew__scope_drop(struct crew *ex)
{
    /* relaxed: dropped only when nothing can need the scope any more. */
    atomic_fetch_sub_explicit(&ex->cancel_scopes, 1, memory_order_relaxed);
}

static inline int crew__mode(struct crew *ex)
{
    /* acquire: pairs with the seq_cst mode changes in crew_shutdown. */
    return atomic_load_explicit(&ex->mode, memory_order_acquire);
}

/* Copy a cancellation reason, truncated to CREW_REASON_MAX - 1 bytes. */
static inline void crew__copy_reason(char *dst, const char *src)
{
    size_t n = 0;
    if (src)
        while (n < CREW_REASON_MAX - 1 && src[n])
            n++;
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i];
    dst[n] = '\0';
}

/* A struct that carries its size (crew.h): valid sizes, and copy out the
 * first `size` bytes of a filled one (the size field stays the caller's). */
static inline bool crew__size_ok(size_t size, size_t full)
{
    return size >= sizeof(size_t) && size <= full * 4;
}
static inline void crew__copy_sized(void *dst, const void *full, size_t full_size)
{
    size_t n = *(const size_t *)dst;
    const char *src = full;
    char *d = dst;
    if (n > full_size)
        n = full_size;
    for (size_t i = sizeof(size_t); i < n; i++)
        d[i] = src[i];
}

/* 0 and *deadline (-1: none) for a valid timeout, else CREW_EINVAL. */
static inline int crew__check_timeout(int64_t timeout_ns, int64_t *deadline)
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

#endif
