//! keel-core as a C library (`libkeel.a`, `libkeel.so`, header `include/keel.h`).
//!
//! Conventions (see `ffi/README.md` for the C user's version):
//!
//! - **C owns the memory.** Objects live in caller-provided, fixed-size,
//!   8-byte-aligned opaque structs ([`keel_servo`], [`keel_ptp_e2e`]); a
//!   compile-time assertion proves each Rust type fits. A magic word in the
//!   first bytes turns use-before-init into [`keel_status::NotInitialized`].
//!   Nothing allocates.
//! - Every function returns a [`keel_status`] (0 = OK, numbers never reused)
//!   or a plain value that cannot fail. Outputs go through out-pointers and
//!   are written **only** when the function returns [`keel_status::Ok`].
//! - Every pointer is NULL-checked ([`keel_status::NullPointer`]); enums
//!   coming from C are taken as integers and range-checked.
//! - No panic crosses the boundary: with the `std` feature (default) each body
//!   runs under `catch_unwind` and a panic becomes [`keel_status::Panic`];
//!   firmware builds (`--no-default-features`) use `panic = "abort"`.
//! - Config structs passed by pointer start with `size_t struct_size`, which
//!   must equal `sizeof` of the struct this library was built with.
//! - Units are in the names: `_ns` nanoseconds (signed for durations,
//!   unsigned for timestamps since the clock's epoch), `_q32` a 32.32 fixed
//!   point number (frequencies in ppb: divide by 2³²), `_q16` 2⁻¹⁶ units.
//! - Signs: offset = local − reference (positive: the local clock is ahead);
//!   frequency positive = the clock runs faster; a step is added to the clock.

#![no_std]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(clippy::missing_safety_doc)]
#![allow(
    non_camel_case_types,
    reason = "C-facing types carry their C names so the header matches the Rust source"
)]

#[cfg(feature = "std")]
extern crate std;

use core::ffi::c_char;

#[cfg(feature = "std")]
mod clock;
mod engine;
mod ntp;
mod phc;
mod ptp;
mod servo;
mod status;
mod vmclock;

#[cfg(feature = "std")]
pub use clock::*;
pub use engine::*;
pub use ntp::*;
pub use phc::*;
pub use ptp::*;
pub use servo::*;
pub use status::*;
pub use vmclock::*;

/// Runs an FFI body (a block of type `Result<(), keel_status>`) and returns
/// its status; with `std`, a panic inside becomes [`keel_status::Panic`].
macro_rules! ffi_boundary {
    ($body:block) => {{
        #[cfg(feature = "std")]
        {
            match ::std::panic::catch_unwind(::core::panic::AssertUnwindSafe(
                || -> ::core::result::Result<(), $crate::keel_status> { $body },
            )) {
                Ok(Ok(())) => $crate::keel_status::Ok,
                Ok(Err(e)) => e,
                Err(_) => $crate::keel_status::Panic,
            }
        }
        #[cfg(not(feature = "std"))]
        {
            match (|| -> ::core::result::Result<(), $crate::keel_status> { $body })() {
                Ok(()) => $crate::keel_status::Ok,
                Err(e) => e,
            }
        }
    }};
}
pub(crate) use ffi_boundary;

/// A shared reference from a C pointer, or [`keel_status::NullPointer`].
///
/// # Safety
/// `p` is NULL or points to a valid, aligned `T` that is not mutated while
/// the reference lives.
pub(crate) unsafe fn try_ref<'a, T>(p: *const T) -> Result<&'a T, keel_status> {
    // SAFETY: the caller guarantees `p` is NULL or valid and aligned.
    unsafe { p.as_ref() }.ok_or(keel_status::NullPointer)
}

/// A byte slice from a C pointer and length, or [`keel_status::NullPointer`].
///
/// # Safety
/// `p` is NULL or points to `len` readable bytes that are not mutated while
/// the slice lives.
pub(crate) unsafe fn try_slice<'a>(p: *const u8, len: usize) -> Result<&'a [u8], keel_status> {
    if p.is_null() {
        return Err(keel_status::NullPointer);
    }
    // SAFETY: non-NULL, and the caller guarantees `len` readable bytes.
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}

/// A mutable byte slice from a C pointer and length, or [`keel_status::NullPointer`].
///
/// # Safety
/// `p` is NULL or points to `len` writable bytes not otherwise accessed while
/// the slice lives.
pub(crate) unsafe fn try_slice_mut<'a>(
    p: *mut u8,
    len: usize,
) -> Result<&'a mut [u8], keel_status> {
    if p.is_null() {
        return Err(keel_status::NullPointer);
    }
    // SAFETY: non-NULL, and the caller guarantees `len` writable bytes.
    Ok(unsafe { core::slice::from_raw_parts_mut(p, len) })
}

/// Fails with [`keel_status::NullPointer`] when an out-pointer is NULL.
pub(crate) fn check_out<T>(p: *mut T) -> Result<(), keel_status> {
    if p.is_null() {
        Err(keel_status::NullPointer)
    } else {
        Ok(())
    }
}

/// Writes `v` through an out-pointer already checked by [`check_out`].
///
/// # Safety
/// `p` is non-NULL, aligned and valid for a write of `T`.
pub(crate) unsafe fn write_out<T>(p: *mut T, v: T) {
    // SAFETY: guaranteed by the caller.
    unsafe { p.write(v) }
}

/// Parses a decimal version component at compile time.
const fn parse_u32(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut v: u32 = 0;
    while i < b.len() {
        assert!(b[i].is_ascii_digit(), "version component is not a number");
        v = v * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    v
}

/// The major version of this library (tested against Cargo.toml at compile time).
pub const KEEL_VERSION_MAJOR: u32 = 0;
/// The minor version of this library.
pub const KEEL_VERSION_MINOR: u32 = 1;
/// The patch version of this library.
pub const KEEL_VERSION_PATCH: u32 = 0;
/// `MAJOR * 1000000 + MINOR * 1000 + PATCH`, for `#if` comparisons.
pub const KEEL_VERSION_NUMBER: u32 = 1_000;

const _: () = {
    assert!(KEEL_VERSION_MAJOR == parse_u32(env!("CARGO_PKG_VERSION_MAJOR")));
    assert!(KEEL_VERSION_MINOR == parse_u32(env!("CARGO_PKG_VERSION_MINOR")));
    assert!(KEEL_VERSION_PATCH == parse_u32(env!("CARGO_PKG_VERSION_PATCH")));
    assert!(
        KEEL_VERSION_NUMBER
            == KEEL_VERSION_MAJOR * 1_000_000 + KEEL_VERSION_MINOR * 1_000 + KEEL_VERSION_PATCH
    );
};

/// The library name and version as a static NUL-terminated string, e.g.
/// `"keel/0.1.0"`. Never NULL; never free it.
#[unsafe(no_mangle)]
pub extern "C" fn keel_version() -> *const c_char {
    concat!("keel/", env!("CARGO_PKG_VERSION"), "\0")
        .as_ptr()
        .cast()
}

/// Firmware builds (no `std`, bare metal) need a panic handler in the
/// static library; a panic there is a bug, and keel halts.
#[cfg(all(not(feature = "std"), target_os = "none"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// A small hosted build (no `std` on a Unix, `panic = "abort"`; see
/// "Size" in `ffi/README.md`) calls libc's `abort()` on a panic, a keel bug:
/// the C program ends as on a failed `assert()`. Without std's panic
/// runtime and its backtrace printer, libkeel adds about 120 KiB instead of
/// 420 KiB to a program (`ffi/size-c.sh`).
#[cfg(all(not(feature = "std"), unix, not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    unsafe extern "C" {
        safe fn abort() -> !;
    }
    abort()
}

/// The precompiled `core` of a Unix target is built to unwind and names
/// this personality routine; with `panic = "abort"` nothing unwinds through
/// keel, so it is never called. Not part of the C API.
///
/// cbindgen:ignore
#[cfg(all(not(feature = "std"), unix, not(test)))]
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}
