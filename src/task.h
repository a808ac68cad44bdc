/*
 * task.h - the task record and its state word. This file and task.c are the
 * only code that changes the state word; everything else asks them.
 *
 * State word (32 bits, one atomic):
 *
 *   bit  0-2  phase: QUEUED 0, RUNNING 1, DONE 2, FAILED 3, CANCELLED 4,
 *             ACTOR_DEAD 5, FREE 6 (on a free list), REMOVING 7
 *   bit  3    REQ       cancel requested while RUNNING (sticky)
 *   bit  4    WAITERS   a thread sleeps on this word (futex) or helps
 *   bit  5    RELEASED  the user's handle is gone (detached from birth)
 *   bit  6    INQUEUE   a deque/inbox/injection slot still points here
 *   bit  8-31 refs      temporary references from ID lookups
 *
 * Transitions (every one a CAS or RMW on the whole word):
 *
 *          spawn/submit (INQUEUE)          born cancelled
 *                 |                      (parent cancelled)
 *                 v                               |
 *              QUEUED --cancel: CAS--> REMOVING --+--cleanup--> CANCELLED
 *                 |   (canceller won)      (pop clears INQUEUE)    ^
 *    start: CAS   |                                                |
 *  (clears INQUEUE)                                                |
 *                 v                                                |
 *              RUNNING --cancel: set REQ (sticky)                  |
 *                 |                                                |
 *        body returns, cleanup, CAS:                               |
 *                 +--REQ or inherited cancel---------------------->+
 *                 +--rc == 0--> DONE
 *                 +--rc != 0--> FAILED
 *
 *  terminal (DONE/FAILED/CANCELLED/ACTOR_DEAD) + RELEASED + !INQUEUE +
 *  refs == 0  ==  "freeable": the party whose RMW produced it frees the
 *  record (task.c: crew__task_free), exactly once. Lookups refuse to take a
 *  reference on a freeable or FREE record, so nobody can revive it.
 *
 * Which bit guards which field:
 *  - fn, arg, cleanup, parent, group, group_id, flags(init): written before the record
 *    is published (deque release store / injection CAS), then read-only.
 *  - cause, cancel_code, reason: written only under the cancellation-set
 *    mutex, before the CAS that sets REMOVING or an inherited CANCELLED,
 *    and for REQ before the ID enters the set (a body that finds its ID
 *    sets REQ itself); read only after an acquire load that sees one of
 *    those.
 *  - result: written by the finisher before its terminal CAS (release); read
 *    after an acquire load that sees a terminal phase.
 *  - spawned, joined_self: only by the thread running this task's body;
 *    read by whoever frees the record (after the terminal CAS).
 *  - kids_done: atomic; children freed by other threads count here.
 *  - next: owned by whichever queue or free list holds the record.
 */
#ifndef CREW_TASK_H
#define CREW_TASK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "crew.h"
#include "platform.h"

enum {
    T_QUEUED = 0,
    T_RUNNING = 1,
    T_DONE = 2,
    T_FAILED = 3,
    T_CANCELLED = 4,
    T_ACTOR_DEAD = 5,
    T_FREE = 6,
    T_REMOVING = 7,
    T_PHASE = 0x7u,
    T_REQ = 0x8u,
    T_WAITERS = 0x10u,
    T_RELEASED = 0x20u,
    T_INQUEUE = 0x40u,
    T_REF_SHIFT = 8,
    T_REF_ONE = 0x100u
};
#define T_REF_MASK 0xFFFFFF00u

/* flags (plain; see task.h header for who writes them) */
enum {
    TF_PGROUP_REF = 0x1, /* holds a reference on parent->group */
    TF_SCOPE = 0x2,      /* counted in ex->cancel_scopes until freed */
    TF_ACTOR = 0x4,      /* belongs to an actor's mailbox */
    TF_GROUP_REF = 0x8,  /* terminal while its handle was held: keeps its
                            group's memory alive until the record is freed */
    TF_RAN_CANCELLED = 0x10 /* cancelled through an ancestor, group or
                               shutdown while it ran (set under cset.mu) */
};

struct crew;
struct crew_group;

typedef struct crew__task {
    _Atomic uint32_t state;
    uint16_t home;  /* pool: worker index, or CREW__HOME_SHARED */
    uint8_t cause;  /* crew_cancel_cause_t; guarded, see above */
    uint8_t flags;  /* TF_* */
    _Atomic uint64_t id; /* generation << CREW_SLOT_BITS | slot */
    crew_fn fn;
    void *arg;
    crew_cleanup_fn cleanup;
    struct crew__task *parent;
    struct crew_group *group;
    struct crew__task *next;
    uint32_t spawned;     /* children created by this task's body */
    uint32_t joined_self; /* of those, freed by this task's own thread */
    _Atomic int32_t kids_done; /* freed by other threads (see task.c) */
    int32_t result;
    int32_t cancel_code;
    void *owner; /* actor (TF_ACTOR) */
    crew_id_t group_id; /* kept: the group may be gone before release */
    char reason[CREW_REASON_MAX];
} crew__task_t;

_Static_assert(sizeof(crew__task_t) <= 128, "a queued task costs <= 128 bytes");

static inline uint32_t crew__phase(uint32_t s) { return s & T_PHASE; }

static inline bool crew__terminal(uint32_t s)
{
    uint32_t p = s & T_PHASE;
    return p >= T_DONE && p <= T_ACTOR_DEAD;
}

static inline bool crew__freeable(uint32_t s)
{
    return crew__terminal(s) && (s & T_RELEASED) && !(s & T_INQUEUE) &&
           (s & T_REF_MASK) == 0;
}

/* Public status of a state word (REMOVING shows as QUEUED: not terminal
 * yet, and it will never run). */
static inline crew_status_t crew__status_of(uint32_t s)
{
    uint32_t p = s & T_PHASE;
    return p == T_REMOVING ? CREW_TASK_QUEUED : (crew_status_t)p;
}

#endif
