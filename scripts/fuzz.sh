#!/usr/bin/env bash
# Fuzz the parsers of untrusted bytes with libFuzzer (cargo-fuzz).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   scripts/fuzz.sh --check [SECONDS_PER_TARGET] [TARGET...]
#
# Default: 600 s for each target of fuzz/Cargo.toml, one after another.
# Works on the stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its
# -Z flags (sanitizer, coverage) to the stable compiler. Each input may use
# at most 2 GiB and 10 s: unbounded allocation and hangs are findings.
# Inputs that grew coverage go to fuzz/corpus-gen/TARGET (gitignored; the
# committed seeds in fuzz/corpus/TARGET are only read), findings to
# fuzz/artifacts/TARGET/, logs to fuzz/logs/TARGET.log. To keep a core free
# for other work: nice -n 10 taskset -c 1 scripts/fuzz.sh
#
# --check (a step of scripts/test.sh): build every target (and make_seeds),
# then run each once for SECONDS (default 5): all its committed seeds, then
# mutations until the time is spent. What grows coverage goes to a temporary
# directory, removed at the end, so the tree only gains the ignored
# fuzz/logs/ and, on a finding, fuzz/artifacts/. Fails (status 1) when a
# target has no committed seeds, a run ends in a crash, a leak, an input
# past the memory or time limit, or any other non-zero exit; the end of the
# failing target's log is printed.
#
# Reproduce a finding: fuzz/target/x86_64-unknown-linux-gnu/release/TARGET FILE
# Minimise it:         RUSTC_BOOTSTRAP=1 cargo fuzz tmin -a -O TARGET FILE
# Re-make the seeds:   cargo run --manifest-path fuzz/Cargo.toml --bin make_seeds
# FUZZ_NO_BUILD=1 runs the targets as last built.
set -euo pipefail

cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
check=
if [ "${1:-}" = --check ]; then
    check=1
    shift
fi
secs=${1:-$([ -n "$check" ] && echo 5 || echo 600)}
shift || true
case $secs in
    '' | *[!0-9]* | 0*)
        # (-max_total_time=0 would mean no limit to libFuzzer.)
        echo "fuzz.sh: SECONDS_PER_TARGET must be a whole number of at least 1, not '$secs'" >&2
        exit 2
        ;;
esac
export RUSTC_BOOTSTRAP=1
rss_mb=2048
timeout_s=10

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz from crates.io" >&2
    cargo install --locked cargo-fuzz
fi

if [ $# -eq 0 ]; then
    # make_seeds is the seed maker, not a target.
    targets=$(cargo fuzz list | grep -vx make_seeds)
    set -- $targets
fi
if [ $# -eq 0 ]; then
    echo "fuzz.sh: no fuzz target in fuzz/Cargo.toml" >&2
    exit 1
fi

if [ -z "${FUZZ_NO_BUILD:-}" ]; then
    echo "fuzz.sh: building the targets (address sanitizer, debug assertions, optimised)" >&2
    cargo fuzz build -a -O >&2
fi

# cargo-fuzz builds for the host.
host=$(rustc -vV | sed -n 's/^host: //p')
bin=fuzz/target/$host/release
if [ -n "$check" ]; then
    gen_root=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-check.XXXXXX")
    trap 'rm -rf -- "$gen_root"' EXIT
fi
mkdir -p fuzz/logs
summary=()
found=0
for t in "$@"; do
    log=fuzz/logs/$t.log
    : >"$log"
    if [ -n "$check" ]; then
        if [ -z "$(find "fuzz/corpus/$t" -type f 2>/dev/null | head -1)" ]; then
            line=$(printf '%-15s no committed seeds in fuzz/corpus/%s/' "$t" "$t")
            echo "$line"
            summary+=("$line")
            found=1
            continue
        fi
        gen=$gen_root/$t
        tries=1
    else
        gen=fuzz/corpus-gen/$t
        mkdir -p "fuzz/corpus/$t"
        # libFuzzer stops at the first finding: start again until the time
        # is spent, so one crash does not end the target's run.
        tries=20
    fi
    mkdir -p "$gen" "fuzz/artifacts/$t"
    before=$(find "fuzz/artifacts/$t" -type f | wc -l)
    start=$(date +%s)
    runs=0
    peak=0
    failed=0
    for _ in $(seq "$tries"); do
        left=$((secs - ($(date +%s) - start)))
        [ "$left" -gt 0 ] || break
        echo "fuzz.sh: $t for ${left}s" >&2
        rc=0
        "$bin/$t" "$gen" "fuzz/corpus/$t" \
            -max_total_time="$left" -rss_limit_mb="$rss_mb" -malloc_limit_mb="$rss_mb" \
            -timeout="$timeout_s" -artifact_prefix="fuzz/artifacts/$t/" \
            -print_final_stats=1 </dev/null >>"$log" 2>&1 || rc=$?
        r=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
        p=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
        if [ -z "$r" ]; then
            # A crash ends the run before the final stats: take the last status line.
            r=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#' || true)
            p=$(grep -o 'rss: [0-9]*Mb' "$log" | tail -1 | grep -o '[0-9]*' || true)
        fi
        runs=$((runs + ${r:-0}))
        [ "${p:-0}" -gt "$peak" ] && peak=${p:-0}
        [ "$rc" -eq 0 ] && break
        failed=$rc
    done
    elapsed=$(($(date +%s) - start))
    new=$(($(find "fuzz/artifacts/$t" -type f | wc -l) - before))
    [ "$new" -gt 0 ] && found=1
    line=$(printf '%-15s %6ss %12s runs  %3s findings  peak RSS %5s MB' \
        "$t" "$elapsed" "$runs" "$new" "$peak")
    [ "$new" -gt 0 ] && line="$line  -> fuzz/artifacts/$t/"
    if [ -n "$check" ] && [ "$failed" -ne 0 ]; then
        found=1
        line="$line  exit $failed"
        echo "---- end of $log" >&2
        tail -n 60 "$log" >&2
        echo "----" >&2
    fi
    echo "$line"
    summary+=("$line")
done

echo
echo "target          time           runs  findings  peak RSS"
printf '%s\n' "${summary[@]}"
exit "$found"
