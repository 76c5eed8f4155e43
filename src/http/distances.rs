//! `/v1/distances`: computed distances, as rows or as a matrix for dashboards.

use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::csv_format::{self, FormatParam, Table, number};
use super::extract::{Json, Query};
use super::pagination::{ListResponse, page_request};
use super::{ApiContext, Routes, parse_metric, parse_metric_id};
use crate::http::error::ApiError;
use crate::metrics::{Metric, MetricId};
use crate::store::distances::{self, Distance};
use crate::store::external_metrics::{self, DistanceRow, MAX_DISTANCE_ROWS, PutOutcome};
use crate::store::jobs::distance_key;

/// Representations per matrix request.
const MAX_MATRIX_SIDE: usize = 1000;

pub(super) fn router() -> Routes {
    Routes::default()
        .route(Method::GET, "/v1/distances", list)
        .route(Method::GET, "/v1/distances/matrix", matrix)
        .route(Method::PUT, "/v1/distances", put)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    metric: Option<String>,
    rep: Option<i64>,
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list(
    State(ctx): State<ApiContext>,
    Query(params): Query<ListParams>,
) -> Result<Json<ListResponse<Distance>>, ApiError> {
    let metric = params.metric.as_deref().map(parse_metric_id).transpose()?;
    let page = page_request(params.limit, params.cursor.as_deref())?;
    Ok(Json(
        distances::list(&ctx.db, metric, params.rep, page)
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatrixParams {
    metric: String,
    /// Comma-separated ids: the rows and the columns, in this order.
    representations: String,
    format: Option<csv_format::Format>,
}

#[derive(Debug, Serialize)]
pub(crate) struct DistanceMatrix {
    pub metric: String,
    pub representations: Vec<i64>,
    /// values[i][j] = d(representations[i], representations[j]); null where not computed or
    /// refused. The diagonal is 0, as for every metric d(X, X) = 0.
    pub values: Vec<Vec<Option<f64>>>,
}

async fn matrix(
    State(ctx): State<ApiContext>,
    Query(params): Query<MatrixParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let metric = parse_metric(&params.metric)?;
    let ids = params
        .representations
        .split(',')
        .map(|id| {
            id.trim().parse::<i64>().map_err(|_| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("representations must be comma-separated ids, e.g. 1,2,3; got {id:?}"),
                )
            })
        })
        .collect::<Result<Vec<i64>, ApiError>>()?;
    if ids.len() > MAX_MATRIX_SIDE {
        return Err(ApiError::unprocessable(
            "too_many_representations",
            format!(
                "at most {MAX_MATRIX_SIDE} representations per matrix, got {}",
                ids.len()
            ),
        ));
    }
    let matrix = distance_matrix(&ctx, metric, ids).await?;
    let format = FormatParam {
        format: params.format,
    };
    csv_format::respond(&format, &headers, &matrix, matrix_csv)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutDistances {
    rows: Vec<PutRow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutRow {
    metric: String,
    a: i64,
    b: i64,
    value: f64,
}

/// `PUT /v1/distances`: distances of metrics clients compute, up to
/// [`MAX_DISTANCE_ROWS`] rows in one transaction (README, "Metrics computed by the client").
async fn put(
    State(ctx): State<ApiContext>,
    Json(request): Json<PutDistances>,
) -> Result<Json<PutOutcome>, ApiError> {
    if request.rows.len() > MAX_DISTANCE_ROWS {
        return Err(ApiError::unprocessable(
            "too_many_rows",
            format!(
                "at most {MAX_DISTANCE_ROWS} rows per request, got {}; send them in batches",
                request.rows.len()
            ),
        ));
    }
    let rows = request
        .rows
        .iter()
        .enumerate()
        .map(|(index, row)| external_row(index, row))
        .collect::<Result<Vec<DistanceRow>, ApiError>>()?;
    Ok(Json(external_metrics::put_distances(&ctx.db, &rows).await?))
}

/// One row checked on its own: an external metric, two different representations, a finite
/// value >= 0.
fn external_row(index: usize, row: &PutRow) -> Result<DistanceRow, ApiError> {
    let metric = match row.metric.parse::<MetricId>() {
        Ok(MetricId::External(name)) => name,
        Ok(MetricId::BuiltIn(metric)) => {
            return Err(ApiError::unprocessable(
                "built_in_metric",
                format!(
                    "row {index}: {metric} is a built-in metric, computed by the service's workers; only external metrics (ext:NAME) take distances from clients"
                ),
            ));
        }
        Err(error) => {
            return Err(ApiError::unprocessable(
                "unknown_metric",
                format!("row {index}: {error}"),
            ));
        }
    };
    if row.a == row.b {
        return Err(ApiError::unprocessable(
            "invalid_distance",
            format!(
                "row {index}: a and b are both {}; d(X, X) = 0 is never stored",
                row.a
            ),
        ));
    }
    if !row.value.is_finite() || row.value < 0.0 {
        return Err(ApiError::unprocessable(
            "invalid_distance",
            format!(
                "row {index}: the distance must be a finite number >= 0, got {}",
                row.value
            ),
        ));
    }
    Ok(DistanceRow {
        metric,
        a: row.a,
        b: row.b,
        value: row.value + 0.0,
    })
}

/// The matrix of stored distances of `metric` among `ids`, rows and columns in that order.
pub(crate) async fn distance_matrix(
    ctx: &ApiContext,
    metric: Metric,
    ids: Vec<i64>,
) -> Result<DistanceMatrix, ApiError> {
    let stored = distances::among(&ctx.db, &[MetricId::BuiltIn(metric)], &ids).await?;
    let values = ids
        .iter()
        .map(|&row| {
            ids.iter()
                .map(|&column| {
                    if row == column {
                        return Some(0.0);
                    }
                    let (a, b) = distance_key(metric, row, column);
                    stored
                        .get(&(MetricId::BuiltIn(metric), a, b))
                        .and_then(|outcome| outcome.clone().ok())
                })
                .collect()
        })
        .collect();
    Ok(DistanceMatrix {
        metric: metric.name().to_owned(),
        representations: ids,
        values,
    })
}

/// One record per cell of the matrix; an empty distance is not computed or refused.
pub(crate) fn matrix_csv(matrix: &DistanceMatrix) -> Result<String, ApiError> {
    let mut table = Table::new(&["metric", "rep_a", "rep_b", "distance"])?;
    for (row, values) in matrix.representations.iter().zip(&matrix.values) {
        for (column, value) in matrix.representations.iter().zip(values) {
            table.record(&[
                matrix.metric.clone(),
                row.to_string(),
                column.to_string(),
                number(*value),
            ])?;
        }
    }
    table.finish()
}
