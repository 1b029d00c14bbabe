#!/usr/bin/env bash
# bench/run.sh — the project's benchmark: kdbus-bench against kdbusd,
# dbus-broker and dbus-daemon in one run, interleaved, with a table of medians
# and ratios to dbus-broker. See docs/benchmark.md.
#
# Usage: bench/run.sh [--quick] [--reps N] [--kdbusd PATH] [--bench PATH]
#                     [--placements 1cpu,unpinned] [--buses LIST] [--cases LIST]
#                     [--raw FILE] [--keep]
#
#   --quick          a few minutes at most: shorter runs, fewer
#                    signals, idle at 1,000 connections only, 1cpu placement
#                    only (unless --placements is given); still --reps 5
#   --reps N         repetitions (default 5); every cell is the median of N
#   --kdbusd PATH    kdbusd binary (or env KDBUSD; default build/src/daemon/kdbusd
#                    under the repository). Started as
#                      PATH --session --nofork --address=unix:path=SOCK
#                    Its column is left out when the binary does not exist.
#   --against PATH   a second kdbusd build, run as one more bus named
#                    kdbusd-against (before/after comparisons of a change in
#                    the same interleaved run; off by default)
#   --bench PATH     kdbus-bench binary (or env KDBUS_BENCH; default: the newest
#                    build/bench/kdbus-bench or build-*/bench/kdbus-bench)
#   --placements L   1cpu (daemon and clients pinned to CPU $PIN_CPU, default 0)
#                    and/or unpinned (default both)
#   --buses LIST     subset of dbus-broker,dbus-daemon,kdbusd,p2p (p2p: rtt and
#                    payload over a socketpair, connect against the least bus)
#   --least-pin L    what the least bus adds per connection: none (default) or
#                    a list of pidfd, hello-pidfd, stats, identity (kdbus-bench
#                    --pin; see bench/src/least_bus.hpp)
#   --cases LIST     subset of rtt,par,signal,matches,payload,connect,metadata,idle
#                    (metadata runs against kdbusd only: its figures are ratios
#                    to kdbusd itself without metadata, not to dbus-broker)
#   --raw FILE       where the raw result lines go (default /tmp/kdbus-bench-DATE.txt)
#   --keep           keep the temp dir with the daemons' logs
#
# Only processes this script started are stopped, by pid. Every daemon listens
# on its own socket in a fresh temp dir; the host's buses are not touched.
set -u -o pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
quick=0
reps=5
kdbusd=${KDBUSD:-$repo/build/src/daemon/kdbusd}
against=""
bench=${KDBUS_BENCH:-}
placements=""
buses_wanted=dbus-broker,dbus-daemon,kdbusd,p2p
cases_wanted=rtt,par,signal,matches,payload,connect,metadata,idle
raw=""
keep=0
pin_cpu=${PIN_CPU:-0}
least_pin=none

usage() { sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
# needs_value OPTION [NEXT]: the option's value, from --opt=VALUE or the next word.
needs_value() { [ -n "$val" ] || { val=${2:-}; shift_extra=1; }; }
while [ $# -gt 0 ]; do
    opt=$1 val="" shift_extra=0
    case $opt in --*=*) val=${opt#*=}; opt=${opt%%=*} ;; esac
    case $opt in
    --quick) quick=1 ;;
    --keep) keep=1 ;;
    --reps) needs_value "$@"; reps=$val ;;
    --kdbusd) needs_value "$@"; kdbusd=$val ;;
    --against) needs_value "$@"; against=$val ;;
    --least-pin) needs_value "$@"; least_pin=$val ;;
    --bench) needs_value "$@"; bench=$val ;;
    --placements) needs_value "$@"; placements=$val ;;
    --buses) needs_value "$@"; buses_wanted=$val ;;
    --cases) needs_value "$@"; cases_wanted=$val ;;
    --raw) needs_value "$@"; raw=$val ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $opt (see --help)" >&2; exit 2 ;;
    esac
    shift $((1 + shift_extra))
done

log() { echo "run.sh: $*" >&2; }
wanted() { case ",$1," in *",$2,"*) return 0 ;; *) return 1 ;; esac; }

if [ -z "$bench" ]; then
    # shellcheck disable=SC2012  # the newest binary by mtime; the paths are ours
    bench=$(ls -t "$repo"/build/bench/kdbus-bench "$repo"/build-*/bench/kdbus-bench 2>/dev/null | head -1)
fi
if [ -z "$bench" ] || [ ! -x "$bench" ]; then
    log "no kdbus-bench binary: build it (ninja -C build kdbus-bench) or pass --bench PATH"
    exit 2
fi

# Sizes of the runs. Durations are per measured run; counts are signals.
if [ $quick = 1 ]; then
    dur=0.2 dur_payload=0.1 dur_metadata=0.6 signals_100=300 signals_8=2000 signals_matches=300 idle_sizes="1000"
    : "${placements:=1cpu}"
else
    dur=1.0 dur_payload=0.5 dur_metadata=3.0 signals_100=1000 signals_8=5000 signals_matches=1000 idle_sizes="1000 10000"
    : "${placements:=1cpu,unpinned}"
fi

# case name | kdbus-bench arguments | "p2p" if the case has a bus-less reference
# | the one bus it runs on, if not every bus
cases=()
wanted "$cases_wanted" rtt && cases+=("rtt|rtt --duration $dur|p2p")
wanted "$cases_wanted" par && cases+=("par-8|par --clients 8 --duration $dur|")
if wanted "$cases_wanted" signal; then
    cases+=("signal-100|signal --subscribers 100 --count $signals_100|")
    cases+=("signal-8|signal --subscribers 8 --count $signals_8|")
fi
if wanted "$cases_wanted" matches; then
    cases+=("matches-0|matches --rules 0 --count $signals_matches|")
    cases+=("matches-10000|matches --rules 10000 --count $signals_matches|")
fi
if wanted "$cases_wanted" payload; then
    for size in 4K 1M 16M; do
        for via in inline memfd; do
            cases+=("payload-$size-$via|payload --size $size --via $via --duration $dur_payload|p2p")
        done
    done
fi
wanted "$cases_wanted" connect && cases+=("connect|connect --duration $dur|p2p")
wanted "$cases_wanted" metadata && cases+=("metadata|metadata --duration $dur_metadata||kdbusd")

tmp=$(mktemp -d /tmp/kdbus-bench.XXXXXX)
[ -n "$raw" ] || raw=/tmp/kdbus-bench-$(date +%Y%m%d-%H%M%S).txt
: >"$raw"
# The daemons inherit it: idle opens 10,000 connections, and every daemon gets the same limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
all_cpus=$(taskset -c -p $$ | sed 's/.*: //')

declare -A address=() probe_pids=() owned_pids=() note=()
journal_sink_pid=""

# stop_pids PID...: TERM, up to 3 s for an exit, then KILL. Only pids we started.
stop_pids() {
    local p i alive
    for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
    for i in $(seq 30); do
        alive=0
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in "$@"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    return 0
}

# dbus-broker-launch will not start without journald's socket. Where there is
# none, a kdbus-bench journal-sink serves one in a temp dir that start_bus
# mounts over /run/systemd in the launcher's private mount namespace.
start_journal_sink() {
    [ -n "$journal_sink_pid" ] && return 0
    mkdir -p "$tmp/run/systemd/journal"
    "$bench" journal-sink --path "$tmp/run/systemd/journal/socket" --out "$tmp/dbus-broker.journal" &
    journal_sink_pid=$!
    local i
    for i in $(seq 100); do
        [ -S "$tmp/run/systemd/journal/socket" ] && return 0
        sleep 0.02
    done
    log "the journal sink did not come up"
    return 1
}

# start_bus KIND NAME: starts a daemon of KIND (dbus-broker, dbus-daemon,
# kdbusd) on $tmp/NAME.sock; sets address, probe_pids, owned_pids.
start_bus() {
    local kind=$1 name=$2 sock=$tmp/$2.sock pid
    rm -f "$sock"
    case $kind in
    dbus-daemon)
        dbus-daemon --session --nofork --nopidfile --nosyslog --address="unix:path=$sock" >"$tmp/$name.log" 2>&1 &
        pid=$! ;;
    kdbusd | kdbusd-against)
        local binary=$kdbusd
        [ "$kind" = kdbusd-against ] && binary=$against
        "$binary" --session --nofork --address="unix:path=$sock" >"$tmp/$name.log" 2>&1 &
        pid=$! ;;
    dbus-broker)
        # systemd-socket-activate binds SOCK, passes it as fd 3 and execs the
        # launcher, which forks the broker. The launcher talks to "the user's
        # systemd" over DBUS_SESSION_BUS_ADDRESS: the broker's own socket here.
        local launch=(systemd-socket-activate -l "$sock" -E "DBUS_SESSION_BUS_ADDRESS=unix:path=$sock"
            -E "XDG_RUNTIME_DIR=$tmp" dbus-broker-launch --scope user)
        if [ -S /run/systemd/journal/socket ]; then
            "${launch[@]}" >"$tmp/$name.log" 2>&1 &
        else
            start_journal_sink || return 1
            # Over /run/systemd if it exists, else over all of /run: never create anything on the host.
            local source=$tmp/run/systemd target=/run/systemd
            [ -d /run/systemd ] || { source=$tmp/run; target=/run; }
            # shellcheck disable=SC2016  # $1 and $2 belong to the inner sh
            unshare --mount --propagation private sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' \
                sh "$source" "$target" "${launch[@]}" >"$tmp/$name.log" 2>&1 &
        fi
        pid=$! ;;
    *) log "unknown bus $kind"; return 1 ;;
    esac
    address[$name]="unix:path=$sock"
    owned_pids[$name]=$pid
    probe_pids[$name]=$pid
    if ! "$bench" wait --address "${address[$name]}" --pid "$pid" --timeout 15 --label "$name" >/dev/null; then
        log "$name did not come up; its log:"
        sed 's/^/    /' "$tmp/$name.log" >&2
        stop_bus "$name"
        return 1
    fi
    if [ "$kind" = dbus-broker ]; then
        local broker
        broker=$(awk '{print $1}' "/proc/$pid/task/$pid/children" 2>/dev/null)
        if [ -z "$broker" ]; then log "no dbus-broker under launcher $pid"; stop_bus "$name"; return 1; fi
        owned_pids[$name]="$broker $pid"  # the broker first: its launcher exits after it
        probe_pids[$name]="$broker,$pid"  # both are what a dbus-broker bus costs
    fi
    return 0
}

stop_bus() {
    local name=$1 p
    [ -n "${owned_pids[$name]:-}" ] || return 0
    for p in ${owned_pids[$name]}; do stop_pids "$p"; done
    unset "owned_pids[$name]"
}

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    local name
    for name in "${!owned_pids[@]}"; do stop_bus "$name"; done
    [ -n "$journal_sink_pid" ] && stop_pids "$journal_sink_pid"
    if [ "$keep" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The buses taking part.
buses=()
candidates=(dbus-broker dbus-daemon kdbusd)
[ -n "$against" ] && candidates+=(kdbusd-against) && buses_wanted+=,kdbusd-against
for b in "${candidates[@]}"; do
    wanted "$buses_wanted" $b || continue
    case $b in
    dbus-broker)
        if ! command -v dbus-broker-launch >/dev/null || ! command -v systemd-socket-activate >/dev/null; then
            note[$b]="left out: dbus-broker-launch or systemd-socket-activate missing"; continue
        fi ;;
    dbus-daemon) command -v dbus-daemon >/dev/null || { note[$b]="left out: dbus-daemon missing"; continue; } ;;
    kdbusd) [ -x "$kdbusd" ] || { note[$b]="left out: no binary at $kdbusd"; continue; } ;;
    kdbusd-against) [ -x "$against" ] || { note[$b]="left out: no binary at $against"; continue; } ;;
    esac
    buses+=("$b")
done

# run_one PLACEMENT CASE REP TARGET ARGS...: one kdbus-bench run, its line appended to $raw.
run_one() {
    local placement=$1 case=$2 rep=$3 target=$4 line
    shift 4
    local pin=() where=()
    [ "$placement" = 1cpu ] && pin=(taskset -c "$pin_cpu")
    if [ "$target" = p2p ]; then
        where=(--p2p)
        [ "$1" = connect ] && where+=(--pin "$least_pin")
    else
        where=(--address "${address[$target]}" --label "$target" --pid "${probe_pids[$target]}")
    fi
    local t0=$EPOCHREALTIME
    line=$(timeout -k 5 600 "${pin[@]}" "$bench" "$@" "${where[@]}" 2>>"$tmp/kdbus-bench.err")
    [ -n "$line" ] || line="scenario=$1 bus=$target ok=0 error=no_output"
    # wall_s: the whole run with its set-up, to see where a run's time goes.
    echo "placement=$placement case=$case rep=$rep wall_s=$(echo "$EPOCHREALTIME - $t0" | bc) $line" >>"$raw"
    case $line in *" ok=1") ;; *) log "FAILED: $placement $case $target: $line" ;; esac
}

# Pins (or unpins) every thread of every daemon.
place_daemons() {
    local cpus=$1 name p
    for name in "${buses[@]}"; do
        for p in ${owned_pids[$name]:-}; do taskset -a -p -c "$cpus" "$p" >/dev/null 2>&1; done
    done
}

log "kdbus-bench: $bench; raw lines: $raw"
log "buses: ${buses[*]:-none}; reps: $reps; placements: $placements$([ $quick = 1 ] && echo '; quick')"
for b in "${!note[@]}"; do log "$b ${note[$b]}"; done
started=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# Phase 1, idle: each figure on a freshly started daemon, since a daemon that
# served connections before reuses the memory they freed.
if wanted "$cases_wanted" idle; then
    for rep in $(seq "$reps"); do
        for conns in $idle_sizes; do
            n=${#buses[@]}
            for ((i = 0; i < n; i++)); do
                b=${buses[$(((i + rep) % n))]}
                if start_bus "$b" "$b-idle"; then
                    line=$("$bench" idle --connections "$conns" --address "${address[$b-idle]}" --label "$b" \
                        --pid "${probe_pids[$b-idle]}" 2>>"$tmp/kdbus-bench.err")
                    [ -n "$line" ] || line="scenario=idle bus=$b ok=0 error=no_output"
                    stop_bus "$b-idle"
                else
                    line="scenario=idle bus=$b ok=0 error=did_not_start"
                fi
                echo "placement=any case=idle-$conns rep=$rep $line" >>"$raw"
                case $line in *" ok=1") ;; *) log "FAILED: idle-$conns $b: $line" ;; esac
            done
        done
    done
    log "idle done ($(($(date +%s) - started)) s)"
fi

# Phase 2: all daemons up; each repetition runs every case on every bus, in
# an order rotated per case and repetition, so noise and drift hit all alike.
live=()
if [ ${#cases[@]} -gt 0 ]; then
    for b in "${buses[@]}"; do
        if start_bus "$b" "$b"; then live+=("$b"); else note[$b]="did not start"; fi
    done
fi
buses=("${live[@]}")
targets=("${buses[@]}")
wanted "$buses_wanted" p2p && targets+=(p2p)
if [ ${#cases[@]} -gt 0 ] && [ ${#buses[@]} -gt 0 ]; then
    for rep in $(seq "$reps"); do
        for placement in ${placements//,/ }; do
            case $placement in
            1cpu) place_daemons "$pin_cpu" ;;
            unpinned) place_daemons "$all_cpus" ;;
            *) log "unknown placement $placement"; exit 2 ;;
            esac
            for ((c = 0; c < ${#cases[@]}; c++)); do
                IFS='|' read -r name args p2p only <<<"${cases[$c]}"
                n=${#targets[@]}
                for ((i = 0; i < n; i++)); do
                    t=${targets[$(((i + rep + c) % n))]}
                    [ "$t" = p2p ] && [ -z "$p2p" ] && continue
                    [ -n "$only" ] && [ "${t%-against}" != "$only" ] && continue
                    if [ "$t" != p2p ] && [ -z "${note[$t]:-}" ]; then
                        for p in ${probe_pids[$t]//,/ }; do
                            kill -0 "$p" 2>/dev/null || { note[$t]="died during the run"; log "$t died"; }
                        done
                    fi
                    # shellcheck disable=SC2086
                    run_one "$placement" "$name" "$rep" "$t" $args
                done
            done
        done
        log "repetition $rep/$reps done ($(($(date +%s) - started)) s)"
    done
fi
for b in "${buses[@]}"; do stop_bus "$b"; done

echo "## kdbus-bench: medians of $reps repetitions"
echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, Linux $(uname -r), $(($(date +%s) - started)) s;" \
    "load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg)."
echo "1cpu: daemon and all clients pinned to CPU $pin_cpu (the placement targets are judged on);" \
    "unpinned: left to the scheduler. ↑ higher is better, ↓ lower is better."
echo "Cell: median ±(max−min)/2 in % of it (ratio to dbus-broker: median of the per-repetition ratios)."
for b in dbus-broker dbus-daemon kdbusd kdbusd-against; do
    [ -n "${note[$b]:-}" ] && echo "$b: ${note[$b]}."
done
echo
"$bench" report "$raw"
status=$?
echo
echo "Raw lines: $raw"
exit $status
