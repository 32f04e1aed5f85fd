//! Noise estimation on fixed-capacity state ([`noise`]): the reading noise
//! and the oscillator's wander the Kalman servo tunes itself with. Outlier
//! rejection lives in the servo (`servo::kalman`), which judges suspect
//! readings against its own prediction.

pub mod noise;
