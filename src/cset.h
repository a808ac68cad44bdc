/*
 * cset.h - a set of 64-bit keys, written under one mutex and read without a
 * lock: a ConcurrencyKit ck_hs (single writer, many readers) whose retired
 * maps are freed through ck_epoch. Knows nothing of tasks; crew keeps the
 * IDs of cancelled tasks and groups in one (cancel.c). Keys 0 and ~0 are
 * reserved (ck_hs's empty and tombstone markers).
 *
 * Writers: crew__cset_lock(), then insert/remove, then unlock. The lock is
 * the caller's to hold across its own steps (cancel.c writes a task's cause
 * fields under it).
 * Readers: a reader record per thread (crew__cset_reader), then
 * crew__cset_contains() with no lock: it runs inside an epoch section, and
 * a writer that grew or shrank the map waits (ck_epoch_barrier) for every
 * section that could still see the old map before freeing it.
 */
#ifndef CREW_CSET_H
#define CREW_CSET_H

#include <ck_epoch.h>
#include <ck_hs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct crew__cset {
    pthread_mutex_t mu; /* the single writer lock */
    ck_hs_t hs;
    ck_epoch_t epoch;
    ck_epoch_record_t *writer;
    bool deferred; /* under mu: a retired map waits for the barrier */
    _Atomic uint64_t size;
} crew__cset_t;

typedef ck_epoch_record_t crew__cset_reader_t;

/* 0 or CREW_ENOMEM. */
int crew__cset_init(crew__cset_t *c, unsigned initial);
/* No reader or writer may be active. Reader records are freed after this
 * (the barrier here still scans them). */
void crew__cset_destroy(crew__cset_t *c);
/* A reader record for one thread (NULL: out of memory). Freed by
 * crew__cset_reader_free() after the set is destroyed. */
crew__cset_reader_t *crew__cset_reader(crew__cset_t *c);
void crew__cset_reader_free(crew__cset_reader_t *r);

void crew__cset_lock(crew__cset_t *c);
void crew__cset_unlock(crew__cset_t *c);
/* Under the lock. true if key is in the set now (false: out of memory). */
bool crew__cset_insert(crew__cset_t *c, uint64_t key);
/* Under the lock. Absent keys are ignored. */
void crew__cset_remove(crew__cset_t *c, uint64_t key);
/* Any thread holding a reader record `r` (its own), no lock. */
bool crew__cset_contains(crew__cset_t *c, crew__cset_reader_t *r, uint64_t key);
/* Number of keys (a recent value). */
uint64_t crew__cset_size(crew__cset_t *c);

#endif
