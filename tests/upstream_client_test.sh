#!/usr/bin/env bash
# A CRI client built from the upstream cri-api proto alone (build/upstream-cri,
# tests/tools/upstream_cri/: no kpleg code) runs one kubelet-like pod lifecycle
# while reading GetContainerEvents on the same socket: RunPodSandbox,
# CreateContainer (`/bin/sh -c 'sleep 0.3; exit 3'`), StartContainer,
# ContainerStatus until EXITED, RemoveContainer, StopPodSandbox,
# RemovePodSandbox. It writes every event received as one JSON line.
#
# Against containerd 1.7 directly, this records the reference: what a runtime
# with a native event stream sends for that lifecycle. check_upstream_events
# holds it, so the same checks can judge any other server of the stream (kpleg's
# CRI proxy). containerd 1.7.24 sends, per object, in this order:
#   sandbox:   CREATED, STARTED  (sandbox status READY, statuses [])
#   container: CREATED, STARTED  (sandbox READY, statuses [its own: CREATED / RUNNING])
#              STOPPED           (sandbox READY, statuses [its own: EXITED, exit 3, "Error"])
#              DELETED           (sandbox READY, statuses [])
#   sandbox:   STOPPED           (sandbox NOTREADY, statuses [])
#              DELETED           (no sandbox status, statuses [])
# created_at is in nanoseconds. Sandbox events carry the sandbox id as
# container_id.
#
# containerd 1.7 hands each event to ONE GetContainerEvents subscriber, and the
# handler of a stream its client has closed stays parked until it has taken
# (and lost) one more event; earlier tests leave such handlers on the shared
# instance. --drain runs a throwaway pod first until one of its events reaches
# the tool, which clears them (tests/tools/upstream_cri/main.c).
#
# Against containerd 1.6 directly (no events): the stream is UNIMPLEMENTED at
# once and the lifecycle still succeeds; that is the gap kpleg's proxy fills.
#
# Through `kpleg daemon --cri-proxy-socket P` in front of containerd 1.6: two
# clients run their lifecycles at once, each on P; each must receive exactly
# what containerd 1.7 sends (the same checks), for its own pod AND for the
# other's (every subscriber gets every event, unlike containerd 1.7), while
# `kpleg status` on the daemon's socket answers.
# jq programs are single-quoted on purpose: their $vars are jq's.
# shellcheck disable=SC2016
set -euo pipefail
: "${KPLEG_BUILD:?run under scripts/run-tests.sh (make test)}"
: "${KPLEG_TEST_CD17:?needs containerd 1.7 from scripts/run-tests.sh}"
: "${KPLEG_TEST_CD16:?needs containerd 1.6 from scripts/run-tests.sh}"
command -v jq >/dev/null || { echo "upstream_client_test: jq is required (scripts/install-deps.sh installs it)" >&2; exit 1; }
UPCRI=$KPLEG_BUILD/upstream-cri
[[ -x $UPCRI ]] || { echo "upstream_client_test: $UPCRI not built (make $UPCRI)" >&2; exit 1; }

NS=kpleg-upstream-test
tmp=$(mktemp -d)
fails=0
bg_pids=()          # processes started with start_bg, killed on exit

cleanup() {
    local p
    for p in "${bg_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck source=tests/support/testlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/support/testlib.sh"

# Runs the tool's lifecycle against ENDPOINT; events in $tmp/LABEL.json,
# stderr in $tmp/LABEL.log; sets $rc.
run_lifecycle() { # LABEL ENDPOINT [TOOL-ARGS...]
    local label=$1 ep=$2
    shift 2
    rc=0
    timeout -k 10 120 "$UPCRI" -r "$ep" lifecycle --exit-code 3 --events-out "$tmp/$label.json" \
        --pod-name "upstream-$label-$$" --namespace "$NS" "$@" 2>"$tmp/$label.log" || rc=$?
    sed 's/^/    stderr: /' "$tmp/$label.log"
}

# Prints the events with ids cut to 8 characters, for the log.
show_events() { # FILE
    jqf -c 'walk(if type == "string" and test("^[0-9a-f]{64}$") then .[0:8] + "…" else . end)' "$1" |
        sed 's/^/    /'
}

# ---- the reference, as checks over one events file ---------------------------
# jq over the array of FILE's CRI events (not the tool's own lines), with $sb,
# $cid and $uid from the lifecycle-done line.
evq() { # FILE PROGRAM
    jq -e -s --arg sb "$_sb" --arg cid "$_cid" --arg uid "$_uid" \
        'map(select(.type | test("^CONTAINER_[A-Z]+_EVENT$"))) | '"$2" "$1" >/dev/null 2>&1
}
types_of() { # FILE ID -> CRI event types for that object, in arrival order
    jqf -r --arg id "$2" 'select(.container_id == $id and (.type | endswith("_EVENT"))) | .type' "$1" |
        paste -sd' '
}

# Every check the reference (containerd 1.7) passes; LABEL prefixes each line.
check_upstream_events() { # LABEL FILE
    local l=$1 f=$2 types want
    local C=CONTAINER_CREATED_EVENT S=CONTAINER_STARTED_EVENT P=CONTAINER_STOPPED_EVENT
    local D=CONTAINER_DELETED_EVENT
    check "$l: every line is one JSON object" \
        test "$(wc -l <"$f")" -gt 0 -a "$(wc -l <"$f")" -eq \
        "$(jqf -R 'try (fromjson | select(type == "object") | 1) catch empty' "$f" | wc -l)"
    check "$l: last line is lifecycle-done with exit_code 3" \
        jqe "$f" '.[-1] | .type == "lifecycle-done" and .exit_code == 3'
    _sb=$(jqf -r 'select(.type == "lifecycle-done") | .sandbox_id' "$f")
    _cid=$(jqf -r 'select(.type == "lifecycle-done") | .container_id' "$f")
    _uid=$(jqf -r 'select(.type == "lifecycle-done") | .pod_uid' "$f")
    check "$l: the stream did not end on its own" jqe "$f" 'all(.type != "stream-end")'
    check "$l: every event decodes" jqe "$f" 'all(.type != "undecodable")'

    types=$(types_of "$f" "$_cid")
    want="$C $S $P $D"
    check "$l: container events exactly '$want' (got '$types')" test "$types" = "$want"
    types=$(types_of "$f" "$_sb")
    check "$l: sandbox events exactly '$want' (got '$types')" test "$types" = "$want"

    check "$l: container events have is_sandbox false" \
        evq "$f" 'map(select(.container_id == $cid)) | all(.is_sandbox == false)'
    check "$l: sandbox events have is_sandbox true" \
        evq "$f" 'map(select(.container_id == $sb)) | all(.is_sandbox == true)'
    check "$l: created_at in nanoseconds, never decreasing per object" evq "$f" '
        . as $all | [$cid, $sb] | all(. as $id |
          $all | map(select(.container_id == $id) | .created_at) |
          all(. > 1000000000000000000) and . == sort)'
    check "$l: every container event has the pod's READY sandbox status" evq "$f" '
        map(select(.container_id == $cid)) | all(.has_sandbox_status and .sandbox_id == $sb and
          .pod_uid == $uid and .sandbox_state == "SANDBOX_READY")'
    check "$l: container CREATED lists itself CONTAINER_CREATED" evq "$f" '
        map(select(.container_id == $cid and .type == "'$C'"))[0].statuses |
          map(.id) == [$cid] and .[0].state == "CONTAINER_CREATED"'
    check "$l: container STARTED lists itself CONTAINER_RUNNING" evq "$f" '
        map(select(.container_id == $cid and .type == "'$S'"))[0].statuses |
          map(.id) == [$cid] and .[0].state == "CONTAINER_RUNNING"'
    check "$l: container STOPPED lists itself CONTAINER_EXITED, exit_code 3, reason Error" evq "$f" '
        map(select(.container_id == $cid and .type == "'$P'"))[0].statuses |
          map(.id) == [$cid] and .[0].state == "CONTAINER_EXITED" and .[0].exit_code == 3 and
          .[0].reason == "Error" and .[0].name == "app"'
    check "$l: container DELETED lists no container" evq "$f" '
        map(select(.container_id == $cid and .type == "'$D'"))[0].statuses == []'
    check "$l: sandbox CREATED, STARTED: status READY with the pod's uid, no containers" evq "$f" '
        map(select(.container_id == $sb and (.type == "'$C'" or .type == "'$S'"))) |
          all(.has_sandbox_status and .sandbox_id == $sb and .pod_uid == $uid and
              .sandbox_state == "SANDBOX_READY" and .statuses == [])'
    check "$l: sandbox STOPPED: status NOTREADY with the pod's uid, no containers" evq "$f" '
        map(select(.container_id == $sb and .type == "'$P'"))[0] |
          .has_sandbox_status and .sandbox_id == $sb and .pod_uid == $uid and
          .sandbox_state == "SANDBOX_NOTREADY" and .statuses == []'
    check "$l: sandbox DELETED: no sandbox status, no containers" evq "$f" '
        map(select(.container_id == $sb and .type == "'$D'"))[0] |
          .has_sandbox_status == false and .statuses == []'
    check "$l: sandbox STARTED before container CREATED, container DELETED before sandbox STOPPED" \
        evq "$f" '
        def at($id; $t): map(.container_id == $id and .type == $t) | index(true);
        at($sb; "'$S'") < at($cid; "'$C'") and at($cid; "'$D'") < at($sb; "'$P'")'
}

# ---- containerd 1.7: the reference --------------------------------------------
echo "--- cd17: upstream-cri --drain against containerd 1.7 ($KPLEG_TEST_CD17)"
run_lifecycle cd17 "$KPLEG_TEST_CD17" --drain
check "cd17: lifecycle exit 0" test "$rc" -eq 0
show_events "$tmp/cd17.json"
check_upstream_events cd17 "$tmp/cd17.json"

# ---- containerd 1.6: no event stream -------------------------------------------
echo "--- cd16: upstream-cri against containerd 1.6 ($KPLEG_TEST_CD16)"
run_lifecycle cd16 "$KPLEG_TEST_CD16"
check "cd16: lifecycle exit 0" test "$rc" -eq 0
show_events "$tmp/cd16.json"
check "cd16: GetContainerEvents is UNIMPLEMENTED, and that is the only line before lifecycle-done" \
    jqe "$tmp/cd16.json" 'map(.type) == ["stream-end", "lifecycle-done"] and
        .[0].code == "UNIMPLEMENTED" and .[1].exit_code == 3'
check "cd16: stderr says so" grep -q 'GetContainerEvents: stream ended: UNIMPLEMENTED' "$tmp/cd16.log"

# ---- containerd 1.6 through kpleg's CRI proxy ---------------------------------------
echo "--- proxy: two upstream-cri clients through kpleg's CRI proxy in front of containerd 1.6"
KPLEG=$KPLEG_BUILD/kpleg
chmod 755 "$tmp"
start_bg "$tmp/daemon.out" "$tmp/daemon.log" "$KPLEG" daemon -r "$KPLEG_TEST_CD16" \
    -s "$tmp/kpleg.sock" --cri-proxy-socket "$tmp/cri.sock"
daemon_pid=$bg_pid
must "proxy: daemon serving the CRI proxy" wait_for 20 log_has "$tmp/daemon.log" '"Serving the CRI proxy"'
must "proxy: daemon synced" wait_for 20 bash -c "'$KPLEG' status -s '$tmp/kpleg.sock' -o json | jq -e .synced >/dev/null"
run_lifecycle_bg() { # LABEL
    timeout -k 10 120 "$UPCRI" -r "unix://$tmp/cri.sock" lifecycle --exit-code 3 \
        --events-out "$tmp/$1.json" --pod-name "upstream-$1-$$" --namespace "$NS" \
        2>"$tmp/$1.log" &
}
run_lifecycle_bg proxyA
pa=$!
run_lifecycle_bg proxyB
pb=$!
# Meanwhile the daemon's own API lists the pods the clients run.
check "proxy: kpleg pods on the daemon's socket lists a client's pod meanwhile" wait_for 20 \
    bash -c "'$KPLEG' pods -s '$tmp/kpleg.sock' -n '$NS' -o json | jq -e 'length >= 1' >/dev/null"
rc=0; wait "$pa" || rc=$?
check "proxy: client A's lifecycle exit 0" test "$rc" -eq 0
rc=0; wait "$pb" || rc=$?
check "proxy: client B's lifecycle exit 0" test "$rc" -eq 0
show_events "$tmp/proxyA.json"
check_upstream_events proxyA "$tmp/proxyA.json"
check_upstream_events proxyB "$tmp/proxyB.json"
# Each client saw the other's pod too: its events, judged by the same checks.
for pair in A:B B:A; do
    me=${pair%%:*} other=${pair#*:}
    # The tool tells a sandbox's DELETED (which has no status) from a
    # container's only for sandboxes it made: mark the other client's here.
    osb=$(jqf -r 'select(.type == "lifecycle-done") | .sandbox_id' "$tmp/proxy$other.json")
    jqf -c --arg sb "$osb" 'select(.type != "lifecycle-done") |
        if .container_id == $sb then .is_sandbox = true else . end' \
        "$tmp/proxy$me.json" >"$tmp/cross$me.json"
    tail -n 1 "$tmp/proxy$other.json" >>"$tmp/cross$me.json"
    check_upstream_events "proxy: client $me sees $other's pod" "$tmp/cross$me.json"
done
check "proxy: the daemon's Status answers, proxy and all" \
    bash -c "'$KPLEG' status -s '$tmp/kpleg.sock' -o json | jq -e '.healthy and .provisional >= 2' >/dev/null"
stop_bg "$daemon_pid" TERM
check "proxy: SIGTERM stops the daemon (exit 0) and removes both sockets" \
    bash -c "[[ $rc -eq 0 ]] && [[ ! -e '$tmp/kpleg.sock' ]] && [[ ! -e '$tmp/cri.sock' ]]"

# ---- the tool's own failures ------------------------------------------------------
echo "--- failures"
run_lifecycle nosock unix:///run/kpleg-test/does-not-exist.sock
check "unreachable socket: exit 1" test "$rc" -eq 1
check "unreachable socket: stderr names the failed call" grep -q '^upstream-cri: RunPodSandbox: UNAVAILABLE' "$tmp/nosock.log"
check "unreachable socket: no lifecycle-done line" \
    bash -c "! grep -q lifecycle-done '$tmp/nosock.json'"
if [[ -n ${KPLEG_TEST_CD16:-} ]]; then
    # On 1.6: every stream closed on 1.7 costs later tests there one event.
    run_lifecycle badimage "$KPLEG_TEST_CD16" --image localhost/kpleg/no-such-image:1
    check "missing image: exit 1" test "$rc" -eq 1
    check "missing image: stderr names CreateContainer" grep -q '^upstream-cri: CreateContainer: ' "$tmp/badimage.log"
fi
# The tool leaves no pod behind, after success or failure.
no_pod_left() { # ENDPOINT
    "$KPLEG_BUILD/kpleg" pods --runtime-endpoint "$1" -o json >"$tmp/pods.json" 2>"$tmp/pods.log" &&
        jq -e --arg ns "$NS" 'map(select(.namespace == $ns)) | length == 0' "$tmp/pods.json" >/dev/null
}
for ep in "$KPLEG_TEST_CD17" ${KPLEG_TEST_CD16:+"$KPLEG_TEST_CD16"}; do
    check "no pod of namespace $NS left on $ep" no_pod_left "$ep"
done
for args in "" "-r /x" "-r /x lifecycle --exit-code 256" "-r /x lifecycle --bogus" "-r tcp://x:1 lifecycle" \
    "-r /x lifecycle extra"; do
    rc=0
    # shellcheck disable=SC2086
    "$UPCRI" $args >/dev/null 2>"$tmp/usage.log" || rc=$?
    check "usage '$args': exit 2" test "$rc" -eq 2
done
rc=0
"$UPCRI" --help >"$tmp/help.txt" 2>&1 || rc=$?
check "--help: exit 0 and documents --drain" test "$rc" -eq 0 -a "$(grep -c -- '--drain' "$tmp/help.txt")" -ge 1

[[ $fails -eq 0 ]]
