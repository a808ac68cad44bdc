/*
 * tunables.h - every tunable constant of crew, with its unit and reason.
 * Each is checked at compile time against a sane range.
 */
#ifndef CREW_TUNABLES_H
#define CREW_TUNABLES_H

#include "crew.h"

/* Cache line size in bytes; x86-64 and most ARM64 parts. */
#define CREW_CACHE_LINE 64

/* Idle spin rounds (each one full scan for work) before a worker parks.
 * Long enough to bridge a fork-join gap, short enough that an idle
 * executor goes quiet within microseconds. */
#define CREW_SPIN_DEFAULT 64
_Static_assert(CREW_SPIN_DEFAULT >= 1 && CREW_SPIN_DEFAULT <= 100000, "spin");

/* Initial deque ring size in slots (power of two). 1024 slots = 8 KiB. */
#define CREW_DEQUE_INIT_LOG2 10
_Static_assert(CREW_DEQUE_INIT_LOG2 >= 2 && CREW_DEQUE_INIT_LOG2 <= 20, "deque");

/* Task records per slab (power of two): one malloc per 1024 records. */
#define CREW_SLAB_LOG2 10
/* Bits of a task ID that name the record slot: up to 2^26 (67 M) live
 * records; the remaining 38 bits are the slot's generation. */
#define CREW_SLOT_BITS 26
_Static_assert(CREW_SLAB_LOG2 < CREW_SLOT_BITS && CREW_SLOT_BITS <= 32, "slot");

/* Records an external (non-worker) thread takes from the shared pool at a
 * time, so the pool mutex is taken once per this many submissions. */
#define CREW_EXT_BATCH 64
_Static_assert(CREW_EXT_BATCH >= 1 && CREW_EXT_BATCH <= 4096, "batch");

/* Frames each worker's fork deque can hold (forks not yet synced), as
 * reserved address space (64 bytes a frame, committed on use). A fork
 * beyond it runs at once, as a plain call. */
#define CREW_FORK_FRAMES ((uint32_t)1 << 18)
_Static_assert(CREW_FORK_FRAMES >= 64 && CREW_FORK_FRAMES <= ((uint32_t)1 << 24), "frames");

/* Depth-adaptive inlining: a fork whose worker already holds this many
 * private frames, while no thief asks for work, runs at once as a call
 * (as libgomp does past 64 queued tasks per thread): the deep part of a
 * tree costs a call, not a queued task. */
#define CREW_FORK_INLINE_DEPTH CREW__FORK_INLINE_DEPTH /* crew.h: the inline crew_fork() tests it */
_Static_assert(CREW_FORK_INLINE_DEPTH >= 1, "inline depth");

/* An idle worker's sched_yield() that takes longer than this (ns) gave
 * the CPU to another thread, so the worker checks whether it shares its
 * CPU with a busy worker (worker.c idle). A yield with a free CPU returns
 * in about a microsecond; a time slice is hundreds. */
#define CREW_YIELD_SLICE_NS 50000

/* Maximum worker threads. */
#define CREW_MAX_WORKERS 1024

/* Tasks an actor's runner runs before it gives its worker back. Large
 * enough to amortise the hand-over (an injection-queue push and a wake-up,
 * a few hundred ns) over many messages; small enough that a worker returns
 * to its own deque within tens of microseconds of short messages. */
#define CREW_ACTOR_BATCH 64
_Static_assert(CREW_ACTOR_BATCH >= 1 && CREW_ACTOR_BATCH <= 65536, "actor batch");

/* Initial capacity of the cancellation set (entries). It grows on demand. */
#define CREW_CSET_INIT 64

#endif
