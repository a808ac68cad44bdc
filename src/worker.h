/*
 * worker.h - the workers: finding work, the loop, parking, and the one
 * wait used by every blocking call (help on a worker, futex elsewhere).
 */
#ifndef CREW_WORKER_H
#define CREW_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "exec.h"

int crew__workers_start(struct crew *ex);
/* Shutdown step 5: stop := true, wake everyone, join the threads. */
void crew__workers_stop(struct crew *ex);

/* The calling worker of ex (nothing on another thread) moves off its CPU
 * if another worker reported it, then reports where it runs (worker.c
 * unstack). For places that start parallel work (a parallel loop): the
 * kernel may have moved a busy worker beside a spinning one since either
 * last woke, and a spinning worker that yields to a busy one on its CPU
 * may get no time to notice. About 10 ns when not stacked. */
void crew__worker_unstack(struct crew *ex);

/* Owner only: queue t privately when the deque could not grow. */
void crew__inbox_append(crew__worker_t *w, crew__task_t *t);

/* Sync every fork above w->fd.o.forks.base (run the ones still here, wait for
 * the stolen ones, helping), adding their outcomes to w->fd.o.forks. */
void crew__fork_sync(struct crew *ex, crew__worker_t *w);

/*
 * What a wait waits for. done(ctx, arm, word, val): true when the wait is
 * over. With arm, the caller is about to sleep: done must make sure that
 * whoever ends the wait wakes it (e.g. set WAITERS) and say where a thread
 * outside the executor sleeps: on futex *word while it still holds *val.
 * Parked helpers are woken through the executor's park (notify_all), which
 * every party that ends a wait calls.
 */
typedef bool (*crew__wait_fn)(void *ctx, bool arm, _Atomic uint32_t **word, uint32_t *val);

/* Wait until done(ctx); deadline: absolute crew__now_ns() or -1. On a worker
 * of ex the caller runs other tasks meanwhile (so nested fork-join never
 * deadlocks) and parks like an idle worker when there are none.
 * stop_on_cancel: return CREW_ECANCELED as soon as the calling task is
 * cancelled. Returns 0, CREW_ETIMEDOUT or CREW_ECANCELED. */
int crew__wait_until(struct crew *ex, crew__wait_fn done, void *ctx, int64_t deadline,
                     bool stop_on_cancel);

#endif
