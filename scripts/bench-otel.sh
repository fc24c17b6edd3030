#!/usr/bin/env bash
# The span export's budget (BENCHMARKS.md section 11), into a real collector
# (rotel from the venv scripts/install-deps.sh makes, exporting to its
# blackhole, no debug log).
#
#   scripts/bench-otel.sh decode CAPTURE [ROUNDS]
#       decode CAPTURE > /dev/null with and without --otlp-endpoint, interleaved:
#       wall times, spans exported (all of them: decode waits for room in the
#       queue), spans/s. A large capture: sudo scripts/bench-report.sh big.pcapng
#   sudo scripts/bench-otel.sh live [SECONDS] [RATE] [ROUNDS]
#       a throwaway containerd, one client making RATE Version calls a second
#       for SECONDS on one connection (scripts/lib/version_loop.py), watched by
#       `trace --json > /dev/null` with and without --otlp-endpoint, in
#       interleaved rounds (the order alternating); the tracer's CPU time
#       (user + system, every thread, its exit included) and the ratio of
#       medians.
#       Then the same with the collector down (a closed port): peak RSS.
set -euo pipefail
repo=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
mode=${1:?usage: bench-otel.sh decode CAPTURE [ROUNDS] | live [SECONDS] [RATE] [ROUNDS]}
# BIN=PATH measures that binary (another build, for A against B) instead
# of building this tree's.
if [[ -z ${BIN:-} ]]; then
    cargo build --release --quiet --bin containerdsnoop --manifest-path "$repo/Cargo.toml"
fi
bin=${BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/containerdsnoop}
venv=${OTEL_VENV:-/opt/containerdsnoop/otel-venv}
rotel=$(ls "$venv"/lib/python3*/site-packages/rotel/rotel-agent)
dir=$(mktemp -d /tmp/csbo.XXXXXX)
rotel_pid= cd_pid= tr_pid=
cleanup() {
    [[ -z $tr_pid ]] || kill "$tr_pid" 2>/dev/null || true
    [[ -z $rotel_pid ]] || kill "$rotel_pid" 2>/dev/null || true
    [[ -z $cd_pid ]] || { kill "$cd_pid" 2>/dev/null; wait "$cd_pid" 2>/dev/null || true; }
    rm -rf "$dir"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http=$(port) grpc=$(port)
"$rotel" start --exporter blackhole --otlp-http-endpoint "127.0.0.1:$http" \
    --otlp-grpc-endpoint "127.0.0.1:$grpc" >"$dir/rotel.log" 2>&1 &
rotel_pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$http") 2>/dev/null && break; sleep 0.05; done
url=http://127.0.0.1:$http
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

if [[ $mode == decode ]]; then
    capture=${2:?the capture}
    rounds=${3:-5}
    for ((r = 1; r <= rounds; r++)); do
        s=$(date +%s.%N); "$bin" decode "$capture" >/dev/null 2>"$dir/plain.err"; e=$(date +%s.%N)
        awk "BEGIN {print $e - $s}" >>"$dir/plain"
        s=$(date +%s.%N); "$bin" decode "$capture" --otlp-endpoint "$url" >/dev/null 2>"$dir/otlp.err"; e=$(date +%s.%N)
        awk "BEGIN {print $e - $s}" >>"$dir/otlp"
        grep -o '[0-9]* spans exported' "$dir/otlp.err" | cut -d' ' -f1 >>"$dir/spans"
        grep -q 'failed\|dropped' "$dir/otlp.err" && { echo "round $r lost spans: $(cat "$dir/otlp.err")" >&2; exit 1; }
    done
    plain=$(median <"$dir/plain") otlp=$(median <"$dir/otlp") spans=$(median <"$dir/spans")
    echo "capture $(stat -c %s "$capture") bytes, $spans calls; medians of $rounds interleaved rounds"
    echo "decode > /dev/null:                   $plain s"
    echo "decode --otlp-endpoint > /dev/null:   $otlp s ($(awk "BEGIN {printf \"%d\", $spans / $otlp}") spans/s into the collector)"
    exit 0
fi

[[ $EUID -eq 0 ]] || { echo "bench-otel.sh live: run as root" >&2; exit 1; }
seconds=${2:-20} rate=${3:-1000} rounds=${4:-5}
# shellcheck source=lib/containerd.sh
source "$repo/scripts/lib/containerd.sh"
start_containerd "$dir"
# One traced run: its CPU seconds (user + system, every thread's, to the
# microsecond: scripts/lib/rusage.py) and peak RSS (KiB) on stdout.
run() {
    /usr/bin/python3 -I "$repo/scripts/lib/rusage.py" "$dir/usage" -- \
        "$bin" trace --json --no-binary-schemas --socket "$dir/c.sock" "$@" >/dev/null 2>"$dir/tr.err" &
    tr_pid=$!
    for _ in $(seq 600); do grep -q attached "$dir/tr.err" && break; sleep 0.05; done
    /usr/bin/python3 -I "$repo/scripts/lib/version_loop.py" "$dir/c.sock" $((seconds * rate)) 32 "$rate" >/dev/null
    sleep 1
    kill -INT "$tr_pid"; wait "$tr_pid" || true; tr_pid=
    awk '{print $1 + $2, $3}' "$dir/usage"
}
for ((r = 1; r <= rounds; r++)); do
    if ((r % 2)); then order="plain otlp"; else order="otlp plain"; fi
    for m in $order; do
        case $m in
        plain) run | cut -d' ' -f1 >>"$dir/plain" ;;
        otlp)
            run --otlp-endpoint "$url" | cut -d' ' -f1 >>"$dir/otlp"
            grep -o '[0-9]* spans exported.*' "$dir/tr.err" >>"$dir/otlp.summary"
            grep -o '[0-9]* connections\?.*' "$dir/tr.err" | head -1 >>"$dir/otlp.summary" || true
            ;;
        esac
    done
done
plain=$(median <"$dir/plain") otlp=$(median <"$dir/otlp")
echo "$((seconds * rate)) calls at $rate/s, $rounds interleaved rounds; tracer CPU seconds (median)"
echo "trace --json:                  $plain   (rounds: $(tr '\n' ' ' <"$dir/plain"))"
echo "trace --json --otlp-endpoint:  $otlp   (rounds: $(tr '\n' ' ' <"$dir/otlp"))"
echo "ratio of medians: $(awk "BEGIN {printf \"%.3f\", $otlp / $plain}")"
# Each round's two runs were made side by side: their ratio, round by round.
paired=$(paste -d' ' "$dir/otlp" "$dir/plain" | awk '{printf "%.3f\n", $1 / $2}')
echo "median of the rounds' ratios: $(median <<<"$paired")   (rounds: $(tr '\n' ' ' <<<"$paired"))"
sort -u "$dir/otlp.summary"
down=$(run --otlp-endpoint "http://127.0.0.1:$(port)")
echo "collector down: CPU ${down% *} s, peak RSS ${down#* } KiB; $(grep -o '[0-9]* spans exported.*' "$dir/tr.err")"
plainrun=$(run)
echo "no export:      CPU ${plainrun% *} s, peak RSS ${plainrun#* } KiB"
