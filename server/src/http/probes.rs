//! The probes: `GET /livez` (the process serves) and `GET /readyz` (the trader is served: no
//! login needed, no feed down in trading hours).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use marketwarden_core::PriorityStatus;
use serde::Serialize;

use super::health::system_health;
use crate::AppState;

/// `GET /livez`: the process serves. Never depends on the broker, the token or the feed.
pub async fn livez() -> Response {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(serde_json::json!({ "status": "ok" })),
    )
        .into_response()
}

#[derive(Debug, Serialize)]
struct Readiness {
    ready: bool,
    priority_status: PriorityStatus,
    reason: String,
}

/// `GET /readyz`: 503 while a login is required or the feed is down in trading hours.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let health = system_health(&state);
    let ready = health.priority_status == PriorityStatus::MarketSession;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        ready,
        priority_status: health.priority_status,
        reason: health.priority_message,
    };
    (
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(body),
    )
        .into_response()
}
