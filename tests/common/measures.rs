//! The golden values of `tests/fixtures/measures/` (its README says what the cases are) and the
//! tolerance they hold to: docs/MEASURES.md, 1e-8 absolute + 1e-6 relative.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/measures");
const ABSOLUTE: f64 = 1e-8;
const RELATIVE: f64 = 1e-6;
/// A refusal shorter than this says no reason.
const MIN_REASON_CHARS: usize = 20;

/// `expected.json`: `measures` (identifiers) and `cases`.
pub fn document() -> Value {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("expected.json"))
        .expect("expected.json is readable");
    serde_json::from_str(&text).expect("expected.json is JSON")
}

/// The `.npy` file a case names (`case["x"]` or `case["y"]`).
pub fn path(file: &Value) -> PathBuf {
    Path::new(FIXTURES).join(file.as_str().expect("file name"))
}

/// The bytes of the `.npy` file, as a client uploads them.
pub fn bytes(file: &Value) -> Vec<u8> {
    let path = path(file);
    std::fs::read(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

/// The matrix of the `.npy` file in f64, as the engine takes it.
pub fn matrix(file: &Value) -> Array2<f64> {
    let path = path(file);
    simbench::matrix::read_matrix_file(&path, None)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
        .to_f64()
}

/// What is wrong with an outcome against the fixture's `want` (a value, or null for a refusal
/// with a reason); `None` when they agree.
pub fn mismatch(want: &Value, got: Result<f64, &str>) -> Option<String> {
    match (want.as_f64(), got) {
        (Some(want), Ok(value)) => ((value - want).abs() > ABSOLUTE + RELATIVE * want.abs())
            .then(|| format!("got {value}, want {want}")),
        (Some(want), Err(reason)) => Some(format!("refused ({reason}), want {want}")),
        (None, Ok(value)) => Some(format!("got {value}, want a refusal")),
        (None, Err(reason)) => (reason.chars().count() < MIN_REASON_CHARS)
            .then(|| format!("a refusal without a reason: {reason:?}")),
    }
}
