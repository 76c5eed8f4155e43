//! The grounding statistics (README "Grounding tests") against the golden study in
//! `tests/fixtures/protocols/` (see the README there): every figure of `protocols.json` for cka,
//! procrustes and pwcca, recomputed from the study's `.npy` files with the service's own metric
//! code and `simbench::stats`; then properties of the statistics themselves.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use simbench::metrics::{Metric, MetricKind, Prepared, compare};
use simbench::stats::functional::{disagreement, jensen_shannon};
use simbench::stats::{
    PermutationOptions, ROUNDING_DECIMALS, Undefined, class_figures, kendall_tau_b,
    mean_over_groups, monotonicity, pearson, permutation_p_values, round_to_decimals, separation,
    spearman,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/protocols");
const METRICS: [Metric; 3] = [
    Metric::of(MetricKind::Cka),
    Metric::of(MetricKind::Procrustes),
    Metric::of(MetricKind::Pwcca),
];

fn read(file: &str) -> Array2<f64> {
    let path = Path::new(FIXTURES).join(file);
    simbench::matrix::read_matrix_file(&path, None)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
        .to_f64()
}

/// The fixture study, with every ordered distance between representations of one layer or one
/// model computed once.
struct Study {
    document: Value,
    /// id → (model name, layer).
    representations: BTreeMap<i64, (String, i64)>,
    /// model name → its metadata `cls`.
    classes: BTreeMap<String, i64>,
    /// (metric, first id, second id) → d(first, second).
    distances: BTreeMap<(Metric, i64, i64), f64>,
    value_tolerance: f64,
    exact_p_tolerance: f64,
}

impl Study {
    fn load() -> Study {
        let text = std::fs::read_to_string(Path::new(FIXTURES).join("protocols.json"))
            .expect("protocols.json is readable");
        let document: Value = serde_json::from_str(&text).expect("protocols.json is JSON");
        let mut representations = BTreeMap::new();
        let mut prepared = BTreeMap::new();
        for representation in document["representations"]
            .as_array()
            .expect("representations")
        {
            let id = representation["id"].as_i64().expect("id");
            let model = representation["model"].as_str().expect("model").to_owned();
            let layer = representation["layer"].as_i64().expect("layer");
            representations.insert(id, (model, layer));
            let matrix = read(representation["file"].as_str().expect("file"));
            prepared.insert(
                id,
                Prepared::new(matrix).expect("a fixture matrix is valid"),
            );
        }
        let classes = document["models"]
            .as_array()
            .expect("models")
            .iter()
            .map(|model| {
                let name = model["name"].as_str().expect("name").to_owned();
                (name, model["metadata"]["cls"].as_i64().expect("cls"))
            })
            .collect();
        let mut distances = BTreeMap::new();
        for (&a, (model_a, layer_a)) in &representations {
            for (&b, (model_b, layer_b)) in &representations {
                if a != b && (layer_a == layer_b || model_a == model_b) {
                    for (metric, value) in compare(&prepared[&a], &prepared[&b], &METRICS) {
                        let value = value.expect("the trio computes every fixture pair");
                        distances.insert((metric, a, b), value);
                    }
                }
            }
        }
        let tolerance = &document["tolerance"];
        Study {
            value_tolerance: tolerance["value"].as_f64().expect("value tolerance"),
            exact_p_tolerance: tolerance["exact_p"].as_f64().expect("exact_p tolerance"),
            document,
            representations,
            classes,
            distances,
        }
    }

    fn distance(&self, metric: Metric, a: i64, b: i64) -> f64 {
        self.distances[&(metric, a, b)]
    }

    fn results(&self, benchmark: &str, metric: Metric) -> &Value {
        &self.document["results"][benchmark]["metrics"][metric.name()]
    }

    fn layers(&self) -> Vec<i64> {
        let mut layers: Vec<i64> = self.representations.values().map(|(_, l)| *l).collect();
        layers.sort();
        layers.dedup();
        layers
    }

    fn in_layer(&self, layer: i64) -> Vec<(i64, &str)> {
        self.representations
            .iter()
            .filter(|(_, (_, l))| *l == layer)
            .map(|(&id, (model, _))| (id, model.as_str()))
            .collect()
    }
}

fn model_outputs(study: &Study) -> BTreeMap<String, Array2<f64>> {
    study.document["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|model| {
            let name = model["name"].as_str().expect("name").to_owned();
            (name, read(model["outputs"].as_str().expect("outputs file")))
        })
        .collect()
}

/// y for a pair of models under a functional, from their outputs; 0 for the same model.
fn functional_difference(
    outputs: &BTreeMap<String, Array2<f64>>,
    kind: &str,
    first: &str,
    second: &str,
) -> f64 {
    let (a, b) = (outputs[first].view(), outputs[second].view());
    match kind {
        "disagreement" => disagreement(a, b).expect("fixture outputs are valid"),
        "jsd" => jensen_shannon(a, b).expect("fixture outputs are valid"),
        other => panic!("unknown functional {other}"),
    }
}

fn assert_close(label: &str, got: f64, want: &Value, tolerance: f64, failures: &mut Vec<String>) {
    let want = want
        .as_f64()
        .unwrap_or_else(|| panic!("{label}: no number in the fixture"));
    if (got - want).abs() > tolerance {
        failures.push(format!("{label}: got {got}, want {want}"));
    }
}

fn check(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn functional_differences_match_the_fixture() {
    let study = Study::load();
    let outputs = model_outputs(&study);
    let mut failures = Vec::new();
    let mut checked = 0;
    for kind in ["disagreement", "jsd"] {
        let expected = study.document["functional"][kind]
            .as_object()
            .expect("functional");
        for (key, want) in expected {
            let (first, second) = key.split_once('|').expect("pair key");
            let got = functional_difference(&outputs, kind, first, second);
            assert_close(
                &format!("{kind} {key}"),
                got,
                want,
                study.value_tolerance,
                &mut failures,
            );
            checked += 1;
        }
        assert_eq!(functional_difference(&outputs, kind, "m2", "m2"), 0.0);
    }
    assert_eq!(checked, 30);
    check(failures);
}

/// The (x, y) pairs of one layer of a correlation benchmark: every unordered pair of the selected
/// models' representations, lower id first, both rounded.
fn correlation_pairs(
    study: &Study,
    outputs: &BTreeMap<String, Array2<f64>>,
    benchmark: &Value,
    metric: Metric,
    layer: i64,
) -> Vec<(f64, f64)> {
    let kind = benchmark["functional"]["kind"]
        .as_str()
        .expect("functional kind");
    let models: Vec<&str> = benchmark["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|model| model.as_str().expect("model name"))
        .collect();
    let members: Vec<(i64, &str)> = study
        .in_layer(layer)
        .into_iter()
        .filter(|(_, model)| models.contains(model))
        .collect();
    let round = |value: f64| round_to_decimals(value, ROUNDING_DECIMALS);
    let mut pairs = Vec::new();
    for (i, &(a, model_a)) in members.iter().enumerate() {
        for &(b, model_b) in &members[i + 1..] {
            let y = functional_difference(outputs, kind, model_a, model_b);
            pairs.push((round(study.distance(metric, a, b)), round(y)));
        }
    }
    pairs
}

#[test]
fn correlation_benchmarks_match_the_fixture() {
    let study = Study::load();
    let outputs = model_outputs(&study);
    let options = PermutationOptions::new(PermutationOptions::DEFAULT_RESAMPLES, 2021)
        .expect("the default resamples are valid");
    let resamples = options.resamples() as f64;
    let mut failures = Vec::new();
    for name in ["corr_disagreement", "corr_jsd", "corr_exact"] {
        let benchmark = &study.document["results"][name];
        for metric in METRICS {
            let expected = study.results(name, metric);
            let groups = expected["groups"].as_array().expect("groups");
            assert_eq!(groups.len(), study.layers().len());
            let mut coefficients: BTreeMap<&str, Vec<Result<f64, Undefined>>> = BTreeMap::new();
            for (stream, (layer, want)) in study.layers().into_iter().zip(groups).enumerate() {
                assert_eq!(want["group"], layer.to_string());
                let label = format!("{name} {metric} layer {layer}");
                let pairs = correlation_pairs(&study, &outputs, benchmark, metric, layer);
                assert_eq!(
                    Some(pairs.len() as u64),
                    want["n_pairs"].as_u64(),
                    "{label}"
                );
                let tolerance = study.value_tolerance;
                let statistics = [
                    ("pearson", pearson(&pairs)),
                    ("spearman", spearman(&pairs)),
                    ("kendall", kendall_tau_b(&pairs)),
                ];
                for (statistic, value) in statistics {
                    let value = value.expect("the fixture's correlations are defined");
                    let label = format!("{label} {statistic}");
                    assert_close(
                        &label,
                        value.coefficient,
                        &want[statistic],
                        tolerance,
                        &mut failures,
                    );
                    coefficients
                        .entry(statistic)
                        .or_default()
                        .push(Ok(value.coefficient));
                }

                let p_values = permutation_p_values(&pairs, &options, stream as u64);
                assert_eq!(
                    Some(p_values.exact),
                    want["permutation_exact"].as_bool(),
                    "{label}"
                );
                let permutation = [
                    ("pearson", p_values.pearson),
                    ("spearman", p_values.spearman),
                    ("kendall", p_values.kendall),
                ];
                for (statistic, p) in permutation {
                    let label = format!("{label} {statistic}_permutation_p");
                    let p = p.expect("the fixture's permutation p-values are defined");
                    let reference = &want[format!("{statistic}_permutation_p")];
                    if p_values.exact {
                        assert_close(&label, p, reference, study.exact_p_tolerance, &mut failures);
                    } else {
                        let reference = reference.as_f64().expect("reference p");
                        let q = (reference / 2.0).min(0.5);
                        let standard_error = 2.0 * (q * (1.0 - q) / resamples).sqrt();
                        assert_close(
                            &label,
                            p,
                            &Value::from(reference),
                            4.0 * standard_error,
                            &mut failures,
                        );
                    }
                }
            }
            for (statistic, values) in coefficients {
                let mean = mean_over_groups(values).expect("every group is defined");
                let label = format!("{name} {metric} mean {statistic}");
                assert_close(
                    &label,
                    mean,
                    &expected[statistic],
                    study.value_tolerance,
                    &mut failures,
                );
            }
        }
    }
    check(failures);
}

#[test]
fn separation_matches_the_fixture() {
    let study = Study::load();
    let mut failures = Vec::new();
    let tolerance = study.value_tolerance;
    for metric in METRICS {
        let expected = study.results("separation_cls", metric);
        let groups = expected["groups"].as_array().expect("groups");
        let mut group_auprc = Vec::new();
        let mut group_violations = Vec::new();
        for (layer, want) in study.layers().into_iter().zip(groups) {
            assert_eq!(want["group"], layer.to_string());
            let members: Vec<(i64, i64)> = study
                .in_layer(layer)
                .into_iter()
                .map(|(id, model)| (id, study.classes[model]))
                .collect();
            let got = separation(&members, |a, b| Some(study.distance(metric, a, b)));
            let label = format!("separation {metric} layer {layer}");
            let auprc = got.auprc.expect("every layer has defined classes");
            let violation_rate = got.violation_rate.expect("every layer has defined classes");
            assert_close(
                &format!("{label} auprc"),
                auprc,
                &want["auprc"],
                tolerance,
                &mut failures,
            );
            let rate_label = format!("{label} violation_rate");
            assert_close(
                &rate_label,
                violation_rate,
                &want["violation_rate"],
                tolerance,
                &mut failures,
            );
            group_auprc.push(Ok(auprc));
            group_violations.push(Ok(violation_rate));

            let classes = want["classes"].as_array().expect("classes");
            assert_eq!(got.classes.len(), classes.len(), "{label}");
            for (class, want) in got.classes.iter().zip(classes) {
                let label = format!("{label} class {}", class.class);
                assert_eq!(Some(class.class), want["class"].as_i64(), "{label}");
                assert_eq!(
                    Some(class.in_class_pairs as u64),
                    want["n_in"].as_u64(),
                    "{label}"
                );
                assert_eq!(
                    Some(class.cross_pairs as u64),
                    want["n_cross"].as_u64(),
                    "{label}"
                );
                let figures = class.figures.expect("every fixture class is defined");
                for (field, value) in [
                    ("auprc", figures.auprc),
                    ("violation_rate", figures.violation_rate),
                    ("chance", figures.chance),
                ] {
                    assert_close(
                        &format!("{label} {field}"),
                        value,
                        &want[field],
                        tolerance,
                        &mut failures,
                    );
                }
            }
        }
        let mean_auprc = mean_over_groups(group_auprc).expect("defined groups");
        let mean_violations = mean_over_groups(group_violations).expect("defined groups");
        let label = format!("separation {metric} mean");
        assert_close(
            &format!("{label} auprc"),
            mean_auprc,
            &expected["auprc"],
            tolerance,
            &mut failures,
        );
        let rate_label = format!("{label} violation_rate");
        assert_close(
            &rate_label,
            mean_violations,
            &expected["violation_rate"],
            tolerance,
            &mut failures,
        );
    }
    check(failures);
}

#[test]
fn monotonicity_matches_the_fixture() {
    let study = Study::load();
    let mut failures = Vec::new();
    let tolerance = study.value_tolerance;
    for metric in METRICS {
        let expected = study.results("monotonicity", metric);
        let groups = expected["groups"].as_array().expect("groups");
        let mut correlations = Vec::new();
        let mut violations = Vec::new();
        for want in groups {
            let model = want["group"].as_str().expect("model name");
            let mut layers: Vec<(i64, i64)> = study
                .representations
                .iter()
                .filter(|(_, (m, _))| m == model)
                .map(|(&id, (_, layer))| (*layer, id))
                .collect();
            layers.sort();
            let got = monotonicity(layers.len(), |i, j| {
                Some(study.distance(metric, layers[i].1, layers[j].1))
            });
            let label = format!("monotonicity {metric} {model}");
            assert_eq!(
                Some(got.layers as u64),
                want["n_layers"].as_u64(),
                "{label}"
            );
            let correlation = got
                .correlation
                .expect("every fixture model has a correlation");
            let rate = got.violation_rate.expect("every fixture model has triples");
            assert_close(
                &format!("{label} correlation"),
                correlation,
                &want["correlation"],
                tolerance,
                &mut failures,
            );
            assert_close(
                &format!("{label} violation_rate"),
                rate,
                &want["violation_rate"],
                tolerance,
                &mut failures,
            );
            correlations.push(Ok(correlation));
            violations.push(Ok(rate));
        }
        let label = format!("monotonicity {metric} mean");
        let mean = mean_over_groups(correlations).expect("defined models");
        assert_close(
            &format!("{label} correlation"),
            mean,
            &expected["correlation"],
            tolerance,
            &mut failures,
        );
        let mean = mean_over_groups(violations).expect("defined models");
        assert_close(
            &format!("{label} violation_rate"),
            mean,
            &expected["violation_rate"],
            tolerance,
            &mut failures,
        );
    }
    check(failures);
}

// Properties.

#[test]
fn auprc_is_one_when_every_in_class_pair_is_closer() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for _ in 0..50 {
        let in_class: Vec<f64> = (0..rng.random_range(1..10))
            .map(|_| rng.random::<f64>())
            .collect();
        let cross: Vec<f64> = (0..rng.random_range(1..30))
            .map(|_| 1.0 + rng.random::<f64>())
            .collect();
        let figures = class_figures(&in_class, &cross).expect("both kinds of pair exist");
        assert_eq!(figures.auprc, 1.0);
        assert_eq!(figures.violation_rate, 0.0);
        let reversed = class_figures(&cross, &in_class).expect("both kinds of pair exist");
        assert_eq!(reversed.violation_rate, 1.0);
        assert!(reversed.auprc <= figures.auprc);
    }
}

#[test]
fn auprc_of_random_labels_is_the_chance_level_on_average() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let (in_count, cross_count, trials) = (100, 900, 200);
    let mut total = 0.0;
    let mut chance = 0.0;
    for _ in 0..trials {
        let in_class: Vec<f64> = (0..in_count).map(|_| rng.random::<f64>()).collect();
        let cross: Vec<f64> = (0..cross_count).map(|_| rng.random::<f64>()).collect();
        let figures = class_figures(&in_class, &cross).expect("both kinds of pair exist");
        total += figures.auprc;
        chance = figures.chance;
    }
    assert_eq!(chance, 0.1);
    let mean = total / f64::from(trials);
    // The expected AP of a random order exceeds the prevalence by O(log N / N) (≈ 0.007 here);
    // the spread of the mean over 200 trials is about 0.001.
    assert!(
        (mean - chance).abs() < 0.015,
        "mean AP {mean} against chance {chance}"
    );
}

fn random_pairs(rng: &mut ChaCha8Rng, m: usize, levels: u32) -> Vec<(f64, f64)> {
    (0..m)
        .map(|_| {
            let x = f64::from(rng.random_range(0..levels));
            (x, 0.4 * x + f64::from(rng.random_range(0..levels)))
        })
        .collect()
}

#[test]
fn permutation_p_values_are_reproducible_from_the_seed() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let pairs = random_pairs(&mut rng, 45, 20);
    let options = PermutationOptions::new(999, 7).expect("valid options");
    let first = permutation_p_values(&pairs, &options, 3);
    assert_eq!(first, permutation_p_values(&pairs, &options, 3));
    assert!(!first.exact);
    let other_seed = PermutationOptions::new(999, 8).expect("valid options");
    assert_ne!(first, permutation_p_values(&pairs, &other_seed, 3));
    assert_ne!(first, permutation_p_values(&pairs, &options, 4));
    let groups = vec![pairs.clone(), random_pairs(&mut rng, 30, 5), pairs];
    let by_group = simbench::stats::permutation_p_values_by_group(&groups, &options);
    assert_eq!(by_group.len(), 3);
    for (stream, (pairs, got)) in groups.iter().zip(&by_group).enumerate() {
        assert_eq!(*got, permutation_p_values(pairs, &options, stream as u64));
    }
}

/// A correlation coefficient of a sample.
type Statistic = fn(&[(f64, f64)]) -> f64;

/// Every permutation of 0..m, by recursion.
fn all_permutations(m: usize) -> Vec<Vec<usize>> {
    if m == 0 {
        return vec![Vec::new()];
    }
    let mut permutations = Vec::new();
    for shorter in all_permutations(m - 1) {
        for position in 0..m {
            let mut longer = shorter.clone();
            longer.insert(position, m - 1);
            permutations.push(longer);
        }
    }
    permutations
}

/// Two-sided p-values of the three statistics over all m! pairings, from the public statistics
/// applied to each permuted sample: (Pearson, Spearman, Kendall).
fn brute_force_p_values(pairs: &[(f64, f64)]) -> [f64; 3] {
    let statistics: [Statistic; 3] = [
        |pairs| pearson(pairs).expect("defined").coefficient,
        |pairs| spearman(pairs).expect("defined").coefficient,
        |pairs| kendall_tau_b(pairs).expect("defined").coefficient,
    ];
    let permutations = all_permutations(pairs.len());
    statistics.map(|statistic| {
        let observed = statistic(pairs);
        let gamma = observed.abs() * 100.0 * f64::EPSILON;
        let (mut at_most, mut at_least) = (0usize, 0usize);
        for permutation in &permutations {
            let permuted: Vec<(f64, f64)> = permutation
                .iter()
                .zip(pairs)
                .map(|(&source, &(_, y))| (pairs[source].0, y))
                .collect();
            let value = statistic(&permuted);
            at_most += usize::from(value <= observed + gamma);
            at_least += usize::from(value >= observed - gamma);
        }
        let total = permutations.len() as f64;
        (2.0 * (at_most as f64 / total).min(at_least as f64 / total)).min(1.0)
    })
}

#[test]
fn exact_enumeration_equals_the_brute_force() {
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let options = PermutationOptions::default();
    for (m, levels) in [(3, 10), (5, 3), (6, 100), (7, 4), (7, 1000)] {
        for _ in 0..3 {
            let pairs = random_pairs(&mut rng, m, levels);
            if spearman(&pairs).is_err() {
                continue;
            }
            let got = permutation_p_values(&pairs, &options, 0);
            assert!(got.exact);
            let [pearson_p, spearman_p, kendall_p] = brute_force_p_values(&pairs);
            let label = format!("m = {m}, {pairs:?}");
            assert!((got.pearson.unwrap() - pearson_p).abs() < 1e-12, "{label}");
            assert!(
                (got.spearman.unwrap() - spearman_p).abs() < 1e-12,
                "{label}"
            );
            assert!((got.kendall.unwrap() - kendall_p).abs() < 1e-12, "{label}");
        }
    }
}

#[test]
fn random_permutations_estimate_the_exact_p_value() {
    // 8! = 40 320 > 9 999: the service draws at random; the brute force knows the exact p.
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    let options = PermutationOptions::default();
    let resamples = options.resamples() as f64;
    for (stream, levels) in [(0, 6), (1, 1000)] {
        let pairs = random_pairs(&mut rng, 8, levels);
        let got = permutation_p_values(&pairs, &options, stream);
        assert!(!got.exact);
        let exact = brute_force_p_values(&pairs);
        let estimates = [got.pearson, got.spearman, got.kendall];
        for (estimate, exact) in estimates.into_iter().zip(exact) {
            let estimate = estimate.expect("defined");
            let q = (exact / 2.0).min(0.5);
            let standard_error = 2.0 * (q * (1.0 - q) / resamples).sqrt();
            assert!(
                (estimate - exact).abs() <= 4.0 * standard_error + 2.0 / resamples,
                "{estimate} against exact {exact} ({pairs:?})"
            );
        }
    }
}
