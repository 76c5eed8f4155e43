//! Who is looking: a session opened at `/ui/login` with a token (README, Dashboard), or nobody
//! when the service is public to read. Sessions live in the database (`store::sessions`); the
//! browser holds only their random id, in a cookie scripts cannot read and other sites cannot
//! make it send. Forms that change something must come from this origin and carry the
//! session's CSRF token.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use bytes::Bytes;
use rand::TryRngCore;
use rand::rngs::OsRng;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::UiError;
use crate::access::Scope;
use crate::http::ApiContext;
use crate::http::error::ApiError;
use crate::store::audit::{self, AuditEntry};
use crate::store::sessions;

const COOKIE: &str = "simbench_session";
/// As long as the session lives in the database.
const COOKIE_MAX_AGE_SECS: u32 = 12 * 60 * 60;

/// The person behind a page request.
#[derive(Clone, Debug)]
pub(super) enum Viewer {
    /// No session, on a service public to read: sees everything, changes nothing.
    Public,
    Session(sessions::Session),
}

impl Viewer {
    pub(super) fn can_write(&self) -> bool {
        match self {
            Viewer::Public => false,
            Viewer::Session(session) => session.scope.allows(Scope::Write),
        }
    }

    /// The session behind the page, if any.
    pub(super) fn session(&self) -> Option<&sessions::Session> {
        match self {
            Viewer::Public => None,
            Viewer::Session(session) => Some(session),
        }
    }

    /// The CSRF token forms must carry; only a viewer who may write gets write forms.
    pub(super) fn csrf_token(&self) -> Option<&str> {
        match self {
            Viewer::Public => None,
            Viewer::Session(session) => Some(&session.csrf_token),
        }
    }
}

impl FromRequestParts<ApiContext> for Viewer {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &ApiContext) -> Result<Viewer, UiError> {
        if let Some(id) = session_id(&parts.headers)
            && let Some(session) = sessions::find(&ctx.db, &digest(&id)).await?
        {
            return Ok(Viewer::Session(session));
        }
        if ctx.config.public_read && parts.method == Method::GET {
            return Ok(Viewer::Public);
        }
        let next = parts
            .uri
            .path_and_query()
            .map_or("/ui/leaderboard", |path| path.as_str())
            .to_owned();
        Err(UiError::LoginRequired { next })
    }
}

/// The session id the `Cookie` header carries, if any.
fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|cookie| cookie.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

fn digest(session_id: &str) -> [u8; 32] {
    Sha256::digest(session_id.as_bytes()).into()
}

fn random_hex() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|error| ApiError::Internal(format!("the system's random generator: {error}")))?;
    Ok(hex::encode(bytes))
}

/// Whether a state-changing request comes from a page of this service: its `Origin` (or,
/// without one, its `Referer`) must name the host the request was sent to.
pub(super) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
    else {
        return false;
    };
    let authority_of = |url: &str| {
        url.split_once("://")
            .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or("").to_owned())
    };
    let header_text = |name| {
        headers
            .get(name)
            .and_then(|value: &HeaderValue| value.to_str().ok())
    };
    match header_text(header::ORIGIN) {
        Some(origin) => authority_of(origin).as_deref() == Some(host),
        None => header_text(header::REFERER)
            .and_then(authority_of)
            .is_some_and(|authority| authority == host),
    }
}

/// A form body; a malformed one is a bad request, not a server error.
pub(super) fn parse_form<T: DeserializeOwned>(body: &Bytes) -> Result<T, UiError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|error| UiError::BadRequest(format!("the form is malformed: {error}")))
}

/// The token name a write form acts for, once the request is checked (its origin is, by the
/// router): a session whose CSRF token the form carries, and write scope.
pub(super) fn authorize_write<'a>(
    viewer: &'a Viewer,
    submitted_csrf: Option<&str>,
) -> Result<&'a str, UiError> {
    let Viewer::Session(session) = viewer else {
        return Err(UiError::Forbidden("log in to change anything".into()));
    };
    check_csrf(session, submitted_csrf)?;
    if !session.scope.allows(Scope::Write) {
        return Err(UiError::Forbidden(format!(
            "token {} has scope {}; changing anything needs write",
            session.token_name, session.scope
        )));
    }
    Ok(&session.token_name)
}

/// Refuses a form that does not carry its session's CSRF token.
pub(super) fn check_csrf(
    session: &sessions::Session,
    submitted_csrf: Option<&str>,
) -> Result<(), UiError> {
    let matches = submitted_csrf.is_some_and(|submitted| {
        bool::from(submitted.as_bytes().ct_eq(session.csrf_token.as_bytes()))
    });
    if matches {
        Ok(())
    } else {
        Err(UiError::Forbidden(
            "the form's CSRF token is missing or stale: reload the page and try again".into(),
        ))
    }
}

/// Opens a session for the token `credential_id`; returns the `Set-Cookie` value that hands
/// the browser its id.
pub(super) async fn open(ctx: &ApiContext, credential_id: i64) -> Result<String, UiError> {
    let session_id = random_hex()?;
    sessions::create(&ctx.db, &digest(&session_id), credential_id, &random_hex()?).await?;
    Ok(cookie(
        ctx,
        &session_id,
        &format!("Max-Age={COOKIE_MAX_AGE_SECS}"),
    ))
}

/// Ends the session the request's cookie names, if any; returns the `Set-Cookie` value that
/// makes the browser forget it.
pub(super) async fn close(ctx: &ApiContext, headers: &HeaderMap) -> Result<String, UiError> {
    if let Some(id) = session_id(headers) {
        sessions::end(&ctx.db, &digest(&id)).await?;
    }
    Ok(cookie(ctx, "", "Max-Age=0"))
}

fn cookie(ctx: &ApiContext, value: &str, max_age: &str) -> String {
    let secure = if ctx.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!("{COOKIE}={value}; Path=/ui; HttpOnly; SameSite=Strict; {max_age}{secure}")
}

/// Records a dashboard write in the audit log, as the API records its own; a failure is
/// logged, the write it describes has happened.
pub(super) async fn audit(
    ctx: &ApiContext,
    token_name: &str,
    route: &str,
    path: &str,
    status: StatusCode,
) {
    let entry = AuditEntry {
        token_name,
        method: "POST",
        route: Some(route),
        path,
        status: status.as_u16(),
        request_id: None,
    };
    if let Err(error) = audit::record(&ctx.db, &entry).await {
        tracing::error!(%error, token = token_name, path, "could not record a page write in the audit log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_static(value)))
            .collect()
    }

    #[test]
    fn only_requests_from_this_host_count_as_same_origin() {
        let host = (header::HOST, "127.0.0.1:8080");
        assert!(same_origin(&headers(&[
            host.clone(),
            (header::ORIGIN, "http://127.0.0.1:8080")
        ])));
        assert!(same_origin(&headers(&[
            host.clone(),
            (header::REFERER, "http://127.0.0.1:8080/ui/jobs")
        ])));
        assert!(!same_origin(&headers(&[
            host.clone(),
            (header::ORIGIN, "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            host.clone(),
            (header::ORIGIN, "null")
        ])));
        assert!(!same_origin(&headers(&[
            host.clone(),
            (header::REFERER, "http://127.0.0.1:8080.evil.example/")
        ])));
        assert!(!same_origin(&headers(&[host])));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let cookies = headers(&[(header::COOKIE, "a=1; simbench_session=abc; b=2")]);
        assert_eq!(session_id(&cookies).as_deref(), Some("abc"));
        assert_eq!(session_id(&HeaderMap::new()), None);
    }
}
