#!/usr/bin/env bash
# Install the build/test dependencies of kpleg (run as root, idempotent).
#
#  1. bookworm packages via apt-get (only the missing ones; `apt-get update`
#     only when something must be installed);
#  2. Debian trixie's containerd (1.7.x) unpacked into .deps/containerd-1.7/ and
#     trixie's golang-github-kubernetes-cri-api-dev into .deps/cri-api/ (never
#     installed system-wide; fetched with a private apt configuration from the
#     Debian archive this machine's own apt sources point at).
#
# Env: KPLEG_DEBIAN_URI overrides the archive URI read from the apt sources.
#      KPLEG_DEPS_FORCE=1 re-fetches the trixie packages.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPS=$ROOT/.deps
STAMP=$DEPS/.stamp
TRIXIE_PKGS=(containerd golang-github-kubernetes-cri-api-dev)
CRI_PROTO_REL=usr/share/gocode/src/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto

PKGS=(clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libgrpc-dev
      libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev
      libcmocka-dev containerd runc busybox-static libjson-c-dev pkg-config
      iproute2 procps util-linux libcap-dev libmicrohttpd-dev gnuplot-nox
      libclang-rt-14-dev make gcc libc6-dev jq libxml2-utils curl)

log() { echo "install-deps: $*"; }
die() { echo "install-deps: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
for t in dpkg-query dpkg-deb apt-get; do
    command -v "$t" >/dev/null || die "$t not found (Debian required)"
done

# ---------------------------------------------------------------- 1. apt --
missing_pkgs() {
    local p st
    for p in "${PKGS[@]}"; do
        st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        [ "$st" = installed ] || echo "$p"
    done
}

mapfile -t MISSING < <(missing_pkgs)
if [ "${#MISSING[@]}" -gt 0 ]; then
    log "installing: ${MISSING[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed (Debian archive unreachable?)"
    apt-get install -y -qq --no-install-recommends "${MISSING[@]}" \
        || die "apt-get install failed for: ${MISSING[*]}"
    mapfile -t MISSING < <(missing_pkgs)
    [ "${#MISSING[@]}" -eq 0 ] || die "still missing after install: ${MISSING[*]}"
else
    log "system packages: all ${#PKGS[@]} present"
fi

# ------------------------------------------------------------- 2. trixie --
trixie_ok() {
    [ -f "$STAMP" ] &&
    [ -x "$DEPS/containerd-1.7/usr/bin/containerd" ] &&
    [ -x "$DEPS/containerd-1.7/usr/bin/containerd-shim-runc-v2" ] &&
    [ -x "$DEPS/containerd-1.7/usr/bin/ctr" ] &&
    [ -f "$DEPS/cri-api/$CRI_PROTO_REL" ] &&
    [ -e "$DEPS/cri-api/api.proto" ]
}

if trixie_ok && [ "${KPLEG_DEPS_FORCE:-0}" != 1 ]; then
    log "trixie packages: present ($(paste -sd' ' "$STAMP"))"
    touch "$STAMP" # newer than this script: make need not run it again
    exit 0
fi

# Is this a Debian main-archive suite (not -security, not a third-party repo)?
debian_suite() {
    case "$1" in
        *-security|*/updates) return 1 ;;
        bullseye*|bookworm*|trixie*|forky*|sid|stable*|testing*|unstable|oldstable*) return 0 ;;
        *) return 1 ;;
    esac
}

# First Debian main archive URI found in the machine's own apt sources.
find_archive_uri() {
    local f line key val uris suites comps types u s
    # deb822 files (in the order apt reads them).
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uris="" suites="" comps="" types=""
        # Append an empty line so the last stanza gets flushed.
        while IFS= read -r line || [ -n "$line" ]; do
            if [[ -z "${line//[[:space:]]/}" ]]; then
                if [[ " $types " == *" deb "* && " $comps " == *" main "* ]]; then
                    for s in $suites; do
                        debian_suite "$s" || continue
                        for u in $uris; do
                            [[ "$u" == *security* ]] && continue
                            echo "$u"; return 0
                        done
                    done
                fi
                uris="" suites="" comps="" types=""
                continue
            fi
            [[ "$line" =~ ^[[:space:]]*# ]] && continue
            [[ "$line" == *:* ]] || continue
            key=${line%%:*}; val=${line#*:}
            case "${key,,}" in
                uris) uris=$val ;;
                suites) suites=$val ;;
                components) comps=$val ;;
                types) types=$val ;;
                enabled) [[ "${val// /}" == no ]] && types="" ;;
            esac
        done < <(cat "$f"; echo)
    done
    # one-line format.
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        while read -r -a w; do
            if [ "${#w[@]}" -lt 4 ] || [ "${w[0]}" != deb ]; then continue; fi
            local i=1
            if [[ "${w[1]}" == "["* ]]; then
                while [ "$i" -lt "${#w[@]}" ] && [[ "${w[$i]}" != *"]" ]]; do i=$((i + 1)); done
                i=$((i + 1))
            fi
            u=${w[$i]:-}; s=${w[$((i + 1))]:-}
            if [ -z "$u" ] || [[ "$u" == *security* ]]; then continue; fi
            debian_suite "$s" || continue
            [[ " ${w[*]:$((i + 2))} " == *" main "* ]] || continue
            echo "$u"; return 0
        done < "$f"
    done
    return 1
}

URI=${KPLEG_DEBIAN_URI:-}
if [ -z "$URI" ]; then
    URI=$(find_archive_uri) || die "no Debian main archive found in /etc/apt/sources.list{,.d/*.sources} (set KPLEG_DEBIAN_URI)"
fi
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$KEYRING" ] || die "$KEYRING missing (install debian-archive-keyring)"

log "fetching trixie ${TRIXIE_PKGS[*]} from $URI"
mkdir -p "$DEPS"
WORK=$(mktemp -d "$DEPS/.apt.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/dl"
echo "deb [signed-by=$KEYRING] $URI trixie main" > "$WORK/sources.list"
APT=(apt-get -q -o "Dir::Etc::SourceList=$WORK/sources.list"
     -o Dir::Etc::SourceParts=/dev/null
     -o "Dir::State::Lists=$WORK/lists"
     -o "Dir::Cache=$WORK/cache"
     -o Dir::State::status=/dev/null
     -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
     -o APT::Sandbox::User=root
     -o APT::Update::Error-Mode=any
     -o Acquire::Retries=1 -o Acquire::http::Timeout=20)

# First error of an apt log, on one line.
apt_err() { grep -E -A1 '^(Err|E|W):' "$1" | head -2 | tr -s '\n \t' ' ' || true; }
if ! "${APT[@]}" update >"$WORK/update.log" 2>&1; then
    die "cannot fetch the trixie index from $URI: $(apt_err "$WORK/update.log")"
fi
if ! (cd "$WORK/dl" && "${APT[@]}" download "${TRIXIE_PKGS[@]}") >"$WORK/download.log" 2>&1; then
    die "cannot download trixie ${TRIXIE_PKGS[*]} from $URI: $(apt_err "$WORK/download.log")"
fi

unpack() { # pkg destdir
    local debs deb
    debs=("$WORK/dl/$1"_*.deb)
    deb=${debs[0]}
    [ -f "$deb" ] || die "downloaded .deb for $1 not found"
    rm -rf "$2.new"
    mkdir -p "$2.new"
    dpkg-deb -x "$deb" "$2.new" || die "dpkg-deb -x $deb failed"
    rm -rf "$2"
    mv "$2.new" "$2"
    dpkg-deb -f "$deb" Version
}
rm -f "$STAMP"
CD_VER=$(unpack containerd "$DEPS/containerd-1.7")
API_VER=$(unpack golang-github-kubernetes-cri-api-dev "$DEPS/cri-api")
log "unpacked containerd $CD_VER -> .deps/containerd-1.7"
log "unpacked cri-api $API_VER -> .deps/cri-api"

for b in containerd containerd-shim-runc-v2 ctr; do
    [ -x "$DEPS/containerd-1.7/usr/bin/$b" ] || die "trixie containerd lacks usr/bin/$b"
done
v=$("$DEPS/containerd-1.7/usr/bin/containerd" --version 2>&1) || die "trixie containerd does not run: $v"
[[ "$v" == *" 1.7."* ]] || die "unexpected trixie containerd version: $v"
[ -f "$DEPS/cri-api/$CRI_PROTO_REL" ] || die "cri-api package lacks $CRI_PROTO_REL"
ln -sfn "$CRI_PROTO_REL" "$DEPS/cri-api/api.proto"

printf 'containerd=%s\ncri-api=%s\n' "$CD_VER" "$API_VER" > "$STAMP"
log "done"
