//! Datasets, models and scores over HTTP.

mod common;

use common::{TestApp, expect_problem, expect_status, npy_f32};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn datasets_are_created_listed_and_fetched() {
    let app = TestApp::spawn().await;
    let created = app
        .post_json(
            "/v1/datasets",
            &json!({"name": "sst2-dev", "n_rows": 872, "description": "SST-2 dev sentences"}),
        )
        .await;
    assert_eq!(created.headers()["location"], "/v1/datasets/1");
    let created = expect_status(created, StatusCode::CREATED).await;
    assert_eq!(created["n_rows"], 872);
    assert_eq!(created["n_representations"], 0);
    let open = expect_status(
        app.post_json("/v1/datasets", &json!({"name": "open"}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        open["n_rows"],
        Value::Null,
        "fixed later by the first upload"
    );

    let fetched = expect_status(
        app.get(&format!("/v1/datasets/{}", created["id"])).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(fetched["description"], "SST-2 dev sentences");
    let all = expect_status(app.get("/v1/datasets").await, StatusCode::OK).await;
    assert_eq!(names(&all), ["sst2-dev", "open"]);
    assert_eq!(all["next_cursor"], Value::Null);
}

#[tokio::test]
async fn models_filter_by_tag_and_metadata() {
    let app = TestApp::spawn().await;
    for (name, seed, tags) in [
        ("bert-0", json!(0), json!(["bert", "pretrained"])),
        ("bert-1", json!(1), json!(["bert"])),
        ("bert-1-ft", json!("1"), json!(["bert", "finetuned"])),
    ] {
        let response = app
            .post_json(
                "/v1/models",
                &json!({"name": name, "metadata": {"seed": seed, "arch": "bert-base"}, "tags": tags}),
            )
            .await;
        expect_status(response, StatusCode::CREATED).await;
    }
    let page = expect_status(app.get("/v1/models?tag=bert").await, StatusCode::OK).await;
    assert_eq!(names(&page), ["bert-0", "bert-1", "bert-1-ft"]);
    let page = expect_status(
        app.get("/v1/models?tag=bert&tag=finetuned").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(names(&page), ["bert-1-ft"]);
    // Compared as text: the number 1 and the string "1" both match.
    let page = expect_status(
        app.get("/v1/models?metadata=seed%3D1").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(names(&page), ["bert-1", "bert-1-ft"]);
    let page = expect_status(
        app.get("/v1/models?metadata=seed=1&metadata=arch=bert-base&tag=pretrained")
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(names(&page), Vec::<String>::new());
    let page = expect_status(app.get("/v1/models?name=bert-0").await, StatusCode::OK).await;
    assert_eq!(names(&page), ["bert-0"]);

    let first = expect_status(app.get("/v1/models?limit=2").await, StatusCode::OK).await;
    assert_eq!(names(&first), ["bert-0", "bert-1"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = expect_status(
        app.get(&format!("/v1/models?limit=2&cursor={cursor}"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(names(&second), ["bert-1-ft"]);
    assert_eq!(second["next_cursor"], Value::Null);
}

#[tokio::test]
async fn patching_merges_metadata_and_replaces_tags() {
    let app = TestApp::spawn().await;
    let created = app
        .post_json(
            "/v1/models",
            &json!({"name": "m", "metadata": {"seed": 3, "lr": 0.1}, "tags": ["a"]}),
        )
        .await;
    let id = expect_status(created, StatusCode::CREATED).await["id"]
        .as_i64()
        .unwrap();
    let patched = app
        .patch_json(
            &format!("/v1/models/{id}"),
            &json!({"metadata": {"lr": null, "epochs": 4}, "tags": ["b", "c"]}),
        )
        .await;
    let patched = expect_status(patched, StatusCode::OK).await;
    assert_eq!(patched["metadata"], json!({"seed": 3, "epochs": 4}));
    assert_eq!(patched["tags"], json!(["b", "c"]));
    let untouched = expect_status(
        app.patch_json(&format!("/v1/models/{id}"), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(untouched["metadata"], patched["metadata"]);
    let missing = app
        .patch_json("/v1/models/9999", &json!({"tags": []}))
        .await;
    expect_problem(missing, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn deleting_a_model_with_representations_needs_cascade() {
    let app = TestApp::spawn().await;
    let model = app.create_model("m").await;
    let keeper = app.create_model("keeper").await;
    let representation = app
        .upload_representation(model, "d", 0, npy_f32(10, 3, 1))
        .await;
    app.upload_representation(keeper, "d", 0, npy_f32(10, 3, 2))
        .await;
    let put = app
        .put_json(
            &format!("/v1/representations/{}/scores/probe", representation.id),
            &json!({"value": 0.8}),
        )
        .await;
    expect_status(put, StatusCode::OK).await;

    let refused = app.delete(&format!("/v1/models/{model}")).await;
    let problem = expect_problem(refused, StatusCode::CONFLICT, "model_has_representations").await;
    assert!(problem["detail"].as_str().unwrap().contains("cascade=true"));

    let deleted = app
        .delete(&format!("/v1/models/{model}?cascade=true"))
        .await;
    expect_status(deleted, StatusCode::NO_CONTENT).await;
    expect_problem(
        app.get(&format!("/v1/models/{model}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let counts = app.row_counts().await;
    let count = |table: &str| counts.iter().find(|(name, _)| *name == table).unwrap().1;
    assert_eq!(
        (
            count("models"),
            count("representations"),
            count("blobs"),
            count("scores")
        ),
        (1, 1, 1, 0)
    );

    let empty = app.create_model("empty").await;
    expect_status(
        app.delete(&format!("/v1/models/{empty}")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
}

#[tokio::test]
async fn scores_attach_to_representations_and_models() {
    let app = TestApp::spawn().await;
    let model = app.create_model("m").await;
    let representation = app.upload(model, "d", 0, npy_f32(10, 3, 1)).await["id"]
        .as_i64()
        .unwrap();

    let put = app
        .put_json(
            &format!("/v1/representations/{representation}/scores/probe_acc"),
            &json!({"value": 0.71}),
        )
        .await;
    let put = expect_status(put, StatusCode::OK).await;
    assert_eq!(put["representation_id"], representation);
    assert_eq!(put["value"], 0.71);
    let updated = app
        .put_json(
            &format!("/v1/representations/{representation}/scores/probe_acc"),
            &json!({"value": 0.74}),
        )
        .await;
    expect_status(updated, StatusCode::OK).await;
    let model_score = app
        .put_json(
            &format!("/v1/models/{model}/scores/hans:accuracy"),
            &json!({"value": 0.55}),
        )
        .await;
    assert_eq!(
        expect_status(model_score, StatusCode::OK).await["model_id"],
        model
    );

    let listed = expect_status(
        app.get(&format!("/v1/representations/{representation}/scores"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["value"], 0.74);
    let listed = expect_status(
        app.get(&format!("/v1/models/{model}/scores")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["items"][0]["name"], "hans:accuracy");

    let missing = app
        .put_json(
            "/v1/representations/777/scores/probe_acc",
            &json!({"value": 0.1}),
        )
        .await;
    let problem = expect_problem(missing, StatusCode::NOT_FOUND, "not_found").await;
    assert!(problem["detail"].as_str().unwrap().contains("777"));
}

#[tokio::test]
async fn a_batch_of_scores_is_stored_all_or_nothing() {
    let app = TestApp::spawn().await;
    let model = app.create_model("m").await;
    let first = app.upload(model, "d", 0, npy_f32(10, 3, 1)).await["id"]
        .as_i64()
        .unwrap();
    let second = app.upload(model, "d", 1, npy_f32(10, 3, 2)).await["id"]
        .as_i64()
        .unwrap();

    let batch = json!({"scores": [
        {"representation": first, "name": "probe", "value": 0.6},
        {"representation": second, "name": "probe", "value": 0.7},
        {"model": model, "name": "ood", "value": 0.4},
    ]});
    let stored = expect_status(app.post_json("/v1/scores", &batch).await, StatusCode::OK).await;
    assert_eq!(stored["items"].as_array().unwrap().len(), 3);

    let before = app.row_counts().await;
    let with_unknown = json!({"scores": [
        {"representation": first, "name": "probe", "value": 0.9},
        {"representation": 5555, "name": "probe", "value": 0.9},
    ]});
    let problem = expect_problem(
        app.post_json("/v1/scores", &with_unknown).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("5555"));
    let both = json!({"scores": [{"representation": first, "model": model, "name": "probe", "value": 0.9}]});
    expect_problem(
        app.post_json("/v1/scores", &both).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_score_target",
    )
    .await;
    assert_eq!(app.row_counts().await, before);
    let listed = expect_status(
        app.get(&format!("/v1/representations/{first}/scores"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        listed["items"][0]["value"], 0.6,
        "the failed batch changed nothing"
    );
}

#[tokio::test]
async fn health_readiness_and_problem_documents() {
    let app = TestApp::spawn().await;
    assert_eq!(
        expect_status(app.get("/healthz").await, StatusCode::OK).await["status"],
        "ok"
    );
    assert_eq!(
        expect_status(app.get("/readyz").await, StatusCode::OK).await["status"],
        "ready"
    );
    let response = app.get("/healthz").await;
    assert!(
        response.headers().contains_key("x-request-id"),
        "every response carries a request id"
    );
    let spec = app.get("/openapi.yaml").await;
    assert_eq!(spec.headers()["content-type"], "application/yaml");
    assert!(spec.text().await.unwrap().starts_with("openapi: 3.1"));

    sqlx::query("DELETE FROM _sqlx_migrations")
        .execute(&app.db)
        .await
        .unwrap();
    let not_ready = app.get("/readyz").await;
    let problem = expect_problem(not_ready, StatusCode::SERVICE_UNAVAILABLE, "not_ready").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("simbench migrate")
    );
}
