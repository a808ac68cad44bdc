/*
 * crewrun.h - what the three files of crew-run share: the job record, the
 * run's settings and counters.
 *
 * crew-run.c reads the command line and the input, makes one job per input
 * line, submits every job as a crew task into one group and watches the run
 * from the main thread (signals, progress bar). job.c is the task body: it
 * starts the job's process in its own process group and waits for it,
 * killing the group on a timeout or a cancellation. report.c draws the
 * progress bar and writes the summary and the results file.
 */
#ifndef CREWRUN_H
#define CREWRUN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Where a job ended. QUEUED and RUNNING are live; the rest are final. */
typedef enum cr_state {
    CR_QUEUED = 0,
    CR_RUNNING = 1,
    CR_OK = 2,       /* exited 0 */
    CR_FAILED = 3,   /* exited non-zero, killed by a signal, timed out, or
                        could not be started */
    CR_CANCELLED = 4 /* stopped by --halt-on-fail or an interrupt: killed
                        while running, or removed before it started */
} cr_state_t;

/* Why a job ended so. */
typedef enum cr_cause {
    CR_CAUSE_NONE = 0,
    CR_CAUSE_EXIT = 1,        /* it exited by itself (code in exit_code) */
    CR_CAUSE_SIGNAL = 2,      /* a signal crew-run did not send killed it */
    CR_CAUSE_TIMEOUT = 3,     /* --timeout: crew-run killed it */
    CR_CAUSE_HALTED = 4,      /* --halt-on-fail: another job failed */
    CR_CAUSE_INTERRUPTED = 5, /* SIGINT, SIGTERM or SIGHUP to crew-run */
    CR_CAUSE_ERROR = 6        /* could not be started (spawn failed) */
} cr_cause_t;

/* One job. The main thread fills the first block before submission; the
 * task that runs the job (or, for a job removed before it started, the
 * thread that removed it) fills the second block, and the main thread
 * reads it only after cr_run.finished said every job is final. */
typedef struct cr_job {
    uint64_t seq;     /* 1-based position in the input: {#} */
    char *line;       /* the command line: shown, and given to /bin/sh -c */
    char **argv;      /* direct exec: the words of line; NULL: use /bin/sh */
    char *path;       /* direct exec: the resolved program; else NULL */
    cr_state_t state; /* see above */
    cr_cause_t cause;
    int exit_code;     /* exit status when it exited, else -1 */
    int signal;        /* signal that ended it, else 0 */
    unsigned attempts; /* processes started (retries included) */
    int64_t start_ns;  /* first start, CLOCK_MONOTONIC; 0 if never started */
    int64_t end_ns;    /* last end, CLOCK_MONOTONIC; 0 if never started */
} cr_job_t;

/* Settings, written by the main thread before the first job is submitted
 * and read-only afterwards (crew_submit_batch() publishes them). */
typedef struct cr_config {
    int64_t timeout_ns; /* per attempt; 0: none */
    int64_t grace_ns;   /* SIGTERM -> SIGKILL delay; 0: SIGKILL at once */
    unsigned retries;   /* extra attempts after a failure */
    bool halt;          /* --halt-on-fail */
    bool shell;         /* --shell: always /bin/sh -c */
    int devnull;        /* O_RDONLY /dev/null, the jobs' standard input */
    int wake_fd;        /* write end of the main loop's wake-up pipe */
    uint64_t total;     /* number of jobs */
} cr_config_t;

/* Counters of the run, shared by the workers and the main thread. */
typedef struct cr_counters {
    /* Display only (progress bar): each is changed with relaxed RMWs and
     * read relaxed; a redraw may show a mix of moments, never a wrong
     * final count (the summary counts the job records instead). */
    atomic_uint_fast64_t running, ok, failed, cancelled;
    /* Jobs whose record is final. Incremented with a release RMW by the
     * cleanup of each job (after its last write to the record); the main
     * thread's acquire load that sees `total` makes every record
     * readable. */
    atomic_uint_fast64_t finished;
    /* First interrupting signal (0: none). Stored (seq_cst) by the main
     * thread before it cancels the group; a job that sees crew_cancelled()
     * loads it to tell an interrupt from a halt. */
    atomic_int interrupted;
    /* Set (relaxed) by the main thread on the second interrupt: running
     * jobs are SIGKILLed at once. Read relaxed by the waiting jobs when
     * force_fd wakes them. */
    atomic_bool force;
    /* An eventfd the main thread writes right after setting force, so that
     * jobs waiting in ppoll wake at once (-1: none; then they look every
     * 10 ms). Set before the executor starts, read-only afterwards. */
    int force_fd;
} cr_counters_t;

extern cr_config_t cr_cfg;
extern cr_counters_t cr_run;

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t cr_now_ns(void);

/* job.c: the crew task body of a job, and its cleanup (also run when the
 * job is removed before it started). */
int cr_job_run(void *arg);
void cr_job_finish(void *arg);

/* job.c: decide how a command line runs: sets job->argv and job->path for
 * a direct exec, or leaves them NULL for /bin/sh -c. Main thread only.
 * Returns 0, or -1 out of memory. */
int cr_job_prepare(cr_job_t *job);
/* Free what cr_job_prepare() and the reader allocated. */
void cr_job_free(cr_job_t *job);

/* report.c */
const char *cr_state_name(cr_state_t s);
const char *cr_cause_name(cr_cause_t c);
/* Draw the bar on stderr (\r, no newline). final: the last draw. */
void cr_progress_draw(int64_t t0, bool final);
/* Per-job table (if per_job) and the counts line, on stream f. */
void cr_summary_print(FILE *f, const cr_job_t *jobs, uint64_t n, int64_t t0, int64_t t_end,
                      int exit_code, bool per_job);
/* --results: JSON if path ends in ".json", else CSV. Returns 0 or -1
 * (errno set, nothing promised about the file). */
int cr_results_write(const char *path, const cr_job_t *jobs, uint64_t n, int64_t t0, int64_t t_end,
                     int exit_code);

#endif /* CREWRUN_H */
