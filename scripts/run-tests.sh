#!/usr/bin/env bash
# Runs every kpleg test: unit tests, fakecri tests, the CRI client against real
# containerd 1.6 and 1.7, and the CLI end to end. Starts the private runtimes
# it needs and always tears them down. Called by `make test` (BUILD=build or
# build/asan). Last line: "N passed, N failed".
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
export KPLEG_BUILD=$ROOT/$BUILD
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0
failed=0
failures=()

if [[ $(id -u) -ne 0 ]]; then
    echo "run-tests: the tests start containerd and load BPF programs: run them as root" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

# Only this suite's instances: a benchmark or a demo may be running beside it.
INSTANCES=(1.6:cd16 1.7:cd17 1.7:cdkill 1.6:rr16 1.7:rr17)
cleanup() {
    local v
    for v in "${INSTANCES[@]}"; do
        scripts/containerd.sh stop "${v%%:*}" --name "${v#*:}" >/dev/null 2>&1 || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_runtime() { # VERSION NAME VAR
    local sock
    if ! sock=$(scripts/containerd.sh start "$1" --name "$2" | tail -n 1) || [[ ! -S $sock ]]; then
        echo "run-tests: could not start containerd $1 ($2); see /run/kpleg-test/$2/containerd.log" >&2
        exit 1
    fi
    export "$3=unix://$sock"
    export "$3_PIDFILE=/run/kpleg-test/$2/containerd.pid"
}

cleanup
start_runtime 1.6 cd16 KPLEG_TEST_CD16
start_runtime 1.7 cd17 KPLEG_TEST_CD17
start_runtime 1.7 cdkill KPLEG_TEST_CDKILL
# Stopped and started again by runtime_restart_test.sh (the daemon alone).
start_runtime 1.6 rr16 KPLEG_TEST_RR16
start_runtime 1.7 rr17 KPLEG_TEST_RR17

run() { # NAME CMD...
    local name=$1 t0 t1
    shift
    echo "=== $name"
    t0=$EPOCHREALTIME
    if "$@"; then
        passed=$((passed + 1))
        printf -- '--- PASS %s (%ss)\n' "$name" "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')"
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "--- FAIL $name"
    fi
}

for t in "$BUILD"/tests/test_*; do
    [[ -x $t ]] || continue
    name=$(basename "$t")
    case $name in
    test_proto_compat)
        run "$name" "$t" "$BUILD/gen/cri.desc" "$BUILD/gen/upstream.desc" "$BUILD/gen/bad_cri.desc" ;;
    *)
        run "$name" "$t" ;;
    esac
done

for t in tests/*_test.sh; do
    [[ -f $t ]] || continue
    run "$(basename "$t" .sh)" bash "$t"
done

echo
[[ $failed -gt 0 ]] && printf 'failed: %s\n' "${failures[*]}"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
