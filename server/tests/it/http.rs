use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use http_body_util::BodyExt;
use marketwarden_server::AppState;
use marketwarden_server::calendar::CalendarStore;
use tower::ServiceExt;

use marketwarden_testkit::FixedClock;

fn state_at(now: DateTime<Utc>) -> AppState {
    marketwarden_server::doubles::market_only_state(
        Arc::new(FixedClock(now)),
        Arc::new(CalendarStore::builtin()),
    )
}

/// State at the end of the auction freeze, with a calendar file of `text` written to a temp dir.
fn state_with_calendar_file(name: &str, text: &str) -> AppState {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    marketwarden_server::doubles::market_only_state(
        Arc::new(FixedClock(freeze_ending())),
        Arc::new(CalendarStore::with_file(path)),
    )
}

async fn get(state: AppState, uri: &str) -> (StatusCode, String) {
    let request = Request::get(uri)
        .body(Body::empty())
        .expect("valid request");
    let response = crate::support::scanned_app(state)
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
    assert_eq!(json["title"], "Auction Freeze");
    assert_eq!(json["icon"], "🔵");
    assert_eq!(json["is_trading_hours"], true);
    assert_eq!(json["seconds_to_next_phase"], 30);
    assert_eq!(json["next_phase"], "LIVE");
    assert_eq!(json["next_change_at"], "2026-11-30T09:15:00+05:30");
    assert_eq!(json["calendar_coverage_ends"], "2026-12-31");
    assert!(json["description"].as_str().unwrap().contains("09:15 IST"));
}

#[tokio::test]
async fn market_endpoint_follows_the_injected_clock_not_the_host() {
    // Saturday: closed whatever the host's own clock says.
    let saturday = Utc.with_ymd_and_hms(2026, 11, 28, 6, 0, 0).unwrap();
    let (_, body) = get(state_at(saturday), "/api/system/health/market").await;
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["phase"], "CLOSED");
    assert_eq!(json["title"], "Market Closed");
    assert!(
        json["description"]
            .as_str()
            .unwrap()
            .starts_with("Weekend.")
    );
    assert_eq!(json["is_trading_hours"], false);
}

#[tokio::test]
async fn dashboard_is_server_rendered_with_the_phase_in_the_first_response() {
    let (status, html) = get(state_at(freeze_ending()), "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"data-phase="AUCTION_FREEZE""#), "{html}");
    assert!(html.contains("Auction Freeze"), "{html}");
    // Inline in the document, not streamed later into a <template> that needs JavaScript.
    let banner = html
        .find(r#"data-testid="status-banner""#)
        .expect("a banner");
    assert!(!html[..banner].contains("<template"), "{html}");
    assert!(html.contains("Trading starts in 00:30"), "{html}");
    assert!(html.contains("09:14:30 IST"), "{html}");
    // No credentials in these tests: the simulator, said plainly.
    assert!(html.contains("Simulated broker"), "{html}");
    // The bundle that hydrates it is referenced by its fixed name.
    assert!(html.contains("/pkg/marketwarden.js"), "{html}");
    assert!(html.contains("/pkg/marketwarden.css"), "{html}");
    // The same names whatever built the binary: `cargo test` compiles it without
    // LEPTOS_OUTPUT_NAME, as `cargo build` and `cargo bench` do.
    assert!(html.contains(r#""/pkg/marketwarden.wasm""#), "{html}");
    assert!(!html.contains("_bg.wasm"), "{html}");
}

#[tokio::test]
async fn unknown_page_is_a_404_that_still_shows_the_banner() {
    let (status, html) = get(state_at(freeze_ending()), "/no-such-page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("Page not found"), "{html}");
    assert!(html.contains(r#"data-phase="AUCTION_FREEZE""#), "{html}");
}

#[tokio::test]
async fn market_endpoint_names_the_holiday() {
    // Tuesday 2026-11-10, 11:00 IST.
    let holiday = Utc.with_ymd_and_hms(2026, 11, 10, 5, 30, 0).unwrap();
    let (_, body) = get(state_at(holiday), "/api/system/health/market").await;
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["title"], "Market Closed");
    assert_eq!(json["holiday_name"], "Diwali-Balipratipada");
}

#[tokio::test]
async fn bad_calendar_file_is_reported_in_health_and_the_page() {
    let state =
        state_with_calendar_file("bad.csv", "date,kind,hours,name\n2026-11-30,clsoed,,Typo\n");
    let (_, body) = get(state.clone(), "/api/system/health/market").await;
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    // The built-in calendar stays in use.
    assert_eq!(json["phase"], "AUCTION_FREEZE");
    let error = json["calendar_error"].as_str().expect("an error");
    assert!(
        error.starts_with("bad.csv: line 2: unknown kind …: expected closed"),
        "{error}"
    );
    assert!(
        !error.contains("clsoed"),
        "the file's text stays out: {error}"
    );
    let (_, html) = get(state, "/").await;
    assert!(html.contains("unknown kind"), "{html}");
}

#[tokio::test]
async fn good_calendar_file_changes_the_answer_and_travels_with_the_page() {
    let state = state_with_calendar_file(
        "good.csv",
        "date,kind,hours,name\n2026-11-30,closed,,Snap closure\n",
    );
    let (_, body) = get(state.clone(), "/api/system/health/market").await;
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["holiday_name"], "Snap closure");
    let (_, html) = get(state, "/").await;
    assert!(html.contains("Trading holiday: Snap closure."), "{html}");
    // The browser gets the overrides to compute the same phases offline.
    assert!(html.contains("2026-11-30,closed,,Snap closure"), "{html}");
}

#[tokio::test]
async fn with_kite_the_page_does_not_claim_a_simulator() {
    let state = AppState {
        broker: marketwarden_core::BrokerKind::Kite,
        ..state_at(freeze_ending())
    };
    let (_, html) = get(state, "/").await;
    assert!(!html.contains("Simulated broker"), "{html}");
}

#[test]
fn the_secret_scan_finds_api_secrets_and_issued_tokens_and_nothing_else() {
    use crate::support::secrets_in;
    use kite_sim::tokens::TokenSigner;

    let token =
        TokenSigner::new("marketwarden_sim", "marketwarden_sim_secret").issue(freeze_ending(), 7);
    assert_eq!(secrets_in(&format!("token={token}&x")).len(), 1);
    // Inside a longer run of hex digits (a hash, another token) too.
    assert_eq!(secrets_in(&format!("abc{token}def")).len(), 1);
    assert_eq!(
        secrets_in("ZERODHA_API_SECRET=kitesecret-do-not-print"),
        ["the API secret of kitekey"]
    );
    // Forged, foreign and short hex runs are no secrets of ours.
    let foreign = TokenSigner::new("other", "other").issue(freeze_ending(), 7);
    for harmless in ["0".repeat(32), foreign, token[..31].to_string()] {
        assert!(secrets_in(&harmless).is_empty(), "{harmless}");
    }
}

#[tokio::test]
async fn a_stop_ends_the_event_streams_instead_of_waiting_for_the_browsers() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(marketwarden_server::run(
        listener,
        state_at(freeze_ending()),
        shutdown.clone(),
    ));
    let mut events = reqwest::get(format!("{base}/api/system/events"))
        .await
        .unwrap();
    let mut opened = String::new();
    while !opened.contains("event: health") {
        let chunk = events.chunk().await.unwrap().unwrap();
        opened.push_str(&String::from_utf8_lossy(&chunk));
    }

    shutdown.cancel();
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(5), server).await;
    assert!(stopped.is_ok(), "the server waited for the event stream");
    // The stream ends cleanly: the browser's EventSource reconnects to the next server.
    while let Some(chunk) = events.chunk().await.expect("a clean end") {
        assert!(!chunk.is_empty());
    }
}

/// `/ws/market` refuses another site's page in the API's one error shape: 403 with a JSON body
/// (it was plain text); `ApiError`'s own test checks the body.
#[tokio::test]
async fn market_socket_refuses_another_site_in_the_one_error_shape() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let base = crate::support::serve(crate::support::scanned_app(state_at(freeze_ending()))).await;
    let mut request = format!("{}/ws/market", base.replace("http", "ws"))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let refused = tokio_tungstenite::connect_async(request)
        .await
        .expect_err("another site, no socket");
    let tokio_tungstenite::tungstenite::Error::Http(response) = refused else {
        panic!("an HTTP refusal, not {refused}");
    };
    assert_eq!(response.status(), 403);
    // The client reads no body of a refused upgrade; the header says which shape it is.
    assert_eq!(response.headers()["content-type"], "application/json");
}
