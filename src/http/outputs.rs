//! `/v1/models/{id}/outputs?dataset=NAME`: a model's logits on a dataset, which the functional
//! differences of docs/PROTOCOLS.md compare.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::extract::{Json, Path, Query};
use super::upload::{self, DatasetQuery, ModelUpload, NpyDownload, ReceivedUpload};
use super::{ApiContext, Routes};
use crate::http::error::ApiError;
use crate::matrix::MatrixInfo;
use crate::store::datasets;
use crate::store::outputs::{self, OutputsTarget, StoredOutputs};

/// Outputs are told apart from their metadata by `Accept`, not by path, so all three methods
/// share one path; that path is routed without the request timeout because uploads and
/// downloads stream.
pub(super) fn router() -> Routes {
    Routes::default()
        .streaming(Method::PUT, "/v1/models/{id}/outputs", put)
        .streaming(Method::GET, "/v1/models/{id}/outputs", get)
        .streaming(Method::DELETE, "/v1/models/{id}/outputs", delete)
}

/// A classifier has at least two classes; with one, every argmax agrees and every softmax is 1.
const MIN_CLASSES: usize = 2;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadParams {
    dataset: String,
    #[serde(default)]
    replace: bool,
}

impl DatasetQuery for UploadParams {
    fn dataset(&self) -> &str {
        &self.dataset
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatasetParam {
    dataset: String,
}

/// `PUT /v1/models/{id}/outputs?dataset=NAME`: the body is the n x C logits as a `.npy` file,
/// decoded and stored as a representation's matrix is; n must be the dataset's row count.
async fn put(
    State(ctx): State<ApiContext>,
    request: ModelUpload<UploadParams>,
) -> Result<Response, ApiError> {
    let (caller, model_id, params) = (request.caller, request.model_id, request.params);
    let dataset = request
        .dataset
        .ok_or_else(|| ApiError::not_found("dataset", &params.dataset))?;

    let ReceivedUpload {
        mut tx,
        held_off,
        blob_id,
        dataset_id,
    } = upload::receive_for_dataset(
        &ctx,
        request.body,
        None,
        &dataset.name,
        caller.token_name(),
        |info| check_logits_shape(&dataset.name, dataset.n_rows, info),
    )
    .await?;
    let target = OutputsTarget {
        model_id,
        dataset_id,
        created_by: caller.token_name().map(str::to_owned),
    };
    let stored =
        outputs::store_upload(&mut tx, &held_off, &target, blob_id, params.replace).await?;
    tx.commit().await?;

    let status = match stored {
        StoredOutputs::Created => StatusCode::CREATED,
        StoredOutputs::Unchanged | StoredOutputs::Replaced => StatusCode::OK,
    };
    let stored = outputs::get(&ctx.db, model_id, &dataset.name).await?;
    let location = format!(
        "/v1/models/{model_id}/outputs?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("dataset", &dataset.name)
            .finish()
    );
    Ok((status, [(header::LOCATION, location)], Json(stored)).into_response())
}

/// Logits are one row per example of the dataset and at least two classes.
fn check_logits_shape(
    dataset: &str,
    n_rows: Option<i64>,
    info: &MatrixInfo,
) -> Result<(), ApiError> {
    if info.cols < MIN_CLASSES {
        return Err(ApiError::unprocessable(
            "too_few_classes",
            format!(
                "the logits have {} column(s); outputs are one column per class, at least {MIN_CLASSES}",
                info.cols
            ),
        ));
    }
    Ok(datasets::check_row_count(dataset, n_rows, info.rows)?)
}

/// `GET`: the logits as a `.npy` file with exactly the stored values, or what is stored (shape,
/// dtype, content address) when `Accept` asks for JSON.
async fn get(
    State(ctx): State<ApiContext>,
    Path(model_id): Path<i64>,
    Query(params): Query<DatasetParam>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let stored = outputs::get(&ctx.db, model_id, &params.dataset).await?;
    if wants_json(&headers) {
        return Ok(Json(stored).into_response());
    }
    upload::npy_response(
        &ctx.db,
        NpyDownload {
            blob_id: stored.blob_id,
            dtype: &stored.dtype,
            n_rows: stored.n_rows,
            n_cols: stored.n_classes,
            byte_len: stored.byte_len,
            sha256: &stored.sha256,
            filename: &format!("outputs-{model_id}-{}.npy", stored.dataset_id),
        },
    )
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|accept| accept.to_ascii_lowercase().contains("application/json"))
}

async fn delete(
    State(ctx): State<ApiContext>,
    Path(model_id): Path<i64>,
    Query(params): Query<DatasetParam>,
) -> Result<StatusCode, ApiError> {
    outputs::delete(&ctx.db, model_id, &params.dataset).await?;
    Ok(StatusCode::NO_CONTENT)
}
