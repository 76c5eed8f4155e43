//! `/ui/login` and `/ui/logout`: the log-in form, which opens a session for a valid token, and
//! the button that ends it.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use maud::{Markup, html};
use serde::Deserialize;

use super::error::UiError;
use super::layout;
use super::session::{self, Viewer, parse_form};
use crate::access::PresentedToken;
use crate::http::ApiContext;
use crate::http::error::ApiError;
use crate::store::tokens;

#[derive(Debug, Default, Deserialize)]
struct NextParam {
    next: Option<String>,
}

/// Where to go after logging in: a dashboard page, never another site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(next) if next.starts_with("/ui/") && !next.starts_with("/ui//") => next,
        _ => "/ui/leaderboard",
    }
}

pub(super) async fn form(RawQuery(query): RawQuery) -> Markup {
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
struct LoginForm {
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
    let cookie = session::open(&ctx, credential.id).await?;
    session::audit(
        &ctx,
        &credential.name,
        "/ui/login",
        "/ui/login",
        StatusCode::SEE_OTHER,
    )
    .await;
    Ok(with_cookie(Redirect::to(&next), &cookie))
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
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
    session::check_csrf(session, form.csrf.as_deref())?;
    let cookie = session::close(&ctx, &headers).await?;
    session::audit(
        &ctx,
        &session.token_name,
        "/ui/logout",
        "/ui/logout",
        StatusCode::SEE_OTHER,
    )
    .await;
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

    #[test]
    fn log_in_returns_to_dashboard_pages_only() {
        assert_eq!(safe_next(Some("/ui/jobs")), "/ui/jobs");
        assert_eq!(safe_next(Some("https://evil.example/")), "/ui/leaderboard");
        assert_eq!(safe_next(Some("/ui//evil.example")), "/ui/leaderboard");
        assert_eq!(safe_next(None), "/ui/leaderboard");
    }
}
