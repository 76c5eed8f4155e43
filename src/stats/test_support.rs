//! What the statistics' unit tests share: building `(x, y)` pairs from two columns and comparing
//! a computed value with scipy's.

pub(super) fn pairs(x: &[f64], y: &[f64]) -> Vec<(f64, f64)> {
    x.iter().copied().zip(y.iter().copied()).collect()
}

pub(super) fn assert_within(got: f64, want: f64, tolerance: f64) {
    assert!((got - want).abs() <= tolerance, "got {got}, want {want}");
}

/// Agreement to 1e-12, what the closed-form statistics reach against scipy.
pub(super) fn assert_close(got: f64, want: f64) {
    assert_within(got, want, 1e-12);
}
