/*
 * task_state.pml -- the crew task state word (src/task.h, src/task.c),
 * checked with spin.
 *
 * One 32-bit atomic word per task record:
 *   bits 0-2  phase: QUEUED RUNNING DONE FAILED CANCELLED REMOVING
 *             (ACTOR_DEAD and FREE are not modelled; FREE is "freed" here)
 *   flags     REQ (cancel requested while running), WAITERS (someone sleeps
 *             on the word), RELEASED (user handle gone), INQUEUE (a queue
 *             slot still points at the record)
 *   bits 8-31 count of temporary references taken by ID lookups
 *
 * Every transition is a CAS or RMW on the whole word.  All of them touch
 * this one location, so seq_cst and acq_rel coincide and interleaving is
 * exact.  A CAS loop "load s; n = f(s); CAS(s -> n); retry" is modelled as
 * one atomic step at its successful CAS (its linearization point): failed
 * attempts change nothing, and "doomed" (below) is monotonic, so a use after
 * free in a failed attempt is also seen at the successful one.  Where the
 * protocol has a real gap between reading and acting (waiter: set WAITERS,
 * then futex_wait; finisher: terminal CAS, then group bookkeeping, wake,
 * free) the steps are separate.
 *
 * Actors: 1 worker (pop: start, or remove it itself on an inherited
 * cancellation; body; finish), 2 cancellers by ID, 1 waiter by ID,
 * 1 releaser (drops the user handle), and a monitor that checks the end
 * state once every actor has returned.  A waiter that never returns shows
 * up as an invalid end state (safety run) and violates the LTL property
 * waiter_returns (liveness run).
 *
 * Ghost state (not in the real code) records what happened so the
 * properties can be asserted: the terminal phase reached, whether the body
 * ran, REMOVED/REQUESTED outcomes, cleanup and free counts, and "doomed",
 * set by the one CAS that made the word freeable: after it, a read or write
 * of the record by anyone but the freeing party is a use after free.  One
 * access is allowed after it by default: the finisher's futex_wake, which
 * on crew's type-stable record pool is at worst a spurious wake-up of
 * whatever task reuses the record (STRICT_WAKE forbids it too).
 *
 * Configurations that must verify:
 *   (default)             the protocol of src/task.c, with the finisher
 *                         reading what the group needs before its CAS.
 *   JOIN_RELEASE          the finisher also consumes the handle (sets
 *                         RELEASED in its terminal CAS; crew__task_dequeued
 *                         with join_release); no separate releaser.
 *   STRICT_WAKE WAKE_REF  records are not type-stable (the wake after free
 *                         would be a real use after free) and the fix: a
 *                         finishing CAS that sees WAITERS also adds one
 *                         reference, dropped after the wake.
 * Variants that MUST be rejected:
 *   BROKEN_START    the worker starts with load-check-then-store instead of
 *                   CAS, so a canceller can remove a task that runs anyway.
 *   BROKEN_WAITERS  the waiter sleeps without setting WAITERS: lost wake-up.
 *   BROKEN_REF      an ID lookup takes a reference while the record is not
 *                   yet freed (instead of: not freeable); a lookup landing
 *                   between the freeing CAS and the free resurrects a record
 *                   that is being freed (use after free, double free).
 *   GROUP_READS_AFTER_CAS  finish() as committed in 15aae77: after the
 *                   terminal CAS, crew__group_member_done(g, t, FAILED)
 *                   reads t->id and t->result, but the waiter/releaser may
 *                   already have freed (and the pool reused) the record.
 *   STRICT_WAKE     the wake after the terminal CAS counted as an access:
 *                   shows it can land on a freed record, i.e. the
 *                   type-stable pool is load-bearing.
 */

#define QUEUED    0
#define RUNNING   1
#define DONE      2
#define FAILED    3
#define CANCELLED 4
#define REMOVING  7
#define PHMASK    7
#define REQ       8
#define WAITERS   16
#define RELEASED  32
#define INQUEUE   64
#define REF       256

#define PH(x)       ((x) & PHMASK)
#define TERM(x)     (PH(x) == DONE || PH(x) == FAILED || PH(x) == CANCELLED)
#define REFS(x)     ((x) / REF)
#define FREEABLE(x) (TERM(x) && ((x) & RELEASED) != 0 && ((x) & INQUEUE) == 0 && REFS(x) == 0)

#define NONE      255
/* cancel outcomes */
#define STALE     1
#define REMOVED   2
#define REQUESTED 3
#define TOO_LATE  4

#ifndef MAXCHECKS
#define MAXCHECKS 2   /* cancel checks the body makes: 0..MAXCHECKS */
#endif

#ifdef JOIN_RELEASE
#define NACTORS 4     /* worker (also the handle owner), 2 cancellers, waiter */
#else
#define NACTORS 5     /* worker, 2 cancellers, waiter, releaser */
#endif

int  word = QUEUED | INQUEUE;   /* the state word */
bool asleep;                    /* futex queue: the only sleeper is the waiter */

/* ghost state */
byte term = NONE;     /* the terminal phase, set once */
bool doomed;          /* the CAS that made the word freeable happened */
bool freed;           /* freed (and its ID removed from the ID table) */
byte nfree;
byte cleanups;
bool body_ran;
bool removed;         /* removed before start (a canceller or the popper) */
bool req_ret;         /* some canceller got REQUESTED */
byte wres = NONE;     /* the phase the waiter returned */
bool wdone;           /* the waiter returned */
byte ndone;           /* actors that returned */
byte outcome[2];      /* each canceller's result */

/* Write n over o (inside an atomic step that read o == word).  Checks:
 * a terminal phase never changes, one is reached at most once; the write
 * that makes the word freeable hands the free to its author (mine). */
inline commit(o, n, mine) {
  assert(!doomed);
  if
  :: TERM(o) -> assert(PH(n) == PH(o))
  :: else -> skip
  fi;
  if
  :: !TERM(o) && TERM(n) -> assert(term == NONE); term = PH(n)
  :: else -> skip
  fi;
  word = n;
  if
  :: !FREEABLE(o) && FREEABLE(n) -> doomed = true; mine = true
  :: else -> skip
  fi
}

/* An actor returns; it frees the record first if its write made it
 * freeable. */
inline finish(mine) {
  d_step {
    if
    :: mine -> assert(doomed && !freed); freed = true; nfree++; mine = false
    :: else -> skip
    fi;
    ndone++
  }
}

/* futex_wait(&word, v): sleeps only if the word still equals v, until a
 * wake.  futex_wake(&word, INT_MAX): releases every sleeper. */
inline futex_wait(v) {
  d_step {
    assert(!doomed);
    if
    :: word == v -> asleep = true
    :: else -> skip
    fi
  };
  !asleep
}

inline futex_wake_all() {
  d_step { assert(!doomed); asleep = false }
}

/* The finisher's (or remover's) wake after its terminal CAS, without a
 * claim on the record: allowed on a freed record (type-stable pool: a
 * spurious wake-up of the next incarnation's waiters), except under
 * STRICT_WAKE.  If the record was freed, our waiter has left already, so
 * clearing "asleep" changes nothing. */
inline wake_after_cas() {
  d_step {
#ifdef STRICT_WAKE
    assert(!doomed);
#endif
    asleep = false
  }
}

/* ID lookup + temporary reference (crew__task_get: CAS refs+1), refused
 * when the record is freeable or FREE.  One atomic step; the real lookup is
 * safe because records are type-stable (a pool slot is never unmapped) and
 * the ID is re-checked after the increment, so a lookup that lands on a
 * recycled record drops its reference again and reports a stale ID. */
inline take_ref(o, n, got, mine) {
  d_step {
    o = word;
    if
#ifdef BROKEN_REF
    :: freed -> got = false
#else
    :: freed || FREEABLE(o) -> got = false
#endif
    :: else -> n = o + REF; commit(o, n, mine); got = true
    fi;
    o = 0; n = 0
  }
}

inline drop_ref(o, n, mine) {
  d_step { o = word; assert(REFS(o) > 0); n = o - REF; commit(o, n, mine); o = 0; n = 0 }
}

active proctype worker()
{
  int o, n;
  bool mine, started, popremoved, inherited, w, failed;
  byte checks;

  /* Popped from the queue: start (the body begins), or remove it now if
   * an ancestor/group/shutdown cancellation is seen at pop (inherited), or
   * drop the queue's claim if a canceller won. */
#ifdef BROKEN_START
  d_step { assert(!doomed); o = word };
  if
  :: PH(o) == QUEUED ->
     /* plain store of a value computed from a stale load */
     d_step {
       n = (o & ~(PHMASK | INQUEUE)) | RUNNING; o = word; commit(o, n, mine);
       started = true; body_ran = true; assert(!removed);
       o = 0; n = 0
     }
  :: else ->
     d_step { o = word; n = o & ~INQUEUE; commit(o, n, mine); o = 0; n = 0 }
  fi;
#else
  if
  :: inherited = true
  :: inherited = false
  fi;
  d_step {
    o = word;
    assert(o & INQUEUE);
    if
    :: PH(o) == QUEUED && !inherited ->
       n = (o & ~(PHMASK | INQUEUE)) | RUNNING;
       started = true; body_ran = true; assert(!removed)
    :: PH(o) == QUEUED && inherited ->
       /* the popper acts as the canceller (clears INQUEUE too) */
       n = (o & ~(PHMASK | INQUEUE)) | REMOVING;
       popremoved = true; removed = true; assert(!body_ran)
    :: else ->
       /* a canceller won */
       assert(PH(o) == REMOVING || PH(o) == CANCELLED);
       n = o & ~INQUEUE
    fi;
    commit(o, n, mine);
    inherited = false;
    o = 0; n = 0
  };
#endif

  if
  :: popremoved ->
     /* crew__task_finish_removed() without a reference: cleanup, then
      * REMOVING -> CANCELLED; the group bookkeeping only loads the state
      * word (type-stable, value unused); wake; free if freeable. */
     d_step {
       cleanups++; assert(cleanups == 1);
       o = word;
       assert(PH(o) == REMOVING);
       n = (o & ~PHMASK) | CANCELLED;
#ifdef WAKE_REF
       if
       :: (o & WAITERS) != 0 -> n = n + REF
       :: else -> skip
       fi;
#endif
       commit(o, n, mine);
       w = ((o & WAITERS) != 0);
       o = 0; n = 0
     };
     if
     :: w ->
        wake_after_cas();
#ifdef WAKE_REF
        drop_ref(o, n, mine)
#else
        skip
#endif
     :: else -> skip
     fi
  :: started ->
     /* the body checks for cancellation 0..MAXCHECKS times */
     do
     :: checks < MAXCHECKS ->
        d_step {
          assert(!doomed);
          /* after a REQUESTED outcome, every check reports cancelled */
          assert(!req_ret || (word & REQ) != 0);
          checks++
        }
     :: break
     od;
     /* the body returns rc (DONE or FAILED), or the finisher sees an
      * inherited cancellation (CANCELLED) */
     if
     :: n = DONE
     :: n = FAILED
     :: n = CANCELLED
     fi;
     /* cleanup, the terminal CAS */
     d_step {
       cleanups++; assert(cleanups == 1);
       checks = 0;
       o = word;
       assert(PH(o) == RUNNING);
       if
       :: (o & REQ) != 0 -> n = (o & ~PHMASK) | CANCELLED
       :: else -> n = (o & ~PHMASK) | n
       fi;
#ifdef JOIN_RELEASE
       assert((o & RELEASED) == 0);
       n = n | RELEASED;
#endif
       w = ((o & WAITERS) != 0);
#ifdef WAKE_REF
       if
       :: w -> n = n + REF   /* hold the record across the wake */
       :: else -> skip
       fi;
#endif
       commit(o, n, mine);
       assert(!(req_ret && (PH(n) == DONE || PH(n) == FAILED)));
       failed = (PH(n) == FAILED);
       o = 0; n = 0
     };
#ifdef GROUP_READS_AFTER_CAS
     /* crew__group_member_done(ex, g, t, FAILED): t->id, t->result */
     if
     :: failed -> d_step { assert(!doomed || mine) }
     :: else -> skip
     fi;
#endif
     failed = false;
     if
     :: w ->
        wake_after_cas();
#ifdef WAKE_REF
        drop_ref(o, n, mine)
#else
        skip
#endif
     :: else -> skip
     fi
  :: else -> skip
  fi;
#ifdef JOIN_RELEASE
  /* not run here: the joiner releases its handle itself */
  if
  :: !started -> d_step { o = word; n = o | RELEASED; commit(o, n, mine); o = 0; n = 0 }
  :: else -> skip
  fi;
#endif
  finish(mine)
}

proctype canceller(byte id)
{
  int o, n;
  bool mine, got, w;
  byte out;

  take_ref(o, n, got, mine);
  if
  :: !got -> d_step { outcome[id] = STALE; ndone++ }
  :: else ->
     d_step {
       o = word;
       if
       :: PH(o) == QUEUED ->
          n = (o & ~PHMASK) | REMOVING;
          commit(o, n, mine);
          out = REMOVED; removed = true; assert(!body_ran)
       :: PH(o) == RUNNING ->
          n = o | REQ;            /* a no-op if REQ is already set */
          commit(o, n, mine);
          out = REQUESTED; req_ret = true
       :: else ->
          assert(PH(o) == REMOVING || TERM(o));
          out = TOO_LATE
       fi;
       outcome[id] = out;
       o = 0; n = 0
     };
     if
     :: out == REMOVED ->
        /* the argument's cleanup, then REMOVING -> CANCELLED */
        d_step {
          cleanups++; assert(cleanups == 1);
          o = word;
          assert(PH(o) == REMOVING);
          n = (o & ~PHMASK) | CANCELLED;
          commit(o, n, mine);
          w = ((o & WAITERS) != 0);
          o = 0; n = 0
        };
        if
        :: w -> futex_wake_all()
        :: else -> skip
        fi;
        /* "removed": CANCELLED and waiters woken before cancel returns */
        assert(term == CANCELLED && !asleep)
     :: else -> skip
     fi;
     drop_ref(o, n, mine);
     finish(mine)
  fi
}

active proctype waiter()
{
  int o, n;
  bool mine, got;

  take_ref(o, n, got, mine);
  if
  :: !got -> d_step { wdone = true; ndone++ }
  :: else ->
     do
     :: d_step {
          o = word;
          assert(!doomed);
          if
          :: TERM(o) -> wres = PH(o); n = 0
          :: else ->
#ifdef BROKEN_WAITERS
             n = o
#else
             n = o | WAITERS;    /* CAS set WAITERS (no-op if set) */
             commit(o, n, mine)
#endif
          fi;
          o = 0
        };
        if
        :: wres != NONE -> break
        :: else -> futex_wait(n); n = 0
        fi
     od;
     assert(wres == term);       /* the waiter sees the one terminal phase */
     drop_ref(o, n, mine);
     d_step { wdone = true };
     finish(mine)
  fi
}

#ifndef JOIN_RELEASE
active proctype releaser()
{
  int o, n;
  bool mine;

  d_step {
    o = word;
    assert((o & RELEASED) == 0);
    n = o | RELEASED;
    commit(o, n, mine);
    o = 0; n = 0
  };
  finish(mine)
}
#endif

init {
  atomic {
    run canceller(0);
    run canceller(1)
  }
}

/* End-state checks, once every actor has returned. */
active proctype monitor()
{
  ndone == NACTORS;
  assert(term != NONE);                 /* a terminal phase was reached */
  assert(TERM(word) && PH(word) == term);
  assert(nfree == 1 && freed);          /* freed exactly once, no leak */
  assert(cleanups == 1);                /* cleanup exactly once */
  assert(!(removed && body_ran));
  assert(!removed || term == CANCELLED);
  assert(!req_ret || term == CANCELLED);
  assert(!asleep);
  assert(wres == NONE || wres == term)
}

/* Liveness (pan -a -f -N waiter_returns): the waiter always returns. */
ltl waiter_returns { <> wdone }
