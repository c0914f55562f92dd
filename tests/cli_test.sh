#!/usr/bin/env bash
# `kpleg info` end to end against the private containerd 1.6 and 1.7 started
# by scripts/run-tests.sh, plus its errors: missing socket, a socket that does
# not speak CRI, bad flags.
set -euo pipefail
: "${KPLEG_BUILD:?run under scripts/run-tests.sh (make test)}"
: "${KPLEG_TEST_CD16:?needs containerd 1.6 from scripts/run-tests.sh}"
: "${KPLEG_TEST_CD17:?needs containerd 1.7 from scripts/run-tests.sh}"
KPLEG=$KPLEG_BUILD/kpleg
fails=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

check() { # DESCRIPTION CONDITION...
    local what=$1
    shift
    if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}

# Runs kpleg with a time limit; sets $rc and $secs, output in $out.
kp() {
    local t0=$EPOCHREALTIME
    rc=0
    timeout 20 "$KPLEG" "$@" >"$out" 2>&1 || rc=$?
    secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%d", b-a}')
}

kp info --runtime-endpoint "$KPLEG_TEST_CD17"
cat "$out"
check "1.7: exit 0" test "$rc" -eq 0
check "1.7: version 1.7.x" grep -Eq '^runtime: containerd 1\.7\.' "$out"
check "1.7: api version" grep -q '^api version: v1$' "$out"
check "1.7: conditions" grep -q '^conditions: RuntimeReady=true' "$out"
check "1.7: events supported" grep -qx 'events: supported' "$out"
check "1.7: bpf line" grep -q '^bpf: available' "$out"

kp info --runtime-endpoint "${KPLEG_TEST_CD16#unix://}"
cat "$out"
check "1.6 (plain path): exit 0" test "$rc" -eq 0
check "1.6: version 1.6.x" grep -Eq '^runtime: containerd 1\.6\.' "$out"
check "1.6: events not supported" grep -qx 'events: not supported (UNIMPLEMENTED)' "$out"

kp info --runtime-endpoint unix:///run/kpleg-test/does-not-exist.sock
cat "$out"
check "missing socket: exit 1" test "$rc" -eq 1
check "missing socket: one line" test "$(wc -l <"$out")" -eq 1
check "missing socket: names the endpoint" grep -q 'does-not-exist.sock' "$out"
check "missing socket: within 5 s" test "$secs" -lt 5

# containerd's ttrpc socket is a live socket that does not speak gRPC.
kp info --runtime-endpoint "${KPLEG_TEST_CD17}.ttrpc"
cat "$out"
check "not CRI: exit 1" test "$rc" -eq 1
check "not CRI: one line" test "$(wc -l <"$out")" -eq 1
check "not CRI: within 5 s" test "$secs" -lt 5

kp info --runtime-endpoint tcp://127.0.0.1:1
check "tcp endpoint refused: exit 2" test "$rc" -eq 2
kp info --timeout 0
check "bad --timeout: exit 2" test "$rc" -eq 2
kp info --bogus
check "unknown flag: exit 2" test "$rc" -eq 2
kp frobnicate
check "unknown command: exit 2" test "$rc" -eq 2
kp --help
check "--help: exit 0" test "$rc" -eq 0

[[ $fails -eq 0 ]]
