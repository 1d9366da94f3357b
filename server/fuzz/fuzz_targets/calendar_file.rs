//! The calendar-file parser on arbitrary text: errors, never panics.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use marketwarden_core::Calendar;

/// Parsed once: the target exercises the operator's file, not the compiled-in one.
static BUILTIN: LazyLock<Calendar> = LazyLock::new(Calendar::builtin);

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = BUILTIN.with_overrides(text);
        let _ = Calendar::from_file_text(text);
    }
});
