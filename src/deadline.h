/*
 * deadline.h - deadlines of tasks and groups, as the timer fires them, and
 * the deterministic cancellation test mode (deadline.c).
 */
#ifndef CREW_DEADLINE_H
#define CREW_DEADLINE_H

#include <stdint.h>

#include "exec.h"

/* The timer's fire and drop callbacks (crew_create passes them). */
void crew__deadline_fire(void *ctx, uint8_t kind, uint64_t key, void *obj);
void crew__deadline_drop(void *ctx, uint8_t kind, void *obj);

/* The test mode from $CREW_TEST_CANCEL (crew_create), and its report to
 * $CREW_TEST_CANCEL_REPORT (crew_destroy). */
void crew__test_mode_env(struct crew *ex);
void crew__test_mode_report(struct crew *ex);

#endif
