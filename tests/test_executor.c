/* test_executor.c - executor lifecycle, worker count, fork-join on 1/2/8
 * workers, task-local queries, idle parking and lost wake-ups. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "crit.h"
#include "exec.h"
#include "platform.h"

/* ---- worker count ---------------------------------------------------------- */

static void check_workers(unsigned asked, unsigned want)
{
    crew_t *ex = t_create(asked);
    cr_assert_eq(crew_workers(ex), want, "asked %u, got %u workers, want %u", asked,
                 crew_workers(ex), want);
    DESTROY_CLEAN(&ex);
}

Test(executor, explicit_worker_count_is_honoured, T_OPTS)
{
    unsetenv("CREW_WORKERS");
    check_workers(1, 1);
    check_workers(2, 2);
    check_workers(8, 8);
}

Test(executor, default_worker_count_is_online_cpus, T_OPTS)
{
    unsetenv("CREW_WORKERS");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cr_assert_gt(cpus, 0);
    check_workers(0, (unsigned)cpus);
}

Test(executor, default_worker_count_comes_from_CREW_WORKERS, T_OPTS)
{
    setenv("CREW_WORKERS", "3", 1);
    check_workers(0, 3);
    setenv("CREW_WORKERS", "1024", 1);
    check_workers(0, 1024);
}

Test(executor, explicit_worker_count_ignores_CREW_WORKERS, T_OPTS)
{
    setenv("CREW_WORKERS", "5", 1);
    check_workers(2, 2);
    setenv("CREW_WORKERS", "not-a-number", 1);
    check_workers(2, 2);
}

Test(executor, workers_reports_zero_for_null, T_OPTS) { cr_assert_eq(crew_workers(NULL), 0); }

Test(executor, options_flags_pin_and_spin_still_run_tasks, T_OPTS)
{
    crew_options_t o = {sizeof o};
    o.workers = 2;
    o.flags = CREW_OPT_PIN;
    o.spin = 1;
    crew_t *ex = NULL;
    ASSERT_RC(crew_create(&ex, &o), 0);
    atomic_int n = 0;
    crew_id_t ids[64];
    for (int i = 0; i < 64; i++)
        ASSERT_RC(crew_submit(ex, count_task, &n, &ids[i]), 0);
    for (int i = 0; i < 64; i++)
        ASSERT_STATUS(t_join(ex, ids[i]), CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&n), 64);
    DESTROY_CLEAN(&ex);
}

/* ---- fork-join --------------------------------------------------------------- */

typedef struct fib {
    int n;
    long r;
    int err; /* first unexpected return code seen below this call */
} fib_t;

static long fib_serial(int n)
{
    long a = 0, b = 1;
    for (int i = 0; i < n; i++) {
        long t = a + b;
        a = b;
        b = t;
    }
    return a;
}

/* One spawn per child call; both children borrow this stack frame. */
static int fib_task(void *arg)
{
    fib_t *f = arg;
    if (f->n < 2) {
        f->r = f->n;
        return 0;
    }
    fib_t a = {f->n - 1, 0, 0}, b = {f->n - 2, 0, 0};
    crew_id_t ia = 0, ib = 0;
    crew_status_t sa = CREW_TASK_QUEUED, sb = CREW_TASK_QUEUED;
    int rc = crew_spawn(fib_task, &a, &ia);
    if (rc != 0) {
        f->err = rc;
        return 1;
    }
    rc = crew_spawn(fib_task, &b, &ib);
    if (rc != 0) {
        f->err = rc;
        crew_join(crew_current(), ia, &sa);
        return 1;
    }
    int ra = crew_join(crew_current(), ia, &sa);
    int rb = crew_join(crew_current(), ib, &sb);
    if (ra != 0 || rb != 0 || sa != CREW_TASK_DONE || sb != CREW_TASK_DONE) {
        f->err = ra ? ra : rb ? rb : a.err ? a.err : b.err ? b.err : -1000;
        return 1;
    }
    f->r = a.r + b.r;
    return 0;
}

static void check_fib(unsigned workers)
{
    int n = (int)t_scaled(25, 15);
    crew_t *ex = t_create(workers);
    crew_stats_t s0 = t_stats(ex);
    fib_t root = {n, 0, 0};
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, fib_task, &root, &id), 0);
    crew_status_t st = t_join(ex, id);
    cr_assert_eq(root.err, 0, "a spawn or join failed: %s", crew_err_name(root.err));
    ASSERT_STATUS(st, CREW_TASK_DONE);
    cr_assert_eq(root.r, fib_serial(n), "fib(%d) = %ld, want %ld", n, root.r, fib_serial(n));
    /* One task per call: calls(n) = 2 fib(n+1) - 1. */
    uint64_t calls = (uint64_t)(2 * fib_serial(n + 1) - 1);
    crew_stats_t s = t_settle(ex);
    cr_assert_eq(s.submitted - s0.submitted, calls, "submitted %llu, want %llu",
                 (unsigned long long)(s.submitted - s0.submitted), (unsigned long long)calls);
    cr_assert_eq(s.done - s0.done, calls);
    cr_assert_eq(s.failed + s.cancelled, 0);
    DESTROY_CLEAN(&ex);
}

Test(executor, fib_with_a_spawn_per_call_is_exact_on_1_worker, T_OPTS) { check_fib(1); }
Test(executor, fib_with_a_spawn_per_call_is_exact_on_2_workers, T_OPTS) { check_fib(2); }
Test(executor, fib_with_a_spawn_per_call_is_exact_on_8_workers, T_OPTS) { check_fib(8); }

/* ---- crew_self / crew_current / crew_worker_index ---------------------------- */

Test(executor, task_queries_outside_a_task_report_nothing, T_OPTS)
{
    crew_t *ex = t_create(2);
    cr_assert_eq(crew_self(), 0);
    cr_assert_null(crew_current());
    cr_assert_eq(crew_worker_index(), -1);
    cr_assert_eq(crew_cancelled(), false);
    DESTROY_CLEAN(&ex);
}

typedef struct whoami {
    crew_id_t self;
    crew_t *current;
    int index;
    bool cancelled;
} whoami_t;

static int whoami_task(void *arg)
{
    whoami_t *w = arg;
    w->self = crew_self();
    w->current = crew_current();
    w->index = crew_worker_index();
    w->cancelled = crew_cancelled();
    return 0;
}

Test(executor, task_queries_inside_a_task_name_the_task_and_its_worker, T_OPTS)
{
    crew_t *a = t_create(2), *b = t_create(3);
    whoami_t wa[16], wb[16];
    crew_id_t ia[16], ib[16];
    memset(wa, 0, sizeof wa);
    memset(wb, 0, sizeof wb);
    for (int i = 0; i < 16; i++) {
        ASSERT_RC(crew_submit(a, whoami_task, &wa[i], &ia[i]), 0);
        ASSERT_RC(crew_submit(b, whoami_task, &wb[i], &ib[i]), 0);
    }
    for (int i = 0; i < 16; i++) {
        ASSERT_STATUS(t_join(a, ia[i]), CREW_TASK_DONE);
        ASSERT_STATUS(t_join(b, ib[i]), CREW_TASK_DONE);
        cr_assert_eq(wa[i].self, ia[i]);
        cr_assert_eq(wb[i].self, ib[i]);
        cr_assert_eq(wa[i].current, a);
        cr_assert_eq(wb[i].current, b);
        cr_assert(wa[i].index >= 0 && wa[i].index < 2, "index %d", wa[i].index);
        cr_assert(wb[i].index >= 0 && wb[i].index < 3, "index %d", wb[i].index);
        cr_assert_not(wa[i].cancelled);
    }
    DESTROY_CLEAN(&a);
    DESTROY_CLEAN(&b);
}

/* A task of executor a submitting to executor b is an outside submitter for
 * b: the new task has no parent and runs on b's workers. */
typedef struct cross {
    crew_t *other;
    whoami_t child;
    crew_id_t child_id;
    int rc;
} cross_t;

static int cross_task(void *arg)
{
    cross_t *c = arg;
    c->rc = crew_submit(c->other, whoami_task, &c->child, &c->child_id);
    return 0;
}

Test(executor, submitting_to_another_executor_from_a_task_is_not_a_spawn, T_OPTS)
{
    crew_t *a = t_create(1), *b = t_create(1);
    cross_t c;
    memset(&c, 0, sizeof c);
    c.other = b;
    crew_id_t id;
    ASSERT_RC(crew_submit(a, cross_task, &c, &id), 0);
    ASSERT_STATUS(t_join(a, id), CREW_TASK_DONE);
    ASSERT_RC(c.rc, 0);
    ASSERT_STATUS(t_wait(b, c.child_id), CREW_TASK_DONE);
    crew_task_info_t info = t_inspect(b, c.child_id);
    cr_assert_eq(info.parent, 0,
                 "parent %llu: a task of another executor "
                 "is not a parent",
                 (unsigned long long)info.parent);
    cr_assert_eq(c.child.current, b);
    ASSERT_RC(crew_release(b, c.child_id), 0);
    DESTROY_CLEAN(&a);
    DESTROY_CLEAN(&b);
}

/* ---- idle parking -------------------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void check_idle_cpu(unsigned workers)
{
    crew_t *ex = t_create(workers);
    crew_group_t *g;
    ASSERT_RC(crew_group_create(ex, NULL, 0, &g), 0);
    atomic_int n = 0;
    crew_task_desc_t d = {.fn = count_task, .arg = &n, .cleanup = NULL, .group = g};
    for (int i = 0; i < 1000; i++)
        ASSERT_RC(crew_submit_ex(ex, &d, NULL), 0);
    crew_status_t st;
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    cr_assert_eq(atomic_load(&n), 1000);
    /* The scenario under test: idle for a moment, then measured for 200 ms
     * of wall time (the sleeps are the measurement, not synchronization). */
    sleep_ms(50);
    int64_t c0 = t_cpu_ns(), w0 = t_now_ns();
    sleep_ms(200);
    int64_t cpu = t_cpu_ns() - c0, wall = t_now_ns() - w0;
    crew_stats_t s = t_stats(ex);
    cr_assert_lt(cpu, 20 * 1000000LL, "%u idle workers used %.1f ms of CPU in %.1f ms (parks %llu)",
                 workers, cpu / 1e6, wall / 1e6, (unsigned long long)s.parks);
    cr_assert_gt(s.parks, 0, "no worker ever parked");
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}

Test(executor, idle_workers_park_and_burn_no_cpu_2_workers, T_OPTS) { check_idle_cpu(2); }
Test(executor, idle_workers_park_and_burn_no_cpu_8_workers, T_OPTS) { check_idle_cpu(8); }

static void spin_ns(int64_t ns)
{
    int64_t end = t_now_ns() + ns;
    while (t_now_ns() < end) {
    }
}

/* Submit one task at a time into an executor that is, in turn, busy,
 * spinning, half asleep and fully parked; every task must be picked up. */
static void check_no_lost_wakeups(unsigned workers)
{
    crew_t *ex = t_create(workers);
    long rounds = t_scaled(2000, 200);
    atomic_int n = 0;
    static const int64_t gap_ns[8] = {0, -1, 5000, 20000, 50000, 100000, 200000, 500000};
    for (long i = 0; i < rounds; i++) {
        if (i % 200 == 199)
            sleep_ms(20); /* long enough for every worker to park */
        else if (gap_ns[i % 8] < 0)
            sched_yield();
        else
            spin_ns(gap_ns[i % 8]);
        crew_id_t id;
        ASSERT_RC(crew_submit(ex, count_task, &n, &id), 0);
        crew_status_t st = CREW_TASK_QUEUED;
        int rc = crew_wait(ex, id, 5 * 1000000000LL, &st);
        cr_assert_eq(rc, 0,
                     "round %ld: task not picked up within 5 s (%s): "
                     "lost wake-up",
                     i, t_rc_name(rc));
        ASSERT_STATUS(st, CREW_TASK_DONE);
        ASSERT_RC(crew_release(ex, id), 0);
    }
    cr_assert_eq(atomic_load(&n), rounds);
    DESTROY_CLEAN(&ex);
}

Test(executor, no_lost_wakeups_submitting_to_idle_executor_1_worker, T_OPTS)
{
    check_no_lost_wakeups(1);
}
Test(executor, no_lost_wakeups_submitting_to_idle_executor_2_workers, T_OPTS)
{
    check_no_lost_wakeups(2);
}
Test(executor, no_lost_wakeups_submitting_to_idle_executor_8_workers, T_OPTS)
{
    check_no_lost_wakeups(8);
}

/* Tasks that each wait until all of them have started (a barrier in the
 * bodies), submitted one at a time from outside while the workers go idle
 * between rounds: each needs a worker of its own. A producer that skipped
 * its wake-up because a worker was spinning relies on that worker, which
 * may take another of the tasks and block in it (park.c step 6). */
typedef struct meet {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n, arrived;
    atomic_int stuck; /* tasks that waited T_HANG_S for the others */
} meet_t;

static int meet_task(void *p)
{
    meet_t *m = p;
    struct timespec dl = t_deadline(T_HANG_S);
    pthread_mutex_lock(&m->mu);
    m->arrived++;
    pthread_cond_broadcast(&m->cv);
    while (m->arrived < m->n)
        if (pthread_cond_timedwait(&m->cv, &m->mu, &dl) == ETIMEDOUT) {
            atomic_fetch_add(&m->stuck, 1);
            break;
        }
    pthread_mutex_unlock(&m->mu);
    return 0;
}

static void check_tasks_that_meet(unsigned workers)
{
    crew_t *ex = t_create(workers);
    long rounds = t_scaled(4000, 400);
    meet_t m;
    crew_id_t ids[8];
    pthread_mutex_init(&m.mu, NULL);
    t_cond_init(&m.cv); /* CLOCK_MONOTONIC, as t_deadline() */
    m.n = (int)workers;
    atomic_init(&m.stuck, 0);
    for (long r = 0; r < rounds && !atomic_load(&m.stuck); r++) {
        m.arrived = 0; /* every task of the last round has ended */
        if (r % 4 == 1)
            sched_yield();
        for (unsigned i = 0; i < workers; i++)
            ASSERT_RC(crew_submit(ex, meet_task, &m, &ids[i]), 0);
        for (unsigned i = 0; i < workers; i++)
            ASSERT_STATUS(t_join(ex, ids[i]), CREW_TASK_DONE);
        cr_assert_eq(atomic_load(&m.stuck), 0,
                     "round %ld: a task waited %.0f s for the other %u to start "
                     "(one stayed queued while a worker slept)",
                     r, T_HANG_S, workers - 1);
    }
    pthread_cond_destroy(&m.cv);
    pthread_mutex_destroy(&m.mu);
    DESTROY_CLEAN(&ex);
}

Test(executor, tasks_that_wait_for_each_other_all_start_2_workers, T_OPTS)
{
    check_tasks_that_meet(2);
}
Test(executor, tasks_that_wait_for_each_other_all_start_4_workers, T_OPTS)
{
    check_tasks_that_meet(4);
}
Test(executor, tasks_that_wait_for_each_other_all_start_8_workers, T_OPTS)
{
    check_tasks_that_meet(8);
}

/* The idle path's last look (park.c, step 3): a worker that stops spinning
 * must look at the queues once more after announcing that it will sleep,
 * or a task submitted between its last look while spinning and that
 * announcement stays queued with every worker asleep. Each round submits
 * one task as the worker that ran the previous one is about to park: the
 * delay after the previous body returned is drawn around the time the
 * worker took to park (stats.parks rising), measured every few rounds.
 * Completion is seen through the body's counter, which disturbs nothing
 * (a waiter would make the finisher wake parked workers). Each task must
 * be picked up within 5 s. */
static void check_idle_last_look(unsigned workers)
{
    crew_t *ex = t_create(workers);
    long rounds = t_scaled(4000, 400);
    int64_t park_ns = 0, delay = 0;
    unsigned seed = 7;
    atomic_int n = 0;
    for (long i = 0; i < rounds; i++) {
        uint64_t parks = t_stats(ex).parks;
        crew_id_t id;
        ASSERT_RC(crew_submit(ex, count_task, &n, &id), 0);
        /* Spin at first (to see the end promptly), then yield the CPU. */
        int64_t start = t_now_ns(), end = start + 5 * 1000000000LL, now;
        for (unsigned k = 0; atomic_load(&n) != i + 1 && (now = t_now_ns()) < end;)
            if (now - start > 100000)
                t_backoff(k++);
        cr_assert_eq(atomic_load(&n), i + 1,
                     "round %ld: a task submitted "
                     "%lld ns after the previous one returned was not picked "
                     "up within 5 s: lost wake-up (%u workers, parking takes "
                     "about %lld ns)",
                     i, (long long)delay, workers, (long long)park_ns);
        int64_t done_at = t_now_ns();
        ASSERT_RC(crew_release(ex, id), 0);
        if (i % 16 == 0) {
            /* Measure: how long until the worker parks again. */
            end = done_at + (int64_t)(T_HANG_S * 1e9);
            for (unsigned k = 0; t_stats(ex).parks == parks && (now = t_now_ns()) < end;)
                if (now - done_at > 100000)
                    t_backoff(k++);
            cr_assert_gt(t_stats(ex).parks, parks, "no worker parked");
            /* A measurement the scheduler stretched says nothing. */
            int64_t took = t_now_ns() - done_at;
            if (took > 2000000)
                took = 2000000;
            park_ns = park_ns ? (3 * park_ns + took) / 4 : took;
            delay = -1;
            continue;
        }
        /* Submit next somewhere in 30%..110% of the time to park. */
        delay = park_ns * (30 + (int64_t)(rand_r(&seed) % 81)) / 100;
        spin_ns(delay);
    }
    ASSERT_CLEAN(ex);
    DESTROY_CLEAN(&ex);
}

Test(executor, idle_worker_looks_at_the_queues_after_announcing_it_parks_1_worker, T_OPTS)
{
    check_idle_last_look(1);
}
Test(executor, idle_worker_looks_at_the_queues_after_announcing_it_parks_2_workers, T_OPTS)
{
    check_idle_last_look(2);
}
Test(executor, idle_worker_looks_at_the_queues_after_announcing_it_parks_8_workers, T_OPTS)
{
    check_idle_last_look(8);
}

/* Wake-ups for spawned work: a task on one worker spawns children while
 * the other workers are parked; each child blocks until all have started,
 * so they can only all start if the spawn woke the sleepers. */
typedef struct wake {
    gate_t gate;
    int children;
} wake_t;

static int wake_parent(void *arg)
{
    wake_t *w = arg;
    for (int i = 0; i < w->children; i++)
        if (crew_spawn(gate_task, &w->gate, NULL) != 0)
            return 1;
    return 0;
}

Test(executor, spawning_wakes_parked_workers, T_OPTS)
{
    crew_t *ex = t_create(4);
    for (int round = 0; round < 20; round++) {
        sleep_ms(5); /* let the workers park */
        wake_t w;
        gate_init(&w.gate);
        w.children = 4;
        ASSERT_RC(crew_submit(ex, wake_parent, &w, NULL), 0);
        /* All four children block at once: possible only if every parked
         * worker was woken for them (the parent finished and freed its
         * worker). */
        gate_await_arrivals(&w.gate, 4);
        gate_open(&w.gate);
        ASSERT_CLEAN(ex);
        gate_destroy(&w.gate);
    }
    DESTROY_CLEAN(&ex);
}

/* ---- unstacking: a worker that wakes on another worker's CPU moves -------- */

/* The move worker.c's unstack() makes: off the CPUs other workers
 * reported, with the thread's allowed set given back afterwards; no move
 * when every allowed CPU is reported. */
Test(executor, a_waking_worker_moves_off_a_busy_cpu_and_keeps_its_mask, T_OPTS)
{
    cpu_set_t before, after;
    cr_assert_eq(pthread_getaffinity_np(pthread_self(), sizeof before, &before), 0);
    if (CPU_COUNT(&before) < 2)
        cr_skip_test("one CPU allowed: nowhere to move");
    for (int round = 0; round < 20; round++) {
        int me = crew__cpu_now();
        int busy[2] = {me, -1};
        cr_assert_geq(me, 0);
        cr_assert(crew__move_off(busy, 2), "no move although another CPU is allowed");
        cr_assert_neq(crew__cpu_now(), me, "still on the busy CPU %d", me);
        cr_assert_eq(pthread_getaffinity_np(pthread_self(), sizeof after, &after), 0);
        cr_assert(CPU_EQUAL(&before, &after), "the allowed set was not given back");
    }
    {
        int all[CPU_SETSIZE];
        unsigned n = 0;
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &before))
                all[n++] = c;
        cr_assert_not(crew__move_off(all, n), "moved although every CPU is busy");
        cr_assert_eq(pthread_getaffinity_np(pthread_self(), sizeof after, &after), 0);
        cr_assert(CPU_EQUAL(&before, &after));
    }
}

/* A worker that starts a parallel loop on a CPU another worker reported
 * moves off it (worker.c crew__worker_unstack): the kernel may have put a
 * busy worker beside a spinning one that never parks. The other worker's
 * report is written here (as if it ran on our CPU); it may overwrite it
 * when it wakes, so a few tries are allowed. */
typedef struct stacked {
    crew_t *ex;
    int moved; /* tries until our worker's unstacks grew; 0: never */
    int rc;    /* the first call that failed, checked on the test thread */
} stacked_t;

static void nothing(void *arg, int64_t lo, int64_t hi)
{
    (void)arg;
    (void)lo;
    (void)hi;
}

static int loop_on_a_reported_cpu(void *p)
{
    stacked_t *s = p;
    unsigned me = (unsigned)crew_worker_index(), other = 1 - me;
    for (int tries = 1; tries <= 100 && !s->moved && !s->rc; tries++) {
        crew_worker_stats_t a = CREW_WORKER_STATS_INIT, b = CREW_WORKER_STATS_INIT;
        int cpu = crew__cpu_now();
        if ((s->rc = crew_worker_stats(s->ex, me, &a)) != 0)
            break;
        /* relaxed: the hint worker.c reads relaxed. */
        atomic_store_explicit(&s->ex->cpu_of[other], cpu, memory_order_relaxed);
        if ((s->rc = crew_for(s->ex, 0, 2, nothing, NULL, NULL, NULL)) != 0 ||
            (s->rc = crew_worker_stats(s->ex, me, &b)) != 0)
            break;
        if (b.unstacks > a.unstacks)
            s->moved = tries;
    }
    return 0;
}

Test(executor, a_worker_starting_a_loop_on_a_reported_cpu_moves, T_OPTS)
{
    cpu_set_t set;
    stacked_t s = {NULL, 0, 0};
    crew_id_t id;
    crew_status_t st;
    cr_assert_eq(pthread_getaffinity_np(pthread_self(), sizeof set, &set), 0);
    if (CPU_COUNT(&set) < 2)
        cr_skip_test("one CPU allowed: nowhere to move");
    s.ex = t_create(2);
    ASSERT_RC(crew_submit(s.ex, loop_on_a_reported_cpu, &s, &id), 0);
    ASSERT_RC(crew_join(s.ex, id, &st), 0);
    cr_assert_eq(st, CREW_TASK_DONE);
    ASSERT_RC(s.rc, 0);
    cr_assert_gt(s.moved, 0, "never moved off the CPU the other worker reported");
    DESTROY_CLEAN(&s.ex);
}

/* Through the executor: workers that park and wake for a parallel loop
 * over and over report where they run, and the counts add up. */
static void add_one(void *arg, int64_t lo, int64_t hi)
{
    atomic_fetch_add((atomic_long *)arg, hi - lo);
}

static uint64_t unstacks_sum(crew_t *ex)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i <= crew_workers(ex); i++) {
        crew_worker_stats_t ws = CREW_WORKER_STATS_INIT;
        ASSERT_RC(crew_worker_stats(ex, i, &ws), 0);
        sum += ws.unstacks;
    }
    return sum;
}

Test(executor, loops_after_idle_gaps_count_unstacks_per_worker, T_OPTS)
{
    crew_t *ex = t_create(2);
    atomic_long n = 0;
    for (int round = 0; round < 10; round++) {
        sleep_ms(2); /* let the workers park */
        ASSERT_RC(crew_for(ex, 0, 100000, add_one, &n, NULL, NULL), 0);
    }
    cr_assert_eq(atomic_load(&n), 10 * 100000);
    (void)t_settle(ex);
    /* Workers may still wake (and move) now: the executor's total must
     * equal the per-worker sum whenever no move happened between two reads
     * of the sum (the counters only grow). */
    for (int tries = 0;; tries++) {
        uint64_t before = unstacks_sum(ex), total, after;
        crew_stats_t st = {.size = sizeof st};
        ASSERT_RC(crew_stats(ex, &st), 0);
        total = st.unstacks;
        after = unstacks_sum(ex);
        if (before == after) {
            cr_assert_eq(total, before, "per-worker unstacks %llu, executor %llu",
                         (unsigned long long)before, (unsigned long long)total);
            break;
        }
        cr_assert_lt(tries, 1000, "the counters never stood still");
    }
    DESTROY_CLEAN(&ex);
}
