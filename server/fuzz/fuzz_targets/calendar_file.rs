//! The calendar-file parser on arbitrary text: errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marketwarden_core::Calendar;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Calendar::builtin().with_overrides(text);
        let _ = Calendar::from_file_text(text);
    }
});
