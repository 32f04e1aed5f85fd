//! RFC 5905 §11.2.1 intersection algorithm: find the largest set of sources
//! whose correctness intervals `[offset − λ, offset + λ]` share a common
//! part, allowing fewer than half of them to be falsetickers.
//!
//! This follows the algorithm as ntpd 4.2.8 runs it, not the RFC's
//! pseudo-code: the pseudo-code also counts *midpoints* lying outside the
//! candidate interval as falsetickers, which rejects truechimers whose
//! offsets are outside the intersection while their intervals contain the
//! true time (ntpd dropped that count). Likewise a survivor here is a source
//! whose interval overlaps the intersection (Marzullo's test): every source
//! whose interval contains the true offset survives whenever fewer than half
//! of the sources are wrong.

use core::fmt;

use crate::time::Duration;

/// One source's correctness interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Candidate {
    /// local − source: positive means the local clock is ahead.
    pub offset: Duration,
    /// Root distance λ: the half-width of the interval (negative taken as 0).
    pub root_distance: Duration,
}

/// Scratch space for the sorted interval endpoints; provide
/// [`ENDPOINTS_PER_CANDIDATE`] per candidate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Endpoint {
    value: i64,
    kind: i8,
}

/// Endpoints needed per candidate (low edge, high edge).
pub const ENDPOINTS_PER_CANDIDATE: usize = 2;

/// Why no intersection was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum IntersectionError {
    /// No candidates.
    NoCandidates,
    /// The scratch slice holds fewer than 2 endpoints per candidate.
    ScratchTooSmall,
    /// No interval is shared by a majority: no truechimers.
    NoMajority,
    /// The verdicts slice is not as long as the candidates slice.
    VerdictsLength,
}

impl fmt::Display for IntersectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoCandidates => "no candidate sources",
            Self::ScratchTooSmall => "scratch space holds fewer than 2 endpoints per candidate",
            Self::NoMajority => "no majority of sources agree (no truechimers)",
            Self::VerdictsLength => "verdicts slice length differs from the candidates'",
        })
    }
}

impl core::error::Error for IntersectionError {}

/// The intersection interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Intersection {
    /// Low edge (local − reference).
    pub low: Duration,
    /// High edge.
    pub high: Duration,
    /// Number of falsetickers the algorithm had to allow.
    pub falsetickers: usize,
}

impl Intersection {
    /// A candidate is a truechimer when its interval overlaps the
    /// intersection (negative λ taken as 0, as in [`intersect`]).
    pub fn is_truechimer(&self, c: &Candidate) -> bool {
        let lambda = c.root_distance.max(Duration::ZERO);
        c.offset.saturating_sub(lambda) <= self.high && c.offset.saturating_add(lambda) >= self.low
    }

    /// The midpoint of the intersection: a robust combined offset.
    pub fn midpoint(&self) -> Duration {
        let sum = i128::from(self.low.as_nanos()) + i128::from(self.high.as_nanos());
        Duration::from_nanos(i64::try_from(sum.div_euclid(2)).unwrap_or(i64::MAX))
    }
}

/// Runs the intersection algorithm. `scratch` must hold at least
/// `2 × candidates.len()` endpoints.
///
/// # Errors
/// [`IntersectionError`] when there is nothing to intersect, the scratch is
/// too small, or no majority agrees.
pub fn intersect(
    candidates: &[Candidate],
    scratch: &mut [Endpoint],
) -> Result<Intersection, IntersectionError> {
    let n = candidates.len();
    if n == 0 {
        return Err(IntersectionError::NoCandidates);
    }
    let m = n
        .checked_mul(ENDPOINTS_PER_CANDIDATE)
        .ok_or(IntersectionError::ScratchTooSmall)?;
    let eps = scratch
        .get_mut(..m)
        .ok_or(IntersectionError::ScratchTooSmall)?;
    for (c, chunk) in candidates
        .iter()
        .zip(eps.chunks_exact_mut(ENDPOINTS_PER_CANDIDATE))
    {
        let theta = c.offset.as_nanos();
        let lambda = c.root_distance.as_nanos().max(0);
        for (slot, (value, kind)) in chunk.iter_mut().zip([
            (theta.saturating_sub(lambda), -1),
            (theta.saturating_add(lambda), 1),
        ]) {
            *slot = Endpoint { value, kind };
        }
    }
    // ascending; at equal values low edges first, so touching intervals overlap
    eps.sort_unstable_by(|a, b| a.value.cmp(&b.value).then(a.kind.cmp(&b.kind)));
    let n_i = i64::try_from(n).unwrap_or(i64::MAX);
    let mut allow: usize = 0;
    while allow.saturating_mul(2) < n {
        let need = n_i.saturating_sub(i64::try_from(allow).unwrap_or(i64::MAX));
        let mut chime = 0i64;
        let mut low = None;
        for e in eps.iter() {
            chime = chime.saturating_sub(i64::from(e.kind));
            if chime >= need {
                low = Some(e.value);
                break;
            }
        }
        chime = 0;
        let mut high = None;
        for e in eps.iter().rev() {
            chime = chime.saturating_add(i64::from(e.kind));
            if chime >= need {
                high = Some(e.value);
                break;
            }
        }
        if let (Some(low), Some(high)) = (low, high) {
            if low <= high {
                return Ok(Intersection {
                    low: Duration::from_nanos(low),
                    high: Duration::from_nanos(high),
                    falsetickers: allow,
                });
            }
        }
        allow = allow.saturating_add(1);
    }
    Err(IntersectionError::NoMajority)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(offset_ms: i64, lambda_ms: i64) -> Candidate {
        Candidate {
            offset: Duration::from_millis(offset_ms),
            root_distance: Duration::from_millis(lambda_ms),
        }
    }

    #[test]
    fn one_falseticker() {
        let cands = [c(0, 10), c(5, 10), c(3, 4), c(100, 5)];
        let mut scratch = [Endpoint::default(); 8];
        let i = intersect(&cands, &mut scratch).unwrap();
        assert_eq!(i.falsetickers, 1);
        assert_eq!(
            (i.low, i.high),
            (Duration::from_millis(-1), Duration::from_millis(7))
        );
        let t: [bool; 4] = core::array::from_fn(|k| i.is_truechimer(&cands[k]));
        assert_eq!(t, [true, true, true, false]);
    }

    #[test]
    fn all_agree_and_errors() {
        let cands = [c(1, 2), c(2, 2), c(3, 2)];
        let mut scratch = [Endpoint::default(); 6];
        let i = intersect(&cands, &mut scratch).unwrap();
        assert_eq!(i.falsetickers, 0);
        assert_eq!(
            (i.low, i.high),
            (Duration::from_millis(1), Duration::from_millis(3))
        );
        // two disjoint sources: no majority
        assert_eq!(
            intersect(&[c(0, 1), c(10, 1)], &mut scratch),
            Err(IntersectionError::NoMajority)
        );
        assert_eq!(
            intersect(&[], &mut scratch),
            Err(IntersectionError::NoCandidates)
        );
        assert_eq!(
            intersect(&cands, &mut scratch[..5]),
            Err(IntersectionError::ScratchTooSmall)
        );
        // a single zero-width source is its own intersection
        let i = intersect(&[c(4, 0)], &mut scratch).unwrap();
        assert_eq!(
            (i.low, i.high),
            (Duration::from_millis(4), Duration::from_millis(4))
        );
    }

    proptest! {
        #[test]
        fn majority_truechimers_survive(
            true_offset in -1_000_000i64..1_000_000,
            good in proptest::collection::vec((-1000i64..1000, 1000i64..5000), 3..6),
            bad in proptest::collection::vec((10_000i64..1_000_000_000, 0i64..1000, any::<bool>()), 0..3),
        ) {
            // good sources' intervals all contain the true offset
            let mut cands = [c(0, 0); 8];
            let mut n = 0;
            for (err, lambda) in &good {
                cands[n] = Candidate { offset: Duration::from_micros(true_offset + err), root_distance: Duration::from_micros(*lambda) };
                n += 1;
            }
            // falsetickers, fewer than the good ones, whose intervals are
            // clear of the good ones
            for (o, l, neg) in bad.iter().take(good.len() - 1 - (good.len() - 1) / 2) {
                let o = if *neg { true_offset - o } else { true_offset + o };
                cands[n] = Candidate { offset: Duration::from_micros(o), root_distance: Duration::from_micros(*l) };
                n += 1;
            }
            let mut scratch = [Endpoint::default(); 24];
            let i = intersect(&cands[..n], &mut scratch).unwrap();
            let truth = Duration::from_micros(true_offset);
            prop_assert!(i.low <= truth && truth <= i.high);
            for (k, cand) in cands[..n].iter().enumerate() {
                prop_assert_eq!(i.is_truechimer(cand), k < good.len());
            }
        }
    }
}
