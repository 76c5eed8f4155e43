//! Access control over HTTP: bearer tokens and their scopes, public reads, rate limits, CORS,
//! the audit log and who created what.

mod common;

use common::{TEST_ADMIN, TestApp, client_with, expect_problem, expect_status, npy_f32};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use simbench::access::Scope;
use simbench::config::{HttpConfig, Origins};

fn www_authenticate(response: &Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Asserts a 401 with a bearer challenge; `invalid` when the challenge must say invalid_token.
async fn expect_unauthorized(response: Response, invalid: bool) -> Value {
    let challenge = www_authenticate(&response);
    assert!(challenge.starts_with("Bearer "), "{challenge:?}");
    assert_eq!(
        challenge.contains("error=\"invalid_token\""),
        invalid,
        "{challenge:?}"
    );
    expect_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await
}

async fn expect_forbidden(response: Response, required: &str) -> Value {
    let challenge = www_authenticate(&response);
    assert!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge.contains(&format!("scope=\"{required}\"")),
        "{challenge:?}"
    );
    let problem = expect_problem(response, StatusCode::FORBIDDEN, "insufficient_scope").await;
    assert_eq!(problem["required_scope"], required);
    problem
}

fn anonymous() -> Client {
    Client::new()
}

/// A request with this exact Authorization header value.
fn with_authorization(value: &str) -> Client {
    let value = HeaderValue::from_str(value).unwrap();
    Client::builder()
        .default_headers(HeaderMap::from_iter([(
            reqwest::header::AUTHORIZATION,
            value,
        )]))
        .build()
        .unwrap()
}

async fn send_upload(app: &TestApp, client: &Client, model: i64, layer: i32) -> Response {
    client
        .post(app.url(&format!(
            "/v1/models/{model}/representations?dataset=d&layer={layer}"
        )))
        .header("content-type", "application/x-npy")
        .body(npy_f32(8, 3, layer as u64))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_request_without_a_usable_token_is_refused_with_a_bearer_challenge() {
    let app = TestApp::spawn().await;
    let url = app.url("/v1/models");
    let missing = anonymous().get(&url).send().await.unwrap();
    let problem = expect_unauthorized(missing, false).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("Bearer"),
        "{problem}"
    );

    let valid_shape_unknown = format!("Bearer sbk_{}_{}", "0".repeat(16), "a".repeat(64));
    let wrong_secret = {
        let (head, _) = app.token.rsplit_once('_').unwrap();
        format!("Bearer {head}_{}", "f".repeat(64))
    };
    for header in [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer not-a-token".to_owned(),
        format!("Basic {}", app.token),
        format!("Bearer {}", app.token.to_uppercase()),
        format!("Bearer {}x", app.token),
        valid_shape_unknown,
        wrong_secret,
    ] {
        let response = with_authorization(&header).get(&url).send().await.unwrap();
        expect_unauthorized(response, true).await;
    }
    let scheme_in_lower_case = with_authorization(&format!("bearer {}", app.token));
    expect_status(
        scheme_in_lower_case.get(&url).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn liveness_readiness_and_the_api_description_need_no_token() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz", "/openapi.yaml"] {
        for client in [anonymous(), with_authorization("Bearer garbage")] {
            let response = client.get(app.url(path)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
        }
    }
    let metrics = anonymous().get(app.url("/metrics")).send().await.unwrap();
    expect_unauthorized(metrics, false).await;
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status(), StatusCode::OK);
    let unknown = anonymous()
        .get(app.url("/v1/nothing"))
        .send()
        .await
        .unwrap();
    expect_unauthorized(unknown, false).await;
}

#[tokio::test]
async fn a_read_token_reads_but_cannot_upload_or_change_anything() {
    let app = TestApp::spawn().await;
    let model = app.create_model("m").await;
    let reader = client_with(&app.token("reader", Scope::Read).await);
    let before = app.row_counts().await;

    let listed = reader.get(app.url("/v1/models")).send().await.unwrap();
    expect_status(listed, StatusCode::OK).await;
    let head = reader.head(app.url("/v1/models")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);

    let upload = send_upload(&app, &reader, model, 0).await;
    let problem = expect_forbidden(upload, "write").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("reader"),
        "{problem}"
    );
    let create = reader
        .post(app.url("/v1/models"))
        .json(&json!({"name": "m2"}))
        .send()
        .await
        .unwrap();
    expect_forbidden(create, "write").await;
    let delete = reader
        .delete(app.url(&format!("/v1/models/{model}")))
        .send()
        .await
        .unwrap();
    expect_forbidden(delete, "write").await;
    assert_eq!(app.row_counts().await, before, "nothing was written");
}

#[tokio::test]
async fn a_write_token_writes_but_cannot_manage_tokens_or_read_the_audit_log() {
    let app = TestApp::spawn().await;
    let writer = client_with(&app.token("writer", Scope::Write).await);
    let created = writer
        .post(app.url("/v1/models"))
        .json(&json!({"name": "m"}))
        .send()
        .await
        .unwrap();
    let model = expect_status(created, StatusCode::CREATED).await;
    let upload = send_upload(&app, &writer, model["id"].as_i64().unwrap(), 0).await;
    expect_status(upload, StatusCode::CREATED).await;

    let list = writer.get(app.url("/v1/tokens")).send().await.unwrap();
    expect_forbidden(list, "admin").await;
    let create = writer
        .post(app.url("/v1/tokens"))
        .json(&json!({"name": "sneaky", "scope": "admin"}))
        .send()
        .await
        .unwrap();
    expect_forbidden(create, "admin").await;
    let revoke = writer
        .delete(app.url(&format!("/v1/tokens/{TEST_ADMIN}")))
        .send()
        .await
        .unwrap();
    expect_forbidden(revoke, "admin").await;
    let audit = writer.get(app.url("/v1/audit")).send().await.unwrap();
    expect_forbidden(audit, "admin").await;
}

/// A client with one admin token cannot lock itself out; another admin can revoke that token.
#[tokio::test]
async fn a_token_cannot_revoke_itself_but_another_admin_can() {
    let app = TestApp::spawn().await;
    let own = app.delete(&format!("/v1/tokens/{TEST_ADMIN}")).await;
    let problem = expect_problem(own, StatusCode::CONFLICT, "cannot_revoke_own_token").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("simbench token revoke"),
        "{problem}"
    );
    let token = expect_status(
        app.get(&format!("/v1/tokens/{TEST_ADMIN}")).await,
        StatusCode::OK,
    )
    .await;
    assert!(token["revoked_at"].is_null(), "{token}");

    let other = client_with(&app.token("second-admin", Scope::Admin).await);
    let revoked = other
        .delete(app.url(&format!("/v1/tokens/{TEST_ADMIN}")))
        .send()
        .await
        .unwrap();
    expect_status(revoked, StatusCode::NO_CONTENT).await;
    expect_unauthorized(app.get("/v1/models").await, true).await;
}

#[tokio::test]
async fn admins_create_list_and_revoke_tokens_and_a_revoked_token_fails_everywhere() {
    let app = TestApp::spawn().await;
    let created = app
        .post_json(
            "/v1/tokens",
            &json!({"name": "ci-uploads", "scope": "write", "expires_in_days": 30}),
        )
        .await;
    assert_eq!(created.headers()["location"], "/v1/tokens/ci-uploads");
    assert_eq!(created.headers()["cache-control"], "no-store");
    let created = expect_status(created, StatusCode::CREATED).await;
    let text = created["token"].as_str().unwrap().to_owned();
    assert!(text.starts_with("sbk_"), "{created}");
    assert_eq!(
        (created["scope"].as_str(), created["created_by"].as_str()),
        (Some("write"), Some(TEST_ADMIN))
    );
    assert!(created["expires_at"].is_string());

    let listed = expect_status(app.get("/v1/tokens").await, StatusCode::OK).await;
    let listed_text = listed.to_string();
    assert!(!listed_text.contains(&text[20..]), "no secret in {listed}");
    assert!(
        !listed_text.contains("sha256") && !listed_text.contains("public_id"),
        "{listed}"
    );
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|token| token["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [TEST_ADMIN, "ci-uploads"]);

    // The new token works, and remembers when it was used.
    let ci = client_with(&text);
    let model = ci
        .post(app.url("/v1/models"))
        .json(&json!({"name": "m"}))
        .send()
        .await
        .unwrap();
    let model = expect_status(model, StatusCode::CREATED).await["id"]
        .as_i64()
        .unwrap();
    expect_status(send_upload(&app, &ci, model, 0).await, StatusCode::CREATED).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let token = expect_status(app.get("/v1/tokens/ci-uploads").await, StatusCode::OK).await;
        if token["last_used_at"].is_string() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "last_used_at set");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let revoked = app.delete("/v1/tokens/ci-uploads").await;
    expect_status(revoked, StatusCode::NO_CONTENT).await;
    let again = app.delete("/v1/tokens/ci-uploads").await;
    expect_status(again, StatusCode::NO_CONTENT).await;
    let token = expect_status(app.get("/v1/tokens/ci-uploads").await, StatusCode::OK).await;
    assert!(token["revoked_at"].is_string(), "{token}");

    for response in [
        ci.get(app.url("/v1/models")).send().await.unwrap(),
        ci.get(app.url(&format!("/v1/models/{model}")))
            .send()
            .await
            .unwrap(),
        ci.get(app.url("/v1/representations/1/data"))
            .send()
            .await
            .unwrap(),
        ci.get(app.url("/metrics")).send().await.unwrap(),
        ci.post(app.url("/v1/models"))
            .json(&json!({"name": "m2"}))
            .send()
            .await
            .unwrap(),
        send_upload(&app, &ci, model, 1).await,
        ci.put(app.url("/v1/representations/1/scores/acc"))
            .json(&json!({"value": 0.5}))
            .send()
            .await
            .unwrap(),
        ci.delete(app.url(&format!("/v1/models/{model}?cascade=true")))
            .send()
            .await
            .unwrap(),
        ci.get(app.url("/v1/tokens")).send().await.unwrap(),
    ] {
        let problem = expect_unauthorized(response, true).await;
        assert!(
            problem["detail"].as_str().unwrap().contains("revoked"),
            "{problem}"
        );
    }
    expect_status(
        app.get(&format!("/v1/models/{model}")).await,
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn token_requests_are_checked() {
    let app = TestApp::spawn().await;
    let refused = [
        (json!({"name": "a b", "scope": "read"}), "invalid_name"),
        (json!({"name": "", "scope": "read"}), "invalid_name"),
        (json!({"name": "x", "scope": "root"}), "invalid_body"),
        (
            json!({"name": "x", "scope": "read", "expires_in_days": 0}),
            "invalid_expiry",
        ),
        (
            json!({"name": "x", "scope": "read", "secret": "mine"}),
            "invalid_body",
        ),
    ];
    for (body, code) in refused {
        let response = app.post_json("/v1/tokens", &body).await;
        expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    let duplicate = app
        .post_json("/v1/tokens", &json!({"name": TEST_ADMIN, "scope": "read"}))
        .await;
    expect_problem(duplicate, StatusCode::CONFLICT, "token_exists").await;
    let unknown = app.delete("/v1/tokens/nobody").await;
    expect_problem(unknown, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let app = TestApp::spawn().await;
    let created = app
        .post_json(
            "/v1/tokens",
            &json!({"name": "short", "scope": "read", "expires_in_days": 1}),
        )
        .await;
    let created = expect_status(created, StatusCode::CREATED).await;
    let short = client_with(created["token"].as_str().unwrap());
    let before = short.get(app.url("/v1/models")).send().await.unwrap();
    expect_status(before, StatusCode::OK).await;

    sqlx::query("UPDATE tokens SET expires_at = now() - interval '1 second' WHERE name = 'short'")
        .execute(&app.db)
        .await
        .unwrap();
    let after = short.get(app.url("/v1/models")).send().await.unwrap();
    let problem = expect_unauthorized(after, true).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("expired"),
        "{problem}"
    );
}

#[tokio::test]
async fn public_read_opens_reads_and_metrics_but_not_writes_or_administration() {
    let app = TestApp::spawn_with(HttpConfig {
        public_read: true,
        ..HttpConfig::default()
    })
    .await;
    let model = app.create_model("m").await;
    let client = anonymous();
    for path in ["/v1/models", &format!("/v1/models/{model}"), "/metrics"] {
        let response = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let create = client
        .post(app.url("/v1/models"))
        .json(&json!({"name": "m2"}))
        .send()
        .await
        .unwrap();
    expect_unauthorized(create, false).await;
    let upload = send_upload(&app, &client, model, 0).await;
    expect_unauthorized(upload, false).await;
    for path in ["/v1/tokens", "/v1/audit"] {
        let response = client.get(app.url(path)).send().await.unwrap();
        expect_unauthorized(response, false).await;
    }
    // A token that is sent must be valid, even where none is needed.
    let bad = with_authorization("Bearer nonsense")
        .get(app.url("/v1/models"))
        .send()
        .await
        .unwrap();
    expect_unauthorized(bad, true).await;
}

#[tokio::test]
async fn each_caller_gets_its_own_rate_limit() {
    let app = TestApp::spawn_with(HttpConfig {
        rate_limit_per_minute: 1,
        rate_limit_burst: 2,
        public_read: true,
        ..HttpConfig::default()
    })
    .await;
    for _ in 0..2 {
        expect_status(app.get("/v1/models").await, StatusCode::OK).await;
    }
    let limited = app.get("/v1/models").await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let problem = expect_problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(problem["retry_after_seconds"], retry_after);
    let write = app.post_json("/v1/models", &json!({"name": "m"})).await;
    expect_problem(write, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    let other = client_with(&app.token("other", Scope::Read).await);
    let response = other.get(app.url("/v1/models")).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "another token, its own bucket"
    );
    for _ in 0..2 {
        let response = anonymous().get(app.url("/v1/models")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "anonymous: per address");
    }
    let response = anonymous().get(app.url("/v1/models")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    for _ in 0..5 {
        let health = app.get("/healthz").await;
        assert_eq!(health.status(), StatusCode::OK, "probes are never limited");
    }
}

#[tokio::test]
async fn configured_dashboard_origins_may_call_the_api_from_a_browser() {
    let dashboard = "https://dash.example.org";
    let app = TestApp::spawn_with(HttpConfig {
        cors_origins: Origins(vec![HeaderValue::from_static(dashboard)]),
        ..HttpConfig::default()
    })
    .await;
    let preflight = |origin: &'static str| {
        anonymous()
            .request(reqwest::Method::OPTIONS, app.url("/v1/models"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight(dashboard).await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(allowed.headers()["access-control-allow-origin"], dashboard);
    let headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(headers.contains("authorization"), "{headers}");
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );

    let other = preflight("https://elsewhere.example.org").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // A refusal is readable by the dashboard, challenge included.
    let refused = anonymous()
        .get(app.url("/v1/models"))
        .header("origin", dashboard)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers()["access-control-allow-origin"], dashboard);
    let exposed = refused.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("www-authenticate"), "{exposed}");
}

#[tokio::test]
async fn without_configured_origins_there_are_no_cors_headers() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/v1/models"))
        .header("origin", "https://dash.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn writes_are_audited_and_only_admins_read_the_audit_log() {
    let app = TestApp::spawn().await;
    let writer = client_with(&app.token("writer", Scope::Write).await);
    let reader = client_with(&app.token("reader", Scope::Read).await);
    let created = writer
        .post(app.url("/v1/models"))
        .json(&json!({"name": "m"}))
        .header("x-request-id", "req-create-model")
        .send()
        .await
        .unwrap();
    let model = expect_status(created, StatusCode::CREATED).await["id"]
        .as_i64()
        .unwrap();
    let refused = send_upload(&app, &reader, model, 0).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let deleted = writer
        .delete(app.url(&format!("/v1/models/{model}?cascade=true")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    // Reads are not audited, nor requests without a valid token.
    writer.get(app.url("/v1/models")).send().await.unwrap();
    anonymous()
        .post(app.url("/v1/models"))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();

    let log = expect_status(app.get("/v1/audit").await, StatusCode::OK).await;
    let entries: Vec<(String, String, String, String, i64)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["token"].as_str().unwrap().to_owned(),
                entry["method"].as_str().unwrap().to_owned(),
                entry["route"].as_str().unwrap().to_owned(),
                entry["path"].as_str().unwrap().to_owned(),
                entry["status"].as_i64().unwrap(),
            )
        })
        .collect();
    let upload_path = format!("/v1/models/{model}/representations?dataset=d&layer=0");
    let delete_path = format!("/v1/models/{model}?cascade=true");
    let expected = [
        ("writer", "POST", "/v1/models", "/v1/models", 201),
        (
            "reader",
            "POST",
            "/v1/models/{id}/representations",
            upload_path.as_str(),
            403,
        ),
        (
            "writer",
            "DELETE",
            "/v1/models/{id}",
            delete_path.as_str(),
            204,
        ),
    ]
    .map(|(token, method, route, path, status)| {
        (
            token.to_owned(),
            method.to_owned(),
            route.to_owned(),
            path.to_owned(),
            status,
        )
    });
    assert_eq!(entries, expected);
    assert_eq!(log["items"][0]["request_id"], "req-create-model");
    assert!(log["items"][0]["at"].is_string());

    let mine = expect_status(app.get("/v1/audit?token=reader").await, StatusCode::OK).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let first = expect_status(app.get("/v1/audit?limit=2").await, StatusCode::OK).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = expect_status(
        app.get(&format!("/v1/audit?limit=2&cursor={cursor}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rest["items"][0]["method"], "DELETE");
    assert_eq!(rest["next_cursor"], Value::Null);

    // Managing tokens is a write too.
    app.post_json("/v1/tokens", &json!({"name": "new", "scope": "read"}))
        .await;
    let log = expect_status(
        app.get(&format!("/v1/audit?token={TEST_ADMIN}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(log["items"][0]["route"], "/v1/tokens");
    assert_eq!(log["items"][0]["status"], 201);
}

#[tokio::test]
async fn objects_record_the_token_that_created_them() {
    let app = TestApp::spawn().await;
    let writer = client_with(&app.token("trainer", Scope::Write).await);
    let post = |path: &str, body: Value| writer.post(app.url(path)).json(&body).send();
    let dataset = post("/v1/datasets", json!({"name": "named"}))
        .await
        .unwrap();
    let dataset = expect_status(dataset, StatusCode::CREATED).await;
    let model = expect_status(
        post("/v1/models", json!({"name": "m"})).await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let model_id = model["id"].as_i64().unwrap();
    let first = expect_status(
        send_upload(&app, &writer, model_id, 0).await,
        StatusCode::CREATED,
    )
    .await;
    let second = expect_status(
        send_upload(&app, &writer, model_id, 1).await,
        StatusCode::CREATED,
    )
    .await;
    let score = writer
        .put(app.url(&format!("/v1/representations/{}/scores/acc", first["id"])))
        .json(&json!({"value": 0.5}))
        .send()
        .await
        .unwrap();
    let score = expect_status(score, StatusCode::OK).await;
    let batch = post(
        "/v1/scores",
        json!({"scores": [{"model": model_id, "name": "ood", "value": 0.1}]}),
    )
    .await
    .unwrap();
    let batch = expect_status(batch, StatusCode::OK).await;
    let comparison = post(
        "/v1/comparisons",
        json!({"pairs": [[first["id"], second["id"]]], "metrics": ["cka"]}),
    )
    .await
    .unwrap();
    let comparison = expect_status(comparison, StatusCode::ACCEPTED).await;
    let derived = post(
        &format!("/v1/representations/{}/derived", first["id"]),
        json!({"pca_keep": [1]}),
    )
    .await
    .unwrap();
    let derived = expect_status(derived, StatusCode::CREATED).await;
    let benchmark = post(
        "/v1/benchmarks",
        json!({"name": "b", "dataset": "d", "score": "ood",
               "protocol": {"kind": "all_pairs", "group_by": "none"}, "metrics": ["cka"]}),
    )
    .await
    .unwrap();
    let benchmark = expect_status(benchmark, StatusCode::CREATED).await;

    for object in [
        &dataset,
        &model,
        &first,
        &score,
        &batch["items"][0],
        &comparison,
        &derived["items"][0],
        &benchmark,
    ] {
        assert_eq!(object["created_by"], "trainer", "{object}");
    }
    let path = format!("/v1/benchmarks/{}/run", benchmark["id"]);
    let run = expect_status(app.post_json(&path, &json!({})).await, StatusCode::ACCEPTED).await;
    let run_by: Option<String> = sqlx::query_scalar(
        "SELECT c.created_by FROM comparisons c JOIN benchmarks b ON b.comparison_id = c.id
         WHERE b.id = $1",
    )
    .bind(run["id"].as_i64())
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        run_by.as_deref(),
        Some(TEST_ADMIN),
        "the run's comparison: who ran it"
    );
    let uploaded_dataset =
        expect_status(app.get("/v1/datasets?name=d").await, StatusCode::OK).await;
    assert_eq!(uploaded_dataset["items"][0]["created_by"], "trainer");
    for path in [
        format!("/v1/models/{model_id}"),
        format!("/v1/representations/{}", first["id"]),
        format!("/v1/comparisons/{}", comparison["id"]),
    ] {
        let fetched = expect_status(app.get(&path).await, StatusCode::OK).await;
        assert_eq!(fetched["created_by"], "trainer", "{path}: {fetched}");
    }
    let scores = expect_status(
        app.get(&format!("/v1/models/{model_id}/scores")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(scores["items"][0]["created_by"], "trainer");
}

#[tokio::test]
async fn a_write_succeeds_even_when_its_audit_entry_cannot_be_written() {
    let app = TestApp::spawn().await;
    sqlx::query("ALTER TABLE audit_log RENAME TO audit_log_away")
        .execute(&app.db)
        .await
        .unwrap();
    let created = app.post_json("/v1/models", &json!({"name": "m"})).await;
    expect_status(created, StatusCode::CREATED).await;
    let models = expect_status(app.get("/v1/models").await, StatusCode::OK).await;
    assert_eq!(models["items"][0]["name"], "m", "the write happened");
}
