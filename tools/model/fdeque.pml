/*
 * fdeque.pml -- crew's fork deque, a split work-stealing deque after Lace
 * (protocol: the numbered steps in src/fdeque.h; src/fdeque.c; its use in
 * src/worker.c fork_frame, sync_one, sync_stolen, frame_done, help_until,
 * steal_frame; src/harness.c frame_signal), checked with spin.
 *
 * Shared memory: ts, one word tail | split << 32 in the C code, here one
 * byte TS(tail, split) (read and written whole; thieves and the owner
 * change it by CAS, step 4 by a plain store); movesplit (a thief's
 * request); the frames, slots 0..N-1, each with its contents val (the id
 * of the frame pushed there: what fn/arg/parent/payload stand for), its
 * state word (QUEUED, DONE, the WAITER bit) and result (what the thief
 * writes before DONE); the park words sleepers and epoch (src/park.c).
 * head and o_split are the owner's private variables (nobody else reads
 * them, and the owner reads its own latest values): plain locals here.
 *
 * Memory model: x86-TSO for the owner, as in deque.pml: its plain stores
 * to shared locations (a frame's val and state when it pushes, movesplit=0
 * when it shares, ts in step 4) go through a FIFO store buffer that a
 * separate process flushes, one entry at a time, at any moment; its loads
 * of those locations see its own buffered stores first (forwarding); a
 * locked instruction (every CAS, the WAITER CAS, the RMWs on sleepers)
 * waits until the buffer is empty. The buffer makes "the frame's contents
 * are published by the share's CAS" a checked claim under TSO: a thief
 * checks the value it reads after its CAS. (With stores made immediate,
 * every configuration and variant below gets the same verdict: unlike
 * deque.pml's pop, the owner synchronises only through locked
 * instructions, so there is no store-load order to get wrong on TSO.
 * Weaker orders, C11's or ARM's, are not modelled.) Thieves' stores
 * (movesplit, result) are immediate: on TSO a thief's stores followed only
 * by a locked instruction (the DONE exchange) are seen in program order,
 * and the movesplit hint may be late without harm (the model never relies
 * on it).
 * Everything else is interleaving, i.e. sequential consistency.
 *
 * Owner (one worker, N frames in all): any stack-disciplined interleaving
 * of
 *   push (fork_frame): ask = movesplit | any_idle (read first; any_idle is
 *     a nondeterministic choice, NO_IDLE drops it); store val (not the
 *     state); head += 1; if ask: share (crew__fdeque_share): store
 *     movesplit = 0; split' = o_split + (head - o_split + 1) / 2; store
 *     state = QUEUED for each frame in [o_split, split'); load ts; CAS
 *     split up (retry on a moved tail); o_split = split'.
 *   take (sync_one, crew__fdeque_take) of the newest frame i = head - 1,
 *     only above the current nesting base:
 *     3a. i >= o_split: head = i, run it (reads its own val).
 *     3b. load ts; loop: tail > i: STOLEN; else CAS ts -> {tail, i}:
 *         success: o_split = head = i, run it; failure: reload, loop.
 *   STOLEN: the owner now waits for frame i (sync_stolen: help_until with
 *     frame_done), a stack of such waits. One wait round, once every frame
 *     above i is synced:
 *       acquire load of state (frame_done, arm = false): DONE -> check the
 *       result, step 4: store ts = {i, i}; o_split = head = i; the wait
 *       ends. Else either
 *       - find_work found a task: it runs on the owner and forks onto its
 *         deque above i (pushes, and takes of those frames, which may wait
 *         in turn), syncing all of them before it returns; then a new
 *         round. (Which task, and where it came from, is abstracted away:
 *         the owner may push once a round found i not DONE.)
 *       - or park: prepare (sleepers += 1, locked; key = epoch), then
 *         frame_done(arm = true): s = load; loop: DONE -> true; WAITER set
 *         -> false; else CAS s -> s | WAITER (failure reloads s). true:
 *         done (sleepers -= 1), new round. false: futex_wait(&epoch, key),
 *         i.e. block until epoch != key; then sleepers -= 1, new round.
 *   At the end every frame is synced (head == 0).
 * Thieves (NT of them, up to STEALS attempts each; steal_frame,
 *   crew__fdeque_steal, crew__frame_promote, frame_signal):
 *   has_shared: load ts; tail >= split: request (load movesplit, store 1
 *   if 0), attempt over. Else load ts again (the steal's acquire load);
 *   tail >= split: nothing; else CAS ts -> {tail + 1, split}; failure:
 *   attempt over; success: read the frame's val (after the CAS), run it,
 *   store result, exchange state with DONE; if the old state had WAITER,
 *   notify_all: load sleepers, if nonzero epoch += 1.
 *
 * Abstracted: frames hold one value, not fn/arg/parent/payload; the owner
 * runs a frame in one step (its child's own forks are the later pushes);
 * help_until's find_work and any_work (other deques, the inbox, the
 * injection queue) are the owner's freedom to push while it waits; the
 * inline path (fork_now) pushes nothing and is left out; the weak CASes of
 * the C code do not fail spuriously here; futex_wait has no spurious
 * returns; epoch does not wrap; the array is never full (N slots); thieves
 * do not park (their idling is park.pml's subject).
 *
 * Ghost state: cur[i] (id of the live frame in slot i: set at push, cleared
 * when the owner takes it or finishes step 4), ran[id] (times frame id ran,
 * by anyone), the id each thief's CAS won (cur of its slot at that
 * instant), the id of each frame the owner waits for.
 *
 * Properties (assertions; deadlock = invalid end state):
 *   - a thief's winning CAS is on a live frame (pushed, not yet taken back
 *     or synced: no stale slot), and the val it reads is that frame's;
 *   - every frame runs at most once (owner or one thief), and at the end,
 *     once every thief is done, exactly once;
 *   - the owner's own takes read the frame's value; a stolen frame's
 *     result, read after DONE, is the frame's value, and it ran;
 *   - step 4 happens only with tail == split == i + 1 as the owner sees
 *     ts (and o_split == head == i + 1), and tail == split in memory (a
 *     buffered earlier step 4 may not have landed yet); share and reclaim
 *     see split == o_split (only the owner moves split);
 *   - the owner always terminates: it never blocks forever in futex_wait
 *     (no lost wake-up: the safety run reports an invalid end state; the
 *     liveness run checks <> fin under weak fairness).
 *
 * Configurations that must verify (safety; liveness for the two with one
 * thief, which check.sh runs; the default's liveness run also verifies but
 * takes about 30 s, and STEALS=3 with two thieves about 20 s and 2.5 GB):
 *   (default)           N=3 frames, NT=2 thieves, STEALS=2 attempts each
 *                       (waits nest here too: a frame forked while the
 *                       owner waits is stolen, and waited for).
 *   NT=1 STEALS=3       one thief trying more often.
 *   N=4 NT=1 STEALS=2   more frames, one thief.
 *   NO_IDLE             (a subset; not in check.sh) share only on a
 *                       thief's request.
 * Variants that MUST be rejected:
 *   BROKEN_RECLAIM_STORE   3b with a plain (buffered) store of {tail, i}
 *                       after the load instead of the CAS: until it lands,
 *                       or if a thief's CAS came between the load and the
 *                       store, thieves see frames the owner took as shared
 *                       (the first error spin finds: step 4 with tail !=
 *                       split in memory); a thief's CAS then wins one of
 *                       them (a stale slot).
 *   BROKEN_TAKE_NO_RECLAIM the owner takes a frame below split as if
 *                       private (3a always): a thief takes it as well.
 *   BROKEN_STEAL_NO_CAS the thief loads ts, then stores tail + 1: its
 *                       store can undo a share or reclaim made in between
 *                       (split != o_split, the first error spin finds), and
 *                       a frame can run twice.
 *   BROKEN_EARLY_STEP4  step 4 as soon as the take says STOLEN, before the
 *                       frame is DONE: the owner, helping while it waits,
 *                       forks a new frame into the slot; the share's
 *                       QUEUED store lands after the thief's DONE, and the
 *                       owner waits forever (or the thief reads the new
 *                       frame).
 *   BROKEN_DONE_STORE   the thief's DONE is a plain store and it never
 *                       looks at WAITER: the armed, parked owner is never
 *                       woken (lost wake-up).
 *   BROKEN_PARK_NO_RECHECK the owner arms WAITER with a fetch_or whose old
 *                       value it ignores, and parks: a DONE that came
 *                       between its load and its fetch_or saw no WAITER and
 *                       woke nobody (lost wake-up).
 *   BROKEN_SHARE_ORDER  push shares (CAS split up) before writing the
 *                       frame: a thief reads a frame not yet written.
 *   BROKEN_SHARE_NO_RESET the share leaves the shared frames' state words
 *                       as they are (as the push does): a slot reused after
 *                       a stolen frame still says DONE, and the owner
 *                       reads the old result before the thief ran the new
 *                       frame.
 *   BROKEN_READ_BEFORE_CAS the thief reads the frame between its load of
 *                       ts and its CAS: after the owner's step 4 and a new
 *                       share (ABA on ts) the CAS succeeds on a slot that
 *                       now holds another frame, and the thief runs the old
 *                       one (the header's "ABA is harmless" needs the read
 *                       after the CAS).
 */

#ifndef N
#define N 3           /* frames pushed by the owner, in all */
#endif
#ifndef NT
#define NT 2          /* thieves */
#endif
#ifndef STEALS
#define STEALS 2      /* steal attempts per thief */
#endif
#if N > 7
#error "ts packs tail and split in 3 bits each"
#endif

#define TS(t, s)  ((t) * 8 + (s))
#define TAIL(x)   ((x) / 8)
#define SPLIT(x)  ((x) % 8)

#define QUEUED 0      /* frame state word (CREW__FRAME_*) */
#define DONE   2
#define WAITER 4
#define IS_DONE(s) (((s) & 3) == DONE)

#define W_VAL(i)   (i)        /* store-buffer targets: val[i] */
#define W_STATE(i) (N + (i))  /* state[i] */
#define W_TS       (2 * N)
#define W_MS       (2 * N + 1)
#define SB (2 * N + 2)        /* never full: a push's val, movesplit and
                                 at most N states before the CAS drains */

byte ts = TS(0, 0);
bit movesplit;
byte val[N];          /* frame contents: the id pushed there (0: never) */
byte state[N];
byte result[N];       /* the thief's result: the val it ran */
byte sleepers;        /* park.c */
byte epoch;

byte sbw[SB];         /* the owner's store buffer: target, value */
byte sbv[SB];
byte nsb;

byte cur[N];          /* ghost: the live frame's id in each slot (0: none) */
byte ran[N + 1];      /* ghost: times each frame ran */
byte tdone;           /* ghost: thieves finished */
bit fin;              /* ghost: the owner synced everything */

/* A plain store by the owner: into the buffer. */
inline store(w, v) {
  d_step { nsb < SB -> sbw[nsb] = w; sbv[nsb] = v; nsb++ }
}

/* A locked instruction (or seq_cst fence): the buffer drains first. */
#define DRAINED (nsb == 0)

/* A load by the owner: its newest buffered store to w, else memory. */
inline oload(w, mem, dst) {
  d_step {
    dst = mem;
    k = 0;
    do
    :: k < nsb -> if :: sbw[k] == w -> dst = sbv[k] :: else -> skip fi; k++
    :: else -> break
    od;
    k = 0
  }
}

/* The store buffer reaching memory, oldest entry first, at any time. */
active proctype flusher()
{
  byte k;
end:
  do
  :: d_step {
       nsb > 0 ->
       if
       :: sbw[0] < N -> val[sbw[0]] = sbv[0]
       :: sbw[0] >= N && sbw[0] < 2 * N -> state[sbw[0] - N] = sbv[0]
       :: sbw[0] == W_TS -> ts = sbv[0]
       :: sbw[0] == W_MS -> movesplit = sbv[0]
       fi;
       k = 1;
       do
       :: k < nsb -> sbw[k - 1] = sbw[k]; sbv[k - 1] = sbv[k]; k++
       :: else -> break
       od;
       nsb--;
       sbw[nsb] = 0; sbv[nsb] = 0; k = 0
     }
  od
}

proctype owner()
{
  byte head, osplit;  /* owner-private */
  byte base;          /* frames below base belong to an outer sync */
  byte nw;            /* frames being waited for (stolen, not yet DONE) */
  byte wslot[N], wid[N], wbase[N];
  byte pushed, i, x, s, t, key, k;
  bit ask, ok;
  bit helping;        /* the last wait round found the frame not DONE */

/* Step 4 for the stolen frame i (crew__fdeque_stolen_done). */
#define STEP4(i)                                                           \
  oload(W_TS, ts, x);                                                      \
  assert(x == TS(i + 1, i + 1) && osplit == i + 1 && head == i + 1);       \
  assert(TAIL(ts) == SPLIT(ts));       /* empty in memory too */           \
  store(W_TS, TS(i, i));                                                   \
  d_step { osplit = i; head = i; cur[i] = 0; x = 0 }

/* The owner runs frame i itself, from its own view of the slot. */
#define RUN_OURS(i)                                                        \
  oload(W_VAL(i), val[i], x);                                              \
  d_step {                                                                 \
    assert(cur[i] != 0 && x == cur[i]);                                    \
    assert(ran[x] == 0);                                                   \
    ran[x]++;                                                              \
    cur[i] = 0;                                                            \
    x = 0                                                                  \
  }

  do
  :: pushed < N && (head > base || nw == 0 || helping) ->
     /* fork_frame (while waiting: a task help_until found forks) */
     helping = 0;
     oload(W_MS, movesplit, x);
     if
     :: x != 0 -> ask = 1
#ifndef NO_IDLE
     :: x == 0 -> ask = 1          /* crew__park_any_idle() */
#endif
     :: x == 0 -> ask = 0
     fi;
     d_step { pushed++; i = head; cur[i] = pushed; x = 0 }
#ifndef BROKEN_SHARE_ORDER
     store(W_VAL(i), pushed);
#endif
     head++;
     if
     :: ask ->
        /* crew__fdeque_share */
        store(W_MS, 0);
        t = osplit + (head - osplit + 1) / 2;
#ifndef BROKEN_SHARE_NO_RESET
        k = osplit;                      /* each shared frame's state */
        do
        :: k < t -> store(W_STATE(k), QUEUED); k++
        :: else -> break
        od;
        k = 0;
#endif
        oload(W_TS, ts, x);
        ok = 0;
        do
        :: ok -> break
        :: else ->
           d_step {
             DRAINED ->
             assert(SPLIT(ts) == osplit);
             if
             :: ts == x -> ts = TS(TAIL(x), t); ok = 1
             :: else -> x = ts
             fi
           }
        od;
        osplit = t;
        d_step { t = 0; x = 0; ok = 0 }
     :: else -> skip
     fi;
#ifdef BROKEN_SHARE_ORDER
     store(W_VAL(i), pushed);
#endif
     d_step { ask = 0; i = 0 }

  :: head > base ->
     /* sync_one: crew__fdeque_take of i = head - 1 */
     i = head - 1;
     if
#ifndef BROKEN_TAKE_NO_RECLAIM
     :: i >= osplit ->
#else
     :: true ->
#endif
        head = i;                        /* 3a */
        ok = 1
     :: else ->
        /* 3b: crew__fdeque_reclaim */
        oload(W_TS, ts, x);
        do
        :: TAIL(x) > i -> ok = 0; break  /* STOLEN */
        :: else ->
#ifdef BROKEN_RECLAIM_STORE
           store(W_TS, TS(TAIL(x), i));
           ok = 1;
#else
           d_step {
             DRAINED ->
             assert(SPLIT(ts) == osplit);
             if
             :: ts == x -> ts = TS(TAIL(x), i); ok = 1
             :: else -> x = ts; ok = 0
             fi
           }
#endif
           if
           :: ok -> d_step { osplit = i; head = i }; break
           :: else -> skip
           fi
        od;
        x = 0
     fi;
     if
     :: ok -> RUN_OURS(i)
     :: else ->
        /* STOLEN: sync_stolen waits for it, helping */
        d_step {
          wslot[nw] = i; wid[nw] = cur[i]; wbase[nw] = head;
          nw++; base = head
        }
#ifdef BROKEN_EARLY_STEP4
        STEP4(i);
        d_step { wbase[nw - 1] = head; base = head }
#endif
     fi;
     d_step { i = 0; ok = 0 }

  :: nw > 0 && head == base ->
     /* one round of help_until(frame_done) for the newest stolen frame */
     d_step { i = wslot[nw - 1]; helping = 0 }
     oload(W_STATE(i), state[i], s);     /* frame_done(arm = false) */
     if
     :: IS_DONE(s) ->
        /* sync_stolen: the result, then step 4 */
        d_step {
          assert(result[i] == wid[nw - 1]);
          assert(ran[wid[nw - 1]] == 1)
        }
#ifndef BROKEN_EARLY_STEP4
        STEP4(i);
#endif
        d_step {
          nw--;
          wslot[nw] = 0; wid[nw] = 0; wbase[nw] = 0;
          if
          :: nw > 0 -> base = wbase[nw - 1]
          :: else -> base = 0
          fi
        }
     :: else ->
        if
        :: pushed < N -> helping = 1     /* find_work found a task */
        :: true ->
           /* nothing to help with: park */
           d_step { DRAINED -> sleepers++ }  /* crew__park_prepare */
           key = epoch;
           oload(W_STATE(i), state[i], s);   /* frame_done(arm = true) */
#ifdef BROKEN_PARK_NO_RECHECK
           if
           :: IS_DONE(s) -> ok = 1
           :: else ->
              d_step { DRAINED -> state[i] = state[i] | WAITER };
              ok = 0
           fi;
#else
           do
           :: IS_DONE(s) -> ok = 1; break
           :: !IS_DONE(s) && (s & WAITER) -> ok = 0; break
           :: !IS_DONE(s) && !(s & WAITER) ->
              d_step {
                DRAINED ->
                if
                :: state[i] == s -> s = s | WAITER; state[i] = s
                :: else -> s = state[i]
                fi
              }
           od;
#endif
           if
           :: ok -> skip                 /* done: no sleep */
           :: else -> epoch != key       /* crew__park_sleep(key) */
           fi;
           d_step { DRAINED -> sleepers-- }  /* crew__park_done */
        fi
     fi;
     d_step { i = 0; s = 0; key = 0; ok = 0 }

  :: pushed == N && head == 0 && nw == 0 -> break
  od;

  assert(nw == 0);
  fin = 1;
  /* every thief done: every frame ran exactly once */
  tdone == NT;
  i = 1;
  do
  :: i <= N -> assert(ran[i] == 1); i++
  :: else -> break
  od
}

proctype thief()
{
  byte n, x, t, gid, v, old;

  do
  :: n < STEALS ->
     n++;
     x = ts;                             /* crew__fdeque_has_shared */
     if
     :: TAIL(x) >= SPLIT(x) ->
        if                               /* crew__fdeque_request */
        :: movesplit == 0 -> movesplit = 1
        :: else -> skip
        fi
     :: else ->
        x = ts;                          /* crew__fdeque_steal */
        t = TAIL(x);
        if
        :: t >= SPLIT(x) -> skip         /* nothing shared now */
        :: else ->
#ifdef BROKEN_READ_BEFORE_CAS
           v = val[t];
#endif
#ifdef BROKEN_STEAL_NO_CAS
           d_step { ts = TS(t + 1, SPLIT(x)); gid = cur[t]; assert(gid != 0) };
#else
           d_step {
             if
             :: ts == x ->
                ts = TS(t + 1, SPLIT(x));
                gid = cur[t];
                assert(gid != 0)         /* a live frame, not a stale slot */
             :: else -> skip             /* lost the race */
             fi
           };
#endif
           if
           :: gid != 0 ->
              /* crew__frame_promote reads the frame, the child runs */
#ifndef BROKEN_READ_BEFORE_CAS
              v = val[t];
#endif
              d_step {
                assert(v == gid);        /* the frame it won */
                assert(ran[v] == 0);     /* not run before */
                ran[v]++
              };
              result[t] = v;             /* frame_signal */
#ifdef BROKEN_DONE_STORE
              state[t] = DONE
#else
              d_step { old = state[t]; state[t] = DONE };
              if
              :: old & WAITER ->         /* crew__park_notify_all */
                 if
                 :: sleepers != 0 -> epoch++
                 :: else -> skip
                 fi
              :: else -> skip
              fi
#endif
           :: else -> skip
           fi
        fi
     fi;
     d_step { x = 0; t = 0; gid = 0; v = 0; old = 0 }
  :: else -> break
  od;
  tdone++
}

init {
  byte j;
  atomic {
    run owner();
    j = 0;
    do
    :: j < NT -> run thief(); j++
    :: j == NT -> break
    od;
    j = 0
  }
}

/* Liveness (pan -a -f): the owner always finishes its syncs. */
ltl owner_done { <> fin }
