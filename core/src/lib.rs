//! The shared heart of marketwarden: the NSE market calendar, the rules that turn an instant into a
//! market phase, and the wire types of the health API.
//!
//! This crate does no I/O and never reads the clock: every computation takes `now` as a parameter.
//! It is `#![no_std]` with `alloc`, so the same code runs in the server and, compiled to WASM, in
//! the browser, and both give identical answers.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use marketwarden_core::{MarketPhase, session_at};
//!
//! // Monday 2026-11-30, 10:00 IST is 04:30 UTC.
//! let now = Utc.with_ymd_and_hms(2026, 11, 30, 4, 30, 0).unwrap();
//! assert_eq!(session_at(now).phase, MarketPhase::Live);
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod clock;
mod display;
mod health;
mod phase;
mod session;

pub use clock::Clock;
pub use display::format_countdown;
pub use health::{MarketHealth, MarketSnapshot};
pub use phase::MarketPhase;
pub use session::{ClosedReason, IST, MarketSession, PhaseChange, ist_wall_clock, session_at};
