/*
 * perf_mpi.c - crew_mpi's figures (mpi/perf_mpi.sh runs it over 1, 2 and 4
 * ranks):
 *   throughput  rank 0 submits --jobs tiny jobs (8-byte payload, 8-byte
 *               result); time from crew_mpi_submit() to crew_mpi_batch_wait()
 *               returning; jobs per second, median of --runs runs.
 *   cancel      rank 0 submits --cancel-jobs jobs that run until cancelled;
 *               once a job runs on every rank (each tells rank 0 when it
 *               starts), time crew_mpi_cancel(batch, wait) until it returns,
 *               that is until the origin holds every job's terminal outcome;
 *               median of --runs runs.
 *   balance     with --imbalance: 2000 jobs, the first 160 costing 1000
 *               work units and the others 1 (all 160 in rank 0's block);
 *               the busiest rank's share over the perfect share (total /
 *               ranks), counted in work units and in busy CPU time (the
 *               jobs' thread CPU time, summed per rank), medians of --runs
 *               runs. Both are counted where the jobs ran, so neither
 *               depends on how the ranks share the cores; wall time does,
 *               and is printed for reference.
 * Options: --jobs N (20000), --cancel-jobs N (2000), --runs R (5),
 * --workers W (crew workers per rank; default 1), --imbalance.
 */
#define _GNU_SOURCE
#include "crew_mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TAG_STARTED 201

static MPI_Comm pcomm;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A rank blocked in Open MPI's MPI_Recv polls at full speed and takes the
 * CPU the jobs need on an oversubscribed machine: wait with
 * test-and-sleep instead. */
static void crecv(int tag, MPI_Status *st)
{
    MPI_Request r;
    long pause = 10000;
    MPI_Irecv(NULL, 0, MPI_BYTE, MPI_ANY_SOURCE, tag, pcomm, &r);
    for (;;) {
        int flag = 0;
        MPI_Test(&r, &flag, st);
        if (flag)
            return;
        struct timespec ts = {0, pause};
        nanosleep(&ts, NULL);
        if ((pause *= 2) > 1000000)
            pause = 1000000;
    }
}

static int tiny(crew_mpi_job_t *job)
{
    long long x, *r = malloc(sizeof *r);
    if (!r)
        return 1;
    memcpy(&x, job->payload, sizeof x);
    *r = x + 1;
    job->result = r;
    job->result_size = sizeof *r;
    return 0;
}

static int block(crew_mpi_job_t *job)
{
    MPI_Request r;
    MPI_Isend(&job->mpi, 0, MPI_BYTE, 0, TAG_STARTED, pcomm, &r);
    MPI_Request_free(&r);
    while (!crew_cancelled()) {
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static volatile unsigned long long sink;

/* Deterministic work: payload = units; result = {units, busy ns}. */
static int spin(crew_mpi_job_t *job)
{
    long long units, *r = malloc(2 * sizeof *r);
    if (!r)
        return 1;
    memcpy(&units, job->payload, sizeof units);
    struct timespec a, b;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    unsigned long long s = job->index + 1;
    for (long long u = 0; u < units * 4000; u++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    sink = s; /* keeps the loop */
    r[0] = units;
    r[1] = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    job->result = r;
    job->result_size = 2 * sizeof *r;
    return 0;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long long unit_cost(size_t i) { return i < 160 ? 1000 : 1; }
static long long plain(size_t i) { return (long long)i; }

static crew_mpi_batch_t *submit_with(crew_mpi_t *m, int fn, size_t n, long long (*x_of)(size_t));
static crew_mpi_batch_t *submit(crew_mpi_t *m, int fn, size_t n)
{
    return submit_with(m, fn, n, plain);
}

static crew_mpi_batch_t *submit_with(crew_mpi_t *m, int fn, size_t n, long long (*x_of)(size_t))
{
    crew_mpi_job_desc_t *d = calloc(n, sizeof *d);
    long long *x = calloc(n, sizeof *x);
    if (!d || !x)
        abort();
    for (size_t i = 0; i < n; i++) {
        x[i] = x_of(i);
        d[i] = (crew_mpi_job_desc_t){.fn = (uint32_t)fn, .payload = &x[i], .size = sizeof x[i]};
    }
    crew_mpi_batch_t *b = NULL;
    if (crew_mpi_submit(m, d, n, &b) != 0)
        abort();
    free(d);
    free(x);
    return b;
}

int main(int argc, char **argv)
{
    size_t jobs = 20000, cjobs = 2000;
    int runs = 5;
    unsigned workers = 1;
    bool imbalance = false;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--imbalance"))
            imbalance = true;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--jobs"))
            jobs = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--cancel-jobs"))
            cjobs = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--runs"))
            runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--workers"))
            workers = (unsigned)atoi(argv[i + 1]);
    }
    if (runs < 1 || runs > 100 || jobs < 1 || cjobs < 1)
        return 2;
    static const crew_mpi_fn_entry_t fns[] = {{"tiny", tiny}, {"block", block}, {"spin", spin}};
    crew_mpi_options_t o = CREW_MPI_OPTIONS_INIT;
    o.fns = fns;
    o.nfns = 3;
    o.workers = workers;
    /* MPI initialised here, so pcomm outlives crew_mpi_finalize(). */
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_dup(MPI_COMM_WORLD, &pcomm); /* before: jobs may run from then on */
    crew_mpi_t *m;
    if (crew_mpi_init(&argc, &argv, &o, &m) != 0)
        return 1;
    int P = crew_mpi_size(m), me = crew_mpi_rank(m);
    bool multiple = crew_mpi_thread_level(m) >= MPI_THREAD_MULTIPLE;
    if (me == 0 && imbalance) {
        double ratio[100], bratio[100], wall[100];
        for (int r = 0; r < runs; r++) {
            double t0 = now_s();
            crew_mpi_batch_t *b = submit_with(m, 2, 2000, unit_cost);
            if (crew_mpi_batch_wait(b, CREW_FOREVER) != 0)
                abort();
            double w = now_s() - t0, busy = 0, pbusy[4096] = {0}, bmx = 0;
            long long per[4096] = {0}, total = 0, mx = 0;
            for (uint64_t i = 0; i < 2000; i++) {
                crew_mpi_result_t res;
                long long v[2];
                crew_mpi_batch_result(b, i, &res);
                if (res.status != CREW_TASK_DONE || res.data_size != sizeof v || res.rank >= 4096)
                    abort();
                memcpy(v, res.data, sizeof v);
                per[res.rank] += v[0];
                total += v[0];
                busy += (double)v[1] * 1e-9;
                pbusy[res.rank] += (double)v[1] * 1e-9;
            }
            for (int k = 0; k < P && k < 4096; k++) {
                mx = per[k] > mx ? per[k] : mx;
                bmx = pbusy[k] > bmx ? pbusy[k] : bmx;
            }
            ratio[r] = (double)mx / ((double)total / P);
            bratio[r] = bmx / (busy / P);
            wall[r] = w;
            crew_mpi_batch_free(b);
        }
        printf("crew_mpi perf: ranks=%d imbalanced work (costs 1 and 1000): busiest rank / perfect "
               "share: work units median %.3f, busy CPU time median %.3f; wall median %.3f s "
               "(runs=%d)\n",
               P, median(ratio, runs), median(bratio, runs), median(wall, runs), runs);
    } else if (me == 0) {
        double rate[100], lat[100];
        for (int r = 0; r < runs; r++) {
            double t0 = now_s();
            crew_mpi_batch_t *b = submit(m, 0, jobs);
            if (crew_mpi_batch_wait(b, CREW_FOREVER) != 0)
                abort();
            rate[r] = (double)jobs / (now_s() - t0);
            crew_mpi_batch_info_t info = CREW_MPI_BATCH_INFO_INIT;
            crew_mpi_batch_info(b, &info);
            if (info.done != jobs)
                abort();
            crew_mpi_batch_free(b);
        }
        printf("crew_mpi perf: ranks=%d workers/rank=%u jobs=%zu runs=%d: median %.0f jobs/s\n", P,
               workers, jobs, runs, median(rate, runs));
        for (int r = 0; multiple && r < runs; r++) {
            crew_mpi_batch_t *b = submit(m, 1, cjobs);
            /* Wait until a job runs on every rank. */
            char seen[4096] = {0};
            int distinct = 0, started = 0;
            while (distinct < (P < 4096 ? P : 4096)) {
                MPI_Status st;
                crecv(TAG_STARTED, &st);
                started++;
                if (st.MPI_SOURCE < 4096 && !seen[st.MPI_SOURCE]) {
                    seen[st.MPI_SOURCE] = 1;
                    distinct++;
                }
            }
            double t0 = now_s();
            if (crew_mpi_cancel(m, crew_mpi_batch_id(b), CREW_MPI_CANCEL_BATCH, 0, CREW_FOREVER) !=
                0)
                abort();
            lat[r] = now_s() - t0;
            if (crew_mpi_batch_wait(b, 0) != 0)
                abort();
            crew_mpi_batch_info_t info = CREW_MPI_BATCH_INFO_INIT;
            crew_mpi_batch_info(b, &info);
            /* The other start messages: one per job that ran. */
            for (uint64_t k = (uint64_t)started; k < info.cancelled - info.removed; k++)
                crecv(TAG_STARTED, MPI_STATUS_IGNORE);
            crew_mpi_batch_free(b);
        }
        if (multiple)
            printf("crew_mpi perf: ranks=%d cancel of %zu jobs (one running per worker) to all "
                   "terminal: median %.3f ms\n",
                   P, cjobs, median(lat, runs) * 1e3);
    }
    int rc = crew_mpi_finalize(&m);
    MPI_Comm_free(&pcomm);
    MPI_Finalize();
    return rc != 0;
}
