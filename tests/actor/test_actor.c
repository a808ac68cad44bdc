/* test_actor.c - actors, one test per claim of CANCELLATION.md "Actors" and
 * of crew.h's Actors section: order and mutual exclusion, cancel of queued
 * and running actor tasks, kill, exit, destroy, executor shutdown in both
 * modes, thousands of actors, fairness, bad input, out of memory. Every
 * test ends with the executor clean (no live task, no record, no cancelled
 * ID) and, after crew_destroy, no byte left allocated. */
#include <errno.h>

#include "crit.h"
#include "fault.h"

/* ---- order and mutual exclusion ------------------------------------------------ */

#define NSUB 6 /* 4 external threads + 2 tasks */

typedef struct seq_state {
    long counter;    /* plain: only the actor's tasks touch it */
    long last[NSUB]; /* last sequence number seen per submitter */
    int inside;      /* plain: set while a task of the actor runs */
    long overlaps, disorders;
} seq_state_t;

typedef struct seq_msg {
    int sub;
    long seq;
} seq_msg_t;

static int seq_body(void *arg)
{
    seq_msg_t *m = arg;
    seq_state_t *s = crew_actor_state();
    if (s->inside)
        s->overlaps++;
    s->inside = 1;
    if (m->seq != s->last[m->sub] + 1)
        s->disorders++;
    s->last[m->sub] = m->seq;
    for (volatile int i = 0; i < 50; i++) /* widen an overlap window */
        ;
    s->counter++;
    s->inside = 0;
    return 0;
}

typedef struct seq_sub {
    crew_actor_t *a;
    seq_msg_t *msgs;
    long n;
    atomic_int refused;
} seq_sub_t;

static void seq_submit_all(seq_sub_t *s)
{
    for (long i = 0; i < s->n; i++)
        if (crew_actor_submit(s->a, seq_body, &s->msgs[i], NULL) != 0)
            atomic_fetch_add(&s->refused, 1);
}

static void *seq_thread(void *arg)
{
    seq_submit_all(arg);
    return NULL;
}

static int seq_task(void *arg)
{
    seq_submit_all(arg);
    return 0;
}

Test(actor, tasks_run_in_submission_order_and_never_overlap, T_OPTS)
{
    crew_t *ex = t_create(2);
    seq_state_t st;
    memset(&st, 0, sizeof st);
    crew_actor_t *a;
    ASSERT_RC(crew_actor_create(ex, &st, NULL, &a), 0);
    long per = t_scaled(20000, 500);
    seq_sub_t subs[NSUB];
    pthread_t th[4];
    crew_id_t tid[2];
    for (int i = 0; i < NSUB; i++) {
        subs[i].a = a;
        subs[i].n = per;
        atomic_init(&subs[i].refused, 0);
        subs[i].msgs = malloc(sizeof(seq_msg_t) * (size_t)per);
        for (long k = 0; k < per; k++)
            subs[i].msgs[k] = (seq_msg_t){i, k + 1};
    }
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, seq_thread, &subs[i]);
    for (int i = 0; i < 2; i++)
        ASSERT_RC(crew_submit(ex, seq_task, &subs[4 + i], &tid[i]), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++)
        ASSERT_STATUS(t_join(ex, tid[i]), CREW_TASK_DONE);
    /* Everything is submitted: a last task ends the actor after the rest. */
    ASSERT_RC(crew_actor_submit(a, actor_exit_task, NULL, NULL), 0);
    t_actor_wait(a);

    for (int i = 0; i < NSUB; i++) {
        cr_assert_eq(atomic_load(&subs[i].refused), 0);
        cr_assert_eq(st.last[i], per, "submitter %d: last %ld of %ld", i, st.last[i], per);
        free(subs[i].msgs);
    }
    cr_assert_eq(st.overlaps, 0, "%ld overlapping tasks", st.overlaps);
    cr_assert_eq(st.disorders, 0, "%ld tasks out of order", st.disorders);
    cr_assert_eq(st.counter, NSUB * per);
    crew_actor_info_t in = t_actor_info(a);
    cr_assert_eq(in.status, CREW_ACTOR_DEAD);
    cr_assert_eq(in.cause, CREW_ACTOR_EXITED);
    cr_assert(in.finished);
    cr_assert_eq(in.submitted, (uint64_t)(NSUB * per + 1));
    cr_assert_eq(in.done, in.submitted);
    cr_assert_eq(in.queued + in.failed + in.cancelled + in.dead, 0);
    ASSERT_RC(crew_actor_destroy(a), 0);
    DESTROY_CLEAN(&ex);
}

/* Two actors whose first tasks can only finish if both run at once. */
typedef struct rendezvous {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int arrived;
    int met; /* tasks that saw the other one arrive */
} rendezvous_t;

static int rendezvous_task(void *arg)
{
    rendezvous_t *r = arg;
    struct timespec dl = t_deadline(T_HANG_S);
    pthread_mutex_lock(&r->mu);
    r->arrived++;
    pthread_cond_broadcast(&r->cv);
    while (r->arrived < 2)
        if (pthread_cond_timedwait(&r->cv, &r->mu, &dl) == ETIMEDOUT)
            break;
    if (r->arrived >= 2)
        r->met++;
    pthread_mutex_unlock(&r->mu);
    return 0;
}

Test(actor, tasks_of_different_actors_run_in_parallel, T_OPTS)
{
    crew_t *ex = t_create(2);
    rendezvous_t r = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    t_cond_init(&r.cv); /* deadlines are CLOCK_MONOTONIC */
    crew_actor_t *a, *b;
    crew_id_t ia, ib;
    ASSERT_RC(crew_actor_create(ex, NULL, NULL, &a), 0);
    ASSERT_RC(crew_actor_create(ex, NULL, NULL, &b), 0);
    ASSERT_RC(crew_actor_submit(a, rendezvous_task, &r, &ia), 0);
    ASSERT_RC(crew_actor_submit(b, rendezvous_task, &r, &ib), 0);
    ASSERT_STATUS(t_join(ex, ia), CREW_TASK_DONE);
    ASSERT_STATUS(t_join(ex, ib), CREW_TASK_DONE);
    cr_assert_eq(r.met, 2, "the two actors' tasks never ran at the same time");
    ASSERT_RC(crew_actor_destroy(a), 0);
    ASSERT_RC(crew_actor_destroy(b), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- state, identity, ordinary task IDs ------------------------------------------ */

typedef struct who {
    crew_actor_t *self_in_actor, *self_in_child;
    void *state_in_actor, *state_in_child;
} who_t;

static int who_child(void *arg)
{
    who_t *w = arg;
    w->self_in_child = crew_actor_self();
    w->state_in_child = crew_actor_state();
    return 0;
}

static int who_task(void *arg)
{
    who_t *w = arg;
    crew_id_t c;
    crew_status_t st;
    w->self_in_actor = crew_actor_self();
    w->state_in_actor = crew_actor_state();
    if (crew_spawn(who_child, w, &c) != 0 || crew_join(crew_current(), c, &st) != 0)
        return 1;
    return 0;
}

Test(actor, task_sees_its_actor_state_and_plain_children_do_not, T_OPTS)
{
    crew_t *ex = t_create(2);
    int state = 5;
    who_t w = {(crew_actor_t *)&w, (crew_actor_t *)&w, &w, &w};
    crew_actor_t *a;
    crew_id_t id;
    ASSERT_RC(crew_actor_create(ex, &state, NULL, &a), 0);
    cr_assert_null(crew_actor_state());
    cr_assert_null(crew_actor_self());
    ASSERT_RC(crew_actor_submit(a, who_task, &w, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    cr_assert_eq(w.self_in_actor, a);
    cr_assert_eq(w.state_in_actor, &state);
    cr_assert_null(w.self_in_child);
    cr_assert_null(w.state_in_child);
    ASSERT_RC(crew_actor_destroy(a), 0);
    DESTROY_CLEAN(&ex);
}

Test(actor, task_ids_work_with_wait_join_inspect_and_release, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_actor_t *a;
    crew_id_t ok, bad, rel;
    crew_status_t st;
    ASSERT_RC(crew_actor_create(ex, NULL, NULL, &a), 0);
    ASSERT_RC(crew_actor_submit(a, ret_task, (void *)0, &ok), 0);
    ASSERT_RC(crew_actor_submit(a, ret_task, (void *)7, &bad), 0);
    ASSERT_RC(crew_actor_submit(a, ret_task, (void *)0, &rel), 0);
    ASSERT_RC(crew_release(ex, rel), 0);
    ASSERT_RC(crew_wait(ex, bad, T_HANG_NS, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_FAILED);
    crew_task_info_t ti = t_inspect(ex, bad);
    cr_assert_eq(ti.result, 7);
    ASSERT_STATUS(ti.status, CREW_TASK_FAILED);
    cr_assert_eq(ti.cause, CREW_CAUSE_NONE);
    /* FIFO: `ok` was submitted before `bad`, so it is terminal already. */
    ASSERT_RC(crew_wait(ex, ok, 0, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    ASSERT_RC(crew_join(ex, ok, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    ASSERT_RC(crew_join(ex, bad, &st), 0);
    ASSERT_RC(crew_wait(ex, ok, 0, &st), CREW_ENOTASK);
    ASSERT_RC(crew_release(ex, rel), CREW_ENOTASK);
    ASSERT_RC(crew_actor_submit(a, actor_exit_task, NULL, NULL), 0);
    t_actor_wait(a);
    crew_actor_info_t in = t_actor_info(a);
    cr_assert_eq(in.done, 3);
    cr_assert_eq(in.failed, 1);
    ASSERT_RC(crew_actor_destroy(a), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- cancellation of actor tasks ------------------------------------------------ */

Test(actor, cancel_of_queued_task_removes_it_and_it_never_runs, T_OPTS)
{
    crew_t *ex = t_create(2);
    gate_t gate;
    gate_init(&gate);
    atomic_int ran = 0, after = 0;
    crew_actor_t *a;
    crew_id_t blocker, victim, next;
    crew_status_t st;
    ASSERT_RC(crew_actor_create(ex, NULL, NULL, &a), 0);
    ASSERT_RC(crew_actor_submit(a, gate_task, &gate, &blocker), 0);
    gate_await_arrivals(&gate, 1); /* the actor is busy: what follows stays queued */
    ASSERT_RC(crew_actor_submit(a, count_task, &ran, &victim), 0);
    ASSERT_RC(crew_actor_submit(a, count_task, &after, &next), 0);
    ASSERT_STATUS(t_inspect(ex, victim).status, CREW_TASK_QUEUED);
    crew_actor_info_t in = t_actor_info(a);
    cr_assert_eq(in.queued, 2);
    cr_assert(in.running);

    ASSERT_RC(crew_cancel(ex, victim, 3, "not needed"), CREW_REMOVED);
    /* Terminal before crew_cancel returned, while the actor still blocks. */
    ASSERT_RC(crew_wait(ex, victim, 0, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    crew_task_info_t ti = t_inspect(ex, victim);
    cr_assert_eq(ti.cause, CREW_CAUSE_SELF);
    cr_assert_str_eq(ti.reason, "not needed");
    in = t_actor_info(a);
    cr_assert_eq(in.queued, 1);
    cr_assert_eq(in.cancelled, 1);
    ASSERT_RC(crew_cancel(ex, victim, 0, NULL), CREW_TOO_LATE);

    gate_open(&gate);
    ASSERT_STATUS(t_join(ex, next), CREW_TASK_DONE);
    ASSERT_STATUS(t_join(ex, blocker), CREW_TASK_DONE);
    ASSERT_STATUS(t_join(ex, victim), CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&ran), 0, "a removed task ran");
    cr_assert_eq(atomic_load(&after), 1);
    in = t_actor_info(a);
    cr_assert_eq(in.done, 2);
    cr_assert_eq(in.cancelled, 1);
    cr_assert_eq(in.queued, 0);
    ASSERT_RC(crew_actor_destroy(a), 0);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

Test(actor, cleanup_of_removed_actor_task_runs_exactly_once, T_OPTS)
{
    crew_t *ex = t_create(1);
    gate_t gate;
    gate_init(&gate);
    atomic_int ran = 0, cleaned = 0;
    crew_actor_t *a;
    crew_id_t blocker, id;
    ASSERT_RC(crew_actor_create(ex, NULL, NULL, &a), 0);
    ASSERT_RC(crew_actor_submit(a, gate_task, &gate, &blocker), 0);
    gate_await_arrivals(&gate, 1);
    crew_task_desc_t d = {
        .fn = count_task, .arg = &cleaned, .cleanup = count_cleanup, .group = NULL};
    /* Body and cleanup share the counter: exactly 1 means "cleanup once,
     * body never". */
    ASSERT_RC(crew_actor_submit_ex(a, &d, &id), 0);
    ASSERT_RC(crew_cancel(ex, id, 0, NULL), CREW_REMOVED);
    cr_assert_eq(atomic_load(&cleaned), 1);
    gate_open(&gate);
    ASSERT_STATUS(t_join(ex, blocker), CREW_TASK_DONE);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&cleaned), 1);
    cr_assert_eq(atomic_load(&ran), 0);
    ASSERT_RC(crew_actor_destroy(a), 0);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

/* The probe returns as soon as a check says "cancelled", which may be while
 * crew_cancel is still running: the body then saw the request, so the task
 * must still end CANCELLED and crew_cancel answer CREW_REQUESTED (task.c,
 * protocol step 3). */
Test(actor, cancel_of_running_task_is_requested_and_ends_cancelled, T_OPTS)
{
    crew_t *ex = t_create(2);
    probe_t p;
    probe_init(&p, true, 0);
    crew_actor_t *a;
    crew_id_t id, next;
    atomic_int after = 0;
    ASSERT_RC(crew_actor_create(ex, NULL, NULL, &a), 0);
    ASSERT_RC(crew_actor_submit(a, probe_task, &p, &id), 0);
    ASSERT_RC(crew_actor_submit(a, count_task, &after, &next), 0);
    flag_await(&p.started);
    ASSERT_RC(crew_cancel(ex, id, 9, "stop it"), CREW_REQUESTED);
    flag_set(&p.cancel_returned);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    t_assert_probe_saw_cancel(&p, 0);
    /* The next task of the actor is not affected. */
    ASSERT_STATUS(t_join(ex, next), CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&after), 1);
    crew_actor_info_t in = t_actor_info(a);
    cr_assert_eq(in.status, CREW_ACTOR_ALIVE);
    cr_assert_eq(in.cancelled, 1);
    cr_assert_eq(in.done, 1);
    ASSERT_RC(crew_actor_destroy(a), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- kill ----------------------------------------------------------------------------- */

typedef struct kill_state {
    atomic_int dtor_calls;
    atomic_int probe_returned; /* set by the running task as it returns */
    atomic_int returned_at_dtor;
} kill_state_t;

static void kill_dtor(void *state)
{
    kill_state_t *k = state;
    atomic_store(&k->returned_at_dtor, atomic_load(&k->probe_returned));
    atomic_fetch_add(&k->dtor_calls, 1);
}

/* A probe that, once it saw the cancel, waits at `then` before returning. */
typedef struct kill_probe {
    probe_t p;
    gate_t *then;
    kill_state_t *k;
} kill_probe_t;

static int kill_probe_task(void *arg)
{
    kill_probe_t *kp = arg;
    probe_task(&kp->p);
    gate_pass(kp->then);
    atomic_store(&kp->k->probe_returned, 1);
    return 0;
}

Test(actor, kill_fails_queued_tasks_with_actor_dead_and_requests_the_running_one, T_OPTS)
{
    crew_t *ex = t_create(2);
    kill_state_t k;
    memset(&k, 0, sizeof k);
    gate_t hold;
    gate_init(&hold);
    kill_probe_t kp;
    probe_init(&kp.p, true, 0);
    kp.k = &k;
    kp.then = &hold;
    crew_actor_t *a;
    crew_id_t running, queued[8];
    atomic_int ran = 0, cleaned = 0;
    ASSERT_RC(crew_actor_create(ex, &k, kill_dtor, &a), 0);
    ASSERT_RC(crew_actor_submit(a, kill_probe_task, &kp, &running), 0);
    flag_await(&kp.p.started);
    crew_task_desc_t dd = {
        .fn = noop_task, .arg = &cleaned, .cleanup = count_cleanup, .group = NULL};
    for (int i = 0; i < 8; i++)
        ASSERT_RC(crew_actor_submit_ex(a, &dd, &queued[i]), 0);

    ASSERT_RC(crew_actor_kill(a, 42, "killed by test"), 0);
    flag_set(&kp.p.cancel_returned);
    /* Queued tasks are terminal before kill returned. */
    cr_assert_eq(atomic_load(&cleaned), 8);
    for (int i = 0; i < 8; i++) {
        crew_status_t st;
        ASSERT_RC(crew_wait(ex, queued[i], 0, &st), 0);
        ASSERT_STATUS(st, CREW_TASK_ACTOR_DEAD);
        crew_task_info_t ti = t_inspect(ex, queued[i]);
        cr_assert_eq(ti.cause, CREW_CAUSE_ACTOR);
        cr_assert_eq(ti.cancel_code, 42);
        cr_assert_str_eq(ti.reason, "killed by test");
    }
    /* Later submissions are refused. */
    ASSERT_RC(crew_actor_submit(a, count_task, &ran, NULL), CREW_EACTORDEAD);
    crew_actor_info_t in = t_actor_info(a);
    cr_assert_eq(in.status, CREW_ACTOR_DEAD);
    cr_assert_eq(in.cause, CREW_ACTOR_KILLED);
    cr_assert_eq(in.code, 42);
    cr_assert_str_eq(in.reason, "killed by test");
    cr_assert(in.running);
    cr_assert(!in.finished);
    /* The running task saw the request; it is held at `hold`, so the
     * destructor must not have run yet. */
    gate_await_arrivals(&hold, 1); /* it saw the cancel and is held there */
    t_assert_probe_saw_cancel(&kp.p, 0);
    cr_assert_eq(atomic_load(&k.dtor_calls), 0,
                 "destructor ran before the "
                 "running task returned");
    ASSERT_RC(crew_actor_wait(a, 0), CREW_ETIMEDOUT);
    gate_open(&hold);
    t_actor_wait(a);
    cr_assert_eq(atomic_load(&k.dtor_calls), 1);
    cr_assert_eq(atomic_load(&k.returned_at_dtor), 1);
    ASSERT_STATUS(t_join(ex, running), CREW_TASK_CANCELLED);
    for (int i = 0; i < 8; i++)
        ASSERT_STATUS(t_join(ex, queued[i]), CREW_TASK_ACTOR_DEAD);
    cr_assert_eq(atomic_load(&ran), 0);

    in = t_actor_info(a);
    cr_assert(in.finished);
    cr_assert(!in.running);
    cr_assert_eq(in.dead, 8);
    cr_assert_eq(in.cancelled, 1);
    cr_assert_eq(in.refused, 1);
    cr_assert_eq(in.submitted, 9);
    /* Idempotent: the first cause wins. */
    ASSERT_RC(crew_actor_kill(a, 1, "again"), 0);
    in = t_actor_info(a);
    cr_assert_eq(in.code, 42);
    cr_assert_eq(atomic_load(&k.dtor_calls), 1);
    ASSERT_RC(crew_actor_destroy(a), 0);
    cr_assert_eq(atomic_load(&k.dtor_calls), 1);
    gate_destroy(&hold);
    DESTROY_CLEAN(&ex);
}

Test(actor, kill_of_idle_actor_runs_the_destructor_at_once, T_OPTS)
{
    crew_t *ex = t_create(2);
    atomic_int dtor = 0;
    crew_actor_t *a;
    crew_id_t id;
    ASSERT_RC(crew_actor_create(ex, &dtor, count_cleanup, &a), 0);
    ASSERT_RC(crew_actor_submit(a, noop_task, NULL, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    cr_assert(T_WAIT_UNTIL(!t_actor_info(a).running && t_actor_info(a).queued == 0, T_HANG_S));
    ASSERT_RC(crew_actor_kill(a, 0, NULL), 0);
    /* The runner may still be in its hand-over; the destructor runs once
     * it is gone, and at most once. */
    t_actor_wait(a);
    cr_assert_eq(atomic_load(&dtor), 1);
    ASSERT_RC(crew_actor_submit(a, noop_task, NULL, NULL), CREW_EACTORDEAD);
    ASSERT_RC(crew_actor_destroy(a), 0);
    cr_assert_eq(atomic_load(&dtor), 1);

    /* A fresh actor that never ran anything: the destructor runs inside
     * crew_actor_kill. */
    ASSERT_RC(crew_actor_create(ex, &dtor, count_cleanup, &a), 0);
    ASSERT_RC(crew_actor_kill(a, 0, NULL), 0);
    cr_assert_eq(atomic_load(&dtor), 2);
    ASSERT_RC(crew_actor_wait(a, 0), 0);
    ASSERT_RC(crew_actor_destroy(a), 0);
    DESTROY_CLEAN(&ex);
}

static int kill_self_task(void *arg)
{
    atomic_int *saw = arg;
    crew_actor_kill(crew_actor_self(), 5, "suicide");
    atomic_store(saw, crew_cancelled() ? 1 : -1);
    return 0;
}

Test(actor, task_killing_its_own_actor_sees_the_cancel_and_ends_cancelled, T_OPTS)
{
    crew_t *ex = t_create(2);
    atomic_int dtor = 0, saw = 0, ran = 0;
    gate_t gate;
    gate_init(&gate);
    crew_actor_t *a;
    crew_id_t g, self, later;
    ASSERT_RC(crew_actor_create(ex, &dtor, count_cleanup, &a), 0);
    ASSERT_RC(crew_actor_submit(a, gate_task, &gate, &g), 0);
    ASSERT_RC(crew_actor_submit(a, kill_self_task, &saw, &self), 0);
    ASSERT_RC(crew_actor_submit(a, count_task, &ran, &later), 0);
    gate_open(&gate);
    ASSERT_STATUS(t_join(ex, self), CREW_TASK_CANCELLED);
    ASSERT_STATUS(t_join(ex, later), CREW_TASK_ACTOR_DEAD);
    ASSERT_STATUS(t_join(ex, g), CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&saw), 1);
    cr_assert_eq(atomic_load(&ran), 0);
    t_actor_wait(a);
    cr_assert_eq(atomic_load(&dtor), 1);
    ASSERT_RC(crew_actor_destroy(a), 0);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

/* Submitters race a kill: every submission either ran (DONE), was dropped
 * (ACTOR_DEAD), was the running task (CANCELLED), or was refused with
 * CREW_EACTORDEAD. Nothing is lost, nothing runs twice. */
typedef struct race_sub {
    crew_actor_t *a;
    crew_id_t *ids;
    long n, accepted, refused;
    atomic_int *ran, *cleaned;
    atomic_long *progress;
} race_sub_t;

static void *race_thread(void *arg)
{
    race_sub_t *s = arg;
    crew_task_desc_t d = {.fn = count_task, .arg = s->ran, .cleanup = NULL, .group = NULL};
    for (long i = 0; i < s->n; i++) {
        int rc = crew_actor_submit_ex(s->a, &d, &s->ids[s->accepted]);
        if (rc == 0)
            s->accepted++;
        else if (rc == CREW_EACTORDEAD)
            s->refused++;
        else
            T_DIE("submit: %s", crew_err_name(rc));
        atomic_fetch_add(s->progress, 1);
    }
    return NULL;
}

Test(actor, kill_racing_submitters_loses_no_task, T_OPTS)
{
    crew_t *ex = t_create(2);
    int rounds = (int)t_scaled(40, 5);
    long per = t_scaled(2000, 200);
    for (int r = 0; r < rounds; r++) {
        atomic_int dtor = 0, ran = 0, cleaned = 0;
        atomic_long progress = 0;
        crew_actor_t *a;
        race_sub_t subs[3];
        pthread_t th[3];
        ASSERT_RC(crew_actor_create(ex, &dtor, count_cleanup, &a), 0);
        for (int i = 0; i < 3; i++) {
            subs[i] = (race_sub_t){
                a, malloc(sizeof(crew_id_t) * (size_t)per), per, 0, 0, &ran, &cleaned, &progress};
            pthread_create(&th[i], NULL, race_thread, &subs[i]);
        }
        /* Kill somewhere in the middle: after a round-dependent number of
         * submissions. */
        long when = (per * 3) * (r % 10) / 10;
        cr_assert(T_WAIT_UNTIL(atomic_load(&progress) >= when, T_HANG_S));
        ASSERT_RC(crew_actor_kill(a, r, "race"), 0);
        long accepted = 0, refused = 0, done = 0, dead = 0, cancelled = 0;
        for (int i = 0; i < 3; i++) {
            pthread_join(th[i], NULL);
            accepted += subs[i].accepted;
            refused += subs[i].refused;
            for (long k = 0; k < subs[i].accepted; k++) {
                crew_status_t st = t_join(ex, subs[i].ids[k]);
                if (st == CREW_TASK_DONE)
                    done++;
                else if (st == CREW_TASK_ACTOR_DEAD)
                    dead++;
                else if (st == CREW_TASK_CANCELLED)
                    cancelled++;
                else
                    cr_assert_fail("round %d: status %s", r, crew_status_name(st));
            }
            free(subs[i].ids);
        }
        t_actor_wait(a);
        cr_assert_eq(accepted + refused, 3 * per);
        cr_assert_eq(done + dead + cancelled, accepted);
        cr_assert_leq(cancelled, 1, "only the running task is cancelled");
        /* The running task may have completed its body and still end
         * CANCELLED: the kill requested it while it ran. */
        cr_assert(atomic_load(&ran) >= done && atomic_load(&ran) <= done + cancelled,
                  "round %d: ran %d, done %ld, cancelled %ld", r, atomic_load(&ran), done,
                  cancelled);
        cr_assert_eq(atomic_load(&dtor), 1);
        crew_actor_info_t in = t_actor_info(a);
        cr_assert_eq(in.submitted, (uint64_t)accepted);
        cr_assert_eq(in.done, (uint64_t)done);
        cr_assert_eq(in.dead, (uint64_t)dead);
        cr_assert_eq(in.cancelled, (uint64_t)cancelled);
        cr_assert_eq(in.refused, (uint64_t)refused);
        ASSERT_RC(crew_actor_destroy(a), 0);
    }
    DESTROY_CLEAN(&ex);
}

/* ---- one runner at a time ---------------------------------------------------------- */

/* Mutual exclusion seen from inside: each task of the actor counts itself
 * in flight while it runs; finding another one there means two of its
 * tasks (two runners) ran at once. */
typedef struct excl_state {
    atomic_int inflight, overlaps, most;
    atomic_long ran;
} excl_state_t;

static void spin_ns(int64_t ns)
{
    int64_t end = t_now_ns() + ns;
    while (t_now_ns() < end) {
    }
}

/* arg: how long to stay in flight (ns), the window for an overlap. */
static int excl_body(void *arg)
{
    excl_state_t *s = crew_actor_state();
    int now = atomic_fetch_add(&s->inflight, 1) + 1;
    if (now > 1) {
        atomic_fetch_add(&s->overlaps, 1);
        int most = atomic_load(&s->most);
        while (now > most && !atomic_compare_exchange_weak(&s->most, &most, now))
            ;
    }
    spin_ns((int64_t)(intptr_t)arg);
    atomic_fetch_sub(&s->inflight, 1);
    atomic_fetch_add(&s->ran, 1);
    return 0;
}

enum { EXCL_SUBS = 3, EXCL_RECENT = 64 };

typedef struct excl_sub {
    crew_actor_t *a;
    crew_id_t *ids;
    long n, accepted;
    atomic_long *progress;
    _Atomic crew_id_t *recent; /* shared: recent IDs, for the canceller */
} excl_sub_t;

/* Bursts with pauses between them, each ending with a long task, so that
 * the mailbox often runs empty while the actor's last task still runs:
 * the moment a submission must not start a second runner. */
static void *excl_submitter(void *arg)
{
    excl_sub_t *s = arg;
    unsigned seed = (unsigned)(uintptr_t)s;
    long burst = 0;
    for (long i = 0; i < s->n; i++) {
        crew_id_t id;
        if (burst <= 0) {
            spin_ns(rand_r(&seed) % 100000);
            burst = 1 + rand_r(&seed) % 32;
        }
        intptr_t len = --burst == 0 ? 50000 : 200;
        int rc = crew_actor_submit(s->a, excl_body, (void *)len, &id);
        if (rc == 0) {
            s->ids[s->accepted++] = id;
            atomic_store(&s->recent[i % EXCL_RECENT], id);
        } else if (rc != CREW_EACTORDEAD) {
            T_DIE("submit: %s", crew_err_name(rc));
        }
        atomic_fetch_add(s->progress, 1);
    }
    return NULL;
}

typedef struct excl_canceller {
    crew_t *ex;
    _Atomic crew_id_t *recent;
    atomic_int stop;
    long cancels;
} excl_canceller_t;

static void *excl_cancel_main(void *arg)
{
    excl_canceller_t *c = arg;
    unsigned seed = 3;
    while (!flag_get(&c->stop)) {
        crew_id_t id = atomic_load(&c->recent[rand_r(&seed) % EXCL_RECENT]);
        /* Joinable until joined after this thread stops: never ENOTASK. */
        if (id && crew_cancel(c->ex, id, 0, NULL) < 0)
            T_DIE("crew_cancel of an actor task failed");
        c->cancels++;
        sched_yield();
    }
    return NULL;
}

static void check_one_runner(unsigned workers)
{
    crew_t *ex = t_create(workers);
    int rounds = (int)t_scaled(40, 10);
    long per = t_scaled(3000, 300);
    for (int r = 0; r < rounds; r++) {
        excl_state_t s;
        memset(&s, 0, sizeof s);
        _Atomic crew_id_t recent[EXCL_RECENT];
        for (int i = 0; i < EXCL_RECENT; i++)
            atomic_init(&recent[i], 0);
        atomic_long progress = 0;
        crew_actor_t *a;
        ASSERT_RC(crew_actor_create(ex, &s, NULL, &a), 0);
        excl_sub_t subs[EXCL_SUBS];
        pthread_t th[EXCL_SUBS], ct;
        excl_canceller_t c = {ex, recent, 0, 0};
        for (int i = 0; i < EXCL_SUBS; i++) {
            subs[i] =
                (excl_sub_t){a, malloc(sizeof(crew_id_t) * (size_t)per), per, 0, &progress, recent};
            cr_assert_eq(pthread_create(&th[i], NULL, excl_submitter, &subs[i]), 0);
        }
        cr_assert_eq(pthread_create(&ct, NULL, excl_cancel_main, &c), 0);
        /* Rounds 1 mod 3 kill the actor, 2 mod 3 make it exit, midway. */
        cr_assert(T_WAIT_UNTIL(atomic_load(&progress) >= EXCL_SUBS * per / 2, T_HANG_S));
        if (r % 3 == 1)
            ASSERT_RC(crew_actor_kill(a, r, "midway"), 0);
        else if (r % 3 == 2)
            (void)crew_actor_submit(a, actor_exit_task, NULL, NULL);
        for (int i = 0; i < EXCL_SUBS; i++)
            pthread_join(th[i], NULL);
        flag_set(&c.stop);
        pthread_join(ct, NULL);
        cr_assert_eq(atomic_load(&s.overlaps), 0,
                     "round %d: %d tasks of one "
                     "actor found another of its tasks running (up to %d at "
                     "once)",
                     r, atomic_load(&s.overlaps), atomic_load(&s.most));
        long accepted = 0, done = 0;
        for (int i = 0; i < EXCL_SUBS; i++) {
            for (long k = 0; k < subs[i].accepted; k++) {
                crew_status_t st = t_join(ex, subs[i].ids[k]);
                cr_assert(st == CREW_TASK_DONE || st == CREW_TASK_CANCELLED ||
                              st == CREW_TASK_ACTOR_DEAD,
                          "status %s", crew_status_name(st));
                done += st == CREW_TASK_DONE;
            }
            accepted += subs[i].accepted;
            free(subs[i].ids);
        }
        if (r % 3 == 0)
            ASSERT_RC(crew_actor_submit(a, actor_exit_task, NULL, NULL), 0);
        t_actor_wait(a);
        cr_assert_eq(atomic_load(&s.overlaps), 0,
                     "round %d: %d tasks of one "
                     "actor found another of its tasks running (up to %d at "
                     "once)",
                     r, atomic_load(&s.overlaps), atomic_load(&s.most));
        cr_assert_geq(atomic_load(&s.ran), done);
        cr_assert_gt(accepted, 0);
        ASSERT_RC(crew_actor_destroy(a), 0);
    }
    DESTROY_CLEAN(&ex);
}

Test(actor, tasks_of_one_actor_never_overlap_under_submits_cancels_kills_and_exits_2_workers,
     T_OPTS)
{
    check_one_runner(2);
}

Test(actor, tasks_of_one_actor_never_overlap_under_submits_cancels_kills_and_exits_8_workers,
     T_OPTS)
{
    check_one_runner(8);
}

/* ---- exit ----------------------------------------------------------------------------- */

typedef struct exit_ctx {
    atomic_int exited;
    atomic_int ran_after;
} exit_ctx_t;

static int exit_now_task(void *arg)
{
    exit_ctx_t *e = arg;
    int rc = crew_actor_exit();
    atomic_store(&e->exited, rc == 0 ? 1 : -1);
    return rc;
}

Test(actor, exit_runs_tasks_already_submitted_then_refuses_new_ones, T_OPTS)
{
    crew_t *ex = t_create(2);
    atomic_int dtor = 0, ran = 0;
    exit_ctx_t e = {0, 0};
    gate_t g1, g2;
    gate_init(&g1);
    gate_init(&g2);
    crew_actor_t *a;
    crew_id_t ids[5];
    ASSERT_RC(crew_actor_create(ex, &dtor, count_cleanup, &a), 0);
    ASSERT_RC(crew_actor_submit(a, gate_task, &g1, &ids[0]), 0);
    ASSERT_RC(crew_actor_submit(a, exit_now_task, &e, &ids[1]), 0);
    ASSERT_RC(crew_actor_submit(a, count_task, &ran, &ids[2]), 0);
    ASSERT_RC(crew_actor_submit(a, gate_task, &g2, &ids[3]), 0);
    ASSERT_RC(crew_actor_submit(a, count_task, &ran, &ids[4]), 0);
    gate_open(&g1);
    gate_await_arrivals(&g2, 1); /* exit ran; the actor is busy at g2 */
    cr_assert_eq(atomic_load(&e.exited), 1);
    crew_actor_info_t in = t_actor_info(a);
    cr_assert_eq(in.status, CREW_ACTOR_EXITING);
    cr_assert_eq(in.cause, CREW_ACTOR_EXITED);
    cr_assert_eq(in.queued, 1);
    ASSERT_RC(crew_actor_submit(a, count_task, &ran, NULL), CREW_EACTORDEAD);
    cr_assert_eq(atomic_load(&dtor), 0);
    gate_open(&g2);
    t_actor_wait(a);
    for (int i = 0; i < 5; i++)
        ASSERT_STATUS(t_join(ex, ids[i]), CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&ran), 2);
    cr_assert_eq(atomic_load(&dtor), 1);
    in = t_actor_info(a);
    cr_assert_eq(in.status, CREW_ACTOR_DEAD);
    cr_assert_eq(in.cause, CREW_ACTOR_EXITED);
    cr_assert_eq(in.done, 5);
    cr_assert_eq(in.refused, 1);
    ASSERT_RC(crew_actor_exit(), CREW_ENOTINTASK);
    ASSERT_RC(crew_actor_destroy(a), 0);
    cr_assert_eq(atomic_load(&dtor), 1);
    gate_destroy(&g1);
    gate_destroy(&g2);
    DESTROY_CLEAN(&ex);
}

static int exit_in_plain_task(void *arg)
{
    atomic_int *rc = arg;
    atomic_store(rc, crew_actor_exit());
    return 0;
}

Test(actor, exit_outside_an_actor_task_is_not_in_task, T_OPTS)
{
    crew_t *ex = t_create(1);
    atomic_int rc = 1;
    crew_id_t id;
    ASSERT_RC(crew_actor_exit(), CREW_ENOTINTASK);
    ASSERT_RC(crew_submit(ex, exit_in_plain_task, &rc, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&rc), CREW_ENOTINTASK);
    DESTROY_CLEAN(&ex);
}

/* ---- destroy ---------------------------------------------------------------------- */

Test(actor, destroy_of_busy_actor_drains_it_then_runs_the_destructor, T_OPTS)
{
    crew_t *ex = t_create(2);
    atomic_int dtor = 0, ran = 0;
    gate_t gate;
    gate_init(&gate);
    crew_actor_t *a;
    ASSERT_RC(crew_actor_create(ex, &dtor, count_cleanup, &a), 0);
    ASSERT_RC(crew_actor_submit(a, gate_task, &gate, NULL), 0);
    for (int i = 0; i < 100; i++)
        ASSERT_RC(crew_actor_submit(a, count_task, &ran, NULL), 0);
    gate_await_arrivals(&gate, 1);
    ASSERT_RC(crew_actor_destroy(a), 0); /* never blocks */
    cr_assert_eq(atomic_load(&dtor), 0);
    gate_open(&gate);
    cr_assert(T_WAIT_UNTIL(atomic_load(&dtor) == 1, T_HANG_S));
    cr_assert_eq(atomic_load(&ran), 100);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

Test(actor, destroy_of_idle_actor_runs_the_destructor_in_the_call, T_OPTS)
{
    crew_t *ex = t_create(1);
    atomic_int dtor = 0;
    crew_actor_t *a;
    ASSERT_RC(crew_actor_create(ex, &dtor, count_cleanup, &a), 0);
    ASSERT_RC(crew_actor_destroy(a), 0);
    cr_assert_eq(atomic_load(&dtor), 1);
    DESTROY_CLEAN(&ex);
}

/* ---- executor shutdown --------------------------------------------------------------- */

typedef struct shut_arg {
    crew_t *ex;
    crew_shutdown_mode_t mode;
    int rc;
} shut_arg_t;

static void *shut_thread(void *arg)
{
    shut_arg_t *s = arg;
    s->rc = crew_shutdown(s->ex, s->mode);
    return NULL;
}

Test(actor, drain_shutdown_runs_mailboxes_to_the_end_then_ends_actors, T_OPTS)
{
    crew_t *ex = t_create(2);
    enum { NA = 3, NM = 200 };
    atomic_int dtor[NA], ran[NA];
    crew_actor_t *a[NA];
    gate_t gate;
    gate_init(&gate);
    for (int i = 0; i < NA; i++) {
        atomic_init(&dtor[i], 0);
        atomic_init(&ran[i], 0);
        ASSERT_RC(crew_actor_create(ex, &dtor[i], count_cleanup, &a[i]), 0);
        ASSERT_RC(crew_actor_submit(a[i], gate_task, &gate, NULL), 0);
        for (int k = 0; k < NM; k++)
            ASSERT_RC(crew_actor_submit(a[i], count_task, &ran[i], NULL), 0);
    }
    gate_await_arrivals(&gate, 2); /* both workers held: the mailboxes are full */
    shut_arg_t s = {ex, CREW_DRAIN, -1};
    pthread_t th;
    pthread_create(&th, NULL, shut_thread, &s);
    /* Shutdown began once outside submissions are refused. */
    cr_assert(
        T_WAIT_UNTIL(crew_actor_submit(a[0], noop_task, NULL, NULL) == CREW_ESHUTDOWN, T_HANG_S));
    gate_open(&gate);
    pthread_join(th, NULL);
    ASSERT_RC(s.rc, 0);
    for (int i = 0; i < NA; i++) {
        cr_assert_eq(atomic_load(&ran[i]), NM, "actor %d ran %d of %d", i, atomic_load(&ran[i]),
                     NM);
        cr_assert_eq(atomic_load(&dtor[i]), 1);
        crew_actor_info_t in = t_actor_info(a[i]);
        cr_assert_eq(in.status, CREW_ACTOR_DEAD);
        cr_assert_eq(in.cause, CREW_ACTOR_SHUTDOWN);
        cr_assert(in.finished);
        cr_assert_eq(in.done, in.submitted); /* the probes ran too */
        ASSERT_RC(crew_actor_submit(a[i], noop_task, NULL, NULL), CREW_EACTORDEAD);
        ASSERT_RC(crew_actor_kill(a[i], 0, NULL), 0);
        ASSERT_RC(crew_actor_destroy(a[i]), 0);
        cr_assert_eq(atomic_load(&dtor[i]), 1);
    }
    ASSERT_RC(crew_actor_create(ex, NULL, NULL, &a[0]), CREW_ESHUTDOWN);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

Test(actor, cancel_shutdown_removes_queued_tasks_and_requests_the_running_ones, T_OPTS)
{
    crew_t *ex = t_create(2);
    enum { NQ = 50 };
    atomic_int dtor_a = 0, dtor_b = 0, ran = 0, cleaned = 0;
    probe_t p;
    probe_init(&p, true, 0);
    crew_actor_t *a, *b;
    crew_id_t running, queued[NQ];
    ASSERT_RC(crew_actor_create(ex, &dtor_a, count_cleanup, &a), 0);
    ASSERT_RC(crew_actor_create(ex, &dtor_b, count_cleanup, &b), 0); /* idle */
    ASSERT_RC(crew_actor_submit(a, probe_task, &p, &running), 0);
    flag_await(&p.started);
    crew_task_desc_t d = {.fn = count_task, .arg = &ran, .cleanup = NULL, .group = NULL};
    crew_task_desc_t dc = {
        .fn = noop_task, .arg = &cleaned, .cleanup = count_cleanup, .group = NULL};
    for (int i = 0; i < NQ; i++)
        ASSERT_RC(crew_actor_submit_ex(a, i % 2 ? &d : &dc, &queued[i]), 0);
    ASSERT_RC(crew_shutdown(ex, CREW_CANCEL), 0);
    cr_assert_eq(atomic_load(&p.saw_cancel), 1);
    ASSERT_STATUS(t_inspect(ex, running).status, CREW_TASK_CANCELLED);
    crew_task_info_t ti = t_inspect(ex, running);
    cr_assert_eq(ti.cause, CREW_CAUSE_SHUTDOWN);
    for (int i = 0; i < NQ; i++) {
        ti = t_inspect(ex, queued[i]);
        ASSERT_STATUS(ti.status, CREW_TASK_CANCELLED);
        cr_assert_eq(ti.cause, CREW_CAUSE_SHUTDOWN);
        ASSERT_STATUS(t_join(ex, queued[i]), CREW_TASK_CANCELLED);
    }
    ASSERT_STATUS(t_join(ex, running), CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&ran), 0);
    cr_assert_eq(atomic_load(&cleaned), NQ / 2);
    cr_assert_eq(atomic_load(&dtor_a), 1);
    cr_assert_eq(atomic_load(&dtor_b), 1);
    crew_actor_info_t in = t_actor_info(a);
    cr_assert_eq(in.status, CREW_ACTOR_DEAD);
    cr_assert_eq(in.cause, CREW_ACTOR_SHUTDOWN);
    cr_assert_eq(in.cancelled, NQ + 1);
    cr_assert_eq(t_actor_info(b).cause, CREW_ACTOR_SHUTDOWN);
    /* The handles are left to crew_destroy, which frees them. */
    DESTROY_CLEAN_MODE(&ex, CREW_CANCEL);
}

Test(actor, destroying_the_executor_with_live_handles_drains_and_frees_them, T_OPTS)
{
    crew_t *ex = t_create(2);
    enum { NA = 10, NM = 500 };
    atomic_int dtor = 0, ran = 0;
    crew_actor_t *a[NA];
    for (int i = 0; i < NA; i++)
        ASSERT_RC(crew_actor_create(ex, &dtor, count_cleanup, &a[i]), 0);
    for (int k = 0; k < NM; k++)
        for (int i = 0; i < NA; i++)
            ASSERT_RC(crew_actor_submit(a[i], count_task, &ran, NULL), 0);
    ASSERT_RC(crew_destroy(&ex), 0);
    t_open_executors--;
    cr_assert_eq(atomic_load(&ran), NA * NM);
    cr_assert_eq(atomic_load(&dtor), NA);
    cr_assert_eq(t_live_bytes(), 0, "%lld bytes leaked", (long long)t_live_bytes());
}

/* ---- scale and fairness ------------------------------------------------------------- */

typedef struct many_state {
    long count; /* plain: the actor's own */
    crew_actor_t *next;
} many_state_t;

static int many_task(void *arg)
{
    many_state_t *s = crew_actor_state();
    s->count++;
    if (arg) /* forward once to the next actor, from inside a task */
        return crew_actor_submit(s->next, many_task, NULL, NULL);
    return 0;
}

Test(actor, thousands_of_actors_share_two_workers, T_OPTS)
{
    crew_t *ex = t_create(2);
    long na = t_scaled(5000, 1000), nm = 10;
    many_state_t *st = calloc((size_t)na, sizeof *st);
    crew_actor_t **a = calloc((size_t)na, sizeof *a);
    for (long i = 0; i < na; i++)
        ASSERT_RC(crew_actor_create(ex, &st[i], NULL, &a[i]), 0);
    for (long i = 0; i < na; i++)
        st[i].next = a[(i + 1) % na];
    for (long k = 0; k < nm; k++)
        for (long i = 0; i < na; i++)
            ASSERT_RC(crew_actor_submit(a[i], many_task, (void *)(intptr_t)(k & 1), NULL), 0);
    /* Idle actors hold no thread and no task: once the work is done the
     * executor is empty although every actor is alive. */
    cr_assert(T_WAIT_UNTIL(t_stats(ex).live_tasks == 0, T_HANG_S));
    long total = 0;
    for (long i = 0; i < na; i++) {
        crew_actor_info_t in = t_actor_info(a[i]);
        cr_assert_eq(in.status, CREW_ACTOR_ALIVE);
        cr_assert_eq(in.failed, 0);
        total += st[i].count;
    }
    cr_assert_eq(total, na * nm + na * nm / 2);
    ASSERT_CLEAN(ex);
    for (long i = 0; i < na; i++)
        ASSERT_RC(crew_actor_destroy(a[i]), 0);
    free(st);
    free(a);
    DESTROY_CLEAN(&ex);
}

typedef struct spin_state {
    atomic_int stop;
    long runs;
} spin_state_t;

static int respawn_task(void *arg)
{
    spin_state_t *s = crew_actor_state();
    (void)arg;
    s->runs++;
    if (atomic_load(&s->stop))
        return 0;
    return crew_actor_submit(crew_actor_self(), respawn_task, NULL, NULL);
}

static int stop_task(void *arg)
{
    atomic_store(&((spin_state_t *)arg)->stop, 1);
    return 0;
}

Test(actor, endless_actor_does_not_pin_the_only_worker, T_OPTS)
{
    crew_t *ex = t_create(1);
    spin_state_t s;
    atomic_init(&s.stop, 0);
    s.runs = 0;
    crew_actor_t *a;
    crew_id_t stopper;
    ASSERT_RC(crew_actor_create(ex, &s, NULL, &a), 0);
    ASSERT_RC(crew_actor_submit(a, respawn_task, NULL, NULL), 0);
    /* The actor resubmits itself forever; this plain task must still run
     * on the only worker, or the test times out. */
    ASSERT_RC(crew_submit(ex, stop_task, &s, &stopper), 0);
    ASSERT_STATUS(t_join(ex, stopper), CREW_TASK_DONE);
    ASSERT_RC(crew_actor_submit(a, actor_exit_task, NULL, NULL), 0);
    t_actor_wait(a);
    cr_assert_gt(s.runs, 0);
    ASSERT_RC(crew_actor_destroy(a), 0);
    DESTROY_CLEAN(&ex);
}

typedef struct seen {
    atomic_long *ran;
    long at_run;
} seen_t;

static int count_long_task(void *arg)
{
    atomic_fetch_add_explicit((atomic_long *)arg, 1, memory_order_relaxed);
    return 0;
}

static int seen_task(void *arg)
{
    seen_t *s = arg;
    s->at_run = atomic_load(s->ran);
    return 0;
}

Test(actor, busy_actor_yields_its_worker_after_a_bounded_batch, T_OPTS)
{
    crew_t *ex = t_create(1);
    gate_t gate;
    gate_init(&gate);
    atomic_long ran = 0;
    seen_t seen = {&ran, -1};
    long n = 10000;
    crew_actor_t *a;
    crew_id_t p;
    ASSERT_RC(crew_actor_create(ex, NULL, NULL, &a), 0);
    ASSERT_RC(crew_submit(ex, gate_task, &gate, NULL), 0);
    gate_await_arrivals(&gate, 1);
    for (long i = 0; i < n; i++)
        ASSERT_RC(crew_actor_submit(a, count_long_task, &ran, NULL), 0);
    ASSERT_RC(crew_submit(ex, seen_task, &seen, &p), 0);
    gate_open(&gate);
    ASSERT_STATUS(t_join(ex, p), CREW_TASK_DONE);
    cr_assert_geq(seen.at_run, 0);
    cr_assert_leq(seen.at_run, 4 * 64,
                  "a plain task queued behind the actor waited for %ld of its "
                  "%ld messages",
                  seen.at_run, n);
    ASSERT_RC(crew_actor_submit(a, actor_exit_task, NULL, NULL), 0);
    t_actor_wait(a);
    cr_assert_eq(atomic_load(&ran), n);
    ASSERT_RC(crew_actor_destroy(a), 0);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

/* ---- composition with tasks and groups ---------------------------------------------- */

typedef struct fanout {
    crew_actor_t *a;
    gate_t *gate; /* optional: stay running here after submitting */
    atomic_int *ran;
    int n;
    crew_id_t ids[16];
} fanout_t;

static int fanout_task(void *arg)
{
    fanout_t *f = arg;
    for (int i = 0; i < f->n; i++)
        if (crew_actor_submit(f->a, count_task, f->ran, &f->ids[i]) != 0)
            return 1;
    if (f->gate)
        gate_pass(f->gate);
    return 0;
}

Test(actor, tasks_submitted_from_a_task_join_its_group_and_group_cancel_removes_them, T_OPTS)
{
    crew_t *ex = t_create(2);
    gate_t hold;
    gate_init(&hold);
    atomic_int ran = 0;
    crew_actor_t *a;
    crew_group_t *g;
    crew_id_t blocker, sender;
    crew_status_t st;
    fanout_t f = {0};
    ASSERT_RC(crew_actor_create(ex, NULL, NULL, &a), 0);
    ASSERT_RC(crew_group_create(ex, NULL, 0, &g), 0);
    ASSERT_RC(crew_actor_submit(a, gate_task, &hold, &blocker), 0);
    gate_await_arrivals(&hold, 1); /* the actor is busy: the 16 stay queued */
    f.a = a;
    f.ran = &ran;
    f.n = 16;
    crew_task_desc_t d = {.fn = fanout_task, .arg = &f, .cleanup = NULL, .group = g};
    ASSERT_RC(crew_submit_ex(ex, &d, &sender), 0);
    ASSERT_STATUS(t_join(ex, sender), CREW_TASK_DONE);
    for (int i = 0; i < 16; i++) {
        crew_task_info_t ti = t_inspect(ex, f.ids[i]);
        cr_assert_eq(ti.group, crew_group_id(g));
        cr_assert_eq(ti.parent, 0, "an actor task is not its sender's child");
    }
    ASSERT_RC(crew_group_cancel(g, 4, "batch aborted"), 0);
    gate_open(&hold);
    ASSERT_RC(crew_group_wait(g, T_HANG_NS, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    for (int i = 0; i < 16; i++) {
        crew_task_info_t ti = t_inspect(ex, f.ids[i]);
        ASSERT_STATUS(ti.status, CREW_TASK_CANCELLED);
        cr_assert_eq(ti.cause, CREW_CAUSE_GROUP);
        cr_assert_str_eq(ti.reason, "batch aborted");
        ASSERT_STATUS(t_join(ex, f.ids[i]), CREW_TASK_CANCELLED);
    }
    cr_assert_eq(atomic_load(&ran), 0);
    ASSERT_STATUS(t_join(ex, blocker), CREW_TASK_DONE);
    ASSERT_RC(crew_group_destroy(g), 0);
    ASSERT_RC(crew_actor_destroy(a), 0);
    gate_destroy(&hold);
    DESTROY_CLEAN(&ex);
}

Test(actor, cancelling_the_sender_by_id_does_not_reach_messages_already_sent, T_OPTS)
{
    crew_t *ex = t_create(2);
    gate_t hold, sender_gate;
    gate_init(&hold);
    gate_init(&sender_gate);
    atomic_int ran = 0;
    crew_actor_t *a;
    crew_id_t blocker, sender;
    fanout_t f = {0};
    ASSERT_RC(crew_actor_create(ex, NULL, NULL, &a), 0);
    ASSERT_RC(crew_actor_submit(a, gate_task, &hold, &blocker), 0);
    gate_await_arrivals(&hold, 1);
    f.a = a;
    f.ran = &ran;
    f.n = 16;
    f.gate = &sender_gate;
    ASSERT_RC(crew_submit(ex, fanout_task, &f, &sender), 0);
    gate_await_arrivals(&sender_gate, 1); /* all 16 sent; the sender still runs */
    ASSERT_RC(crew_cancel(ex, sender, 1, "abort"), CREW_REQUESTED);
    gate_open(&sender_gate);
    gate_open(&hold);
    ASSERT_STATUS(t_join(ex, sender), CREW_TASK_CANCELLED);
    for (int i = 0; i < 16; i++)
        ASSERT_STATUS(t_join(ex, f.ids[i]), CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&ran), 16);
    ASSERT_STATUS(t_join(ex, blocker), CREW_TASK_DONE);
    ASSERT_RC(crew_actor_destroy(a), 0);
    gate_destroy(&hold);
    gate_destroy(&sender_gate);
    DESTROY_CLEAN(&ex);
}

/* A task of a group that waits at a gate, then sends one message. */
typedef struct late_sender {
    crew_actor_t *a;
    gate_t gate;
    atomic_int *ran;
    crew_id_t id;
    int rc;
} late_sender_t;

static int late_sender_task(void *arg)
{
    late_sender_t *l = arg;
    gate_pass(&l->gate);
    l->rc = crew_actor_submit(l->a, count_task, l->ran, &l->id);
    return 0;
}

Test(actor, task_sent_into_a_cancelled_group_is_born_cancelled, T_OPTS)
{
    crew_t *ex = t_create(2);
    atomic_int ran = 0;
    crew_actor_t *a;
    crew_group_t *g;
    crew_id_t sender, direct;
    late_sender_t l = {0};
    ASSERT_RC(crew_actor_create(ex, NULL, NULL, &a), 0);
    ASSERT_RC(crew_group_create(ex, NULL, 0, &g), 0);
    l.a = a;
    l.ran = &ran;
    l.rc = 1;
    gate_init(&l.gate);
    crew_task_desc_t d = {.fn = late_sender_task, .arg = &l, .cleanup = NULL, .group = g};
    ASSERT_RC(crew_submit_ex(ex, &d, &sender), 0);
    gate_await_arrivals(&l.gate, 1); /* the sender runs, inside g */
    ASSERT_RC(crew_group_cancel(g, 0, "early"), 0);
    gate_open(&l.gate);
    ASSERT_STATUS(t_join(ex, sender), CREW_TASK_CANCELLED);
    ASSERT_RC(l.rc, 0);
    /* Inherited g, which is cancelled: CANCELLED without ever queueing. */
    crew_task_info_t ti = t_inspect(ex, l.id);
    ASSERT_STATUS(ti.status, CREW_TASK_CANCELLED);
    cr_assert_eq(ti.cause, CREW_CAUSE_GROUP);
    ASSERT_STATUS(t_join(ex, l.id), CREW_TASK_CANCELLED);
    /* From outside, naming the cancelled group: the same. */
    crew_task_desc_t ad = {.fn = count_task, .arg = &ran, .cleanup = NULL, .group = g};
    ASSERT_RC(crew_actor_submit_ex(a, &ad, &direct), 0);
    ASSERT_STATUS(t_join(ex, direct), CREW_TASK_CANCELLED);
    crew_actor_info_t in = t_actor_info(a);
    cr_assert_eq(in.submitted, 2);
    cr_assert_eq(in.cancelled, 2);
    cr_assert_eq(in.queued, 0);
    cr_assert(!in.running);
    cr_assert_eq(atomic_load(&ran), 0);
    ASSERT_RC(crew_group_destroy(g), 0);
    ASSERT_RC(crew_actor_destroy(a), 0);
    gate_destroy(&l.gate);
    DESTROY_CLEAN(&ex);
}

Test(actor, group_cancel_removes_queued_actor_tasks_and_group_wait_sees_them, T_OPTS)
{
    crew_t *ex = t_create(2);
    gate_t hold;
    gate_init(&hold);
    atomic_int ran = 0;
    crew_actor_t *a;
    crew_group_t *g;
    crew_status_t st;
    ASSERT_RC(crew_actor_create(ex, NULL, NULL, &a), 0);
    ASSERT_RC(crew_group_create(ex, NULL, 0, &g), 0);
    ASSERT_RC(crew_actor_submit(a, gate_task, &hold, NULL), 0);
    gate_await_arrivals(&hold, 1);
    crew_task_desc_t d = {.fn = count_task, .arg = &ran, .cleanup = NULL, .group = g};
    for (int i = 0; i < 20; i++)
        ASSERT_RC(crew_actor_submit_ex(a, &d, NULL), 0);
    ASSERT_RC(crew_group_cancel(g, 2, "batch aborted"), 0);
    gate_open(&hold);
    ASSERT_RC(crew_group_wait(g, T_HANG_NS, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    crew_group_info_t gi;
    gi.size = sizeof gi;
    ASSERT_RC(crew_group_info(g, &gi), 0);
    cr_assert_eq(gi.submitted, 20);
    cr_assert_eq(gi.cancelled, 20);
    cr_assert_eq(gi.removed, 20);
    cr_assert_eq(atomic_load(&ran), 0);
    ASSERT_RC(crew_group_destroy(g), 0);
    ASSERT_RC(crew_actor_destroy(a), 0);
    gate_destroy(&hold);
    DESTROY_CLEAN(&ex);
}

/* ---- waiting, bad input, memory ----------------------------------------------------- */

static int wait_own_actor(void *arg)
{
    atomic_int *rc = arg;
    atomic_store(rc, crew_actor_wait(crew_actor_self(), 0));
    return 0;
}

typedef struct waiter_ctx {
    crew_actor_t *target;
    atomic_int rc;
} waiter_ctx_t;

static int wait_other_actor(void *arg)
{
    waiter_ctx_t *w = arg;
    atomic_store(&w->rc, crew_actor_wait(w->target, T_HANG_NS));
    return 0;
}

static int kill_target(void *arg) { return crew_actor_kill(arg, 0, NULL); }

Test(actor, wait_from_inside_tasks_helps_and_refuses_to_wait_for_itself, T_OPTS)
{
    crew_t *ex = t_create(1);
    atomic_int rc = 1, dtor = 0;
    crew_actor_t *a, *b;
    crew_id_t id, w, k;
    ASSERT_RC(crew_actor_create(ex, NULL, NULL, &a), 0);
    ASSERT_RC(crew_actor_create(ex, &dtor, count_cleanup, &b), 0);
    ASSERT_RC(crew_actor_submit(a, wait_own_actor, &rc, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&rc), CREW_EDEADLK);
    ASSERT_RC(crew_actor_wait(a, 1000000), CREW_ETIMEDOUT);
    /* One worker: the waiting task must help, or the kill never runs. */
    waiter_ctx_t wc = {b, 1};
    ASSERT_RC(crew_submit(ex, wait_other_actor, &wc, &w), 0);
    ASSERT_RC(crew_actor_submit(a, kill_target, b, &k), 0);
    ASSERT_STATUS(t_join(ex, w), CREW_TASK_DONE);
    ASSERT_STATUS(t_join(ex, k), CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&wc.rc), 0);
    cr_assert_eq(atomic_load(&dtor), 1);
    ASSERT_RC(crew_actor_destroy(a), 0);
    ASSERT_RC(crew_actor_destroy(b), 0);
    DESTROY_CLEAN(&ex);
}

Test(actor, bad_input_gives_documented_errors, T_OPTS)
{
    crew_t *ex = t_create(1), *other = t_create(1);
    /* Not an actor, not a group: zeroed, suitably aligned memory. */
    static _Alignas(64) unsigned char junk[512];
    crew_actor_t *a, *x = (crew_actor_t *)junk;
    crew_group_t *og;
    crew_actor_info_t in;
    ASSERT_RC(crew_actor_create(NULL, NULL, NULL, &a), CREW_EINVAL);
    ASSERT_RC(crew_actor_create(ex, NULL, NULL, NULL), CREW_EINVAL);
    ASSERT_RC(crew_actor_create(ex, NULL, NULL, &a), 0);
    ASSERT_RC(crew_actor_submit(NULL, noop_task, NULL, NULL), CREW_EINVAL);
    ASSERT_RC(crew_actor_submit(x, noop_task, NULL, NULL), CREW_EINVAL);
    ASSERT_RC(crew_actor_submit(a, NULL, NULL, NULL), CREW_EINVAL);
    ASSERT_RC(crew_actor_submit_ex(a, NULL, NULL), CREW_EINVAL);
    ASSERT_RC(crew_group_create(other, NULL, 0, &og), 0);
    crew_task_desc_t d = {.fn = noop_task, .arg = NULL, .cleanup = NULL, .group = og};
    ASSERT_RC(crew_actor_submit_ex(a, &d, NULL), CREW_EWRONGEXEC);
    d.group = (crew_group_t *)junk;
    ASSERT_RC(crew_actor_submit_ex(a, &d, NULL), CREW_EINVAL);
    ASSERT_RC(crew_actor_kill(NULL, 0, NULL), CREW_EINVAL);
    in.size = sizeof in;
    ASSERT_RC(crew_actor_info(NULL, &in), CREW_EINVAL);
    ASSERT_RC(crew_actor_info(a, NULL), CREW_EINVAL);
    ASSERT_RC(crew_actor_wait(NULL, 0), CREW_EINVAL);
    ASSERT_RC(crew_actor_wait(a, -5), CREW_EINVAL);
    ASSERT_RC(crew_actor_wait(a, CREW_TIMEOUT_MAX_NS + 1), CREW_EINVAL);
    ASSERT_RC(crew_actor_wait(a, 0), CREW_ETIMEDOUT);
    ASSERT_RC(crew_actor_destroy(NULL), CREW_EINVAL);
    cr_assert_eq(t_actor_info(a).submitted, 0);
    ASSERT_RC(crew_group_destroy(og), 0);
    ASSERT_RC(crew_actor_destroy(a), 0);
    DESTROY_CLEAN(&other);
    DESTROY_CLEAN(&ex);
}

#ifdef CREW_TEST_HAVE_FAULT
/* Walk the allocation failure points of create + submit + exit: every call
 * either succeeds or says CREW_ENOMEM, every accepted task ends terminal
 * with its cleanup run once, and nothing leaks. */
Test(actor, out_of_memory_is_reported_and_leaks_nothing, T_OPTS)
{
    for (int64_t k = 0;; k++) {
        crew_t *ex = t_create(2);
        atomic_int cleaned = 0, dtor = 0;
        crew_actor_t *a = NULL;
        long accepted = 0;
        int rc;
        crew__fault_fail_alloc_at(k);
        rc = crew_actor_create(ex, &dtor, count_cleanup, &a);
        if (rc == 0) {
            crew_task_desc_t d = {
                .fn = noop_task, .arg = &cleaned, .cleanup = count_cleanup, .group = NULL};
            for (int i = 0; i < 3000; i++) {
                rc = crew_actor_submit_ex(a, &d, NULL);
                cr_assert(rc == 0 || rc == CREW_ENOMEM, "submit: %s", t_rc_name(rc));
                accepted += rc == 0;
            }
            rc = crew_actor_submit(a, actor_exit_task, NULL, NULL);
            cr_assert(rc == 0 || rc == CREW_ENOMEM);
            if (rc != 0)
                ASSERT_RC(crew_actor_kill(a, 0, NULL), 0);
            t_actor_wait(a);
            cr_assert_eq(atomic_load(&dtor), 1);
        } else {
            ASSERT_RC(rc, CREW_ENOMEM);
        }
        bool hit = crew__fault_alloc_count() > k;
        crew__fault_reset();
        if (a) {
            ASSERT_RC(crew_actor_destroy(a), 0);
            cr_assert_eq(atomic_load(&cleaned), accepted);
        }
        DESTROY_CLEAN(&ex);
        if (!hit)
            break; /* the scenario ran past its last allocation */
    }
}
#endif
