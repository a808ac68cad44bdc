/* tsan_submit.c - four outside threads submit into one group (detached) and
 * by batch (joinable); every task runs exactly once. Plain executable. */
#include <string.h>

#include "common.h"

typedef struct item {
    atomic_int hits;
    long payload; /* written by the submitter before submit, read by the task */
    long seen;    /* written by the task, read after the wait */
} item_t;

static int item_task(void *arg)
{
    item_t *it = arg;
    it->seen = it->payload; /* plain accesses: ordered by submit/wait */
    atomic_fetch_add_explicit(&it->hits, 1, memory_order_relaxed);
    return 0;
}

typedef struct sub {
    crew_t *ex;
    crew_group_t *g;
    item_t *items;
    long from, to;
    int rc;
} sub_t;

static void *sub_main(void *arg)
{
    sub_t *s = arg;
    for (long i = s->from; i < s->to; i++) {
        s->items[i].payload = i * 3 + 1;
        if (i % 64 == 0 && i + 64 <= s->to) { /* a batch now and then */
            void *args[64];
            crew_id_t ids[64];
            for (int k = 0; k < 64; k++) {
                s->items[i + k].payload = (i + k) * 3 + 1;
                args[k] = &s->items[i + k];
            }
            crew_task_desc_t d = {.fn = item_task, .arg = NULL, .cleanup = NULL, .group = s->g};
            if ((s->rc = crew_submit_batch(s->ex, &d, args, 64, ids)) != 0)
                return NULL;
            for (int k = 0; k < 64; k++) {
                crew_status_t st;
                if ((s->rc = crew_join(s->ex, ids[k], &st)) != 0)
                    return NULL;
                if (st != CREW_TASK_DONE) {
                    s->rc = -1000;
                    return NULL;
                }
            }
            i += 63;
            continue;
        }
        crew_task_desc_t d = {.fn = item_task, .arg = &s->items[i], .cleanup = NULL, .group = s->g};
        if ((s->rc = crew_submit_ex(s->ex, &d, NULL)) != 0)
            return NULL;
    }
    return NULL;
}

int main(void)
{
    t_watchdog(600);
    long n = t_scaled(400000, 4000);
    const unsigned workers[] = {2, 8};
    for (int w = 0; w < 2; w++) {
        crew_t *ex = t_create(workers[w]);
        crew_group_t *g;
        CHECK(crew_group_create(ex, NULL, 0, &g) == 0, "group");
        item_t *items = calloc((size_t)n, sizeof *items);
        CHECK(items, "calloc");
        sub_t s[4];
        pthread_t th[4];
        for (int k = 0; k < 4; k++) {
            s[k] = (sub_t){ex, g, items, n * k / 4, n * (k + 1) / 4, 0};
            CHECK(pthread_create(&th[k], NULL, sub_main, &s[k]) == 0, "thread");
        }
        for (int k = 0; k < 4; k++) {
            pthread_join(th[k], NULL);
            CHECK(s[k].rc == 0, "submitter %d: %s", k, crew_err_name(s[k].rc));
        }
        crew_status_t st;
        CHECK(crew_group_wait(g, (int64_t)(T_HANG_S * 10 * 1e9), &st) == 0 && st == CREW_TASK_DONE,
              "group wait");
        for (long i = 0; i < n; i++) {
            CHECK(atomic_load(&items[i].hits) == 1, "task %ld ran %d times", i,
                  atomic_load(&items[i].hits));
            CHECK(items[i].seen == i * 3 + 1, "task %ld saw %ld", i, items[i].seen);
        }
        crew_group_info_t gi;
        gi.size = sizeof gi;
        CHECK(crew_group_info(g, &gi) == 0 && gi.submitted == (uint64_t)n &&
                  gi.done == (uint64_t)n && gi.live == 0,
              "group counts: submitted %llu done %llu live %llu", (unsigned long long)gi.submitted,
              (unsigned long long)gi.done, (unsigned long long)gi.live);
        CHECK(crew_group_destroy(g) == 0, "group destroy");
        crew_stats_t ss = t_settle(ex);
        CHECK(ss.live_records == 0 && ss.done == (uint64_t)n, "stats");
        T_DESTROY_CLEAN(&ex, CREW_DRAIN);
        free(items);
        printf("%ld tasks from 4 threads on %u workers: each ran once\n", n, workers[w]);
    }
    return 0;
}
