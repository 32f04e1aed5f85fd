//! Frequency offsets: ppb in fixed point, the kernel's scaled ppm, and the
//! `tick` + `freq` split of Linux `adjtimex`.

use fixed::types::I32F32;

use super::Duration;

/// A frequency offset in parts per billion, I32F32 (resolution 2⁻³² ppb,
/// range ±2³¹ ppb ≈ ±214 %). Positive means the clock runs faster.
///
/// Arithmetic saturates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ppb(I32F32);

#[cfg(feature = "defmt")]
impl defmt::Format for Ppb {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=i64}/2^32 ppb", self.0.to_bits());
    }
}

/// `1000 ppb × 2¹⁶ / 1000` — scaled-ppm units per ppb is 65.536 = 8192/125.
const SCALED_PPM_PER_PPB_NUM: i128 = 8192;
const SCALED_PPM_PER_PPB_DEN: i128 = 125;

impl Ppb {
    /// Zero.
    pub const ZERO: Self = Self(I32F32::ZERO);
    /// Largest positive frequency.
    pub const MAX: Self = Self(I32F32::MAX);
    /// Largest negative frequency.
    pub const MIN: Self = Self(I32F32::MIN);

    /// From raw bits (ppb × 2³²).
    pub const fn from_bits(bits: i64) -> Self {
        Self(I32F32::from_bits(bits))
    }

    /// Raw bits (ppb × 2³²).
    pub const fn to_bits(self) -> i64 {
        self.0.to_bits()
    }

    /// From whole ppb, saturating.
    pub const fn from_ppb(ppb: i64) -> Self {
        if ppb > i32::MAX as i64 {
            Self::MAX
        } else if ppb < i32::MIN as i64 {
            Self::MIN
        } else {
            Self(I32F32::from_bits(ppb << 32))
        }
    }

    /// From the fixed-point value.
    pub const fn from_fixed(ppb: I32F32) -> Self {
        Self(ppb)
    }

    /// As a fixed-point value in ppb.
    pub const fn to_fixed(self) -> I32F32 {
        self.0
    }

    /// Whole ppb, rounded toward negative infinity.
    pub const fn floor_ppb(self) -> i64 {
        self.0.to_bits() >> 32
    }

    /// Sum, saturating.
    #[must_use]
    pub const fn saturating_add(self, rhs: Self) -> Self {
        Self(self.0.saturating_add(rhs.0))
    }

    /// Difference, saturating.
    #[must_use]
    pub const fn saturating_sub(self, rhs: Self) -> Self {
        Self(self.0.saturating_sub(rhs.0))
    }

    /// Negation, saturating.
    #[must_use]
    pub const fn saturating_neg(self) -> Self {
        Self(self.0.saturating_neg())
    }

    /// From a float ppb value (configuration files, reports), saturating;
    /// NaN gives zero. Not for the sample path.
    #[allow(clippy::cast_possible_truncation, reason = "saturating float-to-int")]
    pub fn from_f64(ppb: f64) -> Self {
        Self::from_bits((ppb * 4_294_967_296.0) as i64)
    }

    /// As a float ppb value (reports). Not for the sample path.
    #[allow(clippy::cast_precision_loss, reason = "reporting")]
    pub fn to_f64(self) -> f64 {
        self.to_bits() as f64 / 4_294_967_296.0
    }

    /// Clamp to `±limit` (`limit` taken as its absolute value).
    #[must_use]
    pub fn clamp_abs(self, limit: Self) -> Self {
        let lim = limit.0.saturating_abs();
        Self(self.0.clamp(lim.saturating_neg(), lim))
    }

    /// The time this frequency offset accumulates over `d`: `d × ppb / 10⁹`,
    /// rounded to nearest, saturating. Sign follows the product.
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "i64 × i64 products and i64 ± i64 sums fit in i128"
    )]
    pub fn phase_over(self, d: Duration) -> Duration {
        let prod = i128::from(d.as_nanos()) * i128::from(self.0.to_bits());
        let den: i128 = 1_000_000_000i128 << 32;
        let q = div_round_i128(prod, den);
        Duration::from_nanos(sat_i64(q))
    }

    /// To the kernel's `timex.freq` unit (2⁻¹⁶ ppm), rounded to nearest
    /// (ties away from zero). Exact whenever the value is a multiple of 2⁻¹⁶ ppm.
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "i64 × i64 products and i64 ± i64 sums fit in i128"
    )]
    pub fn to_scaled_ppm(self) -> ScaledPpm {
        let num = i128::from(self.0.to_bits()) * SCALED_PPM_PER_PPB_NUM;
        let den = SCALED_PPM_PER_PPB_DEN << 32;
        ScaledPpm(sat_i64(div_round_i128(num, den)))
    }
}

impl core::fmt::Display for Ppb {
    /// Formats as decimal ppb, e.g. `-12.5ppb`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}ppb", self.0)
    }
}

/// `num / den` rounded to nearest, ties away from zero; `den > 0`.
#[allow(
    clippy::arithmetic_side_effects,
    reason = "i64 × i64 products and i64 ± i64 sums fit in i128"
)]
fn div_round_i128(num: i128, den: i128) -> i128 {
    let half = den / 2;
    if num >= 0 {
        (num + half) / den
    } else {
        (num - half) / den
    }
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "clamped to the i64 range first"
)]
fn sat_i64(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Linux `timex.freq` units: 2⁻¹⁶ ppm (65.536 per ppb). Positive = faster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ScaledPpm(pub i64);

impl ScaledPpm {
    /// The kernel's `freq` limit: ±500 ppm (`MAXFREQ_SCALED`).
    pub const KERNEL_MAX: Self = Self(500 << 16);

    /// To ppb: exact (one unit is exactly 125/8192 ppb = 2¹⁹·125 in I32F32 bits),
    /// saturating outside ±2³¹ ppb.
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "i64 × i64 products and i64 ± i64 sums fit in i128"
    )]
    pub fn to_ppb(self) -> Ppb {
        let bits = i128::from(self.0) * (125i128 << 19);
        Ppb::from_bits(sat_i64(bits))
    }
}

/// A frequency correction as Linux applies it to `CLOCK_REALTIME`: the tick
/// length (`timex.tick`, µs per `USER_HZ` tick) plus the fine frequency
/// (`timex.freq`, 2⁻¹⁶ ppm, within ±500 ppm).
///
/// One tick µs is `1000 × USER_HZ` ppb (100 ppm at `USER_HZ` = 100); the kernel
/// accepts ticks within ±10 % of nominal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct KernelFreq {
    /// `timex.tick`, µs per tick.
    pub tick_us: i64,
    /// `timex.freq`.
    pub freq: ScaledPpm,
}

impl KernelFreq {
    /// The usual Linux `USER_HZ`.
    pub const USER_HZ: u32 = 100;

    /// Nominal tick length in µs for `user_hz` (10 000 µs at 100 Hz).
    #[allow(clippy::arithmetic_side_effects, reason = "divisor is at least 1")]
    pub const fn nominal_tick_us(user_hz: u32) -> i64 {
        1_000_000 / nonzero(user_hz) as i64
    }

    /// The largest total correction this split can express for `user_hz`,
    /// in ppb: 10 % through the tick plus 500 ppm through `freq`.
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "at most 1e6 × 1000 × 2^32 / 1e6"
    )]
    pub const fn max_ppb(user_hz: u32) -> i64 {
        // ±10 % of nominal tick, in whole µs, each worth 1000·user_hz ppb.
        let tick_range = Self::nominal_tick_us(user_hz) / 10;
        tick_range * 1_000 * nonzero(user_hz) as i64 + 500_000
    }

    /// Split `ppb` the way linuxptp and chrony do: the tick takes
    /// `round(ppb / (1000·user_hz))` µs, `freq` takes the remainder (within half
    /// a tick unit). Values beyond [`KernelFreq::max_ppb`] are clamped.
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "i64 × i64 products and i64 ± i64 sums fit in i128"
    )]
    pub fn from_ppb(ppb: Ppb, user_hz: u32) -> Self {
        let hz = i64::from(nonzero(user_hz));
        let unit_ppb = 1_000 * hz;
        let nominal = Self::nominal_tick_us(user_hz);
        let range = nominal / 10;
        let unit_bits = i128::from(unit_ppb) << 32;
        let ticks = div_round_i128(i128::from(ppb.to_bits()), unit_bits)
            .clamp(i128::from(-range), i128::from(range));
        let ticks = sat_i64(ticks);
        let rest_bits = i128::from(ppb.to_bits()) - i128::from(ticks) * unit_bits;
        let rest = Ppb::from_bits(sat_i64(rest_bits)).to_scaled_ppm();
        let freq = ScaledPpm(
            rest.0
                .clamp(-ScaledPpm::KERNEL_MAX.0, ScaledPpm::KERNEL_MAX.0),
        );
        Self {
            tick_us: nominal + ticks,
            freq,
        }
    }

    /// The total frequency this pair sets, in ppb (exact).
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "i64 × i64 products and i64 ± i64 sums fit in i128"
    )]
    pub fn to_ppb(self, user_hz: u32) -> Ppb {
        let hz = i64::from(nonzero(user_hz));
        let ticks = self.tick_us.saturating_sub(Self::nominal_tick_us(user_hz));
        Ppb::from_ppb(ticks.saturating_mul(1_000 * hz)).saturating_add(self.freq.to_ppb())
    }
}

const fn nonzero(hz: u32) -> u32 {
    if hz == 0 { 1 } else { hz }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn scaled_ppm_known_values() {
        assert_eq!(Ppb::from_ppb(1000).to_scaled_ppm(), ScaledPpm(65536));
        assert_eq!(
            Ppb::from_ppb(-500_000).to_scaled_ppm(),
            ScaledPpm(-(500 << 16))
        );
        assert_eq!(ScaledPpm(65536).to_ppb(), Ppb::from_ppb(1000));
        // one unit = 0.0152587890625 ppb exactly
        assert_eq!(
            ScaledPpm(1).to_ppb().to_fixed(),
            I32F32::from_num(0.0152587890625)
        );
        assert_eq!(Ppb::from_ppb(1).to_scaled_ppm(), ScaledPpm(66)); // 65.536 -> 66
        assert_eq!(Ppb::from_ppb(-1).to_scaled_ppm(), ScaledPpm(-66));
    }

    #[test]
    fn ppb_edges() {
        assert_eq!(Ppb::from_ppb(i64::MAX), Ppb::MAX);
        assert_eq!(Ppb::from_ppb(i64::from(i32::MIN) - 1), Ppb::MIN);
        assert_eq!(Ppb::MAX.saturating_add(Ppb::from_bits(1)), Ppb::MAX);
        assert_eq!(Ppb::MIN.saturating_neg(), Ppb::MAX);
        assert_eq!(
            Ppb::from_ppb(-7).clamp_abs(Ppb::from_ppb(5)),
            Ppb::from_ppb(-5)
        );
        assert_eq!(
            Ppb::from_ppb(3).clamp_abs(Ppb::from_ppb(-5)),
            Ppb::from_ppb(3)
        );
        assert_eq!(
            Ppb::MIN.to_scaled_ppm().0,
            -(i64::from(i32::MIN).abs() * 8192 / 125)
        );
        assert_eq!(ScaledPpm(i64::MAX).to_ppb(), Ppb::MAX);
        assert_eq!(ScaledPpm(i64::MIN).to_ppb(), Ppb::MIN);
    }

    #[test]
    fn phase_over() {
        let f = Ppb::from_ppb(50_000); // 50 ppm
        assert_eq!(f.phase_over(Duration::from_secs(1)).as_nanos(), 50_000);
        assert_eq!(f.phase_over(Duration::from_secs(-2)).as_nanos(), -100_000);
        assert_eq!(Ppb::MAX.phase_over(Duration::MAX), Duration::MAX);
        assert_eq!(Ppb::MIN.phase_over(Duration::MAX), Duration::MIN);
        // 0.5 ppb over 1 s = 0.5 ns -> rounds away from zero
        assert_eq!(
            Ppb::from_bits(1 << 31)
                .phase_over(Duration::from_secs(1))
                .as_nanos(),
            1
        );
    }

    #[test]
    fn kernel_split_matches_linuxptp() {
        // +230 ppm: 2 ticks (200 ppm) + 30 ppm in freq
        let k = KernelFreq::from_ppb(Ppb::from_ppb(230_000), 100);
        assert_eq!(k.tick_us, 10_002);
        assert_eq!(k.freq, ScaledPpm(30 << 16));
        // +250 ppm: round(2.5) = 3 ticks, as C's round(), and -50 ppm in freq
        let k = KernelFreq::from_ppb(Ppb::from_ppb(250_000), 100);
        assert_eq!(k.tick_us, 10_003);
        assert_eq!(k.freq, ScaledPpm(-50 << 16));
        // -149 ppm: round(-1.49) = -1 tick, -49 ppm in freq
        let k = KernelFreq::from_ppb(Ppb::from_ppb(-149_000), 100);
        assert_eq!(k.tick_us, 9_999);
        assert_eq!(k.freq, ScaledPpm(-49 << 16));
        // 10 % + 500 ppm is the maximum; beyond clamps
        assert_eq!(KernelFreq::max_ppb(100), 100_500_000);
        let k = KernelFreq::from_ppb(Ppb::from_ppb(200_000_000), 100);
        assert_eq!(k.tick_us, 11_000);
        assert_eq!(k.freq, ScaledPpm::KERNEL_MAX);
        let k = KernelFreq::from_ppb(Ppb::MIN, 100);
        assert_eq!(k.tick_us, 9_000);
        assert_eq!(k.freq.0, -ScaledPpm::KERNEL_MAX.0);
        // USER_HZ 0 is treated as 1 instead of dividing by zero
        let _ = KernelFreq::from_ppb(Ppb::MAX, 0);
    }

    proptest! {
        #[test]
        fn scaled_ppm_roundtrip_exact(s in -(1i64 << 37)..(1i64 << 37)) {
            prop_assert_eq!(ScaledPpm(s).to_ppb().to_scaled_ppm(), ScaledPpm(s));
        }

        #[test]
        fn ppb_to_scaled_within_half_unit(bits in any::<i64>()) {
            let p = Ppb::from_bits(bits);
            let back = p.to_scaled_ppm().to_ppb();
            let err = (i128::from(back.to_bits()) - i128::from(bits)).abs();
            // half a scaled-ppm unit in ppb bits is 125·2^18
            prop_assert!(err <= 125i128 << 18);
        }

        #[test]
        fn kernel_split_roundtrip(ppb_milli in -100_500_000_000i64..=100_500_000_000, hz in prop::sample::select(&[100u32, 250, 1000][..])) {
            let p = Ppb::from_bits(i64::try_from((i128::from(ppb_milli) << 32) / 1000).unwrap());
            let k = KernelFreq::from_ppb(p, hz);
            let back = k.to_ppb(hz);
            let err = (i128::from(back.to_bits()) - i128::from(p.to_bits())).abs();
            prop_assert!(err <= 125i128 << 18, "{p} -> {k:?} -> {back}");
            prop_assert!(k.freq.0.abs() <= ScaledPpm::KERNEL_MAX.0);
            let nominal = KernelFreq::nominal_tick_us(hz);
            prop_assert!((k.tick_us - nominal).abs() <= nominal / 10);
        }
    }
}
