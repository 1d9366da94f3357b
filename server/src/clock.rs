//! The server's only source of wall-clock time.
//!
//! Everything else takes `Arc<dyn Clock>`; this module is the one place allowed to read the
//! system clock (see `.clippy.toml`).

use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::Instant;

pub use marketwarden_core::Clock;

/// The host's real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // The one sanctioned read of the system clock.
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that starts at a chosen instant and runs forward in real time, for demos and tests
/// (`--clock-start`). It measures elapsed time with tokio's clock, so a test that pauses and
/// advances tokio time moves it too.
#[derive(Clone, Copy, Debug)]
pub struct StartedClock {
    start: DateTime<Utc>,
    origin: Instant,
}

impl StartedClock {
    /// A clock that reads `start` now.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            start,
            origin: Instant::now(),
        }
    }
}

impl Clock for StartedClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = TimeDelta::from_std(self.origin.elapsed()).unwrap_or(TimeDelta::MAX);
        self.start
            .checked_add_signed(elapsed)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn started_clock_begins_at_its_start_and_follows_tokio_time() {
        let start = Utc.with_ymd_and_hms(2026, 11, 30, 3, 44, 0).unwrap();
        let clock = StartedClock::starting_at(start);
        assert_eq!(clock.now(), start);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now(), start + TimeDelta::seconds(90));
    }
}
