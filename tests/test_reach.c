/* test_reach.c - cancellation that reaches everything (crew.h "Deadlines,
 * on-cancel callbacks, interruption, shields"): deadlines of tasks, of
 * ancestors and of groups; on-cancel callbacks exactly once; blocking
 * calls interrupted; shields; FIRST_SUCCESS groups and the list of every
 * failure; the deterministic test mode. */
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "crit.h"
#include "fault.h"

#define MS ((int64_t)1000000)

/* The contract's latency bounds (cancel to a blocked call returning: 10 ms)
 * are checked on the median of TRIALS runs, each of which must also end
 * within 2 s: one run can be descheduled on a loaded 2-core machine, the
 * median of five is what the program sees. perf's interrupt_latency row
 * measures the same path (~40 us). */
enum { TRIALS = 5 };

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Submit fn(arg), wait until it says it is blocked (*started), cancel it,
 * join it (CANCELLED), and return the time from the cancel to *ended_at. */
static int64_t cancel_to_end(crew_t *ex, crew_fn fn, void *arg, atomic_int *started,
                             _Atomic int64_t *ended_at)
{
    crew_id_t id = 0;
    ASSERT_RC(crew_submit(ex, fn, arg, &id), 0);
    flag_await(started);
    int64_t t0 = crew_now();
    ASSERT_RC(crew_cancel(ex, id, 0, NULL), CREW_REQUESTED);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    return atomic_load(ended_at) - t0;
}

static void assert_latency(int64_t lat[TRIALS], int64_t bound, const char *what)
{
    for (int i = 0; i < TRIALS; i++)
        cr_assert_lt(lat[i], 2000 * MS, "%s: trial %d took %lld ms", what, i,
                     (long long)(lat[i] / MS));
    qsort(lat, TRIALS, sizeof lat[0], cmp_i64);
    cr_assert_lt(lat[TRIALS / 2], bound, "%s: median %lld us (bound %lld us)", what,
                 (long long)(lat[TRIALS / 2] / 1000), (long long)(bound / 1000));
}

static crew_id_t submit_desc(crew_t *ex, crew_task_desc_t d)
{
    crew_id_t id = 0;
    ASSERT_RC(crew_submit_ex(ex, &d, &id), 0);
    return id;
}

/* Loops until cancelled (or 10 s): records when it first saw it. */
typedef struct spin {
    atomic_int started;
    _Atomic int64_t seen_at;
} spin_t;

static int spin_until_cancelled(void *arg)
{
    spin_t *s = arg;
    int64_t end = crew_now() + 10000 * MS;
    flag_set(&s->started);
    while (crew_now() < end)
        if (crew_cancelled()) {
            atomic_store(&s->seen_at, crew_now());
            return 7;
        }
    return 0;
}

/* Runs for `ms` milliseconds of wall time, checking; DONE unless cancelled. */
static int run_for_ms(void *arg)
{
    int64_t end = crew_now() + (int64_t)(intptr_t)arg * MS;
    while (crew_now() < end)
        if (crew_cancelled())
            return 1;
    return 0;
}

static atomic_int bodies_ran;
static int ran_body(void *arg)
{
    (void)arg;
    atomic_fetch_add(&bodies_ran, 1);
    return 0;
}

/* ---- deadlines ------------------------------------------------------------ */

Test(reach, deadline_removes_a_queued_task_with_cause_timeout, T_OPTS)
{
    crew_t *ex = t_create(1);
    gate_t g;
    atomic_int cleaned = 0;
    gate_init(&g);
    saturate(ex, &g);
    atomic_store(&bodies_ran, 0);
    crew_id_t id = submit_desc(
        ex, (crew_task_desc_t){
                .fn = ran_body, .arg = &cleaned, .cleanup = count_cleanup, .timeout = 20 * MS});
    /* The timer thread removes it while the worker is still blocked. */
    ASSERT_STATUS(t_wait(ex, id), CREW_TASK_CANCELLED);
    crew_task_info_t i = t_inspect(ex, id);
    cr_assert_eq(i.cause, CREW_CAUSE_TIMEOUT);
    cr_assert_eq(i.cancel_code, CREW_ETIMEDOUT);
    cr_assert_str_eq(i.reason, "deadline");
    gate_open(&g);
    ASSERT_RC(crew_release(ex, id), 0);
    cr_assert_eq(atomic_load(&bodies_ran), 0, "a removed task ran");
    cr_assert_eq(atomic_load(&cleaned), 1, "cleanup exactly once");
    crew_stats_t st = t_settle(ex);
    cr_assert_eq(st.deadlines_fired, 1);
    cr_assert_eq(st.deadlines_pending, 0);
    gate_destroy(&g);
    DESTROY_CLEAN(&ex);
}

Test(reach, deadline_requests_a_running_task_and_is_never_early, T_OPTS)
{
    crew_t *ex = t_create(2);
    spin_t s = {0};
    int64_t t0 = crew_now();
    crew_id_t id = submit_desc(
        ex, (crew_task_desc_t){.fn = spin_until_cancelled, .arg = &s, .deadline = t0 + 30 * MS});
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    cr_assert_geq(atomic_load(&s.seen_at), t0 + 30 * MS, "cancelled before its deadline");
    cr_assert_lt(atomic_load(&s.seen_at), t0 + 5000 * MS);
    DESTROY_CLEAN(&ex);
}

Test(reach, deadline_cleared_or_moved_later_does_not_fire, T_OPTS)
{
    crew_t *ex = t_create(2);
    int64_t t0 = crew_now();
    crew_id_t a = submit_desc(
        ex, (crew_task_desc_t){.fn = run_for_ms, .arg = (void *)(intptr_t)80, .timeout = 10 * MS});
    crew_id_t b = submit_desc(
        ex, (crew_task_desc_t){.fn = run_for_ms, .arg = (void *)(intptr_t)80, .timeout = 10 * MS});
    int rc = crew_set_deadline(ex, a, 0);
    int rb = crew_set_deadline(ex, b, crew_now() + 60000 * MS);
    /* Both set before 10 ms passed: neither deadline fires. (On a loaded
     * machine this thread may lose the CPU for longer: then either
     * outcome is right, and the ends are only joined.) */
    if (rc == 0 && rb == 0 && crew_now() - t0 < 10 * MS) {
        int64_t d = -1;
        ASSERT_RC(crew_get_deadline(ex, a, &d), 0);
        cr_assert(d == 0 || t_join(ex, a) != CREW_TASK_RUNNING);
        ASSERT_STATUS(t_join(ex, a), CREW_TASK_DONE);
        ASSERT_STATUS(t_join(ex, b), CREW_TASK_DONE);
    } else {
        t_join(ex, a);
        t_join(ex, b);
    }
    cr_assert_eq(t_settle(ex).deadlines_pending, 0);
    DESTROY_CLEAN(&ex);
}

static int parent_of_spinner(void *arg)
{
    spin_t *s = arg;
    crew_id_t kid;
    crew_status_t st;
    if (crew_spawn(spin_until_cancelled, s, &kid) != 0)
        return -1;
    crew_join_child(kid, &st);
    return st == CREW_TASK_CANCELLED ? 0 : -2;
}

Test(reach, an_ancestors_deadline_is_the_childs_effective_deadline, T_OPTS)
{
    crew_t *ex = t_create(2);
    spin_t s = {0};
    int64_t t0 = crew_now();
    crew_id_t id =
        submit_desc(ex, (crew_task_desc_t){.fn = parent_of_spinner, .arg = &s, .timeout = 30 * MS});
    ASSERT_STATUS(t_wait(ex, id), CREW_TASK_CANCELLED);
    cr_assert_geq(atomic_load(&s.seen_at), t0 + 30 * MS);
    cr_assert_eq(t_inspect(ex, id).cause, CREW_CAUSE_TIMEOUT);
    ASSERT_RC(crew_release(ex, id), 0);
    DESTROY_CLEAN(&ex);
}

static int report_deadline(void *arg)
{
    atomic_llong *out = arg;
    atomic_store(out, crew_deadline());
    return 0;
}

Test(reach, group_deadline_cancels_members_queued_and_running, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_group_t *g = t_group(ex, NULL, 0);
    spin_t s = {0};
    atomic_int ran = 0;
    atomic_llong seen = 0;
    int64_t dl = crew_now() + 40 * MS;
    ASSERT_RC(crew_group_set_deadline(g, dl), 0);
    cr_assert_eq(t_ginfo(g).deadline, dl);
    crew_id_t r = 0, q = 0, p = 0;
    ASSERT_RC(t_submit_to(ex, g, report_deadline, &seen, &p), 0);
    ASSERT_STATUS(t_join(ex, p), CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&seen), dl, "crew_deadline() inside a member");
    ASSERT_RC(t_submit_to(ex, g, spin_until_cancelled, &s, &r), 0);
    flag_await(&s.started);
    ASSERT_RC(t_submit_to(ex, g, count_task, &ran, &q), 0); /* queued behind r */
    crew_status_t st;
    ASSERT_RC(crew_group_wait(g, -1, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    cr_assert_eq(t_inspect(ex, r).cause, CREW_CAUSE_TIMEOUT);
    cr_assert_eq(t_inspect(ex, q).cause, CREW_CAUSE_TIMEOUT);
    cr_assert_eq(atomic_load(&ran), 0);
    cr_assert_eq(t_ginfo(g).deadline, 0, "fired: no longer pending");
    ASSERT_RC(crew_release(ex, r), 0);
    ASSERT_RC(crew_release(ex, q), 0);
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}

Test(reach, a_past_deadline_cancels_in_the_call, T_OPTS)
{
    crew_t *ex = t_create(1);
    gate_t g;
    atomic_int ran = 0;
    gate_init(&g);
    saturate(ex, &g);
    crew_id_t id = 0;
    ASSERT_RC(crew_submit(ex, count_task, &ran, &id), 0);
    ASSERT_RC(crew_set_deadline(ex, id, crew_now() - 1), CREW_REMOVED);
    ASSERT_STATUS(t_wait(ex, id), CREW_TASK_CANCELLED);
    ASSERT_RC(crew_set_deadline(ex, id, crew_now() + MS), CREW_TOO_LATE);
    gate_open(&g);
    ASSERT_RC(crew_release(ex, id), 0);
    gate_destroy(&g);
    DESTROY_CLEAN(&ex);
}

Test(reach, bad_deadlines_are_refused_and_change_nothing, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_group_t *g = t_group(ex, NULL, 0);
    crew_task_desc_t d = {.fn = noop_task, .timeout = -1};
    crew_id_t id = 0;
    ASSERT_RC(crew_submit_ex(ex, &d, &id), CREW_EINVAL);
    d = (crew_task_desc_t){.fn = noop_task, .deadline = crew_now() + ((int64_t)1 << 60)};
    ASSERT_RC(crew_submit_ex(ex, &d, &id), CREW_EINVAL);
    ASSERT_RC(crew_submit(ex, noop_task, NULL, &id), 0);
    ASSERT_RC(crew_set_deadline(ex, id, -5), CREW_EINVAL);
    ASSERT_RC(crew_set_deadline(NULL, id, 0), CREW_EINVAL);
    ASSERT_RC(crew_set_deadline(ex, id + 1, crew_now() + MS), CREW_ENOTASK);
    ASSERT_RC(crew_group_set_deadline(NULL, 1), CREW_EINVAL);
    ASSERT_RC(crew_group_set_deadline(g, -1), CREW_EINVAL);
    int64_t x;
    ASSERT_RC(crew_get_deadline(ex, id, NULL), CREW_EINVAL);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    ASSERT_RC(crew_get_deadline(ex, id, &x), CREW_ENOTASK);
    ASSERT_RC(crew_group_destroy(g), 0);
    cr_assert_eq(crew_deadline(), 0, "outside a task");
    DESTROY_CLEAN(&ex);
}

Test(reach, deadlines_that_never_fire_are_gone_when_their_tasks_end, T_OPTS)
{
    crew_t *ex = t_create(2);
    enum { N = 2000 };
    static void *args[N];
    crew_task_desc_t d = {.fn = noop_task, .timeout = 60000 * MS};
    ASSERT_RC(crew_submit_batch(ex, &d, args, N, NULL), 0);
    for (int i = 0; i < 100; i++)
        ASSERT_RC(crew_submit_ex(ex, &d, NULL), 0);
    crew_stats_t st = t_settle(ex);
    cr_assert_eq(st.deadlines_pending, 0, "%llu left", (unsigned long long)st.deadlines_pending);
    /* The batch travels as runs (no IDs asked): its tasks share one
     * deadline, one timer entry. */
    cr_assert_eq(st.deadlines_set, 1 + 100);
    cr_assert_eq(st.deadlines_fired, 0);
    DESTROY_CLEAN(&ex);
    /* Without carriers each task has its own entry. */
    crew_options_t o = CREW_OPTIONS_INIT;
    o.workers = 2;
    o.flags = CREW_OPT_NO_CARRIERS;
    ASSERT_RC(crew_create(&ex, &o), 0);
    ASSERT_RC(crew_submit_batch(ex, &d, args, N, NULL), 0);
    st = t_settle(ex);
    cr_assert_eq(st.deadlines_pending, 0, "%llu left", (unsigned long long)st.deadlines_pending);
    cr_assert_eq(st.deadlines_set, N);
    cr_assert_eq(st.deadlines_fired, 0);
    DESTROY_CLEAN(&ex);
}

Test(reach, an_idle_executor_with_a_pending_deadline_uses_no_cpu, T_OPTS)
{
    crew_t *ex = t_create(2);
    gate_t g;
    gate_init(&g);
    crew_id_t id = 0;
    crew_task_desc_t d = {.fn = gate_task, .arg = &g, .timeout = 60000 * MS};
    ASSERT_RC(crew_submit_ex(ex, &d, &id), 0);
    gate_await_arrivals(&g, 1);
    int64_t c0 = t_cpu_ns(), w0 = crew_now();
    struct timespec ts = {0, 300 * 1000000};
    nanosleep(&ts, NULL); /* measuring idleness, not synchronising */
    int64_t cpu = t_cpu_ns() - c0, wall = crew_now() - w0;
    cr_assert_lt(cpu, wall / 10, "%lld ns of CPU in %lld ns idle", (long long)cpu, (long long)wall);
    gate_open(&g);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    gate_destroy(&g);
    DESTROY_CLEAN(&ex);
}

/* ---- on-cancel callbacks --------------------------------------------------- */

typedef struct cbt {
    atomic_int started, stop, order_pos;
    atomic_int runs[3], order[3];
    int removed[3];
} cbt_t;

static void cb0(void *a)
{
    cbt_t *c = a;
    atomic_fetch_add(&c->runs[0], 1);
    atomic_store(&c->order[atomic_fetch_add(&c->order_pos, 1)], 0);
}
static void cb1(void *a)
{
    cbt_t *c = a;
    atomic_fetch_add(&c->runs[1], 1);
    atomic_store(&c->order[atomic_fetch_add(&c->order_pos, 1)], 1);
}
static void cb2(void *a)
{
    cbt_t *c = a;
    atomic_fetch_add(&c->runs[2], 1);
}

static int registers_three(void *arg)
{
    cbt_t *c = arg;
    crew_on_cancel_t r0, r1, r2;
    if (crew_on_cancel(&r0, cb0, c) != 0 || crew_on_cancel(&r1, cb1, c) != 0 ||
        crew_on_cancel(&r2, cb2, c) != 0)
        return -1;
    c->removed[2] = crew_on_cancel_remove(&r2); /* before any cancel */
    flag_set(&c->started);
    while (!crew_cancelled() && !flag_get(&c->stop))
        ;
    c->removed[1] = crew_on_cancel_remove(&r1);
    c->removed[0] = crew_on_cancel_remove(&r0);
    return 0;
}

Test(reach, callbacks_run_once_newest_first_on_cancel_and_never_after_removal, T_OPTS)
{
    crew_t *ex = t_create(2);
    cbt_t c = {0};
    crew_id_t id = 0;
    ASSERT_RC(crew_submit(ex, registers_three, &c, &id), 0);
    flag_await(&c.started);
    ASSERT_RC(crew_cancel(ex, id, 0, NULL), CREW_REQUESTED);
    int again = crew_cancel(ex, id, 0, NULL); /* idempotent: nothing changes */
    cr_assert(again == CREW_REQUESTED || again == CREW_TOO_LATE, "%d", again);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&c.runs[0]), 1);
    cr_assert_eq(atomic_load(&c.runs[1]), 1);
    cr_assert_eq(atomic_load(&c.runs[2]), 0, "removed before the cancel, yet it ran");
    cr_assert_eq(atomic_load(&c.order[0]), 1, "newest first");
    cr_assert_eq(atomic_load(&c.order[1]), 0);
    cr_assert_eq(c.removed[2], 0);
    cr_assert_eq(c.removed[1], 1);
    cr_assert_eq(c.removed[0], 1);
    cr_assert_eq(t_settle(ex).callbacks_run, 2);
    DESTROY_CLEAN(&ex);
}

Test(reach, a_task_that_is_not_cancelled_never_runs_its_callbacks, T_OPTS)
{
    crew_t *ex = t_create(2);
    cbt_t c = {0};
    crew_id_t id = 0;
    ASSERT_RC(crew_submit(ex, registers_three, &c, &id), 0);
    flag_await(&c.started);
    flag_set(&c.stop);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(atomic_load(&c.runs[i]), 0);
    cr_assert_eq(c.removed[0], 0);
    DESTROY_CLEAN(&ex);
}

static int registers_when_cancelled(void *arg)
{
    cbt_t *c = arg;
    crew_on_cancel_t r;
    while (!crew_cancelled())
        flag_set(&c->started);
    int rc = crew_on_cancel(&r, cb0, c); /* already cancelled: runs now */
    int ran_now = atomic_load(&c->runs[0]);
    int rm = crew_on_cancel_remove(&r);
    return (rc == 1 && ran_now == 1 && rm == 1) ? 0 : -1;
}

Test(reach, registering_on_a_cancelled_task_runs_the_callback_at_once, T_OPTS)
{
    crew_t *ex = t_create(2);
    cbt_t c = {0};
    crew_id_t id = 0;
    ASSERT_RC(crew_submit(ex, registers_when_cancelled, &c, &id), 0);
    flag_await(&c.started);
    ASSERT_RC(crew_cancel(ex, id, 0, NULL), CREW_REQUESTED);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&c.runs[0]), 1);
    ASSERT_RC(crew_on_cancel(NULL, cb0, NULL), CREW_ENOTINTASK);
    ASSERT_RC(crew_on_cancel_remove(NULL), CREW_EINVAL);
    DESTROY_CLEAN(&ex);
}

/* The callback blocks until released: the body's remove must wait. */
typedef struct slowcb {
    atomic_int in_cb, release, cb_done, started;
    int remove_rc, done_at_remove;
} slowcb_t;

static void slow_cb(void *a)
{
    slowcb_t *s = a;
    flag_set(&s->in_cb);
    flag_await(&s->release);
    atomic_store(&s->cb_done, 1);
}

static int waits_for_callback(void *arg)
{
    slowcb_t *s = arg;
    crew_on_cancel_t r;
    if (crew_on_cancel(&r, slow_cb, s) != 0)
        return -1;
    flag_set(&s->started);
    while (!flag_get(&s->in_cb))
        ;
    s->remove_rc = crew_on_cancel_remove(&r);
    s->done_at_remove = atomic_load(&s->cb_done);
    return 0;
}

static void *cancel_thread(void *arg)
{
    void **a = arg;
    crew_cancel(a[0], *(crew_id_t *)a[1], 0, NULL);
    return NULL;
}

Test(reach, remove_returns_only_when_the_callback_is_not_running, T_OPTS)
{
    crew_t *ex = t_create(2);
    slowcb_t s = {0};
    crew_id_t id = 0;
    pthread_t th;
    ASSERT_RC(crew_submit(ex, waits_for_callback, &s, &id), 0);
    flag_await(&s.started);
    void *a[2] = {ex, &id};
    pthread_create(&th, NULL, cancel_thread, a);
    flag_await(&s.in_cb);
    /* The body is now in (or about to enter) remove; let the callback end. */
    flag_set(&s.release);
    pthread_join(th, NULL);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    cr_assert_eq(s.remove_rc, 1);
    cr_assert_eq(s.done_at_remove, 1, "remove returned while the callback ran");
    DESTROY_CLEAN(&ex);
}

/* A condition-variable wait ended by a callback (the documented use). */
typedef struct cvw {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool wake;
    atomic_int waiting;
    _Atomic int64_t ended_at;
} cvw_t;

static void cv_wake(void *a)
{
    cvw_t *c = a;
    pthread_mutex_lock(&c->mu);
    c->wake = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static int cv_waiter(void *arg)
{
    cvw_t *c = arg;
    crew_on_cancel_t r;
    crew_on_cancel(&r, cv_wake, c);
    pthread_mutex_lock(&c->mu);
    flag_set(&c->waiting);
    while (!c->wake && !crew_cancelled())
        pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    atomic_store(&c->ended_at, crew_now());
    crew_on_cancel_remove(&r);
    return 0;
}

Test(reach, a_condition_variable_wait_ends_through_a_callback, T_OPTS)
{
    crew_t *ex = t_create(2);
    int64_t lat[TRIALS];
    for (int i = 0; i < TRIALS; i++) {
        cvw_t c = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
        lat[i] = cancel_to_end(ex, cv_waiter, &c, &c.waiting, &c.ended_at);
    }
    assert_latency(lat, 10 * MS, "condition variable");
    DESTROY_CLEAN(&ex);
}

/* ---- interrupting blocking calls ---------------------------------------------- */

typedef struct blk {
    int kind; /* 0 read on a pipe, 1 nanosleep, 2 sem_wait */
    int fd;
    sem_t sem;
    atomic_int inside;
    int rc, err;
    _Atomic int64_t ended_at;
    bool saw_cancel;
} blk_t;

static int blocking_body(void *arg)
{
    blk_t *b = arg;
    char c;
    int rc;
    if (crew_interruptible_begin() != 0)
        return -1;
    flag_set(&b->inside);
    if (b->kind == 0) {
        rc = (int)read(b->fd, &c, 1);
    } else if (b->kind == 1) {
        struct timespec ts = {20, 0};
        rc = nanosleep(&ts, NULL);
    } else {
        rc = sem_wait(&b->sem);
    }
    b->err = errno;
    b->rc = rc;
    atomic_store(&b->ended_at, crew_now());
    b->saw_cancel = crew_cancelled();
    crew_interruptible_end();
    return 0;
}

/* One blocked call cancelled: returns cancel-to-return time. */
static int64_t interrupt_once(crew_t *ex, int kind)
{
    blk_t b = {.kind = kind};
    int p[2];
    cr_assert_eq(pipe(p), 0);
    b.fd = p[0];
    sem_init(&b.sem, 0, 0);
    /* It may not be in the call yet when the signal comes: the re-kick
     * (1 ms later) still interrupts it. */
    int64_t lat = cancel_to_end(ex, blocking_body, &b, &b.inside, &b.ended_at);
    cr_assert_eq(b.rc, -1, "kind %d: the call was not interrupted", kind);
    cr_assert_eq(b.err, EINTR);
    cr_assert(b.saw_cancel);
    close(p[0]);
    close(p[1]);
    sem_destroy(&b.sem);
    return lat;
}

static void check_interrupted(int kind)
{
    static const char *what[] = {"read on a pipe", "nanosleep", "sem_wait"};
    crew_t *ex = t_create(2);
    int64_t lat[TRIALS];
    for (int i = 0; i < TRIALS; i++)
        lat[i] = interrupt_once(ex, kind);
    assert_latency(lat, 10 * MS, what[kind]);
    cr_assert_geq(t_settle(ex).interrupts_sent, TRIALS);
    DESTROY_CLEAN(&ex);
    cr_assert_eq(crew__irq_stray(), 0, "a signal arrived outside a region");
}

Test(reach, a_read_on_a_pipe_is_interrupted, T_OPTS) { check_interrupted(0); }
Test(reach, a_nanosleep_is_interrupted, T_OPTS) { check_interrupted(1); }
Test(reach, a_sem_wait_is_interrupted, T_OPTS) { check_interrupted(2); }

static int begin_when_cancelled(void *arg)
{
    atomic_int *started = arg;
    while (!crew_cancelled())
        flag_set(started);
    return crew_interruptible_begin() == CREW_ECANCELED ? 0 : -1;
}

Test(reach, begin_on_a_cancelled_task_refuses, T_OPTS)
{
    crew_t *ex = t_create(2);
    atomic_int started = 0;
    crew_id_t id = 0;
    ASSERT_RC(crew_submit(ex, begin_when_cancelled, &started, &id), 0);
    flag_await(&started);
    ASSERT_RC(crew_cancel(ex, id, 0, NULL), CREW_REQUESTED);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    ASSERT_RC(crew_interruptible_begin(), CREW_ENOTINTASK);
    crew_interruptible_end(); /* outside: nothing */
    DESTROY_CLEAN(&ex);
}

/* ---- shields ---------------------------------------------------------------------- */

typedef struct shl {
    atomic_int inside, go;
    bool in_shield, nested, after, slept_full;
} shl_t;

static int shielded_body(void *arg)
{
    shl_t *s = arg;
    crew_interruptible_begin();
    crew_shield_begin();
    flag_set(&s->inside);
    flag_await(&s->go); /* the test cancels meanwhile */
    s->in_shield = crew_cancelled();
    crew_shield_begin();
    s->nested = crew_cancelled();
    crew_shield_end();
    {
        /* Interruption is off inside: this sleep is not cut short. */
        struct timespec ts = {0, 50 * 1000000};
        s->slept_full = nanosleep(&ts, NULL) == 0;
    }
    crew_shield_end();
    s->after = crew_cancelled();
    crew_interruptible_end();
    return 0;
}

Test(reach, a_shield_hides_cancellation_and_interruption_until_it_ends, T_OPTS)
{
    crew_t *ex = t_create(2);
    shl_t s = {0};
    crew_id_t id = 0;
    ASSERT_RC(crew_submit(ex, shielded_body, &s, &id), 0);
    flag_await(&s.inside);
    ASSERT_RC(crew_cancel(ex, id, 0, NULL), CREW_REQUESTED);
    flag_set(&s.go);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    cr_assert_not(s.in_shield);
    cr_assert_not(s.nested);
    cr_assert(s.slept_full, "interrupted inside a shield");
    cr_assert(s.after, "not seen after the shield");
    cr_assert_eq(crew__irq_stray(), 0);
    DESTROY_CLEAN(&ex);
}

static int shield_past_deadline(void *arg)
{
    bool *seen = arg;
    crew_shield_begin();
    int64_t end = crew_now() + 60 * MS; /* the 20 ms deadline passes here */
    while (crew_now() < end)
        if (crew_cancelled())
            return -1;
    crew_shield_end();
    *seen = crew_cancelled();
    return 0;
}

Test(reach, a_deadline_that_expires_inside_a_shield_takes_effect_at_its_end, T_OPTS)
{
    crew_t *ex = t_create(2);
    bool seen = false;
    crew_id_t id = submit_desc(
        ex, (crew_task_desc_t){.fn = shield_past_deadline, .arg = &seen, .timeout = 20 * MS});
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    cr_assert(seen);
    DESTROY_CLEAN(&ex);
}

#ifdef CREW_TEST_HAVE_FAULT
/* The timer thread late or busy: a shield's end fires the passed deadline
 * itself (timer.h step 6), or waits for the round that took it. */
typedef struct late {
    crew_t *ex;
    crew_id_t hold;      /* the hook holds the round whose first key is this */
    crew_id_t until_req; /* ... until this task is requested (0: until `go`) */
    atomic_int held, ending, go;
    int64_t deadline; /* the shielded body spins past it */
    _Atomic crew_id_t me;
    bool seen;
} late_t;

static void late_hook(void *ctx, crew_id_t key)
{
    late_t *l = ctx;
    int64_t end = crew_now() + T_HANG_NS;
    if (key != l->hold)
        return;
    /* Holding until the shielded task is requested: only a round taken
     * before that task's deadline was due, since such a round cannot hold
     * its entry. A timer thread late by the whole gap (a loaded machine)
     * may take both deadlines in one round, and holding it would make the
     * shield's end wait for this very round: let it go, and the test sees
     * the plain path instead. */
    if (l->until_req && crew_now() >= l->deadline) {
        flag_set(&l->held);
        return;
    }
    flag_set(&l->held);
    while (crew_now() < end) { /* bounded: a missing fire shows as a failure */
        crew_task_info_t i = {.size = sizeof i};
        if (l->until_req ? crew_inspect(l->ex, l->until_req, &i) == 0 && i.cancel_requested
                         : flag_get(&l->ending))
            return;
        sched_yield();
    }
}

static int late_shielded(void *arg)
{
    late_t *l = arg;
    int64_t end = crew_now() + T_HANG_NS;
    atomic_store(&l->me, crew_self());
    crew_shield_begin();
    while ((crew_now() < l->deadline + MS || !flag_get(&l->held)) && crew_now() < end)
        ;
    flag_set(&l->ending);
    crew_shield_end();
    l->seen = crew_cancelled();
    return 0;
}

static int late_decoy(void *arg)
{
    (void)arg;
    int64_t end = crew_now() + T_HANG_NS;
    while (!crew_cancelled() && crew_now() < end)
        ;
    return 0;
}

Test(reach, a_shield_end_fires_a_passed_deadline_the_busy_timer_has_not_taken, T_OPTS)
{
    late_t l = {0};
    crew_t *ex = l.ex = t_create(2);
    int64_t t0 = crew_now();
    /* The decoy's deadline comes first; the hook holds that round until
     * the shielded task is requested, which only its own end can do. The
     * hook is in place long before the first deadline. */
    crew_id_t d = submit_desc(ex, (crew_task_desc_t){.fn = late_decoy, .deadline = t0 + 100 * MS});
    l.deadline = t0 + 300 * MS;
    crew_id_t id =
        submit_desc(ex, (crew_task_desc_t){.fn = late_shielded, .arg = &l, .deadline = l.deadline});
    l.hold = d;
    l.until_req = id;
    crew__fault_set_pause(CREW__PAUSE_TIMER_TOOK, late_hook, &l); /* publishes l */
    ASSERT_STATUS(t_wait(ex, id), CREW_TASK_CANCELLED);
    cr_assert(l.seen, "the passed deadline was not seen at the shield's end");
    cr_assert_eq(t_inspect(ex, id).cause, CREW_CAUSE_TIMEOUT);
    ASSERT_RC(crew_release(ex, id), 0);
    ASSERT_STATUS(t_join(ex, d), CREW_TASK_CANCELLED);
    crew__fault_set_pause(CREW__PAUSE_TIMER_TOOK, NULL, NULL);
    DESTROY_CLEAN(&ex);
}

Test(reach, a_shield_end_waits_for_the_timer_round_that_took_its_deadline, T_OPTS)
{
    late_t l = {0};
    crew_t *ex = l.ex = t_create(1);
    l.deadline = crew_now() + 100 * MS;
    /* The hook holds the round that took the task's deadline until the
     * body is about to end its shield. */
    crew_id_t id = 0;
    crew_task_desc_t desc = {.fn = late_shielded, .arg = &l, .deadline = l.deadline};
    ASSERT_RC(crew_submit_ex(ex, &desc, &id), 0);
    l.hold = id; /* long before the deadline passes */
    crew__fault_set_pause(CREW__PAUSE_TIMER_TOOK, late_hook, &l); /* publishes l */
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    cr_assert(l.seen, "the deadline the timer took was not seen at the shield's end");
    crew__fault_set_pause(CREW__PAUSE_TIMER_TOOK, NULL, NULL);
    DESTROY_CLEAN(&ex);
}
#endif

/* ---- group policies ---------------------------------------------------------------- */

static int fail_with(void *arg) { return (int)(intptr_t)arg; }

Test(reach, first_success_cancels_the_rest_and_names_the_winner, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g = t_group(ex, NULL, CREW_GROUP_FIRST_SUCCESS);
    spin_t s[3] = {0};
    crew_id_t l[3], w = 0;
    /* One loser runs on a worker; the winner runs on the other; the two
     * queued after it are removed by its success. */
    ASSERT_RC(t_submit_to(ex, g, spin_until_cancelled, &s[0], &l[0]), 0);
    flag_await(&s[0].started);
    ASSERT_RC(t_submit_to(ex, g, noop_task, NULL, &w), 0);
    for (int i = 1; i < 3; i++)
        ASSERT_RC(t_submit_to(ex, g, spin_until_cancelled, &s[i], &l[i]), 0);
    crew_status_t st;
    ASSERT_RC(crew_group_wait(g, -1, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    crew_group_info_t gi = t_ginfo(g);
    cr_assert_eq(gi.winner, w);
    cr_assert(gi.is_cancelled);
    for (int i = 0; i < 3; i++) {
        ASSERT_STATUS(t_join(ex, l[i]), CREW_TASK_CANCELLED);
    }
    ASSERT_STATUS(t_join(ex, w), CREW_TASK_DONE);
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}

Test(reach, every_failure_of_a_group_is_kept, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g = t_group(ex, NULL, 0);
    enum { N = 20 };
    crew_id_t ids[N];
    for (int i = 0; i < N; i++)
        ASSERT_RC(
            t_submit_to(ex, g, i % 2 ? fail_with : noop_task, (void *)(intptr_t)(100 + i), &ids[i]),
            0);
    crew_status_t st;
    ASSERT_RC(crew_group_wait(g, -1, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_FAILED);
    size_t total = 0;
    crew_group_failure_t f[N];
    ASSERT_RC(crew_group_failures(g, NULL, 0, &total), 0);
    cr_assert_eq(total, N / 2);
    ASSERT_RC(crew_group_failures(g, f, N, &total), 0);
    int seen[N] = {0};
    for (size_t k = 0; k < total; k++) {
        int i = f[k].result - 100;
        cr_assert(i >= 0 && i < N && i % 2 == 1);
        cr_assert_eq(f[k].id, ids[i]);
        seen[i]++;
    }
    for (int i = 1; i < N; i += 2)
        cr_assert_eq(seen[i], 1);
    ASSERT_RC(crew_group_failures(NULL, f, 1, &total), CREW_EINVAL);
    for (int i = 0; i < N; i++)
        t_join(ex, ids[i]);
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- the deterministic test mode ------------------------------------------------- */

typedef struct tmode {
    int checks_made, saw_at;
    atomic_int cleaned;
} tmode_t;

int ten_checks_body(void *arg); /* named for the filter (exported: -rdynamic) */
int ten_checks_body(void *arg)
{
    tmode_t *t = arg;
    for (int i = 1; i <= 10; i++) {
        t->checks_made = i;
        if (crew_cancelled()) {
            t->saw_at = i;
            return 1;
        }
    }
    return 0;
}

static void tm_cleanup(void *arg) { atomic_fetch_add(&((tmode_t *)arg)->cleaned, 1); }

Test(reach, the_test_mode_cancels_at_the_nth_check, T_OPTS)
{
    crew_t *ex = t_create(2);
    for (int n = 1; n <= 11; n++) {
        tmode_t t = {0};
        crew_id_t id = 0;
        crew_task_desc_t d = {.fn = ten_checks_body, .arg = &t, .cleanup = tm_cleanup};
        ASSERT_RC(crew_test_cancel_at(ex, (uint64_t)n, n % 2 ? NULL : "ten_checks"), 0);
        uint64_t before = crew_test_cancel_fired(ex);
        ASSERT_RC(crew_submit_ex(ex, &d, &id), 0);
        crew_status_t st = t_join(ex, id);
        cr_assert_eq(atomic_load(&t.cleaned), 1);
        if (n <= 10) {
            ASSERT_STATUS(st, CREW_TASK_CANCELLED);
            cr_assert_eq(t.saw_at, n);
            cr_assert_eq(crew_test_cancel_fired(ex), before + 1);
        } else {
            ASSERT_STATUS(st, CREW_TASK_DONE); /* never reached an 11th check */
            cr_assert_eq(crew_test_cancel_fired(ex), before);
        }
    }
    /* A filter that matches nothing. */
    tmode_t t = {0};
    crew_id_t id = 0;
    ASSERT_RC(crew_test_cancel_at(ex, 1, "no_such_function"), 0);
    ASSERT_RC(crew_submit(ex, ten_checks_body, &t, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    ASSERT_RC(crew_test_cancel_at(ex, 0, NULL), 0);
    ASSERT_RC(crew_test_cancel_at(NULL, 1, NULL), CREW_EINVAL);
    DESTROY_CLEAN(&ex);
}

Test(reach, an_actor_task_with_a_deadline_is_removed_when_it_passes, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_actor_t *a = NULL;
    gate_t g;
    atomic_int ran = 0;
    crew_id_t id = 0;
    gate_init(&g);
    ASSERT_RC(crew_actor_create(ex, NULL, NULL, &a), 0);
    ASSERT_RC(crew_actor_submit(a, gate_task, &g, NULL), 0); /* holds the actor */
    gate_await_arrivals(&g, 1);
    crew_task_desc_t d = {.fn = count_task, .arg = &ran, .timeout = 20 * MS};
    ASSERT_RC(crew_actor_submit_ex(a, &d, &id), 0);
    ASSERT_STATUS(t_wait(ex, id), CREW_TASK_CANCELLED);
    cr_assert_eq(t_inspect(ex, id).cause, CREW_CAUSE_TIMEOUT);
    gate_open(&g);
    ASSERT_RC(crew_release(ex, id), 0);
    ASSERT_RC(crew_actor_destroy(a), 0); /* no call on `a` after this */
    t_settle(ex);
    cr_assert_eq(atomic_load(&ran), 0);
    gate_destroy(&g);
    DESTROY_CLEAN(&ex);
}
