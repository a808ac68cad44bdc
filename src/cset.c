/*
 * cset.c - the lock-free-read key set (see cset.h).
 *
 * Memory: ck_hs allocates and frees its maps through hs_malloc/hs_free. A
 * map retired by a grow or shrink may still be read by a reader inside an
 * epoch section, so ck_hs asks for a deferred free: we queue it with
 * ck_epoch_call and the writer, before it unlocks, runs ck_epoch_barrier,
 * which returns once every section that began before the retirement has
 * ended (readers never block, so this is short) and runs the frees.
 */
#include "cset.h"

#include "crew.h"
#include "platform.h"

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
#define CSET_PUBLISHED(c) __tsan_release(&(c)->hs)
#define CSET_OBSERVE(c)   __tsan_acquire(&(c)->hs)
#else
#define CSET_PUBLISHED(c) ((void)0)
#define CSET_OBSERVE(c)   ((void)0)
#endif

struct cset_block {
    ck_epoch_entry_t entry; /* first: container for ck_epoch_call */
    crew__cset_t *set;
};

/* ck_hs's allocator has no context pointer; writers hold the set's mutex,
 * so a thread-local names the set being modified. */
static _Thread_local crew__cset_t *cset_writing;

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
    b->set = cset_writing;
    return b + 1;
}

static void epoch_free_cb(ck_epoch_entry_t *e) { crew__free((struct cset_block *)e); }

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
    ck_epoch_call(b->set->writer, &b->entry, epoch_free_cb);
    b->set->deferred = true;
}

static struct ck_malloc hs_allocator = {.malloc = hs_malloc, .free = hs_free};

int crew__cset_init(crew__cset_t *c, unsigned initial)
{
    ck_epoch_init(&c->epoch);
    c->deferred = false;
    c->writer = crew__calloc(1, sizeof *c->writer);
    if (!c->writer)
        return CREW_ENOMEM;
    ck_epoch_register(&c->epoch, c->writer, NULL);
    cset_writing = c;
    if (!ck_hs_init(&c->hs, CK_HS_MODE_SPMC | CK_HS_MODE_DIRECT, hs_hash, NULL, &hs_allocator,
                    initial, 0x9e3779b97f4a7c15ULL)) {
        crew__free(c->writer);
        c->writer = NULL;
        return CREW_ENOMEM;
    }
    pthread_mutex_init(&c->mu, NULL);
    atomic_init(&c->size, 0);
    return 0;
}

void crew__cset_destroy(crew__cset_t *c)
{
    if (!c->writer)
        return;
    cset_writing = c;
    ck_hs_destroy(&c->hs);
    ck_epoch_barrier(c->writer); /* runs any pending deferred frees */
    crew__free(c->writer);
    c->writer = NULL;
    pthread_mutex_destroy(&c->mu);
}

crew__cset_reader_t *crew__cset_reader(crew__cset_t *c)
{
    crew__cset_reader_t *r = crew__calloc(1, sizeof *r);
    if (r)
        ck_epoch_register(&c->epoch, r, NULL);
    return r;
}

void crew__cset_reader_free(crew__cset_reader_t *r)
{
    /* After crew__cset_destroy(): its last barrier was the last scan of
     * the epoch's record list. */
    crew__free(r);
}

void crew__cset_lock(crew__cset_t *c) { pthread_mutex_lock(&c->mu); }

void crew__cset_unlock(crew__cset_t *c) { pthread_mutex_unlock(&c->mu); }

static void writer_done(crew__cset_t *c)
{
    if (c->deferred) {
        c->deferred = false;
        /* Wait until every reader that could see the old map has left its
         * section, then free it. */
        ck_epoch_barrier(c->writer);
    }
}

bool crew__cset_insert(crew__cset_t *c, uint64_t key)
{
    void *k = (void *)(uintptr_t)key;
    unsigned long h = CK_HS_HASH(&c->hs, hs_hash, k);
    bool ok;
    cset_writing = c;
    if (ck_hs_get(&c->hs, h, k) != NULL)
        return true;
    CSET_PUBLISHED(c); /* before the store that makes the entry visible */
    ok = ck_hs_put(&c->hs, h, k);
    writer_done(c);
    if (ok) /* relaxed: a statistic, written under the mutex */
        atomic_fetch_add_explicit(&c->size, 1, memory_order_relaxed);
    return ok;
}

void crew__cset_remove(crew__cset_t *c, uint64_t key)
{
    void *k = (void *)(uintptr_t)key;
    unsigned long h = CK_HS_HASH(&c->hs, hs_hash, k);
    cset_writing = c;
    CSET_PUBLISHED(c);
    if (ck_hs_remove(&c->hs, h, k) != NULL)
        /* relaxed: a statistic, written under the mutex. */
        atomic_fetch_sub_explicit(&c->size, 1, memory_order_relaxed);
    writer_done(c);
}

bool crew__cset_contains(crew__cset_t *c, crew__cset_reader_t *r, uint64_t key)
{
    void *k = (void *)(uintptr_t)key;
    unsigned long h = CK_HS_HASH(&c->hs, hs_hash, k);
    bool hit;
    ck_epoch_begin(r, NULL);
    hit = ck_hs_get(&c->hs, h, k) != NULL;
    CSET_OBSERVE(c); /* after the load that may have seen an entry */
    ck_epoch_end(r, NULL);
    return hit;
}

uint64_t crew__cset_size(crew__cset_t *c)
{
    /* relaxed: a statistic. */
    return atomic_load_explicit(&c->size, memory_order_relaxed);
}
