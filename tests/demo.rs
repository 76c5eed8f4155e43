//! `simbench demo` end to end against the real application with in-process workers, on a study
//! small enough for a test.

mod common;

use reqwest::StatusCode;
use serde_json::Value;

use common::{TestApp, expect_status};
use simbench::benchmark::leaderboard::Statistic;
use simbench::cli::demo::{DemoArgs, run};

fn small_demo(url: &str, token: &str) -> DemoArgs {
    DemoArgs {
        url: url.to_owned(),
        models: 3,
        finetunes: 4,
        layers: 4,
        n: 120,
        d: 16,
        metrics: Some("cka,pwcca,procrustes".to_owned()),
        seed: 1,
        token: Some(token.to_owned()),
    }
}

#[tokio::test]
async fn the_demo_publishes_six_finished_benchmarks_and_a_leaderboard_of_the_trio() {
    let app = TestApp::spawn_with_workers(2).await;
    let report = run(&small_demo(&app.base_url, &app.token))
        .await
        .expect("the demo runs");

    let hex = report
        .run_id
        .strip_prefix("demo-")
        .expect("run ids read demo-<8 hex>");
    assert!(hex.len() == 8 && hex.chars().all(|c| c.is_ascii_hexdigit()));

    assert_eq!(report.benchmarks.len(), 6);
    for benchmark in &report.benchmarks {
        assert!(
            benchmark.name.starts_with(&report.run_id),
            "{}",
            benchmark.name
        );
        let state = expect_status(
            app.get(&format!("/v1/benchmarks/{}", benchmark.id)).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(state["status"], "done", "{state}");
        assert_eq!(state["published"], true, "{state}");
        assert_eq!(state["left_out"], Value::Array(Vec::new()), "{state}");
        assert_eq!(state["progress"]["failed"], 0, "{state}");
    }
    let published = expect_status(
        app.get("/v1/benchmarks?published=true").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(published["items"].as_array().map(Vec::len), Some(6));

    // 3 pretrained networks and 3 x 4 finetuned ones, all tagged.
    let models = expect_status(app.get("/v1/models?tag=demo").await, StatusCode::OK).await;
    let models = models["items"].as_array().expect("a list of models");
    assert_eq!(models.len(), 3 + 12);
    assert!(models.iter().all(|model| {
        model["name"]
            .as_str()
            .is_some_and(|name| name.starts_with(&report.run_id))
    }));

    // Finetuned networks carry their logits on the dataset; pretrained ones have no head.
    for model in models {
        let name = model["name"].as_str().unwrap();
        let path = format!(
            "/v1/models/{}/outputs?dataset={}",
            model["id"], report.run_id
        );
        let response = app
            .client
            .get(app.url(&path))
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .unwrap();
        if name.contains("-finetuned-") {
            let stored = expect_status(response, StatusCode::OK).await;
            assert_eq!(
                (stored["n_rows"].as_i64(), stored["n_classes"].as_i64()),
                (Some(120), Some(2))
            );
        } else {
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{name}");
        }
    }

    let leaderboard = &report.leaderboard;
    let ids: Vec<i64> = report
        .benchmarks
        .iter()
        .map(|benchmark| benchmark.id)
        .collect();
    let columns: Vec<i64> = leaderboard
        .benchmarks
        .iter()
        .map(|column| column.id)
        .collect();
    assert_eq!(columns, ids);
    let mut metrics: Vec<String> = leaderboard
        .rows
        .iter()
        .map(|row| row.metric.name())
        .collect();
    metrics.sort_unstable();
    assert_eq!(metrics, ["cka", "procrustes", "pwcca"]);
    let statistics: Vec<Statistic> = leaderboard
        .benchmarks
        .iter()
        .map(|column| column.statistic)
        .collect();
    assert_eq!(
        statistics,
        [
            Statistic::Spearman,
            Statistic::Spearman,
            Statistic::Spearman,
            Statistic::Spearman,
            Statistic::Auprc,
            Statistic::Correlation
        ]
    );
    for row in &leaderboard.rows {
        assert_eq!(row.cells.len(), 6);
        for (cell, statistic) in row.cells.iter().zip(&statistics) {
            let value = cell.value.unwrap_or(f64::NAN);
            let range = match statistic {
                Statistic::Auprc => 0.0..=1.0,
                _ => -1.0..=1.0,
            };
            assert!(
                value.is_finite() && range.contains(&value),
                "{}: {} = {:?} on benchmark {}",
                row.metric.name(),
                statistic.name(),
                cell.value,
                cell.benchmark
            );
        }
        assert!(row.mean_rank.is_some_and(f64::is_finite));
    }
}

#[tokio::test]
async fn without_a_token_the_demo_says_how_to_get_one() {
    let app = TestApp::spawn().await;
    let args = DemoArgs {
        token: None,
        ..small_demo(&app.base_url, &app.token)
    };
    let error = run(&args).await.expect_err("the service wants a token");
    let message = format!("{error:#}");
    assert!(
        message.contains("401") && message.contains("SIMBENCH_TOKEN"),
        "{message}"
    );
}
