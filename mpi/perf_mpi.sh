#!/bin/sh
# perf_mpi.sh [BUILD_DIR] - crew_mpi's figures, medians of $RUNS runs (5):
#   jobs per second across 1, 2 and 4 ranks ($JOBS tiny jobs, 20000),
#   cancel-to-all-terminal latency ($CANCEL_JOBS jobs, 2000) on 1, 2, 4 ranks,
#   the balance of imbalanced work (costs 1 and 1000) on 4 ranks.
# One crew worker per rank ($WORKERS). On a 2-core machine 4 ranks are
# oversubscribed: each rank has a worker and a progress thread.
set -e
BUILD=${1:-build/release}
BIN=$BUILD/mpi/crew_mpi_perf
RUNS=${RUNS:-5}
JOBS=${JOBS:-20000}
CANCEL_JOBS=${CANCEL_JOBS:-2000}
WORKERS=${WORKERS:-1}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
[ -x "$BIN" ] || { echo "perf_mpi.sh: $BIN not built" >&2; exit 1; }
echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for np in 1 2 4; do
    $MPIRUN -np $np "$BIN" --runs "$RUNS" --jobs "$JOBS" --cancel-jobs "$CANCEL_JOBS" \
        --workers "$WORKERS"
done
$MPIRUN -np 4 "$BIN" --runs "$RUNS" --workers "$WORKERS" --imbalance
