#!/usr/bin/env bash
# tests/crewrun/run.sh CASE CREW_RUN HELPER: one crewrun/<CASE> test.
# Real processes throughout. Readiness comes through a FIFO the test holds
# open (helper.c), never through a sleep. $CREW_TEST_SCALE sizes the big
# case (1 in release).
set -u
case_name=$1 CR=$2 H=$3
scale=${CREW_TEST_SCALE:-1}
W=$(mktemp -d "${TMPDIR:-/tmp}/crewrun.XXXXXX") || exit 1
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1

fail() { echo "FAIL ($case_name): $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# rows FILE STATUS CAUSE [ATTEMPTS [SIGNAL]]: rows of a CSV results file
# with these fields (an empty ATTEMPTS or SIGNAL matches anything).
rows() {
    awk -F, -v s="$2" -v c="$3" -v a="${4:-}" -v g="${5:-}" \
        'NR > 1 && $2 == s && $3 == c && (a == "" || $6 == a) && (g == "" || $5 == g) { n++ }
         END { print n + 0 }' "$1"
}
expect_rows() { # FILE N STATUS CAUSE [ATTEMPTS [SIGNAL]]
    local got
    got=$(rows "$1" "$3" "$4" "${5:-}" "${6:-}")
    [ "$got" = "$2" ] || { cat "$1" >&2; fail "$1: $got rows '$3 $4 ${5:-} ${6:-}', want $2"; }
}

# Wait (blocking reads on the FIFO) for N lines starting with WORD; their
# PIDs go to the array got_pids.
exec 3<>/dev/null
open_ready() { mkfifo "$W/ready" && exec 3<>"$W/ready"; }
got_pids=()
wait_lines() { # WORD N
    local word pid n=0
    got_pids=()
    while [ "$n" -lt "$2" ]; do
        read -r -t 60 word pid <&3 || fail "no '$1' line after $n of $2"
        if [ "$word" = "$1" ]; then
            got_pids+=("$pid")
            n=$((n + 1))
        fi
    done
}

# Every process the jobs started (their PIDs are in $W/pids) is gone: no
# /proc entry running a command line with $W in it, and pgrep agrees.
expect_none_left() {
    local pid
    [ -s "$W/pids" ] || fail "no PIDs recorded"
    while read -r pid; do
        if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$W"; then
            fail "process $pid is still there: $(tr '\0' ' ' <"/proc/$pid/cmdline")"
        fi
    done <"$W/pids"
    if pgrep -f "$W/ready" >/dev/null; then
        fail "pgrep finds: $(pgrep -af "$W/ready")"
    fi
    ok "$(wc -l <"$W/pids") recorded processes gone"
}

case $case_name in
timeout)
    # Three sleeps past a 0.2 s timeout are killed within 50 ms of it; a
    # quick job in the same run is unaffected.
    "$CR" -j4 --timeout 0.2 --results r.csv sleep ::: 10 10 10 0.01 2>err
    rc=$?
    [ "$rc" = 2 ] || { cat err >&2; fail "exit $rc, want 2"; }
    expect_rows r.csv 3 failed timeout 1 SIGTERM
    expect_rows r.csv 1 ok exit 1
    awk -F, 'NR > 1 && $3 == "timeout" {
                 late = $8 - 0.2
                 if (late < 0 || late >= 0.05) { print "late by " late " s: " $0; bad = 1 }
                 else printf "killed %.1f ms after the deadline\n", late * 1000 }
             END { exit bad }' r.csv || fail "a timeout fired late"
    ;;
grace)
    # A job that ignores SIGTERM is SIGKILLed when the grace runs out
    # (0.2 s + 0.3 s), and so is the grandchild it left in its group.
    open_ready
    "$CR" -j2 --timeout 0.2 --grace 0.3 --results r.csv "$H" hold "$W/ready" "$W" term ::: 1 2 2>err
    rc=$?
    [ "$rc" = 2 ] || { cat err >&2; fail "exit $rc, want 2"; }
    expect_rows r.csv 2 failed timeout 1 SIGKILL
    awk -F, 'NR > 1 { late = $8 - 0.5
                      if (late < 0 || late >= 0.05) { print "late by " late " s: " $0; bad = 1 }
                      else printf "killed %.1f ms after timeout + grace\n", late * 1000 }
             END { exit bad }' r.csv || fail "SIGKILL late"
    expect_none_left
    ;;
halt)
    # 20 jobs, 4 at a time; once 4 run, one of them fails: the other 3 are
    # killed (SIGTERM), the 16 queued never start, no process is left.
    open_ready
    "$CR" -j4 --halt-on-fail --results r.csv "$H" hold "$W/ready" "$W" plain ::: $(seq 20) 2>err &
    cr=$!
    wait_lines ready 4
    echo fail >"$W/ctl.${got_pids[0]}"
    wait "$cr"
    rc=$?
    [ "$rc" = 3 ] || { cat err >&2; fail "exit $rc, want 3"; }
    expect_rows r.csv 1 failed exit 1
    expect_rows r.csv 3 cancelled halted 1 SIGTERM
    expect_rows r.csv 16 cancelled halted 0
    [ "$(wc -l <"$W/pids")" = 8 ] || fail "$(wc -l <"$W/pids") PIDs recorded, want 8 (4 jobs started)"
    grep -q "20 jobs .* 0 ok, 1 failed (0 timed out), 19 cancelled (19 halted, 0 interrupted); exit 3" err ||
        { cat err >&2; fail "summary"; }
    expect_none_left
    ;;
sigint)
    # SIGINT while 4 of 12 jobs run: they get SIGTERM, the 8 queued never
    # start, the summary says so, exit 130, no process left.
    open_ready
    "$CR" -j4 --results r.csv "$H" hold "$W/ready" "$W" plain ::: $(seq 12) 2>err &
    cr=$!
    wait_lines ready 4
    kill -INT "$cr"
    wait "$cr"
    rc=$?
    [ "$rc" = 130 ] || { cat err >&2; fail "exit $rc, want 130"; }
    expect_rows r.csv 4 cancelled interrupted 1 SIGTERM
    expect_rows r.csv 8 cancelled interrupted 0
    grep -q "12 jobs .* 0 ok, 0 failed (0 timed out), 12 cancelled (0 halted, 12 interrupted); exit 130" err ||
        { cat err >&2; fail "summary"; }
    grep -q "^ *5  cancelled  interrupted     -  -               0 " err || { cat err >&2; fail "per-job table"; }
    expect_none_left
    ;;
sigint_force)
    # Jobs that ignore SIGTERM, grace 100 s: the first SIGINT only sends
    # SIGTERM (each job reports it); the second SIGKILLs them at once.
    open_ready
    start=$(date +%s)
    "$CR" -j3 --grace 100 --results r.csv "$H" hold "$W/ready" "$W" term ::: $(seq 6) 2>err &
    cr=$!
    wait_lines ready 3
    kill -INT "$cr"
    wait_lines term 3
    kill -INT "$cr"
    wait "$cr"
    rc=$?
    [ "$rc" = 130 ] || { cat err >&2; fail "exit $rc, want 130"; }
    [ $(($(date +%s) - start)) -lt 60 ] || fail "the second SIGINT did not kill at once"
    expect_rows r.csv 3 cancelled interrupted 1 SIGKILL
    expect_rows r.csv 3 cancelled interrupted 0
    grep -q "again: killing" err || { cat err >&2; fail "no second-interrupt message"; }
    expect_none_left
    ;;
many)
    # 10000 jobs (times $CREW_TEST_SCALE) each append their token once:
    # every token is there exactly once. Direct exec, then via /bin/sh.
    n=$(awk -v s="$scale" 'BEGIN { n = int(10000 * s); print (n < 200 ? 200 : n) }')
    seq "$n" | "$CR" -j8 -q --results r.csv "$H" append "$W/out" || fail "exit $?"
    seq "$n" >want
    sort -n out | diff -q - want >/dev/null || fail "tokens (direct): $(wc -l <out) lines, $(sort -u out | wc -l) distinct, want $n"
    expect_rows r.csv "$n" ok exit 1
    m=$((n / 10))
    seq "$m" | "$CR" -j8 -q --results r2.csv "echo {} >> $W/out2" || fail "exit $?"
    seq "$m" | sort -n out2 | diff -q - <(seq "$m") >/dev/null || fail "tokens (sh): $(wc -l <out2) lines, want $m"
    expect_rows r2.csv "$m" ok exit 1
    ok "$n + $m jobs, each token once"
    ;;
retries)
    # A job failing twice then succeeding: ok on attempt 3 with
    # --retries 2, failed after 2 attempts with --retries 1.
    "$CR" --retries 2 --results r.csv "$H" flaky "$W/a{}" 3 ::: 1 2 2>err || { cat err >&2; fail "exit $?"; }
    expect_rows r.csv 2 ok exit 3
    "$CR" --retries 1 --results r2.csv "$H" flaky "$W/b{}" 3 ::: 1 2>err
    [ $? = 1 ] || fail "exit not 1"
    expect_rows r2.csv 1 failed exit 2
    ;;
exitcodes)
    "$CR" -q true ::: 1 2; [ $? = 0 ] || fail "all ok: not 0"
    "$CR" -q 'exit {}' ::: 0 3; [ $? = 1 ] || fail "a failure: not 1"
    echo 'kill -9 $$' | "$CR" -q --results s.csv; [ $? = 1 ] || fail "a signal: not 1"
    expect_rows s.csv 1 failed signal 1 SIGKILL
    printf 'exit 1\nsleep 5\n' | "$CR" -q --timeout 0.05; [ $? = 2 ] || fail "a timeout: not 2"
    "$CR" -q -j1 --halt-on-fail --results h.csv 'exit {}' ::: 1 0 0; [ $? = 3 ] || fail "halted: not 3"
    expect_rows h.csv 2 cancelled halted 0
    "$CR" -q --bogus true 2>/dev/null; [ $? = 64 ] || fail "usage: not 64"
    "$CR" -q -j 0 true 2>/dev/null; [ $? = 64 ] || fail "-j 0: not 64"
    "$CR" -q -a "$W/none" true 2>/dev/null; [ $? = 66 ] || fail "no input: not 66"
    "$CR" -q --results "$W/no/such/dir.csv" true ::: 1 2>/dev/null; [ $? = 70 ] || fail "results unwritable: not 70"
    : | "$CR" -q true; [ $? = 0 ] || fail "no input lines: not 0"
    ok "exit codes"
    ;;
json)
    # The JSON results parse (jq) and hold the same fields as the CSV.
    printf 'exit 0\nexit 1\nsleep 5; exit 0\n' | "$CR" -q --timeout 0.1 --results r.json
    [ $? = 2 ] || fail "exit not 2"
    jq -e '.total == 3 and .ok == 1 and .failed == 2 and .timed_out == 1 and .exit_code == 2
           and (.jobs | length) == 3
           and .jobs[0].status == "ok" and .jobs[0].exit_code == 0 and .jobs[0].signal == null
           and .jobs[1].status == "failed" and .jobs[1].cause == "exit" and .jobs[1].exit_code == 1
           and .jobs[2].cause == "timeout" and .jobs[2].signal == "SIGTERM"
           and .jobs[2].duration_s >= 0.1 and .jobs[2].command == "sleep 5; exit 0"' r.json \
        >/dev/null || { cat r.json >&2; fail "JSON"; }
    ;;
progress)
    # On a terminal (a pty from script(1)) the bar is drawn and ends with
    # the final counts; on a pipe there is no bar.
    script -qefc "'$CR' -j2 true ::: 1 2 3" /dev/null >tty.txt 2>&1 || fail "under script: exit $?"
    grep -q "3/3 100% | ok 3 fail 0 cancel 0 run 0 |" tty.txt || { cat -v tty.txt >&2; fail "no final bar"; }
    grep -q "\[#" tty.txt || { cat -v tty.txt >&2; fail "no bar drawing"; }
    "$CR" -j2 true ::: 1 2 3 2>pipe.txt || fail "exit $?"
    if grep -q $'\r' pipe.txt || grep -q "\[#" pipe.txt; then cat -v pipe.txt >&2; fail "bar on a pipe"; fi
    grep -q "3 ok, 0 failed" pipe.txt || fail "no summary on a pipe"
    ;;
*)
    fail "unknown case"
    ;;
esac
echo "PASS crewrun/$case_name"
