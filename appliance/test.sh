#!/usr/bin/env bash
# Run every flypaper test on a fresh Debian machine (as root): installs what
# the tests need, then formatting, lints, unit, scenario, replay, capture
# and fuzz-corpus tests, and the benches in quick (test) mode.
set -euo pipefail
cd "$(dirname "$0")/.."

. appliance/deps.sh
flypaper_install_deps

cargo --version
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
cargo test --doc --locked
