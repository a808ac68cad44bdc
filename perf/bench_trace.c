/*
 * bench_trace.c - what the trace costs (crew only).
 *
 * trace_off / trace_on: a binary tree of tasks of depth param, each inner
 * task spawning two children with crew_spawn and joining them; the same
 * run with the trace off (the default: one load and a branch per hook)
 * and on (crew_trace_start with 65536-event rings per worker, which wrap:
 * the steady-state cost). Each task records at least three events when on
 * (spawn, start, finish; steals and parks come on top), so
 * (ns_per_task(on) - ns_per_task(off)) / 3 bounds the cost of one event
 * from above. answer: tasks created (crew_stats delta), checked against
 * 2^(param+1) - 1.
 */
#include <stdint.h>

#include "peers.h"

static int tree_task(void *p)
{
    long d = (long)(intptr_t)p;
    crew_id_t a, b;
    int rc;
    if (d <= 0)
        return 0;
    if ((rc = crew_spawn(tree_task, (void *)(intptr_t)(d - 1), &a)) != 0 ||
        (rc = crew_spawn(tree_task, (void *)(intptr_t)(d - 1), &b)) != 0)
        return perf_fail("crew_spawn: %s", crew_err_name(rc));
    if (perf_crew_join_done(crew_current(), a, "child") != 0 ||
        perf_crew_join_done(crew_current(), b, "child") != 0)
        return -1;
    return 0;
}

static int tree_expect(long depth, uint64_t *answer, uint64_t *tasks)
{
    if (depth < 0 || depth > 40)
        return -1;
    *answer = *tasks = ((uint64_t)1 << (depth + 1)) - 1;
    return 0;
}

static int tree_run(crew_t *ex, long depth, perf_out_t *out, bool trace)
{
    crew_stats_t s0 = CREW_STATS_INIT, s1 = CREW_STATS_INIT;
    crew_id_t id;
    double t0;
    int rc;
    crew_stats(ex, &s0);
    if (trace && (rc = crew_trace_start(ex, 0)) != 0)
        return perf_fail("crew_trace_start: %s", crew_err_name(rc));
    t0 = perf_now();
    if ((rc = crew_submit(ex, tree_task, (void *)(intptr_t)depth, &id)) != 0)
        return perf_fail("crew_submit: %s", crew_err_name(rc));
    if (perf_crew_join_done(ex, id, "root") != 0)
        return -1;
    out->seconds = perf_now() - t0;
    if (trace && (rc = crew_trace_stop(ex)) != 0)
        return perf_fail("crew_trace_stop: %s", crew_err_name(rc));
    crew_stats(ex, &s1);
    out->answer = s1.submitted - s0.submitted;
    return 0;
}

static int tree_off(void *ex, long depth, perf_out_t *out)
{
    return tree_run(ex, depth, out, false);
}
static int tree_on(void *ex, long depth, perf_out_t *out) { return tree_run(ex, depth, out, true); }

const perf_bench_t perf_bench_trace_off = {
    .name = "trace_off",
    .what = "spawn/join tree of depth n, trace off (the hooks' branch only)",
    .param = {16, 20},
    .warm = {12, 16},
    .expect = tree_expect,
    .flags = PERF_F_RATE,
    .impl = {[IMPL_CREW] = {tree_off, perf_crew_setup, perf_crew_teardown, NULL}},
};

const perf_bench_t perf_bench_trace_on = {
    .name = "trace_on",
    .what = "the same with crew_trace_start on (>= 3 events per task)",
    .param = {16, 20},
    .warm = {12, 16},
    .expect = tree_expect,
    .flags = PERF_F_RATE,
    .impl = {[IMPL_CREW] = {tree_on, perf_crew_setup, perf_crew_teardown, NULL}},
};
