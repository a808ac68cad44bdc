/*
 * pool.c - task records (see pool.h).
 */
#include "pool.h"

#include <string.h>

#define SLAB_SIZE ((uint32_t)1 << CREW_SLAB_LOG2)

/* Records cached by a thread without a cache, for one pool. */
static _Thread_local struct {
    uint64_t uid;
    crew__task_t *head;
} ext_cache;

/* Registry of live pools, so a thread that switches pools can give its
 * cached records back only if the old pool still exists. It grows as
 * needed (doubling); never shrinks. */
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static crew__pool_t **registry;
static unsigned registry_cap;
static _Atomic uint64_t next_uid = 1;

static int registry_add(crew__pool_t *p)
{
    int rc = 0;
    pthread_mutex_lock(&registry_mu);
    for (;;) {
        for (unsigned i = 0; i < registry_cap; i++)
            if (!registry[i]) {
                registry[i] = p;
                goto out;
            }
        {
            unsigned cap = registry_cap ? registry_cap * 2 : 64;
            crew__pool_t **r = crew__calloc(cap, sizeof *r);
            if (!r) {
                rc = CREW_ENOMEM;
                goto out;
            }
            if (registry_cap)
                memcpy(r, registry, registry_cap * sizeof *r);
            crew__free(registry);
            registry = r;
            registry_cap = cap;
        }
    }
out:
    pthread_mutex_unlock(&registry_mu);
    return rc;
}

static void registry_remove(crew__pool_t *p)
{
    bool empty = true;
    pthread_mutex_lock(&registry_mu);
    for (unsigned i = 0; i < registry_cap; i++) {
        if (registry[i] == p)
            registry[i] = NULL;
        empty &= registry[i] == NULL;
    }
    if (empty) {
        /* No pool left: give the table back, so a process that ends its
         * last executor holds no memory of crew's. */
        crew__free(registry);
        registry = NULL;
        registry_cap = 0;
    }
    pthread_mutex_unlock(&registry_mu);
}

int crew__pool_init(crew__pool_t *p, crew__pool_cache_t **caches, unsigned n)
{
    memset(p, 0, sizeof *p);
    p->dir_cap = (uint32_t)1 << (CREW_SLOT_BITS - CREW_SLAB_LOG2);
    /* Not zeroed: only entries below nslabs are read. The directory covers
     * every possible slab (512 KiB); zeroing it was a third of
     * crew_create()'s time. */
    p->dir = crew__malloc(sizeof *p->dir * p->dir_cap);
    if (!p->dir)
        return CREW_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    atomic_init(&p->nslots, 0);
    p->nslabs = 0;
    atomic_init(&p->shared_free, NULL);
    p->caches = caches;
    p->ncaches = n;
    for (unsigned i = 0; i < n; i++) {
        memset(caches[i], 0, sizeof *caches[i]);
        caches[i]->home = (uint16_t)i;
    }
    /* relaxed: a unique number, no data published through it. */
    p->uid = atomic_fetch_add_explicit(&next_uid, 1, memory_order_relaxed);
    if (registry_add(p) != 0) {
        crew__free(p->dir);
        p->dir = NULL;
        pthread_mutex_destroy(&p->mu);
        return CREW_ENOMEM;
    }
    return 0;
}

void crew__pool_destroy(crew__pool_t *p)
{
    if (!p->dir)
        return;
    registry_remove(p);
    if (ext_cache.uid == p->uid) {
        ext_cache.uid = 0;
        ext_cache.head = NULL;
    }
    for (uint32_t i = 0; i < p->nslabs; i++)
        crew__free(p->dir[i]);
    crew__free(p->dir);
    p->dir = NULL;
    pthread_mutex_destroy(&p->mu);
}

/* Under p->mu: make the next CREW_EXT_BATCH slots records (fewer at a
 * slab's end), allocating a new slab first when the last one is carved
 * up. Records are zeroed and initialised a chain at a time, so an
 * executor that runs a few tasks writes 8 KiB of records, not the slab's
 * 128 KiB. (Slabs come from malloc: mapping them instead costs page faults
 * at first use and a TLB shootdown at unmap, more than zeroing.) */
static CREW_NOINLINE bool carve_locked(crew__pool_t *p)
{
    /* relaxed: under p->mu, the only writer. */
    uint32_t first = atomic_load_explicit(&p->nslots, memory_order_relaxed), end;
    uint32_t si = first >> CREW_SLAB_LOG2;
    if (si == p->nslabs) {
        crew__task_t *slab;
        if (si == p->dir_cap)
            return false;
        slab = crew__malloc(sizeof(crew__task_t) * SLAB_SIZE);
        if (!slab)
            return false;
        p->dir[si] = slab;
        p->nslabs = si + 1;
    }
    end = first + CREW_EXT_BATCH;
    if (end > (si + 1) * SLAB_SIZE)
        end = (si + 1) * SLAB_SIZE;
    for (uint32_t slot = end; slot-- > first;) {
        crew__task_t *t = &p->dir[si][slot & (SLAB_SIZE - 1)];
        memset(t, 0, sizeof *t);
        crew__rec_init_free(t, slot);
        if (slot == 0)
            continue; /* reserved: group IDs */
        t->next = p->free_list;
        p->free_list = t;
    }
    /* release: pairs with the acquire load in crew__pool_slot() and
     * crew__pool_walk(); a reader that sees the new count sees dir[si] and
     * the initialised records. */
    atomic_store_explicit(&p->nslots, end, memory_order_release);
    return p->free_list != NULL || carve_locked(p); /* slot 0 alone: carve on */
}

/* Take up to CREW_EXT_BATCH free records (a chain) from the shared pool. */
static CREW_NOINLINE crew__task_t *refill(crew__pool_t *p)
{
    crew__task_t *head, *t;
    unsigned n = 1;
    pthread_mutex_lock(&p->mu);
    if (!p->free_list)
        /* acquire: pairs with the release CASes that push shared_free. */
        p->free_list = atomic_exchange_explicit(&p->shared_free, NULL, memory_order_acquire);
    if (!p->free_list && !carve_locked(p)) {
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

static void push_chain(_Atomic(crew__task_t *) *stack, crew__task_t *first, crew__task_t *last)
{
    /* relaxed: validated by the CAS below. */
    crew__task_t *old = atomic_load_explicit(stack, memory_order_relaxed);
    do
        last->next = old;
    /* release: pairs with the acquire exchange by the stack's taker; the
     * next owner sees our last writes to the records. */
    while (!atomic_compare_exchange_weak_explicit(stack, &old, first, memory_order_release,
                                                  memory_order_relaxed));
}

/* Give a thread's cached records back to the pool they came from, if it is
 * still alive. */
static CREW_NOINLINE void ext_cache_flush(void)
{
    crew__task_t *h = ext_cache.head, *last = h;
    if (!h)
        return;
    pthread_mutex_lock(&registry_mu);
    for (unsigned i = 0; i < registry_cap; i++) {
        crew__pool_t *p = registry[i];
        if (p && p->uid == ext_cache.uid) {
            /* Only now is it safe to touch the records: their pool is alive
             * and cannot be destroyed while we hold registry_mu. */
            while (last->next)
                last = last->next;
            push_chain(&p->shared_free, h, last);
            break;
        }
    }
    pthread_mutex_unlock(&registry_mu);
    ext_cache.head = NULL;
}

static void count(_Atomic uint64_t *single_writer, _Atomic uint64_t *shared, bool mine)
{
    if (mine) /* relaxed: single writer; a statistic */
        atomic_store_explicit(single_writer,
                              atomic_load_explicit(single_writer, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    else /* relaxed: a statistic */
        atomic_fetch_add_explicit(shared, 1, memory_order_relaxed);
}

crew__task_t *crew__pool_alloc_slow(crew__pool_t *p, crew__pool_cache_t *c)
{
    crew__task_t *t;
    if (c) {
        /* acquire: pairs with the release CAS of remote frees. */
        t = atomic_exchange_explicit(&c->remote_free, NULL, memory_order_acquire);
        if (!t)
            t = refill(p);
        if (!t)
            return NULL;
        c->free_list = t->next;
        crew__pool_renew(t, c->home);
        count(&c->allocs, NULL, true);
        return t;
    }
    if (ext_cache.uid != p->uid) {
        ext_cache_flush();
        ext_cache.uid = p->uid;
    }
    t = ext_cache.head;
    if (!t) {
        t = refill(p);
        if (!t)
            return NULL;
    }
    ext_cache.head = t->next;
    crew__pool_renew(t, CREW__HOME_SHARED);
    count(NULL, &p->ext_allocs, false);
    return t;
}

void crew__pool_recycle(crew__pool_t *p, crew__pool_cache_t *c, crew__task_t *t)
{
    if (c)
        count(&c->frees, NULL, true);
    else
        count(NULL, &p->ext_frees, false);
    crew__rec_set_free(t);
    if (c && t->home == c->home) {
        t->next = c->free_list;
        c->free_list = t;
        return;
    }
    if (c && t->home == CREW__HOME_SHARED) {
        /* Batch records going back to the shared pool: one CAS per
         * CREW_EXT_BATCH instead of one per task on a contended line. */
        t->next = c->remote_batch;
        if (!c->remote_batch)
            c->remote_batch_tail = t;
        c->remote_batch = t;
        if (++c->remote_batch_n >= CREW_EXT_BATCH)
            crew__pool_flush(p, c);
        return;
    }
    push_chain(t->home == CREW__HOME_SHARED ? &p->shared_free : &p->caches[t->home]->remote_free, t,
               t);
}

void crew__pool_flush(crew__pool_t *p, crew__pool_cache_t *c)
{
    if (!c->remote_batch)
        return;
    push_chain(&p->shared_free, c->remote_batch, c->remote_batch_tail);
    c->remote_batch = c->remote_batch_tail = NULL;
    c->remote_batch_n = 0;
}

uint64_t crew__pool_live(crew__pool_t *p)
{
    /* relaxed: statistics. */
    uint64_t a = atomic_load_explicit(&p->ext_allocs, memory_order_relaxed);
    uint64_t f = atomic_load_explicit(&p->ext_frees, memory_order_relaxed);
    for (unsigned i = 0; i < p->ncaches; i++) {
        a += atomic_load_explicit(&p->caches[i]->allocs, memory_order_relaxed);
        f += atomic_load_explicit(&p->caches[i]->frees, memory_order_relaxed);
    }
    return a > f ? a - f : 0;
}

void crew__pool_walk(crew__pool_t *p, bool (*fn)(crew__task_t *t, void *ctx), void *ctx)
{
    /* acquire: pairs with the release store in carve_locked(). */
    uint32_t n = atomic_load_explicit(&p->nslots, memory_order_acquire);
    for (uint32_t slot = 1; slot < n; slot++) /* slot 0 is never a record */
        if (!fn(&p->dir[slot >> CREW_SLAB_LOG2][slot & (SLAB_SIZE - 1)], ctx))
            return;
}
