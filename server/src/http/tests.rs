//! The HTTP surface through the whole router, with the machines' states fixed.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use marketwarden_core::{
    AuthHealth, AuthState, FeedHealth, FeedState, MarketPhase, PriorityStatus, priority,
};
use tower::ServiceExt;

use super::health::{FixedReport, HEALTH_MEMO_TTL};
use crate::AppState;
use crate::calendar::CalendarStore;

use marketwarden_testkit::FixedClock;

use marketwarden_testkit::monday_at as ist;

const AUTH_STATES: [AuthState; 4] = AuthState::ALL;
const FEED_STATES: [FeedState; 5] = FeedState::ALL;

fn instants() -> [(DateTime<Utc>, MarketPhase); 4] {
    [
        (ist(9, 3), MarketPhase::PreOpen),
        (ist(9, 10), MarketPhase::AuctionFreeze),
        (ist(10, 0), MarketPhase::Live),
        (ist(10, 0) - chrono::TimeDelta::days(2), MarketPhase::Closed),
    ]
}

struct Fixed {
    state: AppState,
    auth: Arc<FixedReport<AuthHealth>>,
    feed: Arc<FixedReport<FeedHealth>>,
}

fn fixed(now: DateTime<Utc>, auth: AuthState, feed: FeedState) -> Fixed {
    let auth = FixedReport::new(AuthHealth::in_state(auth));
    let feed = FixedReport::new(FeedHealth::in_state(feed));
    let clock: Arc<dyn crate::clock::Clock> = Arc::new(FixedClock(now));
    let calendar = Arc::new(CalendarStore::builtin());
    let machines = crate::doubles::idle_machines(clock.clone(), calendar.clone());
    let mut state = AppState::new("target/site", clock, calendar, machines);
    state.reports.auth = auth.clone();
    state.reports.feed = feed.clone();
    Fixed { state, auth, feed }
}

/// What a state-changing endpoint answers once the admin guard lets the request through, on the
/// idle machines of `doubles.rs`: verify and logout answer the (unchanged) state, and the feed
/// refuses to reconnect without a token (409).
fn past_the_guard(uri: &str) -> StatusCode {
    if uri == "/api/system/health/feed/reconnect" {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    }
}

async fn get(state: &AppState, uri: &str) -> (StatusCode, String, Option<String>) {
    let response = crate::app(state.clone())
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_string());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        String::from_utf8(bytes.to_vec()).unwrap(),
        content_type,
    )
}

#[tokio::test]
async fn every_state_combination_answers_200_with_the_priority_rule() {
    let mut seen = std::collections::HashSet::new();
    for (now, phase) in instants() {
        for auth in AUTH_STATES {
            for feed in FEED_STATES {
                let fixed = fixed(now, auth, feed);
                let (status, body, _) = get(&fixed.state, "/api/system/health").await;
                assert_eq!(status, StatusCode::OK);
                let json: serde_json::Value = serde_json::from_str(&body).unwrap();
                let expected = priority(
                    auth.requires_login(),
                    feed == FeedState::Connected,
                    phase.is_trading_hours(),
                );
                let wire = serde_json::to_value(expected).unwrap();
                assert_eq!(json["priority_status"], wire, "{phase:?} {auth:?} {feed:?}");
                assert_eq!(json["market"]["phase"], phase.as_str());
                assert!(
                    json["priority_message"]
                        .as_str()
                        .is_some_and(|m| !m.is_empty())
                );
                seen.insert(json["priority_status"].as_str().unwrap().to_string());

                let (ready, body, _) = get(&fixed.state, "/readyz").await;
                let ready_expected = expected == PriorityStatus::MarketSession;
                assert_eq!(ready == StatusCode::OK, ready_expected, "{body}");
                if !ready_expected {
                    assert_eq!(ready, StatusCode::SERVICE_UNAVAILABLE);
                    assert!(body.contains(r#""reason":"#), "{body}");
                }
                let (live, _, _) = get(&fixed.state, "/livez").await;
                assert_eq!(live, StatusCode::OK, "livez never depends on the machines");
            }
        }
    }
    assert_eq!(seen.len(), 3, "all three priorities occur: {seen:?}");
}

#[tokio::test]
async fn the_health_answer_has_the_seed_shape() {
    let fixed = fixed(ist(10, 0), AuthState::Valid, FeedState::Connected);
    let (_, body, content_type) = get(&fixed.state, "/api/system/health").await;
    assert_eq!(content_type.as_deref(), Some("application/json"));
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    for key in [
        "priority_status",
        "priority_message",
        "market",
        "auth",
        "feed",
        "server_time",
        "broker",
    ] {
        assert!(json.get(key).is_some(), "no {key}: {body}");
    }
    for key in [
        "phase",
        "title",
        "description",
        "icon",
        "is_trading_hours",
        "seconds_to_next_phase",
        "next_change_at",
        "calendar_coverage_ends",
    ] {
        assert!(json["market"].get(key).is_some(), "no market.{key}");
    }
    for key in [
        "state",
        "is_valid",
        "requires_login",
        "token_age_hours",
        "consecutive_failures",
        "last_verified_at",
    ] {
        assert!(json["auth"].get(key).is_some(), "no auth.{key}");
    }
    for key in [
        "state",
        "is_healthy",
        "last_tick_seconds_ago",
        "connection_quality",
        "reconnect_attempt",
        "next_retry_at",
    ] {
        assert!(json["feed"].get(key).is_some(), "no feed.{key}");
    }
    assert_eq!(json["auth"]["state"], "valid", "lower case, as the seed");
    assert_eq!(
        json["feed"]["state"], "connected",
        "lower case, as the seed"
    );
    assert_eq!(json["priority_status"], "MARKET_SESSION");
    assert_eq!(json["broker"], "simulated");
    assert_eq!(json["server_time"], "2026-11-30T04:30:00Z");
}

#[tokio::test]
async fn machines_that_never_started_still_get_an_answer_that_says_so() {
    let state = crate::doubles::market_only_state(
        Arc::new(FixedClock(ist(10, 0))),
        Arc::new(CalendarStore::builtin()),
    );
    let (status, body, _) = get(&state, "/api/system/health").await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["auth"]["state"], "required", "{body}");
    assert_eq!(json["feed"]["state"], "disconnected", "{body}");
    assert_eq!(json["priority_status"], "AUTH_REQUIRED", "{body}");
}

/// An open `/api/system/events` stream, read event by event.
struct EventReader(Body);

impl EventReader {
    async fn open(state: &AppState) -> Self {
        let response = crate::app(state.clone())
            .oneshot(
                Request::get("/api/system/events")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/event-stream"
        );
        Self(response.into_body())
    }

    /// The next event, keep-alive comments skipped.
    async fn next(&mut self) -> String {
        loop {
            let mut text = String::new();
            while !text.contains("\n\n") {
                let frame = tokio::time::timeout(Duration::from_secs(2), self.0.frame())
                    .await
                    .expect("an event in time")
                    .expect("open")
                    .unwrap();
                if let Ok(data) = frame.into_data() {
                    text.push_str(std::str::from_utf8(&data).unwrap());
                }
            }
            if !text.starts_with(':') {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn a_transition_reaches_an_event_stream_subscriber_at_once() {
    let fixed = fixed(ist(10, 0), AuthState::Valid, FeedState::Connected);
    let mut events = EventReader::open(&fixed.state).await;
    let snapshot = events.next().await;
    assert!(
        snapshot.starts_with("event: snapshot\ndata: {"),
        "{snapshot}"
    );
    assert!(
        snapshot.contains(r#""calendar_overrides":null"#),
        "{snapshot}"
    );
    let first = events.next().await;
    assert!(first.starts_with("event: health\ndata: {"), "{first}");
    assert!(
        first.contains(r#""priority_status":"MARKET_SESSION""#),
        "{first}"
    );
    fixed.auth.set(AuthHealth::in_state(AuthState::Expired));
    let second = events.next().await;
    assert!(
        second.contains(r#""priority_status":"AUTH_REQUIRED""#),
        "{second}"
    );
    fixed.auth.set(AuthHealth::in_state(AuthState::Valid));
    fixed.feed.set(FeedHealth::in_state(FeedState::Stale));
    let third = events.next().await;
    assert!(third.contains(r#""priority_status""#), "{third}");
}

#[tokio::test]
async fn a_calendar_reload_sends_open_pages_the_new_calendar_or_its_error() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("calendar.csv");
    std::fs::write(
        &path,
        "date,kind,hours,name\n2026-12-02,closed,,First closure\n",
    )
    .unwrap();
    let mut fixed = fixed(ist(10, 0), AuthState::Valid, FeedState::Connected);
    let store = Arc::new(CalendarStore::with_file(path.clone()));
    fixed.state.calendar = store.clone();
    let mut events = EventReader::open(&fixed.state).await;
    assert!(events.next().await.contains("First closure"));
    assert!(events.next().await.starts_with("event: health"));

    // A good file: the new overrides, then the health answer computed with them.
    std::fs::write(
        &path,
        "date,kind,hours,name\n2026-12-02,closed,,Second closure\n",
    )
    .unwrap();
    assert_eq!(store.reload(), None);
    let snapshot = events.next().await;
    assert!(snapshot.starts_with("event: snapshot\n"), "{snapshot}");
    assert!(snapshot.contains("Second closure"), "{snapshot}");
    assert!(snapshot.contains(r#""calendar_error":null"#), "{snapshot}");
    assert!(events.next().await.starts_with("event: health"));

    // A bad file: the last good calendar stays, and the page is told why.
    std::fs::write(&path, "date,kind,hours,name\n2026-13-45,closed,,Nonsense\n").unwrap();
    assert!(store.reload().is_some());
    let snapshot = events.next().await;
    assert!(snapshot.contains("Second closure"), "{snapshot}");
    assert!(
        snapshot.contains(r#""calendar_error":"calendar.csv"#),
        "{snapshot}"
    );
    let health = events.next().await;
    assert!(
        health.contains(r#""calendar_error":"calendar.csv"#),
        "{health}"
    );
}

#[tokio::test]
async fn metrics_name_every_state_and_counter() {
    let fixed = fixed(ist(10, 0), AuthState::Valid, FeedState::Connected);
    let mut feed = FeedHealth::in_state(FeedState::Connected);
    feed.reconnects = 3;
    feed.failures_total = 7;
    feed.last_tick_seconds_ago = Some(1.5);
    fixed.feed.set(feed);
    let mut auth = AuthHealth::in_state(AuthState::Valid);
    auth.expires_at = Some(ist(10, 0) + chrono::TimeDelta::hours(20));
    fixed.auth.set(auth);
    let (status, text, content_type) = get(&fixed.state, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    for line in [
        r#"marketwarden_market_phase{phase="LIVE"} 1"#,
        r#"marketwarden_market_phase{phase="CLOSED"} 0"#,
        r#"marketwarden_auth_state{state="valid"} 1"#,
        r#"marketwarden_auth_state{state="expired"} 0"#,
        r#"marketwarden_feed_state{state="CONNECTED"} 1"#,
        r#"marketwarden_feed_state{state="ERROR"} 0"#,
        "marketwarden_feed_reconnects_total 3",
        "marketwarden_feed_connect_failures_total 7",
        "marketwarden_auth_failures_total 0",
        "marketwarden_auth_consecutive_failures 0",
        "marketwarden_feed_last_tick_timestamp_seconds 1796012998.5",
        "marketwarden_auth_token_expiry_timestamp_seconds 1796085000.0",
        "marketwarden_market_seconds_to_next_phase 19800.0",
        // 2027-01-01 00:00 IST: the built-in NSE list covers 2026.
        r#"marketwarden_calendar_coverage_end_timestamp_seconds{segment="nse-cm"} 1798741800.0"#,
        "# EOF",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(
        text.contains(r#"marketwarden_build_info{version=""#),
        "{text}"
    );
}

#[tokio::test]
async fn state_changing_endpoints_need_the_admin_token_when_set() {
    let mut fixed = fixed(ist(10, 0), AuthState::Valid, FeedState::Connected);
    fixed.state.admin_token = Some(marketwarden_kite::Secret::new("s3cret"));
    let post = |uri: &'static str, token: Option<&'static str>| {
        let state = fixed.state.clone();
        async move {
            let mut request = Request::post(uri);
            if let Some(token) = token {
                request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
            }
            crate::app(state)
                .oneshot(request.body(Body::empty()).unwrap())
                .await
                .unwrap()
                .status()
        }
    };
    for uri in [
        "/api/system/health/auth/verify",
        "/auth/logout",
        "/api/system/health/feed/reconnect",
    ] {
        assert_eq!(post(uri, None).await, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(
            post(uri, Some("wrong")).await,
            StatusCode::UNAUTHORIZED,
            "{uri}"
        );
        // With the token the guard lets it through.
        assert_eq!(
            post(uri, Some("s3cret")).await,
            past_the_guard(uri),
            "{uri}"
        );
    }
    let (status, _, _) = get(&fixed.state, "/api/system/health").await;
    assert_eq!(status, StatusCode::OK, "reading stays open");
}

#[tokio::test]
async fn state_changing_endpoints_refuse_another_sites_page_even_with_the_admin_token() {
    let mut fixed = fixed(ist(10, 0), AuthState::Valid, FeedState::Connected);
    fixed.state.admin_token = Some(marketwarden_kite::Secret::new("s3cret"));
    let public = crate::hosts::PublicOrigin::parse("http://marketwarden.local:3000").unwrap();
    fixed.state.hosts = Arc::new(crate::hosts::HostPolicy::for_listener(
        "127.0.0.1:3000".parse().unwrap(),
        Some(&public),
    ));
    for uri in [
        "/api/system/health/auth/verify",
        "/auth/logout",
        "/api/system/health/feed/reconnect",
    ] {
        for (host, origin, expected) in [
            (
                "marketwarden.local:3000",
                "https://evil.example",
                StatusCode::FORBIDDEN,
            ),
            ("marketwarden.local:3000", "null", StatusCode::FORBIDDEN),
            // Our name, the wrong scheme.
            (
                "marketwarden.local:3000",
                "https://marketwarden.local:3000",
                StatusCode::FORBIDDEN,
            ),
            // A rebinding page: its Host and Origin agree, and are not ours.
            (
                "evil.example:3000",
                "http://evil.example:3000",
                StatusCode::MISDIRECTED_REQUEST,
            ),
            // The dashboard's own page passes the guard.
            (
                "marketwarden.local:3000",
                "http://marketwarden.local:3000",
                past_the_guard(uri),
            ),
            (
                "127.0.0.1:3000",
                "http://127.0.0.1:3000",
                past_the_guard(uri),
            ),
        ] {
            let request = Request::post(uri)
                .header(header::HOST, host)
                .header(header::ORIGIN, origin)
                .header(header::AUTHORIZATION, "Bearer s3cret")
                .body(Body::empty())
                .unwrap();
            let status = crate::app(fixed.state.clone())
                .oneshot(request)
                .await
                .unwrap()
                .status();
            assert_eq!(status, expected, "{uri} from {origin} to {host}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_health_answer_is_reused_for_25_ms_and_never_across_a_change() {
    let start = ist(10, 0);
    let mut fixed = fixed(start, AuthState::Valid, FeedState::Connected);
    fixed.state.clock = Arc::new(crate::clock::StartedClock::starting_at(start));
    let time_of = |body: &str| {
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        json["server_time"].as_str().unwrap().to_string()
    };
    let (_, first, _) = get(&fixed.state, "/api/system/health").await;
    tokio::time::advance(Duration::from_millis(20)).await;
    let (_, again, _) = get(&fixed.state, "/api/system/health").await;
    assert_eq!(
        first, again,
        "reused within the memo time, server_time included"
    );
    fixed.auth.set(AuthHealth::in_state(AuthState::Expired));
    let (_, changed, _) = get(&fixed.state, "/api/system/health").await;
    assert!(
        changed.contains("AUTH_REQUIRED"),
        "a change is never hidden"
    );
    assert_eq!(time_of(&changed), "2026-11-30T04:30:00.020Z");
    tokio::time::advance(HEALTH_MEMO_TTL).await;
    let (_, later, _) = get(&fixed.state, "/api/system/health").await;
    assert_eq!(time_of(&later), "2026-11-30T04:30:00.045Z");
}

#[tokio::test(start_paused = true)]
async fn a_health_answer_is_never_reused_across_a_phase_change() {
    let start = ist(9, 15) - chrono::TimeDelta::milliseconds(1);
    let mut fixed = fixed(start, AuthState::Valid, FeedState::Connected);
    fixed.state.clock = Arc::new(crate::clock::StartedClock::starting_at(start));
    let (_, freeze, _) = get(&fixed.state, "/api/system/health").await;
    assert!(freeze.contains(r#""phase":"AUCTION_FREEZE""#), "{freeze}");
    tokio::time::advance(Duration::from_millis(1)).await;
    let (_, live, _) = get(&fixed.state, "/api/system/health").await;
    assert!(live.contains(r#""phase":"LIVE""#), "{live}");
}

/// One request through the whole router, with `headers`.
async fn send(
    state: &AppState,
    method: axum::http::Method,
    uri: &str,
    headers: &[(header::HeaderName, &str)],
) -> axum::response::Response {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    crate::app(state.clone())
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn without_cors_origins_no_page_of_another_site_may_read() {
    let fixed = fixed(ist(10, 0), AuthState::Valid, FeedState::Connected);
    let from = [(header::ORIGIN, "https://ui.example.com")];
    let response = send(
        &fixed.state,
        axum::http::Method::GET,
        "/api/system/health",
        &from,
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "curl-like reads stay open"
    );
    assert!(
        response
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
    let preflight = send(
        &fixed.state,
        axum::http::Method::OPTIONS,
        "/api/system/health",
        &from,
    )
    .await;
    assert!(
        preflight
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
}

#[tokio::test]
async fn cors_origins_may_read_health_and_events_and_change_state_only_with_the_admin_token() {
    let mut fixed = fixed(ist(10, 0), AuthState::Valid, FeedState::Connected);
    let listed = crate::hosts::PublicOrigin::parse("https://ui.example.com").unwrap();
    fixed.state.hosts =
        Arc::new(crate::hosts::HostPolicy::loopback_any_port().with_cors_origins(&[listed]));
    let from = |origin| [(header::ORIGIN, origin), (header::HOST, "127.0.0.1:8000")];
    for uri in [
        "/api/system/health",
        "/api/system/health/market",
        "/api/system/health/auth",
        "/api/system/health/feed",
        "/readyz",
    ] {
        let response = send(
            &fixed.state,
            axum::http::Method::GET,
            uri,
            &from("https://ui.example.com"),
        )
        .await;
        // (No auth machine or feed runs here: some answer 503; the header comes all the same.)
        assert_eq!(
            response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://ui.example.com",
            "{uri}"
        );
        assert!(
            response
                .headers()
                .get_all(header::VARY)
                .iter()
                .any(|v| v == "origin"),
            "{uri}"
        );
        let other = send(
            &fixed.state,
            axum::http::Method::GET,
            uri,
            &from("https://evil.example"),
        )
        .await;
        assert!(
            other
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none(),
            "{uri}"
        );
    }
    let events = send(
        &fixed.state,
        axum::http::Method::GET,
        "/api/system/events",
        &from("https://ui.example.com"),
    )
    .await;
    assert_eq!(
        events.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://ui.example.com"
    );
    let preflight = send(
        &fixed.state,
        axum::http::Method::OPTIONS,
        "/api/system/health/feed/reconnect",
        &from("https://ui.example.com"),
    )
    .await;
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        preflight.headers()[header::ACCESS_CONTROL_ALLOW_METHODS],
        "GET, POST"
    );
    assert!(
        preflight.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    // The dashboard page itself is not shared.
    let page = send(
        &fixed.state,
        axum::http::Method::GET,
        "/",
        &from("https://ui.example.com"),
    )
    .await;
    assert!(
        page.headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );

    // State changes from the listed origin: refused while no admin token is configured …
    let reconnect = |state: &AppState, token: Option<&'static str>| {
        let state = state.clone();
        async move {
            let mut headers = from("https://ui.example.com").to_vec();
            if let Some(token) = token {
                headers.push((header::AUTHORIZATION, token));
            }
            send(
                &state,
                axum::http::Method::POST,
                "/api/system/health/feed/reconnect",
                &headers,
            )
            .await
            .status()
        }
    };
    assert_eq!(reconnect(&fixed.state, None).await, StatusCode::FORBIDDEN);
    // … and with one, only when the request carries it.
    fixed.state.admin_token = Some(marketwarden_kite::Secret::new("s3cret"));
    assert_eq!(
        reconnect(&fixed.state, None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        reconnect(&fixed.state, Some("Bearer s3cret")).await,
        past_the_guard("/api/system/health/feed/reconnect")
    );
}
