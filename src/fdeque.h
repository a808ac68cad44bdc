/*
 * fdeque.h - the fork deque: a split work-stealing deque whose slots are the
 * frames of forked children themselves (after Lace: van Dijk and van de
 * Pol, "Lace: non-blocking split deque for work-stealing", Euro-Par 2014).
 * Knows nothing of tasks (a frame's parent is an opaque pointer); testable
 * alone.
 *
 * Slots [0, head) hold live frames. The owner's newest frames are private:
 * it pushes and pops them with plain loads and stores, no fence and no
 * atomic RMW. Thieves can only take from the shared part, which the owner
 * grows when a thief asks for it:
 *
 *      0 ...... tail ......... split ........ head
 *      | stolen |   shared     |   private    |   (tail <= split <= head)
 *
 * `ts` packs tail (low 32 bits) and split (high 32 bits) in one atomic word
 * that thieves and the owner change only by CAS, so every frame is taken
 * exactly once: by a thief whose CAS moved tail past it, or by the owner.
 *
 * Protocol (numbered steps; "CAS" is on ts):
 *  1. push (owner): read the request (a thief set `movesplit`, or the
 *     caller sees an idle worker: worker.c fork_frame), write the frame at
 *     head (not its state word), head += 1. If requested, share: clear
 *     movesplit, set the state word of every frame it shares to QUEUED
 *     (only a shared frame's state is ever read, and a reused slot may
 *     still say DONE), then CAS split up to the middle of the private part
 *     (seq_cst: publishes the frames' contents and states with it).
 *  2. steal (thief): if the shared part looks empty (has_shared), set
 *     movesplit (request) and give up. Else load ts (acquire); if tail <
 *     split, CAS tail += 1 (acq_rel); the winner owns frame `tail` and reads
 *     it only after the CAS (a value of ts can come back after step 4 and a
 *     new share: reading before the CAS could read another frame).
 *  3. take (owner, its newest frame i = head - 1):
 *     a. i >= split (private, owner's copy o_split): head = i; ours, no
 *        synchronisation at all.
 *     b. otherwise load ts; if tail > i a thief has it (STOLEN). Else CAS
 *        split down to i (tail unchanged): on success frame i is ours and
 *        [tail, i) stays shared; on failure a thief moved tail: reload, go
 *        to b. This CAS is the only atomic RMW the owner ever pays, and
 *        only for frames it shared because a thief asked.
 *  4. done with a stolen frame i (owner, after the thief marked it DONE):
 *     every frame above i was taken already and tail == split == i + 1, so
 *     no thief can CAS (the shared part is empty): store ts = {i, i}
 *     (release), head = o_split = i. Never before DONE: the slot would be
 *     reused while the thief still writes DONE into it.
 *  5. the thief marks a stolen frame DONE with an exchange (acq_rel) when
 *     the child is terminal, after writing its status and result; if the
 *     old state had WAITER it wakes the parked workers. The owner, before
 *     it parks while waiting, arms WAITER with a CAS and re-checks DONE
 *     (worker.c frame_done): one of the two RMWs on the state word sees
 *     the other, so no wake-up is lost. The owner reads the status after
 *     an acquire load of DONE.
 * Steps 1 (without a share) and 3a also run inline in the caller, in
 * crew.h's crew_fork() and crew_sync_ok(): the same plain loads and stores
 * on the same fields (struct crew__fj), so the protocol is unchanged.
 * A slot is reused only after the owner took it back (3a/3b) or saw it
 * DONE (4). tools/model/fdeque.pml checks steps 1-5 with a store buffer,
 * and rejects broken variants of each.
 * Frames never move: the array is reserved once (crew__reserve), at the
 * owner's first push, so a thief may read a frame after its CAS while the
 * owner pushes above it. The owner stores dq before any frame can be
 * shared, and a thief reads dq only after a CAS that saw a share (step 1's
 * release, step 2's acquire), so it sees the pointer. Until then cap is 0:
 * an executor whose tasks never fork maps nothing for them.
 *
 * Why 3b is safe against a thief on the same frame: both CAS the same word.
 * If the owner's CAS succeeds, tail <= i at that instant and split becomes
 * i, so no thief can ever take i; if a thief's CAS moved tail past i first,
 * the owner's CAS fails and its reload sees tail > i.
 * ABA on ts (a value seen again after the owner lowered it in step 4 and
 * shared again) is harmless: a thief whose CAS succeeds reads the frame
 * after the CAS, and that frame is shared at that instant.
 */
#ifndef CREW_FDEQUE_H
#define CREW_FDEQUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <stddef.h>

#include "crew.h"
#include "platform.h"

/* Bytes a forked child may carry in its frame (crew_fork_copy). */
#define CREW__FRAME_PAYLOAD 24

enum {
    CREW__FRAME_QUEUED = 0,
    CREW__FRAME_DONE = 2,
    CREW__FRAME_WAITER = 4 /* the owner may sleep: wake it at DONE */
};

/* A frame is crew.h's struct crew__frame (the inline crew_fork() fills
 * it); the owner's fields are crew.h's struct crew__fj, which also carries
 * what the inline paths look at (forks, hints): this module uses its
 * first four fields and keeps flim and ifloor derived from them. */
typedef struct crew__frame crew__frame_t;

_Static_assert(sizeof(crew__frame_t) == 64, "one frame, one cache line");
_Static_assert(offsetof(crew__frame_t, payload) % 8 == 0, "the payload is 8-aligned");
_Static_assert(sizeof(((crew__frame_t *)0)->payload) == CREW__FRAME_PAYLOAD, "payload size");

typedef struct crew__fdeque {
    struct crew__fj o; /* owner-private: dq, cap, head, o_split and what
                          derives from them (crew.h) */
    uint32_t want;     /* owner: frames to reserve at the first push */
    /* Shared: thieves write these. */
    CREW_ALIGNED _Atomic uint64_t ts; /* tail | split << 32 */
    _Atomic uint32_t movesplit;       /* a thief asks the owner to share */
} crew__fdeque_t;

static inline uint64_t crew__ts(uint32_t tail, uint32_t split)
{
    return (uint64_t)tail | (uint64_t)split << 32;
}
static inline uint32_t crew__ts_tail(uint64_t ts) { return (uint32_t)ts; }
static inline uint32_t crew__ts_split(uint64_t ts) { return (uint32_t)(ts >> 32); }

/* Owner: the inline paths' limits (crew.h struct crew__fj), after any
 * change of cap, o_split or irq_open. */
static inline void crew__fj_derive(struct crew__fj *o)
{
    uint32_t d = o->o_split + CREW__FORK_INLINE_DEPTH;
    o->flim = d < o->cap ? d : o->cap;
    o->ifloor = o->irq_open ? UINT32_MAX : o->o_split;
}

/* An empty fork deque; cap frames of address space are reserved at the
 * first push (committed on use). */
void crew__fdeque_init(crew__fdeque_t *d, uint32_t cap);
/* Owner: reserve the frames (the first push). false: out of memory (the
 * push's caller then runs the child at once, as for a full array). */
bool crew__fdeque_reserve(crew__fdeque_t *d);
void crew__fdeque_destroy(crew__fdeque_t *d);

/* Step 1's share, out of line (rare). true if frames were shared. */
bool crew__fdeque_share(crew__fdeque_t *d);

/* Owner: a new frame at the top, or NULL when the array is full (the
 * caller then runs the child at once). The caller fills it, raises head,
 * and shares if requested (step 1, worker.c fork_frame). */
static inline crew__frame_t *crew__fdeque_slot(crew__fdeque_t *d)
{
    if (CREW_UNLIKELY(d->o.head == d->o.cap) && (d->o.dq || !crew__fdeque_reserve(d)))
        return NULL;
    return &d->o.dq[d->o.head];
}

typedef enum { CREW__TAKE_OURS, CREW__TAKE_STOLEN } crew__take_t;

crew__take_t crew__fdeque_reclaim(crew__fdeque_t *d, uint32_t i);

/* Owner: step 3 for its newest frame (head - 1, head > 0). OURS: the frame
 * is the caller's to run and head is lowered; STOLEN: a thief took it (the
 * caller waits for DONE, then calls crew__fdeque_stolen_done()). */
static inline crew__take_t crew__fdeque_take(crew__fdeque_t *d)
{
    uint32_t i = d->o.head - 1;
    if (CREW_LIKELY(i >= d->o.o_split)) { /* 3a: private */
        d->o.head = i;
        return CREW__TAKE_OURS;
    }
    return crew__fdeque_reclaim(d, i); /* 3b */
}

/* Owner: step 4, after the stolen frame head - 1 is DONE. */
void crew__fdeque_stolen_done(crew__fdeque_t *d);

/* Thief: step 2. Returns the frame it now owns, or NULL (nothing shared,
 * or lost a race). */
crew__frame_t *crew__fdeque_steal(crew__fdeque_t *d);

/* Thief: ask the owner to share at its next push (step 2's request). */
static inline void crew__fdeque_request(crew__fdeque_t *d)
{
    /* relaxed: a hint the owner reads at its next push; skip the store
     * when it is already set, so the line stays shared while idle workers
     * look again and again. */
    if (!atomic_load_explicit(&d->movesplit, memory_order_relaxed))
        atomic_store_explicit(&d->movesplit, 1, memory_order_relaxed);
}

/* Any thread: does the shared part hold a frame? (a hint: for parking,
 * and before a thief prepares a record to steal into) */
static inline bool crew__fdeque_has_shared(crew__fdeque_t *d)
{
    /* seq_cst: read in step 3 of the park protocol, after the announcement
     * (the share's seq_cst CAS is the publication it must not miss). */
    uint64_t ts = atomic_load_explicit(&d->ts, memory_order_seq_cst);
    return crew__ts_tail(ts) < crew__ts_split(ts);
}

/* Owner: frames in the private part (a hint for depth-adaptive inlining). */
static inline uint32_t crew__fdeque_private(const crew__fdeque_t *d)
{
    return d->o.head - d->o.o_split;
}

#endif
