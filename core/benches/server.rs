//! Cost of one NTP request in the core: `server::respond` (checks, rate
//! table, reply) plus `stamp_transmit`, as the daemon calls them.
//!
//! `cargo bench -p keel-core --bench server` prints the time per request
//! for three traffic mixes; `core/benches/server-instructions.sh` counts
//! the instructions per request under callgrind (the goal is ≤ 300), which
//! unlike time does not depend on a busy machine.
//!
//! - **steady:** 1000 clients polling politely (every request answered
//!   from the client's bucket: a table hit, a reply);
//! - **limited:** one client flooding (a table hit, mostly dropped or a
//!   Kiss-o'-Death);
//! - **churn:** a new source address every request in a 16384-client
//!   table (a miss, an eviction once full, a reply).
//!
//! `KEEL_BENCH_N` sets the requests per mix (default 2,000,000),
//! `KEEL_BENCH_ONLY=steady|limited|churn` runs one mix.

use std::hint::black_box;
use std::time::Instant;

use keel_core::server::{
    ClientKey, RateConfig, RateTable, Response, ServedClock, ServerView, respond, stamp_transmit,
};
use keel_core::time::{Duration, Timestamp};
use keel_core::wire::ntp::{LeapIndicator, ReferenceId};

const CLIENTS: usize = 16_384;

fn view() -> ServerView {
    ServerView::new(ServedClock {
        synchronized: true,
        leap: LeapIndicator::NoWarning,
        stratum: 1,
        precision: -24,
        reference_id: ReferenceId(*b"PHC0"),
        reference_time: Timestamp::from_secs_nanos(1_700_000_000, 0),
        root_delay: Duration::ZERO,
        root_dispersion: Duration::from_micros(3),
        growth_ppb: 50,
        horizon: Duration::from_secs(16),
    })
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// One request as the daemon serves it: respond, then stamp the transmit
/// time (here the receive time plus 20 µs). Not inlined, so callgrind
/// can count it alone (`--toggle-collect`).
#[inline(never)]
fn serve_one(
    req: &[u8],
    rx: Timestamp,
    key: ClientKey,
    view: &ServerView,
    rate: &mut RateTable<CLIENTS>,
    rand: u32,
    out: &mut [u8; 48],
) -> Response {
    let r = respond(req, rx, key, view, rate, rand, out);
    if let Response::Reply(n) = r {
        stamp_transmit(
            out.get_mut(..n).unwrap_or(&mut []),
            rx.wrapping_add(Duration::from_micros(20)),
        );
    }
    r
}

/// `n` requests from `key(i)` every `gap_ns`; prints the time per request
/// and what was answered.
fn run(name: &str, n: u64, gap_ns: u64, key: &dyn Fn(u64, &mut Rng) -> ClientKey) {
    if std::env::var("KEEL_BENCH_ONLY").is_ok_and(|only| only != name) {
        return;
    }
    let mut rate = Box::new(RateTable::<CLIENTS>::new(
        RateConfig::DEFAULT,
        [0x0123_4567_89ab_cdef, 0x0fed_cba9_8765_4321],
    ));
    let v = view();
    let mut req = [0u8; 48];
    req[0] = 0x23;
    req[2] = 6;
    let mut out = [0u8; 48];
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let base = 1_700_000_000_000_000_000u64;
    let (mut replies, mut kods) = (0u64, 0u64);
    let start = Instant::now();
    for i in 0..n {
        let r = rng.next();
        req[40..48].copy_from_slice(&r.to_be_bytes());
        let rx = Timestamp::from_nanos(base + i * gap_ns);
        #[allow(clippy::cast_possible_truncation, reason = "random bits")]
        let rand = (r >> 32) as u32;
        match serve_one(
            black_box(&req),
            rx,
            key(i, &mut rng),
            &v,
            &mut rate,
            rand,
            &mut out,
        ) {
            Response::Reply(_) => replies += 1,
            Response::Kod(_) => kods += 1,
            Response::Drop => {}
        }
        black_box(&out);
    }
    #[allow(clippy::cast_precision_loss, reason = "report")]
    let per = start.elapsed().as_nanos() as f64 / n as f64;
    println!(
        "{name:8} {per:6.1} ns per request ({n} requests: {replies} replies, {kods} KoD, {} clients held)",
        rate.clients()
    );
}

fn main() {
    let n = std::env::var("KEEL_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000u64);
    // 1000 clients each every 16 s: 62.5 requests/s in all.
    #[allow(clippy::cast_possible_truncation, reason = "i % 1000")]
    run("steady", n, 16_000_000, &|i, _| {
        ClientKey::from_ipv4((0x0a00_0000 + (i % 1000) as u32).to_be_bytes())
    });
    run("limited", n, 1_000_000, &|_, _| {
        ClientKey::from_ipv4([192, 0, 2, 1])
    });
    #[allow(clippy::cast_possible_truncation, reason = "random bits")]
    run("churn", n, 10_000, &|_, rng| {
        ClientKey::from_ipv4((rng.next() as u32).to_be_bytes())
    });
    println!(
        "state: {} bytes per client ({} bytes for {CLIENTS} clients)",
        keel_core::server::CLIENT_RECORD_BYTES,
        size_of::<RateTable<CLIENTS>>()
    );
}
