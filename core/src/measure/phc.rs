//! PHC readings as the kernel returns them: one cross-timestamp
//! (`PTP_SYS_OFFSET_PRECISE`) or up to [`PHC_MAX_SAMPLES`] triples
//! (`PTP_SYS_OFFSET_EXTENDED`, `PTP_SYS_OFFSET`).
//!
//! These are raw readings, shared by the Linux shim's real PHC path and the
//! simulator (`sim` feature). Turning them into an offset sample is done
//! elsewhere in this module.

use crate::time::Timestamp;

/// The kernel's `PTP_MAX_SAMPLES`: the most triples one read can return.
pub const PHC_MAX_SAMPLES: usize = 25;

/// How the PHC is read, in the order phc2sys and keel probe them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReadMethod {
    /// `PTP_SYS_OFFSET_PRECISE`: one hardware cross-timestamp, no read delay.
    Precise,
    /// `PTP_SYS_OFFSET_EXTENDED`: the driver takes the system timestamps right
    /// around the device access; separate triples.
    Extended,
    /// `PTP_SYS_OFFSET`: the generic layer alternates system and PHC readings
    /// (2N + 1 timestamps), so `sys_after` of one triple is `sys_before` of the
    /// next, and the driver's overhead lies inside each interval.
    Basic,
}

impl core::fmt::Display for ReadMethod {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Precise => "PTP_SYS_OFFSET_PRECISE",
            Self::Extended => "PTP_SYS_OFFSET_EXTENDED",
            Self::Basic => "PTP_SYS_OFFSET",
        })
    }
}

/// One sampled PHC read: the system clock before, the PHC, the system clock
/// after. For a well-behaved read `sys_before <= sys_after`; the PHC was
/// latched somewhere in between (at the midpoint if the access is symmetric).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PhcTriple {
    /// System clock (the clock being steered) just before the PHC access.
    pub sys_before: Timestamp,
    /// The PHC reading.
    pub phc: Timestamp,
    /// System clock just after the PHC access.
    pub sys_after: Timestamp,
}

/// The result of one PHC read ioctl.
#[allow(
    clippy::large_enum_variant,
    reason = "the API returns readings by value: no_std without alloc cannot box the sampled variant"
)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PhcReading {
    /// A cross-timestamp: the system clock and the PHC latched at one instant.
    Precise {
        /// System clock reading.
        sys: Timestamp,
        /// PHC reading at the same instant.
        phc: Timestamp,
    },
    /// `len` triples taken back to back (oldest first); entries at `len..` are
    /// unused and hold no meaning.
    Sampled {
        /// The triples; only the first `len` are valid.
        samples: [PhcTriple; PHC_MAX_SAMPLES],
        /// Number of valid triples, `1..=PHC_MAX_SAMPLES` from a successful read.
        len: usize,
    },
}

impl PhcReading {
    /// The valid triples of a sampled reading (empty for [`PhcReading::Precise`]).
    /// A `len` beyond [`PHC_MAX_SAMPLES`] is read as [`PHC_MAX_SAMPLES`].
    pub fn samples(&self) -> &[PhcTriple] {
        match self {
            Self::Precise { .. } => &[],
            Self::Sampled { samples, len } => {
                let n = if *len > PHC_MAX_SAMPLES {
                    PHC_MAX_SAMPLES
                } else {
                    *len
                };
                samples.get(..n).unwrap_or(&[])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_slice_is_bounded() {
        let t = PhcTriple {
            sys_before: Timestamp::from_nanos(1),
            phc: Timestamp::from_nanos(2),
            sys_after: Timestamp::from_nanos(3),
        };
        let r = PhcReading::Sampled {
            samples: [t; PHC_MAX_SAMPLES],
            len: 3,
        };
        assert_eq!(r.samples().len(), 3);
        let r = PhcReading::Sampled {
            samples: [t; PHC_MAX_SAMPLES],
            len: usize::MAX,
        };
        assert_eq!(r.samples().len(), PHC_MAX_SAMPLES);
        let p = PhcReading::Precise {
            sys: Timestamp::EPOCH,
            phc: Timestamp::EPOCH,
        };
        assert!(p.samples().is_empty());
    }
}
