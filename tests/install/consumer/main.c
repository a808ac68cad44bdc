/* Consumer of an installed crew: fork-join sum and one cancellation. */
#include <crew.h>
#include <stdio.h>

typedef struct range {
    long lo, hi, sum;
} range_t;

static int sum_task(void *arg)
{
    range_t *r = arg;
    if (r->hi - r->lo <= 1000) {
        for (long i = r->lo; i < r->hi; i++)
            r->sum += i;
        return 0;
    }
    long mid = (r->lo + r->hi) / 2;
    range_t a = {r->lo, mid, 0}, b = {mid, r->hi, 0};
    crew_id_t ia, ib;
    crew_status_t sa, sb;
    if (crew_spawn(sum_task, &a, &ia) != 0)
        return 1;
    sum_task(&b);
    crew_join(crew_current(), ia, &sa);
    r->sum = a.sum + b.sum;
    return sa == CREW_TASK_DONE ? 0 : 1;
}

static int wait_for_cancel(void *arg)
{
    (void)arg;
    while (!crew_cancelled()) {
    }
    return 0;
}

int main(void)
{
    crew_t *ex;
    crew_options_t o = {.size = sizeof o};
    o.workers = 2;
    if (crew_create(&ex, &o) != 0)
        return 1;
    range_t r = {0, 1000000, 0};
    crew_id_t id, spin;
    crew_status_t st, st2;
    if (crew_submit(ex, sum_task, &r, &id) != 0)
        return 2;
    if (crew_submit(ex, wait_for_cancel, NULL, &spin) != 0)
        return 3;
    int oc = crew_cancel(ex, spin, 7, "consumer");
    crew_join(ex, id, &st);
    crew_join(ex, spin, &st2);
    printf("crew %d.%d.%d sum=%ld %s %s %s\n", CREW_VERSION_MAJOR, CREW_VERSION_MINOR,
           CREW_VERSION_PATCH, r.sum, crew_status_name(st), crew_status_name(st2),
           oc > 0 ? "cancel-ok" : crew_err_name(oc));
    return crew_destroy(&ex);
}
