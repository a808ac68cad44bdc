/*
 * bench_submit.c - external submission throughput: the main thread submits
 * n tiny detached tasks while the workers run them; the time runs until all
 * have run (crew: a group, crew_group_wait). Each task marks its own byte,
 * and the answer is the number of bytes marked exactly once.
 * submit_single: one crew_submit_ex per task; submit_batch:
 * crew_submit_batch in chunks of PERF_BATCH.
 */
#include <stdlib.h>

#include "peers.h"

uint64_t perf_count_marks(const unsigned char *slots, long n)
{
    uint64_t ok = 0;
    for (long i = 0; i < n; i++)
        ok += slots[i] == 1;
    return ok;
}

static int mark_task(void *slot)
{
    perf_mark(slot);
    return 0;
}

static int submit_crew(crew_t *ex, long n, bool batch, perf_out_t *out)
{
    unsigned char *slots = calloc((size_t)n, 1);
    crew_group_t *g = NULL;
    int rc;
    if (!slots)
        return perf_fail("out of memory");
    if ((rc = crew_group_create(ex, NULL, 0, &g)) != 0) {
        free(slots);
        return perf_fail("crew_group_create: %s", crew_err_name(rc));
    }
    crew_task_desc_t d = {0};
    d.fn = mark_task;
    d.group = g;

    double t0 = perf_now();
    if (!batch) {
        for (long i = 0; i < n && rc == 0; i++) {
            d.arg = &slots[i];
            rc = crew_submit_ex(ex, &d, NULL);
        }
    } else {
        void *args[PERF_BATCH];
        for (long i = 0; i < n && rc == 0; i += PERF_BATCH) {
            size_t m = (size_t)(n - i < PERF_BATCH ? n - i : PERF_BATCH);
            for (size_t j = 0; j < m; j++)
                args[j] = &slots[i + (long)j];
            rc = crew_submit_batch(ex, &d, args, m, NULL);
        }
    }
    if (rc != 0)
        perf_fail("%s: %s", batch ? "crew_submit_batch" : "crew_submit_ex", crew_err_name(rc));
    crew_status_t st = CREW_TASK_QUEUED;
    int wrc = crew_group_wait(g, CREW_FOREVER, &st);
    out->seconds = perf_now() - t0;
    if (wrc != 0 || st != CREW_TASK_DONE)
        perf_fail("crew_group_wait: %s, status %s", crew_err_name(wrc), crew_status_name(st));
    if ((rc = crew_group_destroy(g)) != 0)
        perf_fail("crew_group_destroy: %s", crew_err_name(rc));
    out->answer = perf_count_marks(slots, n);
    free(slots);
    return 0;
}

static int submit_single_crew(void *ex, long n, perf_out_t *out)
{
    return submit_crew(ex, n, false, out);
}

static int submit_batch_crew(void *ex, long n, perf_out_t *out)
{
    return submit_crew(ex, n, true, out);
}

int perf_expect_n(long n, uint64_t *answer, uint64_t *tasks)
{
    *answer = *tasks = (uint64_t)n;
    return 0;
}

const perf_bench_t perf_bench_submit_single = {
    .name = "submit_single",
    .what = "main thread submits n tiny detached tasks, one call each",
    .param = {1000000, 10000000},
    .warm = {100000, 1000000},
    .expect = perf_expect_n,
    .flags = PERF_F_RATE,
    .impl =
        {
            [IMPL_CREW] = {submit_single_crew, perf_crew_setup, perf_crew_teardown, NULL},
            [IMPL_OMP] = PERF_OMP(omp_submit_single),
            [IMPL_TBB] = PERF_TBB(tbb_submit_single),
            [IMPL_POOL] = PERF_POOL(pool_submit_single),
        },
};

const perf_bench_t perf_bench_submit_batch = {
    .name = "submit_batch",
    .what = "main thread submits n tiny detached tasks in batches of 1024",
    .param = {1000000, 10000000},
    .warm = {100000, 1000000},
    .expect = perf_expect_n,
    .flags = PERF_F_RATE,
    .impl =
        {
            [IMPL_CREW] = {submit_batch_crew, perf_crew_setup, perf_crew_teardown, NULL},
            [IMPL_OMP] = PERF_SKIP("OpenMP has no batch submission"),
            [IMPL_TBB] = PERF_SKIP("oneTBB has no batch submission"),
            [IMPL_POOL] = PERF_POOL(pool_submit_batch),
        },
};

/* submit_bounded: submit_single against an executor whose bound on queued
 * outside submissions is 1024 (CREW_FULL_WAIT): the producer sleeps when
 * it is 1024 tasks ahead and is woken one freed slot at a time. */
static void *bounded_setup(unsigned workers)
{
    crew_options_t o = CREW_OPTIONS_INIT;
    crew_t *ex = NULL;
    int rc;
    o.workers = workers;
    o.max_queued = 1024;
    if ((rc = crew_create(&ex, &o)) != 0) {
        perf_fail("crew_create: %s", crew_err_name(rc));
        return NULL;
    }
    return ex;
}

const perf_bench_t perf_bench_submit_bounded = {
    .name = "submit_bounded",
    .what = "submit_single with at most 1024 queued (crew: max_queued)",
    .param = {1000000, 10000000},
    .warm = {100000, 1000000},
    .expect = perf_expect_n,
    .flags = PERF_F_RATE,
    .impl =
        {
            [IMPL_CREW] = {submit_single_crew, bounded_setup, perf_crew_teardown, NULL},
            [IMPL_POOL] = PERF_SKIP("the pool has no bound"),
        },
};
