//! Representations: matrix uploads, listing, download and deletion.

use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::Caller;
use super::extract::{Json, Path, Query};
use super::pagination::{ListResponse, page_request};
use super::upload::{
    DatasetQuery, ModelUpload, NpyDownload, ReceivedUpload, npy_response, receive_for_dataset,
};
use super::{ApiContext, Routes, validate};
use crate::http::error::ApiError;
use crate::store::datasets;
use crate::store::representations::{
    self, Representation, RepresentationFilter, Stored, UploadTarget,
};
use crate::store::{benchmarks, blobs};
use crate::transform::{PcaKeep, TransformError, pca_keep_addressed};

pub(super) fn router() -> Routes {
    Routes::default()
        .streaming(Method::POST, "/v1/models/{id}/representations", upload)
        .route(Method::GET, "/v1/representations", list)
        .route(Method::GET, "/v1/representations/{id}", get)
        .route(Method::DELETE, "/v1/representations/{id}", delete)
        .streaming(Method::GET, "/v1/representations/{id}/data", data)
        .route(Method::POST, "/v1/representations/{id}/derived", derive)
}

/// The query of `POST /v1/models/{id}/representations`; what is unset stays out of the query.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadParams {
    pub dataset: String,
    pub layer: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer_name: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replace: bool,
    /// Which tensor of a safetensors file holding several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tensor: Option<String>,
}

impl DatasetQuery for UploadParams {
    fn dataset(&self) -> &str {
        &self.dataset
    }
}

#[derive(Debug, Serialize)]
struct UploadResponse {
    #[serde(flatten)]
    representation: Representation,
    /// The representation this upload replaced (`replace=true`), deleted with everything
    /// computed from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    replaced: Option<i64>,
}

/// `POST /v1/models/{id}/representations?dataset=..&layer=..`: the body is a `.npy` or
/// safetensors file, decoded on a blocking thread and streamed into the database chunk by chunk
/// as it arrives.
async fn upload(
    State(ctx): State<ApiContext>,
    ModelUpload {
        caller,
        model_id,
        params,
        dataset,
        body,
    }: ModelUpload<UploadParams>,
) -> Result<Response, ApiError> {
    let expected_rows = dataset.and_then(|dataset| dataset.n_rows);
    if let Some(layer_name) = &params.layer_name {
        validate::name("layer", layer_name)?;
    }

    let ReceivedUpload {
        mut tx,
        held_off,
        blob_id,
        dataset_id,
    } = receive_for_dataset(
        &ctx,
        body,
        params.tensor.clone(),
        &params.dataset,
        caller.token_name(),
        |info| {
            datasets::check_row_count(&params.dataset, expected_rows, info.rows)
                .map_err(ApiError::from)
        },
    )
    .await?;
    let target = UploadTarget {
        model_id,
        dataset_id,
        layer: params.layer,
        layer_name: params.layer_name,
        created_by: caller.token_name().map(str::to_owned),
    };
    let stored =
        representations::store_upload(&mut tx, &held_off, &target, blob_id, params.replace).await?;
    tx.commit().await?;

    let (status, id, replaced) = match stored {
        Stored::Created(id) => (StatusCode::CREATED, id, None),
        Stored::Unchanged(id) => (StatusCode::OK, id, None),
        Stored::Replaced { id, previous } => (StatusCode::CREATED, id, Some(previous)),
    };
    let representation = representations::get(&ctx.db, id).await?;
    let location = format!("/v1/representations/{id}");
    let response = UploadResponse {
        representation,
        replaced,
    };
    Ok((status, [(header::LOCATION, location)], Json(response)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    dataset: Option<String>,
    model: Option<i64>,
    layer: Option<i32>,
    derived: Option<bool>,
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list(
    State(ctx): State<ApiContext>,
    Query(params): Query<ListParams>,
) -> Result<Json<ListResponse<Representation>>, ApiError> {
    let page = page_request(params.limit, params.cursor.as_deref())?;
    let filter = RepresentationFilter {
        dataset: params.dataset,
        model_id: params.model,
        layer: params.layer,
        derived: params.derived,
    };
    Ok(Json(
        representations::list(&ctx.db, &filter, page).await?.into(),
    ))
}

async fn get(
    State(ctx): State<ApiContext>,
    Path(id): Path<i64>,
) -> Result<Json<Representation>, ApiError> {
    Ok(Json(representations::get(&ctx.db, id).await?))
}

async fn delete(
    State(ctx): State<ApiContext>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    representations::delete(&ctx.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/representations/{id}/data`: the stored matrix as a `.npy` file, streamed chunk by
/// chunk, with exactly the stored values.
async fn data(State(ctx): State<ApiContext>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let representation = representations::get(&ctx.db, id).await?;
    npy_response(
        &ctx.db,
        NpyDownload {
            blob_id: representation.blob_id,
            dtype: &representation.dtype,
            n_rows: representation.n_rows,
            n_cols: representation.n_cols,
            byte_len: representation.byte_len,
            sha256: &representation.sha256,
            filename: &format!("representation-{id}.npy"),
        },
    )
}

/// The body of `POST /v1/representations/{id}/derived`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeriveRequest {
    pub pca_keep: Vec<usize>,
}

/// `POST /v1/representations/{id}/derived`: copies keeping the top-k principal components, as
/// derived representations of the same model, dataset and layer (`transform: {"pca_keep": k}`).
/// Copies that exist already are returned as they are.
async fn derive(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(request): Json<DeriveRequest>,
) -> Result<Response, ApiError> {
    let parent = representations::get(&ctx.db, id).await?;
    if let Some(root) = parent.parent_id {
        return Err(ApiError::unprocessable(
            "derived_parent",
            format!(
                "representation {id} is itself a derived copy; derive from representation {root}"
            ),
        ));
    }
    let d = parent.n_cols as usize;
    if request.pca_keep.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_k",
            "pca_keep lists no k; give e.g. [256, 64, 16]",
        ));
    }
    if let Some(k) = request.pca_keep.iter().find(|&&k| k == 0 || k > d) {
        return Err(ApiError::unprocessable(
            "invalid_k",
            TransformError::KOutOfRange { k: *k, d }.to_string(),
        ));
    }
    let mut ks = request.pca_keep.clone();
    ks.sort_unstable();
    ks.dedup();
    let transform_of = |pca_keep: usize| json!(PcaKeep { pca_keep });
    let transforms: Vec<Value> = ks.iter().map(|&k| transform_of(k)).collect();
    let existing = representations::find_derived(&ctx.db, id, &transforms).await?;
    let missing: Vec<usize> = ks
        .iter()
        .copied()
        .filter(|&k| {
            !existing
                .iter()
                .any(|copy| copy.transform.as_ref() == Some(&transform_of(k)))
        })
        .collect();
    if !missing.is_empty() {
        let matrix = blobs::read(&ctx.db, parent.blob_id).await?;
        let wanted = missing.clone();
        let copies = tokio::task::spawn_blocking(move || pca_keep_addressed(&matrix, &wanted))
            .await
            .map_err(|error| ApiError::Internal(format!("principal components: {error}")))?
            .map_err(|error| ApiError::Internal(format!("principal components: {error}")))?;
        for (k, (copy, sha256)) in missing.iter().zip(copies) {
            let written = blobs::write(&ctx.db, &copy, sha256).await?;
            let mut tx = written.tx;
            let held_off = benchmarks::hold_off_planning(&mut tx).await?;
            representations::insert_derived(
                &mut tx,
                &held_off,
                &parent,
                &transform_of(*k),
                written.id,
                caller.token_name(),
            )
            .await?;
            tx.commit().await?;
        }
    }
    let copies = representations::find_derived(&ctx.db, id, &transforms).await?;
    let mut items = Vec::with_capacity(request.pca_keep.len());
    for k in &request.pca_keep {
        if let Some(copy) = copies
            .iter()
            .find(|copy| copy.transform.as_ref() == Some(&transform_of(*k)))
        {
            items.push(copy.clone());
        }
    }
    let status = if missing.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(ListResponse {
            items,
            next_cursor: None,
        }),
    )
        .into_response())
}
