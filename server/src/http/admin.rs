//! Who may change state: the endpoints that verify, log out or reconnect refuse requests a
//! browser sends from another site's page, and, when `MARKETWARDEN_ADMIN_TOKEN` is set, require
//! `Authorization: Bearer <token>`.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::AppState;

/// Checks a state-changing request: 403 cross-origin, 401 without the admin token when one is
/// configured.
///
/// # Errors
///
/// The refusal to send back.
pub fn admin_guard(state: &AppState, headers: &HeaderMap) -> Result<(), Refusal> {
    if !state.hosts.allows_host(headers) {
        return Err(Refusal::CrossOrigin);
    }
    // A page of an origin in MARKETWARDEN_CORS_ORIGINS may read; to change state it must also
    // carry the admin token, so without one configured it cannot.
    let listed = state.hosts.cors_origin_of(headers).is_some();
    if !listed && !state.hosts.allows_origin_of(headers) {
        return Err(Refusal::CrossOrigin);
    }
    if listed && state.admin_token.is_none() {
        return Err(Refusal::CrossOriginNeedsAdminToken);
    }
    if let Some(expected) = &state.admin_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim);
        if !given.is_some_and(|given| expected.matches(given)) {
            return Err(Refusal::NeedsAdminToken);
        }
    }
    Ok(())
}

/// Why a state-changing request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 403: a browser sent it from another site's page.
    CrossOrigin,
    /// 401: the admin token is configured and the request does not carry it.
    NeedsAdminToken,
    /// 403: a page of a `MARKETWARDEN_CORS_ORIGINS` origin, and no admin token is configured.
    CrossOriginNeedsAdminToken,
}

impl Refusal {
    /// The status it is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::CrossOrigin | Self::CrossOriginNeedsAdminToken => StatusCode::FORBIDDEN,
            Self::NeedsAdminToken => StatusCode::UNAUTHORIZED,
        }
    }

    /// What the client should do, for the error body.
    pub fn message(self) -> &'static str {
        match self {
            Self::CrossOrigin => "cross-origin requests are refused",
            Self::CrossOriginNeedsAdminToken => {
                "other origins may read; to change state they need MARKETWARDEN_ADMIN_TOKEN set \
                 on the server and sent as Authorization: Bearer <token>"
            }
            Self::NeedsAdminToken => {
                "this endpoint needs the admin token: Authorization: Bearer <MARKETWARDEN_ADMIN_TOKEN>"
            }
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        ApiError::Refused(self).into_response()
    }
}

/// The route layer of every state-changing endpoint ([`super::state_changing_routes`]): a
/// request that [`admin_guard`] refuses never reaches its handler.
pub async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match admin_guard(&state, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::CalendarStore;
    use crate::clock::SystemClock;
    use crate::hosts::tests::headers;
    use marketwarden_kite::Secret;
    use std::sync::Arc;

    #[test]
    fn the_admin_token_is_required_when_set() {
        let open = crate::doubles::market_only_state(
            Arc::new(SystemClock),
            Arc::new(CalendarStore::builtin()),
        );
        let guarded = AppState {
            admin_token: Some(Secret::new("s3cret")),
            ..open.clone()
        };
        let none = headers(&[(header::HOST, "127.0.0.1:3000")]);
        let right = headers(&[
            (header::HOST, "127.0.0.1:3000"),
            (header::AUTHORIZATION, "Bearer s3cret"),
        ]);
        let wrong = headers(&[
            (header::HOST, "127.0.0.1:3000"),
            (header::AUTHORIZATION, "Bearer s3cre"),
        ]);
        assert!(admin_guard(&open, &none).is_ok());
        assert!(admin_guard(&guarded, &right).is_ok());
        let refused = admin_guard(&guarded, &none).unwrap_err().into_response();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(refused.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(admin_guard(&guarded, &wrong), Err(Refusal::NeedsAdminToken));
        let cross = headers(&[
            (header::HOST, "127.0.0.1:3000"),
            (header::ORIGIN, "https://evil.example"),
            (header::AUTHORIZATION, "Bearer s3cret"),
        ]);
        assert_eq!(admin_guard(&guarded, &cross), Err(Refusal::CrossOrigin));
    }
}
