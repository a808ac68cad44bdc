/*
 * stats.c - the ledger, the statistics and quiescence (see stats.h).
 *
 * Quiescence (shutdown step 4) from the ledger, without a lock: read the
 * finish counters first, then (after a fence) the creation counters. A
 * task is counted created before it is published and finished after its
 * last use of the record, so finished_read <= finished(t) <= created(t) <=
 * created_read for the instant t between the two passes; equality means
 * no task was live at t, and only live tasks (or outside submitters, which
 * shutdown has refused by then) create tasks. The same argument with
 * `dequeued` shows every queue slot consumed.
 */
#include <limits.h>
#include <string.h>

#include "exec.h"
#include "stats.h"

uint64_t crew__ledger_sum(struct crew *ex, size_t off)
{
    /* relaxed: counters; crew__live_tasks orders its passes with fences. */
    uint64_t s =
        atomic_load_explicit((_Atomic uint64_t *)((char *)&ex->books + off), memory_order_relaxed);
    for (unsigned i = 0; i < ex->nslots; i++)
        s += atomic_load_explicit((_Atomic uint64_t *)((char *)&ex->workers[i].books + off),
                                  memory_order_relaxed);
    return s;
}

uint64_t crew__counters_sum(struct crew *ex, size_t off)
{
    /* relaxed: statistics. */
    uint64_t s =
        atomic_load_explicit((_Atomic uint64_t *)((char *)&ex->shared + off), memory_order_relaxed);
    for (unsigned i = 0; i < ex->nslots; i++)
        s += atomic_load_explicit((_Atomic uint64_t *)((char *)&ex->workers[i].c + off),
                                  memory_order_relaxed);
    return s;
}

uint64_t crew__live_tasks(struct crew *ex)
{
    uint64_t fin, created;
    CREW_FENCE_SEQ_CST();
    fin = CREW__LEDGER(ex, done) + CREW__LEDGER(ex, failed) + CREW__LEDGER(ex, cancelled);
    /* seq_cst fence: keeps the two passes in order (see above). */
    CREW_FENCE_SEQ_CST();
    created = CREW__LEDGER(ex, created);
    return created > fin ? created - fin : 0;
}

/* No live task and every queue slot consumed (shutdown step 4). */
static bool quiescent(struct crew *ex)
{
    uint64_t deq, created;
    if (crew__live_tasks(ex) != 0)
        return false;
    CREW_FENCE_SEQ_CST();
    deq = CREW__LEDGER(ex, dequeued);
    /* seq_cst fence: as in crew__live_tasks. */
    CREW_FENCE_SEQ_CST();
    created = CREW__LEDGER(ex, created);
    return deq >= created;
}

void crew__wait_quiescent(struct crew *ex) { (void)crew__wait_quiescent_until(ex, -1); }

bool crew__wait_quiescent_until(struct crew *ex, int64_t deadline)
{
    bool ok = true;
    /* seq_cst: pairs with crew__notify_quiesce's fence + load. */
    atomic_fetch_add_explicit(&ex->quiesce_waiters, 1, memory_order_seq_cst);
    crew__park_notify_all(&ex->park);
    for (;;) {
        /* seq_cst: read before counting; a notify after our count bumps it. */
        uint32_t q = atomic_load_explicit(&ex->quiesce, memory_order_seq_cst);
        int64_t left = -1;
        if (quiescent(ex))
            break;
        if (deadline >= 0) {
            left = deadline - crew__now_ns();
            if (left <= 0) {
                ok = false;
                break;
            }
        }
        crew__futex_wait(&ex->quiesce, q, left);
    }
    /* relaxed: leaving only makes later notifications unnecessary. */
    atomic_fetch_sub_explicit(&ex->quiesce_waiters, 1, memory_order_relaxed);
    return ok;
}

void crew__notify_quiesce(struct crew *ex)
{
    /* seq_cst fence: pairs with the waiter's increment of quiesce_waiters
     * before it counts; without it we could miss the waiter while it
     * misses our count. */
    CREW_FENCE_SEQ_CST();
    if (atomic_load_explicit(&ex->quiesce_waiters, memory_order_relaxed) != 0) {
        /* seq_cst: the waiter's futex value check sees the bump. */
        atomic_fetch_add_explicit(&ex->quiesce, 1, memory_order_seq_cst);
        crew__futex_wake(&ex->quiesce, INT_MAX);
    }
}

void crew__stats_fill(struct crew *ex, crew_stats_t *st)
{
    st->live_tasks = crew__live_tasks(ex);
    st->submitted = CREW__LEDGER(ex, created);
    st->done = CREW__LEDGER(ex, done);
    st->failed = CREW__LEDGER(ex, failed);
    st->cancelled = CREW__LEDGER(ex, cancelled);
    st->removed = CREW__STAT(ex, removed);
    st->cancelled_running = CREW__STAT(ex, cancelled_running);
    st->late_cancels = CREW__STAT(ex, late_cancels);
    st->steals = CREW__STAT(ex, steals);
    st->parks = CREW__STAT(ex, parks);
    st->unstacks = CREW__STAT(ex, unstacks);
    st->live_records = crew__pool_live(&ex->pool);
    st->cancel_set_size = crew__cset_size(&ex->cset);
    /* relaxed: statistics. */
    st->deadlines_pending = crew__timer_pending(&ex->timer, CREW__STAT(ex, dl_disarmed));
    st->deadlines_set = crew__timer_set_total(&ex->timer);
    st->deadlines_fired = atomic_load_explicit(&ex->timer.fired, memory_order_relaxed);
    st->callbacks_run = atomic_load_explicit(&ex->callbacks_run, memory_order_relaxed);
    st->interrupts_sent = atomic_load_explicit(&ex->interrupts_sent, memory_order_relaxed);
    st->tasks_run = st->done + st->failed + st->cancelled_running;
    st->steal_attempts = CREW__STAT(ex, steal_attempts);
    st->idle_ns = st->busy_ns = 0;
    for (unsigned i = 0; i < ex->nworkers; i++) {
        uint64_t idle, busy;
        crew__worker_times(&ex->workers[i], &idle, &busy);
        st->idle_ns += idle;
        st->busy_ns += busy;
    }
    for (unsigned b = 0; b < CREW_LATENCY_BUCKETS; b++) {
        st->cancel_to_check[b] = CREW__STAT(ex, lat_check[b]);
        st->cancel_to_terminal[b] = CREW__STAT(ex, lat_term[b]);
    }
    st->cancel_to_check_sum_ns = CREW__STAT(ex, lat_check_ns);
    st->cancel_to_terminal_sum_ns = CREW__STAT(ex, lat_term_ns);
}

/* relaxed loads of one worker's counters (single writer: its worker). */
#define WSTAT(w, f) atomic_load_explicit(&(w)->c.f, memory_order_relaxed)
#define WBOOK(w, f) atomic_load_explicit(&(w)->books.f, memory_order_relaxed)

void crew__worker_times(crew__worker_t *w, uint64_t *idle, uint64_t *busy)
{
    /* relaxed: single writer (the worker); a recent value. */
    int64_t born = atomic_load_explicit(&w->obs.born, memory_order_relaxed);
    int64_t since = atomic_load_explicit(&w->obs.idle_since, memory_order_relaxed);
    int64_t now = crew__now_ns(), life = born ? now - born : 0;
    uint64_t i = WSTAT(w, idle_ns) + (since > 0 && now > since ? (uint64_t)(now - since) : 0);
    if (!born)
        i = 0;
    *idle = i;
    *busy = life > 0 && (uint64_t)life > i ? (uint64_t)life - i : 0;
}

void crew__worker_stats_fill(crew__worker_t *w, crew_worker_stats_t *ws)
{
    ws->index = w->index;
    ws->done = WBOOK(w, done);
    ws->failed = WBOOK(w, failed);
    ws->cancelled_running = WSTAT(w, cancelled_running);
    ws->tasks_run = ws->done + ws->failed + ws->cancelled_running;
    ws->removed = WSTAT(w, removed);
    ws->late_cancels = WSTAT(w, late_cancels);
    ws->steals = WSTAT(w, steals);
    ws->steal_attempts = WSTAT(w, steal_attempts);
    ws->parks = WSTAT(w, parks);
    ws->unstacks = WSTAT(w, unstacks);
    crew__worker_times(w, &ws->idle_ns, &ws->busy_ns);
}

/* ---- seeing inside: the hooks (stats.h) ------------------------------------ */

int crew__obs_init(struct crew *ex)
{
    pthread_mutex_init(&ex->obs.mu, NULL);
    pthread_mutex_init(&ex->obs.rd_mu, NULL);
    return 0;
}

void crew__obs_fini(struct crew *ex)
{
    /* relaxed: single-threaded teardown (the workers are stopped). */
    _Atomic(crew__tinfo_t *) *dir = atomic_load_explicit(&ex->obs.dir, memory_order_relaxed);
    if (dir) {
        for (size_t i = 0; i < CREW__TINFO_CHUNKS; i++) {
            crew__tinfo_t *c = atomic_load_explicit(&dir[i], memory_order_relaxed);
            if (c)
                crew__free(c);
        }
        crew__unreserve((void *)dir, CREW__TINFO_CHUNKS * sizeof *dir);
    }
    /* relaxed: single-threaded teardown. */
    if (atomic_load_explicit(&ex->obs.recents, memory_order_relaxed)) {
        for (unsigned i = 0; i <= ex->nslots; i++) {
            crew__recent_t *r =
                i < ex->nslots ? &ex->workers[i].obs.recent : &ex->obs.recent_outside;
            crew__free(r->rows);
            pthread_mutex_destroy(&r->mu);
        }
    }
    if (ex->obs.rings) {
        for (unsigned i = 0; i < ex->nslots; i++)
            crew__trace_ring_destroy(&ex->workers[i].obs.ring);
        crew__trace_ring_destroy(&ex->obs.outside);
    }
    crew__cset_reader_free(ex->obs.rd);
    ex->obs.rd = NULL;
    pthread_mutex_destroy(&ex->obs.rd_mu);
    pthread_mutex_destroy(&ex->obs.mu);
}

static void tinfo_claim(crew__tinfo_t *e, uint64_t id)
{
    /* relaxed: a hint, validated by the CAS. */
    uint64_t old = atomic_load_explicit(&e->id, memory_order_relaxed);
    if (old == id)
        return;
    /* relaxed: the entry's fields are independent relaxed values; a
     * writer of the same incarnation that races with this claim may lose
     * its stamp (only when recording was switched on mid-flight). */
    if (atomic_compare_exchange_strong_explicit(&e->id, &old, id, memory_order_relaxed,
                                                memory_order_relaxed)) {
        atomic_store_explicit(&e->queued, 0, memory_order_relaxed);
        atomic_store_explicit(&e->started, 0, memory_order_relaxed);
        atomic_store_explicit(&e->finished, 0, memory_order_relaxed);
        atomic_store_explicit(&e->cancel_req, 0, memory_order_relaxed);
        atomic_store_explicit(&e->checked, 0, memory_order_relaxed);
        atomic_store_explicit(&e->seen, 0, memory_order_relaxed);
        atomic_store_explicit(&e->worker, 0, memory_order_relaxed);
        atomic_store_explicit(&e->reported, 0, memory_order_relaxed);
    }
}

crew__tinfo_t *crew__obs_tinfo(struct crew *ex, uint64_t id, bool create)
{
    uint64_t slot = id & (((uint64_t)1 << CREW_SLOT_BITS) - 1);
    /* acquire: pairs with the release CAS that published the directory. */
    _Atomic(crew__tinfo_t *) *dir = atomic_load_explicit(&ex->obs.dir, memory_order_acquire);
    crew__tinfo_t *c, *e;
    if (!dir) {
        _Atomic(crew__tinfo_t *) *mine = NULL;
        if (!create)
            return NULL;
        /* Address space for the chunk pointers, committed on first touch. */
        mine = crew__reserve(CREW__TINFO_CHUNKS * sizeof *mine);
        if (!mine)
            return NULL;
        /* release: publishes the zeroed directory; acquire on failure: the
         * winner's. */
        if (atomic_compare_exchange_strong_explicit(&ex->obs.dir, &dir, mine, memory_order_acq_rel,
                                                    memory_order_acquire))
            dir = mine;
        else
            crew__unreserve((void *)mine, CREW__TINFO_CHUNKS * sizeof *mine);
    }
    /* acquire: pairs with the release CAS that published the chunk. */
    c = atomic_load_explicit(&dir[slot >> CREW__TINFO_CHUNK_LOG2], memory_order_acquire);
    if (!c) {
        crew__tinfo_t *mine;
        if (!create)
            return NULL;
        mine = crew__calloc((size_t)1 << CREW__TINFO_CHUNK_LOG2, sizeof *mine);
        if (!mine)
            return NULL;
        /* release: publishes the zeroed chunk; acquire on failure. */
        if (atomic_compare_exchange_strong_explicit(&dir[slot >> CREW__TINFO_CHUNK_LOG2], &c, mine,
                                                    memory_order_acq_rel, memory_order_acquire))
            c = mine;
        else
            crew__free(mine);
    }
    e = &c[slot & (((uint64_t)1 << CREW__TINFO_CHUNK_LOG2) - 1)];
    if (create)
        tinfo_claim(e, id);
    /* relaxed: validated by the caller's own use (a recent value). */
    else if (atomic_load_explicit(&e->id, memory_order_relaxed) != id)
        return NULL;
    return e;
}

/* relaxed: each time field has one writer per incarnation (see stats.h). */
#define STAMP(e, f, v) atomic_store_explicit(&(e)->f, (v), memory_order_relaxed)
#define READ(e, f)     atomic_load_explicit(&(e)->f, memory_order_relaxed)

void crew__obs_event(struct crew *ex, crew__worker_t *w, uint32_t kind, uint64_t id, uint32_t b)
{
    /* acquire: pairs with the release store in crew_trace_start /
     * crew_timing: the rings (and their `from`) are set up before. */
    uint32_t on = atomic_load_explicit(&ex->obs.on, memory_order_acquire);
    if (on & CREW__OBS_TRACE) {
        if (w)
            crew__trace_put(&w->obs.ring, kind, id, b);
        else
            crew__trace_put_locked(&ex->obs.outside, kind, id, b);
    }
    if ((on & CREW__OBS_TIMES) && id) {
        crew__tinfo_t *e;
        switch (kind) {
        case CREW__EV_SUBMIT:
        case CREW__EV_SPAWN:
            if ((e = crew__obs_tinfo(ex, id, true)) != NULL)
                STAMP(e, queued, crew__now_ns());
            break;
        case CREW__EV_START:
            if ((e = crew__obs_tinfo(ex, id, true)) != NULL) {
                STAMP(e, started, crew__now_ns());
                STAMP(e, worker, w ? w->index + 1 : 0);
            }
            break;
        case CREW__EV_FINISH:
        case CREW__EV_REMOVE:
            if ((e = crew__obs_tinfo(ex, id, true)) != NULL)
                STAMP(e, finished, crew__now_ns());
            break;
        default:
            break;
        }
    }
}

void crew__obs_cancel_req(struct crew *ex, crew__worker_t *w, crew__task_t *t)
{
    uint64_t id = crew__obs_id(t);
    crew__tinfo_t *e = crew__obs_tinfo(ex, id, true);
    if (e && !READ(e, cancel_req))
        STAMP(e, cancel_req, crew__now_ns());
    CREW__OBS(ex, w, CREW__EV_CANCEL, id, 0);
}

void crew__obs_checked(struct crew *ex, crew__worker_t *w, crew__task_t *t)
{
    uint64_t id = crew__obs_id(t);
    crew__tinfo_t *e = crew__obs_tinfo(ex, id, true);
    int64_t now, req;
    if (!e || READ(e, checked))
        return;
    now = crew__now_ns();
    STAMP(e, checked, now);
    req = READ(e, cancel_req);
    if (req) {
        unsigned bk = crew__lat_bucket(now - req);
        CREW__COUNT(ex, w, lat_check[bk], 1);
        CREW__COUNT(ex, w, lat_check_ns, (uint64_t)(now - req));
    }
    CREW__OBS(ex, w, CREW__EV_CHECK, id, 0);
}

void crew__obs_ending(struct crew *ex, crew__worker_t *w, uint64_t id)
{
    crew__tinfo_t *e = crew__obs_tinfo(ex, id, false);
    int64_t now, req;
    if (!e || !(req = READ(e, cancel_req)))
        return;
    now = crew__now_ns();
    CREW__COUNT(ex, w, lat_term[crew__lat_bucket(now - req)], 1);
    CREW__COUNT(ex, w, lat_term_ns, (uint64_t)(now - req));
}

int crew__obs_recent_init(struct crew *ex)
{
    unsigned i;
    /* relaxed: the caller holds obs.mu, as every writer does. */
    if (atomic_load_explicit(&ex->obs.recents, memory_order_relaxed))
        return 0;
    for (i = 0; i <= ex->nslots; i++) {
        crew__recent_t *r = i < ex->nslots ? &ex->workers[i].obs.recent : &ex->obs.recent_outside;
        r->rows = crew__calloc(CREW__RECENT, sizeof *r->rows);
        if (!r->rows)
            break;
        pthread_mutex_init(&r->mu, NULL);
        r->n = 0;
    }
    if (i <= ex->nslots) {
        while (i-- > 0) {
            crew__recent_t *r =
                i < ex->nslots ? &ex->workers[i].obs.recent : &ex->obs.recent_outside;
            crew__free(r->rows);
            r->rows = NULL;
            pthread_mutex_destroy(&r->mu);
        }
        return CREW_ENOMEM;
    }
    /* release: pairs with crew__obs_recent_copy's acquire load. */
    atomic_store_explicit(&ex->obs.recents, true, memory_order_release);
    return 0;
}

void crew__obs_row(struct crew *ex, crew__task_t *t, uint32_t s, crew_task_row_t *row)
{
    crew__tinfo_t *e;
    memset(row, 0, sizeof *row);
    row->size = sizeof *row;
    row->id = crew__obs_id(t);
    /* relaxed: the parent record stays allocated while t is (pinned or
     * being freed: the parent goes after its last child). */
    row->parent = t->parent ? atomic_load_explicit(&t->parent->id, memory_order_relaxed) : 0;
    row->group = t->group_id;
    row->actor = (t->flags & TF_ACTOR) ? t->owner : NULL;
    row->fn = t->fn;
    row->status = crew__status_of(s);
    row->worker = -1;
    if (crew__word_has_cause(s)) {
        /* The acquire load of s saw REQ / REMOVING / CANCELLED: the cause
         * fields are readable (task.h). */
        row->cancelled = true;
        row->cause = (crew_cancel_cause_t)t->cause;
        row->cancel_code = t->cancel_code;
        memcpy(row->reason, t->reason, CREW_REASON_MAX);
        row->reason[CREW_REASON_MAX - 1] = '\0';
    }
    if ((e = crew__obs_tinfo(ex, row->id, false)) != NULL) {
        uint32_t wk = READ(e, worker);
        row->worker = wk ? (int)wk - 1 : -1;
        row->queued_ns = READ(e, queued);
        row->started_ns = READ(e, started);
        row->finished_ns = READ(e, finished);
    }
}

void crew__obs_reclaimed(struct crew *ex, crew__task_t *t)
{
    crew__worker_t *w = crew__self_worker(ex);
    crew__recent_t *r = w ? &w->obs.recent : &ex->obs.recent_outside;
    crew_task_row_t row;
    /* acquire: pairs with the release store in crew_timing (the rings are
     * allocated before TIMES is set). */
    if (!(atomic_load_explicit(&ex->obs.on, memory_order_acquire) & CREW__OBS_TIMES) ||
        (t->flags & TF_FRAME))
        return;
    crew__obs_row(ex, t, crew__rec_load(t), &row); /* acquire: we own t */
    pthread_mutex_lock(&r->mu);
    r->rows[r->n % CREW__RECENT] = row;
    r->n++;
    pthread_mutex_unlock(&r->mu);
}

unsigned crew__obs_recent_copy(struct crew *ex, unsigned index, crew_task_row_t *out)
{
    crew__recent_t *r =
        index < ex->nslots ? &ex->workers[index].obs.recent : &ex->obs.recent_outside;
    unsigned n;
    /* acquire: pairs with the release store in crew__obs_recent_init. */
    if (!atomic_load_explicit(&ex->obs.recents, memory_order_acquire))
        return 0;
    pthread_mutex_lock(&r->mu);
    n = r->n < CREW__RECENT ? (unsigned)r->n : CREW__RECENT;
    memcpy(out, r->rows, n * sizeof *out);
    pthread_mutex_unlock(&r->mu);
    return n;
}

void crew__obs_idle(crew__worker_t *w, bool begin)
{
    int64_t now = crew__now_ns();
    /* relaxed: single writer (this worker); readers want a recent value. */
    if (begin) {
        atomic_store_explicit(&w->obs.idle_since, now, memory_order_relaxed);
    } else {
        int64_t since = atomic_load_explicit(&w->obs.idle_since, memory_order_relaxed);
        if (since > 0 && now > since)
            atomic_store_explicit(&w->c.idle_ns,
                                  atomic_load_explicit(&w->c.idle_ns, memory_order_relaxed) +
                                      (uint64_t)(now - since),
                                  memory_order_relaxed);
        atomic_store_explicit(&w->obs.idle_since, 0, memory_order_relaxed);
    }
}

void crew__obs_born(crew__worker_t *w)
{
    /* relaxed: single writer; read as a recent value. */
    atomic_store_explicit(&w->obs.born, crew__now_ns(), memory_order_relaxed);
}
