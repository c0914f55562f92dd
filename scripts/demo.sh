#!/usr/bin/env bash
# `make demo`: kpleg on a self-contained default. Starts a private containerd
# 1.7, shows what `kpleg info` sees, then runs `kpleg watch` while a few
# kubelet-style pods start containers that exit with different codes and are
# removed, and shows the pods as kpleg sees them. Everything is torn down at
# the end.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
KPLEG=$BUILD/kpleg
PODCTL=$BUILD/podctl

[[ $(id -u) -eq 0 ]] || { echo "demo: run as root (it starts containerd)" >&2; exit 1; }
watch_pid=
out=$(mktemp)
cleanup() {
    [[ -n $watch_pid ]] && kill "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
    rm -f "$out"
    scripts/containerd.sh stop 1.7 --name demo >/dev/null 2>&1 || true
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "starting a private containerd 1.7"
sock=$(scripts/containerd.sh start 1.7 --name demo | tail -n 1)
EP=unix://$sock

step "kpleg info --runtime-endpoint $EP"
"$KPLEG" info --runtime-endpoint "$EP"

step "kpleg watch --runtime-endpoint $EP   (in the background; its lines follow)"
"$KPLEG" watch --runtime-endpoint "$EP" >"$out" &
watch_pid=$!
sleep 1.5 # loading the BPF programs and the first sync

step "three pods, one per QoS class, four containers"
read -r web _ < <("$PODCTL" -r "$EP" pod web --namespace shop --qos burstable)
read -r job _ < <("$PODCTL" -r "$EP" pod batch-job --namespace shop --qos besteffort)
read -r db db_uid < <("$PODCTL" -r "$EP" pod db --namespace data --qos guaranteed)
server=$("$PODCTL" -r "$EP" ctr "$web" server --qos burstable -- /bin/sh -c 'exec sleep 3600')
ok=$("$PODCTL" -r "$EP" ctr "$job" finishes -- /bin/sh -c 'sleep 0.2; exit 0')
bad=$("$PODCTL" -r "$EP" ctr "$job" fails -- /bin/sh -c 'sleep 0.2; exit 3')
killed=$("$PODCTL" -r "$EP" ctr "$db" killed --qos guaranteed -- sleep 3600)
for c in "$server" "$ok" "$bad" "$killed"; do "$PODCTL" -r "$EP" start "$c"; done
sleep 0.3

step "SIGKILL to the db container's process, from outside the runtime"
# Guaranteed pods sit right under /kubepods; the pid is the container's init.
for h in /sys/fs/cgroup/unified /sys/fs/cgroup/pids /sys/fs/cgroup; do
    procs=$h/kubepods/pod$db_uid/$killed/cgroup.procs
    if [[ -r $procs ]]; then pid=$(head -n 1 "$procs"); break; fi
done
echo "  kill -9 ${pid:?no process in the cgroup of the container}"
kill -9 "$pid"
sleep 1
for c in "$server" "$ok" "$bad" "$killed"; do
    printf '  %.13s %s\n' "$c" "$("$PODCTL" -r "$EP" status "$c")"
done

step "kpleg pods -o wide"
"$KPLEG" pods --runtime-endpoint "$EP" -o wide

step "removing the exited containers and the batch pod"
for c in "$ok" "$bad"; do "$PODCTL" -r "$EP" rm "$c"; done
"$PODCTL" -r "$EP" stopp "$job" && "$PODCTL" -r "$EP" rmp "$job"
sleep 0.5
"$KPLEG" pods --runtime-endpoint "$EP"

step "what kpleg watch saw (kernel hints first, provisional; then the runtime confirms)"
kill "$watch_pid" && wait "$watch_pid" 2>/dev/null
watch_pid=
cat "$out"

step "done: tearing the private containerd down"
