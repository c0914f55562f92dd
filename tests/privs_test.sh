#!/usr/bin/env bash
# Least privilege of `kpleg daemon`, against containerd 1.6 (kernel hints on,
# CRI proxy on):
#   - after start-up every thread's CapEff, CapPrm and CapBnd equal exactly
#     the documented set (cap_dac_read_search; plus cap_bpf on a kernel
#     before 5.19 with unprivileged_bpf_disabled set), CapInh and CapAmb are
#     empty, NoNewPrivs is 1, and the log names each kept capability and why,
#   - with the capabilities dropped a container's exit is still reported from
#     the kernel (provisional, exit 3) and confirmed by the runtime, a pod
#     created through the CRI proxy is tracked, a SIGKILL from the host is
#     reported from the kernel,
#   - peers of another uid get PERMISSION_DENIED on both sockets,
#   - SIGTERM: exit 0, both sockets removed, every BPF link gone,
#   - started inside the bounding set the systemd unit gives it (bpf,
#     perfmon, dac_read_search, setpcap, chown): hints active, same end set;
#   - --no-bpf keeps nothing at all and still tracks.
# No shell-outs: the daemon's code has no system(), popen() or exec*().
# jq programs are single-quoted on purpose: their $vars are jq's.
# shellcheck disable=SC2016
set -euo pipefail
: "${KPLEG_BUILD:?run under scripts/run-tests.sh (make test)}"
: "${KPLEG_TEST_CD16:?needs containerd 1.6 from scripts/run-tests.sh}"
for c in jq setpriv bpftool; do
    command -v "$c" >/dev/null || { echo "privs_test: $c is required" >&2; exit 1; }
done
KPLEG=$KPLEG_BUILD/kpleg
PODCTL=$KPLEG_BUILD/podctl
for b in "$KPLEG" "$PODCTL"; do
    [[ -x $b ]] || { echo "privs_test: $b not built" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "privs_test: must run as root" >&2; exit 1; }
EP=$KPLEG_TEST_CD16
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

tmp=$(mktemp -d)
chmod 755 "$tmp"
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

# The documented set, as a CapEff-style hex mask.
CAP_DAC_READ_SEARCH=2
CAP_BPF=39
bpf_needs_cap() {
    local rel major minor
    rel=$(uname -r)
    major=${rel%%.*}
    minor=${rel#*.}
    minor=${minor%%[^0-9]*}
    ((major > 5 || (major == 5 && minor >= 19))) && return 1
    [[ $(cat /proc/sys/kernel/unprivileged_bpf_disabled) != 0 ]]
}
want=$((1 << CAP_DAC_READ_SEARCH))
want_names="cap_dac_read_search"
if bpf_needs_cap; then
    want=$((want | 1 << CAP_BPF))
    want_names="cap_dac_read_search,cap_bpf"
fi
WANT=$(printf '%016x' "$want")
echo "kernel $(uname -r): expected set $want_names ($WANT)"

# Every thread of PID: "EFF PRM BND INH AMB NNP" must be the same line.
thread_sets() { # PID
    local t
    for t in /proc/"$1"/task/*/status; do
        awk '/^CapEff/{e=$2} /^CapPrm/{p=$2} /^CapBnd/{b=$2} /^CapInh/{i=$2}
             /^CapAmb/{a=$2} /^NoNewPrivs/{n=$2} END{print e, p, b, i, a, n}' "$t"
    done | sort -u
}
sets_are() { # PID MASK
    local got
    got=$(thread_sets "$1")
    [[ $got == "$2 $2 $2 0000000000000000 0000000000000000 1" ]] ||
        { echo "     threads show: $got" >&2; return 1; }
}
link_ids() { awk '/^link_id:/{print $2}' /proc/"$1"/fdinfo/* 2>/dev/null | sort -un; }
none_left() { local id; for id in "$@"; do bpftool link show id "$id" >/dev/null 2>&1 && return 1; done; return 0; }

SOCK=$tmp/run/kpleg.sock
PSOCK=$tmp/run/cri.sock
PX=unix://$PSOCK

echo "--- kpleg daemon with kernel hints and the CRI proxy"
start_bg "$tmp/d1.out" "$tmp/d1.log" "$KPLEG" daemon -r "$EP" -s "$SOCK" --cri-proxy-socket "$PSOCK"
d1=$bg_pid
must "daemon serving" wait_for 20 log_has "$tmp/d1.log" '"Serving" socket='
must "kernel hints active" log_has "$tmp/d1.log" '"Kernel hints active"'
check "every thread: CapEff = CapPrm = CapBnd = $want_names, no CapInh/CapAmb, NoNewPrivs 1" \
    sets_are "$d1" "$WANT"
check "more than one thread was changed" test "$(find /proc/"$d1"/task -mindepth 1 -maxdepth 1 | wc -l)" -gt 5
check "log: cap_dac_read_search kept, with why" \
    log_has "$tmp/d1.log" '"Keeping capability" cap=cap_dac_read_search reason="open_by_handle_at'
check "log: the kept set and no_new_privs" \
    log_has "$tmp/d1.log" "\"Dropped privileges\" kept=\"$want_names\" boundingSet=\"$want_names\" noNewPrivs=true"
links=$(link_ids "$d1")
check "BPF links held by the daemon" test -n "$links"

echo "--- tracking with the capabilities dropped"
must "the API answers" wait_for 30 bash -c "'$KPLEG' status -s '$SOCK' >/dev/null 2>&1"
start_bg "$tmp/ev.json" "$tmp/ev.log" "$KPLEG" events -s "$SOCK" --follow -o json
read -r sb uid < <("$PODCTL" -r "$PX" pod "privs-$$" --namespace kpleg-privs-test --qos burstable)
pods+=("$sb")
check "pod created through the CRI proxy" test -n "$uid"
c_exit=$("$PODCTL" -r "$PX" ctr "$sb" exit3 --qos burstable -- sh -c 'sleep 0.3; exit 3')
"$PODCTL" -r "$PX" start "$c_exit"
must "exit 3: ContainerConfirmed through Watch" wait_for 20 has_event "$tmp/ev.json" ContainerConfirmed container_id "$c_exit"
check "exit 3: ContainerDied from the kernel, provisional, code 3" jqe "$tmp/ev.json" \
    'map(select(.container_id == $id and .type == "ContainerDied")) | length == 1 and
     (.[0] | .source == "kernel" and .provisional == true and .exit_code == 3)' --arg id "$c_exit"
check "exit 3: confirmed by the runtime, not corrected" jqe "$tmp/ev.json" \
    'map(select(.container_id == $id and .type == "ContainerConfirmed")) | length == 1 and
     (.[0] | .corrected == false and .exit_code == 3)' --arg id "$c_exit"
c_kill=$("$PODCTL" -r "$PX" ctr "$sb" killed --qos burstable -- sleep 3600)
"$PODCTL" -r "$PX" start "$c_kill"
must "killed: ContainerStarted" wait_for 20 has_event "$tmp/ev.json" ContainerStarted container_id "$c_kill"
pid=""
for d in /sys/fs/cgroup/unified /sys/fs/cgroup/pids /sys/fs/cgroup; do
    f=$d/kubepods/burstable/pod$uid/$c_kill/cgroup.procs
    [[ -r $f ]] && pid=$(head -n 1 "$f") && break
done
must "killed: its pid found" test -n "$pid"
kill -KILL "$pid"
must "killed: ContainerDied" wait_for 10 has_event "$tmp/ev.json" ContainerDied container_id "$c_kill"
check "killed: from the kernel, exit 137" jqe "$tmp/ev.json" \
    'any(.container_id == $id and .type == "ContainerDied" and .source == "kernel" and .exit_code == 137)' \
    --arg id "$c_kill"
"$PODCTL" -r "$PX" stopp "$sb" >/dev/null
"$PODCTL" -r "$PX" rmp "$sb" >/dev/null
must "pod removal seen" wait_for 30 has_event "$tmp/ev.json" SandboxRemoved sandbox_id "$sb"
pods=()
check "still the same set after all that" sets_are "$d1" "$WANT"

echo "--- peers of another uid"
chmod 666 "$SOCK" "$PSOCK" # let uid 65534 reach the peer check itself
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups "$KPLEG" status -s "$SOCK" >"$tmp/np.out" 2>&1 || rc=$?
check "API socket: uid 65534 refused with PERMISSION_DENIED" \
    bash -c "[[ $rc -eq 1 ]] && grep -q PERMISSION_DENIED '$tmp/np.out'"
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups "$KPLEG" info -r "$PX" >"$tmp/npx.out" 2>&1 || rc=$?
check "CRI proxy: uid 65534 refused with PERMISSION_DENIED" \
    bash -c "[[ $rc -ne 0 ]] && grep -q PERMISSION_DENIED '$tmp/npx.out'"
check "root still served" bash -c "'$KPLEG' status -s '$SOCK' -o json >/dev/null"

echo "--- SIGTERM"
stop_bg "$d1" TERM
check "SIGTERM: exit 0" test "$rc" -eq 0
check "SIGTERM: API socket removed" test ! -e "$SOCK"
check "SIGTERM: CRI proxy socket removed" test ! -e "$PSOCK"
check "SIGTERM: says it stopped" log_has "$tmp/d1.log" '"Stopped"'
# shellcheck disable=SC2086
check "SIGTERM: every BPF link of the daemon gone" none_left $links

echo "--- started inside the systemd unit's bounding set"
UNIT_CAPS=$(sed -n 's/^CapabilityBoundingSet=//p' "$ROOT/deploy/kpleg.service")
check "the unit's bounding set is the start-up set" \
    test "$UNIT_CAPS" = "CAP_BPF CAP_PERFMON CAP_DAC_READ_SEARCH CAP_SETPCAP CAP_CHOWN"
bset=-all
for c in $UNIT_CAPS; do c=${c#CAP_}; bset+=",+${c,,}"; done
start_bg "$tmp/d2.out" "$tmp/d2.log" setpriv --bounding-set="$bset" \
    "$KPLEG" daemon -r "$EP" -s "$SOCK" --allow-uid 65534 --allow-gid 65534
d2=$bg_pid
must "daemon serving" wait_for 20 log_has "$tmp/d2.log" '"Serving" socket='
check "kernel hints active inside the bounding set" log_has "$tmp/d2.log" '"Kernel hints active"'
check "socket chowned to the allowed uid/gid (CAP_CHOWN at start-up)" test "$(stat -c %u:%g "$SOCK")" = 65534:65534
check "every thread: the same end set" sets_are "$d2" "$WANT"
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups "$KPLEG" status -s "$SOCK" -o json >"$tmp/ok.out" 2>&1 || rc=$?
check "allowed uid served" jq -e '.bpf_active == true' "$tmp/ok.out" >/dev/null
stop_bg "$d2" TERM
check "SIGTERM: exit 0, socket removed" bash -c "[[ $rc -eq 0 ]] && [[ ! -e '$SOCK' ]]"

echo "--- --no-bpf keeps nothing"
start_bg "$tmp/d3.out" "$tmp/d3.log" "$KPLEG" daemon -r "$EP" -s "$SOCK" --no-bpf
d3=$bg_pid
must "daemon serving" wait_for 20 log_has "$tmp/d3.log" '"Serving" socket='
check "every thread: no capability at all, NoNewPrivs 1" sets_are "$d3" 0000000000000000
check "log: kept none" log_has "$tmp/d3.log" '"Dropped privileges" kept="none" boundingSet="none"'
check "still tracks (synced)" wait_for 20 bash -c "'$KPLEG' status -s '$SOCK' -o json | jq -e .synced >/dev/null"
stop_bg "$d3" TERM
check "SIGTERM: exit 0" test "$rc" -eq 0

echo "--- no shell-outs"
# report_plot.c is `kpleg report`'s (an offline tool run by a person): it
# starts gnuplot with posix_spawnp, never a shell, and no daemon path reaches it.
check "no system(), popen(), exec*() or fork() in the daemon's code" \
    bash -c "! grep -nE '\\b(system|popen|execl|execlp|execle|execv|execvp|execvpe|fork|vfork|posix_spawnp?)\\s*\\(' \
        '$ROOT'/user/*.c \$(ls '$ROOT'/user/cli/*.c | grep -v '/report_plot\\.c\$')"

echo "privs_test: $fails failure(s)"
[[ $fails -eq 0 ]]
