/*
 * pool.h - task records: allocation without malloc in steady state, the
 * ID -> record map, and a walk over every record. Knows the record's
 * layout (task.h) but nothing of executors, groups or cancellation;
 * testable alone.
 *
 * Records live in slabs of 2^CREW_SLAB_LOG2 that are never freed before the
 * pool, so a record's memory stays valid (type-stable) and a stale ID can
 * be checked against the record's current `id` safely. A slab's records are
 * carved (initialised and made visible to lookups and the walk)
 * CREW_EXT_BATCH at a time, as the pool runs dry. A task ID is
 * generation << CREW_SLOT_BITS | slot; the generation grows each time the
 * slot is reused, so IDs are unique for the pool's lifetime. Slot 0 is
 * never a record (group IDs use it).
 *
 * Caches: each worker thread has a crew__pool_cache_t (index = home) and
 * allocates from its private list without atomics; a record freed on
 * another thread goes (lock-free) onto its home's remote_free stack, which
 * the home takes whole with one exchange when its list runs dry (no ABA:
 * nobody pops single elements). Threads without a cache (outside the
 * executor) take chains of CREW_EXT_BATCH records from the shared pool into
 * a thread-local cache; the pool mutex is taken once per chain or to grow.
 */
#ifndef CREW_POOL_H
#define CREW_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "platform.h"
#include "task.h"

#define CREW__HOME_SHARED 0xFFFFu

typedef struct crew__pool_cache {
    /* Owner-private. */
    crew__task_t *free_list;    /* records whose home is this cache */
    crew__task_t *remote_batch; /* shared-home records to give back */
    crew__task_t *remote_batch_tail;
    unsigned remote_batch_n;
    uint16_t home;
    /* Single writer (the owner), read by statistics: relaxed. */
    _Atomic uint64_t allocs, frees;
    /* Written by other threads: records freed elsewhere come home here. */
    CREW_ALIGNED _Atomic(crew__task_t *) remote_free;
} crew__pool_cache_t;

typedef struct crew__pool {
    pthread_mutex_t mu;      /* guards slab growth and free_list */
    crew__task_t **dir;      /* slab directory: slot >> SLAB_LOG2 */
    _Atomic uint32_t nslots; /* slots [0, nslots) are records; their
                                slabs' dir entries are set before */
    uint32_t nslabs;         /* slabs mapped (under mu) */
    uint32_t dir_cap;
    uint64_t uid;                /* unique per pool, for thread caches */
    crew__task_t *free_list;     /* under mu */
    crew__pool_cache_t **caches; /* by home index */
    unsigned ncaches;
    _Atomic uint64_t ext_allocs, ext_frees;           /* by threads without a cache */
    CREW_ALIGNED _Atomic(crew__task_t *) shared_free; /* lock-free pushes */
} crew__pool_t;

/* caches[i] (i < n) become homes 0..n-1; they must outlive the pool.
 * 0, CREW_ENOMEM, or CREW_EBUSY (too many live pools: see pool.c). */
int crew__pool_init(crew__pool_t *p, crew__pool_cache_t **caches, unsigned n);
/* Nothing may use the pool any more. Frees the slabs. */
void crew__pool_destroy(crew__pool_t *p);

crew__task_t *crew__pool_alloc_slow(crew__pool_t *p, crew__pool_cache_t *c);

/* A record's next incarnation: a new ID (generation + 1). */
static inline void crew__pool_renew(crew__task_t *t, uint16_t home)
{
    /* relaxed: the new ID is published with the record (publish's release
     * store, or the queue's release). */
    uint64_t id =
        atomic_load_explicit(&t->id, memory_order_relaxed) + ((uint64_t)1 << CREW_SLOT_BITS);
    atomic_store_explicit(&t->id, id, memory_order_relaxed);
    t->home = home;
}

/* A free record for the calling thread (c: its cache, or NULL outside the
 * executor), or NULL when memory is exhausted. The cache's common case is
 * inline: it is the spawn path. */
static inline crew__task_t *crew__pool_alloc(crew__pool_t *p, crew__pool_cache_t *c)
{
    crew__task_t *t = c ? c->free_list : NULL;
    if (CREW_UNLIKELY(!t))
        return crew__pool_alloc_slow(p, c);
    c->free_list = t->next;
    crew__pool_renew(t, c->home);
    /* relaxed: single writer; a statistic. */
    atomic_store_explicit(&c->allocs, atomic_load_explicit(&c->allocs, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return t;
}

/* Give a record back (it is FREE from now on). c: the caller's cache or
 * NULL. */
void crew__pool_recycle(crew__pool_t *p, crew__pool_cache_t *c, crew__task_t *t);
/* Hand the cache's batched shared-home records back (before it idles). */
void crew__pool_flush(crew__pool_t *p, crew__pool_cache_t *c);

/* The record that slot of `id` names (any incarnation), or NULL if the
 * slot does not exist. The caller validates the incarnation (pin). */
static inline crew__task_t *crew__pool_slot(crew__pool_t *p, crew_id_t id)
{
    uint64_t slot = id & (((uint64_t)1 << CREW_SLOT_BITS) - 1);
    if (slot == 0)
        return NULL;
    /* acquire: pairs with the release store when slots are carved. */
    if (slot >= atomic_load_explicit(&p->nslots, memory_order_acquire))
        return NULL;
    return &p->dir[slot >> CREW_SLAB_LOG2][slot & (((uint64_t)1 << CREW_SLAB_LOG2) - 1)];
}

/* Records ever allocated minus records recycled (a recent value). */
uint64_t crew__pool_live(crew__pool_t *p);

/* Call fn(t, ctx) for every record slot that exists (any state; the walk
 * takes no reference: fn pins what it wants to keep). Cost: every slot
 * ever created, i.e. the peak number of records. Stops early when fn
 * returns false. */
void crew__pool_walk(crew__pool_t *p, bool (*fn)(crew__task_t *t, void *ctx), void *ctx);

#endif
