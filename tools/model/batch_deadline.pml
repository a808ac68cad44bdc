/*
 * batch_deadline.pml -- a carried batch's deadline (src/harness.c "Batch
 * carriers" step 6; shutdown step 4b in src/executor.c; the timer's round,
 * src/timer.h step 6), checked with spin.
 *
 * The block holds one reference per carrier and one for its timer entry.
 * Each carrier ends: dl_live -= 1; the last one disarms the entry (takes it
 * off its shard if it is still there) and, if it took it, drops the
 * entry's reference; then it drops its own. The timer thread makes
 * `firing` odd, takes the entry if it is still there and fires it: under
 * the set mutex `expired` is set and a cancel scope counted (dropped when
 * the block is freed); then it drops the entry's reference and makes
 * `firing` even. The last reference frees the block. A carrier's record
 * drops its block reference before it goes back to the pool. The test
 * teardown (tests/common.c t_destroy_clean) waits until no record is live
 * (t_settle), then crew_shutdown settles the timer (waits out a round in
 * progress), and checks that no cancel scope is left. (Without the first
 * wait, crew_shutdown alone returns once every task is terminal, while a
 * worker may still be freeing the last carrier's record: the scope goes a
 * moment later, with the block.)
 *
 * Safety: the block is freed exactly once, never used after; the entry's
 * reference is dropped exactly once, by whichever took the entry; after
 * the shutdown returns no scope is left; at the end everything is freed.
 *
 * Broken variants (each must be rejected):
 *   BROKEN_DISARM_DROPS  the last carrier drops the entry's reference even
 *                        when the timer took the entry first: the block is
 *                        freed under the fire
 *   BROKEN_NO_SETTLE     the shutdown does not wait for the timer's round:
 *                        a fire that took the entry as the last carrier
 *                        ended still holds its scope (the failure seen in
 *                        tsan_batch, 1 run in 200)
 */

#ifndef NC
#define NC 2
#endif

byte refs = NC + 1;  /* the carriers' and the entry's */
byte dl_live = NC;
bit entry = 1;       /* on its shard */
bit expired = 0;
byte scope = 0;
bit freed = 0;
bit firing = 0;      /* odd: the timer is inside a round */
byte ended = 0;      /* carriers that ended */

inline unref() {
  atomic {
    assert(refs > 0 && !freed);
    refs--;
    if
    :: refs == 0 ->
       freed = 1;
       if
       :: expired -> scope--  /* the expiry's scope goes with the block */
       :: else
       fi
    :: else
    fi
  }
}

proctype carrier() {
  bit last = 0, got = 0;
  /* runs its tasks, then ends (step 3's last, or its record removed) */
  atomic { dl_live--; last = (dl_live == 0) };
  if
  :: last ->
     atomic { if :: entry -> entry = 0; got = 1 :: else fi };
#ifdef BROKEN_DISARM_DROPS
     unref()
#else
     if :: got -> unref() :: else fi
#endif
  :: else
  fi;
  unref();       /* crew__task_free: the block's reference first */
  atomic { ended++ }  /* then the record goes back to the pool */
}

active proctype timer() {
  bit got = 0;
  firing = 1;
  atomic { if :: entry -> entry = 0; got = 1 :: else fi };
  if
  :: got ->
     atomic { assert(!freed); expired = 1; scope++ };  /* under the set mutex */
     assert(!freed);                                   /* the sweep */
     unref()
  :: else
  fi;
  firing = 0
}

active proctype shutdown() {
  (ended == NC);  /* t_settle: no record live */
#ifndef BROKEN_NO_SETTLE
  (firing == 0);  /* step 4b: settle */
#endif
  assert(scope == 0)
}

init {
  byte i = 0;
  atomic {
    do
    :: i < NC -> run carrier(); i++
    :: else -> break
    od
  }
}

active proctype monitor() {
  atomic { timeout -> assert(freed && refs == 0 && scope == 0) }
}
