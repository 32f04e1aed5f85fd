//! Picks the memory map of the QEMU machine for the target: `mps2-an386`
//! (Cortex-M4F) for thumbv7em; for thumbv6m the Stellaris `lm3s6965evb`
//! board run with QEMU's Cortex-M0 core (`-cpu cortex-m0`: ARMv6-M, no
//! hardware divide, no FPU). The micro:bit, QEMU's only Cortex-M0 board, has
//! 16 KiB of RAM: too little for the simulated world's set-up.

use std::{env, fs, path::PathBuf};

fn main() {
    let target = env::var("TARGET").unwrap_or_default();
    let memory = if target.starts_with("thumbv6m") {
        // LM3S6965: 256 KiB flash at 0, 64 KiB SRAM at 0x2000_0000.
        "MEMORY\n{\n  FLASH : ORIGIN = 0x00000000, LENGTH = 256K\n  RAM : ORIGIN = 0x20000000, LENGTH = 64K\n}\n"
    } else {
        // MPS2 AN386: 4 MiB ZBT SSRAM1 (code) at 0, 4 MiB SSRAM2/3 at 0x2000_0000.
        "MEMORY\n{\n  FLASH : ORIGIN = 0x00000000, LENGTH = 4M\n  RAM : ORIGIN = 0x20000000, LENGTH = 4M\n}\n"
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    fs::write(out.join("memory.x"), memory).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    if env::var_os("CARGO_FEATURE_DEFMT").is_some() {
        println!("cargo:rustc-link-arg=-Tdefmt.x");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
