#!/usr/bin/env bash
# Build crew and its perf harness (release), then run the quick suite.
# Extra arguments go to crew-perf, e.g. --format csv or --suite full.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
crew_deps
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target crew-perf
args=("$@")
((${#args[@]})) || args=(--suite quick)
exec ./build/release/perf/crew-perf "${args[@]}"
