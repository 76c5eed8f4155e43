//! Colour scales: a diverging one for correlations (negative red, zero white, positive blue,
//! after ColorBrewer's RdBu) and a sequential one for distances (viridis: dark for low, light
//! for high), both interpolated linearly between their stops in RGB.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// The colour `0xRRGGBB`.
    pub const fn from_hex(hex: u32) -> Rgb {
        Rgb((hex >> 16) as u8, (hex >> 8) as u8, hex as u8)
    }

    /// Relative luminance (WCAG 2), from 0 (black) to 1 (white).
    pub fn luminance(self) -> f64 {
        let channel = |value: u8| {
            let value = f64::from(value) / 255.0;
            if value <= 0.039_28 {
                value / 12.92
            } else {
                ((value + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(self.0) + 0.7152 * channel(self.1) + 0.0722 * channel(self.2)
    }

    /// Text drawn on this colour: white on dark colours, near-black on light ones.
    pub fn ink(self) -> Rgb {
        if self.luminance() < 0.3 {
            Rgb(255, 255, 255)
        } else {
            Rgb(17, 24, 39)
        }
    }
}

impl fmt::Display for Rgb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// The stops of each scale as `0xRRGGBB`, as their sources print them.
const RED_BLUE: [u32; 5] = [0xb2182b, 0xef8a62, 0xf7f7f7, 0x67a9cf, 0x2166ac];
const VIRIDIS: [u32; 6] = [0x440154, 0x414487, 0x2a788e, 0x22a884, 0x7ad151, 0xfde725];

/// The colour of a value in [-1, 1] (clamped): red for -1, white for 0, blue for 1.
pub fn diverging(value: f64) -> Rgb {
    interpolate(&RED_BLUE, (value.clamp(-1.0, 1.0) + 1.0) / 2.0)
}

/// The colour of a fraction in [0, 1] (clamped): darkest for 0.
pub fn sequential(fraction: f64) -> Rgb {
    interpolate(&VIRIDIS, fraction.clamp(0.0, 1.0))
}

fn interpolate(stops: &[u32], fraction: f64) -> Rgb {
    let fraction = if fraction.is_nan() { 0.5 } else { fraction };
    let position = fraction * (stops.len() - 1) as f64;
    let lower = (position.floor() as usize).min(stops.len() - 2);
    let t = position - lower as f64;
    let (from, to) = (Rgb::from_hex(stops[lower]), Rgb::from_hex(stops[lower + 1]));
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
    Rgb(mix(from.0, to.0), mix(from.1, to.1), mix(from.2, to.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diverging_scale_is_white_at_zero_and_opposite_at_the_ends() {
        assert_eq!(diverging(0.0), Rgb(247, 247, 247));
        assert_eq!(diverging(-1.0), Rgb(178, 24, 43));
        assert_eq!(diverging(1.0), Rgb(33, 102, 172));
        assert_eq!(diverging(7.0), diverging(1.0));
        assert!(
            diverging(0.9).2 > diverging(0.9).0,
            "positive values are blue"
        );
    }

    #[test]
    fn the_sequential_scale_gets_lighter_as_values_grow() {
        let luminances: Vec<f64> = (0..=10)
            .map(|step| sequential(f64::from(step) / 10.0).luminance())
            .collect();
        for pair in luminances.windows(2) {
            assert!(pair[1] > pair[0], "{luminances:?}");
        }
        assert_eq!(sequential(f64::NAN), sequential(0.5));
    }

    #[test]
    fn ink_contrasts_with_its_background() {
        assert_eq!(sequential(0.0).ink(), Rgb(255, 255, 255));
        assert_eq!(sequential(1.0).ink(), Rgb(17, 24, 39));
        assert_eq!(Rgb(1, 2, 255).to_string(), "#0102ff");
    }
}
