/*
 * crew-stress - a randomized stress run of crew, judged by oracles at the end.
 *
 * Several submitter threads feed root tasks (single and batched, joinable and
 * detached, in groups or not); several canceller threads cancel tasks and
 * groups at random times, wait and inspect with small timeouts, probe stale
 * IDs and recycle groups. Task bodies fail, cancel themselves, spin while
 * checking crew_cancelled(), spawn children and join or wait for them, and
 * cancel other tasks.
 *
 * Every task has a record in a table allocated before the round starts,
 * indexed by a sequence number that is the task's argument. Bodies record
 * that they started and what they returned; cancels record their outcome;
 * waits, joins and crew_inspect record the terminal status they saw (and
 * must all agree). At the end of each round (after crew_shutdown, with every
 * handle released and every group destroyed) the oracles are checked (the
 * per-task ones and the counter reconciliation are tools/oracle, shared
 * with the fuzz target):
 *   - every task reached exactly one terminal state, was started at most
 *     once, and had its cleanup run exactly once (or never, for a failed
 *     submission);
 *   - a cancel that returned CREW_REMOVED: the body never started;
 *   - a cancel that returned CREW_REQUESTED: the status is CANCELLED, and
 *     every crew_cancelled() the body (or a descendant) made after that
 *     cancel returned was true;
 *   - a child spawned by a task that already saw crew_cancelled() never runs;
 *   - after a group cancel returned: every member body that starts sees
 *     crew_cancelled(), and there are at most (members in their body at the
 *     cancel) + (one per worker) of them;
 *   - crew_stats and crew_group_info counters reconcile with what bodies and
 *     waits recorded; live_tasks, live_records and cancel_set_size are 0;
 *   - no cancel scope is left (crew__debug_cancel_scopes: 0, or 1 after a
 *     CREW_CANCEL shutdown, the executor's own until crew_destroy);
 *   - crew__fault_live_bytes() == 0 after crew_destroy.
 * A watchdog aborts with crew__dump() if no task makes progress for a while.
 *
 * The seed is printed first; it fixes every random choice (each task's
 * behaviour is a function of seed and sequence number, each thread's of seed
 * and thread index). Thread interleavings are the OS's.
 *
 * Exit status: 0 if every oracle held, 1 otherwise, 2 for bad usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "crew.h"
#include "fault.h"
#include "oracle.h"

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

struct config {
    uint64_t tasks;      /* task records per round (roots and children) */
    unsigned workers;    /* executor workers */
    unsigned submitters; /* threads submitting root tasks */
    unsigned cancellers; /* threads cancelling, waiting, inspecting */
    double seconds;      /* 0: one round; else rounds until this elapsed */
    uint64_t seed;
    bool seed_set;
    unsigned watchdog_s; /* abort after this long without progress */
};

#define NSLOTS       6                   /* group slots, recycled during the run */
#define MAX_GENS     16384               /* groups created per round, at most */
#define RING         64                  /* outstanding joinable handles per submitter */
#define MAX_DEPTH    3                   /* spawn depth */
#define RECENT       2048                /* cancellers pick among the last RECENT tasks */
#define STALE_TOP    (UINT64_C(1) << 63) /* IDs with this bit are never issued */
#define STARTED_RING 256                 /* recently started tasks, for running cancels */

/* ------------------------------------------------------------------------ */
/* Random numbers: splitmix64, one stream per (seed, purpose, index)        */
/* ------------------------------------------------------------------------ */

typedef struct rng {
    uint64_t s;
} rng_t;

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t rnd(rng_t *r)
{
    r->s += UINT64_C(0x9e3779b97f4a7c15);
    return mix64(r->s);
}

/* Uniform in 0..n-1 (n > 0). */
static uint32_t below(rng_t *r, uint32_t n)
{
    return (uint32_t)(((rnd(r) >> 32) * (uint64_t)n) >> 32);
}

enum stream { ST_TASK = 1, ST_SUBMIT, ST_CANCEL, ST_ROUND };

static rng_t rng_for(uint64_t seed, uint64_t stream, uint64_t idx)
{
    rng_t r = {mix64(seed ^ mix64(stream * UINT64_C(0x100000001b3) + idx))};
    return r;
}

/* ------------------------------------------------------------------------ */
/* Records                                                                  */
/* ------------------------------------------------------------------------ */

enum kind {
    K_DONE,         /* returns 0 */
    K_FAIL,         /* returns non-zero */
    K_SELF,         /* cancels itself, then checks crew_cancelled() */
    K_LOOP,         /* spins, checking crew_cancelled(), returns early */
    K_SPAWN,        /* spawns 1..3 children, then joins/waits for them */
    K_CANCEL_OTHER, /* cancels a recent task (from inside a task) */
    K_DEADLINE,     /* sets its own deadline (0-300 us), spins until it passes */
    K_CALLBACK,     /* registers an on-cancel callback, spins, removes it */
    K_IRQ,          /* enters interruptible regions around 1 ms polls */
    K_FOR,          /* a parallel loop (crew_for), each index counted */
    K__COUNT
};

/* A task: the shared oracle's record (o) plus what this tool tracks. The
 * plain fields are written by the creator before the submission and read
 * by the body (ordered by crew's submission), by cancellers that found the
 * record through an atomic ID (ordered by that ID's store/load), and by the
 * main thread after every thread was joined. */
struct rec {
    oracle_task_t o;
    int32_t parent; /* sequence number of the spawner, -1: root */
    int32_t gen;    /* group generation, -1: none */
    uint8_t kind, depth;
    _Atomic bool releasing;  /* set before crew_release/crew_join is called */
    _Atomic bool cancel_hit; /* a cancel on it returned REMOVED/REQUESTED */
    _Atomic bool reported;   /* a visibility violation was reported */
    atomic_int cb_runs;      /* K_CALLBACK: its callback ran */
    atomic_int cb_said;      /* K_CALLBACK: remove answered "it ran" */
};

/* One group object (a slot holds a sequence of generations). */
struct gen {
    crew_group_t *g;
    crew_id_t gid;
    unsigned flags;
    _Atomic int64_t in_body;  /* members inside their body now */
    _Atomic bool cancel_flag; /* set after crew_group_cancel returned */
    _Atomic int64_t running_at_cancel;
    _Atomic int64_t started_after; /* member bodies that saw cancel_flag */
    bool destroyed;
    crew_group_info_t info; /* taken just before destroy */
    crew_status_t wait_status;
};

struct slot {
    pthread_mutex_t mu; /* guards gen (and the group's lifetime) */
    int gen;            /* -1: none */
};

/* Statistics for the summary, over all rounds. Relaxed: counters read after
 * every thread was joined. */
struct totals {
    _Atomic uint64_t tasks, done, failed, cancelled, removed, cancelled_running, c_removed,
        c_requested, c_too_late, c_enotask, c_released, group_cancels, groups, waits, timeouts,
        stale_probes, rounds, late_group_starts;
};

static struct {
    struct config cfg;
    uint64_t seed; /* this round's seed */
    crew_t *ex;
    crew_t *loop_ex; /* K_FOR's loops run here */
    struct rec *recs;
    uint64_t cap;
    _Atomic uint64_t next_seq;
    _Atomic uint64_t started[STARTED_RING]; /* seq + 1 of recent starts */
    struct gen *gens;
    _Atomic int ngens;
    struct slot slots[NSLOTS];
    int64_t deadline_ns; /* 0: none */
    _Atomic bool stop_cancel;
    _Atomic bool shutdown_started;
    pthread_mutex_t mu; /* for the two phase conditions below */
    pthread_cond_t cv;
    unsigned submitters_done;
    bool shutdown_done;
    crew_shutdown_mode_t mode;
} S;

static _Atomic uint64_t violations;
static _Atomic uint64_t progress; /* completions: body returns, cleanups */
static struct totals T;

static _Atomic(crew_t *) wd_ex; /* executor the watchdog may dump */
static _Atomic(const char *) wd_phase;

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void violation(const char *fmt, ...)
{
    /* seq_cst: plain counter; the main thread reads it after joining. */
    uint64_t n = atomic_fetch_add(&violations, 1);
    va_list ap;
    if (n >= 30) {
        if (n == 30)
            fprintf(stderr, "VIOLATION: (more violations not shown)\n");
        return;
    }
    va_start(ap, fmt);
    flockfile(stderr);
    fprintf(stderr, "VIOLATION: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    funlockfile(stderr);
    va_end(ap);
}

/* The shared oracle's violations count here too. */
static void oracle_report(const char *msg) { violation("%s", msg); }

static inline void bump(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed); /* counter */
}

static inline void bump_by(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed); /* counter */
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static bool time_up(void) { return S.deadline_ns && now_ns() >= S.deadline_ns; }

/* Sequence numbers: 0..cap-1; UINT64_MAX when the table is full. */
static uint64_t alloc_seq(void)
{
    /* relaxed: the record is handed over through the submission. */
    uint64_t s = atomic_fetch_add_explicit(&S.next_seq, 1, memory_order_relaxed);
    return s < S.cap ? s : UINT64_MAX;
}

static uint64_t seq_limit(void)
{
    uint64_t n = atomic_load_explicit(&S.next_seq, memory_order_relaxed);
    return n < S.cap ? n : S.cap;
}

/* A recently created task, or (half the time) a recently started one, so
 * that cancels often find tasks running. */
static uint64_t pick_recent(rng_t *r)
{
    uint64_t hi = seq_limit(), lo = hi > RECENT ? hi - RECENT : 0;
    if (below(r, 2)) {
        /* relaxed: a hint; the record is reached through its atomic ID. */
        uint64_t v = atomic_load_explicit(&S.started[below(r, STARTED_RING)], memory_order_relaxed);
        if (v)
            return v - 1;
    }
    if (hi == lo)
        return UINT64_MAX;
    return lo + below(r, (uint32_t)(hi - lo));
}

static enum kind pick_kind(uint64_t seq, unsigned depth)
{
    rng_t r = rng_for(S.seed, ST_TASK, seq);
    uint32_t p = below(&r, 100);
    if (p < 16)
        return K_DONE;
    if (p < 20)
        return K_DEADLINE;
    if (p < 24)
        return K_CALLBACK;
    if (p < 26)
        return K_IRQ;
    if (p < 28)
        return K_FOR;
    if (p < 38)
        return K_FAIL;
    if (p < 44)
        return K_SELF;
    if (p < 64)
        return K_LOOP;
    if (p < 90)
        return depth < MAX_DEPTH ? K_SPAWN : K_DONE;
    return K_CANCEL_OTHER;
}

static void observe(struct rec *r, crew_status_t st, const char *how)
{
    oracle_observe(&r->o, st, how);
}

/* ------------------------------------------------------------------------ */
/* Cancel outcomes                                                          */
/* ------------------------------------------------------------------------ */

/* Record what crew_cancel(id of r) returned. by_self_id: the ID came from
 * the body's crew_self() (a detached task, or one whose submit is still
 * returning), so CREW_ENOTASK may just mean "reclaimed". was_released: the
 * handle had been released before the call. */
static void record_cancel(struct rec *r, int rc, bool by_self_id, bool was_released)
{
    size_t seq = (size_t)(r - S.recs);
    /* crew_cancel finds a released task while its record lives (that is
     * how detached tasks are cancelled by ID), so a released ID may give
     * an outcome instead of CREW_ENOTASK; the outcome must still be true. */
    if (rc > 0 && was_released)
        bump(&T.c_released);
    oracle_cancel_outcome(&r->o, rc);
    switch (rc) {
    case CREW_REMOVED:
        bump(&T.c_removed);
        atomic_store(&r->cancel_hit, true);
        break;
    case CREW_REQUESTED:
        bump(&T.c_requested);
        atomic_store(&r->cancel_hit, true);
        break;
    case CREW_TOO_LATE:
        bump(&T.c_too_late);
        break;
    case CREW_ENOTASK:
        bump(&T.c_enotask);
        /* seq_cst: releasing is stored before crew_release/crew_join is
         * called; if it still reads false after our call returned, the
         * release started after our call ended, so the ID was valid
         * throughout. */
        if (!by_self_id && !atomic_load(&r->releasing))
            violation("task %zu: cancel gave CREW_ENOTASK for a handle "
                      "that was never released",
                      seq);
        break;
    default:
        violation("task %zu: crew_cancel returned %s", seq, crew_err_name(rc));
    }
}

/* ENOTASK is acceptable from a wait/inspect only if the handle was being
 * released (or the ID came from crew_self()). */
static void check_enotask(struct rec *r, int rc, bool by_self_id, const char *call)
{
    if (rc == CREW_ENOTASK && !by_self_id && !atomic_load(&r->releasing))
        violation("task %zu: %s gave CREW_ENOTASK for a live handle", (size_t)(r - S.recs), call);
}

/* The ID to use for r: its handle, or the ID its body reported. */
static crew_id_t target_id(struct rec *r, bool *by_self_id, bool *was_released)
{
    crew_id_t id;
    *was_released = atomic_load(&r->o.released);
    id = atomic_load(&r->o.id);
    *by_self_id = id == 0;
    if (!id)
        id = atomic_load(&r->o.self_id);
    return id;
}

static void cancel_recent(rng_t *rng)
{
    uint64_t seq = pick_recent(rng);
    struct rec *r;
    bool by_self, was_rel;
    crew_id_t id;
    if (seq == UINT64_MAX)
        return;
    r = &S.recs[seq];
    id = target_id(r, &by_self, &was_rel);
    if (!id)
        return;
    record_cancel(r, crew_cancel(S.ex, id, 42, "stress"), by_self, was_rel);
}

/* ------------------------------------------------------------------------ */
/* Finishing a joinable handle (owner: submitter or spawning parent)        */
/* ------------------------------------------------------------------------ */

static void inspect_terminal(struct rec *r, crew_id_t id, crew_status_t st)
{
    crew_task_info_t info;
    info.size = sizeof info;
    int rc = crew_inspect(S.ex, id, &info);
    if (rc != 0) {
        violation("task %zu: crew_inspect of an unreleased handle gave %s", (size_t)(r - S.recs),
                  crew_err_name(rc));
        return;
    }
    oracle_inspect(&r->o, id, &info, r->parent < 0 ? 0 : atomic_load(&S.recs[r->parent].o.self_id),
                   r->gen >= 0 ? S.gens[r->gen].gid : 0, (int)st, false);
}

static int64_t first_timeout(rng_t *rng)
{
    static const int64_t t[] = {0, 1000, 20000, 200000};
    return t[below(rng, 4)];
}

/* Observe r's terminal status and give up its handle, in one of several
 * ways. in_task: called from a task body (a wait may then see ECANCELED). */
static void finish_handle(struct rec *r, rng_t *rng, bool in_task)
{
    crew_id_t id = atomic_load(&r->o.id);
    crew_status_t st;
    int rc;
    uint32_t how = below(rng, 20);

    if (how < 6) {
        /* Timed waits, lengthening, then inspect and release. */
        int64_t t = first_timeout(rng);
        bump(&T.waits);
        for (int i = 0;; i++) {
            rc = crew_wait(S.ex, id, i >= 6 ? CREW_FOREVER : t, &st);
            if (rc != CREW_ETIMEDOUT)
                break;
            bump(&T.timeouts);
            t = t * 8 + 10000;
        }
        if (rc == 0) {
            observe(r, st, "crew_wait");
            inspect_terminal(r, id, st);
            atomic_store(&r->releasing, true);
            rc = crew_release(S.ex, id);
            if (rc != 0)
                violation("task %zu: crew_release gave %s", (size_t)(r - S.recs),
                          crew_err_name(rc));
            atomic_store(&r->o.released, true);
            return;
        }
        if (rc != CREW_ECANCELED || !in_task)
            violation("task %zu: crew_wait gave %s%s", (size_t)(r - S.recs), crew_err_name(rc),
                      in_task ? "" : " outside a task");
        else if (!crew_cancelled())
            violation("task %zu: crew_wait gave ECANCELED to a caller that "
                      "is not cancelled",
                      (size_t)(r - S.recs));
    } else if (how < 9) {
        /* Synchronous cancellation, then join. */
        rc = crew_cancel_wait(S.ex, id, first_timeout(rng), &st);
        if (rc == 0)
            observe(r, st, "crew_cancel_wait");
        else if (rc == CREW_ETIMEDOUT)
            bump(&T.timeouts);
        else if (!(rc == CREW_ECANCELED && in_task))
            violation("task %zu: crew_cancel_wait gave %s", (size_t)(r - S.recs),
                      crew_err_name(rc));
    } else if (how < 12) {
        /* Plain cancel, then join. */
        record_cancel(r, crew_cancel(S.ex, id, 43, "owner"), false, false);
    } else if (how == 12) {
        /* Release without knowing the outcome: the record is reclaimed
         * when terminal, as for a detached task. */
        crew_task_info_t info;
        info.size = sizeof info;
        rc = crew_inspect(S.ex, id, &info);
        if (rc != 0)
            violation("task %zu: crew_inspect gave %s", (size_t)(r - S.recs), crew_err_name(rc));
        else if (info.status >= CREW_TASK_DONE)
            observe(r, info.status, "crew_inspect");
        atomic_store(&r->o.unobserved_ok, true);
        atomic_store(&r->releasing, true);
        rc = crew_release(S.ex, id);
        if (rc != 0)
            violation("task %zu: crew_release gave %s", (size_t)(r - S.recs), crew_err_name(rc));
        atomic_store(&r->o.released, true);
        return;
    }
    /* Join: always waits for the terminal state. */
    atomic_store(&r->releasing, true);
    rc = crew_join(S.ex, id, &st);
    if (rc == 0 || (rc == CREW_ECANCELED && in_task)) {
        observe(r, st, "crew_join");
        if (rc == CREW_ECANCELED && !crew_cancelled())
            violation("task %zu: crew_join gave ECANCELED to a caller that "
                      "is not cancelled",
                      (size_t)(r - S.recs));
    } else {
        violation("task %zu: crew_join gave %s", (size_t)(r - S.recs), crew_err_name(rc));
    }
    atomic_store(&r->o.released, true);
}

/* ------------------------------------------------------------------------ */
/* Task bodies                                                              */
/* ------------------------------------------------------------------------ */

static int body(void *arg);

static void on_cleanup(void *arg)
{
    oracle_cleanup(&S.recs[(uintptr_t)arg].o);
    bump(&progress);
}

static _Atomic uint64_t sink;

/* Busy work the compiler cannot drop. */
static void spin(unsigned n)
{
    uint64_t x = n;
    for (unsigned i = 0; i < n; i++)
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    /* relaxed: only keeps the loop alive; nobody reads it. */
    atomic_store_explicit(&sink, x, memory_order_relaxed);
}

/* Whatever cancel returned REQUESTED/REMOVED for this task or an ancestor,
 * or a group cancel of its group returned: crew_cancelled() must say so. */
static void check_visible(struct rec *r)
{
    const struct rec *by = NULL;
    int depth = 0;
    bool by_group;
    /* Read the flags first: only a check made after a cancel returned
     * (flag seen set) must report cancellation. */
    for (const struct rec *a = r; a && !by; a = a->parent >= 0 ? &S.recs[a->parent] : NULL, depth++)
        if (atomic_load(&a->cancel_hit))
            by = a;
    by_group = r->gen >= 0 && atomic_load(&S.gens[r->gen].cancel_flag);
    if (oracle_cancelled(&r->o) || !(by || by_group))
        return;
    if (atomic_exchange(&r->reported, true))
        return; /* one report per task is enough */
    if (by)
        violation("task %zu (kind %d): crew_cancelled() is false after a "
                  "cancel of %s %zu returned",
                  (size_t)(r - S.recs), r->kind, depth == 1 ? "itself" : "its ancestor",
                  (size_t)(by - S.recs));
    else if (by_group) {
        crew_task_info_t info = {0};
        info.size = sizeof info;
        int rc = crew_inspect(S.ex, crew_self(), &info);
        bool again = crew_cancelled();
        violation("task %zu (kind %d, %s): crew_cancelled() is false after a "
                  "cancel of its group %d (id %" PRIu64 ") returned [inspect "
                  "%d: group %" PRIu64 " cause %d; checked again: %d]",
                  (size_t)(r - S.recs), r->kind, r->parent < 0 ? "root" : "child", r->gen,
                  S.gens[r->gen].gid, rc, info.group, (int)info.cause, (int)again);
    }
}

static void init_rec(struct rec *r, int32_t parent, int32_t gen, unsigned depth, bool joinable,
                     bool has_cleanup)
{
    uint64_t seq = (uint64_t)(r - S.recs);
    r->parent = parent;
    r->gen = gen;
    r->depth = (uint8_t)depth;
    r->kind = (uint8_t)pick_kind(seq, depth);
    /* Plain fields only: the atomics were reset with the round, and a
     * canceller may already be reading them. */
    r->o.joinable = joinable;
    r->o.has_cleanup = has_cleanup;
    r->o.born_cancelled = false;
}

static void spawn_children(struct rec *r, rng_t *rng)
{
    uint64_t kids[3];
    unsigned n = 1 + below(rng, 3), nk = 0;
    int32_t me = (int32_t)(r - S.recs);

    for (unsigned i = 0; i < n; i++) {
        uint64_t c = alloc_seq();
        struct rec *k;
        crew_id_t id = 0;
        int rc;
        if (c == UINT64_MAX)
            break;
        k = &S.recs[c];
        init_rec(k, me, r->gen, r->depth + 1u, below(rng, 8) != 0, below(rng, 4) != 0);
        /* Sticky: if the spawner is cancelled now, the child must be born
         * cancelled (ancestor, group and shutdown cancels all reach it). */
        k->o.born_cancelled = crew_cancelled();
        if (k->o.has_cleanup) {
            crew_task_desc_t d = {.fn = body, .arg = (void *)(uintptr_t)c, .cleanup = on_cleanup};
            rc = crew_submit_ex(crew_current(), &d, k->o.joinable ? &id : NULL);
        } else {
            rc = crew_spawn(body, (void *)(uintptr_t)c, k->o.joinable ? &id : NULL);
        }
        if (rc != 0) {
            violation("task %" PRIu64 ": spawn gave %s", c, crew_err_name(rc));
            atomic_store(&k->o.submit, ORACLE_SUB_REFUSED);
            continue;
        }
        atomic_store(&k->o.submit, ORACLE_SUB_OK);
        if (k->o.joinable) {
            atomic_store(&k->o.id, id);
            kids[nk++] = c;
        }
    }
    for (unsigned i = 0; i < nk; i++)
        finish_handle(&S.recs[kids[i]], rng, true);
}

static void for_body(void *arg, int64_t lo, int64_t hi)
{
    atomic_uchar *ran = arg;
    for (int64_t i = lo; i < hi; i++)
        atomic_fetch_add_explicit(&ran[i], 1, memory_order_relaxed);
}

static void stress_cb(void *arg)
{
    struct rec *r = arg;
    atomic_fetch_add(&r->cb_runs, 1);
}

static int body(void *arg)
{
    uint64_t seq = (uintptr_t)arg;
    struct rec *r = &S.recs[seq];
    struct gen *gn = r->gen >= 0 ? &S.gens[r->gen] : NULL;
    rng_t rng = rng_for(S.seed, ST_TASK, seq);
    int ret = 0;

    (void)rnd(&rng); /* the first draw chose the kind */
    oracle_body_start(&r->o, S.ex, S.cfg.workers);
    /* relaxed: a hint for pick_recent(). */
    atomic_store_explicit(&S.started[seq % STARTED_RING], seq + 1, memory_order_relaxed);
    if (gn) {
        /* seq_cst, pairs with the canceller's samples of in_body around
         * crew_group_cancel and its later store of cancel_flag. */
        atomic_fetch_add(&gn->in_body, 1);
        if (atomic_load(&gn->cancel_flag))
            atomic_fetch_add(&gn->started_after, 1);
    }
    check_visible(r);

    switch ((enum kind)r->kind) {
    case K_DONE:
        spin(below(&rng, 200));
        break;
    case K_FAIL:
        spin(below(&rng, 200));
        ret = 1 + (int)below(&rng, 1000);
        break;
    case K_SELF: {
        int rc = crew_cancel(S.ex, crew_self(), 7, "self");
        if (rc == CREW_REQUESTED) {
            oracle_cancel_outcome(&r->o, rc);
            atomic_store(&r->cancel_hit, true);
        } else {
            violation("task %" PRIu64 ": cancelling itself gave %s", seq, crew_err_name(rc));
        }
        check_visible(r);
        ret = (int)below(&rng, 2);
        break;
    }
    case K_LOOP: {
        unsigned n = 100 + below(&rng, 2000);
        for (unsigned i = 0; i < n; i++) {
            spin(20);
            check_visible(r);
            if (atomic_load_explicit(&r->o.saw_cancel, memory_order_relaxed)) {
                ret = (int)below(&rng, 3); /* whatever: it ends CANCELLED */
                break;
            }
        }
        break;
    }
    case K_SPAWN:
        spawn_children(r, &rng);
        check_visible(r);
        ret = below(&rng, 8) == 0 ? 99 : 0;
        break;
    case K_CANCEL_OTHER:
        cancel_recent(&rng);
        check_visible(r);
        break;
    case K_DEADLINE: {
        int64_t dl = crew_now() + (int64_t)below(&rng, 300000);
        int rc = crew_set_deadline(S.ex, crew_self(), dl);
        if (rc != 0 && rc != CREW_REQUESTED)
            violation("task %" PRIu64 ": crew_set_deadline gave %s", seq, crew_err_name(rc));
        /* Sleep between checks: under valgrind a spinning thread can keep
         * the timer thread from running for a long time. */
        while (!oracle_cancelled(&r->o) && crew_now() < dl + (int64_t)20000000000) {
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
        }
        if (!atomic_load(&r->o.saw_cancel)) {
            int64_t left = -1;
            int g = crew_get_deadline(S.ex, crew_self(), &left);
            violation("task %" PRIu64 ": its deadline passed 20 s ago, unseen (set: %s; "
                      "pending: %s, %lld ns from its deadline)",
                      seq, crew_err_name(rc), crew_err_name(g), (long long)(left - dl));
        }
        break;
    }
    case K_CALLBACK: {
        crew_on_cancel_t reg;
        unsigned n = 50 + below(&rng, 500);
        int rc = crew_on_cancel(&reg, stress_cb, r);
        if (rc < 0) {
            violation("task %" PRIu64 ": crew_on_cancel gave %s", seq, crew_err_name(rc));
            break;
        }
        for (unsigned i = 0; i < n && !oracle_cancelled(&r->o); i++)
            spin(20);
        if (crew_on_cancel_remove(&reg) == 1)
            atomic_fetch_add(&r->cb_said, 1);
        check_visible(r);
        break;
    }
    case K_FOR: {
        int64_t n = 1 + (int64_t)below(&rng, 3000), done = -1, count = 0;
        crew_for_opts_t fo = CREW_FOR_OPTS_INIT;
        atomic_uchar *ran = calloc((size_t)n, 1);
        int rc;
        if (!ran)
            break;
        fo.grain = below(&rng, 2) ? 0 : 1 + (int64_t)below(&rng, 64);
        if (below(&rng, 2)) /* some stop at their deadline, part done */
            fo.timeout_ns = 1 + (int64_t)below(&rng, 200000);
        /* On the round's loop executor: its tasks stay out of the counts
         * reconciled below (a loop makes tasks of its own). */
        rc = crew_for(S.loop_ex, 0, n, for_body, ran, &fo, &done);
        for (int64_t i = 0; i < n; i++) {
            unsigned char c = atomic_load_explicit(&ran[i], memory_order_relaxed);
            if (c > 1)
                violation("task %" PRIu64 ": loop index %" PRId64 " ran %u times", seq, i, c);
            count += c;
        }
        if (rc == 0 && (done != n || count != n))
            violation("task %" PRIu64 ": crew_for returned 0 with %" PRId64 " of %" PRId64
                      " indices (reported %" PRId64 ")",
                      seq, count, n, done);
        else if (rc != 0 && rc != CREW_ECANCELED && rc != CREW_ETIMEDOUT)
            violation("task %" PRIu64 ": crew_for gave %s", seq, crew_err_name(rc));
        else if (rc != 0 && done != count)
            violation("task %" PRIu64 ": cancelled crew_for reported %" PRId64 " done, %" PRId64
                      " ran",
                      seq, done, count);
        free(ran);
        check_visible(r);
        break;
    }
    case K_IRQ: {
        unsigned n = 1 + below(&rng, 4);
        for (unsigned i = 0; i < n && !oracle_cancelled(&r->o); i++) {
            struct timespec ts = {0, 1000000};
            if (crew_interruptible_begin() != 0)
                break;
            nanosleep(&ts, NULL); /* interrupted by a cancel, or 1 ms */
            crew_interruptible_end();
        }
        check_visible(r);
        break;
    }
    default:
        break;
    }
    oracle_body_end(&r->o, ret);
    bump(&progress);
    if (gn)
        atomic_fetch_sub(&gn->in_body, 1);
    return ret;
}

/* ------------------------------------------------------------------------ */
/* Groups                                                                   */
/* ------------------------------------------------------------------------ */

/* Create a fresh group in slot s (lock held). A generation whose creation
 * failed stays in the table as an empty, destroyed group. */
static void slot_new_group(int s, rng_t *rng)
{
    struct slot *sl = &S.slots[s];
    unsigned flags = below(rng, 3) == 0 ? CREW_GROUP_FAIL_FAST : 0;
    int gi, rc;
    struct gen *gn;

    sl->gen = -1;
    if (atomic_load(&S.ngens) >= MAX_GENS)
        return;
    gi = atomic_fetch_add(&S.ngens, 1);
    if (gi >= MAX_GENS)
        return;
    gn = &S.gens[gi];
    gn->flags = flags;
    rc = crew_group_create(S.ex, NULL, flags, &gn->g);
    if (rc != 0) {
        if (!(rc == CREW_ESHUTDOWN && atomic_load(&S.shutdown_started)))
            violation("crew_group_create gave %s", crew_err_name(rc));
        gn->g = NULL;
        gn->destroyed = true;
        return;
    }
    gn->gid = crew_group_id(gn->g);
    if (gn->gid == 0)
        violation("crew_group_id gave 0");
    if (below(rng, 4) == 0) { /* a bound on its queued members */
        rc = crew_group_set_limit(gn->g, 4 + below(rng, 64));
        if (rc != 0)
            violation("crew_group_set_limit gave %s", crew_err_name(rc));
    }
    if (below(rng, 4) == 0) { /* a deadline 0-5 ms away */
        rc = crew_group_set_deadline(gn->g, crew_now() + (int64_t)below(rng, 5000000));
        if (rc != 0)
            violation("crew_group_set_deadline gave %s", crew_err_name(rc));
    }
    bump(&T.groups);
    sl->gen = gi;
}

/* Wait for the group in slot s to empty, record its counts, destroy it
 * (lock held). */
static void slot_retire(int s)
{
    struct slot *sl = &S.slots[s];
    struct gen *gn;
    crew_status_t st;
    int rc;
    if (sl->gen < 0)
        return;
    gn = &S.gens[sl->gen];
    for (int64_t t = 100000;; t = t < 100000000 ? t * 2 : t) {
        rc = crew_group_wait(gn->g, t, &st);
        if (rc != CREW_ETIMEDOUT)
            break;
    }
    if (rc != 0)
        violation("crew_group_wait gave %s", crew_err_name(rc));
    if (atomic_load(&gn->in_body) != 0)
        violation("group %d: crew_group_wait returned while %" PRId64
                  " member(s) were still in their body",
                  sl->gen, atomic_load(&gn->in_body));
    gn->wait_status = st;
    gn->info.size = sizeof gn->info;
    rc = crew_group_info(gn->g, &gn->info);
    if (rc != 0)
        violation("crew_group_info gave %s", crew_err_name(rc));
    rc = crew_group_destroy(gn->g);
    if (rc != 0) {
        violation("crew_group_destroy after an empty wait gave %s", crew_err_name(rc));
        return; /* leak it rather than corrupt the run */
    }
    gn->g = NULL;
    gn->destroyed = true;
    sl->gen = -1;
}

/* Eager removal: once crew_group_cancel returned, no member is QUEUED. Only
 * members whose handle was recorded are looked at (recorded after their
 * submission returned, so a submission racing the cancel has decided:
 * born cancelled, or queued and then removed by the cancel's sweep). The
 * scan is O(tasks so far), so a round checks its first few cancels. */
static _Atomic unsigned eager_checks;

static void check_none_queued(int gen)
{
    uint64_t n = atomic_load(&S.next_seq);
    if (atomic_fetch_add(&eager_checks, 1) >= 8)
        return;
    if (n > S.cap)
        n = S.cap;
    for (uint64_t i = 0; i < n; i++) {
        struct rec *r = &S.recs[i];
        crew_status_t st;
        /* seq_cst load: the ID is stored after the record was filled, so
         * r->gen may be read once it is seen. */
        crew_id_t id = atomic_load(&r->o.id);
        if (!id || r->gen != gen || atomic_load(&r->o.released) || atomic_load(&r->releasing))
            continue;
        if (crew_status(S.ex, id, &st) == 0 && st == CREW_TASK_QUEUED)
            violation("task %" PRIu64 " of group gen %d QUEUED after crew_group_cancel "
                      "returned (eager removal)",
                      r->o.no, gen);
    }
}

static void group_cancel(rng_t *rng)
{
    struct slot *sl = &S.slots[below(rng, NSLOTS)];
    struct gen *gn;
    int64_t before, after;
    int rc;
    if (pthread_mutex_trylock(&sl->mu) != 0)
        return;
    if (sl->gen >= 0) {
        gn = &S.gens[sl->gen];
        before = atomic_load(&gn->in_body);
        rc = crew_group_cancel(gn->g, 44, "group");
        after = atomic_load(&gn->in_body);
        if (rc != 0)
            violation("crew_group_cancel gave %s", crew_err_name(rc));
        bump(&T.group_cancels);
        if (!atomic_load(&gn->cancel_flag)) {
            atomic_store(&gn->running_at_cancel, before > after ? before : after);
            /* seq_cst: after this store, a member body that loads true
             * started after our cancel returned. */
            atomic_store(&gn->cancel_flag, true);
        }
        if (rc == 0)
            check_none_queued(sl->gen);
    }
    pthread_mutex_unlock(&sl->mu);
}

static void group_recycle(rng_t *rng)
{
    int s = (int)below(rng, NSLOTS);
    struct slot *sl = &S.slots[s];
    pthread_mutex_lock(&sl->mu);
    slot_retire(s);
    if (sl->gen < 0)
        slot_new_group(s, rng);
    pthread_mutex_unlock(&sl->mu);
}

/* ------------------------------------------------------------------------ */
/* Threads                                                                  */
/* ------------------------------------------------------------------------ */

static void submitter_finished_phase(void)
{
    pthread_mutex_lock(&S.mu);
    S.submitters_done++;
    pthread_cond_broadcast(&S.cv);
    while (!S.shutdown_done)
        pthread_cond_wait(&S.cv, &S.mu);
    pthread_mutex_unlock(&S.mu);
}

static void *submitter(void *arg)
{
    unsigned idx = (unsigned)(uintptr_t)arg;
    rng_t rng = rng_for(S.seed, ST_SUBMIT, idx);
    uint64_t ring[RING];
    unsigned head = 0, count = 0;

    while (!time_up()) {
        /* Now and then a batch large enough to be cut into carriers
         * (crew.h, crew_submit_batch: from outside, without IDs). */
        unsigned n = below(&rng, 10) == 0   ? 1 + below(&rng, 8)
                     : below(&rng, 50) == 0 ? 32 + below(&rng, 97)
                                            : 1;
        uint64_t seqs[128];
        void *args[128];
        crew_id_t ids[128];
        bool joinable = below(&rng, 10) != 0;
        bool use_ex = below(&rng, 4) != 0 || n > 1;
        crew_task_desc_t d = {.fn = body, .cleanup = use_ex ? on_cleanup : NULL};
        struct slot *sl = NULL;
        if (below(&rng, 16) == 0) /* a deadline 0-2 ms away */
            d.timeout = 1 + (int64_t)below(&rng, 2000000);
        int gen = -1, rc;
        unsigned got = 0;

        while (got < n && (seqs[got] = alloc_seq()) != UINT64_MAX)
            got++;
        if (!got)
            break;
        if (below(&rng, 3) == 0) {
            sl = &S.slots[below(&rng, NSLOTS)];
            if (pthread_mutex_trylock(&sl->mu) != 0)
                sl = NULL;
            else if (sl->gen >= 0) {
                gen = sl->gen;
                d.group = S.gens[gen].g;
            }
        }
        for (unsigned i = 0; i < got; i++) {
            struct rec *r = &S.recs[seqs[i]];
            init_rec(r, -1, gen, 0, joinable, use_ex);
            r->o.born_cancelled = gen >= 0 && atomic_load(&S.gens[gen].cancel_flag);
            args[i] = (void *)(uintptr_t)seqs[i];
            ids[i] = 0;
        }
        if (got > 1)
            rc = crew_submit_batch(S.ex, &d, args, got, joinable ? ids : NULL);
        else if (use_ex || d.group || d.timeout) { /* crew_submit() has neither */
            d.arg = args[0];
            rc = crew_submit_ex(S.ex, &d, joinable ? ids : NULL);
        } else {
            rc = crew_submit(S.ex, body, args[0], joinable ? ids : NULL);
        }
        if (sl)
            pthread_mutex_unlock(&sl->mu);
        if (rc != 0)
            violation("submit of %u task(s) gave %s", got, crew_err_name(rc));
        for (unsigned i = 0; i < got; i++) {
            struct rec *r = &S.recs[seqs[i]];
            atomic_store(&r->o.submit, rc == 0 ? ORACLE_SUB_OK : ORACLE_SUB_REFUSED);
            if (rc != 0 || !joinable)
                continue;
            if (ids[i] == 0)
                violation("submit returned ID 0");
            atomic_store(&r->o.id, ids[i]);
            if (count == RING) {
                finish_handle(&S.recs[ring[head]], &rng, false);
                head = (head + 1) % RING;
                count--;
            }
            ring[(head + count++) % RING] = seqs[i];
        }
    }
    /* Leave the last handles outstanding across the shutdown. */
    submitter_finished_phase();
    for (; count; count--, head = (head + 1) % RING)
        finish_handle(&S.recs[ring[head]], &rng, false);
    return NULL;
}

static void probe_stale(rng_t *rng)
{
    crew_id_t id = STALE_TOP | rnd(rng);
    crew_status_t st;
    crew_task_info_t info;
    int rc;
    bump(&T.stale_probes);
    if ((rc = crew_cancel(S.ex, id, 0, NULL)) != CREW_ENOTASK)
        violation("cancel of unknown ID gave %s", crew_err_name(rc));
    if ((rc = crew_wait(S.ex, id, 0, &st)) != CREW_ENOTASK)
        violation("wait on unknown ID gave %s", crew_err_name(rc));
    info.size = sizeof info;
    if ((rc = crew_inspect(S.ex, id, &info)) != CREW_ENOTASK)
        violation("inspect of unknown ID gave %s", crew_err_name(rc));
    if ((rc = crew_release(S.ex, id)) != CREW_ENOTASK)
        violation("release of unknown ID gave %s", crew_err_name(rc));
    if ((rc = crew_cancel(S.ex, 0, 0, NULL)) != CREW_ENOTASK)
        violation("cancel of ID 0 gave %s", crew_err_name(rc));
}

static void probe_recent(rng_t *rng, uint32_t what)
{
    uint64_t seq = pick_recent(rng);
    struct rec *r;
    bool by_self, was_rel;
    crew_id_t id;
    crew_status_t st;
    crew_task_info_t info;
    int rc;
    if (seq == UINT64_MAX)
        return;
    r = &S.recs[seq];
    id = target_id(r, &by_self, &was_rel);
    if (!id)
        return;
    switch (what) {
    case 0:
        rc = crew_cancel_wait(S.ex, id, below(rng, 2) ? 0 : 50000, &st);
        break;
    case 1:
        rc = crew_wait(S.ex, id, below(rng, 2) ? 0 : 50000, &st);
        break;
    default:
        info.size = sizeof info;
        rc = crew_inspect(S.ex, id, &info);
        st = info.status;
        break;
    }
    if (was_rel && rc != CREW_ENOTASK)
        violation("task %" PRIu64 ": call on a released ID gave %s", seq, crew_err_name(rc));
    if (rc == 0) {
        if (st >= CREW_TASK_DONE)
            observe(r, st,
                    what == 0   ? "crew_cancel_wait"
                    : what == 1 ? "crew_wait"
                                : "crew_inspect");
        else if (st == CREW_TASK_RUNNING)
            atomic_store(&r->o.seen_running, true);
    } else if (rc == CREW_ETIMEDOUT && what < 2) {
        bump(&T.timeouts);
    } else if (rc == CREW_ENOTASK) {
        check_enotask(r, rc, by_self, "wait/inspect");
    } else {
        violation("task %" PRIu64 ": probe %u gave %s", seq, what, crew_err_name(rc));
    }
}

static void check_stats_running(void)
{
    crew_stats_t s = {.size = sizeof s};
    int rc = crew_stats(S.ex, &s);
    if (rc != 0)
        violation("crew_stats gave %s", crew_err_name(rc));
}

static void *canceller(void *arg)
{
    unsigned idx = (unsigned)(uintptr_t)arg;
    rng_t rng = rng_for(S.seed, ST_CANCEL, idx);
    uint64_t actions = 0;

    while (!atomic_load(&S.stop_cancel)) {
        uint32_t p;
        /* Pace: about one action per 4 tasks created per canceller. When
         * ahead, block in a short timed wait on a recent task (a real call
         * that observes something) instead of spinning. */
        if (actions * 4 > seq_limit() + 64) {
            uint64_t seq = pick_recent(&rng);
            crew_status_t st;
            crew_id_t id = seq == UINT64_MAX ? 0 : atomic_load(&S.recs[seq].o.id);
            if (id && crew_wait(S.ex, id, 200000, &st) == 0)
                observe(&S.recs[seq], st, "crew_wait");
            else
                sched_yield();
            if (!time_up() && seq_limit() < S.cap)
                continue;
        }
        actions++;
        p = below(&rng, 100);
        if (p < 50)
            cancel_recent(&rng);
        else if (p < 60)
            probe_recent(&rng, 0);
        else if (p < 70)
            probe_recent(&rng, 1);
        else if (p < 82)
            probe_recent(&rng, 2);
        else if (p < 88)
            group_cancel(&rng);
        else if (p < 92)
            group_recycle(&rng);
        else if (p < 97)
            probe_stale(&rng);
        else
            check_stats_running();
    }
    return NULL;
}

/* No progress for cfg.watchdog_s seconds: dump and abort. */
static pthread_mutex_t wd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cv;
static bool wd_stop;

static void *watchdog(void *arg)
{
    uint64_t last = UINT64_MAX;
    int64_t last_change = now_ns();
    (void)arg;
    pthread_mutex_lock(&wd_mu);
    while (!wd_stop) {
        struct timespec ts;
        uint64_t p;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 1;
        /* Timed wait: a periodic check, not synchronization. */
        pthread_cond_timedwait(&wd_cv, &wd_mu, &ts);
        if (wd_stop)
            break;
        p = atomic_load_explicit(&progress, memory_order_relaxed);
        if (p != last) {
            last = p;
            last_change = now_ns();
        } else if (now_ns() - last_change >= (int64_t)S.cfg.watchdog_s * 1000000000LL) {
            crew_t *ex = atomic_load(&wd_ex);
            fprintf(stderr,
                    "crew-stress: WATCHDOG: no progress for %u s in phase "
                    "'%s' (seed %" PRIu64 ", round seed %" PRIu64 ")\n",
                    S.cfg.watchdog_s, atomic_load(&wd_phase), S.cfg.seed, S.seed);
            if (ex)
                crew__dump(ex, stderr);
            fflush(stderr);
            abort();
        }
    }
    pthread_mutex_unlock(&wd_mu);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* End-of-round verification                                                */
/* ------------------------------------------------------------------------ */

static void verify_round(const crew_stats_t *st, int workers)
{
    uint64_t n = seq_limit();
    oracle_tally_t all = {0};
    oracle_tally_t *per = calloc((size_t)MAX_GENS, sizeof *per);
    int ngens = atomic_load(&S.ngens);

    if (ngens > MAX_GENS)
        ngens = MAX_GENS;
    if (!per) {
        violation("out of memory verifying");
        return;
    }
    for (uint64_t i = 0; i < n; i++) {
        const struct rec *r = &S.recs[i];
        oracle_check_task(&r->o);
        {
            int runs = atomic_load(&r->cb_runs), said = atomic_load(&r->cb_said);
            if (runs > 1 || runs != said)
                violation("task %" PRIu64 ": on-cancel callback ran %d times, remove said %d", i,
                          runs, said);
            if (runs && atomic_load(&r->o.final) >= 0 &&
                atomic_load(&r->o.final) != CREW_TASK_CANCELLED)
                violation("task %" PRIu64 ": its on-cancel callback ran, yet it ended %d", i,
                          (int)atomic_load(&r->o.final));
        }
        oracle_tally_add(&all, &r->o);
        if (r->gen >= 0)
            oracle_tally_add(&per[r->gen], &r->o);
    }
    oracle_check_counts("crew_stats", &all, st->submitted, st->done, st->failed, st->cancelled,
                        st->removed, st->cancelled_running);
    oracle_check_rest(S.ex, st, S.mode == CREW_CANCEL);

    for (int g = 0; g < ngens; g++) {
        const struct gen *gn = &S.gens[g];
        const crew_group_info_t *in = &gn->info;
        char who[48];
        int64_t after = atomic_load(&gn->started_after);
        int64_t bound = atomic_load(&gn->running_at_cancel) + workers;
        snprintf(who, sizeof who, "group %d (id %" PRIu64 ")", g, gn->gid);
        if (!gn->destroyed) {
            violation("%s: never destroyed", who);
            continue;
        }
        if (gn->gid == 0)
            continue; /* its creation failed: nothing to check */
        if (in->id != gn->gid)
            violation("%s: info id %" PRIu64, who, in->id);
        oracle_check_counts(who, &per[g], in->submitted, in->done, in->failed, in->cancelled,
                            in->removed, in->cancelled_running);
        oracle_check_group(who, in, gn->wait_status, atomic_load(&gn->cancel_flag), gn->flags);
        bump_by(&T.late_group_starts, (uint64_t)after);
        if (atomic_load(&gn->cancel_flag) && after > bound)
            violation("%s: %" PRId64 " members started after the cancel "
                      "returned; bound %" PRId64,
                      who, after, bound);
    }
    free(per);
}

/* ------------------------------------------------------------------------ */
/* A round                                                                  */
/* ------------------------------------------------------------------------ */

static int never_run(void *arg)
{
    (void)arg;
    violation("a task submitted after shutdown ran");
    return 0;
}

static void never_cleanup(void *arg)
{
    (void)arg;
    violation("cleanup of a refused submission ran");
}

static void phase(const char *p) { atomic_store(&wd_phase, p); }

static void run_round(uint64_t round)
{
    const struct config *c = &S.cfg;
    crew_options_t o = {.size = sizeof o};
    pthread_t th[128];
    unsigned nth = 0;
    rng_t rng;
    crew_stats_t st = {.size = sizeof st};
    crew_group_t *g;
    int rc;

    S.seed = mix64(c->seed + round * UINT64_C(0x9e3779b97f4a7c15));
    rng = rng_for(S.seed, ST_ROUND, 0);
    S.cap = c->tasks;
    for (uint64_t i = 0; i < S.cap; i++) {
        struct rec *r = &S.recs[i];
        memset(r, 0, sizeof *r);
        oracle_task_init(&r->o, i, false, false);
    }
    memset(S.gens, 0, sizeof *S.gens * MAX_GENS);
    atomic_store(&S.next_seq, 0);
    atomic_store(&eager_checks, 0);
    for (int i = 0; i < STARTED_RING; i++)
        atomic_store(&S.started[i], 0);
    atomic_store(&S.ngens, 0);
    atomic_store(&S.stop_cancel, false);
    atomic_store(&S.shutdown_started, false);
    S.submitters_done = 0;
    S.shutdown_done = false;
    S.mode = below(&rng, 2) ? CREW_CANCEL : CREW_DRAIN;

    phase("create");
    o.workers = c->workers;
    if (below(&rng, 2)) /* backpressure: outside submitters wait for room */
        o.max_queued = 16 + below(&rng, 256);
    rc = crew_create(&S.ex, &o);
    if (rc == 0) {
        crew_options_t lo = {.size = sizeof lo, .workers = 2};
        rc = crew_create(&S.loop_ex, &lo);
    }
    if (rc != 0) {
        fprintf(stderr, "crew-stress: crew_create: %s\n", crew_strerror(rc));
        exit(1);
    }
    if (crew_workers(S.ex) != c->workers)
        violation("crew_workers %u, asked %u", crew_workers(S.ex), c->workers);
    atomic_store(&wd_ex, S.ex);
    for (int s = 0; s < NSLOTS; s++) {
        pthread_mutex_init(&S.slots[s].mu, NULL);
        slot_new_group(s, &rng);
    }

    phase("run");
    for (unsigned i = 0; i < c->submitters; i++)
        pthread_create(&th[nth++], NULL, submitter, (void *)(uintptr_t)i);
    for (unsigned i = 0; i < c->cancellers; i++)
        pthread_create(&th[nth++], NULL, canceller, (void *)(uintptr_t)i);

    pthread_mutex_lock(&S.mu);
    while (S.submitters_done < c->submitters)
        pthread_cond_wait(&S.cv, &S.mu);
    pthread_mutex_unlock(&S.mu);

    phase("shutdown");
    atomic_store(&S.shutdown_started, true);
    rc = crew_shutdown(S.ex, S.mode);
    if (rc != 0)
        violation("crew_shutdown gave %s", crew_err_name(rc));
    if (crew_stats(S.ex, &st) != 0 || st.live_tasks != 0)
        violation("after crew_shutdown(%s) returned, live_tasks %" PRIu64,
                  S.mode == CREW_CANCEL ? "CANCEL" : "DRAIN", st.live_tasks);

    phase("finish");
    atomic_store(&S.stop_cancel, true);
    pthread_mutex_lock(&S.mu);
    S.shutdown_done = true;
    pthread_cond_broadcast(&S.cv);
    pthread_mutex_unlock(&S.mu);
    for (unsigned i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
    for (int s = 0; s < NSLOTS; s++) {
        slot_retire(s);
        pthread_mutex_destroy(&S.slots[s].mu);
    }

    {
        crew_task_desc_t d = {.fn = never_run, .cleanup = never_cleanup};
        crew_id_t id = 0;
        if ((rc = crew_submit_ex(S.ex, &d, &id)) != CREW_ESHUTDOWN)
            violation("submit after shutdown gave %s", crew_err_name(rc));
        if ((rc = crew_group_create(S.ex, NULL, 0, &g)) != CREW_ESHUTDOWN) {
            violation("group create after shutdown gave %s", crew_err_name(rc));
            if (rc == 0)
                crew_group_destroy(g);
        }
    }

    phase("verify");
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    if ((rc = crew_stats(S.ex, &st)) != 0)
        violation("crew_stats gave %s", crew_err_name(rc));
    verify_round(&st, (int)c->workers);

    phase("destroy");
    atomic_store(&wd_ex, NULL);
    rc = crew_destroy(&S.ex);
    if (rc != 0 || S.ex != NULL)
        violation("crew_destroy gave %s", crew_err_name(rc));
    if (S.loop_ex && (rc = crew_destroy(&S.loop_ex)) != 0)
        violation("crew_destroy (loops) gave %s", crew_err_name(rc));
    if (crew__fault_live_bytes() != 0)
        violation("%" PRId64 " bytes still allocated after crew_destroy", crew__fault_live_bytes());

    /* relaxed: single-threaded here. */
    atomic_fetch_add_explicit(&T.tasks, seq_limit(), memory_order_relaxed);
    atomic_fetch_add_explicit(&T.done, st.done, memory_order_relaxed);
    atomic_fetch_add_explicit(&T.failed, st.failed, memory_order_relaxed);
    atomic_fetch_add_explicit(&T.cancelled, st.cancelled, memory_order_relaxed);
    atomic_fetch_add_explicit(&T.removed, st.removed, memory_order_relaxed);
    atomic_fetch_add_explicit(&T.cancelled_running, st.cancelled_running, memory_order_relaxed);
    bump(&T.rounds);
    if (atomic_load(&violations))
        fprintf(stderr,
                "crew-stress: round %" PRIu64 " (round seed %" PRIu64 ", shutdown %s) failed\n",
                round, S.seed, S.mode == CREW_CANCEL ? "CANCEL" : "DRAIN");
}

/* ------------------------------------------------------------------------ */
/* Command line                                                             */
/* ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fputs("usage: crew-stress [--tasks N] [--workers N] [--seconds S]\n"
          "       [--seed N] [--submitters N] [--cancellers N] [--watchdog S]\n"
          "  --tasks N       task records per round, with children (100000)\n"
          "  --workers N     executor worker threads (4)\n"
          "  --seconds S     0: one round; else rounds until S s passed,\n"
          "                  the last one cut short (0)\n"
          "  --seed N        fixes every random choice (default: random)\n"
          "  --submitters N  submitting threads (2)\n"
          "  --cancellers N  cancelling/waiting threads (2)\n"
          "  --watchdog S    no task completed for S s: dump, abort (10)\n"
          "Environment: CREW_STRESS_TASKS, _WORKERS, _SECONDS, _SEED,\n"
          "_SUBMITTERS, _CANCELLERS, _WATCHDOG; flags win.\n",
          f);
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (!s || !*s)
        return false;
    errno = 0;
    v = strtoull(s, &end, 0);
    if (errno || *end || s[0] == '-')
        return false;
    *out = v;
    return true;
}

static bool set_opt(struct config *c, const char *name, const char *val)
{
    uint64_t v;
    if (!strcmp(name, "seconds")) {
        char *end;
        double d;
        if (!val || !*val)
            return false;
        d = strtod(val, &end);
        if (*end || d < 0 || d > 1e7)
            return false;
        c->seconds = d;
        return true;
    }
    if (!parse_u64(val, &v))
        return false;
    if (!strcmp(name, "seed")) {
        c->seed = v;
        c->seed_set = true;
    } else if (!strcmp(name, "tasks") && v >= 1 && v <= (UINT64_C(1) << 31)) {
        c->tasks = v;
    } else if (!strcmp(name, "workers") && v >= 1 && v <= 64) {
        c->workers = (unsigned)v;
    } else if (!strcmp(name, "submitters") && v >= 1 && v <= 32) {
        c->submitters = (unsigned)v;
    } else if (!strcmp(name, "cancellers") && v <= 32) {
        c->cancellers = (unsigned)v;
    } else if (!strcmp(name, "watchdog") && v >= 1 && v <= 3600) {
        c->watchdog_s = (unsigned)v;
    } else {
        return false;
    }
    return true;
}

static const char *const opt_names[] = {"tasks",      "workers",    "seconds", "seed",
                                        "submitters", "cancellers", "watchdog"};

static void parse(struct config *c, int argc, char **argv)
{
    for (size_t i = 0; i < sizeof opt_names / sizeof *opt_names; i++) {
        char env[64], *v;
        snprintf(env, sizeof env, "CREW_STRESS_%s", opt_names[i]);
        for (char *p = env; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
        if ((v = getenv(env)) && !set_opt(c, opt_names[i], v)) {
            fprintf(stderr, "crew-stress: bad %s=%s\n", env, v);
            exit(2);
        }
    }
    for (int i = 1; i < argc; i++) {
        char name[32];
        const char *a = argv[i], *val, *eq;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (strncmp(a, "--", 2) != 0) {
            usage(stderr);
            exit(2);
        }
        a += 2;
        eq = strchr(a, '=');
        if (eq) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
            val = i + 1 < argc ? argv[++i] : NULL;
        }
        if (!set_opt(c, name, val)) {
            fprintf(stderr, "crew-stress: bad option --%s %s\n", name, val ? val : "(missing)");
            usage(stderr);
            exit(2);
        }
    }
    if (!c->seed_set) {
        uint64_t s = 0;
        if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s)
            s = (uint64_t)now_ns();
        c->seed = s;
    }
}

int main(int argc, char **argv)
{
    struct config *c = &S.cfg;
    pthread_condattr_t ca;
    pthread_t wd;
    int64_t t0, t1;
    uint64_t round = 0;

    *c = (struct config){
        .tasks = 100000, .workers = 4, .submitters = 2, .cancellers = 2, .watchdog_s = 10};
    parse(c, argc, argv);
    oracle_set_report(oracle_report);
    printf("crew-stress: seed=%" PRIu64 " tasks=%" PRIu64 " workers=%u "
           "submitters=%u cancellers=%u seconds=%g\n",
           c->seed, c->tasks, c->workers, c->submitters, c->cancellers, c->seconds);
    fflush(stdout);

    S.recs = calloc(c->tasks, sizeof *S.recs);
    S.gens = calloc(MAX_GENS, sizeof *S.gens);
    if (!S.recs || !S.gens) {
        fprintf(stderr, "crew-stress: cannot allocate %" PRIu64 " records\n", c->tasks);
        return 1;
    }
    pthread_mutex_init(&S.mu, NULL);
    pthread_cond_init(&S.cv, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wd_cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_store(&wd_phase, "start");
    pthread_create(&wd, NULL, watchdog, NULL);

    t0 = now_ns();
    S.deadline_ns = c->seconds > 0 ? t0 + (int64_t)(c->seconds * 1e9) : 0;
    do {
        run_round(round++);
    } while (S.deadline_ns && !time_up() && !atomic_load(&violations));
    t1 = now_ns();

    pthread_mutex_lock(&wd_mu);
    wd_stop = true;
    pthread_cond_signal(&wd_cv);
    pthread_mutex_unlock(&wd_mu);
    pthread_join(wd, NULL);

    printf(
        "crew-stress: %s tasks=%" PRIu64 " seed=%" PRIu64 " seconds=%.2f "
        "rounds=%" PRIu64 " done=%" PRIu64 " failed=%" PRIu64 " cancelled=%" PRIu64
        " (removed=%" PRIu64 " running=%" PRIu64 ") cancel-calls: removed=%" PRIu64
        " requested=%" PRIu64 " too_late=%" PRIu64 " enotask=%" PRIu64 " (on released IDs: %" PRIu64
        " outcomes) groups=%" PRIu64 " group-cancels=%" PRIu64 " (member starts after: %" PRIu64 ")"
        " waits=%" PRIu64 " timeouts=%" PRIu64 " stale-probes=%" PRIu64 " violations=%" PRIu64 "\n",
        atomic_load(&violations) ? "FAIL" : "OK", atomic_load(&T.tasks), c->seed,
        (double)(t1 - t0) / 1e9, atomic_load(&T.rounds), atomic_load(&T.done),
        atomic_load(&T.failed), atomic_load(&T.cancelled), atomic_load(&T.removed),
        atomic_load(&T.cancelled_running), atomic_load(&T.c_removed), atomic_load(&T.c_requested),
        atomic_load(&T.c_too_late), atomic_load(&T.c_enotask), atomic_load(&T.c_released),
        atomic_load(&T.groups), atomic_load(&T.group_cancels), atomic_load(&T.late_group_starts),
        atomic_load(&T.waits), atomic_load(&T.timeouts), atomic_load(&T.stale_probes),
        atomic_load(&violations));
    free(S.recs);
    free(S.gens);
    return atomic_load(&violations) ? 1 : 0;
}
