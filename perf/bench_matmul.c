/*
 * bench_matmul.c - coarse-grained blocked matrix multiply C = A * B (n x n
 * doubles), one task per MM_TILE x MM_TILE tile of C. The answer is a
 * weighted checksum of C, exact in double, checked against a closed form
 * (sum_k (sum_i wi A_ik) (sum_j B_kj wj)). tasks = tiles.
 */
#include <stdlib.h>

#include "kernels.h"
#include "matmul.h"
#include "peers.h"

int mm_alloc(long n, mm_t *m)
{
    size_t sz = (size_t)n * (size_t)n * sizeof(double);
    m->n = n;
    m->tiles = n / MM_TILE;
    m->a = malloc(sz);
    m->b = malloc(sz);
    m->c = malloc(sz);
    if (!m->a || !m->b || !m->c || n % MM_TILE != 0) {
        mm_free(m);
        return perf_fail("matmul: n %% %d != 0 or out of memory", MM_TILE);
    }
    for (long i = 0; i < n; i++)
        for (long j = 0; j < n; j++) {
            m->a[i * n + j] = mm_a(i, j);
            m->b[i * n + j] = mm_b(i, j);
            m->c[i * n + j] = -1.0;
        }
    return 0;
}

void mm_free(mm_t *m)
{
    free(m->a);
    free(m->b);
    free(m->c);
    m->a = m->b = m->c = NULL;
}

uint64_t mm_checksum(const mm_t *m)
{
    double s = 0.0;
    for (long i = 0; i < m->n; i++)
        for (long j = 0; j < m->n; j++)
            s += m->c[i * m->n + j] * mm_wi(i) * mm_wj(j);
    return (uint64_t)(int64_t)s;
}

void mm_do_tile(const mm_t *m, long t)
{
    mm_tile(m->n, m->a, m->b, m->c, t / m->tiles, t % m->tiles);
}

/* ---- crew: all tiles submitted as one batch into a group --------------- */

typedef struct mm_job {
    const mm_t *m;
    long t;
} mm_job_t;

static int mm_task(void *p)
{
    const mm_job_t *j = p;
    mm_do_tile(j->m, j->t);
    return 0;
}

/* Submit every tile as one batch into a group and wait for the group. */
static void mm_crew_tiles(crew_t *ex, const mm_t *m, mm_job_t *jobs, void **args, perf_out_t *out)
{
    long nt = m->tiles * m->tiles;
    crew_group_t *g = NULL;
    int rc = crew_group_create(ex, NULL, 0, &g);
    if (rc != 0) {
        perf_fail("crew_group_create: %s", crew_err_name(rc));
        return;
    }
    for (long t = 0; t < nt; t++) {
        jobs[t] = (mm_job_t){m, t};
        args[t] = &jobs[t];
    }
    crew_task_desc_t d = {0};
    d.fn = mm_task;
    d.group = g;
    double t0 = perf_now();
    rc = crew_submit_batch(ex, &d, args, (size_t)nt, NULL);
    if (rc != 0)
        perf_fail("crew_submit_batch: %s", crew_err_name(rc));
    crew_status_t st = CREW_TASK_QUEUED;
    int wrc = crew_group_wait(g, CREW_FOREVER, &st);
    out->seconds = perf_now() - t0;
    if (wrc != 0 || st != CREW_TASK_DONE)
        perf_fail("crew_group_wait: %s, status %s", crew_err_name(wrc), crew_status_name(st));
    if ((rc = crew_group_destroy(g)) != 0)
        perf_fail("crew_group_destroy: %s", crew_err_name(rc));
}

static int mm_crew(void *ex, long n, perf_out_t *out)
{
    mm_t m;
    if (mm_alloc(n, &m) != 0)
        return -1;
    size_t nt = (size_t)(m.tiles * m.tiles);
    mm_job_t *jobs = malloc(nt * sizeof *jobs);
    void **args = malloc(nt * sizeof *args);
    if (jobs && args) {
        mm_crew_tiles(ex, &m, jobs, args, out);
        out->answer = mm_checksum(&m);
    } else {
        perf_fail("out of memory");
    }
    free(args);
    free(jobs);
    mm_free(&m);
    return 0;
}

static int mm_serial(void *st, long n, perf_out_t *out)
{
    (void)st;
    mm_t m;
    if (mm_alloc(n, &m) != 0)
        return -1;
    double t0 = perf_now();
    for (long t = 0; t < m.tiles * m.tiles; t++)
        mm_do_tile(&m, t);
    out->seconds = perf_now() - t0;
    out->answer = mm_checksum(&m);
    mm_free(&m);
    return 0;
}

static int mm_expect(long n, uint64_t *answer, uint64_t *tasks)
{
    if (n < MM_TILE || n % MM_TILE != 0 || n > 8192)
        return -1;
    double s = 0.0;
    for (long k = 0; k < n; k++) {
        double ca = 0.0, rb = 0.0;
        for (long i = 0; i < n; i++)
            ca += mm_wi(i) * mm_a(i, k);
        for (long j = 0; j < n; j++)
            rb += mm_b(k, j) * mm_wj(j);
        s += ca * rb;
    }
    *answer = (uint64_t)(int64_t)s;
    *tasks = (uint64_t)((n / MM_TILE) * (n / MM_TILE));
    return 0;
}

const perf_bench_t perf_bench_matmul = {
    .name = "matmul",
    .what = "blocked n x n matrix multiply, one task per 64x64 tile",
    .param = {512, 1024},
    .warm = {128, 256},
    .expect = mm_expect,
    .impl =
        {
            [IMPL_CREW] = {mm_crew, perf_crew_setup, perf_crew_teardown, NULL},
            [IMPL_SERIAL] = {mm_serial, NULL, NULL, NULL},
            [IMPL_OMP] = PERF_OMP(omp_matmul),
            [IMPL_TBB] = PERF_TBB(tbb_matmul),
            [IMPL_POOL] = PERF_POOL(pool_matmul),
        },
};
