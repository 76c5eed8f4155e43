//! Who is looking: a session opened at `/ui/login` with a token (README, Dashboard), or nobody
//! when the service is public to read. Sessions live in the database (`store::sessions`); the
//! browser holds only their random id, in a cookie scripts cannot read and other sites cannot
//! make it send. Forms that change something must come from this origin and carry the
//! session's CSRF token.

use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use maud::{Markup, html};
use rand::TryRngCore;
use rand::rngs::OsRng;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::UiError;
use super::layout;
use crate::access::{PresentedToken, Scope};
use crate::http::ApiContext;
use crate::http::error::ApiError;
use crate::store::audit::{self, AuditEntry};
use crate::store::{sessions, tokens};

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
    let matches = submitted_csrf.is_some_and(|submitted| {
        bool::from(submitted.as_bytes().ct_eq(session.csrf_token.as_bytes()))
    });
    if !matches {
        return Err(UiError::Forbidden(
            "the form's CSRF token is missing or stale: reload the page and try again".into(),
        ));
    }
    if !session.scope.allows(Scope::Write) {
        return Err(UiError::Forbidden(format!(
            "token {} has scope {}; changing anything needs write",
            session.token_name, session.scope
        )));
    }
    Ok(&session.token_name)
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

#[derive(Debug, Default, Deserialize)]
pub(super) struct NextParam {
    next: Option<String>,
}

/// Where to go after logging in: a dashboard page, never another site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(next) if next.starts_with("/ui/") && !next.starts_with("/ui//") => next,
        _ => "/ui/leaderboard",
    }
}

pub(super) async fn login_form(RawQuery(query): RawQuery) -> Markup {
    let params: NextParam =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    login_page(safe_next(params.next.as_deref()), None)
}

fn login_page(next: &str, problem: Option<&str>) -> Markup {
    layout::bare(
        "Log in",
        html! {
            section.login {
                h1 { "Log in to simbench" }
                p { "Paste an API token: " code { "simbench token create --name NAME --scope read" } " makes one. "
                    "The session lasts 12 hours and ends when the token is revoked." }
                @if let Some(problem) = problem {
                    p.error-detail role="alert" { (problem) }
                }
                form method="post" action="/ui/login" {
                    input type="hidden" name="next" value=(next);
                    label for="token" { "Token" }
                    input #token type="password" name="token" autocomplete="off" required placeholder="sbk_…";
                    button type="submit" { "Log in" }
                }
            }
        },
    )
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    token: String,
    next: Option<String>,
}

pub(super) async fn login(State(ctx): State<ApiContext>, body: Bytes) -> Result<Response, UiError> {
    let form: LoginForm = parse_form(&body)?;
    let next = safe_next(form.next.as_deref()).to_owned();
    let refuse = |problem: &str| {
        (StatusCode::UNAUTHORIZED, login_page(&next, Some(problem))).into_response()
    };
    let Some(presented) = PresentedToken::parse(form.token.trim()) else {
        return Ok(refuse(
            "that is not a simbench token: they read sbk_<16 hex digits>_<64 hex digits>",
        ));
    };
    let credential = tokens::credential(&ctx.db, presented.public_id)
        .await
        .map_err(ApiError::from)?
        .filter(|credential| presented.matches(&credential.secret_sha256));
    let credential = match credential {
        Some(credential) if !credential.revoked && !credential.expired => credential,
        _ => {
            return Ok(refuse(
                "this token is not valid (unknown, revoked or expired)",
            ));
        }
    };
    let session_id = random_hex()?;
    sessions::create(&ctx.db, &digest(&session_id), credential.id, &random_hex()?).await?;
    audit(
        &ctx,
        &credential.name,
        "/ui/login",
        "/ui/login",
        StatusCode::SEE_OTHER,
    )
    .await;
    let secure = if ctx.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={session_id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={COOKIE_MAX_AGE_SECS}{secure}"
    );
    Ok(with_cookie(Redirect::to(&next), &cookie))
}

#[derive(Debug, Deserialize)]
pub(super) struct CsrfForm {
    csrf: Option<String>,
}

pub(super) async fn logout(
    State(ctx): State<ApiContext>,
    viewer: Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, UiError> {
    let form: CsrfForm = parse_form(&body)?;
    let Viewer::Session(session) = &viewer else {
        return Ok(Redirect::to("/ui/login").into_response());
    };
    let matches = form.csrf.as_deref().is_some_and(|submitted| {
        bool::from(submitted.as_bytes().ct_eq(session.csrf_token.as_bytes()))
    });
    if !matches {
        return Err(UiError::Forbidden(
            "the form's CSRF token is missing or stale: reload the page and try again".into(),
        ));
    }
    if let Some(id) = session_id(&headers) {
        sessions::end(&ctx.db, &digest(&id)).await?;
    }
    audit(
        &ctx,
        &session.token_name,
        "/ui/logout",
        "/ui/logout",
        StatusCode::SEE_OTHER,
    )
    .await;
    let secure = if ctx.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0{secure}");
    Ok(with_cookie(Redirect::to("/ui/login"), &cookie))
}

fn with_cookie(redirect: Redirect, cookie: &str) -> Response {
    let mut response = redirect.into_response();
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
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
    fn log_in_returns_to_dashboard_pages_only() {
        assert_eq!(safe_next(Some("/ui/jobs")), "/ui/jobs");
        assert_eq!(safe_next(Some("https://evil.example/")), "/ui/leaderboard");
        assert_eq!(safe_next(Some("/ui//evil.example")), "/ui/leaderboard");
        assert_eq!(safe_next(None), "/ui/leaderboard");
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let cookies = headers(&[(header::COOKIE, "a=1; simbench_session=abc; b=2")]);
        assert_eq!(session_id(&cookies).as_deref(), Some("abc"));
        assert_eq!(session_id(&HeaderMap::new()), None);
    }
}
