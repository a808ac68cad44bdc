#!/bin/sh
# run-fuzz.sh FUZZER SEED_CORPUS WORK_DIR SECONDS
# Runs the libFuzzer target for SECONDS over a scratch copy of the corpus
# (new inputs go to WORK_DIR/corpus, crashes to WORK_DIR/artifacts) and
# prints the execution count. Exit status: the fuzzer's.
set -u
fuzzer=$1 seeds=$2 work=$3 secs=$4
mkdir -p "$work/corpus" "$work/artifacts"
"$fuzzer" -max_total_time="$secs" -timeout=20 -rss_limit_mb=4096 \
    -max_len=512 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "$work/corpus" "$seeds" >"$work/log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
    tail -n 60 "$work/log"
    echo "fuzz_api: FAILED (exit $rc); reproducer in $work/artifacts/," \
         "replay with: $fuzzer <file>"
    exit $rc
fi
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
final=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/log" | tail -n 1 |
        tr -s '[:space:]' ' ')
echo "fuzz_api: ${runs:-?} executions in $secs s, no contract violation"
echo "fuzz_api: final state: ${final:-?}"
