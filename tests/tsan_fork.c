/* tsan_fork.c - fork-join under stealing: an irregular tree of forks (some
 * copied, some borrowed) on 2 and 8 workers, where idle workers steal
 * frames from the split fork deques, promote them and run them, while the
 * owners reclaim shared frames (the CAS path) and wait for stolen ones.
 * Every node must run exactly once, and every sync must count exactly its
 * children; rounds where the root is cancelled midway check that nothing
 * runs twice and that every node that did not run was reported CANCELLED
 * by its parent's sync. Plain executable, also run under ThreadSanitizer. */
#include <string.h>

#include "common.h"

enum { MAXN = 1 << 16 };

static atomic_int ran[MAXN];
static atomic_int next_id;
static atomic_long reported_cancelled, reported_done;
static atomic_long bad_counts;

typedef struct {
    int depth;
    uint32_t seed;
    int id;
} node_t;

static int node(void *p);

/* copy: the child's argument is copied into its frame; else it is
 * borrowed from *slot, in the parent's stack frame, alive until the
 * parent's sync (a child cancelled before it starts never reads it). */
static void fork_child(node_t *parent, int k, int copy, node_t *slot)
{
    node_t c;
    int id = atomic_fetch_add(&next_id, 1);
    if (id >= MAXN)
        return;
    c.depth = parent->depth + 1;
    c.seed = parent->seed * 1103515245u + 12345u + (uint32_t)k;
    c.id = id;
    if (copy) {
        crew_fork_copy(node, &c, sizeof c);
    } else {
        *slot = c;
        crew_fork(node, slot);
    }
}

static int node(void *p)
{
    node_t *n = p, self = *n, kid[5];
    if (atomic_fetch_add(&ran[self.id], 1) != 0)
        atomic_fetch_add(&bad_counts, 1); /* ran twice */
    if (crew_cancelled() || self.depth >= 9)
        return 0;
    int kids = (int)(self.seed >> 16) % 5; /* 0..4 children: irregular */
    for (int k = 0; k < kids; k++)
        fork_child(&self, k, (int)(self.seed >> (k + 3)) & 1, &kid[k]);
    for (volatile int spin = 0; spin < 100; spin++)
        ;
    crew_sync_result_t r;
    crew_sync(&r);
    if ((int)(r.done + r.failed + r.cancelled) != kids &&
        atomic_load(&next_id) < MAXN) /* (an overflowed id makes fewer kids) */
        atomic_fetch_add(&bad_counts, 1);
    atomic_fetch_add(&reported_cancelled, r.cancelled);
    atomic_fetch_add(&reported_done, r.done);
    return 0;
}

int main(void)
{
    t_watchdog(600);
    int rounds = (int)t_scaled(20, 3);
    const unsigned workers[] = {2, 8};
    long total = 0, cancelled_rounds = 0;
    for (int wi = 0; wi < 2; wi++) {
        crew_t *ex = t_create(workers[wi]);
        for (int r = 0; r < rounds; r++) {
            node_t root = {0, 0x9e3779b9u * (uint32_t)(r + 1), 0};
            crew_id_t id;
            memset(ran, 0, sizeof ran);
            atomic_store(&next_id, 1);
            atomic_store(&reported_cancelled, 0);
            atomic_store(&reported_done, 0);
            CHECK(crew_submit(ex, node, &root, &id) == 0, "submit");
            if (r % 3 == 2) {
                crew_status_t st = CREW_TASK_QUEUED;
                T_WAIT_UNTIL(atomic_load(&next_id) > 200 ||
                                 (crew_status(ex, id, &st) == 0 && st >= CREW_TASK_DONE),
                             5.0);
                crew_cancel(ex, id, 0, "stop");
                cancelled_rounds++;
            }
            t_join(ex, id);
            int made = atomic_load(&next_id);
            if (made > MAXN)
                made = MAXN;
            long never = 0;
            for (int i = 0; i < made; i++) {
                int k = atomic_load(&ran[i]);
                CHECK(k <= 1, "node %d ran %d times", i, k);
                never += k == 0;
            }
            CHECK(atomic_load(&bad_counts) == 0,
                  "a sync miscounted its children or a node ran twice");
            if (r % 3 != 2)
                CHECK(never == 0, "%ld nodes never ran in an uncancelled round", never);
            /* Every node that never ran was reported CANCELLED by its parent. */
            CHECK(atomic_load(&reported_cancelled) >= never,
                  "%ld never ran, %ld reported cancelled", never, atomic_load(&reported_cancelled));
            total += made;
        }
        T_DESTROY_CLEAN(&ex, CREW_DRAIN);
    }
    printf("tsan_fork: %ld nodes in %d rounds x 2 worker counts (%ld cancelled midway), each "
           "ran at most once, syncs counted exactly\n",
           total, rounds, cancelled_rounds);
    return 0;
}
