//! The simulator's own random numbers: xoshiro256++ seeded through `SplitMix64`,
//! uniform, exponential and normal (Marsaglia polar) variates.
//!
//! Everything here uses integer operations, IEEE basic float operations and
//! the pure-Rust `libm` (`log`, `sqrt`), so a seed gives the same stream bit
//! for bit on every target.

/// `SplitMix64` (Steele, Lea, Flood 2014): expands one `u64` seed into state words.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next output.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// xoshiro256++ (Blackman, Vigna 2019) with a cached second normal variate.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
    spare_normal: Option<f64>,
}

/// 2⁻⁵³: turns a 53-bit integer into a float in `[0, 1)`.
const INV_2_53: f64 = 1.0 / 9_007_199_254_740_992.0;

impl Rng {
    /// A generator whose four state words are the next four outputs of `sm`
    /// (never all zero).
    pub fn from_splitmix(sm: &mut SplitMix64) -> Self {
        let mut s = [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()];
        if s == [0; 4] {
            s[0] = 1;
        }
        Self {
            s,
            spare_normal: None,
        }
    }

    /// From explicit state words (for reference vectors); all-zero becomes `[1,0,0,0]`.
    #[cfg(test)]
    pub fn from_state(mut s: [u64; 4]) -> Self {
        if s == [0; 4] {
            s[0] = 1;
        }
        Self {
            s,
            spare_normal: None,
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let [s0, s1, s2, s3] = self.s;
        let result = s0.wrapping_add(s3).rotate_left(23).wrapping_add(s0);
        let t = s1 << 17;
        let s2 = s2 ^ s0;
        let s3 = s3 ^ s1;
        let s1 = s1 ^ s2;
        let s0 = s0 ^ s3;
        let s2 = s2 ^ t;
        let s3 = s3.rotate_left(45);
        self.s = [s0, s1, s2, s3];
        result
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        let bits = self.next_u64() >> 11;
        // Exact: bits < 2^53.
        u64_to_f64(bits) * INV_2_53
    }

    /// `true` with probability `p` (`p <= 0` never draws and is always false;
    /// `p >= 1` always true, still drawing so streams do not shift with `p`).
    pub fn bernoulli(&mut self, p: f64) -> bool {
        if p > 0.0 { self.uniform() < p } else { false }
    }

    /// Exponential with the given mean (`mean <= 0` gives 0 without drawing).
    pub fn exponential(&mut self, mean: f64) -> f64 {
        if mean > 0.0 {
            // 1 − u ∈ (0, 1], so the logarithm is finite.
            -mean * libm::log(1.0 - self.uniform())
        } else {
            0.0
        }
    }

    /// Standard normal N(0, 1), Marsaglia's polar method; every second call
    /// returns the cached partner of the previous pair.
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        // The acceptance probability is π/4 per try; 200 rejections in a row
        // (probability 1e-133) would return 0 rather than loop on.
        for _ in 0..200 {
            let u = 2.0 * self.uniform() - 1.0;
            let v = 2.0 * self.uniform() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let m = libm::sqrt(-2.0 * libm::log(s) / s);
                self.spare_normal = Some(v * m);
                return u * m;
            }
        }
        0.0
    }
}

/// `u64` to the nearest `f64` (exact below 2⁵³).
#[allow(
    clippy::cast_precision_loss,
    reason = "time spans in ns are exact below 2^53 ns (104 days); rounding beyond is intended"
)]
pub const fn u64_to_f64(v: u64) -> f64 {
    v as f64
}

/// `i64` to the nearest `f64` (exact below 2⁵³ in magnitude).
#[allow(
    clippy::cast_precision_loss,
    reason = "nanosecond counts are exact below 2^53; rounding beyond is intended"
)]
pub const fn i64_to_f64(v: i64) -> f64 {
    v as f64
}

/// `f64` to `i64`, saturating at the ends, NaN as 0 (Rust's `as` semantics,
/// named so every call site states it).
#[allow(
    clippy::cast_possible_truncation,
    reason = "float-to-int `as` saturates and maps NaN to 0, which is intended"
)]
pub const fn f64_to_i64_sat(v: f64) -> i64 {
    v as i64
}

/// `floor(v)` as an `i64`, exact, saturating at the ends, NaN as 0. Integer
/// conversions only (faster than a software `floor` on targets without one).
pub const fn floor_i64(v: f64) -> i64 {
    let t = f64_to_i64_sat(v);
    // `t` truncates toward zero; step down once for negative non-integers.
    if i64_to_f64(t) > v {
        t.saturating_sub(1)
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_vector() {
        // First outputs for seed 0 (Vigna's reference implementation).
        let mut sm = SplitMix64::new(0);
        assert_eq!(sm.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(sm.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(sm.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn xoshiro256pp_reference_vector() {
        // From the reference C implementation with state {1, 2, 3, 4}.
        let mut r = Rng::from_state([1, 2, 3, 4]);
        let expected: [u64; 10] = [
            41_943_041,
            58_720_359,
            3_588_806_011_781_223,
            3_591_011_842_654_386,
            9_228_616_714_210_784_205,
            9_973_669_472_204_895_162,
            14_011_001_112_246_962_877,
            12_406_186_145_184_390_807,
            15_849_039_046_786_891_736,
            10_450_023_813_501_588_000,
        ];
        for e in expected {
            assert_eq!(r.next_u64(), e);
        }
    }

    fn moments(mut f: impl FnMut() -> f64, n: u32) -> (f64, f64) {
        let (mut s, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            let x = f();
            s += x;
            s2 += x * x;
        }
        let mean = s / f64::from(n);
        (mean, s2 / f64::from(n) - mean * mean)
    }

    #[test]
    fn distributions_have_the_right_moments() {
        let mut sm = SplitMix64::new(7);
        let mut r = Rng::from_splitmix(&mut sm);
        let n = 400_000;
        let (m, v) = moments(|| r.uniform(), n);
        assert!((m - 0.5).abs() < 0.003, "uniform mean {m}");
        assert!((v - 1.0 / 12.0).abs() < 0.001, "uniform var {v}");
        let (m, v) = moments(|| r.normal(), n);
        assert!(m.abs() < 0.006, "normal mean {m}");
        assert!((v - 1.0).abs() < 0.01, "normal var {v}");
        let (m, v) = moments(|| r.exponential(3.0), n);
        assert!((m - 3.0).abs() < 0.03, "exp mean {m}");
        assert!((v - 9.0).abs() < 0.2, "exp var {v}");
        let hits = (0..n).filter(|_| r.bernoulli(0.1)).count();
        let rate = f64::from(u32::try_from(hits).unwrap()) / f64::from(n);
        assert!((rate - 0.1).abs() < 0.002, "bernoulli {rate}");
        assert!(!r.bernoulli(0.0) && !r.bernoulli(f64::NAN) && r.bernoulli(1.0));
        assert_eq!(r.exponential(0.0).to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn normal_tails_are_gaussian() {
        // P(|z| > 3) = 0.0027 for a Gaussian.
        let mut r = Rng::from_splitmix(&mut SplitMix64::new(99));
        let n = 1_000_000u32;
        let tail = (0..n).filter(|_| r.normal().abs() > 3.0).count();
        let p = f64::from(u32::try_from(tail).unwrap()) / f64::from(n);
        assert!((p - 0.0027).abs() < 0.0003, "tail {p}");
    }

    #[test]
    fn conversions_saturate() {
        assert_eq!(f64_to_i64_sat(f64::NAN), 0);
        assert_eq!(f64_to_i64_sat(1e300), i64::MAX);
        assert_eq!(f64_to_i64_sat(-1e300), i64::MIN);
        assert_eq!(f64_to_i64_sat(-2.5), -2);
        assert_eq!(
            u64_to_f64(1 << 53).to_bits(),
            9_007_199_254_740_992.0f64.to_bits()
        );
        assert_eq!(floor_i64(-0.0), 0);
        for v in [
            0.0,
            0.5,
            -0.5,
            1.0,
            -1.0,
            2.999_999,
            -2.000_001,
            1e17 + 64.0,
            -1e17 - 64.0,
            4.5e15 + 0.5,
        ] {
            assert_eq!(
                i64_to_f64(floor_i64(v)).to_bits(),
                libm::floor(v).to_bits(),
                "{v}"
            );
        }
        assert_eq!(floor_i64(f64::NAN), 0);
        assert_eq!(floor_i64(1e300), i64::MAX);
        assert_eq!(floor_i64(-1e300), i64::MIN);
        assert_eq!(floor_i64(f64::NEG_INFINITY), i64::MIN);
    }
}
