#!/usr/bin/env bash
# Private containerd instances for kpleg's tests and demo.
#
#   scripts/containerd.sh start 1.6|1.7 [--name N]   last output line: socket path
#   scripts/containerd.sh stop  1.6|1.7 [--name N]
#   scripts/containerd.sh stop-all
#   scripts/containerd.sh daemon-stop  1.6|1.7 [--name N]
#   scripts/containerd.sh daemon-start 1.6|1.7 [--name N]   last output line: socket path
#
# daemon-stop/daemon-start stop and start the containerd daemon of a running
# instance alone: its containers, shims, root and state stay, so a test can
# restart the runtime under a tracker (containerd reconnects to the shims).
#
# 1.6 = Debian bookworm's /usr/bin/containerd; 1.7 = trixie's, unpacked by
# scripts/install-deps.sh into .deps/containerd-1.7 (its own shim first in PATH).
# Default names: cd16 / cd17. Per instance N:
#   /var/lib/kpleg-test/N              containerd root
#   /run/kpleg-test/N/state            containerd state (runc root: state/runc/<ns>)
#   /run/kpleg-test/N/containerd.sock  gRPC (CRI) socket (+ .ttrpc)
#   /run/kpleg-test/N/config.toml, containerd.log, containerd.pid
#   /run/kpleg-test/N/env              shell-sourceable KEY=VALUE lines
# The image build/image/kpleg-test.tar (localhost/kpleg/test:1, also the CRI
# sandbox image) is imported into namespace k8s.io at start.
# stop kills every container, shim and the daemon, unmounts everything under
# the instance's dirs, removes them and rmdirs the empty cgroups left behind.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_BASE=/run/kpleg-test
LIB_BASE=/var/lib/kpleg-test
IMAGE_NAME=localhost/kpleg/test:1
IMAGE_TAR=$ROOT/build/image/kpleg-test.tar
START_TIMEOUT=${KPLEG_CONTAINERD_TIMEOUT:-20}
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUNC=runc

log() { echo "containerd.sh: $*" >&2; }
die() { echo "containerd.sh: error: $*" >&2; exit 1; }

usage() {
    cat >&2 <<'EOF'
usage: scripts/containerd.sh start 1.6|1.7 [--name N]
       scripts/containerd.sh stop  1.6|1.7 [--name N]
       scripts/containerd.sh stop-all
       scripts/containerd.sh daemon-stop|daemon-start 1.6|1.7 [--name N]
EOF
    exit 2
}

# ------------------------------------------------------------ instance vars --
set_instance() { # NAME
    NAME=$1
    [[ "$NAME" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || die "bad instance name '$NAME'"
    RUNDIR=$RUN_BASE/$NAME
    LIBDIR=$LIB_BASE/$NAME
    STATEDIR=$RUNDIR/state
    SOCK=$RUNDIR/containerd.sock
    TTRPC_SOCK=$RUNDIR/containerd.sock.ttrpc
    CONFIG=$RUNDIR/config.toml
    LOGFILE=$RUNDIR/containerd.log
    PIDFILE=$RUNDIR/containerd.pid
    ENVFILE=$RUNDIR/env
    RUNC_ROOT=$STATEDIR/runc
}

set_version() { # 1.6|1.7
    VERSION=$1
    case "$VERSION" in
        1.6) BINDIR=/usr/bin
             HINT="apt-get install containerd (or scripts/install-deps.sh)" ;;
        1.7) BINDIR=$ROOT/.deps/containerd-1.7/usr/bin
             HINT="run scripts/install-deps.sh" ;;
        *) die "unknown containerd version '$VERSION' (want 1.6 or 1.7)" ;;
    esac
    CONTAINERD=$BINDIR/containerd
    CTR=$BINDIR/ctr
    RUN_PATH=$BINDIR:$SYS_PATH
}

check_binaries() {
    local b v
    for b in "$CONTAINERD" "$CTR" "$BINDIR/containerd-shim-runc-v2"; do
        [ -x "$b" ] || die "$b not found: $HINT"
    done
    command -v "$RUNC" >/dev/null || die "runc not found (apt-get install runc)"
    v=$("$CONTAINERD" --version 2>&1) || die "$CONTAINERD --version failed: $v"
    [[ "$v" == *" $VERSION."* || "$v" == *" v$VERSION."* ]] \
        || die "$CONTAINERD is not containerd $VERSION: $v"
}

ctr_() { "$CTR" --address "$SOCK" --timeout 10s "$@"; }

# --------------------------------------------------------------- processes --
# PIDs of containerd daemons, shims and ctr clients (nothing else) with an
# argument equal to one of the args (or ending in "=ARG" / "unix://ARG").
pids_with_arg() {
    local p a want comm
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        if [ "$p" = $$ ] || [ "$p" = "$BASHPID" ]; then continue; fi
        comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
        case "$comm" in containerd|containerd-shim*|ctr) ;; *) continue ;; esac
        while IFS= read -r -d '' a; do
            for want in "$@"; do
                case "$a" in
                    "$want"|*"=$want"|"unix://$want") echo "$p"; continue 3 ;;
                esac
            done
        done < "/proc/$p/cmdline" 2>/dev/null || true
    done
}

# Serialise start/stop of one instance (parallel test runners).
lock_instance() {
    mkdir -p /run/lock
    exec 9>"/run/lock/kpleg-test-$NAME.lock"
    flock -w 60 9 || die "$NAME: another containerd.sh holds /run/lock/kpleg-test-$NAME.lock"
}

daemon_pid() { # live containerd pid of this instance, or nothing
    local p
    if [ -f "$PIDFILE" ]; then
        p=$(cat "$PIDFILE")
        if [ -r "/proc/$p/cmdline" ] && tr '\0' '\n' < "/proc/$p/cmdline" 2>/dev/null | grep -xF "$CONFIG" >/dev/null; then
            echo "$p"; return 0
        fi
    fi
    pids_with_arg "$CONFIG" | sed -n 1p
}

# Running (a zombie waiting for init to reap it counts as gone).
is_alive() {
    local line st
    line=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${line##*) }; st=${st%% *}
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

wait_gone() { # SECONDS PID...
    local deadline=$((SECONDS + $1)) p alive
    shift
    while :; do
        alive=""
        for p in "$@"; do is_alive "$p" && alive="$alive $p"; done
        [ -z "$alive" ] && return 0
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}

# ------------------------------------------------------------------ config --
write_config() {
    local extra_disabled=""
    [ "$VERSION" = 1.7 ] && extra_disabled=', "io.containerd.snapshotter.v1.blockfile", "io.containerd.nri.v1.nri", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"'
    cat > "$CONFIG" <<EOF
# Generated by scripts/containerd.sh for instance $NAME (containerd $VERSION).
version = 2
root = "$LIBDIR"
state = "$STATEDIR"
oom_score = 0
required_plugins = ["io.containerd.grpc.v1.cri"]
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"$extra_disabled]

[grpc]
  address = "$SOCK"
  tcp_address = ""
  max_recv_message_size = 16777216
  max_send_message_size = 16777216

[ttrpc]
  address = "$TTRPC_SOCK"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$LIBDIR/opt"

  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "$IMAGE_NAME"
    restrict_oom_score_adj = true
    disable_apparmor = true
    enable_selinux = false
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_tls_streaming = false
    max_container_log_line_size = 16384

    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      no_pivot = false

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"

        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = "$RUNC_ROOT"

    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "$RUNDIR/cni/bin"
      conf_dir = "$RUNDIR/cni/net.d"
EOF
}

write_env() {
    cat > "$ENVFILE.tmp" <<EOF
KPLEG_CRI_NAME=$NAME
KPLEG_CRI_VERSION=$VERSION
KPLEG_CRI_SOCKET=$SOCK
KPLEG_CRI_ENDPOINT=unix://$SOCK
KPLEG_CONTAINERD_PID=$1
KPLEG_CONTAINERD_BIN=$CONTAINERD
KPLEG_CONTAINERD_CONFIG=$CONFIG
KPLEG_CONTAINERD_LOG=$LOGFILE
KPLEG_CONTAINERD_ROOT=$LIBDIR
KPLEG_CONTAINERD_STATE=$STATEDIR
KPLEG_CTR=$CTR
KPLEG_RUNC_ROOT=$RUNC_ROOT
KPLEG_TEST_IMAGE=$IMAGE_NAME
CONTAINERD_ADDRESS=$SOCK
CONTAINERD_NAMESPACE=k8s.io
EOF
    mv -f "$ENVFILE.tmp" "$ENVFILE"
}

fail_start() { # MESSAGE
    echo "containerd.sh: error: $NAME: $1" >&2
    if [ -f "$LOGFILE" ]; then
        echo "---- last lines of $LOGFILE ----" >&2
        tail -n 25 "$LOGFILE" >&2
        echo "----" >&2
    fi
    # Do not leave a half-started daemon behind (dirs and log stay for
    # inspection; the next start or stop cleans them up).
    if [ -n "${pid:-}" ] && is_alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "containerd.sh: (run 'scripts/containerd.sh stop $VERSION --name $NAME' to clean up)" >&2
    exit 1
}

# ------------------------------------------------------------------- start --
cmd_start() {
    local pid v deadline st
    check_binaries
    if pid=$(daemon_pid) && [ -n "$pid" ] && [ -S "$SOCK" ] && ctr_ version >/dev/null 2>&1; then
        log "$NAME: already running (pid $pid)"
        [ -f "$ENVFILE" ] || write_env "$pid"
        echo "$SOCK"
        return 0
    fi
    # Leftovers of a crashed instance: clean them first.
    if [ -e "$RUNDIR" ] || [ -e "$LIBDIR" ]; then
        log "$NAME: cleaning up leftovers of a previous run"
        cmd_stop
    fi

    "$ROOT/scripts/build-image.sh" "$(dirname "$IMAGE_TAR")" >&2 \
        || die "building $IMAGE_TAR failed"

    mkdir -p "$RUNDIR/cni/net.d" "$RUNDIR/cni/bin" "$STATEDIR" "$LIBDIR" "$RUNC_ROOT"
    chmod 0711 "$RUNDIR" "$LIBDIR"
    write_config
    : > "$LOGFILE"

    log "$NAME: starting $("$CONTAINERD" --version | awk '{print $3}') on $SOCK"
    # Own session so it outlives this script (and its caller's process group).
    PATH=$RUN_PATH setsid "$CONTAINERD" --config "$CONFIG" \
        </dev/null >>"$LOGFILE" 2>&1 9>&- &
    pid=$!
    echo "$pid" > "$PIDFILE"

    deadline=$((SECONDS + START_TIMEOUT))
    # (ctr blocks until its --timeout while the socket does not exist yet)
    until [ -S "$SOCK" ] && "$CTR" --address "$SOCK" --timeout 2s version >/dev/null 2>&1; do
        is_alive "$pid" || fail_start "containerd exited during start-up"
        [ "$SECONDS" -lt "$deadline" ] || fail_start "socket $SOCK not answering after ${START_TIMEOUT}s"
        sleep 0.1
    done
    v=$(ctr_ version 2>/dev/null | awk '/^Server:/{s=1} s && !v && /Version:/{v=$2} END{print v}')
    [[ "$v" == "$VERSION".* || "$v" == v"$VERSION".* ]] || fail_start "server reports version '$v', expected $VERSION.x"

    st=$(ctr_ plugins ls 2>/dev/null | awk '$1 == "io.containerd.grpc.v1" && $2 == "cri" {print $NF}')
    [ "$st" = ok ] || fail_start "CRI plugin status is '${st:-missing}', not ok"
    # The CRI server finishes its own start-up (event monitor, streaming
    # server) asynchronously; wait for it so the first CRI call does not fail.
    until grep -q 'Start streaming server' "$LOGFILE"; do
        is_alive "$pid" || fail_start "containerd exited during CRI start-up"
        [ "$SECONDS" -lt "$deadline" ] || fail_start "CRI server not started after ${START_TIMEOUT}s"
        sleep 0.1
    done

    local imp=(images import --platform linux/amd64)
    [ "$VERSION" = 1.7 ] && imp+=(--local)
    ctr_ -n k8s.io "${imp[@]}" "$IMAGE_TAR" >/dev/null 2>"$RUNDIR/import.err" \
        || fail_start "importing $IMAGE_TAR failed: $(tr '\n' ' ' < "$RUNDIR/import.err")"
    rm -f "$RUNDIR/import.err"
    ctr_ -n k8s.io images label "$IMAGE_NAME" io.cri-containerd.image=managed >/dev/null \
        || fail_start "labelling $IMAGE_NAME failed"
    ctr_ -n k8s.io images ls -q | grep -xF "$IMAGE_NAME" >/dev/null \
        || fail_start "$IMAGE_NAME not listed in namespace k8s.io after import"

    write_env "$pid"
    log "$NAME: ready (pid $pid, containerd $v, env $ENVFILE)"
    echo "$SOCK"
}

# -------------------------------------------------------------------- stop --
# Every cgroup mount point (v1 controllers and the v2 hierarchy).
cgroup_mounts() { findmnt -rn -t cgroup,cgroup2 -o TARGET; }

# Containers of this instance in runc root DIR: prints "ID BUNDLE".
runc_containers() { # ROOTDIR [require-bundle-prefix]
    local id bundle
    [ -d "$1" ] || return 0
    for id in $("$RUNC" --root "$1" list -q 2>/dev/null); do
        bundle=$("$RUNC" --root "$1" state "$id" 2>/dev/null \
                 | sed -n 's/^ *"bundle": *"\(.*\)",\{0,1\}$/\1/p')
        if [ -n "${2:-}" ]; then
            [[ "$bundle" == "$2"/* ]] || continue
        fi
        echo "$id $bundle"
    done
}

# rmdir empty cgroups under REL (e.g. /kubepods) in every hierarchy, deepest first.
rmdir_cgroup_tree() { # REL
    local m d
    for m in $(cgroup_mounts); do
        [ -d "$m$1" ] || continue
        find "$m$1" -depth -mindepth 0 -type d 2>/dev/null | while IFS= read -r d; do
            rmdir "$d" 2>/dev/null || true
        done
    done
}

# With no instance left: empty cgroups under /kubepods and /k8s.io (ctr's
# default parent) and the empty dirs runc/shims/ctr made in /run/containerd.
sweep_shared() {
    rmdir_cgroup_tree /kubepods
    rmdir_cgroup_tree /k8s.io
    if [ -d /run/containerd ] && [ ! -e /run/containerd/containerd.sock ]; then
        find /run/containerd -depth -mindepth 1 -type d \
            \( -path '/run/containerd/s' -o -path '/run/containerd/s/*' \
               -o -path '/run/containerd/fifo' -o -path '/run/containerd/fifo/*' \
               -o -path '/run/containerd/runc' -o -path '/run/containerd/runc/*' \) \
            -empty -exec rmdir {} \; 2>/dev/null || true
        rmdir /run/containerd 2>/dev/null || true
    fi
}

other_instances_running() {
    local d n
    for d in "$RUN_BASE"/*/; do
        [ -d "$d" ] || continue
        n=$(basename "$d")
        [ "$n" = "$NAME" ] && continue
        [ -f "$d/containerd.pid" ] || continue
        if tr '\0' '\n' < "/proc/$(cat "$d/containerd.pid")/cmdline" 2>/dev/null \
                | grep -xF "$d""config.toml" >/dev/null; then
            return 0
        fi
    done
    return 1
}

cmd_stop() {
    local pid pids r ns id bundle cg m f t cgroups=() left killed
    if [ ! -e "$RUNDIR" ] && [ ! -e "$LIBDIR" ] && [ -z "$(pids_with_arg "$CONFIG" "$SOCK")" ]; then
        log "$NAME: not running"
        return 0
    fi
    log "$NAME: stopping"

    # 1. The daemon: SIGTERM, then SIGKILL.
    pid=$(daemon_pid || true)
    killed=$pid
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone 10 "$pid"; then
            log "$NAME: containerd $pid ignored SIGTERM, killing"
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone 5 "$pid" || die "$NAME: containerd $pid does not die"
        fi
    fi

    # 2. Containers: ours are in our runc root (any namespace) or, when created
    #    without a runc root (plain `ctr run`), in runc's default root with a
    #    bundle under our state dir.
    local roots=()
    for r in "$RUNC_ROOT"/*/ /run/containerd/runc/*/; do
        [ -d "$r" ] && roots+=("${r%/}")
    done
    for r in "${roots[@]}"; do
        local prefix=""
        [[ "$r" == "$RUNC_ROOT"/* ]] || prefix=$STATEDIR
        while read -r id bundle; do
            [ -n "$id" ] || continue
            if [ -f "$bundle/config.json" ]; then
                cg=$(grep -o '"cgroupsPath":"[^"]*"' "$bundle/config.json" | sed -n 1p | cut -d'"' -f4 || true)
                [ -n "$cg" ] && [[ "$cg" == /* ]] && cgroups+=("$cg")
            fi
            "$RUNC" --root "$r" kill --all "$id" KILL >/dev/null 2>&1 || true
            "$RUNC" --root "$r" delete --force "$id" >/dev/null 2>&1 \
                || log "$NAME: warning: runc --root $r delete -f $id failed"
        done < <(runc_containers "$r" "$prefix")
    done
    # Bundles whose runc state is already gone still name their cgroups.
    for f in "$STATEDIR"/io.containerd.runtime.v2.task/*/*/config.json; do
        [ -f "$f" ] || continue
        cg=$(grep -o '"cgroupsPath":"[^"]*"' "$f" | sed -n 1p | cut -d'"' -f4 || true)
        [ -n "$cg" ] && [[ "$cg" == /* ]] && cgroups+=("$cg")
    done

    # 3. Shims and any other process talking to this instance (ctr clients...).
    pids=$(pids_with_arg "$SOCK" "$TTRPC_SOCK" "$CONFIG" | tr '\n' ' ')
    if [ -n "${pids// /}" ]; then
        killed="$killed $pids"
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
        # shellcheck disable=SC2086
        wait_gone 5 $pids || log "$NAME: warning: processes still alive: $pids"
    fi
    # Stragglers inside our containers' cgroups.
    for cg in "${cgroups[@]}"; do
        for m in $(cgroup_mounts); do
            [ -f "$m$cg/cgroup.procs" ] || continue
            pids=$(tr '\n' ' ' < "$m$cg/cgroup.procs")
            # shellcheck disable=SC2086
            [ -n "${pids// /}" ] && { kill -KILL $pids 2>/dev/null || true; }
        done
    done

    # Shim sockets live in /run/containerd/s/sha256(address/ns/id); ctr's
    # stdio fifos in /run/containerd/fifo/<random>/<id>-std{in,out,err}.
    for f in "$STATEDIR"/io.containerd.runtime.v2.task/*/*/; do
        [ -d "$f" ] || continue
        id=$(basename "$f"); ns=$(basename "$(dirname "$f")")
        rm -f "/run/containerd/s/$(printf '%s' "$SOCK/$ns/$id" | sha256sum | cut -d' ' -f1)"
        for t in /run/containerd/fifo/*/"$id"-stdout; do
            [ -p "$t" ] || continue
            rm -f "${t%-stdout}"-std{in,out,err}
            rmdir "$(dirname "$t")" 2>/dev/null || true
        done
    done

    # 4. Mounts under our dirs, deepest first.
    local _
    for _ in 1 2 3 4 5; do
        mapfile -t left < <(findmnt -rn -o TARGET | awk -v a="$RUNDIR" -v b="$LIBDIR" \
            '$0 == a || index($0, a "/") == 1 || $0 == b || index($0, b "/") == 1' \
            | awk '{print gsub("/", "/"), $0}' | sort -rn | cut -d' ' -f2-)
        [ "${#left[@]}" -eq 0 ] && break
        for t in "${left[@]}"; do
            t=$(printf '%b' "$t")   # findmnt -r escapes blanks as \x20
            umount "$t" 2>/dev/null || umount -l "$t" 2>/dev/null || true
        done
    done
    [ "${#left[@]}" -eq 0 ] || die "$NAME: mounts left: ${left[*]}"

    # 5. Directories (never cross into a file system still mounted).
    rm -rf --one-file-system "$RUNDIR" "$LIBDIR"
    if [ -e "$RUNDIR" ] || [ -e "$LIBDIR" ]; then
        die "$NAME: could not remove $RUNDIR / $LIBDIR"
    fi
    rmdir "$RUN_BASE" "$LIB_BASE" 2>/dev/null || true

    # 6. Cgroups: our containers' own (and their pod's), then, if no other
    #    instance runs, every empty one left under /kubepods and /k8s.io.
    for cg in "${cgroups[@]}"; do
        for m in $(cgroup_mounts); do
            rmdir "$m$cg" 2>/dev/null || true
            [[ "$cg" == /kubepods/* ]] && { rmdir "$m$(dirname "$cg")" 2>/dev/null || true; }
        done
    done
    if ! other_instances_running; then
        sweep_shared
    fi
    # Killed processes are re-parented to init; give it a moment to reap
    # them so that they do not linger as zombies in `ps`.
    local deadline=$((SECONDS + 3)) z
    for z in $killed; do
        while [ -e "/proc/$z" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    done
    log "$NAME: stopped"
}

# ------------------------------------------------- the daemon alone --
# SIGTERM to containerd only: shims run in their own sessions and keep the
# containers; the instance's dirs stay for daemon-start.
cmd_daemon_stop() {
    local pid
    [ -f "$CONFIG" ] || die "$NAME: no instance (start it first)"
    pid=$(daemon_pid || true)
    if [ -z "$pid" ]; then
        log "$NAME: daemon not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone 10 "$pid"; then
        log "$NAME: containerd $pid ignored SIGTERM, killing"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone 5 "$pid" || die "$NAME: containerd $pid does not die"
    fi
    log "$NAME: daemon stopped (pid $pid); containers and shims left running"
}

# The same daemon again on the instance's config, root and state; no image
# import (the root has it). Ready when the CRI server logged its start-up.
cmd_daemon_start() {
    local pid deadline before
    check_binaries
    [ -f "$CONFIG" ] || die "$NAME: no instance (use start)"
    if pid=$(daemon_pid) && [ -n "$pid" ]; then
        log "$NAME: daemon already running (pid $pid)"
        echo "$SOCK"
        return 0
    fi
    before=$(grep -c 'Start streaming server' "$LOGFILE" 2>/dev/null || true)
    log "$NAME: starting the daemon again on $SOCK"
    PATH=$RUN_PATH setsid "$CONTAINERD" --config "$CONFIG" \
        </dev/null >>"$LOGFILE" 2>&1 9>&- &
    pid=$!
    echo "$pid" > "$PIDFILE"
    deadline=$((SECONDS + START_TIMEOUT))
    until [ -S "$SOCK" ] && "$CTR" --address "$SOCK" --timeout 2s version >/dev/null 2>&1 &&
            [ "$(grep -c 'Start streaming server' "$LOGFILE")" -gt "${before:-0}" ]; do
        is_alive "$pid" || fail_start "containerd exited during start-up"
        [ "$SECONDS" -lt "$deadline" ] || fail_start "not ready after ${START_TIMEOUT}s"
        sleep 0.1
    done
    write_env "$pid"
    log "$NAME: daemon ready again (pid $pid)"
    echo "$SOCK"
}

cmd_stop_all() {
    local d names=() n
    for d in "$RUN_BASE"/*/ "$LIB_BASE"/*/; do
        [ -d "$d" ] || continue
        n=$(basename "$d")
        [[ " ${names[*]} " == *" $n "* ]] || names+=("$n")
    done
    if [ "${#names[@]}" -eq 0 ]; then
        log "no instance running"
    fi
    for n in "${names[@]}"; do
        set_instance "$n"
        lock_instance
        cmd_stop
    done
    # Last pass: no instance left.
    sweep_shared
}

# -------------------------------------------------------------------- main --
[ "$(id -u)" -eq 0 ] || die "must run as root"
[ $# -ge 1 ] || usage
CMD=$1; shift
case "$CMD" in
    start|stop|daemon-stop|daemon-start)
        [ $# -ge 1 ] || usage
        set_version "$1"; shift
        N=cd${VERSION//./}
        while [ $# -gt 0 ]; do
            case "$1" in
                --name) [ $# -ge 2 ] || usage; N=$2; shift 2 ;;
                --name=*) N=${1#--name=}; shift ;;
                *) usage ;;
            esac
        done
        set_instance "$N"
        lock_instance
        case "$CMD" in
            start) cmd_start ;;
            stop) cmd_stop ;;
            daemon-stop) cmd_daemon_stop ;;
            daemon-start) cmd_daemon_start ;;
        esac
        ;;
    stop-all) [ $# -eq 0 ] || usage; cmd_stop_all ;;
    -h|--help|help) usage ;;
    *) usage ;;
esac
