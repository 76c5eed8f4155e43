//! The benchmark fixtures (`shared/fixtures/benchmark/`): principal-component copies made by
//! `transform::pca_keep` match the stored derived representations, and the metrics reproduce the
//! golden per-group Spearman correlations of the `reference_same_group` protocol, in which every
//! reference is compared with its own principal-component copies (PWCCA's tied and unmatched
//! directions).

use std::path::Path;

use ndarray::Array2;
use serde_json::Value;
use simbench::metrics::{Metric, Prepared, compare};
use simbench::transform::pca_keep;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/benchmark");

struct Representation {
    id: u64,
    layer: u64,
    parent: Option<u64>,
    pca_keep: Option<usize>,
    score: f64,
    values: Array2<f64>,
}

fn load() -> (Vec<Representation>, Value) {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("benchmark.json"))
        .expect("benchmark.json is readable");
    let document: Value = serde_json::from_str(&text).expect("benchmark.json is JSON");
    let representations = document["representations"]
        .as_array()
        .expect("representations array")
        .iter()
        .map(|entry| {
            let path = Path::new(FIXTURES).join(entry["file"].as_str().expect("file"));
            Representation {
                id: entry["id"].as_u64().expect("id"),
                layer: entry["layer"].as_u64().expect("layer"),
                parent: entry["parent"].as_u64(),
                pca_keep: entry["pca_keep"].as_u64().map(|k| k as usize),
                score: entry["score"].as_f64().expect("score"),
                values: simbench::matrix::read_matrix_file(&path, None)
                    .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
                    .to_f64(),
            }
        })
        .collect();
    (representations, document)
}

#[test]
fn principal_component_copies_match_the_derived_fixtures() {
    let (representations, _) = load();
    let mut checked = 0;
    for parent in representations.iter().filter(|rep| rep.parent.is_none()) {
        let children: Vec<&Representation> = representations
            .iter()
            .filter(|rep| rep.parent == Some(parent.id))
            .collect();
        let ks: Vec<usize> = children
            .iter()
            .map(|child| child.pca_keep.expect("derived copies name k"))
            .collect();
        let copies = pca_keep(&parent.values, &ks).expect("k within 1..=d");
        for (child, copy) in children.iter().zip(&copies) {
            assert_eq!(copy.dim(), child.values.dim(), "shape of rep {}", child.id);
            let worst = (copy - &child.values)
                .iter()
                .fold(0.0f64, |worst, diff| worst.max(diff.abs()));
            assert!(worst <= 1e-6, "rep {}: max |difference| {worst}", child.id);
            checked += 1;
        }
    }
    assert_eq!(checked, 24, "every derived representation was checked");
}

#[test]
fn k_outside_one_to_d_is_refused_naming_k_and_d() {
    let (representations, _) = load();
    let x = &representations[0].values;
    let d = x.ncols();
    for k in [0, d + 1] {
        let message = pca_keep(x, &[1, k])
            .expect_err("k out of range")
            .to_string();
        assert!(message.contains(&format!("k = {k}")) && message.contains(&format!("d = {d}")));
    }
    assert_eq!(
        pca_keep(x, &[d]).expect("k = d is allowed")[0].dim(),
        x.dim()
    );
}

/// 1-based average ranks, ties sharing the mean of their positions.
fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && values[order[end + 1]] == values[order[start]] {
            end += 1;
        }
        for &index in &order[start..=end] {
            ranks[index] = (start + end) as f64 / 2.0 + 1.0;
        }
        start = end + 1;
    }
    ranks
}

fn spearman(x: &[f64], y: &[f64]) -> f64 {
    let (rx, ry) = (average_ranks(x), average_ranks(y));
    let mean = (x.len() as f64 + 1.0) / 2.0;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        sxy += (a - mean) * (b - mean);
        sxx += (a - mean) * (a - mean);
        syy += (b - mean) * (b - mean);
    }
    sxy / (sxx * syy).sqrt()
}

/// DESIGN, Benchmark protocols: values are rounded to 10 decimals before ranking.
fn round10(value: f64) -> f64 {
    (value * 1e10).round() / 1e10
}

#[test]
fn reference_protocol_spearman_matches_for_the_paper_trio() {
    let (representations, document) = load();
    let tolerance = document["tolerance"]["abs"].as_f64().expect("tolerance");
    let prepared: Vec<Prepared> = representations
        .iter()
        .map(|rep| Prepared::new(rep.values.clone()).expect("fixture is valid"))
        .collect();
    for metric in Metric::PAPER_TRIO {
        let groups = &document["results"][metric.name()]["reference_same_group"]["groups"];
        let groups = groups.as_object().expect("groups object");
        assert_eq!(groups.len(), 3);
        for (layer, expected) in groups {
            let layer: u64 = layer.parse().expect("layer key");
            let reference = expected["reference"].as_u64().expect("reference id") as usize - 1;
            let (mut distances, mut differences) = (Vec::new(), Vec::new());
            for (index, rep) in representations.iter().enumerate() {
                if rep.layer != layer {
                    continue;
                }
                let outcome = compare(&prepared[reference], &prepared[index], &[metric]);
                let distance = outcome[&metric]
                    .clone()
                    .expect("the trio accepts every pair");
                distances.push(round10(distance));
                differences.push(round10(
                    (representations[reference].score - rep.score).abs(),
                ));
            }
            let want = expected["spearman"].as_f64().expect("spearman");
            let got = spearman(&distances, &differences);
            assert!(
                (got - want).abs() <= tolerance,
                "{metric} layer {layer}: spearman {got}, want {want}"
            );
        }
    }
}
