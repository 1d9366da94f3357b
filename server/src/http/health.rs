//! `GET /api/system/health`: the whole answer, memoized for a few milliseconds, and how the
//! health surface reads the machines. Its live push is `events.rs`; the probes and metrics read
//! [`system_health`] too.
//!
//! Every answer comes from in-memory state: no broker call, no lock held across an await. The
//! machines are read through [`MachineReport`], so handler tests can fix any state.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use marketwarden_core::{AuthHealth, FeedHealth, SystemHealth};
use tokio::sync::watch;

use crate::AppState;
use crate::auth::AuthService;
use crate::clock::Timers;
use crate::feed::FeedService;

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

/// The whole health answer now.
pub fn system_health(state: &AppState) -> SystemHealth {
    let (market, now) = state.market_now();
    let auth = state.reports.auth.report();
    let feed = state.reports.feed.summary();
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
pub(super) fn health_json(state: &AppState) -> Option<bytes::Bytes> {
    let changes = (
        state.reports.auth.change_count(),
        state.reports.feed.change_count(),
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
