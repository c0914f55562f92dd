#!/usr/bin/env bash
# `kpleg trace` and `kpleg report` end to end, on containerd 1.7 and 1.6.
#
# For each runtime, `kpleg trace` records while one kubelet-like pod gets a
# container that exits 3 and one that is killed with SIGKILL from the host.
# The CSV must have its header and, for each container, one ContainerDied
# row with the exit code (3, 137) and the kernel, hint, relist and
# confirmation times filled, kernel <= hint <= confirmation; the runtime's
# own exit time near the kernel's; the CRI event time filled on 1.7 and
# empty on 1.6 (no event stream); a ContainerStarted row with the kernel's
# first exec before the confirmation. The 1.7 trace is cut short with SIGINT
# (its open rows are written at once), the 1.6 one ends with its duration.
# `kpleg report` then prints the percentile table (a line per source) and
# writes FILE.svg (valid XML, an <svg> root) and, with -o x.png, a PNG.
# Plus the failures: bad flags, an unwritable file, an unreachable runtime,
# a malformed CSV (file and line named), no gnuplot (table still printed).
set -euo pipefail
: "${KPLEG_BUILD:?run under scripts/run-tests.sh (make test)}"
: "${KPLEG_TEST_CD16:?needs containerd 1.6 from scripts/run-tests.sh}"
: "${KPLEG_TEST_CD17:?needs containerd 1.7 from scripts/run-tests.sh}"
KPLEG=$KPLEG_BUILD/kpleg
PODCTL=$KPLEG_BUILD/podctl
for b in "$KPLEG" "$PODCTL"; do
    [[ -x $b ]] || { echo "trace_test: $b not built" >&2; exit 1; }
done
for t in gnuplot xmllint; do
    command -v "$t" >/dev/null || { echo "trace_test: $t is required (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
HEADER=pod_namespace,pod_name,pod_uid,sandbox_id,container_id,container_name,transition,exit_code,reason,kernel_mono_ns,hint_mono_ns,cri_event_mono_ns,relist_mono_ns,confirmed_mono_ns,runtime_mono_ns

tmp=$(mktemp -d)
fails=0
bg_pids=()
pods=()         # ENDPOINT:SANDBOX-ID
cleanup() {
    local p
    for p in "${bg_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "${pods[@]}"; do
        "$PODCTL" -r "${p%%|*}" stopp "${p#*|}" >/dev/null 2>&1 || true
        "$PODCTL" -r "${p%%|*}" rmp "${p#*|}" >/dev/null 2>&1 || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
# shellcheck source=tests/support/testlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/support/testlib.sh"

ctr_state() { "$PODCTL" -r "$1" status "$2" 2>/dev/null | awk '{print $1}'; }
cgroup_pid() { # CGROUP-PARENT ID
    local d
    for d in /sys/fs/cgroup/unified /sys/fs/cgroup/pids /sys/fs/cgroup; do
        if [[ -r $d$1/$2/cgroup.procs ]]; then head -n 1 "$d$1/$2/cgroup.procs"; return 0; fi
    done
    return 0
}
# The row of container CID's TRANSITION (the data has no quoted fields).
row() { awk -F, -v id="$2" -v t="$3" '$5 == id && $7 == t' "$1"; }
rows_of() { row "$@" | wc -l; }
col() { cut -d, -f"$2" <<<"$1"; } # ROW N
# Columns: 8 exit_code 10 kernel 11 hint 12 cri_event 13 relist 14 confirmed 15 runtime
died_ok() { # CSV CID CODE EVENTS(yes|no)
    local r k h c e
    r=$(row "$1" "$2" ContainerDied)
    k=$(col "$r" 10) h=$(col "$r" 11) c=$(col "$r" 14) e=$(col "$r" 12)
    [[ $(col "$r" 8) == "$3" && -n $k && -n $h && -n $c && -n $(col "$r" 13) ]] || return 1
    ((k <= h && h <= c)) || return 1
    if [[ $4 == yes ]]; then [[ -n $e ]]; else [[ -z $e ]]; fi
}
runtime_near_kernel() { # CSV CID: the runtime's finished_at within 2 s of the kernel's exit
    local r k t
    r=$(row "$1" "$2" ContainerDied)
    k=$(col "$r" 10) t=$(col "$r" 15)
    [[ -n $t ]] && ((t - k < 2000000000 && k - t < 2000000000))
}
started_ok() { # CSV CID: the kernel's first exec, before the runtime's word
    local r k c
    r=$(row "$1" "$2" ContainerStarted)
    k=$(col "$r" 10) c=$(col "$r" 14)
    [[ -n $k && -n $c ]] && ((k <= c))
}
times() { # CSV CID -> "hint +x ms, cri-event +y ms, ..." after the kernel
    row "$1" "$2" ContainerDied | awk -F, '{
        n = split("hint:11 cri-event:12 relist:13 confirmed:14 runtime-ts:15", c, " ")
        s = ""
        for (i = 1; i <= n; i++) { split(c[i], p, ":"); v = $(p[2])
            s = s sprintf("%s%s %s", s == "" ? "" : ", ", p[1], v == "" ? "-" : sprintf("%+.1f ms", (v - $10) / 1e6)) }
        print s }'
}

# containerd 1.7 keeps each closed event stream's handler waiting, and that
# handler swallows the next event (docs/DESIGN.md): earlier clients on the
# same instance would take the first events from the trace. Short containers
# in a throwaway pod until one of their transitions reaches the trace through
# the stream clears them (handlers wait in line, oldest first).
drain_stale_handlers() { # ENDPOINT CSV
    local sb uid c i
    read -r sb uid < <("$PODCTL" -r "$1" pod "trace-drain-$$" --namespace kpleg-trace-test)
    pods+=("$1|$sb")
    for i in $(seq 20); do
        c=$("$PODCTL" -r "$1" ctr "$sb" "d$i" -- true)
        "$PODCTL" -r "$1" start "$c" >/dev/null
        if wait_for 4 bash -c "awk -F, -v u='$uid' '\$3 == u && \$12 != \"\"' '$2' | grep -q ."; then
            echo "    (the trace got a CRI event after $i throwaway container(s))"
            return 0
        fi
    done
    return 1
}

# ---- one runtime -------------------------------------------------------------------
trace_runtime() { # VERSION ENDPOINT EVENTS(yes|no) STOP(sigint|duration)
    local v=$1 ep=$2 events=$3 stop=$4 csv=$tmp/trace-$1.csv log=$tmp/trace-$1.log
    local sb uid c_exit c_kill pid tp dur=300
    echo "--- containerd $v: kpleg trace -r $ep"
    [[ $stop == duration ]] && dur=20
    start_bg "$tmp/trace-$v.out" "$log" "$KPLEG" trace -r "$ep" -d "$dur" -o "$csv"
    tp=$bg_pid
    must "$v: trace recording" wait_for 60 log_has "$log" '"Tracing"'
    check "$v: the header is there from the start" test "$(head -n 1 "$csv")" = "$HEADER"
    if [[ $events == yes ]]; then
        must "$v: the trace receives CRI events" drain_stale_handlers "$ep" "$csv"
    fi

    read -r sb uid < <("$PODCTL" -r "$ep" pod "trace-$$-${v/./}" --namespace kpleg-trace-test --qos burstable)
    pods+=("$ep|$sb")
    c_exit=$("$PODCTL" -r "$ep" ctr "$sb" exit3 --qos burstable -- sh -c 'sleep 0.3; exit 3')
    "$PODCTL" -r "$ep" start "$c_exit"
    c_kill=$("$PODCTL" -r "$ep" ctr "$sb" killed --qos burstable -- sleep 3600)
    "$PODCTL" -r "$ep" start "$c_kill"
    must "$v: killed: running" wait_for 10 bash -c "[[ \$('$PODCTL' -r '$ep' status '$c_kill' | awk '{print \$1}') == running* ]]"
    pid=$(cgroup_pid "/kubepods/burstable/pod$uid" "$c_kill")
    must "$v: killed: pid found in its cgroup" test -n "$pid"
    kill -KILL "$pid"
    must "$v: both exited" wait_for 10 bash -c "
        for c in $c_exit $c_kill; do [[ \$('$PODCTL' -r '$ep' status \$c | awk '{print \$1}') == exited* ]] || exit 1; done"
    # Rows are written as their transitions complete (the relist within ~1 s).
    check "$v: both ContainerDied rows written while tracing" wait_for 15 bash -c "
        [[ \$(awk -F, '\$7 == \"ContainerDied\" && (\$5 == \"$c_exit\" || \$5 == \"$c_kill\")' '$csv' | wc -l) -eq 2 ]]"
    if [[ $stop == sigint ]]; then
        stop_bg "$tp" INT
        check "$v: SIGINT stops the trace (exit 0)" test "$rc" -eq 0
    else
        if wait_for $((dur + 20)) gone "$tp"; then rc=0; wait "$tp" || rc=$?; else rc=124; fi
        check "$v: the trace ends after --duration (exit 0)" test "$rc" -eq 0
    fi
    # Left to cleanup if the runtime does not answer now (a loaded machine).
    "$PODCTL" -r "$ep" stopp "$sb" >/dev/null || true
    "$PODCTL" -r "$ep" rmp "$sb" >/dev/null || true

    check "$v: header row" test "$(head -n 1 "$csv")" = "$HEADER"
    check "$v: every line has 15 fields" awk -F, 'NF != 15 { exit 1 }' "$csv"
    check "$v: one ContainerDied row per container" \
        test "$(rows_of "$csv" "$c_exit" ContainerDied)$(rows_of "$csv" "$c_kill" ContainerDied)" = 11
    check "$v: exit3: exit 3; kernel, hint, relist, confirmed filled; kernel <= hint <= confirmed; CRI event $([[ $events == yes ]] && echo filled || echo empty)" \
        died_ok "$csv" "$c_exit" 3 "$events"
    check "$v: killed: exit 137; the same columns and order" died_ok "$csv" "$c_kill" 137 "$events"
    check "$v: killed: the runtime's exit time within 2 s of the kernel's" runtime_near_kernel "$csv" "$c_kill"
    check "$v: exit3: ContainerStarted with the kernel's first exec before the confirmation" \
        started_ok "$csv" "$c_exit"
    echo "    exit3 after the kernel: $(times "$csv" "$c_exit")"
    echo "    killed after the kernel: $(times "$csv" "$c_kill")"

    # ---- report
    local out=$tmp/report-$v.txt svg=$tmp/trace-$v.svg
    rc=0
    "$KPLEG" report "$csv" >"$out" 2>"$tmp/report-$v.err" || rc=$?
    check "$v: report exits 0" test "$rc" -eq 0
    check "$v: report says what it measures" grep -q "minus the earliest time any source saw the same" "$out"
    check "$v: report has a ContainerDied table" grep -q '^ContainerDied ([0-9]*)$' "$out"
    for s in kernel hint relist confirmed runtime-ts; do
        check "$v: report: a $s line with count and p50/p90/p99/max" \
            bash -c "sed -n '/^ContainerDied/,/^\$/p' '$out' | grep -Eq '^  $s +[0-9]+( +-?[0-9]+\.[0-9]{3}){4}\$'"
    done
    if [[ $events == yes ]]; then
        check "$v: report: a cri-event line with numbers" \
            bash -c "sed -n '/^ContainerDied/,/^\$/p' '$out' | grep -Eq '^  cri-event +[1-9][0-9]*( +[0-9]+\.[0-9]{3}){4}\$'"
    else
        check "$v: report: cri-event saw nothing" \
            bash -c "sed -n '/^ContainerDied/,/^\$/p' '$out' | grep -Eq '^  cri-event +0( +-){4}\$'"
    fi
    check "$v: report names the plot it wrote" grep -qxF "plot: $svg" "$out"
    check "$v: the SVG is well-formed XML with an <svg> root" \
        bash -c "xmllint --noout '$svg' && [[ \$(xmllint --xpath 'name(/*)' '$svg') == svg ]]"
    check "$v: the SVG has the panel title and axis labels" \
        bash -c "grep -q 'ContainerDied (' '$svg' && grep -q 'latency after the first source (ms, log scale)' '$svg'"
    rc=0
    "$KPLEG" report "$csv" -o "$tmp/x-$v.png" >/dev/null 2>&1 || rc=$?
    check "$v: report -o x.png writes a PNG (magic bytes)" \
        bash -c "[[ $rc -eq 0 && \$(head -c 8 '$tmp/x-$v.png' | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]]"
    sed -n '/^ContainerDied/,/^$/p' "$out" | sed 's/^/    /'
}

trace_runtime 1.7 "$KPLEG_TEST_CD17" yes sigint
trace_runtime 1.6 "$KPLEG_TEST_CD16" no duration

# ---- failures ------------------------------------------------------------------------
echo "--- failures"
one_line() { # EXPECTED-RC GREP CMD... : exit code and exactly one line on stderr
    local want=$1 pat=$2 got=0
    shift 2
    "$@" >"$tmp/f.out" 2>"$tmp/f.err" || got=$?
    [[ $got -eq $want && $(wc -l <"$tmp/f.err") -eq 1 ]] && grep -q -- "$pat" "$tmp/f.err"
}
check "trace without -o: exit 2, one line" one_line 2 '-o FILE is required' "$KPLEG" trace -d 5
check "trace --duration abc: exit 2, one line" one_line 2 'invalid --duration "abc"' "$KPLEG" trace -o "$tmp/x.csv" --duration abc
check "trace --bogus: exit 2, one line" one_line 2 'unknown option "--bogus"' "$KPLEG" trace --bogus
check "trace into a missing directory: exit 1, one line" one_line 1 "cannot write \"$tmp/no/x.csv\"" \
    "$KPLEG" trace -r "$KPLEG_TEST_CD16" -d 5 -o "$tmp/no/x.csv"
check "trace against no runtime: exit 1, one line, no file" bash -c "
    $(declare -f one_line); tmp='$tmp'
    one_line 1 'does not answer CRI Version' '$KPLEG' trace -r unix://$tmp/none.sock -d 5 -o '$tmp/none.csv' &&
    [[ ! -e '$tmp/none.csv' ]]"
printf '%s\n%s\n' "$HEADER" "ns,p,uid,sb,c1,app,ContainerDied,3,Error,12x,,,,," >"$tmp/bad.csv"
check "report on a bad line: exit 1, one line naming file and line" \
    one_line 1 "$tmp/bad.csv:2: kernel_mono_ns: \"12x\" is not a whole number" "$KPLEG" report "$tmp/bad.csv"
echo "$HEADER" >"$tmp/hdr.csv"
rc=0
"$KPLEG" report "$tmp/hdr.csv" >"$tmp/f.out" 2>"$tmp/f.err" || rc=$?
check "report on a header-only trace: the empty table, one line saying there is nothing to plot, exit 0" \
    bash -c "[[ $rc -eq 0 && \$(wc -l <'$tmp/f.err') -eq 1 && ! -e '$tmp/hdr.svg' ]] &&
        grep -q 'nothing to plot' '$tmp/f.err' && grep -q '(no transitions in this trace)' '$tmp/f.out'"
: >"$tmp/empty.csv"
check "report on an empty file: exit 1, one line" one_line 1 "$tmp/empty.csv: empty file" "$KPLEG" report "$tmp/empty.csv"
check "report -o x.pdf: exit 2, one line" one_line 2 'expected a name ending in .svg or .png' \
    "$KPLEG" report "$tmp/trace-1.6.csv" -o "$tmp/x.pdf"
mkdir -p "$tmp/nopath"
rc=0
PATH=$tmp/nopath "$KPLEG" report "$tmp/trace-1.6.csv" -o "$tmp/none.svg" >"$tmp/f.out" 2>"$tmp/f.err" || rc=$?
check "report without gnuplot: the table, then one clear line, exit 1, no plot" bash -c "
    [[ $rc -eq 1 && \$(wc -l <'$tmp/f.err') -eq 1 && ! -e '$tmp/none.svg' ]] &&
    grep -q 'gnuplot not found' '$tmp/f.err' && grep -q '^ContainerDied (' '$tmp/f.out' &&
    [[ -z \$(find '$tmp' -maxdepth 1 -name 'none.svg.*') ]]"

echo "trace_test: $fails failure(s)"
[[ $fails -eq 0 ]]
