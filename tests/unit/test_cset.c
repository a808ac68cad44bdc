/*
 * test_cset.c (unit/cset) - the key set of src/cset.h alone.
 *
 * 1. Sequential: insert, contains, remove, size; growth to thousands of keys
 *    and back (ck_hs resizes both ways).
 * 2. Concurrent: one writer inserts and removes "churn" keys in waves that
 *    grow the map several times and shrink it again, while READERS threads,
 *    each with its own reader record, look keys up with no lock. Keys of
 *    the "stable" range, inserted before the readers start and never
 *    removed, must always be found (a reader looking at a freed or
 *    half-built map would miss them or crash under ASan); keys never
 *    inserted must never be found.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cset.h"
#include "unit.h"

#define READERS    3
#define STABLE     512
#define NEVER_BASE ((uint64_t)1 << 40) /* never inserted */
#define CHURN_BASE ((uint64_t)1 << 41)

static crew__cset_t set;
static atomic_int stop;
static atomic_long lookups, misses_stable, hits_never;

static uint64_t stable_key(long i) { return (uint64_t)(i + 1) * 0x1000 + 7; }

static void sequential(void)
{
    crew__cset_t c;
    crew__cset_reader_t *r;
    CHECK(crew__cset_init(&c, 8) == 0, "init");
    r = crew__cset_reader(&c);
    CHECK(r, "reader");
    crew__cset_lock(&c);
    CHECK(!crew__cset_contains(&c, r, 42), "empty set has 42");
    CHECK(crew__cset_insert(&c, 42), "insert");
    CHECK(crew__cset_insert(&c, 42), "insert twice is fine");
    CHECK(crew__cset_size(&c) == 1, "size %llu", (unsigned long long)crew__cset_size(&c));
    CHECK(crew__cset_contains(&c, r, 42), "42 missing");
    crew__cset_remove(&c, 42);
    crew__cset_remove(&c, 42); /* absent: ignored */
    CHECK(!crew__cset_contains(&c, r, 42), "42 still there");
    for (uint64_t k = 1; k <= 5000; k++)
        CHECK(crew__cset_insert(&c, k * 3), "insert %llu", (unsigned long long)k);
    CHECK(crew__cset_size(&c) == 5000, "size after growth");
    for (uint64_t k = 1; k <= 15000; k++)
        CHECK(crew__cset_contains(&c, r, k) == (k % 3 == 0), "key %llu", (unsigned long long)k);
    for (uint64_t k = 1; k <= 5000; k++)
        crew__cset_remove(&c, k * 3);
    CHECK(crew__cset_size(&c) == 0, "size after removal");
    crew__cset_unlock(&c);
    crew__cset_destroy(&c);
    crew__cset_reader_free(r);
}

static void *reader_main(void *arg)
{
    crew__cset_reader_t *r = arg;
    uint64_t seed = (uint64_t)(uintptr_t)arg | 1;
    long n = 0;
    /* acquire: pairs with the main thread's release store of stop. */
    while (!atomic_load_explicit(&stop, memory_order_acquire)) {
        long i = u_range(&seed, 0, STABLE - 1);
        if (!crew__cset_contains(&set, r, stable_key(i)))
            atomic_fetch_add_explicit(&misses_stable, 1, memory_order_relaxed);
        if (crew__cset_contains(&set, r, NEVER_BASE + (uint64_t)i))
            atomic_fetch_add_explicit(&hits_never, 1, memory_order_relaxed);
        (void)crew__cset_contains(&set, r, CHURN_BASE + u_rand(&seed) % 20000);
        n += 3;
    }
    /* relaxed: read after the join. */
    atomic_fetch_add_explicit(&lookups, n, memory_order_relaxed);
    return NULL;
}

int main(void)
{
    pthread_t th[READERS];
    crew__cset_reader_t *rd[READERS];
    long waves = u_scaled(400, 10), churned = 0;
    int64_t t0 = u_now_ns();
    u_watchdog("unit/cset", 100);
    sequential();
    CHECK(crew__cset_init(&set, 16) == 0, "init");
    crew__cset_lock(&set);
    for (long i = 0; i < STABLE; i++)
        CHECK(crew__cset_insert(&set, stable_key(i)), "stable insert");
    crew__cset_unlock(&set);
    for (int i = 0; i < READERS; i++) {
        rd[i] = crew__cset_reader(&set);
        CHECK(rd[i], "reader");
        CHECK(pthread_create(&th[i], NULL, reader_main, rd[i]) == 0, "thread");
    }
    for (long w = 0; w < waves; w++) {
        long n = 2000 + (w % 5) * 4000; /* 2k .. 18k keys: grows and shrinks */
        for (long k = 0; k < n; k++) {
            crew__cset_lock(&set);
            CHECK(crew__cset_insert(&set, CHURN_BASE + (uint64_t)k), "churn insert");
            crew__cset_unlock(&set);
        }
        for (long k = 0; k < n; k++) {
            crew__cset_lock(&set);
            crew__cset_remove(&set, CHURN_BASE + (uint64_t)k);
            crew__cset_unlock(&set);
        }
        churned += n;
    }
    /* release: the readers' last loads happen before they see stop. */
    atomic_store_explicit(&stop, 1, memory_order_release);
    for (int i = 0; i < READERS; i++)
        pthread_join(th[i], NULL);
    CHECK(crew__cset_size(&set) == STABLE, "size %llu", (unsigned long long)crew__cset_size(&set));
    CHECK(atomic_load(&misses_stable) == 0, "%ld lookups missed a key that was always present",
          atomic_load(&misses_stable));
    CHECK(atomic_load(&hits_never) == 0, "%ld lookups found a key never inserted",
          atomic_load(&hits_never));
    crew__cset_destroy(&set);
    for (int i = 0; i < READERS; i++)
        crew__cset_reader_free(rd[i]);
    printf("unit/cset: %ld churn inserts+removes in %ld waves, %ld lock-free lookups by %d "
           "readers, none wrong, %.2f s\n",
           churned, waves, atomic_load(&lookups), READERS, u_secs_since(t0));
    return 0;
}
