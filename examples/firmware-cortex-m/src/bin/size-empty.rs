//! The size-report baseline: the harness alone (start-up, semihosting
//! output and exit, stack painting), no keel.

#![no_std]
#![no_main]

use keel_firmware_cortex_m::{paint_stack, put, put_hex, report_and_exit};

#[cortex_m_rt::entry]
fn main() -> ! {
    paint_stack();
    put("RESULT empty hash=");
    put_hex(core::hint::black_box(0));
    put("\n");
    report_and_exit(true)
}
