/*
 * bench_idle.c - CPU burnt by an idle executor: wake every worker with a
 * few tasks, let it settle for param/3 ms, then measure the process CPU
 * time (CLOCK_PROCESS_CPUTIME_ID) over param ms of wall time while the main
 * thread sleeps. The value is CPU seconds per wall second (0.01 = 1% of
 * one core).
 */
#include "peers.h"

static int noop(void *p)
{
    (void)p;
    return 0;
}

static int idle_crew(void *ex, long ms, perf_out_t *out)
{
    unsigned n = 2 * crew_workers(ex);
    crew_id_t ids[64];
    if (n > 64)
        n = 64;
    for (unsigned i = 0; i < n; i++) {
        int rc = crew_submit(ex, noop, NULL, &ids[i]);
        if (rc != 0)
            return perf_fail("crew_submit: %s", crew_err_name(rc));
    }
    for (unsigned i = 0; i < n; i++)
        if (perf_crew_join_done(ex, ids[i], "wake-up task") != 0)
            return -1;
    perf_sleep((double)ms / 3 * 1e-3);
    double c0 = perf_cpu_now(), w0 = perf_now();
    perf_sleep((double)ms * 1e-3);
    double c1 = perf_cpu_now(), w1 = perf_now();
    out->value = (c1 - c0) / (w1 - w0);
    out->seconds = w1 - w0;
    return 0;
}

const perf_bench_t perf_bench_idle = {
    .name = "idle",
    .what = "CPU seconds per wall second of an idle executor (param: ms)",
    .param = {300, 1000},
    .flags = PERF_F_IDLE | PERF_F_NO_TASKS,
    .impl =
        {
            [IMPL_CREW] = {idle_crew, perf_crew_setup, perf_crew_teardown, NULL},
            [IMPL_POOL] = PERF_POOL(pool_idle),
        },
};

/* lifecycle: param times, create an executor of the run's worker count,
 * run one no-op task to the end, destroy it. What a program that starts
 * an executor per job pays; the destroy part is how fast idle workers
 * notice the stop. The answer is the number of tasks that ran. */
static void *lifecycle_setup(unsigned workers) { return (void *)(uintptr_t)workers; }

static void lifecycle_teardown(void *st) { (void)st; }

static int count_run(void *p)
{
    ++*(long *)p;
    return 0;
}

static int lifecycle_crew(void *st, long n, perf_out_t *out)
{
    crew_options_t o = CREW_OPTIONS_INIT;
    long ran = 0;
    o.workers = (unsigned)(uintptr_t)st;
    for (long i = 0; i < n; i++) {
        crew_t *ex = NULL;
        crew_id_t id;
        int rc = crew_create(&ex, &o);
        if (rc != 0)
            return perf_fail("crew_create: %s", crew_err_name(rc));
        if ((rc = crew_submit(ex, count_run, &ran, &id)) != 0)
            return perf_fail("crew_submit: %s", crew_err_name(rc));
        if (perf_crew_join_done(ex, id, "lifecycle task") != 0)
            return -1;
        if ((rc = crew_destroy(&ex)) != 0)
            return perf_fail("crew_destroy: %s", crew_err_name(rc));
    }
    out->answer = (uint64_t)ran;
    return 0;
}

const perf_bench_t perf_bench_lifecycle = {
    .name = "lifecycle",
    .what = "create an executor, run one task, destroy it (param: times)",
    .param = {200, 1000},
    .warm = {20, 100},
    .expect = perf_expect_n,
    .impl =
        {
            [IMPL_CREW] = {lifecycle_crew, lifecycle_setup, lifecycle_teardown, NULL},
            [IMPL_POOL] = {pool_lifecycle, lifecycle_setup, lifecycle_teardown, NULL},
        },
};
