/*
 * bench_fib.c - fine-grained fork-join: fib(n), one child per call, no
 * cutoff. Each call with n >= 2 forks fib(n-1), computes fib(n-2) inline
 * and syncs; tasks = forks + the root = fib(n+1). `fib` is written the way
 * the README recommends (crew_fork / crew_sync_ok); `fib_spawn` is the same
 * with named children (crew_spawn / crew_join), crew only, to compare.
 */
#include "peers.h"

typedef struct fib_arg {
    int n;
    long r;
} fib_arg_t;

static long fib_rec(int n);
static long fib_rec_spawn(int n);

static int fib_task(void *p)
{
    fib_arg_t *a = p;
    a->r = fib_rec(a->n);
    return 0;
}

static long fib_rec(int n)
{
    if (n < 2)
        return n;
    fib_arg_t child = {n - 1, 0}; /* on this stack: the sync outlives it */
    crew_fork(fib_task, &child);
    long y = fib_rec(n - 2);
    int rc = crew_sync_ok();
    if (rc != 0)
        perf_fail("crew_sync_ok: %s", crew_err_name(rc));
    return child.r + y;
}

static int fib_task_spawn(void *p)
{
    fib_arg_t *a = p;
    a->r = fib_rec_spawn(a->n);
    return 0;
}

static long fib_rec_spawn(int n)
{
    if (n < 2)
        return n;
    fib_arg_t child = {n - 1, 0}; /* on this stack: the join outlives it */
    crew_id_t id;
    int rc = crew_spawn(fib_task_spawn, &child, &id);
    if (rc != 0) {
        perf_fail("crew_spawn: %s", crew_err_name(rc));
        return 0;
    }
    long y = fib_rec_spawn(n - 2);
    crew_status_t st;
    rc = crew_join(crew_current(), id, &st);
    if (rc != 0 || st != CREW_TASK_DONE)
        perf_fail("crew_join: %s, status %s", crew_err_name(rc), crew_status_name(st));
    return child.r + y;
}

static int fib_run(void *ex, long n, perf_out_t *out, crew_fn task)
{
    fib_arg_t root = {(int)n, 0};
    crew_id_t id;
    int rc = crew_submit(ex, task, &root, &id);
    if (rc != 0)
        return perf_fail("crew_submit: %s", crew_err_name(rc));
    if (perf_crew_join_done(ex, id, "fib root") != 0)
        return -1;
    out->answer = (uint64_t)root.r;
    return 0;
}

static int fib_crew(void *ex, long n, perf_out_t *out) { return fib_run(ex, n, out, fib_task); }

static int fib_crew_spawn(void *ex, long n, perf_out_t *out)
{
    return fib_run(ex, n, out, fib_task_spawn);
}

static long fib_plain(int n) { return n < 2 ? n : fib_plain(n - 1) + fib_plain(n - 2); }

static int fib_serial(void *st, long n, perf_out_t *out)
{
    (void)st;
    out->answer = (uint64_t)fib_plain((int)n);
    return 0;
}

static int fib_expect(long n, uint64_t *answer, uint64_t *tasks)
{
    if (n < 0 || n > 90)
        return -1;
    uint64_t a = 0, b = 1; /* fib(i), fib(i+1) */
    for (long i = 0; i < n; i++) {
        uint64_t t = a + b;
        a = b;
        b = t;
    }
    *answer = a;
    *tasks = b; /* fib(n+1) */
    return 0;
}

const perf_bench_t perf_bench_fib = {
    .name = "fib",
    .what = "fork-join fib(n), one task per call, no cutoff",
    .param = {30, 35},
    .warm = {25, 30},
    .expect = fib_expect,
    .flags = PERF_F_RATE,
    .impl =
        {
            [IMPL_CREW] = {fib_crew, perf_crew_setup, perf_crew_teardown, NULL},
            [IMPL_SERIAL] = {fib_serial, NULL, NULL, NULL},
            [IMPL_OMP] = PERF_OMP(omp_fib),
            [IMPL_TBB] = PERF_TBB(tbb_fib),
            [IMPL_POOL] = PERF_POOL_NO_NESTING,
        },
};

const perf_bench_t perf_bench_fib_spawn = {
    .name = "fib_spawn",
    .what = "fib(n) as `fib`, with named children: crew_spawn + crew_join (crew only)",
    .param = {30, 35},
    .warm = {25, 30},
    .expect = fib_expect,
    .flags = PERF_F_RATE,
    .impl =
        {
            [IMPL_CREW] = {fib_crew_spawn, perf_crew_setup, perf_crew_teardown, NULL},
        },
};
