//! The feed watchdog's async shell: one task that owns the ticker connection, feeds the pure
//! [`machine::FeedMachine`] with what happens (frames, closes, deadlines, tokens, trading
//! hours) and carries out its actions. Ticks are relayed to browsers on `/ws/market`.

pub mod browser_frame;
pub mod instruments;
pub mod link;
pub mod machine;
pub mod quality;
pub mod window;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::future::BoxFuture;
use marketwarden_core::{FeedHealth, FeedState, InstrumentHealth, Segment};
use tokio::sync::{broadcast, watch};
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::auth::TickerCredentials;
use crate::calendar::CalendarStore;
use crate::clock::{Clock, Timers};
use crate::kite::ticker::{TickerConnectError, TickerEvent};
use instruments::{Instrument, mode_name};
use link::{TickerConnector, TickerLink};
use machine::{FeedAction, FeedEvent, FeedMachine, FeedSettings, FeedTransition};
use marketwarden_kite::packet::{ClientRequest, Mode, Tick};
use quality::QualityMeter;

/// Browsers that fall this many tick frames behind are dropped.
pub const RELAY_BACKLOG: usize = 64;

/// How the watchdog is set up.
#[derive(Clone, Debug)]
pub struct FeedConfig {
    pub settings: FeedSettings,
    /// How long before pre-open the feed connects.
    pub pre_open_lead: Duration,
    /// What to subscribe, restored after every reconnect.
    pub instruments: Vec<Instrument>,
    /// How long a connection attempt (handshake and subscriptions) may take.
    pub connect_timeout: Duration,
}

/// Who to tell when the ticker refuses a token (the auth machine).
pub type RejectionSink = Arc<dyn Fn(u64) + Send + Sync>;

/// A uniform draw in [0, 1], for the backoff's jitter.
pub type JitterSource = Box<dyn FnMut() -> f64 + Send>;

struct Status {
    machine: FeedMachine,
    quality: QualityMeter,
    /// (trading hours, healthy) as last given to the quality meter.
    last_observed: Option<(bool, bool)>,
    last_tick: HashMap<u32, Instant>,
    /// Per subscribed instrument, the snapshot ticks still due on the open connection: Kite
    /// answers each `subscribe` and each `mode` message with the instrument's last known tick,
    /// which is not fresh market data.
    owed_snapshots: HashMap<u32, u32>,
    /// Every instrument's last tick, fresh or snapshot, for a browser that connects later.
    last_known: HashMap<u32, Tick>,
    /// The IST trading day on which `Market feed is now LIVE` was logged.
    live_announced_on: Option<chrono::NaiveDate>,
}

/// The feed watchdog; shared as `Arc<FeedService>`.
pub struct FeedService {
    config: FeedConfig,
    /// The segments of the subscribed instruments, each once, in order.
    segments: Vec<Segment>,
    connector: Arc<dyn TickerConnector>,
    clock: Arc<dyn Clock>,
    calendar: Arc<CalendarStore>,
    status: Mutex<Status>,
    relay: broadcast::Sender<Arc<str>>,
    /// Counts changes of state, for live health pushes.
    changes: watch::Sender<u64>,
    /// An operator's request for a new connection.
    reconnect: tokio::sync::Notify,
    /// The trader logged out: close the connection.
    logged_out: tokio::sync::Notify,
}

impl FeedService {
    pub fn new(
        config: FeedConfig,
        connector: Arc<dyn TickerConnector>,
        clock: Arc<dyn Clock>,
        calendar: Arc<CalendarStore>,
    ) -> Arc<Self> {
        let machine = FeedMachine::new(config.settings);
        let mut segments: Vec<Segment> = config
            .instruments
            .iter()
            .map(|instrument| Segment::of_instrument(instrument.token).unwrap_or(Segment::NseCm))
            .collect();
        segments.sort();
        segments.dedup();
        Arc::new(Self {
            config,
            segments,
            connector,
            clock,
            calendar,
            status: Mutex::new(Status {
                machine,
                quality: QualityMeter::default(),
                last_observed: None,
                last_tick: HashMap::new(),
                owed_snapshots: HashMap::new(),
                last_known: HashMap::new(),
                live_announced_on: None,
            }),
            relay: broadcast::channel(RELAY_BACKLOG).0,
            changes: watch::channel(0).0,
            logged_out: tokio::sync::Notify::new(),
            reconnect: tokio::sync::Notify::new(),
        })
    }

    /// Drops the connection and opens a new one now, skipping any backoff.
    ///
    /// # Errors
    ///
    /// Why it would not reconnect (outside trading hours, no usable token, a token the ticker
    /// refused): nothing is done then.
    pub fn request_reconnect(&self) -> Result<(), &'static str> {
        let window_open = self.market_window().open;
        if let Some(why) = self.lock().machine.why_not_connecting(window_open) {
            return Err(why);
        }
        self.reconnect.notify_one();
        Ok(())
    }

    /// The trader logged out: the open ticker connection is closed (it is kept when a token
    /// merely dies, as Kite keeps streaming on it).
    pub fn close_for_logout(&self) {
        self.logged_out.notify_one();
    }

    /// Ticks once per change of state (CONNECTED, STALE, …).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// How many changes of state so far.
    pub fn change_count(&self) -> u64 {
        *self.changes.borrow()
    }

    /// Tick frames as JSON text, for `/ws/market`.
    pub fn subscribe_ticks(&self) -> broadcast::Receiver<Arc<str>> {
        self.relay.subscribe()
    }

    /// The `feed` object of the health API.
    pub fn health(&self) -> FeedHealth {
        self.health_with(true)
    }

    /// The `feed` object without the per-instrument list, for the combined health answer.
    pub fn health_summary(&self) -> FeedHealth {
        self.health_with(false)
    }

    fn health_with(&self, with_instruments: bool) -> FeedHealth {
        let now = Instant::now();
        let status = self.lock();
        let machine = &status.machine;
        let seconds_ago = |at: Instant| now.saturating_duration_since(at).as_secs_f64();
        let retry = machine.retry();
        FeedHealth {
            is_healthy: machine.is_healthy(),
            last_tick_seconds_ago: machine.last_tick_at().map(seconds_ago),
            last_frame_seconds_ago: machine.last_frame_at().map(seconds_ago),
            connection_quality: marketwarden_core::percentage(status.quality.quality(now)),
            reconnect_attempt: machine.failures(),
            next_retry_at: retry.map(|(at, _)| self.wall_time_of(at, now)),
            backoff_seconds: retry.map(|(_, wait)| wait.as_secs_f64()),
            reconnects: machine.reconnects(),
            failures_total: machine.failures_total(),
            stale_threshold_seconds: machine.settings().stale_threshold.as_secs_f64(),
            instruments: self
                .config
                .instruments
                .iter()
                .filter(|_| with_instruments)
                .map(|instrument| InstrumentHealth {
                    instrument_token: instrument.token,
                    name: instrument.name.clone(),
                    mode: mode_name(instrument.mode).into(),
                    last_tick_seconds_ago: status
                        .last_tick
                        .get(&instrument.token)
                        .copied()
                        .map(seconds_ago),
                })
                .collect(),
            reason: machine.reason().to_string(),
            ..FeedHealth::in_state(machine.state())
        }
    }

    /// Runs the watchdog until `shutdown`: connects in trading hours with the token from
    /// `credentials`, replaces silent connections, backs off on failures, tells `on_rejected`
    /// when the ticker refuses a token.
    pub async fn run(
        self: Arc<Self>,
        mut credentials: watch::Receiver<Option<TickerCredentials>>,
        on_rejected: RejectionSink,
        mut jitter: JitterSource,
        shutdown: CancellationToken,
    ) {
        let settings = self.config.settings;
        tracing::info!(
            stale_threshold_s = settings.stale_threshold.as_secs_f64(),
            reconnect_delay_s = settings.reconnect_delay.as_secs_f64(),
            max_reconnects = settings.max_reconnects,
            instruments = self.config.instruments.len(),
            "Feed Watchdog started"
        );
        let mut link: Option<Box<dyn TickerLink>> = None;
        let mut attempt: Option<Attempt> = None;
        let mut current = credentials.borrow_and_update().clone();
        let generation = current.as_ref().map(|c| c.generation);
        self.step(FeedEvent::Credentials { generation }, &mut jitter);
        loop {
            let now = Instant::now();
            let window = self.market_window();
            let window_change = window.next_change;
            let actions = self.step(
                FeedEvent::MarketWindow {
                    open: window.open,
                    live: window.live,
                },
                &mut jitter,
            );
            self.carry_out(actions, &current, &mut link, &mut attempt, &on_rejected);
            let machine_deadline = self.lock().machine.next_deadline();
            let window_deadline = window_change.map(|at| self.clock.timer_for(at, now));
            let deadline = self.clock.wake_at(
                [machine_deadline, window_deadline].into_iter().flatten(),
                now,
            );
            let event = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                () = self.reconnect.notified() => FeedEvent::ReconnectRequested,
                () = self.logged_out.notified() => FeedEvent::LoggedOut,
                changed = credentials.changed() => {
                    if changed.is_err() {
                        // The auth machine is gone: nothing more to connect with.
                        current = None;
                    } else {
                        current = credentials.borrow_and_update().clone();
                    }
                    FeedEvent::Credentials { generation: current.as_ref().map(|c| c.generation) }
                }
                result = finish(&mut attempt) => {
                    attempt = None;
                    match result {
                        Ok(opened) => {
                            link = Some(opened);
                            self.expect_snapshots();
                            FeedEvent::Connected
                        }
                        Err(error) => FeedEvent::ConnectFailed {
                            auth: error.is_auth_failure(),
                            reason: error.to_string(),
                        },
                    }
                }
                event = next_from(&mut link) => match event {
                    TickerEvent::Ticks(ticks) => {
                        if self.relay_ticks(&ticks) {
                            FeedEvent::Ticks
                        } else {
                            FeedEvent::Frame
                        }
                    }
                    TickerEvent::Closed { code } => {
                        link = None;
                        let reason = match code {
                            Some(code) => format!("closed by the ticker with code {code}"),
                            None => "the connection broke".to_string(),
                        };
                        FeedEvent::Closed { reason }
                    }
                    TickerEvent::Malformed(error) => {
                        tracing::warn!(%error, "a malformed ticker frame was skipped");
                        FeedEvent::Frame
                    }
                    TickerEvent::Text(frame) => {
                        log_text_frame(&frame);
                        FeedEvent::Frame
                    }
                    TickerEvent::Heartbeat | TickerEvent::UnknownText(_) => FeedEvent::Frame,
                },
                () = sleep_until(deadline) => FeedEvent::Tick,
            };
            let actions = self.step(event, &mut jitter);
            self.carry_out(actions, &current, &mut link, &mut attempt, &on_rejected);
        }
        if let Some(link) = link.take() {
            // Shutting down: say goodbye to the ticker, but never hang the exit on it.
            let _ = tokio::time::timeout(Duration::from_secs(2), link.close()).await;
        }
        tracing::info!("Feed Watchdog stopped");
    }

    /// Feeds one event to the machine; logs a change of state and records the quality.
    fn step(&self, event: FeedEvent, jitter: &mut JitterSource) -> Vec<FeedAction> {
        let now = Instant::now();
        let window = self.market_window();
        let trading = window.open;
        let fresh_ticks = event == FeedEvent::Ticks;
        let mut status = self.lock();
        let step = status.machine.handle(event, now, jitter());
        let today = marketwarden_core::ist_wall_clock(self.clock.now()).date();
        let announce = fresh_ticks
            && window.live
            && status.machine.is_healthy()
            && status.live_announced_on != Some(today);
        if announce {
            status.live_announced_on = Some(today);
        }
        let observed = (trading, status.machine.is_healthy());
        if status.last_observed != Some(observed) {
            status.last_observed = Some(observed);
            status.quality.record(now, observed.0, observed.1);
        }
        drop(status);
        if step.transition.is_some() {
            self.changes.send_modify(|count| *count += 1);
        }
        log_transition(step.transition.as_ref());
        if announce {
            tracing::info!("Market feed is now LIVE");
        }
        step.actions
    }

    fn carry_out(
        &self,
        actions: Vec<FeedAction>,
        current: &Option<TickerCredentials>,
        link: &mut Option<Box<dyn TickerLink>>,
        attempt: &mut Option<Attempt>,
        on_rejected: &RejectionSink,
    ) {
        for action in actions {
            match action {
                FeedAction::Disconnect => {
                    *link = None;
                    *attempt = None;
                }
                FeedAction::Connect { generation } => {
                    let Some(credentials) = current
                        .clone()
                        .filter(|credentials| credentials.generation == generation)
                    else {
                        continue;
                    };
                    *attempt = Some(self.open(credentials));
                }
                FeedAction::ReportAuthRejected { generation } => {
                    tracing::warn!("the ticker refused the access token (401/403)");
                    on_rejected(generation);
                }
            }
        }
    }

    /// A connection attempt: the handshake, then the subscriptions and their modes.
    fn open(&self, credentials: TickerCredentials) -> Attempt {
        let connector = self.connector.clone();
        let instruments = self.config.instruments.clone();
        let timeout = self.config.connect_timeout;
        Box::pin(async move {
            let opening = async {
                let mut link = connector.connect(&credentials).await?;
                let tokens: Vec<u32> = instruments.iter().map(|i| i.token).collect();
                link.send(&ClientRequest::Subscribe(tokens)).await?;
                for mode in [Mode::Ltp, Mode::Quote, Mode::Full] {
                    let tokens: Vec<u32> = instruments
                        .iter()
                        .filter(|i| i.mode == mode)
                        .map(|i| i.token)
                        .collect();
                    if !tokens.is_empty() {
                        link.send(&ClientRequest::SetMode(mode, tokens)).await?;
                    }
                }
                Ok(link)
            };
            match tokio::time::timeout(timeout, opening).await {
                Ok(result) => result,
                Err(_) => Err(TickerConnectError::Transport(format!(
                    "no connection within {:.1} s",
                    timeout.as_secs_f64()
                ))),
            }
        })
    }

    /// The snapshots due on a new connection: one per instrument for the `subscribe` and one for
    /// its `mode` message (see [`FeedService::open`]).
    fn expect_snapshots(&self) {
        let mut status = self.lock();
        status.owed_snapshots = self
            .config
            .instruments
            .iter()
            .map(|instrument| (instrument.token, 2))
            .collect();
    }

    /// Relays a frame of ticks to the browsers; true when it holds a fresh tick of a subscribed
    /// instrument (a snapshot after a subscription is not one).
    fn relay_ticks(&self, ticks: &[Tick]) -> bool {
        let now = Instant::now();
        // Per tick: fresh market data, or a snapshot (or an instrument not subscribed).
        let mut fresh_ticks = Vec::with_capacity(ticks.len());
        {
            let mut status = self.lock();
            for tick in ticks {
                let fresh = match status.owed_snapshots.get_mut(&tick.instrument_token) {
                    // Not subscribed: neither fresh nor kept.
                    None => {
                        fresh_ticks.push(false);
                        continue;
                    }
                    Some(owed) if *owed > 0 => {
                        *owed -= 1;
                        false
                    }
                    Some(_) => true,
                };
                if fresh {
                    status.last_tick.insert(tick.instrument_token, now);
                }
                status.last_known.insert(tick.instrument_token, *tick);
                fresh_ticks.push(fresh);
            }
        }
        let fresh = fresh_ticks.contains(&true);
        if self.relay.receiver_count() == 0 {
            return fresh;
        }
        let frame = browser_frame::ticks_json(ticks, &fresh_ticks, &self.names());
        // No receiver, or all lagging: neither slows the feed.
        let _ = self.relay.send(frame.into());
        fresh
    }

    /// One tick frame with every subscribed instrument's last known tick, each marked as a
    /// snapshot; `None` before any came.
    pub fn last_known_frame(&self) -> Option<String> {
        let mut ticks: Vec<Tick> = self.lock().last_known.values().copied().collect();
        if ticks.is_empty() {
            return None;
        }
        ticks.sort_by_key(|tick| tick.instrument_token);
        Some(browser_frame::ticks_json(
            &ticks,
            &vec![false; ticks.len()],
            &self.names(),
        ))
    }

    /// Each subscribed instrument's name, by token.
    fn names(&self) -> HashMap<u32, &str> {
        self.config
            .instruments
            .iter()
            .map(|i| (i.token, i.name.as_str()))
            .collect()
    }

    /// Whether the feed is wanted now, and when that changes.
    fn market_window(&self) -> window::MarketWindow {
        let lead = TimeDelta::from_std(self.config.pre_open_lead).unwrap_or(TimeDelta::zero());
        window::market_window(
            &self.calendar.current().calendar,
            &self.segments,
            self.clock.now(),
            lead,
        )
    }

    /// The segments of the subscribed instruments (an unknown segment code counts as NSE
    /// cash), each once.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The wall-clock instant of tokio instant `at`.
    fn wall_time_of(&self, at: Instant, now: Instant) -> DateTime<Utc> {
        let ahead = TimeDelta::from_std(at.saturating_duration_since(now)).unwrap_or_default();
        self.clock.now() + ahead
    }

    fn lock(&self) -> MutexGuard<'_, Status> {
        self.status
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

type Attempt = BoxFuture<'static, Result<Box<dyn TickerLink>, TickerConnectError>>;

async fn finish(attempt: &mut Option<Attempt>) -> Result<Box<dyn TickerLink>, TickerConnectError> {
    match attempt {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

async fn next_from(link: &mut Option<Box<dyn TickerLink>>) -> TickerEvent {
    match link {
        Some(link) => link.next_event().await,
        None => std::future::pending().await,
    }
}

fn log_transition(transition: Option<&FeedTransition>) {
    let Some(transition) = transition else {
        return;
    };
    let to = transition.to.label();
    let from = transition.from.label();
    match transition.to {
        FeedState::Stale | FeedState::Error => {
            tracing::warn!(from, reason = %transition.reason, "FEED STATE: {to}");
        }
        _ => tracing::info!(from, reason = %transition.reason, "FEED STATE: {to}"),
    }
}

/// Logs a ticker text frame. An order update carries the trader's orders (and Kite's postback
/// checksum): only that one arrived, at debug. Kite's errors and messages are for the operator.
fn log_text_frame(frame: &marketwarden_kite::packet::TextFrame) {
    use marketwarden_kite::packet::TextFrame;
    match frame {
        TextFrame::Order(_) => tracing::debug!("ticker order update (payload not logged)"),
        TextFrame::Error(text) => tracing::warn!(error = %text, "ticker error message"),
        TextFrame::Message(text) => tracing::info!(message = %text, "ticker message"),
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
