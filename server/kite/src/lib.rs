//! The Kite Connect protocol as Kite speaks it, for both sides of the wire: the ticker's binary
//! packets and text frames, the REST envelopes, errors and checksum, the 06:00 IST token cut-off
//! and Kite's documented limits. It knows no transport and no state machine: marketwarden's
//! client (`marketwarden-server`) and the simulator (`kite-sim`) both build on it, and the fuzz
//! target `ticker_frame` reads frames with it alone.

pub mod packet;
pub mod rest;

use chrono::{DateTime, Days, NaiveTime, Utc};
use marketwarden_core::{ist_to_utc, ist_wall_clock};

/// Kite's documented cut-off: access tokens die at this IST time the morning after login.
pub const DAILY_FLUSH: NaiveTime = match NaiveTime::from_hms_opt(6, 0, 0) {
    Some(time) => time,
    None => panic!("valid time"),
};

/// The first 06:00 IST after `issued_at`: when Kite says a token issued then dies. The cut-off
/// ends every session older than it, so a login at 02:00 lasts until 06:00 that morning, one at
/// 09:00 until 06:00 the next.
pub fn next_flush_after(issued_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let date = ist_wall_clock(issued_at).date();
    let same_morning = ist_to_utc(date, DAILY_FLUSH)?;
    if same_morning > issued_at {
        return Some(same_morning);
    }
    ist_to_utc(date.checked_add_days(Days::new(1))?, DAILY_FLUSH)
}

/// Ticker connections Kite allows per `api_key` at once.
pub const MAX_CONNECTIONS_PER_API_KEY: usize = 3;
/// Instruments Kite allows per ticker connection.
pub const MAX_INSTRUMENTS_PER_CONNECTION: usize = 3000;

/// A secret string (API secret, access token): its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when `given` is this secret, compared in constant time.
    pub fn matches(&self, given: &str) -> bool {
        constant_time_eq(given.as_bytes(), self.0.as_bytes())
    }
}

/// Compares without an early exit, so the time taken says nothing about where two secrets
/// (tokens, MACs) differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_token_dies_at_the_first_0600_ist_after_its_issue() {
        // 2026-11-30 at h:m IST.
        let ist = |day: u32, h: u32, m: u32| {
            Utc.with_ymd_and_hms(2026, 11, day, h, m, 0).unwrap() - chrono::TimeDelta::minutes(330)
        };
        let cases = [
            (ist(30, 2, 0), ist(30, 6, 0)),
            (ist(30, 5, 59), ist(30, 6, 0)),
            (ist(30, 6, 0), ist(30, 6, 0) + chrono::TimeDelta::days(1)),
            (ist(30, 9, 15), ist(30, 6, 0) + chrono::TimeDelta::days(1)),
            (ist(30, 23, 59), ist(30, 6, 0) + chrono::TimeDelta::days(1)),
        ];
        for (issued, dies) in cases {
            assert_eq!(next_flush_after(issued), Some(dies), "{issued}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("s3cr3t");
        assert_eq!(format!("{secret} {secret:?}"), "*** Secret(***)");
        assert_eq!(secret.expose(), "s3cr3t");
        assert!(secret.matches("s3cr3t"));
        assert!(!secret.matches("s3cr3"));
        assert!(!secret.matches("s3cr3T"));
    }
}
