#!/usr/bin/env bash
# HTTP/1.1 (Docker Engine API) decoding figures for BENCHMARKS.md. As root:
#
#   sudo scripts/bench-http.sh [ROUNDS] [LAYER_MB] [INSPECTS]   default 7 200 300
#
# Starts a throwaway containerd and dockerd (Debian's docker.io, private
# roots, no network), makes an image with one LAYER_MB MB layer of random
# bytes (docker import, docker save) and records two captures of dockerd's
# socket: `docker load` of that image (a capture dominated by the image's
# body), and INSPECTS runs of `docker inspect` of a created container (each
# a new client: HEAD /_ping, then GET /containers/ID/json). Then, ROUNDS
# times interleaved: `containerdsnoop decode` (table and --json) of each
# capture, and `tshark -Y http` of the inspect capture for comparison
# (on the load capture tshark takes minutes a run: not timed); and
# the decoder alone (examples/http_speed.rs). Prints medians as Markdown.
set -euo pipefail
rounds=${1:-7}
layer_mb=${2:-200}
inspects=${3:-300}
repo=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
[[ $EUID -eq 0 ]] || { echo "bench-http.sh: run as root" >&2; exit 1; }
cargo build --release --quiet --bin containerdsnoop --example http_speed --manifest-path "$repo/Cargo.toml"
bin=${CARGO_TARGET_DIR:-$repo/target}/release/containerdsnoop
speed=${CARGO_TARGET_DIR:-$repo/target}/release/examples/http_speed
dir=$(mktemp -d /tmp/csbh.XXXXXX)
cd_pid= dk_pid= rec_pid=
cleanup() {
    [[ -z $rec_pid ]] || kill -INT "$rec_pid" 2>/dev/null || true
    [[ -z $dk_pid ]] || { kill "$dk_pid" 2>/dev/null; wait "$dk_pid" 2>/dev/null || true; }
    [[ -z $cd_pid ]] || { kill "$cd_pid" 2>/dev/null; wait "$cd_pid" 2>/dev/null || true; }
    grep " $dir/" /proc/self/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
log() { echo "bench-http: $*" >&2; }
# shellcheck source=lib/containerd.sh
source "$repo/scripts/lib/containerd.sh"
start_containerd "$dir"
sock=$dir/docker.sock
echo "{\"deprecated-key-path\": \"$dir/key.json\"}" >"$dir/daemon.json"
dockerd --config-file="$dir/daemon.json" --containerd="$dir/c.sock" --data-root="$dir/data" \
    --exec-root="$dir/exec" --pidfile="$dir/docker.pid" --host="unix://$sock" \
    --iptables=false --ip6tables=false --bridge=none --userland-proxy=false >"$dir/dockerd.log" 2>&1 &
dk_pid=$!
docker() { DOCKER_CONFIG=$dir/client /usr/bin/docker -H "unix://$sock" "$@"; }
for _ in $(seq 600); do docker version >/dev/null 2>&1 && break; sleep 0.1; done
log "making a ${layer_mb} MB image"
mkdir -p "$dir/rootfs"
head -c "${layer_mb}M" /dev/urandom >"$dir/rootfs/blob"
tar -C "$dir/rootfs" -cf - . | docker import - snoopbench:1 >/dev/null
docker save -o "$dir/big.tar" snoopbench:1
docker rmi snoopbench:1 >/dev/null
rm -rf "$dir/rootfs"

record() { # record OUT: starts the recorder on dockerd's socket
    "$bin" record -o "$1" --socket "$sock" --ringbuf-size 64M 2>"$1.err" &
    rec_pid=$!
    for _ in $(seq 300); do grep -q attached "$1.err" && break; sleep 0.02; done
}
stop() {
    sleep 0.3
    kill -INT "$rec_pid"
    wait "$rec_pid" || true
    rec_pid=
}
log "recording docker load"
record "$dir/load.pcapng"
docker load -i "$dir/big.tar" >/dev/null
stop
docker create --name snoopbench snoopbench:1 /blob >/dev/null
log "recording $inspects docker inspect"
record "$dir/inspect.pcapng"
for _ in $(seq "$inspects"); do docker inspect snoopbench >/dev/null; done
stop

wall() { # wall CMD...: seconds
    local s e
    s=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    e=$(date +%s.%N)
    echo "$e - $s" | bc -l
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A t
for ((r = 0; r < rounds; r++)); do
    for cap in load inspect; do
        f=$dir/$cap.pcapng
        t[$cap.table]+="$(wall "$bin" decode "$f") "
        t[$cap.json]+="$(wall "$bin" decode --json "$f") "
        [[ $cap == load ]] || t[$cap.tshark]+="$(wall tshark -r "$f" -Y http) "
    done
done
m() { tr ' ' '\n' <<<"${t[$1]}" | grep . | median; }
calls=$("$bin" decode --json "$dir/inspect.pcapng" 2>/dev/null | grep -c '"type":"call"')
load_mb=$(echo "$(stat -c %s "$dir/load.pcapng") / 1000000" | bc -l)
insp_mb=$(echo "$(stat -c %s "$dir/inspect.pcapng") / 1000000" | bc -l)
echo "| capture | size | decode (table) | decode --json | tshark -Y http |"
echo "| --- | --- | --- | --- | --- |"
for cap in load inspect; do
    mb=$([[ $cap == load ]] && echo "$load_mb" || echo "$insp_mb")
    ts=$([[ $cap == load ]] && echo "not timed" || printf '%.3f s' "$(m $cap.tshark)")
    printf '| %s | %.1f MB | %.3f s (%.0f MB/s) | %.3f s (%.0f MB/s) | %s |\n' "$cap" "$mb" \
        "$(m $cap.table)" "$(echo "$mb / $(m $cap.table)" | bc -l)" \
        "$(m $cap.json)" "$(echo "$mb / $(m $cap.json)" | bc -l)" "$ts"
done
printf '\ninspect loop: %d calls; decode (table) %.0f calls/s, decode --json %.0f calls/s\n\n' "$calls" \
    "$(echo "$calls / $(m inspect.table)" | bc -l)" "$(echo "$calls / $(m inspect.json)" | bc -l)"
echo "decoder alone (examples/http_speed.rs):"
"$speed" "$dir/load.pcapng" "$rounds"
"$speed" "$dir/inspect.pcapng" "$rounds"
