//! The N-class measures of docs/MEASURES.md (neighbourhood and kernel measures) on every golden
//! case of tests/fixtures/measures/expected.json in both argument orders, and their properties:
//! d(X, X) = 0, the invariances each definition claims and one it does not, symmetry, the
//! lower-index tie rule, constant columns and refusals.

mod common;

use common::measures as golden;
use ndarray::{Array1, Array2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use simbench::metrics::MetricError;
use simbench::metrics::kernel::{self, Distances, RbfKernel, Uniformity};
use simbench::metrics::neighbourhood::{self, Neighbourhoods};

const DEFAULT_K: usize = 10;

/// The measures of this file, each with the parameter value its identifier names.
#[derive(Clone, Copy, Debug)]
enum Measure {
    DistanceCorrelation,
    JaccardKnn(usize),
    RankSimilarity(usize),
    SecondOrderCosine(usize),
    RsmNormDiff,
    UniformityDiff(f64),
    Cknna(usize),
    RbfCka(f64),
}

const ALL: [Measure; 8] = [
    Measure::DistanceCorrelation,
    Measure::JaccardKnn(DEFAULT_K),
    Measure::RankSimilarity(DEFAULT_K),
    Measure::SecondOrderCosine(DEFAULT_K),
    Measure::RsmNormDiff,
    Measure::UniformityDiff(2.0),
    Measure::Cknna(DEFAULT_K),
    Measure::RbfCka(1.0),
];

impl Measure {
    /// The measure an identifier of expected.json names, `None` for the other classes.
    fn from_identifier(identifier: &str) -> Option<Measure> {
        let (name, parameter) = match identifier.split_once('(') {
            Some((name, rest)) => {
                let (key, value) = rest
                    .trim_end_matches(')')
                    .split_once('=')
                    .expect("a parameter is key=value");
                (name, Some((key, value)))
            }
            None => (identifier, None),
        };
        let number = |key: &str, default: f64| match parameter {
            Some((given, value)) => {
                assert_eq!(given, key, "{identifier}: unexpected parameter");
                value.parse::<f64>().expect("a numeric parameter")
            }
            None => default,
        };
        let k = |default: usize| number("k", default as f64) as usize;
        Some(match name {
            "distance_correlation" => Measure::DistanceCorrelation,
            "jaccard_knn" => Measure::JaccardKnn(k(DEFAULT_K)),
            "rank_similarity" => Measure::RankSimilarity(k(DEFAULT_K)),
            "second_order_cosine" => Measure::SecondOrderCosine(k(DEFAULT_K)),
            "rsm_norm_diff" => Measure::RsmNormDiff,
            "uniformity_diff" => Measure::UniformityDiff(number("t", 2.0)),
            "cknna" => Measure::Cknna(k(DEFAULT_K)),
            "rbf_cka" => Measure::RbfCka(number("sigma_frac", 1.0)),
            _ => return None,
        })
    }

    fn is_symmetric(self) -> bool {
        !matches!(self, Measure::Cknna(_))
    }

    fn is_neighbourhood(self) -> bool {
        matches!(
            self,
            Measure::JaccardKnn(_)
                | Measure::RankSimilarity(_)
                | Measure::SecondOrderCosine(_)
                | Measure::Cknna(_)
        )
    }
}

/// One representation prepared as the engine would: neighbour lists at the largest k asked for,
/// reused for smaller k, and distances.
struct Prepared {
    /// Lists at each k asked for, largest first, made only until one succeeds: a smaller k
    /// reuses the first list long enough, and a refused k keeps its refusal.
    lists: Vec<(usize, Result<Neighbourhoods, MetricError>)>,
    distances: Distances,
}

/// The k of the neighbourhood identifiers in expected.json, largest first.
const KS: [usize; 2] = [10, 5];

impl Prepared {
    fn new(x: Array2<f64>) -> Prepared {
        let mut lists = Vec::new();
        for k in KS {
            let prepared = Neighbourhoods::new(x.view(), k);
            let done = prepared.is_ok();
            lists.push((k, prepared));
            if done {
                break;
            }
        }
        Prepared {
            lists,
            distances: Distances::new(x.view()).expect("valid rows"),
        }
    }

    fn neighbourhoods(&self, k: usize) -> Result<&Neighbourhoods, MetricError> {
        let (_, prepared) = self
            .lists
            .iter()
            .find(|(prepared_k, prepared)| {
                *prepared_k == k || (prepared.is_ok() && *prepared_k > k)
            })
            .expect("every k of the identifiers is prepared");
        prepared.as_ref().map_err(Clone::clone)
    }
}

fn evaluate(measure: Measure, x: &Prepared, y: &Prepared) -> Result<f64, MetricError> {
    let lists = |k| -> Result<(&Neighbourhoods, &Neighbourhoods), MetricError> {
        Ok((x.neighbourhoods(k)?, y.neighbourhoods(k)?))
    };
    match measure {
        Measure::DistanceCorrelation => kernel::distance_correlation(&x.distances, &y.distances),
        Measure::RsmNormDiff => kernel::rsm_norm_diff(&x.distances, &y.distances),
        Measure::UniformityDiff(t) => kernel::uniformity_diff(
            &Uniformity::new(&x.distances, t)?,
            &Uniformity::new(&y.distances, t)?,
        ),
        Measure::RbfCka(theta) => kernel::rbf_cka(
            &RbfKernel::new(&x.distances, theta)?,
            &RbfKernel::new(&y.distances, theta)?,
        ),
        Measure::JaccardKnn(k) => {
            let (a, b) = lists(k)?;
            neighbourhood::jaccard_knn(a, b, k)
        }
        Measure::RankSimilarity(k) => {
            let (a, b) = lists(k)?;
            neighbourhood::rank_similarity(a, b, k)
        }
        Measure::SecondOrderCosine(k) => {
            let (a, b) = lists(k)?;
            neighbourhood::second_order_cosine(a, b, k)
        }
        Measure::Cknna(k) => {
            let (a, b) = lists(k)?;
            neighbourhood::cknna(a, b, k)
        }
    }
}

#[test]
fn every_measure_matches_the_golden_values_in_both_orders() {
    let document = golden::document();
    let identifiers: Vec<(&str, Measure)> = document["measures"]
        .as_array()
        .expect("a measures array")
        .iter()
        .filter_map(|identifier| {
            let identifier = identifier.as_str().expect("identifiers are strings");
            Measure::from_identifier(identifier).map(|measure| (identifier, measure))
        })
        .collect();
    assert_eq!(
        identifiers.len(),
        11,
        "the N-class identifiers of expected.json"
    );
    let cases = document["cases"].as_array().expect("a cases array");
    assert_eq!(cases.len(), 11);
    let mut failures = Vec::new();
    let mut refusals = 0;
    for case in cases {
        let name = case["name"].as_str().expect("a case name");
        let x = Prepared::new(golden::matrix(&case["x"]));
        let y = Prepared::new(golden::matrix(&case["y"]));
        for (order, expected, (first, second)) in [
            ("", &case["expected"], (&x, &y)),
            (" swapped", &case["expected_swapped"], (&y, &x)),
        ] {
            for &(identifier, measure) in &identifiers {
                let label = format!("{name}{order} {identifier}");
                let outcome = match evaluate(measure, first, second) {
                    Ok(value) => Ok(value),
                    Err(error) if error.is_refusal() => Err(error.to_string()),
                    Err(error) => {
                        failures.push(format!("{label}: not a refusal: {error}"));
                        continue;
                    }
                };
                let want = &expected[identifier];
                refusals += usize::from(want.is_null() && outcome.is_err());
                let outcome = outcome.as_ref().copied().map_err(String::as_str);
                if let Some(wrong) = golden::mismatch(want, outcome) {
                    failures.push(format!("{label}: {wrong}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        refusals, 8,
        "the tiny case refuses k = 10 for four measures, both orders"
    );
}

fn gaussian(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((n, d), || StandardNormal.sample(&mut rng))
}

/// Y = tanh of a random mix of X plus noise: related to X, not a transform of it.
fn related(x: &Array2<f64>, d2: usize, seed: u64) -> Array2<f64> {
    let mix = gaussian(x.ncols(), d2, seed) / (x.ncols() as f64).sqrt();
    let noise = gaussian(x.nrows(), d2, seed + 1) * 0.3;
    x.dot(&mix).mapv(f64::tanh) + noise
}

/// A d x d orthogonal matrix that is not a permutation: a product of two Householder reflections.
fn orthogonal(d: usize, seed: u64) -> Array2<f64> {
    let reflection = |seed| {
        let v = gaussian(d, 1, seed);
        let v = &v / v.iter().map(|a| a * a).sum::<f64>().sqrt();
        Array2::<f64>::eye(d) - v.dot(&v.t()) * 2.0
    };
    reflection(seed).dot(&reflection(seed + 1))
}

fn all_values(x: &Array2<f64>, y: &Array2<f64>) -> Vec<(Measure, f64)> {
    let (a, b) = (Prepared::new(x.clone()), Prepared::new(y.clone()));
    ALL.iter()
        .map(|&measure| {
            let value = evaluate(measure, &a, &b)
                .unwrap_or_else(|error| panic!("{measure:?} refused: {error}"));
            (measure, value)
        })
        .collect()
}

fn assert_unchanged(label: &str, before: &[(Measure, f64)], after: &[(Measure, f64)]) {
    for (&(measure, want), &(_, got)) in before.iter().zip(after) {
        assert!(
            (got - want).abs() <= 1e-9 * (1.0 + want.abs()),
            "{measure:?} under {label}: {got} vs {want}"
        );
    }
}

#[test]
fn a_representation_is_at_distance_zero_from_itself() {
    let x = related(&gaussian(120, 10, 1), 16, 2);
    for (measure, value) in all_values(&x, &x) {
        match measure {
            // 1 - h/(h + 1e-6) for the self-HSIC h: the definition's guard keeps it above 0.
            Measure::Cknna(_) => assert!((0.0..1e-4).contains(&value), "{measure:?}: {value}"),
            _ => assert!(value.abs() <= 1e-12, "{measure:?}: d(X, X) = {value}"),
        }
    }
}

#[test]
fn measures_marked_symmetric_are_and_cknna_is_not() {
    let x = gaussian(150, 12, 3);
    let y = related(&x, 20, 4);
    let forward = all_values(&x, &y);
    let backward = all_values(&y, &x);
    for (&(measure, there), &(_, back)) in forward.iter().zip(&backward) {
        if measure.is_symmetric() {
            assert!(
                (there - back).abs() <= 1e-12 * (1.0 + there.abs()),
                "{measure:?}"
            );
        } else {
            assert!(
                (there - back).abs() > 1e-9,
                "{measure:?}: {there} vs {back}"
            );
        }
    }
}

#[test]
fn every_measure_is_invariant_to_orthogonal_maps_and_the_cosine_ones_to_scale() {
    let x = gaussian(140, 12, 5);
    let y = related(&x, 9, 6);
    let before = all_values(&x, &y);
    let rotated = x.dot(&orthogonal(12, 7));
    assert_unchanged("a rotation of X", &before, &all_values(&rotated, &y));

    // Cosine neighbourhoods ignore any positive scale of a row; distance correlation and rbf_cka
    // ignore one common scale; rsm_norm_diff and uniformity_diff do not.
    let rows_scaled =
        &x * &Array1::from_shape_fn(140, |i| 0.5 + (i % 7) as f64).insert_axis(Axis(1));
    let scaled_values = all_values(&rows_scaled, &y);
    for (&(measure, want), &(_, got)) in before.iter().zip(&scaled_values) {
        if measure.is_neighbourhood() {
            assert!((got - want).abs() <= 1e-9, "{measure:?} under row scales");
        }
    }
    let scaled_values = all_values(&(&x * 3.0), &y);
    for (&(measure, want), &(_, got)) in before.iter().zip(&scaled_values) {
        let changes = matches!(measure, Measure::RsmNormDiff | Measure::UniformityDiff(_));
        assert_eq!(
            (got - want).abs() > 1e-6,
            changes,
            "{measure:?} under X -> 3X: {got} vs {want}"
        );
    }
}

#[test]
fn distance_measures_ignore_translation_and_constant_columns_and_cosine_ones_do_not() {
    let x = gaussian(130, 10, 8);
    let y = related(&x, 14, 9);
    let before = all_values(&x, &y);
    let shift = Array1::from_shape_fn(10, |j| 2.0 + j as f64);
    let mut with_constant = Array2::from_elem((130, 11), 5.0);
    with_constant.slice_mut(ndarray::s![.., ..10]).assign(&x);
    for (label, moved) in [
        ("a translation of X", &x + &shift),
        ("a constant column added to X", with_constant),
    ] {
        let after = all_values(&moved, &y);
        for (&(measure, want), &(_, got)) in before.iter().zip(&after) {
            if measure.is_neighbourhood() {
                assert!(
                    (got - want).abs() > 1e-6,
                    "{measure:?} unchanged by {label}"
                );
            } else {
                assert!(
                    (got - want).abs() <= 1e-8 * (1.0 + want.abs()),
                    "{measure:?} under {label}: {got} vs {want}"
                );
            }
        }
    }
}

#[test]
fn equal_rows_tie_and_the_lower_index_wins_whatever_the_rounding() {
    // 400 rows, every fifth a copy of an earlier row (some of them scaled by 2): each row's list
    // must take a copy only after the row it copies, whichever way a GEMM rounds the two.
    let mut x = gaussian(400, 24, 10);
    for i in (5..400).step_by(5) {
        let original = x.row(i / 3).to_owned();
        let scale = if i % 2 == 0 { 2.0 } else { 1.0 };
        x.row_mut(i).assign(&(&original * scale));
    }
    let lists = Neighbourhoods::new(x.view(), 12).expect("valid rows");
    let mut ties_seen = 0;
    for row in 0..400 {
        let neighbours = lists.neighbours(row, 12);
        for i in (5..400).step_by(5) {
            let original = i / 3;
            if row == original || row == i {
                continue;
            }
            let copy_at = neighbours.iter().position(|&j| j as usize == i);
            let original_at = neighbours.iter().position(|&j| j as usize == original);
            if let Some(copy_at) = copy_at {
                ties_seen += 1;
                let original_at = original_at.unwrap_or_else(|| {
                    panic!("row {row} keeps copy {i} but not its original {original}")
                });
                assert_eq!(original_at + 1, copy_at, "row {row}: tie not adjacent");
            }
        }
    }
    assert!(
        ties_seen > 50,
        "the copies are near enough to be neighbours"
    );
    // A copy is its original's nearest neighbour: similarity 1, the highest possible.
    assert_eq!(lists.neighbours(5 / 3, 1), [5]);
    // And the lists at a smaller k are the first entries of the longer ones.
    let short = Neighbourhoods::new(x.view(), 4).expect("valid rows");
    for row in 0..400 {
        assert_eq!(short.neighbours(row, 4), &lists.neighbours(row, 12)[..4]);
    }
}

#[test]
fn degenerate_inputs_are_refused_with_a_reason() {
    let x = gaussian(30, 4, 11);
    let mut zero_row = x.clone();
    zero_row.row_mut(7).fill(0.0);
    let refusal = |outcome: Result<Neighbourhoods, MetricError>| match outcome {
        Err(error) => error,
        Ok(_) => panic!("expected a refusal"),
    };
    let error = refusal(Neighbourhoods::new(zero_row.view(), 5));
    assert_eq!(error.code(), "zero_row");
    assert!(error.to_string().contains("row 7"));
    let error = refusal(Neighbourhoods::new(x.view(), 30));
    assert!(
        error.is_refusal() && error.to_string().contains("n = 30"),
        "{error}"
    );
    assert!(Neighbourhoods::new(x.view(), 29).is_ok());
    assert_eq!(
        refusal(Neighbourhoods::new(x.view(), 0)).code(),
        "parameter_out_of_range"
    );

    let lists = Neighbourhoods::new(x.view(), 5).expect("valid rows");
    let error = neighbourhood::jaccard_knn(&lists, &lists, 6).expect_err("k above the prepared");
    assert_eq!(error.code(), "neighbours_not_prepared");
    let three = gaussian(3, 4, 12);
    let small = Neighbourhoods::new(three.view(), 2).expect("valid rows");
    let error = neighbourhood::cknna(&small, &small, 2).expect_err("n < 4");
    assert!(
        error.is_refusal() && error.to_string().contains("n = 3"),
        "{error}"
    );

    let identical = Array2::from_elem((20, 3), 1.5);
    let distances = Distances::new(identical.view()).expect("valid rows");
    let error = kernel::distance_correlation(&distances, &distances).expect_err("identical rows");
    assert!(
        error.is_refusal() && error.code() == "identical_rows",
        "{error}"
    );
    match RbfKernel::new(&distances, 1.0) {
        Err(error) => assert!(error.is_refusal() && error.code() == "zero_median_distance"),
        Ok(_) => panic!("a zero median must be refused"),
    }
    let distances = Distances::new(x.view()).expect("valid rows");
    for t in [0.0, -1.0, f64::NAN] {
        assert!(matches!(
            Uniformity::new(&distances, t),
            Err(MetricError::ParameterOutOfRange { parameter: "t", .. })
        ));
    }
    assert!(matches!(
        RbfKernel::new(&distances, 0.0),
        Err(MetricError::ParameterOutOfRange {
            parameter: "sigma_frac",
            ..
        })
    ));
    let other = Distances::new(gaussian(31, 4, 13).view()).expect("valid rows");
    assert_eq!(
        kernel::rsm_norm_diff(&distances, &other)
            .expect_err("row counts differ")
            .code(),
        "row_count_mismatch"
    );
}

#[test]
fn memory_estimates_cover_what_the_prepared_parts_hold() {
    let x = gaussian(300, 16, 14);
    let lists = Neighbourhoods::new(x.view(), 10).expect("valid rows");
    assert!(lists.held_bytes() <= Neighbourhoods::memory_bytes(300, 16, 10));
    let distances = Distances::new(x.view()).expect("valid rows");
    assert!(distances.held_bytes() <= Distances::memory_bytes(300, 16));
    let kernel = RbfKernel::new(&distances, 1.0).expect("valid rows");
    assert!(kernel.held_bytes() <= RbfKernel::memory_bytes(300));
    // The n x n parts dominate at n = 10 000, as their documentation states.
    assert_eq!(Distances::memory_bytes(10_000, 768) / 1_000_000, 862);
    assert_eq!(
        Neighbourhoods::memory_bytes(10_000, 768, 10) / 1_000_000,
        83
    );
    assert_eq!(kernel::rsm_norm_diff_memory_bytes(10_000) / 1_000_000, 836);
}

/// Euclidean distances by explicit differences, as the definition reads.
fn plain_distances(x: &Array2<f64>) -> Array2<f64> {
    let n = x.nrows();
    Array2::from_shape_fn((n, n), |(i, j)| {
        let difference = &x.row(i) - &x.row(j);
        difference.dot(&difference).sqrt()
    })
}

#[test]
fn rsm_norm_diff_on_large_matrices_agrees_with_all_eigenvalues_from_lapack() {
    // 700 rows: above the size where the spectral norm comes from Lanczos instead of dsyevd.
    for seed in [15, 17] {
        let x = gaussian(700, 6, seed);
        let y = related(&x, 9, seed + 1);
        let got = kernel::rsm_norm_diff(
            &Distances::new(x.view()).expect("valid rows"),
            &Distances::new(y.view()).expect("valid rows"),
        )
        .expect("a spectral norm");
        let difference = plain_distances(&x) - plain_distances(&y);
        let eigenvalues =
            simbench::metrics::linalg::symmetric_eigenvalues(difference).expect("dsyevd");
        let want = eigenvalues.iter().fold(0.0f64, |a, b| a.max(b.abs()));
        assert!((got - want).abs() <= 1e-9 * want, "{got} vs {want}");
    }
}
