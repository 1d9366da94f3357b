//! The auth machine's async shell: it loads and saves the token in `.env`, asks Kite about it,
//! runs the login flow, keeps time for the expiry rules and tells the feed which token to use.
//!
//! Every decision is the pure [`machine::AuthMachine`]'s; this module only does the I/O.

pub mod broker;
pub mod envfile;
pub mod login;
pub mod machine;
mod session;
mod timekeeping;
mod token_store;
pub mod watcher;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use marketwarden_core::{AuthHealth, AuthState, ist_to_utc};
use tokio::sync::{Notify, watch};
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

pub use login::{LOGIN_STATE_COOKIE, LOGIN_STATE_TTL, LoginError, LoginStart};

use crate::clock::{Clock, Timers};
use crate::supervise::Supervisor;
use broker::AuthBroker;
use envfile::{ACCESS_TOKEN_KEY, ISSUED_AT_KEY};
use login::PendingLogins;
use machine::{
    AuthAction, AuthEvent, AuthMachine, FileWithoutToken, IssueTime, REVERIFY_INTERVAL, TokenFacts,
    TokenSource, WrongUser,
};
use marketwarden_kite::Secret;
use marketwarden_kite::rest::KiteError;

/// The verify endpoint asks Kite at most this often; callers in between get the last answer.
pub const VERIFY_MIN_INTERVAL: Duration = Duration::from_secs(5);

/// How far the wall clock may drift from the monotonic clock before it counts as a jump.
pub const CLOCK_JUMP_TOLERANCE: TimeDelta = TimeDelta::seconds(60);

/// How the auth shell is set up.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// The Kite Connect app key.
    pub api_key: String,
    /// The `.env` file the token is kept in.
    pub env_file: PathBuf,
    /// When set, a login by any other Kite user is refused.
    pub expected_user_id: Option<String>,
    /// `ZERODHA_ACCESS_TOKEN` from the process environment, used when `.env` holds none.
    pub environment_token: Option<Secret>,
}

/// What the ticker needs to connect. The feed reconnects when `generation` changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TickerCredentials {
    pub api_key: String,
    pub access_token: Secret,
    pub generation: u64,
}

struct Inner {
    machine: AuthMachine,
    token: Option<Secret>,
    source: TokenSource,
    next_generation: u64,
    /// A retry of an unconfirmed token's verification: its generation and when.
    retry: Option<(u64, Instant)>,
    /// The issue-time line as last read or written, to tell an operator's new token (pasted
    /// without a new issue time) from ours.
    seen_issued_at: Option<String>,
    /// The state last announced on `changes`.
    published_state: std::cell::Cell<AuthState>,
    /// Why the token in use could not be saved, until a save succeeds or the token goes.
    save_failure: Option<String>,
    /// The generation the ticker refused (403), until Kite confirms that token again: the
    /// ticker gets it back only then, for one more attempt.
    ticker_refused: Option<u64>,
}

/// The auth machine and everything around it; shared as `Arc<AuthService>`.
pub struct AuthService {
    config: AuthConfig,
    broker: Arc<dyn AuthBroker>,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
    logins: Mutex<PendingLogins>,
    /// Held during every call to Kite's profile endpoint: one at a time, and when the last
    /// finished.
    verify_gate: tokio::sync::Mutex<Option<Instant>>,
    /// Serializes writes of the `.env` file.
    file_lock: tokio::sync::Mutex<()>,
    /// Called after a logout (the feed closes its connection then).
    logout_hook: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// The wall clock and the monotonic clock read together (at start, and again once Kite
    /// settled a jump), to notice jumps.
    clock_reference: Mutex<(DateTime<Utc>, Instant)>,
    wake: Notify,
    credentials: watch::Sender<Option<TickerCredentials>>,
    /// Counts changes of state, for live health pushes.
    changes: watch::Sender<u64>,
}

/// Where a reload of `.env` comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadCause {
    Start,
    FileChanged,
}

impl AuthService {
    /// A service with no token yet (REQUIRED); [`AuthService::start`] loads the saved one.
    pub fn new(
        config: AuthConfig,
        broker: Arc<dyn AuthBroker>,
        clock: Arc<dyn Clock>,
    ) -> Arc<Self> {
        let clock_reference = (clock.now(), Instant::now());
        Arc::new(Self {
            config,
            broker,
            clock,
            clock_reference: Mutex::new(clock_reference),
            logout_hook: std::sync::OnceLock::new(),
            inner: Mutex::new(Inner {
                machine: AuthMachine::new(),
                token: None,
                source: TokenSource::None,
                next_generation: 1,
                retry: None,
                seen_issued_at: None,
                save_failure: None,
                ticker_refused: None,
                published_state: std::cell::Cell::new(AuthState::Required),
            }),
            logins: Mutex::new(PendingLogins::default()),
            verify_gate: tokio::sync::Mutex::new(None),
            file_lock: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            credentials: watch::channel(None).0,
            changes: watch::channel(0).0,
        })
    }

    /// Loads the saved token (and verifies it), then keeps time and watches `.env` until the
    /// supervisor's shutdown.
    pub async fn start(self: &Arc<Self>, supervisor: &Supervisor) {
        let shutdown = supervisor.shutdown().clone();
        envfile::remove_stale_temporaries(&self.config.env_file);
        self.reload_env_file(ReloadCause::Start).await;
        {
            let inner = self.lock();
            if inner.machine.token().is_none() {
                // No transition happened: say where the machine starts.
                let reason = inner.machine.health(self.clock.now()).reason;
                tracing::warn!(%reason, "AUTH STATE: REQUIRED");
            }
        }
        supervisor.spawn_essential("auth timekeeper", self.clone().keep_time(shutdown.clone()));
        match watcher::watch_file(&self.config.env_file) {
            Ok(changes) => {
                supervisor.spawn(
                    "env file watcher",
                    self.clone().follow_file_changes(changes, shutdown),
                );
            }
            Err(error) => tracing::warn!(
                path = %self.config.env_file.display(),
                %error,
                "cannot watch the .env file: edits need a restart to be noticed"
            ),
        }
    }

    /// The `auth` object of the health API, with the expiry rules applied at this instant.
    pub fn health(&self) -> AuthHealth {
        self.apply(AuthEvent::ClockTick);
        let now = self.clock.now();
        let inner = self.lock();
        if inner.machine.wants_kite_to_confirm_expiry() {
            // The rules just expired the token by a clock that jumped: ask Kite now.
            self.wake.notify_one();
        }
        let mut health = inner.machine.health(now);
        if inner.token.is_some() {
            health.token_not_saved = inner.save_failure.clone();
        }
        health
    }

    /// The token the ticker should use; `None` while there is none or it is refused or expired.
    pub fn credentials(&self) -> watch::Receiver<Option<TickerCredentials>> {
        self.credentials.subscribe()
    }

    /// Ticks once per change of state (VALID, EXPIRED, …).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// How many changes of state so far.
    pub fn change_count(&self) -> u64 {
        *self.changes.borrow()
    }

    /// Runs `hook` after every logout (once set; `serve` closes the ticker connection with it).
    pub fn on_logout(&self, hook: Box<dyn Fn() + Send + Sync>) {
        let _ = self.logout_hook.set(hook);
    }

    /// The ticker refused the token of `generation` at its handshake (HTTP 403).
    pub fn report_ticker_rejected(&self, generation: u64) {
        self.lock().ticker_refused = Some(generation);
        self.apply(AuthEvent::Rejected {
            generation,
            reason: "the ticker refused it at the handshake (403)".into(),
        });
    }

    /// Applies `event` now: logs a change of state, schedules retries, publishes the ticker's
    /// credentials. Returns the verifications to start.
    fn apply(&self, event: AuthEvent) -> Vec<AuthAction> {
        let trusted = !self.clock_jumped();
        let mut inner = self.lock();
        inner.machine.trust_clock(trusted);
        let confirmed = match &event {
            AuthEvent::Verified { generation, .. } => Some(*generation),
            _ => None,
        };
        let was_expired_by_clock = inner.machine.is_expired_by_clock();
        let step = inner.machine.handle(event, self.clock.now());
        if was_expired_by_clock && inner.machine.state() == AuthState::Valid {
            // Kite settled the jump for this token: measure the next one from here, so one
            // laptop sleep does not make every later expiry provisional.
            *self
                .clock_reference
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) =
                (self.clock.now(), Instant::now());
        }
        if confirmed.is_some()
            && confirmed == inner.ticker_refused
            && inner.machine.state() == AuthState::Valid
        {
            // Kite confirmed the token the ticker refused: the ticker may try it once more. It
            // gets it under a new generation, which the feed cannot miss (a `watch` keeps only
            // the latest value) and takes for a token it has not tried.
            inner.ticker_refused = None;
            let generation = inner.take_generation();
            inner.machine.renumber(generation);
        }
        log_transition(step.transition.as_ref());
        let mut verifications = Vec::new();
        for action in step.actions {
            match action {
                AuthAction::RetryVerify { generation, after } => {
                    inner.retry = Some((generation, Instant::now() + after));
                    self.wake.notify_one();
                }
                AuthAction::Verify { .. } => verifications.push(action),
            }
        }
        self.publish(&inner);
        verifications
    }

    /// Starts the verifications in `actions` in the background.
    fn dispatch(self: &Arc<Self>, actions: Vec<AuthAction>) {
        if let Some(generation) = verification_in(&actions) {
            let service = self.clone();
            tokio::spawn(async move {
                let mut gate = service.verify_gate.lock().await;
                service.ask_kite(generation, &mut gate).await;
            });
        }
    }

    /// One `GET /user/profile` for the token of `generation`, holding the gate.
    async fn ask_kite(&self, generation: u64, gate: &mut Option<Instant>) {
        let token = {
            let inner = self.lock();
            match (inner.machine.token(), &inner.token) {
                (Some(facts), Some(token)) if facts.generation == generation => token.clone(),
                _ => return,
            }
        };
        let answer = self.broker.profile(&token).await;
        *gate = Some(Instant::now());
        let event = match answer {
            Ok(profile) => AuthEvent::Verified {
                generation,
                user_id: profile.user_id,
            },
            Err(error) => classify(generation, &error),
        };
        let refused_by_kite = matches!(event, AuthEvent::Rejected { .. });
        self.apply(event);
        if refused_by_kite {
            // Kite itself refused it: no point re-checking a token only the ticker refused.
            self.lock().ticker_refused = None;
        }
    }

    fn publish(&self, inner: &Inner) {
        let state = inner.machine.state();
        if inner.published_state.get() != state {
            inner.published_state.set(state);
            self.changes.send_modify(|count| *count += 1);
        }
        let credentials = match (&inner.token, inner.machine.token()) {
            (Some(token), Some(facts))
                if inner.machine.token_is_usable()
                    && inner.ticker_refused != Some(facts.generation) =>
            {
                Some(TickerCredentials {
                    api_key: self.config.api_key.clone(),
                    access_token: token.clone(),
                    generation: facts.generation,
                })
            }
            _ => None,
        };
        self.credentials.send_if_modified(|current| {
            let changed = *current != credentials;
            if changed {
                *current = credentials;
            }
            changed
        });
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn logins(&self) -> MutexGuard<'_, PendingLogins> {
        self.logins
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn take_generation(&mut self) -> u64 {
        let generation = self.next_generation;
        self.next_generation += 1;
        generation
    }
}

fn verification_in(actions: &[AuthAction]) -> Option<u64> {
    actions.iter().find_map(|action| match action {
        AuthAction::Verify { generation } => Some(*generation),
        AuthAction::RetryVerify { .. } => None,
    })
}

/// A failed Kite call, as the machine sees it: only a refused token (403 / TokenException) is
/// an auth failure; network trouble, timeouts, 5xx and 429 are not.
pub fn classify(generation: u64, error: &KiteError) -> AuthEvent {
    if error.is_token_failure() {
        AuthEvent::Rejected {
            generation,
            reason: error.to_string(),
        }
    } else {
        AuthEvent::Unreachable {
            generation,
            reason: error.to_string(),
        }
    }
}

fn log_transition(transition: Option<&machine::Transition>) {
    let Some(transition) = transition else {
        return;
    };
    let to = transition.to.label();
    let from = transition.from.label();
    if transition.to.requires_login() {
        tracing::warn!(from, reason = %transition.reason, "AUTH STATE: {to}");
    } else {
        tracing::info!(from, reason = %transition.reason, "AUTH STATE: {to}");
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
