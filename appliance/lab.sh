#!/usr/bin/env bash
# The flypaper network-namespace lab: two hosts and the appliance between them.
#
#   lab.sh up       [PREFIX]   build the lab (fails if any of its namespaces exists)
#   lab.sh down     [PREFIX]   tear it down (never fails if it is already gone)
#   lab.sh bridge   [PREFIX]   put a Linux bridge br0 over wan0/lan0 in the fw
#                              namespace: the stand-in appliance and the
#                              benchmark baseline
#   lab.sh unbridge [PREFIX]   remove br0 again (the link is cut)
#
# PREFIX defaults to "fp-". The lab is three namespaces:
#
#   ${PREFIX}wan            ${PREFIX}fw                  ${PREFIX}lan
#   eth0 198.51.100.1/24 -- wan0   (no address)   lan0 -- eth0 198.51.100.130/24
#
# The two hosts share one /24 (the appliance is a transparent bridge; its LAN
# prefix for anti-spoofing is 198.51.100.128/25). They reach each other only
# through the fw namespace: with nothing running there, nothing passes.
#
# Every interface is created directly inside its namespace (`ip -n NS link
# add ... peer ... netns OTHER`), so no name ever exists in the root
# namespace and two labs with different prefixes never collide, not even
# for a moment, and a lab that fails half-way leaves nothing in the root
# namespace.
#
# The lab facts of this kernel (see DESIGN.md section 5) are applied:
# - the hosts send real wire frames: tso, gso and tx checksum offload off,
#   gro on (otherwise forwarded TCP carries unfinished checksums);
# - gro on on the fw ports: a redirect into a veth needs the peer in NAPI
#   mode, or frames vanish;
# - MTU 1500 everywhere, default queue counts;
# - IPv6 is disabled in the fw namespace, so its ports have no address at
#   all (not even a link-local one) and send nothing of their own.
# - IPv6 is disabled on the hosts too unless LAB_IPV6=1: a host bringing up
#   IPv6 sends router solicitations and MLD reports for seconds (the first
#   ones from `::`, which the appliance drops on the WAN side as a bogon
#   source), and the tests count every frame. With LAB_IPV6=1 the hosts keep
#   their link-local addresses and that traffic crosses the appliance as it
#   would on a real link.
set -Eeuo pipefail

LAB_IPV6=${LAB_IPV6:-0}

WAN_IP=198.51.100.1/24
LAN_IP=198.51.100.130/24

die() {
    echo "lab.sh: $*" >&2
    exit 1
}

usage() {
    echo "usage: lab.sh up|down|bridge|unbridge [PREFIX]   (PREFIX defaults to fp-)" >&2
    exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
cmd=$1
P=${2:-fp-}
case $P in
*[!A-Za-z0-9_.-]* | "") die "bad prefix '$P' (letters, digits, '_', '.', '-')" ;;
esac
[ ${#P} -le 40 ] || die "prefix '$P' is too long"
WAN=${P}wan
FW=${P}fw
LAN=${P}lan

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
for t in ip ethtool sysctl timeout; do
    command -v "$t" >/dev/null || die "missing tool: $t (apt-get install iproute2 ethtool procps coreutils)"
done

ns_exists() {
    [ -e "/run/netns/$1" ]
}

# Run a command inside a namespace, bounded in time.
nsx() {
    local ns=$1
    shift
    timeout 10 ip netns exec "$ns" "$@"
}

# Stop what still runs inside a namespace (by pid: only the processes
# living in the lab's own namespaces), so that deleting the namespace really
# frees it.
kill_ns_pids() {
    local ns=$1 pids
    pids=$(timeout 5 ip netns pids "$ns" 2>/dev/null || true)
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        pids=$(timeout 5 ip netns pids "$ns" 2>/dev/null || true)
        [ -n "$pids" ] || return 0
        sleep 0.2
    done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
}

down() {
    local ns
    # Deleting one end of a veth deletes both; do it explicitly so the links
    # go away even if a process keeps a namespace alive.
    if ns_exists "$FW"; then
        timeout 10 ip -n "$FW" link del wan0 2>/dev/null || true
        timeout 10 ip -n "$FW" link del lan0 2>/dev/null || true
        timeout 10 ip -n "$FW" link del br0 2>/dev/null || true
    fi
    for ns in "$WAN" "$FW" "$LAN"; do
        if ns_exists "$ns"; then
            kill_ns_pids "$ns"
            timeout 10 ip netns del "$ns" 2>/dev/null || true
        fi
    done
    for ns in "$WAN" "$FW" "$LAN"; do
        if ns_exists "$ns"; then
            echo "lab.sh: warning: namespace $ns could not be deleted" >&2
        fi
    done
    return 0
}

host_offloads() {
    local ns=$1
    # Real wire frames: no segmentation or checksum offload on the way out.
    nsx "$ns" ethtool -K eth0 tso off gso off tx off >/dev/null
    nsx "$ns" ethtool -K eth0 gro on >/dev/null
}

up() {
    local ns
    for ns in "$WAN" "$FW" "$LAN"; do
        ! ns_exists "$ns" || die "namespace $ns already exists (run: lab.sh down $P)"
    done
    # Half a lab is worse than none: undo everything if a step fails.
    trap 'echo "lab.sh: up failed; removing the partial lab" >&2; down' ERR

    for ns in "$WAN" "$FW" "$LAN"; do
        ip netns add "$ns"
        nsx "$ns" ip link set lo up
    done
    # The appliance namespace has no addresses at all: no IPv6 link-local
    # on its ports either. Set before the ports exist so they inherit it.
    local quiet=("$FW")
    [ "$LAB_IPV6" = 1 ] || quiet+=("$WAN" "$LAN")
    for ns in "${quiet[@]}"; do
        nsx "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1
        nsx "$ns" sysctl -q -w net.ipv6.conf.default.disable_ipv6=1
    done

    # Each pair is created inside fw with its peer placed straight into the
    # host's namespace: no name is ever taken in the root namespace.
    timeout 10 ip -n "$FW" link add wan0 mtu 1500 type veth peer name eth0 mtu 1500 netns "$WAN"
    timeout 10 ip -n "$FW" link add lan0 mtu 1500 type veth peer name eth0 mtu 1500 netns "$LAN"

    for port in wan0 lan0; do
        # A redirect into a veth needs the peer in NAPI mode (gro on).
        nsx "$FW" ethtool -K "$port" gro on >/dev/null
        nsx "$FW" ip link set "$port" promisc on
        nsx "$FW" ip link set "$port" up
    done

    host_offloads "$WAN"
    host_offloads "$LAN"
    nsx "$WAN" ip addr add "$WAN_IP" dev eth0
    nsx "$LAN" ip addr add "$LAN_IP" dev eth0
    nsx "$WAN" ip link set eth0 up
    nsx "$LAN" ip link set eth0 up
    trap - ERR

    echo "lab $P up (host IPv6: $([ "$LAB_IPV6" = 1 ] && echo on || echo off)):"
    echo "  wan host: netns $WAN, eth0 ${WAN_IP}"
    echo "  appliance: netns $FW, ports wan0 lan0 (no addresses)"
    echo "  lan host: netns $LAN, eth0 ${LAN_IP}"
}

bridge() {
    ns_exists "$FW" || die "namespace $FW does not exist (run: lab.sh up $P)"
    # A new namespace has br_netfilter's hooks on: bridged frames would
    # run through iptables. The stand-in is a plain bridge.
    nsx "$FW" sysctl -q -w net.bridge.bridge-nf-call-iptables=0
    nsx "$FW" sysctl -q -w net.bridge.bridge-nf-call-ip6tables=0
    nsx "$FW" sysctl -q -w net.bridge.bridge-nf-call-arptables=0
    nsx "$FW" ip link add br0 type bridge stp_state 0 forward_delay 0
    nsx "$FW" ip link set wan0 master br0
    nsx "$FW" ip link set lan0 master br0
    nsx "$FW" ip link set br0 up
    echo "lab $P: bridge br0 over wan0 lan0 in $FW"
}

unbridge() {
    ns_exists "$FW" || die "namespace $FW does not exist"
    nsx "$FW" ip link del br0 2>/dev/null || true
    # Leaving the bridge sets a port down on some kernels; keep them up.
    nsx "$FW" ip link set wan0 up
    nsx "$FW" ip link set lan0 up
    echo "lab $P: bridge removed; the link through $FW is cut"
}

case $cmd in
up) up ;;
down) down ;;
bridge) bridge ;;
unbridge) unbridge ;;
*) usage ;;
esac
