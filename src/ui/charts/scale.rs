//! Linear scales and "nice" ticks (steps of 1, 2 or 5 times a power of ten).

/// Maps the domain [d0, d1] linearly onto the range [r0, r1]; a degenerate domain maps to the
/// middle of the range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Linear {
    pub domain: (f64, f64),
    pub range: (f64, f64),
}

impl Linear {
    pub fn new(domain: (f64, f64), range: (f64, f64)) -> Linear {
        Linear { domain, range }
    }

    pub fn map(&self, value: f64) -> f64 {
        let (d0, d1) = self.domain;
        let (r0, r1) = self.range;
        if d1 == d0 {
            return (r0 + r1) / 2.0;
        }
        r0 + (value - d0) / (d1 - d0) * (r1 - r0)
    }
}

/// The space around a chart's plot area, for its title, ticks and labels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Margins {
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
}

impl Margins {
    /// Margins given clockwise from the top, as CSS gives them.
    pub const fn clockwise(top: f64, right: f64, bottom: f64, left: f64) -> Margins {
        Margins {
            left,
            right,
            top,
            bottom,
        }
    }
}

/// The smallest and largest of the finite `values`; `None` when there is none.
pub fn extent(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|value| value.is_finite())
        .fold(None, |range, value| match range {
            None => Some((value, value)),
            Some((min, max)) => Some((f64::min(min, value), f64::max(max, value))),
        })
}

/// About `count` round tick values covering [min, max]: the first at or below min, the last at
/// or above max, evenly spaced by 1, 2 or 5 times a power of ten.
pub fn nice_ticks(min: f64, max: f64, count: usize) -> Vec<f64> {
    if !min.is_finite() || !max.is_finite() {
        return Vec::new();
    }
    let (min, max) = if max - min < f64::EPSILON * min.abs().max(1.0) {
        (min - 0.5, max + 0.5)
    } else {
        (min, max)
    };
    let step = nice_step((max - min) / count.max(1) as f64);
    let first = (min / step).floor() as i64;
    let last = (max / step).ceil() as i64;
    (first..=last).map(|index| index as f64 * step).collect()
}

/// The tick spacing of [`nice_ticks`] for a raw spacing.
fn nice_step(raw: f64) -> f64 {
    let power = 10f64.powf(raw.log10().floor());
    let fraction = raw / power;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// A tick's label with as many decimals as the spacing of `ticks` needs.
pub fn tick_label(value: f64, ticks: &[f64]) -> String {
    let step = match ticks {
        [first, second, ..] => (second - first).abs(),
        _ => 1.0,
    };
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    let text = format!("{value:.decimals$}");
    // "-0.0" reads as a different number from "0.0".
    if text
        .trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        text.trim_start_matches('-').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scale_maps_the_domain_ends_to_the_range_ends() {
        let scale = Linear::new((2.0, 4.0), (100.0, 0.0));
        assert_eq!(scale.map(2.0), 100.0);
        assert_eq!(scale.map(4.0), 0.0);
        assert_eq!(scale.map(3.0), 50.0);
        assert_eq!(Linear::new((1.0, 1.0), (0.0, 10.0)).map(1.0), 5.0);
    }

    #[test]
    fn the_extent_spans_the_finite_values_only() {
        assert_eq!(
            extent([0.4, f64::NAN, -0.2, f64::INFINITY, 0.1].into_iter()),
            Some((-0.2, 0.4))
        );
        assert_eq!(extent([f64::NAN].into_iter()), None);
        assert_eq!(extent(std::iter::empty()), None);
    }

    #[test]
    fn ticks_cover_the_domain_with_round_even_steps() {
        for (min, max) in [
            (0.0, 1.0),
            (0.013, 0.87),
            (-0.4, 0.9),
            (3.0, 3.0),
            (0.0, 1234.0),
        ] {
            let ticks = nice_ticks(min, max, 5);
            assert!(ticks.len() >= 2, "{min}..{max}: {ticks:?}");
            assert!(
                ticks[0] <= min && *ticks.last().unwrap() >= max,
                "{ticks:?}"
            );
            let step = ticks[1] - ticks[0];
            let mantissa = step / 10f64.powf(step.log10().floor());
            assert!(
                [1.0, 2.0, 5.0, 10.0]
                    .iter()
                    .any(|nice| (mantissa - nice).abs() < 1e-9),
                "step {step}"
            );
            for pair in ticks.windows(2) {
                assert!(((pair[1] - pair[0]) - step).abs() < 1e-9 * step.max(1.0));
            }
        }
    }

    #[test]
    fn labels_use_the_decimals_of_the_step() {
        let ticks = nice_ticks(0.0, 1.0, 5);
        assert_eq!(tick_label(ticks[1], &ticks), "0.2");
        assert_eq!(tick_label(-0.0, &ticks), "0.0");
        assert_eq!(tick_label(500.0, &[0.0, 500.0]), "500");
    }
}
