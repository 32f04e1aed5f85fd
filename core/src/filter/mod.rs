//! Outlier rejection, sample windows and noise estimation on fixed-capacity state.

pub mod noise;
