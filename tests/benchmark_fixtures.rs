//! The benchmark protocols against the golden results in `shared/fixtures/benchmark/` (see its
//! README): 36 representations, three protocols, expected per-group statistics and their means.
//!
//! The fixture holds no distances; they come from `fixture_distance`, a direct f64 transcription
//! of DESIGN's `cka` and `procrustes` definitions. The fixture's `pwcca` results are loaded too
//! and are checked by passing "pwcca" to `check_protocol` once `fixture_distance` can take its
//! values from the metrics engine (`simbench::metrics`), which this test does not reimplement.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use ndarray::Array2;
use ndarray_linalg::SVD;
use serde::Deserialize;
use simbench::benchmark::{
    CompareTo, DistanceOutcome, GroupBy, GroupKey, MetricResult, Protocol, Representation,
    Statistics, pairs_needed, results,
};

const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/benchmark");

/// The metrics `fixture_distance` computes.
const CHECKED_METRICS: [&str; 2] = ["cka", "procrustes"];

#[derive(Deserialize)]
struct Fixture {
    representations: Vec<FixtureRepresentation>,
    /// metric → protocol case → expected results.
    results: BTreeMap<String, BTreeMap<String, ExpectedCase>>,
    tolerance: Tolerance,
}

#[derive(Deserialize)]
struct FixtureRepresentation {
    /// The 1-based position in `representations`, used as the service id here.
    id: i64,
    layer: i64,
    derived: bool,
    file: String,
    score: f64,
}

#[derive(Deserialize)]
struct Tolerance {
    abs: f64,
}

#[derive(Deserialize)]
struct ExpectedCase {
    /// Layer (as a string) → that group's results.
    groups: BTreeMap<String, ExpectedGroup>,
    mean: ExpectedStatistics,
}

#[derive(Deserialize)]
struct ExpectedGroup {
    #[serde(flatten)]
    statistics: ExpectedStatistics,
    reference: Option<i64>,
    n_pairs: usize,
    n_refused: usize,
}

#[derive(Deserialize)]
struct ExpectedStatistics {
    spearman: f64,
    spearman_p: f64,
    kendall: f64,
    kendall_p: f64,
    bad_frac: f64,
}

fn load_fixture() -> Fixture {
    let path = Path::new(FIXTURE_DIR).join("benchmark.json");
    let text = std::fs::read_to_string(&path).expect("benchmark fixture is readable");
    serde_json::from_str(&text).expect("benchmark fixture parses")
}

/// A representation prepared as DESIGN's metric definitions start: P(Z), each column centred
/// over the rows, then the whole matrix divided by its Frobenius norm.
fn prepare(file: &str) -> Array2<f64> {
    let path = Path::new(FIXTURE_DIR).join(file);
    let raw = simbench::matrix::read_matrix_file(&path, None)
        .expect("fixture matrix decodes")
        .to_f64();
    let centred = &raw - &raw.mean_axis(ndarray::Axis(0)).expect("matrix has rows");
    let norm = centred.iter().map(|v| v * v).sum::<f64>().sqrt();
    centred / norm
}

fn frobenius(matrix: &Array2<f64>) -> f64 {
    matrix.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// d(x, y) on prepared matrices, straight from DESIGN's table:
/// cka = 1 − ‖XᵀY‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F); procrustes = max(0, 2 − 2‖XᵀY‖_*).
fn fixture_distance(metric: &str, x: &Array2<f64>, y: &Array2<f64>) -> f64 {
    let cross = x.t().dot(y);
    match metric {
        "cka" => {
            let cross_norm = frobenius(&cross);
            1.0 - cross_norm * cross_norm / (frobenius(&x.t().dot(x)) * frobenius(&y.t().dot(y)))
        }
        "procrustes" => {
            let (_, singular_values, _) = cross.svd(false, false).expect("SVD converges");
            (2.0 - 2.0 * singular_values.sum()).max(0.0)
        }
        other => panic!("this test computes cka and procrustes only, not {other}"),
    }
}

/// The fixture's three protocol cases: name, protocol, and whether derived copies take part.
fn cases() -> [(&'static str, Protocol, bool); 3] {
    [
        (
            "reference_same_group",
            Protocol::Reference {
                group_by: GroupBy::Layer,
                compare_to: CompareTo::SameGroup,
            },
            true,
        ),
        (
            "reference_all_nonderived",
            Protocol::Reference {
                group_by: GroupBy::Layer,
                compare_to: CompareTo::All,
            },
            false,
        ),
        (
            "all_pairs_nonderived",
            Protocol::AllPairs {
                group_by: GroupBy::Layer,
            },
            false,
        ),
    ]
}

/// Runs one protocol case for `metrics`, with distances from `fixture_distance` on the prepared
/// `matrices`, and returns per metric the largest absolute deviation from the fixture over every
/// group statistic and every mean; panics on any mismatch.
fn check_protocol(
    fixture: &Fixture,
    matrices: &HashMap<i64, Array2<f64>>,
    case: &str,
    protocol: &Protocol,
    include_derived: bool,
    metrics: &[&str],
) -> BTreeMap<String, f64> {
    let selection: Vec<Representation> = fixture
        .representations
        .iter()
        .filter(|representation| include_derived || !representation.derived)
        .map(|representation| Representation {
            id: representation.id,
            group: GroupKey::Layer(representation.layer),
            derived: representation.derived,
            score: representation.score,
        })
        .collect();
    let groups = pairs_needed(&selection, protocol).expect("fixture protocol is valid");
    let distance = |metric: &&str, first: i64, second: i64| {
        let value = fixture_distance(metric, &matrices[&first], &matrices[&second]);
        Some(DistanceOutcome::Value(value))
    };
    let got = results(&groups, metrics, distance, None);
    metrics
        .iter()
        .map(|metric| {
            let expected = &fixture.results[*metric][case];
            let what = format!("{metric}/{case}");
            let deviation = compare(&got[metric], expected, fixture.tolerance.abs, &what);
            (metric.to_string(), deviation)
        })
        .collect()
}

/// Largest absolute deviation between a metric's result and the fixture; panics past tolerance
/// or on any count or reference mismatch.
fn compare(got: &MetricResult, expected: &ExpectedCase, tolerance: f64, what: &str) -> f64 {
    assert_eq!(
        got.n_groups,
        expected.groups.len(),
        "{what}: number of groups"
    );
    assert!(!got.partial, "{what}: every distance is present");
    let mut deviation = deviation(&got.statistics, &expected.mean, &format!("{what} mean"));
    for (layer, want) in &expected.groups {
        let layer: i64 = layer.parse().expect("fixture groups are layers");
        let group = got
            .groups
            .iter()
            .find(|group| group.group == GroupKey::Layer(layer))
            .unwrap_or_else(|| panic!("{what}: group {layer} is missing"));
        let where_ = format!("{what} layer {layer}");
        assert_eq!(group.reference, want.reference, "{where_}: reference");
        assert_eq!(group.n_pairs, want.n_pairs, "{where_}: n_pairs");
        assert_eq!(group.n_refused, want.n_refused, "{where_}: n_refused");
        deviation = deviation.max(self::deviation(
            &group.statistics,
            &want.statistics,
            &where_,
        ));
    }
    assert!(
        deviation <= tolerance,
        "{what}: deviation {deviation:e} exceeds {tolerance:e}"
    );
    deviation
}

fn deviation(got: &Statistics, want: &ExpectedStatistics, what: &str) -> f64 {
    let correlations = got
        .correlations
        .unwrap_or_else(|reason| panic!("{what}: {reason}"));
    let bad_frac = got
        .bad_frac
        .unwrap_or_else(|reason| panic!("{what}: {reason}"));
    [
        (correlations.spearman, want.spearman),
        (correlations.spearman_p, want.spearman_p),
        (correlations.kendall, want.kendall),
        (correlations.kendall_p, want.kendall_p),
        (bad_frac, want.bad_frac),
    ]
    .iter()
    .map(|(got, want)| (got - want).abs())
    .fold(0.0, f64::max)
}

#[test]
fn protocols_match_the_fixture_for_cka_and_procrustes() {
    let fixture = load_fixture();
    let matrices: HashMap<i64, Array2<f64>> = fixture
        .representations
        .iter()
        .map(|representation| (representation.id, prepare(&representation.file)))
        .collect();
    for (case, protocol, include_derived) in cases() {
        let deviations = check_protocol(
            &fixture,
            &matrices,
            case,
            &protocol,
            include_derived,
            &CHECKED_METRICS,
        );
        for (metric, deviation) in deviations {
            println!("{case} {metric}: max |deviation| {deviation:.3e}");
        }
    }
}

#[test]
fn fixture_holds_every_metric_for_every_protocol_case() {
    let fixture = load_fixture();
    for metric in ["cka", "procrustes", "pwcca"] {
        for (case, _, _) in cases() {
            let expected = &fixture.results[metric][case];
            assert_eq!(expected.groups.len(), 3, "{metric}/{case}");
        }
    }
}
