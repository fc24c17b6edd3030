#!/usr/bin/env bash
# containerdsnoop's benchmark suite (not part of the tests). As root:
#
#   sudo scripts/bench.sh [ROUNDS] [SECONDS]      default 5 rounds of 3 s
#
# Prints a Markdown report (the body of BENCHMARKS.md) on stdout; progress on
# stderr. Runs are interleaved (none, record, trace, ... then again) and
# medians are quoted, because these machines are noisy.
#   1. overhead of each hook (--hook sock: tp_btf on the socket layer;
#      --hook syscalls: the syscall tracepoints), side by side in interleaved
#      rounds, record -o /dev/null (and, for the sock hook, record -o FILE
#      and trace --json): unixload ping-pong (64 B; also with both ends
#      pinned to CPU 0, where a round trip is two context switches and not
#      two wake-ups from idle, once with the tracer free to run anywhere and
#      once kept on CPU 1), streaming (64 KiB writes; also untraced with
#      one extra copy of every byte, the copy-bound limit), 16 concurrent
#      ping-pong connections, and unrelated work the filters leave out: 4 KiB
#      file and pipe writes, and dd if=/dev/zero of=/dev/null bs=4k. A
#      tracer that dropped data is marked.
#   2. lossless capture ceiling with the default ring buffer, both hooks
#   3. offline decode of a large capture of real containerd traffic:
#      containerdsnoop decode --json vs tshark -Y grpc, wall time and peak RSS
#   4. peak RSS of record for a short and a ten times longer capture
#   5. start-up: launch to attached, both hooks
# BENCH_QUICK=1 skips sections 3 and 4.
set -euo pipefail

ROUNDS=${1:-5}
SECS=${2:-3}
repo=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
[[ $EUID -eq 0 ]] || { echo "bench.sh: run as root" >&2; exit 1; }
bash scripts/install-deps.sh
for tool in time bc; do command -v "$tool" >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null; done
cargo build --release --quiet --bin containerdsnoop --example unixload
BIN=$repo/target/release/containerdsnoop
LOAD=$repo/target/release/examples/unixload
work=$(mktemp -d /tmp/csbench.XXXXXX)
trap 'pkill -INT -f "$BIN (record|trace)" 2>/dev/null || true; rm -rf "$work"' EXIT
log() { echo "bench: $*" >&2; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# Start a tracer in the background and wait for "attached"; sets TRACER_PID.
start_tracer() {
    local errf=$1; shift
    "$@" 2>"$errf" &
    TRACER_PID=$!
    for _ in $(seq 300); do grep -q attached "$errf" 2>/dev/null && return 0; sleep 0.02; done
    echo "bench.sh: tracer did not attach: $(cat "$errf")" >&2; exit 1
}
stop_tracer() { kill -INT "$TRACER_PID"; wait "$TRACER_PID" || true; }

# One workload run: prints ops_per_s (or bytes_per_s for streaming).
# A mode starting with "pinned-" runs the load on CPU 0 only; mode "dd" is
# dd if=/dev/zero of=/dev/null bs=4k count=400000 (blocks per second).
run_load() {
    local field=$1 mode=$2; shift 2
    local pin=()
    if [[ $mode == dd ]]; then
        local t0=${EPOCHREALTIME/./} t1
        dd if=/dev/zero of=/dev/null bs=4k count=400000 status=none
        t1=${EPOCHREALTIME/./}
        echo "400000 * 1000000 / ($t1 - $t0)" | bc
        return
    fi
    [[ $mode == pinned-* ]] && { pin=(taskset -c 0); mode=${mode#pinned-}; }
    "${pin[@]}" "$LOAD" "$mode" "$work" "$@" --seconds "$SECS" | tr ' ' '\n' | awk -F= -v f="$field" '$1==f {print $2}'
}

declare -A RESULT DROPS
modes=(none sock_null syscalls_null sock_file sock_trace)
declare -A MODE_NAME=([sock_null]="sock: record -o /dev/null" [syscalls_null]="syscalls: record -o /dev/null"
                      [sock_file]="sock: record -o FILE" [sock_trace]="sock: trace --json")
workloads=("pingpong|ops_per_s|pingpong --size 64"
           "pingpong-cpu0|ops_per_s|pinned-pingpong --size 64"
           "pingpong-cpu0-rec1|ops_per_s|pinned-pingpong --size 64"
           "stream|bytes_per_s|stream --size 65536"
           "conns16|ops_per_s|pingpong --size 64 --conns 16"
           "syscalls|ops_per_s|syscalls --size 4096"
           "dd|blocks_per_s|dd")
for ((r = 1; r <= ROUNDS; r++)); do
    for w in "${workloads[@]}"; do
        IFS='|' read -r name field args <<<"$w"
        for m in "${modes[@]}"; do
            sock=$work/load.sock
            # "-rec1": the tracer is kept on CPU 1, off the load's CPU 0, so
            # that the row shows what the hook adds to the traced calls
            # rather than the recorder competing for the load's CPU.
            pin_tracer=()
            [[ $name == *-rec1 ]] && pin_tracer=(taskset -c 1)
            case $m in
                none) ;;
                sock_null) start_tracer "$work/t.err" "${pin_tracer[@]}" "$BIN" record -o /dev/null --hook sock --socket "$sock" ;;
                syscalls_null) start_tracer "$work/t.err" "${pin_tracer[@]}" "$BIN" record -o /dev/null --hook syscalls --socket "$sock" ;;
                sock_file) rm -f "$work/cap.pcapng"
                           start_tracer "$work/t.err" "${pin_tracer[@]}" "$BIN" record -o "$work/cap.pcapng" --hook sock --socket "$sock" ;;
                sock_trace) start_tracer "$work/t.err" "${pin_tracer[@]}" sh -c "exec '$BIN' trace --json --hook sock --socket '$sock' > /dev/null" ;;
            esac
            # shellcheck disable=SC2086
            v=$(run_load "$field" $args)
            if [[ $m != none ]]; then
                stop_tracer
                grep -q DROPPED "$work/t.err" && DROPS[$name,$m]=$(( ${DROPS[$name,$m]:-0} + 1 ))
            fi
            RESULT[$name,$m]+="$v "
            log "round $r $name $m: $v"
        done
        if [[ $name == stream ]]; then
            # shellcheck disable=SC2086
            v=$(run_load "$field" $args --copies 1)
            RESULT[$name,copy]+="$v "
            log "round $r $name one extra copy: $v"
        fi
    done
done

echo "## 1. Overhead of each hook"
echo
echo "Median of $ROUNDS interleaved runs of ${SECS} s (dd: 400 000 blocks of 4 KiB); ratio = with"
echo "tracer / without. The tracers watch the load's socket; the syscalls and dd rows are"
echo "unrelated work the filters leave out. A cell marked \"dropped k/$ROUNDS\" had a tracer that"
echo "dropped data in k of the runs (it copied less than it was given, so its ratio flatters it)."
echo
header="| workload | no tracer"
sep="| --- | ---"
for m in "${modes[@]:1}"; do header+=" | ${MODE_NAME[$m]}"; sep+=" | ---"; done
echo "$header |"
echo "$sep |"
for w in "${workloads[@]}"; do
    IFS='|' read -r name field args <<<"$w"
    base=$(echo "${RESULT[$name,none]}" | tr ' ' '\n' | grep . | median)
    row="| $name ($field) | $(printf '%.0f' "$base")"
    for m in "${modes[@]:1}"; do
        v=$(echo "${RESULT[$name,$m]}" | tr ' ' '\n' | grep . | median)
        row+=" | $(printf '%.0f (%.2f)' "$v" "$(echo "$v / $base" | bc -l)")"
        [[ -n ${DROPS[$name,$m]:-} ]] && row+=" dropped ${DROPS[$name,$m]}/$ROUNDS"
    done
    echo "$row |"
done
base=$(echo "${RESULT[stream,none]}" | tr ' ' '\n' | grep . | median)
copy=$(echo "${RESULT[stream,copy]}" | tr ' ' '\n' | grep . | median)
echo
echo "Copy-bound limit for streaming: untraced, with every byte copied once more into a 16 MiB ring"
echo "(\`unixload stream --copies 1\`): $(printf '%.0f (%.2f)' "$copy" "$(echo "$copy / $base" | bc -l)")."
echo

echo "## 2. Lossless capture ceiling (default 16 MiB ring buffer, record -o /dev/null)"
echo
echo "Ratio = achieved / the copy-bound limit above ($(printf '%.0f' "$(echo "$copy / 1000000" | bc -l)") MB/s)."
echo
echo "| hook | offered MB/s | achieved MB/s | ratio to copy bound | recorder summary |"
echo "| --- | --- | --- | --- | --- |"
for rate in 1000 2000 0; do
    for hook in sock syscalls; do
        start_tracer "$work/t.err" "$BIN" record -o /dev/null --hook "$hook" --socket "$work/load.sock"
        if [[ $rate == 0 ]]; then
            v=$(run_load bytes_per_s stream --size 65536); label=unlimited
        else
            v=$(run_load bytes_per_s stream --size 65536 --rate "$rate"); label=$rate
        fi
        stop_tracer
        summary=$(tail -1 "$work/t.err" | sed 's/^containerdsnoop: //; s/; [0-9]* packets.*//')
        echo "| $hook | $label | $(echo "$v / 1000000" | bc) | $(printf '%.2f' "$(echo "$v / $copy" | bc -l)") | $summary |"
        log "ceiling $hook $label: $v"
    done
done
echo
if [[ -n ${BENCH_QUICK:-} ]]; then
    log "BENCH_QUICK: skipping sections 3 and 4"
else

echo "## 3. Offline decode of a large capture"
echo
big=$work/big.pcapng
if [[ -n ${BENCH_CAPTURE:-} ]]; then
    big=$BENCH_CAPTURE
else
    log "recording a large capture from a throwaway containerd"
    bash scripts/bench-capture.sh "$big" >&2
fi
size=$(stat -c %s "$big")
echo "Capture: $((size / 1000000)) MB ($(basename "$big")). Median of 3 interleaved runs."
echo
echo "| tool | wall s | peak RSS MiB |"
echo "| --- | --- | --- |"
declare -A DW DR
export WIRESHARK_CONFIG_DIR=$work/wsconf
mkdir -p "$WIRESHARK_CONFIG_DIR"
for r in 1 2 3; do
    for t in containerdsnoop tshark; do
        if [[ $t == containerdsnoop ]]; then
            /usr/bin/time -f "%e %M" -o "$work/time" "$BIN" decode "$big" --json >/dev/null
        else
            /usr/bin/time -f "%e %M" -o "$work/time" tshark -r "$big" -Y grpc -T fields -e grpc.message_length >/dev/null 2>&1
        fi
        read -r wall rss <"$work/time"
        DW[$t]+="$wall "; DR[$t]+="$rss "
        log "decode $t round $r: $wall s, $rss KiB"
    done
done
for t in containerdsnoop tshark; do
    w=$(echo "${DW[$t]}" | tr ' ' '\n' | grep . | median)
    m=$(echo "${DR[$t]}" | tr ' ' '\n' | grep . | median)
    echo "| $t | $w | $((${m%.*} / 1024)) |"
done
cw=$(echo "${DW[containerdsnoop]}" | tr ' ' '\n' | grep . | median)
tw=$(echo "${DW[tshark]}" | tr ' ' '\n' | grep . | median)
echo
echo "containerdsnoop is $(printf '%.1f' "$(echo "$tw / $cw" | bc -l)")x faster, at $(printf '%.0f' "$(echo "$size / $cw / 1000000" | bc -l)") MB/s."
echo

echo "## 4. Memory"
echo
echo "| run | peak RSS MiB |"
echo "| --- | --- |"
for secs in 5 50; do
    start_tracer "$work/t.err" "$BIN" record -o "$work/mem.pcapng" --force --socket "$work/load.sock"
    "$LOAD" stream "$work" --seconds "$secs" --rate 100 >/dev/null
    rss=$(awk '/VmHWM/ {print $2}' "/proc/$TRACER_PID/status")
    stop_tracer
    echo "| record, ${secs} s at 100 MB/s ($(( $(stat -c %s "$work/mem.pcapng") / 1000000 )) MB written) | $((rss / 1024)) |"
    rm -f "$work/mem.pcapng"
done
for f in "$repo/tests/fixtures/ctr-run.pcapng" "$big"; do
    /usr/bin/time -f "%M" -o "$work/time" "$BIN" decode "$f" --json >/dev/null
    echo "| decode $(basename "$f") ($(( $(stat -c %s "$f") / 1000 )) kB) | $(( $(cat "$work/time") / 1024 )) |"
done
echo

fi

echo "## 5. Start-up (launch to attached)"
echo
# The recorder's stderr is read through a pipe, so the clock stops as soon
# as the "attached" line is written (no polling interval in the figure).
declare -A STARTS
for r in 1 2 3 4 5 6 7 8 9; do
    for hook in sock syscalls; do
        t0=${EPOCHREALTIME/./}
        exec 3< <(exec "$BIN" record -o /dev/null --hook "$hook" --socket "$work/load.sock" 2>&1 >/dev/null)
        pid=$!
        while read -r line <&3; do [[ $line == *attached* ]] && break; done
        t1=${EPOCHREALTIME/./}
        kill -INT "$pid"; cat <&3 >/dev/null; exec 3<&-
        STARTS[$hook]+="$(( (t1 - t0) / 1000 )) "
    done
done
for hook in sock syscalls; do
    echo "- $hook: median of 9: $(echo "${STARTS[$hook]}" | tr ' ' '\n' | grep . | median) ms (runs: ${STARTS[$hook]})."
done
