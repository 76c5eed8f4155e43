//! Principal-component copies made by `transform::pca_keep` match the derived representations of
//! the benchmark fixtures (`tests/fixtures/benchmark/`).

use std::path::Path;

use ndarray::Array2;
use serde_json::Value;
use simbench::transform::pca_keep;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/benchmark");

struct Representation {
    id: u64,
    parent: Option<u64>,
    pca_keep: Option<usize>,
    values: Array2<f64>,
}

fn load() -> Vec<Representation> {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("benchmark.json"))
        .expect("benchmark.json is readable");
    let document: Value = serde_json::from_str(&text).expect("benchmark.json is JSON");
    document["representations"]
        .as_array()
        .expect("representations array")
        .iter()
        .map(|entry| {
            let path = Path::new(FIXTURES).join(entry["file"].as_str().expect("file"));
            Representation {
                id: entry["id"].as_u64().expect("id"),
                parent: entry["parent"].as_u64(),
                pca_keep: entry["pca_keep"].as_u64().map(|k| k as usize),
                values: simbench::matrix::read_matrix_file(&path, None)
                    .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
                    .to_f64(),
            }
        })
        .collect()
}

#[test]
fn principal_component_copies_match_the_derived_fixtures() {
    let representations = load();
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
    let representations = load();
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
