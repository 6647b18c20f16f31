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
    advertisement, IPv6 TCP handshake 2001:db8:0:10::10 -> [2001:db8:1::10]:22.

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
                 2001:db8:0:99::99: SYN to [2001:db8:1::10]:139 -> trap, SYN to 22
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

encap-attacks.pcapng  (+ encap-attacks.expect.json, same format as
    seed-attacks plus a "config" key: the policy's TOML, which the replay
    test parses, and "flies": the flies at the end; an entry may carry
    "also": a verdict accepted instead of `forward`, for the one frame on the
    edge of the SYN window). Default policy with lan set. Blocks 2 s apart,
    block k's WAN sources are 203.0.113.(16k+i) and 2001:db8:0:kii::1:
      vlan       1, 2 and 3 tags (0x8100, 0x88a8, 0x9100) both ways -> forward;
                 bogon, SYN+FIN, trap inside 3 tags (the source is then a fly
                 tagged and untagged); spoofed both ways; 4 tags -> malformed
      pppoe      discovery (PADI/PADO/PADR/PADS), LCP, IPCP, IPV6CP; IPv4 and
                 IPv6 TCP and ICMP inside a session, both ways -> forward;
                 bogon, SYN+FIN, trap inside PPPoE (then fly in and outside
                 PPPoE), spoofed both ways
      mpls       1, 2, 8 labels, 0x8848, IPv6, both ways -> forward; an
                 Ethernet pseudowire (control word) from the LAN -> forward,
                 from the WAN -> mpls; 9 labels -> malformed; bogon,
                 SYN+FIN, trap inside MPLS
      tunnel     IPIP, 6in4, GRE (with checksum/key/sequence, IPv6 payload,
                 IPv6 outer), 4in6, 6in6 -> forward; from the LAN not
                 inspected -> forward; inner bogon, SYN+FIN, LAN source,
                 outer bogon; inner SYN to 139 -> trap, the INNER source is
                 the fly, the outer one is not; a tunnel in a tunnel -> tunnel
      fragment   IPv4: fragmented UDP, ICMP, TCP both ways -> forward;
                 frag-tiny, frag-overlap (offset 1, header overlap),
                 frag-too-big, frag-orphan, frag-after-drop, fly
      fragment6  the same with IPv6 fragment headers
      ip-header  LSRR, SSRR -> source-route; RR, NOPs -> forward; option
                 length 0, 1, past the header -> malformed; TTL / hop limit 0
                 -> ttl-zero (1 forwards); IPv6 RH0 -> source-route, RH2
                 forwards; bad header checksum -> malformed (a SYN to 139 so
                 made is no trap: the next SYN from its source forwards)
      icmp       redirect -> icmp-type; echo to 198.51.100.255, ICMPv6 echo
                 to ff02::1 / ff05::1 from the WAN -> smurf; echo, errors,
                 multicast echo from the LAN -> forward
      nd         NS/NA/RS/RA/Redirect with hop limit 255 from link-local,
                 ::, global sources as the spec allows -> forward; hop limit
                 < 255, RA/Redirect from a global source -> nd-invalid; LAN
                 source from the WAN -> spoofed; bogon -> bogon-src
      nd-rate    110 NS 100 us apart from one source: 100 forward (burst),
                 10 nd-rate; one more 1 s later forwards
      syn-window 64 SYNs 100 us apart: 59 forward, the 60th forward or
                 syn-rate, then syn-rate; one every 100 ms to +900 ms ->
                 syn-rate (dropped attempts count); one at +1.25 s forwards
      syn-tuple  one SYN repeated 70 times 1 ms apart: the same 59/60 limit
      trap-new   a LAN client using source port 139: the server's SYN-ACK
                 and data to port 139 forward, no fly; unsolicited SYN-ACK
                 or ACK to 139 -> invalid, no fly; a new SYN -> trap
      oversize   1514-byte frames (bare, 3 tags, PPPoE) forward; 9000-byte
                 jumbo frames both ways -> oversize

encap-tunnels-drop.pcapng, encap-tunnels-pass.pcapng, encap-strict.pcapng,
encap-syn-bucket.pcapng, encap-udp-trap.pcapng  (+ .expect.json each, with
    their "config"): every tunnel kind under filter.tunnels = "drop"
    (-> tunnel) and "pass" (inner attacks forward, no fly); strict mode with
    allow rules for tcp/22, esp, protocol 115 and sctp to one host (SCTP,
    AH, UDP-Lite, protocol 253 from the WAN -> not-allowed and a fly;
    replies to LAN-originated SCTP, AH, UDP-Lite forward); the syn-window
    block under tcp.syn_mode = "bucket" (60 forward, then 6 per 100 ms);
    trap.udp_ports = [137] (a new datagram to 137 -> trap, bare and in
    PPPoE; the answer to a LAN query from port 137 forwards).

syn-flood.pcap  (+ syn-flood.expect.json: a summary, not per frame)
    1500 SYNs from 203.0.113.250, 2 ms apart (500/s for 3 s), classic pcap
    from the WAN: window mode forwards the first 59 or 60 and nothing after;
    bucket mode about 240.

lan-egress.pcap  (classic pcap, little-endian, nanosecond magic 0xa1b23c4d,
    LINKTYPE_ETHERNET, 7 frames, all entering from the LAN port, for replay
    with `--from lan`): ARP request, DNS query, TCP SYN to a web server,
    echo request to a WAN host, IPv6 TCP SYN, and two egress-spoofed frames
    (source 203.0.113.200 and 10.9.9.9: both `spoofed`).
"""

import ipaddress
import json
import logging
import os
import socket
import struct
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.all import (  # noqa: E402
    ARP,
    SCTP,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6ND_Redirect,
    ICMPv6ND_RS,
    IPv6ExtHdrRouting,
    SCTPChunkInit,
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
WAN_HOST6 = "2001:db8:0:10::10"
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
        at(2950 * MS + i * 4 * MS, side, frame, "IPv6 TCP [2001:db8:0:10::10]:51000 -> [2001:db8:1::10]:22 handshake %d" % (i + 1))

    ev.sort(key=lambda e: (e[0], e[1]))
    return pcapng([(ts, side, frame, comment) for ts, _, side, frame, comment in ev])


# ------------------------------------------------------------- seed attacks


class Seed:
    def __init__(self):
        self.frames = []  # (ts, side, frame, comment)
        self.expect = []

    def add(self, block_name, t, side, frame, what, verdict="forward", reason=None, also=None):
        """`also`: a drop reason accepted instead of `forward` (a frame on
        the edge of a limit that the spec gives as "about")."""
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
        if also:
            assert verdict == "forward", what
            e["also"] = {"verdict": "drop", "reason": also}
            tail += " or drop (%s)" % also
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
        s.add(b, t + (60 + i) * MS, side, frame, "IPv6 TCP [2001:db8:0:10::10]:51000 -> [2001:db8:1::10]:22: " + name)

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
            / IPv6(src="2001:db8:0:35::35", dst=LAN_SRV6, plen=100)
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
    frame = ip6("2001:db8:0:40::40", "::1", UDP(sport=40010, dport=4444) / Raw(b"bogus destination"), WAN)
    s.add(b, t + 11 * MS, WAN, frame, "IPv6 UDP from 2001:db8:0:40::40 to ::1", **drop("bogus-dst"))

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
    fly6 = "2001:db8:0:99::99"
    frame = ip6(fly6, LAN_SRV6, TCP(sport=61002, dport=139, seq=0x99, flags="S", window=1024), WAN)
    s.add(b, t + 30 * MS, WAN, frame, "IPv6 TCP SYN from 2001:db8:0:99::99 to trap port 139", **drop("trap"))
    frame = ip6(fly6, LAN_SRV6, TCP(sport=61002, dport=22, seq=0x99, flags="S", window=1024), WAN)
    s.add(b, t + 31 * MS, WAN, frame, "IPv6 TCP SYN from the fly 2001:db8:0:99::99 to port 22", **drop("fly"))

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
    return pcapng(s.frames), render_expect(doc, s.expect)


def render_expect(doc, frames):
    """The expectations as JSON: `doc`'s keys, then one line per frame."""
    lines = ["{"]
    for k, v in doc.items():
        lines.append("  %s: %s," % (json.dumps(k), json.dumps(v)))
    lines.append('  "frames": [')
    lines.append(",\n".join("    " + json.dumps(e) for e in frames))
    lines.append("  ]")
    lines.append("}")
    expect = ("\n".join(lines) + "\n").encode()
    json.loads(expect)  # well-formed
    return expect


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


# ------------------------------------------------------- encapsulated attacks
#
# Frames in these captures are assembled from bytes: the encapsulation
# headers (VLAN tags, PPPoE, MPLS, GRE, IPv4 with options or fragments) by
# hand with `struct`, the transport layers by scapy (for their checksums).

LAN_POLICY = '[filter]\nlan = ["198.51.100.0/24", "2001:db8:1::/48"]\n'
PPPOE_SID = 0x1234


def src4(k, i):
    """Block k's i-th WAN source: 203.0.113.(16 k + i), 16 per block."""
    assert 1 <= k <= 15 and 1 <= i <= 15
    return "203.0.113.%d" % (16 * k + i)


def src6(k, i):
    return "2001:db8:0:%x%02x::1" % (k, i)


def eth(side, ethertype, payload, dst=None, src=None):
    """An Ethernet frame entering from `side`: WAN frames come from the
    router to the LAN server, LAN frames from the LAN client to the router."""
    if side == WAN:
        s, d = MAC_WAN_RTR, MAC_LAN_SRV
    else:
        s, d = MAC_LAN_CLI, MAC_WAN_RTR
    s, d = src or s, dst or d
    mac = lambda m: bytes.fromhex(m.replace(":", ""))  # noqa: E731
    return pad(mac(d) + mac(s) + struct.pack("!H", ethertype) + payload)


def l4_bytes(src, dst, l4):
    """The transport segment `l4` with its checksum for src -> dst."""
    if ":" in src:
        return bytes(IPv6(src=src, dst=dst) / l4)[40:]
    return bytes(IP(src=src, dst=dst) / l4)[20:]


L4_PROTO = {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMPv6EchoRequest": 58, "ICMPv6EchoReply": 58}


def proto_of(l4):
    return L4_PROTO[type(l4).__name__]


def v4(ids, src, dst, proto, payload, ttl=64, opts=b"", frag=0, mf=False, df=False, bad_csum=False, ident=None):
    """An IPv4 packet as bytes, header written by hand. `frag` in 8-byte units."""
    assert len(opts) % 4 == 0
    ihl = 5 + len(opts) // 4
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | frag
    ident = ids.next() if ident is None else ident
    hdr = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        ihl * 4 + len(payload),
        ident,
        flags,
        ttl,
        proto,
        0,
        bytes(map(int, src.split("."))),
        bytes(map(int, dst.split("."))),
    ) + opts
    c = checksum(hdr)
    if bad_csum:
        c ^= 0x5A5A
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + payload


def t4(ids, src, dst, l4, **kw):
    """IPv4 around a scapy transport layer."""
    return v4(ids, src, dst, proto_of(l4), l4_bytes(src, dst, l4), **kw)


def v6(src, dst, nh, payload, hlim=64):
    return bytes(IPv6(src=src, dst=dst, nh=nh, hlim=hlim, plen=len(payload))) + payload


def t6(src, dst, l4, hlim=64):
    return v6(src, dst, proto_of(l4), l4_bytes(src, dst, l4), hlim=hlim)


def syn(sport, dport, seq=0x1000, flags="S"):
    return TCP(sport=sport, dport=dport, seq=seq, flags=flags, window=1024)


def udp(sport, dport, data=b"flypaper"):
    return UDP(sport=sport, dport=dport) / Raw(data)


def ethertype_of(ip):
    return 0x0800 if ip[0] >> 4 == 4 else 0x86DD


def bare(side, ip, **kw):
    return eth(side, ethertype_of(ip), ip, **kw)


def tagged(side, tpids, ip_or_payload, inner_type=None, **kw):
    """A frame with a stack of tags; tpids[0] is the outermost."""
    inner_type = inner_type or ethertype_of(ip_or_payload)
    body = b""
    nexts = list(tpids[1:]) + [inner_type]
    for i, nxt in enumerate(nexts):
        body += struct.pack("!HH", 100 + 10 * i, nxt)  # TCI: VID 100, 110, ...
    return eth(side, tpids[0], body + ip_or_payload, **kw)


def pppoe_session(side, ppp_proto, payload, sid=PPPOE_SID):
    ppp = struct.pack("!H", ppp_proto) + payload
    return eth(side, 0x8864, struct.pack("!BBHH", 0x11, 0, sid, len(ppp)) + ppp)


def pppoe_ip(side, ip):
    return pppoe_session(side, 0x0021 if ip[0] >> 4 == 4 else 0x0057, ip)


def pppoe_disc(side, code, sid, tags):
    body = b"".join(struct.pack("!HH", t, len(v)) + v for t, v in tags)
    dst = MAC_BCAST if code == 0x09 else None
    return eth(side, 0x8863, struct.pack("!BBHH", 0x11, code, sid, len(body)) + body, dst=dst)


def ppp_cp(code, ident, opts):
    """An LCP/IPCP/IPV6CP packet: code, identifier, length, options."""
    body = b"".join(struct.pack("!BB", t, len(v) + 2) + v for t, v in opts)
    return struct.pack("!BBH", code, ident, 4 + len(body)) + body


def mpls(side, labels, payload, ethertype=0x8847):
    stack = b""
    for i, label in enumerate(labels):
        bos = 1 if i == len(labels) - 1 else 0
        stack += struct.pack("!I", (label << 12) | (bos << 8) | 64)
    return eth(side, ethertype, stack + payload)


def gre(proto, payload, csum=False, key=None, seq=None):
    flags = (0x8000 if csum else 0) | (0x2000 if key is not None else 0) | (0x1000 if seq is not None else 0)
    hdr = struct.pack("!HH", flags, proto)
    opt = b""
    if csum:
        opt += b"\0\0\0\0"
    if key is not None:
        opt += struct.pack("!I", key)
    if seq is not None:
        opt += struct.pack("!I", seq)
    pkt = hdr + opt + payload
    if csum:
        c = checksum(pkt)
        pkt = pkt[:4] + struct.pack("!H", c) + pkt[6:]
    return pkt


def frags4(ids, src, dst, proto, payload, sizes, ident):
    """IPv4 fragments of `payload`: sizes in bytes (multiples of 8 but the last)."""
    out, off = [], 0
    for i, n in enumerate(sizes):
        last = i == len(sizes) - 1
        out.append(v4(ids, src, dst, proto, payload[off : off + n], frag=off // 8, mf=not last, ident=ident))
        off += n
    assert off == len(payload)
    return out


def frag6(src, dst, nh, chunk, off8, mf, ident):
    fh = struct.pack("!BBHI", nh, 0, (off8 << 3) | (1 if mf else 0), ident)
    return v6(src, dst, 44, fh + chunk)


def frags6(src, dst, nh, payload, sizes, ident):
    out, off = [], 0
    for i, n in enumerate(sizes):
        last = i == len(sizes) - 1
        out.append(frag6(src, dst, nh, payload[off : off + n], off // 8, not last, ident))
        off += n
    assert off == len(payload)
    return out


def lsrr_like(kind, hops):
    """A loose (131) or strict (137) source route, or record route (7)."""
    body = struct.pack("!BBB", kind, 3 + 4 * len(hops), 4) + b"".join(bytes(map(int, h.split("."))) for h in hops)
    return body + b"\0" * (-len(body) % 4)  # end-of-list padding


class Capture(Seed):
    """A capture with expectations: frames added block by block."""

    def __init__(self):
        super().__init__()
        self.flies = []

    def fly(self, addr):
        # An IPv6 fly is its source's /64 (trap.prefix_v6), listed as such.
        if ":" in addr:
            addr = str(ipaddress.ip_network(addr + "/64", strict=False))
        if addr not in self.flies:
            self.flies.append(addr)


def encap_doc(name, policy, config, notes, flies):
    return {
        "capture": name,
        "generator": "appliance/gen-captures.py",
        "policy": policy,
        "config": config,
        "lan": ["198.51.100.0/24", "2001:db8:1::/48"],
        "interfaces": ["wan", "lan"],
        "notes": [
            "frame numbers are 1-based, in file order (as Wireshark numbers them)",
            "dir is the port the frame enters from: interface 0 = wan, interface 1 = lan",
            "verdict is Verdict::as_str; reason is Reason::as_str",
            "also: a verdict accepted instead of the first (a frame on the edge of a limit)",
            "frames are fed to one Filter built from `config`, in order, with ts_ns as the clock",
            "flies: the sources that are flies at the end",
        ]
        + notes,
        "flies": flies,
    }


def drop(reason):
    return {"verdict": "drop", "reason": reason}


def block_vlan(c, ids, t):
    b, k = "vlan", 1
    S = lambda i: src4(k, i)  # noqa: E731
    Q, AD, Q9 = 0x8100, 0x88A8, 0x9100
    one, two, three, four = [Q], [AD, Q], [Q9, AD, Q], [AD, Q, Q, Q]
    c.add(b, t, WAN, tagged(WAN, one, t4(ids, S(1), LAN_SRV, syn(41001, 22))), "802.1Q: SYN %s -> 198.51.100.10:22" % S(1))
    c.add(b, t + 1 * MS, WAN, tagged(WAN, two, t4(ids, S(1), LAN_SRV, syn(41002, 22))), "802.1ad + 802.1Q: SYN to port 22")
    c.add(b, t + 2 * MS, WAN, tagged(WAN, three, t4(ids, S(1), LAN_SRV, syn(41003, 22))), "0x9100 + 802.1ad + 802.1Q (3 tags): SYN to port 22")
    c.add(b, t + 3 * MS, WAN, tagged(WAN, [AD, Q, Q], t4(ids, S(1), LAN_SRV, udp(41004, 5000))), "802.1ad + 2x 802.1Q (3 tags): UDP to port 5000")
    c.add(b, t + 4 * MS, WAN, tagged(WAN, three, t6(src6(k, 1), LAN_SRV6, syn(41005, 22))), "3 tags: IPv6 SYN to [2001:db8:1::10]:22")
    reply = TCP(sport=22, dport=41003, seq=0x2000, ack=0x1001, flags="SA", window=1024)
    c.add(b, t + 5 * MS, LAN, tagged(LAN, three, t4(ids, LAN_SRV, S(1), reply), src=MAC_LAN_SRV), "3 tags from the LAN: the SYN-ACK")
    c.add(b, t + 6 * MS, LAN, tagged(LAN, three, t4(ids, LAN_CLI, S(2), udp(41006, 53))), "3 tags from the LAN: UDP to port 53")
    arp = bytes(ARP(op=1, hwsrc=MAC_LAN_CLI, psrc=LAN_CLI, hwdst="00:00:00:00:00:00", pdst=GW))
    c.add(b, t + 7 * MS, LAN, tagged(LAN, three, arp, inner_type=0x0806, dst=MAC_BCAST), "3 tags from the LAN: ARP request")
    c.add(b, t + 8 * MS, WAN, tagged(WAN, three, b"flypaper-non-ip" * 3, inner_type=0x88B5), "3 tags: non-IP ethertype 0x88b5")
    c.add(b, t + 10 * MS, WAN, tagged(WAN, three, t4(ids, "10.1.1.1", LAN_SRV, syn(41010, 80))), "3 tags: SYN from bogon 10.1.1.1", **drop("bogon-src"))
    c.add(b, t + 11 * MS, WAN, tagged(WAN, three, t6("fd00::1:1", LAN_SRV6, syn(41011, 80))), "3 tags: IPv6 SYN from bogon fd00::1:1", **drop("bogon-src"))
    c.add(b, t + 12 * MS, WAN, tagged(WAN, three, t4(ids, S(3), LAN_SRV, syn(41012, 80, flags="SF"))), "3 tags: SYN+FIN from %s" % S(3), **drop("tcp-flags"))
    c.add(b, t + 13 * MS, WAN, tagged(WAN, three, t4(ids, S(4), LAN_SRV, syn(41013, 139))), "3 tags: SYN from %s to trap port 139" % S(4), **drop("trap"))
    c.fly(S(4))
    c.add(b, t + 14 * MS, WAN, bare(WAN, t4(ids, S(4), LAN_SRV, syn(41014, 22))), "untagged SYN from the fly %s to port 22" % S(4), **drop("fly"))
    c.add(b, t + 15 * MS, WAN, tagged(WAN, three, t4(ids, S(4), LAN_SRV, syn(41015, 22))), "3 tags: SYN from the fly to port 22", **drop("fly"))
    c.add(b, t + 16 * MS, WAN, tagged(WAN, one, t4(ids, S(4), LAN_SRV, syn(41016, 80))), "802.1Q: SYN from the fly to port 80", **drop("fly"))
    c.add(b, t + 17 * MS, WAN, tagged(WAN, three, t6(src6(k, 4), LAN_SRV6, syn(41017, 139))), "3 tags: IPv6 SYN from %s to trap port 139" % src6(k, 4), **drop("trap"))
    c.fly(src6(k, 4))
    c.add(b, t + 18 * MS, WAN, bare(WAN, t6(src6(k, 4), LAN_SRV6, syn(41018, 22))), "untagged IPv6 SYN from the fly to port 22", **drop("fly"))
    c.add(b, t + 20 * MS, LAN, tagged(LAN, three, t4(ids, S(5), WEB, syn(41020, 80))), "3 tags from the LAN: SYN from non-LAN %s" % S(5), **drop("spoofed"))
    c.add(b, t + 21 * MS, WAN, tagged(WAN, three, t4(ids, "198.51.100.77", LAN_SRV, syn(41021, 80))), "3 tags from the WAN: SYN from LAN address 198.51.100.77", **drop("spoofed"))
    c.add(b, t + 22 * MS, WAN, tagged(WAN, four, t4(ids, S(6), LAN_SRV, syn(41022, 22))), "4 tags: SYN to port 22", **drop("malformed"))
    c.add(b, t + 23 * MS, WAN, tagged(WAN, [Q, Q, Q, Q], t6(src6(k, 6), LAN_SRV6, syn(41023, 22))), "4 x 802.1Q: IPv6 SYN to port 22", **drop("malformed"))
    c.add(b, t + 24 * MS, LAN, tagged(LAN, four, t4(ids, LAN_CLI, S(7), syn(41024, 80))), "4 tags from the LAN: SYN to port 80", **drop("malformed"))


def block_pppoe(c, ids, t):
    b, k = "pppoe", 2
    S = lambda i: src4(k, i)  # noqa: E731
    host_uniq = (0x0103, b"\x46\x50\x00\x01")
    svc = (0x0101, b"")
    ac = (0x0102, b"flypaper-bras")
    c.add(b, t, LAN, pppoe_disc(LAN, 0x09, 0, [svc, host_uniq]), "PPPoE discovery: PADI (broadcast)")
    c.add(b, t + 1 * MS, WAN, pppoe_disc(WAN, 0x07, 0, [svc, ac, host_uniq]), "PPPoE discovery: PADO")
    c.add(b, t + 2 * MS, LAN, pppoe_disc(LAN, 0x19, 0, [svc, host_uniq]), "PPPoE discovery: PADR")
    c.add(b, t + 3 * MS, WAN, pppoe_disc(WAN, 0x65, PPPOE_SID, [svc, host_uniq]), "PPPoE discovery: PADS, session 0x1234")
    mru = (1, struct.pack("!H", 1492))
    magic = (5, struct.pack("!I", 0x46500001))
    c.add(b, t + 4 * MS, LAN, pppoe_session(LAN, 0xC021, ppp_cp(1, 1, [mru, magic])), "PPP LCP Configure-Request from the LAN")
    c.add(b, t + 5 * MS, WAN, pppoe_session(WAN, 0xC021, ppp_cp(1, 1, [mru, (5, struct.pack("!I", 0x46500002))])), "PPP LCP Configure-Request from the WAN")
    c.add(b, t + 6 * MS, WAN, pppoe_session(WAN, 0xC021, ppp_cp(2, 1, [mru, magic])), "PPP LCP Configure-Ack from the WAN")
    c.add(b, t + 7 * MS, LAN, pppoe_session(LAN, 0x8021, ppp_cp(1, 2, [(3, bytes([0, 0, 0, 0]))])), "PPP IPCP Configure-Request from the LAN")
    c.add(b, t + 8 * MS, WAN, pppoe_session(WAN, 0x8021, ppp_cp(3, 2, [(3, bytes([198, 51, 100, 20]))])), "PPP IPCP Configure-Nak from the WAN (address 198.51.100.20)")
    c.add(b, t + 9 * MS, LAN, pppoe_session(LAN, 0x8057, ppp_cp(1, 3, [(1, bytes.fromhex("02f10000000120ff"))])), "PPP IPV6CP Configure-Request from the LAN")
    # Outbound HTTP inside the session.
    web = Tcp(ids, LAN_CLI, 40100, S(1), 80, LAN, 0x40100000, 0x01000000)
    script = web.handshake() + [web.seg(True, "PA", b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), web.seg(False, "PA", b"HTTP/1.1 204 No Content\r\n\r\n")]
    for i, ((side, frame), name) in enumerate(zip(script, ["SYN", "SYN-ACK", "ACK", "request", "response"])):
        c.add(b, t + (10 + i) * MS, side, pppoe_ip(side, frame[14:14 + ip_len(frame[14:])]), "PPPoE IPv4: outbound HTTP 198.51.100.20:40100 -> %s:80: %s" % (S(1), name))
    ssh = Tcp(ids, S(2), 50100, LAN_SRV, 22, WAN, 0x50100000, 0x02000000)
    for i, ((side, frame), name) in enumerate(zip(ssh.handshake(), ["SYN", "SYN-ACK", "ACK"])):
        c.add(b, t + (20 + i) * MS, side, pppoe_ip(side, frame[14:14 + ip_len(frame[14:])]), "PPPoE IPv4: inbound SSH %s:50100 -> 198.51.100.10:22: %s" % (S(2), name))
    ssh6 = Tcp(ids, src6(k, 2), 50101, LAN_SRV6, 22, WAN, 0x50101000, 0x02001000, v6=True)
    for i, ((side, frame), name) in enumerate(zip(ssh6.handshake(), ["SYN", "SYN-ACK", "ACK"])):
        c.add(b, t + (25 + i) * MS, side, pppoe_ip(side, frame[14:14 + ip_len(frame[14:])]), "PPPoE IPv6: inbound SSH [%s]:50101 -> [2001:db8:1::10]:22: %s" % (src6(k, 2), name))
    ping = ICMP(type=8, id=0x0202, seq=1) / Raw(b"flypaper-pppoe-ping")
    c.add(b, t + 30 * MS, WAN, pppoe_ip(WAN, t4(ids, S(2), LAN_SRV, ping)), "PPPoE IPv4: echo request %s -> 198.51.100.10" % S(2))
    pong = ICMP(type=0, id=0x0202, seq=1) / Raw(b"flypaper-pppoe-ping")
    c.add(b, t + 31 * MS, LAN, pppoe_ip(LAN, t4(ids, LAN_SRV, S(2), pong)), "PPPoE IPv4: echo reply")
    # Attacks inside the session.
    c.add(b, t + 40 * MS, WAN, pppoe_ip(WAN, t4(ids, "10.2.0.1", LAN_SRV, syn(42001, 80))), "PPPoE IPv4: SYN from bogon 10.2.0.1", **drop("bogon-src"))
    c.add(b, t + 41 * MS, WAN, pppoe_ip(WAN, t4(ids, "192.168.2.1", LAN_SRV, syn(42002, 80))), "PPPoE IPv4: SYN from bogon 192.168.2.1", **drop("bogon-src"))
    c.add(b, t + 42 * MS, WAN, pppoe_ip(WAN, t6("fd00::2:1", LAN_SRV6, syn(42003, 80))), "PPPoE IPv6: SYN from bogon fd00::2:1", **drop("bogon-src"))
    c.add(b, t + 43 * MS, WAN, pppoe_ip(WAN, t4(ids, S(3), LAN_SRV, syn(42004, 80, flags="SF"))), "PPPoE IPv4: SYN+FIN from %s" % S(3), **drop("tcp-flags"))
    c.add(b, t + 44 * MS, WAN, pppoe_ip(WAN, t6(src6(k, 3), LAN_SRV6, syn(42005, 80, flags="SF"))), "PPPoE IPv6: SYN+FIN from %s" % src6(k, 3), **drop("tcp-flags"))
    c.add(b, t + 45 * MS, WAN, pppoe_ip(WAN, t4(ids, S(4), LAN_SRV, syn(42006, 139))), "PPPoE IPv4: SYN from %s to trap port 139" % S(4), **drop("trap"))
    c.fly(S(4))
    c.add(b, t + 46 * MS, WAN, pppoe_ip(WAN, t4(ids, S(4), LAN_SRV, syn(42007, 22))), "PPPoE IPv4: SYN from the fly to port 22", **drop("fly"))
    c.add(b, t + 47 * MS, WAN, bare(WAN, t4(ids, S(4), LAN_SRV, syn(42008, 22))), "bare IPv4: SYN from the fly to port 22", **drop("fly"))
    c.add(b, t + 48 * MS, WAN, pppoe_ip(WAN, t4(ids, S(4), LAN_SRV, ping)), "PPPoE IPv4: echo request from the fly", **drop("fly"))
    c.add(b, t + 49 * MS, WAN, pppoe_ip(WAN, t6(src6(k, 4), LAN_SRV6, syn(42009, 139))), "PPPoE IPv6: SYN from %s to trap port 139" % src6(k, 4), **drop("trap"))
    c.fly(src6(k, 4))
    c.add(b, t + 50 * MS, WAN, pppoe_ip(WAN, t6(src6(k, 4), LAN_SRV6, syn(42010, 22))), "PPPoE IPv6: SYN from the fly to port 22", **drop("fly"))
    c.add(b, t + 51 * MS, LAN, pppoe_ip(LAN, t4(ids, S(5), WEB, syn(42011, 80))), "PPPoE IPv4 from the LAN: SYN from non-LAN %s" % S(5), **drop("spoofed"))
    c.add(b, t + 52 * MS, WAN, pppoe_ip(WAN, t4(ids, "198.51.100.77", LAN_SRV, syn(42012, 80))), "PPPoE IPv4 from the WAN: SYN from LAN address 198.51.100.77", **drop("spoofed"))


def ip_len(ip):
    """Length of the IP packet at the start of `ip` (without Ethernet padding)."""
    if ip[0] >> 4 == 4:
        return struct.unpack("!H", ip[2:4])[0]
    return 40 + struct.unpack("!H", ip[4:6])[0]


def block_mpls(c, ids, t):
    b, k = "mpls", 3
    S = lambda i: src4(k, i)  # noqa: E731
    c.add(b, t, WAN, mpls(WAN, [100], t4(ids, S(1), LAN_SRV, syn(43001, 22))), "MPLS (1 label): SYN %s -> 198.51.100.10:22" % S(1))
    c.add(b, t + 1 * MS, WAN, mpls(WAN, [100, 200], t4(ids, S(1), LAN_SRV, udp(43002, 5000))), "MPLS (2 labels): UDP to port 5000")
    c.add(b, t + 2 * MS, WAN, mpls(WAN, list(range(100, 108)), t4(ids, S(1), LAN_SRV, syn(43003, 22))), "MPLS (8 labels): SYN to port 22")
    c.add(b, t + 3 * MS, WAN, mpls(WAN, [300], t4(ids, S(1), LAN_SRV, udp(43004, 5000)), ethertype=0x8848), "MPLS multicast 0x8848: UDP to port 5000")
    c.add(b, t + 4 * MS, WAN, mpls(WAN, [100, 200], t6(src6(k, 1), LAN_SRV6, syn(43005, 22))), "MPLS (2 labels): IPv6 SYN to [2001:db8:1::10]:22")
    reply = TCP(sport=22, dport=43001, seq=0x3000, ack=0x1001, flags="SA", window=1024)
    c.add(b, t + 5 * MS, LAN, mpls(LAN, [400, 500], t4(ids, LAN_SRV, S(1), reply)), "MPLS from the LAN: the SYN-ACK")
    c.add(b, t + 6 * MS, LAN, mpls(LAN, [400], t6(LAN_CLI6, src6(k, 2), udp(43006, 53))), "MPLS from the LAN: IPv6 UDP to port 53")
    inner = bytes(Ether(src=MAC_LAN_CLI, dst="02:f1:00:00:02:01") / IP(src="192.0.2.1", dst="192.0.2.2", id=0x4300) / UDP(sport=7, dport=7))
    pw = b"\0\0\0\x01" + inner  # pseudowire control word (first nibble 0), then an Ethernet frame
    c.add(b, t + 7 * MS, LAN, mpls(LAN, [600, 700], pw), "MPLS from the LAN: Ethernet pseudowire with control word")
    c.add(b, t + 8 * MS, WAN, mpls(WAN, [600, 700], pw), "MPLS from the WAN: Ethernet pseudowire with control word (not IP)", **drop("mpls"))
    c.add(b, t + 9 * MS, WAN, mpls(WAN, list(range(100, 109)), t4(ids, S(6), LAN_SRV, syn(43009, 22))), "MPLS (9 labels): SYN to port 22", **drop("malformed"))
    c.add(b, t + 10 * MS, WAN, mpls(WAN, [100, 200], t4(ids, "10.3.0.1", LAN_SRV, syn(43010, 80))), "MPLS: SYN from bogon 10.3.0.1", **drop("bogon-src"))
    c.add(b, t + 11 * MS, WAN, mpls(WAN, [100], t6("fd00::3:1", LAN_SRV6, syn(43011, 80))), "MPLS: IPv6 SYN from bogon fd00::3:1", **drop("bogon-src"))
    c.add(b, t + 12 * MS, WAN, mpls(WAN, [100, 200], t4(ids, S(3), LAN_SRV, syn(43012, 80, flags="SF"))), "MPLS: SYN+FIN from %s" % S(3), **drop("tcp-flags"))
    c.add(b, t + 13 * MS, WAN, mpls(WAN, [100, 200], t4(ids, S(4), LAN_SRV, syn(43013, 139))), "MPLS: SYN from %s to trap port 139" % S(4), **drop("trap"))
    c.fly(S(4))
    c.add(b, t + 14 * MS, WAN, mpls(WAN, [100, 200], t4(ids, S(4), LAN_SRV, syn(43014, 22))), "MPLS: SYN from the fly to port 22", **drop("fly"))
    c.add(b, t + 15 * MS, WAN, bare(WAN, t4(ids, S(4), LAN_SRV, syn(43015, 22))), "bare: SYN from the fly to port 22", **drop("fly"))
    c.add(b, t + 16 * MS, LAN, mpls(LAN, [400], t4(ids, S(5), WEB, syn(43016, 80))), "MPLS from the LAN: SYN from non-LAN %s" % S(5), **drop("spoofed"))


def block_tunnel(c, ids, t):
    b, k = "tunnel", 4
    S = lambda i: src4(k, i)  # noqa: E731
    T, T6 = S(1), src6(k, 1)  # the WAN tunnel endpoints
    ipip = lambda inner, outer=T: v4(ids, outer, LAN_SRV, 4, inner)  # noqa: E731
    sit = lambda inner, outer=T: v4(ids, outer, LAN_SRV, 41, inner)  # noqa: E731
    gre4 = lambda inner, **kw: v4(ids, T, LAN_SRV, 47, gre(ethertype_of(inner), inner, **kw))  # noqa: E731
    gre6 = lambda inner: v6(T6, LAN_SRV6, 47, gre(ethertype_of(inner), inner))  # noqa: E731
    in6 = lambda inner: v6(T6, LAN_SRV6, 4 if inner[0] >> 4 == 4 else 41, inner)  # noqa: E731
    c.add(b, t, WAN, bare(WAN, ipip(t4(ids, S(2), LAN_CLI, syn(44001, 22)))), "IPIP %s -> 198.51.100.10, inner SYN %s -> 198.51.100.20:22" % (T, S(2)))
    c.add(b, t + 1 * MS, WAN, bare(WAN, sit(t6(src6(k, 2), LAN_CLI6, syn(44002, 22)))), "6in4: inner IPv6 SYN to [2001:db8:1::20]:22")
    c.add(b, t + 2 * MS, WAN, bare(WAN, gre4(t4(ids, S(2), LAN_CLI, udp(44003, 5000)))), "GRE (IPv4): inner UDP to 198.51.100.20:5000")
    c.add(b, t + 3 * MS, WAN, bare(WAN, gre4(t4(ids, S(2), LAN_CLI, syn(44004, 22)), csum=True, key=0x44, seq=1)), "GRE with checksum, key and sequence: inner SYN to port 22")
    c.add(b, t + 4 * MS, WAN, bare(WAN, gre4(t6(src6(k, 2), LAN_CLI6, udp(44005, 5000)))), "GRE (IPv4) payload 0x86dd: inner IPv6 UDP to port 5000")
    c.add(b, t + 5 * MS, WAN, bare(WAN, gre6(t4(ids, S(2), LAN_CLI, udp(44006, 5000)))), "GRE over IPv6 %s -> 2001:db8:1::10: inner IPv4 UDP" % T6)
    c.add(b, t + 6 * MS, WAN, bare(WAN, in6(t4(ids, S(2), LAN_CLI, syn(44007, 22)))), "4in6: inner IPv4 SYN to port 22")
    c.add(b, t + 7 * MS, WAN, bare(WAN, in6(t6(src6(k, 2), LAN_CLI6, syn(44008, 22)))), "6in6: inner IPv6 SYN to port 22")
    reply = TCP(sport=22, dport=44001, seq=0x4000, ack=0x1001, flags="SA", window=1024)
    c.add(b, t + 8 * MS, LAN, bare(LAN, v4(ids, LAN_SRV, T, 4, t4(ids, LAN_CLI, S(2), reply))), "IPIP from the LAN: the inner SYN-ACK")
    c.add(b, t + 9 * MS, LAN, bare(LAN, v4(ids, LAN_SRV, T, 4, t4(ids, "10.4.0.9", S(2), syn(44009, 80, flags="SF")))), "IPIP from the LAN (inner addresses not checked, inner flags are): inner SYN+FIN from 10.4.0.9", **drop("tcp-flags"))
    nested = v4(ids, LAN_CLI, S(2), 4, t4(ids, LAN_CLI, S(2), udp(44010, 5000)))
    c.add(b, t + 10 * MS, LAN, bare(LAN, v4(ids, LAN_SRV, T, 47, gre(0x0800, nested))), "GRE from the LAN: IPIP inside GRE (a second level is not looked into)")
    # Attacks inside tunnels.
    c.add(b, t + 20 * MS, WAN, bare(WAN, ipip(t4(ids, "10.4.0.1", LAN_CLI, syn(44020, 80)))), "IPIP: inner SYN from bogon 10.4.0.1", **drop("bogon-src"))
    c.add(b, t + 21 * MS, WAN, bare(WAN, sit(t6("fd00::4:1", LAN_CLI6, syn(44021, 80)))), "6in4: inner IPv6 SYN from bogon fd00::4:1", **drop("bogon-src"))
    c.add(b, t + 22 * MS, WAN, bare(WAN, gre4(t4(ids, S(3), LAN_CLI, syn(44022, 80, flags="SF")))), "GRE: inner SYN+FIN from %s" % S(3), **drop("tcp-flags"))
    c.add(b, t + 23 * MS, WAN, bare(WAN, in6(t6(src6(k, 3), LAN_CLI6, syn(44023, 80, flags="SF")))), "6in6: inner IPv6 SYN+FIN from %s" % src6(k, 3), **drop("tcp-flags"))
    c.add(b, t + 24 * MS, WAN, bare(WAN, ipip(t4(ids, "198.51.100.77", LAN_CLI, syn(44024, 80)))), "IPIP: inner SYN from LAN address 198.51.100.77", **drop("spoofed"))
    c.add(b, t + 25 * MS, WAN, bare(WAN, ipip(t4(ids, S(5), LAN_CLI, syn(44025, 22)), outer="10.4.0.2")), "IPIP from bogon outer source 10.4.0.2, legitimate inner SYN", **drop("bogon-src"))
    c.add(b, t + 30 * MS, WAN, bare(WAN, ipip(t4(ids, S(4), LAN_CLI, syn(44030, 139)))), "IPIP: inner SYN from %s to trap port 139" % S(4), **drop("trap"))
    c.fly(S(4))
    c.add(b, t + 31 * MS, WAN, bare(WAN, t4(ids, S(4), LAN_SRV, syn(44031, 22))), "bare SYN from the inner source (now a fly) %s to port 22" % S(4), **drop("fly"))
    c.add(b, t + 32 * MS, WAN, bare(WAN, gre4(t4(ids, S(4), LAN_CLI, udp(44032, 5000)))), "GRE: inner UDP from the fly", **drop("fly"))
    c.add(b, t + 33 * MS, WAN, bare(WAN, t4(ids, T, LAN_SRV, syn(44033, 22))), "bare SYN from the outer source %s (not a fly) to port 22" % T)
    c.add(b, t + 34 * MS, WAN, bare(WAN, ipip(t4(ids, S(5), LAN_CLI, syn(44034, 22)))), "IPIP from the same endpoint, another inner source %s: SYN to port 22" % S(5))
    c.add(b, t + 35 * MS, WAN, bare(WAN, sit(t6(src6(k, 6), LAN_CLI6, syn(44035, 139)))), "6in4: inner IPv6 SYN from %s to trap port 139" % src6(k, 6), **drop("trap"))
    c.fly(src6(k, 6))
    c.add(b, t + 36 * MS, WAN, bare(WAN, t6(src6(k, 6), LAN_SRV6, syn(44036, 22))), "bare IPv6 SYN from the inner source (now a fly) to port 22", **drop("fly"))
    c.add(b, t + 37 * MS, WAN, bare(WAN, in6(t4(ids, S(7), LAN_CLI, syn(44037, 139)))), "4in6: inner IPv4 SYN from %s to trap port 139" % S(7), **drop("trap"))
    c.fly(S(7))
    c.add(b, t + 38 * MS, WAN, bare(WAN, t4(ids, S(7), LAN_SRV, syn(44038, 22))), "bare SYN from the fly %s to port 22" % S(7), **drop("fly"))
    c.add(b, t + 39 * MS, WAN, bare(WAN, t6(T6, LAN_SRV6, syn(44039, 22))), "bare IPv6 SYN from the outer source %s (not a fly)" % T6)
    # A tunnel inside a tunnel.
    legit = t4(ids, S(8), LAN_CLI, syn(44040, 22))
    c.add(b, t + 40 * MS, WAN, bare(WAN, gre4(v4(ids, S(8), LAN_CLI, 4, legit))), "GRE carrying IPIP (a tunnel inside a tunnel)", **drop("tunnel"))
    c.add(b, t + 41 * MS, WAN, bare(WAN, ipip(v4(ids, S(8), LAN_CLI, 4, legit))), "IPIP inside IPIP", **drop("tunnel"))
    c.add(b, t + 42 * MS, WAN, bare(WAN, ipip(v4(ids, S(8), LAN_CLI, 41, t6(src6(k, 8), LAN_CLI6, syn(44042, 22))))), "6in4 inside IPIP", **drop("tunnel"))
    c.add(b, t + 43 * MS, WAN, bare(WAN, in6(v6(src6(k, 8), LAN_CLI6, 41, t6(src6(k, 9), LAN_CLI6, syn(44043, 22))))), "6in6 inside 6in6", **drop("tunnel"))


def block_fragment(c, ids, t):
    """IPv4 fragments."""
    b, k = "fragment", 5
    S = lambda i: src4(k, i)  # noqa: E731
    n = [0]

    def add(side, ip, what, **kw):
        c.add(b, t + n[0] * MS, side, bare(side, ip), what, **kw)
        n[0] += 1

    data = l4_bytes(S(1), LAN_SRV, udp(45001, 5000, b"F" * 48))  # 56 bytes
    for i, f in enumerate(frags4(ids, S(1), LAN_SRV, 17, data, [24, 24, 8], 0x4501)):
        add(WAN, f, "UDP %s -> 198.51.100.10:5000 in 3 fragments: fragment %d" % (S(1), i + 1))
    ping = l4_bytes(S(2), LAN_SRV, ICMP(type=8, id=0x4502, seq=1) / Raw(b"P" * 40))  # 48 bytes
    for i, f in enumerate(frags4(ids, S(2), LAN_SRV, 1, ping, [24, 24], 0x4502)):
        add(WAN, f, "echo request %s -> 198.51.100.10 in 2 fragments: fragment %d" % (S(2), i + 1))
    pong = l4_bytes(LAN_SRV, S(2), ICMP(type=0, id=0x4502, seq=1) / Raw(b"P" * 40))
    for i, f in enumerate(frags4(ids, LAN_SRV, S(2), 1, pong, [24, 24], 0x4503)):
        add(LAN, f, "echo reply in 2 fragments (from the LAN): fragment %d" % (i + 1))
    out = l4_bytes(LAN_CLI, S(1), udp(45004, 5000, b"O" * 40))
    for i, f in enumerate(frags4(ids, LAN_CLI, S(1), 17, out, [32, 16], 0x4504)):
        add(LAN, f, "UDP 198.51.100.20 -> %s in 2 fragments (from the LAN): fragment %d" % (S(1), i + 1))
    seg = l4_bytes(S(10), LAN_SRV, syn(45005, 22) / Raw(b"T" * 20))  # 40 bytes
    for i, f in enumerate(frags4(ids, S(10), LAN_SRV, 6, seg, [24, 16], 0x4505)):
        add(WAN, f, "TCP SYN %s -> 198.51.100.10:22 in 2 fragments: fragment %d" % (S(10), i + 1))
    # Negative cases.
    seg = l4_bytes(S(3), LAN_SRV, syn(45006, 80) / Raw(b"T" * 20))
    add(WAN, v4(ids, S(3), LAN_SRV, 6, seg[:8], mf=True, ident=0x4506), "TCP first fragment with 8 bytes (no room for the TCP header)", **drop("frag-tiny"))
    seg = l4_bytes(S(4), LAN_SRV, syn(45007, 80) / Raw(b"T" * 20))
    add(WAN, v4(ids, S(4), LAN_SRV, 6, seg[:24], mf=True, ident=0x4507), "TCP first fragment (24 bytes) %s -> port 80" % S(4))
    add(WAN, v4(ids, S(4), LAN_SRV, 6, b"\x50\x02\x04\x00" + seg[16:24] + b"TTTT", frag=1, ident=0x4507), "TCP fragment at offset 1 (8 bytes): rewrites the TCP header", **drop("frag-overlap"))
    seg = l4_bytes(S(5), LAN_SRV, syn(45008, 80) / Raw(b"T" * 20))
    add(WAN, v4(ids, S(5), LAN_SRV, 6, seg[:24], mf=True, ident=0x4508), "TCP first fragment (24 bytes) %s -> port 80" % S(5))
    add(WAN, v4(ids, S(5), LAN_SRV, 6, seg[16:40], frag=2, ident=0x4508), "later fragment at offset 2 (16 bytes): overlaps the TCP header", **drop("frag-overlap"))
    data = l4_bytes(S(6), LAN_SRV, udp(45009, 5000, b"G" * 40))
    add(WAN, v4(ids, S(6), LAN_SRV, 17, data[:24], mf=True, ident=0x4509), "UDP first fragment %s -> port 5000" % S(6))
    add(WAN, v4(ids, S(6), LAN_SRV, 17, b"G" * 48, frag=8189, ident=0x4509), "fragment at offset 65512 with 48 bytes: past 65535", **drop("frag-too-big"))
    add(WAN, v4(ids, S(7), LAN_SRV, 17, b"H" * 24, frag=100, mf=True, ident=0x450A), "fragment at offset 800 of a datagram whose first fragment was never seen", **drop("frag-orphan"))
    add(WAN, v4(ids, S(7), LAN_SRV, 17, b"H" * 16, frag=103, ident=0x450A), "the next fragment of that orphan", **drop("frag-orphan"))
    seg = l4_bytes(S(8), LAN_SRV, syn(45011, 80, flags="SF") / Raw(b"T" * 28))  # 48 bytes
    add(WAN, v4(ids, S(8), LAN_SRV, 6, seg[:24], mf=True, ident=0x450B), "TCP first fragment with SYN+FIN from %s" % S(8), **drop("tcp-flags"))
    add(WAN, v4(ids, S(8), LAN_SRV, 6, seg[24:48], frag=3, ident=0x450B), "its later fragment", **drop("frag-after-drop"))
    seg = l4_bytes(S(9), LAN_SRV, syn(45012, 139) / Raw(b"T" * 28))
    add(WAN, v4(ids, S(9), LAN_SRV, 6, seg[:24], mf=True, ident=0x450C), "TCP first fragment: SYN from %s to trap port 139" % S(9), **drop("trap"))
    c.fly(S(9))
    add(WAN, v4(ids, S(9), LAN_SRV, 6, seg[24:48], frag=3, ident=0x450C), "its later fragment (the source is a fly)", **drop("fly"))


def block_fragment6(c, ids, t):
    """IPv6 fragment headers."""
    b, k = "fragment6", 6
    S = lambda i: src6(k, i)  # noqa: E731
    n = [0]

    def add(side, ip, what, **kw):
        c.add(b, t + n[0] * MS, side, bare(side, ip), what, **kw)
        n[0] += 1

    data = l4_bytes(S(1), LAN_SRV6, udp(46001, 5000, b"F" * 48))
    for i, f in enumerate(frags6(S(1), LAN_SRV6, 17, data, [24, 24, 8], 0x4601)):
        add(WAN, f, "IPv6 UDP [%s] -> [2001:db8:1::10]:5000 in 3 fragments: fragment %d" % (S(1), i + 1))
    out = l4_bytes(LAN_CLI6, S(1), udp(46002, 5000, b"O" * 40))
    for i, f in enumerate(frags6(LAN_CLI6, S(1), 17, out, [32, 16], 0x4602)):
        add(LAN, f, "IPv6 UDP from the LAN in 2 fragments: fragment %d" % (i + 1))
    seg = l4_bytes(S(10), LAN_SRV6, syn(46003, 22) / Raw(b"T" * 20))
    for i, f in enumerate(frags6(S(10), LAN_SRV6, 6, seg, [24, 16], 0x4603)):
        add(WAN, f, "IPv6 TCP SYN [%s] -> port 22 in 2 fragments: fragment %d" % (S(10), i + 1))
    seg = l4_bytes(S(3), LAN_SRV6, syn(46004, 80) / Raw(b"T" * 20))
    add(WAN, frag6(S(3), LAN_SRV6, 6, seg[:8], 0, True, 0x4604), "IPv6 TCP first fragment with 8 bytes", **drop("frag-tiny"))
    seg = l4_bytes(S(4), LAN_SRV6, syn(46005, 80) / Raw(b"T" * 20))
    add(WAN, frag6(S(4), LAN_SRV6, 6, seg[:24], 0, True, 0x4605), "IPv6 TCP first fragment (24 bytes) [%s] -> port 80" % S(4))
    add(WAN, frag6(S(4), LAN_SRV6, 6, b"\x50\x02\x04\x00" + seg[16:24] + b"TTTT", 1, False, 0x4605), "IPv6 TCP fragment at offset 1 (8 bytes)", **drop("frag-overlap"))
    seg = l4_bytes(S(5), LAN_SRV6, syn(46006, 80) / Raw(b"T" * 20))
    add(WAN, frag6(S(5), LAN_SRV6, 6, seg[:24], 0, True, 0x4606), "IPv6 TCP first fragment (24 bytes) [%s] -> port 80" % S(5))
    add(WAN, frag6(S(5), LAN_SRV6, 6, seg[16:40], 2, False, 0x4606), "IPv6 later fragment at offset 2: overlaps the TCP header", **drop("frag-overlap"))
    data = l4_bytes(S(6), LAN_SRV6, udp(46007, 5000, b"G" * 40))
    add(WAN, frag6(S(6), LAN_SRV6, 17, data[:24], 0, True, 0x4607), "IPv6 UDP first fragment [%s]" % S(6))
    add(WAN, frag6(S(6), LAN_SRV6, 17, b"G" * 48, 8189, False, 0x4607), "IPv6 fragment at offset 65512 with 48 bytes", **drop("frag-too-big"))
    add(WAN, frag6(S(7), LAN_SRV6, 17, b"H" * 24, 100, True, 0x4608), "IPv6 fragment of a packet whose first fragment was never seen", **drop("frag-orphan"))
    seg = l4_bytes(S(8), LAN_SRV6, syn(46009, 80, flags="SF") / Raw(b"T" * 28))
    add(WAN, frag6(S(8), LAN_SRV6, 6, seg[:24], 0, True, 0x4609), "IPv6 TCP first fragment with SYN+FIN", **drop("tcp-flags"))
    add(WAN, frag6(S(8), LAN_SRV6, 6, seg[24:48], 3, False, 0x4609), "its later fragment", **drop("frag-after-drop"))
    seg = l4_bytes(S(9), LAN_SRV6, syn(46010, 139) / Raw(b"T" * 28))
    add(WAN, frag6(S(9), LAN_SRV6, 6, seg[:24], 0, True, 0x460A), "IPv6 TCP first fragment: SYN to trap port 139", **drop("trap"))
    c.fly(S(9))
    add(WAN, frag6(S(9), LAN_SRV6, 6, seg[24:48], 3, False, 0x460A), "its later fragment (the source is a fly)", **drop("fly"))


def block_ip_header(c, ids, t):
    b, k = "ip-header", 7
    S = lambda i: src4(k, i)  # noqa: E731
    n = [0]

    def add(side, ip, what, **kw):
        c.add(b, t + n[0] * MS, side, bare(side, ip), what, **kw)
        n[0] += 1

    add(WAN, t4(ids, S(1), LAN_SRV, syn(47001, 80), opts=lsrr_like(131, ["203.0.113.1", LAN_SRV])), "SYN with a loose source route (option 131)", **drop("source-route"))
    add(WAN, t4(ids, S(2), LAN_SRV, syn(47002, 80), opts=lsrr_like(137, ["203.0.113.1", LAN_SRV])), "SYN with a strict source route (option 137)", **drop("source-route"))
    add(WAN, t4(ids, S(3), LAN_SRV, syn(47003, 80), opts=lsrr_like(7, ["0.0.0.0", "0.0.0.0"])), "SYN with a record-route option (7)")
    add(WAN, t4(ids, S(3), LAN_SRV, syn(47004, 80), opts=b"\x01\x01\x01\x00"), "SYN with NOP, NOP, NOP, end-of-list options")
    add(WAN, t4(ids, S(4), LAN_SRV, syn(47005, 80), opts=b"\x07\x00\x00\x00"), "IPv4 option with length 0", **drop("malformed"))
    add(WAN, t4(ids, S(5), LAN_SRV, syn(47006, 80), opts=b"\x01\x07\x01\x00"), "IPv4 option with length 1", **drop("malformed"))
    add(WAN, t4(ids, S(6), LAN_SRV, syn(47007, 80), opts=b"\x07\x0b\x04\x00"), "IPv4 option of 11 bytes in a 4-byte option area", **drop("malformed"))
    add(WAN, t4(ids, S(7), LAN_SRV, syn(47008, 80), ttl=0), "SYN with TTL 0", **drop("ttl-zero"))
    add(WAN, t4(ids, S(7), LAN_SRV, syn(47009, 80), ttl=1), "SYN with TTL 1")
    add(WAN, t6(src6(k, 7), LAN_SRV6, syn(47010, 80), hlim=0), "IPv6 SYN with hop limit 0", **drop("ttl-zero"))
    add(WAN, t6(src6(k, 7), LAN_SRV6, syn(47011, 80), hlim=1), "IPv6 SYN with hop limit 1")
    rh0 = bytes(IPv6ExtHdrRouting(nh=6, type=0, segleft=1, addresses=[LAN_SRV6]))
    add(WAN, v6(src6(k, 8), LAN_CLI6, 43, rh0 + l4_bytes(src6(k, 8), LAN_SRV6, syn(47012, 80))), "IPv6 routing header type 0 (segments left 1)", **drop("source-route"))
    rh2 = struct.pack("!BBBBI", 6, 2, 2, 1, 0) + IPv6Addr(LAN_SRV6)
    add(WAN, v6(src6(k, 9), "2001:db8:1::99", 43, rh2 + l4_bytes(src6(k, 9), LAN_SRV6, syn(47013, 80))), "IPv6 routing header type 2 (mobile IPv6 home address)")
    add(WAN, t4(ids, S(9), LAN_SRV, syn(47014, 139), bad_csum=True), "SYN to trap port 139 with a bad IPv4 header checksum", **drop("malformed"))
    add(WAN, t4(ids, S(9), LAN_SRV, syn(47015, 22)), "then a good SYN from the same source %s to port 22 (no fly was made)" % S(9))
    add(WAN, t4(ids, S(10), LAN_SRV, udp(47016, 5000), bad_csum=True), "UDP with a bad IPv4 header checksum", **drop("malformed"))
    add(LAN, t4(ids, LAN_CLI, S(10), udp(47017, 5000), bad_csum=True), "UDP from the LAN with a bad IPv4 header checksum", **drop("malformed"))


def IPv6Addr(a):
    return socket.inet_pton(socket.AF_INET6, a)


def block_icmp(c, ids, t):
    b, k = "icmp", 8
    S = lambda i: src4(k, i)  # noqa: E731
    n = [0]

    def add(side, ip, what, **kw):
        c.add(b, t + n[0] * MS, side, bare(side, ip, **({"dst": kw.pop("dst")} if "dst" in kw else {})), what, **kw)
        n[0] += 1

    quoted = v4(ids, LAN_SRV, "203.0.113.200", 17, b"\x13\x88\x13\x88\x00\x08\x00\x00")
    add(WAN, t4(ids, S(1), LAN_SRV, ICMP(type=5, code=1, gw="203.0.113.1") / Raw(quoted)), "ICMP redirect (type 5) from %s" % S(1), **drop("icmp-type"))
    add(LAN, t4(ids, LAN_SRV, S(1), ICMP(type=3, code=3) / Raw(quoted)), "ICMP port unreachable from the LAN")
    add(WAN, t4(ids, S(2), "198.51.100.255", ICMP(type=8, id=0x4802, seq=1) / Raw(b"smurf")), "echo request to the LAN's directed broadcast 198.51.100.255", dst=MAC_BCAST, **drop("smurf"))
    add(WAN, t4(ids, S(3), LAN_SRV, ICMP(type=8, id=0x4803, seq=1) / Raw(b"ping")), "echo request %s -> 198.51.100.10" % S(3))
    add(LAN, t4(ids, LAN_SRV, S(3), ICMP(type=0, id=0x4803, seq=1) / Raw(b"ping")), "echo reply")
    add(WAN, t4(ids, S(3), LAN_SRV, ICMP(type=3, code=4, nexthopmtu=1400) / Raw(quoted)), "ICMP fragmentation needed (type 3) from the WAN")
    add(WAN, t6(src6(k, 4), "ff02::1", ICMPv6EchoRequest(id=0x4804, seq=1, data=b"smurf")), "ICMPv6 echo request to ff02::1", dst="33:33:00:00:00:01", **drop("smurf"))
    add(WAN, t6(src6(k, 5), "ff05::1", ICMPv6EchoRequest(id=0x4805, seq=1, data=b"smurf")), "ICMPv6 echo request to ff05::1", dst="33:33:00:00:00:01", **drop("smurf"))
    add(WAN, t6(src6(k, 6), LAN_SRV6, ICMPv6EchoRequest(id=0x4806, seq=1, data=b"ping")), "ICMPv6 echo request -> 2001:db8:1::10")
    add(LAN, t6(LAN_SRV6, src6(k, 6), ICMPv6EchoReply(id=0x4806, seq=1, data=b"ping")), "ICMPv6 echo reply")
    add(LAN, t6(LAN_SRV6, "ff02::1", ICMPv6EchoRequest(id=0x4807, seq=1, data=b"all-nodes")), "ICMPv6 echo request to ff02::1 from the LAN", dst="33:33:00:00:00:01")


def nd(side, src, dst, msg, hlim=255, emac=None):
    if dst.startswith("ff"):
        low = socket.inet_pton(socket.AF_INET6, dst)[-4:]
        edst = "33:33:" + ":".join("%02x" % x for x in low)
    else:
        edst = None
    return eth(side, 0x86DD, t6(src, dst, msg, hlim=hlim), dst=edst, src=emac)


L4_PROTO.update({n: 58 for n in ["ICMPv6ND_NS", "ICMPv6ND_NA", "ICMPv6ND_RS", "ICMPv6ND_RA", "ICMPv6ND_Redirect"]})


def block_nd(c, ids, t):
    b, k = "nd", 9
    n = [0]

    def add(side, frame, what, **kw):
        c.add(b, t + n[0] * MS, side, frame, what, **kw)
        n[0] += 1

    ll = lambda i: "fe80::9:%x" % i  # noqa: E731
    lla = ICMPv6NDOptSrcLLAddr(lladdr=MAC_WAN_RTR)
    ns = lambda: ICMPv6ND_NS(tgt=LAN_SRV6) / lla  # noqa: E731
    na = lambda: ICMPv6ND_NA(R=1, S=0, O=1, tgt=src6(k, 5)) / ICMPv6NDOptDstLLAddr(lladdr=MAC_WAN_RTR)  # noqa: E731
    ra = lambda: ICMPv6ND_RA(chlim=64, routerlifetime=1800) / lla  # noqa: E731
    add(WAN, nd(WAN, ll(1), "ff02::1:ff00:10", ns()), "NS fe80::9:1 -> ff02::1:ff00:10, hop limit 255")
    add(WAN, nd(WAN, ll(2), "ff02::1:ff00:10", ns(), hlim=64), "NS with hop limit 64", **drop("nd-invalid"))
    add(WAN, nd(WAN, "::", "ff02::1:ff00:10", ICMPv6ND_NS(tgt="2001:db8::9:99")), "NS from :: (duplicate address detection)")
    add(WAN, nd(WAN, src6(k, 3), LAN_SRV6, ns()), "NS from global %s -> 2001:db8:1::10" % src6(k, 3))
    add(WAN, nd(WAN, "2001:db8:1::5", "ff02::1:ff00:10", ns()), "NS from the WAN with LAN source 2001:db8:1::5", **drop("spoofed"))
    add(WAN, nd(WAN, "fd00::9:1", "ff02::1:ff00:10", ns()), "NS from bogon fd00::9:1", **drop("bogon-src"))
    add(WAN, nd(WAN, ll(4), "ff02::1", na()), "NA fe80::9:4 -> ff02::1")
    add(WAN, nd(WAN, src6(k, 5), LAN_SRV6, na()), "NA from global %s -> 2001:db8:1::10" % src6(k, 5))
    add(WAN, nd(WAN, ll(6), "ff02::1", na(), hlim=254), "NA with hop limit 254", **drop("nd-invalid"))
    add(WAN, nd(WAN, "::", "ff02::2", ICMPv6ND_RS()), "RS from :: -> ff02::2")
    add(WAN, nd(WAN, ll(7), "ff02::2", ICMPv6ND_RS() / lla), "RS fe80::9:7 -> ff02::2")
    add(WAN, nd(WAN, ll(8), "ff02::2", ICMPv6ND_RS() / lla, hlim=1), "RS with hop limit 1", **drop("nd-invalid"))
    add(WAN, nd(WAN, ll(9), "ff02::1", ra()), "RA fe80::9:9 -> ff02::1")
    add(WAN, nd(WAN, src6(k, 10), "ff02::1", ra()), "RA from global %s" % src6(k, 10), **drop("nd-invalid"))
    add(WAN, nd(WAN, ll(11), "ff02::1", ra(), hlim=64), "RA from link-local with hop limit 64", **drop("nd-invalid"))
    redirect = lambda: ICMPv6ND_Redirect(tgt="fe80::9:1", dst="2001:db8::9:99")  # noqa: E731
    add(WAN, nd(WAN, ll(12), "fe80::10", redirect()), "Redirect fe80::9:c -> fe80::10")
    add(WAN, nd(WAN, src6(k, 13), LAN_SRV6, redirect()), "Redirect from global %s" % src6(k, 13), **drop("nd-invalid"))
    lan_lla = ICMPv6NDOptSrcLLAddr(lladdr=MAC_LAN_SRV)
    add(LAN, nd(LAN, LAN_SRV6, "fe80::9:1", ICMPv6ND_NA(R=0, S=1, O=1, tgt=LAN_SRV6) / ICMPv6NDOptDstLLAddr(lladdr=MAC_LAN_SRV), emac=MAC_LAN_SRV), "NA from the LAN 2001:db8:1::10 -> fe80::9:1")
    add(LAN, nd(LAN, "fe80::10", "ff02::2", ICMPv6ND_RS() / lan_lla, emac=MAC_LAN_SRV), "RS from the LAN fe80::10")
    add(LAN, nd(LAN, "fe80::1:1", "ff02::1", ICMPv6ND_RA(chlim=64, routerlifetime=1800) / lan_lla, emac=MAC_LAN_SRV), "RA from the LAN fe80::1:1")
    add(LAN, nd(LAN, "2001:db8:1::1", "ff02::1", ICMPv6ND_RA(chlim=64, routerlifetime=1800) / lan_lla, emac=MAC_LAN_SRV), "RA from the LAN with global source 2001:db8:1::1", **drop("nd-invalid"))
    add(LAN, nd(LAN, "fe80::10", "ff02::1:ff00:1", ICMPv6ND_NS(tgt="2001:db8:1::1") / lan_lla, hlim=64, emac=MAC_LAN_SRV), "NS from the LAN with hop limit 64", **drop("nd-invalid"))


def block_nd_rate(c, ids, t):
    b, k = "nd-rate", 10
    src = "fe80::a:1"
    for i in range(110):
        what = "NS %d/110 from %s (+%d us)" % (i + 1, src, 100 * i)
        f = nd(WAN, src, "ff02::1:ff00:10", ICMPv6ND_NS(tgt=LAN_SRV6) / ICMPv6NDOptSrcLLAddr(lladdr=MAC_WAN_RTR))
        if i < 100:
            c.add(b, t + i * 100 * US, WAN, f, what + ", within the burst of 100")
        else:
            c.add(b, t + i * 100 * US, WAN, f, what + ", beyond the burst", **drop("nd-rate"))
    c.add(b, t + 1000 * MS, WAN, f, "NS from %s at +1 s: the bucket has refilled (50/s)" % src)
    f = nd(WAN, "fe80::a:2", "ff02::1:ff00:10", ICMPv6ND_NS(tgt=LAN_SRV6) / ICMPv6NDOptSrcLLAddr(lladdr=MAC_WAN_RTR))
    c.add(b, t + 1001 * MS, WAN, f, "NS from another source fe80::a:2")


def block_syn_window(c, ids, t, mode):
    """64 SYNs 100 us apart, then one every 100 ms, then one at +1.25 s.
    window: at most 60 attempts (dropped ones count) in any 1 s; bucket:
    60/s burst 60, a dropped SYN costs nothing."""
    b, k = "syn-window", 11
    s1 = src4(k, 1)
    for i in range(64):
        frame = bare(WAN, t4(ids, s1, LAN_SRV, syn(20000 + i, 80, seq=0x11000000 + i)))
        what = "SYN %d from %s:%d to port 80 (+%d us)" % (i + 1, s1, 20000 + i, 100 * i)
        if mode == "window":
            if i < 59:
                c.add(b, t + i * 100 * US, WAN, frame, what)
            elif i == 59:
                c.add(b, t + i * 100 * US, WAN, frame, what + " (the 60th attempt in 1 s)", also="syn-rate")
            else:
                c.add(b, t + i * 100 * US, WAN, frame, what, **drop("syn-rate"))
        else:
            if i < 60:
                c.add(b, t + i * 100 * US, WAN, frame, what)
            else:
                c.add(b, t + i * 100 * US, WAN, frame, what, **drop("syn-rate"))
    frame = bare(WAN, t4(ids, src4(k, 2), LAN_SRV, syn(20201, 80, seq=0x11000201)))
    c.add(b, t + 50 * MS, WAN, frame, "SYN from another source %s at +50 ms" % src4(k, 2))
    for j in range(1, 10):
        frame = bare(WAN, t4(ids, s1, LAN_SRV, syn(20100 + j, 80, seq=0x11000100 + j)))
        what = "SYN from %s at +%d ms" % (s1, 100 * j)
        if mode == "window":
            c.add(b, t + j * 100 * MS, WAN, frame, what + ": 60 or more attempts in the last second", **drop("syn-rate"))
        else:
            c.add(b, t + j * 100 * MS, WAN, frame, what + ": the bucket has earned 6 SYNs")
    frame = bare(WAN, t4(ids, s1, LAN_SRV, syn(20200, 80, seq=0x11000200)))
    c.add(b, t + 1250 * MS, WAN, frame, "SYN from %s at +1.25 s: 8 attempts in the last second" % s1)


def block_syn_tuple(c, ids, t):
    """One 4-tuple's SYN repeated: every repetition is an attempt."""
    b, k = "syn-tuple", 12
    s1 = src4(k, 1)
    frame = bare(WAN, t4(ids, s1, LAN_SRV, syn(12012, 80, seq=0x12000000)))
    for i in range(70):
        what = "SYN %d/70 %s:12012 -> 198.51.100.10:80, the same segment every 1 ms" % (i + 1, s1)
        if i < 59:
            c.add(b, t + i * MS, WAN, frame, what)
        elif i == 59:
            c.add(b, t + i * MS, WAN, frame, what + " (the 60th attempt in 1 s)", also="syn-rate")
        else:
            c.add(b, t + i * MS, WAN, frame, what, **drop("syn-rate"))


def block_trap_new(c, ids, t):
    """The trap fires on new attempts only."""
    b, k = "trap-new", 13
    S = lambda i: src4(k, i)  # noqa: E731
    conn = Tcp(ids, LAN_CLI, 139, S(1), 80, LAN, 0x13900000, 0x01390000)
    script = conn.handshake() + [conn.seg(True, "PA", b"GET / HTTP/1.0\r\n\r\n"), conn.seg(False, "PA", b"HTTP/1.0 200 OK\r\n\r\nhi\n"), conn.seg(True, "A")]
    names = ["SYN", "SYN-ACK (to port 139)", "ACK", "request", "response (to port 139)", "ACK"]
    for i, ((side, frame), name) in enumerate(zip(script, names)):
        c.add(b, t + i * MS, side, frame, "LAN client 198.51.100.20:139 -> %s:80: %s" % (S(1), name))
    c.add(b, t + 10 * MS, WAN, bare(WAN, t4(ids, S(1), LAN_SRV, syn(53001, 22))), "then a SYN from that server %s to port 22 (it is no fly)" % S(1))
    c.add(b, t + 11 * MS, WAN, bare(WAN, t4(ids, S(2), LAN_SRV, syn(53002, 139, flags="SA"))), "unsolicited SYN-ACK to port 139 from %s" % S(2), **drop("invalid"))
    c.add(b, t + 12 * MS, WAN, bare(WAN, t4(ids, S(2), LAN_SRV, syn(53003, 22))), "then a SYN from %s to port 22 (no fly)" % S(2))
    c.add(b, t + 13 * MS, WAN, bare(WAN, t4(ids, S(3), LAN_SRV, syn(53004, 139, flags="A"))), "ACK to port 139 with no connection from %s" % S(3), **drop("invalid"))
    c.add(b, t + 14 * MS, WAN, bare(WAN, t4(ids, S(3), LAN_SRV, syn(53005, 22))), "then a SYN from %s to port 22 (no fly)" % S(3))
    c.add(b, t + 15 * MS, WAN, bare(WAN, t4(ids, S(4), LAN_SRV, syn(53006, 139))), "a new SYN from %s to port 139" % S(4), **drop("trap"))
    c.fly(S(4))
    c.add(b, t + 16 * MS, WAN, bare(WAN, t4(ids, S(4), LAN_SRV, syn(53007, 22))), "then a SYN from the fly to port 22", **drop("fly"))
    conn6 = Tcp(ids, LAN_CLI6, 139, src6(k, 5), 443, LAN, 0x13910000, 0x01391000, v6=True)
    for i, ((side, frame), name) in enumerate(zip(conn6.handshake(), ["SYN", "SYN-ACK (to port 139)", "ACK"])):
        c.add(b, t + (20 + i) * MS, side, frame, "IPv6 LAN client [2001:db8:1::20]:139 -> [%s]:443: %s" % (src6(k, 5), name))
    c.add(b, t + 25 * MS, WAN, bare(WAN, t6(src6(k, 5), LAN_SRV6, syn(53008, 22))), "then an IPv6 SYN from that server to port 22 (no fly)")


def block_oversize(c, ids, t):
    b, k = "oversize", 14
    S = lambda i: src4(k, i)  # noqa: E731
    c.add(b, t, WAN, bare(WAN, t4(ids, S(1), LAN_SRV, udp(54001, 5000, b"M" * 1472))), "1514-byte frame (1500-byte IPv4 UDP) from the WAN")
    c.add(b, t + 1 * MS, WAN, tagged(WAN, [0x88A8, 0x8100, 0x8100], t4(ids, S(1), LAN_SRV, udp(54002, 5000, b"M" * 1472))), "1526-byte frame: 3 tags and a 1500-byte packet")
    c.add(b, t + 2 * MS, WAN, pppoe_ip(WAN, t4(ids, S(1), LAN_SRV, udp(54003, 5000, b"M" * 1464))), "1514-byte PPPoE frame (1492-byte packet)")
    c.add(b, t + 3 * MS, WAN, bare(WAN, t4(ids, S(2), LAN_SRV, udp(54004, 5000, b"J" * 8958))), "9000-byte jumbo frame from the WAN", **drop("oversize"))
    c.add(b, t + 4 * MS, LAN, bare(LAN, t4(ids, LAN_CLI, S(2), udp(54005, 5000, b"J" * 8958))), "9000-byte jumbo frame from the LAN", **drop("oversize"))
    c.add(b, t + 5 * MS, WAN, bare(WAN, t6(src6(k, 3), LAN_SRV6, udp(54006, 5000, b"J" * 8938))), "9000-byte IPv6 jumbo frame from the WAN", **drop("oversize"))


ENCAP_BLOCKS = [
    block_vlan,
    block_pppoe,
    block_mpls,
    block_tunnel,
    block_fragment,
    block_fragment6,
    block_ip_header,
    block_icmp,
    block_nd,
    block_nd_rate,
    lambda c, ids, t: block_syn_window(c, ids, t, "window"),
    block_syn_tuple,
    block_trap_new,
    block_oversize,
]


def encap_attacks():
    ids = Ids(0x6000)
    c = Capture()
    for i, blk in enumerate(ENCAP_BLOCKS):
        blk(c, ids, 2 * SEC * i)
    doc = encap_doc(
        "encap-attacks.pcapng",
        "Policy::default() with lan set",
        LAN_POLICY,
        [
            "blocks start 2 s apart; every block uses its own WAN sources (203.0.113.16k+i, 2001:db8:0:kii::1)",
            "oversize: frames larger than the data path's frame size (a 9000-byte jumbo frame) are dropped in replay too",
        ],
        c.flies,
    )
    return pcapng(c.frames), render_expect(doc, c.expect)


def tunnel_policy(mode):
    """Every tunnel kind from the WAN once, under filter.tunnels = mode."""
    ids = Ids(0x6100)
    c = Capture()
    b, k, t = "tunnels-" + mode, 4, 0
    S = lambda i: src4(k, i)  # noqa: E731
    T, T6 = S(1), src6(k, 1)
    config = LAN_POLICY + 'tunnels = "%s"\n' % mode
    dropped = mode == "drop"
    verdict = drop("tunnel") if dropped else {}
    kinds = [
        ("IPIP", lambda inner: v4(ids, T, LAN_SRV, 4, inner), False),
        ("6in4", lambda inner: v4(ids, T, LAN_SRV, 41, inner), True),
        ("GRE over IPv4", lambda inner: v4(ids, T, LAN_SRV, 47, gre(ethertype_of(inner), inner)), False),
        ("GRE over IPv6", lambda inner: v6(T6, LAN_SRV6, 47, gre(ethertype_of(inner), inner)), False),
        ("4in6", lambda inner: v6(T6, LAN_SRV6, 4, inner), False),
        ("6in6", lambda inner: v6(T6, LAN_SRV6, 41, inner), True),
    ]
    n = [0]

    def add(side, frame, what, **kw):
        c.add(b, t + n[0] * MS, side, frame, what, **kw)
        n[0] += 1

    for name, wrap, inner6 in kinds:
        inner = t6(src6(k, 2), LAN_CLI6, syn(45000 + n[0], 22)) if inner6 else t4(ids, S(2), LAN_CLI, syn(45000 + n[0], 22))
        add(WAN, bare(WAN, wrap(inner)), "%s from the WAN, legitimate inner SYN to port 22" % name, **verdict)
    if dropped:
        add(LAN, bare(LAN, v4(ids, LAN_SRV, T, 4, t4(ids, LAN_CLI, S(2), syn(45100, 80)))), "IPIP from the LAN")
        add(WAN, bare(WAN, t4(ids, S(3), LAN_SRV, syn(45101, 22))), "bare SYN from %s to port 22" % S(3))
    else:
        ipip = kinds[0][1]
        add(WAN, bare(WAN, ipip(t4(ids, "10.4.0.1", LAN_CLI, syn(45200, 80)))), "IPIP: inner SYN from bogon 10.4.0.1 (uninspected)")
        add(WAN, bare(WAN, kinds[2][1](t4(ids, S(3), LAN_CLI, syn(45201, 80, flags="SF")))), "GRE: inner SYN+FIN (uninspected)")
        add(WAN, bare(WAN, kinds[5][1](t6("fd00::4:1", LAN_CLI6, syn(45202, 80)))), "6in6: inner SYN from bogon fd00::4:1 (uninspected)")
        add(WAN, bare(WAN, ipip(t4(ids, S(4), LAN_CLI, syn(45203, 139)))), "IPIP: inner SYN from %s to trap port 139 (uninspected)" % S(4))
        add(WAN, bare(WAN, t4(ids, S(4), LAN_SRV, syn(45204, 22))), "bare SYN from %s to port 22 (it is no fly)" % S(4))
        add(WAN, bare(WAN, kinds[2][1](v4(ids, S(5), LAN_CLI, 4, t4(ids, S(5), LAN_CLI, syn(45205, 22))))), "GRE carrying IPIP (uninspected)")
    doc = encap_doc("encap-tunnels-%s.pcapng" % mode, "lan set, filter.tunnels = \"%s\"" % mode, config, [], c.flies)
    return pcapng(c.frames), render_expect(doc, c.expect)


def encap_strict():
    ids = Ids(0x6200)
    c = Capture()
    b, k, t = "strict", 5, 0
    S = lambda i: src4(k, i)  # noqa: E731
    config = (
        LAN_POLICY
        + '[flypaper]\nmode = "strict"\n'
        + '[[flypaper.allow]]\nproto = "tcp"\nports = 22\n'
        + '[[flypaper.allow]]\nproto = "esp"\n'
        + '[[flypaper.allow]]\nproto = "115"\n'
        + '[[flypaper.allow]]\nproto = "sctp"\ndst = ["198.51.100.10"]\n'
    )
    n = [0]

    def add(side, ip, what, **kw):
        c.add(b, t + n[0] * MS, side, bare(side, ip), what, **kw)
        n[0] += 1

    esp = struct.pack("!II", 0x5000, 1) + b"\xee" * 24
    l2tp = struct.pack("!I", 0x1151) + b"\x00" * 16
    ah = struct.pack("!BBHII", 59, 4, 0, 0x5100, 1) + b"\xaa" * 12
    udplite = struct.pack("!HHHH", 55001, 5000, 8, 0) + b"udplite!"
    sctp = lambda src, dst, sp, dp: l4_bytes(src, dst, SCTP(sport=sp, dport=dp, tag=0) / SCTPChunkInit(init_tag=0x5C7E, a_rwnd=65535, n_out_streams=1, n_in_streams=1, init_tsn=1))  # noqa: E731
    add(WAN, t4(ids, S(1), LAN_SRV, syn(55000, 22)), "SYN %s -> 198.51.100.10:22 (allowed)" % S(1))
    add(WAN, v4(ids, S(1), LAN_SRV, 50, esp), "ESP from %s (allowed: proto = \"esp\")" % S(1))
    add(WAN, v6(src6(k, 1), LAN_SRV6, 50, esp), "IPv6 ESP (allowed)")
    add(WAN, v4(ids, S(1), LAN_SRV, 115, l2tp), "L2TPv3 over IP, protocol 115 (allowed: proto = \"115\")")
    add(WAN, v4(ids, S(2), LAN_SRV, 132, sctp(S(2), LAN_SRV, 5060, 5060)), "SCTP INIT %s -> 198.51.100.10 (allowed for that destination)" % S(2))
    add(WAN, v4(ids, S(3), LAN_CLI, 132, sctp(S(3), LAN_CLI, 5060, 5060)), "SCTP INIT %s -> 198.51.100.20 (no rule admits it)" % S(3), **drop("not-allowed"))
    c.fly(S(3))
    add(WAN, t4(ids, S(3), LAN_SRV, syn(55001, 22)), "then a SYN from the fly %s to port 22" % S(3), **drop("fly"))
    add(WAN, v4(ids, S(4), LAN_SRV, 51, ah), "AH from %s" % S(4), **drop("not-allowed"))
    c.fly(S(4))
    add(WAN, v4(ids, S(4), LAN_SRV, 50, esp), "then ESP from the fly %s" % S(4), **drop("fly"))
    add(WAN, v4(ids, S(5), LAN_SRV, 136, udplite), "UDP-Lite from %s" % S(5), **drop("not-allowed"))
    c.fly(S(5))
    add(WAN, v4(ids, S(6), LAN_SRV, 253, b"experiment" * 2), "protocol 253 from %s" % S(6), **drop("not-allowed"))
    c.fly(S(6))
    add(LAN, v4(ids, LAN_CLI, S(7), 136, udplite), "UDP-Lite from the LAN 198.51.100.20 -> %s" % S(7))
    add(WAN, v4(ids, S(7), LAN_CLI, 136, udplite), "the UDP-Lite reply %s -> 198.51.100.20" % S(7))
    add(WAN, v4(ids, S(7), LAN_SRV, 136, udplite), "UDP-Lite from %s to another LAN address 198.51.100.10" % S(7), **drop("not-allowed"))
    c.fly(S(7))
    add(LAN, v4(ids, LAN_CLI, S(8), 132, sctp(LAN_CLI, S(8), 38412, 38412)), "SCTP from the LAN 198.51.100.20 -> %s" % S(8))
    add(WAN, v4(ids, S(8), LAN_CLI, 132, sctp(S(8), LAN_CLI, 38412, 38412)), "the SCTP reply %s -> 198.51.100.20" % S(8))
    add(LAN, v4(ids, LAN_CLI, S(9), 51, ah), "AH from the LAN 198.51.100.20 -> %s" % S(9))
    add(WAN, v4(ids, S(9), LAN_CLI, 51, ah), "the AH reply %s -> 198.51.100.20" % S(9))
    add(WAN, v6(src6(k, 10), LAN_CLI6, 132, sctp(src6(k, 10), LAN_CLI6, 5060, 5060)), "IPv6 SCTP INIT [%s] -> [2001:db8:1::20]" % src6(k, 10), **drop("not-allowed"))
    c.fly(src6(k, 10))
    add(WAN, v6(src6(k, 11), LAN_SRV6, 253, b"experiment" * 2), "IPv6 protocol 253 from %s" % src6(k, 11), **drop("not-allowed"))
    c.fly(src6(k, 11))
    add(LAN, v6(LAN_CLI6, src6(k, 12), 136, udplite), "IPv6 UDP-Lite from the LAN -> %s" % src6(k, 12))
    add(WAN, v6(src6(k, 12), LAN_CLI6, 136, udplite), "the IPv6 UDP-Lite reply")
    doc = encap_doc("encap-strict.pcapng", "lan set, strict flypaper mode", config, [], c.flies)
    return pcapng(c.frames), render_expect(doc, c.expect)


def encap_syn_bucket():
    ids = Ids(0x6300)
    c = Capture()
    block_syn_window(c, ids, 0, "bucket")
    config = LAN_POLICY + '[tcp]\nsyn_mode = "bucket"\n'
    doc = encap_doc("encap-syn-bucket.pcapng", "lan set, tcp.syn_mode = \"bucket\" (60/s burst 60)", config, [], c.flies)
    return pcapng(c.frames), render_expect(doc, c.expect)


def encap_udp_trap():
    ids = Ids(0x6400)
    c = Capture()
    b, k, t = "udp-trap", 6, 0
    S = lambda i: src4(k, i)  # noqa: E731
    config = LAN_POLICY + "[trap]\nudp_ports = [137]\n"
    n = [0]

    def add(side, frame, what, **kw):
        c.add(b, t + n[0] * MS, side, frame, what, **kw)
        n[0] += 1

    nbns = b"\x46\x50\x00\x10\x00\x01\x00\x00\x00\x00\x00\x00"
    add(WAN, bare(WAN, t4(ids, S(1), LAN_SRV, udp(56001, 137, nbns))), "UDP %s -> 198.51.100.10:137 (a UDP trap port)" % S(1), **drop("trap"))
    c.fly(S(1))
    add(WAN, bare(WAN, t4(ids, S(1), LAN_SRV, udp(56002, 53, nbns))), "then UDP from the fly to port 53", **drop("fly"))
    add(WAN, bare(WAN, t4(ids, S(1), LAN_SRV, syn(56003, 22))), "then a SYN from the fly to port 22", **drop("fly"))
    add(LAN, bare(LAN, t4(ids, LAN_CLI, S(2), udp(137, 137, nbns))), "NetBIOS name query from the LAN 198.51.100.20:137 -> %s:137" % S(2))
    add(WAN, bare(WAN, t4(ids, S(2), LAN_CLI, udp(137, 137, nbns))), "its answer %s:137 -> 198.51.100.20:137 (belongs to the flow)" % S(2))
    add(WAN, bare(WAN, t4(ids, S(2), LAN_SRV, syn(56004, 22))), "then a SYN from %s to port 22 (it is no fly)" % S(2))
    add(WAN, bare(WAN, t6(src6(k, 3), LAN_SRV6, udp(56005, 137, nbns))), "IPv6 UDP [%s] -> [2001:db8:1::10]:137" % src6(k, 3), **drop("trap"))
    c.fly(src6(k, 3))
    add(WAN, bare(WAN, t6(src6(k, 3), LAN_SRV6, syn(56006, 22))), "then an IPv6 SYN from the fly", **drop("fly"))
    add(WAN, pppoe_ip(WAN, t4(ids, S(4), LAN_SRV, udp(56007, 137, nbns))), "PPPoE: UDP %s -> 198.51.100.10:137" % S(4), **drop("trap"))
    c.fly(S(4))
    add(WAN, pppoe_ip(WAN, t4(ids, S(4), LAN_SRV, udp(56008, 53, nbns))), "PPPoE: then UDP from the fly to port 53", **drop("fly"))
    doc = encap_doc("encap-udp-trap.pcapng", "lan set, trap.udp_ports = [137]", config, [], c.flies)
    return pcapng(c.frames), render_expect(doc, c.expect)


def syn_flood():
    """500 SYNs/s for 3 s from one source, each from a new source port."""
    ids = Ids(0x6500)
    frames = []
    for i in range(1500):
        ip = t4(ids, "203.0.113.250", LAN_SRV, syn(10000 + i, 80, seq=0x50000000 + i))
        frames.append((BASE_NS + i * 2 * MS, bare(WAN, ip)))
    doc = {
        "capture": "syn-flood.pcap",
        "generator": "appliance/gen-captures.py",
        "what": "1500 SYNs from 203.0.113.250 to 198.51.100.10:80, 2 ms apart (500/s for 3 s), each from a new source port; classic pcap, every frame from the WAN",
        "lan": ["198.51.100.0/24", "2001:db8:1::/48"],
        "policies": [
            {
                "config": LAN_POLICY,
                "syn_mode": "window",
                "forwarded": [59, 60],
                "note": "every attempt counts, dropped ones too: the first 59 or 60 pass, all later ones are syn-rate",
            },
            {
                "config": LAN_POLICY + '[tcp]\nsyn_mode = "bucket"\n',
                "syn_mode": "bucket",
                "forwarded": [235, 242],
                "note": "60/s burst 60: the burst, then about 60 per second (about 240 in 3 s); the rest syn-rate",
            },
        ],
    }
    text = json.dumps(doc, indent=2) + "\n"
    json.loads(text)
    return pcap_ns(frames), text.encode()


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
    for name, (pcap, expect) in {
        "encap-attacks": encap_attacks(),
        "encap-tunnels-drop": tunnel_policy("drop"),
        "encap-tunnels-pass": tunnel_policy("pass"),
        "encap-strict": encap_strict(),
        "encap-syn-bucket": encap_syn_bucket(),
        "encap-udp-trap": encap_udp_trap(),
    }.items():
        files[name + ".pcapng"] = pcap
        files[name + ".expect.json"] = expect
    files["syn-flood.pcap"], files["syn-flood.expect.json"] = syn_flood()
    for name, data in files.items():
        assert len(data) < 200 * 1024, (name, len(data))
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
