#!/usr/bin/env bash
# check.sh -- verify the Promela models of crew's protocols with spin.
#
# Every correct model must verify with zero errors (safety: assertions and
# invalid end states; liveness: its LTL property under weak fairness), and
# every broken variant must be rejected (at least one error).  Prints one
# summary line per run; exits 0 only if every line says ok.
#
# Environment: SPIN (default spin), CC (default cc), KEEP=1 keeps the
# temporary directory (with any counterexample trails) and prints its path.
set -u

here=$(cd "$(dirname "$0")" && pwd)
SPIN=${SPIN:-spin}
CC=${CC:-cc}

command -v "$SPIN" >/dev/null 2>&1 || { echo "check.sh: spin not found" >&2; exit 2; }
command -v "$CC" >/dev/null 2>&1 || { echo "check.sh: C compiler '$CC' not found" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/crew-model.XXXXXX") || exit 2
if [ "${KEEP:-0}" = 1 ]; then
  echo "check.sh: keeping $work"
else
  trap 'rm -rf "$work"' EXIT
fi

fails=0
n=0

# run MODEL VARIANT MODE EXPECT
#   VARIANT: macro names (space-separated) or "-" for the default model
#   MODE:    safety | liveness
#   EXPECT:  pass | reject
run() {
  local model=$1 variant=$2 mode=$3 expect=$4
  local dir def=() cflags pflags out errors states first verdict ok=0
  n=$((n + 1))
  dir="$work/$n-${model%.pml}-${variant// /+}-${mode}"
  mkdir -p "$dir"
  cp "$here/$model" "$dir/"
  if [ "$variant" != - ]; then
    for v in $variant; do def+=("-D$v"); done
  fi
  if [ "$mode" = safety ]; then
    cflags="-DSAFETY -DNOCLAIM"; pflags="-m1000000"
  else
    cflags="-DNFAIR=3"; pflags="-m1000000 -a -f"
  fi
  out=$(cd "$dir" && "$SPIN" "${def[@]}" -a "$model" >spin.log 2>&1 &&
        $CC -O2 -w $cflags -o pan pan.c >cc.log 2>&1 &&
        ./pan $pflags 2>&1)
  local rc=$?
  printf '%s\n' "$out" >"$dir/pan.log"
  errors=$(printf '%s\n' "$out" | sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' | tail -1)
  states=$(printf '%s\n' "$out" | sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' | tail -1)
  first=$(printf '%s\n' "$out" | grep -m1 -E '^pan:1: ' | sed 's/^pan:1: //')
  if [ -z "$errors" ]; then
    verdict="no result (spin/cc/pan failed, rc=$rc; see $dir)"
  elif [ "$expect" = pass ]; then
    if [ "$errors" = 0 ] &&
       ! printf '%s\n' "$out" | grep -qE 'max search depth too small|Search not completed|out of memory'; then
      ok=1; verdict="verified"
    elif [ "$errors" = 0 ]; then
      verdict="search incomplete"
    else
      verdict="FAILED: $first"
    fi
  else
    if [ "$errors" != 0 ]; then
      ok=1; verdict="rejected as required: $first"
    else
      verdict="NOT rejected: the broken variant verified"
    fi
  fi
  [ "$variant" = - ] && variant=default
  printf '%-4s %-14s %-22s %-8s states=%-9s errors=%-2s %s\n' \
    "$([ $ok = 1 ] && echo ok || echo FAIL)" "$model" "$variant" "$mode" \
    "${states:-?}" "${errors:-?}" "$verdict"
  [ $ok = 1 ] || fails=$((fails + 1))
}

run task_state.pml -                     safety   pass
run task_state.pml -                     liveness pass
run task_state.pml JOIN_RELEASE          safety   pass
run task_state.pml "STRICT_WAKE WAKE_REF" safety  pass
run task_state.pml BROKEN_START          safety   reject
run task_state.pml BROKEN_WAITERS        safety   reject
run task_state.pml BROKEN_WAITERS        liveness reject
run task_state.pml BROKEN_REF            safety   reject
run task_state.pml GROUP_READS_AFTER_CAS safety   reject
run task_state.pml STRICT_WAKE           safety   reject
run task_state.pml BROKEN_CHECK_NO_REQ   safety   reject

run park.pml -                  safety   pass
run park.pml -                  liveness pass
run park.pml "NP=1 TPP=2"       safety   pass
run park.pml BROKEN_NO_RESCAN   safety   reject
run park.pml BROKEN_NO_RESCAN   liveness reject
run park.pml BROKEN_CHECK_FIRST safety   reject
run park.pml STOP_BEFORE_PREPARE safety  reject
run park.pml SPINR=2            safety   pass
run park.pml SPIN_END_AFTER_PREPARE safety pass
run park.pml BROKEN_SPIN_END_LATE safety reject
run park.pml BROKEN_SPIN_END_LATE liveness reject
run park.pml BROKEN_SPIN_FIRST  safety   reject
run park.pml GATE               safety   pass
run park.pml GATE               liveness pass
run park.pml "GATE BROKEN_NO_PASS_ON" safety reject
run park.pml OWNER_PUSH_FENCED  safety   pass
run park.pml "SPAWN_WAITS NP=1 TPP=1 OWNER_PUSH_FENCED" safety pass
run park.pml "SPAWN_WAITS NP=1 TPP=1" safety reject

run deque.pml -                  safety   pass
run deque.pml STEALS=3           safety   pass
run deque.pml "NT=1 STEALS=3"    safety   pass
run deque.pml BROKEN_NO_FENCE    safety   reject
run deque.pml BROKEN_NO_CAS      safety   reject
run deque.pml BROKEN_STEAL_ORDER safety   reject
run deque.pml BROKEN_PUSH_ORDER  safety   reject

run carrier.pml -                     safety   pass
run carrier.pml N=4                   safety   pass
run carrier.pml BROKEN_RECORD_WALK    safety   reject
run carrier.pml BROKEN_NO_FREE        safety   reject
run carrier.pml BROKEN_ANY_REFS       safety   reject
run carrier.pml BROKEN_PIN_UNSEEN     safety   reject
run carrier.pml BROKEN_SELF_UNSEEN    safety   reject
run interrupt.pml -                   safety   pass
run interrupt.pml ROUNDS=3            safety   pass
run interrupt.pml BROKEN_CHECK_FIRST  safety   reject
run interrupt.pml BROKEN_NO_WAIT      safety   reject
run interrupt.pml BROKEN_NO_CLAIM     safety   reject
run interrupt.pml BROKEN_NO_REKICK    safety   reject

run group_defer.pml -                    safety   pass
run group_defer.pml N=4                  safety   pass
run group_defer.pml BROKEN_SUB_FIRST     safety   reject
run group_defer.pml BROKEN_NO_IDLE_FLUSH safety   reject
run group_defer.pml BROKEN_COUNT_FIRST   safety   reject

run batch_deadline.pml -                    safety   pass
run batch_deadline.pml NC=3                 safety   pass
run batch_deadline.pml BROKEN_DISARM_DROPS  safety   reject
run batch_deadline.pml BROKEN_NO_SETTLE     safety   reject

run timer_poll.pml -                  safety   pass
run timer_poll.pml ROUNDS=3           safety   pass
run timer_poll.pml BROKEN_LATE_ODD    safety   reject
run timer_poll.pml BROKEN_NO_SETTLE   safety   reject

run fdeque.pml -                      safety   pass
run fdeque.pml "NT=1 STEALS=3"        safety   pass
run fdeque.pml "NT=1 STEALS=3"        liveness pass
run fdeque.pml "N=4 NT=1 STEALS=2"    safety   pass
run fdeque.pml "N=4 NT=1 STEALS=2"    liveness pass
run fdeque.pml BROKEN_RECLAIM_STORE   safety   reject
run fdeque.pml BROKEN_TAKE_NO_RECLAIM safety   reject
run fdeque.pml BROKEN_STEAL_NO_CAS    safety   reject
run fdeque.pml BROKEN_EARLY_STEP4     safety   reject
run fdeque.pml BROKEN_DONE_STORE      safety   reject
run fdeque.pml BROKEN_DONE_STORE      liveness reject
run fdeque.pml BROKEN_PARK_NO_RECHECK safety   reject
run fdeque.pml BROKEN_PARK_NO_RECHECK liveness reject
run fdeque.pml BROKEN_SHARE_ORDER     safety   reject
run fdeque.pml BROKEN_SHARE_NO_RESET  safety   reject
run fdeque.pml BROKEN_READ_BEFORE_CAS safety   reject

if [ $fails -ne 0 ]; then
  echo "check.sh: $fails of $n runs failed"
  exit 1
fi
echo "check.sh: all $n runs as required"
