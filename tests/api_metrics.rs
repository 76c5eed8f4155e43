//! `GET /v1/metrics` lists every metric with its parameters, symmetry, cost class and memory,
//! the identifiers it lists are the ones comparisons accept, and the bytes it lists for a pair are
//! the ones the workers' memory budget refuses on.

mod common;

use common::{TestApp, expect_problem, expect_status};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn every_metric_is_listed_with_its_parameters_symmetry_and_cost_class() {
    let app = TestApp::spawn().await;
    let listed = expect_status(app.get("/v1/metrics").await, StatusCode::OK).await;
    let items = listed["items"].as_array().expect("items");
    assert_eq!(items.len(), simbench::metrics::MetricKind::ALL.len());
    let find = |name: &str| {
        items
            .iter()
            .find(|item| item["name"] == name)
            .unwrap_or_else(|| panic!("{name} is listed"))
    };
    let gulp = find("gulp");
    assert_eq!(
        gulp["parameters"],
        json!([{"name": "lambda", "default": 0.0, "range": "a number >= 0"}])
    );
    assert_eq!(
        (&gulp["symmetric"], &gulp["cost_class"], &gulp["built_in"]),
        (&json!(true), &json!("G"), &json!(true))
    );
    assert_eq!(find("linear_regression")["symmetric"], false);
    assert_eq!(find("pwcca")["symmetric"], false);
    assert_eq!(find("rsa")["cost_class"], "N");
    assert_eq!(find("magnitude_diff")["cost_class"], "R");
    assert!(items.iter().all(|item| {
        item["definition"]
            .as_str()
            .is_some_and(|text| text.len() > 10)
    }));

    let model = app.create_model("m").await;
    let a = app.upload(model, "d", 0, common::npy_f32(40, 5, 1)).await["id"]
        .as_i64()
        .unwrap();
    let b = app.upload(model, "d", 1, common::npy_f32(40, 5, 2)).await["id"]
        .as_i64()
        .unwrap();
    let created = expect_status(
        app.post_json(
            "/v1/comparisons",
            &json!({"pairs": [[a, b]], "metrics": ["gulp(lambda=0.010)", "gulp(lambda=0)"]}),
        )
        .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(created["metrics"], json!(["gulp(lambda=0.01)", "gulp"]));
    let refused = expect_problem(
        app.post_json(
            "/v1/comparisons",
            &json!({"pairs": [[a, b]], "metrics": ["gulp(mu=1)"]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_metric",
    )
    .await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("lambda"),
        "{refused}"
    );
}

/// The sizes every memory test below prices and uploads: X is 40 x 5, Y is 40 x 7.
const ROWS: usize = 40;
const X_COLUMNS: usize = 5;
const Y_COLUMNS: usize = 7;

/// `GET /v1/metrics` at n = ROWS, d1 = X_COLUMNS, d2 = Y_COLUMNS.
async fn priced_listing(app: &TestApp) -> serde_json::Value {
    expect_status(
        app.get(&format!(
            "/v1/metrics?n={ROWS}&d1={X_COLUMNS}&d2={Y_COLUMNS}"
        ))
        .await,
        StatusCode::OK,
    )
    .await
}

fn pair_bytes(listing: &serde_json::Value, metric: &str) -> u64 {
    listing["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|item| item["name"] == metric)
        .and_then(|item| item["memory"]["pair_bytes"].as_u64())
        .unwrap_or_else(|| panic!("{metric} is listed with its pair bytes: {listing}"))
}

/// Computes `rsa` and `cka` for X against Y on workers whose budget is `limit` bytes; returns
/// each metric's stored distance row.
async fn distances_within(limit: u64) -> [serde_json::Value; 2] {
    let app = TestApp::spawn_full(
        simbench::config::HttpConfig::default(),
        simbench::config::WorkerConfig {
            measure_memory_bytes: Some(limit),
            ..common::test_workers(1)
        },
    )
    .await;
    let model = app.create_model("m").await;
    let x = app
        .upload(model, "d", 0, common::npy_f32(ROWS, X_COLUMNS, 1))
        .await["id"]
        .clone();
    let y = app
        .upload(model, "d", 1, common::npy_f32(ROWS, Y_COLUMNS, 2))
        .await["id"]
        .clone();
    let created = expect_status(
        app.post_json(
            "/v1/comparisons",
            &json!({"pairs": [[x, y]], "metrics": ["rsa", "cka"]}),
        )
        .await,
        StatusCode::ACCEPTED,
    )
    .await;
    app.wait_for_comparison(created["id"].as_i64().unwrap())
        .await;
    let mut rows = Vec::new();
    for metric in ["rsa", "cka"] {
        let listed = expect_status(
            app.get(&format!("/v1/distances?metric={metric}")).await,
            StatusCode::OK,
        )
        .await;
        rows.push(listed["items"][0].clone());
    }
    rows.try_into().expect("two rows")
}

#[tokio::test]
async fn listed_memory_is_what_the_budget_refuses_on() {
    let app = TestApp::spawn().await;
    let listing = priced_listing(&app).await;
    assert_eq!(
        (
            &listing["memory"]["n"],
            &listing["memory"]["d1"],
            &listing["memory"]["d2"]
        ),
        (&json!(ROWS), &json!(X_COLUMNS), &json!(Y_COLUMNS))
    );
    let rsa = pair_bytes(&listing, "rsa");
    let cka = pair_bytes(&listing, "cka");
    let preparation = &listing["memory"]["preparation_bytes"];
    let (prepare_x, prepare_y) = (
        preparation["x"].as_u64().expect("x"),
        preparation["y"].as_u64().expect("y"),
    );
    assert!(
        cka < prepare_x && prepare_x < prepare_y && prepare_y < rsa,
        "the limits below fall between the figures: {listing}"
    );

    let [rsa_row, cka_row] = distances_within(rsa - 1).await;
    let refusal = rsa_row["refusal"].as_str().unwrap_or_default();
    assert!(
        refusal.contains(&format!("would need {rsa} bytes"))
            && refusal.contains(&format!("limit of {} bytes", rsa - 1)),
        "one byte under the listed cost refuses, naming it: {rsa_row}"
    );
    assert!(cka_row["value"].is_f64(), "{cka_row}");

    let [rsa_row, _] = distances_within(rsa).await;
    assert!(
        rsa_row["value"].is_f64(),
        "the listed cost itself is within the budget: {rsa_row}"
    );

    let [rsa_row, cka_row] = distances_within(prepare_y - 1).await;
    for row in [&rsa_row, &cka_row] {
        let refusal = row["refusal"].as_str().unwrap_or_default();
        assert!(
            refusal.contains(&format!(
                "{ROWS} examples x {Y_COLUMNS} features would need {prepare_y} bytes"
            )),
            "preparing Y one byte over the limit refuses, naming its listed cost: {row}"
        );
    }
}

#[tokio::test]
async fn memory_is_listed_for_every_built_in_and_priced_only_when_asked() {
    let app = TestApp::spawn().await;
    expect_status(
        app.post_json(
            "/v1/metrics",
            &json!({"name": "mine", "description": "a metric of the client's", "symmetric": true}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let unpriced = expect_status(app.get("/v1/metrics").await, StatusCode::OK).await;
    assert!(unpriced.get("memory").is_none(), "{unpriced}");
    let orders: Vec<(String, serde_json::Value)> = unpriced["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            (
                item["name"].as_str().unwrap().to_owned(),
                item["memory"].clone(),
            )
        })
        .collect();
    let order = |name: &str| &orders.iter().find(|(listed, _)| listed == name).unwrap().1;
    assert_eq!(order("cka"), &json!({"order": "d^2"}));
    assert_eq!(order("aligned_cosine"), &json!({"order": "n*d"}));
    assert_eq!(order("rbf_cka"), &json!({"order": "n^2"}));
    assert_eq!(order("ext:mine"), &serde_json::Value::Null);

    let square = expect_status(
        app.get(&format!("/v1/metrics?n={ROWS}&d1={X_COLUMNS}"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(square["memory"]["d2"], X_COLUMNS, "d2 defaults to d1");
    assert_eq!(
        square["memory"]["preparation_bytes"]["x"],
        square["memory"]["preparation_bytes"]["y"]
    );
    let listing = priced_listing(&app).await;
    assert!(
        pair_bytes(&listing, "cka") > pair_bytes(&square, "cka"),
        "the wider Y costs more: {listing}"
    );
    let rbf = pair_bytes(&listing, "rbf_cka");
    let larger = expect_status(
        app.get(&format!(
            "/v1/metrics?n={}&d1={X_COLUMNS}&d2={Y_COLUMNS}",
            2 * ROWS
        ))
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(pair_bytes(&larger, "rbf_cka") > 3 * rbf, "n x n: {larger}");
}

#[tokio::test]
async fn bad_dimensions_are_refused_with_a_stable_code() {
    let app = TestApp::spawn().await;
    for query in [
        "n=0&d1=5",
        "n=-1&d1=5",
        "n=4.5&d1=5",
        "n=abc&d1=5",
        "n=100000001&d1=5",
        "n=18446744073709551616&d1=5",
        "n=40&d1=0",
        "n=40&d1=1000001",
        "n=40&d1=5&d2=",
        "n=40&d1=5&d2=x",
        "n=40",
        "d1=5",
        "d2=5",
        "n=40&d2=5",
    ] {
        expect_problem(
            app.get(&format!("/v1/metrics?{query}")).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_dimensions",
        )
        .await;
    }
    expect_status(
        app.get("/v1/metrics?n=100000000&d1=1000000&d2=1000000")
            .await,
        StatusCode::OK,
    )
    .await;
    expect_problem(
        app.get("/v1/metrics?rows=40").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
}
