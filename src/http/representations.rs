//! Representations: matrix uploads, listing, download and deletion.

use std::time::Duration;

use axum::body::{Body, BodyDataStream};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::Caller;
use super::extract::{Json, Path, Query};
use super::pagination::{ListResponse, page_request};
use super::{ApiContext, Routes, validate};
use crate::http::error::ApiError;
use crate::matrix::{Decoded, Dtype, MatrixInfo, npy_header, spawn_decoder};
use crate::store::blobs::{self, BlobWriter};
use crate::store::representations::{
    self, Representation, RepresentationFilter, Stored, UploadTarget,
};
use crate::store::{datasets, models};
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
    caller: Caller,
    Path(model_id): Path<i64>,
    Query(params): Query<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    check_upload_content_type(&headers)?;
    let limit = ctx.config.max_upload_bytes;
    if content_length(&headers).is_some_and(|length| length > limit) {
        return Err(ApiError::UploadTooLarge { limit });
    }
    validate::name("dataset", &params.dataset)?;
    if let Some(layer_name) = &params.layer_name {
        validate::name("layer", layer_name)?;
    }
    if !models::exists(&ctx.db, model_id).await? {
        return Err(ApiError::not_found("model", model_id));
    }
    let expected_rows = datasets::find_by_name(&ctx.db, &params.dataset)
        .await?
        .and_then(|dataset| dataset.n_rows);

    let idle = Duration::from_secs(ctx.config.request_timeout_secs);
    let mut body = BodyReader {
        stream: body.into_data_stream(),
        received: 0,
        limit,
        idle,
    };
    let mut writer = BlobWriter::begin(&ctx.db).await?;
    let ingested = ingest(
        &mut body,
        params.tensor.clone(),
        &mut writer,
        &params.dataset,
        expected_rows,
    )
    .await;
    let (info, sha256) = match ingested {
        Ok(decoded) => decoded,
        Err(error) => {
            // Read what the client is still sending, so that it hears the reason rather than a
            // reset connection; an over-limit body is not worth waiting for.
            if !matches!(error, ApiError::UploadTooLarge { .. }) {
                body.drain().await;
            }
            return Err(error);
        }
    };

    let written = writer.finish(sha256).await?;
    let mut tx = written.tx;
    let dataset_id = datasets::lock_for_upload(
        &mut tx,
        &params.dataset,
        info.rows as i64,
        caller.token_name(),
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
        representations::store_upload(&mut tx, &target, written.id, params.replace).await?;
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

/// Decodes the body into the blob writer; returns the matrix's shape and content address once
/// all of it is stored. Reading the body and storing chunks proceed side by side, each waiting
/// for the decoding thread when it is behind.
async fn ingest(
    body: &mut BodyReader,
    tensor: Option<String>,
    writer: &mut BlobWriter,
    dataset: &str,
    expected_rows: Option<i64>,
) -> Result<(MatrixInfo, [u8; 32]), ApiError> {
    let (feed, mut output) = spawn_decoder(tensor);
    // Each side owns its end of the thread, so whichever stops first stops the thread and, through
    // it, the other side.
    let read = async move {
        while let Some(frame) = body.next_frame().await? {
            if feed.push(frame).await.is_err() {
                return Ok(());
            }
        }
        // A refusal that comes instead of the verdict is read from the output.
        let _ = feed.end().await;
        Ok(())
    };
    let store = async move {
        while let Some(report) = output.next().await {
            match report? {
                Decoded::Header(info) => {
                    if let Some(expected) = expected_rows
                        && expected != info.rows as i64
                    {
                        return Err(datasets::row_count_mismatch(
                            dataset,
                            expected,
                            info.rows as i64,
                        )
                        .into());
                    }
                    writer.start(info).await?;
                }
                Decoded::Chunk(chunk) => writer.write(chunk).await?,
                Decoded::Finished { info, sha256 } => return Ok(Some((info, sha256))),
            }
        }
        Ok(None)
    };
    let (read, stored) = tokio::join!(read, store);
    match (read, stored) {
        (_, Ok(Some(decoded))) => Ok(decoded),
        // The decoder saw only what was read before the body failed, so its refusal comes first.
        (_, Err(error)) | (Err(error), Ok(None)) => Err(error),
        (Ok(()), Ok(None)) => Err(ApiError::Internal(
            "the matrix decoder ended without a verdict".into(),
        )),
    }
}

/// A request body read frame by frame, within a size limit and an idle timeout.
struct BodyReader {
    stream: BodyDataStream,
    received: u64,
    limit: u64,
    idle: Duration,
}

impl BodyReader {
    async fn next_frame(&mut self) -> Result<Option<Bytes>, ApiError> {
        let frame = tokio::time::timeout(self.idle, self.stream.next())
            .await
            .map_err(|_| {
                ApiError::bad_request(
                    "upload_stalled",
                    format!(
                        "no data arrived for {} seconds; the upload was abandoned",
                        self.idle.as_secs()
                    ),
                )
            })?;
        match frame {
            None => Ok(None),
            Some(Ok(bytes)) => {
                self.received += bytes.len() as u64;
                if self.received > self.limit {
                    return Err(ApiError::UploadTooLarge { limit: self.limit });
                }
                Ok(Some(bytes))
            }
            Some(Err(error)) => Err(ApiError::bad_request(
                "body_read_failed",
                format!("the request body could not be read: {error}"),
            )),
        }
    }

    /// Discards the rest of the body, up to the size limit.
    async fn drain(&mut self) {
        while let Ok(Some(_)) = self.next_frame().await {}
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The format is recognised by its magic bytes; a content type naming something else is a
/// client mistake worth pointing out (curl's `-d` sends form data and strips newlines).
fn check_upload_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = content_type
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/octet-stream" | "application/x-npy" | "application/x-safetensors" => Ok(()),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "content type {other:?} is not a matrix: send the bytes of a .npy or .safetensors file as the body with Content-Type application/octet-stream (curl --data-binary @x.npy)"
        ))),
    }
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
    let dtype = Dtype::from_name(&representation.dtype).ok_or_else(|| {
        ApiError::Internal(format!(
            "representation {id} has unknown dtype {}",
            representation.dtype
        ))
    })?;
    let header_bytes = npy_header(
        dtype,
        representation.n_rows as usize,
        representation.n_cols as usize,
    );
    let length = header_bytes.len() as u64 + representation.byte_len as u64;
    let db = ctx.db.clone();
    let blob_id = representation.blob_id;
    let chunks = stream::unfold(Some(0), move |next| {
        let db = db.clone();
        async move {
            let seq = next?;
            match blobs::read_chunk(&db, blob_id, seq).await {
                Ok(Some(chunk)) => Some((Ok(Bytes::from(chunk)), Some(seq + 1))),
                Ok(None) => None,
                Err(error) => Some((Err(std::io::Error::other(error.to_string())), None)),
            }
        }
    });
    let body = stream::once(async move { Ok(Bytes::from(header_bytes)) }).chain(chunks);
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-npy"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    let disposition = format!("attachment; filename=\"representation-{id}.npy\"");
    let etag = format!("\"{}\"", representation.sha256);
    for (name, value) in [
        (header::CONTENT_DISPOSITION, disposition),
        (header::ETAG, etag),
    ] {
        headers.insert(
            name,
            HeaderValue::from_str(&value).map_err(|error| ApiError::Internal(error.to_string()))?,
        );
    }
    Ok((headers, Body::from_stream(body)).into_response())
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
            representations::insert_derived(
                &mut tx,
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
