//! The script: what happens each trading day (the trader's logins, Kite's faults) and the
//! actors that play it.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// Kite's flush: every token issued so far dies.
    FlushTokens,
    /// The ticker goes silent on every connection, then heals.
    StallStart,
    StallEnd,
    /// The ticker drops every connection.
    Drop,
    /// The last drop of a storm.
    StormEnd,
    /// Every REST call answers 429.
    RateLimitStart,
    RateLimitEnd,
    /// Upgrades answer 403 whatever the token; the open connection is dropped so the next
    /// attempt meets it.
    ForbidStart,
    ForbidEnd,
    /// Kite kills the session mid-day (a login elsewhere, a master logout) and drops the
    /// connection: the ticker meets a dead token before the auth machine knows.
    KillSession,
}

/// One trading day's plan.
pub struct DayPlan {
    pub day: NaiveDate,
    pub first_login: DateTime<Utc>,
    pub faults: Vec<(DateTime<Utc>, Fault)>,
}

/// Non-overlapping fault slots of 25 minutes in 09:30–15:10, shuffled.
pub fn free_slots(day: NaiveDate, rng: &mut Rng) -> Vec<DateTime<Utc>> {
    let mut slots: Vec<DateTime<Utc>> = (0..13)
        .map(|slot| ist(day, 9, 30) + TimeDelta::minutes(25 * slot))
        .collect();
    for i in (1..slots.len()).rev() {
        let j = rng.between(0, i as i64 + 1) as usize;
        slots.swap(i, j);
    }
    slots
}

/// The plan of the `index`-th trading day. Every three days see each kind of fault at least
/// once (so does the short run); more come at random.
pub fn plan_day(day: NaiveDate, index: usize, rng: &mut Rng) -> DayPlan {
    let mut faults = Vec::new();
    // The first of every three days Kite flushes at 07:30 a token the trader got earlier (it
    // dies before the market opens); the second the trader logs in only during the session;
    // the third is left to chance.
    let flush = index.is_multiple_of(3) || rng.chance(4);
    let late_login = index % 3 == 1 || (index % 3 == 2 && rng.chance(4));
    let first_login = if late_login {
        ist(day, 9, 30) + TimeDelta::minutes(rng.between(0, 90))
    } else if index.is_multiple_of(3) {
        ist(day, 6, 5) + TimeDelta::minutes(rng.between(0, 80))
    } else if index % 4 == 3 {
        // A night owl: the 06:00 cut-off ends this token the same morning.
        ist(day, 0, 30) + TimeDelta::minutes(rng.between(0, 300))
    } else {
        ist(day, 6, 5) + TimeDelta::minutes(rng.between(0, 180))
    };
    if flush {
        faults.push((ist(day, 7, 30), Fault::FlushTokens));
    }
    if late_login && (index % 3 == 1 || rng.chance(2)) {
        // Kite answers 429 just as the trader logs in: the login fails and is retried.
        let at = first_login - TimeDelta::minutes(1);
        faults.push((at, Fault::RateLimitStart));
        faults.push((
            at + TimeDelta::seconds(rng.between(180, 480)),
            Fault::RateLimitEnd,
        ));
    }
    let mut slots = free_slots(day, rng).into_iter();
    let mut rng_after = Rng(rng.next() | 1);
    let mut offsets = Rng(rng.next() | 1);
    // Feed faults only once the trader is in, so recovery is the server's to make.
    let mut next_slot = || loop {
        let slot = slots.next().expect("enough slots");
        if slot > first_login + TimeDelta::minutes(30) {
            break slot + TimeDelta::seconds(offsets.between(0, 600));
        }
    };
    for _ in 0..3 {
        let at = next_slot();
        let lasting = TimeDelta::seconds(rng_after.between(15, 180));
        faults.push((at, Fault::StallStart));
        faults.push((at + lasting, Fault::StallEnd));
    }
    if index % 3 == 1 || rng_after.chance(3) {
        let at = next_slot();
        let mut drop_at = at;
        let end = at + TimeDelta::seconds(rng_after.between(60, 180));
        while drop_at < end {
            faults.push((drop_at, Fault::Drop));
            drop_at += TimeDelta::seconds(rng_after.between(2, 7));
        }
        // The last drop ends the storm.
        faults.push((drop_at, Fault::StormEnd));
    }
    if index % 3 == 2 || rng_after.chance(3) {
        // Long enough to meet the 15-minute re-check of the token.
        let at = next_slot();
        faults.push((at, Fault::RateLimitStart));
        faults.push((
            at + TimeDelta::seconds(rng_after.between(900, 1200)),
            Fault::RateLimitEnd,
        ));
    }
    if index % 3 == 2 || rng_after.chance(5) {
        faults.push((next_slot(), Fault::KillSession));
    }
    if index.is_multiple_of(3) || rng_after.chance(4) {
        let at = next_slot();
        faults.push((at, Fault::ForbidStart));
        faults.push((
            at + TimeDelta::seconds(rng_after.between(60, 240)),
            Fault::ForbidEnd,
        ));
    }
    faults.sort();
    DayPlan {
        day,
        first_login,
        faults,
    }
}

/// The trader: logs in at the planned time, then whenever the banner asks during the session.
pub async fn trade(world: Arc<World>, plans: Arc<Vec<DayPlan>>, seed: u64) {
    let mut rng = Rng(seed ^ 0x7ad3_0000_0000_0001);
    for plan in plans.iter() {
        world.sleep_until(plan.first_login).await;
        world.log_in_until_done().await;
        let close = ist(plan.day, 15, 30);
        let mut changes = world.auth.changes();
        while world.now() < close {
            if world.auth.health().requires_login {
                // The trader notices the banner and gets round to it.
                tokio::time::sleep(Duration::from_secs(rng.between(60, 1200) as u64)).await;
                if world.now() < close && world.auth.health().requires_login {
                    world.log_in_until_done().await;
                }
                continue;
            }
            let wait = (close - world.now()).to_std().unwrap_or_default();
            if tokio::time::timeout(wait, changes.changed()).await.is_err() {
                break;
            }
        }
    }
}

/// Kite's side of the script.
pub async fn inject_faults(world: Arc<World>, plans: Arc<Vec<DayPlan>>) {
    for plan in plans.iter() {
        for (at, fault) in &plan.faults {
            world.sleep_until(*at).await;
            apply_fault(&world, *fault).await;
        }
    }
}

pub async fn apply_fault(world: &Arc<World>, fault: Fault) {
    let now = world.now();
    *world.last_fault_at.lock().unwrap() = Some(now);
    match fault {
        Fault::FlushTokens => {
            world.report.lock().unwrap().count("token flush at 07:30");
            world.flushes.lock().unwrap().push(now);
            world.sim.expire_tokens_now();
            if world.auth.health().state == AuthState::Valid {
                let world = world.clone();
                tokio::spawn(async move {
                    let bound = TOKEN_DEATH_BOUND.to_std().unwrap();
                    match world.wait_for_auth(bound, needs_login).await {
                        Some(delay) => world.record_delay("flushed token noticed", delay),
                        None => world.violation(format!(
                            "a flushed token still {:?}",
                            world.auth.health().state
                        )),
                    }
                });
            }
        }
        Fault::StallStart => {
            let connected = world.feed.health().state == FeedState::Connected;
            world.report.lock().unwrap().count("ticker stall");
            world.set_faults(|faults| faults.stall = true);
            if connected {
                let world = world.clone();
                tokio::spawn(async move {
                    let detected = world
                        .wait_for_feed(STALL_DETECTION_BOUND, |state| state != FeedState::Connected)
                        .await;
                    match detected {
                        Some(delay) => world.record_delay("stall detected", delay),
                        None => world.violation(format!(
                            "a stall went unnoticed for {STALL_DETECTION_BOUND:?}"
                        )),
                    }
                });
            }
        }
        Fault::StallEnd => {
            world.set_faults(|faults| faults.stall = false);
            expect_recovery(world, "recovered after a stall");
        }
        Fault::Drop => {
            world.sim.drop_connections();
        }
        Fault::StormEnd => {
            world.report.lock().unwrap().count("disconnect storm");
            let connected = world.feed.health().state == FeedState::Connected;
            world.sim.drop_connections();
            if connected {
                expect_recovery_from_drop(world, "recovered after a disconnect storm");
            } else {
                // Backing off from the storm's earlier drops.
                expect_recovery(world, "recovered after a disconnect storm");
            }
        }
        Fault::RateLimitStart => {
            world.report.lock().unwrap().count("REST 429 storm");
            world.set_faults(|faults| faults.rate_limit_storm = true);
        }
        Fault::RateLimitEnd => {
            world.set_faults(|faults| faults.rate_limit_storm = false);
        }
        Fault::ForbidStart => {
            world.report.lock().unwrap().count("ticker 403 on upgrade");
            world.forbidden.lock().unwrap().push((now, None));
            world.set_faults(|faults| faults.forbid_upgrades = true);
            world.sim.drop_connections();
        }
        Fault::KillSession => {
            world.report.lock().unwrap().count("session killed mid-day");
            world.flushes.lock().unwrap().push(now);
            let streaming = world.feed.health().state == FeedState::Connected;
            world.sim.expire_tokens_now();
            world.sim.drop_connections();
            if streaming {
                // The feed reconnects at once, meets a 403, and the banner asks for a login.
                let world = world.clone();
                tokio::spawn(async move {
                    match world.wait_for_auth(KILLED_SESSION_BOUND, needs_login).await {
                        Some(delay) => world.record_delay("killed session noticed", delay),
                        None => world.violation(format!(
                            "a killed session still {:?} after {KILLED_SESSION_BOUND:?}",
                            world.auth.health().state
                        )),
                    }
                });
            }
        }
        Fault::ForbidEnd => {
            if let Some(window) = world.forbidden.lock().unwrap().last_mut() {
                window.1 = Some(now);
            }
            world.set_faults(|faults| faults.forbid_upgrades = false);
        }
    }
}

/// After the last drop of a storm: the drop noticed, then live data back within
/// [`FEED_RECOVERY_BOUND`] of it.
pub fn expect_recovery_from_drop(world: &Arc<World>, kind: &'static str) {
    if !world.recovery_is_ours() {
        return;
    }
    let world = world.clone();
    tokio::spawn(async move {
        let began = Instant::now();
        if world
            .wait_for_feed(Duration::from_secs(1), |state| {
                state != FeedState::Connected
            })
            .await
            .is_none()
        {
            world.violation(format!("{kind}: the last drop went unnoticed"));
            return;
        }
        let left = FEED_RECOVERY_BOUND.saturating_sub(began.elapsed());
        match world
            .wait_for_feed(left, |state| state == FeedState::Connected)
            .await
        {
            Some(_) => world.record_delay(kind, began.elapsed()),
            None => world.violation(format!(
                "{kind}: still {:?} {FEED_RECOVERY_BOUND:?} after the last drop",
                world.feed.health().state
            )),
        }
    });
}

/// Once a fault is over, live data must be back within [`FEED_RECOVERY_BOUND`].
pub fn expect_recovery(world: &Arc<World>, kind: &'static str) {
    if !world.recovery_is_ours() {
        return;
    }
    let world = world.clone();
    tokio::spawn(async move {
        match world
            .wait_for_feed(FEED_RECOVERY_BOUND, |state| state == FeedState::Connected)
            .await
        {
            Some(delay) => world.record_delay(kind, delay),
            None => world.violation(format!(
                "{kind}: still {:?} {FEED_RECOVERY_BOUND:?} after the fault ended",
                world.feed.health().state
            )),
        }
    });
}
