use chrono::{DateTime, Utc};

/// A source of wall-clock time.
///
/// The core never calls it: it is defined here so that the server and the app's server-side
/// rendering share one clock without depending on each other. Implementations live in the
/// server (the system clock, and a clock started at a chosen instant for demos and tests).
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}
