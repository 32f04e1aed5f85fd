#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap,
    reason = "the synthetic guest keeps its truth in f64"
)]

use super::*;

/// A synthetic guest: its clock is the host's plus an offset and a rate,
/// with scripted jumps; the channel's delays each way are drawn apart, so
/// the truth is exact.
struct Synthetic {
    /// Guest − host at host time `since`, ns.
    offset_ns: f64,
    since: f64,
    /// Guest rate − host rate, ppb.
    rate_ppb: f64,
    generation: u32,
    rng: u64,
}

impl Synthetic {
    fn new(offset_ns: f64, rate_ppb: f64) -> Self {
        Self {
            offset_ns,
            since: T0,
            rate_ppb,
            generation: 1,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Guest − host at host time `h` ns.
    fn truth(&self, h: f64) -> f64 {
        self.offset_ns + self.rate_ppb * 1e-9 * (h - self.since)
    }

    fn guest_time(&self, h: f64) -> u64 {
        (h + self.truth(h)) as u64
    }

    /// One exchange sent at host time `h` ns, with delays `up` and `down`
    /// ns and guest processing `proc_ns`; returns (t1, reply, t4).
    fn exchange(
        &self,
        h: f64,
        up: f64,
        down: f64,
        proc_ns: f64,
    ) -> (Timestamp, ProbeReply, Timestamp) {
        let t1 = h as u64;
        let reply = ProbeReply {
            t1,
            t2: self.guest_time(h + up),
            t3: self.guest_time(h + up + proc_ns),
            epoch: 42,
            generation: self.generation,
            raw_t2: 0,
        };
        let t4 = (h + up + proc_ns + down) as u64;
        (Timestamp::from_nanos(t1), reply, Timestamp::from_nanos(t4))
    }

    /// A TCG-like delay: 50 µs to 1 ms, one in 50 a 20 ms stall.
    fn delay(&mut self) -> f64 {
        let stall = self.uniform() < 0.02;
        50e3 + self.uniform() * 950e3 + if stall { 20e6 } else { 0.0 }
    }

    /// A burst of `n` exchanges from host time `h`, 10 ms apart; returns
    /// the poll's result.
    fn poll(&mut self, g: &mut Guest, h: f64, n: usize) -> Option<PollResult> {
        for k in 0..n {
            let (up, down, p) = (self.delay(), self.delay(), 1e3 + self.uniform() * 4e3);
            let (t1, r, t4) = self.exchange(h + k as f64 * 10e6, up, down, p);
            let _ = g.on_reply(t1, &r, t4);
        }
        g.end_burst()
    }
}

const T0: f64 = 1.7e18;

#[test]
fn no_exchange_lies_outside_its_bound_under_asymmetric_delays() {
    let mut s = Synthetic::new(0.46e9, 7300.0);
    let mut g = Guest::new(MonitorConfig::DEFAULT);
    let (mut n, mut outside, mut worst_err) = (0u32, 0u32, 0.0f64);
    for i in 0..100_000 {
        let h = T0 + f64::from(i) * 50e6;
        // Wildly asymmetric: one way up to 100× the other.
        let up = s.delay();
        let down = if s.uniform() < 0.5 {
            up / 100.0
        } else {
            s.delay()
        };
        let (t1, r, t4) = s.exchange(h, up, down, 2e3);
        if let Ok(m) = g.on_reply(t1, &r, t4) {
            n += 1;
            let err = m.offset.as_nanos() as f64 - s.truth(m.at.as_nanos() as f64);
            worst_err = worst_err.max(err.abs() / m.bound.as_nanos() as f64);
            if err.abs() > m.bound.as_nanos() as f64 {
                outside += 1;
            }
        }
        let _ = g.end_burst();
    }
    assert_eq!(n, 100_000, "every exchange below 100 ms is used");
    assert_eq!(outside, 0, "worst |error|/bound {worst_err}");
    // The bound is not loose either: the worst exchange used most of it.
    assert!(worst_err > 0.9, "worst |error|/bound {worst_err}");
}

#[test]
fn the_burst_keeps_its_least_delay_exchange_and_finds_the_rate() {
    let mut s = Synthetic::new(-123_456_789.0, 7300.0);
    let mut g = Guest::new(MonitorConfig::DEFAULT);
    let mut last = None;
    for i in 0..20 {
        let h = T0 + f64::from(i) * 16e9;
        let r = s.poll(&mut g, h, 8).unwrap();
        let m = r.measurement;
        let err = m.offset.as_nanos() as f64 - s.truth(m.at.as_nanos() as f64);
        assert!(
            err.abs() <= m.bound.as_nanos() as f64,
            "poll {i}: error {err} ns"
        );
        // The least of 8 delays of 0.1–2 ms.
        assert!(
            m.delay < Duration::from_micros(1000),
            "poll {i}: δ {}",
            m.delay
        );
        assert!(r.jump.is_none() && !r.new_generation, "poll {i}: {r:?}");
        last = Some(r);
    }
    let rate = last.unwrap().rate.unwrap();
    let (est, bound) = (
        rate.rate.to_bits() as f64 / 2f64.powi(32),
        rate.bound.to_bits() as f64 / 2f64.powi(32),
    );
    assert!((est - 7300.0).abs() <= bound, "rate {est} ± {bound} ppb");
    assert!(
        bound < 3000.0,
        "rate bound {bound} ppb after 16 polls of ≤ 0.5 ms bounds over 240 s"
    );
    assert_eq!(g.counters().polls, 20);
    assert_eq!(g.counters().ok, 160);
}

#[test]
fn a_step_inside_a_burst_drops_what_came_before_it() {
    let mut s = Synthetic::new(0.0, 0.0);
    let mut g = Guest::new(MonitorConfig::DEFAULT);
    assert!(s.poll(&mut g, T0, 8).is_some());
    for k in 0..8 {
        if k == 5 {
            // The guest steps 50 ms forward and says so.
            s.offset_ns += 50e6;
            s.generation += 1;
        }
        // Before the step the exchanges are the fastest; they must not win.
        let up = if k < 5 { 20e3 } else { 300e3 };
        let (t1, r, t4) = s.exchange(T0 + 16e9 + f64::from(k) * 10e6, up, up, 1e3);
        assert!(g.on_reply(t1, &r, t4).is_ok());
    }
    let r = g.end_burst().unwrap();
    assert!(r.new_generation);
    assert!(r.jump.is_none(), "an announced step is not a jump");
    assert_eq!(r.measurement.generation, 2);
    assert!((r.measurement.offset.as_nanos() - 50_000_000).abs() < 1_000);
    assert_eq!(g.counters().generations, 1);
}

#[test]
fn an_unannounced_jump_or_pause_is_reported_at_the_next_poll() {
    for (jump_ns, name) in [
        (1e6, "1 ms step"),
        (-5e9, "5 s pause"),
        (-1e6, "−1 ms step"),
    ] {
        let mut s = Synthetic::new(3e6, -2000.0);
        let mut g = Guest::new(MonitorConfig::DEFAULT);
        let mut prev = None;
        for i in 0..6 {
            let r = s.poll(&mut g, T0 + f64::from(i) * 16e9, 8).unwrap();
            prev = Some(r);
            assert!(r.jump.is_none(), "{name}: poll {i}");
        }
        s.offset_ns += jump_ns;
        let r = s.poll(&mut g, T0 + 6.0 * 16e9, 8).unwrap();
        let j = r
            .jump
            .unwrap_or_else(|| panic!("{name} not seen: {r:?} after {prev:?}"));
        // It reports at least the part beyond the prediction, with its sign.
        assert_eq!(j.is_negative(), jump_ns < 0.0, "{name}: {j}");
        let err = j.as_nanos() as f64 - jump_ns;
        assert!(err.abs() < 0.5e6, "{name}: reported {j}");
        assert_eq!(g.counters().jumps, 1);
        // A new history: the next poll does not report it again.
        let r = s.poll(&mut g, T0 + 7.0 * 16e9, 8).unwrap();
        assert!(r.jump.is_none(), "{name}");
    }
}

#[test]
fn a_guest_servo_steering_within_the_margin_raises_no_false_jump() {
    let mut s = Synthetic::new(0.0, 0.0);
    let mut g = Guest::new(MonitorConfig::DEFAULT);
    let mut h = T0;
    for i in 0..2000 {
        // The rate wanders ±0.5 ppm as a servo steers; the offset follows.
        let walk = (s.uniform() - 0.5) * 100.0;
        s.offset_ns = s.truth(h);
        s.since = h;
        s.rate_ppb = (s.rate_ppb + walk).clamp(-500.0, 500.0);
        let r = s.poll(&mut g, h, 8).unwrap();
        assert!(r.jump.is_none(), "poll {i}: {r:?}");
        let m = r.measurement;
        let err = m.offset.as_nanos() as f64 - s.truth(m.at.as_nanos() as f64);
        assert!(err.abs() <= m.bound.as_nanos() as f64, "poll {i}");
        h += 16e9;
    }
    assert_eq!(g.counters().jumps, 0);
}

#[test]
fn bad_exchanges_are_named_and_counted() {
    let s = Synthetic::new(0.0, 0.0);
    let mut g = Guest::new(MonitorConfig::DEFAULT);
    let (t1, r, t4) = s.exchange(T0, 1e5, 1e5, 1e3);
    let other = Timestamp::from_nanos(t1.as_nanos() + 1);
    assert_eq!(g.on_reply(other, &r, t4), Err(Rejected::NotOurs));
    assert_eq!(
        g.on_reply(t1, &r, Timestamp::from_nanos(t1.as_nanos() - 1)),
        Err(Rejected::Inconsistent)
    );
    let swapped = ProbeReply {
        t2: r.t3,
        t3: r.t2,
        ..r
    };
    assert_eq!(g.on_reply(t1, &swapped, t4), Err(Rejected::Inconsistent));
    let (t1, r, t4) = s.exchange(T0, 150e6, 1e5, 1e3);
    assert_eq!(g.on_reply(t1, &r, t4), Err(Rejected::TooSlow));
    assert_eq!(g.counters().rejected, 4);
    assert_eq!(g.end_burst(), None, "no usable exchange, no measurement");
    // Timestamps at the ends of the range do not panic.
    let r = ProbeReply {
        t1: 0,
        t2: u64::MAX,
        t3: u64::MAX,
        ..ProbeReply::default()
    };
    let _ = g.on_reply(
        Timestamp::from_nanos(0),
        &r,
        Timestamp::from_nanos(u64::MAX),
    );
    let r = ProbeReply {
        t1: u64::MAX,
        t2: 0,
        t3: 0,
        ..ProbeReply::default()
    };
    let _ = g.on_reply(
        Timestamp::from_nanos(u64::MAX),
        &r,
        Timestamp::from_nanos(u64::MAX),
    );
    let _ = g.end_burst();
}

#[test]
fn a_guest_fits_in_two_kib() {
    assert!(
        core::mem::size_of::<Guest>() <= 2048,
        "{} B",
        core::mem::size_of::<Guest>()
    );
}
