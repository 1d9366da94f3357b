//! `GET /metrics`: the health answer as Prometheus / OpenMetrics gauges and counters.

use std::sync::atomic::AtomicU64;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use marketwarden_core::{AuthState, FeedState, MarketPhase, SystemHealth};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use super::health::system_health;
use crate::AppState;

/// `GET /metrics`: Prometheus / OpenMetrics text.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let text = metrics_text(&system_health(&state));
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

type Labels = Vec<(&'static str, &'static str)>;

fn gauge_f64() -> Gauge<f64, AtomicU64> {
    Gauge::default()
}

/// The metrics text for `health`.
pub fn metrics_text(health: &SystemHealth) -> String {
    let mut registry = Registry::with_prefix("marketwarden");

    let phase = Family::<Labels, Gauge>::default();
    for candidate in MarketPhase::SPECIFICATION {
        let on = i64::from(health.market.phase == candidate);
        phase
            .get_or_create(&vec![("phase", candidate.as_str())])
            .set(on);
    }
    registry.register(
        "market_phase",
        "1 for the market phase now, 0 for the others",
        phase,
    );

    // Each segment shown: when its holiday list runs out (the first instant after its last
    // covered day, IST), 0 when none is loaded. Alert on `- time() < 30 * 86400`.
    let coverage = Family::<Vec<(&'static str, String)>, Gauge<f64, AtomicU64>>::default();
    for segment in &health.market.segments {
        let ends = segment
            .calendar_coverage_ends
            .and_then(|date| date.succ_opt())
            .and_then(|next| marketwarden_core::ist_to_utc(next, chrono::NaiveTime::MIN))
            .map_or(0.0, |at| at.timestamp() as f64);
        coverage
            .get_or_create(&vec![("segment", segment.segment.as_str().to_string())])
            .set(ends);
    }
    registry.register(
        "calendar_coverage_end_timestamp_seconds",
        "When the segment's holiday list runs out, Unix seconds (0 when none is loaded)",
        coverage,
    );

    let to_next = gauge_f64();
    to_next.set(
        health
            .market
            .seconds_to_next_phase
            .map_or(-1.0, |seconds| seconds as f64),
    );
    registry.register(
        "market_seconds_to_next_phase",
        "Seconds until the next phase change (-1 when unknown)",
        to_next,
    );

    let auth = Family::<Labels, Gauge>::default();
    for candidate in AuthState::ALL {
        let on = i64::from(health.auth.state == candidate);
        auth.get_or_create(&vec![("state", candidate.as_str())])
            .set(on);
    }
    registry.register(
        "auth_state",
        "1 for the auth state now, 0 for the others",
        auth,
    );

    let auth_failures = Gauge::<i64>::default();
    auth_failures.set(i64::from(health.auth.consecutive_failures));
    registry.register(
        "auth_consecutive_failures",
        "Token checks that failed in a row",
        auth_failures,
    );
    let auth_failures_total = Counter::<u64>::default();
    auth_failures_total.inc_by(health.auth.failures_total);
    registry.register(
        "auth_failures",
        "Failed token checks and logins since the start",
        auth_failures_total,
    );
    let expiry = gauge_f64();
    expiry.set(
        health
            .auth
            .expires_at
            .map_or(0.0, |at| at.timestamp_millis() as f64 / 1000.0),
    );
    registry.register(
        "auth_token_expiry_timestamp_seconds",
        "When the token stops being trusted, Unix seconds (0 when unknown)",
        expiry,
    );

    let feed = Family::<Labels, Gauge>::default();
    for candidate in FeedState::ALL {
        let on = i64::from(health.feed.state == candidate);
        feed.get_or_create(&vec![("state", candidate.label())])
            .set(on);
    }
    registry.register(
        "feed_state",
        "1 for the feed state now, 0 for the others",
        feed,
    );

    let reconnects = Counter::<u64>::default();
    reconnects.inc_by(u64::from(health.feed.reconnects));
    registry.register(
        "feed_reconnects",
        "Ticker connections opened again since the start",
        reconnects,
    );
    let feed_failures = Counter::<u64>::default();
    feed_failures.inc_by(health.feed.failures_total);
    registry.register(
        "feed_connect_failures",
        "Failed ticker connection attempts since the start",
        feed_failures,
    );
    let attempt = Gauge::<i64>::default();
    attempt.set(i64::from(health.feed.reconnect_attempt));
    registry.register(
        "feed_reconnect_attempt",
        "Failed connection attempts in a row",
        attempt,
    );
    let last_tick = gauge_f64();
    last_tick.set(health.feed.last_tick_seconds_ago.map_or(0.0, |ago| {
        health.server_time.timestamp_millis() as f64 / 1000.0 - ago
    }));
    registry.register(
        "feed_last_tick_timestamp_seconds",
        "When the last fresh tick arrived, Unix seconds (0 when none)",
        last_tick,
    );
    let last_frame = gauge_f64();
    last_frame.set(health.feed.last_frame_seconds_ago.map_or(0.0, |ago| {
        health.server_time.timestamp_millis() as f64 / 1000.0 - ago
    }));
    registry.register(
        "feed_last_frame_timestamp_seconds",
        "When the open connection's last frame (tick or heartbeat) arrived, Unix seconds (0 when none is open)",
        last_frame,
    );
    let quality = gauge_f64();
    // A 0-1 ratio, as Prometheus expects; the health answer says the same in percent.
    quality.set(health.feed.connection_quality / 100.0);
    registry.register(
        "feed_connection_quality",
        "Share of the last 15 minutes of trading time spent connected, 0 to 1",
        quality,
    );

    let build = Info::new(vec![
        ("version", env!("CARGO_PKG_VERSION")),
        ("broker", health.broker.as_str()),
    ]);
    registry.register("build", "The running build", build);

    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut text, &registry);
    text
}
