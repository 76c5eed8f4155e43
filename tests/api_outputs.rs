//! Model outputs (the logits functional differences compare) over HTTP, and what the store hands
//! a benchmark.

mod common;

use common::{TestApp, client_with, expect_problem, expect_status};
use ndarray::Array2;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use simbench::access::Scope;
use simbench::matrix::{CanonicalMatrix, Dtype, read_matrix};
use simbench::store::outputs;

const ROWS: usize = 12;
const CLASSES: usize = 3;

/// Logits whose values differ with `seed`, exactly representable in float16.
fn logits(rows: usize, classes: usize, seed: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, classes), |(row, class)| {
        ((row * 7 + class * 3 + seed * 5) % 11) as f64 / 4.0 - 1.25
    })
}

fn npy(dtype: Dtype, values: &Array2<f64>) -> Vec<u8> {
    CanonicalMatrix::from_f64_as(dtype, values).to_npy()
}

/// A `.npy` file with any header, for bodies a numpy array of floats cannot be.
fn npy_with_header(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut file = b"\x93NUMPY\x01\x00".to_vec();
    file.extend_from_slice(&(header.len() as u16).to_le_bytes());
    file.extend_from_slice(header.as_bytes());
    file.extend_from_slice(data);
    file
}

fn path(model: i64, dataset: &str) -> String {
    format!("/v1/models/{model}/outputs?dataset={dataset}")
}

/// An app with a dataset `d` of ROWS examples and a model `m`.
async fn app_with_dataset() -> (TestApp, i64) {
    let app = TestApp::spawn().await;
    expect_status(
        app.post_json("/v1/datasets", &json!({"name": "d", "n_rows": ROWS}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let model = app.create_model("m").await;
    (app, model)
}

async fn metadata(app: &TestApp, model: i64, dataset: &str) -> Value {
    let response = app
        .client
        .get(app.url(&path(model, dataset)))
        .header("accept", "application/json")
        .send()
        .await
        .expect("request sent");
    expect_status(response, StatusCode::OK).await
}

async fn download(app: &TestApp, model: i64, dataset: &str) -> Vec<u8> {
    let response = app.get(&path(model, dataset)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-npy");
    response.bytes().await.expect("a body").to_vec()
}

#[tokio::test]
async fn logits_of_each_float_dtype_round_trip_and_reach_a_benchmark_as_f64() {
    let (app, _) = app_with_dataset().await;
    let dataset_id: i64 = sqlx::query_scalar("SELECT id FROM datasets WHERE name = 'd'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let mut expected = Vec::new();
    for (seed, dtype) in [Dtype::Float16, Dtype::Float32, Dtype::Float64]
        .into_iter()
        .enumerate()
    {
        let model = app.create_model(&format!("net-{}", dtype.name())).await;
        let values = logits(ROWS, CLASSES, seed);
        let body = npy(dtype, &values);
        let created = expect_status(
            app.put_bytes(&path(model, "d"), body.clone()).await,
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(created["model_id"], model);
        assert_eq!(created["dataset"], "d");
        assert_eq!(created["n_rows"], ROWS);
        assert_eq!(created["n_classes"], CLASSES);
        assert_eq!(created["dtype"], dtype.name());
        assert_eq!(created["sha256"], hex::encode(Sha256::digest(&body)));

        assert_eq!(
            download(&app, model, "d").await,
            body,
            "the bytes numpy.save wrote"
        );
        assert_eq!(metadata(&app, model, "d").await, created);
        expected.push((model, values));
    }
    let without = app.create_model("no-outputs").await;

    let mut asked: Vec<i64> = expected.iter().map(|(model, _)| *model).collect();
    asked.push(without);
    let found = outputs::logits(&app.db, dataset_id, &asked)
        .await
        .expect("the store reads the logits");
    assert_eq!(found.len(), asked.len(), "every asked model is a key");
    for (model, values) in &expected {
        assert_eq!(found[model].as_ref(), Some(values), "upcast exactly");
    }
    assert_eq!(found[&without], None);
}

#[tokio::test]
async fn every_refusal_leaves_nothing_behind() {
    let (app, model) = app_with_dataset().await;
    let counts = app.row_counts().await;
    let good = npy(Dtype::Float32, &logits(ROWS, CLASSES, 0));
    let mut with_nan = logits(ROWS, CLASSES, 0);
    with_nan[[5, 1]] = f64::NAN;
    let cases = [
        (
            path(model, "d"),
            npy(Dtype::Float32, &logits(ROWS + 1, CLASSES, 0)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "row_count_mismatch",
        ),
        (
            path(model, "d"),
            npy(Dtype::Float32, &logits(ROWS, 1, 0)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_few_classes",
        ),
        (
            path(model, "d"),
            npy(Dtype::Float64, &with_nan),
            StatusCode::UNPROCESSABLE_ENTITY,
            "non_finite_value",
        ),
        (
            path(model, "d"),
            npy_with_header(
                "<i8",
                &format!("({ROWS}, {CLASSES})"),
                &[0; ROWS * CLASSES * 8],
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_dtype",
        ),
        (
            path(model, "d"),
            npy_with_header("<f4", &format!("({ROWS},)"), &[0; ROWS * 4]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_two_dimensional",
        ),
        (
            path(model, "d"),
            b"not a matrix".to_vec(),
            StatusCode::BAD_REQUEST,
            "unknown_matrix_format",
        ),
        (
            path(model + 1000, "d"),
            good.clone(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            path(model, "unknown"),
            good.clone(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            format!("/v1/models/{model}/outputs"),
            good.clone(),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
    ];
    for (target, body, status, code) in cases {
        let problem = expect_problem(app.put_bytes(&target, body).await, status, code).await;
        assert_eq!(app.row_counts().await, counts, "{code}: {problem}");
    }
    let problem = expect_problem(
        app.put_bytes(&path(model, "d"), {
            let mut values = logits(ROWS, CLASSES, 0);
            values[[5, 1]] = f64::INFINITY;
            npy(Dtype::Float64, &values)
        })
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "non_finite_value",
    )
    .await;
    assert_eq!(
        (problem["row"].as_i64(), problem["column"].as_i64()),
        (Some(5), Some(1))
    );
}

#[tokio::test]
async fn different_logits_conflict_unless_replaced_and_the_same_bytes_are_accepted() {
    let (app, model) = app_with_dataset().await;
    let first = npy(Dtype::Float32, &logits(ROWS, CLASSES, 0));
    let second = npy(Dtype::Float32, &logits(ROWS, CLASSES, 1));
    expect_status(
        app.put_bytes(&path(model, "d"), first.clone()).await,
        StatusCode::CREATED,
    )
    .await;
    let counts = app.row_counts().await;

    let again = expect_status(
        app.put_bytes(&path(model, "d"), first.clone()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["sha256"], hex::encode(Sha256::digest(&first)));
    assert_eq!(app.row_counts().await, counts, "nothing new stored");

    let problem = expect_problem(
        app.put_bytes(&path(model, "d"), second.clone()).await,
        StatusCode::CONFLICT,
        "outputs_exist",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("replace=true"));
    assert_eq!(app.row_counts().await, counts);
    assert_eq!(download(&app, model, "d").await, first);

    let replaced = expect_status(
        app.put_bytes(
            &format!("{}&replace=true", path(model, "d")),
            second.clone(),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(replaced["sha256"], hex::encode(Sha256::digest(&second)));
    assert_eq!(download(&app, model, "d").await, second);
    assert_eq!(
        app.row_counts().await,
        counts,
        "the replaced logits' blob is gone: one blob, as before"
    );
}

#[tokio::test]
async fn deleting_outputs_removes_them_and_their_blob_but_not_a_representation_sharing_it() {
    let (app, model) = app_with_dataset().await;
    let body = npy(Dtype::Float32, &logits(ROWS, CLASSES, 0));
    // The same matrix as a representation and as outputs is stored once.
    let representation = app.upload(model, "d", 0, body.clone()).await;
    let before = app.row_counts().await;
    expect_status(
        app.put_bytes(&path(model, "d"), body.clone()).await,
        StatusCode::CREATED,
    )
    .await;

    expect_status(app.delete(&path(model, "d")).await, StatusCode::NO_CONTENT).await;
    assert_eq!(app.row_counts().await, before);
    expect_problem(
        app.get(&path(model, "d")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_problem(
        app.delete(&path(model, "d")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let kept = app.download(&representation["id"]).await;
    assert_eq!(
        kept.to_npy(),
        body,
        "the shared blob stays for the representation"
    );

    expect_status(
        app.put_bytes(&path(model, "d"), body.clone()).await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.delete(&format!("/v1/representations/{}", representation["id"]))
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(
        download(&app, model, "d").await,
        body,
        "and the other way round"
    );
}

#[tokio::test]
async fn deleting_a_model_deletes_its_outputs() {
    let (app, model) = app_with_dataset().await;
    let other = app.create_model("other").await;
    let before = app.row_counts().await;
    for (target, seed) in [(model, 0), (other, 1)] {
        expect_status(
            app.put_bytes(
                &path(target, "d"),
                npy(Dtype::Float32, &logits(ROWS, CLASSES, seed)),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
    }
    let counts = app.row_counts().await;
    expect_status(
        app.delete(&format!("/v1/models/{model}")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let after: Vec<(&str, i64)> = app.row_counts().await;
    let expected: Vec<(&str, i64)> = counts
        .iter()
        .map(|&(table, count)| match table {
            "models" | "model_outputs" | "blobs" | "blob_chunks" => (table, count - 1),
            _ => (table, count),
        })
        .collect();
    assert_eq!(after, expected, "before any outputs: {before:?}");
    assert_eq!(metadata(&app, other, "d").await["model_id"], other);
}

#[tokio::test]
async fn outputs_fix_the_row_count_of_a_dataset_that_has_none_yet() {
    let app = TestApp::spawn().await;
    expect_status(
        app.post_json("/v1/datasets", &json!({"name": "open"}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let model = app.create_model("m").await;
    expect_status(
        app.put_bytes(
            &path(model, "open"),
            npy(Dtype::Float32, &logits(ROWS, CLASSES, 0)),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let datasets = expect_status(app.get("/v1/datasets?name=open").await, StatusCode::OK).await;
    assert_eq!(datasets["items"][0]["n_rows"], ROWS);
    expect_problem(
        app.post_bytes(
            &format!("/v1/models/{model}/representations?dataset=open&layer=0"),
            npy(Dtype::Float32, &logits(ROWS + 2, 4, 0)),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "row_count_mismatch",
    )
    .await;
}

#[tokio::test]
async fn a_read_token_reads_outputs_but_cannot_write_them() {
    let (app, model) = app_with_dataset().await;
    let body = npy(Dtype::Float32, &logits(ROWS, CLASSES, 0));
    expect_status(
        app.put_bytes(&path(model, "d"), body.clone()).await,
        StatusCode::CREATED,
    )
    .await;
    let counts = app.row_counts().await;
    let reader = client_with(&app.token("reader", Scope::Read).await);

    let put = reader
        .put(app.url(&format!("{}&replace=true", path(model, "d"))))
        .header("content-type", "application/octet-stream")
        .body(npy(Dtype::Float32, &logits(ROWS, CLASSES, 1)))
        .send()
        .await
        .unwrap();
    expect_problem(put, StatusCode::FORBIDDEN, "insufficient_scope").await;
    let delete = reader
        .delete(app.url(&path(model, "d")))
        .send()
        .await
        .unwrap();
    expect_problem(delete, StatusCode::FORBIDDEN, "insufficient_scope").await;
    assert_eq!(app.row_counts().await, counts);

    let read = reader.get(app.url(&path(model, "d"))).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let read = read.bytes().await.unwrap();
    assert_eq!(
        read_matrix(read.as_ref(), None).unwrap().to_npy(),
        body,
        "the read token downloads the stored logits"
    );
}
