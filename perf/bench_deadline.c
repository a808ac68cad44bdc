/*
 * bench_deadline.c - what deadlines cost (crew only).
 *
 * deadline_set_clear: ns per crew_set_deadline() that arms a deadline plus
 *   the crew_set_deadline(0) that clears it, a running task on itself
 *   (param = pairs; the figure is per pair: divide by two for one call).
 * tasks_plain / tasks_deadline: ns per task for a batch of param tasks
 *   whose bodies do ~100 ns of arithmetic, without and with a 60 s timeout
 *   (deadlines that never fire). The batch travels as runs, its deadline
 *   one timer entry: their ratio is the cost of a deadline per task.
 * tasks_records / tasks_deadline_records: the same on an executor that
 *   gives every task its own record (CREW_OPT_NO_CARRIERS), as single
 *   submissions get: each deadline is armed at submission and disarmed
 *   when its task ends.
 * deadline_latency / deadline_latency_p99: ns from a task's deadline to its
 *   body's first crew_cancelled() == true while it spins on the check
 *   (param = samples; median and 99th percentile of one repetition).
 * interrupt_latency: ns from crew_cancel() of a task blocked in read() on
 *   an empty pipe inside an interruptible region to read() returning EINTR
 *   (median of param samples).
 * idle_deadlines: CPU seconds per wall second of an executor whose only
 *   work is 1000 tasks with deadlines an hour away (the running ones sleep
 *   on a condition variable, the rest are queued), param ms.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "peers.h"

/* ---- deadline_set_clear --------------------------------------------------- */

typedef struct sc_arg {
    long n;
    double seconds;
    int err;
} sc_arg_t;

static int set_clear_task(void *p)
{
    sc_arg_t *a = p;
    crew_t *ex = crew_current();
    crew_id_t me = crew_self();
    int64_t far = crew_now() + (int64_t)3600 * 1000000000;
    for (long i = 0; i < a->n / 10; i++) /* warm-up: the timer thread starts */
        a->err |= crew_set_deadline(ex, me, far + i) | crew_set_deadline(ex, me, 0);
    double t0 = perf_now();
    for (long i = 0; i < a->n; i++)
        a->err |= crew_set_deadline(ex, me, far + i) | crew_set_deadline(ex, me, 0);
    a->seconds = perf_now() - t0;
    return 0;
}

static int set_clear(void *ex, long n, perf_out_t *out)
{
    sc_arg_t a = {n, 0, 0};
    crew_id_t id;
    int rc = crew_submit(ex, set_clear_task, &a, &id);
    if (rc != 0)
        return perf_fail("crew_submit: %s", crew_err_name(rc));
    if (perf_crew_join_done(ex, id, "set/clear task") != 0)
        return -1;
    if (a.err)
        return perf_fail("crew_set_deadline failed");
    out->seconds = a.seconds;
    return 0;
}

/* ---- tasks_plain / tasks_deadline ----------------------------------------- */

static atomic_ulong sink;

static int small_body(void *p)
{
    unsigned long x = (unsigned long)(uintptr_t)p;
    for (int i = 0; i < 60; i++)
        x = x * 6364136223846793005ul + 1442695040888963407ul;
    atomic_fetch_add_explicit(&sink, x & 1, memory_order_relaxed);
    return 0;
}

static int batch(crew_t *ex, long n, int64_t timeout)
{
    enum { CHUNK = 4096 };
    static void *args[CHUNK];
    crew_group_t *g = NULL;
    crew_status_t st;
    int rc = crew_group_create(ex, NULL, 0, &g);
    if (rc != 0)
        return perf_fail("crew_group_create: %s", crew_err_name(rc));
    crew_task_desc_t d = {.fn = small_body, .group = g, .timeout = timeout};
    for (long done = 0; done < n; done += CHUNK) {
        size_t k = (size_t)(n - done < CHUNK ? n - done : CHUNK);
        for (size_t i = 0; i < k; i++)
            args[i] = (void *)(uintptr_t)(done + (long)i);
        if ((rc = crew_submit_batch(ex, &d, args, k, NULL)) != 0)
            return perf_fail("crew_submit_batch: %s", crew_err_name(rc));
    }
    rc = crew_group_wait(g, -1, &st);
    if (rc != 0 || st != CREW_TASK_DONE)
        return perf_fail("group wait: %s, %s", crew_err_name(rc), crew_status_name(st));
    crew_group_destroy(g);
    return 0;
}

static int tasks_plain(void *ex, long n, perf_out_t *out)
{
    (void)out; /* the runner times the whole run */
    return batch(ex, n, 0);
}

/* tasks_records, tasks_deadline_records: on an executor that gives every
 * task of a batch its own record (CREW_OPT_NO_CARRIERS). */
static void *records_setup(unsigned workers)
{
    crew_options_t o = CREW_OPTIONS_INIT;
    crew_t *ex = NULL;
    int rc;
    o.workers = workers;
    o.flags = CREW_OPT_NO_CARRIERS;
    if ((rc = crew_create(&ex, &o)) != 0) {
        perf_fail("crew_create: %s", crew_err_name(rc));
        return NULL;
    }
    return ex;
}

static int tasks_deadline(void *ex, long n, perf_out_t *out)
{
    crew_stats_t st = {.size = sizeof st};
    (void)out;
    if (batch(ex, n, (int64_t)60 * 1000000000) != 0)
        return -1;
    crew_stats(ex, &st);
    if (st.deadlines_fired != 0)
        return perf_fail("%llu deadlines fired", (unsigned long long)st.deadlines_fired);
    return 0;
}

/* ---- deadline_latency ------------------------------------------------------- */

static atomic_int lat_started;

static int lat_spinner(void *p)
{
    atomic_store(&lat_started, 1);
    while (!crew_cancelled())
        ;
    *(int64_t *)p = crew_now();
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int latency(crew_t *ex, long n, perf_out_t *out, int pct)
{
    int64_t *lat = malloc((size_t)n * sizeof *lat);
    if (!lat)
        return perf_fail("out of memory");
    for (long i = -n / 10; i < n; i++) { /* the first tenth warms up */
        int64_t seen = 0, dl;
        crew_id_t id;
        atomic_store(&lat_started, 0);
        int rc = crew_submit(ex, lat_spinner, &seen, &id);
        if (rc != 0) {
            free(lat);
            return perf_fail("crew_submit: %s", crew_err_name(rc));
        }
        while (!atomic_load(&lat_started))
            ;
        dl = crew_now() + 2000000; /* 2 ms */
        /* CREW_REQUESTED: this thread lost the CPU for 2 ms first (a loaded
         * machine), and the call cancelled at once; still a sample. */
        rc = crew_set_deadline(ex, id, dl);
        crew_status_t st;
        int jr = crew_join(ex, id, &st);
        if ((rc != 0 && rc != CREW_REQUESTED) || jr != 0 || st != CREW_TASK_CANCELLED) {
            free(lat);
            return perf_fail("deadline spinner: set %s, join %s, %s", crew_err_name(rc),
                             crew_err_name(jr), crew_status_name(st));
        }
        if (i >= 0)
            lat[i] = seen - dl;
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp_i64);
    out->seconds = (double)lat[(n - 1) * pct / 100] * 1e-9;
    free(lat);
    return 0;
}

static int latency_median(void *ex, long n, perf_out_t *out) { return latency(ex, n, out, 50); }
static int latency_p99(void *ex, long n, perf_out_t *out) { return latency(ex, n, out, 99); }

/* ---- interrupt_latency ------------------------------------------------------ */

typedef struct irq_arg {
    int fd;
    atomic_int inside;
    _Atomic int64_t back; /* when read() returned */
} irq_arg_t;

static int blocked_reader(void *p)
{
    irq_arg_t *a = p;
    char c;
    if (crew_interruptible_begin() != 0)
        return perf_fail("crew_interruptible_begin failed");
    atomic_store(&a->inside, 1);
    (void)read(a->fd, &c, 1); /* no data ever comes: only a cancel ends it */
    atomic_store(&a->back, crew_now());
    crew_interruptible_end();
    return 0;
}

static int irq_latency(void *ex, long n, perf_out_t *out)
{
    int64_t *lat = malloc((size_t)n * sizeof *lat);
    int p[2];
    if (!lat || pipe(p) != 0) {
        free(lat);
        return perf_fail("out of memory or pipes");
    }
    for (long i = -n / 10; i < n; i++) {
        irq_arg_t a = {.fd = p[0]};
        crew_id_t id;
        crew_status_t st;
        int rc = crew_submit(ex, blocked_reader, &a, &id);
        if (rc != 0)
            break;
        while (!atomic_load(&a.inside))
            ;
        perf_sleep(200e-6); /* let it block in read() */
        int64_t t0 = crew_now();
        crew_cancel(ex, id, 0, NULL);
        if (crew_join(ex, id, &st) != 0 || st != CREW_TASK_CANCELLED) {
            close(p[0]), close(p[1]), free(lat);
            return perf_fail("interrupted reader ended %s", crew_status_name(st));
        }
        if (i >= 0)
            lat[i] = atomic_load(&a.back) - t0;
    }
    close(p[0]);
    close(p[1]);
    qsort(lat, (size_t)n, sizeof *lat, cmp_i64);
    out->seconds = (double)lat[n / 2] * 1e-9;
    free(lat);
    return 0;
}

/* ---- idle_deadlines --------------------------------------------------------- */

static pthread_mutex_t latch_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t latch_cv = PTHREAD_COND_INITIALIZER;
static int latch;

static int wait_latch(void *p)
{
    (void)p;
    pthread_mutex_lock(&latch_mu);
    while (!latch)
        pthread_cond_wait(&latch_cv, &latch_mu);
    pthread_mutex_unlock(&latch_mu);
    return 0;
}

static int idle_deadlines(void *ex, long ms, perf_out_t *out)
{
    enum { N = 1000 };
    crew_id_t ids[N];
    int64_t base = crew_now() + (int64_t)3600 * 1000000000;
    latch = 0;
    for (int i = 0; i < N; i++) {
        crew_task_desc_t d = {.fn = wait_latch, .deadline = base + i};
        int rc = crew_submit_ex(ex, &d, &ids[i]);
        if (rc != 0)
            return perf_fail("crew_submit_ex: %s", crew_err_name(rc));
    }
    perf_sleep((double)ms / 3 * 1e-3);
    double c0 = perf_cpu_now(), w0 = perf_now();
    perf_sleep((double)ms * 1e-3);
    double c1 = perf_cpu_now(), w1 = perf_now();
    pthread_mutex_lock(&latch_mu);
    latch = 1;
    pthread_cond_broadcast(&latch_cv);
    pthread_mutex_unlock(&latch_mu);
    for (int i = 0; i < N; i++)
        if (perf_crew_join_done(ex, ids[i], "latch task") != 0)
            return -1;
    /* The running latch tasks sleep on a condition variable and the rest
     * are queued: all the CPU here is the timer's and the workers'. */
    out->value = (c1 - c0) / (w1 - w0);
    out->seconds = w1 - w0;
    return 0;
}

/* ---- tables ------------------------------------------------------------------ */

static int one_expect(long n, uint64_t *answer, uint64_t *tasks)
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

const perf_bench_t perf_bench_deadline_set_clear = {
    .name = "deadline_set_clear",
    .what = "crew_set_deadline() arm + clear on a running task (ns per pair)",
    .param = {200000, 2000000},
    .flags = PERF_F_CANCEL,
    .impl = CREW_ONLY(set_clear),
};

const perf_bench_t perf_bench_tasks_plain = {
    .name = "tasks_plain",
    .what = "batch of ~100 ns tasks, no deadline (ns per task)",
    .param = {1000000, 4000000},
    .flags = PERF_F_CANCEL,
    .impl = CREW_ONLY(tasks_plain),
};

const perf_bench_t perf_bench_tasks_records = {
    .name = "tasks_records",
    .what = "the same tasks, one record each (CREW_OPT_NO_CARRIERS)",
    .param = {1000000, 4000000},
    .flags = PERF_F_CANCEL,
    .impl = {[IMPL_CREW] = {tasks_plain, records_setup, perf_crew_teardown, NULL}},
};

const perf_bench_t perf_bench_tasks_deadline = {
    .name = "tasks_deadline",
    .what = "the same tasks, each with a 60 s timeout that never fires",
    .param = {1000000, 4000000},
    .flags = PERF_F_CANCEL,
    .impl = CREW_ONLY(tasks_deadline),
};

const perf_bench_t perf_bench_tasks_deadline_records = {
    .name = "tasks_deadline_records",
    .what = "one record each, each with its own 60 s timeout",
    .param = {1000000, 4000000},
    .flags = PERF_F_CANCEL,
    .impl = {[IMPL_CREW] = {tasks_deadline, records_setup, perf_crew_teardown, NULL}},
};

const perf_bench_t perf_bench_deadline_latency = {
    .name = "deadline_latency",
    .what = "ns from a deadline to the spinning body seeing it (median)",
    .param = {200, 1000},
    .expect = one_expect,
    .flags = PERF_F_CANCEL,
    .impl = CREW_ONLY(latency_median),
};

const perf_bench_t perf_bench_deadline_latency_p99 = {
    .name = "deadline_latency_p99",
    .what = "the same, 99th percentile",
    .param = {200, 1000},
    .expect = one_expect,
    .flags = PERF_F_CANCEL,
    .impl = CREW_ONLY(latency_p99),
};

const perf_bench_t perf_bench_idle_deadlines = {
    .name = "idle_deadlines",
    .what = "CPU s per wall s with 1000 pending deadlines (param: ms)",
    .param = {300, 1000},
    .flags = PERF_F_IDLE | PERF_F_NO_TASKS,
    .impl = CREW_ONLY(idle_deadlines),
};

const perf_bench_t perf_bench_interrupt_latency = {
    .name = "interrupt_latency",
    .what = "ns from crew_cancel() to an interrupted read() returning (median)",
    .param = {200, 1000},
    .expect = one_expect,
    .flags = PERF_F_CANCEL,
    .impl = CREW_ONLY(irq_latency),
};
