//! A Kite Connect simulator that behaves like Kite on the wire: the login page, the REST API with
//! Kite's envelopes, statuses and rate limits, and fault injection through `/_sim/faults`. It is
//! the broker of `run` when no Kite credentials are configured, and the peer of every test.
//!
//! It knows only the wire (`marketwarden-kite`), the calendar (`marketwarden-core`) and a
//! [`Clock`]: nothing of marketwarden's machines, so it cannot be told what the client expects.

mod rest;
pub mod ticker;
pub mod tls;
pub mod tokens;

use std::collections::HashSet;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use marketwarden_core::Clock;
use marketwarden_kite::Secret;
use tokens::{RequestTokens, TokenSigner};

pub use rest::router;

/// Requests per second per `api_key` before Kite answers 429 (its limit for everything but
/// quotes, historical data and orders).
pub const REST_REQUESTS_PER_SECOND: u32 = 10;

/// The app the simulator accepts, and the demo user it logs in.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub api_key: String,
    pub api_secret: Secret,
    /// Where the login page sends the browser back, with the request token.
    pub redirect_url: String,
    pub user_id: String,
    pub user_name: String,
    /// How often the ticker sends a frame (ticks or a heartbeat); Kite's is about a second.
    pub tick_interval: Duration,
    /// When the ticker sends ticks (in trading hours) rather than heartbeats: the built-in NSE
    /// calendar, or with `kite-sim --calendar` the same overrides the server is given.
    pub calendar: marketwarden_core::Calendar,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            api_key: "marketwarden_sim".into(),
            api_secret: Secret::new("marketwarden_sim_secret"),
            redirect_url: "http://127.0.0.1:8000/auth/callback".into(),
            user_id: "MW0001".into(),
            user_name: "Demo Trader".into(),
            tick_interval: Duration::from_secs(1),
            calendar: marketwarden_core::Calendar::builtin(),
        }
    }
}

/// Faults the simulator can be told to inject, each on or off (`POST /_sim/faults`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Delay every REST answer by this many milliseconds (longer than 7000 to test timeouts).
    pub slow_rest_ms: u64,
    /// Answer every REST call with 429 Too Many Requests.
    pub rate_limit_storm: bool,
    /// Answer every REST call with 503 NetworkException.
    pub server_errors: bool,
    /// Answer every REST call with an HTML 502, as a proxy in front of Kite would.
    pub html_errors: bool,
    /// Ticker: keep sockets open but send nothing at all, not even heartbeats.
    pub stall: bool,
    /// Ticker: send heartbeats but no ticks.
    pub heartbeats_only: bool,
    /// Ticker: answer new upgrades with 503.
    pub refuse_connections: bool,
    /// Ticker: answer new upgrades with 403, whatever the token.
    pub forbid_upgrades: bool,
    /// Ticker: hold every upgrade this many milliseconds before answering (handshake timeouts).
    pub slow_upgrade_ms: u64,
    /// Ticker: send a WebSocket ping this often (0: never, as Kite, which sends none).
    pub ping_interval_ms: u64,
}

/// A running simulator's state.
pub struct Simulator {
    config: SimConfig,
    clock: Arc<dyn Clock>,
    signer: TokenSigner,
    state: Mutex<SimState>,
    open_connections: AtomicUsize,
    /// Every instrument's market as last streamed, on any connection: what a subscription is
    /// answered with, as Kite answers from its cache.
    last_known: Mutex<std::collections::HashMap<u32, ticker::Instrument>>,
    /// Orders to every open ticker connection.
    commands: tokio::sync::broadcast::Sender<TickerCommand>,
}

/// What the control API can tell every open ticker connection to do.
#[derive(Clone, Debug, PartialEq)]
pub enum TickerCommand {
    /// Drop the TCP connection without a close frame.
    Drop,
    /// Close cleanly with this close code (1000, 1001, …).
    Close(u16),
    /// Send this text frame (an order update, an error, a broker message).
    Send(marketwarden_kite::packet::TextFrame),
}

#[derive(Default)]
struct SimState {
    request_tokens: RequestTokens,
    revoked: HashSet<String>,
    /// Tokens issued at or before this instant are expired (`POST /_sim/expire-tokens`).
    expired_before: Option<DateTime<Utc>>,
    nonce: u32,
    rate_window: (i64, u32),
    faults: Faults,
    /// Every access token issued, so tests can look for them where they must not be.
    issued: Vec<String>,
    /// `GET /user/profile` calls answered.
    profile_calls: u64,
}

impl Simulator {
    /// A simulator for `config`, reading time from `clock`.
    pub fn new(config: SimConfig, clock: Arc<dyn Clock>) -> Arc<Self> {
        let signer = TokenSigner::new(&config.api_key, config.api_secret.expose());
        Arc::new(Self {
            config,
            clock,
            signer,
            state: Mutex::new(SimState::default()),
            open_connections: AtomicUsize::new(0),
            last_known: Mutex::new(std::collections::HashMap::new()),
            commands: tokio::sync::broadcast::Sender::new(16),
        })
    }

    /// The app and user the simulator serves.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.state().faults.clone()
    }

    /// Replaces the faults in force.
    pub fn set_faults(&self, faults: Faults) {
        tracing::info!(?faults, "simulator faults set");
        self.state().faults = faults;
    }

    /// Drops every open ticker connection abruptly, without a close frame.
    pub fn drop_connections(&self) {
        self.command(TickerCommand::Drop);
    }

    /// Tells every open ticker connection to do `command`.
    pub fn command(&self, command: TickerCommand) {
        // No receiver means no open connection: nothing to do.
        let _ = self.commands.send(command);
    }

    /// Ticker connections open now.
    pub fn open_connections(&self) -> usize {
        self.open_connections
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every access token this simulator issued, oldest first.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state().issued.clone()
    }

    /// How many `GET /user/profile` calls reached the simulator.
    pub fn profile_calls(&self) -> u64 {
        self.state().profile_calls
    }

    /// Expires every access token issued so far, as Kite's daily flush does.
    pub fn expire_tokens_now(&self) {
        let now = self.clock.now();
        self.state().expired_before = Some(now);
    }

    /// True if `token` is a live access token: signed by this app, not logged out, not past its
    /// 06:00 IST expiry, not flushed.
    pub fn access_token_is_valid(&self, token: &str) -> bool {
        let Some(claims) = self.signer.verify(token) else {
            return false;
        };
        let now = self.clock.now();
        let state = self.state();
        !state.revoked.contains(token)
            && now < claims.expires_at
            && state
                .expired_before
                .is_none_or(|flush| claims.issued_at > flush)
    }

    fn state(&self) -> MutexGuard<'_, SimState> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}
