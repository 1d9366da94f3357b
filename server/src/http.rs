//! The HTTP surface: the health API, the app's pages, its server functions and static files.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use leptos_axum::file_and_error_handler_with_context;
use marketwarden_app::{SnapshotSource, shell};
use marketwarden_core::{MarketHealth, MarketSnapshot};

use crate::AppState;

/// The whole router, ready to serve.
pub fn app(state: AppState) -> Router {
    // Rendering spawns on Leptos's executor: tokio's (a second call finds it set, which is fine).
    let _ = any_spawner::Executor::init_tokio();
    let snapshot_state = state.clone();
    let snapshots = SnapshotSource(Arc::new(move || market_snapshot(&snapshot_state)));
    let provide_snapshots = move || leptos::prelude::provide_context(snapshots.clone());

    Router::new()
        .route("/api/system/health/market", get(market_health))
        .route("/api/system/health", get(crate::health::health))
        .route("/api/system/events", get(crate::health::events))
        .route("/livez", get(crate::health::livez))
        .route("/readyz", get(crate::health::readyz))
        .route("/metrics", get(crate::health::metrics))
        .route("/api/system/health/feed", get(feed_health))
        .route("/api/system/health/feed/reconnect", post(feed_reconnect))
        .route("/ws/market", get(crate::feed::relay::market_socket))
        .merge(crate::auth::routes::routes())
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

/// `GET /api/system/health/market`: the market session now, from the clock alone.
async fn market_health(State(state): State<AppState>) -> Json<MarketHealth> {
    Json(market_now(&state).0)
}

/// `GET /api/system/health/feed`: the ticker connection.
async fn feed_health(State(state): State<AppState>) -> Response {
    match &state.reports.feed {
        Some(feed) => Json(feed.report()).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "error": "the feed watchdog is not running" })),
        )
            .into_response(),
    }
}

/// `POST /api/system/health/feed/reconnect`: a new ticker connection now, skipping any backoff.
async fn feed_reconnect(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(refused) = crate::admin::admin_guard(&state, &headers) {
        return refused.into_response();
    }
    match &state.feed {
        Some(feed) => match feed.request_reconnect() {
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
        },
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "error": "the feed watchdog is not running" })),
        )
            .into_response(),
    }
}

/// The market now, with the calendar in use and its load error, if any.
pub(crate) fn market_snapshot(state: &AppState) -> MarketSnapshot {
    let current = state.calendar.current();
    let now = state.clock.now();
    let mut snapshot = MarketSnapshot::at(now);
    snapshot.primary_segment = state.market_segment;
    snapshot.segments_in_use = state.segments_in_use.to_vec();
    snapshot.calendar_error = current.error;
    snapshot.calendar_overrides = current.overrides.map(|text| text.to_string());
    snapshot.broker = state.broker;
    snapshot.auth = state.reports.auth.as_ref().map(|auth| auth.report());
    snapshot.feed = state.reports.feed.as_ref().map(|feed| feed.report());
    snapshot
}

/// The market now, from the clock and the calendar in use (with its load error, if any).
pub(crate) fn market_now(state: &AppState) -> (MarketHealth, chrono::DateTime<chrono::Utc>) {
    let current = state.calendar.current();
    let now = state.clock.now();
    let mut market = MarketHealth::for_segments(
        &current.calendar,
        state.market_segment,
        &state.segments_in_use,
        now,
    );
    market.calendar_error = current.error;
    (market, now)
}
