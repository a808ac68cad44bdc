/*
 * internal.h - the executor, worker and group structures, and the calls the
 * modules make into each other. Each module's boundary:
 *   deque.c   moves pointers between owner and thieves
 *   inject.c  external submission queue
 *   park.c    the only code that blocks a worker
 *   pool.c    task records: slabs, per-worker free lists, ID -> record
 *   task.c    the only code that changes a task's state word
 *   cancel.c  the cancellation set and the cooperative check
 *   group.c   groups
 *   worker.c  the policy for finding work, running it and helping waits
 *   executor.c lifecycle and the public submit/wait/inspect calls
 */
#ifndef CREW_INTERNAL_H
#define CREW_INTERNAL_H

#include <ck_epoch.h>
#include <ck_hs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "crew.h"
#include "deque.h"
#include "inject.h"
#include "park.h"
#include "platform.h"
#include "task.h"

#define CREW__MAGIC 0x63726577u       /* "crew" */
#define CREW__GROUP_MAGIC 0x67727075u /* "grpu" */
#define CREW__HOME_SHARED 0xFFFFu

/* Counters. Each worker has its own set (single writer: relaxed load +
 * store, no RMW); threads outside the executor use the shared set with
 * fetch_add. Readers sum them. */
typedef struct crew__counters {
    _Atomic uint64_t created, done, failed, cancelled, removed,
        cancelled_running, late_cancels, steals, parks, rec_alloc, rec_free,
        dequeued; /* queue slots consumed (created tasks each take one) */
} crew__counters_t;

typedef struct crew__worker {
    crew__deque_t dq; /* top and bottom on their own cache lines */
    /* Owner-private, hot. */
    CREW_ALIGNED struct crew *ex;
    unsigned index;
    uint64_t rng;
    crew__task_t *free_list; /* records whose home is this worker */
    crew__task_t *inbox;     /* private FIFO overflow from the injection
                                queue when the deque cannot grow */
    crew__task_t *inbox_tail;
    ck_epoch_record_t *epoch_rec; /* reader record for the cancel set */
    pthread_t thread;
    bool started;
    crew__task_t *remote_batch; /* records to give back to the shared pool */
    crew__task_t *remote_batch_tail;
    unsigned remote_batch_n;
    crew__counters_t c;
    /* Written by other threads: records freed elsewhere come home here. */
    CREW_ALIGNED _Atomic(crew__task_t *) remote_free;
} crew__worker_t;

_Static_assert(offsetof(crew__worker_t, ex) % CREW_CACHE_LINE == 0,
               "owner fields start a cache line");
_Static_assert(offsetof(crew__worker_t, remote_free) % CREW_CACHE_LINE == 0,
               "remote_free on its own cache line");

typedef struct crew__pool {
    pthread_mutex_t mu;       /* guards slabs growth and free_list */
    crew__task_t **dir;       /* slab directory: slot >> SLAB_LOG2 */
    _Atomic uint32_t nslabs; /* slabs published; dir[i] set before */
    uint32_t dir_cap;
    crew__task_t *free_list;  /* under mu */
    CREW_ALIGNED _Atomic(crew__task_t *) shared_free; /* lock-free pushes */
} crew__pool_t;

typedef struct crew__cset {
    pthread_mutex_t mu; /* the single writer lock; also guards reason text */
    ck_hs_t hs;
    ck_epoch_t epoch;
    ck_epoch_record_t *writer;
    _Atomic uint64_t size;
} crew__cset_t;

enum { EX_RUNNING = 0, EX_DRAIN = 1, EX_CANCEL = 2 };

struct crew {
    uint32_t magic;
    unsigned nworkers;
    unsigned spin;
    unsigned flags;
    uint64_t uid;
    crew__worker_t *workers;
    crew__inject_t inject;
    crew__park_t park;
    crew__pool_t pool;
    crew__cset_t cset;
    /* Number of live cancellation sources (requested tasks, cancelled
     * groups, cancel shutdown). Zero makes the check a single load. */
    CREW_ALIGNED _Atomic uint32_t cancel_scopes;
    _Atomic int mode;          /* EX_* */
    _Atomic bool stop;         /* workers exit */
    _Atomic uint32_t quiesce;  /* futex: bumped when a worker goes idle */
    _Atomic uint32_t quiesce_waiters;
    _Atomic uint64_t group_seq;
    _Atomic uint32_t live_groups;
    _Atomic uint32_t live_actors;
    crew__counters_t shared; /* for non-worker threads */
    pthread_mutex_t actors_mu;  /* guards `actors` (actor.c) */
    struct crew_actor *actors;  /* actor structures not yet freed */
};

struct crew_group {
    uint32_t magic;
    unsigned flags;
    struct crew *ex;
    crew_id_t id;
    struct crew_group *parent;
    CREW_ALIGNED _Atomic uint32_t pending; /* live members; futex word */
    _Atomic uint32_t waiters;
    _Atomic int32_t refs; /* handle + (pending > 0) + nested + cross refs */
    _Atomic uint32_t nested; /* live nested groups */
    _Atomic bool cancelled;
    int cancel_code;               /* under cset.mu, before `cancelled` */
    char reason[CREW_REASON_MAX];  /* likewise */
    _Atomic uint64_t first_failure;
    _Atomic int first_failure_result;
    _Atomic int first_bad; /* first non-DONE status, 0 if none */
    /* Rare-path counters; `done` is derived (submitted - live - others). */
    _Atomic uint64_t failed, cancelled_n, removed, cancelled_running,
        late_cancels;
    /* Written by submitters only, away from `pending`, which workers
     * write too: a submitter's increments stay in its own cache. */
    CREW_ALIGNED _Atomic uint64_t submitted;
};

/* Thread-local context. */
/* initial-exec: a direct %fs-relative access instead of a __tls_get_addr
 * call in the shared library; crew's TLS is two pointers, well within the
 * static TLS surplus glibc keeps for libraries loaded with dlopen. */
#define CREW_TLS _Thread_local __attribute__((tls_model("initial-exec")))
extern CREW_TLS crew__worker_t *crew__tls_worker;
extern CREW_TLS crew__task_t *crew__tls_task;
/* &ex->cancel_scopes on a worker thread of ex, NULL elsewhere: the whole
 * fast path of crew_cancelled() is this load and the one it points to. */
extern CREW_TLS _Atomic uint32_t *crew__tls_scopes;

static inline crew__worker_t *crew__self_worker(struct crew *ex)
{
    crew__worker_t *w = crew__tls_worker;
    return (w && w->ex == ex) ? w : NULL;
}

/* Add n to counter field f of the calling thread's set. */
#define CREW__COUNT(ex, w, f, n)                                               \
    do {                                                                       \
        if (w) /* relaxed: single writer; readers want a recent value */      \
            atomic_store_explicit(                                             \
                &(w)->c.f,                                                     \
                atomic_load_explicit(&(w)->c.f, memory_order_relaxed) + (n),   \
                memory_order_relaxed);                                         \
        else /* relaxed: a statistic; quiescence reads use seq_cst fences */   \
            atomic_fetch_add_explicit(&(ex)->shared.f, (n),                    \
                                      memory_order_relaxed);                   \
    } while (0)

/* pool.c */
int crew__pool_init(struct crew *ex);
void crew__pool_destroy(struct crew *ex);
crew__task_t *crew__task_alloc_slow(struct crew *ex, crew__worker_t *w);

/* A record's next incarnation: a new ID (generation + 1), counted as
 * allocated. */
static inline void crew__task_renew(struct crew *ex, crew__worker_t *w,
                                    crew__task_t *t, uint16_t home)
{
    /* relaxed: the new ID is published with the record (release store of
     * the state word by the caller, or the queue's release). */
    uint64_t id = atomic_load_explicit(&t->id, memory_order_relaxed) +
                  ((uint64_t)1 << CREW_SLOT_BITS);
    atomic_store_explicit(&t->id, id, memory_order_relaxed);
    t->home = home;
    CREW__COUNT(ex, w, rec_alloc, 1);
}

/* A free record for the calling thread (w: its worker, or NULL outside
 * the executor), or NULL when memory is exhausted. The worker's common
 * case, a pop from its private list, is inline: it is the spawn path. */
static inline crew__task_t *crew__task_alloc(struct crew *ex, crew__worker_t *w)
{
    crew__task_t *t = w ? w->free_list : NULL;
    if (CREW_UNLIKELY(!t))
        return crew__task_alloc_slow(ex, w);
    w->free_list = t->next;
    crew__task_renew(ex, w, t, (uint16_t)w->index);
    return t;
}
void crew__task_recycle(struct crew *ex, crew__task_t *t);
void crew__flush_remote(struct crew *ex, crew__worker_t *w);
crew__task_t *crew__slot_record(struct crew *ex, crew_id_t id);
void crew__pool_drop_refs(struct crew *ex);

/* task.c */
crew__task_t *crew__task_get(struct crew *ex, crew_id_t id, bool allow_released);
void crew__task_unref(struct crew *ex, crew__task_t *t);
uint32_t crew__task_dequeued(struct crew *ex, crew__worker_t *w,
                             crew__task_t *t, bool join_release);
int crew__task_cancel(struct crew *ex, crew__task_t *t, int code,
                      const char *reason, uint8_t cause);
void crew__task_finish_removed(struct crew *ex, crew__task_t *t, uint32_t phase);
void crew__task_free(struct crew *ex, crew__task_t *t);
int crew__task_release(struct crew *ex, crew__task_t *t);
bool crew__task_wait_done(crew__task_t *t, crew_status_t *st);

/* cancel.c */
int crew__cset_init(struct crew *ex);
void crew__cset_destroy(struct crew *ex);
bool crew__cset_insert(struct crew *ex, crew_id_t id); /* under cset.mu */
void crew__cset_remove(struct crew *ex, crew_id_t id); /* under cset.mu */
int crew__cset_register(struct crew *ex, crew__worker_t *w);
bool crew__is_cancelled(struct crew *ex, crew__task_t *t, uint8_t *cause,
                        int *code, const char **reason);
bool crew__inherited_cancel(struct crew *ex, crew__task_t *t, uint8_t *cause,
                            int *code, const char **reason);
void crew__copy_reason(char *dst, const char *src);

/* group.c */
void crew__group_add(struct crew_group *g, uint32_t n);
/* After a member's terminal CAS. removed: it never ran (cancelled while
 * queued, or ACTOR_DEAD). */
void crew__group_member_done(struct crew *ex, struct crew_group *g,
                             crew_id_t id, int result, uint32_t phase,
                             bool removed);
void crew__group_done_n(struct crew *ex, struct crew_group *g, uint32_t n);
void crew__group_ref(struct crew_group *g);
void crew__group_unref(struct crew_group *g);
bool crew__group_chain_cancelled(struct crew_group *g, int *code,
                                 const char **reason);
int crew__group_cancel_locked(struct crew *ex, struct crew_group *g, int code,
                              const char *reason);

/* worker.c */
int crew__workers_start(struct crew *ex);
void crew__workers_stop(struct crew *ex);
bool crew__push_local(struct crew *ex, crew__worker_t *w, crew__task_t *t);
crew__task_t *crew__find_work(struct crew *ex, crew__worker_t *w);
bool crew__any_work(struct crew *ex);
/* done(ctx, arm): true when the wait is over; with arm, also make sure
 * that whoever ends it will wake parked workers (called just before the
 * helper parks, so a helper that never sleeps costs its target nothing). */
int crew__help_until(struct crew *ex, crew__worker_t *w,
                     bool (*done)(void *, bool), void *ctx, int64_t deadline,
                     bool stop_on_cancel);
void crew__notify_quiesce(struct crew *ex);

/* executor.c */
bool crew__valid(const struct crew *ex);
/* 0, or the error crew_submit_ex() gives for this descriptor. */
int crew__desc_check(struct crew *ex, const crew_task_desc_t *d);
uint64_t crew__live_tasks(struct crew *ex);
int crew__check_timeout(int64_t timeout_ns, int64_t *deadline);
/* For actor.c: fill a fresh record exactly as a submission from the calling
 * context would (init_task; true: born cancelled), and finish a born
 * cancelled one (born_cancelled). */
/* Why a task was born cancelled (from crew__task_init). */
typedef struct crew__cause {
    uint8_t cause;
    int code;
    const char *reason;
} crew__cause_t;
bool crew__task_init(struct crew *ex, crew__task_t *t, crew__task_t *parent,
                     const crew_task_desc_t *d, bool joinable, crew__cause_t *born);
void crew__task_born_cancelled(struct crew *ex, crew__task_t *t,
                               const crew__cause_t *born);

/* actor.c: executor lifecycle hooks. init: in crew_create, before anything
 * can fail. shutdown: at the end of crew_shutdown, once quiescent: every
 * actor is DEAD (cause SHUTDOWN) and its destructor has run. fini: in
 * free_executor: frees the actor structures still held by handles. */
void crew__actors_init(struct crew *ex);
void crew__actors_shutdown(struct crew *ex);
void crew__actors_fini(struct crew *ex);

#endif
