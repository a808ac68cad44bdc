/*
 * peer_omp.c - the OpenMP peer (compiled with -fopenmp; gcc: libgomp).
 * Task benchmarks use `omp task` + `omp taskwait` with no cutoff, started
 * by `omp parallel` + `omp single`; the team size is omp_set_num_threads
 * (workers). submit_single: a team of workers + 1 threads where the
 * `single` thread plays the external submitter. matmul: `omp parallel for`
 * over the tiles, schedule(dynamic). Loops (loop_*): `parallel for` with
 * schedule(static) or schedule(dynamic, chunk) and the reduction clause.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels.h"
#include "loops.h"
#include "matmul.h"
#include "peers.h"

static unsigned omp_workers;

void *omp_setup(unsigned workers)
{
    omp_workers = workers;
    omp_set_num_threads((int)workers);
    omp_set_dynamic(0);
    return &omp_workers;
}

const char *omp_version(void)
{
    static char v[32];
    snprintf(v, sizeof v, "_OPENMP %d", _OPENMP);
    return v;
}

/* ---- fib --------------------------------------------------------------- */

static long fib(int n)
{
    if (n < 2)
        return n;
    long x, y;
#pragma omp task shared(x) firstprivate(n)
    x = fib(n - 1);
    y = fib(n - 2);
#pragma omp taskwait
    return x + y;
}

int omp_fib(void *st, long n, perf_out_t *out)
{
    (void)st;
    long r = 0;
#pragma omp parallel shared(r, n)
#pragma omp single
    r = fib((int)n);
    out->answer = (uint64_t)r;
    return 0;
}

/* ---- nqueens ----------------------------------------------------------- */

static uint64_t nq(int n, int row, const signed char *board)
{
    if (row == n)
        return 1;
    uint64_t counts[NQ_MAX];
    signed char boards[NQ_MAX][NQ_MAX];
    int k = 0;
    for (int col = 0; col < n; col++) {
        if (!nq_ok(board, row, col))
            continue;
        memcpy(boards[k], board, NQ_MAX);
        boards[k][row] = (signed char)col;
#pragma omp task default(none) shared(counts, boards) firstprivate(k, n, row)
        counts[k] = nq(n, row + 1, boards[k]);
        k++;
    }
#pragma omp taskwait
    uint64_t total = 0;
    for (int i = 0; i < k; i++)
        total += counts[i];
    return total;
}

int omp_nqueens(void *st, long n, perf_out_t *out)
{
    (void)st;
    uint64_t r = 0;
    signed char board[NQ_MAX] = {0};
#pragma omp parallel shared(r, n, board)
#pragma omp single
    r = nq((int)n, 0, board);
    out->answer = r;
    return 0;
}

/* ---- uts --------------------------------------------------------------- */

static uint64_t uts(uint64_t h)
{
    uint64_t counts[UTS_M];
    int k = uts_kids(h);
    for (int i = 0; i < k; i++) {
#pragma omp task default(none) shared(counts) firstprivate(i, h)
        counts[i] = uts(uts_child(h, i));
    }
#pragma omp taskwait
    uint64_t n = 1;
    for (int i = 0; i < k; i++)
        n += counts[i];
    return n;
}

int omp_uts(void *st, long b0, perf_out_t *out)
{
    (void)st;
    uint64_t *counts = calloc((size_t)b0, sizeof *counts);
    if (!counts)
        return perf_fail("out of memory");
    uint64_t root = uts_root();
#pragma omp parallel shared(counts, root, b0)
#pragma omp single
    {
        for (long i = 0; i < b0; i++) {
#pragma omp task default(none) shared(counts, root) firstprivate(i)
            counts[i] = uts(uts_child(root, (int)i));
        }
#pragma omp taskwait
    }
    uint64_t n = 1;
    for (long i = 0; i < b0; i++)
        n += counts[i];
    free(counts);
    out->answer = n;
    return 0;
}

/* ---- submit_single ----------------------------------------------------- */

int omp_submit_single(void *st, long n, perf_out_t *out)
{
    (void)st;
    unsigned char *slots = calloc((size_t)n, 1);
    if (!slots)
        return perf_fail("out of memory");
    double t0 = perf_now();
#pragma omp parallel num_threads(omp_workers + 1) shared(slots, n)
#pragma omp single
    for (long i = 0; i < n; i++) {
#pragma omp task default(none) shared(slots) firstprivate(i)
        perf_mark(&slots[i]);
    }
    /* the barrier closing `single` waits for every task */
    out->seconds = perf_now() - t0;
    out->answer = perf_count_marks(slots, n);
    free(slots);
    return 0;
}

/* ---- matmul ------------------------------------------------------------ */

int omp_matmul(void *st, long n, perf_out_t *out)
{
    (void)st;
    mm_t m;
    if (mm_alloc(n, &m) != 0)
        return -1;
    long nt = m.tiles * m.tiles;
    double t0 = perf_now();
#pragma omp parallel for schedule(dynamic, 1) shared(m, nt)
    for (long t = 0; t < nt; t++)
        mm_do_tile(&m, t);
    out->seconds = perf_now() - t0;
    out->answer = mm_checksum(&m);
    mm_free(&m);
    return 0;
}

/* ---- parallel loops (bench_loop.c, loops.h) ------------------------------------ */
/* `omp parallel for` with schedule(static) or schedule(dynamic, chunk), and
 * the reduction clause; the stencil keeps one parallel region around its
 * sweeps, with an `omp for` (and its barrier) per sweep. */

int omp_loop_uniform(void *st, long n, perf_out_t *out)
{
    uint64_t s = 0;
    double t0 = perf_now();
    (void)st;
#pragma omp parallel for schedule(static) reduction(+ : s)
    for (long i = 0; i < n; i++)
        s += lp_mix((uint64_t)i);
    out->seconds = perf_now() - t0;
    out->answer = s;
    return 0;
}

int omp_loop_uniform_dyn(void *st, long n, perf_out_t *out)
{
    uint64_t s = 0;
    double t0 = perf_now();
    (void)st;
#pragma omp parallel for schedule(dynamic, LP_CHUNK_UNIFORM) reduction(+ : s)
    for (long i = 0; i < n; i++)
        s += lp_mix((uint64_t)i);
    out->seconds = perf_now() - t0;
    out->answer = s;
    return 0;
}

int omp_loop_irregular(void *st, long n, perf_out_t *out)
{
    uint64_t s = 0;
    double t0 = perf_now();
    (void)st;
#pragma omp parallel for schedule(static) reduction(+ : s)
    for (long i = 0; i < n; i++)
        s += lp_irregular_one(i, n);
    out->seconds = perf_now() - t0;
    out->answer = s;
    return 0;
}

int omp_loop_irregular_dyn(void *st, long n, perf_out_t *out)
{
    uint64_t s = 0;
    double t0 = perf_now();
    (void)st;
#pragma omp parallel for schedule(dynamic, LP_CHUNK_IRREGULAR) reduction(+ : s)
    for (long i = 0; i < n; i++)
        s += lp_irregular_one(i, n);
    out->seconds = perf_now() - t0;
    out->answer = s;
    return 0;
}

static int omp_reduce(long n, bool dyn, perf_out_t *out)
{
    double *x = malloc((size_t)n * sizeof *x), s = 0, t0;
    if (!x)
        return perf_fail("out of memory");
    lp_reduce_fill(x, n);
    t0 = perf_now();
    if (dyn) {
#pragma omp parallel for schedule(dynamic, LP_CHUNK_REDUCE) reduction(+ : s)
        for (long i = 0; i < n; i++)
            s += x[i];
    } else {
#pragma omp parallel for schedule(static) reduction(+ : s)
        for (long i = 0; i < n; i++)
            s += x[i];
    }
    out->seconds = perf_now() - t0;
    out->answer = (uint64_t)(s * 2.0);
    free(x);
    return 0;
}

int omp_loop_reduce(void *st, long n, perf_out_t *out)
{
    (void)st;
    return omp_reduce(n, false, out);
}

int omp_loop_reduce_dyn(void *st, long n, perf_out_t *out)
{
    (void)st;
    return omp_reduce(n, true, out);
}

static int omp_stencil(long n, bool dyn, perf_out_t *out)
{
    size_t cells = (size_t)(n + 2) * (size_t)(n + 2);
    double *a = malloc(cells * sizeof *a), *b = malloc(cells * sizeof *b), t0;
    long sweeps = lp_sweeps(n);
    if (!a || !b) {
        free(a);
        free(b);
        return perf_fail("out of memory");
    }
    lp_stencil_init(a, n);
    lp_stencil_init(b, n);
    t0 = perf_now();
#pragma omp parallel shared(a, b)
    for (long k = 0; k < sweeps; k++) {
        if (dyn) {
#pragma omp for schedule(dynamic, LP_CHUNK_STENCIL)
            for (long r = 1; r <= n; r++)
                lp_stencil_rows(a, b, n, r, r + 1);
        } else {
#pragma omp for schedule(static)
            for (long r = 1; r <= n; r++)
                lp_stencil_rows(a, b, n, r, r + 1);
        }
#pragma omp single
        {
            double *t = a;
            a = b;
            b = t;
        }
    }
    out->seconds = perf_now() - t0;
    out->answer = lp_stencil_sum(a, n);
    free(a);
    free(b);
    return 0;
}

int omp_loop_stencil(void *st, long n, perf_out_t *out)
{
    (void)st;
    return omp_stencil(n, false, out);
}

int omp_loop_stencil_dyn(void *st, long n, perf_out_t *out)
{
    (void)st;
    return omp_stencil(n, true, out);
}
