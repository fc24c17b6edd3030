#!/usr/bin/env bash
# Build a minimal OCI image layout tarball holding Debian's busybox-static, for tests and the demo.
#
#   make-busybox-oci.sh OUT.tar [REF]      REF defaults to docker.io/library/busybox:snoop
#
# BUSYBOX=/path overrides the busybox binary (default /bin/busybox from busybox-static).
# SLEEP=1 makes the image's command `/bin/sleep 3600` instead of `/bin/sh` (a pod sandbox's
# pause image must keep running).
# EXTRA_BYTES=N adds /data.bin with N pseudo-random bytes (for benchmarks; not reproducible).
#
# The result is accepted by `ctr images import OUT.tar` and runs with
# `ctr run --rm REF ID /bin/true`. It uses only coreutils, GNU tar, sha256sum and gzip, and is
# reproducible: fixed mtimes and owners, sorted entries, `gzip -n`, and JSON written byte for byte.
#
# Layout (OCI image-spec v1.0 "image-layout"):
#   oci-layout, index.json (ref annotations), blobs/sha256/{manifest, config, layer.tar.gz}
# The layer holds /bin/busybox, applet symlinks sh true echo sleep cat, a minimal /etc and the
# empty mount points runc would otherwise create.
set -euo pipefail

die() { echo "make-busybox-oci.sh: $*" >&2; exit 1; }

[[ $# -ge 1 && $# -le 2 ]] || die "usage: make-busybox-oci.sh OUT.tar [REF]"
out=$1
ref=${2:-docker.io/library/busybox:snoop}

# REF goes into JSON verbatim, so allow only reference characters (no quotes or backslashes).
[[ $ref =~ ^[A-Za-z0-9][A-Za-z0-9._:/@-]*$ ]] || die "invalid image reference: '$ref'"
out_dir=$(dirname -- "$out")
[[ -d $out_dir ]] || die "output directory $out_dir does not exist"

busybox=${BUSYBOX:-/bin/busybox}
[[ -x $busybox ]] || die "$busybox not found; install it with: apt-get install busybox-static"
# A dynamically linked busybox would need its libraries in the image (checked when file(1) exists).
if command -v file >/dev/null && ! file -L "$busybox" | grep -q "statically linked"; then
    die "$busybox is not statically linked; install it with: apt-get install busybox-static"
fi
for tool in tar gzip sha256sum; do
    command -v "$tool" >/dev/null || die "'$tool' is required but not installed"
done
tar --version 2>/dev/null | grep -q "GNU tar" || die "GNU tar is required (for --sort and --mtime)"

case $(uname -m) in
    x86_64) arch=amd64 ;;
    aarch64) arch=arm64 ;;
    armv7l) arch=arm ;;
    i?86) arch=386 ;;
    ppc64le) arch=ppc64le ;;
    s390x) arch=s390x ;;
    riscv64) arch=riscv64 ;;
    *) die "unsupported machine $(uname -m)" ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/busybox-oci.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Same flags for both tars: only content and names decide the bytes.
deterministic_tar() {
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu "$@"
}

# --- root filesystem of the single layer -------------------------------------------------------
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,etc,dev,proc,sys,run,tmp,root}
install -m 0755 "$busybox" "$rootfs/bin/busybox"
for applet in sh true echo sleep cat; do
    ln -s busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' > "$rootfs/etc/hosts"
chmod 0755 "$rootfs" "$rootfs"/{bin,etc,dev,proc,sys,run} && chmod 0700 "$rootfs/root" && chmod 1777 "$rootfs/tmp"
chmod 0644 "$rootfs"/etc/{passwd,group,hosts}
if [[ -n ${EXTRA_BYTES:-} ]]; then
    head -c "$EXTRA_BYTES" /dev/urandom > "$rootfs/data.bin"
fi

blobs=$work/layout/blobs/sha256
mkdir -p "$blobs"

# Store a file as a blob; print "DIGEST SIZE".
add_blob() {
    local digest size
    digest=$(sha256sum "$1" | cut -d' ' -f1)
    size=$(stat -c %s "$1")
    mv "$1" "$blobs/$digest"
    echo "$digest $size"
}

deterministic_tar -C "$rootfs" -cf "$work/layer.tar" .
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
level=9
[[ -z ${EXTRA_BYTES:-} ]] || level=1
gzip -n "-$level" "$work/layer.tar"
read -r layer_digest layer_size < <(add_blob "$work/layer.tar.gz")

# --- config, manifest, index ---------------------------------------------------------------------
cmd='["/bin/sh"]'
[[ ${SLEEP:-} == 1 ]] && cmd='["/bin/sleep","3600"]'
printf '%s' \
    '{"architecture":"'"$arch"'","os":"linux",' \
    '"config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],' \
    '"Cmd":'"$cmd"',"WorkingDir":"/"},' \
    '"rootfs":{"type":"layers","diff_ids":["sha256:'"$diff_id"'"]}}' > "$work/config.json"
read -r config_digest config_size < <(add_blob "$work/config.json")

printf '%s' \
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",' \
    '"config":{"mediaType":"application/vnd.oci.image.config.v1+json",' \
    '"digest":"sha256:'"$config_digest"'","size":'"$config_size"'},' \
    '"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip",' \
    '"digest":"sha256:'"$layer_digest"'","size":'"$layer_size"'}]}' > "$work/manifest.json"
read -r manifest_digest manifest_size < <(add_blob "$work/manifest.json")

# Both name annotations, as `ctr images export` writes them: containerd's importer takes
# io.containerd.image.name verbatim; other tools read org.opencontainers.image.ref.name.
printf '%s' \
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",' \
    '"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",' \
    '"digest":"sha256:'"$manifest_digest"'","size":'"$manifest_size"',' \
    '"annotations":{"io.containerd.image.name":"'"$ref"'",' \
    '"org.opencontainers.image.ref.name":"'"$ref"'"},' \
    '"platform":{"architecture":"'"$arch"'","os":"linux"}}]}' > "$work/layout/index.json"
printf '%s' '{"imageLayoutVersion":"1.0.0"}' > "$work/layout/oci-layout"
chmod 0644 "$work/layout/index.json" "$work/layout/oci-layout" "$blobs"/*
chmod 0755 "$work/layout" "$work/layout/blobs" "$blobs"

# --- the archive ---------------------------------------------------------------------------------
tmp_out=$(mktemp "$out_dir/.busybox-oci.XXXXXX")
if ! deterministic_tar -C "$work/layout" -cf "$tmp_out" oci-layout index.json blobs; then
    rm -f "$tmp_out"
    die "writing the archive failed"
fi
chmod 0644 "$tmp_out"
mv -f "$tmp_out" "$out"
echo "wrote $out: $ref (manifest sha256:$manifest_digest)" >&2
