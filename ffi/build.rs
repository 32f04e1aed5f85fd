//! Gives `libkeel.so` a versioned SONAME (`libkeel.so.<major>`), so a C
//! program linked against this version refuses an incompatible one.

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_default();
        let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap_or_default();
        // Before 1.0 every minor release may break the ABI: the SONAME carries it.
        let soname = if major == "0" {
            format!("libkeel.so.0.{minor}")
        } else {
            format!("libkeel.so.{major}")
        };
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
