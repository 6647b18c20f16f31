//! The kernel-facing data-path layer against a real kernel: the XDP program
//! (src/sys/xdp.rs, bpf/) and AF_XDP sockets (src/sys/xsk.rs), in network
//! namespaces this test creates; and the program alone, run by the kernel
//! on frames built here byte by byte (`BPF_PROG_TEST_RUN`).
//!
//! Topology of one lab (names unique per process and test):
//!
//! ```text
//!   ns fpx<pid>_<n>a        ns fpx<pid>_<n>f (the appliance)        ns fpx<pid>_<n>b
//!   h0 198.51.100.1  <-veth->  f0 [XDP, XSK]   [XDP, XSK] f1  <-veth->  h1 198.51.100.2
//!      2001:db8::1                  (one shared UMEM)                    2001:db8::2
//! ```
//!
//! The hosts have static neighbour entries (no ARP needed) and send real
//! wire frames (`ethtool -K tx off ...`, `gro on` so that AF_XDP transmit
//! into their veth is received). Needs root; as root every prerequisite is
//! checked and a missing one fails the test (CI runs as root). Not root:
//! each test says it is skipped.

use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use flypaper::sys::xdp::{self, AttachMode, XdpProgram};
use flypaper::sys::xsk::{self, BindMode, Desc, Umem, Xsk, XskConfig};
use flypaper::Addr;

const H0_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x00, 0x00, 0xa0];
const H1_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x00, 0x00, 0xb1];
const H0_V4: &str = "198.51.100.1";
const H1_V4: &str = "198.51.100.2";
const H0_V6: &str = "2001:db8::1";
const H1_V6: &str = "2001:db8::2";
const VLAN_V4: &str = "203.0.113.1";
const QINQ_V4: &str = "203.0.113.65";

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// True when the test can run; false (with a message) when not root.
/// As root, a missing tool is a failure, not a skip.
fn prerequisites() -> bool {
    if !is_root() {
        eprintln!("SKIPPED: the sys_xdp tests need root (CI runs them as root)");
        return false;
    }
    for (tool, pkg) in [("ip", "iproute2"), ("ethtool", "ethtool")] {
        let ok = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        assert!(ok, "`{tool}` is missing: apt-get install {pkg}");
    }
    true
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("running {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sh_out(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("running {args:?}: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mac_str(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Three namespaces wired as in the module doc; deleted on drop, even when
/// the test panics.
struct Lab {
    fw: String,
    a: String,
    b: String,
}

static LAB_SEQ: AtomicU32 = AtomicU32::new(0);

impl Lab {
    fn new() -> Lab {
        let n = LAB_SEQ.fetch_add(1, Ordering::Relaxed);
        let base = format!("fpx{}_{n}", std::process::id());
        let lab = Lab {
            fw: format!("{base}f"),
            a: format!("{base}a"),
            b: format!("{base}b"),
        };
        for ns in [&lab.fw, &lab.a, &lab.b] {
            sh(&["ip", "netns", "add", ns]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        // One queue each way: native XDP on veth needs the rx queues to
        // cover the peer's tx queues, and the test's sockets sit on queue 0.
        for (f, h, ns) in [("f0", "h0", &lab.a), ("f1", "h1", &lab.b)] {
            sh(&[
                "ip",
                "-n",
                &lab.fw,
                "link",
                "add",
                f,
                "numtxqueues",
                "1",
                "numrxqueues",
                "1",
                "type",
                "veth",
                "peer",
                "name",
                h,
                "netns",
                ns,
                "numtxqueues",
                "1",
                "numrxqueues",
                "1",
            ]);
        }
        let hosts = [
            (&lab.a, "h0", H0_MAC, H0_V4, H0_V6, H1_MAC, H1_V4, H1_V6),
            (&lab.b, "h1", H1_MAC, H1_V4, H1_V6, H0_MAC, H0_V4, H0_V6),
        ];
        for (ns, dev, mac, v4, v6, peer_mac, peer_v4, peer_v6) in hosts {
            let mac = mac_str(mac);
            let peer_mac = mac_str(peer_mac);
            sh(&["ip", "-n", ns, "link", "set", dev, "address", &mac]);
            // Real wire frames, and NAPI on receive (GRO) so that frames
            // sent by AF_XDP into the peer veth are taken in.
            sh(&[
                "ip",
                "netns",
                "exec",
                ns,
                "ethtool",
                "-K",
                dev,
                "tx",
                "off",
                "tso",
                "off",
                "gso",
                "off",
                "gro",
                "on",
                "txvlan",
                "off",
                "tx-vlan-stag-hw-insert",
                "off",
            ]);
            sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
            sh(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{v4}/24"),
                "dev",
                dev,
            ]);
            sh(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                dev,
                "nodad",
            ]);
            for peer in [peer_v4, peer_v6] {
                sh(&[
                    "ip",
                    "-n",
                    ns,
                    "neigh",
                    "replace",
                    peer,
                    "lladdr",
                    &peer_mac,
                    "dev",
                    dev,
                    "nud",
                    "permanent",
                ]);
            }
        }
        for f in ["f0", "f1"] {
            sh(&["ip", "-n", &lab.fw, "link", "set", f, "up"]);
        }
        lab
    }

    /// Runs `f` on a thread inside namespace `ns`.
    fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
        thread::scope(|s| {
            s.spawn(|| {
                xdp::enter_netns(ns).expect("setns");
                f()
            })
            .join()
            .expect("namespace thread panicked")
        })
    }

    fn link_show(&self, dev: &str) -> String {
        sh_out(&["ip", "-n", &self.fw, "link", "show", "dev", dev])
    }

    /// A UDP socket in namespace `ns` bound to `addr`.
    fn udp(ns: &str, addr: &str) -> UdpSocket {
        let addr = addr.to_string();
        Lab::in_ns(ns, move || UdpSocket::bind(&addr).expect("udp bind"))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.fw, &self.a, &self.b] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The appliance side of a lab: the program attached to f0 and f1, one
/// UMEM, a socket on each port (the second shares the UMEM).
struct Appliance {
    prog: XdpProgram,
    umem: Umem,
    x0: Xsk,
    x1: Xsk,
    /// Frames in no ring and not held by the test.
    free: Vec<u64>,
    modes: (AttachMode, AttachMode),
}

const FRAMES: u32 = 4096;
const FRAME_SIZE: u32 = 2048;

fn appliance(lab: &Lab, ring: u32) -> Appliance {
    Lab::in_ns(&lab.fw, || {
        let f0 = xdp::ifindex("f0").unwrap();
        let f1 = xdp::ifindex("f1").unwrap();
        let mut prog = XdpProgram::load(1024).expect("load");
        let m0 = prog.attach(f0, true).expect("attach f0");
        let m1 = prog.attach(f1, true).expect("attach f1");
        let umem = Umem::new(FRAMES, FRAME_SIZE).expect("umem");
        let cfg = XskConfig {
            rx_size: ring,
            tx_size: ring,
            fill_size: ring,
            comp_size: ring,
            ..XskConfig::default()
        };
        let mut x0 = Xsk::bind(&umem, f0, 0, &cfg, None).expect("bind f0");
        let mut x1 = Xsk::bind(&umem, f1, 0, &cfg, Some(&x0)).expect("bind f1 (shared UMEM)");
        // Both fill rings full; the other frames wait on a free list.
        let mut free: Vec<u64> = umem.frame_addrs().collect();
        for x in [&mut x0, &mut x1] {
            let n = x.fill(&free[free.len() - ring as usize..]);
            assert_eq!(n, ring as usize);
            free.truncate(free.len() - n);
        }
        prog.register_xsk(f0, 0, x0.fd()).expect("register f0");
        prog.register_xsk(f1, 0, x1.fd()).expect("register f1");
        Appliance {
            prog,
            umem,
            x0,
            x1,
            free,
            modes: (m0, m1),
        }
    })
}

/// Receives on `x` until `pred` has matched `want` frames or `timeout`;
/// returns the matching frames' bytes and how many frames arrived in all.
/// Every received frame goes back to the fill ring.
fn collect(
    umem: &Umem,
    x: &mut Xsk,
    want: usize,
    timeout: Duration,
    pred: impl Fn(&[u8]) -> bool,
) -> (Vec<Vec<u8>>, usize) {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut total = 0;
    let mut descs = [Desc::default(); 64];
    while got.len() < want && Instant::now() < deadline {
        let n = x.rx(&mut descs);
        if n == 0 {
            if x.rx_needs_wakeup() {
                x.wake_rx().unwrap();
            }
            xsk::poll(&[&*x], 20).unwrap();
            continue;
        }
        total += n;
        let mut addrs = [0u64; 64];
        for (d, a) in descs[..n].iter().zip(addrs.iter_mut()) {
            let f = umem.frame(d.addr, d.len as usize);
            if pred(f) {
                got.push(f.to_vec());
            }
            *a = d.addr;
        }
        assert_eq!(
            x.fill(&addrs[..n]),
            n,
            "fill ring has room for what came back"
        );
    }
    (got, total)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn send_n(sock: &UdpSocket, to: &str, marker: &[u8], n: usize) {
    for i in 0..n {
        let mut p = marker.to_vec();
        p.extend_from_slice(format!("#{i:04}").as_bytes());
        sock.send_to(&p, to).expect("send");
    }
}

fn addr(s: &str) -> u128 {
    s.parse::<Addr>().unwrap().0
}

/// The key of the fly that source `s` belongs to: `s` masked to its prefix
/// with the program's default lengths.
fn fly_key(s: &str) -> u128 {
    s.parse::<Addr>()
        .unwrap()
        .masked(xdp::DEFAULT_PREFIX_V4, xdp::DEFAULT_PREFIX_V6)
        .0
}

/// An Ethernet frame h0 -> h1 with VLAN `tags` (TPID, VID), IPv4 from
/// `src` to 203.0.113.2, UDP 40000 -> 40001 carrying `payload`.
fn udp4_frame(tags: &[(u16, u16)], src: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let src = std::net::Ipv4Addr::from(src).to_string();
    eth(tags, 0x0800, &ipv4(&src, 17, &udp(payload)))
}

// Frames built byte by byte, each layer wrapping the bytes of the one
// inside it: `eth(&tags, 0x8864, &pppoe(0x0021, &ipv4(src, 17, &udp(b".."))))`.

/// Ethernet h0 -> h1 with VLAN `tags` (TPID, VID) and `ethertype`.
fn eth(tags: &[(u16, u16)], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&H1_MAC);
    f.extend_from_slice(&H0_MAC);
    for &(tpid, vid) in tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// IPv4 from `src` to 203.0.113.2 carrying protocol `proto`.
fn ipv4(src: &str, proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_with(src, proto, &[], 0x4000, payload)
}

/// IPv4 with `options` (a multiple of 4 bytes) and `frag_off` (flags and
/// fragment offset), with its header checksum.
fn ipv4_with(src: &str, proto: u8, options: &[u8], frag_off: u16, payload: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let hlen = 20 + options.len();
    let mut ip = vec![0u8; hlen];
    ip[0] = 0x40 | (hlen / 4) as u8;
    ip[2..4].copy_from_slice(&((hlen + payload.len()) as u16).to_be_bytes());
    ip[6..8].copy_from_slice(&frag_off.to_be_bytes());
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&src.parse::<std::net::Ipv4Addr>().unwrap().octets());
    ip[16..20].copy_from_slice(&[203, 0, 113, 2]);
    ip[20..].copy_from_slice(options);
    let mut sum: u32 = ip
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    ip.extend_from_slice(payload);
    ip
}

/// IPv6 from `src` to h1 with next header `next`.
fn ipv6(src: &str, next: u8, payload: &[u8]) -> Vec<u8> {
    let mut ip = vec![0u8; 40];
    ip[0] = 0x60;
    ip[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    ip[6] = next;
    ip[7] = 64;
    ip[8..24].copy_from_slice(&addr(src).to_be_bytes());
    ip[24..40].copy_from_slice(&addr(H1_V6).to_be_bytes());
    ip.extend_from_slice(payload);
    ip
}

/// UDP 40000 -> 40001 without a checksum.
fn udp(payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&40000u16.to_be_bytes());
    u.extend_from_slice(&40001u16.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// GRE with `flags` (checksum 0x8000, key 0x2000, sequence 0x1000: each
/// adds its 4 bytes) carrying EtherType `proto`.
fn gre(flags: u16, proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut g = Vec::new();
    g.extend_from_slice(&flags.to_be_bytes());
    g.extend_from_slice(&proto.to_be_bytes());
    if flags & 0x8000 != 0 {
        g.extend_from_slice(&[0xc5, 0x3a, 0, 0]); // checksum, reserved
    }
    if flags & 0x2000 != 0 {
        g.extend_from_slice(&0x0bad_cafe_u32.to_be_bytes());
    }
    if flags & 0x1000 != 0 {
        g.extend_from_slice(&7u32.to_be_bytes());
    }
    g.extend_from_slice(payload);
    g
}

/// A PPPoE session frame's payload: header (session 0x0042) and PPP
/// protocol.
fn pppoe(ppp_proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x11, 0x00, 0x00, 0x42];
    p.extend_from_slice(&((2 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&ppp_proto.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// An MPLS label stack with bottom of stack on the last label.
fn mpls(labels: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    for (i, l) in labels.iter().enumerate() {
        let bos = u32::from(i + 1 == labels.len());
        m.extend_from_slice(&(l << 12 | bos << 8 | 64).to_be_bytes());
    }
    m.extend_from_slice(payload);
    m
}

/// Sends `frames` (at most 64) out of `dev` in namespace `ns` through an
/// AF_XDP socket (transmit needs no XDP program on `dev`), and waits until
/// the kernel has completed them all.
fn inject(ns: &str, dev: &str, frames: &[Vec<u8>]) {
    assert!(frames.len() <= 64);
    Lab::in_ns(ns, || {
        let idx = xdp::ifindex(dev).unwrap();
        let mut umem = Umem::new(64, 2048).unwrap();
        let cfg = XskConfig {
            rx_size: 64,
            tx_size: 64,
            fill_size: 64,
            comp_size: 64,
            ..XskConfig::default()
        };
        let mut x = Xsk::bind(&umem, idx, 0, &cfg, None).expect("bind injector");
        let mut descs = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            let a = umem.frame_addr(i as u32);
            umem.frame_mut(a, f.len()).copy_from_slice(f);
            descs.push(Desc {
                addr: a,
                len: f.len() as u32,
            });
        }
        assert_eq!(x.tx(&descs), descs.len());
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut done = 0;
        let mut addrs = [0u64; 64];
        while done < descs.len() {
            assert!(Instant::now() < deadline, "only {done} frames sent");
            x.kick_tx().unwrap();
            done += x.completed(&mut addrs);
            thread::sleep(Duration::from_millis(1));
        }
        let st = x.stats().unwrap();
        assert_eq!(st.tx_invalid_descs, 0, "{st:?}");
    });
}

#[test]
fn frames_reach_the_xsk_with_their_bytes() {
    if !prerequisites() {
        return;
    }
    let lab = Lab::new();
    let mut ap = appliance(&lab, 1024);
    eprintln!(
        "attach f0: {}, f1: {}; bind f0: {}, f1: {}",
        ap.modes.0,
        ap.modes.1,
        ap.x0.mode(),
        ap.x1.mode()
    );
    assert!(lab.link_show("f0").contains("xdp"));

    let h0 = Lab::udp(&lab.a, &format!("{H0_V4}:40000"));
    let before = ap.prog.counters().unwrap();
    send_n(&h0, &format!("{H1_V4}:40001"), b"flypaper-rx-v4", 10);
    let (frames, _) = collect(&ap.umem, &mut ap.x0, 10, Duration::from_secs(3), |f| {
        contains(f, b"flypaper-rx-v4")
    });
    assert_eq!(frames.len(), 10, "10 IPv4 frames on the XSK RX ring");
    let f = &frames[0];
    // Ethernet: to h1, from h0, IPv4.
    assert_eq!(&f[0..6], &H1_MAC);
    assert_eq!(&f[6..12], &H0_MAC);
    assert_eq!(&f[12..14], &[0x08, 0x00]);
    // IPv4 header: UDP from h0 to h1.
    assert_eq!(f[14] >> 4, 4);
    assert_eq!(f[23], 17);
    assert_eq!(&f[26..30], &[198, 51, 100, 1]);
    assert_eq!(&f[30..34], &[198, 51, 100, 2]);
    // UDP: ports 40000 -> 40001, payload at 42.
    assert_eq!(&f[34..36], &40000u16.to_be_bytes());
    assert_eq!(&f[36..38], &40001u16.to_be_bytes());
    assert_eq!(&f[42..42 + 14], b"flypaper-rx-v4");
    assert_eq!(f.len(), 42 + 14 + 5);

    // IPv6 too.
    let h0v6 = Lab::udp(&lab.a, &format!("[{H0_V6}]:40000"));
    send_n(&h0v6, &format!("[{H1_V6}]:40001"), b"flypaper-rx-v6", 5);
    let (frames, _) = collect(&ap.umem, &mut ap.x0, 5, Duration::from_secs(3), |f| {
        contains(f, b"flypaper-rx-v6")
    });
    assert_eq!(frames.len(), 5, "5 IPv6 frames on the XSK RX ring");
    let f = &frames[0];
    assert_eq!(&f[12..14], &[0x86, 0xdd]);
    assert_eq!(&f[22..38], &addr(H0_V6).to_be_bytes());

    let after = ap.prog.counters().unwrap();
    assert!(after.redirected >= before.redirected + 15, "{after:?}");
    assert!(after.ipv4 >= before.ipv4 + 10);
    assert!(after.ipv6 >= before.ipv6 + 5);
    assert_eq!(after.fly_drops, 0);
    assert_eq!(
        after.total(),
        after.ipv4 + after.ipv6 + after.non_ip + after.malformed
    );
    let st = ap.x0.stats().unwrap();
    assert_eq!(st.rx_dropped, 0, "{st:?}");
}

#[test]
fn flies_are_dropped_in_xdp() {
    if !prerequisites() {
        return;
    }
    let lab = Lab::new();
    let mut ap = appliance(&lab, 512);
    let to = format!("{H1_V4}:40001");
    let h0 = Lab::udp(&lab.a, &format!("{H0_V4}:40000"));
    let now = xdp::monotonic_ns();
    let minute = 60_000_000_000;

    // A fly (IPv4): dropped in XDP, counted, never on the ring.
    ap.prog.set_fly(addr(H0_V4), now + minute).unwrap();
    assert_eq!(ap.prog.fly(addr(H0_V4)).unwrap(), Some(now + minute));
    let c0 = ap.prog.counters().unwrap();
    send_n(&h0, &to, b"flypaper-fly-v4", 20);
    let (seen, _) = collect(&ap.umem, &mut ap.x0, 1, Duration::from_millis(500), |f| {
        contains(f, b"flypaper-fly-v4")
    });
    assert!(seen.is_empty(), "a fly's frame reached the XSK");
    let c1 = ap.prog.counters().unwrap();
    assert_eq!(c1.fly_drops - c0.fly_drops, 20, "{c1:?}");

    // IPv6 fly: h0's /64.
    ap.prog.set_fly(fly_key(H0_V6), now + minute).unwrap();
    let h0v6 = Lab::udp(&lab.a, &format!("[{H0_V6}]:40000"));
    send_n(&h0v6, &format!("[{H1_V6}]:40001"), b"flypaper-fly-v6", 7);
    let (seen, _) = collect(&ap.umem, &mut ap.x0, 1, Duration::from_millis(500), |f| {
        contains(f, b"flypaper-fly-v6")
    });
    assert!(seen.is_empty(), "an IPv6 fly's frame reached the XSK");
    let c2 = ap.prog.counters().unwrap();
    assert_eq!(c2.fly_drops - c1.fly_drops, 7, "{c2:?}");

    // Behind one 802.1Q tag, and behind 802.1ad + 802.1Q (QinQ). This
    // kernel has no VLAN devices (CONFIG_VLAN_8021Q is off), so the tagged
    // frames are built here and sent from h0 with an AF_XDP socket.
    ap.prog.set_fly(addr(VLAN_V4), now + minute).unwrap();
    ap.prog.set_fly(addr(QINQ_V4), now + minute).unwrap();
    let vlan = [(0x8100, 100)];
    let qinq = [(0x88a8, 200), (0x8100, 300)];
    let ad_only = [(0x88a8, 200)];
    let mut frames = Vec::new();
    for i in 0..5u8 {
        frames.push(udp4_frame(&vlan, [203, 0, 113, 1], &[b'v', i]));
        frames.push(udp4_frame(&qinq, [203, 0, 113, 65], &[b'q', i]));
    }
    for i in 0..3u8 {
        frames.push(udp4_frame(&ad_only, [203, 0, 113, 129], &[b'a', i]));
    }
    // Not IP (ARP's ethertype): never a fly, goes to the socket.
    let mut arp = udp4_frame(&[], [203, 0, 113, 1], b"arp");
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    frames.push(arp);
    // Truncated IPv4 (10 bytes of header): userspace decides.
    let mut short = udp4_frame(&[], [203, 0, 113, 1], b"");
    short.truncate(24);
    frames.push(short);
    let c2b = ap.prog.counters().unwrap();
    inject(&lab.a, "h0", &frames);
    let (seen, _) = collect(&ap.umem, &mut ap.x0, 5, Duration::from_secs(3), |f| {
        f.get(12..14) != Some(&[0x86, 0xdd][..]) // not the hosts' IPv6 chatter
    });
    let c3 = ap.prog.counters().unwrap();
    assert_eq!(c3.fly_drops - c2.fly_drops, 10, "{c3:?}");
    assert_eq!(c3.non_ip - c2b.non_ip, 1, "{c3:?}");
    assert_eq!(c3.malformed - c2b.malformed, 1, "{c3:?}");
    assert_eq!(seen.len(), 5, "3 tagged + ARP + truncated reach the socket");
    let tagged: Vec<_> = seen.iter().filter(|f| f[12..14] == [0x88, 0xa8]).collect();
    assert_eq!(tagged.len(), 3);
    assert_eq!(
        u16::from_be_bytes([tagged[0][14], tagged[0][15]]) & 0xfff,
        200
    );
    assert_eq!(&tagged[0][16..18], &[0x08, 0x00], "tag intact, IPv4 inside");
    assert!(seen.iter().any(|f| f.len() == 24));

    // Unblocked: frames reach the socket again.
    ap.prog.remove_fly(addr(H0_V4)).unwrap();
    ap.prog.remove_fly(addr(H0_V4)).unwrap(); // absent is fine
    assert_eq!(ap.prog.fly(addr(H0_V4)).unwrap(), None);
    send_n(&h0, &to, b"flypaper-unblocked", 5);
    let (seen, _) = collect(&ap.umem, &mut ap.x0, 5, Duration::from_secs(3), |f| {
        contains(f, b"flypaper-unblocked")
    });
    assert_eq!(seen.len(), 5);

    // An expired entry is not a fly.
    ap.prog.set_fly(addr(H0_V4), now.saturating_sub(1)).unwrap();
    let c4 = ap.prog.counters().unwrap();
    send_n(&h0, &to, b"flypaper-expired", 4);
    let (seen, _) = collect(&ap.umem, &mut ap.x0, 4, Duration::from_secs(3), |f| {
        contains(f, b"flypaper-expired")
    });
    assert_eq!(seen.len(), 4);
    let c5 = ap.prog.counters().unwrap();
    assert_eq!(c5.fly_drops, c4.fly_drops);
    assert_eq!(c5.fly_expired - c4.fly_expired, 4);

    // Batch insert and clear.
    let many: Vec<(u128, u64)> = (0..500u32)
        .map(|i| {
            (
                Addr::from_v4(0xcb00_7100 | (i & 0xff)).0 + u128::from(i >> 8) * (1 << 40),
                now + minute,
            )
        })
        .collect();
    ap.prog.set_flies(&many).unwrap();
    assert!(ap.prog.fly_count() >= 500);
    let removed = ap.prog.clear_flies().unwrap();
    assert!(removed >= 500, "{removed}");
    assert_eq!(ap.prog.fly_count(), 0);
    assert!(ap.prog.set_flies(&vec![(1, 1); 2000]).is_ok());
    assert_eq!(ap.prog.fly_count(), 1);
}

// A fly and its twin (in another /64), for the encapsulation tests;
// OUTER_* are the outer sources of tunnels whose inner source is the one
// under test.
const FLY_V4: &str = "203.0.113.66";
const FLY_V6: &str = "2001:db8:0:66::66";
const TWIN_V4: &str = "203.0.113.67";
const TWIN_V6: &str = "2001:db8:0:67::66";
const OUTER_V4: &str = "198.51.100.200";
const OUTER_V6: &str = "2001:db8::200";

/// One way to wrap a frame: `build(src_v4, src_v6, payload)` puts the
/// address under test where this encapsulation hides it; `found` names the
/// counters (`XdpCounters` fields, `name()` below) a frame of it raises
/// besides the verdict's.
struct Encap {
    name: &'static str,
    build: fn(&str, &str, &[u8]) -> Vec<u8>,
    found: &'static [&'static str],
}

const MIXED_TAGS: [(u16, u16); 3] = [(0x9100, 10), (0x88a8, 20), (0x8100, 30)];

fn encapsulations() -> Vec<Encap> {
    vec![
        Encap {
            name: "IPv4",
            build: |s4, _, p| eth(&[], 0x0800, &ipv4(s4, 17, &udp(p))),
            found: &["ipv4"],
        },
        Encap {
            name: "IPv6",
            build: |_, s6, p| eth(&[], 0x86dd, &ipv6(s6, 17, &udp(p))),
            found: &["ipv6"],
        },
        Encap {
            name: "IPv4 behind one 0x9100 tag",
            build: |s4, _, p| eth(&[(0x9100, 5)], 0x0800, &ipv4(s4, 17, &udp(p))),
            found: &["ipv4"],
        },
        Encap {
            name: "IPv4 behind tags 0x9100, 0x88a8, 0x8100",
            build: |s4, _, p| eth(&MIXED_TAGS, 0x0800, &ipv4(s4, 17, &udp(p))),
            found: &["ipv4"],
        },
        Encap {
            name: "IPv6 behind tags 0x88a8, 0x9100, 0x8100",
            build: |_, s6, p| {
                let tags = [(0x88a8, 1), (0x9100, 2), (0x8100, 3)];
                eth(&tags, 0x86dd, &ipv6(s6, 17, &udp(p)))
            },
            found: &["ipv6"],
        },
        Encap {
            name: "PPPoE IPv4",
            build: |s4, _, p| eth(&[], 0x8864, &pppoe(0x0021, &ipv4(s4, 17, &udp(p)))),
            found: &["ipv4", "pppoe"],
        },
        Encap {
            name: "PPPoE IPv6",
            build: |_, s6, p| eth(&[], 0x8864, &pppoe(0x0057, &ipv6(s6, 17, &udp(p)))),
            found: &["ipv6", "pppoe"],
        },
        Encap {
            name: "PPPoE IPv4 behind an 0x8100 tag",
            build: |s4, _, p| {
                let ip = ipv4(s4, 17, &udp(p));
                eth(&[(0x8100, 7)], 0x8864, &pppoe(0x0021, &ip))
            },
            found: &["ipv4", "pppoe"],
        },
        Encap {
            name: "MPLS, 1 label, IPv4",
            build: |s4, _, p| eth(&[], 0x8847, &mpls(&[100], &ipv4(s4, 17, &udp(p)))),
            found: &["ipv4", "mpls"],
        },
        Encap {
            name: "MPLS, 3 labels, IPv6",
            build: |_, s6, p| eth(&[], 0x8847, &mpls(&[1, 2, 3], &ipv6(s6, 17, &udp(p)))),
            found: &["ipv6", "mpls"],
        },
        Encap {
            name: "MPLS multicast, 8 labels, behind 2 tags, IPv4",
            build: |s4, _, p| {
                let labels = [16, 17, 18, 19, 20, 21, 22, 23];
                let tags = [(0x88a8, 1), (0x8100, 2)];
                eth(&tags, 0x8848, &mpls(&labels, &ipv4(s4, 17, &udp(p))))
            },
            found: &["ipv4", "mpls"],
        },
        Encap {
            name: "IP-in-IP, inner source",
            build: |s4, _, p| eth(&[], 0x0800, &ipv4(OUTER_V4, 4, &ipv4(s4, 17, &udp(p)))),
            found: &["ipv4", "tunnel"],
        },
        Encap {
            name: "6in4, inner source",
            build: |_, s6, p| eth(&[], 0x0800, &ipv4(OUTER_V4, 41, &ipv6(s6, 17, &udp(p)))),
            found: &["ipv4", "tunnel"],
        },
        Encap {
            name: "GRE over IPv4 with checksum and key, IPv4 inner source",
            build: |s4, _, p| {
                let inner = ipv4(s4, 17, &udp(p));
                eth(
                    &[],
                    0x0800,
                    &ipv4(OUTER_V4, 47, &gre(0xa000, 0x0800, &inner)),
                )
            },
            found: &["ipv4", "tunnel"],
        },
        Encap {
            name: "GRE over IPv4, no options, IPv6 inner source",
            build: |_, s6, p| {
                let inner = ipv6(s6, 17, &udp(p));
                eth(&[], 0x0800, &ipv4(OUTER_V4, 47, &gre(0, 0x86dd, &inner)))
            },
            found: &["ipv4", "tunnel"],
        },
        Encap {
            name: "GRE over IPv6 with checksum, key and sequence, IPv6 inner source",
            build: |_, s6, p| {
                let inner = ipv6(s6, 17, &udp(p));
                eth(
                    &[],
                    0x86dd,
                    &ipv6(OUTER_V6, 47, &gre(0xb000, 0x86dd, &inner)),
                )
            },
            found: &["ipv6", "tunnel"],
        },
        Encap {
            name: "4in6, inner source",
            build: |s4, _, p| eth(&[], 0x86dd, &ipv6(OUTER_V6, 4, &ipv4(s4, 17, &udp(p)))),
            found: &["ipv6", "tunnel"],
        },
        Encap {
            name: "6in6, inner source",
            build: |_, s6, p| eth(&[], 0x86dd, &ipv6(OUTER_V6, 41, &ipv6(s6, 17, &udp(p)))),
            found: &["ipv6", "tunnel"],
        },
        Encap {
            name: "IP-in-IP whose outer header has 40 bytes of options, inner source",
            build: |s4, _, p| {
                let inner = ipv4(s4, 17, &udp(p));
                let nops = [1u8; 40];
                eth(&[], 0x0800, &ipv4_with(OUTER_V4, 4, &nops, 0, &inner))
            },
            found: &["ipv4", "tunnel"],
        },
        Encap {
            name: "IP-in-IP, outer source",
            build: |s4, _, p| eth(&[], 0x0800, &ipv4(s4, 4, &ipv4(OUTER_V4, 17, &udp(p)))),
            found: &["ipv4", "tunnel"],
        },
        Encap {
            name: "6in6, outer source",
            build: |_, s6, p| eth(&[], 0x86dd, &ipv6(s6, 41, &ipv6(OUTER_V6, 17, &udp(p)))),
            found: &["ipv6", "tunnel"],
        },
        Encap {
            name: "GRE with key, outer source",
            build: |s4, _, p| {
                let inner = ipv4(OUTER_V4, 17, &udp(p));
                eth(&[], 0x0800, &ipv4(s4, 47, &gre(0x2000, 0x0800, &inner)))
            },
            found: &["ipv4", "tunnel"],
        },
        Encap {
            name: "GRE with key in PPPoE behind 3 tags, IPv6 inner source",
            build: |_, s6, p| {
                let inner = ipv6(s6, 17, &udp(p));
                let outer = ipv4(OUTER_V4, 47, &gre(0x2000, 0x86dd, &inner));
                eth(&MIXED_TAGS, 0x8864, &pppoe(0x0021, &outer))
            },
            found: &["ipv4", "pppoe", "tunnel"],
        },
        Encap {
            name: "4in6 below 3 MPLS labels, inner source",
            build: |s4, _, p| {
                let outer = ipv6(OUTER_V6, 4, &ipv4(s4, 17, &udp(p)));
                eth(&[], 0x8847, &mpls(&[1, 2, 3], &outer))
            },
            found: &["ipv6", "mpls", "tunnel"],
        },
    ]
}

/// Every counter by its `XdpCounters` field name.
fn named(c: &xdp::XdpCounters) -> [(&'static str, u64); 12] {
    [
        ("redirected", c.redirected),
        ("fly_drops", c.fly_drops),
        ("no_socket", c.no_socket),
        ("no_port", c.no_port),
        ("ipv4", c.ipv4),
        ("ipv6", c.ipv6),
        ("non_ip", c.non_ip),
        ("malformed", c.malformed),
        ("fly_expired", c.fly_expired),
        ("pppoe", c.pppoe),
        ("mpls", c.mpls),
        ("tunnel", c.tunnel),
    ]
}

/// Runs `frame` through `prog` (BPF_PROG_TEST_RUN: the frame arrives on a
/// device without a port slot, so what is not dropped passes, counted
/// `no_port`) and checks the verdict and that exactly the counters the
/// verdict and `found` name went up, each by one. Says what differs.
fn run_case(
    prog: &XdpProgram,
    what: &str,
    frame: &[u8],
    want: u32,
    found: &[&str],
) -> Result<(), String> {
    use libbpf_rs::libbpf_sys::{XDP_DROP, XDP_PASS};
    let before = prog.counters().unwrap();
    let action = prog.test_run(frame).expect("BPF_PROG_TEST_RUN");
    let after = prog.counters().unwrap();
    let verdict = |a: u32| match a {
        XDP_DROP => "XDP_DROP".to_string(),
        XDP_PASS => "XDP_PASS".to_string(),
        a => format!("action {a}"),
    };
    let mut wrong = Vec::new();
    if action != want {
        wrong.push(format!("{} instead of {}", verdict(action), verdict(want)));
    }
    let mut raised: Vec<&str> = found.to_vec();
    raised.push(if want == XDP_DROP {
        "fly_drops"
    } else {
        "no_port"
    });
    for ((name, b), (_, a)) in named(&before).into_iter().zip(named(&after)) {
        let expect = u64::from(raised.contains(&name));
        if a - b != expect {
            wrong.push(format!("{name} +{} instead of +{expect}", a - b));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!("{what}: {} (frame {frame:02x?})", wrong.join(", ")))
    }
}

/// A frame, what the program must do with it, and the counters it raises
/// besides the verdict's (as for `run_case`).
type Case = (&'static str, Vec<u8>, u32, &'static [&'static str]);

/// `run_case` for each of `cases`; what went wrong, case by case.
fn run_cases(prog: &XdpProgram, cases: &[Case]) -> Vec<String> {
    cases
        .iter()
        .filter_map(|(what, frame, want, found)| run_case(prog, what, frame, *want, found).err())
        .collect()
}

/// The program sees through every encapsulation it is taught, with real
/// bytes run by the kernel (no lab needed): for each, a fly's frame is
/// dropped and its twin from a non-fly passes; frames it does not look
/// into (too deep, non-IP payloads) pass, counted as such.
#[test]
fn flies_are_found_behind_encapsulations() {
    use libbpf_rs::libbpf_sys::{XDP_DROP, XDP_PASS};
    if !prerequisites() {
        return;
    }
    let prog = XdpProgram::load(64).unwrap();
    let later = xdp::monotonic_ns() + 60_000_000_000;
    for fly in [FLY_V4, FLY_V6] {
        prog.set_fly(fly_key(fly), later).unwrap();
    }
    let mut runs = 0;
    let mut failed = Vec::new();
    for e in encapsulations() {
        let fly = (e.build)(FLY_V4, FLY_V6, b"fly");
        let twin = (e.build)(TWIN_V4, TWIN_V6, b"fly");
        assert_eq!(fly.len(), twin.len());
        let name = |who: &str| format!("{}: {who}", e.name);
        failed.extend(run_case(&prog, &name("fly"), &fly, XDP_DROP, e.found).err());
        failed.extend(run_case(&prog, &name("twin"), &twin, XDP_PASS, e.found).err());
        runs += 2;
    }

    // What the program does not look into goes to userspace, fly or not.
    let ip4 = ipv4(FLY_V4, 17, &udp(b"fly"));
    let four_tags = [(0x8100, 1), (0x88a8, 2), (0x9100, 3), (0x8100, 4)];
    let nine_labels = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    let lcp = [0x01, 0x01, 0x00, 0x0a, 0x01, 0x04, 0x05, 0xd4, 0x05, 0x06];
    let padi = [0x11, 0x09, 0x00, 0x00, 0x00, 0x04, 0x01, 0x01, 0x00, 0x00];
    let mut cut_inner = eth(&[], 0x0800, &ipv4(TWIN_V4, 4, &ip4));
    cut_inner.truncate(14 + 20 + 12); // the inner source is cut off
    let mut cut_inner_of_fly = eth(&[], 0x0800, &ipv4(FLY_V4, 4, &ip4));
    cut_inner_of_fly.truncate(14 + 20 + 12);
    let mut cut_gre = eth(&[], 0x0800, &ipv4(FLY_V4, 47, &gre(0, 0x0800, &ip4)));
    cut_gre.truncate(14 + 20 + 2);
    let pseudowire = {
        let mut m = mpls(&[100], &[0x00, 0x00, 0x00, 0x01]); // control word
        m.extend_from_slice(&eth(&[], 0x0800, &ip4));
        m
    };
    let cases: Vec<Case> = vec![
        (
            "fly behind 4 tags: too deep, userspace drops it",
            eth(&four_tags, 0x0800, &ip4),
            XDP_PASS,
            &["malformed"],
        ),
        (
            "fly below 9 MPLS labels: too deep",
            eth(&[], 0x8847, &mpls(&nine_labels, &ip4)),
            XDP_PASS,
            &["malformed"],
        ),
        (
            "MPLS stack cut off before its bottom",
            eth(&[], 0x8847, &[0, 1, 0, 64, 0, 2]),
            XDP_PASS,
            &["malformed"],
        ),
        (
            "PPPoE LCP",
            eth(&[], 0x8864, &pppoe(0xc021, &lcp)),
            XDP_PASS,
            &["non_ip"],
        ),
        (
            "PPPoE IPCP",
            eth(&[], 0x8864, &pppoe(0x8021, &lcp)),
            XDP_PASS,
            &["non_ip"],
        ),
        (
            "PPPoE IPV6CP",
            eth(&[], 0x8864, &pppoe(0x8057, &lcp)),
            XDP_PASS,
            &["non_ip"],
        ),
        (
            "PPPoE discovery (PADI)",
            eth(&[], 0x8863, &padi),
            XDP_PASS,
            &["non_ip"],
        ),
        (
            "PPPoE session with a bad version: userspace decides",
            {
                let mut p = pppoe(0x0021, &ip4);
                p[0] = 0x21;
                eth(&[], 0x8864, &p)
            },
            XDP_PASS,
            &["malformed"],
        ),
        (
            "MPLS carrying an Ethernet pseudowire",
            eth(&[], 0x8847, &pseudowire),
            XDP_PASS,
            &["non_ip"],
        ),
        (
            "IP-in-IP with the inner header cut short",
            cut_inner,
            XDP_PASS,
            &["malformed"],
        ),
        (
            "IP-in-IP from a fly with the inner header cut short: the outer source counts",
            cut_inner_of_fly,
            XDP_DROP,
            &["malformed"],
        ),
        (
            "GRE from a fly, its header cut short: the outer source counts",
            cut_gre,
            XDP_DROP,
            &["malformed"],
        ),
        (
            "GRE with the routing bit: not decapsulated (as by the kernel)",
            eth(&[], 0x0800, &ipv4(TWIN_V4, 47, &gre(0x4000, 0x0800, &ip4))),
            XDP_PASS,
            &["ipv4"],
        ),
        (
            "GRE version 1 (PPTP): not decapsulated",
            eth(&[], 0x0800, &ipv4(TWIN_V4, 47, &gre(0x0001, 0x0800, &ip4))),
            XDP_PASS,
            &["ipv4"],
        ),
        (
            "a non-first IPv4 fragment of IP-in-IP: no inner header there",
            eth(&[], 0x0800, &ipv4_with(TWIN_V4, 4, &[], 0x0010, &ip4)),
            XDP_PASS,
            &["ipv4"],
        ),
    ];
    failed.extend(run_cases(&prog, &cases));
    runs += cases.len() as u64;
    assert!(failed.is_empty(), "\n{}", failed.join("\n"));

    // The counter families still add up.
    let c = prog.counters().unwrap();
    assert_eq!(c.total(), runs, "{c:?}");
    assert_eq!(c.ipv4 + c.ipv6 + c.non_ip + c.malformed, runs, "{c:?}");
    assert!(c.pppoe + c.mpls <= c.ipv4 + c.ipv6, "{c:?}");
    assert!(c.tunnel <= c.ipv4 + c.ipv6, "{c:?}");
}

// Frames from one source, in the ways the prefix tests wrap it.
fn plain4(s4: &str) -> Vec<u8> {
    eth(&[], 0x0800, &ipv4(s4, 17, &udp(b"prefix")))
}
fn plain6(s6: &str) -> Vec<u8> {
    eth(&[], 0x86dd, &ipv6(s6, 17, &udp(b"prefix")))
}
fn pppoe6(s6: &str) -> Vec<u8> {
    eth(&[], 0x8864, &pppoe(0x0057, &ipv6(s6, 17, &udp(b"prefix"))))
}
fn six_in_four(s6: &str) -> Vec<u8> {
    eth(
        &[],
        0x0800,
        &ipv4(OUTER_V4, 41, &ipv6(s6, 17, &udp(b"prefix"))),
    )
}
fn four_in_six(s4: &str) -> Vec<u8> {
    eth(
        &[],
        0x86dd,
        &ipv6(OUTER_V6, 4, &ipv4(s4, 17, &udp(b"prefix"))),
    )
}

/// A fly is a prefix: the program masks every source it looks up (outer,
/// a tunnel's inner, behind PPPoE) with its family's length, /32 and /64
/// from load, then those of `set_prefixes`; the counters are those of any
/// other lookup.
#[test]
fn flies_are_prefixes() {
    use libbpf_rs::libbpf_sys::{XDP_DROP, XDP_PASS};
    if !prerequisites() {
        return;
    }
    let prog = XdpProgram::load(64).unwrap();
    assert_eq!(
        prog.prefixes().unwrap(),
        (32, 64),
        "the defaults, from load"
    );
    let later = xdp::monotonic_ns() + 60_000_000_000;
    // Flies, each given as a source and the prefix it masks to: the key.
    let set_flies = |v4: u8, v6: u8, flies: [(&str, &str); 2]| {
        for (source, prefix) in flies {
            let key = source.parse::<Addr>().unwrap().masked(v4, v6).0;
            assert_eq!(key, addr(prefix), "{source} with /{v4}, /{v6}");
            prog.set_fly(key, later).unwrap();
        }
    };
    set_flies(
        32,
        64,
        [
            ("2001:db8:1:2::99", "2001:db8:1:2::"),
            ("192.0.2.7", "192.0.2.7"),
        ],
    );
    let defaults: Vec<Case> = vec![
        (
            "from 2001:db8:1:2::99, in the /64 fly",
            plain6("2001:db8:1:2::99"),
            XDP_DROP,
            &["ipv6"],
        ),
        (
            "from 2001:db8:1:2:ffff::1, in the /64 fly",
            plain6("2001:db8:1:2:ffff::1"),
            XDP_DROP,
            &["ipv6"],
        ),
        (
            "from 2001:db8:1:3::1, the next /64",
            plain6("2001:db8:1:3::1"),
            XDP_PASS,
            &["ipv6"],
        ),
        (
            "from 192.0.2.7, the /32 fly",
            plain4("192.0.2.7"),
            XDP_DROP,
            &["ipv4"],
        ),
        (
            "from 192.0.2.8, next to the /32 fly",
            plain4("192.0.2.8"),
            XDP_PASS,
            &["ipv4"],
        ),
        (
            "6in4 whose inner source 2001:db8:1:2::abcd is in the /64 fly",
            six_in_four("2001:db8:1:2::abcd"),
            XDP_DROP,
            &["ipv4", "tunnel"],
        ),
        (
            "6in4 whose inner source is 2001:db8:1:3::abcd",
            six_in_four("2001:db8:1:3::abcd"),
            XDP_PASS,
            &["ipv4", "tunnel"],
        ),
        (
            "PPPoE IPv6 from 2001:db8:1:2:ffff::1, in the /64 fly",
            pppoe6("2001:db8:1:2:ffff::1"),
            XDP_DROP,
            &["ipv6", "pppoe"],
        ),
        (
            "PPPoE IPv6 from 2001:db8:1:3::1",
            pppoe6("2001:db8:1:3::1"),
            XDP_PASS,
            &["ipv6", "pppoe"],
        ),
        (
            "IPv6 from ::ffff:192.0.2.7: IPv4-mapped, so the IPv4 fly's /32",
            plain6("::ffff:192.0.2.7"),
            XDP_DROP,
            &["ipv6"],
        ),
        (
            "IPv6 from ::ffff:192.0.2.8: not masked to :: by the IPv6 /64",
            plain6("::ffff:192.0.2.8"),
            XDP_PASS,
            &["ipv6"],
        ),
    ];
    let mut failed = run_cases(&prog, &defaults);

    // Wider prefixes: the old keys are the caller's to replace.
    prog.set_prefixes(24, 48).unwrap();
    assert_eq!(prog.prefixes().unwrap(), (24, 48));
    prog.clear_flies().unwrap();
    set_flies(
        24,
        48,
        [
            ("192.0.2.200", "192.0.2.0"),
            ("2001:db8:1:ffff::1", "2001:db8:1::"),
        ],
    );
    let wider: Vec<Case> = vec![
        (
            "from 192.0.2.200, in the /24 fly",
            plain4("192.0.2.200"),
            XDP_DROP,
            &["ipv4"],
        ),
        (
            "from 192.0.3.200, the next /24",
            plain4("192.0.3.200"),
            XDP_PASS,
            &["ipv4"],
        ),
        (
            "from 2001:db8:1:ffff::1, in the /48 fly",
            plain6("2001:db8:1:ffff::1"),
            XDP_DROP,
            &["ipv6"],
        ),
        (
            "from 2001:db8:2::1, the next /48",
            plain6("2001:db8:2::1"),
            XDP_PASS,
            &["ipv6"],
        ),
        (
            "4in6 whose inner source 192.0.2.99 is in the /24 fly",
            four_in_six("192.0.2.99"),
            XDP_DROP,
            &["ipv6", "tunnel"],
        ),
        (
            "PPPoE IPv6 from 2001:db8:1:abcd::1, in the /48 fly",
            pppoe6("2001:db8:1:abcd::1"),
            XDP_DROP,
            &["ipv6", "pppoe"],
        ),
    ];
    failed.extend(run_cases(&prog, &wider));
    assert!(failed.is_empty(), "\n{}", failed.join("\n"));
    let c = prog.counters().unwrap();
    let runs = (defaults.len() + wider.len()) as u64;
    assert_eq!(c.total(), runs, "{c:?}");
    assert_eq!(c.ipv4 + c.ipv6 + c.non_ip + c.malformed, runs, "{c:?}");
}

/// Prefix lengths outside /8../32 (IPv4) and /32../128 (IPv6) are refused,
/// and leave the lengths in force as they were.
#[test]
fn invalid_prefix_lengths_are_refused() {
    if !prerequisites() {
        return;
    }
    let prog = XdpProgram::load(16).unwrap();
    for (v4, v6) in [
        (7, 64),
        (33, 64),
        (0, 64),
        (32, 31),
        (32, 129),
        (32, 0),
        (255, 255),
    ] {
        let e = prog
            .set_prefixes(v4, v6)
            .expect_err(&format!("/{v4} and /{v6} accepted"));
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
        assert_eq!(prog.prefixes().unwrap(), (32, 64), "after /{v4}, /{v6}");
    }
    for (v4, v6) in [(8, 32), (32, 128), (16, 56)] {
        prog.set_prefixes(v4, v6).unwrap();
        assert_eq!(prog.prefixes().unwrap(), (v4, v6));
    }
}

/// The same encapsulations on the wire: injected on h0, through native XDP
/// on f0, a fly's frames never reach the socket and their twins all do.
#[test]
fn encapsulated_flies_are_dropped_on_the_wire() {
    if !prerequisites() {
        return;
    }
    let lab = Lab::new();
    let mut ap = appliance(&lab, 256);
    let later = xdp::monotonic_ns() + 60_000_000_000;
    for fly in [FLY_V4, FLY_V6] {
        ap.prog.set_fly(fly_key(fly), later).unwrap();
    }
    let encaps = encapsulations();
    let mut frames = Vec::new();
    for (i, e) in encaps.iter().enumerate() {
        frames.push((e.build)(
            FLY_V4,
            FLY_V6,
            format!("fpx-encap-fly-{i:02}").as_bytes(),
        ));
        frames.push((e.build)(
            TWIN_V4,
            TWIN_V6,
            format!("fpx-encap-twin-{i:02}").as_bytes(),
        ));
    }
    let before = ap.prog.counters().unwrap();
    inject(&lab.a, "h0", &frames);
    let (seen, _) = collect(
        &ap.umem,
        &mut ap.x0,
        encaps.len(),
        Duration::from_secs(3),
        |f| contains(f, b"fpx-encap-"),
    );
    let after = ap.prog.counters().unwrap();
    for (i, e) in encaps.iter().enumerate() {
        let twin = format!("fpx-encap-twin-{i:02}");
        assert!(
            seen.iter().any(|f| contains(f, twin.as_bytes())),
            "{}: the twin did not reach the socket",
            e.name
        );
    }
    let flies: Vec<&Vec<u8>> = seen
        .iter()
        .filter(|f| contains(f, b"fpx-encap-fly-"))
        .collect();
    assert!(flies.is_empty(), "flies reached the socket: {flies:02x?}");
    assert_eq!(seen.len(), encaps.len());
    assert_eq!(
        after.fly_drops - before.fly_drops,
        encaps.len() as u64,
        "{after:?}"
    );
    assert_eq!(after.pppoe - before.pppoe, 2 * 4, "{after:?}");
    assert_eq!(after.mpls - before.mpls, 2 * 4, "{after:?}");
    assert_eq!(after.tunnel - before.tunnel, 2 * 13, "{after:?}");
}

/// Forwards between the two ports through the shared UMEM, the way a
/// worker does: a received descriptor goes onto the other port's TX ring as
/// is; frames that complete (or did not fit) go to a free list, and the
/// free list tops up both fill rings (a frame is not tied to a port).
fn forward(ap: &mut Appliance, stop: &AtomicBool, deadline: Instant) -> u64 {
    let mut descs = [Desc::default(); 64];
    let mut addrs = [0u64; 64];
    let mut forwarded = 0u64;
    let free = &mut ap.free;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let mut busy = false;
        for dir in 0..2 {
            let (src, dst) = if dir == 0 {
                (&mut ap.x0, &mut ap.x1)
            } else {
                (&mut ap.x1, &mut ap.x0)
            };
            let n = src.rx(&mut descs);
            if n > 0 {
                busy = true;
                let sent = dst.tx(&descs[..n]);
                forwarded += sent as u64;
                free.extend(descs[sent..n].iter().map(|d| d.addr));
            }
            // Copy mode sends at most 32 per kick: kick while anything is
            // outstanding, not only after queueing.
            dst.kick_tx().expect("kick");
            let m = dst.completed(&mut addrs);
            if m > 0 {
                busy = true;
                free.extend_from_slice(&addrs[..m]);
            }
            let want = (src.fill_free() as usize).min(free.len());
            if want > 0 {
                let k = src.fill(&free[free.len() - want..]);
                free.truncate(free.len() - k);
            }
            if src.rx_needs_wakeup() {
                src.wake_rx().unwrap();
            }
        }
        if !busy {
            xsk::poll(&[&ap.x0, &ap.x1], 5).unwrap();
        }
    }
    forwarded
}

#[test]
fn forwarding_through_shared_umem() {
    if !prerequisites() {
        return;
    }
    let lab = Lab::new();
    let mut ap = appliance(&lab, 256);
    assert_eq!(
        ap.x1.mode(),
        ap.x0.mode(),
        "a shared socket inherits the mode"
    );
    let h0 = Lab::udp(&lab.a, &format!("{H0_V4}:40000"));
    let h1 = Lab::udp(&lab.b, &format!("{H1_V4}:40001"));
    h1.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    h0.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(20);

    let (forwarded, ap) = thread::scope(|s| {
        let stop2 = Arc::clone(&stop);
        let fwd = s.spawn(move || {
            let n = forward(&mut ap, &stop2, deadline);
            (n, ap)
        });
        // 600 datagrams of every size up to 1472 bytes (a full 1514-byte
        // frame), more than the 256-entry rings: frames must be recycled.
        let mut buf = [0u8; 2000];
        for i in 0..600usize {
            let len = 8 + (i * 37) % 1465;
            let mut p = vec![0u8; len];
            p[..4].copy_from_slice(&(i as u32).to_be_bytes());
            for (j, b) in p[4..].iter_mut().enumerate() {
                *b = (i + j) as u8;
            }
            h0.send_to(&p, format!("{H1_V4}:40001")).unwrap();
            let (n, from) = h1.recv_from(&mut buf).expect("datagram forwarded to h1");
            assert_eq!(&buf[..n], &p[..], "datagram {i} intact");
            assert_eq!(from.to_string(), format!("{H0_V4}:40000"));
        }
        // And back, without waiting for each: bursts through the rings.
        for i in 0..200u32 {
            h1.send_to(&i.to_be_bytes(), format!("{H0_V4}:40000"))
                .unwrap();
        }
        let mut back = 0;
        while back < 200 {
            match h0.recv_from(&mut buf) {
                Ok((4, _)) => back += 1,
                Ok(_) => {}
                Err(e) => panic!("after {back} replies: {e}"),
            }
        }
        // IPv6 both ways.
        let h0v6 = Lab::udp(&lab.a, &format!("[{H0_V6}]:40002"));
        let h1v6 = Lab::udp(&lab.b, &format!("[{H1_V6}]:40003"));
        h1v6.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        h0v6.send_to(b"v6 over AF_XDP", format!("[{H1_V6}]:40003"))
            .unwrap();
        let (n, _) = h1v6.recv_from(&mut buf).expect("IPv6 forwarded");
        assert_eq!(&buf[..n], b"v6 over AF_XDP");
        stop.store(true, Ordering::Relaxed);
        fwd.join().unwrap()
    });
    assert!(forwarded >= 801, "{forwarded}");
    let (s0, s1) = (ap.x0.stats().unwrap(), ap.x1.stats().unwrap());
    assert_eq!(
        s0.tx_invalid_descs + s1.tx_invalid_descs,
        0,
        "{s0:?} {s1:?}"
    );
    let c = ap.prog.counters().unwrap();
    assert!(c.redirected >= 801, "{c:?}");
}

#[test]
fn dropping_the_program_detaches_it() {
    if !prerequisites() {
        return;
    }
    let lab = Lab::new();
    let ap = appliance(&lab, 64);
    assert!(lab.link_show("f0").contains("xdp"));
    assert!(lab.link_show("f1").contains("xdp"));
    let q = Lab::in_ns(&lab.fw, || xdp::query(xdp::ifindex("f0").unwrap()).unwrap());
    assert!(q.attached(), "{q:?}");
    drop(ap);
    wait_detached(&lab, "f0");
    wait_detached(&lab, "f1");
}

/// Polls `ip link show` until `dev` has no XDP program (link release is
/// deferred to a kernel work item), for at most 3 s.
fn wait_detached(lab: &Lab, dev: &str) -> Duration {
    let start = Instant::now();
    loop {
        let s = lab.link_show(dev);
        if !s.contains("xdp") {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{dev} still has XDP: {s}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// The child half of `sigkill_detaches_and_a_restart_binds`: attaches,
/// binds, says READY and waits to be killed. Run only by that test.
#[test]
#[ignore = "helper process of sigkill_detaches_and_a_restart_binds"]
fn child_holds_xdp() {
    let Ok(ns) = std::env::var("FPX_CHILD_NS") else {
        return;
    };
    let lab_fw = ns;
    Lab::in_ns(&lab_fw, || {
        let f0 = xdp::ifindex("f0").unwrap();
        let mut prog = XdpProgram::load(64).unwrap();
        let mode = prog.attach(f0, true).unwrap();
        let umem = Umem::new(256, 2048).unwrap();
        let x = Xsk::bind(&umem, f0, 0, &XskConfig::default(), None).unwrap();
        prog.register_xsk(f0, 0, x.fd()).unwrap();
        println!("READY {mode} {}", x.mode());
        thread::sleep(Duration::from_secs(60));
    });
}

#[test]
fn sigkill_detaches_and_a_restart_binds() {
    if !prerequisites() {
        return;
    }
    let lab = Lab::new();
    let mut child: Child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_holds_xdp",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FPX_CHILD_NS", &lab.fw)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for READY (bounded: the child sleeps 60 s at most).
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(i) = line.find("READY") {
                let line = line[i..].to_string();
                let _ = tx.send(line);
            }
        }
    });
    let ready = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("child did not attach");
    eprintln!("child: {ready}");
    assert!(lab.link_show("f0").contains("xdp"));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let took = wait_detached(&lab, "f0");
    eprintln!("XDP gone {took:?} after SIGKILL");

    // A restart: load, attach and bind the same queue at once.
    Lab::in_ns(&lab.fw, || {
        let start = Instant::now();
        let f0 = xdp::ifindex("f0").unwrap();
        let mut prog = XdpProgram::load(64).unwrap();
        prog.attach(f0, true).unwrap();
        let umem = Umem::new(256, 2048).unwrap();
        let x = Xsk::bind(&umem, f0, 0, &XskConfig::default(), None).expect("rebind");
        eprintln!(
            "rebind after SIGKILL: {:?}, {} EBUSY retries",
            start.elapsed(),
            x.bind_retries()
        );
    });
}

#[test]
fn attach_and_bind_modes_on_veth() {
    if !prerequisites() {
        return;
    }
    let lab = Lab::new();
    Lab::in_ns(&lab.fw, || {
        let f0 = xdp::ifindex("f0").unwrap();
        let q = xdp::query(f0).unwrap();
        eprintln!(
            "veth features: native {} redirect {} ndo_xmit {} zerocopy {} (raw {:#x})",
            q.features.native(),
            q.features.redirect(),
            q.features.ndo_xmit(),
            q.features.xsk_zerocopy(),
            q.features.raw
        );
        let mut prog = XdpProgram::load(16).unwrap();
        // A full flies map refuses new flies (and says so), keeps the old.
        for i in 0..16u32 {
            prog.set_fly(Addr::from_v4(i).0, u64::MAX).unwrap();
        }
        let e = prog.set_fly(Addr::from_v4(99).0, u64::MAX).unwrap_err();
        assert!(e.is_map_full(), "{e}");
        prog.set_fly(Addr::from_v4(3).0, 5).unwrap(); // an update still fits
        assert_eq!(prog.fly_count(), 16);
        assert_eq!(prog.attach(f0, true).unwrap(), AttachMode::Native);
        let q = xdp::query(f0).unwrap();
        assert!(q.drv_prog_id != 0 && q.skb_prog_id == 0, "{q:?}");
        assert!(prog.attach(f0, true).is_err(), "attached twice");
        prog.detach(f0).unwrap();
        assert_eq!(prog.attach(f0, false).unwrap(), AttachMode::Generic);
        let q = xdp::query(f0).unwrap();
        assert!(q.skb_prog_id != 0 && q.drv_prog_id == 0, "{q:?}");

        prog.detach(f0).unwrap();
        wait_detached(&lab, "f0");
        // veth refuses native XDP when its peer's MTU does not fit a page:
        // attach falls back to generic mode and says so.
        sh(&["ip", "-n", &lab.a, "link", "set", "h0", "mtu", "9000"]);
        assert_eq!(prog.attach(f0, true).unwrap(), AttachMode::Generic);
        let why = prog.native_refusal(f0).expect("native refusal recorded");
        eprintln!("native XDP refused with peer MTU 9000: {why}");
        sh(&["ip", "-n", &lab.a, "link", "set", "h0", "mtu", "1500"]);

        let umem = Umem::new(64, 4096).unwrap();
        let zc = XskConfig {
            zero_copy: Some(true),
            busy_retry: Duration::ZERO,
            ..XskConfig::default()
        };
        let e = Xsk::bind(&umem, f0, 0, &zc, None).unwrap_err();
        eprintln!("zero-copy bind on veth: {e}");
        assert_eq!(e.raw_os_error(), Some(libc_eopnotsupp()));
        let mut x = Xsk::bind(&umem, f0, 0, &XskConfig::default(), None).unwrap();
        assert_eq!(x.mode(), BindMode::Copy, "auto falls back to copy");
        // Same queue twice is refused up front.
        assert!(Xsk::bind(&umem, f0, 0, &XskConfig::default(), Some(&x)).is_err());

        // Generic mode redirects to the socket too.
        let addrs: Vec<u64> = umem.frame_addrs().collect();
        assert_eq!(x.fill(&addrs), 64);
        prog.register_xsk(f0, 0, x.fd()).unwrap();
        let h0 = Lab::udp(&lab.a, &format!("{H0_V4}:40000"));
        send_n(&h0, &format!("{H1_V4}:40001"), b"flypaper-generic", 3);
        let (seen, _) = collect(&umem, &mut x, 3, Duration::from_secs(3), |f| {
            contains(f, b"flypaper-generic")
        });
        assert_eq!(seen.len(), 3, "generic XDP redirects to the XSK");
    });
}

fn libc_eopnotsupp() -> i32 {
    95
}

/// A measurement, not a test: 64-byte frames injected on h0 with AF_XDP,
/// forwarded f0 -> f1 by one pinned worker through the shared UMEM,
/// counted on h1. `cargo test --release --test sys_xdp -- --ignored
/// forwarding_rate --nocapture`.
#[test]
#[ignore = "measurement; run by hand"]
fn forwarding_rate() {
    if !prerequisites() {
        return;
    }
    let lab = Lab::new();
    let mut ap = appliance(&lab, 2048);
    let secs = 3;
    let stop = AtomicBool::new(false);
    let frame = udp4_frame(&[], [198, 51, 100, 1], &[0u8; 18]); // 64 bytes with FCS
    let frame = {
        let mut f = frame;
        f[30..34].copy_from_slice(&[198, 51, 100, 2]);
        f
    };
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let (sent, forwarded) = thread::scope(|s| {
        let fwd = s.spawn(|| {
            if let Some(c) = cores.first() {
                core_affinity::set_for_current(*c);
            }
            forward(
                &mut ap,
                &stop,
                Instant::now() + Duration::from_secs(secs + 5),
            )
        });
        let inj = s.spawn(|| {
            if let Some(c) = cores.last() {
                core_affinity::set_for_current(*c);
            }
            Lab::in_ns(&lab.a, || {
                if let Some(c) = cores.last() {
                    core_affinity::set_for_current(*c);
                }
                let idx = xdp::ifindex("h0").unwrap();
                let mut umem = Umem::new(4096, 2048).unwrap();
                let mut x = Xsk::bind(&umem, idx, 0, &XskConfig::default(), None).unwrap();
                let mut free: Vec<u64> = umem.frame_addrs().collect();
                for &a in &free {
                    umem.frame_mut(a, frame.len()).copy_from_slice(&frame);
                }
                let end = Instant::now() + Duration::from_secs(secs);
                let mut sent = 0u64;
                let mut descs = [Desc::default(); 64];
                let mut done = [0u64; 64];
                while Instant::now() < end {
                    let n = free.len().min(64);
                    for (d, a) in descs.iter_mut().zip(free.drain(free.len() - n..)) {
                        *d = Desc {
                            addr: a,
                            len: frame.len() as u32,
                        };
                    }
                    let q = x.tx(&descs[..n]);
                    free.extend(descs[q..n].iter().map(|d| d.addr));
                    x.kick_tx().unwrap();
                    let m = x.completed(&mut done);
                    sent += m as u64;
                    free.extend_from_slice(&done[..m]);
                }
                sent
            })
        });
        let sent = inj.join().unwrap();
        thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        (sent, fwd.join().unwrap())
    });
    let rx_h1 = sh_out(&["ip", "-n", &lab.b, "-s", "link", "show", "h1"]);
    let c = ap.prog.counters().unwrap();
    let s0 = ap.x0.stats().unwrap();
    eprintln!(
        "injected {sent} ({:.0} kpps), forwarded {forwarded} ({:.0} kpps)\nXDP {c:?}\nf0 socket {s0:?}\n{rx_h1}",
        sent as f64 / secs as f64 / 1e3,
        forwarded as f64 / secs as f64 / 1e3
    );
}

/// Whether `dir` is a mount point of a BPF filesystem in this process's
/// mount namespace.
fn bpffs_mounted_at(dir: &std::path::Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let d = dir.to_str().unwrap();
    info.lines().any(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        let sep = f.iter().position(|x| *x == "-").unwrap_or(f.len());
        f.get(4) == Some(&d) && f.get(sep + 1) == Some(&"bpf")
    })
}

/// A scratch directory for pins, unmounted and removed even when the test
/// fails.
struct PinDir(std::path::PathBuf);

impl Drop for PinDir {
    fn drop(&mut self) {
        for _ in 0..4 {
            if !bpffs_mounted_at(&self.0) {
                break;
            }
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn maps_pinned_for_operators_then_removed() {
    use libbpf_rs::{MapCore, MapFlags, MapHandle};
    if !prerequisites() {
        return;
    }
    let guard = PinDir(std::env::temp_dir().join(format!("fpx-pins-{}", std::process::id())));
    let dir = guard.0.clone();
    std::fs::create_dir_all(&dir).unwrap();
    let pin = |name: &str| dir.join(name);

    // A directory that is no BPF filesystem gets one mounted.
    let mut prog = XdpProgram::load(64).unwrap();
    prog.pin_maps(&dir).unwrap();
    assert!(bpffs_mounted_at(&dir), "bpffs mounted on {dir:?}");
    assert_eq!(prog.pinned_at(), Some(dir.as_path()));
    for name in xdp::PINNED_MAPS {
        assert!(pin(name).exists(), "{name} pinned");
    }
    // The pinned map is the program's own: a fly set through the program
    // reads back through the pin, with its expiry.
    let expires = xdp::monotonic_ns() + 60_000_000_000;
    prog.set_fly(addr(H0_V4), expires).unwrap();
    let flies = MapHandle::from_pinned_path(pin("flies")).unwrap();
    let v = flies
        .lookup(&xdp::FlyKey::new(addr(H0_V4)).addr, MapFlags::ANY)
        .unwrap()
        .expect("the fly is in the pinned map");
    assert_eq!(v[..8], expires.to_ne_bytes(), "expiry first in FlyValue");
    assert_eq!(flies.keys().count(), 1);

    // A second program (as after a killed run) replaces the stale pins
    // instead of failing on them.
    let mut next = XdpProgram::load(64).unwrap();
    next.pin_maps(&dir).unwrap();
    let flies = MapHandle::from_pinned_path(pin("flies")).unwrap();
    assert_eq!(flies.keys().count(), 0, "the new program's empty map");
    std::mem::forget(prog); // the killed run never unpins

    // Dropping the program removes its pins; it did not mount this
    // filesystem (the first one did), so it stays mounted.
    drop(next);
    for name in xdp::PINNED_MAPS {
        assert!(!pin(name).exists(), "{name} unpinned");
    }
    assert!(bpffs_mounted_at(&dir));
    sh(&["umount", dir.to_str().unwrap()]);
    assert!(!bpffs_mounted_at(&dir));

    // Pinning under a parent that is no BPF filesystem fails, and leaves
    // nothing behind.
    let mut p = XdpProgram::load(64).unwrap();
    let err = p.pin_maps(&dir.join("missing")).unwrap_err();
    assert!(err.to_string().contains("not on a BPF filesystem"), "{err}");
    assert!(!dir.join("missing").exists());
    assert_eq!(p.pinned_at(), None);
    drop(p);
    drop(guard);
    assert!(!dir.exists());
}

/// The program counts each fly's dropped frames in its map entry
/// (`fp_fly.hits`), and userspace setting the fly again keeps the count.
#[test]
fn each_fly_counts_its_dropped_frames() {
    use libbpf_rs::libbpf_sys::XDP_DROP;
    if !prerequisites() {
        return;
    }
    let prog = XdpProgram::load(64).unwrap();
    let later = xdp::monotonic_ns() + 60_000_000_000;
    let key = addr("192.0.2.9");
    prog.set_fly(key, later).unwrap();
    assert_eq!(prog.fly_value(key).unwrap().map(|v| v.hits), Some(0));
    for _ in 0..3 {
        assert_eq!(prog.test_run(&plain4("192.0.2.9")).unwrap(), XDP_DROP);
    }
    assert_eq!(prog.fly_value(key).unwrap().map(|v| v.hits), Some(3));
    // Another source is no hit; a longer lock-out keeps the count.
    let _ = prog.test_run(&plain4("192.0.2.10")).unwrap();
    prog.set_fly(key, later + 1_000_000_000).unwrap();
    let v = prog.fly_value(key).unwrap().unwrap();
    assert_eq!((v.hits, v.expires_ns), (3, later + 1_000_000_000));
    assert_eq!(prog.fly_value(addr("192.0.2.10")).unwrap(), None);
}
