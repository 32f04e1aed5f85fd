//! The engine through libkeel's C API (`keel_engine_*`):
//!
//! - the C tests of `tests/c/engine_test.c` (conventions and a closed loop);
//! - the NTP calls, `tests/c/engine_ntp_test.c`: their conventions, and a
//!   PHC with three NTP servers driven as a C daemon does (requests, server
//!   replies and samples through libkeel's NTP API), whose host steps 1 ms:
//!   the NTP sources reject the PHC and steer;
//! - **one digest**: the reference engine scenario
//!   (`keel_core::sim::engine_loop::default_engine_run(1, 600)`: a start
//!   that steps, another process's frequency write, a signalled migration and
//!   a leap second) is run in Rust with every answer the simulated world gave
//!   recorded, and `tests/c/engine_replay.c` feeds those answers to a
//!   `keel_engine` through libkeel and recomputes the digest of every command
//!   and answer: it equals the Rust run's, and `ENGINE_SEED1_600`.

use std::ffi::c_int;

// Without naming the crate its symbols are not linked into this test.
use keel::{
    KEEL_ENGINE_STORAGE_SIZE, KEEL_ENGINE_STORAGE_WORDS, keel_engine, keel_engine_clock_check,
    keel_engine_config, keel_engine_config_default, keel_engine_reading, keel_engine_state,
    keel_status,
};
use keel_core::engine::{Disruption, ReadError};
use keel_core::sim::engine_loop::{
    Answer, ENGINE_SEED1_600, EngineReport, default_engine, default_engine_loop,
    default_engine_world,
};
use keel_core::time::LeapKind;

/// Mirrors `keel_replay_answer` in `tests/c/engine_replay.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct ReplayAnswer {
    kind: u32,
    code: i32,
    a: u64,
    b: u64,
    reading: keel_engine_reading,
    check: keel_engine_clock_check,
}

/// Mirrors `keel_replay_result` in `tests/c/engine_replay.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct ReplayResult {
    hash: u64,
    updates: u64,
    steps: u64,
    disruptions: u64,
    interference: u64,
    answers_used: usize,
    state: keel_engine_state,
    error: i32,
    status: i32,
}

#[link(name = "keel_ctests", kind = "static")]
unsafe extern "C" {
    fn keel_ctest_engine() -> c_int;
    fn keel_ctest_engine_ntp() -> c_int;
    fn keel_engine_replay(
        engine: *mut keel_engine,
        config: *const keel_engine_config,
        first_update_ns: u64,
        answers: *const ReplayAnswer,
        n: usize,
        updates: u64,
        out: *mut ReplayResult,
    ) -> c_int;
}

#[test]
fn c_engine_tests_pass() {
    // SAFETY: a plain C function without arguments.
    let failures = unsafe { keel_ctest_engine() };
    assert_eq!(failures, 0, "C engine tests failed (see stderr)");
    assert_eq!(KEEL_ENGINE_STORAGE_SIZE, KEEL_ENGINE_STORAGE_WORDS * 8);
}

#[test]
fn c_engine_ntp_tests_pass() {
    // SAFETY: a plain C function without arguments.
    let failures = unsafe { keel_ctest_engine_ntp() };
    assert_eq!(failures, 0, "C engine NTP tests failed (see stderr)");
}

const fn empty_check() -> keel_engine_clock_check {
    keel_engine_clock_check {
        has_kernel_freq: false,
        has_suspended: false,
        has_tai_utc: false,
        kernel_freq_ppb_q32: 0,
        raw_ns: 0,
        sink_ns: 0,
        pair_width_ns: 0,
        suspended_ns: 0,
        wall_ns: 0,
        leap: 0,
        leap_tai_utc_after_s: 0,
        leap_unix_s: 0,
        tai_utc_s: 0,
    }
}

/// One recorded answer in the C layout.
#[allow(
    clippy::cast_sign_loss,
    reason = "bit patterns, as the digest folds them"
)]
fn c_answer(a: &Answer) -> ReplayAnswer {
    let mut r = ReplayAnswer {
        kind: 0,
        code: 0,
        a: 0,
        b: 0,
        reading: keel_engine_reading {
            offset_ns: 0,
            local_ts_ns: 0,
            delay_ns: 0,
            uncertainty_ns: 0,
            noise_limited: 0,
        },
        check: empty_check(),
    };
    match *a {
        Answer::Now(t) => r.a = t,
        Answer::Disruption(t, d) => {
            r.kind = 1;
            r.a = t;
            r.code = match d {
                Disruption::Migration => 0,
                Disruption::Resume => 1,
                Disruption::ReadMethodLost => 2,
                Disruption::Requested => 3,
            };
        }
        Answer::Check(c) => {
            r.kind = 2;
            r.check = keel_engine_clock_check {
                has_kernel_freq: c.kernel_freq.is_some(),
                has_suspended: c.suspended_ns.is_some(),
                has_tai_utc: c.tai_utc_s.is_some(),
                kernel_freq_ppb_q32: c.kernel_freq.map_or(0, |f| f.to_bits()),
                raw_ns: c.raw_ns,
                sink_ns: c.sink.as_nanos(),
                pair_width_ns: c.pair_width_ns,
                suspended_ns: c.suspended_ns.unwrap_or(0),
                wall_ns: c.wall.as_nanos(),
                leap: c.leap.map_or(0, |l| match l.kind {
                    LeapKind::Insert => 1,
                    LeapKind::Delete => -1,
                }),
                leap_tai_utc_after_s: c.leap.map_or(0, |l| i32::from(l.offset.0)),
                leap_unix_s: c.leap.map_or(0, |l| l.unix_secs),
                tai_utc_s: c.tai_utc_s.map_or(0, i32::from),
            };
        }
        Answer::Reading(x) => {
            r.kind = 3;
            r.reading = keel_engine_reading {
                offset_ns: x.offset.as_nanos(),
                local_ts_ns: x.local_ts.as_nanos(),
                delay_ns: x.delay.as_nanos(),
                uncertainty_ns: x.uncertainty.as_nanos(),
                noise_limited: u8::from(x.noise_limited),
            };
        }
        Answer::ReadError(e, at) => {
            r.kind = 4;
            r.code = match e {
                ReadError::Busy => 0,
                ReadError::Failed => 1,
                ReadError::Paused => 2,
            };
            r.a = at.as_nanos();
        }
        Answer::Adjusted(x) => {
            r.kind = 5;
            r.a = x.at.as_nanos();
            r.b = x.freq.to_bits() as u64;
        }
        Answer::Stepped => r.kind = 6,
        Answer::TrueOffset {
            whole_ns,
            frac_bits,
        } => {
            r.kind = 7;
            r.a = whole_ns as u64;
            r.b = frac_bits;
        }
    }
    r
}

/// The reference engine run in Rust, with its answers recorded.
fn record(seed: u64, updates: u64) -> (EngineReport, Vec<Answer>) {
    let mut world = default_engine_world(seed);
    let mut engine = default_engine();
    let mut answers = Vec::new();
    let r = default_engine_loop(updates).run(&mut world, &mut engine, &mut |a| answers.push(*a));
    (r, answers)
}

/// The C replay of `answers` on an engine configured as `default_engine`.
fn replay(answers: &[ReplayAnswer], updates: u64) -> ReplayResult {
    let mut cfg = std::mem::MaybeUninit::<keel_engine_config>::uninit();
    // SAFETY: `cfg` is valid for writing a config.
    let st = unsafe { keel_engine_config_default(0, cfg.as_mut_ptr()) };
    assert_eq!(st, keel_status::Ok);
    // SAFETY: written on OK.
    let cfg = unsafe { cfg.assume_init() };
    // Caller-owned storage: any 8-aligned block of the size will do.
    let mut storage = vec![0u64; KEEL_ENGINE_STORAGE_WORDS];
    let engine = storage.as_mut_ptr().cast::<keel_engine>();
    let mut out = std::mem::MaybeUninit::<ReplayResult>::zeroed();
    // SAFETY: every pointer is valid for the call; `answers` has `len()`
    // elements in the C layout (a `#[repr(C)]` mirror).
    let rc = unsafe {
        keel_engine_replay(
            engine,
            &raw const cfg,
            1_000_000_000,
            answers.as_ptr(),
            answers.len(),
            updates,
            out.as_mut_ptr(),
        )
    };
    // SAFETY: zero-initialised, and a valid `ReplayResult` for every field
    // (the state 0 is `Unlocked`); the C side writes it.
    let out = unsafe { out.assume_init() };
    assert_eq!(rc, 0, "C engine replay failed: {out:?}");
    out
}

#[test]
fn one_digest_rust_and_c_through_libkeel() {
    let (rust, answers) = record(1, 600);
    assert_eq!(
        rust.hash, ENGINE_SEED1_600,
        "Rust digest {:#018x}",
        rust.hash
    );
    let c_answers: Vec<ReplayAnswer> = answers.iter().map(c_answer).collect();
    let c = replay(&c_answers, 600);
    assert_eq!(c.answers_used, c_answers.len(), "every answer used");
    assert_eq!(
        c.hash, rust.hash,
        "C through libkeel {:#018x}, Rust {:#018x}",
        c.hash, rust.hash
    );
    assert_eq!(c.updates, rust.counters.updates);
    assert_eq!(c.steps, rust.counters.steps);
    assert_eq!(c.disruptions, rust.counters.disruptions);
    assert_eq!(c.interference, rust.counters.interference);
    println!(
        "one digest: default_engine_run(1, 600) = {:#018x} in Rust and in C through libkeel \
         ({} answers replayed; {} steps, {} disruptions, {} interference)",
        c.hash,
        c_answers.len(),
        c.steps,
        c.disruptions,
        c.interference
    );
}

#[test]
fn other_seeds_replay_too() {
    for seed in [2, 3] {
        let (rust, answers) = record(seed, 300);
        let c_answers: Vec<ReplayAnswer> = answers.iter().map(c_answer).collect();
        let c = replay(&c_answers, 300);
        assert_eq!(c.hash, rust.hash, "seed {seed}");
    }
}
