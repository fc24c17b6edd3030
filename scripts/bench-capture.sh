#!/usr/bin/env bash
# Records a large capture of real containerd traffic for the decode benchmark:
# a throwaway containerd, the import of an image with a large random layer,
# and many small calls (namespaces, images, content listings).
#   sudo scripts/bench-capture.sh OUT.pcapng [LAYER_BYTES] [SMALL_ROUNDS]
set -euo pipefail
out=$1
layer=${2:-200000000}
rounds=${3:-600}
repo=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
bin=$repo/target/release/containerdsnoop
dir=$(mktemp -d /tmp/csbc.XXXXXX)
cd_pid=
rec_pid=
cleanup() {
    [[ -z $rec_pid ]] || kill -INT "$rec_pid" 2>/dev/null || true
    [[ -z $cd_pid ]] || { kill "$cd_pid" 2>/dev/null; wait "$cd_pid" 2>/dev/null || true; }
    rm -rf "$dir"
}
trap cleanup EXIT
# shellcheck source=lib/containerd.sh
source "$repo/scripts/lib/containerd.sh"
start_containerd "$dir"
echo "building an image with a ${layer}-byte layer"
EXTRA_BYTES=$layer bash "$repo/scripts/make-busybox-oci.sh" "$dir/big.tar" docker.io/library/big:bench >/dev/null
rm -f "$out"
"$bin" record -o "$out" --socket "$dir/c.sock" --ringbuf-size 256M 2>"$dir/rec.err" &
rec_pid=$!
for _ in $(seq 300); do grep -q attached "$dir/rec.err" && break; sleep 0.02; done
ctr -a "$dir/c.sock" -n bench images import "$dir/big.tar" >/dev/null
for ((i = 0; i < rounds; i++)); do
    ctr -a "$dir/c.sock" namespaces ls >/dev/null
    ctr -a "$dir/c.sock" -n bench images ls >/dev/null
    ctr -a "$dir/c.sock" -n bench content ls >/dev/null
done
kill -INT "$rec_pid"; wait "$rec_pid" || true; rec_pid=
tail -1 "$dir/rec.err"
