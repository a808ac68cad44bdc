/*
 * crew-run - run a batch of commands in parallel, like xargs -P or GNU
 * parallel, with crew's cancellation: timeouts, --halt-on-fail and Ctrl-C
 * stop everything cleanly, and nothing is left running afterwards.
 *
 *   crew-run [options] [command [arg...]] [::: input...]
 *
 * Each input (the words after :::, else the lines of standard input or of
 * --arg-file) makes one job. With a command, the job is the command with
 * {} replaced by the input (shell-quoted when needed; appended when the
 * command has no {}) and {#} by the job's number; without one, each input
 * is a whole command line. See usage() for the options and the exit codes.
 *
 * Structure. The main thread reads every input first (so the progress bar
 * knows the total), makes the jobs, and submits them in one batch as crew
 * tasks into one group, on an executor of -j workers: a running job's
 * task blocks its worker while it waits for its process, so at most -j
 * jobs run at once and the rest wait in crew's queues. Stopping the run
 * (--halt-on-fail through a CREW_GROUP_FAIL_FAST group, an interrupt
 * through crew_group_cancel()) removes the queued jobs, which never start,
 * and makes the running ones see crew_cancelled() within a 10 ms slice:
 * they SIGTERM their process group, then SIGKILL it after --grace (job.c).
 * The main thread sleeps in poll() on a signalfd (SIGINT, SIGTERM, SIGHUP
 * are blocked in every thread) and a wake-up pipe written when the last
 * job ends, waking ten times a second to redraw the bar on a terminal.
 */
#include "crewrun.h"

#include <crew.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

cr_config_t cr_cfg;
cr_counters_t cr_run;

/* Exit codes (also in usage() and NOTES-crewrun.md). */
enum {
    CR_EXIT_OK = 0,       /* every job exited 0 */
    CR_EXIT_FAILED = 1,   /* some job failed (non-zero exit, signal, no start) */
    CR_EXIT_TIMEOUT = 2,  /* some job timed out (others may have failed) */
    CR_EXIT_HALTED = 3,   /* --halt-on-fail stopped the run */
    CR_EXIT_USAGE = 64,   /* bad command line (EX_USAGE) */
    CR_EXIT_NOINPUT = 66, /* input file unreadable (EX_NOINPUT) */
    CR_EXIT_SOFTWARE = 70 /* crew-run itself failed (EX_SOFTWARE) */
    /* 128 + N: interrupted by signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP) */
};

#define CR_DRAW_NS ((int64_t)100 * 1000 * 1000) /* bar redraw period: 10/s */

static void usage(FILE *f)
{
    fputs("usage: crew-run [options] [command [arg...]] [::: input...]\n"
          "Run one job per input: the words after :::, else the lines of standard input\n"
          "(or of --arg-file). With a command, {} is replaced by the input (appended if\n"
          "there is no {}) and {#} by the job number; without one, each input is a\n"
          "command line. Lines without shell syntax are executed directly, others by\n"
          "/bin/sh -c.\n"
          "\n"
          "  -j, --jobs N        run N jobs at once (default: online CPUs; max 1024)\n"
          "  -a, --arg-file F    read the inputs from file F instead of standard input\n"
          "      --timeout S     kill a job attempt running longer than S seconds\n"
          "      --grace S       seconds from SIGTERM to SIGKILL (default 1; 0: SIGKILL)\n"
          "      --halt-on-fail  the first failure cancels the rest: queued jobs never\n"
          "                      start, running ones are killed\n"
          "      --retries N     run a failed job up to N more times\n"
          "      --results F     per-job results to F: JSON if F ends in .json, else CSV\n"
          "      --shell         always run through /bin/sh -c\n"
          "      --bar, --no-bar progress bar on stderr (default: if it is a terminal)\n"
          "  -v, --verbose       per-job summary however many jobs (default: up to 20)\n"
          "  -q, --quiet         no summary and no progress bar\n"
          "  -h, --help          this text\n"
          "\n"
          "Ctrl-C (SIGINT, also SIGTERM, SIGHUP): queued jobs never start, running ones\n"
          "get SIGTERM, then SIGKILL after the grace; a second one SIGKILLs at once.\n"
          "Exit: 0 all ok, 1 some failed, 2 some timed out, 3 halted by --halt-on-fail,\n"
          "128+N interrupted by signal N (130: SIGINT), 64 usage, 66 no input, 70 error.\n",
          f);
}

/* Seconds (fractional) to nanoseconds; -1 if not a number in [0, 1 year]. */
static int64_t parse_secs(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0 || v > 31536000.0)
        return -1;
    return (int64_t)(v * 1e9 + 0.5);
}

static long parse_count(const char *s, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max)
        return -1;
    return v;
}

/* ---- inputs and command lines --------------------------------------------- */

typedef struct strvec {
    char **v;
    size_t n, cap;
} strvec_t;

static int strvec_push(strvec_t *sv, char *s)
{
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 256;
        char **v = realloc(sv->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        sv->v = v;
        sv->cap = cap;
    }
    sv->v[sv->n++] = s;
    return 0;
}

/* Every non-empty line of f, without its newline. Returns 0, or -1. */
static int read_lines(FILE *f, strvec_t *out)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if (len == 0)
            continue;
        char *copy = strdup(line);
        if (copy == NULL || strvec_push(out, copy) != 0) {
            free(copy);
            free(line);
            return -1;
        }
    }
    free(line);
    return ferror(f) ? -1 : 0;
}

typedef struct buf {
    char *s;
    size_t n, cap;
    bool oom;
} buf_t;

static void buf_add(buf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (b->n + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

/* The input as one shell word: as is if it has nothing special, else in
 * single quotes (a ' inside becomes '\''). */
static void add_quoted(buf_t *b, const char *arg)
{
    bool plain = *arg != '\0';
    for (const unsigned char *c = (const unsigned char *)arg; *c != '\0' && plain; c++)
        plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                strchr("_-./,:@%+=", *c) != NULL;
    if (plain) {
        buf_add(b, arg, strlen(arg));
        return;
    }
    buf_add(b, "'", 1);
    for (const char *p = arg; *p != '\0'; p++) {
        if (*p == '\'')
            buf_add(b, "'\\''", 4);
        else
            buf_add(b, p, 1);
    }
    buf_add(b, "'", 1);
}

/* The command line of one job: the template words joined by blanks, {}
 * replaced by the quoted input, {#} by seq; the input appended if no
 * word has {}. NULL out of memory. */
static char *substitute(char *const *tmpl, size_t nt, const char *arg, uint64_t seq)
{
    buf_t b = {0};
    bool used = false;
    char num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)seq);
    for (size_t i = 0; i < nt; i++) {
        if (i > 0)
            buf_add(&b, " ", 1);
        for (const char *p = tmpl[i]; *p != '\0';) {
            if (strncmp(p, "{}", 2) == 0) {
                add_quoted(&b, arg);
                used = true;
                p += 2;
            } else if (strncmp(p, "{#}", 3) == 0) {
                buf_add(&b, num, strlen(num));
                p += 3;
            } else {
                buf_add(&b, p++, 1);
            }
        }
    }
    if (!used) {
        buf_add(&b, " ", 1);
        add_quoted(&b, arg);
    }
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* ---- the run ----------------------------------------------------------------- */

typedef struct opts {
    long jobs;
    const char *arg_file;
    const char *results;
    int bar; /* -1: if stderr is a terminal */
    bool verbose, quiet;
} opts_t;

static int exit_code_of(const cr_job_t *jobs, uint64_t n)
{
    int sig = atomic_load(&cr_run.interrupted); /* seq_cst; every job has ended */
    if (sig != 0)
        return 128 + sig;
    bool halted = false, timeout = false, failed = false;
    for (uint64_t i = 0; i < n; i++) {
        halted |= jobs[i].cause == CR_CAUSE_HALTED;
        timeout |= jobs[i].cause == CR_CAUSE_TIMEOUT;
        failed |= jobs[i].state != CR_OK;
    }
    return halted    ? CR_EXIT_HALTED
           : timeout ? CR_EXIT_TIMEOUT
           : failed  ? CR_EXIT_FAILED
                     : CR_EXIT_OK;
}

/* An interrupting signal: the first cancels the group (queued jobs are
 * removed now, running ones see crew_cancelled()), the second makes the
 * running ones SIGKILL at once. */
static void on_signal(crew_group_t *g, int sig, bool bar)
{
    int expected = 0;
    /* seq_cst CAS: pairs with the jobs' load in cancel_cause() (job.c),
     * made after they saw the cancellation that follows. */
    if (atomic_compare_exchange_strong(&cr_run.interrupted, &expected, sig)) {
        fprintf(stderr, "%screw-run: %s: stopping (again to kill at once)\n", bar ? "\r\033[K" : "",
                strsignal(sig));
        int rc = crew_group_cancel(g, 128 + sig, "interrupted");
        if (rc == 0)
            return;
        /* ENOMEM: the queued jobs stay queued; force stops them as they
         * start, and kills the running ones. */
        fprintf(stderr, "crew-run: crew_group_cancel: %s\n", crew_strerror(rc));
    } else {
        /* relaxed: only this thread stores force */
        if (atomic_load_explicit(&cr_run.force, memory_order_relaxed))
            return;
        fprintf(stderr, "%screw-run: %s again: killing\n", bar ? "\r\033[K" : "", strsignal(sig));
    }
    /* relaxed: the jobs read it when force_fd wakes them (the eventfd
     * write and their poll order it) */
    atomic_store_explicit(&cr_run.force, true, memory_order_relaxed);
    if (cr_run.force_fd >= 0) {
        uint64_t one = 1;
        ssize_t w = write(cr_run.force_fd, &one, sizeof one);
        (void)w;
    }
}

/* Run the jobs; returns the exit code. */
static int run(cr_job_t *jobs, uint64_t n, const opts_t *o)
{
    bool bar = o->bar == 1 || (o->bar == -1 && !o->quiet && isatty(STDERR_FILENO));
    int wake[2] = {-1, -1}, sfd = -1, code = CR_EXIT_SOFTWARE;
    crew_t *ex = NULL;
    crew_group_t *g = NULL;
    cr_run.force_fd = -1;
    void **args = NULL;

    /* Block the interrupting signals before the workers exist, so that
     * every thread inherits the mask and only the signalfd sees them. A
     * SIGHUP ignored on entry (nohup) stays ignored. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    struct sigaction old;
    if (sigaction(SIGHUP, NULL, &old) == 0 && old.sa_handler != SIG_IGN)
        sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGINT, SIG_DFL); /* a parent script may have left it ignored */
    signal(SIGTERM, SIG_DFL);
    sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    cr_run.force_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); /* -1: jobs look every 10 ms */
    cr_cfg.devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (sfd < 0 || cr_cfg.devnull < 0 || pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        perror("crew-run: setup");
        goto out;
    }
    cr_cfg.wake_fd = wake[1];
    cr_cfg.total = n;

    crew_options_t copt = CREW_OPTIONS_INIT;
    /* No more workers than jobs: -j 64 for 3 jobs starts 3 threads. */
    copt.workers = (unsigned)(n > 0 && n < (uint64_t)o->jobs ? n : (uint64_t)o->jobs);
    /* Jobs are processes: one record each (no runs of jobs sharing one),
     * so a worker that frees up starts the next job at once. */
    copt.flags = CREW_OPT_NO_CARRIERS;
    int rc = crew_create(&ex, &copt);
    if (rc == 0)
        rc = crew_group_create(ex, NULL, cr_cfg.halt ? CREW_GROUP_FAIL_FAST : 0, &g);
    args = malloc((n ? n : 1) * sizeof *args);
    if (rc == 0 && args == NULL)
        rc = CREW_ENOMEM;
    if (rc != 0) {
        fprintf(stderr, "crew-run: %s\n", crew_strerror(rc));
        goto out;
    }
    for (uint64_t i = 0; i < n; i++)
        args[i] = &jobs[i];
    crew_task_desc_t desc = {.fn = cr_job_run, .cleanup = cr_job_finish, .group = g};
    int64_t t0 = cr_now_ns();
    rc = crew_submit_batch(ex, &desc, args, n, NULL);
    if (rc != 0) {
        fprintf(stderr, "crew-run: crew_submit_batch: %s\n", crew_strerror(rc));
        goto out;
    }

    struct pollfd pf[2] = {{.fd = sfd, .events = POLLIN}, {.fd = wake[0], .events = POLLIN}};
    int64_t next_draw = 0;
    /* acquire: pairs with the release increment in cr_job_finish(); once
     * it reads n, every job record is final and visible here. */
    while (atomic_load_explicit(&cr_run.finished, memory_order_acquire) < n) {
        int r = poll(pf, 2, bar ? (int)(CR_DRAW_NS / 1000000) : -1);
        if (r < 0 && errno != EINTR) {
            perror("crew-run: poll");
            break;
        }
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
            on_signal(g, (int)si.ssi_signo, bar);
        char drain[64];
        while (read(wake[0], drain, sizeof drain) > 0)
            ;
        int64_t now = cr_now_ns();
        if (bar && now >= next_draw) {
            cr_progress_draw(t0, false);
            next_draw = now + CR_DRAW_NS;
        }
    }
    int64_t t_end = cr_now_ns();
    /* Every cleanup has run; the tasks' last steps may still be under
     * way. The group is empty once this returns. */
    crew_status_t st;
    crew_group_wait(g, CREW_FOREVER, &st);
    if (bar)
        cr_progress_draw(t0, true);
    code = exit_code_of(jobs, n);
    if (o->results != NULL && cr_results_write(o->results, jobs, n, t0, t_end, code) != 0) {
        fprintf(stderr, "crew-run: %s: %s\n", o->results, strerror(errno));
        code = CR_EXIT_SOFTWARE;
    }
    if (!o->quiet)
        cr_summary_print(stderr, jobs, n, t0, t_end, code, o->verbose || n <= 20);
out:
    if (g != NULL)
        crew_group_destroy(g);
    if (ex != NULL)
        crew_destroy(&ex);
    free(args);
    if (sfd >= 0)
        close(sfd);
    if (cr_run.force_fd >= 0)
        close(cr_run.force_fd);
    if (cr_cfg.devnull >= 0)
        close(cr_cfg.devnull);
    if (wake[0] >= 0) {
        close(wake[0]);
        close(wake[1]);
    }
    return code;
}

int main(int argc, char **argv)
{
    enum { O_TIMEOUT = 256, O_GRACE, O_HALT, O_RETRIES, O_RESULTS, O_SHELL, O_BAR, O_NOBAR };
    static const struct option longs[] = {{"jobs", required_argument, NULL, 'j'},
                                          {"arg-file", required_argument, NULL, 'a'},
                                          {"timeout", required_argument, NULL, O_TIMEOUT},
                                          {"grace", required_argument, NULL, O_GRACE},
                                          {"halt-on-fail", no_argument, NULL, O_HALT},
                                          {"retries", required_argument, NULL, O_RETRIES},
                                          {"results", required_argument, NULL, O_RESULTS},
                                          {"shell", no_argument, NULL, O_SHELL},
                                          {"bar", no_argument, NULL, O_BAR},
                                          {"no-bar", no_argument, NULL, O_NOBAR},
                                          {"verbose", no_argument, NULL, 'v'},
                                          {"quiet", no_argument, NULL, 'q'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    opts_t o = {.jobs = ncpu > 0 ? (ncpu > 1024 ? 1024 : ncpu) : 1, .bar = -1};
    cr_cfg.grace_ns = 1000000000;
    int c;
    long v;
    /* "+": options end at the first word of the command. */
    while ((c = getopt_long(argc, argv, "+j:a:vqh", longs, NULL)) != -1) {
        switch (c) {
        case 'j':
            if ((o.jobs = parse_count(optarg, 1024)) < 1) {
                fprintf(stderr, "crew-run: -j wants a number in 1..1024\n");
                return CR_EXIT_USAGE;
            }
            break;
        case 'a':
            o.arg_file = optarg;
            break;
        case O_TIMEOUT:
        case O_GRACE: {
            int64_t ns = parse_secs(optarg);
            if (ns < 0 || (c == O_TIMEOUT && ns == 0)) {
                fprintf(stderr, "crew-run: --%s wants seconds (> 0 for --timeout)\n",
                        c == O_TIMEOUT ? "timeout" : "grace");
                return CR_EXIT_USAGE;
            }
            *(c == O_TIMEOUT ? &cr_cfg.timeout_ns : &cr_cfg.grace_ns) = ns;
            break;
        }
        case O_HALT:
            cr_cfg.halt = true;
            break;
        case O_RETRIES:
            if ((v = parse_count(optarg, 1000000)) < 0) {
                fprintf(stderr, "crew-run: --retries wants a number\n");
                return CR_EXIT_USAGE;
            }
            cr_cfg.retries = (unsigned)v;
            break;
        case O_RESULTS:
            o.results = optarg;
            break;
        case O_SHELL:
            cr_cfg.shell = true;
            break;
        case O_BAR:
        case O_NOBAR:
            o.bar = c == O_BAR;
            break;
        case 'v':
            o.verbose = true;
            break;
        case 'q':
            o.quiet = true;
            break;
        case 'h':
            usage(stdout);
            return CR_EXIT_OK;
        default:
            usage(stderr);
            return CR_EXIT_USAGE;
        }
    }

    /* The command template runs up to ":::"; the inputs follow it. */
    int first = optind, sep = argc;
    for (int i = optind; i < argc; i++) {
        if (strcmp(argv[i], ":::") == 0) {
            sep = i;
            break;
        }
    }
    strvec_t inputs = {0};
    int code = CR_EXIT_SOFTWARE;
    if (sep < argc) {
        for (int i = sep + 1; i < argc; i++)
            if (argv[i][0] != '\0' && strvec_push(&inputs, strdup(argv[i])) != 0)
                goto oom;
    } else {
        FILE *in = stdin;
        if (o.arg_file != NULL && (in = fopen(o.arg_file, "re")) == NULL) {
            fprintf(stderr, "crew-run: %s: %s\n", o.arg_file, strerror(errno));
            return CR_EXIT_NOINPUT;
        }
        int rc = read_lines(in, &inputs);
        if (in != stdin)
            fclose(in);
        if (rc != 0) {
            fprintf(stderr, "crew-run: reading the inputs: %s\n", strerror(errno));
            code = CR_EXIT_NOINPUT;
            goto done;
        }
    }

    uint64_t n = inputs.n;
    cr_job_t *jobs = calloc(n ? n : 1, sizeof *jobs);
    if (jobs == NULL)
        goto oom;
    for (uint64_t i = 0; i < n; i++) {
        cr_job_t *j = &jobs[i];
        j->seq = i + 1;
        j->exit_code = -1;
        if (sep > first) {
            j->line = substitute(argv + first, (size_t)(sep - first), inputs.v[i], j->seq);
        } else {
            j->line = inputs.v[i]; /* the job owns the input now */
            inputs.v[i] = NULL;
        }
        if (j->line == NULL || (!cr_cfg.shell && cr_job_prepare(j) != 0)) {
            for (uint64_t k = 0; k <= i; k++)
                cr_job_free(&jobs[k]);
            free(jobs);
            goto oom;
        }
    }
    /* Orphans of a job's processes come to crew-run, which reaps them with
     * the job (job.c). Best effort: without it they go to init. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    code = run(jobs, n, &o);
    for (uint64_t i = 0; i < n; i++)
        cr_job_free(&jobs[i]);
    free(jobs);
    goto done;
oom:
    fprintf(stderr, "crew-run: out of memory\n");
    code = CR_EXIT_SOFTWARE;
done:
    for (size_t i = 0; i < inputs.n; i++)
        free(inputs.v[i]);
    free(inputs.v);
    return code;
}
