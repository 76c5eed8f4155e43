//! The calls of the simbench HTTP API that the demo, `simbench upload`, the service benchmarks
//! and the tests make. Requests and answers use the handlers' and the store's own types (re-exported
//! here), so client and server cannot drift apart. Answers are untrusted: a failed call reports
//! the service's problem+json `detail`, and a body that does not parse is an error, never a panic.

use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use crate::benchmark::leaderboard::{Cell, Column, Leaderboard, Row};
pub use crate::http::datasets::NewDataset;
pub use crate::http::models::NewModel;
pub use crate::http::pagination::ListResponse;
pub use crate::http::representations::{DeriveRequest, UploadParams};
pub use crate::http::scores::{ScoreBatch, ScoreItem};
pub use crate::store::ScoreTarget;
pub use crate::store::benchmarks::{Benchmark, Progress};
pub use crate::store::datasets::Dataset;
pub use crate::store::models::Model;
pub use crate::store::outputs::ModelOutputs;
pub use crate::store::representations::Representation;
use crate::transform::PcaKeep;

/// How often a rate-limited request (429) is tried again before the client gives up.
const RATE_LIMIT_RETRIES: usize = 20;
/// The wait after a 429 that carries no usable Retry-After.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The caller's bearer token, from SIMBENCH_TOKEN: commands read it there rather than from a flag,
/// so that it stays out of process lists.
pub fn token_from_environment() -> Option<String> {
    std::env::var("SIMBENCH_TOKEN")
        .ok()
        .filter(|token| !token.trim().is_empty())
}

/// A derived principal-component copy of a representation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcaCopy {
    pub id: i64,
    pub pca_keep: usize,
}

/// The service at one base URL, with the caller's bearer token when there is one.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
}

impl Client {
    pub fn new(base_url: &str, token: Option<&str>) -> anyhow::Result<Client> {
        let mut headers = HeaderMap::new();
        if let Some(token) = token {
            let mut bearer = HeaderValue::from_str(&format!("Bearer {token}"))
                .context("SIMBENCH_TOKEN holds characters a header cannot carry")?;
            bearer.set_sensitive(true);
            headers.insert(AUTHORIZATION, bearer);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .context("building the HTTP client")?;
        Ok(Client {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The underlying HTTP client, with the token, for requests the typed calls do not cover
    /// (a streamed body).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `GET path`, its JSON answer.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.send_json(&format!("GET {path}"), || self.http.get(self.url(path)))
            .await
    }

    /// `POST path` with a JSON body, its JSON answer.
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<T> {
        self.send_json(&format!("POST {path}"), || {
            self.http.post(self.url(path)).json(body)
        })
        .await
    }

    /// Fails with a hint when nothing answers at the URL or the service is not ready.
    pub async fn check_ready(&self) -> anyhow::Result<()> {
        let response = self
            .http
            .get(self.url("/readyz"))
            .send()
            .await
            .with_context(|| {
                format!(
                    "nothing answers at {}: start the service first (`make run`, or `simbench serve`) or pass --url",
                    self.base_url
                )
            })?;
        if !response.status().is_success() {
            bail!(
                "the service at {} is not ready: {}",
                self.base_url,
                problem_text(response).await
            );
        }
        Ok(())
    }

    pub async fn create_dataset(&self, new: &NewDataset) -> anyhow::Result<Dataset> {
        self.post_json("/v1/datasets", new).await
    }

    pub async fn create_model(&self, new: &NewModel) -> anyhow::Result<Model> {
        self.post_json("/v1/models", new).await
    }

    /// The path (with its query) that uploads a representation of `model` as `params` says.
    pub fn upload_path(model: i64, params: &UploadParams) -> anyhow::Result<String> {
        let query = serde_urlencoded::to_string(params).context("encoding the upload's query")?;
        Ok(format!("/v1/models/{model}/representations?{query}"))
    }

    /// Uploads a `.npy` body as (model, dataset, layer); returns the stored representation.
    pub async fn upload(
        &self,
        model: i64,
        dataset: &str,
        layer: usize,
        npy: Vec<u8>,
    ) -> anyhow::Result<Representation> {
        let params = UploadParams {
            dataset: dataset.to_owned(),
            layer: i32::try_from(layer).context("a layer number fits in 32 bits")?,
            ..UploadParams::default()
        };
        let path = Client::upload_path(model, &params)?;
        let npy = bytes::Bytes::from(npy);
        self.send_json("POST /v1/models/{id}/representations", || {
            self.http
                .post(self.url(&path))
                .header("content-type", "application/x-npy")
                .body(npy.clone())
        })
        .await
    }

    /// Stores a model's logits on a dataset (`.npy`), replacing any it had.
    pub async fn put_outputs(
        &self,
        model: i64,
        dataset: &str,
        npy: Vec<u8>,
    ) -> anyhow::Result<ModelOutputs> {
        let query = serde_urlencoded::to_string([("dataset", dataset), ("replace", "true")])
            .context("encoding the outputs query")?;
        let path = format!("/v1/models/{model}/outputs?{query}");
        let npy = bytes::Bytes::from(npy);
        self.send_json("PUT /v1/models/{id}/outputs", || {
            self.http
                .put(self.url(&path))
                .header("content-type", "application/x-npy")
                .body(npy.clone())
        })
        .await
    }

    /// Asks the service for copies of a representation keeping its top-k principal components.
    pub async fn derive_pca_copies(
        &self,
        representation: i64,
        pca_keep: &[usize],
    ) -> anyhow::Result<Vec<PcaCopy>> {
        let body = DeriveRequest {
            pca_keep: pca_keep.to_vec(),
        };
        let path = format!("/v1/representations/{representation}/derived");
        let list: ListResponse<Representation> = self
            .send_json("POST /v1/representations/{id}/derived", || {
                self.http.post(self.url(&path)).json(&body)
            })
            .await?;
        list.items
            .into_iter()
            .map(|item| {
                let transform = item
                    .transform
                    .and_then(|transform| serde_json::from_value::<PcaKeep>(transform).ok());
                match transform {
                    Some(transform) => Ok(PcaCopy {
                        id: item.id,
                        pca_keep: transform.pca_keep,
                    }),
                    None => bail!(
                        "the service listed representation {} as a copy of {representation} without its transform",
                        item.id
                    ),
                }
            })
            .collect()
    }

    /// Sets scores in batches (the service takes up to 10 000 per request, all or none).
    pub async fn set_scores(&self, scores: &[ScoreItem]) -> anyhow::Result<()> {
        for batch in scores.chunks(5_000) {
            let body = ScoreBatch {
                scores: batch.to_vec(),
            };
            let _: ListResponse<Value> = self.post_json("/v1/scores", &body).await?;
        }
        Ok(())
    }

    pub async fn create_benchmark(&self, definition: &Value) -> anyhow::Result<Benchmark> {
        self.post_json("/v1/benchmarks", definition).await
    }

    pub async fn benchmark(&self, id: i64) -> anyhow::Result<Benchmark> {
        let path = format!("/v1/benchmarks/{id}");
        self.send_json("GET /v1/benchmarks/{id}", || self.http.get(self.url(&path)))
            .await
    }

    pub async fn publish(&self, id: i64) -> anyhow::Result<Benchmark> {
        let path = format!("/v1/benchmarks/{id}/publish");
        self.send_json("POST /v1/benchmarks/{id}/publish", || {
            self.http.post(self.url(&path))
        })
        .await
    }

    pub async fn leaderboard(&self) -> anyhow::Result<Leaderboard> {
        self.send_json("GET /v1/leaderboard", || {
            self.http.get(self.url("/v1/leaderboard"))
        })
        .await
    }

    /// Sends the request `build` makes, again after a 429 as long as the service asks to wait,
    /// and parses a successful answer's JSON body; a failure names the call and quotes the
    /// service's `detail`.
    pub async fn send_json<T: DeserializeOwned>(
        &self,
        call: &str,
        build: impl Fn() -> RequestBuilder,
    ) -> anyhow::Result<T> {
        for _ in 0..RATE_LIMIT_RETRIES {
            let response = build().send().await.with_context(|| {
                format!("{call}: no answer from the service at {}", self.base_url)
            })?;
            let status = response.status();
            if status == StatusCode::TOO_MANY_REQUESTS {
                tokio::time::sleep(retry_after(&response)).await;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                bail!(
                    "{call} failed: {}. Set SIMBENCH_TOKEN to a write token: the first start of `simbench serve` wrote an admin token to ~/.local/share/simbench/admin-token.DATABASE (admin-token.simbench for `make run`), and `simbench token create --name NAME --scope write` makes more",
                    problem_text(response).await
                );
            }
            if !status.is_success() {
                bail!("{call} failed: {}", problem_text(response).await);
            }
            let body = response
                .bytes()
                .await
                .with_context(|| format!("{call}: reading the answer"))?;
            return serde_json::from_slice(&body).with_context(|| {
                format!(
                    "{call}: the service answered {status} with a body simbench cannot read: {}",
                    String::from_utf8_lossy(&body[..body.len().min(500)])
                )
            });
        }
        bail!("{call}: the service kept answering 429 Too Many Requests; try again later")
    }
}

/// The wait a 429 asks for (Retry-After in seconds), bounded so that a strange value cannot
/// stall the caller.
fn retry_after(response: &Response) -> Duration {
    response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map_or(DEFAULT_RETRY_AFTER, |seconds| {
            Duration::from_secs(seconds.clamp(1, 30))
        })
}

/// "STATUS: detail (code)" from a problem+json answer, or the status and the start of whatever
/// else the body holds.
async fn problem_text(response: Response) -> String {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    describe_problem(status, &body)
}

fn describe_problem(status: StatusCode, body: &str) -> String {
    let problem: Option<Value> = serde_json::from_str(body).ok();
    let field = |name: &str| {
        problem
            .as_ref()
            .and_then(|problem| problem.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match (field("detail"), field("code")) {
        (Some(detail), Some(code)) => format!("{status}: {detail} ({code})"),
        (Some(detail), None) => format!("{status}: {detail}"),
        _ if body.trim().is_empty() => status.to_string(),
        _ => {
            let excerpt: String = body.chars().take(300).collect();
            format!("{status}: {excerpt}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_reported_by_their_detail() {
        let body = r#"{"type":"about:blank","title":"Unprocessable Entity","status":422,
                       "code":"unknown_score","detail":"no selected representation has a score named \"x\""}"#;
        assert_eq!(
            describe_problem(StatusCode::UNPROCESSABLE_ENTITY, body),
            "422 Unprocessable Entity: no selected representation has a score named \"x\" (unknown_score)"
        );
        assert_eq!(
            describe_problem(StatusCode::BAD_GATEWAY, "<html>bad gateway</html>"),
            "502 Bad Gateway: <html>bad gateway</html>"
        );
        assert_eq!(
            describe_problem(StatusCode::SERVICE_UNAVAILABLE, ""),
            "503 Service Unavailable"
        );
    }
}
