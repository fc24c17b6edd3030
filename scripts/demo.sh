#!/usr/bin/env bash
# One-command demo: record what ctr says to a throwaway containerd, and what containerd and its
# shim say to each other, then list the gRPC and ttrpc calls.
#
#   sudo scripts/demo.sh                 writes demo.pcapng in the current directory
#   sudo OUT=/tmp/x.pcapng scripts/demo.sh
#
# Builds containerdsnoop (cargo build --release; a no-op when up to date), starts a private
# containerd under a temp dir, records its gRPC socket, its ttrpc socket and the shim sockets
# (/run/containerd/s/*) while ctr runs version, namespaces create/ls/remove, images import/ls of a
# busybox OCI tarball and run --rm /bin/true, then stops everything, removes the temp dir and
# shows the calls with tshark (gRPC, and ttrpc with contrib/wireshark/ttrpc.lua) and with
# containerdsnoop decode.
set -euo pipefail

die() { echo "demo.sh: $*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "must run as root (BPF and containerd need it); try: sudo $0"
for tool in containerd ctr runc tshark; do
    command -v "$tool" >/dev/null ||
        die "'$tool' not found; install it with: apt-get install containerd runc tshark"
done

repo=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
bin=${CARGO_TARGET_DIR:-$repo/target}/release/containerdsnoop
out=${OUT:-demo.pcapng}
image=docker.io/library/busybox:snoop

if command -v cargo >/dev/null; then
    echo "== building containerdsnoop (release)"
    (cd "$repo" && cargo build --release --quiet)
elif [[ ! -x $bin ]]; then
    die "cargo not found and $bin not built; build it first (cargo build --release), or run with sudo -E / a root PATH that has cargo"
fi

# Short path: unix socket paths must fit in 108 bytes.
dir=$(mktemp -d /tmp/ctd-demo.XXXXXX)
sock=$dir/containerd.sock
containerd_pid=
recorder_pid=

# Wait until "$@" succeeds, polling; give up after $1 seconds.
wait_for() {
    local timeout=$1 start=$SECONDS
    shift
    until "$@"; do
        ((SECONDS - start < timeout)) || return 1
        sleep 0.05
    done
}

gone() { ! kill -0 "$1" 2>/dev/null; }

# Signal a process and wait for it to exit, at most $3 seconds; SIGKILL after that.
stop_process() {
    local pid=$1 sig=$2 timeout=$3
    kill "-$sig" "$pid" 2>/dev/null || return 0
    if ! wait_for "$timeout" gone "$pid"; then
        echo "demo.sh: pid $pid ignored SIG$sig for ${timeout}s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    [[ -n $recorder_pid ]] && stop_process "$recorder_pid" INT 15
    [[ -n $containerd_pid ]] && stop_process "$containerd_pid" TERM 10
    if ((rc != 0)) && [[ -f $dir/containerd.log ]]; then
        echo "== containerd log (last 30 lines)" >&2
        tail -n 30 "$dir/containerd.log" >&2
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

echo "== building the busybox OCI image"
"$repo/scripts/make-busybox-oci.sh" "$dir/busybox-oci.tar" "$image"

# Same configuration as tests/common/mod.rs (Containerd::start): everything under $dir; the CRI
# plugin and the snapshotters that cannot work here are disabled.
cat > "$dir/config.toml" <<EOF
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = "$sock"

[ttrpc]
  address = "$sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"
EOF

echo "== starting containerd on $sock"
containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 &
containerd_pid=$!
wait_for 20 test -S "$sock" || die "containerd did not create $sock within 20 s"

# containerd's shims bind under /run/containerd/s/ whatever its state dir.
sockets=(--socket "$sock" --socket "$sock.ttrpc" --socket '/run/containerd/s/*')
echo "== starting containerdsnoop record -o $out ${sockets[*]}"
"$bin" record -o "$out" "${sockets[@]}" 2>"$dir/recorder.log" &
recorder_pid=$!
attached() {
    grep -q attached "$dir/recorder.log" && return 0
    kill -0 "$recorder_pid" 2>/dev/null && return 1
    cat "$dir/recorder.log" >&2
    die "containerdsnoop record exited before attaching"
}
if ! wait_for 30 attached; then
    cat "$dir/recorder.log" >&2
    die "containerdsnoop record did not attach within 30 s"
fi
cat "$dir/recorder.log"
shown=$(wc -l <"$dir/recorder.log")

c() {
    echo "+ ctr $*"
    ctr -a "$sock" "$@"
}
c version
c namespaces create snoopdemo-tmp
c namespaces ls
c namespaces remove snoopdemo-tmp
c -n snoopdemo images import "$dir/busybox-oci.tar"
c -n snoopdemo images ls
c -n snoopdemo run --rm "$image" "demo-$$" /bin/true

echo "== stopping the recorder"
kill -INT "$recorder_pid"
status=0
if wait_for 15 gone "$recorder_pid"; then
    wait "$recorder_pid" || status=$?
    recorder_pid=
else
    die "containerdsnoop record did not exit within 15 s of SIGINT"
fi
tail -n "+$((shown + 1))" "$dir/recorder.log"
((status == 0)) || die "containerdsnoop record exited with status $status"

echo "== stopping containerd"
stop_process "$containerd_pid" TERM 10
containerd_pid=

echo
echo "== the gRPC calls in $out (stream, HTTP/2 stream, path, message length):"
cmd=(tshark -r "$out" -Y grpc -T fields -e tcp.stream -e http2.streamid -e http2.headers.path
    -e grpc.message_length)
printf '%q ' "${cmd[@]}"
echo
"${cmd[@]}"

echo
echo "== the ttrpc frames in $out, by the Lua dissector (stream, frame type, method, status):"
cmd=(tshark -X "lua_script:$repo/contrib/wireshark/ttrpc.lua" -r "$out" -Y ttrpc -T fields
    -e tcp.stream -e ttrpc.type -e ttrpc.method_path -e ttrpc.status_code)
printf '%q ' "${cmd[@]}"
echo
"${cmd[@]}"

echo
echo "== ctr's version, namespace and task calls, and what containerd and the shim said over ttrpc during ctr run (Task calls, forwarded events), decoded by containerdsnoop (every call: $bin decode $out):"
# One decode: its word on which binaries' schemas to give is said once.
"$bin" decode "$out" --method '*Namespaces/*' --method '*Version/*' --method '*Tasks/*' \
    --method '/containerd.task.v2.Task/*' --method '*Events/Forward'
echo
echo "Open it in Wireshark: wireshark $out   (filter: grpc)"
echo "ttrpc too: wireshark -X lua_script:$repo/contrib/wireshark/ttrpc.lua $out   (filter: ttrpc)"
