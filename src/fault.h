/*
 * fault.h - test-only hooks into crew's allocation and thread creation.
 *
 * Every allocation crew makes goes through crew__malloc/crew__calloc/
 * crew__free (platform.c). Built with CREW_FAULT_INJECTION (the default for
 * the static library used by tests), a process-wide countdown can make the
 * k-th allocation from now fail, so a test can walk every failure point of a
 * scenario. These are internal symbols: link crew_static (CMake target
 * crew_internal) to use them. Not part of the public API.
 */
#ifndef CREW_FAULT_H
#define CREW_FAULT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "crew.h"

/* Allocation number k (0-based, counted from this call) fails, and every
 * one after it succeeds again. k < 0 disables injection. */
void crew__fault_fail_alloc_at(int64_t k);
/* Number of allocations attempted since the last crew__fault_reset(). */
int64_t crew__fault_alloc_count(void);
/* Thread creation number k (0-based, from this call) fails; k < 0 disables. */
void crew__fault_fail_thread_at(int64_t k);
/* Disable all injection and zero the counters. */
void crew__fault_reset(void);
/* Bytes currently allocated through crew__malloc/crew__calloc and not yet
 * freed, over all executors in the process (0 when nothing is alive). */
int64_t crew__fault_live_bytes(void);

/* Pause points: in builds with CREW_FAULT_INJECTION, crew calls the hook
 * set for a point each time a thread reaches it, so a test can hold that
 * thread inside a race window while others act. The hook runs on whatever
 * thread reaches the point, possibly with internal locks held (documented
 * per point); it must not call back into crew except as stated. NULL
 * clears. Installed libraries never call hooks. */
typedef enum crew__pause_point {
    /* A canceller of a running task has put its ID in the cancellation
     * set and counted the scope, and has not yet set REQ in the state
     * word. Called with the cancellation-set mutex held: the hook may
     * only wait for the task's body (crew_wait/crew_cancelled from other
     * threads are fine; crew_cancel is not). ctx argument: the task ID. */
    CREW__PAUSE_CANCEL_INSERTED = 0,
    /* The timer thread took due entries off their shards (its round:
     * timer.h step 6) and has not fired them yet. No lock held: the hook
     * may call crew's lookups (crew_inspect). ctx argument: the first
     * entry's key (a task's ID for a task deadline). */
    CREW__PAUSE_TIMER_TOOK = 1,
    CREW__PAUSE_COUNT
} crew__pause_point_t;
typedef void (*crew__pause_fn)(void *ctx, crew_id_t id);
void crew__fault_set_pause(crew__pause_point_t p, crew__pause_fn fn, void *ctx);
#ifdef CREW_FAULT_INJECTION
void crew__fault_pause(crew__pause_point_t p, crew_id_t id);
#define CREW__PAUSE(p, id) crew__fault_pause((p), (id))
#else
#define CREW__PAUSE(p, id) ((void)0)
#endif

/* Live cancellation scopes of ex (requested tasks, cancelled groups,
 * cancelled parents with live children, a cancel shutdown): 0 whenever
 * nothing cancelled is alive, in particular after a clean shutdown. */
uint32_t crew__debug_cancel_scopes(crew_t *ex);
/* 1 if task `id` is live and some thread waits on it (its state word has
 * the WAITERS bit), 0 if not, a negative error for an unknown ID. */
int crew__debug_task_waiters(crew_t *ex, crew_id_t id);

/* Interrupt signals the handler saw outside any interruptible region
 * (interrupt.c), over the process's life: always 0 unless the region
 * protocol is broken. */
uint64_t crew__irq_stray(void);

/* Print the executor's state (workers, deque sizes, live tasks, counters)
 * for diagnosing a hang. Any thread; racy by nature, for humans. */
void crew__dump(crew_t *ex, FILE *out);

#endif
