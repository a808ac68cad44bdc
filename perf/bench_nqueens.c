/*
 * bench_nqueens.c - count the solutions of n-queens with one task per
 * placement: at each row, one forked child per valid column, then one
 * crew_sync for all of them.
 * tasks = placements + the root.
 */
#include "kernels.h"
#include "peers.h"

typedef struct nq_arg {
    int n, row;     /* board[0..row-1] is set */
    uint64_t count; /* result: solutions below */
    signed char board[NQ_MAX];
} nq_arg_t;

static int nq_task(void *p);

/* The child that places a queen at (row, col) below board. */
static inline void nq_child(nq_arg_t *a, int n, int row, int col, const signed char *board)
{
    a->n = n;
    a->row = row + 1;
    a->count = 0;
    memcpy(a->board, board, NQ_MAX);
    a->board[row] = (signed char)col;
}

static uint64_t nq_rec(int n, int row, const signed char *board)
{
    if (row == n)
        return 1;
    nq_arg_t kids[NQ_MAX]; /* borrowed by the children until the sync */
    int k = 0;
    for (int col = 0; col < n; col++) {
        if (!nq_ok(board, row, col))
            continue;
        nq_arg_t *a = &kids[k++];
        nq_child(a, n, row, col, board);
        crew_fork(nq_task, a);
    }
    int rc = crew_sync_ok();
    if (rc != 0)
        perf_fail("crew_sync_ok: %s", crew_err_name(rc));
    uint64_t total = 0;
    while (k-- > 0)
        total += kids[k].count;
    return total;
}

static int nq_task(void *p)
{
    nq_arg_t *a = p;
    a->count = nq_rec(a->n, a->row, a->board);
    return 0;
}

static int nq_crew(void *ex, long n, perf_out_t *out)
{
    nq_arg_t root;
    memset(&root, 0, sizeof root);
    root.n = (int)n;
    crew_id_t id;
    int rc = crew_submit(ex, nq_task, &root, &id);
    if (rc != 0)
        return perf_fail("crew_submit: %s", crew_err_name(rc));
    if (perf_crew_join_done(ex, id, "nqueens root") != 0)
        return -1;
    out->answer = root.count;
    return 0;
}

static int nq_serial_run(void *st, long n, perf_out_t *out)
{
    (void)st;
    signed char board[NQ_MAX] = {0};
    uint64_t nodes = 0;
    out->answer = nq_serial((int)n, 0, board, &nodes);
    return 0;
}

static int nq_expect(long n, uint64_t *answer, uint64_t *tasks)
{
    /* Known solution counts (OEIS A000170), checked independently of the
     * serial code the parallel versions share their kernel with. */
    static const uint64_t known[NQ_MAX + 1] = {
        1, 1, 0, 0, 2, 10, 4, 40, 92, 352, 724, 2680, 14200, 73712, 365596, 2279184, 14772512};
    if (n < 1 || n > 14) /* larger boards take minutes */
        return -1;
    signed char board[NQ_MAX] = {0};
    uint64_t nodes = 0;
    uint64_t sol = nq_serial((int)n, 0, board, &nodes);
    if (sol != known[n])
        return -1;
    *answer = sol;
    *tasks = nodes + 1;
    return 0;
}

/* The same formulation with the runtime taken out: each child's arguments
 * filled and its board copied as above, the children then called in the
 * order crew_sync_ok runs them (newest first). What is left over serial is
 * the formulation's own cost, which every parallel version pays. */
static uint64_t nq_calls_rec(int n, int row, const signed char *board)
{
    if (row == n)
        return 1;
    nq_arg_t kids[NQ_MAX];
    int k = 0;
    for (int col = 0; col < n; col++)
        if (nq_ok(board, row, col))
            nq_child(&kids[k++], n, row, col, board);
    for (int i = k - 1; i >= 0; i--)
        kids[i].count = nq_calls_rec(kids[i].n, kids[i].row, kids[i].board);
    uint64_t total = 0;
    while (k-- > 0)
        total += kids[k].count;
    return total;
}

static int nq_calls_run(void *st, long n, perf_out_t *out)
{
    (void)st;
    signed char board[NQ_MAX] = {0};
    out->answer = nq_calls_rec((int)n, 0, board);
    return 0;
}

#define NQ_CALLS_ONLY PERF_SKIP("a reference row: nqueens's tasks run as plain calls (serial)")

const perf_bench_t perf_bench_nqueens_calls = {
    .name = "nqueens_calls",
    .what = "nqueens's parallel formulation as plain calls, no runtime",
    .param = {11, 12},
    .warm = {9, 10},
    .expect = nq_expect,
    .flags = PERF_F_RATE,
    .impl =
        {
            [IMPL_CREW] = NQ_CALLS_ONLY,
            [IMPL_SERIAL] = {nq_calls_run, NULL, NULL, NULL},
            [IMPL_OMP] = NQ_CALLS_ONLY,
            [IMPL_TBB] = NQ_CALLS_ONLY,
            [IMPL_POOL] = NQ_CALLS_ONLY,
        },
};

const perf_bench_t perf_bench_nqueens = {
    .name = "nqueens",
    .what = "n-queens solutions, one task per placement",
    .param = {11, 12},
    .warm = {9, 10},
    .expect = nq_expect,
    .flags = PERF_F_RATE,
    .impl =
        {
            [IMPL_CREW] = {nq_crew, perf_crew_setup, perf_crew_teardown, NULL},
            [IMPL_SERIAL] = {nq_serial_run, NULL, NULL, NULL},
            [IMPL_OMP] = PERF_OMP(omp_nqueens),
            [IMPL_TBB] = PERF_TBB(tbb_nqueens),
            [IMPL_POOL] = PERF_POOL_NO_NESTING,
        },
};
