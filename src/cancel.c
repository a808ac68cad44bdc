/*
 * cancel.c - the cancellation set and the cooperative check.
 *
 * The set is a ConcurrencyKit ck_hs of task and group IDs (keys stored
 * directly as pointer-sized values; IDs are never 0 or ~0, ck_hs's empty
 * and tombstone markers). ck_hs is single-writer/many-reader: writers hold
 * cset.mu; readers (task bodies calling crew_cancelled() on worker threads)
 * take no lock and run inside a ck_epoch read section on their worker's
 * record. When ck_hs grows or shrinks it asks our allocator to defer
 * freeing the old map; those frees go through ck_epoch_call and the writer
 * runs ck_epoch_barrier before releasing the mutex, so no reader can still
 * be looking at a freed map.
 *
 * Check protocol (crew_cancelled):
 *  1. cancel_scopes == 0 (one relaxed load): nothing anywhere is cancelled.
 *     Every canceller increments it (seq_cst) before making its
 *     cancellation visible and before returning, so a check that happens
 *     after a cancel call returned cannot read 0 (coherence).
 *  2. The task's own ID in the set (Ray's is_canceled(): the request made
 *     by crew_cancel on a running task). A hit also sets REQ in the state
 *     word if the canceller has not yet, so a body that saw the request
 *     always ends CANCELLED (task.c, protocol step 3).
 *  3. Inherited: the executor cancelled at shutdown; the task's group and
 *     the groups enclosing it; each ancestor (REQ bit or a terminal
 *     CANCELLED phase) and each live ancestor's groups. Ancestor records
 *     stay allocated while a descendant lives (task.c), and every group on
 *     the walk is alive: it is either the group of the task below it on the
 *     chain, or that task holds a reference on it (TF_PGROUP_REF).
 */
#include <string.h>

#include "internal.h"

/* ThreadSanitizer does not see ck_pr's inline assembly: the writer's
 * publication of a map (and of its entries) and the readers' loads are
 * invisible to it, and the plain stores that initialise a grown map would
 * look unordered with the readers' plain loads of it. These annotations
 * state the edge ck's fences provide: a release before each writer's
 * publishing store, an acquire after each reader's load, so everything
 * written before an insert happens before a lookup that sees it. Empty
 * outside TSan builds. */
#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define CSET_PUBLISHED(ex) __tsan_release(&(ex)->cset.hs)
#define CSET_OBSERVE(ex) __tsan_acquire(&(ex)->cset.hs)
#else
#define CSET_PUBLISHED(ex) ((void)0)
#define CSET_OBSERVE(ex) ((void)0)
#endif

struct cset_block {
    ck_epoch_entry_t entry; /* first: container for ck_epoch_call */
    struct crew *ex;
    size_t size;
};

/* ck_hs's allocator has no context pointer; the writer holds cset.mu, so
 * a thread-local names the executor whose set is being modified. */
static _Thread_local struct crew *cset_writer_ex;
static _Thread_local bool cset_deferred;

static unsigned long hs_hash(const void *key, unsigned long seed)
{
    uint64_t x = (uint64_t)(uintptr_t)key ^ seed;
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return (unsigned long)x;
}

static void *hs_malloc(size_t n)
{
    struct cset_block *b = crew__malloc(sizeof *b + n);
    if (!b)
        return NULL;
    b->ex = cset_writer_ex;
    b->size = n;
    return b + 1;
}

static void epoch_free_cb(ck_epoch_entry_t *e)
{
    crew__free((struct cset_block *)e);
}

static void hs_free(void *p, size_t n, bool defer)
{
    struct cset_block *b;
    (void)n;
    if (!p)
        return;
    b = (struct cset_block *)p - 1;
    if (!defer) {
        crew__free(b);
        return;
    }
    ck_epoch_call(b->ex->cset.writer, &b->entry, epoch_free_cb);
    cset_deferred = true;
}

static struct ck_malloc hs_allocator = {.malloc = hs_malloc, .free = hs_free};

int crew__cset_init(struct crew *ex)
{
    crew__cset_t *c = &ex->cset;
    ck_epoch_init(&c->epoch);
    c->writer = crew__calloc(1, sizeof *c->writer);
    if (!c->writer)
        return CREW_ENOMEM;
    ck_epoch_register(&c->epoch, c->writer, NULL);
    cset_writer_ex = ex;
    if (!ck_hs_init(&c->hs, CK_HS_MODE_SPMC | CK_HS_MODE_DIRECT, hs_hash, NULL,
                    &hs_allocator, CREW_CSET_INIT, 0x9e3779b97f4a7c15ULL)) {
        crew__free(c->writer);
        c->writer = NULL;
        return CREW_ENOMEM;
    }
    pthread_mutex_init(&c->mu, NULL);
    atomic_init(&c->size, 0);
    return 0;
}

void crew__cset_destroy(struct crew *ex)
{
    crew__cset_t *c = &ex->cset;
    if (!c->writer)
        return;
    cset_writer_ex = ex;
    ck_hs_destroy(&c->hs);
    ck_epoch_barrier(c->writer); /* runs any pending deferred frees */
    for (unsigned i = 0; ex->workers && i < ex->nworkers; i++)
        crew__free(ex->workers[i].epoch_rec);
    crew__free(c->writer);
    c->writer = NULL;
    pthread_mutex_destroy(&c->mu);
}

int crew__cset_register(struct crew *ex, crew__worker_t *w)
{
    w->epoch_rec = crew__calloc(1, sizeof *w->epoch_rec);
    if (!w->epoch_rec)
        return CREW_ENOMEM;
    ck_epoch_register(&ex->cset.epoch, w->epoch_rec, NULL);
    return 0;
}

static void writer_done(struct crew *ex)
{
    if (cset_deferred) {
        cset_deferred = false;
        /* Wait until every reader that could see the old map has left its
         * section, then free it. Readers never block, so this is short. */
        ck_epoch_barrier(ex->cset.writer);
    }
}

bool crew__cset_insert(struct crew *ex, crew_id_t id)
{
    void *key = (void *)(uintptr_t)id;
    unsigned long h = CK_HS_HASH(&ex->cset.hs, hs_hash, key);
    bool ok;
    cset_writer_ex = ex;
    if (ck_hs_get(&ex->cset.hs, h, key) != NULL)
        return true;
    CSET_PUBLISHED(ex); /* before the store that makes the entry visible */
    ok = ck_hs_put(&ex->cset.hs, h, key);
    writer_done(ex);
    if (ok) /* relaxed: a statistic, written under the mutex */
        atomic_fetch_add_explicit(&ex->cset.size, 1, memory_order_relaxed);
    return ok;
}

void crew__cset_remove(struct crew *ex, crew_id_t id)
{
    void *key = (void *)(uintptr_t)id;
    unsigned long h = CK_HS_HASH(&ex->cset.hs, hs_hash, key);
    cset_writer_ex = ex;
    CSET_PUBLISHED(ex);
    if (ck_hs_remove(&ex->cset.hs, h, key) != NULL)
        /* relaxed: a statistic, written under the mutex. */
        atomic_fetch_sub_explicit(&ex->cset.size, 1, memory_order_relaxed);
    writer_done(ex);
}

static bool cset_contains(struct crew *ex, crew__worker_t *w, crew_id_t id)
{
    void *key = (void *)(uintptr_t)id;
    unsigned long h = CK_HS_HASH(&ex->cset.hs, hs_hash, key);
    bool hit;
    ck_epoch_begin(w->epoch_rec, NULL);
    hit = ck_hs_get(&ex->cset.hs, h, key) != NULL;
    CSET_OBSERVE(ex); /* after the load that may have seen an entry */
    ck_epoch_end(w->epoch_rec, NULL);
    return hit;
}

void crew__copy_reason(char *dst, const char *src)
{
    size_t n = 0;
    if (src)
        while (n < CREW_REASON_MAX - 1 && src[n])
            n++;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

bool crew__inherited_cancel(struct crew *ex, crew__task_t *t, uint8_t *cause,
                            int *code, const char **reason)
{
    struct crew_group *seen = NULL;
    crew__task_t *a;
    /* relaxed: mode only grows; the scope count already sent us here. */
    if (atomic_load_explicit(&ex->mode, memory_order_relaxed) == EX_CANCEL) {
        *cause = CREW_CAUSE_SHUTDOWN;
        *code = 0;
        *reason = "shutdown";
        return true;
    }
    if (t->group && crew__group_chain_cancelled(t->group, code, reason)) {
        *cause = CREW_CAUSE_GROUP;
        return true;
    }
    seen = t->group;
    for (a = t->parent; a; a = a->parent) {
        /* acquire: pairs with the REQ CAS / terminal CAS; we then read the
         * cause fields they guard. */
        uint32_t s = atomic_load_explicit(&a->state, memory_order_acquire);
        if ((s & T_REQ) || crew__phase(s) == T_CANCELLED) {
            *cause = CREW_CAUSE_PARENT;
            *code = a->cancel_code;
            *reason = a->reason;
            return true;
        }
        if (crew__terminal(s))
            continue; /* finished uncancelled: its groups no longer reach
                         its descendants */
        if (a->group && a->group != seen &&
            crew__group_chain_cancelled(a->group, code, reason)) {
            *cause = CREW_CAUSE_PARENT;
            return true;
        }
        seen = a->group;
    }
    return false;
}

bool crew__is_cancelled(struct crew *ex, crew__task_t *t, uint8_t *cause,
                        int *code, const char **reason)
{
    crew__worker_t *w = crew__self_worker(ex);
    uint8_t c0;
    int k0;
    const char *r0;
    if (!cause) {
        cause = &c0;
        code = &k0;
        reason = &r0;
    }
    if (w ? cset_contains(ex, w, atomic_load_explicit(&t->id, memory_order_relaxed))
          /* acquire: off a worker there is no epoch record; the REQ bit is
           * set under the same protocol step as the set entry. */
          : (atomic_load_explicit(&t->state, memory_order_acquire) & T_REQ)) {
        /* Step 3 of the cancel protocol (task.c): a body that has seen its
         * ID must end CANCELLED, even if it returns before the canceller's
         * own CAS of REQ. So the check sets REQ itself. acq_rel: ordered
         * before this thread's terminal CAS; pairs with the canceller's
         * acquire reload of the word. */
        if (w && !(atomic_load_explicit(&t->state, memory_order_relaxed) & T_REQ))
            atomic_fetch_or_explicit(&t->state, T_REQ, memory_order_acq_rel);
        *cause = CREW_CAUSE_SELF;
        *code = 0;
        *reason = NULL;
        return true;
    }
    return crew__inherited_cancel(ex, t, cause, code, reason);
}

static CREW_NOINLINE bool cancelled_slow(void)
{
    crew__task_t *t = crew__tls_task;
    if (!t)
        return false;
    return crew__is_cancelled(crew__tls_worker->ex, t, NULL, NULL, NULL);
}

bool crew_cancelled(void)
{
    _Atomic uint32_t *scopes = crew__tls_scopes;
    /* relaxed: step 1 of the check protocol (see the top of this file). */
    if (CREW_LIKELY(!scopes || atomic_load_explicit(scopes, memory_order_relaxed) == 0))
        return false;
    return cancelled_slow();
}
