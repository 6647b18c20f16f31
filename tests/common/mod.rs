//! Frame builders for tests and benches: real Ethernet/IP/L4 bytes with
//! valid checksums, written independently of `flypaper::wire` so that the
//! parser is checked against bytes it did not make.
#![allow(dead_code)]

use std::net::IpAddr;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const URG: u8 = 0x20;

const MAC_WAN: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const MAC_LAN: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

fn csum(data: &[u8], mut sum: u32) -> u16 {
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// Ethernet + IPv4/IPv6 header around an L4 payload (whose checksum field,
/// at `ck_off` within it, is filled here).
fn wrap(
    src: &str,
    dst: &str,
    proto: u8,
    ttl: u8,
    mut l4: Vec<u8>,
    ck_off: Option<usize>,
) -> Vec<u8> {
    let (s, d) = (ip(src), ip(dst));
    let mut f = Vec::with_capacity(64 + l4.len());
    f.extend_from_slice(&MAC_LAN);
    f.extend_from_slice(&MAC_WAN);
    match (s, d) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            if let Some(off) = ck_off {
                let mut pseudo = Vec::new();
                pseudo.extend_from_slice(&s.octets());
                pseudo.extend_from_slice(&d.octets());
                pseudo.extend_from_slice(&[0, proto]);
                pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
                pseudo.extend_from_slice(&l4);
                let c = csum(&pseudo, 0);
                l4[off..off + 2].copy_from_slice(&c.to_be_bytes());
            }
            f.extend_from_slice(&[0x08, 0x00]);
            let total = (20 + l4.len()) as u16;
            let mut h = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, ttl, proto, 0, 0];
            h[2..4].copy_from_slice(&total.to_be_bytes());
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            let c = csum(&h, 0);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            f.extend_from_slice(&h);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            if let Some(off) = ck_off {
                let mut pseudo = Vec::new();
                pseudo.extend_from_slice(&s.octets());
                pseudo.extend_from_slice(&d.octets());
                pseudo.extend_from_slice(&(l4.len() as u32).to_be_bytes());
                pseudo.extend_from_slice(&[0, 0, 0, proto]);
                pseudo.extend_from_slice(&l4);
                let c = csum(&pseudo, 0);
                l4[off..off + 2].copy_from_slice(&c.to_be_bytes());
            }
            f.extend_from_slice(&[0x86, 0xdd]);
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            f.extend_from_slice(&[proto, ttl]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
        }
        _ => panic!("mixed address families"),
    }
    f.extend_from_slice(&l4);
    f
}

pub fn tcp_seq(
    src: &str,
    sport: u16,
    dst: &str,
    dport: u16,
    flags: u8,
    seq: u32,
    ack: u32,
) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&64240u16.to_be_bytes());
    let proto = 6;
    wrap(src, dst, proto, 64, t, Some(16))
}

pub fn tcp(src: &str, sport: u16, dst: &str, dport: u16, flags: u8) -> Vec<u8> {
    tcp_seq(
        src,
        sport,
        dst,
        dport,
        flags,
        1000,
        if flags & ACK != 0 { 2000 } else { 0 },
    )
}

pub fn udp(src: &str, sport: u16, dst: &str, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(payload);
    wrap(src, dst, 17, 64, u, Some(6))
}

/// ICMPv4 (IPv4 addresses) of the given type, code 0, with a small body.
pub fn icmp(src: &str, dst: &str, ty: u8) -> Vec<u8> {
    let mut m = vec![ty, 0, 0, 0, 0x12, 0x34, 0, 1];
    m.extend_from_slice(&[0xab; 16]);
    let c = csum(&m, 0);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    wrap(src, dst, 1, 64, m, None)
}

/// ICMPv6 of the given type with the given hop limit.
pub fn icmp6(src: &str, dst: &str, ty: u8, hop_limit: u8) -> Vec<u8> {
    let mut m = vec![ty, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&[0u8; 16]);
    wrap(src, dst, 58, hop_limit, m, Some(2))
}

pub fn arp_request() -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&MAC_WAN);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&MAC_WAN);
    f.extend_from_slice(&[203, 0, 113, 1]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&[203, 0, 113, 10]);
    f.resize(60, 0);
    f
}

/// An IEEE 802.3 frame with an LLC header (spanning tree BPDU).
pub fn stp_bpdu() -> Vec<u8> {
    let mut f = vec![0x01, 0x80, 0xc2, 0, 0, 0];
    f.extend_from_slice(&MAC_WAN);
    f.extend_from_slice(&[0x00, 0x26, 0x42, 0x42, 0x03]);
    f.resize(60, 0);
    f
}

/// Insert an 802.1Q tag (VLAN `vid`) after the MAC addresses.
pub fn vlan(mut frame: Vec<u8>, vid: u16) -> Vec<u8> {
    let tag = [0x81, 0x00, (vid >> 8) as u8 & 0x0f, vid as u8];
    frame.splice(12..12, tag);
    frame
}
