#!/usr/bin/env bash
# The CLI as the daemon's client, end to end: `kpleg pods`, `kpleg get`,
# `kpleg events` (and `kpleg status`) against a `kpleg daemon --no-bpf` on a
# fakecri this test owns, with changes driven through podctl:
#   - pods: the table, -o wide, -o json (valid, the same as a local tracker's
#     with -r), -n and -l filters;
#   - get: by UID and by NAMESPACE/NAME, -o json (the `pods -o json` element),
#     --fresh (newer data than before), NOT_FOUND: one line, exit 1;
#   - events: the replay buffer in order and caught up, its filters,
#     --from-seq; --follow receiving new events and stopping on SIGINT/SIGTERM
#     (exit 0); the stream breaking when the daemon stops (one line, exit 1);
#   - a wrapped replay buffer and another epoch: a Resync line, then the
#     events after it;
#   - no daemon (or something else on the socket): one line and exit 1 from
#     every command; bad flags exit 2.
# jq programs are single-quoted on purpose: their $vars are jq's.
# shellcheck disable=SC2016
set -euo pipefail
: "${KPLEG_BUILD:?run under scripts/run-tests.sh (make test)}"
command -v jq >/dev/null || { echo "client_test: jq is required" >&2; exit 1; }
KPLEG=$KPLEG_BUILD/kpleg
FAKECRI=$KPLEG_BUILD/fakecri
PODCTL=$KPLEG_BUILD/podctl
for b in "$KPLEG" "$FAKECRI" "$PODCTL"; do
    [[ -x $b ]] || { echo "client_test: $b not built" >&2; exit 1; }
done

tmp=$(mktemp -d)
fails=0
bg_pids=()
cleanup() {
    local p
    for p in "${bg_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
# shellcheck source=tests/support/testlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/support/testlib.sh"

SOCK=$tmp/kpleg.sock
FSOCK=$tmp/fakecri.sock
EP=unix://$FSOCK
NS=shop

# Runs a client command with a time limit: $rc, $secs, stdout in $out, stderr in $err.
out=$tmp/out
err=$tmp/err
kc() {
    local t0=$EPOCHREALTIME
    rc=0
    timeout 20 "$KPLEG" "$@" >"$out" 2>"$err" || rc=$?
    secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%d", b-a}')
}
lines() { wc -l <"$1"; }
one_line() { [[ $(lines "$1") -eq 1 ]]; }
pods_json() { "$KPLEG" pods -s "$SOCK" -o json "$@" 2>/dev/null; }
status_json() { "$KPLEG" status -s "$SOCK" -o json 2>/dev/null; }
every_line_is_object() { # FILE
    local n objs
    n=$(lines "$1")
    objs=$(jqf -R 'try (fromjson | select(type == "object") | 1) catch empty' "$1" | wc -l)
    [[ $n -gt 0 && $n -eq $objs ]]
}
seq_increasing() { # FILE
    jqe "$1" '[.[] | .seq] as $s | [range(1; $s | length) | $s[.] > $s[. - 1]] | all'
}
daemon() { # LOG ARGS...
    local log=$1
    shift
    start_bg "$tmp/daemon.out" "$log" "$KPLEG" daemon -r "$EP" -s "$SOCK" --no-bpf "$@"
}
watchers_are() { [[ $(status_json | jq -r .watchers) == "$1" ]]; }

start_bg "$tmp/fakecri.out" "$tmp/fakecri.log" "$FAKECRI" --socket "$FSOCK" --pods 3 --containers-per-pod 2
fake_pid=$bg_pid
must "fakecri up" wait_for 10 test -S "$FSOCK"
daemon "$tmp/d1.log"
d1=$bg_pid
must "daemon serving" wait_for 10 log_has "$tmp/d1.log" '"Serving"'
must "daemon synced" wait_for 10 bash -c "'$KPLEG' status -s '$SOCK' -o json | jq -e .synced >/dev/null"

echo "--- pods"
kc pods -s "$SOCK"
cat "$out"
check "pods: exit 0, nothing on stderr" test "$rc" -eq 0 -a ! -s "$err"
check "pods: a header and 3 pods" bash -c "[[ \$(wc -l <'$out') -eq 4 ]] && head -n 1 '$out' | grep -q '^NAMESPACE  *POD  *UID  *READY  *STATE  *AGE$'"
check "pods: each 2/2 Ready" test "$(grep -Ec '^default  *pod-[0-2]  *[0-9a-f-]{36} 2/2  *Ready ' "$out")" -eq 3
kc pods -s "$SOCK" -o json
cp "$out" "$tmp/pods.json"
check "pods -o json: exit 0, one valid array" jq -e 'type == "array"' "$tmp/pods.json" >/dev/null
check "pods -o json: 3 Ready pods of 2 running containers, sorted by name" jq -e '
    map(.name) == ["pod-0", "pod-1", "pod-2"] and all(.[]; .namespace == "default" and
        .state == "Ready" and .ready == 2 and .containers_total == 2 and
        (.observed_mono_ns | type == "number") and (.sandboxes | length) == 1 and
        (.sandboxes[0].labels["io.kubernetes.pod.uid"] == .uid) and
        (.containers | length) == 2 and all(.containers[]; .state == "Running"))' "$tmp/pods.json" >/dev/null
kc pods -r "$EP" -o json
check "pods -o json: the same as a local tracker's (-r) but for observed_mono_ns" \
    test "$(jq -S 'map(del(.observed_mono_ns))' "$tmp/pods.json")" = "$(jq -S 'map(del(.observed_mono_ns))' "$out")"
kc pods -s "$SOCK" -o wide
check "pods -o wide: sandbox and IP columns, a line per container" \
    bash -c "head -n 1 '$out' | grep -q ' SANDBOX  *IP$' && [[ \$(grep -c '└ c[01] ' '$out') -eq 6 ]]"

echo "--- a pod of our own"
read -r sb uid <<<"$("$PODCTL" -r "$EP" pod web-0 --namespace "$NS")"
cid=$("$PODCTL" -r "$EP" ctr "$sb" app -- /bin/sh -c 'sleep 1000')
"$PODCTL" -r "$EP" start "$cid"
must "the daemon has web-0 running" wait_for 10 bash -c "'$KPLEG' pods -s '$SOCK' -n $NS -o json |
    jq -e 'length == 1 and .[0].ready == 1' >/dev/null"
kc pods -s "$SOCK" -n "$NS" -o json
check "pods -n $NS: web-0 alone, its uid and container" jq -e --arg uid "$uid" --arg cid "$cid" '
    length == 1 and .[0].uid == $uid and .[0].name == "web-0" and
    .[0].containers[0].id == $cid and .[0].containers[0].name == "app"' "$out" >/dev/null
check "pods -n default: the 3 others" test "$(pods_json -n default | jq length)" -eq 3
check "pods -l by name: web-0" test "$(pods_json -l io.kubernetes.pod.name=web-0 | jq -r '.[].uid')" = "$uid"
check "pods -l twice (both must match): web-0" test "$(pods_json -l io.kubernetes.pod.name=web-0 \
    -l io.kubernetes.pod.namespace=$NS | jq -r '.[].uid')" = "$uid"
check "pods -l a,b that no sandbox carries together: none" test "$(pods_json \
    -l io.kubernetes.pod.name=web-0,io.kubernetes.pod.namespace=default | jq length)" -eq 0
check "pods -l with -r: the same filter on a local tracker" test "$("$KPLEG" pods -r "$EP" -o json \
    -l io.kubernetes.pod.name=web-0 2>/dev/null | jq -r '.[].uid')" = "$uid"
kc pods -s "$SOCK" -n nowhere
check "pods -n nowhere: exit 0, the header only" test "$rc" -eq 0 -a "$(lines "$out")" -eq 1
kc pods -s "$SOCK" -n "$NS" -o wide
check "pods -n $NS -o wide: the container line" grep -q "└ app  *${cid:0:13} Running  attempt=0" "$out"

echo "--- get"
kc get -s "$SOCK" "$uid"
cat "$out"
check "get UID: exit 0, like pods -o wide for one pod" bash -c "[[ $rc -eq 0 && \$(wc -l <'$out') -eq 3 ]] &&
    grep -q '^$NS  *web-0  *$uid 1/1  *Ready  *[0-9]*s  *${sb:0:13} ' '$out' && grep -q '└ app  *${cid:0:13} Running' '$out'"
kc get -s "$SOCK" "$NS/web-0" -o json
check "get NS/NAME -o json: the pods -o json element" test \
    "$(jq -S 'del(.observed_mono_ns)' "$out")" = "$(pods_json -n $NS | jq -S '.[0] | del(.observed_mono_ns)')"
before=$(jq .observed_mono_ns "$out")
kc get -s "$SOCK" "$NS/web-0" -o json --fresh
check "get --fresh: exit 0, data newer than before" bash -c "[[ $rc -eq 0 ]] && (( \$(jq .observed_mono_ns '$out') > $before ))"
kc get -s "$SOCK" "$uid" -o table
check "get -o table: header and one line" test "$rc" -eq 0 -a "$(lines "$out")" -eq 2
for pod in "$NS/nope" 00000000-0000-4000-8000-000000000000; do
    for fresh in "" --fresh; do
        kc get -s "$SOCK" "$pod" $fresh
        cat "$err"
        check "get $pod $fresh: NOT_FOUND is exit 1 and one line" \
            bash -c "[[ $rc -eq 1 ]] && [[ \$(wc -l <'$err') -eq 1 ]] && grep -q 'has no pod $pod' '$err' && [[ ! -s '$out' ]]"
    done
done

echo "--- events (the replay buffer)"
last=$(status_json | jq .events_emitted)
kc events -s "$SOCK" -o json
cp "$out" "$tmp/events.json"
check "events: exit 0" test "$rc" -eq 0
check "events: every line one JSON object" every_line_is_object "$tmp/events.json"
check "events: seq 1 to the last emitted, in order (caught up, then exit)" \
    jqe "$tmp/events.json" '.[0].seq == 1 and .[-1].seq >= ($last | tonumber) and length == .[-1].seq' --arg last "$last"
check "events: seq strictly increasing" seq_increasing "$tmp/events.json"
check "events: SandboxReady of web-0" has_event "$tmp/events.json" SandboxReady sandbox_id "$sb"
check "events: ContainerStarted of app" has_event "$tmp/events.json" ContainerStarted container_id "$cid"
check "events: lines in kpleg watch's schema" jqe "$tmp/events.json" 'all(.[];
    (.type | type == "string") and (.pod_uid | length > 0) and (.namespace | type == "string") and
    (.source | IN("relist", "cri-event", "kernel")) and (.observed_mono_ns > 0) and
    (.observed_time | test("^[0-9-]{10}T[0-9:]{8}\\.[0-9]{9}Z$")))'
kc events -s "$SOCK"
check "events -o text: a header, then a line per event" bash -c "[[ $rc -eq 0 ]] &&
    head -n 1 '$out' | grep -q '^TIME  *EVENT  *POD  *CONTAINER  *ID  *RESULT  *SOURCE$' &&
    [[ \$(wc -l <'$out') -eq \$(( \$(wc -l <'$tmp/events.json') + 1 )) ]] &&
    grep -Eq ' ContainerStarted  *$NS/web-0  *app  *${cid:0:13} ' '$out'"
kc events -s "$SOCK" -o json -n "$NS"
check "events -n $NS: web-0's events only" jqe "$out" 'length >= 3 and all(.[]; .namespace == $ns)' --arg ns "$NS"
kc events -s "$SOCK" -o json --pod "$NS/web-0"
check "events --pod NS/NAME: its events only" jqe "$out" 'length >= 3 and all(.[]; .pod_uid == $uid)' --arg uid "$uid"
kc events -s "$SOCK" -o json --pod "$uid" -t containerstarted
check "events --pod UID -t T: exactly its ContainerStarted" jqe "$out" \
    'length == 1 and .[0].type == "ContainerStarted" and .[0].container_id == $cid' --arg cid "$cid"
kc events -s "$SOCK" -o json -t SandboxReady,ContainerCreated -t SandboxReady
check "events -t A,B -t A: those types only" jqe "$out" \
    '(map(.type) | unique) == ["ContainerCreated", "SandboxReady"] and
     (map(select(.type == "SandboxReady")) | length) == 4'
n=$(jq -s 'length' "$tmp/events.json")
kc events -s "$SOCK" -o json --from-seq $((n - 1))
check "events --from-seq N: N and after" jqe "$out" 'map(.seq) == [($n | tonumber) - 1, ($n | tonumber)]' --arg n "$n"
kc events -s "$SOCK" -o json --from-seq 0
check "events --from-seq 0: nothing (only what comes after)" test "$rc" -eq 0 -a ! -s "$out"
kc events -s "$SOCK" -o json --from-seq $((n + 100))
check "events --from-seq beyond the last: nothing" test "$rc" -eq 0 -a ! -s "$out"
kc events -s "$SOCK" --pod "$NS/nope"
check "events --pod of no pod: exit 1, one line" bash -c "[[ $rc -eq 1 ]] && grep -q 'has no pod' '$err' && [[ \$(wc -l <'$err') -eq 1 ]]"

echo "--- events --follow"
start_bg "$tmp/follow.json" "$tmp/follow.err" "$KPLEG" events -s "$SOCK" -f -o json --from-seq 0 -n "$NS"
fj=$bg_pid
start_bg "$tmp/follow.txt" "$tmp/follow_txt.err" "$KPLEG" events -s "$SOCK" --follow --pod "$NS/web-0"
ft=$bg_pid
start_bg "$tmp/follow_all.json" "$tmp/follow_all.err" "$KPLEG" events -s "$SOCK" -f -o json
fa=$bg_pid
must "three followers connected" wait_for 10 watchers_are 3
"$PODCTL" -r "$EP" stop "$cid"
check "follow: ContainerDied of app arrives" wait_for 10 has_event "$tmp/follow.json" ContainerDied container_id "$cid"
"$PODCTL" -r "$EP" rm "$cid"
check "follow: then ContainerRemoved" wait_for 10 has_event "$tmp/follow.json" ContainerRemoved container_id "$cid"
check "follow --pod (text): the ContainerDied line" wait_for 10 grep -Eq " ContainerDied  *$NS/web-0  *app  *${cid:0:13} " "$tmp/follow.txt"
old_and_new() { # FILE
    has_event "$1" SandboxReady sandbox_id "$sb" && has_event "$1" ContainerRemoved container_id "$cid"
}
check "follow (everything buffered first): web-0's SandboxReady, then the new events" \
    wait_for 10 old_and_new "$tmp/follow_all.json"
stop_bg "$fj" INT
check "follow: SIGINT stops it, exit 0" test "$rc" -eq 0
check "follow --from-seq 0: only the new events, in the schema" jqe "$tmp/follow.json" \
    'map(.type) == ["ContainerDied", "ContainerRemoved"] and all(.[]; .namespace == $ns and .pod_uid == $uid)' \
    --arg ns "$NS" --arg uid "$uid"
check "follow: nothing on stderr" test ! -s "$tmp/follow.err"
stop_bg "$ft" TERM
check "follow (text): SIGTERM stops it, exit 0" test "$rc" -eq 0
check "follow (text): a header first" bash -c "head -n 1 '$tmp/follow.txt' | grep -q '^TIME  *EVENT'"
check "follow from seq 1: seq 1, 2, 3... with no gap" jqe "$tmp/follow_all.json" \
    '.[0].seq == 1 and ([.[] | .seq] as $s | [range(1; $s | length) | $s[.] == $s[. - 1] + 1] | all)'

echo "--- the daemon stops under a follower"
stop_bg "$d1" TERM
check "daemon: SIGTERM, exit 0" test "$rc" -eq 0
check "follow: exits 1 when the stream breaks" wait_for 10 gone "$fa"
rc=0
wait "$fa" || rc=$?
check "follow: exit 1, one line naming how to resume" bash -c "[[ $rc -eq 1 ]] &&
    [[ \$(wc -l <'$tmp/follow_all.err') -eq 1 ]] && grep -q 'resume with --from-seq [0-9]* --epoch [0-9]*' '$tmp/follow_all.err'"
cat "$tmp/follow_all.err"

echo "--- no daemon"
for cmd in "pods" "pods -o json" "get $uid" "get --fresh $NS/web-0" "events" "events -f" "status"; do
    # shellcheck disable=SC2086
    kc $cmd -s "$SOCK"
    check "$cmd, no daemon: exit 1, one line 'no kpleg daemon answers on', within 5 s" bash -c "[[ $rc -eq 1 ]] &&
        [[ \$(wc -l <'$err') -eq 1 ]] && [[ ! -s '$out' || '$cmd' == events* ]] && [[ $secs -lt 5 ]] &&
        grep -q 'no kpleg daemon answers on $SOCK' '$err'"
done
cat "$err"
for cmd in "pods" "get $uid" "events"; do
    # shellcheck disable=SC2086
    kc $cmd -s "$FSOCK"
    check "$cmd on a CRI socket (not kpleg): exit 1, one line" bash -c "[[ $rc -eq 1 ]] &&
        [[ \$(wc -l <'$err') -eq 1 ]] && grep -q 'no kpleg daemon answers on' '$err'"
done
cat "$err"

echo "--- a wrapped replay buffer, another epoch"
daemon "$tmp/d2.log" --replay-buffer 2
d2=$bg_pid
must "second daemon serving" wait_for 10 log_has "$tmp/d2.log" '"Serving"'
must "second daemon synced" wait_for 10 bash -c "'$KPLEG' status -s '$SOCK' -o json | jq -e .synced >/dev/null"
last=$(status_json | jq .events_emitted)
kc events -s "$SOCK" -o json
check "events, buffer wrapped: exit 0, the two events still buffered (Status says where it starts)" \
    jqe "$out" 'length == 2 and .[0].seq == (($last | tonumber) - 1) and
        .[1].seq == ($last | tonumber) and all(.[]; .type != "Resync")' --arg last "$last"
kc events -s "$SOCK" -o json --from-seq 1
cut -c 1-240 "$out"
check "events --from-seq 1, buffer wrapped: exit 0, one Resync line (the state as of the last seq)" jqe "$out" '
    length == 1 and .[0].type == "Resync" and .[0].reason == "seq 1 no longer buffered" and
    .[0].seq == ($last | tonumber) and .[0].epoch > 0 and .[0].observed_mono_ns > 0 and
    (.[0].observed_time | test("Z$")) and (.[0].pods | length) == 4' --arg last "$last"
check "events, Resync pods: the pods -o json elements" test \
    "$(jq -S '.pods | map(del(.observed_mono_ns))' "$out")" = "$(pods_json | jq -S 'map(del(.observed_mono_ns))')"
epoch=$(grep -o '"epoch":[0-9]*' "$out" | cut -d: -f2)
kc events -s "$SOCK" -o json -n "$NS" --from-seq 1
check "events -n, buffer wrapped: the Resync's pods filtered too" jqe "$out" \
    'length == 1 and .[0].type == "Resync" and (.[0].pods | map(.name)) == ["web-0"]'
kc events -s "$SOCK" --from-seq 1
check "events -o text, buffer wrapped: a Resync line" bash -c "[[ $rc -eq 0 && \$(wc -l <'$out') -eq 2 ]] &&
    grep -Eq '^[0-9T:.-]+Z +Resync +seq 1 no longer buffered; the state as of seq $last: 4 pods' '$out'"
kc events -s "$SOCK" -o json --from-seq 1 --epoch 12345
check "events --epoch of another run: a Resync 'epoch changed'" jqe "$out" \
    'length == 1 and .[0].type == "Resync" and (.[0].reason | test("epoch changed"))'
kc events -s "$SOCK" -o json --from-seq "$last" --epoch "$epoch"
check "events --from-seq L --epoch E (this run's, still buffered): event L" jqe "$out" \
    'length == 1 and .[0].seq == ($last | tonumber) and .[0].type != "Resync"' --arg last "$last"
start_bg "$tmp/follow2.json" "$tmp/follow2.err" "$KPLEG" events -s "$SOCK" -f -o json
f2=$bg_pid
must "follower connected" wait_for 10 watchers_are 1
read -r sb2 _ <<<"$("$PODCTL" -r "$EP" pod web-1 --namespace "$NS")"
check "follow, buffer wrapped: the buffered events, then the new pod's SandboxReady" wait_for 10 \
    jqe "$tmp/follow2.json" 'all(.[]; .type != "Resync") and
        any(.[]; .type == "SandboxReady" and .sandbox_id == $sb)' --arg sb "$sb2"
stop_bg "$f2" INT
check "follow: exit 0" test "$rc" -eq 0
stop_bg "$d2" TERM
check "second daemon: exit 0" test "$rc" -eq 0

echo "--- flags"
for bad in "pods -l novalue" "pods -l =v" "pods -l a=1 -l a=2" "pods -s $SOCK -r $EP" "pods -o yaml" \
           "pods -n" "get" "get a/b/c" "get /x" "get x y" "get x -o yaml" "get x --timeout 0" \
           "get x --bogus" "events --type Bogus" "events -t ''" "events --from-seq x" \
           "events --from-seq -1" "events --epoch 0" "events -o yaml" "events --pod a/b/c" \
           "events stray" "events --timeout 0" "events --bogus"; do
    # shellcheck disable=SC2086
    eval kc $bad
    check "$bad: exit 2, one line" bash -c "[[ $rc -eq 2 ]] && [[ \$(wc -l <'$err') -eq 1 ]]"
done
for cmd in pods get events; do
    kc "$cmd" --help
    check "$cmd --help: exit 0" test "$rc" -eq 0
done
kc pods --help
for o in --socket --runtime-endpoint --namespace --selector --output --timeout --help; do
    check "pods --help documents $o" grep -q -- " $o" "$out"
done
kc get --help
for o in --socket --fresh --output --timeout --help; do
    check "get --help documents $o" grep -q -- " $o" "$out"
done
kc events --help
for o in --socket --follow --from-seq --epoch --namespace --pod --type --output --timeout --help; do
    check "events --help documents $o" grep -q -- " $o" "$out"
done

stop_bg "$fake_pid" TERM
echo "client_test: $fails failure(s)"
[[ $fails -eq 0 ]]
