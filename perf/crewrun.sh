#!/usr/bin/env bash
# perf/crewrun.sh - jobs per second of crew-run against xargs -P and GNU
# parallel, on the same inputs, interleaved (one run of each tool per
# repetition, in turn), medians over the repetitions, as a markdown table.
#
#   perf/crewrun.sh [--crew-run PATH] [-j J] [--true N] [--sleep M] [--reps R]
#
# Workloads (the same command line for the three tools; each gets one
# input word per job and appends it, as xargs -n1 and parallel do):
#   true        N jobs `true <i>`            (spawn cost: the tool's overhead)
#   sleep 0.01  M jobs `sleep 0.01`          (J at a time: bounded by 100*J/s)
# Defaults: crew-run from build/release, J 8, N 1000, M 500, R 5. Every run
# must exit 0, else the script stops. GNU parallel gets --will-cite (no
# notice) and nothing else: its defaults, as a user runs it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
CR=$root/build/release/tools/crew-run/crew-run
J=8 N=1000 M=500 R=5
while [ $# -gt 0 ]; do
    case $1 in
    --crew-run) CR=$2; shift 2 ;;
    -j) J=$2; shift 2 ;;
    --true) N=$2; shift 2 ;;
    --sleep) M=$2; shift 2 ;;
    --reps) R=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "crewrun.sh: unknown option $1" >&2; exit 64 ;;
    esac
done
[ -x "$CR" ] || { echo "crewrun.sh: no crew-run at $CR (build the release preset)" >&2; exit 1; }
command -v parallel >/dev/null || { echo "crewrun.sh: GNU parallel missing (apt install parallel)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
seq "$N" >"$tmp/true.in"
yes 0.01 | head -n "$M" >"$tmp/sleep.in" || true

# run TOOL WORKLOAD: seconds of one run (wall clock), on stdout.
run() {
    local tool=$1 wl=$2 cmd in t0 t1
    case $wl in true) cmd=true in=$tmp/true.in ;; *) cmd=sleep in=$tmp/sleep.in ;; esac
    t0=$EPOCHREALTIME
    case $tool in
    crew-run) "$CR" -q -j "$J" "$cmd" <"$in" ;;
    xargs) xargs -n1 -P "$J" "$cmd" <"$in" ;;
    parallel) parallel --will-cite -j "$J" "$cmd" <"$in" ;;
    esac
    t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f\n", b - a }'
}

tools=(crew-run xargs parallel)
workloads=(true sleep)
echo "crewrun.sh: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), -j $J," \
     "$N true jobs, $M sleep jobs, $R repetitions, interleaved" >&2
for rep in $(seq "$R"); do
    for wl in "${workloads[@]}"; do
        for tool in "${tools[@]}"; do
            s=$(run "$tool" "$wl")
            echo "$s" >>"$tmp/$wl.$tool"
            echo "  rep $rep $wl $tool: $s s" >&2
        done
    done
done

median() { sort -g "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo
echo "| workload | jobs | -j | crew-run jobs/s | xargs -P jobs/s | GNU parallel jobs/s | crew-run / xargs | crew-run / parallel |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for wl in "${workloads[@]}"; do
    n=$N label="true"
    [ "$wl" = sleep ] && n=$M label="sleep 0.01"
    c=$(median "$tmp/$wl.crew-run") x=$(median "$tmp/$wl.xargs") p=$(median "$tmp/$wl.parallel")
    awk -v l="$label" -v n="$n" -v j="$J" -v c="$c" -v x="$x" -v p="$p" 'BEGIN {
        printf "| %s | %d | %d | %.0f | %.0f | %.0f | %.2f | %.1f |\n",
               l, n, j, n / c, n / x, n / p, x / c, p / c }'
done
echo
echo "Medians of $R interleaved runs each; jobs/s = jobs / median wall time of the whole run" \
     "(start-up included); load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
