/*
 * main.c - crew-perf: command line, benchmark selection, and the run loop.
 *
 * For each benchmark and worker count, the selected implementations run
 * interleaved (crew omp tbb crew omp tbb ...) so that slow drifts of the
 * machine (frequency, other load) hit all of them alike; every repetition
 * is a fresh child process (runner.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "perf.h"

const char *const perf_impl_names[IMPL_COUNT] = {"crew", "serial", "omp", "tbb", "pool"};

const perf_bench_t *const perf_benches[] = {&perf_bench_fib,
                                            &perf_bench_fib_spawn,
                                            &perf_bench_nqueens,
                                            &perf_bench_nqueens_calls,
                                            &perf_bench_uts,
                                            &perf_bench_submit_single,
                                            &perf_bench_submit_batch,
                                            &perf_bench_submit_bounded,
                                            &perf_bench_matmul,
                                            &perf_bench_idle,
                                            &perf_bench_lifecycle,
                                            &perf_bench_cancel_check_empty,
                                            &perf_bench_cancel_check_1k,
                                            &perf_bench_cancel_check_100k,
                                            &perf_bench_cancel_check_depth8,
                                            &perf_bench_cancel_queued,
                                            &perf_bench_cancel_group_queued,
                                            &perf_bench_cancel_latency,
                                            &perf_bench_deadline_set_clear,
                                            &perf_bench_tasks_plain,
                                            &perf_bench_tasks_records,
                                            &perf_bench_tasks_deadline,
                                            &perf_bench_tasks_deadline_records,
                                            &perf_bench_deadline_latency,
                                            &perf_bench_deadline_latency_p99,
                                            &perf_bench_idle_deadlines,
                                            &perf_bench_interrupt_latency,
                                            &perf_bench_actor_one,
                                            &perf_bench_actor_1000,
                                            &perf_bench_actor_mutex_one,
                                            &perf_bench_actor_mutex_1000,
                                            &perf_bench_trace_off,
                                            &perf_bench_trace_on,
                                            &perf_bench_loop_uniform,
                                            &perf_bench_loop_uniform_dyn,
                                            &perf_bench_loop_irregular,
                                            &perf_bench_loop_irregular_dyn,
                                            &perf_bench_loop_reduce,
                                            &perf_bench_loop_reduce_dyn,
                                            &perf_bench_loop_stencil,
                                            &perf_bench_loop_stencil_dyn,
                                            NULL};

#define MAX_BENCH   64
#define MAX_WORKERS 64

typedef struct options {
    int suite; /* PERF_QUICK or PERF_FULL */
    unsigned workers[MAX_WORKERS];
    size_t nworkers;
    int reps; /* 0: the suite's default */
    bool bench[MAX_BENCH];
    bool impl[IMPL_COUNT];
    perf_format_t format;
    unsigned timeout_s; /* 0: the suite's default */
    long param;         /* 0: the suite's size */
    bool quiet;
} options_t;

static void usage(FILE *f)
{
    fprintf(f, "Usage: crew-perf [options]\n"
               "Benchmarks crew against serial code, OpenMP tasks, oneTBB and a\n"
               "mutex/condvar thread pool. Every repetition runs in its own child\n"
               "process; implementations are interleaved; answers are checked.\n"
               "\n"
               "  --suite quick|full   sizes and repetitions (default quick, < 1 min)\n"
               "  --workers LIST       worker counts, e.g. 1,2,4 (default: 1 and the\n"
               "                       number of online CPUs)\n"
               "  --reps N             timed repetitions per row (default: quick 3,\n"
               "                       full 5), each after an untimed warm-up run\n"
               "  --bench LIST         benchmarks to run (default all; `cancel`,\n"
               "                       `actor` and `loop` select every cancel_* /\n"
               "                       actor_* / loop_* row)\n"
               "  --impl LIST          crew,serial,omp,tbb,pool (default all built)\n"
               "  --format FMT         table (default), csv or json, on stdout\n"
               "  --param N            size for every selected bench instead of the\n"
               "                       suite's (use with one --bench; see --list)\n"
               "  --timeout S          kill a repetition after S seconds and report\n"
               "                       it as a hang (default: quick 60, full 600)\n"
               "  --quiet              no progress line on stderr\n"
               "  --list               list the benchmarks and exit\n"
               "  --help               this text\n"
               "\n"
               "Exit status: 0, or 1 if any run failed (wrong answer, error, crash,\n"
               "hang), 2 for a usage error.\n");
}

static void list_benches(void)
{
    printf("%-20s %10s %10s  %s\n", "bench", "quick", "full", "what");
    for (size_t b = 0; perf_benches[b]; b++) {
        const perf_bench_t *pb = perf_benches[b];
        printf("%-20s %10ld %10ld  %s\n", pb->name, pb->param[PERF_QUICK], pb->param[PERF_FULL],
               pb->what);
    }
    printf("\nimplementations:");
    for (int i = 0; i < IMPL_COUNT; i++)
        printf(" %s", perf_impl_names[i]);
    printf("\nnot built here:");
    bool any = false;
    for (int i = 0; i < IMPL_COUNT; i++) {
        /* a peer that is missing says so in its skip reason on fib */
        const perf_entry_t *e = &perf_bench_fib.impl[i];
        if (!e->run && e->skip && strstr(e->skip, "not found")) {
            printf(" %s", perf_impl_names[i]);
            any = true;
        }
    }
    printf("%s\n", any ? "" : " none");
}

/* Split a comma list; calls fn for each item. Returns 0 or -1. */
static int each_item(const char *list, int (*fn)(const char *, void *), void *ctx)
{
    char buf[512];
    if (strlen(list) >= sizeof buf)
        return -1;
    strcpy(buf, list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (fn(tok, ctx) != 0)
            return -1;
    return 0;
}

static int add_worker(const char *s, void *ctx)
{
    options_t *o = ctx;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 1 || v > 1024 || o->nworkers == MAX_WORKERS) {
        fprintf(stderr, "crew-perf: bad worker count '%s' (1..1024)\n", s);
        return -1;
    }
    for (size_t i = 0; i < o->nworkers; i++)
        if (o->workers[i] == (unsigned)v)
            return 0;
    o->workers[o->nworkers++] = (unsigned)v;
    return 0;
}

static int add_bench(const char *s, void *ctx)
{
    options_t *o = ctx;
    bool found = false;
    for (size_t b = 0; perf_benches[b]; b++) {
        const char *n = perf_benches[b]->name;
        if (strcmp(n, s) == 0 || (strcmp(s, "cancel") == 0 && strncmp(n, "cancel_", 7) == 0) ||
            (strcmp(s, "actor") == 0 && strncmp(n, "actor_", 6) == 0) ||
            (strcmp(s, "loop") == 0 && strncmp(n, "loop_", 5) == 0)) {
            o->bench[b] = true;
            found = true;
        }
    }
    if (!found)
        fprintf(stderr, "crew-perf: unknown bench '%s' (see --list)\n", s);
    return found ? 0 : -1;
}

static int add_impl(const char *s, void *ctx)
{
    options_t *o = ctx;
    for (int i = 0; i < IMPL_COUNT; i++) {
        if (strcmp(perf_impl_names[i], s) == 0) {
            o->impl[i] = true;
            return 0;
        }
    }
    fprintf(stderr, "crew-perf: unknown impl '%s' (crew,serial,omp,tbb,pool)\n", s);
    return -1;
}

static int parse(int argc, char **argv, options_t *o)
{
    enum {
        O_SUITE = 256,
        O_WORKERS,
        O_REPS,
        O_BENCH,
        O_IMPL,
        O_FORMAT,
        O_TIMEOUT,
        O_PARAM,
        O_QUIET,
        O_LIST,
        O_HELP
    };
    static const struct option lo[] = {{"suite", required_argument, NULL, O_SUITE},
                                       {"workers", required_argument, NULL, O_WORKERS},
                                       {"reps", required_argument, NULL, O_REPS},
                                       {"bench", required_argument, NULL, O_BENCH},
                                       {"impl", required_argument, NULL, O_IMPL},
                                       {"format", required_argument, NULL, O_FORMAT},
                                       {"timeout", required_argument, NULL, O_TIMEOUT},
                                       {"param", required_argument, NULL, O_PARAM},
                                       {"quiet", no_argument, NULL, O_QUIET},
                                       {"list", no_argument, NULL, O_LIST},
                                       {"help", no_argument, NULL, O_HELP},
                                       {NULL, 0, NULL, 0}};
    bool any_bench = false, any_impl = false;
    int c;
    char *end;

    memset(o, 0, sizeof *o);
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_SUITE:
            if (strcmp(optarg, "quick") == 0)
                o->suite = PERF_QUICK;
            else if (strcmp(optarg, "full") == 0)
                o->suite = PERF_FULL;
            else {
                fprintf(stderr, "crew-perf: --suite quick|full\n");
                return -1;
            }
            break;
        case O_WORKERS:
            if (each_item(optarg, add_worker, o) != 0)
                return -1;
            break;
        case O_REPS:
            o->reps = (int)strtol(optarg, &end, 10);
            if (*end || o->reps < 1 || o->reps > 1000) {
                fprintf(stderr, "crew-perf: --reps 1..1000\n");
                return -1;
            }
            break;
        case O_BENCH:
            any_bench = true;
            if (each_item(optarg, add_bench, o) != 0)
                return -1;
            break;
        case O_IMPL:
            any_impl = true;
            if (each_item(optarg, add_impl, o) != 0)
                return -1;
            break;
        case O_FORMAT:
            if (strcmp(optarg, "table") == 0)
                o->format = FMT_TABLE;
            else if (strcmp(optarg, "csv") == 0)
                o->format = FMT_CSV;
            else if (strcmp(optarg, "json") == 0)
                o->format = FMT_JSON;
            else {
                fprintf(stderr, "crew-perf: --format table|csv|json\n");
                return -1;
            }
            break;
        case O_TIMEOUT:
            o->timeout_s = (unsigned)strtoul(optarg, &end, 10);
            if (*end || o->timeout_s < 1) {
                fprintf(stderr, "crew-perf: --timeout SECONDS\n");
                return -1;
            }
            break;
        case O_PARAM:
            o->param = strtol(optarg, &end, 10);
            if (*end || o->param < 1) {
                fprintf(stderr, "crew-perf: --param N (N >= 1)\n");
                return -1;
            }
            break;
        case O_QUIET:
            o->quiet = true;
            break;
        case O_LIST:
            list_benches();
            exit(0);
        case 'h':
        case O_HELP:
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "crew-perf: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (!any_bench)
        for (size_t b = 0; perf_benches[b]; b++)
            o->bench[b] = true;
    if (!any_impl)
        for (int i = 0; i < IMPL_COUNT; i++)
            o->impl[i] = true;
    if (o->nworkers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        add_worker("1", o);
        char buf[16];
        snprintf(buf, sizeof buf, "%ld", n < 1 ? 1 : (n > 1024 ? 1024 : n));
        add_worker(buf, o);
    }
    if (o->reps == 0)
        o->reps = o->suite == PERF_QUICK ? 3 : 5;
    if (o->timeout_s == 0)
        o->timeout_s = o->suite == PERF_QUICK ? 60 : 600;
    return 0;
}

/* ---- run loop ---------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void finish(perf_result_t *r)
{
    if (r->failed || r->reps == 0)
        return;
    double *s = malloc((size_t)r->reps * sizeof *s);
    if (!s)
        abort();
    memcpy(s, r->samples, (size_t)r->reps * sizeof *s);
    qsort(s, (size_t)r->reps, sizeof *s, cmp_double);
    r->min = s[0];
    r->max = s[r->reps - 1];
    r->median = r->reps % 2 ? s[r->reps / 2] : (s[r->reps / 2 - 1] + s[r->reps / 2]) / 2;
    free(s);
}

int main(int argc, char **argv)
{
    options_t o;
    if (parse(argc, argv, &o) != 0)
        return 2;

    size_t nb = 0;
    while (perf_benches[nb])
        nb++;
    /* upper bounds for the arrays */
    size_t cap = nb * IMPL_COUNT * o.nworkers;
    perf_result_t *res = calloc(cap, sizeof *res);
    perf_skip_t *skips = calloc(nb * IMPL_COUNT, sizeof *skips);
    double *samples = calloc(cap * (size_t)o.reps, sizeof *samples);
    if (!res || !skips || !samples) {
        fprintf(stderr, "crew-perf: out of memory\n");
        return 1;
    }
    perf_report_t rep = {o.suite == PERF_QUICK ? "quick" : "full",
                         o.reps,
                         o.workers,
                         o.nworkers,
                         res,
                         0,
                         skips,
                         0,
                         0,
                         perf_loadavg()};

    /* Plan: which entries run, for the progress count. */
    size_t total = 0, done = 0;
    for (size_t b = 0; b < nb; b++) {
        if (!o.bench[b])
            continue;
        for (int i = 0; i < IMPL_COUNT; i++) {
            const perf_entry_t *e = &perf_benches[b]->impl[i];
            if (!o.impl[i])
                continue;
            if (e->run)
                total += (size_t)o.reps * (i == IMPL_SERIAL ? 1 : o.nworkers);
            else if (e->skip)
                skips[rep.nskips++] = (perf_skip_t){perf_benches[b], (perf_impl_id_t)i, e->skip};
        }
    }
    bool progress = !o.quiet && isatty(STDERR_FILENO);
    bool any_failed = false;
    double t_start = perf_now();

    for (size_t b = 0; b < nb; b++) {
        const perf_bench_t *pb = perf_benches[b];
        if (!o.bench[b])
            continue;
        perf_job_t job;
        memset(&job, 0, sizeof job);
        job.bench = pb;
        job.param = pb->param[o.suite];
        job.warm = pb->warm[o.suite];
        if (o.param > 0) {
            job.param = o.param;
            if (job.warm >= job.param)
                job.warm = 0;
        }
        job.timeout_s = o.timeout_s;
        uint64_t tasks = (pb->flags & PERF_F_NO_TASKS) ? 0 : (uint64_t)job.param;
        if (pb->expect) {
            uint64_t ignored;
            if (pb->expect(job.param, &job.expect_answer, &tasks) != 0 ||
                (job.warm > 0 && pb->expect(job.warm, &job.expect_warm, &ignored) != 0)) {
                fprintf(stderr, "crew-perf: %s: no expected answer for %ld\n", pb->name, job.param);
                any_failed = true;
                continue;
            }
        }

        for (size_t wi = 0; wi < o.nworkers; wi++) {
            /* the rows of this (bench, workers), run interleaved */
            perf_result_t *rows[IMPL_COUNT];
            int nrows = 0;
            for (int i = 0; i < IMPL_COUNT; i++) {
                if (!o.impl[i] || !pb->impl[i].run)
                    continue;
                if (i == IMPL_SERIAL && wi > 0)
                    continue; /* serial runs once, as workers = 1 */
                perf_result_t *r = &res[rep.nres++];
                r->bench = pb;
                r->impl = (perf_impl_id_t)i;
                r->workers = i == IMPL_SERIAL ? 1 : o.workers[wi];
                r->param = job.param;
                r->tasks = tasks;
                r->samples = samples + (size_t)(r - res) * (size_t)o.reps;
                rows[nrows++] = r;
            }
            for (int k = 0; k < o.reps; k++) {
                for (int j = 0; j < nrows; j++) {
                    perf_result_t *r = rows[j];
                    done++;
                    if (r->failed)
                        continue;
                    if (progress)
                        fprintf(stderr, "\r\033[K[%3zu/%zu] %s %s w=%u rep %d/%d", done, total,
                                pb->name, perf_impl_names[r->impl], r->workers, k + 1, o.reps);
                    job.impl = r->impl;
                    job.workers = r->workers;
                    perf_out_t out;
                    perf_run_job(&job, &out);
                    if (out.failed) {
                        r->failed = true;
                        snprintf(r->msg, sizeof r->msg, "%s", out.msg);
                        any_failed = true;
                        fprintf(stderr,
                                "%screw-perf: FAILED %s impl=%s workers=%u "
                                "param=%ld rep %d: %s\n",
                                progress ? "\r\033[K" : "", pb->name, perf_impl_names[r->impl],
                                r->workers, r->param, k + 1, out.msg);
                        continue;
                    }
                    r->samples[r->reps++] = (pb->flags & PERF_F_IDLE) ? out.value : out.seconds;
                    if (out.maxrss_kb > r->maxrss_kb)
                        r->maxrss_kb = out.maxrss_kb;
                }
            }
            for (int j = 0; j < nrows; j++)
                finish(rows[j]);
        }
    }
    if (progress)
        fprintf(stderr, "\r\033[K");
    rep.total_s = perf_now() - t_start;

    perf_print(&rep, o.format);
    if (any_failed)
        fprintf(stderr, "crew-perf: SOME RUNS FAILED (see above)\n");
    free(samples);
    free(skips);
    free(res);
    return any_failed ? 1 : 0;
}
