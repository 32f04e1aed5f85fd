#!/usr/bin/env bash
# The whole test suite of keel, as CI runs it. Installs what it needs itself.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }

BARE_METAL_TARGETS=(thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imac-unknown-none-elf)

step "toolchain: bare-metal targets"
installed=$(rustup target list --installed)
for t in "${BARE_METAL_TARGETS[@]}"; do
    grep -qx "$t" <<<"$installed" || rustup target add "$t"
done

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, warnings denied)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo doc (warnings denied)"
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --quiet

step "keel-core on bare metal (no default features, and with defmt)"
for t in "${BARE_METAL_TARGETS[@]}"; do
    cargo build --quiet -p keel-core --no-default-features --target "$t"
    cargo build --quiet -p keel-core --features defmt --target "$t"
    cargo build --quiet -p keel-core --features sim --target "$t"
done

step "cargo test"
cargo test --workspace

step "C API: sanitizers, valgrind, pkg-config, install, examples"
ffi/check-c.sh

step "keel-ffi for firmware (no_std, thumbv7em)"
cargo build --quiet -p keel-ffi --no-default-features --target thumbv7em-none-eabihf

step "fuzz smoke (10 s per decoder, when the nightly toolchain is present)"
if cargo +nightly --version >/dev/null 2>&1; then
    cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install --locked cargo-fuzz
    fuzz/smoke.sh 10
else
    echo "fuzz smoke: SKIPPED (no nightly toolchain)"
fi
