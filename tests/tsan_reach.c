/* tsan_reach.c - interruptible regions, on-cancel callbacks and deadlines
 * racing with cancels. Tasks enter and leave interruptible regions in a
 * loop (each with a short blocking call), register and remove callbacks,
 * and carry deadlines, while the test thread cancels tasks at random.
 * Oracles: no signal is ever handled outside a region (the handler counts
 * strays); every callback ran at most once, exactly when its remove said
 * it ran, and only for a task that ends CANCELLED; every task ends exactly
 * once. Plain executable, also run under ThreadSanitizer. */
#include <poll.h>
#include <stdio.h>

#include "common.h"
#include "fault.h"

enum { MAXT = 256 };

typedef struct slot {
    crew_id_t id;
    atomic_int cb_runs;     /* callbacks that ran for this task */
    atomic_int cb_said_ran; /* removes that answered 1 */
    atomic_int regions;     /* regions entered */
    atomic_int started;
} slot_t;

static slot_t slots[MAXT];
static atomic_long total_regions;

static void on_cancel_cb(void *arg) { atomic_fetch_add(&((slot_t *)arg)->cb_runs, 1); }

static int worker_body(void *arg)
{
    slot_t *s = arg;
    long rounds = t_scaled(800, 40);
    flag_set(&s->started);
    for (long i = 0; i < rounds && !crew_cancelled(); i++) {
        crew_on_cancel_t r;
        int reg = crew_on_cancel(&r, on_cancel_cb, s);
        if (crew_interruptible_begin() == 0) {
            struct pollfd p = {.fd = -1};
            atomic_fetch_add(&s->regions, 1);
            atomic_fetch_add(&total_regions, 1);
            (void)poll(&p, 0, (i & 7) == 0 ? 1 : 0); /* sometimes blocks 1 ms */
            crew_interruptible_end();
        }
        if (reg >= 0 && crew_on_cancel_remove(&r) == 1)
            atomic_fetch_add(&s->cb_said_ran, 1);
    }
    return 0;
}

static bool ended(crew_t *ex, crew_id_t id)
{
    crew_status_t st;
    return crew_status(ex, id, &st) == 0 && st >= CREW_TASK_DONE;
}

int main(void)
{
    crew_t *ex = t_create(4); /* oversubscribed on 2 cores */
    int n = (int)t_scaled(MAXT, 16);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    t_watchdog(120);
    for (int i = 0; i < n; i++) {
        crew_task_desc_t d = {.fn = worker_body, .arg = &slots[i]};
        if (i % 4 == 3) /* some end by their deadline */
            d.timeout = (int64_t)(1 + i % 7) * 1000000;
        if (crew_submit_ex(ex, &d, &slots[i].id) != 0)
            T_DIE("submit");
    }
    /* Cancel about half of them once they run, at random moments; a few
     * at random while they may still be queued. */
    for (int i = 0; i < n; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        if (rng & 1) {
            int k = (rng & 2) ? i : (int)((rng >> 8) % (uint64_t)n), rc;
            if (k == i &&
                !T_WAIT_UNTIL(flag_get(&slots[i].started) || ended(ex, slots[i].id), T_HANG_S))
                T_DIE("task %d neither started nor ended", i);
            for (unsigned y = (unsigned)(rng >> 40) % 64; y; y--)
                sched_yield();
            rc = crew_cancel(ex, slots[k].id, 0, NULL);
            if (rc < 0)
                T_DIE("cancel -> %s", crew_err_name(rc));
        }
    }
    long cancelled = 0;
    for (int i = 0; i < n; i++) {
        crew_status_t st = t_join(ex, slots[i].id);
        int runs = atomic_load(&slots[i].cb_runs), said = atomic_load(&slots[i].cb_said_ran);
        if (runs != said)
            T_DIE("task %d: %d callback runs, removes said %d", i, runs, said);
        if (runs > 1)
            T_DIE("task %d: a callback ran %d times", i, runs);
        if (runs && st != CREW_TASK_CANCELLED)
            T_DIE("task %d: a callback ran but it ended %s", i, crew_status_name(st));
        cancelled += st == CREW_TASK_CANCELLED;
    }
    if (crew__irq_stray() != 0)
        T_DIE("%llu signals handled outside a region", (unsigned long long)crew__irq_stray());
    crew_stats_t st = t_settle(ex);
    printf("tsan_reach: %d tasks, %ld regions, %ld cancelled, %llu callbacks, %llu signals, "
           "%llu deadlines fired, 0 strays\n",
           n, atomic_load(&total_regions), cancelled, (unsigned long long)st.callbacks_run,
           (unsigned long long)st.interrupts_sent, (unsigned long long)st.deadlines_fired);
    const char *e = t_destroy_clean(&ex, CREW_DRAIN);
    if (e)
        T_DIE("%s", e);
    return 0;
}
