# Shell helpers shared by tests/*_test.sh (sourced). The caller sets $tmp
# (a scratch directory), $fails (0) and the array bg_pids=() before use.
# shellcheck shell=bash disable=SC2016

check() { # DESCRIPTION CONDITION...
    local what=$1
    shift
    if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}

# Fails the whole test: later steps make no sense without this one.
must() { # DESCRIPTION CONDITION...
    local what=$1
    shift
    if "$@"; then echo "ok   $what"; return; fi
    echo "FAIL $what (giving up); logs:"
    tail -n 20 "$tmp"/*.log 2>/dev/null || true
    exit 1
}

# Polls CONDITION every 0.1 s for up to SECONDS.
wait_for() { # SECONDS CONDITION...
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

start_bg() { # OUT ERR CMD... -> $bg_pid
    local o=$1 e=$2
    shift 2
    "$@" >"$o" 2>"$e" &
    bg_pid=$!
    bg_pids+=("$bg_pid")
}

gone() { ! kill -0 "$1" 2>/dev/null; }

# Signals PID and waits up to 10 s for it to exit; sets $rc (124 on a hang).
stop_bg() { # PID SIGNAL
    local pid=$1 keep=() p
    kill "-$2" "$pid" 2>/dev/null || true
    rc=0
    if wait_for 10 gone "$pid"; then
        wait "$pid" || rc=$?
    else
        kill -KILL "$pid" 2>/dev/null || true
        rc=124
    fi
    for p in "${bg_pids[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    bg_pids=("${keep[@]+"${keep[@]}"}")
}

# ---- JSON helpers (tolerant of bad lines: validity is checked separately) ----
jqf() { jq "$@" 2>/dev/null || true; }
# True if PROGRAM, run over the array of all lines of FILE, yields true.
jqe() { # FILE PROGRAM [JQ-ARGS...]
    local f=$1 prog=$2
    shift 2
    jq -e -s "$@" "$prog" "$f" >/dev/null 2>&1
}
# Event types for one container id, in seq order, space separated.
ctr_types() { # FILE CONTAINER-ID
    jqf -r --arg id "$2" 'select(.container_id == $id and (.type | startswith("Container"))) | .type' "$1" | paste -sd' '
}
has_event() { # FILE TYPE ID-KEY ID
    jqe "$1" 'any(.type == $t and .[$k] == $id)' --arg t "$2" --arg k "$3" --arg id "$4"
}
log_has() { grep -q -- "$2" "$1"; }
