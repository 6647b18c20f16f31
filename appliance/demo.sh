#!/usr/bin/env bash
# The main job on a fresh Debian machine (as root): install what the demo
# needs, build flypaper, and run the demo lab (the appliance between two
# network namespaces, legitimate traffic and the seed's attacks, then its
# counters and flies).
set -euo pipefail
cd "$(dirname "$0")/.."
. appliance/deps.sh
flypaper_install_deps
cargo build --release --locked
exec ./target/release/flypaper demo
