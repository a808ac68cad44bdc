/*
 * test_park.c (unit/park) - the eventcount of src/park.h alone: no lost
 * wake-up under a hammer.
 *
 * Work is a count per producer. Producer p writes item n's payload (a few
 * cache lines the consumers read, like the task record a spawner fills),
 * publishes it with a release store pub[p] = n + 1 (a plain store on x86,
 * like the deque push before a real notify), then calls
 * crew__park_notify_one. Consumers take items with a CAS on took[p], check
 * the payload, count the item done, and park exactly as worker.c's idle()
 * does: spin counted (spin_begin, a few rounds of looking, spin_end),
 * prepare, re-check (seq_cst fence, then the loads, as crew__any_work),
 * sleep with no timeout, done.
 *
 * A producer runs rounds: publish 1 to 4 items with random short gaps,
 * so that publications land while consumers woken by the previous item are
 * on their way back to sleep, then wait until its items are done before
 * the next round (a later publication would wake someone and hide a lost
 * wake-up). A lost wake-up leaves an item while every consumer sleeps: the
 * round never drains, and the test fails after DRAIN_S, printing where
 * everybody is. Phase 1 has one producer, so nothing hides a lost wake-up;
 * phase 2 has two at once (one's wake-up may rescue the other's stranded
 * item, so it mostly checks the accounting). At the end: stop, notify_all,
 * and every consumer must exit.
 *
 * Removing the fence in crew__park_notify_one makes phase 1 fail within
 * 0.1-4 s on two x86 cores: the payload stores keep the store of pub in the
 * store buffer while the loads of the counts go ahead (without the payload
 * only about half the runs fail). Dropping the re-check after prepare fails
 * at once. Dropping only the re-check's fence cannot fail on x86: prepare's
 * locked RMW already orders the loads after it.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "park.h"
#include "unit.h"

#define NPROD   2
#define NCONS   2
#define DRAIN_S 2.0 /* a round not drained by then lost a wake-up */
#define NREC    4   /* payload records per producer, reused in turn */
#define RLINES  4   /* cache lines per record */

static crew__park_t P;

typedef struct rec {
    CREW_ALIGNED uint64_t line[RLINES][CREW_CACHE_LINE / 8];
} rec_t;

static struct {
    CREW_ALIGNED _Atomic uint32_t pub;  /* items published */
    CREW_ALIGNED _Atomic uint32_t took; /* of those, claimed by a consumer */
    CREW_ALIGNED _Atomic uint32_t done; /* of those, payload read: reusable */
    rec_t rec[NREC];                    /* item n's payload: rec[n % NREC] */
} Q[NPROD];

static _Atomic int stop;
static _Atomic uint32_t exited;  /* futex word: consumers gone */
static _Atomic long bad_payload; /* payloads that were not the item's */
static _Atomic int fail;         /* a producer saw a round not drain */
static _Atomic int state[NCONS]; /* where each consumer is (diagnostics) */
enum { S_RUN, S_SPIN, S_PREPARED, S_ASLEEP, S_EXITED };

typedef struct prod {
    unsigned id;
    pthread_t th;
    uint64_t rng;
    uint32_t n;   /* items published so far (all phases) */
    long rounds;  /* in: the phase's rounds; out: rounds run */
    long items;   /* items published in this phase */
    double cap_s; /* stop starting rounds after this (phase time) */
    int64_t t0;   /* start of the test */
} prod_t;

static void consume(unsigned p, uint32_t n)
{
    const rec_t *r = &Q[p].rec[n % NREC];
    for (int l = 0; l < RLINES; l++)
        if (r->line[l][0] != n) {
            /* relaxed: a counter read after the joins. */
            atomic_fetch_add_explicit(&bad_payload, 1, memory_order_relaxed);
            break;
        }
    /* release: the producer may rewrite the record once it sees this. */
    atomic_fetch_add_explicit(&Q[p].done, 1, memory_order_release);
}

static bool take(void)
{
    for (unsigned p = 0; p < NPROD; p++) {
        /* relaxed: the CAS below decides. */
        uint32_t t = atomic_load_explicit(&Q[p].took, memory_order_relaxed);
        /* acquire: pairs with the producer's release store; we read the
         * payload it wrote before. */
        while (t < atomic_load_explicit(&Q[p].pub, memory_order_acquire)) {
            /* relaxed: the index alone is claimed; the payload is ordered
             * by the acquire load above. */
            if (atomic_compare_exchange_weak_explicit(&Q[p].took, &t, t + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                consume(p, t);
                return true;
            }
        }
    }
    return false;
}

/* Step 3's re-scan, as crew__any_work: fence, then the queues. */
static bool any_work(void)
{
    CREW_FENCE_SEQ_CST();
    for (unsigned p = 0; p < NPROD; p++)
        /* relaxed: ordered after the announcement by the fence above. */
        if (atomic_load_explicit(&Q[p].took, memory_order_relaxed) <
            atomic_load_explicit(&Q[p].pub, memory_order_relaxed))
            return true;
    return false;
}

static void set_state(unsigned i, int s)
{
    /* relaxed: read only to describe a hang. */
    atomic_store_explicit(&state[i], s, memory_order_relaxed);
}

static void *consumer_main(void *arg)
{
    unsigned i = (unsigned)(uintptr_t)arg;
    uint64_t rng = 0x9E3779B97F4A7C15ull * (i + 1);
    for (;;) {
        bool found = false;
        if (take())
            continue;
        set_state(i, S_SPIN);
        crew__park_spin_begin(&P);
        for (long r = u_range(&rng, 0, 4); r > 0 && !found; r--) {
            found = any_work();
            for (int k = 0; k < 16 && !found; k++)
                crew__cpu_relax();
        }
        crew__park_spin_end(&P);
        if (found) {
            set_state(i, S_RUN);
            continue;
        }
        uint32_t key = crew__park_prepare(&P);
        set_state(i, S_PREPARED);
        if (any_work()) {
            crew__park_done(&P);
            set_state(i, S_RUN);
            continue;
        }
        /* acquire: pairs with the main thread's release store; the queues
         * were seen empty after our announcement. */
        if (atomic_load_explicit(&stop, memory_order_acquire)) {
            crew__park_done(&P);
            break;
        }
        set_state(i, S_ASLEEP);
        crew__park_sleep(&P, key, -1);
        crew__park_done(&P);
        set_state(i, S_RUN);
    }
    set_state(i, S_EXITED);
    /* seq_cst: the main thread reads it, then futex-waits on it. */
    atomic_fetch_add_explicit(&exited, 1, memory_order_seq_cst);
    crew__futex_wake(&exited, 1);
    return NULL;
}

static const char *state_name(int s)
{
    static const char *const names[] = {"running", "spinning", "prepared", "asleep", "exited"};
    return names[s];
}

/* Print where everybody is. The loads are seq_cst (the default):
 * diagnostics only. */
static void describe(const char *who, const char *what, double t)
{
    printf("unit/park: FAIL after %.3f s: %s: %s;", t, who, what);
    for (unsigned p = 0; p < NPROD; p++)
        printf(" producer %u: %u published, %u taken, %u done;", p,
               (unsigned)atomic_load(&Q[p].pub), (unsigned)atomic_load(&Q[p].took),
               (unsigned)atomic_load(&Q[p].done));
    printf(" sleepers %u, spinning %u, epoch %u;", (unsigned)atomic_load(&P.sleepers),
           (unsigned)atomic_load(&P.spinning), (unsigned)atomic_load(&P.epoch));
    for (unsigned i = 0; i < NCONS; i++)
        printf(" consumer %u %s", i, state_name(atomic_load(&state[i])));
    printf("\n");
    fflush(stdout);
}

static void *producer_main(void *arg)
{
    prod_t *pr = arg;
    const long rounds = pr->rounds;
    const int64_t start = u_now_ns();
    uint32_t n = pr->n;
    pr->rounds = 0;
    pr->items = 0;
    while (pr->rounds < rounds && u_secs_since(start) < pr->cap_s) {
        long q = u_range(&pr->rng, 1, 4);
        for (long k = 0; k < q; k++) {
            /* A gap of 0 to a few us, so publications sweep the windows of
             * consumers going back to sleep; spinning, not sleeping. */
            for (long g = u_range(&pr->rng, 0, 2) ? u_range(&pr->rng, 0, 300) : 0; g > 0; g--)
                crew__cpu_relax();
            /* The payload: plain stores to lines the consumers have read
             * (so each needs the line back), published by the store below.
             * They also keep that store waiting in the store buffer, which
             * is what makes a missing fence in notify_one observable. */
            rec_t *r = &Q[pr->id].rec[n % NREC];
            for (int l = 0; l < RLINES; l++)
                r->line[l][0] = n;
            /* release: publishes the item and its payload. */
            atomic_store_explicit(&Q[pr->id].pub, ++n, memory_order_release);
            if (u_range(&pr->rng, 0, 199) == 0)
                crew__park_notify_all(&P);
            else
                crew__park_notify_one(&P);
        }
        pr->items += q;
        pr->rounds++;
        /* Wait for our items, so the next publication cannot rescue a
         * stranded one. acquire: pairs with consume(); the records are ours
         * again. A bounded wait: the deadline is the failure. */
        int64_t end = u_now_ns() + (int64_t)(DRAIN_S * 1e9);
        unsigned spins = 0;
        while (atomic_load_explicit(&Q[pr->id].done, memory_order_acquire) != n) {
            /* relaxed: the other producer's verdict; we only stop early. */
            if (atomic_load_explicit(&fail, memory_order_relaxed))
                return NULL;
            if (u_now_ns() > end) {
                char who[32];
                snprintf(who, sizeof who, "producer %u round %ld", pr->id, pr->rounds);
                /* relaxed: read by the main thread after the join. */
                if (!atomic_exchange_explicit(&fail, 1, memory_order_relaxed))
                    describe(who,
                             "lost wake-up: an item left while the "
                             "consumers sleep",
                             u_secs_since(pr->t0));
                return NULL;
            }
            if (++spins > 64)
                sched_yield();
            else
                crew__cpu_relax();
        }
    }
    pr->n = n;
    return NULL;
}

/* Wait (futex, bounded) until *w == want. */
static bool await_word(_Atomic uint32_t *w, uint32_t want, double secs)
{
    int64_t end = u_now_ns() + (int64_t)(secs * 1e9);
    for (;;) {
        /* seq_cst: pairs with the consumers' increment. */
        uint32_t v = atomic_load_explicit(w, memory_order_seq_cst);
        int64_t left = end - u_now_ns();
        if (v == want)
            return true;
        if (left <= 0)
            return false;
        crew__futex_wait(w, v, left);
    }
}

/* One phase: nprod producers at once, then check they all drained. */
static void phase(prod_t *prods, unsigned nprod, long rounds, double cap_s, long *total_rounds,
                  long *total_items)
{
    for (unsigned p = 0; p < nprod; p++) {
        prods[p].rounds = rounds;
        prods[p].cap_s = cap_s;
        CHECK(pthread_create(&prods[p].th, NULL, producer_main, &prods[p]) == 0, "thread");
    }
    for (unsigned p = 0; p < nprod; p++) {
        pthread_join(prods[p].th, NULL);
        *total_rounds += prods[p].rounds;
        *total_items += prods[p].items;
    }
    /* relaxed: the producers are joined. */
    if (atomic_load_explicit(&fail, memory_order_relaxed))
        exit(1);
}

int main(void)
{
    uint64_t seed = u_seed(), rng = seed;
    prod_t prods[NPROD];
    pthread_t cons[NCONS];
    long rounds = 0, items = 0;
    int64_t t0 = u_now_ns();

    u_watchdog("unit/park", 100);
    crew__park_init(&P);
    for (unsigned i = 0; i < NCONS; i++)
        CHECK(pthread_create(&cons[i], NULL, consumer_main, (void *)(uintptr_t)i) == 0, "thread");
    for (unsigned p = 0; p < NPROD; p++)
        prods[p] = (prod_t){.id = p, .rng = u_rand(&rng) | 1, .t0 = t0};
    phase(prods, 1, u_scaled(300 * 1000, 1000), 5.0, &rounds, &items);
    phase(prods, NPROD, u_scaled(60 * 1000, 300), 2.0, &rounds, &items);

    /* release: pairs with the consumers' acquire load after their re-check. */
    atomic_store_explicit(&stop, 1, memory_order_release);
    crew__park_notify_all(&P);
    if (!await_word(&exited, NCONS, DRAIN_S)) {
        describe("shutdown", "a consumer sleeps after stop + notify_all", u_secs_since(t0));
        exit(1);
    }
    for (unsigned i = 0; i < NCONS; i++)
        pthread_join(cons[i], NULL);

    /* relaxed: every thread has been joined. */
    for (unsigned p = 0; p < NPROD; p++) {
        uint32_t pub = atomic_load_explicit(&Q[p].pub, memory_order_relaxed);
        uint32_t took = atomic_load_explicit(&Q[p].took, memory_order_relaxed);
        uint32_t done = atomic_load_explicit(&Q[p].done, memory_order_relaxed);
        CHECK(pub == took && took == done && pub == prods[p].n,
              "producer %u: %u published, %u taken, %u done", p, (unsigned)pub, (unsigned)took,
              (unsigned)done);
    }
    CHECK(atomic_load_explicit(&bad_payload, memory_order_relaxed) == 0,
          "%ld payloads read before they were written",
          atomic_load_explicit(&bad_payload, memory_order_relaxed));
    CHECK(atomic_load_explicit(&P.sleepers, memory_order_relaxed) == 0 &&
              atomic_load_explicit(&P.spinning, memory_order_relaxed) == 0,
          "counts not back to 0: sleepers %u, spinning %u",
          (unsigned)atomic_load_explicit(&P.sleepers, memory_order_relaxed),
          (unsigned)atomic_load_explicit(&P.spinning, memory_order_relaxed));
    printf("unit/park: %.2f s: %ld rounds, %ld items each consumed once, %u "
           "epoch bumps, seed %#llx\n",
           u_secs_since(t0), rounds, items,
           (unsigned)atomic_load_explicit(&P.epoch, memory_order_relaxed),
           (unsigned long long)seed);
    printf("unit/park: PASS\n");
    return 0;
}
