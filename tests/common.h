/*
 * common.h - helpers shared by crew's tests (Criterion suites and the plain
 * tsan_* executables).
 *
 * Rules the helpers exist to keep:
 * - No sleep as synchronization. A deterministic state is built with a gate:
 *   saturate() blocks every worker inside a task, so whatever is submitted
 *   from outside afterwards is certainly QUEUED until the gate opens.
 * - Nothing is asserted from a worker thread. Task bodies record what they
 *   saw in shared memory (atomics); the test thread asserts on it.
 * - Every wait has a deadline: a helper that times out prints where and
 *   aborts, so a deadlock fails instead of hanging.
 */
#ifndef CREW_TESTS_COMMON_H
#define CREW_TESTS_COMMON_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <time.h>

#include "crew.h"

/* Seconds a helper waits for a condition before declaring a hang. */
#ifndef T_HANG_S
#define T_HANG_S 20.0
#endif
#define T_HANG_NS ((int64_t)(T_HANG_S * 1e9))
/* Criterion per-test timeout (seconds); CMake raises it for sanitizers. */
#ifndef CREW_TEST_TIMEOUT
#define CREW_TEST_TIMEOUT 30
#endif

/* ---- time, sizes ------------------------------------------------------ */

int64_t t_now_ns(void);
int64_t t_cpu_ns(void); /* CLOCK_PROCESS_CPUTIME_ID */
/* n scaled by $CREW_TEST_SCALE (a positive real, default 1), at least lo. */
long t_scaled(long n, long lo);
double t_scale(void); /* the factor itself */

/* Plain executables: abort the process (exit 3, with a message) if it is
 * still running after `secs` seconds, so a deadlock fails fast. */
void t_watchdog(unsigned secs);

/* Print a message (file:line) and abort: for helper failures and for the
 * plain executables' CHECK. */
_Noreturn void t_die(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define T_DIE(...) t_die(__FILE__, __LINE__, __VA_ARGS__)

/* Plain-executable assertion: prints and exits non-zero. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_RC(expr, want)                                                                       \
    do {                                                                                           \
        int rc__ = (expr), want__ = (want);                                                        \
        CHECK(rc__ == want__, "%s -> %s, expected %s", #expr, crew_err_name(rc__),                 \
              crew_err_name(want__));                                                              \
    } while (0)

/* A CLOCK_MONOTONIC deadline `secs` from now, for timed condition waits
 * (condition variables made with t_cond_init). */
struct timespec t_deadline(double secs);
void t_cond_init(pthread_cond_t *cv);

/* Poll `cond` (yielding, then napping 50us) until true or `secs` passed.
 * Evaluates to the final value of cond. This is a deadline on a condition,
 * not a sleep standing in for synchronization. */
#define T_WAIT_UNTIL(cond, secs)                                                                   \
    __extension__({                                                                                \
        int64_t t__end = t_now_ns() + (int64_t)((secs)*1e9);                                       \
        unsigned t__i = 0;                                                                         \
        bool t__ok;                                                                                \
        while (!(t__ok = (cond)) && t_now_ns() < t__end)                                           \
            t_backoff(t__i++);                                                                     \
        t__ok;                                                                                     \
    })
void t_backoff(unsigned i);

/* ---- gates -------------------------------------------------------------- */

/* A one-shot gate tasks block on (mutex + condvar, no CPU burnt) and a count
 * of the tasks that reached it. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int arrived;
    bool open;
} gate_t;

void gate_init(gate_t *g);
void gate_destroy(gate_t *g);
/* Count oneself in, then block until the gate opens. */
void gate_pass(gate_t *g);
void gate_open(gate_t *g);
/* Wait until at least n tasks arrived; aborts after T_HANG_S. */
void gate_await_arrivals(gate_t *g, int n);
int gate_arrived(gate_t *g);

/* A task body: gate_pass(arg) and return 0. */
int gate_task(void *arg);

/* Submit crew_workers(ex) detached gate_task()s and wait until every one of
 * them is running: every worker is then blocked, so anything submitted from
 * outside stays QUEUED until gate_open(g). */
void saturate(crew_t *ex, gate_t *g);

/* A spin flag for tasks that must keep polling crew_cancelled() while they
 * wait: `flag` is set by the test thread (release) and read by the task
 * (acquire). */
static inline void flag_set(atomic_int *f) { atomic_store_explicit(f, 1, memory_order_release); }
static inline bool flag_get(atomic_int *f)
{
    return atomic_load_explicit(f, memory_order_acquire) != 0;
}
void flag_await(atomic_int *f); /* aborts after T_HANG_S */

/* ---- executors ----------------------------------------------------------- */

crew_t *t_create(unsigned workers); /* aborts on failure */
/* Executors made by t_create() and not yet destroyed by DESTROY_CLEAN. */
extern int t_open_executors;
crew_stats_t t_stats(crew_t *ex);
/* Wait (bounded) until the executor holds no live task, no record and no
 * cancelled ID; returns the last snapshot, whatever it says. */
crew_stats_t t_settle(crew_t *ex);
/* Block the calling thread until id is terminal; aborts after T_HANG_S. */
crew_status_t t_wait(crew_t *ex, crew_id_t id);
/* crew_join with a hang guard: waits (bounded) first, then joins. */
crew_status_t t_join(crew_t *ex, crew_id_t id);
crew_task_info_t t_inspect(crew_t *ex, crew_id_t id);

/* The standard teardown: wait (bounded) until ex holds no live task, record
 * or cancelled ID; crew_shutdown(mode); check that no cancel scope is left
 * (crew__debug_cancel_scopes: 0, or 1 after a CREW_CANCEL shutdown, whose
 * executor-wide scope lives until crew_destroy); crew_destroy; and once the
 * last executor made by t_create() is gone, check that crew freed every
 * byte. Returns NULL if all held, else what did not (a static buffer).
 * Criterion tests use DESTROY_CLEAN (crit.h), plain executables
 * T_DESTROY_CLEAN. */
const char *t_destroy_clean(crew_t **exp, crew_shutdown_mode_t mode);
#define T_DESTROY_CLEAN(exp, mode)                                                                 \
    do {                                                                                           \
        const char *e__ = t_destroy_clean((exp), (mode));                                          \
        CHECK(e__ == NULL, "%s", e__);                                                             \
    } while (0)
/* Live cancellation scopes of ex (crew__debug_cancel_scopes, fault.h). */
uint32_t t_cancel_scopes(crew_t *ex);

/* Bytes crew still has allocated (fault-injection builds), or 0 when the
 * library was built without the hook. */
int64_t t_live_bytes(void);

/* A body that returns 0 / returns (int)(intptr_t)arg / counts itself in the
 * atomic_int pointed to by arg. */
int noop_task(void *arg);
int ret_task(void *arg);
int count_task(void *arg);
/* Cleanup (or actor destructor) that increments the atomic_int arg points
 * to. */
void count_cleanup(void *arg);

/* ---- groups ------------------------------------------------------------------ */

/* crew_group_create / crew_group_info; abort on failure. */
crew_group_t *t_group(crew_t *ex, crew_group_t *parent, unsigned flags);
crew_group_info_t t_ginfo(crew_group_t *g);
/* crew_submit_ex() of fn(arg) into group g (NULL: none); returns its
 * result. */
int t_submit_to(crew_t *ex, crew_group_t *g, crew_fn fn, void *arg, crew_id_t *id);

/* ---- actors ------------------------------------------------------------------ */

crew_actor_info_t t_actor_info(crew_actor_t *a); /* aborts on failure */
/* crew_actor_wait with a hang guard: aborts after T_HANG_S. */
void t_actor_wait(crew_actor_t *a);
/* An actor task body that ends its actor gracefully (crew_actor_exit). */
int actor_exit_task(void *arg);

/* ---- threads ------------------------------------------------------------------ */

/* The calling thread's kernel ID. */
pid_t t_gettid(void);
/* True if thread `tid` of this process is asleep in the kernel (state S
 * in /proc/self/task/TID/stat): for a thread whose only blocking call is a
 * futex wait, "it is parked". */
bool t_thread_sleeping(pid_t tid);

/* ---- probes: running tasks that report what crew_cancelled() said ---------- */

/* A probe body: marks itself started, then polls crew_cancelled() until
 * `release` is set (or, with until_cancelled, until a check reports true),
 * then makes a final burst of checks and returns `ret`. Every check made
 * after the test set `cancel_returned` (it does so right after crew_cancel
 * returned) must be true; `misses` counts those that were not. */
typedef struct probe {
    atomic_int started;
    atomic_int release;
    atomic_int cancel_returned;
    atomic_int saw_cancel;   /* some check returned true */
    atomic_int checks_after; /* checks made after cancel_returned was set */
    atomic_int misses;       /* ... that returned false */
    atomic_int timed_out;    /* gave up waiting (test bug or library hang) */
    atomic_int finished;
    _Atomic crew_id_t self;
    bool until_cancelled;
    int ret;
} probe_t;

void probe_init(probe_t *p, bool until_cancelled, int ret);
int probe_task(void *arg);

#endif
