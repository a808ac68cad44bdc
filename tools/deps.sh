#!/usr/bin/env bash
# Install whatever crew's build, tests and perf harness need and is missing.
# Debian 12, as root. Sourced by run-tests.sh and run-perf.sh.
crew_deps() {
    local want=(build-essential cmake ninja-build pkg-config git
                libck-dev libcriterion-dev libtbb-dev
                clang clang-format libclang-rt-14-dev valgrind spin gnuplot-nox
                openmpi-bin libopenmpi-dev parallel python3 jq procps "$@")
    local missing=()
    for p in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
            missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "crew: installing ${missing[*]}"
        if [ "$(id -u)" != 0 ]; then
            echo "crew: missing packages and not root; run as root" >&2
            return 1
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
}
