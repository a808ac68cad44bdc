/*
 * task.h - the task record and its state word: the bit layout, the diagram,
 * which bit guards which field, and every transition of the word, each
 * written once here as a small inline function with a named result. No
 * other file touches a T_* bit (task.c prints records for crew__dump).
 *
 * State word (32 bits, one atomic):
 *
 *   bit  0-2  phase: QUEUED 0, RUNNING 1, DONE 2, FAILED 3, CANCELLED 4,
 *             ACTOR_DEAD 5, FREE 6 (on a free list), REMOVING 7
 *   bit  3    REQ       cancel requested while RUNNING (sticky)
 *   bit  4    WAITERS   a thread sleeps on this word (futex) or helps
 *   bit  5    RELEASED  the user's handle is gone (detached from birth)
 *   bit  6    INQUEUE   a deque/inbox/mailbox/injection slot points here
 *   bit  7    BATCH     a carrier of batch tasks (owner is its
 *                       crew__carrier_t): kept from publish until the
 *                       record is FREE again
 *   bit  8    SEEN      the incarnation's ID may be known outside its
 *                       runner: set by every pin (sticky) and by
 *                       crew_self() on a carrier's task; a new
 *                       incarnation starts without it
 *   bit  9-31 refs      temporary references (pins) from ID lookups
 *
 * Transitions (every one a CAS or RMW on the whole word):
 *
 *          publish (INQUEUE)                born cancelled
 *                 |                      (parent, group, shutdown)
 *                 v                                |
 *              QUEUED --try_remove (CAS)--> REMOVING --end_removed--> CANCELLED
 *                 |   (canceller won)                                  ^  (or
 *  try_start: CAS |                                                    | ACTOR_DEAD)
 *  (clears INQUEUE)                                                    |
 *                 v                                                    |
 *              RUNNING --set_req / note_req (sticky REQ)               |
 *                 |                                                    |
 *       finish (terminal CAS, after the body and cleanup):             |
 *                 +--REQ, or cancelled through an ancestor/group------>+
 *                 +--rc == 0--> DONE
 *                 +--rc != 0--> FAILED
 *
 *  Independent of the phase: pin/unpin (refs), release (RELEASED),
 *  arm_waiters (WAITERS, until terminal), drop_queue (INQUEUE off once the
 *  queue slot that still pointed at a removed record is consumed).
 *
 *  A carrier runs its tasks one after another as successive incarnations
 *  of one record (harness.c, "Batch carriers"): its runner holds a pin
 *  from start to its last task, so no incarnation's terminal word is
 *  freeable, and between two tasks it moves
 *     terminal, refs == 1 (only its pin) --reborn_begin (CAS)--> FREE + 1 ref
 *     --new ID, fields--> run_next --> RUNNING + 1 ref
 *  or, folding the first step into the terminal CAS (finish_reborn),
 *     RUNNING, refs == 1 --> FREE + 1 ref (the task's status is the
 *     runner's to report; nobody could have read the terminal word)
 *  FREE refuses pins, so no lookup validates the old ID against the new
 *  incarnation; FREE with a ref and BATCH exists only in that step.
 *  A task that ended DONE while the word is exactly RUNNING + BATCH +
 *  RELEASED + 1 ref (no SEEN, REQ, WAITERS or other pin) needs neither:
 *  nobody outside its runner can know its ID, so the next task takes the
 *  incarnation over unchanged, with no store to the word (quiet_next).
 *  The runner's load and every pin are seq_cst: a pin that comes before
 *  the load in their single order is seen (SEEN is sticky, so a pin
 *  already dropped counts too); one that comes after it pins the next
 *  task, and reads nothing that differs between the two (the ID, fn,
 *  group and word are the same; arg is read only by the runner).
 *
 *  terminal + RELEASED + !INQUEUE + refs == 0 == "freeable": the party
 *  whose RMW produced that word frees the record (harness.c), exactly once;
 *  every transition below that can produce it says so in its result.
 *  Pins are refused on a freeable or FREE record, so nobody revives it.
 *
 * Which bit guards which field:
 *  - fn, arg, cleanup, parent, group, group_id, owner, flags (at birth):
 *    written before publish (release), then read-only.
 *  - cause, cancel_code, reason: written only under the cancellation-set
 *    mutex, before the CAS that sets REMOVING or an inherited CANCELLED,
 *    and for REQ before the ID enters the set (a body that finds its ID
 *    sets REQ itself); read only after an acquire load that sees one of
 *    those.
 *  - result: written by the finisher before its terminal CAS (release); read
 *    after an acquire load that sees a terminal phase.
 *  - spawned, joined_self: written only by the thread running this task's
 *    body (relaxed single-writer atomics); read by whoever frees the record
 *    (after the terminal CAS) and, as a hint, by a canceller deciding
 *    whether the task has queued descendants to remove.
 *  - kids_done: atomic; children freed by other threads count here.
 *  - adopted: atomic; a thief counts each of this task's forks it turns
 *    into a record (a child the body's thread did not count in spawned).
 *  - next: owned by whichever queue or free list holds the record.
 */
#ifndef CREW_TASK_H
#define CREW_TASK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

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
    T_BATCH = 0x80u,
    T_SEEN = 0x100u,
    T_REF_SHIFT = 9,
    T_REF_ONE = 0x200u
};
#define T_REF_MASK 0xFFFFFE00u

/* Record flags (plain; written by the record's owner of the moment, see
 * each). Not part of the state word. */
enum {
    TF_PGROUP_REF = 0x1,     /* holds a reference on parent->group */
    TF_SCOPE = 0x2,          /* counted in ex->cancel_scopes until freed */
    TF_ACTOR = 0x4,          /* belongs to an actor's mailbox (owner) */
    TF_GROUP_REF = 0x8,      /* terminal while its handle was held: keeps its
                            group's memory alive until the record is freed */
    TF_RAN_CANCELLED = 0x10, /* cancelled through an ancestor, group or
                               shutdown while it ran (set under the set mutex) */
    TF_FRAME = 0x20,         /* a stolen fork: owner is its frame (fdeque.h), which
                       hears its terminal status; no ID is ever shown */
    TF_LIMITED = 0x40,       /* holds a slot of its executor's bound (its actor's,
                                with TF_ACTOR) until it starts or is removed */
    TF_GLIMITED = 0x80       /* holds a slot of its group's bound, likewise */
};

struct crew_group;

typedef struct crew__task {
    _Atomic uint32_t state;
    uint16_t home;       /* pool: owning cache index, or CREW__HOME_SHARED */
    uint8_t cause;       /* crew_cancel_cause_t; guarded, see above */
    uint8_t flags;       /* TF_* */
    _Atomic uint64_t id; /* generation << CREW_SLOT_BITS | slot */
    crew_fn fn;
    void *arg;
    crew_cleanup_fn cleanup;
    struct crew__task *parent;
    struct crew_group *group;
    struct crew__task *next;
    _Atomic uint32_t spawned;     /* children created by this task's body */
    _Atomic uint32_t joined_self; /* of those, freed by this task's own thread */
    _Atomic int32_t kids_done;    /* freed by other threads (harness.c) */
    int32_t result;
    int32_t cancel_code;
    _Atomic uint32_t adopted; /* stolen forks promoted to records (thieves) */
    void *owner;              /* actor (TF_ACTOR), frame (TF_FRAME) or carrier (T_BATCH) */
    crew_id_t group_id;       /* kept: the group may be gone before release */
    char reason[CREW_REASON_MAX];
} crew__task_t;

_Static_assert(sizeof(crew__task_t) <= 128, "a queued task costs <= 128 bytes");
_Static_assert((int)T_QUEUED == (int)CREW_TASK_QUEUED && (int)T_RUNNING == (int)CREW_TASK_RUNNING &&
                   (int)T_DONE == (int)CREW_TASK_DONE && (int)T_FAILED == (int)CREW_TASK_FAILED &&
                   (int)T_CANCELLED == (int)CREW_TASK_CANCELLED &&
                   (int)T_ACTOR_DEAD == (int)CREW_TASK_ACTOR_DEAD,
               "phases are the public statuses");

/* A carrier: consecutive tasks of one crew_submit_batch() call from outside
 * the executor, run by one record (harness.c, "Batch carriers"). Each
 * carrier has its own cache line in its batch's block (submit.c), which is
 * listed in the executor (for sweeps) until the last record pointing into
 * it is freed. */
typedef struct crew__carrier {
    /* The next index not yet claimed: its runner claims one at a time
     * (fetch_add), a canceller everything left (exchange with n). Index 0
     * is claimed by whoever wins the record's QUEUED word. */
    CREW_ALIGNED _Atomic uint32_t next;
    uint32_t n; /* tasks in this carrier */
    /* Its tasks that ended DONE and still count in the group's pending:
     * the runner counts them here (single writer) and takes them off the
     * group in one RMW when the carrier ends; crew_group_info() subtracts
     * them (group.c). */
    _Atomic uint32_t ended;
    void *const *args;       /* their arguments (in the block) */
    struct crew__batch *blk; /* the block */
    /* With a batch deadline: the ID of this carrier's task whose own
     * deadline replaced the batch's (crew_set_deadline), else 0. Written
     * under the set mutex, before an expiry's flag or after it made that
     * task's cancel sticky (deadline.c); read after an acquire load of
     * the flag. */
    _Atomic uint64_t own_dl;
} crew__carrier_t;

typedef struct crew__batch {
    /* Records pointing into the block not yet freed, plus sweeps working
     * on it; the last one out unlinks and frees it. */
    _Atomic uint32_t refs;
    uint32_t ncar;
    size_t bytes;                    /* the allocation's size */
    struct crew__batch *prev, *next; /* ex->batches, under ex->batches_mu */
    struct crew__batch *swept;       /* a sweep's list of blocks to free */
    struct crew_group *group;        /* with a reference, until freed */
    crew_cleanup_fn cleanup;
    /* The batch's deadline, every task's own (0: none). Its timer entry
     * holds a reference on the block until it fires or the last carrier
     * ends (dl_live, counting down from ncar) and disarms it. */
    int64_t when;
    _Atomic uint32_t dl_live;
    /* The deadline passed: set once under the set mutex (release), with a
     * cancel scope counted until the block is freed; its carriers' tasks
     * are cancelled (cancel.c), those not claimed removed (harness.c). */
    _Atomic bool expired;
    crew__carrier_t car[]; /* then the arguments */
} crew__batch_t;

/* ---- reading a word (no transition) ------------------------------------ */

static inline uint32_t crew__phase(uint32_t s) { return s & T_PHASE; }

static inline bool crew__terminal(uint32_t s)
{
    uint32_t p = s & T_PHASE;
    return p >= T_DONE && p <= T_ACTOR_DEAD;
}

static inline bool crew__freeable(uint32_t s)
{
    return crew__terminal(s) && (s & T_RELEASED) && !(s & T_INQUEUE) && (s & T_REF_MASK) == 0;
}

static inline bool crew__word_req(uint32_t s) { return (s & T_REQ) != 0; }
static inline bool crew__word_batch(uint32_t s) { return (s & T_BATCH) != 0; }
static inline bool crew__word_free(uint32_t s) { return crew__phase(s) == T_FREE; }
static inline bool crew__word_queued(uint32_t s) { return crew__phase(s) == T_QUEUED; }
static inline bool crew__word_removing(uint32_t s) { return crew__phase(s) == T_REMOVING; }
static inline bool crew__word_released(uint32_t s) { return (s & T_RELEASED) != 0; }
static inline bool crew__word_waiters(uint32_t s) { return (s & T_WAITERS) != 0; }
/* Carries a cancellation cause: requested, being removed, or ended
 * CANCELLED / ACTOR_DEAD. */
static inline bool crew__word_has_cause(uint32_t s)
{
    uint32_t p = crew__phase(s);
    return (s & T_REQ) || p == T_CANCELLED || p == T_REMOVING || p == T_ACTOR_DEAD;
}

/* Public status of a word (REMOVING shows as QUEUED: not terminal yet, and
 * it will never run). */
static inline crew_status_t crew__status_of(uint32_t s)
{
    uint32_t p = s & T_PHASE;
    return p == T_REMOVING ? CREW_TASK_QUEUED : (crew_status_t)p;
}

/* acquire: pairs with every RMW that publishes fields with the word
 * (publish, the terminal CASes, REQ); callers then read those fields. */
static inline uint32_t crew__rec_load(crew__task_t *t)
{
    return atomic_load_explicit(&t->state, memory_order_acquire);
}

/* relaxed: a hint (e.g. to skip records in a sweep); decisions are taken
 * by a pin or a transition that re-reads the word. */
static inline uint32_t crew__rec_peek(crew__task_t *t)
{
    return atomic_load_explicit(&t->state, memory_order_relaxed);
}

/* ---- birth and death --------------------------------------------------- */

/* Pool: a slot's record before its first use (single-threaded). */
static inline void crew__rec_init_free(crew__task_t *t, uint64_t slot)
{
    atomic_init(&t->state, T_FREE);
    atomic_init(&t->id, slot); /* generation 0; first use makes it 1 */
    atomic_init(&t->kids_done, 0);
}

/* Pool: the record is back on a free list. */
static inline void crew__rec_set_free(crew__task_t *t)
{
    /* relaxed: we are the record's only owner; pins refuse FREE, and the
     * free list's own release/acquire hands the record to its next owner. */
    atomic_store_explicit(&t->state, T_FREE, memory_order_relaxed);
}

/* The fields every new record gets before publish (cause, cancel_code,
 * reason and result are written before they can be read, see above; next
 * belongs to the queues). Counting the child in its parent is the caller's
 * (spawned by the parent's thread, adopted by a thief). */
static inline void crew__rec_fill(crew__task_t *t, crew_fn fn, void *arg, crew_cleanup_fn cleanup,
                                  crew__task_t *parent, struct crew_group *g, crew_id_t group_id,
                                  uint8_t flags, void *owner)
{
    t->fn = fn;
    t->arg = arg;
    t->cleanup = cleanup;
    t->parent = parent;
    t->group = g;
    t->group_id = group_id;
    t->flags = flags;
    t->owner = owner;
    /* relaxed: not yet published (publish's release store orders them). */
    atomic_store_explicit(&t->spawned, 0, memory_order_relaxed);
    atomic_store_explicit(&t->joined_self, 0, memory_order_relaxed);
    atomic_store_explicit(&t->adopted, 0, memory_order_relaxed);
}

/* A fresh record, filled, becomes QUEUED in a queue (INQUEUE); detached
 * records are RELEASED from birth; a carrier (owner set) is BATCH. */
static inline void crew__rec_publish(crew__task_t *t, bool joinable, bool carrier)
{
    /* release: publishes the fields written before to lookups by ID (whose
     * acquire pin reads this store); queues publish them to workers too. */
    atomic_store_explicit(
        &t->state, T_QUEUED | T_INQUEUE | (joinable ? 0 : T_RELEASED) | (carrier ? T_BATCH : 0),
        memory_order_release);
}

/* The carrier a record runs, or NULL. s: a word of the incarnation the
 * caller holds (owner is then stable). */
static inline crew__carrier_t *crew__rec_carrier(crew__task_t *t, uint32_t s)
{
    return (s & T_BATCH) ? (crew__carrier_t *)t->owner : NULL;
}

/* A carrier's runner, between two tasks (its incarnation is terminal).
 * Succeeds (true) only while the runner's pin is the only one: the record
 * is then FREE (pins refused) and the runner's alone. */
static inline bool crew__rec_reborn_begin(crew__task_t *t)
{
    /* relaxed: validated by the CAS. */
    uint32_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
    while ((s & T_REF_MASK) == T_REF_ONE && !(s & T_WAITERS))
        /* acquire: the other pinners' accesses (their unpin's release)
         * happen before we rewrite the fields. */
        if (atomic_compare_exchange_weak_explicit(&t->state, &s,
                                                  T_FREE | T_BATCH | T_RELEASED | T_REF_ONE,
                                                  memory_order_acquire, memory_order_relaxed))
            return true;
    return false;
}

/* The terminal phase of a body that returned rc: CANCELLED with REQ (or
 * force_cancel: cancelled through an ancestor, group or shutdown), else
 * FAILED for rc != 0, else DONE. */
static inline uint32_t crew__finish_phase(uint32_t s, int rc, bool force_cancel)
{
    return ((s & T_REQ) || force_cancel) ? T_CANCELLED : rc ? T_FAILED : T_DONE;
}

/* The same step folded into the terminal CAS (a carrier whose next task
 * is claimed): RUNNING with only the runner's pin (and no waiter) goes
 * straight to FREE + 1 ref. *n gets the terminal word finish would have
 * stored (its phase is the task's status); false, with *s reloaded, when
 * someone else holds a pin: the caller finishes as usual. */
static inline bool crew__rec_finish_reborn(crew__task_t *t, uint32_t *s, int rc, uint32_t *n)
{
    while ((*s & T_REF_MASK) == T_REF_ONE && !(*s & T_WAITERS)) {
        uint32_t ph = crew__finish_phase(*s, rc, false);
        /* acq_rel: as crew__rec_finish (release: the body's effects and
         * result; acquire: a canceller's REQ CAS and cause fields). */
        if (atomic_compare_exchange_weak_explicit(&t->state, s,
                                                  T_FREE | T_BATCH | T_RELEASED | T_REF_ONE,
                                                  memory_order_acq_rel, memory_order_relaxed)) {
            *n = (*s & ~T_PHASE) | ph;
            return true;
        }
    }
    return false;
}

/* ... and the next incarnation (new ID and fields written: the record
 * reborn, or a fresh one taking the carrier's next task) is RUNNING,
 * pinned by its runner. */
static inline void crew__rec_run_next(crew__task_t *t)
{
    /* release: publishes the new ID and fields to pins (acquire CAS). */
    atomic_store_explicit(&t->state, T_RUNNING | T_BATCH | T_RELEASED | T_REF_ONE,
                          memory_order_release);
}

/* A carrier's word that lets the next task take the incarnation over
 * (see the diagram): exactly RUNNING + BATCH + RELEASED + the runner's
 * pin. */
static inline bool crew__word_quiet(uint32_t s)
{
    return s == (T_RUNNING | T_BATCH | T_RELEASED | T_REF_ONE);
}

/* A carrier's runner, its task ended DONE: may the next task take this
 * incarnation over as it is? */
static inline bool crew__rec_quiet_next(crew__task_t *t)
{
    /* seq_cst: pairs with the pins' seq_cst CAS (their single order
     * decides which task a pin reaches, see above); a plain load on x86. */
    return crew__word_quiet(atomic_load_explicit(&t->state, memory_order_seq_cst));
}

/* The running task's own ID leaves its runner (crew_self()): a carrier's
 * incarnation then ends the usual way. Called on the runner's thread. */
static inline void crew__rec_show(crew__task_t *t)
{
    /* relaxed probe: our own record. */
    uint32_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
    if ((s & (T_BATCH | T_SEEN)) == T_BATCH)
        /* relaxed: read back by this thread's quiet_next (program order);
         * nobody else reads SEEN. */
        atomic_fetch_or_explicit(&t->state, T_SEEN, memory_order_relaxed);
}

/* ---- pins ---------------------------------------------------------------- */

/* Take a temporary reference, refused (false) when the record is FREE,
 * freeable, or RELEASED (unless allow_released). The caller then checks
 * that t->id is the incarnation it wanted, and unpins if not. The pin
 * leaves SEEN on the word (the pinner may learn the ID). */
static inline bool crew__rec_pin(crew__task_t *t, bool allow_released)
{
    /* relaxed: validated by the CAS below. */
    uint32_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
    do {
        if (crew__word_free(s) || crew__freeable(s))
            return false; /* nobody may revive a record being freed */
        if (!allow_released && (s & T_RELEASED))
            return false;
        /* seq_cst: acquire pairs with publish (and the RMWs after it), so
         * the fields and `id` read next are those of the incarnation
         * pinned; seq_cst orders it with a runner's quiet_next. */
    } while (!atomic_compare_exchange_weak_explicit(&t->state, &s, (s + T_REF_ONE) | T_SEEN,
                                                    memory_order_seq_cst, memory_order_relaxed));
    return true;
}

/* Pin a record something else already keeps alive (a queue pointer, a
 * runner's own pin): no validation needed. */
static inline void crew__rec_pin_held(crew__task_t *t)
{
    /* relaxed: the RMW that drops what keeps t alive now happens after this
     * one in the word's modification order and sees our reference. */
    atomic_fetch_add_explicit(&t->state, T_REF_ONE, memory_order_relaxed);
}

/* Drop a pin. true: the record became freeable: the caller frees it. */
static inline bool crew__rec_unpin(crew__task_t *t)
{
    /* acq_rel: release our reads of the record to whoever frees it; acquire
     * their writes if we are the one freeing. */
    uint32_t old = atomic_fetch_sub_explicit(&t->state, T_REF_ONE, memory_order_acq_rel);
    return crew__freeable(old - T_REF_ONE);
}

/* ---- the handle ------------------------------------------------------------ */

typedef enum { CREW__REL_KEPT, CREW__REL_FREE, CREW__REL_ALREADY } crew__rel_t;

/* Give up the user's handle. *old (optional): the word before. */
static inline crew__rel_t crew__rec_release(crew__task_t *t, uint32_t *old)
{
    /* acq_rel: as in unpin. */
    uint32_t s = atomic_fetch_or_explicit(&t->state, T_RELEASED, memory_order_acq_rel);
    if (old)
        *old = s;
    if (s & T_RELEASED)
        return CREW__REL_ALREADY;
    return crew__freeable(s | T_RELEASED) ? CREW__REL_FREE : CREW__REL_KEPT;
}

/* ---- start, remove, request ------------------------------------------------ */

typedef enum { CREW__START_OK, CREW__START_NOT_QUEUED, CREW__START_RETRY } crew__start_t;

/* The popper's side of step 1 of the cancel-vs-start protocol (harness.c):
 * QUEUED -> RUNNING, clearing INQUEUE. *s is the word last seen (acquire);
 * on RETRY it was reloaded and the caller re-examines it. */
static inline crew__start_t crew__rec_try_start(crew__task_t *t, uint32_t *s)
{
    if (crew__phase(*s) != T_QUEUED)
        return CREW__START_NOT_QUEUED;
    /* acquire: we read fn/arg next; pairs with publish. On failure *s is
     * reloaded (acquire). */
    if (atomic_compare_exchange_weak_explicit(&t->state, s,
                                              (*s & ~(T_PHASE | T_INQUEUE)) | T_RUNNING,
                                              memory_order_acquire, memory_order_acquire))
        return CREW__START_OK;
    return CREW__START_RETRY;
}

/* The canceller's side of step 1: QUEUED -> REMOVING (with holds_queue, the
 * caller is the queue that pointed here and INQUEUE goes too). The cause
 * fields were written before, under the set mutex. true: we won; false: *s
 * was reloaded (it may have left QUEUED). */
static inline bool crew__rec_try_remove(crew__task_t *t, uint32_t *s, bool holds_queue)
{
    uint32_t clear = T_PHASE | (holds_queue ? T_INQUEUE : 0);
    if (crew__phase(*s) != T_QUEUED)
        return false;
    /* acq_rel: the single winner against try_start; release publishes the
     * cause fields; acquire on failure to re-read them. */
    return atomic_compare_exchange_weak_explicit(&t->state, s, (*s & ~clear) | T_REMOVING,
                                                 memory_order_acq_rel, memory_order_acquire);
}

/* A removed record's queue slot is consumed: INQUEUE off. true: freeable,
 * the caller frees it. */
static inline bool crew__rec_drop_queue(crew__task_t *t)
{
    /* acq_rel: release our reads, acquire the remover's writes if we free. */
    uint32_t old = atomic_fetch_and_explicit(&t->state, ~(uint32_t)T_INQUEUE, memory_order_acq_rel);
    return crew__freeable(old & ~(uint32_t)T_INQUEUE);
}

typedef enum {
    CREW__REQ_SET,
    CREW__REQ_ALREADY,
    CREW__REQ_NOT_RUNNING,
    CREW__REQ_RETRY
} crew__req_t;

/* Step 2 of the cancel protocol: RUNNING -> RUNNING|REQ. *s as in
 * try_start. */
static inline crew__req_t crew__rec_set_req(crew__task_t *t, uint32_t *s)
{
    if (crew__phase(*s) != T_RUNNING)
        return CREW__REQ_NOT_RUNNING;
    if (*s & T_REQ)
        return CREW__REQ_ALREADY;
    /* acq_rel: publishes the cause fields with REQ; acquire on failure. */
    if (atomic_compare_exchange_weak_explicit(&t->state, s, *s | T_REQ, memory_order_acq_rel,
                                              memory_order_acquire))
        return CREW__REQ_SET;
    return CREW__REQ_RETRY;
}

/* Step 3: the body's own check found its ID in the set; it sets REQ itself
 * so it ends CANCELLED even before the canceller's set_req. */
static inline void crew__rec_note_req(crew__task_t *t)
{
    /* relaxed probe: our own record; skip the RMW when already set. */
    if (!(atomic_load_explicit(&t->state, memory_order_relaxed) & T_REQ))
        /* acq_rel: ordered before this thread's terminal CAS; pairs with
         * the canceller's acquire reload of the word. */
        atomic_fetch_or_explicit(&t->state, T_REQ, memory_order_acq_rel);
}

/* ---- terminal ---------------------------------------------------------------- */

/* REMOVING -> phase (CANCELLED or ACTOR_DEAD), after the cleanup. *s: the
 * word last seen (relaxed is fine: validated); on return, the old word.
 * Returns the new word. */
static inline uint32_t crew__rec_end_removed(crew__task_t *t, uint32_t *s, crew_status_t phase)
{
    uint32_t n;
    do
        n = (*s & ~T_PHASE) | (uint32_t)phase;
    /* acq_rel: release publishes the cleanup's effects and the cause to
     * waiters; acquire so that if we free the record we see every earlier
     * write. */
    while (!atomic_compare_exchange_weak_explicit(&t->state, s, n, memory_order_acq_rel,
                                                  memory_order_relaxed));
    return n;
}

/* The body returned rc: RUNNING -> DONE / FAILED / CANCELLED (REQ, or
 * force_cancel: cancelled through an ancestor, group or shutdown), plus
 * RELEASED when the joining thread ran the body itself. *s as above;
 * returns the new word. */
static inline uint32_t crew__rec_finish(crew__task_t *t, uint32_t *s, int rc, bool force_cancel,
                                        bool release)
{
    uint32_t n;
    do {
        uint32_t ph = crew__finish_phase(*s, rc, force_cancel);
        n = (*s & ~T_PHASE) | ph | (release ? T_RELEASED : 0);
        /* acq_rel: release publishes result and the body's effects to
         * waiters; acquire pairs with a canceller's REQ CAS (its cause
         * fields) and with whoever else touched the word. */
    } while (!atomic_compare_exchange_weak_explicit(&t->state, s, n, memory_order_acq_rel,
                                                    memory_order_relaxed));
    return n;
}

/* ---- waiters -------------------------------------------------------------------- */

/* Announce a waiter (WAITERS), unless terminal. true: armed (or already
 * armed); false: terminal (*s holds it, acquire). */
static inline bool crew__rec_arm_waiters(crew__task_t *t, uint32_t *s)
{
    while (!crew__terminal(*s)) {
        if (*s & T_WAITERS)
            return true;
        /* seq_cst on success: the finisher's CAS reads WAITERS and then
         * wakes (futex, or the park protocol's fence for helping waiters);
         * acquire on failure: reload and re-check. */
        if (atomic_compare_exchange_weak_explicit(&t->state, s, *s | T_WAITERS,
                                                  memory_order_seq_cst, memory_order_acquire)) {
            *s |= T_WAITERS;
            return true;
        }
    }
    return false;
}

/* ---- children (not the state word; see "Which bit guards which field") -- */

static inline void crew__rec_bump(_Atomic uint32_t *c)
{
    /* relaxed: single writer (the body's thread); readers want a recent
     * value or read after the terminal CAS. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* The body of `parent` created a child / freed one of its children itself. */
static inline void crew__rec_child_born(crew__task_t *parent) { crew__rec_bump(&parent->spawned); }
static inline void crew__rec_child_joined(crew__task_t *parent)
{
    crew__rec_bump(&parent->joined_self);
}

/* Children not freed by the parent's own thread: the parent/child
 * protocol's pending count (harness.c). Exact for the body's thread and
 * for whoever frees the record. */
static inline uint32_t crew__rec_children_unjoined(crew__task_t *t)
{
    /* relaxed: see above; adopted is read by the body's thread after the
     * acquire that saw the stolen fork DONE, so it is exact then. */
    return atomic_load_explicit(&t->spawned, memory_order_relaxed) -
           atomic_load_explicit(&t->joined_self, memory_order_relaxed) +
           atomic_load_explicit(&t->adopted, memory_order_relaxed);
}

/* Children (and so possibly descendants) still alive: exact on the body's
 * thread; from another thread a hint, exact for every child whose spawn
 * happens before the call. */
static inline bool crew__rec_has_live_children(crew__task_t *t)
{
    /* relaxed: kids_done only grows while the task lives. */
    return (int32_t)(crew__rec_children_unjoined(t) -
                     (uint32_t)atomic_load_explicit(&t->kids_done, memory_order_relaxed)) > 0;
}

/* One line describing the record, for crew__dump (task.c). */
void crew__rec_dump(crew__task_t *t, FILE *out);

#endif
