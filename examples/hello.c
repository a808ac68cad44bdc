/* hello.c - submit tasks, spawn children, cancel one, wait, print. */
#include <crew.h>
#include <stdio.h>

static int square(void *arg)
{
    int *v = arg;
    *v *= *v;
    return 0;
}
static int spin(void *arg)
{
    (void)arg;
    while (!crew_cancelled()) {
    }
    return 0;
}
static int parent(void *arg)
{ /* fork-join: children borrow our stack */
    int *v = arg;
    crew_id_t kid[2];
    crew_status_t st;
    for (int i = 0; i < 2; i++)
        crew_spawn(square, &v[i], &kid[i]);
    for (int i = 0; i < 2; i++)
        crew_join(crew_current(), kid[i], &st);
    return 0;
}
int main(void)
{
    crew_t *ex;
    crew_options_t opt = {.size = sizeof opt};
    if (crew_create(&ex, &opt) != 0)
        return 1;
    int a = 3, kids[2] = {4, 5};
    crew_id_t id[3];
    crew_status_t st;
    crew_submit(ex, square, &a, &id[0]);
    crew_submit(ex, parent, kids, &id[1]);
    crew_submit(ex, spin, NULL, &id[2]); /* runs until cancelled */
    crew_cancel(ex, id[2], 1, "demo");
    for (int i = 0; i < 3; i++) {
        crew_join(ex, id[i], &st);
        printf("task %d: %s\n", i, crew_status_name(st));
    }
    printf("%d %d %d\n", a, kids[0], kids[1]); /* 9 16 25 */
    return crew_destroy(&ex);
}
