/*
 * timer_poll.pml -- the timer's poll (src/timer.h, thread protocol step 6),
 * checked with spin.
 *
 * One due entry sits on a shard. The timer thread runs ROUNDS rounds: it
 * makes `firing` odd, takes the entry if it is still there (under the
 * shard's lock), fires what it took without the lock, then makes `firing`
 * even. A caller (a shield's end) polls: under the lock it takes the entry
 * if it is there and fires it itself; then it settles: if `firing` is odd
 * it waits until the value changes. Spin interleaves sequentially
 * consistent steps; in the C code the odd store is relaxed and ordered by
 * the shard lock's release/acquire, which these atomic lock steps stand
 * for, and the even store is a release read with acquire.
 *
 * Safety: the entry fires exactly once; when the poll returns it has
 * fired (the caller sees the deadline's effect); nobody is left waiting.
 *
 * Broken variants (each must be rejected):
 *   BROKEN_LATE_ODD   the thread makes `firing` odd only after it took the
 *                     entry: a poll can find the entry gone and `firing`
 *                     even, and return before the fire
 *   BROKEN_NO_SETTLE  the poll does not wait for the thread's round
 */

#ifndef ROUNDS
#define ROUNDS 2
#endif

bit present = 1; /* the entry, on its shard */
bit lock = 0;
byte fired = 0;
byte firing = 0; /* the thread's round: odd while inside one */
bit polled = 0;

inline take(got) {
  atomic { lock == 0 -> lock = 1 };
  if
  :: present -> present = 0; got = 1
  :: else -> got = 0
  fi;
  lock = 0
}

active proctype timer_thread() {
  byte seq = 0;
  byte r = 0;
  bit got;
  do
  :: r < ROUNDS ->
#ifndef BROKEN_LATE_ODD
     firing = seq + 1;
#endif
     take(got);
#ifdef BROKEN_LATE_ODD
     firing = seq + 1;
#endif
     if
     :: got -> fired++
     :: else
     fi;
     seq = seq + 2;
     firing = seq;
     r++
  :: else -> break
  od
}

active proctype poller() {
  bit got;
  byte g;
  take(got);
  if
  :: got -> fired++
  :: else
  fi;
#ifndef BROKEN_NO_SETTLE
  g = firing;
  if
  :: g % 2 == 1 -> (firing != g)
  :: else
  fi;
#endif
  /* The entry was due before the poll began: it has fired by now, unless
   * the thread has not taken it (then the poll did). */
  assert(fired == 1);
  polled = 1
}

/* Exactly once, whoever fired it. */
active proctype monitor() {
  atomic { timeout -> assert(fired == 1 && polled) }
}
