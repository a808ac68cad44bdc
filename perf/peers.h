/*
 * peers.h - the peer implementations (OpenMP, oneTBB, a hand-written pool),
 * as perf_entry_t initialisers for the bench tables.
 *
 * CMake defines PERF_HAVE_OMP / PERF_HAVE_TBB when the peer was found; a
 * missing peer turns into a skip entry with a reason, never into a fake.
 */
#ifndef CREW_PERF_PEERS_H
#define CREW_PERF_PEERS_H

#include "perf.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PERF_SKIP(why)                                                                             \
    {                                                                                              \
        NULL, NULL, NULL, why                                                                      \
    }

/* ---- OpenMP (peer_omp.c) ----------------------------------------------- */
#ifdef PERF_HAVE_OMP
void *omp_setup(unsigned workers);
int omp_fib(void *st, long n, perf_out_t *out);
int omp_nqueens(void *st, long n, perf_out_t *out);
int omp_uts(void *st, long b0, perf_out_t *out);
int omp_submit_single(void *st, long n, perf_out_t *out);
int omp_matmul(void *st, long n, perf_out_t *out);
int omp_loop_uniform(void *st, long n, perf_out_t *out);
int omp_loop_uniform_dyn(void *st, long n, perf_out_t *out);
int omp_loop_irregular(void *st, long n, perf_out_t *out);
int omp_loop_irregular_dyn(void *st, long n, perf_out_t *out);
int omp_loop_reduce(void *st, long n, perf_out_t *out);
int omp_loop_reduce_dyn(void *st, long n, perf_out_t *out);
int omp_loop_stencil(void *st, long n, perf_out_t *out);
int omp_loop_stencil_dyn(void *st, long n, perf_out_t *out);
const char *omp_version(void);
#define PERF_OMP(fn)                                                                               \
    {                                                                                              \
        fn, omp_setup, NULL, NULL                                                                  \
    }
#else
#define PERF_OMP(fn) PERF_SKIP("OpenMP not found at configure time")
#endif

/* ---- oneTBB (peer_tbb.cpp) --------------------------------------------- */
#ifdef PERF_HAVE_TBB
void *tbb_setup(unsigned workers);
void tbb_teardown(void *st);
int tbb_fib(void *st, long n, perf_out_t *out);
int tbb_nqueens(void *st, long n, perf_out_t *out);
int tbb_uts(void *st, long b0, perf_out_t *out);
int tbb_submit_single(void *st, long n, perf_out_t *out);
int tbb_matmul(void *st, long n, perf_out_t *out);
int tbb_loop_uniform(void *st, long n, perf_out_t *out);
int tbb_loop_uniform_simple(void *st, long n, perf_out_t *out);
int tbb_loop_irregular(void *st, long n, perf_out_t *out);
int tbb_loop_irregular_simple(void *st, long n, perf_out_t *out);
int tbb_loop_reduce(void *st, long n, perf_out_t *out);
int tbb_loop_reduce_det(void *st, long n, perf_out_t *out);
int tbb_loop_stencil(void *st, long n, perf_out_t *out);
int tbb_loop_stencil_simple(void *st, long n, perf_out_t *out);
const char *tbb_version(void);
#define PERF_TBB(fn)                                                                               \
    {                                                                                              \
        fn, tbb_setup, tbb_teardown, NULL                                                          \
    }
#else
#define PERF_TBB(fn) PERF_SKIP("oneTBB not found at configure time")
#endif

/* ---- mutex + condition-variable pool (peer_pool.c) --------------------- */
void *pool_setup(unsigned workers);
void pool_teardown(void *st);
int pool_uts(void *st, long b0, perf_out_t *out);
int pool_submit_single(void *st, long n, perf_out_t *out);
int pool_submit_batch(void *st, long n, perf_out_t *out);
int pool_matmul(void *st, long n, perf_out_t *out);
int pool_idle(void *st, long ms, perf_out_t *out);
/* param pool lifecycles; st: the worker count (bench_idle.c's setup). */
int pool_lifecycle(void *st, long n, perf_out_t *out);
#define PERF_POOL(fn)                                                                              \
    {                                                                                              \
        fn, pool_setup, pool_teardown, NULL                                                        \
    }
#define PERF_POOL_NO_NESTING                                                                       \
    PERF_SKIP("a task waiting for its children blocks a pool thread "                              \
              "(deadlock once the recursion is deeper than the pool)")

/* ---- shared by several benches ----------------------------------------- */

/* Size of a submission chunk for the batch benchmarks. */
#define PERF_BATCH 1024

/* The per-task work of submit_*: mark the task's own slot. Every slot
 * must end at exactly 1 (each task ran exactly once). */
static inline void perf_mark(void *slot) { ++*(unsigned char *)slot; }
/* Number of slots equal to 1 (the answer of submit_*). */
uint64_t perf_count_marks(const unsigned char *slots, long n);
/* An expect() for benches of n tasks whose answer is n (bench_submit.c). */
int perf_expect_n(long n, uint64_t *answer, uint64_t *tasks);

#ifdef __cplusplus
}
#endif
#endif
