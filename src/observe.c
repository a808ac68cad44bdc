/*
 * observe.c - seeing inside: per-worker statistics, OpenMetrics text, the
 * task list, the trace's export (Chrome trace-event JSON) and the cancel
 * watchdog. See observe.h; the hooks live in stats.h/stats.c.
 *
 * Reading records from outside their tasks: every record is pinned
 * (crew__rec_pin) before its fields are read, so it cannot be recycled
 * meanwhile, and a pinned record keeps its ancestors' records (harness.c's
 * parent/child protocol). Group memory is not kept alive by a pin (a
 * detached task's group may go right after the task's terminal CAS), so a
 * cancellation inherited from a group is seen here through the group's ID
 * in the cancellation set (group IDs enter it when cancelled), never by
 * reading the group: an outer group's cancellation that reaches a task
 * through a nested group is not seen by this path (crew_inspect() and the
 * task's own checks do see it).
 */
#include "observe.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "harness.h"

/* ---- statistics ----------------------------------------------------------- */

int crew_worker_stats(crew_t *ex, unsigned index, crew_worker_stats_t *ws)
{
    crew_worker_stats_t full;
    if (!crew__valid(ex) || !ws || !crew__size_ok(ws->size, sizeof full) || index > ex->nworkers)
        return CREW_EINVAL;
    memset(&full, 0, sizeof full);
    crew__worker_stats_fill(&ex->workers[index], &full);
    crew__copy_sized(ws, &full, sizeof full);
    return 0;
}

static void metric(FILE *o, const char *name, const char *type, const char *help, uint64_t v)
{
    fprintf(o, "# TYPE crew_%s %s\n# HELP crew_%s %s\ncrew_%s%s %" PRIu64 "\n", name, type, name,
            help, name, strcmp(type, "counter") == 0 ? "_total" : "", v);
}

static void histogram(FILE *o, const char *name, const char *help, const uint64_t *b, uint64_t sum)
{
    uint64_t cum = 0;
    fprintf(o, "# TYPE crew_%s histogram\n# UNIT crew_%s seconds\n# HELP crew_%s %s\n", name, name,
            name, help);
    for (unsigned i = 0; i + 1 < CREW_LATENCY_BUCKETS; i++) {
        cum += b[i];
        /* bucket i holds latencies below 2^i ns */
        fprintf(o, "crew_%s_bucket{le=\"%.9g\"} %" PRIu64 "\n", name, (double)(1ull << i) * 1e-9,
                cum);
    }
    cum += b[CREW_LATENCY_BUCKETS - 1];
    fprintf(
        o, "crew_%s_bucket{le=\"+Inf\"} %" PRIu64 "\ncrew_%s_count %" PRIu64 "\ncrew_%s_sum %.9f\n",
        name, cum, name, cum, name, (double)sum * 1e-9);
}

#define WORKER_METRIC(o, ex, name, type, help, field)                                              \
    do {                                                                                           \
        fprintf(o, "# TYPE crew_worker_%s %s\n# HELP crew_worker_%s %s\n", name, type, name,       \
                help);                                                                             \
        for (unsigned i_ = 0; i_ <= (ex)->nworkers; i_++) {                                        \
            crew_worker_stats_t ws_;                                                               \
            memset(&ws_, 0, sizeof ws_);                                                           \
            crew__worker_stats_fill(&(ex)->workers[i_], &ws_);                                     \
            fprintf(o, "crew_worker_%s%s{worker=\"%u\"} %" PRIu64 "\n", name,                      \
                    strcmp(type, "counter") == 0 ? "_total" : "", i_, (uint64_t)ws_.field);        \
        }                                                                                          \
    } while (0)

int crew_metrics_write(crew_t *ex, FILE *o)
{
    crew_stats_t st;
    if (!crew__valid(ex) || !o)
        return CREW_EINVAL;
    memset(&st, 0, sizeof st);
    crew__stats_fill(ex, &st);
    metric(o, "tasks_submitted", "counter", "Tasks created.", st.submitted);
    metric(o, "tasks_done", "counter", "Tasks that ended DONE.", st.done);
    metric(o, "tasks_failed", "counter", "Tasks that ended FAILED.", st.failed);
    metric(o, "tasks_cancelled", "counter", "Tasks that ended CANCELLED or ACTOR_DEAD.",
           st.cancelled);
    metric(o, "tasks_removed", "counter", "Tasks cancelled before they started.", st.removed);
    metric(o, "tasks_cancelled_running", "counter", "Tasks cancelled while running.",
           st.cancelled_running);
    metric(o, "cancels_late", "counter", "Cancel requests that lost to completion.",
           st.late_cancels);
    metric(o, "tasks_run", "counter", "Task bodies run.", st.tasks_run);
    metric(o, "steals", "counter", "Tasks taken from another worker.", st.steals);
    metric(o, "steal_attempts", "counter", "Other workers' queues probed.", st.steal_attempts);
    metric(o, "parks", "counter", "Times a worker went to sleep.", st.parks);
    metric(o, "unstacks", "counter", "Times a waking worker moved off a CPU another worker was on.",
           st.unstacks);
    metric(o, "idle_nanoseconds", "counter", "Worker time in the idle loop.", st.idle_ns);
    metric(o, "busy_nanoseconds", "counter", "Worker time alive and not idle.", st.busy_ns);
    metric(o, "tasks_live", "gauge", "Tasks not yet terminal.", st.live_tasks);
    metric(o, "records_live", "gauge", "Task records not yet reclaimed.", st.live_records);
    metric(o, "cancel_set_size", "gauge", "IDs in the cancellation set.", st.cancel_set_size);
    metric(o, "deadlines_pending", "gauge", "Task deadlines armed.", st.deadlines_pending);
    metric(o, "deadlines_fired", "counter", "Task deadlines that fired.", st.deadlines_fired);
    histogram(o, "cancel_to_check_seconds", "From a cancel request to the body's first check.",
              st.cancel_to_check, st.cancel_to_check_sum_ns);
    histogram(o, "cancel_to_terminal_seconds", "From a cancel request to the terminal state.",
              st.cancel_to_terminal, st.cancel_to_terminal_sum_ns);
    WORKER_METRIC(o, ex, "tasks_run", "counter", "Task bodies run by the worker.", tasks_run);
    WORKER_METRIC(o, ex, "steals", "counter", "Tasks the worker stole.", steals);
    WORKER_METRIC(o, ex, "steal_attempts", "counter", "Queues the worker probed.", steal_attempts);
    WORKER_METRIC(o, ex, "parks", "counter", "Times the worker slept.", parks);
    WORKER_METRIC(o, ex, "idle_nanoseconds", "counter", "Time in the idle loop.", idle_ns);
    WORKER_METRIC(o, ex, "busy_nanoseconds", "counter", "Time alive and not idle.", busy_ns);
    fputs("# EOF\n", o);
    return ferror(o) ? CREW_ENOMEM : 0;
}

int crew_timing(crew_t *ex, bool on)
{
    uint32_t v;
    if (!crew__valid(ex))
        return CREW_EINVAL;
    pthread_mutex_lock(&ex->obs.mu);
    if (on && crew__obs_recent_init(ex) != 0) {
        pthread_mutex_unlock(&ex->obs.mu);
        return CREW_ENOMEM;
    }
    /* relaxed: writers of `on` hold mu. */
    v = atomic_load_explicit(&ex->obs.on, memory_order_relaxed);
    v = on ? v | CREW__OBS_TIMES : v & ~(uint32_t)CREW__OBS_TIMES;
    /* release: pairs with crew__obs_event's acquire load. */
    atomic_store_explicit(&ex->obs.on, v, memory_order_release);
    pthread_mutex_unlock(&ex->obs.mu);
    return 0;
}

/* ---- reading a pinned record ------------------------------------------------ */

/* key in the cancellation set, looked up with the executor's outside
 * reader record (one user at a time). Out of memory: false. */
static bool in_set(struct crew *ex, crew_id_t key)
{
    bool r = false;
    if (!key)
        return false;
    pthread_mutex_lock(&ex->obs.rd_mu);
    if (!ex->obs.rd)
        ex->obs.rd = crew__cset_reader(&ex->cset);
    if (ex->obs.rd)
        r = crew__cset_contains(&ex->cset, ex->obs.rd, key);
    pthread_mutex_unlock(&ex->obs.rd_mu);
    return r;
}

/* Is pinned t (word s, read after the pin) cancelled, and why? Safe from
 * any thread (see the top of this file). */
static bool seen_cancelled(struct crew *ex, crew__task_t *t, uint32_t s, uint8_t *cause, int *code,
                           char *reason)
{
    crew__cause_t why;
    crew__task_t *a;
    reason[0] = '\0';
    *code = 0;
    if (crew__word_has_cause(s)) {
        /* The acquire load that saw REQ / REMOVING / CANCELLED makes the
         * cause fields readable (task.h). */
        *cause = t->cause;
        *code = t->cancel_code;
        memcpy(reason, t->reason, CREW_REASON_MAX);
        reason[CREW_REASON_MAX - 1] = '\0';
        return true;
    }
    if (crew__terminal(s) || !crew__any_scope(ex))
        return false;
    /* relaxed: the mode only grows; the scope count sent us here. */
    if (atomic_load_explicit(&ex->mode, memory_order_relaxed) == CREW__MODE_CANCEL) {
        *cause = CREW_CAUSE_SHUTDOWN;
        crew__copy_reason(reason, "shutdown");
        return true;
    }
    if (crew__batch_expired(t, s, &why)) /* a pin keeps the block */
        goto batch;
    if (in_set(ex, t->group_id)) {
        *cause = CREW_CAUSE_GROUP;
        return true;
    }
    for (a = t->parent; a; a = a->parent) {
        /* acquire (rec_load): pairs with the REQ / terminal CAS; we then
         * read the cause fields they guard. */
        uint32_t as = crew__rec_load(a);
        if (crew__word_req(as) || crew__status_of(as) == CREW_TASK_CANCELLED) {
            *cause = CREW_CAUSE_PARENT;
            *code = a->cancel_code;
            memcpy(reason, a->reason, CREW_REASON_MAX);
            reason[CREW_REASON_MAX - 1] = '\0';
            return true;
        }
        if (crew__terminal(as))
            continue;
        if (crew__batch_expired(a, as, &why))
            goto batch;
        if (in_set(ex, a->group_id)) {
            *cause = CREW_CAUSE_PARENT;
            return true;
        }
    }
    return false;
batch: /* a batch's deadline, the task's own or an ancestor's */
    *cause = why.cause;
    *code = why.code;
    crew__copy_reason(reason, why.reason);
    return true;
}

/* ---- the task list --------------------------------------------------------- */

struct list_ctx {
    struct crew *ex;
    crew_task_filter_t f;
    crew_task_visit_fn visit;
    void *ctx;
    int shown;
    bool stopped;
};

static bool row_matches(const crew_task_filter_t *f, const crew_task_row_t *r)
{
    return (f->states & (1u << r->status)) && (!f->group || r->group == f->group) &&
           (!f->parent || r->parent == f->parent) && (!f->actor || r->actor == f->actor) &&
           (!f->cancelled || r->cancelled);
}

/* Fill row from pinned t (word s). false: it does not match the filter. */
static bool make_row(struct list_ctx *l, crew__task_t *t, uint32_t s, crew_task_row_t *row)
{
    uint8_t cause = 0;
    if (!(l->f.states & (1u << crew__status_of(s))))
        return false;
    crew__obs_row(l->ex, t, s, row);
    if (!row->cancelled && seen_cancelled(l->ex, t, s, &cause, &row->cancel_code, row->reason)) {
        row->cancelled = true;
        row->cause = (crew_cancel_cause_t)cause;
    }
    return row_matches(&l->f, row);
}

static bool list_one(crew__task_t *t, void *ctx)
{
    struct list_ctx *l = ctx;
    crew_task_row_t row;
    uint32_t s = crew__rec_peek(t);
    bool match;
    if (crew__word_free(s) || !(l->f.states & (1u << crew__status_of(s))))
        return true; /* cheap pre-filter; decided again under the pin */
    if (!crew__rec_pin(t, true))
        return true;
    s = crew__rec_load(t); /* acquire: after the pin, for the fields below */
    match = !(t->flags & TF_FRAME) && make_row(l, t, s, &row);
    crew__task_put(l->ex, t);
    if (!match)
        return true;
    l->shown++;
    l->stopped = l->visit(&row, l->ctx) != 0;
    return !l->stopped;
}

int crew_task_list(crew_t *ex, const crew_task_filter_t *filter, crew_task_visit_fn visit,
                   void *ctx)
{
    struct list_ctx l;
    if (!crew__valid(ex) || !visit)
        return CREW_EINVAL;
    memset(&l, 0, sizeof l);
    l.f.size = sizeof l.f;
    if (filter) {
        if (!crew__size_ok(filter->size, sizeof l.f))
            return CREW_EINVAL;
        memcpy(&l.f, filter, filter->size < sizeof l.f ? filter->size : sizeof l.f);
    }
    if (!l.f.states)
        l.f.states = (1u << CREW_TASK_QUEUED) | (1u << CREW_TASK_RUNNING);
    l.ex = ex;
    l.visit = visit;
    l.ctx = ctx;
    crew__pool_walk(&ex->pool, list_one, &l);
    if (l.f.recent && !l.stopped) {
        crew_task_row_t *rows = malloc(CREW__RECENT * sizeof *rows);
        if (!rows)
            return l.shown; /* documented as best effort: the live ones shown */
        for (unsigned i = 0; i <= ex->nslots && !l.stopped; i++) {
            unsigned n = crew__obs_recent_copy(ex, i, rows);
            for (unsigned k = 0; k < n && !l.stopped; k++)
                if (row_matches(&l.f, &rows[k])) {
                    l.shown++;
                    l.stopped = visit(&rows[k], ctx) != 0;
                }
        }
        free(rows);
    }
    return l.shown;
}

struct ids_ctx {
    crew_id_t *ids;
    size_t cap, n;
    struct crew *ex;
};

static bool id_one(crew__task_t *t, void *ctx)
{
    struct ids_ctx *c = ctx;
    uint32_t s = crew__rec_peek(t);
    if (crew__word_free(s) || crew__terminal(s) || !crew__rec_pin(t, true))
        return true;
    s = crew__rec_load(t);
    if (!crew__terminal(s) && !(t->flags & TF_FRAME)) {
        if (c->n < c->cap)
            c->ids[c->n] = crew__obs_id(t);
        c->n++;
    }
    crew__task_put(c->ex, t);
    return true;
}

size_t crew__live_ids(struct crew *ex, crew_id_t *ids, size_t cap)
{
    struct ids_ctx c = {ids, cap, 0, ex};
    crew__pool_walk(&ex->pool, id_one, &c);
    return c.n;
}

/* ---- the trace --------------------------------------------------------------- */

int crew_trace_start(crew_t *ex, size_t per_worker)
{
    int rc = 0;
    uint32_t v;
    if (!crew__valid(ex) || per_worker > ((size_t)1 << 24))
        return CREW_EINVAL;
    if (!per_worker)
        per_worker = (size_t)1 << 16;
    pthread_mutex_lock(&ex->obs.mu);
    /* relaxed: writers of `on` hold mu. */
    v = atomic_load_explicit(&ex->obs.on, memory_order_relaxed);
    if (v & CREW__OBS_TRACE) {
        rc = CREW_EBUSY;
        goto out;
    }
    if (!ex->obs.rings) {
        unsigned i;
        rc = crew__trace_ring_init(&ex->obs.outside, (uint32_t)per_worker);
        for (i = 0; rc == 0 && i < ex->nslots; i++)
            rc = crew__trace_ring_init(&ex->workers[i].obs.ring, (uint32_t)per_worker);
        if (rc != 0) {
            while (i-- > 0)
                crew__trace_ring_destroy(&ex->workers[i].obs.ring);
            crew__trace_ring_destroy(&ex->obs.outside);
            goto out;
        }
        ex->obs.rings = true;
    }
    /* The new trace starts at each ring's current head: no writer is
     * stopped, and a late event of the previous trace is dropped at export
     * by its timestamp (before clk0). acquire: pairs with W4. */
    for (unsigned i = 0; i < ex->nslots; i++)
        ex->workers[i].obs.from =
            atomic_load_explicit(&ex->workers[i].obs.ring.head, memory_order_acquire);
    ex->obs.outside_from = atomic_load_explicit(&ex->obs.outside.head, memory_order_acquire);
    ex->obs.clk0 = crew__trace_clock();
    ex->obs.clk1.ticks = 0;
    /* release: the rings and `from` are set before the hooks use them
     * (pairs with crew__obs_event's acquire load). */
    atomic_store_explicit(&ex->obs.on, v | CREW__OBS_TRACE, memory_order_release);
out:
    pthread_mutex_unlock(&ex->obs.mu);
    return rc;
}

int crew_trace_stop(crew_t *ex)
{
    uint32_t v;
    if (!crew__valid(ex))
        return CREW_EINVAL;
    pthread_mutex_lock(&ex->obs.mu);
    if (!ex->obs.rings) {
        pthread_mutex_unlock(&ex->obs.mu);
        return CREW_EINVAL;
    }
    /* relaxed: writers of `on` hold mu. */
    v = atomic_load_explicit(&ex->obs.on, memory_order_relaxed);
    if (v & CREW__OBS_TRACE) {
        /* release: as in crew_trace_start (the hooks read it relaxed: an
         * event in flight may still land; export drops nothing for it). */
        atomic_store_explicit(&ex->obs.on, v & ~(uint32_t)CREW__OBS_TRACE, memory_order_release);
        ex->obs.clk1 = crew__trace_clock();
    }
    pthread_mutex_unlock(&ex->obs.mu);
    return 0;
}

static const char *const ev_names[CREW__EV_KINDS] = {
    [CREW__EV_SUBMIT] = "submit", [CREW__EV_SPAWN] = "spawn", [CREW__EV_START] = "start",
    [CREW__EV_FINISH] = "finish", [CREW__EV_STEAL] = "steal", [CREW__EV_CANCEL] = "cancel",
    [CREW__EV_REMOVE] = "remove", [CREW__EV_CHECK] = "check", [CREW__EV_PARK] = "park",
    [CREW__EV_UNPARK] = "unpark",
};

/* One output event of a thread: ph 'X' (dur), 'B' (still running at the
 * end) or 'i'. */
typedef struct out_ev {
    uint64_t ts, end; /* ticks */
    uint64_t id;
    uint32_t kind, b, seq;
    char ph;
} out_ev_t;

static int out_cmp(const void *x, const void *y)
{
    const out_ev_t *a = x, *b = y;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

struct writer {
    FILE *o;
    uint64_t t0; /* ticks of the trace's start */
    double nspt; /* ns per tick */
    bool first;
};

static double us_of(struct writer *wr, uint64_t ticks)
{
    return (double)(ticks - wr->t0) * wr->nspt / 1000.0;
}

static void write_thread(struct writer *wr, unsigned tid, const char *name, crew__trace_rec_t *r,
                         uint32_t n, out_ev_t *out, uint64_t end)
{
    uint32_t m = 0, depth = 0;
    uint64_t park = 0;
    /* A stack of started bodies (indices into out): a worker runs nested
     * bodies (helping waits) strictly last-in first-out. */
    uint32_t *stack = out ? (uint32_t *)(out + n) : NULL;
    fprintf(wr->o,
            "%s\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%u,"
            "\"args\":{\"name\":\"%s\"}}",
            wr->first ? "" : ",", tid, name);
    wr->first = false;
    for (uint32_t i = 0; i < n; i++) {
        crew__trace_rec_t *e = &r[i];
        if (e->ts < wr->t0 || e->kind == 0 || e->kind >= CREW__EV_KINDS)
            continue; /* from an earlier trace */
        switch (e->kind) {
        case CREW__EV_START:
            out[m] = (out_ev_t){e->ts, 0, e->a, e->kind, 0, m, 'B'};
            stack[depth++] = m++;
            break;
        case CREW__EV_FINISH:
            if (depth && out[stack[depth - 1]].id == e->a) {
                out_ev_t *s = &out[stack[--depth]];
                s->ph = 'X';
                s->end = e->ts;
                s->b = e->b;
                break;
            }
            out[m] = (out_ev_t){e->ts, 0, e->a, e->kind, e->b, m, 'i'};
            m++;
            break;
        case CREW__EV_PARK:
            park = e->ts;
            break;
        case CREW__EV_UNPARK:
            if (park) {
                out[m] = (out_ev_t){park, e->ts, 0, e->kind, 0, m, 'X'};
                m++;
            }
            park = 0;
            break;
        default:
            out[m] = (out_ev_t){e->ts, 0, e->a, e->kind, e->b, m, 'i'};
            m++;
            break;
        }
    }
    if (park) { /* parked at the end */
        out[m] = (out_ev_t){park, end > park ? end : park, 0, CREW__EV_UNPARK, 0, m, 'X'};
        m++;
    }
    qsort(out, m, sizeof *out, out_cmp);
    for (uint32_t i = 0; i < m; i++) {
        out_ev_t *e = &out[i];
        FILE *o = wr->o;
        if (e->kind == CREW__EV_UNPARK) {
            fprintf(o,
                    ",\n{\"name\":\"parked\",\"cat\":\"idle\",\"ph\":\"X\",\"pid\":1,"
                    "\"tid\":%u,\"ts\":%.3f,\"dur\":%.3f}",
                    tid, us_of(wr, e->ts), (double)(e->end - e->ts) * wr->nspt / 1000.0);
        } else if (e->kind == CREW__EV_START && e->ph == 'X') {
            fprintf(o,
                    ",\n{\"name\":\"task\",\"cat\":\"task\",\"ph\":\"X\",\"pid\":1,"
                    "\"tid\":%u,\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"id\":\"%#" PRIx64
                    "\",\"rc\":%d}}",
                    tid, us_of(wr, e->ts), (double)(e->end - e->ts) * wr->nspt / 1000.0, e->id,
                    (int)e->b);
        } else if (e->kind == CREW__EV_START) {
            fprintf(o,
                    ",\n{\"name\":\"task\",\"cat\":\"task\",\"ph\":\"B\",\"pid\":1,"
                    "\"tid\":%u,\"ts\":%.3f,\"args\":{\"id\":\"%#" PRIx64 "\"}}",
                    tid, us_of(wr, e->ts), e->id);
        } else {
            fprintf(o,
                    ",\n{\"name\":\"%s\",\"cat\":\"event\",\"ph\":\"i\",\"s\":\"t\","
                    "\"pid\":1,\"tid\":%u,\"ts\":%.3f,\"args\":{\"id\":\"%#" PRIx64 "\",\"b\":%u}}",
                    ev_names[e->kind], tid, us_of(wr, e->ts), e->id, e->b);
        }
    }
}

int crew_trace_write(crew_t *ex, FILE *o)
{
    crew__trace_rec_t *recs;
    out_ev_t *out;
    struct writer wr;
    crew__trace_clock_t c1;
    uint32_t cap;
    uint64_t lost_total = 0;
    char name[32];
    if (!crew__valid(ex) || !o)
        return CREW_EINVAL;
    pthread_mutex_lock(&ex->obs.mu);
    if (!ex->obs.rings) {
        pthread_mutex_unlock(&ex->obs.mu);
        return CREW_EINVAL;
    }
    cap = crew__trace_cap(&ex->obs.outside);
    recs = malloc((size_t)cap * sizeof *recs);
    /* room for cap output events and a stack of cap indices */
    out = malloc((size_t)cap * (sizeof *out + sizeof(uint32_t)) + sizeof *out);
    if (!recs || !out) {
        free(recs);
        free(out);
        pthread_mutex_unlock(&ex->obs.mu);
        return CREW_ENOMEM;
    }
    c1 = ex->obs.clk1.ticks ? ex->obs.clk1 : crew__trace_clock();
    wr = (struct writer){o, ex->obs.clk0.ticks, crew__trace_ns_per_tick(ex->obs.clk0, c1), true};
    fputs("{\"traceEvents\":[", o);
    for (unsigned i = 0; i <= ex->nslots; i++) {
        crew__trace_ring_t *r = i < ex->nslots ? &ex->workers[i].obs.ring : &ex->obs.outside;
        uint64_t from = i < ex->nslots ? ex->workers[i].obs.from : ex->obs.outside_from, lost;
        uint32_t n = crew__trace_read(r, recs, &lost), skip = 0;
        /* events of earlier traces: before `from` */
        if (lost < from)
            skip = (uint32_t)((from - lost) < n ? from - lost : n);
        if (lost > from)
            lost_total += lost - from;
        if (i < ex->nworkers)
            snprintf(name, sizeof name, "worker %u", i);
        else
            snprintf(name, sizeof name, "%s", i == ex->nworkers ? "guest (crew_run)" : "outside");
        write_thread(&wr, i, name, recs + skip, n - skip, out, c1.ticks);
    }
    fprintf(o,
            "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{\"ns_per_tick\":%.6f,"
            "\"events_lost\":%" PRIu64 ",\"workers\":%u}}\n",
            wr.nspt, lost_total, ex->nworkers);
    pthread_mutex_unlock(&ex->obs.mu);
    free(recs);
    free(out);
    return ferror(o) ? CREW_ENOMEM : 0;
}

/* ---- the watchdog -------------------------------------------------------------- */

struct crew__watchdog {
    struct crew *ex;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop; /* under mu */
    int64_t limit_ns;
    unsigned period_ms;
    crew_watchdog_fn fn;
    void *ctx;
};

static void report_stderr(const crew_watchdog_report_t *r)
{
    static const char *const causes[] = {"none", "self", "parent", "group", "shutdown", "actor"};
    fprintf(stderr,
            "crew watchdog: task %#" PRIx64 " fn %p (%s) cancelled %.1f ms ago (cause %s, code %d, "
            "reason \"%s\") has not checked\n",
            r->id, (void *)(uintptr_t)r->fn, r->symbol ? r->symbol : "?",
            (double)r->waited_ns / 1e6, (unsigned)r->cause < 6 ? causes[r->cause] : "?",
            r->cancel_code, r->reason);
}

/* One record: build a report if it is due (pinned meanwhile). */
static bool wd_one(crew__task_t *t, void *ctx)
{
    struct crew__watchdog *wd = ctx;
    struct crew *ex = wd->ex;
    crew_watchdog_report_t r;
    crew__tinfo_t *e;
    uint32_t s = crew__rec_peek(t);
    uint8_t cause = 0;
    int64_t now, since;
    bool due = false;
    if (crew__status_of(s) != CREW_TASK_RUNNING || crew__word_removing(s))
        return true;
    if (!crew__rec_pin(t, true))
        return true;
    s = crew__rec_load(t); /* acquire: after the pin */
    memset(&r, 0, sizeof r);
    r.size = sizeof r;
    r.id = crew__obs_id(t);
    if (crew__status_of(s) == CREW_TASK_RUNNING && !crew__word_removing(s) &&
        !(t->flags & TF_FRAME) && seen_cancelled(ex, t, s, &cause, &r.cancel_code, r.reason) &&
        (e = crew__obs_tinfo(ex, r.id, true)) != NULL) {
        /* relaxed: recent values of independent stamps (stats.h). */
        now = crew__now_ns();
        since = atomic_load_explicit(&e->cancel_req, memory_order_relaxed);
        if (!since || !crew__word_req(s)) {
            since = atomic_load_explicit(&e->seen, memory_order_relaxed);
            if (!since) /* relaxed: only the watchdog writes `seen` */
                atomic_store_explicit(&e->seen, since = now, memory_order_relaxed);
        }
        if (!atomic_load_explicit(&e->checked, memory_order_relaxed) &&
            now - since >= wd->limit_ns &&
            !atomic_load_explicit(&e->reported, memory_order_relaxed)) {
            /* relaxed: only the watchdog writes `reported` (a claim of a
             * new incarnation resets it). */
            atomic_store_explicit(&e->reported, 1, memory_order_relaxed);
            r.fn = t->fn;
            r.cause = (crew_cancel_cause_t)cause;
            r.waited_ns = now - since;
            due = true;
        }
    }
    crew__task_put(ex, t);
    if (due) {
        Dl_info info;
        if (dladdr((void *)(uintptr_t)r.fn, &info) && info.dli_sname)
            r.symbol = info.dli_sname;
        if (wd->fn)
            wd->fn(&r, wd->ctx);
        else
            report_stderr(&r);
    }
    return true;
}

static void *wd_main(void *arg)
{
    struct crew__watchdog *wd = arg;
    pthread_mutex_lock(&wd->mu);
    while (!wd->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)(wd->period_ms % 1000) * 1000000L;
        ts.tv_sec += wd->period_ms / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&wd->cv, &wd->mu, &ts);
        if (wd->stop)
            break;
        pthread_mutex_unlock(&wd->mu);
        crew__pool_walk(&wd->ex->pool, wd_one, wd);
        pthread_mutex_lock(&wd->mu);
    }
    pthread_mutex_unlock(&wd->mu);
    return NULL;
}

int crew_watchdog_start(crew_t *ex, unsigned ms, crew_watchdog_fn fn, void *ctx)
{
    struct crew__watchdog *wd;
    pthread_condattr_t ca;
    int rc;
    if (!crew__valid(ex) || ms == 0 || ms > 3600000)
        return CREW_EINVAL;
    pthread_mutex_lock(&ex->obs.mu);
    if (ex->obs.wd) {
        pthread_mutex_unlock(&ex->obs.mu);
        return CREW_EBUSY;
    }
    wd = crew__calloc(1, sizeof *wd);
    if (!wd) {
        crew__free(wd);
        pthread_mutex_unlock(&ex->obs.mu);
        return CREW_ENOMEM;
    }
    wd->ex = ex;
    wd->limit_ns = (int64_t)ms * 1000000;
    wd->period_ms = ms / 4 ? ms / 4 : 1;
    wd->fn = fn;
    wd->ctx = ctx;
    pthread_mutex_init(&wd->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wd->cv, &ca);
    pthread_condattr_destroy(&ca);
    rc = crew__thread_create(&wd->thread, wd_main, wd);
    if (rc != 0) {
        pthread_cond_destroy(&wd->cv);
        pthread_mutex_destroy(&wd->mu);
        crew__free(wd);
        pthread_mutex_unlock(&ex->obs.mu);
        return CREW_ETHREAD;
    }
    ex->obs.wd = wd;
    pthread_mutex_unlock(&ex->obs.mu);
    return 0;
}

int crew_watchdog_stop(crew_t *ex)
{
    struct crew__watchdog *wd;
    if (!crew__valid(ex))
        return CREW_EINVAL;
    pthread_mutex_lock(&ex->obs.mu);
    wd = ex->obs.wd;
    ex->obs.wd = NULL;
    pthread_mutex_unlock(&ex->obs.mu);
    if (!wd)
        return CREW_EINVAL;
    pthread_mutex_lock(&wd->mu);
    wd->stop = true;
    pthread_cond_signal(&wd->cv);
    pthread_mutex_unlock(&wd->mu);
    pthread_join(wd->thread, NULL);
    pthread_cond_destroy(&wd->cv);
    pthread_mutex_destroy(&wd->mu);
    crew__free(wd);
    return 0;
}

void crew__observe_stop(struct crew *ex)
{
    if (ex->obs.wd)
        crew_watchdog_stop(ex);
}
