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
 * Options: --jobs N (20000), --cancel-jobs N (2000), --runs R (5),
 * --workers W (crew workers per rank; default 1).
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

static crew_mpi_batch_t *submit(crew_mpi_t *m, int fn, size_t n)
{
    crew_mpi_job_desc_t *d = calloc(n, sizeof *d);
    long long *x = calloc(n, sizeof *x);
    if (!d || !x)
        abort();
    for (size_t i = 0; i < n; i++) {
        x[i] = (long long)i;
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
    static const crew_mpi_fn_entry_t fns[] = {{"tiny", tiny}, {"block", block}};
    crew_mpi_options_t o = CREW_MPI_OPTIONS_INIT;
    o.fns = fns;
    o.nfns = 2;
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
    if (me == 0) {
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
