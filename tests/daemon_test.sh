#!/usr/bin/env bash
# `kpleg daemon` and `kpleg status` as processes, against a fakecri this test
# owns: serving and answering; a second daemon refused while the first
# lives; a peer of another uid refused (PERMISSION_DENIED) and an allowed uid
# let in; SIGTERM stopping cleanly (exit 0, socket removed); a daemon killed
# with SIGKILL leaving a stale socket that the next one takes over; `kpleg
# status` with no daemon: one line, exit 1; bad flags.
# jq programs are single-quoted on purpose: their $vars are jq's.
# shellcheck disable=SC2016
set -euo pipefail
: "${KPLEG_BUILD:?run under scripts/run-tests.sh (make test)}"
command -v jq >/dev/null || { echo "daemon_test: jq is required" >&2; exit 1; }
command -v setpriv >/dev/null || { echo "daemon_test: setpriv (util-linux) is required" >&2; exit 1; }
KPLEG=$KPLEG_BUILD/kpleg
FAKECRI=$KPLEG_BUILD/fakecri
for b in "$KPLEG" "$FAKECRI"; do
    [[ -x $b ]] || { echo "daemon_test: $b not built" >&2; exit 1; }
done

tmp=$(mktemp -d)
chmod 755 "$tmp"
fails=0
bg_pids=()
cleanup() {
    local p
    for p in "${bg_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
# shellcheck source=tests/support/testlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/support/testlib.sh"

SOCK=$tmp/run/kpleg.sock # its directory does not exist yet: the daemon makes it
start_bg "$tmp/fakecri.out" "$tmp/fakecri.log" "$FAKECRI" --socket "$tmp/f.sock" --pods 3 --containers-per-pod 2
must "fakecri up" wait_for 10 test -S "$tmp/f.sock"
EP=unix://$tmp/f.sock

daemon() { # LOG ARGS...
    local log=$1
    shift
    start_bg "$tmp/daemon.out" "$log" "$KPLEG" daemon -r "$EP" -s "$SOCK" --no-bpf "$@"
}
status_rc() { rc=0; "$KPLEG" status -s "$SOCK" "$@" >"$tmp/status.out" 2>"$tmp/status.err" || rc=$?; }
status_quiet() { "$KPLEG" status -s "$SOCK" >/dev/null 2>&1; }

echo "--- serving"
daemon "$tmp/d1.log"
d1=$bg_pid
must "daemon serving" wait_for 10 log_has "$tmp/d1.log" '"Serving"'
check "socket is 0660" test "$(stat -c %a "$SOCK")" = 660
must "status answers and says synced" wait_for 10 bash -c "'$KPLEG' status -s '$SOCK' -o json | jq -e '.synced and .healthy' >/dev/null"
status_rc -o json
check "status: exit 0 when healthy" test "$rc" -eq 0
check "status: the runtime, the pods, no BPF" jq -e '.runtime_name == "fakecri" and .pods == 3 and
    .containers == 6 and .bpf_active == false and (.bpf_state | test("no-bpf"))' "$tmp/status.out" >/dev/null
status_rc
check "status: text output names the runtime" grep -q '^runtime: fakecri' "$tmp/status.out"

echo "--- a second daemon on the same socket"
rc=0
timeout 20 "$KPLEG" daemon -r "$EP" -s "$SOCK" --no-bpf >"$tmp/d2.out" 2>"$tmp/d2.err" || rc=$?
check "second daemon refused (exit 1)" test "$rc" -eq 1
check "second daemon says why in one line" grep -q 'another server answers on' "$tmp/d2.err"
check "first daemon still answers" status_quiet

echo "--- peers"
chmod 666 "$SOCK" # let the other uid reach the peer check itself
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups "$KPLEG" status -s "$SOCK" >"$tmp/np.out" 2>"$tmp/np.err" || rc=$?
check "uid 65534 refused: exit 1, PERMISSION_DENIED" \
    bash -c "[[ $rc -eq 1 ]] && grep -q PERMISSION_DENIED '$tmp/np.err'"

echo "--- SIGTERM"
stop_bg "$d1" TERM
check "SIGTERM: exit 0" test "$rc" -eq 0
check "SIGTERM: socket removed" test ! -e "$SOCK"
check "SIGTERM: says it stopped" log_has "$tmp/d1.log" '"Stopped"'
status_rc
check "status without a daemon: exit 1" test "$rc" -eq 1
check "status without a daemon: one line" test "$(wc -l <"$tmp/status.err")" -eq 1

echo "--- an allowed uid"
daemon "$tmp/d3.log" --allow-uid 65534
d3=$bg_pid
must "daemon with --allow-uid serving" wait_for 10 log_has "$tmp/d3.log" '"Serving"'
check "socket owned by the allowed uid" test "$(stat -c %u "$SOCK")" = 65534
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups "$KPLEG" status -s "$SOCK" -o json >"$tmp/ok.out" 2>&1 || rc=$?
check "uid 65534 allowed: status answers" jq -e '.runtime_name == "fakecri"' "$tmp/ok.out" >/dev/null

echo "--- SIGKILL leaves a stale socket; the next daemon takes it over"
kill -KILL "$d3"
wait "$d3" 2>/dev/null || true
check "stale socket left behind" test -S "$SOCK"
daemon "$tmp/d4.log"
d4=$bg_pid
must "next daemon serving on the stale path" wait_for 10 log_has "$tmp/d4.log" '"Serving"'
check "and answering" status_quiet
stop_bg "$d4" INT
check "SIGINT: exit 0" test "$rc" -eq 0

echo "--- flags"
rc=0
"$KPLEG" daemon --help >"$tmp/help" 2>&1 || rc=$?
check "daemon --help: exit 0, documents every option" bash -c "[[ $rc -eq 0 ]] &&
    for o in --runtime-endpoint --socket --allow-uid --allow-gid --mode --relist-period --no-bpf \
             --cgroup-controller --max-watchers --replay-buffer; do grep -q -- \"\$o\" '$tmp/help' || exit 1; done"
for bad in "--max-watchers 0" "--replay-buffer x" "--allow-uid -3" "--mode fast" "--bogus"; do
    rc=0
    # shellcheck disable=SC2086
    "$KPLEG" daemon -r "$EP" -s "$SOCK" $bad >"$tmp/bad" 2>&1 || rc=$?
    check "daemon $bad: exit 2 with one line" bash -c "[[ $rc -eq 2 ]] && [[ \$(wc -l <'$tmp/bad') -eq 1 ]]"
done

echo "--- config file"
conf=$tmp/kpleg.conf
printf '# kpleg daemon options\nruntime-endpoint = %s\nsocket = %s\n\nno-bpf = true  \nmax-watchers = 8\n' \
    "$EP" "$tmp/from-file.sock" >"$conf"
start_bg "$tmp/daemon.out" "$tmp/d5.log" "$KPLEG" daemon -c "$conf" --max-watchers 4
d5=$bg_pid
must "daemon from a config file serving on the file's socket" wait_for 10 log_has "$tmp/d5.log" '"Serving" socket="'"$tmp/from-file.sock"'"'
check "config file: no-bpf applied" bash -c "'$KPLEG' status -s '$tmp/from-file.sock' -o json | jq -e '.bpf_active == false' >/dev/null"
stop_bg "$d5" TERM
for bad in "bogus = 1:unknown key \"bogus\"" "no-bpf = yes:key \"no-bpf\": invalid value \"yes\"" \
           "mode = fast:key \"mode\"" "just words:expected \"key = value\""; do
    printf '%s\n' "${bad%%:*}" >"$tmp/bad.conf"
    rc=0
    "$KPLEG" daemon -c "$tmp/bad.conf" >"$tmp/bad.out" 2>&1 || rc=$?
    check "config \"${bad%%:*}\": exit 2 naming file, line and key" \
        bash -c "[[ $rc -eq 2 ]] && grep -qF -- '${bad#*:}' '$tmp/bad.out' && grep -q 'bad.conf:1' '$tmp/bad.out'"
done
# Bounds (docs/DESIGN.md "Bounds on input"): each past-the-bound file is one
# clear line and exit 2.
{ printf 'v = 0\nsocket = '; head -c 1100 /dev/zero | tr '\0' x; echo; } >"$tmp/long.conf"
printf 'v = 0\nmode = au\0to\n' >"$tmp/nul.conf"
for i in $(seq 33); do echo "v = 1"; done >"$tmp/many.conf"
head -c 70000 /dev/zero | tr '\0' '#' >"$tmp/big.conf"
for bad in "long.conf:long.conf:2: line longer than 1024 bytes" "nul.conf:nul.conf:2: NUL byte in the line" \
           "many.conf:more than 32 values in the config file" "big.conf:big.conf is not a regular file of at most 65536 bytes"; do
    rc=0
    "$KPLEG" daemon -c "$tmp/${bad%%:*}" >"$tmp/bad.out" 2>&1 || rc=$?
    check "config ${bad%%:*}: exit 2 with \"${bad#*:}\"" \
        bash -c "[[ $rc -eq 2 ]] && grep -qF -- '${bad#*:}' '$tmp/bad.out'"
done

echo "daemon_test: $fails failure(s)"
[[ $fails -eq 0 ]]
