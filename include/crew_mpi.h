/*
 * crew_mpi.h - crew across machines, on MPI: distributed batches of jobs
 * with dynamic balancing and cancellation across ranks.
 *
 * This header is the manual, in the form of crew.h: each function's comment
 * says what it does, then gives the blocks "Thread-safety:", "Ownership:",
 * "Returns:", "Errors:". The trivial accessors (crew_mpi_rank,
 * crew_mpi_size, crew_mpi_executor, crew_mpi_thread_level,
 * crew_mpi_batch_id) use the short form: what they return, from which
 * threads; they take and free nothing and never fail.
 *
 * Model. Every rank of an MPI program calls crew_mpi_init() (collective) and
 * gets a context: one crew executor for the rank, a private duplicate of
 * MPI_COMM_WORLD, and a progress context that makes every MPI call crew_mpi
 * makes. Any rank may submit a *batch*: n jobs, each naming a function from
 * the table every rank passed to crew_mpi_init() (by index, which
 * crew_mpi_fn_index() finds from a name) plus a byte payload. The jobs are
 * spread in contiguous blocks over the ranks (rank r gets indices
 * [r*n/P, (r+1)*n/P)); after that an idle rank asks a randomly chosen rank
 * for work and gets up to half of its queue (work stealing between ranks).
 * Each job runs exactly once, as a crew task on the rank that holds it, or
 * never, if it is cancelled before it starts. Its outcome (a crew status,
 * its return code, the rank that ran it and optional result bytes) comes
 * back to the submitting rank (the batch's *origin*), where
 * crew_mpi_batch_wait() returns once every job of the batch is terminal.
 *
 * The same program runs unchanged without mpirun: MPI's singleton
 * initialisation makes a world of one rank, and every job runs locally.
 *
 * Cancellation. crew_mpi_cancel() from any rank cancels one job, a group of
 * jobs (the `group` number the submitter gave them) or the whole batch: every
 * rank removes the matching jobs it holds (they never run: CANCELLED,
 * removed) and requests the ones it runs (crew_cancel() of their crew task:
 * crew_cancelled() turns true in their bodies). The request is remembered
 * per batch on each rank, so a job in flight between ranks when it arrives is
 * removed where it lands. With a timeout, the call waits until every
 * affected job is terminal (the origin answers when it has their outcomes).
 *
 * Termination. Each job sends exactly one outcome to its origin, so a batch
 * is finished exactly when its origin has n outcomes: no wave is needed per
 * batch, and a job in flight between ranks (not yet run, no outcome) keeps
 * the batch open. crew_mpi_finalize() detects the quiescence of the whole
 * communicator (no job, no message in flight) with a barrier followed by
 * Mattern's four-counter check of sent and received message counts (see
 * doc/mpi.md).
 *
 * Threads. crew_mpi_init() asks for MPI_THREAD_MULTIPLE. If MPI provides
 * it, a progress thread per rank makes crew_mpi's MPI calls and the job
 * bodies may call MPI themselves. Otherwise (or with CREW_MPI_OPT_FUNNELED)
 * there is no progress thread: the thread that called crew_mpi_init() makes
 * every MPI call, while it is inside crew_mpi_batch_wait(),
 * crew_mpi_cancel() with a timeout, or crew_mpi_finalize(), and job bodies
 * must not call MPI. Either way the progress context never spins: when
 * nothing happens it sleeps for an exponentially growing interval (10 us up
 * to 200 us while the rank holds jobs, up to 2 ms when idle) and is woken at
 * once by local events (a job ending, a submission, a cancel). It never
 * blocks in MPI_Probe, which Open MPI implements by polling.
 *
 * Failures. A job that returns non-zero ends CREW_TASK_FAILED; its code and
 * rank are reported to the origin (crew_mpi_batch_result(),
 * crew_mpi_batch_info()'s first failure). A rank that dies is not reported
 * by crew_mpi: Open MPI (without ULFM) aborts the whole job when a process
 * exits abnormally or without finalising, so no wait hangs on a dead rank;
 * a rank that is alive but stuck (a job that never returns and never checks
 * crew_cancelled()) is not detectable, hence the timeouts of
 * crew_mpi_batch_wait() and crew_mpi_cancel(). An MPI call that fails
 * (errors are set to return on crew_mpi's communicator) makes every later
 * wait return CREW_MPI_ECOMM.
 *
 * Errors are crew's (negative; see crew.h) plus CREW_MPI_ECOMM and
 * CREW_MPI_ENOFN below.
 */
#ifndef CREW_MPI_H
#define CREW_MPI_H

#include <mpi.h>

#include "crew.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An MPI call made by crew_mpi failed; the context is unusable. */
#define CREW_MPI_ECOMM (-100)
/* A job named a function index the running rank does not have, or one
 * registered under another name there (the job ends FAILED with this code). */
#define CREW_MPI_ENOFN (-101)

typedef struct crew_mpi crew_mpi_t;             /* one rank's context (opaque) */
typedef struct crew_mpi_batch crew_mpi_batch_t; /* a batch, on its origin */

/* What a job body sees. Valid only during the body. */
typedef struct crew_mpi_job {
    const void *payload; /* the submitter's payload (copy), size bytes */
    size_t size;
    uint64_t batch;     /* crew_mpi_batch_id() of its batch */
    uint64_t index;     /* index in the batch, 0..n-1 */
    uint32_t group;     /* the submitter's group number */
    int origin;         /* rank that submitted the batch */
    int rank;           /* rank running the job */
    crew_mpi_t *mpi;    /* this rank's context */
    void *result;       /* optional: the body may set a malloc()ed buffer */
    size_t result_size; /* and its size; crew_mpi sends and frees it */
} crew_mpi_job_t;

/* A job body: 0 for DONE, anything else for FAILED (kept as the code). */
typedef int (*crew_mpi_fn)(crew_mpi_job_t *job);

/* One entry of the function table given to crew_mpi_init(). */
typedef struct crew_mpi_fn_entry {
    const char *name;
    crew_mpi_fn fn;
} crew_mpi_fn_entry_t;

/* No progress thread even if MPI_THREAD_MULTIPLE is available: MPI is
 * initialised (if crew_mpi initialises it) with MPI_THREAD_FUNNELED and
 * progress is made by the init thread inside the waits. */
#define CREW_MPI_OPT_FUNNELED 0x1u

/* Options. `size` first; zero fields mean default (crew.h's convention). */
typedef struct crew_mpi_options {
    size_t size;                    /* sizeof(crew_mpi_options_t) */
    const crew_mpi_fn_entry_t *fns; /* the job functions, the same table (same
                                       names, same order) on every rank */
    size_t nfns;                    /* entries in fns, at most 65536 */
    unsigned workers;               /* crew workers of this rank's executor;
                                       0: crew's default */
    unsigned window;                /* jobs handed to the executor at once
                                       (the rest stay stealable); 0: twice
                                       the workers; max 65536 */
    unsigned flags;                 /* CREW_MPI_OPT_* */
    uint64_t seed;                  /* victim choice; 0: from the rank */
} crew_mpi_options_t;

#define CREW_MPI_OPTIONS_INIT                                                                      \
    {                                                                                              \
        .size = sizeof(crew_mpi_options_t)                                                         \
    }

/* Initialise this rank (collective over MPI_COMM_WORLD): MPI itself if it
 * is not initialised yet (MPI_Init_thread asking for MPI_THREAD_MULTIPLE,
 * or FUNNELED with CREW_MPI_OPT_FUNNELED), a crew executor, a duplicate of
 * MPI_COMM_WORLD with MPI_ERRORS_RETURN, and the progress thread when MPI
 * provides MPI_THREAD_MULTIPLE. The function tables of all ranks are
 * compared (a hash of the names, by MPI_Allreduce); init returns once every
 * rank has its table, so a job never reaches a rank not ready for it.
 * Thread-safety: once per process, from the thread that will be MPI's main
 *   thread, on every rank of MPI_COMM_WORLD.
 * Ownership: *out is the caller's until crew_mpi_finalize(); opts and the
 *   table are copied (the names too). argc and argv go to MPI_Init_thread
 *   (both may be NULL). Jobs submitted by other ranks may start on this
 *   rank before this call returns (once its executor runs): whatever the
 *   job bodies use must be ready before the call (so a program that gives
 *   its jobs a communicator of its own initialises MPI itself and creates
 *   that communicator first).
 * Returns: 0, with *out set.
 * Errors: CREW_EINVAL (out NULL, bad opts->size, an entry with a NULL name
 *   or fn, nfns above 65536, window above 65536, an unknown flag, tables
 *   that differ between ranks: then every rank gets it), CREW_ENOMEM,
 *   CREW_ETHREAD, CREW_MPI_ECOMM (an MPI call failed, or MPI provides less
 *   than MPI_THREAD_FUNNELED), or an error of crew_create(). On error *out
 *   is NULL and MPI stays initialised if this call initialised it (MPI
 *   cannot be initialised twice); call MPI_Finalize() yourself. */
int crew_mpi_init(int *argc, char ***argv, const crew_mpi_options_t *opts, crew_mpi_t **out);

/* End this rank (collective): wait until every batch this rank submitted is
 * finished, serve the other ranks until every rank has arrived here, check
 * that no crew_mpi message is in flight anywhere (barrier, then the
 * four-counter check), then free every batch still held, the communicator
 * and the executor, finalise MPI if crew_mpi_init() initialised it, and set
 * *mp to NULL.
 * Thread-safety: the thread that called crew_mpi_init(), on every rank; no
 *   other crew_mpi call on this context may run concurrently or after.
 * Ownership: frees the context and its batches (their handles are invalid
 *   afterwards).
 * Returns: 0.
 * Errors: CREW_EINVAL (mp or *mp NULL), CREW_MPI_ECOMM (an MPI call failed;
 *   everything local is freed all the same and *mp is NULL). */
int crew_mpi_finalize(crew_mpi_t **mp);

/* This rank in crew_mpi's communicator (as in MPI_COMM_WORLD); -1 for
 * NULL. Any thread. */
int crew_mpi_rank(const crew_mpi_t *m);
/* Number of ranks; 0 for NULL. Any thread. */
int crew_mpi_size(const crew_mpi_t *m);
/* The rank's crew executor (for other crew work of the program: it stays
 * crew_mpi's, do not destroy it); NULL for NULL. Any thread. */
crew_t *crew_mpi_executor(const crew_mpi_t *m);
/* The thread level MPI provided (MPI_THREAD_*); with less than
 * MPI_THREAD_MULTIPLE, or CREW_MPI_OPT_FUNNELED, there is no progress
 * thread and job bodies must not call MPI. -1 for NULL. Any thread. */
int crew_mpi_thread_level(const crew_mpi_t *m);

/* Index of the function registered under `name`.
 * Thread-safety: any thread.
 * Ownership: none; name is only read.
 * Returns: the index (0 or more).
 * Errors: CREW_EINVAL (m or name NULL, or no such name). */
int crew_mpi_fn_index(const crew_mpi_t *m, const char *name);

/* One job of a batch, as submitted. */
typedef struct crew_mpi_job_desc {
    uint32_t fn;         /* index in the function table */
    uint32_t group;      /* free for the caller: crew_mpi_cancel() can
                            cancel all jobs of one group number */
    const void *payload; /* copied; may be NULL with size 0 */
    size_t size;         /* at most 1 GiB */
} crew_mpi_job_desc_t;

/* Submit a batch of n jobs from this rank, its origin. The payloads are
 * copied; the progress context then sends each rank its block and the
 * jobs start as soon as they arrive.
 * Thread-safety: any thread, a job body included.
 * Ownership: *out is the caller's until crew_mpi_batch_free(); jobs and
 *   payloads are only read during the call.
 * Returns: 0, with *out set. n == 0 gives a batch already finished.
 * Errors: CREW_EINVAL (m, out NULL; jobs NULL with n > 0; a fn index out of
 *   the table; a payload NULL with size > 0 or above 1 GiB; n above
 *   2^32), CREW_ENOMEM, CREW_ESHUTDOWN (crew_mpi_finalize() has begun),
 *   CREW_MPI_ECOMM (the context failed earlier). On error *out is NULL. */
int crew_mpi_submit(crew_mpi_t *m, const crew_mpi_job_desc_t *jobs, size_t n,
                    crew_mpi_batch_t **out);

/* The batch's global ID: the origin rank in the high 24 bits and a
 * per-origin sequence number in the low 40. Send it to other ranks so they
 * can cancel the batch. 0 for NULL. Any thread. */
uint64_t crew_mpi_batch_id(const crew_mpi_batch_t *b);

/* Wait until every job of the batch is terminal (its outcome is at the
 * origin). timeout_ns: 0 polls, CREW_FOREVER waits without limit.
 * Thread-safety: any thread of the origin (with no progress thread: the
 *   thread that called crew_mpi_init(), whose wait makes the progress;
 *   from another thread the wait only looks). Not from a job body of this
 *   batch (it would wait for itself).
 * Ownership: none.
 * Returns: 0: every job is terminal.
 * Errors: CREW_EINVAL (b NULL, bad timeout), CREW_ETIMEDOUT,
 *   CREW_MPI_ECOMM (the context failed: the batch will not finish). */
int crew_mpi_batch_wait(crew_mpi_batch_t *b, int64_t timeout_ns);

/* Counts of a batch. terminal == done + failed + cancelled; removed counts
 * the cancelled jobs that never started, cancelled - removed those
 * cancelled while running. Exact once the batch is finished; before, a
 * recent value. */
typedef struct crew_mpi_batch_info {
    size_t size; /* sizeof(crew_mpi_batch_info_t) */
    uint64_t id;
    uint64_t submitted, terminal;
    uint64_t done, failed, cancelled, removed;
    uint64_t first_failure; /* index of the first FAILED outcome received */
    int first_failure_rank; /* the rank that ran it; -1 if none failed */
    int first_failure_code; /* its return value; 0 if none failed */
    bool finished;          /* terminal == submitted */
} crew_mpi_batch_info_t;

#define CREW_MPI_BATCH_INFO_INIT                                                                   \
    {                                                                                              \
        .size = sizeof(crew_mpi_batch_info_t)                                                      \
    }

/* Fill *info.
 * Thread-safety: any thread of the origin.
 * Ownership: none.
 * Returns: 0, with *info filled.
 * Errors: CREW_EINVAL (b or info NULL, info->size smaller than
 *   sizeof(crew_mpi_batch_info_t)). */
int crew_mpi_batch_info(crew_mpi_batch_t *b, crew_mpi_batch_info_t *info);

/* The outcome of one job. */
typedef struct crew_mpi_result {
    crew_status_t status; /* QUEUED while not terminal (running or in flight
                             included), then DONE, FAILED or CANCELLED */
    bool removed;         /* CANCELLED before it started (never ran) */
    int code;             /* the body's return value (0 if it never ran) */
    int rank;             /* the rank that ran or removed it; -1 while live */
    const void *data;     /* result bytes the body set (NULL if none); owned
                             by the batch, valid until crew_mpi_batch_free() */
    size_t data_size;
} crew_mpi_result_t;

/* The outcome of job `index` of the batch.
 * Thread-safety: any thread of the origin.
 * Ownership: out->data belongs to the batch.
 * Returns: 0, with *out filled (status QUEUED if not terminal yet).
 * Errors: CREW_EINVAL (b or out NULL, index out of the batch). */
int crew_mpi_batch_result(crew_mpi_batch_t *b, uint64_t index, crew_mpi_result_t *out);

/* Free a finished batch and its results. The other ranks forget its cancel
 * marks (one message to each rank, only if the batch was ever cancelled).
 * Thread-safety: any thread of the origin, once per batch, with no other
 *   call on b running.
 * Ownership: b is invalid afterwards.
 * Returns: 0.
 * Errors: CREW_EINVAL (b NULL), CREW_EBUSY (not finished: wait first, or
 *   cancel and wait; nothing changed). */
int crew_mpi_batch_free(crew_mpi_batch_t *b);

/* What crew_mpi_cancel() cancels. */
typedef enum crew_mpi_scope {
    CREW_MPI_CANCEL_BATCH = 0, /* every job of the batch */
    CREW_MPI_CANCEL_GROUP = 1, /* the jobs whose group == which */
    CREW_MPI_CANCEL_JOB = 2    /* the job whose index == which */
} crew_mpi_scope_t;

/* Cancel jobs of batch `batch` (a crew_mpi_batch_id(), from any rank) on
 * every rank: queued ones are removed (they never run; CANCELLED,
 * removed), running ones are requested (crew_cancel() of their crew task:
 * crew_cancelled() is true in their bodies from then on, and they end
 * CANCELLED whatever they return), finished ones are left as they are.
 * Jobs matching the request that reach a rank later (stolen jobs in flight)
 * are removed on arrival. Costs one message to every other rank.
 * timeout_ns: 0 sends the request and returns; otherwise the call also
 * waits (up to timeout_ns, or CREW_FOREVER) until the origin holds the
 * outcome of every affected job. Idempotent.
 * Thread-safety: any thread of any rank (with no progress thread, a wait is
 *   made only from the init thread, as crew_mpi_batch_wait()). A job body
 *   may cancel without waiting (timeout 0), its own batch included.
 * Ownership: none.
 * Returns: 0: requested (and, with a timeout, every affected job is
 *   terminal). A batch already freed, or unknown, counts as finished.
 * Errors: CREW_EINVAL (m NULL, batch 0 or naming a rank out of the world,
 *   unknown scope, bad timeout), CREW_ENOMEM, CREW_ESHUTDOWN (finalize
 *   has begun), CREW_ETIMEDOUT (the request stands; the jobs are not all
 *   terminal yet), CREW_MPI_ECOMM. */
int crew_mpi_cancel(crew_mpi_t *m, uint64_t batch, crew_mpi_scope_t scope, uint64_t which,
                    int64_t timeout_ns);

/* Wait for an MPI request from inside a job body, cancellably: test it
 * (MPI_Test) with a backoff from 1 us to 1 ms between tests; once the job
 * is cancelled (crew_cancelled()), MPI_Cancel() it and complete it with
 * MPI_Wait(), as the standard requires, and return CREW_ECANCELED.
 * MPI_Test_cancelled(status) then tells whether the operation itself was
 * cancelled or had completed first.
 * Thread-safety: only from a job body, and only with a progress thread
 *   (crew_mpi_thread_level() == MPI_THREAD_MULTIPLE, no
 *   CREW_MPI_OPT_FUNNELED).
 * Ownership: *req is completed (MPI_REQUEST_NULL afterwards) in every case
 *   but CREW_EINVAL; status may be MPI_STATUS_IGNORE.
 * Returns: 0: the request completed.
 * Errors: CREW_EINVAL (job or req NULL, no progress thread),
 *   CREW_ECANCELED (the job was cancelled; the request is completed),
 *   CREW_MPI_ECOMM (MPI_Test or MPI_Wait failed). */
int crew_mpi_wait_request(crew_mpi_job_t *job, MPI_Request *req, MPI_Status *status);

/* Counters of this rank (not of the batches it submitted). */
typedef struct crew_mpi_stats {
    size_t size;            /* sizeof(crew_mpi_stats_t) */
    uint64_t jobs_received; /* jobs that arrived here (blocks and steals) */
    uint64_t jobs_run;      /* bodies started here */
    uint64_t jobs_removed;  /* removed here by a cancel */
    uint64_t steal_asks;    /* steal requests sent */
    uint64_t steal_hits;    /* of those, answered with jobs */
    uint64_t jobs_stolen;   /* jobs received by stealing */
    uint64_t jobs_given;    /* jobs handed to thieves */
    uint64_t msgs_sent;     /* messages sent to other ranks */
    uint64_t msgs_received; /* messages received from other ranks */
} crew_mpi_stats_t;

#define CREW_MPI_STATS_INIT                                                                        \
    {                                                                                              \
        .size = sizeof(crew_mpi_stats_t)                                                           \
    }

/* Fill *stats with this rank's counters (recent values while it runs).
 * Thread-safety: any thread.
 * Ownership: none.
 * Returns: 0.
 * Errors: CREW_EINVAL (m or stats NULL, stats->size smaller than
 *   sizeof(crew_mpi_stats_t)). */
int crew_mpi_stats(crew_mpi_t *m, crew_mpi_stats_t *stats);

#ifdef __cplusplus
}
#endif
#endif /* CREW_MPI_H */
