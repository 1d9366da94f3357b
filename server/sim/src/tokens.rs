//! The simulator's tokens. Access tokens are signed, not stored, so they stay valid across a
//! restart of the simulator; request tokens are random, single-use and live five minutes.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use marketwarden_kite::next_flush_after;

/// How long a request token may wait to be exchanged.
pub const REQUEST_TOKEN_TTL: TimeDelta = TimeDelta::minutes(5);

/// Signs and checks access tokens with a key derived from the app's secret.
#[derive(Clone)]
pub struct TokenSigner {
    key: Vec<u8>,
}

/// What an access token says about itself, once its signature is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessClaims {
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl TokenSigner {
    /// A signer for the app with `api_key` and `api_secret`.
    pub fn new(api_key: &str, api_secret: &str) -> Self {
        Self {
            key: format!("marketwarden-sim:{api_key}:{api_secret}").into_bytes(),
        }
    }

    /// A new access token issued at `now`: 32 hex characters, like Kite's.
    pub fn issue(&self, now: DateTime<Utc>, nonce: u32) -> String {
        // Milliseconds: a flush and a login in the same second stay ordered.
        let issued = now.timestamp_millis().max(0) as u64;
        let payload = format!("{issued:012x}{nonce:08x}");
        let signature = self.sign(&payload);
        format!("{payload}{}", signature.get(..12).unwrap_or("000000000000"))
    }

    /// The claims of `token` if its signature is right; `None` for anything forged or malformed.
    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let (payload, signature) = token.split_at(20);
        let expected = self.sign(payload);
        // Constant-time enough for a simulator; the comparison length is fixed.
        if !marketwarden_kite::constant_time_eq(
            expected.as_bytes().get(..12)?,
            signature.as_bytes(),
        ) {
            return None;
        }
        let issued = i64::from_str_radix(&payload[..12], 16).ok()?;
        let issued_at = DateTime::from_timestamp_millis(issued)?;
        Some(AccessClaims {
            issued_at,
            expires_at: next_flush_after(issued_at)?,
        })
    }

    fn sign(&self, payload: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(payload.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

/// Request tokens waiting to be exchanged.
#[derive(Default)]
pub struct RequestTokens {
    pending: HashMap<String, DateTime<Utc>>,
}

impl RequestTokens {
    /// Records a new request token issued at `now`.
    pub fn insert(&mut self, token: String, now: DateTime<Utc>) {
        self.pending
            .retain(|_, issued| now - *issued < REQUEST_TOKEN_TTL);
        self.pending.insert(token, now);
    }

    /// Takes `token` if it is pending and younger than five minutes; a token is taken once.
    pub fn take(&mut self, token: &str, now: DateTime<Utc>) -> bool {
        match self.pending.remove(token) {
            Some(issued) => now - issued < REQUEST_TOKEN_TTL && now >= issued,
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, TimeZone};
    use marketwarden_core::ist_to_utc;

    fn ist(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        let date = chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        ist_to_utc(date, NaiveTime::from_hms_opt(h, mi, 0).unwrap()).unwrap()
    }

    #[test]
    fn access_tokens_verify_and_expire_at_the_next_six_in_the_morning() {
        let signer = TokenSigner::new("key", "secret");
        let issued = ist(2026, 11, 30, 8, 45);
        let token = signer.issue(issued, 7);
        assert_eq!(token.len(), 32);
        let claims = signer.verify(&token).expect("valid");
        assert_eq!(claims.issued_at, issued);
        assert_eq!(claims.expires_at, ist(2026, 12, 1, 6, 0));
        // Issued just after midnight IST: that morning's 06:00 cut-off ends it.
        let late = signer
            .verify(&signer.issue(ist(2026, 12, 1, 0, 30), 1))
            .expect("valid");
        assert_eq!(late.expires_at, ist(2026, 12, 1, 6, 0));
    }

    #[test]
    fn tokens_survive_a_restart_but_not_another_secret() {
        let token = TokenSigner::new("key", "secret")
            .issue(Utc.with_ymd_and_hms(2026, 11, 30, 3, 0, 0).unwrap(), 1);
        assert!(TokenSigner::new("key", "secret").verify(&token).is_some());
        assert!(TokenSigner::new("key", "other").verify(&token).is_none());
        assert!(TokenSigner::new("other", "secret").verify(&token).is_none());
    }

    #[test]
    fn forged_and_malformed_tokens_are_refused() {
        let signer = TokenSigner::new("key", "secret");
        let token = signer.issue(Utc.with_ymd_and_hms(2026, 11, 30, 3, 0, 0).unwrap(), 1);
        let mut forged = token.clone().into_bytes();
        forged[3] = if forged[3] == b'0' { b'1' } else { b'0' };
        for bad in [
            String::from_utf8(forged).unwrap(),
            String::new(),
            "z".repeat(32),
            token[..31].into(),
            format!("{token}0"),
        ] {
            assert!(signer.verify(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn request_tokens_are_single_use_and_live_five_minutes() {
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 3, 0, 0).unwrap();
        let mut tokens = RequestTokens::default();
        tokens.insert("a".into(), now);
        tokens.insert("b".into(), now);
        assert!(tokens.take("a", now + TimeDelta::seconds(299)));
        assert!(!tokens.take("a", now + TimeDelta::seconds(1)), "used once");
        assert!(!tokens.take("b", now + REQUEST_TOKEN_TTL), "expired");
        assert!(!tokens.take("never", now));
    }
}
