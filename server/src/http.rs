//! The HTTP surface: the health API, the app's pages, its server functions and static files.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use leptos_axum::{LeptosRoutes, file_and_error_handler_with_context, generate_route_list};
use marketwarden_app::{App, shell};
use marketwarden_core::{Clock, MarketHealth};

use crate::AppState;

/// The whole router, ready to serve.
pub fn app(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let clock = state.clock.clone();
    let provide_clock = move || leptos::prelude::provide_context::<Arc<dyn Clock>>(clock.clone());

    Router::new()
        .route("/api/system/health/market", get(market_health))
        .leptos_routes_with_context(&state, routes, provide_clock.clone(), {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(file_and_error_handler_with_context::<AppState, _>(
            provide_clock,
            shell,
        ))
        .with_state(state)
}

/// `GET /api/system/health/market`: the market session now, from the clock alone.
async fn market_health(State(state): State<AppState>) -> Json<MarketHealth> {
    Json(MarketHealth::at(state.clock.now()))
}
