//! Combining sources: clock filters, interval intersection, BMCA comparison.
//!
//! Everything here is a pure function over slices (or a small fixed-size
//! register): no allocation, no clock reads, same result on every target.
//!
//! - [`clock_filter`]: RFC 5905 §10 eight-stage minimum-delay filter for one
//!   NTP server.
//! - [`intersection`]: RFC 5905 §11.2.1 intersection (Marzullo's algorithm as
//!   modified by NTP) to find the truechimers among several sources.
//! - [`combine`]: the whole selection step for NTP sources: intersection, a
//!   verdict per source, and the 1/λ-weighted combined offset.
//! - [`bmca`]: IEEE 1588-2019 §9.3.4 dataset comparison and §9.3.3 state
//!   decision.
//!
//! Sign convention, as everywhere: offset = local − reference, positive
//! means the local clock is ahead.

pub mod bmca;
pub mod clock_filter;
pub mod combine;
pub mod intersection;
