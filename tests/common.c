/* common.c - see common.h. */
#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"

int64_t t_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t t_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double t_scale(void)
{
    const char *s = getenv("CREW_TEST_SCALE");
    double f = 1.0;
    if (s && *s) {
        char *end;
        double v = strtod(s, &end);
        if (end != s && v > 0)
            f = v;
    }
    return f;
}

long t_scaled(long n, long lo)
{
    double r = (double)n * t_scale();
    return r < (double)lo ? lo : (long)r;
}

void t_die(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

static void watchdog_fired(int sig)
{
    (void)sig;
    static const char msg[] = "watchdog: test still running, assuming a "
                              "deadlock\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
    }
    _exit(3);
}

void t_watchdog(unsigned secs)
{
    signal(SIGALRM, watchdog_fired);
    alarm(secs);
}

void t_backoff(unsigned i)
{
    if (i < 64) {
        sched_yield();
    } else {
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
}

/* ---- gates ---------------------------------------------------------------- */

void gate_init(gate_t *g)
{
    pthread_mutex_init(&g->mu, NULL);
    t_cond_init(&g->cv);
    g->arrived = 0;
    g->open = false;
}

void gate_destroy(gate_t *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

struct timespec t_deadline(double secs)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = ts.tv_nsec + (int64_t)((secs - (double)(int64_t)secs) * 1e9);
    ts.tv_sec += (time_t)secs + (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}

void t_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
}

void gate_pass(gate_t *g)
{
    struct timespec dl = t_deadline(T_HANG_S * 3);
    pthread_mutex_lock(&g->mu);
    g->arrived++;
    pthread_cond_broadcast(&g->cv);
    while (!g->open) {
        if (pthread_cond_timedwait(&g->cv, &g->mu, &dl) == ETIMEDOUT) {
            pthread_mutex_unlock(&g->mu);
            T_DIE("gate_pass: the gate never opened (test bug or hang)");
        }
    }
    pthread_mutex_unlock(&g->mu);
}

void gate_open(gate_t *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

void gate_await_arrivals(gate_t *g, int n)
{
    struct timespec dl = t_deadline(T_HANG_S);
    pthread_mutex_lock(&g->mu);
    while (g->arrived < n) {
        if (pthread_cond_timedwait(&g->cv, &g->mu, &dl) == ETIMEDOUT) {
            int a = g->arrived;
            pthread_mutex_unlock(&g->mu);
            T_DIE("gate_await_arrivals: %d of %d tasks arrived", a, n);
        }
    }
    pthread_mutex_unlock(&g->mu);
}

int gate_arrived(gate_t *g)
{
    pthread_mutex_lock(&g->mu);
    int a = g->arrived;
    pthread_mutex_unlock(&g->mu);
    return a;
}

int gate_task(void *arg)
{
    gate_pass(arg);
    return 0;
}

void saturate(crew_t *ex, gate_t *g)
{
    unsigned n = crew_workers(ex);
    int before = gate_arrived(g);
    for (unsigned i = 0; i < n; i++) {
        int rc = crew_submit(ex, gate_task, g, NULL);
        if (rc != 0)
            T_DIE("saturate: crew_submit -> %s", crew_err_name(rc));
    }
    gate_await_arrivals(g, before + (int)n);
}

void flag_await(atomic_int *f)
{
    if (!T_WAIT_UNTIL(flag_get(f), T_HANG_S))
        T_DIE("flag_await: flag never set");
}

/* ---- executors ------------------------------------------------------------- */

int t_open_executors;

crew_t *t_create(unsigned workers)
{
    crew_options_t o = {sizeof o};
    o.workers = workers;
    crew_t *ex = NULL;
    int rc = crew_create(&ex, &o);
    if (rc != 0 || !ex)
        T_DIE("crew_create(%u workers) -> %s", workers, crew_err_name(rc));
    t_open_executors++;
    return ex;
}

crew_stats_t t_stats(crew_t *ex)
{
    crew_stats_t s;
    memset(&s, 0, sizeof s);
    s.size = sizeof s;
    int rc = crew_stats(ex, &s);
    if (rc != 0)
        T_DIE("crew_stats -> %s", crew_err_name(rc));
    return s;
}

crew_stats_t t_settle(crew_t *ex)
{
    crew_stats_t s;
    T_WAIT_UNTIL(
        (s = t_stats(ex), s.live_tasks == 0 && s.live_records == 0 && s.cancel_set_size == 0),
        T_HANG_S / 2);
    return s;
}

crew_status_t t_wait(crew_t *ex, crew_id_t id)
{
    crew_status_t st = (crew_status_t)-1;
    int rc = crew_wait(ex, id, (int64_t)(T_HANG_S * 1e9), &st);
    if (rc != 0) {
#ifdef CREW_TEST_HAVE_FAULT
        if (rc == CREW_ETIMEDOUT)
            crew__dump(ex, stderr);
#endif
        T_DIE("crew_wait(%llu) -> %s", (unsigned long long)id, crew_err_name(rc));
    }
    return st;
}

crew_status_t t_join(crew_t *ex, crew_id_t id)
{
    t_wait(ex, id);
    crew_status_t st = (crew_status_t)-1;
    int rc = crew_join(ex, id, &st);
    if (rc != 0)
        T_DIE("crew_join(%llu) -> %s", (unsigned long long)id, crew_err_name(rc));
    return st;
}

crew_task_info_t t_inspect(crew_t *ex, crew_id_t id)
{
    crew_task_info_t info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    int rc = crew_inspect(ex, id, &info);
    if (rc != 0)
        T_DIE("crew_inspect(%llu) -> %s", (unsigned long long)id, crew_err_name(rc));
    return info;
}

uint32_t t_cancel_scopes(crew_t *ex) { return crew__debug_cancel_scopes(ex); }

const char *t_destroy_clean(crew_t **exp, crew_shutdown_mode_t mode)
{
    static char msg[256];
    crew_stats_t s = t_settle(*exp);
    if (s.live_tasks || s.live_records || s.cancel_set_size) {
        snprintf(msg, sizeof msg,
                 "not clean before shutdown: live_tasks %llu "
                 "live_records %llu cancel_set_size %llu",
                 (unsigned long long)s.live_tasks, (unsigned long long)s.live_records,
                 (unsigned long long)s.cancel_set_size);
        return msg;
    }
    int rc = crew_shutdown(*exp, mode);
    if (rc != 0) {
        snprintf(msg, sizeof msg, "crew_shutdown -> %s", crew_err_name(rc));
        return msg;
    }
    uint32_t want = mode == CREW_CANCEL ? 1 : 0, got = t_cancel_scopes(*exp);
    if (got != want) {
        snprintf(msg, sizeof msg,
                 "%u cancel scope(s) left after "
                 "crew_shutdown(%s), expected %u%s",
                 got, mode == CREW_CANCEL ? "CANCEL" : "DRAIN", want,
                 mode == CREW_DRAIN && got == 1
                     ? " (after a CREW_CANCEL shutdown, tear down in that mode)"
                     : "");
        return msg;
    }
    rc = crew_destroy(exp);
    if (rc != 0 || *exp) {
        snprintf(msg, sizeof msg, "crew_destroy -> %s%s", crew_err_name(rc),
                 *exp ? ", handle not set to NULL" : "");
        return msg;
    }
    if (--t_open_executors <= 0) {
        t_open_executors = 0;
        if (t_live_bytes() != 0) {
            snprintf(msg, sizeof msg,
                     "%lld bytes still allocated by crew "
                     "after the last crew_destroy",
                     (long long)t_live_bytes());
            return msg;
        }
    }
    return NULL;
}

int64_t t_live_bytes(void)
{
#ifdef CREW_TEST_HAVE_FAULT
    return crew__fault_live_bytes();
#else
    return 0;
#endif
}

int noop_task(void *arg)
{
    (void)arg;
    return 0;
}

int ret_task(void *arg) { return (int)(intptr_t)arg; }

int count_task(void *arg)
{
    atomic_fetch_add_explicit((atomic_int *)arg, 1, memory_order_relaxed);
    return 0;
}

void count_cleanup(void *arg)
{
    atomic_fetch_add_explicit((atomic_int *)arg, 1, memory_order_relaxed);
}

/* ---- groups ----------------------------------------------------------------- */

crew_group_t *t_group(crew_t *ex, crew_group_t *parent, unsigned flags)
{
    crew_group_t *g = NULL;
    int rc = crew_group_create(ex, parent, flags, &g);
    if (rc != 0 || !g)
        T_DIE("crew_group_create -> %s", crew_err_name(rc));
    return g;
}

crew_group_info_t t_ginfo(crew_group_t *g)
{
    crew_group_info_t i;
    memset(&i, 0, sizeof i);
    i.size = sizeof i;
    int rc = crew_group_info(g, &i);
    if (rc != 0)
        T_DIE("crew_group_info -> %s", crew_err_name(rc));
    return i;
}

int t_submit_to(crew_t *ex, crew_group_t *g, crew_fn fn, void *arg, crew_id_t *id)
{
    crew_task_desc_t d = {.fn = fn, .arg = arg, .cleanup = NULL, .group = g};
    return crew_submit_ex(ex, &d, id);
}

/* ---- actors ------------------------------------------------------------------ */

crew_actor_info_t t_actor_info(crew_actor_t *a)
{
    crew_actor_info_t i;
    memset(&i, 0, sizeof i);
    i.size = sizeof i;
    int rc = crew_actor_info(a, &i);
    if (rc != 0)
        T_DIE("crew_actor_info -> %s", crew_err_name(rc));
    return i;
}

void t_actor_wait(crew_actor_t *a)
{
    int rc = crew_actor_wait(a, T_HANG_NS);
    if (rc != 0)
        T_DIE("crew_actor_wait -> %s", crew_err_name(rc));
}

int actor_exit_task(void *arg)
{
    (void)arg;
    return crew_actor_exit();
}

/* ---- threads ------------------------------------------------------------------ */

pid_t t_gettid(void) { return (pid_t)syscall(SYS_gettid); }

bool t_thread_sleeping(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        T_DIE("t_thread_sleeping: cannot open %s", path);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* "tid (comm) S ...": the state follows the last ')'. */
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] == 'S';
}

/* ---- probes ----------------------------------------------------------------- */

void probe_init(probe_t *p, bool until_cancelled, int ret)
{
    memset(p, 0, sizeof *p);
    atomic_init(&p->self, 0);
    p->until_cancelled = until_cancelled;
    p->ret = ret;
}

static void probe_check(probe_t *p)
{
    /* Read the flag first: if it was set, crew_cancel had returned before
     * this check began, so the check must report cancellation. */
    bool after = flag_get(&p->cancel_returned);
    bool c = crew_cancelled();
    if (c)
        atomic_store_explicit(&p->saw_cancel, 1, memory_order_relaxed);
    if (after) {
        atomic_fetch_add_explicit(&p->checks_after, 1, memory_order_relaxed);
        if (!c)
            atomic_fetch_add_explicit(&p->misses, 1, memory_order_relaxed);
    }
}

int probe_task(void *arg)
{
    probe_t *p = arg;
    atomic_store(&p->self, crew_self());
    flag_set(&p->started);
    int64_t end = t_now_ns() + (int64_t)(T_HANG_S * 1e9);
    for (unsigned i = 0;; i++) {
        probe_check(p);
        if (p->until_cancelled ? atomic_load(&p->saw_cancel) != 0 : flag_get(&p->release))
            break;
        if (t_now_ns() > end) {
            atomic_store(&p->timed_out, 1);
            break;
        }
        if (i % 16 == 15)
            sched_yield();
    }
    for (int i = 0; i < 256; i++)
        probe_check(p);
    flag_set(&p->finished);
    return p->ret;
}
