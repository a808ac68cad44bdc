#!/bin/sh
# Regenerates the seed corpus in corpus/. Each file is a script for
# fuzz_api.c: byte 0 = workers-1 (bit 0), then op bytes and operands.
# Ops: 00 submit, 01 cancel, 02 stale-ID calls, 03 wait, 04 release,
# 05 join, 06 inspect, 07 open gate, 08 group create, 09 group cancel,
# 0a group wait, 0b group destroy, 0c shutdown, 0d cancel_wait, 0e batch,
# 0f arm allocation failure, 10 stats. Submit operands: b1 (bit 7 detached,
# bit 6 no cleanup, bits 3-5 group slot, >= 4 none), b2 (kind = b2 % 8:
# done, fail, self-cancel, check, spawn+join, spawn detached, gated,
# spawn+wait; param = b2 >> 3).
set -eu
cd "$(dirname "$0")/corpus"
w() { printf "$2" >"$1"; }
# One worker blocked at a gate: the task queued behind it is REMOVED, the
# gated one REQUESTED; then open, wait, join, stale IDs.
w gate-cancel   '\000\000\040\006\000\040\000\006\000\001\001\001\000\007\000\003\000\003\005\000\005\001\002\002\002\001'
# Nested groups: spawn+join and checks in them, cancel the outer group,
# destroy inner before outer.
w groups        '\001\010\070\010\001\000\000\014\000\010\003\016\013\001\011\000\012\015\013\000\013\001\013\000\020'
# Work, then a CANCEL shutdown with a gated task, then refused calls.
w shutdown      '\001\000\040\004\000\040\005\000\040\006\000\240\002\016\043\007\014\001\000\040\000\010\001\006\000\006\001\005\002'
# Armed allocation failure under submissions, spawns and group creation.
w faults        '\001\017\002\000\040\004\016\043\014\010\070\000\000\005\001\000\001\001\020\000\040\017\005\000'
# Self-cancel, detached children, spawn+wait, cancel_wait, release.
w misc          '\000\000\040\002\000\040\007\000\100\005\000\240\004\015\000\001\015\001\003\004\001\004\001\002\002\006\002'
# Fail-fast group with a failing member and slow siblings.
w failfast      '\001\010\074\000\000\001\000\000\003\000\000\014\012\014\006\000\006\001\020'
