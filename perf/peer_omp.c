/*
 * peer_omp.c - the OpenMP peer (compiled with -fopenmp; gcc: libgomp).
 * Task benchmarks use `omp task` + `omp taskwait` with no cutoff, started
 * by `omp parallel` + `omp single`; the team size is omp_set_num_threads
 * (workers). submit_single: a team of workers + 1 threads where the
 * `single` thread plays the external submitter. matmul: `omp parallel for`
 * over the tiles, schedule(dynamic).
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels.h"
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
