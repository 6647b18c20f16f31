//! Frames the filter sends itself: the SYN-ACK that answers a SYN to a trap
//! port with a SYN cookie.
//!
//! The bridge is transparent, so the reply goes back out of the port the
//! SYN came in on as if the host the SYN was for had sent it: MACs, IP
//! addresses and ports swapped, the SYN's VLAN tags and PPPoE session kept
//! byte for byte, and none of its IP options or IPv6 extension headers.
//!
//! ```text
//! dst src | tags (0..=3) | EtherType | [PPPoE 6 + PPP protocol 1 or 2]
//!         | IPv4 20 or IPv6 40 | TCP 20 + MSS option 4 | zeros to 60
//! ```
//!
//! The filter computes the cookie; this module only builds the bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::tcp::flags::{ACK, FIN, RST, SYN};
use super::{
    ethernet, ipv4, ipv6, parse, pppoe, tcp, Encap, Frag, IpProtocol, IpSummary, TcpSummary, L3,
    L4, MAX_VLAN_TAGS,
};
use crate::addr::Addr;

/// The MSS a SYN-ACK announces over IPv4: a 1500-byte MTU less the IPv4
/// and TCP headers.
pub const MSS_V4: u16 = 1460;
/// The MSS over IPv6: a 1500-byte MTU less the IPv6 and TCP headers.
pub const MSS_V6: u16 = 1440;
/// The receive window of a SYN-ACK (unscaled: no window-scale option).
pub const WINDOW: u16 = 65535;
/// The TTL or hop limit of a reply.
pub const HOP_LIMIT: u8 = 64;

/// The TCP header of a SYN-ACK: the fixed header and the MSS option.
const TCP_LEN: usize = tcp::HEADER_LEN + tcp::option::MSS_LEN as usize;

/// The longest L2 header a reply copies: Ethernet, every tag the parser
/// sees through, a PPPoE session header and an uncompressed PPP protocol.
const L2_MAX: usize = ethernet::HEADER_LEN
    + MAX_VLAN_TAGS as usize * ethernet::VLAN_TAG_LEN
    + pppoe::HEADER_LEN
    + pppoe::PPP_PROTOCOL_LEN;

/// The longest reply [`syn_ack`] builds: the longest L2 header, IPv6, and
/// the SYN-ACK's TCP header.
pub const REPLY_MAX: usize = L2_MAX + ipv6::HEADER_LEN + TCP_LEN;

const _: () = assert!(REPLY_MAX >= ethernet::MIN_FRAME_LEN);

/// Build, into `out`, the SYN-ACK that answers the SYN `frame` (a whole
/// Ethernet frame, as received), sent back out of the port it came in on
/// toward its source. `seq` is the SYN-ACK's sequence number (the cookie).
/// Returns the frame's length (at least [`ethernet::MIN_FRAME_LEN`]: short
/// frames are padded with zeros), or `None` when the frame is not a plain
/// SYN this can answer:
///
/// - anything [`parse`] rejects;
/// - anything but IPv4 or IPv6 after 0 to 3 VLAN tags and an optional
///   PPPoE session header: MPLS, a tunnel (whose outer packet is not TCP);
/// - a fragment, first or later;
/// - anything but TCP, and TCP without SYN or with ACK, RST or FIN (the
///   other flags, ECN's ECE and CWR among them, are not looked at; the
///   reply sets none of them).
///
/// The reply carries the SYN's VLAN tags and PPPoE session header as
/// received (the PPPoE length rewritten, the PPP protocol field kept in its
/// received width), and no IP options, IPv6 extension headers or payload.
/// Every byte of `out` from the reply's length on is zero.
pub fn syn_ack(frame: &[u8], seq: u32, out: &mut [u8; REPLY_MAX]) -> Option<usize> {
    let s = parse(frame).ok()?;
    let L3::Ip(ip) = s.l3 else {
        return None;
    };
    let L4::Tcp(syn) = ip.l4 else {
        return None;
    };
    if ip.frag != Frag::None
        || syn.flags & (SYN | ACK | RST | FIN) != SYN
        || matches!(s.encap, Encap::Mpls(_))
    {
        return None;
    }
    let l3 = usize::from(ip.l3_offset);
    let (ip_len, mss) = if ip.version == ipv4::VERSION {
        (ipv4::HEADER_LEN, MSS_V4)
    } else {
        (ipv6::HEADER_LEN, MSS_V6)
    };
    let l4 = l3 + ip_len;
    let end = l4 + TCP_LEN;
    let syn_seq = tcp::Packet::new_unchecked(frame.get(usize::from(ip.l4_offset)..)?).seq_number();

    out.fill(0);
    let reply = out.get_mut(..end.max(ethernet::MIN_FRAME_LEN))?;
    let received = ethernet::Frame::new_unchecked(frame);
    let mut eth = ethernet::Frame::new_unchecked(&mut reply[..]);
    eth.set_dst_addr(received.src_addr());
    eth.set_src_addr(received.dst_addr());
    eth.set_ethertype(received.ethertype());
    // The tags, and the PPPoE session header and PPP protocol field, as
    // received.
    reply[ethernet::HEADER_LEN..l3].copy_from_slice(frame.get(ethernet::HEADER_LEN..l3)?);
    if s.encap == Encap::Pppoe {
        let at = ethernet::HEADER_LEN + usize::from(s.vlan_tags) * ethernet::VLAN_TAG_LEN;
        let ppp_len = end - at - pppoe::HEADER_LEN;
        pppoe::Header::new_unchecked(&mut reply[at..l3]).set_length(ppp_len as u16);
    }
    // Answered as the host the SYN was for: the addresses swapped.
    let (src, dst) = (ip.dst, ip.src);
    ip_header(&mut reply[l3..end], &ip, src, dst)?;
    let ack = syn_seq.wrapping_add(1);
    tcp_syn_ack(&mut reply[l4..end], &syn, seq, ack, mss, src, dst);
    Some(reply.len())
}

/// Write a reply's IP header at the start of `packet` (the whole IP packet,
/// zeroed): the family of `syn`, no options, TTL [`HOP_LIMIT`], TCP.
/// `None` for IPv4 when an address is not IPv4.
fn ip_header(packet: &mut [u8], syn: &IpSummary, src: Addr, dst: Addr) -> Option<()> {
    // Reply lengths are below REPLY_MAX: they fit.
    let len = packet.len() as u16;
    if syn.version == ipv4::VERSION {
        let mut p = ipv4::Packet::new_unchecked(packet);
        p.set_version(ipv4::VERSION);
        p.set_header_len(ipv4::HEADER_LEN as u8);
        p.set_dscp(0);
        p.set_ecn(0);
        p.set_total_len(len);
        p.set_ident(0);
        p.set_dont_frag(true);
        p.set_ttl(HOP_LIMIT);
        p.set_protocol(IpProtocol::Tcp);
        p.set_src_addr(Ipv4Addr::from(src.v4()?));
        p.set_dst_addr(Ipv4Addr::from(dst.v4()?));
        p.fill_checksum();
    } else {
        let mut p = ipv6::Packet::new_unchecked(packet);
        p.set_version(ipv6::VERSION);
        p.set_traffic_class(0);
        p.set_flow_label(0);
        p.set_payload_len(len - ipv6::HEADER_LEN as u16);
        p.set_next_header(IpProtocol::Tcp);
        p.set_hop_limit(HOP_LIMIT);
        p.set_src_addr(Ipv6Addr::from(src.0));
        p.set_dst_addr(Ipv6Addr::from(dst.0));
    }
    Some(())
}

/// Write the SYN-ACK segment answering `syn` into `seg` (exactly
/// [`TCP_LEN`] zeroed bytes), its checksum over the pseudo-header of `src`
/// and `dst`.
fn tcp_syn_ack(
    seg: &mut [u8],
    syn: &TcpSummary,
    seq: u32,
    ack: u32,
    mss: u16,
    src: Addr,
    dst: Addr,
) {
    let mut p = tcp::Packet::new_unchecked(seg);
    p.set_src_port(syn.dport);
    p.set_dst_port(syn.sport);
    p.set_seq_number(seq);
    p.set_ack_number(ack);
    p.set_header_len(TCP_LEN as u8);
    p.set_flags(SYN | ACK);
    p.set_window_len(WINDOW);
    p.set_urgent_at(0);
    let [hi, lo] = mss.to_be_bytes();
    p.options_mut()
        .copy_from_slice(&[tcp::option::MSS, tcp::option::MSS_LEN, hi, lo]);
    p.fill_checksum(src, dst);
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::wire::checksum;
    use crate::wire::ethernet::EtherType;
    use crate::wire::pppoe::ppp;
    use crate::wire::testdata::*;

    const COOKIE: u32 = 0x8bad_f00d;

    /// `bare` (an untagged IPv4 frame) with `opts` inserted after its fixed
    /// IPv4 header.
    fn with_ipv4_options(bare: &[u8], opts: &[u8]) -> Vec<u8> {
        let mut f = bare.to_vec();
        f.splice(34..34, opts.iter().copied());
        f[14] = 0x45 + (opts.len() / 4) as u8;
        let total = (f.len() - 14) as u16;
        f[16..18].copy_from_slice(&total.to_be_bytes());
        fix4(&mut f, 14);
        f
    }

    /// `bare` (an untagged IPv6 frame) with `n` destination-options headers
    /// of `len` bytes each (Pad1 options: zeros) before its upper layer.
    fn with_dest_opts(bare: &[u8], n: usize, len: usize) -> Vec<u8> {
        let mut f = bare[..54].to_vec();
        let next = f[20];
        f[20] = IpProtocol::IPV6_OPTS;
        for i in 0..n {
            let mut h = vec![0u8; len];
            h[0] = if i + 1 == n {
                next
            } else {
                IpProtocol::IPV6_OPTS
            };
            h[1] = (len / 8 - 1) as u8;
            f.extend(h);
        }
        f.extend(&bare[54..]);
        let payload = (f.len() - 54) as u16;
        f[18..20].copy_from_slice(&payload.to_be_bytes());
        f
    }

    /// The IP packet of `bare` (an untagged frame) in a PPPoE session
    /// (id 0x1234) behind the PPP protocol field `ppp`.
    fn pppoe(bare: &[u8], ppp: &[u8]) -> Vec<u8> {
        let ip = &bare[14..];
        let mut f = bare[..12].to_vec();
        f.extend(EtherType::PPPOE_SESSION.to_be_bytes());
        f.extend([pppoe::VER_TYPE, pppoe::CODE_SESSION, 0x12, 0x34]);
        f.extend(((ppp.len() + ip.len()) as u16).to_be_bytes());
        f.extend(ppp);
        f.extend(ip);
        f
    }

    const THREE_TAGS: [(u16, u16); 3] = [(0x9100, 1), (0x88a8, 2), (0x8100, 3)];

    /// Every kind of SYN `syn_ack` answers.
    fn syns() -> Vec<(&'static str, Vec<u8>)> {
        let v4_opts = [0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00];
        vec![
            ("ipv4", TCP4_SYN.to_vec()),
            ("ipv4 http.cap", HTTP_CAP_SYN.to_vec()),
            ("ipv4 options", with_ipv4_options(&TCP4_SYN, &v4_opts)),
            ("ipv6", TCP6_SYN.to_vec()),
            ("ipv6 dest opts", with_dest_opts(&TCP6_SYN, 1, 8)),
            ("one tag", tagged(&TCP4_SYN, &[(0x8100, 100)])),
            ("qinq", tagged(&TCP4_SYN, &[(0x88a8, 200), (0x8100, 300)])),
            (
                "qinq ipv6",
                tagged(&TCP6_SYN, &[(0x88a8, 200), (0x8100, 300)]),
            ),
            ("three tags", tagged(&TCP4_SYN, &THREE_TAGS)),
            ("pppoe ipv4", pppoe(&TCP4_SYN, &ppp::IPV4.to_be_bytes())),
            ("pppoe ipv6", pppoe(&TCP6_SYN, &ppp::IPV6.to_be_bytes())),
            (
                "pppoe ipv4 compressed",
                pppoe(&TCP4_SYN, &[ppp::IPV4 as u8]),
            ),
            (
                "pppoe ipv6 compressed",
                pppoe(&TCP6_SYN, &[ppp::IPV6 as u8]),
            ),
            (
                "three tags pppoe ipv6 dest opts",
                tagged(
                    &pppoe(&with_dest_opts(&TCP6_SYN, 2, 16), &ppp::IPV6.to_be_bytes()),
                    &THREE_TAGS,
                ),
            ),
        ]
    }

    fn reply(syn: &[u8]) -> Option<Vec<u8>> {
        // Not zeros: the reply must not depend on what `out` held.
        let mut out = [0xa5; REPLY_MAX];
        let len = syn_ack(syn, COOKIE, &mut out)?;
        assert!(out[len..].iter().all(|&b| b == 0));
        Some(out[..len].to_vec())
    }

    fn ip(s: &crate::wire::Summary) -> (IpSummary, TcpSummary) {
        match s.l3 {
            L3::Ip(ip @ IpSummary { l4: L4::Tcp(t), .. }) => (ip, t),
            other => panic!("not TCP: {other:?}"),
        }
    }

    /// The TCP checksum of `seg`, checked with the pseudo-header of the
    /// family's own form.
    fn tcp_checksum_ok(version: u8, l3: &[u8], seg: &[u8]) -> bool {
        let ph = if version == 4 {
            let a = |at: usize| [l3[at], l3[at + 1], l3[at + 2], l3[at + 3]];
            checksum::pseudo_header_v4(a(12), a(16), 6, seg.len() as u16)
        } else {
            let a = |at: usize| <[u8; 16]>::try_from(&l3[at..at + 16]).unwrap();
            checksum::pseudo_header_v6(a(8), a(24), 6, seg.len() as u32)
        };
        checksum::combine(&[ph, checksum::data(seg)]) == 0xffff
    }

    /// Build the reply to `syn` and check every field against the SYN.
    fn check(name: &str, syn: &[u8]) {
        let r = reply(syn).unwrap_or_else(|| panic!("{name}: no reply"));
        let s = parse(syn).unwrap();
        let rs = parse(&r).unwrap_or_else(|e| panic!("{name}: reply does not parse: {e}"));
        assert_eq!(
            (rs.vlan_tags, rs.ethertype, rs.encap),
            (s.vlan_tags, s.ethertype, s.encap),
            "{name}"
        );
        assert_eq!(
            (&r[..6], &r[6..12]),
            (&syn[6..12], &syn[..6]),
            "{name}: MACs"
        );
        let tags_end = 14 + 4 * usize::from(s.vlan_tags);
        assert_eq!(&r[12..tags_end], &syn[12..tags_end], "{name}: tags");

        let ((si, st), (ri, rt)) = (ip(&s), ip(&rs));
        let l3 = usize::from(ri.l3_offset);
        assert_eq!(ri.l3_offset, si.l3_offset, "{name}");
        assert_eq!((ri.version, ri.src, ri.dst), (si.version, si.dst, si.src));
        assert_eq!((ri.proto, ri.ttl, ri.frag), (6, 64, Frag::None), "{name}");
        assert_eq!(
            rt,
            TcpSummary {
                sport: st.dport,
                dport: st.sport,
                flags: SYN | ACK,
            },
            "{name}"
        );
        let (ip_header_len, ip_len, mss) = if ri.version == 4 {
            let p = ipv4::Packet::new_checked(&r[l3..]).unwrap();
            assert_eq!(
                (p.version(), p.header_len(), p.dscp(), p.ecn()),
                (4, 20, 0, 0)
            );
            assert_eq!(p.ident(), 0, "{name}");
            assert!(p.dont_frag() && !p.is_fragment(), "{name}");
            assert!(p.verify_checksum(), "{name}");
            (20, usize::from(p.total_len()), 1460)
        } else {
            let p = ipv6::Packet::new_checked(&r[l3..]).unwrap();
            assert_eq!((p.version(), p.traffic_class(), p.flow_label()), (6, 0, 0));
            assert_eq!((p.next_header(), p.hop_limit()), (IpProtocol::Tcp, 64));
            (40, 40 + usize::from(p.payload_len()), 1440)
        };
        assert_eq!(usize::from(ri.l4_offset), l3 + ip_header_len, "{name}");
        assert_eq!(ip_len, ip_header_len + 24, "{name}");
        let seg = &r[l3 + ip_header_len..l3 + ip_len];
        let t = tcp::Packet::new_checked(seg).unwrap();
        let syn_seq = tcp::Packet::new_checked(&syn[usize::from(si.l4_offset)..])
            .unwrap()
            .seq_number();
        assert_eq!(t.seq_number(), COOKIE, "{name}");
        assert_eq!(t.ack_number(), syn_seq.wrapping_add(1), "{name}");
        assert_eq!(t.header_len(), 24, "{name}");
        let [hi, lo] = u16::to_be_bytes(mss);
        assert_eq!(t.options(), &[2, 4, hi, lo], "{name}");
        assert_eq!((t.window_len(), t.urgent_at()), (65535, 0), "{name}");
        assert!(t.verify_checksum(ri.src, ri.dst), "{name}");
        assert!(tcp_checksum_ok(ri.version, &r[l3..], seg), "{name}");

        if s.encap == Encap::Pppoe {
            let h = pppoe::Header::new_checked(&r[tags_end..]).unwrap();
            let sh = pppoe::Header::new_checked(&syn[tags_end..]).unwrap();
            assert_eq!((h.code(), h.session_id()), (0, sh.session_id()), "{name}");
            // The PPP protocol field, in its received width, and the IP packet.
            assert_eq!(
                usize::from(h.length()),
                l3 - tags_end - 6 + ip_len,
                "{name}"
            );
            assert_eq!(&r[tags_end + 6..l3], &syn[tags_end + 6..l3], "{name}");
        }
        assert_eq!(r.len(), (l3 + ip_len).max(60), "{name}");
        assert!(r[l3 + ip_len..].iter().all(|&b| b == 0), "{name}: padding");
    }

    #[test]
    fn answers_every_kind_of_syn() {
        for (name, f) in syns() {
            check(name, &f);
        }
    }

    #[test]
    fn lengths() {
        let len = |f: &[u8]| reply(f).unwrap().len();
        // 14 + 20 + 24 = 58: padded.
        assert_eq!(len(&TCP4_SYN), 60);
        assert_eq!(len(&TCP6_SYN), 14 + 40 + 24);
        let longest = tagged(&pppoe(&TCP6_SYN, &[0x00, 0x57]), &THREE_TAGS);
        assert_eq!(len(&longest), REPLY_MAX);
        assert_eq!(REPLY_MAX, 14 + 3 * 4 + 8 + 40 + 24);
    }

    /// `f`'s TCP flags byte set to `flags` (the parser does not check TCP
    /// checksums).
    fn with_flags(f: &[u8], flags: u8) -> Vec<u8> {
        let mut f = f.to_vec();
        let l4 = usize::from(ip(&parse(&f).unwrap()).0.l4_offset);
        f[l4 + 13] = flags;
        f
    }

    /// What the parser must see in a frame for its refusal to test
    /// `syn_ack` rather than the parser: a TCP SYN.
    fn parses_as_syn(f: &[u8]) -> IpSummary {
        let (ip, t) = ip(&parse(f).unwrap());
        assert_eq!(t.flags, SYN);
        ip
    }

    #[test]
    fn refuses_other_flags() {
        assert_eq!(reply(&TCP4_SYNACK), None);
        assert_eq!(reply(&TCP6_SYNACK), None);
        for flags in [0, ACK, RST, FIN, SYN | ACK, SYN | RST, SYN | FIN, RST | ACK] {
            for f in [&TCP4_SYN[..], &TCP6_SYN[..]] {
                assert_eq!(reply(&with_flags(f, flags)), None, "flags {flags:#04x}");
            }
        }
        // The flags that do not make a SYN something else are not looked
        // at (an ECN-setup SYN is a SYN), and not echoed.
        for flags in [
            SYN | tcp::flags::ECE | tcp::flags::CWR,
            SYN | tcp::flags::PSH,
        ] {
            let r = reply(&with_flags(&TCP4_SYN, flags)).unwrap();
            assert_eq!(ip(&parse(&r).unwrap()).1.flags, SYN | ACK);
        }
    }

    #[test]
    fn refuses_what_is_not_a_plain_syn() {
        for f in [
            &UDP4_DNS_QUERY[..],
            &ICMP4_ECHO_REQUEST,
            &ICMP6_ECHO_REQUEST,
            &NEIGHBOR_SOLICITATION,
            &ARP_REQUEST,
            &STP_CONFIG_BPDU,
            &IP4_FRAG_FIRST,
            &IP4_FRAG_LAST,
        ] {
            assert_eq!(reply(f), None);
        }

        // MPLS: one label, bottom of stack, then the SYN's IPv4 packet.
        let mut mpls = TCP4_SYN[..12].to_vec();
        mpls.extend(EtherType::MPLS_UNICAST.to_be_bytes());
        mpls.extend([0x00, 0x10, 0x01, 64]);
        mpls.extend(&TCP4_SYN[14..]);
        assert_eq!(parse(&mpls).unwrap().encap, Encap::Mpls(1));
        parses_as_syn(&mpls);
        assert_eq!(reply(&mpls), None);

        // IP in IP: the SYN's IPv4 packet inside another, and the IPv6 SYN
        // inside IPv4 (6in4).
        for (inner, proto) in [(&TCP4_SYN[14..], 4), (&TCP6_SYN[14..], 41)] {
            let mut f = TCP4_SYN[..34].to_vec();
            f[23] = proto;
            f[16..18].copy_from_slice(&((20 + inner.len()) as u16).to_be_bytes());
            fix4(&mut f, 14);
            f.extend(inner);
            let L3::Ip(outer) = parse(&f).unwrap().l3 else {
                panic!("proto {proto}: not IP");
            };
            assert_eq!(outer.l4, L4::Tunnel);
            let inner = crate::wire::tunnel_inner(&f, &outer).unwrap().unwrap();
            assert!(matches!(inner.l4, L4::Tcp(TcpSummary { flags: SYN, .. })));
            assert_eq!(reply(&f), None, "proto {proto}");
        }

        // A first fragment that holds the whole TCP header.
        let mut frag = TCP4_SYN;
        frag[20] |= 0x20; // more fragments
        fix4(&mut frag, 14);
        assert_eq!(parses_as_syn(&frag).frag, Frag::First);
        assert_eq!(reply(&frag), None);
        // IPv6: a fragment header, offset 0 with M set.
        let mut frag6 = TCP6_SYN[..54].to_vec();
        frag6[20] = IpProtocol::IPV6_FRAG;
        frag6.extend([IpProtocol::TCP, 0, 0x00, 0x01, 0x12, 0x34, 0x56, 0x78]);
        frag6.extend(&TCP6_SYN[54..]);
        let payload = (frag6.len() - 54) as u16;
        frag6[18..20].copy_from_slice(&payload.to_be_bytes());
        assert_eq!(parses_as_syn(&frag6).frag, Frag::First);
        assert_eq!(reply(&frag6), None);
    }

    #[test]
    fn refuses_every_truncation() {
        for (name, f) in syns() {
            for len in 0..f.len() {
                assert_eq!(reply(&f[..len]), None, "{name} cut to {len}");
            }
        }
    }

    #[test]
    fn every_bit_flip_is_answered_well_or_refused() {
        let mut answered = 0;
        for (name, f) in syns() {
            for at in 0..f.len() {
                for bit in 0..8 {
                    let mut g = f.clone();
                    g[at] ^= 1 << bit;
                    let Some(r) = reply(&g) else { continue };
                    answered += 1;
                    let (ri, rt) = ip(&parse(&r).unwrap());
                    assert_eq!(rt.flags, SYN | ACK, "{name} byte {at} bit {bit}");
                    let seg = &r[usize::from(ri.l4_offset)..][..24];
                    assert!(tcp::Packet::new_checked(seg)
                        .unwrap()
                        .verify_checksum(ri.src, ri.dst));
                }
            }
        }
        // Flips of MACs, tags, addresses, ports and the SYN's options still
        // make SYNs.
        assert!(answered > 5000, "only {answered} answered");
    }

    #[test]
    fn largest_frames() {
        // Three tags, PPPoE, IPv4 with 40 bytes of options, and a SYN
        // carrying data up to the largest PPPoE length.
        let mut v4 = with_ipv4_options(&TCP4_SYN, &[1; 40]);
        v4.resize(14 + 65535 - 2, 0x5a);
        let total = (v4.len() - 14) as u16;
        v4[16..18].copy_from_slice(&total.to_be_bytes());
        fix4(&mut v4, 14);
        let v4 = tagged(&pppoe(&v4, &ppp::IPV4.to_be_bytes()), &THREE_TAGS);
        check("largest ipv4", &v4);

        // Three tags, PPPoE, IPv6 with eight 2048-byte destination-options
        // headers, and data up to the largest PPPoE length.
        let mut v6 = with_dest_opts(&TCP6_SYN, 8, 2048);
        v6.resize(14 + 65535 - 2, 0x5a);
        let payload = (v6.len() - 54) as u16;
        v6[18..20].copy_from_slice(&payload.to_be_bytes());
        let v6 = tagged(&pppoe(&v6, &ppp::IPV6.to_be_bytes()), &THREE_TAGS);
        assert_eq!(parses_as_syn(&v6).l4_offset, 34 + 40 + 8 * 2048);
        check("largest ipv6", &v6);
        assert_eq!(reply(&v6).unwrap().len(), REPLY_MAX);
    }
}
