//! Protocol codecs: zero-copy views over `&[u8]` plus plain `Repr` structs.
//!
//! Each protocol has two layers, in the style of smoltcp's `wire`:
//!
//! - a **packet view** (`Packet<T: AsRef<[u8]>>`) that reads and, for
//!   `T: AsMut<[u8]>`, writes fields in place, with no copy;
//! - a **`Repr`**, a plain struct of the fields, that is parsed from a view and
//!   emitted into a buffer.
//!
//! Values the wire can carry but this version does not know (a new message
//! type, a new kiss code, a new TLV) decode to an `Unknown(..)` variant or are
//! kept as borrowed bytes, never an error: the caller decides what to do.
//!
//! # The no-panic contract
//!
//! No function in this module panics, on any input, in debug or release:
//!
//! - `Packet::new_unchecked` wraps any buffer. Its accessors never panic: a
//!   field that lies outside the buffer reads as zero, and a setter whose field
//!   lies outside the buffer does nothing.
//! - `Packet::new_checked` (= `new_unchecked` + `check_len`) succeeds only when
//!   every fixed field the accessors read lies inside the buffer, so after it
//!   every accessor returns the real wire value.
//! - `Repr::parse` returns an error for malformed input and otherwise a value;
//!   it never panics.
//! - `Repr::emit` writes exactly `Repr::buffer_len()` bytes and returns an
//!   error (never panics) when the buffer is shorter.
//! - Walking variable-length parts (NTP extension fields, PTP TLVs) is done by
//!   iterators that check every length against what is left and stop with an
//!   error item on the first inconsistency.
//! - For every `Repr` that `parse` returns, `parse(emit(repr)) == repr`; this
//!   is checked by property tests and by the fuzz targets in `fuzz/`.
//!
//! Do not use `new_checked` to prepare a buffer you are about to emit into: a
//! fresh buffer has no valid length fields yet. Use `Repr::emit` instead.
//!
//! Index arithmetic uses `.get()`; `clippy::indexing_slicing` is a warning in
//! this module so a stray `buf[i]` does not slip in.

#![warn(clippy::indexing_slicing)]

mod bytes;
pub mod ktp;
pub mod nmea;
pub mod ntp;
pub mod ptp;
pub mod vmclock;
