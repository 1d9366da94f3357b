//! What the run watches and finds: health after every change, frames relayed, the evenings'
//! state, the ticker attempts, and the report.

use super::*;

#[derive(Default)]
pub struct Report {
    pub days: usize,
    pub trading_days: usize,
    pub violations: Vec<String>,
    pub health_checks: u64,
    pub logins: u64,
    pub refused_logins: u64,
    pub frames_seen: u64,
    pub connection_attempts: u64,
    /// Ticker attempts with a token Kite had already killed (at most one per token).
    pub dead_token_attempts: u64,
    pub log_lines: u64,
    pub responses_scanned: u64,
    /// Logins after which `.env` was checked: the new token in it, mode 0600.
    pub env_writes_checked: u64,
    pub faults: BTreeMap<&'static str, u64>,
    /// Per kind: the measured delays (detection or recovery).
    pub delays: BTreeMap<&'static str, Vec<Duration>>,
    pub skipped_checks: u64,
    /// Times REFRESHING began and was held to its bound.
    pub refreshing_watched: u64,
    /// Probes in the session that found data flowing, as it must without a fault.
    pub feed_live_checks: u64,
    pub elapsed: Duration,
}

impl Report {
    pub fn count(&mut self, fault: &'static str) {
        *self.faults.entry(fault).or_default() += 1;
    }

    pub fn print(&self, seed: u64) {
        let mut out = std::io::stderr().lock();
        let _ = writeln!(
            out,
            "simulated {} days ({} trading) with seed {seed} in {:.1} s: {} health answers \
             checked, {} logins ({} refused and retried), {} ticker attempts ({} with a dead \
             token), {} frames; {} log lines and {} answers scanned for secrets; `.env` checked after \
             {} writes",
            self.days,
            self.trading_days,
            self.elapsed.as_secs_f64(),
            self.health_checks,
            self.logins,
            self.refused_logins,
            self.connection_attempts,
            self.dead_token_attempts,
            self.frames_seen,
            self.log_lines,
            self.responses_scanned,
            self.env_writes_checked,
        );
        let _ = writeln!(out, "faults injected: {:?}", self.faults);
        for (kind, delays) in &self.delays {
            let max = delays.iter().max().copied().unwrap_or_default();
            let mean = delays.iter().sum::<Duration>() / delays.len().max(1) as u32;
            let _ = writeln!(
                out,
                "{kind}: {} measured, mean {:.2} s, max {:.2} s",
                delays.len(),
                mean.as_secs_f64(),
                max.as_secs_f64()
            );
        }
        let _ = writeln!(
            out,
            "recovery checks skipped (no valid token at the heal): {}; feed found live by {} \
             probes; REFRESHING held to its bound {} times",
            self.skipped_checks, self.feed_live_checks, self.refreshing_watched
        );
        for violation in self.violations.iter().take(40) {
            let _ = writeln!(out, "VIOLATION {violation}");
        }
    }
}

/// Checks the health answer after every change of either machine and at every phase change.
pub async fn watch_health(world: Arc<World>, shutdown: CancellationToken) {
    let mut auth_changes = world.auth.changes();
    let mut feed_changes = world.feed.changes();
    loop {
        let now = world.now();
        let day = ist_date(now);
        // Every phase change is probed a millisecond before and at the instant.
        let next_probe = [day, day.succ_opt().unwrap()]
            .into_iter()
            .flat_map(boundaries)
            .flat_map(|at| [at - TimeDelta::milliseconds(1), at])
            .find(|at| *at > now)
            .unwrap_or(ist(day.succ_opt().unwrap(), 23, 0));
        let why = tokio::select! {
            () = shutdown.cancelled() => return,
            _ = auth_changes.changed() => "an auth change",
            _ = feed_changes.changed() => "a feed change",
            () = world.sleep_until(next_probe) => "a phase change",
        };
        let before = world.auth_seen.lock().unwrap().0;
        world.check_health(why).await;
        let after = world.auth_seen.lock().unwrap().0;
        if after == AuthState::Refreshing && before != AuthState::Refreshing {
            watch_refreshing(&world);
        }
    }
}

/// REFRESHING lasts no longer than one exchange with Kite.
fn watch_refreshing(world: &Arc<World>) {
    world.report.lock().unwrap().refreshing_watched += 1;
    let world = world.clone();
    tokio::spawn(async move {
        let over = world
            .wait_for_auth(REFRESHING_BOUND, |state| state != AuthState::Refreshing)
            .await;
        if over.is_none() {
            world.violation(format!("REFRESHING for more than {REFRESHING_BOUND:?}"));
        }
    });
}

/// Data flows whenever nothing stops it: at 09:00:30 and every 20 minutes of the session, when
/// the token is VALID and Kite accepts it, the script has left Kite alone for a recovery bound
/// and no login is under way, the feed must be CONNECTED.
pub async fn check_feed_is_live(world: Arc<World>, plans: Arc<Vec<DayPlan>>) {
    for plan in plans.iter() {
        let probes = std::iter::once(ist(plan.day, 9, 0) + TimeDelta::seconds(30))
            .chain((0..19).map(|n| ist(plan.day, 9, 20) + TimeDelta::minutes(20 * n)));
        for at in probes {
            world.sleep_until(at).await;
            let now = world.now();
            let quiet_since = TimeDelta::from_std(FEED_RECOVERY_BOUND).unwrap();
            let left_alone = world
                .last_fault_at
                .lock()
                .unwrap()
                .is_none_or(|last| now - last > quiet_since)
                && *world.faults.lock().unwrap() == Faults::default();
            let logged_in_a_while = world
                .token_issued
                .lock()
                .unwrap()
                .is_some_and(|issued| now - issued > TimeDelta::seconds(10));
            let token_alive = world.token_alive();
            // A VALID token (not one a 403 window expired, which waits for the trader).
            let valid = world.auth.health().state == AuthState::Valid;
            if !(left_alone && logged_in_a_while && token_alive && valid) {
                continue;
            }
            world.report.lock().unwrap().feed_live_checks += 1;
            let state = world.feed.health().state;
            if state != FeedState::Connected {
                world.violation(format!(
                    "feed {state:?} in trading hours with a good token and no fault"
                ));
            }
        }
    }
}

/// Counts what the server relays, so the run proves data flowed.
pub async fn count_frames(world: Arc<World>, shutdown: CancellationToken) {
    let mut ticks = world.feed.subscribe_ticks();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            received = ticks.recv() => match received {
                Ok(_) => world.report.lock().unwrap().frames_seen += 1,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    world.report.lock().unwrap().frames_seen += missed;
                }
                Err(_) => return,
            },
        }
    }
}

/// After each session: no connection left open, the feed at rest.
pub async fn check_evenings(world: Arc<World>, plans: Arc<Vec<DayPlan>>) {
    for plan in plans.iter() {
        world.sleep_until(ist(plan.day, 15, 31)).await;
        if world.sim.open_connections() != 0 {
            world.violation(format!(
                "{} ticker connections open after the close",
                world.sim.open_connections()
            ));
        }
        if world.feed.health().state != FeedState::Disconnected {
            world.violation(format!(
                "feed {:?} after the close",
                world.feed.health().state
            ));
        }
    }
}

/// Every ticker attempt in the window; at most one per token with a token Kite has killed.
pub fn check_attempts(world: &World) {
    let attempts = world.connector.attempts.lock().unwrap();
    let mut dead_tries: HashMap<u64, usize> = HashMap::new();
    for attempt in attempts.iter() {
        if !feed_window(attempt.at) {
            world.violation(format!(
                "a ticker attempt at {} outside trading hours",
                in_ist(attempt.at)
            ));
        }
        if !attempt.token_alive {
            assert!(!attempt.opened, "the simulator opened a dead token");
            *dead_tries.entry(attempt.generation).or_default() += 1;
        }
    }
    for (generation, tries) in dead_tries {
        if tries > 1 {
            world.violation(format!(
                "{tries} ticker attempts with the dead token of generation {generation}"
            ));
        }
    }
}
