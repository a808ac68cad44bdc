/*
 * pool.c - task records: allocation without malloc in steady state, and
 * the ID -> record map.
 *
 * Records live in slabs of 2^CREW_SLAB_LOG2 that are never freed before the
 * executor, so a record's memory stays valid (type-stable) and a stale ID
 * can be checked against the record's current `id` safely. A task ID is
 * generation << CREW_SLOT_BITS | slot; the generation grows each time the
 * slot is reused, so IDs are unique for the executor's lifetime. Slot 0 is
 * never a task (group IDs use it).
 *
 * Each record has a home pool: the worker that allocated it, or the shared
 * pool for records taken by threads outside the executor. A worker
 * allocates from its private list without atomics; a record freed on
 * another thread is pushed (lock-free) onto its home's remote_free stack,
 * and the home takes the whole stack with one exchange when its list runs
 * dry (no ABA: nobody pops single elements). The pool mutex is taken only
 * to hand out a batch or to grow by a slab.
 */
#include <string.h>

#include "internal.h"

#define SLAB_SIZE ((uint32_t)1 << CREW_SLAB_LOG2)
#define SLOT_MASK (((uint64_t)1 << CREW_SLOT_BITS) - 1)

/* Records cached by a thread outside any executor, for one executor. */
static _Thread_local struct {
    uint64_t uid;
    crew__task_t *head;
} ext_cache;

/* Registry of live executors, so a thread that switches executors can give
 * its cached records back only if the old one still exists. */
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct crew *registry[64];
static _Atomic uint64_t next_uid = 1;

int crew__pool_init(struct crew *ex)
{
    crew__pool_t *p = &ex->pool;
    p->dir_cap = (uint32_t)1 << (CREW_SLOT_BITS - CREW_SLAB_LOG2);
    p->dir = crew__calloc(p->dir_cap, sizeof *p->dir);
    if (!p->dir)
        return CREW_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    atomic_init(&p->nslabs, 0);
    p->free_list = NULL;
    atomic_init(&p->shared_free, NULL);
    /* relaxed: a unique number, no data published through it. */
    ex->uid = atomic_fetch_add_explicit(&next_uid, 1, memory_order_relaxed);
    pthread_mutex_lock(&registry_mu);
    for (unsigned i = 0; i < 64; i++)
        if (!registry[i]) {
            registry[i] = ex;
            break;
        }
    pthread_mutex_unlock(&registry_mu);
    return 0;
}

void crew__pool_destroy(struct crew *ex)
{
    crew__pool_t *p = &ex->pool;
    pthread_mutex_lock(&registry_mu);
    for (unsigned i = 0; i < 64; i++)
        if (registry[i] == ex)
            registry[i] = NULL;
    pthread_mutex_unlock(&registry_mu);
    if (ext_cache.uid == ex->uid) {
        ext_cache.uid = 0;
        ext_cache.head = NULL;
    }
    if (!p->dir)
        return;
    /* relaxed: no other thread runs now. */
    for (uint32_t i = 0; i < atomic_load_explicit(&p->nslabs, memory_order_relaxed); i++)
        crew__free(p->dir[i]);
    crew__free(p->dir);
    p->dir = NULL;
    pthread_mutex_destroy(&p->mu);
}

/* Under p->mu. */
static CREW_NOINLINE bool grow_locked(struct crew *ex)
{
    crew__pool_t *p = &ex->pool;
    /* relaxed: under p->mu, the only writer. */
    uint32_t n = atomic_load_explicit(&p->nslabs, memory_order_relaxed);
    crew__task_t *slab;
    if (n == p->dir_cap)
        return false;
    slab = crew__malloc(sizeof(crew__task_t) * SLAB_SIZE);
    if (!slab)
        return false;
    memset(slab, 0, sizeof(crew__task_t) * SLAB_SIZE);
    for (uint32_t i = SLAB_SIZE; i-- > 0;) {
        crew__task_t *t = &slab[i];
        uint64_t slot = (uint64_t)n * SLAB_SIZE + i;
        atomic_init(&t->state, T_FREE);
        atomic_init(&t->id, slot); /* generation 0; first use makes it 1 */
        atomic_init(&t->kids_done, 0);
        if (slot == 0)
            continue; /* reserved: group IDs */
        t->next = p->free_list;
        p->free_list = t;
    }
    p->dir[n] = slab;
    /* release: pairs with the acquire load in crew__slot_record(); a reader
     * that sees the new count sees dir[n] and the initialised records. */
    atomic_store_explicit(&p->nslabs, n + 1, memory_order_release);
    return true;
}

/* Take up to CREW_EXT_BATCH free records (a chain) from the shared pool. */
static CREW_NOINLINE crew__task_t *refill(struct crew *ex)
{
    crew__pool_t *p = &ex->pool;
    crew__task_t *head, *t;
    unsigned n = 1;
    pthread_mutex_lock(&p->mu);
    if (!p->free_list) {
        /* acquire: pairs with the release CAS in crew__task_recycle(). */
        crew__task_t *s = atomic_exchange_explicit(&p->shared_free, NULL,
                                                   memory_order_acquire);
        p->free_list = s;
    }
    if (!p->free_list && !grow_locked(ex)) {
        pthread_mutex_unlock(&p->mu);
        return NULL;
    }
    head = t = p->free_list;
    while (t->next && n < CREW_EXT_BATCH) {
        t = t->next;
        n++;
    }
    p->free_list = t->next;
    t->next = NULL;
    pthread_mutex_unlock(&p->mu);
    return head;
}

/* Give a thread's cached records back to the executor they came from, if
 * it is still alive. */
static CREW_NOINLINE void ext_cache_flush(void)
{
    crew__task_t *h = ext_cache.head, *last = h;
    if (!h)
        return;
    pthread_mutex_lock(&registry_mu);
    for (unsigned i = 0; i < 64; i++) {
        struct crew *ex = registry[i];
        if (ex && ex->uid == ext_cache.uid) {
            /* Only now is it safe to touch the records: their executor is
             * alive and cannot be destroyed while we hold registry_mu. */
            /* relaxed: validated by the CAS below. */
            crew__task_t *old = atomic_load_explicit(&ex->pool.shared_free,
                                                     memory_order_relaxed);
            while (last->next)
                last = last->next;
            do
                last->next = old;
            /* release: pairs with the acquire exchange in refill(). */
            while (!atomic_compare_exchange_weak_explicit(
                &ex->pool.shared_free, &old, h, memory_order_release,
                memory_order_relaxed));
            break;
        }
    }
    pthread_mutex_unlock(&registry_mu);
    ext_cache.head = NULL;
}

crew__task_t *crew__task_alloc_slow(struct crew *ex, crew__worker_t *w)
{
    crew__task_t *t;
    if (w) {
        /* acquire: pairs with the release CAS of remote frees. */
        t = atomic_exchange_explicit(&w->remote_free, NULL, memory_order_acquire);
        if (!t)
            t = refill(ex);
        if (!t)
            return NULL;
        w->free_list = t->next;
        crew__task_renew(ex, w, t, (uint16_t)w->index);
        return t;
    }
    if (ext_cache.uid != ex->uid) {
        ext_cache_flush();
        ext_cache.uid = ex->uid;
    }
    t = ext_cache.head;
    if (!t) {
        t = refill(ex);
        if (!t)
            return NULL;
    }
    ext_cache.head = t->next;
    crew__task_renew(ex, w, t, CREW__HOME_SHARED);
    return t;
}

void crew__task_recycle(struct crew *ex, crew__task_t *t)
{
    crew__worker_t *w = crew__self_worker(ex);
    _Atomic(crew__task_t *) *stack;
    crew__task_t *old;
    CREW__COUNT(ex, w, rec_free, 1);
    /* relaxed: we are the record's only owner; lookups refuse FREE. */
    atomic_store_explicit(&t->state, T_FREE, memory_order_relaxed);
    if (w && t->home == w->index) {
        t->next = w->free_list;
        w->free_list = t;
        return;
    }
    if (w && t->home == CREW__HOME_SHARED) {
        /* Batch records going back to the shared pool: one CAS per
         * CREW_EXT_BATCH instead of one per task on a contended line. */
        t->next = w->remote_batch;
        if (!w->remote_batch)
            w->remote_batch_tail = t;
        w->remote_batch = t;
        if (++w->remote_batch_n >= CREW_EXT_BATCH)
            crew__flush_remote(ex, w);
        return;
    }
    stack = t->home == CREW__HOME_SHARED ? &ex->pool.shared_free
                                         : &ex->workers[t->home].remote_free;
    /* relaxed: validated by the CAS below. */
    old = atomic_load_explicit(stack, memory_order_relaxed);
    do
        t->next = old;
    /* release: pairs with the acquire exchange by the home pool; the next
     * owner sees our last writes to the record. */
    while (!atomic_compare_exchange_weak_explicit(stack, &old, t,
                                                  memory_order_release,
                                                  memory_order_relaxed));
}

void crew__pool_drop_refs(struct crew *ex)
{
    /* relaxed: single-threaded teardown. */
    uint32_t n = atomic_load_explicit(&ex->pool.nslabs, memory_order_relaxed);
    /* Workers are stopped: every record not FREE is terminal and owned by
     * a handle never released (or pointed at by such a record). Drop the
     * group references they hold, as crew__task_free would. */
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < SLAB_SIZE; k++) {
            crew__task_t *t = &ex->pool.dir[i][k];
            /* relaxed: single-threaded teardown. */
            if (crew__phase(atomic_load_explicit(&t->state, memory_order_relaxed)) ==
                T_FREE)
                continue;
            if (t->flags & TF_PGROUP_REF)
                crew__group_unref(t->parent->group);
            if (t->flags & TF_GROUP_REF)
                crew__group_unref(t->group);
            t->flags &= (uint8_t) ~(TF_PGROUP_REF | TF_GROUP_REF);
        }
}

void crew__flush_remote(struct crew *ex, crew__worker_t *w)
{
    crew__task_t *old;
    if (!w->remote_batch)
        return;
    /* relaxed: validated by the CAS below. */
    old = atomic_load_explicit(&ex->pool.shared_free, memory_order_relaxed);
    do
        w->remote_batch_tail->next = old;
    /* release: pairs with the acquire exchange in refill(). */
    while (!atomic_compare_exchange_weak_explicit(&ex->pool.shared_free, &old,
                                                  w->remote_batch,
                                                  memory_order_release,
                                                  memory_order_relaxed));
    w->remote_batch = w->remote_batch_tail = NULL;
    w->remote_batch_n = 0;
}

crew__task_t *crew__slot_record(struct crew *ex, crew_id_t id)
{
    uint64_t slot = id & SLOT_MASK;
    uint64_t si = slot >> CREW_SLAB_LOG2;
    if (slot == 0)
        return NULL;
    /* acquire: pairs with the release store in grow_locked(). */
    if (si >= atomic_load_explicit(&ex->pool.nslabs, memory_order_acquire))
        return NULL;
    return &ex->pool.dir[si][slot & (SLAB_SIZE - 1)];
}
