//! `connection_quality`: the share of the last [`QUALITY_WINDOW`] of trading time (pre-open
//! lead included) that the feed spent CONNECTED with fresh data. Time outside trading hours
//! does not count, so overnight the figure still describes the end of the last session; before
//! any trading time has been seen it is 1.0.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// How much trading time the quality looks back over.
pub const QUALITY_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Trading time, split into healthy and unhealthy stretches.
#[derive(Clone, Debug, Default)]
pub struct QualityMeter {
    /// Closed stretches, oldest first: (length, healthy).
    stretches: VecDeque<(Duration, bool)>,
    /// The stretch under way, if in trading hours: (start, healthy).
    current: Option<(Instant, bool)>,
}

impl QualityMeter {
    /// From `now` on, the feed is `healthy` (or not), in trading hours (or not).
    pub fn record(&mut self, now: Instant, in_trading_hours: bool, healthy: bool) {
        if let Some((start, was_healthy)) = self.current.take() {
            let length = now.saturating_duration_since(start);
            if !length.is_zero() {
                self.stretches.push_back((length, was_healthy));
            }
            self.trim();
        }
        if in_trading_hours {
            self.current = Some((now, healthy));
        }
    }

    /// The share of the window that was healthy, 0.0 to 1.0, as of `now`.
    pub fn quality(&self, now: Instant) -> f64 {
        let ongoing = self
            .current
            .map(|(start, healthy)| (now.saturating_duration_since(start), healthy));
        let mut budget = QUALITY_WINDOW;
        let (mut healthy_time, mut total) = (Duration::ZERO, Duration::ZERO);
        for (length, healthy) in ongoing
            .into_iter()
            .chain(self.stretches.iter().rev().copied())
        {
            let counted = length.min(budget);
            budget -= counted;
            total += counted;
            if healthy {
                healthy_time += counted;
            }
            if budget.is_zero() {
                break;
            }
        }
        if total.is_zero() {
            1.0
        } else {
            healthy_time.as_secs_f64() / total.as_secs_f64()
        }
    }

    /// Drops stretches older than the window.
    fn trim(&mut self) {
        let mut kept = Duration::ZERO;
        let mut keep = 0;
        for (length, _) in self.stretches.iter().rev() {
            if kept >= QUALITY_WINDOW {
                break;
            }
            kept += *length;
            keep += 1;
        }
        let drop = self.stretches.len() - keep;
        self.stretches.drain(..drop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn before_any_trading_time_quality_is_full() {
        let meter = QualityMeter::default();
        assert_eq!(meter.quality(Instant::now()), 1.0);
    }

    #[test]
    fn quality_is_the_healthy_share_of_the_last_15_trading_minutes() {
        let start = Instant::now();
        let mut meter = QualityMeter::default();
        meter.record(start, true, true);
        meter.record(start + 10 * MINUTE, true, false);
        // 10 healthy minutes, then 2 unhealthy: 10 / 12.
        assert!((meter.quality(start + 12 * MINUTE) - 10.0 / 12.0).abs() < 1e-9);
        // Back to healthy; at 25 min the window holds 3 healthy, 2 unhealthy, 10 healthy.
        meter.record(start + 12 * MINUTE, true, true);
        assert!((meter.quality(start + 25 * MINUTE) - 13.0 / 15.0).abs() < 1e-9);
        // The outage leaves the window 15 minutes of trading time later.
        assert_eq!(meter.quality(start + 28 * MINUTE), 1.0);
    }

    #[test]
    fn time_outside_trading_hours_does_not_count() {
        let start = Instant::now();
        let mut meter = QualityMeter::default();
        meter.record(start, true, true);
        meter.record(start + 5 * MINUTE, true, false);
        meter.record(start + 6 * MINUTE, false, false);
        // Overnight: still the end of the last session.
        let overnight = start + 600 * MINUTE;
        assert!((meter.quality(overnight) - 5.0 / 6.0).abs() < 1e-9);
        meter.record(overnight, true, true);
        assert!((meter.quality(overnight + 9 * MINUTE) - 14.0 / 15.0).abs() < 1e-9);
    }

    #[test]
    fn old_stretches_are_dropped() {
        let start = Instant::now();
        let mut meter = QualityMeter::default();
        for minute in 0..1000u32 {
            meter.record(start + MINUTE * minute, true, minute % 2 == 0);
        }
        assert!(meter.stretches.len() <= 16, "{}", meter.stretches.len());
    }
}
