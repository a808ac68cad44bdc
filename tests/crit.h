/*
 * crit.h - Criterion glue for crew's feature tests: every test gets a
 * timeout, return codes are printed by name, and each test ends with the
 * leak check (no live task, record or cancelled ID; no byte left after
 * crew_destroy).
 */
#ifndef CREW_TESTS_CRIT_H
#define CREW_TESTS_CRIT_H

#include <criterion/criterion.h>
#include <string.h>

#include "common.h"

/* Options every Test() carries. */
#define T_OPTS .timeout = CREW_TEST_TIMEOUT

static inline const char *t_rc_name(int rc)
{
    switch (rc) {
    case CREW_REMOVED:
        return "CREW_REMOVED";
    case CREW_REQUESTED:
        return "CREW_REQUESTED";
    case CREW_TOO_LATE:
        return "CREW_TOO_LATE";
    case 0:
        return "0";
    default:
        return crew_err_name(rc);
    }
}

/* Assert that expr returns want, naming both on failure. */
#define ASSERT_RC(expr, want)                                                                      \
    do {                                                                                           \
        int rc__ = (expr);                                                                         \
        int want__ = (want);                                                                       \
        cr_assert_eq(rc__, want__, "%s -> %s (%d), expected %s (%d)", #expr, t_rc_name(rc__),      \
                     rc__, t_rc_name(want__), want__);                                             \
    } while (0)

#define ASSERT_STATUS(got, want)                                                                   \
    do {                                                                                           \
        crew_status_t g__ = (got), w__ = (want);                                                   \
        cr_assert_eq(g__, w__, "%s: status %s (%d), expected %s", #got, crew_status_name(g__),     \
                     (int)g__, crew_status_name(w__));                                             \
    } while (0)

/* A probe (common.h) saw the cancellation: no check it made after the test
 * set cancel_returned said "not cancelled", and at least min_after such
 * checks were made (0 when the probe may have returned before the flag was
 * set). */
static inline void t_assert_probe_saw_cancel(probe_t *p, int min_after)
{
    cr_assert_eq(atomic_load(&p->timed_out), 0, "probe waited in vain");
    cr_assert_eq(atomic_load(&p->misses), 0,
                 "%d of %d checks after the cancel returned said \"not "
                 "cancelled\"",
                 atomic_load(&p->misses), atomic_load(&p->checks_after));
    cr_assert_geq(atomic_load(&p->checks_after), min_after,
                  "%d checks after the cancel returned, expected %d or more",
                  atomic_load(&p->checks_after), min_after);
    cr_assert_eq(atomic_load(&p->saw_cancel), 1);
}

/* The executor holds nothing: no live task, no unreclaimed record, no ID
 * left in the cancellation set. Call after every joinable task was joined
 * or released. */
#define ASSERT_CLEAN(ex)                                                                           \
    do {                                                                                           \
        crew_stats_t s__ = t_settle(ex);                                                           \
        cr_assert_eq(s__.live_tasks, 0, "live_tasks %llu", (unsigned long long)s__.live_tasks);    \
        cr_assert_eq(s__.live_records, 0, "live_records %llu (leaked records)",                    \
                     (unsigned long long)s__.live_records);                                        \
        cr_assert_eq(s__.cancel_set_size, 0, "cancel_set_size %llu",                               \
                     (unsigned long long)s__.cancel_set_size);                                     \
    } while (0)

/* The standard teardown (t_destroy_clean in common.h): clean, shut down
 * (DRAIN), no cancel scope left, destroyed, and, once the test's last
 * executor is gone (see t_open_executors), every byte freed.
 * DESTROY_CLEAN_MODE: the same after a shutdown in `mode` (CREW_CANCEL
 * leaves the executor's own scope until crew_destroy). */
#define DESTROY_CLEAN(exp) DESTROY_CLEAN_MODE(exp, CREW_DRAIN)
#define DESTROY_CLEAN_MODE(exp, mode)                                                              \
    do {                                                                                           \
        ASSERT_CLEAN(*(exp));                                                                      \
        const char *e__ = t_destroy_clean((exp), (mode));                                          \
        cr_assert_null(e__, "%s", e__ ? e__ : "");                                                 \
    } while (0)

#endif
