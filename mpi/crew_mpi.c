/*
 * crew_mpi.c - crew on MPI: batches spread over ranks, stolen between them,
 * cancelled across them. The manual is include/crew_mpi.h; the design and
 * its costs at scale are in doc/mpi.md.
 *
 * Who touches what.
 * - The progress context (the progress thread, or with no progress thread
 *   the init thread inside a wait, or the finalizing thread) is the only
 *   code that calls MPI and the only one that touches the cancel marks, the
 *   pending sends and the outgoing result buffers; they need no lock.
 * - The rank's jobs wait in the local queue (m->queue) until they are
 *   handed to crew, at most m->window at a time (m->window_list, the jobs
 *   whose crew task has not ended). Both lists are under m->qmu: the
 *   progress context adds arrivals, takes jobs for thieves and tops the
 *   window up, and a crew worker whose job just ended (job_cleanup) hands
 *   the next queued job to crew itself, so a rank runs its queue without a
 *   round trip through the progress context per job.
 * - Other threads talk to the progress context through m->mu: user calls
 *   append commands (submit, cancel, forget), job cleanups append finished
 *   jobs, and the progress context writes the outcomes into the batch tables
 *   that waiters read, all under m->mu. Lock order: qmu is never held while
 *   taking mu.
 * - crew_submit_ex() and crew_cancel() are called with neither lock held:
 *   crew_cancel() of a queued task runs its cleanup (job_cleanup, which
 *   takes both) on the calling thread, and a submission may run the task at
 *   once. crew_join() is called by the progress context alone, so the IDs
 *   it has not joined yet stay valid for its crew_cancel() calls. (The one
 *   crew_cancel() made elsewhere, by a submitter that finds cancel_pending,
 *   may name a task already joined: crew answers CREW_ENOTASK and nothing
 *   happens, which is right, since that task has ended.)
 *
 * The protocol, one message type per tag on a private duplicate of
 * MPI_COMM_WORLD (all payloads little structs of fixed-width integers; ranks
 * of one job run the same binary, so no byte-order conversion):
 *   T_JOBS        origin -> rank (its block) or victim -> thief (steal
 *                 reply, possibly empty): jobs with their payloads
 *   T_STEAL       thief -> victim: "give me up to half your queue" (with
 *                 the number of jobs the thief is running)
 *   T_RESULTS     runner -> origin: outcomes, batched per pump round
 *   T_CANCEL      canceller -> every rank: a cancel mark; the origin's copy
 *                 may ask for T_CANCEL_DONE once the affected jobs are done
 *   T_CANCEL_DONE origin -> canceller
 *   T_FORGET      origin -> every rank: drop the marks of a freed batch
 * A message to oneself goes through a local loopback list, handled like any
 * other, so no code path depends on whether the origin runs its own jobs.
 */
#define _GNU_SOURCE
#include "crew_mpi.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { T_JOBS = 1, T_STEAL, T_RESULTS, T_CANCEL, T_CANCEL_DONE, T_FORGET };

/* Idle backoff of the progress context (ns): doubled after each pump round
 * that found nothing to do, reset by any activity or local event, capped
 * at IDLE_BUSY_NS while this rank holds jobs or waits for a steal answer
 * (a thief's request should not wait long for a busy victim's next round)
 * and at IDLE_MAX_NS otherwise. */
#define IDLE_MIN_NS  10000LL
#define IDLE_BUSY_NS 200000LL
#define IDLE_MAX_NS  2000000LL
/* Backoff between failed steal attempts (ns), and how many consecutive
 * empty answers make a rank stop asking until new jobs reach it:
 * STEAL_FAILS_MIN + 4 per other rank, so that a thief misses the one rank
 * that still has work with odds below (1 - 1/(P-1))^(4(P-1)) < 2%, and
 * with at most ~64 ms (the backoff cap times STEAL_FAILS_MIN) of asking
 * on a small world. After a hit the thief asks the same victim again first
 * (work tends to stay where it was), after a miss a random one. */
#define STEAL_MIN_NS    20000LL
#define STEAL_MAX_NS    1000000LL
#define STEAL_FAILS_MIN 64
/* Messages received per pump round before the round goes on to the rest. */
#define RECV_PER_ROUND 256
#define PAYLOAD_MAX    ((size_t)1 << 30)
#define SEQ_BITS       40

/* ------------------------------------------------------------------------ */
/* Types                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct job {
    struct job *prev, *next; /* in the local queue or the window */
    struct job *done_next;   /* in m->done, once its cleanup ran */
    crew_mpi_t *m;
    int origin;
    uint64_t seq, index;
    uint32_t fn, fnhash, group;
    crew_id_t id;        /* crew task, once id_set (under m->qmu) */
    bool id_set;         /* crew_submit_ex() returned (under m->qmu) */
    bool ended;          /* job_cleanup ran (under m->qmu) */
    bool cancel_pending; /* a cancel found it before id_set (m->qmu) */
    int submit_err;      /* crew_submit_ex() failed with this */
    bool ran;            /* body started (written by the worker, read by the
                            progress context after the m->mu hand-over) */
    int rc;
    crew_mpi_job_t view;
    size_t size;
    unsigned char payload[];
} job_t;

typedef struct jlist {
    job_t *head, *tail;
    size_t n;
} jlist_t;

/* Cancel marks of one batch on one rank: monotone (they only grow), so a
 * job is checked against them whenever it arrives. */
typedef struct marks {
    struct marks *next;
    int origin;
    uint64_t seq;
    bool all;
    uint32_t *groups;
    size_t ngroups, capgroups;
    uint64_t *jobs;
    size_t njobs, capjobs;
} marks_t;

/* A cancel waiting, at the origin, for its jobs to be terminal. */
typedef struct notify {
    struct notify *next;
    uint64_t seq;
    int scope;
    uint64_t which;
    uint64_t remaining;
    int canceller;
    uint64_t token;
} notify_t;

/* A crew_mpi_cancel() waiting, at the canceller, for T_CANCEL_DONE. */
typedef struct token {
    struct token *next;
    uint64_t id;
    bool done, abandoned;
} token_t;

enum { CMD_SUBMIT, CMD_CANCEL, CMD_FORGET };
typedef struct cmd {
    struct cmd *next;
    int kind;
    crew_mpi_batch_t *b; /* CMD_SUBMIT */
    int origin;          /* CMD_CANCEL, CMD_FORGET */
    uint64_t seq;
    int scope;
    uint64_t which;
    uint64_t token;
} cmd_t;

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
    uint32_t count; /* entries, for result buffers */
} buf_t;

typedef struct loop_msg {
    struct loop_msg *next;
    int tag;
    unsigned char *p;
    size_t n;
} loop_msg_t;

struct crew_mpi_batch {
    crew_mpi_t *m;
    struct crew_mpi_batch *next; /* m->batches */
    uint64_t seq, id, n;
    job_t **jobs; /* built by submit, sent by the progress context */
    /* outcomes, under m->mu */
    uint8_t *status, *removed;
    int *code, *rank;
    void **data;
    size_t *dsize;
    uint32_t *group;
    uint64_t terminal, done, failed, cancelled, nremoved;
    uint64_t first_failure;
    int first_failure_rank, first_failure_code;
    bool cancelled_ever;
};

typedef struct fnent {
    char *name;
    crew_mpi_fn fn;
    uint32_t hash;
} fnent_t;

struct crew_mpi {
    MPI_Comm comm;
    int rank, size, level;
    bool we_init;
    bool thread_mode; /* a progress thread pumps (until finalize takes over) */
    bool multi;       /* init gave a progress thread: jobs may call MPI (constant) */
    pthread_t init_thread, progress;
    crew_t *ex;
    fnent_t *fns;
    size_t nfns;
    unsigned window;
    uint64_t rng;

    pthread_mutex_t mu;
    pthread_cond_t prog_cv; /* the progress context sleeps here */
    pthread_cond_t wait_cv; /* waiters sleep here */
    /* under mu */
    cmd_t *cmd_head, *cmd_tail;
    job_t *done;
    bool kick, stop, closing;
    int failed; /* 0 or CREW_MPI_ECOMM */
    crew_mpi_batch_t *batches;
    notify_t *notifies;
    token_t *tokens;
    uint64_t next_seq, next_token;

    pthread_mutex_t qmu; /* the two job lists below */
    jlist_t queue, window_list;

    /* progress context only */
    marks_t *marks;
    loop_msg_t *loop_head, *loop_tail;
    buf_t *results; /* per destination rank */
    MPI_Request *sreq;
    unsigned char **sbuf;
    size_t nsend, capsend;
    int *dirty; /* ranks with results in their buffer */
    size_t ndirty;
    MPI_Request barrier; /* finalize's MPI_Ibarrier */
    int last_victim;     /* answered with jobs last time, or -1 */
    bool active, steal_out, no_steal;
    unsigned steal_fails;
    int64_t steal_backoff, next_steal;

    /* counters: written by one thread, read by crew_mpi_stats() from any;
     * relaxed is enough, they order nothing. */
    _Atomic uint64_t st_received, st_run, st_removed, st_asks, st_hits, st_stolen, st_given,
        st_sent, st_recv;
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

static void count(_Atomic uint64_t *c, uint64_t v)
{
    atomic_fetch_add_explicit(c, v, memory_order_relaxed); /* relaxed: a statistic */
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct timespec abs_after(int64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t t = (int64_t)ts.tv_nsec + ns;
    ts.tv_sec += (time_t)(t / 1000000000LL);
    ts.tv_nsec = (long)(t % 1000000000LL);
    return ts;
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void jl_push(jlist_t *l, job_t *j)
{
    j->next = NULL;
    j->prev = l->tail;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    l->n++;
}

static void jl_remove(jlist_t *l, job_t *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        l->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        l->tail = j->prev;
    j->prev = j->next = NULL;
    l->n--;
}

static bool buf_reserve(buf_t *b, size_t more)
{
    if (b->n + more <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + more)
        cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (!p)
        return false;
    b->p = p;
    b->cap = cap;
    return true;
}

static bool buf_put(buf_t *b, const void *v, size_t n)
{
    if (!buf_reserve(b, n))
        return false;
    if (n)
        memcpy(b->p + b->n, v, n);
    b->n += n;
    return true;
}

#define PUT(b, v) buf_put((b), &(v), sizeof(v))

typedef struct rd {
    const unsigned char *p;
    size_t n, off;
    bool bad;
} rd_t;

static void rd_get(rd_t *r, void *v, size_t n)
{
    if (r->bad || r->n - r->off < n) {
        r->bad = true;
        memset(v, 0, n);
        return;
    }
    memcpy(v, r->p + r->off, n);
    r->off += n;
}

#define GET(r, v) rd_get((r), &(v), sizeof(v))

static void fail(crew_mpi_t *m)
{
    pthread_mutex_lock(&m->mu);
    m->failed = CREW_MPI_ECOMM;
    pthread_cond_broadcast(&m->wait_cv);
    pthread_mutex_unlock(&m->mu);
}

/* Wake the progress context; called with m->mu held. */
static void kick_locked(crew_mpi_t *m)
{
    m->kick = true;
    pthread_cond_signal(&m->prog_cv);
}

/* ------------------------------------------------------------------------ */
/* Sending                                                                  */
/* ------------------------------------------------------------------------ */

/* Send p[0..n) (malloc()ed; owned by the send from now on) to dest. */
static void send_msg(crew_mpi_t *m, int dest, int tag, unsigned char *p, size_t n)
{
    if (dest == m->rank) {
        loop_msg_t *l = malloc(sizeof *l);
        if (!l) {
            free(p);
            fail(m);
            return;
        }
        *l = (loop_msg_t){.tag = tag, .p = p, .n = n};
        if (m->loop_tail)
            m->loop_tail->next = l;
        else
            m->loop_head = l;
        m->loop_tail = l;
        return;
    }
    if (m->nsend == m->capsend) {
        size_t cap = m->capsend ? m->capsend * 2 : 64;
        MPI_Request *r = realloc(m->sreq, cap * sizeof *r);
        if (r)
            m->sreq = r;
        unsigned char **b = r ? realloc(m->sbuf, cap * sizeof *b) : NULL;
        if (!b) {
            free(p);
            fail(m);
            return;
        }
        m->sbuf = b;
        m->capsend = cap;
    }
    if (MPI_Isend(p, (int)n, MPI_BYTE, dest, tag, m->comm, &m->sreq[m->nsend]) != MPI_SUCCESS) {
        free(p);
        fail(m);
        return;
    }
    m->sbuf[m->nsend++] = p;
    count(&m->st_sent, 1);
}

static void send_buf(crew_mpi_t *m, int dest, int tag, buf_t *b)
{
    unsigned char *p = b->p ? b->p : malloc(1);
    size_t n = b->n;
    *b = (buf_t){0};
    if (!p) {
        fail(m);
        return;
    }
    send_msg(m, dest, tag, p, n);
}

/* Free the buffers of the sends MPI has completed. */
static bool reap_sends(crew_mpi_t *m)
{
    if (m->nsend == 0)
        return false;
    bool any = false;
    size_t k = 0;
    for (size_t i = 0; i < m->nsend; i++) {
        int flag = 0;
        if (MPI_Test(&m->sreq[i], &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
            fail(m);
            flag = 0;
        }
        if (flag) {
            free(m->sbuf[i]);
            any = true;
        } else {
            m->sreq[k] = m->sreq[i];
            m->sbuf[k++] = m->sbuf[i];
        }
    }
    m->nsend = k;
    return any;
}

/* ------------------------------------------------------------------------ */
/* Outcomes                                                                 */
/* ------------------------------------------------------------------------ */

/* Queue the outcome of job j for its origin (sent at the end of the round).
 * Frees j. */
static void outcome(crew_mpi_t *m, job_t *j, crew_status_t st, bool removed, int code)
{
    buf_t *b = &m->results[j->origin];
    if (b->n == 0) {
        if (!buf_put(b, &b->count, sizeof b->count))
            goto oom;
        m->dirty[m->ndirty++] = j->origin;
    }
    uint32_t s = (uint32_t)st, rem = removed;
    int32_t c = code, r = m->rank;
    uint64_t ds = j->view.result ? j->view.result_size : 0;
    if (!PUT(b, j->seq) || !PUT(b, j->index) || !PUT(b, s) || !PUT(b, rem) || !PUT(b, c) ||
        !PUT(b, r) || !PUT(b, ds) || !buf_put(b, j->view.result, ds))
        goto oom;
    b->count++;
    memcpy(b->p, &b->count, sizeof b->count);
    if (removed)
        count(&m->st_removed, 1);
    free(j->view.result);
    free(j);
    return;
oom:
    free(j->view.result);
    free(j);
    fail(m);
}

static void flush_results(crew_mpi_t *m)
{
    for (size_t k = 0; k < m->ndirty; k++)
        send_buf(m, m->dirty[k], T_RESULTS, &m->results[m->dirty[k]]);
    m->ndirty = 0;
}

static crew_mpi_batch_t *find_batch(crew_mpi_t *m, uint64_t seq)
{
    for (crew_mpi_batch_t *b = m->batches; b; b = b->next)
        if (b->seq == seq)
            return b;
    return NULL;
}

static bool scope_match(int scope, uint64_t which, uint64_t index, uint32_t group)
{
    return scope == CREW_MPI_CANCEL_BATCH || (scope == CREW_MPI_CANCEL_GROUP && group == which) ||
           (scope == CREW_MPI_CANCEL_JOB && index == which);
}

static void send_cancel_done(crew_mpi_t *m, int dest, uint64_t token)
{
    buf_t b = {0};
    if (!PUT(&b, token)) {
        free(b.p);
        fail(m);
        return;
    }
    send_buf(m, dest, T_CANCEL_DONE, &b);
}

/* One job's outcome reached its origin; m->mu held. The notifies it
 * satisfies are unlinked onto *ready (the caller answers them without the
 * lock). */
static void apply_outcome(crew_mpi_t *m, crew_mpi_batch_t *b, uint64_t i, uint32_t st, bool rem,
                          int code, int rank, void *data, size_t ds, notify_t **ready)
{
    if (i >= b->n || b->status[i] != CREW_TASK_QUEUED) {
        free(data); /* cannot happen with a sane peer: each job reports once */
        return;
    }
    b->status[i] = (uint8_t)st;
    b->removed[i] = rem;
    b->code[i] = code;
    b->rank[i] = rank;
    b->data[i] = data;
    b->dsize[i] = ds;
    b->terminal++;
    if (st == CREW_TASK_DONE) {
        b->done++;
    } else if (st == CREW_TASK_FAILED) {
        if (b->failed++ == 0) {
            b->first_failure = i;
            b->first_failure_rank = rank;
            b->first_failure_code = code;
        }
    } else {
        b->cancelled++;
        b->nremoved += rem;
    }
    for (notify_t **pn = &m->notifies; *pn;) {
        notify_t *n = *pn;
        if (n->seq == b->seq && scope_match(n->scope, n->which, i, b->group[i]) &&
            --n->remaining == 0) {
            *pn = n->next;
            n->next = *ready;
            *ready = n;
        } else {
            pn = &n->next;
        }
    }
    if (b->terminal == b->n)
        pthread_cond_broadcast(&m->wait_cv);
}

static void on_results(crew_mpi_t *m, rd_t *r)
{
    uint32_t n = 0;
    GET(r, n);
    notify_t *ready = NULL;
    pthread_mutex_lock(&m->mu);
    for (uint32_t k = 0; k < n && !r->bad; k++) {
        uint64_t seq = 0, idx = 0, ds = 0;
        uint32_t st = 0, rem = 0;
        int32_t code = 0, rank = 0;
        GET(r, seq);
        GET(r, idx);
        GET(r, st);
        GET(r, rem);
        GET(r, code);
        GET(r, rank);
        GET(r, ds);
        void *data = NULL;
        if (ds && !r->bad && ds <= r->n - r->off && (data = malloc(ds)) != NULL)
            rd_get(r, data, ds);
        else if (ds)
            r->bad = true;
        crew_mpi_batch_t *b = find_batch(m, seq);
        if (b && !r->bad)
            apply_outcome(m, b, idx, st, rem, code, rank, data, ds, &ready);
        else
            free(data);
    }
    pthread_mutex_unlock(&m->mu);
    while (ready) {
        notify_t *nt = ready;
        ready = nt->next;
        send_cancel_done(m, nt->canceller, nt->token);
        free(nt);
    }
    if (r->bad)
        fail(m);
}

/* ------------------------------------------------------------------------ */
/* Cancel marks                                                             */
/* ------------------------------------------------------------------------ */

static marks_t *find_marks(crew_mpi_t *m, int origin, uint64_t seq)
{
    for (marks_t *k = m->marks; k; k = k->next)
        if (k->origin == origin && k->seq == seq)
            return k;
    return NULL;
}

static bool marked(crew_mpi_t *m, const job_t *j)
{
    marks_t *k = find_marks(m, j->origin, j->seq);
    if (!k)
        return false;
    if (k->all)
        return true;
    for (size_t i = 0; i < k->ngroups; i++)
        if (k->groups[i] == j->group)
            return true;
    for (size_t i = 0; i < k->njobs; i++)
        if (k->jobs[i] == j->index)
            return true;
    return false;
}

static bool add_mark(crew_mpi_t *m, int origin, uint64_t seq, int scope, uint64_t which)
{
    marks_t *k = find_marks(m, origin, seq);
    if (!k) {
        if (!(k = calloc(1, sizeof *k)))
            return false;
        k->origin = origin;
        k->seq = seq;
        k->next = m->marks;
        m->marks = k;
    }
    if (scope == CREW_MPI_CANCEL_BATCH) {
        k->all = true;
    } else if (scope == CREW_MPI_CANCEL_GROUP) {
        if (k->ngroups == k->capgroups) {
            size_t cap = k->capgroups ? k->capgroups * 2 : 4;
            uint32_t *g = realloc(k->groups, cap * sizeof *g);
            if (!g)
                return false;
            k->groups = g;
            k->capgroups = cap;
        }
        k->groups[k->ngroups++] = (uint32_t)which;
    } else {
        if (k->njobs == k->capjobs) {
            size_t cap = k->capjobs ? k->capjobs * 2 : 4;
            uint64_t *v = realloc(k->jobs, cap * sizeof *v);
            if (!v)
                return false;
            k->jobs = v;
            k->capjobs = cap;
        }
        k->jobs[k->njobs++] = which;
    }
    return true;
}

static void free_marks(marks_t *k)
{
    free(k->groups);
    free(k->jobs);
    free(k);
}

static void on_forget(crew_mpi_t *m, rd_t *r)
{
    int32_t origin = 0;
    uint64_t seq = 0;
    GET(r, origin);
    GET(r, seq);
    for (marks_t **pk = &m->marks; *pk; pk = &(*pk)->next) {
        if ((*pk)->origin == origin && (*pk)->seq == seq) {
            marks_t *k = *pk;
            *pk = k->next;
            free_marks(k);
            return;
        }
    }
}

/* Register, at the origin, a cancel that waits for its jobs. */
static void register_notify(crew_mpi_t *m, uint64_t seq, int scope, uint64_t which, int canceller,
                            uint64_t token)
{
    notify_t *n = calloc(1, sizeof *n);
    if (!n) {
        fail(m);
        return;
    }
    *n = (notify_t){
        .seq = seq, .scope = scope, .which = which, .canceller = canceller, .token = token};
    pthread_mutex_lock(&m->mu);
    crew_mpi_batch_t *b = find_batch(m, seq);
    for (uint64_t i = 0; b && i < b->n; i++)
        if (b->status[i] == CREW_TASK_QUEUED && scope_match(scope, which, i, b->group[i]))
            n->remaining++;
    if (n->remaining) {
        n->next = m->notifies;
        m->notifies = n;
        n = NULL;
    }
    pthread_mutex_unlock(&m->mu);
    if (n) { /* nothing left to wait for: a freed, unknown or finished batch */
        send_cancel_done(m, canceller, token);
        free(n);
    }
}

static void on_cancel(crew_mpi_t *m, rd_t *r)
{
    int32_t origin = 0, canceller = 0;
    uint64_t seq = 0, which = 0, token = 0;
    uint32_t scope = 0;
    GET(r, origin);
    GET(r, seq);
    GET(r, scope);
    GET(r, which);
    GET(r, token);
    GET(r, canceller);
    if (r->bad) {
        fail(m);
        return;
    }
    if (origin == m->rank) {
        pthread_mutex_lock(&m->mu);
        crew_mpi_batch_t *b = find_batch(m, seq);
        if (b)
            b->cancelled_ever = true;
        pthread_mutex_unlock(&m->mu);
        if (token)
            register_notify(m, seq, (int)scope, which, canceller, token);
        if (!b)
            return; /* freed or unknown: no job of it exists anywhere */
    }
    if (!add_mark(m, origin, seq, (int)scope, which)) {
        fail(m);
        return;
    }
    /* Queued here: removed, never run. Handed to crew: crew_cancel()
     * removes a queued task (its cleanup hands it back through m->done) or
     * requests a running one; a job whose crew_submit_ex() has not returned
     * yet is cancelled by its submitter (cancel_pending). */
    jlist_t gone = {0};
    crew_id_t *ids = NULL;
    size_t nids = 0, cap = 0;
    pthread_mutex_lock(&m->qmu);
    for (job_t *j = m->queue.head, *nx; j; j = nx) {
        nx = j->next;
        if (j->origin == origin && j->seq == seq && scope_match(scope, which, j->index, j->group)) {
            jl_remove(&m->queue, j);
            jl_push(&gone, j);
        }
    }
    for (job_t *j = m->window_list.head; j; j = j->next) {
        if (j->origin != origin || j->seq != seq || !scope_match(scope, which, j->index, j->group))
            continue;
        if (!j->id_set) {
            j->cancel_pending = true;
            continue;
        }
        if (nids == cap) {
            crew_id_t *v = realloc(ids, (cap = cap ? cap * 2 : 16) * sizeof *v);
            if (!v) {
                pthread_mutex_unlock(&m->qmu);
                free(ids);
                fail(m);
                return;
            }
            ids = v;
        }
        ids[nids++] = j->id;
    }
    pthread_mutex_unlock(&m->qmu);
    for (size_t i = 0; i < nids; i++)
        crew_cancel(m->ex, ids[i], CREW_ECANCELED, "crew_mpi cancel");
    free(ids);
    while (gone.head) {
        job_t *j = gone.head;
        jl_remove(&gone, j);
        outcome(m, j, CREW_TASK_CANCELLED, true, 0);
    }
}

static void on_cancel_done(crew_mpi_t *m, rd_t *r)
{
    uint64_t id = 0;
    GET(r, id);
    pthread_mutex_lock(&m->mu);
    for (token_t **pt = &m->tokens; *pt; pt = &(*pt)->next) {
        if ((*pt)->id == id) {
            token_t *t = *pt;
            if (t->abandoned) {
                *pt = t->next;
                free(t);
            } else {
                t->done = true;
                pthread_cond_broadcast(&m->wait_cv);
            }
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
}

/* ------------------------------------------------------------------------ */
/* Jobs: arrival, the crew task, completion                                 */
/* ------------------------------------------------------------------------ */

static int job_body(void *arg)
{
    job_t *j = arg;
    crew_mpi_t *m = j->m;
    j->ran = true;
    count(&m->st_run, 1);
    if (j->fn >= m->nfns || m->fns[j->fn].hash != j->fnhash)
        j->rc = CREW_MPI_ENOFN;
    else
        j->rc = m->fns[j->fn].fn(&j->view);
    return j->rc;
}

static void submit_job(crew_mpi_t *m, job_t *j);

/* Take the next queued job into the window, if there is room; m->qmu held. */
static job_t *take_next_locked(crew_mpi_t *m)
{
    if (m->window_list.n >= m->window || !m->queue.head)
        return NULL;
    job_t *j = m->queue.head;
    jl_remove(&m->queue, j);
    jl_push(&m->window_list, j);
    return j;
}

/* Hand a finished job (or one crew refused) back to the progress context. */
static void give_back(crew_mpi_t *m, job_t *j)
{
    pthread_mutex_lock(&m->mu);
    j->done_next = m->done;
    m->done = j;
    kick_locked(m);
    pthread_mutex_unlock(&m->mu);
}

/* Runs once per job, after the body or when crew removed the task: leave
 * the window, start the next queued job in its place, and hand this one
 * back (unless its submitter has not seen crew_submit_ex() return yet: then
 * the submitter hands it back). */
static void job_cleanup(void *arg)
{
    job_t *j = arg;
    crew_mpi_t *m = j->m;
    pthread_mutex_lock(&m->qmu);
    jl_remove(&m->window_list, j);
    j->ended = true;
    bool mine = j->id_set;
    job_t *next = take_next_locked(m);
    pthread_mutex_unlock(&m->qmu);
    if (mine)
        give_back(m, j);
    if (next)
        submit_job(m, next);
}

/* Hand job j (already in the window) to crew; if crew refuses it, report
 * it and go on with the next queued job. */
static void submit_job(crew_mpi_t *m, job_t *j)
{
    while (j) {
        crew_task_desc_t d = {
            .fn = job_body, .arg = j, .cleanup = job_cleanup, .flags = CREW_TASK_ISOLATED};
        crew_id_t id = 0;
        int rc = crew_submit_ex(m->ex, &d, &id);
        bool cancel = false, ended;
        job_t *next = NULL;
        pthread_mutex_lock(&m->qmu);
        if (rc != 0) {
            /* Refused (cleanup not called): it never entered crew. */
            jl_remove(&m->window_list, j);
            j->submit_err = rc;
            ended = true;
            next = take_next_locked(m);
        } else {
            j->id = id;
            j->id_set = true;
            cancel = j->cancel_pending && !j->ended;
            ended = j->ended;
        }
        pthread_mutex_unlock(&m->qmu);
        if (cancel)
            crew_cancel(m->ex, id, CREW_ECANCELED, "crew_mpi cancel");
        if (ended)
            give_back(m, j);
        j = next;
    }
}

static void arrive(crew_mpi_t *m, job_t *j)
{
    count(&m->st_received, 1);
    if (marked(m, j)) {
        outcome(m, j, CREW_TASK_CANCELLED, true, 0);
        return;
    }
    pthread_mutex_lock(&m->qmu);
    jl_push(&m->queue, j);
    pthread_mutex_unlock(&m->qmu);
}

static job_t *read_job(crew_mpi_t *m, rd_t *r)
{
    int32_t origin = 0;
    uint64_t seq = 0, index = 0, size = 0;
    uint32_t fn = 0, fnhash = 0, group = 0;
    GET(r, origin);
    GET(r, seq);
    GET(r, index);
    GET(r, fn);
    GET(r, fnhash);
    GET(r, group);
    GET(r, size);
    if (r->bad || size > r->n - r->off || origin < 0 || origin >= m->size)
        return NULL;
    job_t *j = malloc(sizeof *j + size);
    if (!j)
        return NULL;
    memset(j, 0, sizeof *j);
    j->m = m;
    j->origin = origin;
    j->seq = seq;
    j->index = index;
    j->fn = fn;
    j->fnhash = fnhash;
    j->group = group;
    j->size = size;
    rd_get(r, j->payload, size);
    j->view = (crew_mpi_job_t){.payload = j->payload,
                               .size = size,
                               .batch = ((uint64_t)origin << SEQ_BITS) | seq,
                               .index = index,
                               .group = group,
                               .origin = origin,
                               .rank = m->rank,
                               .mpi = m};
    return j;
}

static bool write_job(buf_t *b, const job_t *j)
{
    int32_t origin = j->origin;
    uint64_t size = j->size;
    return PUT(b, origin) && PUT(b, j->seq) && PUT(b, j->index) && PUT(b, j->fn) &&
           PUT(b, j->fnhash) && PUT(b, j->group) && PUT(b, size) && buf_put(b, j->payload, size);
}

static void on_jobs(crew_mpi_t *m, int src, rd_t *r)
{
    uint32_t steal_reply = 0, n = 0;
    GET(r, steal_reply);
    GET(r, n);
    for (uint32_t k = 0; k < n; k++) {
        job_t *j = read_job(m, r);
        if (!j) {
            fail(m);
            return;
        }
        arrive(m, j);
    }
    if (n)
        m->active = true;
    if (steal_reply) {
        m->steal_out = false;
        if (n) {
            m->last_victim = src;
            count(&m->st_hits, 1);
            count(&m->st_stolen, n);
            m->steal_fails = 0;
            m->steal_backoff = STEAL_MIN_NS;
        } else {
            m->last_victim = -1;
            if (++m->steal_fails >= STEAL_FAILS_MIN + 4 * (unsigned)(m->size - 1))
                m->active = false; /* dormant until jobs reach us again */
            m->next_steal = now_ns() + m->steal_backoff;
            if ((m->steal_backoff *= 2) > STEAL_MAX_NS)
                m->steal_backoff = STEAL_MAX_NS;
        }
    }
}

/* A thief asks: give up to half of the queue, from its tail (the jobs this
 * rank would reach last). To a thief with nothing running (its request
 * says how many jobs it has in crew) the odd one goes too, so a last queued
 * job moves to an idle rank; between two busy ranks it stays. */
static void on_steal(crew_mpi_t *m, int thief, rd_t *r)
{
    uint32_t thief_running = 0;
    GET(r, thief_running);
    buf_t b = {0};
    uint32_t one = 1, n = 0;
    bool ok = PUT(&b, one) && PUT(&b, n);
    pthread_mutex_lock(&m->qmu);
    size_t k = thief_running == 0 ? (m->queue.n + 1) / 2 : m->queue.n / 2;
    job_t *j = m->queue.tail;
    while (ok && n < k && j) {
        job_t *prev = j->prev;
        if (!(ok = write_job(&b, j)))
            break;
        jl_remove(&m->queue, j);
        free(j);
        n++;
        j = prev;
    }
    pthread_mutex_unlock(&m->qmu);
    if (!ok) {
        free(b.p);
        fail(m);
        return;
    }
    memcpy(b.p + sizeof one, &n, sizeof n);
    count(&m->st_given, n);
    send_buf(m, thief, T_JOBS, &b);
}

static void handle(crew_mpi_t *m, int src, int tag, const unsigned char *p, size_t n)
{
    rd_t r = {.p = p, .n = n};
    switch (tag) {
    case T_JOBS:
        on_jobs(m, src, &r);
        break;
    case T_STEAL:
        on_steal(m, src, &r);
        break;
    case T_RESULTS:
        on_results(m, &r);
        break;
    case T_CANCEL:
        on_cancel(m, &r);
        break;
    case T_CANCEL_DONE:
        on_cancel_done(m, &r);
        break;
    case T_FORGET:
        on_forget(m, &r);
        break;
    default:
        fail(m);
    }
}

/* Hand queued jobs to crew until the window is full (the cleanups keep it
 * full while jobs end; this fills it when jobs arrive). */
static bool top_up(crew_mpi_t *m)
{
    bool any = false;
    for (;;) {
        pthread_mutex_lock(&m->qmu);
        job_t *j = take_next_locked(m);
        pthread_mutex_unlock(&m->qmu);
        if (!j)
            return any;
        submit_job(m, j);
        any = true;
    }
}

/* Jobs whose crew task is over: join it (the final status is crew's: a
 * cancel that reached the body makes it CANCELLED whatever it returned) and
 * report the outcome. */
static bool reap_done(crew_mpi_t *m)
{
    pthread_mutex_lock(&m->mu);
    job_t *j = m->done;
    m->done = NULL;
    pthread_mutex_unlock(&m->mu);
    bool any = j != NULL;
    while (j) {
        job_t *nx = j->done_next;
        crew_status_t st = CREW_TASK_FAILED;
        int rc = j->submit_err ? j->submit_err : crew_join(m->ex, j->id, &st);
        if (rc != 0)
            outcome(m, j, CREW_TASK_FAILED, false, rc);
        else
            outcome(m, j, st, !j->ran, j->ran ? j->rc : 0);
        j = nx;
    }
    return any;
}

static void maybe_steal(crew_mpi_t *m)
{
    if (m->size < 2 || !m->active || m->steal_out || m->no_steal || now_ns() < m->next_steal)
        return;
    /* Ask as soon as nothing is queued here, while the window still runs:
     * the answer's round trip then overlaps the last jobs. */
    pthread_mutex_lock(&m->qmu);
    bool dry = !m->queue.n;
    uint32_t running = (uint32_t)m->window_list.n;
    pthread_mutex_unlock(&m->qmu);
    if (!dry)
        return;
    int victim = m->last_victim;
    if (victim < 0) {
        victim = (int)(xorshift(&m->rng) % (uint64_t)(m->size - 1));
        if (victim >= m->rank)
            victim++;
    }
    unsigned char *p = malloc(sizeof running);
    if (!p) {
        fail(m);
        return;
    }
    memcpy(p, &running, sizeof running);
    m->steal_out = true;
    count(&m->st_asks, 1);
    send_msg(m, victim, T_STEAL, p, sizeof running);
}

/* ------------------------------------------------------------------------ */
/* Commands from user threads                                               */
/* ------------------------------------------------------------------------ */

static void distribute(crew_mpi_t *m, crew_mpi_batch_t *b)
{
    uint64_t P = (uint64_t)m->size;
    for (uint64_t r = 0; r < P; r++) {
        uint64_t lo = r * b->n / P, hi = (r + 1) * b->n / P;
        if (lo == hi)
            continue;
        buf_t buf = {0};
        uint32_t zero = 0, n = (uint32_t)(hi - lo);
        bool ok = PUT(&buf, zero) && PUT(&buf, n);
        for (uint64_t i = lo; ok && i < hi; i++)
            ok = write_job(&buf, b->jobs[i]);
        if (!ok) {
            free(buf.p);
            fail(m);
            break;
        }
        send_buf(m, (int)r, T_JOBS, &buf);
    }
    for (uint64_t i = 0; i < b->n; i++)
        free(b->jobs[i]);
    free(b->jobs);
    b->jobs = NULL;
}

static void broadcast_cancel(crew_mpi_t *m, const cmd_t *c)
{
    for (int r = 0; r < m->size; r++) {
        buf_t b = {0};
        int32_t origin = c->origin, canceller = m->rank;
        uint32_t scope = (uint32_t)c->scope;
        uint64_t token = r == c->origin ? c->token : 0;
        if (!PUT(&b, origin) || !PUT(&b, c->seq) || !PUT(&b, scope) || !PUT(&b, c->which) ||
            !PUT(&b, token) || !PUT(&b, canceller)) {
            free(b.p);
            fail(m);
            return;
        }
        send_buf(m, r, T_CANCEL, &b);
    }
}

static void broadcast_forget(crew_mpi_t *m, const cmd_t *c)
{
    for (int r = 0; r < m->size; r++) {
        buf_t b = {0};
        int32_t origin = c->origin;
        if (!PUT(&b, origin) || !PUT(&b, c->seq)) {
            free(b.p);
            fail(m);
            return;
        }
        send_buf(m, r, T_FORGET, &b);
    }
}

static bool run_commands(crew_mpi_t *m)
{
    pthread_mutex_lock(&m->mu);
    cmd_t *c = m->cmd_head;
    m->cmd_head = m->cmd_tail = NULL;
    pthread_mutex_unlock(&m->mu);
    bool any = c != NULL;
    while (c) {
        cmd_t *nx = c->next;
        if (c->kind == CMD_SUBMIT)
            distribute(m, c->b);
        else if (c->kind == CMD_CANCEL)
            broadcast_cancel(m, c);
        else
            broadcast_forget(m, c);
        free(c);
        c = nx;
    }
    return any;
}

static void push_cmd_locked(crew_mpi_t *m, cmd_t *c)
{
    c->next = NULL;
    if (m->cmd_tail)
        m->cmd_tail->next = c;
    else
        m->cmd_head = c;
    m->cmd_tail = c;
    kick_locked(m);
}

/* ------------------------------------------------------------------------ */
/* The pump                                                                 */
/* ------------------------------------------------------------------------ */

static bool receive(crew_mpi_t *m)
{
    bool any = false;
    for (int k = 0; k < RECV_PER_ROUND; k++) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, m->comm, &flag, &st) != MPI_SUCCESS) {
            fail(m);
            return any;
        }
        if (!flag)
            break;
        int n = 0;
        MPI_Get_count(&st, MPI_BYTE, &n);
        unsigned char *p = malloc(n > 0 ? (size_t)n : 1);
        if (!p) {
            fail(m);
            return any;
        }
        if (MPI_Recv(p, n, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, m->comm, MPI_STATUS_IGNORE) !=
            MPI_SUCCESS) {
            free(p);
            fail(m);
            return any;
        }
        count(&m->st_recv, 1);
        handle(m, st.MPI_SOURCE, st.MPI_TAG, p, (size_t)n);
        free(p);
        any = true;
    }
    return any;
}

static bool run_loopback(crew_mpi_t *m)
{
    bool any = false;
    while (m->loop_head) {
        loop_msg_t *l = m->loop_head;
        if (!(m->loop_head = l->next))
            m->loop_tail = NULL;
        handle(m, m->rank, l->tag, l->p, l->n);
        free(l->p);
        free(l);
        any = true;
    }
    return any;
}

/* One round of progress. Returns whether anything happened. */
static bool pump(crew_mpi_t *m)
{
    bool any = run_commands(m);
    any |= reap_done(m);
    any |= receive(m);
    do {
        any |= run_loopback(m);
        any |= top_up(m);
        maybe_steal(m);
        flush_results(m);
    } while (m->loop_head);
    any |= reap_sends(m);
    return any;
}

/* The cap of the idle backoff now (see IDLE_BUSY_NS). Progress context. */
static int64_t idle_cap(crew_mpi_t *m)
{
    pthread_mutex_lock(&m->qmu);
    bool busy = m->queue.n || m->window_list.n;
    pthread_mutex_unlock(&m->qmu);
    return busy || m->steal_out || m->active ? IDLE_BUSY_NS : IDLE_MAX_NS;
}

static int64_t next_idle(crew_mpi_t *m, int64_t idle, int64_t cap)
{
    if (m->kick)
        return IDLE_MIN_NS;
    return idle * 2 > cap ? cap : idle * 2;
}

/* Sleep until kicked or `ns` passed; m->mu held. */
static void idle_wait_locked(crew_mpi_t *m, int64_t ns)
{
    if (!m->kick && !m->stop) {
        struct timespec ts = abs_after(ns);
        pthread_cond_timedwait(&m->prog_cv, &m->mu, &ts);
    }
}

static void *progress_main(void *arg)
{
    crew_mpi_t *m = arg;
    int64_t idle = IDLE_MIN_NS;
    for (;;) {
        bool any = pump(m);
        int64_t cap = idle_cap(m);
        pthread_mutex_lock(&m->mu);
        if (m->stop) {
            pthread_mutex_unlock(&m->mu);
            return NULL;
        }
        if (any || m->kick) {
            idle = IDLE_MIN_NS;
        } else {
            idle_wait_locked(m, idle < cap ? idle : cap);
            idle = next_idle(m, idle, cap);
        }
        m->kick = false;
        pthread_mutex_unlock(&m->mu);
    }
}

/* Wait, m->mu held, until done(m, arg) or the deadline (INT64_MAX: none).
 * With no progress thread, the init thread pumps while it waits. */
static int wait_until(crew_mpi_t *m, bool (*done)(crew_mpi_t *, void *), void *arg,
                      int64_t deadline)
{
    bool pumper = !m->thread_mode && pthread_equal(pthread_self(), m->init_thread);
    int64_t idle = IDLE_MIN_NS;
    for (;;) {
        if (done(m, arg))
            return 0;
        if (m->failed)
            return m->failed;
        int64_t left = deadline == INT64_MAX ? INT64_MAX : deadline - now_ns();
        if (left <= 0)
            return CREW_ETIMEDOUT;
        if (pumper) {
            pthread_mutex_unlock(&m->mu);
            bool any = pump(m);
            int64_t cap = idle_cap(m);
            pthread_mutex_lock(&m->mu);
            if (any || m->kick || done(m, arg)) {
                idle = IDLE_MIN_NS;
            } else {
                idle = idle < cap ? idle : cap;
                idle_wait_locked(m, idle < left ? idle : left);
                idle = next_idle(m, idle, cap);
            }
            m->kick = false;
        } else if (deadline == INT64_MAX) {
            pthread_cond_wait(&m->wait_cv, &m->mu);
        } else {
            struct timespec ts = abs_after(left);
            pthread_cond_timedwait(&m->wait_cv, &m->mu, &ts);
        }
    }
}

static int deadline_of(int64_t timeout_ns, int64_t *deadline)
{
    if (timeout_ns == CREW_FOREVER) {
        *deadline = INT64_MAX;
        return 0;
    }
    if (timeout_ns < 0 || timeout_ns > CREW_TIMEOUT_MAX_NS)
        return CREW_EINVAL;
    *deadline = now_ns() + timeout_ns;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Init and finalize                                                        */
/* ------------------------------------------------------------------------ */

static void free_fns(fnent_t *f, size_t n)
{
    for (size_t i = 0; f && i < n; i++)
        free(f[i].name);
    free(f);
}

static int check_opts(const crew_mpi_options_t *o)
{
    if (o->size < sizeof(size_t) || o->size > 4 * sizeof *o)
        return CREW_EINVAL;
    crew_mpi_options_t d = {0};
    memcpy(&d, o, o->size < sizeof d ? o->size : sizeof d);
    if (d.nfns > 65536 || (d.nfns && !d.fns) || d.window > 65536 ||
        (d.flags & ~CREW_MPI_OPT_FUNNELED))
        return CREW_EINVAL;
    for (size_t i = 0; i < d.nfns; i++)
        if (!d.fns[i].name || !d.fns[i].fn)
            return CREW_EINVAL;
    return 0;
}

static int init_mpi(crew_mpi_t *m, int *argc, char ***argv, bool funneled)
{
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        int want = funneled ? MPI_THREAD_FUNNELED : MPI_THREAD_MULTIPLE;
        if (MPI_Init_thread(argc, argv, want, &m->level) != MPI_SUCCESS)
            return CREW_MPI_ECOMM;
        m->we_init = true;
    } else {
        MPI_Query_thread(&m->level);
    }
    if (m->level < MPI_THREAD_FUNNELED)
        return CREW_MPI_ECOMM;
    if (MPI_Comm_dup(MPI_COMM_WORLD, &m->comm) != MPI_SUCCESS)
        return CREW_MPI_ECOMM;
    MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(m->comm, &m->rank);
    MPI_Comm_size(m->comm, &m->size);
    m->thread_mode = m->multi = m->level >= MPI_THREAD_MULTIPLE && !funneled;
    return 0;
}

/* Every rank must have the same table: compare a hash of the names. */
static int check_tables(crew_mpi_t *m)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < m->nfns; i++)
        h = (h ^ m->fns[i].hash) * 1099511628211ull;
    h ^= m->nfns;
    uint64_t v[2] = {h, ~h}, mx[2];
    if (MPI_Allreduce(v, mx, 2, MPI_UINT64_T, MPI_MAX, m->comm) != MPI_SUCCESS)
        return CREW_MPI_ECOMM;
    return mx[0] == h && ~mx[1] == h ? 0 : CREW_EINVAL;
}

static void destroy_local(crew_mpi_t *m)
{
    if (m->ex)
        crew_destroy(&m->ex);
    while (m->batches) {
        crew_mpi_batch_t *b = m->batches;
        m->batches = b->next;
        for (uint64_t i = 0; i < b->n; i++)
            free(b->data[i]);
        free(b->status);
        free(b->removed);
        free(b->code);
        free(b->rank);
        free(b->data);
        free(b->dsize);
        free(b->group);
        free(b);
    }
    while (m->marks) {
        marks_t *k = m->marks;
        m->marks = k->next;
        free_marks(k);
    }
    while (m->notifies) {
        notify_t *n = m->notifies;
        m->notifies = n->next;
        free(n);
    }
    while (m->tokens) {
        token_t *t = m->tokens;
        m->tokens = t->next;
        free(t);
    }
    while (m->cmd_head) {
        cmd_t *c = m->cmd_head;
        m->cmd_head = c->next;
        free(c);
    }
    while (m->loop_head) {
        loop_msg_t *l = m->loop_head;
        m->loop_head = l->next;
        free(l->p);
        free(l);
    }
    for (size_t i = 0; i < m->nsend; i++)
        free(m->sbuf[i]);
    for (int r = 0; m->results && r < m->size; r++)
        free(m->results[r].p);
    free(m->results);
    free(m->dirty);
    free(m->sreq);
    free(m->sbuf);
    free_fns(m->fns, m->nfns);
    pthread_cond_destroy(&m->prog_cv);
    pthread_cond_destroy(&m->wait_cv);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->qmu);
    free(m);
}

int crew_mpi_init(int *argc, char ***argv, const crew_mpi_options_t *opts, crew_mpi_t **out)
{
    if (out)
        *out = NULL;
    crew_mpi_options_t o = {.size = sizeof o};
    if (!out)
        return CREW_EINVAL;
    if (opts) {
        int rc = check_opts(opts);
        if (rc)
            return rc;
        memcpy(&o, opts, opts->size < sizeof o ? opts->size : sizeof o);
    }
    crew_mpi_t *m = calloc(1, sizeof *m);
    if (!m)
        return CREW_ENOMEM;
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->qmu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->prog_cv, &ca);
    pthread_cond_init(&m->wait_cv, &ca);
    pthread_condattr_destroy(&ca);
    m->init_thread = pthread_self();
    m->comm = MPI_COMM_NULL;
    m->next_seq = 1;
    m->next_token = 1;
    m->steal_backoff = STEAL_MIN_NS;
    m->last_victim = -1;
    int rc = 0;
    if (o.nfns && !(m->fns = calloc(o.nfns, sizeof *m->fns)))
        rc = CREW_ENOMEM;
    for (size_t i = 0; !rc && i < o.nfns; i++, m->nfns++) {
        if (!(m->fns[i].name = strdup(o.fns[i].name))) {
            rc = CREW_ENOMEM;
            break;
        }
        m->fns[i].fn = o.fns[i].fn;
        m->fns[i].hash = fnv1a(o.fns[i].name);
    }
    if (!rc)
        rc = init_mpi(m, argc, argv, o.flags & CREW_MPI_OPT_FUNNELED);
    if (!rc && (!(m->results = calloc((size_t)m->size, sizeof *m->results)) ||
                !(m->dirty = calloc((size_t)m->size, sizeof *m->dirty))))
        rc = CREW_ENOMEM;
    if (!rc)
        rc = check_tables(m);
    if (!rc) {
        crew_options_t co = {.size = sizeof co, .workers = o.workers};
        rc = crew_create(&m->ex, &co);
    }
    if (!rc) {
        unsigned w = crew_workers(m->ex);
        m->window = o.window ? o.window : 2 * w;
        m->rng = o.seed ? o.seed : 0x9E3779B97F4A7C15ull * (uint64_t)(m->rank + 1);
        if (m->thread_mode && pthread_create(&m->progress, NULL, progress_main, m) != 0)
            rc = CREW_ETHREAD;
    }
    if (rc) {
        if (m->comm != MPI_COMM_NULL)
            MPI_Comm_free(&m->comm);
        destroy_local(m);
        return rc;
    }
    *out = m;
    return 0;
}

static bool own_batches_finished(crew_mpi_t *m, void *arg)
{
    (void)arg;
    for (crew_mpi_batch_t *b = m->batches; b; b = b->next)
        if (b->terminal < b->n)
            return false;
    return true;
}

/* Pump on this thread until cond(m) (m->mu not held) or a failure. */
static int pump_until(crew_mpi_t *m, bool (*cond)(crew_mpi_t *))
{
    int64_t idle = IDLE_MIN_NS;
    while (!cond(m)) {
        bool any = pump(m);
        int64_t cap = idle_cap(m);
        pthread_mutex_lock(&m->mu);
        int failed = m->failed;
        if (!any && !failed) {
            idle = idle < cap ? idle : cap;
            idle_wait_locked(m, idle);
            idle = next_idle(m, idle, cap);
        } else {
            idle = IDLE_MIN_NS;
        }
        m->kick = false;
        pthread_mutex_unlock(&m->mu);
        if (failed)
            return failed;
    }
    return 0;
}

static bool barrier_done(crew_mpi_t *m)
{
    int flag = 0;
    if (MPI_Test(&m->barrier, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
        fail(m);
        return true;
    }
    return flag != 0;
}

/* Quiescence of the communicator, in the steps of doc/mpi.md:
 * 1. every batch this rank submitted is finished (each job reported once);
 *    meanwhile this rank serves and steals like any other;
 * 2. a non-blocking barrier, pumping (and stealing) meanwhile: once it
 *    completes every rank is past step 1, so every batch everywhere is
 *    finished and no job exists anywhere; what may still be in flight are
 *    one-shot messages that ask at most one answer each (steal requests
 *    and their empty answers, cancel marks, forgets, cancel answers);
 * 3. no more steal requests from here; the four-counter check: the sums of
 *    sent and received messages over all ranks, by MPI_Allreduce, until
 *    they are equal, draining in between. The collective is a consistent
 *    cut (no rank sends while inside it, and a message is handled, its
 *    answer sent, in the pump round that receives it), so equal sums mean
 *    nothing is in flight and nothing is left to answer. */
static int quiesce(crew_mpi_t *m)
{
    pthread_mutex_lock(&m->mu);
    int rc = wait_until(m, own_batches_finished, NULL, INT64_MAX);
    pthread_mutex_unlock(&m->mu);
    if (rc)
        return rc;
    if (MPI_Ibarrier(m->comm, &m->barrier) != MPI_SUCCESS)
        return CREW_MPI_ECOMM;
    if ((rc = pump_until(m, barrier_done)) != 0)
        return rc;
    m->no_steal = true;
    for (;;) {
        long long v[2] = {(long long)atomic_load_explicit(&m->st_sent, memory_order_relaxed),
                          (long long)atomic_load_explicit(&m->st_recv, memory_order_relaxed)},
                  s[2];
        /* relaxed loads: this thread is the only writer now */
        if (MPI_Allreduce(v, s, 2, MPI_LONG_LONG, MPI_SUM, m->comm) != MPI_SUCCESS)
            return CREW_MPI_ECOMM;
        if (s[0] == s[1])
            break;
        pump(m);
    }
    if (m->nsend && MPI_Waitall((int)m->nsend, m->sreq, MPI_STATUSES_IGNORE) != MPI_SUCCESS)
        return CREW_MPI_ECOMM;
    for (size_t i = 0; i < m->nsend; i++)
        free(m->sbuf[i]);
    m->nsend = 0;
    return 0;
}

int crew_mpi_finalize(crew_mpi_t **mp)
{
    if (!mp || !*mp)
        return CREW_EINVAL;
    crew_mpi_t *m = *mp;
    *mp = NULL;
    pthread_mutex_lock(&m->mu);
    m->closing = true;
    if (m->thread_mode) {
        m->stop = true;
        pthread_cond_signal(&m->prog_cv);
    }
    pthread_mutex_unlock(&m->mu);
    if (m->thread_mode)
        pthread_join(m->progress, NULL);
    /* From here on this thread is the progress context. */
    m->thread_mode = false;
    m->stop = false;
    m->init_thread = pthread_self();
    int rc = m->failed ? m->failed : quiesce(m);
    if (rc == 0 && MPI_Comm_free(&m->comm) != MPI_SUCCESS)
        rc = CREW_MPI_ECOMM;
    bool we_init = m->we_init;
    destroy_local(m);
    if (we_init && rc == 0)
        MPI_Finalize();
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                */
/* ------------------------------------------------------------------------ */

int crew_mpi_rank(const crew_mpi_t *m) { return m ? m->rank : -1; }
int crew_mpi_size(const crew_mpi_t *m) { return m ? m->size : 0; }
crew_t *crew_mpi_executor(const crew_mpi_t *m) { return m ? m->ex : NULL; }
int crew_mpi_thread_level(const crew_mpi_t *m) { return m ? m->level : -1; }
uint64_t crew_mpi_batch_id(const crew_mpi_batch_t *b) { return b ? b->id : 0; }

int crew_mpi_fn_index(const crew_mpi_t *m, const char *name)
{
    if (!m || !name)
        return CREW_EINVAL;
    for (size_t i = 0; i < m->nfns; i++)
        if (strcmp(m->fns[i].name, name) == 0)
            return (int)i;
    return CREW_EINVAL;
}

int crew_mpi_stats(crew_mpi_t *m, crew_mpi_stats_t *s)
{
    if (!m || !s || s->size < sizeof *s)
        return CREW_EINVAL;
        /* relaxed loads: statistics, no ordering needed */
#define LD(f) atomic_load_explicit(&m->f, memory_order_relaxed)
    *s = (crew_mpi_stats_t){.size = s->size,
                            .jobs_received = LD(st_received),
                            .jobs_run = LD(st_run),
                            .jobs_removed = LD(st_removed),
                            .steal_asks = LD(st_asks),
                            .steal_hits = LD(st_hits),
                            .jobs_stolen = LD(st_stolen),
                            .jobs_given = LD(st_given),
                            .msgs_sent = LD(st_sent),
                            .msgs_received = LD(st_recv)};
#undef LD
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Batches                                                                  */
/* ------------------------------------------------------------------------ */

static void free_batch(crew_mpi_batch_t *b)
{
    if (b->jobs)
        for (uint64_t i = 0; i < b->n; i++)
            free(b->jobs[i]);
    for (uint64_t i = 0; b->data && i < b->n; i++)
        free(b->data[i]);
    free(b->jobs);
    free(b->status);
    free(b->removed);
    free(b->code);
    free(b->rank);
    free(b->data);
    free(b->dsize);
    free(b->group);
    free(b);
}

static crew_mpi_batch_t *new_batch(crew_mpi_t *m, size_t n)
{
    crew_mpi_batch_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    size_t k = n ? n : 1;
    b->m = m;
    b->n = n;
    b->first_failure_rank = -1;
    b->jobs = calloc(k, sizeof *b->jobs);
    b->status = calloc(k, 1);
    b->removed = calloc(k, 1);
    b->code = calloc(k, sizeof *b->code);
    b->rank = malloc(k * sizeof *b->rank);
    b->data = calloc(k, sizeof *b->data);
    b->dsize = calloc(k, sizeof *b->dsize);
    b->group = calloc(k, sizeof *b->group);
    if (!b->jobs || !b->status || !b->removed || !b->code || !b->rank || !b->data || !b->dsize ||
        !b->group) {
        free_batch(b);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        b->rank[i] = -1;
    return b;
}

int crew_mpi_submit(crew_mpi_t *m, const crew_mpi_job_desc_t *jobs, size_t n,
                    crew_mpi_batch_t **out)
{
    if (out)
        *out = NULL;
    if (!m || !out || (!jobs && n) || (uint64_t)n > UINT32_MAX)
        return CREW_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (jobs[i].fn >= m->nfns || (!jobs[i].payload && jobs[i].size) ||
            jobs[i].size > PAYLOAD_MAX)
            return CREW_EINVAL;
    crew_mpi_batch_t *b = new_batch(m, n);
    cmd_t *c = calloc(1, sizeof *c);
    if (!b || !c) {
        free(c);
        if (b)
            free_batch(b);
        return CREW_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        job_t *j = malloc(sizeof *j + jobs[i].size);
        if (!j) {
            free(c);
            free_batch(b);
            return CREW_ENOMEM;
        }
        memset(j, 0, sizeof *j);
        j->m = m;
        j->origin = m->rank;
        j->index = i;
        j->fn = jobs[i].fn;
        j->fnhash = m->fns[jobs[i].fn].hash;
        j->group = jobs[i].group;
        j->size = jobs[i].size;
        if (jobs[i].size)
            memcpy(j->payload, jobs[i].payload, jobs[i].size);
        b->jobs[i] = j;
        b->group[i] = jobs[i].group;
    }
    pthread_mutex_lock(&m->mu);
    int rc = m->closing ? CREW_ESHUTDOWN : m->failed;
    if (rc) {
        pthread_mutex_unlock(&m->mu);
        free(c);
        free_batch(b);
        return rc;
    }
    b->seq = m->next_seq++;
    b->id = ((uint64_t)m->rank << SEQ_BITS) | b->seq;
    for (size_t i = 0; i < n; i++)
        b->jobs[i]->seq = b->seq;
    b->next = m->batches;
    m->batches = b;
    if (n) { /* an empty batch is finished already: the caller may free it at once */
        c->kind = CMD_SUBMIT;
        c->b = b;
        push_cmd_locked(m, c);
        c = NULL;
    }
    pthread_mutex_unlock(&m->mu);
    free(c);
    *out = b;
    return 0;
}

static bool batch_finished(crew_mpi_t *m, void *arg)
{
    (void)m;
    crew_mpi_batch_t *b = arg;
    return b->terminal == b->n;
}

int crew_mpi_batch_wait(crew_mpi_batch_t *b, int64_t timeout_ns)
{
    int64_t deadline;
    if (!b || deadline_of(timeout_ns, &deadline))
        return CREW_EINVAL;
    crew_mpi_t *m = b->m;
    pthread_mutex_lock(&m->mu);
    int rc = wait_until(m, batch_finished, b, deadline);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int crew_mpi_batch_info(crew_mpi_batch_t *b, crew_mpi_batch_info_t *info)
{
    if (!b || !info || info->size < sizeof *info)
        return CREW_EINVAL;
    crew_mpi_t *m = b->m;
    pthread_mutex_lock(&m->mu);
    *info = (crew_mpi_batch_info_t){.size = info->size,
                                    .id = b->id,
                                    .submitted = b->n,
                                    .terminal = b->terminal,
                                    .done = b->done,
                                    .failed = b->failed,
                                    .cancelled = b->cancelled,
                                    .removed = b->nremoved,
                                    .first_failure = b->first_failure,
                                    .first_failure_rank = b->first_failure_rank,
                                    .first_failure_code = b->first_failure_code,
                                    .finished = b->terminal == b->n};
    pthread_mutex_unlock(&m->mu);
    return 0;
}

int crew_mpi_batch_result(crew_mpi_batch_t *b, uint64_t index, crew_mpi_result_t *out)
{
    if (!b || !out || index >= b->n)
        return CREW_EINVAL;
    crew_mpi_t *m = b->m;
    pthread_mutex_lock(&m->mu);
    *out = (crew_mpi_result_t){.status = (crew_status_t)b->status[index],
                               .removed = b->removed[index],
                               .code = b->code[index],
                               .rank = b->rank[index],
                               .data = b->data[index],
                               .data_size = b->dsize[index]};
    pthread_mutex_unlock(&m->mu);
    return 0;
}

int crew_mpi_batch_free(crew_mpi_batch_t *b)
{
    if (!b)
        return CREW_EINVAL;
    crew_mpi_t *m = b->m;
    cmd_t *c = NULL;
    pthread_mutex_lock(&m->mu);
    if (b->terminal < b->n) {
        pthread_mutex_unlock(&m->mu);
        return CREW_EBUSY;
    }
    if (b->cancelled_ever && !m->closing && (c = calloc(1, sizeof *c)) != NULL) {
        c->kind = CMD_FORGET;
        c->origin = m->rank;
        c->seq = b->seq;
        push_cmd_locked(m, c);
    }
    for (crew_mpi_batch_t **pb = &m->batches; *pb; pb = &(*pb)->next) {
        if (*pb == b) {
            *pb = b->next;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
    free_batch(b);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Cancel                                                                   */
/* ------------------------------------------------------------------------ */

static bool token_done(crew_mpi_t *m, void *arg)
{
    (void)m;
    return ((token_t *)arg)->done;
}

int crew_mpi_cancel(crew_mpi_t *m, uint64_t batch, crew_mpi_scope_t scope, uint64_t which,
                    int64_t timeout_ns)
{
    int64_t deadline = 0;
    if (!m || batch == 0 ||
        (scope != CREW_MPI_CANCEL_BATCH && scope != CREW_MPI_CANCEL_GROUP &&
         scope != CREW_MPI_CANCEL_JOB))
        return CREW_EINVAL;
    uint64_t origin = batch >> SEQ_BITS;
    if (origin >= (uint64_t)m->size || deadline_of(timeout_ns, &deadline))
        return CREW_EINVAL;
    cmd_t *c = calloc(1, sizeof *c);
    token_t *t = timeout_ns ? calloc(1, sizeof *t) : NULL;
    if (!c || (timeout_ns && !t)) {
        free(c);
        free(t);
        return CREW_ENOMEM;
    }
    *c = (cmd_t){.kind = CMD_CANCEL,
                 .origin = (int)origin,
                 .seq = batch & (((uint64_t)1 << SEQ_BITS) - 1),
                 .scope = scope,
                 .which = which};
    pthread_mutex_lock(&m->mu);
    int rc = m->closing ? CREW_ESHUTDOWN : m->failed;
    if (rc) {
        pthread_mutex_unlock(&m->mu);
        free(c);
        free(t);
        return rc;
    }
    if (t) {
        t->id = c->token = m->next_token++;
        t->next = m->tokens;
        m->tokens = t;
    }
    push_cmd_locked(m, c);
    if (t) {
        rc = wait_until(m, token_done, t, deadline);
        /* Unlink the token, or leave it for on_cancel_done() to free. */
        for (token_t **pt = &m->tokens; *pt; pt = &(*pt)->next) {
            if (*pt == t) {
                if (t->done) {
                    *pt = t->next;
                    free(t);
                } else {
                    t->abandoned = true;
                }
                break;
            }
        }
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int crew_mpi_wait_request(crew_mpi_job_t *job, MPI_Request *req, MPI_Status *status)
{
    if (!job || !req || !job->mpi || !job->mpi->multi)
        return CREW_EINVAL;
    int64_t pause = 1000;
    for (int spins = 0;; spins++) {
        int flag = 0;
        if (MPI_Test(req, &flag, status) != MPI_SUCCESS)
            return CREW_MPI_ECOMM;
        if (flag)
            return 0;
        if (crew_cancelled()) {
            MPI_Cancel(req);
            /* MPI_Cancel only marks the request: it must still be completed. */
            if (MPI_Wait(req, status) != MPI_SUCCESS)
                return CREW_MPI_ECOMM;
            return CREW_ECANCELED;
        }
        if (spins < 16)
            continue;
        struct timespec ts = {0, (long)pause};
        nanosleep(&ts, NULL);
        if ((pause *= 2) > 1000000)
            pause = 1000000;
    }
}
