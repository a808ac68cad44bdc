/*
 * test_pool.c (unit/pool) - task records of src/pool.h alone.
 *
 * 1. Sequential: IDs carry the slot and a generation that grows on reuse;
 *    crew__pool_slot maps an ID back to its record; the walk visits every
 *    slot; live counts return to 0.
 * 2. Concurrent: CACHES threads, each with its cache (a home), and one
 *    thread without a cache (external, the shared pool) allocate records
 *    and hand most of them to another thread, which recycles them (remote
 *    frees to the record's home, batched returns to the shared pool). An
 *    owner word per slot (CAS 0 -> holder) catches a record handed out
 *    twice; every ID ever issued is unique (the generation grows); at the
 *    end every record is back and live == 0.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "unit.h"

#define CACHES   3
#define THREADS  (CACHES + 1) /* the last has no cache */
#define MAXSLOTS ((size_t)1 << 20)
#define BOX      64

static crew__pool_t pool;
static crew__pool_cache_t caches[CACHES];
static crew__pool_cache_t *cache_ptrs[CACHES];
static _Atomic uint32_t owner[MAXSLOTS];    /* 0: free; else holder + 1 */
static _Atomic uint64_t last_gen[MAXSLOTS]; /* generation last issued */
static atomic_long twice, stale_gen;

/* A mailbox per thread: others hand it records to recycle. */
typedef struct box {
    pthread_mutex_t mu;
    crew__task_t *items[BOX];
    int n;
} box_t;
static box_t boxes[THREADS];
static atomic_int done_threads;

static uint64_t slot_of(crew__task_t *t)
{
    /* relaxed: the allocating thread reads its own record's ID. */
    return atomic_load_explicit(&t->id, memory_order_relaxed) &
           (((uint64_t)1 << CREW_SLOT_BITS) - 1);
}

static void claim(crew__task_t *t, int me)
{
    uint64_t id = atomic_load_explicit(&t->id, memory_order_relaxed);
    uint64_t slot = slot_of(t), gen = id >> CREW_SLOT_BITS, prev;
    uint32_t zero = 0;
    CHECK(slot < MAXSLOTS, "slot %llu", (unsigned long long)slot);
    /* acq_rel: the holder before us released it through the pool. */
    if (!atomic_compare_exchange_strong_explicit(&owner[slot], &zero, (uint32_t)me + 1,
                                                 memory_order_acq_rel, memory_order_acquire))
        atomic_fetch_add_explicit(&twice, 1, memory_order_relaxed);
    /* relaxed: only the current holder of the slot touches it. */
    prev = atomic_load_explicit(&last_gen[slot], memory_order_relaxed);
    if (gen <= prev)
        atomic_fetch_add_explicit(&stale_gen, 1, memory_order_relaxed);
    atomic_store_explicit(&last_gen[slot], gen, memory_order_relaxed);
    CHECK(crew__pool_slot(&pool, id) == t, "slot lookup");
}

static void give_back(crew__task_t *t, crew__pool_cache_t *c)
{
    /* release: the next holder's claim acquires our writes. */
    atomic_store_explicit(&owner[slot_of(t)], 0, memory_order_release);
    crew__pool_recycle(&pool, c, t);
}

static void drain_box(int me, crew__pool_cache_t *c)
{
    crew__task_t *local[BOX];
    int n;
    pthread_mutex_lock(&boxes[me].mu);
    n = boxes[me].n;
    memcpy(local, boxes[me].items, (size_t)n * sizeof *local);
    boxes[me].n = 0;
    pthread_mutex_unlock(&boxes[me].mu);
    for (int i = 0; i < n; i++)
        give_back(local[i], c);
}

static void *worker_main(void *arg)
{
    int me = (int)(intptr_t)arg;
    crew__pool_cache_t *c = me < CACHES ? &caches[me] : NULL;
    uint64_t seed = (uint64_t)me * 7919 + 1;
    long rounds = u_scaled(2000000, 20000);
    for (long r = 0; r < rounds; r++) {
        crew__task_t *t = crew__pool_alloc(&pool, c);
        int to;
        CHECK(t, "alloc failed");
        claim(t, me);
        to = (int)u_range(&seed, 0, THREADS - 1);
        if (to == me) {
            give_back(t, c);
        } else {
            bool put = false;
            pthread_mutex_lock(&boxes[to].mu);
            if (boxes[to].n < BOX) {
                boxes[to].items[boxes[to].n++] = t;
                put = true;
            }
            pthread_mutex_unlock(&boxes[to].mu);
            if (!put)
                give_back(t, c);
        }
        if ((r & 15) == 0)
            drain_box(me, c);
    }
    atomic_fetch_add(&done_threads, 1);
    while (atomic_load(&done_threads) < THREADS)
        drain_box(me, c);
    drain_box(me, c);
    if (c)
        crew__pool_flush(&pool, c);
    return NULL;
}

static bool count_slot(crew__task_t *t, void *ctx)
{
    (void)t;
    (*(long *)ctx)++;
    return true;
}

static void sequential(void)
{
    crew__task_t *a, *b;
    uint64_t ida;
    long slots = 0;
    a = crew__pool_alloc(&pool, &caches[0]);
    CHECK(a, "alloc");
    ida = atomic_load(&a->id);
    CHECK((ida & ((1u << CREW_SLOT_BITS) - 1)) != 0, "slot 0 is never a record");
    CHECK(ida >> CREW_SLOT_BITS == 1, "first generation is 1");
    CHECK(crew__pool_slot(&pool, ida) == a, "lookup");
    CHECK(crew__pool_slot(&pool, 0) == NULL, "slot 0");
    CHECK(crew__pool_live(&pool) == 1, "live 1");
    crew__pool_recycle(&pool, &caches[0], a);
    CHECK(crew__word_free(crew__rec_peek(a)), "recycled record is FREE");
    b = crew__pool_alloc(&pool, &caches[0]);
    CHECK(b == a, "the cache is LIFO");
    CHECK(atomic_load(&b->id) == ida + ((uint64_t)1 << CREW_SLOT_BITS), "generation grows");
    crew__pool_recycle(&pool, NULL, b); /* remote free from a cacheless thread */
    b = crew__pool_alloc(&pool, NULL);  /* external allocation */
    CHECK(b && b->home == CREW__HOME_SHARED, "external record");
    crew__pool_recycle(&pool, &caches[1], b); /* batched back to the shared pool */
    crew__pool_flush(&pool, &caches[1]);
    CHECK(crew__pool_live(&pool) == 0, "live %llu", (unsigned long long)crew__pool_live(&pool));
    crew__pool_walk(&pool, count_slot, &slots);
    /* Records are carved CREW_EXT_BATCH slots at a time; slot 0 is none.
     * Two chains went out (cache 0's, then the external thread's). */
    CHECK(slots == 2 * CREW_EXT_BATCH - 1, "walk visited %ld slots", slots);
}

int main(void)
{
    pthread_t th[THREADS];
    int64_t t0 = u_now_ns();
    long slots = 0;
    u_watchdog("unit/pool", 100);
    for (int i = 0; i < CACHES; i++)
        cache_ptrs[i] = &caches[i];
    for (int i = 0; i < THREADS; i++)
        pthread_mutex_init(&boxes[i].mu, NULL);
    CHECK(crew__pool_init(&pool, cache_ptrs, CACHES) == 0, "init");
    sequential();
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&th[i], NULL, worker_main, (void *)(intptr_t)i) == 0, "thread");
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK(atomic_load(&twice) == 0, "%ld records handed out while held", atomic_load(&twice));
    CHECK(atomic_load(&stale_gen) == 0, "%ld IDs reused a generation", atomic_load(&stale_gen));
    CHECK(crew__pool_live(&pool) == 0, "live %llu at the end",
          (unsigned long long)crew__pool_live(&pool));
    crew__pool_walk(&pool, count_slot, &slots);
    crew__pool_destroy(&pool);
    printf("unit/pool: %d threads (%d caches + 1 external), %ld slots, no record handed out "
           "twice, IDs unique, all back, %.2f s\n",
           THREADS, CACHES, slots, u_secs_since(t0));
    return 0;
}
