//! The auth state machine, without I/O: [`AuthMachine::handle`] takes an event and the current
//! instant, changes the state and returns what the shell must do next.
//!
//! States: REQUIRED (no token), REFRESHING (a token Kite has not confirmed yet, or a login being
//! exchanged), VALID (Kite accepted the token and it is within its expiry rules), EXPIRED (Kite
//! refused the token, or it passed its expiry). Network trouble, 5xx and 429 never change a
//! state towards a login: they are counted and retried.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use marketwarden_core::{AuthHealth, AuthState, ist_wall_clock};

use marketwarden_kite::next_flush_after;

use crate::backoff::Backoff;

/// The conservative age rule: a token older than this is treated as expired, whatever Kite says.
pub const MAX_TOKEN_AGE: TimeDelta = TimeDelta::hours(20);

/// The waits before verifying an unconfirmed token again after network failures: 5 s,
/// doubling, up to a minute.
pub const VERIFY_RETRY: Backoff = Backoff {
    first: Duration::from_secs(5),
    max: Duration::from_secs(60),
};

/// Where a token's issue time comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssueTime {
    /// Recorded when the token was issued (login time, or `ZERODHA_ACCESS_TOKEN_ISSUED_AT`).
    Recorded(DateTime<Utc>),
    /// Unknown: the `.env` file's modification time stands in for it.
    FileModified(DateTime<Utc>),
    /// Unknown, and no file time either (a token from the process environment).
    Unknown,
}

impl IssueTime {
    /// The instant the expiry rules count from.
    pub fn instant(self) -> Option<DateTime<Utc>> {
        match self {
            Self::Recorded(at) | Self::FileModified(at) => Some(at),
            Self::Unknown => None,
        }
    }
}

/// What the machine knows about a token (never the token itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenFacts {
    /// Changes with every new token, so that late answers about an old token are ignored.
    pub generation: u64,
    pub issued: IssueTime,
}

/// Which expiry rule ends a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryRule {
    /// Kite's documented cut-off: the first 06:00 IST after login.
    DailyCutoff,
    /// Older than [`MAX_TOKEN_AGE`].
    MaxAge,
}

impl TokenFacts {
    /// When the token stops being trusted, and by which rule: the earlier of the two.
    pub fn expiry(&self) -> Option<(DateTime<Utc>, ExpiryRule)> {
        let issued = self.issued.instant()?;
        let by_age = issued.checked_add_signed(MAX_TOKEN_AGE)?;
        match next_flush_after(issued) {
            Some(cutoff) if cutoff <= by_age => Some((cutoff, ExpiryRule::DailyCutoff)),
            _ => Some((by_age, ExpiryRule::MaxAge)),
        }
    }

    fn expiry_reason(&self, rule: ExpiryRule) -> String {
        let source = match self.issued {
            IssueTime::FileModified(_) => {
                " (issue time taken from the .env file's modification time)"
            }
            _ => "",
        };
        let issued = self
            .issued
            .instant()
            .map(|at| ist_wall_clock(at).format("%Y-%m-%d %H:%M IST").to_string())
            .unwrap_or_default();
        match rule {
            ExpiryRule::DailyCutoff => {
                format!("the token issued {issued} passed Kite's 06:00 IST cut-off{source}")
            }
            ExpiryRule::MaxAge => format!(
                "the token issued {issued} is older than {} h{source}",
                MAX_TOKEN_AGE.num_hours()
            ),
        }
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthEvent {
    /// A token was found (at start, or in an edited `.env`); `user_id` is unknown until verified.
    TokenLoaded(TokenFacts),
    /// There is no token (none saved, or it was removed from `.env`).
    TokenMissing,
    /// Someone wants the token checked with Kite.
    VerifyRequested,
    /// Kite accepted the token of `generation`.
    Verified { generation: u64, user_id: String },
    /// Kite refused the token of `generation` (403 / TokenException, over REST or at the ticker
    /// handshake).
    Rejected { generation: u64, reason: String },
    /// Kite could not be asked about the token of `generation` (network, timeout, 5xx, 429).
    Unreachable { generation: u64, reason: String },
    /// A login's request token is being exchanged.
    ExchangeStarted,
    /// The exchange failed; nothing changes but the count of failures.
    ExchangeFailed { reason: String },
    /// A login succeeded with a new token.
    LoggedIn { token: TokenFacts, user_id: String },
    /// The trader logged out.
    LoggedOut,
    /// Time passed: apply the expiry rules.
    ClockTick,
}

/// What the shell must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthAction {
    /// Ask Kite about the token of `generation` now.
    Verify { generation: u64 },
    /// Ask again after `after` (an unconfirmed token met a network failure).
    RetryVerify { generation: u64, after: Duration },
}

/// A change of state, for the log line `AUTH STATE: <STATE> (<reason>)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: AuthState,
    pub to: AuthState,
    pub reason: String,
}

/// The machine's result for one event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Step {
    pub actions: Vec<AuthAction>,
    pub transition: Option<Transition>,
}

/// The auth machine's state.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthMachine {
    state: AuthState,
    token: Option<TokenFacts>,
    /// Kite accepted the current token at least once.
    confirmed: bool,
    verify_in_flight: bool,
    /// The state to return to when an exchange fails.
    before_exchange: Option<AuthState>,
    consecutive_failures: u32,
    failures_total: u64,
    last_verified_at: Option<DateTime<Utc>>,
    user_id: Option<String>,
    reason: String,
    /// EXPIRED by this machine's clock alone (the cut-off or the age rule), not by Kite: the
    /// clock may have jumped, so Kite is asked before the expiry is final.
    expired_by_clock: bool,
    /// Kite accepted the token after the clock said it had expired: the clock is wrong, and
    /// only Kite decides for this token from now on (the 15-minute re-checks).
    clock_overruled: bool,
    /// Kite was asked about the current expiry by the clock.
    clock_expiry_asked: bool,
    /// False once the shell saw the wall clock jump (it left the monotonic clock): an expiry it
    /// decides is then put to Kite instead of being final.
    clock_trusted: bool,
}

impl Default for AuthMachine {
    fn default() -> Self {
        Self::new()
    }
}

impl AuthMachine {
    /// A machine with no token: REQUIRED.
    pub fn new() -> Self {
        Self {
            state: AuthState::Required,
            token: None,
            confirmed: false,
            verify_in_flight: false,
            before_exchange: None,
            consecutive_failures: 0,
            failures_total: 0,
            last_verified_at: None,
            user_id: None,
            reason: "no access token yet: log in to Kite".into(),
            expired_by_clock: false,
            clock_overruled: false,
            clock_expiry_asked: false,
            clock_trusted: true,
        }
    }

    /// Whether the wall clock kept time with the monotonic one (the shell measures it). An
    /// expiry decided by an untrusted clock is only provisional: Kite is asked.
    pub fn trust_clock(&mut self, trusted: bool) {
        self.clock_trusted = trusted;
    }

    /// True when the token is EXPIRED by the clock alone and Kite has not been asked yet: the
    /// shell asks (a clock that jumped forward must not end a good session for good).
    pub fn wants_kite_to_confirm_expiry(&self) -> bool {
        self.expired_by_clock && !self.clock_expiry_asked && !self.verify_in_flight
    }

    /// Gives the current token a new generation: answers about the old number are ignored
    /// from now on, and the ticker takes it for a token it has not tried.
    pub fn renumber(&mut self, generation: u64) {
        if let Some(token) = self.token.as_mut() {
            token.generation = generation;
        }
    }

    /// True while the token is EXPIRED by the clock alone (Kite has not refused it).
    pub fn is_expired_by_clock(&self) -> bool {
        self.expired_by_clock
    }

    pub fn state(&self) -> AuthState {
        self.state
    }

    /// The current token's facts, if there is a token.
    pub fn token(&self) -> Option<TokenFacts> {
        self.token
    }

    /// True when the current token may be used (for the ticker): present and not refused or
    /// expired.
    pub fn token_is_usable(&self) -> bool {
        self.token.is_some() && matches!(self.state, AuthState::Valid | AuthState::Refreshing)
    }

    /// When the expiry rules next need checking.
    pub fn next_expiry(&self) -> Option<DateTime<Utc>> {
        if !self.token_is_usable() || self.clock_overruled {
            // Past an expiry Kite overruled, only Kite decides: no deadline to wake up for.
            return None;
        }
        self.token?.expiry().map(|(at, _)| at)
    }

    /// Applies `event` at `now`.
    pub fn handle(&mut self, event: AuthEvent, now: DateTime<Utc>) -> Step {
        let from = self.state;
        let actions = self.apply(event, now);
        let transition = (self.state != from).then(|| Transition {
            from,
            to: self.state,
            reason: self.reason.clone(),
        });
        Step {
            actions,
            transition,
        }
    }

    fn apply(&mut self, event: AuthEvent, now: DateTime<Utc>) -> Vec<AuthAction> {
        // The expiry rules come first: no event brings back a token past its expiry.
        if let AuthEvent::TokenLoaded(token) = &event {
            *self = Self {
                clock_trusted: self.clock_trusted,
                token: Some(*token),
                consecutive_failures: self.consecutive_failures,
                failures_total: self.failures_total,
                last_verified_at: self.last_verified_at,
                ..Self::new()
            };
            if self.expire_if_due(now) {
                return Vec::new();
            }
            self.state = AuthState::Refreshing;
            self.verify_in_flight = true;
            self.reason = "a new token was found: checking it with Kite".into();
            return vec![AuthAction::Verify {
                generation: token.generation,
            }];
        }
        if let AuthEvent::LoggedIn { token, user_id } = event {
            *self = Self {
                clock_trusted: self.clock_trusted,
                state: AuthState::Valid,
                token: Some(token),
                confirmed: true,
                last_verified_at: Some(now),
                reason: format!("logged in to Kite as {user_id}"),
                user_id: Some(user_id),
                failures_total: self.failures_total,
                ..Self::new()
            };
            self.expire_if_due(now);
            return Vec::new();
        }
        if self.expire_if_due(now) {
            // A token expired by the clock alone may still be checked with Kite, whose answer
            // to a question asked after the expiry decides; anything else leaves it expired.
            let kite_decides = self.expired_by_clock
                && match event {
                    AuthEvent::VerifyRequested => true,
                    AuthEvent::Verified { .. }
                    | AuthEvent::Rejected { .. }
                    | AuthEvent::Unreachable { .. } => self.clock_expiry_asked,
                    _ => false,
                };
            if !kite_decides {
                return Vec::new();
            }
        }
        match event {
            AuthEvent::TokenLoaded(_) | AuthEvent::LoggedIn { .. } | AuthEvent::ClockTick => {
                Vec::new()
            }
            AuthEvent::TokenMissing => {
                *self = Self {
                    clock_trusted: self.clock_trusted,
                    consecutive_failures: self.consecutive_failures,
                    failures_total: self.failures_total,
                    last_verified_at: self.last_verified_at,
                    reason: "no access token in the .env file: log in to Kite".into(),
                    ..Self::new()
                };
                Vec::new()
            }
            AuthEvent::LoggedOut => {
                *self = Self {
                    clock_trusted: self.clock_trusted,
                    reason: "logged out".into(),
                    failures_total: self.failures_total,
                    ..Self::new()
                };
                Vec::new()
            }
            AuthEvent::VerifyRequested => self.request_verify(),
            AuthEvent::Verified {
                generation,
                user_id,
            } => {
                if !self.is_current(generation) {
                    return Vec::new();
                }
                self.verify_in_flight = false;
                self.confirmed = true;
                self.consecutive_failures = 0;
                self.last_verified_at = Some(now);
                self.state = AuthState::Valid;
                self.reason = format!("Kite accepted the token of {user_id}");
                if self.expired_by_clock {
                    self.expired_by_clock = false;
                    self.clock_overruled = true;
                    self.reason = format!(
                        "Kite still accepts the token of {user_id}, although by this server's \
                         clock it has expired: the clock may have jumped; Kite decides from now on"
                    );
                }
                self.user_id = Some(user_id);
                Vec::new()
            }
            AuthEvent::Rejected { generation, reason } => {
                if !self.is_current(generation) {
                    return Vec::new();
                }
                self.verify_in_flight = false;
                self.count_failure();
                self.state = AuthState::Expired;
                self.reason = if self.expired_by_clock {
                    format!("{}; Kite confirmed it: {reason}", self.reason)
                } else {
                    format!("Kite refused the token: {reason}")
                };
                self.expired_by_clock = false;
                Vec::new()
            }
            AuthEvent::Unreachable { generation, reason } => {
                if !self.is_current(generation) {
                    return Vec::new();
                }
                self.verify_in_flight = false;
                self.count_failure();
                if self.confirmed {
                    // Kite accepted this token before; a network failure says nothing new.
                    return Vec::new();
                }
                self.reason = format!(
                    "cannot check the token with Kite ({reason}): retrying, the token is kept"
                );
                vec![AuthAction::RetryVerify {
                    generation,
                    after: VERIFY_RETRY.after(self.consecutive_failures),
                }]
            }
            AuthEvent::ExchangeStarted => {
                if self.before_exchange.is_none() {
                    self.before_exchange = Some(self.state);
                }
                self.state = AuthState::Refreshing;
                self.reason = "exchanging a login with Kite".into();
                Vec::new()
            }
            AuthEvent::ExchangeFailed { reason } => {
                self.count_failure();
                if let Some(before) = self.before_exchange.take() {
                    self.state = before;
                    self.reason = format!("the login failed: {reason}");
                }
                Vec::new()
            }
        }
    }

    fn request_verify(&mut self) -> Vec<AuthAction> {
        let Some(token) = self.token else {
            return Vec::new();
        };
        if self.verify_in_flight || self.before_exchange.is_some() {
            return Vec::new();
        }
        self.verify_in_flight = true;
        if self.expired_by_clock {
            self.clock_expiry_asked = true;
        }
        if self.state != AuthState::Valid && !self.expired_by_clock {
            // A VALID token stays VALID while it is re-checked; an expired one stays EXPIRED
            // until Kite says otherwise; anything else is being refreshed.
            self.state = AuthState::Refreshing;
            self.reason = "checking the token with Kite".into();
        }
        vec![AuthAction::Verify {
            generation: token.generation,
        }]
    }

    fn count_failure(&mut self) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.failures_total = self.failures_total.saturating_add(1);
    }

    fn is_current(&self, generation: u64) -> bool {
        self.token
            .is_some_and(|token| token.generation == generation)
    }

    /// Moves to EXPIRED when the token passed an expiry rule; true when it did so now or before.
    fn expire_if_due(&mut self, now: DateTime<Utc>) -> bool {
        let Some(token) = self.token else {
            return false;
        };
        if self.clock_overruled {
            return false;
        }
        let Some((at, rule)) = token.expiry() else {
            return false;
        };
        if now < at {
            return false;
        }
        if self.state != AuthState::Expired {
            self.state = AuthState::Expired;
            self.verify_in_flight = false;
            self.before_exchange = None;
            self.expired_by_clock = !self.clock_trusted;
            self.clock_expiry_asked = false;
            self.reason = token.expiry_reason(rule);
        }
        true
    }

    /// The `auth` object of the health API at `now`.
    pub fn health(&self, now: DateTime<Utc>) -> AuthHealth {
        let issued = self.token.and_then(|token| token.issued.instant());
        let age_hours = issued.map(|issued| {
            let seconds = (now - issued).num_milliseconds() as f64 / 1000.0;
            (seconds / 36.0).round() / 100.0
        });
        AuthHealth {
            token_age_hours: age_hours,
            consecutive_failures: self.consecutive_failures,
            failures_total: self.failures_total,
            last_verified_at: self.last_verified_at,
            expires_at: self
                .token
                .and_then(|token| token.expiry())
                .map(|(at, _)| at),
            user_id: self.user_id.clone(),
            reason: self.reason.clone(),
            ..AuthHealth::in_state(self.state)
        }
    }
}

/// A VALID token is re-checked with Kite this often, so a token killed elsewhere (a login on
/// another Kite app, a master logout) is noticed even without a feed.
pub const REVERIFY_INTERVAL: Duration = Duration::from_secs(15 * 60);

impl AuthMachine {
    /// Whether the 15-minute re-check asks Kite now: for a valid token; for one expired by the
    /// clock alone (Kite decides, at each re-check while it cannot be reached); and for a token
    /// only the ticker refused (Kite may still accept it; the ticker then gets it back).
    pub fn wants_recheck(&self, ticker_refused: bool) -> bool {
        self.state() == AuthState::Valid || self.is_expired_by_clock() || ticker_refused
    }
}

/// Where the token in use came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    None,
    EnvFile,
    Environment,
    Login,
}

/// What to do when the env file holds no token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileWithoutToken {
    /// At start, with `ZERODHA_ACCESS_TOKEN` set: use it (its issue time is unknown).
    UseEnvironmentToken,
    /// At start, without one: wait for a login.
    WaitForLogin,
    /// Later, when the token in use came from the file or a login: it was removed on purpose.
    ForgetToken,
    /// Later, when the token in use came from the environment: the file never held it.
    KeepToken,
}

/// Which token source wins when the env file holds none: the file's own loss wins over the
/// environment once running (removing the line is how an operator logs out by hand); the
/// environment is only a starting point.
pub fn when_the_file_has_no_token(
    at_start: bool,
    source: TokenSource,
    environment_token: bool,
) -> FileWithoutToken {
    match (at_start, environment_token, source) {
        (true, true, _) => FileWithoutToken::UseEnvironmentToken,
        (true, false, _) => FileWithoutToken::WaitForLogin,
        (false, _, TokenSource::EnvFile | TokenSource::Login) => FileWithoutToken::ForgetToken,
        (false, _, TokenSource::Environment | TokenSource::None) => FileWithoutToken::KeepToken,
    }
}

/// The issue time of a new token found in the env file. The recorded time counts only when it
/// belongs to this token: read at start, or changed together with the token (an issue-time line
/// that stayed while the token changed belongs to the old token: an operator pasted only the
/// token). Otherwise the file's modification time stands in.
pub fn issue_time_of_file_token(
    at_start: bool,
    recorded_line_changed: bool,
    recorded: Option<DateTime<Utc>>,
    modified: Option<DateTime<Utc>>,
) -> IssueTime {
    match (recorded, modified) {
        (Some(at), _) if at_start || recorded_line_changed => IssueTime::Recorded(at),
        (_, Some(modified)) => IssueTime::FileModified(modified),
        _ => IssueTime::Unknown,
    }
}

/// A session for another Kite user than `ZERODHA_USER_ID`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrongUser {
    pub expected: String,
    pub actual: String,
}

/// Judges a finished token exchange: another user's session is refused (the shell gives it
/// back to Kite); ours counts from Kite's login time, or from `now` when Kite's is missing or
/// in the future (a clock ahead of ours must not make the token look younger than it is).
///
/// # Errors
///
/// [`WrongUser`] when `expected_user` is set and is not `user_id` (case aside).
pub fn judge_session(
    expected_user: Option<&str>,
    user_id: &str,
    login_time: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<IssueTime, WrongUser> {
    if let Some(expected) = expected_user
        && !expected.eq_ignore_ascii_case(user_id)
    {
        return Err(WrongUser {
            expected: expected.to_string(),
            actual: user_id.to_string(),
        });
    }
    Ok(IssueTime::Recorded(
        login_time.filter(|at| *at <= now).unwrap_or(now),
    ))
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
