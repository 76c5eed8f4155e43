//! `/ui/jobs`: the queue by status, and the failed jobs with their error and a retry button.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use maud::html;

use super::data;
use super::error::{UiError, parse_id};
use super::layout::{Page, Section};
use super::query_value;
use super::session::{self, Viewer};
use crate::http::ApiContext;
use crate::store::status::JobStatus;

pub(super) async fn page(
    State(ctx): State<ApiContext>,
    viewer: Viewer,
) -> Result<Response, UiError> {
    let counts = data::job_counts(&ctx).await?;
    let failed = data::failed_jobs(&ctx).await?;
    let count_of = |status: JobStatus| {
        counts
            .iter()
            .find(|(counted, _)| *counted == status)
            .map_or(0, |(_, count)| *count)
    };
    let busy = JobStatus::ALL
        .iter()
        .any(|&status| status.is_pending() && count_of(status) > 0);
    let content = html! {
        h1 { "Jobs" }
        p.lead { "Comparison jobs: each computes one pair of representations under some metrics. Failed jobs keep their last error." }
        div.counts {
            @for &status in JobStatus::ALL {
                div.count data-status=(status.name()) data-value=(count_of(status)) {
                    strong { (count_of(status)) } (status.name())
                }
            }
        }
        h2 { "Failed jobs" }
        @if failed.is_empty() {
            p { "None." }
        } @else {
            table.failed {
                thead { tr { th { "job" } th { "pair" } th { "metrics" } th { "attempts" } th { "error" } th { "finished" }
                    @if viewer.can_write() { th {} } } }
                tbody {
                    @for job in &failed {
                        tr data-job=(job.id) {
                            td.num { (job.id) }
                            td { (job.rep_a.map_or("—".into(), |id| id.to_string())) " × " (job.rep_b.map_or("—".into(), |id| id.to_string())) }
                            td { (job.metrics.join(", ")) }
                            td.num { (job.attempts) }
                            td.error-text { (job.last_error.as_deref().unwrap_or("")) }
                            td { (job.finished_at.map_or_else(String::new, |at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string())) }
                            @if let (true, Some(csrf)) = (viewer.can_write(), viewer.csrf_token()) {
                                td {
                                    form method="post" action={ "/ui/jobs/" (job.id) "/retry" } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button.retry type="submit" { "Retry" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(Page::new("Jobs", Section::Jobs, content)
        .refreshing(busy.then_some(5))
        .respond(viewer.session()))
}

/// `POST /ui/jobs/{id}/retry`: queues a failed job again, as `POST /v1/jobs/{id}/retry` does.
pub(super) async fn retry(
    State(ctx): State<ApiContext>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, UiError> {
    let form: Vec<(String, String)> = session::parse_form(&body)?;
    let token_name = session::authorize_write(&viewer, query_value(&form, "csrf"))?;
    let id = parse_id(&id)?;
    let outcome = data::retry_job(&ctx, id).await;
    let status = match &outcome {
        Ok(_) => StatusCode::SEE_OTHER,
        Err(error) => error.status(),
    };
    let path = format!("/ui/jobs/{id}/retry");
    session::audit(&ctx, token_name, "/ui/jobs/{id}/retry", &path, status).await;
    outcome?;
    Ok(Redirect::to("/ui/jobs").into_response())
}
