/* Three actors, parse -> transform -> write; a bad record cancels the batch. */
#include <crew.h>
#include <stdint.h>
#include <stdio.h>
static crew_actor_t *parse, *transform, *writer;
static crew_group_t *batch;
static int write_rec(void *v)
{ /* only the writer's tasks touch total */
    *(long *)crew_actor_state() += (long)(intptr_t)v;
    return 0;
}
static int transform_rec(void *v)
{ /* long work would check in its loop */
    if (crew_cancelled())
        return 0;
    return crew_actor_submit(writer, write_rec, (void *)((intptr_t)v * 10), NULL);
}
static int parse_rec(void *v)
{ /* what it sends joins its group, batch */
    if ((intptr_t)v < 0)
        return crew_group_cancel(batch, 1, "bad record");
    return crew_actor_submit(transform, transform_rec, v, NULL);
}
int main(void)
{
    crew_t *ex;
    long total = 0;
    crew_status_t st;
    crew_create(&ex, NULL);
    crew_actor_create(ex, NULL, NULL, &parse);
    crew_actor_create(ex, NULL, NULL, &transform);
    crew_actor_create(ex, &total, NULL, &writer);
    crew_group_create(ex, NULL, 0, &batch);
    crew_task_desc_t d = {.fn = parse_rec, .arg = NULL, .cleanup = NULL, .group = batch};
    for (intptr_t i = 1; i <= 1000; i++) {
        d.arg = (void *)(i == 500 ? -1 : i); /* record 500 is bad */
        crew_actor_submit_ex(parse, &d, NULL);
    }
    crew_group_wait(batch, CREW_FOREVER, &st); /* all three stages stopped */
    printf("batch %s, total %ld\n", crew_status_name(st), total);
    crew_group_destroy(batch);
    crew_destroy(&ex); /* ends the actors and frees their handles */
    return 0;
}
