//! The Kite Connect protocol: what marketwarden and its simulator say to each other, exactly as
//! Kite says it.

pub mod packet;
pub mod rest;
pub mod ticker;

use chrono::{DateTime, Days, NaiveTime, Utc};
use marketwarden_core::{ist_to_utc, ist_wall_clock};

/// Kite's documented cut-off: access tokens die at this IST time the day after login.
pub const DAILY_FLUSH: NaiveTime = match NaiveTime::from_hms_opt(6, 0, 0) {
    Some(time) => time,
    None => panic!("valid time"),
};

/// 06:00 IST on the day after `issued_at`'s IST date: when Kite says a token issued then dies.
pub fn next_flush_after(issued_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let date = ist_wall_clock(issued_at)
        .date()
        .checked_add_days(Days::new(1))?;
    ist_to_utc(date, DAILY_FLUSH)
}

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
    use super::Secret;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("s3cr3t");
        assert_eq!(format!("{secret} {secret:?}"), "*** Secret(***)");
        assert_eq!(secret.expose(), "s3cr3t");
    }
}
