/*
 * example_mpi.c - one program, with or without mpirun:
 *
 *     ./crew_mpi_example
 *     mpirun -np 4 ./crew_mpi_example
 *
 * Rank 0 submits 1000 jobs ("square x" for x = 1..1000); they run on every
 * rank, and rank 0 adds up the results. Without mpirun MPI's singleton
 * initialisation gives a world of one rank and every job runs here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crew_mpi.h"

static int square(crew_mpi_job_t *job)
{
    long long x, *r = malloc(sizeof *r);
    if (!r)
        return 1; /* FAILED, reported with this rank */
    memcpy(&x, job->payload, sizeof x);
    *r = x * x;
    job->result = r; /* crew_mpi sends it to rank 0 and frees it */
    job->result_size = sizeof *r;
    return 0;
}

int main(int argc, char **argv)
{
    static const crew_mpi_fn_entry_t fns[] = {{"square", square}};
    crew_mpi_options_t o = CREW_MPI_OPTIONS_INIT;
    o.fns = fns;
    o.nfns = 1;
    crew_mpi_t *m;
    int rc = crew_mpi_init(&argc, &argv, &o, &m);
    if (rc != 0) {
        fprintf(stderr, "crew_mpi_init: %d\n", rc);
        return 1;
    }
    if (crew_mpi_rank(m) == 0) {
        enum { N = 1000 };
        static long long xs[N];
        static crew_mpi_job_desc_t jobs[N];
        for (int i = 0; i < N; i++) {
            xs[i] = i + 1;
            jobs[i] = (crew_mpi_job_desc_t){.fn = (uint32_t)crew_mpi_fn_index(m, "square"),
                                            .payload = &xs[i],
                                            .size = sizeof xs[i]};
        }
        crew_mpi_batch_t *b;
        if ((rc = crew_mpi_submit(m, jobs, N, &b)) == 0 &&
            (rc = crew_mpi_batch_wait(b, CREW_FOREVER)) == 0) {
            long long sum = 0;
            crew_mpi_batch_info_t info = CREW_MPI_BATCH_INFO_INIT;
            crew_mpi_batch_info(b, &info);
            for (int i = 0; i < N; i++) {
                crew_mpi_result_t r;
                crew_mpi_batch_result(b, (uint64_t)i, &r);
                long long v = 0;
                if (r.status == CREW_TASK_DONE && r.data_size == sizeof v)
                    memcpy(&v, r.data, sizeof v);
                sum += v;
            }
            printf("ranks=%d sum of squares 1..%d = %lld, %llu jobs DONE\n", crew_mpi_size(m), N,
                   sum, (unsigned long long)info.done);
            crew_mpi_batch_free(b);
        }
    }
    /* Every rank: serve the others until all are done, then finalise. */
    int frc = crew_mpi_finalize(&m);
    return rc != 0 || frc != 0;
}
