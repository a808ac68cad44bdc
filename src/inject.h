/*
 * inject.h - the injection queue: how threads outside the executor hand
 * tasks to it. Many producers push (lock-free CAS on one head); a worker
 * takes the whole list at once with one exchange, so there is no ABA
 * problem and no lock. Knows only the `next` link of a task record.
 */
#ifndef CREW_INJECT_H
#define CREW_INJECT_H

#include <stdatomic.h>
#include <stdbool.h>

#include "platform.h"

struct crew__task;

typedef struct crew__inject {
    CREW_ALIGNED _Atomic(struct crew__task *) head; /* newest first */
} crew__inject_t;

void crew__inject_init(crew__inject_t *q);
/* Push the chain first..last (linked by ->next, first newest). */
void crew__inject_push(crew__inject_t *q, struct crew__task *first, struct crew__task *last);
/* Take everything, newest first (as pushed). NULL if empty. */
struct crew__task *crew__inject_take_all(crew__inject_t *q);
bool crew__inject_empty(crew__inject_t *q);

#endif
