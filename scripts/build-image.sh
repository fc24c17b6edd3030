#!/usr/bin/env bash
# Builds the containerdsnoop image from deploy/Containerfile with buildah:
# FROM scratch, the release binary (debug info stripped) and exactly the
# shared libraries ldd lists for it, each at the path ldd names. No base image
# is pulled, so it builds offline.
#
#   scripts/build-image.sh [-b BINARY] [TAG]
#
# BINARY defaults to target/release/containerdsnoop, built first with
# `cargo build --release`; TAG to localhost/containerdsnoop:VERSION. The image
# lands in the local container storage (CONTAINERS_STORAGE_CONF chooses
# another): push it with `podman push TAG REGISTRY/...`, or save it with
# `podman save --format oci-archive -o containerdsnoop.tar TAG` for
# `ctr -n k8s.io images import`. Run as root.
set -euo pipefail
repo=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)

binary=
while getopts b: opt; do
    case $opt in
        b) binary=$OPTARG ;;
        *) echo "usage: $0 [-b BINARY] [TAG]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -n 1)
tag=${1:-localhost/containerdsnoop:$version}

if [[ -z $binary ]]; then
    (cd "$repo" && cargo build --release --quiet)
    binary=$repo/target/release/containerdsnoop
fi
[[ -x $binary ]] || { echo "build-image.sh: $binary is not an executable" >&2; exit 1; }
command -v buildah >/dev/null || {
    echo "build-image.sh: buildah is missing: apt-get install buildah (scripts/install-deps.sh does)" >&2
    exit 1
}

context=$(mktemp -d)
trap 'rm -rf -- "$context"' EXIT
rootfs=$context/rootfs
mkdir -p "$rootfs/usr/local/bin"
llvm-strip --strip-debug -o "$rootfs/usr/local/bin/containerdsnoop" "$binary"

# ldd prints `name => /path (addr)` for each library and `/path (addr)` for
# the dynamic loader; linux-vdso is in the kernel, not a file. Each one is
# copied (symbolic links followed) to the path ldd names, which is where the
# loader looks in the image too.
libs=$(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
[[ -n $libs ]] || { echo "build-image.sh: ldd lists no library for $binary" >&2; exit 1; }
for lib in $libs; do
    mkdir -p "$rootfs$(dirname -- "$lib")"
    cp -L -- "$lib" "$rootfs$lib"
done

buildah build --quiet --layers=false -f "$repo/deploy/Containerfile" -t "$tag" "$context" >/dev/null
echo "$tag"
