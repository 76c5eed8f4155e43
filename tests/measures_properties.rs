//! Properties of the measures of README, Measures (docs/MEASURES.md): d(X, X) = 0, symmetry where
//! marked, the invariances each definition claims and, for contrast, one it does not have,
//! constant columns and ties; and the metric identifiers.

use std::collections::BTreeMap;

use ndarray::{Array2, Axis, concatenate, s};
use ndarray_linalg::QR;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use simbench::metrics::{CostClass, Metric, MetricKind, Prepared, compare};
use simbench::synthetic::{SignalSpec, gaussian, related_pair};

const SPEC: SignalSpec = SignalSpec {
    n: 150,
    d: 10,
    rank: 7,
    noise: 0.3,
};

/// The G- and R-class measures beyond the paper's ten, from the one list of kinds.
fn mine() -> impl Iterator<Item = Metric> {
    MetricKind::ALL
        .into_iter()
        .map(Metric::of)
        .filter(|metric| {
            !Metric::PAPER.contains(metric)
                && metric.kind().cost_class() != CostClass::Neighbourhood
        })
}

fn metric(text: &str) -> Metric {
    text.parse()
        .unwrap_or_else(|error| panic!("{text}: {error}"))
}

fn all_mine() -> Vec<Metric> {
    let mut metrics: Vec<Metric> = mine().collect();
    metrics.push(metric("gulp(lambda=0.1)"));
    metrics
}

fn values(x: &Array2<f64>, y: &Array2<f64>, metrics: &[Metric]) -> BTreeMap<Metric, f64> {
    let x = Prepared::new(x.clone()).expect("valid x");
    let y = Prepared::new(y.clone()).expect("valid y");
    compare(&x, &y, metrics)
        .into_iter()
        .map(|(metric, outcome)| {
            (
                metric,
                outcome.unwrap_or_else(|error| panic!("{metric}: {error}")),
            )
        })
        .collect()
}

fn value(x: &Array2<f64>, y: &Array2<f64>, text: &str) -> f64 {
    values(x, y, &[metric(text)])[&metric(text)]
}

fn assert_close(label: &str, got: f64, want: f64, tolerance: f64) {
    assert!(
        (got - want).abs() <= tolerance * (1.0 + want.abs()),
        "{label}: got {got}, want {want}"
    );
}

fn assert_differs(label: &str, got: f64, other: f64) {
    assert!(
        (got - other).abs() > 1e-4 * (1.0 + other.abs()),
        "{label}: {got} and {other} should differ"
    );
}

fn random_orthogonal(d: usize, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    gaussian(d, d, &mut rng).qr().expect("QR").0
}

fn random_invertible(d: usize, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    gaussian(d, d, &mut rng) + Array2::<f64>::eye(d) * (d as f64).sqrt() * 2.0
}

/// A pair with non-zero column means, so that the translation-sensitive measures see them.
fn offset_pair(seed: u64) -> (Array2<f64>, Array2<f64>) {
    let (x, y) = related_pair(&SPEC, 0.6, seed);
    (x + 0.7, y - 0.4)
}

#[test]
fn a_representation_is_at_distance_zero_from_itself() {
    let (x, _) = offset_pair(1);
    for (metric, got) in values(&x, &x, &all_mine()) {
        let tolerance = match metric.kind() {
            // Square roots of differences of nearly equal sums.
            MetricKind::ProcrustesSizeShape | MetricKind::PermutationProcrustes => 1e-6,
            _ => 1e-10,
        };
        assert!(got.abs() <= tolerance, "{metric}: d(X, X) = {got}");
    }
}

#[test]
fn symmetric_measures_are_symmetric_and_linear_regression_is_not() {
    let (x, y) = offset_pair(2);
    let y = y.slice(s![.., ..7]).to_owned();
    let metrics = all_mine();
    let (forward, backward) = (values(&x, &y, &metrics), values(&y, &x, &metrics));
    for metric in &metrics {
        if metric.is_symmetric() {
            assert_close(&metric.name(), forward[metric], backward[metric], 1e-10);
        } else {
            assert_differs(&metric.name(), forward[metric], backward[metric]);
        }
    }
}

#[test]
fn column_correlation_matching_ignores_column_order_and_affine_columns_but_not_rotation() {
    let (x, y) = offset_pair(3);
    let mut shuffled = y.clone();
    for (column, source) in [3, 0, 9, 1, 7, 2, 8, 4, 6, 5].into_iter().enumerate() {
        let scale = 0.5 + column as f64;
        shuffled
            .column_mut(column)
            .assign(&(&y.column(source) * scale + column as f64));
    }
    let rotated = y.dot(&random_orthogonal(10, 4));
    for name in ["hard_corr_match", "soft_corr_match"] {
        let plain = value(&x, &y, name);
        assert_close(name, value(&x, &shuffled, name), plain, 1e-10);
        assert_differs(name, value(&x, &rotated, name), plain);
    }
    let plain = value(&x, &y, "permutation_procrustes");
    let permuted = y.select(Axis(1), &[3, 0, 9, 1, 7, 2, 8, 4, 6, 5]);
    assert_close(
        "permutation",
        value(&x, &permuted, "permutation_procrustes"),
        plain,
        1e-10,
    );
    assert_differs(
        "permutation",
        value(&x, &rotated, "permutation_procrustes"),
        plain,
    );
}

#[test]
fn subspace_measures_keep_their_invariances() {
    let (x, y) = offset_pair(5);
    let mixing = random_invertible(10, 6);
    let rotation = random_orthogonal(10, 7);
    // eigenspace_overlap: any invertible map of the raw columns; not a translation.
    let plain = value(&x, &y, "eigenspace_overlap");
    let wide = concatenate(
        Axis(1),
        &[
            x.view(),
            gaussian(150, 30, &mut ChaCha8Rng::seed_from_u64(8)).view(),
        ],
    )
    .unwrap();
    assert_close(
        "eos",
        value(&x.dot(&mixing), &y, "eigenspace_overlap"),
        plain,
        1e-8,
    );
    assert_differs("eos", value(&wide, &y, "eigenspace_overlap"), plain);
    // gulp: rotation, isotropic scale, translation; at lambda > 0 not an anisotropic scale.
    for name in ["gulp", "gulp(lambda=0.1)"] {
        let plain = value(&x, &y, name);
        let moved = x.dot(&rotation) * 3.0 + 5.0;
        assert_close(name, value(&moved, &y, name), plain, 1e-8);
    }
    let mut stretched = x.clone();
    stretched.column_mut(0).mapv_inplace(|value| value * 10.0);
    let plain = value(&x, &y, "gulp(lambda=0.1)");
    assert_differs(
        "gulp(lambda=0.1)",
        value(&stretched, &y, "gulp(lambda=0.1)"),
        plain,
    );
    // linear_regression: any invertible map of the predictor Y; not an anisotropic scale of X.
    let plain = value(&x, &y, "linear_regression");
    assert_close(
        "regression",
        value(&x, &(y.dot(&mixing) + 2.0), "linear_regression"),
        plain,
        1e-8,
    );
    assert_differs(
        "regression",
        value(&stretched, &y, "linear_regression"),
        plain,
    );
}

#[test]
fn raw_measures_see_translations_and_keep_rotations() {
    let (x, y) = offset_pair(9);
    let rotation = random_orthogonal(10, 10);
    let rotated = x.dot(&rotation);
    let shifted = &x + 1.5;
    for name in ["aligned_cosine", "magnitude_diff", "concentricity_diff"] {
        let plain = value(&x, &y, name);
        assert_close(name, value(&rotated, &y, name), plain, 1e-9);
        assert_differs(name, value(&shifted, &y, name), plain);
    }
    // procrustes_size_shape: rotations and translations, but not a change of scale.
    let plain = value(&x, &y, "procrustes_size_shape");
    assert_close(
        "size_shape",
        value(&(&rotated + 3.0), &y, "procrustes_size_shape"),
        plain,
        1e-9,
    );
    assert_differs(
        "size_shape",
        value(&(&x * 2.0), &y, "procrustes_size_shape"),
        plain,
    );
}

#[test]
fn constant_columns_count_as_uncorrelated_and_tied_columns_match_exactly() {
    let (x, _) = offset_pair(11);
    let doubled = concatenate(Axis(1), &[x.view(), x.view()]).unwrap();
    assert_close(
        "hard ties",
        value(&x, &doubled, "hard_corr_match"),
        0.0,
        1e-12,
    );
    assert_close(
        "soft ties",
        value(&x, &doubled, "soft_corr_match"),
        0.0,
        1e-12,
    );
    // A constant column on one side: in C as a zero row, counted in m = min(d1, d2).
    let mut with_constant = x.clone();
    with_constant.column_mut(4).fill(2.5);
    let hard = value(&with_constant, &x, "hard_corr_match");
    assert_close("hard constant", hard, 1.0 / 10.0, 1e-12);
    let soft = value(&with_constant, &x, "soft_corr_match");
    assert!(
        soft > 0.0 && soft < 0.1,
        "soft with a constant column: {soft}"
    );
}

#[test]
fn concentricity_of_a_centred_matrix_is_refused_with_a_reason() {
    let (x, y) = offset_pair(12);
    let centred = &x - &x.mean_axis(Axis(0)).unwrap();
    let outcome = compare(
        &Prepared::new(centred).unwrap(),
        &Prepared::new(y).unwrap(),
        &[metric("concentricity_diff")],
    );
    let error = outcome[&metric("concentricity_diff")].clone().unwrap_err();
    assert!(error.is_refusal(), "{error}");
    assert!(error.to_string().contains("mean row"), "{error}");
}

#[test]
fn identifiers_have_one_canonical_text() {
    assert_eq!(metric("gulp(lambda=0)").name(), "gulp");
    assert_eq!(metric("gulp").param("lambda"), Some(0.0));
    assert_eq!(
        metric(" gulp( lambda = 0.010 ) ").name(),
        "gulp(lambda=0.01)"
    );
    assert_eq!(metric("gulp(lambda=1e-3)").name(), "gulp(lambda=0.001)");
    assert_eq!(metric("gulp(lambda=2.50)"), metric("gulp(lambda=2.5)"));
    for kind in MetricKind::ALL {
        let parsed = metric(kind.name());
        assert_eq!(
            (parsed.kind(), parsed.name()),
            (kind, kind.name().to_owned())
        );
    }
    let json = serde_json::to_string(&metric("gulp(lambda=0.5)")).unwrap();
    assert_eq!(json, "\"gulp(lambda=0.5)\"");
    assert_eq!(
        serde_json::from_str::<Metric>(&json).unwrap(),
        metric("gulp(lambda=0.5)")
    );
    let list = simbench::metrics::parse_metric_list("cka, gulp(lambda=0.1),gulp,cka").unwrap();
    assert_eq!(
        list.iter().map(|m| m.name()).collect::<Vec<_>>(),
        ["cka", "gulp(lambda=0.1)", "gulp"]
    );
}

#[test]
fn unknown_parameters_and_out_of_range_values_are_refused_naming_the_valid_ones() {
    let refusal = |text: &str| text.parse::<Metric>().unwrap_err().to_string();
    let unknown = refusal("gulp(alpha=1)");
    assert!(
        unknown.contains("alpha") && unknown.contains("lambda"),
        "{unknown}"
    );
    let none = refusal("cka(k=3)");
    assert!(none.contains("takes none"), "{none}");
    let negative = refusal("gulp(lambda=-1)");
    assert!(negative.contains(">= 0"), "{negative}");
    for text in [
        "gulp(lambda=nan)",
        "gulp(lambda=inf)",
        "gulp(lambda=x)",
        "gulp(lambda=1",
        "gulp(lambda)",
        "gulp(lambda=1,lambda=2)",
    ] {
        assert!(text.parse::<Metric>().is_err(), "{text} parses");
    }
    let name = refusal("jaccard_knnn");
    assert!(
        name.contains("hard_corr_match") && name.contains("cka"),
        "{name}"
    );
}

#[test]
fn memory_costs_are_known_before_allocating_and_grow_with_the_input() {
    for kind in MetricKind::ALL {
        let small = kind.memory_bytes(100, 10, 10);
        let large = kind.memory_bytes(10_000, 768, 768);
        assert!(
            small > 0 && large > small,
            "{}: {small} then {large}",
            kind.name()
        );
    }
    let rsa = MetricKind::Rsa.memory_bytes(40_000, 4, 4);
    assert!(
        rsa > 10 << 30,
        "rsa at n = 40000 needs the n x n ranks: {rsa}"
    );
    let default = simbench::config::WorkerConfig::default().measure_memory_budget();
    assert_eq!(default.bytes, simbench::config::physical_memory_bytes() / 4);
}
