/*
 * loops.h - the loop bodies of the loop_* benchmarks, shared by every
 * implementation (crew_for, OpenMP `parallel for`, oneTBB parallel_for,
 * serial), so that they differ only in how the range is partitioned and
 * scheduled. Valid C11 and C++17. Each kernel works on a sub-range
 * [lo, hi) and returns or accumulates its part of the answer.
 *
 *  uniform    10^8 iterations of a few integer operations (a hash of i),
 *             summed (uint64, wrapping: any order gives the same answer).
 *  irregular  iteration i runs a dependent chain of i*128/n + (hash(i) mod
 *             64) steps: cost O(i) plus a random amount, mean ~96 steps.
 *  reduce     sum of n doubles x[i] = (i mod 1000) / 2: every partial sum
 *             is a multiple of 1/2 below 2^53, so exact in any order.
 *  stencil    Jacobi sweeps on an n x n interior (fixed boundary), one
 *             parallel loop over rows per sweep; the final grid does not
 *             depend on the partitioning, so its checksum is exact.
 */
#ifndef CREW_PERF_LOOPS_H
#define CREW_PERF_LOOPS_H

#include <stdint.h>
#include <string.h>

/* Chunk of the `_dyn` rows: OpenMP schedule(dynamic, chunk), oneTBB
 * simple_partitioner with this grainsize. */
#define LP_CHUNK_UNIFORM   8192
#define LP_CHUNK_IRREGULAR 16
#define LP_CHUNK_REDUCE    8192
#define LP_CHUNK_STENCIL   1

static inline uint64_t lp_mix(uint64_t i)
{
    uint64_t x = i * 0x9E3779B97F4A7C15ull;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return x;
}

static inline uint64_t lp_uniform(int64_t lo, int64_t hi)
{
    uint64_t s = 0;
    for (int64_t i = lo; i < hi; i++)
        s += lp_mix((uint64_t)i);
    return s;
}

static inline uint64_t lp_irregular_one(int64_t i, int64_t n)
{
    uint64_t steps = (uint64_t)i * 128u / (uint64_t)n + (lp_mix((uint64_t)i) & 63u);
    uint64_t x = (uint64_t)i + 1;
    for (uint64_t k = 0; k < steps; k++)
        x = (x ^ (x >> 17)) * 0x9E3779B97F4A7C15ull + k;
    return x;
}

static inline uint64_t lp_irregular(int64_t lo, int64_t hi, int64_t n)
{
    uint64_t s = 0;
    for (int64_t i = lo; i < hi; i++)
        s += lp_irregular_one(i, n);
    return s;
}

static inline void lp_reduce_fill(double *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (double)(i % 1000) * 0.5;
}

static inline double lp_reduce(const double *x, int64_t lo, int64_t hi)
{
    double s = 0;
    for (int64_t i = lo; i < hi; i++)
        s += x[i];
    return s;
}

/* The answer of reduce: twice the sum, an integer. */
static inline uint64_t lp_reduce_answer(int64_t n)
{
    uint64_t q = (uint64_t)n / 1000, r = (uint64_t)n % 1000;
    return q * 499500u + r * (r - 1) / 2; /* r = 0: 0 * (2^64 - 1) = 0 */
}

/* Stencil: a grid of (n + 2) x (n + 2) doubles, rows 1..n updated. */
static inline int64_t lp_sweeps(int64_t n) { return n >= 2048 ? 100 : 20; }

static inline void lp_stencil_init(double *g, int64_t n)
{
    int64_t s = n + 2;
    for (int64_t r = 0; r < s; r++)
        for (int64_t c = 0; c < s; c++)
            g[r * s + c] = r == 0 ? 1.0 : c == 0 ? 0.5 : 0.0;
}

static inline void lp_stencil_rows(const double *a, double *b, int64_t n, int64_t r0, int64_t r1)
{
    int64_t s = n + 2;
    for (int64_t r = r0; r < r1; r++) {
        const double *up = a + (r - 1) * s, *mid = a + r * s, *dn = a + (r + 1) * s;
        double *out = b + r * s;
        for (int64_t c = 1; c <= n; c++)
            out[c] = 0.25 * (up[c] + dn[c] + mid[c - 1] + mid[c + 1]);
    }
}

/* Checksum of the interior, in row-major order: the bits of a double. */
static inline uint64_t lp_stencil_sum(const double *g, int64_t n)
{
    int64_t s = n + 2;
    double t = 0;
    uint64_t u;
    for (int64_t r = 1; r <= n; r++)
        for (int64_t c = 1; c <= n; c++)
            t += g[r * s + c] * (double)((r * 31 + c) % 7 + 1);
    memcpy(&u, &t, sizeof u);
    return u;
}

#endif
