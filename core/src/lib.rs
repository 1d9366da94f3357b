//! The shared heart of marketwarden: the NSE market calendar, the rules that turn an instant into a
//! market phase, the priority rule, and the wire types of the health API.
//!
//! This crate does no I/O and never reads the clock: every computation takes `now` as a parameter.
//! It is `#![no_std]` with `alloc`, so the same code runs in the server and, compiled to WASM, in
//! the browser, and both give identical answers.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use marketwarden_core::{Calendar, MarketPhase};
//!
//! // Monday 2026-11-30, 10:00 IST is 04:30 UTC.
//! let now = Utc.with_ymd_and_hms(2026, 11, 30, 4, 30, 0).unwrap();
//! assert_eq!(Calendar::builtin().session_at(now).phase, MarketPhase::Live);
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod calendar;
mod clock;
mod display;
mod health;
mod market_socket;
mod phase;
mod segment;
mod system;

pub use calendar::{
    CALENDAR_FILE_HEADER, COVERAGE_HEADS_UP_DAYS, Calendar, CalendarFileError, ClosedReason,
    Coverage, IST, LineProblem, MarketSession, PhaseChange, PhaseWindow, REGULAR_DAY, TradingDay,
    View, ist_to_utc, ist_wall_clock,
};
pub use clock::Clock;
pub use display::{day_label, escape_html, format_countdown, hh_mm, hh_mm_ss};
pub use health::{MarketHealth, MarketSnapshot, SegmentHealth, in_ist};
pub use market_socket::{MarketFrame, MarketTick};
pub use phase::MarketPhase;
pub use segment::Segment;
pub use system::{
    AuthHealth, AuthState, BrokerKind, FeedHealth, FeedState, InstrumentHealth,
    LOGIN_REQUIRED_MESSAGE, PriorityStatus, SystemHealth, TOKEN_NOT_SAVED, login_sentence,
    percentage, priority, priority_message,
};
