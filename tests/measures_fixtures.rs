//! The measures of README, Measures, on every golden case of `tests/fixtures/measures/`, both
//! argument orders, each alone and all in one call (`Prepared::new` + `compare`).

mod common;

use std::collections::BTreeMap;

use common::measures as golden;
use serde_json::Value;
use simbench::metrics::{Metric, MetricError, Prepared, compare};

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
        let outcome = match &got[metric] {
            Ok(value) => Ok(*value),
            Err(error) if error.is_refusal() => Err(error.to_string()),
            Err(error) => {
                failures.push(format!("{label} {name}: not a refusal: {error}"));
                continue;
            }
        };
        if let Some(wrong) = golden::mismatch(
            &expected[name],
            outcome.as_ref().copied().map_err(String::as_str),
        ) {
            failures.push(format!("{label} {name}: {wrong}"));
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
    let document = golden::document();
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
        let x = Prepared::new(golden::matrix(&case["x"])).expect("fixture x is valid");
        let y = Prepared::new(golden::matrix(&case["y"])).expect("fixture y is valid");
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
