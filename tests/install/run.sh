#!/bin/sh
# Install the build tree into a temporary prefix, then build and run a small
# consumer against it three ways: find_package(crew) with the shared library,
# find_package(crew) with the static library, and pkg-config.
# Usage: run.sh BUILD_DIR CONSUMER_SRC_DIR C_COMPILER CMAKE
# Environment: CONSUMER_CFLAGS / CONSUMER_LDFLAGS (the build's own flags, so a
# sanitizer build links its runtime).
set -eu
build=$1 src=$2 cc=$3 cmake=${4:-cmake}
cflags=${CONSUMER_CFLAGS:-}
ldflags=${CONSUMER_LDFLAGS:-}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/crew-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
want='^crew 0\.1\.0 sum=499999500000 DONE CANCELLED cancel-ok$'

failed=
step() { echo "== $*"; }
fail() { echo "FAIL: $*" >&2; failed="$failed
  $*"; }
check() { # name, program
    if out=$("$2"); then :; else fail "$1 exited with $?"; fi
    echo "$out"
    printf '%s\n' "$out" | grep -Eq "$want" ||
        fail "$1 printed the wrong thing (want /$want/)"
}

step "install $build -> $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 || {
    cat "$tmp/install.log"; exit 1; }
test -f "$prefix/include/crew.h"
libdir=$(ls -d "$prefix"/lib* | head -n 1)
test -f "$libdir/cmake/crew/crewConfig.cmake"
test -f "$libdir/pkgconfig/crew.pc"

step "find_package(crew) consumer"
gen=
command -v ninja >/dev/null 2>&1 && gen="-G Ninja"
# shellcheck disable=SC2086
if "$cmake" -S "$src" -B "$tmp/b" $gen -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS="$cflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags" \
    >"$tmp/configure.log" 2>&1; then
    for app in app app_static; do
        if "$cmake" --build "$tmp/b" --target $app >"$tmp/build.log" 2>&1; then
            check "find_package: $app" "$tmp/b/$app"
        else
            cat "$tmp/build.log"; fail "find_package: building $app"
        fi
    done
    # The shared library must come from the prefix, not from the build tree.
    if [ -x "$tmp/b/app" ] && command -v ldd >/dev/null 2>&1; then
        ldd "$tmp/b/app" | grep libcrew || true
        ldd "$tmp/b/app" | grep libcrew | grep -q "$prefix" ||
            fail "app does not load libcrew from $prefix"
    fi
else
    cat "$tmp/configure.log"; fail "find_package(crew): configure"
fi

step "pkg-config consumer"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
if flags=$(pkg-config --cflags --libs crew); then
    echo "pkg-config --cflags --libs crew: $flags"
    # shellcheck disable=SC2086
    if "$cc" $cflags "$src/main.c" -o "$tmp/app_pc" $flags $ldflags; then
        LD_LIBRARY_PATH="$libdir" check "pkg-config" "$tmp/app_pc"
    else
        fail "pkg-config: compile and link"
    fi
else
    fail "pkg-config --cflags --libs crew"
fi

if [ -n "$failed" ]; then
    echo "install consumer: FAILED:$failed" >&2
    exit 1
fi
echo "install consumer: OK"
