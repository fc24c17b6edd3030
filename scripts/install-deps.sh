#!/usr/bin/env bash
# Installs what building and testing containerdsnoop needs on Debian/Ubuntu,
# skipping what is already there. Run as root.
#   build: clang, llvm (llvm-strip), libelf-dev, zlib1g-dev, pkg-config, make
#   tests: containerd, runc, busybox-static, tshark, util-linux (setpriv),
#          docker.io (tests start a private dockerd on a private containerd, never the
#          docker service; tests/schemas_from_binary.rs also reads dockerd's binary; with
#          --iptables=false it runs no iptables; where the kernel has AppArmor enabled
#          it loads its profile with apparmor_parser: package apparmor, added then),
#          python3-grpcio (tests/peers/cri_client.py, a gRPC C-core client, run by
#          /usr/bin/python3), chromium (tests/report.rs renders the report headless,
#          offline, with a fresh profile), podman (tests/podman_api.rs starts a private
#          `podman system service` and drives it with `podman --remote`; with buildah,
#          scripts/build-image.sh builds the agent's image FROM scratch and
#          tests/deploy.rs runs it as the DaemonSet would), netavark (podman's network
#          for the one run not on the host's network), curl (tests/docker_api.rs sends
#          API requests with `--unix-socket`), prometheus (a real server scrapes
#          --metrics-addr), python3-venv (the venv below)
#   tests, from PyPI into a venv (pinned, below): rotel (an OpenTelemetry
#          collector that prints the spans it receives), kubernetes-validate
#          (the manifests in deploy/kubernetes, schemas bundled, offline)
set -euo pipefail

[[ $EUID -eq 0 ]] || { echo "install-deps.sh: run as root (apt-get)" >&2; exit 1; }

packages=(clang llvm libelf-dev zlib1g-dev pkg-config make
          containerd runc busybox-static tshark util-linux docker.io python3-grpcio
          chromium podman buildah netavark curl prometheus python3-venv socat)
# dockerd refuses to start containers without its AppArmor profile where AppArmor is on.
[[ $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null) == Y ]] && packages+=(apparmor)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "== installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || {
    echo "install-deps.sh: cargo not found: install Rust 1.85 or later (https://rustup.rs) and run again" >&2
    exit 1
}

# Python packages the tests run, pinned, in a venv of Debian's python3 (never the
# system's site-packages), re-made when this list changes. OTEL_VENV moves it.
venv=${OTEL_VENV:-/opt/containerdsnoop/otel-venv}
pip_packages=(rotel==0.0.1a15 kubernetes-validate==1.37.0)
if [[ $(cat "$venv/pinned" 2>/dev/null) != "${pip_packages[*]}" ]]; then
    echo "== venv $venv: ${pip_packages[*]}"
    rm -rf -- "$venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${pip_packages[@]}"
    echo "${pip_packages[*]}" > "$venv/pinned"
fi
