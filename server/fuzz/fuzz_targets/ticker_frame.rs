//! The ticker's binary frame parser on arbitrary bytes: it must never panic, and what it reads
//! must re-encode to the same bytes when the frame was well formed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marketwarden_kite::packet::{
    BinaryFrame, encode_binary_frame, parse_binary_frame, parse_packet,
};

fuzz_target!(|data: &[u8]| {
    let _ = parse_packet(data);
    if let Ok(BinaryFrame::Ticks { ticks, skipped: 0 }) = parse_binary_frame(data) {
        // A well-formed frame of known layouts round-trips exactly, padding aside.
        let again = parse_binary_frame(&encode_binary_frame(&ticks));
        assert_eq!(again, Ok(BinaryFrame::Ticks { ticks, skipped: 0 }));
    }
});
