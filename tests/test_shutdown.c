/* test_shutdown.c - crew_shutdown (drain and cancel), crew_destroy. */
#include "crit.h"

typedef struct sd {
    crew_t *ex;
    crew_shutdown_mode_t mode;
    int rc;
    atomic_int returned;
} sd_t;

static void *shutdown_main(void *arg)
{
    sd_t *s = arg;
    s->rc = crew_shutdown(s->ex, s->mode);
    flag_set(&s->returned);
    return NULL;
}

/* Submit no-op tasks from outside until one is refused: the executor has
 * then begun shutting down. Returns how many were accepted (each of them
 * must still be drained). */
static long probe_until_refused(crew_t *ex, atomic_int *counter)
{
    long accepted = 0;
    int rc;
    int64_t end = t_now_ns() + (int64_t)(T_HANG_S * 1e9);
    while ((rc = crew_submit(ex, count_task, counter, NULL)) == 0) {
        accepted++;
        if (t_now_ns() > end)
            T_DIE("shutdown never began refusing submissions");
        sched_yield();
    }
    cr_assert_eq(rc, CREW_ESHUTDOWN, "submission during shutdown -> %s", t_rc_name(rc));
    return accepted;
}

Test(shutdown, drain_runs_everything_queued_and_every_accepted_submission, T_OPTS)
{
    enum { N = 1000 };
    crew_t *ex = t_create(2);
    gate_t gate;
    gate_init(&gate);
    saturate(ex, &gate);
    atomic_int ran = 0, late = 0, cleanups = 0;
    crew_task_desc_t d = {.fn = count_task, .arg = &ran, .cleanup = NULL, .group = NULL};
    crew_task_desc_t dc = {
        .fn = count_task, .arg = &cleanups, .cleanup = count_cleanup, .group = NULL};
    for (int i = 0; i < N; i++)
        ASSERT_RC(crew_submit_ex(ex, i % 10 ? &d : &dc, NULL), 0);
    sd_t s = {ex, CREW_DRAIN, 99, 0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, shutdown_main, &s), 0);
    long accepted = probe_until_refused(ex, &late);
    cr_assert_not(flag_get(&s.returned), "shutdown returned while every "
                                         "worker was blocked");
    gate_open(&gate);
    pthread_join(th, NULL);
    ASSERT_RC(s.rc, 0);
    /* everything terminal when shutdown returns */
    cr_assert_eq(t_stats(ex).live_tasks, 0);
    cr_assert_eq(atomic_load(&ran) + atomic_load(&cleanups) / 2, N, "ran %d of %d queued tasks",
                 atomic_load(&ran) + atomic_load(&cleanups) / 2, N);
    cr_assert_eq(atomic_load(&cleanups), 2 * (N / 10));
    cr_assert_eq(atomic_load(&late), accepted);
    /* refused afterwards, every way */
    ASSERT_RC(crew_submit(ex, count_task, &late, NULL), CREW_ESHUTDOWN);
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, count_task, &late, &id), CREW_ESHUTDOWN);
    void *args[2] = {&late, &late};
    ASSERT_RC(crew_submit_batch(ex, &d, args, 2, NULL), CREW_ESHUTDOWN);
    crew_group_t *g = NULL;
    ASSERT_RC(crew_group_create(ex, NULL, 0, &g), CREW_ESHUTDOWN);
    cr_assert_eq(atomic_load(&late), accepted);
    crew_stats_t st = t_stats(ex);
    cr_assert_eq(st.done, (uint64_t)(N + accepted + 2));
    cr_assert_eq(st.cancelled, 0);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

/* A queued task that, once the drain began, spawns a tree of children:
 * they are part of the drained work. */
typedef struct drainer {
    atomic_int *count;
    int depth;
} drainer_t;

static int drainer_task(void *arg)
{
    drainer_t *d = arg;
    atomic_fetch_add(d->count, 1);
    if (d->depth > 0) {
        for (int i = 0; i < 2; i++) {
            drainer_t *c = malloc(sizeof *c);
            *c = (drainer_t){d->count, d->depth - 1};
            if (crew_spawn(drainer_task, c, NULL) != 0) {
                free(c);
                atomic_fetch_add(d->count, 1000000); /* refused: fail */
            }
        }
    }
    free(d);
    return 0;
}

Test(shutdown, drain_runs_children_spawned_by_drained_tasks, T_OPTS)
{
    crew_t *ex = t_create(2);
    gate_t gate;
    gate_init(&gate);
    saturate(ex, &gate);
    atomic_int count = 0, late = 0;
    for (int i = 0; i < 4; i++) {
        drainer_t *root = malloc(sizeof *root);
        *root = (drainer_t){&count, 9};
        ASSERT_RC(crew_submit(ex, drainer_task, root, NULL), 0);
    }
    sd_t s = {ex, CREW_DRAIN, 99, 0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, shutdown_main, &s), 0);
    long accepted = probe_until_refused(ex, &late);
    gate_open(&gate); /* the roots start only now, with the drain under way */
    pthread_join(th, NULL);
    ASSERT_RC(s.rc, 0);
    cr_assert_eq(atomic_load(&count), 4 * 1023, "drained %d of %d tasks", atomic_load(&count),
                 4 * 1023);
    cr_assert_eq(atomic_load(&late), accepted);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

Test(shutdown, second_shutdown_returns_0_and_cancel_escalates_a_drain, T_OPTS)
{
    crew_t *ex = t_create(2);
    probe_t r;
    probe_init(&r, true, 0); /* runs until cancelled */
    crew_id_t rid, q[20];
    ASSERT_RC(crew_submit(ex, probe_task, &r, &rid), 0);
    flag_await(&r.started);
    gate_t gate;
    gate_init(&gate);
    crew_id_t blocker;
    ASSERT_RC(crew_submit(ex, gate_task, &gate, &blocker), 0);
    gate_await_arrivals(&gate, 1);
    atomic_int ran = 0, late = 0;
    for (int i = 0; i < 20; i++)
        ASSERT_RC(crew_submit(ex, count_task, &ran, &q[i]), 0);

    sd_t drain = {ex, CREW_DRAIN, 99, 0};
    pthread_t th1, th2;
    cr_assert_eq(pthread_create(&th1, NULL, shutdown_main, &drain), 0);
    long accepted = probe_until_refused(ex, &late);
    /* the drain cannot finish: r runs until cancelled, the blocker blocks */
    sd_t cancel = {ex, CREW_CANCEL, 99, 0};
    cr_assert_eq(pthread_create(&th2, NULL, shutdown_main, &cancel), 0);
    /* the escalation has begun once the running probe saw it and returned;
     * only then does the blocker go, so the queued tasks must be removed */
    flag_await(&r.finished);
    gate_open(&gate);
    pthread_join(th2, NULL);
    pthread_join(th1, NULL);
    ASSERT_RC(drain.rc, 0);
    ASSERT_RC(cancel.rc, 0);
    crew_task_info_t ri = t_inspect(ex, rid);
    ASSERT_STATUS(ri.status, CREW_TASK_CANCELLED);
    cr_assert_eq(ri.cause, CREW_CAUSE_SHUTDOWN);
    cr_assert_eq(atomic_load(&r.timed_out), 0);
    for (int i = 0; i < 20; i++) {
        crew_task_info_t qi = t_inspect(ex, q[i]);
        cr_assert_eq(qi.cause, CREW_CAUSE_SHUTDOWN);
        ASSERT_STATUS(t_join(ex, q[i]), CREW_TASK_CANCELLED);
    }
    ASSERT_STATUS(t_join(ex, rid), CREW_TASK_CANCELLED);
    ASSERT_STATUS(t_join(ex, blocker), CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&ran), 0);
    /* the probes accepted before the drain began were queued behind the
     * blocker when the escalation came: removed too */
    cr_assert_eq(atomic_load(&late), 0, "%ld accepted, %d ran", accepted, atomic_load(&late));
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    ASSERT_RC(crew_shutdown(ex, CREW_CANCEL), 0);
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    gate_destroy(&gate);
    DESTROY_CLEAN_MODE(&ex, CREW_CANCEL);
}

/* ---- cancel mode ------------------------------------------------------------------ */

typedef struct swaiter {
    crew_t *ex;
    crew_id_t id;
    int rc;
    crew_status_t st;
} swaiter_t;

static void *swaiter_main(void *arg)
{
    swaiter_t *w = arg;
    w->rc = crew_wait(w->ex, w->id, (int64_t)(T_HANG_S * 1e9), &w->st);
    return NULL;
}

Test(shutdown, cancel_removes_queued_requests_running_and_wakes_waiters, T_OPTS)
{
    enum { N = 100, W = 4 };
    crew_t *ex = t_create(2);
    probe_t p[2];
    crew_id_t run[2], q[N];
    for (int i = 0; i < 2; i++) {
        probe_init(&p[i], true, i); /* the second returns 1: still CANCELLED */
        ASSERT_RC(crew_submit(ex, probe_task, &p[i], &run[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        flag_await(&p[i].started);
    atomic_int ran = 0, cleanups = 0;
    crew_task_desc_t d = {
        .fn = count_task, .arg = &cleanups, .cleanup = count_cleanup, .group = NULL};
    (void)ran;
    for (int i = 0; i < N; i++)
        ASSERT_RC(crew_submit_ex(ex, &d, &q[i]), 0);
    swaiter_t w[W];
    pthread_t th[W];
    for (int i = 0; i < W; i++) {
        w[i] = (swaiter_t){ex, i < 2 ? run[i] : q[i * 7], 99, (crew_status_t)99};
        cr_assert_eq(pthread_create(&th[i], NULL, swaiter_main, &w[i]), 0);
    }
    ASSERT_RC(crew_shutdown(ex, CREW_CANCEL), 0);
    crew_stats_t s = t_stats(ex);
    cr_assert_eq(s.live_tasks, 0);
    cr_assert_eq(atomic_load(&cleanups), N,
                 "queued tasks: %d cleanups "
                 "(each runs once, and only the cleanup: count_task on the "
                 "same counter would add one more)",
                 atomic_load(&cleanups));
    for (int i = 0; i < W; i++) {
        pthread_join(th[i], NULL);
        ASSERT_RC(w[i].rc, 0);
        ASSERT_STATUS(w[i].st, CREW_TASK_CANCELLED);
    }
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(atomic_load(&p[i].timed_out), 0);
        crew_task_info_t info = t_inspect(ex, run[i]);
        ASSERT_STATUS(info.status, CREW_TASK_CANCELLED);
        cr_assert_eq(info.cause, CREW_CAUSE_SHUTDOWN);
        cr_assert(info.cancel_requested);
        ASSERT_RC(crew_release(ex, run[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        crew_task_info_t info = t_inspect(ex, q[i]);
        ASSERT_STATUS(info.status, CREW_TASK_CANCELLED);
        cr_assert_eq(info.cause, CREW_CAUSE_SHUTDOWN);
        ASSERT_RC(crew_release(ex, q[i]), 0);
    }
    s = t_settle(ex);
    cr_assert_eq(s.removed, N);
    cr_assert_eq(s.cancelled_running, 2);
    cr_assert_eq(s.cancelled, N + 2);
    cr_assert_eq(s.done + s.failed, 0);
    DESTROY_CLEAN_MODE(&ex, CREW_CANCEL);
}

typedef struct late_spawn {
    int rc;
    crew_id_t child;
    atomic_int child_ran;
    bool saw;
} late_spawn_t;

static int late_child(void *arg)
{
    atomic_fetch_add(&((late_spawn_t *)arg)->child_ran, 1);
    return 0;
}

static int late_spawner(void *arg)
{
    late_spawn_t *l = arg;
    l->saw = T_WAIT_UNTIL(crew_cancelled(), T_HANG_S);
    l->rc = crew_spawn(late_child, l, &l->child);
    return 0;
}

Test(shutdown, children_spawned_during_a_cancel_shutdown_are_born_cancelled, T_OPTS)
{
    crew_t *ex = t_create(2);
    late_spawn_t l;
    memset(&l, 0, sizeof l);
    l.rc = 99;
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, late_spawner, &l, &id), 0);
    cr_assert(T_WAIT_UNTIL(t_inspect(ex, id).status == CREW_TASK_RUNNING, T_HANG_S));
    ASSERT_RC(crew_shutdown(ex, CREW_CANCEL), 0);
    cr_assert(l.saw, "crew_cancelled() never became true in a cancel "
                     "shutdown");
    ASSERT_RC(l.rc, 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    ASSERT_STATUS(t_join(ex, l.child), CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&l.child_ran), 0);
    DESTROY_CLEAN_MODE(&ex, CREW_CANCEL);
}

/* ---- destroy ------------------------------------------------------------------------ */

typedef struct opener {
    gate_t *gate;
    atomic_int go;
} opener_t;

static void *opener_main(void *arg)
{
    opener_t *o = arg;
    flag_await(&o->go);
    gate_open(o->gate);
    return NULL;
}

Test(shutdown, destroy_without_shutdown_drains_first, T_OPTS)
{
    enum { N = 500 };
    crew_t *ex = t_create(2);
    gate_t gate;
    gate_init(&gate);
    saturate(ex, &gate);
    atomic_int ran = 0;
    for (int i = 0; i < N; i++)
        ASSERT_RC(crew_submit(ex, count_task, &ran, NULL), 0);
    opener_t o = {&gate, 0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, opener_main, &o), 0);
    flag_set(&o.go); /* the gate opens while destroy drains (or just before) */
    ASSERT_RC(crew_destroy(&ex), 0);
    cr_assert_null(ex);
    pthread_join(th, NULL);
    cr_assert_eq(atomic_load(&ran), N);
    cr_assert_eq(t_live_bytes(), 0);
    gate_destroy(&gate);
}

Test(shutdown, destroy_frees_joinable_records_never_released, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_id_t ids[100];
    for (int i = 0; i < 100; i++)
        ASSERT_RC(crew_submit(ex, noop_task, NULL, &ids[i]), 0);
    for (int i = 0; i < 50; i++)
        ASSERT_STATUS(t_wait(ex, ids[i]), CREW_TASK_DONE);
    ASSERT_RC(crew_destroy(&ex), 0);
    cr_assert_null(ex);
    cr_assert_eq(t_live_bytes(), 0, "%lld bytes left", (long long)t_live_bytes());
}

Test(shutdown, joinable_tasks_stay_joinable_after_shutdown, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_id_t ok, bad;
    ASSERT_RC(crew_submit(ex, ret_task, (void *)(intptr_t)0, &ok), 0);
    ASSERT_RC(crew_submit(ex, ret_task, (void *)(intptr_t)2, &bad), 0);
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    ASSERT_STATUS(t_inspect(ex, ok).status, CREW_TASK_DONE);
    crew_status_t st;
    ASSERT_RC(crew_wait(ex, bad, 0, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_FAILED);
    ASSERT_RC(crew_cancel(ex, ok, 0, NULL), CREW_TOO_LATE);
    ASSERT_RC(crew_join(ex, ok, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    ASSERT_RC(crew_release(ex, bad), 0);
    DESTROY_CLEAN(&ex);
}

Test(shutdown, shutdown_of_an_idle_executor_returns_and_is_idempotent, T_OPTS)
{
    crew_t *ex = t_create(8);
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    ASSERT_RC(crew_shutdown(ex, CREW_CANCEL), 0);
    DESTROY_CLEAN_MODE(&ex, CREW_CANCEL);
}

typedef struct intask {
    crew_t *ex;
    int shutdown_rc, destroy_rc;
} intask_t;

static int intask_task(void *arg)
{
    intask_t *t = arg;
    t->shutdown_rc = crew_shutdown(t->ex, CREW_DRAIN);
    crew_t *copy = t->ex;
    t->destroy_rc = crew_destroy(&copy);
    return 0;
}

Test(shutdown, shutdown_and_destroy_from_a_task_give_EDEADLK, T_OPTS)
{
    crew_t *ex = t_create(1);
    intask_t t = {ex, 99, 99};
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, intask_task, &t, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    ASSERT_RC(t.shutdown_rc, CREW_EDEADLK);
    ASSERT_RC(t.destroy_rc, CREW_EDEADLK);
    /* still alive and accepting */
    ASSERT_RC(crew_submit(ex, noop_task, NULL, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    DESTROY_CLEAN(&ex);
}
