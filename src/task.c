/*
 * task.c - printing a record for crew__dump (the transitions are all
 * inline in task.h).
 */
#include "task.h"

void crew__rec_dump(crew__task_t *t, FILE *out)
{
    /* relaxed: a racy snapshot for humans. */
    uint32_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
    fprintf(out,
            "  record id=%#llx phase=%u req=%d waiters=%d released=%d"
            " inqueue=%d refs=%u flags=%#x spawned=%u joined_self=%u"
            " kids_done=%d parent=%#llx\n",
            (unsigned long long)atomic_load_explicit(&t->id, memory_order_relaxed), crew__phase(s),
            !!(s & T_REQ), !!(s & T_WAITERS), !!(s & T_RELEASED), !!(s & T_INQUEUE),
            s >> T_REF_SHIFT, t->flags, atomic_load_explicit(&t->spawned, memory_order_relaxed),
            atomic_load_explicit(&t->joined_self, memory_order_relaxed),
            (int)atomic_load_explicit(&t->kids_done, memory_order_relaxed),
            t->parent
                ? (unsigned long long)atomic_load_explicit(&t->parent->id, memory_order_relaxed)
                : 0ULL);
}
