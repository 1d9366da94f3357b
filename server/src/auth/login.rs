//! The login flow's bookkeeping: one-time states, what Kite's redirect carries, and the errors
//! a trader can meet.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use rand::RngCore;

/// How long a login may take from the click to Kite's redirect.
pub const LOGIN_STATE_TTL: TimeDelta = TimeDelta::minutes(10);

/// The cookie that binds a login to the browser that started it.
pub const LOGIN_STATE_COOKIE: &str = "marketwarden_login_state";

/// At most this many logins may be pending; the oldest is dropped first.
const MAX_PENDING_LOGINS: usize = 32;

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

/// States issued and not yet redeemed, with their issue time.
#[derive(Default)]
pub struct PendingLogins {
    issued: HashMap<String, DateTime<Utc>>,
}

impl PendingLogins {
    /// A new one-time state: 32 random hex characters.
    pub fn issue(&mut self, now: DateTime<Utc>) -> String {
        self.issued.retain(|_, at| now - *at < LOGIN_STATE_TTL);
        while self.issued.len() >= MAX_PENDING_LOGINS {
            let oldest = self
                .issued
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(state, _)| state.clone());
            match oldest {
                Some(state) => self.issued.remove(&state),
                None => break,
            };
        }
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let state: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        self.issued.insert(state.clone(), now);
        state
    }

    /// Redeems `state` once: it must have been issued, be younger than the TTL, and match the
    /// cookie of the browser that presents it. A known state is used up even when it fails.
    pub fn redeem(
        &mut self,
        state: &str,
        browser_state: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), LoginError> {
        let issued = self.issued.remove(state).ok_or(LoginError::UnknownState)?;
        if now - issued >= LOGIN_STATE_TTL || now < issued {
            return Err(LoginError::ExpiredState);
        }
        if browser_state != Some(state) {
            return Err(LoginError::OtherBrowser);
        }
        Ok(())
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
    use chrono::TimeZone;

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 3, 15, 0).unwrap()
    }

    #[test]
    fn a_state_is_redeemed_once_by_the_browser_that_holds_it() {
        let mut logins = PendingLogins::default();
        let state = logins.issue(now());
        assert_eq!(state.len(), 32);
        assert_eq!(logins.redeem(&state, Some(&state), now()), Ok(()));
        assert_eq!(
            logins.redeem(&state, Some(&state), now()),
            Err(LoginError::UnknownState)
        );
    }

    #[test]
    fn forged_expired_and_foreign_states_are_refused_and_used_up() {
        let mut logins = PendingLogins::default();
        assert_eq!(
            logins.redeem("forged", Some("forged"), now()),
            Err(LoginError::UnknownState)
        );
        let state = logins.issue(now());
        assert_eq!(
            logins.redeem(&state, None, now()),
            Err(LoginError::OtherBrowser)
        );
        assert_eq!(
            logins.redeem(&state, Some(&state), now()),
            Err(LoginError::UnknownState)
        );
        let state = logins.issue(now());
        let late = now() + LOGIN_STATE_TTL;
        assert_eq!(
            logins.redeem(&state, Some(&state), late),
            Err(LoginError::ExpiredState)
        );
    }

    #[test]
    fn pending_logins_are_bounded() {
        let mut logins = PendingLogins::default();
        let first = logins.issue(now());
        for second in 1..=MAX_PENDING_LOGINS as i64 {
            logins.issue(now() + TimeDelta::seconds(second));
        }
        assert_eq!(logins.issued.len(), MAX_PENDING_LOGINS);
        assert!(
            !logins.issued.contains_key(&first),
            "the oldest was dropped"
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
