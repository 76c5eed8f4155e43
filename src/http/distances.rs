//! `/v1/distances`: computed distances, as rows or as a matrix for dashboards.

use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::csv_format::{self, FormatParam, Table, number};
use super::extract::{Json, Query};
use super::pagination::{ListResponse, page_request};
use super::{ApiContext, Routes, parse_metric};
use crate::http::error::ApiError;
use crate::metrics::Metric;
use crate::store::distances::{self, Distance};
use crate::store::jobs::distance_key;

/// Representations per matrix request.
const MAX_MATRIX_SIDE: usize = 1000;

pub(super) fn router() -> Routes {
    Routes::default()
        .route(Method::GET, "/v1/distances", list)
        .route(Method::GET, "/v1/distances/matrix", matrix)
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
    let metric = params.metric.as_deref().map(parse_metric).transpose()?;
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

/// The matrix of stored distances of `metric` among `ids`, rows and columns in that order.
pub(crate) async fn distance_matrix(
    ctx: &ApiContext,
    metric: Metric,
    ids: Vec<i64>,
) -> Result<DistanceMatrix, ApiError> {
    let stored = distances::among(&ctx.db, &[metric], &ids).await?;
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
                        .get(&(metric, a, b))
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
