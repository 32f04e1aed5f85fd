//! Compiles the C tests (`tests/c/`) against `include/keel.h` with the `cc`
//! crate. The archive is linked by `tests/tests/ffi_c.rs` itself (a `#[link]`
//! attribute), so it lands before the `keel` rlib on the link line.

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let include = root.join("../include");
    let strict = ["-Wall", "-Wextra", "-Wpedantic", "-Werror"];

    let mut c = cc::Build::new();
    c.include(&include)
        .include(root.join("c"))
        .std("c99")
        .cargo_metadata(false)
        .file(root.join("c/header_c99.c"))
        .file(root.join("c/ctest.c"))
        .file(root.join("c/replay.c"))
        .file(root.join("c/pull.c"))
        .file(root.join("c/engine_replay.c"))
        .file(root.join("c/engine_test.c"))
        .file(root.join("c/engine_ntp_test.c"))
        .file(root.join("c/clock_test.c"));
    for f in strict {
        c.flag(f);
    }
    c.compile("keel_ctests");

    let mut cpp = cc::Build::new();
    cpp.cpp(true)
        .include(&include)
        .std("c++11")
        .cargo_metadata(false)
        .file(root.join("c/header_cpp.cpp"));
    for f in strict {
        cpp.flag(f);
    }
    cpp.compile("keel_ctests_cpp");

    let out = std::env::var("OUT_DIR").expect("OUT_DIR");
    println!("cargo:rustc-link-search=native={out}");
    println!("cargo:rerun-if-changed=c");
    println!("cargo:rerun-if-changed=../include/keel.h");
    println!("cargo:rerun-if-changed=build.rs");
}
