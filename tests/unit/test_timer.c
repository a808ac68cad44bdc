/*
 * test_timer.c - the timing wheel (timer.h) alone: entries armed at random
 * expiries across the wheel's lower levels (65 us to 1.5 s), some moved,
 * some disarmed, from several threads at once. Every entry armed and not
 * disarmed fires exactly once, never before its expiry; a disarmed one
 * never fires; a moved one fires once, at its last expiry. Task entries
 * (slot-indexed, lazily unlinked) and group entries (hashed) both.
 */
#include <stdatomic.h>

#include "crew.h"
#include "timer.h"
#include "unit.h"

enum { MAXN = 4000, THREADS = 4 };

typedef struct ent {
    _Atomic int64_t when; /* 0: disarmed */
    atomic_int fired;
    _Atomic int64_t fired_at, fired_when;
} ent_t;

static ent_t ents[MAXN];
static crew__timer_t tm;
static int n_per_thread;
static atomic_int left;
static atomic_long task_disarms;

static uint64_t key_of(int i)
{
    /* Task IDs: generation 1 in the high bits, slot i + 1; odd indices are
     * group entries (hashed). */
    return ((uint64_t)1 << 26) | (uint64_t)(i + 1);
}

static uint8_t kind_of(int i) { return (i & 1) ? CREW__TM_GROUP : CREW__TM_TASK; }

static void fire(void *ctx, uint8_t kind, uint64_t key, void *obj)
{
    int i = (int)((key & ((1u << 26) - 1)) - 1);
    (void)ctx;
    (void)obj;
    CHECK(i >= 0 && i < MAXN && kind == kind_of(i), "fired an unknown key %llx",
          (unsigned long long)key);
    atomic_store(&ents[i].fired_at, u_now_ns());
    atomic_store(&ents[i].fired_when, atomic_load(&ents[i].when));
    CHECK(atomic_fetch_add(&ents[i].fired, 1) == 0, "entry %d fired twice", i);
    atomic_fetch_sub(&left, 1);
}

static void *armer(void *p)
{
    int t = (int)(intptr_t)p;
    uint64_t rng = u_seed() + (uint64_t)t * 7919;
    for (int k = 0; k < n_per_thread; k++) {
        int i = t + k * THREADS;
        /* Expiries from 65 us to 1.5 s: levels 0 to 2, with cascades. */
        int64_t when = u_now_ns() + u_range(&rng, 65000, 1500000000);
        atomic_store(&ents[i].when, when);
        CHECK(crew__timer_arm(&tm, kind_of(i), key_of(i), NULL, when, NULL) == 0, "arm");
        switch (u_range(&rng, 0, 5)) {
        case 0: /* disarm */
            if (crew__timer_disarm(&tm, kind_of(i), key_of(i), NULL)) {
                atomic_store(&ents[i].when, 0);
                atomic_fetch_sub(&left, 1);
                if (kind_of(i) == CREW__TM_TASK) /* the caller counts those */
                    atomic_fetch_add(&task_disarms, 1);
            }
            break;
        case 1: /* move (earlier or later) */
            when = u_now_ns() + u_range(&rng, 65000, 1500000000);
            atomic_store(&ents[i].when, when);
            CHECK(crew__timer_arm(&tm, kind_of(i), key_of(i), NULL, when, NULL) == 0, "move");
            break;
        default:
            break;
        }
    }
    return NULL;
}

int main(void)
{
    pthread_t th[THREADS];
    int n;
    u_watchdog("timer", 100);
    n = (int)u_scaled(MAXN, 400);
    n_per_thread = n / THREADS;
    n = n_per_thread * THREADS;
    atomic_store(&left, n);
    CHECK(crew__timer_init(&tm, fire, NULL) == 0, "init");
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, armer, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    /* A race between a disarm and the firing of the same entry is
     * possible only after its expiry; a fired entry's disarm says false. */
    {
        int64_t end = u_now_ns() + (int64_t)20 * 1000000000;
        while (atomic_load(&left) > 0 && u_now_ns() < end) {
            struct timespec ts = {0, 5000000};
            nanosleep(&ts, NULL); /* waiting for the clock, not for a thread */
        }
    }
    if (atomic_load(&left) != 0)
        for (int i = 0; i < n; i++)
            if (atomic_load(&ents[i].when) && !atomic_load(&ents[i].fired))
                fprintf(stderr, "never fired: entry %d (%s), %lld ms ago\n", i,
                        kind_of(i) == CREW__TM_TASK ? "task" : "group",
                        (long long)((u_now_ns() - atomic_load(&ents[i].when)) / 1000000));
    CHECK(atomic_load(&left) == 0, "%d entries never fired", atomic_load(&left));
    int64_t worst = 0;
    for (int i = 0; i < n; i++) {
        int64_t w = atomic_load(&ents[i].when);
        int f = atomic_load(&ents[i].fired);
        if (w == 0) {
            CHECK(f == 0, "entry %d fired after its disarm", i);
            continue;
        }
        CHECK(f == 1, "entry %d fired %d times", i, f);
        CHECK(atomic_load(&ents[i].fired_when) == w, "entry %d fired for an old expiry", i);
        CHECK(atomic_load(&ents[i].fired_at) >= w, "entry %d fired %lld ns early", i,
              (long long)(w - atomic_load(&ents[i].fired_at)));
        if (atomic_load(&ents[i].fired_at) - w > worst)
            worst = atomic_load(&ents[i].fired_at) - w;
    }
    uint64_t still = crew__timer_pending(&tm, (uint64_t)atomic_load(&task_disarms));
    CHECK(still == 0, "%llu still pending", (unsigned long long)still);
    crew__timer_fini(&tm, NULL);
    printf("unit/timer: %d entries, none early, none twice, latest %.2f ms late\n", n,
           (double)worst / 1e6);
    return 0;
}
