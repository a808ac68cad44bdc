/*
 * test_faults - crew under allocation and thread-creation failure.
 *
 * A fixed scenario (2 workers; 50 tasks, each spawning 2 children it joins,
 * task 0 also spawning BULK children it holds at once so the record pool
 * (and perhaps the deque ring) grows; half of the tasks in a group; tasks
 * 40..49 submitted as one batch; every other task cancelled; the group and
 * NGROUPS more groups cancelled, so the cancellation set grows; shutdown;
 * join everything; destroy) first runs with injection off to count its
 * allocations N, then once for every k in 0..N-1 with allocation k failing.
 * Each time:
 *   - every call returns success or CREW_ENOMEM (never crashes);
 *   - the scenario adapts: a refused submission is not expected to run and
 *     its argument is still the caller's (freed here); an accepted one has
 *     its cleanup run exactly once; a cancel that said REMOVED means the
 *     body never ran;
 *   - after crew_destroy, crew__fault_live_bytes() == 0.
 * The walk runs once with a CREW_DRAIN shutdown and once with CREW_CANCEL.
 * Then crew_create with thread creation k failing (k = 0..workers-1) must
 * return CREW_ETHREAD and leak nothing.
 * $CREW_FAULTS_VERBOSE prints which calls reported ENOMEM for each k.
 *
 * A plain executable (it also runs under ThreadSanitizer). Exit 0 on success.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crew.h"
#include "fault.h"

#define NTASKS     50
#define NKIDS      2
#define BATCH_FROM 40 /* tasks BATCH_FROM..NTASKS-1 go in one batch */
#define BULK                                                                                       \
    1500           /* children of task 0, all live at once: more than one
                         record slab (1024), perhaps one deque ring (1024) */
#define NGROUPS 80 /* extra cancelled groups: > the set's initial 64 */

static int failures;
static int64_t cur_k = -1; /* under wd_mu */
static const char *cur_what = "";

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL (%s, k=%" PRId64 ") %s:%d: ", cur_what, cur_k, __FILE__,         \
                    __LINE__);                                                                     \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* Per-run bookkeeping, one slot per task and per child. */
struct run {
    crew_t *ex;
    _Atomic int ran[NTASKS][NKIDS + 1]; /* [i][0]: task i, [i][1+j]: kid */
    _Atomic int cleaned[NTASKS][NKIDS + 1];
    _Atomic int accepted[NTASKS][NKIDS + 1]; /* submission succeeded */
    _Atomic int removed[NTASKS];             /* our cancel said REMOVED */
    _Atomic int bulk_ran[BULK], bulk_cleaned[BULK], bulk_accepted[BULK];
    _Atomic int enomem; /* ENOMEM seen (any thread) */
    _Atomic int bad;    /* unexpected codes in tasks */
};

struct arg {
    struct run *run;
    int task, kid; /* kid: 0 for the task itself, 1..NKIDS for children */
};

/* Which calls reported CREW_ENOMEM over the whole walk. */
enum call {
    C_CREATE,
    C_GROUP_CREATE,
    C_SUBMIT,
    C_BATCH,
    C_SPAWN,
    C_CANCEL,
    C_GROUP_CANCEL,
    C_OTHER,
    C__COUNT
};
static const char *const call_names[C__COUNT] = {
    "crew_create",       "crew_group_create", "crew_submit_ex",    "crew_submit_batch",
    "spawn (in a task)", "crew_cancel",       "crew_group_cancel", "other"};
static _Atomic uint64_t enomem_by_call[C__COUNT];

static void note_call(struct run *r, int rc, enum call c)
{
    if (rc == CREW_ENOMEM) {
        atomic_fetch_add(&r->enomem, 1);
        atomic_fetch_add(&enomem_by_call[c], 1);
    }
}

static void note(struct run *r, int rc) { note_call(r, rc, C_OTHER); }

static struct run *bulk_run; /* the run whose bulk children are live */
static bool verbose;         /* $CREW_FAULTS_VERBOSE: one line per k */

static int bulk_body(void *p)
{
    atomic_fetch_add(&bulk_run->bulk_ran[(uintptr_t)p], 1);
    return 0;
}

static void bulk_cleanup(void *p) { atomic_fetch_add(&bulk_run->bulk_cleaned[(uintptr_t)p], 1); }

static void arg_cleanup(void *p)
{
    struct arg *a = p;
    atomic_fetch_add(&a->run->cleaned[a->task][a->kid], 1);
    free(a);
}

static struct arg *new_arg(struct run *r, int task, int kid)
{
    struct arg *a = malloc(sizeof *a);
    if (!a) {
        perror("malloc");
        exit(2);
    }
    a->run = r;
    a->task = task;
    a->kid = kid;
    return a;
}

static int kid_body(void *p)
{
    struct arg *a = p;
    atomic_fetch_add(&a->run->ran[a->task][a->kid], 1);
    return 0;
}

static int task_body(void *p)
{
    struct arg *a = p;
    struct run *r = a->run;
    crew_id_t ids[NKIDS];
    bool have[NKIDS] = {false};

    atomic_fetch_add(&r->ran[a->task][0], 1);
    if (a->task == 0) {
        /* Joinable, joined only after all are spawned: BULK live records. */
        static crew_id_t bulk_ids[BULK];
        crew_task_desc_t d = {.fn = bulk_body, .cleanup = bulk_cleanup};
        for (uintptr_t b = 0; b < BULK; b++) {
            int rc;
            d.arg = (void *)b;
            rc = crew_submit_ex(crew_current(), &d, &bulk_ids[b]);
            note_call(r, rc, C_SPAWN);
            if (rc == 0)
                atomic_store(&r->bulk_accepted[b], 1);
            else if (rc != CREW_ENOMEM)
                atomic_fetch_add(&r->bad, 1);
        }
        for (int b = 0; b < BULK; b++) {
            crew_status_t st;
            int rc;
            if (!atomic_load(&r->bulk_accepted[b]))
                continue;
            rc = crew_join(r->ex, bulk_ids[b], &st);
            if (rc != 0 && rc != CREW_ECANCELED)
                atomic_fetch_add(&r->bad, 1);
        }
    }
    for (int j = 0; j < NKIDS; j++) {
        struct arg *k = new_arg(r, a->task, 1 + j);
        crew_task_desc_t d = {.fn = kid_body, .arg = k, .cleanup = arg_cleanup};
        int rc = crew_submit_ex(crew_current(), &d, &ids[j]);
        note_call(r, rc, C_SPAWN);
        if (rc == 0) {
            atomic_store(&r->accepted[a->task][1 + j], 1);
            have[j] = true;
        } else {
            if (rc != CREW_ENOMEM)
                atomic_fetch_add(&r->bad, 1);
            free(k); /* refused: still ours */
        }
    }
    for (int j = 0; j < NKIDS; j++) {
        crew_status_t st;
        int rc;
        if (!have[j])
            continue;
        rc = crew_join(r->ex, ids[j], &st);
        note(r, rc);
        if (rc == CREW_ENOMEM) {
            rc = crew_release(r->ex, ids[j]);
            note(r, rc);
        }
        if ((rc != 0 && rc != CREW_ECANCELED && rc != CREW_ENOMEM) ||
            ((rc == 0 || rc == CREW_ECANCELED) && st < CREW_TASK_DONE))
            atomic_fetch_add(&r->bad, 1);
    }
    return a->task % 7 == 0 ? 1 : 0;
}

/* Runs the scenario once. Returns true if some call reported ENOMEM. */
static bool scenario(crew_shutdown_mode_t mode)
{
    static struct run run;
    struct run *r = &run;
    crew_options_t o = {.size = sizeof o};
    crew_group_t *g = NULL, *more[NGROUPS] = {NULL};
    crew_id_t ids[NTASKS] = {0};
    crew_stats_t s = {.size = sizeof s};
    crew_status_t st;
    int rc;

    memset(r, 0, sizeof *r);
    bulk_run = r;
    o.workers = 2;
    rc = crew_create(&r->ex, &o);
    note_call(r, rc, C_CREATE);
    if (rc == CREW_ENOMEM) {
        CHECK(crew__fault_live_bytes() == 0,
              "crew_create failed with ENOMEM but leaked %" PRId64 " bytes",
              crew__fault_live_bytes());
        return true;
    }
    CHECK(rc == 0, "crew_create: %s", crew_err_name(rc));
    if (rc != 0)
        return false;

    rc = crew_group_create(r->ex, NULL, 0, &g);
    note_call(r, rc, C_GROUP_CREATE);
    CHECK(rc == 0 || rc == CREW_ENOMEM, "crew_group_create: %s", crew_err_name(rc));
    if (rc != 0)
        g = NULL;
    for (int i = 0; i < NGROUPS; i++) {
        rc = crew_group_create(r->ex, NULL, 0, &more[i]);
        note_call(r, rc, C_GROUP_CREATE);
        CHECK(rc == 0 || rc == CREW_ENOMEM, "crew_group_create: %s", crew_err_name(rc));
        if (rc != 0) {
            more[i] = NULL;
            continue;
        }
        rc = crew_group_cancel(more[i], 3, "more");
        note_call(r, rc, C_GROUP_CANCEL);
        CHECK(rc == 0 || rc == CREW_ENOMEM, "crew_group_cancel: %s", crew_err_name(rc));
    }

    for (int i = 0; i < BATCH_FROM; i++) {
        struct arg *a = new_arg(r, i, 0);
        crew_task_desc_t d = {
            .fn = task_body, .arg = a, .cleanup = arg_cleanup, .group = i % 2 ? NULL : g};
        rc = crew_submit_ex(r->ex, &d, &ids[i]);
        note_call(r, rc, C_SUBMIT);
        CHECK(rc == 0 || rc == CREW_ENOMEM, "submit %d: %s", i, crew_err_name(rc));
        if (rc == 0) {
            atomic_store(&r->accepted[i][0], 1);
        } else {
            ids[i] = 0;
            free(a); /* refused: still ours */
        }
    }
    {
        void *args[NTASKS - BATCH_FROM];
        crew_task_desc_t d = {.fn = task_body, .cleanup = arg_cleanup, .group = g};
        for (int i = BATCH_FROM; i < NTASKS; i++)
            args[i - BATCH_FROM] = new_arg(r, i, 0);
        rc = crew_submit_batch(r->ex, &d, args, NTASKS - BATCH_FROM, &ids[BATCH_FROM]);
        note_call(r, rc, C_BATCH);
        CHECK(rc == 0 || rc == CREW_ENOMEM, "batch: %s", crew_err_name(rc));
        for (int i = BATCH_FROM; i < NTASKS; i++) {
            if (rc == 0) {
                atomic_store(&r->accepted[i][0], 1);
            } else {
                ids[i] = 0;
                free(args[i - BATCH_FROM]); /* all or nothing: ours */
            }
        }
    }

    for (int i = 1; i < NTASKS; i += 2) {
        if (!ids[i])
            continue;
        rc = crew_cancel(r->ex, ids[i], 1, "half");
        note_call(r, rc, C_CANCEL);
        CHECK(rc == CREW_REMOVED || rc == CREW_REQUESTED || rc == CREW_TOO_LATE ||
                  rc == CREW_ENOMEM,
              "cancel %d: %s", i, crew_err_name(rc));
        if (rc == CREW_REMOVED) {
            atomic_store(&r->removed[i], 1);
            CHECK(atomic_load(&r->cleaned[i][0]) == 1,
                  "cancel %d said REMOVED before the cleanup ran", i);
        }
    }
    if (g) {
        rc = crew_group_cancel(g, 2, "group");
        note_call(r, rc, C_GROUP_CANCEL);
        CHECK(rc == 0 || rc == CREW_ENOMEM, "group cancel: %s", crew_err_name(rc));
    }

    rc = crew_shutdown(r->ex, mode);
    CHECK(rc == 0, "crew_shutdown: %s", crew_err_name(rc));

    for (int i = 0; i < NTASKS; i++) {
        if (!ids[i])
            continue;
        rc = crew_join(r->ex, ids[i], &st);
        note(r, rc);
        CHECK(rc == 0 || rc == CREW_ENOMEM, "join %d: %s", i, crew_err_name(rc));
        if (rc == CREW_ENOMEM)
            (void)crew_release(r->ex, ids[i]);
        else
            CHECK(st >= CREW_TASK_DONE && st <= CREW_TASK_CANCELLED, "join %d: status %d", i,
                  (int)st);
        if (rc == 0 && atomic_load(&r->removed[i]))
            CHECK(st == CREW_TASK_CANCELLED, "task %d REMOVED but %s", i, crew_status_name(st));
    }
    if (g) {
        rc = crew_group_wait(g, CREW_FOREVER, &st);
        note(r, rc);
        CHECK(rc == 0 || rc == CREW_ENOMEM, "group wait: %s", crew_err_name(rc));
        rc = crew_group_destroy(g);
        CHECK(rc == 0, "group destroy: %s", crew_err_name(rc));
    }
    for (int i = 0; i < NGROUPS; i++)
        if (more[i]) {
            rc = crew_group_destroy(more[i]);
            CHECK(rc == 0, "group destroy: %s", crew_err_name(rc));
        }

    rc = crew_stats(r->ex, &s);
    CHECK(rc == 0, "crew_stats: %s", crew_err_name(rc));
    CHECK(s.live_tasks == 0 && s.live_records == 0 && s.cancel_set_size == 0,
          "at the end: live_tasks %" PRIu64 " live_records %" PRIu64 " cancel_set_size %" PRIu64,
          s.live_tasks, s.live_records, s.cancel_set_size);
    CHECK(s.done + s.failed + s.cancelled == s.submitted,
          "done %" PRIu64 " + failed %" PRIu64 " + cancelled %" PRIu64 " != submitted %" PRIu64,
          s.done, s.failed, s.cancelled, s.submitted);
    /* No cancel scope left but a CANCEL shutdown's own, whatever failed. */
    CHECK(crew__debug_cancel_scopes(r->ex) == (mode == CREW_CANCEL ? 1u : 0u),
          "%u cancel scope(s) left after the %s shutdown", crew__debug_cancel_scopes(r->ex),
          mode == CREW_CANCEL ? "CANCEL" : "DRAIN");

    rc = crew_destroy(&r->ex);
    CHECK(rc == 0 && r->ex == NULL, "crew_destroy: %s", crew_err_name(rc));
    CHECK(crew__fault_live_bytes() == 0, "%" PRId64 " bytes still allocated after crew_destroy",
          crew__fault_live_bytes());
    CHECK(atomic_load(&r->bad) == 0, "%d unexpected codes inside tasks (spawn/join)",
          atomic_load(&r->bad));

    {
        uint64_t accepted = 0;
        for (int i = 0; i < NTASKS; i++)
            for (int j = 0; j <= NKIDS; j++) {
                int acc = atomic_load(&r->accepted[i][j]);
                int ran = atomic_load(&r->ran[i][j]);
                int cl = atomic_load(&r->cleaned[i][j]);
                accepted += (uint64_t)acc;
                CHECK(cl == acc,
                      "task %d.%d: accepted %d, cleanup ran %d "
                      "times",
                      i, j, acc, cl);
                CHECK(ran <= acc, "task %d.%d: accepted %d, ran %d times", i, j, acc, ran);
            }
        for (int i = 0; i < NTASKS; i++)
            CHECK(!(atomic_load(&r->removed[i]) && atomic_load(&r->ran[i][0])),
                  "task %d: cancel said REMOVED, yet it ran", i);
        for (int b = 0; b < BULK; b++) {
            int acc = atomic_load(&r->bulk_accepted[b]);
            accepted += (uint64_t)acc;
            CHECK(atomic_load(&r->bulk_cleaned[b]) == acc && atomic_load(&r->bulk_ran[b]) <= acc,
                  "bulk child %d: accepted %d, ran %d, cleanup ran %d", b, acc,
                  atomic_load(&r->bulk_ran[b]), atomic_load(&r->bulk_cleaned[b]));
        }
        CHECK(s.submitted == accepted, "crew_stats submitted %" PRIu64 ", accepted %" PRIu64,
              s.submitted, accepted);
    }
    return atomic_load(&r->enomem) != 0;
}

/* ---- watchdog: a run that hangs is reported with its k ---------------- */

static pthread_mutex_t wd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cv;
static bool wd_stop;
static uint64_t wd_runs; /* under wd_mu: runs started */

static void set_run(const char *what, int64_t k)
{
    pthread_mutex_lock(&wd_mu);
    cur_what = what;
    cur_k = k;
    wd_runs++;
    pthread_mutex_unlock(&wd_mu);
}

static void *watchdog(void *arg)
{
    uint64_t seen = UINT64_MAX;
    int idle = 0;
    (void)arg;
    pthread_mutex_lock(&wd_mu);
    while (!wd_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 1;
        /* Timed wait: a periodic check, not synchronization. */
        pthread_cond_timedwait(&wd_cv, &wd_mu, &ts);
        if (wd_stop)
            break;
        if (wd_runs != seen) {
            seen = wd_runs;
            idle = 0;
        } else if (++idle >= 30) {
            fprintf(stderr,
                    "FAIL: run '%s' with allocation %" PRId64
                    " failing has not finished in 30 s (hang)\n",
                    cur_what, cur_k);
            abort();
        }
    }
    pthread_mutex_unlock(&wd_mu);
    return NULL;
}

static void walk(crew_shutdown_mode_t mode, const char *name, int64_t *tried, int64_t *surfaced,
                 int64_t *missed)
{
    int64_t n = 0;
    for (int rep = 0; rep < 3; rep++) {
        /* Allocations vary a little with scheduling: take the largest. */
        set_run(name, -1);
        crew__fault_reset();
        CHECK(!scenario(mode), "ENOMEM reported with injection off");
        if (crew__fault_alloc_count() > n)
            n = crew__fault_alloc_count();
    }
    CHECK(n > 0, "the scenario made no allocation through crew__malloc: "
                 "is CREW_FAULT_INJECTION on?");
    for (int64_t k = 0; k < n; k++) {
        uint64_t before[C__COUNT];
        bool hit;
        for (int c = 0; c < C__COUNT; c++)
            before[c] = atomic_load(&enomem_by_call[c]);
        set_run(name, k);
        crew__fault_reset();
        crew__fault_fail_alloc_at(k);
        hit = scenario(mode);
        if (verbose) {
            printf("  %s k=%" PRId64 ":", name, k);
            for (int c = 0; c < C__COUNT; c++)
                if (atomic_load(&enomem_by_call[c]) != before[c])
                    printf(" %s", call_names[c]);
            printf("%s\n", hit ? "" : " (absorbed)");
        }
        if (crew__fault_alloc_count() <= k)
            (*missed)++; /* this run made fewer than k+1 allocations */
        *surfaced += hit;
        (*tried)++;
    }
    crew__fault_reset();
    printf("test_faults: %s: %" PRId64 " allocations in the clean run, all "
           "%" PRId64 " failure points tried\n",
           name, n, n);
}

static void thread_failures(int64_t *tried)
{
    static const unsigned counts[] = {1, 2, 4};
    for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
        for (unsigned k = 0; k < counts[c]; k++) {
            crew_options_t o = {.size = sizeof o};
            crew_t *ex = NULL;
            int rc;
            set_run("thread", k);
            crew__fault_reset();
            crew__fault_fail_thread_at(k);
            o.workers = counts[c];
            rc = crew_create(&ex, &o);
            crew__fault_reset();
            CHECK(rc == CREW_ETHREAD,
                  "workers=%u, thread %u failing: "
                  "crew_create gave %s",
                  counts[c], k, crew_err_name(rc));
            if (rc == 0)
                crew_destroy(&ex);
            CHECK(crew__fault_live_bytes() == 0,
                  "workers=%u, thread %u failing: %" PRId64 " bytes leaked", counts[c], k,
                  crew__fault_live_bytes());
            (*tried)++;
        }
    }
}

int main(void)
{
    pthread_condattr_t ca;
    pthread_t wd;
    int64_t tried = 0, surfaced = 0, missed = 0, threads = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    verbose = getenv("CREW_FAULTS_VERBOSE") != NULL;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wd_cv, &ca);
    pthread_create(&wd, NULL, watchdog, NULL);

    walk(CREW_DRAIN, "drain", &tried, &surfaced, &missed);
    walk(CREW_CANCEL, "cancel", &tried, &surfaced, &missed);
    thread_failures(&threads);
    CHECK(surfaced > 0, "no failure point ever surfaced as CREW_ENOMEM");

    pthread_mutex_lock(&wd_mu);
    wd_stop = true;
    pthread_cond_signal(&wd_cv);
    pthread_mutex_unlock(&wd_mu);
    pthread_join(wd, NULL);

    printf("test_faults: CREW_ENOMEM surfaced from:");
    for (int c = 0; c < C__COUNT; c++)
        if (atomic_load(&enomem_by_call[c]))
            printf(" %s x%" PRIu64, call_names[c], atomic_load(&enomem_by_call[c]));
    printf("\n");
    printf("test_faults: %s: %" PRId64 " allocation failure points tried "
           "(%" PRId64 " surfaced as CREW_ENOMEM, %" PRId64 " absorbed, "
           "%" PRId64 " not reached), %" PRId64 " thread-creation failure "
           "points, %d failed checks\n",
           failures ? "FAIL" : "OK", tried, surfaced, tried - surfaced - missed, missed, threads,
           failures);
    return failures ? 1 : 0;
}
