#!/usr/bin/env bash
# Deployment files, checked without a cluster or a registry:
#   - `make install` into a temporary DESTDIR, with PREFIX=/usr and with the
#     default /usr/local: the binary (runs), libkpleg.a, kpleg.h, kpleg.proto,
#     kpleg.pc (a program built from the installed header and library alone
#     through it), the systemd unit with its paths rewritten, the docs, the
#     config; a second install keeps an edited config; `make uninstall`
#     removes everything but the config;
#   - the unit passes `systemd-analyze verify` with no message at all, and
#     holds the hardening options docs/DEPLOY.md promises;
#   - deploy/kubernetes/*.yaml parse, and the DaemonSet is what DEPLOY.md
#     says: hostPID and hostNetwork, not privileged, exactly the start-up
#     capabilities, the host mounts, probes on 127.0.0.1:9847 /healthz and
#     /readyz matching --metrics-address;
#   - deploy/Containerfile: Debian bookworm build stage running make, a
#     final stage holding only the binary and its libraries.
set -euo pipefail
: "${KPLEG_BUILD:?run under scripts/run-tests.sh (make test)}"
for c in systemd-analyze python3 pkg-config; do
    command -v "$c" >/dev/null || { echo "deploy_test: $c is required" >&2; exit 1; }
done
python3 -c 'import yaml' 2>/dev/null || { echo "deploy_test: python3-yaml is required" >&2; exit 1; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${KPLEG_BUILD#"$ROOT"/}
[[ $BUILD != /* ]] || { echo "deploy_test: KPLEG_BUILD must be under $ROOT" >&2; exit 1; }
SAN=
[[ $BUILD == */asan ]] && SAN=1

tmp=$(mktemp -d)
fails=0
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=tests/support/testlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/support/testlib.sh"

mk() { make -s -C "$ROOT" BUILD="$BUILD" SANITIZE="$SAN" "$@"; }
mode_is() { [[ $(stat -c %a "$1") == "$2" ]]; }

echo "--- make install PREFIX=/usr DESTDIR=..."
D=$tmp/root
must "make install succeeds" mk install PREFIX=/usr DESTDIR="$D"
check "bin/kpleg 0755, and it runs" bash -c "[[ \$(stat -c %a '$D/usr/bin/kpleg') == 755 ]] &&
    '$D/usr/bin/kpleg' daemon --help | grep -q -- --cri-proxy-socket"
for f in lib/libkpleg.a include/kpleg/kpleg.h share/kpleg/kpleg.proto lib/pkgconfig/kpleg.pc \
         lib/systemd/system/kpleg.service share/doc/kpleg/README.md share/doc/kpleg/DEPLOY.md \
         share/doc/kpleg/THREAT_MODEL.md share/doc/kpleg/DESIGN.md share/doc/kpleg/EVENTS.md; do
    check "$f installed 0644" mode_is "$D/usr/$f" 644
done
check "config installed in /etc" mode_is "$D/etc/kpleg/kpleg.conf" 644
check "nothing else installed (12 files)" test "$(find "$D" -type f | wc -l)" -eq 12
U=$D/usr/lib/systemd/system/kpleg.service
check "unit: ExecStart and the config follow the install" \
    grep -qx 'ExecStart=/usr/bin/kpleg daemon --config /etc/kpleg/kpleg.conf' "$U"
check "unit: Documentation follows the install" grep -qx 'Documentation=file:/usr/share/doc/kpleg/DEPLOY.md' "$U"
check "kpleg.pc: paths follow the install" \
    bash -c "grep -qx 'libdir=/usr/lib' '$D/usr/lib/pkgconfig/kpleg.pc' && grep -qx 'includedir=/usr/include' '$D/usr/lib/pkgconfig/kpleg.pc'"

echo "--- a program built from the installed tree alone, through kpleg.pc"
cat >"$tmp/use.c" <<'EOF'
#include <kpleg/kpleg.h>
#include <stdio.h>
int main(void)
{
	struct kpleg_config c;
	kpleg_config_init(&c);
	printf("%s\n", kpleg_mode_str(c.mode));
	return 0;
}
EOF
pcflags=$(PKG_CONFIG_PATH=$D/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D pkg-config --static --cflags --libs kpleg)
san_flags=()
# shellcheck disable=SC2054 # one flag, its commas are gcc's
[[ -n $SAN ]] && san_flags=(-fsanitize=address,undefined)
# shellcheck disable=SC2086
check "cc use.c \$(pkg-config --static --cflags --libs kpleg) links and runs" \
    bash -c "gcc -std=c11 ${san_flags[*]} '$tmp/use.c' $pcflags -o '$tmp/use' && [[ \$('$tmp/use') == auto ]]"

echo "--- reinstall keeps an edited config; uninstall"
echo "v = 2" >>"$D/etc/kpleg/kpleg.conf"
must "second make install succeeds" mk install PREFIX=/usr DESTDIR="$D"
check "edited config kept" grep -qx 'v = 2' "$D/etc/kpleg/kpleg.conf"
must "make uninstall succeeds" mk uninstall PREFIX=/usr DESTDIR="$D"
check "uninstall leaves only the config" test "$(find "$D" -type f)" = "$D/etc/kpleg/kpleg.conf"

echo "--- default PREFIX"
must "make install DESTDIR=... (PREFIX /usr/local)" mk install DESTDIR="$tmp/r2"
check "bin in /usr/local/bin, unit in /usr/local/lib/systemd/system" \
    test -x "$tmp/r2/usr/local/bin/kpleg" -a -f "$tmp/r2/usr/local/lib/systemd/system/kpleg.service"
check "unit: ExecStart /usr/local/bin/kpleg" \
    grep -qx 'ExecStart=/usr/local/bin/kpleg daemon --config /etc/kpleg/kpleg.conf' \
    "$tmp/r2/usr/local/lib/systemd/system/kpleg.service"

echo "--- systemd unit"
# verify wants ExecStart's binary to exist: point it at the installed one.
mkdir -p "$tmp/unit"
sed "s|^ExecStart=/usr/local/bin/kpleg|ExecStart=$tmp/r2/usr/local/bin/kpleg|" \
    "$tmp/r2/usr/local/lib/systemd/system/kpleg.service" >"$tmp/unit/kpleg.service"
rc=0
systemd-analyze verify "$tmp/unit/kpleg.service" >"$tmp/verify.out" 2>&1 || rc=$?
check "systemd-analyze verify: exit 0, no message" bash -c "[[ $rc -eq 0 ]] && [[ ! -s '$tmp/verify.out' ]]"
[[ -s $tmp/verify.out ]] && sed 's/^/     /' "$tmp/verify.out"
for opt in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
           'CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_DAC_READ_SEARCH CAP_SETPCAP CAP_CHOWN' \
           AmbientCapabilities= RuntimeDirectory=kpleg ReadWritePaths=/run/kpleg \
           ProtectKernelTunables=yes ProtectKernelModules=yes ProtectControlGroups=yes \
           'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' SystemCallArchitectures=native \
           LockPersonality=yes RestrictRealtime=yes MemoryDenyWriteExecute=yes Restart=on-failure; do
    check "unit: $opt" grep -qx -- "$opt" "$ROOT/deploy/kpleg.service"
done

echo "--- Kubernetes manifests"
rc=0
python3 - "$ROOT"/deploy/kubernetes/*.yaml >"$tmp/yaml.out" 2>&1 <<'EOF' || rc=$?
import sys, yaml

docs = [d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d]
kinds = {d["kind"]: d for d in docs}
errs = []
def need(cond, what):
    if not cond:
        errs.append(what)

need(set(kinds) == {"Namespace", "ServiceAccount", "DaemonSet"}, f"kinds {sorted(kinds)}")
ds = kinds["DaemonSet"]
ns = ds["metadata"]["namespace"]
need(kinds["Namespace"]["metadata"]["name"] == ns, "namespace of the DaemonSet exists")
need(kinds["ServiceAccount"]["metadata"]["namespace"] == ns, "service account in that namespace")
pod = ds["spec"]["template"]["spec"]
need(ds["spec"]["selector"]["matchLabels"].items() <= ds["spec"]["template"]["metadata"]["labels"].items(),
     "selector matches the template")
need(pod.get("hostPID") is True, "hostPID")
need(pod.get("hostNetwork") is True, "hostNetwork (probes to 127.0.0.1 from the kubelet)")
need(pod.get("automountServiceAccountToken") is False, "no API token")
(c,) = pod["containers"]
sc = c["securityContext"]
need(sc.get("privileged") is False, "not privileged")
need(sc.get("allowPrivilegeEscalation") is False, "no privilege escalation")
need(sc["capabilities"]["drop"] == ["ALL"], "drops ALL")
need(sorted(sc["capabilities"]["add"]) == sorted(["BPF", "PERFMON", "DAC_READ_SEARCH", "SETPCAP", "CHOWN"]),
     f"adds exactly the start-up set: {sc['capabilities']['add']}")
args = c["args"]
need(args[0] == "daemon", "runs kpleg daemon")
need("--metrics-address=127.0.0.1:9847" in args, "--metrics-address=127.0.0.1:9847")
for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
    g = c[probe]["httpGet"]
    need((g.get("host"), g["port"], g["path"]) == ("127.0.0.1", 9847, path), f"{probe} {g}")
mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
vols = {v["name"]: v for v in pod["volumes"]}
for path, ro in (("/sys/fs/cgroup", True), ("/sys/kernel/btf", True), ("/run/containerd", False),
                 ("/run/kpleg", False)):
    m = mounts.get(path)
    need(m is not None, f"mount {path}")
    if m:
        need(bool(m.get("readOnly")) == ro, f"{path} readOnly={ro}")
        need(vols[m["name"]]["hostPath"]["path"] == path, f"{path} is the host's")
sock = [a for a in args if a.startswith("--runtime-endpoint=")]
need(sock and sock[0].split("//", 1)[1].startswith("/run/containerd/"), "runtime socket under the mount")
for a in args:
    if a.startswith(("--socket=", "--cri-proxy-socket=")):
        need(a.split("=", 1)[1].startswith("/run/kpleg/"), f"{a} under /run/kpleg")
print("\n".join(errs) if errs else "ok")
sys.exit(1 if errs else 0)
EOF
check "manifests parse and hold what DEPLOY.md says" test "$rc" -eq 0
sed 's/^/     /' "$tmp/yaml.out"

echo "--- Containerfile"
CF=$ROOT/deploy/Containerfile
check "build stage: Debian bookworm, make" \
    bash -c "grep -qE '^FROM docker.io/library/debian:bookworm AS build' '$CF' && grep -qE '^RUN .*make .*build/kpleg' '$CF'"
check "final stage: from scratch, only /out (binary + ldd's libraries) copied" \
    bash -c "[[ \$(grep -c '^FROM' '$CF') -eq 2 ]] && grep -qx 'FROM scratch' '$CF' &&
             [[ \$(sed -n '/^FROM scratch/,\$p' '$CF' | grep -c '^COPY') -eq 1 ]] &&
             grep -qx 'COPY --from=build /out/ /' '$CF'"

echo "deploy_test: $fails failure(s)"
[[ $fails -eq 0 ]]
