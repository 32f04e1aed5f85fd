//! Small statistics helpers for the report.

/// Root mean square; 0 for an empty slice.
pub fn rms(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss, reason = "sample counts are small")]
    let n = xs.len() as f64;
    (xs.iter().map(|x| x * x).sum::<f64>() / n).sqrt()
}

/// Median (sorts in place); `None` for an empty slice.
pub fn median(xs: &mut [f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        assert!((rms(&[3.0, -4.0]) - (12.5f64).sqrt()).abs() < 1e-12);
        assert!(rms(&[]).abs() < f64::EPSILON);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
