/* util.c - clocks, failure recording, the common crew setup. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "perf.h"

double perf_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

double perf_cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void perf_sleep(double s)
{
    struct timespec t;
    t.tv_sec = (time_t)s;
    t.tv_nsec = (long)((s - (double)t.tv_sec) * 1e9);
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

/* First failure of the current run: 0 free, 1 being written, 2 written. */
static atomic_int fail_state;
static char fail_msg[200];

int perf_fail(const char *fmt, ...)
{
    int expected = 0;
    if (atomic_compare_exchange_strong(&fail_state, &expected, 1)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(fail_msg, sizeof fail_msg, fmt, ap);
        va_end(ap);
        atomic_store(&fail_state, 2);
    }
    return -1;
}

void perf_fail_reset(void)
{
    atomic_store(&fail_state, 0);
    fail_msg[0] = '\0';
}

bool perf_fail_get(char *msg, size_t size)
{
    int st = atomic_load(&fail_state);
    if (st == 0)
        return false;
    while (st == 1) /* another thread is writing the message */
        st = atomic_load(&fail_state);
    snprintf(msg, size, "%s", fail_msg);
    return true;
}

void *perf_crew_setup(unsigned workers)
{
    crew_options_t o = {.size = sizeof o, .workers = workers, .flags = 0, .spin = 0};
    crew_t *ex = NULL;
    int rc = crew_create(&ex, &o);
    if (rc != 0) {
        perf_fail("crew_create(%u workers): %s", workers, crew_err_name(rc));
        return NULL;
    }
    /* $CREW_PERF_TRACE=FILE: trace the run (tools/crew-trace FILE draws it);
     * each repetition's process writes it at teardown, the last one stays. */
    if (getenv("CREW_PERF_TRACE"))
        crew_trace_start(ex, (size_t)1 << 20);
    return ex;
}

void perf_crew_teardown(void *state)
{
    crew_t *ex = state;
    const char *trace = getenv("CREW_PERF_TRACE");
    FILE *f;
    if (trace && (f = fopen(trace, "w")) != NULL) {
        crew_trace_stop(ex);
        crew_trace_write(ex, f);
        fclose(f);
    }
    int rc = crew_destroy(&ex);
    if (rc != 0)
        perf_fail("crew_destroy: %s", crew_err_name(rc));
}

int perf_crew_join_done(crew_t *ex, crew_id_t id, const char *what)
{
    crew_status_t st = CREW_TASK_QUEUED;
    int rc = crew_join(ex, id, &st);
    if (rc != 0)
        return perf_fail("%s: crew_join: %s", what, crew_err_name(rc));
    if (st != CREW_TASK_DONE)
        return perf_fail("%s: task ended %s, not DONE", what, crew_status_name(st));
    return 0;
}
