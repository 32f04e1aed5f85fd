//! `keel sync` with NTP servers alone (`source = "none"`), as a dry run
//! against servers on loopback that answer from this machine's clock:
//! the real sockets, kernel timestamps, the engine's polling and selection,
//! `keel sources` on the status socket. Nothing is steered: `--dry-run`,
//! and `KEEL_FORBID_CLOCK_WRITES=1` on the child.

#![allow(clippy::missing_panics_doc, reason = "tests")]

mod common;

use common::{keel, text, tmpdir};
use keel_core::measure::ntp::{ServerClock, server_reply};
use keel_core::time::{Duration as KDuration, Timestamp};
use keel_core::wire::ntp::{LeapIndicator, ReferenceId};
use std::net::UdpSocket;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn realtime() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_secs_nanos(d.as_secs(), d.subsec_nanos())
}

/// A server on loopback answering from this machine's clock, `offset` added
/// (a falseticker when large), until `stop`.
fn server(offset: KDuration, stop: Arc<AtomicBool>) -> std::net::SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let clock = ServerClock {
            synchronized: true,
            leap: LeapIndicator::NoWarning,
            stratum: 1,
            precision: -24,
            reference_id: ReferenceId(*b"LOCL"),
            reference_time: realtime(),
            root_delay: KDuration::ZERO,
            error_bound: KDuration::from_micros(1),
        };
        let mut buf = [0u8; 512];
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let t2 = realtime().wrapping_add(offset);
            let mut reply = [0u8; 48];
            if let Ok(m) = server_reply(
                &clock,
                &buf[..n],
                t2,
                realtime().wrapping_add(offset),
                &mut reply,
            ) {
                let _ = sock.send_to(&reply[..m], from);
            }
        }
    });
    addr
}

#[test]
fn ntp_alone_measures_three_servers_and_rejects_a_falseticker() {
    let stop = Arc::new(AtomicBool::new(false));
    let good: Vec<_> = (0..2)
        .map(|_| server(KDuration::ZERO, stop.clone()))
        .collect();
    let bad = server(KDuration::from_millis(50), stop.clone());
    let dir = tmpdir("ntp-alone");
    let sock = dir.join("keel.sock");
    let cfg = dir.join("keel.toml");
    let mut text_cfg = format!(
        "source = \"none\"\nstate_file = \"\"\ntime_page = \"\"\nvmclock = \"\"\nstatus_socket = \"{}\"\nsummary_updates = 0\n",
        sock.display()
    );
    for a in good.iter().chain([&bad]) {
        text_cfg.push_str(&format!(
            "\n[[server]]\naddress = \"{a}\"\niburst = true\nminpoll = 0\nmaxpoll = 0\n"
        ));
    }
    std::fs::write(&cfg, text_cfg).unwrap();
    let mut child = keel()
        .args(["sync", "--dry-run", "--config"])
        .arg(&cfg)
        .args(["--duration", "8s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Ask keel sources while it runs (after the burst and a few polls).
    std::thread::sleep(Duration::from_secs(6));
    let sources = keel()
        .args(["sources", "--json", "--socket"])
        .arg(&sock)
        .output()
        .unwrap();
    let table = keel()
        .args(["sources", "--socket"])
        .arg(&sock)
        .output()
        .unwrap();
    let t0 = Instant::now();
    let out = loop {
        if child.try_wait().unwrap().is_some() || t0.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            break child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    stop.store(true, Ordering::Relaxed);
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    let (json, _) = text(&sources);
    let (table, _) = text(&table);
    assert!(sources.status.success(), "{json}");
    // The two honest servers are truechimers at about zero; the one 50 ms
    // off is a falseticker.
    for a in &good {
        let at = json
            .find(&format!("\"name\":\"{a}\""))
            .unwrap_or_else(|| panic!("{json}"));
        let entry = &json[at..json[at..].find('}').map_or(json.len(), |e| at + e)];
        assert!(
            entry.contains("\"state\":\"truechimer\""),
            "{entry}\n{table}"
        );
        let off: i64 = entry
            .split("\"offset_ns\":")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{entry}"));
        assert!(off.abs() < 1_000_000, "{entry}");
    }
    let at = json.find(&format!("\"name\":\"{bad}\"")).unwrap();
    assert!(
        json[at..].contains("\"state\":\"falseticker\""),
        "{json}\n{table}"
    );
    assert!(table.contains(&format!("N  x  {bad}")), "{table}");
    // No PHC: no PHC row; the truechimers steer.
    assert!(!table.contains("\nP "), "{table}");
    assert!(table.contains(&format!("N  *  {}", good[0])), "{table}");
    // The dry run measured and would have corrected, nothing more.
    assert!(
        err.contains("NTP servers → CLOCK_REALTIME") || err.contains("no PHC"),
        "{err}"
    );
}
