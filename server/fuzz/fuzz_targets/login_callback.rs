//! Kite's redirect to `/auth/callback` on arbitrary query strings: never a panic, and no state
//! but the one issued (to this browser, once) is ever accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marketwarden_server::auth::login::{Callback, Instant, PendingLogins};

fuzz_target!(|data: &[u8]| {
    let Ok(query) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(data) else {
        return;
    };
    let now = Instant::now();
    let mut logins = PendingLogins::default();
    let issued = logins.issue(now);
    if let Ok(callback) = Callback::from_query(&query) {
        assert!(!callback.request_token.is_empty());
        let accepted = logins.redeem(&callback.state, Some(&callback.state), now).is_ok();
        assert_eq!(accepted, callback.state == issued, "only the issued state passes");
        // Never twice.
        assert!(logins.redeem(&callback.state, Some(&callback.state), now).is_err());
    }
});
