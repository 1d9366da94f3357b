//! The server's only source of wall-clock time.
//!
//! Everything else takes `Arc<dyn Clock>`; this module is the one place allowed to read the
//! system clock (see `.clippy.toml`).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::Instant;

pub use marketwarden_core::Clock;

/// The longest any background task sleeps without reading the wall clock again, so a jump of
/// the clock (host suspended, NTP step) or a calendar reload is noticed within it.
pub const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Timers for wall-clock instants: tokio sleeps by its own monotonic clock, the rules speak of
/// IST instants.
pub trait Timers {
    /// How long until wall-clock instant `at`; zero when it has passed.
    fn until(&self, at: DateTime<Utc>) -> Duration;

    /// The tokio instant for wall-clock instant `at`, measured from `now` (tokio's clock read
    /// at the same moment).
    fn timer_for(&self, at: DateTime<Utc>, now: Instant) -> Instant {
        now + self.until(at)
    }

    /// When to wake for the earliest of `deadlines`, and at the latest [`MAX_SLEEP`] from `now`.
    fn wake_at(&self, deadlines: impl IntoIterator<Item = Instant>, now: Instant) -> Instant {
        deadlines
            .into_iter()
            .min()
            .map_or(now + MAX_SLEEP, |at| at.min(now + MAX_SLEEP))
    }
}

impl<C: Clock + ?Sized> Timers for C {
    fn until(&self, at: DateTime<Utc>) -> Duration {
        (at - self.now()).to_std().unwrap_or(Duration::ZERO)
    }
}

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
    async fn timers_wait_for_wall_clock_instants_and_never_past_a_minute() {
        let start = Utc.with_ymd_and_hms(2026, 11, 30, 3, 44, 0).unwrap();
        let clock = StartedClock::starting_at(start);
        let now = Instant::now();
        let in_ten = start + TimeDelta::seconds(10);
        assert_eq!(clock.until(in_ten), Duration::from_secs(10));
        assert_eq!(clock.until(start - TimeDelta::seconds(1)), Duration::ZERO);
        assert_eq!(clock.timer_for(in_ten, now), now + Duration::from_secs(10));
        let far = clock.timer_for(start + TimeDelta::hours(3), now);
        assert_eq!(clock.wake_at([far], now), now + MAX_SLEEP);
        let soon = now + Duration::from_secs(2);
        assert_eq!(clock.wake_at([far, soon], now), soon);
        assert_eq!(clock.wake_at([], now), now + MAX_SLEEP);
    }

    #[tokio::test(start_paused = true)]
    async fn started_clock_begins_at_its_start_and_follows_tokio_time() {
        let start = Utc.with_ymd_and_hms(2026, 11, 30, 3, 44, 0).unwrap();
        let clock = StartedClock::starting_at(start);
        assert_eq!(clock.now(), start);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now(), start + TimeDelta::seconds(90));
    }
}
