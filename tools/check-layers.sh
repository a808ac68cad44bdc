#!/usr/bin/env bash
# The layers of src/, bottom first: a file may include (and so call) only
# headers of its own layer or below, and only task.h/task.c name the state
# word's bits. Fails listing every violation.
# Usage: bash tools/check-layers.sh [src-dir]
set -euo pipefail
src=${1:-"$(dirname "$0")/../src"}
layers=(
    "platform tunables fault error"   # the operating system, constants, test hooks
    "deque fdeque park cset trace limit" # data structures that know nothing of tasks
    "task"                            # the record and its state word
    "inject pool"                     # queues of records, record memory
    "stats exec timer"                # counting; the executor's shared state; deadlines
    "group"                           # membership, lifetime, group cancel state
    "cancel interrupt"                # the check and the executor's set; reaching bodies
    "harness"                         # run, finish, remove, cancel request, free
    "worker"                          # find work, the loop, wait_until
    "submit wait deadline loop observe" # submission; waits, cancels, deadlines; loops; seeing inside
    "actor"                           # actors, on submit/harness/worker only
    "executor"                        # create, shutdown, destroy
)
declare -A level
for i in "${!layers[@]}"; do
    for m in ${layers[$i]}; do level[$m]=$i; done
done
bad=0
for f in "$src"/*.c "$src"/*.h; do
    m=$(basename "$f"); m=${m%.*}
    if [ -z "${level[$m]+x}" ]; then
        echo "check-layers: $m is in no layer (add it to tools/check-layers.sh)"; bad=1; continue
    fi
    while read -r inc; do
        h=${inc%.h}
        [ -z "${level[$h]+x}" ] && continue   # crew.h and system headers
        if (( level[$h] > level[$m] )); then
            echo "check-layers: $m (layer ${level[$m]}) includes $inc (layer ${level[$h]})"; bad=1
        fi
    done < <(sed -n 's/^#include "\(.*\)"/\1/p' "$f")
done
# The state word has one home: no T_* bit outside task.h and task.c.
for f in "$src"/*.c "$src"/*.h; do
    case $(basename "$f") in task.h|task.c) continue ;; esac
    if grep -n '\bT_[A-Z_]*\b' "$f" >/dev/null; then
        grep -n '\bT_[A-Z_]*\b' "$f" | sed "s|^|check-layers: $(basename "$f"): state bit outside task.h: |"; bad=1
    fi
done
(( bad == 0 )) && echo "check-layers: ${#layers[@]} layers, no upward include"
exit $bad
