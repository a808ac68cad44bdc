/* test_semantics.c - cancelled queued work is removed before the cancel
 * returns (group, parent, cancel shutdown); a group cancelled through its
 * parent waits CANCELLED; errors change nothing; structured group joins;
 * isolated submission; the status query; crew_destroy with live groups;
 * every wait tells the waiter's cancellation from the target's outcome. */
#include "crit.h"

static crew_group_t *new_group(crew_t *ex, crew_group_t *parent)
{
    crew_group_t *g = NULL;
    ASSERT_RC(crew_group_create(ex, parent, 0, &g), 0);
    return g;
}

static crew_id_t submit_into(crew_t *ex, crew_group_t *g, crew_fn fn, void *arg,
                             crew_cleanup_fn cleanup, unsigned flags)
{
    crew_task_desc_t d = {.fn = fn, .arg = arg, .cleanup = cleanup, .group = g, .flags = flags};
    crew_id_t id = 0;
    ASSERT_RC(crew_submit_ex(ex, &d, &id), 0);
    return id;
}

static crew_id_t submit_detached(crew_t *ex, crew_group_t *g, crew_fn fn, void *arg)
{
    crew_task_desc_t d = {.fn = fn, .arg = arg, .cleanup = NULL, .group = g};
    ASSERT_RC(crew_submit_ex(ex, &d, NULL), 0);
    return 0;
}

/* A body that counts in a file-wide counter, so that arg is free for a
 * cleanup's counter. */
static atomic_int bodies_ran;
static int ran_task(void *arg)
{
    (void)arg;
    atomic_fetch_add(&bodies_ran, 1);
    return 0;
}

static crew_status_t status_now(crew_t *ex, crew_id_t id)
{
    crew_status_t st = (crew_status_t)-1;
    ASSERT_RC(crew_status(ex, id, &st), 0);
    return st;
}

/* ---- 1. nested groups: one rule for "cancelled" ------------------------- */

Test(semantics, group_cancelled_directly_or_through_its_parent_waits_cancelled, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *direct = new_group(ex, NULL);
    crew_group_t *outer = new_group(ex, NULL);
    crew_group_t *nested = new_group(ex, outer);
    atomic_int n = 0;
    crew_status_t st;
    /* Every member finishes DONE before any cancel. */
    ASSERT_STATUS(t_join(ex, submit_into(ex, direct, count_task, &n, NULL, 0)), CREW_TASK_DONE);
    ASSERT_STATUS(t_join(ex, submit_into(ex, nested, count_task, &n, NULL, 0)), CREW_TASK_DONE);
    ASSERT_RC(crew_group_cancel(direct, 1, "direct"), 0);
    ASSERT_RC(crew_group_cancel(outer, 2, "outer"), 0);
    ASSERT_RC(crew_group_wait(direct, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    ASSERT_RC(crew_group_wait(nested, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    ASSERT_RC(crew_group_join(nested, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    crew_group_info_t i;
    memset(&i, 0, sizeof i);
    i.size = sizeof i;
    ASSERT_RC(crew_group_info(nested, &i), 0);
    cr_assert(i.is_cancelled, "wait and info follow the same rule");
    ASSERT_RC(crew_group_destroy(nested), 0);
    ASSERT_RC(crew_group_destroy(outer), 0);
    ASSERT_RC(crew_group_destroy(direct), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- 2. an error return means nothing changed --------------------------------- */

typedef struct {
    crew_t *ex;
    atomic_int rc;
    atomic_int cancelled_after;
} self_cw_t;

static int cancel_wait_self(void *arg)
{
    self_cw_t *s = arg;
    crew_status_t st;
    atomic_store(&s->rc, crew_cancel_wait(s->ex, crew_self(), CREW_FOREVER, &st));
    atomic_store(&s->cancelled_after, crew_cancelled());
    return 0;
}

Test(semantics, cancel_wait_on_the_calling_task_fails_without_cancelling_it, T_OPTS)
{
    crew_t *ex = t_create(1);
    self_cw_t s = {.ex = ex};
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, cancel_wait_self, &s, &id), 0);
    ASSERT_STATUS(t_wait(ex, id), CREW_TASK_DONE);
    ASSERT_RC(atomic_load(&s.rc), CREW_EDEADLK);
    cr_assert_eq(atomic_load(&s.cancelled_after), 0, "EDEADLK must not cancel the caller");
    crew_task_info_t info = t_inspect(ex, id);
    cr_assert(!info.cancel_requested);
    cr_assert_eq(info.cause, CREW_CAUSE_NONE);
    ASSERT_RC(crew_release(ex, id), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- 3. eager removal ------------------------------------------------------------ */

enum { QN = 64 };

Test(semantics, group_cancel_removes_every_queued_member_before_it_returns, T_OPTS)
{
    crew_t *ex = t_create(2);
    gate_t gate;
    gate_init(&gate);
    saturate(ex, &gate); /* no worker can pop anything */
    crew_group_t *outer = new_group(ex, NULL), *nested = new_group(ex, outer);
    atomic_int cleaned = 0;
    crew_id_t ids[2 * QN];
    atomic_store(&bodies_ran, 0);
    for (int i = 0; i < QN; i++) {
        ids[i] = submit_into(ex, outer, ran_task, &cleaned, count_cleanup, 0);
        ids[QN + i] = submit_into(ex, nested, ran_task, &cleaned, count_cleanup, 0);
    }
    for (int i = 0; i < 2 * QN; i++)
        ASSERT_STATUS(status_now(ex, ids[i]), CREW_TASK_QUEUED);
    ASSERT_RC(crew_group_cancel(outer, 7, "stop"), 0);
    /* Before any worker is free: every member is CANCELLED, cleaned up. */
    for (int i = 0; i < 2 * QN; i++)
        ASSERT_STATUS(status_now(ex, ids[i]), CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&cleaned), 2 * QN);
    crew_task_info_t info = t_inspect(ex, ids[QN]);
    cr_assert_eq(info.cause, CREW_CAUSE_GROUP);
    cr_assert_eq(info.cancel_code, 7);
    /* The waits return while every worker is still blocked. */
    crew_status_t st;
    ASSERT_RC(crew_group_wait(outer, 0, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    ASSERT_RC(crew_group_wait(nested, 0, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    crew_group_info_t gi;
    memset(&gi, 0, sizeof gi);
    gi.size = sizeof gi;
    ASSERT_RC(crew_group_info(outer, &gi), 0);
    cr_assert_eq(gi.removed, QN, "removed %llu", (unsigned long long)gi.removed);
    gate_open(&gate);
    for (int i = 0; i < 2 * QN; i++)
        ASSERT_STATUS(t_join(ex, ids[i]), CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&bodies_ran), 0, "a removed task ran");
    crew_stats_t s = t_stats(ex); /* the groups' IDs stay in the set: no settle */
    cr_assert_eq(s.removed, 2 * QN);
    ASSERT_RC(crew_group_destroy(nested), 0);
    ASSERT_RC(crew_group_destroy(outer), 0);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

typedef struct {
    atomic_int spawned;
    atomic_int go;
    atomic_int ran;
    atomic_int cleaned;
    crew_id_t kids[QN];
    crew_status_t kid_status[QN];
} parent_t;

static int kid_task(void *arg)
{
    parent_t *p = arg;
    atomic_fetch_add(&p->ran, 1);
    return 0;
}

static void kid_cleanup(void *arg)
{
    parent_t *p = arg;
    atomic_fetch_add(&p->cleaned, 1);
}

static int parent_task(void *arg)
{
    parent_t *p = arg;
    crew_task_desc_t d = {.fn = kid_task, .arg = p, .cleanup = kid_cleanup, .group = NULL};
    for (int i = 0; i < QN; i++)
        crew_submit_ex(crew_current(), &d, &p->kids[i]);
    flag_set(&p->spawned);
    /* The only worker is here: the children stay queued until we join
     * them, after the test has looked at them. */
    while (!flag_get(&p->go))
        sched_yield();
    for (int i = 0; i < QN; i++)
        crew_join(crew_current(), p->kids[i], &p->kid_status[i]);
    return 0;
}

Test(semantics, cancelling_a_parent_removes_its_queued_children_before_it_returns, T_OPTS)
{
    crew_t *ex = t_create(1);
    parent_t p = {0};
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, parent_task, &p, &id), 0);
    flag_await(&p.spawned);
    for (int i = 0; i < QN; i++)
        ASSERT_STATUS(status_now(ex, p.kids[i]), CREW_TASK_QUEUED);
    ASSERT_RC(crew_cancel(ex, id, 3, "parent"), CREW_REQUESTED);
    for (int i = 0; i < QN; i++)
        ASSERT_STATUS(status_now(ex, p.kids[i]), CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&p.cleaned), QN, "cleanups ran in the cancel call");
    crew_task_info_t info = t_inspect(ex, p.kids[0]);
    cr_assert_eq(info.cause, CREW_CAUSE_PARENT);
    cr_assert_eq(info.cancel_code, 3);
    flag_set(&p.go);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    for (int i = 0; i < QN; i++)
        ASSERT_STATUS(p.kid_status[i], CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&p.ran), 0);
    DESTROY_CLEAN(&ex);
}

typedef struct {
    crew_t *ex;
    atomic_int returned;
} shutdown_arg_t;

static void *shutdown_cancel_thread(void *arg)
{
    shutdown_arg_t *a = arg;
    crew_shutdown(a->ex, CREW_CANCEL);
    atomic_store(&a->returned, 1);
    return NULL;
}

Test(semantics, cancel_shutdown_removes_queued_tasks_while_every_worker_is_busy, T_OPTS)
{
    crew_t *ex = t_create(2);
    gate_t gate;
    gate_init(&gate);
    saturate(ex, &gate);
    atomic_int cleaned = 0;
    crew_task_desc_t d = {.fn = ran_task, .arg = &cleaned, .cleanup = count_cleanup, .group = NULL};
    atomic_store(&bodies_ran, 0);
    for (int i = 0; i < QN; i++)
        ASSERT_RC(crew_submit_ex(ex, &d, NULL), 0);
    shutdown_arg_t a = {ex, 0};
    pthread_t th;
    pthread_create(&th, NULL, shutdown_cancel_thread, &a);
    /* The workers are still blocked: only the shutdown call can have
     * removed them. */
    cr_assert(T_WAIT_UNTIL(atomic_load(&cleaned) == QN, T_HANG_S),
              "queued tasks not removed by the shutdown (cleaned %d)", atomic_load(&cleaned));
    cr_assert_eq(atomic_load(&a.returned), 0, "shutdown waits for the running tasks");
    gate_open(&gate);
    pthread_join(th, NULL);
    cr_assert_eq(atomic_load(&bodies_ran), 0, "a removed task ran");
    crew_stats_t s = t_settle(ex);
    cr_assert_eq(s.removed, QN);
    gate_destroy(&gate);
    DESTROY_CLEAN_MODE(&ex, CREW_CANCEL);
}

/* ---- 4. structured group join -------------------------------------------------- */

typedef struct {
    crew_t *ex;
    crew_group_t *g;
    probe_t member;
    atomic_int join_returned;
    atomic_int member_saw_join_returned;
    atomic_int join_rc;
    crew_status_t join_status;
} joiner_t;

static int join_member(void *arg)
{
    joiner_t *j = arg;
    probe_task(&j->member);
    /* Still running: the join must not have returned. */
    atomic_store(&j->member_saw_join_returned, atomic_load(&j->join_returned));
    return 0;
}

static int joiner_task(void *arg)
{
    joiner_t *j = arg;
    crew_task_desc_t d = {.fn = join_member, .arg = j, .cleanup = NULL, .group = j->g};
    crew_submit_ex(j->ex, &d, NULL);
    atomic_store(&j->join_rc, crew_group_join(j->g, &j->join_status));
    atomic_store(&j->join_returned, 1);
    return 0;
}

Test(semantics, group_join_waits_for_running_members_even_when_the_caller_is_cancelled, T_OPTS)
{
    crew_t *ex = t_create(2);
    joiner_t j = {.ex = ex};
    j.g = new_group(ex, NULL);
    probe_init(&j.member, false, 0); /* sees its cancel, runs on until released */
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, joiner_task, &j, &id), 0);
    flag_await(&j.member.started);
    ASSERT_RC(crew_cancel(ex, id, 0, "caller"), CREW_REQUESTED);
    /* The member is the caller's child: it sees the cancel too. */
    cr_assert(T_WAIT_UNTIL(atomic_load(&j.member.saw_cancel), T_HANG_S));
    /* A join that gave up early would return now; give it the chance. */
    T_WAIT_UNTIL(atomic_load(&j.join_returned), 0.2);
    cr_assert_eq(atomic_load(&j.join_returned), 0, "join returned while a member ran");
    flag_set(&j.member.release);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&j.member_saw_join_returned), 0);
    ASSERT_RC(atomic_load(&j.join_rc), CREW_ECANCELED);
    ASSERT_STATUS(j.join_status, CREW_TASK_CANCELLED);
    ASSERT_RC(crew_group_destroy(j.g), 0);
    DESTROY_CLEAN(&ex);
}

Test(semantics, group_join_of_members_that_end_done_reports_done, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g = new_group(ex, NULL);
    atomic_int n = 0;
    for (int i = 0; i < 100; i++)
        submit_detached(ex, g, count_task, &n);
    crew_status_t st;
    ASSERT_RC(crew_group_join(g, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&n), 100);
    ASSERT_RC(crew_group_join(NULL, &st), CREW_EINVAL);
    ASSERT_RC(crew_group_join(g, NULL), CREW_EINVAL);
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- 5. isolated submission ------------------------------------------------------ */

typedef struct {
    crew_t *ex;
    crew_group_t *service;
    probe_t child, iso, iso_nogroup;
    crew_id_t child_id, iso_id, iso_nogroup_id;
    atomic_int submitted;
} iso_t;

static int iso_submitter(void *arg)
{
    iso_t *s = arg;
    crew_task_desc_t c = {.fn = probe_task, .arg = &s->child, .cleanup = NULL, .group = NULL};
    crew_task_desc_t i = {.fn = probe_task,
                          .arg = &s->iso,
                          .cleanup = NULL,
                          .group = s->service,
                          .flags = CREW_TASK_ISOLATED};
    crew_task_desc_t n = {.fn = probe_task,
                          .arg = &s->iso_nogroup,
                          .cleanup = NULL,
                          .group = NULL,
                          .flags = CREW_TASK_ISOLATED};
    crew_submit_ex(s->ex, &c, &s->child_id);
    crew_submit_ex(s->ex, &i, &s->iso_id);
    crew_submit_ex(s->ex, &n, &s->iso_nogroup_id);
    flag_set(&s->submitted);
    while (!crew_cancelled())
        sched_yield();
    return 0;
}

Test(semantics, cancelling_the_submitter_or_its_group_leaves_isolated_tasks_alone, T_OPTS)
{
    crew_t *ex = t_create(4);
    iso_t s = {.ex = ex};
    crew_group_t *mine = new_group(ex, NULL);
    s.service = new_group(ex, NULL);
    probe_init(&s.child, true, 0);
    probe_init(&s.iso, false, 0);
    probe_init(&s.iso_nogroup, false, 0);
    crew_id_t id = submit_into(ex, mine, iso_submitter, &s, NULL, 0);
    flag_await(&s.submitted);
    crew_task_info_t ci = t_inspect(ex, s.iso_id);
    cr_assert_eq(ci.parent, 0, "an isolated task has no parent");
    cr_assert_eq(ci.group, crew_group_id(s.service));
    ci = t_inspect(ex, s.iso_nogroup_id);
    cr_assert_eq(ci.group, 0, "isolated with no group: not the submitter's group");
    ASSERT_RC(crew_cancel(ex, id, 0, "submitter"), CREW_REQUESTED);
    ASSERT_RC(crew_group_cancel(mine, 0, "mine"), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    ASSERT_STATUS(t_join(ex, s.child_id), CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&s.iso.saw_cancel), 0);
    cr_assert_eq(atomic_load(&s.iso_nogroup.saw_cancel), 0);
    flag_set(&s.iso.release);
    flag_set(&s.iso_nogroup.release);
    ASSERT_STATUS(t_join(ex, s.iso_id), CREW_TASK_DONE);
    ASSERT_STATUS(t_join(ex, s.iso_nogroup_id), CREW_TASK_DONE);
    /* Its own group still reaches it. */
    crew_task_desc_t d = {.fn = noop_task,
                          .arg = NULL,
                          .cleanup = NULL,
                          .group = s.service,
                          .flags = CREW_TASK_ISOLATED | 0x80};
    ASSERT_RC(crew_submit_ex(ex, &d, NULL), CREW_EINVAL);
    ASSERT_RC(crew_group_destroy(mine), 0);
    ASSERT_RC(crew_group_destroy(s.service), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- 6. ergonomics ------------------------------------------------------------------ */

typedef struct {
    crew_t *ex;
    crew_id_t target;
    atomic_int ran;
    atomic_int rc;
    crew_status_t seen;
} poll_t;

static int target_task(void *arg)
{
    poll_t *p = arg;
    atomic_fetch_add(&p->ran, 1);
    return 0;
}

static int poller_task(void *arg)
{
    poll_t *p = arg;
    crew_submit(p->ex, target_task, p, &p->target); /* queued on our deque */
    atomic_store(&p->rc, crew_status(p->ex, p->target, &p->seen));
    atomic_store(&p->ran, atomic_load(&p->ran) + 100 * (p->seen == CREW_TASK_QUEUED));
    crew_status_t st;
    crew_join(p->ex, p->target, &st);
    return 0;
}

Test(semantics, status_query_never_runs_other_tasks, T_OPTS)
{
    crew_t *ex = t_create(1);
    poll_t p = {.ex = ex};
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, poller_task, &p, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    ASSERT_RC(atomic_load(&p.rc), 0);
    ASSERT_STATUS(p.seen, CREW_TASK_QUEUED);
    cr_assert_eq(atomic_load(&p.ran), 101, "queried QUEUED, then the target ran once");
    crew_status_t st;
    ASSERT_RC(crew_status(NULL, id, &st), CREW_EINVAL);
    ASSERT_RC(crew_status(ex, id, NULL), CREW_EINVAL);
    ASSERT_RC(crew_status(ex, id, &st), CREW_ENOTASK); /* joined: released */
    DESTROY_CLEAN(&ex);
}

Test(semantics, plain_cancel_is_cancel_with_code_zero_and_no_reason, T_OPTS)
{
    crew_t *ex = t_create(1);
    gate_t gate;
    gate_init(&gate);
    saturate(ex, &gate);
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, noop_task, NULL, &id), 0);
    ASSERT_RC(crew_cancel_id(ex, id), CREW_REMOVED);
    crew_task_info_t info = t_inspect(ex, id);
    cr_assert_eq(info.cancel_code, 0);
    cr_assert_str_eq(info.reason, "");
    ASSERT_RC(crew_cancel_id(ex, id), CREW_TOO_LATE);
    ASSERT_RC(crew_cancel_id(NULL, id), CREW_EINVAL);
    gate_open(&gate);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

Test(semantics, destroy_frees_group_handles_still_alive, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *outer = new_group(ex, NULL), *nested = new_group(ex, outer);
    crew_group_t *cancelled = new_group(ex, nested);
    atomic_int n = 0;
    for (int i = 0; i < 10; i++) {
        crew_task_desc_t d = {
            .fn = count_task, .arg = &n, .cleanup = NULL, .group = i & 1 ? outer : nested};
        ASSERT_RC(crew_submit_ex(ex, &d, NULL), 0);
    }
    ASSERT_RC(crew_group_cancel(cancelled, 0, NULL), 0);
    ASSERT_RC(crew_destroy(&ex), 0); /* no crew_group_destroy: not an error */
    cr_assert_null(ex);
    t_open_executors--;
    cr_assert_eq(t_live_bytes(), 0, "%lld bytes left", (long long)t_live_bytes());
}

/* ---- 7. every wait tells the waiter's cancellation from the target's ------------ */

typedef struct {
    crew_t *ex;
    crew_group_t *g;
    crew_actor_t *actor;
    crew_id_t target, target2; /* isolated, running until released */
    probe_t p1, p2;
    int rc_wait, rc_join, rc_gwait, rc_gjoin, rc_cwait, rc_await;
    crew_status_t st_join, st_gjoin;
    atomic_int started;
} waiter_t;

static int waiter_task(void *arg)
{
    waiter_t *w = arg;
    crew_status_t st;
    flag_set(&w->started);
    while (!crew_cancelled())
        sched_yield();
    /* The waits that give up early do so at once, *status untouched. */
    w->rc_wait = crew_wait(w->ex, w->target, CREW_FOREVER, &st);
    w->rc_gwait = crew_group_wait(w->g, CREW_FOREVER, &st);
    w->rc_await = crew_actor_wait(w->actor, CREW_FOREVER);
    w->rc_cwait = crew_cancel_wait(w->ex, w->target2, CREW_FOREVER, &st);
    /* The joins wait for the target, then report our cancellation apart. */
    flag_set(&w->p1.release);
    flag_set(&w->p2.release);
    w->rc_join = crew_join(w->ex, w->target, &w->st_join);
    w->rc_gjoin = crew_group_join(w->g, &w->st_gjoin);
    return 0;
}

Test(semantics, a_cancelled_waiter_reports_its_own_cancellation_apart_from_the_target, T_OPTS)
{
    crew_t *ex = t_create(3);
    waiter_t w = {.ex = ex};
    w.g = new_group(ex, NULL);
    ASSERT_RC(crew_actor_create(ex, NULL, NULL, &w.actor), 0);
    probe_init(&w.p1, false, 0);
    probe_init(&w.p2, false, 0);
    crew_task_desc_t d1 = {
        .fn = probe_task, .arg = &w.p1, .cleanup = NULL, .group = w.g, .flags = CREW_TASK_ISOLATED};
    crew_task_desc_t d2 = {.fn = probe_task,
                           .arg = &w.p2,
                           .cleanup = NULL,
                           .group = NULL,
                           .flags = CREW_TASK_ISOLATED};
    ASSERT_RC(crew_submit_ex(ex, &d1, &w.target), 0);
    ASSERT_RC(crew_submit_ex(ex, &d2, &w.target2), 0);
    flag_await(&w.p1.started);
    flag_await(&w.p2.started);
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, waiter_task, &w, &id), 0);
    flag_await(&w.started);
    ASSERT_RC(crew_cancel(ex, id, 0, NULL), CREW_REQUESTED);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    ASSERT_RC(w.rc_wait, CREW_ECANCELED);
    ASSERT_RC(w.rc_gwait, CREW_ECANCELED);
    ASSERT_RC(w.rc_await, CREW_ECANCELED);
    ASSERT_RC(w.rc_cwait, CREW_ECANCELED);
    ASSERT_RC(w.rc_join, CREW_ECANCELED);
    ASSERT_RC(w.rc_gjoin, CREW_ECANCELED);
    /* The target's outcome is its own: it was never cancelled. */
    ASSERT_STATUS(w.st_join, CREW_TASK_DONE);
    ASSERT_STATUS(w.st_gjoin, CREW_TASK_DONE);
    /* cancel_wait's cancel stands although its wait gave up. */
    ASSERT_STATUS(t_join(ex, w.target2), CREW_TASK_CANCELLED);
    ASSERT_RC(crew_actor_destroy(w.actor), 0);
    ASSERT_RC(crew_group_destroy(w.g), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- info structs carry their size ------------------------------------------------- */

Test(semantics, info_structs_are_filled_up_to_the_size_the_caller_gives, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_group_t *g = new_group(ex, NULL);
    crew_actor_t *a;
    crew_id_t id = submit_into(ex, g, noop_task, NULL, NULL, 0);
    t_wait(ex, id);
    ASSERT_RC(crew_actor_create(ex, NULL, NULL, &a), 0);
    crew_task_info_t ti = CREW_TASK_INFO_INIT;
    crew_group_info_t gi = CREW_GROUP_INFO_INIT;
    crew_actor_info_t ai = CREW_ACTOR_INFO_INIT;
    ASSERT_RC(crew_inspect(ex, id, &ti), 0);
    ASSERT_STATUS(ti.status, CREW_TASK_DONE);
    ASSERT_RC(crew_group_info(g, &gi), 0);
    cr_assert_eq(gi.submitted, 1);
    ASSERT_RC(crew_actor_info(a, &ai), 0);
    cr_assert_eq(ai.status, CREW_ACTOR_ALIVE);
    /* An older caller's shorter struct: only its bytes are written. */
    struct {
        crew_task_info_t t;
        char guard[16];
    } old;
    memset(&old, 0x5a, sizeof old);
    old.t.size = offsetof(crew_task_info_t, status);
    ASSERT_RC(crew_inspect(ex, id, &old.t), 0);
    cr_assert_eq(old.t.id, id);
    cr_assert_eq(old.t.size, offsetof(crew_task_info_t, status), "size is the caller's");
    cr_assert_eq(((unsigned char *)&old.t)[offsetof(crew_task_info_t, status)], 0x5a,
                 "nothing written past size");
    /* Sizes that cannot be right are refused. */
    ti.size = 0;
    ASSERT_RC(crew_inspect(ex, id, &ti), CREW_EINVAL);
    gi.size = 1;
    ASSERT_RC(crew_group_info(g, &gi), CREW_EINVAL);
    ai.size = sizeof ai * 100;
    ASSERT_RC(crew_actor_info(a, &ai), CREW_EINVAL);
    ASSERT_RC(crew_release(ex, id), 0);
    ASSERT_RC(crew_actor_destroy(a), 0);
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}
