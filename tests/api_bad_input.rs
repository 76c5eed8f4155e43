//! Every bad input gets a 4xx a person can act on, and leaves the database as it was.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{TestApp, expect_problem, expect_status, npy_f32};
use futures::stream;
use reqwest::StatusCode;
use serde_json::json;
use simbench::config::HttpConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A `.npy` file with any header.
fn npy_with_header(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
    let mut file = b"\x93NUMPY\x01\x00".to_vec();
    file.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    file.extend_from_slice(dict.as_bytes());
    file.extend_from_slice(data);
    file
}

fn f32_npy(rows: usize, cols: usize, values: &[f32]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy_with_header("<f4", &format!("({rows}, {cols})"), &data)
}

/// An app with one model and one dataset of 10 rows holding one representation.
async fn app_with_data() -> (TestApp, i64) {
    app_with_config(HttpConfig::default()).await
}

async fn app_with_config(config: HttpConfig) -> (TestApp, i64) {
    let app = TestApp::spawn_with(config).await;
    let model = app.create_model("m").await;
    app.upload_representation(model, "d", 0, npy_f32(10, 4, 1))
        .await;
    (app, model)
}

/// Posts an upload and checks the refusal and that no table changed.
async fn refuse_upload(
    app: &TestApp,
    model: i64,
    body: Vec<u8>,
    status: StatusCode,
    code: &str,
) -> serde_json::Value {
    let before = app.row_counts().await;
    let response = app
        .post_bytes(
            &format!("/v1/models/{model}/representations?dataset=d&layer=1"),
            body,
        )
        .await;
    let problem = expect_problem(response, status, code).await;
    assert_eq!(
        app.row_counts().await,
        before,
        "a refused upload leaves nothing behind"
    );
    problem
}

fn detail(problem: &serde_json::Value) -> &str {
    problem["detail"].as_str().unwrap()
}

#[tokio::test]
async fn malformed_npy_header() {
    let (app, model) = app_with_data().await;
    let mut body = f32_npy(10, 4, &[0.0; 40]);
    body[10] = b'[';
    refuse_upload(&app, model, body, StatusCode::BAD_REQUEST, "malformed_npy").await;
}

#[tokio::test]
async fn truncated_npy() {
    let (app, model) = app_with_data().await;
    let mut body = f32_npy(10, 4, &[0.5; 40]);
    body.truncate(body.len() - 6);
    let problem = refuse_upload(&app, model, body, StatusCode::BAD_REQUEST, "truncated_body").await;
    assert!(detail(&problem).contains("160 bytes"), "{problem}");
}

#[tokio::test]
async fn trailing_bytes_after_the_matrix() {
    let (app, model) = app_with_data().await;
    let mut body = f32_npy(10, 4, &[0.5; 40]);
    body.extend_from_slice(b"junk");
    refuse_upload(&app, model, body, StatusCode::BAD_REQUEST, "trailing_bytes").await;
}

#[tokio::test]
async fn not_a_matrix_file_at_all() {
    let (app, model) = app_with_data().await;
    let problem = refuse_upload(
        &app,
        model,
        b"PK\x03\x04 this is a zip archive".to_vec(),
        StatusCode::BAD_REQUEST,
        "unknown_matrix_format",
    )
    .await;
    assert!(detail(&problem).contains("numpy.save"), "{problem}");
    refuse_upload(
        &app,
        model,
        Vec::new(),
        StatusCode::BAD_REQUEST,
        "unknown_matrix_format",
    )
    .await;
}

#[tokio::test]
async fn arrays_that_are_not_two_dimensional() {
    let (app, model) = app_with_data().await;
    let cube = npy_with_header("<f4", "(10, 2, 2)", &[0u8; 160]);
    let problem = refuse_upload(
        &app,
        model,
        cube,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_two_dimensional",
    )
    .await;
    assert!(
        detail(&problem).contains("(10, 2, 2)"),
        "says the shape: {problem}"
    );
    assert!(
        detail(&problem).contains("reshape(10, -1)"),
        "suggests a reshape: {problem}"
    );

    let vector = npy_with_header("<f4", "(10,)", &[0u8; 40]);
    let problem = refuse_upload(
        &app,
        model,
        vector,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_two_dimensional",
    )
    .await;
    assert!(detail(&problem).contains("reshape(-1, 1)"), "{problem}");
}

#[tokio::test]
async fn integer_complex_and_object_dtypes() {
    let (app, model) = app_with_data().await;
    for (descr, item, kind) in [
        ("<i8", 8, "integer"),
        ("<c16", 16, "complex"),
        ("|O", 8, "objects"),
    ] {
        let body = npy_with_header(descr, "(10, 4)", &vec![0u8; 40 * item]);
        let problem = refuse_upload(
            &app,
            model,
            body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_dtype",
        )
        .await;
        assert!(detail(&problem).contains(kind), "{problem}");
        assert!(
            detail(&problem).contains("astype"),
            "says how to convert: {problem}"
        );
    }
}

#[tokio::test]
async fn nan_and_infinity_are_located() {
    let (app, model) = app_with_data().await;
    let mut values = vec![0.25f32; 40];
    values[4 * 7 + 2] = f32::NAN;
    let problem = refuse_upload(
        &app,
        model,
        f32_npy(10, 4, &values),
        StatusCode::UNPROCESSABLE_ENTITY,
        "non_finite_value",
    )
    .await;
    assert_eq!(
        (problem["row"].as_i64(), problem["column"].as_i64()),
        (Some(7), Some(2))
    );
    assert!(detail(&problem).contains("row 7, column 2"), "{problem}");

    let mut values = vec![0.25f32; 40];
    values[3] = f32::NEG_INFINITY;
    let problem = refuse_upload(
        &app,
        model,
        f32_npy(10, 4, &values),
        StatusCode::UNPROCESSABLE_ENTITY,
        "non_finite_value",
    )
    .await;
    assert_eq!(problem["value"], "-inf");
    assert_eq!(
        (problem["row"].as_i64(), problem["column"].as_i64()),
        (Some(0), Some(3))
    );
}

#[tokio::test]
async fn nan_deep_inside_a_large_upload_leaves_no_chunk_behind() {
    let (app, model) = app_with_data().await;
    // 10 x 300000 float32 = 12 MB: the first 8 MiB chunk is written before the NaN is read.
    let (rows, cols) = (10, 300_000);
    let mut values = vec![1.0f32; rows * cols];
    values[9 * cols + 5] = f32::NAN;
    let problem = refuse_upload(
        &app,
        model,
        f32_npy(rows, cols, &values),
        StatusCode::UNPROCESSABLE_ENTITY,
        "non_finite_value",
    )
    .await;
    assert_eq!(problem["row"], 9);
}

#[tokio::test]
async fn zero_rows_or_columns() {
    let (app, model) = app_with_data().await;
    for shape in ["(0, 4)", "(10, 0)"] {
        let body = npy_with_header("<f4", shape, &[]);
        refuse_upload(
            &app,
            model,
            body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_matrix",
        )
        .await;
    }
}

#[tokio::test]
async fn a_row_count_that_differs_from_the_dataset() {
    let (app, model) = app_with_data().await;
    let problem = refuse_upload(
        &app,
        model,
        npy_f32(11, 4, 2),
        StatusCode::UNPROCESSABLE_ENTITY,
        "row_count_mismatch",
    )
    .await;
    assert!(detail(&problem).contains("10 examples"), "{problem}");
    assert!(detail(&problem).contains("11 rows"), "{problem}");
}

#[tokio::test]
async fn a_dataset_created_with_a_row_count_holds_its_first_upload_to_it() {
    let app = TestApp::spawn().await;
    let model = app.create_model("m").await;
    let created = app
        .post_json("/v1/datasets", &json!({"name": "fixed", "n_rows": 12}))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let before = app.row_counts().await;
    let response = app
        .post_bytes(
            &format!("/v1/models/{model}/representations?dataset=fixed&layer=0"),
            npy_f32(10, 3, 1),
        )
        .await;
    expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "row_count_mismatch",
    )
    .await;
    assert_eq!(app.row_counts().await, before);
}

#[tokio::test]
async fn a_body_over_the_limit_announced_by_content_length() {
    let config = HttpConfig {
        max_upload_bytes: 4096,
        ..HttpConfig::default()
    };
    let (app, model) = app_with_config(config).await;
    let problem = refuse_upload(
        &app,
        model,
        npy_f32(10, 200, 3),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    assert_eq!(problem["limit_bytes"], 4096);
}

#[tokio::test]
async fn a_chunked_body_over_the_limit() {
    let config = HttpConfig {
        max_upload_bytes: 4096,
        ..HttpConfig::default()
    };
    let (app, model) = app_with_config(config).await;
    let before = app.row_counts().await;
    // A streamed body has no Content-Length: it is counted as it arrives.
    let body = npy_f32(10, 200, 3);
    let pieces: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(1000)
        .map(|piece| Ok(Bytes::copy_from_slice(piece)))
        .collect();
    let response = app
        .client
        .post(app.url(&format!(
            "/v1/models/{model}/representations?dataset=d&layer=1"
        )))
        .body(reqwest::Body::wrap_stream(stream::iter(pieces)))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(app.row_counts().await, before);
}

#[tokio::test]
async fn a_content_length_that_understates_the_body() {
    let config = HttpConfig {
        max_upload_bytes: 4096,
        ..HttpConfig::default()
    };
    let (app, model) = app_with_config(config).await;
    let before = app.row_counts().await;
    // The header claims 1000 bytes; 8128 follow. Only the announced bytes count as the body, so
    // the matrix is truncated, and nothing past the limit is ever read into an upload.
    let body = npy_f32(10, 200, 3);
    let address = app.base_url.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /v1/models/{model}/representations?dataset=d&layer=1 HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {}\r\ncontent-type: application/octet-stream\r\ncontent-length: 1000\r\nconnection: close\r\n\r\n",
        app.token
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&body).await.unwrap();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut reply)).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("truncated_body"), "{reply}");
    assert_eq!(app.row_counts().await, before);
}

#[tokio::test]
async fn an_upload_that_stalls_is_abandoned() {
    let config = HttpConfig {
        request_timeout_secs: 1,
        ..HttpConfig::default()
    };
    let (app, model) = app_with_config(config).await;
    let before = app.row_counts().await;
    let body = npy_f32(10, 4, 5);
    let (head, tail) = body.split_at(100);
    let (head, tail) = (Bytes::copy_from_slice(head), Bytes::copy_from_slice(tail));
    let pieces = stream::unfold(0, move |step| {
        let (head, tail) = (head.clone(), tail.clone());
        async move {
            match step {
                0 => Some((Ok::<_, std::io::Error>(head), 1)),
                1 => {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    Some((Ok(tail), 2))
                }
                _ => None,
            }
        }
    });
    let response = app
        .client
        .post(app.url(&format!(
            "/v1/models/{model}/representations?dataset=d&layer=1"
        )))
        .body(reqwest::Body::wrap_stream(pieces))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::BAD_REQUEST, "upload_stalled").await;
    assert_eq!(app.row_counts().await, before);
}

#[tokio::test]
async fn an_upload_for_an_unknown_model() {
    let (app, _) = app_with_data().await;
    refuse_upload(
        &app,
        999_999,
        npy_f32(10, 4, 2),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_form_encoded_upload_is_pointed_at_data_binary() {
    let (app, model) = app_with_data().await;
    let before = app.row_counts().await;
    let response = app
        .client
        .post(app.url(&format!(
            "/v1/models/{model}/representations?dataset=d&layer=1"
        )))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(npy_f32(10, 4, 2))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert!(detail(&problem).contains("--data-binary"), "{problem}");
    assert_eq!(app.row_counts().await, before);
}

#[tokio::test]
async fn upload_parameters_are_checked() {
    let (app, model) = app_with_data().await;
    let before = app.row_counts().await;
    for (query, code) in [
        ("dataset=d", "invalid_query"),
        ("dataset=d&layer=first", "invalid_query"),
        ("layer=1", "invalid_query"),
        ("dataset=d&layer=1&colour=blue", "invalid_query"),
    ] {
        let response = app
            .post_bytes(
                &format!("/v1/models/{model}/representations?{query}"),
                npy_f32(10, 4, 2),
            )
            .await;
        expect_problem(response, StatusCode::BAD_REQUEST, code).await;
    }
    let response = app
        .post_bytes(
            &format!("/v1/models/{model}/representations?dataset=%20padded&layer=1"),
            npy_f32(10, 4, 2),
        )
        .await;
    expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_name").await;
    assert_eq!(app.row_counts().await, before);
}

/// Sends a JSON request and checks the refusal and that no table changed.
async fn refuse_json(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: &str,
    status: StatusCode,
    code: &str,
) -> serde_json::Value {
    let before = app.row_counts().await;
    let response = app
        .client
        .request(method, app.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, status, code).await;
    assert_eq!(app.row_counts().await, before);
    problem
}

#[tokio::test]
async fn malformed_and_mistyped_json() {
    let (app, model) = app_with_data().await;
    use reqwest::Method;
    refuse_json(
        &app,
        Method::POST,
        "/v1/models",
        "{\"name\": ",
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    refuse_json(
        &app,
        Method::POST,
        "/v1/models",
        "{\"name\": 42}",
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
    refuse_json(
        &app,
        Method::POST,
        "/v1/models",
        "{\"nmae\": \"typo\"}",
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
    refuse_json(
        &app,
        Method::POST,
        "/v1/datasets",
        "{\"name\": \"x\", \"n_rows\": 0}",
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_n_rows",
    )
    .await;
    refuse_json(
        &app,
        Method::PUT,
        &format!("/v1/models/{model}/scores/acc"),
        "{\"value\": \"high\"}",
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
    refuse_json(
        &app,
        Method::PUT,
        &format!("/v1/models/{model}/scores/has%20space"),
        "{\"value\": 1}",
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_score_name",
    )
    .await;

    let before = app.row_counts().await;
    let response = app
        .client
        .post(app.url("/v1/models"))
        .body("{\"name\": \"no content type\"}")
        .send()
        .await
        .unwrap();
    expect_problem(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert_eq!(app.row_counts().await, before);
}

#[tokio::test]
async fn oversized_or_ill_shaped_metadata() {
    let (app, model) = app_with_data().await;
    use reqwest::Method;
    let huge =
        json!({"name": "big", "metadata": {"a": "x".repeat(35_000), "b": "y".repeat(35_000)}})
            .to_string();
    let problem = refuse_json(
        &app,
        Method::POST,
        "/v1/models",
        &huge,
        StatusCode::UNPROCESSABLE_ENTITY,
        "metadata_too_large",
    )
    .await;
    assert!(detail(&problem).contains("65536"), "{problem}");
    refuse_json(
        &app,
        Method::POST,
        "/v1/models",
        "{\"name\": \"list\", \"metadata\": [1, 2]}",
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_metadata",
    )
    .await;

    // Growing metadata past the limit by patches is refused too.
    let half = json!({"metadata": {"a": "x".repeat(40_000)}}).to_string();
    let response = app
        .patch_json(
            &format!("/v1/models/{model}"),
            &serde_json::from_str(&half).unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let other_half = json!({"metadata": {"b": "y".repeat(40_000)}}).to_string();
    refuse_json(
        &app,
        Method::PATCH,
        &format!("/v1/models/{model}"),
        &other_half,
        StatusCode::UNPROCESSABLE_ENTITY,
        "metadata_too_large",
    )
    .await;
}

#[tokio::test]
async fn a_json_body_over_its_limit() {
    let config = HttpConfig {
        max_json_bytes: 1024,
        ..HttpConfig::default()
    };
    let (app, _) = app_with_config(config).await;
    let body = json!({"name": "n".repeat(2000)}).to_string();
    refuse_json(
        &app,
        reqwest::Method::POST,
        "/v1/models",
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
}

#[tokio::test]
async fn duplicate_names_conflict() {
    let (app, model) = app_with_data().await;
    let score = app
        .put_json(
            &format!("/v1/models/{model}/scores/acc"),
            &json!({"value": 0.5}),
        )
        .await;
    expect_status(score, StatusCode::OK).await;
    use reqwest::Method;
    refuse_json(
        &app,
        Method::POST,
        "/v1/models",
        "{\"name\": \"m\"}",
        StatusCode::CONFLICT,
        "model_exists",
    )
    .await;
    refuse_json(
        &app,
        Method::POST,
        "/v1/datasets",
        "{\"name\": \"d\"}",
        StatusCode::CONFLICT,
        "dataset_exists",
    )
    .await;
    let benchmark = json!({
        "name": "twice", "dataset": "d", "score": "acc", "metrics": ["cka"],
        "protocol": {"kind": "all_pairs", "group_by": "none"},
    })
    .to_string();
    let first = json_request(&app, Method::POST, "/v1/benchmarks", &benchmark)
        .send()
        .await
        .unwrap();
    expect_status(first, StatusCode::CREATED).await;
    refuse_json(
        &app,
        Method::POST,
        "/v1/benchmarks",
        &benchmark,
        StatusCode::CONFLICT,
        "benchmark_exists",
    )
    .await;
}

#[tokio::test]
async fn unknown_ids_and_routes() {
    let (app, _) = app_with_data().await;
    for path in [
        "/v1/models/424242",
        "/v1/representations/424242",
        "/v1/datasets/424242",
        "/v1/representations/424242/data",
    ] {
        expect_problem(app.get(path).await, StatusCode::NOT_FOUND, "not_found").await;
    }
    expect_problem(
        app.get("/v1/models/not-a-number").await,
        StatusCode::BAD_REQUEST,
        "invalid_path",
    )
    .await;
    expect_problem(
        app.get("/v1/nothing-here").await,
        StatusCode::NOT_FOUND,
        "route_not_found",
    )
    .await;
    expect_problem(
        app.delete("/v1/datasets").await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    expect_problem(
        app.get("/v1/models?limit=0").await,
        StatusCode::BAD_REQUEST,
        "invalid_limit",
    )
    .await;
    expect_problem(
        app.get("/v1/models?cursor=garbage").await,
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    )
    .await;
    expect_problem(
        app.get("/v1/models?metadata=noequals").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
}

/// Sends a request that carries text the service cannot store; checks that the 422 names the
/// field (`in`, and the JSON `pointer` or the `parameter`) and that no table changed.
async fn refuse_string(
    app: &TestApp,
    request: reqwest::RequestBuilder,
    location: &str,
    field: (&str, &str),
) -> serde_json::Value {
    let before = app.row_counts().await;
    let response = request.send().await.expect("request sent");
    let problem =
        expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_string").await;
    assert_eq!(problem["in"], location, "{problem}");
    let (member, name) = field;
    assert_eq!(problem[member], name, "{problem}");
    assert_eq!(
        app.row_counts().await,
        before,
        "a refused request changes nothing"
    );
    problem
}

fn json_request(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: &str,
) -> reqwest::RequestBuilder {
    app.client
        .request(method, app.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned())
}

#[tokio::test]
async fn nul_characters_in_body_fields_are_refused_by_pointer() {
    let (app, model) = app_with_data().await;
    use reqwest::Method;
    refuse_string(
        &app,
        json_request(
            &app,
            Method::POST,
            "/v1/models",
            r#"{"name": "n", "metadata": {"notes": "a\u0000b"}}"#,
        ),
        "body",
        ("pointer", "/metadata/notes"),
    )
    .await;
    refuse_string(
        &app,
        json_request(
            &app,
            Method::POST,
            "/v1/models",
            r#"{"name": "n", "metadata": {"a/b": {"c\u0000": 1}}}"#,
        ),
        "body",
        ("pointer", "/metadata/a~1b/c\u{0}"),
    )
    .await;
    refuse_string(
        &app,
        json_request(
            &app,
            Method::PATCH,
            &format!("/v1/models/{model}"),
            r#"{"tags": ["ok", "b\u0000d"]}"#,
        ),
        "body",
        ("pointer", "/tags/1"),
    )
    .await;
    refuse_string(
        &app,
        json_request(&app, Method::POST, "/v1/datasets", r#"{"name": "d\u0000"}"#),
        "body",
        ("pointer", "/name"),
    )
    .await;
    let model_after = expect_status(
        app.get(&format!("/v1/models/{model}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        model_after["tags"],
        json!([]),
        "the refused patch changed nothing"
    );
}

#[tokio::test]
async fn lone_surrogates_and_raw_control_characters_name_their_field() {
    let (app, _) = app_with_data().await;
    use reqwest::Method;
    for body in [
        r#"{"name": "bad\ud800"}"#,
        r#"{"name": "bad\ud800\u0041"}"#,
        r#"{"name": "bad\udc00"}"#,
        "{\"name\": \"tab\tinside\"}",
    ] {
        let problem = refuse_string(
            &app,
            json_request(&app, Method::POST, "/v1/models", body),
            "body",
            ("pointer", "/name"),
        )
        .await;
        assert!(detail(&problem).contains("\"/name\""), "{problem}");
    }
    refuse_string(
        &app,
        json_request(
            &app,
            Method::POST,
            "/v1/models",
            r#"{"name": "x", "metadata": {"deep": [1, "\udfff"]}}"#,
        ),
        "body",
        ("pointer", "/metadata/deep/1"),
    )
    .await;
    let invalid_utf8 = app
        .client
        .post(app.url("/v1/models"))
        .header("content-type", "application/json")
        .body(b"{\"name\": \"\xff\xfe\"}".to_vec());
    refuse_string(&app, invalid_utf8, "body", ("pointer", "/name")).await;
}

#[tokio::test]
async fn over_long_strings_are_refused_wherever_they_are() {
    let (app, model) = app_with_data().await;
    use reqwest::Method;
    let long = "x".repeat(70_000);
    let body = json!({"name": "big", "metadata": {"notes": long}}).to_string();
    let problem = refuse_string(
        &app,
        json_request(&app, Method::POST, "/v1/models", &body),
        "body",
        ("pointer", "/metadata/notes"),
    )
    .await;
    assert!(detail(&problem).contains("65536"), "{problem}");
    let long = "x".repeat(5_000);
    let problem = refuse_string(
        &app,
        app.client
            .get(app.url(&format!("/v1/datasets?name={long}"))),
        "query",
        ("parameter", "name"),
    )
    .await;
    assert!(detail(&problem).contains("4096"), "{problem}");
    refuse_string(
        &app,
        app.client
            .put(app.url(&format!("/v1/models/{model}/scores/{long}")))
            .json(&json!({"value": 1})),
        "path",
        ("parameter", "name"),
    )
    .await;
}

#[tokio::test]
async fn nul_bytes_and_invalid_utf8_in_query_parameters_are_refused_by_name() {
    let (app, model) = app_with_data().await;
    for (query, parameter) in [
        ("metadata=seed=%00", "metadata"),
        ("metadata=se%00ed=3", "metadata"),
        ("tag=a%00b", "tag"),
        ("name=%FF%FE", "name"),
        ("limit=10&cursor=%C3", "cursor"),
    ] {
        refuse_string(
            &app,
            app.client.get(app.url(&format!("/v1/models?{query}"))),
            "query",
            ("parameter", parameter),
        )
        .await;
    }
    refuse_string(
        &app,
        app.client.get(app.url("/v1/datasets?name=d%00")),
        "query",
        ("parameter", "name"),
    )
    .await;
    refuse_string(
        &app,
        app.client.get(app.url("/v1/models?%00=1")),
        "query",
        ("parameter", "\u{0}"),
    )
    .await;
    let upload = app
        .client
        .post(app.url(&format!(
            "/v1/models/{model}/representations?dataset=d%00&layer=1"
        )))
        .header("content-type", "application/octet-stream")
        .body(npy_f32(10, 4, 3));
    refuse_string(&app, upload, "query", ("parameter", "dataset")).await;
}

#[tokio::test]
async fn nul_bytes_and_invalid_utf8_in_path_segments_are_refused_by_name() {
    let (app, model) = app_with_data().await;
    refuse_string(
        &app,
        app.client
            .put(app.url(&format!("/v1/models/{model}/scores/acc%00")))
            .json(&json!({"value": 0.5})),
        "path",
        ("parameter", "name"),
    )
    .await;
    refuse_string(
        &app,
        app.client.get(app.url("/v1/tokens/%FF")),
        "path",
        ("parameter", "name"),
    )
    .await;
    refuse_string(
        &app,
        app.client
            .delete(app.url(&format!("/v1/tokens/{}%00", common::TEST_ADMIN))),
        "path",
        ("parameter", "name"),
    )
    .await;
    expect_status(app.get("/v1/tokens").await, StatusCode::OK).await;
}
