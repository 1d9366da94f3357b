//! The auth machine's clock: waking for expiries, retries and the 15-minute re-check, and
//! noticing a wall clock that jumped away from the monotonic one.

use super::*;

impl AuthService {
    /// True when the wall clock has left the monotonic one by more than
    /// [`CLOCK_JUMP_TOLERANCE`] since the start: an NTP step, a laptop that slept. Expiries the
    /// wall clock decides are then checked with Kite.
    pub(super) fn clock_jumped(&self) -> bool {
        let (wall_start, monotonic_start) = *self
            .clock_reference
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let wall = self.clock.now() - wall_start;
        let monotonic = TimeDelta::from_std(Instant::now() - monotonic_start).unwrap_or(wall);
        (wall - monotonic).abs() > CLOCK_JUMP_TOLERANCE
    }

    /// Wakes up for the expiry rules, retries and periodic re-checks.
    pub(super) async fn keep_time(self: Arc<Self>, shutdown: CancellationToken) {
        let mut next_recheck = Instant::now() + REVERIFY_INTERVAL;
        loop {
            let now = Instant::now();
            let (expiry, retry) = {
                let inner = self.lock();
                (inner.machine.next_expiry(), inner.retry)
            };
            let until_expiry = expiry.map(|at| self.clock.timer_for(at, now));
            let deadline = self.clock.wake_at(
                [until_expiry, retry.map(|(_, at)| at), Some(next_recheck)]
                    .into_iter()
                    .flatten(),
                now,
            );
            tokio::select! {
                () = shutdown.cancelled() => return,
                // Woken (a new deadline, or an expiry to put to Kite): the checks below run if due.
            () = self.wake.notified() => {}
                () = sleep_until(deadline) => {}
            }
            self.apply(AuthEvent::ClockTick);
            let now = Instant::now();
            let retry_due = {
                let mut inner = self.lock();
                match inner.retry {
                    Some((generation, at)) if at <= now => {
                        inner.retry = None;
                        inner
                            .machine
                            .token()
                            .is_some_and(|t| t.generation == generation)
                    }
                    _ => false,
                }
            };
            let recheck_due = next_recheck <= now;
            if recheck_due {
                next_recheck = now + REVERIFY_INTERVAL;
            }
            let (recheck_wanted, first_check) = {
                let inner = self.lock();
                (
                    inner.machine.wants_recheck(inner.ticker_refused.is_some()),
                    inner.machine.wants_kite_to_confirm_expiry(),
                )
            };
            // An expiry by the clock alone is put to Kite at once, then at each re-check.
            if retry_due || (recheck_due && recheck_wanted) || first_check {
                let actions = self.apply(AuthEvent::VerifyRequested);
                self.dispatch(actions);
            }
        }
    }
}
