/* tsan_cancel_race.c - the start/cancel race, cancelled from the submitting
 * thread and from a second thread at once. Plain executable. */
#include <string.h>

#include "common.h"

typedef struct race {
    atomic_int ran;
    atomic_int cancel_returned;
    atomic_int misses;
    int spins;
    int ret;
    long body_data; /* plain write in the body, read after join */
} race_t;

static int race_task(void *arg)
{
    race_t *r = arg;
    atomic_store(&r->ran, 1);
    r->body_data = 42;
    for (int i = 0; i <= r->spins; i++)
        if (flag_get(&r->cancel_returned) && !crew_cancelled())
            atomic_fetch_add(&r->misses, 1);
    return r->ret;
}

static void spin_ns(int64_t ns)
{
    int64_t end = t_now_ns() + ns;
    while (t_now_ns() < end) {
    }
}

typedef struct rival {
    crew_t *ex;
    _Atomic crew_id_t id;
    race_t *r;
    atomic_int out;
    atomic_int stop;
} rival_t;

/* Cancels whatever ID it is given, as soon as it is given. */
static void *rival_main(void *arg)
{
    rival_t *v = arg;
    while (!flag_get(&v->stop)) {
        crew_id_t id = atomic_exchange(&v->id, 0);
        if (id == 0) {
            sched_yield();
            continue;
        }
        race_t *r = v->r;
        int out = crew_cancel(v->ex, id, 0, NULL);
        if (out == CREW_REMOVED || out == CREW_REQUESTED)
            flag_set(&r->cancel_returned);
        atomic_store(&v->out, out);
    }
    return NULL;
}

int main(void)
{
    t_watchdog(600);
    long n = t_scaled(20000, 300);
    unsigned seed = 7;
    const unsigned workers[] = {2, 8};
    for (int w = 0; w < 2; w++) {
        crew_t *ex = t_create(workers[w]);
        rival_t v;
        memset(&v, 0, sizeof v);
        v.ex = ex;
        pthread_t th;
        CHECK(pthread_create(&th, NULL, rival_main, &v) == 0, "thread");
        long count[4] = {0}, removed_total = 0, requested_total = 0, late_total = 0;
        for (long i = 0; i < n; i++) {
            race_t r;
            memset(&r, 0, sizeof r);
            r.spins = (int)(rand_r(&seed) % 64);
            r.ret = (int)(rand_r(&seed) % 3 == 0);
            crew_id_t id;
            CHECK(crew_submit(ex, race_task, &r, &id) == 0, "submit");
            atomic_store(&v.out, 0);
            v.r = &r; /* published by the atomic store of id below */
            atomic_store(&v.id, id);
            switch (rand_r(&seed) % 4) { /* land anywhere in the race */
            case 0:
                break;
            case 1:
                sched_yield();
                break;
            case 2:
                spin_ns(2000);
                break;
            default:
                spin_ns(20000);
                break;
            }
            int mine = crew_cancel(ex, id, 0, NULL);
            if (mine == CREW_REMOVED || mine == CREW_REQUESTED)
                flag_set(&r.cancel_returned);
            crew_status_t st = t_join(ex, id);
            int theirs;
            while ((theirs = atomic_load(&v.out)) == 0)
                sched_yield();
            CHECK(mine >= 1 && mine <= 3 &&
                      ((theirs >= 1 && theirs <= 3) || theirs == CREW_ENOTASK),
                  "outcomes %d %d", mine, theirs);
            int removed = (mine == CREW_REMOVED) + (theirs == CREW_REMOVED);
            int requested = (mine == CREW_REQUESTED) + (theirs == CREW_REQUESTED);
            CHECK(removed <= 1, "two cancels both removed task %ld", i);
            CHECK(!(removed && requested), "task %ld both removed and requested", i);
            if (removed) {
                CHECK(st == CREW_TASK_CANCELLED, "removed task ended %s", crew_status_name(st));
                CHECK(atomic_load(&r.ran) == 0, "removed task %ld ran", i);
            } else if (requested) {
                CHECK(st == CREW_TASK_CANCELLED, "requested task %ld ended %s", i,
                      crew_status_name(st));
                CHECK(r.body_data == 42, "requested task never ran");
            } else {
                CHECK(st == (r.ret ? CREW_TASK_FAILED : CREW_TASK_DONE),
                      "too-late task %ld ended %s", i, crew_status_name(st));
                CHECK(r.body_data == 42, "finished task never ran");
            }
            CHECK(atomic_load(&r.misses) == 0,
                  "task %ld: %d checks after cancel returned said not cancelled", i,
                  atomic_load(&r.misses));
            count[mine]++;
            removed_total += removed;
            requested_total += requested;
            late_total += (mine == CREW_TOO_LATE) + (theirs == CREW_TOO_LATE);
        }
        flag_set(&v.stop);
        pthread_join(th, NULL);
        crew_stats_t s = t_settle(ex);
        CHECK(s.removed == (uint64_t)removed_total, "removed %llu want %ld",
              (unsigned long long)s.removed, removed_total);
        CHECK(s.live_records == 0 && s.cancel_set_size == 0, "leftovers");
        T_DESTROY_CLEAN(&ex, CREW_DRAIN);
        printf("%u workers, %ld tasks: removed %ld, requested %ld (by this "
               "thread: %ld/%ld/%ld)\n",
               workers[w], n, removed_total, requested_total, count[1], count[2], count[3]);
        (void)late_total;
    }
    return 0;
}
