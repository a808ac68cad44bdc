/* test_cancel_group.c - cancelling groups: present and future members,
 * members' spawns, nested groups (and only those), fail-fast, waits. */
#include "crit.h"

static void probes_cancel_returned(probe_t *p, int n)
{
    for (int i = 0; i < n; i++)
        flag_set(&p[i].cancel_returned);
}

Test(cancel_group, group_cancel_removes_queued_members_and_requests_running_ones, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g = t_group(ex, NULL, 0);
    probe_t p[2];
    crew_id_t run[2], q[10];
    for (int i = 0; i < 2; i++) {
        probe_init(&p[i], false, 0);
        ASSERT_RC(t_submit_to(ex, g, probe_task, &p[i], &run[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        flag_await(&p[i].started); /* both workers busy from here on */
    atomic_int ran = 0;
    for (int i = 0; i < 10; i++)
        ASSERT_RC(t_submit_to(ex, g, count_task, &ran, &q[i]), 0);
    ASSERT_RC(crew_group_cancel(g, 7, "stop"), 0);
    probes_cancel_returned(p, 2);
    cr_assert(t_ginfo(g).is_cancelled);
    for (int i = 0; i < 2; i++)
        cr_assert(T_WAIT_UNTIL(atomic_load(&p[i].checks_after) > 100, T_HANG_S));
    for (int i = 0; i < 2; i++)
        flag_set(&p[i].release);
    crew_status_t st;
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    for (int i = 0; i < 2; i++) {
        t_assert_probe_saw_cancel(&p[i], 0);
        crew_task_info_t info = t_inspect(ex, run[i]);
        ASSERT_STATUS(info.status, CREW_TASK_CANCELLED);
        cr_assert_eq(info.cause, CREW_CAUSE_GROUP);
        cr_assert(info.cancel_requested);
        ASSERT_RC(crew_release(ex, run[i]), 0);
    }
    for (int i = 0; i < 10; i++) {
        crew_task_info_t info = t_inspect(ex, q[i]);
        ASSERT_STATUS(info.status, CREW_TASK_CANCELLED);
        cr_assert_eq(info.cause, CREW_CAUSE_GROUP);
        ASSERT_RC(crew_release(ex, q[i]), 0);
    }
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    cr_assert_eq(atomic_load(&ran), 0, "queued members of a cancelled group ran");
    crew_group_info_t gi = t_ginfo(g);
    cr_assert_eq(gi.live, 0);
    cr_assert_eq(gi.submitted, 12);
    cr_assert_eq(gi.cancelled, 12);
    cr_assert_eq(gi.removed, 10);
    cr_assert_eq(gi.cancelled_running, 2);
    cr_assert_eq(gi.done + gi.failed, 0);
    /* (a cancelled group may hold its ID in the cancellation set until it
     * is destroyed: settle after destroying it) */
    ASSERT_RC(crew_group_destroy(g), 0);
    crew_stats_t s = t_settle(ex);
    cr_assert_eq(s.removed, 10);
    cr_assert_eq(s.cancelled_running, 2);
    DESTROY_CLEAN(&ex);
}

Test(cancel_group, members_added_after_the_cancel_are_born_cancelled, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g = t_group(ex, NULL, 0);
    ASSERT_RC(crew_group_cancel(g, 0, NULL), 0);
    atomic_int ran = 0, cleanups = 0;
    crew_task_desc_t d = {.fn = count_task, .arg = &ran, .cleanup = NULL, .group = g};
    crew_id_t id;
    ASSERT_RC(crew_submit_ex(ex, &d, &id), 0);
    crew_task_desc_t dc = {
        .fn = count_task, .arg = &cleanups, .cleanup = count_cleanup, .group = g};
    ASSERT_RC(crew_submit_ex(ex, &dc, NULL), 0);
    void *args[16];
    for (int i = 0; i < 16; i++)
        args[i] = &ran;
    ASSERT_RC(crew_submit_batch(ex, &d, args, 16, NULL), 0);
    crew_status_t st;
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    crew_task_info_t info = t_inspect(ex, id);
    ASSERT_STATUS(info.status, CREW_TASK_CANCELLED);
    cr_assert_eq(info.cause, CREW_CAUSE_GROUP);
    ASSERT_RC(crew_release(ex, id), 0);
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    cr_assert_eq(atomic_load(&ran), 0);
    cr_assert_eq(atomic_load(&cleanups), 1);
    crew_group_info_t gi = t_ginfo(g);
    cr_assert_eq(gi.submitted, 18);
    cr_assert_eq(gi.cancelled, 18);
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}

/* Every worker blocked, so nothing can pop the new member: it must be
 * CANCELLED when the submit returns, not QUEUED until a worker reaches it. */
static void check_member_born_cancelled_at_submit(unsigned workers)
{
    crew_t *ex = t_create(workers);
    gate_t gate;
    gate_init(&gate);
    saturate(ex, &gate);
    crew_group_t *g = t_group(ex, NULL, 0);
    ASSERT_RC(crew_group_cancel(g, 6, "closed"), 0);
    atomic_int ran = 0, cleanups = 0;
    crew_task_desc_t d = {.fn = count_task, .arg = &cleanups, .cleanup = count_cleanup, .group = g};
    crew_id_t id, plain;
    ASSERT_RC(crew_submit_ex(ex, &d, &id), 0);
    crew_task_info_t info = t_inspect(ex, id);
    ASSERT_STATUS(info.status, CREW_TASK_CANCELLED);
    cr_assert_eq(info.cause, CREW_CAUSE_GROUP);
    cr_assert_eq(info.cancel_code, 6);
    cr_assert_eq(atomic_load(&cleanups), 1,
                 "cleanup of a born-cancelled "
                 "member ran %d times by the time submit returned",
                 atomic_load(&cleanups));
    crew_group_info_t gi = t_ginfo(g);
    cr_assert_eq(gi.live, 0,
                 "the group counts a born-cancelled member as "
                 "live");
    ASSERT_RC(t_submit_to(ex, g, count_task, &ran, &plain), 0);
    ASSERT_STATUS(t_inspect(ex, plain).status, CREW_TASK_CANCELLED);
    gate_open(&gate);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    ASSERT_STATUS(t_join(ex, plain), CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&ran), 0);
    cr_assert_eq(atomic_load(&cleanups), 1);
    ASSERT_RC(crew_group_destroy(g), 0);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

Test(cancel_group,
     member_submitted_into_a_cancelled_group_is_cancelled_when_the_submit_returns_2_workers, T_OPTS)
{
    check_member_born_cancelled_at_submit(2);
}
Test(cancel_group,
     member_submitted_into_a_cancelled_group_is_cancelled_when_the_submit_returns_8_workers, T_OPTS)
{
    check_member_born_cancelled_at_submit(8);
}

/* A running member that, once it sees the cancel, spawns a child: the
 * child joins the (cancelled) group and never runs. */
typedef struct spawner {
    probe_t probe;
    atomic_int child_ran;
    crew_id_t child;
    int rc;
} spawner_t;

static int spawner_child(void *arg)
{
    atomic_fetch_add(&((spawner_t *)arg)->child_ran, 1);
    return 0;
}
static int spawner_member(void *arg)
{
    spawner_t *s = arg;
    int r = probe_task(&s->probe); /* until_cancelled */
    s->rc = crew_spawn(spawner_child, s, &s->child);
    return r;
}

Test(cancel_group, members_spawned_by_members_after_the_cancel_never_run, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g = t_group(ex, NULL, 0);
    spawner_t s;
    memset(&s, 0, sizeof s);
    probe_init(&s.probe, true, 0);
    s.rc = 99;
    crew_id_t id;
    ASSERT_RC(t_submit_to(ex, g, spawner_member, &s, &id), 0);
    flag_await(&s.probe.started);
    ASSERT_RC(crew_group_cancel(g, 0, NULL), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    ASSERT_RC(s.rc, 0);
    crew_task_info_t ci = t_inspect(ex, s.child);
    ASSERT_STATUS(ci.status, CREW_TASK_CANCELLED);
    cr_assert_eq(ci.group, crew_group_id(g));
    ASSERT_RC(crew_release(ex, s.child), 0);
    crew_status_t st;
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    cr_assert_eq(atomic_load(&s.child_ran), 0);
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- nesting ----------------------------------------------------------------- */

Test(cancel_group, group_cancel_reaches_nested_groups_at_every_depth, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *outer = t_group(ex, NULL, 0);
    crew_group_t *mid = t_group(ex, outer, 0);
    crew_group_t *inner = t_group(ex, mid, 0);
    probe_t p[2];
    crew_id_t run[2], q[3];
    probe_init(&p[0], false, 0);
    probe_init(&p[1], false, 0);
    ASSERT_RC(t_submit_to(ex, mid, probe_task, &p[0], &run[0]), 0);
    ASSERT_RC(t_submit_to(ex, inner, probe_task, &p[1], &run[1]), 0);
    flag_await(&p[0].started);
    flag_await(&p[1].started);
    atomic_int ran = 0;
    ASSERT_RC(t_submit_to(ex, outer, count_task, &ran, &q[0]), 0);
    ASSERT_RC(t_submit_to(ex, mid, count_task, &ran, &q[1]), 0);
    ASSERT_RC(t_submit_to(ex, inner, count_task, &ran, &q[2]), 0);
    ASSERT_RC(crew_group_cancel(outer, 0, NULL), 0);
    probes_cancel_returned(p, 2);
    cr_assert(t_ginfo(mid).is_cancelled);
    cr_assert(t_ginfo(inner).is_cancelled);
    for (int i = 0; i < 2; i++)
        cr_assert(T_WAIT_UNTIL(atomic_load(&p[i].checks_after) > 100, T_HANG_S));
    for (int i = 0; i < 2; i++)
        flag_set(&p[i].release);
    crew_group_t *gs[3] = {inner, mid, outer};
    for (int i = 0; i < 3; i++) {
        crew_status_t st;
        ASSERT_RC(crew_group_wait(gs[i], CREW_FOREVER, &st), 0);
        ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    }
    for (int i = 0; i < 2; i++) {
        t_assert_probe_saw_cancel(&p[i], 0);
        crew_task_info_t info = t_inspect(ex, run[i]);
        ASSERT_STATUS(info.status, CREW_TASK_CANCELLED);
        cr_assert_eq(info.cause, CREW_CAUSE_GROUP);
        ASSERT_RC(crew_release(ex, run[i]), 0);
    }
    for (int i = 0; i < 3; i++)
        ASSERT_STATUS(t_join(ex, q[i]), CREW_TASK_CANCELLED);
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    cr_assert_eq(atomic_load(&ran), 0);
    for (int i = 0; i < 3; i++)
        ASSERT_RC(crew_group_destroy(gs[i]), 0);
    DESTROY_CLEAN(&ex);
}

Test(cancel_group, group_cancel_leaves_enclosing_and_sibling_groups_untouched, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *outer = t_group(ex, NULL, 0);
    crew_group_t *a = t_group(ex, outer, 0);
    crew_group_t *b = t_group(ex, outer, 0);
    crew_group_t *aa = t_group(ex, a, 0);
    probe_t po, pb;
    probe_init(&po, false, 0);
    probe_init(&pb, false, 0);
    crew_id_t ro, rb;
    ASSERT_RC(t_submit_to(ex, outer, probe_task, &po, &ro), 0);
    ASSERT_RC(t_submit_to(ex, b, probe_task, &pb, &rb), 0);
    flag_await(&po.started);
    flag_await(&pb.started);
    atomic_int ran_a = 0, ran_aa = 0, ran_b = 0, ran_o = 0;
    crew_id_t qa, qaa, qb, qo;
    ASSERT_RC(t_submit_to(ex, a, count_task, &ran_a, &qa), 0);
    ASSERT_RC(t_submit_to(ex, aa, count_task, &ran_aa, &qaa), 0);
    ASSERT_RC(t_submit_to(ex, b, count_task, &ran_b, &qb), 0);
    ASSERT_RC(t_submit_to(ex, outer, count_task, &ran_o, &qo), 0);
    ASSERT_RC(crew_group_cancel(a, 0, NULL), 0);
    /* let both probes check for a while after the cancel */
    flag_set(&po.cancel_returned);
    flag_set(&pb.cancel_returned);
    cr_assert(T_WAIT_UNTIL(
        atomic_load(&po.checks_after) > 100 && atomic_load(&pb.checks_after) > 100, T_HANG_S));
    flag_set(&po.release);
    flag_set(&pb.release);
    crew_status_t st;
    ASSERT_RC(crew_group_wait(a, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    ASSERT_RC(crew_group_wait(aa, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    ASSERT_RC(crew_group_wait(b, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    ASSERT_RC(crew_group_wait(outer, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&po.saw_cancel), 0,
                 "the enclosing group's "
                 "member saw a cancel");
    cr_assert_eq(atomic_load(&pb.saw_cancel), 0,
                 "the sibling group's "
                 "member saw a cancel");
    ASSERT_STATUS(t_join(ex, ro), CREW_TASK_DONE);
    ASSERT_STATUS(t_join(ex, rb), CREW_TASK_DONE);
    ASSERT_STATUS(t_join(ex, qa), CREW_TASK_CANCELLED);
    ASSERT_STATUS(t_join(ex, qaa), CREW_TASK_CANCELLED);
    ASSERT_STATUS(t_join(ex, qb), CREW_TASK_DONE);
    ASSERT_STATUS(t_join(ex, qo), CREW_TASK_DONE);
    cr_assert_not(t_ginfo(outer).is_cancelled);
    cr_assert_not(t_ginfo(b).is_cancelled);
    cr_assert(t_ginfo(a).is_cancelled);
    cr_assert(t_ginfo(aa).is_cancelled);
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    cr_assert_eq(atomic_load(&ran_a) + atomic_load(&ran_aa), 0);
    cr_assert_eq(atomic_load(&ran_b), 1);
    cr_assert_eq(atomic_load(&ran_o), 1);
    ASSERT_RC(crew_group_destroy(aa), 0);
    ASSERT_RC(crew_group_destroy(a), 0);
    ASSERT_RC(crew_group_destroy(b), 0);
    ASSERT_RC(crew_group_destroy(outer), 0);
    DESTROY_CLEAN(&ex);
}

Test(cancel_group, cancelling_a_member_does_not_cancel_its_group, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g = t_group(ex, NULL, 0);
    probe_t p;
    probe_init(&p, false, 0);
    crew_id_t r, m;
    ASSERT_RC(t_submit_to(ex, g, probe_task, &p, &r), 0);
    flag_await(&p.started);
    probe_t victim;
    probe_init(&victim, true, 0);
    ASSERT_RC(t_submit_to(ex, g, probe_task, &victim, &m), 0);
    flag_await(&victim.started);
    ASSERT_RC(crew_cancel(ex, m, 0, NULL), CREW_REQUESTED);
    ASSERT_STATUS(t_join(ex, m), CREW_TASK_CANCELLED);
    atomic_int ran = 0;
    crew_id_t later;
    ASSERT_RC(t_submit_to(ex, g, count_task, &ran, &later), 0);
    ASSERT_STATUS(t_join(ex, later), CREW_TASK_DONE);
    flag_set(&p.release);
    ASSERT_STATUS(t_join(ex, r), CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&p.saw_cancel), 0);
    cr_assert_not(t_ginfo(g).is_cancelled);
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}

Test(cancel_group, group_cancel_is_idempotent, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_group_t *g = t_group(ex, NULL, 0);
    gate_t gate;
    gate_init(&gate);
    saturate(ex, &gate);
    atomic_int ran = 0;
    for (int i = 0; i < 5; i++)
        ASSERT_RC(t_submit_to(ex, g, count_task, &ran, NULL), 0);
    ASSERT_RC(crew_group_cancel(g, 1, "first"), 0);
    crew_group_info_t a = t_ginfo(g);
    ASSERT_RC(crew_group_cancel(g, 2, "second"), 0);
    ASSERT_RC(crew_group_cancel(g, 3, NULL), 0);
    crew_group_info_t b = t_ginfo(g);
    cr_assert_eq(a.removed, b.removed);
    cr_assert_eq(a.cancelled, b.cancelled);
    cr_assert(b.is_cancelled);
    gate_open(&gate);
    crew_status_t st;
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    crew_group_info_t c = t_ginfo(g);
    cr_assert_eq(c.removed, 5);
    cr_assert_eq(c.cancelled, 5);
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    cr_assert_eq(atomic_load(&ran), 0);
    ASSERT_RC(crew_group_destroy(g), 0);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

/* A member cancels its own group from inside. */
typedef struct selfg {
    crew_group_t *g;
    int rc, spawn_rc;
    bool after;
    atomic_int ran;
    crew_id_t child;
} selfg_t;

static int selfg_task(void *arg)
{
    selfg_t *s = arg;
    /* a sibling queued behind us on the only worker */
    s->spawn_rc = crew_spawn(count_task, &s->ran, &s->child);
    s->rc = crew_group_cancel(s->g, 0, "from inside");
    s->after = crew_cancelled();
    return 0;
}

Test(cancel_group, a_member_can_cancel_its_own_group, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_group_t *g = t_group(ex, NULL, 0);
    selfg_t s;
    memset(&s, 0, sizeof s);
    s.g = g;
    s.rc = s.spawn_rc = 99;
    crew_id_t id;
    ASSERT_RC(t_submit_to(ex, g, selfg_task, &s, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_CANCELLED);
    ASSERT_RC(s.spawn_rc, 0);
    ASSERT_RC(s.rc, 0);
    cr_assert(s.after, "crew_cancelled() false right after cancelling the "
                       "enclosing group");
    ASSERT_STATUS(t_join(ex, s.child), CREW_TASK_CANCELLED);
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    cr_assert_eq(atomic_load(&s.ran), 0);
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- fail fast ---------------------------------------------------------------- */

typedef struct failer {
    probe_t *other; /* wait until this one runs */
    atomic_int go;  /* then until the test says fail */
    int ret;
} failer_t;

static int failer_task(void *arg)
{
    failer_t *f = arg;
    if (!T_WAIT_UNTIL(flag_get(&f->go), T_HANG_S))
        return 100;
    return f->ret;
}

Test(cancel_group, fail_fast_first_failure_cancels_the_rest_and_wait_reports_it, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g = t_group(ex, NULL, CREW_GROUP_FAIL_FAST);
    probe_t r;
    probe_init(&r, true, 0); /* runs until cancelled */
    crew_id_t rid, fid, q[4];
    ASSERT_RC(t_submit_to(ex, g, probe_task, &r, &rid), 0);
    flag_await(&r.started);
    failer_t f = {&r, 0, 9};
    ASSERT_RC(t_submit_to(ex, g, failer_task, &f, &fid), 0);
    /* both workers are busy now: the next members are queued */
    cr_assert(T_WAIT_UNTIL(t_inspect(ex, fid).status == CREW_TASK_RUNNING, T_HANG_S));
    atomic_int ran = 0;
    for (int i = 0; i < 4; i++)
        ASSERT_RC(t_submit_to(ex, g, count_task, &ran, &q[i]), 0);
    flag_set(&f.go);
    crew_status_t st;
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_FAILED);
    crew_group_info_t gi = t_ginfo(g);
    cr_assert_eq(gi.first_failure, fid);
    cr_assert_eq(gi.first_failure_result, 9);
    cr_assert_eq(gi.failed, 1);
    cr_assert_eq(gi.cancelled, 5);
    cr_assert_eq(gi.removed, 4);
    cr_assert_eq(gi.cancelled_running, 1);
    ASSERT_STATUS(t_join(ex, fid), CREW_TASK_FAILED);
    crew_task_info_t ri = t_inspect(ex, rid);
    ASSERT_STATUS(ri.status, CREW_TASK_CANCELLED);
    cr_assert_eq(ri.cause, CREW_CAUSE_GROUP);
    cr_assert_eq(atomic_load(&r.timed_out), 0,
                 "the running sibling never "
                 "saw the cancel");
    ASSERT_RC(crew_release(ex, rid), 0);
    for (int i = 0; i < 4; i++)
        ASSERT_STATUS(t_join(ex, q[i]), CREW_TASK_CANCELLED);
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    cr_assert_eq(atomic_load(&ran), 0,
                 "queued siblings of the first "
                 "failure ran");
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}

Test(cancel_group, fail_fast_is_triggered_only_by_a_failure, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g = t_group(ex, NULL, CREW_GROUP_FAIL_FAST);
    probe_t r;
    probe_init(&r, false, 0);
    crew_id_t rid, v;
    ASSERT_RC(t_submit_to(ex, g, probe_task, &r, &rid), 0);
    flag_await(&r.started);
    atomic_int ran = 0;
    for (int i = 0; i < 20; i++)
        ASSERT_RC(t_submit_to(ex, g, count_task, &ran, NULL), 0); /* DONE */
    probe_t victim;
    probe_init(&victim, true, 0);
    ASSERT_RC(t_submit_to(ex, g, probe_task, &victim, &v), 0);
    flag_await(&victim.started);
    ASSERT_RC(crew_cancel(ex, v, 0, NULL), CREW_REQUESTED); /* CANCELLED member */
    ASSERT_STATUS(t_join(ex, v), CREW_TASK_CANCELLED);
    cr_assert(T_WAIT_UNTIL(atomic_load(&ran) == 20, T_HANG_S));
    flag_set(&r.release);
    ASSERT_STATUS(t_join(ex, rid), CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&r.saw_cancel), 0);
    /* `ran` counts bodies, not ends: the last counting member may still be
     * finishing on the other worker. */
    cr_assert(T_WAIT_UNTIL(t_ginfo(g).live == 0, T_HANG_S));
    crew_group_info_t gi = t_ginfo(g);
    cr_assert_not(gi.is_cancelled);
    cr_assert_eq(gi.first_failure, 0);
    cr_assert_eq(gi.done, 21, "done %llu live %llu submitted %llu cancelled %llu",
                 (unsigned long long)gi.done, (unsigned long long)gi.live,
                 (unsigned long long)gi.submitted, (unsigned long long)gi.cancelled);
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- waiting ---------------------------------------------------------------------- */

typedef struct gw {
    crew_group_t *g;
    atomic_int waiting;
    int rc;
    crew_status_t st;
} gw_t;

static int gw_task(void *arg)
{
    gw_t *w = arg;
    flag_set(&w->waiting);
    w->rc = crew_group_wait(w->g, (int64_t)(T_HANG_S * 1e9), &w->st);
    return 0;
}

Test(cancel_group, group_wait_in_a_cancelled_task_returns_ECANCELED, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g = t_group(ex, NULL, 0);
    gate_t gate;
    gate_init(&gate);
    crew_id_t member, waiter;
    ASSERT_RC(t_submit_to(ex, g, gate_task, &gate, &member), 0);
    gate_await_arrivals(&gate, 1);
    gw_t w = {g, 0, 99, (crew_status_t)99};
    ASSERT_RC(crew_submit(ex, gw_task, &w, &waiter), 0);
    flag_await(&w.waiting);
    ASSERT_RC(crew_cancel(ex, waiter, 0, NULL), CREW_REQUESTED);
    ASSERT_STATUS(t_join(ex, waiter), CREW_TASK_CANCELLED);
    ASSERT_RC(w.rc, CREW_ECANCELED);
    crew_task_info_t mi = t_inspect(ex, member);
    ASSERT_STATUS(mi.status, CREW_TASK_RUNNING);
    cr_assert_not(mi.cancel_requested);
    cr_assert_not(t_ginfo(g).is_cancelled);
    gate_open(&gate);
    crew_status_t st;
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    ASSERT_STATUS(t_join(ex, member), CREW_TASK_DONE);
    ASSERT_RC(crew_group_destroy(g), 0);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

/* ---- volume ----------------------------------------------------------------------- */

Test(cancel_group, a_million_queued_members_cancelled_leave_nothing_behind,
     .timeout = CREW_TEST_TIMEOUT * 2)
{
    long n = t_scaled(1000000, 1000);
    crew_t *ex = t_create(2);
    crew_group_t *g = t_group(ex, NULL, 0);
    gate_t gate;
    gate_init(&gate);
    saturate(ex, &gate);
    atomic_int ran = 0;
    crew_task_desc_t d = {.fn = count_task, .arg = &ran, .cleanup = NULL, .group = g};
    for (long i = 0; i < n; i++) {
        int rc = crew_submit_ex(ex, &d, NULL);
        if (rc != 0)
            cr_assert_fail("task %ld: %s", i, t_rc_name(rc));
    }
    ASSERT_RC(crew_group_cancel(g, 0, NULL), 0);
    /* crew_group_cancel may leave removal to the workers: let them go */
    gate_open(&gate);
    crew_status_t st;
    ASSERT_RC(crew_group_wait(g, (int64_t)(T_HANG_S * 1e9), &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    cr_assert_eq(t_ginfo(g).removed, (uint64_t)n);
    ASSERT_RC(crew_group_destroy(g), 0);
    crew_stats_t s = t_settle(ex);
    cr_assert_eq(s.removed, (uint64_t)n);
    cr_assert_eq(s.live_records, 0);
    cr_assert_eq(atomic_load(&ran), 0);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}
