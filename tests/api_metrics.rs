//! `GET /v1/metrics` lists every metric with its parameters, symmetry and cost class, and the
//! identifiers it lists are the ones comparisons accept.

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
