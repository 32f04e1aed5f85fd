//! PHC readings as the kernel returns them: one cross-timestamp
//! (`PTP_SYS_OFFSET_PRECISE`) or up to [`PHC_MAX_SAMPLES`] triples
//! (`PTP_SYS_OFFSET_EXTENDED`, `PTP_SYS_OFFSET`).
//!
//! These are raw readings, shared by the Linux shim's real PHC path and the
//! simulator (`sim` feature); [`PhcReading::best_sample`] turns one into an
//! offset sample.

use crate::time::{Duration, Timestamp};

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

impl ReadMethod {
    /// The methods in probe order (phc2sys `sysoff_probe`).
    pub const PROBE_ORDER: [Self; 3] = [Self::Precise, Self::Extended, Self::Basic];

    /// The method probed after this one, if any.
    pub fn next_in_probe_order(self) -> Option<Self> {
        Self::PROBE_ORDER
            .iter()
            .skip_while(|&&m| m != self)
            .nth(1)
            .copied()
    }
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

/// The offset sample of one PHC reading: local − reference at the local time
/// `local_ts`, with the read delay that bounds its uncertainty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PhcSample {
    /// System clock − PHC: positive means the system clock is ahead.
    pub offset: Duration,
    /// The system clock's time of the sample (the cross-timestamp, or the
    /// chosen triple's midpoint).
    pub local_ts: Timestamp,
    /// The chosen triple's interval `sys_after − sys_before` (zero for a
    /// cross-timestamp). If the PHC was latched anywhere inside it, the true
    /// offset is within ±delay/2 of `offset`.
    pub delay: Duration,
    /// The triples scattered wider than their intervals explain and were
    /// averaged: the PHC's own read noise, not the access, limits this
    /// sample, and more triples per read would average it down. Never set
    /// for cross-timestamps (more of those cost one ioctl each).
    pub noise_limited: bool,
}

impl PhcSample {
    /// The half-width of the interval the true offset lies in: a PHC
    /// latched anywhere inside the triple is within ±delay/2 of the offset
    /// (zero for a cross-timestamp). The one place keel turns a PHC read's
    /// delay into an uncertainty.
    pub const fn uncertainty(&self) -> Duration {
        Duration::from_nanos(self.delay.as_nanos() / 2)
    }
}

impl PhcReading {
    /// The best offset sample of this reading: the cross-timestamp itself, or
    /// the triple with the shortest interval, read at its midpoint (phc2sys's
    /// rule, which assumes a symmetric access). When the triples within half
    /// the shortest interval of it disagree by more than their intervals'
    /// differences can explain, the PHC's own read noise dominates and they
    /// are averaged robustly instead (as chrony averages the readings near
    /// the shortest); the sample's `delay` is then the widest taken. Triples
    /// with a negative interval (a clock step during the read) are skipped;
    /// `None` when no triple is usable.
    pub fn best_sample(&self) -> Option<PhcSample> {
        match *self {
            Self::Precise { sys, phc } => Some(PhcSample {
                offset: sys.duration_since(phc),
                local_ts: sys,
                delay: Duration::ZERO,
                noise_limited: false,
            }),
            Self::Sampled { .. } => {
                let width = |t: &PhcTriple| t.sys_after.duration_since(t.sys_before);
                let shortest = self
                    .samples()
                    .iter()
                    .map(width)
                    .filter(|w| !w.is_negative())
                    .min()?;
                // Every triple of the shortest width (usually one; all of a
                // burst of cross-timestamps), read at its midpoint.
                let mut tied = [(Duration::ZERO, Timestamp::EPOCH); PHC_MAX_SAMPLES];
                let mut n = 0;
                for t in self.samples().iter().filter(|t| width(t) == shortest) {
                    let before = t.sys_before.duration_since(t.phc);
                    let after = t.sys_after.duration_since(t.phc);
                    if let Some(slot) = tied.get_mut(n) {
                        *slot = (
                            half_round_even(before, after),
                            t.sys_before.midpoint(t.sys_after),
                        );
                        n += 1;
                    }
                }
                let (offset, local_ts) = robust_mean(tied.get_mut(..n)?)?;
                let best = PhcSample {
                    offset,
                    local_ts,
                    delay: shortest,
                    noise_limited: false,
                };
                Some(self.near_shortest(shortest).unwrap_or(best))
            }
        }
    }

    /// The robust mean of the triples within half the shortest interval of
    /// it, when their midpoint offsets spread wider than their intervals do
    /// (the PHC's read noise, not the access's asymmetry, dominates); `None`
    /// otherwise or with fewer than three.
    fn near_shortest(&self, shortest: Duration) -> Option<PhcSample> {
        let width = |t: &PhcTriple| t.sys_after.duration_since(t.sys_before);
        let limit = shortest.saturating_add(Duration::from_nanos(shortest.as_nanos() / 2));
        let mut near = [(Duration::ZERO, Timestamp::EPOCH); PHC_MAX_SAMPLES];
        let mut n = 0;
        let mut widest = shortest;
        for t in self
            .samples()
            .iter()
            .filter(|t| !width(t).is_negative() && width(t) <= limit)
        {
            let before = t.sys_before.duration_since(t.phc);
            let after = t.sys_after.duration_since(t.phc);
            widest = widest.max(width(t));
            if let Some(slot) = near.get_mut(n) {
                *slot = (
                    half_round_even(before, after),
                    t.sys_before.midpoint(t.sys_after),
                );
                n += 1;
            }
        }
        let near = near.get_mut(..n)?;
        if near.len() < 3 {
            return None;
        }
        let lo = near.iter().map(|p| p.0).min()?;
        let hi = near.iter().map(|p| p.0).max()?;
        if hi.saturating_sub(lo) <= widest.saturating_sub(shortest).saturating_add(shortest) {
            return None;
        }
        let (offset, local_ts) = robust_mean(near)?;
        Some(PhcSample {
            offset,
            local_ts,
            delay: widest,
            noise_limited: shortest > Duration::ZERO,
        })
    }

    /// A burst of cross-timestamps `(sys, phc)` (e.g. several
    /// `PTP_SYS_OFFSET_PRECISE` reads of one update) as one reading: zero-width
    /// triples, which [`PhcReading::best_sample`] averages robustly. At most
    /// [`PHC_MAX_SAMPLES`] are kept; `None` for an empty burst.
    pub fn from_cross_timestamps(pairs: &[(Timestamp, Timestamp)]) -> Option<Self> {
        let mut samples = [PhcTriple::default(); PHC_MAX_SAMPLES];
        let mut len = 0;
        for (slot, &(sys, phc)) in samples.iter_mut().zip(pairs) {
            *slot = PhcTriple {
                sys_before: sys,
                phc,
                sys_after: sys,
            };
            len += 1;
        }
        (len > 0).then_some(Self::Sampled { samples, len })
    }
}

/// The mean of `(offset, time)` pairs after dropping the quarter with the
/// lowest and the quarter with the highest offsets (none of fewer than four),
/// so one wild reading of a burst cannot move it; offsets and times are
/// averaged as pairs, so the offset belongs to the time. Sorts `v`; `None`
/// when empty.
fn robust_mean(v: &mut [(Duration, Timestamp)]) -> Option<(Duration, Timestamp)> {
    v.sort_unstable_by_key(|p| p.0);
    let cut = v.len() / 4;
    let kept = v.get(cut..v.len() - cut)?;
    let (first_ts, count) = (kept.first()?.1, i128::try_from(kept.len()).ok()?);
    let (mut off_sum, mut ts_sum) = (0i128, 0i128);
    for &(o, t) in kept {
        off_sum += i128::from(o.as_nanos());
        ts_sum += i128::from(t.duration_since(first_ts).as_nanos());
    }
    let offset = i64::try_from(off_sum.div_euclid(count)).ok()?;
    let dt = i64::try_from(ts_sum.div_euclid(count)).ok()?;
    Some((
        Duration::from_nanos(offset),
        first_ts.wrapping_add(Duration::from_nanos(dt)),
    ))
}

/// `(a + b) / 2`, rounded half to even, saturating.
fn half_round_even(a: Duration, b: Duration) -> Duration {
    let sum = i128::from(a.as_nanos()) + i128::from(b.as_nanos());
    let half = sum.div_euclid(2);
    let odd = sum.rem_euclid(2) == 1;
    let rounded = if odd && half.rem_euclid(2) == 1 {
        half + 1
    } else {
        half
    };
    Duration::from_nanos(i64::try_from(rounded).unwrap_or(if rounded < 0 {
        i64::MIN
    } else {
        i64::MAX
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_order_falls_back_to_basic_then_ends() {
        use ReadMethod::{Basic, Extended, Precise};
        assert_eq!(Precise.next_in_probe_order(), Some(Extended));
        assert_eq!(Extended.next_in_probe_order(), Some(Basic));
        assert_eq!(Basic.next_in_probe_order(), None);
    }

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

    fn triple(b: u64, p: u64, a: u64) -> PhcTriple {
        PhcTriple {
            sys_before: Timestamp::from_nanos(b),
            phc: Timestamp::from_nanos(p),
            sys_after: Timestamp::from_nanos(a),
        }
    }

    #[test]
    fn best_sample_picks_the_shortest_interval() {
        let mut samples = [PhcTriple::default(); PHC_MAX_SAMPLES];
        samples[0] = triple(1_000, 900, 1_300); // interval 300, midpoint 1150 → +250
        samples[1] = triple(2_000, 1_940, 2_101); // interval 101, midpoint 2050.5 → +110.5 → 110 (half to even)
        samples[2] = triple(3_000, 2_900, 2_990); // negative interval: skipped
        let r = PhcReading::Sampled { samples, len: 3 };
        let s = r.best_sample().unwrap();
        assert_eq!(s.delay, Duration::from_nanos(101));
        assert_eq!(s.offset, Duration::from_nanos(110));
        assert_eq!(s.local_ts, Timestamp::from_nanos(2_050));
        samples[1] = triple(2_000, 1_940, 2_103); // +111.5 → 112
        let r = PhcReading::Sampled { samples, len: 2 };
        assert_eq!(r.best_sample().unwrap().offset, Duration::from_nanos(112));
    }

    #[test]
    fn triples_that_scatter_beyond_their_widths_are_averaged() {
        let mut samples = [PhcTriple::default(); PHC_MAX_SAMPLES];
        // Widths 200–290 ns, offsets 1300 ns apart: the PHC's noise.
        samples[0] = triple(1_000, 800, 1_200); // 200: midpoint 1100 → +300
        samples[1] = triple(2_000, 880, 2_240); // 240: → +1240
        samples[2] = triple(3_000, 2_200, 3_290); // 290: → +945
        samples[3] = triple(4_000, 3_000, 4_400); // 400 > 300: left out
        let r = PhcReading::Sampled { samples, len: 4 };
        let s = r.best_sample().unwrap();
        // The robust mean of three keeps all three: (300 + 1240 + 945) / 3.
        assert_eq!(s.offset, Duration::from_nanos(828));
        // The widest taken part states the uncertainty.
        assert_eq!(s.delay, Duration::from_nanos(290));
        // The PHC's own noise limits it: more triples would help.
        assert!(s.noise_limited);
        // Offsets within what the widths explain: the shortest alone.
        samples[1] = triple(2_000, 1_880, 2_240); // → +240
        samples[2] = triple(3_000, 2_800, 3_290); // → +345
        let r = PhcReading::Sampled { samples, len: 4 };
        let s = r.best_sample().unwrap();
        assert_eq!(
            (s.offset, s.delay),
            (Duration::from_nanos(300), Duration::from_nanos(200))
        );
        assert!(!s.noise_limited);
        // Cross-timestamps that scatter are averaged, but more of them cost
        // an ioctl each: never noise-limited.
        let pairs = [(1_000, 900), (2_000, 1_700), (3_000, 2_950), (4_000, 3_400)]
            .map(|(s, p)| (Timestamp::from_nanos(s), Timestamp::from_nanos(p)));
        let s = PhcReading::from_cross_timestamps(&pairs)
            .and_then(|r| r.best_sample())
            .unwrap();
        assert!(!s.noise_limited);
        assert_eq!(s.delay, Duration::ZERO);
    }

    #[test]
    fn best_sample_signs_and_edges() {
        // system clock behind the PHC: negative offset
        let p = PhcReading::Precise {
            sys: Timestamp::from_nanos(5),
            phc: Timestamp::from_nanos(20),
        };
        assert_eq!(p.best_sample().unwrap().offset, Duration::from_nanos(-15));
        let r = PhcReading::Sampled {
            samples: [triple(10, 0, 5); PHC_MAX_SAMPLES],
            len: PHC_MAX_SAMPLES,
        };
        assert_eq!(r.best_sample(), None);
        let r = PhcReading::Sampled {
            samples: [PhcTriple::default(); PHC_MAX_SAMPLES],
            len: 0,
        };
        assert_eq!(r.best_sample(), None);
        // extreme values saturate instead of overflowing
        let r = PhcReading::Sampled {
            samples: [triple(u64::MAX / 2, 0, u64::MAX / 2); PHC_MAX_SAMPLES],
            len: 1,
        }
        .best_sample();
        assert_eq!(r.map(|s| s.offset), Some(Duration::MAX));
    }
}
