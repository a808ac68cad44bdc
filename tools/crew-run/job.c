/*
 * job.c - one job of crew-run: how its command runs, the crew task that
 * starts its process and waits for it, and the cleanup that counts it.
 *
 * Running a command. A command line with no shell syntax (only letters,
 * digits, blanks and _-./,:@%+=, no assignment or shell keyword or builtin
 * first) is split at blanks and executed directly: exactly what /bin/sh
 * would have done with it, without starting a shell. Anything else goes to
 * /bin/sh -c. Starting a program costs a vfork-like clone plus exec
 * (posix_spawn), about a third of a shell's start; for `true` jobs that is
 * most of the time per job. If the direct exec fails (no such file, not
 * executable, no #! line) the line is given to /bin/sh after all, so the
 * errors and exit codes are the shell's (126, 127).
 *
 * Process groups. Each job's process is the leader of a new process group
 * (POSIX_SPAWN_SETPGROUP), so one kill(-pgid) reaches the job and whatever
 * it started. The leader is reaped only after the last kill: while it is an
 * unreaped zombie its PID, hence the group ID, cannot be reused by another
 * process, so the kill never reaches a stranger. When the leader exits,
 * anything it left behind in its group is SIGKILLed before the reap, and,
 * crew-run being a child subreaper (PR_SET_CHILD_SUBREAPER), reaped too:
 * nothing a job starts outlives it, not even as a dying process. (A
 * process that leaves the group with setsid() or setpgid() escapes; only a
 * cgroup would hold it.)
 *
 * Waiting. The task waits with ppoll on a pidfd (pidfd_open(2): readable
 * once the process has exited), on an eventfd that an on-cancel callback
 * (crew_on_cancel) writes when the job's task is cancelled, and on the
 * run's force eventfd (a second Ctrl-C), until the job's deadline or the
 * end of its grace period: a halt or an interrupt reaches a waiting job in
 * microseconds, a timeout fires on time, and a waiting job sleeps in the
 * kernel and costs no CPU. It occupies its worker thread meanwhile: the
 * executor's worker count is the -j limit. (Without a pidfd, on an old
 * kernel or out of descriptors, it looks every millisecond instead.)
 */
#include "crewrun.h"

#include <crew.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Longest sleep between two looks at crew_cancelled() and the force flag
 * when no eventfd could be made (then nothing wakes the wait early). */
#define CR_SLICE_NS ((int64_t)10 * 1000 * 1000)

int64_t cr_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- how a command line runs --------------------------------------------- */

/* Characters that mean the same to /bin/sh as to a split at blanks. */
static bool plain_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("_-./,:@%+= \t", c) != NULL);
}

/* First words that only a shell understands: keywords, and builtins that
 * change the shell or have no program of the same name. */
static const char *const shell_words[] = {
    "!",        "{",       "}",     "[[",      "]]",       ".",     ":",     "alias", "bg",
    "break",    "case",    "cd",    "command", "continue", "do",    "done",  "elif",  "else",
    "esac",     "eval",    "exec",  "exit",    "export",   "fc",    "fg",    "fi",    "for",
    "function", "getopts", "hash",  "if",      "in",       "jobs",  "local", "read",  "readonly",
    "return",   "select",  "set",   "shift",   "source",   "then",  "time",  "times", "trap",
    "type",     "ulimit",  "umask", "unalias", "unset",    "until", "wait",  "while", NULL};

static bool shell_word(const char *w)
{
    if (strchr(w, '=') != NULL) /* an assignment: FOO=bar cmd */
        return true;
    for (const char *const *s = shell_words; *s != NULL; s++)
        if (strcmp(*s, w) == 0)
            return true;
    return false;
}

/* The program `name` would run as, searched in $PATH as execvp does, or
 * NULL (not found: the shell will say so). Main thread only: the last
 * answer is cached, since a run usually has one program. */
static char *resolve(const char *name)
{
    static char *last_name, *last_path;
    if (strchr(name, '/') != NULL)
        return strdup(name);
    if (last_name != NULL && strcmp(last_name, name) == 0)
        return last_path != NULL ? strdup(last_path) : NULL;
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    char *found = NULL;
    size_t nlen = strlen(name);
    for (const char *p = path; found == NULL;) {
        const char *end = strchr(p, ':');
        size_t dlen = end != NULL ? (size_t)(end - p) : strlen(p);
        char *cand = malloc(dlen + nlen + 3);
        if (cand == NULL)
            break;
        if (dlen == 0)
            memcpy(cand, ".", 2);
        else {
            memcpy(cand, p, dlen);
            cand[dlen] = '\0';
        }
        strcat(cand, "/");
        strcat(cand, name);
        struct stat st;
        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
            found = cand;
        else
            free(cand);
        if (end == NULL)
            break;
        p = end + 1;
    }
    free(last_name);
    free(last_path);
    last_name = strdup(name);
    last_path = found != NULL ? strdup(found) : NULL;
    return found;
}

int cr_job_prepare(cr_job_t *job)
{
    job->argv = NULL;
    job->path = NULL;
    size_t words = 0;
    bool blank = true;
    for (const unsigned char *c = (const unsigned char *)job->line; *c != '\0'; c++) {
        if (!plain_char(*c))
            return 0; /* shell syntax: /bin/sh -c */
        bool b = *c == ' ' || *c == '\t';
        if (blank && !b)
            words++;
        blank = b;
    }
    if (words == 0)
        return 0;
    /* One allocation: the argv array, then a copy of the line cut at
     * blanks. */
    size_t len = strlen(job->line);
    char **argv = malloc((words + 1) * sizeof *argv + len + 1);
    if (argv == NULL)
        return -1;
    char *copy = (char *)(argv + words + 1);
    memcpy(copy, job->line, len + 1);
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, " \t", &save); tok != NULL; tok = strtok_r(NULL, " \t", &save))
        argv[n++] = tok;
    argv[n] = NULL;
    if (shell_word(argv[0])) {
        free(argv);
        return 0;
    }
    job->path = resolve(argv[0]);
    if (job->path == NULL) {
        free(argv);
        return 0;
    }
    job->argv = argv;
    return 0;
}

void cr_job_free(cr_job_t *job)
{
    free(job->argv);
    free(job->path);
    free(job->line);
}

/* ---- starting and stopping a process ------------------------------------ */

/* Start the job's process, leader of its own process group, standard input
 * /dev/null, signal mask empty (crew-run's threads block the interrupting
 * signals), SIGINT and SIGTERM at their default action (a parent script
 * may have left them ignored). Returns 0 or an errno value. */
static int spawn(const cr_job_t *j, pid_t *pid)
{
    posix_spawnattr_t at;
    posix_spawn_file_actions_t fa;
    sigset_t none, dfl;
    int rc = posix_spawnattr_init(&at);
    if (rc != 0)
        return rc;
    rc = posix_spawn_file_actions_init(&fa);
    if (rc != 0) {
        posix_spawnattr_destroy(&at);
        return rc;
    }
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGINT);
    sigaddset(&dfl, SIGTERM);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dfl);
    rc = posix_spawn_file_actions_adddup2(&fa, cr_cfg.devnull, STDIN_FILENO);
    if (rc == 0) {
        rc = ENOENT;
        if (j->argv != NULL && !cr_cfg.shell)
            rc = posix_spawn(pid, j->path, &fa, &at, j->argv, environ);
        if (rc != 0 && rc != ENOMEM && rc != EAGAIN) {
            static char sh[] = "sh", dash_c[] = "-c";
            char *sh_argv[] = {sh, dash_c, j->line, NULL};
            rc = posix_spawn(pid, "/bin/sh", &fa, &at, sh_argv, environ);
        }
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return rc;
}

/* Has the process exited? Waits up to `ns` for it (0: just look). Leaves
 * it unreaped (a zombie keeps its process group ID reserved). */
static bool wait_exit(pid_t pid, int pfd, int64_t ns, int efd)
{
    if (ns < 0)
        ns = 0;
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    if (pfd >= 0) {
        /* Also woken by a cancellation (efd) and by a forced stop. */
        struct pollfd p[3] = {{.fd = pfd, .events = POLLIN},
                              {.fd = efd, .events = POLLIN},
                              {.fd = cr_run.force_fd, .events = POLLIN}};
        return ppoll(p, 3, &ts, NULL) > 0 && (p[0].revents & POLLIN);
    }
    /* No pidfd (pre-5.3 kernel, or out of descriptors): look, then sleep
     * a millisecond at most. */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0)
        return true;
    if (ns > 1000000)
        ts = (struct timespec){.tv_sec = 0, .tv_nsec = 1000000};
    nanosleep(&ts, NULL);
    return false;
}

static cr_cause_t cancel_cause(void)
{
    /* seq_cst load, pairs with the main thread's seq_cst CAS made before
     * its crew_group_cancel() (on_signal() in crew-run.c). A job that saw
     * that cancellation sees the flag as long as crew's cancel publishes
     * with release and crew_cancelled() reads with acquire; if a halt and
     * an interrupt race, a job may be labelled "halted" where
     * "interrupted" was as true. Without --halt-on-fail only an interrupt
     * cancels. */
    if (!cr_cfg.halt || atomic_load(&cr_run.interrupted) != 0)
        return CR_CAUSE_INTERRUPTED;
    return CR_CAUSE_HALTED;
}

/* Wait for the process, killing its group on a timeout or a cancellation:
 * SIGTERM, then SIGKILL after the grace period (at once on the force flag
 * or with no grace). Returns why crew-run killed it (CR_CAUSE_NONE: it
 * exited by itself). The process has exited, unreaped, on return. efd:
 * the eventfd the on-cancel callback writes, or -1 (then it looks every
 * CR_SLICE_NS). */
static cr_cause_t supervise_wait(pid_t pid, int pfd, int64_t start, int efd)
{
    int64_t deadline = cr_cfg.timeout_ns > 0 ? start + cr_cfg.timeout_ns : INT64_MAX;
    int64_t kill_at = INT64_MAX;
    cr_cause_t why = CR_CAUSE_NONE;
    int sent = 0; /* last signal sent to the group */
    for (;;) {
        int64_t now = cr_now_ns();
        /* relaxed: the force eventfd wakes us; the flag says why */
        bool force = atomic_load_explicit(&cr_run.force, memory_order_relaxed);
        if (sent == 0) {
            if (crew_cancelled() || force)
                why = cancel_cause();
            else if (now >= deadline)
                why = CR_CAUSE_TIMEOUT;
            if (why != CR_CAUSE_NONE) {
                sent = force || cr_cfg.grace_ns == 0 ? SIGKILL : SIGTERM;
                kill(-pid, sent);
                kill_at = now + cr_cfg.grace_ns;
            }
        } else if (sent == SIGTERM && (force || now >= kill_at)) {
            sent = SIGKILL;
            kill(-pid, SIGKILL);
        }
        int64_t next = efd >= 0 && cr_run.force_fd >= 0 ? INT64_MAX : now + CR_SLICE_NS;
        if (sent == 0 && deadline < next)
            next = deadline;
        if (sent == SIGTERM && kill_at < next)
            next = kill_at;
        if (next == INT64_MAX)
            next = now + (int64_t)3600 * 1000000000; /* woken by the fds */
        if (wait_exit(pid, pfd, next - now, efd))
            return why;
    }
}

/* The on-cancel callback: wake the job's ppoll (any thread; an eventfd
 * write is async-signal- and thread-safe). */
static void wake_job(void *arg)
{
    uint64_t one = 1;
    ssize_t w = write(*(int *)arg, &one, sizeof one);
    (void)w; /* a full counter still wakes the poll */
}

static cr_cause_t supervise(pid_t pid, int pfd, int64_t start)
{
    crew_on_cancel_t reg;
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    bool armed = efd >= 0 && crew_on_cancel(&reg, wake_job, &efd) >= 0;
    cr_cause_t why = supervise_wait(pid, pfd, start, armed ? efd : -1);
    if (armed)
        crew_on_cancel_remove(&reg); /* fn never runs after this */
    if (efd >= 0)
        close(efd);
    return why;
}

/* One attempt: start the process, wait, reap, record the outcome. */
static void attempt(cr_job_t *j)
{
    pid_t pid;
    int64_t t = cr_now_ns();
    if (j->start_ns == 0)
        j->start_ns = t;
    j->attempts++;
    j->exit_code = -1;
    j->signal = 0;
    int rc = spawn(j, &pid);
    if (rc != 0) {
        j->end_ns = cr_now_ns();
        j->state = CR_FAILED;
        j->cause = CR_CAUSE_ERROR;
        fprintf(stderr, "crew-run: job %llu: cannot start: %s\n", (unsigned long long)j->seq,
                strerror(rc));
        return;
    }
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    cr_cause_t why = supervise(pid, pfd, t);
    /* The leader has exited; whatever it left in its group goes now, while
     * the zombie still holds the group ID (see the top of this file). */
    kill(-pid, SIGKILL);
    int st = 0, other;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    /* crew-run is a child subreaper (main()): the leader's orphans are now
     * its children. Reap every one of them still in the group, so that none
     * is left, not even dying, when the job is over. ECHILD ends it. */
    while (waitpid(-pid, &other, 0) > 0 || errno == EINTR)
        ;
    j->end_ns = cr_now_ns();
    if (pfd >= 0)
        close(pfd);
    if (WIFEXITED(st))
        j->exit_code = WEXITSTATUS(st);
    else if (WIFSIGNALED(st))
        j->signal = WTERMSIG(st);
    if (why == CR_CAUSE_TIMEOUT) {
        j->state = CR_FAILED;
        j->cause = CR_CAUSE_TIMEOUT;
    } else if (why != CR_CAUSE_NONE) {
        j->state = CR_CANCELLED;
        j->cause = why;
    } else if (WIFEXITED(st)) {
        j->state = j->exit_code == 0 ? CR_OK : CR_FAILED;
        j->cause = CR_CAUSE_EXIT;
    } else {
        j->state = CR_FAILED;
        j->cause = CR_CAUSE_SIGNAL;
    }
}

/* The task's result: 0 for success, else a shell-style status (exit code,
 * 128 + signal, 124 for a timeout as timeout(1), 125 if it could not
 * start). With --halt-on-fail the group is CREW_GROUP_FAIL_FAST, so the
 * first non-zero result cancels the group. */
static int result_of(const cr_job_t *j)
{
    switch (j->cause) {
    case CR_CAUSE_EXIT:
        return j->exit_code;
    case CR_CAUSE_TIMEOUT:
        return 124;
    case CR_CAUSE_ERROR:
        return 125;
    default:
        return j->signal != 0 ? 128 + j->signal : 1;
    }
}

int cr_job_run(void *arg)
{
    cr_job_t *j = arg;
    /* relaxed: display counter (see cr_counters_t) */
    atomic_fetch_add_explicit(&cr_run.running, 1, memory_order_relaxed);
    j->state = CR_RUNNING;
    for (;;) {
        /* Not before the first attempt when cancelled meanwhile, and no
         * retry once cancelled: the last attempt's outcome stands. */
        /* relaxed force load: see supervise() */
        if (crew_cancelled() || atomic_load_explicit(&cr_run.force, memory_order_relaxed)) {
            if (j->attempts == 0) {
                j->state = CR_CANCELLED;
                j->cause = cancel_cause();
            }
            break;
        }
        attempt(j);
        if (j->state != CR_FAILED || j->attempts > cr_cfg.retries)
            break;
    }
    atomic_fetch_sub_explicit(&cr_run.running, 1, memory_order_relaxed); /* relaxed: display */
    return j->state == CR_OK ? 0 : result_of(j);
}

void cr_job_finish(void *arg)
{
    cr_job_t *j = arg;
    if (j->state == CR_QUEUED) {
        /* Removed by crew before it started (halt or interrupt). */
        j->state = CR_CANCELLED;
        j->cause = cancel_cause();
        j->exit_code = -1;
    }
    /* relaxed: display counters (see cr_counters_t) */
    if (j->state == CR_OK)
        atomic_fetch_add_explicit(&cr_run.ok, 1, memory_order_relaxed);
    else if (j->state == CR_FAILED)
        atomic_fetch_add_explicit(&cr_run.failed, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&cr_run.cancelled, 1, memory_order_relaxed);
    /* release: publishes this record to the main thread's acquire load of
     * `finished` (crew-run.c, main loop). */
    uint64_t done = atomic_fetch_add_explicit(&cr_run.finished, 1, memory_order_release) + 1;
    if (done == cr_cfg.total) {
        char c = 1;
        /* The pipe is non-blocking and read by the main loop; a full pipe
         * already holds a wake-up. */
        ssize_t w = write(cr_cfg.wake_fd, &c, 1);
        (void)w;
    }
}
