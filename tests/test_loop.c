/* test_loop.c - parallel loops: crew_for and crew_for_reduce. Every index
 * of [begin, end) runs exactly once, in body calls that never cover an
 * empty or outside range nor more than the grain; loops work from outside
 * and inside tasks and nest; a reduction equals the serial fold, combines
 * in index order, and with CREW_FOR_DETERMINISTIC is bit-identical across
 * runs and worker counts; a cancelled loop (its group, its calling task,
 * its deadline, a CREW_CANCEL shutdown) ran each index exactly once or not
 * at all, reports exactly how many ran, and says CREW_ECANCELED or
 * CREW_ETIMEDOUT; running bodies see crew_cancelled(). */
#include "crit.h"

/* ---- a per-index ledger ----------------------------------------------------- */

typedef struct ledger {
    int64_t begin, end, grain;
    atomic_uchar *ran; /* end - begin counters */
    atomic_long calls, bad_calls, ran_total;
    crew_group_t *cancel_group; /* cancel this group ... */
    int64_t cancel_at;          /* ... when this index runs (-1: never) */
    atomic_int saw_cancel;      /* the cancelling body then saw crew_cancelled() */
    atomic_int spin_ns;         /* busy time per index (deadline test) */
} ledger_t;

static void ledger_init(ledger_t *l, int64_t begin, int64_t end, int64_t grain)
{
    memset(l, 0, sizeof *l);
    l->begin = begin;
    l->end = end;
    l->grain = grain;
    l->cancel_at = -1;
    l->ran = calloc(end > begin ? (size_t)(end - begin) : 1, 1);
    cr_assert_not_null(l->ran);
}

static void spin_for(int ns)
{
    int64_t t = t_now_ns() + ns;
    while (t_now_ns() < t)
        ;
}

static void mark(void *p, int64_t lo, int64_t hi)
{
    ledger_t *l = p;
    atomic_fetch_add(&l->calls, 1);
    if (lo >= hi || lo < l->begin || hi > l->end || (l->grain > 0 && hi - lo > l->grain))
        atomic_fetch_add(&l->bad_calls, 1);
    for (int64_t i = lo; i < hi && i >= l->begin && i < l->end; i++) {
        atomic_fetch_add_explicit(&l->ran[i - l->begin], 1, memory_order_relaxed);
        if (i == l->cancel_at) {
            crew_group_cancel(l->cancel_group, 7, "break");
            atomic_store(&l->saw_cancel, crew_cancelled() ? 1 : -1);
        }
        if (atomic_load_explicit(&l->spin_ns, memory_order_relaxed))
            spin_for(atomic_load_explicit(&l->spin_ns, memory_order_relaxed));
    }
    atomic_fetch_add(&l->ran_total, hi - lo);
}

/* Every index ran exactly once (all = true) or at most once, and the
 * number that ran is `completed`. */
static void ledger_check(ledger_t *l, int64_t completed, bool all)
{
    int64_t n = l->end > l->begin ? l->end - l->begin : 0, ran = 0;
    cr_assert_eq(atomic_load(&l->bad_calls), 0,
                 "a body call covered an empty, outside or "
                 "too long range");
    for (int64_t i = 0; i < n; i++) {
        int v = atomic_load(&l->ran[i]);
        if (all)
            cr_assert_eq(v, 1, "index %lld ran %d times", (long long)(l->begin + i), v);
        else
            cr_assert_leq(v, 1, "index %lld ran %d times", (long long)(l->begin + i), v);
        ran += v;
    }
    cr_assert_eq(ran, completed, "%lld indices ran, the loop reported %lld", (long long)ran,
                 (long long)completed);
    cr_assert_eq(atomic_load(&l->ran_total), completed);
    free(l->ran);
}

static void for_once(crew_t *ex, int64_t b, int64_t e, int64_t grain, unsigned flags)
{
    ledger_t l;
    crew_for_opts_t o = CREW_FOR_OPTS_INIT;
    int64_t done = -1;
    o.grain = grain;
    o.flags = flags;
    ledger_init(&l, b, e, grain && !(flags & CREW_FOR_DETERMINISTIC) ? grain : 0);
    if (flags & CREW_FOR_DETERMINISTIC)
        l.grain = grain; /* leaves are at most the grain too */
    ASSERT_RC(crew_for(ex, b, e, mark, &l, &o, &done), 0);
    cr_assert_eq(done, e > b ? e - b : 0, "[%lld, %lld) grain %lld: completed %lld", (long long)b,
                 (long long)e, (long long)grain, (long long)done);
    if (e <= b)
        cr_assert_eq(atomic_load(&l.calls), 0, "an empty loop called its body");
    ledger_check(&l, done, true);
}

static const struct {
    int64_t b, e, grain;
} ranges[] = {
    {0, 0, 0},
    {5, 5, 3},
    {10, 3, 0},
    {10, 3, 4},
    {-5, -9, 1},
    {0, 1, 0},
    {0, 1, 1},
    {0, 2, 0},
    {0, 3, 1},
    {-1000, 1000, 0},
    {-1000, 1000, 1},
    {-1000, 1000, 7},
    {0, 100000, 0},
    {0, 100000, 3},
    {0, 100000, 100000},
    {0, 100001, 50000},
    {0, 4096, INT64_MAX},
    {7, 65543, 64},
    {0, 300000, 0},
    {INT64_MAX - 1000, INT64_MAX, 0},
    {INT64_MIN, INT64_MIN + 1000, 10},
};

Test(loop, every_index_exactly_once_for_many_ranges_grains_and_worker_counts, T_OPTS)
{
    unsigned ws[] = {1, 2, 4};
    for (size_t w = 0; w < sizeof ws / sizeof ws[0]; w++) {
        crew_t *ex = t_create(ws[w]);
        for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
            for_once(ex, ranges[i].b, ranges[i].e, ranges[i].grain, 0);
            for_once(ex, ranges[i].b, ranges[i].e, ranges[i].grain, CREW_FOR_DETERMINISTIC);
        }
        DESTROY_CLEAN(&ex);
    }
}

Test(loop, repeated_small_loops_from_outside_never_lose_or_repeat_an_index, T_OPTS)
{
    crew_t *ex = t_create(4);
    long rounds = t_scaled(300, 20);
    for (long r = 0; r < rounds; r++)
        for_once(ex, r, r + 1 + (r * 37) % 2000, r % 3 ? 0 : 1 + r % 5, r % 4 ? 0 : 1);
    DESTROY_CLEAN(&ex);
}

/* ---- inside tasks and nested ------------------------------------------------ */

enum { ROWS = 97, COLS = 131 };

typedef struct grid {
    atomic_uchar ran[ROWS][COLS];
    atomic_int bad;
    int64_t grain;
} grid_t;

typedef struct row_arg {
    grid_t *g;
    int64_t r;
} row_arg_t;

static void cell(void *p, int64_t lo, int64_t hi)
{
    row_arg_t *a = p;
    for (int64_t j = lo; j < hi; j++)
        atomic_fetch_add(&a->g->ran[a->r][j], 1);
}

static void rows(void *p, int64_t lo, int64_t hi)
{
    grid_t *g = p;
    for (int64_t r = lo; r < hi; r++) {
        row_arg_t a = {g, r};
        crew_for_opts_t o = CREW_FOR_OPTS_INIT;
        int64_t done = 0;
        o.grain = g->grain;
        /* nested: inside a task (a forked piece of the outer loop) */
        if (crew_for(NULL, 0, COLS, cell, &a, &o, &done) != 0 || done != COLS)
            atomic_fetch_add(&g->bad, 1);
    }
}

static int grid_task(void *p)
{
    grid_t *g = p;
    int64_t done = 0;
    if (crew_current() == NULL)
        return 2;
    return crew_for(NULL, 0, ROWS, rows, g, NULL, &done) == 0 && done == ROWS ? 0 : 1;
}

static void check_grid(grid_t *g)
{
    cr_assert_eq(atomic_load(&g->bad), 0, "an inner loop did not complete");
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++)
            cr_assert_eq(atomic_load(&g->ran[r][c]), 1, "cell (%d,%d) ran %d times", r, c,
                         atomic_load(&g->ran[r][c]));
}

Test(loop, nested_loops_inside_tasks_run_every_cell_exactly_once, T_OPTS)
{
    unsigned ws[] = {1, 2, 8};
    for (size_t w = 0; w < 3; w++) {
        crew_t *ex = t_create(ws[w]);
        for (int64_t grain = 0; grain < 3; grain++) {
            grid_t *g = calloc(1, sizeof *g);
            crew_id_t id;
            g->grain = grain;
            ASSERT_RC(crew_submit(ex, grid_task, g, &id), 0);
            ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
            check_grid(g);
            free(g);
        }
        /* from outside: the outer loop, with inner loops in its pieces */
        {
            grid_t *g = calloc(1, sizeof *g);
            int64_t done = 0;
            ASSERT_RC(crew_for(ex, 0, ROWS, rows, g, NULL, &done), 0);
            cr_assert_eq(done, ROWS);
            check_grid(g);
            free(g);
        }
        DESTROY_CLEAN(&ex);
    }
}

enum { MANY = 64, MANY_N = 5000 };

typedef struct many {
    ledger_t l[MANY];
    atomic_int bad;
} many_t;

static many_t *the_many;

static int many_task(void *p)
{
    ledger_t *l = p;
    int64_t done = 0;
    crew_for_opts_t o = CREW_FOR_OPTS_INIT;
    o.grain = l->grain;
    if (crew_for(NULL, l->begin, l->end, mark, l, &o, &done) != 0 || done != l->end - l->begin)
        atomic_fetch_add(&the_many->bad, 1);
    return 0;
}

Test(loop, concurrent_loops_in_many_tasks_each_run_every_index_once, T_OPTS)
{
    crew_t *ex = t_create(4);
    many_t *m = calloc(1, sizeof *m);
    void *args[MANY];
    crew_task_desc_t d = {.fn = many_task};
    crew_group_t *g = t_group(ex, NULL, 0);
    crew_status_t st;
    the_many = m;
    for (int i = 0; i < MANY; i++) {
        ledger_init(&m->l[i], i * 10, i * 10 + MANY_N + i, i % 3 == 0 ? 0 : i % 7 + 1);
        args[i] = &m->l[i];
    }
    d.group = g;
    ASSERT_RC(crew_submit_batch(ex, &d, args, MANY, NULL), 0);
    ASSERT_RC(crew_group_wait(g, T_HANG_NS, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&m->bad), 0);
    for (int i = 0; i < MANY; i++)
        ledger_check(&m->l[i], MANY_N + i, true);
    ASSERT_RC(crew_group_destroy(g), 0);
    free(m);
    DESTROY_CLEAN(&ex);
}

/* ---- reductions ----------------------------------------------------------------- */

static void isum_id(void *arg, void *acc)
{
    (void)arg;
    *(int64_t *)acc = 0;
}
static void isum_body(void *arg, int64_t lo, int64_t hi, void *acc)
{
    (void)arg;
    for (int64_t i = lo; i < hi; i++)
        *(int64_t *)acc += (int64_t)((uint64_t)i * (uint64_t)i % 1000003u);
}
static void isum_comb(void *arg, void *acc, const void *r)
{
    (void)arg;
    *(int64_t *)acc += *(const int64_t *)r;
}

/* Order check: an accumulator is the contiguous range it covers; combine
 * requires the right one to start where the left one ends (not
 * commutative). */
typedef struct span {
    int64_t lo, hi; /* lo > hi: empty (identity) */
    int64_t bad;
} span_t;

static void span_id(void *arg, void *acc)
{
    (void)arg;
    *(span_t *)acc = (span_t){1, 0, 0};
}
static void span_body(void *arg, int64_t lo, int64_t hi, void *acc)
{
    span_t *s = acc;
    (void)arg;
    if (s->lo > s->hi) {
        s->lo = lo;
    } else if (s->hi != lo) {
        s->bad++;
    }
    s->hi = hi;
}
static void span_comb(void *arg, void *acc, const void *right)
{
    span_t *s = acc;
    const span_t *r = right;
    (void)arg;
    s->bad += r->bad;
    if (r->lo > r->hi)
        return;
    if (s->lo > s->hi) {
        *s = *r;
        return;
    }
    if (s->hi != r->lo)
        s->bad++;
    s->hi = r->hi;
}

Test(loop, reductions_equal_the_serial_fold_and_combine_in_index_order, T_OPTS)
{
    unsigned ws[] = {1, 2, 4};
    crew_reduce_t ir = {sizeof(int64_t), isum_id, isum_body, isum_comb, NULL};
    crew_reduce_t sr = {sizeof(span_t), span_id, span_body, span_comb, NULL};
    for (size_t w = 0; w < 3; w++) {
        crew_t *ex = t_create(ws[w]);
        for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
            int64_t b = ranges[i].b, e = ranges[i].e;
            for (unsigned f = 0; f < 2; f++) {
                crew_for_opts_t o = CREW_FOR_OPTS_INIT;
                int64_t want = 0, got = -1, done = -1;
                span_t s;
                o.grain = ranges[i].grain;
                o.flags = f;
                isum_body(NULL, b, e, &want);
                ASSERT_RC(crew_for_reduce(ex, b, e, &ir, &got, &o, &done), 0);
                cr_assert_eq(got, want, "[%lld,%lld) sum %lld, want %lld", (long long)b,
                             (long long)e, (long long)got, (long long)want);
                cr_assert_eq(done, e > b ? e - b : 0);
                ASSERT_RC(crew_for_reduce(ex, b, e, &sr, &s, &o, NULL), 0);
                cr_assert_eq(s.bad, 0, "combine saw ranges out of order");
                if (e > b)
                    cr_assert(s.lo == b && s.hi == e, "covers [%lld,%lld)", (long long)s.lo,
                              (long long)s.hi);
                else
                    cr_assert(s.lo > s.hi, "an empty range reduces to the identity");
            }
        }
        DESTROY_CLEAN(&ex);
    }
}

static void dsum_id(void *arg, void *acc)
{
    (void)arg;
    *(double *)acc = 0.0;
}
static void dsum_body(void *arg, int64_t lo, int64_t hi, void *acc)
{
    const double *x = arg;
    double s = *(double *)acc;
    for (int64_t i = lo; i < hi; i++)
        s += x[i];
    *(double *)acc = s;
}
static void dsum_comb(void *arg, void *acc, const void *r)
{
    (void)arg;
    *(double *)acc += *(const double *)r;
}

Test(loop, deterministic_float_sum_is_bit_identical_across_runs_and_worker_counts, T_OPTS)
{
    int64_t n = t_scaled(1000000, 50000);
    double *x = malloc((size_t)n * sizeof *x), first = 0;
    unsigned ws[] = {1, 2, 3, 8};
    uint64_t seed = 88172645463325252ull;
    crew_reduce_t r = {sizeof(double), dsum_id, dsum_body, dsum_comb, x};
    bool have = false, differs = false;
    cr_assert_not_null(x);
    for (int64_t i = 0; i < n; i++) { /* magnitudes from 1e-8 to 1e8: rounding matters */
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        static const double p10[17] = {1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1,
                                       1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8};
        x[i] = (double)(seed >> 11) * 0x1p-53 * p10[seed % 17];
    }
    for (size_t w = 0; w < 4; w++) {
        crew_t *ex = t_create(ws[w]);
        for (int rep = 0; rep < 5; rep++) {
            crew_for_opts_t o = CREW_FOR_OPTS_INIT;
            double s = -1, ns = -1;
            o.flags = CREW_FOR_DETERMINISTIC;
            ASSERT_RC(crew_for_reduce(ex, 0, n, &r, &s, &o, NULL), 0);
            if (!have) {
                first = s;
                have = true;
            }
            cr_assert(memcmp(&s, &first, sizeof s) == 0, "%u workers, rep %d: %.17g != %.17g",
                      ws[w], rep, s, first);
            /* the same with an explicit grain: another fixed tree, also stable */
            o.grain = 777;
            ASSERT_RC(crew_for_reduce(ex, 0, n, &r, &ns, &o, NULL), 0);
            cr_assert((ns - s) * (ns - s) <= 1e-12 * s * s, "%.17g vs %.17g", ns, s);
            if (memcmp(&ns, &s, sizeof s) != 0)
                differs = true;
        }
        DESTROY_CLEAN(&ex);
    }
    /* not an assertion: another tree usually rounds differently, which
     * shows the data really exercises rounding */
    cr_log_info("grain 777 vs default tree: %s", differs ? "differ" : "equal");
    free(x);
}

/* ---- cancellation ---------------------------------------------------------------- */

Test(loop, a_body_cancelling_the_loop_group_stops_it_and_the_count_is_exact, T_OPTS)
{
    unsigned ws[] = {1, 2, 4};
    for (size_t w = 0; w < 3; w++) {
        crew_t *ex = t_create(ws[w]);
        for (int64_t grain = 0; grain < 4; grain += 3) {
            crew_group_t *g = t_group(ex, NULL, 0);
            ledger_t l;
            crew_for_opts_t o = CREW_FOR_OPTS_INIT;
            int64_t n = t_scaled(2000000, 100000), done = -1;
            ledger_init(&l, 0, n, grain);
            l.cancel_group = g;
            l.cancel_at = n / 10;
            o.group = g;
            o.grain = grain;
            ASSERT_RC(crew_for(ex, 0, n, mark, &l, &o, &done), CREW_ECANCELED);
            cr_assert_lt(done, n, "the loop went on to the end (%lld)", (long long)done);
            cr_assert_gt(done, 0);
            cr_assert_eq(atomic_load(&l.saw_cancel), 1,
                         "the running body did not see "
                         "crew_cancelled()");
            ledger_check(&l, done, false);
            ASSERT_RC(crew_group_destroy(g), 0);
        }
        DESTROY_CLEAN(&ex);
    }
}

typedef struct outside_run {
    crew_t *ex;
    ledger_t *l;
    crew_group_t *g;
    int64_t done;
    int rc;
} outside_run_t;

static void *loop_thread(void *p)
{
    outside_run_t *r = p;
    crew_for_opts_t o = CREW_FOR_OPTS_INIT;
    o.group = r->g;
    o.grain = 1;
    r->rc = crew_for(r->ex, r->l->begin, r->l->end, mark, r->l, &o, &r->done);
    return NULL;
}

Test(loop, cancelling_its_group_from_another_thread_stops_a_loop, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g = t_group(ex, NULL, 0);
    ledger_t l;
    outside_run_t r = {ex, &l, g, -1, 1};
    pthread_t th;
    int64_t n = 1000000;
    ledger_init(&l, 0, n, 1);
    atomic_store(&l.spin_ns, 2000); /* 2 s of work on one worker, far more than needed */
    cr_assert_eq(pthread_create(&th, NULL, loop_thread, &r), 0);
    cr_assert(T_WAIT_UNTIL(atomic_load(&l.ran_total) >= 100, T_HANG_S), "the loop never ran");
    ASSERT_RC(crew_group_cancel(g, 1, "stop"), 0);
    cr_assert_eq(pthread_join(th, NULL), 0);
    ASSERT_RC(r.rc, CREW_ECANCELED);
    cr_assert_geq(r.done, 100);
    cr_assert_lt(r.done, n);
    ledger_check(&l, r.done, false);
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}

typedef struct in_task {
    ledger_t l;
    _Atomic crew_id_t self;
    int rc;
    int64_t done;
    bool cancelled_after;
} in_task_t;

static int cancelled_task(void *p)
{
    in_task_t *t = p;
    crew_for_opts_t o = CREW_FOR_OPTS_INIT;
    atomic_store(&t->self, crew_self());
    o.grain = 2;
    t->rc = crew_for(NULL, t->l.begin, t->l.end, mark, &t->l, &o, &t->done);
    t->cancelled_after = crew_cancelled();
    return 0;
}

Test(loop, cancelling_the_calling_task_stops_its_loop, T_OPTS)
{
    crew_t *ex = t_create(2);
    in_task_t *t = calloc(1, sizeof *t);
    crew_id_t id;
    int64_t n = 1000000;
    ledger_init(&t->l, -n / 2, n / 2, 2);
    atomic_store(&t->l.spin_ns, 2000);
    ASSERT_RC(crew_submit(ex, cancelled_task, t, &id), 0);
    cr_assert(T_WAIT_UNTIL(atomic_load(&t->l.ran_total) >= 100, T_HANG_S), "never ran");
    ASSERT_RC(crew_cancel(ex, id, 3, "enough"), CREW_REQUESTED);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    ASSERT_RC(t->rc, CREW_ECANCELED);
    cr_assert(t->cancelled_after);
    cr_assert_lt(t->done, n);
    ledger_check(&t->l, t->done, false);
    free(t);
    DESTROY_CLEAN(&ex);
}

Test(loop, a_deadline_stops_the_loop_with_etimedout_and_an_exact_count, T_OPTS)
{
    crew_t *ex = t_create(2);
    ledger_t l;
    crew_for_opts_t o = CREW_FOR_OPTS_INIT;
    int64_t n = 1000000, done = -1, t0;
    ledger_init(&l, 0, n, 0);
    atomic_store(&l.spin_ns, 2000); /* 2 s of work at least */
    o.timeout_ns = 20 * 1000000;    /* 20 ms */
    t0 = t_now_ns();
    ASSERT_RC(crew_for(ex, 0, n, mark, &l, &o, &done), CREW_ETIMEDOUT);
    cr_assert_lt(t_now_ns() - t0, (int64_t)1500000000, "stopped only after %lld ms",
                 (long long)((t_now_ns() - t0) / 1000000));
    cr_assert_gt(done, 0);
    cr_assert_lt(done, n);
    ledger_check(&l, done, false);
    DESTROY_CLEAN(&ex);
}

Test(loop, a_loop_in_a_cancelled_group_runs_nothing, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g = t_group(ex, NULL, 0);
    ledger_t l;
    crew_for_opts_t o = CREW_FOR_OPTS_INIT;
    int64_t done = -1, sum = -1;
    crew_reduce_t ir = {sizeof(int64_t), isum_id, isum_body, isum_comb, NULL};
    ASSERT_RC(crew_group_cancel(g, 0, NULL), 0);
    ledger_init(&l, 0, 1000, 0);
    o.group = g;
    ASSERT_RC(crew_for(ex, 0, 1000, mark, &l, &o, &done), CREW_ECANCELED);
    cr_assert_eq(done, 0);
    cr_assert_eq(atomic_load(&l.calls), 0);
    ledger_check(&l, 0, false);
    ASSERT_RC(crew_for_reduce(ex, 0, 1000, &ir, &sum, &o, &done), CREW_ECANCELED);
    cr_assert_eq(sum, 0, "nothing ran: the identity");
    cr_assert_eq(done, 0);
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}

Test(loop, a_cancel_shutdown_stops_a_loop_called_from_outside, T_OPTS)
{
    crew_t *ex = t_create(2);
    ledger_t l;
    outside_run_t r = {ex, &l, NULL, -1, 1};
    pthread_t th;
    int64_t n = 1000000;
    ledger_init(&l, 0, n, 1);
    atomic_store(&l.spin_ns, 2000);
    cr_assert_eq(pthread_create(&th, NULL, loop_thread, &r), 0);
    cr_assert(T_WAIT_UNTIL(atomic_load(&l.ran_total) >= 100, T_HANG_S), "the loop never ran");
    ASSERT_RC(crew_shutdown(ex, CREW_CANCEL), 0);
    cr_assert_eq(pthread_join(th, NULL), 0);
    ASSERT_RC(r.rc, CREW_ECANCELED);
    cr_assert_lt(r.done, n);
    ledger_check(&l, r.done, false);
    /* and a new loop is refused */
    ASSERT_RC(crew_for(ex, 0, 10, mark, &l, NULL, NULL), CREW_ESHUTDOWN);
    DESTROY_CLEAN_MODE(&ex, CREW_CANCEL);
}

/* ---- bad input -------------------------------------------------------------------- */

Test(loop, bad_arguments_are_refused_and_nothing_runs, T_OPTS)
{
    crew_t *ex = t_create(1);
    ledger_t l;
    crew_for_opts_t o = CREW_FOR_OPTS_INIT;
    crew_reduce_t ir = {sizeof(int64_t), isum_id, isum_body, isum_comb, NULL};
    int64_t done = 5, sum;
    ledger_init(&l, 0, 10, 0);
    ASSERT_RC(crew_for(ex, 0, 10, NULL, &l, NULL, &done), CREW_EINVAL);
    cr_assert_eq(done, 0);
    ASSERT_RC(crew_for(NULL, 0, 10, mark, &l, NULL, &done), CREW_EINVAL); /* outside a task */
    o.grain = -1;
    ASSERT_RC(crew_for(ex, 0, 10, mark, &l, &o, NULL), CREW_EINVAL);
    o.grain = 0;
    o.flags = 0x80;
    ASSERT_RC(crew_for(ex, 0, 10, mark, &l, &o, NULL), CREW_EINVAL);
    o.flags = 0;
    o.timeout_ns = -7;
    ASSERT_RC(crew_for(ex, 0, 10, mark, &l, &o, NULL), CREW_EINVAL);
    o.timeout_ns = CREW_TIMEOUT_MAX_NS + 1;
    ASSERT_RC(crew_for(ex, 0, 10, mark, &l, &o, NULL), CREW_EINVAL);
    o.timeout_ns = 0;
    o.size = 4;
    ASSERT_RC(crew_for(ex, 0, 10, mark, &l, &o, NULL), CREW_EINVAL);
    o.size = sizeof o;
    ASSERT_RC(crew_for(ex, INT64_MIN, INT64_MAX, mark, &l, &o, NULL), CREW_EINVAL);
    ASSERT_RC(crew_for(ex, -1, INT64_MAX, mark, &l, &o, NULL), CREW_EINVAL);
    sum = 99;
    o.grain = -1;
    ASSERT_RC(crew_for_reduce(ex, 0, 10, &ir, &sum, &o, NULL), CREW_EINVAL);
    cr_assert_eq(sum, 0, "a refused reduction leaves the identity");
    o.grain = 0;
    ASSERT_RC(crew_for_reduce(ex, 0, 10, NULL, &sum, NULL, NULL), CREW_EINVAL);
    ASSERT_RC(crew_for_reduce(ex, 0, 10, &ir, NULL, NULL, NULL), CREW_EINVAL);
    ir.acc_size = 0;
    ASSERT_RC(crew_for_reduce(ex, 0, 10, &ir, &sum, NULL, NULL), CREW_EINVAL);
    ir.acc_size = CREW_REDUCE_ACC_MAX + 1;
    ASSERT_RC(crew_for_reduce(ex, 0, 10, &ir, &sum, NULL, NULL), CREW_EINVAL);
    ir.acc_size = sizeof(int64_t);
    ir.combine = NULL;
    ASSERT_RC(crew_for_reduce(ex, 0, 10, &ir, &sum, NULL, NULL), CREW_EINVAL);
    cr_assert_eq(atomic_load(&l.calls), 0, "a refused loop ran its body");
    ledger_check(&l, 0, false);
    DESTROY_CLEAN(&ex);
}
