#!/usr/bin/env bash
# What pod and container attribution costs `decode` (a benchmark, not a
# test). As root:
#
#   sudo scripts/bench-pods.sh [SECONDS] [PODS] [ROUNDS] [INTERVAL]
#                              default 60 s, 10 pods, 7 rounds, 1 s
#
# A throwaway containerd with its CRI plugin. While `record` captures its
# sockets and its shims': PODS pods (host network, a busybox container
# each) created through the CRI by tests/peers/cri_pods.py, as kubelet
# creates them; SECONDS of relisting (ListPodSandbox and ListContainers,
# unfiltered) every INTERVAL seconds with a ContainerStatus per container
# each round (kubelet relists every second; 0.01 says what a hundred
# kubelets would); the pods removed. Then `decode --json` and `decode` (the table) of that capture,
# each with attribution and without it (the hidden `--no-attribution`),
# interleaved ROUNDS times; the medians (s) and their ratio, which the
# target holds at 1.10 or less. KEEP=FILE keeps a copy of the capture.
set -euo pipefail
seconds=${1:-60}
npods=${2:-10}
rounds=${3:-7}
interval=${4:-1}
repo=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
bin=$repo/target/release/containerdsnoop
client=$repo/tests/peers/cri_pods.py
[[ $EUID -eq 0 ]] || { echo "bench-pods.sh: run as root" >&2; exit 1; }
cargo build --release --quiet --bin containerdsnoop --manifest-path "$repo/Cargo.toml"
dir=$(mktemp -d /tmp/cspods.XXXXXX)
rec=
pairs=()
cleanup() {
    [[ -z $rec ]] || kill -INT "$rec" 2>/dev/null || true
    # Pods left running keep their shims and mounts past containerd.
    ((${#pairs[@]} == 0)) || cri - --remove "${pairs[@]}" >/dev/null 2>&1 || true
    [[ -z ${cd_pid:-} ]] || { kill "$cd_pid" 2>/dev/null; wait "$cd_pid" 2>/dev/null || true; }
    pkill -f "containerd-shim.*-address $dir/" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
# shellcheck source=lib/containerd.sh
source "$repo/scripts/lib/containerd.sh"
start_containerd "$dir" cri
sleep 2
SLEEP=1 bash "$repo/scripts/make-busybox-oci.sh" "$dir/pause.tar" registry.k8s.io/pause:3.6
bash "$repo/scripts/make-busybox-oci.sh" "$dir/app.tar"
for image in pause app; do
    ctr -a "$dir/c.sock" -n k8s.io images import "$dir/$image.tar" >/dev/null
done
cri() { /usr/bin/python3 -I "$client" "unix://$dir/c.sock" "$@"; }

"$bin" record -o "$dir/pods.pcapng" --socket "$dir/c.sock" --socket "$dir/c.sock.ttrpc" \
    --socket '/run/containerd/s/*' 2>"$dir/record.err" &
rec=$!
for _ in $(seq 500); do grep -q attached "$dir/record.err" && break; sleep 0.02; done
names=()
for i in $(seq "$npods"); do names+=("bench$i"); done
cri docker.io/library/busybox:snoop --keep "${names[@]}" >"$dir/pods.out"
mapfile -t pairs < <(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    if line.startswith("{"):
        p = json.loads(line)
        print(p["sandbox_id"] + "," + p["container_id"])' "$dir/pods.out")
cri - --load "$seconds" "$interval" "${pairs[@]}" >"$dir/load.out"
head -1 "$dir/load.out"
cri - --remove "${pairs[@]}" >/dev/null
pairs=()
sleep 1
kill -INT "$rec"
wait "$rec" || true
rec=
tail -1 "$dir/record.err"
[[ -z ${KEEP:-} ]] || cp "$dir/pods.pcapng" "$KEEP"
ls -l "$dir/pods.pcapng" | awk '{printf "capture: %.1f MB\n", $5 / 1e6}'
"$bin" decode --json "$dir/pods.pcapng" 2>/dev/null \
    | python3 -c '
import json, sys
calls = named = 0
for line in sys.stdin:
    o = json.loads(line)
    if o["type"] == "call":
        calls += 1
        named += o["pod"] is not None
print(f"calls: {calls}, about a pod: {named}")'

# Interleaved rounds: each command's median, and the ratio of medians.
python3 - "$bin" "$dir/pods.pcapng" "$rounds" <<'EOF'
import statistics, subprocess, sys, time
bin, capture, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
modes = {
    "json": ["decode", "--json"],
    "table": ["decode"],
}
for name, args in modes.items():
    times = {True: [], False: []}
    for _ in range(rounds):
        for attributing in (True, False):
            cmd = [bin, *args, *([] if attributing else ["--no-attribution"]), capture]
            start = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times[attributing].append(time.perf_counter() - start)
    on, off = statistics.median(times[True]), statistics.median(times[False])
    print(f"decode {name}: with attribution {on:.3f} s, without {off:.3f} s, "
          f"ratio {on / off:.3f} (median of {rounds} interleaved rounds)")
EOF
