/*
 * group_defer.pml -- deferred member counts (src/group.c, "Deferred member
 * counts", steps 1-5), checked with spin.
 *
 * One group with N members, all counted in `pending` at submission. Worker
 * 1 runs N-1 of them at its top level: each ends (terminal), then counts in
 * the worker's word `gdef` (step 1); between members and before it idles
 * it may flush, and before it idles it must (step 3): the word becomes 0,
 * then pending -= its count (step 2). Worker 2 runs the last member the
 * ordinary way (terminal, then pending -= 1). A reader (crew_group_info,
 * crew_group_destroy) reads pending, then the word, and reports
 * live = pending - word (step 5). A waiter waits for pending == 0.
 *
 * Spin interleaves sequentially consistent steps. In the C code pending's
 * RMWs are seq_cst and the reader's load of it is acquire: a reader whose
 * load sees a flush's RMW sees the clear before it; one whose load does
 * not may read the word's old count or 0, both covered here (an exact or
 * a high answer).
 *
 * Safety: the reader never subtracts a count twice: its live is never
 * below the members still live when it finished reading (and so never
 * negative); a waiter that returns sees every member terminal; nobody is
 * left waiting (the final flush).
 *
 * Broken variants (each must be rejected):
 *   BROKEN_SUB_FIRST   the flush subtracts from pending before it clears
 *                      the word: a reader between the two subtracts the
 *                      count twice
 *   BROKEN_NO_IDLE_FLUSH  the worker goes idle without flushing: the wait
 *                      never returns
 *   BROKEN_COUNT_FIRST the member counts in the word before its terminal
 *                      step: a reader reports it ended while it still runs
 */

#ifndef N
#define N 3
#endif

byte pending = N;
byte gdef = 0;   /* worker 1's word: its count (the group pointer implied) */
byte ended = 0;  /* members terminal */

inline flush() {
  byte c;
#ifdef BROKEN_SUB_FIRST
  c = gdef;
  pending = pending - c;
  gdef = 0
#else
  atomic { c = gdef; gdef = 0 };
  pending = pending - c
#endif
}

active proctype worker1() {
  byte k = 0;
  do
  :: k < N - 1 ->
#ifdef BROKEN_COUNT_FIRST
     gdef++;
     ended++;
#else
     ended++;  /* the terminal CAS */
     gdef++;   /* step 1 */
#endif
     k++;
     if
     :: flush()  /* step 3: before a task of another group, a helping turn */
     :: skip
     fi
  :: else -> break
  od;
#ifndef BROKEN_NO_IDLE_FLUSH
  flush()      /* step 3: before it spins or parks */
#endif
}

active proctype worker2() {
  ended++;
  pending--
}

active proctype reader() {
  byte p, s, e;
  p = pending;  /* step 5: pending first */
  s = gdef;     /* then the word */
  e = ended;
  assert(p >= s);          /* never negative */
  assert(p - s >= N - e)   /* never below the members still live */
}

active proctype waiter() {
  (pending == 0);
  assert(ended == N)
}
