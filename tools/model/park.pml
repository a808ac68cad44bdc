/*
 * park.pml -- crew's worker parking protocol (src/park.c), an eventcount
 * with counted spinners, checked with spin.
 *
 * Shared: spinning (idle workers still looking for work), nsleepers
 * (workers preparing to sleep or asleep), epoch (the 32-bit futex word),
 * the queues (one counter of available tasks: which queue a task sits in
 * does not matter to the protocol, since every scan looks at all of them),
 * stop.
 *
 * Worker (src/worker.c worker_main() and idle()):
 *   (1) find work: take a task if there is one, run it, back to (1)
 *   (S) spin: spinning++ (crew__park_spin_begin, relaxed); up to SPINR
 *       rounds of any_work() (seq_cst fence, then the queues); a
 *       round that sees work: spinning-- and back to (1), which takes a
 *       task if one is still there (it may be another task than the one a
 *       producer skipped its wake for, or none: another worker took it);
 *       after the last round: spinning-- (crew__park_spin_end, seq_cst)
 *   (2) prepare: nsleepers++ (seq_cst RMW); key = epoch
 *   (3) re-scan all queues: work -> nsleepers--, back to (1);
 *       else stop set -> nsleepers--, exit
 *   (4) futex_wait(&epoch, key): sleeps only if epoch == key, until woken
 *   (5) nsleepers--, back to (1)
 *   (6) pass on: a worker back from (S), (3) or (5) that takes a task looks
 *       at nsleepers and, if some worker sleeps, at the queues again; if
 *       work is left it notifies as a producer does (b, c). A producer that skipped its wake because of
 *       a spinner relies on that spinner; the spinner may take another
 *       task, one that blocks (it waits for the skipped one), so it must
 *       not take the duty with it.
 * Producer (crew__park_notify_one after publishing): (a) publish a task;
 *   (b) seq_cst fence, load spinning: if != 0, stop (a spinner will find
 *   the task); else load nsleepers; (c) if > 0: epoch++, futex_wake(1).
 * Owner push (a running task spawns onto its worker's deque): no fence, a
 *   relaxed read of nsleepers, then notify_one (b, c) if it was nonzero;
 *   the read may be stale, so the whole notify may be skipped although
 *   someone sleeps; park.c claims the task is still never lost (its owner
 *   runs it when it syncs or returns). Modelled as a nondeterministic skip;
 *   SPAWNS (1) children. OWNER_PUSH_FENCED: with step b's fence instead.
 * Shutdown (drain): wait until every published task has completed, then
 *   stop = 1, fence, if nsleepers > 0: epoch++, futex_wake(&epoch, all)
 *   (notify_all does not look at spinning).
 *
 * seq_cst is sequential consistency, which is Promela's interleaving
 * semantics, so every numbered step above is one atomic step. The
 * producer's two relaxed loads after its fence are separate steps (each
 * may see any value from the fence on). The spinner's relaxed increment is
 * one step before its first round: where it becomes visible does not
 * matter, since a producer that sees it is covered by the later seq_cst
 * decrement and the re-scan after it.
 *
 * No lost wake-up: a task left in a queue while every worker sleeps is never
 * taken, so the drain never completes: the model ends in an invalid end
 * state (safety run), and the LTL property all_done fails (liveness run).
 * The monitor also asserts that at the end every task was consumed once,
 * and nobody is counted as spinning or sleeping.
 *
 * Configurations that must verify:
 *   (default), NP=1 TPP=2, SPINR=<n> (spin rounds, default 1; a worker may
 *                       also give up before its last round, so 0..SPINR).
 *   SPIN_END_AFTER_PREPARE  spinning-- after (2), still before the re-scan
 *                       (3): also correct; what matters is that the
 *                       decrement precedes the re-scan.
 *   SPAWN_WAITS NP=1 TPP=1 OWNER_PUSH_FENCED  the one task spawns a
 *                       child and blocks until that child has run (on a
 *                       lock, not crew_join: no helping), so only another
 *                       worker can run it; with a fenced owner push that
 *                       always happens.
 *   GATE                every task blocks until all NT tasks have started
 *                       (a gate or barrier in the bodies: the workers must
 *                       run them at once; no spawns), with SPINR=2 too.
 *                       The drain then completes only if no task is left
 *                       queued while a worker sleeps.
 * Variants that MUST be rejected:
 *   BROKEN_NO_RESCAN    the worker skips the re-scan of the queues in (3)
 *                       (it still checks stop, so what fails is a task).
 *   BROKEN_CHECK_FIRST  the producer does (b) and (c)'s loads before (a).
 *   STOP_BEFORE_PREPARE the worker checks stop in (1), before (2), instead
 *                       of in (3): a worker that read "no stop" in (1),
 *                       then its key after shutdown's epoch++ (or an
 *                       nsleepers of 0 seen by shutdown), sleeps forever.
 *   BROKEN_SPIN_END_LATE  spinning-- after the re-scan (3): a producer
 *                       publishes after the re-scan, sees the worker still
 *                       spinning, skips the wake; the worker sleeps.
 *   SPAWN_WAITS NP=1 TPP=1  the same with crew's owner push (no fence):
 *                       the spawner reads no sleeper (stale), the other
 *                       worker's re-scan saw no child, it sleeps, and the
 *                       parent blocks forever. This is the limit park.c
 *                       and crew.h document (crew_spawn): a parent that
 *                       waits for its child must wait with crew_join.
 *   GATE BROKEN_NO_PASS_ON  no step (6): both producers see a spinner
 *                       and skip their wakes; it takes one task and blocks
 *                       in it; the other task stays queued while the
 *                       other worker sleeps (the gate never opens).
 *   BROKEN_SPIN_FIRST   the producer loads spinning before publishing: it
 *                       sees a spinner that then gives up, prepares,
 *                       re-scans (nothing yet) and sleeps; the publication
 *                       comes after, with the wake already skipped.
 */

#ifndef NW
#define NW 2          /* workers */
#endif
#ifndef NP
#define NP 2          /* producers */
#endif
#ifndef TPP
#define TPP 1         /* tasks per producer */
#endif
#ifndef SPAWNS
#define SPAWNS 1      /* children spawned by running tasks, in all */
#endif
#ifndef SPINR
#define SPINR 1       /* spin rounds before preparing to park (at most) */
#endif
#ifdef GATE
#undef SPAWNS
#define SPAWNS 0      /* a gate counts the producers' tasks only */
#endif
#define NT (NP * TPP)
#if NW != 2
#error "the futex model below is written for NW == 2 workers"
#endif

byte tasks;           /* tasks available in the queues */
byte consumed;        /* tasks taken and run */
byte spawned;         /* children spawned (owner pushes) */
byte spinning;
byte nsleepers;
byte epoch;           /* wraps at 256; it moves at most NT+1 times here */
bool stop;
bool sleeping[NW];    /* the futex wait queue on &epoch */
byte exited;
byte started;         /* GATE: tasks that reached the gate */
bool waiting;         /* SPAWN_WAITS: a parent blocks until its child ran */
bool childran;

/* futex_wait(&epoch, key) for worker i */
inline futex_wait(i, key) {
  d_step {
    if
    :: epoch == key -> sleeping[i] = true
    :: else -> skip
    fi
  };
  !sleeping[i]
}

/* futex_wake(&epoch, 1): one sleeper, if any (the kernel picks which) */
inline futex_wake_one() {
  if
  :: d_step { sleeping[0] -> sleeping[0] = false }
  :: d_step { sleeping[1] -> sleeping[1] = false }
  :: d_step { !sleeping[0] && !sleeping[1] -> skip }
  fi
}

inline futex_wake_all() {
  d_step { sleeping[0] = false; sleeping[1] = false }
}

/* crew__park_notify_one after the publication and the fence: (b), (c) */
inline notify_one() {
  if
  :: spinning != 0 -> skip              /* a spinner will find the work */
  :: else ->
     if
     :: nsleepers > 0 -> epoch++; futex_wake_one()
     :: else -> skip
     fi
  fi
}

proctype worker(byte i)
{
  byte key, r;
  bool got;
  bool fromidle;      /* (1) follows (S), (3) or (5) */

  do
  :: /* (1) find work */
     d_step {
       if
       :: tasks > 0 -> tasks--; got = true
       :: else -> got = false
       fi
     };
     if
     :: got ->
#ifndef BROKEN_NO_PASS_ON
        /* (6) pass on: back from idle with a task, look again; work
         * left that no spinner will find wakes a sleeper */
        if
        :: fromidle && nsleepers > 0 ->  /* nobody asleep: nobody to wake */
           if
           :: tasks > 0 -> notify_one()
           :: else -> skip
           fi
        :: else -> skip
        fi;
#endif
        fromidle = false;
#ifdef GATE
        /* the body waits until every task has started */
        started++;
        started == NT;
#endif
        /* run it; the body may spawn a child onto this worker's own deque
         * (owner push: a relaxed read of nsleepers without the fence, so it
         * may miss a worker that has announced itself: modelled as a
         * nondeterministic skip of the notify; OWNER_PUSH_FENCED: step b's
         * fence, so the read is sequentially consistent) */
        if
        :: spawned < SPAWNS ->
           d_step {
             tasks++; spawned++;
#ifdef SPAWN_WAITS
             waiting = true     /* the only task queued now is the child */
#endif
           };
           if
           :: nsleepers > 0 -> notify_one()
#ifndef OWNER_PUSH_FENCED
           :: true -> skip      /* none seen, or a stale relaxed read */
#else
           :: else -> skip
#endif
           fi;
#ifdef SPAWN_WAITS
           childran;            /* blocks (not crew_join) until it has run */
           waiting = false
#endif
        :: true -> skip
        fi;
        d_step {
#ifdef SPAWN_WAITS
          if
          :: waiting -> childran = true   /* this one was the child */
          :: else -> skip
          fi;
#endif
          consumed++; got = false
        }
#ifdef STOP_BEFORE_PREPARE
     :: !got && stop -> break
     :: !got && !stop ->
#else
     :: !got ->
#endif
        /* (S) spin, counted */
        spinning++;
        do
        :: r < SPINR && tasks > 0 -> got = true; break    /* any_work */
        :: r < SPINR && tasks == 0 -> r++
        :: break                    /* after the last round (or earlier:
                                     * any count 0..SPINR of rounds) */
        od;
        r = 0;
#if !defined(SPIN_END_AFTER_PREPARE) && !defined(BROKEN_SPIN_END_LATE)
        spinning--;
#else
        if
        :: got -> spinning--        /* leaving to run work: no change */
        :: else -> skip
        fi;
#endif
        fromidle = true;
        if
        :: got -> got = false       /* back to (1): it takes what it saw,
                                     * another task, or nothing */
        :: else ->
           /* (2) prepare: announce, read the key */
           nsleepers++;
           key = epoch;
#ifdef SPIN_END_AFTER_PREPARE
           spinning--;
#endif
           /* (3) re-scan the queues, then read stop */
           if
#ifndef BROKEN_NO_RESCAN
           :: tasks > 0 -> nsleepers--;
#ifdef BROKEN_SPIN_END_LATE
              spinning--
#else
              skip
#endif
           :: tasks == 0 ->
#else
           :: true ->
#endif
#ifdef BROKEN_SPIN_END_LATE
              spinning--;
#endif
              if
#ifndef STOP_BEFORE_PREPARE
              :: stop -> nsleepers--; break
#endif
              :: else ->
                 futex_wait(i, key);    /* (4) */
                 nsleepers--            /* (5) */
              fi
           fi;
           key = 0
        fi
     fi
  od;
  exited++
}

proctype producer()
{
  byte k;

  do
  :: k < TPP ->
#ifdef BROKEN_CHECK_FIRST
     /* (b), (c) before (a): decide from stale counts, then publish */
     if
     :: spinning != 0 -> tasks++
     :: else ->
        if
        :: nsleepers > 0 -> tasks++; epoch++; futex_wake_one()
        :: else -> tasks++
        fi
     fi;
#elif defined(BROKEN_SPIN_FIRST)
     if
     :: spinning != 0 -> tasks++      /* skip: "a spinner will find it" */
     :: else ->
        tasks++;
        if
        :: nsleepers > 0 -> epoch++; futex_wake_one()
        :: else -> skip
        fi
     fi;
#else
     tasks++;                 /* (a) publish */
     notify_one();            /* (b) fence; loads; (c) */
#endif
     k++
  :: k == TPP -> break
  od
}

proctype shutdown()
{
  consumed == NT + spawned;   /* drain: wait for every task to complete */
  stop = true;                /* crew__workers_stop: store, then notify_all */
  if
  :: nsleepers > 0 -> epoch++; futex_wake_all()
  :: else -> skip
  fi
}

init {
  byte j;
  atomic {
    j = 0;
    do
    :: j < NW -> run worker(j); j++
    :: j == NW -> break
    od;
    j = 0;
    do
    :: j < NP -> run producer(); j++
    :: j == NP -> break
    od;
    run shutdown();
    j = 0
  }
}

/* At the end every task was run exactly once.  If everyone is blocked
 * instead (timeout), say which wake-up was lost: a stranded task (the drain
 * waits forever), or workers asleep after shutdown. */
active proctype monitor()
{
  if
  :: exited == NW ->
     assert(consumed == NT + spawned && tasks == 0 && nsleepers == 0 &&
            spinning == 0)
  :: timeout ->
     assert(consumed == NT + spawned);  /* lost wake-up: a task stranded */
     assert(!stop)              /* lost wake-up: a worker sleeps after stop */
  fi
}

/* Liveness (pan -a -f): every worker exits, hence every task was run. */
ltl all_done { <> (exited == NW) }
