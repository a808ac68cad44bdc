/* matmul.h - the matrices of the matmul benchmark, shared by all peers. */
#ifndef CREW_PERF_MATMUL_H
#define CREW_PERF_MATMUL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mm {
    long n, tiles;     /* tiles per side: n / MM_TILE */
    double *a, *b, *c; /* row-major n x n */
} mm_t;

/* Allocate and fill A and B (C poisoned); 0, or -1 after perf_fail(). */
int mm_alloc(long n, mm_t *m);
void mm_free(mm_t *m);
/* Compute tile t (0 .. tiles^2-1) of C. */
void mm_do_tile(const mm_t *m, long t);
/* The answer: a weighted sum of C. */
uint64_t mm_checksum(const mm_t *m);

#ifdef __cplusplus
}
#endif
#endif
