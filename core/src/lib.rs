#![no_std]
#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]
//!
//! # Conventions
//!
//! - **Offset** = local − reference: positive means the local clock is ahead.
//! - **Frequency** in ppb: positive means the clock runs faster.
//! - Timestamps wrap, durations saturate, narrowing to a wire field saturates.
//! - No floating point on the sample path; the `sim` feature uses floats only
//!   inside its physical model.

#[cfg(feature = "std")]
extern crate std;

mod fmt;

pub mod engine;
pub mod filter;
#[cfg(feature = "embedded-hal")]
pub mod hal;
pub mod measure;
pub mod monitor;
pub mod num;
#[cfg(target_has_atomic = "64")]
pub mod page;
pub mod select;
pub mod server;
pub mod servo;
pub mod time;
pub mod wire;

#[cfg(feature = "sim")]
pub mod sim;
