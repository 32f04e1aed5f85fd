#![no_std]
#![no_main]
use keel_firmware_cortex_m as _;
#[cortex_m_rt::entry]
fn main() -> ! {
    keel_firmware_cortex_m::exit(true)
}
