//! Optional diagnostics: `defmt` when the `defmt` feature is on, nothing at
//! all when it is off (the arguments are not even evaluated, so the off state
//! costs no code, no data and no time).
//!
//! Only `Copy` values already computed on the sample path are logged, so
//! turning the feature on never changes a result.

/// A diagnostic at debug level.
macro_rules! diag_debug {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::debug!($($arg)*);
    }};
}

/// A diagnostic at info level.
macro_rules! diag_info {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::info!($($arg)*);
    }};
}

pub(crate) use {diag_debug, diag_info};
