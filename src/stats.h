/*
 * stats.h - what the executor counts, in two kinds kept apart:
 *
 *  - the ledger (crew__ledger_t): created, finished (done + failed +
 *    cancelled) and dequeued. Shutdown's quiescence is computed from it
 *    (stats.c), so it is part of correctness: every created task is
 *    counted before it is published, every finish after the record's last
 *    use, every queue slot when it is consumed.
 *  - statistics (crew__counters_t): removed, cancelled while running, late
 *    cancels, steals, steal attempts, parks, idle time, the cancel-latency
 *    histograms. Nothing depends on them but crew_stats(),
 *    crew_worker_stats() and crew_metrics_write() (observe.c).
 *
 * Each worker has its own set of both (single writer: relaxed load +
 * store, no RMW on the hot path); threads outside the executor use the
 * shared sets with fetch_add. Readers sum them.
 */
#ifndef CREW_STATS_H
#define CREW_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "crew.h"
#include "cset.h"
#include "task.h"
#include "trace.h"

typedef struct crew__ledger {
    _Atomic uint64_t created, done, failed, cancelled,
        dequeued; /* queue slots consumed (each created task takes one) */
} crew__ledger_t;

typedef struct crew__counters {
    _Atomic uint64_t removed, cancelled_running, late_cancels, steals, parks;
    _Atomic uint64_t steal_attempts; /* victims probed */
    _Atomic uint64_t idle_ns;        /* finished idle periods (worker loop) */
    _Atomic uint64_t dl_disarmed;    /* task deadlines disarmed (timer.h) */
    _Atomic uint64_t unstacks;       /* moves off a shared CPU (worker.c) */
    /* Cancel latency (crew_stats_t): log2 buckets of nanoseconds from a
     * crew_cancel request to the body's first positive check / to its
     * terminal state, and their sums. */
    _Atomic uint64_t lat_check[CREW_LATENCY_BUCKETS], lat_term[CREW_LATENCY_BUCKETS];
    _Atomic uint64_t lat_check_ns, lat_term_ns;
} crew__counters_t;

/* Add n to field f of set `mine` (the calling worker's, single writer) or,
 * when mine is NULL, of `shared` (any thread). */
#define CREW__ADD(mine, shared, f, n)                                                              \
    do {                                                                                           \
        if (mine) /* relaxed: single writer; readers want a recent value */                        \
            atomic_store_explicit(&(mine)->f,                                                      \
                                  atomic_load_explicit(&(mine)->f, memory_order_relaxed) + (n),    \
                                  memory_order_relaxed);                                           \
        else /* relaxed: counts; quiescence reads use seq_cst fences */                            \
            atomic_fetch_add_explicit(&(shared)->f, (n), memory_order_relaxed);                    \
    } while (0)

struct crew;
struct crew__worker;

/* ---- seeing inside: trace, task times, cancel latency (observe.c reads) ---
 *
 * Event kinds of the trace (trace.h stores them as numbers; observe.c
 * names them in the export). a is a task ID (0: none), b as noted. */
enum {
    CREW__EV_SUBMIT = 1, /* from outside a task */
    CREW__EV_SPAWN,      /* from a task */
    CREW__EV_START,      /* body starts */
    CREW__EV_FINISH,     /* body returned; b: its return value */
    CREW__EV_STEAL,      /* b: the victim's worker index */
    CREW__EV_CANCEL,     /* a cancel request for a running task */
    CREW__EV_REMOVE,     /* removed before it ran */
    CREW__EV_CHECK,      /* the body's first positive crew_cancelled() */
    CREW__EV_PARK,       /* the worker goes to sleep */
    CREW__EV_UNPARK,     /* ... and wakes up */
    CREW__EV_KINDS
};

/* What is being recorded (crew__obs_t.on). */
enum { CREW__OBS_TRACE = 0x1u, CREW__OBS_TIMES = 0x2u };

/* Per record slot, on the side (the record has no room left): the times
 * of one incarnation (`id`), kept only for the events that happen while
 * their recorder is on. Every field is a relaxed atomic: writers are the
 * submitter (queued), the runner (started, finished, worker, checked), a
 * canceller (cancel_req), the watchdog (seen, reported); readers validate
 * `id`. A slot's entry is (re)claimed for a new incarnation by the first
 * writer that finds another ID there. 0 means "not recorded". */
typedef struct crew__tinfo {
    _Atomic uint64_t id;
    _Atomic int64_t queued, started, finished;
    _Atomic int64_t cancel_req; /* a crew_cancel request reached it running */
    _Atomic int64_t checked;    /* its body's first positive check */
    _Atomic int64_t seen;       /* the watchdog first saw it cancelled */
    _Atomic uint32_t worker;    /* runner's index + 1 */
    _Atomic uint32_t reported;  /* the watchdog reported it */
} crew__tinfo_t;

#define CREW__TINFO_CHUNK_LOG2 10
#define CREW__TINFO_CHUNKS     ((size_t)1 << (CREW_SLOT_BITS - CREW__TINFO_CHUNK_LOG2))

/* Summaries of the tasks reclaimed lately (crew_task_list's `recent`):
 * a ring of CREW__RECENT rows per thread kind, written by its thread (a
 * worker) or threads (outside), read by listings; mu guards the rows. */
#define CREW__RECENT 64
typedef struct crew__recent {
    pthread_mutex_t mu;
    uint64_t n;            /* rows ever written (under mu) */
    crew_task_row_t *rows; /* CREW__RECENT of them; NULL until timing */
} crew__recent_t;

/* A worker's share (in crew__worker_t). */
typedef struct crew__wobs {
    crew__trace_ring_t ring;    /* written only by this worker */
    uint64_t from;              /* first event of the current trace */
    _Atomic int64_t born;       /* the thread started (ns); 0: guest slot */
    _Atomic int64_t idle_since; /* 0 while not idle; the worker writes */
    crew__recent_t recent;      /* its reclaimed tasks */
} crew__wobs_t;

struct crew__watchdog;

/* The executor's share (in struct crew). */
typedef struct crew__obs {
    /* CREW__OBS_*: the hooks' one branch, on a line of its own (every
     * hook reads it; the mutexes below are written by listings). Written
     * under mu. */
    CREW_ALIGNED _Atomic uint32_t on;
    CREW_ALIGNED pthread_mutex_t mu; /* trace start/stop/write, watchdog */
    bool rings;                      /* rings allocated (under mu) */
    _Atomic bool recents;            /* recent rings allocated (once) */
    crew__recent_t recent_outside;   /* tasks reclaimed off the workers */
    crew__trace_ring_t outside;      /* events of threads outside the executor */
    uint64_t outside_from;
    crew__trace_clock_t clk0, clk1;          /* trace start / stop (or now) */
    _Atomic(_Atomic(crew__tinfo_t *) *) dir; /* CREW__TINFO_CHUNKS chunks */
    struct crew__watchdog *wd;               /* under mu */
    /* A reader record of the cancellation set for threads outside the
     * executor (observe.c), made on first use; one user at a time (rd_mu).
     * Freed after the set (crew__obs_fini): an epoch record must outlive
     * its registration. */
    pthread_mutex_t rd_mu;
    crew__cset_reader_t *rd;
} crew__obs_t;

int crew__obs_init(struct crew *ex);
/* After the cancellation set is destroyed (free_executor's end). */
void crew__obs_fini(struct crew *ex);

/* The trace/times hook: one relaxed load and a predictable branch when
 * nothing is recorded. relaxed: a hint; crew__obs_event re-reads it with
 * acquire before touching the rings. Arguments are evaluated only when on. */
#define CREW__OBS(ex, w, kind, id, b) CREW__OBS_SHOWN(ex, w, kind, id, b, (void)0)
/* The same, and then `shown` (a statement: the event named the ID). */
#define CREW__OBS_SHOWN(ex, w, kind, id, b, shown)                                                 \
    do {                                                                                           \
        if (CREW_UNLIKELY(atomic_load_explicit(&(ex)->obs.on, memory_order_relaxed))) {            \
            crew__obs_event((ex), (w), (kind), (id), (b));                                         \
            shown;                                                                                 \
        }                                                                                          \
    } while (0)
void crew__obs_event(struct crew *ex, struct crew__worker *w, uint32_t kind, uint64_t id,
                     uint32_t b);
/* A record's ID (the caller holds the record). */
static inline uint64_t crew__obs_id(crew__task_t *t)
{
    /* relaxed: the caller keeps the record (queue slot, pin or runner). */
    return atomic_load_explicit(&t->id, memory_order_relaxed);
}

/* The side entry of id's slot, claimed for id when create (NULL when
 * memory is short, or when !create and nothing was recorded for id). */
crew__tinfo_t *crew__obs_tinfo(struct crew *ex, uint64_t id, bool create);

/* Cancel-latency hooks (rare paths, always on): a crew_cancel request
 * reaches running task t (before its set entry exists); t's body saw a
 * cancellation (first time: stamped and counted); the task `id` that was
 * requested just reached its terminal state (its finisher, after the
 * terminal CAS: the record may be reused already, so only the side entry
 * is read, validated by id; a sample whose entry was reclaimed in that
 * instant is lost). */
void crew__obs_cancel_req(struct crew *ex, struct crew__worker *w, crew__task_t *t);
void crew__obs_checked(struct crew *ex, struct crew__worker *w, crew__task_t *t);
void crew__obs_ending(struct crew *ex, struct crew__worker *w, uint64_t id);
/* t (terminal, ours) is about to be recycled: its summary goes into the
 * calling thread's ring of recent tasks when timing is on. One relaxed
 * load and a branch otherwise (relaxed: as CREW__OBS). */
#define CREW__OBS_RECLAIM(ex, t)                                                                   \
    do {                                                                                           \
        if (CREW_UNLIKELY(atomic_load_explicit(&(ex)->obs.on, memory_order_relaxed) &              \
                          CREW__OBS_TIMES))                                                        \
            crew__obs_reclaimed((ex), (t));                                                        \
    } while (0)
void crew__obs_reclaimed(struct crew *ex, crew__task_t *t);
/* Allocate the recent rings (under obs.mu, before TIMES is set). 0 or
 * CREW_ENOMEM. */
int crew__obs_recent_init(struct crew *ex);
/* A snapshot of one ring (index: a worker slot, or nslots: outside) into
 * out[CREW__RECENT]; returns the rows copied. */
unsigned crew__obs_recent_copy(struct crew *ex, unsigned index, crew_task_row_t *out);
/* Fill row from record t, pinned or owned, word s (acquire-loaded). */
void crew__obs_row(struct crew *ex, crew__task_t *t, uint32_t s, crew_task_row_t *row);

/* The worker loop's idle periods (idle time, crew_worker_stats). */
void crew__obs_idle(struct crew__worker *w, bool begin);
/* A worker thread starts (its life for busy time). */
void crew__obs_born(struct crew__worker *w);
/* log2 bucket of a latency. */
static inline unsigned crew__lat_bucket(int64_t ns)
{
    unsigned b = ns <= 0 ? 0 : 64 - (unsigned)__builtin_clzll((uint64_t)ns);
    return b < CREW_LATENCY_BUCKETS ? b : CREW_LATENCY_BUCKETS - 1;
}

/* Sums over the shared set and every worker's. */
uint64_t crew__ledger_sum(struct crew *ex, size_t offset);
uint64_t crew__counters_sum(struct crew *ex, size_t offset);
#define CREW__LEDGER(ex, f) crew__ledger_sum((ex), offsetof(crew__ledger_t, f))
#define CREW__STAT(ex, f)   crew__counters_sum((ex), offsetof(crew__counters_t, f))

/* Tasks created and not yet terminal. Exact when nothing is created
 * concurrently except by live tasks. */
uint64_t crew__live_tasks(struct crew *ex);
/* Wait until quiescent (shutdown step 4); workers going idle and tasks
 * finished outside workers call crew__notify_quiesce(). */
void crew__wait_quiescent(struct crew *ex);
/* The same with a deadline (crew__now_ns; -1: none). false: timed out. */
bool crew__wait_quiescent_until(struct crew *ex, int64_t deadline);
void crew__notify_quiesce(struct crew *ex);
/* Fill the public statistics (every field but size). */
void crew__stats_fill(struct crew *ex, crew_stats_t *st);
void crew__worker_stats_fill(struct crew__worker *w, crew_worker_stats_t *ws);
/* A worker thread's idle and busy time so far (0, 0 for the guest slot). */
void crew__worker_times(struct crew__worker *w, uint64_t *idle_ns, uint64_t *busy_ns);

#endif
