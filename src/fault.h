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

/* Print the executor's state (workers, deque sizes, live tasks, counters)
 * for diagnosing a hang. Any thread; racy by nature, for humans. */
void crew__dump(crew_t *ex, FILE *out);

#endif
