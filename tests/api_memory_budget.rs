//! The memory budget through the real API: a pair whose measure would need more memory than
//! `SIMBENCH_MEASURE_MEMORY_BYTES` is refused for that measure with its cost and the limit, never
//! retried, and the service keeps answering (README, Measures: "Memory").

mod common;

use common::{TestApp, expect_status, npy_f32, test_workers};
use reqwest::StatusCode;
use serde_json::json;
use simbench::config::{HttpConfig, WorkerConfig};

const LIMIT: u64 = 64 << 20;

/// The N-class measures: at n = 40 000 each needs n x n matrices or a 256-row strip of n
/// similarities (82 MB), over the limit.
const OVER_BUDGET: [&str; 10] = [
    "rsa",
    "mutual_knn",
    "distance_correlation",
    "jaccard_knn",
    "rank_similarity",
    "second_order_cosine",
    "rsm_norm_diff",
    "uniformity_diff",
    "cknna",
    "rbf_cka",
];

#[tokio::test]
async fn n_class_measures_over_the_budget_are_refused_with_cost_and_limit() {
    let app = TestApp::spawn_full(
        HttpConfig::default(),
        WorkerConfig {
            measure_memory_bytes: Some(LIMIT),
            ..test_workers(1)
        },
    )
    .await;
    let model = app.create_model("wide").await;
    // 640 KB of float32: rsa's n x n RDM alone would take about 19 GB.
    let a = app.upload(model, "long", 0, npy_f32(40_000, 4, 1)).await["id"]
        .as_i64()
        .unwrap();
    let b = app.upload(model, "long", 1, npy_f32(40_000, 4, 2)).await["id"]
        .as_i64()
        .unwrap();
    let mut metrics = OVER_BUDGET.to_vec();
    metrics.push("cka");
    let created = expect_status(
        app.post_json(
            "/v1/comparisons",
            &json!({"pairs": [[a, b]], "metrics": metrics}),
        )
        .await,
        StatusCode::ACCEPTED,
    )
    .await;
    let state = app
        .wait_for_comparison(created["id"].as_i64().unwrap())
        .await;
    assert_eq!(
        state["status"], "done",
        "an over-budget measure is an outcome"
    );

    for metric in OVER_BUDGET {
        let rows = expect_status(
            app.get(&format!("/v1/distances?metric={metric}")).await,
            StatusCode::OK,
        )
        .await;
        let row = &rows["items"][0];
        assert!(row.is_object(), "{metric}: a distance is recorded: {rows}");
        assert_eq!(row["value"], serde_json::Value::Null, "{metric}: {row}");
        let reason = row["refusal"].as_str().unwrap_or_default();
        assert!(
            reason.contains(&LIMIT.to_string())
                && reason.contains("bytes")
                && reason.contains("SIMBENCH_MEASURE_MEMORY_BYTES")
                && reason.contains(metric),
            "{metric}: {reason}"
        );
    }
    let cka = expect_status(app.get("/v1/distances?metric=cka").await, StatusCode::OK).await;
    assert!(cka["items"][0]["value"].as_f64().is_some(), "{cka}");

    let attempts: Vec<i32> = sqlx::query_scalar("SELECT attempts FROM jobs")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(attempts, [1], "a refusal is never retried");
    expect_status(app.get("/healthz").await, StatusCode::OK).await;
    expect_status(app.get("/v1/models").await, StatusCode::OK).await;
}
