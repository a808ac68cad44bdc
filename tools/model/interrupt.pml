/*
 * interrupt.pml -- interruptible regions (src/interrupt.c, steps 1-4),
 * checked with spin.
 *
 * One worker thread runs a task body that enters ROUNDS regions, each
 * with one blocking call; between regions, and after the last, the thread
 * runs other code (another task): a signal handled there is a stray. A
 * canceller cancels the task once, at any moment, then kicks the slot. The
 * timer re-kicks a KICKED slot. The kernel delivers a pending signal at
 * any moment (its own process).
 *
 *   irq: OFF 0, IN 1, CLAIMED 2, KICKED 3
 *   body open:  irq = IN; (fence) c = cancelled; c -> close, refuse
 *   blocking call: returns on a signal handled after it began, or by
 *               itself (data arrived) only while no cancel was made
 *   body close: CAS IN|KICKED -> OFF (wait while CLAIMED);
 *               then wait until every sent signal was handled
 *   kick:       cancelled = 1; (fence) CAS IN -> CLAIMED; send; KICKED
 *   re-kick:    CAS KICKED -> CLAIMED; send; KICKED
 *
 * Not modelled: close's 200 ms bound on the wait (interrupt.c step 4),
 * an escape for runtimes that hold signals back (ThreadSanitizer); with
 * a kernel that delivers at the next return to user space the wait ends
 * first, which is the behaviour this model checks.
 *
 * Safety: no signal is handled outside a region (assertion in the
 * handler); every state where nothing can move is a valid end (a body
 * stuck in its blocking call after a cancel is an invalid end state).
 *
 * Broken variants (each must be rejected):
 *   BROKEN_CHECK_FIRST  the body checks cancellation before publishing IN
 *                       (the store-load reordering its fence forbids):
 *                       the cancel is missed and the call blocks forever
 *   BROKEN_NO_WAIT      close does not wait for sent signals to be handled:
 *                       one lands after the region
 *   BROKEN_NO_CLAIM     the kicker reads IN and sends without claiming: the
 *                       region can close between its read and its send
 *   BROKEN_NO_REKICK    no re-kick: a signal that lands just before the
 *                       blocking call begins leaves it blocked
 */

#ifndef ROUNDS
#define ROUNDS 2
#endif

#define OFF 0
#define IN 1
#define CLAIMED 2
#define KICKED 3

byte irq = OFF;
bit cancelled = 0;
bit open = 0;        /* the thread is inside a region (the handler reads it) */
byte pend = 0;       /* signals sent, not yet handled */
bit blocking = 0;    /* the body is inside its blocking call */
bit woke = 0;        /* a signal was handled while blocking */
bit body_done = 0;

inline send() {
  pend++
}

proctype Kernel() {
  /* Deliver a pending signal whenever one is pending. */
end:
  do
  :: atomic { pend > 0 ->
       assert(open);      /* never outside a region */
       pend--;
       if
       :: blocking -> woke = 1
       :: else -> skip
       fi }
  od
}

proctype Canceller() {
  cancelled = 1;                        /* visible (seq_cst) */
  /* fence, then kick the slot */
#ifdef BROKEN_NO_CLAIM
  if
  :: irq == IN ->
     send();                            /* the region may have closed */
     irq = KICKED
  :: else -> skip
  fi
#else
  atomic { if
           :: irq == IN -> irq = CLAIMED
           :: else -> goto done
           fi }
  /* claimed: the region cannot close; the task is cancelled */
  send();
  irq = KICKED;
#endif
done:
  skip
}

proctype Rekick() {
#ifndef BROKEN_NO_REKICK
end:
  do
  :: atomic { irq == KICKED && pend == 0 && !woke -> irq = CLAIMED };
     send();
     irq = KICKED
  od
#else
  skip
#endif
}

proctype Body() {
  byte r = 0;
  bit c;
  do
  :: r < ROUNDS ->
     /* open (step 1) */
#ifdef BROKEN_CHECK_FIRST
     c = cancelled;
     open = 1;
     irq = IN;
#else
     open = 1;
     irq = IN;
     c = cancelled;                     /* after the fence */
#endif
     if
     :: c ->
        /* refused; but a kick may be in flight: close as usual */
        skip
     :: else ->
        /* the blocking call: returns only when a signal lands in it */
        atomic { blocking = 1; woke = 0 };
        if
        :: woke == 1                    /* interrupted */
        :: atomic { !cancelled -> skip } /* returned by itself, before any cancel */
        fi;
        blocking = 0
     fi;
     /* close (step 4) */
     do
     :: atomic { irq == IN || irq == KICKED -> irq = OFF; break }
     :: irq == CLAIMED -> skip
     od;
#ifndef BROKEN_NO_WAIT
     pend == 0;                         /* every sent signal handled */
#endif
     open = 0;
     /* other code runs on the thread here */
     r++;
     if
     :: c -> break                      /* cancelled: the body returns */
     :: else -> skip
     fi
  :: else -> break
  od;
  body_done = 1
}

init {
  atomic {
    run Kernel();
    run Canceller();
    run Rekick();
    run Body()
  }
}
