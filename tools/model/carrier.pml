/*
 * carrier.pml -- batch carriers (src/harness.c, "Batch carriers", steps
 * 1-5; the word's transitions in src/task.h), checked with spin.
 *
 * One record carries N tasks. The runner holds a pin from the start; it
 * runs task 0 (claimed by its start), then for each next task claims an
 * index (fetch_add on next), ends the current incarnation and gives the
 * claimed task a new incarnation: reborn (the terminal CAS goes straight
 * to FREE when refs == 1; or terminal, then CAS -> FREE once refs == 1;
 * then new ID, RUNNING) or, when someone else holds a pin,
 * a fresh record (the old one, and its ID, stay with their pinners; the
 * model's record then stands for the carrier and keeps its generation). A
 * canceller marks the scope cancelled,
 * then sweeps the executor's list of blocks (listed until their last
 * record is freed) and claims everything left (exchange). A looker pins
 * the record by the ID of task 0 and, while pinned, acts on it only if the
 * ID still matches.
 *
 *   state: phase (RUNNING, TERM, FREE), refs; gen is the ID's generation
 *   runner: run k; k' = next++; k' >= N: TERM, unpin, end;
 *           refs == 1: RUNNING -> FREE, else TERM (then FREE once refs == 1,
 *           or a fresh record); gen++; RUNNING
 *   canceller: cancelled = 1; (fence) listed: k = xchg(next, N); drop
 *              k..N-1; returned = 1
 *   looker: pin (refused while FREE); if gen == mine: act (assert the
 *           incarnation does not change while pinned); unpin
 *
 * Safety: every task runs or is dropped exactly once; no task is claimed
 * by the runner after the cancel returned; a pinned incarnation never
 * changes under its pinner.
 *
 * Broken variants (each must be rejected):
 *   BROKEN_RECORD_WALK the sweep finds carriers through their records (a
 *                      pool walk), taking a record between two tasks (FREE)
 *                      for a free one: the runner claims the next task after
 *                      the cancel returned
 *   BROKEN_NO_FREE     reborn goes TERM -> RUNNING with the new ID without
 *                      the FREE step: a looker validates the old ID and
 *                      then sees the new incarnation
 *   BROKEN_ANY_REFS    reborn does not require refs == 1: a pinned
 *                      incarnation changes under its pinner
 */

#ifndef N
#define N 3
#endif

#define RUNNING 1
#define TERM 2
#define FREE 3

byte phase = RUNNING;
byte refs = 1;      /* the runner's pin */
byte gen = 1;       /* the incarnation's ID (task 0: 1) */
byte next = 1;      /* index 0 is the record's own */
byte ran[N];
byte dropped[N];
bit cancelled = 0;
bit returned = 0;
bit runner_done = 0;
bit listed = 1;     /* the block, in the executor's list */

/* pin: refused while FREE (and, for a record nobody holds, when freeable:
 * not reachable here while the runner holds its pin, except at its end) */
inline pin(ok) {
  atomic {
    if
    :: phase != FREE && refs > 0 -> refs++; ok = 1
    :: else -> ok = 0
    fi
  }
}

inline unpin() {
  atomic { refs-- }
}

#ifdef BROKEN_ANY_REFS
#define ONLY_OURS true
#else
#define ONLY_OURS (refs == 1)
#endif

active proctype runner() {
  byte k = 0;
  byte nk;
  do
  :: ran[k]++;
     /* step 3: claim the next index before the terminal CAS */
     atomic {
       nk = next;
       if
       :: next < N -> assert(!returned); next++  /* claimed after the cancel returned */
       :: else
       fi
     };
     if
     :: nk >= N ->
        phase = TERM;
        atomic { unpin(); listed = 0 };  /* the last record: the block goes */
        runner_done = 1;
        break
     :: else
     fi;
     k = nk;
#ifdef BROKEN_NO_FREE
     phase = TERM;
     ONLY_OURS;  /* a check, then the new ID: nothing keeps a pin out between */
     gen++;
     phase = RUNNING
#else
     /* step 4 */
     if
     :: atomic { ONLY_OURS -> phase = FREE }  /* folded into the terminal CAS */
     :: atomic { !ONLY_OURS -> phase = TERM };
        if
        :: atomic { ONLY_OURS -> phase = FREE }  /* reborn_begin, once the pins went */
        :: true -> goto fresh
        fi
     fi;
     gen++;
     phase = RUNNING;
     goto again;
fresh:
     /* a fresh record: the old one (and its ID) stay with their pinners;
      * the model's record then stands for the carrier, its generation
      * unchanged */
     phase = RUNNING;
again:
     skip
#endif
  od
}

active proctype canceller() {
  byte k = N;
  cancelled = 1;
#ifdef BROKEN_RECORD_WALK
  /* finds the carrier through its record, as a pool walk would: a
   * record between two tasks (FREE) looks like a free one */
  bit ok;
  if
  :: phase == FREE -> skip
  :: else ->
     pin(ok);
     if
     :: ok -> atomic { k = next; next = N }; unpin()
     :: else
     fi
  fi;
#else
  /* the executor's list of blocks: listed until the last record is freed */
  atomic {
    if
    :: listed -> k = next; next = N
    :: else
    fi
  };
#endif
  do
  :: k < N -> dropped[k]++; k++
  :: else -> break
  od;
  returned = 1
}

active proctype looker() {
  bit ok;
  byte mine = 1;  /* the ID of task 0 */
  pin(ok);
  if
  :: ok ->
     if
     :: gen == mine ->
        /* acting on the incarnation it validated (a cancel by ID) */
        assert(gen == mine)
     :: else
     fi;
     unpin()
  :: else
  fi
}

active proctype judge() {
  byte i;
  (runner_done && returned);
  for (i : 0 .. N - 1) {
    assert(ran[i] + dropped[i] == 1)
  }
}
