#!/usr/bin/env bash
# Memory under connection churn (a benchmark, not a test). As root:
#
#   sudo scripts/bench-churn.sh [MINUTES] [LOOPS]      default 30 minutes, 3 loops
#
# A throwaway containerd; `record -o /dev/null`, `record --decode --json`
# and `trace --json` attached at once; LOOPS shell loops of `ctr version`
# (a new connection each) for MINUTES. Every 10 s the RSS of each tracer
# is sampled from /proc/PID/smaps, without the ring buffer's mapping: the
# kernel allocates the ring (16 MiB, mapped twice) when the program loads,
# and its pages become resident in our RSS as the ring first wraps, which
# at a low data rate takes minutes (RSS with it is shown too). At the end,
# per tracer, the highest value from minute 5 on against the value at
# minute 5 (the target: at most 10 MiB more), and the connection rate.
set -euo pipefail
minutes=${1:-30}
loops=${2:-3}
repo=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
bin=$repo/target/release/containerdsnoop
[[ $EUID -eq 0 ]] || { echo "bench-churn.sh: run as root" >&2; exit 1; }
cargo build --release --quiet --bin containerdsnoop --manifest-path "$repo/Cargo.toml"
dir=$(mktemp -d /tmp/cschurn.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    sleep 1
    [[ -z ${cd_pid:-} ]] || { kill "$cd_pid" 2>/dev/null; wait "$cd_pid" 2>/dev/null || true; }
    rm -rf "$dir"
}
trap cleanup EXIT
# shellcheck source=lib/containerd.sh
source "$repo/scripts/lib/containerd.sh"
start_containerd "$dir"
names=(record record-decode trace)
"$bin" record -o /dev/null --socket "$dir/c.sock" --state-sizes "$dir/sizes.json" 2>"$dir/record.err" &
pids+=($!)
"$bin" record -o /dev/null --decode --json --socket "$dir/c.sock" >/dev/null 2>"$dir/record-decode.err" &
pids+=($!)
"$bin" trace --json --socket "$dir/c.sock" >/dev/null 2>"$dir/trace.err" &
pids+=($!)
for n in "${names[@]}"; do
    for _ in $(seq 500); do grep -q attached "$dir/$n.err" && break; sleep 0.02; done
done
end=$((SECONDS + minutes * 60))
for ((l = 0; l < loops; l++)); do
    (while ((SECONDS < end)); do ctr -a "$dir/c.sock" version >/dev/null 2>&1 || true; echo x; done) >"$dir/loop$l" &
done
echo "| time | connections | MiB without the ring (RSS): ${names[0]} | ${names[1]} | ${names[2]} |"
echo "| --- | --- | --- | --- | --- |"
# RSS in KiB without the BPF ring buffer's mapping, and with it.
rss_of() {
    awk '/^[0-9a-f]+-[0-9a-f]+ / { ring = ($6 == "anon_inode:bpf-map") }
         /^Rss:/ { all += $2; if (ring) r += $2 }
         END { print all - r, all }' "/proc/$1/smaps" 2>/dev/null || echo "0 0"
}
declare -A at5 peak
start=$SECONDS
while ((SECONDS < end)); do
    sleep 10
    m=$(( (SECONDS - start) / 60 ))
    n=$(cat "$dir"/loop* | wc -l)
    row="| $(( SECONDS - start ))s | $n |"
    for i in "${!names[@]}"; do
        read -r rss total < <(rss_of "${pids[$i]}")
        row+=" $((rss / 1024)) ($((total / 1024))) |"
        name=${names[$i]}
        if ((m >= 5)); then
            [[ -n ${at5[$name]:-} ]] || at5[$name]=$rss
            ((rss > ${peak[$name]:-0})) && peak[$name]=$rss
        fi
    done
    echo "$row"
done
n=$(cat "$dir"/loop* | wc -l)
echo
echo "Entry counts of record at the end (--state-sizes): $(cat "$dir/sizes.json" 2>/dev/null)"
echo
echo "$n connections in $minutes min ($(( n / (minutes * 60) )) per second)."
for name in "${names[@]}"; do
    if [[ -n ${at5[$name]:-} ]]; then
        echo "- $name: at minute 5 $(( at5[$name] / 1024 )) MiB, highest after $(( peak[$name] / 1024 )) MiB (+$(( (peak[$name] - at5[$name]) / 1024 )) MiB), without the ring"
    fi
done
for i in "${!pids[@]}"; do kill -INT "${pids[$i]}" 2>/dev/null || true; done
sleep 2
for n in "${names[@]}"; do echo "- $n: $(tail -1 "$dir/$n.err")"; done
pids=()
