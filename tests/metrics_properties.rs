//! Properties the metric definitions imply (DESIGN, Metric definitions), on seeded random
//! structured matrices.

use std::collections::BTreeMap;

use ndarray::{Array2, Axis, s};
use ndarray_linalg::{QR, SVD};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use simbench::metrics::{
    Metric, MetricError, MetricKind, Prepared, compare, parse_metric_list, set_blas_threads,
};
use simbench::synthetic::{SignalSpec, drifting_layers, gaussian, related_pair};

const SPEC: SignalSpec = SignalSpec {
    n: 160,
    d: 12,
    rank: 8,
    noise: 0.3,
};

fn prepared(x: &Array2<f64>) -> Prepared {
    Prepared::new(x.clone()).expect("generated matrices are valid")
}

fn values(x: &Array2<f64>, y: &Array2<f64>, metrics: &[Metric]) -> BTreeMap<Metric, f64> {
    compare(&prepared(x), &prepared(y), metrics)
        .into_iter()
        .map(|(metric, outcome)| {
            let value = outcome.unwrap_or_else(|error| panic!("{metric} refused: {error}"));
            (metric, value)
        })
        .collect()
}

fn assert_close(label: &str, got: f64, want: f64, tolerance: f64) {
    assert!(
        (got - want).abs() <= tolerance * (1.0 + want.abs()),
        "{label}: got {got}, want {want}"
    );
}

fn random_orthogonal(d: usize, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (q, _) = gaussian(d, d, &mut rng)
        .qr()
        .expect("QR of a Gaussian matrix");
    q
}

fn random_invertible(d: usize, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    gaussian(d, d, &mut rng) + Array2::<f64>::eye(d) * (d as f64).sqrt() * 2.0
}

#[test]
fn a_representation_is_at_distance_zero_from_itself() {
    let (x, _) = related_pair(&SPEC, 0.5, 1);
    let got = values(&x, &x, &Metric::PAPER);
    for (metric, value) in got {
        // arccos(1 - δ) ≈ sqrt(2δ): rounding δ ≈ 1e-16 in the nuclear norm shows up as ~1e-8.
        let tolerance = if metric == Metric::of(MetricKind::ProcrustesAngular) {
            1e-7
        } else {
            1e-8
        };
        assert!(value.abs() <= tolerance, "d(X, X) = {value} for {metric}");
    }
}

#[test]
fn symmetric_metrics_do_not_depend_on_the_argument_order() {
    let (x, y) = related_pair(&SPEC, 0.6, 2);
    let y = y.slice(s![.., ..9]).to_owned();
    let forward = values(&x, &y, &Metric::PAPER);
    let backward = values(&y, &x, &Metric::PAPER);
    for metric in Metric::PAPER
        .into_iter()
        .filter(|metric| metric.is_symmetric())
    {
        assert_close(&metric.name(), forward[&metric], backward[&metric], 1e-10);
    }
    let (forward, backward) = (
        forward[&Metric::of(MetricKind::Pwcca)],
        backward[&Metric::of(MetricKind::Pwcca)],
    );
    assert!(
        (forward - backward).abs() > 1e-3,
        "pwcca weights come from its first argument"
    );
}

#[test]
fn cka_procrustes_and_svcca_are_invariant_to_orthogonal_maps_and_scaling() {
    let (x, y) = related_pair(&SPEC, 0.6, 3);
    let metrics = [
        Metric::of(MetricKind::Cka),
        Metric::of(MetricKind::CkaDebiased),
        Metric::of(MetricKind::Procrustes),
        Metric::of(MetricKind::ProcrustesAngular),
        Metric::of(MetricKind::Svcca),
        Metric::of(MetricKind::MutualKnn),
    ];
    let plain = values(&x, &y, &metrics);
    let mapped_x = x.dot(&random_orthogonal(SPEC.d, 30)) * 3.5;
    let mapped_y = y.dot(&random_orthogonal(SPEC.d, 31)) * 0.02;
    let mapped = values(&mapped_x, &mapped_y, &metrics);
    for metric in metrics {
        assert_close(&metric.name(), mapped[&metric], plain[&metric], 1e-9);
    }
}

#[test]
fn the_cca_family_is_invariant_to_invertible_linear_maps() {
    let (x, y) = related_pair(&SPEC, 0.6, 4);
    let metrics = [
        Metric::of(MetricKind::CcaMean),
        Metric::of(MetricKind::CcaMeanSq),
        Metric::of(MetricKind::Pwcca),
    ];
    let plain = values(&x, &y, &metrics);
    let mapped_y = y.dot(&random_invertible(SPEC.d, 40));
    let mapped = values(&x, &mapped_y, &metrics);
    for metric in metrics {
        assert_close(&metric.name(), mapped[&metric], plain[&metric], 1e-9);
    }
    // X's own coordinates weight pwcca, so only the correlations survive a map of X.
    let mapped_x = x.dot(&random_invertible(SPEC.d, 41));
    let mapped = values(&mapped_x, &y, &metrics);
    for metric in [
        Metric::of(MetricKind::CcaMean),
        Metric::of(MetricKind::CcaMeanSq),
    ] {
        assert_close(&metric.name(), mapped[&metric], plain[&metric], 1e-9);
    }
}

#[test]
fn procrustes_is_two_minus_twice_the_cosine_of_the_angular_metric() {
    for seed in 5..8 {
        let (x, y) = related_pair(&SPEC, 0.3, seed);
        let got = values(
            &x,
            &y,
            &[
                Metric::of(MetricKind::Procrustes),
                Metric::of(MetricKind::ProcrustesAngular),
            ],
        );
        let from_angle = 2.0 - 2.0 * got[&Metric::of(MetricKind::ProcrustesAngular)].cos();
        assert_close(
            "procrustes",
            got[&Metric::of(MetricKind::Procrustes)],
            from_angle,
            1e-12,
        );
    }
}

#[test]
fn more_related_representations_are_closer_under_every_metric() {
    let spec = SignalSpec {
        n: 300,
        d: 16,
        rank: 6,
        noise: 0.2,
    };
    let (x, close) = related_pair(&spec, 0.95, 9);
    let (_, far) = related_pair(&spec, 0.95, 10);
    let near = values(&x, &close, &Metric::PAPER);
    let unrelated = values(&x, &far, &Metric::PAPER);
    for metric in Metric::PAPER {
        assert!(
            near[&metric] < unrelated[&metric],
            "{metric}: related {} >= unrelated {}",
            near[&metric],
            unrelated[&metric]
        );
    }
}

#[test]
fn layers_drift_away_from_the_first_under_cka() {
    let layers = drifting_layers(&SPEC, 4, 0.4, 11);
    let first = prepared(&layers[0]);
    let distances: Vec<f64> = layers[1..]
        .iter()
        .map(|layer| {
            compare(&first, &prepared(layer), &[Metric::of(MetricKind::Cka)])
                [&Metric::of(MetricKind::Cka)]
                .clone()
        })
        .map(|outcome| outcome.expect("cka accepts any pair"))
        .collect();
    assert!(
        distances.windows(2).all(|pair| pair[0] < pair[1]),
        "{distances:?}"
    );
}

/// Σ σᵢ ‖vᵢ‖₁ over the singular triplets of `a`: the total PWCCA weight of an orthonormal basis of
/// a's column space chosen as its left singular vectors.
fn weight_of_left_singular_basis(a: &Array2<f64>) -> f64 {
    let (_, sigma, vt) = a.svd(false, true).expect("SVD");
    let vt = vt.expect("right singular vectors");
    sigma
        .iter()
        .zip(vt.axis_iter(Axis(0)))
        .map(|(s, v)| s * v.iter().map(|x| x.abs()).sum::<f64>())
        .sum()
}

/// PWCCA of X against Y when col(Y) ⊂ col(X), from its meaning rather than its algorithm: all
/// canonical correlations are 1, the matched directions span col(Y) and the unmatched ones the
/// rest of col(X); fixing each block's basis to the principal directions of X's projection onto
/// it gives weights Σ σᵢ‖vᵢ‖₁ of the projections P_Y X and (I - P_Y) X.
fn pwcca_of_subspace_copy(x: &Array2<f64>, y: &Array2<f64>) -> f64 {
    let centre = |a: &Array2<f64>| a - &a.mean_axis(Axis(0)).expect("rows");
    let (x, y) = (centre(x), centre(y));
    let (basis, sigma, _) = y.svd(true, false).expect("SVD");
    let rank = sigma.iter().filter(|&&s| s > 1e-10 * sigma[0]).count();
    let basis = basis
        .expect("left singular vectors")
        .slice(s![.., ..rank])
        .to_owned();
    let matched = basis.dot(&basis.t().dot(&x));
    let unmatched = &x - &matched;
    let matched_weight = weight_of_left_singular_basis(&matched);
    let unmatched_weight = weight_of_left_singular_basis(&unmatched);
    1.0 - matched_weight / (matched_weight + unmatched_weight)
}

#[test]
fn pwcca_against_a_column_subset_counts_the_unmatched_variance_of_x() {
    let (x, _) = related_pair(&SPEC, 0.0, 12);
    let subset = x.select(Axis(1), &[0, 3, 4, 7, 10]);
    let got = values(&x, &subset, &[Metric::of(MetricKind::Pwcca)])[&Metric::of(MetricKind::Pwcca)];
    assert_close(
        "pwcca(X, subset)",
        got,
        pwcca_of_subspace_copy(&x, &subset),
        1e-9,
    );
    assert!(got > 0.05, "X has variance the subset lacks: {got}");
    let got = values(&subset, &x, &[Metric::of(MetricKind::Pwcca)])[&Metric::of(MetricKind::Pwcca)];
    assert!(
        got.abs() <= 1e-9,
        "the subset lies inside X: pwcca(subset, X) = {got}"
    );
}

#[test]
fn pwcca_against_a_principal_component_copy_counts_the_deleted_components() {
    let (x, _) = related_pair(&SPEC, 0.0, 13);
    let copies = simbench::transform::pca_keep(&x, &[3, 8]).expect("k within 1..=d");
    let mut previous = f64::INFINITY;
    for copy in &copies {
        let got =
            values(&x, copy, &[Metric::of(MetricKind::Pwcca)])[&Metric::of(MetricKind::Pwcca)];
        assert_close(
            "pwcca(X, PC copy)",
            got,
            pwcca_of_subspace_copy(&x, copy),
            1e-9,
        );
        assert!(
            got < previous,
            "keeping more components brings the copy closer"
        );
        previous = got;
        let got =
            values(copy, &x, &[Metric::of(MetricKind::Pwcca)])[&Metric::of(MetricKind::Pwcca)];
        assert!(got.abs() <= 1e-9, "pwcca(PC copy, X) = {got}");
    }
}

fn refusal(x: &Array2<f64>, y: &Array2<f64>, metric: Metric) -> MetricError {
    let outcome = compare(&prepared(x), &prepared(y), &[metric]);
    let error = outcome[&metric]
        .clone()
        .expect_err("the metric refuses this input");
    assert!(error.is_refusal(), "{metric}: {error} is a refusal");
    error
}

#[test]
fn the_cca_family_refuses_fewer_examples_than_features_naming_n_and_d() {
    let spec = SignalSpec {
        n: 20,
        d: 20,
        rank: 5,
        noise: 0.5,
    };
    let (x, y) = related_pair(&spec, 0.5, 14);
    for metric in [
        Metric::of(MetricKind::CcaMean),
        Metric::of(MetricKind::CcaMeanSq),
        Metric::of(MetricKind::Pwcca),
    ] {
        let error = refusal(&x, &y, metric);
        let message = error.to_string();
        assert_eq!(error.code(), "too_few_examples");
        for part in ["n = 20", "d = 20", "cka", "procrustes", &metric.name()] {
            assert!(message.contains(part), "{message:?} lacks {part:?}");
        }
    }
    let others = values(
        &x,
        &y,
        &[
            Metric::of(MetricKind::Svcca),
            Metric::of(MetricKind::Cka),
            Metric::of(MetricKind::Procrustes),
        ],
    );
    assert!(others.values().all(|value| value.is_finite()));
}

#[test]
fn rsa_refuses_fewer_than_three_columns_and_constant_rows() {
    let (x, y) = related_pair(&SPEC, 0.5, 15);
    let narrow = x.slice(s![.., ..2]).to_owned();
    assert_eq!(
        refusal(&narrow, &y, Metric::of(MetricKind::Rsa)).code(),
        "rsa_too_few_columns"
    );
    let mut constant = x.clone();
    constant.row_mut(7).fill(0.25);
    let error = refusal(&constant, &y, Metric::of(MetricKind::Rsa));
    assert_eq!(error.code(), "rsa_constant_row");
    assert!(error.to_string().contains("row 7"));
    assert!(
        values(&constant, &y, &[Metric::of(MetricKind::Cka)])[&Metric::of(MetricKind::Cka)]
            .is_finite()
    );
}

#[test]
fn mutual_knn_refuses_no_more_examples_than_neighbours() {
    let spec = SignalSpec {
        n: 10,
        d: 4,
        rank: 2,
        noise: 0.5,
    };
    let (x, y) = related_pair(&spec, 0.5, 16);
    let error = refusal(&x, &y, Metric::of(MetricKind::MutualKnn));
    assert_eq!(error.code(), "knn_too_few_examples");
    assert!(error.to_string().contains("n = 10"));
}

#[test]
fn invalid_input_is_refused_by_prepared_and_is_not_a_metric_refusal() {
    let (x, y) = related_pair(&SPEC, 0.5, 17);
    let mut with_nan = x.clone();
    with_nan[[3, 5]] = f64::NAN;
    let error = Prepared::new(with_nan).err().expect("NaN is refused");
    assert_eq!(error, MetricError::NonFinite { row: 3, column: 5 });
    assert!(!error.is_refusal());

    let constant_columns = Array2::from_shape_fn((30, 4), |(_, column)| column as f64 * 0.1);
    let error = Prepared::new(constant_columns)
        .err()
        .expect("zero variance is refused");
    assert_eq!(error.code(), "zero_variance");

    let shorter = y.slice(s![..SPEC.n - 1, ..]).to_owned();
    for (metric, outcome) in compare(&prepared(&x), &prepared(&shorter), &Metric::PAPER) {
        let error = outcome.expect_err("different row counts");
        assert_eq!(error.code(), "row_count_mismatch", "{metric}");
    }
}

#[test]
fn lazy_parts_are_computed_only_for_the_metrics_that_need_them() {
    let (x, _) = related_pair(&SPEC, 0.5, 18);
    let x = prepared(&x);
    let eager = x.memory_bytes();
    x.prepare_for(&[
        Metric::of(MetricKind::Cka),
        Metric::of(MetricKind::Procrustes),
    ]);
    assert_eq!(
        x.memory_bytes(),
        eager,
        "cka and procrustes need nothing lazy"
    );
    x.prepare_for(&Metric::PAPER_TRIO);
    let trio = x.memory_bytes();
    assert!(trio > eager, "pwcca needs the whitening");
    x.prepare_for(&Metric::PAPER);
    assert!(
        x.memory_bytes() > trio,
        "rsa and mutual_knn keep ranks and neighbours"
    );
    assert!(eager >= 8 * SPEC.n * SPEC.d, "P(X) alone takes n·d doubles");
}

#[test]
fn prepared_representations_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Prepared>();
    let (x, y) = related_pair(&SPEC, 0.5, 19);
    let (x, y) = (
        std::sync::Arc::new(prepared(&x)),
        std::sync::Arc::new(prepared(&y)),
    );
    let compare_on_two_threads = || {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (x, y) = (x.clone(), y.clone());
                std::thread::spawn(move || compare(&x, &y, &Metric::PAPER))
            })
            .collect();
        let results: Vec<_> = workers
            .into_iter()
            .map(|worker| worker.join().expect("worker finished"))
            .collect();
        (results[0].clone(), results[1].clone())
    };

    // One BLAS thread, as in the worker pool: the same operations, so the same bits.
    set_blas_threads(1);
    let (first, second) = compare_on_two_threads();
    assert_eq!(first, second);

    // With two, one comparison may lower OpenBLAS to one thread for its side-by-side
    // decompositions while the other runs; a product summed over other thread splits differs in
    // the last bits only.
    set_blas_threads(2);
    let (first, second) = compare_on_two_threads();
    for metric in Metric::PAPER {
        let (a, b) = (
            first[&metric].clone().expect("value"),
            second[&metric].clone().expect("value"),
        );
        assert_close(&format!("{metric} on two threads"), a, b, 1e-12);
    }
}

#[test]
fn metric_names_round_trip_and_unknown_names_list_the_valid_ones() {
    for metric in Metric::PAPER {
        assert_eq!(metric.name().parse::<Metric>(), Ok(metric));
        let json = serde_json::to_string(&metric).expect("serialises");
        assert_eq!(json, format!("\"{}\"", metric.name()));
    }
    assert_eq!(
        Metric::PAPER
            .iter()
            .filter(|metric| !metric.is_symmetric())
            .collect::<Vec<_>>(),
        [&Metric::of(MetricKind::Pwcca)]
    );
    assert_eq!(
        parse_metric_list("cka, pwcca,cka,procrustes"),
        Ok(vec![
            Metric::of(MetricKind::Cka),
            Metric::of(MetricKind::Pwcca),
            Metric::of(MetricKind::Procrustes)
        ])
    );
    let message = parse_metric_list("cka,cca")
        .expect_err("cca is not a metric")
        .to_string();
    assert!(message.contains("\"cca\""), "{message}");
    assert!(
        Metric::PAPER
            .iter()
            .all(|metric| message.contains(&metric.name())),
        "{message}"
    );
}

#[test]
fn procrustes_keeps_the_small_singular_values_of_the_cross_product() {
    // Low-rank signal with faint noise: most singular values of M = XᵀY are ~1e-6 of the largest,
    // where a square root of eigvalsh(MᵀM) would be off by ~1e-9 each.
    let spec = SignalSpec {
        n: 1500,
        d: 200,
        rank: 10,
        noise: 0.02,
    };
    let (x, y) = related_pair(&spec, 0.9, 20);
    let normalise = |a: &Array2<f64>| {
        let centred = a - &a.mean_axis(Axis(0)).expect("rows");
        let norm = centred.iter().map(|v| v * v).sum::<f64>().sqrt();
        centred / norm
    };
    let cross = normalise(&x).t().dot(&normalise(&y));
    let (_, sigma, _) = cross.svd(false, false).expect("SVD");
    let want = 2.0 - 2.0 * sigma.sum();
    let got =
        values(&x, &y, &[Metric::of(MetricKind::Procrustes)])[&Metric::of(MetricKind::Procrustes)];
    assert_close("procrustes", got, want, 1e-12);
}

#[test]
fn pwcca_against_a_rank_deficient_copy_merges_its_zero_correlations_with_the_unmatched_block() {
    // Y repeats one of its columns: min(d1, d2) = 6 correlations of which only 5 are 1 and the
    // sixth is 0, in the same null space as the d1 - 6 directions nothing in Y matches.
    let (x, _) = related_pair(&SPEC, 0.0, 21);
    let copy = x.select(Axis(1), &[1, 2, 5, 8, 11, 5]);
    let got = values(&x, &copy, &[Metric::of(MetricKind::Pwcca)])[&Metric::of(MetricKind::Pwcca)];
    assert_close(
        "pwcca(X, copy)",
        got,
        pwcca_of_subspace_copy(&x, &copy),
        1e-9,
    );
}
