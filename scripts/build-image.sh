#!/usr/bin/env bash
# Build the kpleg test image (localhost/kpleg/test:1) as an OCI image-layout
# tarball, locally, without a registry or docker:
#   rootfs = /bin/busybox (busybox-static) + applet symlinks + /pause
#   (tests/image/pause.c, static); Entrypoint ["/pause"].
# Deterministic (fixed mtimes/owners, gzip -n) and idempotent: rebuilt only
# when an input (pause.c, busybox, this script, gcc) changed.
#
# Usage: scripts/build-image.sh [OUTDIR]     (default: build/image)
# Output: OUTDIR/kpleg-test.tar
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-$ROOT/build/image}
IMAGE_NAME=localhost/kpleg/test:1
IMAGE_TAG=${IMAGE_NAME##*:}
TAR=$OUT/kpleg-test.tar
SRC=$ROOT/tests/image/pause.c
BUSYBOX=/bin/busybox
CC=${CC:-gcc}
ENV_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { echo "build-image: $*"; }
die() { echo "build-image: error: $*" >&2; exit 1; }

[ -f "$SRC" ] || die "$SRC not found"
[ -x "$BUSYBOX" ] || die "$BUSYBOX not found (apt-get install busybox-static)"
file_is_static() { ! LC_ALL=C readelf -l "$1" 2>/dev/null | grep 'INTERP' >/dev/null; }
file_is_static "$BUSYBOX" || die "$BUSYBOX is not static (install busybox-static)"
command -v "$CC" >/dev/null || die "$CC not found"
for t in tar gzip sha256sum readelf; do
    command -v "$t" >/dev/null || die "$t not found"
done

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
TAR=$OUT/kpleg-test.tar

# ---- inputs fingerprint: skip when nothing changed ------------------------
INPUTS=$( {
    for f in "$SRC" "$BUSYBOX" "${BASH_SOURCE[0]}"; do sha256sum < "$f"; done
    "$CC" --version | sed -n 1p
} | sha256sum | cut -d' ' -f1)
if [ -f "$TAR" ] && [ "$(cat "$OUT/.inputs" 2>/dev/null)" = "$INPUTS" ]; then
    log "up to date: $TAR"
    exit 0
fi

WORK=$(mktemp -d "$OUT/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# ---- rootfs ----------------------------------------------------------------
log "compiling pause"
"$CC" -static -O2 -s -Wall -Wextra -ffile-prefix-map="$ROOT"=. \
    -Wl,--build-id=sha1 -o "$WORK/pause" "$SRC" || die "compiling $SRC failed"
file_is_static "$WORK/pause" || die "pause is not static"

R=$WORK/rootfs
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,etc,root,tmp,run,var/tmp}
chmod 1777 "$R/tmp" "$R/var/tmp"
chmod 0700 "$R/root"
install -m 0755 "$BUSYBOX" "$R/bin/busybox"
install -m 0755 "$WORK/pause" "$R/pause"
# One relative symlink per applet, at busybox's own install path.
while IFS= read -r app; do
    case "$app" in ''|bin/busybox|*/*/*/*) continue ;; esac
    d=$(dirname "$app")
    case "$d" in bin|sbin) rel=busybox ;; usr/bin|usr/sbin) rel=../../bin/busybox ;; *) continue ;; esac
    [ -e "$R/$app" ] || [ -L "$R/$app" ] || ln -s "$rel" "$R/$app"
done < <("$BUSYBOX" --list-full | LC_ALL=C sort)
[ -L "$R/bin/sh" ] || die "busybox did not provide bin/sh"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$R/etc/group"
printf 'hosts: files dns\n' > "$R/etc/nsswitch.conf"
: > "$R/etc/hosts"
: > "$R/etc/resolv.conf"
chmod 0644 "$R"/etc/*

# ---- layer -----------------------------------------------------------------
TAR_DET=(--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner
         --format=posix "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime")
tar -C "$R" "${TAR_DET[@]}" -cf "$WORK/layer.tar" .
gzip -n -9 -c "$WORK/layer.tar" > "$WORK/layer.tar.gz"

mkdir -p "$WORK/oci/blobs/sha256"
# blob FILE -> prints "sha256:HEX SIZE", stores it under blobs/sha256/
blob() {
    local h s
    h=$(sha256sum "$1" | cut -d' ' -f1)
    s=$(stat -c %s "$1")
    cp "$1" "$WORK/oci/blobs/sha256/$h"
    echo "sha256:$h $s"
}
DIFF_ID=sha256:$(sha256sum "$WORK/layer.tar" | cut -d' ' -f1)
read -r LAYER_DGST LAYER_SIZE < <(blob "$WORK/layer.tar.gz")

cat > "$WORK/config.json" <<EOF
{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=$ENV_PATH"],"Entrypoint":["/pause"],"WorkingDir":"/","Labels":{"org.opencontainers.image.title":"kpleg-test"}},"rootfs":{"type":"layers","diff_ids":["$DIFF_ID"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"scripts/build-image.sh: busybox + pause"}]}
EOF
printf '%s' "$(cat "$WORK/config.json")" > "$WORK/config.min.json"
read -r CFG_DGST CFG_SIZE < <(blob "$WORK/config.min.json")

printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"$CFG_DGST\",\"size\":$CFG_SIZE},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$LAYER_DGST\",\"size\":$LAYER_SIZE}]}" > "$WORK/manifest.json"
read -r MAN_DGST MAN_SIZE < <(blob "$WORK/manifest.json")

printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$MAN_DGST\",\"size\":$MAN_SIZE,\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"},\"annotations\":{\"io.containerd.image.name\":\"$IMAGE_NAME\",\"org.opencontainers.image.ref.name\":\"$IMAGE_TAG\"}}]}" > "$WORK/oci/index.json"
printf '%s' '{"imageLayoutVersion":"1.0.0"}' > "$WORK/oci/oci-layout"

find "$WORK/oci" -type f -exec chmod 0644 {} +
find "$WORK/oci" -type d -exec chmod 0755 {} +
tar -C "$WORK/oci" "${TAR_DET[@]}" -cf "$WORK/image.tar" oci-layout index.json blobs
mv -f "$WORK/image.tar" "$TAR"
echo "$INPUTS" > "$OUT/.inputs"
log "built $TAR ($IMAGE_NAME, manifest $MAN_DGST)"
