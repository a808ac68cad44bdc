/* test_cancel.c - cancelling tasks by ID: one test per point of
 * CANCELLATION.md ("Task lifecycle" through "Waiting"), group cancellation
 * aside (test_cancel_group.c). */
#include "crit.h"
#include "fault.h"

#define MS (1000000LL)

/* A cancelled probe: cancel it, then tell it the cancel returned. */
static int cancel_probe(crew_t *ex, crew_id_t id, probe_t *p, int code, const char *reason)
{
    int rc = crew_cancel(ex, id, code, reason);
    flag_set(&p->cancel_returned);
    return rc;
}

/* ---- lifecycle: queued ------------------------------------------------------- */

typedef struct waiter {
    crew_t *ex;
    crew_id_t id;
    atomic_int done;
    int rc;
    crew_status_t st;
} waiter_t;

static void *waiter_main(void *arg)
{
    waiter_t *w = arg;
    w->rc = crew_wait(w->ex, w->id, (int64_t)(T_HANG_S * 1e9), &w->st);
    flag_set(&w->done);
    return NULL;
}

Test(cancel, queued_task_is_removed_and_never_runs, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g;
    ASSERT_RC(crew_group_create(ex, NULL, 0, &g), 0);
    gate_t gate;
    gate_init(&gate);
    saturate(ex, &gate);

    atomic_int ran = 0, cleanups = 0;
    crew_task_desc_t d = {.fn = count_task, .arg = &ran, .cleanup = NULL, .group = g};
    crew_id_t id;
    ASSERT_RC(crew_submit_ex(ex, &d, &id), 0);
    /* the cleanup sees the same arg: count it through a second task */
    crew_task_desc_t d2 = {
        .fn = count_task, .arg = &cleanups, .cleanup = count_cleanup, .group = g};
    crew_id_t id2;
    ASSERT_RC(crew_submit_ex(ex, &d2, &id2), 0);

    crew_group_info_t gi;
    gi.size = sizeof gi;
    ASSERT_RC(crew_group_info(g, &gi), 0);
    cr_assert_eq(gi.live, 2);

    waiter_t w = {ex, id, 0, 99, (crew_status_t)99};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, waiter_main, &w), 0);

    ASSERT_RC(crew_cancel(ex, id, 0, NULL), CREW_REMOVED);
    ASSERT_RC(crew_cancel(ex, id2, 0, NULL), CREW_REMOVED);
    /* All of this holds when crew_cancel returns, with every worker still
     * blocked: */
    crew_task_info_t info = t_inspect(ex, id);
    ASSERT_STATUS(info.status, CREW_TASK_CANCELLED);
    cr_assert_eq(info.cause, CREW_CAUSE_SELF);
    cr_assert_not(info.cancel_requested, "removed, not requested while running");
    cr_assert_eq(atomic_load(&cleanups), 1,
                 "cleanup of a removed task ran "
                 "%d times before crew_cancel returned",
                 atomic_load(&cleanups));
    crew_status_t st;
    ASSERT_RC(crew_wait(ex, id, 0, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    gi.size = sizeof gi;
    ASSERT_RC(crew_group_info(g, &gi), 0);
    cr_assert_eq(gi.live, 0, "the group still counts %llu removed tasks",
                 (unsigned long long)gi.live);
    cr_assert_eq(gi.removed, 2);
    cr_assert_eq(gi.cancelled, 2);
    ASSERT_RC(crew_group_wait(g, 0, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    /* the waiter wakes while the workers are still blocked */
    pthread_join(th, NULL);
    ASSERT_RC(w.rc, 0);
    ASSERT_STATUS(w.st, CREW_TASK_CANCELLED);

    gate_open(&gate);
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0); /* nothing is running now */
    cr_assert_eq(atomic_load(&ran), 0, "a removed task ran");
    cr_assert_eq(atomic_load(&cleanups), 1);
    crew_stats_t s = t_stats(ex);
    cr_assert_eq(s.removed, 2);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    ASSERT_STATUS(t_join(ex, id2), CREW_TASK_CANCELLED);
    ASSERT_RC(crew_group_destroy(g), 0);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

/* A thread blocked in crew_wait(FOREVER) on a queued task. */
typedef struct qwaiter {
    crew_t *ex;
    crew_id_t id;
    atomic_int tid, done;
    int rc;
    crew_status_t st;
} qwaiter_t;

static void *qwaiter_main(void *arg)
{
    qwaiter_t *w = arg;
    atomic_store(&w->tid, (int)t_gettid());
    w->rc = crew_wait(w->ex, w->id, CREW_FOREVER, &w->st);
    flag_set(&w->done);
    return NULL;
}

/* The waiter is asleep on the task (its WAITERS bit is set and its thread
 * sleeps in the kernel) before the cancel removes the task: the removal
 * itself must wake it. */
static void check_removal_wakes_waiter(unsigned workers)
{
    crew_t *ex = t_create(workers);
    gate_t gate;
    gate_init(&gate);
    saturate(ex, &gate);
    atomic_int ran = 0;
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, count_task, &ran, &id), 0);
    qwaiter_t w = {ex, id, 0, 0, 99, (crew_status_t)99};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, qwaiter_main, &w), 0);
    cr_assert(T_WAIT_UNTIL(crew__debug_task_waiters(ex, id) == 1, T_HANG_S),
              "the waiter never registered on the task");
    cr_assert(
        T_WAIT_UNTIL(atomic_load(&w.tid) != 0 && t_thread_sleeping(atomic_load(&w.tid)), T_HANG_S),
        "the waiter never went to sleep");
    ASSERT_RC(crew_cancel(ex, id, 0, NULL), CREW_REMOVED);
    cr_assert(T_WAIT_UNTIL(flag_get(&w.done), 2.0),
              "crew_wait not woken within 2 s of the cancel that removed "
              "its queued task (%u workers)",
              workers);
    pthread_join(th, NULL);
    ASSERT_RC(w.rc, 0);
    ASSERT_STATUS(w.st, CREW_TASK_CANCELLED);
    gate_open(&gate);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&ran), 0, "a removed task ran");
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

Test(cancel, removing_a_queued_task_wakes_its_sleeping_waiter_2_workers, T_OPTS)
{
    check_removal_wakes_waiter(2);
}
Test(cancel, removing_a_queued_task_wakes_its_sleeping_waiter_8_workers, T_OPTS)
{
    check_removal_wakes_waiter(8);
}

/* ---- lifecycle: running -------------------------------------------------------- */

Test(cancel, running_task_sees_the_request_in_every_check_after_cancel_returns, T_OPTS)
{
    crew_t *ex = t_create(2);
    probe_t p;
    probe_init(&p, false, 0);
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, probe_task, &p, &id), 0);
    flag_await(&p.started);
    ASSERT_RC(cancel_probe(ex, id, &p, 0, NULL), CREW_REQUESTED);
    ASSERT_STATUS(t_inspect(ex, id).status, CREW_TASK_RUNNING);
    /* let it make a few thousand checks, all after the cancel returned */
    cr_assert(T_WAIT_UNTIL(atomic_load(&p.checks_after) > 2000, T_HANG_S));
    flag_set(&p.release);
    ASSERT_STATUS(t_wait(ex, id), CREW_TASK_CANCELLED);
    t_assert_probe_saw_cancel(&p, 1);
    crew_task_info_t info = t_inspect(ex, id);
    cr_assert(info.cancel_requested);
    cr_assert_eq(info.cause, CREW_CAUSE_SELF);
    ASSERT_RC(crew_release(ex, id), 0);
    crew_stats_t s = t_settle(ex);
    cr_assert_eq(s.cancelled_running, 1);
    cr_assert_eq(s.cancelled, 1);
    cr_assert_eq(s.done, 0);
    DESTROY_CLEAN(&ex);
}

Test(cancel, requested_task_ends_cancelled_whatever_its_body_returns, T_OPTS)
{
    crew_t *ex = t_create(2);
    const int rets[] = {0, 1, -7, 12345};
    for (size_t i = 0; i < sizeof rets / sizeof rets[0]; i++) {
        probe_t p;
        probe_init(&p, false, rets[i]);
        crew_id_t id;
        ASSERT_RC(crew_submit(ex, probe_task, &p, &id), 0);
        flag_await(&p.started);
        ASSERT_RC(cancel_probe(ex, id, &p, 0, NULL), CREW_REQUESTED);
        flag_set(&p.release); /* the body ignores the request */
        crew_status_t st = t_wait(ex, id);
        ASSERT_STATUS(st, CREW_TASK_CANCELLED);
        ASSERT_STATUS(t_inspect(ex, id).status, CREW_TASK_CANCELLED);
        ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
        cr_assert_eq(atomic_load(&p.misses), 0);
    }
    crew_stats_t s = t_settle(ex);
    cr_assert_eq(s.cancelled, 4);
    cr_assert_eq(s.done + s.failed, 0);
    DESTROY_CLEAN(&ex);
}

/* ---- lifecycle: terminal ------------------------------------------------------------ */

static void assert_same_info(crew_task_info_t a, crew_task_info_t b)
{
    cr_assert_eq(a.status, b.status, "status changed %s -> %s", crew_status_name(a.status),
                 crew_status_name(b.status));
    cr_assert_eq(a.result, b.result);
    cr_assert_eq(a.cancel_requested, b.cancel_requested);
    cr_assert_eq(a.cause, b.cause);
    cr_assert_eq(a.cancel_code, b.cancel_code);
    cr_assert_str_eq(a.reason, b.reason);
}

#ifdef CREW_TEST_HAVE_FAULT
/* The canceller is held (pause point CANCEL_INSERTED: its ID is in the
 * set, REQ not yet set, set mutex held) until the body has seen the
 * cancellation, returned, and the task is terminal. */
typedef struct seen {
    crew_t *ex;
    atomic_int started, saw, returned;
    int hook_calls;
    crew_id_t hook_id;
    bool body_returned, terminal;
    crew_status_t st;
} seen_t;

static int seen_body(void *arg)
{
    seen_t *s = arg;
    flag_set(&s->started);
    if (T_WAIT_UNTIL(crew_cancelled(), T_HANG_S))
        flag_set(&s->saw);
    flag_set(&s->returned);
    return 0; /* DONE, had it not seen the cancel */
}

static void seen_hook(void *ctx, crew_id_t id)
{
    seen_t *s = ctx;
    s->hook_calls++;
    s->hook_id = id;
    s->body_returned = T_WAIT_UNTIL(flag_get(&s->returned), T_HANG_S);
    /* Poll (timeout 0): a blocking wait would need the finisher's wake-up,
     * which comes after it takes the set mutex we hold. */
    s->terminal = T_WAIT_UNTIL(crew_wait(s->ex, id, 0, &s->st) == 0, T_HANG_S);
}

Test(cancel, canceller_whose_request_the_body_saw_answers_requested_never_too_late, T_OPTS)
{
    crew_t *ex = t_create(2);
    seen_t s;
    memset(&s, 0, sizeof s);
    s.ex = ex;
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, seen_body, &s, &id), 0);
    flag_await(&s.started);
    crew__fault_set_pause(CREW__PAUSE_CANCEL_INSERTED, seen_hook, &s);
    int rc = crew_cancel(ex, id, 8, "seen");
    crew__fault_set_pause(CREW__PAUSE_CANCEL_INSERTED, NULL, NULL);
    cr_assert_eq(s.hook_calls, 1, "the pause point was reached %d times", s.hook_calls);
    cr_assert_eq(s.hook_id, id);
    cr_assert(flag_get(&s.saw), "the body never saw the cancellation");
    cr_assert(s.body_returned && s.terminal,
              "the task did not finish while the canceller was held");
    ASSERT_STATUS(s.st, CREW_TASK_CANCELLED);
    ASSERT_RC(rc, CREW_REQUESTED);
    crew_task_info_t info = t_inspect(ex, id);
    ASSERT_STATUS(info.status, CREW_TASK_CANCELLED);
    cr_assert_eq(info.cause, CREW_CAUSE_SELF);
    cr_assert_eq(info.cancel_code, 8);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    crew_stats_t st = t_settle(ex);
    cr_assert_eq(st.late_cancels, 0, "counted as a cancel that lost the race");
    cr_assert_eq(st.cancelled_running, 1);
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    cr_assert_eq(t_cancel_scopes(ex), 0,
                 "%u cancel scope(s) left after "
                 "crew_shutdown",
                 t_cancel_scopes(ex));
    DESTROY_CLEAN(&ex);
}
#endif

Test(cancel, cancel_of_a_finished_task_is_too_late_and_changes_nothing, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_id_t done, failed, removed;
    ASSERT_RC(crew_submit(ex, ret_task, (void *)(intptr_t)0, &done), 0);
    ASSERT_RC(crew_submit(ex, ret_task, (void *)(intptr_t)9, &failed), 0);
    ASSERT_STATUS(t_wait(ex, done), CREW_TASK_DONE);
    ASSERT_STATUS(t_wait(ex, failed), CREW_TASK_FAILED);
    gate_t gate;
    gate_init(&gate);
    saturate(ex, &gate);
    ASSERT_RC(crew_submit(ex, noop_task, NULL, &removed), 0);
    ASSERT_RC(crew_cancel(ex, removed, 1, "first"), CREW_REMOVED);
    gate_open(&gate);

    crew_id_t ids[3] = {done, failed, removed};
    for (int i = 0; i < 3; i++) {
        crew_task_info_t before = t_inspect(ex, ids[i]);
        for (int k = 0; k < 3; k++)
            ASSERT_RC(crew_cancel(ex, ids[i], 77, "late"), CREW_TOO_LATE);
        assert_same_info(before, t_inspect(ex, ids[i]));
        crew_status_t st;
        ASSERT_RC(crew_wait(ex, ids[i], 0, &st), 0);
        ASSERT_STATUS(st, before.status);
    }
    ASSERT_STATUS(t_join(ex, done), CREW_TASK_DONE);
    ASSERT_STATUS(t_join(ex, failed), CREW_TASK_FAILED);
    ASSERT_STATUS(t_join(ex, removed), CREW_TASK_CANCELLED);
    crew_stats_t s = t_settle(ex);
    cr_assert_eq(s.done, 1 + crew_workers(ex)); /* + the gate tasks */
    cr_assert_eq(s.failed, 1);
    cr_assert_eq(s.cancelled, 1);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

/* ---- unknown and stale IDs ------------------------------------------------------------ */

Test(cancel, unknown_or_released_id_gives_ENOTASK_and_changes_nothing, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g;
    ASSERT_RC(crew_group_create(ex, NULL, 0, &g), 0);
    ASSERT_RC(crew_cancel(ex, 0, 0, NULL), CREW_ENOTASK);
    ASSERT_RC(crew_cancel(ex, (crew_id_t)1 << 60, 0, NULL), CREW_ENOTASK);
    ASSERT_RC(crew_cancel(ex, UINT64_MAX, 0, NULL), CREW_ENOTASK);
    ASSERT_RC(crew_cancel(ex, crew_group_id(g), 0, NULL), CREW_ENOTASK);

    /* a running task whose handle was released: its ID is stale */
    probe_t p;
    probe_init(&p, false, 0);
    crew_id_t id;
    crew_task_desc_t d = {.fn = probe_task, .arg = &p, .cleanup = NULL, .group = g};
    ASSERT_RC(crew_submit_ex(ex, &d, &id), 0);
    flag_await(&p.started);
    ASSERT_RC(crew_release(ex, id), 0);
    ASSERT_RC(crew_cancel(ex, id, 0, NULL), CREW_ENOTASK);
    crew_status_t st;
    ASSERT_RC(crew_cancel_wait(ex, id, 0, &st), CREW_ENOTASK);
    /* let it make some checks after the refused cancel */
    int64_t t0 = t_now_ns();
    T_WAIT_UNTIL(t_now_ns() - t0 > 5 * MS, 1);
    flag_set(&p.release);
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&p.saw_cancel), 0,
                 "a refused cancel reached "
                 "the task");
    crew_stats_t s = t_settle(ex);
    cr_assert_eq(s.done, 1);
    cr_assert_eq(s.cancelled, 0);
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- idempotence and reasons ------------------------------------------------------------- */

Test(cancel, cancel_is_idempotent_and_the_first_reason_wins, T_OPTS)
{
    crew_t *ex = t_create(2);
    /* running: requested twice */
    probe_t p;
    probe_init(&p, false, 0);
    crew_id_t run;
    ASSERT_RC(crew_submit(ex, probe_task, &p, &run), 0);
    flag_await(&p.started);
    ASSERT_RC(cancel_probe(ex, run, &p, 11, "first"), CREW_REQUESTED);
    ASSERT_RC(crew_cancel(ex, run, 22, "second"), CREW_REQUESTED);
    crew_task_info_t i = t_inspect(ex, run);
    cr_assert_eq(i.cancel_code, 11);
    cr_assert_str_eq(i.reason, "first");
    flag_set(&p.release);
    ASSERT_STATUS(t_wait(ex, run), CREW_TASK_CANCELLED);
    ASSERT_RC(crew_cancel(ex, run, 33, "third"), CREW_TOO_LATE);
    i = t_inspect(ex, run);
    cr_assert_eq(i.cancel_code, 11);
    cr_assert_str_eq(i.reason, "first");

    /* queued: removed, then too late */
    gate_t gate;
    gate_init(&gate);
    saturate(ex, &gate);
    crew_id_t q;
    ASSERT_RC(crew_submit(ex, noop_task, NULL, &q), 0);
    ASSERT_RC(crew_cancel(ex, q, 44, "gone"), CREW_REMOVED);
    ASSERT_RC(crew_cancel(ex, q, 55, "again"), CREW_TOO_LATE);
    i = t_inspect(ex, q);
    ASSERT_STATUS(i.status, CREW_TASK_CANCELLED);
    cr_assert_eq(i.cancel_code, 44);
    cr_assert_str_eq(i.reason, "gone");
    gate_open(&gate);
    ASSERT_STATUS(t_join(ex, run), CREW_TASK_CANCELLED);
    ASSERT_STATUS(t_join(ex, q), CREW_TASK_CANCELLED);
    crew_stats_t s = t_settle(ex);
    cr_assert_eq(s.cancelled, 2);
    cr_assert_eq(s.removed, 1);
    cr_assert_eq(s.cancelled_running, 1);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

Test(cancel, reason_is_truncated_to_reason_max_minus_one_bytes, T_OPTS)
{
    crew_t *ex = t_create(1);
    gate_t gate;
    gate_init(&gate);
    saturate(ex, &gate);
    char longr[200];
    for (int i = 0; i < 199; i++)
        longr[i] = (char)('a' + i % 26);
    longr[199] = '\0';
    char exact[CREW_REASON_MAX];
    memset(exact, 'x', sizeof exact - 1);
    exact[CREW_REASON_MAX - 1] = '\0';
    const char *reasons[] = {longr, exact, "", NULL};
    const int codes[] = {-5, 0, 3, 4};
    crew_id_t ids[4];
    for (int k = 0; k < 4; k++) {
        ASSERT_RC(crew_submit(ex, noop_task, NULL, &ids[k]), 0);
        ASSERT_RC(crew_cancel(ex, ids[k], codes[k], reasons[k]), CREW_REMOVED);
    }
    crew_task_info_t i = t_inspect(ex, ids[0]);
    cr_assert_eq(i.cancel_code, -5);
    cr_assert_eq(strlen(i.reason), CREW_REASON_MAX - 1, "kept %zu bytes", strlen(i.reason));
    cr_assert_eq(strncmp(i.reason, longr, CREW_REASON_MAX - 1), 0);
    i = t_inspect(ex, ids[1]);
    cr_assert_str_eq(i.reason, exact);
    i = t_inspect(ex, ids[2]);
    cr_assert_str_eq(i.reason, "");
    cr_assert_eq(i.cancel_code, 3);
    i = t_inspect(ex, ids[3]);
    cr_assert_str_eq(i.reason, "", "a NULL reason reads as \"\"");
    cr_assert_eq(i.cancel_code, 4);
    gate_open(&gate);
    for (int k = 0; k < 4; k++)
        ASSERT_STATUS(t_join(ex, ids[k]), CREW_TASK_CANCELLED);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

/* ---- who may cancel ---------------------------------------------------------------------------- */

typedef struct selfc {
    int rc, rc2;
    bool before, after;
} selfc_t;

static int self_cancel_task(void *arg)
{
    selfc_t *s = arg;
    s->before = crew_cancelled();
    s->rc = crew_cancel(crew_current(), crew_self(), 5, "self");
    s->after = crew_cancelled();
    s->rc2 = crew_cancel(crew_current(), crew_self(), 6, "again");
    return 0;
}

Test(cancel, a_task_can_cancel_itself, T_OPTS)
{
    crew_t *ex = t_create(1);
    selfc_t s = {99, 99, true, false};
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, self_cancel_task, &s, &id), 0);
    ASSERT_STATUS(t_wait(ex, id), CREW_TASK_CANCELLED);
    cr_assert_not(s.before);
    ASSERT_RC(s.rc, CREW_REQUESTED);
    cr_assert(s.after, "crew_cancelled() false right after self-cancel");
    ASSERT_RC(s.rc2, CREW_REQUESTED);
    crew_task_info_t i = t_inspect(ex, id);
    cr_assert_eq(i.cause, CREW_CAUSE_SELF);
    cr_assert_eq(i.cancel_code, 5);
    cr_assert_str_eq(i.reason, "self");
    cr_assert(i.cancel_requested);
    ASSERT_RC(crew_release(ex, id), 0);
    DESTROY_CLEAN(&ex);
}

/* One worker is blocked, the canceller runs on the other, so the target
 * (submitted from outside) is certainly queued when the canceller acts. */
typedef struct canceller {
    _Atomic crew_id_t target;
    atomic_int started;
    int rc;
} canceller_t;

static int canceller_task(void *arg)
{
    canceller_t *c = arg;
    flag_set(&c->started);
    crew_id_t t;
    if (!T_WAIT_UNTIL((t = atomic_load(&c->target)) != 0, T_HANG_S))
        return 1;
    c->rc = crew_cancel(crew_current(), t, 8, "by a peer");
    return 0;
}

Test(cancel, a_task_can_cancel_another_task, T_OPTS)
{
    crew_t *ex = t_create(2);
    gate_t gate;
    gate_init(&gate);
    ASSERT_RC(crew_submit(ex, gate_task, &gate, NULL), 0);
    gate_await_arrivals(&gate, 1);
    canceller_t c;
    memset(&c, 0, sizeof c);
    c.rc = 99;
    crew_id_t cid, tid;
    ASSERT_RC(crew_submit(ex, canceller_task, &c, &cid), 0);
    flag_await(&c.started);
    atomic_int ran = 0;
    ASSERT_RC(crew_submit(ex, count_task, &ran, &tid), 0);
    atomic_store(&c.target, tid);
    ASSERT_STATUS(t_join(ex, cid), CREW_TASK_DONE);
    ASSERT_RC(c.rc, CREW_REMOVED);
    crew_task_info_t i = t_inspect(ex, tid);
    ASSERT_STATUS(i.status, CREW_TASK_CANCELLED);
    cr_assert_eq(i.cause, CREW_CAUSE_SELF, "cancelled by its own ID");
    cr_assert_str_eq(i.reason, "by a peer");
    cr_assert_eq(i.parent, 0);
    gate_open(&gate);
    ASSERT_STATUS(t_join(ex, tid), CREW_TASK_CANCELLED);
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    cr_assert_eq(atomic_load(&ran), 0);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

typedef struct rival {
    crew_t *ex;
    crew_id_t id;
    atomic_int *go;
    int rc;
} rival_t;

static void *rival_main(void *arg)
{
    rival_t *r = arg;
    while (!flag_get(r->go))
        sched_yield();
    r->rc = crew_cancel(r->ex, r->id, 0, NULL);
    return NULL;
}

Test(cancel, concurrent_cancels_of_one_queued_task_remove_it_once, T_OPTS)
{
    enum { T = 6 };
    crew_t *ex = t_create(1);
    for (int round = 0; round < 30; round++) {
        gate_t gate;
        gate_init(&gate);
        saturate(ex, &gate);
        atomic_int cleanups = 0;
        crew_task_desc_t d = {
            .fn = count_task, .arg = &cleanups, .cleanup = count_cleanup, .group = NULL};
        crew_id_t id;
        ASSERT_RC(crew_submit_ex(ex, &d, &id), 0);
        atomic_int go = 0;
        rival_t r[T];
        pthread_t th[T];
        for (int i = 0; i < T; i++) {
            r[i] = (rival_t){ex, id, &go, 0};
            cr_assert_eq(pthread_create(&th[i], NULL, rival_main, &r[i]), 0);
        }
        flag_set(&go);
        int removed = 0, late = 0;
        for (int i = 0; i < T; i++) {
            pthread_join(th[i], NULL);
            removed += r[i].rc == CREW_REMOVED;
            late += r[i].rc == CREW_TOO_LATE;
        }
        cr_assert_eq(removed, 1, "round %d: %d cancels said REMOVED", round, removed);
        cr_assert_eq(late, T - 1);
        cr_assert_eq(atomic_load(&cleanups), 1);
        gate_open(&gate);
        ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
        ASSERT_CLEAN(ex);
        cr_assert_eq(atomic_load(&cleanups), 1, "a removed task ran");
        gate_destroy(&gate);
    }
    DESTROY_CLEAN(&ex);
}

/* ---- the start/cancel race ------------------------------------------------------ */

typedef struct race {
    atomic_int ran;
    atomic_int cancel_returned;
    atomic_int misses;
    int64_t run_ns; /* how long the body keeps checking */
    bool hold;      /* ... or until the cancel returned */
    int ret;
} race_t;

static void race_check(race_t *r)
{
    bool after = flag_get(&r->cancel_returned);
    if (after && !crew_cancelled())
        atomic_fetch_add(&r->misses, 1);
}

static int race_task(void *arg)
{
    race_t *r = arg;
    atomic_store(&r->ran, 1);
    int64_t end = t_now_ns() + (r->hold ? (int64_t)(T_HANG_S * 1e9) : r->run_ns);
    do
        race_check(r);
    while (t_now_ns() < end && !(r->hold && flag_get(&r->cancel_returned)));
    for (int i = 0; i < 64; i++)
        race_check(r);
    return r->ret;
}

static void spin_for(int64_t ns)
{
    int64_t end = t_now_ns() + ns;
    while (t_now_ns() < end) {
    }
}

/* Cancel tasks just as they start, many times over. Each outcome must be
 * one of the two legal stories, and the counters must add up exactly. */
static void hammer_start_cancel(unsigned workers)
{
    enum { B = 8 };
    long n = t_scaled(20000, 400);
    crew_t *ex = t_create(workers);
    race_t *rs = calloc((size_t)n, sizeof *rs);
    crew_id_t *ids = calloc((size_t)n, sizeof *ids);
    int *out = calloc((size_t)n, sizeof *out);
    crew_status_t *sts = calloc((size_t)n, sizeof *sts);
    cr_assert(rs && ids && out && sts);
    unsigned seed = 0x5eed + workers;
    long count[4] = {0};
    for (long base = 0; base < n; base += B) {
        long m = n - base < B ? n - base : B;
        for (long j = base; j < base + m; j++) {
            /* Short bodies race the start, longer ones the end. Besides,
             * in each batch one body is held until its cancel and one is
             * cancelled only after it ended, so that REQUESTED and TOO_LATE
             * happen whatever the load of the machine. */
            long k = j - base;
            rs[j].hold = k == B - 2;
            rs[j].run_ns = k % 3 == 0 ? 0 : (int64_t)(rand_r(&seed) % (k % 3 == 1 ? 2000 : 50000));
            rs[j].ret = rand_r(&seed) % 4 == 0 ? 3 : 0;
            ASSERT_RC(crew_submit(ex, race_task, &rs[j], &ids[j]), 0);
        }
        for (long j = base; j < base + m; j++) {
            if (rs[j].hold)
                cr_assert(T_WAIT_UNTIL(atomic_load(&rs[j].ran), T_HANG_S));
            else if (j - base == B - 1)
                t_wait(ex, ids[j]);
            switch (rand_r(&seed) % 5) {
            case 0:
                break;
            case 1:
                sched_yield();
                break;
            case 2:
                spin_for(300);
                break;
            case 3:
                spin_for(2000);
                break;
            default:
                spin_for(10000);
                break;
            }
            out[j] = crew_cancel(ex, ids[j], 0, NULL);
            flag_set(&rs[j].cancel_returned);
        }
        for (long j = base; j < base + m; j++) {
            sts[j] = t_join(ex, ids[j]);
            cr_assert(out[j] >= CREW_REMOVED && out[j] <= CREW_TOO_LATE,
                      "task %ld: crew_cancel -> %s", j, t_rc_name(out[j]));
            count[out[j]]++;
            if (out[j] == CREW_TOO_LATE)
                ASSERT_STATUS(sts[j], rs[j].ret ? CREW_TASK_FAILED : CREW_TASK_DONE);
            else
                cr_assert_eq(sts[j], CREW_TASK_CANCELLED,
                             "task %ld: cancel said %s but it ended %s", j, t_rc_name(out[j]),
                             crew_status_name(sts[j]));
            cr_assert_eq(atomic_load(&rs[j].misses), 0,
                         "task %ld: %d checks after a %s cancel said \"not "
                         "cancelled\"",
                         j, atomic_load(&rs[j].misses), t_rc_name(out[j]));
        }
    }
    /* Nothing runs any more: a removed task that ran would show now. */
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    for (long j = 0; j < n; j++)
        cr_assert_eq(atomic_load(&rs[j].ran), out[j] == CREW_REMOVED ? 0 : 1,
                     "task %ld: cancel said %s, ran=%d", j, t_rc_name(out[j]),
                     atomic_load(&rs[j].ran));
    crew_stats_t s = t_settle(ex);
    cr_assert_eq(s.removed, (uint64_t)count[CREW_REMOVED], "removed %llu, want %ld",
                 (unsigned long long)s.removed, count[CREW_REMOVED]);
    cr_assert_eq(s.cancelled_running, (uint64_t)count[CREW_REQUESTED],
                 "cancelled_running %llu, want %ld", (unsigned long long)s.cancelled_running,
                 count[CREW_REQUESTED]);
    cr_assert_eq(s.late_cancels, (uint64_t)count[CREW_TOO_LATE], "late_cancels %llu, want %ld",
                 (unsigned long long)s.late_cancels, count[CREW_TOO_LATE]);
    cr_assert_eq(s.cancelled, (uint64_t)(count[CREW_REMOVED] + count[CREW_REQUESTED]));
    cr_assert_eq(s.done + s.failed, (uint64_t)count[CREW_TOO_LATE]);
    cr_log_info("%u workers: %ld removed, %ld requested, %ld too late", workers,
                count[CREW_REMOVED], count[CREW_REQUESTED], count[CREW_TOO_LATE]);
    /* Guaranteed by the held and the finished task of each batch (removals
     * depend on timing: thousands in practice, not asserted). */
    cr_assert(count[CREW_REQUESTED] >= n / B && count[CREW_TOO_LATE] >= n / B,
              "the race was not exercised: %ld removed, %ld requested, %ld "
              "too late",
              count[CREW_REMOVED], count[CREW_REQUESTED], count[CREW_TOO_LATE]);
    free(rs);
    free(ids);
    free(out);
    free(sts);
    DESTROY_CLEAN(&ex);
}

Test(cancel, start_cancel_race_gives_removed_and_never_ran_or_requested_and_cancelled_2_workers,
     .timeout = CREW_TEST_TIMEOUT * 2)
{
    hammer_start_cancel(2);
}

Test(cancel, start_cancel_race_gives_removed_and_never_ran_or_requested_and_cancelled_8_workers,
     .timeout = CREW_TEST_TIMEOUT * 2)
{
    hammer_start_cancel(8);
}

/* ---- cleanup on every path ------------------------------------------------------------ */

typedef struct paths {
    atomic_int done, failed, removed, requested, born, by_parent, by_group, by_shutdown;
    atomic_int ran_removed, ran_born, ran_by_parent, ran_by_group, ran_by_shutdown;
} paths_t;

typedef struct ptask {
    atomic_int *cleanup;
    atomic_int *ran;
    int ret;
} ptask_t;

static int ptask_body(void *arg)
{
    ptask_t *t = arg;
    if (t->ran)
        atomic_fetch_add(t->ran, 1);
    return t->ret;
}
static void ptask_cleanup(void *arg) { atomic_fetch_add(((ptask_t *)arg)->cleanup, 1); }

/* The parent of the "by parent" and "born cancelled" children. */
typedef struct pparent {
    probe_t probe;
    ptask_t queued_child, late_child;
    crew_id_t queued_id, late_id;
    int rc_queued, rc_late;
    atomic_int spawned;
    atomic_int *cleanup;
} pparent_t;

static int pparent_task(void *arg)
{
    pparent_t *p = arg;
    crew_task_desc_t d = {
        .fn = ptask_body, .arg = &p->queued_child, .cleanup = ptask_cleanup, .group = NULL};
    p->rc_queued = crew_submit_ex(crew_current(), &d, &p->queued_id);
    flag_set(&p->spawned);
    /* wait until the test cancelled us */
    if (!T_WAIT_UNTIL(flag_get(&p->probe.cancel_returned), T_HANG_S))
        return 1;
    crew_task_desc_t d2 = {
        .fn = ptask_body, .arg = &p->late_child, .cleanup = ptask_cleanup, .group = NULL};
    p->rc_late = crew_submit_ex(crew_current(), &d2, &p->late_id);
    return 0;
}
static void pparent_cleanup(void *arg) { atomic_fetch_add(((pparent_t *)arg)->cleanup, 1); }

static int shutdown_rc = 99;
static void *shutdown_cancel_main(void *arg)
{
    shutdown_rc = crew_shutdown(arg, CREW_CANCEL);
    return NULL;
}

Test(cancel, cleanup_runs_exactly_once_on_every_path, T_OPTS)
{
    crew_t *ex = t_create(2);
    paths_t c;
    memset(&c, 0, sizeof c);
    crew_group_t *g;
    ASSERT_RC(crew_group_create(ex, NULL, 0, &g), 0);

    /* body ran: DONE and FAILED */
    ptask_t done = {&c.done, NULL, 0}, failed = {&c.failed, NULL, 2};
    crew_id_t id_done, id_failed;
    crew_task_desc_t d = {.fn = ptask_body, .arg = &done, .cleanup = ptask_cleanup, .group = NULL};
    ASSERT_RC(crew_submit_ex(ex, &d, &id_done), 0);
    d.arg = &failed;
    ASSERT_RC(crew_submit_ex(ex, &d, &id_failed), 0);
    ASSERT_STATUS(t_join(ex, id_done), CREW_TASK_DONE);
    ASSERT_STATUS(t_join(ex, id_failed), CREW_TASK_FAILED);

    /* requested while running, with a queued child (removed through its
     * parent) and a child spawned after the cancel (born cancelled); the
     * other worker is blocked so the queued child stays queued */
    gate_t g1;
    gate_init(&g1);
    ASSERT_RC(crew_submit(ex, gate_task, &g1, NULL), 0);
    gate_await_arrivals(&g1, 1);
    pparent_t pp;
    memset(&pp, 0, sizeof pp);
    pp.cleanup = &c.requested;
    pp.queued_child = (ptask_t){&c.by_parent, &c.ran_by_parent, 0};
    pp.late_child = (ptask_t){&c.born, &c.ran_born, 0};
    crew_id_t id_parent;
    crew_task_desc_t dp = {
        .fn = pparent_task, .arg = &pp, .cleanup = pparent_cleanup, .group = NULL};
    ASSERT_RC(crew_submit_ex(ex, &dp, &id_parent), 0);
    flag_await(&pp.spawned);
    ASSERT_RC(pp.rc_queued, 0);
    ASSERT_RC(crew_cancel(ex, id_parent, 0, NULL), CREW_REQUESTED);
    flag_set(&pp.probe.cancel_returned);
    ASSERT_STATUS(t_join(ex, id_parent), CREW_TASK_CANCELLED);
    ASSERT_RC(pp.rc_late, 0);
    gate_open(&g1);
    ASSERT_STATUS(t_join(ex, pp.queued_id), CREW_TASK_CANCELLED);
    crew_task_info_t li = t_inspect(ex, pp.late_id);
    ASSERT_STATUS(li.status, CREW_TASK_CANCELLED);
    cr_assert_eq(li.cause, CREW_CAUSE_PARENT);
    ASSERT_STATUS(t_join(ex, pp.late_id), CREW_TASK_CANCELLED);

    /* removed by ID, by group cancel, by shutdown(CANCEL) */
    gate_t g2;
    gate_init(&g2);
    saturate(ex, &g2);
    ptask_t removed = {&c.removed, &c.ran_removed, 0};
    ptask_t by_group = {&c.by_group, &c.ran_by_group, 0};
    ptask_t by_shutdown = {&c.by_shutdown, &c.ran_by_shutdown, 0};
    crew_id_t id_removed, id_group, id_shutdown;
    d.arg = &removed;
    ASSERT_RC(crew_submit_ex(ex, &d, &id_removed), 0);
    ASSERT_RC(crew_cancel(ex, id_removed, 0, NULL), CREW_REMOVED);
    crew_task_desc_t dg = {
        .fn = ptask_body, .arg = &by_group, .cleanup = ptask_cleanup, .group = g};
    ASSERT_RC(crew_submit_ex(ex, &dg, &id_group), 0);
    ASSERT_RC(crew_group_cancel(g, 1, "group"), 0);
    d.arg = &by_shutdown;
    ASSERT_RC(crew_submit_ex(ex, &d, &id_shutdown), 0);
    cr_assert_eq(atomic_load(&c.removed), 1,
                 "crew_cancel removes before "
                 "it returns");
    /* (crew_group_cancel does not promise removal before it returns) */

    /* shutdown(CANCEL) from a helper thread while every worker is still
     * blocked; once submissions are refused it has begun, and the gate
     * opens: whatever was queued must be removed, never run */
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, shutdown_cancel_main, ex), 0);
    atomic_int probe_cleanups = 0, probe_ran = 0;
    ptask_t probe = {&probe_cleanups, &probe_ran, 0};
    crew_task_desc_t dprobe = {
        .fn = ptask_body, .arg = &probe, .cleanup = ptask_cleanup, .group = NULL};
    int accepted = 0, rc;
    while ((rc = crew_submit_ex(ex, &dprobe, NULL)) == 0) {
        accepted++;
        sched_yield();
    }
    ASSERT_RC(rc, CREW_ESHUTDOWN);
    gate_open(&g2);
    pthread_join(th, NULL);
    cr_assert_eq(shutdown_rc, 0);
    cr_assert_eq(t_inspect(ex, id_shutdown).cause, CREW_CAUSE_SHUTDOWN);
    cr_assert_eq(atomic_load(&probe_cleanups), accepted);
    cr_assert_eq(atomic_load(&probe_ran), 0,
                 "tasks queued when shutdown "
                 "(CANCEL) began ran");

    ASSERT_STATUS(t_join(ex, id_removed), CREW_TASK_CANCELLED);
    ASSERT_STATUS(t_join(ex, id_group), CREW_TASK_CANCELLED);
    ASSERT_STATUS(t_join(ex, id_shutdown), CREW_TASK_CANCELLED);

    cr_assert_eq(atomic_load(&c.done), 1);
    cr_assert_eq(atomic_load(&c.failed), 1);
    cr_assert_eq(atomic_load(&c.requested), 1);
    cr_assert_eq(atomic_load(&c.by_parent), 1);
    cr_assert_eq(atomic_load(&c.born), 1);
    cr_assert_eq(atomic_load(&c.removed), 1);
    cr_assert_eq(atomic_load(&c.by_group), 1);
    cr_assert_eq(atomic_load(&c.by_shutdown), 1);
    cr_assert_eq(atomic_load(&c.ran_by_parent), 0);
    cr_assert_eq(atomic_load(&c.ran_born), 0);
    cr_assert_eq(atomic_load(&c.ran_removed), 0);
    cr_assert_eq(atomic_load(&c.ran_by_group), 0);
    cr_assert_eq(atomic_load(&c.ran_by_shutdown), 0);
    ASSERT_RC(crew_group_destroy(g), 0);
    gate_destroy(&g1);
    gate_destroy(&g2);
    DESTROY_CLEAN_MODE(&ex, CREW_CANCEL);
}

/* ---- the cancellation set ---------------------------------------------------------------- */

Test(cancel, cancellation_set_holds_only_live_cancelled_tasks, T_OPTS)
{
    crew_t *ex = t_create(2);
    probe_t p[2];
    crew_id_t run[2], queued[3];
    for (int i = 0; i < 2; i++) {
        probe_init(&p[i], false, 0);
        ASSERT_RC(crew_submit(ex, probe_task, &p[i], &run[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        flag_await(&p[i].started);
    for (int i = 0; i < 3; i++)
        ASSERT_RC(crew_submit(ex, noop_task, NULL, &queued[i]), 0);
    cr_assert_eq(t_stats(ex).cancel_set_size, 0);
    for (int i = 0; i < 2; i++)
        ASSERT_RC(cancel_probe(ex, run[i], &p[i], 0, NULL), CREW_REQUESTED);
    for (int i = 0; i < 3; i++)
        ASSERT_RC(crew_cancel(ex, queued[i], 0, NULL), CREW_REMOVED);
    crew_stats_t s;
    cr_assert(T_WAIT_UNTIL((s = t_stats(ex)).cancel_set_size == 2, 2.0),
              "cancel_set_size %llu with two live cancelled tasks",
              (unsigned long long)s.cancel_set_size);
    for (int i = 0; i < 2; i++)
        flag_set(&p[i].release);
    for (int i = 0; i < 2; i++)
        ASSERT_STATUS(t_join(ex, run[i]), CREW_TASK_CANCELLED);
    /* terminal but not yet released: already out of the set */
    for (int i = 0; i < 3; i++)
        ASSERT_STATUS(t_wait(ex, queued[i]), CREW_TASK_CANCELLED);
    cr_assert(T_WAIT_UNTIL((s = t_stats(ex)).cancel_set_size == 0, 2.0),
              "cancel_set_size %llu once every cancelled task is terminal",
              (unsigned long long)s.cancel_set_size);
    for (int i = 0; i < 3; i++)
        ASSERT_RC(crew_release(ex, queued[i]), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- exact counters ---------------------------------------------------------------------------- */

Test(cancel, counters_are_exact_per_executor_and_per_group, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_group_t *g;
    ASSERT_RC(crew_group_create(ex, NULL, 0, &g), 0);
    probe_t a;
    probe_init(&a, false, 0);
    crew_task_desc_t d = {.fn = probe_task, .arg = &a, .cleanup = NULL, .group = g};
    crew_id_t ia, ib, ic, id_, ie;
    ASSERT_RC(crew_submit_ex(ex, &d, &ia), 0);
    flag_await(&a.started); /* the only worker is busy with a */
    d.fn = noop_task;
    ASSERT_RC(crew_submit_ex(ex, &d, &ib), 0);
    ASSERT_RC(crew_submit_ex(ex, &d, &ic), 0);
    ASSERT_RC(cancel_probe(ex, ia, &a, 0, NULL), CREW_REQUESTED);
    ASSERT_RC(crew_cancel(ex, ib, 0, NULL), CREW_REMOVED);
    ASSERT_RC(crew_cancel(ex, ic, 0, NULL), CREW_REMOVED);
    flag_set(&a.release);
    ASSERT_STATUS(t_join(ex, ia), CREW_TASK_CANCELLED);
    ASSERT_RC(crew_submit_ex(ex, &d, &id_), 0);
    ASSERT_STATUS(t_wait(ex, id_), CREW_TASK_DONE);
    ASSERT_RC(crew_cancel(ex, id_, 0, NULL), CREW_TOO_LATE);
    d.fn = ret_task;
    d.arg = (void *)(intptr_t)6;
    ASSERT_RC(crew_submit_ex(ex, &d, &ie), 0);
    ASSERT_STATUS(t_join(ex, ie), CREW_TASK_FAILED);
    ASSERT_STATUS(t_join(ex, ib), CREW_TASK_CANCELLED);
    ASSERT_STATUS(t_join(ex, ic), CREW_TASK_CANCELLED);
    ASSERT_STATUS(t_join(ex, id_), CREW_TASK_DONE);

    crew_stats_t s = t_settle(ex);
    cr_assert_eq(s.submitted, 5);
    cr_assert_eq(s.done, 1);
    cr_assert_eq(s.failed, 1);
    cr_assert_eq(s.cancelled, 3);
    cr_assert_eq(s.removed, 2);
    cr_assert_eq(s.cancelled_running, 1);
    cr_assert_eq(s.late_cancels, 1);
    crew_group_info_t gi;
    gi.size = sizeof gi;
    ASSERT_RC(crew_group_info(g, &gi), 0);
    cr_assert_eq(gi.submitted, 5);
    cr_assert_eq(gi.live, 0);
    cr_assert_eq(gi.done, 1);
    cr_assert_eq(gi.failed, 1);
    cr_assert_eq(gi.cancelled, 3);
    cr_assert_eq(gi.removed, 2);
    cr_assert_eq(gi.cancelled_running, 1);
    cr_assert_eq(gi.late_cancels, 1);
    cr_assert_not(gi.is_cancelled, "cancelling members does not cancel "
                                   "the group");
    cr_assert_eq(gi.first_failure, ie);
    cr_assert_eq(gi.first_failure_result, 6);
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- recursive cancellation ------------------------------------------------------------------ */

typedef struct family {
    probe_t probe; /* the parent's own polling */
    crew_id_t kids[5];
    int nkids;
    int rc[5];
    atomic_int spawned;
    atomic_int kids_ran;
} family_t;

static int family_kid(void *arg)
{
    atomic_fetch_add(&((family_t *)arg)->kids_ran, 1);
    return 0;
}

static int family_parent(void *arg)
{
    family_t *f = arg;
    for (int i = 0; i < f->nkids; i++)
        f->rc[i] = crew_spawn(family_kid, f, &f->kids[i]);
    flag_set(&f->spawned);
    return probe_task(&f->probe);
}

Test(cancel, cancelling_a_parent_removes_its_queued_children, T_OPTS)
{
    crew_t *ex = t_create(1);
    family_t f;
    memset(&f, 0, sizeof f);
    probe_init(&f.probe, false, 0);
    f.nkids = 5;
    crew_id_t pid;
    ASSERT_RC(crew_submit(ex, family_parent, &f, &pid), 0);
    flag_await(&f.spawned); /* the children sit in the only worker's deque */
    for (int i = 0; i < 5; i++)
        ASSERT_RC(f.rc[i], 0);
    ASSERT_STATUS(t_inspect(ex, f.kids[0]).status, CREW_TASK_QUEUED);
    ASSERT_RC(cancel_probe(ex, pid, &f.probe, 3, "parent"), CREW_REQUESTED);
    flag_set(&f.probe.release);
    ASSERT_STATUS(t_join(ex, pid), CREW_TASK_CANCELLED);
    for (int i = 0; i < 5; i++) {
        ASSERT_STATUS(t_wait(ex, f.kids[i]), CREW_TASK_CANCELLED);
        crew_task_info_t ki = t_inspect(ex, f.kids[i]);
        cr_assert_eq(ki.cause, CREW_CAUSE_PARENT);
        cr_assert_eq(ki.parent, pid);
        cr_assert_not(ki.cancel_requested);
        ASSERT_RC(crew_release(ex, f.kids[i]), 0);
    }
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    cr_assert_eq(atomic_load(&f.kids_ran), 0,
                 "children of a cancelled "
                 "parent ran");
    crew_stats_t s = t_settle(ex);
    cr_assert_eq(s.removed, 5);
    cr_assert_eq(s.cancelled_running, 1);
    DESTROY_CLEAN(&ex);
}

/* parent -> child -> grandchild, each running on its own worker */
typedef struct lineage {
    probe_t p[3];
    crew_id_t id[3];
    int rc[3];
} lineage_t;

typedef struct lnode {
    lineage_t *l;
    int level;
} lnode_t;

static lnode_t lnodes[3];

static int lineage_task(void *arg)
{
    lnode_t *n = arg;
    lineage_t *l = n->l;
    if (n->level < 2) {
        l->rc[n->level + 1] = crew_spawn(lineage_task, &lnodes[n->level + 1], &l->id[n->level + 1]);
        /* wait until the child runs elsewhere, so it is not in our deque */
        if (!T_WAIT_UNTIL(flag_get(&l->p[n->level + 1].started), T_HANG_S))
            return 1;
    }
    return probe_task(&l->p[n->level]);
}

Test(cancel, cancelling_a_parent_requests_its_running_descendants, T_OPTS)
{
    crew_t *ex = t_create(3);
    lineage_t l;
    memset(&l, 0, sizeof l);
    for (int i = 0; i < 3; i++) {
        probe_init(&l.p[i], false, 0);
        lnodes[i] = (lnode_t){&l, i};
    }
    ASSERT_RC(crew_submit(ex, lineage_task, &lnodes[0], &l.id[0]), 0);
    for (int i = 0; i < 3; i++)
        flag_await(&l.p[i].started);
    ASSERT_RC(l.rc[1], 0);
    ASSERT_RC(l.rc[2], 0);
    ASSERT_RC(crew_cancel(ex, l.id[0], 0, NULL), CREW_REQUESTED);
    for (int i = 0; i < 3; i++)
        flag_set(&l.p[i].cancel_returned);
    cr_assert(T_WAIT_UNTIL(atomic_load(&l.p[2].checks_after) > 100, T_HANG_S));
    for (int i = 0; i < 3; i++)
        flag_set(&l.p[i].release);
    for (int i = 0; i < 3; i++) {
        ASSERT_STATUS(t_wait(ex, l.id[i]), CREW_TASK_CANCELLED);
        t_assert_probe_saw_cancel(&l.p[i], 1);
        crew_task_info_t info = t_inspect(ex, l.id[i]);
        cr_assert(info.cancel_requested, "level %d", i);
        cr_assert_eq(info.cause, i == 0 ? CREW_CAUSE_SELF : CREW_CAUSE_PARENT, "level %d cause %d",
                     i, (int)info.cause);
    }
    for (int i = 0; i < 3; i++)
        ASSERT_RC(crew_release(ex, l.id[i]), 0);
    crew_stats_t s = t_settle(ex);
    cr_assert_eq(s.cancelled_running, 3);
    DESTROY_CLEAN(&ex);
}

Test(cancel, child_spawned_after_its_parent_was_cancelled_is_born_cancelled, T_OPTS)
{
    crew_t *ex = t_create(2);
    paths_t c;
    memset(&c, 0, sizeof c);
    pparent_t pp;
    memset(&pp, 0, sizeof pp);
    atomic_int parent_cleanup = 0;
    pp.cleanup = &parent_cleanup;
    pp.queued_child = (ptask_t){&c.by_parent, &c.ran_by_parent, 0};
    pp.late_child = (ptask_t){&c.born, &c.ran_born, 0};
    crew_id_t pid;
    crew_task_desc_t dp = {
        .fn = pparent_task, .arg = &pp, .cleanup = pparent_cleanup, .group = NULL};
    ASSERT_RC(crew_submit_ex(ex, &dp, &pid), 0);
    flag_await(&pp.spawned);
    int oc = crew_cancel(ex, pid, 0, NULL);
    cr_assert_eq(oc, CREW_REQUESTED);
    flag_set(&pp.probe.cancel_returned);
    ASSERT_STATUS(t_join(ex, pid), CREW_TASK_CANCELLED);
    ASSERT_RC(pp.rc_late, 0); /* a child of a cancelled task is accepted */
    cr_assert_neq(pp.late_id, 0);
    crew_task_info_t li = t_inspect(ex, pp.late_id);
    ASSERT_STATUS(li.status, CREW_TASK_CANCELLED);
    cr_assert_eq(li.parent, pid);
    ASSERT_STATUS(t_join(ex, pp.late_id), CREW_TASK_CANCELLED);
    /* the first child may have run before the cancel (other worker) */
    crew_status_t qs = t_join(ex, pp.queued_id);
    cr_assert(qs == CREW_TASK_CANCELLED || qs == CREW_TASK_DONE);
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    cr_assert_eq(atomic_load(&c.ran_born), 0, "a born-cancelled child ran");
    cr_assert_eq(atomic_load(&c.born), 1, "its cleanup ran %d times", atomic_load(&c.born));
    crew_stats_t s = t_settle(ex);
    cr_assert_eq(s.submitted, 3, "born-cancelled tasks count as submitted");
    DESTROY_CLEAN(&ex);
}

/* Waits until it is cancelled, then spawns a child and inspects it at once,
 * while every other worker is blocked at a gate. */
typedef struct bornspawner {
    probe_t probe;
    atomic_int child_ran;
    crew_id_t child;
    int spawn_rc, inspect_rc;
    crew_task_info_t info; /* the child, right after crew_spawn returned */
} bornspawner_t;

static int bornchild_task(void *arg)
{
    atomic_fetch_add(&((bornspawner_t *)arg)->child_ran, 1);
    return 0;
}

static int bornspawner_task(void *arg)
{
    bornspawner_t *b = arg;
    int r = probe_task(&b->probe); /* until_cancelled */
    b->spawn_rc = crew_spawn(bornchild_task, b, &b->child);
    b->info.size = sizeof b->info;
    if (b->spawn_rc == 0)
        b->inspect_rc = crew_inspect(crew_current(), b->child, &b->info);
    return r;
}

static void check_child_born_cancelled_at_spawn(unsigned workers)
{
    crew_t *ex = t_create(workers);
    bornspawner_t b;
    memset(&b, 0, sizeof b);
    probe_init(&b.probe, true, 0);
    b.inspect_rc = 99;
    crew_id_t pid;
    ASSERT_RC(crew_submit(ex, bornspawner_task, &b, &pid), 0);
    flag_await(&b.probe.started);
    /* Every other worker blocked: nothing can pop or steal the child. */
    gate_t gate;
    gate_init(&gate);
    for (unsigned i = 0; i + 1 < workers; i++)
        ASSERT_RC(crew_submit(ex, gate_task, &gate, NULL), 0);
    gate_await_arrivals(&gate, (int)workers - 1);
    ASSERT_RC(cancel_probe(ex, pid, &b.probe, 4, "parent"), CREW_REQUESTED);
    ASSERT_STATUS(t_join(ex, pid), CREW_TASK_CANCELLED);
    ASSERT_RC(b.spawn_rc, 0);
    ASSERT_RC(b.inspect_rc, 0);
    ASSERT_STATUS(b.info.status, CREW_TASK_CANCELLED);
    cr_assert_eq(b.info.cause, CREW_CAUSE_PARENT);
    cr_assert_eq(b.info.parent, pid);
    gate_open(&gate);
    ASSERT_STATUS(t_join(ex, b.child), CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&b.child_ran), 0, "a born-cancelled child ran");
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

Test(cancel, child_spawned_by_a_cancelled_task_is_cancelled_when_the_spawn_returns_2_workers,
     T_OPTS)
{
    check_child_born_cancelled_at_spawn(2);
}
Test(cancel, child_spawned_by_a_cancelled_task_is_cancelled_when_the_spawn_returns_8_workers,
     T_OPTS)
{
    check_child_born_cancelled_at_spawn(8);
}

typedef struct upward {
    probe_t parent;
    probe_t child;
    crew_id_t child_id;
    int rc;
} upward_t;

static int upward_child(void *arg) { return probe_task(&((upward_t *)arg)->child); }
static int upward_parent(void *arg)
{
    upward_t *u = arg;
    u->rc = crew_spawn(upward_child, u, &u->child_id);
    return probe_task(&u->parent);
}

Test(cancel, cancelling_a_child_leaves_its_parent_alone, T_OPTS)
{
    crew_t *ex = t_create(2);
    upward_t u;
    memset(&u, 0, sizeof u);
    probe_init(&u.parent, false, 0);
    probe_init(&u.child, false, 0);
    crew_id_t pid;
    ASSERT_RC(crew_submit(ex, upward_parent, &u, &pid), 0);
    flag_await(&u.parent.started);
    flag_await(&u.child.started);
    ASSERT_RC(cancel_probe(ex, u.child_id, &u.child, 0, NULL), CREW_REQUESTED);
    cr_assert(T_WAIT_UNTIL(atomic_load(&u.child.checks_after) > 100, T_HANG_S));
    flag_set(&u.child.release);
    ASSERT_STATUS(t_join(ex, u.child_id), CREW_TASK_CANCELLED);
    flag_set(&u.parent.release);
    ASSERT_STATUS(t_join(ex, pid), CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&u.parent.saw_cancel), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- waiting while cancelled (CPython gh-103486) ------------------------------------------------ */

typedef struct cwaiter {
    crew_id_t target;
    bool join; /* crew_join instead of crew_wait */
    atomic_int waiting;
    atomic_int returned;
    int rc;
    crew_status_t st;
    bool cancelled_after;
} cwaiter_t;

static int cwaiter_task(void *arg)
{
    cwaiter_t *w = arg;
    flag_set(&w->waiting);
    if (w->join)
        w->rc = crew_join(crew_current(), w->target, &w->st);
    else
        w->rc = crew_wait(crew_current(), w->target, (int64_t)(T_HANG_S * 1e9), &w->st);
    w->cancelled_after = crew_cancelled();
    flag_set(&w->returned);
    return 0;
}

Test(cancel, wait_in_a_cancelled_task_returns_ECANCELED_not_the_targets_status, T_OPTS)
{
    crew_t *ex = t_create(2);
    gate_t gate;
    gate_init(&gate);
    crew_id_t target, waiter;
    ASSERT_RC(crew_submit(ex, gate_task, &gate, &target), 0);
    gate_await_arrivals(&gate, 1);
    cwaiter_t w;
    memset(&w, 0, sizeof w);
    w.target = target;
    w.rc = 99;
    ASSERT_RC(crew_submit(ex, cwaiter_task, &w, &waiter), 0);
    flag_await(&w.waiting);
    ASSERT_RC(crew_cancel(ex, waiter, 0, NULL), CREW_REQUESTED);
    /* returns at once, while the target is still blocked */
    ASSERT_STATUS(t_join(ex, waiter), CREW_TASK_CANCELLED);
    ASSERT_RC(w.rc, CREW_ECANCELED);
    cr_assert(w.cancelled_after);
    crew_task_info_t ti = t_inspect(ex, target);
    ASSERT_STATUS(ti.status, CREW_TASK_RUNNING);
    cr_assert_not(ti.cancel_requested, "the waiter's cancellation reached an "
                                       "unrelated target");
    gate_open(&gate);
    ASSERT_STATUS(t_join(ex, target), CREW_TASK_DONE);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

Test(cancel, wait_for_a_cancelled_target_returns_its_status_not_ECANCELED, T_OPTS)
{
    crew_t *ex = t_create(2);
    probe_t p;
    probe_init(&p, true, 0);
    crew_id_t target, waiter;
    ASSERT_RC(crew_submit(ex, probe_task, &p, &target), 0);
    flag_await(&p.started);
    cwaiter_t w;
    memset(&w, 0, sizeof w);
    w.target = target;
    w.rc = 99;
    ASSERT_RC(crew_submit(ex, cwaiter_task, &w, &waiter), 0);
    flag_await(&w.waiting);
    ASSERT_RC(cancel_probe(ex, target, &p, 0, NULL), CREW_REQUESTED);
    ASSERT_STATUS(t_join(ex, waiter), CREW_TASK_DONE);
    ASSERT_RC(w.rc, 0);
    ASSERT_STATUS(w.st, CREW_TASK_CANCELLED);
    cr_assert_not(w.cancelled_after);
    ASSERT_STATUS(t_join(ex, target), CREW_TASK_CANCELLED);
    DESTROY_CLEAN(&ex);
}

typedef struct jparent {
    gate_t gate;
    cwaiter_t w;
    int spawn_rc;
} jparent_t;

static int jparent_task(void *arg)
{
    jparent_t *j = arg;
    /* the child blocks on the gate and ignores cancellation */
    j->spawn_rc = crew_spawn(gate_task, &j->gate, &j->w.target);
    if (j->spawn_rc != 0)
        return 1;
    /* wait until another worker took it, so our join really waits */
    if (!T_WAIT_UNTIL(gate_arrived(&j->gate) == 1, T_HANG_S))
        return 1;
    j->w.join = true;
    return cwaiter_task(&j->w);
}

Test(cancel, join_in_a_cancelled_task_waits_for_the_child_then_reports_ECANCELED, T_OPTS)
{
    crew_t *ex = t_create(2);
    jparent_t j;
    memset(&j, 0, sizeof j);
    gate_init(&j.gate);
    j.w.rc = 99;
    crew_id_t pid;
    ASSERT_RC(crew_submit(ex, jparent_task, &j, &pid), 0);
    flag_await(&j.w.waiting);
    ASSERT_RC(crew_cancel(ex, pid, 0, NULL), CREW_REQUESTED);
    /* the child still runs, so the join must not return: watch it for a
     * while (a bounded observation of something that must not happen) */
    cr_assert_not(T_WAIT_UNTIL(flag_get(&j.w.returned), 0.1),
                  "crew_join returned while the child it borrows for was "
                  "still running");
    ASSERT_STATUS(t_inspect(ex, j.w.target).status, CREW_TASK_RUNNING);
    gate_open(&j.gate);
    ASSERT_STATUS(t_join(ex, pid), CREW_TASK_CANCELLED);
    ASSERT_RC(j.w.rc, CREW_ECANCELED);
    /* the child descends from the cancelled parent: requested, CANCELLED */
    ASSERT_STATUS(j.w.st, CREW_TASK_CANCELLED);
    crew_task_info_t info;
    info.size = sizeof info;
    ASSERT_RC(crew_inspect(ex, j.w.target, &info), CREW_ENOTASK); /* released by the join */
    gate_destroy(&j.gate);
    DESTROY_CLEAN(&ex);
}

/* The fork-join fast path: the caller joins a child still on top of its own
 * deque after the caller was cancelled, by its own ID or through its group
 * (which may leave the child queued until it is popped). */
typedef struct jfast {
    crew_group_t *g; /* NULL: cancel by ID */
    bool by_child;   /* the child, run inline by the join, cancels us */
    crew_id_t parent;
    atomic_int ran;
    crew_id_t child;
    int spawn_rc, cancel_rc, join_rc;
    crew_status_t st;
} jfast_t;

static int jfast_child(void *arg)
{
    jfast_t *j = arg;
    atomic_fetch_add(&j->ran, 1);
    j->cancel_rc = crew_cancel(crew_current(), j->parent, 0, NULL);
    return 0;
}

static int jfast_task(void *arg)
{
    jfast_t *j = arg;
    j->parent = crew_self();
    if (j->by_child) {
        j->spawn_rc = crew_spawn(jfast_child, j, &j->child);
        j->join_rc = crew_join(crew_current(), j->child, &j->st);
        return 0;
    }
    j->spawn_rc = crew_spawn(count_task, &j->ran, &j->child);
    if (j->g)
        j->cancel_rc = crew_group_cancel(j->g, 0, NULL);
    else
        j->cancel_rc = crew_cancel(crew_current(), crew_self(), 0, NULL);
    j->join_rc = crew_join(crew_current(), j->child, &j->st);
    return 0;
}

Test(cancel, join_in_a_cancelled_task_reports_ECANCELED_on_the_fork_join_fast_path, T_OPTS)
{
    crew_t *ex = t_create(1); /* the child stays queued behind its parent */
    for (int by_group = 0; by_group < 2; by_group++) {
        jfast_t j;
        memset(&j, 0, sizeof j);
        j.spawn_rc = j.cancel_rc = j.join_rc = 99;
        if (by_group)
            ASSERT_RC(crew_group_create(ex, NULL, 0, &j.g), 0);
        crew_task_desc_t d = {.fn = jfast_task, .arg = &j, .cleanup = NULL, .group = j.g};
        crew_id_t id;
        ASSERT_RC(crew_submit_ex(ex, &d, &id), 0);
        ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
        ASSERT_RC(j.spawn_rc, 0);
        ASSERT_RC(j.cancel_rc, by_group ? 0 : CREW_REQUESTED);
        ASSERT_RC(j.join_rc, CREW_ECANCELED);
        ASSERT_STATUS(j.st, CREW_TASK_CANCELLED);
        cr_assert_eq(atomic_load(&j.ran), 0,
                     "a queued child of a cancelled "
                     "task ran");
        crew_task_info_t info;
        info.size = sizeof info;
        ASSERT_RC(crew_inspect(ex, j.child, &info), CREW_ENOTASK); /* joined */
        if (by_group)
            ASSERT_RC(crew_group_destroy(j.g), 0);
    }
    /* the child runs (inline in the join) and cancels its parent */
    jfast_t j;
    memset(&j, 0, sizeof j);
    j.spawn_rc = j.cancel_rc = j.join_rc = 99;
    j.by_child = true;
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, jfast_task, &j, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    ASSERT_RC(j.spawn_rc, 0);
    ASSERT_RC(j.cancel_rc, CREW_REQUESTED);
    ASSERT_RC(j.join_rc, CREW_ECANCELED);
    /* the child descends from the task it cancelled: CANCELLED too */
    ASSERT_STATUS(j.st, CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&j.ran), 1);
    DESTROY_CLEAN(&ex);
}

/* ---- cancel-and-wait ------------------------------------------------------------------------------ */

Test(cancel, cancel_wait_returns_done_when_the_task_already_won, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_id_t ok, bad;
    ASSERT_RC(crew_submit(ex, noop_task, NULL, &ok), 0);
    ASSERT_RC(crew_submit(ex, ret_task, (void *)(intptr_t)3, &bad), 0);
    ASSERT_STATUS(t_wait(ex, ok), CREW_TASK_DONE);
    ASSERT_STATUS(t_wait(ex, bad), CREW_TASK_FAILED);
    crew_status_t st;
    for (int k = 0; k < 2; k++) {
        ASSERT_RC(crew_cancel_wait(ex, ok, CREW_FOREVER, &st), 0);
        ASSERT_STATUS(st, CREW_TASK_DONE);
        ASSERT_RC(crew_cancel_wait(ex, bad, 0, &st), 0);
        ASSERT_STATUS(st, CREW_TASK_FAILED);
    }
    ASSERT_STATUS(t_join(ex, ok), CREW_TASK_DONE);
    ASSERT_STATUS(t_join(ex, bad), CREW_TASK_FAILED);
    crew_stats_t s = t_settle(ex);
    cr_assert_eq(s.done, 1);
    cr_assert_eq(s.failed, 1);
    cr_assert_eq(s.cancelled, 0);
    DESTROY_CLEAN(&ex);
}

Test(cancel, cancel_wait_returns_cancelled_for_queued_and_running_tasks, T_OPTS)
{
    crew_t *ex = t_create(2);
    probe_t p;
    probe_init(&p, true, 0);
    crew_id_t run, q;
    ASSERT_RC(crew_submit(ex, probe_task, &p, &run), 0);
    flag_await(&p.started);
    crew_status_t st;
    ASSERT_RC(crew_cancel_wait(ex, run, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&p.finished), 1,
                 "cancel_wait returned before "
                 "the body did");
    gate_t gate;
    gate_init(&gate);
    saturate(ex, &gate);
    atomic_int ran = 0;
    ASSERT_RC(crew_submit(ex, count_task, &ran, &q), 0);
    ASSERT_RC(crew_cancel_wait(ex, q, 0, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    gate_open(&gate);
    ASSERT_STATUS(t_join(ex, run), CREW_TASK_CANCELLED);
    ASSERT_STATUS(t_join(ex, q), CREW_TASK_CANCELLED);
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    cr_assert_eq(atomic_load(&ran), 0);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

Test(cancel, cancel_wait_that_times_out_still_leaves_the_request, T_OPTS)
{
    crew_t *ex = t_create(2);
    probe_t p;
    probe_init(&p, false, 0); /* ignores the request until released */
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, probe_task, &p, &id), 0);
    flag_await(&p.started);
    crew_status_t st;
    ASSERT_RC(crew_cancel_wait(ex, id, 10 * MS, &st), CREW_ETIMEDOUT);
    flag_set(&p.cancel_returned);
    crew_task_info_t i = t_inspect(ex, id);
    ASSERT_STATUS(i.status, CREW_TASK_RUNNING);
    cr_assert(i.cancel_requested);
    flag_set(&p.release);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&p.misses), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- timeouts change nothing ---------------------------------------------------------------------- */

Test(cancel, timed_out_waits_neither_cancel_nor_change_the_task, T_OPTS)
{
    crew_t *ex = t_create(2);
    probe_t p;
    probe_init(&p, false, 0);
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, probe_task, &p, &id), 0);
    flag_await(&p.started);
    crew_status_t st;
    for (int i = 0; i < 5; i++)
        ASSERT_RC(crew_wait(ex, id, i * MS, &st), CREW_ETIMEDOUT);
    crew_task_info_t info = t_inspect(ex, id);
    ASSERT_STATUS(info.status, CREW_TASK_RUNNING);
    cr_assert_not(info.cancel_requested);
    cr_assert_eq(info.cause, CREW_CAUSE_NONE);
    flag_set(&p.release);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&p.saw_cancel), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- volume --------------------------------------------------------------------------------------- */

Test(cancel, a_million_queued_then_cancelled_tasks_leave_nothing_behind,
     .timeout = CREW_TEST_TIMEOUT * 2)
{
    long n = t_scaled(1000000, 1000);
    crew_t *ex = t_create(2);
    gate_t gate;
    gate_init(&gate);
    saturate(ex, &gate);
    crew_id_t *ids = malloc(sizeof *ids * (size_t)n);
    cr_assert_not_null(ids);
    atomic_int ran = 0;
    crew_task_desc_t d = {.fn = count_task, .arg = &ran, .cleanup = NULL, .group = NULL};
    for (long i = 0; i < n; i++)
        ASSERT_RC(crew_submit_ex(ex, &d, &ids[i]), 0);
    for (long i = 0; i < n; i++) {
        int rc = crew_cancel(ex, ids[i], 0, NULL);
        if (rc != CREW_REMOVED)
            cr_assert_fail("task %ld: crew_cancel -> %s", i, t_rc_name(rc));
    }
    crew_stats_t s = t_stats(ex);
    cr_assert_eq(s.cancel_set_size, 0);
    for (long i = 0; i < n; i++) {
        int rc = crew_release(ex, ids[i]);
        if (rc != 0)
            cr_assert_fail("task %ld: crew_release -> %s", i, t_rc_name(rc));
    }
    gate_open(&gate);
    s = t_settle(ex);
    cr_assert_eq(s.removed, (uint64_t)n);
    cr_assert_eq(s.cancelled, (uint64_t)n);
    cr_assert_eq(s.live_records, 0, "%llu records left", (unsigned long long)s.live_records);
    cr_assert_eq(atomic_load(&ran), 0);
    free(ids);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}
