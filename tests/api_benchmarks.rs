//! Benchmarks end to end through the API: uploads, scores, server-made principal-component
//! copies, protocols, results against the golden fixture, staleness, and the leaderboard.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use common::{TestApp, expect_problem, expect_status, npy_f32, wait_for_benchmark};
use reqwest::StatusCode;
use serde_json::{Value, json};
use simbench::benchmark::{Functional, Protocol};
use simbench::store::benchmarks::{self, Definition, PlannedRun, Selection};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/benchmark");

fn fixture() -> Value {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("benchmark.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn create_benchmark(app: &TestApp, body: Value) -> Value {
    expect_status(
        app.post_json("/v1/benchmarks", &body).await,
        StatusCode::CREATED,
    )
    .await
}

/// The fixture study through the service: the 12 uploaded representations and their scores,
/// the 24 principal-component copies made by the service and their scores. Returns the
/// service id of each fixture id.
async fn load_fixture_study(app: &TestApp, fixture: &Value) -> HashMap<i64, i64> {
    let mut service_ids = HashMap::new();
    let mut models = HashMap::new();
    let mut scores = Vec::new();
    for representation in fixture["representations"].as_array().unwrap() {
        let fixture_id = representation["id"].as_i64().unwrap();
        let model_name = representation["model"].as_str().unwrap().to_owned();
        if !models.contains_key(&model_name) {
            models.insert(model_name.clone(), app.create_model(&model_name).await);
        }
        let id = if let Some(parent) = representation["parent"].as_i64() {
            let k = representation["pca_keep"].as_i64().unwrap();
            let derived = app
                .post_json(
                    &format!("/v1/representations/{}/derived", service_ids[&parent]),
                    &json!({"pca_keep": [k]}),
                )
                .await;
            let derived = expect_status(derived, StatusCode::CREATED).await;
            assert_eq!(derived["items"][0]["transform"], json!({"pca_keep": k}));
            derived["items"][0]["id"].as_i64().unwrap()
        } else {
            let npy =
                std::fs::read(Path::new(FIXTURES).join(representation["file"].as_str().unwrap()))
                    .unwrap();
            let layer = representation["layer"].as_i64().unwrap() as i32;
            app.upload(models[&model_name], "fixture", layer, npy).await["id"]
                .as_i64()
                .unwrap()
        };
        service_ids.insert(fixture_id, id);
        scores.push(
            json!({"representation": id, "name": "probe_acc", "value": representation["score"]}),
        );
    }
    expect_status(
        app.post_json("/v1/scores", &json!({"scores": scores}))
            .await,
        StatusCode::OK,
    )
    .await;
    service_ids
}

fn close(got: &Value, want: &Value, tolerance: f64, what: &str) {
    let (got, want) = (got.as_f64().unwrap_or(f64::NAN), want.as_f64().unwrap());
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: got {got}, want {want}"
    );
}

#[tokio::test]
async fn the_three_fixture_protocols_give_the_golden_results() {
    let app = TestApp::spawn_with_workers(2).await;
    let fixture = fixture();
    let ids = load_fixture_study(&app, &fixture).await;
    let tolerance = fixture["tolerance"]["abs"].as_f64().unwrap();
    let cases = [
        (
            "reference_same_group",
            json!({"kind": "reference", "group_by": "layer", "compare_to": "same_group"}),
            true,
        ),
        (
            "reference_all_nonderived",
            json!({"kind": "reference", "group_by": "layer", "compare_to": "all"}),
            false,
        ),
        (
            "all_pairs_nonderived",
            json!({"kind": "all_pairs", "group_by": "layer"}),
            false,
        ),
    ];
    for (case, protocol, include_derived) in cases {
        let created = create_benchmark(
            &app,
            json!({
                "name": case, "dataset": "fixture", "score": "probe_acc", "protocol": protocol,
                "select": {"include_derived": include_derived},
                "metrics": ["cka", "pwcca", "procrustes"],
            }),
        )
        .await;
        assert_eq!(
            created["n_representations"],
            if include_derived { 36 } else { 12 }
        );
        let id = created["id"].as_i64().unwrap();
        let state = wait_for_benchmark(&app, id).await;
        assert_eq!(state["status"], "done", "{state}");
        let results = expect_status(
            app.get(&format!("/v1/benchmarks/{id}/results")).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(results["partial"], false);
        for metric in ["cka", "pwcca", "procrustes"] {
            let want = &fixture["results"][metric][case];
            let got = &results["metrics"][metric];
            for statistic in ["spearman", "spearman_p", "kendall", "kendall_p", "bad_frac"] {
                close(
                    &got[statistic],
                    &want["mean"][statistic],
                    tolerance,
                    &format!("{case} {metric} mean {statistic}"),
                );
            }
            for (layer, want_group) in want["groups"].as_object().unwrap() {
                let layer: i64 = layer.parse().unwrap();
                let group = got["groups"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|group| group["group"] == layer)
                    .unwrap();
                let what = format!("{case} {metric} layer {layer}");
                for statistic in ["spearman", "spearman_p", "kendall", "kendall_p", "bad_frac"] {
                    close(
                        &group[statistic],
                        &want_group[statistic],
                        tolerance,
                        &format!("{what} {statistic}"),
                    );
                }
                assert_eq!(group["n_pairs"], want_group["n_pairs"], "{what}");
                assert_eq!(group["n_refused"], want_group["n_refused"], "{what}");
                if let Some(reference) = want_group["reference"].as_i64() {
                    assert_eq!(group["reference"], ids[&reference], "{what} reference");
                }
            }
        }
    }
}

/// A small study: `models` models x 3 layers of 40 x 6 on dataset "d".
async fn small_study(app: &TestApp, models: usize) -> Vec<Vec<i64>> {
    let mut study = Vec::new();
    for model in 0..models {
        let id = expect_status(
            app.post_json(
                "/v1/models",
                &json!({"name": format!("m{model}"), "metadata": {"seed": model, "family": if model % 2 == 0 { "even" } else { "odd" }}, "tags": ["study"]}),
            )
            .await,
            StatusCode::CREATED,
        )
        .await["id"]
            .as_i64()
            .unwrap();
        let mut layers = Vec::new();
        for layer in 0..3 {
            let seed = (model * 10 + layer) as u64 + 1;
            layers.push(
                app.upload(id, "d", layer as i32, npy_f32(40, 6, seed))
                    .await["id"]
                    .as_i64()
                    .unwrap(),
            );
        }
        study.push(layers);
    }
    study
}

async fn put_score(app: &TestApp, path: &str, value: f64) {
    expect_status(
        app.put_json(path, &json!({"value": value})).await,
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn definitions_are_validated_and_model_scores_apply_unless_overridden() {
    let app = TestApp::spawn().await;
    let study = small_study(&app, 3).await;
    let model_ids: Vec<i64> = {
        let page = expect_status(app.get("/v1/models").await, StatusCode::OK).await;
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect()
    };
    put_score(
        &app,
        &format!("/v1/models/{}/scores/ood", model_ids[0]),
        0.5,
    )
    .await;
    put_score(
        &app,
        &format!("/v1/models/{}/scores/ood", model_ids[1]),
        0.6,
    )
    .await;
    put_score(
        &app,
        &format!("/v1/representations/{}/scores/ood", study[1][2]),
        0.9,
    )
    .await;
    let before = app.row_counts().await;

    let base = json!({"name": "b", "dataset": "d", "score": "ood", "protocol": {"kind": "all_pairs", "group_by": "none"}, "metrics": ["cka"]});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let problem = expect_problem(
        app.post_json("/v1/benchmarks", &with("dataset", json!("nope")))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_dataset",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("nope"));
    let problem = expect_problem(
        app.post_json("/v1/benchmarks", &with("score", json!("probe")))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_score",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("\"probe\"")
            && problem["detail"].as_str().unwrap().contains("ood"),
        "{problem}"
    );
    let problem = expect_problem(
        app.post_json(
            "/v1/benchmarks",
            &with("metrics", json!(["cka", "nonsense"])),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_metric",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("nonsense"));
    expect_problem(
        app.post_json(
            "/v1/benchmarks",
            &with("protocol", json!({"kind": "sideways", "group_by": "layer"})),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
    expect_problem(
        app.post_json(
            "/v1/benchmarks",
            &with("bootstrap", json!({"resamples": 0})),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_bootstrap",
    )
    .await;
    assert_eq!(
        app.row_counts().await,
        before,
        "refused definitions leave nothing behind"
    );

    let created = create_benchmark(&app, base.clone()).await;
    let problem = expect_problem(
        app.post_json("/v1/benchmarks", &base).await,
        StatusCode::CONFLICT,
        "benchmark_exists",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("name"));
    assert_eq!(
        created["n_representations"], 6,
        "the two models with a model-level score"
    );
    let after_first = app.row_counts().await;
    let problem = expect_problem(
        app.post_json("/v1/benchmarks", &base).await,
        StatusCode::CONFLICT,
        "benchmark_exists",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("name"),
        "{problem}"
    );
    assert_eq!(
        app.row_counts().await,
        after_first,
        "a duplicate name queues nothing"
    );
    let left_out: Vec<i64> = created["left_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["representation"].as_i64().unwrap())
        .collect();
    assert_eq!(
        left_out, study[2],
        "the third model has no score: its layers are listed"
    );
    assert!(
        created["left_out"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("ood")
    );
    let id = created["id"].as_i64().unwrap();
    let results = expect_status(
        app.get(&format!("/v1/benchmarks/{id}/results")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        results["partial"], true,
        "results exist before the distances, marked partial"
    );
    assert_eq!(results["metrics"]["cka"]["n_missing"], 15);
    assert_eq!(results["metrics"]["cka"]["spearman"], Value::Null);
    let pairs = expect_status(
        app.get(&format!("/v1/benchmarks/{id}/pairs?metric=cka"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(
        pairs["rows"].as_array().unwrap().is_empty(),
        "no distance computed yet"
    );

    app.start_workers(1);
    wait_for_benchmark(&app, id).await;
    let results = expect_status(
        app.get(&format!("/v1/benchmarks/{id}/results")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(results["partial"], false);
    assert!(results["metrics"]["cka"]["spearman"].is_f64());
    assert_eq!(results["metrics"]["cka"]["n_pairs"], 15);
    let pairs = expect_status(
        app.get(&format!("/v1/benchmarks/{id}/pairs?metric=cka"))
            .await,
        StatusCode::OK,
    )
    .await;
    let rows = pairs["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 15, "all pairs of 6");
    let y_of = |first: i64, second: i64| {
        rows.iter()
            .find(|row| row["first"] == first && row["second"] == second)
            .unwrap()["y"]
            .as_f64()
            .unwrap()
    };
    assert!(
        (y_of(study[0][0], study[1][0]) - 0.1).abs() < 1e-9,
        "model scores 0.5 and 0.6"
    );
    assert!(
        (y_of(study[0][0], study[1][2]) - 0.4).abs() < 1e-9,
        "the representation's own 0.9 wins"
    );
    assert!(
        rows.iter()
            .all(|row| row["x"].as_f64().is_some_and(|x| x >= 0.0))
    );

    let by_family = create_benchmark(
        &app,
        json!({"name": "by family", "dataset": "d", "score": "ood", "protocol": {"kind": "reference", "group_by": "family"}, "metrics": ["cka"], "bootstrap": {"resamples": 200, "seed": 3}}),
    )
    .await;
    let id = by_family["id"].as_i64().unwrap();
    wait_for_benchmark(&app, id).await;
    let results = expect_status(
        app.get(&format!("/v1/benchmarks/{id}/results")).await,
        StatusCode::OK,
    )
    .await;
    let groups: Vec<&Value> = results["metrics"]["cka"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| &g["group"])
        .collect();
    assert_eq!(
        groups,
        vec![&json!("even"), &json!("odd")],
        "grouped by the model metadata value"
    );
    let missing_group = app
        .get(&format!("/v1/benchmarks/{id}/pairs?metric=cka"))
        .await;
    expect_problem(missing_group, StatusCode::BAD_REQUEST, "group_required").await;
    let pairs = expect_status(
        app.get(&format!("/v1/benchmarks/{id}/pairs?metric=cka&group=odd"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        pairs["reference"], study[1][2],
        "the highest score in its group"
    );
}

#[tokio::test]
async fn changed_scores_and_new_representations_make_a_benchmark_stale_until_run_again() {
    let app = TestApp::spawn_with_workers(1).await;
    let study = small_study(&app, 2).await;
    for (model, layers) in study.iter().enumerate() {
        for (layer, id) in layers.iter().enumerate() {
            put_score(
                &app,
                &format!("/v1/representations/{id}/scores/probe"),
                0.5 + 0.1 * layer as f64 + 0.01 * model as f64,
            )
            .await;
        }
    }
    let body = json!({"name": "depth", "dataset": "d", "score": "probe", "select": {"tags": ["study"]}, "protocol": {"kind": "reference", "group_by": "seed"}, "metrics": ["cka", "procrustes"]});
    let id = create_benchmark(&app, body).await["id"].as_i64().unwrap();
    assert_eq!(wait_for_benchmark(&app, id).await["status"], "done");

    put_score(
        &app,
        &format!("/v1/representations/{}/scores/probe", study[0][1]),
        0.99,
    )
    .await;
    let state = get_benchmark(&app, id).await;
    assert_eq!(
        state["status"], "stale",
        "a score inside the selection changed"
    );
    let rerun = app
        .client
        .post(app.url(&format!("/v1/benchmarks/{id}/run")))
        .send()
        .await
        .unwrap();
    expect_status(rerun, StatusCode::ACCEPTED).await;
    assert_eq!(wait_for_benchmark(&app, id).await["status"], "done");

    // Unrelated scores and representations outside the selection leave it alone.
    put_score(
        &app,
        &format!("/v1/representations/{}/scores/other", study[0][1]),
        0.1,
    )
    .await;
    let outsider = app.create_model("outsider").await;
    app.upload_representation(outsider, "d", 0, npy_f32(40, 6, 99))
        .await;
    let state = get_benchmark(&app, id).await;
    assert_eq!(state["status"], "done");

    // A new layer of a selected model, with the score, is inside the selection.
    let model = model_of(&app, study[1][0]).await;
    let newcomer = app.upload(model, "d", 7, npy_f32(40, 6, 77)).await;
    let state = get_benchmark(&app, id).await;
    assert_eq!(
        state["status"], "done",
        "without a score it cannot take part"
    );
    put_score(
        &app,
        &format!("/v1/representations/{}/scores/probe", newcomer["id"]),
        0.7,
    )
    .await;
    let state = get_benchmark(&app, id).await;
    assert_eq!(state["status"], "stale");
    let rerun = app
        .client
        .post(app.url(&format!("/v1/benchmarks/{id}/run")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_status(rerun, StatusCode::ACCEPTED).await["n_representations"],
        7
    );
}

/// A write that lands while a new benchmark's run is being planned concerns a run the planning
/// could not see it in: it waits for the run to commit, then marks it stale.
#[tokio::test]
async fn a_score_set_while_a_run_is_planned_makes_that_run_stale() {
    let app = TestApp::spawn().await;
    let study = small_study(&app, 2).await;
    let protocol: Protocol =
        serde_json::from_value(json!({"kind": "reference", "group_by": "seed"})).unwrap();
    let definition = Definition {
        name: "planned".into(),
        description: None,
        dataset: "d".into(),
        selection: Selection {
            tags: Some(vec!["study".into()]),
            ..Selection::default()
        },
        score: Some("probe".into()),
        functional: Some(json!(Functional::ScoreDifference {
            score: "probe".into()
        })),
        protocol: json!(protocol),
        metrics: vec!["cka".parse().unwrap()],
        bootstrap: None,
        permutation: None,
    };
    let mut planning = benchmarks::begin_create(&app.db, &definition, None)
        .await
        .unwrap();
    let candidates = planning.candidates().await.unwrap();
    assert!(
        candidates.iter().all(|candidate| candidate.score.is_none()),
        "the planning reads the data before the score is set"
    );

    let (client, url) = (
        app.client.clone(),
        app.url(&format!("/v1/representations/{}/scores/probe", study[0][1])),
    );
    let writer =
        tokio::spawn(async move { client.put(url).json(&json!({"value": 0.9})).send().await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !writer.is_finished(),
        "the score waits for the run being planned"
    );
    let id = planning.commit(&PlannedRun::default(), None).await.unwrap();
    expect_status(writer.await.unwrap().unwrap(), StatusCode::OK).await;

    let state = get_benchmark(&app, id).await;
    assert_eq!(
        state["status"], "stale",
        "the run was planned without the score"
    );
}

async fn get_benchmark(app: &TestApp, id: i64) -> Value {
    expect_status(
        app.get(&format!("/v1/benchmarks/{id}")).await,
        StatusCode::OK,
    )
    .await
}

async fn model_of(app: &TestApp, representation: i64) -> i64 {
    let found = expect_status(
        app.get(&format!("/v1/representations/{representation}"))
            .await,
        StatusCode::OK,
    )
    .await;
    found["model_id"].as_i64().unwrap()
}

#[tokio::test]
async fn derived_copies_are_idempotent_and_checked() {
    let app = TestApp::spawn().await;
    let model = app.create_model("m").await;
    let parent = app.upload(model, "d", 0, npy_f32(30, 8, 1)).await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/v1/representations/{parent}/derived");

    let made = expect_status(
        app.post_json(&path, &json!({"pca_keep": [4, 2]})).await,
        StatusCode::CREATED,
    )
    .await;
    let items = made["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        (items[0]["n_cols"].as_i64(), items[1]["n_cols"].as_i64()),
        (Some(4), Some(2))
    );
    assert!(
        items
            .iter()
            .all(|item| item["parent_id"] == parent && item["dtype"] == "float64")
    );
    let again = expect_status(
        app.post_json(&path, &json!({"pca_keep": [2, 4]})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["items"][0]["id"], items[1]["id"]);
    let listed = expect_status(
        app.get("/v1/representations?derived=true").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);

    let before = app.row_counts().await;
    let problem = expect_problem(
        app.post_json(&path, &json!({"pca_keep": [9]})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_k",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("k = 9")
            && problem["detail"].as_str().unwrap().contains("d = 8")
    );
    expect_problem(
        app.post_json(&path, &json!({"pca_keep": [0]})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_k",
    )
    .await;
    let derived_path = format!("/v1/representations/{}/derived", items[0]["id"]);
    expect_problem(
        app.post_json(&derived_path, &json!({"pca_keep": [1]}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "derived_parent",
    )
    .await;
    assert_eq!(app.row_counts().await, before);

    // Deleting the parent deletes its copies.
    expect_status(
        app.delete(&format!("/v1/representations/{parent}")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let listed = expect_status(app.get("/v1/representations").await, StatusCode::OK).await;
    assert!(listed["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_leaderboard_ranks_metrics_across_published_benchmarks() {
    let app = TestApp::spawn_with_workers(2).await;
    let study = small_study(&app, 4).await;
    for (model, layers) in study.iter().enumerate() {
        for (layer, id) in layers.iter().enumerate() {
            put_score(
                &app,
                &format!("/v1/representations/{id}/scores/probe"),
                0.4 + 0.15 * layer as f64 + 0.02 * model as f64,
            )
            .await;
        }
    }
    let first = create_benchmark(&app, json!({"name": "all metrics", "dataset": "d", "score": "probe", "protocol": {"kind": "all_pairs", "group_by": "none"}, "metrics": ["cka", "procrustes", "cka_debiased"]})).await;
    let second = create_benchmark(&app, json!({"name": "two metrics", "dataset": "d", "score": "probe", "protocol": {"kind": "reference", "group_by": "seed", "compare_to": "all"}, "metrics": ["procrustes", "cka"]})).await;
    let unpublished = create_benchmark(&app, json!({"name": "draft", "dataset": "d", "score": "probe", "protocol": {"kind": "all_pairs", "group_by": "layer"}, "metrics": ["rsa"]})).await;
    for benchmark in [&first, &second, &unpublished] {
        wait_for_benchmark(&app, benchmark["id"].as_i64().unwrap()).await;
    }
    for benchmark in [&first, &second] {
        let published = app
            .client
            .post(app.url(&format!("/v1/benchmarks/{}/publish", benchmark["id"])))
            .send()
            .await
            .unwrap();
        assert_eq!(
            expect_status(published, StatusCode::OK).await["published"],
            true
        );
    }

    let board = expect_status(app.get("/v1/leaderboard").await, StatusCode::OK).await;
    let columns: Vec<&Value> = board["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| &b["name"])
        .collect();
    assert_eq!(columns, vec![&json!("all metrics"), &json!("two metrics")]);
    let rows = board["rows"].as_array().unwrap();
    let metrics: Vec<&str> = rows
        .iter()
        .map(|row| row["metric"].as_str().unwrap())
        .collect();
    assert_eq!(metrics.len(), 3, "{board}");
    assert!(!metrics.contains(&"rsa"), "unpublished benchmarks stay off");
    let debiased = rows
        .iter()
        .find(|row| row["metric"] == "cka_debiased")
        .unwrap();
    assert_eq!(
        debiased["cells"][1]["spearman"],
        Value::Null,
        "missing, not zero"
    );
    assert_eq!(debiased["cells"][1]["rank"], Value::Null);
    assert_eq!(debiased["n_benchmarks"], 1);
    for (benchmark, column) in [(&first, 0), (&second, 1)] {
        let results = expect_status(
            app.get(&format!("/v1/benchmarks/{}/results", benchmark["id"]))
                .await,
            StatusCode::OK,
        )
        .await;
        for row in rows {
            let metric = row["metric"].as_str().unwrap();
            assert_eq!(
                row["cells"][column]["spearman"], results["metrics"][metric]["spearman"],
                "{metric}"
            );
        }
        let mut ranks: Vec<f64> = rows
            .iter()
            .filter_map(|row| row["cells"][column]["rank"].as_f64())
            .collect();
        ranks.sort_by(f64::total_cmp);
        assert_eq!(
            ranks.first(),
            Some(&1.0),
            "someone is first on each benchmark"
        );
    }
    let mean_ranks: Vec<f64> = rows
        .iter()
        .map(|row| row["mean_rank"].as_f64().unwrap())
        .collect();
    assert!(
        mean_ranks.windows(2).all(|pair| pair[0] <= pair[1]),
        "sorted best first: {mean_ranks:?}"
    );

    let unpublish = app
        .client
        .post(app.url(&format!("/v1/benchmarks/{}/unpublish", second["id"])))
        .send()
        .await
        .unwrap();
    expect_status(unpublish, StatusCode::OK).await;
    let board = expect_status(app.get("/v1/leaderboard").await, StatusCode::OK).await;
    assert_eq!(board["benchmarks"].as_array().unwrap().len(), 1);

    let distances_before: i64 = sqlx::query_scalar("SELECT count(*) FROM distances")
        .fetch_one(&app.db)
        .await
        .unwrap();
    expect_status(
        app.delete(&format!("/v1/benchmarks/{}", first["id"])).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let board = expect_status(app.get("/v1/leaderboard").await, StatusCode::OK).await;
    assert!(board["benchmarks"].as_array().unwrap().is_empty());
    let distances_after: i64 = sqlx::query_scalar("SELECT count(*) FROM distances")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        distances_after, distances_before,
        "distances stay for reuse"
    );
    expect_problem(
        app.delete(&format!("/v1/benchmarks/{}", first["id"])).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn ordered_all_pairs_takes_both_orders_for_asymmetric_metrics_with_pearson_beside() {
    let app = TestApp::spawn_with_workers(1).await;
    let study = small_study(&app, 3).await;
    let page = expect_status(app.get("/v1/models").await, StatusCode::OK).await;
    for (model, score) in page["items"]
        .as_array()
        .unwrap()
        .iter()
        .zip([0.5, 0.6, 0.9])
    {
        put_score(
            &app,
            &format!("/v1/models/{}/scores/ood", model["id"]),
            score,
        )
        .await;
    }
    let protocol = json!({"kind": "all_pairs", "group_by": "none", "ordered": true});
    let created = create_benchmark(
        &app,
        json!({"name": "ordered", "dataset": "d", "score": "ood", "protocol": protocol,
               "metrics": ["cka", "pwcca"]}),
    )
    .await;
    assert_eq!(created["protocol"], protocol);
    let id = created["id"].as_i64().unwrap();
    assert_eq!(wait_for_benchmark(&app, id).await["status"], "done");
    let results = expect_status(
        app.get(&format!("/v1/benchmarks/{id}/results")).await,
        StatusCode::OK,
    )
    .await;
    let unordered = 9 * 8 / 2;
    assert_eq!(results["metrics"]["cka"]["n_pairs"], unordered);
    assert_eq!(results["metrics"]["pwcca"]["n_pairs"], 2 * unordered);
    for metric in ["cka", "pwcca"] {
        let pairs = expect_status(
            app.get(&format!("/v1/benchmarks/{id}/pairs?metric={metric}"))
                .await,
            StatusCode::OK,
        )
        .await;
        let points: Vec<(f64, f64)> = pairs["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| (row["x"].as_f64().unwrap(), row["y"].as_f64().unwrap()))
            .collect();
        let want = simbench::stats::pearson(&points).unwrap();
        let group = &results["metrics"][metric]["groups"][0];
        close(&group["pearson"], &json!(want.coefficient), 1e-12, metric);
        close(
            &group["pearson_p"],
            &json!(want.one_sided_p()),
            1e-12,
            metric,
        );
        close(
            &results["metrics"][metric]["pearson"],
            &json!(want.coefficient),
            1e-12,
            metric,
        );
        assert!(results["metrics"][metric]["kendall"].is_f64());
    }
    let pwcca = expect_status(
        app.get(&format!("/v1/benchmarks/{id}/pairs?metric=pwcca"))
            .await,
        StatusCode::OK,
    )
    .await;
    let rows = pwcca["rows"].as_array().unwrap();
    let (a, b) = (study[0][0], study[1][0]);
    let x_of = |first: i64, second: i64| {
        rows.iter()
            .find(|row| row["first"] == first && row["second"] == second)
            .unwrap()["x"]
            .as_f64()
            .unwrap()
    };
    assert_ne!(x_of(a, b), x_of(b, a), "pwcca is not symmetric");
}

#[tokio::test]
async fn bootstrapped_benchmarks_compare_metrics_and_the_leaderboard_marks_ties() {
    let app = TestApp::spawn_with_workers(2).await;
    let study = small_study(&app, 4).await;
    for (model, layers) in study.iter().enumerate() {
        for (layer, id) in layers.iter().enumerate() {
            let score = 0.4 + 0.15 * layer as f64 + 0.02 * model as f64;
            put_score(
                &app,
                &format!("/v1/representations/{id}/scores/probe"),
                score,
            )
            .await;
        }
    }
    // procrustes_angular is a decreasing function of the same nuclear norm as procrustes, so the
    // two order every pair alike: the same ρ in every shared resample.
    let metrics = ["cka", "procrustes", "procrustes_angular", "rsa"];
    let benchmark = create_benchmark(&app, json!({"name": "compared", "dataset": "d", "score": "probe", "protocol": {"kind": "all_pairs", "group_by": "none"}, "metrics": metrics, "bootstrap": {"resamples": 300, "seed": 7}})).await;
    let id = benchmark["id"].as_i64().unwrap();
    wait_for_benchmark(&app, id).await;
    let results = expect_status(
        app.get(&format!("/v1/benchmarks/{id}/results")).await,
        StatusCode::OK,
    )
    .await;
    let comparisons = results["comparisons"].as_array().unwrap();
    assert_eq!(
        comparisons.len(),
        4 * 3,
        "every ordered pair of distinct metrics"
    );
    let find = |a: &str, b: &str| {
        comparisons
            .iter()
            .find(|comparison| comparison["a"] == a && comparison["b"] == b)
            .unwrap_or_else(|| panic!("{a} against {b}: {results}"))
    };
    let value = |metric: &str| results["metrics"][metric]["spearman"].as_f64().unwrap();
    for a in metrics {
        for b in metrics.iter().filter(|b| **b != a) {
            let (forward, backward) = (find(a, b), find(b, a));
            let delta = forward["delta"].as_f64().unwrap();
            assert!((delta - (value(a) - value(b))).abs() < 1e-12, "{a} - {b}");
            assert_eq!(backward["delta"].as_f64().unwrap(), -delta);
            let bounds = |comparison: &Value| {
                let ci = comparison["ci"].as_array().unwrap();
                (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap())
            };
            let ((lower, upper), (back_lower, back_upper)) = (bounds(forward), bounds(backward));
            assert!(lower <= upper, "{forward}");
            // Percentile interpolation is antisymmetric up to round-off.
            assert!(
                (lower + back_upper).abs() < 1e-12 && (upper + back_lower).abs() < 1e-12,
                "{a} against {b}: {forward} {backward}"
            );
            let p = forward["probability_not_better"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&p), "{forward}");
        }
    }
    let twins = find("procrustes", "procrustes_angular");
    assert_eq!(twins["delta"], json!(0.0));
    assert_eq!(twins["ci"], json!([0.0, 0.0]));
    assert_eq!(twins["probability_not_better"], json!(1.0));
    let stored = expect_status(
        app.get(&format!("/v1/benchmarks/{id}/results")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        stored, results,
        "complete results are stored with their comparisons"
    );

    let published = app
        .client
        .post(app.url(&format!("/v1/benchmarks/{id}/publish")))
        .send()
        .await
        .unwrap();
    expect_status(published, StatusCode::OK).await;
    let board = expect_status(app.get("/v1/leaderboard").await, StatusCode::OK).await;
    let column = &board["benchmarks"][0];
    assert_eq!(column["statistic"], "spearman");
    let best = metrics
        .into_iter()
        .max_by(|a, b| value(a).total_cmp(&value(b)).then(b.cmp(a)))
        .unwrap();
    assert_eq!(column["leader"], best, "{board}");
    for row in board["rows"].as_array().unwrap() {
        let metric = row["metric"].as_str().unwrap();
        let cell = &row["cells"][0];
        assert_eq!(cell["value"], results["metrics"][metric]["spearman"]);
        let tied = metric != best && {
            let ci = find(metric, best)["ci"].as_array().unwrap().clone();
            ci[0].as_f64().unwrap() <= 0.0 && 0.0 <= ci[1].as_f64().unwrap()
        };
        assert_eq!(cell["tied_with_leader"], tied, "{metric}: {board}");
    }
    let twin_rows: Vec<&Value> = board["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["metric"].as_str().unwrap().starts_with("procrustes"))
        .collect();
    assert_eq!(
        twin_rows[0]["cells"][0]["rank"],
        twin_rows[1]["cells"][0]["rank"]
    );
}
