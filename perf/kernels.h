/*
 * kernels.h - the per-node work shared by every implementation, so that the
 * implementations differ only in how they create and wait for tasks.
 * Valid C11 and C++17 (peer_tbb.cpp includes it).
 */
#ifndef CREW_PERF_KERNELS_H
#define CREW_PERF_KERNELS_H

#include <stdint.h>
#include <string.h>

/* ---- nqueens ----------------------------------------------------------- */

#define NQ_MAX 16

/* May a queen go on (row, col), given board[0..row-1] (column per row)? */
static inline int nq_ok(const signed char *board, int row, int col)
{
    for (int r = 0; r < row; r++) {
        int c = board[r];
        if (c == col || c - col == row - r || col - c == row - r)
            return 0;
    }
    return 1;
}

/* Plain serial recursion: solutions below (board, row); *nodes counts the
 * placements (= tasks of the parallel versions). */
static inline uint64_t nq_serial(int n, int row, signed char *board, uint64_t *nodes)
{
    if (row == n)
        return 1;
    uint64_t count = 0;
    for (int col = 0; col < n; col++) {
        if (nq_ok(board, row, col)) {
            board[row] = (signed char)col;
            ++*nodes;
            count += nq_serial(n, row + 1, board, nodes);
        }
    }
    return count;
}

/* ---- uts: binomial tree (T3 shape) ------------------------------------- */

/*
 * UTS with a cheap hash instead of SHA-1: a node is its 64-bit hash; child i
 * of node h is splitmix64(h + (i + 1) * golden). The root has UTS_B0(param)
 * children; every other node has UTS_M children with probability UTS_Q
 * (h < UTS_Q * 2^64), else none. Expected subtree size below a root child
 * is 1 / (1 - q*m) = 1000 nodes, with a heavy tail.
 */
#define UTS_M         8
#define UTS_Q         0.124875
#define UTS_ROOT_SEED 2496ULL /* 3.95M nodes at b0 = 2000, 295k at b0 = 200 */

static inline uint64_t uts_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static inline uint64_t uts_child(uint64_t h, int i)
{
    return uts_mix(h + (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL);
}

/* Number of children of a non-root node. */
static inline int uts_kids(uint64_t h)
{
    /* UTS_Q * 2^64, computed once by the compiler */
    const uint64_t thr = (uint64_t)(UTS_Q * 18446744073709551616.0);
    return h < thr ? UTS_M : 0;
}

static inline uint64_t uts_root(void) { return uts_mix(UTS_ROOT_SEED); }

/* Nodes of the subtree of non-root node h (serial recursion). */
static inline uint64_t uts_serial(uint64_t h)
{
    uint64_t n = 1;
    int k = uts_kids(h);
    for (int i = 0; i < k; i++)
        n += uts_serial(uts_child(h, i));
    return n;
}

/* ---- matmul: blocked, one task per C tile ------------------------------ */

#define MM_TILE 64

/* Small integers, so every sum is exact in double and the checksum does not
 * depend on the summation order. */
static inline double mm_a(long i, long j) { return (double)((i * 7 + j * 3) % 17 - 8); }
static inline double mm_b(long i, long j) { return (double)((i * 5 + j * 11) % 13 - 6); }
static inline double mm_wi(long i) { return (double)(i % 7 + 1); }
static inline double mm_wj(long j) { return (double)(j % 5 + 1); }

/* C tile (ti, tj) = A rows of ti times B columns of tj; n % MM_TILE == 0.
 * Overwrites the tile. i-k-j order, the inner loop vectorises. */
static inline void mm_tile(long n, const double *a, const double *b, double *c, long ti, long tj)
{
    long i0 = ti * MM_TILE, j0 = tj * MM_TILE;
    for (long i = i0; i < i0 + MM_TILE; i++) {
        double *ci = c + i * n + j0;
        for (long j = 0; j < MM_TILE; j++)
            ci[j] = 0.0;
        for (long k = 0; k < n; k++) {
            double aik = a[i * n + k];
            const double *bk = b + k * n + j0;
            for (long j = 0; j < MM_TILE; j++)
                ci[j] += aik * bk[j];
        }
    }
}

#endif
