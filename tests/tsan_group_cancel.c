/* tsan_group_cancel.c - cancel a group while its members keep spawning into
 * it (and an outside thread keeps submitting into it). Plain executable. */
#include <string.h>

#include "common.h"

typedef struct ctx {
    crew_group_t *g;
    atomic_long started;
    atomic_long spawn_errors;
    atomic_int cancel_returned;
    atomic_long misses; /* started after the cancel returned, not cancelled */
    long limit;
} ctx_t;

static int member(void *arg)
{
    ctx_t *c = arg;
    bool after = flag_get(&c->cancel_returned);
    bool cancelled = crew_cancelled();
    if (after && !cancelled)
        atomic_fetch_add(&c->misses, 1);
    long k = atomic_fetch_add(&c->started, 1);
    if (cancelled || k >= c->limit)
        return 0;
    for (int i = 0; i < 2; i++)
        if (crew_spawn(member, c, NULL) != 0) /* inherits the group */
            atomic_fetch_add(&c->spawn_errors, 1);
    return 0;
}

typedef struct outsider {
    crew_t *ex;
    ctx_t *c;
    atomic_int stop;
    long submitted;
    int rc;
} outsider_t;

static void *outsider_main(void *arg)
{
    outsider_t *o = arg;
    while (!flag_get(&o->stop)) {
        crew_task_desc_t d = {.fn = member, .arg = o->c, .cleanup = NULL, .group = o->c->g};
        int rc = crew_submit_ex(o->ex, &d, NULL);
        if (rc != 0) {
            o->rc = rc;
            break;
        }
        o->submitted++;
        sched_yield();
    }
    return NULL;
}

int main(void)
{
    t_watchdog(600);
    int rounds = (int)t_scaled(20, 3);
    const unsigned workers[] = {2, 8};
    for (int w = 0; w < 2; w++) {
        crew_t *ex = t_create(workers[w]);
        for (int round = 0; round < rounds; round++) {
            ctx_t c;
            memset(&c, 0, sizeof c);
            crew_group_t *outer;
            CHECK(crew_group_create(ex, NULL, 0, &outer) == 0, "group");
            CHECK(crew_group_create(ex, outer, 0, &c.g) == 0, "nested group");
            c.limit = 1L << 22;
            outsider_t o = {ex, &c, 0, 0, 0};
            pthread_t th;
            CHECK(pthread_create(&th, NULL, outsider_main, &o) == 0, "thread");
            for (int i = 0; i < 4; i++) {
                crew_task_desc_t d = {.fn = member, .arg = &c, .cleanup = NULL, .group = c.g};
                CHECK(crew_submit_ex(ex, &d, NULL) == 0, "submit root");
            }
            long threshold = 500 + round * 300;
            CHECK(T_WAIT_UNTIL(atomic_load(&c.started) >= threshold, T_HANG_S),
                  "members did not start");
            /* cancel through the enclosing group half of the time */
            CHECK(crew_group_cancel(round % 2 ? outer : c.g, round, "stop") == 0, "cancel");
            flag_set(&c.cancel_returned);
            crew_status_t st;
            CHECK(crew_group_wait(c.g, (int64_t)(T_HANG_S * 1e9), &st) == 0, "group wait");
            CHECK(st == CREW_TASK_CANCELLED, "group ended %s", crew_status_name(st));
            flag_set(&o.stop);
            pthread_join(th, NULL);
            CHECK(o.rc == 0, "outside submit: %s", crew_err_name(o.rc));
            CHECK(crew_group_wait(c.g, (int64_t)(T_HANG_S * 1e9), &st) == 0, "second group wait");
            CHECK(atomic_load(&c.misses) == 0,
                  "%ld members started after the cancel without seeing it", atomic_load(&c.misses));
            CHECK(atomic_load(&c.spawn_errors) == 0, "spawn refused");
            crew_group_info_t gi;
            gi.size = sizeof gi;
            CHECK(crew_group_info(c.g, &gi) == 0, "info");
            CHECK(gi.live == 0 && gi.is_cancelled, "live %llu", (unsigned long long)gi.live);
            CHECK(gi.submitted == gi.done + gi.failed + gi.cancelled,
                  "submitted %llu != done %llu + failed %llu + cancelled %llu",
                  (unsigned long long)gi.submitted, (unsigned long long)gi.done,
                  (unsigned long long)gi.failed, (unsigned long long)gi.cancelled);
            CHECK(gi.cancelled == gi.removed + gi.cancelled_running,
                  "cancelled %llu != removed %llu + running %llu", (unsigned long long)gi.cancelled,
                  (unsigned long long)gi.removed, (unsigned long long)gi.cancelled_running);
            CHECK(gi.cancelled > 0, "nothing was cancelled");
            CHECK((long)gi.done + (long)gi.cancelled_running == atomic_load(&c.started),
                  "bodies run %ld, done + cancelled_running %llu", atomic_load(&c.started),
                  (unsigned long long)(gi.done + gi.cancelled_running));
            CHECK(crew_group_destroy(c.g) == 0, "destroy nested");
            CHECK(crew_group_destroy(outer) == 0, "destroy outer");
            crew_stats_t s = t_settle(ex);
            CHECK(s.live_records == 0 && s.live_tasks == 0 && s.cancel_set_size == 0,
                  "leftovers: records %llu tasks %llu set %llu", (unsigned long long)s.live_records,
                  (unsigned long long)s.live_tasks, (unsigned long long)s.cancel_set_size);
            CHECK(t_cancel_scopes(ex) == 0,
                  "round %d: %u cancel scopes left "
                  "once the groups were destroyed",
                  round, t_cancel_scopes(ex));
        }
        T_DESTROY_CLEAN(&ex, CREW_DRAIN);
        printf("%d rounds on %u workers: ok\n", rounds, workers[w]);
    }
    return 0;
}
