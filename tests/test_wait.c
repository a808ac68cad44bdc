/* test_wait.c - crew_wait / crew_join: timeouts, terminal status as a value,
 * many waiters, waits from inside tasks (helping), self-waits. */
#include "crit.h"

#define MS (1000000LL)

/* ---- timeouts ---------------------------------------------------------------- */

Test(wait, zero_timeout_on_a_running_task_times_out_and_changes_nothing, T_OPTS)
{
    crew_t *ex = t_create(2);
    gate_t g;
    gate_init(&g);
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, gate_task, &g, &id), 0);
    gate_await_arrivals(&g, 1);
    for (int i = 0; i < 100; i++) {
        crew_status_t st = (crew_status_t)99;
        ASSERT_RC(crew_wait(ex, id, 0, &st), CREW_ETIMEDOUT);
    }
    crew_task_info_t info = t_inspect(ex, id);
    ASSERT_STATUS(info.status, CREW_TASK_RUNNING);
    cr_assert_not(info.cancel_requested);
    gate_open(&g);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    gate_destroy(&g);
    DESTROY_CLEAN(&ex);
}

Test(wait, zero_timeout_on_a_queued_task_times_out_and_it_stays_queued, T_OPTS)
{
    crew_t *ex = t_create(2);
    gate_t g;
    gate_init(&g);
    saturate(ex, &g);
    atomic_int ran = 0;
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, count_task, &ran, &id), 0);
    crew_status_t st;
    ASSERT_RC(crew_wait(ex, id, 0, &st), CREW_ETIMEDOUT);
    ASSERT_RC(crew_wait(ex, id, 10 * MS, &st), CREW_ETIMEDOUT);
    ASSERT_STATUS(t_inspect(ex, id).status, CREW_TASK_QUEUED);
    cr_assert_eq(atomic_load(&ran), 0);
    gate_open(&g);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&ran), 1);
    gate_destroy(&g);
    DESTROY_CLEAN(&ex);
}

Test(wait, finite_timeout_returns_after_the_timeout_and_not_much_later, T_OPTS)
{
    crew_t *ex = t_create(1);
    gate_t g;
    gate_init(&g);
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, gate_task, &g, &id), 0);
    gate_await_arrivals(&g, 1);
    const int64_t timeouts[] = {1 * MS, 20 * MS, 100 * MS};
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
        crew_status_t st;
        int64_t t0 = t_now_ns();
        ASSERT_RC(crew_wait(ex, id, timeouts[i], &st), CREW_ETIMEDOUT);
        int64_t el = t_now_ns() - t0;
        cr_assert_geq(el, timeouts[i] - 1 * MS, "a %lld ms wait returned after %.2f ms",
                      (long long)(timeouts[i] / MS), el / 1e6);
        cr_assert_lt(el, timeouts[i] + 2000 * MS, "a %lld ms wait took %.2f ms",
                     (long long)(timeouts[i] / MS), el / 1e6);
    }
    ASSERT_STATUS(t_inspect(ex, id).status, CREW_TASK_RUNNING);
    gate_open(&g);
    crew_status_t st;
    ASSERT_RC(crew_wait(ex, id, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    ASSERT_RC(crew_release(ex, id), 0);
    gate_destroy(&g);
    DESTROY_CLEAN(&ex);
}

typedef struct opener {
    gate_t *g;
    atomic_int go;
} opener_t;

static void *opener_main(void *arg)
{
    opener_t *o = arg;
    flag_await(&o->go);
    gate_open(o->g);
    return NULL;
}

Test(wait, forever_wait_returns_the_status_once_the_task_ends, T_OPTS)
{
    crew_t *ex = t_create(2);
    gate_t g;
    gate_init(&g);
    crew_id_t ok, bad;
    ASSERT_RC(crew_submit(ex, gate_task, &g, &ok), 0);
    gate_await_arrivals(&g, 1);
    opener_t o = {&g, 0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, opener_main, &o), 0);
    flag_set(&o.go); /* the gate opens while (or before) we wait */
    crew_status_t st = CREW_TASK_QUEUED;
    ASSERT_RC(crew_wait(ex, ok, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    pthread_join(th, NULL);
    ASSERT_RC(crew_submit(ex, ret_task, (void *)(intptr_t)-3, &bad), 0);
    ASSERT_RC(crew_wait(ex, bad, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_FAILED);
    ASSERT_RC(crew_wait(ex, bad, CREW_TIMEOUT_MAX_NS, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_FAILED);
    ASSERT_RC(crew_release(ex, ok), 0);
    ASSERT_RC(crew_release(ex, bad), 0);
    gate_destroy(&g);
    DESTROY_CLEAN(&ex);
}

Test(wait, invalid_timeouts_are_refused, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, noop_task, NULL, &id), 0);
    ASSERT_STATUS(t_wait(ex, id), CREW_TASK_DONE);
    crew_status_t st;
    const int64_t bad[] = {-2, -1000, INT64_MIN, CREW_TIMEOUT_MAX_NS + 1, INT64_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_RC(crew_wait(ex, id, bad[i], &st), CREW_EINVAL);
        ASSERT_RC(crew_cancel_wait(ex, id, bad[i], &st), CREW_EINVAL);
    }
    ASSERT_RC(crew_wait(ex, id, CREW_TIMEOUT_MAX_NS, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    ASSERT_RC(crew_release(ex, id), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- every waiter sees the same terminal status ---------------------------- */

typedef struct waiter {
    crew_t *ex;
    crew_id_t id;
    int rc;
    crew_status_t st;
} waiter_t;

static void *waiter_main(void *arg)
{
    waiter_t *w = arg;
    w->rc = crew_wait(w->ex, w->id, (int64_t)(T_HANG_S * 1e9), &w->st);
    return NULL;
}

Test(wait, every_waiter_sees_the_same_terminal_status, T_OPTS)
{
    enum { W = 6 };
    crew_t *ex = t_create(2);
    for (int round = 0; round < 2; round++) {
        gate_t g;
        gate_init(&g);
        crew_id_t id;
        /* round 0: the task ends DONE; round 1: it is removed while queued */
        if (round == 0) {
            ASSERT_RC(crew_submit(ex, gate_task, &g, &id), 0);
        } else {
            saturate(ex, &g);
            ASSERT_RC(crew_submit(ex, noop_task, NULL, &id), 0);
        }
        waiter_t w[W];
        pthread_t th[W];
        for (int i = 0; i < W; i++) {
            w[i] = (waiter_t){ex, id, 99, (crew_status_t)99};
            cr_assert_eq(pthread_create(&th[i], NULL, waiter_main, &w[i]), 0);
        }
        if (round == 1)
            ASSERT_RC(crew_cancel(ex, id, 0, NULL), CREW_REMOVED);
        gate_open(&g);
        for (int i = 0; i < W; i++) {
            pthread_join(th[i], NULL);
            ASSERT_RC(w[i].rc, 0);
            ASSERT_STATUS(w[i].st, round == 0 ? CREW_TASK_DONE : CREW_TASK_CANCELLED);
        }
        ASSERT_STATUS(t_join(ex, id), round == 0 ? CREW_TASK_DONE : CREW_TASK_CANCELLED);
        ASSERT_CLEAN(ex);
        gate_destroy(&g);
    }
    DESTROY_CLEAN(&ex);
}

/* ---- join ---------------------------------------------------------------------- */

Test(wait, join_returns_the_status_and_releases_the_handle, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_id_t id;
    crew_status_t st;
    ASSERT_RC(crew_submit(ex, ret_task, (void *)(intptr_t)5, &id), 0);
    ASSERT_RC(crew_join(ex, id, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_FAILED);
    ASSERT_RC(crew_join(ex, id, &st), CREW_ENOTASK);
    ASSERT_RC(crew_wait(ex, id, 0, &st), CREW_ENOTASK);
    ASSERT_RC(crew_release(ex, id), CREW_ENOTASK);
    DESTROY_CLEAN(&ex);
}

/* ---- waiting from inside tasks ----------------------------------------------------- */

typedef struct selfwait {
    int wait_rc, join_rc, poll_rc;
} selfwait_t;

static int selfwait_task(void *arg)
{
    selfwait_t *s = arg;
    crew_status_t st;
    s->wait_rc = crew_wait(crew_current(), crew_self(), CREW_FOREVER, &st);
    s->join_rc = crew_join(crew_current(), crew_self(), &st);
    s->poll_rc = crew_wait(crew_current(), crew_self(), 0, &st);
    return 0;
}

Test(wait, a_task_waiting_for_itself_gets_EDEADLK, T_OPTS)
{
    crew_t *ex = t_create(1);
    selfwait_t s = {99, 99, 99};
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, selfwait_task, &s, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    ASSERT_RC(s.wait_rc, CREW_EDEADLK);
    ASSERT_RC(s.join_rc, CREW_EDEADLK);
    ASSERT_RC(s.poll_rc, CREW_EDEADLK);
    DESTROY_CLEAN(&ex);
}

/* A task on a one-worker executor waits for a task that can only run on
 * that same worker: the wait must run it (help) instead of blocking. */
typedef struct helper {
    int wait_rc, join_rc;
    crew_status_t st1, st2;
    atomic_int ran;
} helper_t;

static int helped_child(void *arg)
{
    atomic_fetch_add(&((helper_t *)arg)->ran, 1);
    return 0;
}

static int helping_parent(void *arg)
{
    helper_t *h = arg;
    crew_id_t a, b;
    if (crew_spawn(helped_child, h, &a) || crew_spawn(helped_child, h, &b))
        return 1;
    h->wait_rc = crew_wait(crew_current(), a, (int64_t)(T_HANG_S * 1e9), &h->st1);
    h->join_rc = crew_join(crew_current(), b, &h->st2);
    crew_release(crew_current(), a);
    return 0;
}

Test(wait, a_waiting_task_runs_other_tasks_so_one_worker_never_deadlocks, T_OPTS)
{
    crew_t *ex = t_create(1);
    helper_t h;
    memset(&h, 0, sizeof h);
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, helping_parent, &h, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    ASSERT_RC(h.wait_rc, 0);
    ASSERT_RC(h.join_rc, 0);
    ASSERT_STATUS(h.st1, CREW_TASK_DONE);
    ASSERT_STATUS(h.st2, CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&h.ran), 2);
    DESTROY_CLEAN(&ex);
}

/* The waited-for task was submitted from outside after the waiter started,
 * so it sits in the injection queue of a one-worker executor: "the worker
 * runs other tasks meanwhile" must include it. */
typedef struct inj {
    _Atomic crew_id_t target;
    int rc;
    crew_status_t st;
} inj_t;

static int inj_waiter(void *arg)
{
    inj_t *w = arg;
    crew_id_t id;
    if (!T_WAIT_UNTIL((id = atomic_load(&w->target)) != 0, T_HANG_S))
        return 1;
    w->rc = crew_wait(crew_current(), id, (int64_t)(T_HANG_S / 2 * 1e9), &w->st);
    return 0;
}

Test(wait, a_waiting_task_helps_with_externally_submitted_work, T_OPTS)
{
    crew_t *ex = t_create(1);
    inj_t w;
    memset(&w, 0, sizeof w);
    w.rc = 99;
    crew_id_t waiter, target;
    atomic_int ran = 0;
    ASSERT_RC(crew_submit(ex, inj_waiter, &w, &waiter), 0);
    ASSERT_RC(crew_submit(ex, count_task, &ran, &target), 0);
    atomic_store(&w.target, target);
    ASSERT_STATUS(t_join(ex, waiter), CREW_TASK_DONE);
    ASSERT_RC(w.rc, 0);
    ASSERT_STATUS(w.st, CREW_TASK_DONE);
    ASSERT_STATUS(t_join(ex, target), CREW_TASK_DONE);
    DESTROY_CLEAN(&ex);
}

/* Deep fork-join chains on a bounded pool: every level waits for the next. */
static int chain_task(void *arg)
{
    intptr_t depth = (intptr_t)arg;
    if (depth == 0)
        return 0;
    crew_id_t id;
    crew_status_t st;
    if (crew_spawn(chain_task, (void *)(depth - 1), &id) != 0)
        return 1;
    if (crew_join(crew_current(), id, &st) != 0 || st != CREW_TASK_DONE)
        return 1;
    return 0;
}

Test(wait, nested_joins_deeper_than_the_pool_complete, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_id_t ids[8];
    for (int i = 0; i < 8; i++)
        ASSERT_RC(crew_submit(ex, chain_task, (void *)(intptr_t)100, &ids[i]), 0);
    for (int i = 0; i < 8; i++)
        ASSERT_STATUS(t_join(ex, ids[i]), CREW_TASK_DONE);
    DESTROY_CLEAN(&ex);
}
