/*
 * loop.c - parallel loops (crew_for, crew_for_reduce) on the fork-join
 * machinery: one root task per loop, crew_fork/crew_sync below it.
 *
 * A piece of the range is a node: [lo, hi), its accumulator and how many
 * indices its body calls completed. A node lives in the C stack frame of
 * whoever made it (the root's, or the splitting frame's), and is forked
 * with crew_fork(), so it is synced before that frame returns.
 *
 * Automatic mode (lazy binary splitting, Tzannes et al., PPoPP 2010): a
 * node runs its range in chunks; between chunks, if a thief would take
 * work now (hungry() below: no frame of ours is waiting in the shared
 * part of our fork deque, and a thief asked or a worker idles), it forks
 * the upper half as a new node and goes on with the lower half.
 * The split recurses (the lower half continues in a nested call), so each
 * split's node lives in its own stack frame and is combined after it, in
 * index order: the running accumulator covers [lo, mid), the child
 * [mid, hi). A node splits at most log2(n) times (each split halves what
 * is left), which bounds the recursion. Chunk lengths adapt to time: they
 * double while a chunk takes under CHUNK_NS and halve above 4 * CHUNK_NS.
 *
 * Deterministic mode: the same nodes, but a fixed tree: a node longer than
 * the grain is halved, the lower half run here into the node's
 * accumulator, the upper half (forked if hungry, else called) into a fresh
 * one, then combined. Leaves are one body call each. The tree and the
 * value every accumulator starts from depend only on (n, grain).
 *
 * Cancellation is the root task's: every chunk starts only after a
 * crew_cancelled() check (a single load while nothing is cancelled
 * anywhere); forks of a cancelled root never start (fork-join's rule);
 * the deadline is turned into a crew_cancel() of the root by the first
 * piece that sees it passed.
 *
 * Nothing here touches worker.c: the hunger probe reads the fork deque's
 * hints (fdeque.h) and the park's idle counts (park.h) of the calling
 * worker, both documented there as hints any thread may read.
 */
#include <stdalign.h>
#include <string.h>

#include "exec.h"
#include "worker.h"

/* Target duration of one chunk in automatic mode (ns). */
#define CHUNK_NS 20000
/* Deterministic mode's default leaf: at least this many indices (or the
 * whole range), and at most 1024 leaves. */
#define DET_LEAF_MIN 1024
#define DET_LEAVES   1024

typedef struct loop {
    crew_t *ex;
    crew_for_fn body;         /* crew_for */
    const crew_reduce_t *red; /* crew_for_reduce, else NULL */
    void *arg;                /* body's or red->arg */
    int64_t grain;            /* > 0: chunk / leaf length; 0: auto */
    bool det;                 /* CREW_FOR_DETERMINISTIC */
    int64_t deadline;         /* absolute crew__now_ns(), or -1 */
    crew_id_t root;           /* the root task's ID: written by the root
                                 before its first fork, so every piece
                                 (forked after it) reads it */
    _Atomic bool expired;     /* the deadline was seen passed */
} loop_t;

typedef struct node {
    loop_t *L;
    int64_t lo, hi;
    int64_t count; /* indices in body calls that returned */
    alignas(max_align_t) unsigned char acc[CREW_REDUCE_ACC_MAX];
} node_t;

static int node_fn(void *p);

/* ---- probes between chunks ------------------------------------------------ */

/* Would a thief take a piece now? True when nothing we offered is still
 * waiting in our fork deque's shared part and a thief asked (movesplit)
 * or some worker is idle. Hints only: a wrong answer costs a split too
 * many or a moment of a thief's idleness, never correctness. */
static inline bool hungry(void)
{
    crew__worker_t *w = crew__tls_worker;
    if (crew__fdeque_has_shared(&w->fd))
        return false;
    /* relaxed: movesplit is a hint (fdeque.h step 2), read as fork_frame
     * reads it. */
    return atomic_load_explicit(&w->fd.movesplit, memory_order_relaxed) ||
           crew__park_any_idle(&w->ex->park);
}

/* Out of line: the deadline passed. The first piece to see it cancels the
 * root, which every piece then sees through crew_cancelled(). */
static CREW_NOINLINE void expire(loop_t *L)
{
    /* relaxed: only one canceller is wanted; the cancel itself publishes
     * (crew_cancel's seq_cst scope count, cancel.c step 1). */
    if (!atomic_exchange_explicit(&L->expired, true, memory_order_relaxed))
        crew_cancel(L->ex, L->root, CREW_ETIMEDOUT, "loop deadline");
}

/* May the next chunk start? (the cancellation check, then the deadline) */
static inline bool may_run(loop_t *L, int64_t now)
{
    if (CREW_UNLIKELY(crew__any_scope(L->ex)) && crew_cancelled())
        return false;
    if (CREW_UNLIKELY(L->deadline >= 0) && now >= L->deadline) {
        expire(L);
        return false;
    }
    return true;
}

static inline void run_chunk(loop_t *L, node_t *n, int64_t lo, int64_t hi)
{
    if (L->red)
        L->red->body(L->arg, lo, hi, n->acc);
    else
        L->body(L->arg, lo, hi);
    n->count += hi - lo;
}

/* Start a child node for [lo, hi). */
static inline void node_init(node_t *c, loop_t *L, int64_t lo, int64_t hi)
{
    c->L = L;
    c->lo = lo;
    c->hi = hi;
    c->count = 0;
    if (L->red)
        L->red->identity(L->arg, c->acc);
}

/* Fold a finished child (the range right after n's) into n. */
static inline void node_join(loop_t *L, node_t *n, const node_t *c)
{
    if (L->red)
        L->red->combine(L->arg, n->acc, c->acc);
    n->count += c->count;
}

/* Fork c, or run it here if it cannot be forked. */
static inline void fork_node(node_t *c)
{
    if (crew_fork(node_fn, c) != 0)
        node_fn(c);
}

/* ---- automatic and fixed-grain splitting ----------------------------------- */

/* Run [n->lo, n->hi) into n, splitting lazily. chunk: the current chunk
 * length (automatic mode; the grain otherwise). */
static void run_lazy(loop_t *L, node_t *n, int64_t lo, int64_t hi, int64_t chunk)
{
    /* Split only what leaves both halves non-empty (and, with a grain, a
     * grain each). */
    int64_t min_split = !L->grain ? 2 : L->grain > INT64_MAX / 2 ? INT64_MAX : 2 * L->grain;
    bool timed = !L->grain || L->deadline >= 0;
    int64_t now = timed ? crew__now_ns() : 0;
    while (lo < hi) {
        int64_t len = hi - lo, k;
        if (!may_run(L, now))
            return;
        if (len >= min_split && hungry()) {
            node_t c;
            int64_t mid = lo + len / 2;
            node_init(&c, L, mid, hi);
            fork_node(&c);
            run_lazy(L, n, lo, mid, chunk);
            crew_sync(NULL); /* ours and any outer level's: harmless */
            node_join(L, n, &c);
            return;
        }
        k = chunk < len ? chunk : len;
        run_chunk(L, n, lo, lo + k);
        lo += k;
        if (timed) {
            int64_t t = crew__now_ns();
            if (!L->grain) {
                if (t - now < CHUNK_NS && chunk < (INT64_MAX >> 1))
                    chunk <<= 1;
                else if (t - now > 4 * CHUNK_NS && chunk > 1)
                    chunk >>= 1;
            }
            now = t;
        }
    }
}

/* ---- deterministic: a fixed tree ------------------------------------------- */

/* Reduce [lo, hi) into n->acc (which holds the reduction of whatever this
 * node ran before: always the same, by construction). */
static void run_tree(loop_t *L, node_t *n, int64_t lo, int64_t hi)
{
    int64_t len = hi - lo;
    /* Cancelled: neither this leaf nor anything below this node runs. */
    if (!may_run(L, L->deadline >= 0 ? crew__now_ns() : 0))
        return;
    if (len <= L->grain) {
        run_chunk(L, n, lo, hi);
        return;
    }
    {
        node_t c;
        int64_t mid = lo + len / 2;
        bool forked = false;
        node_init(&c, L, mid, hi);
        if (hungry()) {
            fork_node(&c);
            forked = true;
        }
        run_tree(L, n, lo, mid);
        if (forked)
            crew_sync(NULL);
        else
            run_tree(L, &c, mid, hi);
        node_join(L, n, &c);
    }
}

static void run_node(loop_t *L, node_t *n)
{
    if (L->det)
        run_tree(L, n, n->lo, n->hi);
    else
        run_lazy(L, n, n->lo, n->hi, L->grain ? L->grain : 1);
}

static int node_fn(void *p)
{
    node_t *n = p;
    run_node(n->L, n);
    return 0;
}

/* ---- the root and the calls ------------------------------------------------- */

typedef struct root {
    loop_t *L;
    node_t *n; /* the caller's node: [begin, end) and the result */
} root_t;

static int root_fn(void *p)
{
    root_t *r = p;
    r->L->root = crew_self();
    run_node(r->L, r->n);
    /* A cancellation that came after the last index ran changes nothing:
     * the count says everything ran. */
    return 0;
}

static int check_opts(const crew_for_opts_t *o, crew_for_opts_t *out)
{
    memset(out, 0, sizeof *out);
    if (!o)
        return 0;
    if (o->size < offsetof(crew_for_opts_t, timeout_ns) + sizeof(int64_t) ||
        o->size > 4 * sizeof(crew_for_opts_t))
        return CREW_EINVAL;
    *out = *o;
    if (out->grain < 0 || (out->flags & ~CREW_FOR_DETERMINISTIC))
        return CREW_EINVAL;
    if (out->timeout_ns != 0 && out->timeout_ns != CREW_FOREVER &&
        (out->timeout_ns < 0 || out->timeout_ns > CREW_TIMEOUT_MAX_NS))
        return CREW_EINVAL;
    return 0;
}

static int run_loop(crew_t *ex, int64_t begin, int64_t end, crew_for_fn body,
                    const crew_reduce_t *red, void *arg, void *result, const crew_for_opts_t *opts,
                    int64_t *completed)
{
    crew_for_opts_t o;
    loop_t L;
    node_t n;
    root_t r;
    crew_task_desc_t d;
    crew_status_t st = CREW_TASK_QUEUED;
    crew_id_t id;
    uint64_t len;
    bool inside;
    int rc;

    if (completed)
        *completed = 0;
    if ((rc = check_opts(opts, &o)) != 0)
        return rc;
    if (!ex)
        ex = crew_current();
    if (!crew__valid(ex))
        return CREW_EINVAL;
    len = begin < end ? (uint64_t)end - (uint64_t)begin : 0;
    if (len > (uint64_t)INT64_MAX)
        return CREW_EINVAL;

    memset(&L, 0, sizeof L);
    L.ex = ex;
    L.body = body;
    L.red = red;
    L.arg = arg;
    L.det = (o.flags & CREW_FOR_DETERMINISTIC) != 0;
    L.grain = o.grain;
    if (L.det && !L.grain) {
        int64_t g = (int64_t)((len + DET_LEAVES - 1) / DET_LEAVES);
        int64_t m = (int64_t)len < DET_LEAF_MIN ? (int64_t)len : DET_LEAF_MIN;
        L.grain = g > m ? g : m;
        if (L.grain < 1)
            L.grain = 1;
    }
    L.deadline = -1;
    if (o.timeout_ns > 0)
        L.deadline = crew__now_ns() + o.timeout_ns;
    atomic_init(&L.expired, false);
    node_init(&n, &L, begin, begin + (int64_t)len);
    if (len == 0) {
        if (red)
            memcpy(result, n.acc, red->acc_size);
        return 0;
    }

    r.L = &L;
    r.n = &n;
    memset(&d, 0, sizeof d);
    d.fn = root_fn;
    d.arg = &r;
    d.group = o.group;
    inside = crew_current() == ex;
    if (inside)
        crew__worker_unstack(ex); /* not beside a spinning worker (worker.c) */
    if ((rc = crew_submit_ex(ex, &d, &id)) != 0)
        return rc;
    if (inside)
        rc = crew_join_child(id, &st); /* runs it here, helps meanwhile */
    else
        rc = crew_join(ex, id, &st); /* blocks */
    (void)rc;                        /* the count says what happened */
    if (red)
        memcpy(result, n.acc, red->acc_size);
    if (completed)
        *completed = n.count;
    if ((uint64_t)n.count == len)
        return 0;
    /* relaxed: the root's join ordered every piece's store before us. */
    return atomic_load_explicit(&L.expired, memory_order_relaxed) ? CREW_ETIMEDOUT : CREW_ECANCELED;
}

int crew_for(crew_t *ex, int64_t begin, int64_t end, crew_for_fn body, void *arg,
             const crew_for_opts_t *opts, int64_t *completed)
{
    if (!body) {
        if (completed)
            *completed = 0;
        return CREW_EINVAL;
    }
    return run_loop(ex, begin, end, body, NULL, arg, NULL, opts, completed);
}

int crew_for_reduce(crew_t *ex, int64_t begin, int64_t end, const crew_reduce_t *r, void *result,
                    const crew_for_opts_t *opts, int64_t *completed)
{
    if (!r || !result || !r->identity || !r->body || !r->combine || r->acc_size == 0 ||
        r->acc_size > CREW_REDUCE_ACC_MAX) {
        if (completed)
            *completed = 0;
        return CREW_EINVAL;
    }
    r->identity(r->arg, result); /* what every early error leaves */
    return run_loop(ex, begin, end, NULL, r, r->arg, result, opts, completed);
}
