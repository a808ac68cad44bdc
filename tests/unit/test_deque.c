/*
 * test_deque.c (unit/deque) - the Chase-Lev deque of src/deque.h alone.
 *
 * 1. Sequential: LIFO pop, FIFO steal, peek, size, growth from the initial
 *    ring many times, growth while the indices wrap around the ring, push
 *    failing cleanly when the ring cannot grow, memory given back.
 * 2. Hammer: one owner (pinned to CPU 0) pushes and pops while two thieves
 *    (one pinned to CPU 1) steal without pause. Items are numbered; every
 *    take bumps the item's counter, and at the end of each round every
 *    counter must be exactly 1. The owner mostly keeps the deque tiny
 *    (push 2, pop, pop; push 1, pop): the contested case is the last
 *    element(s), where pop's store of bottom must be ordered before its
 *    load of top (the seq_cst fence). Bursts of thousands of pushes make a
 *    fresh ring grow several times per round while thieves read it.
 *
 * Each item also carries a payload the owner writes before pushing it and
 * the taker checks: ThreadSanitizer sees a race there if push/steal or
 * grow/steal lose their release/acquire pairing.
 *
 * Removing the seq_cst fence in crew__deque_pop (store-buffer reordering of
 * the store of bottom with the load of top; TSan cannot see this one) makes
 * the release build fail in the first round or two, within ~50 ms, on two
 * x86 cores.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "deque.h"
#include "fault.h"
#include "unit.h"

_Static_assert(sizeof(void *) == 8, "items pack a round tag and an index");

#define NTHIEVES 2

/* ---- 1. sequential ------------------------------------------------------ */

static void *item(long i) { return (void *)(uintptr_t)(i + 1); }
static long index_of(void *x) { return (long)(uintptr_t)x - 1; }

static int64_t capacity(crew__deque_t *d)
{
    /* relaxed: single-threaded here. */
    return atomic_load_explicit(&d->ring, memory_order_relaxed)->mask + 1;
}

static void sequential(void)
{
    crew__deque_t d;
    void *x;
    int64_t live0 = crew__fault_live_bytes();
    const int64_t init = (int64_t)1 << CREW_DEQUE_INIT_LOG2;
    const long n = 5 * init + 17; /* grows 3 times: 1x -> 8x */

    CHECK(crew__deque_init(&d) == 0, "init");
    CHECK(capacity(&d) == init, "initial capacity %lld", (long long)capacity(&d));
    CHECK(crew__deque_pop(&d) == NULL, "pop of empty");
    CHECK(crew__deque_peek(&d) == NULL, "peek of empty");
    CHECK(crew__deque_steal(&d, &x) == CREW__STEAL_EMPTY, "steal of empty");
    CHECK(crew__deque_size(&d) == 0, "size of empty");

    /* LIFO for the owner, across growth. */
    for (long i = 0; i < n; i++)
        CHECK(crew__deque_push(&d, item(i)), "push %ld", i);
    CHECK(capacity(&d) == 8 * init, "capacity after %ld pushes: %lld", n, (long long)capacity(&d));
    CHECK(crew__deque_size(&d) == n, "size %lld", (long long)crew__deque_size(&d));
    CHECK(crew__deque_peek(&d) == item(n - 1), "peek");
    for (long i = n - 1; i >= 0; i--) {
        x = crew__deque_pop(&d);
        CHECK(x == item(i), "pop: expected %ld, got %ld", i, index_of(x));
    }
    CHECK(crew__deque_pop(&d) == NULL, "pop after draining");

    /* FIFO for thieves. */
    for (long i = 0; i < n; i++)
        CHECK(crew__deque_push(&d, item(i)), "push %ld", i);
    for (long i = 0; i < n; i++) {
        x = NULL;
        CHECK(crew__deque_steal(&d, &x) == CREW__STEAL_OK && x == item(i),
              "steal: expected %ld, got %ld", i, index_of(x));
    }
    CHECK(crew__deque_steal(&d, &x) == CREW__STEAL_EMPTY, "steal after draining");

    /* Both ends meet on the last element. */
    for (long i = 0; i < 3; i++)
        crew__deque_push(&d, item(i));
    CHECK(crew__deque_steal(&d, &x) == CREW__STEAL_OK && x == item(0), "steal 0");
    CHECK(crew__deque_pop(&d) == item(2), "pop 2");
    CHECK(crew__deque_pop(&d) == item(1), "pop 1 (last element)");
    CHECK(crew__deque_pop(&d) == NULL, "pop of empty after last");
    CHECK(crew__deque_steal(&d, &x) == CREW__STEAL_EMPTY, "steal of empty");
    crew__deque_destroy(&d);

    /* Indices far past the capacity, then growth of a wrapped ring: the
     * copy must keep every element at its index. */
    CHECK(crew__deque_init(&d) == 0, "init");
    long next = 0, first = 0;
    for (; next < init - 24; next++)
        crew__deque_push(&d, item(next));
    for (long k = 0; k < 3 * init + 5; k++) {
        crew__deque_push(&d, item(next++));
        CHECK(crew__deque_steal(&d, &x) == CREW__STEAL_OK && x == item(first),
              "wrap steal: expected %ld, got %ld", first, index_of(x));
        first++;
    }
    CHECK(capacity(&d) == init, "no growth while size < capacity");
    for (long k = 0; k < 3 * init; k++)
        crew__deque_push(&d, item(next++));
    CHECK(capacity(&d) == 4 * init, "wrapped growth: capacity %lld", (long long)capacity(&d));
    for (; first < next; first++) {
        x = NULL;
        CHECK(crew__deque_steal(&d, &x) == CREW__STEAL_OK && x == item(first),
              "after wrapped growth: expected %ld, got %ld", first, index_of(x));
    }
    CHECK(crew__deque_pop(&d) == NULL, "empty after wrapped growth");

#ifdef CREW_FAULT_INJECTION
    /* A full ring whose growth fails: push says false, nothing changes. */
    for (long i = 0; i < 4 * init; i++)
        crew__deque_push(&d, item(i));
    crew__fault_fail_alloc_at(0);
    CHECK(!crew__deque_push(&d, item(4 * init)), "push must fail without memory");
    crew__fault_reset();
    CHECK(crew__deque_size(&d) == 4 * init, "size after failed push");
    CHECK(crew__deque_push(&d, item(4 * init)), "push after memory is back");
    for (long i = 4 * init; i >= 0; i--)
        CHECK(crew__deque_pop(&d) == item(i), "pop %ld after failed growth", i);
#endif
    crew__deque_destroy(&d);
    CHECK(crew__fault_live_bytes() == live0, "leak: %lld bytes",
          (long long)(crew__fault_live_bytes() - live0));
}

/* ---- 2. hammer ---------------------------------------------------------- */

/* The round's state. Written by the owner only between the two barriers of
 * a round boundary (when no thief runs); read by thieves inside a round. */
static struct {
    crew__deque_t dq;
    _Atomic uint8_t *taken; /* per item of the round: times taken */
    uint32_t *payload;      /* per item: written before the push, plain */
    long items;             /* items in this round */
    uint64_t tag;           /* round number, in each item's high bits */
    pthread_barrier_t start, end;
    _Atomic int round_over; /* owner -> thieves: stop stealing */
    _Atomic int quit;       /* owner -> thieves: no more rounds */
    _Atomic long bogus;     /* takes of values that are no item of the round,
                               or whose payload was not visible */
} H;

typedef struct thief {
    unsigned id;
    pthread_t th;
    long ok, lost, empty;
} thief_t;

static uint32_t payload_of(long i) { return (uint32_t)((uint64_t)i * 2654435761u ^ H.tag); }

static void *round_item(long i) { return (void *)(uintptr_t)(H.tag << 32 | (uint64_t)(i + 1)); }

static void record(void *x)
{
    uint64_t v = (uint64_t)(uintptr_t)x;
    long i = (long)(v & 0xffffffffu) - 1;
    if ((v >> 32) != H.tag || i < 0 || i >= H.items) {
        /* relaxed: a counter read after the round's end barrier. */
        atomic_fetch_add_explicit(&H.bogus, 1, memory_order_relaxed);
        return;
    }
    /* A plain read: ordered after the owner's write by push's release
     * store of bottom and steal's acquire load (ThreadSanitizer checks). */
    if (H.payload[i] != payload_of(i))
        /* relaxed: a counter read after the round's end barrier. */
        atomic_fetch_add_explicit(&H.bogus, 1, memory_order_relaxed);
    /* relaxed: the counters are read after the round's end barrier. */
    atomic_fetch_add_explicit(&H.taken[i], 1, memory_order_relaxed);
}

static void *thief_main(void *arg)
{
    thief_t *t = arg;
    if (t->id == 0)
        crew__pin_self(1);
    for (;;) {
        pthread_barrier_wait(&H.start);
        /* relaxed: set before the start barrier, which orders it. */
        if (atomic_load_explicit(&H.quit, memory_order_relaxed))
            break;
        /* relaxed: only a stop signal; the end barrier orders the rest. */
        while (!atomic_load_explicit(&H.round_over, memory_order_relaxed)) {
            void *x = NULL;
            switch (crew__deque_steal(&H.dq, &x)) {
            case CREW__STEAL_OK:
                record(x);
                t->ok++;
                break;
            case CREW__STEAL_LOST:
                t->lost++;
                break;
            default:
                t->empty++;
                break;
            }
        }
        pthread_barrier_wait(&H.end);
    }
    return NULL;
}

static bool owner_push(long *pushed)
{
    if (*pushed >= H.items)
        return false;
    H.payload[*pushed] = payload_of(*pushed);
    CHECK(crew__deque_push(&H.dq, round_item(*pushed)), "push: out of memory");
    ++*pushed;
    return true;
}

static void owner_pop(long n)
{
    for (long k = 0; k < n; k++) {
        void *x = crew__deque_pop(&H.dq);
        if (!x)
            return;
        record(x);
    }
}

/* One round's owner side: mostly tiny (the last-element race), some small
 * batches, and one or two bursts that grow the fresh ring. */
static void owner_round(uint64_t *rng)
{
    long pushed = 0;
    long burst_at = u_range(rng, 0, H.items / 2);
    while (pushed < H.items) {
        long r = u_range(rng, 0, 999), k;
        if (pushed >= burst_at) {
            k = u_range(rng, 2 * 1024, 40 * 1024);
            burst_at = H.items; /* once per round, plus the rare ones */
        } else if (r < 2) {
            k = u_range(rng, 1024, 8 * 1024);
        } else if (r < 120) {
            k = u_range(rng, 3, 64);
        } else {
            k = 0;
        }
        if (k) {
            for (long i = 0; i < k && owner_push(&pushed); i++) {
            }
            owner_pop(u_range(rng, 0, 1) ? k : k / 2);
        } else if (r < 750) {
            owner_push(&pushed);
            owner_push(&pushed);
            owner_pop(2);
        } else {
            owner_push(&pushed);
            owner_pop(1);
        }
    }
    owner_pop(H.items); /* the rest, until empty */
}

static void hammer(void)
{
    const long target = u_scaled(60L * 1000 * 1000, 200 * 1000);
    const double cap_s = 9.0; /* stop starting rounds after this */
    uint64_t seed = u_seed(), rng = seed;
    thief_t thieves[NTHIEVES];
    long rounds = 0, total = 0, grows = 0;
    int64_t t0 = u_now_ns();

    /* Rounds of 2^17 items (fewer when scaled down, so that small runs
     * still start many fresh rings). */
    H.items = target / 64;
    H.items = H.items > (1L << 17) ? 1L << 17 : H.items < (1L << 13) ? 1L << 13 : H.items;
    H.taken = calloc((size_t)H.items, sizeof *H.taken);
    H.payload = calloc((size_t)H.items, sizeof *H.payload);
    CHECK(H.taken && H.payload, "calloc");
    CHECK(pthread_barrier_init(&H.start, NULL, NTHIEVES + 1) == 0, "barrier");
    CHECK(pthread_barrier_init(&H.end, NULL, NTHIEVES + 1) == 0, "barrier");
    for (unsigned i = 0; i < NTHIEVES; i++) {
        thieves[i] = (thief_t){.id = i};
        CHECK(pthread_create(&thieves[i].th, NULL, thief_main, &thieves[i]) == 0, "thread");
    }
    crew__pin_self(0);

    while (total < target && u_secs_since(t0) < cap_s) {
        long twice = 0, never = 0, first_bad = -1;
        CHECK(crew__deque_init(&H.dq) == 0, "init");
        H.tag = (uint64_t)rounds + 1;
        /* relaxed: the barrier orders these for the thieves. */
        atomic_store_explicit(&H.round_over, 0, memory_order_relaxed);
        pthread_barrier_wait(&H.start);
        owner_round(&rng);
        /* relaxed: a stop signal; the end barrier orders everything. */
        atomic_store_explicit(&H.round_over, 1, memory_order_relaxed);
        pthread_barrier_wait(&H.end);

        for (long i = 0; i < H.items; i++) {
            /* relaxed: thieves are parked at the barrier. */
            unsigned c = atomic_load_explicit(&H.taken[i], memory_order_relaxed);
            if (c != 1 && first_bad < 0)
                first_bad = i;
            twice += c > 1;
            never += c == 0;
            atomic_store_explicit(&H.taken[i], 0, memory_order_relaxed);
        }
        grows += __builtin_ctzll((unsigned long long)capacity(&H.dq)) - CREW_DEQUE_INIT_LOG2;
        crew__deque_destroy(&H.dq);
        rounds++;
        total += H.items;
        /* relaxed: thieves are parked at the barrier. */
        long bogus = atomic_load_explicit(&H.bogus, memory_order_relaxed);
        if (twice || never || bogus) {
            printf("unit/deque: FAIL after %.3f s (round %ld, %ld items in all, "
                   "seed %#llx): %ld items taken twice or more, %ld never, %ld "
                   "bogus values (first bad item %ld)\n",
                   u_secs_since(t0), rounds, total, (unsigned long long)seed, twice, never, bogus,
                   first_bad);
            exit(1);
        }
    }

    /* relaxed: the start barrier orders it. */
    atomic_store_explicit(&H.quit, 1, memory_order_relaxed);
    pthread_barrier_wait(&H.start);
    long ok = 0, lost = 0, empty = 0;
    for (unsigned i = 0; i < NTHIEVES; i++) {
        pthread_join(thieves[i].th, NULL);
        ok += thieves[i].ok;
        lost += thieves[i].lost;
        empty += thieves[i].empty;
    }
    pthread_barrier_destroy(&H.start);
    pthread_barrier_destroy(&H.end);
    free(H.taken);
    free(H.payload);
    printf("unit/deque: hammer %.2f s: %ld rounds, %ld items each taken once "
           "(%ld stolen, %ld popped), %ld ring growths, %ld lost CAS, %ld empty "
           "steals, seed %#llx\n",
           u_secs_since(t0), rounds, total, ok, total - ok, grows, lost, empty,
           (unsigned long long)seed);
    CHECK(rounds > 0 && ok > 0, "the thieves must have stolen something");
}

int main(void)
{
    u_watchdog("unit/deque", 100);
    sequential();
    printf("unit/deque: sequential ok\n");
    hammer();
    printf("unit/deque: PASS\n");
    return 0;
}
