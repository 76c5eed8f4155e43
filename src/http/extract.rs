//! The extractors every handler uses. Each refuses text the service cannot store -- NUL
//! characters, lone surrogates, invalid UTF-8, strings over `validate::MAX_STRING_BYTES` --
//! wherever it sits in the request, with a problem that names the field, before any handler
//! sees it; other rejections become problem+json too.

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::validate::{self, Field};
use crate::http::error::ApiError;

/// A JSON body in, or a JSON response out.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Json<T>, ApiError> {
        if !json_content_type(request.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "send JSON with the header Content-Type: application/json".into(),
            ));
        }
        let body =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => ApiError::JsonTooLarge,
                    _ => ApiError::bad_request("unreadable_body", rejection.body_text()),
                })?;
        // Through a `Value` first, so that every string is checked, and named by its pointer,
        // whether or not the target type keeps it.
        let document = parse_json(&body)?;
        validate::json_strings(&document)?;
        serde_path_to_error::deserialize(document)
            .map(Json)
            .map_err(|error| {
                let pointer = json_pointer(error.path());
                let detail = format!(
                    "the JSON body does not fit at {pointer:?}: {}",
                    error.inner()
                );
                let mut extra = Map::new();
                extra.insert("pointer".into(), Value::from(pointer));
                ApiError::Unprocessable {
                    code: "invalid_body",
                    detail,
                    extra,
                }
            })
    }
}

/// `application/json`, or any `application/...+json`, as axum's own extractor accepts.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let document = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let pointer = json_pointer(error.path());
        let inner = error.into_inner();
        if undecodable_text(&inner) {
            validate::invalid_string(
                Field::Body(&pointer),
                &format!("is not Unicode text that can be stored: {inner}"),
            )
        } else {
            malformed_json(&inner)
        }
    })?;
    deserializer.end().map_err(|error| malformed_json(&error))?;
    Ok(document)
}

fn malformed_json(error: &serde_json::Error) -> ApiError {
    ApiError::bad_request(
        "malformed_json",
        format!("the body is not valid JSON: {error}"),
    )
}

/// serde_json reports strings it cannot decode (lone surrogates, invalid UTF-8, raw control
/// characters) as syntax errors like any other; only the message tells them apart.
fn undecodable_text(error: &serde_json::Error) -> bool {
    let message = error.to_string();
    [
        "surrogate",
        "hex escape",
        "invalid unicode code point",
        "control character",
    ]
    .iter()
    .any(|kind| message.contains(kind))
}

/// The JSON pointer (RFC 6901) of the place serde stopped at.
fn json_pointer(path: &serde_path_to_error::Path) -> String {
    let mut pointer = String::new();
    for segment in path {
        match segment {
            serde_path_to_error::Segment::Seq { index } => {
                pointer.push('/');
                pointer.push_str(&index.to_string());
            }
            serde_path_to_error::Segment::Map { key } => {
                pointer.push('/');
                validate::push_pointer_token(&mut pointer, key);
            }
            serde_path_to_error::Segment::Enum { .. } | serde_path_to_error::Segment::Unknown => {}
        }
    }
    pointer
}

/// The query string, deserialized into `T` once every parameter is known to be storable text.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Query<T>, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        query_pairs(query)?;
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Query)
            .map_err(|error| {
                ApiError::bad_request("invalid_query", format!("invalid query string: {error}"))
            })
    }
}

/// Every `name=value` pair of the query string in order, for routes whose parameters repeat.
#[derive(Debug)]
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<QueryPairs, ApiError> {
        query_pairs(parts.uri.query().unwrap_or_default()).map(QueryPairs)
    }
}

/// Decodes `application/x-www-form-urlencoded` pairs, refusing what does not decode to text
/// instead of replacing it as `form_urlencoded` does.
fn query_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut pairs = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode_form(raw_name).map_err(|undecoded| {
            validate::invalid_string(
                Field::Query(&String::from_utf8_lossy(&undecoded)),
                "is not UTF-8 text once percent-decoded",
            )
        })?;
        validate::string(Field::Query(&name), &name)?;
        let value = decode_form(raw_value).map_err(|_| {
            validate::invalid_string(
                Field::Query(&name),
                "is not UTF-8 text once percent-decoded",
            )
        })?;
        validate::string(Field::Query(&name), &value)?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// `+` is a space, then percent-decoding; the bytes back when they are not UTF-8.
fn decode_form(encoded: &str) -> Result<String, Vec<u8>> {
    let spaced = encoded.replace('+', " ");
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(&spaced).collect();
    String::from_utf8(bytes).map_err(|error| error.into_bytes())
}

/// The route's path parameters, deserialized into `T` once every segment is known to be
/// storable text.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Path<T>, ApiError> {
        let axum::extract::Path(segments) =
            axum::extract::Path::<Vec<(String, String)>>::from_request_parts(parts, state)
                .await
                .map_err(path_rejection)?;
        for (name, value) in &segments {
            validate::string(Field::Path(name), value)?;
        }
        let axum::extract::Path(value) = axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(path_rejection)?;
        Ok(Path(value))
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    if let PathRejection::FailedToDeserializePathParams(error) = &rejection
        && let axum::extract::path::ErrorKind::InvalidUtf8InPathParam { key } = error.kind()
    {
        return validate::invalid_string(
            Field::Path(key),
            "is not UTF-8 text once percent-decoded",
        );
    }
    ApiError::bad_request("invalid_path", rejection.body_text())
}
