#!/usr/bin/env bash
# Run every flypaper test on a fresh Debian machine (as root): installs what
# the tests need, then formatting, lints, unit, scenario, replay, capture
# and fuzz-corpus tests, and the benches in quick (test) mode.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# The capture generator (and its determinism test) uses Debian's scapy,
# which lives in /usr/bin/python3.
/usr/bin/python3 -c 'import scapy' 2>/dev/null || need+=(python3-scapy)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

cargo --version
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
cargo test --doc --locked
