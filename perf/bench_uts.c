/*
 * bench_uts.c - unbalanced tree search, binomial tree of the T3 shape
 * (root with b0 children, q = 0.124875, m = 8; see kernels.h for the hash).
 * Fork-join: one task per node, which forks its children, syncs them and
 * returns the node count of its subtree. param = b0; tasks = nodes.
 */
#include <stdlib.h>

#include "kernels.h"
#include "peers.h"

typedef struct uts_arg {
    uint64_t h;
    uint64_t count; /* result: nodes of the subtree */
} uts_arg_t;

static int uts_task(void *p);

/* Fork one child per child of h, sync them all, return their node sum. */
static uint64_t uts_children(uint64_t h, int k, uts_arg_t *kids)
{
    for (int i = 0; i < k; i++) {
        kids[i].h = uts_child(h, i);
        kids[i].count = 0;
        crew_fork(uts_task, &kids[i]);
    }
    int rc = crew_sync_ok();
    if (rc != 0)
        perf_fail("crew_sync_ok: %s", crew_err_name(rc));
    uint64_t n = 0;
    for (int i = 0; i < k; i++)
        n += kids[i].count;
    return n;
}

static int uts_task(void *p)
{
    uts_arg_t *a = p;
    int k = uts_kids(a->h);
    uts_arg_t kids[UTS_M];
    a->count = 1 + (k ? uts_children(a->h, k, kids) : 0);
    return 0;
}

typedef struct uts_root_arg {
    int b0;
    uint64_t count;
} uts_root_arg_t;

static int uts_root_task(void *p)
{
    uts_root_arg_t *r = p;
    uts_arg_t *kids = malloc((size_t)r->b0 * sizeof *kids);
    if (!kids)
        return perf_fail("out of memory");
    r->count = 1 + uts_children(uts_root(), r->b0, kids);
    free(kids);
    return 0;
}

static int uts_crew(void *ex, long b0, perf_out_t *out)
{
    uts_root_arg_t root = {(int)b0, 0};
    crew_id_t id;
    int rc = crew_submit(ex, uts_root_task, &root, &id);
    if (rc != 0)
        return perf_fail("crew_submit: %s", crew_err_name(rc));
    if (perf_crew_join_done(ex, id, "uts root") != 0)
        return -1;
    out->answer = root.count;
    return 0;
}

static uint64_t uts_serial_count(long b0)
{
    uint64_t n = 1, r = uts_root();
    for (long i = 0; i < b0; i++)
        n += uts_serial(uts_child(r, (int)i));
    return n;
}

static int uts_serial_run(void *st, long b0, perf_out_t *out)
{
    (void)st;
    out->answer = uts_serial_count(b0);
    return 0;
}

static int uts_expect(long b0, uint64_t *answer, uint64_t *tasks)
{
    if (b0 < 1 || b0 > 1000000)
        return -1;
    *answer = *tasks = uts_serial_count(b0);
    return 0;
}

const perf_bench_t perf_bench_uts = {
    .name = "uts",
    .what = "unbalanced tree (T3 binomial, splitmix64 hash), task per node",
    .param = {200, 2000},
    .warm = {200, 1000}, /* b0 <= 11 is ~30 nodes, >= 12 holds a 293k subtree */
    .expect = uts_expect,
    .flags = PERF_F_RATE,
    .impl =
        {
            [IMPL_CREW] = {uts_crew, perf_crew_setup, perf_crew_teardown, NULL},
            [IMPL_SERIAL] = {uts_serial_run, NULL, NULL, NULL},
            [IMPL_OMP] = PERF_OMP(omp_uts),
            [IMPL_TBB] = PERF_TBB(tbb_uts),
            [IMPL_POOL] = PERF_POOL(pool_uts),
        },
};
