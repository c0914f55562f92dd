#!/usr/bin/env bash
# `kpleg watch` and `kpleg pods` end to end.
#
# Against the private containerd 1.6 (--mode generic) and 1.7 (default mode)
# started by scripts/run-tests.sh: `kpleg watch -o json` runs in the
# background while one pod gets one container running
# `/bin/sh -c 'sleep 0.3; exit 3'`, which is started, exits, and is removed
# with its pod. The JSON lines (schema: docs/EVENTS.md) must hold, for that
# container, ContainerStarted, ContainerDied (exit_code 3) and
# ContainerRemoved exactly once each and in that order, and SandboxReady,
# SandboxNotReady, SandboxRemoved for its sandbox. `kpleg pods` lists the pod
# while it exists.
#
# Why ContainerCreated is asserted only on 1.7: a relist sees a state, not a
# transition. With a 1 s relist, a container created and started within the
# same period is first seen RUNNING, and the kubelet's rules (REFERENCE §1)
# then emit only ContainerStarted. containerd 1.7's CRI event stream sends
# CONTAINER_CREATED for every container, so there it must appear; in generic
# mode it may appear at most once.
#
# Against fakecri (a runtime this test may kill): a runtime that goes away
# turns into a Health line, and back. Plus the failures: unreachable
# endpoints, bad flags.
# jq programs are single-quoted on purpose: their $vars are jq's.
# shellcheck disable=SC2016
set -euo pipefail
: "${KPLEG_BUILD:?run under scripts/run-tests.sh (make test)}"
: "${KPLEG_TEST_CD16:?needs containerd 1.6 from scripts/run-tests.sh}"
: "${KPLEG_TEST_CD17:?needs containerd 1.7 from scripts/run-tests.sh}"
command -v jq >/dev/null || { echo "watch_test: jq is required (scripts/install-deps.sh installs it)" >&2; exit 1; }
KPLEG=$KPLEG_BUILD/kpleg
PODCTL=$KPLEG_BUILD/podctl
FAKECRI=$KPLEG_BUILD/fakecri
for b in "$KPLEG" "$PODCTL" "$FAKECRI"; do
    [[ -x $b ]] || { echo "watch_test: $b not built" >&2; exit 1; }
done

NS=kpleg-watch-test
tmp=$(mktemp -d)
fails=0
bg_pids=()          # kpleg watch and fakecri processes still running
live_pod=()         # ENDPOINT SANDBOX-ID of a pod to remove on exit

cleanup() {
    local p
    for p in "${bg_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    if [[ ${#live_pod[@]} -eq 2 ]]; then
        "$PODCTL" -r "${live_pod[0]}" stopp "${live_pod[1]}" >/dev/null 2>&1 || true
        "$PODCTL" -r "${live_pod[0]}" rmp "${live_pod[1]}" >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck source=tests/support/testlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/support/testlib.sh"

# Runs kpleg with a time limit; sets $rc and $secs, output (both streams) in $out.
out=$tmp/out
kp() {
    local t0=$EPOCHREALTIME
    rc=0
    timeout 20 "$KPLEG" "$@" >"$out" 2>&1 || rc=$?
    secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%d", b-a}')
}
# The same with stdout alone in $out (logs go to stderr, $tmp/stderr).
kpo() {
    rc=0
    timeout 20 "$KPLEG" "$@" >"$out" 2>"$tmp/stderr" || rc=$?
}

sb_types() { # FILE SANDBOX-ID
    jqf -r --arg id "$2" 'select(.sandbox_id == $id and (.type | startswith("Sandbox"))) | .type' "$1" | paste -sd' '
}
seq_of() { # FILE TYPE ID-KEY ID -> seq of the first match
    jqf -r --arg t "$2" --arg k "$3" --arg id "$4" 'select(.type == $t and .[$k] == $id) | .seq' "$1" | head -n 1
}
container_exited() { # ENDPOINT ID
    [[ $("$PODCTL" -r "$1" status "$2" 2>/dev/null) == exited* ]]
}

every_line_is_object() { # FILE
    local lines objs
    lines=$(wc -l <"$1")
    objs=$(jqf -R 'try (fromjson | select(type == "object") | 1) catch empty' "$1" | wc -l)
    [[ $lines -gt 0 && $lines -eq $objs ]]
}

# Lifecycle lines carry every always-present key with the documented types.
schema_ok() { # FILE
    jqe "$1" '
      map(select(.type != "Health" and .type != "EventsLost")) | length > 0 and all(.[];
        (.type | type == "string") and (.seq | type == "number") and
        (.pod_uid | type == "string" and length > 0) and (.pod_name | type == "string") and
        (.namespace | type == "string") and
        (.source | IN("relist", "cri-event", "kernel")) and
        (.observed_mono_ns | type == "number" and . > 0) and
        (.observed_time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{9}Z$")))'
}

seq_increasing() { # FILE
    jqe "$1" '[.[] | select(.seq) | .seq] as $s | [range(1; $s | length) | $s[.] > $s[. - 1]] | all'
}

# The container's lines agree with what was created.
container_fields_ok() { # FILE CID SANDBOX UID NAME
    jqe "$1" 'map(select(.container_id == $id)) | length > 0 and all(.[];
        .sandbox_id == $sb and .pod_uid == $uid and .pod_name == $name and
        .namespace == $ns and .container_name == "app")' \
        --arg id "$2" --arg sb "$3" --arg uid "$4" --arg name "$5" --arg ns "$NS"
}

died_exit_3() { # FILE CID
    jqe "$1" 'map(select(.container_id == $id and .type == "ContainerDied")) | .[0].exit_code == 3' \
        --arg id "$2"
}

confirmed_once() { # FILE CID
    jqe "$1" 'map(select(.container_id == $id)) |
        (map(select(.type == "ContainerConfirmed")) | length) as $c |
        (map(select(.type == "ContainerDied"))[0]) as $d |
        if $d.provisional then $c == 1 and
            (map(select(.type == "ContainerConfirmed"))[0] |
             .exit_code == 3 and .kernel_exit_code == 3 and .corrected == false and
             .kernel_mono_ns == $d.kernel_mono_ns)
        else $c == 0 end' --arg id "$2"
}

sandbox_lines_have_no_container() { # FILE SANDBOX
    jqe "$1" 'map(select(.sandbox_id == $sb and (.type | startswith("Sandbox")))) |
        all(has("container_id") | not)' --arg sb "$2"
}

pods_json_lists() { # FILE UID NAME CID
    jq -e --arg uid "$2" --arg name "$3" --arg id "$4" --arg ns "$NS" '
      map(select(.uid == $uid)) | length == 1 and (.[0] |
        .name == $name and .namespace == $ns and (.sandboxes | length >= 1) and
        any(.containers[]; .id == $id and .name == "app" and .state == "Exited" and .exit_code == 3))
    ' "$1" >/dev/null 2>&1
}

# ---- one runtime ------------------------------------------------------------
run_case() { # LABEL ENDPOINT EVENTS(yes|no) WATCH-ARGS...
    local label=$1 ep=$2 events=$3
    shift 3
    local json=$tmp/$label.json log=$tmp/$label.log text=$tmp/$label.txt
    local name="watch-$label-$$" sb uid cid line watch_pid text_pid=
    echo "--- $label: kpleg watch $* against $ep"

    start_bg "$json" "$log" "$KPLEG" watch --runtime-endpoint "$ep" -o json "$@"
    watch_pid=$bg_pid
    if [[ $events == no ]]; then
        # A second watcher in text form; harmless in generic mode (no event stream to share).
        start_bg "$text" "$tmp/$label.text.log" "$KPLEG" watch --runtime-endpoint "$ep" -o text "$@"
        text_pid=$bg_pid
    fi
    must "$label: watch synced" wait_for 15 log_has "$log" '"Tracker synced"'
    if [[ -n $text_pid ]]; then
        # Its first sync must come before the pod, or it reports nothing of it.
        must "$label: text watcher synced" wait_for 15 log_has "$tmp/$label.text.log" '"Tracker synced"'
    fi
    if [[ $events == yes ]]; then
        must "$label: CRI event stream connected" wait_for 15 log_has "$log" 'CRI event stream connected'
    fi

    line=$("$PODCTL" -r "$ep" pod "$name" --namespace "$NS")
    read -r sb uid <<<"$line"
    live_pod=("$ep" "$sb")
    cid=$("$PODCTL" -r "$ep" ctr "$sb" app -- /bin/sh -c 'sleep 0.3; exit 3')
    "$PODCTL" -r "$ep" start "$cid"
    must "$label: container exited" wait_for 15 container_exited "$ep" "$cid"
    must "$label: ContainerDied seen" wait_for 10 has_event "$json" ContainerDied container_id "$cid"

    kpo pods --runtime-endpoint "$ep" -o json
    cp "$out" "$tmp/$label.pods.json"
    check "$label: pods -o json exit 0" test "$rc" -eq 0
    check "$label: pods -o json lists the pod and its exited container" \
        pods_json_lists "$tmp/$label.pods.json" "$uid" "$name" "$cid"
    kpo pods --runtime-endpoint "$ep" -o wide
    check "$label: pods -o wide shows the pod and container" \
        bash -c "grep -q '^$NS  *$name  *$uid ' '$out' && grep -q '└ app  *${cid:0:13} .*exit=3' '$out'"

    # Each step waits for its event, so a 1 s relist sees every state; the
    # text watcher relists on its own phase, so it gets its own wait.
    if [[ -n $text_pid ]]; then
        check "$label: text watcher saw the exit" wait_for 10 grep -q " ContainerDied .*${cid:0:13}" "$text"
    fi
    "$PODCTL" -r "$ep" rm "$cid"
    check "$label: ContainerRemoved seen" wait_for 10 has_event "$json" ContainerRemoved container_id "$cid"
    "$PODCTL" -r "$ep" stopp "$sb"
    check "$label: SandboxNotReady seen" wait_for 10 has_event "$json" SandboxNotReady sandbox_id "$sb"
    "$PODCTL" -r "$ep" rmp "$sb"
    live_pod=()
    check "$label: SandboxRemoved seen" wait_for 10 has_event "$json" SandboxRemoved sandbox_id "$sb"
    sleep 1.5 # late duplicates would show up here

    stop_bg "$watch_pid" INT
    check "$label: SIGINT stops watch cleanly (exit 0)" test "$rc" -eq 0
    echo "    events for the test pod:"
    jqf -c --arg sb "$sb" 'select(.sandbox_id == $sb)' "$json" | sed 's/^/    /'

    check "$label: every line is one JSON object" every_line_is_object "$json"
    check "$label: lifecycle lines follow the schema" schema_ok "$json"
    check "$label: seq strictly increasing" seq_increasing "$json"
    local types want
    types=$(ctr_types "$json" "$cid")
    if [[ $events == yes ]]; then
        # Default mode: with kernel hints the Died may be provisional, and
        # then exactly one ContainerConfirmed follows it.
        want="ContainerCreated ContainerStarted ContainerDied ContainerRemoved"
        check "$label: container events exactly '$want' (got '$types')" \
            test "${types/ ContainerConfirmed/}" = "$want"
        check "$label: a provisional ContainerDied is confirmed once, exit 3 both times" \
            confirmed_once "$json" "$cid"
    else
        want="ContainerStarted ContainerDied ContainerRemoved"
        check "$label: container events '[ContainerCreated] $want' (got '$types')" \
            test "${types#ContainerCreated }" = "$want"
    fi
    check "$label: ContainerDied exit_code 3" died_exit_3 "$json" "$cid"
    check "$label: container lines name the pod, sandbox and container" \
        container_fields_ok "$json" "$cid" "$sb" "$uid" "$name"
    types=$(sb_types "$json" "$sb")
    want="SandboxReady SandboxNotReady SandboxRemoved"
    check "$label: sandbox events exactly '$want' (got '$types')" test "$types" = "$want"
    check "$label: sandbox lines carry no container_id" sandbox_lines_have_no_container "$json" "$sb"
    check "$label: ContainerRemoved before SandboxNotReady" test \
        "$(seq_of "$json" ContainerRemoved container_id "$cid")" -lt \
        "$(seq_of "$json" SandboxNotReady sandbox_id "$sb")"
    check "$label: no Health flip on a healthy runtime" \
        test -z "$(jqf -c 'select(.type == "Health")' "$json")"

    if [[ -n $text_pid ]]; then
        stop_bg "$text_pid" TERM
        check "$label: SIGTERM stops watch -o text cleanly (exit 0)" test "$rc" -eq 0
        check "$label: text output has a header and the died line" \
            bash -c "head -n 1 '$text' | grep -q '^TIME  *EVENT  *POD' &&
                     grep -Eq ' ContainerDied  *$NS/$name  *app  *${cid:0:13} +exit 3' '$text'"
    fi
}

run_case cd16 "$KPLEG_TEST_CD16" no --mode generic
run_case cd17 "$KPLEG_TEST_CD17" yes -v 1 # -v 1: watch logs the stream connecting

# ---- a runtime that goes away (fakecri, which this test owns) -------------------
echo "--- health: fakecri killed and restarted under kpleg watch"
fsock=$tmp/fakecri.sock
start_bg "$tmp/fakecri.out" "$tmp/fakecri.log" "$FAKECRI" --socket "$fsock" --pods 2
fake_pid=$bg_pid
must "fakecri up" wait_for 10 test -S "$fsock"
kpo pods --runtime-endpoint "$fsock"
cat "$out"
check "fakecri: pods exit 0" test "$rc" -eq 0
check "fakecri: pods table lists 2 pods" test "$(grep -vc '^NAMESPACE' "$out" || true)" -eq 2
hjson=$tmp/health.json
hlog=$tmp/health.log
start_bg "$hjson" "$hlog" "$KPLEG" watch --runtime-endpoint "unix://$fsock" --mode generic \
    --relist-period 200 --health-threshold 1500 -o json
health_pid=$bg_pid
must "health: watch synced" wait_for 15 log_has "$hlog" '"Tracker synced"'
stop_bg "$fake_pid" TERM
check "health: Health false within 6 s of the runtime going away" \
    wait_for 6 jqe "$hjson" 'any(.type == "Health" and .healthy == false and (.reason | length > 0))'
check "health: the relist failure is logged" log_has "$hlog" '"Relist failed'
start_bg "$tmp/fakecri2.out" "$tmp/fakecri2.log" "$FAKECRI" --socket "$fsock" --pods 2
fake_pid=$bg_pid
check "health: Health true again after the runtime is back" \
    wait_for 10 jqe "$hjson" 'map(select(.type == "Health")) | .[-1].healthy == true'
stop_bg "$health_pid" INT
check "health: watch exits 0" test "$rc" -eq 0
jqf -c 'select(.type == "Health")' "$hjson" | sed 's/^/    /'
stop_bg "$fake_pid" TERM

# ---- failures -------------------------------------------------------------------
echo "--- failures"
for cmd in watch pods; do
    kp "$cmd" --runtime-endpoint unix:///run/kpleg-test/does-not-exist.sock
    cat "$out"
    check "$cmd, missing socket: exit 1" test "$rc" -eq 1
    check "$cmd, missing socket: one line" test "$(wc -l <"$out")" -eq 1
    check "$cmd, missing socket: names the endpoint" grep -q 'does-not-exist.sock' "$out"
    check "$cmd, missing socket: within 5 s" test "$secs" -lt 5
    # containerd's ttrpc socket is a live socket that does not speak gRPC.
    kp "$cmd" --runtime-endpoint "${KPLEG_TEST_CD17}.ttrpc"
    cat "$out"
    check "$cmd, not CRI: exit 1" test "$rc" -eq 1
    check "$cmd, not CRI: one line" test "$(wc -l <"$out")" -eq 1
    check "$cmd, not CRI: within 5 s" test "$secs" -lt 5
    kp "$cmd" --runtime-endpoint tcp://127.0.0.1:1
    check "$cmd, tcp endpoint: exit 2" test "$rc" -eq 2
    kp "$cmd" --bogus
    check "$cmd, unknown flag: exit 2, one line" test "$rc" -eq 2 -a "$(wc -l <"$out")" -eq 1
    kp "$cmd" --output
    check "$cmd, flag without its value: exit 2, one line" test "$rc" -eq 2 -a "$(wc -l <"$out")" -eq 1
    kp "$cmd" stray
    check "$cmd, stray argument: exit 2, one line" test "$rc" -eq 2 -a "$(wc -l <"$out")" -eq 1
    kp "$cmd" -o yaml
    check "$cmd, bad -o: exit 2, one line" test "$rc" -eq 2 -a "$(wc -l <"$out")" -eq 1
done
for args in "--mode bogus" "--relist-period 0" "--relist-period 5x" "--health-threshold -1" "-v x"; do
    # shellcheck disable=SC2086
    kp watch $args
    check "watch $args: exit 2, one line" test "$rc" -eq 2 -a "$(wc -l <"$out")" -eq 1
done
kp pods --timeout 0
check "pods --timeout 0: exit 2" test "$rc" -eq 2
kp watch --help
check "watch --help: exit 0" test "$rc" -eq 0
for o in --runtime-endpoint --mode --output --relist-period --health-threshold -v --help; do
    check "watch --help documents $o" grep -q -- " $o" "$out"
done
check "watch --help gives defaults" test "$(grep -c 'default' "$out")" -ge 5
kp pods --help
check "pods --help: exit 0" test "$rc" -eq 0
for o in --runtime-endpoint --output --timeout --help; do
    check "pods --help documents $o" grep -q -- " $o" "$out"
done

[[ $fails -eq 0 ]]
