/*
 * interrupt.h - reaching a running body: on-cancel callbacks,
 * interruptible regions and shields (interrupt.c has the protocols).
 */
#ifndef CREW_INTERRUPT_H
#define CREW_INTERRUPT_H

#include <stdbool.h>
#include <stdint.h>

#include "cancel.h"
#include "exec.h"

int crew__interrupt_init(struct crew *ex, int sig);
void crew__interrupt_fini(struct crew *ex);

/* After a cancellation became visible (a REQ, a group flag, shutdown's
 * mode, each with its scope counted): run the callbacks of every task it
 * reached and interrupt the regions they are in. Cheap when there are no
 * registrations and no open regions (two loads after a fence). */
void crew__reach_running(struct crew *ex);

/* The timer fired a re-kick for worker slot idx (timer kind IRQ). */
void crew__irq_rekick(struct crew *ex, unsigned idx);

/* A body ended (task_run, fork_call) with registrations armed or a region
 * open: abort for the first, close the second. */
void crew__body_leftovers(struct crew *ex, crew__worker_t *w, crew__forks_t *k);

/* Another body is about to run on this thread (a helping wait, an inline
 * fork): close the open region, and reopen it when that body is done. */
void crew__irq_close(struct crew *ex, crew__worker_t *w);
void crew__irq_reopen(struct crew *ex, crew__worker_t *w);

static inline bool crew__irq_suspend(struct crew *ex, crew__worker_t *w)
{
    if (CREW_LIKELY(!w->fd.o.irq_open))
        return false;
    crew__irq_close(ex, w);
    return true;
}

/* Test hook: signals the handler saw outside any region. */
uint64_t crew__irq_stray(void);

#endif
