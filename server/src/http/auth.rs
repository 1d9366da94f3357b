//! The auth endpoints: the login flow (`/auth/login`, `/auth/callback`, `/auth/logout`) and the
//! auth part of the health API.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use marketwarden_core::{AuthHealth, escape_html};
use serde::Serialize;

use crate::AppState;
use crate::auth::login::Callback;
use crate::auth::{LOGIN_STATE_COOKIE, LOGIN_STATE_TTL};

/// The routes that change nothing (the login's two steps only start and finish a login the
/// trader does at Kite; the callback checks its one-time state). `logout` and `verify` are in
/// [`super::state_changing_routes`].
pub fn read_routes() -> Router<AppState> {
    Router::new()
        .route("/auth/login", get(login))
        .route("/auth/callback", get(callback))
        .route("/api/system/health/auth", get(auth_health))
}

/// The answer of `POST /auth/logout`.
#[derive(Debug, Serialize)]
pub(super) struct LogoutAnswer {
    auth: AuthHealth,
    /// False when Kite could not be reached: the token is forgotten here but may live on at
    /// Kite until its expiry.
    invalidated_at_kite: bool,
}

/// `GET /api/system/health/auth`.
async fn auth_health(State(state): State<AppState>) -> Json<AuthHealth> {
    Json(state.auth.health())
}

/// `POST /api/system/health/auth/verify` (behind the admin layer).
pub(super) async fn verify(State(state): State<AppState>) -> Json<AuthHealth> {
    Json(state.auth.verify().await)
}

/// `GET /auth/login`: to Kite's login page, with a one-time state in `redirect_params` and the
/// same state in a cookie of this browser.
async fn login(State(state): State<AppState>) -> Response {
    let start = state.auth.begin_login();
    let cookie = format!(
        "{LOGIN_STATE_COOKIE}={}; Path=/auth; Max-Age={}; HttpOnly; SameSite=Lax",
        start.state,
        LOGIN_STATE_TTL.num_seconds()
    );
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&start.url) {
        headers.insert(header::LOCATION, location);
    }
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /auth/callback`: Kite's redirect after a login.
async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let auth = state.auth;
    let browser_state = cookie(&headers, LOGIN_STATE_COOKIE);
    // This browser's login attempt is over (its cookie can go) when it succeeded or when the
    // link carried this browser's own state; a forged or foreign link must not end it.
    let presented = Callback::from_query(&query)
        .ok()
        .map(|callback| callback.state);
    let own_attempt = presented.is_some() && presented == browser_state;
    let outcome = auth.complete_login(&query, browser_state.as_deref()).await;
    let attempt_over = outcome.is_ok() || own_attempt;
    let mut response = match outcome {
        Ok(_) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            response
                .headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/"));
            response
        }
        Err(error) => {
            tracing::warn!(%error, "a Kite login was refused");
            let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
            (status, Html(login_failed_page(&error.to_string()))).into_response()
        }
    };
    let headers = response.headers_mut();
    if attempt_over {
        headers.insert(
            header::SET_COOKIE,
            HeaderValue::from_static(
                "marketwarden_login_state=; Path=/auth; Max-Age=0; HttpOnly; SameSite=Lax",
            ),
        );
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /auth/logout` (behind the admin layer).
pub(super) async fn logout(State(state): State<AppState>) -> Json<LogoutAnswer> {
    let (auth, invalidated_at_kite) = state.auth.logout().await;
    Json(LogoutAnswer {
        auth,
        invalidated_at_kite,
    })
}

/// The value of cookie `name`, from any `Cookie` header.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

fn login_failed_page(message: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kite login failed · marketwarden</title></head>
<body>
<main role="alert" data-testid="login-failed">
<h1>Kite login failed</h1>
<p>{}</p>
<p>Nothing was changed. <a href="/auth/login">Try again</a> · <a href="/">Back to the dashboard</a></p>
</main>
</body>
</html>
"#,
        escape_html(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others_and_in_any_header() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; marketwarden_login_state=abc"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&headers, LOGIN_STATE_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
    }

    #[test]
    fn the_failure_page_escapes_what_kite_sent() {
        let page = login_failed_page("user <script>alert(1)</script>");
        assert!(page.contains("&lt;script&gt;") && !page.contains("<script>"));
    }
}
