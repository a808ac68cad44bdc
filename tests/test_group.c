/* test_group.c - groups without cancellation: membership, inheritance by
 * spawned tasks, nesting, waiting, outcomes, counts, lifetime. */
#include "crit.h"

Test(group, wait_returns_done_once_every_member_is_done, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g = t_group(ex, NULL, 0);
    gate_t gate;
    gate_init(&gate);
    atomic_int n = 0;
    for (int i = 0; i < 100; i++)
        ASSERT_RC(t_submit_to(ex, g, count_task, &n, NULL), 0);
    ASSERT_RC(t_submit_to(ex, g, gate_task, &gate, NULL), 0);
    gate_await_arrivals(&gate, 1);
    crew_status_t st;
    ASSERT_RC(crew_group_wait(g, 0, &st), CREW_ETIMEDOUT);
    ASSERT_RC(crew_group_wait(g, 5000000, &st), CREW_ETIMEDOUT);
    crew_group_info_t i = t_ginfo(g);
    cr_assert_eq(i.live, 1, "the blocked member is live (live=%llu)", (unsigned long long)i.live);
    gate_open(&gate);
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&n), 100);
    i = t_ginfo(g);
    cr_assert_eq(i.id, crew_group_id(g));
    cr_assert_eq(i.live, 0);
    cr_assert_eq(i.submitted, 101);
    cr_assert_eq(i.done, 101);
    cr_assert_eq(i.failed + i.cancelled + i.removed + i.cancelled_running + i.late_cancels, 0);
    cr_assert_not(i.is_cancelled);
    cr_assert_eq(i.first_failure, 0);
    ASSERT_RC(crew_group_destroy(g), 0);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

/* A member of group a that queues a long task of group b behind itself:
 * the worker goes from one to the other without idling. */
typedef struct ab {
    gate_t gate;
    crew_group_t *b;
    atomic_int n;
} ab_t;

static int a_then_b(void *arg)
{
    ab_t *x = arg;
    crew_task_desc_t d = {
        .fn = gate_task, .arg = &x->gate, .group = x->b, .flags = CREW_TASK_ISOLATED};
    atomic_fetch_add(&x->n, 1);
    cr_assert_eq(crew_submit_ex(crew_current(), &d, NULL), 0);
    return 0;
}

/* A worker counts the DONE members it ran in its own word and takes them
 * off their group later (group.c, deferred member counts): before it starts
 * a task of another group, so a long task there never holds the first
 * group's wait; joined members leave the group destroyable at once. */
Test(group, a_worker_busy_in_another_group_does_not_hold_a_finished_group, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_group_t *a = t_group(ex, NULL, 0);
    ab_t x = {.b = t_group(ex, NULL, 0)};
    crew_status_t st;
    gate_init(&x.gate);
    ASSERT_RC(t_submit_to(ex, a, a_then_b, &x, NULL), 0);
    gate_await_arrivals(&x.gate, 1); /* the worker is inside b's task */
    ASSERT_RC(crew_group_wait(a, (int64_t)5 * 1000000000, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    cr_assert_eq(t_ginfo(a).live, 0);
    cr_assert_eq(t_ginfo(a).done, 1);
    ASSERT_RC(crew_group_destroy(a), 0);
    /* Joined one by one: no member left to wait for, whatever the worker's
     * word still holds. */
    crew_id_t ids[10];
    for (int i = 0; i < 10; i++)
        ASSERT_RC(t_submit_to(ex, x.b, count_task, &x.n, &ids[i]), 0);
    gate_open(&x.gate);
    for (int i = 0; i < 10; i++)
        ASSERT_STATUS(t_join(ex, ids[i]), CREW_TASK_DONE);
    T_WAIT_UNTIL(t_ginfo(x.b).done == 11, T_HANG_S);
    cr_assert_eq(t_ginfo(x.b).live, 0);
    ASSERT_RC(crew_group_destroy(x.b), 0);
    cr_assert_eq(atomic_load(&x.n), 11);
    gate_destroy(&x.gate);
    DESTROY_CLEAN(&ex);
}

Test(group, empty_group_wait_returns_done_at_once, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_group_t *g = t_group(ex, NULL, 0);
    crew_status_t st;
    ASSERT_RC(crew_group_wait(g, 0, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}

Test(group, member_is_shown_in_its_group_by_inspect, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_group_t *g = t_group(ex, NULL, 0);
    crew_id_t id;
    ASSERT_RC(t_submit_to(ex, g, noop_task, NULL, &id), 0);
    ASSERT_STATUS(t_wait(ex, id), CREW_TASK_DONE);
    cr_assert_eq(t_inspect(ex, id).group, crew_group_id(g));
    ASSERT_RC(crew_release(ex, id), 0);
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- spawned tasks inherit the group ----------------------------------------- */

typedef struct kid {
    gate_t *gate;
    crew_group_t *into; /* NULL: inherit */
    crew_id_t child;
    int rc;
} kid_t;

static int spawn_blocked_child(void *arg)
{
    kid_t *k = arg;
    crew_task_desc_t d = {.fn = gate_task, .arg = k->gate, .cleanup = NULL, .group = k->into};
    k->rc = crew_submit_ex(crew_current(), &d, &k->child);
    return 0; /* returns while the child is still blocked */
}

Test(group, tasks_spawned_by_a_member_join_its_group_and_are_waited_for, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g = t_group(ex, NULL, 0);
    gate_t gate;
    gate_init(&gate);
    kid_t k = {&gate, NULL, 0, 99};
    crew_id_t parent;
    ASSERT_RC(t_submit_to(ex, g, spawn_blocked_child, &k, &parent), 0);
    ASSERT_STATUS(t_join(ex, parent), CREW_TASK_DONE);
    ASSERT_RC(k.rc, 0);
    gate_await_arrivals(&gate, 1);
    crew_task_info_t ci = t_inspect(ex, k.child);
    cr_assert_eq(ci.group, crew_group_id(g), "child group %llu, want %llu",
                 (unsigned long long)ci.group, (unsigned long long)crew_group_id(g));
    cr_assert_eq(ci.parent, parent);
    crew_group_info_t i = t_ginfo(g);
    cr_assert_eq(i.submitted, 2);
    cr_assert_eq(i.live, 1);
    crew_status_t st;
    ASSERT_RC(crew_group_wait(g, 0, &st), CREW_ETIMEDOUT);
    ASSERT_RC(crew_group_destroy(g), CREW_EBUSY);
    gate_open(&gate);
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    ASSERT_STATUS(t_join(ex, k.child), CREW_TASK_DONE);
    ASSERT_RC(crew_group_destroy(g), 0);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

Test(group, spawned_task_goes_to_the_group_its_desc_names, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g1 = t_group(ex, NULL, 0), *g2 = t_group(ex, NULL, 0);
    gate_t gate;
    gate_init(&gate);
    kid_t k = {&gate, g2, 0, 99};
    crew_id_t parent;
    ASSERT_RC(t_submit_to(ex, g1, spawn_blocked_child, &k, &parent), 0);
    ASSERT_STATUS(t_join(ex, parent), CREW_TASK_DONE);
    ASSERT_RC(k.rc, 0);
    gate_await_arrivals(&gate, 1);
    cr_assert_eq(t_inspect(ex, k.child).group, crew_group_id(g2));
    crew_status_t st;
    ASSERT_RC(crew_group_wait(g1, 0, &st), 0); /* g1's only member is done */
    ASSERT_STATUS(st, CREW_TASK_DONE);
    ASSERT_RC(crew_group_wait(g2, 0, &st), CREW_ETIMEDOUT);
    cr_assert_eq(t_ginfo(g1).submitted, 1);
    cr_assert_eq(t_ginfo(g2).submitted, 1);
    gate_open(&gate);
    ASSERT_RC(crew_group_wait(g2, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(t_join(ex, k.child), CREW_TASK_DONE);
    ASSERT_RC(crew_group_destroy(g1), 0);
    ASSERT_RC(crew_group_destroy(g2), 0);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

/* A tree of spawns several levels deep, all in one group: the group wait
 * covers every level. */
typedef struct gtree {
    int depth;
    atomic_int *count;
} gtree_t;

static int gtree_task(void *arg)
{
    gtree_t *t = arg;
    atomic_fetch_add(t->count, 1);
    if (t->depth == 0) {
        free(t);
        return 0;
    }
    for (int i = 0; i < 2; i++) {
        gtree_t *c = malloc(sizeof *c);
        *c = (gtree_t){t->depth - 1, t->count};
        if (crew_spawn(gtree_task, c, NULL) != 0)
            free(c);
    }
    free(t);
    return 0;
}

Test(group, group_wait_covers_detached_descendants_at_every_depth, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g = t_group(ex, NULL, 0);
    atomic_int count = 0;
    for (int r = 0; r < 4; r++) {
        gtree_t *root = malloc(sizeof *root);
        *root = (gtree_t){10, &count};
        ASSERT_RC(t_submit_to(ex, g, gtree_task, root, NULL), 0);
    }
    crew_status_t st;
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    /* read right after the wait: every descendant already counted itself */
    cr_assert_eq(atomic_load(&count), 4 * 2047);
    cr_assert_eq(t_ginfo(g).submitted, 4 * 2047);
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- nesting ---------------------------------------------------------------------- */

/* The header: a nested group is linked to its parent for cancellation only;
 * crew_group_wait waits for "the group's" live members (members spawned by
 * members included). A task submitted into the inner group is a member of
 * the inner group only. */
Test(group, nested_group_members_count_only_in_their_own_group, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *outer = t_group(ex, NULL, 0);
    crew_group_t *inner = t_group(ex, outer, 0);
    gate_t gate;
    gate_init(&gate);
    atomic_int n = 0;
    ASSERT_RC(t_submit_to(ex, outer, count_task, &n, NULL), 0);
    ASSERT_RC(t_submit_to(ex, inner, gate_task, &gate, NULL), 0);
    gate_await_arrivals(&gate, 1);
    crew_status_t st;
    ASSERT_RC(crew_group_wait(outer, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&n), 1);
    crew_group_info_t oi = t_ginfo(outer), ii = t_ginfo(inner);
    cr_assert_eq(oi.submitted, 1, "outer submitted %llu", (unsigned long long)oi.submitted);
    cr_assert_eq(oi.live, 0);
    cr_assert_eq(ii.submitted, 1);
    cr_assert_eq(ii.live, 1);
    ASSERT_RC(crew_group_wait(inner, 0, &st), CREW_ETIMEDOUT);
    /* a parent may not be destroyed before its nested groups */
    ASSERT_RC(crew_group_destroy(outer), CREW_EBUSY);
    ASSERT_RC(crew_group_destroy(inner), CREW_EBUSY);
    gate_open(&gate);
    ASSERT_RC(crew_group_wait(inner, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    ASSERT_RC(crew_group_destroy(outer), CREW_EBUSY);
    ASSERT_RC(crew_group_destroy(inner), 0);
    ASSERT_RC(crew_group_destroy(outer), 0);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

Test(group, waiting_on_each_nested_group_waits_for_its_members, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *a = t_group(ex, NULL, 0);
    crew_group_t *b = t_group(ex, a, 0);
    crew_group_t *c = t_group(ex, b, 0);
    atomic_int na = 0, nb = 0, nc = 0;
    for (int i = 0; i < 300; i++) {
        ASSERT_RC(t_submit_to(ex, a, count_task, &na, NULL), 0);
        ASSERT_RC(t_submit_to(ex, b, count_task, &nb, NULL), 0);
        ASSERT_RC(t_submit_to(ex, c, count_task, &nc, NULL), 0);
    }
    crew_status_t st;
    ASSERT_RC(crew_group_wait(c, CREW_FOREVER, &st), 0);
    cr_assert_eq(atomic_load(&nc), 300);
    ASSERT_RC(crew_group_wait(b, CREW_FOREVER, &st), 0);
    cr_assert_eq(atomic_load(&nb), 300);
    ASSERT_RC(crew_group_wait(a, CREW_FOREVER, &st), 0);
    cr_assert_eq(atomic_load(&na), 300);
    ASSERT_RC(crew_group_destroy(c), 0);
    ASSERT_RC(crew_group_destroy(b), 0);
    ASSERT_RC(crew_group_destroy(a), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- outcomes -------------------------------------------------------------------------- */

Test(group, wait_reports_the_first_failure_without_cancelling_the_rest, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g = t_group(ex, NULL, 0);
    gate_t gate;
    gate_init(&gate);
    crew_id_t first, second, slow;
    ASSERT_RC(t_submit_to(ex, g, gate_task, &gate, &slow), 0);
    gate_await_arrivals(&gate, 1);
    ASSERT_RC(t_submit_to(ex, g, ret_task, (void *)(intptr_t)4, &first), 0);
    ASSERT_STATUS(t_wait(ex, first), CREW_TASK_FAILED);
    ASSERT_RC(t_submit_to(ex, g, ret_task, (void *)(intptr_t)5, &second), 0);
    ASSERT_STATUS(t_wait(ex, second), CREW_TASK_FAILED);
    gate_open(&gate);
    crew_status_t st;
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_FAILED);
    ASSERT_STATUS(t_join(ex, slow), CREW_TASK_DONE); /* not cancelled */
    crew_group_info_t i = t_ginfo(g);
    cr_assert_eq(i.first_failure, first);
    cr_assert_eq(i.first_failure_result, 4);
    cr_assert_eq(i.failed, 2);
    cr_assert_eq(i.done, 1);
    cr_assert_eq(i.cancelled, 0);
    cr_assert_not(i.is_cancelled);
    ASSERT_STATUS(t_join(ex, first), CREW_TASK_FAILED);
    ASSERT_STATUS(t_join(ex, second), CREW_TASK_FAILED);
    ASSERT_RC(crew_group_destroy(g), 0);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

Test(group, group_stays_usable_after_a_wait, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g = t_group(ex, NULL, 0);
    atomic_int n = 0;
    for (int round = 1; round <= 5; round++) {
        for (int i = 0; i < 50; i++)
            ASSERT_RC(t_submit_to(ex, g, count_task, &n, NULL), 0);
        crew_status_t st;
        ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
        ASSERT_STATUS(st, CREW_TASK_DONE);
        cr_assert_eq(atomic_load(&n), 50 * round);
        cr_assert_eq(t_ginfo(g).submitted, (uint64_t)(50 * round));
    }
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}

/* ---- waiting from a task ------------------------------------------------------------------ */

typedef struct gwaiter {
    crew_group_t *g;
    atomic_int n;
    int rc;
    crew_status_t st;
} gwaiter_t;

static int gwaiter_task(void *arg)
{
    gwaiter_t *w = arg;
    for (int i = 0; i < 20; i++) {
        crew_task_desc_t d = {.fn = count_task, .arg = &w->n, .cleanup = NULL, .group = w->g};
        if (crew_submit_ex(crew_current(), &d, NULL) != 0)
            return 1;
    }
    w->rc = crew_group_wait(w->g, (int64_t)(T_HANG_S / 2 * 1e9), &w->st);
    return 0;
}

Test(group, group_wait_inside_a_task_helps_on_one_worker, T_OPTS)
{
    crew_t *ex = t_create(1);
    gwaiter_t w;
    memset(&w, 0, sizeof w);
    w.g = t_group(ex, NULL, 0);
    w.rc = 99;
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, gwaiter_task, &w, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    ASSERT_RC(w.rc, 0);
    ASSERT_STATUS(w.st, CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&w.n), 20);
    ASSERT_RC(crew_group_destroy(w.g), 0);
    DESTROY_CLEAN(&ex);
}

/* A member that blocks at a gate, noting the worker it runs on. */
typedef struct gmember {
    gate_t gate;
    atomic_int worker;
} gmember_t;

static int gmember_task(void *arg)
{
    gmember_t *m = arg;
    atomic_store(&m->worker, crew_worker_index());
    gate_pass(&m->gate);
    return 0;
}

/* A task that waits for a group, noting its thread and worker first. */
typedef struct gparked {
    crew_group_t *g;
    atomic_int tid, worker, entered, done;
    int rc;
    crew_status_t st;
} gparked_t;

static int gparked_task(void *arg)
{
    gparked_t *w = arg;
    atomic_store(&w->tid, (int)t_gettid());
    atomic_store(&w->worker, crew_worker_index());
    flag_set(&w->entered);
    w->rc = crew_group_wait(w->g, T_HANG_NS, &w->st);
    flag_set(&w->done);
    return 0;
}

/* The waiting task has nothing to help with, so it parks; the last member
 * then finishes on another worker, which must wake it. */
static void check_group_wait_woken_from_another_worker(unsigned workers)
{
    crew_t *ex = t_create(workers);
    gmember_t m;
    gate_init(&m.gate);
    atomic_init(&m.worker, -1);
    gparked_t w;
    memset(&w, 0, sizeof w);
    w.g = t_group(ex, NULL, 0);
    w.rc = 99;
    crew_id_t mid, wid;
    ASSERT_RC(t_submit_to(ex, w.g, gmember_task, &m, &mid), 0);
    gate_await_arrivals(&m.gate, 1);
    ASSERT_RC(crew_submit(ex, gparked_task, &w, &wid), 0);
    flag_await(&w.entered);
    cr_assert_neq(atomic_load(&w.worker), atomic_load(&m.worker));
    /* Parked: its thread sleeps in the kernel (the only place a waiting
     * worker sleeps is the park futex). */
    cr_assert(T_WAIT_UNTIL(t_thread_sleeping(atomic_load(&w.tid)), T_HANG_S),
              "the waiting task never parked");
    gate_open(&m.gate);
    cr_assert(T_WAIT_UNTIL(flag_get(&w.done), 2.0),
              "crew_group_wait not woken within 2 s of its last member "
              "finishing on another worker (%u workers)",
              workers);
    ASSERT_RC(w.rc, 0);
    ASSERT_STATUS(w.st, CREW_TASK_DONE);
    ASSERT_STATUS(t_join(ex, wid), CREW_TASK_DONE);
    ASSERT_STATUS(t_join(ex, mid), CREW_TASK_DONE);
    ASSERT_RC(crew_group_destroy(w.g), 0);
    gate_destroy(&m.gate);
    DESTROY_CLEAN(&ex);
}

Test(group, group_wait_in_a_parked_task_is_woken_by_the_last_member_on_another_worker_2_workers,
     T_OPTS)
{
    check_group_wait_woken_from_another_worker(2);
}
Test(group, group_wait_in_a_parked_task_is_woken_by_the_last_member_on_another_worker_8_workers,
     T_OPTS)
{
    check_group_wait_woken_from_another_worker(8);
}

/* ---- lifetime ------------------------------------------------------------------------------ */

Test(group, group_ids_are_nonzero_distinct_and_zero_for_null, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_group_t *a = t_group(ex, NULL, 0), *b = t_group(ex, a, 0);
    cr_assert_neq(crew_group_id(a), 0);
    cr_assert_neq(crew_group_id(b), 0);
    cr_assert_neq(crew_group_id(a), crew_group_id(b));
    cr_assert_eq(crew_group_id(NULL), 0);
    ASSERT_RC(crew_group_destroy(b), 0);
    ASSERT_RC(crew_group_destroy(a), 0);
    DESTROY_CLEAN(&ex);
}

Test(group, group_with_a_live_member_cannot_be_destroyed, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_group_t *g = t_group(ex, NULL, 0);
    gate_t gate;
    gate_init(&gate);
    ASSERT_RC(t_submit_to(ex, g, gate_task, &gate, NULL), 0);
    gate_await_arrivals(&gate, 1);
    ASSERT_RC(crew_group_destroy(g), CREW_EBUSY);
    /* the refused destroy changed nothing: the group still works */
    atomic_int n = 0;
    ASSERT_RC(t_submit_to(ex, g, count_task, &n, NULL), 0);
    gate_open(&gate);
    crew_status_t st;
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    cr_assert_eq(atomic_load(&n), 1);
    ASSERT_RC(crew_group_destroy(g), 0);
    gate_destroy(&gate);
    DESTROY_CLEAN(&ex);
}

Test(group, executor_with_a_live_group_is_destroyed_with_it, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_group_t *g = t_group(ex, NULL, 0);
    (void)g; /* not destroyed: crew_destroy frees it, as it does actors */
    DESTROY_CLEAN(&ex);
}

Test(group, groups_of_another_executor_are_refused, T_OPTS)
{
    crew_t *a = t_create(1), *b = t_create(1);
    crew_group_t *ga = t_group(a, NULL, 0), *gb = NULL;
    ASSERT_RC(crew_group_create(b, ga, 0, &gb), CREW_EWRONGEXEC);
    atomic_int cleanups = 0;
    crew_task_desc_t d = {.fn = noop_task, .arg = &cleanups, .cleanup = count_cleanup, .group = ga};
    ASSERT_RC(crew_submit_ex(b, &d, NULL), CREW_EWRONGEXEC);
    cr_assert_eq(atomic_load(&cleanups), 0);
    cr_assert_eq(t_ginfo(ga).submitted, 0);
    ASSERT_RC(crew_group_destroy(ga), 0);
    DESTROY_CLEAN(&a);
    DESTROY_CLEAN(&b);
}
