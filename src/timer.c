/*
 * timer.c - the executor's timing wheel and its thread (timer.h has the
 * layout and the protocol).
 */
#include "timer.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

#include "crew.h"
#include "fault.h"
#include "tunables.h"

#define TICK_BITS 16
#define LVL_BITS  6
#define DUE_LEVEL 0xff

static inline unsigned shift_of(unsigned level) { return TICK_BITS + LVL_BITS * level; }

static inline uint64_t hash_key(uint8_t kind, uint64_t key)
{
    uint64_t h = (key ^ ((uint64_t)kind << 59)) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}

/* ---- slot lists --------------------------------------------------------- */

static void slot_link(crew__tshard_t *tm, crew__tentry_t *e, unsigned level, unsigned s)
{
    crew__tentry_t **head = &tm->slot[level][s];
    e->level = (uint8_t)level;
    e->slot = (uint8_t)s;
    e->prev = NULL;
    e->next = *head;
    if (*head)
        (*head)->prev = e;
    *head = e;
    tm->occupied[level] |= 1ull << s;
}

static void unlink_entry(crew__tshard_t *tm, crew__tentry_t *e)
{
    crew__tentry_t **head = e->level == DUE_LEVEL ? &tm->due : &tm->slot[e->level][e->slot];
    if (e->prev)
        e->prev->next = e->next;
    else
        *head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    if (e->level != DUE_LEVEL && !*head)
        tm->occupied[e->level] &= ~(1ull << e->slot);
}

/* Where an entry due at `when` belongs relative to tm->cur (the layout
 * rule of timer.h): false for the due list, else its level and slot. */
static inline bool locate(const crew__tshard_t *tm, int64_t when, unsigned *level, unsigned *slot)
{
    uint64_t d;
    if (when < tm->cur)
        return false;
    d = ((uint64_t)when >> TICK_BITS) ^ ((uint64_t)tm->cur >> TICK_BITS);
    *level = d ? (unsigned)(63 - __builtin_clzll(d)) / LVL_BITS : 0;
    if (*level >= CREW__TM_LEVELS)
        *level = CREW__TM_LEVELS - 1; /* beyond 9 years: cascades again */
    *slot = (unsigned)((uint64_t)when >> shift_of(*level)) & (CREW__TM_SLOTS - 1);
    return true;
}

/* Place e (e->when set) on the wheel. */
static void place(crew__tshard_t *tm, crew__tentry_t *e)
{
    unsigned level, slot;
    if (!locate(tm, e->when, &level, &slot)) {
        e->level = DUE_LEVEL;
        e->prev = NULL;
        e->next = tm->due;
        if (tm->due)
            tm->due->prev = e;
        tm->due = e;
        return;
    }
    slot_link(tm, e, level, slot);
}

/* ---- the hash ----------------------------------------------------------- */

static crew__tentry_t **hash_find(crew__tshard_t *tm, uint8_t kind, uint64_t key)
{
    crew__tentry_t **p;
    if (!tm->hash)
        return NULL;
    for (p = &tm->hash[hash_key(kind, key) & tm->hmask]; *p; p = &(*p)->hnext)
        if ((*p)->key == key && (*p)->kind == kind)
            return p;
    return NULL;
}

static int hash_grow(crew__tshard_t *tm)
{
    uint64_t n = tm->hash ? (tm->hmask + 1) * 2 : 64, i;
    crew__tentry_t **h = crew__calloc(n, sizeof *h);
    if (!h)
        return CREW_ENOMEM;
    for (i = 0; tm->hash && i <= tm->hmask; i++) {
        crew__tentry_t *e = tm->hash[i], *nx;
        for (; e; e = nx) {
            nx = e->hnext;
            e->hnext = h[hash_key(e->kind, e->key) & (n - 1)];
            h[hash_key(e->kind, e->key) & (n - 1)] = e;
        }
    }
    crew__free(tm->hash);
    tm->hash = h;
    tm->hmask = n - 1;
    return 0;
}

/* A shard counter, under the shard's lock (relaxed: single writer at a
 * time; readers want a recent value). */
#define SH_ADD(sh, f, d)                                                                           \
    atomic_store_explicit(                                                                         \
        &(sh)->f, atomic_load_explicit(&(sh)->f, memory_order_relaxed) + (uint64_t)(int64_t)(d),   \
        memory_order_relaxed)

/* A task entry disarmed (live != key) since it was armed. */
static bool is_dead(crew__tentry_t *e)
{
    /* acquire: pairs with the arm's release store of live. */
    return e->kind == CREW__TM_TASK &&
           atomic_load_explicit(&e->live, memory_order_acquire) != e->key;
}

/* A disarmed task entry met on the wheel: unlink it; true if it was. */
static bool drop_dead(crew__tshard_t *tm, crew__tentry_t *e)
{
    if (!is_dead(e))
        return false;
    unlink_entry(tm, e);
    e->linked = 0;
    return true;
}

static void forget(crew__timer_t *t, crew__tshard_t *tm, crew__tentry_t *e)
{
    if (e->kind == CREW__TM_TASK) {
        e->linked = 0; /* the slot's entry: no hash, no free list */
    } else {
        crew__tentry_t **p = hash_find(tm, e->kind, e->key);
        *p = e->hnext;
        tm->hcount--;
    }
    unlink_entry(tm, e);
    (void)t;
    if (e->kind == CREW__TM_TASK)
        SH_ADD(tm, fired_t, 1);
    else if (e->kind != CREW__TM_IRQ)
        SH_ADD(tm, hpending, -1);
}

static void entry_put(crew__tshard_t *tm, crew__tentry_t *e)
{
    e->next = tm->spare;
    tm->spare = e;
}

/* ---- the next event and advancing --------------------------------------- */

/* Earliest time the wheel needs attention: a level-0 expiry, or the start
 * of the first occupied slot above level 0 (a cascade). INT64_MAX: none. */
static int64_t next_event(crew__tshard_t *tm)
{
    unsigned level;
    if (tm->due)
        return tm->cur;
    for (level = 0; level < CREW__TM_LEVELS; level++) {
        unsigned sh = shift_of(level);
        unsigned idx = (unsigned)((uint64_t)tm->cur >> sh) & (CREW__TM_SLOTS - 1);
        /* Level 0: the current slot counts; above: only later slots. */
        uint64_t mask = level == 0 ? ~0ull << idx : (idx == 63 ? 0 : ~0ull << (idx + 1));
        uint64_t occ = tm->occupied[level] & mask;
        if (occ && level == 0) {
            /* The earliest live expiry; dead (disarmed) entries go now. */
            while (occ) {
                unsigned s = (unsigned)__builtin_ctzll(occ);
                int64_t best = INT64_MAX;
                crew__tentry_t *e, *nx;
                for (e = tm->slot[0][s]; e; e = nx) {
                    nx = e->next;
                    if (!drop_dead(tm, e) && e->when < best)
                        best = e->when;
                }
                if (best != INT64_MAX)
                    return best;
                occ &= ~(1ull << s);
            }
            continue;
        }
        if (occ) {
            unsigned s = (unsigned)__builtin_ctzll(occ);
            /* The slot's start: cur's bits above this level, s at it. */
            return (int64_t)((((uint64_t)tm->cur >> (sh + LVL_BITS)) << (sh + LVL_BITS)) |
                             ((uint64_t)s << sh));
        }
    }
    return INT64_MAX;
}

/* Move cur forward to t (no occupied slot lies between: t is the next
 * event), cascading the slots cur enters, top level first. */
static void advance(crew__tshard_t *tm, int64_t t)
{
    int64_t old = tm->cur;
    int level;
    tm->cur = (int64_t)(((uint64_t)t >> TICK_BITS) << TICK_BITS);
    for (level = CREW__TM_LEVELS - 1; level >= 1; level--) {
        unsigned sh = shift_of((unsigned)level);
        unsigned s = (unsigned)((uint64_t)tm->cur >> sh) & (CREW__TM_SLOTS - 1);
        crew__tentry_t *e, *nx;
        if (((uint64_t)old >> sh) == ((uint64_t)tm->cur >> sh))
            continue;
        e = tm->slot[level][s];
        tm->slot[level][s] = NULL;
        tm->occupied[level] &= ~(1ull << s);
        for (; e; e = nx) {
            nx = e->next;
            if (is_dead(e))
                e->linked = 0; /* disarmed task entry: dropped here */
            else
                place(tm, e);
        }
    }
}

/* Take every entry due at `now` off the wheel; returns them linked by
 * next (still in the hash: the caller forgets them). */
/* What firing needs, copied out of an entry: a task's entry belongs to its
 * slot and may be armed again the moment the shard's lock is dropped. */
typedef struct fire_rec {
    uint64_t key;
    void *obj;
    uint8_t kind;
} fire_rec_t;

#define FIRE_BATCH 256

/* Take up to `cap` entries due at `now` off the wheel into out[]; returns
 * how many (cap: there may be more, the caller comes back). Hashed entries
 * go back to the shard's spare list at once. */
static unsigned collect(crew__timer_t *t0, crew__tshard_t *tm, int64_t now, fire_rec_t *out,
                        unsigned cap)
{
    unsigned n = 0;
    while (n < cap) {
        int64_t t = next_event(tm);
        crew__tentry_t *e, *nx, *lists[2];
        if (t > now)
            break;
        if (t > tm->cur)
            advance(tm, t);
        lists[0] = tm->due;
        lists[1] = tm->slot[0][(unsigned)((uint64_t)tm->cur >> TICK_BITS) & (CREW__TM_SLOTS - 1)];
        for (int l = 0; l < 2; l++)
            for (e = lists[l]; e && n < cap; e = nx) {
                nx = e->next;
                if (drop_dead(tm, e) || e->when > now)
                    continue;
                if (e->kind == CREW__TM_TASK) {
                    uint64_t k = e->key;
                    /* acq_rel: claim it against a concurrent disarm (the
                     * other CAS on live): exactly one of them wins. */
                    if (!atomic_compare_exchange_strong_explicit(
                            &e->live, &k, 0, memory_order_acq_rel, memory_order_relaxed)) {
                        unlink_entry(tm, e); /* disarmed just now */
                        e->linked = 0;
                        continue;
                    }
                }
                out[n++] = (fire_rec_t){e->key, e->obj, e->kind};
                forget(t0, tm, e);
                if (e->kind != CREW__TM_TASK)
                    entry_put(tm, e);
            }
    }
    return n;
}

/* ---- locks ---------------------------------------------------------------- */

static void shard_lock(crew__tshard_t *sh)
{
    unsigned spins = 0;
    /* acquire: pairs with shard_unlock's release; the shard's fields are
     * then ours. */
    while (atomic_exchange_explicit(&sh->lock, true, memory_order_acquire)) {
        /* relaxed: test before test-and-set. */
        while (atomic_load_explicit(&sh->lock, memory_order_relaxed)) {
            if (++spins < 64)
                crew__cpu_relax();
            else
                sched_yield(); /* the holder may be preempted (oversubscribed) */
        }
    }
}

static void shard_unlock(crew__tshard_t *sh)
{
    /* release: publishes the shard's fields to the next holder. */
    atomic_store_explicit(&sh->lock, false, memory_order_release);
}

#define SLOT_MASK ((UINT64_C(1) << CREW_SLOT_BITS) - 1)
#define DIR_SIZE  (((size_t)1 << CREW_SLOT_BITS) >> CREW__TM_CHUNK_LOG2)

static crew__tshard_t *shard_of(crew__timer_t *tm, uint8_t kind, uint64_t key)
{
    if (kind == CREW__TM_TASK)
        return crew__timer_task_shard(tm, key);
    return &tm->shard[(hash_key(kind, key) >> 40) & (CREW__TM_SHARDS - 1)];
}

/* Out of line: the chunk (and the directory) do not exist yet. */
static CREW_NOINLINE crew__tentry_t *task_entry_create(crew__timer_t *tm, uint64_t slot)
{
    _Atomic(crew__tentry_t *) *dir;
    crew__tentry_t *chunk;
    pthread_mutex_lock(&tm->mu);
    /* relaxed: under mu, which every writer holds. */
    dir = (_Atomic(crew__tentry_t *) *)atomic_load_explicit((_Atomic(void *) *)&tm->dir,
                                                            memory_order_relaxed);
    if (!dir) {
        dir = crew__calloc(DIR_SIZE, sizeof *dir);
        if (dir) /* release: a zeroed directory */
            atomic_store_explicit((_Atomic(void *) *)&tm->dir, (void *)dir, memory_order_release);
    }
    chunk = NULL;
    if (dir) {
        chunk = atomic_load_explicit(&dir[slot >> CREW__TM_CHUNK_LOG2], memory_order_relaxed);
        if (!chunk) {
            chunk = crew__calloc(CREW__TM_CHUNK, sizeof *chunk);
            if (chunk) /* release: zeroed entries */
                atomic_store_explicit(&dir[slot >> CREW__TM_CHUNK_LOG2], chunk,
                                      memory_order_release);
        }
    }
    pthread_mutex_unlock(&tm->mu);
    return chunk ? &chunk[slot & (CREW__TM_CHUNK - 1)] : NULL;
}

/* The entry of a task's slot; NULL if its chunk does not exist (and
 * create is false, or memory ran out). Inline: every arm and every end of
 * a task with a deadline looks it up. */
static inline crew__tentry_t *task_entry(crew__timer_t *tm, uint64_t id, bool create)
{
    uint64_t slot = id & SLOT_MASK;
    _Atomic(crew__tentry_t *) *dir;
    crew__tentry_t *chunk;
    /* acquire: pairs with the release stores in task_entry_create; the
     * directory and chunk are then initialised. */
    dir = (_Atomic(crew__tentry_t *) *)atomic_load_explicit((_Atomic(void *) *)&tm->dir,
                                                            memory_order_acquire);
    if (CREW_LIKELY(dir != NULL)) {
        chunk = atomic_load_explicit(&dir[slot >> CREW__TM_CHUNK_LOG2], memory_order_acquire);
        if (CREW_LIKELY(chunk != NULL))
            return &chunk[slot & (CREW__TM_CHUNK - 1)];
    }
    return create ? task_entry_create(tm, slot) : NULL;
}

/* ---- the thread ---------------------------------------------------------- */

/* Step 4 for every shard: up to FIRE_BATCH due entries into out[] (the
 * count is returned; FIRE_BATCH: come back for more), and the next event
 * over all shards in *next. */
static unsigned serve(crew__timer_t *tm, int64_t now, int64_t *next, fire_rec_t *out)
{
    unsigned n = 0;
    *next = INT64_MAX;
    for (unsigned i = 0; i < CREW__TM_SHARDS; i++) {
        crew__tshard_t *sh = &tm->shard[i];
        int64_t t;
        shard_lock(sh);
        n += collect(tm, sh, now, out + n, FIRE_BATCH - n);
        t = next_event(sh);
        shard_unlock(sh);
        if (t < *next)
            *next = t;
    }
    return n;
}

static int64_t next_all(crew__timer_t *tm)
{
    int64_t best = INT64_MAX;
    for (unsigned i = 0; i < CREW__TM_SHARDS; i++) {
        crew__tshard_t *sh = &tm->shard[i];
        int64_t t;
        shard_lock(sh);
        t = next_event(sh);
        shard_unlock(sh);
        if (t < best)
            best = t;
    }
    return best;
}

/* Fire n collected entries (no timer lock held) and count them. */
static void fire_all(crew__timer_t *tm, const fire_rec_t *fired, unsigned n)
{
    uint64_t counted = 0;
    for (unsigned i = 0; i < n; i++) {
        tm->fire(tm->ctx, fired[i].kind, fired[i].key, fired[i].obj); /* step 4 */
        counted += fired[i].kind != CREW__TM_IRQ;
    }
    /* relaxed: a statistic. */
    atomic_fetch_add_explicit(&tm->fired, counted, memory_order_relaxed);
}

static void *timer_main(void *arg)
{
    crew__timer_t *tm = arg;
    uint64_t seq = 0; /* even; `firing` is this or seq + 1 */
    pthread_mutex_lock(&tm->mu);
    while (!tm->stopping) {
        int64_t t;
        fire_rec_t fired[FIRE_BATCH];
        unsigned n;
        /* relaxed: odd before any entry leaves its shard; a poll that
         * finds an entry gone (shard lock acquire after our release)
         * sees this or a later value (step 6). */
        atomic_store_explicit(&tm->firing, seq + 1, memory_order_relaxed);
        n = serve(tm, crew__now_ns(), &t, fired);
        if (n) {
            pthread_mutex_unlock(&tm->mu);
            CREW__PAUSE(CREW__PAUSE_TIMER_TOOK, fired[0].key);
            fire_all(tm, fired, n);
            pthread_mutex_lock(&tm->mu);
        }
        seq += 2;
        /* release: pairs with the poll's acquire; our fires are done. */
        atomic_store_explicit(&tm->firing, seq, memory_order_release);
        if (n)
            continue;
        /* seq_cst: step 2's store, then the second look (pairs with the
         * arm's fence, step 3). */
        atomic_store_explicit(&tm->sleep_until, t, memory_order_seq_cst);
        CREW_FENCE_SEQ_CST();
        if (next_all(tm) < t)
            continue; /* armed meanwhile */
        if (t == INT64_MAX) {
            pthread_cond_wait(&tm->cv, &tm->mu);
        } else {
            struct timespec ts = {(time_t)(t / 1000000000), (long)(t % 1000000000)};
            pthread_cond_timedwait(&tm->cv, &tm->mu, &ts);
        }
        /* relaxed: awake; arms need not signal until the next plan. */
        atomic_store_explicit(&tm->sleep_until, INT64_MIN, memory_order_relaxed);
    }
    pthread_mutex_unlock(&tm->mu);
    return NULL;
}

/* ---- the interface ------------------------------------------------------- */

void crew__timer_poll(crew__timer_t *tm)
{
    fire_rec_t fired[FIRE_BATCH];
    int64_t next, now = crew__now_ns();
    unsigned n;
    do { /* step 6 */
        n = serve(tm, now, &next, fired);
        fire_all(tm, fired, n);
    } while (n == FIRE_BATCH);
    crew__timer_settle(tm);
}

void crew__timer_settle(crew__timer_t *tm)
{
    /* acquire: pairs with the thread's release store; an odd value means
     * it may hold due entries it took before us: wait until it fired them. */
    uint64_t g = atomic_load_explicit(&tm->firing, memory_order_acquire);
    if (g & 1)
        while (atomic_load_explicit(&tm->firing, memory_order_acquire) == g)
            sched_yield();
}

int crew__timer_init(crew__timer_t *tm, crew__timer_fire_fn fire, void *ctx)
{
    pthread_condattr_t ca;
    int64_t now = (int64_t)(((uint64_t)crew__now_ns() >> TICK_BITS) << TICK_BITS);
    memset(tm, 0, sizeof *tm);
    tm->fire = fire;
    tm->ctx = ctx;
    atomic_init(&tm->sleep_until, INT64_MAX);
    for (unsigned i = 0; i < CREW__TM_SHARDS; i++)
        tm->shard[i].cur = now;
    if (pthread_mutex_init(&tm->mu, NULL) != 0)
        return CREW_ENOMEM;
    if (pthread_condattr_init(&ca) != 0) {
        pthread_mutex_destroy(&tm->mu);
        return CREW_ENOMEM;
    }
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_cond_init(&tm->cv, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        pthread_mutex_destroy(&tm->mu);
        return CREW_ENOMEM;
    }
    pthread_condattr_destroy(&ca);
    return 0;
}

void crew__timer_fini(crew__timer_t *tm, crew__timer_drop_fn drop)
{
    crew__tentry_t *e, *nx;
    pthread_mutex_lock(&tm->mu);
    tm->stopping = true; /* step 5 */
    pthread_cond_signal(&tm->cv);
    pthread_mutex_unlock(&tm->mu);
    /* relaxed: the thread was started (or not) by calls that returned. */
    if (atomic_load_explicit(&tm->started, memory_order_relaxed))
        pthread_join(tm->thread, NULL);
    atomic_store_explicit(&tm->started, false, memory_order_relaxed);
    for (unsigned k = 0; k < CREW__TM_SHARDS; k++) {
        crew__tshard_t *sh = &tm->shard[k];
        for (uint64_t i = 0; sh->hash && i <= sh->hmask; i++)
            for (e = sh->hash[i]; e; e = nx) {
                nx = e->hnext;
                if (e->obj && drop)
                    drop(tm->ctx, e->kind, e->obj);
                crew__free(e);
            }
        for (e = sh->spare; e; e = nx) {
            nx = e->next;
            crew__free(e);
        }
        crew__free(sh->hash);
        sh->hash = NULL;
        sh->spare = NULL;
    }
    if (tm->dir) {
        for (size_t i = 0; i < DIR_SIZE; i++)
            /* relaxed: single-threaded teardown. */
            crew__free(atomic_load_explicit(&tm->dir[i], memory_order_relaxed));
        crew__free((void *)tm->dir);
        tm->dir = NULL;
    }
    pthread_cond_destroy(&tm->cv);
    pthread_mutex_destroy(&tm->mu);
}

static int start_thread(crew__timer_t *tm)
{
    int rc = 0;
    pthread_mutex_lock(&tm->mu);
    /* relaxed: under mu. */
    if (!atomic_load_explicit(&tm->started, memory_order_relaxed) && !tm->stopping) {
        if (crew__thread_create(&tm->thread, timer_main, tm) != 0)
            rc = CREW_ETHREAD;
        else
            atomic_store_explicit(&tm->started, true, memory_order_relaxed);
    }
    pthread_mutex_unlock(&tm->mu);
    return rc;
}

/* Arm task entry e (slot of `key`) for `when`; the shard's lock is held. */
/* fresh: the task is not published yet (a batch submission arms before
 * it queues), so nothing can disarm its entry meanwhile: the slot's
 * previous task disarmed it at its end (or the timer claimed it, under
 * our lock), and the timer acts only under our lock. */
static void arm_task_locked(crew__tshard_t *sh, crew__tentry_t *e, uint64_t key, int64_t when,
                            bool fresh)
{
    /* acq_rel: take the entry back from disarms (a move) before its fields
     * change; what it held says how to count. Fresh: no disarm can race,
     * relaxed suffices (the release store of live below publishes). */
    uint64_t was = fresh ? atomic_load_explicit(&e->live, memory_order_relaxed)
                         : atomic_exchange_explicit(&e->live, 0, memory_order_acq_rel);
    unsigned level, slot;
    /* Already linked in the list it belongs in (the slot's previous task,
     * or a move, with a deadline in the same wheel slot: the common case
     * of tasks submitted with one timeout): it stays where it is, so its
     * list neighbours, last written by other threads, are not touched. */
    bool stay =
        e->linked && locate(sh, when, &level, &slot) && e->level == level && e->slot == slot;
    if (e->linked && !stay)
        unlink_entry(sh, e); /* a move, or the slot's previous task */
    if (was != key) {        /* a new pending deadline (else a move) */
        SH_ADD(sh, arms, 1);
        if (was) /* the slot's previous task ended still armed */
            SH_ADD(sh, replaced, 1);
    }
    /* relaxed: write-once hint (timer.h). */
    if (!atomic_load_explicit(&sh->had_tasks, memory_order_relaxed))
        atomic_store_explicit(&sh->had_tasks, true, memory_order_relaxed);
    e->kind = CREW__TM_TASK;
    e->key = key;
    e->linked = 1;
    e->obj = NULL;
    e->when = when;
    if (!stay)
        place(sh, e);
    /* release: the fields above before a disarm or the timer acts. */
    atomic_store_explicit(&e->live, key, memory_order_release);
    SH_ADD(sh, set_total, 1);
}

/* Step 3's wake, after an arm for `when`. */
static void wake_for(crew__timer_t *tm, int64_t when)
{
    /* seq_cst fence: step 3, pairs with the thread's store and second look;
     * without it our read could miss a plan that missed our entry. */
    CREW_FENCE_SEQ_CST();
    if (when < atomic_load_explicit(&tm->sleep_until, memory_order_relaxed)) {
        pthread_mutex_lock(&tm->mu);
        pthread_cond_signal(&tm->cv);
        pthread_mutex_unlock(&tm->mu);
    }
}

int crew__timer_arm_tasks(crew__timer_t *tm, const uint64_t *ids, size_t n, int64_t when)
{
    enum { PIECE = 256 };
    int rc;
    /* relaxed: as in crew__timer_arm. */
    if (CREW_UNLIKELY(!atomic_load_explicit(&tm->started, memory_order_relaxed)) &&
        (rc = start_thread(tm)) != 0)
        return rc;
    for (size_t i = 0; i < n; i++) /* every chunk first: all or nothing */
        if (!task_entry(tm, ids[i], true))
            return CREW_ENOMEM;
    /* One lock per shard per piece: the IDs sorted by shard first
     * (counting sort: consecutive slots fall in different shards). */
    for (size_t base = 0; base < n; base += PIECE) {
        size_t m = n - base < PIECE ? n - base : PIECE;
        uint16_t start[CREW__TM_SHARDS + 1] = {0}, fill[CREW__TM_SHARDS];
        uint16_t order[PIECE];
        for (size_t i = 0; i < m; i++)
            start[crew__timer_task_shard_index(ids[base + i]) + 1]++;
        for (unsigned s = 0; s < CREW__TM_SHARDS; s++) {
            start[s + 1] = (uint16_t)(start[s + 1] + start[s]);
            fill[s] = start[s];
        }
        for (size_t i = 0; i < m; i++)
            order[fill[crew__timer_task_shard_index(ids[base + i])]++] = (uint16_t)i;
        for (unsigned s = 0; s < CREW__TM_SHARDS; s++) {
            crew__tshard_t *sh = &tm->shard[s];
            if (start[s] == start[s + 1])
                continue;
            shard_lock(sh);
            for (unsigned j = start[s]; j < start[s + 1]; j++) {
                uint64_t id = ids[base + order[j]];
                crew__tentry_t *e = task_entry(tm, id, false);
                if (!e) /* made by the first loop: cannot be missing */
                    __builtin_unreachable();
                arm_task_locked(sh, e, id, when, true);
            }
            shard_unlock(sh);
        }
    }
    wake_for(tm, when);
    return 0;
}

int crew__timer_arm(crew__timer_t *tm, uint8_t kind, uint64_t key, void *obj, int64_t when,
                    void **old_obj)
{
    crew__tshard_t *sh = shard_of(tm, kind, key);
    crew__tentry_t **p, *e;
    int rc = 0;
    if (old_obj)
        *old_obj = NULL;
    /* relaxed: `started` only goes false -> true, under mu (checked again
     * there). */
    if (CREW_UNLIKELY(!atomic_load_explicit(&tm->started, memory_order_relaxed)) &&
        (rc = start_thread(tm)) != 0)
        return rc;
    if (kind == CREW__TM_TASK) {
        e = task_entry(tm, key, true);
        if (!e)
            return CREW_ENOMEM;
        shard_lock(sh);
        arm_task_locked(sh, e, key, when, false);
        goto out;
    }
    shard_lock(sh);
    p = hash_find(sh, kind, key);
    if (p) { /* move it */
        e = *p;
        unlink_entry(sh, e);
        if (old_obj)
            *old_obj = e->obj;
    } else {
        if (sh->hcount + 1 > sh->hmask && hash_grow(sh) != 0 && !sh->hash) {
            rc = CREW_ENOMEM;
            goto out;
        }
        /* (a table that could not grow still works, slower) */
        e = sh->spare;
        if (e)
            sh->spare = e->next;
        else if (!(e = crew__malloc(sizeof *e))) {
            rc = CREW_ENOMEM;
            goto out;
        }
        e->kind = kind;
        e->key = key;
        atomic_store_explicit(&e->live, 0, memory_order_relaxed); /* unused for these */
        e->linked = 1;
        e->hnext = sh->hash[hash_key(kind, key) & sh->hmask];
        sh->hash[hash_key(kind, key) & sh->hmask] = e;
        sh->hcount++;
        if (kind != CREW__TM_IRQ)
            SH_ADD(sh, hpending, 1);
    }
    e->obj = obj;
    e->when = when;
    place(sh, e);
    if (kind != CREW__TM_IRQ)
        SH_ADD(sh, set_total, 1);
out:
    shard_unlock(sh);
    if (rc != 0)
        return rc;
    wake_for(tm, when);
    return 0;
}

bool crew__timer_disarm(crew__timer_t *tm, uint8_t kind, uint64_t key, void **obj)
{
    crew__tshard_t *sh = shard_of(tm, kind, key);
    crew__tentry_t **p;
    bool found = false;
    if (kind == CREW__TM_TASK) {
        crew__tentry_t *e = task_entry(tm, key, false);
        uint64_t k = key;
        if (!e)
            return false;
        /* relaxed: a first look. A task that never had a deadline (in an
         * executor where some did) finds another key or 0 here and leaves
         * without the CAS, so the entry's line stays shared instead of
         * moving to this core at every task end. A stale look is harmless:
         * nothing arms a task's own key after its end began. */
        if (atomic_load_explicit(&e->live, memory_order_relaxed) != key)
            return false;
        /* acq_rel: the one CAS that ends a pending deadline (vs. the
         * timer's claim and a move's exchange); no lock, no shared line
         * but the entry's own. The wheel unlinks the entry later. */
        found = atomic_compare_exchange_strong_explicit(&e->live, &k, 0, memory_order_acq_rel,
                                                        memory_order_relaxed);
        if (found && obj)
            *obj = NULL;
        return found;
    }
    shard_lock(sh);
    p = hash_find(sh, kind, key);
    if (p) {
        crew__tentry_t *e = *p;
        if (obj)
            *obj = e->obj;
        forget(tm, sh, e);
        entry_put(sh, e);
        found = true;
    }
    shard_unlock(sh);
    return found;
}

int64_t crew__timer_get(crew__timer_t *tm, uint8_t kind, uint64_t key)
{
    crew__tshard_t *sh = shard_of(tm, kind, key);
    crew__tentry_t **p;
    int64_t when = 0;
    if (kind == CREW__TM_TASK) {
        crew__tentry_t *e = task_entry(tm, key, false);
        if (!e)
            return 0;
        shard_lock(sh);
        /* acquire: as is_dead. */
        if (atomic_load_explicit(&e->live, memory_order_acquire) == key)
            when = e->when;
        shard_unlock(sh);
        return when;
    }
    shard_lock(sh);
    p = hash_find(sh, kind, key);
    if (p)
        when = (*p)->when;
    shard_unlock(sh);
    return when;
}

uint64_t crew__timer_pending(crew__timer_t *tm, uint64_t disarmed)
{
    uint64_t n = 0, gone = disarmed;
    for (unsigned i = 0; i < CREW__TM_SHARDS; i++) { /* relaxed: statistics */
        crew__tshard_t *sh = &tm->shard[i];
        n += atomic_load_explicit(&sh->hpending, memory_order_relaxed) +
             atomic_load_explicit(&sh->arms, memory_order_relaxed);
        gone += atomic_load_explicit(&sh->replaced, memory_order_relaxed) +
                atomic_load_explicit(&sh->fired_t, memory_order_relaxed);
    }
    return n > gone ? n - gone : 0;
}

uint64_t crew__timer_set_total(crew__timer_t *tm)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < CREW__TM_SHARDS; i++) /* relaxed: statistics */
        n += atomic_load_explicit(&tm->shard[i].set_total, memory_order_relaxed);
    return n;
}
