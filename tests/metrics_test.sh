#!/usr/bin/env bash
# `kpleg daemon --metrics-address` over HTTP, as Prometheus and a probe see it:
#   against fakecri: /metrics in format 0.0.4 with every kubelet PLEG series
#   (kpleg_ prefix, the kubelet's types), the pod/container gauges and the
#   API watchers gauge following a `kpleg events --follow`; /healthz
#   and /readyz 200 once synced; 404 and 405 (with Allow); HEAD; idle and
#   half-sent connections past the connection limit neither stall the tracker
#   nor keep the server from answering once they are dropped; the runtime
#   killed: /healthz 503 with the reason after the (short) health threshold,
#   one log line when relists start failing and one when they recover; a
#   runtime too slow to list: /readyz 503 before the first sync; bad
#   --metrics-address values (flag and config file) exit 2 with one line; a
#   taken port exits 1 before anything starts;
#   against containerd 1.6 in the default mode (BPF): a container's exit is
#   counted by the kernel detection histogram (sub-millisecond buckets) and
#   its confirmation by the hint-to-confirmed one.
# jq programs are single-quoted on purpose: their $vars are jq's.
# shellcheck disable=SC2016
set -euo pipefail
: "${KPLEG_BUILD:?run under scripts/run-tests.sh (make test)}"
: "${KPLEG_TEST_CD16:?needs containerd 1.6 from scripts/run-tests.sh}"
for t in curl jq ss; do
    command -v "$t" >/dev/null || { echo "metrics_test: $t is required" >&2; exit 1; }
done
KPLEG=$KPLEG_BUILD/kpleg
FAKECRI=$KPLEG_BUILD/fakecri
PODCTL=$KPLEG_BUILD/podctl
for b in "$KPLEG" "$FAKECRI" "$PODCTL"; do
    [[ -x $b ]] || { echo "metrics_test: $b not built" >&2; exit 1; }
done
CD16=$KPLEG_TEST_CD16

tmp=$(mktemp -d)
fails=0
bg_pids=()
pods=()
fds=()
cleanup() {
    local p
    for p in "${fds[@]}"; do eval "exec $p>&-" 2>/dev/null || true; done
    for p in "${bg_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "${pods[@]}"; do
        "$PODCTL" -r "$CD16" stopp "$p" >/dev/null 2>&1 || true
        "$PODCTL" -r "$CD16" rmp "$p" >/dev/null 2>&1 || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
# shellcheck source=tests/support/testlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/support/testlib.sh"

free_port() {
    local p
    for p in $(shuf -i 20000-60000 -n 200); do
        [[ -z $(ss -Htln "sport = :$p") ]] && { echo "$p"; return 0; }
    done
    return 1
}
# get URL [CURL-ARGS...]: $code, the body in $tmp/body, headers in $tmp/hdr
get() {
    local url=$1
    shift
    code=$(curl -s -m 5 -D "$tmp/hdr" -o "$tmp/body" -w '%{http_code}' "$@" "$url") || code=000
}
code_is() { get "$2"; [[ $code == "$1" ]]; }
body_has() { grep -q -- "$1" "$tmp/body"; }
# the value of the sample line starting with SERIES in $tmp/body
val() { awk -v s="$1" 'index($0, s " ") == 1 { print $NF; f = 1 } END { if (!f) print -1 }' "$tmp/body"; }
metric_ge() { get "$U/metrics"; awk -v v="$(val "$1")" -v m="$2" 'BEGIN { exit !(v >= m) }'; }
metric_eq() { get "$U/metrics"; [[ $(val "$1") == "$2" ]]; }
relists() { "$KPLEG" status -s "$SOCK" -o json 2>/dev/null | jq -r .relists; }
# fakecri serving (its socket appears before it answers; slow under ASan)
answers() { "$KPLEG" info -r "unix://$1" >/dev/null 2>&1; }

PORT=$(free_port)
U=http://127.0.0.1:$PORT
SOCK=$tmp/kpleg.sock

# ---- fakecri -------------------------------------------------------------------------
start_bg "$tmp/f.out" "$tmp/f.log" "$FAKECRI" --socket "$tmp/f.sock" --pods 3 --containers-per-pod 2
fakecri_pid=$bg_pid
must "fakecri up" wait_for 30 answers "$tmp/f.sock"
EP=unix://$tmp/f.sock
start_bg "$tmp/d.out" "$tmp/d.log" "$KPLEG" daemon -r "$EP" -s "$SOCK" --no-bpf --mode generic \
    --relist-period 200 --health-threshold 2000 --metrics-address "127.0.0.1:$PORT"
d1=$bg_pid
must "daemon serving metrics (one log line)" wait_for 10 log_has "$tmp/d.log" '"Serving metrics" address="127.0.0.1:'"$PORT"'"'
must "/readyz 200 after the first sync" wait_for 10 code_is 200 "$U/readyz"
check "/readyz says ok" body_has '^ok$'
get "$U/healthz"
check "/healthz 200 ok" bash -c "[[ $code == 200 ]] && grep -qx ok '$tmp/body'"

echo "--- /metrics"
get "$U/metrics"
check "/metrics 200, text format 0.0.4" bash -c "[[ $code == 200 ]] &&
    grep -qi '^content-type: text/plain; version=0.0.4' '$tmp/hdr'"
for s in pleg_relist_duration_seconds:histogram pleg_relist_interval_seconds:histogram \
         pleg_discard_events:counter pleg_last_seen_seconds:gauge \
         evented_pleg_connection_error_count:counter evented_pleg_connection_success_count:counter \
         evented_pleg_connection_latency_seconds:histogram running_pods:gauge running_containers:gauge; do
    check "kpleg_${s%%:*}: # HELP and # TYPE ${s#*:}" bash -c "
        grep -q '^# HELP kpleg_${s%%:*} ' '$tmp/body' && grep -qx '# TYPE kpleg_${s%%:*} ${s#*:}' '$tmp/body'"
done
check "every sample belongs to a declared family" awk '
    /^# TYPE / { t[$3] = $4; next } /^#/ { next }
    { n = $1; sub(/\{.*/, "", n); b = n; sub(/_(bucket|sum|count)$/, "", b)
      if (!(n in t) && !(b in t && t[b] == "histogram")) { print "undeclared: " $0; bad = 1 } }
    END { exit bad }' "$tmp/body"
check "histograms end with +Inf, equal to _count" bash -c "
    [[ \$(grep -c '^kpleg_pleg_relist_duration_seconds_bucket{le=\"+Inf\"} ' '$tmp/body') -eq 1 ]] &&
    awk '/^kpleg_pleg_relist_duration_seconds_bucket\{le=\"\+Inf\"\}/ { i = \$2 }
         /^kpleg_pleg_relist_duration_seconds_count / { c = \$2 } END { exit !(i == c && c > 0) }' '$tmp/body'"
check "kpleg_running_pods 3" test "$(val kpleg_running_pods)" = 3
check "kpleg_running_containers{running} 6" test "$(val 'kpleg_running_containers{container_state="running"}')" = 6
check "sub-millisecond buckets on the detection histogram" \
    grep -q '^kpleg_detection_latency_seconds_bucket{source="kernel",le="0.00005"} ' "$tmp/body"
check "own series: CRI calls by method and code" \
    grep -q '^kpleg_cri_call_duration_seconds_count{method="ListContainers",code="OK"} [1-9]' "$tmp/body"
check "daemon series: watchers and proxy subscribers" bash -c "
    grep -q '^kpleg_api_watchers 0$' '$tmp/body' && grep -q '^kpleg_cri_proxy_subscribers 0$' '$tmp/body'"
start_bg "$tmp/ev.out" "$tmp/ev.err" "$KPLEG" events -s "$SOCK" --follow
ev_pid=$bg_pid
check "kpleg_api_watchers 1 while kpleg events --follow runs" wait_for 10 metric_eq kpleg_api_watchers 1
stop_bg "$ev_pid" INT
check "kpleg_api_watchers 0 once it has gone" wait_for 10 metric_eq kpleg_api_watchers 0
head=$(curl -s -I -m 5 -o /dev/null -w '%{http_code} %{size_download}' "$U/metrics") || head=000
check "HEAD /metrics: 200, no body ($head)" test "$head" = "200 0"

echo "--- 404, 405"
for p in /nope /metrics/x / /healthz/; do
    get "$U$p"
    check "GET $p: 404" test "$code" = 404
done
for m in POST PUT DELETE; do
    get "$U/metrics" -X "$m" -d x
    check "$m /metrics: 405 with Allow: GET, HEAD" bash -c "[[ $code == 405 ]] && grep -qi '^allow: GET, HEAD' '$tmp/hdr'"
done

echo "--- idle and half-sent connections"
lines0=$(wc -l <"$tmp/d.log")
r0=$(relists)
for _ in $(seq 24); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" || break
    fds+=("$fd")
done
printf 'GET /metr' >&"${fds[0]}" # a request that never ends
sleep 1
r1=$(relists)
check "tracker not stalled while ${#fds[@]} connections sit idle (relists $r0 -> $r1)" test "$r1" -gt "$r0"
check "kpleg status answers meanwhile" bash -c "'$KPLEG' status -s '$SOCK' >/dev/null"
rc=0
timeout 15 cat <&"${fds[0]}" >/dev/null || rc=$?
check "the half-sent request is cut off by the idle timeout" test "$rc" -eq 0
for fd in "${fds[@]}"; do eval "exec $fd>&-"; done
fds=()
check "/healthz answers again once they are gone" wait_for 15 code_is 200 "$U/healthz"
check "nothing logged at -v0 for HTTP clients" test "$(wc -l <"$tmp/d.log")" -eq "$lines0"

echo "--- the runtime gone"
stop_bg "$fakecri_pid" KILL
check "/healthz 503 with the reason after the 2 s threshold" wait_for 15 code_is 503 "$U/healthz"
check "the reason names the missing relists" body_has 'no successful relist for [0-9]* ms (threshold 2000 ms)'
check "/readyz still 200 (it synced once)" code_is 200 "$U/readyz"
check "failed calls counted by code" metric_ge 'kpleg_cri_call_duration_seconds_count{method="ListPodSandbox",code="UNAVAILABLE"}' 1
check "kpleg_healthy 0" test "$(val kpleg_healthy)" = 0
check "one log line: relists failing" test "$(grep -c '"Relist failed' "$tmp/d.log")" -eq 1
start_bg "$tmp/f2.out" "$tmp/f2.log" "$FAKECRI" --socket "$tmp/f.sock" --pods 1
check "/healthz 200 again once the runtime is back" wait_for 15 code_is 200 "$U/healthz"
check "one log line: relists recovered" test "$(grep -c '"Relist recovered"' "$tmp/d.log")" -eq 1
stop_bg "$d1" TERM
check "SIGTERM: exit 0" test "$rc" -eq 0
check "the port is free again" bash -c "[[ -z \$(ss -Htln 'sport = :$PORT') ]]"

echo "--- before the first sync"
start_bg "$tmp/f3.out" "$tmp/f3.log" "$FAKECRI" --socket "$tmp/f3.sock" --pods 1 --delay ListContainers:4000
must "slow fakecri up" wait_for 30 answers "$tmp/f3.sock"
# The daemon first asks the runtime for its Version within 5 s; an ASan
# fakecri on a loaded machine has missed that now and then: retry that alone.
d3_settled() { log_has "$tmp/d3.log" '"Serving metrics"' || gone "$d3"; }
for _ in 1 2 3; do
    start_bg "$tmp/d3.out" "$tmp/d3.log" "$KPLEG" daemon -r "unix://$tmp/f3.sock" -s "$SOCK" --no-bpf \
        --mode generic --metrics-address "127.0.0.1:$PORT"
    d3=$bg_pid
    wait_for 20 d3_settled || true
    log_has "$tmp/d3.log" 'does not answer CRI Version' || break
    cat "$tmp/d3.log"
done
must "daemon serving metrics" log_has "$tmp/d3.log" '"Serving metrics"'
check "a relist timed out (ListContainers over its 2 s deadline)" wait_for 15 \
    metric_ge 'kpleg_cri_call_duration_seconds_count{method="ListContainers",code="DEADLINE_EXCEEDED"}' 1
get "$U/readyz"
check "/readyz 503 before the first sync" bash -c "[[ $code == 503 ]] && grep -q 'not synced' '$tmp/body'"
check "/healthz 200 (within the 3 min threshold)" code_is 200 "$U/healthz"
get "$U/metrics"
check "kpleg_synced 0, kpleg_pleg_last_seen_seconds 0" bash -c "
    [[ $(val kpleg_synced) == 0 && $(val kpleg_pleg_last_seen_seconds) == 0 ]]"
check "failed relists are timed (kpleg_pleg_relist_duration_seconds_count >= 1)" \
    awk -v v="$(val kpleg_pleg_relist_duration_seconds_count)" 'BEGIN { exit !(v >= 1) }'
stop_bg "$d3" TERM
check "SIGTERM: exit 0" test "$rc" -eq 0

echo "--- bad addresses"
for bad in 127.0.0.1 127.0.0.1:0 127.0.0.1:65536 localhost:x :: '::1:80' '[::1]' 999.0.0.1:80 \
           example.com:80 '' '127.0.0.1:80 '; do
    rc=0
    "$KPLEG" daemon -r "unix://$tmp/f3.sock" -s "$tmp/bad.sock" --metrics-address "$bad" >"$tmp/bad" 2>&1 || rc=$?
    check "--metrics-address '$bad': exit 2 with one line" bash -c "[[ $rc -eq 2 ]] &&
        [[ \$(wc -l <'$tmp/bad') -eq 1 ]] && grep -q 'invalid --metrics-address' '$tmp/bad'"
done
printf 'metrics-address = 127.0.0.1:99999\n' >"$tmp/bad.conf"
rc=0
"$KPLEG" daemon -c "$tmp/bad.conf" >"$tmp/bad" 2>&1 || rc=$?
check "config metrics-address = 127.0.0.1:99999: exit 2 naming the file and key" bash -c "[[ $rc -eq 2 ]] &&
    grep -q 'bad.conf:1: key \"metrics-address\"' '$tmp/bad'"
# a taken port: exit 1 before the API socket or the tracker exist
start_bg "$tmp/d4.out" "$tmp/d4.log" "$KPLEG" daemon -r "unix://$tmp/f3.sock" -s "$SOCK" --no-bpf \
    --mode generic --metrics-address "127.0.0.1:$PORT"
d4=$bg_pid
must "a daemon holds the port" wait_for 10 log_has "$tmp/d4.log" '"Serving metrics"'
rc=0
timeout 20 "$KPLEG" daemon -r "unix://$tmp/f3.sock" -s "$tmp/other.sock" --no-bpf \
    --metrics-address "127.0.0.1:$PORT" >"$tmp/taken.out" 2>"$tmp/taken.err" || rc=$?
check "a taken port: exit 1, one line, nothing started" bash -c "[[ $rc -eq 1 ]] &&
    [[ \$(wc -l <'$tmp/taken.err') -eq 1 ]] && grep -q 'Address already in use' '$tmp/taken.err' &&
    [[ ! -e '$tmp/other.sock' ]]"
stop_bg "$d4" TERM

echo "--- config file"
printf 'runtime-endpoint = unix://%s\nsocket = %s\nno-bpf = true\nmetrics-address = 127.0.0.1:%s\n' \
    "$tmp/f.sock" "$SOCK" "$PORT" >"$tmp/ok.conf"
start_bg "$tmp/d5.out" "$tmp/d5.log" "$KPLEG" daemon -c "$tmp/ok.conf"
d5=$bg_pid
check "metrics-address from the config file: /readyz 200" wait_for 15 code_is 200 "$U/readyz"
stop_bg "$d5" TERM

# ---- containerd 1.6, default mode (kernel hints) ----------------------------------------
echo "--- containerd 1.6, default mode"
start_bg "$tmp/c.out" "$tmp/c.log" "$KPLEG" daemon -r "$CD16" -s "$SOCK" --metrics-address "127.0.0.1:$PORT"
dc=$bg_pid
must "daemon on containerd 1.6 ready" wait_for 30 code_is 200 "$U/readyz"
check "/healthz 200" code_is 200 "$U/healthz"
get "$U/metrics"
check "kernel hints up (kpleg_source_up{kernel} 1)" test "$(val 'kpleg_source_up{source="kernel"}')" = 1
k0=$(val 'kpleg_detection_latency_seconds_count{source="kernel"}')
read -r sb _ < <("$PODCTL" -r "$CD16" pod "metrics-$$" --namespace kpleg-metrics-test --qos burstable)
pods+=("$sb")
c=$("$PODCTL" -r "$CD16" ctr "$sb" exits --qos burstable -- sh -c 'sleep 1; exit 3')
"$PODCTL" -r "$CD16" start "$c"
check "the exit counted by the kernel detection histogram" wait_for 15 \
    metric_ge 'kpleg_detection_latency_seconds_count{source="kernel"}' $((k0 + 1))
check "its confirmation counted (hint-to-confirmed)" wait_for 15 \
    metric_ge 'kpleg_hint_confirm_latency_seconds_count{outcome="confirmed"}' 1
check "kpleg_provisional_confirmed_total >= 1" metric_ge kpleg_provisional_confirmed_total 1
check "ContainerStatus calls timed" metric_ge 'kpleg_cri_call_duration_seconds_count{method="ContainerStatus",code="OK"}' 1
check "kpleg_running_containers{exited} >= 1" metric_ge 'kpleg_running_containers{container_state="exited"}' 1
get "$U/metrics"
echo "    kernel detection: sum $(val 'kpleg_detection_latency_seconds_sum{source="kernel"}') s over $(val 'kpleg_detection_latency_seconds_count{source="kernel"}');" \
    "buckets $(grep '^kpleg_detection_latency_seconds_bucket{source="kernel",le="0.0[0-9]*"}' "$tmp/body" | sed 's/.*le="//; s/"}//' | paste -sd' ')"
echo "    hint->confirmed: sum $(val 'kpleg_hint_confirm_latency_seconds_sum{outcome="confirmed"}') s over $(val 'kpleg_hint_confirm_latency_seconds_count{outcome="confirmed"}')"
check "the kernel's exit is in a sub-second bucket" \
    awk -v v="$(val 'kpleg_detection_latency_seconds_bucket{source="kernel",le="1"}')" 'BEGIN { exit !(v >= 1) }'
stop_bg "$dc" TERM
check "SIGTERM: exit 0" test "$rc" -eq 0

echo "metrics_test: $fails failure(s)"
[[ $fails -eq 0 ]]
