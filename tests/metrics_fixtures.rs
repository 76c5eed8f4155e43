//! Every metric on every golden case of `tests/fixtures/metrics/expected.json`, both argument
//! orders, through the public API (`Prepared::new` + `compare`).

use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde_json::Value;
use simbench::metrics::{Metric, MetricError, Prepared, compare, set_blas_threads};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/metrics");

fn read(path: &Path) -> Array2<f64> {
    simbench::matrix::read_matrix_file(path, None)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
        .to_f64()
}

struct Case {
    name: String,
    x: PathBuf,
    y: PathBuf,
    expected: Value,
    expected_swapped: Value,
}

fn cases() -> (Vec<Case>, f64, f64) {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("expected.json"))
        .expect("expected.json is readable");
    let document: Value = serde_json::from_str(&text).expect("expected.json is JSON");
    let absolute = document["tolerance"]["abs"]
        .as_f64()
        .expect("tolerance.abs");
    let relative = document["tolerance"]["rel"]
        .as_f64()
        .expect("tolerance.rel");
    let cases = document["cases"]
        .as_array()
        .expect("cases array")
        .iter()
        .map(|case| Case {
            name: case["case"].as_str().expect("case name").to_owned(),
            x: Path::new(FIXTURES).join(case["x"].as_str().expect("x file")),
            y: Path::new(FIXTURES).join(case["y"].as_str().expect("y file")),
            expected: case["expected"].clone(),
            expected_swapped: case["expected_swapped"].clone(),
        })
        .collect();
    (cases, absolute, relative)
}

fn check(
    label: &str,
    expected: &Value,
    got: &std::collections::BTreeMap<Metric, Result<f64, MetricError>>,
    n: usize,
    d: usize,
    tolerance: (f64, f64),
    failures: &mut Vec<String>,
) {
    for metric in Metric::PAPER {
        let want = &expected[metric.name()];
        let outcome = &got[&metric];
        match (want.as_f64(), outcome) {
            (Some(want), Ok(value)) => {
                if (value - want).abs() > tolerance.0 + tolerance.1 * want.abs() {
                    failures.push(format!("{label} {metric}: got {value}, want {want}"));
                }
            }
            (Some(want), Err(error)) => {
                failures.push(format!("{label} {metric}: refused ({error}), want {want}"))
            }
            (None, Ok(value)) => {
                failures.push(format!("{label} {metric}: got {value}, want a refusal"))
            }
            (None, Err(error)) => {
                let message = error.to_string();
                let names_sizes =
                    message.contains(&format!("n = {n}")) && message.contains(&format!("d = {d}"));
                if error.code() != "too_few_examples" || !error.is_refusal() || !names_sizes {
                    failures.push(format!(
                        "{label} {metric}: refusal {:?} does not name n = {n} and d = {d}: {message}",
                        error.code()
                    ));
                }
            }
        }
    }
}

#[test]
fn every_metric_matches_the_golden_values_in_both_orders() {
    let (cases, absolute, relative) = cases();
    assert_eq!(cases.len(), 5, "expected.json lists five cases");
    let mut failures = Vec::new();
    for case in &cases {
        let x = read(&case.x);
        let y = read(&case.y);
        let n = x.nrows();
        let d = x.ncols().max(y.ncols());
        let x = Prepared::new(x).expect("fixture x is valid");
        let y = Prepared::new(y).expect("fixture y is valid");
        let forward = compare(&x, &y, &Metric::PAPER);
        let swapped = compare(&y, &x, &Metric::PAPER);
        let tolerance = (absolute, relative);
        check(
            &case.name,
            &case.expected,
            &forward,
            n,
            d,
            tolerance,
            &mut failures,
        );
        let label = format!("{} swapped", case.name);
        check(
            &label,
            &case.expected_swapped,
            &swapped,
            n,
            d,
            tolerance,
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// With two BLAS threads, a call that needs both procrustes and the CCA family runs their d x d
/// decompositions side by side; with one, one after the other. Neither may change a value.
#[test]
fn each_metric_alone_gives_the_value_it_gives_among_all_with_one_or_two_blas_threads() {
    let (cases, absolute, relative) = cases();
    let case = &cases[0];
    let x = Prepared::new(read(&case.x)).expect("fixture x is valid");
    let y = Prepared::new(read(&case.y)).expect("fixture y is valid");
    for threads in [1, 2] {
        set_blas_threads(threads);
        let together = compare(&x, &y, &Metric::PAPER);
        for metric in Metric::PAPER {
            let alone = compare(&x, &y, &[metric]);
            let (alone, together) = (&alone[&metric], &together[&metric]);
            let (alone, together) = (
                alone.as_ref().expect("value"),
                together.as_ref().expect("value"),
            );
            assert!(
                (alone - together).abs() <= absolute + relative * together.abs(),
                "{metric} with {threads} BLAS thread(s): {alone} alone, {together} with the others"
            );
        }
    }
}
