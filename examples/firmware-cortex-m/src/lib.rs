//! Shared pieces of the firmware binaries: semihosting output and exit, the
//! panic handler, and stack painting to measure the peak stack.

#![no_std]

use core::sync::atomic::{Ordering, compiler_fence};

pub use cortex_m_semihosting::hprintln;

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

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    hprintln!("PANIC: {}", info);
    exit(false)
}
