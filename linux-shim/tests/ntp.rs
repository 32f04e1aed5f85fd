//! `keel sync` with NTP servers alone (`source = "none"`), as a dry run
//! against servers on loopback that answer from this machine's clock:
//! the real sockets, kernel timestamps, the engine's polling and selection,
//! `keel sources` on the status socket. Nothing is steered: `--dry-run`,
//! and `KEEL_FORBID_CLOCK_WRITES=1` on the child.

#![allow(clippy::missing_panics_doc, reason = "tests")]

mod common;

use common::skip::skip;
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

/// Runs `keel sync --dry-run` with NTP servers alone at `addrs` (poll 1 s,
/// iburst) for 8 s and asks `keel sources` (JSON and table) after 6 s.
fn dry_run_against(name: &str, addrs: &[std::net::SocketAddr]) -> (String, String, String) {
    let dir = tmpdir(name);
    let sock = dir.join("keel.sock");
    let cfg = dir.join("keel.toml");
    let mut text_cfg = format!(
        "source = \"none\"\nstate_file = \"\"\ntime_page = \"\"\nvmclock = \"\"\nstatus_socket = \"{}\"\nsummary_updates = 0\n",
        sock.display()
    );
    for a in addrs {
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
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(sources.status.success(), "{:?}", sources);
    (text(&sources).0, text(&table).0, err)
}

/// The JSON entry of server `name` in `keel sources --json`.
fn entry<'a>(json: &'a str, name: &str) -> &'a str {
    let at = json
        .find(&format!("\"name\":\"{name}\""))
        .unwrap_or_else(|| panic!("{json}"));
    &json[at..json[at..].find('}').map_or(json.len(), |e| at + e)]
}

/// A numeric field of an entry.
fn field(entry: &str, key: &str) -> i64 {
    entry
        .split(&format!("\"{key}\":"))
        .nth(1)
        .and_then(|r| r.split([',', '}']).next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{key} in {entry}"))
}

/// keel as a client of a real chronyd (Debian's, fetched by
/// tests/interop/peers.sh, never installed) serving this machine's clock
/// on loopback with `-x` (it never touches the clock): keel measures it at
/// about zero, within half the round trip.
#[test]
fn keel_sync_follows_chronyd_on_loopback() {
    const TEST: &str = "ntp::keel_sync_follows_chronyd_on_loopback";
    const PORT: u16 = 11133;
    if std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout)
        .ok()
        .as_deref()
        != Some(b"0\n".as_slice())
    {
        return skip(TEST, "not root (chronyd is started with -u root)");
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/peers.sh");
    let got = std::process::Command::new("bash")
        .arg(&script)
        .output()
        .unwrap();
    if !got.status.success() {
        return skip(
            TEST,
            &format!(
                "peers.sh could not fetch chrony: {}",
                String::from_utf8_lossy(&got.stderr).trim()
            ),
        );
    }
    let root = std::path::PathBuf::from(String::from_utf8_lossy(&got.stdout).trim());
    let dir = tmpdir("chronyd");
    let conf = dir.join("chrony.conf");
    std::fs::write(
        &conf,
        format!(
            "port {PORT}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 1\ncmdport 0\npidfile {d}/chronyd.pid\ndriftfile {d}/drift\n",
            d = dir.display()
        ),
    )
    .unwrap();
    // -x: never touch the system clock; -d: foreground.
    let mut chronyd = std::process::Command::new(root.join("usr/sbin/chronyd"))
        .args(["-x", "-d", "-u", "root", "-f"])
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let addr: std::net::SocketAddr = format!("127.0.0.1:{PORT}").parse().unwrap();
    let (json, table, _) = dry_run_against("chronyd-client", &[addr]);
    let _ = chronyd.kill();
    let _ = chronyd.wait();
    println!("{table}");
    let e = entry(&json, &addr.to_string());
    assert!(e.contains("\"state\":\"truechimer\""), "{e}\n{table}");
    let (off, delay) = (field(e, "offset_ns"), field(e, "delay_ns"));
    println!("keel against chronyd on loopback: offset {off} ns, delay {delay} ns");
    assert!(field(e, "reach") > 0, "{e}");
    assert!(off.abs() <= delay / 2 + 20_000, "{e}");
}

#[test]
fn ntp_alone_measures_three_servers_and_rejects_a_falseticker() {
    let stop = Arc::new(AtomicBool::new(false));
    let good: Vec<_> = (0..2)
        .map(|_| server(KDuration::ZERO, stop.clone()))
        .collect();
    let bad = server(KDuration::from_millis(50), stop.clone());
    let all: Vec<_> = good.iter().copied().chain([bad]).collect();
    let (json, table, err) = dry_run_against("ntp-alone", &all);
    stop.store(true, Ordering::Relaxed);
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
