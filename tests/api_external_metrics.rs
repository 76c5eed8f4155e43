//! Metrics computed by the client: registration, `PUT /v1/distances`, and external metrics in
//! benchmarks, results and the leaderboard beside built-in ones.

mod common;

use std::collections::HashMap;

use common::{TestApp, expect_problem, expect_status, npy_f32};
use reqwest::StatusCode;
use serde_json::{Value, json};
use simbench::access::Scope;
use simbench::config::HttpConfig;

async fn register(app: &TestApp, name: &str, symmetric: bool) -> Value {
    expect_status(
        app.post_json(
            "/v1/metrics",
            &json!({"name": name, "description": "a test metric", "symmetric": symmetric}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await
}

/// `count` representations of one model on dataset `dataset`, each scored `probe`.
async fn representations(app: &TestApp, dataset: &str, scores: &[f64]) -> Vec<i64> {
    let model = app.create_model(&format!("model-{dataset}")).await;
    let mut ids = Vec::new();
    for (layer, score) in scores.iter().enumerate() {
        let npy = npy_f32(30, 4, 100 + layer as u64);
        let id = app.upload(model, dataset, layer as i32, npy).await["id"]
            .as_i64()
            .unwrap();
        expect_status(
            app.put_json(
                &format!("/v1/representations/{id}/scores/probe"),
                &json!({"value": score}),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        ids.push(id);
    }
    ids
}

async fn put_rows(app: &TestApp, rows: Value) -> reqwest::Response {
    app.put_json("/v1/distances", &json!({ "rows": rows }))
        .await
}

async fn stored(app: &TestApp, metric: &str) -> Vec<(i64, i64, f64)> {
    let listed = expect_status(
        app.get(&format!("/v1/distances?metric={metric}")).await,
        StatusCode::OK,
    )
    .await;
    listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["rep_a"].as_i64().unwrap(),
                row["rep_b"].as_i64().unwrap(),
                row["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn registered_metrics_are_listed_beside_the_built_ins_and_names_are_unique() {
    let app = TestApp::spawn().await;
    let registered = expect_status(
        app.post_json(
            "/v1/metrics",
            &json!({"name": "my_metric", "description": "1 - cosine of mean activations",
                    "symmetric": true,
                    "parameters": [{"name": "k", "default": 10, "range": "an integer >= 1"},
                                   {"name": "eps", "default": 0.5}]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(registered["name"], "ext:my_metric");
    assert_eq!(registered["built_in"], false);
    assert_eq!(registered["cost_class"], Value::Null);
    assert_eq!(registered["created_by"], "initial-admin");
    assert_eq!(
        registered["parameters"],
        json!([{"name": "k", "default": 10.0, "range": "an integer >= 1"},
               {"name": "eps", "default": 0.5, "range": "set by the client"}])
    );
    register(&app, "ext:another", false).await;

    for name in ["my_metric", "ext:my_metric"] {
        expect_problem(
            app.post_json(
                "/v1/metrics",
                &json!({"name": name, "description": "again", "symmetric": false}),
            )
            .await,
            StatusCode::CONFLICT,
            "metric_exists",
        )
        .await;
    }

    let listed = expect_status(app.get("/v1/metrics").await, StatusCode::OK).await;
    let items = listed["items"].as_array().unwrap();
    let built_ins = simbench::metrics::MetricKind::ALL.len();
    assert_eq!(items.len(), built_ins + 2);
    assert!(
        items[..built_ins]
            .iter()
            .all(|item| item["built_in"] == true)
    );
    let external: Vec<(&Value, &Value, &Value)> = items[built_ins..]
        .iter()
        .map(|item| (&item["name"], &item["symmetric"], &item["built_in"]))
        .collect();
    assert_eq!(
        external,
        vec![
            (&json!("ext:another"), &json!(false), &json!(false)),
            (&json!("ext:my_metric"), &json!(true), &json!(false)),
        ]
    );
    assert_eq!(
        items[built_ins + 1]["definition"],
        "1 - cosine of mean activations"
    );

    let reader = common::client_with(&app.token("reader", Scope::Read).await);
    let refused = reader
        .post(app.url("/v1/metrics"))
        .json(&json!({"name": "mine", "description": "d", "symmetric": true}))
        .send()
        .await
        .unwrap();
    expect_problem(refused, StatusCode::FORBIDDEN, "insufficient_scope").await;
}

#[tokio::test]
async fn every_field_of_a_registration_is_validated() {
    let app = TestApp::spawn().await;
    let long_name = "a".repeat(49);
    let cases = [
        (
            json!({"name": "", "description": "d", "symmetric": true}),
            "invalid_metric_name",
        ),
        (
            json!({"name": "ext:", "description": "d", "symmetric": true}),
            "invalid_metric_name",
        ),
        (
            json!({"name": "Upper", "description": "d", "symmetric": true}),
            "invalid_metric_name",
        ),
        (
            json!({"name": "9lives", "description": "d", "symmetric": true}),
            "invalid_metric_name",
        ),
        (
            json!({"name": "a(k=1)", "description": "d", "symmetric": true}),
            "invalid_metric_name",
        ),
        (
            json!({"name": long_name, "description": "d", "symmetric": true}),
            "invalid_metric_name",
        ),
        (
            json!({"name": "cka", "description": "d", "symmetric": true}),
            "built_in_metric",
        ),
        (
            json!({"name": "ext:procrustes", "description": "d", "symmetric": true}),
            "built_in_metric",
        ),
        (
            json!({"name": "ok", "description": " ", "symmetric": true}),
            "invalid_description",
        ),
        (
            json!({"name": "ok", "description": "d".repeat(2001), "symmetric": true}),
            "invalid_description",
        ),
        (
            json!({"name": "ok", "description": "d", "symmetric": true,
                "parameters": [{"name": "K", "default": 1}]}),
            "invalid_parameters",
        ),
        (
            json!({"name": "ok", "description": "d", "symmetric": true,
                "parameters": [{"name": "k", "default": 1}, {"name": "k", "default": 2}]}),
            "invalid_parameters",
        ),
        (
            json!({"name": "ok", "description": "d", "symmetric": true,
                "parameters": [{"name": "k", "default": 1, "range": ""}]}),
            "invalid_parameters",
        ),
    ];
    for (body, code) in cases {
        expect_problem(
            app.post_json("/v1/metrics", &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
        )
        .await;
    }
    for body in [
        json!({"name": "ok", "description": "d"}),
        json!({"name": "ok", "symmetric": true}),
        json!({"name": "ok", "description": "d", "symmetric": "yes"}),
        json!({"name": "ok", "description": "d", "symmetric": true, "cost_class": "G"}),
        json!({"name": "ok", "description": "d", "symmetric": true, "parameters": [{"name": "k"}]}),
    ] {
        let response = app.post_json("/v1/metrics", &body).await;
        assert!(
            response.status().is_client_error(),
            "{body} answered {}",
            response.status()
        );
    }
    let listed = expect_status(app.get("/v1/metrics").await, StatusCode::OK).await;
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        simbench::metrics::MetricKind::ALL.len(),
        "nothing refused was registered"
    );
}

#[tokio::test]
async fn put_distances_refuses_bad_rows_by_index_and_writes_nothing() {
    let app = TestApp::spawn().await;
    register(&app, "sym", true).await;
    let ids = representations(&app, "d", &[0.1, 0.2, 0.3]).await;
    let other = representations(&app, "e", &[0.5]).await[0];
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    let good = json!({"metric": "ext:sym", "a": a, "b": b, "value": 0.5});
    let cases = [
        (
            json!({"metric": "ext:sym", "a": a, "b": c, "value": -0.1}),
            "invalid_distance",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"metric": "ext:sym", "a": a, "b": a, "value": 0.0}),
            "invalid_distance",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"metric": "ext:sym", "a": a, "b": 999_999, "value": 0.1}),
            "unknown_representation",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"metric": "ext:sym", "a": a, "b": other, "value": 0.1}),
            "different_datasets",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"metric": "cka", "a": a, "b": c, "value": 0.1}),
            "built_in_metric",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"metric": "ext:unregistered", "a": a, "b": c, "value": 0.1}),
            "unknown_metric",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"metric": "nonsense", "a": a, "b": c, "value": 0.1}),
            "unknown_metric",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"metric": "ext:sym", "a": b, "b": a, "value": 0.7}),
            "conflicting_rows",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (bad, code, status) in cases {
        let problem = expect_problem(put_rows(&app, json!([good, bad])).await, status, code).await;
        assert!(
            problem["detail"].as_str().unwrap().contains("row 1"),
            "the refusal names the row: {problem}"
        );
        if code == "built_in_metric" {
            assert!(problem["detail"].as_str().unwrap().contains("cka"));
        }
    }
    let nan = app
        .client
        .put(app.url("/v1/distances"))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"rows": [{{"metric": "ext:sym", "a": {a}, "b": {b}, "value": NaN}}]}}"#
        ))
        .send()
        .await
        .unwrap();
    assert!(
        nan.status().is_client_error(),
        "NaN answered {}",
        nan.status()
    );
    let as_text = put_rows(
        &app,
        json!([{"metric": "ext:sym", "a": a, "b": b, "value": "NaN"}]),
    )
    .await;
    assert!(as_text.status().is_client_error());

    let too_many: Vec<Value> = (0..10_001)
        .map(|i| json!({"metric": "ext:sym", "a": a, "b": b, "value": f64::from(i)}))
        .collect();
    expect_problem(
        put_rows(&app, Value::Array(too_many)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "too_many_rows",
    )
    .await;
    assert!(
        stored(&app, "ext:sym").await.is_empty(),
        "nothing was written"
    );

    let reader = common::client_with(&app.token("reader", Scope::Read).await);
    let refused = reader
        .put(app.url("/v1/distances"))
        .json(&json!({"rows": [good]}))
        .send()
        .await
        .unwrap();
    expect_problem(refused, StatusCode::FORBIDDEN, "insufficient_scope").await;
}

#[tokio::test]
async fn put_distances_is_idempotent_and_stores_symmetric_metrics_once() {
    let app = TestApp::spawn().await;
    register(&app, "sym", true).await;
    register(&app, "asym", false).await;
    let ids = representations(&app, "d", &[0.1, 0.2, 0.3]).await;
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    let rows = json!([
        {"metric": "ext:sym", "a": b, "b": a, "value": 0.25},
        {"metric": "ext:sym", "a": a, "b": b, "value": 0.25},
        {"metric": "ext:asym", "a": c, "b": a, "value": 0.5},
        {"metric": "ext:asym", "a": a, "b": c, "value": 0.75},
    ]);
    let first = expect_status(put_rows(&app, rows.clone()).await, StatusCode::OK).await;
    assert_eq!(first, json!({"inserted": 3, "updated": 0, "unchanged": 1}));
    assert_eq!(stored(&app, "ext:sym").await, vec![(a, b, 0.25)]);
    let mut asymmetric = stored(&app, "ext:asym").await;
    asymmetric.sort_by_key(|row| (row.0, row.1));
    assert_eq!(asymmetric, vec![(a, c, 0.75), (c, a, 0.5)]);

    let again = expect_status(put_rows(&app, rows).await, StatusCode::OK).await;
    assert_eq!(again, json!({"inserted": 0, "updated": 0, "unchanged": 4}));

    let changed = expect_status(
        put_rows(
            &app,
            json!([{"metric": "ext:sym", "a": b, "b": a, "value": 0.125}]),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        changed,
        json!({"inserted": 0, "updated": 1, "unchanged": 0})
    );
    assert_eq!(stored(&app, "ext:sym").await, vec![(a, b, 0.125)]);

    // Deleting a representation deletes its distances.
    expect_status(
        app.delete(&format!("/v1/representations/{a}")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert!(stored(&app, "ext:sym").await.is_empty());
    assert!(stored(&app, "ext:asym").await.is_empty());
}

#[tokio::test]
async fn an_external_metric_is_deleted_with_its_distances_unless_a_benchmark_names_it() {
    let app = TestApp::spawn().await;
    register(&app, "gone", true).await;
    let ids = representations(&app, "d", &[0.1, 0.2, 0.3]).await;
    expect_status(
        put_rows(
            &app,
            json!([{"metric": "ext:gone", "a": ids[0], "b": ids[1], "value": 0.5}]),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let benchmark = expect_status(
        app.post_json(
            "/v1/benchmarks",
            &json!({"name": "uses gone", "dataset": "d", "score": "probe",
                    "protocol": {"kind": "all_pairs", "group_by": "none"},
                    "metrics": ["ext:gone"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let problem = expect_problem(
        app.delete("/v1/metrics/ext:gone").await,
        StatusCode::CONFLICT,
        "metric_in_use",
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(&benchmark["id"].to_string())
    );
    expect_status(
        app.delete(&format!("/v1/benchmarks/{}", benchmark["id"]))
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_status(app.delete("/v1/metrics/gone").await, StatusCode::NO_CONTENT).await;
    assert!(stored(&app, "ext:gone").await.is_empty());
    expect_problem(
        app.delete("/v1/metrics/ext:gone").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_problem(
        app.delete("/v1/metrics/cka").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "built_in_metric",
    )
    .await;
    // The name is free again.
    register(&app, "gone", false).await;
    expect_problem(
        app.post_json(
            "/v1/benchmarks",
            &json!({"name": "unknown", "dataset": "d", "score": "probe",
                    "protocol": {"kind": "all_pairs", "group_by": "none"},
                    "metrics": ["cka", "ext:never_registered"]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_metric",
    )
    .await;
}

/// Average ranks (ties share the mean of their places), 1-based.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && values[order[end + 1]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end) as f64 / 2.0 + 1.0;
        for &index in &order[start..=end] {
            ranks[index] = rank;
        }
        start = end + 1;
    }
    ranks
}

fn spearman(xs: &[f64], ys: &[f64]) -> f64 {
    let (rx, ry) = (ranks(xs), ranks(ys));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (mx, my) = (mean(&rx), mean(&ry));
    let covariance: f64 = rx.iter().zip(&ry).map(|(x, y)| (x - mx) * (y - my)).sum();
    let spread = |v: &[f64], m: f64| v.iter().map(|x| (x - m).powi(2)).sum::<f64>().sqrt();
    covariance / (spread(&rx, mx) * spread(&ry, my))
}

#[tokio::test]
async fn a_benchmark_mixing_cka_and_an_external_metric_completes_when_the_client_sends_the_missing_pairs()
 {
    let app = TestApp::spawn_full(
        HttpConfig {
            public_read: true,
            ..HttpConfig::default()
        },
        common::test_workers(2),
    )
    .await;
    register(&app, "mine", true).await;
    let scores = [0.1, 0.25, 0.45, 0.7, 1.0];
    let ids = representations(&app, "d", &scores).await;
    let score_of: HashMap<i64, f64> = ids.iter().copied().zip(scores).collect();
    let benchmark = expect_status(
        app.post_json(
            "/v1/benchmarks",
            &json!({"name": "mixed", "dataset": "d", "score": "probe",
                    "protocol": {"kind": "all_pairs", "group_by": "none"},
                    "metrics": ["cka", "ext:mine"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let id = benchmark["id"].as_i64().unwrap();
    assert_eq!(benchmark["metrics"], json!(["cka", "ext:mine"]));

    // The workers compute cka; no job ever names the external metric.
    common::wait_for_benchmark(&app, id).await;
    let jobs = expect_status(app.get("/v1/jobs?limit=1000").await, StatusCode::OK).await;
    let jobs = jobs["items"].as_array().unwrap();
    assert!(!jobs.is_empty());
    assert!(
        jobs.iter().all(|job| job["metrics"] == json!(["cka"])),
        "{jobs:?}"
    );

    let partial = expect_status(
        app.get(&format!("/v1/benchmarks/{id}/results")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(partial["partial"], true, "{partial}");
    assert_eq!(partial["metrics"]["cka"]["partial"], false);
    assert_eq!(partial["metrics"]["ext:mine"]["n_missing"], 10);

    // Read what is missing, 4 pairs a page, sending each page before reading the next.
    let mut sent: Vec<(i64, i64, f64)> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => format!("/v1/benchmarks/{id}/missing?metric=ext:mine&limit=4"),
            Some(cursor) => {
                format!("/v1/benchmarks/{id}/missing?metric=ext:mine&limit=4&cursor={cursor}")
            }
        };
        let page = expect_status(app.get(&path).await, StatusCode::OK).await;
        assert_eq!(page["n_pairs"], 10);
        assert_eq!(page["n_missing"], 10 - sent.len());
        let rows: Vec<Value> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| {
                let (a, b) = (pair["a"].as_i64().unwrap(), pair["b"].as_i64().unwrap());
                assert!(a < b, "symmetric pairs come lower id first");
                // A made-up distance, distinct for every pair.
                let value = ((a * 7 + b * 3) % 17) as f64 / 16.0 + (a + b) as f64 / 1000.0;
                sent.push((a, b, value));
                json!({"metric": "ext:mine", "a": b, "b": a, "value": value})
            })
            .collect();
        expect_status(put_rows(&app, Value::Array(rows)).await, StatusCode::OK).await;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(sent.len(), 10);
    let done = expect_status(
        app.get(&format!("/v1/benchmarks/{id}/missing?metric=ext:mine"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (&done["n_missing"], &done["items"]),
        (&json!(0), &json!([]))
    );

    let complete = expect_status(
        app.get(&format!("/v1/benchmarks/{id}/results")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(complete["partial"], false, "{complete}");
    let xs: Vec<f64> = sent.iter().map(|row| row.2).collect();
    let ys: Vec<f64> = sent
        .iter()
        .map(|row| (score_of[&row.0] - score_of[&row.1]).abs())
        .collect();
    let want = spearman(&xs, &ys);
    let got = complete["metrics"]["ext:mine"]["spearman"]
        .as_f64()
        .unwrap();
    assert!((got - want).abs() < 1e-12, "got {got}, want {want}");
    assert!(complete["metrics"]["cka"]["spearman"].is_number());

    expect_status(
        app.client
            .post(app.url(&format!("/v1/benchmarks/{id}/publish")))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let board = expect_status(app.get("/v1/leaderboard").await, StatusCode::OK).await;
    let row = board["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["metric"] == "ext:mine")
        .unwrap_or_else(|| panic!("ext:mine is on the leaderboard: {board}"));
    assert!((row["cells"][0]["spearman"].as_f64().unwrap() - want).abs() < 1e-12);
    // The dashboard's leaderboard shows it too (read without a session: the service is public
    // to read).
    let page = reqwest::get(app.url("/ui/leaderboard")).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("data-metric=\"ext:mine\"")
    );

    // A changed value replaces the stored one and marks the benchmark stale.
    let (a, b, value) = sent[0];
    expect_status(
        put_rows(
            &app,
            json!([{"metric": "ext:mine", "a": a, "b": b, "value": value + 1.0}]),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let state = expect_status(
        app.get(&format!("/v1/benchmarks/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(state["status"], "stale");
    expect_problem(
        app.get(&format!("/v1/benchmarks/{id}/missing?metric=pwcca"))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_metric",
    )
    .await;
}
