/*
 * timer.h - the executor's deadlines: one hierarchical timing wheel, one
 * hash from key to entry, one thread that sleeps until the next expiry.
 *
 * Why a wheel: arming and disarming are O(1) (an intrusive list insert or
 * unlink and a hash step) whatever the number of pending deadlines, and
 * the common case, a deadline that never fires because its task ended
 * first, costs only those two steps. A binary heap would make both
 * O(log n) and touch log n cache lines at a million pending entries.
 *
 * Wheel: 7 levels of 64 slots; a slot of level L spans 2^(16 + 6L) ns
 * (65.5 us, 4.2 ms, 268 ms, 17 s, 18 min, 19.5 h, 52 days). An entry sits at
 * the highest level where its expiry and the wheel's current time `cur`
 * differ, in the slot its expiry's bits name. Invariant: at every level
 * L >= 1 the slot of `cur` is empty (entries reaching it are cascaded to
 * lower levels the moment `cur` enters it). Level 0 holds entries within
 * 4.2 ms, fired exactly (expiry <= now), never early.
 *
 * Sharding: 16 wheels, a key's shard chosen by its hash (a task's by its
 * slot), each behind its own spinlock, so the submitter arming and the worker disarming at a
 * task's end rarely take the same lock.
 *
 * Thread protocol (timer.c):
 *  1. Arm, disarm and lookups hold their shard's lock; the thread holds
 *     `mu` except while it fires, and each shard's lock while it serves it.
 *     Except a task entry's disarm: one CAS of its `live` word from the
 *     task's ID to 0, without the lock (after a relaxed look that the word
 *     holds that ID at all); the thread claims a due task entry with the
 *     same CAS under the lock, so exactly one of them ends it. An arm of a
 *     task entry takes `live` back (exchange) under the lock before it
 *     changes the entry; a batch arming tasks not yet published only
 *     reads it (nothing can disarm them yet).
 *  2. The thread serves every shard (step 4), computes the next event over
 *     all of them (the earliest level-0 expiry, or the start of the first
 *     occupied higher slot, where a cascade is due), stores it in
 *     `sleep_until` (seq_cst), looks at every shard's next event once more
 *     (a shard armed meanwhile) and sleeps on `cv` (CLOCK_MONOTONIC) until
 *     then, releasing `mu`.
 *  3. An arm inserts under its shard's lock, then (seq_cst fence) reads
 *     `sleep_until`; if its expiry is earlier it signals `cv` under `mu`.
 *     The fence pairs with step 2's store and second look: either the
 *     thread sees the new entry, or the arm sees the thread's plan and
 *     wakes it (under `mu`, so not before the thread waits). Any other arm
 *     leaves the thread asleep: an idle executor with pending deadlines
 *     wakes once per expiry (plus at most one cascade wake per level above
 *     the expiry), never per tick.
 *  4. Serving a shard: due entries come off the wheel and the hash under
 *     the shard's lock; `fire` runs for each without any timer lock:
 *     firing cancels, which may take other locks and arm or disarm.
 *  5. Stop: `stopping` is set under `mu`, `cv` signalled, the thread joined;
 *     entries still pending are freed without firing.
 *  6. Poll (any thread, crew__timer_poll; tools/model/timer_poll.pml):
 *     step 4 for every shard, then fire what it took, without `mu`; then,
 *     if the thread is inside a round (`firing` odd), wait until that
 *     round ends. A caller that must see a passed deadline take effect
 *     now does the thread's work early, or waits for the thread to finish
 *     what it already took. Each entry
 *     leaves its shard under the lock (task entries by the CAS of step 1),
 *     so it fires once whoever takes it. The thread makes `firing` odd
 *     before its round's shard locks and even (release) after its fires:
 *     a poll that finds an entry gone sees the odd value or a later one.
 *     The thread may wake for an entry a poll took and find nothing due.
 */
#ifndef CREW_TIMER_H
#define CREW_TIMER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "platform.h"

#define CREW__TM_LEVELS 7
#define CREW__FAR_NS    ((int64_t)1 << 57) /* the furthest deadline accepted */
#define CREW__TM_SLOTS  64

enum {
    CREW__TM_TASK = 1,
    CREW__TM_GROUP = 2,
    CREW__TM_IRQ = 3,  /* re-kick a region */
    CREW__TM_BATCH = 4 /* a carried batch's deadline (key, obj: its block) */
};

typedef struct crew__tentry {
    int64_t when;                     /* absolute CLOCK_MONOTONIC ns */
    uint64_t key;                     /* task ID, group ID or block address */
    void *obj;                        /* group or block (holds a reference) or NULL */
    struct crew__tentry *prev, *next; /* slot list (or the free list) */
    struct crew__tentry *hnext;       /* hash chain */
    uint8_t kind;                     /* CREW__TM_* */
    uint8_t level, slot;              /* where it sits; level 0xff: due list */
    uint8_t linked;                   /* on the wheel (task entries; under the lock) */
    /* Task entries: `key` while pending; 0 once disarmed or claimed for
     * firing. The disarm at a task's end is one CAS here (key -> 0),
     * without the shard's lock; the timer claims with the same CAS before
     * it fires, so exactly one of them wins. Written key with release
     * after the entry's fields (under the lock). */
    _Atomic uint64_t live;
} crew__tentry_t;

/* Task entries are not in the hash: each task slot (the low CREW_SLOT_BITS
 * of its ID) has one entry, in chunks of CREW__TM_CHUNK found through a
 * directory, allocated at the first deadline of a slot in the chunk. A
 * disarm only marks the entry dead (O(1), one cache line): the wheel drops
 * it when it reaches it, or the slot's next arm unlinks it (or leaves it
 * linked where it is, when the new deadline falls in the same wheel slot). */
#define CREW__TM_CHUNK_LOG2 12
#define CREW__TM_CHUNK      (1u << CREW__TM_CHUNK_LOG2)

/* Called by the timer thread, without the mutex, once per expired entry. */
typedef void (*crew__timer_fire_fn)(void *ctx, uint8_t kind, uint64_t key, void *obj);

#define CREW__TM_SHARDS                                                                            \
    16 /* independent wheels: arms and disarms from many
                              threads rarely meet on one lock */

/* One wheel with its hash and its lock (a test-and-test-and-set spinlock:
 * every critical section is a few list and hash steps). */
typedef struct crew__tshard {
    CREW_ALIGNED _Atomic bool lock;
    crew__tentry_t *slot[CREW__TM_LEVELS][CREW__TM_SLOTS];
    uint64_t occupied[CREW__TM_LEVELS]; /* bit s: slot s non-empty */
    crew__tentry_t *due;                /* expiry already past when armed */
    int64_t cur;                        /* wheel time, a multiple of 2^16 ns */
    crew__tentry_t **hash;              /* key -> entry; hmask + 1 buckets */
    uint64_t hmask;
    uint64_t hcount;       /* of those, in the hash (not task entries) */
    crew__tentry_t *spare; /* free entries, reused before malloc */
    /* Statistics, per shard so that arming (a submitter) touches no line
     * a worker's disarm writes: under the lock (relaxed load + store),
     * read without it (relaxed). Task disarms are counted by their callers
     * (crew__disarm_task): pending tasks = arms - replaced - fired - those. */
    _Atomic uint64_t hpending;  /* group deadlines pending */
    _Atomic uint64_t arms;      /* task deadlines that became pending */
    _Atomic uint64_t replaced;  /* of those, overwritten by another task's */
    _Atomic uint64_t fired_t;   /* of those, claimed by the timer */
    _Atomic uint64_t set_total; /* arms and moves, ever */
    /* A task deadline was ever armed here: the hint every task end reads
     * (write-once). On a line of its own: the statistics above change with
     * every arm, and a worker reading this beside them would miss the
     * cache at each task end. */
    CREW_ALIGNED _Atomic bool had_tasks;
} crew__tshard_t;

typedef struct crew__timer {
    crew__tshard_t shard[CREW__TM_SHARDS];
    /* Task entries by slot: dir[slot >> CHUNK_LOG2] (acquire; allocated
     * under mu, published with release). */
    _Atomic(crew__tentry_t *) *dir;
    pthread_mutex_t mu; /* the thread's sleep and start/stop */
    pthread_cond_t cv;  /* CLOCK_MONOTONIC */
    /* The thread's planned wake (INT64_MAX: none); seq_cst, see step 3. */
    CREW_ALIGNED _Atomic int64_t sleep_until;
    _Atomic bool started; /* written under mu; read without it as a hint */
    bool stopping;        /* under mu */
    pthread_t thread;
    crew__timer_fire_fn fire;
    void *ctx;
    /* The thread's round (step 6): odd from before it serves the shards
     * until its fires are done (written by the thread only). */
    CREW_ALIGNED _Atomic uint64_t firing;
    /* Task and group deadlines that fired (re-kicks not counted), by the
     * thread or a poll; read by crew_stats() (relaxed). */
    CREW_ALIGNED _Atomic uint64_t fired;
} crew__timer_t;

/* Called by crew__timer_fini for each entry still pending (obj != NULL). */
typedef void (*crew__timer_drop_fn)(void *ctx, uint8_t kind, void *obj);

int crew__timer_init(crew__timer_t *tm, crew__timer_fire_fn fire, void *ctx);
void crew__timer_fini(crew__timer_t *tm, crew__timer_drop_fn drop);

/* Arm (or move) the deadline of `key`; `obj` is handed back to fire or
 * disarm. Starts the thread on first use. Returns 0, CREW_ENOMEM or
 * CREW_ETHREAD. If the key was armed, *old_obj gets the previous obj. */
int crew__timer_arm(crew__timer_t *tm, uint8_t kind, uint64_t key, void *obj, int64_t when,
                    void **old_obj);

/* Arm the deadlines of n tasks (IDs) at `when`, one lock per shard: a
 * batch submission's, for records not yet published (nothing else may arm
 * or disarm them meanwhile). All or nothing: 0, or CREW_ENOMEM /
 * CREW_ETHREAD with none armed. */
int crew__timer_arm_tasks(crew__timer_t *tm, const uint64_t *ids, size_t n, int64_t when);

/* Disarm; returns true (with *obj) if it was pending. */
bool crew__timer_disarm(crew__timer_t *tm, uint8_t kind, uint64_t key, void **obj);

/* Fire every entry due now on the calling thread (step 6). It must hold
 * no timer lock and no lock a fire may take. */
void crew__timer_poll(crew__timer_t *tm);

/* The waiting half of step 6: if the thread is inside a round, wait until
 * it fired what it took. After a lookup (under a shard lock) found an
 * entry gone, its fire has then happened. */
void crew__timer_settle(crew__timer_t *tm);

/* The pending deadline of key, or 0. */
int64_t crew__timer_get(crew__timer_t *tm, uint8_t kind, uint64_t key);

/* The shard of task `id`'s entry: its slot's low bits. */
static inline unsigned crew__timer_task_shard_index(uint64_t id)
{
    return (unsigned)(id & (CREW__TM_SHARDS - 1));
}

/* The shard of a task's entry (by slot: the slot's entry has one lock). */
static inline crew__tshard_t *crew__timer_task_shard(crew__timer_t *tm, uint64_t id)
{
    return &tm->shard[crew__timer_task_shard_index(id)];
}

/* Could task `id` have a deadline pending? A task's end asks before it
 * looks: relaxed; an arm made before the task was published is seen,
 * ordered by the publication (its store precedes the release). */
static inline bool crew__timer_task_maybe(crew__timer_t *tm, uint64_t id)
{
    return atomic_load_explicit(&crew__timer_task_shard(tm, id)->had_tasks, memory_order_relaxed);
}

/* Deadlines pending, counting task disarms as `disarmed` (the callers'
 * count), and arms ever (sums over the shards; relaxed). */
uint64_t crew__timer_pending(crew__timer_t *tm, uint64_t disarmed);
uint64_t crew__timer_set_total(crew__timer_t *tm);

#endif
