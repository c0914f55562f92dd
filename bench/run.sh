#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kpleg's benchmarks, every mode side by side on the same workload, written to
# bench/RESULTS.md (machine, versions, date, command, tables, raw numbers).
#
#   bench/run.sh            (what `make bench` runs; needs root)
#
# Environment (defaults in brackets):
#   BUILD [build]                 where fakecri is
#   BENCH_BIN [$BUILD/bench]      where exit_latency, relist_cost, idle_cpu are
#   BENCH_N [30]                  exits per mode and runtime
#   BENCH_IDLE_SECONDS [60]       idle CPU window
#   BENCH_SIZES [1000,10000]      container counts for the relist and memory runs
#   BENCH_STEADY_RELISTS [10]     relists averaged for the steady-state cost
#   BENCH_OUT [bench/RESULTS.md]  the report
#
# Starts its own containerd 1.6 and 1.7 (instances bench16, bench17) and its
# own fakecri processes, and stops all of them on exit, whatever happens.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
BENCH_BIN=${BENCH_BIN:-$BUILD/bench}
N=${BENCH_N:-30}
IDLE_S=${BENCH_IDLE_SECONDS:-60}
SIZES=${BENCH_SIZES:-1000,10000}
STEADY=${BENCH_STEADY_RELISTS:-10}
OUT=${BENCH_OUT:-bench/RESULTS.md}
CD16=bench16
CD17=bench17
COMMAND_LINE="bench/run.sh $*"
if [ -n "${MAKELEVEL:-}" ]; then COMMAND_LINE="make bench (bench/run.sh)"; fi

log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (containerd, cgroups)"
for b in exit_latency relist_cost idle_cpu; do
    [ -x "$BENCH_BIN/$b" ] || die "$BENCH_BIN/$b not built (run: make bench)"
done
[ -x "$BUILD/fakecri" ] || die "$BUILD/fakecri not built (run: make)"

WORK=$(mktemp -d /tmp/kpleg-bench.XXXXXX)
STARTED=()
CHILD=
cleanup() {
    local rc=$? v
    trap - EXIT INT TERM
    if [ -n "$CHILD" ] && kill -0 "$CHILD" 2>/dev/null; then
        kill -TERM "$CHILD" 2>/dev/null || true   # its fakecri children follow it
        wait "$CHILD" 2>/dev/null || true
    fi
    for v in "${STARTED[@]}"; do
        scripts/containerd.sh stop "${v%%:*}" --name "${v#*:}" >/dev/null 2>&1 \
            || log "warning: could not stop containerd instance ${v#*:}"
    done
    if [ "$rc" -ne 0 ]; then
        log "failed (exit $rc); last lines of $WORK/bench.log:"
        tail -n 30 "$WORK/bench.log" >&2 2>/dev/null || true
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_cd() { # VERSION NAME -> endpoint on stdout (caller records it in STARTED)
    scripts/containerd.sh start "$1" --name "$2" >>"$WORK/bench.log" 2>&1 \
        || die "containerd $1 ($2) did not start (see above)"
    # shellcheck disable=SC1090
    ( . "/run/kpleg-test/$2/env"; echo "$KPLEG_CRI_ENDPOINT" )
}

cd_version() { # NAME
    # shellcheck disable=SC1090
    ( . "/run/kpleg-test/$1/env"; "$KPLEG_CONTAINERD_BIN" --version | awk '{print $3}' )
}

# In the background and waited for, so that a signal reaches the trap at once.
run() { # TITLE-FOR-LOG CMD...   (stdout: the command's)
    local what=$1
    shift
    log "$what"
    echo "+ $*" >>"$WORK/bench.log"
    "$@" 2>>"$WORK/bench.log" &
    CHILD=$!
    wait "$CHILD"
    CHILD=
}

T0=$SECONDS
DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- 1. exit -> ContainerDied on real runtimes ------------------------------
log "starting containerd 1.6 ($CD16) and 1.7 ($CD17)"
STARTED+=("1.6:$CD16")
EP16=$(start_cd 1.6 "$CD16")
STARTED+=("1.7:$CD17")
EP17=$(start_cd 1.7 "$CD17")
V16=$(cd_version "$CD16")
V17=$(cd_version "$CD17")

run "exit latency: containerd $V16, generic + evented + auto at once, N=$N" \
    "$BENCH_BIN/exit_latency" --endpoint "$EP16" --modes generic,evented,auto --n "$N" \
    --seed 16 --title "containerd $V16: generic, evented and auto at once" >"$WORK/exit16.md"
run "exit latency: containerd $V17, round A: generic + evented, N=$N" \
    "$BENCH_BIN/exit_latency" --endpoint "$EP17" --modes generic,evented --n "$N" \
    --seed 171 --title "containerd $V17, round A: generic and evented at once" >"$WORK/exit17a.md"
run "exit latency: containerd $V17, round B: generic + auto, N=$N" \
    "$BENCH_BIN/exit_latency" --endpoint "$EP17" --modes generic,auto --n "$N" \
    --seed 172 --title "containerd $V17, round B: generic and auto at once" >"$WORK/exit17b.md"

log "stopping containerd"
for v in "${STARTED[@]}"; do
    scripts/containerd.sh stop "${v%%:*}" --name "${v#*:}" >>"$WORK/bench.log" 2>&1
done
STARTED=()

# ---- 2 + 3. relist cost and cache memory on fakecri ---------------------------
run "relist cost and memory: $SIZES containers" \
    "$BENCH_BIN/relist_cost" --fakecri "$BUILD/fakecri" --dir "$WORK" --sizes "$SIZES" \
    --per-pod 4 --steady-relists "$STEADY" --busy-seconds 5 >"$WORK/relist.md"

# The same relists with glibc keeping freed memory mapped (no trimming, no
# mmap for big blocks): the difference is what fresh page faults cost per relist.
TUNABLES=glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=268435456
BIG=${SIZES##*,}
run "relist cost again with GLIBC_TUNABLES=$TUNABLES: $BIG containers" \
    env GLIBC_TUNABLES=$TUNABLES "$BENCH_BIN/relist_cost" --fakecri "$BUILD/fakecri" \
    --dir "$WORK" --sizes "$BIG" --per-pod 4 --steady-relists "$STEADY" --busy-seconds 5 \
    --cpu-only --title "same, with GLIBC_TUNABLES=$TUNABLES" >"$WORK/relist-tunables.md"

# ---- 4. idle CPU, modes side by side ----------------------------------------
run "idle CPU: generic, evented, auto side by side, ${IDLE_S}s" \
    "$BENCH_BIN/idle_cpu" --fakecri "$BUILD/fakecri" --dir "$WORK" \
    --modes generic,evented,auto --seconds "$IDLE_S" --pods 250 --per-pod 4 >"$WORK/idle.md"

ELAPSED=$((SECONDS - T0))
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then DIRTY=" + uncommitted changes"; fi

# ---- the report ---------------------------------------------------------------
{
    cat <<EOF
# kpleg benchmark results

Generated by \`bench/run.sh\`; do not edit by hand. Absolute times are for this
machine only; the ratios between modes, measured side by side on the same
workload in the same run, are the claim.

| | |
|---|---|
| command | \`$COMMAND_LINE\` (BENCH_N=$N BENCH_IDLE_SECONDS=$IDLE_S BENCH_SIZES=$SIZES BENCH_STEADY_RELISTS=$STEADY) |
| date | $DATE |
| run time | ${ELAPSED} s |
| machine | $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM |
| kernel | $(uname -r) ($(uname -m)) |
| load average (1/5/15 min) | at start $LOAD0; at end $LOAD1 (other work on the machine shows here) |
| runtimes | containerd $V16 (Debian bookworm), containerd $V17 (Debian trixie, \`.deps/\`), fakecri (tests/fakecri, own process) |
| kpleg | commit $COMMIT$DIRTY; programs in \`$BENCH_BIN\`, fakecri \`$BUILD/fakecri\` |
| modes | generic = the kubelet's generic PLEG (relist every 1 s); evented = CRI events + relist every 300 s (1 s while the stream is down); auto = every source the node has. All other settings are the defaults. |

## 1. Container exit -> ContainerDied delivered

A kubelet-like container (\`sleep 3600\`, kubelet labels, cgroup parent
\`/kubepods/besteffort/pod<uid>\`) is created and started; once every tracker
has reported it started, the bench waits a random 0-1000 ms (so the kill lands
at a uniformly random point of the 1 s relist cycle), reads its pid from the
container's \`cgroup.procs\`, takes CLOCK_MONOTONIC and sends SIGKILL from
outside. Latency = CLOCK_MONOTONIC taken first thing in each tracker's
subscription callback when ContainerDied for that container arrives, minus the
kill instant. All trackers of a round run in one process against the same
runtime and see the same exits. The "runtime floor" row is the runtime's own
view of the same exits: ContainerStatus polled every 5 ms by the bench until it
says EXITED: no tracker that asks the runtime can beat it.

containerd 1.6 has no event stream (UNIMPLEMENTED), so evented and auto run
there as relisting trackers: all three modes run at once. containerd 1.7 hands
each event to only ONE subscriber (REFERENCE.md §2), so two event-consuming
trackers on one 1.7 would steal each other's events: evented and auto run in
separate rounds, each next to its own generic control, and each ratio is
against the generic tracker of the same round.

EOF
    cat "$WORK/exit16.md" "$WORK/exit17a.md" "$WORK/exit17b.md"
    cat <<EOF
## 2 and 3. Relist cost and cache memory at scale

fakecri (\`$BUILD/fakecri --pods P --containers-per-pod 4\`, every container
running with the kubelet's labels and annotations, no event stream) runs in its
own process, so the tracker process's getrusage(RUSAGE_SELF) is kpleg's CPU
only. Memory is the heap the tracker holds after its first sync
(mallinfo2().uordblks after minus before creating the tracker, with
M_ARENA_MAX=1 so that every thread's allocations are in the one arena mallinfo2
reports), divided by the container count with nothing subtracted.

EOF
    cat "$WORK/relist.md"
    cat <<EOF
The same measurement once more for the largest size, with glibc's malloc told
to keep freed memory (trim and mmap thresholds at 256 MiB, set through
GLIBC_TUNABLES in the environment of the bench process only; kpleg unchanged):
the difference from the table above is the cost of the page faults taken
every relist on freshly mapped reply buffers ("minor page faults/relist").

EOF
    cat "$WORK/relist-tunables.md"
    cat <<EOF
## 4. Idle CPU

One process per mode, all three at the same time, each with its own fakecri
(own process, event stream on) holding 1,000 running containers; nothing
changes during the window. Evented and auto relist every 300 s while the stream
is healthy, so no relist falls in a ${IDLE_S} s window: amortised, their
relist costs the 1,000-container steady relist CPU above divided by 300 s.
"Wakeups/s" counts context switches of the process's threads during the window:
kpleg's own threads (engine, workers, event reader, plus the bench's sleeping
main thread) versus the threads gRPC core starts by itself (timers, executor).

EOF
    cat "$WORK/idle.md"
} >"$WORK/RESULTS.md"
mv -f "$WORK/RESULTS.md" "$OUT"
log "done in ${ELAPSED}s: $OUT"
