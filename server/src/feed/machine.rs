//! The feed state machine, without I/O: [`FeedMachine::handle`] takes an event and the current
//! monotonic instant, changes the state and returns what the shell must do.
//!
//! CONNECTED: open, frames arriving — and in LIVE, fresh ticks. STALE: open but silent past the
//! threshold (no frame at all; or in LIVE no fresh tick, heartbeats notwithstanding); being
//! replaced.
//! CONNECTING: an attempt is under way. DISCONNECTED: closed on purpose (outside trading hours,
//! no token) or waiting to retry. ERROR: `max_reconnects` failures in a row; still retrying at the
//! longest backoff.

use std::time::Duration;

use marketwarden_core::FeedState;
use tokio::time::Instant;

use crate::backoff::Backoff;

/// The feed's defaults, the one place they are written: the flags take them as their defaults
/// (shown by `--help`; whole seconds, as the flags are written) and [`FeedSettings::default`]
/// reads them through [`defaults::seconds`].
pub mod defaults {
    use std::time::Duration;

    /// `FEED_STALE_THRESHOLD`, the specification's 10 s.
    pub const STALE_THRESHOLD: &str = "10";
    /// `FEED_RECONNECT_DELAY`.
    pub const RECONNECT_DELAY: &str = "5";
    /// `FEED_MAX_BACKOFF`.
    pub const MAX_BACKOFF: &str = "60";
    /// `FEED_MAX_RECONNECTS`.
    pub const MAX_RECONNECTS: u32 = 10;
    /// `FEED_PRE_OPEN_LEAD`: five minutes before pre-open.
    pub const PRE_OPEN_LEAD: &str = "300";

    /// A default above as a duration: its digits are whole seconds.
    pub const fn seconds(digits: &str) -> Duration {
        let bytes = digits.as_bytes();
        let mut value = 0;
        let mut index = 0;
        while index < bytes.len() {
            value = value * 10 + (bytes[index] - b'0') as u64;
            index += 1;
        }
        Duration::from_secs(value)
    }
}

/// The watchdog's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedSettings {
    /// Silence after which an open connection is dead (`FEED_STALE_THRESHOLD`): no frame at
    /// all, or in LIVE no fresh tick of a subscribed instrument.
    pub stale_threshold: Duration,
    /// The first backoff step (`FEED_RECONNECT_DELAY`); each failure doubles it.
    pub reconnect_delay: Duration,
    /// The longest backoff step.
    pub max_backoff: Duration,
    /// Failures in a row after which the state is ERROR (`FEED_MAX_RECONNECTS`).
    pub max_reconnects: u32,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            stale_threshold: defaults::seconds(defaults::STALE_THRESHOLD),
            reconnect_delay: defaults::seconds(defaults::RECONNECT_DELAY),
            max_backoff: defaults::seconds(defaults::MAX_BACKOFF),
            max_reconnects: defaults::MAX_RECONNECTS,
        }
    }
}

impl FeedSettings {
    /// The reconnect schedule: `reconnect_delay`, doubling, up to `max_backoff`.
    pub fn backoff(&self) -> Backoff {
        Backoff {
            first: self.reconnect_delay,
            max: self.max_backoff,
        }
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub enum FeedEvent {
    /// Trading hours (with the pre-open lead) began or ended (`open`), or continuous trading
    /// did (`live`: the phase is LIVE, when subscribed instruments tick every second or so).
    MarketWindow { open: bool, live: bool },
    /// The ticker's token changed: its generation, or none.
    Credentials { generation: Option<u64> },
    /// The connection opened and the subscriptions were sent.
    Connected,
    /// The attempt failed; `auth` when the ticker refused the token (403).
    ConnectFailed { auth: bool, reason: String },
    /// A frame arrived that proves the socket lives but carries no fresh market data: a
    /// heartbeat, a text message, or the snapshot ticks Kite sends after a subscription.
    Frame,
    /// A frame with at least one fresh tick of a subscribed instrument.
    Ticks,
    /// The connection closed or broke.
    Closed { reason: String },
    /// Time passed: check the stale deadline and the retry time.
    Tick,
    /// An operator asked for a new connection now (`POST …/feed/reconnect`).
    ReconnectRequested,
    /// The trader logged out: the open connection goes too (a dead token's socket is kept,
    /// a revoked one's is not).
    LoggedOut,
}

/// What the shell must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedAction {
    /// Open a connection with the token of `generation`.
    Connect { generation: u64 },
    /// Close the open connection (or abandon the attempt).
    Disconnect,
    /// Tell the auth machine the ticker refused the token of `generation`.
    ReportAuthRejected { generation: u64 },
}

/// A change of state, for `FEED STATE: <STATE>` log lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedTransition {
    pub from: FeedState,
    pub to: FeedState,
    pub reason: String,
}

/// The machine's result for one event.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FeedStep {
    pub actions: Vec<FeedAction>,
    pub transition: Option<FeedTransition>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Idle,
    Connecting {
        since: Instant,
    },
    /// `fed` once the first frame arrived, `ticked` once the first fresh tick did: only then is
    /// the feed CONNECTED (in LIVE the tick is needed, elsewhere a frame suffices).
    Open {
        since: Instant,
        fed: bool,
        ticked: bool,
    },
}

/// The feed machine's state.
#[derive(Clone, Debug)]
pub struct FeedMachine {
    settings: FeedSettings,
    state: FeedState,
    link: Link,
    window_open: bool,
    /// The phase is LIVE: heartbeats alone no longer prove the feed healthy.
    live: bool,
    /// When `live` last became true.
    live_since: Option<Instant>,
    generation: Option<u64>,
    /// The token the ticker refused: no attempt with it again.
    refused_generation: Option<u64>,
    /// The generation the open connection or the attempt uses.
    link_generation: Option<u64>,
    failures: u32,
    failures_total: u64,
    retry_at: Option<Instant>,
    backoff: Option<Duration>,
    /// The last frame of any kind on the open link.
    last_frame_at: Option<Instant>,
    /// The last fresh tick, on this link or an earlier one.
    last_tick_at: Option<Instant>,
    connections: u32,
    reason: String,
}

impl FeedMachine {
    /// A machine outside trading hours, without a token: DISCONNECTED.
    pub fn new(settings: FeedSettings) -> Self {
        Self {
            settings,
            state: FeedState::Disconnected,
            link: Link::Idle,
            window_open: false,
            live: false,
            live_since: None,
            generation: None,
            refused_generation: None,
            link_generation: None,
            failures: 0,
            failures_total: 0,
            retry_at: None,
            backoff: None,
            last_frame_at: None,
            last_tick_at: None,
            connections: 0,
            reason: "outside trading hours".into(),
        }
    }

    pub fn state(&self) -> FeedState {
        self.state
    }

    pub fn settings(&self) -> &FeedSettings {
        &self.settings
    }

    /// Failed attempts in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Failed attempts since the start (403s included).
    pub fn failures_total(&self) -> u64 {
        self.failures_total
    }

    /// Connections opened again after the first.
    pub fn reconnects(&self) -> u32 {
        self.connections.saturating_sub(1)
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The last frame of the open link; `None` while no link is open.
    pub fn last_frame_at(&self) -> Option<Instant> {
        match self.link {
            Link::Open { .. } => self.last_frame_at,
            _ => None,
        }
    }

    /// The last fresh tick, kept across reconnects.
    pub fn last_tick_at(&self) -> Option<Instant> {
        self.last_tick_at
    }

    /// When the next attempt is due, and the backoff step that led to it.
    pub fn retry(&self) -> Option<(Instant, Duration)> {
        self.retry_at.zip(self.backoff)
    }

    /// True when CONNECTED (open and fresh).
    pub fn is_healthy(&self) -> bool {
        self.state == FeedState::Connected
    }

    /// True when the feed should be up: trading hours and a usable token.
    /// Why no connection would be opened now if trading hours are `window_open`; `None` when
    /// one would.
    pub fn why_not_connecting(&self, window_open: bool) -> Option<&'static str> {
        if !window_open {
            Some("outside trading hours: the feed connects before pre-open")
        } else if self.generation.is_none() {
            Some("no usable Kite token: log in first")
        } else if self.generation == self.refused_generation {
            Some("the ticker refused this token: log in again, or verify it with Kite")
        } else {
            None
        }
    }

    pub fn wants_connection(&self) -> bool {
        self.window_open && self.generation.is_some() && self.generation != self.refused_generation
    }

    /// The next instant at which [`FeedEvent::Tick`] must be delivered: the stale deadline of an
    /// open connection or the retry time.
    pub fn next_deadline(&self) -> Option<Instant> {
        let silent = match self.link {
            Link::Open { since, .. } => {
                Some(self.frame_base(since) + self.settings.stale_threshold)
            }
            _ => None,
        };
        let tickless = match self.link {
            Link::Open { since, .. } if self.live => {
                Some(self.tick_base(since) + self.settings.stale_threshold)
            }
            _ => None,
        };
        [silent, tickless, self.retry_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Since when the open link (opened at `since`) has sent no frame.
    fn frame_base(&self, since: Instant) -> Instant {
        self.last_frame_at.unwrap_or(since).max(since)
    }

    /// Since when, in LIVE, the open link (opened at `since`) has brought no fresh tick: the
    /// last tick, the opening or the start of LIVE, whichever is latest.
    fn tick_base(&self, since: Instant) -> Instant {
        [Some(since), self.live_since, self.last_tick_at]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(since)
    }

    /// Applies `event` at `now`; `jitter` is a uniform draw in [0, 1] for a backoff step.
    pub fn handle(&mut self, event: FeedEvent, now: Instant, jitter: f64) -> FeedStep {
        let from = self.state;
        let actions = self.apply(event, now, jitter);
        let transition = (self.state != from).then(|| FeedTransition {
            from,
            to: self.state,
            reason: self.reason.clone(),
        });
        FeedStep {
            actions,
            transition,
        }
    }

    fn apply(&mut self, event: FeedEvent, now: Instant, jitter: f64) -> Vec<FeedAction> {
        match event {
            FeedEvent::MarketWindow { open, live } => {
                if live && !self.live {
                    self.live_since = Some(now);
                }
                self.live = live;
                self.window_open = open;
                self.reconsider(
                    now,
                    if open {
                        "trading hours began"
                    } else {
                        "outside trading hours"
                    },
                )
            }
            FeedEvent::Credentials { generation } => {
                let changed = generation != self.generation;
                self.generation = generation;
                if !changed {
                    return Vec::new();
                }
                if generation.is_some() {
                    // A new token: try it at once, whatever the backoff said.
                    self.failures = 0;
                    self.retry_at = None;
                    self.backoff = None;
                }
                if generation.is_none() && matches!(self.link, Link::Open { .. }) {
                    // Kite keeps open sockets streaming after a token dies: keep the data, but
                    // never reconnect with that token.
                    self.reason =
                        "the token is no longer valid: the open connection is kept until it ends"
                            .into();
                    return Vec::new();
                }
                // The link uses the old token (or an attempt without one): replace it.
                let mut actions = self.drop_link();
                let why = match generation {
                    Some(_) => "a new access token",
                    None => "waiting for a Kite login",
                };
                actions.extend(self.reconsider(now, why));
                actions
            }
            FeedEvent::Connected => {
                if !matches!(self.link, Link::Connecting { .. }) {
                    return Vec::new();
                }
                // Open, but CONNECTED only once data flows: a socket that accepts and then
                // stays silent is no success.
                self.link = Link::Open {
                    since: now,
                    fed: false,
                    ticked: false,
                };
                self.last_frame_at = None;
                self.connections = self.connections.saturating_add(1);
                self.retry_at = None;
                self.backoff = None;
                // STALE and ERROR stay (with their reasons) until data flows again.
                if !matches!(self.state, FeedState::Stale | FeedState::Error) {
                    self.state = FeedState::Connecting;
                    self.reason =
                        "connected, subscriptions sent: waiting for the first frame".into();
                }
                Vec::new()
            }
            FeedEvent::ConnectFailed { auth, reason } => {
                if !matches!(self.link, Link::Connecting { .. }) {
                    return Vec::new();
                }
                self.link = Link::Idle;
                let generation = self.link_generation.take();
                if auth {
                    self.failures_total = self.failures_total.saturating_add(1);
                    self.refused_generation = generation;
                    self.retry_at = None;
                    self.backoff = None;
                    self.state = FeedState::Disconnected;
                    self.reason = format!("{reason}: waiting for a new token");
                    return generation
                        .map(|generation| vec![FeedAction::ReportAuthRejected { generation }])
                        .unwrap_or_default();
                }
                self.fail(now, jitter, &reason);
                Vec::new()
            }
            FeedEvent::Frame => {
                if let Link::Open { since, fed, ticked } = self.link {
                    self.last_frame_at = Some(now);
                    self.link = Link::Open {
                        since,
                        fed: true,
                        ticked,
                    };
                    if !self.live {
                        if !fed || self.state != FeedState::Connected {
                            self.state = FeedState::Connected;
                            self.reason = "connected, data flowing".into();
                        }
                        self.forgive_failures(now, since);
                    } else if !fed && !ticked && self.state == FeedState::Connecting {
                        self.reason =
                            "connected, heartbeats arrive: waiting for the first tick".into();
                    }
                }
                Vec::new()
            }
            FeedEvent::Ticks => {
                if let Link::Open { since, .. } = self.link {
                    self.last_frame_at = Some(now);
                    self.last_tick_at = Some(now);
                    self.link = Link::Open {
                        since,
                        fed: true,
                        ticked: true,
                    };
                    if self.state != FeedState::Connected {
                        self.state = FeedState::Connected;
                        self.reason = "connected, ticks flowing".into();
                    }
                    self.forgive_failures(now, since);
                }
                Vec::new()
            }
            FeedEvent::Closed { reason } => {
                let Link::Open { since, fed, ticked } = self.link else {
                    return Vec::new();
                };
                self.link = Link::Idle;
                self.link_generation = None;
                if !self.wants_connection() {
                    return self.reconsider(now, "closed");
                }
                // In LIVE only fresh ticks prove a link worked; elsewhere any frame does.
                let proved = if self.live { ticked } else { fed };
                if !proved || now.duration_since(since) < self.settings.stale_threshold {
                    // Closed soon after it opened: a failure, so a flapping link backs off.
                    self.fail(
                        now,
                        jitter,
                        &format!("closed right after opening ({reason})"),
                    );
                    return Vec::new();
                }
                self.failures = 0;
                self.reason = format!("connection lost ({reason}): reconnecting");
                self.connect(now)
            }
            FeedEvent::Tick => self.on_time(now, jitter),
            FeedEvent::LoggedOut => {
                let actions = self.drop_link();
                self.generation = None;
                self.failures = 0;
                self.retry_at = None;
                self.backoff = None;
                self.state = FeedState::Disconnected;
                self.reason = "logged out: the ticker connection was closed".into();
                actions
            }
            FeedEvent::ReconnectRequested => {
                if !self.wants_connection() {
                    return Vec::new();
                }
                let mut actions = self.drop_link();
                self.retry_at = None;
                self.backoff = None;
                self.reason = "reconnecting on request".into();
                actions.extend(self.connect(now));
                actions
            }
        }
    }

    /// Deadlines: a silent open connection, one without ticks in LIVE, a due retry.
    fn on_time(&mut self, now: Instant, jitter: f64) -> Vec<FeedAction> {
        if let Link::Open { since, fed, ticked } = self.link {
            let threshold = self.settings.stale_threshold;
            let last = self.frame_base(since);
            if now >= last + threshold && !fed {
                // Opened and never sent a frame: a failed attempt, with its backoff.
                self.link = Link::Idle;
                self.link_generation = None;
                let silent = now.duration_since(since).as_secs_f64();
                self.fail(
                    now,
                    jitter,
                    &format!("no frame for {silent:.3} s after opening"),
                );
                return vec![FeedAction::Disconnect];
            }
            if now >= last + threshold {
                self.state = FeedState::Stale;
                self.reason = format!(
                    "no frame for {:.3} s: replacing the connection",
                    now.duration_since(last).as_secs_f64()
                );
                self.link = Link::Idle;
                self.link_generation = None;
                let mut actions = vec![FeedAction::Disconnect];
                actions.extend(self.start_attempt(now));
                return actions;
            }
            let tick_base = self.tick_base(since);
            if self.live && now >= tick_base + threshold {
                // Heartbeats, but no subscribed instrument ticks in continuous trading: the
                // socket lives and the data does not flow.
                let quiet = now.duration_since(self.last_tick_at.unwrap_or(tick_base));
                self.link = Link::Idle;
                self.link_generation = None;
                let mut actions = vec![FeedAction::Disconnect];
                let why = format!(
                    "no tick for {:.3} s in LIVE (heartbeats only)",
                    quiet.as_secs_f64()
                );
                if ticked {
                    // It ticked before: replace it at once.
                    self.state = FeedState::Stale;
                    self.reason = format!("{why}: replacing the connection");
                    actions.extend(self.start_attempt(now));
                } else {
                    // A link that never ticked: the replacement waits a backoff step, so a
                    // market with nothing trading is not a reconnect storm.
                    self.fail(now, jitter, &why);
                    if self.state != FeedState::Error {
                        self.state = FeedState::Stale;
                    }
                }
                return actions;
            }
        }
        match self.retry_at {
            Some(at) if now >= at => {
                self.retry_at = None;
                self.backoff = None;
                if self.wants_connection() && self.link == Link::Idle {
                    return self.start_attempt(now);
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Connects or disconnects as the window and the token say.
    fn reconsider(&mut self, now: Instant, why: &str) -> Vec<FeedAction> {
        if !self.wants_connection() {
            if self.window_open && matches!(self.link, Link::Open { .. }) {
                // The token died under an open socket: Kite keeps streaming on it, so keep it
                // until it ends or trading hours do; it is never reopened with that token.
                return Vec::new();
            }
            let mut actions = Vec::new();
            if self.link != Link::Idle {
                actions.push(FeedAction::Disconnect);
            }
            self.link = Link::Idle;
            self.link_generation = None;
            self.failures = 0;
            self.retry_at = None;
            self.backoff = None;
            self.state = FeedState::Disconnected;
            self.reason = if !self.window_open {
                "outside trading hours".into()
            } else if self.generation.is_none() {
                "waiting for a Kite login".into()
            } else {
                "the ticker refused the token: waiting for a new one".into()
            };
            return actions;
        }
        if self.link != Link::Idle || self.retry_at.is_some() {
            return Vec::new();
        }
        self.reason = why.to_string();
        self.connect(now)
    }

    /// Forgets the link (open or being opened): a Disconnect when there was one.
    fn drop_link(&mut self) -> Vec<FeedAction> {
        let had_link = self.link != Link::Idle;
        self.link = Link::Idle;
        self.link_generation = None;
        if had_link {
            vec![FeedAction::Disconnect]
        } else {
            Vec::new()
        }
    }

    fn connect(&mut self, now: Instant) -> Vec<FeedAction> {
        self.state = FeedState::Connecting;
        self.start_attempt(now)
    }

    /// Starts an attempt; the state is left as it is (STALE stays STALE while it is replaced).
    fn start_attempt(&mut self, now: Instant) -> Vec<FeedAction> {
        let Some(generation) = self.generation.filter(|_| self.wants_connection()) else {
            return self.reconsider(now, "");
        };
        if self.state != FeedState::Stale && self.state != FeedState::Error {
            self.state = FeedState::Connecting;
        }
        self.link = Link::Connecting { since: now };
        self.link_generation = Some(generation);
        vec![FeedAction::Connect { generation }]
    }

    /// The failures in a row end once a link has lived a stale threshold while proving itself:
    /// one that opens, sends and drops again keeps backing off.
    fn forgive_failures(&mut self, now: Instant, since: Instant) {
        if now.duration_since(since) >= self.settings.stale_threshold {
            self.failures = 0;
        }
    }

    fn fail(&mut self, now: Instant, jitter: f64, reason: &str) {
        self.failures = self.failures.saturating_add(1);
        self.failures_total = self.failures_total.saturating_add(1);
        let ceiling = self.settings.backoff().after(self.failures);
        let wait = Backoff::jittered(ceiling, jitter);
        self.backoff = Some(wait);
        self.retry_at = Some(now + wait);
        self.state = if self.failures >= self.settings.max_reconnects {
            FeedState::Error
        } else {
            FeedState::Disconnected
        };
        self.reason = format!(
            "{reason}; attempt {} failed, retrying in {:.1} s",
            self.failures,
            wait.as_secs_f64()
        );
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
