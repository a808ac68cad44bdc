/* tsan_eager.c - eager removal racing with pops and steals: members of a
 * group keep spawning children (pushes on deques, steals by the other
 * workers) while the test cancels the group, a parent task, or shuts down
 * in CREW_CANCEL mode. The moment each cancel returns, no task of its scope
 * may be QUEUED; at the end, every task that was removed (CANCELLED without
 * a request reaching it while it ran) never ran its body. Plain executable,
 * also run under ThreadSanitizer. */
#include <string.h>

#include "common.h"

enum { MAXT = 4096 };

typedef struct ctx {
    crew_t *ex;
    crew_group_t *g;
    _Atomic crew_id_t ids[MAXT]; /* joinable records of the scope */
    atomic_int ran[MAXT];
    atomic_int n; /* slots handed out */
    atomic_int stop_spawning;
} ctx_t;

typedef struct arg {
    ctx_t *c;
    int slot;
} arg_t;

static arg_t args[MAXT];

static int member(void *p);

/* Take a slot and spawn a member into it (a child of the caller, in the
 * caller's group). */
static void spawn_one(ctx_t *c)
{
    int k = atomic_fetch_add(&c->n, 1);
    crew_id_t id;
    if (k >= MAXT) {
        atomic_fetch_sub(&c->n, 1);
        return;
    }
    args[k].c = c;
    args[k].slot = k;
    if (crew_spawn(member, &args[k], &id) == 0)
        /* release: the test thread reads the ID and then the record. */
        atomic_store_explicit(&c->ids[k], id, memory_order_release);
}

static int member(void *p)
{
    arg_t *a = p;
    ctx_t *c = a->c;
    atomic_store(&c->ran[a->slot], 1);
    if (crew_cancelled() || flag_get(&c->stop_spawning))
        return 0;
    for (int i = 0; i < 3; i++)
        spawn_one(c);
    for (volatile int spin = 0; spin < 200; spin++)
        ;
    return 0;
}

/* The root: spawns the first members, then stays running (so its children
 * stay its children) until cancelled or told to stop. */
static int root(void *p)
{
    ctx_t *c = p;
    for (int i = 0; i < 8; i++)
        spawn_one(c);
    while (!crew_cancelled() && !flag_get(&c->stop_spawning))
        sched_yield();
    return 0;
}

/* Every recorded task of the scope: none QUEUED now. An ID is recorded
 * after its crew_spawn returned, so a spawn that raced the cancel has
 * finished deciding (born cancelled, or queued and then swept). */
static long queued_now(ctx_t *c)
{
    long q = 0;
    /* A spawner past MAXT raises n for a moment before it gives its slot
     * back: never read beyond the table. */
    int n = atomic_load(&c->n) < MAXT ? atomic_load(&c->n) : MAXT;
    for (int k = 0; k < n; k++) {
        crew_id_t id = atomic_load_explicit(&c->ids[k], memory_order_acquire);
        crew_status_t st;
        if (id && crew_status(c->ex, id, &st) == 0 && st == CREW_TASK_QUEUED) {
            crew_task_info_t info;
            memset(&info, 0, sizeof info);
            info.size = sizeof info;
            crew_inspect(c->ex, id, &info);
            fprintf(stderr, "queued: slot %d id %#llx parent %#llx group %#llx cause %d\n", k,
                    (unsigned long long)id, (unsigned long long)info.parent,
                    (unsigned long long)info.group, info.cause);
            q++;
        }
    }
    return q;
}

/* After the scope is over: removed tasks never ran; release every handle. */
static long removed_but_ran(ctx_t *c)
{
    long bad = 0;
    /* A spawner past MAXT raises n for a moment before it gives its slot
     * back: never read beyond the table. */
    int n = atomic_load(&c->n) < MAXT ? atomic_load(&c->n) : MAXT;
    for (int k = 0; k < n; k++) {
        crew_id_t id = atomic_load_explicit(&c->ids[k], memory_order_acquire);
        crew_task_info_t info;
        if (!id)
            continue;
        t_wait(c->ex, id);
        memset(&info, 0, sizeof info);
        info.size = sizeof info;
        CHECK(crew_inspect(c->ex, id, &info) == 0, "inspect");
        if (info.status == CREW_TASK_CANCELLED && !info.cancel_requested && atomic_load(&c->ran[k]))
            bad++;
        CHECK(crew_release(c->ex, id) == 0, "release");
    }
    return bad;
}

typedef enum { BY_GROUP, BY_PARENT, BY_SHUTDOWN } how_t;

static void round_once(unsigned workers, how_t how, long *removed_total)
{
    static ctx_t c;
    crew_id_t root_id;
    crew_t *ex = t_create(workers);
    memset(&c, 0, sizeof c);
    c.ex = ex;
    CHECK(crew_group_create(ex, NULL, 0, &c.g) == 0, "group");
    {
        crew_task_desc_t d = {.fn = root, .arg = &c, .cleanup = NULL, .group = c.g};
        CHECK(crew_submit_ex(ex, &d, &root_id) == 0, "submit root");
    }
    /* Let the tree grow a little, then cancel in the middle of it. */
    T_WAIT_UNTIL(atomic_load(&c.n) >= MAXT / 4, 5.0);
    if (how == BY_GROUP) {
        CHECK(crew_group_cancel(c.g, 1, "group") == 0, "group cancel");
        CHECK(queued_now(&c) == 0, "QUEUED member after crew_group_cancel returned");
    } else if (how == BY_PARENT) {
        int rc = crew_cancel(ex, root_id, 2, "parent");
        CHECK(rc == CREW_REQUESTED || rc == CREW_TOO_LATE, "cancel root: %d", rc);
        CHECK(queued_now(&c) == 0, "QUEUED descendant after crew_cancel returned");
    } else {
        flag_set(&c.stop_spawning);
        CHECK(crew_shutdown(ex, CREW_CANCEL) == 0, "shutdown");
        CHECK(queued_now(&c) == 0, "QUEUED task after a cancel shutdown");
    }
    flag_set(&c.stop_spawning);
    t_wait(ex, root_id);
    CHECK(removed_but_ran(&c) == 0, "a removed task ran");
    CHECK(crew_release(ex, root_id) == 0, "release root");
    {
        crew_status_t st;
        CHECK(crew_group_wait(c.g, CREW_FOREVER, &st) == 0, "group wait");
    }
    *removed_total += (long)t_stats(ex).removed;
    CHECK(crew_group_destroy(c.g) == 0, "group destroy");
    CHECK(crew_destroy(&ex) == 0, "destroy");
}

int main(void)
{
    t_watchdog(600);
    int rounds = (int)t_scaled(12, 2);
    const unsigned workers[] = {2, 8};
    long removed = 0;
    for (int w = 0; w < 2; w++)
        for (int r = 0; r < rounds; r++)
            round_once(workers[w], (how_t)(r % 3), &removed);
    printf("tsan_eager: %d rounds x 2 worker counts, %ld tasks removed, none queued "
           "after its cancel, none ran after removal\n",
           rounds, removed);
    return 0;
}
