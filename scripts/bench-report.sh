#!/usr/bin/env bash
# Records a soak-like capture for the report benchmark: a throwaway
# containerd, LOOPS shell loops of `ctr version` (a new connection each) and
# one client looping on one connection (scripts/lib/version_loop.py, CALLS
# unary Version calls, 32 in flight), recorded until the client is done.
#   sudo scripts/bench-report.sh OUT.pcapng [CALLS] [LOOPS]
# Then: containerdsnoop report OUT.pcapng -o report.html (see BENCHMARKS.md).
set -euo pipefail
out=$1
calls=${2:-200000}
loops=${3:-2}
repo=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
[[ $EUID -eq 0 ]] || { echo "bench-report.sh: run as root" >&2; exit 1; }
cargo build --release --quiet --bin containerdsnoop --manifest-path "$repo/Cargo.toml"
bin=${CARGO_TARGET_DIR:-$repo/target}/release/containerdsnoop
dir=$(mktemp -d /tmp/csbr.XXXXXX)
cd_pid=
rec_pid=
loop_pids=()
cleanup() {
    for p in "${loop_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [[ -z $rec_pid ]] || kill -INT "$rec_pid" 2>/dev/null || true
    [[ -z $cd_pid ]] || { kill "$cd_pid" 2>/dev/null; wait "$cd_pid" 2>/dev/null || true; }
    rm -rf "$dir"
}
trap cleanup EXIT
# shellcheck source=lib/containerd.sh
source "$repo/scripts/lib/containerd.sh"
start_containerd "$dir"
rm -f "$out"
"$bin" record -o "$out" --socket "$dir/c.sock" --ringbuf-size 64M 2>"$dir/rec.err" &
rec_pid=$!
for _ in $(seq 300); do grep -q attached "$dir/rec.err" && break; sleep 0.02; done
touch "$dir/run"
for ((l = 0; l < loops; l++)); do
    (while [[ -e $dir/run ]]; do ctr -a "$dir/c.sock" version >/dev/null 2>&1 || true; echo x; done) >"$dir/loop$l" &
    loop_pids+=($!)
done
start=$SECONDS
/usr/bin/python3 -I "$repo/scripts/lib/version_loop.py" "$dir/c.sock" "$calls"
rm -f "$dir/run"
wait "${loop_pids[@]}" 2>/dev/null || true
loop_pids=()
echo "$calls calls on one connection and $(cat "$dir"/loop* | wc -l) ctr version connections in $((SECONDS - start)) s"
sleep 1
kill -INT "$rec_pid"; wait "$rec_pid" || true; rec_pid=
tail -1 "$dir/rec.err"
ls -l "$out"
