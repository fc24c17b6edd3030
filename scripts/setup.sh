#!/usr/bin/env bash
# First command of the README: install what is missing, build, and run the
# demo (a throwaway containerd recorded while ctr talks to it).
set -euo pipefail
repo=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
bash "$repo/scripts/install-deps.sh"
exec bash "$repo/scripts/demo.sh"
