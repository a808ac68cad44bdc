/*
 * timer.c - the executor's timing wheel and its thread (timer.h has the
 * layout and the protocol).
 */
#include "timer.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "crew.h"

#define TICK_BITS 16
#define LVL_BITS  6
#define DUE_LEVEL 0xff

static inline unsigned shift_of(unsigned level) { return TICK_BITS + LVL_BITS * level; }

static inline uint64_t hash_key(uint8_t kind, uint64_t key)
{
    uint64_t h = (key ^ ((uint64_t)kind << 62)) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}

/* ---- slot lists --------------------------------------------------------- */

static void slot_link(crew__timer_t *tm, crew__tentry_t *e, unsigned level, unsigned s)
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

static void unlink_entry(crew__timer_t *tm, crew__tentry_t *e)
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

/* Place e relative to tm->cur (the layout rule of timer.h). */
static void place(crew__timer_t *tm, crew__tentry_t *e)
{
    uint64_t d;
    unsigned level;
    if (e->when < tm->cur) {
        e->level = DUE_LEVEL;
        e->prev = NULL;
        e->next = tm->due;
        if (tm->due)
            tm->due->prev = e;
        tm->due = e;
        return;
    }
    d = ((uint64_t)e->when >> TICK_BITS) ^ ((uint64_t)tm->cur >> TICK_BITS);
    level = d ? (unsigned)(63 - __builtin_clzll(d)) / LVL_BITS : 0;
    if (level >= CREW__TM_LEVELS)
        level = CREW__TM_LEVELS - 1; /* beyond 9 years: cascades again */
    slot_link(tm, e, level,
              (unsigned)((uint64_t)e->when >> shift_of(level)) & (CREW__TM_SLOTS - 1));
}

/* ---- the hash ----------------------------------------------------------- */

static crew__tentry_t **hash_find(crew__timer_t *tm, uint8_t kind, uint64_t key)
{
    crew__tentry_t **p;
    if (!tm->hash)
        return NULL;
    for (p = &tm->hash[hash_key(kind, key) & tm->hmask]; *p; p = &(*p)->hnext)
        if ((*p)->key == key && (*p)->kind == kind)
            return p;
    return NULL;
}

static int hash_grow(crew__timer_t *tm)
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

static void forget(crew__timer_t *tm, crew__tentry_t *e)
{
    crew__tentry_t **p = hash_find(tm, e->kind, e->key);
    *p = e->hnext;
    unlink_entry(tm, e);
    tm->count--;
    /* relaxed: a statistic and a hint for task ends (timer.h). */
    if (e->kind != CREW__TM_IRQ)
        atomic_fetch_sub_explicit(&tm->armed, 1, memory_order_relaxed);
    if (e->kind == CREW__TM_TASK)
        atomic_fetch_sub_explicit(&tm->armed_tasks, 1, memory_order_relaxed);
}

static void entry_put(crew__timer_t *tm, crew__tentry_t *e)
{
    e->next = tm->spare;
    tm->spare = e;
}

/* ---- the next event and advancing --------------------------------------- */

/* Earliest time the wheel needs attention: a level-0 expiry, or the start
 * of the first occupied slot above level 0 (a cascade). INT64_MAX: none. */
static int64_t next_event(crew__timer_t *tm)
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
        if (occ) {
            unsigned s = (unsigned)__builtin_ctzll(occ);
            if (level == 0) {
                int64_t best = INT64_MAX;
                crew__tentry_t *e;
                for (e = tm->slot[0][s]; e; e = e->next)
                    if (e->when < best)
                        best = e->when;
                return best;
            }
            /* The slot's start: cur's bits above this level, s at it. */
            return (int64_t)((((uint64_t)tm->cur >> (sh + LVL_BITS)) << (sh + LVL_BITS)) |
                             ((uint64_t)s << sh));
        }
    }
    return INT64_MAX;
}

/* Move cur forward to t (no occupied slot lies between: t is the next
 * event), cascading the slots cur enters, top level first. */
static void advance(crew__timer_t *tm, int64_t t)
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
            place(tm, e);
        }
    }
}

/* Take every entry due at `now` off the wheel; returns them linked by
 * next (still in the hash: the caller forgets them). */
static crew__tentry_t *collect(crew__timer_t *tm, int64_t now)
{
    crew__tentry_t *out = NULL;
    for (;;) {
        int64_t t = next_event(tm);
        crew__tentry_t *e, *nx;
        unsigned s;
        if (t > now)
            break;
        if (t > tm->cur)
            advance(tm, t);
        for (e = tm->due; e; e = nx) {
            nx = e->next;
            forget(tm, e);
            e->next = out;
            out = e;
        }
        s = (unsigned)((uint64_t)tm->cur >> TICK_BITS) & (CREW__TM_SLOTS - 1);
        for (e = tm->slot[0][s]; e; e = nx) {
            nx = e->next;
            if (e->when <= now) {
                forget(tm, e);
                e->next = out;
                out = e;
            }
        }
    }
    return out;
}

/* ---- the thread ---------------------------------------------------------- */

static void *timer_main(void *arg)
{
    crew__timer_t *tm = arg;
    pthread_mutex_lock(&tm->mu);
    while (!tm->stopping) {
        int64_t now = crew__now_ns(), t;
        crew__tentry_t *fired = collect(tm, now), *e, *nx;
        if (fired) {
            uint64_t n = 0;
            tm->sleep_until = 0; /* awake: arms need not signal */
            pthread_mutex_unlock(&tm->mu);
            for (e = fired; e; e = e->next) {
                tm->fire(tm->ctx, e->kind, e->key, e->obj); /* step 4 */
                n += e->kind != CREW__TM_IRQ;
            }
            /* relaxed: a statistic. */
            atomic_fetch_add_explicit(&tm->fired, n, memory_order_relaxed);
            pthread_mutex_lock(&tm->mu);
            for (e = fired; e; e = nx) {
                nx = e->next;
                entry_put(tm, e);
            }
            continue;
        }
        t = next_event(tm);
        tm->sleep_until = t; /* step 2 */
        if (t == INT64_MAX) {
            pthread_cond_wait(&tm->cv, &tm->mu);
        } else {
            struct timespec ts = {(time_t)(t / 1000000000), (long)(t % 1000000000)};
            pthread_cond_timedwait(&tm->cv, &tm->mu, &ts);
        }
    }
    pthread_mutex_unlock(&tm->mu);
    return NULL;
}

/* ---- the interface ------------------------------------------------------- */

int crew__timer_init(crew__timer_t *tm, crew__timer_fire_fn fire, void *ctx)
{
    pthread_condattr_t ca;
    *tm = (crew__timer_t){.fire = fire, .ctx = ctx, .sleep_until = INT64_MAX};
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
    tm->cur = (int64_t)(((uint64_t)crew__now_ns() >> TICK_BITS) << TICK_BITS);
    return 0;
}

void crew__timer_fini(crew__timer_t *tm, crew__timer_drop_fn drop)
{
    uint64_t i;
    crew__tentry_t *e, *nx;
    pthread_mutex_lock(&tm->mu);
    tm->stopping = true; /* step 5 */
    pthread_cond_signal(&tm->cv);
    pthread_mutex_unlock(&tm->mu);
    if (tm->started)
        pthread_join(tm->thread, NULL);
    for (i = 0; tm->hash && i <= tm->hmask; i++)
        for (e = tm->hash[i]; e; e = nx) {
            nx = e->hnext;
            if (e->obj && drop)
                drop(tm->ctx, e->kind, e->obj);
            crew__free(e);
        }
    for (e = tm->spare; e; e = nx) {
        nx = e->next;
        crew__free(e);
    }
    crew__free(tm->hash);
    pthread_cond_destroy(&tm->cv);
    pthread_mutex_destroy(&tm->mu);
}

int crew__timer_arm(crew__timer_t *tm, uint8_t kind, uint64_t key, void *obj, int64_t when,
                    void **old_obj)
{
    crew__tentry_t **p, *e;
    int rc = 0;
    if (old_obj)
        *old_obj = NULL;
    pthread_mutex_lock(&tm->mu);
    if (!tm->started && !tm->stopping) {
        if (crew__thread_create(&tm->thread, timer_main, tm) != 0) {
            pthread_mutex_unlock(&tm->mu);
            return CREW_ETHREAD;
        }
        tm->started = true;
    }
    p = hash_find(tm, kind, key);
    if (p) { /* move it */
        e = *p;
        unlink_entry(tm, e);
        if (old_obj)
            *old_obj = e->obj;
    } else {
        if (tm->count + 1 > tm->hmask && (rc = hash_grow(tm)) != 0 && !tm->hash)
            goto out;
        rc = 0; /* a table that could not grow still works, slower */
        e = tm->spare;
        if (e)
            tm->spare = e->next;
        else if (!(e = crew__malloc(sizeof *e))) {
            rc = CREW_ENOMEM;
            goto out;
        }
        e->kind = kind;
        e->key = key;
        e->hnext = tm->hash[hash_key(kind, key) & tm->hmask];
        tm->hash[hash_key(kind, key) & tm->hmask] = e;
        tm->count++;
        /* relaxed: a statistic, and the hint task ends read (timer.h):
         * an arm before the task is published is ordered by the publish. */
        if (kind != CREW__TM_IRQ)
            atomic_fetch_add_explicit(&tm->armed, 1, memory_order_relaxed);
        if (kind == CREW__TM_TASK)
            atomic_fetch_add_explicit(&tm->armed_tasks, 1, memory_order_relaxed);
    }
    e->obj = obj;
    e->when = when;
    place(tm, e);
    if (kind != CREW__TM_IRQ) /* relaxed: a statistic. */
        atomic_fetch_add_explicit(&tm->set_total, 1, memory_order_relaxed);
    if (when < tm->sleep_until)
        pthread_cond_signal(&tm->cv); /* step 3 */
out:
    pthread_mutex_unlock(&tm->mu);
    return rc;
}

bool crew__timer_disarm(crew__timer_t *tm, uint8_t kind, uint64_t key, void **obj)
{
    crew__tentry_t **p;
    bool found = false;
    pthread_mutex_lock(&tm->mu);
    p = hash_find(tm, kind, key);
    if (p) {
        crew__tentry_t *e = *p;
        if (obj)
            *obj = e->obj;
        forget(tm, e);
        entry_put(tm, e);
        found = true;
    }
    pthread_mutex_unlock(&tm->mu);
    return found;
}

int64_t crew__timer_get(crew__timer_t *tm, uint8_t kind, uint64_t key)
{
    crew__tentry_t **p;
    int64_t when = 0;
    pthread_mutex_lock(&tm->mu);
    p = hash_find(tm, kind, key);
    if (p)
        when = (*p)->when;
    pthread_mutex_unlock(&tm->mu);
    return when;
}
