//! Shared pieces of the firmware binaries: semihosting output and exit, the
//! panic handler, and stack painting to measure the peak stack.

#![no_std]

use core::sync::atomic::{Ordering, compiler_fence};

pub use cortex_m_semihosting::hprintln;

// With the `defmt` feature, defmt frames (keel-core's diagnostics and the
// firmware's own log) go to the semihosting console; decode them with
// `defmt-print -e <elf>`.
#[cfg(feature = "defmt")]
use defmt_semihosting as _;

/// The word painted over the free stack.
const PAINT: u32 = 0xC0FF_EE11;
/// Bytes below the current stack pointer left unpainted (the painter's own frame).
const MARGIN: usize = 64;

unsafe extern "C" {
    /// Top of the stack (cortex-m-rt).
    static _stack_start: u32;
    /// Lowest address the stack may use: the end of `.bss`/`.data` (cortex-m-rt).
    static _stack_end: u32;
}

fn stack_top() -> usize {
    core::ptr::addr_of!(_stack_start) as usize
}

fn stack_bottom() -> usize {
    core::ptr::addr_of!(_stack_end) as usize
}

/// Paints the unused stack, from the end of `.bss` up to just below the
/// caller's frame. Call first thing in `main`.
#[inline(never)]
pub fn paint_stack() {
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = (stack_bottom() + 3) & !3;
    let end = sp - MARGIN;
    while p < end {
        // SAFETY: [_stack_end, sp - MARGIN) is RAM no live object uses: it
        // lies below every live frame and above all statics.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
    compiler_fence(Ordering::SeqCst);
}

/// Peak stack used since reset, bytes (from the top of the stack to the
/// lowest word no longer painted). `None` if the paint was worn through to
/// the bottom (the stack may have overflowed into the statics).
#[inline(never)]
pub fn peak_stack() -> Option<usize> {
    compiler_fence(Ordering::SeqCst);
    let mut p = (stack_bottom() + 3) & !3;
    // SAFETY: reading words of RAM between the statics and the stack.
    if unsafe { core::ptr::read_volatile(p as *const u32) } != PAINT {
        return None;
    }
    while p < stack_top() && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    Some(stack_top() - p)
}

/// Static RAM (`.data` + `.bss`), bytes.
pub fn static_ram() -> usize {
    stack_bottom() - 0x2000_0000
}

/// Ends the QEMU run with a status (semihosting `SYS_EXIT`).
pub fn exit(ok: bool) -> ! {
    use cortex_m_semihosting::debug;
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::bkpt();
    }
}

/// Writes `s` to the semihosting console, without `core::fmt` (so the size
/// builds measure keel, not the formatter).
pub fn put(s: &str) {
    if let Ok(mut out) = cortex_m_semihosting::hio::hstdout() {
        let _ = out.write_all(s.as_bytes());
    }
}

/// Writes `v` in decimal, without `core::fmt` and without 64-bit division
/// (so the division helpers found in a size build are keel's).
pub fn put_u64(v: u64) {
    let mut buf = [0u8; 20];
    let mut n = 0;
    let mut started = false;
    let mut rest = v;
    let mut p: u64 = 10_000_000_000_000_000_000;
    while p > 0 {
        let mut d = 0u8;
        while rest >= p {
            rest -= p;
            d += 1;
        }
        if d > 0 || started || p == 1 {
            buf[n] = b'0' + d;
            n += 1;
            started = true;
        }
        p = next_power_down(p);
    }
    put(core::str::from_utf8(&buf[..n]).unwrap_or("?"));
}

/// `p / 10` for a power of ten, by table (no division).
fn next_power_down(p: u64) -> u64 {
    let mut q: u64 = 1;
    if p == 1 {
        return 0;
    }
    while q * 10 < p {
        q *= 10;
    }
    q
}

/// Writes `v` as `0x` and 16 hex digits, without `core::fmt`.
pub fn put_hex(v: u64) {
    let mut buf = *b"0x0000000000000000";
    for k in 0..16 {
        let d = ((v >> (60 - 4 * k)) & 0xF) as u8;
        buf[2 + k] = if d < 10 { b'0' + d } else { b'a' + d - 10 };
    }
    put(core::str::from_utf8(&buf).unwrap_or("?"));
}

/// FNV-1a over the little-endian bytes of `x`.
pub fn fnv1a(h: &mut u64, x: u64) {
    for b in x.to_le_bytes() {
        *h ^= u64::from(b);
        *h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
}

/// Prints `MEMORY static_ram=… peak_stack=…` and exits: success when `ok`
/// and the stack paint was not worn through.
pub fn report_and_exit(ok: bool) -> ! {
    let stack = peak_stack();
    put("MEMORY static_ram=");
    put_u64(static_ram() as u64);
    put(" peak_stack=");
    match stack {
        Some(s) => put_u64(s as u64),
        None => put("overflow"),
    }
    put("\n");
    exit(ok && stack.is_some())
}

/// A deterministic integer test signal (xorshift64*).
pub struct Noise(u64);

impl Noise {
    /// A generator from a non-zero seed.
    pub const fn new(seed: u64) -> Self {
        Self(if seed == 0 { 1 } else { seed })
    }

    /// Uniform in `-amplitude..=amplitude` (amplitude < 2³¹).
    pub fn next(&mut self, amplitude: i64) -> i64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let r = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let u = (r >> 32) as i64; // 0..2³²
        ((u * (2 * amplitude + 1)) >> 32) - amplitude
    }
}

/// A free-running local clock against a reference, in whole ns and whole
/// seconds: offset moves by `(error + correction)` ns per second. Integer
/// only, so the size builds contain no float code of their own.
pub struct Plant {
    /// True (reference) time since the epoch, ns.
    pub true_ns: u64,
    /// local − reference, ns.
    pub offset_ns: i64,
    /// The oscillator's error, ppb (= ns per second).
    pub error_ppb: i64,
    /// The correction in force, whole ppb.
    pub correction_ppb: i64,
}

impl Plant {
    /// The reference at `true_ns`, the local clock `offset_ns` ahead,
    /// running `error_ppb` fast.
    pub const fn new(true_ns: u64, offset_ns: i64, error_ppb: i64) -> Self {
        Self {
            true_ns,
            offset_ns,
            error_ppb,
            correction_ppb: 0,
        }
    }

    /// One second passes.
    pub fn second(&mut self) {
        self.true_ns += 1_000_000_000;
        self.offset_ns += self.error_ppb + self.correction_ppb;
    }

    /// The local clock `after_ns` after now (within the same second).
    pub fn local(&self, after_ns: u64) -> keel_core::time::Timestamp {
        keel_core::time::Timestamp::from_nanos(
            (self.true_ns + after_ns).wrapping_add_signed(self.offset_ns),
        )
    }

    /// The reference `after_ns` after now.
    pub fn reference(&self, after_ns: u64) -> keel_core::time::Timestamp {
        keel_core::time::Timestamp::from_nanos(self.true_ns + after_ns)
    }

    /// Applies a servo output; true if it stepped.
    pub fn apply(
        &mut self,
        out: &keel_core::servo::ServoOutput,
    ) -> Option<keel_core::servo::Applied> {
        use keel_core::servo::{Action, Applied};
        match out.action {
            Action::None => None,
            Action::SetFrequency(f) => {
                self.correction_ppb = f.floor_ppb();
                Some(Applied {
                    step: None,
                    freq: f,
                })
            }
            Action::Step { step, freq } => {
                self.offset_ns += step.as_nanos();
                self.correction_ppb = freq.floor_ppb();
                Some(Applied {
                    step: Some(step),
                    freq,
                })
            }
        }
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    put("PANIC\n");
    exit(false)
}
