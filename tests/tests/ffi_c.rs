//! The C side of libkeel, run by `cargo test`: the C tests in `tests/c/`
//! (compiled by `tests/build.rs` with `-std=c99 -Wall -Wextra -Wpedantic
//! -Werror`), the header compiled alone as C99 and as C++, a check that the C
//! tests call every function the header declares, and the bit-identity check:
//! a seeded simulated run of the Rust servo, replayed through the C API, gives
//! the same outputs bit for bit.

use std::ffi::c_int;
use std::path::Path;

// Without naming the crate its symbols are not linked into this test.
use keel::{
    KEEL_SERVO_STORAGE_SIZE, keel_phc_sample, keel_phc_triple, keel_servo_action,
    keel_servo_output, keel_servo_state, keel_status,
};
use keel_core::measure::phc::{PHC_MAX_SAMPLES, PhcReading, ReadMethod};
use keel_core::servo::{
    Action, Applied, Kalman, KalmanConfig, LinReg, OffsetSample, Pi, PiConfig, Servo, ServoConfig,
    ServoOutput, ServoState,
};
use keel_core::sim::World;
use keel_core::time::{Duration, KernelFreq, Ppb};

/// Mirrors `keel_replay_step` in `tests/c/replay.h`.
#[repr(C)]
#[derive(Clone, Copy)]
struct ReplayStep {
    triples: [keel_phc_triple; PHC_MAX_SAMPLES],
    n_triples: usize,
    local_ts_ns: u64,
    step_ns: i64,
    freq_ppb_q32: i64,
    disruption: bool,
    report_applied: bool,
    step_applied: bool,
}

/// Mirrors `keel_replay_result` in `tests/c/replay.h`.
#[repr(C)]
#[derive(Clone, Copy)]
struct ReplayResult {
    phc: keel_phc_sample,
    out: keel_servo_output,
    phc_status: i32,
    servo_status: i32,
}

#[link(name = "keel_ctests", kind = "static")]
unsafe extern "C" {
    fn keel_ctest_run() -> c_int;
    fn keel_ctest_header_c99() -> c_int;
    fn keel_ctest_replay(
        kind: i32,
        interval_ns: i64,
        steps: *const ReplayStep,
        n: usize,
        results: *mut ReplayResult,
    ) -> c_int;
}

#[link(name = "keel_ctests_cpp", kind = "static")]
unsafe extern "C" {
    fn keel_ctest_header_cpp() -> c_int;
}

#[test]
fn c_tests_pass() {
    // SAFETY: a plain C function without arguments.
    let failures = unsafe { keel_ctest_run() };
    assert_eq!(failures, 0, "C tests failed (see stderr)");
}

#[test]
fn header_compiles_as_c99_and_cpp() {
    // SAFETY: plain C functions without arguments.
    let (c, cpp) = unsafe { (keel_ctest_header_c99(), keel_ctest_header_cpp()) };
    let want = c_int::try_from(KEEL_SERVO_STORAGE_SIZE).expect("small");
    assert_eq!(c, want);
    assert_eq!(cpp, want);
    assert_eq!(keel::keel_servo_storage_size(), KEEL_SERVO_STORAGE_SIZE);
}

/// Every function the header declares is called by the C tests.
#[test]
fn c_tests_cover_every_exported_function() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let header = std::fs::read_to_string(root.join("../include/keel.h")).expect("keel.h");
    let tests = std::fs::read_to_string(root.join("c/ctest.c")).expect("ctest.c");
    let mut names = Vec::new();
    for line in header.lines() {
        let line = line.trim_start();
        if line.starts_with('*') || line.starts_with("/*") || line.starts_with('#') {
            continue;
        }
        if let Some(i) = line.find(" keel_") {
            let rest = &line[i + 1..];
            if let Some(j) = rest.find('(') {
                names.push(rest[..j].to_string());
            }
        }
    }
    assert!(names.len() > 40, "found only {} functions", names.len());
    let missing: Vec<_> = names
        .iter()
        .filter(|n| !tests.contains(&format!("{n}(")))
        .collect();
    assert!(
        missing.is_empty(),
        "not called by tests/c/ctest.c: {missing:?}"
    );
}

fn servo_for(kind: i32, interval: Duration) -> Box<dyn Servo> {
    match kind {
        0 => Box::new(Kalman::new(
            ServoConfig::default(),
            KalmanConfig::default(),
            interval,
            Ppb::ZERO,
        )),
        1 => Box::new(Pi::new(
            ServoConfig::default(),
            PiConfig::default(),
            interval,
            Ppb::ZERO,
        )),
        _ => Box::new(LinReg::new(ServoConfig::default(), interval, Ppb::ZERO)),
    }
}

fn c_output(o: &ServoOutput) -> keel_servo_output {
    let (action, step_ns) = match o.action {
        Action::None => (keel_servo_action::None, 0),
        Action::SetFrequency(_) => (keel_servo_action::SetFrequency, 0),
        Action::Step { step, .. } => (keel_servo_action::Step, step.as_nanos()),
    };
    keel_servo_output {
        action,
        state: match o.state {
            ServoState::Unlocked => keel_servo_state::Unlocked,
            ServoState::Jump => keel_servo_state::Jump,
            ServoState::Locked => keel_servo_state::Locked,
            ServoState::LockedStable => keel_servo_state::LockedStable,
        },
        step_ns,
        freq_ppb_q32: o.freq.to_bits(),
        offset_ns: o.offset.as_nanos(),
        error_bound_ns: o.error_bound.map_or(0, Duration::as_nanos),
        next_update_ns: o.next_update.map_or(0, Duration::as_nanos),
        has_error_bound: o.error_bound.is_some(),
        has_next_update: o.next_update.is_some(),
    }
}

/// Runs the Rust servo closed-loop on a seeded simulated world (a live
/// migration with its disruption signal, outliers, a large initial offset that
/// is stepped, best-of-5 `PTP_SYS_OFFSET_EXTENDED` reads), recording what
/// went in and what came out.
fn rust_run(kind: i32, seed: u64) -> (i64, Vec<ReplayStep>, Vec<ReplayResult>) {
    let mut scn = keel_tests::scenarios::migration_signalled(20.0);
    scn.sim.read.outliers = keel_tests::scenarios::outliers().sim.read.outliers;
    let interval_ns = i64::try_from(scn.interval_ns).expect("interval");
    let mut world = World::new(&scn.sim, seed);
    let mut servo = servo_for(kind, Duration::from_nanos(interval_ns));
    let mut freq = Ppb::ZERO;
    let (mut steps, mut results) = (Vec::new(), Vec::new());
    let n_updates = scn.duration_s * 1_000_000_000 / scn.interval_ns;
    for i in 1..=n_updates {
        world.advance_to(i * scn.interval_ns);
        let disruption = world.take_disruption().is_some();
        if disruption {
            servo.disruption();
        }
        let reading = world.read_phc(ReadMethod::Extended, 5);
        let mut step = ReplayStep {
            triples: [keel_phc_triple::default(); PHC_MAX_SAMPLES],
            n_triples: 0,
            local_ts_ns: world.local_time().as_nanos(),
            step_ns: 0,
            freq_ppb_q32: 0,
            disruption,
            report_applied: true,
            step_applied: false,
        };
        if let Ok(r @ PhcReading::Sampled { .. }) = &reading {
            for (d, t) in step.triples.iter_mut().zip(r.samples()) {
                *d = keel_phc_triple {
                    sys_before_ns: t.sys_before.as_nanos(),
                    phc_ns: t.phc.as_nanos(),
                    sys_after_ns: t.sys_after.as_nanos(),
                };
            }
            step.n_triples = r.samples().len();
        }
        let best = reading.ok().and_then(|r| r.best_sample());
        let mut res = ReplayResult {
            phc: keel_phc_sample {
                offset_ns: 0,
                local_ts_ns: 0,
                delay_ns: 0,
            },
            out: c_output(&ServoOutput {
                action: Action::None,
                state: ServoState::Unlocked,
                offset: Duration::ZERO,
                freq: Ppb::ZERO,
                error_bound: None,
                next_update: None,
            }),
            phc_status: keel_status::NoSample as i32,
            servo_status: keel_status::Ok as i32,
        };
        let out = if let Some(b) = best {
            res.phc = keel_phc_sample {
                offset_ns: b.offset.as_nanos(),
                local_ts_ns: b.local_ts.as_nanos(),
                delay_ns: b.delay.as_nanos(),
            };
            res.phc_status = keel_status::Ok as i32;
            servo.sample(&OffsetSample {
                offset: b.offset,
                local_ts: b.local_ts,
                uncertainty: Duration::from_nanos(b.delay.as_nanos() / 2),
            })
        } else {
            servo.no_sample(world.local_time())
        };
        res.out = c_output(&out);
        let mut applied_step = None;
        match out.action {
            Action::None => {}
            Action::SetFrequency(f) => freq = f,
            Action::Step { step: s, freq: f } => {
                world.step(s);
                applied_step = Some(s);
                freq = f;
            }
        }
        world.adjtime_frequency(KernelFreq::from_ppb(freq, KernelFreq::USER_HZ));
        servo.applied(&Applied {
            step: applied_step,
            freq,
        });
        step.step_applied = applied_step.is_some();
        step.step_ns = applied_step.map_or(0, Duration::as_nanos);
        step.freq_ppb_q32 = freq.to_bits();
        steps.push(step);
        results.push(res);
    }
    (interval_ns, steps, results)
}

fn bit_identical(kind: i32, seed: u64) {
    let (interval_ns, steps, want) = rust_run(kind, seed);
    assert!(steps.iter().any(|s| s.step_applied), "the run steps once");
    assert!(
        steps.iter().any(|s| s.disruption),
        "the run has a disruption"
    );
    let mut got = vec![
        ReplayResult {
            phc: want[0].phc,
            out: want[0].out,
            phc_status: -1,
            servo_status: -1,
        };
        steps.len()
    ];
    // SAFETY: `steps` and `got` are valid arrays of `steps.len()` elements
    // with the layout of the C structs (`#[repr(C)]` mirrors).
    let rc = unsafe {
        keel_ctest_replay(
            kind,
            interval_ns,
            steps.as_ptr(),
            steps.len(),
            got.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0, "C replay failed");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.phc_status, w.phc_status, "update {i}: PHC status");
        if w.phc_status == 0 {
            assert_eq!(g.phc, w.phc, "update {i}: PHC sample");
        }
        assert_eq!(g.servo_status, w.servo_status, "update {i}: servo status");
        assert_eq!(g.out, w.out, "update {i}: servo output");
    }
    println!(
        "bit-identical: kind {kind}, seed {seed}, {} updates, {} steps, {} outputs compared",
        want.len(),
        steps.iter().filter(|s| s.step_applied).count(),
        got.len()
    );
}

#[test]
fn c_kalman_run_is_bit_identical_to_rust() {
    bit_identical(0, 7);
}

#[test]
fn c_pi_run_is_bit_identical_to_rust() {
    bit_identical(1, 7);
}

#[test]
fn c_linreg_run_is_bit_identical_to_rust() {
    bit_identical(2, 7);
}
