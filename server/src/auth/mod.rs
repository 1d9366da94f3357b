//! The auth machine's async shell: it loads and saves the token in `.env`, asks Kite about it,
//! runs the login flow, keeps time for the expiry rules and tells the feed which token to use.
//!
//! Every decision is the pure [`machine::AuthMachine`]'s; this module only does the I/O.

pub mod broker;
pub mod envfile;
pub mod login;
pub mod machine;
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
use machine::{AuthAction, AuthEvent, AuthMachine, IssueTime, TokenFacts};
use marketwarden_kite::Secret;
use marketwarden_kite::rest::KiteError;

/// The verify endpoint asks Kite at most this often; callers in between get the last answer.
pub const VERIFY_MIN_INTERVAL: Duration = Duration::from_secs(5);

/// How far the wall clock may drift from the monotonic clock before it counts as a jump.
pub const CLOCK_JUMP_TOLERANCE: TimeDelta = TimeDelta::seconds(60);

/// A VALID token is re-checked with Kite this often, so a token killed elsewhere (a login on
/// another Kite app, a master logout) is noticed even without a feed.
pub const REVERIFY_INTERVAL: Duration = Duration::from_secs(15 * 60);

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TokenSource {
    None,
    EnvFile,
    Environment,
    Login,
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

    /// True when the wall clock has left the monotonic one by more than
    /// [`CLOCK_JUMP_TOLERANCE`] since the start: an NTP step, a laptop that slept. Expiries the
    /// wall clock decides are then checked with Kite.
    fn clock_jumped(&self) -> bool {
        let (wall_start, monotonic_start) = *self
            .clock_reference
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let wall = self.clock.now() - wall_start;
        let monotonic = TimeDelta::from_std(Instant::now() - monotonic_start).unwrap_or(wall);
        (wall - monotonic).abs() > CLOCK_JUMP_TOLERANCE
    }

    /// Records whether the token in use is saved, and tells the event streams when that changes
    /// (the banner shows an unsaved token).
    fn set_save_failure(&self, failure: Option<String>) {
        let changed = {
            let mut inner = self.lock();
            let changed = inner.save_failure != failure;
            inner.save_failure = failure;
            changed
        };
        if changed {
            self.changes.send_modify(|count| *count += 1);
        }
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

    /// `POST /api/system/health/auth/verify`: asks Kite now, unless it was asked less than
    /// [`VERIFY_MIN_INTERVAL`] ago; concurrent callers share one call. Answers with the state
    /// after the check.
    pub async fn verify(self: &Arc<Self>) -> AuthHealth {
        let mut gate = self.verify_gate.lock().await;
        let recently = gate.is_some_and(|last| last.elapsed() < VERIFY_MIN_INTERVAL);
        if !recently {
            let actions = self.apply(AuthEvent::VerifyRequested);
            if let Some(generation) = verification_in(&actions) {
                self.ask_kite(generation, &mut gate).await;
            }
        }
        drop(gate);
        self.health()
    }

    /// Starts a login: a one-time state and the Kite login URL that carries it.
    pub fn begin_login(&self) -> LoginStart {
        let state = self.logins().issue(tokio::time::Instant::now());
        let url = self.broker.login_url(&[("state", state.as_str())]);
        LoginStart { state, url }
    }

    /// Finishes a login from Kite's redirect: checks the state against the browser's cookie and
    /// the pending logins, exchanges the request token, checks the user, saves the token.
    ///
    /// # Errors
    ///
    /// See [`LoginError`]; on any error nothing changes but the failure count.
    pub async fn complete_login(
        self: &Arc<Self>,
        query: &[(String, String)],
        browser_state: Option<&str>,
    ) -> Result<AuthHealth, LoginError> {
        let callback = login::Callback::from_query(query)?;
        self.logins()
            .redeem(&callback.state, browser_state, tokio::time::Instant::now())?;
        self.apply(AuthEvent::ExchangeStarted);
        let session = match self.broker.exchange(&callback.request_token).await {
            Ok(session) => session,
            Err(error) => {
                self.apply(AuthEvent::ExchangeFailed {
                    reason: error.to_string(),
                });
                return Err(if error.is_token_failure() {
                    LoginError::Refused(error.to_string())
                } else {
                    LoginError::Unreachable(error.to_string())
                });
            }
        };
        if let Some(expected) = &self.config.expected_user_id
            && !expected.eq_ignore_ascii_case(&session.user_id)
        {
            // Not ours to keep: give the session back to Kite.
            if let Err(error) = self.broker.logout(&session.access_token).await {
                tracing::warn!(%error, "cannot invalidate the refused session at Kite");
            }
            let error = LoginError::WrongUser {
                expected: expected.clone(),
                actual: session.user_id.clone(),
            };
            self.apply(AuthEvent::ExchangeFailed {
                reason: error.to_string(),
            });
            return Err(error);
        }
        let now = self.clock.now();
        let issued_at = parse_login_time(&session.login_time)
            .filter(|at| *at <= now)
            .unwrap_or(now);
        {
            let mut inner = self.lock();
            let generation = inner.take_generation();
            inner.token = Some(session.access_token.clone());
            inner.source = TokenSource::Login;
            inner.retry = None;
            let step = inner.machine.handle(
                AuthEvent::LoggedIn {
                    token: TokenFacts {
                        generation,
                        issued: IssueTime::Recorded(issued_at),
                    },
                    user_id: session.user_id.clone(),
                },
                now,
            );
            log_transition(step.transition.as_ref());
            self.publish(&inner);
        }
        self.save_token(&session.access_token, issued_at).await;
        Ok(self.health())
    }

    /// `POST /auth/logout`: invalidates the token at Kite (when it can be reached) and locally,
    /// and removes it from `.env`. Answers with the new state and whether Kite confirmed.
    pub async fn logout(self: &Arc<Self>) -> (AuthHealth, bool) {
        let token = self.lock().token.clone();
        let mut invalidated_at_kite = false;
        if let Some(token) = &token {
            match self.broker.logout(token).await {
                Ok(()) => invalidated_at_kite = true,
                // A dead token cannot be used by anyone: nothing more to do at Kite.
                Err(error) if error.is_token_failure() => invalidated_at_kite = true,
                Err(error) => tracing::warn!(
                    %error,
                    "cannot reach Kite to invalidate the token; it is forgotten here anyway"
                ),
            }
        }
        {
            let mut inner = self.lock();
            inner.token = None;
            inner.source = TokenSource::None;
            inner.retry = None;
            let step = inner.machine.handle(AuthEvent::LoggedOut, self.clock.now());
            log_transition(step.transition.as_ref());
            self.publish(&inner);
        }
        if let Some(hook) = self.logout_hook.get() {
            hook();
        }
        self.remove_saved_token().await;
        (self.health(), invalidated_at_kite)
    }

    /// Reads `.env` and acts on what changed. A file with problems is reported and, unless at
    /// start, changes nothing.
    pub async fn reload_env_file(self: &Arc<Self>, cause: ReloadCause) {
        let path = self.config.env_file.clone();
        let read = tokio::task::spawn_blocking(move || envfile::read(&path)).await;
        let snapshot = match read {
            Ok(Ok(snapshot)) => snapshot,
            Ok(Err(error)) => {
                tracing::error!(
                    path = %self.config.env_file.display(),
                    %error,
                    "cannot read the .env file; the current token stays"
                );
                return;
            }
            Err(error) => {
                tracing::error!(%error, "the .env reader failed; the current token stays");
                return;
            }
        };
        let Some(snapshot) = snapshot else {
            if cause == ReloadCause::FileChanged && self.keep_token_of_a_deleted_file() {
                return;
            }
            self.no_token_in_file(cause, "there is no .env file");
            return;
        };
        if !snapshot.file.problems().is_empty() {
            let problems: Vec<String> = snapshot
                .file
                .problems()
                .iter()
                .map(ToString::to_string)
                .collect();
            let problems = problems.join("; ");
            if cause == ReloadCause::FileChanged {
                tracing::error!(
                    path = %self.config.env_file.display(),
                    %problems,
                    "the edited .env file has lines that do not parse; it is ignored until \
                     fixed and the current token stays"
                );
                return;
            }
            tracing::warn!(
                path = %self.config.env_file.display(),
                %problems,
                "the .env file has lines that do not parse; they are ignored"
            );
        }
        let Some(token) = snapshot.file.get_non_blank(ACCESS_TOKEN_KEY) else {
            self.no_token_in_file(cause, "the .env file holds no ZERODHA_ACCESS_TOKEN");
            return;
        };
        let token = Secret::new(token.trim());
        let issued_text = snapshot
            .file
            .get_non_blank(ISSUED_AT_KEY)
            .map(str::to_string);
        let now = self.clock.now();
        let mut inner = self.lock();
        if inner.token.as_ref() == Some(&token) {
            inner.seen_issued_at = issued_text;
            drop(inner);
            // The file holds our token again (restored after a deletion): it is saved.
            self.set_save_failure(None);
            return;
        }
        inner.save_failure = None;
        // An issue time that did not change while the token did belongs to the old token.
        let issue_time_is_fresh =
            cause == ReloadCause::Start || issued_text != inner.seen_issued_at;
        let issued = match (snapshot.file.issued_at(), snapshot.modified_at) {
            (Some(at), _) if issue_time_is_fresh => IssueTime::Recorded(at),
            (_, Some(modified)) => IssueTime::FileModified(modified),
            _ => IssueTime::Unknown,
        };
        tracing::info!(
            path = %self.config.env_file.display(),
            "found a new access token in the .env file"
        );
        let generation = inner.take_generation();
        inner.token = Some(token);
        inner.source = TokenSource::EnvFile;
        inner.retry = None;
        inner.seen_issued_at = issued_text;
        let step = inner.machine.handle(
            AuthEvent::TokenLoaded(TokenFacts { generation, issued }),
            now,
        );
        log_transition(step.transition.as_ref());
        self.publish(&inner);
        drop(inner);
        self.dispatch(step.actions);
    }

    /// The env file disappeared (deleted or moved) while a usable token is in use. A moved file
    /// is no logout: the session goes on with the token in memory, and the auth object and the
    /// banner say it will not survive a restart (as for a failed save) until the file is back
    /// or the next login writes a new one. Removing the token's line from the file is the way to
    /// log out by hand. Returns false when there is no usable token to keep.
    fn keep_token_of_a_deleted_file(&self) -> bool {
        if !self.lock().machine.token_is_usable() {
            return false;
        }
        tracing::warn!(
            path = %self.config.env_file.display(),
            "the .env file was deleted or moved: the token stays in use, in memory only; restore \
             the file or log in again to keep it across a restart"
        );
        self.set_save_failure(Some(
            "the env file was deleted or moved: the token is kept in memory only".into(),
        ));
        true
    }

    /// `.env` has no token: at start, fall back to the process environment; later, the token
    /// was removed on purpose.
    fn no_token_in_file(self: &Arc<Self>, cause: ReloadCause, why: &str) {
        let mut inner = self.lock();
        let now = self.clock.now();
        let event = match (cause, &self.config.environment_token) {
            (ReloadCause::Start, Some(token)) => {
                tracing::info!("{why}: using ZERODHA_ACCESS_TOKEN from the environment");
                let generation = inner.take_generation();
                inner.token = Some(token.clone());
                inner.source = TokenSource::Environment;
                AuthEvent::TokenLoaded(TokenFacts {
                    generation,
                    issued: IssueTime::Unknown,
                })
            }
            (ReloadCause::Start, None) => {
                tracing::info!("{why}: log in to Kite to get a token");
                return;
            }
            (ReloadCause::FileChanged, _) => {
                if !matches!(inner.source, TokenSource::EnvFile | TokenSource::Login) {
                    return;
                }
                tracing::info!("{why} any more: the token was removed");
                inner.token = None;
                inner.source = TokenSource::None;
                inner.retry = None;
                AuthEvent::TokenMissing
            }
        };
        let step = inner.machine.handle(event, now);
        log_transition(step.transition.as_ref());
        self.publish(&inner);
        drop(inner);
        self.dispatch(step.actions);
    }

    /// Wakes up for the expiry rules, retries and periodic re-checks.
    async fn keep_time(self: Arc<Self>, shutdown: CancellationToken) {
        let mut next_recheck = Instant::now() + REVERIFY_INTERVAL;
        loop {
            let now = Instant::now();
            let (expiry, retry) = {
                let inner = self.lock();
                (inner.machine.next_expiry(), inner.retry)
            };
            let until_expiry = expiry.map(|at| self.clock.timer_for(at, now));
            let deadline = self.clock.wake_at(
                [until_expiry, retry.map(|(_, at)| at), Some(next_recheck)]
                    .into_iter()
                    .flatten(),
                now,
            );
            tokio::select! {
                () = shutdown.cancelled() => return,
                // Woken (a new deadline, or an expiry to put to Kite): the checks below run if due.
            () = self.wake.notified() => {}
                () = sleep_until(deadline) => {}
            }
            self.apply(AuthEvent::ClockTick);
            let now = Instant::now();
            let retry_due = {
                let mut inner = self.lock();
                match inner.retry {
                    Some((generation, at)) if at <= now => {
                        inner.retry = None;
                        inner
                            .machine
                            .token()
                            .is_some_and(|t| t.generation == generation)
                    }
                    _ => false,
                }
            };
            let recheck_due = next_recheck <= now;
            if recheck_due {
                next_recheck = now + REVERIFY_INTERVAL;
            }
            let (recheck_wanted, first_check) = {
                let inner = self.lock();
                (
                    inner.machine.state() == AuthState::Valid
                        || inner.machine.is_expired_by_clock()
                        || inner.ticker_refused.is_some(),
                    inner.machine.wants_kite_to_confirm_expiry(),
                )
            };
            // The 15-minute re-check: a valid token; an expiry by the clock alone (put to Kite
            // at once, then at each re-check while Kite cannot be reached); a token only the
            // ticker refused (Kite may still accept it: the ticker then gets it back).
            if retry_due || (recheck_due && recheck_wanted) || first_check {
                let actions = self.apply(AuthEvent::VerifyRequested);
                self.dispatch(actions);
            }
        }
    }

    /// Reloads `.env` after each change the watcher reports.
    async fn follow_file_changes(
        self: Arc<Self>,
        mut changes: watcher::FileChanges,
        shutdown: CancellationToken,
    ) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = changes.next() => {
                    if !changed {
                        return;
                    }
                }
            }
            self.reload_env_file(ReloadCause::FileChanged).await;
        }
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

    async fn save_token(&self, token: &Secret, issued_at: DateTime<Utc>) {
        let _writing = self.file_lock.lock().await;
        let path = self.config.env_file.clone();
        let token = token.clone();
        let written = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
            let current = envfile::read(&path)?
                .map(|snapshot| snapshot.file)
                .unwrap_or_default();
            refuse_lossy_rewrite(&current)?;
            let text = current.with_token(token.expose(), issued_at);
            envfile::write_atomically(&path, text.as_bytes())?;
            Ok(envfile::EnvFile::parse(&text)
                .get(ISSUED_AT_KEY)
                .unwrap_or_default()
                .to_string())
        })
        .await;
        match written {
            Ok(Ok(issued_text)) => {
                self.lock().seen_issued_at = Some(issued_text);
                self.set_save_failure(None);
                tracing::info!(path = %self.config.env_file.display(), "access token saved");
            }
            Ok(Err(error)) => {
                tracing::error!(
                    path = %self.config.env_file.display(),
                    %error,
                    "cannot save the access token: it works until a restart, then a login is needed"
                );
                // The folder stays out of the answer: the kind of failure is what helps.
                self.set_save_failure(Some(format!(
                    "cannot write the env file ({})",
                    error.kind()
                )));
            }
            Err(error) => {
                tracing::error!(%error, "the .env writer failed");
                self.set_save_failure(Some("the env file writer failed".into()));
            }
        }
    }

    async fn remove_saved_token(&self) {
        let _writing = self.file_lock.lock().await;
        let path = self.config.env_file.clone();
        let removed = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let Some(current) = envfile::read(&path)? else {
                return Ok(());
            };
            if current.file.get(ACCESS_TOKEN_KEY).is_none()
                && current.file.get(ISSUED_AT_KEY).is_none()
            {
                return Ok(());
            }
            refuse_lossy_rewrite(&current.file)?;
            envfile::write_atomically(&path, current.file.without_token().as_bytes())
        })
        .await;
        match removed {
            Ok(Ok(())) => {
                self.lock().seen_issued_at = None;
            }
            Ok(Err(error)) => tracing::error!(
                path = %self.config.env_file.display(),
                %error,
                "cannot remove the access token from the .env file"
            ),
            Err(error) => tracing::error!(%error, "the .env writer failed"),
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

/// A file that is not UTF-8 cannot be rewritten byte for byte: leave it to the operator.
fn refuse_lossy_rewrite(file: &envfile::EnvFile) -> std::io::Result<()> {
    if file.can_rewrite() {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the file is not UTF-8 text, so it is left as it is",
        ))
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

/// Kite's `login_time` (`yyyy-mm-dd hh:mm:ss`, IST).
fn parse_login_time(text: &str) -> Option<DateTime<Utc>> {
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").ok()?;
    ist_to_utc(local.date(), local.time())
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
