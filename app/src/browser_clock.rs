//! The server's clock, continued in the browser.
//!
//! The browser's own clock may be wrong, and the server's may be set on purpose (a demo started
//! with `--clock-start`). So the page carries the server's time, and the browser adds the time
//! elapsed since, measured with the monotonic `performance.now()`.

use chrono::{DateTime, TimeDelta, Utc};

/// A known server instant and the `performance.now()` reading (milliseconds) taken when it was
/// current.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServerClockAnchor {
    pub server_time: DateTime<Utc>,
    pub monotonic_ms: f64,
}

// The server build only stores the anchor; the browser build reads it.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
impl ServerClockAnchor {
    /// An anchor for a server time that was rendered into the page itself: the page was generated
    /// just after the navigation started, and `performance.now()` counts from that start.
    pub fn from_page(server_time: DateTime<Utc>) -> Self {
        Self {
            server_time,
            monotonic_ms: 0.0,
        }
    }

    /// The server's time when the monotonic clock reads `monotonic_now_ms`. A reading before the
    /// anchor (which a monotonic clock never gives) counts as no time elapsed.
    pub fn server_time_at(&self, monotonic_now_ms: f64) -> DateTime<Utc> {
        let elapsed_ms = (monotonic_now_ms - self.monotonic_ms).max(0.0);
        // Microseconds keep sub-millisecond readings; the cast saturates on absurd values.
        let elapsed = TimeDelta::microseconds((elapsed_ms * 1000.0) as i64);
        self.server_time
            .checked_add_signed(elapsed)
            .unwrap_or(self.server_time)
    }
}

/// `performance.now()` in milliseconds.
#[cfg(feature = "hydrate")]
pub fn monotonic_now_ms() -> f64 {
    leptos::prelude::window()
        .performance()
        .map(|performance| performance.now())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn server_time_advances_by_the_monotonic_elapsed_time() {
        let start = Utc.with_ymd_and_hms(2026, 11, 30, 3, 44, 0).unwrap();
        let anchor = ServerClockAnchor {
            server_time: start,
            monotonic_ms: 250.0,
        };
        assert_eq!(anchor.server_time_at(250.0), start);
        assert_eq!(
            anchor.server_time_at(1750.5),
            start + TimeDelta::microseconds(1_500_500)
        );
        assert_eq!(anchor.server_time_at(10.0), start, "never goes backwards");
    }

    #[test]
    fn page_anchor_counts_from_navigation_start() {
        let start = Utc.with_ymd_and_hms(2026, 11, 30, 3, 44, 0).unwrap();
        let anchor = ServerClockAnchor::from_page(start);
        assert_eq!(anchor.server_time_at(3000.0), start + TimeDelta::seconds(3));
    }
}
