//! Who is calling and whether they may: bearer tokens checked against their stored hash, the
//! scope each request needs, per-caller rate limits, and the audit trail of writes.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::rate_limit::{RateKey, RateLimiter};
use super::{ApiContext, REQUEST_ID};
use crate::access::{PresentedToken, Scope};
use crate::http::error::{ApiError, Challenge};
use crate::store::audit::{self, AuditEntry};
use crate::store::tokens;

/// The caller of a request, as the access middleware identified it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No token: an open route, or a read when `SIMBENCH_PUBLIC_READ` is on.
    Anonymous,
    Token {
        name: String,
        scope: Scope,
    },
}

impl Caller {
    /// The name recorded as `created_by` on what this caller creates.
    pub fn token_name(&self) -> Option<&str> {
        match self {
            Caller::Anonymous => None,
            Caller::Token { name, .. } => Some(name),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Caller, ApiError> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::Internal("the access middleware did not identify the caller".into())
        })
    }
}

/// What a request needs to get through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Requirement {
    /// Liveness, readiness and the API description: probes and newcomers need no token.
    Open,
    /// A token is optional (public reads); one that is sent must be valid.
    Public,
    Scope(Scope),
}

/// Token management and the audit log need admin; otherwise reads need read and everything else
/// write. The dashboard's pages check their own sessions. `route` is the matched route pattern,
/// `None` when no route matched.
fn requirement(method: &Method, route: Option<&str>, public_read: bool) -> Requirement {
    match route {
        Some("/healthz" | "/readyz" | "/openapi.yaml" | "/") => return Requirement::Open,
        Some(route) if route.starts_with("/ui/") => return Requirement::Open,
        Some(route)
            if route == "/v1/audit"
                || route == "/v1/tokens"
                || route.starts_with("/v1/tokens/") =>
        {
            return Requirement::Scope(Scope::Admin);
        }
        _ => {}
    }
    if *method == Method::GET || *method == Method::HEAD {
        if public_read {
            Requirement::Public
        } else {
            Requirement::Scope(Scope::Read)
        }
    } else {
        Requirement::Scope(Scope::Write)
    }
}

/// What the access middleware needs: the database and settings, and the rate limiter.
#[derive(Clone)]
pub(super) struct Guard {
    pub(super) ctx: ApiContext,
    pub(super) limiter: Option<Arc<RateLimiter>>,
}

/// Authenticates, rate-limits, authorizes, runs the request, then audits it when it writes.
pub(super) async fn guard(
    State(guard): State<Guard>,
    mut request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let required = requirement(
        request.method(),
        route.as_deref(),
        guard.ctx.config.public_read,
    );
    if required == Requirement::Open {
        request.extensions_mut().insert(Caller::Anonymous);
        return next.run(request).await;
    }
    let caller = match authenticate(&guard.ctx, request.headers()).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    if let Some(limiter) = &guard.limiter {
        let key = match &caller {
            Caller::Token { name, .. } => RateKey::Token(name.clone()),
            Caller::Anonymous => RateKey::Address(client_address(&request)),
        };
        if let Err(wait) = limiter.check(key) {
            let retry_after_secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            return ApiError::RateLimited { retry_after_secs }.into_response();
        }
    }
    let writes = request.method() != Method::GET && request.method() != Method::HEAD;
    let audit = caller
        .token_name()
        .filter(|_| writes)
        .map(|token_name| PendingAudit::of(&request, token_name, route));
    let response = match authorize(required, &caller) {
        Ok(()) => {
            request.extensions_mut().insert(caller.clone());
            next.run(request).await
        }
        Err(error) => error.into_response(),
    };
    if let Some(audit) = audit {
        audit.record(&guard.ctx, response.status().as_u16()).await;
    }
    response
}

fn authorize(required: Requirement, caller: &Caller) -> Result<(), ApiError> {
    match (required, caller) {
        (Requirement::Open | Requirement::Public, _) => Ok(()),
        (Requirement::Scope(_), Caller::Anonymous) => Err(ApiError::Unauthorized {
            challenge: Challenge::Missing,
            detail: "this request needs a token: send the header Authorization: Bearer <token> (simbench token create makes one)".into(),
        }),
        (Requirement::Scope(required), Caller::Token { name, scope }) => {
            if scope.allows(required) {
                Ok(())
            } else {
                Err(ApiError::InsufficientScope {
                    token: name.clone(),
                    required,
                    held: *scope,
                })
            }
        }
    }
}

/// The caller named by the `Authorization` header; anonymous without one.
async fn authenticate(ctx: &ApiContext, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Caller::Anonymous);
    };
    let invalid = |detail: &str| ApiError::Unauthorized {
        challenge: Challenge::InvalidToken,
        detail: detail.to_owned(),
    };
    let text = value
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| invalid("the Authorization header must read: Bearer <token>"))?;
    let presented = PresentedToken::parse(text).ok_or_else(|| {
        invalid("the bearer token is malformed: simbench tokens read sbk_<16 hex digits>_<64 hex digits>")
    })?;
    let credential = tokens::credential(&ctx.db, presented.public_id)
        .await?
        .filter(|credential| presented.matches(&credential.secret_sha256))
        .ok_or_else(|| invalid("the bearer token is not valid"))?;
    if credential.revoked {
        return Err(invalid("the bearer token has been revoked"));
    }
    if credential.expired {
        return Err(invalid("the bearer token has expired"));
    }
    if credential.stale {
        // Off the request path: last_used_at is a hint for operators, not worth a wait.
        let db = ctx.db.clone();
        tokio::spawn(async move {
            if let Err(error) = tokens::touch(&db, credential.id).await {
                tracing::warn!(%error, "could not record when a token was last used");
            }
        });
    }
    Ok(Caller::Token {
        name: credential.name,
        scope: credential.scope,
    })
}

/// The client's address, for limiting requests without a token; behind a proxy, the proxy's.
fn client_address(request: &Request) -> std::net::IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |info| info.0.ip())
}

/// What the audit log needs from a request, taken before the request is handed on.
struct PendingAudit {
    token_name: String,
    method: Method,
    route: Option<String>,
    path: String,
    request_id: Option<String>,
}

impl PendingAudit {
    fn of(request: &Request, token_name: &str, route: Option<String>) -> PendingAudit {
        PendingAudit {
            token_name: token_name.to_owned(),
            method: request.method().clone(),
            route,
            path: request
                .uri()
                .path_and_query()
                .map_or_else(|| request.uri().path().to_owned(), ToString::to_string),
            request_id: request
                .headers()
                .get(REQUEST_ID)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
        }
    }

    /// Writes the entry before the response leaves, so that whoever reads the audit log after
    /// a write sees it; one insert on requests that already write. A failure is logged: the
    /// write it describes has happened and is not undone.
    async fn record(self, ctx: &ApiContext, status: u16) {
        let entry = AuditEntry {
            token_name: &self.token_name,
            method: self.method.as_str(),
            route: self.route.as_deref(),
            path: &self.path,
            status,
            request_id: self.request_id.as_deref(),
        };
        if let Err(error) = audit::record(&ctx.db, &entry).await {
            tracing::error!(
                %error,
                token = entry.token_name,
                method = entry.method,
                path = entry.path,
                status = entry.status,
                "could not record a write in the audit log"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_needs_what_it_should() {
        let scope = Requirement::Scope;
        let cases = [
            (Method::GET, Some("/healthz"), false, Requirement::Open),
            (Method::GET, Some("/openapi.yaml"), false, Requirement::Open),
            (Method::GET, Some("/readyz"), true, Requirement::Open),
            (Method::GET, Some("/"), false, Requirement::Open),
            (
                Method::POST,
                Some("/ui/jobs/{id}/retry"),
                false,
                Requirement::Open,
            ),
            (Method::GET, Some("/v1/models"), false, scope(Scope::Read)),
            (Method::HEAD, Some("/v1/models"), false, scope(Scope::Read)),
            (Method::GET, Some("/v1/models"), true, Requirement::Public),
            (Method::GET, Some("/metrics"), false, scope(Scope::Read)),
            (Method::GET, Some("/metrics"), true, Requirement::Public),
            (Method::POST, Some("/v1/models"), true, scope(Scope::Write)),
            (
                Method::DELETE,
                Some("/v1/models/{id}"),
                false,
                scope(Scope::Write),
            ),
            (Method::GET, Some("/v1/tokens"), true, scope(Scope::Admin)),
            (
                Method::DELETE,
                Some("/v1/tokens/{name}"),
                false,
                scope(Scope::Admin),
            ),
            (Method::GET, Some("/v1/audit"), true, scope(Scope::Admin)),
            (Method::GET, None, false, scope(Scope::Read)),
            (Method::POST, None, true, scope(Scope::Write)),
        ];
        for (method, route, public_read, expected) in cases {
            assert_eq!(
                requirement(&method, route, public_read),
                expected,
                "{method} {route:?} public_read={public_read}"
            );
        }
    }
}
