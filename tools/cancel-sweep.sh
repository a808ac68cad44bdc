#!/usr/bin/env bash
# cancel-sweep.sh - drive every cleanup path of a program with crew's
# deterministic cancellation test mode: run it with CREW_TEST_CANCEL=N for
# N = 1, 2, ... (the Nth crew_cancelled() of each matching task cancels
# that task for real) until a run reaches no Nth check, each run under
# valgrind memcheck (or plainly, for an ASan build, which reports leaks and
# memory errors itself), and report every N that leaked, crashed, hung or
# failed.
#
# Usage: tools/cancel-sweep.sh [--max N] [--filter F] [--tool valgrind|none]
#                              [--timeout S] [--quiet] -- PROGRAM [ARGS...]
#   --filter F   only tasks whose function's symbol contains F, or id:<ID>
#                (link the program with -rdynamic for its own symbols)
#   --tool       valgrind (default if installed) or none (an ASan build)
#   --max N      stop at N even if checks remain (default 500)
#   --timeout S  a run taking longer is a hang (default 60)
# Exit status: 0 if every run passed, 1 if some N failed, 2 for bad usage.
set -u
max=500 filter= tool= tmo=60 quiet=0
while (($#)); do
    case $1 in
    --max) max=$2; shift 2 ;;
    --filter) filter=$2; shift 2 ;;
    --tool) tool=$2; shift 2 ;;
    --timeout) tmo=$2; shift 2 ;;
    --quiet) quiet=1; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) break ;;
    esac
done
(($#)) || { echo "cancel-sweep: no program given (see --help)" >&2; exit 2; }
if [ -z "$tool" ]; then
    command -v valgrind >/dev/null 2>&1 && tool=valgrind || tool=none
fi
case $tool in
valgrind) run=(valgrind -q --error-exitcode=99 --leak-check=full
               --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect) ;;
none) run=() ;;
*) echo "cancel-sweep: unknown tool $tool" >&2; exit 2 ;;
esac
work=$(mktemp -d "${TMPDIR:-/tmp}/cancel-sweep.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
bad=0 n=0 runs=0
for ((n = 1; n <= max; n++)); do
    rm -f "$work/report"
    CREW_TEST_CANCEL="$n${filter:+:$filter}" CREW_TEST_CANCEL_REPORT="$work/report" \
        timeout "$tmo" "${run[@]}" "$@" >"$work/out" 2>&1
    rc=$?
    runs=$((runs + 1))
    fired=0
    if [ -f "$work/report" ]; then
        fired=$(awk '{f += $2} END {print f + 0}' "$work/report")
    fi
    case $rc in
    0) verdict=ok ;;
    99) verdict="memory error or leak (valgrind)" ;;
    124) verdict="hang (over ${tmo} s)" ;;
    *) if ((rc > 128)); then verdict="crashed (signal $((rc - 128)))"; else verdict="failed (exit $rc)"; fi ;;
    esac
    if [ "$verdict" != ok ]; then
        bad=$((bad + 1))
        echo "cancel-sweep: N=$n: $verdict; output:"
        sed 's/^/    /' "$work/out" | tail -20
    elif ((quiet == 0)); then
        echo "cancel-sweep: N=$n: ok ($fired cancellation(s) injected)"
    fi
    if [ "$fired" = 0 ]; then
        break # no task reached an Nth check: every path is covered
    fi
done
if ((n > max)); then
    echo "cancel-sweep: stopped at --max $max with checks remaining"
fi
echo "cancel-sweep: $runs run(s) under '$tool', $bad failed; last N tried: $((n > max ? max : n))"
((bad == 0))
