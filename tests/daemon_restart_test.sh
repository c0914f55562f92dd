#!/usr/bin/env bash
# `kpleg daemon` killed with SIGKILL and restarted while containers change,
# against the shared containerd 1.6 (no CRI event stream to compete for; the
# daemon runs in the default mode, kernel hints on), its own API socket.
#
#   1. One pod, containers keep, doomed, gone (sleep 3600); `kpleg events
#      --follow -o json` sees them start.
#   2. kill -9 the daemon: the follower's stream breaks (exit 1).
#   3. Meanwhile: doomed's process killed (SIGKILL), gone stopped and removed,
#      born (sleep 3600) and born3 (exit 3) created and started.
#   4. A new daemon on the same (stale) socket. A follower resuming where the
#      first left off (--from-seq, --epoch of the old run) gets a Resync
#      first ("epoch changed", a new epoch), then events.
#   5. State rebuilt: ListPods (`kpleg pods`) matches what the runtime says
#      (`kpleg pods -r`): keep and born running, doomed exited 137, born3
#      exited 3, gone absent; the Resync snapshot plus the events after it
#      say the same.
#   6. Reported once (docs/DESIGN.md, "Faults"): the new run's first sync
#      reports each object's current state once (a fresh reader of the
#      replay buffer sees keep and born ContainerStarted, doomed and born3
#      ContainerDied, one each, and nothing of gone); after the Resync no
#      event repeats what its snapshot showed; then born killed and the pod
#      removed: every transition exactly once.
# jq programs are single-quoted on purpose: their $vars are jq's.
# shellcheck disable=SC2016
set -euo pipefail
: "${KPLEG_BUILD:?run under scripts/run-tests.sh (make test)}"
: "${KPLEG_TEST_CD16:?needs containerd 1.6 from scripts/run-tests.sh}"
command -v jq >/dev/null || { echo "daemon_restart_test: jq is required" >&2; exit 1; }
KPLEG=$KPLEG_BUILD/kpleg
PODCTL=$KPLEG_BUILD/podctl
for b in "$KPLEG" "$PODCTL"; do
    [[ -x $b ]] || { echo "daemon_restart_test: $b not built" >&2; exit 1; }
done
EP=$KPLEG_TEST_CD16
NS=kpleg-daemon-restart-test

tmp=$(mktemp -d)
chmod 755 "$tmp"
fails=0
bg_pids=()
sb=
cleanup() {
    local p
    for p in "${bg_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    if [[ -n $sb ]]; then
        "$PODCTL" -r "$EP" stopp "$sb" >/dev/null 2>&1 || true
        "$PODCTL" -r "$EP" rmp "$sb" >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
# shellcheck source=tests/support/testlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/support/testlib.sh"

SOCK=$tmp/kpleg.sock
daemon() { # LOG
    start_bg "$tmp/daemon.out" "$1" "$KPLEG" daemon -r "$EP" -s "$SOCK" -v 1
}
synced() { "$KPLEG" status -s "$SOCK" -o json 2>/dev/null | jq -e '.synced' >/dev/null; }
cgroup_pid() { # CGROUP-PARENT ID
    local d
    for d in /sys/fs/cgroup/unified /sys/fs/cgroup/pids /sys/fs/cgroup; do
        if [[ -r $d$1/$2/cgroup.procs ]]; then head -n 1 "$d$1/$2/cgroup.procs"; return 0; fi
    done
    return 0
}
ctr_state() { "$PODCTL" -r "$EP" status "$1" 2>/dev/null | cut -d' ' -f1; }
count() { # FILE TYPE ID-KEY ID
    jqf -s --arg t "$2" --arg k "$3" --arg id "$4" 'map(select(.type == $t and .[$k] == $id)) | length' "$1"
}
count_is() { [[ $(count "$1" "$2" "$3" "$4") -eq $5 ]]; } # FILE TYPE KEY ID N
# The pods' containers and sandboxes as "id state [exit]" lines, sorted.
objects() { # PODS-JSON-FILE
    jq -r '.[] | (.sandboxes[] | "\(.id) \(.state)"), (.containers[] | "\(.id) \(.state) \(.exit_code // "-")")' "$1" | sort
}
# The same from a Resync line's snapshot, then the events after it applied.
resync_view() { # EVENTS-FILE
    jq -s -r '
        (map(select(.type == "Resync")) | .[0]) as $r |
        (reduce ($r.pods[] | (.sandboxes[] | {key: .id, value: .state}),
                             (.containers[] | {key: .id, value: "\(.state) \(.exit_code // "-")"}))
            as $o ({}; .[$o.key] = $o.value)) as $snap |
        reduce (.[] | select(.seq and .seq > $r.seq and .type != "Resync")) as $e ($snap;
            ($e.container_id // $e.sandbox_id) as $id |
            if $e.type == "ContainerCreated" then .[$id] = "Created -"
            elif $e.type == "ContainerStarted" then .[$id] = "Running -"
            elif $e.type == "ContainerDied" or $e.type == "ContainerConfirmed" then
                .[$id] = "Exited \($e.exit_code // "-")"
            elif $e.type == "SandboxReady" then .[$id] = "Ready"
            elif $e.type == "SandboxNotReady" then .[$id] = "NotReady"
            elif ($e.type == "ContainerRemoved" or $e.type == "SandboxRemoved") then del(.[$id])
            else . end) | to_entries[] | "\(.key) \(.value)"' "$1" | sort
}

echo "--- the first daemon"
daemon "$tmp/d1.log"
d1=$bg_pid
must "daemon 1 serving" wait_for 60 log_has "$tmp/d1.log" '"Serving"'
must "daemon 1 synced" wait_for 20 synced
must "daemon 1 has kernel hints" bash -c "'$KPLEG' status -s '$SOCK' -o json | jq -e '.bpf_active' >/dev/null"
start_bg "$tmp/f1.json" "$tmp/f1.log" "$KPLEG" events -s "$SOCK" --follow -o json -n "$NS"
f1=$bg_pid

read -r sb uid < <("$PODCTL" -r "$EP" pod "restart-$$" --namespace "$NS" --qos burstable)
cg=/kubepods/burstable/pod$uid
mk() { "$PODCTL" -r "$EP" ctr "$sb" "$1" --qos burstable -- "${@:2}"; }
stay=$(mk keep sleep 3600)
doomed=$(mk doomed sleep 3600)
gone=$(mk gone sleep 3600)
for c in "$stay" "$doomed" "$gone"; do "$PODCTL" -r "$EP" start "$c"; done
for c in "$stay" "$doomed" "$gone"; do
    must "follower 1: ${c:0:12} started" wait_for 15 has_event "$tmp/f1.json" ContainerStarted container_id "$c"
done
# Epochs are u64 (ns): jq would round them to a double, so grep them.
epoch_of() { grep -o '"epoch": *[0-9]*' | head -n 1 | grep -o '[0-9]*$'; }
epoch1=$("$KPLEG" status -s "$SOCK" -o json | epoch_of)
last1=$(jq -s 'map(.seq) | max' "$tmp/f1.json")
echo "    daemon 1: epoch $epoch1, follower 1 at seq $last1"

echo "--- kill -9, changes while no daemon runs"
kill -KILL "$d1"
wait "$d1" 2>/dev/null || true
stop_bg "$f1" NONE 2>/dev/null || true # (signal NONE: only waits for its exit)
check "follower 1: the broken stream ends it with exit 1" test "$rc" -eq 1
check "follower 1: says how to resume (--from-seq $((last1 + 1)) --epoch $epoch1)" \
    grep -q -- "--from-seq $((last1 + 1)) --epoch $epoch1)" "$tmp/f1.log"
pid=$(cgroup_pid "$cg" "$doomed")
must "doomed's pid found" test -n "$pid"
kill -KILL "$pid"
"$PODCTL" -r "$EP" stop "$gone" >/dev/null
"$PODCTL" -r "$EP" rm "$gone" >/dev/null
born=$(mk born sleep 3600)
born3=$(mk born3 sh -c 'exit 3')
"$PODCTL" -r "$EP" start "$born"
"$PODCTL" -r "$EP" start "$born3"
must "runtime: doomed and born3 exited" wait_for 15 bash -c \
    "[[ \$('$PODCTL' -r '$EP' status $doomed) == exited* && \$('$PODCTL' -r '$EP' status $born3) == exited* ]]"

echo "--- the second daemon, on the stale socket"
daemon "$tmp/d2.log"
d2=$bg_pid
must "daemon 2 serving" wait_for 60 log_has "$tmp/d2.log" '"Serving"'
start_bg "$tmp/f2.json" "$tmp/f2.log" "$KPLEG" events -s "$SOCK" --follow -o json -n "$NS" \
    --from-seq $((last1 + 1)) --epoch "$epoch1"
f2=$bg_pid
must "follower 2: a Resync first" wait_for 10 jqe "$tmp/f2.json" '.[0].type == "Resync"'
head -n 1 "$tmp/f2.json" | jq -c '{type, reason, seq, epoch, pods: (.pods | length)}' | sed 's/^/    /'
epoch2=$("$KPLEG" status -s "$SOCK" -o json | epoch_of)
check "follower 2: the Resync says the epoch changed, and names the new one ($epoch2)" \
    bash -c "head -n 1 '$tmp/f2.json' | jq -e '.reason | test(\"epoch changed\")' >/dev/null &&
        [[ \$(head -n 1 '$tmp/f2.json' | grep -o '\"epoch\": *[0-9]*' | grep -o '[0-9]*\$') == $epoch2 ]] &&
        [[ $epoch2 != $epoch1 ]]"
must "daemon 2 synced" wait_for 20 synced

echo "--- state rebuilt"
# The runtime's view from a tracker of its own; then kpleg's, until the
# targeted fetches of the first sync are in (they follow the relist).
"$KPLEG" pods -r "$EP" -n "$NS" -o json >"$tmp/runtime.json"
objects "$tmp/runtime.json" >"$tmp/runtime.txt"
same_as_runtime() {
    "$KPLEG" pods -s "$SOCK" -n "$NS" -o json >"$tmp/daemon.json" 2>/dev/null &&
        objects "$tmp/daemon.json" >"$tmp/daemon.txt" && cmp -s "$tmp/runtime.txt" "$tmp/daemon.txt"
}
check "ListPods matches the runtime" wait_for 15 same_as_runtime
diff "$tmp/runtime.txt" "$tmp/daemon.txt" | sed 's/^/    /' || true
want=$(printf '%s\n' "$sb Ready" "$stay Running -" "$born Running -" "$doomed Exited 137" "$born3 Exited 3" | sort)
check "the runtime says: keep, born running; doomed exited 137; born3 exited 3; gone absent" \
    test "$(cat "$tmp/runtime.txt")" = "$want"
resync_says_want() { [[ "$(resync_view "$tmp/f2.json")" == "$want" ]]; }
check "the Resync snapshot plus the events after it say the same" wait_for 10 resync_says_want

# A fresh reader of the new run's buffer: the first sync's report.
"$KPLEG" events -s "$SOCK" -o json -n "$NS" >"$tmp/fresh.json"
echo "    the new run's first sync, as a fresh reader sees it:"
jqf -r '[.seq, .type, .source, (.container_id // .sandbox_id)[0:12], (.exit_code // "")] | map(tostring) | join(" ")' \
    "$tmp/fresh.json" | sed 's/^/      /'
check "first sync: keep and born ContainerStarted, once each, nothing else" jqe "$tmp/fresh.json" '
    (map(select(.container_id == $k or .container_id == $b)) | map(.type) | sort) ==
        ["ContainerStarted", "ContainerStarted"]' --arg k "$stay" --arg b "$born"
check "first sync: doomed ContainerDied 137, born3 ContainerDied 3, once each, nothing else" jqe "$tmp/fresh.json" '
    (map(select(.container_id == $d)) | length == 1 and .[0].type == "ContainerDied" and .[0].exit_code == 137) and
    (map(select(.container_id == $b3)) | length == 1 and .[0].type == "ContainerDied" and .[0].exit_code == 3)' \
    --arg d "$doomed" --arg b3 "$born3"
check "first sync: nothing about gone" count_is "$tmp/fresh.json" ContainerRemoved container_id "$gone" 0
check "first sync: SandboxReady once" count_is "$tmp/fresh.json" SandboxReady sandbox_id "$sb" 1

echo "--- changes after the restart"
pid=$(cgroup_pid "$cg" "$born")
must "born's pid found" test -n "$pid"
kill -KILL "$pid"
check "follower 2: born's ContainerDied 137" wait_for 15 jqe "$tmp/f2.json" \
    'any(.type == "ContainerDied" and .container_id == $id and .exit_code == 137)' --arg id "$born"
"$PODCTL" -r "$EP" stopp "$sb" >/dev/null
"$PODCTL" -r "$EP" rmp "$sb" >/dev/null
rm_sb=$sb
sb=
check "follower 2: SandboxRemoved" wait_for 20 has_event "$tmp/f2.json" SandboxRemoved sandbox_id "$rm_sb"
for c in "$stay" "$doomed" "$born" "$born3"; do
    check "follower 2: ${c:0:12} removed" wait_for 20 has_event "$tmp/f2.json" ContainerRemoved container_id "$c"
done
sleep 1.5 # late duplicates would show up here
stop_bg "$f2" INT
check "follower 2: SIGINT ends it (exit 0)" test "$rc" -eq 0
echo "    follower 2:"
jqf -r '[.seq, .type, .source, ((.container_id // .sandbox_id // "")[0:12]), (.exit_code // ""),
    (if .provisional then "provisional" else "" end), (.reason // "")] | map(tostring) | join(" ")' \
    "$tmp/f2.json" | sed 's/^/      /'

# Exactly once after the Resync: nothing its snapshot already showed, and
# each transition one line.
check "follower 2: one Resync only" \
    test "$(jqf -s 'map(select(.type == "Resync")) | length' "$tmp/f2.json")" -eq 1
check "follower 2: no event repeats a state the Resync snapshot showed" jqe "$tmp/f2.json" '
    (map(select(.type == "Resync")) | .[0]) as $r |
    ([$r.pods[].containers[] | {key: .id, value: (if .state == "Running" then "ContainerStarted"
        elif .state == "Exited" then "ContainerDied" elif .state == "Created" then "ContainerCreated"
        else "" end)}] + [$r.pods[].sandboxes[] | {key: .id, value: "Sandbox\(.state)"}]
     | from_entries) as $shown |
    all(.[] | select(.seq and .seq > $r.seq and .type != "Resync");
        $shown[.container_id // .sandbox_id] != .type)'
for c in "keep:$stay" "doomed:$doomed" "born:$born" "born3:$born3"; do
    for t in ContainerCreated ContainerStarted ContainerDied ContainerRemoved ContainerConfirmed; do
        check "follower 2: ${c%%:*}: $t at most once" test "$(count "$tmp/f2.json" "$t" container_id "${c#*:}")" -le 1
    done
    check "follower 2: ${c%%:*}: ContainerRemoved exactly once" count_is "$tmp/f2.json" ContainerRemoved container_id "${c#*:}" 1
done
check "follower 2: keep's ContainerDied exactly once (the pod's stop)" count_is "$tmp/f2.json" ContainerDied container_id "$stay" 1
check "follower 2: born's ContainerDied exactly once (killed after the restart)" count_is "$tmp/f2.json" ContainerDied container_id "$born" 1
for t in SandboxNotReady SandboxRemoved; do
    check "follower 2: $t exactly once" count_is "$tmp/f2.json" "$t" sandbox_id "$rm_sb" 1
done
check "follower 2: nothing about gone" test "$(jqf -s --arg id "$gone" 'map(select(.container_id == $id)) | length' "$tmp/f2.json")" -eq 0
check "follower 2: seq strictly increasing" jqe "$tmp/f2.json" \
    '[.[] | select(.seq) | .seq] as $s | [range(1; $s | length) | $s[.] > $s[. - 1]] | all'

stop_bg "$d2" TERM
check "daemon 2: SIGTERM, exit 0" test "$rc" -eq 0

check "no sanitizer report in any log" bash -c "! grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' '$tmp'/*.log"
echo "daemon_restart_test: $fails failure(s)"
[[ $fails -eq 0 ]]
