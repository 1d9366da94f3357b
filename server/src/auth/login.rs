//! The login flow's bookkeeping: one-time states, what Kite's redirect carries, and the errors
//! a trader can meet.

use std::collections::HashMap;

use chrono::TimeDelta;
use rand::RngCore;
/// The monotonic clock login ages are measured on (re-exported for the fuzz target).
pub use tokio::time::Instant;

/// How long a login may take from the click to Kite's redirect.
pub const LOGIN_STATE_TTL: TimeDelta = TimeDelta::minutes(10);

/// The cookie that binds a login to the browser that started it.
pub const LOGIN_STATE_COOKIE: &str = "marketwarden_login_state";

/// A login to start: send the browser to `url` with the `state` cookie set.
#[derive(Clone, Debug)]
pub struct LoginStart {
    pub state: String,
    pub url: String,
}

/// Why a login did not complete. Nothing changes on any of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginError {
    /// Kite's redirect says the login failed or was cancelled.
    Cancelled { status: String },
    /// The redirect carries no `state`.
    MissingState,
    /// The state was never issued, or was already used: forged or replayed.
    UnknownState,
    /// The state is older than [`LOGIN_STATE_TTL`].
    ExpiredState,
    /// The state was issued to another browser (its cookie is missing or different).
    OtherBrowser,
    /// The redirect carries no `request_token`.
    MissingRequestToken,
    /// The same parameter came twice with different values.
    AmbiguousParameter(&'static str),
    /// Kite refused the request token (used, expired, or a wrong checksum).
    Refused(String),
    /// Kite could not be reached to exchange the request token.
    Unreachable(String),
    /// The login is for another Kite user than `ZERODHA_USER_ID`.
    WrongUser { expected: String, actual: String },
}

impl LoginError {
    /// The HTTP status the callback answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Unreachable(_) => 502,
            Self::WrongUser { .. } => 403,
            _ => 400,
        }
    }
}

impl std::fmt::Display for LoginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cancelled { status } => {
                write!(
                    f,
                    "Kite reports the login as \"{status}\": it failed or was cancelled"
                )
            }
            Self::MissingState => write!(f, "the login link carries no state"),
            Self::UnknownState => write!(
                f,
                "this login link is not one marketwarden issued, or it was already used"
            ),
            Self::ExpiredState => write!(
                f,
                "this login took more than {} minutes",
                LOGIN_STATE_TTL.num_minutes()
            ),
            Self::OtherBrowser => write!(f, "this login was started in another browser"),
            Self::MissingRequestToken => write!(f, "Kite's redirect carries no request token"),
            Self::AmbiguousParameter(name) => {
                write!(
                    f,
                    "the login link carries `{name}` twice with different values"
                )
            }
            Self::Refused(detail) => write!(f, "Kite refused the login: {detail}"),
            Self::Unreachable(detail) => write!(f, "Kite could not be reached: {detail}"),
            Self::WrongUser { expected, actual } => write!(
                f,
                "you logged in to Kite as {actual}, but this server is set up for {expected} \
                 (ZERODHA_USER_ID)"
            ),
        }
    }
}

impl std::error::Error for LoginError {}

/// The one-time states of logins in progress.
///
/// A state is signed rather than stored: `nonce · issued-at · MAC` under a key drawn at start,
/// so issuing keeps nothing and no number of `/auth/login` calls can push out a login in
/// progress. Only redeemed states are remembered (to refuse a replay), until they expire. Ages
/// are measured on the monotonic clock: a wall-clock step (NTP, a laptop waking up) neither
/// expires a login in progress nor revives an old one.
pub struct PendingLogins {
    key: [u8; 32],
    /// The instant issue times count from.
    epoch: Instant,
    /// Nonces of redeemed states, with their issue time (ms after `epoch`).
    used: HashMap<[u8; NONCE_BYTES], u64>,
}

const NONCE_BYTES: usize = 16;
const MAC_BYTES: usize = 8;
/// Hex characters of a state: nonce, issue time (8 bytes), MAC.
pub const STATE_LENGTH: usize = 2 * (NONCE_BYTES + 8 + MAC_BYTES);

/// Redeemed states remembered at most; past it the oldest are forgotten first. A forgotten one
/// can at worst be presented again within its 10 minutes, and then Kite refuses its request
/// token, which is single-use.
const MAX_REMEMBERED: usize = 65_536;

impl Default for PendingLogins {
    fn default() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self {
            key,
            epoch: Instant::now(),
            used: HashMap::new(),
        }
    }
}

impl PendingLogins {
    /// A new one-time state ([`STATE_LENGTH`] hex characters), issued at `now`.
    pub fn issue(&mut self, now: Instant) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let issued_ms = self.millis(now);
        let mac = self.mac(&nonce, issued_ms);
        let mut bytes = Vec::with_capacity(STATE_LENGTH / 2);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&issued_ms.to_be_bytes());
        bytes.extend_from_slice(&mac);
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// Redeems `state` once: it must be one this process issued, younger than the TTL, and the
    /// cookie of the browser that presents it. A state presented by another browser is not
    /// used up (the right browser may still come back with it).
    pub fn redeem(
        &mut self,
        state: &str,
        browser_state: Option<&str>,
        now: Instant,
    ) -> Result<(), LoginError> {
        let (nonce, issued_ms) = self.verify(state).ok_or(LoginError::UnknownState)?;
        let age_ms = self.millis(now).saturating_sub(issued_ms);
        let ttl_ms = u64::try_from(LOGIN_STATE_TTL.num_milliseconds()).unwrap_or(u64::MAX);
        if self.used.contains_key(&nonce) {
            return Err(LoginError::UnknownState);
        }
        if age_ms >= ttl_ms {
            return Err(LoginError::ExpiredState);
        }
        if browser_state != Some(state) {
            return Err(LoginError::OtherBrowser);
        }
        let now_ms = self.millis(now);
        self.used
            .retain(|_, issued| now_ms.saturating_sub(*issued) < ttl_ms);
        while self.used.len() >= MAX_REMEMBERED {
            let oldest = self.used.iter().min_by_key(|(_, at)| **at).map(|(n, _)| *n);
            match oldest {
                Some(oldest) => self.used.remove(&oldest),
                None => break,
            };
        }
        self.used.insert(nonce, issued_ms);
        Ok(())
    }

    /// The nonce and issue time of a state this process signed.
    fn verify(&self, state: &str) -> Option<([u8; NONCE_BYTES], u64)> {
        if state.len() != STATE_LENGTH || !state.is_ascii() {
            return None;
        }
        let bytes: Vec<u8> = (0..state.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&state[at..at + 2], 16).ok())
            .collect::<Option<_>>()?;
        let (nonce, rest) = bytes.split_at(NONCE_BYTES);
        let (issued, mac) = rest.split_at(8);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
        let issued_ms = u64::from_be_bytes(issued.try_into().ok()?);
        let expected = self.mac(&nonce, issued_ms);
        marketwarden_kite::constant_time_eq(&expected, mac).then_some((nonce, issued_ms))
    }

    fn mac(&self, nonce: &[u8], issued_ms: u64) -> [u8; MAC_BYTES] {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(nonce);
        mac.update(&issued_ms.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = [0u8; MAC_BYTES];
        out.copy_from_slice(&digest[..MAC_BYTES]);
        out
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }
}

/// What Kite's redirect to `/auth/callback` carries.
#[derive(Debug, PartialEq, Eq)]
pub struct Callback {
    pub request_token: String,
    pub state: String,
}

impl Callback {
    /// Reads the redirect's query. The state comes back either as its own parameter or inside
    /// a `redirect_params` value (Kite does not document which).
    ///
    /// # Errors
    ///
    /// A failed or cancelled login, a missing or ambiguous state or request token.
    pub fn from_query(query: &[(String, String)]) -> Result<Self, LoginError> {
        let status = single(query, "status")?;
        if let Some(status) = status.filter(|status| *status != "success") {
            return Err(LoginError::Cancelled {
                status: status.chars().take(40).collect(),
            });
        }
        let nested: Vec<(String, String)> = single(query, "redirect_params")?
            .and_then(|text| serde_urlencoded::from_str(text).ok())
            .unwrap_or_default();
        let state = match (single(query, "state")?, single(&nested, "state")?) {
            (Some(direct), Some(inner)) if direct != inner => {
                return Err(LoginError::AmbiguousParameter("state"));
            }
            (Some(state), _) | (None, Some(state)) => state.to_string(),
            (None, None) => return Err(LoginError::MissingState),
        };
        let request_token = single(query, "request_token")?
            .filter(|token| !token.is_empty())
            .ok_or(LoginError::MissingRequestToken)?
            .to_string();
        Ok(Self {
            request_token,
            state,
        })
    }
}

/// The one value of `name`; an error when it comes twice with different values.
fn single<'a>(
    query: &'a [(String, String)],
    name: &'static str,
) -> Result<Option<&'a str>, LoginError> {
    let mut values = query
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.as_str());
    let first = values.next();
    if values.any(|other| Some(other) != first) {
        return Err(LoginError::AmbiguousParameter(name));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn now() -> Instant {
        Instant::now()
    }

    #[test]
    fn a_state_is_redeemed_once_by_the_browser_that_holds_it() {
        let mut logins = PendingLogins::default();
        let state = logins.issue(now());
        assert_eq!(state.len(), STATE_LENGTH);
        assert_eq!(logins.redeem(&state, Some(&state), now()), Ok(()));
        assert_eq!(
            logins.redeem(&state, Some(&state), now()),
            Err(LoginError::UnknownState)
        );
    }

    #[test]
    fn forged_expired_and_foreign_states_are_refused() {
        let mut logins = PendingLogins::default();
        assert_eq!(
            logins.redeem("forged", Some("forged"), now()),
            Err(LoginError::UnknownState)
        );
        let state = logins.issue(now());
        let mut tampered = state.clone();
        tampered.replace_range(0..1, if state.starts_with('0') { "1" } else { "0" });
        assert_eq!(
            logins.redeem(&tampered, Some(&tampered), now()),
            Err(LoginError::UnknownState)
        );
        // Another process's state (another key).
        let foreign = PendingLogins::default().issue(now());
        assert_eq!(
            logins.redeem(&foreign, Some(&foreign), now()),
            Err(LoginError::UnknownState)
        );
        let late = now() + LOGIN_STATE_TTL.to_std().unwrap();
        assert_eq!(
            logins.redeem(&state, Some(&state), late),
            Err(LoginError::ExpiredState)
        );
    }

    #[test]
    fn another_browsers_cookie_does_not_use_the_state_up() {
        let mut logins = PendingLogins::default();
        let state = logins.issue(now());
        let other = logins.issue(now());
        assert_eq!(
            logins.redeem(&state, None, now()),
            Err(LoginError::OtherBrowser)
        );
        assert_eq!(
            logins.redeem(&state, Some(&other), now()),
            Err(LoginError::OtherBrowser)
        );
        assert_eq!(logins.redeem(&state, Some(&state), now()), Ok(()));
    }

    #[test]
    fn no_number_of_new_logins_pushes_out_one_in_progress() {
        let mut logins = PendingLogins::default();
        let in_progress = logins.issue(now());
        for _ in 0..10_000 {
            logins.issue(now());
        }
        assert_eq!(
            logins.redeem(&in_progress, Some(&in_progress), now()),
            Ok(())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn ages_are_monotonic_whatever_the_wall_clock_does() {
        let mut logins = PendingLogins::default();
        let state = logins.issue(Instant::now());
        tokio::time::advance(std::time::Duration::from_secs(9 * 60)).await;
        assert_eq!(logins.redeem(&state, Some(&state), Instant::now()), Ok(()));
        let state = logins.issue(Instant::now());
        tokio::time::advance(std::time::Duration::from_secs(10 * 60)).await;
        assert_eq!(
            logins.redeem(&state, Some(&state), Instant::now()),
            Err(LoginError::ExpiredState)
        );
    }

    #[test]
    fn the_state_comes_back_plain_or_inside_redirect_params() {
        let plain = query(&[
            ("request_token", "rt"),
            ("action", "login"),
            ("status", "success"),
            ("state", "s1"),
        ]);
        assert_eq!(
            Callback::from_query(&plain),
            Ok(Callback {
                request_token: "rt".into(),
                state: "s1".into()
            })
        );
        let nested = query(&[("request_token", "rt"), ("redirect_params", "state=s2&x=y")]);
        assert_eq!(Callback::from_query(&nested).unwrap().state, "s2");
    }

    #[test]
    fn bad_redirects_are_named() {
        let cases = [
            (
                query(&[("status", "cancelled"), ("state", "s")]),
                "Cancelled",
            ),
            (query(&[("request_token", "rt")]), "MissingState"),
            (query(&[("state", "s")]), "MissingRequestToken"),
            (
                query(&[("request_token", "rt"), ("state", "a"), ("state", "b")]),
                "AmbiguousParameter",
            ),
            (
                query(&[
                    ("request_token", "rt"),
                    ("state", "a"),
                    ("redirect_params", "state=b"),
                ]),
                "AmbiguousParameter",
            ),
        ];
        for (query, expected) in cases {
            let error = Callback::from_query(&query).expect_err(expected);
            assert!(format!("{error:?}").starts_with(expected), "{error:?}");
        }
    }
}
