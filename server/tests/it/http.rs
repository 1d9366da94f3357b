use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use http_body_util::BodyExt;
use marketwarden_core::Clock;
use marketwarden_server::{AppState, app};
use tower::ServiceExt;

/// A clock stopped at one instant.
struct FixedClock(DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

fn state_at(now: DateTime<Utc>) -> AppState {
    AppState::new("target/site", Arc::new(FixedClock(now)))
}

async fn get(state: AppState, uri: &str) -> (StatusCode, String) {
    let request = Request::get(uri)
        .body(Body::empty())
        .expect("valid request");
    let response = app(state)
        .oneshot(request)
        .await
        .expect("infallible router");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        String::from_utf8(bytes.to_vec()).expect("utf-8 body"),
    )
}

/// Monday 2026-11-30 at 09:14:30 IST: thirty seconds of auction freeze left.
fn freeze_ending() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 3, 44, 30).unwrap()
}

#[tokio::test]
async fn market_endpoint_answers_with_the_seed_fields() {
    let (status, body) = get(state_at(freeze_ending()), "/api/system/health/market").await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["phase"], "AUCTION_FREEZE");
    assert_eq!(json["title"], "Auction freeze");
    assert_eq!(json["icon"], "⏳");
    assert_eq!(json["is_trading_hours"], true);
    assert_eq!(json["seconds_to_next_phase"], 30);
    assert_eq!(json["next_phase"], "LIVE");
    assert_eq!(json["next_change_at"], "2026-11-30T03:45:00Z");
    assert!(json["description"].as_str().unwrap().contains("09:15 IST"));
}

#[tokio::test]
async fn market_endpoint_follows_the_injected_clock_not_the_host() {
    // Saturday: closed whatever the host's own clock says.
    let saturday = Utc.with_ymd_and_hms(2026, 11, 28, 6, 0, 0).unwrap();
    let (_, body) = get(state_at(saturday), "/api/system/health/market").await;
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["phase"], "CLOSED");
    assert_eq!(json["title"], "Closed — Weekend");
    assert_eq!(json["is_trading_hours"], false);
}

#[tokio::test]
async fn dashboard_is_server_rendered_with_the_phase_in_the_first_response() {
    let (status, html) = get(state_at(freeze_ending()), "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"data-phase="AUCTION_FREEZE""#), "{html}");
    assert!(html.contains("Auction freeze"), "{html}");
    assert!(html.contains("Trading starts in 00:30"), "{html}");
    assert!(html.contains("09:14:30 IST"), "{html}");
    // The bundle that hydrates it is referenced by its fixed name.
    assert!(html.contains("/pkg/marketwarden.js"), "{html}");
    assert!(html.contains("/pkg/marketwarden.css"), "{html}");
}

#[tokio::test]
async fn unknown_page_is_a_404_that_still_shows_the_banner() {
    let (status, html) = get(state_at(freeze_ending()), "/no-such-page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("Page not found"), "{html}");
    assert!(html.contains(r#"data-phase="AUCTION_FREEZE""#), "{html}");
}
