/* test_submit.c - submission from outside and inside, batches, IDs,
 * cleanup callbacks, joinable and detached handles. */
#include "crit.h"

#ifdef CREW_TEST_HAVE_FAULT
#include "fault.h"
#endif

/* ---- a million tasks from four threads, each exactly once ------------------ */

typedef struct slots {
    _Atomic uint8_t *hit; /* hit[i]: how many times task i ran */
    atomic_ullong sum;    /* sum of (i + 1) over runs */
} slots_t;

typedef struct mtask {
    slots_t *s;
    long i;
} mtask_t;

static int slot_task(void *arg)
{
    mtask_t *t = arg;
    atomic_fetch_add_explicit(&t->s->hit[t->i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->s->sum, (unsigned long long)t->i + 1, memory_order_relaxed);
    return 0;
}

typedef struct submitter {
    crew_t *ex;
    crew_group_t *g;
    mtask_t *tasks;
    long from, to;
    int rc;
} submitter_t;

static void *submitter_main(void *arg)
{
    submitter_t *s = arg;
    for (long i = s->from; i < s->to; i++) {
        crew_task_desc_t d = {.fn = slot_task, .arg = &s->tasks[i], .cleanup = NULL, .group = s->g};
        int rc = crew_submit_ex(s->ex, &d, NULL);
        if (rc != 0) {
            s->rc = rc;
            break;
        }
    }
    return NULL;
}

Test(submit, a_million_detached_tasks_from_four_threads_each_run_exactly_once,
     .timeout = CREW_TEST_TIMEOUT * 2)
{
    long n = t_scaled(1000000, 1000);
    crew_t *ex = t_create(0);
    crew_group_t *g;
    ASSERT_RC(crew_group_create(ex, NULL, 0, &g), 0);
    slots_t s;
    s.hit = calloc((size_t)n, 1);
    atomic_init(&s.sum, 0);
    mtask_t *tasks = malloc(sizeof *tasks * (size_t)n);
    cr_assert(s.hit && tasks);
    for (long i = 0; i < n; i++)
        tasks[i] = (mtask_t){&s, i};
    submitter_t sub[4];
    pthread_t th[4];
    for (int k = 0; k < 4; k++) {
        sub[k] = (submitter_t){ex, g, tasks, n * k / 4, n * (k + 1) / 4, 0};
        cr_assert_eq(pthread_create(&th[k], NULL, submitter_main, &sub[k]), 0);
    }
    for (int k = 0; k < 4; k++) {
        pthread_join(th[k], NULL);
        ASSERT_RC(sub[k].rc, 0);
    }
    crew_status_t st;
    ASSERT_RC(crew_group_wait(g, (int64_t)(T_HANG_S * 3e9), &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    long zero = 0, twice = 0, first_bad = -1;
    for (long i = 0; i < n; i++) {
        uint8_t h = atomic_load_explicit(&s.hit[i], memory_order_relaxed);
        if (h != 1 && first_bad < 0)
            first_bad = i;
        zero += h == 0;
        twice += h > 1;
    }
    cr_assert(zero == 0 && twice == 0,
              "%ld tasks never ran, %ld ran more than once (first: task %ld)", zero, twice,
              first_bad);
    unsigned long long want = (unsigned long long)n * (unsigned long long)(n + 1) / 2;
    cr_assert_eq(atomic_load(&s.sum), want);
    crew_group_info_t gi;
    gi.size = sizeof gi;
    ASSERT_RC(crew_group_info(g, &gi), 0);
    cr_assert_eq(gi.submitted, (uint64_t)n);
    cr_assert_eq(gi.done, (uint64_t)n);
    cr_assert_eq(gi.live, 0);
    ASSERT_RC(crew_group_destroy(g), 0);
    crew_stats_t stats = t_settle(ex);
    cr_assert_eq(stats.submitted, (uint64_t)n);
    cr_assert_eq(stats.done, (uint64_t)n);
    free(s.hit);
    free(tasks);
    DESTROY_CLEAN(&ex);
}

/* ---- batches -------------------------------------------------------------- */

Test(submit, batch_runs_every_task_once_and_fills_distinct_ids, T_OPTS)
{
    enum { N = 1000 };
    crew_t *ex = t_create(2);
    static atomic_int hits[N];
    static void *args[N];
    for (int i = 0; i < N; i++) {
        atomic_init(&hits[i], 0);
        args[i] = &hits[i];
    }
    static crew_id_t ids[N];
    crew_task_desc_t d = {.fn = count_task, .arg = NULL, .cleanup = NULL, .group = NULL};
    ASSERT_RC(crew_submit_batch(ex, &d, args, N, ids), 0);
    for (int i = 0; i < N; i++) {
        cr_assert_neq(ids[i], 0, "ids[%d] not filled", i);
        for (int j = 0; j < i; j++)
            cr_assert_neq(ids[i], ids[j], "ids[%d] == ids[%d]", i, j);
    }
    for (int i = 0; i < N; i++)
        ASSERT_STATUS(t_join(ex, ids[i]), CREW_TASK_DONE);
    for (int i = 0; i < N; i++)
        cr_assert_eq(atomic_load(&hits[i]), 1, "task %d ran %d times", i, atomic_load(&hits[i]));
    DESTROY_CLEAN(&ex);
}

Test(submit, detached_batch_into_a_group_runs_every_task_once, T_OPTS)
{
    enum { N = 5000 };
    crew_t *ex = t_create(2);
    crew_group_t *g;
    ASSERT_RC(crew_group_create(ex, NULL, 0, &g), 0);
    static atomic_int hits[N];
    static void *args[N];
    for (int i = 0; i < N; i++) {
        atomic_init(&hits[i], 0);
        args[i] = &hits[i];
    }
    crew_task_desc_t d = {.fn = count_task, .arg = NULL, .cleanup = NULL, .group = g};
    ASSERT_RC(crew_submit_batch(ex, &d, args, N, NULL), 0);
    crew_status_t st;
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    for (int i = 0; i < N; i++)
        cr_assert_eq(atomic_load(&hits[i]), 1, "task %d ran %d times", i, atomic_load(&hits[i]));
    crew_group_info_t gi;
    gi.size = sizeof gi;
    ASSERT_RC(crew_group_info(g, &gi), 0);
    cr_assert_eq(gi.submitted, N);
    cr_assert_eq(gi.done, N);
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(&ex);
}

Test(submit, empty_batch_is_accepted_and_submits_nothing, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_task_desc_t d = {.fn = noop_task, .arg = NULL, .cleanup = NULL, .group = NULL};
    ASSERT_RC(crew_submit_batch(ex, &d, NULL, 0, NULL), 0);
    cr_assert_eq(t_stats(ex).submitted, 0);
    DESTROY_CLEAN(&ex);
}

Test(submit, refused_batch_submits_nothing_and_runs_no_cleanup, T_OPTS)
{
    enum { N = 16 };
    crew_t *ex = t_create(2), *other = t_create(1);
    crew_group_t *og;
    ASSERT_RC(crew_group_create(other, NULL, 0, &og), 0);
    atomic_int runs = 0, cleanups = 0;
    void *args[N];
    for (int i = 0; i < N; i++)
        args[i] = &runs;
    crew_id_t ids[N];
    /* args NULL with n > 0 */
    crew_task_desc_t d = {.fn = count_task, .arg = NULL, .cleanup = count_cleanup, .group = NULL};
    ASSERT_RC(crew_submit_batch(ex, &d, NULL, N, ids), CREW_EINVAL);
    /* fn NULL */
    crew_task_desc_t nofn = {.fn = NULL, .arg = NULL, .cleanup = count_cleanup, .group = NULL};
    ASSERT_RC(crew_submit_batch(ex, &nofn, args, N, ids), CREW_EINVAL);
    /* group of another executor */
    crew_task_desc_t wrong = {.fn = count_task, .arg = NULL, .cleanup = count_cleanup, .group = og};
    ASSERT_RC(crew_submit_batch(ex, &wrong, args, N, ids), CREW_EWRONGEXEC);
    cr_assert_eq(t_stats(ex).submitted, 0);
    /* after shutdown */
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    ASSERT_RC(crew_submit_batch(ex, &d, args, N, ids), CREW_ESHUTDOWN);
    cr_assert_eq(t_stats(ex).submitted, 0);
    cr_assert_eq(atomic_load(&runs), 0);
    cr_assert_eq(atomic_load(&cleanups), 0);
    ASSERT_RC(crew_group_destroy(og), 0);
    DESTROY_CLEAN(&other);
    DESTROY_CLEAN(&ex);
}

#ifdef CREW_TEST_HAVE_FAULT
typedef struct cl_arg {
    atomic_int *runs, *cleanups;
} cl_arg_t;
static int cl_run(void *arg)
{
    atomic_fetch_add(((cl_arg_t *)arg)->runs, 1);
    return 0;
}
static void cl_clean(void *arg) { atomic_fetch_add(((cl_arg_t *)arg)->cleanups, 1); }

/* Walk every allocation of a batch submission: each either fails with
 * CREW_ENOMEM having submitted nothing, or succeeds entirely. */
Test(submit, batch_is_all_or_nothing_under_allocation_failure, T_OPTS)
{
    enum { N = 200 };
    crew_t *ex = t_create(2);
    atomic_int runs = 0, cleanups = 0;
    cl_arg_t a = {&runs, &cleanups};
    void *args[N];
    for (int i = 0; i < N; i++)
        args[i] = &a;
    crew_task_desc_t d = {.fn = cl_run, .arg = NULL, .cleanup = cl_clean, .group = NULL};
    crew_id_t ids[N];
    for (int64_t k = 0; k < 10000; k++) {
        crew_stats_t s0 = t_settle(ex);
        int r0 = atomic_load(&runs), c0 = atomic_load(&cleanups);
        crew__fault_fail_alloc_at(k);
        int rc = crew_submit_batch(ex, &d, args, N, k % 2 ? ids : NULL);
        crew__fault_reset();
        if (rc == CREW_ENOMEM) {
            crew_stats_t s1 = t_settle(ex);
            cr_assert_eq(s1.submitted, s0.submitted, "k=%lld: failed batch submitted %llu tasks",
                         (long long)k, (unsigned long long)(s1.submitted - s0.submitted));
            cr_assert_eq(atomic_load(&runs), r0, "k=%lld: failed batch ran", (long long)k);
            cr_assert_eq(atomic_load(&cleanups), c0, "k=%lld: failed batch ran cleanups",
                         (long long)k);
            continue;
        }
        ASSERT_RC(rc, 0);
        if (k % 2)
            for (int i = 0; i < N; i++)
                ASSERT_STATUS(t_join(ex, ids[i]), CREW_TASK_DONE);
        crew_stats_t s1 = t_settle(ex);
        cr_assert_eq(s1.submitted - s0.submitted, N);
        cr_assert_eq(atomic_load(&runs) - r0, N);
        cr_assert_eq(atomic_load(&cleanups) - c0, N);
        /* The k-th allocation from now fails and later ones succeed: once
         * k is past the batch's last allocation, every larger k succeeds. */
        break;
    }
    DESTROY_CLEAN(&ex);
}
#endif

/* ---- ids ------------------------------------------------------------------- */

static int cmp_id(const void *a, const void *b)
{
    crew_id_t x = *(const crew_id_t *)a, y = *(const crew_id_t *)b;
    return x < y ? -1 : x > y;
}

Test(submit, task_and_group_ids_are_nonzero_and_never_repeat, T_OPTS)
{
    enum { N = 4000, G = 8 };
    crew_t *ex = t_create(2);
    static crew_id_t ids[N + G];
    crew_group_t *gs[G];
    for (int i = 0; i < N; i++) {
        ASSERT_RC(crew_submit(ex, noop_task, NULL, &ids[i]), 0);
        if (i % 500 == 0) {
            ASSERT_RC(crew_group_create(ex, NULL, 0, &gs[i / 500]), 0);
            ids[N + i / 500] = crew_group_id(gs[i / 500]);
        }
        if (i % 2) /* releasing must not let an ID come back */
            ASSERT_STATUS(t_join(ex, ids[i]), CREW_TASK_DONE);
    }
    for (int i = 0; i < N; i += 2)
        ASSERT_STATUS(t_join(ex, ids[i]), CREW_TASK_DONE);
    for (int i = 0; i < G; i++)
        ASSERT_RC(crew_group_destroy(gs[i]), 0);
    qsort(ids, N + G, sizeof ids[0], cmp_id);
    cr_assert_neq(ids[0], 0);
    for (int i = 1; i < N + G; i++)
        cr_assert_neq(ids[i], ids[i - 1], "ID %llu given twice", (unsigned long long)ids[i]);
    DESTROY_CLEAN(&ex);
}

/* ---- handles -------------------------------------------------------------------- */

Test(submit, joinable_task_stays_inspectable_until_released, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_id_t ok, bad;
    ASSERT_RC(crew_submit(ex, ret_task, (void *)(intptr_t)0, &ok), 0);
    ASSERT_RC(crew_submit(ex, ret_task, (void *)(intptr_t)42, &bad), 0);
    ASSERT_STATUS(t_wait(ex, ok), CREW_TASK_DONE);
    ASSERT_STATUS(t_wait(ex, bad), CREW_TASK_FAILED);
    crew_task_info_t i1 = t_inspect(ex, ok), i2 = t_inspect(ex, bad);
    cr_assert_eq(i1.id, ok);
    ASSERT_STATUS(i1.status, CREW_TASK_DONE);
    cr_assert_eq(i1.result, 0);
    cr_assert_eq(i1.parent, 0);
    cr_assert_eq(i1.group, 0);
    cr_assert_not(i1.cancel_requested);
    cr_assert_eq(i1.cause, CREW_CAUSE_NONE);
    cr_assert_eq(i1.cancel_code, 0);
    cr_assert_str_eq(i1.reason, "");
    ASSERT_STATUS(i2.status, CREW_TASK_FAILED);
    cr_assert_eq(i2.result, 42, "FAILED keeps the body's return value");
    /* still there after any number of waits */
    ASSERT_STATUS(t_wait(ex, ok), CREW_TASK_DONE);
    ASSERT_RC(crew_release(ex, ok), 0);
    crew_task_info_t gone;
    gone.size = sizeof gone;
    ASSERT_RC(crew_inspect(ex, ok, &gone), CREW_ENOTASK);
    crew_status_t st;
    ASSERT_RC(crew_wait(ex, ok, 0, &st), CREW_ENOTASK);
    ASSERT_RC(crew_release(ex, ok), CREW_ENOTASK);
    ASSERT_RC(crew_join(ex, bad, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_FAILED);
    gone.size = sizeof gone;
    ASSERT_RC(crew_inspect(ex, bad, &gone), CREW_ENOTASK);
    DESTROY_CLEAN(&ex);
}

Test(submit, released_live_task_keeps_running_and_is_reclaimed, T_OPTS)
{
    crew_t *ex = t_create(1);
    gate_t g;
    gate_init(&g);
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, gate_task, &g, &id), 0);
    gate_await_arrivals(&g, 1);
    ASSERT_RC(crew_release(ex, id), 0);
    crew_task_info_t info;
    info.size = sizeof info;
    ASSERT_RC(crew_inspect(ex, id, &info), CREW_ENOTASK);
    cr_assert_eq(t_stats(ex).live_tasks, 1, "release must not end the task");
    gate_open(&g);
    ASSERT_CLEAN(ex);
    cr_assert_eq(t_stats(ex).done, 1);
    gate_destroy(&g);
    DESTROY_CLEAN(&ex);
}

typedef struct detached_probe {
    gate_t gate;
    _Atomic crew_id_t self;
} detached_probe_t;

static int detached_probe_task(void *arg)
{
    detached_probe_t *p = arg;
    atomic_store(&p->self, crew_self());
    gate_pass(&p->gate);
    return 0;
}

Test(submit, detached_task_has_no_handle_and_is_reclaimed_when_terminal, T_OPTS)
{
    crew_t *ex = t_create(1);
    detached_probe_t p;
    gate_init(&p.gate);
    atomic_init(&p.self, 0);
    ASSERT_RC(crew_submit(ex, detached_probe_task, &p, NULL), 0);
    gate_await_arrivals(&p.gate, 1);
    crew_id_t id = atomic_load(&p.self);
    cr_assert_neq(id, 0, "a detached task still has an ID");
    ASSERT_RC(crew_release(ex, id), CREW_ENOTASK);
    gate_open(&p.gate);
    ASSERT_CLEAN(ex);
    gate_destroy(&p.gate);
    DESTROY_CLEAN(&ex);
}

/* ---- cleanup ---------------------------------------------------------------- */

typedef struct order {
    atomic_int body, cleanup;
    atomic_int cleanup_saw_body; /* body had run when cleanup ran */
    atomic_int cleanup_arg_ok;
} order_t;

static int order_body(void *arg)
{
    order_t *o = arg;
    atomic_fetch_add(&o->body, 1);
    return 0;
}
static void order_cleanup(void *arg)
{
    order_t *o = arg;
    atomic_store(&o->cleanup_saw_body, atomic_load(&o->body));
    atomic_store(&o->cleanup_arg_ok, 1);
    atomic_fetch_add(&o->cleanup, 1);
}

Test(submit, cleanup_runs_once_after_the_body_and_before_waiters_see_the_end, T_OPTS)
{
    crew_t *ex = t_create(2);
    for (int round = 0; round < 200; round++) {
        order_t o;
        memset(&o, 0, sizeof o);
        crew_task_desc_t d = {.fn = order_body, .arg = &o, .cleanup = order_cleanup, .group = NULL};
        crew_id_t id;
        ASSERT_RC(crew_submit_ex(ex, &d, &id), 0);
        ASSERT_STATUS(t_wait(ex, id), CREW_TASK_DONE);
        /* terminal is visible to the waiter only after cleanup ran */
        cr_assert_eq(atomic_load(&o.cleanup), 1, "round %d", round);
        cr_assert_eq(atomic_load(&o.cleanup_saw_body), 1);
        cr_assert_eq(atomic_load(&o.cleanup_arg_ok), 1);
        ASSERT_RC(crew_release(ex, id), 0);
        cr_assert_eq(atomic_load(&o.body), 1);
        cr_assert_eq(atomic_load(&o.cleanup), 1);
    }
    DESTROY_CLEAN(&ex);
}

Test(submit, refused_submission_keeps_arg_and_runs_no_cleanup, T_OPTS)
{
    crew_t *ex = t_create(1), *other = t_create(1);
    crew_group_t *og;
    ASSERT_RC(crew_group_create(other, NULL, 0, &og), 0);
    atomic_int cleanups = 0;
    crew_id_t id = 0;
    crew_task_desc_t nofn = {.fn = NULL, .arg = &cleanups, .cleanup = count_cleanup, .group = NULL};
    ASSERT_RC(crew_submit_ex(ex, &nofn, &id), CREW_EINVAL);
    crew_task_desc_t wrong = {
        .fn = count_task, .arg = &cleanups, .cleanup = count_cleanup, .group = og};
    ASSERT_RC(crew_submit_ex(ex, &wrong, &id), CREW_EWRONGEXEC);
    ASSERT_RC(crew_shutdown(ex, CREW_DRAIN), 0);
    crew_task_desc_t d = {
        .fn = count_task, .arg = &cleanups, .cleanup = count_cleanup, .group = NULL};
    ASSERT_RC(crew_submit_ex(ex, &d, &id), CREW_ESHUTDOWN);
    ASSERT_RC(crew_submit_ex(ex, &d, NULL), CREW_ESHUTDOWN);
    cr_assert_eq(atomic_load(&cleanups), 0);
    cr_assert_eq(t_stats(ex).submitted, 0);
    ASSERT_RC(crew_group_destroy(og), 0);
    DESTROY_CLEAN(&other);
    DESTROY_CLEAN(&ex);
}

/* ---- spawning ------------------------------------------------------------------ */

typedef struct spawner {
    crew_id_t child;
    int rc;
    crew_id_t self;
} spawner_t;

static int spawner_task(void *arg)
{
    spawner_t *s = arg;
    s->self = crew_self();
    s->rc = crew_spawn(noop_task, NULL, &s->child);
    return 0;
}

Test(submit, spawned_task_is_a_child_of_the_spawning_task, T_OPTS)
{
    crew_t *ex = t_create(2);
    spawner_t s;
    memset(&s, 0, sizeof s);
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, spawner_task, &s, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    ASSERT_RC(s.rc, 0);
    cr_assert_neq(s.child, 0);
    ASSERT_STATUS(t_wait(ex, s.child), CREW_TASK_DONE);
    crew_task_info_t info = t_inspect(ex, s.child);
    cr_assert_eq(info.parent, s.self);
    cr_assert_eq(info.parent, id);
    ASSERT_STATUS(t_join(ex, s.child), CREW_TASK_DONE);
    DESTROY_CLEAN(&ex);
}

/* Tasks spawned inside tasks, several levels deep, all counted. */
typedef struct tree {
    int depth;
    atomic_int *count;
} tree_t;

static int tree_task(void *arg)
{
    tree_t *t = arg;
    atomic_fetch_add(t->count, 1);
    if (t->depth == 0)
        return 0;
    tree_t kids[3];
    crew_id_t ids[3];
    int spawned = 0, bad = 0;
    for (int i = 0; i < 3; i++) {
        kids[i] = (tree_t){t->depth - 1, t->count};
        if (crew_spawn(tree_task, &kids[i], &ids[i]) == 0)
            spawned++;
        else
            bad = 1;
    }
    for (int i = 0; i < spawned; i++) {
        crew_status_t st;
        if (crew_join(crew_current(), ids[i], &st) != 0 || st != CREW_TASK_DONE)
            bad = 1;
    }
    return bad;
}

Test(submit, nested_spawns_all_run_once, T_OPTS)
{
    crew_t *ex = t_create(2);
    atomic_int count = 0;
    tree_t root = {7, &count};
    crew_id_t id;
    ASSERT_RC(crew_submit(ex, tree_task, &root, &id), 0);
    ASSERT_STATUS(t_join(ex, id), CREW_TASK_DONE);
    /* 1 + 3 + ... + 3^7 */
    cr_assert_eq(atomic_load(&count), (2187 * 3 - 1) / 2);
    DESTROY_CLEAN(&ex);
}

Test(submit, spawn_outside_a_task_is_refused, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_id_t id = 0;
    ASSERT_RC(crew_spawn(noop_task, NULL, &id), CREW_ENOTINTASK);
    ASSERT_RC(crew_spawn(noop_task, NULL, NULL), CREW_ENOTINTASK);
    cr_assert_eq(t_stats(ex).submitted, 0);
    DESTROY_CLEAN(&ex);
}

/* ---- stats ------------------------------------------------------------------------ */

Test(submit, stats_count_done_and_failed_exactly, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_id_t ids[30];
    for (int i = 0; i < 30; i++)
        ASSERT_RC(crew_submit(ex, ret_task, (void *)(intptr_t)(i % 3 == 0 ? 7 : 0), &ids[i]), 0);
    for (int i = 0; i < 30; i++)
        ASSERT_STATUS(t_join(ex, ids[i]), i % 3 == 0 ? CREW_TASK_FAILED : CREW_TASK_DONE);
    crew_stats_t s = t_settle(ex);
    cr_assert_eq(s.submitted, 30);
    cr_assert_eq(s.done, 20);
    cr_assert_eq(s.failed, 10);
    cr_assert_eq(s.cancelled, 0);
    cr_assert_eq(s.removed + s.cancelled_running + s.late_cancels, 0);
    DESTROY_CLEAN(&ex);
}

/* ---- batch carriers: a batch from outside without IDs -------------------------
 * (crew.h, crew_submit_batch: consecutive tasks share a record that runs
 * them one after another, each with its own ID, status and group count) */

enum { CN = 512 };

typedef struct citem {
    struct cbatch *b;
    int i;
} citem_t;

typedef struct cbatch {
    citem_t it[CN];
    void *args[CN];
    atomic_int ran[CN], cleaned[CN];
    _Atomic crew_id_t self[CN];
    gate_t gate, gate2;
    int block_at;  /* this item waits at the gate (-1: none) */
    int block2_at; /* this item waits at gate2 (-1: none) */
    bool anon;     /* items do not call crew_self(), except name_at */
    int name_at;
    int self_cancel; /* this item cancels itself by ID (-1: none) */
    int fail_every;  /* items i % fail_every == 1 return 7 (0: none) */
    int spawn_at;    /* this item spawns a child that waits at the gate */
    atomic_int child_ran;
    atomic_int cancelled_seen;
    /* Batch deadlines (cdl_run): what task block_at saw. */
    bool own_clear; /* it clears its own deadline and must not be cancelled */
    _Atomic int64_t dl_seen, eff_seen;
    atomic_int cause_seen;
} cbatch_t;

static int cchild(void *arg)
{
    cbatch_t *b = arg;
    gate_pass(&b->gate);
    atomic_fetch_add(&b->child_ran, 1);
    return 0;
}

static int citem_run(void *arg)
{
    citem_t *it = arg;
    cbatch_t *b = it->b;
    atomic_fetch_add(&b->ran[it->i], 1);
    if (!b->anon || it->i == b->name_at)
        atomic_store(&b->self[it->i], crew_self());
    if (it->i == b->block_at) {
        gate_pass(&b->gate);
        if (crew_cancelled())
            atomic_fetch_add(&b->cancelled_seen, 1);
    }
    if (it->i == b->block2_at) {
        gate_pass(&b->gate2);
        if (crew_cancelled())
            atomic_fetch_add(&b->cancelled_seen, 1);
    }
    if (it->i == b->spawn_at)
        cr_assert_eq(crew_spawn(cchild, b, NULL), 0);
    if (it->i == b->self_cancel) {
        cr_assert_eq(crew_cancel(crew_current(), crew_self(), 5, "self"), CREW_REQUESTED);
        if (crew_cancelled())
            atomic_fetch_add(&b->cancelled_seen, 1);
    }
    if (b->fail_every && it->i % b->fail_every == 1)
        return 7;
    return 0;
}

static void citem_clean(void *arg)
{
    citem_t *it = arg;
    atomic_fetch_add(&it->b->cleaned[it->i], 1);
}

static cbatch_t *cbatch_new(void)
{
    cbatch_t *b = calloc(1, sizeof *b);
    cr_assert(b);
    for (int i = 0; i < CN; i++) {
        b->it[i] = (citem_t){b, i};
        b->args[i] = &b->it[i];
    }
    gate_init(&b->gate);
    gate_init(&b->gate2);
    b->block_at = b->block2_at = b->self_cancel = b->spawn_at = b->name_at = -1;
    return b;
}

static int cbatch_count(atomic_int *a, int want)
{
    int k = 0;
    for (int i = 0; i < CN; i++)
        k += atomic_load(&a[i]) == want;
    return k;
}

/* The end of a carrier test: the group destroyed, the executor torn down
 * clean (DESTROY_CLEAN), the batch freed. */
static void cbatch_close(crew_t **ex, crew_group_t *g, cbatch_t *b)
{
    ASSERT_RC(crew_group_destroy(g), 0);
    DESTROY_CLEAN(ex);
    gate_destroy(&b->gate);
    gate_destroy(&b->gate2);
    free(b);
}

/* A batch without IDs on 1-3 workers: every task runs once, cleanup once,
 * and the group's and executor's counts are exact. Unless anon, every task
 * names itself (crew_self()), and no two share an ID. With anon none does,
 * and they end quietly (harness.c, step 3a): the counts must not tell. */
static void batch_counts(bool anon)
{
    for (unsigned workers = 1; workers <= 3; workers++) {
        crew_t *ex = t_create(workers);
        crew_group_t *g = t_group(ex, NULL, 0);
        cbatch_t *b = cbatch_new();
        crew_task_desc_t d = {.fn = citem_run, .cleanup = citem_clean, .group = g};
        crew_status_t st;
        crew_stats_t s0 = t_stats(ex), s1;
        b->anon = anon;
        ASSERT_RC(crew_submit_batch(ex, &d, b->args, CN, NULL), 0);
        ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
        ASSERT_STATUS(st, CREW_TASK_DONE);
        cr_assert_eq(cbatch_count(b->ran, 1), CN, "every task runs once");
        cr_assert_eq(cbatch_count(b->cleaned, 1), CN, "every cleanup runs once");
        if (!anon) {
            crew_id_t ids[CN];
            for (int i = 0; i < CN; i++) {
                ids[i] = atomic_load(&b->self[i]);
                cr_assert_neq(ids[i], 0);
            }
            qsort(ids, CN, sizeof ids[0], cmp_id);
            for (int i = 1; i < CN; i++)
                cr_assert_neq(ids[i], ids[i - 1], "two tasks of a batch share an ID");
            /* An ended task's ID is stale, as any detached task's. */
            crew_task_info_t info;
            info.size = sizeof info;
            ASSERT_RC(crew_inspect(ex, ids[0], &info), CREW_ENOTASK);
        }
        crew_group_info_t gi = t_ginfo(g);
        cr_assert_eq(gi.submitted, CN);
        cr_assert_eq(gi.done, CN);
        cr_assert_eq(gi.live, 0);
        s1 = t_settle(ex);
        cr_assert_eq(s1.submitted - s0.submitted, CN);
        cr_assert_eq(s1.done - s0.done, CN);
        cbatch_close(&ex, g, b);
    }
}

Test(submit, batch_without_ids_runs_every_task_once_each_with_its_own_id, T_OPTS)
{
    batch_counts(false);
}

Test(submit, batch_tasks_that_never_name_themselves_are_each_counted_once, T_OPTS)
{
    batch_counts(true);
}

static int running_id(const crew_task_row_t *row, void *ctx)
{
    crew_id_t *id = ctx;
    cr_assert_eq(*id, 0, "one task of the group runs");
    *id = row->id;
    return 0;
}

/* The one running task of g, by crew_task_list(). */
static crew_id_t list_running(crew_t *ex, crew_group_t *g)
{
    crew_task_filter_t f = CREW_TASK_FILTER_INIT;
    crew_id_t id = 0;
    f.states = 1u << CREW_TASK_RUNNING;
    f.group = crew_group_id(g);
    cr_assert_eq(crew_task_list(ex, &f, running_id, &id), 1);
    cr_assert_neq(id, 0);
    return id;
}

/* Task 10 of a run's 64 (not its first) makes its ID known: a list shows
 * it while it waits at the gate (by_list), or it calls crew_self(). Then
 * it ends, and tasks 11-19, none of which names itself, run on the same
 * record. While task 20 waits at gate2, a list shows it with an ID of its
 * own, not the one known (the list's pin, or crew_self(), left SEEN on the
 * word, so task 10 ended the usual way and task 11 got a new ID). */
static void known_id_stays_with_its_task(bool by_list)
{
    crew_t *ex = t_create(1);
    crew_group_t *g = t_group(ex, NULL, 0);
    cbatch_t *b = cbatch_new();
    crew_task_desc_t d = {.fn = citem_run, .cleanup = citem_clean, .group = g};
    crew_status_t st;
    crew_id_t known = 0;
    b->anon = true;
    if (by_list)
        b->block_at = 10;
    else
        b->name_at = 10;
    b->block2_at = 20;
    ASSERT_RC(crew_submit_batch(ex, &d, b->args, CN, NULL), 0);
    if (by_list) {
        gate_await_arrivals(&b->gate, 1);
        known = list_running(ex, g);
        gate_open(&b->gate);
    }
    gate_await_arrivals(&b->gate2, 1);
    if (!by_list)
        known = atomic_load(&b->self[10]);
    cr_assert_neq(known, 0);
    cr_assert_eq(cbatch_count(b->ran, 1), 21);
    cr_assert_neq(list_running(ex, g), known, "task 20 shows an ID of its own");
    gate_open(&b->gate2);
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    cr_assert_eq(atomic_load(&b->cancelled_seen), 0, "nothing was cancelled");
    cr_assert_eq(cbatch_count(b->ran, 1), CN);
    cr_assert_eq(cbatch_count(b->cleaned, 1), CN);
    cbatch_close(&ex, g, b);
}

Test(submit, an_id_a_task_list_showed_does_not_name_the_next_tasks_of_its_run, T_OPTS)
{
    known_id_stays_with_its_task(true);
}

Test(submit, an_id_a_batch_task_named_itself_by_does_not_name_the_next_tasks_of_its_run, T_OPTS)
{
    known_id_stays_with_its_task(false);
}

Test(submit, queued_batch_tasks_are_removed_before_the_group_cancel_returns, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g = t_group(ex, NULL, 0);
    cbatch_t *b = cbatch_new();
    gate_t workers;
    crew_task_desc_t d = {.fn = citem_run, .cleanup = citem_clean, .group = g};
    crew_status_t st;
    gate_init(&workers);
    saturate(ex, &workers); /* every carrier stays QUEUED */
    ASSERT_RC(crew_submit_batch(ex, &d, b->args, CN, NULL), 0);
    ASSERT_RC(crew_group_cancel(g, 3, "stop"), 0);
    /* Before the cancel returned: every cleanup ran, none ran its body. */
    cr_assert_eq(cbatch_count(b->cleaned, 1), CN);
    cr_assert_eq(cbatch_count(b->ran, 0), CN);
    crew_group_info_t gi = t_ginfo(g);
    cr_assert_eq(gi.removed, CN);
    cr_assert_eq(gi.live, 0);
    gate_open(&workers);
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    cr_assert_eq(cbatch_count(b->ran, 0), CN, "a removed task never runs");
    cbatch_close(&ex, g, b);
    gate_destroy(&workers);
}

Test(submit, batch_tasks_behind_a_running_one_are_removed_before_the_cancel_returns, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_group_t *g = t_group(ex, NULL, 0);
    cbatch_t *b = cbatch_new();
    crew_task_desc_t d = {.fn = citem_run, .cleanup = citem_clean, .group = g};
    crew_status_t st;
    b->block_at = 3; /* the fourth task of the first carrier blocks */
    ASSERT_RC(crew_submit_batch(ex, &d, b->args, CN, NULL), 0);
    gate_await_arrivals(&b->gate, 1);
    ASSERT_RC(crew_group_cancel(g, 3, "stop"), 0);
    /* The three before it ran; it runs; every other one was removed, its
     * cleanup run, before the cancel returned. */
    for (int i = 0; i < 4; i++)
        cr_assert_eq(atomic_load(&b->ran[i]), 1);
    cr_assert_eq(cbatch_count(b->ran, 0), CN - 4);
    cr_assert_eq(cbatch_count(b->cleaned, 1), CN - 1, "all but the running one");
    crew_group_info_t gi = t_ginfo(g);
    cr_assert_eq(gi.removed, CN - 4);
    cr_assert_eq(gi.live, 1);
    gate_open(&b->gate);
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    cr_assert_eq(atomic_load(&b->cancelled_seen), 1, "the running one sees the cancel");
    cr_assert_eq(cbatch_count(b->cleaned, 1), CN);
    cr_assert_eq(cbatch_count(b->ran, 0), CN - 4);
    gi = t_ginfo(g);
    cr_assert_eq(gi.done, 3);
    cr_assert_eq(gi.cancelled_running, 1);
    cr_assert_eq(gi.removed, CN - 4);
    cbatch_close(&ex, g, b);
}

Test(submit, batch_task_cancelled_by_its_own_id_ends_alone, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g = t_group(ex, NULL, 0);
    cbatch_t *b = cbatch_new();
    crew_task_desc_t d = {.fn = citem_run, .cleanup = citem_clean, .group = g};
    crew_status_t st;
    b->self_cancel = 10;
    b->fail_every = 50;
    ASSERT_RC(crew_submit_batch(ex, &d, b->args, CN, NULL), 0);
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    cr_assert_eq(cbatch_count(b->ran, 1), CN);
    cr_assert_eq(cbatch_count(b->cleaned, 1), CN);
    cr_assert_eq(atomic_load(&b->cancelled_seen), 1);
    int nfail = 0;
    for (int i = 0; i < CN; i++)
        nfail += i % 50 == 1;
    crew_group_info_t gi = t_ginfo(g);
    cr_assert_eq(gi.cancelled_running, 1);
    cr_assert_eq(gi.failed, nfail);
    cr_assert_eq(gi.done, CN - nfail - 1);
    /* Each failure is listed with the ID its task had. */
    crew_group_failure_t f[CN];
    size_t total = 0;
    ASSERT_RC(crew_group_failures(g, f, CN, &total), 0);
    cr_assert_eq(total, (size_t)nfail);
    for (size_t k = 0; k < total; k++) {
        int found = -1;
        for (int i = 0; i < CN; i++)
            if (atomic_load(&b->self[i]) == f[k].id)
                found = i;
        cr_assert(found >= 0 && found % 50 == 1, "failure %zu names task %d", k, found);
        cr_assert_eq(f[k].result, 7);
    }
    cbatch_close(&ex, g, b);
}

Test(submit, batch_task_whose_child_outlives_it_keeps_its_record, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g = t_group(ex, NULL, 0);
    cbatch_t *b = cbatch_new();
    crew_task_desc_t d = {.fn = citem_run, .cleanup = citem_clean, .group = g};
    crew_status_t st;
    b->spawn_at = 0; /* the child waits at the gate while the rest run */
    ASSERT_RC(crew_submit_batch(ex, &d, b->args, CN, NULL), 0);
    T_WAIT_UNTIL(cbatch_count(b->ran, 1) == CN, T_HANG_S);
    cr_assert_eq(cbatch_count(b->ran, 1), CN);
    gate_open(&b->gate);
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_DONE);
    T_WAIT_UNTIL(atomic_load(&b->child_ran) == 1, T_HANG_S);
    cr_assert_eq(cbatch_count(b->cleaned, 1), CN);
    cbatch_close(&ex, g, b);
}

static int cdl_child(void *arg)
{
    cbatch_t *b = arg;
    atomic_fetch_add(&b->child_ran, 1);
    return 0;
}

static int cdl_cause(const crew_task_row_t *row, void *ctx)
{
    cbatch_t *b = ctx;
    if (row->id == crew_self())
        atomic_store(&b->cause_seen, (int)row->cause);
    return 0;
}

/* A task of a batch with a deadline: block_at reads its deadlines, then
 * waits for the batch's deadline to reach it (after spawning a child that
 * stays queued behind it), or clears its own first and outlives the
 * batch's uncancelled. */
static int cdl_run(void *arg)
{
    citem_t *it = arg;
    cbatch_t *b = it->b;
    crew_t *ex = crew_current();
    int64_t dl = -1, end = crew_now() + T_HANG_NS;
    atomic_fetch_add(&b->ran[it->i], 1);
    if (it->i != b->block_at)
        return 0;
    cr_assert_eq(crew_get_deadline(ex, crew_self(), &dl), 0);
    atomic_store(&b->dl_seen, dl);
    atomic_store(&b->eff_seen, crew_deadline());
    if (b->own_clear) {
        cr_assert_eq(crew_set_deadline(ex, crew_self(), 0), 0);
        cr_assert_eq(crew_get_deadline(ex, crew_self(), &dl), 0);
        cr_assert_eq(dl, 0, "its own deadline is cleared");
        cr_assert_eq(crew_deadline(), 0);
        crew_stats_t s = {.size = sizeof s};
        do
            crew_stats(ex, &s);
        while (s.deadlines_fired == 0 && crew_now() < end);
        cr_assert_eq(s.deadlines_fired, 1, "the batch's deadline fired");
        cr_assert(!crew_cancelled(), "a task with its own deadline ignores the batch's");
        return 0;
    }
    cr_assert_eq(crew_spawn(cdl_child, b, NULL), 0); /* queued: 1 worker */
    while (!crew_cancelled() && crew_now() < end)
        ;
    /* Detached (no handle to inspect): its listing shows the cause. */
    crew_task_filter_t f = CREW_TASK_FILTER_INIT;
    f.cancelled = true;
    cr_assert_geq(crew_task_list(ex, &f, cdl_cause, b), 1);
    return 0; /* ends CANCELLED all the same */
}

Test(submit, batch_deadline_cancels_the_running_task_and_removes_the_rest, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_group_t *g = t_group(ex, NULL, 0);
    cbatch_t *b = cbatch_new();
    crew_task_desc_t d = {.fn = cdl_run, .cleanup = citem_clean, .group = g};
    crew_status_t st;
    b->block_at = 3; /* the fourth task of the first run waits */
    /* Long enough that the first four start before it on a loaded machine. */
    d.deadline = crew_now() + 400 * 1000000;
    ASSERT_RC(crew_submit_batch(ex, &d, b->args, CN, NULL), 0);
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    cr_assert(crew_now() >= d.deadline, "never early");
    cr_assert_eq(atomic_load(&b->dl_seen), d.deadline, "the batch's deadline is each task's own");
    cr_assert_eq(atomic_load(&b->eff_seen), d.deadline);
    cr_assert_eq(atomic_load(&b->cause_seen), CREW_CAUSE_TIMEOUT);
    cr_assert_eq(cbatch_count(b->ran, 1), 4, "the three before it and itself ran");
    cr_assert_eq(cbatch_count(b->cleaned, 1), CN, "every cleanup ran once");
    crew_group_info_t gi = t_ginfo(g);
    cr_assert_eq(gi.done, 3);
    cr_assert_eq(gi.cancelled_running, 1);
    cr_assert_eq(gi.removed, CN - 4 + 1, "%llu removed: the rest and the child (a member)",
                 (unsigned long long)gi.removed);
    cr_assert_eq(gi.live, 0);
    crew_stats_t s = t_settle(ex);
    cr_assert_eq(atomic_load(&b->child_ran), 0, "its queued child was removed");
    cr_assert_eq(s.deadlines_fired, 1, "one deadline for the batch");
    cr_assert_eq(s.deadlines_pending, 0);
    cbatch_close(&ex, g, b);
}

Test(submit, batch_task_with_its_own_deadline_leaves_the_batch_deadline, T_OPTS)
{
    crew_t *ex = t_create(1);
    crew_group_t *g = t_group(ex, NULL, 0);
    cbatch_t *b = cbatch_new();
    crew_task_desc_t d = {.fn = cdl_run, .cleanup = citem_clean, .group = g};
    crew_status_t st;
    b->block_at = 3;
    b->own_clear = true;
    d.timeout = 400 * 1000000; /* as above */
    ASSERT_RC(crew_submit_batch(ex, &d, b->args, CN, NULL), 0);
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    cr_assert_gt(atomic_load(&b->dl_seen), 0);
    crew_group_info_t gi = t_ginfo(g);
    cr_assert_eq(gi.done, 4, "it ended DONE");
    cr_assert_eq(gi.cancelled_running, 0);
    cr_assert_eq(gi.removed, CN - 4);
    cr_assert_eq(cbatch_count(b->cleaned, 1), CN);
    cbatch_close(&ex, g, b);
}

Test(submit, batch_with_a_past_deadline_runs_nothing, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *g = t_group(ex, NULL, 0);
    cbatch_t *b = cbatch_new();
    crew_task_desc_t d = {.fn = citem_run, .cleanup = citem_clean, .group = g};
    crew_status_t st;
    d.deadline = crew_now() - 1;
    ASSERT_RC(crew_submit_batch(ex, &d, b->args, CN, NULL), 0);
    /* Removed in the call, cleanups run. */
    cr_assert_eq(cbatch_count(b->cleaned, 1), CN);
    crew_group_info_t gi = t_ginfo(g);
    cr_assert_eq(gi.removed, CN);
    cr_assert_eq(gi.live, 0);
    ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
    ASSERT_STATUS(st, CREW_TASK_CANCELLED);
    cr_assert_eq(cbatch_count(b->ran, 0), CN, "none ran");
    cbatch_close(&ex, g, b);
}

Test(submit, cancel_shutdown_removes_queued_batch_tasks_with_their_cleanup, T_OPTS)
{
    crew_t *ex = t_create(2);
    cbatch_t *b = cbatch_new();
    gate_t workers;
    crew_task_desc_t d = {.fn = citem_run, .cleanup = citem_clean};
    gate_init(&workers);
    saturate(ex, &workers);
    ASSERT_RC(crew_submit_batch(ex, &d, b->args, CN, NULL), 0);
    gate_open(&workers); /* the workers race the shutdown for the carriers */
    DESTROY_CLEAN_MODE(&ex, CREW_CANCEL);
    cr_assert_eq(cbatch_count(b->cleaned, 1), CN, "every task ran or was removed, once");
    cr_assert_eq(cbatch_count(b->ran, 0) + cbatch_count(b->ran, 1), CN);
    gate_destroy(&workers);
    gate_destroy(&b->gate);
    free(b);
}

static int count_row(const crew_task_row_t *row, void *ctx)
{
    (void)row;
    ++*(int *)ctx;
    return 0;
}

static void *opts_create(unsigned flags)
{
    crew_options_t o = CREW_OPTIONS_INIT;
    crew_t *ex = NULL;
    o.workers = 2;
    o.flags = flags;
    cr_assert_eq(crew_create(&ex, &o), 0);
    return ex;
}

Test(submit, a_queued_batch_lists_as_its_runs_or_with_no_carriers_as_its_tasks, T_OPTS)
{
    for (int pass = 0; pass < 2; pass++) {
        crew_t *ex = opts_create(pass ? CREW_OPT_NO_CARRIERS : 0);
        crew_group_t *g = t_group(ex, NULL, 0);
        cbatch_t *b = cbatch_new();
        gate_t workers;
        crew_task_desc_t d = {.fn = citem_run, .cleanup = citem_clean, .group = g};
        crew_task_filter_t f = CREW_TASK_FILTER_INIT;
        crew_status_t st;
        int rows = 0;
        gate_init(&workers);
        saturate(ex, &workers);
        ASSERT_RC(crew_submit_batch(ex, &d, b->args, CN, NULL), 0);
        f.states = 1u << CREW_TASK_QUEUED;
        f.group = crew_group_id(g);
        int shown = crew_task_list(ex, &f, count_row, &rows);
        cr_assert_eq(shown, rows);
        /* 2 workers: runs of 64 (CN / 8 > 64), one row each. */
        cr_assert_eq(rows, pass ? CN : CN / 64, "pass %d: %d rows", pass, rows);
        gate_open(&workers);
        ASSERT_RC(crew_group_wait(g, CREW_FOREVER, &st), 0);
        cr_assert_eq(cbatch_count(b->ran, 1), CN);
        cr_assert_eq(cbatch_count(b->cleaned, 1), CN);
        t_open_executors++; /* made here, not by t_create() */
        cbatch_close(&ex, g, b);
        gate_destroy(&workers);
    }
}
