//! The named simulated scenarios of `keel sync --clock sim --scenario NAME`:
//! the catalogue is `keel_core::sim::catalogue`, shared with the scenario
//! suite; this adds the message for an unknown name.

use keel_core::sim::SimConfig;
use keel_core::sim::catalogue::{self, NamedError};

pub use catalogue::NAMED as SCENARIOS;

/// Builds `name` for a run of `duration_ns`.
///
/// # Errors
/// Unknown name: the message lists the known ones.
pub fn build(name: &str, duration_ns: u64) -> Result<SimConfig, String> {
    catalogue::named(name, duration_ns).map_err(|e| match e {
        NamedError::Unknown => {
            let names: Vec<&str> = SCENARIOS.iter().map(|(n, _)| *n).collect();
            format!(
                "unknown scenario \"{name}\"; expected one of: {}",
                names.join(", ")
            )
        }
        NamedError::Full => e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        assert!(build("standard", 1_000_000_000).is_ok());
        assert!(
            build("nope", 1_000_000_000)
                .unwrap_err()
                .contains("standard, noisy")
        );
    }
}
