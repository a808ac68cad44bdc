/*
 * crew.h - a work-stealing task executor for C, with first-class cancellation.
 *
 * This header is the manual. Each function's comment says what it does, then
 * gives four blocks, always in this order and with these labels:
 * "Thread-safety:", "Ownership:", "Returns:", "Errors:". The trivial
 * accessors (crew_strerror, crew_err_name, crew_status_name, crew_workers,
 * crew_self, crew_current, crew_worker_index, crew_group_id,
 * crew_actor_state, crew_actor_self) use a short form instead: one comment
 * saying what they return and from which threads they may be called; they
 * take and free nothing and never fail.
 *
 * Model in one paragraph. An executor (crew_t) owns N worker threads, each
 * with a deque: a task spawned from inside a task goes to the spawning
 * worker's deque (LIFO for the owner, FIFO for thieves); a task submitted from
 * any other thread goes through a shared injection queue. A task is a
 * function `int fn(void *arg)` plus an argument; it gets a 64-bit ID, unique
 * for the executor's lifetime (consecutive tasks of a batch run whose IDs
 * nobody could learn may share one, see crew_submit_batch(): no call can
 * tell). Every task reaches exactly one terminal status:
 * CREW_TASK_DONE (body returned 0), CREW_TASK_FAILED (body returned non-zero),
 * CREW_TASK_CANCELLED, or, for an actor task dropped by crew_actor_kill(),
 * CREW_TASK_ACTOR_DEAD. Cancelling a queued task removes it (it never runs);
 * cancelling a running task is a request its body sees through
 * crew_cancelled(), and its status ends CREW_TASK_CANCELLED whatever it
 * returns. Cancellation is recursive: children of a cancelled task and
 * members of a cancelled group (and of its nested groups) are cancelled too.
 *
 * Handles. A task submitted with a non-NULL `id` out-parameter is *joinable*:
 * its record stays inspectable until crew_release() or crew_join(). A task
 * submitted with `id == NULL` is *detached*: it is reclaimed as soon as it is
 * terminal. Calls on a released ID return CREW_ENOTASK.
 *
 * Errors are negative `int`s (see CREW_ERRNO_MAP); 0 is success; the set may
 * grow in later versions, so treat unknown negative values as errors.
 */
#ifndef CREW_H
#define CREW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CREW_BUILDING) && defined(__GNUC__)
#define CREW_API __attribute__((visibility("default")))
#else
#define CREW_API
#endif

#define CREW_VERSION_MAJOR 0
#define CREW_VERSION_MINOR 1
#define CREW_VERSION_PATCH 0

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/* X(name, value, message). Values are stable; the set may grow. */
#define CREW_ERRNO_MAP(X)                                                                          \
    X(EINVAL, -1, "invalid argument")                                                              \
    X(ENOMEM, -2, "out of memory")                                                                 \
    X(ESHUTDOWN, -3, "executor is shutting down: submission refused")                              \
    X(ENOTASK, -4, "unknown or released task ID")                                                  \
    X(ETIMEDOUT, -5, "timed out")                                                                  \
    X(ECANCELED, -6, "the calling task was cancelled while it waited")                             \
    X(EDEADLK, -7, "a task may not wait for itself")                                               \
    X(EBUSY, -8, "object still in use")                                                            \
    X(ENOTINTASK, -9, "call is only valid inside a task")                                          \
    X(ETHREAD, -10, "could not create a worker thread")                                            \
    X(EACTORDEAD, -11, "actor is dead: submission refused")                                        \
    X(EWRONGEXEC, -12, "object belongs to another executor")                                       \
    X(EFAILED, -13, "a child task failed")                                                         \
    X(ECHILDCANCELED, -14, "a child task was cancelled")                                           \
    X(ESIGNAL, -15, "the interrupt signal has a handler that is not crew's")                       \
    X(EFULL, -16, "the bound on queued tasks is reached")

typedef enum crew_errno {
#define CREW__ERR_ENUM(name, val, msg) CREW_##name = (val),
    CREW_ERRNO_MAP(CREW__ERR_ENUM)
#undef CREW__ERR_ENUM
} crew_errno_t;

/* Human-readable message for an error or outcome code ("success" for 0,
 * "unknown error" for values outside the table). Never NULL: a static
 * string. Any thread. */
CREW_API const char *crew_strerror(int err);
/* The symbolic name ("CREW_ENOTASK"; "CREW_OK" for 0, "CREW_REMOVED" etc.
 * for the cancel outcomes), or "CREW_UNKNOWN". Never NULL: a static string.
 * Any thread. */
CREW_API const char *crew_err_name(int err);

/* ------------------------------------------------------------------------ */
/* Types                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct crew crew_t;             /* an executor (opaque) */
typedef struct crew_group crew_group_t; /* a group of tasks (opaque) */
typedef struct crew_actor crew_actor_t; /* a serial executor (opaque) */
typedef uint64_t crew_id_t;             /* task ID; 0 is never a valid ID */

/* A task body. Return 0 for success (DONE) or any other value for failure
 * (FAILED; the value is kept as the task's result code). */
typedef int (*crew_fn)(void *arg);
/* Called exactly once with the task's argument when the task is finished
 * with it: after the body returned, or when the task was removed before it
 * ran. It runs before the task is seen as terminal by waiters. */
typedef void (*crew_cleanup_fn)(void *arg);

/* A task's state. QUEUED and RUNNING are live; the others are terminal and
 * never change once reached. */
typedef enum crew_status {
    CREW_TASK_QUEUED = 0,
    CREW_TASK_RUNNING = 1,
    CREW_TASK_DONE = 2,
    CREW_TASK_FAILED = 3,
    CREW_TASK_CANCELLED = 4,
    CREW_TASK_ACTOR_DEAD = 5 /* actor task dropped, never run, because its
                                actor was killed (crew_actor_kill()) */
} crew_status_t;

/* Name of a status ("DONE"; "UNKNOWN" outside the enum). Never NULL: a
 * static string. Any thread. */
CREW_API const char *crew_status_name(crew_status_t s);

/* Outcomes of crew_cancel() (positive; errors are negative). */
typedef enum crew_cancel_outcome {
    CREW_REMOVED = 1,   /* was queued: removed, will never run, now CANCELLED */
    CREW_REQUESTED = 2, /* was running: its checks now report cancellation,
                           and its terminal status will be CANCELLED */
    CREW_TOO_LATE = 3   /* already terminal (or being removed): no change */
} crew_cancel_outcome_t;

/* Wait forever. Other negative timeouts are invalid (CREW_EINVAL). */
#define CREW_FOREVER ((int64_t)-1)
/* Largest finite timeout accepted: one year, in nanoseconds. */
#define CREW_TIMEOUT_MAX_NS ((int64_t)365 * 24 * 3600 * 1000000000LL)
/* Longest cancellation reason kept, including the terminating NUL. */
#define CREW_REASON_MAX 24

/* ------------------------------------------------------------------------ */
/* Executor                                                                 */
/* ------------------------------------------------------------------------ */

#define CREW_OPT_PIN 0x1u /* pin worker i to online CPU (i mod ncpu) */
/* One record per task in every batch: no carriers (crew_submit_batch()),
 * so that crew_task_list() shows each queued task. */
#define CREW_OPT_NO_CARRIERS 0x2u

/* Options. Set `size` to sizeof(crew_options_t); zero fields mean default,
 * so `crew_options_t o = {.size = sizeof o};` is the default configuration. */
typedef struct crew_options {
    size_t size;          /* sizeof(crew_options_t), for forward compatibility */
    unsigned workers;     /* 0: $CREW_WORKERS if set and non-empty, else online
                         CPUs; max 1024 */
    unsigned flags;       /* CREW_OPT_*; any other bit is invalid */
    unsigned spin;        /* idle spin rounds before parking; 0: default (64);
                         max 1000000 */
    int interrupt_signal; /* signal crew_interruptible_begin() regions are
                             interrupted with; 0: SIGRTMIN + 3. Must be a
                             real-time signal (SIGRTMIN..SIGRTMAX). */
    unsigned max_queued;  /* backpressure: at most this many tasks submitted
                             from outside the executor queued (not yet
                             started) at once; 0: no bound. See
                             "Backpressure" */
    unsigned full_policy; /* CREW_FULL_*: what a submission does when the
                             bound is reached (default CREW_FULL_WAIT) */
    int64_t full_timeout; /* CREW_FULL_WAIT gives up after this many ns
                             (CREW_ETIMEDOUT); 0: never */
} crew_options_t;

/* What a submission from outside does when a bound is reached (the
 * executor's default in crew_options_t; per call with the CREW_TASK_FULL_*
 * flags). */
#define CREW_FULL_WAIT        0u /* wait for room (cancellable, timed) */
#define CREW_FULL_FAIL        1u /* fail at once with CREW_EFULL */
#define CREW_FULL_CALLER_RUNS 2u /* run the task now on the calling thread */

/* Initialisers for the structs that carry their size (forward
 * compatibility: fields are only ever added at the end, and crew fills or
 * reads only the first `size` bytes): `crew_task_info_t i =
 * CREW_TASK_INFO_INIT;`. */
#define CREW_OPTIONS_INIT                                                                          \
    {                                                                                              \
        .size = sizeof(crew_options_t)                                                             \
    }
#define CREW_TASK_INFO_INIT                                                                        \
    {                                                                                              \
        .size = sizeof(crew_task_info_t)                                                           \
    }
#define CREW_GROUP_INFO_INIT                                                                       \
    {                                                                                              \
        .size = sizeof(crew_group_info_t)                                                          \
    }
#define CREW_ACTOR_INFO_INIT                                                                       \
    {                                                                                              \
        .size = sizeof(crew_actor_info_t)                                                          \
    }
#define CREW_STATS_INIT                                                                            \
    {                                                                                              \
        .size = sizeof(crew_stats_t)                                                               \
    }

/* Create an executor and start its workers. opts may be NULL (defaults).
 * Thread-safety: any thread.
 * Ownership: *out belongs to the caller until crew_destroy(); opts is only
 *   read during the call.
 * Returns: 0, with *out set.
 * Errors: CREW_EINVAL (out NULL; opts->size too small to cover `workers`,
 *   or above 4 * sizeof(crew_options_t); workers > 1024; an unknown flag;
 *   spin > 1000000; workers 0 and $CREW_WORKERS set, non-empty and not a
 *   number in 1..1024), CREW_ENOMEM, CREW_ETHREAD (a thread could not be
 *   created; those already started are stopped and nothing leaks). On
 *   error *out is NULL (if out is not). */
CREW_API int crew_create(crew_t **out, const crew_options_t *opts);

typedef enum crew_shutdown_mode {
    CREW_DRAIN = 0, /* run everything already queued, then stop */
    CREW_CANCEL = 1 /* remove everything queued, request every running task */
} crew_shutdown_mode_t;

/* Stop accepting submissions from outside the executor and wait until every
 * task is terminal. Tasks running during a drain may still spawn children
 * (they are part of the drained work); during a cancel shutdown children are
 * born cancelled. Idempotent: a second call waits again and returns 0; a
 * CREW_CANCEL call after a CREW_DRAIN one escalates. Actors: a drain runs
 * their mailboxes to the end, a cancel removes their queued tasks; either
 * way every actor is then DEAD (cause CREW_ACTOR_SHUTDOWN) and its
 * destructor has run when this returns.
 * In CREW_CANCEL mode every queued task is removed at once, in this call,
 * whether or not a worker is free (they never run; their cleanups run on
 * this thread); when this returns every task is terminal, every queue slot
 * has been reclaimed, and crew_stats() is exact.
 * Thread-safety: any thread except a worker thread of this executor.
 * Ownership: ex stays the caller's (crew_destroy() frees it). Cleanups of
 *   tasks removed by a CREW_CANCEL call run in this call (or on a worker
 *   that got there first); actor destructors run on the workers or in this
 *   call. Joinable tasks keep their records (crew_wait(),
 *   crew_inspect() still work) until released, joined or crew_destroy().
 * Returns: 0.
 * Errors: CREW_EINVAL (ex NULL or mode unknown), CREW_EDEADLK (called on a
 *   worker thread of this executor: from a task, a cleanup or a
 *   destructor); on error nothing changed.
 */
CREW_API int crew_shutdown(crew_t *ex, crew_shutdown_mode_t mode);

/* Shut down (CREW_DRAIN if not done yet), join the workers, free everything,
 * and set *exp to NULL so later calls through that variable fail with
 * CREW_EINVAL. Records of joinable tasks never released are freed here.
 * Groups and actors need not be destroyed first: once the shutdown has
 * ended every task (and every actor: DEAD, cause CREW_ACTOR_SHUTDOWN,
 * destructors run), group and actor handles not yet destroyed are freed
 * here, as by crew_group_destroy() and crew_actor_destroy().
 * Thread-safety: any thread except a worker thread of this executor; no
 *   other call on this executor may run concurrently or after.
 * Ownership: frees the executor and all it still owns (task records, group
 *   and actor structures); its task IDs, group and actor handles are
 *   invalid afterwards.
 * Returns: 0, with *exp NULL.
 * Errors: CREW_EINVAL (exp or *exp NULL), CREW_EDEADLK (called on a worker
 *   thread of this executor). On error nothing was done, not even the
 *   shutdown. */
CREW_API int crew_destroy(crew_t **exp);

/* Number of worker threads; 0 for NULL. Any thread. */
CREW_API unsigned crew_workers(const crew_t *ex);

/* ------------------------------------------------------------------------ */
/* Submitting                                                               */
/* ------------------------------------------------------------------------ */

/* Isolated submission (desc->flags): the task is NOT a child of the
 * submitting task, and with desc->group NULL it belongs to no group (not
 * the submitter's). Cancelling the submitter, or the submitter's group,
 * does not reach it; only its own group (if named), a cancel of its own ID
 * and a CREW_CANCEL shutdown do. Use it when a task hands work to an
 * independent part of the program (a long-lived service group, a cache
 * refill shared by many requests) that must survive the hand-over's
 * cancellation, as oneTBB's isolated contexts and Go's
 * context.WithoutCancel do. Without it, a task's submissions are its
 * children and die with it, which is the right default for fork-join. */
#define CREW_TASK_ISOLATED 0x1u

/* Per submission, what to do when a bound is reached (at most one; they
 * override the executor's full_policy). See "Backpressure". */
#define CREW_TASK_FULL_WAIT 0x2u
#define CREW_TASK_FULL_FAIL 0x4u
#define CREW_TASK_FULL_RUN  0x8u

/* Everything about a task besides its body. Zero-initialise, then set. */
typedef struct crew_task_desc {
    crew_fn fn;              /* required */
    void *arg;               /* passed to fn and cleanup */
    crew_cleanup_fn cleanup; /* optional; see crew_cleanup_fn */
    crew_group_t *group;     /* optional; NULL: the spawning task's group
                                (none with CREW_TASK_ISOLATED) */
    unsigned flags;          /* CREW_TASK_* (0: a child of the submitter) */
    int64_t deadline;        /* absolute CLOCK_MONOTONIC ns (crew_now()); 0:
                                none. See "Deadlines" */
    int64_t timeout;         /* relative to submission, ns; 0: none. With
                                both set, the earlier wins */
} crew_task_desc_t;

/* Submit a task. From inside a task of `ex` this is a spawn (unless desc
 * has CREW_TASK_ISOLATED): the new task is
 * a child of the calling task (cancelling the caller cancels it), joins the
 * caller's group unless desc->group says otherwise, and goes to the calling
 * worker's deque. From any other thread it goes to the injection queue and
 * has no parent.
 * Thread-safety: any thread.
 * Ownership: arg is handed to the task (and to cleanup, which runs exactly
 *   once even if the task never runs: then on the thread that removes it).
 *   If id is non-NULL the task is joinable and the caller must
 *   crew_release() or crew_join() it; if NULL it is detached. desc is only
 *   read during the call.
 * Returns: 0, with *id set if id is non-NULL. A task whose parent or group
 *   (or an enclosing group) is already cancelled, or spawned during a
 *   CREW_CANCEL shutdown, is accepted but born CANCELLED: it never runs,
 *   and its cleanup has run, on this thread, when this returns.
 * Errors: CREW_EINVAL (ex or desc or fn NULL, or desc->group destroyed, as
 *   far as detectable: see crew_group_destroy()), CREW_ESHUTDOWN (shutdown
 *   began and the caller is not a task of ex), CREW_EWRONGEXEC (group of
 *   another executor), CREW_ENOMEM. On error nothing was submitted and
 *   cleanup was NOT called: arg is still the caller's. */
CREW_API int crew_submit_ex(crew_t *ex, const crew_task_desc_t *desc, crew_id_t *id);

/* crew_submit_ex() with only fn and arg (no cleanup; the group is the
 * spawning task's, if any).
 * Thread-safety: any thread.
 * Ownership: as crew_submit_ex().
 * Returns: 0, with *id set if id is non-NULL.
 * Errors: as crew_submit_ex(): CREW_EINVAL (ex or fn NULL), CREW_ESHUTDOWN,
 *   CREW_ENOMEM. */
CREW_API int crew_submit(crew_t *ex, crew_fn fn, void *arg, crew_id_t *id);

/* ------------------------------------------------------------------------ */
/* Fork-join                                                                */
/* ------------------------------------------------------------------------ */

/* Structured fork-join, as OpenMP's task/taskwait, Cilk's spawn/sync or
 * TBB's task_group run/wait: crew_fork() starts a child of the calling task,
 * crew_sync() waits for every child forked since the last sync, and a task
 * that returns without syncing is synced anyway before it is terminal. A
 * child may therefore borrow anything in its parent's stack frame:
 *
 *     static int fib(void *p) {
 *         fib_t *a = p, x = {a->n - 1}, y = {a->n - 2};
 *         if (a->n < 2) { a->r = a->n; return 0; }
 *         crew_fork(fib, &x);      // child: may run on another worker
 *         fib(&y);                 // meanwhile, the other half here
 *         crew_sync(NULL);         // both done
 *         a->r = x.r + y.r;
 *         return 0;
 *     }
 *
 * A forked child is a frame on the worker's fork deque, not a task record:
 * no allocation, no ID, no lock; the worker pushes and pops its own newest
 * frames with plain loads and stores, and pays an atomic instruction only
 * for frames it shared because an idle worker asked (a split deque, after
 * Lace). A child that nobody stole runs at crew_sync() as a plain call.
 * Stealing: a fork made while some worker is idle is offered to it at
 * once; a fork made while every worker is busy stays private to its
 * worker until that worker forks again or syncs (a worker that goes idle
 * meanwhile asks, and gets the older frames then). Fork-join code forks
 * and syncs often, so this costs little; a child that must run in parallel
 * with a long serial stretch of its parent should be spawned
 * (crew_spawn), which any worker can take at once.
 *
 * What a forked child is: a child of the forking task for cancellation
 * (cancelling the parent, its group or a CREW_CANCEL shutdown reaches it:
 * one that has not started never starts, a running one sees
 * crew_cancelled() and ends CANCELLED); it runs exactly once or not at
 * all; its outcome (DONE, FAILED with its return value, CANCELLED) is
 * reported by crew_sync(). What it is not: it has no ID (crew_self() is 0
 * inside it; nobody can wait for, inspect or cancel it by itself), no
 * cleanup, and no group membership of its own: group statistics count the
 * task that forked it, not its forks. Children that must be named, waited
 * for one by one, cancelled individually or outlive their parent are
 * spawned (crew_spawn, crew_submit_ex). Inside a forked child, crew_fork()
 * and crew_spawn() work as in any task (the child of a fork that runs as a
 * plain call spawns on behalf of the task that forked it).
 *
 * Depth-adaptive inlining: when the calling worker already holds
 * CREW_FORK_INLINE_DEPTH (64) unsynced forks and no idle worker asks for
 * work, crew_fork() runs the child at once as a plain call (libgomp's rule),
 * so deep trees cost a call per node, not a queued task. This never
 * changes outcomes or counts: the child is still a child, its outcome is
 * reported by the next crew_sync().
 *
 * Inline: crew_fork() and crew_sync_ok() are defined in this header, so
 * the common fork (a private frame while no worker is idle) and the
 * common sync (a child nobody stole, run here while nothing is cancelled)
 * compile into the caller with no library call: 28 and about 55
 * instructions. Everything else (sharing with an idle worker, waiting
 * for a stolen child, cancellation, interruptible regions, errors) calls
 * into the library, which behaves exactly as before. crew_sync() with a
 * result and crew_fork_copy() are ordinary library calls. A program
 * compiled against one release's header must be linked with that
 * release's library (the inline code reads the library's private
 * layout, below). */

/* ---- Not API: what the inline crew_fork() and crew_sync_ok() read ------- */
/* The calling worker's fork deque and fork tallies, laid out here so that
 * the common fork and sync compile into the caller with no library call.
 * Everything named crew__ below is private to crew and changes between
 * releases: programs must not touch it. The protocol that makes the
 * owner's plain loads and stores safe against thieves is in src/fdeque.h
 * (the owner pushes and pops its private frames; only sharing and taking
 * back a shared frame are atomic, and those stay in the library). */
#ifdef __cplusplus
#define CREW__ATOMIC(T)       T
#define CREW__LOAD_RELAXED(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#else
#include <stdatomic.h>
#define CREW__ATOMIC(T)       _Atomic T
#define CREW__LOAD_RELAXED(p) atomic_load_explicit((p), memory_order_relaxed)
#endif
#define CREW__FORK_INLINE_DEPTH 64

/* One forked child: a slot of the fork deque (64 bytes). */
struct crew__frame {
    int (*fn)(void *);
    void *arg;
    void *parent;                 /* the forking task's record */
    CREW__ATOMIC(uint32_t) state; /* QUEUED 0, DONE 2, WAITER 4 */
    int32_t status;               /* terminal status, written before DONE */
    int32_t result;               /* the body's return value, likewise */
    uint32_t pad;
    unsigned char payload[24]; /* crew_fork_copy's argument (8-aligned) */
};

/* Outcomes of the forks of the task (or fork child) running on a worker
 * since its last crew_sync: what crew_sync reports. Owner-private. */
struct crew__forks {
    uint32_t base;                    /* its frames are [base, head) */
    uint32_t done, failed, cancelled; /* done: only as the library syncs
                                         (what crew_sync() reports); the
                                         inline crew_sync_ok() skips it */
    crew_status_t first_bad;          /* 0: none yet */
    int first_failure;                /* the first FAILED child's return value */
    bool in_frame;                    /* a fork child runs here: crew_self() is 0 */
    uint16_t shield;                  /* crew_shield_begin depth */
    uint16_t irq_depth;               /* crew_interruptible_begin depth */
    uint16_t ncb;                     /* on-cancel registrations armed */
    uint32_t checks;                  /* positive-path checks, for the test mode */
    struct crew__forks *up;           /* the syncing caller's tallies, while
                                         crew_sync_ok() runs this child inline */
};

/* The owner's side of a worker's fork deque, and what a fork or sync must
 * look at to know it may stay inline. */
struct crew__fj {
    struct crew__frame *dq; /* cap frames, reserved at the first fork
                               (cap 0 before), never moves */
    uint32_t cap;
    uint32_t head;    /* frames [0, head) are live */
    uint32_t o_split; /* frames [o_split, head) are private */
    /* Derived by the library whenever cap, o_split or irq_open change
     * (src/fdeque.h, crew__fj_derive), so each inline path makes one
     * comparison: the inline fork pushes while head < flim
     * (min(cap, o_split + CREW__FORK_INLINE_DEPTH)); the inline sync runs
     * a frame i >= ifloor itself (o_split, or UINT32_MAX while an
     * interruptible region is open: then the library syncs every frame). */
    uint32_t flim;
    uint32_t ifloor;
    bool irq_open;             /* an interruptible region is open here */
    struct crew__forks *forks; /* of the task or fork child running here;
                                  NULL between tasks */
    void *task;                /* the record of the task running here */
    /* Hints, read relaxed: something is cancelled in the executor; a
     * thief asked this worker to share; a worker is idle. */
    const CREW__ATOMIC(uint32_t) * scopes;
    const CREW__ATOMIC(uint32_t) * movesplit;
    const CREW__ATOMIC(uint32_t) * sleepers;
    const CREW__ATOMIC(uint32_t) * spinning;
};

/* The calling thread's fork-join context when it is a worker (or a
 * crew_run() caller working as one), else NULL. initial-exec TLS: a
 * %fs-relative load, no __tls_get_addr. */
CREW_API extern __thread struct crew__fj *crew__fj_cur __attribute__((tls_model("initial-exec")));

/* The library's side of crew_fork() / crew_sync_ok(): the whole of each
 * (with every check and error), and the steps the inline paths leave out
 * of line: a frame that is shared, stolen, carries a payload, or runs
 * while something is cancelled or a region is open (crew__sync_one); a
 * child that left forks, registrations or regions behind, failed, or ran
 * while something was cancelled (crew__fork_after: it also restores the
 * caller's tallies, c->up). */
CREW_API int crew__fork(crew_fn fn, void *arg);
CREW_API int crew__sync_ok(void);
CREW_API void crew__sync_one(void);
CREW_API void crew__fork_after(int rc, struct crew__forks *c);

#if defined(__GNUC__)
#define CREW__LIKELY(x)   __builtin_expect(!!(x), 1)
#define CREW__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define CREW__LIKELY(x)   (x)
#define CREW__UNLIKELY(x) (x)
#endif

/* Fork fn(arg) as a child of the calling task (see above).
 * Thread-safety: only from inside a task (or a forked child).
 * Ownership: arg is borrowed by the child until the caller's next
 *   crew_sync() (or its return): it may point into the caller's frame.
 * Returns: 0. It cannot fail for want of memory: when the worker's fork
 *   deque is full the child runs at once.
 * Errors: CREW_ENOTINTASK (not inside a task), CREW_EINVAL (fn NULL). */
static inline int crew_fork(crew_fn fn, void *arg)
{
    struct crew__fj *j = crew__fj_cur;
    /* Inline: a worker inside a task, room in the deque, below the inline
     * depth, and nobody asking for work (then the library shares). The
     * hints are relaxed loads: a stale one only delays sharing to the
     * next fork or sync, as in the library's path. */
    uint32_t h;
    if (CREW__LIKELY(j != NULL && j->forks != NULL && fn != NULL && (h = j->head) < j->flim &&
                     (CREW__LOAD_RELAXED(j->movesplit) | CREW__LOAD_RELAXED(j->sleepers) |
                      CREW__LOAD_RELAXED(j->spinning)) == 0)) {
        struct crew__frame *f = &j->dq[h];
        /* The state word is left alone: only a shared frame's is read,
         * and the share that hands it to thieves sets it (fdeque.h 1). */
        f->fn = fn;
        f->arg = arg;
        f->parent = j->task;
        j->head = h + 1;
        return 0;
    }
    return crew__fork(fn, arg);
}

/* Bytes crew_fork_copy() can carry. */
#define CREW_FORK_PAYLOAD_MAX 24

/* crew_fork() with its argument copied into the frame: fn receives a
 * pointer to a copy of the size bytes at payload (up to
 * CREW_FORK_PAYLOAD_MAX, 8-byte aligned), so the caller need not keep a
 * struct alive per child (forking in a loop over a local variable).
 * Results go where pointers in the payload say.
 * Thread-safety: as crew_fork().
 * Ownership: payload is copied before this returns; the copy lives until
 *   the child ends.
 * Returns: 0.
 * Errors: CREW_ENOTINTASK, CREW_EINVAL (fn NULL, size above
 *   CREW_FORK_PAYLOAD_MAX, payload NULL with size > 0). */
CREW_API int crew_fork_copy(crew_fn fn, const void *payload, size_t size);

/* What crew_sync() reports about the children it joined. */
typedef struct crew_sync_result {
    crew_status_t status;             /* DONE if every child ended DONE, else the first
                              non-DONE outcome in sync order */
    uint32_t done, failed, cancelled; /* children that ended each way */
    int first_failure;                /* return value of the first FAILED child, or 0 */
} crew_sync_result_t;

/* Wait for every child the calling task (or forked child) forked since its
 * last crew_sync(): run the ones still on this worker as plain calls
 * (newest first, the cheap order), wait for the stolen ones while running
 * other work. It always waits for all of them, even if the caller is
 * cancelled meanwhile (so they never outlive the frame they borrow), and
 * then reports the caller's own cancellation apart, as crew_join() does.
 * Thread-safety: only from inside a task or a forked child, for its own
 *   children.
 * Ownership: none; after it returns, the children's arguments are the
 *   caller's again.
 * Returns: 0, with *r (optional) describing the children.
 * Errors: CREW_ENOTINTASK, CREW_ECANCELED (the caller was cancelled; every
 *   child has ended and *r is set, as for 0). */
CREW_API int crew_sync(crew_sync_result_t *r);

/* crew_sync() for the common case: 0 when every child ended DONE and the
 * caller was not cancelled, else an error to return from the task body so
 * the failure propagates: CREW_ECANCELED (the caller was cancelled),
 * CREW_EFAILED (a child failed), CREW_ECHILDCANCELED (a child was
 * cancelled). Every child has ended in all cases.
 *     if ((rc = crew_sync_ok()) != 0) return rc;
 * Thread-safety, Ownership: as crew_sync().
 * Returns: 0.
 * Errors: as above, and CREW_ENOTINTASK. */
static inline int crew_sync_ok(void)
{
    struct crew__fj *j = crew__fj_cur;
    struct crew__forks *k;
    if (CREW__UNLIKELY(j == NULL || (k = j->forks) == NULL))
        return crew__sync_ok(); /* not in a task: its error */
    /* Nothing but the caller's own values lives in a register across a
     * child: j and k are loaded again after every call (and k is kept in
     * the child's tallies), so the caller saves fewer registers, which
     * every call of a recursive caller pays, its leaves included. */
    for (;;) {
        uint32_t h = j->head, i = h - 1, open;
        struct crew__frame *f;
        struct crew__forks c;
        int rc;
        if (h <= k->base)
            break;
        f = &j->dq[i];
        /* Inline only for a private frame with no payload, while nothing
         * is cancelled and no interruptible region is open (i >= ifloor
         * says both the first and the last). The scopes loads are
         * relaxed: step 1 of the library's check protocol (a canceller
         * counts its scope, seq_cst, before it returns), as the library's
         * own fork path reads it. */
        if (CREW__UNLIKELY(i < j->ifloor || f->arg == (void *)f->payload ||
                           CREW__LOAD_RELAXED(j->scopes) != 0)) {
            crew__sync_one();
            j = crew__fj_cur;
            k = j->forks;
            continue;
        }
        j->head = i; /* ours: the child's own forks reuse the slot */
        __builtin_memset(&c, 0, sizeof c);
        c.base = i;
        c.in_frame = true;
        c.up = k;
        j->forks = &c;
        rc = f->fn(f->arg);
        j = crew__fj_cur;
        k = c.up;
        /* irq_depth and ncb, adjacent (the library asserts it). */
        __builtin_memcpy(&open, &c.irq_depth, sizeof open);
        /* Out of line: forks left unsynced, registrations or regions left
         * open, a failure, or something cancelled (then the child's
         * outcome is decided as the library decides it). A DONE child is
         * not counted: only crew_sync() reports counts, and it syncs
         * through the library, which counts them. */
        if (CREW__UNLIKELY(
                (rc | (int)(open | (j->head ^ c.base) | CREW__LOAD_RELAXED(j->scopes))) != 0)) {
            crew__fork_after(rc, &c);
            j = crew__fj_cur;
            k = j->forks;
        } else {
            j->forks = k;
        }
    }
    if (CREW__UNLIKELY((k->first_bad | (int)CREW__LOAD_RELAXED(j->scopes)) != 0))
        return crew__sync_ok(); /* reports and resets */
    k->done = 0;
    return 0;
}

/* crew_join() from inside a task, without the executor argument, with the
 * outcome folded into the return value: 0 when the child ended DONE,
 * CREW_EFAILED / CREW_ECHILDCANCELED otherwise (*status, optional, tells
 * exactly). Like crew_join() it waits even if the caller is cancelled and
 * then returns CREW_ECANCELED. Joining spawned children newest first is the
 * cheap order (the newest is still on this worker: it runs here as a call);
 * crew_sync() picks that order itself.
 * Thread-safety: only from inside a task; one join or release per ID.
 * Ownership: releases id, as crew_join().
 * Returns: 0.
 * Errors: CREW_ENOTINTASK, CREW_EFAILED, CREW_ECHILDCANCELED, and those of
 *   crew_join(). */
CREW_API int crew_join_child(crew_id_t id, crew_status_t *status);

/* Run fn(arg) as a root task with the calling thread working as one more
 * worker until it is terminal, then store its status (as OpenMP's
 * `parallel` + `single`, or Lace's RUN): no thread sits blocked in a join,
 * so an executor of N workers used this way computes on N + 1 threads, and
 * N = crew_workers() - 1 fills the machine with no spare thread. While it
 * runs, the root's forks and spawns go on the calling thread's deques (the
 * workers steal from them), its waits help, and crew_worker_index() is
 * crew_workers(ex). One thread at a time holds this slot; a concurrent
 * caller runs its root as crew_submit() + crew_join() instead (same
 * result, its thread blocks). Children the root leaves behind (detached
 * spawns) are left to the workers.
 * Thread-safety: any thread that is not a worker of an executor.
 * Ownership: arg is the task's until it is terminal (when this returns).
 * Returns: 0, with *status terminal.
 * Errors: CREW_EINVAL (ex, fn or status NULL), CREW_EDEADLK (called on a
 *   worker thread: fork or spawn instead), CREW_ESHUTDOWN (shutdown began),
 *   CREW_ENOMEM. */
CREW_API int crew_run(crew_t *ex, crew_fn fn, void *arg, crew_status_t *status);

/* Spawn from inside a task onto the current executor (a child with an ID:
 * see crew_fork() for the cheaper anonymous kind). Same as
 * crew_submit(crew_current(), fn, arg, id), on a
 * shorter path when neither a group nor a cancellation is involved.
 * The child goes on the calling worker's own deque, and the spawn wakes a
 * sleeping worker without a fence: in a window of nanoseconds a worker
 * going to sleep may miss it. Nothing is lost (the spawning worker runs
 * the child when its task joins it or returns), but a task that
 * waits for its child must wait with crew_join() (which runs it if no
 * one else has), not on a lock or condition variable of its own.
 * Thread-safety: only from inside a task.
 * Ownership: as crew_submit_ex(): arg goes to the task; a non-NULL id makes
 *   it joinable.
 * Returns: 0, with *id set if id is non-NULL (the child may be born
 *   CANCELLED, as in crew_submit_ex()).
 * Errors: CREW_ENOTINTASK outside a task, CREW_EINVAL (fn NULL),
 *   CREW_ENOMEM. Never CREW_ESHUTDOWN. */
CREW_API int crew_spawn(crew_fn fn, void *arg, crew_id_t *id);

/* Submit n tasks sharing desc's fn, cleanup and group, with args[i] as the
 * i-th argument, in one operation. From outside a task: one push onto the
 * injection queue and one wake-up of the parked workers. From inside a
 * task: onto the calling worker's deque, args[0] first (thieves take it
 * first; the owner pops args[n-1] first), each push waking a worker only if
 * one sleeps. All or nothing: on error no task was submitted and no cleanup
 * ran. n == 0 submits nothing (ex and desc are still checked).
 * Carriers: from outside a task, with ids NULL, no bound reached, neither
 * a trace nor task timing on, and no CREW_OPT_NO_CARRIERS option, the
 * batch is cut into runs of up to 64 consecutive tasks (at least 4 runs
 * per worker; none for fewer than 8 tasks per worker), each queued as one
 * record that a worker runs task after task. Each task is still a task of
 * its own: its own ID (crew_self(), crew_cancel() of that ID), status,
 * cleanup, group count (FAIL_FAST, FIRST_SUCCESS and the failure list as
 * usual) and counters; a cancel of its group or a cancel shutdown removes
 * every task a worker has not begun, cleanup run, before it returns. A
 * deadline (desc's deadline or timeout, computed once at submission: the
 * same for every task, each task's own) is one timer entry for the whole
 * batch: when it passes, every task not begun is removed and running ones
 * see crew_cancelled() (cause TIMEOUT), as with one entry per task; a task
 * that calls crew_set_deadline() on itself leaves it for its own; a
 * deadline already past removes every task in this call. What differs:
 * tasks of one run start in order on one worker, one at a time (a long
 * task delays the rest of its run, not other runs: runs suit short tasks;
 * for tasks of milliseconds or more, or uneven ones, CREW_OPT_NO_CARRIERS
 * lets an idle worker take each task at once), and crew_task_list() shows
 * a queued run as its first task. Costs: 128 bytes per run plus 8 per
 * task, no record per task; on the worker, one atomic RMW per task (its
 * claim) and one on the group's counter per run (crew_group_info() still
 * counts each task live only until it ends). A task, not its run's
 * first, whose ID nobody learned (it did not call crew_self(), no
 * crew_task_list() or trace showed it, it spawned no child) and that
 * ended DONE hands its ID on to the next task of its run, as nobody can
 * tell the two apart; any other task also pays a terminal CAS, and the
 * next one gets a new ID.
 * Thread-safety: any thread.
 * Ownership: as crew_submit_ex(), for each args[i]; ids (n entries) may be
 *   NULL: then every task is detached.
 * Returns: 0, with ids[i] set for each task if ids is non-NULL. Any of them
 *   may be born CANCELLED, as in crew_submit_ex().
 * Errors: as crew_submit_ex(), plus CREW_EINVAL for args NULL with n > 0
 *   or n > UINT32_MAX. */
CREW_API int crew_submit_batch(crew_t *ex, const crew_task_desc_t *desc, void *const *args,
                               size_t n, crew_id_t *ids);

/* ------------------------------------------------------------------------ */
/* Inside a task                                                            */
/* ------------------------------------------------------------------------ */

/* The cooperative check: true if the calling task, any of its ancestors, or
 * any group enclosing it has been cancelled (or the executor is shutting
 * down in CREW_CANCEL mode). Cheap enough for an inner loop: no hash lookup
 * and no lock while nothing is cancelled. False outside a task.
 * Thread-safety: any thread (meaningful only inside a task).
 * Ownership: none.
 * Returns: true or false.
 * Errors: none. */
CREW_API bool crew_cancelled(void);

/* ID of the calling task, or 0 outside a task. Any thread. */
CREW_API crew_id_t crew_self(void);
/* Executor running the calling task, or NULL outside a task. Any thread. */
CREW_API crew_t *crew_current(void);
/* Index of the calling worker thread in 0..workers-1 (inside a task or
 * not), crew_workers() for a crew_run() caller while its root runs, or -1
 * on any other thread. Any thread. */
CREW_API int crew_worker_index(void);

/* ------------------------------------------------------------------------ */
/* Waiting, cancelling, inspecting                                          */
/* ------------------------------------------------------------------------ */

/* Whose outcome a wait reports. Every wait (crew_wait, crew_join,
 * crew_cancel_wait, crew_group_wait, crew_group_join, crew_actor_wait)
 * reports the target's outcome in *status (tasks, groups) and the waiter's
 * own in the return value: CREW_ECANCELED means "the calling task was
 * cancelled", never "the target was cancelled" (that is *status ==
 * CREW_TASK_CANCELLED with a return of 0). The waits that may give up early
 * (crew_wait, crew_cancel_wait, crew_group_wait, crew_actor_wait) return
 * CREW_ECANCELED as soon as the caller is cancelled, with *status not set;
 * the joins (crew_join, crew_group_join) always wait for the target to be
 * terminal first and then return CREW_ECANCELED with *status set. */

/* The status of task `id` now, without waiting and without running anything
 * (crew_wait() with a timeout of 0 may run other tasks first when called
 * from a task). A task being removed shows as CREW_TASK_QUEUED until it is
 * CANCELLED, as in crew_inspect().
 * Thread-safety: any thread.
 * Ownership: does not release the task.
 * Returns: 0 with *status set (live or terminal).
 * Errors: CREW_EINVAL (ex or status NULL), CREW_ENOTASK (unknown, detached
 *   or released ID). */
CREW_API int crew_status(crew_t *ex, crew_id_t id, crew_status_t *status);

/* Wait until task `id` is terminal, then store its status in *status.
 * From inside a task the wait helps: the worker runs other tasks meanwhile,
 * so nested fork-join never deadlocks. If the calling task is cancelled
 * while it waits, the wait returns CREW_ECANCELED at once (the target is
 * not affected by that, unless it descends from the caller); this is the
 * waiter's own outcome, never confused with the target's status.
 * timeout_ns: 0 polls, CREW_FOREVER waits without limit. From inside a task
 * the deadline is checked only when the worker finds no other task to run,
 * so a timed wait (a poll too) may run other tasks first and return late.
 * Thread-safety: any thread.
 * Ownership: does not release the task.
 * Returns: 0 with *status terminal.
 * Errors: CREW_EINVAL (ex or status NULL, timeout negative but not
 *   CREW_FOREVER, or above CREW_TIMEOUT_MAX_NS), CREW_ENOTASK (unknown,
 *   detached or released ID), CREW_EDEADLK (waiting for itself),
 *   CREW_ETIMEDOUT (nothing changed), CREW_ECANCELED (only inside a task). */
CREW_API int crew_wait(crew_t *ex, crew_id_t id, int64_t timeout_ns, crew_status_t *status);

/* The join of fork-join: wait for `id` without limit, store its terminal
 * status, and release it. Unlike crew_wait(), a join always waits for the
 * terminal state, even if the caller is cancelled meanwhile, so a child
 * never outlives a stack frame it borrows; the caller's cancellation is
 * reported afterwards as CREW_ECANCELED (with *status still valid).
 * Thread-safety: any thread; exactly one join or release per joinable ID
 *   (a join does not pin the record: no release may race it).
 * Ownership: consumes the handle: on 0 and on CREW_ECANCELED the ID is
 *   released, as by crew_release(); on other errors nothing changed.
 * Returns: 0, *status terminal, id released.
 * Errors: CREW_EINVAL (ex or status NULL), CREW_ENOTASK (unknown, detached
 *   or released ID), CREW_EDEADLK (joining itself), CREW_ECANCELED (the
 *   calling task was cancelled, before or during the join: *status is
 *   terminal and id released, as for 0). */
CREW_API int crew_join(crew_t *ex, crew_id_t id, crew_status_t *status);

/* Give up the handle of a joinable task. The task itself is unaffected: if
 * it is live it keeps going and is reclaimed when terminal.
 * Thread-safety: any thread; once per joinable ID, never racing a
 *   crew_join() of it.
 * Ownership: the ID is no longer the caller's: later calls with it give
 *   CREW_ENOTASK (except a task's crew_cancel() of itself). arg stays with
 *   the task.
 * Returns: 0.
 * Errors: CREW_EINVAL (ex NULL), CREW_ENOTASK (unknown, detached or already
 *   released). */
CREW_API int crew_release(crew_t *ex, crew_id_t id);

/* Cancel task `id`, optionally with a reason (code and a short text, kept up
 * to CREW_REASON_MAX-1 bytes) that crew_inspect() reports afterwards. The
 * first request's reason wins. Idempotent.
 * Queued: removed before this returns (status CANCELLED, cleanup run,
 *   waiters woken, group no longer counts it) -> CREW_REMOVED.
 * Running: requested -> CREW_REQUESTED. Every crew_cancelled() the body makes
 *   after this returned is true, and its terminal status is CANCELLED.
 * Terminal (or already being removed) -> CREW_TOO_LATE.
 * Its descendants are cancelled too: running ones see the request; queued
 *   ones are removed before this returns (CANCELLED, cleanups run on this
 *   thread), except children the task spawns concurrently with this call,
 *   which are removed at the latest when the task itself ends; none of
 *   them ever starts.
 * Thread-safety: any thread, any task, the task itself.
 * Ownership: does not release the task; reason is copied. A removed task's
 *   cleanup runs in this call, on the calling thread.
 * Returns: a crew_cancel_outcome_t (positive).
 * Errors: CREW_EINVAL (ex NULL), CREW_ENOTASK (unknown or released ID; the
 *   task's state is not changed. A task may always cancel itself, even a
 *   detached one, through crew_self()). CREW_ENOMEM (the cancellation set
 *   could not grow; nothing changed). */
CREW_API int crew_cancel(crew_t *ex, crew_id_t id, int code, const char *reason);

/* crew_cancel() with code 0 and no reason: the common case.
 * Thread-safety: any thread, any task, the task itself.
 * Ownership: does not release the task. A removed task's cleanup runs in
 *   this call, on the calling thread.
 * Returns: a crew_cancel_outcome_t (CREW_REMOVED, CREW_REQUESTED,
 *   CREW_TOO_LATE).
 * Errors: CREW_EINVAL (ex NULL), CREW_ENOTASK (unknown or released ID),
 *   CREW_ENOMEM (the cancellation set could not grow; nothing changed). */
CREW_API int crew_cancel_id(crew_t *ex, crew_id_t id);

/* Synchronous cancellation: crew_cancel() with code 0 and no reason, then
 * wait (as crew_wait()) for the terminal state. *status is DONE or FAILED
 * if the task won the race, CANCELLED otherwise (or CREW_TASK_ACTOR_DEAD if
 * it had already ended so). Safe on a task that already finished.
 * Thread-safety: any thread; from inside a task the wait helps, as
 *   crew_wait() does (timeouts as there). A task must not name itself.
 * Ownership: does not release the task. Once the cancel is made it stands,
 *   whatever the wait returns; a removed task's cleanup runs in this call.
 * Returns: 0 with *status terminal.
 * Errors: with nothing changed: CREW_EINVAL (ex or status NULL, bad
 *   timeout), CREW_ENOTASK (unknown, detached or released ID), CREW_ENOMEM
 *   (as crew_cancel()), CREW_EDEADLK (the calling task named itself: it is
 *   not cancelled; use crew_cancel() to cancel yourself). After the
 *   cancel: CREW_ETIMEDOUT, CREW_ECANCELED (as crew_wait()). */
CREW_API int crew_cancel_wait(crew_t *ex, crew_id_t id, int64_t timeout_ns, crew_status_t *status);

/* How a cancelled task got its cancellation. */
typedef enum crew_cancel_cause {
    CREW_CAUSE_NONE = 0,     /* not cancelled */
    CREW_CAUSE_SELF = 1,     /* crew_cancel() or crew_cancel_wait() on its
                                own ID */
    CREW_CAUSE_PARENT = 2,   /* an ancestor task was cancelled */
    CREW_CAUSE_GROUP = 3,    /* an enclosing group was cancelled */
    CREW_CAUSE_SHUTDOWN = 4, /* crew_shutdown(CREW_CANCEL) */
    CREW_CAUSE_ACTOR = 5,    /* its actor was killed (or, out of memory,
                                lost its runner: code CREW_ENOMEM); an
                                actor shut down gives CREW_CAUSE_SHUTDOWN */
    CREW_CAUSE_TIMEOUT = 6   /* its effective deadline passed: its own, an
                                ancestor's or an enclosing group's (code
                                CREW_ETIMEDOUT, reason "deadline") */
} crew_cancel_cause_t;

/* A task snapshot (crew_inspect()). Once status is terminal every field is
 * final, so exact; while the task is live any field may change right after
 * the call. */
typedef struct crew_task_info {
    size_t size;                  /* set by the caller: sizeof(crew_task_info_t)
                                (CREW_TASK_INFO_INIT) */
    crew_id_t id;                 /* the ID asked for */
    crew_id_t parent;             /* 0 if submitted from outside, or an actor
                                task */
    crew_id_t group;              /* crew_group_id() of its group, or 0 */
    crew_status_t status;         /* still QUEUED while a removal finishes */
    int result;                   /* body's return value when DONE or FAILED, or
                                CANCELLED by a request aimed at it
                                (crew_cancel(), crew_cancel_wait(),
                                crew_actor_kill()) while it ran; else 0 */
    bool cancel_requested;        /* a cancel reached it while it ran */
    crew_cancel_cause_t cause;    /* where its cancellation came from; NONE
                                  while none has reached it */
    int cancel_code;              /* from the request, 0 if none */
    char reason[CREW_REASON_MAX]; /* from the request, "" if none */
} crew_task_info_t;

/* Snapshot of a joinable task whose ID has not been released, live or
 * terminal (see crew_task_info_t for when it is exact).
 * Thread-safety: any thread.
 * Ownership: none; the task is not released.
 * Returns: 0, with *info filled.
 * Errors: CREW_EINVAL (ex or info NULL, info->size smaller than a size_t
 *   or unreasonably large), CREW_ENOTASK (unknown, detached or
 *   released ID: a detached task's own ID, from crew_self(), too). */
CREW_API int crew_inspect(crew_t *ex, crew_id_t id, crew_task_info_t *info);

/* ------------------------------------------------------------------------ */
/* Groups                                                                   */
/* ------------------------------------------------------------------------ */

/* Cancel the remaining members as soon as one member FAILS, as
 * crew_group_cancel(g, its result, "sibling failed") would (if the
 * cancellation set cannot grow, the group is silently not cancelled);
 * crew_group_wait then reports that first failure. */
#define CREW_GROUP_FAIL_FAST 0x1u

/* Speculative or redundant work: the first member to end DONE cancels the
 * rest (code 0, reason "sibling succeeded"); crew_group_wait() then reports
 * DONE and crew_group_info()'s `winner` names that member. */
#define CREW_GROUP_FIRST_SUCCESS 0x2u

/* Create a group, optionally nested in `parent` (cancelling the parent
 * cancels this group; cancelling this group never touches the parent).
 * flags: 0, CREW_GROUP_FAIL_FAST, CREW_GROUP_FIRST_SUCCESS, or both.
 * Thread-safety: any thread.
 * Ownership: the caller destroys it with crew_group_destroy(); a parent may
 *   not be destroyed before its nested groups.
 * Returns: 0, with *out set.
 * Errors: CREW_EINVAL (ex/out NULL, unknown flag, parent destroyed as far
 *   as detectable), CREW_EWRONGEXEC (parent of another executor),
 *   CREW_ESHUTDOWN (shutdown began and the caller is not on a worker
 *   thread of ex), CREW_ENOMEM. On error *out is NULL (if out is not). */
CREW_API int crew_group_create(crew_t *ex, crew_group_t *parent, unsigned flags,
                               crew_group_t **out);

/* Wait until the group has no live member (members spawned by members count
 * too). *status: FAILED if any member FAILED (see crew_group_info() for
 * the first); otherwise the status of the first member that ended neither
 * DONE nor FAILED (CANCELLED, or CREW_TASK_ACTOR_DEAD for an actor task
 * dropped by a kill); otherwise CANCELLED if this group is cancelled,
 * directly or through an enclosing group (the rule crew_group_info()'s
 * is_cancelled follows: a cancelled group waits CANCELLED however it was
 * cancelled, even if every member finished DONE first); otherwise DONE.
 * These outcomes are kept for the group's life: later waits report them
 * too.
 * The group stays usable (more tasks may be added and waited for).
 * Members of a nested group belong to that group only: wait for each group.
 * Thread-safety: any thread; from inside a task it helps as crew_wait()
 *   (timeouts as there). A member waiting for its own group waits for
 *   itself: it can only time out or be cancelled.
 * Ownership: none.
 * Returns: 0, with *status set.
 * Errors: CREW_EINVAL (g or status NULL, bad timeout), CREW_ETIMEDOUT,
 *   CREW_ECANCELED (only inside a task: the calling task was cancelled; the
 *   group is not affected unless it is enclosed by it).
 */
CREW_API int crew_group_wait(crew_group_t *g, int64_t timeout_ns, crew_status_t *status);

/* The structured join of a group (CPython's TaskGroup exit, Trio's nursery,
 * oneTBB's task_group::wait): wait until the group has no live member,
 * without limit and even if the calling task is cancelled meanwhile, so
 * the caller never returns while a member still runs on memory it lends
 * (its stack frame). *status as crew_group_wait(). The caller's own
 * cancellation is reported afterwards as CREW_ECANCELED, with *status set.
 * A cancelled caller's group is usually cancelled through it (members are
 * its children, or the group encloses it), so the join does not wait for
 * work nobody wants: queued members are already removed.
 * Thread-safety: any thread; from inside a task it helps as crew_wait().
 *   A member joining its own group waits for itself forever: don't.
 * Ownership: none.
 * Returns: 0, with *status set.
 * Errors: CREW_EINVAL (g or status NULL), CREW_ECANCELED (the calling task
 *   was cancelled, before or during the join; *status is set and every
 *   member is terminal, as for 0). */
CREW_API int crew_group_join(crew_group_t *g, crew_status_t *status);

/* Cancel every member, present and future, and every nested group. Every
 * queued member (and queued descendant of a member) is removed before this
 * returns, as crew_cancel() removes one queued task: CANCELLED, cleanup
 * run (on this thread), waiters woken, counted as removed; it never runs,
 * whether or not a worker is free. Running members see the request. So a
 * crew_group_wait() after this returns as soon as the running members
 * end. Cost: proportional to the executor's task records (its peak number
 * of live tasks), not to its history. Idempotent; the first reason wins.
 * The group's ID stays in the cancellation set, since
 * it keeps cancelling future members, until the group's memory goes:
 * after crew_group_destroy(), once no task record refers to it.
 * Thread-safety: any thread, any task (including members).
 * Ownership: none; code and reason (copied, up to CREW_REASON_MAX-1 bytes)
 *   are what crew_inspect() reports for members cancelled this way. The
 *   cleanups of removed members run in this call.
 * Returns: 0, also if the group was already cancelled.
 * Errors: CREW_EINVAL (g NULL or destroyed, as far as detectable),
 *   CREW_ENOMEM (the set could not grow; nothing changed).
 */
CREW_API int crew_group_cancel(crew_group_t *g, int code, const char *reason);

/* Free an empty group: its memory goes now, or when the last task record
 * that refers to it goes (a joinable member never released keeps it until
 * crew_release(), crew_join() or crew_destroy()), or when its deadline,
 * if the timer thread is firing it at this moment, has cancelled it.
 * Thread-safety: any thread; not concurrently with other calls on g.
 * Ownership: g is the caller's no more. A later call given g fails with
 *   CREW_EINVAL only while its memory lives: do not rely on it.
 * Returns: 0.
 * Errors: CREW_EINVAL (NULL, or destroyed as far as detectable), CREW_EBUSY
 *   (live members or live nested groups: wait first; nothing changed). */
CREW_API int crew_group_destroy(crew_group_t *g);

/* ID of a group (same ID space as tasks, never reused). 0 for NULL. Any
 * thread. */
CREW_API crew_id_t crew_group_id(const crew_group_t *g);

/* Counts over the group's life (members of nested groups not included).
 * Exact once the group has no live member and nothing is being added to
 * it, e.g. after crew_group_wait() returned 0; while members run each field
 * is a recent value, and done (derived from the others) may be off by the
 * members finishing meanwhile. */
typedef struct crew_group_info {
    size_t size;                      /* set by the caller: sizeof(crew_group_info_t)
                               (CREW_GROUP_INFO_INIT) */
    crew_id_t id;                     /* crew_group_id() */
    uint64_t live;                    /* members not yet terminal */
    uint64_t submitted;               /* members ever added (born cancelled too) */
    uint64_t done, failed, cancelled; /* ended DONE / FAILED / CANCELLED
                                         (ACTOR_DEAD counts as cancelled) */
    uint64_t removed;                 /* cancelled before they started */
    uint64_t cancelled_running;       /* cancelled while running */
    uint64_t late_cancels;            /* cancel requests that found a joinable member
                               DONE or FAILED */
    bool is_cancelled;                /* this group or an enclosing one is cancelled */
    crew_id_t first_failure;          /* first FAILED member, 0 if none */
    int first_failure_result;         /* its body's return value, 0 if none */
    crew_id_t winner;                 /* CREW_GROUP_FIRST_SUCCESS: the first
                                         member that ended DONE, 0 if none */
    int64_t deadline;                 /* pending deadline, 0 if none */
} crew_group_info_t;

/* Fill *info (see crew_group_info_t for when it is exact).
 * Thread-safety: any thread, while g is not destroyed.
 * Ownership: none.
 * Returns: 0, with *info filled.
 * Errors: CREW_EINVAL (g or info NULL, bad info->size, g destroyed as far as
 *   detectable). */
CREW_API int crew_group_info(crew_group_t *g, crew_group_info_t *info);

/* One FAILED member of a group (crew_group_failures()). */
typedef struct crew_group_failure {
    crew_id_t id; /* the member */
    int result;   /* its body's return value */
} crew_group_failure_t;

/* Every member of g that ended FAILED, in the order they ended, not only
 * the first (asyncio keeps them all; crew_group_info() shows the first).
 * Copies up to cap of them into out and sets *total to how many there are.
 * Thread-safety: any thread, while g is not destroyed.
 * Ownership: none; out is the caller's.
 * Returns: 0, with *total set (call with cap 0 to size a buffer).
 * Errors: CREW_EINVAL (g or total NULL, out NULL with cap > 0, g destroyed
 *   as far as detectable), CREW_ENOMEM (a failure could not be recorded
 *   for lack of memory: the list is incomplete; *total counts what is
 *   kept). */
CREW_API int crew_group_failures(crew_group_t *g, crew_group_failure_t *out, size_t cap,
                                 size_t *total);

/* ------------------------------------------------------------------------ */
/* Deadlines, on-cancel callbacks, interruption, shields                   */
/* ------------------------------------------------------------------------ */

/* Deadlines. A task (crew_task_desc_t's deadline/timeout, or
 * crew_set_deadline()) or a group (crew_group_set_deadline()) may carry a
 * deadline: an absolute CLOCK_MONOTONIC time in ns, as crew_now() gives.
 * When it passes, the task or group is cancelled exactly as by
 * crew_cancel() / crew_group_cancel() with code CREW_ETIMEDOUT and reason
 * "deadline": queued tasks are removed, running ones requested. So a
 * task's effective deadline is the earliest of its own and those of its
 * ancestors and enclosing groups; crew_inspect() shows cause
 * CREW_CAUSE_TIMEOUT for every task it reached. One timing wheel and one
 * thread per executor (started at the first deadline) service them: an
 * idle executor wakes once per expiry, never per tick, and a deadline that
 * never fires (its task ended first) is removed when the task ends. A
 * batch that travels as runs (crew_submit_batch()) has one entry for all
 * its tasks, removed when its last task ends.
 * Expiry is never early; it is late by the thread's wake-up latency
 * (crew-perf's deadline_latency row reports median and p99). */

/* The clock deadlines use: CLOCK_MONOTONIC, in ns.
 * Thread-safety: any thread.
 * Ownership: none.
 * Returns: the time.
 * Errors: none. */
CREW_API int64_t crew_now(void);

/* Set, move or clear (deadline 0) the deadline of a live task. A deadline
 * already past cancels the task in this call (as crew_cancel()).
 * Thread-safety: any thread, the task itself included.
 * Ownership: none; the task is not released.
 * Returns: 0 (set, moved or cleared), or the crew_cancel() outcome when the
 *   deadline was already past; CREW_TOO_LATE if the task is terminal.
 * Errors: CREW_EINVAL (ex NULL, deadline negative or more than 2^57 ns
 *   (4.5 years) from now), CREW_ENOTASK (unknown or released ID; a task
 *   may name itself through crew_self()), CREW_ENOMEM, CREW_ETHREAD (the
 *   timer thread could not start); nothing changed. */
CREW_API int crew_set_deadline(crew_t *ex, crew_id_t id, int64_t deadline);

/* The task's own pending deadline (0 if none), not its ancestors'.
 * Thread-safety: any thread.
 * Ownership: none.
 * Returns: 0 with *deadline set.
 * Errors: CREW_EINVAL (ex or deadline NULL), CREW_ENOTASK. */
CREW_API int crew_get_deadline(crew_t *ex, crew_id_t id, int64_t *deadline);

/* Set, move or clear (0) the deadline of a group (and so of every member
 * and nested group). A deadline already past cancels the group now.
 * Thread-safety: any thread, while g is not destroyed.
 * Ownership: none. crew_group_destroy() clears it.
 * Returns: 0.
 * Errors: CREW_EINVAL (g NULL or destroyed, bad deadline as for
 *   crew_set_deadline()), CREW_ENOMEM, CREW_ETHREAD; nothing changed. */
CREW_API int crew_group_set_deadline(crew_group_t *g, int64_t deadline);

/* The calling task's effective deadline: the earliest pending deadline of
 * the task, its ancestors and its enclosing groups (for a fork child, its
 * parent's). Costs a lookup per level: use it to size a blocking call's
 * timeout, not in an inner loop.
 * Thread-safety: inside a task (elsewhere returns 0).
 * Ownership: none.
 * Returns: the deadline, or 0 if there is none.
 * Errors: none (outside a task: 0). */
CREW_API int64_t crew_deadline(void);

/* On-cancel callbacks. A running task registers fn(arg) to run exactly
 * once when it is cancelled by any cause (its ID, an ancestor, a group,
 * a deadline, shutdown, its actor's kill), on the thread that cancels it
 * (the timer thread for a deadline); or at once, in crew_on_cancel(), if it
 * already is. fn runs instead in crew_on_cancel_remove() when the task
 * removes it first (it saw the cancellation before its canceller got to
 * the callbacks), and when the canceller is the task's own thread (it
 * cancelled itself, or the test mode did inside its crew_cancelled(),
 * perhaps holding a lock that fn takes). Use them to reach code that waits: close a socket, signal a
 * condition variable, MPI_Cancel a request (examples/on_cancel.c). fn must
 * not block for long, must not call crew_on_cancel_remove() on its own
 * registration, and runs without crew's locks held. Registrations of one
 * task run newest first. Registering and removing are O(1) and allocate
 * nothing: the caller provides the storage. Shields do not hold callbacks
 * back: remove a registration before a shield whose cleanup needs the
 * resource it would close. A fork child registers on behalf of its parent
 * (it has no ID of its own), so its callbacks run when the parent is
 * cancelled. */
typedef struct crew_on_cancel {
    /* Private: set by crew_on_cancel(). */
    void (*fn)(void *arg);
    void *arg;
    struct crew_on_cancel *prev, *next;
    void *task;
    crew_t *ex;
    int state;
} crew_on_cancel_t;

/* Register fn(arg) on the calling task (see crew_on_cancel_t).
 * Thread-safety: inside a task; reg is the caller's until removed.
 * Ownership: reg (usually on the body's stack) must stay valid until
 *   crew_on_cancel_remove() returned, which must happen before the body
 *   returns (a body that returns with a registration armed aborts the
 *   program with a message: the storage is about to vanish).
 * Returns: 0 (armed), or 1 (the task was already cancelled: fn ran in
 *   this call, before it returned; remove is still needed and returns 1).
 * Errors: CREW_ENOTINTASK (not inside a task), CREW_EINVAL (reg or fn
 *   NULL); nothing registered. */
CREW_API int crew_on_cancel(crew_on_cancel_t *reg, void (*fn)(void *arg), void *arg);

/* Unregister. Returns only when fn is not running, and guarantees it never
 * runs afterwards (as .NET's CancellationTokenRegistration.Dispose).
 * Thread-safety: the registering task's body (any thread could, but not fn
 *   itself: that would wait for itself).
 * Ownership: reg is the caller's again.
 * Returns: 0 if fn never ran (and never will), 1 if it ran.
 * Errors: CREW_EINVAL (reg NULL or not registered). */
CREW_API int crew_on_cancel_remove(crew_on_cancel_t *reg);

/* Interrupting blocking calls. Between crew_interruptible_begin() and
 * crew_interruptible_end(), a cancel that reaches the task also sends its
 * thread the executor's interrupt signal (crew_options_t's
 * interrupt_signal, default SIGRTMIN + 3), whose handler does nothing and
 * is installed without SA_RESTART; if the blocking call is still not
 * interrupted (the signal came just before it began), it is sent again
 * after 1, 2, 4 ... up to 64 ms until the region ends. So these return
 * -1/EINTR (or their early-wake result) and the body then sees
 * crew_cancelled(): read, write, recv, send, accept, connect, poll,
 * select, epoll_wait, nanosleep, clock_nanosleep, usleep, sleep, pause,
 * sigsuspend, sem_wait and sem_timedwait, futex waits, wait/waitpid,
 * msgrcv, pipe and FIFO and socket I/O in general. Not interrupted:
 * pthread_mutex_lock, pthread_cond_wait (glibc retries it: use an
 * on-cancel callback that broadcasts the condition), pthread_join,
 * regular-file and block-device I/O (uninterruptible disk sleep), and
 * calls glibc restarts by itself. The signal is never delivered outside a
 * region, nor to another task that runs on the thread: a wait or sync
 * inside a region suspends it while other tasks run there, and
 * crew_interruptible_end() returns only once every signal sent to the
 * region has been handled. The handler is installed at the first begin; a
 * program that has its own handler for that signal gets CREW_ESIGNAL and
 * should pick another with interrupt_signal. Regions nest (a counter). */

/* Enter an interruptible region.
 * Thread-safety: inside a task, on its own thread.
 * Ownership: none.
 * Returns: 0 (inside; pair with crew_interruptible_end()).
 * Errors: CREW_ECANCELED (the task is already cancelled: not inside; do not
 *   call end), CREW_ENOTINTASK, CREW_ESIGNAL (another handler owns the
 *   signal: not inside). */
CREW_API int crew_interruptible_begin(void);

/* Leave the region (the innermost of nested ones). After the outermost end
 * no interrupt signal is pending or will be sent for this region.
 * Thread-safety: the task that began it.
 * Ownership: none.
 * Returns: nothing.
 * Errors: none; outside a region (or a task) it does nothing. */
CREW_API void crew_interruptible_end(void);

/* Shields. Between crew_shield_begin() and the matching crew_shield_end()
 * (they nest), crew_cancelled() reports false, waits do not return
 * CREW_ECANCELED for this task's cancellation, and interruption is off, so
 * cleanup that must finish (flushing a file, completing an MPI request)
 * does. After the outermost end the cancellation, or a deadline that
 * passed meanwhile, is seen again (the end fires a passed deadline itself
 * if the timer thread has not yet). A shield covers only the body that
 * opened it: children and forks are not shielded, and forks of a
 * cancelled task do not start even inside a shield. On-cancel callbacks
 * still run.
 * Thread-safety: inside a task, on its own thread.
 * Ownership: none.
 * Returns: nothing.
 * Errors: none; outside a task they do nothing, and an end without a
 *   begin does nothing. */
CREW_API void crew_shield_begin(void);
CREW_API void crew_shield_end(void);

/* Deterministic cancellation test mode: the Nth crew_cancelled() of every
 * matching task reports cancellation, having cancelled that task for real
 * (crew_cancel() of itself, code CREW_ECANCELED, reason "test mode"), so
 * its cleanup path runs exactly as in production. Sweeping n = 1, 2, ...
 * drives every cleanup path of a program (tools/cancel-sweep.sh does it,
 * under valgrind or an ASan build, until a run reaches no Nth check).
 * filter: NULL or "" for every task; "id:<decimal ID>" for one task; else
 * a substring of the task function's symbol name (dladdr: link the program
 * with -rdynamic for its own functions). The environment variable
 * CREW_TEST_CANCEL="n" or "n:filter" sets it at crew_create(); with
 * CREW_TEST_CANCEL_REPORT=path, crew_destroy() appends a line
 * "fired F max_checks M" to that file. A fork child counts its parent's
 * checks and is reported cancelled without cancelling the parent. Slows
 * crew_cancelled() to its slow path: for tests only.
 * Thread-safety: any thread; set it before submitting the work it should
 *   see.
 * Ownership: filter is copied (up to 63 bytes).
 * Returns: 0.
 * Errors: CREW_EINVAL (ex NULL). */
CREW_API int crew_test_cancel_at(crew_t *ex, uint64_t n, const char *filter);

/* How many checks the test mode turned into cancellations so far.
 * Thread-safety: any thread.
 * Ownership: none.
 * Returns: the count.
 * Errors: none (an invalid ex gives 0). */
CREW_API uint64_t crew_test_cancel_fired(crew_t *ex);

/* ------------------------------------------------------------------------ */
/* Backpressure                                                             */
/* ------------------------------------------------------------------------ */

/* A producer that submits faster than the workers drain would queue without
 * bound. crew_options_t's max_queued bounds how many tasks submitted from
 * outside the executor (threads that are not its workers) are queued, not
 * yet started, at once; crew_group_set_limit() bounds a group's and
 * crew_actor_set_limit() an actor's mailbox (Ray's max_pending_calls). A
 * task holds its slot from submission until it starts (or is removed).
 * When a bound is reached a submission, as crew_options_t's full_policy or
 * the task's CREW_TASK_FULL_* flag says:
 *  - waits for room (CREW_FULL_WAIT, the default): one freed slot wakes one
 *    waiting producer, not all; it gives up after full_timeout
 *    (CREW_ETIMEDOUT), at shutdown (CREW_ESHUTDOWN), and, for a task of
 *    another executor that is submitting here, when that task is cancelled
 *    (CREW_ECANCELED, within about a millisecond);
 *  - fails at once with CREW_EFULL (CREW_FULL_FAIL: the try form);
 *  - or runs the task on the calling thread before returning (caller-runs,
 *    CREW_FULL_CALLER_RUNS, as Java's CallerRunsPolicy: the producer slows
 *    to the workers' pace). It runs as a task (ID, cancellation, cleanup,
 *    group), as crew_run() would; with an actor, or from a task of another
 *    executor, caller-runs waits instead (an actor's tasks keep their order).
 * Spawns and submissions from this executor's own tasks never wait: the
 * workers that would drain the queue could all be waiting for room,
 * deadlocking fork-join. They do not take slots.
 * A batch (crew_submit_batch) under a bound is admitted in pieces as room
 * appears, each piece all or nothing; if a wait fails partway, the error is
 * returned, the tasks before it were submitted (their ids set) and ids of
 * the others are 0.
 * Unbounded, the submission paths pay one predictable branch. */

/* Bound the tasks submitted into g from outside the executor that are
 * queued at once (0: none). Takes effect for later submissions; waiting
 * producers look again at once.
 * Thread-safety: any thread, while g is not destroyed.
 * Ownership: none.
 * Returns: 0.
 * Errors: CREW_EINVAL (g NULL or destroyed, max_queued above INT32_MAX). */
CREW_API int crew_group_set_limit(crew_group_t *g, unsigned max_queued);

/* Bound actor a's mailbox against submissions from outside the executor
 * (0: none), as crew_group_set_limit().
 * Thread-safety: any thread, while a is not destroyed.
 * Ownership: none.
 * Returns: 0.
 * Errors: CREW_EINVAL (a NULL or destroyed, max_queued above INT32_MAX). */
CREW_API int crew_actor_set_limit(crew_actor_t *a, unsigned max_queued);

/* ------------------------------------------------------------------------ */
/* Statistics                                                               */
/* ------------------------------------------------------------------------ */

/* Buckets of the cancel-latency histograms: bucket 0 counts latencies of
 * 0 ns, bucket i (1 <= i < 39) those in [2^(i-1), 2^i) ns, bucket 39 those
 * of 2^38 ns (about 275 s) and more. */
#define CREW_LATENCY_BUCKETS 40

/* Counters over the executor's life; live_tasks, live_records and
 * cancel_set_size are current values. Exact once the executor is quiescent
 * (no live task and no submission in progress, e.g. after crew_shutdown()
 * returned); while it runs each field is a recent value, read at a slightly
 * different moment from the others. Fields after cancel_set_size were added
 * in 0.2: a caller built against 0.1 passes that version's size and gets
 * the fields it knows. */
typedef struct crew_stats {
    size_t size;                      /* set to sizeof(crew_stats_t); not written */
    uint64_t submitted;               /* tasks created (born-cancelled included) */
    uint64_t done, failed, cancelled; /* tasks that ended DONE / FAILED /
                                         CANCELLED (ACTOR_DEAD included) */
    uint64_t removed;                 /* cancelled before they started */
    uint64_t cancelled_running;       /* cancelled while running */
    uint64_t late_cancels;            /* cancel requests that lost to completion
                                         (the task completed anyway) */
    uint64_t steals;                  /* tasks taken from another worker's deque */
    uint64_t parks;                   /* times a worker went to sleep */
    uint64_t live_tasks;              /* tasks not yet terminal */
    uint64_t live_records;            /* task records not yet reclaimed */
    uint64_t cancel_set_size;         /* IDs in the cancellation set now */
    uint64_t deadlines_pending;       /* task, group and batch deadlines armed
                                         now (a batch travelling as runs has
                                         one, see crew_submit_batch()) */
    uint64_t deadlines_set;           /* deadlines armed or moved, ever */
    uint64_t deadlines_fired;         /* deadlines that passed while armed
                                         (each cancelled its scope, cause
                                         CREW_CAUSE_TIMEOUT) */
    uint64_t callbacks_run;           /* on-cancel callbacks that ran */
    uint64_t interrupts_sent;         /* signals sent to interruptible regions */
    /* 0.2 */
    uint64_t tasks_run;      /* bodies run: done + failed + cancelled_running */
    uint64_t steal_attempts; /* other workers' queues probed for work */
    uint64_t idle_ns;        /* summed over workers: time in the idle loop
                                (spinning or parked) */
    uint64_t busy_ns;        /* summed over workers: time alive and not idle */
    /* Cancel latency, for crew_cancel() requests that reached a running
     * task (removals take no time to speak of; cancellations inherited from
     * a parent, a group or shutdown have no request time of their own):
     * nanoseconds from the request to the body's first positive
     * crew_cancelled() (or crew_sync() noticing), and to its terminal
     * state, in CREW_LATENCY_BUCKETS log2 buckets, with their sums. */
    uint64_t cancel_to_check[CREW_LATENCY_BUCKETS];
    uint64_t cancel_to_terminal[CREW_LATENCY_BUCKETS];
    uint64_t cancel_to_check_sum_ns, cancel_to_terminal_sum_ns;
    uint64_t unstacks; /* times a worker found itself on the CPU of
                          another awake worker (after waking, in an idle
                          spin whose yield took a time slice, or when it
                          started a parallel loop) and moved to a free one */
} crew_stats_t;

/* Counters of the executor. Exact once the executor is quiescent; while it
 * runs, each field is a recent value (see crew_stats_t).
 * Thread-safety: any thread.
 * Ownership: none.
 * Returns: 0, with the first stats->size bytes of *stats filled (size
 *   itself not written).
 * Errors: CREW_EINVAL (ex or stats NULL, or stats->size neither the size
 *   of the 0.1 struct, which ended at cancel_set_size, nor between
 *   sizeof(crew_stats_t) and 4 times that). */
CREW_API int crew_stats(crew_t *ex, crew_stats_t *stats);

/* ------------------------------------------------------------------------ */
/* Parallel loops                                                           */
/* ------------------------------------------------------------------------ */

/* crew_for() runs a body over an index range [begin, end), in parallel, as
 * OpenMP's `parallel for` or oneTBB's parallel_for; crew_for_reduce() adds
 * an accumulator per sub-range and a combine function (OpenMP's reduction
 * clause, oneTBB's parallel_reduce). The body is called on sub-ranges
 * [lo, hi), never on an empty one, and every index of [begin, end) is in
 * exactly one call (or, once the loop is cancelled, in none):
 *
 *     static void scale(void *p, int64_t lo, int64_t hi) {
 *         double *x = p;
 *         for (int64_t i = lo; i < hi; i++) x[i] *= 2.0;
 *     }
 *     crew_for(ex, 0, n, scale, x, NULL, NULL);
 *
 * Partitioning. With a grain (crew_for_opts_t.grain > 0) every body call
 * gets at most `grain` indices. With grain 0 (the default) crew picks the
 * sizes itself: lazy binary splitting (Tzannes, Vishkin and Barua, PPoPP
 * 2010). A worker runs its range in chunks; between two chunks it splits
 * the rest in half, and offers the upper half to other workers, only when
 * one of them is idle or asked it for work and none of its earlier halves
 * is still waiting to be taken. So a loop on one busy worker is a plain
 * serial loop, and the number of pieces follows the number of hungry
 * workers, not a guess. The chunk length adapts to the body's cost: it
 * doubles while a chunk takes under about 20 us and halves when one takes
 * over about 80 us, so the checks between chunks (a clock read, the
 * cancellation check, the hunger probe: some tens of ns) stay below a
 * fraction of a percent, and a hungry worker waits at most about one chunk.
 *
 * Where it runs. The loop is one task (its root) plus forked children
 * (crew_fork): called from outside a task, the root is submitted to `ex`
 * and the caller blocks until the loop has ended, helping with nothing
 * (crew_run() is the way to compute on the calling thread too); called
 * from inside a task of the same executor, the root is a spawned child of
 * the calling task, which runs it (usually at once, on its own worker) and
 * helps with other work while stolen pieces finish. Loops nest: a body may
 * call crew_for() itself (it is then inside a task).
 *
 * Cancellation: a loop is a scope. It is cancelled when its root is: by
 * cancelling the task that called it (the root is its child), its group
 * (crew_for_opts_t.group, or from inside a task the caller's group) or an
 * enclosing one, a CREW_CANCEL shutdown, or its own deadline
 * (crew_for_opts_t.timeout_ns). From then on no further chunk starts
 * (pieces not yet started never start; a running piece stops before its
 * next chunk), and bodies running at that moment see crew_cancelled(), so
 * they may return early. To stop a loop from another thread, or from its
 * own body ("break"), give it a group and cancel the group
 * (crew_group_cancel()); a loop called from a task also stops when that
 * task is cancelled. The loop then reports, in *completed, how many
 * indices were in body calls that returned, and returns CREW_ECANCELED
 * (or CREW_ETIMEDOUT for its deadline) unless every index ran. A body that
 * returns early because it saw crew_cancelled() has its whole sub-range
 * counted: to keep the count exact, finish the sub-range (a grain bounds
 * it) or ignore crew_cancelled() in the body.
 *
 * Cost: one task record per loop, a fork per split, and per chunk one
 * indirect call plus the checks above. The body runs on any worker: it
 * must not rely on a particular thread. */

/* A loop body: run indices [lo, hi) (lo < hi). arg is crew_for()'s. */
typedef void (*crew_for_fn)(void *arg, int64_t lo, int64_t hi);

/* A fixed split tree, independent of timing and of the number of workers:
 * the range is halved recursively down to pieces of at most `grain`
 * indices (0: the larger of ceil(n / 1024) and min(n, 1024)), each piece
 * is one body call, and a reduction combines the pieces' accumulators in
 * tree order. Only which worker runs a piece depends on timing, so a
 * floating-point reduction is bit-identical across runs and worker counts
 * (as long as it is not cancelled). */
#define CREW_FOR_DETERMINISTIC 0x1u

/* Options of a loop. Zero fields mean default; NULL options mean all
 * defaults. */
typedef struct crew_for_opts {
    size_t size;         /* sizeof(crew_for_opts_t) (CREW_FOR_OPTS_INIT) */
    int64_t grain;       /* > 0: at most this many indices per body call;
                            0: automatic (see above) */
    unsigned flags;      /* CREW_FOR_*; any other bit is invalid */
    crew_group_t *group; /* the root's group: NULL means none from outside
                            a task, the caller's group from inside one */
    int64_t timeout_ns;  /* a deadline for the loop's work, from the call:
                            once passed, no further chunk starts and the
                            loop returns CREW_ETIMEDOUT; 0 or CREW_FOREVER:
                            none */
} crew_for_opts_t;

#define CREW_FOR_OPTS_INIT                                                                         \
    {                                                                                              \
        .size = sizeof(crew_for_opts_t)                                                            \
    }

/* Run body(arg, lo, hi) over sub-ranges covering [begin, end), in parallel
 * (see above). begin >= end is an empty loop: it returns 0 at once, calls
 * nothing and creates no task. ex may be NULL inside a task: the calling
 * task's executor. Called from inside a task of another executor, it acts
 * as from outside (that worker blocks).
 * Thread-safety: any thread; from inside a task it helps while it waits.
 *   The body runs on several workers at once.
 * Ownership: arg is the body's until this returns; the caller's stack may
 *   hold it. opts is only read during the call.
 * Returns: 0 when every index ran, with *completed (optional) = end -
 *   begin (0 for an empty range).
 * Errors: CREW_EINVAL (body NULL; ex NULL outside a task; opts->size too
 *   small or above 4 * sizeof(crew_for_opts_t); grain < 0; an unknown
 *   flag; a timeout neither 0, CREW_FOREVER nor in 1..CREW_TIMEOUT_MAX_NS;
 *   end - begin above INT64_MAX; opts->group destroyed as far as
 *   detectable), CREW_EWRONGEXEC (group of another executor),
 *   CREW_ESHUTDOWN (from outside a task, after shutdown began),
 *   CREW_ENOMEM: nothing ran, *completed is 0. CREW_ECANCELED (the loop
 *   was cancelled before every index ran) and CREW_ETIMEDOUT (its deadline
 *   passed first): *completed is the number of indices in body calls that
 *   returned, each index ran at most once. */
CREW_API int crew_for(crew_t *ex, int64_t begin, int64_t end, crew_for_fn body, void *arg,
                      const crew_for_opts_t *opts, int64_t *completed);

/* Largest accumulator a reduction may use, in bytes. */
#define CREW_REDUCE_ACC_MAX 256

/* A reduction: an accumulator of acc_size bytes (aligned for any scalar
 * type), identity() to start one, body() to fold indices [lo, hi) into
 * one, combine() to fold the accumulator of a later range into that of
 * the range just before it. combine must be associative (it is always
 * called with adjacent ranges, the earlier one as `acc`), need not be
 * commutative. All three get arg. */
typedef struct crew_reduce {
    size_t acc_size;                                            /* 1..CREW_REDUCE_ACC_MAX */
    void (*identity)(void *arg, void *acc);                     /* set acc to the neutral value */
    void (*body)(void *arg, int64_t lo, int64_t hi, void *acc); /* acc op= f(lo..hi) */
    void (*combine)(void *arg, void *acc, const void *right);   /* acc = acc op right */
    void *arg;
} crew_reduce_t;

/* crew_for() with a reduction: every piece of the range folds into an
 * accumulator, accumulators of adjacent pieces are combined, and *result
 * gets the accumulator of the whole range (identity() for an empty one).
 * With CREW_FOR_DETERMINISTIC the pieces and the combine order are a fixed
 * tree (see there): the same result bit for bit, whatever the timing and
 * the number of workers. Without it pieces follow the splitting, so a
 * floating-point result may differ in its last bits from run to run.
 * Thread-safety: as crew_for(); body, identity and combine run on several
 *   workers at once, each on its own accumulators.
 * Ownership: r->arg is the callbacks' until this returns; r and opts are
 *   only read during the call; result (acc_size bytes) is written before
 *   this returns, whatever it returns (the identity when nothing ran),
 *   unless r or result themselves are refused.
 * Returns: 0 when every index ran, *result the reduction of [begin, end),
 *   *completed (optional) = end - begin.
 * Errors: as crew_for(), plus CREW_EINVAL for r or result NULL, a NULL
 *   callback, acc_size 0 or above CREW_REDUCE_ACC_MAX (*result is then
 *   not written). On CREW_ECANCELED and CREW_ETIMEDOUT, *result is the
 *   reduction of the pieces that completed (in index order, not
 *   reproducible) and *completed their number of indices. */
CREW_API int crew_for_reduce(crew_t *ex, int64_t begin, int64_t end, const crew_reduce_t *r,
                             void *result, const crew_for_opts_t *opts, int64_t *completed);
/* ------------------------------------------------------------------------ */
/* Seeing inside                                                            */
/* ------------------------------------------------------------------------ */

/* Statistics of one worker (crew_worker_stats()). Counters are written
 * only by their worker (no shared read-modify-write), so reading them is
 * cheap and each field is a recent value while the executor runs. */
typedef struct crew_worker_stats {
    size_t size;                /* set by the caller: sizeof(crew_worker_stats_t)
                                   (CREW_WORKER_STATS_INIT) */
    unsigned index;             /* as asked; crew_workers(ex) is the guest slot
                                   (the thread in crew_run()) */
    uint64_t tasks_run;         /* bodies run here (done + failed +
                                   cancelled_running) */
    uint64_t done, failed;      /* of those, ended DONE / FAILED */
    uint64_t cancelled_running; /* of those, ended CANCELLED */
    uint64_t removed;           /* queued tasks this worker removed */
    uint64_t late_cancels;      /* cancels from here that found the task
                                   already DONE or FAILED */
    uint64_t steals;            /* tasks taken from other workers */
    uint64_t steal_attempts;    /* other workers' queues probed */
    uint64_t parks;             /* times it went to sleep */
    uint64_t idle_ns;           /* time in its idle loop, spinning or parked
                                   (0 for the guest slot) */
    uint64_t busy_ns;           /* time alive and not idle (0 for the guest) */
    uint64_t unstacks;          /* times it moved off a CPU another awake
                                   worker was on (see crew_stats_t) */
} crew_worker_stats_t;

#define CREW_WORKER_STATS_INIT                                                                     \
    {                                                                                              \
        .size = sizeof(crew_worker_stats_t)                                                        \
    }

/* Statistics of worker `index` (0 .. crew_workers(ex); the last is the
 * guest slot used by crew_run() callers).
 * Thread-safety: any thread, while the executor runs.
 * Ownership: none.
 * Returns: 0, with the first ws->size bytes of *ws filled (size not
 *   written).
 * Errors: CREW_EINVAL (ex or ws NULL, bad ws->size, index above
 *   crew_workers(ex)). */
CREW_API int crew_worker_stats(crew_t *ex, unsigned index, crew_worker_stats_t *ws);

/* Write the executor's statistics (crew_stats(), crew_worker_stats() of
 * every worker, the cancel-latency histograms in seconds) to out in the
 * OpenMetrics text format, ending with "# EOF", for a service to publish
 * (Prometheus scrapes it). Metric names start with "crew_"; per-worker
 * series carry the label worker="N". To get it in memory, pass a stream
 * from open_memstream() or fmemopen().
 * Thread-safety: any thread, while the executor runs.
 * Ownership: out stays the caller's; it is not closed or flushed.
 * Returns: 0.
 * Errors: CREW_EINVAL (ex or out NULL); CREW_ENOMEM when writing to out
 *   failed (ferror). */
CREW_API int crew_metrics_write(crew_t *ex, FILE *out);

/* Record the time each task is queued, started and finished (and which
 * worker ran it), for crew_task_list(). Off by default: it costs a
 * clock_gettime() and a write to a side table (one entry per record slot,
 * allocated 1024 entries at a time) at each of those three points. Tasks
 * queued before it was turned on show 0 for what happened before. It also
 * keeps the summaries of the tasks reclaimed lately (crew_task_filter_t's
 * recent).
 * Thread-safety: any thread.
 * Ownership: the rings of recent tasks belong to the executor.
 * Returns: 0.
 * Errors: CREW_EINVAL (ex NULL), CREW_ENOMEM (turning it on; nothing
 *   changed). */
CREW_API int crew_timing(crew_t *ex, bool on);

/* A live task, as crew_task_list() shows it. Times are crew's monotonic
 * clock (CLOCK_MONOTONIC, nanoseconds), 0 when not recorded (crew_timing()
 * was off at that moment) or not reached yet. */
typedef struct crew_task_row {
    size_t size;                  /* set by crew: sizeof(crew_task_row_t) of the
                                     library; read only fields below it */
    crew_id_t id;                 /* detached tasks too */
    crew_id_t parent;             /* the spawning task, 0 if none */
    crew_id_t group;              /* crew_group_id() of its group, or 0 */
    crew_actor_t *actor;          /* its actor, or NULL */
    crew_fn fn;                   /* its body */
    crew_status_t status;         /* QUEUED or RUNNING (or terminal, see
                                     crew_task_filter_t.states) */
    bool cancelled;               /* a cancellation reached it (its own
                                     request, or inherited) */
    crew_cancel_cause_t cause;    /* where from; NONE if not cancelled */
    int cancel_code;              /* from the request, 0 if none */
    char reason[CREW_REASON_MAX]; /* from the request, "" if none */
    int worker;                   /* worker that runs or ran it, -1 unknown */
    int64_t queued_ns, started_ns, finished_ns;
} crew_task_row_t;

/* Which tasks crew_task_list() shows: all conditions hold. */
typedef struct crew_task_filter {
    size_t size;         /* sizeof(crew_task_filter_t) (CREW_TASK_FILTER_INIT) */
    unsigned states;     /* bit (1u << status) per crew_status_t wanted; 0: the
                          live ones (QUEUED and RUNNING). Terminal tasks are
                          seen while their record is kept (joinable, not yet
                          released) */
    crew_id_t group;     /* only members of this group (its ID), 0: any */
    crew_id_t parent;    /* only children of this task, 0: any */
    crew_actor_t *actor; /* only this actor's tasks, NULL: any */
    bool cancelled;      /* only tasks a cancellation reached */
    bool recent;         /* also tasks reclaimed lately (crew_task_list) */
} crew_task_filter_t;

#define CREW_TASK_FILTER_INIT                                                                      \
    {                                                                                              \
        .size = sizeof(crew_task_filter_t)                                                         \
    }

/* Called once per task shown; return non-zero to stop the listing. */
typedef int (*crew_task_visit_fn)(const crew_task_row_t *row, void *ctx);

/* List tasks, like `ray list tasks`: call visit once per task that matches
 * filter (NULL: every live task), in no particular order. Each row is a
 * snapshot taken while the record was pinned; the task may have moved on
 * by the time visit runs, and a task that starts or ends during the
 * listing may or may not be shown. Safe while the executor runs. Cost:
 * proportional to the number of record slots the executor ever created
 * (its peak number of records), not to the tasks shown: records are not
 * indexed by state, because an index would cost every submission a shared
 * write. Stolen forks (crew_fork) are not tasks with IDs and are not shown.
 * Recently finished tasks: with filter->recent, the listing also shows
 * tasks whose records were reclaimed lately (terminal and released:
 * detached tasks as they end, joinable ones when joined or released),
 * the last 64 per worker thread and 64 for the threads outside the
 * executor, summarised when reclaimed while crew_timing() was on; they
 * match filter->states like the others (ask for the terminal statuses).
 * That part costs the rings' size, and, while timing is on, each
 * reclaimed task an uncontended lock and a 150-byte copy.
 * Thread-safety: any thread, even a task of this executor; visit runs on
 *   the calling thread, with no crew lock held, and may call crew (e.g.
 *   crew_cancel the task shown).
 * Ownership: row is valid only during the call to visit.
 * Returns: the number of tasks shown (visit calls), >= 0.
 * Errors: CREW_EINVAL (ex or visit NULL, bad filter->size). */
CREW_API int crew_task_list(crew_t *ex, const crew_task_filter_t *filter, crew_task_visit_fn visit,
                            void *ctx);

/* Start recording a trace: each worker writes the events it sees (submit,
 * spawn, start, finish, steal, cancel request, removal, first positive
 * check, park, unpark) with a timestamp into its own ring of
 * events_per_worker events (0: 65536; rounded up to a power of two); the
 * threads outside the executor share one more. When a ring is full the
 * oldest events are overwritten. Off (the default) it costs one load and
 * a predictable branch at each of those points; on, 14 to 28 ns an event
 * measured on a busy 2-vCPU VM, most of it the rdtsc timestamp (README
 * "Seeing inside"). It does not turn crew_timing() on (the
 * trace has its own timestamps). Starting again forgets the previous
 * trace. The first start sizes the rings for the executor's life; a later
 * start with another events_per_worker keeps the first size.
 * Thread-safety: any thread.
 * Ownership: the rings belong to the executor (freed by crew_destroy()).
 * Returns: 0.
 * Errors: CREW_EINVAL (ex NULL, events_per_worker above 2^24), CREW_EBUSY
 *   (a trace is being recorded), CREW_ENOMEM (nothing changed). */
CREW_API int crew_trace_start(crew_t *ex, size_t events_per_worker);

/* Stop recording; the events stay until the next crew_trace_start().
 * Thread-safety: any thread.
 * Ownership: none.
 * Returns: 0.
 * Errors: CREW_EINVAL (ex NULL; no trace was ever started). */
CREW_API int crew_trace_stop(crew_t *ex);

/* Write the trace in Chrome's trace-event JSON format (an object with a
 * "traceEvents" array), which Perfetto (ui.perfetto.dev) and
 * chrome://tracing open, and tools/crew-trace summarises and draws: one
 * thread per worker ("worker N", and "outside" for other threads), a
 * complete event ("X") per task body run, instant events for the rest,
 * park-to-unpark as "parked" slices; timestamps in microseconds from the
 * trace's start; args carry task IDs (as strings: they exceed 2^53). Each
 * thread's events are written in time order. It may be called while the
 * trace still records (each ring is read as a seqlock: events overwritten
 * meanwhile are left out).
 * Thread-safety: any thread.
 * Ownership: out stays the caller's; not closed.
 * Returns: 0.
 * Errors: CREW_EINVAL (ex or out NULL; no trace was ever started),
 *   CREW_ENOMEM (out of memory, or writing to out failed). */
CREW_API int crew_trace_write(crew_t *ex, FILE *out);

/* What the watchdog reports about a task that was cancelled while it ran
 * and has not checked (crew_cancelled()) since. */
typedef struct crew_watchdog_report {
    size_t size;                  /* sizeof(crew_watchdog_report_t) of the library */
    crew_id_t id;                 /* the task */
    crew_fn fn;                   /* its body */
    const char *symbol;           /* fn's name (dladdr), NULL if unknown */
    crew_cancel_cause_t cause;    /* SELF, PARENT, GROUP or SHUTDOWN */
    int cancel_code;              /* as in crew_task_info_t */
    char reason[CREW_REASON_MAX]; /* as in crew_task_info_t */
    int64_t waited_ns;            /* since the request (SELF) or since the
                                     watchdog first saw it cancelled */
} crew_watchdog_report_t;

typedef void (*crew_watchdog_fn)(const crew_watchdog_report_t *report, void *ctx);

/* Start a watchdog thread that every ms/4 milliseconds (at least 1) looks
 * at the running tasks and reports, once per task, each one that was
 * cancelled and has not made a positive check for at least ms
 * milliseconds: through fn(report, ctx) on the watchdog's thread, or with
 * fn NULL as one line on stderr ("crew watchdog: task 0x... fn
 * (symbol) cancelled ... ms ago (reason) has not checked"). For a
 * crew_cancel request the time counts from the request; for a
 * cancellation inherited from a parent, a group or shutdown, from when the
 * watchdog first noticed it (up to ms/4 later). Each round walks every
 * record slot (see crew_task_list()).
 * Thread-safety: any thread. fn must not call crew_watchdog_stop() or
 *   crew_destroy() on this executor.
 * Ownership: ctx stays the caller's; it must stay valid until
 *   crew_watchdog_stop() or crew_destroy() returns (either stops the
 *   watchdog). report is valid during the call.
 * Returns: 0.
 * Errors: CREW_EINVAL (ex NULL, ms 0 or above 3600000), CREW_EBUSY (a
 *   watchdog runs), CREW_ENOMEM, CREW_ETHREAD. */
CREW_API int crew_watchdog_start(crew_t *ex, unsigned ms, crew_watchdog_fn fn, void *ctx);

/* Stop the watchdog and join its thread (a report being delivered ends
 * first).
 * Thread-safety: any thread except the watchdog's own (fn).
 * Ownership: ctx is no longer used when this returns.
 * Returns: 0.
 * Errors: CREW_EINVAL (ex NULL; no watchdog runs). */
CREW_API int crew_watchdog_stop(crew_t *ex);

/* crew_shutdown() that gives up after timeout_ns: steps as crew_shutdown()
 * (mode, escalation, refusal of outside submissions), but the wait for
 * every task to be terminal ends at the deadline. On time-out it fills
 * ids[0 .. min(cap, *n)) with IDs of tasks still live (running, or still
 * queued in a drain; detached ones too) and sets *n to how many there
 * were, and returns CREW_ETIMEDOUT. The executor is then still shutting
 * down: submissions from outside stay refused, its workers keep running
 * the tasks named, and actors are not ended yet. The caller may then cancel
 * those tasks (crew_cancel_id()), call crew_shutdown_timed() again (with
 * CREW_CANCEL to escalate), or crew_shutdown(), which waits without limit;
 * crew_destroy() also waits for every task to end (it does not abandon
 * running tasks: there is no way to stop a thread that ignores
 * cancellation). On success it is exactly crew_shutdown().
 * Thread-safety: as crew_shutdown().
 * Ownership: as crew_shutdown(); ids stays the caller's.
 * Returns: 0 (everything ended, *n = 0), or CREW_ETIMEDOUT as above.
 * Errors: CREW_EINVAL (ex or n NULL, ids NULL with cap > 0, bad mode or
 *   timeout), CREW_EDEADLK (on a worker thread of this executor); on those
 *   nothing changed. */
CREW_API int crew_shutdown_timed(crew_t *ex, crew_shutdown_mode_t mode, int64_t timeout_ns,
                                 crew_id_t *ids, size_t cap, size_t *n);

/* ------------------------------------------------------------------------ */
/* Actors                                                                   */
/* ------------------------------------------------------------------------ */

/* An actor is a piece of state plus a mailbox whose tasks run one at a time,
 * in submission order, on the executor's workers. It has no thread of its
 * own: an idle actor costs no thread and no CPU. Tasks of one actor never
 * overlap and each sees the effects of those before it, so state that only
 * the actor's tasks touch needs no lock; tasks of different actors run in
 * parallel. A busy actor gives its worker back after a bounded batch of
 * tasks, so it can neither starve other work nor pin a worker.
 *
 * An actor task is an ordinary task: its ID works with crew_wait(),
 * crew_join(), crew_inspect(), crew_cancel() and crew_release(). Cancelling
 * a queued actor task removes it (it never runs; CREW_REMOVED); a running
 * one is requested and sees crew_cancelled(), as for any task.
 *
 * Groups, not parents. Submitted from inside a task, an actor task joins
 * that task's group (unless desc->group names another), so cancelling the
 * group cancels the actor work it set off, across actors: that is how a
 * batch flowing through a pipeline of actors is stopped. It is NOT a child
 * of the submitting task (crew_inspect() shows parent 0): a message
 * outlives its sender, and actors that send to each other or to themselves
 * forever must not keep every sender's record alive behind the newest
 * message. So cancelling the sender by ID does not reach messages it has
 * already sent.
 *
 * Life: ALIVE -> EXITING (crew_actor_exit, crew_actor_destroy) -> DEAD, or
 * straight to DEAD (crew_actor_kill, crew_shutdown). Once it is DEAD and no
 * task of it runs any more, its destructor runs exactly once and the actor
 * is "finished" (crew_actor_wait() returns).
 *
 * Counting: in crew_stats() a task that ends CREW_TASK_ACTOR_DEAD counts as
 * cancelled and removed (it never ran); in a group's counts too, though
 * crew_group_wait() may report CREW_TASK_ACTOR_DEAD as its status. The
 * stats also count the internal tasks that give actors their workers (one
 * per batch of up to 64 tasks of a busy actor, none for an idle one):
 * submitted and done, or, in a CREW_CANCEL shutdown, cancelled (removed,
 * or cancelled while running).
 * Deadlock: an actor task must not wait for a later task of its own actor,
 * which cannot start before the waiting one returns. */

/* Destructor of an actor's state; called once, with the state pointer. */
typedef void (*crew_actor_dtor_fn)(void *state);

typedef enum crew_actor_status {
    CREW_ACTOR_ALIVE = 0,   /* accepting tasks */
    CREW_ACTOR_EXITING = 1, /* refuses new tasks, still runs the queued ones */
    CREW_ACTOR_DEAD = 2     /* refuses new tasks and starts none */
} crew_actor_status_t;

/* Why an actor is EXITING or DEAD. */
typedef enum crew_actor_cause {
    CREW_ACTOR_CAUSE_NONE = 0, /* alive */
    CREW_ACTOR_KILLED = 1,     /* crew_actor_kill() */
    CREW_ACTOR_EXITED = 2,     /* crew_actor_exit(), or crew_actor_destroy()
                                  while it was alive */
    CREW_ACTOR_SHUTDOWN = 3    /* crew_shutdown(), either mode */
} crew_actor_cause_t;

/* Create an actor owning `state` (may be NULL). `dtor` (optional) is called
 * once with `state` when the actor is DEAD and none of its tasks runs any
 * more: at once, in the call that makes it DEAD, if the actor is idle (no
 * task of it queued or running); otherwise on a worker, once the actor's
 * runner has finished (after the running task returned). So it runs on a
 * worker or on the caller of crew_actor_kill, crew_actor_destroy or
 * crew_shutdown (rarely, of crew_actor_submit racing a CREW_CANCEL
 * shutdown).
 * Thread-safety: any thread, including tasks.
 * Ownership: the caller owns *out until crew_actor_destroy(); `state`
 *   belongs to the actor from now on (its tasks reach it through
 *   crew_actor_state()). Handles still held at crew_destroy() are freed
 *   there, after the shutdown ended their actors.
 * Returns: 0, with *out set.
 * Errors: CREW_EINVAL (ex or out NULL), CREW_ESHUTDOWN (shutdown began and
 *   the caller is not on a worker thread of ex), CREW_ENOMEM. On error
 *   *out is NULL (if out is not). */
CREW_API int crew_actor_create(crew_t *ex, void *state, crew_actor_dtor_fn dtor,
                               crew_actor_t **out);

/* Queue a task in the actor's mailbox. It starts after every task this
 * actor accepted before it has returned (or was removed), and never while
 * another task of this actor runs. desc->cleanup and desc->group work as in
 * crew_submit_ex(); with desc->group NULL, a task submitted from inside a
 * task of the same executor joins the caller's group (it is not the
 * caller's child; see above). It is born CANCELLED (never queued) if its
 * group is already cancelled or a CREW_CANCEL shutdown is under way.
 * Thread-safety: any thread, any task (the actor's own tasks included).
 *   Submissions from one thread run in the order they were made.
 * Ownership: as crew_submit_ex(): arg goes to the task (cleanup runs exactly
 *   once, also when the task is removed, cancelled, or dropped by a kill);
 *   a non-NULL id makes it joinable.
 * Returns: 0, with *id set if id is non-NULL.
 * Errors: CREW_EINVAL (a NULL or freed, see crew_actor_destroy(); desc or
 *   fn NULL; desc->group destroyed, as far as detectable),
 *   CREW_EWRONGEXEC (group of another executor), CREW_EACTORDEAD (the actor
 *   is EXITING or DEAD: it was killed, exited, destroyed or shut down),
 *   CREW_ESHUTDOWN (executor shutdown began and the caller is not a task of
 *   it), CREW_ENOMEM. On error nothing was submitted and cleanup was NOT
 *   called: arg is still the caller's. */
CREW_API int crew_actor_submit_ex(crew_actor_t *a, const crew_task_desc_t *desc, crew_id_t *id);

/* crew_actor_submit_ex() with only fn and arg.
 * Thread-safety: as crew_actor_submit_ex().
 * Ownership: as crew_actor_submit_ex().
 * Returns: 0, with *id set if id is non-NULL.
 * Errors: as crew_actor_submit_ex(), except CREW_EWRONGEXEC (no group is
 *   named). */
CREW_API int crew_actor_submit(crew_actor_t *a, crew_fn fn, void *arg, crew_id_t *id);

/* The state pointer of the actor whose task is calling, or NULL outside an
 * actor task (a plain task spawned by an actor task is not one: it may run
 * in parallel with the actor). Any thread (meaningful only inside an actor
 * task). */
CREW_API void *crew_actor_state(void);

/* The actor whose task is calling, or NULL outside an actor task. Valid
 * while the calling task runs. Any thread. */
CREW_API crew_actor_t *crew_actor_self(void);

/* End the calling task's actor gracefully (Ray's exit_actor): tasks already
 * submitted still run, in order; later submissions fail with
 * CREW_EACTORDEAD; once the mailbox is empty the actor is DEAD (cause
 * CREW_ACTOR_EXITED) and its destructor runs. The calling task itself goes
 * on normally. No effect if the actor is already EXITING or DEAD.
 * Thread-safety: only from inside an actor task.
 * Ownership: none; the handle stays with whoever holds it.
 * Returns: 0.
 * Errors: CREW_ENOTINTASK (not inside an actor task). */
CREW_API int crew_actor_exit(void);

/* Kill the actor (Ray's kill): it is DEAD at once, with cause
 * CREW_ACTOR_KILLED, `code` and `reason` (kept up to CREW_REASON_MAX-1
 * bytes). Before this returns, its queued tasks end CREW_TASK_ACTOR_DEAD
 * (cleanup run, waiters woken; crew_inspect() shows cause CREW_CAUSE_ACTOR
 * with this code and reason), and the task it is running is cancelled with
 * cause CREW_CAUSE_ACTOR: requested, so it ends CREW_TASK_CANCELLED (one
 * the actor had taken but not yet started is removed, also CANCELLED).
 * Every later submission fails with CREW_EACTORDEAD. The destructor runs
 * in this call if the actor was idle (no task queued or running);
 * otherwise on a worker, once the actor's runner has finished (after the
 * running task, if any, returned).
 * Idempotent: killing a DEAD actor changes nothing (the first cause wins);
 * killing an EXITING one drops what it still had queued.
 * Thread-safety: any thread, any task. An actor task may kill its own
 *   actor: it is then the running task and sees crew_cancelled().
 * Ownership: the handle stays the caller's (crew_actor_destroy() is still
 *   due); reason is copied. Cleanups of the dropped tasks run in this call,
 *   on the calling thread.
 * Returns: 0.
 * Errors: CREW_EINVAL (a NULL or freed, see crew_actor_destroy()). */
CREW_API int crew_actor_kill(crew_actor_t *a, int code, const char *reason);

/* Wait until the actor is finished: DEAD, no task of it running, and its
 * destructor returned. It does not end the actor (kill it, make it exit,
 * destroy it or shut down first). From inside a task the wait helps, as
 * crew_wait() does. timeout_ns as for crew_wait().
 * Thread-safety: any thread; not from a task of `a` itself.
 * Ownership: none.
 * Returns: 0.
 * Errors: CREW_EINVAL (a NULL or freed, see crew_actor_destroy(); timeout
 *   invalid), CREW_ETIMEDOUT, CREW_ECANCELED (only inside a task: the
 *   calling task was cancelled while it waited), CREW_EDEADLK (called from
 *   a task of `a`). */
CREW_API int crew_actor_wait(crew_actor_t *a, int64_t timeout_ns);

/* Snapshot of an actor. The counts are exact while the actor is at rest (no
 * task of it running, no kill or shutdown in progress), when submitted ==
 * queued + done + failed + cancelled + dead; while it runs each is a recent
 * value. */
typedef struct crew_actor_info {
    size_t size;                  /* set by the caller:
                                     sizeof(crew_actor_info_t)
                                     (CREW_ACTOR_INFO_INIT) */
    crew_actor_status_t status;   /* ALIVE, EXITING or DEAD */
    crew_actor_cause_t cause;     /* why EXITING or DEAD; NONE while ALIVE */
    int code;                     /* crew_actor_kill()'s code, else 0 */
    char reason[CREW_REASON_MAX]; /* crew_actor_kill()'s reason, else "" */
    bool running;                 /* one of its tasks runs (or starts) now */
    bool finished;                /* DEAD, drained, destructor returned */
    uint64_t submitted;           /* tasks accepted (born cancelled too) */
    uint64_t queued;              /* waiting in the mailbox */
    uint64_t done, failed;        /* ran and returned 0 / non-zero */
    uint64_t cancelled;           /* ended CANCELLED: born so, removed
                                     before they ran, or cancelled while
                                     running */
    uint64_t dead;                /* ended CREW_TASK_ACTOR_DEAD */
    uint64_t refused;             /* submissions refused: CREW_EACTORDEAD */
} crew_actor_info_t;

/* Fill *info. Costs O(queued): it walks the mailbox under the actor's lock.
 * Thread-safety: any thread.
 * Ownership: none.
 * Returns: 0, with *info filled.
 * Errors: CREW_EINVAL (a or info NULL, bad info->size, a freed: see
 *   crew_actor_destroy()). */
CREW_API int crew_actor_info(crew_actor_t *a, crew_actor_info_t *info);

/* Give up the handle. An actor still ALIVE ends as after crew_actor_exit():
 * its queued tasks still run, then it is DEAD and its destructor runs (at
 * once, in this call, if nothing is queued or running). The memory goes
 * when the actor is finished. Never blocks (but may run the destructor).
 * Thread-safety: any thread, any task; once per actor, and no other call on
 *   `a` may run concurrently or follow, except from the actor's own tasks
 *   still running or queued (for them crew_actor_state() and
 *   crew_actor_self() keep working, and submitting to the actor fails with
 *   CREW_EACTORDEAD).
 * Ownership: the handle is given up; `state` stays the actor's until its
 *   destructor. The CREW_EINVAL other calls give for a destroyed actor is a
 *   best effort: they detect it only once its memory is freed (and not yet
 *   reused); until then they act on the actor as before.
 * Returns: 0.
 * Errors: CREW_EINVAL (a NULL, or already destroyed when detectable). */
CREW_API int crew_actor_destroy(crew_actor_t *a);

#ifdef __cplusplus
}
#endif
#endif /* CREW_H */
