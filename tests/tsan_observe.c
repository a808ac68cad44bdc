/* tsan_observe.c - seeing inside while the executor works: tracing and
 * task timing on, a watchdog running, and a thread that lists tasks,
 * writes the metrics and writes the trace (read as a seqlock while it
 * records) in a loop, against submitters, spawning trees and cancellers.
 * Plain executable (runs under TSan). With an argument, writes the final
 * trace there (the trace_tool test checks it with python3). */
#include <string.h>

#include "common.h"

static crew_t *ex;
static atomic_int stop_observer;
static atomic_long listed, reports, rounds, trees, recent;

static int tree(void *arg)
{
    intptr_t d = (intptr_t)arg;
    if (d > 0) {
        crew_id_t a, b;
        crew_status_t st;
        if (crew_spawn(tree, (void *)(d - 1), &a) != 0 || crew_spawn(tree, (void *)(d - 1), &b))
            return 1;
        crew_join(ex, a, &st);
        crew_join(ex, b, &st);
    }
    return 0;
}

/* Ignores cancellation for a while (the watchdog may report it), then
 * checks until cancelled or bored. */
static int polite(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200; i++)
        sched_yield();
    for (int i = 0; i < 20000 && !crew_cancelled(); i++)
        sched_yield();
    return 0;
}

/* Counts the rows; cancels the running polite tasks it is shown (a
 * cancel request racing with the body's checks and its end). */
static int count_row(const crew_task_row_t *row, void *ctx)
{
    (void)ctx;
    CHECK(row->status == CREW_TASK_QUEUED || row->status == CREW_TASK_RUNNING, "live only: %d",
          (int)row->status);
    atomic_fetch_add(&listed, 1);
    if (row->fn == polite && row->status == CREW_TASK_RUNNING)
        crew_cancel(ex, row->id, 2, "observer");
    return 0;
}

static int count_recent(const crew_task_row_t *row, void *ctx)
{
    (void)ctx;
    CHECK(row->status >= CREW_TASK_DONE && row->status <= CREW_TASK_CANCELLED, "terminal: %d",
          (int)row->status);
    CHECK(row->fn == tree || row->fn == polite, "a body of ours");
    atomic_fetch_add(&recent, 1);
    return 0;
}

static void on_report(const crew_watchdog_report_t *r, void *ctx)
{
    (void)r;
    (void)ctx;
    atomic_fetch_add(&reports, 1);
}

static void *observer(void *arg)
{
    (void)arg;
    while (!flag_get(&stop_observer)) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        crew_stats_t st = CREW_STATS_INIT;
        crew_worker_stats_t ws = CREW_WORKER_STATS_INIT;
        CHECK(f, "memstream");
        for (int i = 0; i < 20; i++)
            CHECK(crew_task_list(ex, NULL, count_row, NULL) >= 0, "list");
        {
            crew_task_filter_t f = CREW_TASK_FILTER_INIT;
            f.recent = true;
            f.states =
                (1u << CREW_TASK_DONE) | (1u << CREW_TASK_FAILED) | (1u << CREW_TASK_CANCELLED);
            CHECK(crew_task_list(ex, &f, count_recent, NULL) >= 0, "recent");
        }
        atomic_fetch_add(&rounds, 1);
        CHECK_RC(crew_metrics_write(ex, f), 0);
        CHECK_RC(crew_trace_write(ex, f), 0);
        fclose(f);
        free(buf);
        CHECK_RC(crew_stats(ex, &st), 0);
        CHECK_RC(crew_worker_stats(ex, 1, &ws), 0);
    }
    return NULL;
}

static void *submitter(void *arg)
{
    long n = (long)(intptr_t)arg;
    /* at least n rounds, and until the observer has looked a few times */
    for (long i = 0; i < n || atomic_load(&rounds) < 3; i++) {
        crew_id_t a, b;
        crew_status_t st;
        CHECK_RC(crew_submit(ex, tree, (void *)(intptr_t)5, &a), 0);
        atomic_fetch_add(&trees, 1);
        CHECK_RC(crew_submit(ex, polite, NULL, &b), 0);
        if (i & 1)
            crew_cancel(ex, b, 1, "tsan"); /* the others: the observer */
        CHECK_RC(crew_join(ex, a, &st), 0);
        CHECK(st == CREW_TASK_DONE, "tree %d", (int)st);
        CHECK_RC(crew_join(ex, b, &st), 0);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    enum { THREADS = 2 };
    pthread_t obs, sub[THREADS];
    long n = t_scaled(200, 4);
    crew_stats_t st = CREW_STATS_INIT;
    uint64_t run = 0;
    t_watchdog(600);
    ex = t_create(4);
    CHECK_RC(crew_trace_start(ex, 1 << 14), 0);
    CHECK_RC(crew_timing(ex, true), 0);
    CHECK_RC(crew_watchdog_start(ex, 1, on_report, NULL), 0);
    CHECK(pthread_create(&obs, NULL, observer, NULL) == 0, "thread");
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&sub[i], NULL, submitter, (void *)(intptr_t)n) == 0, "thread");
    for (int i = 0; i < THREADS; i++)
        pthread_join(sub[i], NULL);
    flag_set(&stop_observer);
    pthread_join(obs, NULL);
    CHECK_RC(crew_trace_stop(ex), 0);
    t_settle(ex);
    CHECK_RC(crew_stats(ex, &st), 0);
    CHECK(st.submitted == (uint64_t)atomic_load(&trees) * (63 + 1), "submitted %llu",
          (unsigned long long)st.submitted);
    CHECK(st.tasks_run == st.submitted - st.removed, "run %llu", (unsigned long long)st.tasks_run);
    for (unsigned i = 0; i <= crew_workers(ex); i++) {
        crew_worker_stats_t ws = CREW_WORKER_STATS_INIT;
        CHECK_RC(crew_worker_stats(ex, i, &ws), 0);
        run += ws.tasks_run;
    }
    CHECK(run == st.tasks_run, "per-worker %llu", (unsigned long long)run);
    if (argc > 1) {
        FILE *f = fopen(argv[1], "w");
        CHECK(f, "open %s", argv[1]);
        CHECK_RC(crew_trace_write(ex, f), 0);
        CHECK(fclose(f) == 0, "close");
    }
    CHECK_RC(crew_watchdog_stop(ex), 0);
    T_DESTROY_CLEAN(&ex, CREW_DRAIN);
    {
        uint64_t checks = 0;
        for (int i = 0; i < CREW_LATENCY_BUCKETS; i++)
            checks += st.cancel_to_check[i];
        printf("tsan_observe: %llu cancel requests reached a running body's check\n",
               (unsigned long long)checks);
    }
    printf("tsan_observe: %ld rounds, %ld observer rounds, %ld rows listed (%ld recent), %ld "
           "watchdog reports\n",
           n, atomic_load(&rounds), atomic_load(&listed), atomic_load(&recent),
           atomic_load(&reports));
    return 0;
}
