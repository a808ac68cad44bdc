/* inject.c - the injection queue (see inject.h). */
#include "inject.h"

#include "task.h"

void crew__inject_init(crew__inject_t *q) { atomic_init(&q->head, NULL); }

void crew__inject_push(crew__inject_t *q, crew__task_t *first, crew__task_t *last)
{
    /* relaxed initial read: the CAS validates it. */
    crew__task_t *old = atomic_load_explicit(&q->head, memory_order_relaxed);
    do {
        last->next = old;
        /* seq_cst on success: publishes the records' fields (release part,
         * pairs with the acquire exchange in take_all) and is step a of the
         * producer protocol in park.c, ordered before its step b. */
    } while (!atomic_compare_exchange_weak_explicit(&q->head, &old, first, memory_order_seq_cst,
                                                    memory_order_relaxed));
}

crew__task_t *crew__inject_take_all(crew__inject_t *q)
{
    if (atomic_load_explicit(&q->head, memory_order_relaxed) == NULL)
        return NULL; /* relaxed: a hint; the exchange below decides. */
    /* acquire: pairs with the producers' CAS; we read their records. */
    return atomic_exchange_explicit(&q->head, NULL, memory_order_acquire);
}

bool crew__inject_empty(crew__inject_t *q)
{
    /* seq_cst: step 3 of the park protocol reads this after step 2. */
    return atomic_load_explicit(&q->head, memory_order_seq_cst) == NULL;
}
