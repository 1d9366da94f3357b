//! The one backoff schedule of marketwarden: the auth machine's verification retries and the
//! feed's reconnects both wait `first × 2^(failures−1)`, capped at `max`. Pure: the machines
//! draw the jitter and keep the count.

use std::time::Duration;

/// An exponential backoff: 5 s, 10 s, 20 s… up to a ceiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Backoff {
    /// The wait after the `failures`-th failure in a row (the first for 0 and 1).
    pub fn after(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        self.first.saturating_mul(1 << doublings).min(self.max)
    }

    /// Full jitter: a wait drawn uniformly from zero to `ceiling`, `unit` being a draw in
    /// [0, 1] (clamped).
    pub fn jittered(ceiling: Duration, unit: f64) -> Duration {
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_the_first_up_to_the_ceiling() {
        let backoff = Backoff {
            first: Duration::from_secs(5),
            max: Duration::from_secs(60),
        };
        let waits: Vec<u64> = (0..=7).map(|n| backoff.after(n).as_secs()).collect();
        assert_eq!(waits, [5, 5, 10, 20, 40, 60, 60, 60]);
        assert_eq!(backoff.after(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn full_jitter_draws_from_zero_to_the_ceiling() {
        let ceiling = Duration::from_secs(40);
        assert_eq!(Backoff::jittered(ceiling, 0.0), Duration::ZERO);
        assert_eq!(Backoff::jittered(ceiling, 0.25), Duration::from_secs(10));
        assert_eq!(Backoff::jittered(ceiling, 7.0), ceiling);
        assert_eq!(Backoff::jittered(ceiling, -1.0), Duration::ZERO);
    }
}
