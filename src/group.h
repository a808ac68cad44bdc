/*
 * group.h - groups: membership (a live-member count that waits use),
 * lifetime (references), and the group's own cancellation state (flag,
 * code, reason; the chain to enclosing groups). Cancelling a group's
 * queued members and waiting for it are done above (harness.c, wait.c).
 */
#ifndef CREW_GROUP_H
#define CREW_GROUP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "exec.h"

struct crew_group {
    uint32_t magic;
    unsigned flags;
    struct crew *ex;
    crew_id_t id;
    struct crew_group *parent;
    struct crew_group *hprev, *hnext;      /* ex->groups, under ex->groups_mu */
    CREW_ALIGNED _Atomic uint32_t pending; /* live members; futex word */
    _Atomic uint32_t waiters;
    _Atomic int32_t refs;    /* handle + (pending > 0) + nested + cross refs */
    _Atomic uint32_t nested; /* live nested groups */
    _Atomic bool cancelled;
    int cancel_code;              /* under the set mutex, before `cancelled` */
    uint8_t cancel_cause;         /* CREW_CAUSE_GROUP or _TIMEOUT; likewise */
    char reason[CREW_REASON_MAX]; /* likewise */
    _Atomic uint64_t first_failure;
    _Atomic int first_failure_result;
    _Atomic int first_bad;   /* first non-DONE status, 0 if none */
    _Atomic uint64_t winner; /* FIRST_SUCCESS: first DONE member */
    crew__limit_t glimit;    /* queued members from outside (crew_group_set_limit) */
    /* Every FAILED member (crew_group_failures), under fail_mu. */
    pthread_mutex_t fail_mu;
    crew_group_failure_t *fails;
    size_t nfails, capfails;
    bool fails_lost; /* one could not be recorded (no memory) */
    /* Rare-path counters; `done` is derived (submitted - live - others). */
    _Atomic uint64_t failed, cancelled_n, removed, cancelled_running, late_cancels;
    /* Written by submitters only, away from `pending`, which workers
     * write too: a submitter's increments stay in its own cache. */
    CREW_ALIGNED _Atomic uint64_t submitted;
};

static inline bool crew__group_ok(const struct crew_group *g)
{
    return g && g->magic == CREW__GROUP_MAGIC;
}

void crew__group_ref(struct crew_group *g);
void crew__group_unref(struct crew_group *g);
/* n new members (before they are published). */
void crew__group_add(struct crew_group *g, uint32_t n);
/* A member reached its terminal word (phase: a crew_status_t; removed: it
 * never ran). Everything about it comes in the arguments: the caller may
 * no longer own the record. Returns FAIL_FAST for the first failure of a
 * CREW_GROUP_FAIL_FAST group, FIRST_SUCCESS for the first DONE member of a
 * CREW_GROUP_FIRST_SUCCESS group: the caller then cancels the group, and
 * calls crew__group_done. */
typedef enum { CREW__GM_NONE, CREW__GM_FAIL_FAST, CREW__GM_FIRST_SUCCESS } crew__gm_t;
crew__gm_t crew__group_member_ended(struct crew_group *g, crew_id_t id, int result,
                                    crew_status_t phase, bool removed);
/* m members were removed before they ran (a batch carrier's tasks, in one
 * go): as member_ended with CANCELLED and removed for each. */
void crew__group_removed(struct crew_group *g, uint32_t m);
/* n members are no longer live (after member_ended for each). */
void crew__group_done(struct crew *ex, struct crew_group *g, uint32_t n);
/* A cancel found the member DONE or FAILED. */
void crew__group_late_cancel(struct crew_group *g);
/* Is g or a group enclosing it cancelled? Then code and reason are set to
 * the nearest cancelled group's. */
bool crew__group_chain_cancelled(struct crew_group *g, int *code, const char **reason,
                                 uint8_t *cause);
/* Under the set mutex: mark g cancelled (its ID enters the set, a scope is
 * counted). Idempotent. 0 or CREW_ENOMEM. */
int crew__group_mark_cancelled_locked(struct crew *ex, struct crew_group *g, int code,
                                      const char *reason, uint8_t cause);
/* The executor's group handles: init in crew_create; fini in crew_destroy
 * once the workers are stopped and the records' references dropped: every
 * handle not yet destroyed is destroyed (memory freed). */
void crew__groups_init(struct crew *ex);
void crew__groups_fini(struct crew *ex);

/* Deferred member counts (protocol in group.c). done_top: a DONE member
 * of g (without FIRST_SUCCESS) ended on worker w's top level; counted in
 * w, or taken off g at once. flush: w takes what it counted off its
 * group. flush_for: flush unless w counts for g (a task of g starts). */
#define GDEF_PTR(d) ((uintptr_t)((d) & (((uint64_t)1 << 48) - 1)))
#define GDEF_N(d)   ((uint32_t)((d) >> 48))
#define GDEF_MAX    63
void crew__group_done_top(struct crew *ex, crew__worker_t *w, struct crew_group *g);
void crew__group_flush(struct crew *ex, crew__worker_t *w);
static inline void crew__group_flush_for(struct crew *ex, crew__worker_t *w, struct crew_group *g)
{
    /* relaxed: our own word. */
    uint64_t d = atomic_load_explicit(&w->gdef, memory_order_relaxed);
    if (CREW_UNLIKELY(d) && GDEF_PTR(d) != (uintptr_t)g)
        crew__group_flush(ex, w);
}

/* Waiting: begin counts a waiter (step 1), empty reads pending, end
 * uncounts; the status a completed wait reports. */
void crew__group_wait_begin(struct crew_group *g);
void crew__group_wait_end(struct crew_group *g);
bool crew__group_empty(struct crew_group *g);
crew_status_t crew__group_outcome(struct crew_group *g);

#endif
