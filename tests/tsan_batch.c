/* tsan_batch.c - batch carriers (a batch from outside without IDs) racing
 * with group cancels, cancel-mode shutdowns, tasks cancelling themselves by
 * ID, batch deadlines expiring while their runs go on (and tasks moving
 * their own deadline meanwhile), and a thread that looks tasks up by ID
 * while their records move on to the next task of the batch. Oracles: every task's cleanup runs exactly
 * once, no body runs twice, a removed task never runs, each task that ran
 * had an ID of its own, the group's counts add up, and the moment a cancel
 * returns at most one task per worker (claimed, its body not yet entered)
 * is neither started nor removed; no deadline is left armed. Plain executable, also run under
 * ThreadSanitizer. */
#include <string.h>

#include "common.h"

enum { PER_SUB = 4096, SUBS = 2, N = PER_SUB * SUBS, BATCH = 1024 };

typedef struct ctx ctx_t;
typedef struct item {
    ctx_t *c;
    int i;
} item_t;

struct ctx {
    crew_t *ex;
    crew_group_t *g;
    item_t it[N];
    atomic_int ran[N], cleaned[N];
    _Atomic crew_id_t self[N];
    _Atomic crew_id_t recent; /* an ID for the looker to inspect */
    atomic_int stop;
    int self_cancel_every;
    bool deadlines; /* each batch has a short timeout */
    int name_every; /* only these tasks call crew_self() (0: all); the
                       others end quietly, and the looker lists */
};

static int body(void *arg)
{
    item_t *it = arg;
    ctx_t *c = it->c;
    crew_id_t me = c->name_every && it->i % c->name_every ? 0 : crew_self();
    atomic_fetch_add(&c->ran[it->i], 1);
    atomic_store(&c->self[it->i], me);
    if (me)
        atomic_store_explicit(&c->recent, me, memory_order_relaxed);
    if (c->self_cancel_every && it->i % c->self_cancel_every == 0)
        (void)crew_cancel(c->ex, me, 1, "self");
    if (c->deadlines && it->i % 13 == 0) { /* its own deadline replaces the batch's */
        int rc = crew_set_deadline(c->ex, me, it->i % 2 ? 0 : crew_now() + 100000);
        CHECK(rc == 0 || rc == CREW_REQUESTED, "set_deadline -> %s", crew_err_name(rc));
    }
    for (volatile int k = 0; k < 50 && !crew_cancelled(); k++)
        ;
    return 0;
}

static void cleanup(void *arg)
{
    item_t *it = arg;
    atomic_fetch_add(&it->c->cleaned[it->i], 1);
}

typedef struct sub {
    ctx_t *c;
    int from;
} sub_t;

static void *sub_main(void *arg)
{
    sub_t *s = arg;
    crew_task_desc_t d = {.fn = body, .cleanup = cleanup, .group = s->c->g};
    for (int i = s->from; i < s->from + PER_SUB; i += BATCH) {
        void *args[BATCH];
        if (s->c->deadlines) /* 50 us to 1.6 ms: some expire mid-run */
            d.timeout = (int64_t)50000 << ((i / BATCH) % 6);
        for (int k = 0; k < BATCH; k++)
            args[k] = &s->c->it[i + k];
        CHECK_RC(crew_submit_batch(s->c->ex, &d, args, BATCH, NULL), 0);
    }
    return NULL;
}

static int row_check(const crew_task_row_t *row, void *ctx)
{
    CHECK(row->id != 0 && row->fn == body && row->status == CREW_TASK_RUNNING, "row %llu status %d",
          (unsigned long long)row->id, (int)row->status);
    ++*(int *)ctx;
    return 0;
}

/* Pins racing the records' moves from one task to the next. */
static void *look_main(void *arg)
{
    ctx_t *c = arg;
    crew_task_info_t info;
    while (!atomic_load(&c->stop)) {
        if (c->name_every) { /* pins racing the quiet ends (harness.c, step 3a) */
            crew_task_filter_t f = CREW_TASK_FILTER_INIT;
            int rows = 0;
            f.states = 1u << CREW_TASK_RUNNING;
            f.group = crew_group_id(c->g);
            CHECK(crew_task_list(c->ex, &f, row_check, &rows) == rows, "list");
        }
        crew_id_t id = atomic_load_explicit(&c->recent, memory_order_relaxed);
        info.size = sizeof info;
        if (id) {
            int rc = crew_inspect(c->ex, id, &info);
            CHECK(rc == 0 || rc == CREW_ENOTASK, "inspect -> %s", crew_err_name(rc));
            if (rc == 0)
                CHECK(info.id == id, "inspect of %llu shows %llu", (unsigned long long)id,
                      (unsigned long long)info.id);
            (void)crew_cancel(c->ex, id ^ 1, 0, NULL); /* mostly unknown IDs */
            if (c->deadlines) { /* moving a deadline while its batch's may fire */
                int64_t dl;
                rc = crew_get_deadline(c->ex, id, &dl);
                CHECK(rc == 0 || rc == CREW_ENOTASK, "get_deadline -> %s", crew_err_name(rc));
                rc = crew_set_deadline(c->ex, id, crew_now() + 200000);
                CHECK(rc == 0 || rc == CREW_ENOTASK || rc == CREW_TOO_LATE || rc == CREW_REQUESTED,
                      "set_deadline -> %s", crew_err_name(rc));
            }
        }
        { /* counts taken while carriers move their tasks on */
            crew_group_info_t gi = {.size = sizeof gi};
            CHECK_RC(crew_group_info(c->g, &gi), 0);
            CHECK(gi.live <= N && gi.done + gi.live + gi.cancelled + gi.failed <= gi.submitted + N,
                  "live %llu", (unsigned long long)gi.live);
        }
        sched_yield();
    }
    return NULL;
}

static int cmp_id(const void *a, const void *b)
{
    crew_id_t x = *(const crew_id_t *)a, y = *(const crew_id_t *)b;
    return x < y ? -1 : x > y;
}

typedef enum { HOW_NONE, HOW_GROUP, HOW_SHUTDOWN, HOW_SELF, HOW_DEADLINE, HOW_QUIET, HOW_N } how_t;

static long removed_total, requested_total, fired_total;

static void round_once(unsigned workers, how_t how)
{
    static ctx_t c;
    pthread_t th[SUBS], look;
    sub_t s[SUBS];
    memset(&c, 0, sizeof c);
    c.ex = t_create(workers);
    c.g = t_group(c.ex, NULL, 0);
    c.self_cancel_every = how == HOW_SELF ? 7 : 0;
    c.deadlines = how == HOW_DEADLINE;
    c.name_every = how == HOW_QUIET ? 3 : 0;
    for (int i = 0; i < N; i++)
        c.it[i] = (item_t){&c, i};
    CHECK(pthread_create(&look, NULL, look_main, &c) == 0, "thread");
    for (int k = 0; k < SUBS; k++) {
        s[k] = (sub_t){&c, k * PER_SUB};
        CHECK(pthread_create(&th[k], NULL, sub_main, &s[k]) == 0, "thread");
    }
    for (int k = 0; k < SUBS; k++)
        pthread_join(th[k], NULL);
    if (how == HOW_GROUP || how == HOW_SHUTDOWN) {
        int limbo = 0;
        /* let some run first */
        T_WAIT_UNTIL(atomic_load(&c.ran[N / 3]) || atomic_load(&c.ran[N - 1]), T_HANG_S);
        if (how == HOW_GROUP)
            CHECK_RC(crew_group_cancel(c.g, 2, "stop"), 0);
        else
            CHECK_RC(crew_shutdown(c.ex, CREW_CANCEL), 0);
        for (int i = 0; i < N; i++)
            limbo += !atomic_load(&c.ran[i]) && !atomic_load(&c.cleaned[i]);
        CHECK(limbo <= (int)workers, "%d tasks neither started nor removed after the cancel",
              limbo);
    }
    {
        crew_status_t st;
        CHECK_RC(crew_group_wait(c.g, CREW_FOREVER, &st), 0);
    }
    atomic_store(&c.stop, 1);
    pthread_join(look, NULL);
    {
        static crew_id_t ids[N];
        int nran = 0, nnamed = 0;
        crew_group_info_t gi = t_ginfo(c.g);
        CHECK(gi.live == 0, "live %llu", (unsigned long long)gi.live);
        for (int i = 0; i < N; i++) {
            int r = atomic_load(&c.ran[i]);
            CHECK(atomic_load(&c.cleaned[i]) == 1, "task %d cleaned %d times", i,
                  atomic_load(&c.cleaned[i]));
            CHECK(r <= 1, "task %d ran %d times", i, r);
            nran += r;
            if (r && (!c.name_every || i % c.name_every == 0))
                ids[nnamed++] = atomic_load(&c.self[i]);
        }
        qsort(ids, (size_t)nnamed, sizeof ids[0], cmp_id);
        for (int i = 0; i < nnamed; i++)
            CHECK(ids[i] != 0 && (i == 0 || ids[i] != ids[i - 1]), "IDs repeat or are 0");
        CHECK(gi.removed == (uint64_t)(N - nran), "removed %llu, never ran %d",
              (unsigned long long)gi.removed, N - nran);
        CHECK(gi.done + gi.cancelled_running + gi.removed == N, "counts do not add up");
        removed_total += (long)gi.removed;
        requested_total += (long)gi.cancelled_running;
        if (how == HOW_SELF)
            CHECK(gi.cancelled_running == (N + 6) / 7, "self-cancelled %llu",
                  (unsigned long long)gi.cancelled_running);
        fired_total += (long)t_stats(c.ex).deadlines_fired;
        if (how != HOW_SHUTDOWN) /* the last run's end disarms its batch's */
            CHECK(T_WAIT_UNTIL(t_stats(c.ex).deadlines_pending == 0, T_HANG_S),
                  "%llu deadlines left armed", (unsigned long long)t_stats(c.ex).deadlines_pending);
        CHECK_RC(crew_group_destroy(c.g), 0);
        if (how == HOW_SHUTDOWN)
            CHECK_RC(crew_destroy(&c.ex), 0);
        else
            T_DESTROY_CLEAN(&c.ex, CREW_DRAIN);
    }
}

int main(void)
{
    static const unsigned workers[] = {1, 2, 4, 8};
    long rounds = t_scaled(3, 1);
    t_watchdog(600);
    for (long r = 0; r < rounds; r++)
        for (unsigned w = 0; w < sizeof workers / sizeof workers[0]; w++)
            for (how_t how = HOW_NONE; how < HOW_N; how++)
                round_once(workers[w], how);
    printf("tsan_batch: %ld rounds, %ld tasks removed, %ld cancelled while running, %ld "
           "deadlines fired\n",
           rounds * (long)(sizeof workers / sizeof workers[0]) * HOW_N, removed_total,
           requested_total, fired_total);
    return 0;
}
