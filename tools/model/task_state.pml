/*
 * task_state.pml -- the crew task state word (src/task.h transitions, the protocol in src/harness.c),
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
 * Cancel of a running task (src/harness.c "Cancel vs start" steps 2-4,
 * crew__task_cancel, crew__is_cancelled in src/cancel.c), besides the
 * word: the cancellation set (one boolean, in_set: this task's ID is in
 * it), the executor's cancel_scopes count (scopes; other scopes may also
 * be counted, so a check may always leave the fast path), and cset.mu (mu).
 *   canceller, holding mu: load; RUNNING without REQ: insert the ID, then
 *     scopes++, then CAS REQ in (-> REQUESTED); RUNNING with REQ ->
 *     REQUESTED; terminal: REQUESTED if it inserted and the word has REQ
 *     (the body saw the entry), else remove its entry (scopes--) and
 *     TOO_LATE; REMOVING: unlock, wait until terminal, lock, reload.
 *   body's check: scopes == 0 -> false (fast path); else ID in the set ->
 *     true, and set REQ (fetch_or) unless already set.
 *   finisher: terminal CAS (CANCELLED if REQ; the inherited path holds mu);
 *     then, if the replaced word had REQ, remove the ID (under mu); the
 *     free drops the scope that REQ stands for.
 * The popper's inherited removal also holds mu in the code; the model
 * leaves that out (its QUEUED -> REMOVING CAS is one step either way).
 * Inherited cancellation seen by a check (ancestors, groups, shutdown) is
 * not modelled beyond the finisher's nondeterministic CANCELLED.
 *
 * Ghost state (not in the real code) records what happened so the
 * properties can be asserted: the terminal phase reached, whether the body
 * ran, whether a check of the body returned true (body_saw_cancel),
 * REMOVED/REQUESTED outcomes, cleanup and free counts, and "doomed",
 * set by the one CAS that made the word freeable: after it, a read or write
 * of the record by anyone but the freeing party is a use after free.  One
 * access is allowed after it by default: the finisher's futex_wake, which
 * on crew's type-stable record pool is at worst a spurious wake-up of
 * whatever task reuses the record (STRICT_WAKE forbids it too).
 *
 * Configurations that must verify:
 *   (default)             the protocol of src/harness.c, with the finisher
 *                         reading what the group needs before its CAS.
 *   JOIN_RELEASE          the finisher also consumes the handle (sets
 *                         RELEASED in its terminal CAS; crew__task_run
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
 *                   terminal CAS, crew__group_member_ended(g, id, FAILED)
 *                   reads t->id and t->result, but the waiter/releaser may
 *                   already have freed (and the pool reused) the record.
 *   STRICT_WAKE     the wake after the terminal CAS counted as an access:
 *                   shows it can land on a freed record, i.e. the
 *                   type-stable pool is load-bearing.
 *   BROKEN_CHECK_NO_REQ  the body's check finds the ID in the set but does
 *                   not set REQ (crew before 6a47b52; found by
 *                   tools/stress): the body returns DONE, the terminal CAS
 *                   sees no REQ, the canceller's CAS fails on the terminal
 *                   word and it answers TOO_LATE, though the body saw the
 *                   cancel.
 *
 * Properties (besides those named above): if any check of the body
 * returned true, the final phase is CANCELLED; every check after a
 * REQUESTED answer returns true; never REQUESTED and DONE/FAILED; never
 * REMOVED and ran; TOO_LATE only once terminal; at the end the ID is not
 * in the set and the scope count is back to 0.
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
/* canceller's next step (internal) */
#define INSERT    5
#define WAIT      6

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
bool in_set;                    /* the task's ID is in the cancellation set */
byte scopes;                    /* ex->cancel_scopes (this task's share) */
bool mu;                        /* cset.mu held */

/* ghost state */
byte term = NONE;     /* the terminal phase, set once */
bool doomed;          /* the CAS that made the word freeable happened */
bool freed;           /* freed (and its ID removed from the ID table) */
byte nfree;
byte cleanups;
bool body_ran;
bool body_saw_cancel; /* a check of the body returned true */
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
    :: mine -> assert(doomed && !freed); freed = true; nfree++; mine = false;
       /* crew__task_free: REQ stands for one counted scope */
       if
       :: (word & REQ) != 0 -> assert(scopes > 0); scopes--
       :: else -> skip
       fi
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
  bool mine, started, popremoved, inherited, w, failed, rmid;
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
     /* end_removed() in crew__task_remove/crew__task_cancel without a reference: cleanup, then
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
     /* the body checks for cancellation 0..MAXCHECKS times
      * (crew_cancelled -> crew__is_cancelled on a worker thread) */
     do
     :: checks < MAXCHECKS ->
        atomic {
          assert(!doomed);
          if
          :: scopes == 0 -> w = false   /* fast path: nothing counted */
          :: true -> w = in_set         /* a scope is counted (maybe
                                         * another's): the set lookup */
          fi;
          /* after a REQUESTED outcome, every check reports cancelled */
          assert(!req_ret || w);
          if
          :: w -> body_saw_cancel = true
          :: else -> skip
          fi;
          checks++
        };
        if
        :: w ->
#ifndef BROKEN_CHECK_NO_REQ
           /* a hit sets REQ itself (relaxed load, then fetch_or) */
           d_step {
             o = word;
             assert(PH(o) == RUNNING);
             if
             :: (o & REQ) == 0 -> n = o | REQ; commit(o, n, mine)
             :: else -> skip
             fi;
             o = 0; n = 0
           };
#endif
           w = false
        :: else -> skip
        fi
     :: break
     od;
     /* the body returns rc (DONE or FAILED), or the finisher sees an
      * inherited cancellation (CANCELLED) */
     if
     :: n = DONE
     :: n = FAILED
     :: n = CANCELLED
     fi;
     /* cleanup, the terminal CAS (the inherited path holds cset.mu) */
     d_step {
       (n != CANCELLED || !mu);
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
       assert(!body_saw_cancel || PH(n) == CANCELLED);
       failed = (PH(n) == FAILED);
       rmid = ((o & REQ) != 0);
       o = 0; n = 0
     };
     if
     :: rmid -> d_step { !mu -> in_set = false; rmid = false }  /* step 4 */
     :: else -> skip
     fi;
#ifdef GROUP_READS_AFTER_CAS
     /* crew__group_member_ended(g, id, FAILED): t->id, t->result */
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
  bool mine, got, w, inserted;
  byte out;

  take_ref(o, n, got, mine);
  if
  :: !got -> d_step { outcome[id] = STALE; ndone++ }
  :: else ->
     d_step { !mu -> mu = true };          /* lock cset.mu */
     do
     :: atomic {
          /* load (or the reload after a failed CAS) and act on it */
          o = word;
          assert(!doomed);
          if
          :: PH(o) == QUEUED ->
             n = (o & ~PHMASK) | REMOVING;
             commit(o, n, mine);
             out = REMOVED; removed = true; assert(!body_ran); mu = false
          :: PH(o) == RUNNING && (o & REQ) != 0 ->
             /* by an earlier canceller, or by the body after seeing our
              * entry */
             out = REQUESTED; req_ret = true; mu = false
          :: PH(o) == RUNNING && (o & REQ) == 0 && !inserted ->
             out = INSERT
          :: PH(o) == RUNNING && (o & REQ) == 0 && inserted ->
             n = o | REQ;
             commit(o, n, mine);
             out = REQUESTED; req_ret = true; mu = false
          :: PH(o) == REMOVING ->
             out = WAIT; mu = false
          :: TERM(o) && (o & REQ) != 0 && inserted ->
             /* the body saw our entry and set REQ (step 3) */
             out = REQUESTED; req_ret = true; mu = false
          :: TERM(o) && ((o & REQ) == 0 || !inserted) ->
             if
             :: inserted -> in_set = false; scopes--; inserted = false
             :: else -> skip
             fi;
             out = TOO_LATE; mu = false
          fi;
          o = 0; n = 0
        };
        if
        :: out == INSERT ->
           in_set = true;                          /* crew__cset_insert */
           d_step { scopes++; inserted = true }    /* seq_cst; then CAS */
        :: out == WAIT ->
           /* answer only once terminal: wait (sched_yield), relock */
           d_step { PH(word) != REMOVING -> assert(!doomed) };
           d_step { !mu -> mu = true }
        :: else -> break
        fi
     od;
     atomic {
       outcome[id] = out;
       assert(out != TOO_LATE || term != NONE)    /* too late: terminal */
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
  assert(!body_saw_cancel || term == CANCELLED);
  assert(!in_set && scopes == 0 && !mu);  /* set entry and scope given back */
  assert(!asleep);
  assert(wres == NONE || wres == term)
}

/* Liveness (pan -a -f -N waiter_returns): the waiter always returns. */
ltl waiter_returns { <> wdone }
