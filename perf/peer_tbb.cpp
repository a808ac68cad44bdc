// peer_tbb.cpp - the oneTBB peer (C++17), behind the C interface of peers.h.
//
// Fork-join benchmarks use tbb::task_group (run one child per task, wait),
// inside a task_arena of `workers` threads (the calling thread takes one
// slot, as TBB intends). submit_single uses a second arena with no slot
// reserved for the caller, fed by task_arena::enqueue (TBB's
// fire-and-forget submission); the tasks count themselves and the last one
// wakes the main thread. matmul uses tbb::parallel_for over the tiles.
// Loops (loop_*): parallel_for / parallel_reduce over a blocked_range with
// the auto_partitioner (TBB's default) or a simple_partitioner and a
// grainsize, and parallel_deterministic_reduce for the deterministic row.
// A global_control lifts TBB's default worker limit (CPUs - 1) to what the
// arenas need.
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/parallel_reduce.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>
#include <oneapi/tbb/version.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "kernels.h"
#include "loops.h"
#include "matmul.h"
// crew.h declares functions named like their struct tags (crew_stats,
// crew_group_info), which C++'s -Wshadow reports; not this file's business.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#include "peers.h"
#pragma GCC diagnostic pop

namespace
{

struct tbb_state {
    explicit tbb_state(unsigned w)
        : control(tbb::global_control::max_allowed_parallelism, w + 1), arena(static_cast<int>(w)),
          ext(static_cast<int>(w), 0)
    {
        arena.initialize();
        ext.initialize();
    }
    tbb::global_control control;
    tbb::task_arena arena; // w threads: the caller + (w - 1) workers
    tbb::task_arena ext;   // w workers, the caller only submits
};

long fib(int n)
{
    if (n < 2)
        return n;
    long x, y;
    tbb::task_group g;
    g.run([&] { x = fib(n - 1); });
    y = fib(n - 2);
    g.wait();
    return x + y;
}

uint64_t nq(int n, int row, const signed char *board)
{
    if (row == n)
        return 1;
    uint64_t counts[NQ_MAX];
    signed char boards[NQ_MAX][NQ_MAX];
    int k = 0;
    tbb::task_group g;
    for (int col = 0; col < n; col++) {
        if (!nq_ok(board, row, col))
            continue;
        memcpy(boards[k], board, NQ_MAX);
        boards[k][row] = static_cast<signed char>(col);
        g.run([&counts, &boards, k, n, row] { counts[k] = nq(n, row + 1, boards[k]); });
        k++;
    }
    g.wait();
    uint64_t total = 0;
    for (int i = 0; i < k; i++)
        total += counts[i];
    return total;
}

uint64_t uts(uint64_t h)
{
    uint64_t counts[UTS_M];
    int k = uts_kids(h);
    tbb::task_group g;
    for (int i = 0; i < k; i++)
        g.run([&counts, h, i] { counts[i] = uts(uts_child(h, i)); });
    g.wait();
    uint64_t n = 1;
    for (int i = 0; i < k; i++)
        n += counts[i];
    return n;
}

} // namespace

extern "C" {

void *tbb_setup(unsigned workers)
{
    try {
        return new tbb_state(workers);
    } catch (...) {
        perf_fail("tbb: setup failed");
        return nullptr;
    }
}

void tbb_teardown(void *st) { delete static_cast<tbb_state *>(st); }

const char *tbb_version(void) { return "oneTBB " TBB_VERSION_STRING; }

int tbb_fib(void *st, long n, perf_out_t *out)
{
    long r = 0;
    static_cast<tbb_state *>(st)->arena.execute([&] { r = fib(static_cast<int>(n)); });
    out->answer = static_cast<uint64_t>(r);
    return 0;
}

int tbb_nqueens(void *st, long n, perf_out_t *out)
{
    uint64_t r = 0;
    signed char board[NQ_MAX] = {0};
    static_cast<tbb_state *>(st)->arena.execute([&] { r = nq(static_cast<int>(n), 0, board); });
    out->answer = r;
    return 0;
}

int tbb_uts(void *st, long b0, perf_out_t *out)
{
    std::vector<uint64_t> counts(static_cast<size_t>(b0));
    uint64_t root = uts_root();
    static_cast<tbb_state *>(st)->arena.execute([&] {
        tbb::task_group g;
        for (long i = 0; i < b0; i++)
            g.run([&counts, root, i] {
                counts[static_cast<size_t>(i)] = uts(uts_child(root, static_cast<int>(i)));
            });
        g.wait();
    });
    uint64_t n = 1;
    for (uint64_t c : counts)
        n += c;
    out->answer = n;
    return 0;
}

int tbb_submit_single(void *st, long n, perf_out_t *out)
{
    auto *s = static_cast<tbb_state *>(st);
    std::unique_ptr<unsigned char[]> slots(new (std::nothrow) unsigned char[n]());
    if (!slots)
        return perf_fail("out of memory");
    std::atomic<long> ran{0};
    std::mutex mu;
    std::condition_variable cv;
    bool all_ran = false;

    double t0 = perf_now();
    for (long i = 0; i < n; i++) {
        s->ext.enqueue([&, p = &slots[static_cast<size_t>(i)]] {
            perf_mark(p);
            if (ran.fetch_add(1, std::memory_order_acq_rel) + 1 == n) {
                std::lock_guard<std::mutex> l(mu);
                all_ran = true;
                cv.notify_one();
            }
        });
    }
    {
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] { return all_ran; });
    }
    out->seconds = perf_now() - t0;
    out->answer = perf_count_marks(slots.get(), n);
    return 0;
}

int tbb_matmul(void *st, long n, perf_out_t *out)
{
    mm_t m;
    if (mm_alloc(n, &m) != 0)
        return -1;
    long nt = m.tiles * m.tiles;
    double t0 = perf_now();
    static_cast<tbb_state *>(st)->arena.execute(
        [&] { tbb::parallel_for(0L, nt, [&m](long t) { mm_do_tile(&m, t); }); });
    out->seconds = perf_now() - t0;
    out->answer = mm_checksum(&m);
    mm_free(&m);
    return 0;
}

} // extern "C"

// ---- parallel loops (bench_loop.c, loops.h) ------------------------------------

namespace
{

using range_t = tbb::blocked_range<long>;

template <typename Part> uint64_t sum_ranges(long n, long grain, Part part, bool irregular)
{
    return tbb::parallel_reduce(
        range_t(0L, n, static_cast<size_t>(grain)), uint64_t{0},
        [n, irregular](const range_t &r, uint64_t s) {
            return s + (irregular ? lp_irregular(r.begin(), r.end(), n)
                                  : lp_uniform(r.begin(), r.end()));
        },
        [](uint64_t a, uint64_t b) { return a + b; }, part);
}

int loop_ints(void *st, long n, perf_out_t *out, bool simple, long chunk, bool irregular)
{
    uint64_t s = 0;
    double t0 = perf_now();
    static_cast<tbb_state *>(st)->arena.execute([&] {
        if (simple)
            s = sum_ranges(n, chunk, tbb::simple_partitioner(), irregular);
        else
            s = sum_ranges(n, 1, tbb::auto_partitioner(), irregular);
    });
    out->seconds = perf_now() - t0;
    out->answer = s;
    return 0;
}

int loop_doubles(void *st, long n, perf_out_t *out, bool det)
{
    std::unique_ptr<double[]> x(new (std::nothrow) double[static_cast<size_t>(n)]);
    if (!x)
        return perf_fail("out of memory");
    lp_reduce_fill(x.get(), n);
    const double *p = x.get();
    auto body = [p](const range_t &r, double s) { return s + lp_reduce(p, r.begin(), r.end()); };
    auto join = [](double a, double b) { return a + b; };
    double s = 0;
    double t0 = perf_now();
    static_cast<tbb_state *>(st)->arena.execute([&] {
        if (det)
            s = tbb::parallel_deterministic_reduce(range_t(0L, n, LP_CHUNK_REDUCE), 0.0, body, join,
                                                   tbb::simple_partitioner());
        else
            s = tbb::parallel_reduce(range_t(0L, n), 0.0, body, join, tbb::auto_partitioner());
    });
    out->seconds = perf_now() - t0;
    out->answer = static_cast<uint64_t>(s * 2.0);
    return 0;
}

int loop_stencil(void *st, long n, perf_out_t *out, bool simple)
{
    size_t cells = static_cast<size_t>(n + 2) * static_cast<size_t>(n + 2);
    std::unique_ptr<double[]> ga(new (std::nothrow) double[cells]);
    std::unique_ptr<double[]> gb(new (std::nothrow) double[cells]);
    if (!ga || !gb)
        return perf_fail("out of memory");
    double *a = ga.get(), *b = gb.get();
    lp_stencil_init(a, n);
    lp_stencil_init(b, n);
    double t0 = perf_now();
    static_cast<tbb_state *>(st)->arena.execute([&] {
        for (long k = 0; k < lp_sweeps(n); k++) {
            auto rows = [a, b, n](const range_t &r) {
                lp_stencil_rows(a, b, n, r.begin(), r.end());
            };
            if (simple)
                tbb::parallel_for(range_t(1L, n + 1, LP_CHUNK_STENCIL), rows,
                                  tbb::simple_partitioner());
            else
                tbb::parallel_for(range_t(1L, n + 1), rows, tbb::auto_partitioner());
            std::swap(a, b);
        }
    });
    out->seconds = perf_now() - t0;
    out->answer = lp_stencil_sum(a, n);
    return 0;
}

} // namespace

extern "C" {

int tbb_loop_uniform(void *st, long n, perf_out_t *out)
{
    return loop_ints(st, n, out, false, 1, false);
}

int tbb_loop_uniform_simple(void *st, long n, perf_out_t *out)
{
    return loop_ints(st, n, out, true, LP_CHUNK_UNIFORM, false);
}

int tbb_loop_irregular(void *st, long n, perf_out_t *out)
{
    return loop_ints(st, n, out, false, 1, true);
}

int tbb_loop_irregular_simple(void *st, long n, perf_out_t *out)
{
    return loop_ints(st, n, out, true, LP_CHUNK_IRREGULAR, true);
}

int tbb_loop_reduce(void *st, long n, perf_out_t *out) { return loop_doubles(st, n, out, false); }

int tbb_loop_reduce_det(void *st, long n, perf_out_t *out)
{
    return loop_doubles(st, n, out, true);
}

int tbb_loop_stencil(void *st, long n, perf_out_t *out) { return loop_stencil(st, n, out, false); }

int tbb_loop_stencil_simple(void *st, long n, perf_out_t *out)
{
    return loop_stencil(st, n, out, true);
}

} // extern "C"
