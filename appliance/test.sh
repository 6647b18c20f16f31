#!/usr/bin/env bash
# Run every flypaper test on a fresh Debian machine (as root): installs what
# the tests need, then formatting, lints, unit, scenario, replay, capture
# and fuzz-corpus tests, and the benches in quick (test) mode.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests need:
# - python3-scapy: the capture generator and the e2e attacks (Debian's scapy
#   lives in /usr/bin/python3);
# - clang, llvm, libelf-dev, zlib1g-dev, pkg-config, make: building the XDP
#   program and libbpf (libbpf-rs builds libbpf from source);
# - iproute2, ethtool, iputils-ping, iperf3, hping3, nmap, tcpdump,
#   netcat-openbsd: the network-namespace lab and its traffic.
pkgs=(python3-scapy clang llvm libelf-dev zlib1g-dev pkg-config make
      iproute2 ethtool iputils-ping iperf3 hping3 nmap tcpdump netcat-openbsd)
need=()
for p in "${pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
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
