//! Matrix bodies in and out: uploads decoded on a blocking thread and streamed into a blob chunk
//! by chunk as they arrive, and blobs streamed back as `.npy` files.

use std::time::Duration;

use axum::body::{Body, BodyDataStream};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{StreamExt, stream};
use serde::de::DeserializeOwned;
use sqlx::{PgPool, Postgres, Transaction};

use super::auth::Caller;
use super::extract::{Path, Query};
use super::{ApiContext, validate};
use crate::http::error::ApiError;
use crate::matrix::{Decoded, Dtype, MatrixInfo, npy_header, spawn_decoder};
use crate::store::benchmarks::{self, PlanningHeldOff};
use crate::store::blobs::{self, BlobWriter, WrittenBlob};
use crate::store::datasets::{self, Dataset};
use crate::store::models;

/// Refuses, before any of the body is read, what the headers already show to be wrong.
pub(super) fn check_upload_headers(ctx: &ApiContext, headers: &HeaderMap) -> Result<(), ApiError> {
    check_upload_content_type(headers)?;
    let limit = ctx.config.max_upload_bytes;
    if content_length(headers).is_some_and(|length| length > limit) {
        return Err(ApiError::UploadTooLarge { limit });
    }
    Ok(())
}

/// The query of an upload for a model on a dataset.
pub(super) trait DatasetQuery {
    fn dataset(&self) -> &str;
}

/// An upload for a model on a dataset, checked as far as it can be before its body is read:
/// the headers, the dataset's name and that the model exists. `dataset` is the dataset as it
/// is, `None` when the upload is to create it.
pub(super) struct ModelUpload<P> {
    pub caller: Caller,
    pub model_id: i64,
    pub params: P,
    pub dataset: Option<Dataset>,
    pub body: Body,
}

impl<P: DatasetQuery + DeserializeOwned + Send> FromRequest<ApiContext> for ModelUpload<P> {
    type Rejection = ApiError;

    async fn from_request(request: Request, ctx: &ApiContext) -> Result<Self, ApiError> {
        let (mut parts, body) = request.into_parts();
        let caller = Caller::from_request_parts(&mut parts, ctx).await?;
        let Path(model_id) = Path::<i64>::from_request_parts(&mut parts, ctx).await?;
        let Query(params) = Query::<P>::from_request_parts(&mut parts, ctx).await?;
        check_upload_headers(ctx, &parts.headers)?;
        validate::name("dataset", params.dataset())?;
        if !models::exists(&ctx.db, model_id).await? {
            return Err(ApiError::not_found("model", model_id));
        }
        let dataset = datasets::find_by_name(&ctx.db, params.dataset()).await?;
        Ok(ModelUpload {
            caller,
            model_id,
            params,
            dataset,
            body,
        })
    }
}

/// An upload received into its blob and its dataset locked, in the one transaction the caller
/// finishes by storing what the blob is for.
pub(super) struct ReceivedUpload {
    pub tx: Transaction<'static, Postgres>,
    pub held_off: PlanningHeldOff,
    pub blob_id: i64,
    pub dataset_id: i64,
}

/// [`receive_matrix`], then the dataset named `dataset` locked (created, or its row count set, by
/// the first upload) for the matrix's rows.
pub(super) async fn receive_for_dataset(
    ctx: &ApiContext,
    body: Body,
    tensor: Option<String>,
    dataset: &str,
    created_by: Option<&str>,
    accept: impl Fn(&MatrixInfo) -> Result<(), ApiError>,
) -> Result<ReceivedUpload, ApiError> {
    let (info, written) = receive_matrix(ctx, body, tensor, accept).await?;
    let mut tx = written.tx;
    // Before the dataset's row lock, which planning would wait for.
    let held_off = benchmarks::hold_off_planning(&mut tx).await?;
    let dataset_id =
        datasets::lock_for_upload(&mut tx, dataset, info.rows as i64, created_by).await?;
    Ok(ReceivedUpload {
        tx,
        held_off,
        blob_id: written.id,
        dataset_id,
    })
}

/// Decodes `body` (a `.npy` or safetensors file; `tensor` picks one of several) into a new blob.
/// `accept` sees the matrix's shape as soon as its header is read and may refuse it. Returns the
/// shape and the blob, whose transaction the caller commits.
async fn receive_matrix(
    ctx: &ApiContext,
    body: Body,
    tensor: Option<String>,
    accept: impl Fn(&MatrixInfo) -> Result<(), ApiError>,
) -> Result<(MatrixInfo, WrittenBlob), ApiError> {
    let mut body = BodyReader {
        stream: body.into_data_stream(),
        received: 0,
        limit: ctx.config.max_upload_bytes,
        idle: Duration::from_secs(ctx.config.request_timeout_secs),
    };
    let mut writer = BlobWriter::begin(&ctx.db).await?;
    let (info, sha256) = match ingest(&mut body, tensor, &mut writer, accept).await {
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
    Ok((info, writer.finish(sha256).await?))
}

/// Decodes the body into the blob writer; returns the matrix's shape and content address once
/// all of it is stored. Reading the body and storing chunks proceed side by side, each waiting
/// for the decoding thread when it is behind.
async fn ingest(
    body: &mut BodyReader,
    tensor: Option<String>,
    writer: &mut BlobWriter,
    accept: impl Fn(&MatrixInfo) -> Result<(), ApiError>,
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
                    accept(&info)?;
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

/// A stored blob to send back as a `.npy` file.
pub(super) struct NpyDownload<'a> {
    pub blob_id: i64,
    /// The stored dtype's name.
    pub dtype: &'a str,
    pub n_rows: i64,
    pub n_cols: i64,
    pub byte_len: i64,
    /// The content address, hex: the download's entity tag.
    pub sha256: &'a str,
    pub filename: &'a str,
}

/// The blob as a `.npy` file, streamed chunk by chunk, with exactly the stored values.
pub(super) fn npy_response(db: &PgPool, download: NpyDownload<'_>) -> Result<Response, ApiError> {
    let dtype = Dtype::from_name(download.dtype).ok_or_else(|| {
        ApiError::Internal(format!(
            "blob {} has unknown dtype {}",
            download.blob_id, download.dtype
        ))
    })?;
    let header_bytes = npy_header(dtype, download.n_rows as usize, download.n_cols as usize);
    let length = header_bytes.len() as u64 + download.byte_len as u64;
    let db = db.clone();
    let blob_id = download.blob_id;
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
    let disposition = format!("attachment; filename=\"{}\"", download.filename);
    let etag = format!("\"{}\"", download.sha256);
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
