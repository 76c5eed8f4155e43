//! `simbench bench-ui`: every dashboard page, requested many times over a real server on the
//! study of `bench-benchmark` — the server's time per page (the `Server-Timing` header the
//! dashboard sets), the client's round trip, and the size of the HTML with its SVG.

use std::time::Instant;

use anyhow::{Context, bail};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, ORIGIN, SET_COOKIE};
use serde::Serialize;
use serde_json::Value;

use super::bench_benchmark::{Latency, Study, StudyArgs, build_study};
use super::server_process::{ServerProcess, ServiceBenchArgs};
use crate::metrics::{Metric, MetricKind};

/// Every page's p99 server time must stay under this.
const PAGE_P99_TARGET_MS: f64 = 100.0;
/// The compare page's, with 12 x 12 layers and two metrics.
const COMPARE_P99_TARGET_MS: f64 = 50.0;
const PAGE_BYTES_TARGET: usize = 300_000;
/// The two metrics of the compare page: two of the study's trio, so every cell is computed.
const COMPARE_METRICS: [Metric; 2] = [
    Metric::of(MetricKind::Cka),
    Metric::of(MetricKind::Procrustes),
];

#[derive(Clone, Debug, clap::Args)]
pub struct BenchUiArgs {
    #[command(flatten)]
    pub service: ServiceBenchArgs,

    #[command(flatten)]
    pub study: StudyArgs,

    /// Timed requests of each page.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
}

#[derive(Debug, Serialize)]
struct Report {
    representations: usize,
    workers: usize,
    pages: Vec<PageFigures>,
}

#[derive(Debug, Serialize)]
struct PageFigures {
    page: &'static str,
    path: String,
    /// From the dashboard's `Server-Timing` header: routing, session, queries and rendering.
    server: Latency,
    /// From request to the last byte of the body, as the client sees it.
    round_trip: Latency,
    bytes: usize,
    p99_target_ms: f64,
    within_targets: bool,
}

pub async fn run(args: BenchUiArgs) -> anyhow::Result<()> {
    if args.requests == 0 {
        bail!("--requests must be at least 1");
    }
    let workers = args.service.worker_count();
    let server = ServerProcess::start_computing(&args.service).await?;
    let measured = measure(&server, &args).await;
    server.stop().await;
    let report = Report {
        representations: args.study.models * args.study.layers,
        workers,
        pages: measured?,
    };
    if args.service.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "dashboard pages on the bench-benchmark study ({} representations, {} workers), server time from Server-Timing:",
        report.representations, report.workers
    );
    for page in &report.pages {
        println!(
            "  {:<22} server p50 {:6.2} ms  p99 {:6.2} ms   round trip p50 {:6.2} ms  p99 {:6.2} ms   {:>7} bytes   {}",
            page.page,
            page.server.p50_ms,
            page.server.p99_ms,
            page.round_trip.p50_ms,
            page.round_trip.p99_ms,
            page.bytes,
            if page.within_targets {
                "ok"
            } else {
                "MISSES TARGET"
            }
        );
    }
    Ok(())
}

async fn measure(server: &ServerProcess, args: &BenchUiArgs) -> anyhow::Result<Vec<PageFigures>> {
    let study = build_study(server, &args.study).await?;
    let pages = pages(server, &study, args.study.layers).await?;
    let browser = Browser::log_in(server).await?;
    let mut figures = Vec::with_capacity(pages.len());
    for (page, path) in pages {
        figures.push(browser.time(page, path, args.requests).await?);
    }
    Ok(figures)
}

/// The pages to time, by name: each list, a benchmark with and without a chosen group, a model,
/// and the compare page between the model holding the benchmark's references (its pairs with
/// every layer of every other model are computed) and another model.
async fn pages(
    server: &ServerProcess,
    study: &Study,
    layers: usize,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    let id = study.benchmark;
    let results: Value = server
        .api
        .get_json(&format!("/v1/benchmarks/{id}/results"))
        .await?;
    let reference = results["metrics"][COMPARE_METRICS[0].name()]["groups"][0]["reference"]
        .as_i64()
        .context("the reference protocol names each group's reference")?;
    let (reference_model, _) = study
        .models
        .iter()
        .find(|(_, representations)| representations.contains(&reference))
        .context("the reference is one of the study's representations")?;
    let (other_model, _) = study
        .models
        .iter()
        .find(|(model, _)| model != reference_model)
        .context("the compare page needs two models")?;
    let compare_query = serde_urlencoded::to_string([
        ("dataset", study.dataset.clone()),
        ("a", reference_model.to_string()),
        ("b", other_model.to_string()),
        ("metric", COMPARE_METRICS[0].name()),
        ("metric", COMPARE_METRICS[1].name()),
    ])?;
    let last_group = layers.saturating_sub(1);
    Ok(vec![
        ("leaderboard", "/ui/leaderboard".to_owned()),
        ("benchmarks", "/ui/benchmarks".to_owned()),
        ("benchmark", format!("/ui/benchmarks/{id}")),
        (
            "benchmark ?group=",
            format!("/ui/benchmarks/{id}?group={last_group}"),
        ),
        ("compare 12x12 x 2", format!("/ui/compare?{compare_query}")),
        ("models", "/ui/models".to_owned()),
        ("model", format!("/ui/models/{reference_model}")),
        ("jobs", "/ui/jobs".to_owned()),
    ])
}

/// A logged-in browser: the session cookie `/ui/login` sets for the server's write token.
struct Browser {
    http: reqwest::Client,
    base_url: String,
    cookie: String,
}

impl Browser {
    async fn log_in(server: &ServerProcess) -> anyhow::Result<Browser> {
        // The session cookie comes with the redirect, so the redirect is not followed.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let base_url = server.api.base_url().to_owned();
        let response = http
            .post(server.api.url("/ui/login"))
            .header(ORIGIN, &base_url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string([("token", &server.token)])?)
            .send()
            .await
            .context("POST /ui/login")?;
        if response.status() != StatusCode::SEE_OTHER {
            bail!("POST /ui/login answered {}", response.status());
        }
        let cookie = response
            .headers()
            .get(SET_COOKIE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .context("POST /ui/login set no session cookie")?
            .to_owned();
        Ok(Browser {
            http,
            base_url,
            cookie,
        })
    }

    /// One untimed request (the page must answer 200, and the compare page be complete), then
    /// `requests` sequential timed ones.
    async fn time(
        &self,
        page: &'static str,
        path: String,
        requests: usize,
    ) -> anyhow::Result<PageFigures> {
        let (_, body) = self.get(&path).await?;
        if body.contains("class=\"cell missing\"") {
            bail!("{path}: some cells are not computed, so the page would not be drawn in full");
        }
        let mut server_millis = Vec::with_capacity(requests);
        let mut round_trip_millis = Vec::with_capacity(requests);
        let mut bytes = 0;
        for _ in 0..requests {
            let started = Instant::now();
            let (server_ms, body) = self.get(&path).await?;
            round_trip_millis.push(started.elapsed().as_secs_f64() * 1e3);
            server_millis.push(server_ms);
            bytes = bytes.max(body.len());
        }
        let server = Latency::of(server_millis);
        let p99_target_ms = if page.starts_with("compare") {
            COMPARE_P99_TARGET_MS
        } else {
            PAGE_P99_TARGET_MS
        };
        Ok(PageFigures {
            page,
            within_targets: server.p99_ms < p99_target_ms && bytes < PAGE_BYTES_TARGET,
            server,
            round_trip: Latency::of(round_trip_millis),
            path,
            bytes,
            p99_target_ms,
        })
    }

    /// `GET path`: the server's time for it in milliseconds, and the body.
    async fn get(&self, path: &str) -> anyhow::Result<(f64, String)> {
        let response = self
            .http
            .get(format!("{}{path}", self.base_url))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        if response.status() != StatusCode::OK {
            bail!("GET {path} answered {}", response.status());
        }
        let server_ms = response
            .headers()
            .get(crate::ui::SERVER_TIMING)
            .and_then(|value| value.to_str().ok())
            .and_then(crate::ui::server_timing_millis)
            .with_context(|| format!("GET {path}: no Server-Timing header"))?;
        let body = response
            .text()
            .await
            .with_context(|| format!("GET {path}: reading the page"))?;
        Ok((server_ms, body))
    }
}
