//! The one way marketwarden reads wall-clock time: a [`Clock`] passed in, never the system clock
//! directly, so tests and the simulator run on time they control.

use chrono::{DateTime, Utc};

/// A source of wall-clock time, shared as `Arc<dyn Clock>`.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}
