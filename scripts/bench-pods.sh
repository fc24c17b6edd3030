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
# kubelets would); the pods removed. Then `decode --json` and `decode` (the
# table) of that capture, each with attribution and without it (the hidden
# `--no-attribution`), interleaved ROUNDS times: the median wall time, the
# least CPU time (user + system; steadier on a shared machine) and their
# ratios, which the target holds at 1.10 or less; and, where valgrind is
# installed, the instructions of one run each (callgrind: the same on every
# run, whatever else the machine does). KEEP=FILE keeps a copy of the
# capture; FROM=FILE measures the decoding of FILE instead (no capture, no
# root needed).
set -euo pipefail
seconds=${1:-60}
npods=${2:-10}
rounds=${3:-7}
interval=${4:-1}
repo=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
bin=$repo/target/release/containerdsnoop
client=$repo/tests/peers/cri_pods.py
cargo build --release --quiet --bin containerdsnoop --manifest-path "$repo/Cargo.toml"
# The capture, unless FROM names one (the lines up to the matching `fi`).
if [[ -n ${FROM:-} ]]; then
    capture=$FROM
else
[[ $EUID -eq 0 ]] || { echo "bench-pods.sh: run as root" >&2; exit 1; }
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
capture=$dir/pods.pcapng
fi
"$bin" decode --json "$capture" 2>/dev/null \
    | python3 -c '
import json, sys
calls = named = 0
for line in sys.stdin:
    o = json.loads(line)
    if o["type"] == "call":
        calls += 1
        named += o["pod"] is not None
print(f"calls: {calls}, about a pod: {named}")'

# Interleaved rounds: each command's median wall time and least CPU time,
# and their ratios; instructions when valgrind is there.
python3 - "$bin" "$capture" "$rounds" <<'EOF'
import resource, shutil, statistics, subprocess, sys, tempfile, time
bin, capture, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
modes = {
    "json": ["decode", "--json"],
    "table": ["decode"],
}
def run(cmd):
    """Wall and CPU (user + system) seconds of cmd."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu
def instructions(cmd):
    """Instructions of one run of cmd (callgrind), or None."""
    if shutil.which("valgrind") is None:
        return None
    with tempfile.NamedTemporaryFile() as log:
        subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                        f"--log-file={log.name}", *cmd],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        for line in open(log.name):
            if "Collected :" in line:
                return int(line.split()[-1])
    return None
for name, args in modes.items():
    walls = {True: [], False: []}
    cpus = {True: [], False: []}
    cmd = lambda on: [bin, *args, *([] if on else ["--no-attribution"]), capture]
    for _ in range(rounds):
        for attributing in (True, False):
            wall, cpu = run(cmd(attributing))
            walls[attributing].append(wall)
            cpus[attributing].append(cpu)
    on, off = statistics.median(walls[True]), statistics.median(walls[False])
    print(f"decode {name}: with attribution {on:.3f} s, without {off:.3f} s, "
          f"ratio {on / off:.3f} (median wall time of {rounds} interleaved rounds)")
    on, off = min(cpus[True]), min(cpus[False])
    print(f"decode {name}: with attribution {on:.3f} s, without {off:.3f} s, "
          f"ratio {on / off:.3f} (least CPU time of {rounds} interleaved rounds)")
    on, off = instructions(cmd(True)), instructions(cmd(False))
    if on and off:
        print(f"decode {name}: with attribution {on / 1e9:.3f}, without {off / 1e9:.3f} "
              f"billion instructions, ratio {on / off:.3f}")
EOF
