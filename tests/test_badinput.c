/* test_badinput.c - every case of the header's Errors blocks that can be
 * produced from outside, plus the error-name tables. */
#include <limits.h>

#include "crit.h"

#ifdef CREW_TEST_HAVE_FAULT
#include "fault.h"
#endif

/* ---- error tables --------------------------------------------------------------- */

Test(badinput, strerror_and_err_name_cover_every_code_in_the_map, T_OPTS)
{
#define CHECK_CODE(name, val, msg)                                                                 \
    cr_assert_eq(CREW_##name, (val));                                                              \
    cr_assert_str_eq(crew_strerror(val), msg);                                                     \
    cr_assert_str_eq(crew_err_name(val), "CREW_" #name);
    CREW_ERRNO_MAP(CHECK_CODE)
#undef CHECK_CODE
    cr_assert_str_eq(crew_strerror(0), "success");
}

Test(badinput, unknown_codes_have_a_message_and_a_name, T_OPTS)
{
    const int unknown[] = {-17, -100, -1000, INT_MIN, INT_MIN + 1, 1000, INT_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        cr_assert_str_eq(crew_strerror(unknown[i]), "unknown error", "code %d", unknown[i]);
        cr_assert_str_eq(crew_err_name(unknown[i]), "CREW_UNKNOWN", "code %d", unknown[i]);
    }
    /* outcomes and 0: never NULL */
    for (int c = 0; c <= 3; c++) {
        cr_assert_not_null(crew_strerror(c));
        cr_assert_not_null(crew_err_name(c));
    }
}

Test(badinput, status_names_are_the_enum_names, T_OPTS)
{
    cr_assert_str_eq(crew_status_name(CREW_TASK_QUEUED), "QUEUED");
    cr_assert_str_eq(crew_status_name(CREW_TASK_RUNNING), "RUNNING");
    cr_assert_str_eq(crew_status_name(CREW_TASK_DONE), "DONE");
    cr_assert_str_eq(crew_status_name(CREW_TASK_FAILED), "FAILED");
    cr_assert_str_eq(crew_status_name(CREW_TASK_CANCELLED), "CANCELLED");
    cr_assert_str_eq(crew_status_name(CREW_TASK_ACTOR_DEAD), "ACTOR_DEAD");
    cr_assert_not_null(crew_status_name((crew_status_t)99));
    cr_assert_not_null(crew_status_name((crew_status_t)-1));
}

/* ---- crew_create ------------------------------------------------------------------- */

Test(badinput, create_refuses_null_out_bad_size_and_too_many_workers, T_OPTS)
{
    unsetenv("CREW_WORKERS");
    crew_options_t o = {sizeof o};
    ASSERT_RC(crew_create(NULL, &o), CREW_EINVAL);
    crew_t *ex = NULL;
    o.size = 1;
    ASSERT_RC(crew_create(&ex, &o), CREW_EINVAL);
    cr_assert_null(ex);
    o.size = sizeof o;
    o.workers = 1025;
    ASSERT_RC(crew_create(&ex, &o), CREW_EINVAL);
    o.workers = UINT_MAX;
    ASSERT_RC(crew_create(&ex, &o), CREW_EINVAL);
    cr_assert_null(ex);
    cr_assert_eq(t_live_bytes(), 0);
}

Test(badinput, create_accepts_1024_workers, T_OPTS)
{
    crew_t *ex = t_create(1024);
    cr_assert_eq(crew_workers(ex), 1024);
    atomic_int n = 0;
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, count_task, &n, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    DESTROY_CLEAN(&ex);
}

Test(badinput, create_refuses_a_bad_CREW_WORKERS, T_OPTS)
{
    /* ("" is left out: whether an empty variable counts as set is not
     * specified; the library treats it as unset.) */
    const char *bad[] = {"0", "1025", "-1", "abc", "3x", "99999999999999999999", "2.5", " "};
    crew_options_t o = {sizeof o}; /* workers 0: read the environment */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("CREW_WORKERS", bad[i], 1);
        crew_t *ex = NULL;
        int rc = crew_create(&ex, &o);
        cr_assert_eq(rc, CREW_EINVAL, "CREW_WORKERS=\"%s\" -> %s", bad[i], t_rc_name(rc));
        if (ex)
            crew_destroy(&ex);
    }
    setenv("CREW_WORKERS", "1", 1);
    crew_t *ex = NULL;
    ASSERT_RC(crew_create(&ex, &o), 0);
    cr_assert_eq(crew_workers(ex), 1);
    DESTROY_CLEAN(&ex);
    cr_assert_eq(t_live_bytes(), 0);
}

#ifdef CREW_TEST_HAVE_FAULT
/* Every allocation and every thread creation of crew_create, failed in
 * turn: ENOMEM / ETHREAD, and nothing leaks. */
Test(badinput, create_fails_cleanly_at_every_allocation_and_thread, T_OPTS)
{
    crew_options_t o = {sizeof o};
    o.workers = 4;
    int64_t k;
    for (k = 0; k < 100000; k++) {
        crew_t *ex = NULL;
        crew__fault_fail_alloc_at(k);
        int rc = crew_create(&ex, &o);
        crew__fault_reset();
        if (rc == 0) {
            ASSERT_RC(crew_destroy(&ex), 0);
            break;
        }
        cr_assert_eq(rc, CREW_ENOMEM, "allocation %lld failed: %s", (long long)k, t_rc_name(rc));
        cr_assert_eq(t_live_bytes(), 0,
                     "allocation %lld failed: %lld bytes "
                     "leaked",
                     (long long)k, (long long)t_live_bytes());
    }
    cr_log_info("crew_create: %lld allocations", (long long)k);
    for (k = 0; k < 4; k++) {
        crew_t *ex = NULL;
        crew__fault_fail_thread_at(k);
        int rc = crew_create(&ex, &o);
        crew__fault_reset();
        cr_assert_eq(rc, CREW_ETHREAD, "thread %lld failed: %s", (long long)k, t_rc_name(rc));
        cr_assert_eq(t_live_bytes(), 0);
    }
}

Test(badinput, submit_reports_ENOMEM_and_leaves_arg_to_the_caller, T_OPTS)
{
    crew_t *ex = t_create(1);
    atomic_int cleanups = 0, ran = 0;
    int failures = 0;
    for (int64_t k = 0; k < 64; k++) {
        crew_task_desc_t d = {.fn = count_task, .arg = &ran, .cleanup = NULL, .group = NULL};
        crew_task_desc_t dc = {
            .fn = count_task, .arg = &cleanups, .cleanup = count_cleanup, .group = NULL};
        crew_id_t id = 0;
        int c0 = atomic_load(&cleanups);
        crew__fault_fail_alloc_at(k % 4);
        int rc = crew_submit_ex(ex, k % 2 ? &dc : &d, k % 3 ? &id : NULL);
        crew__fault_reset();
        if (rc == CREW_ENOMEM) {
            failures++;
            cr_assert_eq(atomic_load(&cleanups), c0);
            continue;
        }
        ASSERT_RC(rc, 0);
        if (id)
            t_join(ex, id);
    }
    cr_log_info("%d of 64 submissions hit an allocation failure", failures);
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    DESTROY_CLEAN(&ex);
}
#endif

/* ---- a NULL or destroyed executor ----------------------------------------------------- */

Test(badinput, every_call_refuses_a_null_executor, T_OPTS)
{
    crew_t *ex = t_create(1);
    ASSERT_RC(crew_destroy(&ex), 0);
    cr_assert_null(ex, "crew_destroy must NULL the caller's variable");
    /* every later call through that variable */
    crew_status_t st;
    crew_task_info_t info;
    crew_stats_t s = {sizeof s};
    crew_task_desc_t d = {.fn = noop_task, .arg = NULL, .cleanup = NULL, .group = NULL};
    void *args[1] = {NULL};
    crew_id_t id = 0;
    crew_group_t *g = NULL;
    ASSERT_RC(crew_destroy(&ex), CREW_EINVAL);
    ASSERT_RC(crew_destroy(NULL), CREW_EINVAL);
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), CREW_EINVAL);
    ASSERT_RC(crew_submit(ex, noop_task, NULL, &id), CREW_EINVAL);
    ASSERT_RC(crew_submit_ex(ex, &d, &id), CREW_EINVAL);
    ASSERT_RC(crew_submit_batch(ex, &d, args, 1, NULL), CREW_EINVAL);
    ASSERT_RC(crew_wait(ex, 1, 0, &st), CREW_EINVAL);
    ASSERT_RC(crew_join(ex, 1, &st), CREW_EINVAL);
    ASSERT_RC(crew_release(ex, 1), CREW_EINVAL);
    ASSERT_RC(crew_cancel(ex, 1, 0, NULL), CREW_EINVAL);
    ASSERT_RC(crew_cancel_wait(ex, 1, 0, &st), CREW_EINVAL);
    info.size = sizeof info;
    ASSERT_RC(crew_inspect(ex, 1, &info), CREW_EINVAL);
    ASSERT_RC(crew_stats(ex, &s), CREW_EINVAL);
    ASSERT_RC(crew_group_create(ex, NULL, 0, &g), CREW_EINVAL);
    cr_assert_eq(crew_workers(ex), 0);
    cr_assert_eq(id, 0);
    cr_assert_null(g);
    cr_assert_eq(t_live_bytes(), 0);
}

Test(badinput, shutdown_refuses_an_unknown_mode, T_OPTS)
{
    crew_t *ex = t_create(1);
    ASSERT_RC(crew_shutdown(ex, (crew_shutdown_mode_t)2), CREW_EINVAL);
    ASSERT_RC(crew_shutdown(ex, (crew_shutdown_mode_t)-1), CREW_EINVAL);
    /* and did not shut down */
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, noop_task, NULL, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    DESTROY_CLEAN(&ex);
}

/* ---- submitting ------------------------------------------------------------------------------- */

Test(badinput, submit_refuses_null_desc_and_null_fn_and_keeps_the_arg, T_OPTS)
{
    crew_t *ex = t_create(1);
    atomic_int cleanups = 0;
    crew_id_t id = 0;
    ASSERT_RC(crew_submit_ex(ex, NULL, &id), CREW_EINVAL);
    crew_task_desc_t nofn = {.fn = NULL, .arg = &cleanups, .cleanup = count_cleanup, .group = NULL};
    ASSERT_RC(crew_submit_ex(ex, &nofn, &id), CREW_EINVAL);
    ASSERT_RC(crew_submit_ex(ex, &nofn, NULL), CREW_EINVAL);
    ASSERT_RC(crew_submit(ex, NULL, NULL, &id), CREW_EINVAL);
    ASSERT_RC(crew_submit(ex, NULL, NULL, NULL), CREW_EINVAL);
    void *args[3] = {&cleanups, &cleanups, &cleanups};
    ASSERT_RC(crew_submit_batch(ex, NULL, args, 3, NULL), CREW_EINVAL);
    ASSERT_RC(crew_submit_batch(ex, &nofn, args, 3, NULL), CREW_EINVAL);
    crew_task_desc_t d = {.fn = count_task, .arg = NULL, .cleanup = count_cleanup, .group = NULL};
    ASSERT_RC(crew_submit_batch(ex, &d, NULL, 3, NULL), CREW_EINVAL);
    cr_assert_eq(atomic_load(&cleanups), 0);
    cr_assert_eq(t_stats(ex).submitted, 0);
    DESTROY_CLEAN(&ex);
}

typedef struct spawnbad {
    int null_fn_rc;
} spawnbad_t;

static int spawnbad_task(void *arg)
{
    ((spawnbad_t *)arg)->null_fn_rc = crew_spawn(NULL, NULL, NULL);
    return 0;
}

Test(badinput, spawn_refuses_null_fn_inside_and_any_call_outside, T_OPTS)
{
    crew_t *ex = t_create(1);
    ASSERT_RC(crew_spawn(noop_task, NULL, NULL), CREW_ENOTINTASK);
    spawnbad_t s = {99};
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, spawnbad_task, &s, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    ASSERT_RC(s.null_fn_rc, CREW_EINVAL);
    cr_assert_eq(t_stats(ex).submitted, 1);
    DESTROY_CLEAN(&ex);
}

/* ---- waiting, joining, releasing, cancelling, inspecting ----------------------------------------- */

Test(badinput, id_calls_refuse_null_pointers_unknown_and_released_ids, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, noop_task, NULL, &id), 0);
    ASSERT_STATUS(t_wait(ex, id), CREW_TASK_DONE);
    crew_status_t st;
    crew_task_info_t info;
    /* NULL out-pointers */
    ASSERT_RC(crew_wait(ex, id, 0, NULL), CREW_EINVAL);
    ASSERT_RC(crew_cancel_wait(ex, id, 0, NULL), CREW_EINVAL);
    ASSERT_RC(crew_inspect(ex, id, NULL), CREW_EINVAL);
    /* unknown IDs: 0 is never valid; far-future IDs are unknown */
    const crew_id_t unknown[] = {0, id + 1000000, UINT64_MAX};
    for (int i = 0; i < 3; i++) {
        ASSERT_RC(crew_wait(ex, unknown[i], 0, &st), CREW_ENOTASK);
        ASSERT_RC(crew_join(ex, unknown[i], &st), CREW_ENOTASK);
        ASSERT_RC(crew_release(ex, unknown[i]), CREW_ENOTASK);
        ASSERT_RC(crew_cancel(ex, unknown[i], 0, NULL), CREW_ENOTASK);
        ASSERT_RC(crew_cancel_wait(ex, unknown[i], 0, &st), CREW_ENOTASK);
        info.size = sizeof info;
        ASSERT_RC(crew_inspect(ex, unknown[i], &info), CREW_ENOTASK);
    }
    /* released */
    ASSERT_RC(crew_release(ex, id), 0);
    ASSERT_RC(crew_wait(ex, id, 0, &st), CREW_ENOTASK);
    ASSERT_RC(crew_wait(ex, id, CREW_FOREVER, &st), CREW_ENOTASK);
    ASSERT_RC(crew_join(ex, id, &st), CREW_ENOTASK);
    ASSERT_RC(crew_release(ex, id), CREW_ENOTASK);
    ASSERT_RC(crew_cancel(ex, id, 0, NULL), CREW_ENOTASK);
    ASSERT_RC(crew_cancel_wait(ex, id, 0, &st), CREW_ENOTASK);
    info.size = sizeof info;
    ASSERT_RC(crew_inspect(ex, id, &info), CREW_ENOTASK);
    crew_stats_t s = t_settle(ex);
    cr_assert_eq(s.done, 1);
    cr_assert_eq(s.late_cancels, 0, "refused cancels are not late cancels");
    DESTROY_CLEAN(&ex);
}

Test(badinput, ids_of_another_executor_are_unknown_here, T_OPTS)
{
    crew_t *a = t_create(1), *b = t_create(1);
    /* burn a few IDs in b so that the numbering differs */
    gate_t gate;
    gate_init(&gate);
    crew_id_t ia;
    ASSERT_RC(crew_submit(a, gate_task, &gate, &ia), 0);
    gate_await_arrivals(&gate, 1);
    /* b has never issued an ID this large */
    crew_status_t st;
    crew_id_t big = ia + 100000;
    ASSERT_RC(crew_wait(b, big, 0, &st), CREW_ENOTASK);
    ASSERT_RC(crew_cancel(b, big, 0, NULL), CREW_ENOTASK);
    gate_open(&gate);
    ASSERT_STATUS(t_join(a, ia), CREW_TASK_DONE);
    gate_destroy(&gate);
    DESTROY_CLEAN(&a);
    DESTROY_CLEAN(&b);
}

Test(badinput, waits_refuse_negative_and_absurd_timeouts, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_group_t *g;
    ASSERT_RC(crew_group_create(ex, NULL, 0, &g), 0);
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, noop_task, NULL, &id), 0);
    ASSERT_STATUS(t_wait(ex, id), CREW_TASK_DONE);
    crew_status_t st;
    const int64_t bad[] = {-2, -999999999, INT64_MIN, CREW_TIMEOUT_MAX_NS + 1, INT64_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_RC(crew_wait(ex, id, bad[i], &st), CREW_EINVAL);
        ASSERT_RC(crew_cancel_wait(ex, id, bad[i], &st), CREW_EINVAL);
        ASSERT_RC(crew_group_wait(g, bad[i], &st), CREW_EINVAL);
    }
    ASSERT_RC(crew_group_wait(g, CREW_TIMEOUT_MAX_NS, &st), 0);
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    ASSERT_RC(crew_release(ex, id), 0);
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- groups ---------------------------------------------------------------------------------------- */

Test(badinput, group_calls_refuse_null_and_bad_arguments, T_OPTS)
{
    crew_t *ex = t_create(1), *other = t_create(1);
    crew_group_t *g = NULL, *og = NULL;
    ASSERT_RC(crew_group_create(NULL, NULL, 0, &g), CREW_EINVAL);
    ASSERT_RC(crew_group_create(ex, NULL, 0, NULL), CREW_EINVAL);
    ASSERT_RC(crew_group_create(ex, NULL, 0x4, &g), CREW_EINVAL);
    ASSERT_RC(crew_group_create(ex, NULL, 0x80000000u, &g), CREW_EINVAL);
    ASSERT_RC(crew_group_create(ex, NULL, CREW_GROUP_FAIL_FAST | 0x10, &g), CREW_EINVAL);
    cr_assert_null(g);
    ASSERT_RC(crew_group_create(other, NULL, 0, &og), 0);
    ASSERT_RC(crew_group_create(ex, og, 0, &g), CREW_EWRONGEXEC);
    cr_assert_null(g);
    crew_status_t st;
    ASSERT_RC(crew_group_wait(NULL, 0, &st), CREW_EINVAL);
    ASSERT_RC(crew_group_cancel(NULL, 0, NULL), CREW_EINVAL);
    ASSERT_RC(crew_group_destroy(NULL), CREW_EINVAL);
    cr_assert_eq(crew_group_id(NULL), 0);
    ASSERT_RC(crew_group_create(ex, NULL, CREW_GROUP_FAIL_FAST, &g), 0);
    ASSERT_RC(crew_group_wait(g, 0, NULL), CREW_EINVAL);
    ASSERT_RC(crew_group_destroy(g), 0);
    ASSERT_RC(crew_group_destroy(og), 0);
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    ASSERT_RC(crew_group_create(ex, NULL, 0, &g), CREW_ESHUTDOWN);
    cr_assert_null(g);
    DESTROY_CLEAN(&ex);
    DESTROY_CLEAN(&other);
}

Test(badinput, stats_refuse_null_and_a_short_size, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_stats_t s;
    memset(&s, 0, sizeof s);
    ASSERT_RC(crew_stats(ex, NULL), CREW_EINVAL);
    s.size = 0;
    ASSERT_RC(crew_stats(ex, &s), CREW_EINVAL);
    s.size = sizeof s - 1;
    ASSERT_RC(crew_stats(ex, &s), CREW_EINVAL);
    s.size = sizeof s;
    ASSERT_RC(crew_stats(ex, &s), 0);
    DESTROY_CLEAN(&ex);
}

Test(badinput, task_queries_are_harmless_outside_a_task, T_OPTS)
{
    cr_assert_not(crew_cancelled());
    cr_assert_eq(crew_self(), 0);
    cr_assert_null(crew_current());
    cr_assert_eq(crew_worker_index(), -1);
}
