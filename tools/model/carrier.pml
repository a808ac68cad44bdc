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
 * Step 3a, the quiet end: every pin leaves SEEN on the word (sticky until
 * the next incarnation), and so does the runner's crew_self(). A task
 * that ended on an incarnation the runner made (fresh), with only the
 * runner's pin, no SEEN and nothing cancelled, hands the incarnation to
 * the claimed task unchanged: same ID, no write to the word. The runner's
 * check is one step (a seq_cst load; the pins are seq_cst CASes), and
 * `cur` (the task the incarnation stands for) moves to the next task in
 * it. A learner finds an ID (a pin: a task list; or the runner's
 * crew_self() handing it over), lets go, and later acts on it by ID (a
 * cancel): if the ID still matches, the task it reaches must be the one
 * it found. `rec` counts records: a task moved to a fresh record has a
 * new one, and an ID of the old record no longer reaches the model's.
 *
 * Safety: every task runs or is dropped exactly once; no task is claimed
 * by the runner after the cancel returned; a pinned incarnation never
 * changes under its pinner; an ID reaches only the task it was found on.
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
 *   BROKEN_PIN_UNSEEN  a pin leaves no mark (the quiet end checks only
 *                      refs == 1): an ID found by a pin dropped before the
 *                      task ended reaches the next task
 *   BROKEN_SELF_UNSEEN crew_self() leaves no mark: likewise for an ID the
 *                      task handed out itself
 */

#ifndef N
#define N 3
#endif

#define RUNNING 1
#define TERM 2
#define FREE 3

byte phase = RUNNING;
byte refs = 1;      /* the runner's pin */
bit seen = 0;       /* SEEN: the incarnation's ID may be known outside */
byte gen = 1;       /* the incarnation's ID (task 0: 1) */
byte rec = 0;       /* which record the model's stands for */
byte cur = 0;       /* the task the incarnation stands for */
bit told = 0;       /* the runner's crew_self() handed out (told_*) */
byte told_gen, told_rec, told_task;
byte next = 1;      /* index 0 is the record's own */
byte ran[N];
byte dropped[N];
bit cancelled = 0;
bit returned = 0;
bit runner_done = 0;
bit listed = 1;     /* the block, in the executor's list */

/* pin: refused while FREE (and, for a record nobody holds, when freeable:
 * not reachable here while the runner holds its pin, except at its end) */
#ifdef BROKEN_PIN_UNSEEN
#define PIN_MARK skip
#else
#define PIN_MARK seen = 1
#endif
#ifdef BROKEN_SELF_UNSEEN
#define SELF_MARK skip
#else
#define SELF_MARK seen = 1
#endif

inline pin(ok) {
  atomic {
    if
    :: phase != FREE && refs > 0 -> refs++; PIN_MARK; ok = 1
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
  bit made = 0;  /* the incarnation was made here (step 4), not published */
  do
  :: ran[k]++;
     if  /* the body may call crew_self() and hand its ID out */
     :: !told -> atomic { SELF_MARK; told_gen = gen; told_rec = rec; told_task = cur; told = 1 }
     :: true
     fi;
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
     /* step 3a: the quiet end (one seq_cst load decides) */
     if
     :: atomic { made && refs == 1 && !seen && !cancelled -> cur = nk };
        goto again
     :: else
     fi;
#ifdef BROKEN_NO_FREE
     phase = TERM;
     ONLY_OURS;  /* a check, then the new ID: nothing keeps a pin out between */
     atomic { gen++; seen = 0; cur = nk };
     phase = RUNNING;
again:
     made = 1
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
     atomic { gen++; seen = 0; cur = nk };
     phase = RUNNING;
     goto again;
fresh:
     /* a fresh record: the old one (and its ID) stay with their pinners;
      * the model's record then stands for the carrier, its generation
      * unchanged, `rec` moved on */
     atomic { rec++; seen = 0; cur = nk };
     phase = RUNNING;
again:
     made = 1
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

/* Finds an ID (a pin, or the runner's crew_self()), lets go, and later
 * acts on it by ID: a match must reach the task it found. */
active proctype learner() {
  bit ok;
  byte mgen, mrec, mtask;
  if
  :: atomic {  /* what a pinned incarnation shows cannot change under the
                * pin (the looker's property), so it is read with it */
       pin(ok);
       if
       :: ok -> mgen = gen; mrec = rec; mtask = cur
       :: else
       fi
     };
     if
     :: ok -> unpin()
     :: else -> goto out
     fi
  :: told -> atomic { mgen = told_gen; mrec = told_rec; mtask = told_task }
  fi;
  pin(ok);
  if
  :: ok ->
     atomic {
       if
       :: gen == mgen && rec == mrec -> assert(cur == mtask)  /* the cancel's target */
       :: else
       fi
     };
     unpin()
  :: else
  fi;
out:
  skip
}

active proctype judge() {
  byte i;
  (runner_done && returned);
  for (i : 0 .. N - 1) {
    assert(ran[i] + dropped[i] == 1)
  }
}
