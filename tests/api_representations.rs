//! Uploading, listing, downloading and deleting representations over HTTP.

mod common;

use std::time::{Duration, Instant};

use common::{TestApp, expect_problem, expect_status, matrix_f32, npy_f32};
use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};
use simbench::matrix::{Dtype, read_matrix};
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn a_4000_by_768_float32_matrix_round_trips_exactly() {
    let app = TestApp::spawn().await;
    let model = app.create_model("bert-seed0").await;
    let matrix = matrix_f32(4000, 768, 7);
    let npy = matrix.to_npy();

    let created = app.upload(model, "sst2-dev", 3, npy.clone()).await;
    assert_eq!(created["n_rows"], 4000);
    assert_eq!(created["n_cols"], 768);
    assert_eq!(created["dtype"], "float32");
    assert_eq!(created["layer"], 3);
    assert_eq!(created["model"], "bert-seed0");
    assert_eq!(created["dataset"], "sst2-dev");
    assert_eq!(created["sha256"], hex::encode(Sha256::digest(&npy)));
    let id = created["id"].as_i64().unwrap();

    let response = app.get(&format!("/v1/representations/{id}/data")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-npy");
    let downloaded = response.bytes().await.unwrap();
    assert_eq!(
        downloaded.as_ref(),
        npy.as_slice(),
        "the very bytes numpy.save wrote"
    );
    assert_eq!(read_matrix(downloaded.as_ref(), None).unwrap(), matrix);

    // The dataset was created by the upload, with its row count.
    let datasets = expect_status(app.get("/v1/datasets?name=sst2-dev").await, StatusCode::OK).await;
    assert_eq!(datasets["items"][0]["n_rows"], 4000);
    assert_eq!(datasets["items"][0]["n_representations"], 1);
}

#[tokio::test]
async fn the_same_bytes_again_answer_200_with_the_existing_representation() {
    let app = TestApp::spawn().await;
    let model = app.create_model("m").await;
    let npy = npy_f32(50, 8, 1);
    let first = app.upload(model, "d", 0, npy.clone()).await;
    let counts = app.row_counts().await;

    let again = app
        .post_bytes(
            &format!("/v1/models/{model}/representations?dataset=d&layer=0"),
            npy,
        )
        .await;
    let again = expect_status(again, StatusCode::OK).await;
    assert_eq!(again["id"], first["id"]);
    assert_eq!(app.row_counts().await, counts, "nothing new stored");
}

#[tokio::test]
async fn a_different_matrix_conflicts_unless_replaced() {
    let app = TestApp::spawn().await;
    let model = app.create_model("m").await;
    let first = app.upload(model, "d", 2, npy_f32(50, 8, 1)).await;
    let path = format!("/v1/models/{model}/representations?dataset=d&layer=2");

    let counts = app.row_counts().await;
    let conflict = app.post_bytes(&path, npy_f32(50, 8, 2)).await;
    let problem = expect_problem(conflict, StatusCode::CONFLICT, "representation_exists").await;
    assert!(problem["detail"].as_str().unwrap().contains("replace=true"));
    assert_eq!(app.row_counts().await, counts);

    let replaced = app
        .post_bytes(&format!("{path}&replace=true"), npy_f32(50, 8, 2))
        .await;
    let replaced = expect_status(replaced, StatusCode::CREATED).await;
    assert_eq!(replaced["replaced"], first["id"]);
    assert_ne!(replaced["id"], first["id"]);
    let old = app
        .get(&format!("/v1/representations/{}", first["id"]))
        .await;
    expect_problem(old, StatusCode::NOT_FOUND, "not_found").await;
    let blobs = rows_in(&app, "blobs").await;
    assert_eq!(blobs, 1, "the replaced matrix's blob is gone");
}

#[tokio::test]
async fn identical_matrices_share_one_blob_until_the_last_reference_goes() {
    let app = TestApp::spawn().await;
    let model = app.create_model("m").await;
    let npy = npy_f32(40, 4, 9);
    let layer0 = app.upload(model, "d", 0, npy.clone()).await;
    let layer1 = app.upload(model, "d", 1, npy).await;
    assert_eq!(layer0["sha256"], layer1["sha256"]);
    assert_eq!(rows_in(&app, "blobs").await, 1);

    let deleted = app
        .delete(&format!("/v1/representations/{}", layer0["id"]))
        .await;
    expect_status(deleted, StatusCode::NO_CONTENT).await;
    assert_eq!(rows_in(&app, "blobs").await, 1, "still used by layer 1");
    let deleted = app
        .delete(&format!("/v1/representations/{}", layer1["id"]))
        .await;
    expect_status(deleted, StatusCode::NO_CONTENT).await;
    assert_eq!(rows_in(&app, "blobs").await, 0);
    let chunks = rows_in(&app, "blob_chunks").await;
    assert_eq!(chunks, 0);
}

/// The number of rows in `table`.
async fn rows_in(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// A `.npy` file with any header, for layouts numpy writes but the canonical form is not.
fn npy_with_header(descr: &str, fortran: bool, rows: usize, cols: usize, data: &[u8]) -> Vec<u8> {
    let order = if fortran { "True" } else { "False" };
    let dict =
        format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': ({rows}, {cols}), }}\n");
    let mut file = b"\x93NUMPY\x01\x00".to_vec();
    file.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    file.extend_from_slice(dict.as_bytes());
    file.extend_from_slice(data);
    file
}

#[tokio::test]
async fn fortran_order_float64_and_float16_are_stored_canonically() {
    let app = TestApp::spawn().await;
    let model = app.create_model("m").await;

    // [[1, 2, 3], [4, 5, 6]] in column-major order, big-endian float64.
    let column_major: Vec<u8> = [1.0f64, 4.0, 2.0, 5.0, 3.0, 6.0]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let created = app
        .upload(
            model,
            "tiny",
            0,
            npy_with_header(">f8", true, 2, 3, &column_major),
        )
        .await;
    assert_eq!(created["dtype"], "float64");
    let matrix = app.download(&created["id"]).await;
    assert_eq!(
        matrix.to_f64(),
        ndarray::array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    );

    let halves: Vec<u8> = (0..6)
        .flat_map(|i| half::f16::from_f32(i as f32 * 0.5).to_le_bytes())
        .collect();
    let created = app
        .upload(
            model,
            "tiny",
            1,
            npy_with_header("<f2", false, 2, 3, &halves),
        )
        .await;
    assert_eq!(created["dtype"], "float16");
    let matrix = app.download(&created["id"]).await;
    assert_eq!(matrix.dtype, Dtype::Float16);
    assert_eq!(matrix.data, halves);
}

#[tokio::test]
async fn safetensors_uploads_pick_their_tensor() {
    use safetensors::tensor::{Dtype as TensorDtype, TensorView, serialize};
    let app = TestApp::spawn().await;
    let model = app.create_model("m").await;
    let hidden = matrix_f32(30, 6, 3);
    let pooled = matrix_f32(30, 2, 4);
    let file = serialize(
        [
            (
                "hidden",
                TensorView::new(TensorDtype::F32, vec![30, 6], &hidden.data).unwrap(),
            ),
            (
                "pooled",
                TensorView::new(TensorDtype::F32, vec![30, 2], &pooled.data).unwrap(),
            ),
        ],
        None,
    )
    .unwrap();
    let path = format!("/v1/models/{model}/representations?dataset=d&layer=0");

    let counts = app.row_counts().await;
    let ambiguous = app.post_bytes(&path, file.clone()).await;
    let problem = expect_problem(
        ambiguous,
        StatusCode::UNPROCESSABLE_ENTITY,
        "ambiguous_tensor",
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("hidden, pooled")
    );
    assert_eq!(app.row_counts().await, counts);

    let created = app.post_bytes(&format!("{path}&tensor=hidden"), file).await;
    let created = expect_status(created, StatusCode::CREATED).await;
    assert_eq!(
        (created["n_rows"].as_i64(), created["n_cols"].as_i64()),
        (Some(30), Some(6))
    );
    assert_eq!(created["sha256"], hex::encode(hidden.sha256()));
}

#[tokio::test]
async fn lists_filter_by_dataset_model_and_layer_and_paginate() {
    let app = TestApp::spawn().await;
    let first = app.create_model("first").await;
    let second = app.create_model("second").await;
    for layer in 0..3 {
        app.upload(first, "a", layer, npy_f32(20, 4, layer as u64))
            .await;
        app.upload(second, "a", layer, npy_f32(20, 4, 10 + layer as u64))
            .await;
    }
    app.upload(first, "b", 0, npy_f32(7, 4, 99)).await;

    let page = expect_status(
        app.get(&format!("/v1/representations?model={first}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 4);
    let page = expect_status(
        app.get("/v1/representations?dataset=a&layer=1").await,
        StatusCode::OK,
    )
    .await;
    let models: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["model"].clone())
        .collect();
    assert_eq!(models, vec![json!("first"), json!("second")]);

    let mut seen = Vec::new();
    let mut path = "/v1/representations?dataset=a&limit=4".to_owned();
    loop {
        let page = expect_status(app.get(&path).await, StatusCode::OK).await;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/representations?dataset=a&limit=4&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    assert!(
        seen.windows(2).all(|pair| pair[0] < pair[1]),
        "ids ascend without repeats"
    );
}

#[tokio::test]
async fn fortran_order_and_safetensors_bodies_get_the_address_of_the_c_ordered_npy() {
    let app = TestApp::spawn().await;
    let model = app.create_model("m").await;
    // 1000 x 3000 float32: 12 MB, so every layout is converted and hashed over two chunks.
    let (rows, cols) = (1000, 3000);
    let matrix = matrix_f32(rows, cols, 11);
    let c_order = matrix.to_npy();
    let address = hex::encode(Sha256::digest(&c_order));

    let elements: Vec<&[u8]> = matrix.data.chunks_exact(4).collect();
    let mut column_major = Vec::with_capacity(matrix.data.len());
    for col in 0..cols {
        for row in 0..rows {
            column_major.extend_from_slice(elements[row * cols + col]);
        }
    }
    let fortran = npy_with_header("<f4", true, rows, cols, &column_major);
    let safetensors = safetensors::tensor::serialize(
        [(
            "hidden",
            safetensors::tensor::TensorView::new(
                safetensors::tensor::Dtype::F32,
                vec![rows, cols],
                &matrix.data,
            )
            .unwrap(),
        )],
        None,
    )
    .unwrap();

    for (layer, body) in [c_order, fortran, safetensors].into_iter().enumerate() {
        let created = app.upload(model, "d", layer as i32, body).await;
        assert_eq!(created["sha256"], address, "layer {layer}");
        assert_eq!(app.download(&created["id"]).await, matrix, "layer {layer}");
    }
    let blobs = rows_in(&app, "blobs").await;
    assert_eq!(blobs, 1, "the three uploads share one blob");
}

/// Sessions of the app's database other than the asking one that are inside a transaction, with
/// their last statement.
async fn open_transactions(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT query FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()
            AND xact_start IS NOT NULL",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_client_that_disconnects_mid_upload_leaves_nothing_behind() {
    let app = TestApp::spawn().await;
    let model = app.create_model("m").await;
    let before = app.row_counts().await;
    // 2000 x 3000 float32: 24 MB; the first 12 MB hold a whole chunk, stored before the break.
    let npy = npy_f32(2000, 3000, 5);
    let path = format!("/v1/models/{model}/representations?dataset=d&layer=0");
    let address = app.base_url.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {}\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\n\r\n",
        app.token,
        npy.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&npy[..npy.len() / 2]).await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    while !open_transactions(&app)
        .await
        .iter()
        .any(|query| query.contains("blob_chunks"))
    {
        assert!(Instant::now() < deadline, "no chunk was stored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(socket);

    loop {
        let open = open_transactions(&app).await;
        if open.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the upload's transaction outlived its client: {open:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.row_counts().await, before, "nothing was stored");

    let created = app.upload(model, "d", 0, npy.clone()).await;
    assert_eq!(created["sha256"], hex::encode(Sha256::digest(&npy)));
    let chunks = rows_in(&app, "blob_chunks").await;
    assert_eq!(chunks, 3, "24 MB in chunks of 8 MiB, once");
}

#[tokio::test]
async fn derived_copies_are_stored_under_the_address_of_their_npy() {
    let app = TestApp::spawn().await;
    let model = app.create_model("m").await;
    let parent = matrix_f32(60, 12, 21);
    let created = app.upload(model, "d", 0, parent.to_npy()).await;
    let derived = app
        .post_json(
            &format!("/v1/representations/{}/derived", created["id"]),
            &json!({"pca_keep": [5, 2]}),
        )
        .await;
    let derived = expect_status(derived, StatusCode::CREATED).await;
    let expected = simbench::transform::pca_keep(&parent.to_f64(), &[5, 2]).unwrap();
    for (copy, values) in derived["items"].as_array().unwrap().iter().zip(expected) {
        let response = app
            .get(&format!("/v1/representations/{}/data", copy["id"]))
            .await;
        let npy = response.bytes().await.unwrap();
        assert_eq!(copy["sha256"], hex::encode(Sha256::digest(&npy)));
        let stored = read_matrix(npy.as_ref(), None).unwrap();
        assert_eq!(stored.dtype, Dtype::Float64);
        assert_eq!(stored.to_f64(), values, "{copy}");
    }
}
