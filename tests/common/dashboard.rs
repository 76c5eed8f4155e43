//! A small study for the dashboard's tests: models with named layers, scores, one published
//! benchmark, and a browser-like client that logs in and keeps its session cookie.

use reqwest::header::{COOKIE, HOST, ORIGIN, SET_COOKIE};
use reqwest::{Client, StatusCode};
use serde_json::json;

use super::{TestApp, expect_status, npy_f32, wait_for_benchmark};

pub const DATASET: &str = "probe-set";
pub const LAYERS: usize = 3;

/// What [`study`] created.
pub struct Study {
    pub models: Vec<i64>,
    /// `representations[model][layer]`.
    pub representations: Vec<Vec<i64>>,
    pub benchmark: i64,
}

/// `models` models of [`LAYERS`] named layers each (in two `family` design classes by the
/// parity of their `seed`), a `probe` score per representation, and
/// one published benchmark over them (CKA and Procrustes, one group per layer: every pair of
/// models at that layer, with a bootstrap so the pages show intervals and ties), run to the end. Four models give each group six pairs.
pub async fn study(app: &TestApp, models: usize) -> Study {
    let mut ids = Vec::new();
    let mut representations = Vec::new();
    for model in 0..models {
        let body = json!({"name": format!("net-{model}"), "metadata": {"seed": model, "family": model % 2}, "tags": ["ui"]});
        let id = expect_status(
            app.post_json("/v1/models", &body).await,
            StatusCode::CREATED,
        )
        .await["id"]
            .as_i64()
            .unwrap();
        let mut layers = Vec::new();
        for layer in 0..LAYERS {
            let path = format!(
                "/v1/models/{id}/representations?dataset={DATASET}&layer={layer}&layer_name=block{layer}"
            );
            let seed = (model * 10 + layer) as u64 + 1;
            let stored = expect_status(
                app.post_bytes(&path, npy_f32(40, 6, seed)).await,
                StatusCode::CREATED,
            )
            .await;
            let representation = stored["id"].as_i64().unwrap();
            let score = json!({"value": 0.5 + 0.1 * layer as f64 + 0.03 * model as f64});
            expect_status(
                app.put_json(
                    &format!("/v1/representations/{representation}/scores/probe"),
                    &score,
                )
                .await,
                StatusCode::OK,
            )
            .await;
            layers.push(representation);
        }
        ids.push(id);
        representations.push(layers);
    }
    let definition = json!({"name": "ui-depth", "dataset": DATASET, "score": "probe",
        "protocol": {"kind": "all_pairs", "group_by": "layer"}, "metrics": ["cka", "procrustes"],
        "bootstrap": {"resamples": 200, "seed": 5}});
    let benchmark = expect_status(
        app.post_json("/v1/benchmarks", &definition).await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    wait_for_benchmark(app, benchmark).await;
    expect_status(
        app.client
            .post(app.url(&format!("/v1/benchmarks/{benchmark}/publish")))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    Study {
        models: ids,
        representations,
        benchmark,
    }
}

/// A browser stand-in: follows no redirect, sends its session cookie and its own origin.
pub struct Browser {
    pub client: Client,
    pub base_url: String,
    pub cookie: Option<String>,
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser {
            client: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base_url: app.base_url.clone(),
            cookie: None,
        }
    }

    pub fn host(&self) -> String {
        self.base_url.trim_start_matches("http://").to_owned()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.base_url));
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.unwrap()
    }

    /// Posts a form from `origin` (this service's own unless given).
    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> reqwest::Response {
        let own = self.base_url.clone();
        let mut request = self
            .client
            .post(format!("{}{path}", self.base_url))
            .header(HOST, self.host())
            .header(ORIGIN, origin.unwrap_or(&own))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(serde_urlencoded::to_string(form).unwrap());
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.unwrap()
    }

    /// Logs in with `token`; returns the `Set-Cookie` header the service answered with.
    pub async fn log_in(&mut self, token: &str) -> String {
        let response = self
            .post_form("/ui/login", &[("token", token), ("next", "/ui/jobs")], None)
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let set_cookie = response
            .headers()
            .get(SET_COOKIE)
            .expect("a session cookie")
            .to_str()
            .unwrap()
            .to_owned();
        self.cookie = Some(set_cookie.split(';').next().unwrap().to_owned());
        set_cookie
    }

    /// The CSRF token of the forms on `path`.
    pub async fn csrf(&self, path: &str) -> String {
        let page = self.get(path).await.text().await.unwrap();
        let marker = "name=\"csrf\" value=\"";
        let start = page.find(marker).expect("a form with a CSRF token") + marker.len();
        page[start..start + 64].to_owned()
    }
}
