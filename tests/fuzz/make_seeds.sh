#!/usr/bin/env bash
# Regenerates the seed corpora of tests/fuzz/corpus/ that are built from text:
# CRI replies and kpleg API messages encoded by protoc from the text format
# below, ring records of the kernel hints, config files. (fuzz_cgroup_path's
# seeds are the paths of tests/test_cgroup_path.c; regression seeds are kept
# as found.) Needs protoc and python3; run from anywhere, then commit.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
C=$ROOT/tests/fuzz/corpus
cd "$ROOT"

UID_=3f2b6a1c-8d4e-4f7a-9b0c-1d2e3f4a5b6c
SB=5d0f2c3b4a5968776655443322110099aabbccddeeff00112233445566778899
CT=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

enc() { # proto message-type < text
    protoc --encode="$2" -Iproto "proto/$1"
}

# ---- CRI: frames [kind][flags][len16le][bytes] (see fuzz_cri.c) ----
frame() { # kind flags file
    python3 -c 'import sys,struct
k,f,p=int(sys.argv[1],0),int(sys.argv[2],0),sys.argv[3]
b=open(p,"rb").read()
sys.stdout.buffer.write(struct.pack("<BBH",k,f,len(b))+b)' "$@"
}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
SBMETA="metadata { name: \"web-0\" uid: \"$UID_\" namespace: \"shop\" attempt: 0 }"
LABELS='labels { key: "io.kubernetes.pod.uid" value: "'$UID_'" } labels { key: "app" value: "web" }'
enc cri.proto runtime.v1.ListPodSandboxResponse > "$T/lps" <<EOF
items { id: "$SB" $SBMETA state: SANDBOX_READY created_at: 1700000000000000000 $LABELS annotations { key: "a" value: "b" } runtime_handler: "runc" }
items { id: "0000000000000000000000000000000000000000000000000000000000000001" metadata { name: "db-0" uid: "11111111-2222-3333-4444-555555555555" namespace: "shop" } state: SANDBOX_NOTREADY created_at: 5 }
EOF
enc cri.proto runtime.v1.ListContainersResponse > "$T/lc" <<EOF
containers { id: "$CT" pod_sandbox_id: "$SB" metadata { name: "app" attempt: 1 } image { image: "busybox" } image_ref: "sha256:00" state: CONTAINER_RUNNING created_at: 1700000000000000001 $LABELS annotations { key: "io.kubernetes.container.restartCount" value: "1" } }
containers { id: "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210" pod_sandbox_id: "$SB" metadata { name: "init" } state: CONTAINER_EXITED created_at: 3 }
EOF
enc cri.proto runtime.v1.PodSandboxStatusResponse > "$T/pss" <<EOF
status { id: "$SB" $SBMETA state: SANDBOX_READY created_at: 1700000000000000000 network { ip: "10.88.0.5" additional_ips { ip: "fd00::5" } } $LABELS runtime_handler: "runc" }
info { key: "info" value: "{}" }
EOF
enc cri.proto runtime.v1.PodSandboxStatusResponse > "$T/pss-nr" <<EOF
status { id: "$SB" $SBMETA state: SANDBOX_NOTREADY created_at: 1700000000000000000 }
EOF
enc cri.proto runtime.v1.ContainerStatusResponse > "$T/cs-run" <<EOF
status { id: "$CT" metadata { name: "app" attempt: 1 } state: CONTAINER_RUNNING created_at: 1700000000000000001 started_at: 1700000000000000002 image { image: "busybox" } image_ref: "sha256:00" $LABELS log_path: "/var/log/pods/x" }
EOF
enc cri.proto runtime.v1.ContainerStatusResponse > "$T/cs-exit" <<EOF
status { id: "$CT" metadata { name: "app" attempt: 1 } state: CONTAINER_EXITED created_at: 1700000000000000001 started_at: 1700000000000000002 finished_at: 1700000000000000003 exit_code: 137 reason: "OOMKilled" message: "killed" image { image: "busybox" } }
EOF
enc cri.proto runtime.v1.ContainerEventResponse > "$T/ev-start" <<EOF
container_id: "$CT" container_event_type: CONTAINER_STARTED_EVENT created_at: 1700000000000000002
pod_sandbox_status { id: "$SB" $SBMETA state: SANDBOX_READY created_at: 1700000000000000000 }
containers_statuses { id: "$CT" metadata { name: "app" } state: CONTAINER_RUNNING created_at: 1 started_at: 2 }
EOF
enc cri.proto runtime.v1.ContainerEventResponse > "$T/ev-del" <<EOF
container_id: "$CT" container_event_type: CONTAINER_DELETED_EVENT created_at: 1700000000000000009
pod_sandbox_status { id: "$SB" $SBMETA state: SANDBOX_NOTREADY created_at: 1700000000000000000 }
EOF
printf '\x89\x00\x00\x00' > "$T/exit137"
: > "$T/empty"
D=$C/fuzz_cri
mkdir -p "$D"
frame 0 0 "$T/lps" > "$D/list-sandboxes"
frame 1 0x1a "$T/lc" > "$D/list-containers-3-slices"
{ frame 2 0x10 "$T/pss"; frame 3 0x10 "$T/cs-run"; frame 3 0x10 "$T/cs-exit"; } > "$D/fetch-run-exit"
{ frame 2 0x14 "$T/pss"; frame 3 0x14 "$T/cs-run"; frame 6 2 "$T/exit137"; frame 3 0x10 "$T/cs-exit"; } > "$D/provisional-confirmed"
{ frame 4 1 "$T/ev-start"; frame 4 1 "$T/ev-del"; frame 5 0x20 "$T/empty"; } > "$D/events-removed"
{ frame 2 0x10 "$T/pss"; frame 3 0x10 "$T/cs-run"; frame 2 0x90 "$T/pss-nr"; frame 5 0 "$T/empty"; frame 3 0x80 "$T/cs-run"; } > "$D/stale-after-removal"

# ---- kpleg API: [type byte][message] (see fuzz_api.c) ----
D=$C/fuzz_api
mkdir -p "$D"
msg() { # type-byte name message-type < text
    { printf "\\x$1"; enc kpleg.proto "$3"; } > "$D/$2"
}
msg 00 status kpleg.v1.StatusRequest < /dev/null
msg 01 list-all kpleg.v1.ListPodsRequest < /dev/null
msg 01 list-selector kpleg.v1.ListPodsRequest <<EOF
namespace: "shop" label_selector { key: "app" value: "web" } label_selector { key: "empty" value: "" }
EOF
msg 02 get-uid kpleg.v1.GetPodRequest <<< "uid: \"$UID_\" min_observed_mono_ns: 1"
msg 02 get-name kpleg.v1.GetPodRequest <<< 'namespace: "shop" name: "web-0"'
msg 03 watch kpleg.v1.WatchRequest <<EOF
from_seq: 5 namespace: "shop" pod_uid: "$UID_" types: EVENT_TYPE_CONTAINER_DIED types: EVENT_TYPE_CONTAINER_CONFIRMED epoch: 42
EOF
msg 04 watch-event kpleg.v1.WatchResponse <<EOF
event { seq: 7 type: EVENT_TYPE_CONTAINER_DIED source: SOURCE_KERNEL observed_mono_ns: 10 pod_uid: "$UID_" pod_name: "web-0" namespace: "shop" sandbox_id: "$SB" container_id: "$CT" container_name: "app" has_exit_code: true exit_code: 137 reason: "OOMKilled" provisional: true kernel_mono_ns: 9 }
epoch: 42
EOF

# ---- kernel hints: ring records (include/kpleg_hints.h) ----
D=$C/fuzz_hints
mkdir -p "$D"
python3 - "$D" "$UID_" "$CT" <<'EOF'
import struct, sys
d, uid, ct = sys.argv[1:]
def hint(t, cgid=4242, code=0, status=0, pid=0, flags=0):
    return struct.pack('<QQQIiIIII', cgid, 17, 123456789, t, code, status, pid, 4, flags)
def created(path, pflags=0):
    p = path.encode()
    return hint(1) + struct.pack('<II', len(p), pflags) + p.ljust(512, b'\0')[:512]
cfs = f'/kubepods/burstable/pod{uid}/{ct}'
sd = f'/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid.replace("-", "_")}.slice/cri-containerd-{ct}.scope'
recs = {
    'created-cgroupfs': created(cfs),
    'created-systemd': created(sd),
    'created-pod': created(f'/kubepods/pod{uid}'),
    'created-truncated': created('/kubepods/' + 'x' * 600, 1),
    'started': hint(2, pid=1234) + cfs.encode(),
    'exited-137': hint(3, code=137, status=9, pid=1234, flags=4) + cfs.encode(),
    'oom-sub': hint(4, pid=99) + (cfs + '/sub').encode(),
    'removed': hint(5) + sd.encode(),
    'unknown-type': hint(9),
}
for n, b in recs.items():
    open(f'{d}/{n}', 'wb').write(b)
EOF

# ---- config files ----
D=$C/fuzz_config
mkdir -p "$D"
cat > "$D/daemon.conf" <<'EOF'
# /etc/kpleg/kpleg.conf
runtime-endpoint = unix:///run/containerd/containerd.sock
socket = /run/kpleg/kpleg.sock
cri-proxy-socket = /run/kpleg/cri.sock
allow-uid = 1000
allow-gid = 1001
mode = auto
relist-period = 1000
no-bpf = false
cgroup-controller = memory
max-watchers = 64
replay-buffer = 4096
metrics-address = 127.0.0.1:9100
health-threshold = 180000
v = 2
EOF
printf 'mode=evented\r\n\tno-bpf =  true \n\n   # comment\nv = 0' > "$D/crlf-tabs-no-final-newline"
printf 'socket /run/kpleg.sock\n' > "$D/no-equals"
printf 'colour = blue\n' > "$D/unknown-key"
printf 'no-bpf = yes\n' > "$D/bad-boolean"
printf 'mode = fast\n' > "$D/refused-value"
