//! The dashboard in a real browser: Debian's Chromium, headless, driven over WebDriver by
//! chromedriver, against the real server and database (README, Dashboard). Each step saves a
//! screenshot under target/ui-screenshots/.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::response::Html;
use common::dashboard::{DATASET, LAYERS, Study, study};
use common::{TestApp, expect_status, free_port};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use reqwest::StatusCode;
use serde_json::{Value, json};
use simbench::access::Scope;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver and the browser session it drives; both end with the test.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    async fn start() -> Browser {
        let port = free_port();
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (scripts/setup-browser.sh installs it)");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{url}/status")).await.is_err() {
            if let Ok(Some(status)) = driver.try_wait() {
                panic!("chromedriver exited: {status}");
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        // Without network, Chromium waits on refused connections unless its background
        // services are off.
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1440,1000".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({"binary": CHROMIUM, "args": args}),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .expect("a browser session");
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    async fn screenshot(&self, name: &str) {
        let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots");
        std::fs::create_dir_all(&directory).unwrap();
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(directory.join(format!("{name}.png")), png).unwrap();
    }

    async fn log_in(&self, app: &TestApp, token: &str) {
        self.client.goto(&app.url("/ui/login")).await.unwrap();
        let field = self.client.find(Locator::Css("#token")).await.unwrap();
        field.send_keys(token).await.unwrap();
        self.client
            .find(Locator::Css("section.login button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        self.client
            .wait()
            .for_element(Locator::Css("span.viewer"))
            .await
            .expect("logged in");
    }

    /// The attribute `name` of every element matching `css`.
    async fn attrs(&self, css: &str, names: &[&str]) -> Vec<Vec<Option<String>>> {
        let mut found = Vec::new();
        for element in self.client.find_all(Locator::Css(css)).await.unwrap() {
            let mut values = Vec::new();
            for name in names {
                values.push(element.attr(name).await.unwrap());
            }
            found.push(values);
        }
        found
    }
}

fn number(text: &Option<String>) -> f64 {
    text.as_deref()
        .expect("a data attribute")
        .parse()
        .expect("a number")
}

#[tokio::test]
async fn a_writer_logs_in_and_the_pages_show_what_the_api_serves() {
    let app = TestApp::spawn_with_workers(2).await;
    let Study {
        models,
        representations,
        benchmark,
    } = study(&app, 4).await;
    let browser = Browser::start().await;
    browser.client.goto(&app.url("/")).await.unwrap();
    assert!(
        browser
            .client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/ui/login")
    );
    browser
        .log_in(&app, &app.token("analyst", Scope::Write).await)
        .await;
    browser.screenshot("01-logged-in").await;

    browser
        .client
        .goto(&app.url("/ui/leaderboard"))
        .await
        .unwrap();
    let board = expect_status(app.get("/v1/leaderboard").await, StatusCode::OK).await;
    let mut expected = Vec::new();
    for row in board["rows"].as_array().unwrap() {
        for cell in row["cells"].as_array().unwrap() {
            if let Some(value) = cell["value"].as_f64() {
                expected.push((
                    cell["benchmark"].as_i64().unwrap(),
                    value,
                    cell["tied_with_leader"].as_bool().unwrap(),
                ));
            }
        }
    }
    let cells = browser
        .attrs(
            "table.leaderboard td.cell",
            &["data-value", "data-benchmark", "data-tied"],
        )
        .await;
    let headers = browser
        .attrs(
            "table.leaderboard th[data-benchmark]",
            &["data-benchmark", "data-statistic", "data-leader"],
        )
        .await;
    let columns: Vec<Vec<Option<String>>> = board["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|column| {
            vec![
                Some(column["id"].to_string()),
                column["statistic"].as_str().map(str::to_owned),
                column["leader"].as_str().map(str::to_owned),
            ]
        })
        .collect();
    assert_eq!(
        headers, columns,
        "each column names its statistic and leader"
    );
    let metrics = browser
        .attrs("table.leaderboard tbody tr", &["data-metric"])
        .await;
    assert!(
        !expected.is_empty(),
        "the study gives the leaderboard values: {board}"
    );
    assert_eq!(cells.len(), expected.len());
    assert_eq!(metrics.len(), board["rows"].as_array().unwrap().len());
    for ((cell, (benchmark, value, tied)), row) in cells.iter().zip(&expected).zip(&metrics) {
        assert_eq!(number(&cell[0]), *value);
        assert_eq!(number(&cell[1]) as i64, *benchmark);
        assert_eq!(
            cell[2].as_deref(),
            Some(if *tied { "true" } else { "false" })
        );
        assert!(row[0].is_some());
    }
    let leader_cells = browser
        .attrs("table.leaderboard td.leader", &["data-benchmark"])
        .await;
    assert_eq!(
        leader_cells.len(),
        columns.iter().filter(|column| column[2].is_some()).count(),
        "one leader cell a column that has a leader"
    );
    browser.screenshot("02-leaderboard").await;

    browser
        .client
        .goto(&app.url(&format!("/ui/benchmarks/{benchmark}?group=1#scatter")))
        .await
        .unwrap();
    for metric in ["cka", "procrustes"] {
        let pairs = expect_status(
            app.get(&format!(
                "/v1/benchmarks/{benchmark}/pairs?metric={metric}&group=1"
            ))
            .await,
            StatusCode::OK,
        )
        .await;
        let rows = pairs["rows"].as_array().unwrap();
        let points = browser
            .attrs(
                &format!("div.chart[data-metric={metric}] circle.point"),
                &["data-x", "data-y"],
            )
            .await;
        assert!(!rows.is_empty());
        assert_eq!(points.len(), rows.len(), "{metric}: one point per pair");
        for (point, row) in points.iter().zip(rows) {
            assert_eq!(number(&point[0]), row["x"].as_f64().unwrap());
            assert_eq!(number(&point[1]), row["y"].as_f64().unwrap());
        }
    }
    browser.screenshot("03-benchmark").await;

    let (a, b) = (models[0], models[1]);
    let compare = format!("/ui/compare?dataset={DATASET}&a={a}&b={b}&metric=cka&metric=cca_mean");
    browser.client.goto(&app.url(&compare)).await.unwrap();
    let ids: Vec<String> = representations
        .iter()
        .flatten()
        .map(i64::to_string)
        .collect();
    let matrix = expect_status(
        app.get(&format!(
            "/v1/distances/matrix?metric=cka&representations={}",
            ids.join(",")
        ))
        .await,
        StatusCode::OK,
    )
    .await;
    let cells = browser
        .attrs(
            "svg.heatmap[data-metric=cka] g.cell",
            &["data-a", "data-b", "data-value"],
        )
        .await;
    assert_eq!(cells.len(), LAYERS * LAYERS, "layers_a × layers_b cells");
    let mut known = 0;
    for cell in &cells {
        let row = ids
            .iter()
            .position(|id| Some(id) == cell[0].as_ref())
            .unwrap();
        let column = ids
            .iter()
            .position(|id| Some(id) == cell[1].as_ref())
            .unwrap();
        assert!(
            row < LAYERS && (LAYERS..2 * LAYERS).contains(&column),
            "rows are model a, columns model b"
        );
        match matrix["values"][row][column].as_f64() {
            Some(value) => {
                assert_eq!(number(&cell[2]), value);
                known += 1;
            }
            None => assert_eq!(cell[2], None, "a cell the matrix lacks is hatched"),
        }
    }
    assert_eq!(known, LAYERS, "the benchmark computed the same-layer pairs");
    let hatched = browser
        .attrs(
            "svg.heatmap[data-metric=cca_mean] g.cell.missing",
            &["data-a"],
        )
        .await;
    assert_eq!(hatched.len(), LAYERS * LAYERS, "CCA is not computed yet");
    let hatched = browser
        .attrs("svg.heatmap[data-metric=cka] g.cell.missing", &["data-a"])
        .await;
    assert_eq!(hatched.len(), LAYERS * LAYERS - LAYERS);
    browser.screenshot("04-compare-missing").await;

    browser
        .client
        .find(Locator::Css("#compute-missing"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // The page reloads itself while the workers compute. A reload caught half-parsed shows
        // fewer cells, hatched or not, so only a page fully loaded with every cell of both
        // heatmaps drawn and none hatched is the last one; the count is read in one script so
        // a reload cannot fall between its parts.
        let state = browser
            .client
            .execute(
                "return [document.readyState, \
                         document.querySelectorAll('svg.heatmap g.cell').length, \
                         document.querySelectorAll('svg.heatmap g.cell.missing').length];",
                Vec::new(),
            )
            .await;
        if let Ok(state) = state
            && state == json!(["complete", 2 * LAYERS * LAYERS, 0])
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the missing cells were not filled"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for metric in ["cka", "cca_mean"] {
        let matrix = expect_status(
            app.get(&format!(
                "/v1/distances/matrix?metric={metric}&representations={}",
                ids.join(",")
            ))
            .await,
            StatusCode::OK,
        )
        .await;
        let filled = browser
            .attrs(
                &format!("svg.heatmap[data-metric={metric}] g.cell"),
                &["data-a", "data-b", "data-value"],
            )
            .await;
        assert_eq!(filled.len(), LAYERS * LAYERS);
        for cell in &filled {
            let row = ids
                .iter()
                .position(|id| Some(id) == cell[0].as_ref())
                .unwrap();
            let column = ids
                .iter()
                .position(|id| Some(id) == cell[1].as_ref())
                .unwrap();
            assert_eq!(
                number(&cell[2]),
                matrix["values"][row][column].as_f64().unwrap(),
                "{metric}"
            );
        }
    }
    browser.screenshot("05-compare-computed").await;

    browser
        .client
        .goto(&app.url(&format!("/ui/models/{a}")))
        .await
        .unwrap();
    let rows = browser
        .attrs("table.representations tbody tr", &["data-representation"])
        .await;
    assert_eq!(rows.len(), LAYERS);
    browser.screenshot("06-model").await;

    browser
        .client
        .find(Locator::Css("#logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .client
        .wait()
        .for_element(Locator::Css("section.login"))
        .await
        .unwrap();
    browser
        .client
        .goto(&app.url("/ui/leaderboard"))
        .await
        .unwrap();
    assert!(
        browser
            .client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/ui/login")
    );
    browser.screenshot("07-logged-out").await;
}

#[tokio::test]
async fn a_cross_site_post_is_refused_and_a_read_session_sees_no_retry_button() {
    let app = TestApp::spawn().await;
    let failed: i64 = sqlx::query_scalar(
        "INSERT INTO jobs (metrics, status, attempts, last_error, finished_at)
         VALUES (ARRAY['pwcca'], 'failed', 3, 'lapack: the SVD did not converge', now())
         RETURNING id",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let browser = Browser::start().await;

    browser
        .log_in(&app, &app.token("reader", Scope::Read).await)
        .await;
    browser.client.goto(&app.url("/ui/jobs")).await.unwrap();
    let failed_rows = browser.attrs("table.failed tbody tr", &["data-job"]).await;
    assert_eq!(failed_rows, vec![vec![Some(failed.to_string())]]);
    assert!(
        browser
            .client
            .find_all(Locator::Css("button.retry"))
            .await
            .unwrap()
            .is_empty()
    );
    browser.screenshot("10-jobs-read-session").await;

    // Another site (localhost is not 127.0.0.1 to a browser) with a form aimed at the service.
    let target = app.url(&format!("/ui/jobs/{failed}/retry"));
    let evil = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let evil_url = format!("http://localhost:{}/", evil.local_addr().unwrap().port());
    let page = format!(
        "<!DOCTYPE html><form method=post action=\"{target}\"><input type=hidden name=csrf value=x><button id=go>win</button></form>"
    );
    tokio::spawn(async move {
        let router =
            axum::Router::new().route("/", axum::routing::get(move || async move { Html(page) }));
        axum::serve(evil, router).await
    });
    browser
        .log_in(&app, &app.token("writer", Scope::Write).await)
        .await;
    browser.client.goto(&evil_url).await.unwrap();
    browser
        .client
        .find(Locator::Css("#go"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .client
        .wait()
        .for_element(Locator::Css("p.error-detail"))
        .await
        .unwrap();
    let heading = browser
        .client
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(heading.starts_with("403"), "{heading}");
    browser.screenshot("11-cross-site-refused").await;
    let job = expect_status(app.get(&format!("/v1/jobs/{failed}")).await, StatusCode::OK).await;
    assert_eq!(job["status"], Value::from("failed"), "nothing changed");

    browser.client.goto(&app.url("/ui/jobs")).await.unwrap();
    browser
        .client
        .find(Locator::Css("button.retry"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The page the button sits on already has the counts, so waiting for them could end before
    // the form is posted; only the reloaded page, fully parsed, no longer lists the job as failed.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = browser
            .client
            .execute(
                "return [document.readyState, \
                         document.querySelectorAll('div.counts').length, \
                         document.querySelectorAll('table.failed tbody tr[data-job=\"' + arguments[0] + '\"]').length];",
                vec![json!(failed.to_string())],
            )
            .await;
        if let Ok(state) = state
            && state == json!(["complete", 1, 0])
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the retried job is still listed as failed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let job = expect_status(app.get(&format!("/v1/jobs/{failed}")).await, StatusCode::OK).await;
    assert_eq!(
        job["status"],
        Value::from("queued"),
        "the writer's own retry goes through"
    );
    browser.screenshot("12-jobs-retried").await;
}
