//! What marketwarden's tests share, in one place: IST instants, clocks a test controls, the
//! secret scan every answer and log line goes through, and the simulator's login form as a
//! browser fills it. The unit tests, `server/tests/it`, the simulated month and the benchmarks
//! use it; it depends on core and `kite-sim`, never on the server.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use kite_sim::SimConfig;
use kite_sim::tokens::TokenSigner;
use marketwarden_core::Clock;

/// `h:m` IST on `day`.
pub fn ist(day: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    ist_hms(day, h, m, 0)
}

/// `h:m:s` IST on `day`.
pub fn ist_hms(day: NaiveDate, h: u32, m: u32, s: u32) -> DateTime<Utc> {
    let local = day.and_time(NaiveTime::from_hms_opt(h, m, s).expect("a valid time"));
    Utc.from_utc_datetime(&local) - TimeDelta::minutes(330)
}

/// Monday 2026-11-30, the tests' usual trading day (no holiday, before the year-end warning).
pub fn monday() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 30).expect("a valid date")
}

/// `h:m` IST on [`monday`].
pub fn monday_at(h: u32, m: u32) -> DateTime<Utc> {
    ist(monday(), h, m)
}

/// A clock that stays where it is set.
#[derive(Clone, Debug)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// A clock the test moves by hand; clones share it.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock reading `now`.
    pub fn at(now: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(now)))
    }

    /// Moves the clock to `now`.
    pub fn set(&self, now: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|poison| poison.into_inner()) = now;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

/// Finds the secrets of some Kite apps in text: each app's API secret as written, and any
/// access token one of their simulators signed (a 32-hex-digit run the app's signer verifies),
/// so tokens are found without a list of the ones issued.
pub struct SecretScan {
    apps: Vec<(String, String, TokenSigner)>,
}

impl SecretScan {
    /// A scan for the apps `(api_key, api_secret)`.
    pub fn new(apps: &[(&str, &str)]) -> Self {
        Self {
            apps: apps
                .iter()
                .map(|(key, secret)| {
                    (
                        key.to_string(),
                        secret.to_string(),
                        TokenSigner::new(key, secret),
                    )
                })
                .collect(),
        }
    }

    /// The secrets `text` holds, described without repeating them.
    pub fn secrets_in(&self, text: &str) -> Vec<String> {
        let mut found = Vec::new();
        for (api_key, api_secret, _) in &self.apps {
            if text.contains(api_secret.as_str()) {
                found.push(format!("the API secret of {api_key}"));
            }
        }
        let signed = text
            .split(|c: char| !c.is_ascii_hexdigit())
            .filter(|run| run.len() >= 32)
            .any(|run| {
                (0..=run.len() - 32).any(|start| {
                    let window = &run[start..start + 32];
                    self.apps
                        .iter()
                        .any(|(_, _, signer)| signer.verify(window).is_some())
                })
            });
        if signed {
            found.push("an access token the simulator issued".into());
        }
        found
    }
}

/// Every header as `name: value`, values as sent (`Debug` would hide the sensitive ones).
pub fn header_text(headers: &http::HeaderMap) -> String {
    headers
        .iter()
        .map(|(name, value)| format!("{name}: {}\n", String::from_utf8_lossy(value.as_bytes())))
        .collect()
}

/// The simulator's login form as the demo user submits it, from the login page's HTML: the
/// hidden `redirect_params` kept, the demo credentials filled in. `None` when the page has no
/// form.
pub fn demo_login_form(html: &str) -> Option<[(&'static str, String); 5]> {
    let hidden = html
        .split(r#"name="redirect_params" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())?
        .replace("&amp;", "&");
    Some([
        ("api_key", SimConfig::default().api_key),
        ("redirect_params", hidden),
        ("user_id", "MW0001".into()),
        ("password", "demo".into()),
        ("action", "login".into()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ist_is_five_and_a_half_hours_ahead() {
        assert_eq!(
            monday_at(9, 15),
            Utc.with_ymd_and_hms(2026, 11, 30, 3, 45, 0).unwrap()
        );
    }

    #[test]
    fn the_scan_finds_secrets_and_signed_tokens_and_nothing_forged() {
        let scan = SecretScan::new(&[("app", "app-secret")]);
        let token = TokenSigner::new("app", "app-secret").issue(monday_at(9, 0), 7);
        assert!(scan.secrets_in("nothing here").is_empty());
        assert_eq!(scan.secrets_in("x app-secret y").len(), 1);
        assert_eq!(scan.secrets_in(&format!("token {token} end")).len(), 1);
        assert!(scan.secrets_in(&"a".repeat(40)).is_empty());
    }

    #[test]
    fn the_demo_form_keeps_the_hidden_redirect_params() {
        let html = r#"<input type="hidden" name="redirect_params" value="state=a&amp;b">"#;
        let form = demo_login_form(html).unwrap();
        assert_eq!(form[1], ("redirect_params", "state=a&b".to_string()));
        assert!(demo_login_form("<p>no form</p>").is_none());
    }
}
