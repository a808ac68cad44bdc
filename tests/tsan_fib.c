/* tsan_fib.c - fork-join fib with a spawn per call on 2 and 8 workers,
 * children borrowing the parent's stack. Plain executable: runs under TSan. */
#include "common.h"

typedef struct fib {
    int n;
    long r;
    int bad;
} fib_t;

static long fib_serial(int n) { return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2); }

static int fib_task(void *arg)
{
    fib_t *f = arg;
    if (f->n < 2) {
        f->r = f->n;
        return 0;
    }
    fib_t a = {f->n - 1, 0, 0}, b = {f->n - 2, 0, 0};
    crew_id_t ia, ib;
    crew_status_t sa, sb;
    if (crew_spawn(fib_task, &a, &ia) != 0) {
        f->bad = 1;
        return 1;
    }
    if (crew_spawn(fib_task, &b, &ib) != 0) {
        f->bad = 1;
        crew_join(crew_current(), ia, &sa);
        return 1;
    }
    int ra = crew_join(crew_current(), ia, &sa);
    int rb = crew_join(crew_current(), ib, &sb);
    f->r = a.r + b.r;
    f->bad =
        a.bad | b.bad | (ra != 0) | (rb != 0) | (sa != CREW_TASK_DONE) | (sb != CREW_TASK_DONE);
    return f->bad;
}

int main(void)
{
    t_watchdog(600);
    double s = t_scale();
    int n = s >= 1 ? 23 : s >= 0.2 ? 20 : 17;
    const unsigned workers[] = {2, 8};
    for (int w = 0; w < 2; w++) {
        crew_t *ex = t_create(workers[w]);
        for (int round = 0; round < 3; round++) {
            fib_t root = {n, 0, 0};
            crew_id_t id;
            CHECK(crew_submit(ex, fib_task, &root, &id) == 0, "submit");
            crew_status_t st = t_join(ex, id);
            CHECK(st == CREW_TASK_DONE && !root.bad, "fib(%d) on %u workers: %s", n, workers[w],
                  crew_status_name(st));
            CHECK(root.r == fib_serial(n), "fib(%d) = %ld, want %ld", n, root.r, fib_serial(n));
        }
        T_DESTROY_CLEAN(&ex, CREW_DRAIN);
        printf("fib(%d) on %u workers: ok\n", n, workers[w]);
    }
    return 0;
}
