/* test_fork.c - structured fork-join: crew_fork, crew_fork_copy, crew_sync,
 * crew_sync_ok, crew_join_child. Every child runs exactly once (or, when
 * its parent is cancelled before it starts, never); crew_sync waits for all
 * of them even when the caller is cancelled and reports what they did;
 * forked children have no ID; inlining (deep trees, a full fork deque)
 * never changes outcomes or counts. */
#include "crit.h"

/* ---- fib, the canonical fork-join ---------------------------------------- */

typedef struct {
    int n;
    long r;
} fib_t;

static int fib(void *p)
{
    fib_t *a = p, x, y;
    if (a->n < 2) {
        a->r = a->n;
        return 0;
    }
    x = (fib_t){a->n - 1, 0};
    y = (fib_t){a->n - 2, 0};
    crew_fork(fib, &x);
    fib(&y);
    if (crew_sync_ok() != 0)
        return 1;
    a->r = x.r + y.r;
    return 0;
}

static long fib_serial(int n) { return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2); }

static void run_fib(unsigned workers, int n)
{
    crew_t *ex = t_create(workers);
    fib_t a = {n, 0};
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, fib, &a, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    cr_assert_eq(a.r, fib_serial(n), "fib(%d) = %ld", n, a.r);
    DESTROY_CLEAN(&ex);
}

Test(fork, fib_by_fork_and_sync_is_right_on_1_2_and_8_workers, T_OPTS)
{
    int n = (int)t_scaled(27, 18);
    run_fib(1, n);
    run_fib(2, n);
    run_fib(8, n); /* oversubscribed on small machines: steals, parking */
}

/* ---- exactly once, outcomes, counts --------------------------------------- */

enum { KIDS = 300 };

typedef struct {
    atomic_int runs[KIDS];
    crew_sync_result_t r;
    int sync_rc, ok_rc;
    atomic_int self_nonzero;
} kids_t;

typedef struct {
    kids_t *k;
    int i;
} kid_arg_t;

static int kid(void *p)
{
    kid_arg_t *a = p;
    atomic_fetch_add(&a->k->runs[a->i], 1);
    if (crew_self() != 0)
        atomic_fetch_add(&a->k->self_nonzero, 1);
    return a->i % 7 == 3 ? 40 + a->i : 0; /* some fail */
}

static int parent_of_many(void *p)
{
    kids_t *k = p;
    kid_arg_t args[KIDS];
    for (int i = 0; i < KIDS; i++) {
        args[i] = (kid_arg_t){k, i};
        crew_fork(kid, &args[i]);
    }
    k->sync_rc = crew_sync(&k->r);
    /* A second sync with nothing forked reports nothing. */
    k->ok_rc = crew_sync_ok();
    return 0;
}

Test(fork, every_child_runs_once_and_sync_reports_each_outcome, T_OPTS)
{
    for (unsigned workers = 1; workers <= 4; workers *= 2) {
        crew_t *ex = t_create(workers);
        kids_t *k = calloc(1, sizeof *k);
        crew_id_t id;
        ASSERT_RC(crew_submit(ex, parent_of_many, k, &id), 0);
        ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
        int failing = 0;
        for (int i = 0; i < KIDS; i++) {
            cr_assert_eq(atomic_load(&k->runs[i]), 1, "child %d ran %d times", i,
                         atomic_load(&k->runs[i]));
            failing += i % 7 == 3;
        }
        ASSERT_RC(k->sync_rc, 0);
        ASSERT_STATUS(k->r.status, CREW_TASK_FAILED);
        cr_assert_eq(k->r.failed, (uint32_t)failing);
        cr_assert_eq(k->r.done, (uint32_t)(KIDS - failing));
        cr_assert_eq(k->r.cancelled, 0);
        cr_assert(k->r.first_failure >= 43, "first failure %d", k->r.first_failure);
        ASSERT_RC(k->ok_rc, 0);
        cr_assert_eq(atomic_load(&k->self_nonzero), 0, "a forked child has no ID");
        free(k);
        DESTROY_CLEAN(&ex);
    }
}

static int fails(void *p)
{
    (void)p;
    return 9;
}

static int sync_ok_parent(void *p)
{
    int *rc = p;
    crew_fork(fails, NULL);
    *rc = crew_sync_ok();
    return *rc;
}

Test(fork, sync_ok_turns_a_failed_child_into_an_error_the_parent_returns, T_OPTS)
{
    crew_t *ex = t_create(2);
    int rc = 0;
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, sync_ok_parent, &rc, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_FAILED);
    ASSERT_RC(rc, CREW_EFAILED);
    DESTROY_CLEAN(&ex);
}

/* ---- payload copies ----------------------------------------------------------- */

typedef struct {
    atomic_long *sum;
    long v;
    char tag[8];
} pay_t;

static int pay_kid(void *p)
{
    pay_t *a = p; /* our own copy */
    if (a->tag[0] == 'k' && a->tag[7] == '!')
        atomic_fetch_add(a->sum, a->v);
    return 0;
}

static int pay_parent(void *p)
{
    atomic_long *sum = p;
    for (long i = 1; i <= 1000; i++) {
        pay_t a = {sum, i, {'k', 0, 0, 0, 0, 0, 0, '!'}}; /* reused each round */
        crew_fork_copy(pay_kid, &a, sizeof a);
    }
    return crew_sync_ok();
}

static int bad_copy(void *p)
{
    int *rc = p;
    char big[CREW_FORK_PAYLOAD_MAX + 1] = {0};
    rc[0] = crew_fork_copy(pay_kid, big, sizeof big);
    rc[1] = crew_fork_copy(NULL, big, 8);
    rc[2] = crew_fork(NULL, NULL);
    return 0;
}

Test(fork, fork_copy_gives_each_child_its_own_argument, T_OPTS)
{
    crew_t *ex = t_create(2);
    atomic_long sum = 0;
    crew_id_t id;
    int rc[3];
    ASSERT_RC(crew_submit(ex, pay_parent, &sum, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&sum), 1000L * 1001 / 2);
    ASSERT_RC(crew_submit(ex, bad_copy, rc, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    ASSERT_RC(rc[0], CREW_EINVAL);
    ASSERT_RC(rc[1], CREW_EINVAL);
    ASSERT_RC(rc[2], CREW_EINVAL);
    DESTROY_CLEAN(&ex);
}

/* ---- outside a task ------------------------------------------------------------ */

Test(fork, fork_and_sync_outside_a_task_are_refused, T_OPTS)
{
    crew_sync_result_t r;
    ASSERT_RC(crew_fork(noop_task, NULL), CREW_ENOTINTASK);
    ASSERT_RC(crew_fork_copy(noop_task, "x", 1), CREW_ENOTINTASK);
    ASSERT_RC(crew_sync(&r), CREW_ENOTINTASK);
    ASSERT_RC(crew_sync_ok(), CREW_ENOTINTASK);
    ASSERT_RC(crew_join_child(1, NULL), CREW_ENOTINTASK);
}

/* ---- implicit sync -------------------------------------------------------------- */

typedef struct {
    gate_t *gate;
    atomic_int *done;
} slow_t;

static int slow_kid(void *p)
{
    slow_t *s = p;
    gate_pass(s->gate);
    atomic_fetch_add(s->done, 1);
    return 0;
}

static int forgets_to_sync(void *p)
{
    slow_t *s = p;
    for (int i = 0; i < 3; i++)
        crew_fork(slow_kid, s);
    return 0; /* no crew_sync */
}

Test(fork, a_task_that_returns_without_sync_ends_after_its_children, T_OPTS)
{
    crew_t *ex = t_create(4);
    gate_t gate;
    atomic_int done = 0;
    slow_t s = {&gate, &done};
    crew_id_t id;
    gate_init(&gate);
    ASSERT_RC(crew_submit(ex, forgets_to_sync, &s, &id), 0);
    gate_await_arrivals(&gate, 1); /* at least one child runs (the parent syncs it) */
    crew_status_t st;
    ASSERT_RC(crew_wait(ex, id, 0, &st), CREW_ETIMEDOUT); /* not terminal yet */
    gate_open(&gate);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&done), 3, "every child ended before its parent");
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

/* ---- cancellation ----------------------------------------------------------------- */

typedef struct {
    atomic_int started;
    atomic_int ran_after_cancel;
    atomic_int saw_cancel;
    atomic_int cancel_returned;
    atomic_int forked;
    crew_sync_result_t r;
    int sync_rc;
} cx_t;

static int cx_kid(void *p)
{
    cx_t *c = p;
    if (flag_get(&c->cancel_returned))
        atomic_fetch_add(&c->ran_after_cancel, 1);
    atomic_fetch_add(&c->started, 1);
    return 0;
}

static int cx_parent(void *p)
{
    cx_t *c = p;
    for (int i = 0; i < 60; i++) /* under CREW_FORK_INLINE_DEPTH: all queued */
        crew_fork(cx_kid, c);
    flag_set(&c->forked);
    while (!crew_cancelled())
        sched_yield();
    atomic_store(&c->saw_cancel, 1);
    c->sync_rc = crew_sync(&c->r);
    return 0;
}

Test(fork, forks_of_a_cancelled_task_never_start_after_the_cancel_returned, T_OPTS)
{
    crew_t *ex = t_create(1); /* the only worker runs the parent: nothing is stolen */
    cx_t c = {0};
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, cx_parent, &c, &id), 0);
    flag_await(&c.forked);
    ASSERT_RC(crew_cancel(ex, id, 5, "stop"), CREW_REQUESTED);
    flag_set(&c.cancel_returned);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&c.started), 0, "%d children started", atomic_load(&c.started));
    ASSERT_RC(c.sync_rc, CREW_ECANCELED);
    ASSERT_STATUS(c.r.status, CREW_TASK_CANCELLED);
    cr_assert_eq(c.r.cancelled, 60);
    cr_assert_eq(c.r.done, 0);
    DESTROY_CLEAN(&ex);
}

typedef struct {
    probe_t kid;
    atomic_int join_returned;
    int sync_rc;
    crew_sync_result_t r;
    atomic_int kid_saw_sync_returned;
} waitall_t;

static int waitall_kid(void *p)
{
    waitall_t *w = p;
    probe_task(&w->kid); /* sees the cancel, runs on until released */
    atomic_store(&w->kid_saw_sync_returned, atomic_load(&w->join_returned));
    return 0;
}

static int waitall_parent(void *p)
{
    waitall_t *w = p;
    crew_fork(waitall_kid, w);
    /* Wait until another worker runs it. A fork made while no worker was
     * idle stays private until our next fork (crew.h): fork no-ops, which
     * share the older frames with the worker asking for them. */
    while (!flag_get(&w->kid.started)) {
        crew_fork(noop_task, NULL);
        sched_yield();
    }
    w->sync_rc = crew_sync(&w->r);
    atomic_store(&w->join_returned, 1);
    return 0;
}

Test(fork, sync_waits_for_a_running_child_even_when_the_caller_is_cancelled, T_OPTS)
{
    crew_t *ex = t_create(2);
    waitall_t w = {0};
    crew_id_t id;
    probe_init(&w.kid, false, 0);
    ASSERT_RC(crew_submit(ex, waitall_parent, &w, &id), 0);
    flag_await(&w.kid.started); /* running on the other worker: a stolen fork */
    ASSERT_RC(crew_cancel(ex, id, 0, NULL), CREW_REQUESTED);
    cr_assert(T_WAIT_UNTIL(atomic_load(&w.kid.saw_cancel), T_HANG_S),
              "the running child sees its parent's cancel");
    T_WAIT_UNTIL(atomic_load(&w.join_returned), 0.2);
    cr_assert_eq(atomic_load(&w.join_returned), 0, "sync returned while a child ran");
    flag_set(&w.kid.release);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&w.kid_saw_sync_returned), 0);
    ASSERT_RC(w.sync_rc, CREW_ECANCELED);
    ASSERT_STATUS(w.r.status, CREW_TASK_CANCELLED); /* it ran while cancelled */
    cr_assert(w.r.cancelled >= 1, "the child ran while its parent was cancelled");
    DESTROY_CLEAN(&ex);
}

typedef struct {
    crew_group_t *g;
    atomic_int forked;
    atomic_int started;
    crew_sync_result_t r;
} gcx_t;

static int gcx_kid(void *p)
{
    gcx_t *c = p;
    atomic_fetch_add(&c->started, 1);
    return 0;
}

static int gcx_member(void *p)
{
    gcx_t *c = p;
    for (int i = 0; i < 50; i++)
        crew_fork(gcx_kid, c);
    flag_set(&c->forked);
    while (!crew_cancelled())
        sched_yield();
    crew_sync(&c->r);
    return 0;
}

Test(fork, cancelling_the_group_of_the_forking_task_reaches_its_forks, T_OPTS)
{
    crew_t *ex = t_create(1);
    gcx_t c = {0};
    ASSERT_RC(crew_group_create(ex, NULL, 0, &c.g), 0);
    crew_task_desc_t d = {.fn = gcx_member, .arg = &c, .cleanup = NULL, .group = c.g};
    ASSERT_RC(crew_submit_ex(ex, &d, NULL), 0);
    flag_await(&c.forked);
    ASSERT_RC(crew_group_cancel(c.g, 0, NULL), 0);
    crew_status_t st;
    ASSERT_RC(crew_group_join(c.g, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&c.started), 0);
    cr_assert_eq(c.r.cancelled, 50);
    ASSERT_RC(crew_group_destroy(c.g), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- inlining never changes outcomes or counts ------------------------------------ */

typedef struct {
    atomic_long ran;
    long n;
    crew_sync_result_t r;
} wide_t;

static int wide_kid(void *p)
{
    wide_t *w = p;
    atomic_fetch_add(&w->ran, 1);
    return 0;
}

static int wide_parent(void *p)
{
    wide_t *w = p;
    for (long i = 0; i < w->n; i++)
        crew_fork(wide_kid, w); /* past 64 private frames: calls, unless a thief asks */
    crew_sync(&w->r);
    return 0;
}

Test(fork, deep_and_wide_forks_run_inline_with_the_same_counts, T_OPTS)
{
    /* 300,000 forks also overflow the fork deque (CREW_FORK_FRAMES). */
    long sizes[] = {10, 64, 65, 10000, 300000};
    for (unsigned workers = 1; workers <= 2; workers++)
        for (unsigned k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            crew_t *ex = t_create(workers);
            wide_t w = {.n = sizes[k]};
            crew_id_t id;
            ASSERT_RC(crew_submit(ex, wide_parent, &w, &id), 0);
            ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
            cr_assert_eq(atomic_load(&w.ran), w.n, "ran %ld of %ld", atomic_load(&w.ran), w.n);
            cr_assert_eq(w.r.done, (uint32_t)w.n);
            ASSERT_STATUS(w.r.status, CREW_TASK_DONE);
            DESTROY_CLEAN(&ex);
        }
}

/* ---- crew_join_child ---------------------------------------------------------------- */

static int join_child_parent(void *p)
{
    int *rc = p;
    crew_id_t a, b;
    crew_status_t st;
    crew_spawn(noop_task, NULL, &a);
    crew_spawn(fails, NULL, &b);
    rc[0] = crew_join_child(b, &st); /* newest first: the cheap order */
    rc[1] = (int)st;
    rc[2] = crew_join_child(a, NULL);
    return 0;
}

Test(fork, join_child_folds_the_outcome_into_its_return_value, T_OPTS)
{
    crew_t *ex = t_create(2);
    int rc[3];
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, join_child_parent, rc, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    ASSERT_RC(rc[0], CREW_EFAILED);
    ASSERT_STATUS((crew_status_t)rc[1], CREW_TASK_FAILED);
    ASSERT_RC(rc[2], 0);
    DESTROY_CLEAN(&ex);
}

/* ---- crew_run: the root on the calling thread ------------------------------------ */

typedef struct {
    fib_t f;
    int index;
} root_t;

static int run_root(void *p)
{
    root_t *r = p;
    r->index = crew_worker_index();
    return fib(&r->f);
}

Test(fork, run_computes_on_the_calling_thread_as_one_more_worker, T_OPTS)
{
    int n = (int)t_scaled(24, 16);
    for (unsigned workers = 1; workers <= 2; workers++) {
        crew_t *ex = t_create(workers);
        root_t r = {{n, 0}, -2};
        crew_status_t st = CREW_TASK_QUEUED;
        ASSERT_RC(crew_run(ex, run_root, &r, &st), 0);
        ASSERT_STATUS(st, CREW_TASK_DONE);
        cr_assert_eq(r.f.r, fib_serial(n));
        cr_assert_eq(r.index, (int)workers, "the caller works as slot %u", workers);
        cr_assert_eq(crew_worker_index(), -1, "and is no worker afterwards");
        ASSERT_RC(crew_run(ex, fails, NULL, &st), 0);
        ASSERT_STATUS(st, CREW_TASK_FAILED);
        DESTROY_CLEAN(&ex);
    }
}

static int run_inside(void *p)
{
    crew_status_t st;
    *(int *)p = crew_run(crew_current(), noop_task, NULL, &st);
    return 0;
}

Test(fork, run_is_refused_on_a_worker_after_shutdown_and_without_arguments, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_status_t st;
    int rc = 0;
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, run_inside, &rc, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    ASSERT_RC(rc, CREW_EDEADLK);
    ASSERT_RC(crew_run(NULL, noop_task, NULL, &st), CREW_EINVAL);
    ASSERT_RC(crew_run(ex, NULL, NULL, &st), CREW_EINVAL);
    ASSERT_RC(crew_run(ex, noop_task, NULL, NULL), CREW_EINVAL);
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    ASSERT_RC(crew_run(ex, noop_task, NULL, &st), CREW_ESHUTDOWN);
    DESTROY_CLEAN(&ex);
}

typedef struct {
    crew_t *ex;
    int n;
    long result;
    int rc;
    crew_status_t st;
} runner_arg_t;

static void *runner_thread(void *p)
{
    runner_arg_t *a = p;
    fib_t f = {a->n, 0};
    for (int i = 0; i < 20; i++) {
        a->rc |= crew_run(a->ex, fib, &f, &a->st);
        if (f.r != fib_serial(a->n))
            a->rc = -100;
    }
    a->result = f.r;
    return NULL;
}

Test(fork, concurrent_run_callers_all_get_their_answer, T_OPTS)
{
    crew_t *ex = t_create(2);
    runner_arg_t a[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (runner_arg_t){ex, 15 + i, 0, 0, CREW_TASK_QUEUED};
        pthread_create(&th[i], NULL, runner_thread, &a[i]);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        ASSERT_RC(a[i].rc, 0);
        ASSERT_STATUS(a[i].st, CREW_TASK_DONE);
        cr_assert_eq(a[i].result, fib_serial(15 + i));
    }
    DESTROY_CLEAN(&ex);
}

typedef struct {
    probe_t kid;
    crew_id_t kid_id;
    atomic_int spawned;
    int rc;
    crew_status_t st;
} cancelled_kid_t;

static int cancelled_kid_parent(void *p)
{
    cancelled_kid_t *c = p;
    crew_spawn(probe_task, &c->kid, &c->kid_id);
    flag_set(&c->spawned);
    c->rc = crew_join_child(c->kid_id, &c->st);
    return 0;
}

Test(fork, join_child_of_a_child_cancelled_by_id_reports_it_apart_from_the_caller, T_OPTS)
{
    crew_t *ex = t_create(2);
    cancelled_kid_t c = {0};
    crew_id_t id;
    probe_init(&c.kid, true, 0); /* runs until it sees its cancel */
    ASSERT_RC(crew_submit(ex, cancelled_kid_parent, &c, &id), 0);
    flag_await(&c.spawned);
    flag_await(&c.kid.started);
    ASSERT_RC(crew_cancel(ex, c.kid_id, 0, "child"), CREW_REQUESTED);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE); /* the parent was not cancelled */
    ASSERT_RC(c.rc, CREW_ECHILDCANCELED);
    ASSERT_STATUS(c.st, CREW_TASK_CANCELLED);
    DESTROY_CLEAN(&ex);
}
