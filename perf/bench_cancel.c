/*
 * bench_cancel.c - the cost of crew's cancellation (crew only).
 *
 * cancel_check_*: ns per crew_cancelled() call from a task body, raw (the
 *   loop's own add and branch, about one cycle, are included), with
 *   nothing cancelled (empty), with 1k or 100k cancelled groups alive
 *   (their IDs stay in the cancellation set until crew_group_destroy), and
 *   from the innermost of 8 nested tasks while one cancelled group is alive.
 *   param = checks; each task first runs param/10 untimed checks.
 * cancel_queued: ns per crew_cancel() of a queued task (all workers held by
 *   blockers); param = cancels; a round of param/10 runs first, untimed.
 * cancel_latency: ns from just before crew_cancel() on a running task to
 *   the body's first crew_cancelled() == true; param = samples, the
 *   repetition's value is their median (tasks = 1, so ns_per_task is the
 *   latency).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peers.h"

/* ---- cancel_check_* ---------------------------------------------------- */

typedef struct check_arg {
    long n;
    uint64_t hits; /* must stay 0: nothing cancels this task */
    double seconds;
} check_arg_t;

static int check_task(void *p)
{
    check_arg_t *a = p;
    uint64_t hits = 0;
    for (long i = 0; i < a->n / 10; i++) /* warm-up */
        hits += crew_cancelled();
    double t0 = perf_now();
    for (long i = 0; i < a->n; i++)
        hits += crew_cancelled();
    a->seconds = perf_now() - t0;
    a->hits = hits;
    return 0;
}

typedef struct chain_arg {
    int depth; /* tasks from here to the innermost, included */
    check_arg_t *check;
} chain_arg_t;

static int chain_task(void *p)
{
    chain_arg_t *a = p;
    if (a->depth <= 1)
        return check_task(a->check);
    chain_arg_t next = {a->depth - 1, a->check};
    crew_id_t id;
    int rc = crew_spawn(chain_task, &next, &id);
    if (rc != 0)
        return perf_fail("crew_spawn: %s", crew_err_name(rc));
    return perf_crew_join_done(crew_current(), id, "chain link");
}

/* Check loop in a task `depth` levels deep, with `ngroups` cancelled
 * groups alive elsewhere. */
static int check_run(crew_t *ex, long n, long ngroups, int depth, perf_out_t *out)
{
    crew_group_t **gs = calloc((size_t)(ngroups ? ngroups : 1), sizeof *gs);
    long made = 0;
    int rc = 0;
    if (!gs)
        return perf_fail("out of memory");
    for (; made < ngroups; made++) {
        if ((rc = crew_group_create(ex, NULL, 0, &gs[made])) != 0) {
            perf_fail("crew_group_create #%ld: %s", made, crew_err_name(rc));
            break;
        }
        if ((rc = crew_group_cancel(gs[made], 1, NULL)) != 0) {
            made++;
            perf_fail("crew_group_cancel: %s", crew_err_name(rc));
            break;
        }
    }
    crew_stats_t s = {.size = sizeof s};
    if (rc == 0 && crew_stats(ex, &s) == 0 && s.cancel_set_size < (uint64_t)ngroups)
        fprintf(stderr,
                "\ncrew-perf: note: cancel_set_size is %llu with %ld cancelled "
                "groups alive\n",
                (unsigned long long)s.cancel_set_size, ngroups);

    check_arg_t c = {n, 0, 0.0};
    chain_arg_t root = {depth, &c};
    crew_id_t id;
    if (rc == 0) {
        rc = crew_submit(ex, chain_task, &root, &id);
        if (rc != 0)
            perf_fail("crew_submit: %s", crew_err_name(rc));
        else if (perf_crew_join_done(ex, id, "check task") == 0 && c.hits != 0)
            perf_fail("crew_cancelled() returned true %llu times in a task "
                      "nobody cancelled",
                      (unsigned long long)c.hits);
    }
    out->seconds = c.seconds;
    for (long i = 0; i < made; i++)
        if ((rc = crew_group_destroy(gs[i])) != 0)
            perf_fail("crew_group_destroy: %s", crew_err_name(rc));
    free(gs);
    return 0;
}

static int check_empty(void *ex, long n, perf_out_t *out) { return check_run(ex, n, 0, 1, out); }

static int check_1k(void *ex, long n, perf_out_t *out) { return check_run(ex, n, 1000, 1, out); }

static int check_100k(void *ex, long n, perf_out_t *out)
{
    return check_run(ex, n, 100000, 1, out);
}

static int check_depth8(void *ex, long n, perf_out_t *out) { return check_run(ex, n, 1, 8, out); }

/* ---- cancel_queued ----------------------------------------------------- */

static atomic_uint blockers_started;
static atomic_int blockers_release;

/* Holds a worker until released; polls with a short sleep so that the
 * blocked workers leave the CPUs to the main thread. */
static int blocker_task(void *p)
{
    (void)p;
    atomic_fetch_add(&blockers_started, 1);
    while (!atomic_load(&blockers_release))
        perf_sleep(50e-6);
    return 0;
}

static int noop_task(void *p)
{
    (void)p;
    return 0;
}

/* One round: n queued tasks cancelled one by one; *secs = the cancel loop. */
static int queued_round(crew_t *ex, long n, double *secs)
{
    unsigned w = crew_workers(ex);
    crew_id_t *ids = malloc((size_t)n * sizeof *ids);
    crew_id_t *bids = malloc((size_t)w * sizeof *bids);
    long submitted = 0, removed = 0;
    unsigned nb = 0;
    int rc = 0, bad = 0;
    crew_stats_t s0 = {.size = sizeof s0}, s1 = {.size = sizeof s1};

    if (!ids || !bids) {
        free(ids);
        free(bids);
        return perf_fail("out of memory");
    }
    atomic_store(&blockers_started, 0);
    atomic_store(&blockers_release, 0);
    for (; nb < w; nb++)
        if ((rc = crew_submit(ex, blocker_task, NULL, &bids[nb])) != 0) {
            perf_fail("crew_submit (blocker): %s", crew_err_name(rc));
            break;
        }
    while (rc == 0 && atomic_load(&blockers_started) < w)
        perf_sleep(10e-6);
    for (; rc == 0 && submitted < n; submitted++)
        if ((rc = crew_submit(ex, noop_task, NULL, &ids[submitted])) != 0)
            perf_fail("crew_submit: %s", crew_err_name(rc));
    crew_stats(ex, &s0);

    double t0 = perf_now();
    for (long i = 0; i < submitted; i++) {
        int c = crew_cancel(ex, ids[i], 0, NULL);
        if (c == CREW_REMOVED)
            removed++;
        else if (!bad++)
            perf_fail("crew_cancel of a queued task returned %d (%s), not "
                      "CREW_REMOVED",
                      c, c < 0 ? crew_err_name(c) : "outcome");
    }
    *secs = perf_now() - t0;

    atomic_store(&blockers_release, 1);
    for (unsigned i = 0; i < nb; i++)
        perf_crew_join_done(ex, bids[i], "blocker");
    for (long i = 0; i < submitted; i++) {
        crew_status_t st;
        rc = crew_join(ex, ids[i], &st);
        if ((rc != 0 || st != CREW_TASK_CANCELLED) && !bad++)
            perf_fail("join of a removed task: %s, status %s", crew_err_name(rc),
                      crew_status_name(st));
    }
    crew_stats(ex, &s1);
    if (s1.removed - s0.removed != (uint64_t)removed)
        perf_fail("crew_stats: removed grew by %llu, %ld tasks were removed",
                  (unsigned long long)(s1.removed - s0.removed), removed);
    free(ids);
    free(bids);
    return 0;
}

static int cancel_queued(void *ex, long n, perf_out_t *out)
{
    double warm;
    queued_round(ex, n / 10, &warm);
    return queued_round(ex, n, &out->seconds);
}

/* ---- cancel_group_queued ------------------------------------------------ */

static void count_cleanup(void *p) { atomic_fetch_add((atomic_long *)p, 1); }

/* n members of one group queued behind blocked workers; time one
 * crew_group_cancel(), which removes them all before it returns. */
static int group_queued(void *exv, long n, perf_out_t *out)
{
    crew_t *ex = exv;
    unsigned w = crew_workers(ex);
    crew_group_t *g = NULL;
    crew_id_t *bids = malloc((size_t)w * sizeof *bids);
    void **args = malloc((size_t)n * sizeof *args);
    atomic_long cleaned = 0;
    crew_group_info_t gi;
    crew_status_t st;
    unsigned nb = 0;
    int rc;
    if (!bids || !args) {
        free(bids);
        free(args);
        return perf_fail("out of memory");
    }
    for (long i = 0; i < n; i++)
        args[i] = &cleaned;
    if ((rc = crew_group_create(ex, NULL, 0, &g)) != 0)
        return perf_fail("crew_group_create: %s", crew_err_name(rc));
    atomic_store(&blockers_started, 0);
    atomic_store(&blockers_release, 0);
    for (; nb < w; nb++)
        if ((rc = crew_submit(ex, blocker_task, NULL, &bids[nb])) != 0)
            return perf_fail("crew_submit (blocker): %s", crew_err_name(rc));
    while (atomic_load(&blockers_started) < w)
        perf_sleep(10e-6);
    {
        crew_task_desc_t d = {.fn = noop_task, .arg = NULL, .cleanup = count_cleanup, .group = g};
        if ((rc = crew_submit_batch(ex, &d, args, (size_t)n, NULL)) != 0)
            return perf_fail("crew_submit_batch: %s", crew_err_name(rc));
    }
    double t0 = perf_now();
    rc = crew_group_cancel(g, 0, "bench");
    out->seconds = perf_now() - t0;
    if (rc != 0)
        return perf_fail("crew_group_cancel: %s", crew_err_name(rc));
    /* Removed before the call returned, with the workers still blocked. */
    if (atomic_load(&cleaned) != n)
        perf_fail("%ld of %ld members cleaned up when crew_group_cancel returned",
                  (long)atomic_load(&cleaned), n);
    if ((rc = crew_group_wait(g, 0, &st)) != 0 || st != CREW_TASK_CANCELLED)
        perf_fail("group wait after the cancel: %s, status %s", crew_err_name(rc),
                  crew_status_name(st));
    atomic_store(&blockers_release, 1);
    for (unsigned i = 0; i < nb; i++)
        perf_crew_join_done(ex, bids[i], "blocker");
    memset(&gi, 0, sizeof gi);
    gi.size = sizeof gi;
    crew_group_info(g, &gi);
    if (gi.removed != (uint64_t)n)
        perf_fail("group counted %llu removed of %ld", (unsigned long long)gi.removed, n);
    crew_group_destroy(g);
    free(bids);
    free(args);
    return 0;
}

/* ---- cancel_latency ---------------------------------------------------- */

static atomic_int spinner_started;

static int spinner_task(void *p)
{
    atomic_store(&spinner_started, 1);
    while (!crew_cancelled())
        ;
    *(double *)p = perf_now();
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int latency_sample(crew_t *ex, double *lat)
{
    double seen = 0.0;
    crew_id_t id;
    atomic_store(&spinner_started, 0);
    int rc = crew_submit(ex, spinner_task, &seen, &id);
    if (rc != 0)
        return perf_fail("crew_submit: %s", crew_err_name(rc));
    while (!atomic_load(&spinner_started))
        ;
    double t0 = perf_now();
    int c = crew_cancel(ex, id, 0, NULL);
    crew_status_t st;
    rc = crew_join(ex, id, &st);
    if (c != CREW_REQUESTED)
        return perf_fail("crew_cancel of a running task returned %d (%s), "
                         "not CREW_REQUESTED",
                         c, c < 0 ? crew_err_name(c) : "outcome");
    if (rc != 0 || st != CREW_TASK_CANCELLED)
        return perf_fail("join of a cancelled running task: %s, status %s", crew_err_name(rc),
                         crew_status_name(st));
    *lat = seen - t0;
    return 0;
}

static int cancel_latency(void *ex, long n, perf_out_t *out)
{
    double *lat = malloc((size_t)n * sizeof *lat);
    if (!lat)
        return perf_fail("out of memory");
    double ignored;
    for (long i = 0; i < n / 10; i++) /* warm-up */
        if (latency_sample(ex, &ignored) != 0)
            goto out;
    for (long i = 0; i < n; i++)
        if (latency_sample(ex, &lat[i]) != 0)
            goto out;
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    out->seconds = n % 2 ? lat[n / 2] : (lat[n / 2 - 1] + lat[n / 2]) / 2;
out:
    free(lat);
    return 0;
}

/* ---- tables ------------------------------------------------------------ */

static int zero_expect(long n, uint64_t *answer, uint64_t *tasks)
{
    *answer = 0;
    *tasks = (uint64_t)n;
    return 0;
}

static int latency_expect(long n, uint64_t *answer, uint64_t *tasks)
{
    (void)n;
    *answer = 0;
    *tasks = 1;
    return 0;
}

#define CREW_ONLY(fn)                                                                              \
    {                                                                                              \
        [IMPL_CREW] = { fn, perf_crew_setup, perf_crew_teardown, NULL }                            \
    }

const perf_bench_t perf_bench_cancel_group_queued = {
    .name = "cancel_group_queued",
    .what = "crew_group_cancel() of a group with n queued members, all removed "
            "before it returns (ns per member)",
    .param = {1000000, 1000000},
    .expect = zero_expect,
    .flags = PERF_F_CANCEL,
    .impl = CREW_ONLY(group_queued),
};

const perf_bench_t perf_bench_cancel_check_empty = {
    .name = "cancel_check_empty",
    .what = "crew_cancelled() in a loop, nothing cancelled (ns per check)",
    .param = {10000000, 100000000},
    .expect = zero_expect,
    .flags = PERF_F_CANCEL,
    .impl = CREW_ONLY(check_empty),
};

const perf_bench_t perf_bench_cancel_check_1k = {
    .name = "cancel_check_1k",
    .what = "crew_cancelled() with 1,000 cancelled groups alive",
    .param = {10000000, 100000000},
    .expect = zero_expect,
    .flags = PERF_F_CANCEL,
    .impl = CREW_ONLY(check_1k),
};

const perf_bench_t perf_bench_cancel_check_100k = {
    .name = "cancel_check_100k",
    .what = "crew_cancelled() with 100,000 cancelled groups alive",
    .param = {10000000, 100000000},
    .expect = zero_expect,
    .flags = PERF_F_CANCEL,
    .impl = CREW_ONLY(check_100k),
};

const perf_bench_t perf_bench_cancel_check_depth8 = {
    .name = "cancel_check_depth8",
    .what = "crew_cancelled() 8 tasks deep, one cancelled group alive",
    .param = {10000000, 100000000},
    .expect = zero_expect,
    .flags = PERF_F_CANCEL,
    .impl = CREW_ONLY(check_depth8),
};

const perf_bench_t perf_bench_cancel_queued = {
    .name = "cancel_queued",
    .what = "crew_cancel() of a queued task (ns per cancel)",
    .param = {200000, 1000000},
    .flags = PERF_F_CANCEL,
    .impl = CREW_ONLY(cancel_queued),
};

const perf_bench_t perf_bench_cancel_latency = {
    .name = "cancel_latency",
    .what = "ns from crew_cancel() to the running body seeing it (median)",
    .param = {200, 1000},
    .expect = latency_expect,
    .flags = PERF_F_CANCEL,
    .impl = CREW_ONLY(cancel_latency),
};
