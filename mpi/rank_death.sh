#!/bin/sh
# rank_death.sh MPIEXEC ARGS... - run the "die" scenario: rank 1 kills
# itself inside a job while rank 0 waits for the batch (60 s limit). Passes
# when mpirun ends the whole job with an error, before rank 0's wait gives
# up; fails if rank 0 printed TIMEOUT (the wait outlived the dead rank) or
# mpirun exited 0.
start=$(date +%s)
out=$("$@" 2>&1)
rc=$?
end=$(date +%s)
printf '%s\n' "$out" | tail -n 20
if printf '%s\n' "$out" | grep -q TIMEOUT; then
    echo "rank_death: rank 0's batch wait timed out: the death was not noticed"
    exit 1
fi
if [ "$rc" -eq 0 ]; then
    echo "rank_death: mpirun exited 0 although a rank died"
    exit 1
fi
echo "rank_death: mpirun ended the job (exit $rc) after $((end - start)) s"
