/*
 * runner.c - one repetition of one (bench, impl, workers) in a forked child.
 *
 * The parent never creates a thread, so each child starts single-threaded:
 * every executor, OpenMP team or TBB arena lives and dies in its child, peak
 * RSS (getrusage) is that of one repetition, and a crash or hang is caught.
 * The child sends one perf_out_t back through a pipe.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "perf.h"

/* ---- child ------------------------------------------------------------- */

enum { PH_SETUP, PH_WARM, PH_RUN, PH_TEARDOWN, PH_COUNT };
static const char *const phase_names[PH_COUNT] = {"setup", "warm-up run", "timed run", "teardown"};

/* Prepared before the run so that the SIGALRM handler only writes bytes. */
static perf_out_t timeout_out[PH_COUNT];
static volatile sig_atomic_t phase;
static int result_fd = -1;

static void on_alarm(int sig)
{
    (void)sig;
    const perf_out_t *o = &timeout_out[phase];
    ssize_t n = write(result_fd, o, sizeof *o);
    (void)n;
    _exit(3);
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void check_answer(const perf_job_t *job, const perf_out_t *o, uint64_t want,
                         const char *which)
{
    if (job->bench->expect && o->answer != want)
        perf_fail("WRONG ANSWER in %s: got %llu, expected %llu", which,
                  (unsigned long long)o->answer, (unsigned long long)want);
}

static void child_main(const perf_job_t *job, int fd)
{
    const perf_entry_t *e = &job->bench->impl[job->impl];
    perf_out_t out;
    memset(&out, 0, sizeof out);

    result_fd = fd;
    for (int p = 0; p < PH_COUNT; p++) {
        timeout_out[p].failed = 1;
        snprintf(timeout_out[p].msg, sizeof timeout_out[p].msg,
                 "TIMED OUT after %u s in the %s (hang?)", job->timeout_s, phase_names[p]);
    }
    signal(SIGALRM, on_alarm);
    alarm(job->timeout_s);
    perf_fail_reset();

    phase = PH_SETUP;
    void *state = e->setup ? e->setup(job->workers) : NULL;
    if (e->setup && !state) {
        perf_fail("setup failed");
        goto done;
    }
    if (job->warm > 0) {
        phase = PH_WARM;
        perf_out_t w;
        memset(&w, 0, sizeof w);
        w.seconds = -1;
        if (e->run(state, job->warm, &w) == 0)
            check_answer(job, &w, job->expect_warm, "the warm-up run");
    }
    if (!perf_fail_get(out.msg, sizeof out.msg)) {
        phase = PH_RUN;
        out.seconds = -1;
        double t0 = perf_now();
        int rc = e->run(state, job->param, &out);
        double t1 = perf_now();
        if (out.seconds < 0)
            out.seconds = t1 - t0;
        if (rc == 0)
            check_answer(job, &out, job->expect_answer, "the timed run");
    }
    phase = PH_TEARDOWN;
    if (e->teardown)
        e->teardown(state);
done:
    alarm(0);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        out.maxrss_kb = ru.ru_maxrss;
    out.failed = perf_fail_get(out.msg, sizeof out.msg);
    if (write_all(fd, &out, sizeof out) != 0)
        _exit(2);
}

/* ---- parent ------------------------------------------------------------ */

void perf_run_job(const perf_job_t *job, perf_out_t *out)
{
    int fd[2];
    memset(out, 0, sizeof *out);
    out->failed = 1;
    if (pipe(fd) != 0) {
        snprintf(out->msg, sizeof out->msg, "pipe: %s", strerror(errno));
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(out->msg, sizeof out->msg, "fork: %s", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return;
    }
    if (pid == 0) {
        close(fd[0]);
        child_main(job, fd[1]);
        _exit(0);
    }
    close(fd[1]);

    perf_out_t got;
    size_t have = 0;
    while (have < sizeof got) {
        ssize_t n = read(fd[0], (char *)&got + have, sizeof got - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    close(fd[0]);
    int wst = 0;
    while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
        ;

    if (have == sizeof got) {
        *out = got;
    } else if (WIFSIGNALED(wst)) {
        snprintf(out->msg, sizeof out->msg, "CRASHED: killed by signal %d (%s)", WTERMSIG(wst),
                 strsignal(WTERMSIG(wst)));
    } else {
        snprintf(out->msg, sizeof out->msg, "child exited with status %d without a result",
                 WIFEXITED(wst) ? WEXITSTATUS(wst) : -1);
    }
}
