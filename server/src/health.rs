//! The health surface: `GET /api/system/health` (the whole answer), its live push
//! (`/api/system/events`), the probes (`/livez`, `/readyz`) and `/metrics`.
//!
//! Every answer comes from in-memory state: no broker call, no lock held across an await. The
//! machines are read through [`MachineReport`], so handler tests can fix any state.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use marketwarden_core::{
    AuthHealth, AuthState, FeedHealth, FeedState, MarketPhase, PriorityStatus, SystemHealth,
};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use serde::Serialize;
use std::sync::atomic::AtomicU64;
use tokio::sync::watch;

use crate::AppState;
use crate::auth::AuthService;
use crate::clock::{MAX_SLEEP, Timers};
use crate::feed::FeedService;

/// How often an idle event stream sends a keep-alive comment.
pub const EVENTS_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A machine as the health surface sees it: its object now, and a signal per change of state.
pub trait MachineReport<T>: Send + Sync {
    fn report(&self) -> T;
    /// The object for the combined answer, which may leave out long lists.
    fn summary(&self) -> T {
        self.report()
    }
    fn changes(&self) -> watch::Receiver<u64>;
    /// How many changes so far.
    fn change_count(&self) -> u64 {
        *self.changes().borrow()
    }
}

impl MachineReport<AuthHealth> for AuthService {
    fn report(&self) -> AuthHealth {
        self.health()
    }
    fn changes(&self) -> watch::Receiver<u64> {
        AuthService::changes(self)
    }
    fn change_count(&self) -> u64 {
        AuthService::change_count(self)
    }
}

impl MachineReport<FeedHealth> for FeedService {
    fn report(&self) -> FeedHealth {
        self.health()
    }
    fn summary(&self) -> FeedHealth {
        self.health_summary()
    }
    fn changes(&self) -> watch::Receiver<u64> {
        FeedService::changes(self)
    }
    fn change_count(&self) -> u64 {
        FeedService::change_count(self)
    }
}

/// A report whose value the test sets; every `set` is a change.
pub struct FixedReport<T> {
    value: Mutex<T>,
    changes: watch::Sender<u64>,
}

impl<T: Clone + Send> FixedReport<T> {
    pub fn new(value: T) -> Arc<Self> {
        Arc::new(Self {
            value: Mutex::new(value),
            changes: watch::channel(0).0,
        })
    }

    pub fn set(&self, value: T) {
        *self.value.lock().unwrap_or_else(|p| p.into_inner()) = value;
        self.changes.send_modify(|count| *count += 1);
    }
}

impl<T: Clone + Send> MachineReport<T> for FixedReport<T> {
    fn report(&self) -> T {
        self.value.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
    fn change_count(&self) -> u64 {
        *self.changes.borrow()
    }
}

/// The auth object when no auth machine runs (some tests): a login is required, and says why.
fn auth_not_running() -> AuthHealth {
    AuthHealth {
        reason: "the auth machine is not running".into(),
        ..AuthHealth::in_state(AuthState::Required)
    }
}

/// The feed object when no watchdog runs (some tests).
fn feed_not_running() -> FeedHealth {
    FeedHealth {
        reason: "the feed watchdog is not running".into(),
        ..FeedHealth::in_state(FeedState::Disconnected)
    }
}

/// The whole health answer now.
pub fn system_health(state: &AppState) -> SystemHealth {
    let (market, now) = crate::http::market_now(state);
    let auth = state
        .reports
        .auth
        .as_ref()
        .map_or_else(auth_not_running, |auth| auth.report());
    let feed = state
        .reports
        .feed
        .as_ref()
        .map_or_else(feed_not_running, |feed| feed.summary());
    SystemHealth::new(market, auth, feed, now, state.broker)
}

/// How long one serialized health answer may be served again, unless a machine changes state
/// before. Each answer carries the `server_time` it describes, so a reused one is never wrong,
/// only up to this old.
pub const HEALTH_MEMO_TTL: Duration = Duration::from_millis(25);

/// The last serialized health answer, keyed by the machines' change counts.
#[derive(Default)]
pub struct HealthMemo {
    // Read by every request, written once per recomputation: readers never wait for each other.
    last: std::sync::RwLock<Option<Memo>>,
}

struct Memo {
    changes: (u64, u64, u64),
    /// The memo's end: its time to live, or the next change of the market phase if sooner.
    valid_until: tokio::time::Instant,
    body: bytes::Bytes,
}

impl HealthMemo {
    fn get(&self, changes: (u64, u64, u64), now: tokio::time::Instant) -> Option<bytes::Bytes> {
        let last = self.last.read().unwrap_or_else(|p| p.into_inner());
        last.as_ref()
            .filter(|memo| memo.changes == changes && now < memo.valid_until)
            .map(|memo| memo.body.clone())
    }

    fn put(&self, changes: (u64, u64, u64), valid_until: tokio::time::Instant, body: bytes::Bytes) {
        *self.last.write().unwrap_or_else(|p| p.into_inner()) = Some(Memo {
            changes,
            valid_until,
            body,
        });
    }
}

/// The serialized health answer, shared by every request and event stream for at most
/// [`HEALTH_MEMO_TTL`], and never across a change of the auth or feed state, of the market
/// phase or of the calendar (a reload, good or bad).
fn health_json(state: &AppState) -> Option<bytes::Bytes> {
    let changes = (
        state
            .reports
            .auth
            .as_ref()
            .map_or(0, |auth| auth.change_count()),
        state
            .reports
            .feed
            .as_ref()
            .map_or(0, |feed| feed.change_count()),
        state.calendar.reload_count(),
    );
    let now = tokio::time::Instant::now();
    if let Some(body) = state.health_memo.get(changes, now) {
        return Some(body);
    }
    let health = system_health(state);
    let mut body = Vec::with_capacity(2048);
    serde_json::to_writer(&mut body, &health).ok()?;
    let body = bytes::Bytes::from(body);
    let phase_ends = health
        .market
        .next_change_anywhere()
        .map(|at| state.clock.timer_for(at.with_timezone(&chrono::Utc), now));
    let valid_until =
        phase_ends.map_or(now + HEALTH_MEMO_TTL, |end| end.min(now + HEALTH_MEMO_TTL));
    state.health_memo.put(changes, valid_until, body.clone());
    Some(body)
}

/// `GET /api/system/health`: always 200, with the whole answer (memoized for at most
/// [`HEALTH_MEMO_TTL`], and never across a change of the auth or feed state).
pub async fn health(State(state): State<AppState>) -> Response {
    let Some(body) = health_json(&state) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

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

/// `GET /api/system/events`: Server-Sent Events, one `health` event with the whole answer at
/// once and after every change of the market phase, the auth state or the feed state, and a
/// keep-alive comment every 15 s. The stream ends when the server stops (browsers reconnect).
/// 503 when `--max-event-streams` streams are open already.
pub async fn events(State(state): State<AppState>) -> Response {
    let Some(slot) = state.slots.event_stream() else {
        return server_full("too many event streams are open");
    };
    event_stream(state, slot).into_response()
}

/// 503 with `Retry-After`, for a client over one of the caps.
pub fn server_full(message: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, HeaderValue::from_static("5"))],
        Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

/// The stream of [`events`], holding its `slot` until it ends. It opens with a `snapshot` event
/// (what the page embeds: the calendar in use and its load error) and a `health` event; after a
/// reload of the calendar file it sends a new `snapshot` before the `health` event, so an open
/// page computes the market with the server's new calendar.
fn event_stream(
    state: AppState,
    slot: tokio::sync::OwnedSemaphorePermit,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let auth = state.reports.auth.as_ref().map(|auth| auth.changes());
    let feed = state.reports.feed.as_ref().map(|feed| feed.changes());
    let watched = Watched {
        auth,
        feed,
        calendar: Some(state.calendar.reloads()),
    };
    let stream = futures_util::stream::unfold(
        (state, watched, true, slot),
        |(state, mut watched, first, slot)| async move {
            let mut calendar_changed = first;
            if !first {
                let (market, _) = crate::http::market_now(&state);
                let market_change = market.next_change_anywhere().map(|at| {
                    state.clock.until(at.with_timezone(&chrono::Utc)) + Duration::from_millis(5)
                });
                let shutdown = state.shutdown.clone();
                tokio::select! {
                    () = shutdown.cancelled() => return None,
                    () = changed(&mut watched.auth) => {}
                    () = changed(&mut watched.feed) => {}
                    () = changed(&mut watched.calendar) => calendar_changed = true,
                    () = sleep_for(market_change) => {}
                }
            }
            let mut events = Vec::with_capacity(2);
            if calendar_changed {
                events.push(json_event(
                    "snapshot",
                    serde_json::to_vec(&crate::http::market_snapshot(&state)).ok(),
                ));
            }
            // One serialization shared by every subscriber of the same change.
            events.push(json_event("health", health_json(&state)));
            Some((events, (state, watched, false, slot)))
        },
    )
    .flat_map(|events| futures_util::stream::iter(events.into_iter().map(Ok)));
    Sse::new(stream).keep_alive(KeepAlive::new().interval(EVENTS_KEEP_ALIVE))
}

/// What an event stream waits on besides the market's next change.
struct Watched {
    auth: Option<watch::Receiver<u64>>,
    feed: Option<watch::Receiver<u64>>,
    calendar: Option<watch::Receiver<u64>>,
}

/// An event named `name` carrying `json`, or a comment when it could not be encoded.
fn json_event(name: &str, json: Option<impl AsRef<[u8]>>) -> Event {
    match json {
        Some(json) => Event::default()
            .event(name)
            .data(String::from_utf8_lossy(json.as_ref())),
        None => Event::default().comment("unencodable"),
    }
}

/// Resolves at the next change; never when there is no machine (or it is gone).
async fn changed(changes: &mut Option<watch::Receiver<u64>>) {
    match changes {
        Some(receiver) => {
            if receiver.changed().await.is_err() {
                *changes = None;
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

async fn sleep_for(wait: Option<Duration>) {
    match wait {
        // The phase changes on the second: one second past it, the answer has moved on. A
        // long wait is cut short so a calendar reload is seen within a minute.
        Some(wait) => tokio::time::sleep(wait.min(MAX_SLEEP)).await,
        None => tokio::time::sleep(MAX_SLEEP).await,
    }
}

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

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;
