/*
 * peer_pool.c - the thread pool a C programmer writes by hand: one global
 * FIFO (a growable ring) under one mutex, a condition variable for work and
 * one for "all done". No work stealing and no helping, so a task must never
 * wait for another task: fib and nqueens are skipped, and uts runs as
 * fire-and-forget (each node submits its children and returns; a counter
 * counts the nodes; the main thread waits until the pool is idle).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "matmul.h"
#include "peers.h"

typedef void (*pool_fn)(void *);

typedef struct pool_job {
    pool_fn fn;
    void *arg;
} pool_job_t;

typedef struct pool {
    pthread_mutex_t mu;
    pthread_cond_t work; /* a job was queued, or stop */
    pthread_cond_t idle; /* queue empty and no job running */
    pool_job_t *q;       /* ring of cap entries, len from head */
    size_t cap, head, len;
    unsigned active; /* jobs running now */
    bool stop;
    unsigned nthreads;
    pthread_t *threads;
} pool_t;

static void *pool_worker(void *arg)
{
    pool_t *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->len == 0 && !p->stop)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->len == 0) /* stop */
            break;
        pool_job_t j = p->q[p->head];
        p->head = (p->head + 1) % p->cap;
        p->len--;
        p->active++;
        pthread_mutex_unlock(&p->mu);
        j.fn(j.arg);
        pthread_mutex_lock(&p->mu);
        if (--p->active == 0 && p->len == 0)
            pthread_cond_broadcast(&p->idle);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Make room for `more` jobs; called with the lock held. */
static int pool_reserve(pool_t *p, size_t more)
{
    if (p->len + more <= p->cap)
        return 0;
    size_t cap = p->cap ? p->cap : 1024;
    while (cap < p->len + more)
        cap *= 2;
    pool_job_t *q = malloc(cap * sizeof *q);
    if (!q)
        return -1;
    for (size_t i = 0; i < p->len; i++) /* unwrap the ring */
        q[i] = p->q[(p->head + i) % p->cap];
    free(p->q);
    p->q = q;
    p->cap = cap;
    p->head = 0;
    return 0;
}

static int pool_submit(pool_t *p, pool_fn fn, void *arg)
{
    pthread_mutex_lock(&p->mu);
    if (pool_reserve(p, 1) != 0) {
        pthread_mutex_unlock(&p->mu);
        return -1;
    }
    p->q[(p->head + p->len) % p->cap] = (pool_job_t){fn, arg};
    p->len++;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static int pool_submit_many(pool_t *p, pool_fn fn, void *const *args, size_t n)
{
    pthread_mutex_lock(&p->mu);
    if (pool_reserve(p, n) != 0) {
        pthread_mutex_unlock(&p->mu);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        p->q[(p->head + p->len + i) % p->cap] = (pool_job_t){fn, args[i]};
    p->len += n;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

/* Wait until the queue is empty and no job runs. */
static void pool_wait(pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->len != 0 || p->active != 0)
        pthread_cond_wait(&p->idle, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void *pool_setup(unsigned workers)
{
    pool_t *p = calloc(1, sizeof *p);
    if (!p || !(p->threads = calloc(workers, sizeof *p->threads))) {
        free(p);
        perf_fail("pool: out of memory");
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->idle, NULL);
    for (; p->nthreads < workers; p->nthreads++) {
        if (pthread_create(&p->threads[p->nthreads], NULL, pool_worker, p)) {
            perf_fail("pool: pthread_create failed");
            pool_teardown(p);
            return NULL;
        }
    }
    return p;
}

void pool_teardown(void *st)
{
    pool_t *p = st;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->idle);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p->q);
    free(p->threads);
    free(p);
}

/* ---- uts: fire-and-forget ---------------------------------------------- */

static pool_t *uts_pool;
static atomic_uint_fast64_t uts_nodes;

/* arg is the node's hash */
static void uts_node(void *arg)
{
    uint64_t h = (uint64_t)(uintptr_t)arg;
    atomic_fetch_add_explicit(&uts_nodes, 1, memory_order_relaxed);
    int k = uts_kids(h);
    for (int i = 0; i < k; i++)
        if (pool_submit(uts_pool, uts_node, (void *)(uintptr_t)uts_child(h, i)) != 0)
            perf_fail("pool: out of memory");
}

int pool_uts(void *st, long b0, perf_out_t *out)
{
    uts_pool = st;
    atomic_store(&uts_nodes, 1); /* the root */
    uint64_t r = uts_root();
    for (long i = 0; i < b0; i++)
        if (pool_submit(st, uts_node, (void *)(uintptr_t)uts_child(r, (int)i)))
            return perf_fail("pool: out of memory");
    pool_wait(st);
    out->answer = atomic_load(&uts_nodes);
    return 0;
}

/* ---- submit_single / submit_batch -------------------------------------- */

static int pool_submit_run(pool_t *p, long n, bool batch, perf_out_t *out)
{
    unsigned char *slots = calloc((size_t)n, 1);
    if (!slots)
        return perf_fail("out of memory");
    double t0 = perf_now();
    int rc = 0;
    if (!batch) {
        for (long i = 0; i < n && rc == 0; i++)
            rc = pool_submit(p, perf_mark, &slots[i]);
    } else {
        void *args[PERF_BATCH];
        for (long i = 0; i < n && rc == 0; i += PERF_BATCH) {
            size_t m = (size_t)(n - i < PERF_BATCH ? n - i : PERF_BATCH);
            for (size_t j = 0; j < m; j++)
                args[j] = &slots[i + (long)j];
            rc = pool_submit_many(p, perf_mark, args, m);
        }
    }
    if (rc != 0)
        perf_fail("pool: out of memory");
    pool_wait(p);
    out->seconds = perf_now() - t0;
    out->answer = perf_count_marks(slots, n);
    free(slots);
    return 0;
}

int pool_submit_single(void *st, long n, perf_out_t *out)
{
    return pool_submit_run(st, n, false, out);
}

int pool_submit_batch(void *st, long n, perf_out_t *out)
{
    return pool_submit_run(st, n, true, out);
}

/* ---- matmul ------------------------------------------------------------ */

typedef struct mm_job {
    const mm_t *m;
    long t;
} mm_job_t;

static void mm_job(void *p)
{
    const mm_job_t *j = p;
    mm_do_tile(j->m, j->t);
}

int pool_matmul(void *st, long n, perf_out_t *out)
{
    mm_t m;
    if (mm_alloc(n, &m) != 0)
        return -1;
    long nt = m.tiles * m.tiles;
    mm_job_t *jobs = malloc((size_t)nt * sizeof *jobs);
    if (!jobs) {
        mm_free(&m);
        return perf_fail("out of memory");
    }
    double t0 = perf_now();
    for (long t = 0; t < nt; t++) {
        jobs[t] = (mm_job_t){&m, t};
        if (pool_submit(st, mm_job, &jobs[t]) != 0)
            perf_fail("pool: out of memory");
    }
    pool_wait(st);
    out->seconds = perf_now() - t0;
    out->answer = mm_checksum(&m);
    free(jobs);
    mm_free(&m);
    return 0;
}

/* ---- idle (see bench_idle.c) ------------------------------------------- */

static void noop(void *p) { (void)p; }

int pool_idle(void *st, long ms, perf_out_t *out)
{
    pool_t *p = st;
    for (unsigned i = 0; i < 2 * p->nthreads; i++)
        if (pool_submit(p, noop, NULL) != 0)
            return perf_fail("pool: out of memory");
    pool_wait(p);
    perf_sleep((double)ms / 3 * 1e-3);
    double c0 = perf_cpu_now(), w0 = perf_now();
    perf_sleep((double)ms * 1e-3);
    double c1 = perf_cpu_now(), w1 = perf_now();
    out->value = (c1 - c0) / (w1 - w0);
    out->seconds = w1 - w0;
    return 0;
}

/* ---- lifecycle: start a pool, run one job, stop it ------------------------- */

static void lifecycle_job(void *arg) { ++*(long *)arg; }

int pool_lifecycle(void *st, long n, perf_out_t *out)
{
    unsigned workers = (unsigned)(uintptr_t)st;
    long ran = 0;
    for (long i = 0; i < n; i++) {
        pool_t *p = pool_setup(workers);
        if (!p)
            return -1;
        if (pool_submit(p, lifecycle_job, &ran) != 0) {
            pool_teardown(p);
            return perf_fail("pool: out of memory");
        }
        pool_wait(p);
        pool_teardown(p);
    }
    out->answer = (uint64_t)ran;
    return 0;
}
