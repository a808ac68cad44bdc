#!/usr/bin/env bash
# Build and run every test: the release build (Criterion suite, install
# test, stress, model checking, fuzzing), the asan preset (AddressSanitizer
# + UBSan over everything) and the tsan preset (ThreadSanitizer over the
# plain concurrency executables). Installs missing Debian packages first.
# Usage: bash tools/run-tests.sh [preset ...]   (default: release asan tsan)
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
crew_deps
presets=("$@")
((${#presets[@]})) || presets=(release asan tsan)
jobs=$(nproc)
start=$SECONDS
for p in "${presets[@]}"; do
    echo "=== crew: preset $p ==="
    cmake --preset "$p" >/dev/null
    cmake --build --preset "$p" -j "$jobs"
    ctest --preset "$p" -j "$jobs" --timeout 900
done
echo "crew: all presets passed (${presets[*]}) in $((SECONDS - start)) s"
