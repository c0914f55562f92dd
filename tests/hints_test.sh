#!/usr/bin/env bash
# Kernel hints through `kpleg watch -o json`, default mode, on containerd 1.6
# (no CRI events), as an operator would see them:
#   - a container killed with SIGKILL from outside the runtime is reported
#     with exit code 137 within 150 ms of the kill,
#   - a container that lives ~25 ms and is removed at once is reported with
#     exit code 0,
#   - an OOM-killed container (32 MiB limit) is reported as OOMKilled,
#   - a container exiting 3 is reported provisional, then confirmed,
#   - kpleg stays under 2 % of a core over the run.
# Then without BPF, by flag (`--no-bpf`) and for want of privilege (kpleg run
# as nobody against a fakecri): one clear log line, and tracking goes on.
# jq programs are single-quoted on purpose: their $vars are jq's.
# shellcheck disable=SC2016
set -euo pipefail
: "${KPLEG_BUILD:?run under scripts/run-tests.sh (make test)}"
: "${KPLEG_TEST_CD16:?needs containerd 1.6 from scripts/run-tests.sh}"
command -v jq >/dev/null || { echo "hints_test: jq is required" >&2; exit 1; }
KPLEG=$KPLEG_BUILD/kpleg
PODCTL=$KPLEG_BUILD/podctl
FAKECRI=$KPLEG_BUILD/fakecri
command -v setpriv >/dev/null || { echo "hints_test: setpriv (util-linux) is required" >&2; exit 1; }
for b in "$KPLEG" "$PODCTL" "$FAKECRI"; do
    [[ -x $b ]] || { echo "hints_test: $b not built" >&2; exit 1; }
done
EP=$KPLEG_TEST_CD16
KILL_BOUND_MS=150
CPU_BOUND_PCT=2

tmp=$(mktemp -d)
fails=0
bg_pids=()
pods=()
cleanup() {
    local p
    for p in "${bg_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "${pods[@]}"; do
        "$PODCTL" -r "$EP" stopp "$p" >/dev/null 2>&1 || true
        "$PODCTL" -r "$EP" rmp "$p" >/dev/null 2>&1 || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
# shellcheck source=tests/support/testlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/support/testlib.sh"

now_ns() { local t=${EPOCHREALTIME/./}; echo "${t}000"; }
# observed_time ("2026-11-29T17:08:05.123456789Z") -> ns since the epoch
iso_ns() { local s; s=$(date -u -d "${1%%.*}Z" +%s); local f=${1#*.}; f=${f%Z}; echo "$((s * 1000000000 + 10#$f))"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
line_of() { # FILE TYPE CID -> the first matching JSON line
    jqf -c --arg t "$2" --arg id "$3" 'select(.type == $t and .container_id == $id)' "$1" | head -n 1
}
ctr_exited() { [[ $("$PODCTL" -r "$EP" status "$1" 2>/dev/null) == exited* ]]; }
cgroup_pid() { # CGROUP-PARENT ID
    local d
    for d in /sys/fs/cgroup/unified /sys/fs/cgroup/pids /sys/fs/cgroup; do
        if [[ -r $d$1/$2/cgroup.procs ]]; then head -n 1 "$d$1/$2/cgroup.procs"; return 0; fi
    done
    return 0
}
# The Died line for CID: provisional from the kernel with CODE and REASON,
# then a ContainerConfirmed that agrees (unless ALLOW_UNCONFIRMED and removed).
died_ok() { # FILE CID CODE REASON
    jqe "$1" 'map(select(.container_id == $id and .type == "ContainerDied")) |
        length == 1 and (.[0] | .provisional == true and .source == "kernel" and
        .exit_code == ($code | tonumber) and .reason == $reason and .kernel_mono_ns > 0)' \
        --arg id "$2" --arg code "$3" --arg reason "$4"
}
confirmed_ok() { # FILE CID CODE REASON
    jqe "$1" 'map(select(.container_id == $id and .type == "ContainerConfirmed")) |
        length == 1 and (.[0] | .corrected == false and .exit_code == ($code | tonumber) and
        .reason == $reason and .observed_mono_ns > .kernel_mono_ns)' \
        --arg id "$2" --arg code "$3" --arg reason "$4"
}
times() { # FILE CID -> "kernel->confirmed ms"
    jqf -s -r --arg id "$2" '
        (map(select(.container_id == $id and .type == "ContainerDied"))[0].kernel_mono_ns) as $k |
        (map(select(.container_id == $id and .type == "ContainerConfirmed"))[0].observed_mono_ns) as $c |
        if $c then "kernel-observed \($k) ns, runtime-confirmed \(($c - $k) / 1e6) ms later"
        else "kernel-observed \($k) ns, never confirmed" end' "$1"
}

# ---- default mode --------------------------------------------------------------
json=$tmp/watch.json
log=$tmp/watch.log
echo "--- kpleg watch -o json (default mode) against $EP"
start_bg "$json" "$log" "$KPLEG" watch -r "$EP" -o json
watch_pid=$bg_pid
must "watch synced" wait_for 20 log_has "$log" '"Tracker synced"'
must "kernel hints active (one log line)" test "$(grep -c '"Kernel hints active"' "$log")" -eq 1
cpu0=$(cpu_ticks "$watch_pid")
t_start=$EPOCHREALTIME

read -r sb uid < <("$PODCTL" -r "$EP" pod "hints-$$" --namespace kpleg-hints-test --qos burstable)
pods+=("$sb")
cg=/kubepods/burstable/pod$uid
mk() { "$PODCTL" -r "$EP" ctr "$sb" "$1" --qos burstable "${@:2}"; } # NAME [OPTS] -- ARGV

# exit 3
c_exit=$(mk exit3 -- sh -c 'sleep 0.2; exit 3')
"$PODCTL" -r "$EP" start "$c_exit"

# SIGKILL from outside the runtime
c_kill=$(mk killed -- sleep 3600)
"$PODCTL" -r "$EP" start "$c_kill"
must "killed: ContainerStarted seen" wait_for 10 has_event "$json" ContainerStarted container_id "$c_kill"
pid=$(cgroup_pid "$cg" "$c_kill")
must "killed: pid found in its cgroup" test -n "$pid"
t_kill=$(now_ns)
kill -KILL "$pid"
# Time until the line is in watch's output, polled every ms with grep.
for _ in $(seq 2000); do
    grep -q "\"ContainerDied\".*\"$c_kill\"" "$json" && break
    sleep 0.001
done
t_seen=$(now_ns)
seen_ms=$(((t_seen - t_kill) / 1000000))
died=$(line_of "$json" ContainerDied "$c_kill")
obs_ms=$((($(iso_ns "$(jq -r .observed_time <<<"$died")") - t_kill) / 1000000))
echo "    killed: kill -> ContainerDied in watch's output ${seen_ms} ms (kernel-observed ${obs_ms} ms after the kill)"
check "killed: ContainerDied exit 137 within ${KILL_BOUND_MS} ms of the kill" \
    test "$(jq -r .exit_code <<<"$died")" = 137 -a "$seen_ms" -lt "$KILL_BOUND_MS"

# OOM kill under a 32 MiB limit
c_oom=$(mk oom --memory 33554432 -- sh -c 'x=a; while true; do x=$x$x; done')
"$PODCTL" -r "$EP" start "$c_oom"

# ~25 ms, removed as soon as the runtime says it exited
c_blink=$(mk blink -- sleep 0.025)
"$PODCTL" -r "$EP" start "$c_blink"
for _ in $(seq 2000); do ctr_exited "$c_blink" && break; sleep 0.002; done
"$PODCTL" -r "$EP" rm "$c_blink"

must "every exit reported" wait_for 15 bash -c "
    for c in $c_exit $c_kill $c_oom $c_blink; do
        grep -q \"\\\"ContainerDied\\\".*\\\"\$c\\\"\" '$json' || exit 1
    done"
check "blink: ContainerRemoved seen" wait_for 15 has_event "$json" ContainerRemoved container_id "$c_blink"
for c in "$c_exit:exit3" "$c_kill:killed" "$c_oom:oom"; do
    check "${c#*:}: ContainerConfirmed seen" wait_for 10 has_event "$json" ContainerConfirmed container_id "${c%%:*}"
done
t_end=$EPOCHREALTIME
cpu1=$(cpu_ticks "$watch_pid")
stop_bg "$watch_pid" INT
check "SIGINT stops watch (exit 0)" test "$rc" -eq 0
check "the summary log line counts the provisional exits and their confirmations" \
    grep -Eq '"Summary".* provisional=[4-9][0-9]* confirmed=[3-9][0-9]* corrected=0 ' "$log"

check "exit3: provisional ContainerDied exit 3 (Error) from the kernel" died_ok "$json" "$c_exit" 3 Error
check "exit3: confirmed by the runtime" confirmed_ok "$json" "$c_exit" 3 Error
check "killed: provisional ContainerDied exit 137 from the kernel" died_ok "$json" "$c_kill" 137 Error
check "killed: confirmed by the runtime" confirmed_ok "$json" "$c_kill" 137 Error
check "oom: provisional ContainerDied 137 OOMKilled from the kernel" died_ok "$json" "$c_oom" 137 OOMKilled
check "oom: confirmed OOMKilled by the runtime" confirmed_ok "$json" "$c_oom" 137 OOMKilled
check "blink: ContainerDied exit 0 (Completed) from the kernel" died_ok "$json" "$c_blink" 0 Completed
for c in "$c_exit" "$c_kill" "$c_oom" "$c_blink"; do
    types=$(ctr_types "$json" "$c")
    check "${c:0:12}: each transition once (got '$types')" bash -c '
        t=" $1 "; for e in ContainerCreated ContainerStarted ContainerDied; do
            [[ $(grep -o " $e " <<<"$t" | wc -l) -eq 1 ]] || exit 1; done
        [[ $(grep -o " ContainerConfirmed " <<<"$t" | wc -l) -le 1 ]]' _ "$types"
done
for c in "$c_exit:exit3" "$c_kill:killed" "$c_oom:oom" "$c_blink:blink"; do
    echo "    ${c#*:}: $(times "$json" "${c%%:*}")"
done
wall=$(awk -v a="$t_start" -v b="$t_end" 'BEGIN{printf "%.3f", b-a}')
pct=$(awk -v t="$((cpu1 - cpu0))" -v hz="$(getconf CLK_TCK)" -v w="$wall" 'BEGIN{printf "%.2f", 100*t/hz/w}')
echo "    kpleg CPU over the run: $((cpu1 - cpu0)) ticks in ${wall} s = ${pct} % of a core"
# The bound is the release build's; ASan and UBSan multiply CPU cost (2.5 %
# was seen here), so a sanitizer build reports the figure without judging it.
if ldd "$KPLEG" 2>/dev/null | grep -q libasan; then
    echo "    (sanitizer build: CPU figure reported, the ${CPU_BOUND_PCT} % bound is for the release build)"
else
    check "kpleg under ${CPU_BOUND_PCT} % of a core over the run (${pct} %)" \
        awk -v p="$pct" -v b="$CPU_BOUND_PCT" 'BEGIN{exit !(p < b)}'
fi

# ---- --no-bpf -------------------------------------------------------------------
echo "--- kpleg watch --no-bpf"
json=$tmp/nobpf.json
log=$tmp/nobpf.log
start_bg "$json" "$log" "$KPLEG" watch -r "$EP" -o json --no-bpf
watch_pid=$bg_pid
must "--no-bpf: watch synced" wait_for 20 log_has "$log" '"Tracker synced"'
check "--no-bpf: exactly one log line says hints are off" \
    test "$(grep -c 'Kernel hints off (--no-bpf)' "$log")" -eq 1
c_nb=$(mk nobpf -- sh -c 'sleep 0.2; exit 3')
"$PODCTL" -r "$EP" start "$c_nb"
check "--no-bpf: ContainerDied seen (from the relist)" wait_for 10 has_event "$json" ContainerDied container_id "$c_nb"
check "--no-bpf: exit 3, from the relist, not provisional" jqe "$json" '
    map(select(.container_id == $id and .type == "ContainerDied")) | length == 1 and
    (.[0] | .exit_code == 3 and .source == "relist" and (has("provisional") | not))' --arg id "$c_nb"
stop_bg "$watch_pid" INT
check "--no-bpf: SIGINT stops watch (exit 0)" test "$rc" -eq 0

# ---- no privilege -----------------------------------------------------------------
echo "--- kpleg watch as an unprivileged user (against fakecri, whose socket it may use)"
np=$tmp/np
mkdir -p "$np"
chmod 755 "$tmp"
chmod 777 "$np"
start_bg "$np/fakecri.out" "$np/fakecri.log" "$FAKECRI" --socket "$np/f.sock" --pods 2 --containers-per-pod 1
must "fakecri up" wait_for 10 test -S "$np/f.sock"
chmod 666 "$np/f.sock"
start_bg "$np/watch.json" "$np/watch.log" setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$KPLEG" watch -r "unix://$np/f.sock" -o json
watch_pid=$bg_pid
must "unprivileged: watch synced" wait_for 20 log_has "$np/watch.log" '"Tracker synced"'
check "unprivileged: exactly one log line says hints are unavailable for want of privilege" \
    test "$(grep -c 'Kernel hints unavailable: no privilege for BPF' "$np/watch.log")" -eq 1
check "unprivileged: both containers reported from the CRI sources" wait_for 5 jqe "$np/watch.json" \
    'map(select(.type == "ContainerStarted")) | length == 2'
stop_bg "$watch_pid" INT
check "unprivileged: SIGINT stops watch (exit 0)" test "$rc" -eq 0

# ---- bad flags ---------------------------------------------------------------------
rc=0
"$KPLEG" watch -r "$EP" --cgroup-controller bogus >"$tmp/out" 2>&1 || rc=$?
check "--cgroup-controller bogus: exit 2 with a message naming the value" \
    bash -c "[[ $rc -eq 2 ]] && grep -q 'invalid --cgroup-controller \"bogus\"' '$tmp/out'"

echo "hints_test: $fails failure(s)"
[[ $fails -eq 0 ]]
