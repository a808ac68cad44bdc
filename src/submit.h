/*
 * submit.h - creating tasks: the record fill, the born-cancelled check,
 * and scheduling (push on the calling worker's deque, or inject and wake).
 * This and harness.h/worker.h are the whole door actor.c uses.
 */
#ifndef CREW_SUBMIT_H
#define CREW_SUBMIT_H

#include <stdbool.h>

#include "cancel.h"
#include "exec.h"
#include "park.h"
#include "worker.h"

/* 0, or the error crew_submit_ex() gives for this descriptor. */
int crew__desc_check(struct crew *ex, const crew_task_desc_t *d);
/* Arm desc's deadline (the earlier of deadline and now + timeout) for the
 * task `id` before it is published. 0, CREW_ENOMEM or CREW_ETHREAD. */
int crew__desc_arm(struct crew *ex, const crew_task_desc_t *d, crew_id_t id);
/* desc's deadline: the earlier of deadline and now + timeout. */
int64_t crew__desc_when(const crew_task_desc_t *d);

/* A free record for the calling thread (w: its worker or NULL), or NULL
 * (out of memory); give back an unused one with crew__task_unused(). */
static inline crew__task_t *crew__task_new(struct crew *ex, crew__worker_t *w)
{
    return crew__pool_alloc(&ex->pool, crew__cache_of(w));
}
void crew__task_unused(struct crew *ex, crew__task_t *t);

/* tflags bit for crew__submit_prepare: the record is a batch carrier
 * (owner: its crew__carrier_t), counted as its n tasks. */
#define CREW__SUB_CARRIER 0x100u

/* Fill a fresh record as a submission with desc (and arg) from `parent`
 * (NULL: none) would, count it created, and publish it QUEUED. owner: an
 * actor (NULL for plain tasks), or a carrier with CREW__SUB_CARRIER.
 * group_counted: the caller already added it to its group. tflags:
 * TF_LIMITED / TF_GLIMITED for the bounds' slots it holds (set before it
 * is published), CREW__SUB_CARRIER. Returns true if it is born
 * cancelled: then *born says why and the caller must call
 * crew__task_born_cancelled() instead of scheduling it. */
bool crew__submit_prepare(struct crew *ex, crew__worker_t *w, crew__task_t *t, crew__task_t *parent,
                          const crew_task_desc_t *d, void *arg, bool joinable, bool group_counted,
                          void *owner, unsigned tflags, crew__cause_t *born);

/* Backpressure: take the slots a submission from outside the executor
 * needs in the executor's bound (or actor `al`'s) and in group g's, as
 * desc's flags (or the executor's policy) say when full: wait (for the
 * executor's full_timeout; a task of another executor stops waiting when
 * it is cancelled), fail, or CREW_EFULL with *run_here for caller-runs.
 * *tflags gets the TF_* bits for the slots taken. 0 or an error; nothing
 * is held on error. A worker of ex never waits (tflags 0). */
int crew__admit(struct crew *ex, const crew_task_desc_t *d, crew_group_t *g, crew__limit_t *al,
                unsigned *tflags, bool *run_here);
/* Finish a born-cancelled record (never queued): CANCELLED, cleanup run. */
void crew__task_born_cancelled(struct crew *ex, crew__task_t *t, const crew__cause_t *born);

/* Make a published record runnable: on the calling worker's deque (w, and
 * not inject), else through the injection queue; then wake a worker if one
 * sleeps. */
static inline void crew__schedule(struct crew *ex, crew__worker_t *w, crew__task_t *t, bool inject)
{
    if (w && !inject) {
        if (CREW_UNLIKELY(!crew__deque_push(&w->dq, t))) {
            crew__inbox_append(w, t); /* the ring could not grow */
            return;
        }
        /* Owner push: the relaxed variant of step b (park.c, "owner
         * pushes"): no fence on the spawn hot path. */
        if (crew__park_has_sleepers(&ex->park))
            crew__park_notify_one(&ex->park);
        return;
    }
    crew__inject_push(&ex->inject, t, t);
    crew__park_notify_one(&ex->park);
}

#endif
