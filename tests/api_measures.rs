//! The N-class measures through the real API: every N-class identifier of
//! `tests/fixtures/measures/` (parameterised ones such as `jaccard_knn(k=5)` included), on every
//! golden case uploaded as two representations, computed by in-process workers and read back from
//! `/v1/distances`, in both argument orders.

mod common;

use std::collections::BTreeMap;

use common::measures as golden;
use common::{TestApp, expect_status};
use reqwest::StatusCode;
use serde_json::{Value, json};
use simbench::metrics::Metric;

/// The built-in metrics `GET /v1/metrics` lists in cost class N, each with its symmetry.
async fn n_class_kinds(app: &TestApp) -> BTreeMap<String, bool> {
    let listed = expect_status(app.get("/v1/metrics").await, StatusCode::OK).await;
    listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|item| item["cost_class"] == "N")
        .map(|item| {
            let symmetric = item["symmetric"].as_bool().expect("symmetric");
            (item["name"].as_str().expect("a name").to_owned(), symmetric)
        })
        .collect()
}

/// Every stored distance of one metric, by (rep_a, rep_b).
async fn distances(app: &TestApp, metric: &str) -> BTreeMap<(i64, i64), Value> {
    let encoded: String = form_urlencoded::byte_serialize(metric.as_bytes()).collect();
    let listed = expect_status(
        app.get(&format!("/v1/distances?metric={encoded}&limit=1000"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["next_cursor"], Value::Null, "one page holds them");
    listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|row| {
            let key = (
                row["rep_a"].as_i64().unwrap(),
                row["rep_b"].as_i64().unwrap(),
            );
            (key, row.clone())
        })
        .collect()
}

/// A stored row as an outcome: its value, or its refusal.
fn outcome(row: Option<&Value>) -> Result<f64, &str> {
    let row = row.ok_or("no distance stored")?;
    row["value"].as_f64().ok_or_else(|| {
        row["refusal"]
            .as_str()
            .unwrap_or("neither a value nor a refusal")
    })
}

#[tokio::test]
async fn every_n_class_identifier_matches_the_golden_values_through_the_api() {
    let app = TestApp::spawn_with_workers(2).await;
    let kinds = n_class_kinds(&app).await;
    let document = golden::document();
    let identifiers: Vec<(String, bool)> = document["measures"]
        .as_array()
        .expect("measures")
        .iter()
        .filter_map(|identifier| {
            let identifier = identifier.as_str().expect("an identifier");
            let kind = identifier.parse::<Metric>().ok()?.kind().name();
            let symmetric = *kinds.get(kind)?;
            Some((identifier.to_owned(), symmetric))
        })
        .collect();
    let covered: Vec<&str> = identifiers
        .iter()
        .map(|(identifier, _)| identifier.split('(').next().unwrap())
        .collect();
    for kind in kinds.keys() {
        let in_paper = Metric::PAPER
            .iter()
            .any(|metric| metric.kind().name() == kind.as_str());
        assert!(
            in_paper || covered.contains(&kind.as_str()),
            "the fixture covers every N-class measure of docs/MEASURES.md: {kind}"
        );
    }
    assert!(
        identifiers
            .iter()
            .any(|(identifier, _)| identifier.contains('(')),
        "parameterised identifiers take part: {identifiers:?}"
    );
    let names: Vec<&str> = identifiers.iter().map(|(name, _)| name.as_str()).collect();

    let model = app.create_model("golden").await;
    let cases = document["cases"].as_array().expect("cases");
    let mut uploaded = Vec::new();
    for case in cases {
        let dataset = case["name"].as_str().expect("a case name");
        let x = app
            .upload(model, dataset, 0, golden::bytes(&case["x"]))
            .await["id"]
            .as_i64()
            .unwrap();
        let y = app
            .upload(model, dataset, 1, golden::bytes(&case["y"]))
            .await["id"]
            .as_i64()
            .unwrap();
        let created = expect_status(
            app.post_json(
                "/v1/comparisons",
                &json!({"representations": [x, y], "all_pairs": true, "metrics": names}),
            )
            .await,
            StatusCode::ACCEPTED,
        )
        .await;
        assert_eq!(
            created["metrics"],
            json!(names),
            "the fixture writes identifiers in canonical form"
        );
        uploaded.push((case, x, y, created["id"].as_i64().unwrap()));
    }
    for (case, _, _, comparison) in &uploaded {
        let state = app.wait_for_comparison(*comparison).await;
        assert_eq!(state["status"], "done", "{}: {state}", case["name"]);
    }

    let mut failures = Vec::new();
    for (identifier, symmetric) in &identifiers {
        let stored = distances(&app, identifier).await;
        for (case, x, y, _) in &uploaded {
            // A symmetric measure's distance is stored once, lower id first: x was uploaded first.
            let swapped_key = if *symmetric { (*x, *y) } else { (*y, *x) };
            for (order, expected, key) in [
                ("", &case["expected"], (*x, *y)),
                (" swapped", &case["expected_swapped"], swapped_key),
            ] {
                let got = outcome(stored.get(&key));
                if let Some(wrong) = golden::mismatch(&expected[identifier], got) {
                    failures.push(format!("{}{order} {identifier}: {wrong}", case["name"]));
                }
            }
        }
        let expected_rows = if *symmetric { 1 } else { 2 } * uploaded.len();
        if stored.len() != expected_rows {
            failures.push(format!(
                "{identifier}: {} rows stored, want {expected_rows}",
                stored.len()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
