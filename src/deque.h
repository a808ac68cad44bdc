/*
 * deque.h - the per-worker work-stealing deque. Moves task pointers only;
 * knows nothing about tasks (testable alone).
 */
#ifndef CREW_DEQUE_H
#define CREW_DEQUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "platform.h"

typedef struct crew__ring {
    int64_t mask;               /* capacity - 1 */
    struct crew__ring *retired; /* older rings, freed with the deque */
    _Atomic(void *) slot[];
} crew__ring_t;

typedef struct crew__deque {
    CREW_ALIGNED _Atomic int64_t top; /* thieves' end; CAS by thieves/owner */
    CREW_ALIGNED _Atomic int64_t bottom; /* owner's end; written by owner */
    _Atomic(crew__ring_t *) ring;        /* written by owner, read by all */
} crew__deque_t;

/* Named outcomes of a steal. */
typedef enum { CREW__STEAL_OK, CREW__STEAL_EMPTY, CREW__STEAL_LOST } crew__steal_t;

int crew__deque_init(crew__deque_t *d);   /* 0 or CREW_ENOMEM */
void crew__deque_destroy(crew__deque_t *d);
/* Owner only. false: the ring could not grow (out of memory). */
bool crew__deque_push(crew__deque_t *d, void *x);
/* Owner only. NULL if empty. */
void *crew__deque_pop(crew__deque_t *d);
/* Owner only: the element pop() would return next, without taking it. */
void *crew__deque_peek(crew__deque_t *d);
/* Any thread. */
crew__steal_t crew__deque_steal(crew__deque_t *d, void **out);
/* Any thread; a snapshot, exact only while nobody touches the deque. */
int64_t crew__deque_size(crew__deque_t *d);

#endif
