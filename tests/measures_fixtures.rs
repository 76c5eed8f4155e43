//! The measures of README, Measures, on every golden case of `tests/fixtures/measures/`, both
//! argument orders, each alone and all in one call (`Prepared::new` + `compare`).

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::Array2;
use serde_json::Value;
use simbench::metrics::{Metric, MetricError, Prepared, compare};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/measures");
const ABSOLUTE: f64 = 1e-8;
const RELATIVE: f64 = 1e-6;

fn read(file: &Value) -> Array2<f64> {
    let path = Path::new(FIXTURES).join(file.as_str().expect("file name"));
    simbench::matrix::read_matrix_file(&path, None)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
        .to_f64()
}

fn fixture() -> Value {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("expected.json"))
        .expect("expected.json is readable");
    serde_json::from_str(&text).expect("expected.json is JSON")
}

/// The fixture's identifiers that the engine knows, parsed.
fn known_measures(document: &Value) -> Vec<(String, Metric)> {
    document["measures"]
        .as_array()
        .expect("measures")
        .iter()
        .filter_map(|name| {
            let name = name.as_str().expect("measure name");
            name.parse::<Metric>()
                .ok()
                .map(|metric| (name.to_owned(), metric))
        })
        .collect()
}

fn check(
    label: &str,
    expected: &Value,
    got: &BTreeMap<Metric, Result<f64, MetricError>>,
    measures: &[(String, Metric)],
    failures: &mut Vec<String>,
) {
    for (name, metric) in measures {
        let outcome = &got[metric];
        match (expected[name].as_f64(), outcome) {
            (Some(want), Ok(value)) => {
                if (value - want).abs() > ABSOLUTE + RELATIVE * want.abs() {
                    failures.push(format!("{label} {name}: got {value}, want {want}"));
                }
            }
            (Some(want), Err(error)) => {
                failures.push(format!("{label} {name}: refused ({error}), want {want}"));
            }
            (None, Ok(value)) => {
                failures.push(format!("{label} {name}: got {value}, want a refusal"));
            }
            (None, Err(error)) => {
                if !error.is_refusal() || error.to_string().len() < 20 {
                    failures.push(format!(
                        "{label} {name}: not a refusal with a reason: {error}"
                    ));
                }
            }
        }
    }
}

const MINE: [&str; 10] = [
    "hard_corr_match",
    "soft_corr_match",
    "eigenspace_overlap",
    "gulp",
    "linear_regression",
    "aligned_cosine",
    "procrustes_size_shape",
    "permutation_procrustes",
    "magnitude_diff",
    "concentricity_diff",
];

#[test]
fn every_measure_matches_the_golden_values_in_both_orders() {
    let document = fixture();
    let measures = known_measures(&document);
    for kind in MINE {
        assert!(
            measures.iter().any(|(name, _)| name == kind),
            "{kind} is missing from the fixture or does not parse"
        );
    }
    let metrics: Vec<Metric> = measures.iter().map(|(_, metric)| *metric).collect();
    let mut failures = Vec::new();
    for case in document["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("case name");
        let x = Prepared::new(read(&case["x"])).expect("fixture x is valid");
        let y = Prepared::new(read(&case["y"])).expect("fixture y is valid");
        let forward = compare(&x, &y, &metrics);
        let swapped = compare(&y, &x, &metrics);
        check(name, &case["expected"], &forward, &measures, &mut failures);
        check(
            &format!("{name} swapped"),
            &case["expected_swapped"],
            &swapped,
            &measures,
            &mut failures,
        );
        for metric in &metrics {
            let alone = &compare(&x, &y, &[*metric])[metric];
            if alone != &forward[metric] {
                failures.push(format!(
                    "{name} {metric}: alone {alone:?}, with the others {:?}",
                    forward[metric]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
