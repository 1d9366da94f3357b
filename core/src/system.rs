//! The whole health answer (`GET /api/system/health`) and the priority rule that picks what the
//! banner shows first. One rule, used by the server for the JSON and by the browser when it has
//! lost the server.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::MarketHealth;

/// What the banner shows first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PriorityStatus {
    /// The Kite access token is expired or missing: the trader must log in.
    AuthRequired,
    /// The ticker feed is down during trading hours.
    FeedDisconnected,
    /// Nothing is wrong: the market session is the news.
    MarketSession,
}

impl PriorityStatus {
    /// Every status, the most important first.
    pub const ALL: [Self; 3] = [
        Self::AuthRequired,
        Self::FeedDisconnected,
        Self::MarketSession,
    ];

    /// The name on the wire (`"AUTH_REQUIRED"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthRequired => "AUTH_REQUIRED",
            Self::FeedDisconnected => "FEED_DISCONNECTED",
            Self::MarketSession => "MARKET_SESSION",
        }
    }
}

impl core::fmt::Display for PriorityStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of the Kite access token. Lower case on the wire (`"valid"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthState {
    /// A token that Kite accepted.
    Valid,
    /// A token that was valid and is no longer.
    Expired,
    /// No token: a login is needed.
    Required,
    /// A token is being verified or exchanged.
    Refreshing,
}

impl AuthState {
    /// Every state, in the order of the specification.
    pub const ALL: [Self; 4] = [Self::Valid, Self::Expired, Self::Required, Self::Refreshing];

    /// The name on the wire and in metrics labels (`"valid"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Expired => "expired",
            Self::Required => "required",
            Self::Refreshing => "refreshing",
        }
    }

    /// The upper-case name of log lines (`AUTH STATE: VALID`), the specification's spelling.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Valid => "VALID",
            Self::Expired => "EXPIRED",
            Self::Required => "REQUIRED",
            Self::Refreshing => "REFRESHING",
        }
    }

    /// True in EXPIRED and REQUIRED: only a login helps.
    pub const fn requires_login(self) -> bool {
        matches!(self, Self::Expired | Self::Required)
    }
}

/// The state of the Kite ticker connection. Lower case on the wire (`"connected"`), like
/// [`AuthState`]; upper case in log lines and metrics labels ([`FeedState::label`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedState {
    /// Open, and frames arrive.
    Connected,
    /// A connection attempt is under way.
    Connecting,
    /// Open, but silent past the stale threshold: being replaced.
    Stale,
    /// Closed: on purpose outside trading hours, or waiting to retry.
    Disconnected,
    /// Failed many times in a row; still retrying at the longest backoff.
    Error,
}

impl FeedState {
    /// Every state, in the order of the specification.
    pub const ALL: [Self; 5] = [
        Self::Connected,
        Self::Connecting,
        Self::Stale,
        Self::Disconnected,
        Self::Error,
    ];

    /// The name on the wire (`"connected"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Connecting => "connecting",
            Self::Stale => "stale",
            Self::Disconnected => "disconnected",
            Self::Error => "error",
        }
    }

    /// The upper-case name of log lines (`FEED STATE: CONNECTED`) and metrics labels.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Connected => "CONNECTED",
            Self::Connecting => "CONNECTING",
            Self::Stale => "STALE",
            Self::Disconnected => "DISCONNECTED",
            Self::Error => "ERROR",
        }
    }
}

/// Log lines' spelling: `VALID`.
impl core::fmt::Display for AuthState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.label())
    }
}

/// Log lines' spelling: `CONNECTED`.
impl core::fmt::Display for FeedState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.label())
    }
}

/// The `auth` object of the health API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthHealth {
    /// The token's state.
    pub state: AuthState,
    /// True in VALID.
    pub is_valid: bool,
    /// True in EXPIRED and REQUIRED.
    pub requires_login: bool,
    /// Hours since the token was issued, when known.
    pub token_age_hours: Option<f64>,
    /// Verifications that failed in a row; reset by a success.
    pub consecutive_failures: u32,
    /// Failed verifications and logins since the server started.
    #[serde(default)]
    pub failures_total: u64,
    /// When Kite last confirmed the token.
    pub last_verified_at: Option<DateTime<Utc>>,
    /// When the token stops being trusted: the earlier of Kite's 06:00 IST cut-off and the 20 h
    /// age rule, when the issue time is known.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// The Kite user the token belongs to, once known.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Why the state is what it is, in words (never a secret).
    #[serde(default)]
    pub reason: String,
    /// Set while the token in use could not be written to the env file (a read-only folder, a
    /// full disk): it works, but will not survive a restart. `None` once a save succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_not_saved: Option<String>,
}

/// The banner's words for a token that works but could not be saved.
pub const TOKEN_NOT_SAVED: &str =
    "Logged in, but the token could not be saved — it will not survive a restart";

impl AuthHealth {
    /// An auth object in `state`, with nothing else known.
    pub fn in_state(state: AuthState) -> Self {
        Self {
            state,
            is_valid: state == AuthState::Valid,
            requires_login: state.requires_login(),
            token_age_hours: None,
            consecutive_failures: 0,
            failures_total: 0,
            last_verified_at: None,
            expires_at: None,
            user_id: None,
            token_not_saved: None,
            reason: String::new(),
        }
    }
}

/// The `feed` object of the health API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedHealth {
    /// The connection's state.
    pub state: FeedState,
    /// True when CONNECTED with fresh data.
    pub is_healthy: bool,
    /// Seconds since the last fresh tick of a subscribed instrument (not a heartbeat, not the
    /// snapshot Kite sends after a subscription); kept across reconnects, `null` until one came.
    pub last_tick_seconds_ago: Option<f64>,
    /// Seconds since the last frame of any kind (tick, heartbeat, text) on the open connection:
    /// proof that the socket lives; `null` while none is open.
    #[serde(default)]
    pub last_frame_seconds_ago: Option<f64>,
    /// Share of recent trading time spent CONNECTED, as a percentage 0.0 to 100.0 with one
    /// decimal (`85.0`).
    pub connection_quality: f64,
    /// Failed connection attempts in a row (0 once connected).
    pub reconnect_attempt: u32,
    /// When the next connection attempt is due, if one is scheduled.
    pub next_retry_at: Option<DateTime<Utc>>,
    /// The wait before that attempt, in seconds (exponential, capped, jittered).
    #[serde(default)]
    pub backoff_seconds: Option<f64>,
    /// Connections opened again after the first one (after a drop, a stall or a failure).
    #[serde(default)]
    pub reconnects: u32,
    /// Failed connection attempts since the server started.
    #[serde(default)]
    pub failures_total: u64,
    /// Seconds of silence after which an open connection counts as dead.
    #[serde(default)]
    pub stale_threshold_seconds: f64,
    /// The instruments subscribed, each with the age of its last tick (in
    /// `/api/system/health/feed`; left out of the combined answer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instruments: Vec<InstrumentHealth>,
    /// Why the state is what it is, in words.
    #[serde(default)]
    pub reason: String,
}

/// One subscribed instrument in the `feed` object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstrumentHealth {
    /// Kite's instrument token.
    pub instrument_token: u32,
    /// A readable name, e.g. `NIFTY 50`.
    pub name: String,
    /// `ltp`, `quote` or `full`.
    pub mode: String,
    /// Seconds since its last tick, if one came on this or an earlier connection.
    pub last_tick_seconds_ago: Option<f64>,
}

impl FeedHealth {
    /// A feed object in `state`, with nothing else known.
    pub fn in_state(state: FeedState) -> Self {
        Self {
            state,
            is_healthy: state == FeedState::Connected,
            last_tick_seconds_ago: None,
            last_frame_seconds_ago: None,
            connection_quality: 0.0,
            reconnect_attempt: 0,
            next_retry_at: None,
            backoff_seconds: None,
            reconnects: 0,
            failures_total: 0,
            stale_threshold_seconds: 0.0,
            instruments: Vec::new(),
            reason: String::new(),
        }
    }
}

/// Which broker the server talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BrokerKind {
    /// The real Kite Connect API.
    Kite,
    /// The embedded Kite simulator.
    Simulated,
}

impl BrokerKind {
    /// `"kite"` or `"simulated"`, as on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Kite => "kite",
            Self::Simulated => "simulated",
        }
    }
}

/// The whole health answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemHealth {
    /// What the banner shows first.
    pub priority_status: PriorityStatus,
    /// One sentence for that status.
    pub priority_message: String,
    /// The market session, from the clock alone.
    pub market: MarketHealth,
    /// The Kite access token.
    pub auth: AuthHealth,
    /// The ticker connection.
    pub feed: FeedHealth,
    /// The server's clock when the answer was made.
    pub server_time: DateTime<Utc>,
    /// `"kite"` or `"simulated"`.
    pub broker: BrokerKind,
}

impl SystemHealth {
    /// The health answer from the three machines' objects, with the priority worked out.
    pub fn new(
        market: MarketHealth,
        auth: AuthHealth,
        feed: FeedHealth,
        server_time: DateTime<Utc>,
        broker: BrokerKind,
    ) -> Self {
        // "In trading hours" is the union of the segments in use: F&O trades to 15:40 after
        // the cash market has closed, MCX into the night.
        let priority_status = priority(
            auth.requires_login,
            feed.is_healthy,
            market.any_trading_hours(),
        );
        let priority_message = priority_message(priority_status, &market, &auth, &feed);
        Self {
            priority_status,
            priority_message,
            market,
            auth,
            feed,
            server_time,
            broker,
        }
    }
}

/// The priority rule: AUTH_REQUIRED when a login is needed; else FEED_DISCONNECTED when the feed
/// is unhealthy during trading hours (PRE_OPEN, AUCTION_FREEZE, LIVE); else MARKET_SESSION.
/// Outside trading hours the feed is closed on purpose and never raises an alarm.
///
/// # Examples
///
/// ```
/// use marketwarden_core::{PriorityStatus, priority};
///
/// assert_eq!(priority(true, true, false), PriorityStatus::AuthRequired);
/// assert_eq!(priority(false, false, true), PriorityStatus::FeedDisconnected);
/// assert_eq!(priority(false, false, false), PriorityStatus::MarketSession);
/// ```
pub const fn priority(
    requires_login: bool,
    feed_is_healthy: bool,
    is_trading_hours: bool,
) -> PriorityStatus {
    if requires_login {
        PriorityStatus::AuthRequired
    } else if !feed_is_healthy && is_trading_hours {
        PriorityStatus::FeedDisconnected
    } else {
        PriorityStatus::MarketSession
    }
}

/// The specification's sentence for a required login, whether the token expired or never was.
pub const LOGIN_REQUIRED_MESSAGE: &str = "Login required to view live data";

/// The sentence for `status`: the specification's words for a login, e.g. "Market data feed
/// went silent — reconnecting" for the feed, and "<title> — <description>" for the market.
pub fn priority_message(
    status: PriorityStatus,
    market: &MarketHealth,
    _auth: &AuthHealth,
    feed: &FeedHealth,
) -> String {
    match status {
        PriorityStatus::AuthRequired => LOGIN_REQUIRED_MESSAGE.into(),
        PriorityStatus::FeedDisconnected => match feed.state {
            FeedState::Stale => "Market data feed went silent — reconnecting".into(),
            FeedState::Error => format!(
                "Market data feed failed {} times in a row — still retrying",
                feed.reconnect_attempt
            ),
            FeedState::Connecting if feed.reconnect_attempt > 0 => format!(
                "Market data feed disconnected — reconnecting (attempt {})",
                feed.reconnect_attempt
            ),
            _ => "Market data feed disconnected — reconnecting".into(),
        },
        PriorityStatus::MarketSession => format!("{} — {}", market.title, market.description),
    }
}

/// The banner's sentence for a needed login: it says whether the session expired or none
/// exists, which the specification's single message does not.
pub fn login_sentence(auth: &AuthHealth) -> &'static str {
    match auth.state {
        AuthState::Expired => "Kite session expired — log in to resume live data",
        _ => "Kite login required — log in to start live data",
    }
}

/// A 0–1 share as the wire's percentage with one decimal: `0.8504` → `85.0`.
pub fn percentage(share: f64) -> f64 {
    let percent = share.clamp(0.0, 1.0) * 1000.0;
    // `f64::round` needs std; a non-negative value rounds by adding one half and truncating.
    ((percent + 0.5) as u64) as f64 / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Calendar;
    use chrono::TimeZone;

    #[test]
    fn priority_table() {
        use PriorityStatus::*;
        // (requires_login, feed_is_healthy, is_trading_hours) -> status
        let table = [
            ((true, true, true), AuthRequired),
            ((true, false, true), AuthRequired),
            ((true, false, false), AuthRequired),
            ((true, true, false), AuthRequired),
            ((false, false, true), FeedDisconnected),
            ((false, false, false), MarketSession),
            ((false, true, true), MarketSession),
            ((false, true, false), MarketSession),
        ];
        for ((login, healthy, trading), expected) in table {
            assert_eq!(
                priority(login, healthy, trading),
                expected,
                "{login} {healthy} {trading}"
            );
        }
    }

    #[test]
    fn requires_login_only_when_expired_or_required() {
        assert!(AuthState::Expired.requires_login());
        assert!(AuthState::Required.requires_login());
        assert!(!AuthState::Valid.requires_login());
        assert!(!AuthState::Refreshing.requires_login());
    }

    #[test]
    fn health_answer_uses_the_seed_field_names_and_cases() {
        // Monday 2026-11-30 10:00 IST, feed down, token valid.
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 4, 30, 0).unwrap();
        let market = MarketHealth::at(&Calendar::builtin(), now);
        let mut feed = FeedHealth::in_state(FeedState::Connecting);
        feed.reconnect_attempt = 3;
        let health = SystemHealth::new(
            market,
            AuthHealth::in_state(AuthState::Valid),
            feed,
            now,
            BrokerKind::Simulated,
        );
        let json = serde_json::to_value(&health).expect("serializable");
        assert_eq!(json["priority_status"], "FEED_DISCONNECTED");
        assert_eq!(
            json["priority_message"],
            "Market data feed disconnected — reconnecting (attempt 3)"
        );
        assert_eq!(json["auth"]["state"], "valid");
        assert_eq!(json["auth"]["is_valid"], true);
        assert_eq!(json["auth"]["requires_login"], false);
        assert_eq!(json["feed"]["state"], "connecting");
        assert_eq!(json["feed"]["is_healthy"], false);
        assert_eq!(json["market"]["phase"], "LIVE");
        assert_eq!(json["broker"], "simulated");
        assert_eq!(json["server_time"], "2026-11-30T04:30:00Z");
        let back: SystemHealth = serde_json::from_value(json).expect("deserializable");
        assert_eq!(back, health);
    }

    #[test]
    fn market_session_message_is_title_and_description() {
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 6, 30, 0).unwrap();
        let market = MarketHealth::at(&Calendar::builtin(), now);
        let health = SystemHealth::new(
            market,
            AuthHealth::in_state(AuthState::Valid),
            FeedHealth::in_state(FeedState::Disconnected),
            now,
            BrokerKind::Kite,
        );
        assert_eq!(health.priority_status, PriorityStatus::MarketSession);
        assert_eq!(
            health.priority_message,
            "Market Closed — Weekend. Pre-open starts Mon 30 Nov at 09:00 IST."
        );
    }

    #[test]
    fn a_needed_login_has_the_specification_message_and_the_banner_its_own_sentences() {
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 4, 30, 0).unwrap();
        let market = MarketHealth::at(&Calendar::builtin(), now);
        let feed = FeedHealth::in_state(FeedState::Disconnected);
        let message = |state| {
            SystemHealth::new(
                market.clone(),
                AuthHealth::in_state(state),
                feed.clone(),
                now,
                BrokerKind::Kite,
            )
            .priority_message
        };
        assert_eq!(
            message(AuthState::Expired),
            "Login required to view live data"
        );
        assert_eq!(
            message(AuthState::Required),
            "Login required to view live data"
        );
        assert_eq!(
            login_sentence(&AuthHealth::in_state(AuthState::Expired)),
            "Kite session expired — log in to resume live data"
        );
        assert_eq!(
            login_sentence(&AuthHealth::in_state(AuthState::Required)),
            "Kite login required — log in to start live data"
        );
    }

    /// The specification's example answer, verbatim.
    const SPECIFICATION_EXAMPLE: &str = r#"{"priority_status": "AUTH_REQUIRED", "priority_message": "Login required to view live data",
     "market": {"phase": "LIVE", "title": "Market Live", "description": "Active trading (9:15 AM - 3:30 PM)",
                "icon": "🟢", "is_trading_hours": true, "seconds_to_next_phase": 18900},
     "auth": {"state": "expired", "is_valid": false, "requires_login": true, "token_age_hours": 25.3},
     "feed": {"state": "disconnected", "is_healthy": false, "last_tick_seconds_ago": 120, "connection_quality": 85.0}}"#;

    #[test]
    fn the_wire_types_carry_the_specifications_example_field_for_field() {
        // Monday 2026-11-30 10:15 IST, the example's situation: LIVE, the token expired 25.3 h
        // after its issue, the feed down with its last tick two minutes ago.
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 4, 45, 0).unwrap();
        let mut auth = AuthHealth::in_state(AuthState::Expired);
        auth.token_age_hours = Some(25.3);
        let mut feed = FeedHealth::in_state(FeedState::Disconnected);
        feed.last_tick_seconds_ago = Some(120.0);
        feed.connection_quality = percentage(0.85);
        let ours = serde_json::to_value(SystemHealth::new(
            MarketHealth::at(&Calendar::builtin(), now),
            auth,
            feed,
            now,
            BrokerKind::Kite,
        ))
        .unwrap();
        let example: serde_json::Value = serde_json::from_str(SPECIFICATION_EXAMPLE).unwrap();
        fn same(example: &serde_json::Value, ours: &serde_json::Value, path: &str) {
            use serde_json::Value;
            let serde_json::Value::Object(fields) = example else {
                return;
            };
            for (name, wanted) in fields {
                let got = &ours[name.as_str()];
                let path = format!("{path}/{name}");
                match (wanted, got) {
                    (Value::Object(_), Value::Object(_)) => same(wanted, got, &path),
                    (Value::Number(_), Value::Number(_)) | (Value::Bool(_), Value::Bool(_)) => {}
                    (Value::String(_), Value::String(_)) => {}
                    _ => panic!("{path}: {got} where the example has {wanted}"),
                }
            }
        }
        same(&example, &ours, "");
        // Same values wherever the example's are not the moment's (the description and the
        // countdown are sentences and numbers of their own).
        for pointer in [
            "/priority_status",
            "/priority_message",
            "/market/phase",
            "/market/title",
            "/market/icon",
            "/market/is_trading_hours",
            "/auth",
            "/feed/state",
            "/feed/is_healthy",
            "/feed/connection_quality",
        ] {
            let got = ours.pointer(pointer).unwrap();
            let wanted = example.pointer(pointer).unwrap();
            if let serde_json::Value::Object(fields) = wanted {
                for (name, value) in fields {
                    assert_eq!(&got[name.as_str()], value, "{pointer}/{name}");
                }
            } else {
                assert_eq!(got, wanted, "{pointer}");
            }
        }
        assert_eq!(ours["feed"]["last_tick_seconds_ago"], 120.0);
    }

    #[test]
    fn quality_is_a_percentage_with_one_decimal() {
        assert_eq!(percentage(0.85), 85.0);
        assert_eq!(percentage(0.987_64), 98.8);
        assert_eq!(percentage(1.0), 100.0);
        assert_eq!(percentage(0.0), 0.0);
        assert_eq!(percentage(-1.0), 0.0);
        assert_eq!(percentage(2.0), 100.0);
    }

    #[test]
    fn states_are_lower_case_on_the_wire_and_upper_case_in_labels() {
        for state in FeedState::ALL {
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
            assert_eq!(state.label(), state.as_str().to_ascii_uppercase());
            assert_eq!(alloc::format!("{state}"), state.label());
        }
        for state in AuthState::ALL {
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
            assert_eq!(state.label(), state.as_str().to_ascii_uppercase());
            assert_eq!(alloc::format!("{state}"), state.label());
        }
        for priority in PriorityStatus::ALL {
            assert_eq!(serde_json::to_value(priority).unwrap(), priority.as_str());
        }
        assert_eq!(FeedState::Disconnected.as_str(), "disconnected");
        assert_eq!(AuthState::Refreshing.label(), "REFRESHING");
    }
}
