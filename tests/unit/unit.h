/*
 * unit.h - helpers for the unit tier: plain executables that test one data
 * structure of the lower layer (deque, park, inject) through its own header,
 * with no executor. Header-only, so each test is one .c file.
 *
 * Rules: every wait has a deadline (a hang fails, it does not block CTest);
 * sizes scale with $CREW_TEST_SCALE; nothing sleeps to synchronise.
 */
#ifndef CREW_UNIT_H
#define CREW_UNIT_H

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Scale when $CREW_TEST_SCALE is unset: 1, or less in sanitizer builds
 * (set by tests/unit/CMakeLists.txt). */
#ifndef UNIT_DEFAULT_SCALE
#define UNIT_DEFAULT_SCALE 1.0
#endif

#define UNIT_UNUSED __attribute__((unused))

/* Failure: print file:line and the message, exit 1. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static UNIT_UNUSED int64_t u_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static UNIT_UNUSED double u_secs_since(int64_t t0) { return (double)(u_now_ns() - t0) / 1e9; }

/* $CREW_TEST_SCALE (a positive real), else UNIT_DEFAULT_SCALE. */
static UNIT_UNUSED double u_scale(void)
{
    const char *s = getenv("CREW_TEST_SCALE");
    if (s && *s) {
        char *end;
        double v = strtod(s, &end);
        if (end != s && v > 0)
            return v;
    }
    return UNIT_DEFAULT_SCALE;
}

/* n scaled, at least lo. */
static UNIT_UNUSED long u_scaled(long n, long lo)
{
    double r = (double)n * u_scale();
    return r < (double)lo ? lo : (long)r;
}

static const char *u_watchdog_name = "unit";

static void u_watchdog_fired(int sig)
{
    static const char msg[] = ": watchdog: still running, assuming a hang\n";
    size_t n = 0;
    (void)sig;
    while (u_watchdog_name[n])
        n++;
    if (write(2, u_watchdog_name, n) < 0 || write(2, msg, sizeof msg - 1) < 0) {
    }
    _exit(3);
}

/* Hard time bound: exit 3 with a message after `secs` seconds. */
static UNIT_UNUSED void u_watchdog(const char *name, unsigned secs)
{
    u_watchdog_name = name;
    signal(SIGALRM, u_watchdog_fired);
    alarm(secs);
}

/* xorshift64*: cheap per-thread pseudo-random numbers. */
static UNIT_UNUSED uint64_t u_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [lo, hi]. */
static UNIT_UNUSED long u_range(uint64_t *s, long lo, long hi)
{
    return lo + (long)(u_rand(s) % (uint64_t)(hi - lo + 1));
}

/* Seed from $CREW_TEST_SEED, else the clock; printed by the tests so a
 * failing run can be repeated (as far as thread timing allows). */
static UNIT_UNUSED uint64_t u_seed(void)
{
    const char *s = getenv("CREW_TEST_SEED");
    if (s && *s)
        return strtoull(s, NULL, 0) | 1;
    return (uint64_t)u_now_ns() | 1;
}

#endif
