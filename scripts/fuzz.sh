#!/usr/bin/env bash
# Runs libFuzzer targets (make fuzz): each for FUZZ_SECONDS on a scratch copy
# of its seed corpus tests/fuzz/corpus/<target>/ (the committed corpus never
# grows), one after the other. Any finding (crash, sanitizer report, leak,
# timeout, out-of-memory) fails the run and says where the reproducer is;
# at the end one line per target: runs, execs/s, corpus, coverage.
#
# Usage: scripts/fuzz.sh build/fuzz/fuzz_X...   Env: FUZZ_SECONDS (60),
# FUZZ_BUILD (build/fuzz), FUZZ_RSS_MB (2048), FUZZ_TIMEOUT_S (10),
# FUZZ_KEEP=1 keeps the scratch corpora.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_EACH=${FUZZ_SECONDS:-60}
BUILD=${FUZZ_BUILD:-build/fuzz}
RSS=${FUZZ_RSS_MB:-2048}
TO=${FUZZ_TIMEOUT_S:-10}
[ $# -gt 0 ] || { echo "usage: $0 FUZZ_BINARY..." >&2; exit 2; }

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/kpleg-fuzz.XXXXXX")
[ "${FUZZ_KEEP:-0}" = 1 ] || trap 'rm -rf "$SCRATCH"' EXIT
FINDINGS=$ROOT/$BUILD/findings
failed=() summary=()

for bin in "$@"; do
    name=$(basename "$bin")
    seeds=$ROOT/tests/fuzz/corpus/$name
    work=$SCRATCH/$name
    art=$FINDINGS/$name
    log=$ROOT/$BUILD/$name.log
    [ -d "$seeds" ] || { echo "fuzz: no seed corpus $seeds" >&2; failed+=("$name"); continue; }
    mkdir -p "$work" "$art"
    cp "$seeds"/* "$work"/
    n0=$(ls "$work" | wc -l)
    echo "::: fuzz $name for ${SECONDS_EACH}s ($n0 seeds)"
    "$bin" -max_total_time="$SECONDS_EACH" -rss_limit_mb="$RSS" -timeout="$TO" \
        -print_final_stats=1 -artifact_prefix="$art/" "$work" >"$log" 2>&1
    rc=$?
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$done_line")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$done_line")
    corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$done_line")
    runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log")
    eps=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log")
    rss=$(sed -nE 's/^stat::peak_rss_mb: *([0-9]+)/\1/p' "$log")
    if [ $rc -ne 0 ]; then
        repro=$(grep -oE "(Test unit written to|artifact_prefix=.*; Test unit written to) [^ ]+" "$log" \
            | awk '{print $NF}' | tail -1)
        echo "fuzz: FINDING in $name (exit $rc):" >&2
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|ALARM|==[0-9]+== ERROR: libFuzzer)' "$log" \
            | head -5 >&2
        echo "fuzz:   reproducer: ${repro:-$(ls -t "$art" | head -1 | sed "s|^|$art/|")}" >&2
        echo "fuzz:   replay: $bin ${repro:-<reproducer>}   (full log: $log)" >&2
        failed+=("$name")
    fi
    summary+=("$(printf '%-18s %-5s runs=%-9s execs/s=%-7s corpus=%-12s cov=%-5s ft=%-6s rss=%sMB' \
        "$name" "$([ $rc -eq 0 ] && echo ok || echo FAIL)" "${runs:-?}" "${eps:-?}" \
        "${corp:-?}" "${cov:-?}" "${ft:-?}" "${rss:-?}")")
done

echo "::: fuzz summary (${SECONDS_EACH}s each)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: ${#failed[@]} target(s) with findings: ${failed[*]} (reproducers in $FINDINGS)" >&2
    exit 1
fi
echo "fuzz: ${#summary[@]} targets, no findings"
