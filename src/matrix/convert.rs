//! Element conversion: from the element type and byte order a body announces to the canonical
//! form (little-endian, in the stored dtype), with the check that every value is finite.

use super::Dtype;
use super::error::MatrixError;

/// Element type a body announces, before conversion to the canonical form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SourceType {
    Float16,
    BFloat16,
    Float32,
    Float64,
}

impl SourceType {
    pub(crate) fn item_size(self) -> usize {
        match self {
            SourceType::Float16 | SourceType::BFloat16 => 2,
            SourceType::Float32 => 4,
            SourceType::Float64 => 8,
        }
    }

    /// bfloat16 is kept as float32, which holds every bfloat16 value exactly.
    pub(crate) fn stored_as(self) -> Dtype {
        match self {
            SourceType::Float16 => Dtype::Float16,
            SourceType::BFloat16 | SourceType::Float32 => Dtype::Float32,
            SourceType::Float64 => Dtype::Float64,
        }
    }
}

/// Appends the canonical form of each element of `input` to `out`. With `check`, stops at the
/// first non-finite element and returns its index in `input` and its value.
pub(crate) fn convert_elements(
    source: SourceType,
    big_endian: bool,
    input: &[u8],
    out: &mut Vec<u8>,
    check: bool,
) -> Option<(usize, f64)> {
    macro_rules! each {
        ($width:literal, $bits:ty, |$raw:ident| $emit:expr, |$val:ident| $as_f64:expr) => {
            for (index, bytes) in input.chunks_exact($width).enumerate() {
                let array: [u8; $width] = bytes.try_into().expect("whole elements");
                let $raw: $bits = if big_endian {
                    <$bits>::from_be_bytes(array)
                } else {
                    <$bits>::from_le_bytes(array)
                };
                let $val = $emit;
                if check && !$val.is_finite() {
                    return Some((index, $as_f64));
                }
                out.extend_from_slice(&$val.to_le_bytes());
            }
        };
    }
    match source {
        SourceType::Float16 => each!(2, u16, |raw| half::f16::from_bits(raw), |v| v.to_f64()),
        SourceType::BFloat16 => each!(2, u16, |raw| f32::from_bits(u32::from(raw) << 16), |v| {
            f64::from(v)
        }),
        SourceType::Float32 => each!(4, u32, |raw| f32::from_bits(raw), |v| f64::from(v)),
        SourceType::Float64 => each!(8, u64, |raw| f64::from_bits(raw), |v| v),
    }
    None
}

/// The error for a non-finite `value` at (`row`, `column`).
pub(crate) fn non_finite(value: f64, row: usize, column: usize) -> MatrixError {
    let value = if value.is_nan() {
        "NaN"
    } else if value > 0.0 {
        "inf"
    } else {
        "-inf"
    };
    MatrixError::NonFinite {
        value: value.into(),
        row,
        column,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::f32_bytes;

    #[test]
    fn big_endian_and_bfloat16_become_little_endian_stored_types() {
        let mut out = Vec::new();
        let input = f32_bytes(&[1.5, -2.0], true);
        assert_eq!(
            convert_elements(SourceType::Float32, true, &input, &mut out, true),
            None
        );
        assert_eq!(out, f32_bytes(&[1.5, -2.0], false));

        out.clear();
        let brain: Vec<u8> = [0.75f32, -3.0]
            .iter()
            .flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes())
            .collect();
        convert_elements(SourceType::BFloat16, false, &brain, &mut out, true);
        assert_eq!(SourceType::BFloat16.stored_as(), Dtype::Float32);
        assert_eq!(out, f32_bytes(&[0.75, -3.0], false));
    }

    #[test]
    fn the_check_stops_at_the_first_non_finite_element() {
        let input: Vec<u8> = [1.0f64, f64::NEG_INFINITY, f64::NAN]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut out = Vec::new();
        let (index, value) =
            convert_elements(SourceType::Float64, false, &input, &mut out, true).unwrap();
        assert_eq!((index, value), (1, f64::NEG_INFINITY));
        assert_eq!(out, 1.0f64.to_le_bytes());
        assert_eq!(
            non_finite(value, 0, 1),
            MatrixError::NonFinite {
                value: "-inf".into(),
                row: 0,
                column: 1
            }
        );

        out.clear();
        assert_eq!(
            convert_elements(SourceType::Float64, false, &input, &mut out, false),
            None
        );
        assert_eq!(out, input, "unchecked conversion keeps every element");
    }
}
