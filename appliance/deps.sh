#!/usr/bin/env bash
# Install the Debian packages flypaper's demo and tests need (as root), only
# those missing. Sourced by demo.sh and test.sh.
# - python3-scapy: the capture generator and the lab's spoofed attacks
#   (Debian's scapy lives in /usr/bin/python3);
# - clang, linux-libc-dev, libelf-dev, zlib1g-dev, pkg-config, make: the XDP
#   program and libbpf (libbpf-rs builds libbpf from source);
# - iproute2, ethtool, iputils-ping, iperf3, hping3, nmap, tcpdump,
#   netcat-openbsd: the network-namespace lab and its traffic;
# - tshark: tests/pcapng_tshark.rs and tests/e2e_observe.rs, Wireshark
#   reading what we write;
# - systemd: systemd-analyze, tests/install.rs verifying the service unit;
# - curl: tests/e2e_observe.rs scrapes the metrics endpoint.
flypaper_install_deps() {
    local pkgs=(python3-scapy clang linux-libc-dev libelf-dev zlib1g-dev pkg-config make
                iproute2 ethtool iputils-ping iperf3 hping3 nmap tcpdump netcat-openbsd
                tshark systemd curl)
    local need=() p
    for p in "${pkgs[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
    done
    if [ ${#need[@]} -gt 0 ]; then
        echo "installing: ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${need[@]}"
    fi
}
