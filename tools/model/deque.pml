/*
 * deque.pml -- crew's Chase-Lev work-stealing deque (src/deque.h,
 * src/deque.c), checked with spin.
 *
 * Shared memory: top (moved only by CAS), bottom (written by the owner),
 * ring (which ring is current: 0, capacity 2, or 1, capacity 4, made by
 * grow()), and the slots of both rings (old rings are never freed, so a
 * thief holding the old ring reads it safely).
 *
 * Memory model: x86-TSO for the owner, whose plain stores (slots, bottom,
 * ring) go through a FIFO store buffer; a separate process flushes it one
 * entry at a time, at any moment. The owner reads its own latest values
 * (store forwarding: it keeps them in local copies, ob / oring / sh[]).
 * A seq_cst fence, and a locked instruction such as the CAS of top, waits
 * until the buffer is empty. Thieves have no plain stores (their only write
 * is the CAS), so their fence is a no-op on TSO and their loads happen in
 * program order. Everything else is interleaving, i.e. sequential
 * consistency. This is exactly what lets a missing fence in pop show: the
 * store of bottom-1 sits in the buffer while the load of top goes ahead.
 * (C11 and ARM allow more reorderings than TSO, e.g. the thief's load of
 * bottom before its load of top; BROKEN_STEAL_ORDER below shows that one
 * matters, by doing it in program order.)
 *
 * Owner (src/deque.h), items 1..N, any interleaving of pushes and pops
 * (at most POPS pops), then pops until empty:
 *   push: b = bottom; t = top; if b - t > mask: grow (new ring, copy
 *         [t, b), store ring); store slot[b]; store bottom = b + 1
 *   pop:  b = bottom - 1; store bottom = b; FENCE; t = top;
 *         t > b: store bottom = b + 1, empty;
 *         else x = slot[b]; t == b: CAS top t -> t+1 (lost: empty),
 *         store bottom = b + 1; return x
 * Thief (src/deque.c crew__deque_steal), NT of them, up to STEALS tries:
 *   t = top; (fence); b = bottom; t >= b: empty; a = ring; x = a[t];
 *   CAS top t -> t+1: success takes x, failure is LOST.
 * Indices start at 1 (not 0) so that bottom - 1 stays a byte.
 *
 * Properties: every take is of a real item (not an empty or stale slot)
 * that nobody took before; at the end, once the owner has found the deque
 * empty and every thief is done, every item was taken exactly once.
 *
 * Configurations that must verify:
 *   (default)           N=3 items (the third push grows the ring), POPS=2,
 *                       NT=2 thieves, STEALS=2 tries each.
 *   STEALS=3, NT=1 STEALS=3   thieves trying more often.
 * Variants that MUST be rejected:
 *   BROKEN_NO_FENCE     pop without the seq_cst fence: the store of bottom-1
 *                       waits in the buffer while the owner reads a top
 *                       that is about to move; a thief steals the element
 *                       below, then reads the old bottom and steals the one
 *                       the owner is taking without a CAS. (With stores
 *                       made immediate, i.e. plain interleaving, this
 *                       variant verifies: the bug needs the reordering.)
 *   BROKEN_NO_CAS       pop takes the last element without the CAS.
 *   BROKEN_STEAL_ORDER  the thief loads bottom before top (what the thief's
 *                       fence forbids on weaker hardware than TSO).
 *   BROKEN_PUSH_ORDER   push stores bottom before the slot (what push's
 *                       release store forbids): a thief reads an empty slot.
 */

#ifndef N
#define N 3           /* items pushed by the owner */
#endif
#ifndef POPS
#define POPS 2        /* pops interleaved with the pushes */
#endif
#ifndef NT
#define NT 2          /* thieves */
#endif
#ifndef STEALS
#define STEALS 2      /* steal attempts per thief, at most */
#endif
#if N > 4
#error "ring 1 has 4 slots and is never grown"
#endif

#define MASK(r)  ((r) == 0 -> 1 : 3)   /* ring 0: 2 slots, ring 1: 4 */
#define AT(r, i) ((r) * 4 + ((i) & MASK(r)))  /* index into slot[] */
#define W_BOTTOM 8   /* store-buffer targets besides slot indices */
#define W_RING   9
#define SB 6         /* store-buffer entries */

byte top = 1;
byte bottom = 1;
byte ring;           /* current ring */
byte slot[8];        /* ring 0: [0, 1], ring 1: [4, 7]; 0 = never written */

byte sbw[SB];        /* the owner's store buffer: target, value */
byte sbv[SB];
byte nsb;

byte taken[N + 1];   /* ghost: times item i was taken */
byte tdone;          /* thieves finished */

/* A store by the owner: into the buffer (it waits while the buffer is full). */
inline store(w, v) {
  d_step { nsb < SB -> sbw[nsb] = w; sbv[nsb] = v; nsb++ }
}

/* A seq_cst fence or a locked instruction: the buffer drains first. */
#define DRAINED (nsb == 0)

/* The one place an item is taken: count it. */
inline take(x) {
  assert(x >= 1 && x <= N);        /* a real item, not an empty slot */
  assert(taken[x] == 0);           /* not taken before */
  taken[x]++
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
       :: sbw[0] == W_BOTTOM -> bottom = sbv[0]
       :: sbw[0] == W_RING -> ring = sbv[0]
       :: else -> slot[sbw[0]] = sbv[0]
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
  byte ob = 1;       /* bottom as the owner sees it (its own stores) */
  byte oring;        /* ring as the owner sees it */
  byte sh[8];        /* the slots as the owner sees them */
  byte b, t, x, i, pushed, pops;

/* crew__deque_pop; the result in x (0: empty) */
#define POP()                                                              \
  b = ob - 1;                                                              \
  ob = b;                                                                  \
  store(W_BOTTOM, b);                                                      \
  POP_FENCE                                                                \
  t = top;                                                                 \
  if                                                                       \
  :: t > b -> ob = b + 1; store(W_BOTTOM, ob); x = 0                       \
  :: else ->                                                               \
     x = sh[AT(oring, b)];                                                 \
     if                                                                    \
     :: t == b ->                                                          \
        LAST_TAKE;                                                         \
        ob = b + 1; store(W_BOTTOM, ob)                                    \
     :: else -> d_step { take(x) }                                         \
     fi                                                                    \
  fi

#ifdef BROKEN_NO_FENCE
#define POP_FENCE
#else
#define POP_FENCE DRAINED;
#endif
#ifdef BROKEN_NO_CAS
#define LAST_TAKE take(x)
#else
/* the CAS is a locked instruction: drain, then compare and swap */
#define LAST_TAKE                                                          \
        atomic {                                                           \
          DRAINED ->                                                       \
          if                                                               \
          :: top == t -> top = t + 1; take(x)                              \
          :: else -> x = 0                                                 \
          fi                                                               \
        }
#endif

  do
  :: pushed < N ->
     /* crew__deque_push(item pushed + 1) */
     b = ob;
     t = top;
     if
     :: b - t > MASK(oring) ->
        /* crew__deque_grow: copy [t, b) into the new ring, publish it */
        assert(oring == 0);
        i = t;
        do
        :: i < b -> sh[AT(1, i)] = sh[AT(0, i)]; store(AT(1, i), sh[AT(1, i)]); i++
        :: else -> break
        od;
        oring = 1;
        store(W_RING, 1);
        i = 0
     :: else -> skip
     fi;
     pushed++;
     sh[AT(oring, b)] = pushed;
     ob = b + 1;
#ifdef BROKEN_PUSH_ORDER
     store(W_BOTTOM, ob);
     store(AT(oring, b), pushed);
#else
     store(AT(oring, b), pushed);
     store(W_BOTTOM, ob);
#endif
  :: pops < POPS ->
     POP();
     pops++
  :: pushed == N && pops == POPS -> break
  od;

  /* pop until empty */
  do
  :: POP();
     if
     :: x == 0 -> break
     :: else -> skip
     fi
  od;

  /* every thief done: every item taken exactly once */
  tdone == NT;
  i = 1;
  do
  :: i <= N -> assert(taken[i] == 1); i++
  :: else -> break
  od
}

proctype thief()
{
  byte t, b, r, x, n;

  do
  :: n < STEALS ->
     /* crew__deque_steal */
#ifdef BROKEN_STEAL_ORDER
     b = bottom;
     t = top;
#else
     t = top;
     /* seq_cst fence: a no-op here (no buffered stores) */
     b = bottom;
#endif
     if
     :: t >= b -> skip                  /* EMPTY */
     :: else ->
        r = ring;
        x = slot[AT(r, t)];
        d_step {
          if
          :: top == t -> top = t + 1; take(x)
          :: else -> skip               /* LOST */
          fi
        }
     fi;
     n++;
     t = 0; b = 0; r = 0; x = 0
  :: break
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
