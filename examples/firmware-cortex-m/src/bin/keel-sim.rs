//! keel's default servo on the seeded simulated oscillator, under QEMU, and
//! then keel's engine (the whole sync loop) on the reference engine scenario.
//!
//! Prints a `RESULT` line with the servo run's digest (the host computes the
//! same with `keel_core::sim::drive::default_servo_run`, example
//! `sim_digest`) and an `ENGINE` line with the engine run's
//! (`keel_core::sim::engine_loop::default_engine_run`, example
//! `engine_digest`); exits with success when the servo locked within 1 µs
//! and the engine locked.

#![no_std]
#![no_main]

use core::mem::MaybeUninit;
use cortex_m_rt::entry;
use keel_core::servo::ServoState;

use keel_core::servo::Kalman;
use keel_core::sim::World;
use keel_core::sim::drive::{default_loop, default_servo, default_world, run};
use keel_core::sim::engine_loop::{
    default_engine_loop, default_engine_with_capacity, default_engine_world,
};
use keel_firmware_cortex_m::{exit, hprintln, paint_stack, peak_stack, static_ram};

/// Seed and number of updates: `KEEL_FW_SEED` / `KEEL_FW_UPDATES` at build
/// time (defaults 1 and 600); `run.sh` gives the host the same.
const SEED: u64 = parse_or(option_env!("KEEL_FW_SEED"), 1);
#[allow(clippy::cast_possible_truncation, reason = "checked below")]
const UPDATES: u32 = parse_or(option_env!("KEEL_FW_UPDATES"), 600) as u32;
const _: () = assert!(parse_or(option_env!("KEEL_FW_UPDATES"), 600) <= u32::MAX as u64);

/// A decimal number at compile time (a bad value fails the build).
const fn parse_or(s: Option<&str>, default: u64) -> u64 {
    let Some(s) = s else { return default };
    let b = s.as_bytes();
    assert!(!b.is_empty(), "empty number");
    let mut v: u64 = 0;
    let mut i = 0;
    while i < b.len() {
        assert!(b[i].is_ascii_digit(), "not a decimal number");
        v = v * 10 + (b[i] - b'0') as u64;
        i += 1;
    }
    v
}

#[entry]
fn main() -> ! {
    paint_stack();
    // The world (~6 KiB) and the servo live in statics, built in place, so
    // the run fits the micro:bit's 16 KiB of RAM. Same pieces as
    // `default_servo_run`, so the same digest.
    static mut WORLD: MaybeUninit<World> = MaybeUninit::uninit();
    static mut SERVO: MaybeUninit<Kalman> = MaybeUninit::uninit();
    // SAFETY: `main` runs once and these are touched nowhere else.
    let (world, servo) = unsafe {
        (
            (*core::ptr::addr_of_mut!(WORLD)).write(default_world(SEED)),
            (*core::ptr::addr_of_mut!(SERVO)).write(default_servo()),
        )
    };
    let r = run(world, servo, &default_loop(UPDATES));
    #[cfg(feature = "defmt")]
    defmt::info!("keel-sim: {}", r);
    let state = match r.state {
        ServoState::Unlocked => "Unlocked",
        ServoState::Jump => "Jump",
        ServoState::Locked => "Locked",
        ServoState::LockedStable => "LockedStable",
    };
    let locked = r.locked_within(1_000);
    hprintln!(
        "RESULT seed={} updates={} hash={:#018x} state={} locked={} locked_from={} steps={} missed={} final_offset_ns={} max_offset_last_quarter_ns={}",
        SEED,
        r.updates,
        r.hash,
        state,
        locked,
        r.locked_from.map_or(-1, i64::from),
        r.steps,
        r.missed,
        r.final_offset_ns,
        r.max_offset_last_quarter_ns
    );
    // The engine: the same loop the daemon and libkeel run, on the reference
    // engine scenario (interference, a signalled migration, a leap second).
    // The world's storage is re-used; the engine lives in a static too.
    static mut ENGINE: MaybeUninit<keel_core::engine::Engine<Kalman, 1, 0, 0>> = MaybeUninit::uninit();
    // SAFETY: as above; the servo run is over and holds no borrow of WORLD.
    let (world, engine) = unsafe {
        (
            (*core::ptr::addr_of_mut!(WORLD)).write(default_engine_world(SEED)),
            (*core::ptr::addr_of_mut!(ENGINE)).write(default_engine_with_capacity()),
        )
    };
    let e = default_engine_loop(u64::from(UPDATES)).run(world, engine, &mut |_| {});
    hprintln!(
        "ENGINE seed={} updates={} hash={:#018x} locked={} steps={} disruptions={} interference={} max_offset_last_quarter_ns={}",
        SEED,
        e.counters.updates,
        e.hash,
        e.locked,
        e.counters.steps,
        e.counters.disruptions,
        e.counters.interference,
        e.max_offset_last_quarter_ns
    );
    let stack = peak_stack();
    hprintln!(
        "MEMORY static_ram={} peak_stack={}",
        static_ram(),
        stack.map_or(-1, |s| s as i64)
    );
    exit(locked && e.locked && stack.is_some())
}
