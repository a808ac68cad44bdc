/*
 * harness.h - what happens to a task record between birth and recycling:
 * look-up by ID (pins), run (start-vs-cancel, body, finish), the one
 * remove sequence, the cancel request, and free (the parent/child
 * protocol). Every state change goes through a task.h transition.
 */
#ifndef CREW_HARNESS_H
#define CREW_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "cancel.h"
#include "exec.h"

/* The calling task's ID (crew_self()) without marking it shown: for
 * comparing an ID the caller passed with its own. */
crew_id_t crew__self_id(void);

/* The live or unreleased record of `id`, pinned (crew__task_put drops the
 * pin), or NULL. allow_released: also a RELEASED one (a task cancelling
 * itself by crew_self()). */
crew__task_t *crew__task_get(struct crew *ex, crew_id_t id, bool allow_released);
void crew__task_put(struct crew *ex, crew__task_t *t);
/* Give up the user's handle: 0 or CREW_ENOTASK (already released). */
int crew__task_release(struct crew *ex, crew__task_t *t);
/* Free a freeable record (exactly once: the party whose transition made
 * it freeable). */
void crew__task_free(struct crew *ex, crew__task_t *t);

/* A worker took t from a queue (its deque, inbox, the injection queue, or
 * an actor's mailbox): start it and run its body with a fresh fork context
 * (forks it leaves unsynced are synced through ex->fork_sync, worker.c),
 * then finish it; or drop it if it was removed, or remove it now if an
 * ancestor, group or shutdown cancelled it. The queue slot is consumed
 * (ledger). join_release: the caller joins it and gives up the handle in
 * the terminal CAS; then the terminal status is returned (0 otherwise, and
 * 0 if it did not run here). */
crew_status_t crew__task_run(struct crew *ex, crew__worker_t *w, crew__task_t *t,
                             bool join_release);

/* A thief took frame f from another worker's fork deque: make the spare
 * record t its task (a child of the forking task, no group of its own,
 * detached, TF_FRAME), published QUEUED for crew__task_run. At its
 * terminal state the frame gets the status and DONE. */
void crew__frame_promote(struct crew *ex, crew__worker_t *w, crew__task_t *t,
                         struct crew__frame *f);

/* Remove t if it is still QUEUED: write the cause under the set mutex,
 * QUEUED -> REMOVING, then cleanup and terminal `phase` (CANCELLED or
 * ACTOR_DEAD), waiters woken, group and counters told. holds_queue: the
 * caller owns the queue pointer (a taken mailbox, a born-cancelled record
 * never queued): it is consumed either way. true if we removed it. */
bool crew__task_remove(struct crew *ex, crew__task_t *t, crew_status_t phase,
                       const crew__cause_t *why, bool holds_queue);

/* Cancel one pinned task (cancel protocol, harness.c): CREW_REMOVED,
 * CREW_REQUESTED, CREW_TOO_LATE, or CREW_ENOMEM. */
int crew__task_cancel(struct crew *ex, crew__task_t *t, int code, const char *reason,
                      uint8_t cause);

/* Eager removal: remove every QUEUED record that is now cancelled through
 * an ancestor, a group or a cancel shutdown (as a worker would when it
 * popped it), before returning. Called by whoever just made such a source
 * visible. Cost: one relaxed load per record slot (the peak number of
 * records), plus a pin and a check per queued record. Returns how many it
 * removed. */
uint64_t crew__sweep(struct crew *ex);

/* List a batch's block of carriers (fields and carriers filled, before any
 * of its records is published), so that sweeps find the tasks no runner
 * has claimed; it takes a reference on the block's group. The block is
 * unlisted and freed with its last record. */
void crew__batch_listed(struct crew *ex, crew__batch_t *b);
/* A block of at least `bytes` (a spare one, or fresh; NULL when memory is
 * short); one never listed goes back with crew__batch_unused(). */
crew__batch_t *crew__batch_alloc(struct crew *ex, size_t bytes);
void crew__batch_unused(struct crew *ex, crew__batch_t *b);
/* Drop a reference on a listed block (the last one frees it). */
void crew__batch_put(struct crew *ex, crew__batch_t *b);
/* A batch's deadline passed (the timer fired its entry, whose reference
 * this drops): its tasks are cancelled with cause TIMEOUT as a group's
 * members would be: those no runner claimed are removed (cleanups run,
 * group counts) before this returns, running ones see crew_cancelled()
 * (cancel.c), callbacks and interruptible regions are reached. */
void crew__batch_expire(struct crew *ex, crew__batch_t *b);

/* Cancel a group (idempotent): mark it, remove its queued members and
 * their queued descendants (sweep), wake helping waiters. 0 or
 * CREW_ENOMEM. */
int crew__group_cancel(struct crew *ex, struct crew_group *g, int code, const char *reason,
                       uint8_t cause);

/* Teardown, workers stopped: drop the group references that records never
 * released still hold. */
void crew__drop_group_refs(struct crew *ex);

/* Pin a record that something else keeps alive now (a queue pointer, a
 * runner's pin); crew__task_put() drops it. */
static inline void crew__task_hold(crew__task_t *t) { crew__rec_pin_held(t); }

/* t's status now (t pinned or otherwise kept alive). A record being
 * removed shows as CANCELLED here (it will be, and never runs). */
static inline crew_status_t crew__task_status(crew__task_t *t)
{
    uint32_t s = crew__rec_load(t); /* acquire: pairs with the terminal CAS */
    return crew__word_removing(s) ? CREW_TASK_CANCELLED : crew__status_of(s);
}

/* The actor that owns t, or NULL for a plain task. */
static inline void *crew__task_owner(const crew__task_t *t)
{
    return (t->flags & TF_ACTOR) ? t->owner : NULL;
}

#endif
