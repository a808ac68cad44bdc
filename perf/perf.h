/*
 * perf.h - internal interface of the crew-perf harness.
 *
 * A benchmark (perf_bench_t) is a named workload with a size parameter per
 * suite and one entry per implementation (crew, serial, omp, tbb, pool).
 * The runner (runner.c) executes one repetition of one entry in a forked
 * child: setup(workers), an untimed warm-up run at a smaller size, the timed
 * run, teardown, and sends a perf_out_t back through a pipe. main.c
 * interleaves the children (A B A B ...) and report.c prints the results.
 */
#ifndef CREW_PERF_H
#define CREW_PERF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crew.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- implementations --------------------------------------------------- */

typedef enum perf_impl_id {
    IMPL_CREW,
    IMPL_SERIAL,
    IMPL_OMP,
    IMPL_TBB,
    IMPL_POOL,
    IMPL_COUNT
} perf_impl_id_t;

extern const char *const perf_impl_names[IMPL_COUNT];

/* What one run of an entry reports (filled by the entry, the runner adds
 * the rest). Plain data: it crosses the pipe from the child as bytes. */
typedef struct perf_out {
    double seconds;  /* < 0: the runner's own wall-clock timing is used */
    uint64_t answer; /* compared with the bench's expected answer */
    double value;    /* idle: CPU seconds per wall second */
    long maxrss_kb;  /* set by the runner (getrusage in the child) */
    int failed;      /* set by perf_fail() or the runner */
    char msg[200];   /* why it failed */
} perf_out_t;

/* Per-executor state of one entry (an executor, an arena, a pool...). */
typedef void *(*perf_setup_fn)(unsigned workers);
typedef void (*perf_teardown_fn)(void *state);
/* One run at size `param`. Returns 0, or non-zero after perf_fail(). */
typedef int (*perf_run_fn)(void *state, long param, perf_out_t *out);

typedef struct perf_entry {
    perf_run_fn run;     /* NULL: not run (see skip) */
    perf_setup_fn setup; /* NULL: no state */
    perf_teardown_fn teardown;
    const char *skip; /* why run is NULL; NULL: not applicable */
} perf_entry_t;

enum { PERF_QUICK = 0, PERF_FULL = 1 };

/* Flags of a benchmark. */
#define PERF_F_NO_TASKS 0x1u /* no task count: tasks/ns_per_task empty */
#define PERF_F_IDLE     0x2u /* result is perf_out_t.value, not a time */
#define PERF_F_RATE     0x4u /* show tasks/s in the table */
#define PERF_F_CANCEL   0x8u /* a crew cancellation row */

typedef struct perf_bench {
    const char *name;
    const char *what; /* one line for --list */
    long param[2];    /* size per suite (PERF_QUICK, PERF_FULL) */
    long warm[2];     /* warm-up size; 0: none (entry warms itself) */
    /* Expected answer and task count for a size; NULL: the entry checks its
     * own result and the task count is `param`. Returns 0 or -1. */
    int (*expect)(long param, uint64_t *answer, uint64_t *tasks);
    unsigned flags;
    perf_entry_t impl[IMPL_COUNT];
} perf_bench_t;

extern const perf_bench_t perf_bench_fib, perf_bench_fib_spawn, perf_bench_nqueens,
    perf_bench_nqueens_calls, perf_bench_uts, perf_bench_submit_single, perf_bench_submit_batch,
    perf_bench_submit_bounded, perf_bench_matmul, perf_bench_idle, perf_bench_lifecycle,
    perf_bench_cancel_check_empty, perf_bench_cancel_check_1k, perf_bench_cancel_check_100k,
    perf_bench_cancel_check_depth8, perf_bench_cancel_queued, perf_bench_cancel_group_queued,
    perf_bench_cancel_latency, perf_bench_actor_one, perf_bench_actor_1000,
    perf_bench_actor_mutex_one, perf_bench_actor_mutex_1000, perf_bench_deadline_set_clear,
    perf_bench_tasks_plain, perf_bench_tasks_records, perf_bench_tasks_deadline,
    perf_bench_tasks_deadline_records, perf_bench_deadline_latency, perf_bench_deadline_latency_p99,
    perf_bench_idle_deadlines, perf_bench_interrupt_latency, perf_bench_loop_uniform,
    perf_bench_loop_uniform_dyn, perf_bench_loop_irregular, perf_bench_loop_irregular_dyn,
    perf_bench_loop_reduce, perf_bench_loop_reduce_dyn, perf_bench_loop_stencil,
    perf_bench_loop_stencil_dyn, perf_bench_trace_off, perf_bench_trace_on;

/* All benchmarks, in run order, NULL-terminated. */
extern const perf_bench_t *const perf_benches[];

/* ---- helpers (util.c) -------------------------------------------------- */

/* Monotonic wall clock, seconds. */
double perf_now(void);
/* CPU time of the whole process, seconds. */
double perf_cpu_now(void);
/* Sleep for `s` seconds. */
void perf_sleep(double s);

/* Record the first failure of this run (thread-safe) and return -1.
 * Usable from any thread of the child, including task bodies. */
int perf_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reset / read the failure record of the current child. */
void perf_fail_reset(void);
bool perf_fail_get(char *msg, size_t size);

/* crew setup shared by every crew entry: an executor with `workers`
 * workers (default options otherwise); NULL after perf_fail(). */
void *perf_crew_setup(unsigned workers);
void perf_crew_teardown(void *ex);
/* Wait for a joinable task and check that it ended DONE; 0 or -1. */
int perf_crew_join_done(crew_t *ex, crew_id_t id, const char *what);

/* ---- runner (runner.c) ------------------------------------------------- */

typedef struct perf_job {
    const perf_bench_t *bench;
    perf_impl_id_t impl;
    unsigned workers;
    long param, warm;
    uint64_t expect_answer, expect_warm; /* valid when bench->expect */
    unsigned timeout_s;                  /* SIGALRM in the child */
} perf_job_t;

/* Run one repetition in a forked child; always fills *out (out->failed on
 * any error: a wrong answer, a crash, a hang past the timeout). */
void perf_run_job(const perf_job_t *job, perf_out_t *out);

/* ---- results and reports (report.c) ------------------------------------ */

typedef enum perf_format { FMT_TABLE, FMT_CSV, FMT_JSON } perf_format_t;

typedef struct perf_result {
    const perf_bench_t *bench;
    perf_impl_id_t impl;
    unsigned workers;
    long param;
    int reps;
    double *samples; /* reps values: seconds, or CPU s/s for idle */
    double median, min, max;
    uint64_t tasks; /* 0: meaningless */
    long maxrss_kb; /* the largest of the repetitions */
    bool failed;
    char msg[200];
} perf_result_t;

typedef struct perf_skip {
    const perf_bench_t *bench;
    perf_impl_id_t impl;
    const char *why;
} perf_skip_t;

typedef struct perf_report {
    const char *suite;
    int reps;
    const unsigned *workers;
    size_t nworkers;
    perf_result_t *res;
    size_t nres;
    perf_skip_t *skips;
    size_t nskips;
    double total_s;
    double load_start; /* 1-minute load average before the runs, < 0: ? */
} perf_report_t;

void perf_print(const perf_report_t *rep, perf_format_t fmt);
/* CPU model from /proc/cpuinfo ("unknown" if absent). */
const char *perf_cpu_model(void);
/* 1-minute load average, or -1. */
double perf_loadavg(void);

#ifdef __cplusplus
}
#endif
#endif
