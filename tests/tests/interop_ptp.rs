//! Interop: keel decodes what a real `ptp4l` (linuxptp from Debian) sends and
//! measures an end-to-end offset and path delay against it.
//!
//! The test builds two network namespaces joined by a veth pair, starts
//! `ptp4l -S` (software timestamping, `free_running 1`, so it adjusts no
//! clock) as master in one, and re-runs this test binary inside the other
//! (`ip netns exec`) to act as the slave: it joins 224.0.1.129 on ports
//! 319/320, decodes every message with keel (and re-encodes it byte for
//! byte), answers Syncs with its own `Delay_Req`s, and feeds keel's E2E
//! measurement. Both ends read the same system clock, so the true offset is
//! zero: keel's must be small, and its path delay plausible. Nothing leaves
//! the namespaces, and nothing touches the clock.
//!
//! Without root, network namespaces or the linuxptp package the test is a
//! skip (`keel_tests::skip`): a failure under `CI=true`, a line in
//! `./test.sh`'s summary otherwise. It fails when ptp4l runs and keel's
//! results are wrong, and when the slave did not run to its end.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration as StdDuration, Instant};

use keel_core::measure::ptp::{E2eSlave, PtpSample};
use keel_core::select::bmca::{ComparisonDataset, Recommendation, state_decision};
use keel_core::time::{Duration, PtpTimestamp, Timestamp, UtcTaiOffset};
use keel_core::wire::ptp::{
    Body, ClockIdentity, ClockQuality, Flags, Header, MessageType, PortIdentity, Repr,
};

use keel_tests::interop::{is_root, now, peers_root};
use keel_tests::skip::skip;

/// The name in skip messages.
const TEST: &str = "interop_ptp";
const INNER_ENV: &str = "KEEL_PTP_INTEROP_INNER";
const MASTER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 231, 0, 1);
const SLAVE_ADDR: Ipv4Addr = Ipv4Addr::new(10, 231, 0, 2);
const PTP_PRIMARY: Ipv4Addr = Ipv4Addr::new(224, 0, 1, 129);
const ME: PortIdentity = PortIdentity {
    clock_identity: ClockIdentity([0x02, 0x00, 0x5E, 0xFF, 0xFE, 0x00, 0x00, 0x01]),
    port_number: 1,
};

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The namespaces, veth pair and ptp4l; all removed (ptp4l killed by its
/// pid) when dropped.
struct Lab {
    ns_master: String,
    ns_slave: String,
    ptp4l: Option<Child>,
    dir: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut c) = self.ptp4l.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // deleting a namespace deletes the veth end inside it, and its peer
        let _ = ip(&["netns", "del", &self.ns_master]);
        let _ = ip(&["netns", "del", &self.ns_slave]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn build_lab() -> Result<Lab, String> {
    let id = std::process::id() % 100_000;
    let dir = std::env::temp_dir().join(format!("keel-ptp4l-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("temp dir: {e}"))?;
    let lab = Lab {
        ns_master: format!("keelptp-m-{id}"),
        ns_slave: format!("keelptp-s-{id}"),
        ptp4l: None,
        dir,
    };
    let (vm, vs) = (format!("kpm{id}"), format!("kps{id}"));
    ip(&["netns", "add", &lab.ns_master])?;
    ip(&["netns", "add", &lab.ns_slave])?;
    ip(&["link", "add", &vm, "type", "veth", "peer", "name", &vs])?;
    ip(&["link", "set", &vm, "netns", &lab.ns_master])?;
    ip(&["link", "set", &vs, "netns", &lab.ns_slave])?;
    for (ns, dev, addr) in [
        (&lab.ns_master, &vm, "10.231.0.1/24"),
        (&lab.ns_slave, &vs, "10.231.0.2/24"),
    ] {
        ip(&["-n", ns, "addr", "add", addr, "dev", dev])?;
        ip(&["-n", ns, "link", "set", dev, "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
    }
    Ok(lab)
}

fn start_ptp4l(lab: &mut Lab, root: &Path) -> Result<(), String> {
    let id = std::process::id() % 100_000;
    let conf = lab.dir.join("ptp4l.conf");
    let mut f = std::fs::File::create(&conf).map_err(|e| format!("config: {e}"))?;
    // free_running: never adjust a clock; fast intervals keep the test short
    f.write_all(
        b"[global]\nfree_running 1\ntime_stamping software\nnetwork_transport UDPv4\n\
          priority1 1\nlogAnnounceInterval -2\nlogSyncInterval -3\n\
          logMinDelayReqInterval -4\nannounceReceiptTimeout 2\nuse_syslog 0\nverbose 1\n",
    )
    .map_err(|e| format!("config: {e}"))?;
    let log = std::fs::File::create(lab.dir.join("ptp4l.log")).map_err(|e| format!("log: {e}"))?;
    let child = Command::new("ip")
        .args(["netns", "exec", &lab.ns_master])
        .arg(root.join("usr/sbin/ptp4l"))
        .arg("-f")
        .arg(&conf)
        .args(["-i", &format!("kpm{id}"), "-S", "-m"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| format!("log: {e}"))?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start ptp4l: {e}"))?;
    lab.ptp4l = Some(child);
    Ok(())
}

#[test]
fn ptp4l_e2e() {
    if !is_root() {
        return skip(TEST, "not root (needs network namespaces)");
    }
    let root = match peers_root("linuxptp") {
        Ok(r) => r,
        Err(e) => return skip(TEST, &e),
    };
    let mut lab = match build_lab() {
        Ok(l) => l,
        Err(e) => return skip(TEST, &format!("no network namespace support: {e}")),
    };
    if let Err(e) = start_ptp4l(&mut lab, &root) {
        return skip(TEST, &e);
    }
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.ns_slave])
        .arg(&exe)
        .args([
            "--exact",
            "slave_in_namespace",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INNER_ENV, "1")
        .output()
        .expect("run the slave inside its namespace");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ptp4l_log = std::fs::read_to_string(lab.dir.join("ptp4l.log")).unwrap_or_default();
    drop(lab);
    println!("{stdout}");
    // "RESULT ok" is the slave's last line: a slave that did not run (a
    // filter matching no test) or stopped early fails here.
    if !out.status.success() || !stdout.contains("RESULT ok") {
        panic!(
            "keel slave failed against ptp4l:\n{stdout}\n{}\nptp4l log:\n{ptp4l_log}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    println!(
        "ptp4l log (first lines):\n{}",
        ptp4l_log.lines().take(6).collect::<Vec<_>>().join("\n")
    );
}

/// A received datagram and when it arrived.
struct Rx {
    bytes: Vec<u8>,
    at: Timestamp,
    port: u16,
}

fn listen(port: u16, tx: mpsc::Sender<Rx>) -> UdpSocket {
    let sock = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
        .unwrap_or_else(|e| panic!("bind port {port}: {e}"));
    sock.join_multicast_v4(&PTP_PRIMARY, &SLAVE_ADDR)
        .expect("join 224.0.1.129");
    sock.set_read_timeout(Some(StdDuration::from_millis(100)))
        .expect("timeout");
    let rx_sock = sock.try_clone().expect("clone socket");
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        loop {
            match rx_sock.recv_from(&mut buf) {
                Ok((n, _)) => {
                    let at = now();
                    if tx
                        .send(Rx {
                            bytes: buf[..n].to_vec(),
                            at,
                            port,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
                Err(_) => {
                    if tx
                        .send(Rx {
                            bytes: Vec::new(),
                            at: now(),
                            port,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
    sock
}

fn median(v: &mut [i64]) -> i64 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// The slave: `ptp4l_e2e` runs it (`--ignored`) inside its namespace, with
/// `INNER_ENV` set. On its own it has no master to listen to.
#[test]
#[ignore = "the slave half of ptp4l_e2e, which runs it inside its network namespace"]
fn slave_in_namespace() {
    assert!(
        std::env::var_os(INNER_ENV).is_some(),
        "slave_in_namespace runs only inside ptp4l_e2e's namespace (run ptp4l_e2e)"
    );
    let (tx, rx) = mpsc::channel();
    let event = listen(319, tx.clone());
    let _general = listen(320, tx);

    let d0 = ComparisonDataset::local(
        128,
        ClockQuality {
            clock_class: 255, // slave-only
            clock_accuracy: 0xFE,
            offset_scaled_log_variance: 0xFFFF,
        },
        128,
        ME,
    );
    let mut slave = E2eSlave::new(ME, None);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut scale: Option<(bool, i16)> = None;
    let mut samples: Vec<PtpSample> = Vec::new();
    let mut seq: u16 = 0;
    let mut header_template: Option<Header> = None;
    let mut last_req = Instant::now() - StdDuration::from_secs(1);
    let deadline = Instant::now() + StdDuration::from_secs(4);
    while Instant::now() < deadline {
        let Ok(m) = rx.recv_timeout(StdDuration::from_millis(200)) else {
            continue;
        };
        if m.bytes.is_empty() {
            continue;
        }
        // every message ptp4l sends decodes, and re-encodes byte for byte
        let repr = Repr::parse_bytes(&m.bytes)
            .unwrap_or_else(|e| panic!("keel cannot decode {:02x?}: {e}", m.bytes));
        let mut again = [0u8; 1500];
        let n = repr.emit(&mut again).expect("emit");
        let wire_len = usize::from(u16::from_be_bytes([m.bytes[2], m.bytes[3]]));
        assert_eq!(&again[..n], &m.bytes[..wire_len], "round trip of {repr:?}");
        assert_eq!(
            repr.message_type().is_event(),
            m.port == 319,
            "event messages on 319"
        );
        *counts
            .entry(format!("{:?}", repr.message_type()))
            .or_default() += 1;
        // local time on the master's time scale
        let local = |t: Timestamp| match scale {
            Some((true, utc)) => UtcTaiOffset(utc).utc_to_tai(t),
            _ => t,
        };
        match repr.body {
            Body::Announce(a) => {
                let ptp_scale = repr.header.flags.contains(Flags::PTP_TIMESCALE);
                scale = Some((ptp_scale, a.current_utc_offset));
                assert_eq!(a.grandmaster_priority1, 1, "ptp4l.conf priority1");
                let ds = ComparisonDataset::from_announce(&repr, ME).expect("announce");
                assert_eq!(
                    state_decision(&d0, Some(&ds), Some(&ds), false),
                    Recommendation::Slave
                );
                header_template.get_or_insert(repr.header);
            }
            Body::Sync { .. } if scale.is_some() => {
                if let Some(s) = slave.sync(&repr, local(m.at)).expect("sync") {
                    samples.push(s);
                }
            }
            Body::FollowUp { .. } if scale.is_some() => {
                if let Ok(Some(s)) = slave.follow_up(&repr) {
                    samples.push(s);
                }
                // answer with a Delay_Req every 100 ms
                if let Some(h) = header_template {
                    if last_req.elapsed() > StdDuration::from_millis(100) {
                        seq = seq.wrapping_add(1);
                        let t3 = now();
                        let req = Repr {
                            header: Header {
                                flags: Flags(0),
                                correction: keel_core::time::TimeInterval::ZERO,
                                message_type_specific: 0,
                                source_port_identity: ME,
                                sequence_id: seq,
                                control_field: MessageType::DelayReq.control_field(),
                                log_message_interval: 0x7F,
                                ..h
                            },
                            body: Body::DelayReq {
                                origin_timestamp: PtpTimestamp::from_timestamp(local(t3)),
                            },
                            tlvs: &[],
                        };
                        let mut b = [0u8; 64];
                        let n = req.emit(&mut b).expect("emit Delay_Req");
                        slave.delay_req_sent(seq, local(now()));
                        event
                            .send_to(&b[..n], SocketAddrV4::new(MASTER_ADDR, 319))
                            .expect("send Delay_Req");
                        last_req = Instant::now();
                    }
                }
            }
            Body::DelayResp {
                requesting_port_identity,
                ..
            } if requesting_port_identity == ME => {
                if let Ok(Some(s)) = slave.delay_resp(&repr) {
                    samples.push(s);
                }
            }
            _ => {}
        }
    }
    println!("messages decoded from ptp4l: {counts:?}");
    for k in ["Announce", "Sync", "FollowUp", "DelayResp"] {
        assert!(counts.get(k).copied().unwrap_or(0) > 0, "no {k} from ptp4l");
    }
    assert!(samples.len() >= 5, "only {} samples", samples.len());
    let mut offs: Vec<i64> = samples.iter().map(|s| s.offset.as_nanos()).collect();
    let mut dels: Vec<i64> = samples.iter().map(|s| s.delay.as_nanos()).collect();
    let (mo, md) = (median(&mut offs), median(&mut dels));
    println!(
        "keel E2E against ptp4l: {} samples, median offset {mo} ns, median path delay {md} ns, \
         offsets {}..{} ns, timescale {:?}",
        samples.len(),
        offs[0],
        offs[offs.len() - 1],
        scale
    );
    // same clock on both ends: the offset is only timestamping noise, and
    // the path delay is positive and small
    assert!(mo.abs() < 1_000_000, "median offset {mo} ns");
    assert!((0..5_000_000).contains(&md), "median path delay {md} ns");
    assert!(samples.iter().all(|s| s.delay < Duration::from_millis(50)));
    println!("RESULT ok");
}
