/* tsan_loop.c - parallel loops under stealing, also run under
 * ThreadSanitizer: nested crew_for inside the pieces of an outer loop,
 * non-deterministic and deterministic reductions, and rounds where a body
 * cancels the loop's group midway. Every index must run exactly once (or,
 * in a cancelled round, at most once, with the reported count equal to
 * the number that ran), sums must equal the serial ones, and a
 * deterministic double sum must be the same bits on every round and
 * worker count. Plain executable. */
#include <string.h>

#include "common.h"

enum { OUTER = 64, INNER = 257 };

static atomic_uchar cells[OUTER][INNER];
static atomic_long bad;

typedef struct row {
    int64_t r;
    int64_t grain;
} row_t;

static void inner(void *p, int64_t lo, int64_t hi)
{
    const row_t *a = p;
    for (int64_t j = lo; j < hi; j++)
        atomic_fetch_add_explicit(&cells[a->r][j], 1, memory_order_relaxed);
}

static void outer(void *p, int64_t lo, int64_t hi)
{
    int64_t grain = *(const int64_t *)p;
    for (int64_t r = lo; r < hi; r++) {
        row_t a = {r, grain};
        crew_for_opts_t o = CREW_FOR_OPTS_INIT;
        int64_t done = 0;
        o.grain = grain;
        if (crew_for(NULL, 0, INNER, inner, &a, &o, &done) != 0 || done != INNER)
            atomic_fetch_add(&bad, 1);
    }
}

static void nested_round(crew_t *ex, int64_t grain)
{
    int64_t done = 0;
    memset(cells, 0, sizeof cells);
    CHECK_RC(crew_for(ex, 0, OUTER, outer, &grain, NULL, &done), 0);
    CHECK(done == OUTER, "outer completed %lld", (long long)done);
    CHECK(atomic_load(&bad) == 0, "an inner loop did not complete");
    for (int r = 0; r < OUTER; r++)
        for (int c = 0; c < INNER; c++)
            CHECK(atomic_load(&cells[r][c]) == 1, "cell (%d,%d) ran %d times", r, c,
                  atomic_load(&cells[r][c]));
}

/* ---- reductions ------------------------------------------------------------ */

static double *xs;

static void d_id(void *arg, void *acc)
{
    (void)arg;
    *(double *)acc = 0;
}
static void d_body(void *arg, int64_t lo, int64_t hi, void *acc)
{
    double s = *(double *)acc;
    (void)arg;
    for (int64_t i = lo; i < hi; i++)
        s += xs[i];
    *(double *)acc = s;
}
static void d_comb(void *arg, void *acc, const void *r)
{
    (void)arg;
    *(double *)acc += *(const double *)r;
}
static void u_id(void *arg, void *acc)
{
    (void)arg;
    *(uint64_t *)acc = 0;
}
static void u_body(void *arg, int64_t lo, int64_t hi, void *acc)
{
    (void)arg;
    for (int64_t i = lo; i < hi; i++)
        *(uint64_t *)acc += (uint64_t)i * 2654435761u;
}
static void u_comb(void *arg, void *acc, const void *r)
{
    (void)arg;
    *(uint64_t *)acc += *(const uint64_t *)r;
}

/* ---- cancellation ----------------------------------------------------------- */

typedef struct stop {
    atomic_uchar *ran;
    int64_t n, at;
    crew_group_t *g;
    atomic_long total;
} stop_t;

static void stop_body(void *p, int64_t lo, int64_t hi)
{
    stop_t *s = p;
    for (int64_t i = lo; i < hi; i++) {
        atomic_fetch_add_explicit(&s->ran[i], 1, memory_order_relaxed);
        if (i == s->at)
            crew_group_cancel(s->g, 1, "stop");
    }
    atomic_fetch_add(&s->total, hi - lo);
}

static void cancel_round(crew_t *ex, int64_t n, int64_t at, int64_t grain)
{
    stop_t s = {calloc((size_t)n, 1), n, at, NULL, 0};
    crew_for_opts_t o = CREW_FOR_OPTS_INIT;
    int64_t done = -1, ran = 0;
    int rc;
    CHECK(s.ran != NULL, "out of memory");
    CHECK_RC(crew_group_create(ex, NULL, 0, &s.g), 0);
    o.group = s.g;
    o.grain = grain;
    rc = crew_for(ex, 0, n, stop_body, &s, &o, &done);
    CHECK(rc == CREW_ECANCELED || (rc == 0 && done == n), "rc %s, done %lld", crew_err_name(rc),
          (long long)done);
    for (int64_t i = 0; i < n; i++) {
        CHECK(atomic_load(&s.ran[i]) <= 1, "index %lld ran %d times", (long long)i,
              atomic_load(&s.ran[i]));
        ran += atomic_load(&s.ran[i]);
    }
    CHECK(ran == done, "%lld ran, %lld reported", (long long)ran, (long long)done);
    CHECK(atomic_load(&s.total) == done, "total %ld", atomic_load(&s.total));
    CHECK_RC(crew_group_destroy(s.g), 0);
    free(s.ran);
}

int main(void)
{
    unsigned ws[] = {2, 4};
    int64_t n = t_scaled(200000, 20000);
    long rounds = t_scaled(200, 5);
    double first = 0;
    bool have = false;
    uint64_t seed = 0x9E3779B97F4A7C15ull, want_u = 0;
    t_watchdog(CREW_TEST_TIMEOUT * 2);
    xs = malloc((size_t)n * sizeof *xs);
    CHECK(xs != NULL, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        xs[i] = (double)(seed >> 11) * 0x1p-53 * (double)(1 + seed % 1000);
    }
    u_body(NULL, 0, n, &want_u);
    for (size_t w = 0; w < 2; w++) {
        crew_t *ex = t_create(ws[w]);
        crew_reduce_t dr = {sizeof(double), d_id, d_body, d_comb, NULL};
        crew_reduce_t ur = {sizeof(uint64_t), u_id, u_body, u_comb, NULL};
        for (long k = 0; k < rounds; k++) {
            crew_for_opts_t o = CREW_FOR_OPTS_INIT;
            double d = 0;
            uint64_t u = 0;
            nested_round(ex, k % 3);
            o.flags = CREW_FOR_DETERMINISTIC;
            CHECK_RC(crew_for_reduce(ex, 0, n, &dr, &d, &o, NULL), 0);
            if (!have) {
                first = d;
                have = true;
            }
            CHECK(memcmp(&d, &first, sizeof d) == 0, "deterministic sum %.17g != %.17g", d, first);
            o.flags = 0;
            o.grain = k % 2 ? 0 : 100;
            CHECK_RC(crew_for_reduce(ex, 0, n, &ur, &u, &o, NULL), 0);
            CHECK(u == want_u, "sum %llu != %llu", (unsigned long long)u,
                  (unsigned long long)want_u);
            cancel_round(ex, n, (k * 7919) % n, k % 2 ? 0 : 1 + k % 4);
        }
        T_DESTROY_CLEAN(&ex, CREW_DRAIN);
    }
    free(xs);
    printf("tsan_loop: ok\n");
    return 0;
}
