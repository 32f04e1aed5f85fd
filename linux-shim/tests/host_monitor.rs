//! The guest's side of out-of-band monitoring: `keel sync` with
//! `host_monitor` answers KTP probes, status and control requests on a Unix
//! socket (the same byte stream as vsock and virtio-serial), closes garbage
//! and keeps steering.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use common::{Daemon, wait_for_updates};
use keel_core::wire::ktp::{
    Body, Control, ControlResult, Frame, GuestStatus, MAX_LEN, Packet, ProbeReply,
};

fn start(name: &str, control: &str) -> (Daemon, std::path::PathBuf) {
    let dir = common::tmpdir(&format!("{name}-cfg"));
    let ktp = dir.join("ktp.sock");
    let cfg = dir.join("keel.toml");
    std::fs::write(
        &cfg,
        format!(
            "host_monitor = [\"unix:{}\"]\nhost_monitor_control = {control}\n",
            ktp.display()
        ),
    )
    .unwrap();
    let d = Daemon::start(name, &["--config", cfg.to_str().unwrap()]);
    (d, ktp)
}

fn connect(p: &Path) -> UnixStream {
    let s = UnixStream::connect(p).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn send(s: &mut UnixStream, seq: u32, body: Body) {
    let mut b = [0u8; MAX_LEN];
    let n = Frame { seq, body }.emit(&mut b).unwrap();
    s.write_all(&b[..n]).unwrap();
}

fn recv(s: &mut UnixStream) -> Frame {
    let mut b = [0u8; MAX_LEN];
    s.read_exact(&mut b[..16]).unwrap();
    let len = Packet::new_unchecked(&b[..16]).frame_len().unwrap();
    s.read_exact(&mut b[16..len]).unwrap();
    Frame::parse(&b[..len]).unwrap()
}

fn probe(s: &mut UnixStream, seq: u32, t1: u64) -> ProbeReply {
    send(s, seq, Body::ProbeRequest { t1 });
    let f = recv(s);
    assert_eq!(f.seq, seq);
    match f.body {
        Body::ProbeReply(r) => r,
        other => panic!("not a probe reply: {other:?}"),
    }
}

fn status(s: &mut UnixStream) -> GuestStatus {
    send(s, 9, Body::StatusRequest);
    match recv(s).body {
        Body::StatusReply(st) => st,
        other => panic!("not a status reply: {other:?}"),
    }
}

fn control(s: &mut UnixStream, c: Control) -> (ControlResult, u32) {
    send(s, 5, Body::ControlRequest(c));
    match recv(s).body {
        Body::ControlReply { result, generation } => (result, generation),
        other => panic!("not a control reply: {other:?}"),
    }
}

#[test]
fn probes_and_status_are_answered_from_the_engine() {
    let (d, ktp) = start("answers", "false");
    wait_for_updates(&d.sock(), 30);
    let mut s = connect(&ktp);
    let a = probe(&mut s, 1, 0xDEAD_BEEF);
    assert_eq!(a.t1, 0xDEAD_BEEF, "t1 echoed");
    assert!(a.t2 > 0 && a.t3 >= a.t2, "{a:?}");
    assert_eq!(a.raw_t2, 0, "no raw clock in the simulation");
    // Two requests in one write: two replies, in order, same history.
    let mut two = [0u8; 2 * MAX_LEN];
    let n = Frame {
        seq: 2,
        body: Body::ProbeRequest { t1: 2 },
    }
    .emit(&mut two)
    .unwrap();
    let m = Frame {
        seq: 3,
        body: Body::ProbeRequest { t1: 3 },
    }
    .emit(&mut two[n..])
    .unwrap();
    s.write_all(&two[..n + m]).unwrap();
    let (b, c) = (recv(&mut s), recv(&mut s));
    assert_eq!((b.seq, c.seq), (2, 3));
    let st = status(&mut s);
    assert!(matches!(b.body, Body::ProbeReply(r) if r.epoch == a.epoch && r.t2 >= a.t3));
    assert_eq!(st.epoch, a.epoch);
    assert_eq!(st.generation, a.generation);
    assert_eq!(st.version_str(), env!("CARGO_PKG_VERSION"));
    assert!(
        st.state == 2 || st.state == 3,
        "locked after 30 updates: {st:?}"
    );
    assert_eq!((st.source, st.served), (1, 1), "{st:?}");
    assert!(
        !st.unsync && st.bound_ns.is_some() && st.offset_ns.is_some(),
        "{st:?}"
    );
    assert!(st.updates >= 30 && st.uptime_ns > 0, "{st:?}");
    assert!(!st.control_enabled);
    // Control is off by default: refused, and logged.
    assert_eq!(
        control(&mut s, Control::Reacquire).0,
        ControlResult::Disabled
    );
    assert_eq!(status(&mut s).disruptions, st.disruptions);
    drop(s);
    d.signal(libc::SIGTERM);
    let (code, err) = d.wait();
    assert!(code.success(), "{err}");
    assert!(
        err.contains("answering the host's monitor on unix socket"),
        "{err}"
    );
    assert!(
        err.contains("the host's monitor asked for re-acquire: disabled"),
        "{err}"
    );
    assert!(!ktp.exists(), "the socket is removed at exit");
}

#[test]
fn garbage_closes_only_its_connection_and_the_daemon_keeps_steering() {
    let (d, ktp) = start("garbage", "false");
    wait_for_updates(&d.sock(), 5);
    let mut good = connect(&ktp);
    let before = probe(&mut good, 1, 1);
    let mut bad = connect(&ktp);
    bad.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut b = [0u8; 16];
    assert_eq!(bad.read(&mut b).unwrap(), 0, "closed on garbage");
    // A third connection closes the oldest (two per channel).
    let _c2 = connect(&ktp);
    let mut c3 = connect(&ktp);
    assert_eq!(probe(&mut c3, 7, 7).epoch, before.epoch);
    let mut b = [0u8; 16];
    assert_eq!(good.read(&mut b).unwrap_or(0), 0, "the oldest was closed");
    wait_for_updates(&d.sock(), 20);
    d.signal(libc::SIGTERM);
    let (code, err) = d.wait();
    assert!(code.success(), "{err}");
    assert!(
        err.contains("host monitor connection closed: KTP magic is not \"KTP\""),
        "{err}"
    );
}

#[test]
fn a_reacquire_is_obeyed_when_allowed_rate_limited_and_a_step_refused() {
    let (d, ktp) = start("control", "{ min_interval = 3600 }");
    wait_for_updates(&d.sock(), 10);
    let mut s = connect(&ktp);
    let st = status(&mut s);
    assert!(st.control_enabled);
    let (r, generation) = control(&mut s, Control::Reacquire);
    assert_eq!(r, ControlResult::Done);
    assert_eq!(generation, st.generation, "applied at the next update");
    let next = status(&mut s);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut after = next;
    while after.disruptions == st.disruptions {
        assert!(std::time::Instant::now() < deadline, "never re-acquired");
        std::thread::sleep(Duration::from_millis(20));
        after = status(&mut s);
    }
    assert_eq!(after.disruptions, st.disruptions + 1);
    assert_ne!(probe(&mut s, 1, 1).generation, st.generation);
    assert_eq!(
        control(&mut s, Control::Reacquire).0,
        ControlResult::RateLimited
    );
    assert_eq!(
        control(&mut s, Control::Step(1_000_000)).0,
        ControlResult::Unsupported
    );
    d.signal(libc::SIGTERM);
    let (code, err) = d.wait();
    assert!(code.success(), "{err}");
    assert!(err.contains("asked for re-acquire: done"), "{err}");
    assert!(err.contains("asked for re-acquire: rate-limited"), "{err}");
    assert!(
        err.contains("asked for a step of +1000000 ns: unsupported"),
        "{err}"
    );
}
