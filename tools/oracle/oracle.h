/*
 * oracle.h - the outcome oracle shared by crew-stress (tools/stress) and
 * the fuzz target (tools/fuzz): what must hold of every task, whatever the
 * harness did to it.
 *
 * A harness keeps one oracle_task_t per task it creates (in a table
 * allocated up front, so bodies and cleanups can reach it through their
 * argument) and reports to it what it saw: the submission's result, body
 * starts and returns, cleanups, cancel outcomes, every terminal status an
 * observer saw. Checked as they happen:
 *   - every observer (wait, join, inspect, cancel_wait) sees the same
 *     terminal status, and only a terminal one;
 *   - a body starts at most once, never if it was born cancelled, and runs
 *     on a worker of its executor;
 *   - a cleanup runs at most once, and after the body returned;
 *   - CREW_REMOVED is answered only after the cleanup ran;
 *   - crew_inspect agrees with what is known (ID, parent, group, status,
 *     result, cause; REQUESTED means RUNNING or CANCELLED).
 * Checked at the end of a round (oracle_check_task, oracle_check_counts,
 * oracle_check_group, oracle_check_rest), once the executor is shut down
 * and every handle released:
 *   - one terminal state per accepted task, cleanup exactly once, nothing
 *     of a refused submission ran;
 *   - nothing ran after REMOVED; REQUESTED implies the body ran and the
 *     task ended CANCELLED; a body that saw its cancel ends CANCELLED;
 *     DONE means the body returned 0, FAILED non-zero;
 *   - every joinable handle was released and its status observed (unless
 *     released unobserved on purpose);
 *   - crew_stats and crew_group_info reconcile with the records: exactly
 *     where every status is known, bounded by the unobserved ones
 *     otherwise; group flags agree with cancels, fail-fast and the wait;
 *   - at rest: no live task, record or cancelled ID, no cancel scope left
 *     (but the executor's own after a CREW_CANCEL shutdown) once a deadline
 *     firing at that moment is done, and no byte left after crew_destroy.
 *
 * Violations go to the handler set with oracle_set_report() (default:
 * print and abort).
 */
#ifndef CREW_ORACLE_H
#define CREW_ORACLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "crew.h"

enum oracle_submit {
    ORACLE_SUB_NONE,   /* created, submission not done yet */
    ORACLE_SUB_OK,     /* accepted */
    ORACLE_SUB_REFUSED /* refused (or never attempted): must never run */
};

/* Bits of oracle_task_t.outcomes: what cancels of the task answered. */
enum oracle_outcome { ORACLE_REMOVED = 1, ORACLE_REQUESTED = 2, ORACLE_TOO_LATE = 4 };

/* One task. The plain fields are set before the submission; the atomics
 * are written by bodies, cleanups and observers on any thread. */
typedef struct oracle_task {
    uint64_t no; /* the harness's number for it, for messages */
    bool joinable, has_cleanup;
    bool born_cancelled;      /* its spawner or group was cancelled before the
                            submission: it must never run */
    _Atomic uint64_t id;      /* its handle (joinable), 0 until submitted */
    _Atomic uint64_t self_id; /* crew_self() seen by the body */
    _Atomic int submit;       /* enum oracle_submit */
    _Atomic uint32_t starts, cleanups;
    _Atomic int ret;
    _Atomic bool returned, saw_cancel, seen_running;
    _Atomic bool released;      /* the handle was given up */
    _Atomic bool unobserved_ok; /* released while live on purpose */
    _Atomic uint32_t outcomes;  /* enum oracle_outcome bits */
    _Atomic int final;          /* terminal status observed, -1: none yet */
} oracle_task_t;

/* Violation handler: gets one message per violation. */
typedef void (*oracle_report_fn)(const char *msg);
void oracle_set_report(oracle_report_fn fn);
void oracle_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reset t for a new task. */
void oracle_task_init(oracle_task_t *t, uint64_t no, bool joinable, bool has_cleanup);

/* ---- as it happens --------------------------------------------------------- */

/* The body of t starts on a worker of ex (which has `workers` workers). */
void oracle_body_start(oracle_task_t *t, crew_t *ex, unsigned workers);
/* crew_cancelled() from t's body; remembers a true answer. */
bool oracle_cancelled(oracle_task_t *t);
/* The body returns ret (checks crew_cancelled() a last time first). */
void oracle_body_end(oracle_task_t *t, int ret);
/* t's cleanup runs. */
void oracle_cleanup(oracle_task_t *t);
/* An observer (`how`) saw status st. */
void oracle_observe(oracle_task_t *t, crew_status_t st, const char *how);
/* A cancel of t answered rc (an outcome; other values are ignored). */
void oracle_cancel_outcome(oracle_task_t *t, int rc);
/* crew_inspect(id) of t gave *info. parent and group: the IDs it must
 * show. known: the terminal status the caller already knew before the
 * call (or -1); requested: a cancel had answered REQUESTED before it. */
void oracle_inspect(oracle_task_t *t, crew_id_t id, const crew_task_info_t *info, crew_id_t parent,
                    crew_id_t group, int known, bool requested);

/* ---- at the end of a round ---------------------------------------------------- */

void oracle_check_task(const oracle_task_t *t);

/* What the records say, for the executor or one group. */
typedef struct oracle_tally {
    uint64_t accepted, never_started;
    uint64_t done, failed, cancelled, cancelled_running; /* observed */
    uint64_t unobs_ret0, unobs_retnz;                    /* started, status not observed */
} oracle_tally_t;

/* Count t (ignored unless accepted). */
void oracle_tally_add(oracle_tally_t *tl, const oracle_task_t *t);
/* Counters of the executor (who: "crew_stats") or a group agree with the
 * tally: exactly where every status is known, within the unobserved
 * otherwise. */
void oracle_check_counts(const char *who, const oracle_tally_t *tl, uint64_t submitted,
                         uint64_t done, uint64_t failed, uint64_t cancelled, uint64_t removed,
                         uint64_t cancelled_running);
/* A quiescent group (no live member): info taken after a wait that
 * answered wait_status; cancelled: a crew_group_cancel of it (or of an
 * enclosing group) had returned; flags: its creation flags. */
void oracle_check_group(const char *who, const crew_group_info_t *info, crew_status_t wait_status,
                        bool cancelled, unsigned flags);
/* The executor at rest after crew_shutdown, every handle released and
 * every group destroyed: nothing live, no record, no cancelled ID, and no
 * cancel scope but the executor's own after a CREW_CANCEL shutdown. st: a
 * snapshot; re-read (10 s at most) while a deadline the timer thread is
 * firing holds a destroyed group or a batch's block. */
void oracle_check_rest(crew_t *ex, const crew_stats_t *st, bool cancel_shutdown);
/* After the last crew_destroy: crew freed every byte. */
void oracle_check_freed(void);

#endif
