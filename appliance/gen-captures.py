#!/usr/bin/python3
"""Deterministic test captures for flypaper.

Usage:  /usr/bin/python3 appliance/gen-captures.py OUTDIR

(Debian's python3-scapy lives in /usr/bin/python3.) The output is
byte-identical on every run: fixed timestamps, IP ids, sequence numbers and
MAC addresses, no randomness. tests/capture.rs regenerates the captures and
compares them with the committed copies in appliance/captures/.

Packets are built with scapy; the pcapng and pcap containers are written by
hand with `struct` (every byte is under our control). pcapng files have one
section, little-endian, two interfaces, both LINKTYPE_ETHERNET with
nanosecond timestamps (if_tsresol = 9):
    interface 0 = "wan" (frames entering the appliance from the WAN port)
    interface 1 = "lan" (frames entering from the LAN port)
Every packet carries an opt_comment saying what it is (seed-attacks: also
the expected verdict). Frames shorter than 60 bytes are zero-padded to 60,
as they arrive from the wire, except the deliberate runt in seed-attacks.

Lab addressing (DESIGN.md): WAN hosts live in 203.0.113.0/24 (WAN host
203.0.113.10, WAN router 203.0.113.1, resolver 203.0.113.53, web server
203.0.113.80, ...) and 2001:db8::/48; the LAN is 198.51.100.0/24 (LAN server
198.51.100.10, LAN client 198.51.100.20, gateway address 198.51.100.1 held
by the WAN router) and 2001:db8:1::/48 (LAN server 2001:db8:1::10). Bogon
addresses (10.x, 192.168.x, 127.x, ...) appear only as spoofed sources.

Captures:

demo.pcapng  (~3 s of mixed traffic, 315 frames)
    LAN client: ARP for its gateway, a DNS query/answer with a WAN resolver,
    an HTTP connection to a WAN web server (handshake, request, response,
    FIN close). WAN host 203.0.113.10 pings the LAN server 3 times (with
    replies) and opens SSH (TCP 22) to it; 203.0.113.77 floods 50 echo
    requests in 1 s. Attacks from the WAN: bogon sources 10.0.0.1,
    192.168.1.1, 127.0.0.1, 0.0.0.0, 224.0.0.1 toward 198.51.100.10, a UDP
    packet to 255.255.255.255, SYN+FIN, NULL and XMAS scan packets, ICMP
    timestamp (13) and address-mask (17) requests, a SYN flood of 200 SYNs in
    1 s from 203.0.113.66 to port 80, 10 RSTs within 1 s from 203.0.113.70
    into an established connection of the LAN client, a mid-stream ACK with
    no connection, a port scan from 203.0.113.99 that touches TCP 139 first
    and then 21, 22, 80, 443 (those four are dropped as `fly`), and an
    egress-spoofed LAN frame (source 203.0.113.200 from the LAN port). Also:
    STP BPDU (LAN), DHCP offer from the WAN to 255.255.255.255 (UDP 67->68),
    IPv6 router advertisement fe80::1 -> ff02::1, neighbour solicitation and
    advertisement, IPv6 TCP handshake 2001:db8::10 -> [2001:db8:1::10]:22.

seed-attacks.pcapng  (one small block per seed rule, 161 frames)
    + seed-attacks.expect.json: per frame (1-based, as Wireshark numbers
    them) the direction, timestamp, what it is, and the verdict and reason
    expected under Policy::default() with
    lan = ["198.51.100.0/24", "2001:db8:1::/48"]. Verdicts use the names of
    Verdict::as_str (forward, drop, delay) and Reason::as_str; a `delay`
    carries its deadline (now + 500 ms). Blocks start 2 s apart; every block
    uses its own source addresses so that per-source state (buckets, flies)
    cannot leak between blocks. In order:
      baseline   legitimate traffic both ways: ARP, DNS, an outbound HTTP
                 connection with FIN close, inbound SSH (allowed), an inbound
                 ping with reply, IPv6 RA / NS (link-local to multicast),
                 an IPv6 TCP handshake              -> forward
      malformed  IHL 3, TCP data offset 2, IPv4 total length beyond the
                 frame, a 20-byte runt, IPv6 payload length beyond the frame
                                                    -> malformed
      bogon-src  WAN frames from 10/8, 192.168/16, 127/8, 0/8, 224/4,
                 169.254/16, 172.16/12, 240/5, fd00::/8 -> bogon-src
      bogus-dst  WAN frames to 255.255.255.255, 224.0.0.251, 239.255.255.250,
                 0.1.2.3, 240.0.0.1, ::1           -> bogus-dst;
                 a DHCP offer 67 -> 68 to 255.255.255.255 -> forward (DHCP
                 replies to the broadcast address are excepted)
      spoofed    a LAN source arriving from the WAN (v4 and v6), non-LAN
                 sources arriving from the LAN (v4, a 10/8 source, v6)
                                                    -> spoofed
      icmp-type  ICMP timestamp request (13), address-mask request (17)
                                                    -> icmp-type
      icmp-rate  7 echo requests 10 ms apart from one source: 5 forward
                 (burst 5), 2 icmp-rate; an 8th 1.5 s after the first
                 forward (the bucket refilled)
      tcp-flags  SYN+FIN, SYN+RST, NULL, XMAS (FIN+PSH+URG), FIN without
                 ACK, each from its own source         -> tcp-flags
      invalid    WAN ACK, RST and FIN+ACK that belong to no connection
                 -> invalid; then a mid-stream ACK from the LAN (default
                 pickup = lan opens an established flow) and the WAN's answer
                 -> forward
      rst        four connections LAN client -> 203.0.113.30:80 (handshakes
                 forward); then the WAN sends one RST per connection: at
                 +0 ms and +10 ms -> delay (deadline +500 ms), at +20 ms
                 -> rst-rate (limit 2/s burst 2), at +1.5 s -> delay (refill)
      syn-rate   64 SYNs 100 us apart from 203.0.113.66 to port 80, each
                 from a new source port: 1..59 forward, 60..64
                 syn-rate (syn_mode = window: fewer than 60 attempts
                 in the last second, as iptables `recent --hitcount 60`)
      trap       203.0.113.99: SYN to TCP 139 -> trap; then SYNs to 21, 22,
                 80, 443, an echo request and a DNS query -> fly;
                 2001:db8::99: SYN to [2001:db8:1::10]:139 -> trap, SYN to 22
                 -> fly
      non-ip     STP BPDU from the LAN (drop_non_ip is off) -> forward

    What the expectations assume about the engine (each attack frame is
    built to trip exactly one rule, so the order of the checks rarely
    matters): rules (bogons, bogus destinations, ICMP, flags, rates, traps)
    apply to frames entering from the WAN; anti-spoof applies both ways (a
    LAN source from the WAN, a non-LAN source from the LAN); malformed is
    decided before anything else and `fly` before every other rule; flag
    checks come before connection tracking (a NULL packet is `tcp-flags`,
    not `invalid`); non-SYN TCP from the WAN with no flow is `invalid`; a
    token bucket starts full (burst) and a dropped packet costs no tokens;
    ARP passes; neighbour discovery with hop limit 255 (RA, NS, NA) passes;
    DHCP replies to the broadcast address pass; an RST inside an
    established flow is rate-limited per source, and the accepted ones are
    delayed by 500 ms.

lan-egress.pcap  (classic pcap, little-endian, nanosecond magic 0xa1b23c4d,
    LINKTYPE_ETHERNET, 7 frames, all entering from the LAN port, for replay
    with `--from lan`): ARP request, DNS query, TCP SYN to a web server,
    echo request to a WAN host, IPv6 TCP SYN, and two egress-spoofed frames
    (source 203.0.113.200 and 10.9.9.9: both `spoofed`).
"""

import json
import logging
import os
import struct
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.all import (  # noqa: E402
    ARP,
    BOOTP,
    DHCP,
    DNS,
    DNSQR,
    DNSRR,
    ICMP,
    IP,
    LLC,
    STP,
    TCP,
    UDP,
    Dot3,
    Ether,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RA,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
    Raw,
)

# ---------------------------------------------------------------- addressing

SEC = 1_000_000_000
MS = 1_000_000
US = 1_000
# 2023-11-14 22:13:20 UTC: the start of every capture.
BASE_NS = 1_700_000_000 * SEC

WAN, LAN = 0, 1
DIR_NAME = {WAN: "wan", LAN: "lan"}

MAC_WAN_RTR = "02:f1:00:00:00:01"  # the upstream router: every WAN frame comes from it
MAC_LAN_SRV = "02:f1:00:00:01:10"
MAC_LAN_CLI = "02:f1:00:00:01:20"
MAC_LAN_SW = "02:f1:00:00:01:fe"  # a LAN switch that sends BPDUs
MAC_BCAST = "ff:ff:ff:ff:ff:ff"

GW = "198.51.100.1"  # the LAN's gateway address, held by the WAN router
LAN_SRV = "198.51.100.10"
LAN_CLI = "198.51.100.20"
LAN_SRV6 = "2001:db8:1::10"
LAN_CLI6 = "2001:db8:1::20"
WAN_HOST = "203.0.113.10"
WAN_HOST6 = "2001:db8::10"
WAN_RTR = "203.0.113.1"
RESOLVER = "203.0.113.53"
WEB = "203.0.113.80"

ETH_MIN = 60  # minimum Ethernet frame without FCS


def mac_of(ip, side):
    """The MAC a frame for/from `ip` carries on the given side."""
    if side == WAN:
        return MAC_WAN_RTR
    return {LAN_SRV: MAC_LAN_SRV, LAN_SRV6: MAC_LAN_SRV, LAN_CLI: MAC_LAN_CLI, LAN_CLI6: MAC_LAN_CLI}.get(
        ip, MAC_LAN_CLI
    )


class Ids:
    """IPv4 identification numbers: a counter, reset for every capture."""

    def __init__(self, start):
        self.n = start

    def next(self):
        self.n = (self.n + 1) & 0xFFFF
        return self.n


def pad(b):
    return b + b"\0" * (ETH_MIN - len(b)) if len(b) < ETH_MIN else b


def ip4(ids, src, dst, l4, side, ttl=64, **kw):
    """An Ethernet/IPv4 frame entering from `side` (WAN: router -> LAN host)."""
    if side == WAN:
        esrc, edst = MAC_WAN_RTR, mac_of(dst, LAN)
    else:
        esrc, edst = mac_of(src, LAN), MAC_WAN_RTR
    if dst == "255.255.255.255":
        edst = MAC_BCAST
    elif dst.split(".")[0].isdigit() and 224 <= int(dst.split(".")[0]) <= 239:
        o = [int(x) for x in dst.split(".")]
        edst = "01:00:5e:%02x:%02x:%02x" % (o[1] & 0x7F, o[2], o[3])
    return pad(bytes(Ether(src=esrc, dst=edst) / IP(src=src, dst=dst, id=ids.next(), ttl=ttl, **kw) / l4))


def ip6(src, dst, l4, side, hlim=64):
    if side == WAN:
        esrc, edst = MAC_WAN_RTR, mac_of(dst, LAN)
    else:
        esrc, edst = mac_of(src, LAN), MAC_WAN_RTR
    if dst.startswith("ff02::1:ff"):
        tail = dst.split(":")[-2:]
        low = int(tail[0], 16) & 0xFF, int(tail[1], 16)
        edst = "33:33:ff:%02x:%02x:%02x" % (low[0], low[1] >> 8, low[1] & 0xFF)
    elif dst == "ff02::1":
        edst = "33:33:00:00:00:01"
    return pad(bytes(Ether(src=esrc, dst=edst) / IPv6(src=src, dst=dst, hlim=hlim) / l4))


def syn_opts():
    return [("MSS", 1460)]


class Tcp:
    """One TCP connection with fixed initial sequence numbers.

    `cside` is the port the client's frames enter from."""

    def __init__(self, ids, cli, cport, srv, sport, cside, isn_c, isn_s, v6=False):
        self.ids, self.cli, self.cport, self.srv, self.sport = ids, cli, cport, srv, sport
        self.cside, self.v6 = cside, v6
        self.seq = {True: isn_c, False: isn_s}

    def side(self, from_client):
        return self.cside if from_client else 1 - self.cside

    def seg(self, from_client, flags, data=b"", ack=True):
        """(side, frame) for a segment; advances the sender's sequence number."""
        src, dst = (self.cli, self.srv) if from_client else (self.srv, self.cli)
        sp, dp = (self.cport, self.sport) if from_client else (self.sport, self.cport)
        seq = self.seq[from_client]
        ackno = self.seq[not from_client] if ("A" in flags and ack) else 0
        opts = syn_opts() if "S" in flags else []
        l4 = TCP(sport=sp, dport=dp, seq=seq, ack=ackno, flags=flags, window=64240, options=opts)
        if data:
            l4 = l4 / Raw(data)
        side = self.side(from_client)
        if self.v6:
            frame = ip6(src, dst, l4, side)
        else:
            frame = ip4(self.ids, src, dst, l4, side, flags="DF")
        self.seq[from_client] = (seq + len(data) + (1 if ("S" in flags or "F" in flags) else 0)) & 0xFFFFFFFF
        return side, frame

    def handshake(self):
        return [self.seg(True, "S"), self.seg(False, "SA"), self.seg(True, "A")]


def tcp_raw(ids, src, dst, sport, dport, flags, side, seq=0x1000, ack=0):
    return ip4(ids, src, dst, TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, window=1024), side)


def echo(ids, src, dst, side, ident, seq, reply=False):
    payload = Raw(b"flypaper-ping-" + bytes([0x41 + (seq % 26)]) * 18)
    return ip4(ids, src, dst, ICMP(type=0 if reply else 8, id=ident, seq=seq) / payload, side)


def dns_query(ids, cli, cport, qname, qid, side=LAN):
    q = DNS(id=qid, rd=1, qd=DNSQR(qname=qname, qtype="A"))
    return ip4(ids, cli, RESOLVER, UDP(sport=cport, dport=53) / q, side)


def dns_answer(ids, cli, cport, qname, qid, addr):
    a = DNS(
        id=qid, qr=1, rd=1, ra=1, qd=DNSQR(qname=qname, qtype="A"), an=DNSRR(rrname=qname, type="A", ttl=300, rdata=addr)
    )
    return ip4(ids, RESOLVER, cli, UDP(sport=53, dport=cport) / a, WAN)


def arp_request():
    return pad(
        bytes(
            Ether(src=MAC_LAN_CLI, dst=MAC_BCAST)
            / ARP(op=1, hwsrc=MAC_LAN_CLI, psrc=LAN_CLI, hwdst="00:00:00:00:00:00", pdst=GW)
        )
    )


def arp_reply():
    return pad(
        bytes(Ether(src=MAC_WAN_RTR, dst=MAC_LAN_CLI) / ARP(op=2, hwsrc=MAC_WAN_RTR, psrc=GW, hwdst=MAC_LAN_CLI, pdst=LAN_CLI))
    )


def stp_bpdu():
    return pad(
        bytes(
            Dot3(dst="01:80:c2:00:00:00", src=MAC_LAN_SW)
            / LLC(dsap=0x42, ssap=0x42, ctrl=3)
            / STP(rootid=32768, rootmac=MAC_LAN_SW, pathcost=0, bridgeid=32768, bridgemac=MAC_LAN_SW, portid=0x8001)
        )
    )


def dhcp_offer(ids):
    chaddr = bytes.fromhex(MAC_LAN_CLI.replace(":", "")) + b"\0" * 10
    bootp = BOOTP(op=2, xid=0x0F1E2D3C, yiaddr="203.0.113.150", siaddr=WAN_RTR, chaddr=chaddr)
    opts = DHCP(
        options=[
            ("message-type", "offer"),
            ("server_id", WAN_RTR),
            ("lease_time", 3600),
            ("subnet_mask", "255.255.255.0"),
            ("router", WAN_RTR),
            "end",
        ]
    )
    return ip4(ids, WAN_RTR, "255.255.255.255", UDP(sport=67, dport=68) / bootp / opts, WAN)


def router_advertisement():
    ra = (
        ICMPv6ND_RA(chlim=64, routerlifetime=1800)
        / ICMPv6NDOptSrcLLAddr(lladdr=MAC_WAN_RTR)
        / ICMPv6NDOptPrefixInfo(prefix="2001:db8:1::", prefixlen=64, validlifetime=86400, preferredlifetime=14400)
    )
    return ip6("fe80::1", "ff02::1", ra, WAN, hlim=255)


def neighbour_solicitation():
    ns = ICMPv6ND_NS(tgt=LAN_SRV6) / ICMPv6NDOptSrcLLAddr(lladdr=MAC_WAN_RTR)
    return ip6("fe80::1", "ff02::1:ff00:10", ns, WAN, hlim=255)


def neighbour_advertisement():
    na = ICMPv6ND_NA(R=0, S=1, O=1, tgt=LAN_SRV6) / ICMPv6NDOptDstLLAddr(lladdr=MAC_LAN_SRV)
    frame = Ether(src=MAC_LAN_SRV, dst=MAC_WAN_RTR) / IPv6(src=LAN_SRV6, dst="fe80::1", hlim=255) / na
    return pad(bytes(frame))


# ------------------------------------------------------------- file formats


def pad4(b):
    return b + b"\0" * (-len(b) % 4)


def option(code, value):
    return struct.pack("<HH", code, len(value)) + pad4(value)


def options(*opts):
    return b"".join(opts) + struct.pack("<HH", 0, 0)


def block(btype, body):
    body = pad4(body)
    n = len(body) + 12
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def pcapng(frames):
    """frames: list of (ts_ns, interface, bytes, comment), in file order."""
    out = [
        block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + options(option(4, b"flypaper gen-captures.py"))),
    ]
    for name, descr in ((b"wan", b"WAN port (internet side)"), (b"lan", b"LAN port (protected side)")):
        body = struct.pack("<HHI", 1, 0, 262144) + options(option(2, name), option(3, descr), option(9, bytes([9])))
        out.append(block(0x00000001, body))
    for ts, iface, data, comment in frames:
        body = struct.pack("<IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data))
        body += pad4(data) + options(option(1, comment.encode()))
        out.append(block(0x00000006, body))
    return b"".join(out)


def pcap_ns(frames):
    """Classic pcap, little-endian, nanosecond magic, LINKTYPE_ETHERNET."""
    out = [struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1)]
    for ts, data in frames:
        out.append(struct.pack("<IIII", ts // SEC, ts % SEC, len(data), len(data)) + data)
    return b"".join(out)


# --------------------------------------------------------------------- demo


def demo():
    ids = Ids(0x2000)
    ev = []  # (ts, order, side, frame, comment)

    def at(t, side, frame, comment):
        ev.append((BASE_NS + t, len(ev), side, frame, comment))

    # LAN client: ARP, DNS, HTTP to the web server.
    at(0, LAN, arp_request(), "ARP who-has 198.51.100.1 (gateway)")
    at(300 * US, WAN, arp_reply(), "ARP reply from the WAN router")
    at(2 * MS, LAN, dns_query(ids, LAN_CLI, 53001, "www.example.com", 0x1D1D), "DNS query www.example.com")
    at(14 * MS, WAN, dns_answer(ids, LAN_CLI, 53001, "www.example.com", 0x1D1D, WEB), "DNS answer")
    web = Tcp(ids, LAN_CLI, 40000, WEB, 80, LAN, 1_000_000, 5_000_000)
    t = 20 * MS
    request = b"GET / HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: flypaper-demo\r\n\r\n"
    response = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nhello, world\n"
    script = web.handshake() + [
        web.seg(True, "PA", request),
        web.seg(False, "A"),
        web.seg(False, "PA", response),
        web.seg(True, "A"),
        web.seg(True, "FA"),
        web.seg(False, "FA"),
        web.seg(True, "A"),
    ]
    for i, (side, frame) in enumerate(script):
        at(t + i * 12 * MS, side, frame, "HTTP 198.51.100.20:40000 -> 203.0.113.80:80 segment %d" % (i + 1))

    # WAN host pings the LAN server, and opens SSH to it.
    for i in range(3):
        at(100 * MS + i * 300 * MS, WAN, echo(ids, WAN_HOST, LAN_SRV, WAN, 0x0101, i + 1), "ping %d" % (i + 1))
        at(100 * MS + i * 300 * MS + 200 * US, LAN, echo(ids, LAN_SRV, WAN_HOST, LAN, 0x0101, i + 1, reply=True), "pong")
    ssh = Tcp(ids, WAN_HOST, 50022, LAN_SRV, 22, WAN, 7_000_000, 9_000_000)
    script = ssh.handshake() + [ssh.seg(False, "PA", b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"), ssh.seg(True, "A")]
    for i, (side, frame) in enumerate(script):
        at(250 * MS + i * 5 * MS, side, frame, "SSH 203.0.113.10:50022 -> 198.51.100.10:22 segment %d" % (i + 1))

    # ICMP flood: 50 echo requests in 1 s from one source.
    for i in range(50):
        at(
            1000 * MS + i * 20 * MS,
            WAN,
            echo(ids, "203.0.113.77", LAN_SRV, WAN, 0x7777, i + 1),
            "attack: ICMP flood %d/50" % (i + 1),
        )

    # Bogon sources, bogus destination, bad flags, bad ICMP types.
    for i, src in enumerate(["10.0.0.1", "192.168.1.1", "127.0.0.1", "0.0.0.0", "224.0.0.1"]):
        at(
            400 * MS + i * 7 * MS,
            WAN,
            tcp_raw(ids, src, LAN_SRV, 31000 + i, 80, "S", WAN),
            "attack: bogon source %s" % src,
        )
    at(
        460 * MS,
        WAN,
        ip4(ids, "203.0.113.45", "255.255.255.255", UDP(sport=4444, dport=4444) / Raw(b"broadcast"), WAN),
        "attack: to 255.255.255.255",
    )
    for i, (flags, name) in enumerate([("SF", "SYN+FIN"), ("", "NULL scan"), ("FPU", "XMAS scan")]):
        at(
            500 * MS + i * 9 * MS,
            WAN,
            tcp_raw(ids, "203.0.113.%d" % (46 + i), LAN_SRV, 32000 + i, 80, flags, WAN),
            "attack: " + name,
        )
    at(
        540 * MS,
        WAN,
        ip4(ids, "203.0.113.49", LAN_SRV, ICMP(type=13, code=0, id=0x1313, seq=1, ts_ori=0, ts_rx=0, ts_tx=0), WAN),
        "attack: ICMP timestamp request",
    )
    at(
        550 * MS,
        WAN,
        ip4(ids, "203.0.113.49", LAN_SRV, ICMP(type=17, code=0, id=0x1717, seq=1, addr_mask="0.0.0.0"), WAN),
        "attack: ICMP address mask request",
    )

    # SYN flood: 200 SYNs in 1 s from one source to port 80.
    for i in range(200):
        at(
            1500 * MS + i * 5 * MS,
            WAN,
            tcp_raw(ids, "203.0.113.66", LAN_SRV, 20000 + i, 80, "S", WAN, seq=0x66000000 + i),
            "attack: SYN flood %d/200" % (i + 1),
        )

    # RST burst into an established connection of the LAN client.
    tls = Tcp(ids, LAN_CLI, 40443, "203.0.113.70", 443, LAN, 2_000_000, 3_000_000)
    for i, (side, frame) in enumerate(tls.handshake()):
        at(600 * MS + i * 10 * MS, side, frame, "TCP 198.51.100.20:40443 -> 203.0.113.70:443 handshake %d" % (i + 1))
    for i in range(10):
        seq = tls.seq[False]
        at(
            700 * MS + i * 90 * MS,
            WAN,
            tcp_raw(ids, "203.0.113.70", LAN_CLI, 443, 40443, "R", WAN, seq=seq),
            "attack: RST burst %d/10" % (i + 1),
        )

    # Mid-stream ACK with no connection.
    at(
        1700 * MS + 2500 * US,
        WAN,
        tcp_raw(ids, "203.0.113.71", LAN_SRV, 55555, 443, "A", WAN, seq=0x71717171, ack=0x17171717),
        "attack: mid-stream ACK, no connection",
    )

    # Port scan: the trap port first, then the real services.
    for i, port in enumerate([139, 21, 22, 80, 443]):
        at(
            2600 * MS + i * 30 * MS + 1 * US,
            WAN,
            tcp_raw(ids, "203.0.113.99", LAN_SRV, 61000, port, "S", WAN, seq=0x99999999),
            "attack: port scan, TCP %d%s" % (port, " (trap)" if port == 139 else " (source is a fly)"),
        )

    # Egress spoof: a LAN host sends with a source outside the LAN.
    at(
        2800 * MS,
        LAN,
        tcp_raw(ids, "203.0.113.200", WEB, 12345, 80, "S", LAN),
        "attack: egress spoof, source 203.0.113.200 from the LAN",
    )

    # Link-layer and IPv6 housekeeping, DHCP from the WAN.
    at(50 * MS, LAN, stp_bpdu(), "STP configuration BPDU")
    at(2050 * MS, LAN, stp_bpdu(), "STP configuration BPDU")
    at(900 * MS, WAN, dhcp_offer(ids), "DHCP offer 203.0.113.1:67 -> 255.255.255.255:68")
    at(150 * MS, WAN, router_advertisement(), "IPv6 router advertisement fe80::1 -> ff02::1")
    at(2900 * MS, WAN, neighbour_solicitation(), "IPv6 neighbour solicitation for 2001:db8:1::10")
    at(2900 * MS + 150 * US, LAN, neighbour_advertisement(), "IPv6 neighbour advertisement")
    ssh6 = Tcp(ids, WAN_HOST6, 51000, LAN_SRV6, 22, WAN, 11_000_000, 13_000_000, v6=True)
    for i, (side, frame) in enumerate(ssh6.handshake()):
        at(2950 * MS + i * 4 * MS, side, frame, "IPv6 TCP [2001:db8::10]:51000 -> [2001:db8:1::10]:22 handshake %d" % (i + 1))

    ev.sort(key=lambda e: (e[0], e[1]))
    return pcapng([(ts, side, frame, comment) for ts, _, side, frame, comment in ev])


# ------------------------------------------------------------- seed attacks


class Seed:
    def __init__(self):
        self.frames = []  # (ts, side, frame, comment)
        self.expect = []

    def add(self, block_name, t, side, frame, what, verdict="forward", reason=None):
        ts = BASE_NS + t
        n = len(self.frames) + 1
        e = {"frame": n, "block": block_name, "dir": DIR_NAME[side], "ts_ns": ts, "what": what, "verdict": verdict}
        if verdict == "drop":
            assert reason, what
            e["reason"] = reason
            tail = "drop (%s)" % reason
        elif verdict == "delay":
            e["deadline_ns"] = ts + 500 * MS
            tail = "delay until +500 ms"
        else:
            tail = verdict
        self.expect.append(e)
        self.frames.append((ts, side, frame, "frame %d [%s] %s -> expect %s" % (n, block_name, what, tail)))


def seed_attacks():
    ids = Ids(0x5000)
    s = Seed()

    def drop(reason):
        return {"verdict": "drop", "reason": reason}

    # Block 1 (t = 0 s): legitimate traffic in both directions.
    b, t = "baseline", 0
    s.add(b, t, LAN, arp_request(), "ARP request who-has 198.51.100.1 from the LAN client")
    s.add(b, t + 1 * MS, WAN, arp_reply(), "ARP reply from the WAN router")
    s.add(b, t + 2 * MS, LAN, dns_query(ids, LAN_CLI, 53002, "www.example.com", 0x2E2E), "DNS query to the WAN resolver")
    s.add(b, t + 3 * MS, WAN, dns_answer(ids, LAN_CLI, 53002, "www.example.com", 0x2E2E, WEB), "DNS answer")
    web = Tcp(ids, LAN_CLI, 40000, WEB, 80, LAN, 1_000_000, 5_000_000)
    script = web.handshake() + [
        web.seg(True, "PA", b"GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n"),
        web.seg(False, "PA", b"HTTP/1.1 204 No Content\r\n\r\n"),
        web.seg(True, "FA"),
        web.seg(False, "FA"),
        web.seg(True, "A"),
    ]
    names = ["SYN", "SYN-ACK", "ACK", "request", "response", "FIN from client", "FIN from server", "last ACK"]
    for i, ((side, frame), name) in enumerate(zip(script, names)):
        s.add(b, t + (10 + i) * MS, side, frame, "outbound HTTP 198.51.100.20:40000 -> 203.0.113.80:80: " + name)
    ssh = Tcp(ids, WAN_HOST, 50022, LAN_SRV, 22, WAN, 7_000_000, 9_000_000)
    script = ssh.handshake() + [ssh.seg(False, "PA", b"SSH-2.0-OpenSSH_9.2p1\r\n"), ssh.seg(True, "A")]
    names = ["SYN", "SYN-ACK", "ACK", "server banner", "ACK"]
    for i, ((side, frame), name) in enumerate(zip(script, names)):
        s.add(b, t + (30 + i) * MS, side, frame, "inbound SSH 203.0.113.10:50022 -> 198.51.100.10:22: " + name)
    s.add(b, t + 40 * MS, WAN, echo(ids, WAN_HOST, LAN_SRV, WAN, 0x0101, 1), "echo request 203.0.113.10 -> LAN server")
    s.add(b, t + 41 * MS, LAN, echo(ids, LAN_SRV, WAN_HOST, LAN, 0x0101, 1, reply=True), "echo reply")
    s.add(b, t + 50 * MS, WAN, router_advertisement(), "IPv6 router advertisement fe80::1 -> ff02::1")
    s.add(b, t + 51 * MS, WAN, neighbour_solicitation(), "IPv6 neighbour solicitation fe80::1 -> ff02::1:ff00:10")
    s.add(b, t + 52 * MS, LAN, neighbour_advertisement(), "IPv6 neighbour advertisement 2001:db8:1::10 -> fe80::1")
    ssh6 = Tcp(ids, WAN_HOST6, 51000, LAN_SRV6, 22, WAN, 11_000_000, 13_000_000, v6=True)
    for i, ((side, frame), name) in enumerate(zip(ssh6.handshake(), ["SYN", "SYN-ACK", "ACK"])):
        s.add(b, t + (60 + i) * MS, side, frame, "IPv6 TCP [2001:db8::10]:51000 -> [2001:db8:1::10]:22: " + name)

    # Block 2 (t = 2 s): malformed frames, built from raw bytes.
    b, t = "malformed", 2 * SEC
    good = bytes(
        Ether(src=MAC_WAN_RTR, dst=MAC_LAN_SRV)
        / IP(src="203.0.113.31", dst=LAN_SRV, id=ids.next())
        / TCP(sport=1031, dport=80, seq=0x31, flags="S", window=1024)
    )
    ihl3 = bytearray(good)
    ihl3[14] = 0x43
    ihl3[24:26] = b"\0\0"
    ihl3[24:26] = struct.pack("!H", checksum(bytes(ihl3[14:34])))
    s.add(b, t, WAN, pad(bytes(ihl3)), "IPv4 header length (IHL) 3", **drop("malformed"))
    doff2 = ip4(
        ids, "203.0.113.32", LAN_SRV, TCP(sport=1032, dport=80, seq=0x32, flags="S", window=1024, dataofs=2), WAN
    )
    s.add(b, t + 1 * MS, WAN, doff2, "TCP data offset 2 (8-byte header)", **drop("malformed"))
    longer = ip4(ids, "203.0.113.33", LAN_SRV, TCP(sport=1033, dport=80, seq=0x33, flags="S", window=1024), WAN, len=200)
    s.add(b, t + 2 * MS, WAN, longer, "IPv4 total length 200 in a 60-byte frame", **drop("malformed"))
    runt = bytes(Ether(src=MAC_WAN_RTR, dst=MAC_LAN_SRV, type=0x0800)) + good[14:20]
    assert len(runt) == 20
    s.add(b, t + 3 * MS, WAN, runt, "20-byte frame: Ethernet header and 6 bytes of IPv4", **drop("malformed"))
    v6long = pad(
        bytes(
            Ether(src=MAC_WAN_RTR, dst=MAC_LAN_SRV)
            / IPv6(src="2001:db8::35", dst=LAN_SRV6, plen=100)
            / TCP(sport=1035, dport=80, seq=0x35, flags="S", window=1024)
        )
    )
    s.add(b, t + 4 * MS, WAN, v6long, "IPv6 payload length 100 with 20 bytes of payload", **drop("malformed"))

    # Block 3 (t = 4 s): bogon sources from the WAN.
    b, t = "bogon-src", 4 * SEC
    bogons = ["10.0.0.1", "192.168.1.1", "127.0.0.1", "0.0.0.0", "224.0.0.1", "169.254.1.1", "172.16.0.1", "240.0.0.1"]
    for i, src in enumerate(bogons):
        frame = tcp_raw(ids, src, LAN_SRV, 31000 + i, 80, "S", WAN, seq=0x0B000000 + i)
        s.add(b, t + i * MS, WAN, frame, "TCP SYN from bogon source %s to 198.51.100.10:80" % src, **drop("bogon-src"))
    frame = ip6("fd00::1", LAN_SRV6, TCP(sport=31100, dport=80, seq=0x0B0000FF, flags="S", window=1024), WAN)
    s.add(b, t + 10 * MS, WAN, frame, "IPv6 TCP SYN from unique-local fd00::1", **drop("bogon-src"))

    # Block 4 (t = 6 s): bogus destinations from the WAN.
    b, t = "bogus-dst", 6 * SEC
    mdns = DNS(id=0, qd=DNSQR(qname="flypaper.local", qtype="A"))
    ssdp = Raw(b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\n\r\n")
    for i, (dst, port, payload) in enumerate(
        [
            ("255.255.255.255", 4444, Raw(b"bogus destination")),
            ("224.0.0.251", 5353, mdns),
            ("239.255.255.250", 1900, ssdp),
            ("0.1.2.3", 4444, Raw(b"bogus destination")),
            ("240.0.0.1", 4444, Raw(b"bogus destination")),
        ]
    ):
        frame = ip4(ids, "203.0.113.40", dst, UDP(sport=40000 + i, dport=port) / payload, WAN)
        s.add(b, t + i * MS, WAN, frame, "UDP from 203.0.113.40 to %s:%d" % (dst, port), **drop("bogus-dst"))
    # The contrast: a DHCP reply to the broadcast address is excepted from
    # the bogus-destination rule (the ISP's DHCP server must reach the LAN).
    s.add(b, t + 10 * MS, WAN, dhcp_offer(ids), "DHCP offer 203.0.113.1:67 -> 255.255.255.255:68 (DHCP replies are excepted)")
    frame = ip6("2001:db8::40", "::1", UDP(sport=40010, dport=4444) / Raw(b"bogus destination"), WAN)
    s.add(b, t + 11 * MS, WAN, frame, "IPv6 UDP from 2001:db8::40 to ::1", **drop("bogus-dst"))

    # Block 5 (t = 8 s): anti-spoof by direction.
    b, t = "spoofed", 8 * SEC
    frame = tcp_raw(ids, "198.51.100.77", LAN_SRV, 33000, 80, "S", WAN)
    s.add(b, t, WAN, frame, "TCP SYN from LAN address 198.51.100.77 arriving from the WAN", **drop("spoofed"))
    frame = ip6("2001:db8:1::77", LAN_SRV6, TCP(sport=33001, dport=80, seq=0x1000, flags="S", window=1024), WAN)
    s.add(b, t + 1 * MS, WAN, frame, "IPv6 TCP SYN from LAN address 2001:db8:1::77 arriving from the WAN", **drop("spoofed"))
    frame = tcp_raw(ids, "203.0.113.200", WEB, 33002, 80, "S", LAN)
    s.add(b, t + 2 * MS, LAN, frame, "TCP SYN from non-LAN source 203.0.113.200 arriving from the LAN", **drop("spoofed"))
    frame = ip4(ids, "10.1.2.3", RESOLVER, UDP(sport=33003, dport=53) / DNS(id=0x1010, rd=1, qd=DNSQR(qname="example.com")), LAN)
    s.add(b, t + 3 * MS, LAN, frame, "DNS query from 10.1.2.3 (not a LAN prefix) arriving from the LAN", **drop("spoofed"))
    frame = ip6("2001:db8:99::1", WAN_HOST6, TCP(sport=33004, dport=80, seq=0x1000, flags="S", window=1024), LAN)
    s.add(b, t + 4 * MS, LAN, frame, "IPv6 TCP SYN from non-LAN 2001:db8:99::1 arriving from the LAN", **drop("spoofed"))

    # Block 6 (t = 10 s): ICMP types the seed drops.
    b, t = "icmp-type", 10 * SEC
    frame = ip4(ids, "203.0.113.50", LAN_SRV, ICMP(type=13, code=0, id=0x1313, seq=1, ts_ori=0, ts_rx=0, ts_tx=0), WAN)
    s.add(b, t, WAN, frame, "ICMP timestamp request (type 13)", **drop("icmp-type"))
    frame = ip4(ids, "203.0.113.51", LAN_SRV, ICMP(type=17, code=0, id=0x1717, seq=1, addr_mask="0.0.0.0"), WAN)
    s.add(b, t + 1 * MS, WAN, frame, "ICMP address mask request (type 17)", **drop("icmp-type"))

    # Block 7 (t = 12 s): ICMP rate, 1/s burst 5, per source.
    b, t = "icmp-rate", 12 * SEC
    for i in range(7):
        frame = echo(ids, "203.0.113.20", LAN_SRV, WAN, 0x2020, i + 1)
        what = "echo request %d from 203.0.113.20 (+%d ms)" % (i + 1, 10 * i)
        if i < 5:
            s.add(b, t + i * 10 * MS, WAN, frame, what + ", within the burst of 5")
        else:
            s.add(b, t + i * 10 * MS, WAN, frame, what + ", beyond the burst", **drop("icmp-rate"))
    frame = echo(ids, "203.0.113.20", LAN_SRV, WAN, 0x2020, 8)
    s.add(b, t + 1500 * MS, WAN, frame, "echo request 8 from 203.0.113.20 (+1500 ms), the bucket has refilled")

    # Block 8 (t = 14 s): TCP flag combinations that make no sense.
    b, t = "tcp-flags", 14 * SEC
    for i, (flags, name) in enumerate(
        [("SF", "SYN+FIN"), ("SR", "SYN+RST"), ("", "NULL (no flags)"), ("FPU", "XMAS (FIN+PSH+URG)"), ("F", "FIN without ACK")]
    ):
        src = "203.0.113.%d" % (61 + i)
        frame = tcp_raw(ids, src, LAN_SRV, 34000 + i, 80, flags, WAN)
        s.add(b, t + i * MS, WAN, frame, "TCP %s from %s to 198.51.100.10:80" % (name, src), **drop("tcp-flags"))

    # Block 9 (t = 16 s): connection tracking.
    b, t = "invalid", 16 * SEC
    frame = tcp_raw(ids, "203.0.113.71", LAN_SRV, 35000, 443, "A", WAN, seq=0x71717171, ack=0x17171717)
    s.add(b, t, WAN, frame, "mid-stream ACK from the WAN, no connection", **drop("invalid"))
    frame = tcp_raw(ids, "203.0.113.72", LAN_SRV, 35001, 443, "R", WAN, seq=0x72727272)
    s.add(b, t + 1 * MS, WAN, frame, "RST from the WAN, no connection", **drop("invalid"))
    frame = tcp_raw(ids, "203.0.113.73", LAN_SRV, 35002, 443, "FA", WAN, seq=0x73737373, ack=0x37373737)
    s.add(b, t + 2 * MS, WAN, frame, "FIN+ACK from the WAN, no connection", **drop("invalid"))
    pick = Tcp(ids, LAN_CLI, 40200, "203.0.113.81", 443, LAN, 0x40200000, 0x81000000)
    side, frame = pick.seg(True, "PA", b"mid-stream data from the LAN client")
    s.add(b, t + 10 * MS, side, frame, "mid-stream ACK+data from the LAN client (pickup = lan opens a flow)")
    side, frame = pick.seg(False, "A")
    s.add(b, t + 11 * MS, side, frame, "the WAN's ACK for that picked-up flow")

    # Block 10 (t = 18 s): RST rate limit (2/s burst 2) and RST delay (500 ms).
    b, t = "rst", 18 * SEC
    conns = [Tcp(ids, LAN_CLI, 40001 + i, "203.0.113.30", 80, LAN, 0x30000000 + i * 0x1000, 0x03000000 + i * 0x1000) for i in range(4)]
    for c_i, c in enumerate(conns):
        for h_i, ((side, frame), name) in enumerate(zip(c.handshake(), ["SYN", "SYN-ACK", "ACK"])):
            s.add(
                b,
                t + (c_i * 3 + h_i) * MS,
                side,
                frame,
                "connection %d 198.51.100.20:%d -> 203.0.113.30:80: %s" % (c_i + 1, c.cport, name),
            )
    rst_at = [(0, "delay", None), (10, "delay", None), (20, "drop", "rst-rate"), (1500, "delay", None)]
    for c_i, (c, (dt, verdict, reason)) in enumerate(zip(conns, rst_at)):
        side, frame = c.seg(False, "R")
        what = "RST from 203.0.113.30 for connection %d (+%d ms)" % (c_i + 1, dt)
        s.add(b, t + 100 * MS + dt * MS, side, frame, what, verdict=verdict, reason=reason)

    # Block 11 (t = 20 s): SYN rate, 60 attempts per second per source.
    b, t = "syn-rate", 20 * SEC
    for i in range(64):
        frame = tcp_raw(ids, "203.0.113.66", LAN_SRV, 20000 + i, 80, "S", WAN, seq=0x66000000 + i)
        what = "SYN %d from 203.0.113.66:%d to port 80 (+%d us)" % (i + 1, 20000 + i, 100 * i)
        if i < 59:
            s.add(b, t + i * 100 * US, WAN, frame, what)
        else:
            s.add(b, t + i * 100 * US, WAN, frame, what, **drop("syn-rate"))

    # Block 12 (t = 22 s): the trap port makes a fly; everything after is `fly`.
    b, t = "trap", 22 * SEC
    fly = "203.0.113.99"
    frame = tcp_raw(ids, fly, LAN_SRV, 61000, 139, "S", WAN, seq=0x99999999)
    s.add(b, t, WAN, frame, "TCP SYN from 203.0.113.99 to trap port 139", **drop("trap"))
    for i, port in enumerate([21, 22, 80, 443]):
        frame = tcp_raw(ids, fly, LAN_SRV, 61000, port, "S", WAN, seq=0x99999999)
        s.add(b, t + (10 + i) * MS, WAN, frame, "TCP SYN from the fly to port %d" % port, **drop("fly"))
    s.add(b, t + 20 * MS, WAN, echo(ids, fly, LAN_SRV, WAN, 0x9999, 1), "echo request from the fly", **drop("fly"))
    frame = ip4(ids, fly, LAN_SRV, UDP(sport=61001, dport=53) / DNS(id=0x9999, rd=1, qd=DNSQR(qname="example.com")), WAN)
    s.add(b, t + 21 * MS, WAN, frame, "DNS query from the fly", **drop("fly"))
    fly6 = "2001:db8::99"
    frame = ip6(fly6, LAN_SRV6, TCP(sport=61002, dport=139, seq=0x99, flags="S", window=1024), WAN)
    s.add(b, t + 30 * MS, WAN, frame, "IPv6 TCP SYN from 2001:db8::99 to trap port 139", **drop("trap"))
    frame = ip6(fly6, LAN_SRV6, TCP(sport=61002, dport=22, seq=0x99, flags="S", window=1024), WAN)
    s.add(b, t + 31 * MS, WAN, frame, "IPv6 TCP SYN from the fly 2001:db8::99 to port 22", **drop("fly"))

    # Block 13 (t = 24 s): non-IP frames pass (drop_non_ip is off by default).
    b, t = "non-ip", 24 * SEC
    s.add(b, t, LAN, stp_bpdu(), "STP configuration BPDU from a LAN switch")

    doc = {
        "capture": "seed-attacks.pcapng",
        "generator": "appliance/gen-captures.py",
        "policy": "Policy::default() with lan set",
        "lan": ["198.51.100.0/24", "2001:db8:1::/48"],
        "interfaces": ["wan", "lan"],
        "notes": [
            "frame numbers are 1-based, in file order (as Wireshark numbers them)",
            "dir is the port the frame enters from: interface 0 = wan, interface 1 = lan",
            "verdict is Verdict::as_str; reason is Reason::as_str; a delay carries deadline_ns = ts_ns + 500 ms",
            "frames are fed to one Filter in order, with ts_ns as the clock",
        ],
    }
    lines = ["{"]
    for k, v in doc.items():
        lines.append("  %s: %s," % (json.dumps(k), json.dumps(v)))
    lines.append('  "frames": [')
    lines.append(",\n".join("    " + json.dumps(e) for e in s.expect))
    lines.append("  ]")
    lines.append("}")
    expect = ("\n".join(lines) + "\n").encode()
    json.loads(expect)  # well-formed
    return pcapng(s.frames), expect


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


# --------------------------------------------------------------- lan egress


def lan_egress():
    ids = Ids(0x7000)
    t = BASE_NS
    frames = [
        (t, arp_request()),
        (t + 1 * MS, dns_query(ids, LAN_CLI, 53003, "www.example.com", 0x3F3F)),
        (t + 20 * MS, Tcp(ids, LAN_CLI, 40300, WEB, 80, LAN, 0x40300000, 0).seg(True, "S")[1]),
        (t + 40 * MS, echo(ids, LAN_CLI, WAN_HOST, LAN, 0x0202, 1)),
        (t + 60 * MS, Tcp(ids, LAN_CLI6, 40301, WAN_HOST6, 443, LAN, 0x40301000, 0, v6=True).seg(True, "S")[1]),
        (t + 80 * MS, tcp_raw(ids, "203.0.113.200", WEB, 12345, 80, "S", LAN)),
        (t + 100 * MS, ip4(ids, "10.9.9.9", RESOLVER, UDP(sport=5353, dport=53) / DNS(id=0x0909, rd=1, qd=DNSQR(qname="example.com")), LAN)),
    ]
    return pcap_ns(frames)


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: %s OUTDIR\n" % sys.argv[0])
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seed, expect = seed_attacks()
    files = {
        "demo.pcapng": demo(),
        "seed-attacks.pcapng": seed,
        "seed-attacks.expect.json": expect,
        "lan-egress.pcap": lan_egress(),
    }
    for name, data in files.items():
        assert len(data) < 200 * 1024, (name, len(data))
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
