/* oracle.c - see oracle.h. */
#include "oracle.h"

#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"

static void report_abort(const char *msg)
{
    fprintf(stderr, "oracle: %s\n", msg);
    abort();
}

static _Atomic(oracle_report_fn) report = report_abort;

void oracle_set_report(oracle_report_fn fn) { atomic_store(&report, fn ? fn : report_abort); }

void oracle_fail(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    atomic_load (&report)(msg);
}

static const char *status_str(int st)
{
    return st < 0 ? "(none)" : crew_status_name((crew_status_t)st);
}

void oracle_task_init(oracle_task_t *t, uint64_t no, bool joinable, bool has_cleanup)
{
    memset(t, 0, sizeof *t);
    t->no = no;
    t->joinable = joinable;
    t->has_cleanup = has_cleanup;
    atomic_init(&t->final, -1);
}

/* ---- as it happens --------------------------------------------------------- */

void oracle_body_start(oracle_task_t *t, crew_t *ex, unsigned workers)
{
    int w = crew_worker_index();
    if (atomic_fetch_add(&t->starts, 1) != 0)
        oracle_fail("task %" PRIu64 ": body started twice", t->no);
    atomic_store(&t->self_id, crew_self());
    if (t->born_cancelled)
        oracle_fail("task %" PRIu64 ": born cancelled (its spawner or group "
                    "was cancelled before the submission), yet it ran",
                    t->no);
    if (crew_current() != ex || crew_self() == 0 || w < 0 || (unsigned)w >= workers)
        oracle_fail("task %" PRIu64 ": crew_current/crew_self/"
                    "crew_worker_index wrong (worker %d)",
                    t->no, w);
}

bool oracle_cancelled(oracle_task_t *t)
{
    bool c = crew_cancelled();
    if (c)
        atomic_store(&t->saw_cancel, true);
    return c;
}

void oracle_body_end(oracle_task_t *t, int ret)
{
    (void)oracle_cancelled(t);
    atomic_store(&t->ret, ret);
    atomic_store(&t->returned, true);
}

void oracle_cleanup(oracle_task_t *t)
{
    if (atomic_fetch_add(&t->cleanups, 1) != 0)
        oracle_fail("task %" PRIu64 ": cleanup ran twice", t->no);
    if (atomic_load(&t->starts) && !atomic_load(&t->returned))
        oracle_fail("task %" PRIu64 ": cleanup ran before the body returned", t->no);
}

void oracle_observe(oracle_task_t *t, crew_status_t st, const char *how)
{
    int exp = -1;
    if (st != CREW_TASK_DONE && st != CREW_TASK_FAILED && st != CREW_TASK_CANCELLED) {
        oracle_fail("task %" PRIu64 ": %s reported non-terminal status %d", t->no, how, (int)st);
        return;
    }
    if (!atomic_compare_exchange_strong(&t->final, &exp, (int)st) && exp != (int)st)
        oracle_fail("task %" PRIu64 ": %s saw %s, an earlier observer saw %s", t->no, how,
                    status_str((int)st), status_str(exp));
}

void oracle_cancel_outcome(oracle_task_t *t, int rc)
{
    switch (rc) {
    case CREW_REMOVED:
        atomic_fetch_or(&t->outcomes, ORACLE_REMOVED);
        if (t->has_cleanup && atomic_load(&t->cleanups) != 1)
            oracle_fail("task %" PRIu64 ": REMOVED returned before its "
                        "cleanup ran",
                        t->no);
        break;
    case CREW_REQUESTED:
        atomic_fetch_or(&t->outcomes, ORACLE_REQUESTED);
        break;
    case CREW_TOO_LATE:
        atomic_fetch_or(&t->outcomes, ORACLE_TOO_LATE);
        break;
    default:
        break;
    }
}

void oracle_inspect(oracle_task_t *t, crew_id_t id, const crew_task_info_t *info, crew_id_t parent,
                    crew_id_t group, int known, bool requested)
{
    crew_status_t st = info->status;
    if (info->id != id)
        oracle_fail("task %" PRIu64 ": inspect of %" PRIu64 " says id %" PRIu64, t->no, id,
                    info->id);
    if (info->parent != parent)
        oracle_fail("task %" PRIu64 ": inspect parent %" PRIu64 ", expected %" PRIu64, t->no,
                    info->parent, parent);
    if (info->group != group)
        oracle_fail("task %" PRIu64 ": inspect group %" PRIu64 ", expected %" PRIu64, t->no,
                    info->group, group);
    if (known >= 0 && (int)st != known)
        oracle_fail("task %" PRIu64 ": inspect says %s, known %s", t->no, status_str((int)st),
                    status_str(known));
    if (st >= CREW_TASK_DONE) {
        oracle_observe(t, st, "crew_inspect");
        if (st == CREW_TASK_CANCELLED && info->cause == CREW_CAUSE_NONE)
            oracle_fail("task %" PRIu64 ": CANCELLED with cause NONE", t->no);
        if ((st == CREW_TASK_DONE || st == CREW_TASK_FAILED) &&
            info->result != atomic_load(&t->ret))
            oracle_fail("task %" PRIu64 ": inspect result %d, body returned "
                        "%d",
                        t->no, info->result, atomic_load(&t->ret));
    } else if (st == CREW_TASK_RUNNING) {
        atomic_store(&t->seen_running, true);
    }
    if (requested && st != CREW_TASK_RUNNING && st != CREW_TASK_CANCELLED)
        oracle_fail("task %" PRIu64 ": a cancel said REQUESTED, inspect says "
                    "%s (cancel_requested %d, cause %d; body started %u, "
                    "returned %d)",
                    t->no, status_str((int)st), (int)info->cancel_requested, (int)info->cause,
                    atomic_load(&t->starts), (int)atomic_load(&t->returned));
}

/* ---- at the end of a round ---------------------------------------------------- */

void oracle_check_task(const oracle_task_t *t)
{
    int sub = atomic_load(&t->submit), fin = atomic_load(&t->final);
    uint32_t starts = atomic_load(&t->starts), cl = atomic_load(&t->cleanups);
    uint32_t out = atomic_load(&t->outcomes);
    bool started = starts != 0;
    int ret = atomic_load(&t->ret);
    uint64_t no = t->no;

    if (sub == ORACLE_SUB_NONE) {
        oracle_fail("task %" PRIu64 ": created but never submitted", no);
        return;
    }
    if (sub == ORACLE_SUB_REFUSED) {
        if (starts || cl)
            oracle_fail("task %" PRIu64 ": submission refused, yet it ran or "
                        "its cleanup ran",
                        no);
        return;
    }
    if (cl != (t->has_cleanup ? 1u : 0u))
        oracle_fail("task %" PRIu64 ": cleanup ran %u times", no, cl);
    if (started && !atomic_load(&t->returned))
        oracle_fail("task %" PRIu64 ": body started but never returned", no);
    if ((out & ORACLE_REMOVED) && started)
        oracle_fail("task %" PRIu64 ": cancel said REMOVED, yet the body ran", no);
    if ((out & ORACLE_REQUESTED) && !started)
        oracle_fail("task %" PRIu64 ": cancel said REQUESTED, body never ran", no);
    if ((out & (ORACLE_REMOVED | ORACLE_REQUESTED)) && fin >= 0 && fin != CREW_TASK_CANCELLED)
        oracle_fail("task %" PRIu64 ": cancel said %s, final status %s", no,
                    out & ORACLE_REMOVED ? "REMOVED" : "REQUESTED", status_str(fin));
    if (atomic_load(&t->saw_cancel) && fin >= 0 && fin != CREW_TASK_CANCELLED)
        oracle_fail("task %" PRIu64 ": body saw crew_cancelled(), final %s", no, status_str(fin));
    if (atomic_load(&t->seen_running) && !started)
        oracle_fail("task %" PRIu64 ": inspected RUNNING, body never ran", no);
    if (started && t->joinable && atomic_load(&t->id) &&
        atomic_load(&t->self_id) != atomic_load(&t->id))
        oracle_fail("task %" PRIu64 ": crew_self() %" PRIu64 " != handle %" PRIu64, no,
                    atomic_load(&t->self_id), atomic_load(&t->id));
    if (fin == CREW_TASK_DONE && !(started && ret == 0))
        oracle_fail("task %" PRIu64 ": DONE but body %s", no,
                    started ? "returned non-zero" : "never ran");
    if (fin == CREW_TASK_FAILED && !(started && ret != 0))
        oracle_fail("task %" PRIu64 ": FAILED but body %s", no,
                    started ? "returned 0" : "never ran");
    if (fin < 0 && t->joinable && !atomic_load(&t->unobserved_ok))
        oracle_fail("task %" PRIu64 ": joinable, terminal status never seen", no);
    if (t->joinable && !atomic_load(&t->released))
        oracle_fail("task %" PRIu64 ": handle never released", no);
}

void oracle_tally_add(oracle_tally_t *tl, const oracle_task_t *t)
{
    int fin = atomic_load(&t->final);
    bool started = atomic_load(&t->starts) != 0;
    if (atomic_load(&t->submit) != ORACLE_SUB_OK)
        return;
    tl->accepted++;
    if (!started)
        tl->never_started++;
    switch (fin) {
    case CREW_TASK_DONE:
        tl->done++;
        break;
    case CREW_TASK_FAILED:
        tl->failed++;
        break;
    case CREW_TASK_CANCELLED:
        tl->cancelled++;
        tl->cancelled_running += started;
        break;
    default:
        if (started) {
            if (atomic_load(&t->ret) == 0)
                tl->unobs_ret0++;
            else
                tl->unobs_retnz++;
        }
        break;
    }
}

void oracle_check_counts(const char *who, const oracle_tally_t *tl, uint64_t submitted,
                         uint64_t done, uint64_t failed, uint64_t cancelled, uint64_t removed,
                         uint64_t cancelled_running)
{
    uint64_t unobs = tl->unobs_ret0 + tl->unobs_retnz;
    if (submitted != tl->accepted)
        oracle_fail("%s: submitted %" PRIu64 ", tasks accepted %" PRIu64, who, submitted,
                    tl->accepted);
    if (done + failed + cancelled != submitted)
        oracle_fail("%s: done+failed+cancelled %" PRIu64 " != submitted %" PRIu64, who,
                    done + failed + cancelled, submitted);
    if (removed != tl->never_started)
        oracle_fail("%s: removed %" PRIu64 ", bodies never started %" PRIu64, who, removed,
                    tl->never_started);
    if (cancelled != removed + cancelled_running)
        oracle_fail("%s: cancelled %" PRIu64 " != removed %" PRIu64 " + cancelled_running %" PRIu64,
                    who, cancelled, removed, cancelled_running);
    if (done < tl->done || done > tl->done + tl->unobs_ret0)
        oracle_fail("%s: done %" PRIu64 ", records say %" PRIu64 "..%" PRIu64, who, done, tl->done,
                    tl->done + tl->unobs_ret0);
    if (failed < tl->failed || failed > tl->failed + tl->unobs_retnz)
        oracle_fail("%s: failed %" PRIu64 ", records say %" PRIu64 "..%" PRIu64, who, failed,
                    tl->failed, tl->failed + tl->unobs_retnz);
    if (cancelled_running < tl->cancelled_running ||
        cancelled_running > tl->cancelled_running + unobs)
        oracle_fail("%s: cancelled_running %" PRIu64 ", records say %" PRIu64 "..%" PRIu64, who,
                    cancelled_running, tl->cancelled_running, tl->cancelled_running + unobs);
}

void oracle_check_group(const char *who, const crew_group_info_t *in, crew_status_t wait_status,
                        bool cancelled, unsigned flags)
{
    if (in->live != 0)
        oracle_fail("%s: live %" PRIu64 " after an empty wait", who, in->live);
    if (wait_status < CREW_TASK_DONE || wait_status > CREW_TASK_CANCELLED)
        oracle_fail("%s: wait status %d", who, (int)wait_status);
    if (in->done + in->failed + in->cancelled != in->submitted)
        oracle_fail("%s: done %" PRIu64 " + failed %" PRIu64 " + cancelled %" PRIu64
                    " != submitted %" PRIu64,
                    who, in->done, in->failed, in->cancelled, in->submitted);
    if (in->cancelled != in->removed + in->cancelled_running)
        oracle_fail("%s: cancelled %" PRIu64 " != removed %" PRIu64 " + cancelled_running %" PRIu64,
                    who, in->cancelled, in->removed, in->cancelled_running);
    if (cancelled && !in->is_cancelled)
        oracle_fail("%s: cancelled, but info says not", who);
    if ((flags & CREW_GROUP_FAIL_FAST) && in->failed && !in->is_cancelled)
        oracle_fail("%s: fail-fast with %" PRIu64 " failures, not cancelled", who, in->failed);
    if (in->failed + in->cancelled > 0 && wait_status == CREW_TASK_DONE)
        oracle_fail("%s: wait said DONE with %" PRIu64 " failed, %" PRIu64 " cancelled members",
                    who, in->failed, in->cancelled);
    if (wait_status == CREW_TASK_FAILED && (in->failed == 0 || in->first_failure == 0))
        oracle_fail("%s: wait said FAILED, info has no failure", who);
}

void oracle_check_rest(crew_t *ex, const crew_stats_t *st_in, bool cancel_shutdown)
{
    uint32_t want = cancel_shutdown ? 1 : 0, scopes = crew__debug_cancel_scopes(ex);
    crew_stats_t s = *st_in, *st = &s;
    int64_t give_up = crew_now() + (int64_t)10 * 1000000000;
    /* A deadline the timer thread is firing at this moment may still hold
     * a destroyed group (its ID in the set, its scope) or a batch's block
     * (its scope) until that fire ends (crew_group_destroy(): the memory
     * goes with its last holder): wait for rest, 10 s at most. */
    while ((st->live_tasks || st->live_records || st->cancel_set_size || scopes != want) &&
           crew_now() < give_up) {
        sched_yield();
        if (crew_stats(ex, st) != 0)
            break;
        scopes = crew__debug_cancel_scopes(ex);
    }
    if (st->live_tasks || st->live_records || st->cancel_set_size)
        oracle_fail("at rest: live_tasks %" PRIu64 " live_records %" PRIu64
                    " cancel_set_size %" PRIu64,
                    st->live_tasks, st->live_records, st->cancel_set_size);
    if (scopes != want)
        oracle_fail("at rest after a %s shutdown: %u cancel scope(s) left, "
                    "expected %u",
                    cancel_shutdown ? "CANCEL" : "DRAIN", scopes, want);
}

void oracle_check_freed(void)
{
    if (crew__fault_live_bytes() != 0)
        oracle_fail("%" PRId64 " bytes still allocated after crew_destroy",
                    crew__fault_live_bytes());
}
