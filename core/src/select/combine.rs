//! The whole selection step for NTP sources: the [`intersect`] step, a
//! [`Verdict`] per source, and the truechimers' offsets combined with weights
//! 1/λ (RFC 5905 §11.2.3, chrony's combining), clamped into the intersection.
//!
//! Integers only: each weight is `2^32 · λ_min / λ` (λ in ns, at least 1 ns)
//! in u128, so the best source weighs exactly 2^32 and the sums cannot
//! overflow for any i64 input (they saturate past 2^31 sources).

use super::intersection::{Candidate, Endpoint, IntersectionError, intersect};
use crate::time::Duration;

/// What selection decided about one candidate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Verdict {
    /// Its interval overlaps the intersection: it is combined.
    Truechimer,
    /// Its interval misses the intersection, or no majority agreed.
    #[default]
    Falseticker,
}

/// The result of [`select`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Selection {
    /// Combined offset, local − reference (positive: local clock ahead), ns:
    /// the 1/λ-weighted mean of the truechimers' offsets, clamped into
    /// [`low`, `high`], rounded to the nearest ns.
    ///
    /// [`low`]: Selection::low
    /// [`high`]: Selection::high
    pub offset: Duration,
    /// Lowest point covered by n − f intervals, f being the fewest
    /// falsetickers (2f < n) that leave such a point (local − reference).
    /// `[low, high]` holds the true offset when at most f sources are wrong;
    /// liars whose intervals overlap honest ones can make f smaller than
    /// their number, and then it need not.
    pub low: Duration,
    /// Highest point covered by n − f intervals (local − reference).
    pub high: Duration,
    /// Number of [`Verdict::Truechimer`]s; always more than half the sources.
    pub survivors: usize,
    /// Number of [`Verdict::Falseticker`]s (n − survivors).
    pub falsetickers: usize,
}

/// `2^WEIGHT_SHIFT` is the weight of the source with the smallest λ.
const WEIGHT_SHIFT: u32 = 32;

/// λ in ns, clamped to at least 1 ns.
fn lambda_ns(c: &Candidate) -> u128 {
    u128::from(c.root_distance.as_nanos().max(1).unsigned_abs())
}

/// Intersects `cands`, writes a verdict per candidate into `verdicts` (all
/// [`Verdict::Falseticker`] on error) and combines the truechimers.
/// `scratch` needs 2 endpoints per candidate; `verdicts` must be exactly as
/// long as `cands`.
///
/// # Errors
/// [`IntersectionError::VerdictsLength`] on a length mismatch, and those of
/// [`intersect`].
pub fn select(
    cands: &[Candidate],
    scratch: &mut [Endpoint],
    verdicts: &mut [Verdict],
) -> Result<Selection, IntersectionError> {
    if verdicts.len() != cands.len() {
        return Err(IntersectionError::VerdictsLength);
    }
    verdicts.fill(Verdict::Falseticker);
    let i = intersect(cands, scratch)?;
    let mut survivors = 0usize;
    let mut best = u128::MAX;
    for (c, v) in cands.iter().zip(verdicts.iter_mut()) {
        if i.is_truechimer(c) {
            *v = Verdict::Truechimer;
            survivors = survivors.saturating_add(1);
            best = best.min(lambda_ns(c));
        }
    }
    let low = i128::from(i.low.as_nanos());
    let high = i128::from(i.high.as_nanos());
    // Σ w·(θ − low) and Σ w; w ≤ 2^32 and |θ − low| < 2^64
    let (mut num, mut den) = (0i128, 0i128);
    for (c, _) in cands
        .iter()
        .zip(verdicts.iter())
        .filter(|(_, v)| **v == Verdict::Truechimer)
    {
        let w = best.saturating_mul(1 << WEIGHT_SHIFT) / lambda_ns(c);
        let w = i128::try_from(w).unwrap_or(0);
        let d = i128::from(c.offset.as_nanos()).saturating_sub(low);
        num = num.saturating_add(w.saturating_mul(d));
        den = den.saturating_add(w);
    }
    // round half up: ⌊(2·num + den) / (2·den)⌋; den ≥ 2^32 with a survivor
    let mean = num
        .saturating_mul(2)
        .saturating_add(den)
        .checked_div_euclid(den.saturating_mul(2))
        .unwrap_or(0);
    let offset = low.saturating_add(mean).clamp(low, high);
    Ok(Selection {
        offset: i64::try_from(offset).map_or(i.low, Duration::from_nanos),
        low: i.low,
        high: i.high,
        survivors,
        falsetickers: cands.len().saturating_sub(survivors),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::intersection::Intersection;
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;

    const N: usize = 10;
    use Verdict::{Falseticker as F, Truechimer as T};

    fn c(offset: i64, lambda: i64) -> Candidate {
        Candidate {
            offset: Duration::from_nanos(offset),
            root_distance: Duration::from_nanos(lambda),
        }
    }

    fn run(cands: &[Candidate]) -> (Result<Selection, IntersectionError>, [Verdict; N]) {
        let mut scratch = [Endpoint::default(); 2 * N];
        let mut v = [Verdict::Truechimer; N];
        let s = select(cands, &mut scratch, &mut v[..cands.len()]);
        (s, v)
    }

    /// (offset, low, high, survivors, falsetickers) in ns and counts.
    fn sel(cands: &[Candidate]) -> ((i64, i64, i64, usize, usize), [Verdict; N]) {
        let (s, v) = run(cands);
        let s = s.unwrap();
        let ns = Duration::as_nanos;
        let r = (
            ns(s.offset),
            ns(s.low),
            ns(s.high),
            s.survivors,
            s.falsetickers,
        );
        (r, v)
    }

    #[test]
    fn weights_are_one_over_lambda() {
        // [-2, 2] and [-1, 7] ms; weights 1/2 : 1/4 -> (0·2 + 3·1) / 3 = 1 ms
        let (s, v) = sel(&[c(0, 2_000_000), c(3_000_000, 4_000_000)]);
        assert_eq!(
            (s, &v[..2]),
            ((1_000_000, -1_000_000, 2_000_000, 2, 0), &[T, T][..])
        );
        // λ = 0 counts as 1 ns: weights 1, 1/6, 1/2 -> 6 / (5/3) = 3.6 -> 4 ns
        assert_eq!(sel(&[c(0, 0), c(6, 6), c(10, 2)]).0, (4, 0, 12, 3, 0));
    }

    #[test]
    fn mean_is_clamped_into_the_intersection() {
        // [-10, 10], 2 × [5, 195]: mean ≈ 17.4 ns, intersection [5, 10]
        assert_eq!(
            sel(&[c(0, 10), c(100, 95), c(100, 95)]).0,
            (10, 5, 10, 3, 0)
        );
        // extremes: no overflow
        let m = i64::MAX;
        let cands = [c(m, 1 << 62), c(m - 7, 0), c(i64::MIN, m)];
        assert_eq!(sel(&cands).0, (m - 7, m - 7, m - 7, 2, 1));
    }

    #[test]
    fn falsetickers_and_errors() {
        const MS: i64 = 1_000_000;
        // chrony test 009: 2 of 5 at +1 s and +2 s; then 2 colluding at +1 s
        for (b1, b2) in [(1_000 * MS, 2_000 * MS), (1_000 * MS, 1_000 * MS)] {
            let cands = [
                c(b1, MS),
                c(-MS / 2, MS),
                c(0, MS),
                c(b2, MS),
                c(MS / 2, MS),
            ];
            let (s, v) = sel(&cands);
            assert_eq!(
                (s, &v[..5]),
                ((0, -MS / 2, MS / 2, 3, 2), &[F, T, T, F, T][..])
            );
        }
        let (e, v) = run(&[c(0, 1), c(10, 1)]);
        assert_eq!(
            (e, &v[..2]),
            (Err(IntersectionError::NoMajority), &[F, F][..])
        );
        assert_eq!(run(&[]).0, Err(IntersectionError::NoCandidates));
        let (mut v, mut scratch) = ([T; 3], [Endpoint::default(); 4]);
        let cands = [c(0, 1), c(0, 1)];
        let e = select(&cands, &mut scratch, &mut v);
        assert_eq!(e, Err(IntersectionError::VerdictsLength));
        let e = select(&cands, &mut scratch[..3], &mut v[..2]);
        assert_eq!(e, Err(IntersectionError::ScratchTooSmall));
    }

    /// Interval edges as documented: λ < 0 counts as 0, edges saturate.
    fn edges(c: &Candidate) -> (i64, i64) {
        let (o, l) = (c.offset.as_nanos(), c.root_distance.as_nanos().max(0));
        (o.saturating_sub(l), o.saturating_add(l))
    }

    /// Exhaustive reference: the smallest f (2f < n) for which some n − f
    /// intervals share a point, and the hull of all such common parts.
    fn reference(cands: &[Candidate]) -> Option<(i64, i64, usize)> {
        let n = cands.len();
        (0..n).take_while(|f| 2 * f < n).find_map(|f| {
            let mut hull: Option<(i64, i64)> = None;
            for mask in 0u32..1 << n {
                let members = cands
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| (mask >> k) & 1 == 1);
                if members.clone().count() != n - f {
                    continue;
                }
                let (lo, hi) = members.fold((i64::MIN, i64::MAX), |(lo, hi), (_, c)| {
                    (lo.max(edges(c).0), hi.min(edges(c).1))
                });
                if lo <= hi {
                    hull = Some(hull.map_or((lo, hi), |(l, h)| (l.min(lo), h.max(hi))));
                }
            }
            hull.map(|(l, h)| (l, h, f))
        })
    }

    /// `intersect` and `select` against [`reference`]; returns the selection.
    fn differential(cands: &[Candidate]) -> Result<Option<Selection>, TestCaseError> {
        let mut scratch = [Endpoint::default(); 2 * N];
        let got = intersect(cands, &mut scratch);
        let (s, v) = run(cands);
        let Some((low, high, f)) = reference(cands) else {
            let e = if cands.is_empty() {
                IntersectionError::NoCandidates
            } else {
                IntersectionError::NoMajority
            };
            prop_assert_eq!(got, Err(e));
            prop_assert_eq!(s, Err(e));
            prop_assert!(v[..cands.len()].iter().all(|v| *v == F));
            return Ok(None);
        };
        let (low, high) = (Duration::from_nanos(low), Duration::from_nanos(high));
        prop_assert_eq!(
            got,
            Ok(Intersection {
                low,
                high,
                falsetickers: f
            })
        );
        let i = got.unwrap();
        let s = s.unwrap();
        let mut survivors = 0;
        for (k, c) in cands.iter().enumerate() {
            let (a, b) = edges(c);
            let overlap = a <= high.as_nanos() && b >= low.as_nanos();
            prop_assert_eq!(i.is_truechimer(c), overlap, "candidate {}", k);
            prop_assert_eq!(v[k] == T, overlap, "candidate {}", k);
            survivors += usize::from(overlap);
        }
        prop_assert_eq!((s.low, s.high), (low, high));
        prop_assert_eq!(
            (s.survivors, s.falsetickers),
            (survivors, cands.len() - survivors)
        );
        prop_assert!(2 * survivors > cands.len());
        prop_assert!(low <= s.offset && s.offset <= high);
        Ok(Some(s))
    }

    fn to_cands(raw: &[(i64, i64)]) -> ([Candidate; N], usize) {
        let mut cands = [c(0, 0); N];
        for (slot, (o, l)) in cands.iter_mut().zip(raw) {
            *slot = c(*o, *l);
        }
        (cands, raw.len().min(N))
    }

    fn edge_i64() -> impl Strategy<Value = i64> {
        prop_oneof![
            Just(i64::MIN),
            Just(i64::MAX),
            Just(0),
            Just(-1),
            any::<i64>()
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        // small ranges: ties and touching edges; λ < 0 included. Also checks
        // the combined offset against the exact rational mean.
        #[test]
        fn differential_small(raw in proptest::collection::vec((-20i64..20, -2i64..10), 0..=N)) {
            let (cands, n) = to_cands(&raw);
            if let Some(s) = differential(&cands[..n])? {
                // exact weights 2520/λ (2520 = lcm 1..10)
                let (mut num, mut den) = (0i64, 0i64);
                for cand in cands[..n].iter().filter(|x| { let (a, b) = edges(x); a <= s.high.as_nanos() && b >= s.low.as_nanos() }) {
                    let w = 2520 / cand.root_distance.as_nanos().max(1);
                    num += w * cand.offset.as_nanos();
                    den += w;
                }
                let exact = (2 * num + den).div_euclid(2 * den).clamp(s.low.as_nanos(), s.high.as_nanos());
                prop_assert!((s.offset.as_nanos() - exact).abs() <= 1, "{} vs {}", s.offset.as_nanos(), exact);
            }
        }

        // wide ranges: clusters at scales up to 2^50 ns, shifted up to ±2^62 ns
        #[test]
        fn differential_wide(
            exp in 0u32..=50,
            shift in -(1i64 << 62)..(1i64 << 62),
            raw in proptest::collection::vec((-20i64..20, 0i64..10, any::<u64>(), any::<u64>()), 0..=N),
        ) {
            let scale = 1i64 << exp;
            let mut cands = [c(0, 0); N];
            for (slot, (o, l, j1, j2)) in cands.iter_mut().zip(&raw) {
                let jit = |j: u64| i64::try_from(j % scale.unsigned_abs()).unwrap();
                *slot = c(shift + o * scale + jit(*j1), l * scale + jit(*j2));
            }
            differential(&cands[..raw.len()])?;
        }

        // arbitrary i64 including MIN/MAX: never panics, still equals the reference
        #[test]
        fn differential_extremes(raw in proptest::collection::vec((edge_i64(), edge_i64()), 0..=N)) {
            let (cands, n) = to_cands(&raw);
            differential(&cands[..n])?;
        }

        // f < n/2 liars, clear of every honest interval (possibly colluding
        // at one wrong offset): honest all survive, liars all rejected, and
        // the result is exactly the honest intersection.
        #[test]
        fn honest_majority_wins(
            truth in -(1i64 << 50)..(1i64 << 50),
            honest in proptest::collection::vec((-1000i64..1000, 0i64..5000), 1..=5),
            liars in proptest::collection::vec((1i64..1 << 40, 0i64..1 << 20, any::<bool>()), 0..5),
            collude in any::<bool>(),
            rot in 0usize..N,
        ) {
            let (h, k) = (honest.len(), liars.len().min(honest.len() - 1));
            let (mut cands, mut good) = ([c(0, 0); N], [false; N]);
            for ((slot, g), (e, extra)) in cands.iter_mut().zip(&mut good).zip(&honest) {
                (*slot, *g) = (c(truth + e, e.abs() + extra), true);
            }
            for (slot, j) in cands[h..h + k].iter_mut().zip(0..) {
                let (gap, l, neg) = liars[if collude { 0 } else { j }];
                let d = 7000 + l + gap; // honest edges are within truth ± 7000
                *slot = c(if neg { truth - d } else { truth + d }, l);
            }
            cands[..h + k].rotate_left(rot % (h + k));
            good[..h + k].rotate_left(rot % (h + k));
            let lo = honest.iter().map(|(e, x)| truth + e - e.abs() - x).max().unwrap();
            let hi = honest.iter().map(|(e, x)| truth + e + e.abs() + x).min().unwrap();
            let s = differential(&cands[..h + k])?.unwrap();
            let (_, v) = run(&cands[..h + k]);
            prop_assert!(v.iter().zip(&good).take(h + k).all(|(v, g)| (*v == T) == *g));
            prop_assert_eq!((s.low.as_nanos(), s.high.as_nanos(), s.falsetickers), (lo, hi, k));
            prop_assert!(lo <= s.offset.as_nanos() && s.offset.as_nanos() <= hi);
        }

        // 3-4 of 5 wrong, no two liars agreeing: never follow a minority.
        // With the liars also clear of the honest intervals there is no
        // majority at all.
        #[test]
        fn wrong_majority_is_not_followed(
            truth in -(1i64 << 50)..(1i64 << 50),
            h in 1usize..=2,
            honest in proptest::collection::vec((-1000i64..1000, 0i64..40_000), 2),
            liars in proptest::collection::vec((-2500i64..2500, 0i64..2500, any::<bool>()), 4),
            clear in any::<bool>(),
        ) {
            const D: i64 = 10_000; // liar j (1..=4) sits within j·D ± D/4 of the truth
            let mut cands = [c(0, 0); 5];
            for (slot, (e, extra)) in cands.iter_mut().zip(&honest[..h]) {
                let l = e.abs() + if clear { extra % 1000 } else { *extra };
                *slot = c(truth + e, l);
            }
            for (j, (slot, (o, l, neg))) in (1i64..).zip(cands[h..].iter_mut().zip(&liars)) {
                let d = j * D + (*o).clamp(l - D / 4, D / 4 - l);
                *slot = c(if *neg { truth - d } else { truth + d }, *l);
            }
            let s = differential(&cands)?;
            if clear {
                prop_assert!(s.is_none());
            }
            if let Some(s) = s {
                for p in [s.low, s.high] {
                    let cover = cands.iter().filter(|x| { let (a, b) = edges(x); a <= p.as_nanos() && p.as_nanos() <= b }).count();
                    prop_assert!(2 * cover > cands.len());
                }
            }
        }
    }
}
