//! The HTTP surface, all of it: the router (`app`), the health API and its live push, the
//! probes and metrics, the auth endpoints, the feed endpoints, `/ws/market`, the app's pages and
//! static files. Errors have one shape ([`ApiError`]); every state-changing endpoint sits behind
//! one admin layer ([`state_changing_routes`]).

pub mod admin;
mod auth;
pub mod error;
mod events;
pub mod health;
pub mod metrics;
mod probes;
pub mod relay;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use leptos_axum::file_and_error_handler_with_context;
use marketwarden_app::{SnapshotSource, shell};
use marketwarden_core::{FeedHealth, MarketHealth};

pub use error::ApiError;

use crate::AppState;

#[cfg(test)]
mod tests;

/// The whole router, ready to serve.
pub fn app(state: AppState) -> Router {
    // Rendering spawns on Leptos's executor: tokio's (a second call finds it set, which is fine).
    let _ = any_spawner::Executor::init_tokio();
    let snapshot_state = state.clone();
    let snapshots = SnapshotSource(Arc::new(move || snapshot_state.market_snapshot()));
    let provide_snapshots = move || leptos::prelude::provide_context(snapshots.clone());

    Router::new()
        .route("/api/system/health/market", get(market_health))
        .route("/api/system/health", get(health::health))
        .route("/api/system/events", get(events::events))
        .route("/livez", get(probes::livez))
        .route("/readyz", get(probes::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/api/system/health/feed", get(feed_health))
        .route("/ws/market", get(relay::market_socket))
        .merge(auth::read_routes())
        .merge(state_changing_routes(&state))
        .route(
            "/",
            get(leptos_axum::render_app_to_stream_with_context(
                provide_snapshots.clone(),
                {
                    let options = state.leptos_options.clone();
                    move || shell(options.clone())
                },
            )),
        )
        .fallback(file_and_error_handler_with_context::<AppState, _>(
            provide_snapshots,
            shell,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::hosts::cors,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::hosts::host_guard,
        ))
        .with_state(state)
}

/// Every endpoint that changes state, behind [`admin::require_admin`]: a new one added here
/// cannot skip the check, and one added elsewhere is a GET.
fn state_changing_routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/auth/logout", post(auth::logout))
        .route("/api/system/health/auth/verify", post(auth::verify))
        .route("/api/system/health/feed/reconnect", post(feed_reconnect))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admin::require_admin,
        ))
}

/// `GET /api/system/health/market`: the market session now, from the clock alone.
async fn market_health(State(state): State<AppState>) -> Json<MarketHealth> {
    Json(state.market_now().0)
}

/// `GET /api/system/health/feed`: the ticker connection.
async fn feed_health(State(state): State<AppState>) -> Json<FeedHealth> {
    Json(state.reports.feed.report())
}

/// `POST /api/system/health/feed/reconnect`: a new ticker connection now, skipping any backoff.
async fn feed_reconnect(State(state): State<AppState>) -> Response {
    match state.feed.request_reconnect() {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "requested": true })),
        )
            .into_response(),
        Err(why) => (
            StatusCode::CONFLICT,
            Json(serde_json::json!({ "requested": false, "reason": why })),
        )
            .into_response(),
    }
}
