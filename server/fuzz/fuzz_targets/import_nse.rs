//! NSE's holiday-master JSON importer never panics, whatever the bytes, and whatever it accepts
//! loads as a calendar file over the built-in calendar.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marketwarden_core::Calendar;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(import) = marketwarden_server::nse_import::parse(text) {
        let rows = import.rows();
        let calendar = Calendar::builtin();
        assert!(calendar.with_overrides(&rows).is_ok(), "{rows}");
        let _ = import.diff(&calendar);
    }
});
