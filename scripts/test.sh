#!/usr/bin/env bash
# Second command of the README, and what CI runs: the whole test suite, as
# root. Tests that load BPF run for real; with CI=true they fail, never skip,
# when BPF cannot load.
set -euo pipefail
repo=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
bash scripts/install-deps.sh
echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy -- -D warnings"
cargo clippy --release --all-targets --quiet -- -D warnings
# The crate without the bpf feature, as the fuzz targets build it: caught
# here in seconds rather than after the whole suite.
cargo clippy --release --no-default-features --lib --quiet -- -D warnings
echo "== Wireshark ttrpc dissector (tshark + contrib/wireshark/ttrpc.lua)"
status=0
python3 contrib/wireshark/test_ttrpc_lua.py || status=1
echo "== cargo test"
# One test at a time: several start containerd and tracers. Tests that need
# root are marked ignored (a plain `cargo test` lists them as skipped) and
# run here, where a missing privilege fails them. The fixture writer
# (write_shim_fixture) re-records a committed fixture: run it by hand with
# UPDATE_FIXTURE=1.
cargo test --release --no-fail-fast -- --test-threads=1 --include-ignored --skip write_shim_fixture || status=1
echo "== fuzz targets: each built (cargo-fuzz) and run 5 s on its committed seeds"
# The fuzz crate (fuzz/, a workspace of its own) is out of cargo test's
# reach: this builds every target and make_seeds in fuzz/target, runs every
# committed seed of each target and fuzzes on for the rest of the 5 s, what
# it grows kept in a temporary directory. A build error, a crash, a leak, an
# input past 2 GiB or 10 s, or a target without seeds fails the suite.
bash scripts/fuzz.sh --check 5 || status=1
exit "$status"
