/*
 * test_inject.c (unit/inject) - the injection queue of src/inject.h alone.
 *
 * What inject.h promises: many producers push chains (first..last linked by
 * ->next, first newest) with a CAS on one head; a consumer takes everything
 * with one exchange and gets it newest first. Hence, for each producer,
 * items come out in the reverse of the order it pushed them within a take,
 * and takes come in push order (reversed, each take is FIFO per producer
 * and follows the previous take); no order between producers.
 *
 * 1. Sequential: empty queue, one item, chains and singles mixed, order.
 * 2. Hammer: NPROD producers push single items and chains of 2..32 from a
 *    private pool of records, numbering their items 0, 1, 2, ...; the main
 *    thread takes all, again and again, reverses each take, and requires
 *    each producer's numbers to arrive exactly in sequence (so every item
 *    exactly once, in order). It hands the records back to their producer through a second
 *    injection queue per producer (the consumer pushing chains, the
 *    producer taking all), so each record's fields are written and read by
 *    alternating threads, ordered only by the queues (ThreadSanitizer checks
 *    those edges).
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "inject.h"
#include "task.h"
#include "unit.h"

#define NPROD    4
#define POOL     256  /* records per producer */
#define MAXCHAIN 32   /* longest chain pushed at once */
#define STALL_S  10.0 /* no progress for this long: a hang */

typedef struct item {
    crew__task_t t; /* the queue uses t.next only */
    uint32_t prod;  /* written by the producer before the push */
    uint32_t seq;
    uint32_t seen; /* written by the consumer: seq + 1 */
} item_t;

static item_t *of(crew__task_t *t) { return (item_t *)t; }

/* ---- 1. sequential ------------------------------------------------------ */

static void sequential(void)
{
    crew__inject_t q;
    item_t it[8];
    crew__task_t *h;
    memset(it, 0, sizeof it);
    for (uint32_t i = 0; i < 8; i++)
        it[i].seq = i;

    crew__inject_init(&q);
    CHECK(crew__inject_empty(&q), "new queue is empty");
    CHECK(crew__inject_take_all(&q) == NULL, "take from empty");

    crew__inject_push(&q, &it[0].t, &it[0].t);
    CHECK(!crew__inject_empty(&q), "one item");
    h = crew__inject_take_all(&q);
    CHECK(h == &it[0].t && h->next == NULL, "take one");
    CHECK(crew__inject_empty(&q) && crew__inject_take_all(&q) == NULL, "empty after take");

    /* Newest first: the chain 1,2,3 (first = 3, newest), then 4, then the
     * chain 5,6,7 (first = 7) come out 7, 6, ..., 1. */
    it[3].t.next = &it[2].t;
    it[2].t.next = &it[1].t;
    crew__inject_push(&q, &it[3].t, &it[1].t);
    crew__inject_push(&q, &it[4].t, &it[4].t);
    it[7].t.next = &it[6].t;
    it[6].t.next = &it[5].t;
    crew__inject_push(&q, &it[7].t, &it[5].t);
    h = crew__inject_take_all(&q);
    for (uint32_t i = 7; i >= 1; i--, h = h->next)
        CHECK(h && of(h)->seq == i, "order: expected %u, got %d", (unsigned)i,
              h ? (int)of(h)->seq : -1);
    CHECK(h == NULL, "chain not terminated");
    CHECK(crew__inject_empty(&q), "empty after take");
}

/* ---- 2. hammer ---------------------------------------------------------- */

static crew__inject_t Qin;         /* producers -> consumer */
static crew__inject_t Qret[NPROD]; /* consumer -> producer p: records back */
static _Atomic int fail;           /* a producer hit a deadline */
static _Atomic long bad_back;      /* records back without the consumer's mark */
static _Atomic int ndone;          /* producers finished */

typedef struct prod {
    unsigned id;
    pthread_t th;
    uint64_t rng;
    long quota; /* items to push */
    double cap_s;
    int64_t t0;
    long pushed, chains;
    item_t pool[POOL];
} prod_t;

static void *producer_main(void *arg)
{
    prod_t *pr = arg;
    crew__task_t *free_list = NULL;
    long nfree = 0;
    uint32_t seq = 0;
    for (int i = 0; i < POOL; i++) {
        pr->pool[i].seq = UINT32_MAX; /* so that seen == seq + 1 */
        pr->pool[i].seen = 0;
        pr->pool[i].t.next = free_list;
        free_list = &pr->pool[i].t;
        nfree++;
    }
    while (pr->pushed < pr->quota && u_secs_since(pr->t0) < pr->cap_s) {
        int64_t end = u_now_ns() + (int64_t)(STALL_S * 1e9);
        unsigned spins = 0;
        while (nfree < MAXCHAIN) {
            /* Records back from the consumer; their fields are ours again
             * (the take is an acquire exchange). */
            crew__task_t *h = crew__inject_take_all(&Qret[pr->id]);
            while (h) {
                crew__task_t *n = h->next;
                if (of(h)->seen != of(h)->seq + 1u)
                    /* relaxed: a counter read after the join. */
                    atomic_fetch_add_explicit(&bad_back, 1, memory_order_relaxed);
                h->next = free_list;
                free_list = h;
                nfree++;
                h = n;
            }
            if (nfree >= MAXCHAIN)
                break;
            if (u_now_ns() > end) {
                /* relaxed: read by the main thread after the join. */
                atomic_store_explicit(&fail, 1, memory_order_relaxed);
                fprintf(stderr,
                        "unit/inject: producer %u: no record came back "
                        "for %.0f s\n",
                        pr->id, STALL_S);
                goto out;
            }
            if (++spins > 16)
                sched_yield();
        }
        /* Half single items, half chains of 2..MAXCHAIN. */
        long k = u_range(&pr->rng, 0, 1) ? 1 : u_range(&pr->rng, 2, MAXCHAIN);
        if (k > pr->quota - pr->pushed)
            k = pr->quota - pr->pushed;
        /* Items seq .. seq+k-1; last (oldest) = seq, first (newest) = the
         * highest, each linked to the one before it. */
        crew__task_t *first = NULL, *last = NULL;
        for (long i = 0; i < k; i++) {
            crew__task_t *t = free_list;
            free_list = t->next;
            nfree--;
            of(t)->prod = pr->id;
            of(t)->seq = seq++;
            t->next = first;
            first = t;
            if (!last)
                last = t;
        }
        crew__inject_push(&Qin, first, last);
        pr->pushed += k;
        pr->chains++;
    }
out:
    /* release: the consumer that sees it sees every push above. */
    atomic_fetch_add_explicit(&ndone, 1, memory_order_release);
    return NULL;
}

int main(void)
{
    uint64_t seed = u_seed(), rng = seed;
    static prod_t prods[NPROD];
    uint32_t expect[NPROD] = {0};
    long got = 0, takes = 0, empty_takes = 0, longest = 0, quota = 0, errors = 0;
    int64_t t0 = u_now_ns();

    u_watchdog("unit/inject", 100);
    sequential();
    printf("unit/inject: sequential ok\n");

    crew__inject_init(&Qin);
    for (unsigned p = 0; p < NPROD; p++) {
        crew__inject_init(&Qret[p]);
        prods[p].id = p;
        prods[p].rng = u_rand(&rng) | 1;
        prods[p].quota = u_scaled(12L * 1000 * 1000, 20000);
        prods[p].cap_s = 8.0; /* stop pushing after this */
        prods[p].t0 = t0;
        quota += prods[p].quota;
        CHECK(pthread_create(&prods[p].th, NULL, producer_main, &prods[p]) == 0, "thread");
    }

    /* Consume until the producers are done (each met its quota or stopped
     * at its time cap) and the queue is empty. */
    int64_t last_progress = u_now_ns();
    unsigned spins = 0;
    for (;;) {
        /* acquire: pairs with the producers' release; read before the take,
         * so that if all were done, this take gets their last items. */
        bool all_done = atomic_load_explicit(&ndone, memory_order_acquire) == NPROD;
        crew__task_t *h = crew__inject_take_all(&Qin);
        if (!h) {
            empty_takes++;
            if (all_done)
                break;
            CHECK(u_now_ns() - last_progress < (int64_t)(STALL_S * 1e9),
                  "nothing arrived for %.0f s", STALL_S);
            if (++spins > 16)
                sched_yield();
            continue;
        }
        spins = 0;
        last_progress = u_now_ns();
        takes++;
        { /* newest first: reverse the take into push order */
            crew__task_t *prev = NULL;
            while (h) {
                crew__task_t *n = h->next;
                h->next = prev;
                prev = h;
                h = n;
            }
            h = prev;
        }
        crew__task_t *back_first[NPROD] = {0}, *back_last[NPROD] = {0};
        long len = 0;
        while (h) {
            crew__task_t *n = h->next; /* before handing the record back */
            item_t *it = of(h);
            uint32_t p = it->prod;
            len++;
            CHECK(p < NPROD, "a record of no producer (%u)", (unsigned)p);
            if (it->seq != expect[p]) {
                if (errors++ < 10)
                    fprintf(stderr,
                            "unit/inject: producer %u: expected item "
                            "%u, got %u\n",
                            (unsigned)p, (unsigned)expect[p], (unsigned)it->seq);
                expect[p] = it->seq + 1;
            } else {
                expect[p]++;
            }
            it->seen = it->seq + 1;
            h->next = back_first[p];
            back_first[p] = h;
            if (!back_last[p])
                back_last[p] = h;
            got++;
            h = n;
        }
        if (len > longest)
            longest = len;
        for (unsigned p = 0; p < NPROD; p++)
            if (back_first[p])
                crew__inject_push(&Qret[p], back_first[p], back_last[p]);
        CHECK(errors == 0,
              "%ld items out of sequence (lost, repeated or "
              "reordered) after %.3f s",
              errors, u_secs_since(t0));
    }

    long pushed = 0, chains = 0;
    for (unsigned p = 0; p < NPROD; p++) {
        pthread_join(prods[p].th, NULL);
        pushed += prods[p].pushed;
        chains += prods[p].chains;
    }
    /* relaxed: the producers are joined. */
    CHECK(!atomic_load_explicit(&fail, memory_order_relaxed), "a producer hung");
    /* relaxed: the producers are joined. */
    CHECK(atomic_load_explicit(&bad_back, memory_order_relaxed) == 0,
          "%ld records came back without the consumer's mark",
          atomic_load_explicit(&bad_back, memory_order_relaxed));
    for (unsigned p = 0; p < NPROD; p++)
        CHECK(expect[p] == (uint32_t)prods[p].pushed,
              "producer %u: pushed %ld, "
              "received %u",
              p, prods[p].pushed, (unsigned)expect[p]);
    CHECK(got == pushed, "received %ld of %ld", got, pushed);
    CHECK(crew__inject_empty(&Qin), "queue not empty at the end");
    printf("unit/inject: hammer %.2f s: %d producers pushed %ld items (of %ld "
           "planned) in %ld pushes, each received once and in order, in %ld "
           "takes (longest %ld, %ld empty), seed %#llx\n",
           u_secs_since(t0), NPROD, pushed, quota, chains, takes, longest, empty_takes,
           (unsigned long long)seed);
    printf("unit/inject: PASS\n");
    return 0;
}
