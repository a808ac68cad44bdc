/*
 * bench_loop.c - parallel loops: crew_for / crew_for_reduce against OpenMP
 * `parallel for` and oneTBB parallel_for / parallel_reduce (peer_omp.c,
 * peer_tbb.cpp), on the kernels of loops.h. Two rows per workload:
 *
 *   loop_<w>      crew automatic | omp schedule(static) | tbb auto_partitioner
 *   loop_<w>_dyn  crew automatic | omp schedule(dynamic, chunk) |
 *                 tbb simple_partitioner (grainsize chunk)
 *
 * (chunk: LP_CHUNK_* in loops.h). crew always runs with its defaults (no
 * grain), so each row compares the default crew loop with one schedule of
 * each peer; loop_reduce_dyn instead runs crew with CREW_FOR_DETERMINISTIC
 * (the fixed tree) against tbb::parallel_deterministic_reduce. The serial
 * row runs in the first row of each pair only. tasks = iterations (cell
 * updates for the stencil), so ns/task is ns per iteration.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "loops.h"
#include "peers.h"

/* ---- expected answers ------------------------------------------------------------ */

static int uniform_expect(long n, uint64_t *answer, uint64_t *tasks)
{
    *answer = lp_uniform(0, n);
    *tasks = (uint64_t)n;
    return 0;
}

static int irregular_expect(long n, uint64_t *answer, uint64_t *tasks)
{
    *answer = lp_irregular(0, n, n);
    *tasks = (uint64_t)n;
    return 0;
}

static int reduce_expect(long n, uint64_t *answer, uint64_t *tasks)
{
    *answer = lp_reduce_answer(n);
    *tasks = (uint64_t)n;
    return 0;
}

static int stencil_serial_grid(long n, uint64_t *answer)
{
    size_t cells = (size_t)(n + 2) * (size_t)(n + 2);
    double *a = malloc(cells * sizeof *a), *b = malloc(cells * sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return -1;
    }
    lp_stencil_init(a, n);
    lp_stencil_init(b, n);
    for (int64_t k = 0; k < lp_sweeps(n); k++) {
        double *t;
        lp_stencil_rows(a, b, n, 1, n + 1);
        t = a;
        a = b;
        b = t;
    }
    *answer = lp_stencil_sum(a, n);
    free(a);
    free(b);
    return 0;
}

static int stencil_expect(long n, uint64_t *answer, uint64_t *tasks)
{
    *tasks = (uint64_t)n * (uint64_t)n * (uint64_t)lp_sweeps(n);
    return stencil_serial_grid(n, answer);
}

/* ---- serial --------------------------------------------------------------------- */

static int uniform_serial(void *st, long n, perf_out_t *out)
{
    double t0 = perf_now();
    (void)st;
    out->answer = lp_uniform(0, n);
    out->seconds = perf_now() - t0;
    return 0;
}

static int irregular_serial(void *st, long n, perf_out_t *out)
{
    double t0 = perf_now();
    (void)st;
    out->answer = lp_irregular(0, n, n);
    out->seconds = perf_now() - t0;
    return 0;
}

static int reduce_serial(void *st, long n, perf_out_t *out)
{
    double *x = malloc((size_t)n * sizeof *x), t0, s;
    (void)st;
    if (!x)
        return perf_fail("out of memory");
    lp_reduce_fill(x, n);
    t0 = perf_now();
    s = lp_reduce(x, 0, n);
    out->seconds = perf_now() - t0;
    out->answer = (uint64_t)(s * 2.0);
    free(x);
    return 0;
}

static int stencil_serial(void *st, long n, perf_out_t *out)
{
    double t0 = perf_now();
    (void)st;
    if (stencil_serial_grid(n, &out->answer) != 0)
        return perf_fail("out of memory");
    out->seconds = perf_now() - t0;
    return 0;
}

/* ---- crew ----------------------------------------------------------------------- */

typedef struct acc {
    _Atomic uint64_t sum;
    long n;
} acc_t;

static void uniform_body(void *p, int64_t lo, int64_t hi)
{
    acc_t *a = p;
    /* relaxed: a sum read after the loop returned (its join orders it). */
    atomic_fetch_add_explicit(&a->sum, lp_uniform(lo, hi), memory_order_relaxed);
}

static void irregular_body(void *p, int64_t lo, int64_t hi)
{
    acc_t *a = p;
    /* relaxed: as above. */
    atomic_fetch_add_explicit(&a->sum, lp_irregular(lo, hi, a->n), memory_order_relaxed);
}

static int crew_loop(crew_t *ex, long n, crew_for_fn body, perf_out_t *out)
{
    acc_t a;
    int64_t done = 0;
    double t0;
    int rc;
    atomic_init(&a.sum, 0);
    a.n = n;
    t0 = perf_now();
    rc = crew_for(ex, 0, n, body, &a, NULL, &done);
    out->seconds = perf_now() - t0;
    if (rc != 0 || done != n)
        return perf_fail("crew_for: %s, %lld of %ld", crew_err_name(rc), (long long)done, n);
    out->answer = atomic_load(&a.sum);
    return 0;
}

static int uniform_crew(void *ex, long n, perf_out_t *out)
{
    return crew_loop(ex, n, uniform_body, out);
}

static int irregular_crew(void *ex, long n, perf_out_t *out)
{
    return crew_loop(ex, n, irregular_body, out);
}

static void dsum_id(void *arg, void *acc)
{
    (void)arg;
    *(double *)acc = 0.0;
}

static void dsum_body(void *arg, int64_t lo, int64_t hi, void *acc)
{
    *(double *)acc += lp_reduce(arg, lo, hi);
}

static void dsum_comb(void *arg, void *acc, const void *right)
{
    (void)arg;
    *(double *)acc += *(const double *)right;
}

static int reduce_crew_flags(crew_t *ex, long n, unsigned flags, perf_out_t *out)
{
    double *x = malloc((size_t)n * sizeof *x), t0, s = 0;
    crew_reduce_t r = {sizeof(double), dsum_id, dsum_body, dsum_comb, x};
    crew_for_opts_t o = CREW_FOR_OPTS_INIT;
    int rc;
    if (!x)
        return perf_fail("out of memory");
    lp_reduce_fill(x, n);
    o.flags = flags;
    t0 = perf_now();
    rc = crew_for_reduce(ex, 0, n, &r, &s, &o, NULL);
    out->seconds = perf_now() - t0;
    free(x);
    if (rc != 0)
        return perf_fail("crew_for_reduce: %s", crew_err_name(rc));
    out->answer = (uint64_t)(s * 2.0);
    return 0;
}

static int reduce_crew(void *ex, long n, perf_out_t *out)
{
    return reduce_crew_flags(ex, n, 0, out);
}

static int reduce_crew_det(void *ex, long n, perf_out_t *out)
{
    return reduce_crew_flags(ex, n, CREW_FOR_DETERMINISTIC, out);
}

typedef struct sweep {
    double *a, *b;
    int64_t n;
    int rc;
} sweep_t;

static void stencil_body(void *p, int64_t lo, int64_t hi)
{
    sweep_t *s = p;
    lp_stencil_rows(s->a, s->b, s->n, lo, hi);
}

/* One task runs every sweep, each a crew_for inside it (as an OpenMP
 * code would keep one parallel region around its sweeps). */
static int stencil_task(void *p)
{
    sweep_t *s = p;
    for (int64_t k = 0; k < lp_sweeps(s->n); k++) {
        double *t;
        int rc = crew_for(NULL, 1, s->n + 1, stencil_body, s, NULL, NULL);
        if (rc != 0) {
            s->rc = rc;
            return 1;
        }
        t = s->a;
        s->a = s->b;
        s->b = t;
    }
    return 0;
}

static int stencil_crew(void *ex, long n, perf_out_t *out)
{
    size_t cells = (size_t)(n + 2) * (size_t)(n + 2);
    sweep_t s = {malloc(cells * sizeof(double)), malloc(cells * sizeof(double)), n, 0};
    crew_id_t id;
    double t0;
    int rc;
    if (!s.a || !s.b) {
        free(s.a);
        free(s.b);
        return perf_fail("out of memory");
    }
    lp_stencil_init(s.a, n);
    lp_stencil_init(s.b, n);
    t0 = perf_now();
    rc = crew_submit(ex, stencil_task, &s, &id);
    if (rc == 0)
        rc = perf_crew_join_done(ex, id, "stencil");
    else
        perf_fail("crew_submit: %s", crew_err_name(rc));
    out->seconds = perf_now() - t0;
    if (s.rc != 0)
        perf_fail("crew_for: %s", crew_err_name(s.rc));
    out->answer = lp_stencil_sum(s.a, n);
    free(s.a);
    free(s.b);
    return rc == 0 ? 0 : -1;
}

/* ---- the tables ------------------------------------------------------------------ */

#define CREW_ENTRY(fn)                                                                             \
    {                                                                                              \
        fn, perf_crew_setup, perf_crew_teardown, NULL                                              \
    }
#define SERIAL_ENTRY(fn)                                                                           \
    {                                                                                              \
        fn, NULL, NULL, NULL                                                                       \
    }

const perf_bench_t perf_bench_loop_uniform = {
    .name = "loop_uniform",
    .what = "10^8 cheap iterations; omp static, tbb auto",
    .param = {100000000, 100000000},
    .warm = {1000000, 1000000},
    .expect = uniform_expect,
    .impl =
        {
            [IMPL_CREW] = CREW_ENTRY(uniform_crew),
            [IMPL_SERIAL] = SERIAL_ENTRY(uniform_serial),
            [IMPL_OMP] = PERF_OMP(omp_loop_uniform),
            [IMPL_TBB] = PERF_TBB(tbb_loop_uniform),
        },
};

const perf_bench_t perf_bench_loop_uniform_dyn = {
    .name = "loop_uniform_dyn",
    .what = "as loop_uniform; omp dynamic,8192, tbb simple,8192",
    .param = {100000000, 100000000},
    .warm = {1000000, 1000000},
    .expect = uniform_expect,
    .impl =
        {
            [IMPL_CREW] = CREW_ENTRY(uniform_crew),
            [IMPL_OMP] = PERF_OMP(omp_loop_uniform_dyn),
            [IMPL_TBB] = PERF_TBB(tbb_loop_uniform_simple),
        },
};

const perf_bench_t perf_bench_loop_irregular = {
    .name = "loop_irregular",
    .what = "iteration i costs O(i) + random; omp static, tbb auto",
    .param = {1000000, 10000000},
    .warm = {100000, 100000},
    .expect = irregular_expect,
    .impl =
        {
            [IMPL_CREW] = CREW_ENTRY(irregular_crew),
            [IMPL_SERIAL] = SERIAL_ENTRY(irregular_serial),
            [IMPL_OMP] = PERF_OMP(omp_loop_irregular),
            [IMPL_TBB] = PERF_TBB(tbb_loop_irregular),
        },
};

const perf_bench_t perf_bench_loop_irregular_dyn = {
    .name = "loop_irregular_dyn",
    .what = "as loop_irregular; omp dynamic,16, tbb simple,16",
    .param = {1000000, 10000000},
    .warm = {100000, 100000},
    .expect = irregular_expect,
    .impl =
        {
            [IMPL_CREW] = CREW_ENTRY(irregular_crew),
            [IMPL_OMP] = PERF_OMP(omp_loop_irregular_dyn),
            [IMPL_TBB] = PERF_TBB(tbb_loop_irregular_simple),
        },
};

const perf_bench_t perf_bench_loop_reduce = {
    .name = "loop_reduce",
    .what = "sum of n doubles; omp static, tbb auto parallel_reduce",
    .param = {10000000, 100000000},
    .warm = {100000, 100000},
    .expect = reduce_expect,
    .impl =
        {
            [IMPL_CREW] = CREW_ENTRY(reduce_crew),
            [IMPL_SERIAL] = SERIAL_ENTRY(reduce_serial),
            [IMPL_OMP] = PERF_OMP(omp_loop_reduce),
            [IMPL_TBB] = PERF_TBB(tbb_loop_reduce),
        },
};

const perf_bench_t perf_bench_loop_reduce_dyn = {
    .name = "loop_reduce_dyn",
    .what = "as loop_reduce; crew deterministic, omp dynamic,8192, tbb det. reduce,8192",
    .param = {10000000, 100000000},
    .warm = {100000, 100000},
    .expect = reduce_expect,
    .impl =
        {
            [IMPL_CREW] = CREW_ENTRY(reduce_crew_det),
            [IMPL_OMP] = PERF_OMP(omp_loop_reduce_dyn),
            [IMPL_TBB] = PERF_TBB(tbb_loop_reduce_det),
        },
};

const perf_bench_t perf_bench_loop_stencil = {
    .name = "loop_stencil",
    .what = "Jacobi on n^2 (100 sweeps from n=2048, else 20); omp static, tbb auto",
    .param = {1024, 4096},
    .warm = {128, 256},
    .expect = stencil_expect,
    .impl =
        {
            [IMPL_CREW] = CREW_ENTRY(stencil_crew),
            [IMPL_SERIAL] = SERIAL_ENTRY(stencil_serial),
            [IMPL_OMP] = PERF_OMP(omp_loop_stencil),
            [IMPL_TBB] = PERF_TBB(tbb_loop_stencil),
        },
};

const perf_bench_t perf_bench_loop_stencil_dyn = {
    .name = "loop_stencil_dyn",
    .what = "as loop_stencil; omp dynamic,1, tbb simple,1 (rows)",
    .param = {1024, 4096},
    .warm = {128, 256},
    .expect = stencil_expect,
    .impl =
        {
            [IMPL_CREW] = CREW_ENTRY(stencil_crew),
            [IMPL_OMP] = PERF_OMP(omp_loop_stencil_dyn),
            [IMPL_TBB] = PERF_TBB(tbb_loop_stencil_simple),
        },
};
