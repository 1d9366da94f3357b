//! The marketwarden server: the health API and the server-side rendered app, on one axum router.
//!
//! `main` reads the configuration, builds an [`AppState`] and calls [`run`]; tests build the
//! router with [`app`] and call it directly.

pub mod auth;
pub mod backoff;
pub mod calendar;
pub mod cli;
pub mod clock;
pub mod compose;
pub mod config;
pub mod connections;
#[cfg(any(test, feature = "test-doubles"))]
pub mod doubles;
pub mod feed;
pub mod hosts;
pub mod http;
pub mod kite;
pub mod logging;
pub mod market;
pub mod nse_import;
pub mod supervise;
pub mod systemd;

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use http::app;

use marketwarden_core::{BrokerKind, MarketHealth, MarketSnapshot, Segment};

use crate::auth::AuthService;
use crate::calendar::CalendarStore;
use crate::clock::Clock;
use crate::compose::Machines;
use crate::connections::{Limits, StreamSlots};
use crate::feed::FeedService;
use crate::hosts::HostPolicy;
use crate::http::health::{HealthMemo, MachineReport};
use marketwarden_core::{AuthHealth, FeedHealth};
use marketwarden_kite::Secret;

/// What every request handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Where the browser bundle is, and how the pages refer to it.
    pub leptos_options: LeptosOptions,
    /// The only source of wall-clock time.
    pub clock: Arc<dyn Clock>,
    /// The trading calendar in use.
    pub calendar: Arc<CalendarStore>,
    /// Kite or the simulator.
    pub broker: BrokerKind,
    /// The auth machine.
    pub auth: Arc<AuthService>,
    /// The feed watchdog.
    pub feed: Arc<FeedService>,
    /// Where the health surface reads the machines' states: the two above, or fixed values in
    /// handler tests.
    pub reports: Reports,
    /// `MARKETWARDEN_ADMIN_TOKEN`: when set, state-changing endpoints require it.
    pub admin_token: Option<Secret>,
    /// The last health answer, served again for a few milliseconds.
    pub health_memo: Arc<HealthMemo>,
    /// Cancelled when the server stops: long-lived answers (event streams, tick sockets) end
    /// then, so that the shutdown never waits for a browser to leave.
    pub shutdown: CancellationToken,
    /// The `Host` and `Origin` values this server owns (DNS rebinding).
    pub hosts: Arc<HostPolicy>,
    /// How many clients it takes at once.
    pub limits: Limits,
    /// The places left for event streams and tick sockets (from `limits`).
    pub slots: StreamSlots,
    /// `--market-segment`: the segment the market object describes (NSE cash by default).
    pub market_segment: Segment,
    /// The segments of the subscribed instruments, listed beside it.
    pub segments_in_use: Arc<[Segment]>,
}

/// The machines' states as the health surface reads them: the running machines, or fixed
/// values in tests.
#[derive(Clone)]
pub struct Reports {
    pub auth: Arc<dyn MachineReport<AuthHealth>>,
    pub feed: Arc<dyn MachineReport<FeedHealth>>,
}

impl Reports {
    /// The running machines' own reports.
    pub fn of(machines: &Machines) -> Self {
        Self {
            auth: machines.auth.clone(),
            feed: machines.feed.clone(),
        }
    }
}

impl AppState {
    /// The page's snapshot now: the clock, the calendar in use and its load error, the
    /// segments, the broker and the machines' objects.
    pub fn market_snapshot(&self) -> MarketSnapshot {
        let current = self.calendar.current();
        let mut snapshot = MarketSnapshot::at(self.clock.now());
        snapshot.primary_segment = self.market_segment;
        snapshot.segments_in_use = self.segments_in_use.to_vec();
        snapshot.calendar_error = current.error;
        snapshot.calendar_overrides = current.overrides.map(|text| text.to_string());
        snapshot.broker = self.broker;
        snapshot.auth = Some(self.reports.auth.report());
        snapshot.feed = Some(self.reports.feed.report());
        snapshot
    }

    /// The market now, from the clock and the calendar in use (with its load error, if any),
    /// and the instant it was computed for.
    pub fn market_now(&self) -> (MarketHealth, chrono::DateTime<chrono::Utc>) {
        let current = self.calendar.current();
        let now = self.clock.now();
        let mut market = MarketHealth::for_segments(
            &current.calendar,
            self.market_segment,
            &self.segments_in_use,
            now,
        );
        market.calendar_error = current.error;
        (market, now)
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    /// State for serving the bundle from `site_root` with the given clock, calendar and machines
    /// (`compose::Running::machines`).
    pub fn new(
        site_root: &str,
        clock: Arc<dyn Clock>,
        calendar: Arc<CalendarStore>,
        machines: Machines,
    ) -> Self {
        let leptos_options = LeptosOptions::builder()
            .output_name(marketwarden_app::OUTPUT_NAME)
            .site_root(site_root)
            .site_pkg_dir("pkg")
            .build();
        Self {
            leptos_options,
            clock,
            calendar,
            broker: BrokerKind::Simulated,
            reports: Reports::of(&machines),
            segments_in_use: machines.feed.segments().into(),
            auth: machines.auth,
            feed: machines.feed,
            admin_token: None,
            health_memo: Arc::default(),
            shutdown: CancellationToken::new(),
            hosts: Arc::new(HostPolicy::loopback_any_port()),
            limits: Limits::default(),
            slots: StreamSlots::default(),
            market_segment: Segment::NseCm,
        }
    }

    /// This state with other client limits (and the slots that go with them).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self.slots = StreamSlots::new(limits);
        self
    }
}

/// Serves `state` on `listener` until `shutdown` is cancelled, then finishes the requests in
/// flight for at most [`connections::SHUTDOWN_DEADLINE`] (see [`connections::serve`]).
///
/// # Errors
///
/// Fails if the listener fails.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let state = AppState {
        shutdown: shutdown.clone(),
        ..state
    };
    let max_connections = state.limits.connections;
    connections::serve(listener, app(state), max_connections, shutdown).await
}
