//! The benchmark protocols against the golden results in `tests/fixtures/benchmark/` (see its
//! README): 36 representations, three protocols, expected per-group statistics and their means.
//!
//! The fixture holds no distances; they come from the metrics engine (`simbench::metrics`), so
//! this checks the engine and the protocols together, for the paper's trio.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;
use simbench::benchmark::{
    CompareTo, DistanceOutcome, FunctionalSource, GroupBy, GroupKey, MetricResult, Protocol,
    Representation, Statistics, pairs_needed, results,
};
use simbench::metrics::{Metric, Prepared, compare as distances};

const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/benchmark");

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

fn prepare(file: &str) -> Prepared {
    let path = Path::new(FIXTURE_DIR).join(file);
    let matrix = simbench::matrix::read_matrix_file(&path, None)
        .expect("fixture matrix decodes")
        .to_f64();
    Prepared::new(matrix).expect("fixture matrices are valid representations")
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
                ordered: false,
            },
            false,
        ),
    ]
}

/// Runs one protocol case for `metrics`, with distances from the metrics engine on the prepared
/// representations, and returns per metric the largest absolute deviation from the fixture over every
/// group statistic and every mean; panics on any mismatch.
fn check_protocol(
    fixture: &Fixture,
    prepared: &HashMap<i64, Prepared>,
    case: &str,
    protocol: &Protocol,
    include_derived: bool,
    metrics: &[Metric],
) -> BTreeMap<Metric, f64> {
    let selection: Vec<Representation> = fixture
        .representations
        .iter()
        .filter(|representation| include_derived || !representation.derived)
        .map(|representation| Representation {
            id: representation.id,
            group: GroupKey::Layer(representation.layer),
            derived: representation.derived,
            score: Some(representation.score),
            model: representation.id,
        })
        .collect();
    let groups = pairs_needed(&selection, protocol, FunctionalSource::Scores)
        .expect("fixture protocol is valid");
    let distance = |metric: &Metric, first: i64, second: i64| {
        let outcome = distances(&prepared[&first], &prepared[&second], &[*metric]);
        Some(match &outcome[metric] {
            Ok(value) => DistanceOutcome::Value(*value),
            Err(_) => DistanceOutcome::Refused,
        })
    };
    let got = results(&groups, metrics, distance, None, None).metrics;
    metrics
        .iter()
        .map(|metric| {
            let expected = &fixture.results[&metric.name()][case];
            let what = format!("{metric}/{case}");
            let deviation = compare(&got[metric], expected, fixture.tolerance.abs, &what);
            (*metric, deviation)
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
        .as_ref()
        .unwrap_or_else(|reason| panic!("{what}: {reason}"));
    let bad_frac = *got
        .bad_frac
        .as_ref()
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
fn protocols_match_the_fixture_for_the_paper_trio() {
    let fixture = load_fixture();
    let prepared: HashMap<i64, Prepared> = fixture
        .representations
        .iter()
        .map(|representation| (representation.id, prepare(&representation.file)))
        .collect();
    for (case, protocol, include_derived) in cases() {
        let deviations = check_protocol(
            &fixture,
            &prepared,
            case,
            &protocol,
            include_derived,
            &Metric::PAPER_TRIO,
        );
        for (metric, deviation) in deviations {
            println!("{case} {metric}: max |deviation| {deviation:.3e}");
        }
    }
}
