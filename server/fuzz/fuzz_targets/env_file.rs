//! The `.env` reader and writer on arbitrary bytes: never a panic; a rewrite sets the token,
//! adds no problem, and keeps every line that is not the token's (a last line may gain its line
//! ending).
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use marketwarden_server::auth::envfile::{ACCESS_TOKEN_KEY, EnvFile, ISSUED_AT_KEY};

fuzz_target!(|data: &[u8]| {
    let file = EnvFile::parse_bytes(data);
    if !file.can_rewrite() {
        return;
    }
    let issued = Utc.with_ymd_and_hms(2026, 11, 30, 3, 15, 0).unwrap();
    let written = file.with_token("0123456789abcdef0123456789abcdef", issued);
    let reread = EnvFile::parse(&written);
    assert_eq!(reread.get(ACCESS_TOKEN_KEY), Some("0123456789abcdef0123456789abcdef"));
    assert_eq!(reread.issued_at(), Some(issued));
    assert_eq!(reread.problems().len(), file.problems().len());
    // Removing the token again leaves what removing it from the original leaves, except that a
    // last line without a line ending may have gained one.
    let original = file.without_token();
    let again = reread.without_token();
    assert!(
        again == original || again == format!("{original}\n"),
        "{original:?} became {again:?}"
    );
    assert_eq!(EnvFile::parse(&file.without_token()).get(ISSUED_AT_KEY), None);
});
