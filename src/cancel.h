/*
 * cancel.h - cancellation state and the check: the executor's set of
 * cancelled IDs, the walk that finds a cancellation inherited from an
 * ancestor, a group or shutdown, and crew_cancelled(). Acting on a
 * cancellation (removing queued tasks, requesting running ones) is the
 * harness's (harness.c).
 */
#ifndef CREW_CANCEL_H
#define CREW_CANCEL_H

#include <stdbool.h>
#include <stdint.h>

#include "exec.h"

/* Why a task is cancelled. reason points into the source (a group, an
 * ancestor's record), which the task keeps alive. */
typedef struct crew__cause {
    uint8_t cause; /* crew_cancel_cause_t */
    int code;
    const char *reason;
} crew__cause_t;

/* Set up / tear down the executor's set and each worker's reader record. */
int crew__cancel_init(struct crew *ex);
void crew__cancel_fini(struct crew *ex);

/* Under the set mutex: t (RUNNING, pinned) is requested: its ID enters the
 * set and a scope is counted. false: out of memory, nothing changed. */
bool crew__cancel_enter_locked(struct crew *ex, crew__task_t *t);
/* Under the set mutex: undo enter_locked (the request came too late). */
void crew__cancel_withdraw_locked(struct crew *ex, crew__task_t *t);
/* After a requested task's terminal CAS: its ID leaves the set (step 4 of
 * the cancel protocol). */
void crew__cancel_forget(struct crew *ex, crew_id_t id);

/* Is t cancelled, by any source? (own request: set lookup on a worker, the
 * REQ bit elsewhere; then the inherited walk). A hit on its own entry also
 * sets REQ (cancel protocol step 3). why may be NULL. */
bool crew__is_cancelled(struct crew *ex, crew__task_t *t, crew__cause_t *why);
/* Cancelled through an ancestor, an enclosing group, or a cancel shutdown
 * (not its own request). */
bool crew__inherited_cancel(struct crew *ex, crew__task_t *t, crew__cause_t *why);
/* t (pinned or running; s: its word) is a carried task whose batch's
 * deadline passed, and its own deadline did not replace the batch's
 * (deadline.c): *why gets cause TIMEOUT. */
bool crew__batch_expired(crew__task_t *t, uint32_t s, crew__cause_t *why);

#endif
