//! keel-core as a C library. The C API grows in its own issue; for now it
//! exposes the version.

use core::ffi::c_char;

/// The library name and version as a static NUL-terminated string, e.g. `keel/0.1.0`.
#[unsafe(no_mangle)]
pub extern "C" fn keel_version() -> *const c_char {
    concat!("keel/", env!("CARGO_PKG_VERSION"), "\0")
        .as_ptr()
        .cast()
}
