/*
 * park.pml -- crew's worker parking protocol (src/park.c), an eventcount,
 * checked with spin.
 *
 * Shared: nsleepers (workers preparing to sleep or asleep), epoch (the
 * 32-bit futex word), the queues (one counter of available tasks: which
 * queue a task sits in does not matter to the protocol, since a re-scan
 * looks at all of them), stop.
 *
 * Worker idle path (src/worker.c idle()):
 *   (1) find work: take a task if there is one
 *   (2) prepare: nsleepers++ (seq_cst RMW); key = epoch
 *   (3) re-scan all queues: work -> nsleepers--, back to (1);
 *       else stop set -> nsleepers--, exit
 *   (4) futex_wait(&epoch, key): sleeps only if epoch == key, until woken
 *   (5) nsleepers--, back to (1)
 * Producer: (a) publish a task; (b) seq_cst fence, load nsleepers;
 *   (c) if > 0: epoch++, futex_wake(&epoch, 1).
 * Owner push (a running task spawns onto its worker's deque): no fence, a
 *   relaxed read of nsleepers, so the wake may be skipped although someone
 *   sleeps; park.c claims the task is still never lost (its owner runs it).
 *   Modelled as a nondeterministic skip; SPAWNS (1) children in all.
 * Shutdown (drain): wait until every published task has completed, then
 *   stop = 1, fence, if nsleepers > 0: epoch++, futex_wake(&epoch, all).
 *
 * seq_cst is sequential consistency, which is Promela's interleaving
 * semantics, so every numbered step above is one atomic step.
 *
 * No lost wake-up: a task left in a queue while every worker sleeps is never
 * taken, so the drain never completes: the model ends in an invalid end
 * state (safety run), and the LTL property all_done fails (liveness run).
 * The monitor also asserts that at the end every task was consumed once.
 *
 * Variants (spin -D<NAME> -a park.pml); each MUST be rejected:
 *   BROKEN_NO_RESCAN    the worker skips the re-scan of the queues in (3)
 *                       (it still checks stop, so what fails is a task).
 *   BROKEN_CHECK_FIRST  the producer loads nsleepers before publishing.
 *   STOP_BEFORE_PREPARE the worker checks stop in (1), before (2), instead
 *                       of in (3): a worker that read "no stop" in (1),
 *                       then its key after shutdown's epoch++ (or an
 *                       nsleepers of 0 seen by shutdown), sleeps forever.
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
#define NT (NP * TPP)
#if NW != 2
#error "the futex model below is written for NW == 2 workers"
#endif

byte tasks;           /* tasks available in the queues */
byte consumed;        /* tasks taken and run */
byte spawned;         /* children spawned (owner pushes) */
byte nsleepers;
byte epoch;           /* wraps at 256; it moves at most NT+1 times here */
bool stop;
bool sleeping[NW];    /* the futex wait queue on &epoch */
byte exited;

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

proctype worker(byte i)
{
  byte key;
  bool got;

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
        /* run it; the body may spawn a child onto this worker's own deque
         * (owner push: relaxed read of nsleepers without the fence, so it
         * may miss a worker that has announced itself: modelled as a
         * nondeterministic skip of the notify) */
        if
        :: spawned < SPAWNS ->
           d_step { tasks++; spawned++ };
           if
           :: nsleepers > 0 -> epoch++; futex_wake_one()
           :: true -> skip      /* none seen, or a stale relaxed read */
           fi
        :: true -> skip
        fi;
        d_step { consumed++; got = false }
#ifdef STOP_BEFORE_PREPARE
     :: !got && stop -> break
     :: !got && !stop ->
#else
     :: !got ->
#endif
        /* (2) prepare: announce, read the key */
        nsleepers++;
        key = epoch;
        /* (3) re-scan the queues, then read stop */
        if
#ifndef BROKEN_NO_RESCAN
        :: tasks > 0 -> nsleepers--
        :: tasks == 0 ->
#else
        :: true ->
#endif
           if
#ifndef STOP_BEFORE_PREPARE
           :: stop -> nsleepers--; break
#endif
           :: else ->
              futex_wait(i, key);       /* (4) */
              nsleepers--               /* (5) */
           fi
        fi;
        key = 0
     fi
  od;
  exited++
}

proctype producer()
{
  byte k, n;

  do
  :: k < TPP ->
#ifdef BROKEN_CHECK_FIRST
     n = nsleepers;
     tasks++;
#else
     tasks++;                 /* (a) publish */
     n = nsleepers;           /* (b) fence; load */
#endif
     if
     :: n > 0 -> epoch++; futex_wake_one()   /* (c) */
     :: else -> skip
     fi;
     d_step { k++; n = 0 }
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
     assert(consumed == NT + spawned && tasks == 0 && nsleepers == 0)
  :: timeout ->
     assert(consumed == NT + spawned);  /* lost wake-up: a task stranded */
     assert(!stop)              /* lost wake-up: a worker sleeps after stop */
  fi
}

/* Liveness (pan -a -f): every worker exits, hence every task was run. */
ltl all_done { <> (exited == NW) }
