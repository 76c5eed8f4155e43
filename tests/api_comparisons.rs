//! Comparisons, distances and jobs over HTTP, computed by in-process workers.

mod common;

use common::{TestApp, expect_problem, expect_status, npy_f32};
use reqwest::StatusCode;
use serde_json::{Value, json};
use simbench::metrics::{Metric, MetricKind, Prepared, compare};

/// Uploads `count` representations of one model on dataset "d" (n = 60, d = 6); returns ids.
async fn representations(app: &TestApp, count: usize) -> Vec<i64> {
    let model = app.create_model("m").await;
    let mut ids = Vec::new();
    for layer in 0..count {
        let created = app
            .upload_representation(model, "d", layer, npy_f32(60, 6, layer as u64 + 1))
            .await;
        ids.push(created.id);
    }
    ids
}

async fn create_comparison(app: &TestApp, body: Value) -> Value {
    let response = app.post_json("/v1/comparisons", &body).await;
    expect_status(response, StatusCode::ACCEPTED).await
}

/// The metric value the engine gives for this pair, from the stored matrices.
async fn expected(app: &TestApp, metric: Metric, first: i64, second: i64) -> f64 {
    let mut prepared = Vec::new();
    for id in [first, second] {
        let matrix = app.download(&json!(id)).await;
        prepared.push(Prepared::new(matrix.to_f64()).unwrap());
    }
    compare(&prepared[0], &prepared[1], &[metric])[&metric]
        .clone()
        .unwrap()
}

#[tokio::test]
async fn all_pairs_are_computed_once_and_served_as_rows_and_matrices() {
    let app = TestApp::spawn_with_workers(2).await;
    let ids = representations(&app, 4).await;
    let created = create_comparison(
        &app,
        json!({"representations": ids, "all_pairs": true, "metrics": ["cka", "pwcca", "procrustes"]}),
    )
    .await;
    // 6 unordered pairs, plus the reverse order of each for the asymmetric pwcca.
    assert_eq!(created["total"], 12);
    let done = app
        .wait_for_comparison(created["id"].as_i64().unwrap())
        .await;
    assert_eq!(
        (done["status"].as_str(), done["done"].as_i64()),
        (Some("done"), Some(12))
    );

    let rows = expect_status(
        app.get("/v1/distances?metric=cka&limit=1000").await,
        StatusCode::OK,
    )
    .await;
    let rows = rows["items"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    assert!(
        rows.iter()
            .all(|row| row["rep_a"].as_i64() < row["rep_b"].as_i64()),
        "symmetric: rep_a < rep_b"
    );
    let pwcca = expect_status(app.get("/v1/distances?metric=pwcca").await, StatusCode::OK).await;
    assert_eq!(
        pwcca["items"].as_array().unwrap().len(),
        12,
        "pwcca in both orders"
    );

    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let matrix = expect_status(
        app.get(&format!(
            "/v1/distances/matrix?metric=pwcca&representations={list}"
        ))
        .await,
        StatusCode::OK,
    )
    .await;
    let values = &matrix["values"];
    assert_eq!(values[0][0], 0.0);
    let forward = values[0][1].as_f64().unwrap();
    let backward = values[1][0].as_f64().unwrap();
    assert!(
        (forward - expected(&app, Metric::of(MetricKind::Pwcca), ids[0], ids[1]).await).abs()
            < 1e-12
    );
    assert!(
        (backward - expected(&app, Metric::of(MetricKind::Pwcca), ids[1], ids[0]).await).abs()
            < 1e-12
    );
    assert_ne!(forward, backward, "row = first argument");
    let cka = expect_status(
        app.get(&format!(
            "/v1/distances/matrix?metric=cka&representations={list}"
        ))
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        cka["values"][2][3], cka["values"][3][2],
        "symmetric metrics fill both halves"
    );
    assert!(
        (cka["values"][2][3].as_f64().unwrap()
            - expected(&app, Metric::of(MetricKind::Cka), ids[2], ids[3]).await)
            .abs()
            < 1e-12
    );

    let by_representation = expect_status(
        app.get(&format!("/v1/distances?rep={}&metric=cka", ids[0]))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_representation["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn known_distances_are_not_computed_again() {
    let app = TestApp::spawn_with_workers(1).await;
    let ids = representations(&app, 3).await;
    let first = create_comparison(
        &app,
        json!({"pairs": [[ids[0], ids[1]]], "metrics": ["cka"]}),
    )
    .await;
    app.wait_for_comparison(first["id"].as_i64().unwrap()).await;
    let jobs_before: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&app.db)
        .await
        .unwrap();

    // The same pair in the other order, and a new one: only the new one is computed.
    let second = create_comparison(
        &app,
        json!({"pairs": [[ids[1], ids[0]], [ids[1], ids[2]]], "metrics": ["cka"]}),
    )
    .await;
    let state = app
        .wait_for_comparison(second["id"].as_i64().unwrap())
        .await;
    assert_eq!(
        (state["total"].as_i64(), state["done"].as_i64()),
        (Some(2), Some(2))
    );
    let jobs_after: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(jobs_after - jobs_before, 1);
}

#[tokio::test]
async fn a_metric_that_refuses_a_pair_records_why() {
    let app = TestApp::spawn_with_workers(1).await;
    let model = app.create_model("m").await;
    // n = 8 examples with 10 features: the CCA family is not defined.
    let a = app.upload(model, "small", 0, npy_f32(8, 10, 1)).await["id"]
        .as_i64()
        .unwrap();
    let b = app.upload(model, "small", 1, npy_f32(8, 10, 2)).await["id"]
        .as_i64()
        .unwrap();
    let created = create_comparison(
        &app,
        json!({"pairs": [[a, b]], "metrics": ["cka", "cca_mean"]}),
    )
    .await;
    let state = app
        .wait_for_comparison(created["id"].as_i64().unwrap())
        .await;
    assert_eq!(
        state["status"], "done",
        "a refusal is an outcome, not a failure"
    );
    let rows = expect_status(
        app.get("/v1/distances?metric=cca_mean").await,
        StatusCode::OK,
    )
    .await;
    let refused = &rows["items"][0];
    assert_eq!(refused["value"], Value::Null);
    let reason = refused["refusal"].as_str().unwrap();
    assert!(
        reason.contains("n = 8") && reason.contains("d = 10"),
        "{reason}"
    );
}

#[tokio::test]
async fn comparison_requests_are_validated() {
    let app = TestApp::spawn().await;
    let ids = representations(&app, 2).await;
    let model = app.create_model("other").await;
    let elsewhere = app
        .upload(model, "other-dataset", 0, npy_f32(5, 3, 1))
        .await["id"]
        .as_i64()
        .unwrap();
    let before = app.row_counts().await;

    let unknown = app
        .post_json(
            "/v1/comparisons",
            &json!({"pairs": [[ids[0], ids[1]]], "metrics": ["cka", "cosine"]}),
        )
        .await;
    let problem = expect_problem(unknown, StatusCode::UNPROCESSABLE_ENTITY, "unknown_metric").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("procrustes_angular"),
        "lists the valid names: {problem}"
    );

    let mixed = app
        .post_json(
            "/v1/comparisons",
            &json!({"pairs": [[ids[0], elsewhere]], "metrics": ["cka"]}),
        )
        .await;
    let problem = expect_problem(
        mixed,
        StatusCode::UNPROCESSABLE_ENTITY,
        "different_datasets",
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("other-dataset")
    );

    let missing = app
        .post_json(
            "/v1/comparisons",
            &json!({"pairs": [[ids[0], 9999]], "metrics": ["cka"]}),
        )
        .await;
    expect_problem(missing, StatusCode::NOT_FOUND, "not_found").await;
    let both = app
        .post_json("/v1/comparisons", &json!({"pairs": [[ids[0], ids[1]]], "representations": ids, "all_pairs": true, "metrics": ["cka"]}))
        .await;
    expect_problem(both, StatusCode::UNPROCESSABLE_ENTITY, "invalid_comparison").await;
    let none = app
        .post_json(
            "/v1/comparisons",
            &json!({"pairs": [[ids[0], ids[1]]], "metrics": []}),
        )
        .await;
    expect_problem(none, StatusCode::UNPROCESSABLE_ENTITY, "unknown_metric").await;
    assert_eq!(app.row_counts().await, before);
    expect_problem(
        app.get("/v1/comparisons/77").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn cancelling_a_comparison_cancels_its_queued_jobs_but_not_shared_ones() {
    let app = TestApp::spawn().await;
    let ids = representations(&app, 3).await;
    let mine = create_comparison(
        &app,
        json!({"representations": ids, "all_pairs": true, "metrics": ["cka"]}),
    )
    .await;
    let theirs = create_comparison(
        &app,
        json!({"pairs": [[ids[0], ids[1]]], "metrics": ["cka"]}),
    )
    .await;
    assert_eq!(
        theirs["total"], 1,
        "shares the queued job of the first comparison"
    );

    let cancelled = app.delete(&format!("/v1/comparisons/{}", mine["id"])).await;
    let cancelled = expect_status(cancelled, StatusCode::OK).await;
    assert_eq!(
        (
            cancelled["cancelled"].as_i64(),
            cancelled["queued"].as_i64()
        ),
        (Some(2), Some(1))
    );
    let jobs = expect_status(app.get("/v1/jobs?status=queued").await, StatusCode::OK).await;
    assert_eq!(jobs["items"].as_array().unwrap().len(), 1);

    app.start_workers(1);
    let theirs = app
        .wait_for_comparison(theirs["id"].as_i64().unwrap())
        .await;
    assert_eq!(theirs["status"], "done");
    let mine = app.wait_for_comparison(mine["id"].as_i64().unwrap()).await;
    assert_eq!(mine["status"], "cancelled");
}

#[tokio::test]
async fn prometheus_metrics_report_the_queue_and_the_work() {
    let app = TestApp::spawn_with_workers(1).await;
    let ids = representations(&app, 3).await;
    let created = create_comparison(
        &app,
        json!({"representations": ids, "all_pairs": true, "metrics": ["cka", "procrustes"]}),
    )
    .await;
    app.wait_for_comparison(created["id"].as_i64().unwrap())
        .await;
    let response = app.get("/metrics").await;
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    assert!(text.contains("simbench_jobs{status=\"done\"} 3"), "{text}");
    assert!(
        text.contains("simbench_jobs{status=\"queued\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("simbench_compute_seconds_count{metric=\"procrustes\"}"),
        "{text}"
    );
    assert!(text.contains("simbench_http_request_duration_seconds_bucket{method=\"POST\",route=\"/v1/comparisons\""), "{text}");
}
