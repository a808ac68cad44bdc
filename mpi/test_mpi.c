/*
 * test_mpi.c - the mpi/ tests: one program, one scenario per argument, run
 * by CTest under mpirun (-np 2, -np 4) and without it (MPI's singleton).
 *
 * Rules, as in tests/common.h: nothing sleeps to synchronise. A scenario
 * that must act "halfway" waits for facts: a count of outcomes at the
 * origin, and a message a blocking job sends when it has started (so a
 * cancel is known to find it running). Blocking jobs end only through
 * cancellation, so a cancel that does not reach them makes the test time
 * out (CTest TIMEOUT, and every wait here has its own 60 s limit) instead
 * of passing. Every check runs on rank 0 unless it says otherwise; a
 * failed check prints and calls MPI_Abort, which ends every rank.
 */
#define _GNU_SOURCE
#include "crew_mpi.h"

#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_NS             ((int64_t)60 * 1000000000LL)
#define TAG_STARTED         101
#define TAG_GO              102
#define TAG_CANCEL_RETURNED 103
#define TAG_NEVER           104

static MPI_Comm tcomm; /* the tests' own messages (crew_mpi has its own) */
static bool signal_start = true;
static _Atomic uint64_t local_sum; /* payload values of the jobs run here */

/* Open MPI's blocking calls poll the network at full speed: on a machine
 * with fewer cores than ranks a rank blocked in MPI_Recv or MPI_Barrier
 * would take the CPU its own jobs and the other ranks need. The tests
 * therefore wait for their own messages with a test-and-sleep loop
 * (a poll of a completion, not a synchronisation by time). */
static void calm(MPI_Request *r, MPI_Status *st)
{
    long pause = 10000;
    for (;;) {
        int flag = 0;
        MPI_Test(r, &flag, st);
        if (flag)
            return;
        struct timespec ts = {0, pause};
        nanosleep(&ts, NULL);
        if ((pause *= 2) > 1000000)
            pause = 1000000;
    }
}

static void crecv(void *buf, int n, MPI_Datatype t, int src, int tag, MPI_Status *st)
{
    MPI_Request r;
    MPI_Irecv(buf, n, t, src, tag, tcomm, &r);
    calm(&r, st);
}

static void cbarrier(void)
{
    MPI_Request r;
    MPI_Ibarrier(tcomm, &r);
    calm(&r, MPI_STATUS_IGNORE);
}

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "rank %d: %s:%d: check failed: %s\n", my_rank, __FILE__, __LINE__,     \
                    #c);                                                                           \
            fflush(stderr);                                                                        \
            MPI_Abort(MPI_COMM_WORLD, 1);                                                          \
        }                                                                                          \
    } while (0)

static int my_rank;

typedef struct out {
    int64_t value;
    int32_t rank;
    int32_t extra;
} out_t;

static void set_out(crew_mpi_job_t *job, int64_t value, int32_t extra)
{
    out_t *o = malloc(sizeof *o);
    if (!o)
        return;
    *o = (out_t){value, job->rank, extra};
    job->result = o;
    job->result_size = sizeof *o;
}

static uint64_t payload_u64(const crew_mpi_job_t *job)
{
    uint64_t v = 0;
    memcpy(&v, job->payload, job->size < sizeof v ? job->size : sizeof v);
    return v;
}

/* x -> x*x */
static int fn_square(crew_mpi_job_t *job)
{
    uint64_t x = payload_u64(job);
    /* relaxed: read by this thread's rank after crew_mpi_finalize's joins */
    atomic_fetch_add_explicit(&local_sum, x, memory_order_relaxed);
    set_out(job, (int64_t)(x * x), 0);
    return 0;
}

/* Deterministic CPU work: payload = units. */
static int fn_spin(crew_mpi_job_t *job)
{
    uint64_t units = payload_u64(job), s = job->index + 1;
    for (uint64_t u = 0; u < units * 4000; u++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
    }
    set_out(job, (int64_t)units, (int32_t)(s & 1));
    return 0;
}

static void say_started(void)
{
    if (!signal_start)
        return;
    static const int one = 1;
    MPI_Request r;
    MPI_Isend(&one, 1, MPI_INT, 0, TAG_STARTED, tcomm, &r);
    MPI_Request_free(&r);
}

/* Runs until cancelled; tells rank 0 it started. */
static int fn_block(crew_mpi_job_t *job)
{
    say_started();
    while (!crew_cancelled()) {
        struct timespec ts = {0, 200000}; /* a polling job, not a synchronisation */
        nanosleep(&ts, NULL);
    }
    set_out(job, 1, 1); /* saw the cancellation */
    return 7;           /* ignored: a requested job ends CANCELLED */
}

/* Fails at index == payload. */
static int fn_fail(crew_mpi_job_t *job)
{
    set_out(job, (int64_t)job->index, 0);
    return job->index == payload_u64(job) ? 42 : 0;
}

/* Waits for a message nobody sends, cancellably. */
static int fn_irecv(crew_mpi_job_t *job)
{
    int v = 0;
    MPI_Request r;
    MPI_Status st;
    MPI_Irecv(&v, 1, MPI_INT, MPI_ANY_SOURCE, TAG_NEVER, tcomm, &r);
    say_started();
    int rc = crew_mpi_wait_request(job, &r, &st);
    int cancelled = 0;
    MPI_Test_cancelled(&st, &cancelled);
    set_out(job, rc, r == MPI_REQUEST_NULL && cancelled);
    return rc;
}

/* Kills its own rank on rank 1, blocks elsewhere. */
static int fn_die(crew_mpi_job_t *job)
{
    if (job->rank == 1)
        raise(SIGKILL);
    return fn_block(job);
}

static const crew_mpi_fn_entry_t fns[] = {
    {"square", fn_square}, {"spin", fn_spin},   {"block", fn_block},
    {"fail", fn_fail},     {"irecv", fn_irecv}, {"die", fn_die},
};
enum { F_SQUARE, F_SPIN, F_BLOCK, F_FAIL, F_IRECV, F_DIE };

/* The test initialises MPI itself (crew_mpi_init() then leaves it alone),
 * so that its own communicator outlives crew_mpi_finalize(): jobs of other
 * origins may still use it on this rank until then. */
static crew_mpi_t *start(int *argc, char ***argv, unsigned flags)
{
    int provided;
    MPI_Init_thread(argc, argv,
                    flags & CREW_MPI_OPT_FUNNELED ? MPI_THREAD_FUNNELED : MPI_THREAD_MULTIPLE,
                    &provided);
    /* Before crew_mpi_init(): other ranks' jobs may run here from then on. */
    MPI_Comm_dup(MPI_COMM_WORLD, &tcomm);
    crew_mpi_options_t o = CREW_MPI_OPTIONS_INIT;
    o.fns = fns;
    o.nfns = sizeof fns / sizeof fns[0];
    o.workers = 1; /* 4 ranks share 2 cores here */
    o.flags = flags;
    crew_mpi_t *m = NULL;
    int rc = crew_mpi_init(argc, argv, &o, &m);
    if (rc) {
        fprintf(stderr, "crew_mpi_init: %d\n", rc);
        exit(1);
    }
    my_rank = crew_mpi_rank(m);
    return m;
}

static void finish(crew_mpi_t *m)
{
    int rc = crew_mpi_finalize(&m);
    CHECK(rc == 0 && m == NULL);
    MPI_Comm_free(&tcomm);
    MPI_Finalize();
}

static crew_mpi_batch_t *submit_fn(crew_mpi_t *m, size_t n, uint32_t (*fn_of)(size_t),
                                   uint32_t (*group_of)(size_t), uint64_t (*payload_of)(size_t))
{
    crew_mpi_job_desc_t *d = calloc(n ? n : 1, sizeof *d);
    uint64_t *p = calloc(n ? n : 1, sizeof *p);
    CHECK(d && p);
    for (size_t i = 0; i < n; i++) {
        p[i] = payload_of(i);
        d[i] = (crew_mpi_job_desc_t){
            .fn = fn_of(i), .group = group_of ? group_of(i) : 0, .payload = &p[i], .size = 8};
    }
    crew_mpi_batch_t *b = NULL;
    CHECK(crew_mpi_submit(m, d, n, &b) == 0);
    free(d);
    free(p);
    return b;
}

static uint64_t ident(size_t i) { return i; }
static uint32_t always_square(size_t i) { return (void)i, F_SQUARE; }

static void get(crew_mpi_batch_t *b, uint64_t i, crew_mpi_result_t *r, out_t *o)
{
    CHECK(crew_mpi_batch_result(b, i, r) == 0);
    memset(o, 0, sizeof *o);
    if (r->data) {
        CHECK(r->data_size == sizeof *o);
        memcpy(o, r->data, sizeof *o);
    }
}

/* ---- every job exactly once: each rank submits a batch at once ---------- */
static void exactly_once(crew_mpi_t *m)
{
    int P = crew_mpi_size(m);
    size_t n = 3000;
    crew_mpi_batch_t *b = submit_fn(m, n, always_square, NULL, ident);
    CHECK(crew_mpi_batch_wait(b, WAIT_NS) == 0);
    crew_mpi_batch_info_t info = CREW_MPI_BATCH_INFO_INIT;
    CHECK(crew_mpi_batch_info(b, &info) == 0);
    CHECK(info.finished && info.done == n && info.terminal == n && info.cancelled == 0);
    uint64_t sum_sq = 0;
    for (size_t i = 0; i < n; i++) {
        crew_mpi_result_t r;
        out_t o;
        get(b, i, &r, &o);
        CHECK(r.status == CREW_TASK_DONE && r.code == 0 && !r.removed);
        CHECK(o.value == (int64_t)(i * i) && o.rank == r.rank && r.rank >= 0 && r.rank < P);
        sum_sq += (uint64_t)o.value;
    }
    CHECK(sum_sq == (uint64_t)(n - 1) * n * (2 * n - 1) / 6);
    uint64_t id = crew_mpi_batch_id(b);
    CHECK(id >> 40 == (uint64_t)my_rank);
    CHECK(crew_mpi_batch_free(b) == 0);
    /* A freed batch counts as finished: a waiting cancel returns at once. */
    CHECK(crew_mpi_cancel(m, id, CREW_MPI_CANCEL_BATCH, 0, WAIT_NS) == 0);
    /* Bad input changes nothing. */
    CHECK(crew_mpi_fn_index(m, "spin") == F_SPIN && crew_mpi_fn_index(m, "nope") == CREW_EINVAL);
    crew_mpi_job_desc_t bad = {.fn = 99};
    crew_mpi_batch_t *nb = b;
    CHECK(crew_mpi_submit(m, &bad, 1, &nb) == CREW_EINVAL && nb == NULL);
    CHECK(crew_mpi_cancel(m, 0, CREW_MPI_CANCEL_BATCH, 0, 0) == CREW_EINVAL);
    CHECK(crew_mpi_cancel(m, (uint64_t)P << 40 | 1, CREW_MPI_CANCEL_BATCH, 0, 0) == CREW_EINVAL);
    CHECK(crew_mpi_cancel(m, id, (crew_mpi_scope_t)7, 0, 0) == CREW_EINVAL);
    CHECK(crew_mpi_batch_wait(NULL, 0) == CREW_EINVAL);
    /* An empty batch is finished at once and may be freed at once. */
    crew_mpi_batch_t *e = NULL;
    CHECK(crew_mpi_submit(m, NULL, 0, &e) == 0 && crew_mpi_batch_wait(e, 0) == 0);
    CHECK(crew_mpi_batch_free(e) == 0);
    /* Bodies run everywhere, counted where they ran: each job once. After
     * the barrier every batch is finished, so every body here has returned
     * (its outcome left this rank after its crew task was joined). */
    cbarrier();
    crew_mpi_stats_t s = CREW_MPI_STATS_INIT;
    CHECK(crew_mpi_stats(m, &s) == 0);
    /* relaxed: ordered by the barrier above and crew_mpi's mutex hand-over */
    uint64_t mine[3] = {s.jobs_run, atomic_load_explicit(&local_sum, memory_order_relaxed),
                        s.jobs_stolen},
             all[3];
    MPI_Allreduce(mine, all, 3, MPI_UINT64_T, MPI_SUM, tcomm);
    CHECK(all[0] == n * (uint64_t)P);
    CHECK(all[1] == (uint64_t)P * (n - 1) * n / 2);
    if (my_rank == 0)
        printf("exactly_once: %d ranks x %zu jobs, each run once; %" PRIu64 " jobs stolen\n", P, n,
               all[2]);
}

/* ---- cancel halfway, from the root or another rank ----------------------- */
static uint32_t half_fn(size_t i) { return i < 200 ? F_SQUARE : F_BLOCK; }

static void cancel_half(crew_mpi_t *m, int canceller)
{
    int P = crew_mpi_size(m);
    if (canceller < 0)
        canceller = P - 1;
    const size_t n = 400;
    crew_mpi_batch_t *b = NULL;
    uint64_t id = 0;
    if (my_rank == 0) {
        b = submit_fn(m, n, half_fn, NULL, ident);
        id = crew_mpi_batch_id(b);
        CHECK(crew_mpi_batch_free(b) == CREW_EBUSY); /* not finished: nothing changes */
        /* Halfway: a quarter of the jobs done, and a blocking one running. */
        crew_mpi_batch_info_t info = CREW_MPI_BATCH_INFO_INIT;
        for (;;) {
            CHECK(crew_mpi_batch_info(b, &info) == 0);
            if (info.done >= n / 4)
                break;
            CHECK(crew_mpi_batch_wait(b, 1000000) == CREW_ETIMEDOUT);
        }
        int one;
        crecv(&one, 1, MPI_INT, MPI_ANY_SOURCE, TAG_STARTED, MPI_STATUS_IGNORE);
        if (canceller != 0)
            MPI_Send(&id, 1, MPI_UINT64_T, canceller, TAG_GO, tcomm);
    }
    if (my_rank == canceller) {
        if (canceller != 0)
            crecv(&id, 1, MPI_UINT64_T, 0, TAG_GO, MPI_STATUS_IGNORE);
        CHECK(crew_mpi_cancel(m, id, CREW_MPI_CANCEL_BATCH, 0, WAIT_NS) == 0);
        if (canceller != 0) {
            int one = 1;
            MPI_Send(&one, 1, MPI_INT, 0, TAG_CANCEL_RETURNED, tcomm);
        }
    }
    if (my_rank != 0)
        return;
    if (canceller != 0) {
        int one;
        crecv(&one, 1, MPI_INT, canceller, TAG_CANCEL_RETURNED, MPI_STATUS_IGNORE);
    }
    /* The cancel's wait returned: every job is terminal already. */
    CHECK(crew_mpi_batch_wait(b, 0) == 0);
    crew_mpi_batch_info_t info = CREW_MPI_BATCH_INFO_INIT;
    CHECK(crew_mpi_batch_info(b, &info) == 0);
    uint64_t running = 0, running_block = 0, removed = 0, done = 0;
    for (size_t i = 0; i < n; i++) {
        crew_mpi_result_t r;
        out_t o;
        get(b, i, &r, &o);
        CHECK(r.status == CREW_TASK_DONE || r.status == CREW_TASK_CANCELLED);
        CHECK(r.rank >= 0 && r.rank < P);
        if (r.status == CREW_TASK_DONE) {
            CHECK(i < 200 && o.value == (int64_t)(i * i));
            done++;
        } else if (r.removed) {
            CHECK(r.data == NULL && r.code == 0);
            removed++;
        } else if (i < 200) {
            /* ran and was requested: a square job the cancel caught while
             * it ran (rare: only on a loaded machine); its output, if it
             * wrote one, is still right */
            CHECK(r.data == NULL || o.value == (int64_t)(i * i));
            running++;
        } else {
            /* a blocking job: it saw the request */
            CHECK(o.extra == 1);
            running++;
            running_block++;
        }
    }
    CHECK(info.done == done && info.removed == removed && info.cancelled == removed + running);
    CHECK(info.removed + (info.cancelled - info.removed) + info.done == info.submitted);
    CHECK(info.failed == 0 && done >= n / 4 && removed >= 1 && running_block >= 1);
    /* Collect the other "started" messages: one per blocking job that ran. */
    for (uint64_t k = 1; k < running_block; k++) {
        int one;
        crecv(&one, 1, MPI_INT, MPI_ANY_SOURCE, TAG_STARTED, MPI_STATUS_IGNORE);
    }
    printf("cancel_half by rank %d: done %" PRIu64 " removed %" PRIu64 " cancelled-running %" PRIu64
           " of %zu\n",
           canceller, done, removed, running, n);
    CHECK(crew_mpi_batch_free(b) == 0);
}

/* ---- cancel a group; cancel one job waiting on an MPI request ------------ */
static uint32_t group_fn(size_t i) { return i % 3 == 1 ? F_BLOCK : F_SQUARE; }
static uint32_t group_of(size_t i) { return (uint32_t)(i % 3); }

static void check_group_batch(crew_mpi_batch_t *b, size_t n, uint64_t *running)
{
    *running = 0;
    for (size_t i = 0; i < n; i++) {
        crew_mpi_result_t r;
        out_t o;
        get(b, i, &r, &o);
        if (i % 3 == 1) {
            CHECK(r.status == CREW_TASK_CANCELLED);
            if (!r.removed) {
                CHECK(o.extra == 1);
                (*running)++;
            }
        } else {
            CHECK(r.status == CREW_TASK_DONE && o.value == (int64_t)(i * i));
        }
    }
}

static void cancel_group(crew_mpi_t *m)
{
    int P = crew_mpi_size(m), canceller = P - 1;
    const size_t n = 120;
    crew_mpi_batch_t *b = NULL;
    uint64_t id = 0;
    if (my_rank == 0) {
        b = submit_fn(m, n, group_fn, group_of, ident);
        id = crew_mpi_batch_id(b);
        int one;
        crecv(&one, 1, MPI_INT, MPI_ANY_SOURCE, TAG_STARTED, MPI_STATUS_IGNORE);
        MPI_Send(&id, 1, MPI_UINT64_T, canceller, TAG_GO, tcomm);
    }
    if (my_rank == canceller) {
        crecv(&id, 1, MPI_UINT64_T, 0, TAG_GO, MPI_STATUS_IGNORE);
        CHECK(crew_mpi_cancel(m, id, CREW_MPI_CANCEL_GROUP, 1, WAIT_NS) == 0);
    }
    if (my_rank != 0)
        return;
    CHECK(crew_mpi_batch_wait(b, WAIT_NS) == 0);
    uint64_t running;
    check_group_batch(b, n, &running);
    CHECK(running >= 1);
    for (uint64_t k = 1; k < running; k++) {
        int one;
        crecv(&one, 1, MPI_INT, MPI_ANY_SOURCE, TAG_STARTED, MPI_STATUS_IGNORE);
    }
    crew_mpi_batch_info_t info = CREW_MPI_BATCH_INFO_INIT;
    CHECK(crew_mpi_batch_info(b, &info) == 0);
    CHECK(info.done == 80 && info.cancelled == 40 && info.failed == 0);
    printf("cancel_group: group 1 cancelled (%" PRIu64 " while running), the rest DONE\n", running);
    CHECK(crew_mpi_batch_free(b) == 0);
}

/* Without a progress thread the jobs may not call MPI: the origin cancels a
 * group at once and its own wait makes the progress. */
static void funneled(crew_mpi_t *m)
{
    CHECK(crew_mpi_thread_level(m) >= MPI_THREAD_FUNNELED);
    const size_t n = 120;
    if (my_rank == 0) {
        crew_mpi_batch_t *b = submit_fn(m, n, group_fn, group_of, ident);
        CHECK(crew_mpi_cancel(m, crew_mpi_batch_id(b), CREW_MPI_CANCEL_GROUP, 1, WAIT_NS) == 0);
        CHECK(crew_mpi_batch_wait(b, WAIT_NS) == 0);
        uint64_t running;
        check_group_batch(b, n, &running);
        CHECK(crew_mpi_batch_free(b) == 0);
        crew_mpi_batch_t *b2 = submit_fn(m, 500, always_square, NULL, ident);
        CHECK(crew_mpi_batch_wait(b2, WAIT_NS) == 0);
        for (size_t i = 0; i < 500; i++) {
            crew_mpi_result_t r;
            out_t o;
            get(b2, i, &r, &o);
            CHECK(r.status == CREW_TASK_DONE && o.value == (int64_t)(i * i));
        }
        CHECK(crew_mpi_batch_free(b2) == 0);
        printf("funneled: group cancel and 500 jobs, progress by the waiting thread\n");
    }
}

static uint32_t irecv_fn(size_t i) { return i == 3 ? F_IRECV : F_SQUARE; }

static void cancel_job(crew_mpi_t *m)
{
    int P = crew_mpi_size(m), canceller = P > 1 ? 1 : 0;
    size_t n = (size_t)P * 4;
    crew_mpi_batch_t *b = NULL;
    uint64_t id = 0;
    if (my_rank == 0) {
        b = submit_fn(m, n, irecv_fn, NULL, ident);
        id = crew_mpi_batch_id(b);
        int one;
        crecv(&one, 1, MPI_INT, MPI_ANY_SOURCE, TAG_STARTED, MPI_STATUS_IGNORE);
        if (canceller != 0)
            MPI_Send(&id, 1, MPI_UINT64_T, canceller, TAG_GO, tcomm);
    }
    if (my_rank == canceller) {
        if (canceller != 0)
            crecv(&id, 1, MPI_UINT64_T, 0, TAG_GO, MPI_STATUS_IGNORE);
        CHECK(crew_mpi_cancel(m, id, CREW_MPI_CANCEL_JOB, 3, WAIT_NS) == 0);
    }
    if (my_rank != 0)
        return;
    CHECK(crew_mpi_batch_wait(b, WAIT_NS) == 0);
    for (size_t i = 0; i < n; i++) {
        crew_mpi_result_t r;
        out_t o;
        get(b, i, &r, &o);
        if (i == 3) {
            /* requested while running: the helper cancelled and completed
             * the MPI request and returned CREW_ECANCELED */
            if (r.status != CREW_TASK_CANCELLED || r.removed)
                fprintf(stderr, "job 3: status %s removed %d code %d rank %d value %lld\n",
                        crew_status_name(r.status), r.removed, r.code, r.rank, (long long)o.value);
            CHECK(r.status == CREW_TASK_CANCELLED && !r.removed);
            CHECK(r.code == CREW_ECANCELED && o.value == CREW_ECANCELED && o.extra == 1);
        } else {
            CHECK(r.status == CREW_TASK_DONE && o.value == (int64_t)(i * i));
        }
    }
    crew_mpi_result_t r3;
    CHECK(crew_mpi_batch_result(b, 3, &r3) == 0);
    printf("cancel_job: job 3, in crew_mpi_wait_request on rank %d, cancelled with its MPI "
           "request\n",
           r3.rank);
    CHECK(crew_mpi_batch_free(b) == 0);
}

/* ---- a failing job is reported with its rank ---------------------------- */
static uint32_t always_fail_fn(size_t i) { return (void)i, F_FAIL; }
static uint64_t fail_at(size_t i) { return (void)i, 97; }

static void failure(crew_mpi_t *m)
{
    if (my_rank != 0)
        return;
    crew_mpi_batch_t *b = submit_fn(m, 100, always_fail_fn, NULL, fail_at);
    CHECK(crew_mpi_batch_wait(b, WAIT_NS) == 0);
    crew_mpi_batch_info_t info = CREW_MPI_BATCH_INFO_INIT;
    CHECK(crew_mpi_batch_info(b, &info) == 0);
    CHECK(info.failed == 1 && info.done == 99 && info.first_failure == 97);
    CHECK(info.first_failure_code == 42);
    crew_mpi_result_t r;
    out_t o;
    get(b, 97, &r, &o);
    CHECK(r.status == CREW_TASK_FAILED && r.code == 42);
    CHECK(r.rank == info.first_failure_rank && o.rank == r.rank);
    printf("failure: job 97 FAILED with 42 on rank %d\n", r.rank);
    CHECK(crew_mpi_batch_free(b) == 0);
}

/* ---- imbalance: costs 1 and 1000, the heavy ones all in rank 0's block ---
 * Balance is measured in work units (each job reports its cost and the rank
 * that ran it), not in wall time: on 2 cores with 4 ranks wall time says
 * more about the scheduler than about the distribution. 160 heavy jobs of
 * 1000 units: the perfect share is 40460 units a rank, and a rank's last
 * heavy job alone is 2.5% of it. */
static uint32_t spin_fn(size_t i) { return (void)i, F_SPIN; }
/* The issue asks for 1.3x; perf_mpi.sh measures that figure (median of
 * runs). The test's bound is generous, so that a loaded machine (2 cores
 * shared by several builds, steal round trips of tens of ms) cannot make it
 * flaky, and still far below the 3.96x of no balancing at all. */
#define IMB_BOUND 2.0
#define HEAVY     160
#define IMB_N     2000
static uint64_t cost_of(size_t i) { return i < HEAVY ? 1000 : 1; }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void imbalance(crew_mpi_t *m)
{
    int P = crew_mpi_size(m);
    double ratio = 0;
    if (my_rank == 0) {
        const size_t n = IMB_N;
        double t0 = now_s();
        crew_mpi_batch_t *b = submit_fn(m, n, spin_fn, NULL, cost_of);
        CHECK(crew_mpi_batch_wait(b, WAIT_NS) == 0);
        double wall = now_s() - t0;
        uint64_t per[64] = {0}, total = 0;
        for (size_t i = 0; i < n; i++) {
            crew_mpi_result_t r;
            out_t o;
            get(b, i, &r, &o);
            CHECK(r.status == CREW_TASK_DONE && o.value == (int64_t)cost_of(i));
            per[r.rank] += (uint64_t)o.value;
            total += (uint64_t)o.value;
        }
        uint64_t mx = 0;
        for (int r = 0; r < P; r++)
            mx = per[r] > mx ? per[r] : mx;
        ratio = (double)mx / ((double)total / P);
        printf("imbalance: %d ranks, work units per rank:", P);
        for (int r = 0; r < P; r++)
            printf(" %" PRIu64, per[r]);
        printf("; busiest / balanced = %.3f (test bound %.1f); wall %.3f s\n", ratio, IMB_BOUND,
               wall);
        CHECK(crew_mpi_batch_free(b) == 0);
    }
    cbarrier();
    crew_mpi_stats_t s = CREW_MPI_STATS_INIT;
    CHECK(crew_mpi_stats(m, &s) == 0);
    uint64_t v[5] = {s.steal_asks, s.steal_hits, s.jobs_stolen, s.jobs_given, s.jobs_run},
             all[5 * 64];
    MPI_Gather(v, 5, MPI_UINT64_T, all, 5, MPI_UINT64_T, 0, tcomm);
    for (int r = 0; my_rank == 0 && r < P; r++)
        printf("  rank %d: steal asks %" PRIu64 ", hits %" PRIu64 ", jobs stolen %" PRIu64
               ", given %" PRIu64 ", run %" PRIu64 "\n",
               r, all[5 * r], all[5 * r + 1], all[5 * r + 2], all[5 * r + 3], all[5 * r + 4]);
    /* Without stealing rank 0 would do 160340 of 161840 units: 3.96x. */
    if (my_rank == 0)
        CHECK(ratio <= IMB_BOUND);
}

/* ---- a rank dies: Open MPI ends the job; the wait must not hang --------- */
static uint32_t die_fn(size_t i) { return (void)i, F_DIE; }

static void die(crew_mpi_t *m)
{
    signal_start = false;
    if (my_rank == 0) {
        crew_mpi_batch_t *b = submit_fn(m, (size_t)crew_mpi_size(m) * 2, die_fn, NULL, ident);
        int rc = crew_mpi_batch_wait(b, WAIT_NS);
        printf("%s\n", rc == CREW_ETIMEDOUT ? "TIMEOUT" : "batch ended");
        fflush(stdout);
        MPI_Abort(MPI_COMM_WORLD, 3);
    }
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "exactly_once";
    bool fun = strcmp(what, "funneled") == 0;
    crew_mpi_t *m = start(&argc, &argv, fun ? CREW_MPI_OPT_FUNNELED : 0);
    bool jobs_call_mpi = strncmp(what, "cancel_", 7) == 0;
    if (jobs_call_mpi && crew_mpi_thread_level(m) < MPI_THREAD_MULTIPLE) {
        if (my_rank == 0)
            printf("MPI provides no MPI_THREAD_MULTIPLE: %s cannot run\n", what);
        finish(m);
        return 1;
    }
    if (strcmp(what, "exactly_once") == 0)
        exactly_once(m);
    else if (strcmp(what, "cancel_half") == 0)
        cancel_half(m, argc > 2 ? atoi(argv[2]) : 0);
    else if (strcmp(what, "cancel_group") == 0)
        cancel_group(m);
    else if (strcmp(what, "cancel_job") == 0)
        cancel_job(m);
    else if (fun)
        funneled(m);
    else if (strcmp(what, "failure") == 0)
        failure(m);
    else if (strcmp(what, "imbalance") == 0)
        imbalance(m);
    else if (strcmp(what, "die") == 0)
        die(m);
    else
        CHECK(!"unknown scenario");
    finish(m);
    return 0;
}
