/*
 * bench_actor.c - message throughput of crew actors, against the same
 * messages as plain crew tasks updating mutex-protected state.
 *
 *   int bench_actor(unsigned workers, int quick, FILE *log,
 *                   double *msgs_per_s_one, double *msgs_per_s_1000,
 *                   double *mutex_one, double *mutex_1000);
 *
 * Runs four workloads on a fresh executor of `workers` workers (0: crew's
 * default) and stores each one's rate in messages per second (best of
 * three runs; any output pointer may be NULL):
 *   msgs_per_s_one   N messages to one actor (each increments a plain
 *                    counter in the actor's state: no lock in the body);
 *   msgs_per_s_1000  N messages spread round-robin over 1,000 actors;
 *   mutex_one        N plain tasks, each locking one shared mutex and
 *                    incrementing the counter it protects (the baseline);
 *   mutex_1000       N plain tasks over 1,000 mutex-protected counters.
 * In every workload the messages are sent by `workers` producer tasks
 * (N / workers each, from inside the pool, as actors usually receive
 * them), all in one group, and the clock stops when crew_group_wait()
 * says the group is empty; the counters are then checked against N.
 * N is 100,000 with quick != 0, else 1,000,000. One line per workload
 * (and one per failure) goes to `log` if non-NULL.
 * Returns 0, or a negative crew error (a count mismatch is CREW_EINVAL).
 *
 * Build on its own with -DCREW_BENCH_ACTOR_MAIN for a small driver:
 *   cc -O2 -DCREW_BENCH_ACTOR_MAIN -Iinclude perf/bench_actor.c \
 *      build/libcrew.a -lck -lpthread
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crew.h"

int bench_actor(unsigned workers, int quick, FILE *log, double *msgs_per_s_one,
                double *msgs_per_s_1000, double *mutex_one, double *mutex_1000);

#define BA_SPREAD  1000
#define BA_REPEATS 3

/* One counter (an actor's state, or a baseline lock's data), padded so
 * neighbours do not share a cache line (calloc aligns to 16). */
typedef struct ba_slot {
    pthread_mutex_t mu; /* the baseline's lock; unused by actors */
    long count;
    char pad[128 - sizeof(pthread_mutex_t) - sizeof(long)];
} ba_slot_t;

typedef struct ba_run {
    int use_actors;
    long nslots; /* 1 or BA_SPREAD */
    long per_producer;
    ba_slot_t *slots;
    crew_actor_t **actors;
} ba_run_t;

typedef struct ba_producer {
    ba_run_t *run;
    long first; /* global index of this producer's first message */
} ba_producer_t;

static double ba_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* An actor message: the state is the actor's own, no lock. */
static int ba_actor_msg(void *arg)
{
    (void)arg;
    ((ba_slot_t *)crew_actor_state())->count++;
    return 0;
}

/* The baseline: a plain task updating mutex-protected state. */
static int ba_mutex_msg(void *arg)
{
    ba_slot_t *s = arg;
    pthread_mutex_lock(&s->mu);
    s->count++;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static int ba_produce(void *arg)
{
    ba_producer_t *p = arg;
    ba_run_t *r = p->run;
    for (long i = 0; i < r->per_producer; i++) {
        long k = (p->first + i) % r->nslots;
        int rc = r->use_actors ? crew_actor_submit(r->actors[k], ba_actor_msg, NULL, NULL)
                               : crew_spawn(ba_mutex_msg, &r->slots[k], NULL);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* One timed run. Returns messages per second, or < 0 on error. */
static double ba_once(crew_t *ex, unsigned producers, long n, int use_actors, long nslots, int *err)
{
    ba_run_t r;
    ba_producer_t *prod = calloc(producers, sizeof *prod);
    crew_group_t *g = NULL;
    crew_status_t st;
    double t0 = 0.0, t1 = 0.0;
    long total = 0;
    int rc;
    memset(&r, 0, sizeof r);
    r.use_actors = use_actors;
    r.nslots = nslots;
    r.per_producer = n / producers;
    r.slots = calloc((size_t)nslots, sizeof *r.slots);
    r.actors = calloc((size_t)nslots, sizeof *r.actors);
    if (!prod || !r.slots || !r.actors) {
        rc = CREW_ENOMEM;
        goto out;
    }
    for (long k = 0; k < nslots; k++) {
        pthread_mutex_init(&r.slots[k].mu, NULL);
        if (use_actors && (rc = crew_actor_create(ex, &r.slots[k], NULL, &r.actors[k])) != 0)
            goto out;
    }
    if ((rc = crew_group_create(ex, NULL, 0, &g)) != 0)
        goto out;
    t0 = ba_now();
    for (unsigned p = 0; p < producers; p++) {
        crew_task_desc_t d = {.fn = ba_produce, .arg = &prod[p], .cleanup = NULL, .group = g};
        prod[p].run = &r;
        prod[p].first = (long)p * r.per_producer;
        if ((rc = crew_submit_ex(ex, &d, NULL)) != 0)
            goto out;
    }
    /* Actor messages sent from a producer join its group (crew.h), and so
     * do the baseline's spawned tasks: the group empties when all ran. */
    if ((rc = crew_group_wait(g, CREW_FOREVER, &st)) != 0)
        goto out;
    t1 = ba_now();
    if (st != CREW_TASK_DONE) {
        rc = CREW_EINVAL;
        goto out;
    }
    for (long k = 0; k < nslots; k++)
        total += r.slots[k].count;
    if (total != r.per_producer * (long)producers)
        rc = CREW_EINVAL;
out:
    if (g)
        crew_group_destroy(g);
    for (long k = 0; r.slots && k < nslots; k++) {
        if (r.actors && r.actors[k])
            crew_actor_destroy(r.actors[k]);
        pthread_mutex_destroy(&r.slots[k].mu);
    }
    free(r.slots);
    free(r.actors);
    free(prod);
    *err = rc;
    return rc ? -1.0 : (double)(r.per_producer * (long)producers) / (t1 - t0);
}

int bench_actor(unsigned workers, int quick, FILE *log, double *msgs_per_s_one,
                double *msgs_per_s_1000, double *mutex_one, double *mutex_1000)
{
    static const struct {
        const char *name;
        int actors;
        long slots;
    } wl[4] = {{"actor, 1 actor", 1, 1},
               {"actor, 1000 actors", 1, BA_SPREAD},
               {"mutex tasks, 1 lock", 0, 1},
               {"mutex tasks, 1000 locks", 0, BA_SPREAD}};
    double *outp[4] = {msgs_per_s_one, msgs_per_s_1000, mutex_one, mutex_1000};
    crew_options_t o = {.size = sizeof o, .workers = workers, .flags = 0, .spin = 0};
    long n = quick ? 100000 : 1000000;
    crew_t *ex = NULL;
    unsigned producers;
    int rc = crew_create(&ex, &o);
    if (rc != 0) {
        if (log)
            fprintf(log, "bench_actor: crew_create: %s\n", crew_strerror(rc));
        return rc;
    }
    producers = crew_workers(ex);
    for (int w = 0; w < 4; w++) {
        double best = 0;
        for (int rep = 0; rep < BA_REPEATS; rep++) {
            int err = 0;
            double v = ba_once(ex, producers, n, wl[w].actors, wl[w].slots, &err);
            if (err) {
                if (log)
                    fprintf(log, "bench_actor: %s: %s\n", wl[w].name, crew_strerror(err));
                crew_destroy(&ex);
                return err;
            }
            if (v > best)
                best = v;
        }
        if (outp[w])
            *outp[w] = best;
        if (log)
            fprintf(log, "bench_actor: %-24s %10.3f M msgs/s (%ld msgs, %u workers)\n", wl[w].name,
                    best / 1e6, n - n % producers, producers);
    }
    crew_destroy(&ex);
    return 0;
}

#ifdef CREW_BENCH_ACTOR_MAIN
int main(int argc, char **argv)
{
    unsigned workers = argc > 1 ? (unsigned)atoi(argv[1]) : 0;
    int quick = argc > 2 ? atoi(argv[2]) : 1;
    return bench_actor(workers, quick, stdout, NULL, NULL, NULL, NULL) ? 1 : 0;
}
#endif

/* ---- crew-perf rows (not in the standalone driver) --------------------- */
#ifndef CREW_BENCH_ACTOR_MAIN
#include "perf.h"

/* One repetition of a workload: param messages; the time is ba_once's own
 * (first producer submitted to the group empty). */
static int ba_row(void *ex, long n, int use_actors, long nslots, perf_out_t *out)
{
    unsigned producers = crew_workers(ex);
    int err = 0;
    double rate = ba_once(ex, producers, n, use_actors, nslots, &err);
    if (err != 0)
        return perf_fail("%s: %s", use_actors ? "actors" : "mutex tasks",
                         err == CREW_EINVAL ? "message count mismatch" : crew_err_name(err));
    out->seconds = (double)(n - n % (long)producers) / rate;
    return 0;
}

static int ba_one(void *ex, long n, perf_out_t *out) { return ba_row(ex, n, 1, 1, out); }

static int ba_spread(void *ex, long n, perf_out_t *out) { return ba_row(ex, n, 1, BA_SPREAD, out); }

static int ba_mutex_one(void *ex, long n, perf_out_t *out) { return ba_row(ex, n, 0, 1, out); }

static int ba_mutex_spread(void *ex, long n, perf_out_t *out)
{
    return ba_row(ex, n, 0, BA_SPREAD, out);
}

#define BA_CREW(fn)                                                                                \
    {                                                                                              \
        [IMPL_CREW] = { fn, perf_crew_setup, perf_crew_teardown, NULL }                            \
    }

const perf_bench_t perf_bench_actor_one = {
    .name = "actor_one",
    .what = "messages to one actor, sent by one producer task per worker",
    .param = {200000, 1000000},
    .warm = {20000, 100000},
    .flags = PERF_F_RATE,
    .impl = BA_CREW(ba_one),
};

const perf_bench_t perf_bench_actor_1000 = {
    .name = "actor_1000",
    .what = "messages round-robin over 1,000 actors",
    .param = {200000, 1000000},
    .warm = {20000, 100000},
    .flags = PERF_F_RATE,
    .impl = BA_CREW(ba_spread),
};

const perf_bench_t perf_bench_actor_mutex_one = {
    .name = "actor_mutex_one",
    .what = "baseline: the same messages as tasks locking one mutex",
    .param = {200000, 1000000},
    .warm = {20000, 100000},
    .flags = PERF_F_RATE,
    .impl = BA_CREW(ba_mutex_one),
};

const perf_bench_t perf_bench_actor_mutex_1000 = {
    .name = "actor_mutex_1000",
    .what = "baseline: tasks over 1,000 mutex-protected counters",
    .param = {200000, 1000000},
    .warm = {20000, 100000},
    .flags = PERF_F_RATE,
    .impl = BA_CREW(ba_mutex_spread),
};
#endif
