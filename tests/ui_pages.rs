//! The dashboard over HTTP: sessions, CSRF and origin checks, scopes, the audit trail, CSV
//! downloads and every page answering, against the real server and database.

mod common;

use common::dashboard::{Browser, DATASET, study};
use common::{TestApp, expect_status, wait_for_benchmark};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use serde_json::{Value, json};
use simbench::access::Scope;
use simbench::config::HttpConfig;

async fn audit_routes(app: &TestApp, token: &str) -> Vec<(String, String, i64)> {
    let log = expect_status(
        app.get(&format!("/v1/audit?token={token}")).await,
        StatusCode::OK,
    )
    .await;
    log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["method"].as_str().unwrap().to_owned(),
                entry["route"].as_str().unwrap_or("").to_owned(),
                entry["status"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn sessions_open_with_a_token_end_with_logout_or_revocation_and_are_audited() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);

    let root = browser.get("/").await;
    assert_eq!(root.headers()[LOCATION], "/ui/leaderboard");
    let anonymous = browser.get("/ui/jobs").await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()[LOCATION], "/ui/login?next=%2Fui%2Fjobs");
    let form = browser.get("/ui/login").await;
    let policy = form.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("default-src 'none'") && !policy.contains("unsafe"),
        "{policy}"
    );

    let wrong = browser
        .post_form("/ui/login", &[("token", "sbk_0000000000000000_00")], None)
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let token = app.token("analyst", Scope::Write).await;
    let cookie = browser.log_in(&token).await;
    for attribute in ["HttpOnly", "SameSite=Strict", "Max-Age=43200", "Path=/ui"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http is not configured as https: {cookie}"
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM ui_sessions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 1);
    let session_id = browser
        .cookie
        .as_deref()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let kept_in_clear: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM ui_sessions WHERE encode(id_sha256, 'hex') = $1)",
    )
    .bind(&session_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(!kept_in_clear, "only the hash of the session id is stored");
    assert_eq!(browser.get("/ui/jobs").await.status(), StatusCode::OK);

    let csrf = browser.csrf("/ui/jobs").await;
    let logout = browser
        .post_form("/ui/logout", &[("csrf", &csrf)], None)
        .await;
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        browser.get("/ui/jobs").await.status(),
        StatusCode::SEE_OTHER
    );

    browser.log_in(&token).await;
    assert_eq!(browser.get("/ui/models").await.status(), StatusCode::OK);
    expect_status(
        app.delete("/v1/tokens/analyst").await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(
        browser.get("/ui/models").await.status(),
        StatusCode::SEE_OTHER,
        "a revoked token ends its sessions"
    );

    let audited = audit_routes(&app, "analyst").await;
    let logins = audited
        .iter()
        .filter(|(_, route, _)| route == "/ui/login")
        .count();
    assert_eq!(logins, 2, "{audited:?}");
    assert!(
        audited.contains(&("POST".into(), "/ui/logout".into(), 303)),
        "{audited:?}"
    );
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_configured_for_https() {
    let app = TestApp::spawn_with(HttpConfig {
        secure_cookies: true,
        ..HttpConfig::default()
    })
    .await;
    let token = app.token("reader", Scope::Read).await;
    let cookie = Browser::new(&app).log_in(&token).await;
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn writes_need_the_csrf_token_this_origin_and_write_scope() {
    let app = TestApp::spawn().await;
    let failed = sqlx::query_scalar::<_, i64>(
        "INSERT INTO jobs (rep_a, rep_b, metrics, status, attempts, last_error, finished_at)
         VALUES (NULL, NULL, ARRAY['cka'], 'failed', 3, 'the matrix could not be read', now())
         RETURNING id",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let retry = format!("/ui/jobs/{failed}/retry");

    let mut reader = Browser::new(&app);
    reader.log_in(&app.token("reader", Scope::Read).await).await;
    let page = reader.get("/ui/jobs").await.text().await.unwrap();
    assert!(page.contains("the matrix could not be read"));
    assert!(
        !page.contains("Retry"),
        "a read session sees no write control"
    );
    let csrf = reader.csrf("/ui/jobs").await;
    let refused = reader.post_form(&retry, &[("csrf", &csrf)], None).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let mut writer = Browser::new(&app);
    writer
        .log_in(&app.token("writer", Scope::Write).await)
        .await;
    let page = writer.get("/ui/jobs").await.text().await.unwrap();
    assert!(page.contains("Retry"));
    let csrf = writer.csrf("/ui/jobs").await;
    let without = writer.post_form(&retry, &[], None).await;
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    let forged = writer
        .post_form(&retry, &[("csrf", &"0".repeat(64))], None)
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let cross_site = writer
        .post_form(&retry, &[("csrf", &csrf)], Some("http://evil.example"))
        .await;
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    let status: String = sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1")
        .bind(failed)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "failed", "no refused form changed anything");

    let done = writer.post_form(&retry, &[("csrf", &csrf)], None).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let status: String = sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1")
        .bind(failed)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "queued");
    let again = writer.post_form(&retry, &[("csrf", &csrf)], None).await;
    assert_eq!(
        again.status(),
        StatusCode::CONFLICT,
        "only failed jobs are retried"
    );
    let audited = audit_routes(&app, "writer").await;
    assert!(
        audited.contains(&("POST".into(), "/ui/jobs/{id}/retry".into(), 303)),
        "{audited:?}"
    );
    assert!(
        audited.contains(&("POST".into(), "/ui/jobs/{id}/retry".into(), 409)),
        "{audited:?}"
    );
}

#[tokio::test]
async fn pages_and_csv_downloads_agree_with_the_api() {
    let app = TestApp::spawn_with_workers(2).await;
    let study = study(&app, 4).await;
    let mut browser = Browser::new(&app);
    browser
        .log_in(&app.token("reader", Scope::Read).await)
        .await;
    let id = study.benchmark;
    let (a, b) = (study.models[0], study.models[1]);
    let compare = format!("/ui/compare?dataset={DATASET}&a={a}&b={b}&metric=cka&metric=procrustes");
    for path in [
        "/ui/leaderboard".to_owned(),
        "/ui/benchmarks".to_owned(),
        format!("/ui/benchmarks/{id}"),
        format!("/ui/benchmarks/{id}?group=1"),
        compare.clone(),
        "/ui/compare".to_owned(),
        "/ui/models".to_owned(),
        format!("/ui/models/{a}"),
        "/ui/jobs".to_owned(),
    ] {
        let response = browser.get(&path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            response.headers().contains_key(CONTENT_SECURITY_POLICY),
            "{path}"
        );
        let html = response.text().await.unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"), "{path}");
        assert!(!html.contains("<script"), "{path}");
        if path == "/ui/leaderboard" {
            assert!(
                html.contains("<td class=\"cell rho-"),
                "cells carry their colour class"
            );
        }
    }
    for (path, status) in [
        (
            format!("/ui/benchmarks/{}", id + 1000),
            StatusCode::NOT_FOUND,
        ),
        ("/ui/benchmarks/abc".to_owned(), StatusCode::NOT_FOUND),
        (
            format!("/ui/benchmarks/{id}?group=nope"),
            StatusCode::BAD_REQUEST,
        ),
        ("/ui/compare?a=x".to_owned(), StatusCode::BAD_REQUEST),
        (
            "/ui/compare?metric=nope".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/ui/benchmarks/{id}/pairs"),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        assert_eq!(browser.get(&path).await.status(), status, "{path}");
    }

    let board = expect_status(app.get("/v1/leaderboard").await, StatusCode::OK).await;
    let csv = app
        .client
        .get(app.url("/v1/leaderboard"))
        .header(ACCEPT, "text/csv")
        .send()
        .await
        .unwrap();
    assert!(
        csv.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    assert_eq!(
        text.lines().count(),
        1 + 2,
        "two metrics on one benchmark: {text}"
    );
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "metric,benchmark_id,benchmark,spearman,rank,mean_spearman,mean_rank,statistic,value,\
             tied_with_leader"
        )
    );
    for (line, row) in lines.zip(board["rows"].as_array().unwrap()) {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields[0], row["metric"].as_str().unwrap());
        assert_eq!(
            fields[3].parse::<f64>().unwrap(),
            row["cells"][0]["spearman"].as_f64().unwrap()
        );
    }
    let page_csv = browser
        .get("/ui/leaderboard?format=csv")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(page_csv, text, "the page's download is the API's");

    let results = expect_status(
        app.get(&format!("/v1/benchmarks/{id}/results")).await,
        StatusCode::OK,
    )
    .await;
    let results_csv = app
        .get(&format!("/v1/benchmarks/{id}/results?format=csv"))
        .await
        .text()
        .await
        .unwrap();
    let groups: usize = results["metrics"]
        .as_object()
        .unwrap()
        .values()
        .map(|metric| metric["groups"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        results_csv.lines().count(),
        1 + groups,
        "one row per metric and group"
    );
    assert_eq!(groups, 2 * common::dashboard::LAYERS);

    let pairs = expect_status(
        app.get(&format!("/v1/benchmarks/{id}/pairs?metric=cka&group=1"))
            .await,
        StatusCode::OK,
    )
    .await;
    let pairs_csv = app
        .get(&format!(
            "/v1/benchmarks/{id}/pairs?metric=cka&group=1&format=csv"
        ))
        .await
        .text()
        .await
        .unwrap();
    let rows = pairs["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6, "four models, one pair each two of them");
    assert_eq!(pairs_csv.lines().count(), 1 + rows.len());
    for (line, row) in pairs_csv.lines().skip(1).zip(rows) {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(
            fields[4].parse::<f64>().unwrap(),
            row["x"].as_f64().unwrap()
        );
        assert_eq!(
            fields[5].parse::<f64>().unwrap(),
            row["y"].as_f64().unwrap()
        );
    }
    let page_pairs = browser
        .get(&format!("/ui/benchmarks/{id}/pairs?metric=cka&group=1"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(page_pairs, pairs_csv);

    let ids: Vec<String> = study
        .representations
        .iter()
        .flatten()
        .map(i64::to_string)
        .collect();
    let matrix_path = format!(
        "/v1/distances/matrix?metric=cka&representations={}",
        ids.join(",")
    );
    let matrix = expect_status(app.get(&matrix_path).await, StatusCode::OK).await;
    let matrix_csv = app
        .get(&format!("{matrix_path}&format=csv"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(matrix_csv.lines().count(), 1 + ids.len() * ids.len());
    for line in matrix_csv.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let row = ids.iter().position(|id| id == fields[1]).unwrap();
        let column = ids.iter().position(|id| id == fields[2]).unwrap();
        match &matrix["values"][row][column] {
            Value::Null => assert_eq!(fields[3], ""),
            value => assert_eq!(fields[3].parse::<f64>().unwrap(), value.as_f64().unwrap()),
        }
    }
    let bad_format = app.get("/v1/leaderboard?format=xml").await;
    assert_eq!(bad_format.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn public_read_pages_need_no_log_in_but_show_no_write_control() {
    let app = TestApp::spawn_with(HttpConfig {
        public_read: true,
        ..HttpConfig::default()
    })
    .await;
    let browser = Browser::new(&app);
    let page = browser.get("/ui/jobs").await;
    assert_eq!(page.status(), StatusCode::OK);
    let server_timing = page
        .headers()
        .get(simbench::ui::SERVER_TIMING)
        .and_then(|value| value.to_str().ok())
        .and_then(simbench::ui::server_timing_millis);
    assert!(
        server_timing.is_some_and(f64::is_finite),
        "pages say how long the server took over them: {:?}",
        page.headers().get(simbench::ui::SERVER_TIMING)
    );
    assert!(page.text().await.unwrap().contains("public view"));
    let refused = browser
        .post_form("/ui/jobs/1/retry", &[("csrf", "x")], None)
        .await;
    assert_eq!(
        refused.status(),
        StatusCode::SEE_OTHER,
        "a write needs a session: log in first"
    );
}

#[tokio::test]
async fn separation_and_monotonicity_pages_show_classes_and_layer_matrices() {
    let app = TestApp::spawn_with_workers(2).await;
    study(&app, 4).await;
    let mut browser = Browser::new(&app);
    browser
        .log_in(&app.token("reader", Scope::Read).await)
        .await;
    let mut created = Vec::new();
    for (name, protocol) in [
        (
            "families",
            json!({"kind": "separation", "by": "family", "group_by": "layer"}),
        ),
        ("depth", json!({"kind": "monotonicity"})),
    ] {
        let definition = json!({"name": name, "dataset": DATASET, "protocol": protocol,
            "metrics": ["cka", "procrustes"]});
        let id = expect_status(
            app.post_json("/v1/benchmarks", &definition).await,
            StatusCode::CREATED,
        )
        .await["id"]
            .as_i64()
            .unwrap();
        wait_for_benchmark(&app, id).await;
        created.push(id);
    }
    let (separation, monotonicity) = (created[0], created[1]);

    let html = browser
        .get(&format!("/ui/benchmarks/{separation}?group=2"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Design classes of group 2"), "{html}");
    assert!(html.contains("<table class=\"classes\">"));
    for class in ["0", "1"] {
        assert!(
            html.contains(&format!("data-class=\"{class}\"")),
            "class {class}"
        );
    }
    assert!(html.contains("Per group (AUPRC)"));
    assert!(
        html.contains("&quot;family&quot; differs (1) or not (0)"),
        "the scatter's y label"
    );
    let csv = browser
        .get(&format!("/ui/benchmarks/{separation}?format=csv"))
        .await
        .text()
        .await
        .unwrap();
    // 2 metrics x 3 layers x 2 classes.
    assert_eq!(csv.lines().count(), 1 + 12, "{csv}");

    let html = browser
        .get(&format!("/ui/benchmarks/{monotonicity}?group=net-1"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Layer by layer: net-1"), "{html}");
    assert!(html.contains("Per model"));
    let heatmaps = html.matches("data-metric=\"layers-").count();
    assert_eq!(heatmaps, 2, "one layer matrix per metric");
    let models: Vec<String> = (0..4)
        .map(|model| format!("data-group=\"net-{model}\""))
        .collect();
    assert!(models.iter().all(|model| html.contains(model.as_str())));
    assert_eq!(
        browser
            .get(&format!("/ui/benchmarks/{monotonicity}?group=net-9"))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
}
