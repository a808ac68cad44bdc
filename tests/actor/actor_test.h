/*
 * actor_test.h - helpers for the actor tests (Criterion suite, the plain
 * TSan executable). Self-contained on purpose: header-only, public API plus
 * fault.h when the library has the allocation hook.
 *
 * The rules the shared test helpers keep hold here too: no sleep as
 * synchronization (gates built on a mutex and a condition variable, and
 * polls of a condition with a deadline); nothing asserted from a worker
 * (task bodies record what they saw, the test thread asserts); every wait
 * has a deadline and dies loudly instead of hanging.
 */
#ifndef CREW_TESTS_ACTOR_TEST_H
#define CREW_TESTS_ACTOR_TEST_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crew.h"

#ifdef CREW_TEST_HAVE_FAULT
#include "fault.h"
#endif

#ifndef CREW_TEST_TIMEOUT
#define CREW_TEST_TIMEOUT 30
#endif
/* Seconds any single wait may take before the test declares a hang. */
#define AT_HANG_S 20.0

static inline int64_t at_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

__attribute__((format(printf, 3, 4), noreturn)) static inline void
at_die(const char *file, int line, const char *fmt, ...)
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
#define AT_DIE(...) at_die(__FILE__, __LINE__, __VA_ARGS__)

/* $CREW_TEST_SCALE (a positive real, default 1) times n, at least lo. */
static inline long at_scaled(long n, long lo)
{
    const char *s = getenv("CREW_TEST_SCALE");
    double f = 1.0, r;
    if (s && *s) {
        char *end;
        double v = strtod(s, &end);
        if (end != s && v > 0)
            f = v;
    }
    r = (double)n * f;
    return r < (double)lo ? lo : (long)r;
}

static inline void at_backoff(unsigned i)
{
    if (i < 64) {
        sched_yield();
    } else {
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
}

/* Poll cond until true or AT_HANG_S passed; evaluates to its final value.
 * A deadline on a condition, not a sleep standing in for synchronization. */
#define AT_WAIT_UNTIL(cond)                                                    \
    __extension__({                                                           \
        int64_t at__end = at_now_ns() + (int64_t)(AT_HANG_S * 1e9);           \
        unsigned at__i = 0;                                                    \
        bool at__ok;                                                           \
        while (!(at__ok = (cond)) && at_now_ns() < at__end)                    \
            at_backoff(at__i++);                                               \
        at__ok;                                                                \
    })

/* ---- a one-shot gate tasks block on ---------------------------------------- */

typedef struct at_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int arrived;
    bool open;
} at_gate_t;

static inline void at_gate_init(at_gate_t *g)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    g->arrived = 0;
    g->open = false;
}

static inline void at_gate_destroy(at_gate_t *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

static inline struct timespec at_deadline(double secs)
{
    struct timespec ts;
    int64_t ns;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ns = (int64_t)ts.tv_nsec + (int64_t)(secs * 1e9);
    ts.tv_sec += (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}

/* Count oneself in, then block until the gate opens. */
static inline void at_gate_pass(at_gate_t *g)
{
    struct timespec dl = at_deadline(AT_HANG_S * 3);
    pthread_mutex_lock(&g->mu);
    g->arrived++;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        if (pthread_cond_timedwait(&g->cv, &g->mu, &dl) == ETIMEDOUT)
            AT_DIE("gate never opened (test bug or hang)");
    pthread_mutex_unlock(&g->mu);
}

static inline void at_gate_open(at_gate_t *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Wait until at least n tasks arrived at the gate. */
static inline void at_gate_await(at_gate_t *g, int n)
{
    struct timespec dl = at_deadline(AT_HANG_S);
    pthread_mutex_lock(&g->mu);
    while (g->arrived < n)
        if (pthread_cond_timedwait(&g->cv, &g->mu, &dl) == ETIMEDOUT)
            AT_DIE("only %d of %d tasks reached the gate", g->arrived, n);
    pthread_mutex_unlock(&g->mu);
}

static inline int at_gate_task(void *arg)
{
    at_gate_pass(arg);
    return 0;
}

/* ---- executors and tasks ------------------------------------------------------ */

static inline crew_t *at_create(unsigned workers)
{
    crew_options_t o = {sizeof o, workers, 0, 0};
    crew_t *ex = NULL;
    int rc = crew_create(&ex, &o);
    if (rc != 0)
        AT_DIE("crew_create: %s", crew_err_name(rc));
    return ex;
}

static inline crew_stats_t at_stats(crew_t *ex)
{
    crew_stats_t s;
    memset(&s, 0, sizeof s);
    s.size = sizeof s;
    if (crew_stats(ex, &s) != 0)
        AT_DIE("crew_stats failed");
    return s;
}

/* Wait (bounded) until nothing is live, no record is left and the
 * cancellation set is empty; returns the last snapshot. */
static inline crew_stats_t at_settle(crew_t *ex)
{
    crew_stats_t s;
    AT_WAIT_UNTIL((s = at_stats(ex), s.live_tasks == 0 && s.live_records == 0 &&
                                         s.cancel_set_size == 0));
    return s;
}

static inline int64_t at_live_bytes(void)
{
#ifdef CREW_TEST_HAVE_FAULT
    return crew__fault_live_bytes();
#else
    return 0;
#endif
}

/* Block until id is terminal (no release). */
static inline crew_status_t at_wait(crew_t *ex, crew_id_t id)
{
    crew_status_t st = CREW_TASK_QUEUED;
    int rc = crew_wait(ex, id, (int64_t)(AT_HANG_S * 1e9), &st);
    if (rc != 0)
        AT_DIE("crew_wait(%llu): %s", (unsigned long long)id, crew_err_name(rc));
    return st;
}

/* Status now, without waiting (0 timeout): QUEUED/RUNNING if live. */
static inline crew_status_t at_peek(crew_t *ex, crew_id_t id)
{
    crew_task_info_t ti;
    int rc = crew_inspect(ex, id, &ti);
    if (rc != 0)
        AT_DIE("crew_inspect(%llu): %s", (unsigned long long)id, crew_err_name(rc));
    return ti.status;
}

static inline crew_task_info_t at_inspect(crew_t *ex, crew_id_t id)
{
    crew_task_info_t ti;
    int rc = crew_inspect(ex, id, &ti);
    if (rc != 0)
        AT_DIE("crew_inspect(%llu): %s", (unsigned long long)id, crew_err_name(rc));
    return ti;
}

/* Wait, then join (the wait has the hang guard). */
static inline crew_status_t at_join(crew_t *ex, crew_id_t id)
{
    crew_status_t st;
    int rc;
    at_wait(ex, id);
    rc = crew_join(ex, id, &st);
    if (rc != 0)
        AT_DIE("crew_join(%llu): %s", (unsigned long long)id, crew_err_name(rc));
    return st;
}

static inline crew_actor_info_t at_info(crew_actor_t *a)
{
    crew_actor_info_t i;
    int rc = crew_actor_info(a, &i);
    if (rc != 0)
        AT_DIE("crew_actor_info: %s", crew_err_name(rc));
    return i;
}

/* Wait until the actor is finished (dead, drained, destructor returned). */
static inline void at_actor_wait(crew_actor_t *a)
{
    int rc = crew_actor_wait(a, (int64_t)(AT_HANG_S * 1e9));
    if (rc != 0)
        AT_DIE("crew_actor_wait: %s", crew_err_name(rc));
}

static inline int at_count_task(void *arg)
{
    /* relaxed: the test reads it after waiting for the task. */
    atomic_fetch_add_explicit((atomic_int *)arg, 1, memory_order_relaxed);
    return 0;
}

static inline void at_count_cleanup(void *arg)
{
    atomic_fetch_add_explicit((atomic_int *)arg, 1, memory_order_relaxed);
}

static inline int at_noop_task(void *arg)
{
    (void)arg;
    return 0;
}

/* A body that ends its actor gracefully. */
static inline int at_exit_task(void *arg)
{
    (void)arg;
    return crew_actor_exit();
}

/* A destructor that counts its calls in the atomic_int it is given. */
static inline void at_count_dtor(void *state)
{
    atomic_fetch_add_explicit((atomic_int *)state, 1, memory_order_relaxed);
}

#endif
