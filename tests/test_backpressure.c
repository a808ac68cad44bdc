/* test_backpressure.c - bounds on queued work (crew.h "Backpressure"):
 * a producer far faster than the workers stays within the bound's memory
 * and every task runs exactly once; the three policies (wait, fail,
 * caller-runs), per executor and per call; a waiting submitter that is a
 * task of another executor stops when cancelled; spawns never wait;
 * batches are admitted in pieces; group and actor bounds; shutdown. */
#include <sys/resource.h>

#include "crit.h"

#define MS ((int64_t)1000000)

static crew_t *bounded(unsigned workers, unsigned max, unsigned policy, int64_t timeout)
{
    crew_options_t o = CREW_OPTIONS_INIT;
    crew_t *ex = NULL;
    o.workers = workers;
    o.max_queued = max;
    o.full_policy = policy;
    o.full_timeout = timeout;
    ASSERT_RC(crew_create(&ex, &o), 0);
    t_open_executors++;
    return ex;
}

/* ---- exactly once, in little memory --------------------------------------- */

static _Atomic uint64_t *seen; /* one bit per task */
static atomic_long dups;

static int mark(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    uint64_t bit = (uint64_t)1 << (i % 64);
    if (atomic_fetch_or_explicit(&seen[i / 64], bit, memory_order_relaxed) & bit)
        atomic_fetch_add(&dups, 1);
    return 0;
}

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

Test(backpressure, twenty_million_submissions_through_a_bound_stay_small_and_run_once,
     .timeout = CREW_TEST_TIMEOUT * 4)
{
    long n = t_scaled(20000000, 200000);
    crew_t *ex = bounded(2, 10000, CREW_FULL_WAIT, 0);
    long before = max_rss_kib();
    seen = calloc((size_t)(n + 63) / 64, sizeof *seen);
    cr_assert_not_null(seen);
    atomic_store(&dups, 0);
    for (long i = 0; i < n; i++)
        ASSERT_RC(crew_submit(ex, mark, (void *)(uintptr_t)i, NULL), 0);
    crew_stats_t st = t_settle(ex);
    cr_assert_eq(st.done, (uint64_t)n);
    cr_assert_eq(atomic_load(&dups), 0);
    for (long i = 0; i < n; i++)
        cr_assert(atomic_load(&seen[i / 64]) & ((uint64_t)1 << (i % 64)), "task %ld never ran", i);
    /* The bitmap is n/8 bytes; the queue may hold 10,000 tasks (~1.3 MB). */
    long grew = max_rss_kib() - before;
    cr_assert_lt(grew, 64 * 1024, "peak RSS grew by %ld KiB for %ld tasks", grew, n);
    free(seen);
    DESTROY_CLEAN(&ex);
}

/* ---- the policies ---------------------------------------------------------- */

Test(backpressure, fail_policy_says_EFULL_and_changes_nothing, T_OPTS)
{
    crew_t *ex = bounded(1, 2, CREW_FULL_FAIL, 0);
    gate_t g;
    atomic_int ran = 0;
    crew_id_t a, b, c;
    gate_init(&g);
    saturate(ex, &g); /* submitted from outside: they started, slots freed */
    ASSERT_RC(crew_submit(ex, count_task, &ran, &a), 0);
    ASSERT_RC(crew_submit(ex, count_task, &ran, &b), 0);
    ASSERT_RC(crew_submit(ex, count_task, &ran, &c), CREW_EFULL);
    /* Per call: wait overrides the executor's policy (here it would wait
     * forever, so only the try form is checked the other way round). */
    crew_task_desc_t d = {.fn = count_task, .arg = &ran, .flags = CREW_TASK_FULL_FAIL};
    ASSERT_RC(crew_submit_ex(ex, &d, NULL), CREW_EFULL);
    d.flags = CREW_TASK_FULL_FAIL | CREW_TASK_FULL_RUN;
    ASSERT_RC(crew_submit_ex(ex, &d, NULL), CREW_EINVAL);
    gate_open(&g);
    ASSERT_STATUS(t_join(ex, a), CREW_TASK_DONE);
    ASSERT_STATUS(t_join(ex, b), CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&ran), 2);
    gate_destroy(&g);
    DESTROY_CLEAN(&ex);
}

Test(backpressure, a_wait_gives_up_after_the_timeout, T_OPTS)
{
    crew_t *ex = bounded(1, 1, CREW_FULL_WAIT, 30 * MS);
    gate_t g;
    atomic_int ran = 0;
    crew_id_t a;
    gate_init(&g);
    saturate(ex, &g);
    ASSERT_RC(crew_submit(ex, count_task, &ran, &a), 0);
    int64_t t0 = t_now_ns();
    ASSERT_RC(crew_submit(ex, count_task, &ran, NULL), CREW_ETIMEDOUT);
    cr_assert_geq(t_now_ns() - t0, 30 * MS);
    gate_open(&g);
    ASSERT_STATUS(t_join(ex, a), CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&ran), 1);
    gate_destroy(&g);
    DESTROY_CLEAN(&ex);
}

static _Atomic pthread_t body_thread;
static atomic_long bodies;

static int note_thread(void *arg)
{
    (void)arg;
    atomic_store(&body_thread, pthread_self());
    atomic_fetch_add(&bodies, 1);
    return 0;
}

Test(backpressure, caller_runs_runs_the_task_here_exactly_once, T_OPTS)
{
    crew_t *ex = bounded(1, 1, CREW_FULL_CALLER_RUNS, 0);
    gate_t g;
    crew_id_t a, b;
    gate_init(&g);
    saturate(ex, &g);
    atomic_store(&bodies, 0);
    ASSERT_RC(crew_submit(ex, note_thread, NULL, &a), 0); /* queued: the slot */
    ASSERT_RC(crew_submit(ex, note_thread, NULL, &b), 0); /* full: runs here */
    cr_assert(pthread_equal(atomic_load(&body_thread), pthread_self()), "not on this thread");
    ASSERT_STATUS(t_join(ex, b), CREW_TASK_DONE); /* a task like any other */
    gate_open(&g);
    ASSERT_STATUS(t_join(ex, a), CREW_TASK_DONE);
    /* Many, racing with the workers: each runs exactly once. */
    long n = t_scaled(100000, 5000);
    for (long i = 0; i < n; i++)
        ASSERT_RC(crew_submit(ex, note_thread, NULL, NULL), 0);
    crew_stats_t st = t_settle(ex);
    cr_assert_eq(atomic_load(&bodies), n + 2);
    cr_assert_eq(st.done, (uint64_t)(n + 2 + crew_workers(ex)));
    gate_destroy(&g);
    DESTROY_CLEAN(&ex);
}

/* ---- a waiting submitter that is a task of another executor ---------------- */

typedef struct xsub {
    crew_t *target;
    atomic_int waiting;
    int rc;
    int64_t returned_at;
} xsub_t;

static int submit_elsewhere(void *arg)
{
    xsub_t *x = arg;
    atomic_store(&x->waiting, 1);
    x->rc = crew_submit(x->target, noop_task, NULL, NULL); /* full: waits */
    x->returned_at = t_now_ns();
    return 0;
}

Test(backpressure, a_cancelled_waiting_submitter_returns_promptly, T_OPTS)
{
    crew_t *a = bounded(1, 1, CREW_FULL_WAIT, 0), *b = t_create(1);
    gate_t g;
    crew_id_t q, w;
    xsub_t x = {.target = a};
    gate_init(&g);
    saturate(a, &g);
    ASSERT_RC(crew_submit(a, noop_task, NULL, &q), 0); /* a is full now */
    ASSERT_RC(crew_submit(b, submit_elsewhere, &x, &w), 0);
    flag_await(&x.waiting);
    int64_t t0 = t_now_ns();
    ASSERT_RC(crew_cancel(b, w, 0, NULL), CREW_REQUESTED);
    ASSERT_STATUS(t_join(b, w), CREW_TASK_CANCELLED);
    ASSERT_RC(x.rc, CREW_ECANCELED);
    cr_assert_lt(x.returned_at - t0, 1000 * MS, "%lld ms", (long long)((x.returned_at - t0) / MS));
    gate_open(&g);
    ASSERT_STATUS(t_join(a, q), CREW_TASK_DONE);
    gate_destroy(&g);
    DESTROY_CLEAN(&b);
    DESTROY_CLEAN(&a);
}

/* ---- spawns never wait; batches in pieces ---------------------------------- */

static int spawn_many(void *arg)
{
    atomic_int *ran = arg;
    for (int i = 0; i < 1000; i++)
        if (crew_spawn(count_task, ran, NULL) != 0)
            return -1;
    return 0;
}

Test(backpressure, spawns_from_tasks_never_wait, T_OPTS)
{
    crew_t *ex = bounded(2, 1, CREW_FULL_FAIL, 0);
    atomic_int ran = 0;
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, spawn_many, &ran, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    t_settle(ex);
    cr_assert_eq(atomic_load(&ran), 1000);
    DESTROY_CLEAN(&ex);
}

Test(backpressure, a_batch_larger_than_the_bound_is_admitted_in_pieces, T_OPTS)
{
    crew_t *ex = bounded(2, 100, CREW_FULL_WAIT, 0);
    enum { N = 5000 };
    static void *args[N];
    static crew_id_t ids[N];
    long n = N;
    seen = calloc((N + 63) / 64, sizeof *seen);
    atomic_store(&dups, 0);
    for (long i = 0; i < n; i++)
        args[i] = (void *)(uintptr_t)i;
    crew_task_desc_t d = {.fn = mark};
    ASSERT_RC(crew_submit_batch(ex, &d, args, N, ids), 0);
    for (long i = 0; i < n; i++) {
        cr_assert_neq(ids[i], 0);
        ASSERT_STATUS(t_join(ex, ids[i]), CREW_TASK_DONE);
    }
    cr_assert_eq(atomic_load(&dups), 0);
    for (long i = 0; i < n; i++)
        cr_assert(atomic_load(&seen[i / 64]) & ((uint64_t)1 << (i % 64)));
    free(seen);
    DESTROY_CLEAN(&ex);
}

/* ---- group and actor bounds; shutdown ---------------------------------------- */

Test(backpressure, a_group_bound_counts_its_queued_members, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_group_t *grp = t_group(ex, NULL, 0);
    gate_t g;
    atomic_int ran = 0;
    gate_init(&g);
    saturate(ex, &g);
    ASSERT_RC(crew_group_set_limit(grp, 3), 0);
    crew_task_desc_t d = {.fn = count_task, .arg = &ran, .group = grp};
    for (int i = 0; i < 3; i++)
        ASSERT_RC(crew_submit_ex(ex, &d, NULL), 0);
    d.flags = CREW_TASK_FULL_FAIL;
    ASSERT_RC(crew_submit_ex(ex, &d, NULL), CREW_EFULL);
    ASSERT_RC(crew_submit(ex, count_task, &ran, NULL), 0); /* not in the group */
    ASSERT_RC(crew_group_set_limit(NULL, 1), CREW_EINVAL);
    gate_open(&g);
    crew_status_t st;
    ASSERT_RC(crew_group_wait(grp, -1, &st), 0);
    t_settle(ex);
    cr_assert_eq(atomic_load(&ran), 4);
    ASSERT_RC(crew_group_destroy(grp), 0);
    gate_destroy(&g);
    DESTROY_CLEAN(&ex);
}

Test(backpressure, an_actor_mailbox_bound, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_actor_t *a = NULL;
    gate_t g;
    atomic_int ran = 0;
    gate_init(&g);
    ASSERT_RC(crew_actor_create(ex, NULL, NULL, &a), 0);
    ASSERT_RC(crew_actor_set_limit(a, 2), 0);
    ASSERT_RC(crew_actor_submit(a, gate_task, &g, NULL), 0);
    gate_await_arrivals(&g, 1); /* running: its slot is free again */
    ASSERT_RC(crew_actor_submit(a, count_task, &ran, NULL), 0);
    ASSERT_RC(crew_actor_submit(a, count_task, &ran, NULL), 0);
    crew_task_desc_t d = {.fn = count_task, .arg = &ran, .flags = CREW_TASK_FULL_FAIL};
    ASSERT_RC(crew_actor_submit_ex(a, &d, NULL), CREW_EFULL);
    d.flags = CREW_TASK_FULL_RUN; /* an actor's tasks keep their turn: waits */
    gate_open(&g);
    ASSERT_RC(crew_actor_submit_ex(a, &d, NULL), 0);
    ASSERT_RC(crew_actor_destroy(a), 0); /* no call on `a` after this */
    t_settle(ex);
    cr_assert_eq(atomic_load(&ran), 3);
    gate_destroy(&g);
    DESTROY_CLEAN(&ex);
}

static void *shutdown_later(void *arg)
{
    crew_t *ex = arg;
    crew_shutdown(ex, CREW_CANCEL);
    return NULL;
}

static void *submit_waiting(void *arg)
{
    void **a = arg;
    *(int *)a[1] = crew_submit(a[0], noop_task, NULL, NULL);
    atomic_store((atomic_int *)a[2], 1);
    return NULL;
}

Test(backpressure, shutdown_ends_a_wait, T_OPTS)
{
    crew_t *ex = bounded(1, 1, CREW_FULL_WAIT, 0);
    gate_t g;
    pthread_t p1, p2;
    int rc = 0;
    atomic_int returned = 0;
    crew_id_t q;
    gate_init(&g);
    saturate(ex, &g);
    ASSERT_RC(crew_submit(ex, noop_task, NULL, &q), 0);
    void *args[3] = {ex, &rc, &returned};
    pthread_create(&p1, NULL, submit_waiting, args);
    /* It waits (nothing frees a slot while the worker is held). */
    cr_assert_not(T_WAIT_UNTIL(atomic_load(&returned), 0.05));
    pthread_create(&p2, NULL, shutdown_later, ex);
    cr_assert(T_WAIT_UNTIL(atomic_load(&returned), T_HANG_S));
    pthread_join(p1, NULL);
    ASSERT_RC(rc, CREW_ESHUTDOWN);
    gate_open(&g);
    pthread_join(p2, NULL);
    ASSERT_RC(crew_release(ex, q), 0);
    gate_destroy(&g);
    DESTROY_CLEAN_MODE(&ex, CREW_CANCEL);
}
